/* csb-peer.c
 *
 * The control sockets (each monitor's monitor.sock) take commands that read and type
 * into a sandbox's terminal and stop it. They accept only a peer that is ours and not
 * inside any sandbox: SO_PEERCRED's uid must be our uid, and the peer must share our
 * user and mount namespaces. Every sandbox has a user namespace of its own (bwrap is
 * always told --unshare-user, the containers have an idmap, a VM has its own kernel),
 * and a process cannot leave its user namespace for its parent's, so a sandbox that got
 * hold of the socket's path (a bind of the runtime folder, a link planted for the next
 * sandbox) is refused even though its uid maps to ours. The mount namespace is compared
 * too, for processes that share our user namespace but not our view of the files (a
 * root service's sandboxes without a user namespace of their own, were there any).
 *
 * Why not a per-sandbox secret: a secret must be stored somewhere the next service can
 * read it (the state record), and the very attack this stops is a sandbox reaching
 * files of ours it should not; a namespace is a property of the peer, not something it
 * can learn. The check is symmetric: the service applies it to the monitor it connects
 * to, so a socket planted in the monitor's place by a sandbox is not believed either.
 *
 * The peer's pid is only a number, and numbers are reused: the process that connected
 * could exit and a host process take its pid before we look at /proc. So the check
 * looks through a pidfd, which names one process: SO_PEERPIDFD (Linux 6.5) is the
 * connecting process itself; on older kernels a pidfd is opened on SO_PEERCRED's pid
 * and that process must have started before the check began (a reused pid belongs to
 * a process started after the peer's end, which a quick attacker can squeeze in before
 * our accept only on such kernels, and only if one of the host's own processes of ours
 * happens to get the pid). After /proc was read, the pidfd must still name a process
 * that has not been reaped, so the pid read was still that process's.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>

#include "csb-peer.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* 1 if @pid shares our namespace @name, 0 if not, -1 if it cannot be told (the
 * process is gone, or a zombie). */
static int
same_namespace (pid_t       pid,
                const char *name)
{
  g_autofree char *theirs_path = g_strdup_printf ("/proc/%d/ns/%s", (int) pid, name);
  g_autofree char *ours_path = g_strdup_printf ("/proc/self/ns/%s", name);
  struct stat theirs, ours;

  if (stat (theirs_path, &theirs) != 0 || stat (ours_path, &ours) != 0)
    return -1;
  return theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino;
}

/* When @pid started, in clock ticks since boot (field 22 of its stat); 0 if unknown. */
static guint64
start_ticks (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *text = NULL;
  const char *p;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (p = strrchr (text, ')')) == NULL)
    return 0;
  /* After the command's ")" comes the space before field 3 (the state); each step
   * moves to the space before the next field, up to the start time, field 22. */
  p++;
  for (int field = 3; field < 22 && p != NULL; field++)
    p = strchr (p + 1, ' ');
  return p != NULL ? g_ascii_strtoull (p + 1, NULL, 10) : 0;
}

static gboolean
refuse (GError    **error,
        const char *format,
        ...) G_GNUC_PRINTF (2, 3);

static gboolean
refuse (GError    **error,
        const char *format,
        ...)
{
  va_list args;

  va_start (args, format);
  if (error != NULL)
    *error = g_error_new_valist (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, format, args);
  va_end (args);
  return FALSE;
}

static gboolean
check_host (int      socket_fd,
            gboolean peer_pidfd,
            GError **error)
{
  struct ucred cred;
  socklen_t len = sizeof cred;
  int pidfd = -1;
  int user, mnt;
  gboolean ok;
  guint64 now_ticks = 0;

  if (getsockopt (socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      len != sizeof cred)
    return refuse (error, "no peer credentials: %s", g_strerror (errno));
  if (cred.uid != geteuid ())
    return refuse (error, "peer uid %u is not ours", (guint) cred.uid);
  if (cred.pid <= 0)
    return refuse (error, "the peer's process is not visible here");

  len = sizeof pidfd;
  if (!peer_pidfd || getsockopt (socket_fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0)
    {
      struct timespec ts;

      pidfd = -1;
      /* Any other answer than "not known to this kernel": the peer is gone. */
      if (peer_pidfd && errno != ENOPROTOOPT)
        return refuse (error, "peer pid %d is gone: %s", (int) cred.pid, g_strerror (errno));
      if (clock_gettime (CLOCK_BOOTTIME, &ts) == 0)
        now_ticks = (guint64) ts.tv_sec * sysconf (_SC_CLK_TCK) +
                    (guint64) ts.tv_nsec * sysconf (_SC_CLK_TCK) / G_GUINT64_CONSTANT (1000000000);
      pidfd = syscall (SYS_pidfd_open, cred.pid, 0);
      if (pidfd < 0)
        return refuse (error, "peer pid %d is gone: %s", (int) cred.pid, g_strerror (errno));
      if (now_ticks > 0 && start_ticks (cred.pid) > now_ticks)
        {
          close (pidfd);
          return refuse (error, "peer pid %d was reused", (int) cred.pid);
        }
    }

  if ((user = same_namespace (cred.pid, "user")) < 0 ||
      (mnt = same_namespace (cred.pid, "mnt")) < 0)
    ok = refuse (error, "peer pid %d is gone", (int) cred.pid);
  else if (!user)
    ok = refuse (error, "peer pid %d is in another user namespace (a sandbox)",
                 (int) cred.pid);
  else if (!mnt)
    ok = refuse (error, "peer pid %d is in another mount namespace", (int) cred.pid);
  /* Still that process (alive or a zombie, not reaped): what /proc showed was its. */
  else if (syscall (SYS_pidfd_send_signal, pidfd, 0, NULL, 0) != 0)
    ok = refuse (error, "peer pid %d ended during the check", (int) cred.pid);
  else
    ok = TRUE;
  close (pidfd);
  return ok;
}

gboolean
csb_peer_check_host (int      socket_fd,
                     GError **error)
{
  return check_host (socket_fd, TRUE, error);
}

/* The same as kernels before 6.5 (no SO_PEERPIDFD) do it, for tests on newer ones. */
gboolean
csb_peer_check_host_without_peer_pidfd (int      socket_fd,
                                        GError **error)
{
  return check_host (socket_fd, FALSE, error);
}
