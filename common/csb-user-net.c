/* csb-user-net.c — a user-mode network stack for a bwrap sandbox's own network
 * namespace (see csb-user-net.h).
 *
 * pasta copies the host's address, routes and MTU into the namespace and turns
 * every connection the sandbox makes into a socket of its own on the host. What it
 * must not do here, and does by default: map the gateway address to the host's
 * loopback (--no-map-gw), forward the host's bound ports into the namespace (-T,
 * -U none: the sandbox's 127.0.0.1 would reach the host's) or the namespace's into
 * the host (-t, -u none: the sandbox would listen on the host's ports). The
 * namespace has the host's own address, so that address is the sandbox's, not
 * the host's.
 *
 * slirp4netns is the fallback: 10.0.2.100 behind a NAT, --disable-host-loopback
 * (10.0.2.2 does not reach the host's 127.0.0.1), DNS through 10.0.2.3.
 *
 * The namespace is made before bwrap, so that the stack's start (tens of
 * milliseconds of CPU for pasta) overlaps bwrap's set-up instead of following it:
 * the monitor's child makes a user namespace and a network namespace
 * (csb_user_net_unshare) and runs bwrap in them with --share-net; bwrap's own
 * user namespace for the sandbox is nested in that one, and its other namespaces
 * are its own as ever. The monitor starts the stack on the namespace as soon as
 * bwrap runs (csb_user_net_spawn), and lets the command go once the stack is up
 * (csb_user_net_wait). The stack joins the namespace through descriptors
 * (/proc/self/fd/N), its owner found with NS_GET_USERNS. README, "Network":
 * the security review of this arrangement.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "csb-error.h"
#include "csb-user-net.h"

#define SYSTEMD_RESOLVED_UPSTREAM "/run/systemd/resolve/resolv.conf"
#define SLIRP_DNS "10.0.2.3"

/* The descriptors the stack gets, at these numbers. */
#define NETNS_FD 3
#define USERNS_FD 4
#define READY_FD 5

const char *
csb_user_net_kind_name (CsbUserNetKind kind)
{
  return kind == CSB_USER_NET_PASTA ? "pasta" : "slirp4netns";
}

gboolean
csb_user_net_kind_from_name (const char     *name,
                             CsbUserNetKind *out_kind)
{
  if (g_strcmp0 (name, "pasta") == 0)
    *out_kind = CSB_USER_NET_PASTA;
  else if (g_strcmp0 (name, "slirp4netns") == 0)
    *out_kind = CSB_USER_NET_SLIRP4NETNS;
  else
    return FALSE;
  return TRUE;
}

gboolean
csb_user_net_find (CsbUserNetKind *out_kind,
                   char          **out_path,
                   GError        **error)
{
  static const CsbUserNetKind order[] = { CSB_USER_NET_PASTA, CSB_USER_NET_SLIRP4NETNS };
  static const char * const system_dirs[] = { "/usr/bin", "/usr/sbin", NULL };
  const char *only = g_getenv ("CSB_USER_NET");

  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    {
      const char *name = csb_user_net_kind_name (order[i]);
      g_autofree char *path = NULL;

      if (only != NULL && *only != '\0' && !g_str_equal (only, name))
        continue;
      path = g_find_program_in_path (name);
      /* A service activated with a short PATH still finds the distribution's. */
      for (guint k = 0; path == NULL && system_dirs[k] != NULL; k++)
        {
          g_autofree char *candidate = g_build_filename (system_dirs[k], name, NULL);

          if (g_file_test (candidate, G_FILE_TEST_IS_EXECUTABLE))
            path = g_steal_pointer (&candidate);
        }
      if (path != NULL)
        {
          *out_kind = order[i];
          *out_path = g_steal_pointer (&path);
          return TRUE;
        }
    }
  g_set_error_literal (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                       "network on needs a user-mode network stack, and neither pasta "
                       "nor slirp4netns is installed: install the 'passt' package "
                       "(or 'slirp4netns'), or launch with network off");
  return FALSE;
}

/* Whether @line names a name server on the loopback (127/8, ::1). */
static gboolean
is_loopback_nameserver (const char *line,
                        gboolean   *out_is_nameserver)
{
  g_autofree char *stripped = g_strstrip (g_strdup (line));
  const char *address;

  *out_is_nameserver = FALSE;
  if (!g_str_has_prefix (stripped, "nameserver"))
    return FALSE;
  address = stripped + strlen ("nameserver");
  if (*address != ' ' && *address != '\t')
    return FALSE;
  while (*address == ' ' || *address == '\t')
    address++;
  *out_is_nameserver = TRUE;
  return g_str_has_prefix (address, "127.") || g_str_equal (address, "::1") ||
         g_str_has_prefix (address, "::ffff:127.");
}

/* Counts the name servers of @contents: reachable ones and those on the loopback. */
static void
count_nameservers (const char *contents,
                   guint      *out_reachable,
                   guint      *out_loopback)
{
  g_auto(GStrv) lines = g_strsplit (contents, "\n", -1);

  *out_reachable = 0;
  *out_loopback = 0;
  for (guint i = 0; lines[i] != NULL; i++)
    {
      gboolean is_nameserver;

      if (is_loopback_nameserver (lines[i], &is_nameserver))
        (*out_loopback)++;
      else if (is_nameserver)
        (*out_reachable)++;
    }
}

static char *
write_resolv_conf (const char *runtime_dir,
                   const char *contents,
                   GError    **error)
{
  g_autofree char *path = g_build_filename (runtime_dir, "resolv.conf", NULL);

  if (!g_file_set_contents_full (path, contents, -1, G_FILE_SET_CONTENTS_NONE, 0644, error))
    return NULL;
  return g_steal_pointer (&path);
}

char *
csb_user_net_resolv_conf (CsbUserNetKind  kind,
                          const char     *host_resolv_conf,
                          const char     *runtime_dir,
                          GError        **error)
{
  return csb_user_net_resolv_conf_full (kind, host_resolv_conf, SYSTEMD_RESOLVED_UPSTREAM,
                                        runtime_dir, error);
}

char *
csb_user_net_resolv_conf_full (CsbUserNetKind  kind,
                               const char     *host_resolv_conf,
                               const char     *upstream_resolv_conf,
                               const char     *runtime_dir,
                               GError        **error)
{
  g_autofree char *contents = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_auto(GStrv) lines = NULL;
  guint reachable, loopback;

  /* A missing resolv.conf means the resolver's defaults (localhost): nothing. */
  if (!g_file_get_contents (host_resolv_conf, &contents, NULL, NULL))
    contents = g_strdup ("");

  if (kind == CSB_USER_NET_SLIRP4NETNS)
    {
      /* Its own resolver, which forwards to the host's: keep search and options. */
      lines = g_strsplit (contents, "\n", -1);
      g_string_append (out, "nameserver " SLIRP_DNS "\n");
      for (guint i = 0; lines[i] != NULL; i++)
        {
          gboolean is_nameserver;

          is_loopback_nameserver (lines[i], &is_nameserver);
          if (!is_nameserver && *lines[i] != '\0')
            g_string_append_printf (out, "%s\n", lines[i]);
        }
      return write_resolv_conf (runtime_dir, out->str, error);
    }

  count_nameservers (contents, &reachable, &loopback);
  if (loopback == 0 || reachable > 0)
    return NULL;  /* the host's works as it is (loopback entries just time out) */

  {
    g_autofree char *upstream = NULL;

    if (g_file_get_contents (upstream_resolv_conf, &upstream, NULL, NULL))
      {
        count_nameservers (upstream, &reachable, &loopback);
        if (reachable > 0)
          return write_resolv_conf (runtime_dir, upstream, error);
      }
  }
  /* Nothing reachable: the host's file, whose resolver the sandbox cannot reach
   * (README, known limits). */
  g_message ("the host's name servers are all on its loopback, which a sandbox cannot "
             "reach: no DNS inside with network on");
  return NULL;
}

/* ---- in the monitor -------------------------------------------------------------- */

GStrv
csb_user_net_build_argv (CsbUserNetKind  kind,
                         const char     *path,
                         gboolean        as_root,
                         int             netns_fd,
                         int             userns_fd,
                         int             ready_fd)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup (path));
  if (kind == CSB_USER_NET_PASTA)
    {
      static const char * const fixed[] = {
        "--config-net", "--foreground", "--quiet", "--no-map-gw",
        "--tcp-ports", "none", "--udp-ports", "none",
        "--tcp-ns", "none", "--udp-ns", "none",
        "--no-netns-quit",
        NULL
      };

      for (guint i = 0; fixed[i] != NULL; i++)
        g_ptr_array_add (argv, g_strdup (fixed[i]));
      /* As root pasta would change to nobody, which may not enter the namespace. */
      if (as_root)
        {
          g_ptr_array_add (argv, g_strdup ("--runas"));
          g_ptr_array_add (argv, g_strdup ("0"));
        }
      g_ptr_array_add (argv, g_strdup ("--userns"));
      g_ptr_array_add (argv, g_strdup_printf ("/proc/self/fd/%d", userns_fd));
      g_ptr_array_add (argv, g_strdup ("--netns"));
      g_ptr_array_add (argv, g_strdup_printf ("/proc/self/fd/%d", netns_fd));
      g_ptr_array_add (argv, g_strdup ("--pid"));
      g_ptr_array_add (argv, g_strdup_printf ("/proc/self/fd/%d", ready_fd));
    }
  else
    {
      static const char * const fixed[] = {
        "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-seccomp",
        "--netns-type=path",
        NULL
      };

      for (guint i = 0; fixed[i] != NULL; i++)
        g_ptr_array_add (argv, g_strdup (fixed[i]));
      g_ptr_array_add (argv, g_strdup_printf ("--ready-fd=%d", ready_fd));
      g_ptr_array_add (argv, g_strdup_printf ("--userns-path=/proc/self/fd/%d", userns_fd));
      g_ptr_array_add (argv, g_strdup_printf ("/proc/self/fd/%d", netns_fd));
      g_ptr_array_add (argv, g_strdup ("tap0"));
    }
  g_ptr_array_add (argv, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&argv), FALSE);
}


typedef struct
{
  pid_t parent;
} ChildSetup;

static void
child_setup (gpointer user_data)
{
  ChildSetup *setup = user_data;

  /* The stack lives exactly as long as the monitor (and so the sandbox): a
   * monitor killed outright takes it along. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != setup->parent)
    _exit (1);
  /* The monitor ignores SIGPIPE; pasta of 2023 refuses to start unless it is at
   * its default. */
  signal (SIGPIPE, SIG_DFL);
}

/* The stack's first bytes on its ready descriptor, within the time-out: pasta
 * writes its pid into its "PID file" once the namespace is configured,
 * slirp4netns a "1". */
static gboolean
wait_ready (int      fd,
            GError **error)
{
  gint64 deadline = g_get_monotonic_time () + CSB_USER_NET_READY_TIMEOUT_MS * 1000;
  char buf[64];

  for (;;)
    {
      struct pollfd pfd = { fd, POLLIN, 0 };
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      ssize_t n;
      int r;

      if (left <= 0)
        {
          g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                       "the network stack was not up after %d s",
                       CSB_USER_NET_READY_TIMEOUT_MS / 1000);
          return FALSE;
        }
      r = poll (&pfd, 1, left);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        continue;
      n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n > 0)
        return TRUE;
      /* EOF: it exited; its own message went to our stderr, the service's log. */
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED,
                           "the network stack failed to start (its message is in the "
                           "service's log)");
      return FALSE;
    }
}

/* ---- in the monitor's child, before it runs bwrap ------------------------------ */

/* Writes @text to @path (a file of /proc/self); async-signal-safe. */
static gboolean
write_proc (const char *path,
            const char *text)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  size_t len = strlen (text);
  gboolean ok;

  if (fd < 0)
    return FALSE;
  ok = write (fd, text, len) == (ssize_t) len;
  close (fd);
  return ok;
}

/* "@id @id 1\n" into @buf (32 bytes); async-signal-safe (no printf). */
static void
format_own_map (char     *buf,
                unsigned  id)
{
  char digits[16];
  int n = 0;
  char *p = buf;

  do
    digits[n++] = '0' + id % 10;
  while ((id /= 10) > 0);
  for (int round = 0; round < 2; round++)
    {
      for (int i = n - 1; i >= 0; i--)
        *p++ = digits[i];
      *p++ = ' ';
    }
  strcpy (p, "1\n");
}

int
csb_user_net_unshare (void)
{
  uid_t uid = getuid ();
  gid_t gid = getgid ();
  char map[32];

  if (unshare (CLONE_NEWUSER | CLONE_NEWNET) != 0)
    return -1;
  /* The user mapped to itself, its group after setgroups is denied: all the kernel
   * lets a process map in a namespace of its own, root included (bwrap maps its
   * own namespace for the sandbox the same way). */
  format_own_map (map, uid);
  if (!write_proc ("/proc/self/uid_map", map) ||
      !write_proc ("/proc/self/setgroups", "deny"))
    return -1;
  format_own_map (map, gid);
  if (!write_proc ("/proc/self/gid_map", map))
    return -1;
  return 0;
}

/* The network namespace of @pid, opened (checked not to be ours: with --share-net
 * bwrap would otherwise run the sandbox in the host's), or -1 with @error set. */
static int
open_sandbox_netns (pid_t    pid,
                    GError **error)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/ns/net", (int) pid);
  struct stat st, own;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0 || fstat (fd, &st) != 0 || stat ("/proc/self/ns/net", &own) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot open %s: %s", path,
                   g_strerror (errno));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  if (st.st_dev == own.st_dev && st.st_ino == own.st_ino)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "process %d has no network namespace of its own", (int) pid);
      close (fd);
      return -1;
    }
  return fd;
}

GPid
csb_user_net_spawn (CsbUserNetKind  kind,
                    const char     *path,
                    pid_t           pid,
                    int            *out_ready_fd,
                    GError        **error)
{
  int netns_fd;
  int userns_fd;
  GPid child;

  *out_ready_fd = -1;
  if ((netns_fd = open_sandbox_netns (pid, error)) < 0)
    return 0;
  userns_fd = ioctl (netns_fd, NS_GET_USERNS);
  if (userns_fd < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "cannot find the owner of the sandbox's network namespace: %s",
                   g_strerror (errno));
      close (netns_fd);
      return 0;
    }
  fcntl (userns_fd, F_SETFD, FD_CLOEXEC);
  child = csb_user_net_spawn_on (kind, path, netns_fd, userns_fd, out_ready_fd, error);
  close (netns_fd);
  close (userns_fd);
  return child;
}

GPid
csb_user_net_spawn_on (CsbUserNetKind  kind,
                       const char     *path,
                       int             netns_fd,
                       int             userns_fd,
                       int            *out_ready_fd,
                       GError        **error)
{
  g_auto(GStrv) argv = NULL;
  int ready[2] = { -1, -1 };
  ChildSetup setup = { getpid () };
  const int targets[] = { NETNS_FD, USERNS_FD, READY_FD };
  GPid child = 0;
  gboolean ok;

  *out_ready_fd = -1;
  if (!g_unix_open_pipe (ready, FD_CLOEXEC, error))
    return 0;
  argv = csb_user_net_build_argv (kind, path, geteuid () == 0, NETNS_FD, USERNS_FD, READY_FD);
  ok = g_spawn_async_with_pipes_and_fds (NULL, (const char * const *) argv,
                                         (const char * const[]) { NULL },
                                         G_SPAWN_DO_NOT_REAP_CHILD |
                                         G_SPAWN_STDIN_FROM_DEV_NULL |
                                         G_SPAWN_STDOUT_TO_DEV_NULL,
                                         child_setup, &setup, -1, -1, -1,
                                         (const int[]) { netns_fd, userns_fd, ready[1] },
                                         targets, G_N_ELEMENTS (targets),
                                         &child, NULL, NULL, NULL, error);
  close (ready[1]);
  if (!ok)
    {
      close (ready[0]);
      g_prefix_error (error, "cannot start %s: ", path);
      return 0;
    }
  *out_ready_fd = ready[0];
  return child;
}

gboolean
csb_user_net_make_ahead (int     *out_userns_fd,
                         int     *out_netns_fd,
                         GError **error)
{
  int sync[2];
  pid_t child, parent = getpid ();
  char byte = 0;
  ssize_t n;
  int saved = 0;

  *out_userns_fd = *out_netns_fd = -1;
  if (!g_unix_open_pipe (sync, FD_CLOEXEC, error))
    return FALSE;
  child = fork ();
  if (child < 0)
    {
      saved = errno;
      close (sync[0]);
      close (sync[1]);
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot fork: %s", g_strerror (saved));
      return FALSE;
    }
  if (child == 0)
    {
      /* Says it is in them, then waits to be killed (or for us to die). */
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      if (getppid () != parent)
        _exit (1);
      close (sync[0]);
      if (csb_user_net_unshare () != 0 || write (sync[1], "x", 1) != 1)
        _exit (1);
      for (;;)
        pause ();
    }
  close (sync[1]);
  do
    n = read (sync[0], &byte, 1);
  while (n < 0 && errno == EINTR);
  close (sync[0]);
  if (n == 1)
    {
      g_autofree char *user = g_strdup_printf ("/proc/%d/ns/user", (int) child);
      g_autofree char *net = g_strdup_printf ("/proc/%d/ns/net", (int) child);

      *out_userns_fd = open (user, O_RDONLY | O_CLOEXEC);
      *out_netns_fd = open (net, O_RDONLY | O_CLOEXEC);
      saved = errno;
    }
  kill (child, SIGKILL);
  waitpid (child, NULL, 0);
  if (*out_userns_fd < 0 || *out_netns_fd < 0)
    {
      if (*out_userns_fd >= 0)
        close (*out_userns_fd);
      if (*out_netns_fd >= 0)
        close (*out_netns_fd);
      *out_userns_fd = *out_netns_fd = -1;
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "cannot make a network namespace ahead: %s",
                   n == 1 ? g_strerror (saved) : "its process failed");
      return FALSE;
    }
  return TRUE;
}

int
csb_user_net_enter (int userns_fd,
                    int netns_fd)
{
  if (setns (userns_fd, CLONE_NEWUSER) != 0 || setns (netns_fd, CLONE_NEWNET) != 0)
    return -1;
  return 0;
}

gboolean
csb_user_net_wait (CsbUserNetKind  kind,
                   GPid            child,
                   int             ready_fd,
                   GError        **error)
{
  gboolean ok = wait_ready (ready_fd, error);

  close (ready_fd);
  if (!ok)
    {
      kill (child, SIGKILL);
      waitpid (child, NULL, 0);
      g_prefix_error (error, "%s: ", csb_user_net_kind_name (kind));
    }
  return ok;
}
