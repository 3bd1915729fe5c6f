/* csb-screenshooter.c — weston's screenshooter client, confined, for Screenshot().
 *
 * The screenshooter speaks Wayland with the sandbox's compositor, which parses what
 * the sandbox's clients send: a compositor they took over could answer anything. So
 * the client runs as confined as the compositor itself (csb-compositor.c): a bwrap of
 * its own with /usr, the display's folder read-only, a fresh folder of ours for the
 * PNG, no network, no capabilities, none of the user's files, under the sandbox's
 * seccomp filter; and it ends with the service (--die-with-parent).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <unistd.h>

#include "csb-argv.h"
#include "csb-error.h"
#include "csb-screenshooter.h"
#include "csb-seccomp.h"

#define SECCOMP_FD "3"

/* Started with its output folder @out_dir as its working folder, where it writes the
 * PNG; @socket is the compositor's, in @display_dir. */
GSubprocess *
csb_screenshooter_spawn (const char *display_dir,
                         const char *socket,
                         const char *out_dir,
                         GError    **error)
{
  const char *bwrap = g_getenv ("CSB_BWRAP");
  g_autofree char *shooter = g_find_program_in_path ("weston-screenshooter");
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(CsbArgv) argv = csb_argv_new ();
  int seccomp_fd;

  if (shooter == NULL)
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                           "weston-screenshooter is not installed (the 'weston' package)");
      return NULL;
    }
  if ((seccomp_fd = csb_seccomp_filter_fd (error)) < 0)
    return NULL;
  csb_argv_add_args (argv, bwrap != NULL && *bwrap != '\0' ? bwrap : BWRAP,
                     "--unshare-all", "--unshare-user", "--cap-drop", "ALL",
                     "--die-with-parent", "--new-session",
                     "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
                     "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
                     "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                     "--ro-bind", shooter, shooter,
                     "--ro-bind", display_dir, display_dir,
                     "--bind", out_dir, out_dir, "--chdir", out_dir,
                     "--clearenv", "--setenv", "WAYLAND_DISPLAY", socket,
                     "--setenv", "XDG_RUNTIME_DIR", out_dir,
                     "--setenv", "PATH", "/usr/bin:/bin",
                     "--seccomp", SECCOMP_FD, "--", shooter, NULL);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                        G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_set_environ (launcher, (char *[]) { NULL });
  g_subprocess_launcher_take_fd (launcher, seccomp_fd, 3);
  return g_subprocess_launcher_spawnv (launcher, (const char * const *) csb_argv_finish (argv),
                                       error);
}
