/* csb-private-display.c — a container's private display: the same headless,
 * confined weston as a bwrap sandbox's monitor starts (csb-compositor.c), started by
 * the service, which supervises the container. Its pid is reaped by a child watch on
 * the main loop; it is signalled through a pidfd, which no reaped and reused pid can
 * redirect.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gio/gio.h>

#include "csb-bwrap-backend.h"
#include "csb-compositor.h"
#include "csb-error.h"
#include "csb-helper-path.h"
#include "csb-landlock.h"
#include "csb-private-display.h"
#include "csb-seccomp.h"

struct _CsbPrivateDisplay
{
  char   *bwrap;
  char   *weston;
  char   *init;
  char   *dir;
  GPid     pid;
  int      pidfd;
  gboolean x11;
};

static void
reap (GPid     pid,
      gint     status,
      gpointer user_data)
{
  g_spawn_close_pid (pid);
}

static CsbCompositorConfig
config_of (CsbPrivateDisplay *self)
{
  return (CsbCompositorConfig) { self->bwrap, self->weston, self->dir, -1, self->init,
                                 csb_landlock_abi () >= CSB_LANDLOCK_SCOPE_ABI, self->x11 };
}

CsbPrivateDisplay *
csb_private_display_start (CsbSandboxSpec *spec,
                           GError        **error)
{
  g_autoptr(CsbPrivateDisplay) self = g_new0 (CsbPrivateDisplay, 1);
  const char *bwrap = g_getenv ("CSB_BWRAP");
  CsbCompositorConfig config;
  gboolean spawned;

  self->pidfd = -1;
  self->bwrap = g_strdup (bwrap != NULL && *bwrap != '\0' ? bwrap : BWRAP);
  self->dir = csb_bwrap_private_display_dir (spec);
  self->x11 = csb_compositor_has_x11 ();
  if ((self->weston = g_find_program_in_path ("weston")) == NULL)
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                           "a private display needs weston (its headless backend); "
                           "install the 'weston' package");
      return NULL;
    }
  self->init = csb_helper_path (NULL, "claude-sandbox-init", NULL);
  if (self->init == NULL)
    self->init = g_build_filename (LIBEXECDIR, "claude-sandbox-init", NULL);
  config = config_of (self);
  /* The compositor parses the sandbox's requests: it runs as confined as a bwrap
   * sandbox, under the same seccomp filter and Landlock scoping. */
  if ((config.seccomp_fd = csb_seccomp_filter_fd (error)) < 0)
    return NULL;
  spawned = csb_compositor_spawn (&config, &self->pid, error);
  close (config.seccomp_fd);
  if (!spawned)
    {
      g_prefix_error (error, "cannot start the private display: ");
      return NULL;
    }
  self->pidfd = (int) syscall (SYS_pidfd_open, self->pid, 0);
  g_child_watch_add (self->pid, reap, NULL);
  return g_steal_pointer (&self);
}

gboolean
csb_private_display_wait (CsbPrivateDisplay *self,
                          GError           **error)
{
  CsbCompositorConfig config = config_of (self);

  if (!csb_compositor_wait (&config, self->pid, error))
    {
      g_prefix_error (error, "cannot start the private display: ");
      return FALSE;
    }
  return TRUE;
}

const char *
csb_private_display_get_dir (CsbPrivateDisplay *self)
{
  return self->dir;
}

gboolean
csb_private_display_has_x11 (CsbPrivateDisplay *self)
{
  return self->x11;
}

void
csb_private_display_free (CsbPrivateDisplay *self)
{
  if (self->pidfd >= 0)
    {
      syscall (SYS_pidfd_send_signal, self->pidfd, SIGTERM, NULL, 0);
      close (self->pidfd);
    }
  else if (self->pid > 0)
    kill (self->pid, SIGTERM);  /* a kernel without pidfds (before 5.3) */
  csb_compositor_stop (0, self->dir);
  g_free (self->bwrap);
  g_free (self->weston);
  g_free (self->init);
  g_free (self->dir);
  g_free (self);
}
