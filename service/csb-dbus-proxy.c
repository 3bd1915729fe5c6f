/* csb-dbus-proxy.c
 *
 * The handshake is xdg-dbus-proxy's --fd: the proxy writes one byte on the pipe
 * once its socket listens, and exits when the pipe's other end is closed. Someone
 * waits for the byte (csb_dbus_proxy_start: we, blocking, so from a worker thread;
 * a sandbox's monitor does it itself while the service goes on), then the other end
 * goes to bwrap's --sync-fd, which keeps it open exactly as long as the sandbox
 * lives. So the proxy never outlives its sandbox, even if the service dies.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib-unix.h>

#include "csb-argv.h"
#include "csb-dbus-proxy.h"
#include "csb-error.h"


/* xdg-dbus-proxy: DBUS_PROXY from the build, or $CSB_DBUS_PROXY, read once. The
 * variable is for tests (a proxy that fails); the service's own environment sets it,
 * no caller can. */
static const char *
dbus_proxy_path (void)
{
  static gsize once;
  static const char *path;

  if (g_once_init_enter (&once))
    {
      const char *env = g_getenv ("CSB_DBUS_PROXY");

      path = env != NULL && *env != '\0' ? g_strdup (env) : DBUS_PROXY;
      g_once_init_leave (&once, 1);
    }
  return path;
}

static int
args_memfd (CsbArgv *args,
            GError **error)
{
  g_autoptr(GBytes) data = csb_argv_to_nul_data (args);
  gsize len;
  const char *bytes = g_bytes_get_data (data, &len);
  int fd = memfd_create ("claude-sandbox-dbus-proxy-args", MFD_CLOEXEC);

  if (fd < 0 || write (fd, bytes, len) != (ssize_t) len || lseek (fd, 0, SEEK_SET) < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "cannot pass arguments to xdg-dbus-proxy: %s", g_strerror (errno));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  return fd;
}

gboolean
csb_dbus_proxy_spawn (const char         *upstream_address,
                      const char         *socket_path,
                      const char * const *talk,
                      GPid               *out_pid,
                      int                *out_sync_fd,
                      GError            **error)
{
  g_autoptr(CsbArgv) args = csb_argv_new ();
  g_autoptr(CsbArgv) outer = csb_argv_new ();
  const char * const envp[] = { NULL };
  int sync_pipe[2];
  int sync_target, args_fd, args_target;
  GPid pid;

  if (!g_file_test (dbus_proxy_path (), G_FILE_TEST_IS_EXECUTABLE))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "xdg-dbus-proxy is not installed (%s is missing); install the "
                   "'xdg-dbus-proxy' package", dbus_proxy_path ());
      return FALSE;
    }
  if (!g_unix_open_pipe (sync_pipe, FD_CLOEXEC, error))
    return FALSE;

  csb_argv_add_args (args, upstream_address, socket_path, "--filter", NULL);
  for (guint i = 0; talk != NULL && talk[i] != NULL; i++)
    csb_argv_addf (args, "--talk=%s", talk[i]);
  if ((args_fd = args_memfd (args, error)) < 0)
    {
      close (sync_pipe[0]);
      close (sync_pipe[1]);
      return FALSE;
    }

  sync_target = csb_argv_take_fd (outer, sync_pipe[1]);
  args_target = csb_argv_take_fd (outer, args_fd);
  csb_argv_add (outer, dbus_proxy_path ());
  csb_argv_addf (outer, "--fd=%d", sync_target);
  csb_argv_addf (outer, "--args=%d", args_target);

  if (!g_spawn_async_with_pipes_and_fds (NULL, csb_argv_finish (outer), envp,
                                         G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                         -1, -1, -1,
                                         (const int *) outer->source_fds->data,
                                         (const int *) outer->target_fds->data,
                                         outer->source_fds->len, &pid,
                                         NULL, NULL, NULL, error))
    {
      close (sync_pipe[0]);
      g_prefix_error (error, "cannot start xdg-dbus-proxy: ");
      return FALSE;
    }
  /* Our copy of the write end goes with @outer: a dying proxy gives EOF. */
  *out_pid = pid;
  *out_sync_fd = sync_pipe[0];
  return TRUE;
}

char *
csb_dbus_proxy_not_ready_message (const char *upstream_address)
{
  return g_strdup_printf ("xdg-dbus-proxy did not start (is the session bus at '%s' "
                          "reachable?)", upstream_address);
}

gboolean
csb_dbus_proxy_start (const char         *upstream_address,
                      const char         *socket_path,
                      const char * const *talk,
                      GPid               *out_pid,
                      int                *out_sync_fd,
                      GError            **error)
{
  struct pollfd pfd;
  char byte;
  GPid pid;
  int sync_fd, r;

  if (!csb_dbus_proxy_spawn (upstream_address, socket_path, talk, &pid, &sync_fd, error))
    return FALSE;
  pfd.fd = sync_fd;
  pfd.events = POLLIN;
  do
    r = poll (&pfd, 1, CSB_DBUS_PROXY_READY_TIMEOUT_MS);
  while (r < 0 && errno == EINTR);
  if (r <= 0 || read (sync_fd, &byte, 1) != 1)
    {
      g_autofree char *message = csb_dbus_proxy_not_ready_message (upstream_address);

      close (sync_fd);
      kill (pid, SIGKILL);
      waitpid (pid, NULL, 0);
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED, message);
      return FALSE;
    }
  *out_pid = pid;
  *out_sync_fd = sync_fd;
  return TRUE;
}
