/* test-sandbox.c — real bwrap sandboxes launched through D-Bus, probed from inside.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "csb-test-utils.h"

static const char * const service_env[] = {
  "LANG=en_US.UTF-8",
  "CSB_TEST_NOT_ALLOWED=leak-me",
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
  g_free (f->project);
}

static char *
run_sh (Fixture    *f,
        const char *script,
        GVariant   *options,
        int         expected_status)
{
  const char * const command[] = { "sh", "-c", script, NULL };

  return csb_test_run_command (&f->bus, f->project, command, options, expected_status);
}

static void
assert_contains (const char *haystack,
                 const char *needle)
{
  if (strstr (haystack, needle) == NULL)
    g_error ("'%s' does not contain '%s'", haystack, needle);
}

static void
assert_not_contains (const char *haystack,
                     const char *needle)
{
  if (strstr (haystack, needle) != NULL)
    g_error ("'%s' contains '%s'", haystack, needle);
}

static void
test_project_write (Fixture      *f,
                    gconstpointer data)
{
  g_autofree char *host_file = g_build_filename (f->project, "host.txt", NULL);
  g_autofree char *inside_file = g_build_filename (f->project, "sub", "inside.txt", NULL);
  g_autofree char *out = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *expected_pwd = g_strdup_printf ("pwd=%s\n", f->project);

  csb_test_write_file (host_file, "from-host\n", 0644);
  out = run_sh (f, "echo \"pwd=$(pwd)\"; cat host.txt; mkdir sub && echo from-inside > sub/inside.txt",
                NULL, 0);
  /* Same path inside, and the working folder. */
  assert_contains (out, expected_pwd);
  assert_contains (out, "from-host");
  g_assert_true (g_file_get_contents (inside_file, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "from-inside\n");
}

static void
test_home_private (Fixture      *f,
                   gconstpointer data)
{
  g_autofree char *key = g_build_filename (f->bus.dirs.home, ".ssh", "id_ed25519", NULL);
  g_autofree char *key_pub = g_build_filename (f->bus.dirs.home, ".ssh", "id_ed25519.pub", NULL);
  g_autofree char *known_hosts = g_build_filename (f->bus.dirs.home, ".ssh", "known_hosts", NULL);
  g_autofree char *secret = g_build_filename (f->bus.dirs.home, "secret.txt", NULL);
  g_autofree char *dropped = g_build_filename (f->bus.dirs.home, "dropped.txt", NULL);
  g_autofree char *out = NULL;
  g_autofree char *expected_home = g_strdup_printf ("home=%s\n", f->bus.dirs.home);

  csb_test_write_file (key, "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n", 0600);
  csb_test_write_file (key_pub, "ssh-ed25519 AAAAfake test\n", 0644);
  csb_test_write_file (known_hosts, "github.com ssh-ed25519 AAAAknown\n", 0644);
  csb_test_write_file (secret, "host secret\n", 0600);

  out = run_sh (f,
                "echo \"home=$HOME\"\n"
                "test -e \"$HOME/secret.txt\" && echo SECRET-VISIBLE\n"
                "test -e \"$HOME/.ssh/id_ed25519\" && echo KEY-VISIBLE\n"
                "ls -A \"$HOME/.ssh\" | grep -q id_ && echo KEY-LISTED\n"
                "grep -r -l 'PRIVATE KEY' \"$HOME\" /tmp /run /var/tmp 2>/dev/null | head -1 | sed 's/^/KEY-AT /'\n"
                "cat \"$HOME/.ssh/known_hosts\"\n"
                "echo x >> \"$HOME/.ssh/known_hosts\" 2>/dev/null && echo KNOWN-HOSTS-WRITABLE\n"
                "cat /etc/shadow >/dev/null 2>&1 && echo SHADOW-READABLE\n"
                "echo dropped > \"$HOME/dropped.txt\" && echo home-writable\n"
                "true",
                NULL, 0);
  assert_contains (out, expected_home);
  assert_not_contains (out, "SECRET-VISIBLE");
  assert_not_contains (out, "KEY-VISIBLE");
  assert_not_contains (out, "KEY-LISTED");
  assert_not_contains (out, "KEY-AT");
  assert_not_contains (out, "SHADOW-READABLE");
  /* known_hosts is there, read-only. */
  assert_contains (out, "AAAAknown");
  assert_not_contains (out, "KNOWN-HOSTS-WRITABLE");
  /* Home is a tmpfs: writable, and gone with the sandbox. */
  assert_contains (out, "home-writable");
  g_assert_false (g_file_test (dropped, G_FILE_TEST_EXISTS));
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* /proc/net/dev lists the interfaces of the reader's network namespace (unlike
 * /sys/class/net, which shows the namespace sysfs was mounted in). */
static char *
host_interfaces (void)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  g_assert_true (g_file_get_contents ("/proc/net/dev", &contents, NULL, NULL));
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 2; lines[i] != NULL; i++)
    {
      char *colon = strchr (lines[i], ':');

      if (colon == NULL)
        continue;
      *colon = '\0';
      g_ptr_array_add (names, g_strdup (g_strstrip (lines[i])));
    }
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

static const char *net_probe =
  "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | LC_ALL=C sort | tr '\\n' ' '; echo\n"
  "ip -o link show | cut -d: -f2 | tr -d ' ' | LC_ALL=C sort | tr '\\n' ' '";

static void
test_network_off (Fixture      *f,
                  gconstpointer data)
{
  g_autofree char *out = run_sh (f, net_probe, g_variant_new_parsed ("{'network': <false>}"), 0);
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);

  g_assert_cmpuint (g_strv_length (lines), ==, 2);
  g_assert_cmpstr (g_strstrip (lines[0]), ==, "lo");
  g_assert_cmpstr (g_strstrip (lines[1]), ==, "lo");
}

static void
test_network_on (Fixture      *f,
                 gconstpointer data)
{
  g_autofree char *out = run_sh (f, net_probe, g_variant_new_parsed ("{'network': <true>}"), 0);
  g_autofree char *host = host_interfaces ();
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);

  g_auto(GStrv) host_names = g_strsplit (host, " ", -1);
  g_auto(GStrv) names = NULL;

  /* Its own namespace: lo and the user-mode stack's interface (pasta names it
   * after the host's interface it copies, slirp4netns "tap0"), none of the rest. */
  g_assert_cmpuint (g_strv_length (lines), ==, 2);
  g_assert_cmpstr (g_strstrip (lines[0]), ==, g_strstrip (lines[1]));
  names = g_strsplit (lines[0], " ", -1);
  g_assert_cmpuint (g_strv_length (names), ==, 2);
  g_assert_true (g_strv_contains ((const char * const *) names, "lo"));
  for (guint i = 0; names[i] != NULL; i++)
    if (!g_str_equal (names[i], "lo"))
      g_assert_true (g_str_equal (names[i], "tap0") ||
                     g_strv_contains ((const char * const *) host_names, names[i]));
}

static void
test_pid_namespace (Fixture      *f,
                    gconstpointer data)
{
  g_autofree char *out = run_sh (f,
                                 "echo \"self=$$\"\n"
                                 "ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '; echo\n"
                                 "ps -e -o pid= | wc -l | sed 's/^ */ps=/'\n",
                                 NULL, 0);
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);
  g_auto(GStrv) pids = NULL;
  g_autofree char *ours = g_strdup_printf ("%d", (int) getpid ());
  guint64 self;
  guint n = 0;

  g_assert_cmpuint (g_strv_length (lines), >=, 3);
  g_assert_true (g_str_has_prefix (lines[0], "self="));
  g_assert_true (g_ascii_string_to_unsigned (lines[0] + 5, 10, 1, 100, &self, NULL));
  /* The shell is one of the very first pids of its own namespace. */
  g_assert_cmpuint (self, <=, 3);

  pids = g_strsplit (g_strstrip (lines[1]), " ", -1);
  for (guint i = 0; pids[i] != NULL; i++)
    {
      if (*pids[i] == '\0')
        continue;
      n++;
      g_assert_cmpstr (pids[i], !=, ours);
    }
  g_assert_cmpuint (n, >=, 2);
  g_assert_cmpuint (n, <=, 8);
  g_assert_true (g_str_has_prefix (lines[2], "ps="));
  g_assert_cmpuint (g_ascii_strtoull (lines[2] + 3, NULL, 10), <=, 8);
}

static void
test_usr_read_only (Fixture      *f,
                    gconstpointer data)
{
  g_autofree char *out = run_sh (f,
                                 "test -x /usr/bin/sh && echo usr-visible\n"
                                 "touch /usr/csb-probe 2>/dev/null && echo USR-WRITABLE\n"
                                 "touch /usr/bin/csb-probe 2>/dev/null && echo USR-BIN-WRITABLE\n"
                                 "echo > /usr/bin/sh 2>/dev/null && echo SH-WRITABLE\n"
                                 "true",
                                 NULL, 0);

  assert_contains (out, "usr-visible");
  assert_not_contains (out, "WRITABLE");
  g_assert_false (g_file_test ("/usr/csb-probe", G_FILE_TEST_EXISTS));
}

static void
test_env_allowlist (Fixture      *f,
                    gconstpointer data)
{
  g_autofree char *out = run_sh (f, "env | LC_ALL=C sort",
                                 g_variant_new_parsed ("{'env': <{'MY_OPTION': 'from option'}>}"),
                                 0);
  g_autofree char *expected_home = g_strdup_printf ("\nHOME=%s\n", f->bus.dirs.home);

  g_test_message ("environment inside:\n%s", out);
  /* In the service's environment but not allowlisted: cleared. */
  assert_not_contains (out, "CSB_TEST_NOT_ALLOWED");
  assert_not_contains (out, "leak-me");
  /* The session bus, if any, is a filtered proxy, never the service's own bus. */
  assert_not_contains (out, g_test_dbus_get_bus_address (f->bus.bus));
  assert_not_contains (out, "XDG_STATE_HOME");
  assert_not_contains (out, "G_DEBUG");
  /* Allowlisted: passed on. */
  assert_contains (out, "LANG=en_US.UTF-8\n");
  assert_contains (out, "MY_OPTION=from option\n");
  assert_contains (out, expected_home);
  assert_contains (out, "IS_SANDBOX=1\n");
}

static void
test_exit_status (Fixture      *f,
                  gconstpointer data)
{
  g_autofree char *out = run_sh (f, "echo before; exit 7", NULL, 7);
  g_autofree char *killed = NULL;

  assert_contains (out, "before");
  /* Killed by a signal: 128 + its number. */
  killed = run_sh (f, "kill -KILL $$", NULL, 128 + 9);
}

static void
test_stdin (Fixture      *f,
            gconstpointer data)
{
  const char * const command[] = { "sh", "-c", "read line; echo \"got: $line\"", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = csb_test_launch (&f->bus, f->project, command, NULL, TRUE, &error);

  g_assert_no_error (error);
  g_assert_cmpint (write (run->stdin_fd, "hello pipe\n", 11), ==, 11);
  close (run->stdin_fd);
  run->stdin_fd = -1;
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpstr (run->out->str, ==, "got: hello pipe\n");
  g_assert_cmpint (run->exit_signal_status, ==, 0);
}

/* data: wait for the command to say it runs before stopping it. Without, Stop comes
 * right after Launch returned, which promises the command was started. */
static void
test_stop (Fixture      *f,
           gconstpointer data)
{
  gboolean wait_started = GPOINTER_TO_INT (data);
  const char * const command[] = { "sh", "-c", "echo started; exec sleep 1000", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = csb_test_launch (&f->bus, f->project, command, NULL, FALSE, &error);
  g_autofree char *proc = NULL;
  gint64 start;
  double elapsed;

  g_assert_no_error (error);
  if (wait_started)
    g_assert_true (csb_test_run_wait_output (run, "started\n", CSB_TEST_TIMEOUT_MS));
  g_assert_cmpstr (csb_dbus_sandbox_get_state (run->sandbox), ==, "running");
  g_assert_cmpuint (csb_dbus_sandbox_get_pid (run->sandbox), >, 0);
  proc = g_strdup_printf ("/proc/%u", csb_dbus_sandbox_get_pid (run->sandbox));

  start = g_get_monotonic_time ();
  g_assert_true (csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  elapsed = (g_get_monotonic_time () - start) / 1e6;
  g_test_message ("stopped in %.2f s", elapsed);

  /* SIGTERM did it, well within the 10 s grace period (SIGKILL would be 137). */
  g_assert_cmpint (run->exit_signal_status, ==, 128 + 15);
  g_assert_cmpint (csb_dbus_sandbox_get_exit_status (run->sandbox), ==, 128 + 15);
  g_assert_cmpstr (csb_dbus_sandbox_get_state (run->sandbox), ==, "exited");
  g_assert_cmpfloat (elapsed, <, 5.0);
  /* Nothing of it is left (its first process may take a moment to be reaped). */
  for (guint i = 0; i < 200 && g_file_test (proc, G_FILE_TEST_EXISTS); i++)
    csb_test_sleep_ms (10);
  g_assert_false (g_file_test (proc, G_FILE_TEST_EXISTS));
}

int
main (int   argc,
      char *argv[])
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  (void) CSB_ERROR;

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/sandbox/bwrap/project-write", test_project_write);
  ADD ("/sandbox/bwrap/home-private", test_home_private);
  ADD ("/sandbox/bwrap/network-off", test_network_off);
  ADD ("/sandbox/bwrap/network-on", test_network_on);
  ADD ("/sandbox/bwrap/pid-namespace", test_pid_namespace);
  ADD ("/sandbox/bwrap/usr-read-only", test_usr_read_only);
  ADD ("/sandbox/bwrap/env-allowlist", test_env_allowlist);
  ADD ("/sandbox/bwrap/exit-status", test_exit_status);
  ADD ("/sandbox/bwrap/stdin", test_stdin);
  g_test_add ("/sandbox/bwrap/stop/running", Fixture, GINT_TO_POINTER (TRUE), fixture_setup,
              test_stop, fixture_teardown);
  g_test_add ("/sandbox/bwrap/stop/right-after-launch", Fixture, GINT_TO_POINTER (FALSE),
              fixture_setup, test_stop, fixture_teardown);
#undef ADD

  return g_test_run ();
}
