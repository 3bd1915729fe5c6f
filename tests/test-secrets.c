/* test-secrets.c — the GitHub token: forwarded only when asked, and then only into
 * the sandbox: never in a host argv, a log, a state file or a D-Bus property.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "csb-test-utils.h"

#define TOKEN "ghp_csbSecretTestToken5f3c9a1b7e2d4c6a8b0e"

static const char * const service_env[] = {
  "GH_TOKEN=" TOKEN,
  "GITHUB_TOKEN",   /* unset */
  NULL
};

typedef struct
{
  CsbTestBus bus;
  char      *project;
} Fixture;

static void
fixture_setup (Fixture      *f,
               gconstpointer data)
{
  CsbTestBusOptions options = { service_env, FALSE, NULL };

  csb_test_bus_setup (&f->bus, &options);
  f->project = csb_test_make_project (&f->bus.dirs, "project");
}

static void
fixture_teardown (Fixture      *f,
                  gconstpointer data)
{
  csb_test_bus_teardown (&f->bus);
  unsetenv ("GH_TOKEN");
  g_free (f->project);
}

/* The pid whose command line holds the token, or 0. */
static guint
token_in_cmdlines (void)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc", name, "cmdline", NULL);
      g_autofree char *contents = NULL;
      gsize len;

      if (!g_ascii_isdigit (name[0]) ||
          !g_file_get_contents (path, &contents, &len, NULL))
        continue;
      if (len > 0 && memmem (contents, len, TOKEN, strlen (TOKEN)) != NULL)
        return (guint) g_ascii_strtoull (name, NULL, 10);
    }
  return 0;
}

static char *
managed_objects_text (Fixture *f)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = g_dbus_connection_call_sync (f->bus.connection, CSB_BUS_NAME,
                                       CSB_MANAGER_PATH,
                                       "org.freedesktop.DBus.ObjectManager",
                                       "GetManagedObjects", NULL, NULL,
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  return g_variant_print (reply, TRUE);
}

static void
test_off_by_default (Fixture      *f,
                     gconstpointer data)
{
  const char * const command[] = {
    "sh", "-c", "echo \"[${GH_TOKEN-unset}][${GITHUB_TOKEN-unset}]\"; ls -A \"$HOME/.config\" 2>&1; true",
    NULL
  };
  g_autofree char *gh_config = g_build_filename (f->bus.dirs.home, ".config", "gh", "hosts.yml",
                                                 NULL);
  g_autofree char *out = NULL;

  csb_test_write_file (gh_config, "github.com:\n    oauth_token: " TOKEN "\n", 0600);
  out = csb_test_run_command (&f->bus, f->project, command, NULL, 0);
  g_assert_true (g_str_has_prefix (out, "[unset][unset]\n"));
  g_assert_null (strstr (out, TOKEN));
  g_assert_null (strstr (out, "gh"));
}

static void
test_forwarded (Fixture      *f,
                gconstpointer data)
{
  const char * const command[] = {
    "sh", "-c",
    "echo \"token=$GH_TOKEN\"; echo \"github=$GITHUB_TOKEN\"; echo ready; exec sleep 1000",
    NULL
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autofree char *objects = NULL;
  g_autofree char *where = NULL;
  guint pid;

  run = csb_test_launch (&f->bus, f->project, command,
                         g_variant_new_parsed ("{'gh-token': <true>}"), FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait_output (run, "ready\n", CSB_TEST_TIMEOUT_MS));

  /* Inside, under both names. */
  g_assert_nonnull (strstr (run->out->str, "token=" TOKEN "\n"));
  g_assert_nonnull (strstr (run->out->str, "github=" TOKEN "\n"));
  g_assert_true (csb_dbus_sandbox_get_gh_token (run->sandbox));

  /* While it runs: in no command line on the host (bwrap got it through --args). */
  pid = token_in_cmdlines ();
  if (pid != 0)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%u/cmdline", pid);
      g_autofree char *cmdline = NULL;
      gsize len;

      g_file_get_contents (path, &cmdline, &len, NULL);
      for (gsize i = 0; cmdline && i + 1 < len; i++)
        if (cmdline[i] == '\0')
          cmdline[i] = ' ';
      g_error ("the token is in the command line of pid %u: %s", pid, cmdline);
    }
  /* In no D-Bus property. */
  objects = managed_objects_text (f);
  g_assert_nonnull (strstr (objects, run->object_path));
  g_assert_null (strstr (objects, TOKEN));

  g_assert_true (csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));

  /* Nor in the service's log, its state (logs) or its runtime files. */
  g_assert_false (csb_test_tree_contains (f->bus.dirs.state, TOKEN, &where));
  g_assert_false (csb_test_tree_contains (f->bus.dirs.runtime, TOKEN, &where));
  {
    g_autofree char *log = NULL;

    g_assert_true (g_file_get_contents (f->bus.service_log, &log, NULL, NULL));
    g_assert_null (strstr (log, TOKEN));
  }
}

static void
test_forwarded_pty (Fixture      *f,
                    gconstpointer data)
{
  const char * const command[] = { "sh", "-c", "echo \"len=${#GH_TOKEN}\"", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;
  g_autofree char *expected = g_strdup_printf ("len=%zu", strlen (TOKEN));
  g_autofree char *where = NULL;

  /* With a terminal, the terminal log is the place a token would end up in. */
  run = csb_test_launch_pty (&f->bus, f->project, command,
                             g_variant_new_parsed ("{'gh-token': <true>}"), &error);
  g_assert_no_error (error);
  term = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (term, expected, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_assert_false (csb_test_tree_contains (f->bus.dirs.state, TOKEN, &where));
}

int
main (int   argc,
      char *argv[])
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  (void) CSB_ERROR;

  g_test_add ("/security/gh-token/off-by-default", Fixture, NULL, fixture_setup,
              test_off_by_default, fixture_teardown);
  g_test_add ("/security/gh-token/forwarded", Fixture, NULL, fixture_setup, test_forwarded,
              fixture_teardown);
  g_test_add ("/security/gh-token/forwarded-pty", Fixture, NULL, fixture_setup,
              test_forwarded_pty, fixture_teardown);

  return g_test_run ();
}
