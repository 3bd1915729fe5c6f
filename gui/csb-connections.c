/* csb-connections.c — the sandbox services of other machines, over ssh.
 *
 * A connection is USER@HOST (ssh's config, keys and agent apply), kept in the
 * "connections" key. Each gets a bus over `ssh -o BatchMode=yes HOST
 * claude-sandbox --bus-bridge` (common/csb-remote-bus.c, shared with the CLI's
 * --host) and an object manager on the remote service, whose sandboxes are shown
 * in a group of their own, titled with the machine. ssh never prompts: a missing
 * key or agent is said in the connection's status.
 *
 * What the remote service sends is as hostile as what a local one relays from its
 * sandboxes: it only reaches labels (never markup) and action targets.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "csb-connections.h"
#include "csb-host-label.h"
#include "csb-names.h"
#include "csb-remote-bus.h"
#include "csb-sandbox-row.h"
#include "csb-terminal-page.h"

#define SERVICE_NAME CSB_BUS_NAME
#define SERVICE_PATH CSB_MANAGER_PATH

typedef struct
{
  CsbConnections      *self;        /* not owned */
  char                *host;
  GCancellable        *cancellable;
  GDBusConnection     *bus;
  GDBusObjectManager  *manager;
  AdwPreferencesGroup *group;       /* its sandboxes */
  GtkListBox          *list;
  AdwActionRow        *row;         /* in the Connections group */
  CsbHostLabel        *load;        /* the machine's, in the group's header */
  GHashTable          *rows;        /* object path → CsbSandboxRow */
  char                *status;
  GActionGroup        *actions;     /* "remote.*", on the group and the terminals */
  GHashTable          *terminals;   /* object path → CsbTerminalPage (not owned: tabs) */
  char                *show_when_added; /* the launched sandbox, to show once listed */

  /* Starting a sandbox on a folder there. */
  CsbDBusManager      *manager_proxy;
  GtkWidget           *launch_box;
  GtkEntry            *folder_entry;
  GtkLabel            *launch_error;
  GtkListStore        *completions;
  char                *completions_dir; /* what they list, as typed */
} Connection;

struct _CsbConnections
{
  GtkBox               parent_instance;

  GSettings           *settings;
  AdwPreferencesGroup *connections_group;
  GPtrArray           *connections; /* of Connection */
};

G_DEFINE_FINAL_TYPE (CsbConnections, csb_connections, GTK_TYPE_BOX)

enum {
  SIGNAL_SHOW_TERMINAL,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void open_remote_terminal (Connection     *connection,
                                  CsbDBusSandbox *sandbox);
static void forget_terminal      (gpointer        data,
                                  GObject        *page);

/* Closes the tab of @page: its ssh ends with it. */
static void
close_terminal (GtkWidget *page)
{
  GtkWidget *view = gtk_widget_get_ancestor (page, ADW_TYPE_TAB_VIEW);

  if (view != NULL)
    adw_tab_view_close_page (ADW_TAB_VIEW (view),
                             adw_tab_view_get_page (ADW_TAB_VIEW (view), page));
}

static void
connection_disconnect (Connection *connection)
{
  GHashTableIter iter;
  gpointer row;

  g_cancellable_cancel (connection->cancellable);
  g_clear_object (&connection->cancellable);
  g_hash_table_iter_init (&iter, connection->rows);
  while (g_hash_table_iter_next (&iter, NULL, &row))
    gtk_list_box_remove (connection->list, row);
  g_hash_table_remove_all (connection->rows);
  /* An empty boxed list would still draw its frame under the status. */
  gtk_widget_set_visible (GTK_WIDGET (connection->list), FALSE);
  if (connection->manager != NULL)
    g_signal_handlers_disconnect_by_data (connection->manager, connection);
  g_clear_object (&connection->manager);
  g_clear_object (&connection->manager_proxy);
  csb_host_label_set_bus (connection->load, NULL);
  gtk_widget_set_visible (connection->launch_box, FALSE);
  g_clear_pointer (&connection->completions_dir, g_free);
  if (connection->bus != NULL)
    {
      g_signal_handlers_disconnect_by_data (connection->bus, connection);
      /* Closing the stream ends ssh, and the bridge on the other side. */
      g_dbus_connection_close (connection->bus, NULL, NULL, NULL);
    }
  g_clear_object (&connection->bus);
}

static void
connection_free (Connection *connection)
{
  GHashTableIter iter;
  gpointer page;

  connection_disconnect (connection);
  /* Its actions point at it, on its group and on the terminals still open. */
  gtk_widget_insert_action_group (GTK_WIDGET (connection->group), "remote", NULL);
  g_hash_table_iter_init (&iter, connection->terminals);
  while (g_hash_table_iter_next (&iter, NULL, &page))
    {
      g_object_weak_unref (page, forget_terminal, connection);
      gtk_widget_insert_action_group (page, "remote", NULL);
    }
  g_hash_table_unref (connection->terminals);
  g_object_unref (connection->actions);
  g_free (connection->show_when_added);
  g_hash_table_unref (connection->rows);
  g_object_unref (connection->group);
  g_object_unref (connection->row);
  g_object_unref (connection->completions);
  g_free (connection->host);
  g_free (connection->status);
  g_free (connection);
}

static void
set_status (Connection *connection,
            const char *status)
{
  g_free (connection->status);
  connection->status = g_strdup (status);
  adw_action_row_set_subtitle (connection->row, status);
  adw_preferences_group_set_description (connection->group, status);
}

static void
update_count (Connection *connection)
{
  guint n = g_hash_table_size (connection->rows);
  g_autofree char *status = NULL;

  if (connection->manager == NULL)
    return;
  status = n == 0 ? g_strdup (_("Connected — no sandboxes"))
                  : g_strdup_printf (g_dngettext (NULL, "Connected — %u sandbox",
                                                  "Connected — %u sandboxes", n), n);
  set_status (connection, status);
  gtk_widget_set_visible (GTK_WIDGET (connection->list), n > 0);
}

/* Each sandbox @object holds (once a new object is there, or the list is read). */
static void
add_object (Connection  *connection,
            GDBusObject *object)
{
  CsbDBusSandbox *sandbox = csb_dbus_object_peek_sandbox (CSB_DBUS_OBJECT (object));
  const char *path = g_dbus_object_get_object_path (object);
  GtkWidget *terminal;

  if (sandbox == NULL || g_hash_table_contains (connection->rows, path))
    return;
  csb_sandbox_row_list_prepend (connection->list, connection->rows, sandbox, TRUE);
  update_count (connection);
  /* Its terminal, open from before the connection was made again, follows. */
  if ((terminal = g_hash_table_lookup (connection->terminals, path)) != NULL)
    csb_terminal_page_set_sandbox (CSB_TERMINAL_PAGE (terminal), sandbox);
  if (g_strcmp0 (connection->show_when_added, path) == 0)
    {
      g_clear_pointer (&connection->show_when_added, g_free);
      open_remote_terminal (connection, sandbox);
    }
}

static void
remove_object (Connection  *connection,
               GDBusObject *object)
{
  const char *path = g_dbus_object_get_object_path (object);
  GtkWidget *terminal = g_hash_table_lookup (connection->terminals, path);

  if (csb_sandbox_row_list_remove (connection->list, connection->rows, path))
    update_count (connection);
  /* Removed there: its tab goes, as a local one's. */
  if (terminal != NULL)
    close_terminal (terminal);
}

static void
on_closed (GDBusConnection *bus,
           gboolean         remote_peer_vanished,
           GError          *error,
           gpointer         user_data)
{
  Connection *connection = user_data;

  connection_disconnect (connection);
  set_status (connection, _("Connection lost — its sandboxes keep running there. Test it to "
                            "connect again."));
}

static void
on_manager_proxy (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Connection *connection = user_data;
  g_autoptr(GError) error = NULL;
  CsbDBusManager *proxy = csb_dbus_manager_proxy_new_finish (result, &error);

  if (proxy == NULL)
    return;
  connection->manager_proxy = proxy;
  gtk_widget_set_visible (connection->launch_box, TRUE);
}

static void
on_manager (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Connection *connection = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusObjectManager) manager = csb_dbus_object_manager_client_new_finish (result,
                                                                                     &error);
  GHashTableIter iter;
  gpointer path, terminal;
  GList *objects;

  if (manager == NULL)
    {
      g_autofree char *status = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_dbus_error_strip_remote_error (error);
      status = g_strdup_printf (_("The sandbox service of %s does not answer: %s"),
                                connection->host, error->message);
      set_status (connection, status);
      return;
    }
  connection->manager = g_steal_pointer (&manager);
  g_signal_connect_swapped (connection->manager, "object-added", G_CALLBACK (add_object),
                            connection);
  g_signal_connect_swapped (connection->manager, "object-removed", G_CALLBACK (remove_object),
                            connection);
  objects = g_dbus_object_manager_get_objects (connection->manager);
  for (GList *l = objects; l != NULL; l = l->next)
    add_object (connection, l->data);
  g_list_free_full (objects, g_object_unref);
  /* A terminal open since before the connection was lost, of a sandbox no longer
   * listed there (ended and removed meanwhile): it shows it ended. */
  g_hash_table_iter_init (&iter, connection->terminals);
  while (g_hash_table_iter_next (&iter, &path, &terminal))
    if (!g_hash_table_contains (connection->rows, path))
      csb_terminal_page_set_gone (terminal);
  update_count (connection);
  csb_host_label_set_bus (connection->load, connection->bus);
  csb_dbus_manager_proxy_new (connection->bus, G_DBUS_PROXY_FLAGS_NONE, SERVICE_NAME,
                              SERVICE_PATH, connection->cancellable, on_manager_proxy,
                              connection);
}

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Connection *connection = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) bus = csb_remote_bus_connect_finish (result, &error);

  if (bus == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        set_status (connection, error->message);
      return;
    }
  if (g_cancellable_is_cancelled (connection->cancellable))
    {
      g_dbus_connection_close (bus, NULL, NULL, NULL);
      return;
    }
  connection->bus = g_steal_pointer (&bus);
  g_signal_connect (connection->bus, "closed", G_CALLBACK (on_closed), connection);
  /* The object manager's GetManagedObjects activates the service there, as
   * locally: its answer is the test. */
  csb_dbus_object_manager_client_new (connection->bus,
                                      G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                      SERVICE_NAME, SERVICE_PATH, connection->cancellable,
                                      on_manager, connection);
}

static void
connection_connect (Connection *connection)
{
  connection_disconnect (connection);
  connection->cancellable = g_cancellable_new ();
  set_status (connection, _("Connecting…"));
  /* The connection outlives the callbacks: they are cancelled before it goes. */
  csb_remote_bus_connect_async (connection->host, CSB_REMOTE_BUS_STDERR_EXPLAIN,
                                connection->cancellable, on_connected, connection);
}

static Connection *
find_connection (CsbConnections *self,
                 const char     *host)
{
  for (guint i = 0; i < self->connections->len; i++)
    {
      Connection *connection = g_ptr_array_index (self->connections, i);

      if (g_strcmp0 (connection->host, host) == 0)
        return connection;
    }
  return NULL;
}

/* ---- the actions of a connection's sandbox rows ("remote.*") ------------------------ */

static CsbDBusSandbox *
lookup_sandbox (Connection *connection,
                const char *path)
{
  GtkWidget *row = g_hash_table_lookup (connection->rows, path);

  return row != NULL ? csb_sandbox_row_get_sandbox (CSB_SANDBOX_ROW (row)) : NULL;
}

static void
on_call_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);
  if (reply == NULL)
    g_warning ("%s", error->message);
}

static void
call_remote (Connection *connection,
             const char *method,
             GVariant   *parameter)
{
  CsbDBusSandbox *sandbox = lookup_sandbox (connection, g_variant_get_string (parameter, NULL));

  if (sandbox == NULL)
    return;
  g_dbus_proxy_call (G_DBUS_PROXY (sandbox), method, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                     on_call_done, NULL);
}

static void
stop_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer      user_data)
{
  call_remote (user_data, "Stop", parameter);
}

static void
remove_activated (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer      user_data)
{
  call_remote (user_data, "Remove", parameter);
}

static void
forget_terminal (gpointer  data,
                 GObject  *page)
{
  Connection *connection = data;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, connection->terminals);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (value == (gpointer) page)
      {
        g_hash_table_iter_remove (&iter);
        return;
      }
}

/* The terminal of a sandbox over there, in a tab of the window as a local one:
 * descriptors cannot cross ssh, so its terminal runs `ssh -t HOST claude-sandbox
 * --attach ID` (an interactive ssh: it may ask for a passphrase there, in plain
 * sight). */
static void
open_remote_terminal (Connection     *connection,
                      CsbDBusSandbox *sandbox)
{
  const char *path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox));
  GtkWidget *terminal = g_hash_table_lookup (connection->terminals, path);

  if (terminal == NULL)
    {
      const char *remote_args[] = { csb_remote_cli (), "--attach",
                                    csb_dbus_sandbox_get_id (sandbox), NULL };
      g_autoptr(CsbArgv) argv = csb_remote_ssh_argv (connection->host, "-t", FALSE,
                                                     remote_args);

      terminal = csb_terminal_page_new_remote (sandbox, connection->host,
                                               csb_argv_finish (argv));
      gtk_widget_insert_action_group (terminal, "remote", connection->actions);
      g_hash_table_insert (connection->terminals, g_strdup (path), terminal);
      g_object_weak_ref (G_OBJECT (terminal), forget_terminal, connection);
    }
  g_signal_emit (connection->self, signals[SIGNAL_SHOW_TERMINAL], 0, terminal);
}

static void
open_terminal_activated (GSimpleAction *action,
                         GVariant      *parameter,
                         gpointer      user_data)
{
  Connection *connection = user_data;
  CsbDBusSandbox *sandbox = lookup_sandbox (connection, g_variant_get_string (parameter, NULL));

  if (sandbox != NULL)
    open_remote_terminal (connection, sandbox);
}

/* A private display there: its pictures in the Display tab beside its terminal,
 * through ScreenshotData() (csb-terminal-page.c). */
static void
show_display_activated (GSimpleAction *action,
                        GVariant      *parameter,
                        gpointer       user_data)
{
  Connection *connection = user_data;
  const char *path = g_variant_get_string (parameter, NULL);
  CsbDBusSandbox *sandbox = lookup_sandbox (connection, path);
  GtkWidget *terminal;

  if (sandbox == NULL)
    return;
  open_remote_terminal (connection, sandbox);
  terminal = g_hash_table_lookup (connection->terminals, path);
  if (terminal != NULL)
    csb_terminal_page_show_display (CSB_TERMINAL_PAGE (terminal));
}

static const GActionEntry remote_actions[] = {
  { "open-terminal", open_terminal_activated, "s" },
  { "show-display", show_display_activated, "s" },
  { "stop", stop_activated, "s" },
  { "remove", remove_activated, "s" },
};

/* ---- a folder there: completion and launch ------------------------------------------- */

/* The folder as the service wants it (absolute): "~", "~/…" and relative ones are
 * under the home folder there. */
static char *
remote_folder (Connection *connection,
               const char *typed)
{
  const char *home = csb_dbus_manager_get_home_folder (connection->manager_proxy);

  if (g_path_is_absolute (typed))
    return g_strdup (typed);
  if (home == NULL || *home == '\0')
    return NULL;
  if (strcmp (typed, "~") == 0)
    return g_strdup (home);
  if (g_str_has_prefix (typed, "~/"))
    return g_build_filename (home, typed + 2, NULL);
  return g_build_filename (home, typed, NULL);
}

typedef struct
{
  Connection *connection;
  char       *dir;
} ListRequest;

static void
on_folders_listed (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  ListRequest *request = user_data;
  g_auto(GStrv) folders = NULL;
  g_autoptr(GError) error = NULL;

  /* A slow answer for a folder typed before: only the latest counts. */
  if (csb_dbus_manager_call_list_folders_finish (CSB_DBUS_MANAGER (source), &folders, result,
                                                 &error) &&
      g_strcmp0 (request->connection->completions_dir, request->dir) == 0)
    {
      Connection *connection = request->connection;
      const char *prefix = strcmp (request->dir, "~") == 0 ? "" : request->dir;

      gtk_list_store_clear (connection->completions);
      for (guint i = 0; folders[i] != NULL; i++)
        {
          g_autofree char *path = g_strconcat (prefix, folders[i], "/", NULL);

          gtk_list_store_insert_with_values (connection->completions, NULL, -1, 0, path, -1);
        }
      gtk_entry_completion_complete (gtk_entry_get_completion (connection->folder_entry));
    }
  g_free (request->dir);
  g_free (request);
}

/* Asks the folder being typed in for its subfolders, once per folder. */
static void
on_folder_changed (GtkEditable *editable,
                   gpointer     user_data)
{
  Connection *connection = user_data;
  const char *text = gtk_editable_get_text (editable);
  const char *slash = strrchr (text, '/');
  g_autofree char *dir = slash ? g_strndup (text, slash - text + 1) : g_strdup ("~");
  ListRequest *request;

  gtk_label_set_text (connection->launch_error, "");
  gtk_widget_set_visible (GTK_WIDGET (connection->launch_error), FALSE);
  if (connection->manager_proxy == NULL || g_strcmp0 (dir, connection->completions_dir) == 0)
    return;
  g_free (connection->completions_dir);
  connection->completions_dir = g_strdup (dir);
  gtk_list_store_clear (connection->completions);
  request = g_new0 (ListRequest, 1);
  request->connection = connection;
  request->dir = g_steal_pointer (&dir);
  csb_dbus_manager_call_list_folders (connection->manager_proxy, request->dir,
                                      connection->cancellable, on_folders_listed, request);
}

static void
show_launch_error (Connection *connection,
                   const char *message)
{
  gtk_label_set_text (connection->launch_error, message);
  gtk_widget_set_visible (GTK_WIDGET (connection->launch_error), TRUE);
}

static void
on_remote_launched (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Connection *connection = user_data;
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  CsbDBusSandbox *sandbox;

  if (!csb_dbus_manager_call_launch_finish (CSB_DBUS_MANAGER (source), &path, NULL, result,
                                            &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_dbus_error_strip_remote_error (error);
      show_launch_error (connection, error->message);
      return;
    }
  /* Its terminal once the list has it (its id as the service there says it). */
  if ((sandbox = lookup_sandbox (connection, path)) != NULL)
    open_remote_terminal (connection, sandbox);
  else
    {
      g_free (connection->show_when_added);
      connection->show_when_added = g_steal_pointer (&path);
    }
}

static void
on_start_clicked (GtkButton *button,
                  gpointer   user_data)
{
  Connection *connection = user_data;
  const char *typed = gtk_editable_get_text (GTK_EDITABLE (connection->folder_entry));
  g_autofree char *folder = NULL;
  g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
  const char * const no_command[] = { NULL };

  if (connection->manager_proxy == NULL || *typed == '\0')
    return;
  folder = remote_folder (connection, typed);
  if (folder == NULL)
    {
      show_launch_error (connection, _("The home folder there is not known: give the whole "
                                       "path"));
      return;
    }
  /* The app's own choice of Claude or a shell; the rest are that machine's settings. */
  g_variant_dict_insert (options, "shell", "b",
                         connection->self->settings != NULL &&
                         g_settings_get_boolean (connection->self->settings, "shell"));
  csb_dbus_manager_call_launch (connection->manager_proxy, folder, no_command,
                                g_variant_dict_end (options), NULL, connection->cancellable,
                                on_remote_launched, connection);
}

static void
make_launch_box (Connection *connection)
{
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *button = gtk_button_new_with_mnemonic (_("_Start"));
  g_autoptr(GtkEntryCompletion) completion = gtk_entry_completion_new ();
  g_autofree char *placeholder = NULL;

  connection->launch_box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  gtk_widget_set_margin_bottom (connection->launch_box, 6);
  connection->folder_entry = GTK_ENTRY (gtk_entry_new ());
  /* Translators: the placeholder of the entry for a folder on another machine */
  placeholder = g_strdup_printf (_("A folder on %s, as ~/src/app"), connection->host);
  gtk_entry_set_placeholder_text (connection->folder_entry, placeholder);
  gtk_accessible_update_property (GTK_ACCESSIBLE (connection->folder_entry),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, placeholder, -1);
  gtk_widget_set_hexpand (GTK_WIDGET (connection->folder_entry), TRUE);
  connection->completions = gtk_list_store_new (1, G_TYPE_STRING);
  gtk_entry_completion_set_model (completion, GTK_TREE_MODEL (connection->completions));
  gtk_entry_completion_set_text_column (completion, 0);
  gtk_entry_completion_set_inline_completion (completion, TRUE);
  gtk_entry_completion_set_popup_single_match (completion, FALSE);
  gtk_entry_set_completion (connection->folder_entry, completion);
  g_signal_connect (connection->folder_entry, "changed", G_CALLBACK (on_folder_changed),
                    connection);
  g_signal_connect_swapped (connection->folder_entry, "activate",
                            G_CALLBACK (gtk_widget_activate), button);
  gtk_widget_set_tooltip_text (button, _("Start a sandbox on this folder there"));
  gtk_widget_add_css_class (button, "suggested-action");
  g_signal_connect (button, "clicked", G_CALLBACK (on_start_clicked), connection);
  gtk_box_append (GTK_BOX (row), GTK_WIDGET (connection->folder_entry));
  gtk_box_append (GTK_BOX (row), button);
  gtk_box_append (GTK_BOX (connection->launch_box), row);
  connection->launch_error = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_wrap (connection->launch_error, TRUE);
  gtk_label_set_xalign (connection->launch_error, 0);
  gtk_widget_add_css_class (GTK_WIDGET (connection->launch_error), "error");
  gtk_widget_set_visible (GTK_WIDGET (connection->launch_error), FALSE);
  gtk_box_append (GTK_BOX (connection->launch_box), GTK_WIDGET (connection->launch_error));
  gtk_widget_set_visible (connection->launch_box, FALSE);
}

/* ---- the list of connections ------------------------------------------------------- */

static void
on_test_clicked (GtkButton *button,
                 gpointer   user_data)
{
  CsbConnections *self = CSB_CONNECTIONS (gtk_widget_get_ancestor (GTK_WIDGET (button),
                                                                   CSB_TYPE_CONNECTIONS));

  csb_connections_test (self, user_data);
}

static void
on_remove_clicked (GtkButton *button,
                   gpointer   user_data)
{
  CsbConnections *self = CSB_CONNECTIONS (gtk_widget_get_ancestor (GTK_WIDGET (button),
                                                                   CSB_TYPE_CONNECTIONS));

  csb_connections_remove (self, user_data);
}

static Connection *
connection_new (CsbConnections *self,
                const char     *host)
{
  Connection *connection = g_new0 (Connection, 1);
  g_autoptr(GSimpleActionGroup) actions = g_simple_action_group_new ();
  GtkWidget *button;

  connection->self = self;
  connection->host = g_strdup (host);
  connection->rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  connection->terminals = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  /* Held: the group and the row are taken out of the window before the rest goes. */
  connection->group = g_object_ref_sink (ADW_PREFERENCES_GROUP (adw_preferences_group_new ()));
  adw_preferences_group_set_title (connection->group, host);
  connection->load = CSB_HOST_LABEL (csb_host_label_new ());
  adw_preferences_group_set_header_suffix (connection->group, GTK_WIDGET (connection->load));
  connection->list = GTK_LIST_BOX (gtk_list_box_new ());
  gtk_list_box_set_selection_mode (connection->list, GTK_SELECTION_NONE);
  gtk_widget_add_css_class (GTK_WIDGET (connection->list), "boxed-list");
  gtk_widget_set_visible (GTK_WIDGET (connection->list), FALSE);
  make_launch_box (connection);
  adw_preferences_group_add (connection->group, connection->launch_box);
  adw_preferences_group_add (connection->group, GTK_WIDGET (connection->list));
  g_action_map_add_action_entries (G_ACTION_MAP (actions), remote_actions,
                                   G_N_ELEMENTS (remote_actions), connection);
  gtk_widget_insert_action_group (GTK_WIDGET (connection->group), "remote",
                                  G_ACTION_GROUP (actions));
  connection->actions = G_ACTION_GROUP (g_steal_pointer (&actions));
  /* Before the Connections group, after the other machines. */
  gtk_box_insert_child_after (GTK_BOX (self), GTK_WIDGET (connection->group),
                              self->connections->len > 0
                              ? GTK_WIDGET (((Connection *) g_ptr_array_index (self->connections,
                                                                               self->connections->len - 1))->group)
                              : NULL);

  connection->row = g_object_ref_sink (ADW_ACTION_ROW (adw_action_row_new ()));
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (connection->row), host);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (connection->row), FALSE);
  adw_preferences_group_set_description (connection->group, NULL);
  button = gtk_button_new_with_mnemonic (_("_Test"));
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, _("Connect again and check the sandbox service there"));
  g_signal_connect_data (button, "clicked", G_CALLBACK (on_test_clicked), g_strdup (host),
                         (GClosureNotify) g_free, 0);
  adw_action_row_add_suffix (connection->row, button);
  button = gtk_button_new_from_icon_name ("user-trash-symbolic");
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "flat");
  gtk_widget_set_tooltip_text (button, _("Remove Connection"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Remove Connection"), -1);
  g_signal_connect_data (button, "clicked", G_CALLBACK (on_remove_clicked), g_strdup (host),
                         (GClosureNotify) g_free, 0);
  adw_action_row_add_suffix (connection->row, button);
  adw_preferences_group_add (self->connections_group, GTK_WIDGET (connection->row));

  g_ptr_array_add (self->connections, connection);
  return connection;
}

static void
connection_destroy (CsbConnections *self,
                    Connection     *connection)
{
  g_autoptr(GList) terminals = g_hash_table_get_values (connection->terminals);

  /* Its terminals go with it (closing one takes it out of the table). */
  for (GList *l = terminals; l != NULL; l = l->next)
    close_terminal (l->data);
  adw_preferences_group_remove (self->connections_group, GTK_WIDGET (connection->row));
  gtk_box_remove (GTK_BOX (self), GTK_WIDGET (connection->group));
  g_ptr_array_remove (self->connections, connection);
}

/* Follows the key: new hosts connect, dropped ones disconnect. */
static void
on_connections_changed (CsbConnections *self)
{
  g_auto(GStrv) hosts = g_settings_get_strv (self->settings, "connections");

  for (guint i = self->connections->len; i > 0; i--)
    {
      Connection *connection = g_ptr_array_index (self->connections, i - 1);

      if (!g_strv_contains ((const char * const *) hosts, connection->host))
        connection_destroy (self, connection);
    }
  for (guint i = 0; hosts[i] != NULL; i++)
    if (csb_remote_check_host (hosts[i], NULL) && find_connection (self, hosts[i]) == NULL)
      connection_connect (connection_new (self, hosts[i]));
  gtk_widget_set_visible (GTK_WIDGET (self->connections_group), self->connections->len > 0);
}

void
csb_connections_set_settings (CsbConnections *self,
                              GSettings      *settings)
{
  g_return_if_fail (CSB_IS_CONNECTIONS (self));

  if (self->settings != NULL)
    g_signal_handlers_disconnect_by_data (self->settings, self);
  g_set_object (&self->settings, settings);
  g_signal_connect_swapped (settings, "changed::connections",
                            G_CALLBACK (on_connections_changed), self);
  on_connections_changed (self);
}

guint
csb_connections_get_n (CsbConnections *self)
{
  return self->connections->len;
}

gboolean
csb_connections_add (CsbConnections *self,
                     const char     *host,
                     GError        **error)
{
  g_auto(GStrv) hosts = NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) updated = NULL;

  if (!csb_remote_check_host (host, error))
    return FALSE;
  hosts = g_settings_get_strv (self->settings, "connections");
  if (g_strv_contains ((const char * const *) hosts, host))
    return TRUE;
  g_strv_builder_addv (builder, (const char **) hosts);
  g_strv_builder_add (builder, host);
  updated = g_strv_builder_end (builder);
  g_settings_set_strv (self->settings, "connections", (const char * const *) updated);
  return TRUE;
}

void
csb_connections_remove (CsbConnections *self,
                        const char     *host)
{
  g_auto(GStrv) hosts = g_settings_get_strv (self->settings, "connections");
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) updated = NULL;

  for (guint i = 0; hosts[i] != NULL; i++)
    if (g_strcmp0 (hosts[i], host) != 0)
      g_strv_builder_add (builder, hosts[i]);
  updated = g_strv_builder_end (builder);
  g_settings_set_strv (self->settings, "connections", (const char * const *) updated);
}

void
csb_connections_test (CsbConnections *self,
                      const char     *host)
{
  Connection *connection = find_connection (self, host);

  if (connection != NULL)
    connection_connect (connection);
}

const char *
csb_connections_get_status (CsbConnections *self,
                            const char     *host)
{
  Connection *connection = find_connection (self, host);

  return connection ? connection->status : NULL;
}

GtkWidget *
csb_connections_get_group (CsbConnections *self,
                           const char     *host)
{
  Connection *connection = find_connection (self, host);

  return connection ? GTK_WIDGET (connection->group) : NULL;
}

guint
csb_connections_get_n_sandboxes (CsbConnections *self,
                                 const char     *host)
{
  Connection *connection = find_connection (self, host);

  return connection ? g_hash_table_size (connection->rows) : 0;
}

GtkWidget *
csb_connections_get_folder_entry (CsbConnections *self,
                                  const char     *host)
{
  Connection *connection = find_connection (self, host);

  return connection ? GTK_WIDGET (connection->folder_entry) : NULL;
}

GtkWidget *
csb_connections_get_terminal (CsbConnections *self,
                              const char     *host,
                              const char     *object_path)
{
  Connection *connection = find_connection (self, host);

  return connection ? g_hash_table_lookup (connection->terminals, object_path) : NULL;
}

GList *
csb_connections_get_rows (CsbConnections *self,
                          const char     *host)
{
  Connection *connection = find_connection (self, host);

  return connection ? g_hash_table_get_values (connection->rows) : NULL;
}

static void
csb_connections_dispose (GObject *object)
{
  CsbConnections *self = CSB_CONNECTIONS (object);

  if (self->settings != NULL)
    g_signal_handlers_disconnect_by_data (self->settings, self);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->connections, g_ptr_array_unref);
  G_OBJECT_CLASS (csb_connections_parent_class)->dispose (object);
}

static void
csb_connections_class_init (CsbConnectionsClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = csb_connections_dispose;

  /* A remote sandbox's terminal (a CsbTerminalPage) to show: the window's tabs take
   * it (a new one is not in any yet). */
  signals[SIGNAL_SHOW_TERMINAL] =
    g_signal_new ("show-terminal", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, GTK_TYPE_WIDGET);
}

static void
csb_connections_init (CsbConnections *self)
{
  gtk_orientable_set_orientation (GTK_ORIENTABLE (self), GTK_ORIENTATION_VERTICAL);
  gtk_box_set_spacing (GTK_BOX (self), 24);
  self->connections = g_ptr_array_new_with_free_func ((GDestroyNotify) connection_free);
  self->connections_group = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  adw_preferences_group_set_title (self->connections_group, _("Connections"));
  adw_preferences_group_set_description (self->connections_group,
                                         _("Other machines, through ssh with your keys and "
                                           "agent (never a password prompt)."));
  gtk_widget_set_visible (GTK_WIDGET (self->connections_group), FALSE);
  gtk_box_append (GTK_BOX (self), GTK_WIDGET (self->connections_group));
}
