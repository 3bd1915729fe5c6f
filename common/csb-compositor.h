/* csb-compositor.h — a sandbox's private display: a headless weston in a bwrap of
 * its own, listening on wayland-0 in a folder of the caller's. The monitor starts one
 * for a bwrap sandbox, the service one for a container (csb-private-display.c).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The socket's name in the display's folder, and WAYLAND_DISPLAY inside. */
#define CSB_COMPOSITOR_SOCKET "wayland-0"
/* With X11: the folder in the display's folder that is the compositor's
 * /tmp/.X11-unix (Xwayland's socket X0 in it), and the sandbox's, with DISPLAY=:0. */
#define CSB_COMPOSITOR_X11_DIR "x11"
#define CSB_COMPOSITOR_X11_SOCKET "X0"
#define CSB_COMPOSITOR_X11_DISPLAY ":0"
/* The Xwayland weston starts (its built-in path: we give it no weston.ini). */
#define CSB_COMPOSITOR_XWAYLAND "/usr/bin/Xwayland"

typedef struct
{
  const char *bwrap;      /* the bwrap it runs in */
  const char *weston;     /* the compositor's program */
  const char *dir;        /* its folder (made 0700): the socket, its lock */
  int         seccomp_fd; /* the sandbox's seccomp filter, or -1: none */
  const char *init;       /* claude-sandbox-init to start it through, or NULL: none */
  gboolean    landlock;   /* with init: Landlock-scoped */
  gboolean    x11;        /* with Xwayland: X0 in its folder's x11 (csb_compositor_has_x11()) */
} CsbCompositorConfig;

/* Whether a private display can have X11: Xwayland is installed (Debian package
 * 'xwayland'). */
gboolean csb_compositor_has_x11 (void);

/* Spawns it (not waiting for it to listen). Its parent is the calling thread: it
 * ends when that thread does (bwrap's --die-with-parent), so call this from a thread
 * that lives as long as the display should. The pid is not reaped. */
gboolean csb_compositor_spawn (const CsbCompositorConfig *config,
                               GPid                      *pid,
                               GError                   **error);
/* Until its socket (and with x11 its X socket) is there, each a socket, not a link;
 * FALSE if it exited or did not listen in time. Any thread; reaps nothing. */
gboolean csb_compositor_wait  (const CsbCompositorConfig *config,
                               GPid                       pid,
                               GError                   **error);
/* Ends it (SIGTERM to @pid, if > 0) and takes its socket away at once: nothing can
 * connect to a display whose sandbox ended. Removes what it made in @dir, and @dir
 * if that leaves it empty: names only, no link followed. */
void     csb_compositor_stop  (GPid                       pid,
                               const char                *dir);

G_END_DECLS
