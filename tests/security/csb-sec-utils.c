/* csb-sec-utils.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "csb-sec-utils.h"

char *
csb_sec_built_probe (void)
{
  return g_test_build_filename (G_TEST_BUILT, "security", "csb-sec-probe", NULL);
}

static void
copy_executable (const char *from,
                 const char *to)
{
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  gsize len;

  g_file_get_contents (from, &contents, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents_full (to, contents, len, G_FILE_SET_CONTENTS_NONE, 0755, &error);
  g_assert_no_error (error);
}

void
csb_sec_fixture_setup (CsbSecFixture           *fixture,
                       const CsbTestBusOptions *options)
{
  g_autofree char *built = csb_sec_built_probe ();
  g_autofree char *git = NULL;

  fixture->backend = NULL;
  csb_test_bus_setup (&fixture->bus, options);
  fixture->project = csb_test_make_project (&fixture->bus.dirs, "project");
  /* The build tree is not visible inside; the project folder is, at the same path. */
  fixture->probe = g_build_filename (fixture->project, "csb-sec-probe", NULL);
  copy_executable (built, fixture->probe);

  git = g_build_filename (fixture->project, ".git", NULL);
  {
    g_autofree char *hooks = g_build_filename (git, "hooks", NULL);
    g_autofree char *config = g_build_filename (git, "config", NULL);
    g_autofree char *head = g_build_filename (git, "HEAD", NULL);
    g_autofree char *sample = g_build_filename (hooks, "pre-commit.sample", NULL);

    g_assert_cmpint (g_mkdir_with_parents (hooks, 0755), ==, 0);
    csb_test_write_file (config, "[core]\n\trepositoryformatversion = 0\n\tbare = false\n", 0644);
    csb_test_write_file (head, "ref: refs/heads/main\n", 0644);
    csb_test_write_file (sample, "#!/bin/sh\nexit 0\n", 0755);
  }
  {
    g_autofree char *readme = g_build_filename (fixture->project, "README", NULL);
    csb_test_write_file (readme, "a project\n", 0644);
  }
}

guint
csb_sec_timeout_ms (const char *backend)
{
  /* A container starts through the one system libvirtd, which other suites' containers
   * (test-container, run beside this one) queue at: seconds each, more under load. */
  if (g_strcmp0 (backend, "vm") == 0)
    return 240000;
  if (g_strcmp0 (backend, "container") == 0)
    return 120000;
  return CSB_TEST_TIMEOUT_MS;
}

gboolean
csb_sec_require_backend (CsbSecFixture *fixture,
                         const char    *backend)
{
  g_autoptr(GVariant) backends = NULL;
  g_autoptr(GError) error = NULL;
  GVariantIter iter;
  const char *name, *detail;
  gboolean available;

  if (g_strcmp0 (backend, "vm") == 0 && g_getenv ("CSB_TEST_NO_VM_BOOT") != NULL)
    {
      g_test_skip ("CSB_TEST_NO_VM_BOOT is set");
      return FALSE;
    }
  if (g_strcmp0 (backend, "vm") == 0 && getuid () == 0)
    {
      g_test_skip ("as root, qemu:///session is the system daemon's, which the tests do not "
                   "start: the VM probes run as an unprivileged user");
      return FALSE;
    }
  csb_test_bus_activate (&fixture->bus);
  g_assert_true (csb_dbus_manager_call_get_backends_sync (fixture->bus.manager, &backends, NULL,
                                                          &error));
  g_assert_no_error (error);
  g_variant_iter_init (&iter, backends);
  while (g_variant_iter_next (&iter, "(&sb&s)", &name, &available, &detail))
    if (g_str_equal (name, backend))
      {
        g_autofree char *why = NULL;

        if (available)
          return TRUE;
        why = g_strdup_printf ("the %s backend is unavailable here: %s", backend, detail);
        g_test_skip (why);
        return FALSE;
      }
  g_error ("GetBackends lists no backend '%s'", backend);
}

void
csb_sec_fixture_setup_backend (CsbSecFixture *fixture,
                               const char    *backend)
{
  CsbTestBusOptions vm = { NULL, FALSE, CSB_SEC_VM_SETTINGS };

  csb_sec_fixture_setup (fixture, g_strcmp0 (backend, "vm") == 0 ? &vm : NULL);
  fixture->backend = backend;
}

GVariant *
csb_sec_backend_options (CsbSecFixture *fixture)
{
  if (fixture->backend == NULL)
    return NULL;
  return csb_sec_options ("backend", g_variant_new_string (fixture->backend), NULL);
}

void
csb_sec_fixture_teardown (CsbSecFixture *fixture)
{
  csb_test_bus_teardown (&fixture->bus);
  g_clear_pointer (&fixture->project, g_free);
  g_clear_pointer (&fixture->probe, g_free);
}

char *
csb_sec_run (CsbSecFixture      *fixture,
             const char * const *argv,
             GVariant           *options,
             int                *out_status,
             char              **out_err)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autofree char *shown = g_strjoinv (" ", (char **) argv);
  gboolean finished;

  if (options == NULL)
    options = csb_sec_backend_options (fixture);
  run = csb_test_launch (&fixture->bus, fixture->project, argv, options, FALSE, &error);
  g_assert_no_error (error);
  if (run == NULL)
    {
      if (out_status != NULL)
        *out_status = -1;
      if (out_err != NULL)
        *out_err = g_strdup ("");
      return g_strdup ("");
    }
  finished = csb_test_run_wait (run, csb_sec_timeout_ms (fixture->backend));
  /* An unfinished run leaves its status at 0: report something else. */
  if (!finished)
    run->exit_signal_status = -1;
  g_test_message ("[%s] → status %d\nstdout: %s%s%s", shown, run->exit_signal_status,
                  run->out->str, run->err->len ? "\nstderr: " : "", run->err->str);
  g_assert_true (finished);
  g_assert_true (run->exited);
  if (out_status != NULL)
    *out_status = run->exit_signal_status;
  if (out_err != NULL)
    *out_err = g_strdup (run->err->str);
  return g_strdup (run->out->str);
}

char *
csb_sec_run_sh (CsbSecFixture *fixture,
                const char    *script,
                GVariant      *options,
                int           *out_status)
{
  const char * const argv[] = { "/bin/sh", "-c", script, NULL };

  return csb_sec_run (fixture, argv, options, out_status, NULL);
}

static GStrv
collect_args (const char *first_arg,
              va_list     ap)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (const char *arg = first_arg; arg != NULL; arg = va_arg (ap, const char *))
    g_strv_builder_add (builder, arg);
  return g_strv_builder_end (builder);
}

GHashTable *
csb_sec_probe_inside (CsbSecFixture *fixture,
                      GVariant      *options,
                      const char    *first_arg,
                      ...)
{
  g_auto(GStrv) args = NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) argv = NULL;
  g_autofree char *out = NULL;
  int status = -1;
  va_list ap;

  va_start (ap, first_arg);
  args = collect_args (first_arg, ap);
  va_end (ap);
  g_strv_builder_add (builder, fixture->probe);
  g_strv_builder_addv (builder, (const char **) args);
  argv = g_strv_builder_end (builder);

  out = csb_sec_run (fixture, (const char * const *) argv, options, &status, NULL);
  g_assert_cmpint (status, ==, 0);
  return csb_sec_parse (out);
}

GHashTable *
csb_sec_probe_outside (const char *first_arg,
                       ...)
{
  g_auto(GStrv) args = NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) argv = NULL;
  g_autofree char *probe = csb_sec_built_probe ();
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  int wait_status;
  va_list ap;

  va_start (ap, first_arg);
  args = collect_args (first_arg, ap);
  va_end (ap);
  g_strv_builder_add (builder, probe);
  g_strv_builder_addv (builder, (const char **) args);
  argv = g_strv_builder_end (builder);

  g_spawn_sync (NULL, argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                &wait_status, &error);
  g_assert_no_error (error);
  g_spawn_check_wait_status (wait_status, &error);
  g_assert_no_error (error);
  g_test_message ("outside: %s → %s", args[0], out);
  return csb_sec_parse (out);
}

GHashTable *
csb_sec_parse (const char *output)
{
  GHashTable *table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto(GStrv) lines = g_strsplit (output, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *eq = strchr (lines[i], '=');

      if (eq == NULL)
        continue;
      g_hash_table_insert (table, g_strndup (lines[i], eq - lines[i]), g_strdup (eq + 1));
    }
  return table;
}

GStrv
csb_sec_lines_with_prefix (const char *output,
                           const char *prefix)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) lines = g_strsplit (output, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], prefix))
      g_strv_builder_add (builder, lines[i] + strlen (prefix));
  return g_strv_builder_end (builder);
}

GVariant *
csb_sec_options (const char *first_key,
                 ...)
{
  GVariantBuilder builder;
  va_list ap;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  va_start (ap, first_key);
  for (const char *key = first_key; key != NULL; key = va_arg (ap, const char *))
    g_variant_builder_add (&builder, "{sv}", key, va_arg (ap, GVariant *));
  va_end (ap);
  return g_variant_builder_end (&builder);
}

void
csb_sec_update_activation_environment (CsbTestBus *bus,
                                       const char *first_name,
                                       ...)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder builder;
  va_list ap;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  va_start (ap, first_name);
  for (const char *name = first_name; name != NULL; name = va_arg (ap, const char *))
    g_variant_builder_add (&builder, "{ss}", name, va_arg (ap, const char *));
  va_end (ap);
  reply = g_dbus_connection_call_sync (bus->connection, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "UpdateActivationEnvironment",
                                       g_variant_new ("(a{ss})", &builder), NULL,
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
}

static const char test_iface_xml[] =
  "<node><interface name='org.example.ClaudeSandbox.SecurityTest'>"
  "<method name='Ping'><arg type='s' direction='out'/></method>"
  "</interface></node>";

static void
on_ping (GDBusConnection       *connection,
         const char            *sender,
         const char            *path,
         const char            *interface,
         const char            *method,
         GVariant              *parameters,
         GDBusMethodInvocation *invocation,
         gpointer               user_data)
{
  g_dbus_method_invocation_return_value (invocation,
                                         g_variant_new ("(s)", (const char *) user_data));
}

static const GDBusInterfaceVTable ping_vtable = { on_ping, NULL, NULL, { 0 } };

GDBusConnection *
csb_sec_own_name (CsbTestBus *bus,
                  const char *name,
                  const char *marker)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (test_iface_xml, &error);
  g_autoptr(GVariant) reply = NULL;
  GDBusConnection *connection;
  guint32 result;

  g_assert_no_error (error);
  connection = g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (bus->bus),
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                       G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
  g_assert_no_error (error);
  g_dbus_connection_set_exit_on_close (connection, FALSE);
  g_dbus_connection_register_object (connection, "/org/freedesktop/Test",
                                     info->interfaces[0], &ping_vtable,
                                     g_strdup (marker), g_free, &error);
  g_assert_no_error (error);
  reply = g_dbus_connection_call_sync (connection, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "RequestName", g_variant_new ("(su)", name, 4 /* DO_NOT_QUEUE */),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1,
                                       NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &result);
  g_assert_cmpuint (result, ==, 1);  /* PRIMARY_OWNER */
  return connection;
}

char *
csb_sec_read_file (const char *path)
{
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  return contents;
}
