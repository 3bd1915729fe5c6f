/* test-sec-control.c — a sandbox's control socket (its monitor's monitor.sock, which
 * reads and types into the terminal and stops the sandbox) answers only the service:
 * a process in another user namespace — a second sandbox given the first one's
 * runtime folder, or a plain `unshare -U` on the host — is refused although its uid
 * maps to ours: it reads no history, types nothing, stops nothing. The service still
 * attaches, and its folders are private: made 0700, never through a planted link.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <sched.h>
#include <sys/wait.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-sec-utils.h"

static const char * const echo_loop[] = {
  "sh", "-c", "echo control-ready; while read l; do echo got-$l; done", NULL
};

static void
setup (CsbSecFixture *fixture,
       gconstpointer  data)
{
  csb_sec_fixture_setup (fixture, NULL);
}

static void
teardown (CsbSecFixture *fixture,
          gconstpointer  data)
{
  csb_sec_fixture_teardown (fixture);
}

static char *
runtime_folder (CsbSecFixture  *fixture,
                CsbDBusSandbox *sandbox)
{
  return g_build_filename (fixture->bus.dirs.runtime, "claude-sandbox",
                           csb_dbus_sandbox_get_id (sandbox), NULL);
}

static void
enter_user_namespace (gpointer user_data)
{
  if (unshare (CLONE_NEWUSER) != 0)
    _exit (99);
}

/* The probe run here, but in a user namespace of its own, as `unshare -U` would. */
static GHashTable *
probe_in_other_userns (const char * const *args)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) argv = NULL;
  g_autofree char *probe = csb_sec_built_probe ();
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  int wait_status;

  g_strv_builder_add (builder, probe);
  g_strv_builder_addv (builder, (const char **) args);
  argv = g_strv_builder_end (builder);
  g_spawn_sync (NULL, argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, enter_user_namespace, NULL,
                &out, NULL, &wait_status, &error);
  g_assert_no_error (error);
  if (WIFEXITED (wait_status) && WEXITSTATUS (wait_status) == 99)
    return NULL;
  g_spawn_check_wait_status (wait_status, &error);
  g_assert_no_error (error);
  g_test_message ("other user namespace: %s → %s", args[0], out);
  return csb_sec_parse (out);
}

static const char *
lookup (GHashTable *results,
        const char *key)
{
  const char *value = g_hash_table_lookup (results, key);

  return value != NULL ? value : "(none)";
}

static void
assert_refused (GHashTable *results)
{
  g_assert_cmpstr (g_hash_table_lookup (results, "unix_connect"), ==, "OK");
  g_assert_cmpstr (g_hash_table_lookup (results, "unix_bytes"), ==, "0");
  g_assert_cmpstr (g_hash_table_lookup (results, "unix_eof"), ==, "1");
}

/* What the sandbox's terminal showed, start to now, through the service. */
static void
assert_untouched (CsbDBusSandbox *sandbox,
                  const char     *typed)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestTerminal) term = csb_test_terminal_open (sandbox, &error);
  g_autofree char *never = g_strconcat ("got-", typed, NULL);

  g_assert_no_error (error);
  /* The service attaches and types as before ... */
  csb_test_terminal_send (term, "after\n");
  g_assert_true (csb_test_terminal_wait (term, "got-after", CSB_TEST_TIMEOUT_MS));
  /* ... and nothing the refused peer typed reached the terminal. */
  g_assert_null (strstr (term->received->str, never));
  g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "running");
}

static void
test_other_userns (CsbSecFixture *fixture,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;
  g_autoptr(GHashTable) host = NULL;
  g_autoptr(GHashTable) attach = NULL;
  g_autoptr(GHashTable) watch = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *sock = NULL;
  struct stat st;

  run = csb_test_launch_pty (&fixture->bus, fixture->project, echo_loop, NULL, &error);
  g_assert_no_error (error);
  term = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (term, "control-ready", CSB_TEST_TIMEOUT_MS));

  dir = runtime_folder (fixture, run->sandbox);
  sock = g_build_filename (dir, "monitor.sock", NULL);
  g_assert_cmpint (lstat (dir, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
  g_assert_cmpint (lstat (sock, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));

  /* Here, in our own namespaces, the socket answers (the service's view of it). */
  host = csb_sec_probe_outside ("unix", sock, "ATTACH", NULL);
  g_assert_cmpstr (g_hash_table_lookup (host, "unix_connect"), ==, "OK");
  g_assert_nonnull (strstr (lookup (host, "unix_text"), "control-ready"));

  /* In another user namespace, the same uid is refused: no history, no typing... */
  attach = probe_in_other_userns ((const char * const[]) {
    "unix", sock, "ATTACH", "typed-from-userns", NULL });
  if (attach == NULL)
    {
      g_test_skip ("no unprivileged user namespaces here");
      return;
    }
  assert_refused (attach);
  /* ... and no stop. */
  watch = probe_in_other_userns ((const char * const[]) {
    "unix", sock, "WATCH", "STOP 1", "KILL", NULL });
  assert_refused (watch);

  assert_untouched (run->sandbox, "typed-from-userns");
}

static void
test_second_sandbox (CsbSecFixture *fixture,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;
  g_autoptr(CsbTestRun) attacker = NULL;
  g_autoptr(GHashTable) results = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *sock = NULL;
  const char *argv[7];

  run = csb_test_launch_pty (&fixture->bus, fixture->project, echo_loop, NULL, &error);
  g_assert_no_error (error);
  term = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (term, "control-ready", CSB_TEST_TIMEOUT_MS));
  dir = runtime_folder (fixture, run->sandbox);
  sock = g_build_filename (dir, "monitor.sock", NULL);

  /* The second sandbox is handed the first's runtime folder (as a planted link once
   * did) and tries its control socket from inside. */
  argv[0] = fixture->probe;
  argv[1] = "unix";
  argv[2] = sock;
  argv[3] = "ATTACH";
  argv[4] = "typed-from-sandbox";
  argv[5] = NULL;
  attacker = csb_test_launch (&fixture->bus, fixture->project, argv,
                              csb_sec_options ("rw-binds",
                                               g_variant_new_strv ((const char * const[]) { dir },
                                                                   1),
                                               NULL),
                              FALSE, &error);
  if (attacker == NULL)
    {
      /* Refusing the bind is as good: the folder stays out of reach. */
      g_test_message ("rw-binds of the runtime folder refused: %s", error->message);
      g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
    }
  else
    {
      g_assert_true (csb_test_run_wait (attacker, CSB_TEST_TIMEOUT_MS));
      g_test_message ("second sandbox: %s", attacker->out->str);
      results = csb_sec_parse (attacker->out->str);
      assert_refused (results);
    }
  assert_untouched (run->sandbox, "typed-from-sandbox");
}

/* The sandboxes' folder in the runtime folder replaced by a link (to a folder a
 * sandbox could read): the service creates nothing through it and refuses the
 * launch; a folder of ours that is open to others is closed to them. */
static void
test_runtime_folder_link (CsbSecFixture *fixture,
                          gconstpointer  data)
{
  const char * const command[] = { "true", NULL };
  g_autofree char *folder = g_build_filename (fixture->bus.dirs.runtime, "claude-sandbox", NULL);
  g_autofree char *elsewhere = g_build_filename (fixture->bus.dirs.runtime, "elsewhere", NULL);
  g_autofree char *listing = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  struct stat st;

  csb_test_rm_rf (folder);
  g_assert_cmpint (g_mkdir_with_parents (elsewhere, 0755), ==, 0);
  g_assert_cmpint (symlink (elsewhere, folder), ==, 0);
  run = csb_test_launch (&fixture->bus, fixture->project, command, NULL, FALSE, &error);
  g_assert_null (run);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_FAILED);
  g_test_message ("Launch: %s", error ? error->message : "(none)");
  listing = csb_test_list_dir (elsewhere);
  g_assert_cmpstr (listing, ==, "");
  g_clear_error (&error);

  /* A real folder, but open to everyone: made private, and the launch works. */
  g_assert_cmpint (unlink (folder), ==, 0);
  g_assert_cmpint (mkdir (folder, 0755), ==, 0);
  g_assert_cmpint (chmod (folder, 0755), ==, 0);
  run = csb_test_launch (&fixture->bus, fixture->project, command, NULL, FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpint (run->exit_signal_status, ==, 0);
  g_assert_cmpint (lstat (folder, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  /* A failed check ends its test case, not the program (see test-sec-isolation.c). */
  g_test_set_nonfatal_assertions ();
  (void) CSB_ERROR;   /* registers the D-Bus error names */

  g_test_add ("/security/control/other-user-namespace", CsbSecFixture, NULL, setup,
              test_other_userns, teardown);
  g_test_add ("/security/control/second-sandbox", CsbSecFixture, NULL, setup,
              test_second_sandbox, teardown);
  g_test_add ("/security/control/runtime-folder-link", CsbSecFixture, NULL, setup,
              test_runtime_folder_link, teardown);
  return g_test_run ();
}
