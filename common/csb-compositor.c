/* csb-compositor.c — a sandbox's private display: a headless weston (pixman, no
 * input, no output but memory) listening on wayland-0 in its folder. --debug offers
 * weston's screenshooter (how the service takes Screenshot()) to its clients: every
 * one of them is the sandbox's, and sees only the sandbox's own windows. No
 * weston.ini: the user's would apply to the sandbox's compositor. It parses what the
 * sandbox's clients send, so it runs in a bwrap of its own: /usr, the fonts'
 * configuration and its folder, no network, no capabilities, none of the user's
 * files; and as the sandbox runs: under its seccomp filter and, through our init
 * with --landlock, Landlock-scoped.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "csb-compositor.h"

#define COMPOSITOR_INIT "/run/claude-sandbox-init"
#define START_TIMEOUT_S 20

static void
child_setup (gpointer user_data)
{
  /* Ends with its parent, even if that crashes: nothing shows a display no sandbox
   * has. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* The command line: weston in a bwrap of its own, optionally under the sandbox's
 * seccomp filter and through our init. */
static GPtrArray *
compositor_argv (const CsbCompositorConfig *config,
                 const char                *seccomp_arg)
{
  const char *dir = config->dir;
  const char *head[] = {
    config->bwrap, "--unshare-all", "--unshare-user", "--cap-drop", "ALL",
    "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib",
    "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
    "--symlink", "usr/sbin", "/sbin", "--ro-bind-try", "/etc/fonts", "/etc/fonts",
    "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
    "--bind", dir, dir, "--chdir", dir,
    "--clearenv", "--setenv", "XDG_RUNTIME_DIR", dir,
    "--setenv", "XDG_CACHE_HOME", "/tmp", "--setenv", "PATH", "/usr/bin:/bin", NULL };
  const char *tail[] = {
    config->weston, "--backend=headless-backend.so", "--use-pixman",
    "--socket=" CSB_COMPOSITOR_SOCKET, "--debug", "--idle-time=0", "--no-config", NULL };
  GPtrArray *argv = g_ptr_array_new ();

  for (guint i = 0; head[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) head[i]);
  if (config->seccomp_fd >= 0)
    {
      g_ptr_array_add (argv, "--seccomp");
      g_ptr_array_add (argv, (char *) seccomp_arg);
    }
  if (config->init != NULL)
    {
      g_ptr_array_add (argv, "--ro-bind");
      g_ptr_array_add (argv, (char *) config->init);
      g_ptr_array_add (argv, COMPOSITOR_INIT);
    }
  g_ptr_array_add (argv, "--");
  if (config->init != NULL)
    {
      g_ptr_array_add (argv, COMPOSITOR_INIT);
      if (config->landlock)
        g_ptr_array_add (argv, "--landlock");
      g_ptr_array_add (argv, "--");
    }
  for (guint i = 0; tail[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) tail[i]);
  g_ptr_array_add (argv, NULL);
  return argv;
}

gboolean
csb_compositor_spawn (const CsbCompositorConfig *config,
                      GPid                      *pid,
                      GError                   **error)
{
  g_autofree char *socket = g_build_filename (config->dir, CSB_COMPOSITOR_SOCKET, NULL);
  g_autofree char *seccomp_arg = g_strdup_printf ("%d", config->seccomp_fd);
  g_autoptr(GPtrArray) argv = compositor_argv (config, seccomp_arg);
  const char *envp[] = { NULL };
  int seccomp_fd = config->seccomp_fd;
  int null_fd;
  gboolean ok;

  *pid = 0;
  if (g_mkdir_with_parents (config->dir, 0700) != 0 || chmod (config->dir, 0700) != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "cannot make %s: %s",
                   config->dir, g_strerror (errno));
      return FALSE;
    }
  unlink (socket);
  null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  ok = g_spawn_async_with_pipes_and_fds (config->dir, (const char * const *) argv->pdata, envp,
                                         G_SPAWN_DO_NOT_REAP_CHILD, child_setup, NULL,
                                         null_fd, null_fd, null_fd, &seccomp_fd, &seccomp_fd,
                                         seccomp_fd >= 0 ? 1 : 0, pid, NULL, NULL, NULL, error);
  if (null_fd >= 0)
    close (null_fd);
  return ok;
}

gboolean
csb_compositor_wait (const CsbCompositorConfig *config,
                     GPid                       pid,
                     GError                   **error)
{
  g_autofree char *socket = g_build_filename (config->dir, CSB_COMPOSITOR_SOCKET, NULL);
  gint64 deadline = g_get_monotonic_time () + START_TIMEOUT_S * G_USEC_PER_SEC;
  struct stat st;

  while (lstat (socket, &st) != 0 || !S_ISSOCK (st.st_mode))
    {
      siginfo_t info = { 0 };
      int got = waitid (P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT);

      /* Exited (left for the caller to reap: a child watch of the service's), or
       * already reaped. */
      if ((got == 0 && info.si_pid == pid) || (got < 0 && errno == ECHILD))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s exited at its start",
                       config->weston);
          return FALSE;
        }
      if (g_get_monotonic_time () > deadline)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "%s did not listen within %d s", config->weston, START_TIMEOUT_S);
          return FALSE;
        }
      g_usleep (10000);
    }
  return TRUE;
}

void
csb_compositor_stop (GPid        pid,
                     const char *dir)
{
  if (pid > 0)
    kill (pid, SIGTERM);
  if (dir != NULL)
    {
      g_autofree char *socket = g_build_filename (dir, CSB_COMPOSITOR_SOCKET, NULL);
      g_autofree char *lock = g_strconcat (socket, ".lock", NULL);

      unlink (socket);
      unlink (lock);
      rmdir (dir);
    }
}
