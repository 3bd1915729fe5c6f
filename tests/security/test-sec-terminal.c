/* test-sec-terminal.c — a sandbox talking to the user's terminal through the CLI.
 *
 * The program inside prints what would make a terminal act for it: OSC 52 (write
 * the clipboard), CSI 6n and DECRQSS (report requests, whose answers the terminal
 * types into whatever reads it), an OSC 8 link, a tmux passthrough. The real CLI runs
 * on a pty as in a user's terminal emulator, and what reaches that pty is checked:
 * the text, none of the sequences; with --raw, all of them (so the test sees the
 * filter, not a sandbox that failed to print). The same for a sandbox's stderr,
 * which the CLI relays from a pipe when only stderr is a terminal.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "csb-sec-utils.h"

/* printf(1) format: each attack between plain words that must arrive. */
#define ATTACKS \
  "before-" \
  "\\033]52;c;cHduZWQgY2xpcGJvYXJk\\007" \
  "\\033[6n" \
  "\\033P$qm\\033\\\\" \
  "\\033Ptmux;\\033\\033]52;c;dG11eA==\\007\\033\\\\" \
  "\\033]8;;https://evil.example/\\033\\\\linktext\\033]8;;\\033\\\\" \
  "\\302\\233" "5n" \
  "-after\\n"

typedef struct
{
  const char *needle;
  const char *what;
} Sequence;

/* What the terminal must not see (and, with --raw, does). */
static const Sequence attacks[] = {
  { "\033]52;c;cHduZWQgY2xpcGJvYXJk", "OSC 52 clipboard write" },
  { "\033[6n", "CSI 6n cursor position report request" },
  { "\033P$qm", "DECRQSS" },
  { "\033Ptmux;", "tmux passthrough" },
  { "\033]8;;https://evil.example/", "OSC 8 hyperlink" },
  { "\xc2\x9b", "C1 CSI" },
};

static void
cli_child_setup (gpointer data)
{
  setsid ();
  ioctl (STDIN_FILENO, TIOCSCTTY, 0);
}

/* Everything the pty shows until every slave end is closed (the CLI exited). */
static void
pty_read_to_end (int      master,
                 GString *seen)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) CSB_TEST_TIMEOUT_MS * 1000;

  while (g_get_monotonic_time () < deadline)
    {
      struct pollfd pfd = { master, POLLIN, 0 };
      char buf[4096];
      ssize_t n;

      if (poll (&pfd, 1, 200) <= 0)
        continue;
      n = read (master, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)   /* EIO: the last slave end closed */
        return;
      g_string_append_len (seen, buf, n);
    }
  g_test_fail_printf ("the CLI did not end within %u ms", CSB_TEST_TIMEOUT_MS);
}

/* Runs the CLI with @args; the pty is its stdin, stdout and stderr, or (@only_stderr)
 * its stderr alone, stdin and stdout being /dev/null and a pipe. Returns what the
 * pty showed. */
static char *
run_cli_on_pty (CsbSecFixture      *fixture,
                const char * const *args,
                gboolean            only_stderr,
                int                *out_status)
{
  const char *cli = g_getenv ("CSB_TEST_CLI");
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) seen = g_string_new (NULL);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *shown = NULL;
  struct winsize size = { 24, 80, 0, 0 };
  int master, slave;

  g_assert_nonnull (cli);
  master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (master, >=, 0);
  g_assert_cmpint (grantpt (master), ==, 0);
  g_assert_cmpint (unlockpt (master), ==, 0);
  slave = open (ptsname (master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (slave, >=, 0);
  g_assert_cmpint (ioctl (slave, TIOCSWINSZ, &size), ==, 0);

  launcher = g_subprocess_launcher_new (only_stderr ? G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                    : G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS",
                                g_test_dbus_get_bus_address (fixture->bus.bus), TRUE);
  g_subprocess_launcher_setenv (launcher, "TERM", "xterm-256color", TRUE);
  if (only_stderr)
    {
      int devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);

      g_assert_cmpint (devnull, >=, 0);
      g_subprocess_launcher_take_stdin_fd (launcher, devnull);
      g_subprocess_launcher_take_stderr_fd (launcher, slave);
    }
  else
    {
      g_subprocess_launcher_take_stdin_fd (launcher, dup (slave));
      g_subprocess_launcher_take_stdout_fd (launcher, dup (slave));
      g_subprocess_launcher_take_stderr_fd (launcher, slave);
      g_subprocess_launcher_set_child_setup (launcher, cli_child_setup, NULL, NULL);
    }
  g_ptr_array_add (argv, (gpointer) cli);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  /* Only the CLI holds the slave now: its exit is our EOF. */
  g_clear_object (&launcher);

  pty_read_to_end (master, seen);
  close (master);
  if (only_stderr)
    {
      g_autofree char *out = NULL;

      g_assert_true (g_subprocess_communicate_utf8 (process, NULL, NULL, &out, NULL, &error));
      g_assert_no_error (error);
    }
  g_assert_true (g_subprocess_wait (process, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (process));
  *out_status = g_subprocess_get_exit_status (process);
  shown = g_strescape (seen->str, NULL);
  g_test_message ("the terminal showed: %s", shown);
  return g_string_free (g_steal_pointer (&seen), FALSE);
}

static void
test_cli (gconstpointer data)
{
  gboolean only_stderr = GPOINTER_TO_INT (data);
  CsbSecFixture fixture = { 0 };
  g_autofree char *script = g_strdup_printf ("printf '%s'%s", ATTACKS,
                                             only_stderr ? " >&2" : "");
  g_autofree char *filtered = NULL;
  g_autofree char *raw = NULL;
  int status;

  csb_sec_fixture_setup (&fixture, NULL);
  csb_test_bus_activate (&fixture.bus);
  {
    const char * const args[] = {
      "--no-network", "--command", fixture.project, "--", "sh", "-c", script, NULL
    };
    filtered = run_cli_on_pty (&fixture, args, only_stderr, &status);
    g_assert_cmpint (status, ==, 0);
  }
  {
    const char * const args[] = {
      "--raw", "--no-network", "--command", fixture.project, "--", "sh", "-c", script, NULL
    };
    raw = run_cli_on_pty (&fixture, args, only_stderr, &status);
    g_assert_cmpint (status, ==, 0);
  }

  /* The text came through, and the link's text without its link. */
  g_assert_nonnull (strstr (filtered, "before-"));
  g_assert_nonnull (strstr (filtered, "linktext"));
  g_assert_nonnull (strstr (filtered, "-after"));
  for (guint i = 0; i < G_N_ELEMENTS (attacks); i++)
    {
      g_test_message ("%s", attacks[i].what);
      g_assert_null (strstr (filtered, attacks[i].needle));
      g_assert_nonnull (strstr (raw, attacks[i].needle));
    }
  /* No ESC at all between the words the sandbox printed. */
  {
    const char *from = strstr (filtered, "before-");
    const char *to = strstr (filtered, "-after");

    g_assert_true (from < to);
    g_assert_null (memchr (from, '\033', to - from));
  }
  csb_sec_fixture_teardown (&fixture);
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  g_test_set_nonfatal_assertions ();

  g_test_add_data_func ("/security/terminal/cli-filters-output", GINT_TO_POINTER (FALSE),
                        test_cli);
  g_test_add_data_func ("/security/terminal/cli-filters-stderr", GINT_TO_POINTER (TRUE),
                        test_cli);
  return g_test_run ();
}
