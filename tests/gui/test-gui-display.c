/* test-gui-display.c — the app shows a real VM's display in its window (issue 15).
 *
 * Under Xvfb, with a private bus activating the in-tree service: a VM is launched
 * with display on (a TCG boot of the generic kernel, weston in kiosk style, and
 * weston-eventdemo, which logs the keys and buttons it gets), the app opens its tab
 * and the Display view beside the terminal: the view shows the guest's pixels (a
 * screenshot is kept), a key sent to the view reaches the program in the guest, which
 * prints it on the terminal, and so does a real click (XTest) on its window; after a
 * restart of the service the view connects again through the new instance, and keys
 * still arrive.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <adwaita.h>
#include <vte/vte.h>

#include "csb-application.h"
#include "csb-display-view.h"
#include "csb-gui-test-utils.h"
#include "csb-terminal-page.h"
#include "csb-test-utils.h"
#include "csb-window.h"

#ifdef HAVE_XTEST
#include <gdk/x11/gdkx.h>
#include <X11/extensions/XTest.h>
#endif

/* Small and emulated, as in tests/vm: KVM is present but broken on the CI machines. */
#define REAL_SETTINGS \
  "[org/example/ClaudeSandbox]\n" \
  "vm-accel='tcg'\n" \
  "vm-memory-mib=512\n" \
  "vm-cpus=1\n"
/* A TCG boot of the generic kernel, then weston on the CPU, on a shared machine. */
#define BOOT_TIMEOUT_MS 180000

static CsbTestBus bus;
static CsbApplication *app;
static CsbWindow *window;

static void
save_texture (GdkTexture *texture,
              const char *name)
{
  const char *dir = g_getenv ("CSB_TEST_SCREENSHOTS");
  g_autofree char *path = NULL;

  if (dir == NULL)
    dir = g_get_tmp_dir ();
  path = g_build_filename (dir, name, NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("screenshot: %s", path);
}

/* How many pixels of @texture are not black. */
static gsize
lit_pixels (GdkTexture *texture)
{
  int width = gdk_texture_get_width (texture);
  int height = gdk_texture_get_height (texture);
  g_autofree guint8 *data = g_malloc ((gsize) width * height * 4);
  gsize lit = 0;

  gdk_texture_download (texture, data, (gsize) width * 4);
  for (gsize i = 0; i < (gsize) width * height; i++)
    if ((data[i * 4] | data[i * 4 + 1] | data[i * 4 + 2]) > 16)
      lit++;
  return lit;
}

static GtkWidget *
display_view (const char *path)
{
  GtkWidget *page = csb_window_find_terminal (window, path);

  return page ? csb_terminal_page_get_display_view (CSB_TERMINAL_PAGE (page)) : NULL;
}

typedef struct
{
  CsbDisplayView *view;
  GdkTexture     *before;
} TextureWait;

/* A frame with the guest's pixels drawn since @before (a new connection sends the
 * whole screen again; the surface is black until it has). */
static gboolean
new_frame (gpointer data)
{
  TextureWait *wait = data;
  GdkTexture *texture = csb_display_view_get_texture (wait->view);

  return texture != NULL && texture != wait->before && lit_pixels (texture) > 10000;
}

static gboolean
tab_open (gpointer data)
{
  return csb_window_find_terminal (window, data) != NULL;
}

static gboolean
display_lit (gpointer data)
{
  GtkWidget *view = display_view (data);
  GdkTexture *texture = view ? csb_display_view_get_texture (CSB_DISPLAY_VIEW (view)) : NULL;

  /* weston-eventdemo's window fills the kiosk's output: far more than a cursor. */
  return texture != NULL && lit_pixels (texture) > 10000;
}

/* Whether the guest printed @needle: its console's log, in full (the terminal's screen
 * scrolls past what weston-eventdemo said: it logs every pointer frame). */
static gboolean
console_has (const char *path,
             const char *needle)
{
  g_autofree char *id = g_path_get_basename (path);
  g_autofree char *log = g_build_filename (bus.dirs.state, "claude-sandbox", id, "console.log",
                                           NULL);
  g_autofree char *contents = NULL;

  return g_file_get_contents (log, &contents, NULL, NULL) && strstr (contents, needle) != NULL;
}

static GtkEventController *
find_controller (GtkWidget *widget,
                 GType      type)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (widget);

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr(GtkEventController) controller = g_list_model_get_item (controllers, i);

      if (G_TYPE_CHECK_INSTANCE_TYPE (controller, type))
        return controller;  /* the widget holds it */
    }
  return NULL;
}

/* What a key press in the view does: the key controller's signals, with the X11
 * keycode of the key (its Linux input code + 8). */
static void
press_key (GtkWidget *view,
           guint      linux_code)
{
  GtkEventController *keys = find_controller (view, GTK_TYPE_EVENT_CONTROLLER_KEY);
  gboolean handled = FALSE;

  g_assert_nonnull (keys);
  g_signal_emit_by_name (keys, "key-pressed", 0, linux_code + 8, 0, &handled);
  g_assert_true (handled);
  csb_gui_test_settle (50);
  g_signal_emit_by_name (keys, "key-released", 0, linux_code + 8, 0);
}

#ifdef HAVE_XTEST
/* A real click (XTest, under Xvfb) at guest pixel (@gx, @gy) of the view, which shows
 * the guest's 1280×800 scaled to fit and centred. */
static void
click_at (GtkWidget *view,
          int        gx,
          int        gy)
{
  GtkNative *native = gtk_widget_get_native (view);
  GdkSurface *surface = gtk_native_get_surface (native);
  Display *dpy = gdk_x11_display_get_xdisplay (gdk_surface_get_display (surface));
  double width = gtk_widget_get_width (view), height = gtk_widget_get_height (view);
  double scale = MIN (width / 1280, height / 800);
  double x, y, nx, ny;
  int rx, ry;
  Window child;

  gtk_native_get_surface_transform (native, &nx, &ny);
  g_assert_true (gtk_widget_translate_coordinates (view, GTK_WIDGET (native),
                                                   (width - 1280 * scale) / 2 + gx * scale,
                                                   (height - 800 * scale) / 2 + gy * scale,
                                                   &x, &y));
  XTranslateCoordinates (dpy, gdk_x11_surface_get_xid (surface), DefaultRootWindow (dpy),
                         x + nx, y + ny, &rx, &ry, &child);
  XTestFakeMotionEvent (dpy, -1, rx, ry, 0);
  XTestFakeButtonEvent (dpy, 1, True, 0);
  XTestFakeButtonEvent (dpy, 1, False, 0);
  XFlush (dpy);
}
#endif

static gboolean
have_session_libvirt (void)
{
  const char *argv[] = { "virsh", "-c", "qemu:///session", "list", "--name", NULL };
  g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "XDG_RUNTIME_DIR", bus.dirs.runtime,
                                         TRUE);
  int wait_status;

  return g_spawn_sync (NULL, (char **) argv, envp,
                       G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                         G_SPAWN_STDERR_TO_DEV_NULL,
                       NULL, NULL, NULL, NULL, &wait_status, NULL) &&
         g_spawn_check_wait_status (wait_status, NULL);
}

static void
test_display_tab (void)
{
  const char * const command[] = { "weston-eventdemo", "--log-key", "--log-button", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autofree char *project = NULL;
  GtkWidget *view;
  GVariant *options;

  if (g_getenv ("CSB_TEST_NO_VM_BOOT") != NULL)
    {
      g_test_skip ("CSB_TEST_NO_VM_BOOT is set");
      return;
    }
  if (!have_session_libvirt ())
    {
      g_test_skip ("no libvirt daemon answers on qemu:///session (as root, that is the "
                   "system daemon; the boots run as an unprivileged user)");
      return;
    }
  if (!g_file_test ("/usr/bin/weston-eventdemo", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("weston-eventdemo is not installed (package weston)");
      return;
    }

  g_application_activate (G_APPLICATION (app));
  window = CSB_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (app)));
  g_assert_nonnull (window);

  project = csb_test_make_project (&bus.dirs, "display");
  options = g_variant_new_parsed ("{'backend': <'vm'>, 'display': <true>, 'network': <false>}");
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (bus.manager), BOOT_TIMEOUT_MS);
  run = csb_test_launch_pty (&bus, project, command, options, &error);
  if (error != NULL && strstr (error->message, "virtio-gpu") != NULL)
    {
      g_test_skip (error->message);
      return;
    }
  g_assert_no_error (error);

  /* The SPICE server listens only on a unix socket in a folder no other user enters. */
  {
    const char *address = csb_dbus_sandbox_get_display (run->sandbox);
    g_autofree char *folder = NULL;
    struct stat st;

    g_assert_true (g_str_has_prefix (address, "spice+unix://"));
    folder = g_path_get_dirname (address + strlen ("spice+unix://"));
    g_assert_cmpint (lstat (folder, &st), ==, 0);
    g_assert_true (S_ISDIR (st.st_mode));
    g_assert_cmpuint (st.st_uid, ==, getuid ());
    g_assert_cmpint (st.st_mode & 0077, ==, 0);
  }

  /* The app's tab of that sandbox, and its Display view beside the terminal. */
  csb_window_show_sandbox (window, run->object_path);
  g_assert_true (csb_test_run_until (tab_open, (gpointer) run->object_path, CSB_TEST_TIMEOUT_MS));
  /* As the Sandboxes list's display button does. */
  gtk_widget_activate_action (GTK_WIDGET (window), "win.show-display", "s", run->object_path);
  view = display_view (run->object_path);
  g_assert_nonnull (view);
  g_assert_true (gtk_widget_get_mapped (view));

  /* Frames arrive once weston and the client drew on the virtio-gpu output. */
  if (!csb_test_run_until (display_lit, (gpointer) run->object_path, BOOT_TIMEOUT_MS))
    g_test_message ("display error: %s",
                    csb_display_view_get_error (CSB_DISPLAY_VIEW (view)) ?: "(none)");
  g_assert_true (display_lit ((gpointer) run->object_path));
  g_assert_null (csb_display_view_get_error (CSB_DISPLAY_VIEW (view)));
  csb_gui_test_settle (500);
  save_texture (csb_display_view_get_texture (CSB_DISPLAY_VIEW (view)), "vm-display.png");
  csb_gui_test_save_screenshot (GTK_WIDGET (window), "vm-display-tab.png");

  /* A key typed into the view reaches the program in the guest: 'a' is Linux input
   * code 30, which weston passes on as it is. */
  press_key (view, 30);
  g_assert_true (csb_gui_test_wait_terminal (window, run->object_path, "key key: 30,", BOOT_TIMEOUT_MS));

#ifdef HAVE_XTEST
  /* A click on weston-eventdemo's window (its red square) reaches it as a left button
   * (Linux BTN_LEFT, 272): pointer and button through GTK, SPICE and the virtio tablet. */
  for (guint i = 0; i < 120 && !console_has (run->object_path, "button: 272, state: pressed"); i++)
    {
      click_at (view, 250, 200);
      csb_gui_test_settle (1000);
    }
  g_assert_true (console_has (run->object_path, "button: 272, state: pressed"));
#else
  g_test_message ("built without XTest (libxtst-dev): no click");
#endif

  /* The service restarts (a crash, an upgrade): the tab connects to the display again
   * through the new instance's OpenDisplay(), and keys still reach the guest. */
  {
    g_autoptr(GdkTexture) before = g_object_ref (csb_display_view_get_texture (CSB_DISPLAY_VIEW (view)));
    g_autoptr(CsbDBusSandbox) again = NULL;
    TextureWait wait = { CSB_DISPLAY_VIEW (view), before };

    csb_test_bus_crash_service (&bus);
    again = csb_test_bus_sandbox_after_restart (&bus, run->object_path);
    g_assert_cmpstr (csb_dbus_sandbox_get_state (again), ==, "running");
    gtk_widget_activate_action (GTK_WIDGET (window), "win.reconnect", NULL);
    g_assert_true (csb_test_run_until (new_frame, &wait, BOOT_TIMEOUT_MS));
    g_assert_null (csb_display_view_get_error (CSB_DISPLAY_VIEW (view)));
    g_assert_true (display_lit ((gpointer) run->object_path));
    /* 'b'; the inputs channel may come up after the display's first frame, and SPICE
     * drops keys until it is ready: pressed again until one arrives. */
    for (guint i = 0; i < 120 && !console_has (run->object_path, "key key: 48,"); i++)
      {
        press_key (view, 48);
        csb_gui_test_settle (1000);
      }
    g_assert_true (console_has (run->object_path, "key key: 48,"));

    csb_dbus_sandbox_call_stop_sync (again, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (csb_test_run_until (csb_test_sandbox_ended, again, BOOT_TIMEOUT_MS));
  }
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *display = NULL;
  CsbTestBusOptions bus_options = { .settings_keyfile = REAL_SETTINGS };
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
  csb_test_bus_setup (&bus, &bus_options);
  csb_test_bus_activate (&bus);
  if (display != NULL)
    g_setenv ("DISPLAY", display, TRUE);

  app = csb_application_new ();
  g_test_add_func ("/gui/vm/display-tab", test_display_tab);

  ret = csb_gui_test_run_app (app, &window);
  csb_gui_test_settle (100);
  /* As in test-gui.c: GLib 2.74 cannot tear an in-process GTK app down against a bus
   * that goes away; stop what runs, and leave. */
  csb_test_bus_stop_sandboxes (&bus);
  fflush (stdout);
  fflush (stderr);
  _exit (ret);
}
