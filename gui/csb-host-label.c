/* csb-host-label.c
 *
 * Asked only while mapped (the page that holds it is the one shown, the window is
 * not minimised), every HOST_EVERY_S seconds, never two calls at once: a call still
 * waiting when the next tick comes makes that tick skip. The service is not started
 * for it (NO_AUTO_START): a service that exited when idle stays so, and the label
 * is empty until it runs again.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "csb-host-label.h"
#include "csb-names.h"

#define HOST_EVERY_S 3

struct _CsbHostLabel
{
  GtkWidget        parent_instance;

  GtkLabel        *label;
  GDBusConnection *bus;
  GCancellable    *cancellable;  /* set while a call is on its way */
  guint            tick;
};

G_DEFINE_FINAL_TYPE (CsbHostLabel, csb_host_label, GTK_TYPE_WIDGET)

static void
show_metrics (CsbHostLabel *self,
              GVariant     *metrics)
{
  g_autoptr(GVariantDict) dict = g_variant_dict_new (metrics);
  g_autofree char *available = NULL, *total = NULL, *text = NULL, *tooltip = NULL;
  guint64 available_bytes = 0, total_bytes = 0;
  double load[3] = { 0, 0, 0 };
  guint32 cpus = 0;

  if (!g_variant_dict_lookup (dict, "load-1", "d", &load[0]))
    {
      gtk_label_set_text (self->label, "");
      return;
    }
  g_variant_dict_lookup (dict, "load-5", "d", &load[1]);
  g_variant_dict_lookup (dict, "load-15", "d", &load[2]);
  g_variant_dict_lookup (dict, "cpus", "u", &cpus);
  g_variant_dict_lookup (dict, "memory-available-bytes", "t", &available_bytes);
  g_variant_dict_lookup (dict, "memory-total-bytes", "t", &total_bytes);
  available = g_format_size_full (available_bytes, G_FORMAT_SIZE_IEC_UNITS);
  total = g_format_size_full (total_bytes, G_FORMAT_SIZE_IEC_UNITS);
  /* Translators: the machine's load average over the last minute, and its free memory */
  text = g_strdup_printf (_("Load %.2f · %s free"), load[0], available);
  tooltip = g_strdup_printf (g_dngettext (NULL,
                                          /* Translators: CPUs, the 1, 5 and 15 minute load
                                           * averages, free and total memory */
                                          "%u CPU, load %.2f %.2f %.2f, %s of %s memory free",
                                          "%u CPUs, load %.2f %.2f %.2f, %s of %s memory free",
                                          cpus),
                             cpus, load[0], load[1], load[2], available, total);
  gtk_label_set_text (self->label, text);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self), tooltip);
}

static void
on_host_metrics (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(CsbHostLabel) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) metrics = NULL;
  g_autoptr(GError) error = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  /* Cancelled: the label moved on (another bus, or off screen) and may have asked again. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->cancellable);
  if (reply == NULL)
    {
      /* No service running there now, or an older one: no numbers. */
      g_debug ("no host metrics: %s", error->message);
      gtk_label_set_text (self->label, "");
      gtk_widget_set_tooltip_text (GTK_WIDGET (self), NULL);
      return;
    }
  metrics = g_variant_get_child_value (reply, 0);
  show_metrics (self, metrics);
}

static void
ask (CsbHostLabel *self)
{
  if (self->bus == NULL || self->cancellable != NULL)
    return;
  self->cancellable = g_cancellable_new ();
  g_dbus_connection_call (self->bus, CSB_BUS_NAME, CSB_MANAGER_PATH, CSB_MANAGER_INTERFACE,
                          "GetHostMetrics", NULL, G_VARIANT_TYPE ("(a{sv})"),
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, self->cancellable,
                          on_host_metrics, g_object_ref (self));
}

static void
stop_asking (CsbHostLabel *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
}

static gboolean
on_tick (gpointer user_data)
{
  ask (user_data);
  return G_SOURCE_CONTINUE;
}

static void
csb_host_label_map (GtkWidget *widget)
{
  CsbHostLabel *self = CSB_HOST_LABEL (widget);

  GTK_WIDGET_CLASS (csb_host_label_parent_class)->map (widget);
  ask (self);
  if (self->tick == 0)
    self->tick = g_timeout_add_seconds (HOST_EVERY_S, on_tick, self);
}

static void
csb_host_label_unmap (GtkWidget *widget)
{
  CsbHostLabel *self = CSB_HOST_LABEL (widget);

  /* Nobody looks: nothing is asked. */
  g_clear_handle_id (&self->tick, g_source_remove);
  stop_asking (self);
  GTK_WIDGET_CLASS (csb_host_label_parent_class)->unmap (widget);
}

GtkWidget *
csb_host_label_new (void)
{
  return g_object_new (CSB_TYPE_HOST_LABEL, NULL);
}

void
csb_host_label_set_bus (CsbHostLabel    *self,
                        GDBusConnection *bus)
{
  g_return_if_fail (CSB_IS_HOST_LABEL (self));

  if (bus == self->bus)
    return;
  stop_asking (self);
  g_set_object (&self->bus, bus);
  gtk_label_set_text (self->label, "");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self), NULL);
  if (gtk_widget_get_mapped (GTK_WIDGET (self)))
    ask (self);
}

const char *
csb_host_label_get_text (CsbHostLabel *self)
{
  g_return_val_if_fail (CSB_IS_HOST_LABEL (self), NULL);

  return gtk_label_get_text (self->label);
}

static void
csb_host_label_dispose (GObject *object)
{
  CsbHostLabel *self = CSB_HOST_LABEL (object);

  g_clear_handle_id (&self->tick, g_source_remove);
  stop_asking (self);
  g_clear_object (&self->bus);
  if (self->label != NULL)
    gtk_widget_unparent (GTK_WIDGET (self->label));
  self->label = NULL;
  G_OBJECT_CLASS (csb_host_label_parent_class)->dispose (object);
}

static void
csb_host_label_class_init (CsbHostLabelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = csb_host_label_dispose;
  widget_class->map = csb_host_label_map;
  widget_class->unmap = csb_host_label_unmap;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "csb-host-label");
}

static void
csb_host_label_init (CsbHostLabel *self)
{
  self->label = GTK_LABEL (gtk_label_new (""));
  gtk_label_set_ellipsize (self->label, PANGO_ELLIPSIZE_END);
  gtk_label_set_xalign (self->label, 1.0);
  gtk_widget_add_css_class (GTK_WIDGET (self->label), "dim-label");
  gtk_widget_add_css_class (GTK_WIDGET (self->label), "caption");
  gtk_widget_set_parent (GTK_WIDGET (self->label), GTK_WIDGET (self));
  gtk_widget_set_valign (GTK_WIDGET (self), GTK_ALIGN_CENTER);
}
