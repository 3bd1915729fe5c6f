/* csb-screen-view.c
 *
 * The Display tab of a sandbox with a private display (launch option
 * private-display): the service's pictures of it (csb-screen-feed.c), at most two a
 * second and only while the tab is on screen. A view only: weston's headless
 * backend has no input devices, and nothing here sends any.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "csb-screen-feed.h"
#include "csb-screen-view.h"

#define REFRESH_EVERY_MS 500

struct _CsbScreenView
{
  AdwBin          parent_instance;

  GtkStack       *stack;
  AdwStatusPage  *status_page;
  GtkPicture     *picture;

  CsbScreenFeed  *feed;
};

G_DEFINE_FINAL_TYPE (CsbScreenView, csb_screen_view, ADW_TYPE_BIN)

static void
update (CsbScreenView *self)
{
  GdkTexture *texture = csb_screen_feed_get_texture (self->feed);
  const char *error = csb_screen_feed_get_error (self->feed);

  gtk_picture_set_paintable (self->picture, GDK_PAINTABLE (texture));
  /* A failure after pictures came (the sandbox ending): the last one stays. */
  if (texture != NULL)
    gtk_stack_set_visible_child_name (self->stack, "picture");
  else
    {
      adw_status_page_set_title (self->status_page, error != NULL
                                                    ? _("The Display Cannot Be Shown")
                                                    : _("Waiting for the Display"));
      adw_status_page_set_description (self->status_page, error);
      gtk_stack_set_visible_child_name (self->stack, "waiting");
    }
}

void
csb_screen_view_set_sandbox (CsbScreenView  *self,
                             CsbDBusSandbox *sandbox,
                             gboolean        remote)
{
  g_return_if_fail (CSB_IS_SCREEN_VIEW (self));
  g_return_if_fail (sandbox == NULL || CSB_DBUS_IS_SANDBOX (sandbox));

  csb_screen_feed_set_sandbox (self->feed, sandbox, remote);
}

GdkTexture *
csb_screen_view_get_texture (CsbScreenView *self)
{
  g_return_val_if_fail (CSB_IS_SCREEN_VIEW (self), NULL);
  return csb_screen_feed_get_texture (self->feed);
}

const char *
csb_screen_view_get_error (CsbScreenView *self)
{
  g_return_val_if_fail (CSB_IS_SCREEN_VIEW (self), NULL);
  return csb_screen_feed_get_error (self->feed);
}

GtkWidget *
csb_screen_view_new (void)
{
  return g_object_new (CSB_TYPE_SCREEN_VIEW, NULL);
}

static void
csb_screen_view_dispose (GObject *object)
{
  CsbScreenView *self = CSB_SCREEN_VIEW (object);

  if (self->feed != NULL)
    csb_screen_feed_set_sandbox (self->feed, NULL, FALSE);
  g_clear_object (&self->feed);
  G_OBJECT_CLASS (csb_screen_view_parent_class)->dispose (object);
}

static void
csb_screen_view_class_init (CsbScreenViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = csb_screen_view_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/example/ClaudeSandbox/App/csb-screen-view.ui");
  gtk_widget_class_bind_template_child (widget_class, CsbScreenView, stack);
  gtk_widget_class_bind_template_child (widget_class, CsbScreenView, status_page);
  gtk_widget_class_bind_template_child (widget_class, CsbScreenView, picture);
}

static void
csb_screen_view_init (CsbScreenView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->feed = csb_screen_feed_new (GTK_WIDGET (self), REFRESH_EVERY_MS, 0, 0);
  g_signal_connect_object (self->feed, "notify::texture", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->feed, "notify::error", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED);
}
