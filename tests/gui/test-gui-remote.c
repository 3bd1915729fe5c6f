/* test-gui-remote.c — the app's Connections against a real sshd on loopback.
 *
 * Run by test-gui-remote.sh, which sets up the "remote" machine
 * (tests/remote/remote-fixture.sh: root only, a private sshd and the user
 * csb-remote with its own bus and service) and starts one sandbox there:
 * CSB_TEST_REMOTE_HOST is the connection, CSB_TEST_REMOTE_PROJECT its folder;
 * CSB_TEST_REMOTE_PAINT, where weston is installed, the folder of a second one with a
 * private display running weston-simple-shm.
 * CLAUDE_SANDBOX_SSH (the fixture's ssh with its config) is in the environment.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <vte/vte.h>

#include "csb-application.h"
#include "csb-changes-window.h"
#include "csb-connections.h"
#include "csb-gui-test-utils.h"
#include "csb-host-label.h"
#include "csb-sandbox-row.h"
#include "csb-screen-view.h"
#include "csb-terminal-page.h"
#include "csb-test-utils.h"
#include "csb-window.h"

static CsbTestBus bus;
static CsbApplication *app;
static CsbWindow *window;
static const char *host;
static const char *project;
static const char *paint;

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

/* The row of a running sandbox on @dir there, other than the one at @not_path. */
static CsbSandboxRow *
running_row (const char *dir,
             const char *not_path)
{
  g_autoptr(GList) rows = csb_connections_get_rows (csb_window_get_connections (window), host);

  for (GList *l = rows; l != NULL; l = l->next)
    {
      CsbDBusSandbox *sandbox = csb_sandbox_row_get_sandbox (l->data);

      if (g_strcmp0 (csb_dbus_sandbox_get_project_dir (sandbox), dir) == 0 &&
          g_strcmp0 (csb_dbus_sandbox_get_state (sandbox), "running") == 0 &&
          g_strcmp0 (g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox)), not_path) != 0)
        return l->data;
    }
  return NULL;
}

static CsbSandboxRow *
row_of_project (const char *dir)
{
  return running_row (dir, NULL);
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
  GtkWidget *host_label;

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
  host_label = csb_gui_test_find_descendant (group, CSB_TYPE_HOST_LABEL);
  g_assert_nonnull (host_label);
  g_assert_true (csb_test_run_until (csb_gui_test_host_label_shows_load, host_label,
                                     CSB_TEST_TIMEOUT_MS));
  g_test_message ("%s: %s", host, csb_host_label_get_text (CSB_HOST_LABEL (host_label)));
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

static gboolean
remote_thumbnail_drawn (gpointer data)
{
  CsbSandboxRow *row = row_of_project (data);
  GdkTexture *texture = row != NULL ? csb_sandbox_row_get_thumbnail (row) : NULL;

  return texture != NULL && csb_gui_test_count_colours (texture) >= 16;
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

/* The processes of @uid whose arguments hold both @word and @other (in one argument
 * or two: ssh gets the remote command as one). */
static guint
find_processes (uid_t       uid,
                const char *word,
                const char *other,
                pid_t      *first_child)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *proc = g_build_filename ("/proc", name, NULL);
      g_autofree char *cmdline_path = g_build_filename (proc, "cmdline", NULL);
      g_autofree char *cmdline = NULL;
      gsize len;
      GStatBuf st;

      if (!g_ascii_isdigit (name[0]) || atoi (name) == getpid () || g_stat (proc, &st) != 0 ||
          st.st_uid != uid || !g_file_get_contents (cmdline_path, &cmdline, &len, NULL) ||
          len == 0)
        continue;
      for (gsize i = 0; i + 1 < len; i++)
        if (cmdline[i] == '\0')
          cmdline[i] = ' ';
      if (strstr (cmdline, word) == NULL || (other != NULL && strstr (cmdline, other) == NULL))
        continue;
      n++;
      if (first_child != NULL && *first_child == 0)
        {
          g_autofree char *stat_path = g_build_filename (proc, "stat", NULL);
          g_autofree char *stat = NULL;
          const char *after_name;
          char state;
          int parent;

          /* "PID (NAME) STATE PPID …", the name being anything. */
          if (g_file_get_contents (stat_path, &stat, NULL, NULL) &&
              (after_name = strrchr (stat, ')')) != NULL &&
              sscanf (after_name + 1, " %c %d", &state, &parent) == 2 && parent == getpid ())
            *first_child = atoi (name);
        }
    }
  return n;
}

static guint
count_processes (uid_t       uid,
                 const char *word,
                 const char *other)
{
  return find_processes (uid, word, other, NULL);
}

static uid_t
remote_uid (void)
{
  g_autofree char *user = g_strndup (host, strchr (host, '@') - host);
  struct passwd *pw = getpwnam (user);

  g_assert_nonnull (pw);
  return pw->pw_uid;
}

/* Neither here nor there: no ssh of ours attached to sandbox @data, no remote CLI. */
static gboolean
no_attach_left (gpointer data)
{
  return count_processes (getuid (), "--attach", data) == 0 &&
         count_processes (remote_uid (), "--attach", data) == 0;
}

/* The terminal of @sandbox (a proxy the test holds: its row may go). */
static CsbTerminalPage *
remote_terminal (CsbDBusSandbox *sandbox)
{
  return CSB_TERMINAL_PAGE (csb_connections_get_terminal (csb_window_get_connections (window), host,
                                                          g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox))));
}

static gboolean
remote_terminal_open (gpointer data)
{
  return remote_terminal (data) != NULL;
}

typedef struct
{
  CsbDBusSandbox *sandbox;
  const char     *text;
} TerminalWait;

static gboolean
remote_terminal_shows (gpointer data)
{
  TerminalWait *wait = data;
  CsbTerminalPage *page = remote_terminal (wait->sandbox);
  g_autofree char *text = NULL;

  if (page == NULL)
    return FALSE;
  text = vte_terminal_get_text (csb_terminal_page_get_terminal (page), NULL, NULL, NULL);
  return text != NULL && strstr (text, wait->text) != NULL;
}

static gboolean
remote_terminal_ended (gpointer data)
{
  CsbTerminalPage *page = remote_terminal (data);

  return page != NULL && csb_terminal_page_get_ended (page);
}

static gboolean
remote_terminal_closed (gpointer data)
{
  return remote_terminal (data) == NULL;
}

static gboolean
remote_screen_drawn (gpointer data)
{
  CsbTerminalPage *page = remote_terminal (data);
  GtkWidget *view = page != NULL ? csb_terminal_page_get_screen_view (page) : NULL;
  GdkTexture *texture = view != NULL ? csb_screen_view_get_texture (CSB_SCREEN_VIEW (view))
                                     : NULL;

  return view != NULL && gtk_widget_get_mapped (view) && texture != NULL &&
         csb_gui_test_count_colours (texture) >= 200;
}

/* A private display there: descriptors cannot cross ssh, so the row's thumbnail and
 * the Display tab beside the sandbox's terminal come through ScreenshotData(); the
 * tab goes when the sandbox ends. */
static void
test_remote_private_display (void)
{
  CsbSandboxRow *row;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  GtkWidget *view;
  const char *path;

  if (paint == NULL || *paint == '\0')
    {
      g_test_skip ("weston is not installed (Debian package 'weston')");
      return;
    }
  g_assert_true (csb_test_run_until (remote_row_running, (gpointer) paint, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (remote_thumbnail_drawn, (gpointer) paint,
                                     CSB_TEST_TIMEOUT_MS));
  row = row_of_project (paint);
  sandbox = g_object_ref (csb_sandbox_row_get_sandbox (row));
  path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox));
  csb_gui_test_settle (500);
  csb_gui_test_save_screenshot (GTK_WIDGET (window), "remote-private-display-row.png");

  gtk_widget_activate_action (GTK_WIDGET (row), "remote.show-display", "s", path);
  g_assert_true (csb_test_run_until (remote_screen_drawn, sandbox, CSB_TEST_TIMEOUT_MS));
  view = csb_terminal_page_get_screen_view (remote_terminal (sandbox));
  g_assert_null (csb_screen_view_get_error (CSB_SCREEN_VIEW (view)));
  csb_gui_test_settle (500);
  csb_gui_test_save_screenshot (GTK_WIDGET (window), "remote-private-display-tab.png");

  gtk_widget_activate_action (GTK_WIDGET (row), "remote.stop", "s", path);
  g_assert_true (csb_test_run_until (sandbox_ended, sandbox, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (remote_terminal_ended, sandbox, CSB_TEST_TIMEOUT_MS));
  g_assert_false (gtk_widget_get_mapped (view));
  gtk_widget_activate_action (GTK_WIDGET (remote_terminal (sandbox)), "remote.remove", "s", path);
  g_assert_true (csb_test_run_until (remote_terminal_closed, sandbox, CSB_TEST_TIMEOUT_MS));
}

/* The remote sandbox's terminal is a tab of the window, titled "ID on HOST"; a
 * typed line comes back from the sandbox's shell as the remote user. */
static void
check_remote_tab (CsbDBusSandbox *sandbox,
                  const char     *word)
{
  g_autofree char *title = g_strdup_printf ("%s on %s", csb_dbus_sandbox_get_id (sandbox), host);
  g_autofree char *typed = g_strdup_printf ("echo %s-$((6*7)) $(id -un)\r", word);
  g_autofree char *expected = g_strdup_printf ("%s-42 csb-remote", word);
  TerminalWait shows = { sandbox, expected };
  CsbTerminalPage *page;
  GtkWidget *view;

  g_assert_true (csb_test_run_until (remote_terminal_open, sandbox, CSB_TEST_TIMEOUT_MS));
  page = remote_terminal (sandbox);
  view = gtk_widget_get_ancestor (GTK_WIDGET (page), ADW_TYPE_TAB_VIEW);
  g_assert_nonnull (view);
  g_assert_true (gtk_widget_is_ancestor (view, GTK_WIDGET (window)));
  g_assert_cmpstr (adw_tab_page_get_title (adw_tab_view_get_page (ADW_TAB_VIEW (view),
                                                                  GTK_WIDGET (page))), ==, title);
  g_assert_true (adw_tab_view_get_selected_page (ADW_TAB_VIEW (view)) ==
                 adw_tab_view_get_page (ADW_TAB_VIEW (view), GTK_WIDGET (page)));
  g_assert_cmpstr (csb_window_get_visible_page (window), ==, "terminals");
  /* Once ssh's remote CLI has attached, what is typed reaches the shell there (typed
   * again if it came too early). */
  for (guint i = 0; i < 6 && !remote_terminal_shows (&shows); i++)
    {
      vte_terminal_feed_child (csb_terminal_page_get_terminal (page), typed, -1);
      csb_test_run_until (remote_terminal_shows, &shows, CSB_TEST_TIMEOUT_MS / 6);
    }
  g_assert_true (remote_terminal_shows (&shows));
}

static void
close_remote_tab (CsbDBusSandbox *sandbox)
{
  GtkWidget *page = GTK_WIDGET (remote_terminal (sandbox));
  AdwTabView *view = ADW_TAB_VIEW (gtk_widget_get_ancestor (page, ADW_TYPE_TAB_VIEW));

  adw_tab_view_close_page (view, adw_tab_view_get_page (view, page));
  /* No question: it asks only before leaving this machine's sandboxes. */
  g_assert_null (csb_window_get_question (window));
  g_assert_true (csb_test_run_until (remote_terminal_closed, sandbox, CSB_TEST_TIMEOUT_MS));
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
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  CsbSandboxRow *row;
  const char *id;

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
  row = row_of_project (project);
  sandbox = g_object_ref (csb_sandbox_row_get_sandbox (row));
  id = csb_dbus_sandbox_get_id (sandbox);
  check_remote_tab (sandbox, "remote");
  csb_gui_test_settle (500);
  csb_gui_test_save_screenshot (GTK_WIDGET (window), "remote-terminal.png");

  /* Closing the tab ends its ssh, here and there, not the sandbox: its terminal
   * opens again from its row and answers. */
  close_remote_tab (sandbox);
  g_assert_true (csb_test_run_until (no_attach_left, (gpointer) id, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "running");
  gtk_widget_activate_action (GTK_WIDGET (row), "remote.open-terminal", "s",
                              g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox)));
  check_remote_tab (sandbox, "again");

  /* The sandbox ending there marks its tab ended, as a local one's; removed there,
   * its tab goes. */
  vte_terminal_feed_child (csb_terminal_page_get_terminal (remote_terminal (sandbox)), "exit\r", -1);
  g_assert_true (csb_test_run_until (remote_terminal_ended, sandbox, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (sandbox_ended, sandbox, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (no_attach_left, (gpointer) id, CSB_TEST_TIMEOUT_MS));
  csb_gui_test_settle (500);
  csb_gui_test_save_screenshot (GTK_WIDGET (window), "remote-terminal-ended.png");
  gtk_widget_activate_action (GTK_WIDGET (remote_terminal (sandbox)), "remote.remove", "s",
                              g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox)));
  g_assert_true (csb_test_run_until (remote_terminal_closed, sandbox, CSB_TEST_TIMEOUT_MS));
}

/* `claude-sandbox --host=HOST ARGS…` (a sandbox there), running while the test
 * holds it: its ssh and the remote CLI keep the sandbox's standard streams. */
static GSubprocess *
launch_there (const char * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  GSubprocess *launcher;

  g_ptr_array_add (argv, g_strdup (g_getenv ("CLAUDE_SANDBOX_REMOTE_CLI")));
  g_ptr_array_add (argv, g_strdup_printf ("--host=%s", host));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);
  launcher = g_subprocess_newv ((const char * const *) argv->pdata,
                                G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE,
                                &error);
  g_assert_no_error (error);
  return launcher;
}

static gboolean
review_row_pending (gpointer data)
{
  CsbSandboxRow *row = row_of_project (project);

  return row != NULL &&
         g_strcmp0 (csb_dbus_sandbox_get_project_mode (csb_sandbox_row_get_sandbox (row)),
                    "review") == 0 &&
         g_strcmp0 (csb_sandbox_row_get_changes_badge (row), data) == 0;
}

static gboolean
changes_count_is (gpointer data)
{
  CsbChangesWindow *changes = CSB_CHANGES_WINDOW (find_toplevel_of_type (CSB_TYPE_CHANGES_WINDOW));

  return changes != NULL && csb_changes_window_get_n_changes (changes) == GPOINTER_TO_UINT (data);
}

static gboolean
diff_shows (gpointer data)
{
  CsbChangesWindow *changes = CSB_CHANGES_WINDOW (find_toplevel_of_type (CSB_TYPE_CHANGES_WINDOW));
  g_autofree char *text = changes ? csb_changes_window_dup_diff_text (changes) : NULL;

  return text != NULL && strstr (text, data) != NULL;
}

/* Review through the connection: a review-mode sandbox there writes a file; its
 * row's Changes window lists it with its diff (GetChanges, GetDiffData: nothing
 * that needs a descriptor), and Apply puts it in the project folder there. */
static void
test_review_through_connection (void)
{
  g_autofree char *applied = g_build_filename (project, "reviewed.txt", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GSubprocess) launcher = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  CsbChangesWindow *changes;
  CsbSandboxRow *row;

  launcher = launch_there ((const char *[]) { "--review", "--command", project, "--", "sh", "-c",
                                               "printf 'reviewed there\\n' > reviewed.txt && "
                                               "exec sleep 1000", NULL });
  g_assert_true (csb_test_run_until (review_row_pending, "1", CSB_TEST_TIMEOUT_MS));
  row = row_of_project (project);
  sandbox = g_object_ref (csb_sandbox_row_get_sandbox (row));

  g_signal_emit_by_name (csb_sandbox_row_get_changes_button (row), "clicked");
  g_assert_true (csb_test_run_until (changes_count_is, GUINT_TO_POINTER (1), CSB_TEST_TIMEOUT_MS));
  changes = CSB_CHANGES_WINDOW (find_toplevel_of_type (CSB_TYPE_CHANGES_WINDOW));
  {
    g_autofree char *title = csb_changes_window_dup_title (changes, 0);

    g_assert_cmpstr (title, ==, "reviewed.txt");
  }
  g_assert_true (csb_test_run_until (diff_shows, "+reviewed there", CSB_TEST_TIMEOUT_MS));
  csb_gui_test_settle (500);
  csb_gui_test_save_screenshot (GTK_WIDGET (changes), "remote-changes.png");
  /* Not in the project there until applied. */
  g_assert_false (g_file_test (applied, G_FILE_TEST_EXISTS));

  g_signal_emit_by_name (csb_changes_window_get_apply_all (changes), "clicked");
  g_assert_true (csb_test_run_until (changes_count_is, GUINT_TO_POINTER (0), CSB_TEST_TIMEOUT_MS));
  g_assert_true (g_file_get_contents (applied, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "reviewed there\n");
  gtk_window_destroy (GTK_WINDOW (changes));

  gtk_widget_activate_action (GTK_WIDGET (row), "remote.stop", "s",
                              g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox)));
  g_assert_true (csb_test_run_until (sandbox_ended, sandbox, CSB_TEST_TIMEOUT_MS));
  g_subprocess_wait (launcher, NULL, NULL);
}

/* No bus bridge of ours, here (ssh … --bus-bridge) or there (the remote CLI's). */
static gboolean
no_bridge_left (gpointer data)
{
  return count_processes (getuid (), "--bus-bridge", NULL) == 0 &&
         count_processes (remote_uid (), "--bus-bridge", NULL) == 0;
}

static gboolean
file_gone (gpointer data)
{
  return !g_file_test (data, G_FILE_TEST_EXISTS);
}

/* Waits for the end of "Connecting…" after a Test, and returns the status. */
static const char *
tested_status (void)
{
  StatusWait connecting = { host, "Connecting" };

  g_assert_true (status_is (&connecting));
  while (status_is (&connecting))
    g_main_context_iteration (NULL, TRUE);
  return csb_connections_get_status (csb_window_get_connections (window), host);
}

static gboolean
other_row_running (gpointer data)
{
  return running_row (project, data) != NULL;
}

/* A second sandbox there (beside the one at @path), a shell started from the folder
 * entry: its terminal opens in a tab. */
static CsbDBusSandbox *
open_second_terminal (const char *path)
{
  GtkWidget *entry = csb_connections_get_folder_entry (csb_window_get_connections (window), host);
  CsbDBusSandbox *sandbox;

  g_settings_set_boolean (csb_application_get_settings (app), "shell", TRUE);
  gtk_editable_set_text (GTK_EDITABLE (entry), "~/project");
  g_signal_emit_by_name (entry, "activate");
  g_assert_true (csb_test_run_until (other_row_running, (gpointer) path, CSB_TEST_TIMEOUT_MS));
  sandbox = g_object_ref (csb_sandbox_row_get_sandbox (running_row (project, path)));
  check_remote_tab (sandbox, "second");
  return sandbox;
}

/* Stops and removes @sandbox there, as its user does with the CLI there. */
static void
end_there (CsbDBusSandbox *sandbox)
{
  g_autofree char *user = g_strndup (host, strchr (host, '@') - host);
  g_autofree char *runtime = g_strdup_printf ("XDG_RUNTIME_DIR=/run/user/%u", remote_uid ());
  const char *commands[] = { "--stop", "--remove" };

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      /* Its own bus there, not the test's. */
      const char *argv[] = { "runuser", "-u", user, "--", "env", "-u", "DBUS_SESSION_BUS_ADDRESS",
                             runtime, g_getenv ("CLAUDE_SANDBOX_REMOTE_CLI"), commands[i],
                             csb_dbus_sandbox_get_id (sandbox), NULL };
      g_autoptr(GError) error = NULL;
      g_autofree char *said = NULL;
      int wait_status;

      g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                                   NULL, &said, &wait_status, &error));
      g_assert_no_error (error);
      if (!g_spawn_check_wait_status (wait_status, NULL))
        g_error ("%s %s: %s", commands[i], csb_dbus_sandbox_get_id (sandbox), said);
    }
}

/* The connection dies while the app shows it (its ssh killed, the machine's sshd
 * stopped): the status says so in words, the rows go, no bridge is left on either
 * side, and the sandbox there keeps running: once sshd is back, Test lists it again. */
static void
test_lost_connection (void)
{
  const char *sshd_config = g_getenv ("CSB_TEST_REMOTE_SSHD_CONFIG");
  const char *sshd_pidfile = g_getenv ("CSB_TEST_REMOTE_SSHD_PIDFILE");
  CsbConnections *connections = csb_window_get_connections (window);
  StatusWait lost = { host, "Connection lost" };
  StatusWait connected = { host, "Connected" };
  g_autofree char *sshd_pid = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GSubprocess) launcher = NULL;
  g_autoptr(CsbDBusSandbox) second = NULL;
  g_autoptr(GError) error = NULL;
  const char *sshd_argv[] = { "/usr/sbin/sshd", "-f", sshd_config, NULL };
  const char *status;
  CsbSandboxRow *row;
  int wait_status;
  pid_t ssh = 0;

  g_assert_nonnull (sshd_config);
  g_assert_nonnull (sshd_pidfile);
  launcher = launch_there ((const char *[]) { "--command", project, "--", "sleep", "1000", NULL });
  g_assert_true (csb_test_run_until (remote_row_running, (gpointer) project, CSB_TEST_TIMEOUT_MS));
  row = row_of_project (project);
  path = g_strdup (g_dbus_proxy_get_object_path (G_DBUS_PROXY (csb_sandbox_row_get_sandbox (row))));
  second = open_second_terminal (path);
  adw_view_stack_set_visible_child_name (ADW_VIEW_STACK (gtk_widget_get_ancestor (GTK_WIDGET (connections),
                                                                                  ADW_TYPE_VIEW_STACK)),
                                         "sandboxes");

  /* The machine's sshd goes (its sessions stay), then the app's own ssh. */
  g_assert_true (g_file_get_contents (sshd_pidfile, &sshd_pid, NULL, NULL));
  g_assert_cmpint (kill (atoi (sshd_pid), SIGTERM), ==, 0);
  g_assert_true (csb_test_run_until (file_gone, (gpointer) sshd_pidfile, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpuint (find_processes (getuid (), "--bus-bridge", NULL, &ssh), ==, 1);
  g_assert_cmpint (ssh, >, 0);
  g_assert_cmpint (kill (ssh, SIGKILL), ==, 0);

  g_assert_true (csb_test_run_until (status_is, &lost, CSB_TEST_TIMEOUT_MS));
  status = csb_connections_get_status (connections, host);
  g_assert_nonnull (strstr (status, "keep running there"));
  g_assert_cmpuint (csb_connections_get_n_sandboxes (connections, host), ==, 0);
  g_assert_null (row_of_project (project));
  g_assert_true (csb_test_run_until (no_bridge_left, NULL, CSB_TEST_TIMEOUT_MS));
  csb_gui_test_settle (500);
  csb_gui_test_save_screenshot (GTK_WIDGET (window), "remote-lost.png");
  /* Meanwhile the second one ends there and is removed. */
  end_there (second);

  /* Tested while it is away: why, in words (never GDBus's or ssh's own). */
  csb_connections_test (connections, host);
  status = tested_status ();
  g_assert_nonnull (strstr (status, "refused the connection"));
  g_assert_null (strstr (status, "GDBus"));
  g_assert_null (strstr (status, "ssh:"));
  g_assert_true (csb_test_run_until (no_bridge_left, NULL, CSB_TEST_TIMEOUT_MS));

  /* Back: Test lists the sandbox again, still running, the same one. */
  g_assert_true (g_spawn_sync (NULL, (char **) sshd_argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL,
                               NULL, &wait_status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (wait_status, NULL));
  csb_connections_test (connections, host);
  g_assert_true (csb_test_run_until (status_is, &connected, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (remote_row_running, (gpointer) project, CSB_TEST_TIMEOUT_MS));
  row = row_of_project (project);
  g_assert_cmpstr (g_dbus_proxy_get_object_path (G_DBUS_PROXY (csb_sandbox_row_get_sandbox (row))),
                   ==, path);
  g_assert_cmpuint (count_processes (getuid (), "--bus-bridge", NULL), ==, 1);
  /* The second one's tab, open all along, says it ended. */
  g_assert_true (csb_test_run_until (remote_terminal_ended, second, CSB_TEST_TIMEOUT_MS));
  close_remote_tab (second);

  gtk_widget_activate_action (GTK_WIDGET (row), "remote.stop", "s", path);
  g_assert_true (csb_test_run_until (sandbox_ended, csb_sandbox_row_get_sandbox (row),
                                     CSB_TEST_TIMEOUT_MS));
  g_subprocess_wait (launcher, NULL, NULL);
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
  paint = g_getenv ("CSB_TEST_REMOTE_PAINT");
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
  g_test_add_func ("/gui-remote/connection/private-display", test_remote_private_display);
  g_test_add_func ("/gui-remote/connection/stop", test_stop_through_connection);
  g_test_add_func ("/gui-remote/connection/launch-on-folder", test_launch_on_remote_folder);
  g_test_add_func ("/gui-remote/connection/review", test_review_through_connection);
  g_test_add_func ("/gui-remote/connection/lost", test_lost_connection);
  g_test_add_func ("/gui-remote/connection/refused-key", test_refused_key_in_words);
  ret = csb_gui_test_run_app (app, &window);
  /* As test-gui.c: leave without tearing the app down against a vanishing bus. */
  csb_test_bus_stop_sandboxes (&bus);
  fflush (stdout);
  fflush (stderr);
  _exit (ret);
}
