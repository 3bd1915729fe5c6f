/* csb-terminal-page.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <gio/gunixfdlist.h>

#include "csb-display-view.h"
#include "csb-format.h"
#include "csb-screen-view.h"
#include "csb-terminal-page.h"
#include "csb-terminal-view.h"

struct _CsbTerminalPage
{
  AdwBin              parent_instance;

  GtkWidget          *view_bar;
  GtkStack           *view_stack;
  GtkButton          *display_button;
  CsbDisplayView     *display_view;
  AdwStatusPage      *display_error;
  GtkWidget          *display_box;
  CsbScreenView      *screen_view;
  GtkInfoBar         *plants_bar;
  GtkLabel           *plants_label;
  GtkInfoBar         *ended_bar;
  GtkLabel           *ended_label;
  GtkExpander        *details_expander;
  GtkLabel           *details_label;
  GtkButton          *restart_button;
  GtkButton          *remove_button;
  GtkStack           *stack;
  GtkProgressBar     *progress_bar;
  GtkButton          *cancel_button;
  CsbTerminalView    *terminal;

  CsbDBusSandbox     *sandbox;
  GCancellable       *cancellable;
  GIOStream          *stream;
  GByteArray         *pending;    /* input not written yet */
  gboolean            writing;
  guint               pulse_timeout;
  guint               columns;
  guint               rows;
  char               *title;
  gboolean            busy;
  gboolean            gone;       /* the service no longer lists the sandbox */
  gboolean            want_focus; /* the terminal takes the focus once it shows */
  gboolean            attached;   /* OpenTerminal() was called on this sandbox */

  /* A sandbox of another machine: no descriptors cross ssh, so the terminal runs
   * `ssh -t HOST claude-sandbox --attach ID` on a pty of its own, and the page's
   * buttons are the connection's actions ("remote.*"). NULL for a local one. */
  char               *host;
  GPid                ssh_pid;
};

G_DEFINE_FINAL_TYPE (CsbTerminalPage, csb_terminal_page, ADW_TYPE_BIN)

enum {
  PROP_0,
  PROP_TITLE,
  PROP_BUSY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void read_next (CsbTerminalPage *self);
static void write_next (CsbTerminalPage *self);

/* ---- output ---------------------------------------------------------------------------- */

static void
on_read (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(CsbTerminalPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result,
                                                              &error);

  if (self->stream == NULL || G_INPUT_STREAM (source) != g_io_stream_get_input_stream (self->stream))
    return;  /* a stream of an instance of the service that is gone */
  if (bytes == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("terminal of %s: %s", csb_dbus_sandbox_get_id (self->sandbox), error->message);
      return;
    }
  if (g_bytes_get_size (bytes) == 0)
    return;  /* EOF: the sandbox ended; the banner says so */
  vte_terminal_feed (VTE_TERMINAL (self->terminal), g_bytes_get_data (bytes, NULL),
                     g_bytes_get_size (bytes));
  read_next (self);
}

static void
read_next (CsbTerminalPage *self)
{
  g_input_stream_read_bytes_async (g_io_stream_get_input_stream (self->stream), 65536,
                                   G_PRIORITY_DEFAULT, self->cancellable, on_read,
                                   g_object_ref (self));
}

/* ---- input ------------------------------------------------------------------------------ */

static void
on_written (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(CsbTerminalPage) self = user_data;
  g_autoptr(GError) error = NULL;
  gssize written = g_output_stream_write_finish (G_OUTPUT_STREAM (source), result, &error);

  if (self->stream == NULL || G_OUTPUT_STREAM (source) != g_io_stream_get_output_stream (self->stream))
    return;
  self->writing = FALSE;
  if (written < 0)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("terminal of %s: %s", csb_dbus_sandbox_get_id (self->sandbox), error->message);
      g_byte_array_set_size (self->pending, 0);
      return;
    }
  g_byte_array_remove_range (self->pending, 0, written);
  write_next (self);
}

static void
write_next (CsbTerminalPage *self)
{
  if (self->writing || self->stream == NULL || self->pending->len == 0)
    return;
  self->writing = TRUE;
  g_output_stream_write_async (g_io_stream_get_output_stream (self->stream), self->pending->data,
                               self->pending->len, G_PRIORITY_DEFAULT, self->cancellable,
                               on_written, g_object_ref (self));
}

static void
on_terminal_commit (CsbTerminalPage *self,
                    const char      *text,
                    guint            size)
{
  /* A remote terminal's typing goes to its ssh, through the pty. */
  if (self->host != NULL)
    return;
  g_byte_array_append (self->pending, (const guint8 *) text, size);
  write_next (self);
}

static void
on_resized (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  /* A sandbox without a terminal (stdio) or one that ended cannot be resized: fine. */
  if (!csb_dbus_sandbox_call_resize_terminal_finish (CSB_DBUS_SANDBOX (source), result, &error))
    g_debug ("ResizeTerminal: %s", error->message);
}

static void
on_terminal_grid_changed (CsbTerminalPage *self,
                          guint            columns,
                          guint            rows)
{
  const char *state = csb_dbus_sandbox_get_state (self->sandbox);

  self->columns = columns;
  self->rows = rows;
  /* ssh carries a remote terminal's size with it. */
  if (self->host != NULL)
    return;
  if (columns < 1 || rows < 1 || g_strcmp0 (state, "exited") == 0 || g_strcmp0 (state, "failed") == 0)
    return;
  csb_dbus_sandbox_call_resize_terminal (self->sandbox, MIN (columns, 1000), MIN (rows, 1000),
                                         self->cancellable, on_resized, NULL);
}

/* The service's or SPICE's words, under a title of ours. */
static void
on_display_error (CsbTerminalPage *self)
{
  const char *error = csb_display_view_get_error (self->display_view);

  adw_status_page_set_description (self->display_error, error);
  gtk_widget_set_visible (GTK_WIDGET (self->display_error), error != NULL);
}

/* ---- attaching ---------------------------------------------------------------------------- */

static void
feed_message (CsbTerminalPage *self,
              const char      *message)
{
  g_autofree char *text = g_strdup_printf ("\r\n\033[1m%s\033[0m\r\n", message);

  vte_terminal_feed (VTE_TERMINAL (self->terminal), text, -1);
}

static void
on_terminal_opened (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(CsbTerminalPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GSocket) socket = NULL;
  int fd;

  if (!csb_dbus_sandbox_call_open_terminal_finish (CSB_DBUS_SANDBOX (source), &handle, &fds,
                                                   result, &error))
    {
      g_autofree char *message = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      message = csb_format_error (error);
      feed_message (self, message);
      return;
    }
  fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), &error);
  if (fd >= 0)
    socket = g_socket_new_from_fd (fd, &error);
  if (socket == NULL)
    {
      if (fd >= 0)
        close (fd);
      feed_message (self, error->message);
      return;
    }
  self->stream = G_IO_STREAM (g_socket_connection_factory_create_connection (socket));
  read_next (self);
  write_next (self);
  if (self->columns > 0)
    on_terminal_grid_changed (self, self->columns, self->rows);
}

static void
attach (CsbTerminalPage *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  if (self->stream != NULL)
    g_io_stream_close (self->stream, NULL, NULL);
  g_clear_object (&self->stream);
  g_byte_array_set_size (self->pending, 0);
  self->writing = FALSE;
  self->attached = TRUE;
  csb_dbus_sandbox_call_open_terminal (self->sandbox, NULL, self->cancellable, on_terminal_opened,
                                       g_object_ref (self));
}

/* ---- state ----------------------------------------------------------------------------------- */

static gboolean
on_pulse (gpointer user_data)
{
  CsbTerminalPage *self = user_data;

  gtk_progress_bar_pulse (self->progress_bar);
  return G_SOURCE_CONTINUE;
}

/* What the sandbox left in the project that runs or is obeyed outside it (its
 * Plants): a warning, with the list, for as long as the page is open. */
static void
update_plants (CsbTerminalPage *self)
{
  GVariant *plants = csb_dbus_sandbox_get_plants (self->sandbox);
  g_autoptr(GString) text = NULL;
  g_autofree char *header = NULL;
  GVariantIter iter;
  const char *path, *why;
  guint shown = 0;

  if (plants == NULL || g_variant_n_children (plants) == 0)
    {
      gtk_info_bar_set_revealed (self->plants_bar, FALSE);
      return;
    }
  header = g_markup_printf_escaped (_("<b>The sandbox left files that programs outside it run "
                                      "or obey</b> (git, Claude Code, direnv, editors). Check "
                                      "them before using %s outside a sandbox:"),
                                    csb_dbus_sandbox_get_project_dir (self->sandbox));
  text = g_string_new (header);
  g_variant_iter_init (&iter, plants);
  while (g_variant_iter_next (&iter, "(&s&s)", &path, &why))
    {
      g_autofree char *line = NULL;

      if (shown++ == 20)
        {
          g_string_append_c (text, '\n');
          g_string_append_printf (text, _("… and %u more"),
                                  (guint) g_variant_n_children (plants) - 20);
          break;
        }
      line = g_markup_printf_escaped ("\n• <tt>%s</tt> — %s", path, why);
      g_string_append (text, line);
    }
  gtk_label_set_markup (self->plants_label, text->str);
  gtk_info_bar_set_revealed (self->plants_bar, TRUE);
}

/* @action of the window ("win.…"), or of the connection for a remote sandbox. */
static void
set_action (CsbTerminalPage *self,
            GtkWidget       *button,
            const char      *action,
            const char      *path)
{
  g_autofree char *name = g_strconcat (self->host != NULL ? "remote." : "win.", action, NULL);

  gtk_actionable_set_action_target (GTK_ACTIONABLE (button), "s", path);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), name);
}

/* A VM's display (SPICE) or a private display's pictures: a tab beside the terminal,
 * connected while the sandbox runs. */
static void
update_display (CsbTerminalPage *self,
                gboolean         ended)
{
  /* A remote VM's display would need descriptors too: not shown. */
  const char *display = self->host == NULL ? csb_dbus_sandbox_get_display (self->sandbox) : NULL;
  const char * const *protections = csb_dbus_sandbox_get_protections (self->sandbox);
  const char *path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (self->sandbox));
  gboolean running = g_strcmp0 (csb_dbus_sandbox_get_state (self->sandbox), "running") == 0;
  gboolean spice = !ended && display != NULL && *display != '\0';
  gboolean screen = !ended && !spice && protections != NULL &&
                    g_strv_contains (protections, "display-private");

  if (spice)
    set_action (self, GTK_WIDGET (self->display_button), "open-display", path);
  csb_display_view_set_sandbox (self->display_view, spice && running ? self->sandbox : NULL);
  /* A remote sandbox's pictures come as bytes (ScreenshotData). */
  csb_screen_view_set_sandbox (self->screen_view, screen && running ? self->sandbox : NULL,
                               self->host != NULL);
  /* A separate window is remote-viewer's, for SPICE only. */
  gtk_widget_set_visible (GTK_WIDGET (self->display_button), spice);
  /* The switcher follows the pages' visibility, not their children's (GTK 4.8). */
  gtk_stack_page_set_visible (gtk_stack_get_page (self->view_stack, self->display_box), spice);
  gtk_stack_page_set_visible (gtk_stack_get_page (self->view_stack,
                                                  GTK_WIDGET (self->screen_view)), screen);
  if (!spice && !screen)
    gtk_stack_set_visible_child_name (self->view_stack, "terminal");
  gtk_widget_set_visible (self->view_bar, spice || screen);
}

static void
update (CsbTerminalPage *self)
{
  const char *state = csb_dbus_sandbox_get_state (self->sandbox);
  const char *path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (self->sandbox));
  gboolean ended = self->gone || g_strcmp0 (state, "exited") == 0 || g_strcmp0 (state, "failed") == 0;
  gboolean vm_booting = !ended && g_strcmp0 (state, "starting") == 0 &&
                        g_strcmp0 (csb_dbus_sandbox_get_backend (self->sandbox), "vm") == 0;
  gboolean busy = !ended &&
                  (g_strcmp0 (state, "starting") == 0 || g_strcmp0 (state, "stopping") == 0);

  if (self->title == NULL)
    {
      self->title = csb_format_sandbox_title (csb_dbus_sandbox_get_name (self->sandbox),
                                              csb_dbus_sandbox_get_project_dir (self->sandbox),
                                              csb_dbus_sandbox_get_command (self->sandbox));
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TITLE]);
    }
  if (busy != self->busy)
    {
      self->busy = busy;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
    }

  if (!self->attached && self->host == NULL && g_strcmp0 (state, "starting") != 0)
    attach (self);

  /* A VM shows its console only once it has one; until then, progress. */
  gtk_stack_set_visible_child_name (self->stack, vm_booting ? "starting" : "terminal");
  if (!vm_booting && self->want_focus)
    {
      self->want_focus = FALSE;
      gtk_widget_grab_focus (GTK_WIDGET (self->terminal));
    }
  /* Cancelling a boot is stopping the VM. */
  set_action (self, GTK_WIDGET (self->cancel_button), "stop", path);
  if (vm_booting && self->pulse_timeout == 0)
    self->pulse_timeout = g_timeout_add (100, on_pulse, self);
  else if (!vm_booting)
    g_clear_handle_id (&self->pulse_timeout, g_source_remove);

  update_plants (self);

  update_display (self, ended);

  if (ended)
    {
      g_autofree char *text = NULL;

      if (self->gone && g_strcmp0 (state, "exited") != 0 && g_strcmp0 (state, "failed") != 0)
        text = g_strdup (self->host != NULL
                         ? _("The sandbox ended while the connection to its machine was lost.")
                         : _("The sandbox ended while the sandbox service was stopped."));
      else if (g_strcmp0 (state, "failed") == 0)
        {
          g_autofree char *why = csb_format_failure (csb_dbus_sandbox_get_error (self->sandbox));

          /* Translators: %s says why, e.g. "Needs administrator permission. …" */
          text = g_strdup_printf (_("The sandbox failed. %s"), why);
        }
      else
        {
          g_autofree char *exit = csb_format_exit (csb_dbus_sandbox_get_exit_status (self->sandbox));
          text = g_strdup_printf (_("The sandbox ended. %s"), exit);
        }
      gtk_label_set_label (self->ended_label, text);
      gtk_label_set_label (self->details_label, csb_dbus_sandbox_get_error (self->sandbox));
      gtk_widget_set_visible (GTK_WIDGET (self->details_expander),
                              g_strcmp0 (state, "failed") == 0 &&
                              *csb_dbus_sandbox_get_error (self->sandbox) != '\0');
      /* Starting again is for this machine's sandboxes: the launch page's. */
      gtk_widget_set_visible (GTK_WIDGET (self->restart_button), self->host == NULL);
      if (self->host == NULL)
        set_action (self, GTK_WIDGET (self->restart_button), "start-again", path);
      set_action (self, GTK_WIDGET (self->remove_button), "remove", path);
      gtk_info_bar_set_revealed (self->ended_bar, TRUE);
    }
  else
    gtk_info_bar_set_revealed (self->ended_bar, FALSE);
}

static void
update_colors (CsbTerminalPage *self)
{
  AdwStyleManager *style = adw_style_manager_get_default ();
  gboolean dark = adw_style_manager_get_dark (style);
  GdkRGBA fg, bg;

  gdk_rgba_parse (&fg, dark ? "#ffffff" : "#1e1e1e");
  gdk_rgba_parse (&bg, dark ? "#1e1e1e" : "#ffffff");
  vte_terminal_set_colors (VTE_TERMINAL (self->terminal), &fg, &bg, NULL, 0);
}

void
csb_terminal_page_set_sandbox (CsbTerminalPage *self,
                               CsbDBusSandbox  *sandbox)
{
  gboolean again;

  g_return_if_fail (CSB_IS_TERMINAL_PAGE (self));
  g_return_if_fail (CSB_DBUS_IS_SANDBOX (sandbox));

  if (self->sandbox == sandbox)
    return;
  again = self->sandbox != NULL;
  if (self->sandbox != NULL)
    g_signal_handlers_disconnect_by_data (self->sandbox, self);
  g_set_object (&self->sandbox, sandbox);
  self->gone = FALSE;
  /* The new instance of the service replays the whole history: start from a clean
   * screen, or everything would show twice. */
  if (again && self->host == NULL)
    vte_terminal_reset (VTE_TERMINAL (self->terminal), TRUE, TRUE);
  /* update() attaches, once the sandbox runs: one still starting has no terminal yet. */
  self->attached = FALSE;
  /* After the generated class handler, which drops its cache of the "as" properties. */
  g_signal_connect_object (sandbox, "g-properties-changed", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED | G_CONNECT_AFTER);
  update (self);
}

void
csb_terminal_page_focus (CsbTerminalPage *self)
{
  g_return_if_fail (CSB_IS_TERMINAL_PAGE (self));

  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->stack), "terminal") == 0 &&
      g_strcmp0 (gtk_stack_get_visible_child_name (self->view_stack), "display") == 0)
    gtk_widget_grab_focus (GTK_WIDGET (self->display_view));
  else if (g_strcmp0 (gtk_stack_get_visible_child_name (self->stack), "terminal") == 0 &&
           g_strcmp0 (gtk_stack_get_visible_child_name (self->view_stack), "screen") == 0)
    return;  /* a view only: nothing there takes keys */
  else if (g_strcmp0 (gtk_stack_get_visible_child_name (self->stack), "terminal") == 0)
    gtk_widget_grab_focus (GTK_WIDGET (self->terminal));
  else
    self->want_focus = TRUE;
}

void
csb_terminal_page_show_display (CsbTerminalPage *self)
{
  g_return_if_fail (CSB_IS_TERMINAL_PAGE (self));

  if (!gtk_widget_get_visible (self->view_bar))
    return;
  if (gtk_stack_page_get_visible (gtk_stack_get_page (self->view_stack,
                                                      GTK_WIDGET (self->screen_view))))
    {
      gtk_stack_set_visible_child_name (self->view_stack, "screen");
      return;
    }
  gtk_stack_set_visible_child_name (self->view_stack, "display");
  gtk_widget_grab_focus (GTK_WIDGET (self->display_view));
}

GtkWidget *
csb_terminal_page_get_display_view (CsbTerminalPage *self)
{
  g_return_val_if_fail (CSB_IS_TERMINAL_PAGE (self), NULL);
  return GTK_WIDGET (self->display_view);
}

GtkWidget *
csb_terminal_page_get_screen_view (CsbTerminalPage *self)
{
  g_return_val_if_fail (CSB_IS_TERMINAL_PAGE (self), NULL);
  return GTK_WIDGET (self->screen_view);
}

void
csb_terminal_page_set_gone (CsbTerminalPage *self)
{
  g_return_if_fail (CSB_IS_TERMINAL_PAGE (self));

  self->gone = TRUE;
  update (self);
}

gboolean
csb_terminal_page_get_ended (CsbTerminalPage *self)
{
  const char *state;

  g_return_val_if_fail (CSB_IS_TERMINAL_PAGE (self), TRUE);
  state = csb_dbus_sandbox_get_state (self->sandbox);
  return self->gone || g_strcmp0 (state, "exited") == 0 || g_strcmp0 (state, "failed") == 0;
}

GtkWidget *
csb_terminal_page_new (CsbDBusSandbox *sandbox)
{
  CsbTerminalPage *self;

  g_return_val_if_fail (CSB_DBUS_IS_SANDBOX (sandbox), NULL);

  self = g_object_new (CSB_TYPE_TERMINAL_PAGE, NULL);
  csb_terminal_page_set_sandbox (self, sandbox);
  return GTK_WIDGET (self);
}

/* ---- a sandbox of another machine ------------------------------------------------------ */

static void
on_ssh_spawned (VteTerminal *terminal,
                GPid         pid,
                GError      *error,
                gpointer     user_data)
{
  CsbTerminalPage *self = user_data;

  /* The page holds the terminal: if it went, so did this callback's terminal. */
  if (pid < 0)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        feed_message (self, error->message);
      return;
    }
  self->ssh_pid = pid;
}

static void
on_ssh_exited (CsbTerminalPage *self,
               int              status)
{
  g_autofree char *message = NULL;

  self->ssh_pid = 0;
  /* ssh's own failures are 255: the connection, not the sandbox. The remote CLI
   * said the rest (detached, ended) before it exited. */
  if (WIFEXITED (status) && WEXITSTATUS (status) == 255)
    /* Translators: %s is the machine (USER@HOST) */
    message = g_strdup_printf (_("The connection to %s ended. The sandbox keeps running there: "
                                 "open its terminal again from Sandboxes."), self->host);
  else
    message = g_strdup_printf (_("This terminal's connection to %s ended."), self->host);
  feed_message (self, message);
}

GtkWidget *
csb_terminal_page_new_remote (CsbDBusSandbox     *sandbox,
                              const char         *host,
                              const char * const *argv)
{
  CsbTerminalPage *self;

  g_return_val_if_fail (CSB_DBUS_IS_SANDBOX (sandbox), NULL);
  g_return_val_if_fail (host != NULL, NULL);
  g_return_val_if_fail (argv != NULL && argv[0] != NULL, NULL);

  self = g_object_new (CSB_TYPE_TERMINAL_PAGE, NULL);
  self->host = g_strdup (host);
  /* Translators: a terminal's title: a sandbox's id, and the machine it runs on */
  self->title = g_strdup_printf (_("%s on %s"), csb_dbus_sandbox_get_id (sandbox), host);
  csb_terminal_page_set_sandbox (self, sandbox);
  g_signal_connect_object (self->terminal, "child-exited", G_CALLBACK (on_ssh_exited), self,
                           G_CONNECT_SWAPPED);
  vte_terminal_spawn_async (VTE_TERMINAL (self->terminal), VTE_PTY_DEFAULT, NULL,
                            (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, -1,
                            self->cancellable, on_ssh_spawned, self);
  return GTK_WIDGET (self);
}

const char *
csb_terminal_page_get_host (CsbTerminalPage *self)
{
  g_return_val_if_fail (CSB_IS_TERMINAL_PAGE (self), NULL);
  return self->host;
}

CsbDBusSandbox *
csb_terminal_page_get_sandbox (CsbTerminalPage *self)
{
  g_return_val_if_fail (CSB_IS_TERMINAL_PAGE (self), NULL);
  return self->sandbox;
}

VteTerminal *
csb_terminal_page_get_terminal (CsbTerminalPage *self)
{
  g_return_val_if_fail (CSB_IS_TERMINAL_PAGE (self), NULL);
  return VTE_TERMINAL (self->terminal);
}

const char *
csb_terminal_page_get_title (CsbTerminalPage *self)
{
  g_return_val_if_fail (CSB_IS_TERMINAL_PAGE (self), NULL);
  return self->title;
}

const char *
csb_terminal_page_get_plants_text (CsbTerminalPage *self)
{
  g_return_val_if_fail (CSB_IS_TERMINAL_PAGE (self), NULL);

  if (!gtk_info_bar_get_revealed (self->plants_bar))
    return NULL;
  return gtk_label_get_text (self->plants_label);
}

void
csb_terminal_page_set_title (CsbTerminalPage *self,
                             const char      *title)
{
  g_return_if_fail (CSB_IS_TERMINAL_PAGE (self));

  if (g_strcmp0 (self->title, title) == 0)
    return;
  g_free (self->title);
  self->title = g_strdup (title);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TITLE]);
}

gboolean
csb_terminal_page_get_busy (CsbTerminalPage *self)
{
  g_return_val_if_fail (CSB_IS_TERMINAL_PAGE (self), FALSE);
  return self->busy;
}

static void
csb_terminal_page_grab_focus_on_map (CsbTerminalPage *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self->terminal));
}

static void
csb_terminal_page_dispose (GObject *object)
{
  CsbTerminalPage *self = CSB_TERMINAL_PAGE (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->pulse_timeout, g_source_remove);
  /* Closing a remote terminal ends its ssh (a hang-up, as a closed terminal
   * window gives it), never the sandbox there. */
  if (self->ssh_pid > 0)
    kill (self->ssh_pid, SIGHUP);
  self->ssh_pid = 0;
  if (self->stream != NULL)
    g_io_stream_close (self->stream, NULL, NULL);
  g_clear_object (&self->stream);
  if (self->sandbox != NULL)
    g_signal_handlers_disconnect_by_data (self->sandbox, self);
  g_clear_object (&self->sandbox);
  G_OBJECT_CLASS (csb_terminal_page_parent_class)->dispose (object);
}

static void
csb_terminal_page_finalize (GObject *object)
{
  CsbTerminalPage *self = CSB_TERMINAL_PAGE (object);

  g_clear_object (&self->cancellable);
  g_byte_array_unref (self->pending);
  g_free (self->title);
  g_free (self->host);
  G_OBJECT_CLASS (csb_terminal_page_parent_class)->finalize (object);
}

static void
csb_terminal_page_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  CsbTerminalPage *self = CSB_TERMINAL_PAGE (object);

  switch (prop_id)
    {
    case PROP_TITLE:
      g_value_set_string (value, self->title);
      break;
    case PROP_BUSY:
      g_value_set_boolean (value, self->busy);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
csb_terminal_page_class_init (CsbTerminalPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = csb_terminal_page_dispose;
  object_class->finalize = csb_terminal_page_finalize;
  object_class->get_property = csb_terminal_page_get_property;

  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BUSY] =
    g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (CSB_TYPE_TERMINAL_VIEW);
  g_type_ensure (CSB_TYPE_DISPLAY_VIEW);
  g_type_ensure (CSB_TYPE_SCREEN_VIEW);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/example/ClaudeSandbox/App/csb-terminal-page.ui");
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, view_bar);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, view_stack);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, display_button);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, display_view);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, display_error);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, display_box);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, screen_view);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, plants_bar);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, plants_label);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, ended_bar);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, ended_label);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, details_expander);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, details_label);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, restart_button);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, remove_button);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, stack);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, cancel_button);
  gtk_widget_class_bind_template_child (widget_class, CsbTerminalPage, terminal);
  gtk_widget_class_bind_template_callback (widget_class, on_terminal_commit);
  gtk_widget_class_bind_template_callback (widget_class, on_display_error);
  gtk_widget_class_bind_template_callback (widget_class, on_terminal_grid_changed);
}

static void
csb_terminal_page_init (CsbTerminalPage *self)
{
  self->cancellable = g_cancellable_new ();
  self->pending = g_byte_array_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
  g_signal_connect_object (adw_style_manager_get_default (), "notify::dark",
                           G_CALLBACK (update_colors), self, G_CONNECT_SWAPPED);
  update_colors (self);
  g_signal_connect (self, "map", G_CALLBACK (csb_terminal_page_grab_focus_on_map), NULL);
}
