/* csb-bench.c — claude-sandbox against baselines measured in the same run, printed
 * as a table (medians; ratio = ours / baseline). Not a test: nothing is asserted.
 *
 *   launch      Launch("true") over D-Bus until Exited  vs  bare bwrap with the same
 *               arguments (csb_bwrap_build_args) + an xdg-dbus-proxy start
 *   cli         claude-sandbox --no-network -c DIR -- true  vs  the same bare bwrap
 *   file-io     write+fsync+read of files in the project folder, inside vs the host
 *   memory      the service's RSS idle and with N sandboxes (sleep)
 *   proxy       connect latency and throughput through CsbNetProxy vs direct TCP
 *   vm          Launch("true") on the vm backend until Exited  vs  qemu-system-x86_64
 *               -kernel with the same kernel, initramfs, init, memory, CPUs and TCG
 *               (only as an unprivileged user: root's qemu:///session is the system
 *               daemon); firejail / sandbox-runtime: only where installed
 *
 * CSB_BENCH_RUNS (default 15), CSB_BENCH_SANDBOXES (default 100).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>
#include <glib-unix.h>

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

static void
note (const char *text)
{
  g_string_append_printf (table, "| %s | — | — | — | — | — |\n", text);
  g_print ("%s\n", text);
}

static double
now_ms (void)
{
  return g_get_monotonic_time () / 1000.0;
}

/* ---- bare bwrap with our arguments ------------------------------------------------- */

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

/* Runs bare bwrap with @spec's arguments and @command; returns ms (or -1). Building
 * the arguments is not timed. */
static double
bare_bwrap (CsbSandboxSpec     *spec,
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
proxy_start (CsbTestBus *bus,
             guint       n)
{
  const char * const talk[] = { "org.freedesktop.portal.*", NULL };
  g_autofree char *socket_path = g_strdup_printf ("%s/bench-bus-%u", bus->dirs.runtime, n);
  g_autoptr(GError) error = NULL;
  GPid pid;
  int sync_fd;
  double t0 = now_ms (), t;

  if (!csb_dbus_proxy_start (g_test_dbus_get_bus_address (bus->bus), socket_path, talk, &pid,
                             &sync_fd, &error))
    {
      g_printerr ("xdg-dbus-proxy: %s\n", error->message);
      return -1;
    }
  t = now_ms () - t0;
  close (sync_fd);     /* the proxy exits */
  waitpid (pid, NULL, 0);
  unlink (socket_path);
  return t;
}

/* ---- our sandboxes --------------------------------------------------------------- */

static double
launch_and_wait (CsbTestBus         *bus,
                 const char         *project,
                 const char * const *command,
                 char              **out_stdout)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GVariant) network = g_variant_ref_sink (g_variant_new_parsed ("{'network': <false>}"));
  double t0 = now_ms (), t;

  run = csb_test_launch (bus, project, command, g_variant_ref (network), FALSE, &error);
  if (run == NULL)
    {
      g_printerr ("Launch: %s\n", error->message);
      return -1;
    }
  if (!csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS) || run->exit_signal_status != 0)
    {
      g_printerr ("sandbox did not exit cleanly: %s\n", run->err->str);
      return -1;
    }
  t = now_ms () - t0;
  if (out_stdout)
    *out_stdout = g_strdup (run->out->str);
  csb_dbus_sandbox_call_remove_sync (run->sandbox, NULL, NULL);
  return t;
}

static void
bench_launch (CsbTestBus *bus,
              const char *project)
{
  g_autoptr(GArray) ours = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) bare = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) proxy = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) cli = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) base = g_array_new (FALSE, FALSE, sizeof (double));
  const char * const true_cmd[] = { "true", NULL };
  const char *cli_path = g_getenv ("CSB_TEST_CLI");
  g_autofree char *address = g_strdup (g_test_dbus_get_bus_address (bus->bus));
  g_auto(GStrv) cli_env = g_environ_setenv (g_get_environ (), "DBUS_SESSION_BUS_ADDRESS",
                                            address, TRUE);
  double m_bare, m_proxy;

  /* Warm-up: the first launch copies files and fills caches. */
  launch_and_wait (bus, project, true_cmd, NULL);
  for (guint i = 0; i < n_runs; i++)
    {
      g_autoptr(CsbSandboxSpec) spec = make_spec (bus, project, i);
      double t;

      /* Interleaved, so a busy moment of the machine hits both sides. */
      if ((t = launch_and_wait (bus, project, true_cmd, NULL)) > 0)
        g_array_append_val (ours, t);
      if ((t = bare_bwrap (spec, true_cmd, NULL)) > 0)
        g_array_append_val (bare, t);
      if ((t = proxy_start (bus, i)) > 0)
        g_array_append_val (proxy, t);
      if (cli_path != NULL && g_file_test (cli_path, G_FILE_TEST_IS_EXECUTABLE))
        {
          const char *argv[] = { cli_path, "--no-network", "-c", project, "--", "true", NULL };
          int status = -1;
          double t0 = now_ms ();

          if (g_spawn_sync (NULL, (char **) argv, cli_env, G_SPAWN_STDOUT_TO_DEV_NULL |
                            G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, NULL) &&
              g_spawn_check_wait_status (status, NULL))
            {
              t = now_ms () - t0;
              g_array_append_val (cli, t);
            }
        }
    }
  m_bare = median (bare);
  m_proxy = median (proxy);
  for (guint i = 0; i < bare->len; i++)
    {
      double b = g_array_index (bare, double, i) + m_proxy;
      g_array_append_val (base, b);
    }
  row ("Launch → `true` exited (bwrap backend)", median (ours), m_bare + m_proxy, "ms",
       "bare bwrap, same args, + xdg-dbus-proxy start", ours->len);
  row ("  bare bwrap alone", m_bare, m_bare, "ms", "(for reference)", bare->len);
  row ("  xdg-dbus-proxy start alone", m_proxy, m_proxy, "ms", "(for reference)", proxy->len);
  if (cli->len > 0)
    row ("CLI `claude-sandbox --no-network -c DIR -- true`", median (cli), m_bare, "ms",
         "bare bwrap, same args", cli->len);
  else
    note ("CLI: claude-sandbox not built (CSB_TEST_CLI)");
}

static void
bench_file_io (CsbTestBus *bus,
               const char *project)
{
  /* 64 files of 256 KiB (16 MiB): write + fsync each, read all back, delete; the time is
   * taken inside, so the launch is not counted. */
  const char *script =
    "set -e; cd \"$1\"; s=$(date +%s%N); i=0; while [ $i -lt 64 ]; do "
    "dd if=/dev/zero of=bench-io-$i bs=256k count=1 conv=fsync status=none; i=$((i+1)); done; "
    "cat bench-io-* > /dev/null; rm -f bench-io-*; e=$(date +%s%N); echo $(( (e - s) / 1000 ))";
  g_autoptr(GArray) inside = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) host = g_array_new (FALSE, FALSE, sizeof (double));
  const char * const cmd[] = { "sh", "-c", script, "sh", project, NULL };

  for (guint i = 0; i < n_runs; i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *host_out = NULL;
      double t;
      int status;

      if (launch_and_wait (bus, project, cmd, &out) > 0 && (t = g_ascii_strtod (out, NULL)) > 0)
        {
          t /= 1000.0;
          g_array_append_val (inside, t);
        }
      if (g_spawn_sync (NULL, (char **) cmd, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &host_out,
                        NULL, &status, NULL) && (t = g_ascii_strtod (host_out, NULL)) > 0)
        {
          t /= 1000.0;
          g_array_append_val (host, t);
        }
    }
  row ("Project folder I/O: 64 × 256 KiB write+fsync, read", median (inside), median (host), "ms",
       "the same on the host", inside->len);
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
  guint peak, after;

  many_target = n;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
      int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);

      g_unix_fd_list_append (fds, devnull, NULL);
      close (devnull);
      csb_dbus_manager_call_launch (bus->manager, project, cmd,
                                    g_variant_new_parsed ("{'network': <false>, 'stdio': <{uint32 0: handle 0, 1: handle 0, 2: handle 0}>}"),
                                    fds, NULL, on_many_launched, &many);
    }
  csb_test_run_until (many_done, &many, 300000);
  csb_test_sleep_ms (500);
  peak = rss_kib (bus->service_pid);
  for (guint i = 0; i < many.paths->len; i++)
    {
      g_autoptr(CsbDBusSandbox) sandbox = csb_test_bus_get_sandbox (bus, many.paths->pdata[i]);
      csb_dbus_sandbox_call_stop_sync (sandbox, NULL, NULL);
    }
  csb_test_sleep_ms (12000);   /* stop-timeout (10 s) for anything that ignores SIGTERM */
  for (guint i = 0; i < many.paths->len; i++)
    {
      g_autoptr(CsbDBusSandbox) sandbox = csb_test_bus_get_sandbox (bus, many.paths->pdata[i]);
      csb_dbus_sandbox_call_remove_sync (sandbox, NULL, NULL);
    }
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


/* ---- the VM backend vs raw QEMU ---------------------------------------------------- */

/* TCG, small, as the VM tests boot; the same for the raw QEMU baseline. */
#define VM_MEMORY_MIB 512
#define VM_CPUS 1
#define VM_SETTINGS \
  "[org/example/ClaudeSandbox]\n" \
  "vm-accel='tcg'\n" \
  "vm-memory-mib=" G_STRINGIFY (VM_MEMORY_MIB) "\n" \
  "vm-cpus=" G_STRINGIFY (VM_CPUS) "\n"
#define VM_RUNS 3

static double
vm_launch_true (CsbTestBus *bus,
                const char *project)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GVariant) options =
    g_variant_ref_sink (g_variant_new_parsed ("{'backend': <'vm'>, 'network': <false>}"));
  const char * const true_cmd[] = { "true", NULL };
  double t0 = now_ms (), t;

  run = csb_test_launch (bus, project, true_cmd, g_variant_ref (options), FALSE, &error);
  if (run == NULL)
    {
      g_printerr ("Launch (vm): %s\n", error->message);
      return -1;
    }
  if (!csb_test_run_wait (run, 120000) || run->exit_signal_status != 0)
    {
      g_printerr ("VM sandbox did not exit cleanly: %s\n", run->err->str);
      return -1;
    }
  t = now_ms () - t0;
  csb_dbus_sandbox_call_remove_sync (run->sandbox, NULL, NULL);
  return t;
}

/* The same kernel, initramfs and init under bare QEMU, with the devices of ours the
 * init needs to get going (virtio console, rng) and none of the rest: no libvirt,
 * no virtiofsd, no shares. Our init boots as in a sandbox (modules loaded, console
 * opened), finds no control share and powers off: boot to the point where ours
 * would run the command, and power-off, as ours does after `true`. */
static double
raw_qemu (const char *kernel,
          const char *initrd,
          const char *serial_log)
{
  g_autofree char *serial = g_strconcat ("file:", serial_log, NULL);
  g_autofree char *mem = g_strdup_printf ("%u", VM_MEMORY_MIB);
  g_autofree char *smp = g_strdup_printf ("%u", VM_CPUS);
  const char *argv[] = {
    "qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", mem, "-smp", smp,
    "-nographic", "-nodefaults", "-no-user-config", "-no-reboot",
    "-kernel", kernel, "-initrd", initrd, "-append", CSB_VM_KERNEL_CMDLINE,
    "-serial", serial,
    "-device", "virtio-serial-pci", "-chardev", "null,id=con0",
    "-device", "virtconsole,chardev=con0",
    "-device", "virtio-rng-pci",
    NULL
  };
  g_autoptr(GError) error = NULL;
  int status;
  double t0 = now_ms (), t;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                     G_SPAWN_STDERR_TO_DEV_NULL | G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL, NULL,
                     NULL, &status, &error))
    {
      g_printerr ("qemu-system-x86_64: %s\n", error->message);
      return -1;
    }
  t = now_ms () - t0;
  if (!g_spawn_check_wait_status (status, &error))
    {
      g_printerr ("qemu-system-x86_64: %s\n", error->message);
      return -1;
    }
  return t;
}

static void
bench_vm (void)
{
  const char *what = "VM: Launch → `true` exited (vm backend, TCG)";
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, VM_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) ours = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) raw = g_array_new (FALSE, FALSE, sizeof (double));
  g_autofree char *project = NULL;
  g_autofree char *modules_dir = NULL;
  g_autofree char *kernel = NULL;
  g_autofree char *initrd = NULL;
  g_autofree char *cache = NULL;
  g_autofree char *serial_log = NULL;
  const char *init = g_getenv ("CSB_GUEST_INIT");
  const char *env_runs = g_getenv ("CSB_BENCH_VM_RUNS");
  guint runs = env_runs ? MAX (1, atoi (env_runs)) : VM_RUNS;
  g_autofree char *label = NULL;

  if (getuid () == 0)
    {
      g_autofree char *text = g_strdup_printf ("%s: not measured: run as an unprivileged user "
                                               "(qemu:///session)", what);
      note (text);
      return;
    }
  if ((kernel = csb_vm_find_kernel (NULL, &modules_dir, &error)) == NULL)
    {
      g_autofree char *text = g_strdup_printf ("%s: not measured: %s", what, error->message);
      note (text);
      return;
    }
  if (init == NULL || g_find_program_in_path ("qemu-system-x86_64") == NULL)
    {
      g_autofree char *text = g_strdup_printf ("%s: not measured: %s", what,
                                               init == NULL ? "CSB_GUEST_INIT is not set"
                                                            : "qemu-system-x86_64 is missing");
      note (text);
      return;
    }

  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "bench-vm");
  csb_test_bus_activate (&bus);
  /* Warm-up: the service builds and caches its initramfs, libvirt starts. */
  if (vm_launch_true (&bus, project) < 0)
    {
      g_autofree char *text = g_strdup_printf ("%s: not measured: the VM did not run (see "
                                               "the log above)", what);
      note (text);
      csb_test_bus_teardown (&bus);
      return;
    }
  /* The very initramfs the service built (it is cached; this only finds it). */
  cache = g_build_filename (bus.dirs.cache, "claude-sandbox", NULL);
  initrd = csb_initramfs_ensure (modules_dir, init, cache, &error);
  g_assert_no_error (error);
  serial_log = g_build_filename (bus.dirs.root, "bench-raw-qemu.log", NULL);
  raw_qemu (kernel, initrd, serial_log);   /* warm-up */
  for (guint i = 0; i < runs; i++)
    {
      double t;

      if ((t = vm_launch_true (&bus, project)) > 0)
        g_array_append_val (ours, t);
      if ((t = raw_qemu (kernel, initrd, serial_log)) > 0)
        g_array_append_val (raw, t);
    }
  label = g_strdup_printf ("%s, %u MiB, %u CPU", what, VM_MEMORY_MIB, VM_CPUS);
  row (label, median (ours), median (raw), "ms",
       "raw `qemu-system-x86_64 -kernel` (TCG), same kernel, initramfs and init, run until the "
       "guest powers off: the init loads its modules, opens the console, finds no share and "
       "powers off (no libvirt, virtiofsd, shares or plan)", MIN (ours->len, raw->len));
  csb_test_bus_teardown (&bus);
}

/* ---- main ---------------------------------------------------------------------- */

/* Whether the measurement @what runs: all of them, or those CSB_BENCH_ONLY lists
 * (comma-separated: launch, io, memory, proxy, vm). */
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

  if (!wanted ("launch") && !wanted ("io") && !wanted ("memory") && !wanted ("proxy"))
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
    bench_file_io (&bus, project);
  if (wanted ("memory"))
    bench_memory (&bus, project, idle_rss, loaded_rss);
  if (wanted ("proxy"))
    bench_proxy (bus.dirs.runtime);

  if (g_find_program_in_path ("firejail") == NULL)
    note ("firejail: not installed, not measured");
  if (g_find_program_in_path ("srt") == NULL && g_find_program_in_path ("sandbox-runtime") == NULL)
    note ("sandbox-runtime (srt): not installed, not measured");

  csb_test_bus_teardown (&bus);
vm:
  /* On a bus of its own: the VM settings (TCG, small) are the service's. */
  if (wanted ("vm"))
    bench_vm ();
  g_print ("\n%s", table->str);
  g_string_free (table, TRUE);
  return 0;
}
