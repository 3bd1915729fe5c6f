/* Sandboxes outlive the service: after `kill -9` of the service, the re-activated
 * one lists every sandbox again with its state and terminal (history included,
 * what was printed while no service ran too), and later its exit status; nothing
 * running was killed.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "csb-test-utils.h"

typedef struct
{
  CsbTestBus bus;
  char      *project;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  csb_test_bus_setup (&f->bus, NULL);
  f->project = csb_test_make_project (&f->bus.dirs, "survive");
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_free (f->project);
  csb_test_bus_teardown (&f->bus);
}

static void
test_terminal_survives (Fixture       *f,
                        gconstpointer  data)
{
  const char * const command[] = {
    "sh", "-c",
    "echo started; while read l; do echo got-$l; [ \"$l\" = quit ] && exit 7; done", NULL
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) before = NULL;
  g_autoptr(CsbTestTerminal) after = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autofree char *proc = NULL;
  guint old_service, pid;

  run = csb_test_launch_pty (&f->bus, f->project, command, NULL, &error);
  g_assert_no_error (error);
  pid = csb_dbus_sandbox_get_pid (run->sandbox);
  proc = g_strdup_printf ("/proc/%u", pid);
  before = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  csb_test_terminal_send (before, "one\n");
  g_assert_true (csb_test_terminal_wait (before, "got-one", CSB_TEST_TIMEOUT_MS));

  old_service = csb_test_bus_service_pid (&f->bus);
  csb_test_bus_crash_service (&f->bus);

  /* The sandbox runs on, and its terminal too: a client attached before keeps
   * typing into it, and its output goes on into the log. */
  g_assert_true (g_file_test (proc, G_FILE_TEST_EXISTS));
  csb_test_terminal_send (before, "two\n");
  g_assert_true (csb_test_terminal_wait (before, "got-two", CSB_TEST_TIMEOUT_MS));

  sandbox = csb_test_bus_sandbox_after_restart (&f->bus, run->object_path);
  g_assert_cmpuint (csb_test_bus_service_pid (&f->bus), !=, old_service);
  g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "running");
  g_assert_cmpuint (csb_dbus_sandbox_get_pid (sandbox), ==, pid);
  g_assert_cmpstr (csb_dbus_sandbox_get_project_dir (sandbox), ==, f->project);
  g_assert_true (g_strv_contains (csb_dbus_sandbox_get_protections (sandbox), "seccomp"));

  /* A client attaching now gets the whole history, downtime included. */
  after = csb_test_terminal_open (sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (after, "got-two", CSB_TEST_TIMEOUT_MS));
  g_assert_nonnull (strstr (after->received->str, "got-one"));
  g_assert_true (csb_dbus_sandbox_call_resize_terminal_sync (sandbox, 90, 30, NULL, &error));
  g_assert_no_error (error);

  /* ...and later its exit status. */
  csb_test_terminal_send (after, "quit\n");
  g_assert_true (csb_test_terminal_wait_eof (after, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpint (run->exit_signal_status, ==, 7);
  g_assert_cmpint (csb_dbus_sandbox_get_exit_status (sandbox), ==, 7);
  g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "exited");
}

static void
test_exit_while_away (Fixture       *f,
                      gconstpointer  data)
{
  g_autofree char *marker = g_build_filename (f->project, "go", NULL);
  g_autofree char *script = g_strdup_printf (
    "while [ ! -e %s ]; do sleep 0.05; done; echo bye; exit 4", marker);
  const char * const command[] = { "sh", "-c", script, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;
  g_autofree char *proc = NULL;

  run = csb_test_launch_pty (&f->bus, f->project, command, NULL, &error);
  g_assert_no_error (error);
  proc = g_strdup_printf ("/proc/%u", csb_dbus_sandbox_get_pid (run->sandbox));
  csb_test_bus_crash_service (&f->bus);

  /* It ends while no service runs. */
  g_file_set_contents (marker, "", 0, NULL);
  for (guint i = 0; i < 500 && g_file_test (proc, G_FILE_TEST_EXISTS); i++)
    csb_test_sleep_ms (10);
  g_assert_false (g_file_test (proc, G_FILE_TEST_EXISTS));
  csb_test_sleep_ms (300);

  /* The new service still knows how it ended, and what it printed. */
  sandbox = csb_test_bus_sandbox_after_restart (&f->bus, run->object_path);
  for (guint i = 0; i < 200 && g_strcmp0 (csb_dbus_sandbox_get_state (sandbox), "exited") != 0;
       i++)
    {
      g_main_context_iteration (NULL, FALSE);
      csb_test_sleep_ms (10);
    }
  g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "exited");
  g_assert_cmpint (csb_dbus_sandbox_get_exit_status (sandbox), ==, 4);
  term = csb_test_terminal_open (sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait_eof (term, CSB_TEST_TIMEOUT_MS));
  g_assert_nonnull (strstr (term->received->str, "bye"));
}

int
main (int   argc,
      char *argv[])
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  (void) CSB_ERROR;
  g_test_add ("/reliability/survive/terminal", Fixture, NULL, fixture_setup,
              test_terminal_survives, fixture_teardown);
  g_test_add ("/reliability/survive/exit-while-away", Fixture, NULL, fixture_setup,
              test_exit_while_away, fixture_teardown);
  return g_test_run ();
}
