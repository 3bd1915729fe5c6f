/* test-module-api.c — the libvirt backends' module uses of the service only what
 * service/csb-module-api.h names, and the service exports exactly that.
 *
 * The module resolves the service's functions from the service's executable when it
 * first calls them: one the executable does not export kills the service at that
 * call ("symbol lookup error"), possibly deep in a VM launch. Here the two built
 * files are read with nm(1) instead. (/bus/get-backends loads the module into the
 * running service with every symbol bound at once.)
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include "csb-module-api.h"
#include "csb-test-utils.h"

/* Compiles only if the headers csb-module-api.h includes declare every name. */
#define NAME(symbol) #symbol,
#define ADDRESS(symbol) (gconstpointer) &symbol,
static const char * const api_names[] = { CSB_MODULE_API (NAME) NULL };
static const gconstpointer api_addresses[] = { CSB_MODULE_API (ADDRESS) NULL };
#undef NAME
#undef ADDRESS

/* The symbols nm prints for @file with @args ("-D", "--undefined-only"…), without
 * their version ("free@GLIBC_2.2.5" is "free"): a set. */
static GHashTable *
nm_symbols (const char  *file,
            const char **args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *nm = g_find_program_in_path ("nm");
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GError) error = NULL;
  GHashTable *symbols = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  int status;

  if (nm == NULL)
    g_error ("nm (binutils) is not on PATH: it reads the service's and the module's "
             "symbols");
  g_ptr_array_add (argv, nm);
  g_ptr_array_add (argv, "--format=posix");
  for (; *args != NULL; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, (gpointer) file);
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, &error))
    g_error ("nm %s: %s: %s", file, error->message, err);

  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      /* posix format: "NAME TYPE [VALUE SIZE]" */
      g_autofree char *name = g_strndup (lines[i], strcspn (lines[i], " @"));

      if (*name != '\0')
        g_hash_table_add (symbols, g_steal_pointer (&name));
    }
  return symbols;
}

static const char *
module_path (void)
{
  const char *path = g_getenv ("CSB_TEST_LIBVIRT_MODULE");

  g_assert_nonnull (path);
  return path;
}

static const char *
service_path (void)
{
  const char *path = g_getenv ("CSB_TEST_SERVICE");

  g_assert_nonnull (path);
  return path;
}

static gboolean
api_names_contain (const char *symbol)
{
  return g_strv_contains (api_names, symbol);
}

static void
test_declared (void)
{
  g_assert_cmpuint (G_N_ELEMENTS (api_names), >, 1);
  for (guint i = 0; api_names[i] != NULL; i++)
    g_assert_nonnull (api_addresses[i]);
}

/* Every symbol the module leaves undefined that the service defines (its symbol table,
 * not only what it exports) is one csb-module-api.h names. */
static void
test_module_uses_only_the_api (void)
{
  const char *undefined_args[] = { "-D", "--undefined-only", NULL };
  const char *defined_args[] = { "--defined-only", "--extern-only", NULL };
  g_autoptr(GHashTable) used = nm_symbols (module_path (), undefined_args);
  g_autoptr(GHashTable) service = nm_symbols (service_path (), defined_args);
  GHashTableIter iter;
  const char *symbol;
  guint from_service = 0;

  /* The service's full symbol table is there to compare with (a build, not stripped). */
  g_assert_true (g_hash_table_contains (service, "main"));
  g_hash_table_iter_init (&iter, used);
  while (g_hash_table_iter_next (&iter, (gpointer *) &symbol, NULL))
    {
      if (!g_hash_table_contains (service, symbol))
        continue;
      from_service++;
      if (!api_names_contain (symbol))
        g_test_fail_printf ("the libvirt module uses %s of the service, which "
                            "service/csb-module-api.h does not name: add it to "
                            "CSB_MODULE_API there (and its header)", symbol);
    }
  g_assert_cmpuint (from_service, >, 0);
}

/* The service exports what the list names, and nothing else. */
static void
test_service_exports_the_api (void)
{
  const char *exported_args[] = { "-D", "--defined-only", NULL };
  g_autoptr(GHashTable) exported = nm_symbols (service_path (), exported_args);
  GHashTableIter iter;
  const char *symbol;

  for (guint i = 0; api_names[i] != NULL; i++)
    if (!g_hash_table_contains (exported, api_names[i]))
      g_test_fail_printf ("the service does not export %s, which service/csb-module-api.h "
                          "names", api_names[i]);
  g_hash_table_iter_init (&iter, exported);
  while (g_hash_table_iter_next (&iter, (gpointer *) &symbol, NULL))
    if (!api_names_contain (symbol))
      g_test_fail_printf ("the service exports %s, which service/csb-module-api.h does not "
                          "name", symbol);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/module-api/declared", test_declared);
  g_test_add_func ("/module-api/module-uses-only-the-api", test_module_uses_only_the_api);
  g_test_add_func ("/module-api/service-exports-the-api", test_service_exports_the_api);
  return g_test_run ();
}
