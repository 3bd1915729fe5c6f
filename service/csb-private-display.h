/* csb-private-display.h — a container's private display: the headless compositor
 * (csb-compositor.c) the service starts for it, and ends with it. (A bwrap sandbox's
 * is its monitor's.)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "csb-backend.h"

G_BEGIN_DECLS

typedef struct _CsbPrivateDisplay CsbPrivateDisplay;

/* Spawns @spec's compositor in csb_bwrap_private_display_dir() (where Screenshot()
 * looks), confined as bwrap's is. Call it on the main thread: the compositor ends
 * with the thread that started it (and so with the service). NULL and @error if
 * weston is missing or cannot be spawned. */
CsbPrivateDisplay *csb_private_display_start   (CsbSandboxSpec     *spec,
                                                GError            **error);
/* Until it listens; FALSE if it exited or did not in time. Any thread. */
gboolean           csb_private_display_wait    (CsbPrivateDisplay  *self,
                                                GError            **error);
/* Its folder, which the sandbox gets (csb_layout_private_display). */
const char        *csb_private_display_get_dir (CsbPrivateDisplay  *self);
/* Whether it has X11 (Xwayland's X0 in its folder's x11: csb_compositor_has_x11()). */
gboolean           csb_private_display_has_x11 (CsbPrivateDisplay  *self);
/* Ends the compositor (if it still runs) and removes its socket. Any thread. */
void               csb_private_display_free    (CsbPrivateDisplay  *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbPrivateDisplay, csb_private_display_free)

G_END_DECLS
