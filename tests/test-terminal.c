/* test-terminal.c — a sandbox's terminal: history, fan-out, input, window size.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include "csb-test-utils.h"

typedef struct
{
  CsbTestBus bus;
  char      *project;
} Fixture;

static void
fixture_setup (Fixture      *f,
               gconstpointer data)
{
  csb_test_bus_setup (&f->bus, NULL);
  f->project = csb_test_make_project (&f->bus.dirs, "project");
}

static void
fixture_teardown (Fixture      *f,
                  gconstpointer data)
{
  csb_test_bus_teardown (&f->bus);
  g_free (f->project);
}

static void
test_two_clients (Fixture      *f,
                  gconstpointer data)
{
  const char * const command[] = { "/bin/sh", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) a = NULL;
  g_autoptr(CsbTestTerminal) b = NULL;
  g_autofree char *id = NULL;
  g_autofree char *log_path = NULL;
  g_autofree char *log = NULL;

  /* No stdio option: the service allocates a pty. */
  run = csb_test_launch_pty (&f->bus, f->project, command, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (csb_dbus_sandbox_get_state (run->sandbox), ==, "running");

  a = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  /* Arithmetic, so the echo of what we typed does not count as the answer. */
  csb_test_terminal_send (a, "echo hist-$((40+2))\n");
  g_assert_true (csb_test_terminal_wait (a, "hist-42", CSB_TEST_TIMEOUT_MS));

  /* A second client gets the history first... */
  b = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (b, "hist-42", CSB_TEST_TIMEOUT_MS));

  /* ...then live output, which both see; input from either reaches the shell. */
  csb_test_terminal_send (b, "echo live-$((2+3))\n");
  g_assert_true (csb_test_terminal_wait (b, "live-5", CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_terminal_wait (a, "live-5", CSB_TEST_TIMEOUT_MS));

  /* The window size reaches the pty. */
  g_assert_true (csb_dbus_sandbox_call_resize_terminal_sync (run->sandbox, 123, 45, NULL,
                                                             &error));
  g_assert_no_error (error);
  csb_test_terminal_send (a, "echo size-$(stty size | tr ' ' x)\n");
  g_assert_true (csb_test_terminal_wait (a, "size-45x123", CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_terminal_wait (b, "size-45x123", CSB_TEST_TIMEOUT_MS));

  /* The shell sits on a terminal: its stdin is a tty, and TERM says what kind. */
  csb_test_terminal_send (b, "test -t 0 && echo tty-$((1+1)); echo term-$TERM\n");
  g_assert_true (csb_test_terminal_wait (a, "tty-2", CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_terminal_wait (a, "term-xterm", CSB_TEST_TIMEOUT_MS));

  csb_test_terminal_send (a, "exit 5\n");
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_test_message ("terminal a saw: %s", a->received->str);
  /* Both clients reach the end of the stream. */
  g_assert_true (csb_test_terminal_wait_eof (a, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_terminal_wait_eof (b, CSB_TEST_TIMEOUT_MS));

  /* The history is kept in the sandbox's log. */
  id = g_path_get_basename (run->object_path);
  log_path = g_build_filename (f->bus.dirs.state, "claude-sandbox", id, "terminal.log", NULL);
  g_assert_true (g_file_get_contents (log_path, &log, NULL, NULL));
  g_assert_nonnull (strstr (log, "hist-42"));
  g_assert_nonnull (strstr (log, "live-5"));

  /* A job-control shell's own exit status, not one of its complaints about the tty. */
  g_assert_null (strstr (a->received->str, "Cannot set tty process group"));
  g_assert_cmpint (run->exit_signal_status, ==, 5);
  g_assert_cmpint (csb_dbus_sandbox_get_exit_status (run->sandbox), ==, 5);
}

static void
test_late_client (Fixture      *f,
                  gconstpointer data)
{
  const char * const command[] = { "sh", "-c", "echo early-$((6*7)); read x; echo got-$x", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;

  run = csb_test_launch_pty (&f->bus, f->project, command, NULL, &error);
  g_assert_no_error (error);
  /* Output nobody was attached for is not lost: the service reads the terminal always. */
  csb_test_sleep_ms (300);
  term = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (term, "early-42", CSB_TEST_TIMEOUT_MS));
  csb_test_terminal_send (term, "abc\n");
  g_assert_true (csb_test_terminal_wait (term, "got-abc", CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpint (run->exit_signal_status, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  (void) CSB_ERROR;

  g_test_add ("/sandbox/terminal/late-client", Fixture, NULL, fixture_setup, test_late_client,
              fixture_teardown);
  g_test_add ("/sandbox/terminal/two-clients", Fixture, NULL, fixture_setup, test_two_clients,
              fixture_teardown);

  return g_test_run ();
}
