/* csb-sandbox-row.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "csb-changes-window.h"
#include "csb-format.h"
#include "csb-sandbox-row.h"
#include "csb-screen-feed.h"

struct _CsbSandboxRow
{
  AdwActionRow    parent_instance;

  GtkStack       *state_icon_stack;
  GtkPicture     *thumbnail;
  GtkSpinner     *spinner;
  GtkImage       *state_icon;
  GtkLabel       *state_label;
  GtkImage       *plants_icon;
  GtkMenuButton  *protections_button;
  GtkLabel       *protections_label;
  GtkButton      *changes_button;
  AdwButtonContent *changes_content;  /* its badge: the count of pending changes */
  GtkButton      *display_button;
  GtkButton      *stop_button;
  GtkButton      *remove_button;

  CsbDBusSandbox *sandbox;
  guint           uptime_timeout;

  /* Metrics: asked every few seconds while the row is on screen and its sandbox runs. */
  GCancellable   *metrics_cancellable;
  guint           metrics_ticks;
  guint64         last_cpu_us;
  gint64          last_sample_us;   /* monotonic, 0: no sample yet */
  char           *metrics_text;

  /* A private display's picture: about one a second while the row is on screen. */
  CsbScreenFeed  *screen_feed;

  const char     *action_prefix;  /* "win", or "remote" for a connection's sandbox */
};

#define METRICS_EVERY_S 3
#define THUMBNAIL_EVERY_MS 1000
/* The thumbnail fits in this box (a 16:10 screen: 80×50). */
#define THUMBNAIL_WIDTH  88
#define THUMBNAIL_HEIGHT 50

G_DEFINE_FINAL_TYPE (CsbSandboxRow, csb_sandbox_row, ADW_TYPE_ACTION_ROW)

static gboolean
is_active (const char *state)
{
  return g_strcmp0 (state, "exited") != 0 && g_strcmp0 (state, "failed") != 0;
}

/* Running, with a display of its own whose pictures the service can take. */
static gboolean
shows_private_display (CsbSandboxRow *self)
{
  const char * const *protections = csb_dbus_sandbox_get_protections (self->sandbox);

  return g_strcmp0 (csb_dbus_sandbox_get_state (self->sandbox), "running") == 0 &&
         protections != NULL && g_strv_contains (protections, "display-private");
}

static void
update_subtitle (CsbSandboxRow *self)
{
  const char *state = csb_dbus_sandbox_get_state (self->sandbox);
  g_autofree char *folder = csb_format_path (csb_dbus_sandbox_get_project_dir (self->sandbox));
  g_autofree char *detail = NULL;
  g_autofree char *subtitle = NULL;

  if (g_strcmp0 (state, "running") == 0)
    {
      g_autofree char *uptime = csb_format_uptime (csb_dbus_sandbox_get_started_at (self->sandbox));
      /* Translators: how long a sandbox has been running, e.g. "up 5 min" */
      detail = g_strdup_printf (_("up %s"), uptime);
    }
  else if (g_strcmp0 (state, "failed") == 0 && *csb_dbus_sandbox_get_error (self->sandbox) != '\0')
    detail = csb_format_failure (csb_dbus_sandbox_get_error (self->sandbox));
  else if (g_strcmp0 (state, "exited") == 0)
    detail = csb_format_exit (csb_dbus_sandbox_get_exit_status (self->sandbox));

  /* The service's own words on hover. */
  gtk_widget_set_tooltip_text (GTK_WIDGET (self),
                               g_strcmp0 (state, "failed") == 0 ? csb_dbus_sandbox_get_error (self->sandbox)
                                                                : NULL);
  subtitle = g_strjoin (" · ", folder, csb_format_backend (csb_dbus_sandbox_get_backend (self->sandbox)),
                        detail, g_strcmp0 (state, "running") == 0 ? self->metrics_text : NULL,
                        NULL);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (self), subtitle);
}

/* "CPU 12% · 212 MiB · 3,100 tokens": what is known of it. */
static char *
format_metrics (CsbSandboxRow *self,
                GVariant      *metrics)
{
  g_autoptr(GVariantDict) dict = g_variant_dict_new (metrics);
  g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  gint64 now = g_get_monotonic_time ();
  guint64 cpu_us, memory, tokens = 0, value;
  const char *token_keys[] = { "claude-input-tokens", "claude-output-tokens",
                               "claude-cache-creation-tokens", "claude-cache-read-tokens" };

  if (g_variant_dict_lookup (dict, "cpu-time-us", "t", &cpu_us))
    {
      if (self->last_sample_us > 0 && now > self->last_sample_us && cpu_us >= self->last_cpu_us)
        /* Translators: a sandbox's share of one processor now, e.g. "CPU 12%" */
        g_ptr_array_add (parts, g_strdup_printf (_("CPU %u%%"),
                                                 (guint) ((cpu_us - self->last_cpu_us) * 100 /
                                                          (now - self->last_sample_us))));
      self->last_cpu_us = cpu_us;
      self->last_sample_us = now;
    }
  if (g_variant_dict_lookup (dict, "memory-bytes", "t", &memory))
    g_ptr_array_add (parts, g_format_size_full (memory, G_FORMAT_SIZE_IEC_UNITS));
  for (guint i = 0; i < G_N_ELEMENTS (token_keys); i++)
    if (g_variant_dict_lookup (dict, token_keys[i], "t", &value))
      tokens += value;
  if (tokens > 0)
    {
      g_autofree char *number = g_strdup_printf ("%'" G_GUINT64_FORMAT, tokens);

      /* Translators: Claude's tokens used in this sandbox so far, e.g. "3,100 tokens" */
      g_ptr_array_add (parts, g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s token",
                                                            "%s tokens", tokens), number));
    }
  g_ptr_array_add (parts, NULL);
  return parts->len > 1 ? g_strjoinv (" · ", (char **) parts->pdata) : NULL;
}

static void
on_metrics (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(CsbSandboxRow) self = user_data;
  g_autoptr(GVariant) metrics = NULL;
  g_autoptr(GError) error = NULL;

  if (!csb_dbus_sandbox_call_get_metrics_finish (CSB_DBUS_SANDBOX (source), &metrics, result,
                                                 &error))
    {
      /* Cancelled: the row moved on (and may have asked again). */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      /* An older service, or the sandbox went: the row just shows no numbers. */
      g_debug ("no metrics: %s", error->message);
      g_clear_object (&self->metrics_cancellable);
      return;
    }
  g_clear_object (&self->metrics_cancellable);
  g_free (self->metrics_text);
  self->metrics_text = format_metrics (self, metrics);
  update_subtitle (self);
}

static gboolean
on_uptime_tick (gpointer user_data)
{
  CsbSandboxRow *self = user_data;

  /* Nobody looks at an unmapped row: nothing is asked of the service then. */
  if (gtk_widget_get_mapped (GTK_WIDGET (self)) && self->metrics_cancellable == NULL &&
      self->metrics_ticks++ % METRICS_EVERY_S == 0)
    {
      self->metrics_cancellable = g_cancellable_new ();
      csb_dbus_sandbox_call_get_metrics (self->sandbox, self->metrics_cancellable, on_metrics,
                                         g_object_ref (self));
    }
  update_subtitle (self);
  return G_SOURCE_CONTINUE;
}

static void
set_action (CsbSandboxRow *self,
            GtkWidget     *widget,
            const char    *action,
            const char    *path)
{
  g_autofree char *name = g_strconcat (self->action_prefix, ".", action, NULL);

  gtk_actionable_set_action_target (GTK_ACTIONABLE (widget), "s", path);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (widget), name);
}

/* A warning sign while the sandbox has left files in the project that run outside
 * it (its Plants); the tooltip lists them, the terminal page says more. */
static void
update_plants (CsbSandboxRow *self)
{
  GVariant *plants = csb_dbus_sandbox_get_plants (self->sandbox);
  g_autoptr(GString) text = NULL;
  GVariantIter iter;
  const char *path, *why;
  guint n = plants ? g_variant_n_children (plants) : 0;

  gtk_widget_set_visible (GTK_WIDGET (self->plants_icon), n > 0);
  if (n == 0)
    return;
  text = g_string_new (_("Left in the project, run or obeyed outside the sandbox:"));
  g_variant_iter_init (&iter, plants);
  for (guint i = 0; i < 10 && g_variant_iter_next (&iter, "(&s&s)", &path, &why); i++)
    g_string_append_printf (text, "\n%s — %s", path, why);
  if (n > 10)
    {
      g_string_append_c (text, '\n');
      g_string_append_printf (text, _("… and %u more"), n - 10);
    }
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->plants_icon), text->str);
}

static void
update (CsbSandboxRow *self)
{
  const char *state = csb_dbus_sandbox_get_state (self->sandbox);
  const char *display = csb_dbus_sandbox_get_display (self->sandbox);
  const char * const *protections = csb_dbus_sandbox_get_protections (self->sandbox);
  const char *path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (self->sandbox));
  gboolean busy = g_strcmp0 (state, "starting") == 0 || g_strcmp0 (state, "stopping") == 0;
  gboolean private_display, remote;
  g_autofree char *protections_text = csb_format_protections (protections);
  static const char *state_classes[] = { "starting", "running", "stopping", "exited", "failed" };

  if (*adw_preferences_row_get_title (ADW_PREFERENCES_ROW (self)) == '\0')
    {
      g_autofree char *title = csb_format_sandbox_title (csb_dbus_sandbox_get_name (self->sandbox),
                                                         csb_dbus_sandbox_get_project_dir (self->sandbox),
                                                         csb_dbus_sandbox_get_command (self->sandbox));

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self), title);
    }
  gtk_label_set_label (self->state_label, csb_format_state (state));
  for (gsize i = 0; i < G_N_ELEMENTS (state_classes); i++)
    {
      g_autofree char *css = g_strconcat ("csb-state-", state_classes[i], NULL);

      if (g_strcmp0 (state, state_classes[i]) == 0)
        gtk_widget_add_css_class (GTK_WIDGET (self->state_label), css);
      else
        gtk_widget_remove_css_class (GTK_WIDGET (self->state_label), css);
    }

  gtk_spinner_set_spinning (self->spinner, busy);
  gtk_stack_set_visible_child_name (self->state_icon_stack, busy ? "busy" : "icon");
  if (g_strcmp0 (csb_dbus_sandbox_get_backend (self->sandbox), "vm") == 0)
    gtk_image_set_from_icon_name (self->state_icon, "computer-symbolic");
  else
    gtk_image_set_from_icon_name (self->state_icon, "folder-symbolic");

  gtk_label_set_label (self->protections_label, protections_text);
  update_plants (self);
  gtk_widget_set_visible (GTK_WIDGET (self->protections_button),
                          protections != NULL && protections[0] != NULL);
  /* Review mode: what waits to be applied, and the way to it. */
  {
    guint pending = csb_dbus_sandbox_get_pending_changes (self->sandbox);
    g_autofree char *tip = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                         "%u change to review",
                                                         "%u changes to review", pending),
                                            pending);
    g_autofree char *count = g_strdup_printf ("%u", pending);

    gtk_widget_set_visible (GTK_WIDGET (self->changes_button),
                            g_strcmp0 (csb_dbus_sandbox_get_project_mode (self->sandbox),
                                       "review") == 0 && pending > 0);
    gtk_widget_set_tooltip_text (GTK_WIDGET (self->changes_button), tip);
    adw_button_content_set_label (self->changes_content, count);
  }
  /* A connection's sandbox: its private display through ScreenshotData(); a VM's SPICE
   * display would need descriptors, which cannot cross ssh. */
  remote = g_strcmp0 (self->action_prefix, "remote") == 0;
  private_display = shows_private_display (self);
  gtk_widget_set_visible (GTK_WIDGET (self->display_button),
                          (display != NULL && *display != '\0' && is_active (state) && !remote) ||
                          private_display);
  csb_screen_feed_set_sandbox (self->screen_feed, private_display ? self->sandbox : NULL, remote);
  gtk_widget_set_visible (GTK_WIDGET (self->stop_button), is_active (state));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->stop_button),
                               g_strcmp0 (state, "starting") == 0 ? _("Cancel") : _("Stop"));
  gtk_widget_set_sensitive (GTK_WIDGET (self->stop_button), g_strcmp0 (state, "stopping") != 0);
  gtk_widget_set_visible (GTK_WIDGET (self->remove_button), !is_active (state));

  if (g_strcmp0 (state, "running") == 0 && self->uptime_timeout == 0)
    self->uptime_timeout = g_timeout_add_seconds (1, on_uptime_tick, self);
  else if (g_strcmp0 (state, "running") != 0)
    g_clear_handle_id (&self->uptime_timeout, g_source_remove);
  update_subtitle (self);

  /* The target before the name: an action with a parameter and no target warns. */
  set_action (self, GTK_WIDGET (self), "open-terminal", path);
  set_action (self, GTK_WIDGET (self->display_button), "show-display", path);
  set_action (self, GTK_WIDGET (self->stop_button), "stop", path);
  set_action (self, GTK_WIDGET (self->remove_button), "remove", path);
}

void
csb_sandbox_row_set_sandbox (CsbSandboxRow  *self,
                             CsbDBusSandbox *sandbox)
{
  g_return_if_fail (CSB_IS_SANDBOX_ROW (self));
  g_return_if_fail (CSB_DBUS_IS_SANDBOX (sandbox));

  if (self->sandbox == sandbox)
    return;
  if (self->sandbox != NULL)
    g_signal_handlers_disconnect_by_data (self->sandbox, self);
  g_set_object (&self->sandbox, sandbox);
  g_cancellable_cancel (self->metrics_cancellable);
  g_clear_object (&self->metrics_cancellable);
  g_clear_pointer (&self->metrics_text, g_free);
  self->last_sample_us = 0;
  /* After the generated class handler, which drops its cache of the "as" properties. */
  g_signal_connect_object (sandbox, "g-properties-changed", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED | G_CONNECT_AFTER);
  update (self);
}

GtkWidget *
csb_sandbox_row_new (CsbDBusSandbox *sandbox)
{
  CsbSandboxRow *self;

  g_return_val_if_fail (CSB_DBUS_IS_SANDBOX (sandbox), NULL);

  self = g_object_new (CSB_TYPE_SANDBOX_ROW, NULL);
  csb_sandbox_row_set_sandbox (self, sandbox);
  return GTK_WIDGET (self);
}

GtkWidget *
csb_sandbox_row_new_remote (CsbDBusSandbox *sandbox)
{
  CsbSandboxRow *self;

  g_return_val_if_fail (CSB_DBUS_IS_SANDBOX (sandbox), NULL);

  self = g_object_new (CSB_TYPE_SANDBOX_ROW, NULL);
  self->action_prefix = "remote";
  csb_sandbox_row_set_sandbox (self, sandbox);
  return GTK_WIDGET (self);
}

GtkWidget *
csb_sandbox_row_list_prepend (GtkListBox     *list,
                              GHashTable     *rows,
                              CsbDBusSandbox *sandbox,
                              gboolean        remote)
{
  GtkWidget *row;

  g_return_val_if_fail (GTK_IS_LIST_BOX (list), NULL);
  g_return_val_if_fail (rows != NULL, NULL);

  row = remote ? csb_sandbox_row_new_remote (sandbox) : csb_sandbox_row_new (sandbox);
  g_hash_table_insert (rows, g_strdup (g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox))),
                       row);
  gtk_list_box_insert (list, row, 0);
  return row;
}

gboolean
csb_sandbox_row_list_remove (GtkListBox *list,
                             GHashTable *rows,
                             const char *object_path)
{
  GtkWidget *row;

  g_return_val_if_fail (GTK_IS_LIST_BOX (list), FALSE);
  g_return_val_if_fail (rows != NULL, FALSE);

  row = g_hash_table_lookup (rows, object_path);
  if (row == NULL)
    return FALSE;
  gtk_list_box_remove (list, row);
  g_hash_table_remove (rows, object_path);
  return TRUE;
}

CsbDBusSandbox *
csb_sandbox_row_get_sandbox (CsbSandboxRow *self)
{
  g_return_val_if_fail (CSB_IS_SANDBOX_ROW (self), NULL);
  return self->sandbox;
}

const char *
csb_sandbox_row_get_state_text (CsbSandboxRow *self)
{
  g_return_val_if_fail (CSB_IS_SANDBOX_ROW (self), NULL);
  return gtk_label_get_label (self->state_label);
}

/* The count on the Changes button, or NULL while it is hidden. */
const char *
csb_sandbox_row_get_changes_badge (CsbSandboxRow *self)
{
  g_return_val_if_fail (CSB_IS_SANDBOX_ROW (self), NULL);
  if (!gtk_widget_get_visible (GTK_WIDGET (self->changes_button)))
    return NULL;
  return adw_button_content_get_label (self->changes_content);
}

GtkWidget *
csb_sandbox_row_get_changes_button (CsbSandboxRow *self)
{
  g_return_val_if_fail (CSB_IS_SANDBOX_ROW (self), NULL);
  return GTK_WIDGET (self->changes_button);
}

static void
on_changes_clicked (CsbSandboxRow *self)
{
  GtkWidget *window = g_str_equal (self->action_prefix, "remote")
                      ? csb_changes_window_new_remote (self->sandbox)
                      : csb_changes_window_new (self->sandbox);
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  if (GTK_IS_WINDOW (root))
    gtk_window_set_transient_for (GTK_WINDOW (window), GTK_WINDOW (root));
  gtk_window_present (GTK_WINDOW (window));
}

static void
on_thumbnail (CsbSandboxRow *self)
{
  GdkTexture *texture = csb_screen_feed_get_texture (self->screen_feed);

  gtk_picture_set_paintable (self->thumbnail, GDK_PAINTABLE (texture));
  gtk_widget_set_visible (GTK_WIDGET (self->thumbnail), texture != NULL);
}

/* The picture of the sandbox's private display, or NULL while none is shown. */
GdkTexture *
csb_sandbox_row_get_thumbnail (CsbSandboxRow *self)
{
  g_return_val_if_fail (CSB_IS_SANDBOX_ROW (self), NULL);
  if (!gtk_widget_get_visible (GTK_WIDGET (self->thumbnail)))
    return NULL;
  return GDK_TEXTURE (gtk_picture_get_paintable (self->thumbnail));
}

static void
csb_sandbox_row_dispose (GObject *object)
{
  CsbSandboxRow *self = CSB_SANDBOX_ROW (object);

  if (self->screen_feed != NULL)
    csb_screen_feed_set_sandbox (self->screen_feed, NULL, FALSE);
  g_clear_object (&self->screen_feed);

  g_clear_handle_id (&self->uptime_timeout, g_source_remove);
  g_cancellable_cancel (self->metrics_cancellable);
  g_clear_object (&self->metrics_cancellable);
  g_clear_pointer (&self->metrics_text, g_free);
  if (self->sandbox != NULL)
    g_signal_handlers_disconnect_by_data (self->sandbox, self);
  g_clear_object (&self->sandbox);
  G_OBJECT_CLASS (csb_sandbox_row_parent_class)->dispose (object);
}

static void
csb_sandbox_row_class_init (CsbSandboxRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = csb_sandbox_row_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/example/ClaudeSandbox/App/csb-sandbox-row.ui");
  gtk_widget_class_bind_template_child (widget_class, CsbSandboxRow, state_icon_stack);
  gtk_widget_class_bind_template_child (widget_class, CsbSandboxRow, thumbnail);
  gtk_widget_class_bind_template_child (widget_class, CsbSandboxRow, spinner);
  gtk_widget_class_bind_template_child (widget_class, CsbSandboxRow, state_icon);
  gtk_widget_class_bind_template_child (widget_class, CsbSandboxRow, state_label);
  gtk_widget_class_bind_template_child (widget_class, CsbSandboxRow, plants_icon);
  gtk_widget_class_bind_template_child (widget_class, CsbSandboxRow, protections_button);
  gtk_widget_class_bind_template_child (widget_class, CsbSandboxRow, protections_label);
  gtk_widget_class_bind_template_child (widget_class, CsbSandboxRow, changes_button);
  gtk_widget_class_bind_template_child (widget_class, CsbSandboxRow, changes_content);
  gtk_widget_class_bind_template_child (widget_class, CsbSandboxRow, display_button);
  gtk_widget_class_bind_template_child (widget_class, CsbSandboxRow, stop_button);
  gtk_widget_class_bind_template_child (widget_class, CsbSandboxRow, remove_button);
}

static void
csb_sandbox_row_init (CsbSandboxRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->action_prefix = "win";
  self->screen_feed = csb_screen_feed_new (GTK_WIDGET (self), THUMBNAIL_EVERY_MS, THUMBNAIL_WIDTH,
                                           THUMBNAIL_HEIGHT);
  g_signal_connect_object (self->screen_feed, "notify::texture", G_CALLBACK (on_thumbnail), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_swapped (self->changes_button, "clicked", G_CALLBACK (on_changes_clicked),
                            self);
}
