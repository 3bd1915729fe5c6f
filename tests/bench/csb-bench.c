/* csb-bench.c — claude-sandbox against baselines measured in the same run, printed
 * as a table (medians; ratio = ours / baseline). Not a test: nothing is asserted.
 *
 *   launch      Launch("true") over D-Bus until Exited  vs  bare bwrap with the same
 *               arguments (csb_bwrap_build_args) + an xdg-dbus-proxy start; and vs
 *               firejail and sandbox-runtime (srt) launching `true` without network
 *               in the project folder, where installed
 *   cli         claude-sandbox --no-network -c DIR -- true  vs  the same bare bwrap
 *   io          write+fsync+read of files in the project folder, inside vs the host
 *   memory      the service's RSS idle and with N sandboxes (sleep), and how long its main
 *               loop keeps a client waiting while they launch
 *   metrics     the service's CPU while 20 sandboxes are watched (GetMetrics of each every
 *               3 s, as the app's Sandboxes page does) vs the same sandboxes unwatched
 *   proxy       connect latency and throughput through CsbNetProxy vs direct TCP
 *   net         Launch("true") with network on (own namespace + pasta) vs the old shared
 *               namespace (estimated from network off and bare bwrap with and without
 *               --share-net); claude-sandbox-init's cost; as root, TCP throughput from
 *               inside to a LAN host the benchmark makes vs the host to the same host
 *   vm          Launch("true") on the vm backend until it replies (the command runs) and
 *               until Exited  vs  qemu-system-x86_64 -kernel with the same kernel,
 *               initramfs, init, memory, CPUs and TCG until the init's first console
 *               output and until QEMU exits; and vm-io
 *   vm-io       the io script in a VM sandbox (the project over virtiofs) vs the host
 *   vm-display  Launch(weston-simple-shm) with display on until it replies (weston
 *               listens, the client runs) and until the first frame with the client's
 *               pixels reaches a SPICE client (spice-client-glib through OpenDisplay(),
 *               as the app connects)  vs  raw QEMU with the same display kernel and
 *               initramfs until the init's first console output (no libvirt, shares,
 *               weston or SPICE: what the rest costs shows as the difference)
 *   review      review mode (project-mode review, an overlay): Launch("true") vs direct
 *               mode, the io script vs the host, and GetChanges / ApplyChanges of 1,000
 *               new files vs cp -a of them on the host
 *
 * The VM rows only as an unprivileged user: root's qemu:///session is the system daemon.
 * CSB_BENCH_RUNS (default 15), CSB_BENCH_SANDBOXES (default 100), CSB_BENCH_VM_RUNS (7),
 * CSB_BENCH_ONLY (some of: launch, io, memory, metrics, proxy, review, net, vm, vm-launch,
 * vm-io, vm-display; cli comes with launch).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <locale.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <spice-client.h>

#include "csb-bwrap-backend.h"
#include "csb-initramfs.h"
#include "csb-vm-backend.h"
#include "csb-vm-domain.h"
#include "csb-dbus-proxy.h"
#include "csb-net-proxy.h"
#include "csb-test-utils.h"

static guint n_runs = 15;
static GString *table;

/* ---- statistics and the table ------------------------------------------------------ */

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median (GArray *values)
{
  if (values->len == 0)
    return 0;
  g_array_sort (values, cmp_double);
  if (values->len % 2)
    return g_array_index (values, double, values->len / 2);
  return (g_array_index (values, double, values->len / 2 - 1) +
          g_array_index (values, double, values->len / 2)) / 2;
}

static void
row (const char *what,
     double      ours,
     double      base,
     const char *unit,
     const char *baseline,
     guint       runs)
{
  g_autofree char *ratio = base > 0 ? g_strdup_printf ("%.2f×", ours / base) : g_strdup ("—");
  g_string_append_printf (table, "| %s | %.1f %s | %.1f %s | %s | %s | %u |\n", what, ours, unit,
                          base, unit, ratio, baseline, runs);
  g_print ("%-40s ours %10.1f %-5s base %10.1f %-5s ratio %s\n", what, ours, unit, base, unit,
           ratio);
}

/* A row of per-run ratios (each of ours against the baseline measured right after it),
 * their median: the machine's speed drifts over seconds, which the ratio of two medians
 * taken over a minute does not cancel. */
static void
row_paired (const char *what,
            GArray     *ratios,
            const char *baseline)
{
  double m = median (ratios);

  g_string_append_printf (table, "| %s | %.2f× | 1.00× | %.2f× | %s | %u |\n", what, m, m,
                          baseline, ratios->len);
  g_print ("%-40s paired ratio %.2f×\n", what, m);
}

static void
note (const char *text)
{
  g_string_append_printf (table, "| %s | — | — | — | — | — |\n", text);
  g_print ("%s\n", text);
}

/* A row of ms timings, or, when none of ours succeeded, a note saying so rather than
 * a 0 ms row. */
static void
row_ms (const char *what,
        GArray     *ours,
        double      base,
        const char *baseline,
        guint       runs)
{
  if (ours->len == 0)
    {
      g_autofree char *text = g_strdup_printf ("%s: not measured: no run of ours succeeded "
                                               "(see the log)", what);
      note (text);
    }
  else
    row (what, median (ours), base, "ms", baseline, runs);
}

static double
now_ms (void)
{
  return g_get_monotonic_time () / 1000.0;
}

/* ---- bare bwrap with our arguments ------------------------------------------------- */

/* utime + stime of @pid, and with @children, of its children it has reaped (and
 * theirs), in ms. */
static double
proc_cpu_ms (guint    pid,
             gboolean children)
{
  g_autofree char *path = g_strdup_printf ("/proc/%u/stat", pid);
  g_autofree char *text = NULL;
  g_auto(GStrv) fields = NULL;
  const char *end;
  double ticks;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (end = strrchr (text, ')')) == NULL)
    return 0;
  fields = g_strsplit (end + 2, " ", 18);
  if (g_strv_length (fields) < 15)
    return 0;
  ticks = g_ascii_strtod (fields[11], NULL) + g_ascii_strtod (fields[12], NULL);
  if (children)
    ticks += g_ascii_strtod (fields[13], NULL) + g_ascii_strtod (fields[14], NULL);
  return ticks * 1000.0 / sysconf (_SC_CLK_TCK);
}

/* The pids of @pid's children now (a set). */
static GHashTable *
child_pids (guint pid)
{
  g_autofree char *dir = g_strdup_printf ("/proc/%u/task", pid);
  g_autoptr(GDir) tasks = g_dir_open (dir, 0, NULL);
  GHashTable *pids = g_hash_table_new (NULL, NULL);
  const char *name;

  while (tasks != NULL && (name = g_dir_read_name (tasks)) != NULL)
    {
      g_autofree char *file = g_strdup_printf ("%s/%s/children", dir, name);
      g_autofree char *list = NULL;
      g_auto(GStrv) words = NULL;

      if (!g_file_get_contents (file, &list, NULL, NULL))
        continue;
      words = g_strsplit (g_strstrip (list), " ", -1);
      for (guint k = 0; words[k] != NULL; k++)
        if (atoi (words[k]) > 0)
          g_hash_table_add (pids, GINT_TO_POINTER (atoi (words[k])));
    }
  return pids;
}

/* @pid's name and state from /proc/PID/stat; FALSE if it is gone. */
static gboolean
proc_comm_state (guint  pid,
                 char   comm[32],
                 char  *state)
{
  g_autofree char *path = g_strdup_printf ("/proc/%u/stat", pid);
  g_autofree char *text = NULL;
  const char *open, *close;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (open = strchr (text, '(')) == NULL ||
      (close = strrchr (text, ')')) == NULL || close - open - 1 >= 32 || close[1] == '\0')
    return FALSE;
  memcpy (comm, open + 1, close - open - 1);
  comm[close - open - 1] = '\0';
  *state = close[2];
  return TRUE;
}

/* Whether @pid and all it started sleep (or are gone). */
static gboolean
asleep (guint pid)
{
  g_autoptr(GHashTable) pids = child_pids (pid);
  GHashTableIter iter;
  gpointer child;
  char comm[32], state;

  if (proc_comm_state (pid, comm, &state) && state != 'S' && state != 'Z')
    return FALSE;
  g_hash_table_iter_init (&iter, pids);
  while (g_hash_table_iter_next (&iter, &child, NULL))
    if (!asleep (GPOINTER_TO_UINT (child)))
      return FALSE;
  return TRUE;
}

/* Waits (up to 5 s) until @pid has had no children for 150 ms but the spare monitor it
 * keeps for the next launch (csb-monitor-spare.h), resting (its network made ahead up):
 * a sandbox's monitor and proxy are reaped, so their CPU time is in @pid's, no start of
 * ours runs beside the baseline, and the next launch finds the spare ready. */
static void
wait_no_children (guint pid)
{
  for (guint i = 0, rested = 0; i < 500; i++)
    {
      g_autoptr(GHashTable) pids = child_pids (pid);
      GHashTableIter iter;
      gpointer child;
      gboolean quiet = TRUE;

      g_hash_table_iter_init (&iter, pids);
      while (quiet && g_hash_table_iter_next (&iter, &child, NULL))
        {
          char comm[32], state;

          quiet = !proc_comm_state (GPOINTER_TO_UINT (child), comm, &state) ||
                  (g_str_equal (comm, "csb-spare") && asleep (GPOINTER_TO_UINT (child)));
        }
      /* For 150 ms on end: the service starts the next spare 100 ms after a launch
       * (REPLENISH_DELAY_MS), and a start between two of its steps sleeps too. */
      if (quiet && ++rested == 15)
        return;
      if (!quiet)
        rested = 0;
      g_usleep (10000);
    }
}

/* Ends the spare monitor @pid (the service) keeps, so that the next launch starts one
 * of its own: a launch as the first after a minute without any. */
static void
kill_spare (guint pid)
{
  g_autoptr(GHashTable) pids = child_pids (pid);
  GHashTableIter iter;
  gpointer child;

  g_hash_table_iter_init (&iter, pids);
  while (g_hash_table_iter_next (&iter, &child, NULL))
    {
      char comm[32], state;

      if (proc_comm_state (GPOINTER_TO_UINT (child), comm, &state) &&
          g_str_equal (comm, "csb-spare"))
        kill (GPOINTER_TO_INT (child), SIGKILL);
    }
}

/* We are a subreaper while the baseline runs: bare bwrap's sandbox outlives bwrap
 * by a moment, and would otherwise be reaped (and its CPU time counted) elsewhere.
 * Reaps every child of ours not in @keep (the test bus, …). */
static void
reap_orphans (GHashTable *keep)
{
  for (;;)
    {
      g_autoptr(GHashTable) pids = child_pids (getpid ());
      GHashTableIter iter;
      gpointer pid;
      gboolean any = FALSE;

      g_hash_table_iter_init (&iter, pids);
      while (g_hash_table_iter_next (&iter, &pid, NULL))
        if (!g_hash_table_contains (keep, pid))
          {
            waitpid (GPOINTER_TO_INT (pid), NULL, 0);
            any = TRUE;
          }
      if (!any)
        return;
    }
}

/* CPU ms of this process's children reaped so far (their children included). */
static double
children_cpu_ms (void)
{
  struct rusage ru;

  getrusage (RUSAGE_CHILDREN, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

static CsbSandboxSpec *
make_spec (CsbTestBus *bus,
           const char *project,
           guint       n)
{
  CsbSandboxSpec *spec = csb_sandbox_spec_new ();

  spec->id = g_strdup_printf ("bench%04u", n);
  spec->project_dir = g_strdup (project);
  spec->command = g_strsplit ("true", " ", -1);
  spec->options = csb_launch_options_new (NULL);
  spec->options->network = FALSE;
  spec->state_dir = g_build_filename (bus->dirs.state, "claude-sandbox", spec->id, NULL);
  spec->runtime_dir = g_build_filename (bus->dirs.runtime, "claude-sandbox", spec->id, NULL);
  g_mkdir_with_parents (spec->state_dir, 0700);
  g_mkdir_with_parents (spec->runtime_dir, 0700);
  spec->environ = g_get_environ ();
  return spec;
}

/* Runs bare bwrap with @spec's arguments, then @extra (NULL: none), and @command;
 * returns ms (or -1). Building the arguments is not timed. */
static double
bare_bwrap_extra (CsbSandboxSpec     *spec,
                  const char * const *extra,
                  const char * const *command,
                  char              **out_stdout)
{
  g_autoptr(GError) error = NULL;
  CsbArgv *args = csb_bwrap_build_args (spec, &error);
  g_autoptr(CsbArgv) outer = csb_argv_new ();
  g_autoptr(GBytes) data = NULL;
  const guint8 *bytes;
  gsize len;
  int memfd, target, out_pipe[2] = { -1, -1 }, status;
  GPid pid;
  double t0, t;

  if (args == NULL)
    {
      g_printerr ("csb_bwrap_build_args: %s\n", error->message);
      return -1;
    }
  data = csb_argv_to_nul_data (args);
  bytes = g_bytes_get_data (data, &len);
  memfd = memfd_create ("bench-args", MFD_CLOEXEC);
  g_assert (write (memfd, bytes, len) == (ssize_t) len);
  lseek (memfd, 0, SEEK_SET);
  csb_argv_append_fds_of (outer, args);
  csb_argv_free (args);
  target = csb_argv_take_fd (outer, memfd);
  csb_argv_add_args (outer, BWRAP, "--args", NULL);
  csb_argv_addf (outer, "%d", target);
  csb_argv_add_strv (outer, extra);
  csb_argv_add (outer, "--");
  csb_argv_add_strv (outer, command);
  if (out_stdout)
    g_assert (g_unix_open_pipe (out_pipe, FD_CLOEXEC, NULL));

  t0 = now_ms ();
  if (!g_spawn_async_with_pipes_and_fds (NULL, csb_argv_finish (outer), NULL,
                                         G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL |
                                         (out_stdout ? 0 : G_SPAWN_STDOUT_TO_DEV_NULL),
                                         NULL, NULL, -1, out_stdout ? out_pipe[1] : -1, -1,
                                         (const int *) outer->source_fds->data,
                                         (const int *) outer->target_fds->data,
                                         outer->source_fds->len, &pid, NULL, NULL, NULL, &error))
    {
      g_printerr ("bwrap: %s\n", error->message);
      return -1;
    }
  if (out_stdout)
    {
      GString *s = g_string_new (NULL);
      char buf[4096];
      ssize_t n;

      close (out_pipe[1]);
      while ((n = read (out_pipe[0], buf, sizeof buf)) > 0)
        g_string_append_len (s, buf, n);
      close (out_pipe[0]);
      *out_stdout = g_string_free (s, FALSE);
    }
  waitpid (pid, &status, 0);
  t = now_ms () - t0;
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      g_printerr ("bare bwrap exited with status %d\n", status);
      return -1;
    }
  return t;
}

static double
bare_bwrap (CsbSandboxSpec     *spec,
            const char * const *command,
            char              **out_stdout)
{
  return bare_bwrap_extra (spec, NULL, command, out_stdout);
}

/* ms until xdg-dbus-proxy listens (its ready byte): @wrapped as the service starts it
 * (in its bwrap with /.flatpak-info), else bare, as the baseline. */
static double
proxy_start (CsbTestBus *bus,
             guint       n,
             gboolean    wrapped)
{
  const char * const talk[] = { "org.freedesktop.portal.*", NULL };
  g_autofree char *socket_path = g_strdup_printf ("%s/bench-bus-%u", bus->dirs.runtime, n);
  const char *address = g_test_dbus_get_bus_address (bus->bus);
  g_autoptr(GError) error = NULL;
  GPid pid;
  int sync_fd;
  double t0 = now_ms (), t;

  if (wrapped)
    {
      if (!csb_dbus_proxy_start (address, socket_path, talk, "bench", FALSE, &pid, &sync_fd,
                                 &error))
        {
          g_printerr ("xdg-dbus-proxy: %s\n", error->message);
          return -1;
        }
    }
  else
    {
      g_autofree char *fd_arg = NULL;
      int pipe_fds[2];
      char byte;

      g_assert_true (g_unix_open_pipe (pipe_fds, FD_CLOEXEC, NULL));
      fd_arg = g_strdup_printf ("--fd=%d", 3);
      if (!g_spawn_async_with_pipes_and_fds (NULL,
                                             (const char * const[]) { DBUS_PROXY, fd_arg,
                                                                      address, socket_path,
                                                                      "--filter",
                                                                      "--talk=org.freedesktop.portal.*",
                                                                      NULL },
                                             (const char * const[]) { NULL },
                                             G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, -1, -1, -1,
                                             (const int[]) { pipe_fds[1] }, (const int[]) { 3 },
                                             1, &pid, NULL, NULL, NULL, &error))
        {
          g_printerr ("xdg-dbus-proxy: %s\n", error->message);
          return -1;
        }
      close (pipe_fds[1]);
      sync_fd = pipe_fds[0];
      if (read (sync_fd, &byte, 1) != 1)
        {
          g_printerr ("xdg-dbus-proxy did not start\n");
          close (sync_fd);
          waitpid (pid, NULL, 0);
          return -1;
        }
    }
  t = now_ms () - t0;
  close (sync_fd);     /* the proxy exits */
  waitpid (pid, NULL, 0);
  unlink (socket_path);
  return t;
}

/* ---- our sandboxes --------------------------------------------------------------- */

/* Launch options (GVariant text) of the bwrap and the vm backend: no network, as the
 * baselines have none. */
#define BWRAP_OPTIONS "{'network': <false>}"
#define VM_OPTIONS "{'backend': <'vm'>, 'network': <false>}"
/* A TCG boot takes seconds; a slow one on a busy machine, a minute. */
#define VM_TIMEOUT_MS 120000

static const char * const true_cmd[] = { "true", NULL };

/* Launch(@command) with @options and stdio pipes until Exited; returns ms (or -1). */
/* ms from Launch to Exited (and pipes closed), or -1; with @out_running, the ms until
 * Launch replied, which it does once the command runs. */
static double
launch_and_wait_full (CsbTestBus         *bus,
                      const char         *project,
                      const char         *options,
                      guint               timeout_ms,
                      const char * const *command,
                      char              **out_stdout,
                      double             *out_running)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GVariant) parsed = g_variant_ref_sink (g_variant_new_parsed (options));
  double t0 = now_ms (), t;

  run = csb_test_launch (bus, project, command, g_variant_ref (parsed), FALSE, &error);
  if (run == NULL)
    {
      g_printerr ("Launch (%s): %s\n", options, error->message);
      return -1;
    }
  if (out_running != NULL)
    *out_running = now_ms () - t0;
  if (!csb_test_run_wait (run, timeout_ms) || run->exit_signal_status != 0)
    {
      g_printerr ("sandbox (%s) did not exit cleanly (status %d): %s%s\n", options,
                  run->exit_signal_status, run->out->str, run->err->str);
      return -1;
    }
  t = now_ms () - t0;
  if (out_stdout)
    *out_stdout = g_strdup (run->out->str);
  csb_dbus_sandbox_call_remove_sync (run->sandbox, NULL, NULL);
  return t;
}

static double
launch_and_wait (CsbTestBus         *bus,
                 const char         *project,
                 const char         *options,
                 guint               timeout_ms,
                 const char * const *command,
                 char              **out_stdout)
{
  return launch_and_wait_full (bus, project, options, timeout_ms, command, out_stdout, NULL);
}

/* ---- other sandboxes: firejail, sandbox-runtime ------------------------------------ */

/* Runs @argv (looked up in PATH) in @cwd with @envp (NULL: ours), stdin and stdout on
 * /dev/null; returns ms, or -1 if it did not start or exit 0, and then, with
 * @out_failure, why: its stderr on one line, or GLib's message. */
static double
spawn_timed (const char * const *argv,
             const char         *cwd,
             char              **envp,
             char              **out_failure)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int status;
  double t0 = now_ms ();

  if (g_spawn_sync (cwd, (char **) argv, envp, G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL |
                    G_SPAWN_STDOUT_TO_DEV_NULL | (out_failure ? 0 : G_SPAWN_STDERR_TO_DEV_NULL),
                    NULL, NULL, NULL, out_failure ? &err : NULL, &status, &error) &&
      g_spawn_check_wait_status (status, &error))
    return now_ms () - t0;
  if (out_failure != NULL)
    {
      /* One line, and no '|' to break the table's row. */
      if (err != NULL && *g_strstrip (err) != '\0')
        *out_failure = g_strdelimit (g_steal_pointer (&err), "\n|", ' ');
      else
        *out_failure = g_strdup (error->message);
    }
  return -1;
}

/* Another sandbox tool launching `true` as comparably to ours as it allows: no network,
 * the project folder visible and writable, run in it. */
typedef struct
{
  const char *name;        /* for the row */
  GStrv       argv;        /* the tool and its options, up to and with "--" */
  char       *config;      /* the "baseline is" column: version and configuration */
  char       *failure;     /* why it is not measured, or NULL */
  GArray     *times;
} Other;

/* The last word of `@program --version`'s first line ("firejail version 0.9.72",
 * "0.0.78"). */
static char *
tool_version (const char *program)
{
  const char *argv[] = { program, "--version", NULL };
  g_autofree char *out = NULL;
  const char *word;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &out, NULL, NULL, NULL) || out == NULL)
    return g_strdup ("?");
  out[strcspn (out, "\n")] = '\0';
  word = strrchr (out, ' ');
  return g_strdup (word ? word + 1 : out);
}

/* @other's tool and options, then @command: a vector borrowing their strings. */
static GPtrArray *
other_argv (Other              *other,
            const char * const *command)
{
  GPtrArray *argv = g_ptr_array_new ();

  for (guint i = 0; other->argv[i] != NULL; i++)
    g_ptr_array_add (argv, other->argv[i]);
  for (guint i = 0; command[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) command[i]);
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* Sets @other up to run @program with @options (NULL-terminated), described by
 * @config after its version, or says why it cannot: not installed, or its first run —
 * which also checks that the project is writable in it, and warms its caches — failed. */
static void
other_init (Other              *other,
            const char         *name,
            const char         *program,
            const char * const *options,
            const char         *config,
            const char         *install,
            const char         *project)
{
  const char * const probe[] = { "sh", "-c",
                                 "touch \"$1/.csb-bench-probe\" && rm \"$1/.csb-bench-probe\"",
                                 "sh", project, NULL };
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GPtrArray) check = NULL;
  g_autofree char *failure = NULL;
  g_autofree char *found = g_find_program_in_path (program);
  g_autofree char *version = NULL;

  other->name = name;
  other->times = g_array_new (FALSE, FALSE, sizeof (double));
  if (found == NULL)
    {
      other->failure = g_strdup_printf ("not installed, not measured (%s)", install);
      return;
    }
  g_strv_builder_add (builder, program);
  g_strv_builder_addv (builder, (const char **) options);
  g_strv_builder_add (builder, "--");
  other->argv = g_strv_builder_end (builder);
  check = other_argv (other, probe);
  if (spawn_timed ((const char * const *) check->pdata, project, NULL, &failure) < 0)
    {
      other->failure = g_strdup_printf ("cannot run here, not measured: %s", failure);
      return;
    }
  version = tool_version (program);
  other->config = g_strdup_printf ("%s %s, %s", program, version, config);
}

static double
other_launch_true (Other      *other,
                   const char *project)
{
  g_autoptr(GPtrArray) argv = other_argv (other, true_cmd);

  return spawn_timed ((const char * const *) argv->pdata, project, NULL, NULL);
}

static void
other_row (Other  *other,
           GArray *ours)
{
  g_autofree char *what = g_strdup_printf ("Launch → `true` exited, vs %s", other->name);

  if (other->failure != NULL)
    {
      g_autofree char *text = g_strdup_printf ("%s: %s", other->name, other->failure);
      note (text);
    }
  else
    row (what, median (ours), median (other->times), "ms", other->config,
         MIN (ours->len, other->times->len));
}

static void
other_clear (Other *other)
{
  g_clear_pointer (&other->argv, g_strfreev);
  g_clear_pointer (&other->times, g_array_unref);
  g_clear_pointer (&other->config, g_free);
  g_clear_pointer (&other->failure, g_free);
}

static void
firejail_init (Other      *other,
               const char *project)
{
  /* Named, since firejail picks server.profile for root (a private /tmp, where the
   * project is) and default.profile for a user's program it has no profile for. */
  const char * const options[] = { "--quiet", "--profile=default", "--net=none", NULL };

  other_init (other, "firejail", "firejail", options,
              "`firejail --profile=default --net=none true`: its default profile (seccomp, "
              "capabilities dropped, no new privileges, secrets hidden), an empty network "
              "namespace; the project folder writable",
              "apt-get install firejail", project);
}

static void
srt_init (Other      *other,
          const char *project,
          const char *dir)
{
  /* No domain allowed: the only way out of its network namespace is its proxy, which
   * then refuses everything. Writable: the project (srt runs in it), as ours. */
  static const char settings[] =
    "{\"network\": {\"allowedDomains\": [], \"deniedDomains\": []},\n"
    " \"filesystem\": {\"denyRead\": [], \"allowWrite\": [\".\"], \"denyWrite\": []}}\n";
  g_autofree char *path = g_build_filename (dir, "srt-settings.json", NULL);
  g_autofree char *settings_arg = g_strconcat ("--settings=", path, NULL);
  const char * const options[] = { settings_arg, NULL };

  g_assert (g_file_set_contents (path, settings, -1, NULL));
  other_init (other, "sandbox-runtime (srt)", "srt", options,
              "`srt --settings=F true`: no domain allowed (its own network namespace, its "
              "proxy and socat bridge started and refusing all), writes only to the project "
              "folder, reads unrestricted (its default); includes Node's start",
              "npm install -g @anthropic-ai/sandbox-runtime; apt-get install socat ripgrep",
              project);
}

/* ---- launch -------------------------------------------------------------------- */

static void
bench_launch (CsbTestBus *bus,
              const char *project)
{
  g_autoptr(GArray) ours = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) bare = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) proxy = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) wrapped = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) cli = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) cold = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) paired = g_array_new (FALSE, FALSE, sizeof (double));
  const char *cli_path = g_getenv ("CSB_TEST_CLI");
  const char *cli_argv[] = { cli_path, "--no-network", "-c", project, "--", "true", NULL };
  gboolean has_cli = cli_path != NULL && g_file_test (cli_path, G_FILE_TEST_IS_EXECUTABLE);
  g_autofree char *address = g_strdup (g_test_dbus_get_bus_address (bus->bus));
  g_auto(GStrv) cli_env = g_environ_setenv (g_get_environ (), "DBUS_SESSION_BUS_ADDRESS",
                                            address, TRUE);
  Other others[2] = { { 0 } };
  double m_bare, m_proxy, cpu_ours = 0, cpu_base = 0;
  g_autoptr(GHashTable) keep = NULL;

  firejail_init (&others[0], project);
  srt_init (&others[1], project, bus->dirs.root);
  /* Warm-up: the first launch copies files and fills caches. */
  launch_and_wait (bus, project, BWRAP_OPTIONS, CSB_TEST_TIMEOUT_MS, true_cmd, NULL);
  wait_no_children (bus->service_pid);
  keep = child_pids (getpid ());
  prctl (PR_SET_CHILD_SUBREAPER, 1);
  for (guint i = 0; i < n_runs; i++)
    {
      g_autoptr(CsbSandboxSpec) spec = make_spec (bus, project, i);
      double t, t_ours, t_bare, c0 = proc_cpu_ms (bus->service_pid, TRUE);

      /* Interleaved, so a busy moment of the machine hits all sides. */
      if ((t_ours = t = launch_and_wait (bus, project, BWRAP_OPTIONS, CSB_TEST_TIMEOUT_MS,
                                         true_cmd, NULL)) > 0)
        g_array_append_val (ours, t);
      wait_no_children (bus->service_pid);
      cpu_ours += proc_cpu_ms (bus->service_pid, TRUE) - c0;
      reap_orphans (keep);
      c0 = children_cpu_ms ();
      if ((t_bare = t = bare_bwrap (spec, true_cmd, NULL)) > 0)
        g_array_append_val (bare, t);
      if ((t = proxy_start (bus, i, FALSE)) > 0)
        g_array_append_val (proxy, t);
      if (t_ours > 0 && t_bare > 0 && t > 0)
        {
          double ratio = t_ours / (t_bare + t);

          g_array_append_val (paired, ratio);
        }
      reap_orphans (keep);
      cpu_base += children_cpu_ms () - c0;
      if ((t = proxy_start (bus, i, TRUE)) > 0)
        g_array_append_val (wrapped, t);
      if (has_cli && (t = spawn_timed (cli_argv, NULL, cli_env, NULL)) > 0)
        g_array_append_val (cli, t);
      for (guint k = 0; k < G_N_ELEMENTS (others); k++)
        if (others[k].failure == NULL && (t = other_launch_true (&others[k], project)) > 0)
          g_array_append_val (others[k].times, t);
      /* The same launch with no spare monitor ready: as the first after a minute. */
      wait_no_children (bus->service_pid);
      kill_spare (bus->service_pid);
      wait_no_children (bus->service_pid);
      if ((t = launch_and_wait (bus, project, BWRAP_OPTIONS, CSB_TEST_TIMEOUT_MS, true_cmd,
                                NULL)) > 0)
        g_array_append_val (cold, t);
      wait_no_children (bus->service_pid);
      reap_orphans (keep);
    }
  prctl (PR_SET_CHILD_SUBREAPER, 0);
  reap_orphans (keep);
  m_bare = median (bare);
  m_proxy = median (proxy);
  row ("Launch → `true` exited (bwrap backend)", median (ours), m_bare + m_proxy, "ms",
       "bare bwrap, same args, + xdg-dbus-proxy start", ours->len);
  row_paired ("  the same, paired: the median of each run's ratio", paired,
              "bare bwrap + xdg-dbus-proxy start, measured right after each launch");
  row ("  the same with no spare monitor ready (the first launch after a minute)",
       median (cold), m_bare + m_proxy, "ms", "bare bwrap, same args, + xdg-dbus-proxy start",
       cold->len);
  row ("  its CPU time (user + system: service, monitor, proxy, bwrap, init, `true`)",
       cpu_ours / n_runs, cpu_base / n_runs, "ms",
       "the baseline's: bare bwrap and xdg-dbus-proxy (means; the clock's ticks are 10 ms, "
       "so only their sum over the runs is exact)", n_runs);
  row ("  bare bwrap alone", m_bare, m_bare, "ms", "(for reference)", bare->len);
  row ("  xdg-dbus-proxy start alone", m_proxy, m_proxy, "ms", "(for reference)", proxy->len);
  row ("  xdg-dbus-proxy start in its bwrap, with /.flatpak-info", median (wrapped), m_proxy,
       "ms", "xdg-dbus-proxy start alone (it overlaps the sandbox's set-up)", wrapped->len);
  for (guint k = 0; k < G_N_ELEMENTS (others); k++)
    {
      other_row (&others[k], ours);
      other_clear (&others[k]);
    }
  if (cli->len > 0)
    row ("CLI `claude-sandbox --no-network -c DIR -- true`", median (cli), m_bare, "ms",
         "bare bwrap, same args", cli->len);
  else
    note ("CLI: claude-sandbox not built (CSB_TEST_CLI)");
}

/* ---- project folder I/O -------------------------------------------------------- */

/* 64 files of 256 KiB (16 MiB): write + fsync each, read all back, delete; the time is
 * taken inside, so the launch (or a VM's boot) is not counted. Prints µs. */
#define IO_WHAT "64 × 256 KiB write+fsync, read"
static const char io_script[] =
  "set -e; cd \"$1\"; s=$(date +%s%N); i=0; while [ $i -lt 64 ]; do "
  "dd if=/dev/zero of=bench-io-$i bs=256k count=1 conv=fsync status=none; i=$((i+1)); done; "
  "cat bench-io-* > /dev/null; rm -f bench-io-*; e=$(date +%s%N); echo $(( (e - s) / 1000 ))";

/* The script's time in ms from its output: the last line, since a VM's console may
 * carry other lines before it. */
static double
io_ms (const char *out)
{
  const char *last;
  g_autofree char *text = g_strdup (out);

  g_strstrip (text);
  last = strrchr (text, '\n');
  return g_ascii_strtod (last ? last + 1 : text, NULL) / 1000.0;
}

/* @runs of io_script in a sandbox launched with @options on @project, in its @dir
 * (NULL: the project), interleaved with the host in the project. */
static void
bench_file_io (CsbTestBus *bus,
               const char *project,
               const char *options,
               guint       timeout_ms,
               guint       runs,
               const char *dir,
               const char *what)
{
  g_autoptr(GArray) inside = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) host = g_array_new (FALSE, FALSE, sizeof (double));
  const char * const cmd[] = { "sh", "-c", io_script, "sh", project, NULL };
  const char * const cmd_inside[] = { "sh", "-c", io_script, "sh", dir ? dir : project, NULL };

  for (guint i = 0; i < runs; i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *host_out = NULL;
      double t;

      if (launch_and_wait (bus, project, options, timeout_ms, cmd_inside, &out) > 0)
        {
          if ((t = io_ms (out)) > 0)
            g_array_append_val (inside, t);
          else
            g_printerr ("%s: no time in the sandbox's output: %s\n", what, out);
        }
      if (g_spawn_sync (NULL, (char **) cmd, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &host_out,
                        NULL, NULL, NULL) && (t = io_ms (host_out)) > 0)
        g_array_append_val (host, t);
    }
  row_ms (what, inside, median (host), "the same on the host", inside->len);
}

/* ---- review mode ---------------------------------------------------------------- */

#define REVIEW_OPTIONS "{'network': <false>, 'project-mode': <'review'>}"
#define REVIEW_FILES 1000
static const char review_files_script[] =
  "set -e; mkdir -p src; i=0; while [ $i -lt 1000 ]; do "
  "echo \"line $i of a file the agent wrote\" > src/f$i.txt; i=$((i+1)); done";

static void
bench_review (CsbTestBus *bus,
              const char *project)
{
  g_autoptr(GArray) review = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) direct = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) list = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) apply = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) copy = g_array_new (FALSE, FALSE, sizeof (double));
  const char * const files_cmd[] = { "sh", "-c", review_files_script, NULL };
  guint file_runs = MIN (n_runs, 5);

  launch_and_wait (bus, project, REVIEW_OPTIONS, CSB_TEST_TIMEOUT_MS, true_cmd, NULL);
  for (guint i = 0; i < n_runs; i++)
    {
      double t;

      if ((t = launch_and_wait (bus, project, REVIEW_OPTIONS, CSB_TEST_TIMEOUT_MS, true_cmd,
                                NULL)) > 0)
        g_array_append_val (review, t);
      if ((t = launch_and_wait (bus, project, BWRAP_OPTIONS, CSB_TEST_TIMEOUT_MS, true_cmd,
                                NULL)) > 0)
        g_array_append_val (direct, t);
    }
  row_ms ("Launch → `true` exited, review mode (overlay mounted)", review, median (direct),
          "the same in direct mode", review->len);
  bench_file_io (bus, project, REVIEW_OPTIONS, CSB_TEST_TIMEOUT_MS, n_runs, NULL,
                 "Project folder I/O, review mode (overlay): " IO_WHAT);

  for (guint i = 0; i < file_runs; i++)
    {
      g_autofree char *name = g_strdup_printf ("review-files-%u", i);
      g_autofree char *fresh = csb_test_make_project (&bus->dirs, name);
      g_autofree char *copy_name = g_strdup_printf ("review-copy-%u", i);
      g_autofree char *copy_dir = csb_test_make_project (&bus->dirs, copy_name);
      g_autofree char *upper_src = NULL;
      g_autoptr(GVariant) parsed = g_variant_ref_sink (g_variant_new_parsed (REVIEW_OPTIONS));
      g_autoptr(CsbTestRun) run = NULL;
      g_autoptr(GVariant) changes = NULL;
      g_autoptr(GError) error = NULL;
      const char * const none[] = { NULL };
      double t0;

      run = csb_test_launch (bus, fresh, files_cmd, g_variant_ref (parsed), FALSE, &error);
      if (run == NULL || !csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS) ||
          run->exit_signal_status != 0)
        {
          g_printerr ("review files: %s\n", error ? error->message : run->err->str);
          continue;
        }
      t0 = now_ms ();
      if (!csb_dbus_sandbox_call_get_changes_sync (run->sandbox, &changes, NULL, &error) ||
          g_variant_n_children (changes) != REVIEW_FILES + 1)
        {
          g_printerr ("GetChanges: %s\n", error ? error->message : "not 1,001 changes");
          continue;
        }
      {
        double t = now_ms () - t0;
        g_array_append_val (list, t);
      }
      t0 = now_ms ();
      if (!csb_dbus_sandbox_call_apply_changes_sync (run->sandbox, none, NULL, &error))
        {
          g_printerr ("ApplyChanges: %s\n", error->message);
          continue;
        }
      {
        double t = now_ms () - t0;
        g_array_append_val (apply, t);
      }
      csb_dbus_sandbox_call_remove_sync (run->sandbox, NULL, NULL);
      /* The baseline: the same files copied on the host, by cp -a. */
      upper_src = g_build_filename (fresh, "src", NULL);
      {
        const char * const cp[] = { "cp", "-a", upper_src, copy_dir, NULL };
        double t = spawn_timed (cp, NULL, NULL, NULL);

        if (t > 0)
          g_array_append_val (copy, t);
      }
    }
  row_ms ("Review mode: GetChanges of 1,000 new files", list, median (copy),
          "cp -a of the same files on the host", list->len);
  row_ms ("Review mode: ApplyChanges of 1,000 new files", apply, median (copy),
          "cp -a of the same files on the host", apply->len);
}

/* ---- memory -------------------------------------------------------------------- */

static guint
rss_kib (guint pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%u/status", pid);
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents (path, &status, NULL, NULL) ||
      (line = strstr (status, "VmRSS:")) == NULL)
    return 0;
  return (guint) g_ascii_strtoull (line + 6, NULL, 10);
}

typedef struct { guint done, failed; GPtrArray *paths; } Many;

static void
on_many_launched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Many *many = user_data;
  g_autofree char *path = NULL;

  if (csb_dbus_manager_call_launch_finish (CSB_DBUS_MANAGER (source), &path, NULL, result, NULL))
    g_ptr_array_add (many->paths, g_steal_pointer (&path));
  else
    many->failed++;
  many->done++;
}

static guint many_target;
static gboolean
many_done (gpointer data)
{
  return ((Many *) data)->done == many_target;
}

/* Launches @n sandboxes running @cmd on @project (no network, stdio /dev/null) at
 * once, and waits until every launch has answered. */
static void
launch_many (CsbTestBus         *bus,
             const char         *project,
             const char * const *cmd,
             guint               n,
             Many               *many)
{
  many_target = n;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
      int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);

      g_unix_fd_list_append (fds, devnull, NULL);
      close (devnull);
      csb_dbus_manager_call_launch (bus->manager, project, cmd,
                                    g_variant_new_parsed ("{'network': <false>, 'stdio': <{uint32 0: handle 0, 1: handle 0, 2: handle 0}>}"),
                                    fds, NULL, on_many_launched, many);
    }
}

static void
stop_and_remove_many (CsbTestBus *bus,
                      Many       *many)
{
  for (guint i = 0; i < many->paths->len; i++)
    {
      g_autoptr(CsbDBusSandbox) sandbox = csb_test_bus_get_sandbox (bus, many->paths->pdata[i]);
      csb_dbus_sandbox_call_stop_sync (sandbox, NULL, NULL);
    }
  csb_test_sleep_ms (12000);   /* stop-timeout (10 s) for anything that ignores SIGTERM */
  for (guint i = 0; i < many->paths->len; i++)
    {
      g_autoptr(CsbDBusSandbox) sandbox = csb_test_bus_get_sandbox (bus, many->paths->pdata[i]);
      csb_dbus_sandbox_call_remove_sync (sandbox, NULL, NULL);
    }
}

/* Get(Version) is answered from the service's main loop: its round trip is how long
 * the loop keeps a client waiting. */
static double
version_round_trip_ms (CsbTestBus *bus)
{
  g_autoptr(GVariant) reply = NULL;
  double start = now_ms ();

  reply = g_dbus_connection_call_sync (bus->connection, CSB_BUS_NAME,
                                       CSB_MANAGER_PATH,
                                       "org.freedesktop.DBus.Properties", "Get",
                                       g_variant_new ("(ss)", CSB_MANAGER_INTERFACE,
                                                      "Version"),
                                       NULL, G_DBUS_CALL_FLAGS_NONE, 60000, NULL, NULL);
  return reply != NULL ? now_ms () - start : -1;
}

typedef struct { CsbTestBus *bus; GArray *ms; } Pings;

static gboolean
on_ping_timer (gpointer user_data)
{
  Pings *pings = user_data;
  double ms = version_round_trip_ms (pings->bus);

  if (ms >= 0)
    g_array_append_val (pings->ms, ms);
  return G_SOURCE_CONTINUE;
}

static void
bench_memory (CsbTestBus *bus,
              const char *project,
              guint       idle_rss,
              guint       loaded_rss)
{
  const char *env_n = g_getenv ("CSB_BENCH_SANDBOXES");
  guint n = env_n ? atoi (env_n) : 100;
  const char * const cmd[] = { "sleep", "600", NULL };
  Many many = { 0, 0, g_ptr_array_new_with_free_func (g_free) };
  g_autoptr(GArray) idle_ms = g_array_new (FALSE, FALSE, sizeof (double));
  Pings pings = { bus, g_array_new (FALSE, FALSE, sizeof (double)) };
  guint peak, after, ping_timer;
  double slowest = 0;

  for (guint i = 0; i < n_runs; i++)
    {
      double ms = version_round_trip_ms (bus);

      if (ms >= 0)
        g_array_append_val (idle_ms, ms);
    }
  launch_many (bus, project, cmd, n, &many);
  ping_timer = g_timeout_add (200, on_ping_timer, &pings);
  csb_test_run_until (many_done, &many, 300000);
  g_source_remove (ping_timer);
  on_ping_timer (&pings);
  for (guint i = 0; i < pings.ms->len; i++)
    slowest = MAX (slowest, g_array_index (pings.ms, double, i));
  csb_test_sleep_ms (500);
  peak = rss_kib (bus->service_pid);
  stop_and_remove_many (bus, &many);
  csb_test_sleep_ms (1000);
  after = rss_kib (bus->service_pid);
  row ("Service RSS, idle", idle_rss / 1024.0, 10, "MiB", "target: 10 MiB", 1);
  row ("Service RSS, idle, vm/container backends loaded (after GetBackends)",
       loaded_rss / 1024.0, idle_rss / 1024.0, "MiB", "idle", 1);
  {
    g_autofree char *what = g_strdup_printf ("Service RSS with %u sandboxes (%u failed)",
                                             many.paths->len, many.failed);
    row (what, peak / 1024.0, loaded_rss / 1024.0, "MiB", "idle, backends loaded", 1);
  }
  row ("Service RSS after they stopped and were removed", after / 1024.0, loaded_rss / 1024.0,
       "MiB", "idle, backends loaded", 1);
  {
    /* Was a pass/fail bound in the load test; on a busy machine it is a figure. */
    g_autofree char *what = g_strdup_printf ("Service answers while %u sandboxes launch at "
                                             "once: slowest Get(Version)", n);
    g_autofree char *baseline = g_strdup_printf ("Get(Version) idle (median of %u)",
                                                 idle_ms->len);

    row (what, slowest, median (idle_ms), "ms", baseline, pings.ms->len);
  }
  g_array_unref (pings.ms);
  g_ptr_array_unref (many.paths);
}

/* ---- metrics ------------------------------------------------------------------- */

typedef struct { CsbTestBus *bus; Many *many; GArray *ms; guint pending; } Watch;

static void
on_watched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Watch *watch = user_data;
  g_autoptr(GVariant) metrics = NULL;

  csb_dbus_sandbox_call_get_metrics_finish (CSB_DBUS_SANDBOX (source), &metrics, result, NULL);
  watch->pending--;
}

/* What the app does while its Sandboxes page shows them: GetMetrics of each, every 3 s. */
static gboolean
on_watch_tick (gpointer user_data)
{
  Watch *watch = user_data;

  for (guint i = 0; i < watch->many->paths->len; i++)
    {
      g_autoptr(CsbDBusSandbox) sandbox = csb_test_bus_get_sandbox (watch->bus,
                                                                    watch->many->paths->pdata[i]);
      double t0 = now_ms ();
      g_autoptr(GVariant) metrics = NULL;

      /* One timed synchronously, the rest as the app sends them (at once). */
      if (i == 0)
        {
          if (csb_dbus_sandbox_call_get_metrics_sync (sandbox, &metrics, NULL, NULL))
            {
              double ms = now_ms () - t0;
              g_array_append_val (watch->ms, ms);
            }
          continue;
        }
      watch->pending++;
      csb_dbus_sandbox_call_get_metrics (sandbox, NULL, on_watched, watch);
    }
  return G_SOURCE_CONTINUE;
}

static void
bench_metrics (CsbTestBus *bus,
               const char *project)
{
  const char * const cmd[] = { "sleep", "600", NULL };
  Many many = { 0, 0, g_ptr_array_new_with_free_func (g_free) };
  Watch watch = { bus, &many, g_array_new (FALSE, FALSE, sizeof (double)), 0 };
  const guint n = 20, seconds = 30;
  double t0, cpu0, idle_ms_per_s, watched_ms_per_s;
  guint timer;

  launch_many (bus, project, cmd, n, &many);
  csb_test_run_until (many_done, &many, 300000);
  csb_test_sleep_ms (2000);
  /* The same service with the same sandboxes, nobody watching. */
  t0 = now_ms ();
  cpu0 = proc_cpu_ms (bus->service_pid, FALSE);
  csb_test_sleep_ms (seconds * 1000);
  idle_ms_per_s = (proc_cpu_ms (bus->service_pid, FALSE) - cpu0) / ((now_ms () - t0) / 1000.0);
  timer = g_timeout_add_seconds (3, on_watch_tick, &watch);
  t0 = now_ms ();
  cpu0 = proc_cpu_ms (bus->service_pid, FALSE);
  csb_test_sleep_ms (seconds * 1000);
  g_source_remove (timer);
  watched_ms_per_s = (proc_cpu_ms (bus->service_pid, FALSE) - cpu0) / ((now_ms () - t0) / 1000.0);
  while (watch.pending > 0)
    g_main_context_iteration (NULL, TRUE);
  {
    g_autofree char *what = g_strdup_printf ("Service CPU while %u sandboxes are watched "
                                             "(GetMetrics of each every 3 s, as the app), "
                                             "ms per s (%u failed launches)", many.paths->len,
                                             many.failed);

    row (what, watched_ms_per_s, idle_ms_per_s, "ms/s", "the same, nobody watching", 1);
  }
  row ("GetMetrics round trip of a running sandbox (no sessions)", median (watch.ms), 0, "ms",
       "-", watch.ms->len);
  stop_and_remove_many (bus, &many);
  g_array_unref (watch.ms);
  g_ptr_array_unref (many.paths);
}

/* ---- the network filter -------------------------------------------------------- */

#define PAYLOAD (64 * 1024 * 1024)

static int upstream_fd;
static guint16 upstream_port;

/* Accepts forever: reads one byte, then sends the byte 'x' or PAYLOAD bytes ('T'). */
static gpointer
upstream_thread (gpointer data)
{
  static char block[65536];

  memset (block, 'z', sizeof block);
  for (;;)
    {
      int fd = accept (upstream_fd, NULL, NULL);
      char c;

      if (fd < 0)
        return NULL;
      if (read (fd, &c, 1) == 1)
        {
          if (c == 'T')
            {
              for (gsize sent = 0; sent < PAYLOAD; sent += sizeof block)
                if (write (fd, block, sizeof block) != sizeof block)
                  break;
            }
          else if (write (fd, "x", 1) != 1)
            g_printerr ("upstream: short write\n");
        }
      close (fd);
    }
}

static int
connect_direct (void)
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (upstream_port),
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (connect (fd, (struct sockaddr *) &sin, sizeof sin) != 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

static const char *proxy_socket;

static int
connect_proxied (void)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  g_autofree char *req = g_strdup_printf ("CONNECT 127.0.0.1:%u HTTP/1.1\r\nHost: x\r\n\r\n",
                                          upstream_port);
  char buf[256];
  gsize got = 0;
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_strlcpy (sun.sun_path, proxy_socket, sizeof sun.sun_path);
  if (connect (fd, (struct sockaddr *) &sun, sizeof sun) != 0 ||
      write (fd, req, strlen (req)) != (ssize_t) strlen (req))
    goto fail;
  /* the proxy's "HTTP/1.1 200 …\r\n\r\n" */
  while (got < sizeof buf - 1)
    {
      ssize_t n = read (fd, buf + got, 1);
      if (n <= 0)
        goto fail;
      got += n;
      buf[got] = '\0';
      if (g_str_has_suffix (buf, "\r\n\r\n"))
        return strstr (buf, " 200") ? fd : (close (fd), -1);
    }
fail:
  close (fd);
  return -1;
}

typedef struct
{
  gboolean  proxied;
  GArray   *latency;
  GArray   *throughput;
  gboolean  done;
} NetJob;

static gpointer
net_client_thread (gpointer data)
{
  NetJob *job = data;

  for (guint i = 0; i < n_runs * 4; i++)
    {
      double t0 = now_ms (), t;
      int fd = job->proxied ? connect_proxied () : connect_direct ();
      char c;

      if (fd < 0 || write (fd, "x", 1) != 1 || read (fd, &c, 1) != 1)
        {
          if (fd >= 0)
            close (fd);
          continue;
        }
      t = now_ms () - t0;
      g_array_append_val (job->latency, t);
      close (fd);
    }
  for (guint i = 0; i < 5; i++)
    {
      static char buf[65536];
      double t0 = now_ms (), mibs;
      gsize total = 0;
      ssize_t n;
      int fd = job->proxied ? connect_proxied () : connect_direct ();

      if (fd < 0 || write (fd, "T", 1) != 1)
        continue;
      while ((n = read (fd, buf, sizeof buf)) > 0)
        total += n;
      close (fd);
      mibs = (total / 1048576.0) / ((now_ms () - t0) / 1000.0);
      if (total == PAYLOAD)
        g_array_append_val (job->throughput, mibs);
    }
  g_atomic_int_set (&job->done, TRUE);
  g_main_context_wakeup (NULL);
  return NULL;
}

static gboolean
job_done (gpointer data)
{
  return g_atomic_int_get (&((NetJob *) data)->done);
}

static void
bench_proxy (const char *dir)
{
  g_autoptr(CsbNetPolicy) policy = csb_net_policy_new ();
  g_autoptr(CsbNetProxy) proxy = NULL;
  g_autofree char *path = g_build_filename (dir, "bench-proxy", NULL);
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t sl = sizeof sin;
  NetJob direct = { FALSE, g_array_new (FALSE, FALSE, sizeof (double)),
                    g_array_new (FALSE, FALSE, sizeof (double)), FALSE };
  NetJob proxied = { TRUE, g_array_new (FALSE, FALSE, sizeof (double)),
                     g_array_new (FALSE, FALSE, sizeof (double)), FALSE };
  GThread *thread;

  upstream_fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert (bind (upstream_fd, (struct sockaddr *) &sin, sizeof sin) == 0);
  g_assert (listen (upstream_fd, 64) == 0);
  getsockname (upstream_fd, (struct sockaddr *) &sin, &sl);
  upstream_port = ntohs (sin.sin_port);
  g_thread_unref (g_thread_new ("upstream", upstream_thread, NULL));

  g_assert (csb_net_policy_add_allow (policy, "127.0.0.1", NULL));
  proxy = csb_net_proxy_new (policy);
  g_assert (csb_net_proxy_listen_unix (proxy, path, NULL));
  proxy_socket = path;

  thread = g_thread_new ("direct", net_client_thread, &direct);
  csb_test_run_until (job_done, &direct, 300000);
  g_thread_join (thread);
  thread = g_thread_new ("proxied", net_client_thread, &proxied);
  csb_test_run_until (job_done, &proxied, 300000);
  g_thread_join (thread);

  row ("Filtered network: connect + first byte", median (proxied.latency),
       median (direct.latency), "ms", "direct TCP to the same local server",
       proxied.latency->len);
  row ("Filtered network: throughput (64 MiB)", median (proxied.throughput),
       median (direct.throughput), "MiB/s", "direct TCP to the same local server",
       proxied.throughput->len);
  csb_net_proxy_stop (proxy);
  shutdown (upstream_fd, SHUT_RDWR);
}


/* ---- network on: launch and throughput ------------------------------------------- */

#define NET_OPTIONS "{'network': <true>}"
#define LAN_HOST_ADDR "198.18.78.2"
#define LAN_LOCAL_ADDR "198.18.78.1"
#define LAN_PORT "8478"

/* Sends PAYLOAD bytes to each client; run in the LAN host's namespace. */
static const char lan_server[] =
  "import socket,sys\n"
  "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
  "s.bind((sys.argv[1],int(sys.argv[2]))); s.listen(16)\n"
  "b=b'z'*(1<<20)\n"
  "while True:\n"
  "  c,_=s.accept()\n"
  "  try:\n"
  "    for i in range(64): c.sendall(b)\n"
  "  except OSError: pass\n"
  "  c.close()\n";
/* Reads it all; prints MiB/s (time from connect to EOF). */
static const char lan_client[] =
  "import socket,sys,time\n"
  "t=time.monotonic(); c=socket.create_connection((sys.argv[1],int(sys.argv[2]))); n=0\n"
  "while True:\n"
  "  d=c.recv(1<<20)\n"
  "  if not d: break\n"
  "  n+=len(d)\n"
  "print(n/1048576/(time.monotonic()-t) if n==64<<20 else -1)\n";

static gboolean
run_ip (const char * const *argv)
{
  int status = -1;

  return g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH |
                       G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                       NULL, NULL, &status, NULL) && g_spawn_check_wait_status (status, NULL);
}

/* A LAN host of the benchmark's own: a network namespace behind a veth pair, running
 * lan_server. Root only; FALSE with nothing left otherwise. */
static gboolean
lan_host_up (const char *netns,
             const char *veth,
             const char *peer,
             GPid       *out_server)
{
  const char *server_argv[] = { "ip", "netns", "exec", netns, "python3", "-c", lan_server,
                                LAN_HOST_ADDR, LAN_PORT, NULL };

  if (getuid () != 0 || !run_ip ((const char * const[]) { "ip", "netns", "add", netns, NULL }))
    return FALSE;
  if (!run_ip ((const char * const[]) { "ip", "link", "add", veth, "type", "veth", "peer",
                                        "name", peer, NULL }) ||
      !run_ip ((const char * const[]) { "ip", "link", "set", peer, "netns", netns, NULL }) ||
      !run_ip ((const char * const[]) { "ip", "addr", "add", LAN_LOCAL_ADDR "/24", "dev", veth,
                                        NULL }) ||
      !run_ip ((const char * const[]) { "ip", "link", "set", veth, "up", NULL }) ||
      !run_ip ((const char * const[]) { "ip", "-n", netns, "addr", "add", LAN_HOST_ADDR "/24",
                                        "dev", peer, NULL }) ||
      !run_ip ((const char * const[]) { "ip", "-n", netns, "link", "set", peer, "up", NULL }) ||
      !g_spawn_async (NULL, (char **) server_argv, NULL,
                      G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                      G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, out_server, NULL))
    {
      run_ip ((const char * const[]) { "ip", "link", "del", veth, NULL });
      run_ip ((const char * const[]) { "ip", "netns", "del", netns, NULL });
      return FALSE;
    }
  /* Up once it accepts (it then sends to a client that is gone, which it survives). */
  for (guint i = 0; i < 500; i++)
    {
      struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (atoi (LAN_PORT)) };
      int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      gboolean up;

      inet_pton (AF_INET, LAN_HOST_ADDR, &sin.sin_addr);
      up = connect (fd, (struct sockaddr *) &sin, sizeof sin) == 0;
      close (fd);
      if (up)
        break;
      g_usleep (10 * 1000);
    }
  return TRUE;
}

static void
bench_net (CsbTestBus *bus,
           const char *project)
{
  g_autoptr(GArray) on = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) off = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) on_cold = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) shared = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) unshared = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) plain = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) init = g_array_new (FALSE, FALSE, sizeof (double));
  g_autofree char *service_dir = g_path_get_dirname (g_getenv ("CSB_TEST_SERVICE"));
  /* The build tree's: helpers/ beside service/. */
  g_autofree char *init_path = g_build_filename (service_dir, "..", "helpers",
                                                 "claude-sandbox-init", NULL);
  const char * const share_net[] = { "--share-net", NULL };
  const char * const bind_init[] = { "--ro-bind", init_path, "/run/claude-sandbox-init", NULL };
  const char * const init_true[] = { "/run/claude-sandbox-init", "--landlock", "--", "true",
                                     NULL };
  g_autofree char *netns = g_strdup_printf ("csb-bench-%d", (int) getpid ());
  g_autofree char *veth = g_strdup_printf ("csbb%da", (int) getpid () % 100000);
  g_autofree char *peer = g_strdup_printf ("csbb%db", (int) getpid () % 100000);
  GPid server = 0;
  double m_off, m_ns, estimate;

  /* Warm-up, as bench_launch. */
  launch_and_wait (bus, project, NET_OPTIONS, CSB_TEST_TIMEOUT_MS, true_cmd, NULL);
  for (guint i = 0; i < n_runs; i++)
    {
      g_autoptr(CsbSandboxSpec) spec = make_spec (bus, project, 1000 + i);
      double t;

      /* A launch finds the spare monitor made after the one before at rest, its
       * network made ahead if that one had the network on; "cold" ones find none. */
      wait_no_children (bus->service_pid);
      launch_and_wait (bus, project, NET_OPTIONS, CSB_TEST_TIMEOUT_MS, true_cmd, NULL);
      wait_no_children (bus->service_pid);
      if ((t = launch_and_wait (bus, project, NET_OPTIONS, CSB_TEST_TIMEOUT_MS, true_cmd,
                                NULL)) > 0)
        g_array_append_val (on, t);
      wait_no_children (bus->service_pid);
      kill_spare (bus->service_pid);
      wait_no_children (bus->service_pid);
      if ((t = launch_and_wait (bus, project, NET_OPTIONS, CSB_TEST_TIMEOUT_MS, true_cmd,
                                NULL)) > 0)
        g_array_append_val (on_cold, t);
      /* Network off after network off: a spare with a network made ahead would end it
       * beside the launch. */
      wait_no_children (bus->service_pid);
      launch_and_wait (bus, project, BWRAP_OPTIONS, CSB_TEST_TIMEOUT_MS, true_cmd, NULL);
      wait_no_children (bus->service_pid);
      if ((t = launch_and_wait (bus, project, BWRAP_OPTIONS, CSB_TEST_TIMEOUT_MS, true_cmd,
                                NULL)) > 0)
        g_array_append_val (off, t);
      wait_no_children (bus->service_pid);
      if ((t = bare_bwrap_extra (spec, share_net, true_cmd, NULL)) > 0)
        g_array_append_val (shared, t);
      if ((t = bare_bwrap (spec, true_cmd, NULL)) > 0)
        g_array_append_val (unshared, t);
      if ((t = bare_bwrap_extra (spec, bind_init, true_cmd, NULL)) > 0)
        g_array_append_val (plain, t);
      if ((t = bare_bwrap_extra (spec, bind_init, init_true, NULL)) > 0)
        g_array_append_val (init, t);
    }
  /* The shared-namespace launch is gone from the service: estimated as the launch with
   * network off less what its namespace costs (bare bwrap, unshared vs shared). */
  m_off = median (off);
  m_ns = median (unshared) - median (shared);
  estimate = m_off - m_ns;
  row ("Launch → `true` exited, network on (own namespace + pasta)", median (on), estimate,
       "ms", "the old shared-namespace launch, estimated: the launch with network off less "
       "the namespace's cost (next rows); target +10 ms", on->len);
  row ("  the same with no spare monitor ready (the first launch after a minute)",
       median (on_cold), estimate, "ms", "the same estimate", on_cold->len);
  row ("  the same launch, network off (own namespace, lo only)", m_off, m_off, "ms",
       "(for reference)", off->len);
  row ("  bare bwrap, own network namespace", median (unshared), median (shared), "ms",
       "bare bwrap, same args, `--share-net`", unshared->len);
  row ("  bare bwrap running `claude-sandbox-init --landlock -- true`", median (init),
       median (plain), "ms", "bare bwrap running `true` (init now always runs first)",
       init->len);

  if (lan_host_up (netns, veth, peer, &server))
    {
      g_autoptr(GArray) inside = g_array_new (FALSE, FALSE, sizeof (double));
      g_autoptr(GArray) host = g_array_new (FALSE, FALSE, sizeof (double));
      const char * const client[] = { "python3", "-c", lan_client, LAN_HOST_ADDR, LAN_PORT,
                                      NULL };

      for (guint i = 0; i < 5; i++)
        {
          g_autofree char *out = NULL;
          g_autofree char *err = NULL;
          double v;

          if (launch_and_wait (bus, project, NET_OPTIONS, CSB_TEST_TIMEOUT_MS, client,
                               &out) > 0 && (v = g_ascii_strtod (out, NULL)) > 0)
            g_array_append_val (inside, v);
          g_clear_pointer (&out, g_free);
          if (g_spawn_sync (NULL, (char **) client, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                            &out, &err, NULL, NULL) && (v = g_ascii_strtod (out, NULL)) > 0)
            g_array_append_val (host, v);
        }
      row ("Network on: TCP throughput (64 MiB) from inside to a LAN host", median (inside),
           median (host), "MiB/s", "the host itself to the same LAN host (a network "
           "namespace behind a veth pair, 198.18.78.2); target ≥ 0.5×", inside->len);
      kill (server, SIGKILL);
      waitpid (server, NULL, 0);
      run_ip ((const char * const[]) { "ip", "link", "del", veth, NULL });
      run_ip ((const char * const[]) { "ip", "netns", "del", netns, NULL });
    }
  else
    note ("Network on: TCP throughput to a LAN host: not measured (making a LAN host, a "
          "network namespace with a veth pair, needs root)");
}

/* ---- the VM backend vs raw QEMU ---------------------------------------------------- */

/* TCG, small, as the VM tests boot; the same for the raw QEMU baseline. */
#define VM_MEMORY_MIB 512
#define VM_CPUS 1
#define VM_SETTINGS \
  "[org/example/ClaudeSandbox]\n" \
  "vm-accel='tcg'\n" \
  "vm-memory-mib=" G_STRINGIFY (VM_MEMORY_MIB) "\n" \
  "vm-cpus=" G_STRINGIFY (VM_CPUS) "\n"
#define VM_RUNS 7

/* The VM rows run only as an unprivileged user: root's qemu:///session is the system
 * daemon. Otherwise @rows are noted as not measured. */
static gboolean
vm_rows_can_run (const char *rows)
{
  g_autofree char *text = NULL;

  if (getuid () != 0)
    return TRUE;
  text = g_strdup_printf ("%s: not measured: run as an unprivileged user (qemu:///session)",
                          rows);
  note (text);
  return FALSE;
}

static guint
vm_runs (void)
{
  const char *env_runs = g_getenv ("CSB_BENCH_VM_RUNS");

  return env_runs ? MAX (1, atoi (env_runs)) : VM_RUNS;
}

/* The same kernel, initramfs and init under bare QEMU, with the devices of ours the
 * init needs to get going (virtio console, rng) and none of the rest: no libvirt,
 * no virtiofsd, no shares. Our init boots as in a sandbox (modules loaded, console
 * opened), finds no control share, says so on the console and powers off. The
 * console is QEMU's stdout, a pipe here: its first byte is the moment ours would
 * mount its shares and start the command (*@to_console, ms), QEMU's exit the end of
 * the guest's power-off, as ours ends after `true` (the return, ms; -1 if it failed). */
static double
raw_qemu (const char *kernel,
          const char *initrd,
          const char *serial_log,
          double     *to_console)
{
  g_autofree char *serial = g_strconcat ("file:", serial_log, NULL);
  g_autofree char *mem = g_strdup_printf ("%u", VM_MEMORY_MIB);
  g_autofree char *smp = g_strdup_printf ("%u", VM_CPUS);
  const char *argv[] = {
    "qemu-system-x86_64", "-machine", CSB_VM_MACHINE ",accel=tcg", "-cpu", "max", "-m", mem,
    "-smp", smp,
    "-nographic", "-nodefaults", "-no-user-config", "-no-reboot",
    "-kernel", kernel, "-initrd", initrd, "-append", CSB_VM_KERNEL_CMDLINE,
    "-serial", serial,
    "-device", "virtio-serial-pci", "-chardev", "stdio,id=con0,signal=off",
    "-device", "virtconsole,chardev=con0",
    "-device", "virtio-rng-pci",
    NULL
  };
  g_autoptr(GError) error = NULL;
  GPid pid;
  int out = -1, status;
  char buf[256];
  ssize_t n;
  double t0 = now_ms (), t;

  *to_console = -1;
  if (!g_spawn_async_with_pipes (NULL, (char **) argv, NULL,
                                 G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                 G_SPAWN_STDERR_TO_DEV_NULL | G_SPAWN_STDIN_FROM_DEV_NULL,
                                 NULL, NULL, &pid, NULL, &out, NULL, &error))
    {
      g_printerr ("qemu-system-x86_64: %s\n", error->message);
      return -1;
    }
  while ((n = read (out, buf, sizeof buf)) != 0)
    {
      if (n > 0 && *to_console < 0)
        *to_console = now_ms () - t0;
      if (n < 0 && errno != EINTR)
        break;
    }
  close (out);
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  t = now_ms () - t0;
  g_spawn_close_pid (pid);
  if (!g_spawn_check_wait_status (status, &error) || *to_console < 0)
    {
      g_printerr ("qemu-system-x86_64: %s\n", error ? error->message : "no console output");
      return -1;
    }
  return t;
}

/* The VM rows on a bus of their own (the VM settings are the service's): @launch, ours
 * vs raw QEMU; @io, project folder I/O over virtiofs vs the host. */
static void
bench_vm (gboolean launch,
          gboolean io)
{
  const char *what = "VM: Launch → command running (vm backend, TCG)";
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, VM_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) ours = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) raw = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) ours_running = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) raw_console = g_array_new (FALSE, FALSE, sizeof (double));
  g_autofree char *project = NULL;
  g_autofree char *modules_dir = NULL;
  g_autofree char *kernel = NULL;
  g_autofree char *initrd = NULL;
  g_autofree char *cache = NULL;
  g_autofree char *serial_log = NULL;
  const char *init = g_getenv ("CSB_GUEST_INIT");
  guint runs = vm_runs ();
  g_autofree char *label = NULL;
  /* What a "not measured" row names. */
  const char *rows = !launch ? "VM: project folder I/O (vm backend, TCG)"
                     : io ? "VM: launch and project folder I/O (vm backend, TCG)"
                     : "VM: launch (vm backend, TCG)";

  if (!vm_rows_can_run (rows))
    return;
  if ((kernel = csb_vm_find_kernel (NULL, &modules_dir, &error)) == NULL)
    {
      g_autofree char *text = g_strdup_printf ("%s: not measured: %s", rows, error->message);
      note (text);
      return;
    }
  if (init == NULL || g_find_program_in_path ("qemu-system-x86_64") == NULL)
    {
      g_autofree char *text = g_strdup_printf ("%s: not measured: %s", rows,
                                               init == NULL ? "CSB_GUEST_INIT is not set"
                                                            : "qemu-system-x86_64 is missing");
      note (text);
      return;
    }

  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "bench-vm");
  csb_test_bus_activate (&bus);
  /* Warm-up: the service builds and caches its initramfs, libvirt starts. */
  if (launch_and_wait (&bus, project, VM_OPTIONS, VM_TIMEOUT_MS, true_cmd, NULL) < 0)
    {
      g_autofree char *text = g_strdup_printf ("%s: not measured: the VM did not run (see "
                                               "the log above)", rows);
      note (text);
      csb_test_bus_teardown (&bus);
      return;
    }
  if (io)
    {
      bench_file_io (&bus, project, VM_OPTIONS, VM_TIMEOUT_MS, runs, NULL,
                     "VM: project folder I/O (virtiofs): " IO_WHAT);
      /* The same in the guest's own tmpfs: what TCG alone costs the script (its 64
       * dd are 64 fork+exec, slow when every instruction is translated), so that the
       * row above can be read as TCG plus virtiofs. */
      bench_file_io (&bus, project, VM_OPTIONS, VM_TIMEOUT_MS, runs, "/tmp",
                     "  the same in the VM's /tmp (tmpfs, no virtiofs; fsync a no-op)");
    }
  if (!launch)
    {
      csb_test_bus_teardown (&bus);
      return;
    }
  /* The very initramfs the service built (it is cached; this only finds it). */
  cache = g_build_filename (bus.dirs.cache, "claude-sandbox", NULL);
  initrd = csb_initramfs_ensure (modules_dir, init, "/etc", cache, &error);
  g_assert_no_error (error);
  serial_log = g_build_filename (bus.dirs.root, "bench-raw-qemu.log", NULL);
  {
    double warm_up;
    raw_qemu (kernel, initrd, serial_log, &warm_up);
  }
  /* Interleaved, so that the machine's changing speed (TCG boots here vary by a
   * second from minute to minute) hits both sides alike. */
  for (guint i = 0; i < runs; i++)
    {
      double t, running;

      if ((t = launch_and_wait_full (&bus, project, VM_OPTIONS, VM_TIMEOUT_MS, true_cmd, NULL,
                                     &running)) > 0)
        {
          g_array_append_val (ours, t);
          g_array_append_val (ours_running, running);
        }
      if ((t = raw_qemu (kernel, initrd, serial_log, &running)) > 0)
        {
          g_array_append_val (raw, t);
          g_array_append_val (raw_console, running);
        }
    }
  label = g_strdup_printf ("%s, %u MiB, %u CPU", what, VM_MEMORY_MIB, VM_CPUS);
  row_ms (label, ours_running, median (raw_console),
          "raw `qemu-system-x86_64 -kernel` (TCG), same kernel, initramfs and init, until the "
          "init's first console output: it has loaded its modules and opened the console, and "
          "would now mount the shares and start the command (no libvirt, virtiofsd or shares)",
          MIN (ours_running->len, raw_console->len));
  g_free (label);
  label = g_strdup_printf ("VM: Launch → `true` exited (vm backend, TCG), %u MiB, %u CPU",
                           VM_MEMORY_MIB, VM_CPUS);
  row_ms (label, ours, median (raw),
          "the same raw QEMU until it exits: the init powers off after its console output",
          MIN (ours->len, raw->len));
  csb_test_bus_teardown (&bus);
}

/* ---- the VM's display: Launch to the first frame ----------------------------------- */

typedef struct
{
  CsbDBusSandbox *sandbox;
  const guint8   *primary;
  int             width;
  int             height;
  int             stride;
  double          lit_at;   /* ms (now_ms) of the first frame with pixels, or 0 */
} FrameWait;

static void
frame_open_fd (SpiceChannel *channel,
               int           with_tls,
               FrameWait    *wait)
{
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GError) error = NULL;
  int fd = -1;

  if (csb_dbus_sandbox_call_open_display_sync (wait->sandbox, NULL, &handle, &fds, NULL,
                                               &error))
    fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), &error);
  if (fd < 0)
    g_printerr ("OpenDisplay: %s\n", error->message);
  else
    spice_channel_open_fd (channel, fd);
}

static void
frame_primary_create (SpiceChannel *channel,
                      int           format,
                      int           width,
                      int           height,
                      int           stride,
                      int           shmid,
                      gpointer      data,
                      FrameWait    *wait)
{
  wait->primary = data;
  wait->width = width;
  wait->height = height;
  wait->stride = stride;
}

/* weston-simple-shm's pattern on the kiosk's black: a frame with any lit pixel. */
static void
frame_invalidate (SpiceChannel *channel,
                  int           x,
                  int           y,
                  int           w,
                  int           h,
                  FrameWait    *wait)
{
  if (wait->lit_at > 0 || wait->primary == NULL)
    return;
  for (int row = MAX (y, 0); row < MIN (y + h, wait->height); row++)
    for (int col = MAX (x, 0); col < MIN (x + w, wait->width); col++)
      {
        const guint8 *px = wait->primary + (gsize) row * wait->stride + col * 4;

        if ((px[0] | px[1] | px[2]) > 16)
          {
            wait->lit_at = now_ms ();
            return;
          }
      }
}

static void
frame_channel_new (SpiceSession *session,
                   SpiceChannel *channel,
                   FrameWait    *wait)
{
  g_signal_connect (channel, "open-fd", G_CALLBACK (frame_open_fd), wait);
  if (SPICE_IS_DISPLAY_CHANNEL (channel))
    {
      g_signal_connect (channel, "display-primary-create", G_CALLBACK (frame_primary_create),
                        wait);
      g_signal_connect (channel, "display-invalidate", G_CALLBACK (frame_invalidate), wait);
      spice_channel_connect (channel);
    }
}

static gboolean
frame_lit (gpointer data)
{
  return ((FrameWait *) data)->lit_at > 0;
}

/* Launch with display; @out_launched: ms until Launch replied; returns ms until the
 * first lit frame on a SPICE client, or -1. */
static double
launch_to_first_frame (CsbTestBus *bus,
                       const char *project,
                       double     *out_launched)
{
  const char * const command[] = { "weston-simple-shm", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  SpiceSession *session;
  FrameWait wait = { NULL, };
  double t0 = now_ms (), t = -1;

  run = csb_test_launch (bus, project, command,
                         g_variant_new_parsed ("{'backend': <'vm'>, 'network': <false>, "
                                               "'display': <true>}"),
                         FALSE, &error);
  if (run == NULL)
    {
      g_printerr ("Launch (display): %s\n", error->message);
      return -1;
    }
  *out_launched = now_ms () - t0;
  wait.sandbox = run->sandbox;
  session = spice_session_new ();
  g_object_set (session, "enable-audio", FALSE, "enable-usbredir", FALSE, NULL);
  g_signal_connect (session, "channel-new", G_CALLBACK (frame_channel_new), &wait);
  spice_session_open_fd (session, -1);
  if (csb_test_run_until (frame_lit, &wait, VM_TIMEOUT_MS))
    t = wait.lit_at - t0;
  else
    g_printerr ("no frame with pixels on the VM's display\n");
  g_signal_handlers_disconnect_by_data (session, &wait);
  spice_session_disconnect (session);
  g_object_unref (session);
  csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, NULL);
  csb_test_run_until (csb_test_sandbox_ended, run->sandbox, VM_TIMEOUT_MS);
  csb_dbus_sandbox_call_remove_sync (run->sandbox, NULL, NULL);
  return t;
}

static void
bench_vm_display (void)
{
  const char *what = "VM with `display`: Launch → first frame of a Wayland client on the "
                     "display";
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, VM_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) frame = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) launched = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) raw_console = g_array_new (FALSE, FALSE, sizeof (double));
  g_autofree char *project = NULL;
  g_autofree char *modules_dir = NULL;
  g_autofree char *kernel = NULL;
  g_autofree char *initrd = NULL;
  g_autofree char *cache = NULL;
  g_autofree char *serial_log = NULL;
  g_autofree char *label = NULL;
  const char *init = g_getenv ("CSB_GUEST_INIT");
  guint runs = vm_runs ();
  double warm_up;

  if (!vm_rows_can_run (what))
    return;
  if ((kernel = csb_vm_find_kernel_for (NULL, TRUE, &modules_dir, &error)) == NULL ||
      init == NULL || !g_file_test ("/usr/bin/weston-simple-shm", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_autofree char *text = g_strdup_printf ("%s: not measured: %s", what,
                                               kernel == NULL ? error->message
                                               : init == NULL ? "CSB_GUEST_INIT is not set"
                                               : "weston-simple-shm is missing (weston)");
      note (text);
      return;
    }

  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "bench-vm-display");
  csb_test_bus_activate (&bus);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (bus.manager), VM_TIMEOUT_MS);
  /* Warm-up: the service builds and caches the display kernel's initramfs. */
  if (launch_to_first_frame (&bus, project, &warm_up) < 0)
    {
      g_autofree char *text = g_strdup_printf ("%s: not measured: the VM showed no frame (see "
                                               "the log above)", what);
      note (text);
      csb_test_bus_teardown (&bus);
      return;
    }
  cache = g_build_filename (bus.dirs.cache, "claude-sandbox", NULL);
  initrd = csb_initramfs_ensure (modules_dir, init, "/etc", cache, &error);
  g_assert_no_error (error);
  serial_log = g_build_filename (bus.dirs.root, "bench-raw-qemu-display.log", NULL);
  raw_qemu (kernel, initrd, serial_log, &warm_up);
  /* Interleaved, as in bench_vm. */
  for (guint i = 0; i < runs; i++)
    {
      double t, running;

      if ((t = launch_to_first_frame (&bus, project, &running)) > 0)
        {
          g_array_append_val (frame, t);
          g_array_append_val (launched, running);
        }
      if (raw_qemu (kernel, initrd, serial_log, &running) > 0)
        g_array_append_val (raw_console, running);
    }
  label = g_strdup_printf ("VM with `display`: Launch → weston listens and the command runs "
                           "(TCG), %u MiB, %u CPU", VM_MEMORY_MIB, VM_CPUS);
  row_ms (label, launched, median (raw_console),
          "raw `qemu-system-x86_64 -kernel` (TCG), the same display kernel and initramfs, until "
          "the init's first console output (no libvirt, shares, weston or SPICE)",
          MIN (launched->len, raw_console->len));
  g_free (label);
  label = g_strdup_printf ("%s (TCG), %u MiB, %u CPU", what, VM_MEMORY_MIB, VM_CPUS);
  row_ms (label, frame, median (raw_console),
          "the same raw QEMU: the frame is weston-simple-shm's, as a SPICE client gets it "
          "through OpenDisplay()", MIN (frame->len, raw_console->len));
  csb_test_bus_teardown (&bus);
}

/* ---- main ---------------------------------------------------------------------- */

/* Whether the measurement @what runs: all of them, or those CSB_BENCH_ONLY lists
 * (comma-separated: launch, io, memory, proxy, net, vm, vm-launch, vm-io, vm-display). */
static gboolean
wanted (const char *what)
{
  const char *only = g_getenv ("CSB_BENCH_ONLY");
  g_auto(GStrv) names = NULL;

  if (only == NULL || *only == '\0')
    return TRUE;
  names = g_strsplit (only, ",", -1);
  return g_strv_contains ((const char * const *) names, what);
}

static char *
machine (void)
{
  g_autofree char *cpuinfo = NULL;
  g_autofree char *model = g_strdup ("unknown CPU");
  g_autofree char *kernel = NULL;
  const char *line;

  if (g_file_get_contents ("/proc/cpuinfo", &cpuinfo, NULL, NULL) &&
      (line = strstr (cpuinfo, "model name")) != NULL && (line = strchr (line, ':')) != NULL)
    {
      g_free (model);
      model = g_strndup (line + 2, strcspn (line + 2, "\n"));
    }
  g_file_get_contents ("/proc/sys/kernel/osrelease", &kernel, NULL, NULL);
  return g_strdup_printf ("%u CPUs (nproc), %s, Linux %s, run as %s",
                          g_get_num_processors (), model, kernel ? g_strstrip (kernel) : "?",
                          g_get_user_name ());
}

int
main (int    argc,
      char **argv)
{
  CsbTestBus bus;
  g_autofree char *project = NULL;
  g_autofree char *where = NULL;
  g_autoptr(GVariant) backends = NULL;
  const char *env_runs = g_getenv ("CSB_BENCH_RUNS");
  guint idle_rss, loaded_rss;

  setlocale (LC_ALL, "");
  csb_test_init_environment ();
  /* The private bus helpers find the in-tree service through GTest's build paths. */
  g_test_init (&argc, &argv, NULL);
  if (env_runs != NULL)
    n_runs = MAX (1, atoi (env_runs));
  table = g_string_new (NULL);
  where = machine ();
  g_print ("claude-sandbox benchmarks: %s; medians of %u runs\n\n", where, n_runs);
  g_string_append_printf (table, "Machine: %s.\n\n", where);
  g_string_append (table, "| what | ours | baseline | ratio | baseline is | runs |\n"
                          "|---|---|---|---|---|---|\n");

  if (!wanted ("launch") && !wanted ("io") && !wanted ("memory") && !wanted ("proxy") &&
      !wanted ("review") && !wanted ("net") && !wanted ("metrics"))
    goto vm;
  csb_test_bus_setup (&bus, NULL);
  project = csb_test_make_project (&bus.dirs, "bench");
  csb_test_bus_activate (&bus);
  /* Idle as activated (bwrap only), then once GetBackends has loaded the libvirt
   * backends' module, as the app does at its start. */
  csb_test_sleep_ms (500);
  idle_rss = rss_kib (bus.service_pid);
  csb_dbus_manager_call_get_backends_sync (bus.manager, &backends, NULL, NULL);
  csb_test_sleep_ms (500);
  loaded_rss = rss_kib (bus.service_pid);

  if (wanted ("launch"))
    bench_launch (&bus, project);
  if (wanted ("io"))
    bench_file_io (&bus, project, BWRAP_OPTIONS, CSB_TEST_TIMEOUT_MS, n_runs, NULL,
                   "Project folder I/O: " IO_WHAT);
  if (wanted ("review"))
    bench_review (&bus, project);
  if (wanted ("memory"))
    bench_memory (&bus, project, idle_rss, loaded_rss);
  if (wanted ("metrics"))
    bench_metrics (&bus, project);
  if (wanted ("proxy"))
    bench_proxy (bus.dirs.runtime);
  if (wanted ("net"))
    bench_net (&bus, project);

  csb_test_bus_teardown (&bus);
vm:
  /* `vm` is both VM rows; `vm-launch` and `vm-io` one of them alone. */
  if (wanted ("vm") || wanted ("vm-launch") || wanted ("vm-io"))
    bench_vm (wanted ("vm") || wanted ("vm-launch"), wanted ("vm") || wanted ("vm-io"));
  if (wanted ("vm") || wanted ("vm-display"))
    bench_vm_display ();
  g_print ("\n%s", table->str);
  g_string_free (table, TRUE);
  return 0;
}
