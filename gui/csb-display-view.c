/* csb-display-view.c
 *
 * spice-client-gtk is GTK 3 only, so this is the small GTK 4 SPICE widget the app
 * needs, on spice-client-glib: the display channel's primary surface becomes a
 * GdkTexture, scaled to fit; keys and the pointer go to the inputs channel. Every
 * channel's connection comes from the sandbox's OpenDisplay() (the service hands
 * out a socket connected to QEMU's SPICE server), never from an address.
 *
 * The guest's resolution stays its own (virtio-gpu's 1280×800): SPICE carries a
 * client's monitor layout to the guest only through its agent (spice-vdagent), which
 * the guest does not run, and spice-client-glib sends none without one. The widget
 * scales the screen instead, pointer included.
 *
 * What the server sends is the guest's doing: the surface's size is checked before
 * any pixel is read, and nothing but pixels and sizes is taken from it (no clipboard,
 * no file transfer, no USB, no audio, no shared folder).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <gio/gunixfdlist.h>
#include <spice-client.h>
#include <string.h>
#include <unistd.h>

#include "csb-display-view.h"

/* Far beyond any virtio-gpu mode; keeps width × stride arithmetic small. */
#define MAX_SIDE 16384

struct _CsbDisplayView
{
  GtkWidget            parent_instance;

  CsbDBusSandbox      *sandbox;
  GCancellable        *cancellable;
  SpiceSession        *session;
  SpiceMainChannel    *main;
  SpiceInputsChannel  *inputs;

  /* The primary surface: spice-client-glib's memory, valid until it is destroyed. */
  const guint8        *primary;
  int                  width;
  int                  height;
  int                  stride;
  GdkTexture          *texture;
  gboolean             dirty;

  /* Where the last frame went: widget = offset + guest × scale. */
  double               scale;
  double               offset_x;
  double               offset_y;
  double               last_x;
  double               last_y;
  int                  button_state;
  guint8               held[0x200 / 8];  /* scancodes pressed and not released */
  double               scroll_dy;
  char                *error;
};

G_DEFINE_FINAL_TYPE (CsbDisplayView, csb_display_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_TEXTURE,
  PROP_ERROR,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
set_error (CsbDisplayView *self,
           const char     *message)
{
  if (g_strcmp0 (self->error, message) == 0)
    return;
  g_free (self->error);
  self->error = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
}

/* ---- the connections ------------------------------------------------------------------ */

typedef struct
{
  CsbDisplayView *self;
  SpiceChannel   *channel;
  SpiceSession   *session;
} OpenFd;

static void
open_fd_free (OpenFd *open)
{
  g_object_unref (open->self);
  g_object_unref (open->channel);
  g_object_unref (open->session);
  g_free (open);
}

static void
on_display_opened (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  OpenFd *open = user_data;
  CsbDisplayView *self = open->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  int fd = -1;

  if (csb_dbus_sandbox_call_open_display_finish (CSB_DBUS_SANDBOX (source), &handle, &fds,
                                                 result, &error))
    fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), &error);
  if (open->session != self->session)
    {
      /* A session given up meanwhile. */
      if (fd >= 0)
        close (fd);
    }
  else if (fd < 0)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_dbus_error_strip_remote_error (error);
          set_error (self, error->message);
          spice_session_disconnect (self->session);
        }
    }
  else
    spice_channel_open_fd (open->channel, fd);  /* the channel owns it */
  open_fd_free (open);
}

/* Every channel (the main one too) asks for its connection. */
static void
on_open_fd (SpiceChannel   *channel,
            int             with_tls,
            CsbDisplayView *self)
{
  OpenFd *open = g_new0 (OpenFd, 1);

  open->self = g_object_ref (self);
  open->channel = g_object_ref (channel);
  open->session = g_object_ref (self->session);
  csb_dbus_sandbox_call_open_display (self->sandbox, NULL, self->cancellable, on_display_opened,
                                      open);
}

static void
on_channel_event (SpiceChannel      *channel,
                  SpiceChannelEvent  event,
                  CsbDisplayView    *self)
{
  switch (event)
    {
    case SPICE_CHANNEL_OPENED:
      /* Absolute positions: the guest has a virtio tablet. */
      if (SPICE_IS_MAIN_CHANNEL (channel))
        spice_main_channel_request_mouse_mode (SPICE_MAIN_CHANNEL (channel),
                                               SPICE_MOUSE_MODE_CLIENT);
      break;
    case SPICE_CHANNEL_CLOSED:
    case SPICE_CHANNEL_SWITCHING:
    case SPICE_CHANNEL_NONE:
      break;
    default:
      if (SPICE_IS_MAIN_CHANNEL (channel))
        set_error (self, "the display's connection failed");
      break;
    }
}

static gboolean
surface_is_sane (int format,
                 int width,
                 int height,
                 int stride)
{
  return (format == SPICE_SURFACE_FMT_32_xRGB || format == SPICE_SURFACE_FMT_32_ARGB) &&
         width > 0 && height > 0 && width <= MAX_SIDE && height <= MAX_SIDE &&
         stride >= width * 4 && stride <= MAX_SIDE * 4;
}

static void
on_primary_create (SpiceChannel   *channel,
                   int             format,
                   int             width,
                   int             height,
                   int             stride,
                   int             shmid,
                   gpointer        data,
                   CsbDisplayView *self)
{
  if (data == NULL || !surface_is_sane (format, width, height, stride))
    {
      g_debug ("display: ignoring a %d×%d surface (format %d, stride %d)", width, height,
               format, stride);
      self->primary = NULL;
      return;
    }
  /* Shown from its first drawing on: until then the last frame stays (a connection
   * made again does not flash black). */
  self->primary = data;
  self->width = width;
  self->height = height;
  self->stride = stride;
}

static void
on_primary_destroy (SpiceChannel   *channel,
                    CsbDisplayView *self)
{
  self->primary = NULL;
}

static void
on_invalidate (SpiceChannel   *channel,
               int             x,
               int             y,
               int             w,
               int             h,
               CsbDisplayView *self)
{
  if (self->primary == NULL)
    return;
  /* Copied once per frame, in snapshot, however many rectangles came. */
  self->dirty = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_channel_new (SpiceSession   *session,
                SpiceChannel   *channel,
                CsbDisplayView *self)
{
  int id;

  g_signal_connect_object (channel, "open-fd", G_CALLBACK (on_open_fd), self, 0);
  g_signal_connect_object (channel, "channel-event", G_CALLBACK (on_channel_event), self, 0);
  g_object_get (channel, "channel-id", &id, NULL);
  if (SPICE_IS_MAIN_CHANNEL (channel))
    self->main = SPICE_MAIN_CHANNEL (channel);
  else if (SPICE_IS_DISPLAY_CHANNEL (channel) && id == 0)
    {
      g_signal_connect_object (channel, "display-primary-create", G_CALLBACK (on_primary_create),
                               self, 0);
      g_signal_connect_object (channel, "display-primary-destroy",
                               G_CALLBACK (on_primary_destroy), self, 0);
      g_signal_connect_object (channel, "display-invalidate", G_CALLBACK (on_invalidate), self, 0);
      spice_channel_connect (channel);
    }
  else if (SPICE_IS_INPUTS_CHANNEL (channel))
    {
      self->inputs = SPICE_INPUTS_CHANNEL (channel);
      spice_channel_connect (channel);
    }
  /* The cursor is the host's own (absolute mode); nothing else is wanted. */
}

static void
on_channel_destroy (SpiceSession   *session,
                    SpiceChannel   *channel,
                    CsbDisplayView *self)
{
  if (channel == SPICE_CHANNEL (self->main))
    self->main = NULL;
  else if (channel == SPICE_CHANNEL (self->inputs))
    self->inputs = NULL;
  else if (SPICE_IS_DISPLAY_CHANNEL (channel))
    self->primary = NULL;
}

static void
disconnect (CsbDisplayView *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->session != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->session, self);
      spice_session_disconnect (self->session);
      g_clear_object (&self->session);
    }
  self->main = NULL;
  self->inputs = NULL;
  self->primary = NULL;
  self->button_state = 0;
}

void
csb_display_view_set_sandbox (CsbDisplayView *self,
                              CsbDBusSandbox *sandbox)
{
  g_return_if_fail (CSB_IS_DISPLAY_VIEW (self));
  g_return_if_fail (sandbox == NULL || CSB_DBUS_IS_SANDBOX (sandbox));

  if (self->sandbox == sandbox)
    return;
  disconnect (self);
  g_set_object (&self->sandbox, sandbox);
  set_error (self, NULL);
  if (sandbox == NULL)
    return;

  self->cancellable = g_cancellable_new ();
  self->session = spice_session_new ();
  g_object_set (self->session,
                "enable-audio", FALSE,
                "enable-usbredir", FALSE,
                "enable-smartcard", FALSE,
                NULL);
  g_signal_connect_object (self->session, "channel-new", G_CALLBACK (on_channel_new), self, 0);
  g_signal_connect_object (self->session, "channel-destroy", G_CALLBACK (on_channel_destroy),
                           self, 0);
  /* -1: the main channel asks for its socket through "open-fd", as the others do. */
  if (!spice_session_open_fd (self->session, -1))
    set_error (self, "cannot open a SPICE session");
}

/* ---- drawing ----------------------------------------------------------------------------- */

/* The guest's xRGB (B, G, R, x in memory) as an opaque texture: the x byte is not
 * alpha, so it is set. */
static GdkTexture *
texture_from_primary (CsbDisplayView *self)
{
  gsize row = (gsize) self->width * 4;
  guint8 *pixels = g_malloc (row * self->height);
  g_autoptr(GBytes) bytes = NULL;

  for (int y = 0; y < self->height; y++)
    {
      guint8 *out = pixels + y * row;

      memcpy (out, self->primary + (gsize) y * self->stride, row);
      for (int x = 0; x < self->width; x++)
        out[x * 4 + 3] = 0xff;
    }
  bytes = g_bytes_new_take (pixels, row * self->height);
  return gdk_memory_texture_new (self->width, self->height, GDK_MEMORY_B8G8R8A8_PREMULTIPLIED,
                                 bytes, row);
}

static void
csb_display_view_snapshot (GtkWidget   *widget,
                           GtkSnapshot *snapshot)
{
  CsbDisplayView *self = CSB_DISPLAY_VIEW (widget);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  int tw, th;

  gtk_snapshot_append_color (snapshot, &(GdkRGBA) { 0, 0, 0, 1 },
                             &GRAPHENE_RECT_INIT (0, 0, width, height));
  if (self->dirty && self->primary != NULL)
    {
      g_set_object (&self->texture, NULL);
      self->texture = texture_from_primary (self);
      self->dirty = FALSE;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TEXTURE]);
    }
  if (self->texture == NULL || width <= 0 || height <= 0)
    return;
  tw = gdk_texture_get_width (self->texture);
  th = gdk_texture_get_height (self->texture);
  self->scale = MIN ((double) width / tw, (double) height / th);
  self->offset_x = (width - tw * self->scale) / 2;
  self->offset_y = (height - th * self->scale) / 2;
  gtk_snapshot_append_texture (snapshot, self->texture,
                               &GRAPHENE_RECT_INIT (self->offset_x, self->offset_y,
                                                    tw * self->scale, th * self->scale));
}

static void
csb_display_view_measure (GtkWidget      *widget,
                          GtkOrientation  orientation,
                          int             for_size,
                          int            *minimum,
                          int            *natural,
                          int            *minimum_baseline,
                          int            *natural_baseline)
{
  /* Any size: the screen is scaled to fit. */
  *minimum = 0;
  *natural = orientation == GTK_ORIENTATION_HORIZONTAL ? 640 : 400;
}

/* ---- keyboard ---------------------------------------------------------------------------- */

/* Linux input codes (X11 and Wayland keycodes are these + 8) to PC XT set 1
 * scancodes, 0xe0-prefixed ones as 0x100 | code, as spice_inputs_channel_key_press()
 * takes them: the same number up to F12 (but for 84, 85), a table after. */
static guint
scancode_for_keycode (guint keycode)
{
  static const struct { guint16 linux_code, scancode; } extended[] = {
    { 96, 0x11c },  /* KP Enter */
    { 97, 0x11d },  /* Right Ctrl */
    { 98, 0x135 },  /* KP / */
    { 99, 0x137 },  /* Print Screen */
    { 100, 0x138 }, /* Right Alt (AltGr) */
    { 102, 0x147 }, /* Home */
    { 103, 0x148 }, /* Up */
    { 104, 0x149 }, /* Page Up */
    { 105, 0x14b }, /* Left */
    { 106, 0x14d }, /* Right */
    { 107, 0x14f }, /* End */
    { 108, 0x150 }, /* Down */
    { 109, 0x151 }, /* Page Down */
    { 110, 0x152 }, /* Insert */
    { 111, 0x153 }, /* Delete */
    { 113, 0x120 }, /* Mute */
    { 114, 0x12e }, /* Volume Down */
    { 115, 0x130 }, /* Volume Up */
    { 117, 0x059 }, /* KP = */
    { 119, 0x146 }, /* Pause */
    { 125, 0x15b }, /* Left Super */
    { 126, 0x15c }, /* Right Super */
    { 127, 0x15d }, /* Menu */
  };
  guint code;

  if (keycode < 8)
    return 0;
  code = keycode - 8;
  if ((code >= 1 && code <= 83) || (code >= 86 && code <= 88))
    return code;
  for (guint i = 0; i < G_N_ELEMENTS (extended); i++)
    if (extended[i].linux_code == code)
      return extended[i].scancode;
  return 0;
}

static gboolean
on_key (CsbDisplayView *self,
        guint           keyval,
        guint           keycode,
        GdkModifierType state,
        gboolean        pressed)
{
  guint scancode = scancode_for_keycode (keycode);

  if (self->inputs == NULL || scancode == 0)
    return FALSE;
  if (pressed)
    {
      self->held[scancode / 8] |= 1 << (scancode % 8);
      spice_inputs_channel_key_press (self->inputs, scancode);
    }
  else
    {
      self->held[scancode / 8] &= ~(1 << (scancode % 8));
      spice_inputs_channel_key_release (self->inputs, scancode);
    }
  return TRUE;
}

static gboolean
on_key_pressed (GtkEventControllerKey *controller,
                guint                  keyval,
                guint                  keycode,
                GdkModifierType        state,
                CsbDisplayView        *self)
{
  return on_key (self, keyval, keycode, state, TRUE);
}

static void
on_key_released (GtkEventControllerKey *controller,
                 guint                  keyval,
                 guint                  keycode,
                 GdkModifierType        state,
                 CsbDisplayView        *self)
{
  on_key (self, keyval, keycode, state, FALSE);
}

/* Keys held when the focus goes would stay down in the guest. */
static void
on_focus_leave (GtkEventControllerFocus *controller,
                CsbDisplayView          *self)
{
  for (guint scancode = 0; scancode < sizeof self->held * 8; scancode++)
    if (self->held[scancode / 8] & (1 << (scancode % 8)))
      {
        if (self->inputs != NULL)
          spice_inputs_channel_key_release (self->inputs, scancode);
        self->held[scancode / 8] &= ~(1 << (scancode % 8));
      }
}

/* ---- pointer ----------------------------------------------------------------------------- */

static gboolean
absolute_mouse (CsbDisplayView *self)
{
  int mode = SPICE_MOUSE_MODE_SERVER;

  if (self->main != NULL)
    g_object_get (self->main, "mouse-mode", &mode, NULL);
  return mode == SPICE_MOUSE_MODE_CLIENT;
}

static void
send_motion (CsbDisplayView *self,
             double          x,
             double          y)
{
  double dx = x - self->last_x, dy = y - self->last_y;

  self->last_x = x;
  self->last_y = y;
  if (self->inputs == NULL || self->texture == NULL || self->scale <= 0)
    return;
  if (absolute_mouse (self))
    {
      int gx = CLAMP ((x - self->offset_x) / self->scale, 0,
                      gdk_texture_get_width (self->texture) - 1);
      int gy = CLAMP ((y - self->offset_y) / self->scale, 0,
                      gdk_texture_get_height (self->texture) - 1);

      spice_inputs_channel_position (self->inputs, gx, gy, 0, self->button_state);
    }
  else
    spice_inputs_channel_motion (self->inputs, dx / self->scale, dy / self->scale,
                                 self->button_state);
}

static int
spice_button (guint gdk_button,
              int  *mask)
{
  switch (gdk_button)
    {
    case GDK_BUTTON_PRIMARY:
      *mask = SPICE_MOUSE_BUTTON_MASK_LEFT;
      return SPICE_MOUSE_BUTTON_LEFT;
    case GDK_BUTTON_MIDDLE:
      *mask = SPICE_MOUSE_BUTTON_MASK_MIDDLE;
      return SPICE_MOUSE_BUTTON_MIDDLE;
    case GDK_BUTTON_SECONDARY:
      *mask = SPICE_MOUSE_BUTTON_MASK_RIGHT;
      return SPICE_MOUSE_BUTTON_RIGHT;
    default:
      *mask = 0;
      return 0;
    }
}

static void
send_wheel (CsbDisplayView *self,
            int             button)
{
  spice_inputs_channel_button_press (self->inputs, button, self->button_state);
  spice_inputs_channel_button_release (self->inputs, button, self->button_state);
}

static gboolean
on_pointer_event (GtkEventControllerLegacy *controller,
                  GdkEvent                 *event,
                  CsbDisplayView           *self)
{
  GdkEventType type = gdk_event_get_event_type (event);
  double x, y;
  int button, mask;

  switch (type)
    {
    case GDK_MOTION_NOTIFY:
      if (gdk_event_get_position (event, &x, &y))
        send_motion (self, x, y);
      return FALSE;
    case GDK_BUTTON_PRESS:
    case GDK_BUTTON_RELEASE:
      if (type == GDK_BUTTON_PRESS)
        gtk_widget_grab_focus (GTK_WIDGET (self));
      if (gdk_event_get_position (event, &x, &y))
        send_motion (self, x, y);
      button = spice_button (gdk_button_event_get_button (event), &mask);
      if (button == 0 || self->inputs == NULL)
        return TRUE;
      if (type == GDK_BUTTON_PRESS)
        {
          self->button_state |= mask;
          spice_inputs_channel_button_press (self->inputs, button, self->button_state);
        }
      else
        {
          self->button_state &= ~mask;
          spice_inputs_channel_button_release (self->inputs, button, self->button_state);
        }
      return TRUE;
    case GDK_SCROLL:
      if (self->inputs == NULL)
        return TRUE;
      switch (gdk_scroll_event_get_direction (event))
        {
        case GDK_SCROLL_UP:
          send_wheel (self, SPICE_MOUSE_BUTTON_UP);
          break;
        case GDK_SCROLL_DOWN:
          send_wheel (self, SPICE_MOUSE_BUTTON_DOWN);
          break;
        case GDK_SCROLL_SMOOTH:
          {
            double dx;

            gdk_scroll_event_get_deltas (event, &dx, &y);
            for (self->scroll_dy += y; self->scroll_dy <= -1; self->scroll_dy += 1)
              send_wheel (self, SPICE_MOUSE_BUTTON_UP);
            for (; self->scroll_dy >= 1; self->scroll_dy -= 1)
              send_wheel (self, SPICE_MOUSE_BUTTON_DOWN);
          }
          break;
        case GDK_SCROLL_LEFT:
        case GDK_SCROLL_RIGHT:
        default:
          break;
        }
      return TRUE;
    default:
      return FALSE;
    }
}

/* ---- the object -------------------------------------------------------------------------- */

GtkWidget *
csb_display_view_new (void)
{
  return g_object_new (CSB_TYPE_DISPLAY_VIEW, NULL);
}

GdkTexture *
csb_display_view_get_texture (CsbDisplayView *self)
{
  g_return_val_if_fail (CSB_IS_DISPLAY_VIEW (self), NULL);
  return self->texture;
}

const char *
csb_display_view_get_error (CsbDisplayView *self)
{
  g_return_val_if_fail (CSB_IS_DISPLAY_VIEW (self), NULL);
  return self->error;
}

static void
csb_display_view_dispose (GObject *object)
{
  CsbDisplayView *self = CSB_DISPLAY_VIEW (object);

  disconnect (self);
  g_clear_object (&self->sandbox);
  g_clear_object (&self->texture);
  G_OBJECT_CLASS (csb_display_view_parent_class)->dispose (object);
}

static void
csb_display_view_finalize (GObject *object)
{
  CsbDisplayView *self = CSB_DISPLAY_VIEW (object);

  g_free (self->error);
  G_OBJECT_CLASS (csb_display_view_parent_class)->finalize (object);
}

static void
csb_display_view_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  CsbDisplayView *self = CSB_DISPLAY_VIEW (object);

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
csb_display_view_class_init (CsbDisplayViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = csb_display_view_dispose;
  object_class->finalize = csb_display_view_finalize;
  object_class->get_property = csb_display_view_get_property;
  widget_class->snapshot = csb_display_view_snapshot;
  widget_class->measure = csb_display_view_measure;

  properties[PROP_TEXTURE] =
    g_param_spec_object ("texture", NULL, NULL, GDK_TYPE_TEXTURE,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ERROR] =
    g_param_spec_string ("error", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_set_css_name (widget_class, "display-view");
}

static void
csb_display_view_init (CsbDisplayView *self)
{
  GtkEventController *controller;

  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_hexpand (GTK_WIDGET (self), TRUE);
  gtk_widget_set_vexpand (GTK_WIDGET (self), TRUE);

  controller = gtk_event_controller_key_new ();
  g_signal_connect (controller, "key-pressed", G_CALLBACK (on_key_pressed), self);
  g_signal_connect (controller, "key-released", G_CALLBACK (on_key_released), self);
  gtk_widget_add_controller (GTK_WIDGET (self), controller);

  controller = gtk_event_controller_focus_new ();
  g_signal_connect (controller, "leave", G_CALLBACK (on_focus_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), controller);

  controller = gtk_event_controller_legacy_new ();
  g_signal_connect (controller, "event", G_CALLBACK (on_pointer_event), self);
  gtk_widget_add_controller (GTK_WIDGET (self), controller);
}
