/* csb-gui-test-utils.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include <vte/vte.h>

#include "csb-gui-test-utils.h"
#include "csb-host-label.h"
#include "csb-terminal-page.h"
#include "csb-test-utils.h"

void
csb_gui_test_settle (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (5000);
    }
}

void
csb_gui_test_save_screenshot (GtkWidget  *widget,
                              const char *name)
{
  const char *dir = g_getenv ("CSB_TEST_SCREENSHOTS");
  g_autofree char *path = NULL;
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  GtkSnapshot *snapshot;
  GskRenderer *renderer;
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);

  if (dir == NULL)
    dir = g_get_tmp_dir ();
  path = g_build_filename (dir, name, NULL);
  {
    g_autofree char *parent = g_path_get_dirname (path);
    g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  }

  paintable = gtk_widget_paintable_new (widget);
  /* Between a change and the next frame the paintable can be empty: wait for a frame. */
  for (guint i = 0; i < 100 && node == NULL; i++)
    {
      if (i > 0)
        csb_gui_test_settle (50);
      snapshot = gtk_snapshot_new ();
      gdk_paintable_snapshot (paintable, snapshot, width, height);
      node = gtk_snapshot_free_to_node (snapshot);
    }
  g_assert_nonnull (node);
  renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  texture = gsk_renderer_render_texture (renderer, node,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("screenshot: %s", path);
}

/* The distinct saturated colours of @texture: weston-simple-shm draws a pattern of
 * many, a desktop's background (or a picture never drawn) has none. */
guint
csb_gui_test_count_colours (GdkTexture *texture)
{
  int width = gdk_texture_get_width (texture);
  int height = gdk_texture_get_height (texture);
  g_autofree guint8 *data = g_malloc ((gsize) width * height * 4);
  g_autoptr(GHashTable) colours = g_hash_table_new (NULL, NULL);

  gdk_texture_download (texture, data, (gsize) width * 4);
  for (gsize i = 0; i < (gsize) width * height; i++)
    {
      const guint8 *p = data + i * 4;

      if (MAX (MAX (p[0], p[1]), p[2]) - MIN (MIN (p[0], p[1]), p[2]) >= 64)
        g_hash_table_add (colours, GUINT_TO_POINTER (((p[2] << 16) | (p[1] << 8) | p[0]) + 1));
    }
  return g_hash_table_size (colours);
}

typedef struct
{
  CsbWindow  *window;
  const char *path;
  const char *needle;
} TerminalWait;

char *
csb_gui_test_terminal_text (CsbWindow  *window,
                            const char *path)
{
  GtkWidget *page = csb_window_find_terminal (window, path);

  if (page == NULL)
    return NULL;
  return vte_terminal_get_text (csb_terminal_page_get_terminal (CSB_TERMINAL_PAGE (page)), NULL,
                                NULL, NULL);
}

static gboolean
terminal_shows (gpointer data)
{
  TerminalWait *wait = data;
  g_autofree char *text = csb_gui_test_terminal_text (wait->window, wait->path);

  return text != NULL && strstr (text, wait->needle) != NULL;
}

gboolean
csb_gui_test_wait_terminal (CsbWindow  *window,
                            const char *path,
                            const char *needle,
                            guint       timeout_ms)
{
  TerminalWait wait = { window, path, needle };
  gboolean found = csb_test_run_until (terminal_shows, &wait, timeout_ms);

  if (!found)
    {
      g_autofree char *text = csb_gui_test_terminal_text (window, path);
      g_test_message ("terminal of %s shows:\n%s", path, text ? text : "(no terminal)");
    }
  return found;
}


typedef struct
{
  CsbApplication *app;
  CsbWindow     **window;
  int             ret;
} AppRun;

static void
on_startup (GApplication *application)
{
  /* Screenshots of a reasonable size for the metainfo. */
  g_settings_set_int (csb_application_get_settings (CSB_APPLICATION (application)),
                      "window-width", 960);
  g_settings_set_int (csb_application_get_settings (CSB_APPLICATION (application)),
                      "window-height", 700);
}

static gboolean
run_tests (gpointer data)
{
  AppRun *run = data;

  run->ret = g_test_run ();
  if (*run->window != NULL)
    gtk_window_destroy (GTK_WINDOW (*run->window));
  g_application_quit (G_APPLICATION (run->app));
  return G_SOURCE_REMOVE;
}

int
csb_gui_test_run_app (CsbApplication *app,
                      CsbWindow     **window)
{
  AppRun run = { app, window, 1 };
  char *argv[] = { (char *) g_get_prgname (), NULL };

  g_signal_connect (app, "startup", G_CALLBACK (on_startup), NULL);
  g_idle_add (run_tests, &run);
  g_assert_cmpint (g_application_run (G_APPLICATION (app), 1, argv), ==, 0);
  return run.ret;
}

GtkWidget *
csb_gui_test_find_descendant (GtkWidget *widget,
                              GType      type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = csb_gui_test_find_descendant (child, type);

      if (found != NULL)
        return found;
    }
  return NULL;
}

gboolean
csb_gui_test_host_label_shows_load (gpointer label)
{
  return g_regex_match_simple ("^Load [0-9]+[.,][0-9]{2} · [0-9.,]+\\s\\S+ free$",
                               csb_host_label_get_text (label), 0, 0);
}
