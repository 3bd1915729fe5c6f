/* test-sec-secrets.c — the GitHub token, set in the service's activation
 * environment as a desktop session would: inside the sandbox only with gh-token,
 * and never in any argv or environment of the processes around it (bwrap,
 * xdg-dbus-proxy), the service's log or its D-Bus properties.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-sec-utils.h"

#define TOKEN "ghp_csbSecurityTestToken0123456789abcdef"

static void
setup (CsbSecFixture *fixture,
       gconstpointer  data)
{
  static const char * const env[] = { "GH_TOKEN=" TOKEN, NULL };
  CsbTestBusOptions options = { env, FALSE, NULL };

  csb_sec_fixture_setup (fixture, &options);
  /* Only the service (through the bus's activation environment) holds it. */
  g_unsetenv ("GH_TOKEN");
}

static void
teardown (CsbSecFixture *fixture,
          gconstpointer  data)
{
  csb_sec_fixture_teardown (fixture);
}

static ino_t
pid_namespace (guint pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%u/ns/pid", pid);
  struct stat st;

  return stat (path, &st) == 0 ? st.st_ino : 0;
}

static char *
proc_file (const char *pid,
           const char *name,
           gsize      *len)
{
  g_autofree char *path = g_build_filename ("/proc", pid, name, NULL);
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, len, NULL))
    return NULL;
  return contents;
}

static void
test_token_on (CsbSecFixture *fixture,
               gconstpointer  data)
{
  g_autoptr(GVariant) options = g_variant_ref_sink (
    csb_sec_options ("gh-token", g_variant_new_boolean (TRUE), NULL));
  const char * const argv[] = { "/bin/sh", "-c", "echo \"token=$GH_TOKEN\"; read line", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GDir) proc = NULL;
  g_autofree char *log = NULL;
  /* 0 if the bus cannot say. */
  guint daemon = csb_test_bus_name_pid (&fixture->bus, "org.freedesktop.DBus", NULL);
  ino_t sandbox_ns;
  const char *name;
  gboolean saw_bwrap = FALSE, saw_proxy = FALSE;

  run = csb_test_launch (&fixture->bus, fixture->project, argv, g_variant_ref (options), TRUE,
                         &error);
  g_assert_no_error (error);
  if (run == NULL)
    return;
  g_assert_true (csb_test_run_wait_output (run, "token=", CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_wait_output (run, "\n", CSB_TEST_TIMEOUT_MS));
  g_assert_nonnull (strstr (run->out->str, "token=" TOKEN "\n"));

  /* While it runs: every process outside the sandbox, its argv and environment. */
  sandbox_ns = pid_namespace (csb_dbus_sandbox_get_pid (run->sandbox));
  g_assert_cmpuint (sandbox_ns, !=, 0);
  proc = g_dir_open ("/proc", 0, NULL);
  while ((name = g_dir_read_name (proc)) != NULL)
    {
      guint64 pid;
      g_autofree char *cmdline = NULL;
      g_autofree char *environ = NULL;
      g_autofree char *comm = NULL;
      gsize cmd_len = 0, env_len = 0;

      if (!g_ascii_string_to_unsigned (name, 10, 1, G_MAXUINT, &pid, NULL))
        continue;
      if (pid_namespace (pid) == sandbox_ns)
        continue;  /* inside: it may have it */
      cmdline = proc_file (name, "cmdline", &cmd_len);
      if (cmdline != NULL)
        g_assert_null (memmem (cmdline, cmd_len, TOKEN, strlen (TOKEN)));
      comm = proc_file (name, "comm", NULL);
      if (comm != NULL && g_str_equal (comm, "bwrap\n"))
        saw_bwrap = TRUE;
      if (comm != NULL && g_str_has_prefix (comm, "xdg-dbus-proxy"))
        saw_proxy = TRUE;
      /* The service holds it (that is where it comes from), and so does the bus
       * daemon, whose activation environment stands in for the desktop session. */
      if (pid == fixture->bus.service_pid || pid == daemon)
        continue;
      environ = proc_file (name, "environ", &env_len);
      if (environ != NULL && memmem (environ, env_len, TOKEN, strlen (TOKEN)) != NULL)
        {
          g_test_message ("the token is in the environment of pid %s (%s)", name, comm);
          g_test_fail ();
        }
    }
  g_assert_true (saw_bwrap);
  g_assert_true (saw_proxy);

  /* Nor in any D-Bus property of the service. */
  {
    g_autoptr(GVariant) objects = NULL;
    g_autofree char *printed = NULL;

    objects = g_dbus_connection_call_sync (fixture->bus.connection, CSB_BUS_NAME,
                                           CSB_MANAGER_PATH,
                                           "org.freedesktop.DBus.ObjectManager",
                                           "GetManagedObjects", NULL, NULL,
                                           G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
    g_assert_no_error (error);
    printed = g_variant_print (objects, FALSE);
    g_assert_nonnull (strstr (printed, "'GhToken': <true>"));
    g_assert_null (strstr (printed, TOKEN));
  }

  close (run->stdin_fd);
  run->stdin_fd = -1;
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));

  /* Nor in the service's log, or any per-sandbox log or state it keeps. */
  log = csb_sec_read_file (fixture->bus.service_log);
  g_assert_nonnull (log);
  g_assert_null (strstr (log, TOKEN));
  {
    g_autofree char *where = NULL;

    if (csb_test_tree_contains (fixture->bus.dirs.state, TOKEN, &where))
      {
        g_test_message ("the token is in %s", where);
        g_test_fail ();
      }
  }
}

static void
test_token_off (CsbSecFixture *fixture,
                gconstpointer  data)
{
  g_autoptr(GVariant) options = g_variant_ref_sink (
    csb_sec_options ("gh-token", g_variant_new_boolean (FALSE), NULL));
  g_autofree char *out = NULL;
  int status = -1;

  out = csb_sec_run_sh (fixture,
                        "echo \"token=${GH_TOKEN-unset} ${GITHUB_TOKEN-unset}\"; "
                        "grep -c " TOKEN " /proc/self/environ",
                        g_variant_ref (options), &status);
  g_assert_nonnull (strstr (out, "token=unset unset\n0\n"));
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  /* A failed check ends its test case, not the program: an abort would leave the
   * private bus and its service holding the TAP pipe open until the timeout. */
  g_test_set_nonfatal_assertions ();

  g_test_add ("/security/secrets/gh-token-on", CsbSecFixture, NULL, setup, test_token_on,
              teardown);
  g_test_add ("/security/secrets/gh-token-off", CsbSecFixture, NULL, setup, test_token_off,
              teardown);
  return g_test_run ();
}
