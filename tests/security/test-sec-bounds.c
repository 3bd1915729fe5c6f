/* test-sec-bounds.c — a sandbox cannot starve the user: 300 MB of terminal output
 * leave a log within its cap (terminal.log and one rotated terminal.log.1) while a
 * new client still gets the latest output replayed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-sec-utils.h"

#define LOG_CAP_KIB 512

static void
setup_log_cap (CsbSecFixture *fixture,
               gconstpointer  data)
{
  g_autofree char *keyfile = g_strdup_printf ("[org/example/ClaudeSandbox]\n"
                                              "terminal-log-max-kib=%u\n", LOG_CAP_KIB);
  CsbTestBusOptions options = { NULL, FALSE, keyfile };

  csb_sec_fixture_setup (fixture, &options);
}

static void
teardown (CsbSecFixture *fixture,
          gconstpointer  data)
{
  csb_sec_fixture_teardown (fixture);
}

static goffset
file_size (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0 ? st.st_size : -1;
}

static void
test_terminal_log (CsbSecFixture *fixture,
                   gconstpointer  data)
{
  /* 300 MB (in 1 MB lines), then a marker, then it waits to be told to end. */
  const char * const command[] = {
    "sh", "-c",
    "head -c 300000000 /dev/zero | tr '\\0' x | fold -w 1000000; "
    "echo; echo flood-done-$((6*7)); read x; echo bye-$x", NULL
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *log = NULL;
  g_autofree char *rotated = NULL;
  g_autofree char *tail = NULL;
  goffset cap = (goffset) LOG_CAP_KIB * 1024;
  goffset log_size, rotated_size;

  run = csb_test_launch_pty (&fixture->bus, fixture->project, command, NULL, &error);
  g_assert_no_error (error);
  dir = g_build_filename (fixture->bus.dirs.state, "claude-sandbox",
                          csb_dbus_sandbox_get_id (run->sandbox), NULL);
  log = g_build_filename (dir, "terminal.log", NULL);
  rotated = g_build_filename (dir, "terminal.log.1", NULL);

  /* Attached only after the flood: the replay comes from what was kept. The marker
   * in the log says the flood went through (no time bound: the wait is for it). */
  while (!(g_file_get_contents (log, &tail, NULL, NULL) && strstr (tail, "flood-done-42")))
    {
      g_clear_pointer (&tail, g_free);
      g_assert_true (csb_dbus_sandbox_get_state (run->sandbox) != NULL);
      csb_test_sleep_ms (200);
      if (g_strcmp0 (csb_dbus_sandbox_get_state (run->sandbox), "running") != 0)
        break;
    }
  g_assert_nonnull (tail);
  g_assert_nonnull (strstr (tail, "flood-done-42"));

  log_size = file_size (log);
  rotated_size = file_size (rotated);
  g_test_message ("terminal.log %" G_GOFFSET_FORMAT " bytes, terminal.log.1 %"
                  G_GOFFSET_FORMAT " bytes, cap %" G_GOFFSET_FORMAT, log_size, rotated_size,
                  cap);
  g_assert_cmpint (log_size, >, 0);
  g_assert_cmpint (rotated_size, >, 0);   /* it did rotate */
  g_assert_cmpint (log_size + rotated_size, <=, cap);

  /* A new client gets the latest output first, then live. */
  term = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (term, "flood-done-42", CSB_TEST_TIMEOUT_MS));
  csb_test_terminal_send (term, "now\n");
  g_assert_true (csb_test_terminal_wait (term, "bye-now", CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpint (file_size (log) + file_size (rotated), <=, cap);
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  /* A failed check ends its test case, not the program (see test-sec-isolation.c). */
  g_test_set_nonfatal_assertions ();

  g_test_add ("/security/bounds/terminal-log", CsbSecFixture, NULL, setup_log_cap,
              test_terminal_log, teardown);
  return g_test_run ();
}
