/* csb-changes-window.c
 *
 * Everything shown here comes from what a sandbox wrote (paths, summaries, diffs):
 * never markup, always valid UTF-8 before it reaches a widget.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <unistd.h>

#include <glib/gi18n.h>
#include <gio/gunixfdlist.h>

#include "csb-changes-window.h"
#include "csb-quote.h"

#define MAX_DIFF_SHOWN (2 * 1024 * 1024)

struct _CsbChangesWindow
{
  AdwWindow        parent_instance;

  GtkButton       *apply_all_button;
  GtkButton       *discard_all_button;
  AdwToastOverlay *toasts;
  GtkListBox      *list;
  GtkTextView     *diff_view;

  CsbDBusSandbox  *sandbox;
  gboolean         remote;    /* over ssh: no descriptors, the diff comes as bytes */
  GCancellable    *cancellable;
  char            *shown_path;
};

G_DEFINE_FINAL_TYPE (CsbChangesWindow, csb_changes_window, ADW_TYPE_WINDOW)

static void reload (CsbChangesWindow *self);

/* Text from the sandbox, safe for a label or a text view. */
static char *
safe_text (const char *text)
{
  return g_utf8_make_valid (text, -1);
}

static char *
safe_markup (const char *text)
{
  g_autofree char *valid = safe_text (text);

  return g_markup_escape_text (valid, -1);
}

static void
toast (CsbChangesWindow *self,
       const char       *message)
{
  g_autofree char *valid = safe_text (message);
  AdwToast *t = adw_toast_new (NULL);

  adw_toast_set_title (t, valid);
  adw_toast_set_timeout (t, 0);
  adw_toast_overlay_add_toast (self->toasts, t);
}

static void
show_error (CsbChangesWindow *self,
            GError           *error)
{
  g_dbus_error_strip_remote_error (error);
  toast (self, error->message);
}

/* ---- the diff ---------------------------------------------------------------------- */

/* @line as one visual line: a text view starts a new line at a carriage return and at
 * U+2028/U+2029, so a file's bytes could make one line of the diff look like two (a
 * "+" line hiding behind what looks like a context line). They are shown as diff tools
 * show them: a carriage return as ␍, the separators by their code. */
static char *
visible_line (const char *line)
{
  GString *out = g_string_new (NULL);

  for (const char *p = line; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c == '\r')
        g_string_append (out, "␍");
      else if (c == 0x2028 || c == 0x2029)
        g_string_append_printf (out, "<U+%04X>", c);
      else
        g_string_append_unichar (out, c);
    }
  return g_string_free (out, FALSE);
}

static void
show_diff_text (CsbChangesWindow *self,
                const char       *text)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->diff_view);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  GtkTextIter end;

  gtk_text_buffer_set_text (buffer, "", 0);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autofree char *line = visible_line (lines[i]);
      const char *tag = NULL;

      if (lines[i + 1] == NULL && *line == '\0')
        break;
      if (g_str_has_prefix (line, "+++ ") || g_str_has_prefix (line, "--- "))
        tag = "header";
      else if (line[0] == '+')
        tag = "added";
      else if (line[0] == '-')
        tag = "removed";
      else if (g_str_has_prefix (line, "@@"))
        tag = "hunk";
      gtk_text_buffer_get_end_iter (buffer, &end);
      if (tag != NULL)
        gtk_text_buffer_insert_with_tags_by_name (buffer, &end, line, -1, tag, NULL);
      else
        gtk_text_buffer_insert (buffer, &end, line, -1);
      gtk_text_buffer_get_end_iter (buffer, &end);
      gtk_text_buffer_insert (buffer, &end, "\n", 1);
    }
}

/* The first MAX_DIFF_SHOWN bytes of a diff (@text, which @more follows). */
static void
show_diff_bytes (CsbChangesWindow *self,
                 GString          *text,
                 gboolean          more)
{
  g_autofree char *valid = NULL;

  if (more || text->len > MAX_DIFF_SHOWN)
    {
      g_string_truncate (text, MIN (text->len, MAX_DIFF_SHOWN));
      g_string_append (text, _("\n(the rest of the diff is not shown)\n"));
    }
  valid = g_utf8_make_valid (text->str, text->len);
  show_diff_text (self, valid);
}

static void
on_diff_data (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  CsbChangesWindow *self = user_data;
  g_autoptr(GVariant) data = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) text = NULL;
  gboolean truncated;
  const char *bytes;
  gsize length;

  if (!csb_dbus_sandbox_call_get_diff_data_finish (CSB_DBUS_SANDBOX (source), &data, &truncated,
                                                   result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error);
      return;
    }
  bytes = g_variant_get_fixed_array (data, &length, 1);
  text = g_string_new_len (bytes, MIN (length, MAX_DIFF_SHOWN + 1));
  show_diff_bytes (self, text, truncated);
}

static void
on_diff (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  CsbChangesWindow *self = user_data;
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) text = g_string_new (NULL);
  char buf[65536];
  ssize_t n;
  int fd;

  if (!csb_dbus_sandbox_call_get_diff_finish (CSB_DBUS_SANDBOX (source), &handle, &fds, result,
                                              &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error);
      return;
    }
  if (fds == NULL || (fd = g_unix_fd_list_get (fds, 0, &error)) < 0)
    return;
  /* A memory file the service filled: reading it does not block. */
  while (text->len <= MAX_DIFF_SHOWN && (n = read (fd, buf, sizeof buf)) > 0)
    g_string_append_len (text, buf, n);
  close (fd);
  show_diff_bytes (self, text, FALSE);
}

static void
on_row_selected (GtkListBox       *list,
                 GtkListBoxRow    *row,
                 CsbChangesWindow *self)
{
  const char *path = row ? g_object_get_data (G_OBJECT (row), "csb-path") : NULL;

  g_free (self->shown_path);
  self->shown_path = g_strdup (path);
  if (path == NULL)
    {
      gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->diff_view), "", 0);
      return;
    }
  if (self->remote)
    csb_dbus_sandbox_call_get_diff_data (self->sandbox, path, self->cancellable, on_diff_data,
                                         self);
  else
    csb_dbus_sandbox_call_get_diff (self->sandbox, path, NULL, self->cancellable, on_diff,
                                    self);
}

/* ---- deciding ------------------------------------------------------------------------ */

static void
decided (CsbChangesWindow *self,
         gboolean          ok,
         GError           *error)
{
  if (!ok)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error);
      return;
    }
  reload (self);
}

static void
on_applied (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = csb_dbus_sandbox_call_apply_changes_finish (CSB_DBUS_SANDBOX (source), result,
                                                            &error);

  decided (user_data, ok, error);
}

static void
on_discarded (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = csb_dbus_sandbox_call_discard_changes_finish (CSB_DBUS_SANDBOX (source), result,
                                                              &error);

  decided (user_data, ok, error);
}

static void
decide (CsbChangesWindow *self,
        const char       *path,
        gboolean          apply)
{
  const char *paths[] = { path, NULL };

  if (apply)
    csb_dbus_sandbox_call_apply_changes (self->sandbox, paths, self->cancellable, on_applied,
                                         self);
  else
    csb_dbus_sandbox_call_discard_changes (self->sandbox, paths, self->cancellable,
                                           on_discarded, self);
}

static void
on_apply_clicked (GtkButton        *button,
                  CsbChangesWindow *self)
{
  decide (self, g_object_get_data (G_OBJECT (button), "csb-path"), TRUE);
}

static void
on_discard_clicked (GtkButton        *button,
                    CsbChangesWindow *self)
{
  decide (self, g_object_get_data (G_OBJECT (button), "csb-path"), FALSE);
}

static void
on_apply_all (GtkButton        *button,
              CsbChangesWindow *self)
{
  decide (self, NULL, TRUE);
}

static void
on_discard_all (GtkButton        *button,
                CsbChangesWindow *self)
{
  decide (self, NULL, FALSE);
}

/* ---- the list ------------------------------------------------------------------------ */

static const char *
kind_text (const char *kind)
{
  if (g_str_equal (kind, "added"))
    return _("Added");
  if (g_str_equal (kind, "modified"))
    return _("Modified");
  if (g_str_equal (kind, "deleted"))
    return _("Deleted");
  return _("Type changed");
}

static GtkWidget *
small_button (const char       *icon,
              const char       *tooltip,
              const char       *path,
              GCallback         callback,
              CsbChangesWindow *self)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon);

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, tooltip);
  gtk_widget_add_css_class (button, "flat");
  g_object_set_data_full (G_OBJECT (button), "csb-path", g_strdup (path), g_free);
  g_signal_connect (button, "clicked", callback, self);
  return button;
}

static void
on_changes (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  CsbChangesWindow *self = user_data;
  g_autoptr(GVariant) changes = NULL;
  g_autoptr(GError) error = NULL;
  GtkWidget *child;
  GtkListBoxRow *keep = NULL;
  GVariantIter iter;
  const char *path, *kind, *summary;

  if (!csb_dbus_sandbox_call_get_changes_finish (CSB_DBUS_SANDBOX (source), &changes, result,
                                                 &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error);
      return;
    }
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->list))) != NULL)
    gtk_list_box_remove (self->list, child);

  g_variant_iter_init (&iter, changes);
  while (g_variant_iter_next (&iter, "(&s&s&s)", &path, &kind, &summary))
    {
      GtkWidget *row = adw_action_row_new ();
      /* The sandbox chose the name: a newline or a bidi override in it is shown
       * escaped, as the CLI and git show it. */
      g_autofree char *quoted = csb_quote_name ("", path);
      g_autofree char *shown_summary = csb_show_text (summary);
      g_autofree char *title = safe_markup (quoted);
      g_autofree char *raw = g_strdup_printf ("%s · %s", kind_text (kind), shown_summary);
      g_autofree char *subtitle = safe_markup (raw);
      gboolean protected = g_str_has_prefix (summary, "[protected] ");

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
      if (protected)
        {
          GtkWidget *icon = gtk_image_new_from_icon_name ("dialog-warning-symbolic");

          gtk_widget_set_tooltip_text (icon, _("Runs or is obeyed outside the sandbox later "
                                               "(git, your own Claude Code, direnv…): "
                                               "applied only when you apply it by itself"));
          adw_action_row_add_prefix (ADW_ACTION_ROW (row), icon);
        }
      adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                                 small_button ("object-select-symbolic", _("Apply"), path,
                                               G_CALLBACK (on_apply_clicked), self));
      adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                                 small_button ("edit-delete-symbolic", _("Discard"), path,
                                               G_CALLBACK (on_discard_clicked), self));
      g_object_set_data_full (G_OBJECT (row), "csb-path", g_strdup (path), g_free);
      gtk_list_box_append (self->list, row);
      if (g_strcmp0 (self->shown_path, path) == 0)
        keep = GTK_LIST_BOX_ROW (row);
    }
  gtk_widget_set_sensitive (GTK_WIDGET (self->apply_all_button),
                            g_variant_n_children (changes) > 0);
  gtk_widget_set_sensitive (GTK_WIDGET (self->discard_all_button),
                            g_variant_n_children (changes) > 0);
  if (keep != NULL)
    gtk_list_box_select_row (self->list, keep);
  else
    {
      gtk_list_box_select_row (self->list,
                               gtk_list_box_get_row_at_index (self->list, 0));
      if (g_variant_n_children (changes) == 0)
        {
          GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->diff_view);
          gtk_text_buffer_set_text (buffer, _("No pending changes."), -1);
        }
    }
}

static void
reload (CsbChangesWindow *self)
{
  csb_dbus_sandbox_call_get_changes (self->sandbox, self->cancellable, on_changes, self);
}

/* ---- object -------------------------------------------------------------------------- */

static void
csb_changes_window_dispose (GObject *object)
{
  CsbChangesWindow *self = CSB_CHANGES_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  if (self->sandbox != NULL)
    g_signal_handlers_disconnect_by_data (self->sandbox, self);
  g_clear_object (&self->sandbox);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->shown_path, g_free);
  G_OBJECT_CLASS (csb_changes_window_parent_class)->dispose (object);
}

static void
csb_changes_window_class_init (CsbChangesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = csb_changes_window_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/example/ClaudeSandbox/App/csb-changes-window.ui");
  gtk_widget_class_bind_template_child (widget_class, CsbChangesWindow, apply_all_button);
  gtk_widget_class_bind_template_child (widget_class, CsbChangesWindow, discard_all_button);
  gtk_widget_class_bind_template_child (widget_class, CsbChangesWindow, toasts);
  gtk_widget_class_bind_template_child (widget_class, CsbChangesWindow, list);
  gtk_widget_class_bind_template_child (widget_class, CsbChangesWindow, diff_view);
}

static void
csb_changes_window_init (CsbChangesWindow *self)
{
  GtkTextBuffer *buffer;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->cancellable = g_cancellable_new ();
  buffer = gtk_text_view_get_buffer (self->diff_view);
  /* Meld's and GNOME Builder's colours, readable in light and dark. */
  gtk_text_buffer_create_tag (buffer, "added", "foreground", "#26a269", NULL);
  gtk_text_buffer_create_tag (buffer, "removed", "foreground", "#c01c28", NULL);
  gtk_text_buffer_create_tag (buffer, "hunk", "foreground", "#1c71d8", NULL);
  gtk_text_buffer_create_tag (buffer, "header", "weight", PANGO_WEIGHT_BOLD, NULL);
  g_signal_connect (self->list, "row-selected", G_CALLBACK (on_row_selected), self);
  g_signal_connect (self->apply_all_button, "clicked", G_CALLBACK (on_apply_all), self);
  g_signal_connect (self->discard_all_button, "clicked", G_CALLBACK (on_discard_all), self);
}

static GtkWidget *
changes_window_new (CsbDBusSandbox *sandbox,
                    gboolean        remote)
{
  CsbChangesWindow *self;
  g_autofree char *title = NULL;

  g_return_val_if_fail (CSB_DBUS_IS_SANDBOX (sandbox), NULL);

  self = g_object_new (CSB_TYPE_CHANGES_WINDOW, NULL);
  self->sandbox = g_object_ref (sandbox);
  self->remote = remote;
  {
    g_autofree char *name = safe_text (csb_dbus_sandbox_get_name (sandbox));

    /* Translators: the window's title; %s is the sandbox's name */
    title = g_strdup_printf (_("Changes of %s"), name);
  }
  gtk_window_set_title (GTK_WINDOW (self), title);
  g_signal_connect_object (sandbox, "notify::pending-changes", G_CALLBACK (reload), self,
                           G_CONNECT_SWAPPED);
  reload (self);
  return GTK_WIDGET (self);
}

GtkWidget *
csb_changes_window_new (CsbDBusSandbox *sandbox)
{
  return changes_window_new (sandbox, FALSE);
}

GtkWidget *
csb_changes_window_new_remote (CsbDBusSandbox *sandbox)
{
  return changes_window_new (sandbox, TRUE);
}

guint
csb_changes_window_get_n_changes (CsbChangesWindow *self)
{
  guint n = 0;

  g_return_val_if_fail (CSB_IS_CHANGES_WINDOW (self), 0);
  while (gtk_list_box_get_row_at_index (self->list, n) != NULL)
    n++;
  return n;
}

char *
csb_changes_window_dup_diff_text (CsbChangesWindow *self)
{
  GtkTextBuffer *buffer;
  GtkTextIter start, end;

  g_return_val_if_fail (CSB_IS_CHANGES_WINDOW (self), NULL);
  buffer = gtk_text_view_get_buffer (self->diff_view);
  gtk_text_buffer_get_bounds (buffer, &start, &end);
  return gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
}

/* The title of row @index as shown (markup), or NULL. */
char *
csb_changes_window_dup_title (CsbChangesWindow *self,
                              guint             index)
{
  GtkListBoxRow *row;

  g_return_val_if_fail (CSB_IS_CHANGES_WINDOW (self), NULL);
  row = gtk_list_box_get_row_at_index (self->list, index);
  return row ? g_strdup (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row))) : NULL;
}

GtkWidget *
csb_changes_window_get_apply_all (CsbChangesWindow *self)
{
  g_return_val_if_fail (CSB_IS_CHANGES_WINDOW (self), NULL);
  return GTK_WIDGET (self->apply_all_button);
}
