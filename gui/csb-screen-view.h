/* csb-screen-view.h — a sandbox's private display, as pictures: a view only, no input.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "csb-dbus.h"

G_BEGIN_DECLS

#define CSB_TYPE_SCREEN_VIEW (csb_screen_view_get_type ())

G_DECLARE_FINAL_TYPE (CsbScreenView, csb_screen_view, CSB, SCREEN_VIEW, AdwBin)

GtkWidget  *csb_screen_view_new         (void);
/* Shows @sandbox's private display, refreshed while the view is on screen (NULL:
 * none); @remote: a connection's sandbox (see csb_screen_feed_set_sandbox()). */
void        csb_screen_view_set_sandbox (CsbScreenView  *self,
                                         CsbDBusSandbox *sandbox,
                                         gboolean        remote);
/* The picture shown (NULL before the first one), and why none can be shown, or NULL. */
GdkTexture *csb_screen_view_get_texture (CsbScreenView  *self);
const char *csb_screen_view_get_error   (CsbScreenView  *self);

G_END_DECLS
