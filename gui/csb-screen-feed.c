/* csb-screen-feed.c
 *
 * The pictures of a sandbox's private display (launch option private-display): the
 * service's Screenshot() hands out a sealed memfd holding a PNG that the sandbox's
 * own compositor made (a connection's sandbox: ScreenshotData(), the same PNG as bytes,
 * since descriptors cannot cross ssh). What it shows, and so the PNG's contents, are the sandbox's
 * doing: the file's size is checked before it is read, the PNG's header before it is
 * decoded (a small PNG can promise a picture of gigabytes), and only GTK's PNG loader
 * ever sees it (never gdk-pixbuf's other loaders). Decoding and scaling run in a
 * thread, one picture at a time, and nothing is asked while nobody sees the widget.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>

#include "csb-screen-feed.h"

/* After a failed call the next waits longer, up to this many intervals. */
#define MAX_BACKOFF_SHIFT 3

struct _CsbScreenFeed
{
  GObject         parent_instance;

  GtkWidget      *widget;         /* weak */
  guint           interval_ms;
  int             max_width;
  int             max_height;

  CsbDBusSandbox *sandbox;
  gboolean        remote;
  guint           generation;     /* which sandbox a call's answer is for */
  GCancellable   *cancellable;    /* of the call under way, until it is cancelled */
  gboolean        asking;         /* a call is under way: until its answer comes */
  gint64          last_asked_us;  /* monotonic, 0: never */
  guint           failures;
  guint           timeout_id;

  GdkTexture     *texture;
  char           *error;
};

G_DEFINE_FINAL_TYPE (CsbScreenFeed, csb_screen_feed, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_TEXTURE,
  PROP_ERROR,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void schedule (CsbScreenFeed *self);

/* ---- decoding ---------------------------------------------------------------------------- */

static const guint8 png_signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

static guint32
read_be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* A PNG starts with its signature, then IHDR (libpng refuses any other first chunk):
 * the size it promises, checked before anything is decoded. */
static gboolean
check_png_header (const guint8 *data,
                  gsize         size,
                  GError      **error)
{
  guint32 width, height;

  if (size < 8 + 8 + 13 || memcmp (data, png_signature, 8) != 0 ||
      read_be32 (data + 8) != 13 || memcmp (data + 12, "IHDR", 4) != 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "the screenshot is not a PNG");
      return FALSE;
    }
  width = read_be32 (data + 16);
  height = read_be32 (data + 20);
  if (width == 0 || height == 0 || width > CSB_SCREEN_FEED_MAX_SIDE ||
      height > CSB_SCREEN_FEED_MAX_SIDE ||
      (guint64) width * height > CSB_SCREEN_FEED_MAX_PIXELS)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "the screenshot's size, %u×%u, is out of bounds (at most %d pixels a side "
                   "and %d in all)", width, height, CSB_SCREEN_FEED_MAX_SIDE,
                   CSB_SCREEN_FEED_MAX_PIXELS);
      return FALSE;
    }
  return TRUE;
}

/* Scaled down with cairo's area filter, in GdkMemoryTexture's default format (cairo's
 * premultiplied ARGB32, which the download gives too). */
static GdkTexture *
scale_to_fit (GdkTexture *texture,
              int         max_width,
              int         max_height)
{
  int width = gdk_texture_get_width (texture);
  int height = gdk_texture_get_height (texture);
  double factor;
  int to_width, to_height, stride, to_stride;
  g_autofree guint8 *pixels = NULL;
  cairo_surface_t *from, *to;
  cairo_t *cr;
  GBytes *bytes;
  GdkTexture *scaled;

  if (max_width <= 0 || max_height <= 0 || (width <= max_width && height <= max_height))
    return g_object_ref (texture);
  factor = MIN ((double) max_width / width, (double) max_height / height);
  to_width = CLAMP ((int) (width * factor + 0.5), 1, max_width);
  to_height = CLAMP ((int) (height * factor + 0.5), 1, max_height);

  stride = cairo_format_stride_for_width (CAIRO_FORMAT_ARGB32, width);
  pixels = g_malloc ((gsize) stride * height);
  gdk_texture_download (texture, pixels, stride);
  from = cairo_image_surface_create_for_data (pixels, CAIRO_FORMAT_ARGB32, width, height, stride);
  to = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, to_width, to_height);
  cr = cairo_create (to);
  cairo_scale (cr, (double) to_width / width, (double) to_height / height);
  cairo_set_source_surface (cr, from, 0, 0);
  cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_GOOD);
  cairo_set_operator (cr, CAIRO_OPERATOR_SOURCE);
  cairo_paint (cr);
  cairo_destroy (cr);
  cairo_surface_flush (to);
  to_stride = cairo_image_surface_get_stride (to);
  bytes = g_bytes_new (cairo_image_surface_get_data (to), (gsize) to_stride * to_height);
  scaled = gdk_memory_texture_new (to_width, to_height, GDK_MEMORY_DEFAULT, bytes, to_stride);
  g_bytes_unref (bytes);
  cairo_surface_destroy (to);
  cairo_surface_destroy (from);
  return scaled;
}

GdkTexture *
csb_screen_feed_decode (GBytes  *png,
                        int      max_width,
                        int      max_height,
                        GError **error)
{
  gsize size = 0;
  const guint8 *data;
  g_autoptr(GdkTexture) texture = NULL;

  g_return_val_if_fail (png != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  data = g_bytes_get_data (png, &size);
  if (size > CSB_SCREEN_FEED_MAX_BYTES)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "the screenshot is too large (%" G_GSIZE_FORMAT " bytes, at most %d)", size,
                   CSB_SCREEN_FEED_MAX_BYTES);
      return NULL;
    }
  if (!check_png_header (data, size, error))
    return NULL;
  texture = gdk_texture_new_from_bytes (png, error);
  if (texture == NULL)
    return NULL;
  return scale_to_fit (texture, max_width, max_height);
}

/* The memfd's contents: a regular file of a bounded size, read from its start. */
static GBytes *
read_screenshot_fd (int      fd,
                    GError **error)
{
  struct stat st;
  g_autofree guint8 *data = NULL;
  gsize done = 0;

  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || st.st_size <= 0 ||
      st.st_size > CSB_SCREEN_FEED_MAX_BYTES)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "the screenshot is not a file of a sane size (at most %d bytes)",
                   CSB_SCREEN_FEED_MAX_BYTES);
      return NULL;
    }
  data = g_malloc (st.st_size);
  while (done < (gsize) st.st_size)
    {
      gssize n = pread (fd, data + done, st.st_size - done, done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot read the screenshot: %s",
                       n < 0 ? g_strerror (errno) : "it is shorter than it said");
          return NULL;
        }
      done += n;
    }
  return g_bytes_new_take (g_steal_pointer (&data), done);
}

/* ---- asking ------------------------------------------------------------------------------ */

typedef struct
{
  guint   generation;
  int     fd;       /* Screenshot()'s, or -1 */
  GBytes *png;      /* ScreenshotData()'s, or NULL */
  int     max_width;
  int     max_height;
} Shot;

static void
shot_free (Shot *shot)
{
  if (shot->fd >= 0)
    close (shot->fd);
  g_clear_pointer (&shot->png, g_bytes_unref);
  g_free (shot);
}

static void
decode_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  Shot *shot = task_data;
  g_autoptr(GBytes) png = shot->png != NULL ? g_bytes_ref (shot->png) : NULL;
  GError *error = NULL;
  GdkTexture *texture;

  if (png == NULL)
    png = read_screenshot_fd (shot->fd, &error);
  texture = png != NULL ? csb_screen_feed_decode (png, shot->max_width, shot->max_height, &error)
                        : NULL;
  if (texture == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, texture, g_object_unref);
}

static void
set_error (CsbScreenFeed *self,
           const char    *message)
{
  if (g_strcmp0 (self->error, message) == 0)
    return;
  g_free (self->error);
  self->error = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
}

static void
on_decoded (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  CsbScreenFeed *self = CSB_SCREEN_FEED (source);
  Shot *shot = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = g_task_propagate_pointer (G_TASK (result), &error);

  self->asking = FALSE;
  if (shot->generation == self->generation && self->sandbox != NULL)
    {
      if (texture != NULL)
        {
          self->failures = 0;
          set_error (self, NULL);
          g_set_object (&self->texture, texture);
          g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TEXTURE]);
        }
      else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          self->failures = MIN (self->failures + 1, MAX_BACKOFF_SHIFT);
          g_dbus_error_strip_remote_error (error);
          g_debug ("screenshot of %s: %s", csb_dbus_sandbox_get_id (self->sandbox),
                   error->message);
          set_error (self, error->message);
        }
    }
  g_clear_object (&self->cancellable);
  schedule (self);
}

static void
on_screenshot (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Shot *shot = g_task_get_task_data (task);
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GError) error = NULL;

  if (!csb_dbus_sandbox_call_screenshot_finish (CSB_DBUS_SANDBOX (source), &handle, &fds, result,
                                                &error) ||
      (shot->fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), &error)) < 0)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (!g_task_return_error_if_cancelled (task))
    g_task_run_in_thread (task, decode_thread);
}

/* A connection's sandbox: the same PNG as bytes (descriptors cannot cross ssh). */
static void
on_screenshot_data (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Shot *shot = g_task_get_task_data (task);
  g_autoptr(GVariant) png = NULL;
  g_autoptr(GError) error = NULL;

  if (!csb_dbus_sandbox_call_screenshot_data_finish (CSB_DBUS_SANDBOX (source), &png, result,
                                                     &error))
    {
      if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
        {
          g_clear_error (&error);
          g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                               "the sandbox service there is too old to show its display "
                               "(it has no ScreenshotData)");
        }
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* "ay": the proxy checked the reply's type against the interface. */
  shot->png = g_variant_get_data_as_bytes (png);
  if (!g_task_return_error_if_cancelled (task))
    g_task_run_in_thread (task, decode_thread);
}

static void
ask (CsbScreenFeed *self)
{
  GTask *task;
  Shot *shot = g_new0 (Shot, 1);

  shot->generation = self->generation;
  shot->fd = -1;
  shot->max_width = self->max_width;
  shot->max_height = self->max_height;
  self->asking = TRUE;
  self->last_asked_us = g_get_monotonic_time ();
  self->cancellable = g_cancellable_new ();
  task = g_task_new (self, self->cancellable, on_decoded, NULL);
  g_task_set_source_tag (task, ask);
  g_task_set_task_data (task, shot, (GDestroyNotify) shot_free);
  /* The call itself is not cancelled: the service would work on it all the same, and
   * the next call waits for its answer, so that a feed never has two under way. */
  if (self->remote)
    csb_dbus_sandbox_call_screenshot_data (self->sandbox, NULL, on_screenshot_data, task);
  else
    csb_dbus_sandbox_call_screenshot (self->sandbox, NULL, NULL, on_screenshot, task);
}

static gboolean
on_due (gpointer user_data)
{
  CsbScreenFeed *self = user_data;

  self->timeout_id = 0;
  schedule (self);
  return G_SOURCE_REMOVE;
}

/* The next call, now or once the interval (longer after failures) has passed. */
static void
schedule (CsbScreenFeed *self)
{
  gint64 now = g_get_monotonic_time ();
  gint64 due = self->last_asked_us + ((gint64) self->interval_ms << self->failures) * 1000;

  if (self->widget == NULL || self->sandbox == NULL || self->asking || self->timeout_id != 0 ||
      !gtk_widget_get_mapped (self->widget))
    return;
  if (self->last_asked_us != 0 && now < due)
    self->timeout_id = g_timeout_add (MAX ((due - now) / 1000, 1), on_due, self);
  else
    ask (self);
}

/* Nobody sees it: nothing more is asked; the answer of a call under way is dropped
 * (the next call still waits for it). */
static void
pause_feed (CsbScreenFeed *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->timeout_id, g_source_remove);
}

void
csb_screen_feed_set_sandbox (CsbScreenFeed  *self,
                             CsbDBusSandbox *sandbox,
                             gboolean        remote)
{
  g_return_if_fail (CSB_IS_SCREEN_FEED (self));
  g_return_if_fail (sandbox == NULL || CSB_DBUS_IS_SANDBOX (sandbox));

  if (self->sandbox == sandbox && self->remote == remote)
    return;
  pause_feed (self);
  self->generation++;
  self->failures = 0;
  g_set_object (&self->sandbox, sandbox);
  self->remote = remote;
  set_error (self, NULL);
  if (self->texture != NULL)
    {
      g_clear_object (&self->texture);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TEXTURE]);
    }
  schedule (self);
}

GdkTexture *
csb_screen_feed_get_texture (CsbScreenFeed *self)
{
  g_return_val_if_fail (CSB_IS_SCREEN_FEED (self), NULL);
  return self->texture;
}

const char *
csb_screen_feed_get_error (CsbScreenFeed *self)
{
  g_return_val_if_fail (CSB_IS_SCREEN_FEED (self), NULL);
  return self->error;
}

CsbScreenFeed *
csb_screen_feed_new (GtkWidget *widget,
                     guint      interval_ms,
                     int        max_width,
                     int        max_height)
{
  CsbScreenFeed *self;

  g_return_val_if_fail (GTK_IS_WIDGET (widget), NULL);
  g_return_val_if_fail (interval_ms > 0, NULL);

  self = g_object_new (CSB_TYPE_SCREEN_FEED, NULL);
  self->interval_ms = interval_ms;
  self->max_width = max_width;
  self->max_height = max_height;
  g_set_weak_pointer (&self->widget, widget);
  g_signal_connect_object (widget, "map", G_CALLBACK (schedule), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (widget, "unmap", G_CALLBACK (pause_feed), self, G_CONNECT_SWAPPED);
  return self;
}

static void
csb_screen_feed_dispose (GObject *object)
{
  CsbScreenFeed *self = CSB_SCREEN_FEED (object);

  pause_feed (self);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->sandbox);
  g_clear_object (&self->texture);
  g_clear_weak_pointer (&self->widget);
  G_OBJECT_CLASS (csb_screen_feed_parent_class)->dispose (object);
}

static void
csb_screen_feed_finalize (GObject *object)
{
  CsbScreenFeed *self = CSB_SCREEN_FEED (object);

  g_free (self->error);
  G_OBJECT_CLASS (csb_screen_feed_parent_class)->finalize (object);
}

static void
csb_screen_feed_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  CsbScreenFeed *self = CSB_SCREEN_FEED (object);

  switch (prop_id)
    {
    case PROP_TEXTURE:
      g_value_set_object (value, self->texture);
      break;
    case PROP_ERROR:
      g_value_set_string (value, self->error);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
csb_screen_feed_class_init (CsbScreenFeedClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = csb_screen_feed_dispose;
  object_class->finalize = csb_screen_feed_finalize;
  object_class->get_property = csb_screen_feed_get_property;

  properties[PROP_TEXTURE] =
    g_param_spec_object ("texture", NULL, NULL, GDK_TYPE_TEXTURE,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ERROR] =
    g_param_spec_string ("error", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
csb_screen_feed_init (CsbScreenFeed *self)
{
}
