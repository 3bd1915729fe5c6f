/* csb-window.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <gtk/gtk.h>

#ifdef GDK_WINDOWING_X11
#include <gdk/x11/gdkx.h>
#endif
#ifdef GDK_WINDOWING_WAYLAND
#include <gdk/wayland/gdkwayland.h>
#endif

#include "csb-error.h"
#include "csb-folder-chooser.h"
#include "csb-format.h"
#include "csb-launch-page.h"
#include "csb-names.h"
#include "csb-pin.h"
#include "csb-sandbox-row.h"
#include "csb-terminal-page.h"
#include "csb-window.h"
#include "csb-connections.h"
#include "csb-host-label.h"

struct _CsbWindow
{
  AdwApplicationWindow  parent_instance;

  AdwToastOverlay      *toast_overlay;
  GtkInfoBar           *service_bar;
  AdwViewStack         *view_stack;
  AdwViewStackPage     *sandboxes_stack_page;
  GtkStack             *sandboxes_stack;
  GtkListBox           *sandbox_list;
  AdwPreferencesGroup  *local_group;
  CsbHostLabel         *local_load;
  CsbConnections       *connections;
  GtkStack             *terminals_stack;
  AdwTabView           *tab_view;
  CsbLaunchPage        *launch_page;

  CsbApplication       *application;
  GSettings            *settings;
  GDBusObjectManager   *object_manager;
  GHashTable           *rows;        /* object path → CsbSandboxRow */
  GCancellable         *cancellable;
  char                 *show_when_added;  /* object path whose terminal to show once known */
  gboolean              service_lost;     /* it stopped while sandboxes ran */
  AdwMessageDialog     *question;         /* the open close-tab or quit question */
  gboolean              close_confirmed;
  char                 *launching;        /* project folder of the launch in flight */
};

G_DEFINE_FINAL_TYPE (CsbWindow, csb_window, ADW_TYPE_APPLICATION_WINDOW)

void
csb_window_add_toast (CsbWindow  *self,
                      const char *message)
{
  AdwToast *toast;

  g_return_if_fail (CSB_IS_WINDOW (self));

  toast = adw_toast_new (message);
  adw_toast_set_timeout (toast, 6);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static void
toast_error (CsbWindow    *self,
             const GError *error)
{
  g_autofree char *message = csb_format_error (error);
  g_autofree char *details = csb_format_error_details (error);
  AdwToast *toast;

  toast = adw_toast_new (message);
  adw_toast_set_timeout (toast, 10);
  if (details != NULL && g_strcmp0 (details, message) != 0)
    {
      adw_toast_set_button_label (toast, _("_Details"));
      adw_toast_set_action_name (toast, "win.show-details");
      adw_toast_set_action_target_value (toast, g_variant_new ("(ss)", message, details));
    }
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static void
show_details_action (GtkWidget  *widget,
                     const char *action_name,
                     GVariant   *parameter)
{
  const char *message, *details;
  GtkWidget *dialog;

  g_variant_get (parameter, "(&s&s)", &message, &details);
  dialog = adw_message_dialog_new (GTK_WINDOW (widget), message, details);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

static CsbDBusSandbox *
lookup_sandbox (CsbWindow  *self,
                const char *object_path)
{
  g_autoptr(GDBusInterface) iface = NULL;

  if (self->object_manager == NULL)
    return NULL;
  iface = g_dbus_object_manager_get_interface (self->object_manager, object_path,
                                               CSB_SANDBOX_INTERFACE);
  return iface ? CSB_DBUS_SANDBOX (g_steal_pointer (&iface)) : NULL;
}

/* ---- the list ------------------------------------------------------------------------ */

static AdwTabPage *find_tab (CsbWindow  *self,
                             const char *object_path);

static int
compare_started (gconstpointer a,
                 gconstpointer b)
{
  CsbDBusSandbox *x = *(CsbDBusSandbox **) a;
  CsbDBusSandbox *y = *(CsbDBusSandbox **) b;
  guint64 sx = csb_dbus_sandbox_get_started_at (x);
  guint64 sy = csb_dbus_sandbox_get_started_at (y);

  if (sx != sy)
    return sx < sy ? -1 : 1;
  return g_strcmp0 (g_dbus_proxy_get_object_path (G_DBUS_PROXY (x)),
                    g_dbus_proxy_get_object_path (G_DBUS_PROXY (y)));
}

/* Rows and tabs are called by what runs in them, as Console's tabs are; the same
 * name twice gets a number, in the order the sandboxes started. */
static void
update_titles (CsbWindow *self)
{
  g_autoptr(GPtrArray) sandboxes = g_ptr_array_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer row;
  int n = adw_tab_view_get_n_pages (self->tab_view);

  g_hash_table_iter_init (&iter, self->rows);
  while (g_hash_table_iter_next (&iter, NULL, &row))
    {
      CsbDBusSandbox *sandbox = csb_sandbox_row_get_sandbox (row);

      if (g_hash_table_add (seen, (gpointer) g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox))))
        g_ptr_array_add (sandboxes, sandbox);
    }
  for (int i = 0; i < n; i++)
    {
      CsbTerminalPage *page = CSB_TERMINAL_PAGE (adw_tab_page_get_child (adw_tab_view_get_nth_page (self->tab_view, i)));
      CsbDBusSandbox *sandbox = csb_terminal_page_get_sandbox (page);

      /* Another machine's sandbox keeps its "ID on HOST". */
      if (csb_terminal_page_get_host (page) == NULL &&
          g_hash_table_add (seen, (gpointer) g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox))))
        g_ptr_array_add (sandboxes, sandbox);
    }
  g_ptr_array_sort (sandboxes, compare_started);

  for (guint i = 0; i < sandboxes->len; i++)
    {
      CsbDBusSandbox *sandbox = g_ptr_array_index (sandboxes, i);
      const char *path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox));
      g_autofree char *base = csb_format_sandbox_title (csb_dbus_sandbox_get_name (sandbox),
                                                        csb_dbus_sandbox_get_project_dir (sandbox),
                                                        csb_dbus_sandbox_get_command (sandbox));
      guint count = GPOINTER_TO_UINT (g_hash_table_lookup (counts, base)) + 1;
      g_autofree char *title = NULL;
      GtkWidget *row_widget = g_hash_table_lookup (self->rows, path);
      AdwTabPage *tab = find_tab (self, path);

      g_hash_table_replace (counts, g_strdup (base), GUINT_TO_POINTER (count));
      /* Translators: a second sandbox running the same thing, e.g. "Claude (2)" */
      title = count == 1 ? g_strdup (base) : g_strdup_printf (_("%s (%u)"), base, count);
      if (row_widget != NULL)
        adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row_widget), title);
      if (tab != NULL)
        {
          g_autofree char *folder = csb_format_path (csb_dbus_sandbox_get_project_dir (sandbox));

          csb_terminal_page_set_title (CSB_TERMINAL_PAGE (adw_tab_page_get_child (tab)), title);
          adw_tab_page_set_tooltip (tab, folder);
        }
    }
}

static void
update_sandbox_count (CsbWindow *self)
{
  GHashTableIter iter;
  gpointer row;
  guint active = 0;

  g_hash_table_iter_init (&iter, self->rows);
  while (g_hash_table_iter_next (&iter, NULL, &row))
    {
      const char *state = csb_dbus_sandbox_get_state (csb_sandbox_row_get_sandbox (row));

      if (g_strcmp0 (state, "exited") != 0 && g_strcmp0 (state, "failed") != 0)
        active++;
    }
  adw_view_stack_page_set_badge_number (self->sandboxes_stack_page, active);
  update_titles (self);
  if (self->service_lost)
    gtk_stack_set_visible_child_name (self->sandboxes_stack, "lost");
  else
    gtk_stack_set_visible_child_name (self->sandboxes_stack,
                                      g_hash_table_size (self->rows) > 0 ||
                                      csb_connections_get_n (self->connections) > 0
                                      ? "list" : "empty");
  /* Other machines' sandboxes without local ones: no empty frame above them. */
  gtk_widget_set_visible (GTK_WIDGET (self->sandbox_list), g_hash_table_size (self->rows) > 0);
  adw_preferences_group_set_description (self->local_group, g_hash_table_size (self->rows) > 0
                                                            ? NULL : _("No sandboxes"));
}

static AdwTabPage *
find_tab (CsbWindow  *self,
          const char *object_path)
{
  int n = adw_tab_view_get_n_pages (self->tab_view);

  for (int i = 0; i < n; i++)
    {
      AdwTabPage *page = adw_tab_view_get_nth_page (self->tab_view, i);
      CsbTerminalPage *terminal = CSB_TERMINAL_PAGE (adw_tab_page_get_child (page));

      /* This machine's sandboxes only: another's may have the same path. */
      if (csb_terminal_page_get_host (terminal) == NULL &&
          g_strcmp0 (g_dbus_proxy_get_object_path (G_DBUS_PROXY (csb_terminal_page_get_sandbox (terminal))),
                     object_path) == 0)
        return page;
    }
  return NULL;
}

static void
remove_row (CsbWindow  *self,
            const char *object_path)
{
  GtkWidget *row = g_hash_table_lookup (self->rows, object_path);

  if (row == NULL)
    return;
  g_signal_handlers_disconnect_by_data (csb_sandbox_row_get_sandbox (CSB_SANDBOX_ROW (row)), self);
  csb_sandbox_row_list_remove (self->sandbox_list, self->rows, object_path);
}

/* A sandbox of the service's (@object holds one): a new row, or the one that shows it
 * already (after the service came back) follows the new instance's proxy; so does its
 * terminal. */
static void
add_object (CsbWindow   *self,
            GDBusObject *object)
{
  CsbDBusSandbox *sandbox = csb_dbus_object_peek_sandbox (CSB_DBUS_OBJECT (object));
  const char *path = g_dbus_object_get_object_path (object);
  GtkWidget *row;
  AdwTabPage *tab;

  if (sandbox == NULL)
    return;
  row = g_hash_table_lookup (self->rows, path);
  tab = find_tab (self, path);
  if (row != NULL)
    {
      g_signal_handlers_disconnect_by_data (csb_sandbox_row_get_sandbox (CSB_SANDBOX_ROW (row)),
                                            self);
      csb_sandbox_row_set_sandbox (CSB_SANDBOX_ROW (row), sandbox);
    }
  else
    csb_sandbox_row_list_prepend (self->sandbox_list, self->rows, sandbox, FALSE);
  g_signal_connect_object (sandbox, "g-properties-changed", G_CALLBACK (update_sandbox_count),
                           self, G_CONNECT_SWAPPED | G_CONNECT_AFTER);
  if (tab != NULL)
    csb_terminal_page_set_sandbox (CSB_TERMINAL_PAGE (adw_tab_page_get_child (tab)), sandbox);
  update_sandbox_count (self);

  if (g_strcmp0 (self->show_when_added, path) == 0)
    {
      g_clear_pointer (&self->show_when_added, g_free);
      csb_window_show_sandbox (self, path);
    }
  /* The sandbox of the launch in flight appears while it starts (a VM boots for a
   * few seconds before Launch answers): its page shows the progress, and Cancel. */
  else if (self->launching != NULL && tab == NULL &&
           g_strcmp0 (csb_dbus_sandbox_get_state (sandbox), "starting") == 0 &&
           g_strcmp0 (csb_dbus_sandbox_get_project_dir (sandbox), self->launching) == 0)
    csb_window_show_sandbox (self, path);
}

static void
on_object_removed (GDBusObjectManager *manager,
                   GDBusObject        *object,
                   gpointer            user_data)
{
  CsbWindow *self = user_data;
  const char *path = g_dbus_object_get_object_path (object);
  AdwTabPage *tab;

  /* Its instance of the service went away: that says nothing about the sandboxes
   * (see service_gone()). */
  if (g_dbus_object_manager_client_get_name_owner (G_DBUS_OBJECT_MANAGER_CLIENT (manager)) == NULL)
    return;
  remove_row (self, path);
  tab = find_tab (self, path);
  if (tab != NULL)
    adw_tab_view_close_page (self->tab_view, tab);
  update_sandbox_count (self);
}

/* The bar says it on the other pages; the Sandboxes page has its status page. */
static void
update_service_bar (CsbWindow *self)
{
  gtk_info_bar_set_revealed (self->service_bar,
                             self->service_lost &&
                             g_strcmp0 (adw_view_stack_get_visible_child_name (self->view_stack),
                                        "sandboxes") != 0);
}

static void
set_service_lost (CsbWindow *self,
                  gboolean   lost)
{
  self->service_lost = lost;
  update_service_bar (self);
  update_sandbox_count (self);
}

/* No instance of the service runs. Sandboxes that ran keep running (they outlive
 * it): the rows and terminals stay, behind the word that the service stopped, until
 * a new instance lists them again. Ended ones it has forgotten, as a new instance
 * would: their terminals stay, with what they showed. */
static void
service_gone (CsbWindow *self)
{
  g_autoptr(GPtrArray) ended = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer path, row;
  gboolean active = FALSE;

  g_hash_table_iter_init (&iter, self->rows);
  while (g_hash_table_iter_next (&iter, &path, &row))
    {
      const char *state = csb_dbus_sandbox_get_state (csb_sandbox_row_get_sandbox (row));

      if (g_strcmp0 (state, "exited") == 0 || g_strcmp0 (state, "failed") == 0)
        g_ptr_array_add (ended, g_strdup (path));
      else
        active = TRUE;
    }
  for (guint i = 0; i < ended->len; i++)
    {
      AdwTabPage *tab = find_tab (self, g_ptr_array_index (ended, i));

      remove_row (self, g_ptr_array_index (ended, i));
      if (tab != NULL)
        csb_terminal_page_set_gone (CSB_TERMINAL_PAGE (adw_tab_page_get_child (tab)));
    }
  set_service_lost (self, active);
}

/* A new instance of the service: what it lists is the truth. Rows it does not list
 * go; terminals it does not list stay, as ended. */
static void
service_back (CsbWindow *self)
{
  g_autoptr(GPtrArray) stale = g_ptr_array_new_with_free_func (g_free);
  GList *objects = g_dbus_object_manager_get_objects (self->object_manager);
  GHashTableIter iter;
  gpointer path;
  int n;

  for (GList *l = objects; l != NULL; l = l->next)
    add_object (self, l->data);
  g_list_free_full (objects, g_object_unref);

  g_hash_table_iter_init (&iter, self->rows);
  while (g_hash_table_iter_next (&iter, &path, NULL))
    {
      g_autoptr(CsbDBusSandbox) sandbox = lookup_sandbox (self, path);

      if (sandbox == NULL)
        g_ptr_array_add (stale, g_strdup (path));
    }
  for (guint i = 0; i < stale->len; i++)
    remove_row (self, g_ptr_array_index (stale, i));

  n = adw_tab_view_get_n_pages (self->tab_view);
  for (int i = 0; i < n; i++)
    {
      CsbTerminalPage *page = CSB_TERMINAL_PAGE (adw_tab_page_get_child (adw_tab_view_get_nth_page (self->tab_view, i)));
      const char *tab_path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (csb_terminal_page_get_sandbox (page)));
      g_autoptr(CsbDBusSandbox) sandbox = lookup_sandbox (self, tab_path);

      if (sandbox == NULL && csb_terminal_page_get_host (page) == NULL)
        csb_terminal_page_set_gone (page);
    }
  set_service_lost (self, FALSE);
}

static void
on_backends (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(CsbWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) backends = NULL;

  if (!csb_dbus_manager_call_get_backends_finish (CSB_DBUS_MANAGER (source), &backends, result,
                                                  &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        toast_error (self, error);
      return;
    }
  csb_launch_page_set_backends (self->launch_page, backends);
}

static void
set_object_manager (CsbWindow *self)
{
  GDBusObjectManager *manager = csb_application_get_object_manager (self->application);

  if (manager == self->object_manager)
    return;
  if (self->object_manager != NULL)
    g_signal_handlers_disconnect_by_data (self->object_manager, self);
  g_clear_object (&self->object_manager);
  if (manager == NULL)
    {
      service_gone (self);
      return;
    }
  self->object_manager = g_object_ref (manager);
  g_signal_connect_object (manager, "object-added", G_CALLBACK (add_object), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (manager, "object-removed", G_CALLBACK (on_object_removed), self, 0);
  service_back (self);

  csb_dbus_manager_call_get_backends (csb_application_get_manager (self->application),
                                      self->cancellable, on_backends, g_object_ref (self));
}

/* ---- terminals ------------------------------------------------------------------------- */

static void
update_terminals_stack (CsbWindow *self)
{
  gtk_stack_set_visible_child_name (self->terminals_stack,
                                    adw_tab_view_get_n_pages (self->tab_view) > 0 ? "tabs" : "empty");
}

static AdwTabPage *
append_tab (CsbWindow  *self,
            GtkWidget  *terminal,
            const char *icon_name)
{
  AdwTabPage *tab = adw_tab_view_append (self->tab_view, terminal);
  g_autoptr(GIcon) icon = g_themed_icon_new (icon_name);

  g_object_bind_property (terminal, "title", tab, "title", G_BINDING_SYNC_CREATE);
  g_object_bind_property (terminal, "busy", tab, "loading", G_BINDING_SYNC_CREATE);
  adw_tab_page_set_icon (tab, icon);
  return tab;
}

static void
select_tab (CsbWindow  *self,
            AdwTabPage *tab)
{
  adw_tab_view_set_selected_page (self->tab_view, tab);
  update_terminals_stack (self);
  adw_view_stack_set_visible_child_name (self->view_stack, "terminals");
  /* Typing goes to the sandbox at once (once a VM's console shows, if it boots). */
  csb_terminal_page_focus (CSB_TERMINAL_PAGE (adw_tab_page_get_child (tab)));
}

void
csb_window_show_sandbox (CsbWindow  *self,
                         const char *object_path)
{
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  AdwTabPage *tab;
  GtkWidget *terminal;

  g_return_if_fail (CSB_IS_WINDOW (self));
  g_return_if_fail (object_path != NULL);

  tab = find_tab (self, object_path);
  if (tab == NULL)
    {
      sandbox = lookup_sandbox (self, object_path);
      if (sandbox == NULL)
        {
          /* Launch returned before the object manager heard of the sandbox. */
          g_free (self->show_when_added);
          self->show_when_added = g_strdup (object_path);
          return;
        }
      terminal = csb_terminal_page_new (sandbox);
      tab = append_tab (self, terminal, "utilities-terminal-symbolic");
      update_titles (self);
    }
  select_tab (self, tab);
}

/* A terminal of another machine's sandbox, made by its connection: a tab as a
 * local one, shown again if it is one already. */
static void
on_show_remote_terminal (CsbWindow *self,
                         GtkWidget *terminal)
{
  AdwTabPage *tab;

  if (gtk_widget_get_parent (terminal) == NULL)
    tab = append_tab (self, terminal, "network-server-symbolic");
  else if ((tab = adw_tab_view_get_page (self->tab_view, terminal)) == NULL)
    return;
  adw_tab_page_set_tooltip (tab, csb_terminal_page_get_host (CSB_TERMINAL_PAGE (terminal)));
  select_tab (self, tab);
}

GtkWidget *
csb_window_get_launch_page (CsbWindow *self)
{
  g_return_val_if_fail (CSB_IS_WINDOW (self), NULL);
  return GTK_WIDGET (self->launch_page);
}

GtkWidget *
csb_window_find_row (CsbWindow  *self,
                     const char *object_path)
{
  g_return_val_if_fail (CSB_IS_WINDOW (self), NULL);
  return g_hash_table_lookup (self->rows, object_path);
}

GtkWidget *
csb_window_find_terminal (CsbWindow  *self,
                          const char *object_path)
{
  AdwTabPage *tab;

  g_return_val_if_fail (CSB_IS_WINDOW (self), NULL);
  tab = find_tab (self, object_path);
  return tab ? adw_tab_page_get_child (tab) : NULL;
}

gboolean
csb_window_get_service_lost (CsbWindow *self)
{
  g_return_val_if_fail (CSB_IS_WINDOW (self), FALSE);
  return self->service_lost;
}

guint
csb_window_get_n_rows (CsbWindow *self)
{
  g_return_val_if_fail (CSB_IS_WINDOW (self), 0);
  return g_hash_table_size (self->rows);
}

const char *
csb_window_get_visible_page (CsbWindow *self)
{
  g_return_val_if_fail (CSB_IS_WINDOW (self), NULL);
  return adw_view_stack_get_visible_child_name (self->view_stack);
}

/* ---- launching ---------------------------------------------------------------------------- */

/* What a launch asked for, to ask for it again once Claude Code is installed. */
typedef struct
{
  char     *project_dir;
  GStrv     command;
  GVariant *options;
} LaunchRequest;

static void
launch_request_free (LaunchRequest *request)
{
  g_free (request->project_dir);
  g_strfreev (request->command);
  g_clear_pointer (&request->options, g_variant_unref);
  g_free (request);
}

static void offer_claude_install (CsbWindow *self, const LaunchRequest *request);

/* The service's NotFound when no claude is anywhere it looks (csb-claude-config.c). The
 * words matched are the stable start of its message. */
static gboolean
is_claude_missing (const GError *error)
{
  return error->domain == CSB_ERROR && error->code == CSB_ERROR_NOT_FOUND &&
         strstr (error->message, "Claude Code (claude) is not installed") != NULL;
}

static void
on_launched (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  CsbWindow *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = csb_application_launch_finish (CSB_APPLICATION (source), result, &error);

  g_clear_pointer (&self->launching, g_free);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.launch",
                                 csb_launch_page_get_can_launch (self->launch_page));
  if (path == NULL)
    {
      if (is_claude_missing (error))
        offer_claude_install (self, g_task_get_task_data (task));
      else
        toast_error (self, error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  csb_window_show_sandbox (self, path);
  g_task_return_pointer (task, g_steal_pointer (&path), g_free);
}

static void
launch_with_options (CsbWindow           *self,
                     const char          *project_dir,
                     const char * const  *command,
                     GVariant            *options,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  GTask *task = g_task_new (self, self->cancellable, callback, user_data);

  LaunchRequest *request = g_new0 (LaunchRequest, 1);

  g_task_set_source_tag (task, csb_window_launch_async);
  request->project_dir = g_strdup (project_dir);
  request->command = g_strdupv ((char **) command);
  request->options = options != NULL ? g_variant_ref_sink (options) : NULL;
  g_task_set_task_data (task, request, (GDestroyNotify) launch_request_free);
  /* One start at a time from this window: Start is not clickable while one runs. */
  g_free (self->launching);
  self->launching = g_strdup (project_dir);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.launch", FALSE);
  csb_application_launch_async (self->application, project_dir, command, options,
                                self->cancellable, on_launched, task);
}

void
csb_window_launch_async (CsbWindow           *self,
                         const char          *project_dir,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_return_if_fail (CSB_IS_WINDOW (self));
  g_return_if_fail (project_dir != NULL);

  launch_with_options (self, project_dir, NULL, NULL, callback, user_data);
}

char *
csb_window_launch_finish (CsbWindow     *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- installing Claude Code --------------------------------------------------------------- */

/* Like build-aux/run.sh: from npm into a prefix of the user's own, where the service
 * looks (csb-claude-config.c). Tests point CSB_NPM at a stand-in for npm. */
#define CLAUDE_PACKAGE "@anthropic-ai/claude-code"

typedef struct
{
  CsbWindow        *window;
  LaunchRequest    *request;
  char             *prefix;
  GSubprocess      *subprocess;
  GCancellable     *cancellable;
  AdwMessageDialog *dialog;
  GtkProgressBar   *progress;
  GtkLabel         *detail;
  guint             pulse_id;
  char             *last_line;
  guint             pending;   /* npm's output and npm itself: the end waits for both */
  gboolean          succeeded;
  GError           *error;
} ClaudeInstall;

static void
claude_install_free (ClaudeInstall *install)
{
  g_clear_handle_id (&install->pulse_id, g_source_remove);
  if (install->dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (install->dialog));
  g_clear_object (&install->dialog);
  g_clear_object (&install->subprocess);
  g_clear_object (&install->cancellable);
  g_clear_object (&install->window);
  launch_request_free (install->request);
  g_free (install->prefix);
  g_free (install->last_line);
  g_clear_error (&install->error);
  g_free (install);
}

static char *
claude_prefix (void)
{
  const char *data_home = g_getenv ("XDG_DATA_HOME");

  if (data_home != NULL && g_path_is_absolute (data_home))
    return g_build_filename (data_home, "claude-sandbox", "npm", NULL);
  return g_build_filename (g_get_home_dir (), ".local", "share", "claude-sandbox", "npm", NULL);
}

static void
install_child_setup (gpointer user_data)
{
  /* A group of its own: Cancel ends npm and whatever it started. */
  setpgid (0, 0);
}

static gboolean
install_pulse (gpointer user_data)
{
  ClaudeInstall *install = user_data;

  gtk_progress_bar_pulse (install->progress);
  return G_SOURCE_CONTINUE;
}

static void
install_kill (ClaudeInstall *install)
{
  const char *id;

  if (install->subprocess == NULL || (id = g_subprocess_get_identifier (install->subprocess)) == NULL)
    return;
  kill (-(pid_t) g_ascii_strtoll (id, NULL, 10), SIGKILL);
  g_subprocess_force_exit (install->subprocess);
}

static void
on_install_response (AdwMessageDialog *dialog,
                     const char       *response,
                     gpointer          user_data)
{
  ClaudeInstall *install = user_data;

  /* Cancel (or Escape): end the installer; on_install_done cleans up. */
  g_cancellable_cancel (install->cancellable);
  install_kill (install);
}

static void install_finished (ClaudeInstall *install);

static void
on_install_line (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  ClaudeInstall *install = user_data;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
                                                                     result, NULL, NULL);

  if (line == NULL)
    {
      install_finished (install);  /* end of output, or cancelled */
      return;
    }
  g_strstrip (line);
  if (*line != '\0')
    {
      g_free (install->last_line);
      install->last_line = g_strdup (line);
      gtk_label_set_text (install->detail, line);
    }
  g_data_input_stream_read_line_async (G_DATA_INPUT_STREAM (source), G_PRIORITY_DEFAULT,
                                       install->cancellable, on_install_line, install);
}

static void
on_install_done (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  ClaudeInstall *install = user_data;

  install->succeeded = g_subprocess_wait_check_finish (G_SUBPROCESS (source), result,
                                                       &install->error);
  install_finished (install);
}

static void
install_finished (ClaudeInstall *install)
{
  CsbWindow *self = install->window;
  GError *error = install->error;
  g_autofree char *claude = g_build_filename (install->prefix, "bin", "claude", NULL);
  gboolean ok = install->succeeded;

  if (--install->pending > 0)
    return;
  if (g_cancellable_is_cancelled (install->cancellable))
    csb_window_add_toast (self, _("Installing Claude Code was cancelled."));
  else if (!ok || !g_file_test (claude, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_autofree char *message =
        g_strdup_printf (_("Installing Claude Code failed: %s"),
                         install->last_line != NULL ? install->last_line
                                                    : (error != NULL ? error->message : "npm"));
      csb_window_add_toast (self, message);
    }
  else
    {
      LaunchRequest *request = install->request;

      csb_window_add_toast (self, _("Claude Code is installed."));
      launch_with_options (self, request->project_dir, (const char * const *) request->command,
                           request->options, NULL, NULL);
    }
  claude_install_free (install);
}

static void
start_claude_install (CsbWindow           *self,
                      const LaunchRequest *request)
{
  const char *npm_env = g_getenv ("CSB_NPM");
  g_autofree char *npm = npm_env != NULL ? g_strdup (npm_env) : g_find_program_in_path ("npm");
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GDataInputStream) lines = NULL;
  g_autoptr(GError) error = NULL;
  ClaudeInstall *install;
  GtkWidget *box;

  if (npm == NULL)
    {
      csb_window_add_toast (self, _("npm is missing: install the Debian package npm, then "
                                    "start again."));
      return;
    }

  install = g_new0 (ClaudeInstall, 1);
  install->window = g_object_ref (self);
  install->request = g_new0 (LaunchRequest, 1);
  install->request->project_dir = g_strdup (request->project_dir);
  install->request->command = g_strdupv (request->command);
  install->request->options = request->options ? g_variant_ref (request->options) : NULL;
  install->prefix = claude_prefix ();
  install->cancellable = g_cancellable_new ();

  if (g_mkdir_with_parents (install->prefix, 0755) != 0)
    {
      int saved_errno = errno;
      g_autofree char *message = g_strdup_printf (_("Installing Claude Code failed: %s"),
                                                  g_strerror (saved_errno));
      csb_window_add_toast (self, message);
      claude_install_free (install);
      return;
    }

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_MERGE |
                                        G_SUBPROCESS_FLAGS_STDIN_INHERIT);
  g_subprocess_launcher_set_child_setup (launcher, install_child_setup, NULL, NULL);
  install->subprocess = g_subprocess_launcher_spawn (launcher, &error, npm, "install", "-g",
                                                     "--no-fund", "--no-audit", "--prefix",
                                                     install->prefix, CLAUDE_PACKAGE, NULL);
  if (install->subprocess == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("Installing Claude Code failed: %s"),
                                                  error->message);
      csb_window_add_toast (self, message);
      claude_install_free (install);
      return;
    }

  install->dialog = g_object_ref_sink (ADW_MESSAGE_DIALOG (
    adw_message_dialog_new (GTK_WINDOW (self), _("Installing Claude Code"), NULL)));
  gtk_widget_set_name (GTK_WIDGET (install->dialog), "claude-install");
  adw_message_dialog_format_body (install->dialog, _("npm installs it into %s."), install->prefix);
  adw_message_dialog_add_response (install->dialog, "cancel", _("_Cancel"));
  adw_message_dialog_set_close_response (install->dialog, "cancel");
  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  install->progress = GTK_PROGRESS_BAR (gtk_progress_bar_new ());
  install->detail = GTK_LABEL (gtk_label_new (_("Starting npm…")));
  gtk_label_set_ellipsize (install->detail, PANGO_ELLIPSIZE_END);
  gtk_label_set_max_width_chars (install->detail, 40);
  gtk_widget_add_css_class (GTK_WIDGET (install->detail), "dim-label");
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (install->progress));
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (install->detail));
  adw_message_dialog_set_extra_child (install->dialog, box);
  g_signal_connect (install->dialog, "response", G_CALLBACK (on_install_response), install);
  /* The response hides the dialog; it goes for good once npm has ended. */
  install->pulse_id = g_timeout_add (100, install_pulse, install);
  gtk_window_present (GTK_WINDOW (install->dialog));

  install->pending = 2;
  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (install->subprocess));
  g_data_input_stream_read_line_async (lines, G_PRIORITY_DEFAULT, install->cancellable,
                                       on_install_line, install);
  g_subprocess_wait_check_async (install->subprocess, NULL, on_install_done, install);
}

static void
on_offer_response (AdwMessageDialog *dialog,
                   const char       *response,
                   gpointer          user_data)
{
  LaunchRequest *request = g_object_get_data (G_OBJECT (dialog), "csb-launch-request");
  CsbWindow *self = CSB_WINDOW (gtk_window_get_transient_for (GTK_WINDOW (dialog)));

  if (g_strcmp0 (response, "install") == 0 && self != NULL)
    start_claude_install (self, request);
}

static void
offer_claude_install (CsbWindow           *self,
                      const LaunchRequest *request)
{
  LaunchRequest *copy = g_new0 (LaunchRequest, 1);
  g_autofree char *prefix = claude_prefix ();
  AdwMessageDialog *dialog;

  copy->project_dir = g_strdup (request->project_dir);
  copy->command = g_strdupv (request->command);
  copy->options = request->options ? g_variant_ref (request->options) : NULL;

  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self),
                                                       _("Claude Code is not installed"), NULL));
  gtk_widget_set_name (GTK_WIDGET (dialog), "claude-missing");
  adw_message_dialog_format_body (dialog,
                                  _("The sandbox runs Claude Code, which is not on this "
                                    "computer. Install it from npm into %s (delete that folder "
                                    "to remove it)?"), prefix);
  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "install", _("_Install"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "install", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "install");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "csb-launch-request", copy,
                          (GDestroyNotify) launch_request_free);
  g_signal_connect (dialog, "response", G_CALLBACK (on_offer_response), NULL);
  gtk_window_present (GTK_WINDOW (dialog));
}

void
csb_window_select_folder (CsbWindow  *self,
                          const char *project_dir)
{
  g_autoptr(GVariant) options = NULL;

  g_return_if_fail (CSB_IS_WINDOW (self));

  if (project_dir != NULL)
    {
      options = csb_projects_get_options (csb_application_get_projects (self->application),
                                          project_dir);
      if (options == NULL)
        options = csb_application_get_default_options (self->application);
    }
  csb_launch_page_set_folder (self->launch_page, project_dir, options);
  adw_view_stack_set_visible_child_name (self->view_stack, "launch");
}

/* ---- actions ------------------------------------------------------------------------------- */

static void
on_folder_chosen (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(CsbWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) folder = csb_folder_chooser_choose_finish (result, &error);
  g_autofree char *path = NULL;

  if (folder == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        toast_error (self, error);
      return;
    }
  path = g_file_get_path (folder);
  if (path == NULL)
    {
      csb_window_add_toast (self, _("Choose a local folder: the sandbox cannot use remote ones."));
      return;
    }
  csb_window_select_folder (self, path);
}

static void
choose_folder_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  CsbWindow *self = CSB_WINDOW (widget);

  csb_folder_chooser_choose_async (GTK_WINDOW (self), self->cancellable, on_folder_chosen,
                                   g_object_ref (self));
}

static void
select_folder_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  csb_window_select_folder (CSB_WINDOW (widget), g_variant_get_string (parameter, NULL));
}

static void
clear_folder_action (GtkWidget  *widget,
                     const char *action_name,
                     GVariant   *parameter)
{
  csb_window_select_folder (CSB_WINDOW (widget), NULL);
}

static void
launch_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  CsbWindow *self = CSB_WINDOW (widget);
  const char *folder = csb_launch_page_get_folder (self->launch_page);

  if (folder == NULL)
    return;
  launch_with_options (self, folder, NULL, csb_launch_page_get_options (self->launch_page), NULL,
                       NULL);
}

static void
on_pinned (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(CsbWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *where = csb_pin_project_finish (result, &error);

  if (where == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        toast_error (self, error);
      return;
    }
  csb_window_add_toast (self, _("The project is in the app grid now"));
}

static void
pin_action (GtkWidget  *widget,
            const char *action_name,
            GVariant   *parameter)
{
  CsbWindow *self = CSB_WINDOW (widget);
  const char *folder = csb_launch_page_get_folder (self->launch_page);
  g_autoptr(GVariant) options = NULL;

  if (folder == NULL)
    {
      csb_window_add_toast (self, _("Choose a project folder first"));
      return;
    }
  /* The launcher starts the project with these options. */
  options = g_variant_ref_sink (csb_launch_page_get_options (self->launch_page));
  csb_projects_remember (csb_application_get_projects (self->application), folder, options);
  csb_pin_project_async (GTK_WINDOW (self), folder, self->cancellable, on_pinned,
                         g_object_ref (self));
}

static void
open_terminal_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  csb_window_show_sandbox (CSB_WINDOW (widget), g_variant_get_string (parameter, NULL));
}

/* A VM's screen, in the Display tab beside its terminal. */
static void
show_display_action (GtkWidget  *widget,
                     const char *action_name,
                     GVariant   *parameter)
{
  CsbWindow *self = CSB_WINDOW (widget);
  const char *path = g_variant_get_string (parameter, NULL);
  GtkWidget *page;

  csb_window_show_sandbox (self, path);
  if ((page = csb_window_find_terminal (self, path)) != NULL)
    csb_terminal_page_show_display (CSB_TERMINAL_PAGE (page));
}

/* The same command with the same options as that sandbox, not the project's latest. */
static void
start_again_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  CsbWindow *self = CSB_WINDOW (widget);
  const char *path = g_variant_get_string (parameter, NULL);
  CsbDBusSandbox *sandbox = NULL;
  AdwTabPage *tab = find_tab (self, path);
  GtkWidget *row = g_hash_table_lookup (self->rows, path);
  g_autoptr(GVariant) options = NULL;

  if (tab != NULL)
    sandbox = csb_terminal_page_get_sandbox (CSB_TERMINAL_PAGE (adw_tab_page_get_child (tab)));
  else if (row != NULL)
    sandbox = csb_sandbox_row_get_sandbox (CSB_SANDBOX_ROW (row));
  if (sandbox == NULL)
    return;
  options = csb_application_get_sandbox_options (self->application, sandbox);
  launch_with_options (self, csb_dbus_sandbox_get_project_dir (sandbox),
                       csb_dbus_sandbox_get_command (sandbox),
                       options, NULL, NULL);
}

static void
on_sandbox_call_done (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(CsbWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);

  if (reply == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    toast_error (self, error);
}

static void
call_sandbox (CsbWindow  *self,
              const char *object_path,
              const char *method)
{
  g_autoptr(CsbDBusSandbox) sandbox = lookup_sandbox (self, object_path);

  if (sandbox == NULL)
    return;
  g_dbus_proxy_call (G_DBUS_PROXY (sandbox), method, NULL, G_DBUS_CALL_FLAGS_NONE, -1,
                     self->cancellable, on_sandbox_call_done, g_object_ref (self));
}

static void
stop_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  CsbWindow *self = CSB_WINDOW (widget);
  const char *path = g_variant_get_string (parameter, NULL);

  csb_application_note_stop_requested (self->application, path);
  call_sandbox (self, path, "Stop");
}

static void
remove_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  CsbWindow *self = CSB_WINDOW (widget);
  const char *path = g_variant_get_string (parameter, NULL);
  g_autoptr(CsbDBusSandbox) sandbox = lookup_sandbox (self, path);
  AdwTabPage *tab;

  if (sandbox != NULL)
    {
      call_sandbox (self, path, "Remove");
      return;
    }
  /* The service no longer knows it: only this window does. */
  remove_row (self, path);
  tab = find_tab (self, path);
  if (tab != NULL)
    adw_tab_view_close_page (self->tab_view, tab);
  update_sandbox_count (self);
}

static void
on_reconnected (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(CsbWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) backends = NULL;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.reconnect", TRUE);
  if (!csb_dbus_manager_call_get_backends_finish (CSB_DBUS_MANAGER (source), &backends, result,
                                                  &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        toast_error (self, error);
      return;
    }
  /* The rows and terminals follow once the name watch sees the new instance. */
  csb_launch_page_set_backends (self->launch_page, backends);
}

static void
on_add_connection_response (AdwMessageDialog *dialog,
                            const char       *response,
                            gpointer          user_data)
{
  CsbWindow *self = user_data;
  GtkEditable *entry = GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog));
  g_autoptr(GError) error = NULL;

  if (g_strcmp0 (response, "add") != 0)
    return;
  if (!csb_connections_add (self->connections, gtk_editable_get_text (entry), &error))
    {
      csb_window_add_toast (self, error->message);
      return;
    }
  adw_view_stack_set_visible_child_name (self->view_stack, "sandboxes");
}

/* A connection is USER@HOST, HOST or an ssh config Host name: ssh's config,
 * keys and agent apply. */
static void
add_connection_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *parameter)
{
  CsbWindow *self = CSB_WINDOW (widget);
  AdwMessageDialog *dialog;
  GtkWidget *entry = gtk_entry_new ();

  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self), _("Add Connection"),
                                                       _("The sandboxes of another machine, "
                                                         "through ssh. Its key must be in your "
                                                         "agent or have no passphrase: the app "
                                                         "never asks for passwords.")));
  gtk_entry_set_placeholder_text (GTK_ENTRY (entry), _("user@host"));
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  adw_message_dialog_set_extra_child (dialog, entry);
  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "add", _("_Add"), NULL);
  adw_message_dialog_set_response_appearance (dialog, "add", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "add");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_add_connection_response), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

CsbConnections *
csb_window_get_connections (CsbWindow *self)
{
  return self->connections;
}

static void
reconnect_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  CsbWindow *self = CSB_WINDOW (widget);

  /* Any call starts the service again (D-Bus activation). */
  gtk_widget_action_set_enabled (widget, "win.reconnect", FALSE);
  csb_dbus_manager_call_get_backends (csb_application_get_manager (self->application),
                                      self->cancellable, on_reconnected, g_object_ref (self));
}

static void
open_display_action (GtkWidget  *widget,
                     const char *action_name,
                     GVariant   *parameter)
{
  CsbWindow *self = CSB_WINDOW (widget);
  g_autoptr(CsbDBusSandbox) sandbox = lookup_sandbox (self, g_variant_get_string (parameter, NULL));
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) viewer = NULL;
  const char *address;

  if (sandbox == NULL)
    return;
  address = csb_dbus_sandbox_get_display (sandbox);
  if (address == NULL || *address == '\0')
    return;

  /* spice-client-gtk is GTK 3 only, so the display opens in virt-viewer's window. */
  viewer = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, "remote-viewer", "--title",
                             csb_dbus_sandbox_get_name (sandbox), address, NULL);
  if (viewer == NULL)
    {
      g_autofree char *message = NULL;

      GtkWidget *dialog;

      gdk_clipboard_set_text (gtk_widget_get_clipboard (widget), address);
      /* A toast would cut this short: a dialog says all of it. */
      message = g_strdup_printf (_("Install remote-viewer (from virt-viewer) to see the "
                                   "virtual machine’s display. Its address, %s, is on the "
                                   "clipboard for any SPICE viewer."), address);
      dialog = adw_message_dialog_new (GTK_WINDOW (self), _("No Display Viewer"), message);
      adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
      gtk_window_present (GTK_WINDOW (dialog));
      return;
    }
  g_subprocess_wait_async (viewer, NULL, NULL, NULL);
}

/* ---- drag and drop ---------------------------------------------------------------------------- */

static gboolean
on_drop (GtkDropTarget *target,
         const GValue  *value,
         double         x,
         double         y,
         gpointer       user_data)
{
  CsbWindow *self = user_data;
  GSList *files;
  g_autofree char *path = NULL;

  if (!G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    return FALSE;
  files = g_value_get_boxed (value);
  if (files == NULL)
    return FALSE;
  path = g_file_get_path (files->data);
  if (path == NULL || !g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      csb_window_add_toast (self, _("Drop a folder: a sandbox works on a whole project folder."));
      return FALSE;
    }
  csb_window_select_folder (self, path);
  return TRUE;
}

/* ---- closing: ask before leaving a running sandbox --------------------------------------- */

static gboolean
sandbox_is_active (CsbDBusSandbox *sandbox)
{
  const char *state = csb_dbus_sandbox_get_state (sandbox);

  return g_strcmp0 (state, "exited") != 0 && g_strcmp0 (state, "failed") != 0;
}

static void
on_close_tab_response (AdwMessageDialog *dialog,
                       const char       *response,
                       gpointer          user_data)
{
  CsbWindow *self = CSB_WINDOW (gtk_window_get_transient_for (GTK_WINDOW (dialog)));
  AdwTabPage *tab = user_data;
  CsbTerminalPage *page = CSB_TERMINAL_PAGE (adw_tab_page_get_child (tab));

  /* One answer: closing the dialog afterwards must not answer again. */
  g_signal_handlers_disconnect_by_func (dialog, on_close_tab_response, user_data);
  g_clear_weak_pointer (&self->question);

  if (g_strcmp0 (response, "stop") == 0)
    gtk_widget_activate_action (GTK_WIDGET (self), "win.stop", "s",
                                g_dbus_proxy_get_object_path (G_DBUS_PROXY (csb_terminal_page_get_sandbox (page))));
  adw_tab_view_close_page_finish (self->tab_view, tab, g_strcmp0 (response, "cancel") != 0);
  if (g_strcmp0 (response, "detach") == 0)
    csb_window_add_toast (self, _("The sandbox keeps running: find it under Sandboxes"));
}

static gboolean
on_close_page (AdwTabView *view,
               AdwTabPage *tab,
               CsbWindow  *self)
{
  CsbTerminalPage *page = CSB_TERMINAL_PAGE (adw_tab_page_get_child (tab));
  CsbDBusSandbox *sandbox = csb_terminal_page_get_sandbox (page);
  g_autofree char *body = NULL;
  AdwMessageDialog *dialog;

  /* Closing another machine's terminal ends its ssh, never the sandbox there. */
  if (csb_terminal_page_get_ended (page) || !sandbox_is_active (sandbox) ||
      csb_terminal_page_get_host (page) != NULL ||
      self->object_manager == NULL || self->question != NULL)
    {
      adw_tab_view_close_page_finish (view, tab, self->question == NULL);
      return GDK_EVENT_STOP;
    }

  /* Translators: %s is what runs in the sandbox ("Claude", "Shell"…) */
  body = g_strdup_printf (_("“%s” is still running. Detach to leave it running: you find it "
                            "again under Sandboxes, and open its terminal from there."),
                          csb_terminal_page_get_title (page));
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self),
                                                      _("Leave the Sandbox Running?"), body));
  adw_message_dialog_add_responses (dialog,
                                    "cancel", _("_Cancel"),
                                    "stop", _("_Stop"),
                                    "detach", _("_Detach"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "stop", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_response_appearance (dialog, "detach", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "detach");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_close_tab_response), tab, 0);
  g_set_weak_pointer (&self->question, dialog);
  gtk_window_present (GTK_WINDOW (dialog));
  return GDK_EVENT_STOP;
}

static guint
count_active_tabs (CsbWindow *self)
{
  int n = adw_tab_view_get_n_pages (self->tab_view);
  guint active = 0;

  for (int i = 0; i < n; i++)
    {
      CsbTerminalPage *page = CSB_TERMINAL_PAGE (adw_tab_page_get_child (adw_tab_view_get_nth_page (self->tab_view, i)));

      if (!csb_terminal_page_get_ended (page) && csb_terminal_page_get_host (page) == NULL &&
          sandbox_is_active (csb_terminal_page_get_sandbox (page)))
        active++;
    }
  return active;
}

static void
on_quit_response (AdwMessageDialog *dialog,
                  const char       *response,
                  gpointer          user_data)
{
  CsbWindow *self = user_data;

  g_signal_handlers_disconnect_by_func (dialog, on_quit_response, user_data);
  g_clear_weak_pointer (&self->question);
  if (g_strcmp0 (response, "cancel") == 0)
    return;
  if (g_strcmp0 (response, "stop") == 0)
    {
      int n = adw_tab_view_get_n_pages (self->tab_view);

      for (int i = 0; i < n; i++)
        {
          CsbTerminalPage *page = CSB_TERMINAL_PAGE (adw_tab_page_get_child (adw_tab_view_get_nth_page (self->tab_view, i)));
          CsbDBusSandbox *sandbox = csb_terminal_page_get_sandbox (page);

          if (!csb_terminal_page_get_ended (page) && csb_terminal_page_get_host (page) == NULL &&
              sandbox_is_active (sandbox))
            {
              const char *path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox));

              csb_application_note_stop_requested (self->application, path);
              /* Sent without waiting for the answer: the window goes. */
              g_dbus_proxy_call (G_DBUS_PROXY (sandbox), "Stop", NULL, G_DBUS_CALL_FLAGS_NONE, -1,
                                 NULL, NULL, NULL);
            }
        }
    }
  self->close_confirmed = TRUE;
  gtk_window_close (GTK_WINDOW (self));
}

/* TRUE if the window asked the user first (and closes itself if they agree). */
static gboolean
ask_before_closing (CsbWindow *self)
{
  guint active = count_active_tabs (self);
  g_autofree char *body = NULL;
  AdwMessageDialog *dialog;

  if (self->close_confirmed || active == 0 || self->object_manager == NULL)
    return FALSE;
  if (self->question != NULL)
    return TRUE;
  body = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                       "A sandbox is still running. Detach to leave it running: "
                                       "the app lists it again under Sandboxes when you open it.",
                                       "%u sandboxes are still running. Detach to leave them "
                                       "running: the app lists them again under Sandboxes when "
                                       "you open it.", active), active);
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self),
                                                      _("Leave the Sandboxes Running?"), body));
  adw_message_dialog_add_responses (dialog,
                                    "cancel", _("_Cancel"),
                                    "stop", _("_Stop All"),
                                    "detach", _("_Detach"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "stop", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_response_appearance (dialog, "detach", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "detach");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_quit_response), self, 0);
  g_set_weak_pointer (&self->question, dialog);
  gtk_window_present (GTK_WINDOW (dialog));
  return TRUE;
}

GtkWidget *
csb_window_get_question (CsbWindow *self)
{
  g_return_val_if_fail (CSB_IS_WINDOW (self), NULL);
  return GTK_WIDGET (self->question);
}

static gboolean
close_tab_shortcut (GtkWidget *widget,
                    GVariant  *args,
                    gpointer   user_data)
{
  CsbWindow *self = CSB_WINDOW (widget);
  AdwTabPage *tab = adw_tab_view_get_selected_page (self->tab_view);

  if (tab == NULL ||
      g_strcmp0 (adw_view_stack_get_visible_child_name (self->view_stack), "terminals") != 0)
    return FALSE;
  /* Asks first if the sandbox runs (see on_close_page()). */
  adw_tab_view_close_page (self->tab_view, tab);
  return TRUE;
}

/* ---- window handles ------------------------------------------------------------------- */

#ifdef GDK_WINDOWING_WAYLAND
static void
on_wayland_handle (GdkToplevel *toplevel,
                   const char  *handle,
                   gpointer     user_data)
{
  g_autoptr(GTask) task = user_data;

  g_task_return_pointer (task, g_strdup_printf ("wayland:%s", handle), g_free);
}
#endif

void
csb_window_export_handle_async (GtkWindow           *window,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (window, NULL, callback, user_data);
  GdkSurface *surface = window ? gtk_native_get_surface (GTK_NATIVE (window)) : NULL;

#ifdef GDK_WINDOWING_X11
  if (surface != NULL && GDK_IS_X11_SURFACE (surface))
    {
      g_task_return_pointer (task,
                             g_strdup_printf ("x11:%lx", (unsigned long) gdk_x11_surface_get_xid (surface)),
                             g_free);
      return;
    }
#endif
#ifdef GDK_WINDOWING_WAYLAND
  if (surface != NULL && GDK_IS_WAYLAND_TOPLEVEL (surface) &&
      gdk_wayland_toplevel_export_handle (GDK_TOPLEVEL (surface), on_wayland_handle,
                                          g_object_ref (task), g_object_unref))
    return;
#endif
  g_task_return_pointer (task, g_strdup (""), g_free);
}

char *
csb_window_export_handle_finish (GAsyncResult *result)
{
  return g_task_propagate_pointer (G_TASK (result), NULL);
}

/* ---- GObject ------------------------------------------------------------------------------------ */

static void
on_can_launch (CsbWindow *self)
{
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.launch",
                                 self->launching == NULL &&
                                 csb_launch_page_get_can_launch (self->launch_page));
}

static void
on_tab_pages_changed (CsbWindow *self)
{
  update_terminals_stack (self);
  update_titles (self);
}

CsbWindow *
csb_window_new (CsbApplication *application)
{
  CsbWindow *self;

  g_return_val_if_fail (CSB_IS_APPLICATION (application), NULL);

  self = g_object_new (CSB_TYPE_WINDOW, "application", application, NULL);
  self->application = application;
  self->settings = g_object_ref (csb_application_get_settings (application));

  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));

  csb_connections_set_settings (self->connections, self->settings);
  /* This machine's load and memory, from its service while it runs. */
  csb_host_label_set_bus (self->local_load, g_dbus_proxy_get_connection (
    G_DBUS_PROXY (csb_application_get_manager (application))));
  g_signal_connect_object (self->settings, "changed::connections",
                           G_CALLBACK (update_sandbox_count), self,
                           G_CONNECT_SWAPPED | G_CONNECT_AFTER);
  csb_launch_page_set_projects (self->launch_page,
                                G_LIST_MODEL (csb_application_get_projects (application)));
  g_signal_connect_object (application, "notify::object-manager",
                           G_CALLBACK (set_object_manager), self, G_CONNECT_SWAPPED);
  set_object_manager (self);
  /* Starts the service if it does not run yet (D-Bus activation); once it runs, the
   * application's name watch brings its sandboxes. */
  if (self->object_manager == NULL)
    csb_dbus_manager_call_get_backends (csb_application_get_manager (application),
                                        self->cancellable, on_backends, g_object_ref (self));
  return self;
}

static gboolean
csb_window_close_request (GtkWindow *window)
{
  CsbWindow *self = CSB_WINDOW (window);
  int width, height;

  if (ask_before_closing (self))
    return TRUE;
  gtk_window_get_default_size (window, &width, &height);
  g_settings_set_int (self->settings, "window-width", width);
  g_settings_set_int (self->settings, "window-height", height);
  g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));
  return GTK_WINDOW_CLASS (csb_window_parent_class)->close_request (window);
}

static void
csb_window_dispose (GObject *object)
{
  CsbWindow *self = CSB_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_weak_pointer (&self->question);
  gtk_widget_dispose_template (GTK_WIDGET (self), CSB_TYPE_WINDOW);
  g_clear_object (&self->object_manager);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->rows, g_hash_table_unref);
  G_OBJECT_CLASS (csb_window_parent_class)->dispose (object);
}

static void
csb_window_finalize (GObject *object)
{
  CsbWindow *self = CSB_WINDOW (object);

  g_clear_object (&self->cancellable);
  g_free (self->show_when_added);
  g_free (self->launching);
  G_OBJECT_CLASS (csb_window_parent_class)->finalize (object);
}

static void
csb_window_class_init (CsbWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = csb_window_dispose;
  object_class->finalize = csb_window_finalize;
  window_class->close_request = csb_window_close_request;

  g_type_ensure (CSB_TYPE_LAUNCH_PAGE);
  g_type_ensure (CSB_TYPE_CONNECTIONS);
  g_type_ensure (CSB_TYPE_HOST_LABEL);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/example/ClaudeSandbox/App/csb-window.ui");
  gtk_widget_class_bind_template_child (widget_class, CsbWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, CsbWindow, service_bar);
  gtk_widget_class_bind_template_child (widget_class, CsbWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, CsbWindow, sandboxes_stack_page);
  gtk_widget_class_bind_template_child (widget_class, CsbWindow, sandboxes_stack);
  gtk_widget_class_bind_template_child (widget_class, CsbWindow, sandbox_list);
  gtk_widget_class_bind_template_child (widget_class, CsbWindow, local_group);
  gtk_widget_class_bind_template_child (widget_class, CsbWindow, local_load);
  gtk_widget_class_bind_template_child (widget_class, CsbWindow, connections);
  gtk_widget_class_bind_template_child (widget_class, CsbWindow, terminals_stack);
  gtk_widget_class_bind_template_child (widget_class, CsbWindow, tab_view);
  gtk_widget_class_bind_template_child (widget_class, CsbWindow, launch_page);

  gtk_widget_class_install_action (widget_class, "win.choose-folder", NULL, choose_folder_action);
  gtk_widget_class_install_action (widget_class, "win.select-folder", "s", select_folder_action);
  gtk_widget_class_install_action (widget_class, "win.clear-folder", NULL, clear_folder_action);
  gtk_widget_class_install_action (widget_class, "win.launch", NULL, launch_action);
  gtk_widget_class_install_action (widget_class, "win.pin", NULL, pin_action);
  gtk_widget_class_install_action (widget_class, "win.open-terminal", "s", open_terminal_action);
  gtk_widget_class_install_action (widget_class, "win.open-display", "s", open_display_action);
  gtk_widget_class_install_action (widget_class, "win.show-display", "s", show_display_action);
  gtk_widget_class_install_action (widget_class, "win.stop", "s", stop_action);
  gtk_widget_class_install_action (widget_class, "win.remove", "s", remove_action);
  gtk_widget_class_install_action (widget_class, "win.reconnect", NULL, reconnect_action);
  gtk_widget_class_install_action (widget_class, "win.add-connection", NULL,
                                   add_connection_action);
  gtk_widget_class_install_action (widget_class, "win.start-again", "s", start_again_action);
  gtk_widget_class_install_action (widget_class, "win.show-details", "(ss)", show_details_action);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_w, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                close_tab_shortcut, NULL);
}

static void
csb_window_init (CsbWindow *self)
{
  GtkDropTarget *drop;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->cancellable = g_cancellable_new ();

  drop = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_signal_connect (drop, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (GTK_WIDGET (self->toast_overlay), GTK_EVENT_CONTROLLER (drop));

  g_signal_connect_object (self->launch_page, "notify::can-launch", G_CALLBACK (on_can_launch),
                           self, G_CONNECT_SWAPPED);
  on_can_launch (self);
  g_signal_connect_object (self->tab_view, "notify::n-pages", G_CALLBACK (on_tab_pages_changed),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->tab_view, "close-page", G_CALLBACK (on_close_page), self, 0);
  g_signal_connect_object (self->connections, "show-terminal",
                           G_CALLBACK (on_show_remote_terminal), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->view_stack, "notify::visible-child-name",
                           G_CALLBACK (update_service_bar), self, G_CONNECT_SWAPPED);
}
