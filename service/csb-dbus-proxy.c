/* csb-dbus-proxy.c
 *
 * The handshake is xdg-dbus-proxy's --fd: the proxy writes one byte on the pipe
 * once its socket listens, and exits when the pipe's other end is closed. We wait
 * for the byte (blocking: call this from a worker thread), then hand the other end
 * to bwrap's --sync-fd, which keeps it open exactly as long as the sandbox lives.
 * So the proxy never outlives its sandbox, even if the service dies.
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

#define PROXY_READY_TIMEOUT_MS 10000

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
csb_dbus_proxy_start (const char         *upstream_address,
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
  struct pollfd pfd;
  char byte;
  GPid pid;
  int r;

  if (!g_file_test (DBUS_PROXY, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "xdg-dbus-proxy is not installed (%s is missing); install the "
                   "'xdg-dbus-proxy' package", DBUS_PROXY);
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
  csb_argv_add (outer, DBUS_PROXY);
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
  /* Close our copy of the write end now, so a dying proxy gives EOF. */
  g_clear_pointer (&outer, csb_argv_free);

  pfd.fd = sync_pipe[0];
  pfd.events = POLLIN;
  do
    r = poll (&pfd, 1, PROXY_READY_TIMEOUT_MS);
  while (r < 0 && errno == EINTR);
  if (r <= 0 || read (sync_pipe[0], &byte, 1) != 1)
    {
      close (sync_pipe[0]);
      kill (pid, SIGKILL);
      waitpid (pid, NULL, 0);
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "xdg-dbus-proxy did not start (is the session bus at '%s' reachable?)",
                   upstream_address);
      return FALSE;
    }

  *out_pid = pid;
  *out_sync_fd = sync_pipe[0];
  return TRUE;
}
