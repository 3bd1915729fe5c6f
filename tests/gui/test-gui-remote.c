/* test-gui-remote.c — the app's Connections against a real sshd on loopback.
 *
 * Run by test-gui-remote.sh, which sets up the "remote" machine
 * (tests/remote/remote-fixture.sh: root only, a private sshd and the user
 * csb-remote with its own bus and service) and starts one sandbox there:
 * CSB_TEST_REMOTE_HOST is the connection, CSB_TEST_REMOTE_PROJECT its folder.
 * CLAUDE_SANDBOX_SSH (the fixture's ssh with its config) is in the environment.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <vte/vte.h>

#include "csb-application.h"
#include "csb-connections.h"
#include "csb-gui-test-utils.h"
#include "csb-sandbox-row.h"
#include "csb-test-utils.h"
#include "csb-window.h"

static CsbTestBus bus;
static CsbApplication *app;
static CsbWindow *window;
static const char *host;
static const char *project;

static GtkWidget *
find_toplevel_of_type (GType type)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWidget) toplevel = g_list_model_get_item (toplevels, i);

      if (G_TYPE_CHECK_INSTANCE_TYPE (toplevel, type) && gtk_widget_get_visible (toplevel))
        return toplevel;
    }
  return NULL;
}

/* Through the menu's Add Connection dialog, as a user. */
static void
add_connection (const char *name)
{
  AdwMessageDialog *dialog;

  gtk_widget_activate_action (GTK_WIDGET (window), "win.add-connection", NULL);
  dialog = ADW_MESSAGE_DIALOG (find_toplevel_of_type (ADW_TYPE_MESSAGE_DIALOG));
  g_assert_nonnull (dialog);
  gtk_editable_set_text (GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog)), name);
  adw_message_dialog_response (dialog, "add");
  gtk_window_destroy (GTK_WINDOW (dialog));
}

typedef struct
{
  const char *host;
  const char *status_prefix;
} StatusWait;

static gboolean
status_is (gpointer data)
{
  StatusWait *wait = data;
  const char *status = csb_connections_get_status (csb_window_get_connections (window),
                                                   wait->host);

  return status != NULL && g_str_has_prefix (status, wait->status_prefix);
}

static CsbSandboxRow *
row_of_project (const char *dir)
{
  g_autoptr(GList) rows = csb_connections_get_rows (csb_window_get_connections (window), host);

  for (GList *l = rows; l != NULL; l = l->next)
    {
      CsbDBusSandbox *sandbox = csb_sandbox_row_get_sandbox (l->data);

      if (g_strcmp0 (csb_dbus_sandbox_get_project_dir (sandbox), dir) == 0 &&
          g_strcmp0 (csb_dbus_sandbox_get_state (sandbox), "running") == 0)
        return l->data;
    }
  return NULL;
}

static gboolean
remote_row_running (gpointer data)
{
  return row_of_project (data) != NULL;
}

static gboolean
sandbox_ended (gpointer data)
{
  const char *state = csb_dbus_sandbox_get_state (data);

  return g_strcmp0 (state, "exited") == 0 || g_strcmp0 (state, "failed") == 0;
}

static void
test_add_connection_lists_sandboxes (void)
{
  StatusWait connected = { host, "Connected" };
  CsbConnections *connections;
  CsbSandboxRow *row;
  GtkWidget *group;

  g_application_activate (G_APPLICATION (app));
  window = CSB_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (app)));
  g_assert_nonnull (window);
  connections = csb_window_get_connections (window);

  add_connection (host);
  g_assert_cmpstr (csb_window_get_visible_page (window), ==, "sandboxes");
  g_assert_true (csb_test_run_until (status_is, &connected, CSB_TEST_TIMEOUT_MS));
  /* The remote's running sandbox, in the group of its machine. */
  g_assert_true (csb_test_run_until (remote_row_running, (gpointer) project,
                                     CSB_TEST_TIMEOUT_MS));
  row = row_of_project (project);
  group = csb_connections_get_group (connections, host);
  g_assert_true (gtk_widget_is_ancestor (GTK_WIDGET (row), group));
  g_assert_cmpstr (adw_preferences_group_get_title (ADW_PREFERENCES_GROUP (group)), ==, host);
  g_assert_cmpstr (csb_sandbox_row_get_state_text (row), ==, "Running");
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (row)));
  csb_gui_test_settle (500);
  csb_gui_test_save_screenshot (GTK_WIDGET (window), "remote-sandboxes.png");
}

static void
test_stop_through_connection (void)
{
  CsbSandboxRow *row = row_of_project (project);
  g_autoptr(CsbDBusSandbox) sandbox = NULL;

  g_assert_nonnull (row);
  sandbox = g_object_ref (csb_sandbox_row_get_sandbox (row));
  gtk_widget_activate_action (GTK_WIDGET (row), "remote.stop", "s",
                              g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox)));
  /* The remote service's own record says so: the stop went over the connection. */
  g_assert_true (csb_test_run_until (sandbox_ended, sandbox, CSB_TEST_TIMEOUT_MS));
}

typedef struct
{
  GtkEntry   *entry;
  const char *path;
} CompletionWait;

static gboolean
completion_offers (gpointer data)
{
  CompletionWait *wait = data;
  GtkTreeModel *model = gtk_entry_completion_get_model (gtk_entry_get_completion (wait->entry));
  GtkTreeIter iter;
  gboolean valid;

  for (valid = gtk_tree_model_get_iter_first (model, &iter); valid;
       valid = gtk_tree_model_iter_next (model, &iter))
    {
      g_autofree char *path = NULL;

      gtk_tree_model_get (model, &iter, 0, &path, -1);
      if (g_strcmp0 (path, wait->path) == 0)
        return TRUE;
    }
  return FALSE;
}

static VteTerminal *
remote_terminal (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWidget) toplevel = g_list_model_get_item (toplevels, i);

      if (g_strcmp0 (gtk_widget_get_name (toplevel), "remote-terminal") == 0)
        for (GtkWidget *child = gtk_widget_get_first_child (adw_window_get_content (ADW_WINDOW (toplevel)));
             child != NULL; child = gtk_widget_get_next_sibling (child))
          if (VTE_IS_TERMINAL (child))
            return VTE_TERMINAL (child);
    }
  return NULL;
}

static gboolean
remote_terminal_shows (gpointer data)
{
  VteTerminal *terminal = remote_terminal ();
  g_autofree char *text = terminal ? vte_terminal_get_text (terminal, NULL, NULL, NULL) : NULL;

  return text != NULL && strstr (text, data) != NULL;
}

static gboolean
remote_terminal_open (gpointer data)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWidget) toplevel = g_list_model_get_item (toplevels, i);

      if (g_strcmp0 (gtk_widget_get_name (toplevel), "remote-terminal") == 0 &&
          gtk_widget_get_visible (toplevel))
        return TRUE;
    }
  return FALSE;
}

/* A folder there, typed with completion asked over the connection (ListFolders),
 * and Start: a sandbox runs on it there, in the machine's group, and its terminal
 * (ssh -t … --attach) opens. */
static void
test_launch_on_remote_folder (void)
{
  GtkEntry *entry = GTK_ENTRY (csb_connections_get_folder_entry (csb_window_get_connections (window),
                                                                 host));
  CompletionWait offers = { entry, "~/project/" };

  g_assert_nonnull (entry);
  g_assert_true (csb_test_run_until ((gboolean (*) (gpointer)) gtk_widget_get_visible,
                                     gtk_widget_get_parent (gtk_widget_get_parent (GTK_WIDGET (entry))),
                                     CSB_TEST_TIMEOUT_MS));
  gtk_editable_set_text (GTK_EDITABLE (entry), "~/");
  g_assert_true (csb_test_run_until (completion_offers, &offers, CSB_TEST_TIMEOUT_MS));
  csb_gui_test_save_screenshot (GTK_WIDGET (window), "remote-folder-entry.png");

  /* The app's choice of a shell (there is no Claude Code for that user here). */
  g_settings_set_boolean (csb_application_get_settings (app), "shell", TRUE);
  gtk_editable_set_text (GTK_EDITABLE (entry), "~/project");
  g_signal_emit_by_name (entry, "activate");
  g_assert_true (csb_test_run_until (remote_row_running, (gpointer) project,
                                     CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (remote_terminal_open, NULL, CSB_TEST_TIMEOUT_MS));
  csb_gui_test_settle (1000);
  csb_gui_test_save_screenshot (GTK_WIDGET (window), "remote-launched.png");

  /* The terminal is the sandbox's, there: a typed line comes back from its shell. */
  g_assert_true (csb_test_run_until ((gboolean (*) (gpointer)) remote_terminal, NULL,
                                     CSB_TEST_TIMEOUT_MS));
  vte_terminal_feed_child (remote_terminal (), "echo remote-$((6*7)) $(id -un)\r", -1);
  g_assert_true (csb_test_run_until (remote_terminal_shows, "remote-42 csb-remote",
                                     CSB_TEST_TIMEOUT_MS));
  csb_gui_test_settle (500);
  csb_gui_test_save_screenshot (gtk_widget_get_ancestor (GTK_WIDGET (remote_terminal ()),
                                                         GTK_TYPE_WINDOW),
                                "remote-terminal.png");
}

/* A user sshd refuses: the status says what to do about the key, in words. */
static void
test_refused_key_in_words (void)
{
  g_autofree char *refused = g_strdup_printf ("nobody@%s", strchr (host, '@') + 1);
  StatusWait wait = { refused, "Connecting" };
  const char *status;

  add_connection (refused);
  /* Until it has been tried and answered. */
  while (status_is (&wait))
    g_main_context_iteration (NULL, TRUE);
  status = csb_connections_get_status (csb_window_get_connections (window), refused);
  g_assert_nonnull (strstr (status, "did not accept a key"));
  g_assert_nonnull (strstr (status, "ssh-add"));
  csb_gui_test_save_screenshot (GTK_WIDGET (window), "remote-refused.png");

  /* Removed: gone from the list and from the settings. */
  csb_connections_remove (csb_window_get_connections (window), refused);
  g_assert_null (csb_connections_get_group (csb_window_get_connections (window), refused));
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *display = NULL;
  int ret;

  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);

  host = g_getenv ("CSB_TEST_REMOTE_HOST");
  project = g_getenv ("CSB_TEST_REMOTE_PROJECT");
  if (host == NULL || project == NULL)
    {
      g_test_skip ("run by test-gui-remote.sh, which sets up the remote machine");
      return 0;
    }
  if (g_getenv ("DISPLAY") == NULL && g_getenv ("WAYLAND_DISPLAY") == NULL)
    {
      g_test_skip ("no display (the suite runs under xvfb-run)");
      return 0;
    }

  display = g_strdup (g_getenv ("DISPLAY"));
  csb_test_bus_setup (&bus, NULL);
  csb_test_bus_activate (&bus);
  if (display != NULL)
    g_setenv ("DISPLAY", display, TRUE);

  app = csb_application_new ();
  g_test_add_func ("/gui-remote/connection/add-lists-sandboxes",
                   test_add_connection_lists_sandboxes);
  g_test_add_func ("/gui-remote/connection/stop", test_stop_through_connection);
  g_test_add_func ("/gui-remote/connection/launch-on-folder", test_launch_on_remote_folder);
  g_test_add_func ("/gui-remote/connection/refused-key", test_refused_key_in_words);
  ret = csb_gui_test_run_app (app, &window);
  /* As test-gui.c: leave without tearing the app down against a vanishing bus. */
  csb_test_bus_stop_sandboxes (&bus);
  fflush (stdout);
  fflush (stderr);
  _exit (ret);
}
