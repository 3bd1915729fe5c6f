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

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>
#include <glib-unix.h>

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

/* ---- the feed's pacing, against a stand-in Sandbox object on the test bus ---------------- */

typedef enum
{
  FAKE_PNG,        /* a sane PNG in a sealed memfd */
  FAKE_HUGE,       /* a memfd whose PNG header promises 60000×60000 */
  FAKE_PIPE,       /* a pipe, not a file */
} FakeReply;

typedef struct
{
  GBytes   *png;
  FakeReply reply;
  guint     delay_ms;
  guint     calls;
  guint     calls_before;
  guint     in_flight;
  guint     max_in_flight;
} FakeSandbox;

typedef struct
{
  FakeSandbox           *fake;
  CsbDBusSandbox        *object;
  GDBusMethodInvocation *invocation;
} PendingShot;

static int
memfd_with (GBytes *bytes)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  int fd = memfd_create ("fake-screenshot", MFD_CLOEXEC | MFD_ALLOW_SEALING);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, data, size), ==, (gssize) size);
  g_assert_cmpint (fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), ==, 0);
  return fd;
}

/* Answers a while later, as weston-screenshooter takes its time. */
static gboolean
answer_shot (gpointer data)
{
  PendingShot *shot = data;
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GBytes) huge = NULL;
  int fd, pipe_fds[2];

  switch (shot->fake->reply)
    {
    case FAKE_PNG:
      fd = memfd_with (shot->fake->png);
      break;
    case FAKE_HUGE:
      huge = with_header_size (shot->fake->png, 60000, 60000);
      fd = memfd_with (huge);
      break;
    case FAKE_PIPE:
    default:
      g_assert_true (g_unix_open_pipe (pipe_fds, FD_CLOEXEC, NULL));
      close (pipe_fds[1]);
      fd = pipe_fds[0];
      break;
    }
  g_unix_fd_list_append (fds, fd, NULL);
  close (fd);
  shot->fake->in_flight--;
  csb_dbus_sandbox_complete_screenshot (shot->object, shot->invocation, fds,
                                        g_variant_new_handle (0));
  g_free (shot);
  return G_SOURCE_REMOVE;
}

static gboolean
on_fake_screenshot (CsbDBusSandbox        *object,
                    GDBusMethodInvocation *invocation,
                    GUnixFDList           *fds,
                    FakeSandbox           *fake)
{
  PendingShot *shot = g_new0 (PendingShot, 1);

  fake->calls++;
  fake->in_flight++;
  fake->max_in_flight = MAX (fake->max_in_flight, fake->in_flight);
  shot->fake = fake;
  shot->object = object;
  shot->invocation = invocation;
  g_timeout_add (fake->delay_ms, answer_shot, shot);
  return TRUE;
}

static gboolean
feed_has_texture (gpointer data)
{
  return csb_screen_feed_get_texture (data) != NULL;
}

static gboolean
feed_has_error (gpointer data)
{
  return csb_screen_feed_get_error (data) != NULL;
}

static gboolean
fake_busy (gpointer data)
{
  FakeSandbox *fake = data;

  return fake->in_flight > 0;
}

static gboolean
fake_called_again (gpointer data)
{
  FakeSandbox *fake = data;

  return fake->calls > fake->calls_before;
}

static gboolean
feed_says_not_a_file (gpointer data)
{
  const char *error = csb_screen_feed_get_error (data);

  return error != NULL && strstr (error, "not a file") != NULL;
}

/* One call at a time, no more than one an interval, none while nobody sees the widget;
 * what the service hands over is read with bounds: a header promising gigabytes and a
 * pipe are refused, the picture before stays. */
static void
test_feed_pacing (void)
{
  g_autoptr(CsbDBusSandbox) skeleton = csb_dbus_sandbox_skeleton_new ();
  g_autoptr(CsbDBusSandbox) proxy = NULL;
  g_autoptr(CsbScreenFeed) feed = NULL;
  g_autoptr(GError) error = NULL;
  FakeSandbox fake = { make_png (320, 200), FAKE_PNG, 50, 0, 0, 0, 0 };
  GtkWidget *toplevel = gtk_window_new ();
  GtkWidget *widget = gtk_label_new ("feed");
  gint64 start;
  guint calls;

  g_signal_connect (skeleton, "handle-screenshot", G_CALLBACK (on_fake_screenshot), &fake);
  g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (skeleton), bus.connection,
                                    "/test/fake_sandbox", &error);
  g_assert_no_error (error);
  proxy = csb_dbus_sandbox_proxy_new_sync (bus.connection,
                                           G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                           G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                           g_dbus_connection_get_unique_name (bus.connection),
                                           "/test/fake_sandbox", NULL, &error);
  g_assert_no_error (error);

  /* Not on screen yet: nothing is asked. */
  feed = csb_screen_feed_new (widget, 300, 0, 0);
  csb_screen_feed_set_sandbox (feed, proxy, FALSE);
  csb_gui_test_settle (500);
  g_assert_cmpuint (fake.calls, ==, 0);

  gtk_window_set_child (GTK_WINDOW (toplevel), widget);
  gtk_window_present (GTK_WINDOW (toplevel));
  g_assert_true (csb_test_run_until (feed_has_texture, feed, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpint (gdk_texture_get_width (csb_screen_feed_get_texture (feed)), ==, 320);
  start = g_get_monotonic_time ();
  calls = fake.calls;
  fake.calls_before = calls + 3;
  g_assert_true (csb_test_run_until (fake_called_again, &fake, CSB_TEST_TIMEOUT_MS));
  csb_gui_test_settle (1000);
  /* Each call starts at least 300 ms after the one before: an upper bound the feed
   * keeps however slow the machine is. */
  g_assert_cmpuint (fake.calls - calls, <=, 2 + (g_get_monotonic_time () - start) / 300000);
  g_assert_cmpuint (fake.max_in_flight, ==, 1);

  /* Hidden and shown again while a slow call is under way: its answer is dropped, and
   * the next call waits for it all the same (the service works on it meanwhile). */
  fake.delay_ms = 1500;
  g_assert_true (csb_test_run_until (fake_busy, &fake, CSB_TEST_TIMEOUT_MS));
  gtk_widget_set_visible (widget, FALSE);
  csb_gui_test_settle (50);
  gtk_widget_set_visible (widget, TRUE);
  fake.calls_before = fake.calls;
  g_assert_true (csb_test_run_until (fake_called_again, &fake, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpuint (fake.max_in_flight, ==, 1);
  fake.delay_ms = 50;

  /* Unmapped: a call under way is dropped, no new one. */
  gtk_widget_set_visible (widget, FALSE);
  csb_gui_test_settle (300);
  calls = fake.calls;
  csb_gui_test_settle (1000);
  g_assert_cmpuint (fake.calls, ==, calls);

  /* A PNG promising 60000×60000, then a pipe: refused, saying why. */
  fake.reply = FAKE_HUGE;
  gtk_widget_set_visible (widget, TRUE);
  g_assert_true (csb_test_run_until (feed_has_error, feed, CSB_TEST_TIMEOUT_MS));
  g_test_message ("a huge header: %s", csb_screen_feed_get_error (feed));
  g_assert_nonnull (strstr (csb_screen_feed_get_error (feed), "out of bounds"));
  g_assert_nonnull (csb_screen_feed_get_texture (feed));
  fake.reply = FAKE_PIPE;
  g_assert_true (csb_test_run_until (feed_says_not_a_file, feed, CSB_TEST_TIMEOUT_MS));
  g_test_message ("a pipe: %s", csb_screen_feed_get_error (feed));
  g_assert_cmpuint (fake.max_in_flight, ==, 1);

  /* Stopped: nothing more is asked. */
  csb_screen_feed_set_sandbox (feed, NULL, FALSE);
  g_assert_null (csb_screen_feed_get_texture (feed));
  csb_gui_test_settle (300);
  calls = fake.calls;
  csb_gui_test_settle (1000);
  g_assert_cmpuint (fake.calls, ==, calls);

  gtk_window_destroy (GTK_WINDOW (toplevel));
  g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (skeleton));
  g_bytes_unref (fake.png);
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
  g_test_add_func ("/gui/screen/feed-pacing", test_feed_pacing);
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
