/* csb-screen-feed.h — a sandbox's private display as a texture, refreshed while a
 * widget shows it.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "csb-dbus.h"

G_BEGIN_DECLS

#define CSB_TYPE_SCREEN_FEED (csb_screen_feed_get_type ())

G_DECLARE_FINAL_TYPE (CsbScreenFeed, csb_screen_feed, CSB, SCREEN_FEED, GObject)

/* Asks for a picture at most every @interval_ms, one call at a time, and only while
 * @widget is mapped (not owned: the feed follows it until it is gone). Pictures
 * larger than @max_width × @max_height are scaled down to fit (0: as they are). */
CsbScreenFeed *csb_screen_feed_new         (GtkWidget      *widget,
                                            guint           interval_ms,
                                            int             max_width,
                                            int             max_height);
/* The sandbox whose display to show, NULL to stop: asked with Screenshot() (a
 * descriptor), or with ScreenshotData() if @remote (a connection's sandbox:
 * descriptors cannot cross ssh). Cancels a call under way. */
void           csb_screen_feed_set_sandbox (CsbScreenFeed  *self,
                                            CsbDBusSandbox *sandbox,
                                            gboolean        remote);
/* The last picture (NULL before the first one), and why the last call failed (or
 * NULL): both notify. */
GdkTexture    *csb_screen_feed_get_texture (CsbScreenFeed  *self);
const char    *csb_screen_feed_get_error   (CsbScreenFeed  *self);

/* Decodes @png, the sandbox's doing, as untrusted input: a PNG of at most
 * CSB_SCREEN_FEED_MAX_BYTES whose header promises no more than CSB_SCREEN_FEED_MAX_PIXELS
 * (checked before it is decoded), scaled down to fit @max_width × @max_height
 * (0: as it is). Thread-safe. */
#define CSB_SCREEN_FEED_MAX_BYTES  (32 * 1024 * 1024)
#define CSB_SCREEN_FEED_MAX_SIDE   8192
#define CSB_SCREEN_FEED_MAX_PIXELS (7680 * 4320)
GdkTexture    *csb_screen_feed_decode      (GBytes         *png,
                                            int             max_width,
                                            int             max_height,
                                            GError        **error);

G_END_DECLS
