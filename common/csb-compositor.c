/* csb-compositor.c — a sandbox's private display: a headless weston (pixman, no
 * input, no output but memory) listening on wayland-0 in its folder. --debug offers
 * weston's screenshooter (how the service takes Screenshot()) to its clients: every
 * one of them is the sandbox's, and sees only the sandbox's own windows. No
 * weston.ini: the user's would apply to the sandbox's compositor. It parses what the
 * sandbox's clients send, so it runs in a bwrap of its own: /usr, the fonts'
 * configuration and its folder, no network, no capabilities, none of the user's
 * files; and as the sandbox runs: under its seccomp filter and, through our init
 * with --landlock, Landlock-scoped. With x11, weston's xwayland module listens on
 * X0 in its /tmp/.X11-unix (its folder's x11, a mount point in its bwrap: it cannot
 * swap that folder for a link) and on an abstract socket in its own network
 * namespace (nobody else's), and starts Xwayland in the same bwrap at the first
 * client. Every X client sees every other's windows: all are the sandbox's.
 * Xwayland lets in clients of its own user only (a localuser entry it looks up in
 * /etc/passwd): its bwrap gets a one-line passwd of that user, nothing of the host's.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
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
                 const char                *seccomp_arg,
                 const char                *x11_dir,
                 const char                *passwd_arg)
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
  if (config->x11)
    {
      const char *x11[] = { "--bind", x11_dir, x11_dir, "--bind", x11_dir, "/tmp/.X11-unix",
                            "--ro-bind-data", passwd_arg, "/etc/passwd", NULL };

      for (guint i = 0; x11[i] != NULL; i++)
        g_ptr_array_add (argv, (char *) x11[i]);
    }
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
  if (config->x11)
    g_ptr_array_add (argv, "--xwayland");
  g_ptr_array_add (argv, NULL);
  return argv;
}

gboolean
csb_compositor_has_x11 (void)
{
  return g_file_test (CSB_COMPOSITOR_XWAYLAND, G_FILE_TEST_IS_EXECUTABLE);
}

/* Its folder, and @x11_dir (if not NULL) in it: a folder, not a link a compositor
 * before left there. */
static gboolean
make_dirs (const char *dir,
           const char *x11_dir,
           GError    **error)
{
  struct stat st;

  if (g_mkdir_with_parents (dir, 0700) != 0 || chmod (dir, 0700) != 0 ||
      (x11_dir != NULL && mkdir (x11_dir, 0700) != 0 && errno != EEXIST))
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "cannot make %s: %s",
                   dir, g_strerror (errno));
      return FALSE;
    }
  if (x11_dir != NULL && (lstat (x11_dir, &st) != 0 || !S_ISDIR (st.st_mode)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY, "%s is not a folder", x11_dir);
      return FALSE;
    }
  return TRUE;
}

/* A passwd of one line, the caller's user, for Xwayland's access control; an fd
 * at its start, or -1. */
static int
passwd_fd (void)
{
  const char *name = g_get_user_name ();
  g_autofree char *line = NULL;
  int fd = memfd_create ("passwd", MFD_CLOEXEC);

  if (strpbrk (name, ":\n") != NULL)
    name = "sandbox";
  line = g_strdup_printf ("%s:x:%u:%u::/:/bin/false\n", name, (guint) getuid (),
                          (guint) getgid ());
  if (fd >= 0 && (write (fd, line, strlen (line)) != (ssize_t) strlen (line) ||
                  lseek (fd, 0, SEEK_SET) != 0))
    {
      close (fd);
      fd = -1;
    }
  return fd;
}

gboolean
csb_compositor_spawn (const CsbCompositorConfig *config,
                      GPid                      *pid,
                      GError                   **error)
{
  g_autofree char *socket = g_build_filename (config->dir, CSB_COMPOSITOR_SOCKET, NULL);
  g_autofree char *seccomp_arg = g_strdup_printf ("%d", config->seccomp_fd);
  g_autofree char *x11_dir = g_build_filename (config->dir, CSB_COMPOSITOR_X11_DIR, NULL);
  int passwd = config->x11 ? passwd_fd () : -1;
  g_autofree char *passwd_arg = g_strdup_printf ("%d", passwd);
  g_autoptr(GPtrArray) argv = compositor_argv (config, seccomp_arg, x11_dir, passwd_arg);
  const char *envp[] = { NULL };
  int fds[2];
  guint n_fds = 0;
  int null_fd;
  gboolean ok;

  *pid = 0;
  if (config->seccomp_fd >= 0)
    fds[n_fds++] = config->seccomp_fd;
  if (passwd >= 0)
    fds[n_fds++] = passwd;
  else if (config->x11)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                   "cannot make the display's passwd: %s", g_strerror (errno));
      return FALSE;
    }
  if (!make_dirs (config->dir, config->x11 ? x11_dir : NULL, error))
    {
      if (passwd >= 0)
        close (passwd);
      return FALSE;
    }
  unlink (socket);
  null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  ok = g_spawn_async_with_pipes_and_fds (config->dir, (const char * const *) argv->pdata, envp,
                                         G_SPAWN_DO_NOT_REAP_CHILD, child_setup, NULL,
                                         null_fd, null_fd, null_fd, fds, fds, n_fds, pid, NULL,
                                         NULL, NULL, error);
  if (null_fd >= 0)
    close (null_fd);
  if (passwd >= 0)
    close (passwd);
  return ok;
}

/* A socket itself, not a link to one: the folder is the compositor's. */
static gboolean
is_socket (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0 && S_ISSOCK (st.st_mode);
}

gboolean
csb_compositor_wait (const CsbCompositorConfig *config,
                     GPid                       pid,
                     GError                   **error)
{
  g_autofree char *socket = g_build_filename (config->dir, CSB_COMPOSITOR_SOCKET, NULL);
  g_autofree char *x11 = g_build_filename (config->dir, CSB_COMPOSITOR_X11_DIR,
                                           CSB_COMPOSITOR_X11_SOCKET, NULL);
  gint64 deadline = g_get_monotonic_time () + START_TIMEOUT_S * G_USEC_PER_SEC;

  while (!is_socket (socket) || (config->x11 && !is_socket (x11)))
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
      g_autofree char *x11_dir = g_build_filename (dir, CSB_COMPOSITOR_X11_DIR, NULL);
      g_autofree char *x11 = g_build_filename (x11_dir, CSB_COMPOSITOR_X11_SOCKET, NULL);

      unlink (socket);
      unlink (lock);
      unlink (x11);
      rmdir (x11_dir);
      rmdir (dir);
    }
}
