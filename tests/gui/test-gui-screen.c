/* test-gui-screen.c — the app shows a private display (issue 19 §2).
 *
 * Under Xvfb, with a private bus activating the in-tree service: a real bwrap sandbox
 * runs weston-simple-shm on the headless weston of its own (launch option
 * private-display). Its row on the Sandboxes page gets a thumbnail with the
 * program's many colours (Screenshot(), decoded by the app), which stops changing
 * while the row is off screen; the Display tab of its terminal page shows the
 * picture at full size; once the sandbox ends the tab goes. Screenshots of both are
 * kept for the metainfo and the README. And the decoder refuses what a sandbox could
 * hand over instead of a sane PNG (a header promising gigabytes, too many bytes).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <adwaita.h>

#include "csb-application.h"
#include "csb-gui-test-utils.h"
#include "csb-sandbox-row.h"
#include "csb-screen-feed.h"
#include "csb-screen-view.h"
#include "csb-terminal-page.h"
#include "csb-test-utils.h"
#include "csb-window.h"

static CsbTestBus bus;
static CsbApplication *app;
static CsbWindow *window;

static gboolean
have_weston (void)
{
  const char *programs[] = { "weston", "weston-simple-shm", "weston-screenshooter" };

  for (gsize i = 0; i < G_N_ELEMENTS (programs); i++)
    {
      g_autofree char *path = g_find_program_in_path (programs[i]);

      if (path == NULL)
        return FALSE;
    }
  return TRUE;
}

static GtkWidget *
row_of (const char *path)
{
  return csb_window_find_row (window, path);
}

static GdkTexture *
thumbnail_of (const char *path)
{
  GtkWidget *row = row_of (path);

  return row != NULL ? csb_sandbox_row_get_thumbnail (CSB_SANDBOX_ROW (row)) : NULL;
}

/* The row shows the program's pattern (not the background it had before). */
static gboolean
thumbnail_drawn (gpointer data)
{
  GdkTexture *texture = thumbnail_of (data);

  return texture != NULL && csb_gui_test_count_colours (texture) >= 16;
}

static GtkWidget *
screen_view_of (const char *path)
{
  GtkWidget *page = csb_window_find_terminal (window, path);

  return page != NULL ? csb_terminal_page_get_screen_view (CSB_TERMINAL_PAGE (page)) : NULL;
}

static gboolean
screen_drawn (gpointer data)
{
  GtkWidget *view = screen_view_of (data);
  GdkTexture *texture = view != NULL ? csb_screen_view_get_texture (CSB_SCREEN_VIEW (view))
                                     : NULL;

  return view != NULL && gtk_widget_get_mapped (view) && texture != NULL &&
         csb_gui_test_count_colours (texture) >= 200;
}

static gboolean
object_manager_ready (gpointer data)
{
  return csb_application_get_object_manager (app) != NULL;
}

static void
show_page (const char *name)
{
  AdwViewStack *stack = ADW_VIEW_STACK (gtk_widget_get_ancestor (csb_window_get_launch_page (window),
                                                                 ADW_TYPE_VIEW_STACK));

  adw_view_stack_set_visible_child_name (stack, name);
  csb_gui_test_settle (300);
}

static void
test_private_display (void)
{
  const char * const command[] = { "weston-simple-shm", NULL };
  g_autofree char *project = g_build_filename (bus.dirs.home, "Projects", "paint-demo", NULL);
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) off_screen = NULL;
  GtkWidget *view;

  if (!have_weston ())
    {
      g_test_skip ("weston, weston-simple-shm or weston-screenshooter is not installed "
                   "(Debian package 'weston')");
      return;
    }
  g_application_activate (G_APPLICATION (app));
  window = CSB_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (app)));
  g_assert_nonnull (window);
  g_assert_true (csb_test_run_until (object_manager_ready, NULL, CSB_TEST_TIMEOUT_MS));

  g_assert_cmpint (g_mkdir_with_parents (project, 0755), ==, 0);
  run = csb_test_launch_pty (&bus, project, command,
                             g_variant_new_parsed ("{'private-display': <true>}"), &error);
  g_assert_no_error (error);
  g_assert_true (g_strv_contains (csb_dbus_sandbox_get_protections (run->sandbox),
                                  "display-private"));

  /* The row on the Sandboxes page: a thumbnail of what the program draws. */
  show_page ("sandboxes");
  g_assert_true (csb_test_run_until (thumbnail_drawn, (gpointer) run->object_path,
                                     CSB_TEST_TIMEOUT_MS));
  g_assert_cmpint (gdk_texture_get_width (thumbnail_of (run->object_path)), <=, 88);
  g_assert_cmpint (gdk_texture_get_height (thumbnail_of (run->object_path)), <=, 50);
  csb_gui_test_settle (500);
  csb_gui_test_save_screenshot (GTK_WIDGET (window), "private-display-row.png");

  /* Its Display tab, as the row's display button opens it: the same pattern, full size. */
  gtk_widget_activate_action (GTK_WIDGET (window), "win.show-display", "s", run->object_path);
  g_assert_true (csb_test_run_until (screen_drawn, (gpointer) run->object_path,
                                     CSB_TEST_TIMEOUT_MS));
  view = screen_view_of (run->object_path);
  g_assert_null (csb_screen_view_get_error (CSB_SCREEN_VIEW (view)));
  g_assert_cmpint (gdk_texture_get_width (csb_screen_view_get_texture (CSB_SCREEN_VIEW (view))),
                   >, 88);
  csb_gui_test_settle (500);
  csb_gui_test_save_screenshot (GTK_WIDGET (window), "private-display-tab.png");

  /* The row is off screen now: nothing is asked for it (the viewer refreshes, at
   * most twice a second, the same picture: simple-shm animates). */
  g_assert_false (gtk_widget_get_mapped (row_of (run->object_path)));
  off_screen = g_object_ref (thumbnail_of (run->object_path));
  csb_gui_test_settle (2500);
  g_assert_true (thumbnail_of (run->object_path) == off_screen);

  /* Once it ends, the tab goes with its display. */
  g_assert_true (csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (csb_test_run_until (csb_test_sandbox_ended, run->sandbox, CSB_TEST_TIMEOUT_MS));
  csb_gui_test_settle (300);
  g_assert_false (gtk_widget_get_mapped (view));
}

/* A @width × @height PNG of two colours, made by GTK. */
static GBytes *
make_png (int width,
          int height)
{
  gsize size = (gsize) width * height * 4;
  g_autofree guint8 *pixels = g_malloc (size);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) texture = NULL;

  for (gsize i = 0; i < size; i += 4)
    {
      gboolean left = (i / 4) % width < (gsize) width / 2;

      pixels[i] = left ? 0xff : 0x00;
      pixels[i + 1] = 0x40;
      pixels[i + 2] = left ? 0x00 : 0xff;
      pixels[i + 3] = 0xff;
    }
  bytes = g_bytes_new (pixels, size);
  texture = gdk_memory_texture_new (width, height, GDK_MEMORY_DEFAULT, bytes, width * 4);
  return gdk_texture_save_to_png_bytes (texture);
}

/* The same PNG with the size its header promises changed (the decoder reads the
 * header before anything else). */
static GBytes *
with_header_size (GBytes *png,
                  guint32 width,
                  guint32 height)
{
  gsize size;
  guint8 *data = g_memdup2 (g_bytes_get_data (png, &size), g_bytes_get_size (png));
  guint32 be_width = GUINT32_TO_BE (width), be_height = GUINT32_TO_BE (height);

  memcpy (data + 16, &be_width, 4);
  memcpy (data + 20, &be_height, 4);
  return g_bytes_new_take (data, size);
}

static void
assert_refused (GBytes     *png,
                const char *why)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = csb_screen_feed_decode (png, 0, 0, &error);

  g_assert_null (texture);
  g_assert_nonnull (error);
  g_test_message ("%s: %s", why, error->message);
}

/* What a sandbox could hand the app as a screenshot: bounded before it is decoded. */
static void
test_decode_bounds (void)
{
  g_autoptr(GBytes) png = make_png (640, 400);
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) full = csb_screen_feed_decode (png, 0, 0, &error);
  g_autoptr(GdkTexture) thumb = NULL;

  /* A sane one, as it is and scaled down to fit a box, keeping its shape. */
  g_assert_no_error (error);
  g_assert_cmpint (gdk_texture_get_width (full), ==, 640);
  g_assert_cmpint (gdk_texture_get_height (full), ==, 400);
  thumb = csb_screen_feed_decode (png, 88, 50, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_texture_get_width (thumb), ==, 80);
  g_assert_cmpint (gdk_texture_get_height (thumb), ==, 50);
  g_assert_cmpuint (csb_gui_test_count_colours (thumb), >=, 2);

  /* A few bytes that promise gigabytes of pixels, a side too long, nothing at all. */
  {
    g_autoptr(GBytes) huge = with_header_size (png, 60000, 60000);
    g_autoptr(GBytes) wide = with_header_size (png, 100000, 1);
    g_autoptr(GBytes) many = with_header_size (png, 8000, 8000);
    g_autoptr(GBytes) empty = with_header_size (png, 0, 400);
    g_autoptr(GBytes) truncated = g_bytes_new_from_bytes (png, 0, 40);
    g_autoptr(GBytes) not_png = g_bytes_new_static ("GIF89a\x01\x00\x01\x00", 10);
    g_autoptr(GBytes) none = g_bytes_new_static ("", 0);

    assert_refused (huge, "60000×60000");
    assert_refused (wide, "100000×1");
    assert_refused (many, "8000×8000");
    assert_refused (empty, "0×400");
    assert_refused (truncated, "truncated");
    assert_refused (not_png, "a GIF");
    assert_refused (none, "empty");
  }
  /* More than the bound, whatever it holds. */
  {
    gsize size = CSB_SCREEN_FEED_MAX_BYTES + 1;
    guint8 *data = g_malloc0 (size);
    g_autoptr(GBytes) big = NULL;

    memcpy (data, g_bytes_get_data (png, NULL), g_bytes_get_size (png));
    big = g_bytes_new_take (data, size);
    assert_refused (big, "too large");
  }
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *display = NULL;
  int ret = 1;

  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);

  if (g_getenv ("DISPLAY") == NULL && g_getenv ("WAYLAND_DISPLAY") == NULL)
    {
      g_test_skip ("no display (the test runs under xvfb-run)");
      return 0;
    }

  /* GTestDBus unsets DISPLAY (against X11 autolaunch of a bus); the app needs it. */
  display = g_strdup (g_getenv ("DISPLAY"));
  csb_test_bus_setup (&bus, NULL);
  csb_test_bus_activate (&bus);
  if (display != NULL)
    g_setenv ("DISPLAY", display, TRUE);

  app = csb_application_new ();
  g_test_add_func ("/gui/screen/decode-bounds", test_decode_bounds);
  g_test_add_func ("/gui/screen/private-display", test_private_display);

  ret = csb_gui_test_run_app (app, &window);
  csb_gui_test_settle (100);
  /* As in test-gui.c: GLib 2.74 cannot tear an in-process GTK app down against a bus
   * that goes away; stop what runs, and leave. */
  csb_test_bus_stop_sandboxes (&bus);
  fflush (stdout);
  fflush (stderr);
  _exit (ret);
}
