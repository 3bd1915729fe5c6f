/* test-spare.c — the monitor started ahead of the next launch (service/csb-monitor-spare.c):
 * a real service, real bwrap and pasta; the spare is found among the service's
 * children by its name ("csb-spare") and followed by pid.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "csb-test-utils.h"

#define NETWORK_ON "{'network': <true>}"
#define NETWORK_OFF "{'network': <false>}"

/* The sandbox's interfaces, from /proc/net/dev: "lo" alone, or "lo" and one more. */
static const char net_probe[] =
  "sed -n '3,$p' /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '";

/* pasta's name, or passt.avx2's (the program it runs on CPUs that have AVX2). */
#define STACK "pas"

static const char * const short_age_env[] = { "CSB_MONITOR_SPARE_MAX_AGE_S=2", NULL };

typedef struct
{
  CsbTestBus bus;
  char      *project;
} Fixture;

static void
fixture_setup (Fixture      *f,
               gconstpointer data)
{
  CsbTestBusOptions options = { data, FALSE, NULL };

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

/* @pid's name and parent, from /proc/PID/stat; FALSE once it is gone (or a zombie). */
static gboolean
read_stat (guint  pid,
           char   comm[32],
           guint *ppid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%u/stat", pid);
  g_autofree char *text = NULL;
  const char *open, *close;
  char state;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (open = strchr (text, '(')) == NULL ||
      (close = strrchr (text, ')')) == NULL || close - open - 1 >= 32)
    return FALSE;
  memcpy (comm, open + 1, close - open - 1);
  comm[close - open - 1] = '\0';
  return sscanf (close + 2, "%c %u", &state, ppid) == 2 && state != 'Z';
}

static gboolean
alive (guint pid)
{
  char comm[32];
  guint ppid;

  return read_stat (pid, comm, &ppid);
}

/* The first child of @parent named @name, or 0. */
static guint
child_named (guint       parent,
             const char *name)
{
  g_autofree char *dir = g_strdup_printf ("/proc/%u/task", parent);
  g_autoptr(GDir) tasks = g_dir_open (dir, 0, NULL);
  const char *task;

  while (tasks != NULL && (task = g_dir_read_name (tasks)) != NULL)
    {
      g_autofree char *file = g_strdup_printf ("%s/%s/children", dir, task);
      g_autofree char *list = NULL;
      g_auto(GStrv) pids = NULL;

      if (!g_file_get_contents (file, &list, NULL, NULL))
        continue;
      pids = g_strsplit (g_strstrip (list), " ", -1);
      for (guint i = 0; pids[i] != NULL; i++)
        {
          guint pid = (guint) g_ascii_strtoull (pids[i], NULL, 10);
          char comm[32];
          guint ppid;

          if (pid > 0 && read_stat (pid, comm, &ppid) && g_str_has_prefix (comm, name))
            return pid;
        }
    }
  return 0;
}

/* Whether @done (@data) within the usual time-out, asked every 20 ms: /proc changes
 * wake no main loop. */
static gboolean
poll_until (gboolean (*done) (gpointer data),
            gpointer   data)
{
  for (guint waited = 0; waited < CSB_TEST_TIMEOUT_MS; waited += 20)
    {
      if (done (data))
        return TRUE;
      csb_test_sleep_ms (20);
    }
  return done (data);
}

typedef struct
{
  guint       parent;
  const char *name;
  guint       found;
} ChildWait;

static gboolean
child_found (gpointer data)
{
  ChildWait *wait = data;

  return (wait->found = child_named (wait->parent, wait->name)) != 0;
}

/* The spare the service keeps now (it starts one a moment after each launch). */
static guint
wait_spare (Fixture *f)
{
  ChildWait wait = { csb_test_bus_service_pid (&f->bus), "csb-spare", 0 };

  g_assert_true (poll_until (child_found, &wait));
  return wait.found;
}

/* The network stack the spare @spare made ahead, once it runs. */
static guint
wait_stack (guint spare)
{
  ChildWait wait = { spare, STACK, 0 };

  return poll_until (child_found, &wait) ? wait.found : 0;
}

/* The bus names a sandbox sees through its proxy, from inside: the bus itself and its
 * own, nothing the talk list (portals) does not name — not the service. */
static const char bus_probe[] =
  "cat >/dev/null; gdbus call --session -d org.freedesktop.DBus -o /org/freedesktop/DBus "
  "-m org.freedesktop.DBus.ListNames";

/* The D-Bus proxy a spare started ahead (spare → the proxy's bwrap → xdg-dbus-proxy):
 * the bwrap's pid (0 if none within the time-out) and its command line's folder. */
static guint
wait_proxy (guint   spare,
            char  **out_cmdline)
{
  ChildWait wait = { spare, "bwrap", 0 };
  g_autofree char *path = NULL;
  g_autofree char *cmdline = NULL;
  gsize len;

  if (!poll_until (child_found, &wait))
    return 0;
  path = g_strdup_printf ("/proc/%u/cmdline", wait.found);
  g_assert_true (g_file_get_contents (path, &cmdline, &len, NULL));
  for (gsize i = 0; i + 1 < len; i++)
    if (cmdline[i] == '\0')
      cmdline[i] = ' ';
  *out_cmdline = g_steal_pointer (&cmdline);
  return wait.found;
}

static gboolean
gone (gpointer data)
{
  return !alive (GPOINTER_TO_UINT (data));
}

/* Whether @ancestor is the parent of @pid's parent (the monitor of the sandbox whose
 * first process is @pid: monitor → bwrap → the sandbox). */
static gboolean
monitor_of (guint ancestor,
            guint pid)
{
  char comm[32];
  guint bwrap, monitor;

  return read_stat (pid, comm, &bwrap) && read_stat (bwrap, comm, &monitor) &&
         monitor == ancestor;
}

static char *
run_sh (Fixture    *f,
        const char *script,
        const char *options)
{
  const char * const command[] = { "sh", "-c", script, NULL };

  return csb_test_run_command (&f->bus, f->project, command, g_variant_new_parsed (options), 0);
}

/* A launch after a launch with the network on is the spare's: its monitor is the spare,
 * the namespace is the one made ahead, with the stack's interface beside lo. */
static void
test_takes_next_launch (Fixture      *f,
                        gconstpointer data)
{
  const char * const command[] = { "sh", "-c", "cat; echo; sed -n '3,$p' /proc/net/dev | "
                                   "cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_auto(GStrv) names = NULL;
  guint spare, stack, pid;

  g_free (run_sh (f, "true", NETWORK_ON));
  spare = wait_spare (f);
  stack = wait_stack (spare);
  g_assert_cmpuint (stack, !=, 0);

  run = csb_test_launch (&f->bus, f->project, command, g_variant_new_parsed (NETWORK_ON), TRUE,
                         &error);
  g_assert_no_error (error);
  pid = csb_dbus_sandbox_get_pid (run->sandbox);
  g_assert_true (monitor_of (spare, pid));
  /* Where the service may make cgroups, the sandbox is in its own, which the spare's
   * bwrap process joined ahead: csb-<the sandbox's id>. */
  {
    g_autofree char *path = g_strdup_printf ("/proc/%u/cgroup", pid);
    g_autofree char *cgroups = NULL;
    g_autofree char *own = g_strdup_printf ("/csb-%s\n", strrchr (run->object_path, '/') + 1);

    g_assert_true (g_file_get_contents (path, &cgroups, NULL, NULL));
    g_test_message ("the sandbox's cgroups: %s", cgroups);
    if (strstr (cgroups, "/csb-") != NULL)
      g_assert_nonnull (strstr (cgroups, own));
  }
  /* The stack made ahead is the sandbox's now, and the spare is no spare any more. */
  g_assert_true (alive (stack));
  g_assert_cmpuint (child_named (spare, STACK), ==, stack);
  close (g_steal_fd (&run->stdin_fd));
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpint (run->exit_signal_status, ==, 0);
  names = g_strsplit (g_strstrip (run->out->str), " ", -1);
  g_assert_cmpuint (g_strv_length (names), ==, 2);
  g_assert_true (g_strv_contains ((const char * const *) names, "lo"));
  /* Both go with the sandbox. */
  g_assert_true (poll_until (gone, GUINT_TO_POINTER (stack)));
  g_assert_true (poll_until (gone, GUINT_TO_POINTER (spare)));
}

/* A spare whose network was made ahead, taken by a launch with the network off: the
 * sandbox has lo alone, and the stack made ahead is ended. */
static void
test_network_off_after_on (Fixture      *f,
                           gconstpointer data)
{
  g_autofree char *out = NULL;
  guint spare, stack;

  g_free (run_sh (f, "true", NETWORK_ON));
  spare = wait_spare (f);
  stack = wait_stack (spare);
  g_assert_cmpuint (stack, !=, 0);
  out = run_sh (f, net_probe, NETWORK_OFF);
  g_assert_cmpstr (g_strstrip (out), ==, "lo");
  g_assert_true (poll_until (gone, GUINT_TO_POINTER (stack)));
  g_assert_true (poll_until (gone, GUINT_TO_POINTER (spare)));
}

/* After a launch with the network off, the spare has none made ahead; the next launch
 * with the network on makes its own, and reaches the stack's interface. */
static void
test_network_on_after_off (Fixture      *f,
                           gconstpointer data)
{
  g_autofree char *out = NULL;
  g_auto(GStrv) names = NULL;
  guint spare;

  g_free (run_sh (f, "true", NETWORK_OFF));
  spare = wait_spare (f);
  csb_test_sleep_ms (300);
  g_assert_cmpuint (child_named (spare, STACK), ==, 0);
  out = run_sh (f, net_probe, NETWORK_ON);
  names = g_strsplit (g_strstrip (out), " ", -1);
  g_assert_cmpuint (g_strv_length (names), ==, 2);
  g_assert_true (g_strv_contains ((const char * const *) names, "lo"));
}

/* The spare (and the stack and proxy it made ahead) ends with the service: nothing is
 * left of a service that crashed but its sandboxes. */
static void
test_ends_with_service (Fixture      *f,
                        gconstpointer data)
{
  guint spare, stack;

  g_autofree char *cmdline = NULL;
  guint proxy;

  g_free (run_sh (f, "true", NETWORK_ON));
  spare = wait_spare (f);
  stack = wait_stack (spare);
  g_assert_cmpuint (stack, !=, 0);
  proxy = wait_proxy (spare, &cmdline);
  g_assert_cmpuint (proxy, !=, 0);
  csb_test_bus_crash_service (&f->bus);
  g_assert_true (poll_until (gone, GUINT_TO_POINTER (spare)));
  g_assert_true (poll_until (gone, GUINT_TO_POINTER (stack)));
  g_assert_true (poll_until (gone, GUINT_TO_POINTER (proxy)));
}

/* An unused spare with a network made ahead is dropped after its age (2 s here), with
 * its stack (the host's network may have changed since), and one without takes its
 * place. */
static void
test_expires (Fixture      *f,
              gconstpointer data)
{
  guint spare, stack, next;

  g_free (run_sh (f, "true", NETWORK_ON));
  spare = wait_spare (f);
  stack = wait_stack (spare);
  g_assert_cmpuint (stack, !=, 0);
  g_assert_true (poll_until (gone, GUINT_TO_POINTER (spare)));
  g_assert_true (poll_until (gone, GUINT_TO_POINTER (stack)));
  next = wait_spare (f);
  g_assert_cmpuint (next, !=, spare);
  csb_test_sleep_ms (3000);
  g_assert_true (alive (next));
  g_assert_cmpuint (child_named (next, STACK), ==, 0);
}

/* A spare killed from outside: the next launch starts a monitor of its own and runs. */
static void
test_killed_spare (Fixture      *f,
                   gconstpointer data)
{
  g_autofree char *out = NULL;
  guint spare;

  g_free (run_sh (f, "true", NETWORK_ON));
  spare = wait_spare (f);
  g_assert_cmpint (kill ((pid_t) spare, SIGKILL), ==, 0);
  out = run_sh (f, "echo ran", NETWORK_ON);
  g_assert_cmpstr (out, ==, "ran\n");
}

/* A launch with no spare and one from a spare start the command alike: no signal
 * ignored, none blocked (a spare comes from posix_spawn, which leaves glibc's internal
 * signals ignored; the monitor ignores SIGPIPE; the service may have inherited more). */
static void
test_signals (Fixture      *f,
              gconstpointer data)
{
  static const char probe[] = "grep -E '^Sig(Ign|Blk):' /proc/self/status | tr -s '\t\n' '  '";
  const char *expected = "SigBlk: 0000000000000000 SigIgn: 0000000000000000 ";
  g_autofree char *fresh = run_sh (f, probe, NETWORK_OFF);
  g_autofree char *spared = NULL;
  guint spare;

  g_assert_cmpstr (fresh, ==, expected);
  spare = wait_spare (f);
  spared = run_sh (f, probe, NETWORK_OFF);
  g_assert_true (poll_until (gone, GUINT_TO_POINTER (spare)));
  g_assert_cmpstr (spared, ==, expected);
}

/* Runs bus_probe in a launch with @options, holding it until @check has looked at
 * the sandbox (its id), then checks what it saw of the bus. */
static void
probe_bus (Fixture    *f,
           const char *options,
           void      (*check) (const char *id, gpointer data),
           gpointer    data)
{
  const char * const command[] = { "sh", "-c", bus_probe, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = csb_test_launch (&f->bus, f->project, command,
                                               g_variant_new_parsed (options), TRUE, &error);

  g_assert_no_error (error);
  check (strrchr (run->object_path, '/') + 1, data);
  close (g_steal_fd (&run->stdin_fd));
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_test_message ("inside: %s", run->out->str);
  g_assert_cmpint (run->exit_signal_status, ==, 0);
  g_assert_nonnull (strstr (run->out->str, "'org.freedesktop.DBus'"));
  g_assert_null (strstr (run->out->str, "org.example.ClaudeSandbox"));
}

typedef struct
{
  guint  proxy;
  char  *cmdline;
} ProxyAhead;

/* The proxy made ahead is this sandbox's: its folder in the sandbox's runtime folder,
 * and it runs. */
static void
check_proxy_taken (const char *id,
                   gpointer    data)
{
  ProxyAhead *ahead = data;
  g_autofree char *dir = g_strdup_printf ("/%s/dbus-ahead ", id);

  g_test_message ("the proxy made ahead: %s", ahead->cmdline);
  g_assert_nonnull (strstr (ahead->cmdline, dir));
  g_assert_true (alive (ahead->proxy));
}

/* After a launch with the network off: the proxy its spare made ahead. */
static void
proxy_after_network_off (Fixture    *f,
                         ProxyAhead *ahead)
{
  guint spare;

  g_free (run_sh (f, "true", NETWORK_OFF));
  spare = wait_spare (f);
  ahead->proxy = wait_proxy (spare, &ahead->cmdline);
  g_assert_cmpuint (ahead->proxy, !=, 0);
}

/* The spare starts the next sandbox's D-Bus proxy ahead, in its bwrap with the app
 * identity; a launch like the one before takes it, talks through it (filtered), and
 * it ends with the sandbox. */
static void
test_proxy_made_ahead (Fixture      *f,
                       gconstpointer data)
{
  ProxyAhead ahead = { 0, NULL };

  proxy_after_network_off (f, &ahead);
  g_assert_nonnull (strstr (ahead.cmdline, "/.flatpak-info"));
  probe_bus (f, NETWORK_OFF, check_proxy_taken, &ahead);
  g_assert_true (poll_until (gone, GUINT_TO_POINTER (ahead.proxy)));
  g_free (ahead.cmdline);
}

/* The one made ahead ends while the sandbox runs (its launch started its own). */
static void
check_proxy_fresh (const char *id,
                   gpointer    data)
{
  ProxyAhead *ahead = data;

  g_assert_true (poll_until (gone, GUINT_TO_POINTER (ahead->proxy)));
}

/* A proxy made ahead for a sandbox without the network (its /.flatpak-info says so)
 * is not taken by a launch with the network on: that launch starts its own, the one
 * made ahead ends, and the sandbox's bus works. */
static void
test_proxy_other_values (Fixture      *f,
                         gconstpointer data)
{
  ProxyAhead ahead = { 0, NULL };

  proxy_after_network_off (f, &ahead);
  probe_bus (f, NETWORK_ON, check_proxy_fresh, &ahead);
  g_free (ahead.cmdline);
}

int
main (int   argc,
      char *argv[])
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/sandbox/spare/takes-next-launch", test_takes_next_launch);
  ADD ("/sandbox/spare/network-off-after-on", test_network_off_after_on);
  ADD ("/sandbox/spare/network-on-after-off", test_network_on_after_off);
  ADD ("/sandbox/spare/ends-with-service", test_ends_with_service);
  ADD ("/sandbox/spare/killed", test_killed_spare);
  ADD ("/sandbox/spare/signals", test_signals);
  ADD ("/sandbox/spare/proxy-made-ahead", test_proxy_made_ahead);
  ADD ("/sandbox/spare/proxy-other-values", test_proxy_other_values);
  g_test_add ("/sandbox/spare/expires", Fixture, short_age_env, fixture_setup, test_expires,
              fixture_teardown);
#undef ADD

  return g_test_run ();
}
