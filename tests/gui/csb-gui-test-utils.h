/* csb-gui-test-utils.h — what the GUI tests share: waiting, screenshots, terminals.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "csb-window.h"

G_BEGIN_DECLS

/* Runs the main context for @ms milliseconds. */
void      csb_gui_test_settle          (guint       ms);
/* Saves what @widget shows as $CSB_TEST_SCREENSHOTS/@name (a PNG), kept after the run. */
void      csb_gui_test_save_screenshot (GtkWidget  *widget,
                                        const char *name);
/* The distinct saturated colours of @texture (a picture of weston-simple-shm has
 * hundreds, a grey desktop none). */
guint     csb_gui_test_count_colours   (GdkTexture *texture);
/* The text of the terminal tab of the sandbox at @path, or NULL without one. */
char     *csb_gui_test_terminal_text   (CsbWindow  *window,
                                        const char *path);
/* Waits until that terminal shows @needle (and logs what it shows if it never does). */
gboolean  csb_gui_test_wait_terminal   (CsbWindow  *window,
                                        const char *path,
                                        const char *needle,
                                        guint       timeout_ms);

/* @widget or its first descendant of @type, or NULL. */
GtkWidget *csb_gui_test_find_descendant (GtkWidget *widget,
                                         GType      type);
/* For csb_test_run_until: whether the CsbHostLabel @label shows a machine's load and
 * free memory ("Load 0.52 · 5.1 GiB free"). */
gboolean  csb_gui_test_host_label_shows_load (gpointer label);

/* Runs the GTest cases inside g_application_run() of @app, as in real life (on its
 * way out it unexports the app from the bus, so nothing holds the bus connection
 * afterwards), in a window of 960×700; destroys *@window at the end. g_test_run()'s
 * result. */
int       csb_gui_test_run_app         (CsbApplication *app,
                                        CsbWindow     **window);

G_END_DECLS
