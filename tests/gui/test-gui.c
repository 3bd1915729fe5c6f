/* test-gui.c — the app against a private bus with the real service, under Xvfb.
 *
 * Nobody clicks the portal's file dialog in CI: the tests pick the folder the
 * way a drop or the dialog's answer does (the window action "select-folder"),
 * then press the same actions the buttons are bound to ("win.launch",
 * "win.stop", …). The cases share one bus, one app and one window (GTK and
 * GApplication live once per process) and run in order.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "csb-application.h"
#include "csb-format.h"
#include "csb-gui-test-utils.h"
#include "csb-host-label.h"
#include "csb-changes-window.h"
#include "csb-launch-page.h"
#include "csb-pin.h"
#include "csb-sandbox-row.h"
#include "csb-terminal-page.h"
#include "csb-test-utils.h"
#include "csb-window.h"

static CsbTestBus bus;
static CsbApplication *app;
static CsbWindow *window;
static char *launched_path;     /* the sandbox started from the window */
static char *lighthouse_path;   /* the sandbox that lives through service restarts */
static GPtrArray *notifications; /* summaries the app sent to the notification server */

/* ---- a notification server on the test bus ------------------------------------------- */

static const char notifications_xml[] =
  "<node>"
  "  <interface name='org.freedesktop.Notifications'>"
  "    <method name='Notify'>"
  "      <arg type='s' direction='in'/><arg type='u' direction='in'/>"
  "      <arg type='s' direction='in'/><arg type='s' direction='in'/>"
  "      <arg type='s' direction='in'/><arg type='as' direction='in'/>"
  "      <arg type='a{sv}' direction='in'/><arg type='i' direction='in'/>"
  "      <arg type='u' direction='out'/>"
  "    </method>"
  "    <method name='CloseNotification'><arg type='u' direction='in'/></method>"
  "    <method name='GetCapabilities'><arg type='as' direction='out'/></method>"
  "    <method name='GetServerInformation'>"
  "      <arg type='s' direction='out'/><arg type='s' direction='out'/>"
  "      <arg type='s' direction='out'/><arg type='s' direction='out'/>"
  "    </method>"
  "  </interface>"
  "</node>";

static void
on_notifications_call (GDBusConnection       *connection,
                       const char            *sender,
                       const char            *object_path,
                       const char            *interface_name,
                       const char            *method_name,
                       GVariant              *parameters,
                       GDBusMethodInvocation *invocation,
                       gpointer               user_data)
{
  if (g_strcmp0 (method_name, "Notify") == 0)
    {
      const char *summary, *body;

      g_variant_get_child (parameters, 3, "&s", &summary);
      g_variant_get_child (parameters, 4, "&s", &body);
      g_test_message ("notification: %s — %s", summary, body);
      g_ptr_array_add (notifications, g_strdup (summary));
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(u)", notifications->len));
    }
  else if (g_strcmp0 (method_name, "GetCapabilities") == 0)
    g_dbus_method_invocation_return_value (invocation, g_variant_new_parsed ("(['body'],)"));
  else if (g_strcmp0 (method_name, "GetServerInformation") == 0)
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(ssss)", "test", "test",
                                                                      "1", "1.2"));
  else
    g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
own_notifications (GDBusConnection *connection)
{
  static const GDBusInterfaceVTable vtable = { on_notifications_call, NULL, NULL, { 0 } };
  g_autoptr(GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (notifications_xml, NULL);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  notifications = g_ptr_array_new_with_free_func (g_free);
  g_dbus_connection_register_object (connection, "/org/freedesktop/Notifications",
                                     info->interfaces[0], &vtable, NULL, NULL, &error);
  g_assert_no_error (error);
  reply = g_dbus_connection_call_sync (connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "RequestName",
                                       g_variant_new ("(su)", "org.freedesktop.Notifications", 0),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                                       &error);
  g_assert_no_error (error);
}

static gboolean
notified (gpointer data)
{
  for (guint i = 0; i < notifications->len; i++)
    if (strstr (g_ptr_array_index (notifications, i), data) != NULL)
      return TRUE;
  return FALSE;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void
settle (guint ms)
{
  csb_gui_test_settle (ms);
}

static void
save_screenshot (GtkWidget  *widget,
                 const char *name)
{
  csb_gui_test_save_screenshot (widget, name);
}

static CsbDBusSandbox *
bus_sandbox_for (const char *project_dir)
{
  GList *objects = g_dbus_object_manager_get_objects (bus.object_manager);
  CsbDBusSandbox *found = NULL;

  for (GList *l = objects; l != NULL; l = l->next)
    {
      CsbDBusSandbox *sandbox = csb_dbus_object_peek_sandbox (l->data);

      if (sandbox != NULL && g_strcmp0 (csb_dbus_sandbox_get_project_dir (sandbox), project_dir) == 0)
        found = g_object_ref (sandbox);
    }
  g_list_free_full (objects, g_object_unref);
  return found;
}

typedef struct
{
  const char *project_dir;
  const char *state;
} StateWait;

static gboolean
bus_state_is (gpointer data)
{
  StateWait *wait = data;
  g_autoptr(CsbDBusSandbox) sandbox = bus_sandbox_for (wait->project_dir);

  return sandbox != NULL && g_strcmp0 (csb_dbus_sandbox_get_state (sandbox), wait->state) == 0;
}

static gboolean
wait_bus_state (const char *project_dir,
                const char *state)
{
  StateWait wait = { project_dir, state };

  return csb_test_run_until (bus_state_is, &wait, CSB_TEST_TIMEOUT_MS);
}

typedef struct
{
  const char *path;
  const char *text;
} RowWait;

static gboolean
row_shows (gpointer data)
{
  RowWait *wait = data;
  GtkWidget *row = csb_window_find_row (window, wait->path);

  return row != NULL && g_strcmp0 (csb_sandbox_row_get_state_text (CSB_SANDBOX_ROW (row)),
                                   wait->text) == 0;
}

static gboolean
row_is_gone (gpointer data)
{
  return csb_window_find_row (window, data) == NULL;
}

static gboolean
wait_terminal (const char *path,
               const char *needle)
{
  return csb_gui_test_wait_terminal (window, path, needle, CSB_TEST_TIMEOUT_MS);
}

static void
type_into (const char *path,
           const char *text)
{
  GtkWidget *page = csb_window_find_terminal (window, path);

  g_assert_nonnull (page);
  /* What a key press sends: VTE emits "commit", the page writes it to the socket. */
  vte_terminal_feed_child (csb_terminal_page_get_terminal (CSB_TERMINAL_PAGE (page)), text, -1);
}

/* Under the (temporary) home, so the screenshots show "~/Projects/…". */
static char *
make_home_project (const char *name)
{
  char *path = g_build_filename (bus.dirs.home, "Projects", name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
  return path;
}

static gboolean
object_manager_ready (gpointer data)
{
  return csb_application_get_object_manager (app) != NULL;
}


/* ---- the bus's truth, read without any cached proxy -------------------------------------- */

/* The State of @path as the service now says, or NULL if it does not list it. */
static char *
bus_truth_state (const char *path)
{
  g_autoptr(GVariant) objects = csb_test_bus_managed_objects (&bus);
  g_autoptr(GVariant) interfaces = NULL;
  g_autoptr(GVariant) properties = NULL;
  char *state = NULL;

  if (!g_variant_lookup (objects, path, "@a{sa{sv}}", &interfaces))
    return NULL;
  properties = g_variant_lookup_value (interfaces, CSB_SANDBOX_INTERFACE,
                                       G_VARIANT_TYPE_VARDICT);
  if (properties != NULL)
    g_variant_lookup (properties, "State", "s", &state);
  return state;
}

/* Every sandbox the service lists has a row saying its state, and no row more. */
static gboolean
rows_match_bus (gpointer data)
{
  g_autoptr(GVariant) objects = csb_test_bus_managed_objects (&bus);
  GVariantIter iter;
  const char *path;
  GVariant *interfaces;
  guint n = 0;
  gboolean match = TRUE;

  g_variant_iter_init (&iter, objects);
  while (match && g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    {
      g_autoptr(GVariant) properties = g_variant_lookup_value (interfaces,
                                                                CSB_SANDBOX_INTERFACE,
                                                                G_VARIANT_TYPE_VARDICT);
      const char *state = NULL;
      GtkWidget *row;

      g_variant_unref (interfaces);
      if (properties == NULL)
        continue;
      n++;
      g_variant_lookup (properties, "State", "&s", &state);
      row = csb_window_find_row (window, path);
      match = row != NULL &&
              g_strcmp0 (csb_sandbox_row_get_state_text (CSB_SANDBOX_ROW (row)),
                         csb_format_state (state)) == 0;
    }
  return match && n == csb_window_get_n_rows (window);
}

static gboolean
service_lost (gpointer data)
{
  return csb_window_get_service_lost (window);
}

static gboolean
service_back (gpointer data)
{
  return !csb_window_get_service_lost (window) &&
         csb_application_get_object_manager (app) != NULL;
}

static gboolean
object_manager_gone (gpointer data)
{
  return csb_application_get_object_manager (app) == NULL;
}

static void
show_page (const char *name)
{
  AdwViewStack *stack = ADW_VIEW_STACK (gtk_widget_get_ancestor (csb_window_get_launch_page (window),
                                                                 ADW_TYPE_VIEW_STACK));

  adw_view_stack_set_visible_child_name (stack, name);
  settle (300);
}

static AdwViewStackPage *
sandboxes_page (void)
{
  AdwViewStack *stack = ADW_VIEW_STACK (gtk_widget_get_ancestor (csb_window_get_launch_page (window),
                                                                 ADW_TYPE_VIEW_STACK));

  return adw_view_stack_get_page (stack, adw_view_stack_get_child_by_name (stack, "sandboxes"));
}

static gboolean
service_gone (gpointer data)
{
  g_autoptr(GError) error = NULL;

  return csb_test_bus_name_pid (&bus, CSB_BUS_NAME, &error) == 0;
}

static gboolean
process_gone (gpointer data)
{
  g_autofree char *proc = g_strdup_printf ("/proc/%u", GPOINTER_TO_UINT (data));
  g_autofree char *stat = NULL;
  g_autofree char *contents = NULL;

  if (!g_file_test (proc, G_FILE_TEST_EXISTS))
    return TRUE;
  /* A zombie nobody reaped yet is gone too. */
  stat = g_build_filename (proc, "stat", NULL);
  return g_file_get_contents (stat, &contents, NULL, NULL) && strstr (contents, ") Z ") != NULL;
}

static char *
launch_shell (const char *name)
{
  g_autofree char *project = make_home_project (name);
  g_autoptr(CsbDBusSandbox) sandbox = NULL;

  csb_projects_remember (csb_application_get_projects (app), project,
                         g_variant_new_parsed ("{'shell': <true>}"));
  g_action_group_activate_action (G_ACTION_GROUP (app), "launch", g_variant_new_string (project));
  g_assert_true (wait_bus_state (project, "running"));
  sandbox = bus_sandbox_for (project);
  return g_strdup (g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox)));
}

static void
set_service_idle_timeout (guint seconds)
{
  g_autoptr(GSettings) settings = g_settings_new ("org.example.ClaudeSandbox");

  /* Read by the next instance of the service when it starts. */
  g_settings_set_uint (settings, "idle-timeout", seconds);
  g_settings_sync ();
}

static gboolean
terminal_has_focus (gpointer data)
{
  GtkWidget *page = csb_window_find_terminal (window, data);

  return page != NULL &&
         gtk_window_get_focus (GTK_WINDOW (window)) ==
           GTK_WIDGET (csb_terminal_page_get_terminal (CSB_TERMINAL_PAGE (page)));
}

/* ---- the cases ------------------------------------------------------------------------------ */

static void
test_window_opens (void)
{
  g_application_activate (G_APPLICATION (app));
  window = CSB_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (app)));
  g_assert_nonnull (window);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (window)));
  g_assert_true (csb_test_run_until (object_manager_ready, NULL, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpstr (csb_window_get_visible_page (window), ==, "launch");
  settle (500);
  save_screenshot (GTK_WIDGET (window), "welcome.png");
}

static void
test_launch_from_window (void)
{
  g_autofree char *project = make_home_project ("weather-station");
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  CsbLaunchPage *page = CSB_LAUNCH_PAGE (csb_window_get_launch_page (window));
  g_autoptr(GVariant) options = NULL;
  RowWait row_wait = { NULL, "Running" };
  gboolean shell;

  /* The default "claude" is not on the service's PATH here: run a shell.
   * The switch takes its default from the app's settings. */
  g_settings_set_boolean (csb_application_get_settings (app), "shell", TRUE);
  csb_test_write_file (g_build_filename (project, "README.md", NULL), "# Weather station\n", 0644);

  gtk_widget_activate_action (GTK_WIDGET (window), "win.select-folder", "s", project);
  g_assert_cmpstr (csb_launch_page_get_folder (page), ==, project);
  options = g_variant_ref_sink (csb_launch_page_get_options (page));
  g_assert_true (g_variant_lookup (options, "shell", "b", &shell));
  g_assert_true (shell);
  g_assert_true (csb_launch_page_get_can_launch (page));
  settle (500);
  save_screenshot (GTK_WIDGET (window), "main-window.png");

  gtk_widget_activate_action (GTK_WIDGET (window), "win.launch", NULL);
  g_assert_true (wait_bus_state (project, "running"));
  sandbox = bus_sandbox_for (project);
  g_assert_nonnull (sandbox);
  launched_path = g_strdup (g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox)));

  /* The list follows: a row that says Running, and the terminal tab in front. */
  row_wait.path = launched_path;
  g_assert_true (csb_test_run_until (row_shows, &row_wait, CSB_TEST_TIMEOUT_MS));
  g_assert_nonnull (csb_window_find_terminal (window, launched_path));
  g_assert_cmpstr (csb_window_get_visible_page (window), ==, "terminals");
  /* What the user types next goes to the sandbox. */
  g_assert_true (csb_test_run_until (terminal_has_focus, launched_path, CSB_TEST_TIMEOUT_MS));

  /* The project is remembered, with its options. */
  {
    g_auto(GStrv) recent = g_settings_get_strv (csb_application_get_settings (app),
                                                "recent-projects");
    CsbProjects *projects = csb_application_get_projects (app);
    g_autoptr(GVariant) saved = csb_projects_get_options (projects, project);
    g_autoptr(CsbProject) first = g_list_model_get_item (G_LIST_MODEL (projects), 0);

    g_assert_cmpstr (recent[0], ==, project);
    g_assert_nonnull (saved);
    /* The model the start page lists follows the settings. */
    g_assert_cmpstr (csb_project_get_path (first), ==, project);
    g_assert_true (g_variant_equal (csb_project_get_options (first), saved));
    /* The start page offers the folders that are there. */
    g_assert_cmpuint (csb_launch_page_get_n_recent (page), ==,
                      g_list_model_get_n_items (G_LIST_MODEL (projects)));
  }
}

static void
test_terminal_output (void)
{
  GtkWidget *page = csb_window_find_terminal (window, launched_path);
  VteTerminal *terminal;
  g_autofree char *size = NULL;

  g_assert_nonnull (page);
  terminal = csb_terminal_page_get_terminal (CSB_TERMINAL_PAGE (page));
  /* Nothing the sandbox prints becomes a link (OSC 8). */
  g_assert_false (vte_terminal_get_allow_hyperlink (terminal));

  type_into (launched_path, "echo sandboxed-$((6*7))\r");
  g_assert_true (wait_terminal (launched_path, "sandboxed-42"));

  /* The pty has the size of the widget: ResizeTerminal followed the layout. */
  size = g_strdup_printf ("size=%ld:%ld", vte_terminal_get_row_count (terminal),
                          vte_terminal_get_column_count (terminal));
  type_into (launched_path, "clear; echo \"size=$(stty size | tr ' ' :)\"\r");
  g_assert_true (wait_terminal (launched_path, size));

  type_into (launched_path,
             "clear; echo 'Inside the sandbox:'; echo \"  host name: $(hostname)\"; "
             "echo \"  project:   $PWD\"; ls -la; echo\r");
  g_assert_true (wait_terminal (launched_path, "README.md"));
  settle (500);
  save_screenshot (GTK_WIDGET (window), "terminal.png");

  /* The context menu's actions, as in Console. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (terminal), "term.select-all", NULL));
  g_assert_true (vte_terminal_get_has_selection (terminal));
  vte_terminal_unselect_all (terminal);
}

static gboolean
plants_shown (gpointer data)
{
  GtkWidget *page = csb_window_find_terminal (window, launched_path);
  const char *text = csb_terminal_page_get_plants_text (CSB_TERMINAL_PAGE (page));

  return text != NULL && strstr (text, ".mcp.json") != NULL;
}

/* A file the host's claude would obey, planted from the terminal: the page warns,
 * while the sandbox still runs (the service's periodic scan). */
static void
test_plants_banner (void)
{
  type_into (launched_path, "echo '{}' > .mcp.json; echo planted-$((6*7))\r");
  g_assert_true (wait_terminal (launched_path, "planted-42"));
  g_assert_true (csb_test_run_until (plants_shown, NULL, CSB_TEST_TIMEOUT_MS));
  settle (300);
  save_screenshot (GTK_WIDGET (window), "plants.png");
}

/* The CPU share needs two samples; memory comes with the first. */
static gboolean
row_shows_metrics (gpointer data)
{
  const char *subtitle = adw_action_row_get_subtitle (ADW_ACTION_ROW (data));

  return subtitle != NULL && strstr (subtitle, "CPU ") != NULL &&
         (strstr (subtitle, "KiB") != NULL || strstr (subtitle, "MiB") != NULL);
}

static void
test_list_shows_sandbox (void)
{
  CsbDBusSandbox *shown = csb_sandbox_row_get_sandbox (CSB_SANDBOX_ROW (csb_window_find_row (window, launched_path)));
  const char * const *protections = csb_dbus_sandbox_get_protections (shown);
  GtkWidget *host_label;

  g_test_message ("started at %" G_GUINT64_FORMAT ", now %" G_GINT64_FORMAT ", %u protections",
                  csb_dbus_sandbox_get_started_at (shown), g_get_real_time (),
                  protections ? g_strv_length ((char **) protections) : 0);
  adw_view_stack_set_visible_child_name (ADW_VIEW_STACK (
    gtk_widget_get_ancestor (csb_window_find_row (window, launched_path), ADW_TYPE_VIEW_STACK)),
    "sandboxes");
  /* While the row is on screen it asks for the sandbox's metrics and shows them. */
  g_assert_true (csb_test_run_until (row_shows_metrics, csb_window_find_row (window, launched_path),
                                     CSB_TEST_TIMEOUT_MS));
  g_test_message ("row: %s", adw_action_row_get_subtitle (ADW_ACTION_ROW (
    csb_window_find_row (window, launched_path))));
  /* The machine's load and memory, in the header of its group while the page shows. */
  host_label = csb_gui_test_find_descendant (GTK_WIDGET (window), CSB_TYPE_HOST_LABEL);
  g_assert_nonnull (host_label);
  g_assert_true (csb_test_run_until (csb_gui_test_host_label_shows_load, host_label,
                                     CSB_TEST_TIMEOUT_MS));
  g_test_message ("this machine: %s", csb_host_label_get_text (CSB_HOST_LABEL (host_label)));
  settle (500);
  save_screenshot (GTK_WIDGET (window), "sandboxes.png");
}

static void
test_stop (void)
{
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  RowWait row_wait = { launched_path, "Exited" };
  const char *project;

  {
    g_autoptr(GDBusInterface) iface = g_dbus_object_manager_get_interface (bus.object_manager,
                                                                           launched_path,
                                                                           CSB_SANDBOX_INTERFACE);
    g_assert_nonnull (iface);
    sandbox = CSB_DBUS_SANDBOX (g_steal_pointer (&iface));
  }
  project = csb_dbus_sandbox_get_project_dir (sandbox);

  gtk_widget_activate_action (GTK_WIDGET (window), "win.stop", "s", launched_path);
  g_assert_true (wait_bus_state (project, "exited"));
  g_assert_true (csb_test_run_until (row_shows, &row_wait, CSB_TEST_TIMEOUT_MS));

  /* The user asked for it and sees it: no notification. */
  settle (300);
  g_assert_false (notified ((gpointer) "weather-station"));

  gtk_widget_activate_action (GTK_WIDGET (window), "win.remove", "s", launched_path);
  g_assert_true (csb_test_run_until (row_is_gone, launched_path, CSB_TEST_TIMEOUT_MS));
  g_assert_null (csb_window_find_terminal (window, launched_path));
}

typedef struct
{
  gboolean done;
  gboolean success;
  char    *stdout_text;
} SubprocessWait;

static void
on_subprocess_done (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  SubprocessWait *wait = user_data;
  g_autoptr(GError) error = NULL;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &wait->stdout_text, NULL,
                                        &error);
  g_assert_no_error (error);
  wait->success = g_subprocess_get_successful (G_SUBPROCESS (source));
  wait->done = TRUE;
}

static gboolean
subprocess_done (gpointer data)
{
  return ((SubprocessWait *) data)->done;
}

static void
test_launch_command_line (void)
{
  g_autofree char *project = csb_test_make_project (&bus.dirs, "garden-planner");
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  SubprocessWait wait = { FALSE, FALSE, NULL };
  const char *path;

  /* The project's saved options are what --launch uses: a shell, no network. */
  csb_projects_remember (csb_application_get_projects (app), project,
                         g_variant_new_parsed ("{'shell': <true>, 'network': <false>}"));

  /* A second process: it hands its command line to this one (the app is unique) and
   * exits with the outcome. */
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                              g_getenv ("CSB_APP_EXECUTABLE"), "--launch", project, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (process, NULL, NULL, on_subprocess_done, &wait);
  g_assert_true (csb_test_run_until (subprocess_done, &wait, CSB_TEST_TIMEOUT_MS));
  g_test_message ("claude-sandbox-app --launch said: %s", wait.stdout_text);
  g_assert_true (wait.success);

  g_assert_true (wait_bus_state (project, "running"));
  sandbox = bus_sandbox_for (project);
  path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox));
  g_assert_nonnull (strstr (wait.stdout_text, path));
  g_assert_false (csb_dbus_sandbox_get_network (sandbox));
  g_free (wait.stdout_text);

  /* Its terminal is open in the window. */
  g_assert_nonnull (csb_window_find_terminal (window, path));
  type_into (path, "echo from-the-command-line\r");
  g_assert_true (wait_terminal (path, "from-the-command-line"));

  gtk_widget_activate_action (GTK_WIDGET (window), "win.stop", "s", path);
  g_assert_true (wait_bus_state (project, "exited"));
}

static void
test_launch_app_action (void)
{
  g_autofree char *project = csb_test_make_project (&bus.dirs, "recipe-book");
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  const char *path;

  csb_projects_remember (csb_application_get_projects (app), project,
                         g_variant_new_parsed ("{'shell': <true>}"));
  /* What a recent project's start button and a notification's click use. */
  g_action_group_activate_action (G_ACTION_GROUP (app), "launch", g_variant_new_string (project));
  g_assert_true (wait_bus_state (project, "running"));
  sandbox = bus_sandbox_for (project);
  path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox));
  g_assert_true (wait_terminal (path, "recipe-book"));

  /* Ends by itself: the list and the terminal follow. */
  type_into (path, "exit 3\r");
  g_assert_true (wait_bus_state (project, "exited"));
  g_assert_cmpint (csb_dbus_sandbox_get_exit_status (sandbox), ==, 3);

  /* An end nobody asked for notifies, unless the window in front shows it already. */
  g_test_message ("window active: %d", gtk_window_is_active (GTK_WINDOW (window)));
  if (gtk_window_is_active (GTK_WINDOW (window)))
    {
      settle (300);
      g_assert_false (notified ((gpointer) "recipe-book"));
    }
  else
    g_assert_true (csb_test_run_until (notified, (gpointer) "recipe-book", CSB_TEST_TIMEOUT_MS));
}

/* Another sandbox on @project_dir than @not_path, as the service lists it. */
static CsbDBusSandbox *
other_sandbox_for (const char *project_dir,
                   const char *not_path)
{
  GList *objects = g_dbus_object_manager_get_objects (bus.object_manager);
  CsbDBusSandbox *found = NULL;

  for (GList *l = objects; l != NULL; l = l->next)
    {
      CsbDBusSandbox *sandbox = csb_dbus_object_peek_sandbox (l->data);

      if (sandbox != NULL && found == NULL &&
          g_strcmp0 (csb_dbus_sandbox_get_project_dir (sandbox), project_dir) == 0 &&
          g_strcmp0 (g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox)), not_path) != 0)
        found = g_object_ref (sandbox);
    }
  g_list_free_full (objects, g_object_unref);
  return found;
}

static gboolean
other_sandbox_runs (gpointer data)
{
  const char * const *args = data;
  g_autoptr(CsbDBusSandbox) sandbox = other_sandbox_for (args[0], args[1]);

  return sandbox != NULL && g_strcmp0 (csb_dbus_sandbox_get_state (sandbox), "running") == 0;
}

/* "Start Again" on an ended shell starts that shell again, whatever the project's
 * options became since (here: Claude Code, not the shell). */
static void
test_start_again (void)
{
  g_autofree char *project = csb_test_make_project (&bus.dirs, "tea-timer");
  g_autoptr(CsbDBusSandbox) first = NULL;
  g_autoptr(CsbDBusSandbox) again = NULL;
  g_autofree char *path = NULL;
  const char *args[2] = { project, NULL };
  GVariant *options;

  options = g_variant_new_parsed ("{'shell': <true>, 'network': <false>}");
  csb_projects_remember (csb_application_get_projects (app), project, options);
  g_action_group_activate_action (G_ACTION_GROUP (app), "launch", g_variant_new_string (project));
  g_assert_true (wait_bus_state (project, "running"));
  first = bus_sandbox_for (project);
  path = g_strdup (g_dbus_proxy_get_object_path (G_DBUS_PROXY (first)));
  g_assert_true (csb_test_run_until (terminal_has_focus, path, CSB_TEST_TIMEOUT_MS));
  type_into (path, "exit 0\r");
  g_assert_true (wait_bus_state (project, "exited"));

  /* Later, the project is set to Claude Code with the network. */
  csb_projects_remember (csb_application_get_projects (app), project,
                         g_variant_new_parsed ("{'shell': <false>, 'network': <true>}"));
  gtk_widget_activate_action (GTK_WIDGET (window), "win.start-again", "s", path);
  args[1] = path;
  g_assert_true (csb_test_run_until (other_sandbox_runs, args, CSB_TEST_TIMEOUT_MS));
  again = other_sandbox_for (project, path);
  g_assert_cmpstrv (csb_dbus_sandbox_get_command (again), csb_dbus_sandbox_get_command (first));
  g_assert_false (csb_dbus_sandbox_get_network (again));
  /* Its terminal is in front, with the keyboard. */
  g_assert_true (csb_test_run_until (terminal_has_focus,
                                     (gpointer) g_dbus_proxy_get_object_path (G_DBUS_PROXY (again)),
                                     CSB_TEST_TIMEOUT_MS));
  gtk_widget_activate_action (GTK_WIDGET (window), "win.stop", "s",
                              g_dbus_proxy_get_object_path (G_DBUS_PROXY (again)));
  g_assert_true (csb_test_run_until (csb_test_sandbox_ended, again, CSB_TEST_TIMEOUT_MS));
}

static void
close_tab (const char *path)
{
  GtkWidget *page = csb_window_find_terminal (window, path);
  AdwTabView *view = ADW_TAB_VIEW (gtk_widget_get_ancestor (page, ADW_TYPE_TAB_VIEW));

  adw_tab_view_close_page (view, adw_tab_view_get_page (view, page));
}

static gboolean
question_open (gpointer data)
{
  return csb_window_get_question (window) != NULL;
}

/* Closing the tab of a running sandbox asks: Cancel keeps it, Detach leaves the
 * sandbox running (in the list), Stop stops it. */
static void
test_close_tab_question (void)
{
  g_autofree char *path = launch_shell ("kettle");
  g_autofree char *project = g_build_filename (bus.dirs.home, "Projects", "kettle", NULL);
  g_autofree char *state = NULL;

  g_assert_true (wait_terminal (path, "kettle"));
  close_tab (path);
  g_assert_true (question_open (NULL));
  settle (300);
  save_screenshot (csb_window_get_question (window), "close-tab-question.png");
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (csb_window_get_question (window)), "cancel");
  g_assert_nonnull (csb_window_find_terminal (window, path));

  close_tab (path);
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (csb_window_get_question (window)), "detach");
  g_assert_null (csb_window_find_terminal (window, path));
  settle (200);
  state = bus_truth_state (path);
  g_assert_cmpstr (state, ==, "running");
  g_assert_nonnull (csb_window_find_row (window, path));

  /* From the list, the terminal again, with its history; then Stop. */
  gtk_widget_activate_action (GTK_WIDGET (window), "win.open-terminal", "s", path);
  g_assert_true (wait_terminal (path, "kettle"));

  /* Quitting asks too; Cancel keeps everything. */
  g_action_group_activate_action (G_ACTION_GROUP (app), "quit", NULL);
  g_assert_true (question_open (NULL));
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (csb_window_get_question (window)), "cancel");
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (window)));
  g_assert_nonnull (csb_window_find_terminal (window, path));
  close_tab (path);
  g_assert_true (csb_test_run_until (question_open, NULL, CSB_TEST_TIMEOUT_MS));
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (csb_window_get_question (window)), "stop");
  g_assert_null (csb_window_find_terminal (window, path));
  g_assert_true (wait_bus_state (project, "exited"));
}

static void
test_pin (void)
{
  g_autofree char *project = make_home_project ("weather-station");
  g_autofree char *id = csb_pin_get_desktop_file_id (project);
  g_autofree char *desktop = g_build_filename (bus.dirs.data, "applications", id, NULL);
  g_autofree char *contents = NULL;
  g_autofree char *validate_out = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;
  const char *argv[] = { "desktop-file-validate", desktop, NULL };

  /* No Dynamic Launcher portal on the test bus: the app writes the entry itself. */
  gtk_widget_activate_action (GTK_WIDGET (window), "win.select-folder", "s", project);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.pin", NULL);
  for (int i = 0; i < 500 && !g_file_test (desktop, G_FILE_TEST_EXISTS); i++)
    settle (10);
  g_assert_true (g_file_get_contents (desktop, &contents, NULL, NULL));
  g_test_message ("%s", contents);
  g_assert_nonnull (strstr (contents, "--launch"));
  g_assert_nonnull (strstr (contents, "Name=weather-station"));

  if (g_find_program_in_path ("desktop-file-validate") == NULL)
    {
      g_test_message ("desktop-file-validate is not installed; not validated");
      return;
    }
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &validate_out, NULL,
                &status, &error);
  g_assert_no_error (error);
  g_test_message ("desktop-file-validate: %s", validate_out);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
}

static void
test_desktop_entry_quoting (void)
{
  g_autofree char *entry = csb_pin_build_desktop_entry ("/home/me/odd \"name\" $x 100%",
                                                        "odd", "/usr/bin/claude-sandbox-app");
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *exec = NULL;
  g_auto(GStrv) argv = NULL;

  g_assert_true (g_key_file_load_from_data (key_file, entry, -1, G_KEY_FILE_NONE, &error));
  exec = g_key_file_get_string (key_file, G_KEY_FILE_DESKTOP_GROUP, "Exec", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (exec, ==,
                   "\"/usr/bin/claude-sandbox-app\" --launch \"/home/me/odd \\\"name\\\" \\$x 100%%\"");
}

/* The service is killed while a sandbox runs with its row and tab open: the window says
 * so and keeps the terminal; Reconnect brings a new instance, and every view follows it. */
static void
test_service_killed (void)
{
  g_autofree char *state = NULL;
  RowWait row_wait = { NULL, "Running" };
  const char *path;

  lighthouse_path = launch_shell ("lighthouse");
  path = row_wait.path = lighthouse_path;
  g_assert_true (wait_terminal (path, "lighthouse"));
  type_into (path, "echo before-$((2*3))\r");
  g_assert_true (wait_terminal (path, "before-6"));
  g_assert_true (csb_test_run_until (rows_match_bus, NULL, CSB_TEST_TIMEOUT_MS));

  csb_test_bus_crash_service (&bus);
  g_assert_true (csb_test_run_until (service_lost, NULL, CSB_TEST_TIMEOUT_MS));
  /* The row and the terminal stay, with what it showed. */
  g_assert_nonnull (csb_window_find_row (window, path));
  g_assert_nonnull (csb_window_find_terminal (window, path));
  g_assert_true (wait_terminal (path, "before-6"));
  show_page ("sandboxes");
  save_screenshot (GTK_WIDGET (window), "service-stopped.png");

  /* Reconnect: a new instance lists the sandbox again, the terminal is attached to it. */
  gtk_widget_activate_action (GTK_WIDGET (window), "win.reconnect", NULL);
  g_assert_true (csb_test_run_until (service_back, NULL, CSB_TEST_TIMEOUT_MS));
  state = bus_truth_state (path);
  g_assert_cmpstr (state, ==, "running");
  g_assert_true (csb_test_run_until (row_shows, &row_wait, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (rows_match_bus, NULL, CSB_TEST_TIMEOUT_MS));
  type_into (path, "echo after-$((3*3))\r");
  g_assert_true (wait_terminal (path, "after-9"));
}

/* A second restart, and a sandbox that ends while no service runs: listed as ended. */
static void
test_service_killed_sandbox_ends (void)
{
  g_autofree char *path = launch_shell ("tide-clock");
  g_autofree char *project = g_build_filename (bus.dirs.home, "Projects", "tide-clock", NULL);
  RowWait row_wait = { path, "Exited" };
  GtkWidget *row;
  guint pid;

  g_assert_true (wait_terminal (path, "tide-clock"));
  type_into (path, "while [ ! -e stop-now ]; do sleep 0.1; done; exit 4\r");
  row = csb_window_find_row (window, path);
  g_assert_nonnull (row);
  pid = csb_dbus_sandbox_get_pid (csb_sandbox_row_get_sandbox (CSB_SANDBOX_ROW (row)));
  g_assert_cmpuint (pid, >, 0);

  /* The instance Reconnect starts next exits after a second of idleness (see the
   * next case). */
  set_service_idle_timeout (1);
  csb_test_bus_crash_service (&bus);
  g_assert_true (csb_test_run_until (service_lost, NULL, CSB_TEST_TIMEOUT_MS));
  csb_test_write_file (g_build_filename (project, "stop-now", NULL), "", 0644);
  g_assert_true (csb_test_run_until (process_gone, GUINT_TO_POINTER (pid), CSB_TEST_TIMEOUT_MS));

  gtk_widget_activate_action (GTK_WIDGET (window), "win.reconnect", NULL);
  g_assert_true (csb_test_run_until (service_back, NULL, CSB_TEST_TIMEOUT_MS));
  set_service_idle_timeout (600);
  g_assert_true (csb_test_run_until (row_shows, &row_wait, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (rows_match_bus, NULL, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_terminal_page_get_ended (CSB_TERMINAL_PAGE (csb_window_find_terminal (window, path))));
}

/* The everyday path: the service exits when idle, the next launch starts it again, and
 * the new sandbox's row follows it to its end. */
static void
test_service_idle_exit (void)
{
  g_autofree char *path = NULL;
  RowWait running = { NULL, "Running" };
  RowWait exited = { NULL, "Exited" };

  /* lighthouse keeps the instance busy: once it ends, that instance exits by itself. */
  gtk_widget_activate_action (GTK_WIDGET (window), "win.stop", "s", lighthouse_path);
  g_assert_true (csb_test_run_until (service_gone, NULL, CSB_TEST_TIMEOUT_MS));
  /* Nothing ran: no alarm, and the service's forgotten sandboxes leave the list. */
  g_assert_true (csb_test_run_until (object_manager_gone, NULL, CSB_TEST_TIMEOUT_MS));
  g_assert_false (csb_window_get_service_lost (window));
  g_assert_cmpuint (csb_window_get_n_rows (window), ==, 0);

  path = launch_shell ("compass");
  running.path = exited.path = path;
  g_assert_true (csb_test_run_until (row_shows, &running, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (rows_match_bus, NULL, CSB_TEST_TIMEOUT_MS));
  g_assert_true (wait_terminal (path, "compass"));
  type_into (path, "exit 0\r");
  g_assert_true (csb_test_run_until (row_shows, &exited, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (rows_match_bus, NULL, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpuint (adw_view_stack_page_get_badge_number (sandboxes_page ()), ==, 0);
}

/* No service installed: words for people, not the bus's. */
static void
test_service_missing_message (void)
{
  g_autoptr(GError) error = g_dbus_error_new_for_dbus_error ("org.freedesktop.DBus.Error.ServiceUnknown",
                                                             "The name org.example.ClaudeSandbox was not provided by any .service files");
  g_autofree char *message = csb_format_error (error);

  g_assert_null (strstr (message, ".service files"));
  g_assert_nonnull (strstr (message, "not installed"));
}

/* The deepest widgets wider than @limit at their minimum: what keeps a window wide. */
static void
report_wide (GtkWidget *widget,
             int        limit,
             int        depth)
{
  int min = 0;
  gboolean child_wide = FALSE;

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      int child_min = 0;

      if (!gtk_widget_get_visible (child))
        continue;
      gtk_widget_measure (child, GTK_ORIENTATION_HORIZONTAL, -1, &child_min, NULL, NULL, NULL);
      if (child_min > limit - 40)
        {
          child_wide = TRUE;
          report_wide (child, limit, depth + 1);
        }
    }
  gtk_widget_measure (widget, GTK_ORIENTATION_HORIZONTAL, -1, &min, NULL, NULL, NULL);
  if (!child_wide)
    for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
         child = gtk_widget_get_next_sibling (child))
      {
        int child_min = 0;

        gtk_widget_measure (child, GTK_ORIENTATION_HORIZONTAL, -1, &child_min, NULL, NULL, NULL);
        g_test_message ("%*s  child %s %s (%s): %d", depth, "", G_OBJECT_TYPE_NAME (child),
                        gtk_widget_get_visible (child) ? "" : "hidden",
                        GTK_IS_LABEL (child) ? gtk_label_get_label (GTK_LABEL (child)) :
                        GTK_IS_BUTTON (child) && gtk_button_get_label (GTK_BUTTON (child)) ?
                        gtk_button_get_label (GTK_BUTTON (child)) : "", child_min);
      }
  if (!child_wide)
    g_test_message ("%*s%s (%s) is %d px wide at least", depth, "", G_OBJECT_TYPE_NAME (widget),
                    GTK_IS_LABEL (widget) ? gtk_label_get_label (GTK_LABEL (widget)) :
                    GTK_IS_BUTTON (widget) && gtk_button_get_label (GTK_BUTTON (widget)) ?
                    gtk_button_get_label (GTK_BUTTON (widget)) : "", min);
}

static gboolean
window_has_rows (gpointer data)
{
  return csb_window_get_n_rows (data) > 0;
}

static void
use_language (const char *language)
{
  if (language == NULL)
    g_unsetenv ("LANGUAGE");
  else
    g_setenv ("LANGUAGE", language, TRUE);
  /* Binding again drops gettext's cache of translations. */
  bindtextdomain (GETTEXT_PACKAGE, g_getenv ("CSB_TEST_LOCALEDIR"));
  textdomain (GETTEXT_PACKAGE);
}

/* In English, German and French: the window shrinks to its declared 360 px (phones'
 * width), whatever it shows; and a screenshot of each page, wide and narrow. */
static void
test_narrow_languages (void)
{
  const char *languages[] = { "en", "de", "fr" };
  g_autofree char *project = make_home_project ("weather-station");
  g_autofree char *ended = launch_shell ("harbour-map");
  g_autofree char *running = launch_shell ("sea-chart");
  g_autofree char *ended_project = g_build_filename (bus.dirs.home, "Projects", "harbour-map", NULL);

  g_assert_true (wait_terminal (ended, "harbour-map"));
  type_into (ended, "exit 2\r");
  g_assert_true (wait_bus_state (ended_project, "exited"));

  /* Rows and tabs say what runs in them, the same thing twice numbered. */
  {
    const char *a = adw_preferences_row_get_title (ADW_PREFERENCES_ROW (csb_window_find_row (window, ended)));
    const char *b = adw_preferences_row_get_title (ADW_PREFERENCES_ROW (csb_window_find_row (window, running)));

    g_test_message ("rows: “%s”, “%s”", a, b);
    g_assert_true (g_str_has_prefix (a, "Shell"));
    g_assert_true (g_str_has_prefix (b, "Shell ("));
    g_assert_cmpstr (a, !=, b);
    g_assert_cmpstr (csb_terminal_page_get_title (CSB_TERMINAL_PAGE (csb_window_find_terminal (window, running))),
                     ==, b);
  }

  for (guint i = 0; i < G_N_ELEMENTS (languages); i++)
    {
      CsbWindow *win;
      struct { const char *page; const char *name; } shots[] = {
        { "launch", "start" }, { "sandboxes", "sandboxes" }, { "terminals", "terminal" },
      };
      int min = 0;

      use_language (g_strcmp0 (languages[i], "en") == 0 ? NULL : languages[i]);
      win = csb_window_new (app);
      gtk_window_set_default_size (GTK_WINDOW (win), 960, 700);
      gtk_window_present (GTK_WINDOW (win));
      gtk_widget_activate_action (GTK_WIDGET (win), "win.select-folder", "s", project);
      csb_window_show_sandbox (win, ended);
      csb_window_show_sandbox (win, running);
      g_assert_true (csb_test_run_until (window_has_rows, win, CSB_TEST_TIMEOUT_MS));
      settle (500);

      for (guint width = 0; width < 2; width++)
        {
          gtk_window_set_default_size (GTK_WINDOW (win), width == 0 ? 960 : 360, 700);
          for (guint s = 0; s < G_N_ELEMENTS (shots); s++)
            {
              g_autofree char *name = g_strdup_printf ("%s/%s-%s.png", languages[i], shots[s].name,
                                                       width == 0 ? "wide" : "narrow");
              AdwViewStack *stack = ADW_VIEW_STACK (gtk_widget_get_ancestor (csb_window_get_launch_page (win),
                                                                             ADW_TYPE_VIEW_STACK));

              adw_view_stack_set_visible_child_name (stack, shots[s].page);
              settle (300);
              save_screenshot (GTK_WIDGET (win), name);
            }
        }

      gtk_widget_measure (GTK_WIDGET (win), GTK_ORIENTATION_HORIZONTAL, -1, &min, NULL, NULL,
                          NULL);
      g_test_message ("%s: the window is %d px wide at least", languages[i], min);
      if (min > 360)
        report_wide (GTK_WIDGET (win), 360, 0);
      g_assert_cmpint (min, <=, 360);
      g_assert_cmpint (gtk_widget_get_width (GTK_WIDGET (win)), <=, 360);
      gtk_window_destroy (GTK_WINDOW (win));
    }
  use_language (NULL);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.stop", "s", running);
}

/* ---- main -------------------------------------------------------------------------------------- */

static gboolean
changes_listed (gpointer data)
{
  return csb_changes_window_get_n_changes (data) == 3;
}

static gboolean
diff_shown (gpointer data)
{
  g_autofree char *text = csb_changes_window_dup_diff_text (data);

  return text != NULL && strstr (text, "+changed") != NULL;
}

/* The badge on the Changes button of the row of the sandbox at object path
 * wait->path reads wait->text (NULL: the button is hidden). */
static gboolean
row_badge_is (gpointer data)
{
  RowWait *wait = data;
  GtkWidget *row = csb_window_find_row (window, wait->path);

  return row != NULL && g_strcmp0 (csb_sandbox_row_get_changes_badge (CSB_SANDBOX_ROW (row)),
                                   wait->text) == 0;
}

static gboolean
nothing_pending (gpointer data)
{
  return csb_changes_window_get_n_changes (data) == 0;
}

/* Review mode: the Changes window lists what a sandbox changed (a name with a newline
 * in it shown quoted, as git shows it), shows the diff of the first (a.txt; a carriage
 * return in it shown as ␍, never starting a line of its own that could pass for a
 * context line), and Apply All writes it into the folder. The sandbox's row has a
 * Changes button with the count as its badge until then. */
static void
test_review_changes (void)
{
  g_autofree char *project = csb_test_make_project (&bus.dirs, "Review");
  g_autofree char *a = g_build_filename (project, "a.txt", NULL);
  g_autofree char *b = g_build_filename (project, "b.txt", NULL);
  g_autofree char *out = NULL;
  g_autofree char *contents = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  GtkWidget *changes;
  g_autofree char *title = NULL;
  g_autofree char *diff = NULL;
  RowWait badge = { NULL, NULL };
  const char * const argv[] = { "/bin/sh", "-c", "printf 'changed\\r forged\\n' >> a.txt; "
                                "echo bee > b.txt; "
                                "echo x > \"$(printf 'x\\nforged')\"", NULL };

  csb_test_write_file (a, "hello\n", 0644);
  out = csb_test_run_command (&bus, project, argv,
                              g_variant_new_parsed ("{'project-mode': <'review'>}"), 0);
  sandbox = bus_sandbox_for (project);
  g_assert_nonnull (sandbox);
  g_assert_false (g_file_test (b, G_FILE_TEST_EXISTS));
  badge.path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox));
  badge.text = "3";
  g_assert_true (csb_test_run_until (row_badge_is, &badge, CSB_TEST_TIMEOUT_MS));

  changes = csb_changes_window_new (sandbox);
  gtk_window_set_transient_for (GTK_WINDOW (changes), GTK_WINDOW (window));
  gtk_window_present (GTK_WINDOW (changes));
  g_assert_true (csb_test_run_until (changes_listed, changes, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (diff_shown, changes, CSB_TEST_TIMEOUT_MS));
  diff = csb_changes_window_dup_diff_text (CSB_CHANGES_WINDOW (changes));
  g_assert_nonnull (strstr (diff, "+changed␍ forged\n"));
  g_assert_null (strchr (diff, '\r'));
  title = csb_changes_window_dup_title (CSB_CHANGES_WINDOW (changes), 2);
  g_assert_cmpstr (title, ==, "&quot;x\\nforged&quot;");
  settle (300);
  save_screenshot (changes, "changes.png");

  g_signal_emit_by_name (csb_changes_window_get_apply_all (CSB_CHANGES_WINDOW (changes)),
                         "clicked");
  g_assert_true (csb_test_run_until (nothing_pending, changes, CSB_TEST_TIMEOUT_MS));
  g_assert_true (g_file_get_contents (a, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "hello\nchanged\r forged\n");
  g_assert_true (g_file_test (b, G_FILE_TEST_IS_REGULAR));
  badge.text = NULL;
  g_assert_true (csb_test_run_until (row_badge_is, &badge, CSB_TEST_TIMEOUT_MS));
  gtk_window_destroy (GTK_WINDOW (changes));
}

/* The project-mode of the launch page's options. */
static char *
page_project_mode (CsbLaunchPage *page)
{
  g_autoptr(GVariant) options = g_variant_ref_sink (csb_launch_page_get_options (page));
  char *mode = NULL;

  g_variant_lookup (options, "project-mode", "s", &mode);
  return mode;
}

/* The "Review Changes First" switch: a new project gets the setting project-mode; a
 * project's own choice is remembered and sent as it is, so off is direct even where the
 * setting says review (it used to say nothing, and the setting won). */
static void
test_review_switch (void)
{
  g_autofree char *project = csb_test_make_project (&bus.dirs, "Switch");
  CsbLaunchPage *page = CSB_LAUNCH_PAGE (csb_window_get_launch_page (window));
  g_autofree char *saved_folder = g_strdup (csb_launch_page_get_folder (page));
  g_autoptr(GVariant) saved_options = g_variant_ref_sink (csb_launch_page_get_options (page));
  g_autoptr(GSettings) settings = g_settings_new ("org.example.ClaudeSandbox");
  g_autoptr(GVariant) defaults = NULL;
  g_autofree char *mode = NULL;

  g_assert_true (g_settings_set_string (settings, "project-mode", "review"));
  defaults = csb_application_get_default_options (app);
  csb_launch_page_set_folder (page, project, defaults);
  mode = page_project_mode (page);
  g_assert_cmpstr (mode, ==, "review");
  g_clear_pointer (&mode, g_free);

  csb_launch_page_set_folder (page, project,
                              g_variant_new_parsed ("{'project-mode': <'direct'>}"));
  mode = page_project_mode (page);
  g_assert_cmpstr (mode, ==, "direct");
  g_clear_pointer (&mode, g_free);

  g_settings_reset (settings, "project-mode");
  g_clear_pointer (&defaults, g_variant_unref);
  defaults = csb_application_get_default_options (app);
  csb_launch_page_set_folder (page, project, defaults);
  mode = page_project_mode (page);
  g_assert_cmpstr (mode, ==, "direct");
  csb_launch_page_set_folder (page, saved_folder, saved_options);
}

/* The options a backend cannot give (gpu but on bwrap; audio and ssh-agent on a VM): the
 * launch page greys their rows out, and the app does not send them, which the service
 * would refuse (a project's choice stays for another backend). */
static gboolean
row_of_switch_sensitive (CsbLaunchPage *page,
                         const char    *switch_name)
{
  GObject *option_switch = gtk_widget_get_template_child (GTK_WIDGET (page),
                                                          CSB_TYPE_LAUNCH_PAGE, switch_name);

  g_assert_nonnull (option_switch);
  return gtk_widget_is_sensitive (GTK_WIDGET (option_switch));
}

static void
test_backend_options (void)
{
  g_autofree char *project = csb_test_make_project (&bus.dirs, "BackendOptions");
  CsbLaunchPage *page = CSB_LAUNCH_PAGE (csb_window_get_launch_page (window));
  g_autofree char *saved_folder = g_strdup (csb_launch_page_get_folder (page));
  g_autoptr(GVariant) saved_options = g_variant_ref_sink (csb_launch_page_get_options (page));
  const char * const backends[] = { "bwrap", "container", "vm" };
  const gboolean gpu[] = { TRUE, FALSE, FALSE }, sockets[] = { TRUE, TRUE, FALSE };

  for (guint i = 0; i < G_N_ELEMENTS (backends); i++)
    {
      g_autofree char *text = g_strdup_printf ("{'backend': <'%s'>, 'audio': <true>, "
                                               "'gpu': <true>, 'ssh-agent': <true>, "
                                               "'network': <false>}", backends[i]);
      g_autoptr(GVariant) options = NULL;
      g_autoptr(GVariant) sent = NULL;
      gboolean value;

      csb_launch_page_set_folder (page, project, g_variant_new_parsed (text));
      g_assert_cmpint (row_of_switch_sensitive (page, "gpu_switch"), ==, gpu[i]);
      g_assert_cmpint (row_of_switch_sensitive (page, "audio_switch"), ==, sockets[i]);
      g_assert_cmpint (row_of_switch_sensitive (page, "ssh_agent_switch"), ==, sockets[i]);
      /* The page keeps the project's choice; the app sends only what the backend gives. */
      options = g_variant_ref_sink (csb_launch_page_get_options (page));
      g_assert_true (g_variant_lookup (options, "gpu", "b", &value) && value);
      sent = g_variant_ref_sink (csb_application_options_for_service (options, FALSE));
      g_assert_cmpint (g_variant_lookup (sent, "gpu", "b", &value), ==, gpu[i]);
      g_assert_cmpint (g_variant_lookup (sent, "audio", "b", &value), ==, sockets[i]);
      g_assert_cmpint (g_variant_lookup (sent, "ssh-agent", "b", &value), ==, sockets[i]);
      g_assert_true (g_variant_lookup (sent, "network", "b", &value) && !value);
    }
  csb_launch_page_set_folder (page, saved_folder, saved_options);
}

/* ---- installing Claude Code from the app -------------------------------------------------- */

/* Stands in for npm and the npm registry (a real install is slow and needs the network):
 * it prints a few lines as npm does, then writes a Claude Code into the --prefix it is
 * given, a script that answers --version and otherwise says it runs. */
static const char fake_npm[] =
  "#!/bin/sh\n"
  "prefix=\n"
  "while [ $# -gt 0 ]; do [ \"$1\" = --prefix ] && prefix=$2; shift; done\n"
  "echo 'npm http fetch GET 200 https://registry.npmjs.org/@anthropic-ai%2fclaude-code'\n"
  "echo \"$0 $*\" >/dev/null\n"
  "mkdir -p \"$prefix/bin\" || exit 1\n"
  "cat >\"$prefix/bin/claude\" <<'EOF'\n"
  "#!/bin/sh\n"
  "if [ \"$1\" = --version ]; then echo '9.9.9 (Claude Code)'; exit 0; fi\n"
  "echo 'the freshly installed claude runs'\n"
  "exec sleep 600\n"
  "EOF\n"
  "chmod 755 \"$prefix/bin/claude\"\n"
  "echo 'added 1 package in 1s'\n";

/* An npm that hangs: the child it starts writes its pid, then both wait. */
static const char hanging_npm[] =
  "#!/bin/sh\n"
  "echo 'npm http fetch GET https://registry.npmjs.org/@anthropic-ai%2fclaude-code'\n"
  "sleep 600 &\n"
  "echo $! >\"$0.pid\"\n"
  "wait\n";

static GtkWidget *
find_toplevel (const char *name)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWidget) widget = g_list_model_get_item (toplevels, i);

      if (g_strcmp0 (gtk_widget_get_name (widget), name) == 0 && gtk_widget_get_visible (widget))
        return widget;
    }
  return NULL;
}

static gboolean
toplevel_shown (gpointer data)
{
  return find_toplevel (data) != NULL;
}

static gboolean
toplevel_gone (gpointer data)
{
  return find_toplevel (data) == NULL;
}

/* What a click on a dialog's button does: the response, then the dialog closes. */
static void
respond (GtkWidget  *dialog,
         const char *response)
{
  g_assert_nonnull (dialog);
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), response);
  gtk_window_close (GTK_WINDOW (dialog));
}

static gboolean
has_label_with (GtkWidget  *widget,
                const char *needle)
{
  if (GTK_IS_LABEL (widget) && strstr (gtk_label_get_text (GTK_LABEL (widget)), needle) != NULL)
    return TRUE;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (has_label_with (child, needle))
      return TRUE;
  return FALSE;
}

static gboolean
install_shows_npm_line (gpointer data)
{
  GtkWidget *dialog = find_toplevel ("claude-install");

  return dialog != NULL && has_label_with (dialog, "registry.npmjs.org");
}

static void
start_without_claude (const char *name,
                      const char *npm_script,
                      char      **npm_out)
{
  g_autofree char *project = make_home_project (name);
  g_autofree char *npm = g_build_filename (bus.dirs.cache, name, "npm", NULL);
  g_autofree char *npm_dir = g_path_get_dirname (npm);

  g_assert_cmpint (g_mkdir_with_parents (npm_dir, 0700), ==, 0);
  csb_test_write_file (npm, npm_script, 0755);
  g_setenv ("CSB_NPM", npm, TRUE);
  /* Claude Code itself, not the shell: it is installed nowhere the service looks. */
  g_settings_set_boolean (csb_application_get_settings (app), "shell", FALSE);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.select-folder", "s", project);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.launch", NULL);
  g_assert_true (csb_test_run_until (toplevel_shown, (gpointer) "claude-missing",
                                     CSB_TEST_TIMEOUT_MS));
  respond (find_toplevel ("claude-missing"), "install");
  g_assert_true (csb_test_run_until (toplevel_shown, (gpointer) "claude-install",
                                     CSB_TEST_TIMEOUT_MS));
  g_assert_nonnull (csb_gui_test_find_descendant (find_toplevel ("claude-install"), GTK_TYPE_PROGRESS_BAR));
  *npm_out = g_steal_pointer (&npm);
}

static gboolean
file_exists (gpointer data)
{
  return g_file_test (data, G_FILE_TEST_EXISTS);
}

static gboolean
installer_gone (gpointer data)
{
  g_autofree char *stat_path = g_strdup_printf ("/proc/%d/stat", GPOINTER_TO_INT (data));
  g_autofree char *stat = NULL;
  const char *end;

  if (!g_file_get_contents (stat_path, &stat, NULL, NULL))
    return TRUE;
  /* An orphan the init of a container has not reaped yet is dead too. */
  end = strrchr (stat, ')');
  return end != NULL && end[1] == ' ' && end[2] == 'Z';
}

static void
test_install_claude_cancel (void)
{
  g_autofree char *npm = NULL;
  g_autofree char *pid_file = NULL;
  g_autofree char *pid_text = NULL;
  g_autofree char *claude = g_build_filename (bus.dirs.data, "claude-sandbox", "npm",
                                              "bin", "claude", NULL);
  int pid;

  start_without_claude ("cancelled-install", hanging_npm, &npm);
  pid_file = g_strconcat (npm, ".pid", NULL);
  g_assert_true (csb_test_run_until (file_exists, pid_file, CSB_TEST_TIMEOUT_MS));
  settle (200);
  g_assert_true (g_file_get_contents (pid_file, &pid_text, NULL, NULL));
  pid = atoi (pid_text);
  g_assert_cmpint (pid, >, 1);
  g_assert_false (installer_gone (GINT_TO_POINTER (pid)));
  /* npm's last line is the detail under the progress bar. */
  g_assert_true (csb_test_run_until (install_shows_npm_line, NULL, CSB_TEST_TIMEOUT_MS));
  settle (300);
  save_screenshot (find_toplevel ("claude-install"), "install-claude.png");

  /* Cancel ends npm and what it started, and the dialog goes. */
  respond (find_toplevel ("claude-install"), "cancel");
  g_assert_true (csb_test_run_until (installer_gone, GINT_TO_POINTER (pid), CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (toplevel_gone, (gpointer) "claude-install",
                                     CSB_TEST_TIMEOUT_MS));
  g_assert_false (g_file_test (claude, G_FILE_TEST_EXISTS));
}

static void
test_install_claude (void)
{
  g_autofree char *npm = NULL;
  g_autofree char *project = NULL;
  g_autofree char *prefix = g_build_filename (bus.dirs.data, "claude-sandbox", "npm",
                                              NULL);
  g_autofree char *claude = g_build_filename (prefix, "bin", "claude", NULL);
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GError) error = NULL;
  const char *path;

  start_without_claude ("installed-claude", fake_npm, &npm);
  project = make_home_project ("installed-claude");
  /* The app relaunches the same sandbox once npm is done, and it runs that claude. */
  g_assert_true (wait_bus_state (project, "running"));
  g_assert_true (g_file_test (claude, G_FILE_TEST_IS_EXECUTABLE));
  g_assert_true (csb_test_run_until (toplevel_gone, (gpointer) "claude-install",
                                     CSB_TEST_TIMEOUT_MS));
  sandbox = bus_sandbox_for (project);
  path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox));
  g_assert_true (wait_terminal (path, "the freshly installed claude runs"));

  /* The cases after this one run without Claude Code, as before. */
  csb_dbus_sandbox_call_stop_sync (sandbox, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (wait_bus_state (project, "exited"));
  g_assert_cmpint (g_unlink (claude), ==, 0);
  g_settings_set_boolean (csb_application_get_settings (app), "shell", TRUE);
  g_unsetenv ("CSB_NPM");
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *display = NULL;
  /* A keyfile, so a case can change the idle timeout the next instance of the
   * service reads. */
  CsbTestBusOptions bus_options = {
    .settings_keyfile = "[org/example/ClaudeSandbox]\nidle-timeout=600\n",
  };
  int ret = 1;

  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);

  if (g_getenv ("DISPLAY") == NULL && g_getenv ("WAYLAND_DISPLAY") == NULL)
    {
      g_test_skip ("no display (the suite runs under xvfb-run)");
      return 0;
    }

  /* GTestDBus unsets DISPLAY (against X11 autolaunch of a bus); the app needs it. */
  display = g_strdup (g_getenv ("DISPLAY"));
  csb_test_bus_setup (&bus, &bus_options);
  csb_test_bus_activate (&bus);
  own_notifications (bus.connection);
  if (display != NULL)
    g_setenv ("DISPLAY", display, TRUE);

  app = csb_application_new ();

  /* GTest runs the cases of a suite together, in the order of the first case of each
   * suite: these go in the order they depend on each other. */
  g_test_add_func ("/gui/desktop-entry/quoting", test_desktop_entry_quoting);
  g_test_add_func ("/gui/window/opens", test_window_opens);
  g_test_add_func ("/gui/window/launch", test_launch_from_window);
  g_test_add_func ("/gui/window/terminal-output", test_terminal_output);
  g_test_add_func ("/gui/window/plants-banner", test_plants_banner);
  g_test_add_func ("/gui/window/list", test_list_shows_sandbox);
  g_test_add_func ("/gui/window/review-changes", test_review_changes);
  g_test_add_func ("/gui/window/review-switch", test_review_switch);
  g_test_add_func ("/gui/window/backend-options", test_backend_options);
  g_test_add_func ("/gui/window/stop-and-remove", test_stop);
  g_test_add_func ("/gui/command-line/launch", test_launch_command_line);
  g_test_add_func ("/gui/app-action/launch", test_launch_app_action);
  g_test_add_func ("/gui/app-action/start-again", test_start_again);
  g_test_add_func ("/gui/app-action/close-tab-question", test_close_tab_question);
  g_test_add_func ("/gui/pin/desktop-file", test_pin);
  g_test_add_func ("/gui/install-claude/cancel", test_install_claude_cancel);
  g_test_add_func ("/gui/install-claude/install", test_install_claude);
  g_test_add_func ("/gui/service/missing-message", test_service_missing_message);
  g_test_add_func ("/gui/service/killed", test_service_killed);
  g_test_add_func ("/gui/service/killed-sandbox-ends", test_service_killed_sandbox_ends);
  g_test_add_func ("/gui/service/idle-exit", test_service_idle_exit);
  g_test_add_func ("/gui/window/narrow-en-de-fr", test_narrow_languages);

  /* Inside g_application_run(), as in real life: on its way out it unexports the
   * app from the bus, so nothing holds the bus connection after the tests. */
  ret = csb_gui_test_run_app (app, &window);
  settle (100);
  g_free (launched_path);
  g_free (lighthouse_path);
  g_clear_pointer (&notifications, g_ptr_array_unref);

  /* Every case has run and reported. What is left is tearing down an in-process GTK
   * app against a bus that goes away, which GLib 2.74 cannot do cleanly: finalising
   * the app first leaves a name watcher of GIO's whose callback double-unrefs when
   * the bus closes; keeping it keeps the session connection alive, which
   * g_test_dbus_down() waits for in vain. So: stop what runs, and leave. GTestDBus's
   * watcher process ends the bus daemon when we are gone, and the service with it. */
  csb_test_bus_stop_sandboxes (&bus);
  fflush (stdout);
  fflush (stderr);
  _exit (ret);
}
