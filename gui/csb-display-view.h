/* csb-display-view.h — a VM's screen, keyboard and pointer over SPICE, in a widget.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "csb-dbus.h"

G_BEGIN_DECLS

#define CSB_TYPE_DISPLAY_VIEW (csb_display_view_get_type ())

G_DECLARE_FINAL_TYPE (CsbDisplayView, csb_display_view, CSB, DISPLAY_VIEW, GtkWidget)

GtkWidget  *csb_display_view_new         (void);
/* Connects to @sandbox's display, each SPICE channel through its OpenDisplay();
 * NULL disconnects. */
void        csb_display_view_set_sandbox (CsbDisplayView *self,
                                          CsbDBusSandbox *sandbox);
/* The guest's screen as last shown (NULL before its first frame). */
GdkTexture *csb_display_view_get_texture (CsbDisplayView *self);
/* Why the display cannot be shown, or NULL. */
const char *csb_display_view_get_error   (CsbDisplayView *self);

G_END_DECLS
