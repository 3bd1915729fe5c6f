/* csb-application.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "csb-application.h"
#include "csb-backend-options.h"
#include "csb-error.h"
#include "csb-format.h"
#include "csb-names.h"
#include "csb-projects.h"
#include "csb-window.h"

#define SERVICE_NAME CSB_BUS_NAME
#define SERVICE_PATH CSB_MANAGER_PATH
#define SERVICE_SCHEMA "org.example.ClaudeSandbox"

struct _CsbApplication
{
  AdwApplication      parent_instance;

  GSettings          *settings;
  GSettings          *service_settings;  /* NULL if the service's schema is not installed */
  CsbProjects        *projects;
  CsbDBusManager     *manager;
  /* Bound to one instance of the service (its unique name): when that instance goes,
   * so does this, and a new one brings a new manager with fresh proxies. */
  GDBusObjectManager *object_manager;
  GCancellable       *cancellable;
  GCancellable       *owner_cancellable;  /* the object manager being made */
  guint               name_watch;
  GHashTable         *stop_requested;     /* object paths the user asked to stop */
  GHashTable         *launch_options;     /* object path → the a{sv} it was started with */
};

G_DEFINE_FINAL_TYPE (CsbApplication, csb_application, ADW_TYPE_APPLICATION)

enum {
  PROP_0,
  PROP_OBJECT_MANAGER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static const GOptionEntry main_entries[] = {
  { "launch", 'l', 0, G_OPTION_ARG_FILENAME, NULL,
    N_("Start a sandbox on FOLDER with its saved options and show its terminal"), N_("FOLDER") },
  { "new-window", 'w', 0, G_OPTION_ARG_NONE, NULL, N_("Open a new window"), NULL },
  { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Print the version and exit"), NULL },
  { NULL }
};

CsbApplication *
csb_application_new (void)
{
  return g_object_new (CSB_TYPE_APPLICATION,
                       "application-id", CSB_APP_ID,
                       "flags", G_APPLICATION_HANDLES_COMMAND_LINE,
                       "resource-base-path", "/org/example/ClaudeSandbox/App",
                       NULL);
}

GDBusObjectManager *
csb_application_get_object_manager (CsbApplication *self)
{
  g_return_val_if_fail (CSB_IS_APPLICATION (self), NULL);
  return self->object_manager;
}

CsbDBusManager *
csb_application_get_manager (CsbApplication *self)
{
  g_return_val_if_fail (CSB_IS_APPLICATION (self), NULL);
  return self->manager;
}

GSettings *
csb_application_get_settings (CsbApplication *self)
{
  g_return_val_if_fail (CSB_IS_APPLICATION (self), NULL);
  return self->settings;
}

CsbProjects *
csb_application_get_projects (CsbApplication *self)
{
  g_return_val_if_fail (CSB_IS_APPLICATION (self), NULL);
  return self->projects;
}

GVariant *
csb_application_get_sandbox_options (CsbApplication *self,
                                     CsbDBusSandbox *sandbox)
{
  const char *path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox));
  GVariant *known;
  g_autoptr(GVariant) base = NULL;
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  const char * const *allow;

  g_return_val_if_fail (CSB_IS_APPLICATION (self), NULL);
  g_return_val_if_fail (CSB_DBUS_IS_SANDBOX (sandbox), NULL);

  known = g_hash_table_lookup (self->launch_options, path);
  if (known != NULL)
    return g_variant_ref (known);

  /* Started elsewhere (the CLI, an earlier run of the app): what the sandbox says of
   * itself, the project's options for the rest. */
  base = csb_projects_get_options (self->projects, csb_dbus_sandbox_get_project_dir (sandbox));
  if (base == NULL)
    base = csb_application_get_default_options (self);
  g_variant_dict_init (&dict, base);
  g_variant_dict_insert (&dict, "backend", "s", csb_dbus_sandbox_get_backend (sandbox));
  g_variant_dict_insert (&dict, "network", "b", csb_dbus_sandbox_get_network (sandbox));
  g_variant_dict_insert (&dict, "gh-token", "b", csb_dbus_sandbox_get_gh_token (sandbox));
  allow = csb_dbus_sandbox_get_network_allow (sandbox);
  if (allow != NULL && allow[0] != NULL)
    g_variant_dict_insert_value (&dict, "network-allow", g_variant_new_strv (allow, -1));
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

gboolean
csb_application_get_service_running (CsbApplication *self)
{
  g_return_val_if_fail (CSB_IS_APPLICATION (self), FALSE);
  return self->object_manager != NULL;
}

void
csb_application_note_stop_requested (CsbApplication *self,
                                     const char     *object_path)
{
  g_return_if_fail (CSB_IS_APPLICATION (self));
  g_return_if_fail (object_path != NULL);
  g_hash_table_add (self->stop_requested, g_strdup (object_path));
}

/* ---- options -------------------------------------------------------------------------- */

static gboolean
service_boolean (CsbApplication *self,
                 const char     *key,
                 gboolean        fallback)
{
  if (self->service_settings == NULL)
    return fallback;
  return g_settings_get_boolean (self->service_settings, key);
}

/* A string setting of the service's, or @fallback (no schema, or one from before the key). */
static char *
service_string (CsbApplication *self,
                const char     *key,
                const char     *fallback)
{
  g_autoptr(GSettingsSchema) schema = NULL;

  if (self->service_settings == NULL)
    return g_strdup (fallback);
  g_object_get (self->service_settings, "settings-schema", &schema, NULL);
  if (!g_settings_schema_has_key (schema, key))
    return g_strdup (fallback);
  return g_settings_get_string (self->service_settings, key);
}

GVariant *
csb_application_get_default_options (CsbApplication *self)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autofree char *backend = NULL;
  g_autofree char *project_mode = NULL;

  g_return_val_if_fail (CSB_IS_APPLICATION (self), NULL);

  /* The fallbacks are the service's own defaults, as in the Nix tool it succeeds. */
  backend = self->service_settings ? g_settings_get_string (self->service_settings, "backend")
                                   : g_strdup ("bwrap");
  g_variant_builder_add (&builder, "{sv}", "backend", g_variant_new_string (backend));
  project_mode = service_string (self, "project-mode", "direct");
  g_variant_builder_add (&builder, "{sv}", "project-mode", g_variant_new_string (project_mode));
  g_variant_builder_add (&builder, "{sv}", "network",
                         g_variant_new_boolean (service_boolean (self, "network", TRUE)));
  g_variant_builder_add (&builder, "{sv}", "gh-token",
                         g_variant_new_boolean (service_boolean (self, "gh-token", FALSE)));
  g_variant_builder_add (&builder, "{sv}", "display",
                         g_variant_new_boolean (service_boolean (self, "display", FALSE)));
  g_variant_builder_add (&builder, "{sv}", "audio",
                         g_variant_new_boolean (service_boolean (self, "audio", FALSE)));
  g_variant_builder_add (&builder, "{sv}", "gpu",
                         g_variant_new_boolean (service_boolean (self, "gpu", FALSE)));
  g_variant_builder_add (&builder, "{sv}", "ssh-agent",
                         g_variant_new_boolean (service_boolean (self, "ssh-agent", FALSE)));
  g_variant_builder_add (&builder, "{sv}", "shell",
                         g_variant_new_boolean (g_settings_get_boolean (self->settings, "shell")));
  g_variant_builder_add (&builder, "{sv}", "vm-memory-mib",
                         g_variant_new_uint32 (g_settings_get_uint (self->settings,
                                                                    "vm-memory-mib")));
  g_variant_builder_add (&builder, "{sv}", "vm-cpus",
                         g_variant_new_uint32 (g_settings_get_uint (self->settings, "vm-cpus")));
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

/* ---- launching -------------------------------------------------------------------------- */

typedef struct
{
  char     *project_dir;
  GVariant *options;
  gboolean  remember;
} LaunchData;

static void
launch_data_free (LaunchData *data)
{
  g_free (data->project_dir);
  g_clear_pointer (&data->options, g_variant_unref);
  g_free (data);
}

/* The service rejects what does not apply, so send only what does: vm- options for a
 * VM, and what the backend can give (csb-backend-options.h: a project's audio switch
 * stays its choice for another backend). */
GVariant *
csb_application_options_for_service (GVariant *options,
                                     gboolean  has_command)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  const char *backend = NULL;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_lookup (options, "backend", "&s", &backend);
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      /* "shell" picks the command; a given command is the shell already. */
      if ((!g_str_has_prefix (key, "vm-") || g_strcmp0 (backend, "vm") == 0) &&
          (backend == NULL || csb_backend_gives (backend, key)) &&
          !(has_command && g_strcmp0 (key, "shell") == 0))
        g_variant_builder_add (&builder, "{sv}", key, value);
      g_variant_unref (value);
    }
  return g_variant_builder_end (&builder);
}

static void
on_launch_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  CsbApplication *self = g_task_get_source_object (task);
  LaunchData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autofree char *object_path = NULL;

  if (!csb_dbus_manager_call_launch_finish (CSB_DBUS_MANAGER (source), &object_path, NULL,
                                            result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (data->remember)
    csb_projects_remember (self->projects, data->project_dir, data->options);
  g_hash_table_insert (self->launch_options, g_strdup (object_path),
                       g_variant_ref (data->options));
  g_task_return_pointer (task, g_steal_pointer (&object_path), g_free);
}

void
csb_application_launch_async (CsbApplication      *self,
                              const char          *project_dir,
                              const char * const  *command,
                              GVariant            *options,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GVariant) owned = options ? g_variant_ref_sink (options) : NULL;
  const char * const no_command[] = { NULL };
  LaunchData *data;

  g_return_if_fail (CSB_IS_APPLICATION (self));
  g_return_if_fail (project_dir != NULL);
  g_return_if_fail (options == NULL || g_variant_is_of_type (options, G_VARIANT_TYPE_VARDICT));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, csb_application_launch_async);

  if (!g_file_test (project_dir, G_FILE_TEST_IS_DIR))
    {
      g_task_return_new_error (task, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                               _("The project folder “%s” does not exist. Choose another one."),
                               project_dir);
      return;
    }
  if (owned == NULL)
    owned = csb_projects_get_options (self->projects, project_dir);
  if (owned == NULL)
    owned = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));

  data = g_new0 (LaunchData, 1);
  data->project_dir = g_strdup (project_dir);
  data->options = g_variant_ref (owned);
  /* A command of its own is a repeat of one sandbox, not the project's new choice. */
  data->remember = command == NULL || command[0] == NULL;
  g_task_set_task_data (task, data, (GDestroyNotify) launch_data_free);

  /* An empty command runs the service's default: Claude Code. */
  csb_dbus_manager_call_launch (self->manager, project_dir,
                                command != NULL ? command : no_command,
                                csb_application_options_for_service (owned,
                                                                     command != NULL &&
                                                                     command[0] != NULL),
                                NULL, cancellable, on_launch_done, g_steal_pointer (&task));
}

char *
csb_application_launch_finish (CsbApplication *self,
                               GAsyncResult   *result,
                               GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

GtkWindow *
csb_application_ensure_window (CsbApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (window == NULL)
    window = GTK_WINDOW (csb_window_new (self));
  return window;
}

/* ---- the service ------------------------------------------------------------------------- */

static void
on_interface_proxy_signal (GDBusObjectManagerClient *manager,
                           GDBusObjectProxy         *object_proxy,
                           GDBusProxy               *interface_proxy,
                           const char               *sender_name,
                           const char               *signal_name,
                           GVariant                 *parameters,
                           gpointer                  user_data)
{
  CsbApplication *self = user_data;
  CsbDBusSandbox *sandbox;
  GtkWindow *window;
  g_autoptr(GNotification) notification = NULL;
  g_autofree char *title = NULL;
  g_autofree char *body = NULL;
  g_autofree char *id = NULL;
  const char *path;
  int status;

  if (g_strcmp0 (signal_name, "Exited") != 0 || !CSB_DBUS_IS_SANDBOX (interface_proxy))
    return;
  sandbox = CSB_DBUS_SANDBOX (interface_proxy);
  path = g_dbus_object_get_object_path (G_DBUS_OBJECT (object_proxy));
  g_variant_get (parameters, "(i)", &status);

  /* An end the user asked for, or one the window in front already shows in its
   * banner, needs no notification. */
  if (g_hash_table_remove (self->stop_requested, path) ||
      !g_application_get_is_registered (G_APPLICATION (self)))
    return;
  window = gtk_application_get_active_window (GTK_APPLICATION (self));
  if (window != NULL && gtk_window_is_active (window))
    return;

  title = g_strdup_printf (_("Sandbox “%s” ended"), csb_dbus_sandbox_get_name (sandbox));
  body = csb_format_exit (status);

  notification = g_notification_new (title);
  g_notification_set_body (notification, body);
  g_notification_set_default_action_and_target (notification, "app.show-sandbox", "s", path);
  id = g_strdup_printf ("exited-%s", csb_dbus_sandbox_get_id (sandbox));
  g_application_send_notification (G_APPLICATION (self), id, notification);
}

static void
set_object_manager (CsbApplication     *self,
                    GDBusObjectManager *object_manager)
{
  if (self->object_manager == object_manager)
    return;
  if (self->object_manager != NULL)
    g_signal_handlers_disconnect_by_data (self->object_manager, self);
  g_clear_object (&self->object_manager);
  if (object_manager != NULL)
    {
      self->object_manager = g_object_ref (object_manager);
      g_signal_connect_object (object_manager, "interface-proxy-signal",
                               G_CALLBACK (on_interface_proxy_signal), self, 0);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OBJECT_MANAGER]);
}

static void make_object_manager (CsbApplication  *self,
                                 GDBusConnection *connection,
                                 const char      *name_owner);

/* Whether @manager holds what the service answered in @objects, the reply to a
 * GetManagedObjects sent after @manager was made. GLib 2.74 makes a manager in a
 * thread, and a PropertiesChanged or InterfacesRemoved the main loop runs before
 * that thread has filed the object it is about is dropped: the manager would show
 * a state the service left (a sandbox taken over as "running" that it finds ended
 * a moment later) for good. Signals and replies run in the order they came, so
 * once this reply runs, any difference is such a lost signal. */
static gboolean
object_manager_matches (GDBusObjectManager *manager,
                        GVariant           *objects)
{
  GList *listed = g_dbus_object_manager_get_objects (manager);
  guint n_listed = g_list_length (listed);
  GVariantIter iter;
  const char *path;
  GVariant *interfaces;
  guint n = 0;
  gboolean match = TRUE;

  g_list_free_full (listed, g_object_unref);
  g_variant_iter_init (&iter, objects);
  while (match && g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    {
      GVariantIter iface_iter;
      const char *name;
      GVariant *properties;

      n++;
      g_variant_iter_init (&iface_iter, interfaces);
      while (match && g_variant_iter_next (&iface_iter, "{&s@a{sv}}", &name, &properties))
        {
          g_autoptr(GDBusInterface) proxy = g_dbus_object_manager_get_interface (manager, path,
                                                                                 name);
          GVariantIter prop_iter;
          const char *prop;
          GVariant *value;

          match = proxy != NULL;
          g_variant_iter_init (&prop_iter, properties);
          while (match && g_variant_iter_next (&prop_iter, "{&sv}", &prop, &value))
            {
              g_autoptr(GVariant) cached = g_dbus_proxy_get_cached_property (G_DBUS_PROXY (proxy),
                                                                             prop);

              match = cached != NULL && g_variant_equal (cached, value);
              g_variant_unref (value);
            }
          g_variant_unref (properties);
        }
      g_variant_unref (interfaces);
    }
  return match && n == n_listed;
}

typedef struct
{
  CsbApplication     *self;
  GDBusObjectManager *manager;
} ManagerCheck;

static void
manager_check_free (ManagerCheck *check)
{
  g_object_unref (check->self);
  g_object_unref (check->manager);
  g_free (check);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ManagerCheck, manager_check_free)

static void
on_object_manager_checked (GObject      *source,
                           GAsyncResult *result,
                           gpointer      user_data)
{
  g_autoptr(ManagerCheck) check = user_data;
  GDBusObjectManagerClient *client = G_DBUS_OBJECT_MANAGER_CLIENT (check->manager);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) objects = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      /* Any other error: that instance is going, and the name watch says so next. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        set_object_manager (check->self, check->manager);
      return;
    }
  objects = g_variant_get_child_value (reply, 0);
  if (object_manager_matches (check->manager, objects))
    {
      set_object_manager (check->self, check->manager);
      return;
    }
  g_debug ("the sandboxes' proxies missed a change of the service's; reading them again");
  make_object_manager (check->self, g_dbus_object_manager_client_get_connection (client),
                       g_dbus_object_manager_client_get_name_owner (client));
}

static void
on_object_manager_ready (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(CsbApplication) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusObjectManager) object_manager = NULL;
  GDBusObjectManagerClient *client;
  ManagerCheck *check;
  const char *name_owner;

  object_manager = csb_dbus_object_manager_client_new_for_bus_finish (result, &error);
  if (object_manager == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("Cannot list the sandboxes: %s", error->message);
      return;
    }
  /* That instance may be gone already; then its successor has its own manager coming. */
  client = G_DBUS_OBJECT_MANAGER_CLIENT (object_manager);
  name_owner = g_dbus_object_manager_client_get_name_owner (client);
  if (name_owner == NULL)
    return;
  check = g_new0 (ManagerCheck, 1);
  check->self = g_object_ref (self);
  check->manager = g_object_ref (object_manager);
  g_dbus_connection_call (g_dbus_object_manager_client_get_connection (client), name_owner,
                          SERVICE_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                          NULL, G_VARIANT_TYPE ("(a{oa{sa{sv}}})"),
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, self->owner_cancellable,
                          on_object_manager_checked, check);
}

static void
make_object_manager (CsbApplication  *self,
                     GDBusConnection *connection,
                     const char      *name_owner)
{
  csb_dbus_object_manager_client_new (connection,
                                      G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                      name_owner, SERVICE_PATH, self->owner_cancellable,
                                      on_object_manager_ready, g_object_ref (self));
}

static void
on_service_appeared (GDBusConnection *connection,
                     const char      *name,
                     const char      *name_owner,
                     gpointer         user_data)
{
  CsbApplication *self = user_data;

  /* A new instance (after an idle exit, a crash or an upgrade): everything about the
   * old one is dropped, and its sandboxes are read again from the new one. */
  g_cancellable_cancel (self->owner_cancellable);
  g_clear_object (&self->owner_cancellable);
  self->owner_cancellable = g_cancellable_new ();
  set_object_manager (self, NULL);
  make_object_manager (self, connection, name_owner);
}

static void
on_service_vanished (GDBusConnection *connection,
                     const char      *name,
                     gpointer         user_data)
{
  CsbApplication *self = user_data;

  g_cancellable_cancel (self->owner_cancellable);
  set_object_manager (self, NULL);
}

/* ---- actions ------------------------------------------------------------------------------ */

static void
launch_action (GSimpleAction *action,
               GVariant      *parameter,
               gpointer       user_data)
{
  CsbApplication *self = user_data;
  GtkWindow *window = csb_application_ensure_window (self);

  gtk_window_present (window);
  csb_window_launch_async (CSB_WINDOW (window), g_variant_get_string (parameter, NULL), NULL,
                           NULL);
}

static void
new_window_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  gtk_window_present (GTK_WINDOW (csb_window_new (user_data)));
}

static void
show_sandbox_action (GSimpleAction *action,
                     GVariant      *parameter,
                     gpointer       user_data)
{
  CsbApplication *self = user_data;
  GtkWindow *window = csb_application_ensure_window (self);

  gtk_window_present (window);
  csb_window_show_sandbox (CSB_WINDOW (window), g_variant_get_string (parameter, NULL));
}

static void
about_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  CsbApplication *self = user_data;
  const char *developers[] = { "The claude-sandbox authors", NULL };

  adw_show_about_window (gtk_application_get_active_window (GTK_APPLICATION (self)),
                         "application-name", _("Claude Sandbox"),
                         "application-icon", CSB_APP_ID,
                         "version", PACKAGE_VERSION,
                         "developers", developers,
                         "license-type", GTK_LICENSE_GPL_3_0,
                         "comments", _("Run Claude Code in a sandbox on one project folder."),
                         "translator-credits", _("translator-credits"),
                         NULL);
}

static void
quit_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  GList *windows = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (user_data)));

  /* Each window asks first if sandboxes run in it; the app ends with the last one. */
  for (GList *l = windows; l != NULL; l = l->next)
    gtk_window_close (l->data);
  g_list_free (windows);
}

static const GActionEntry app_actions[] = {
  { "launch", launch_action, "s" },
  { "new-window", new_window_action },
  { "show-sandbox", show_sandbox_action, "s" },
  { "about", about_action },
  { "quit", quit_action },
};

/* ---- GApplication ------------------------------------------------------------------------- */

static void
csb_application_startup (GApplication *app)
{
  CsbApplication *self = CSB_APPLICATION (app);
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) service_schema = NULL;
  g_autoptr(GError) error = NULL;
  const char *quit_accels[] = { "<Control>q", NULL };
  const char *new_window_accels[] = { "<Control>n", NULL };
  const char *open_accels[] = { "<Control>o", NULL };

  G_APPLICATION_CLASS (csb_application_parent_class)->startup (app);

  self->settings = g_settings_new (CSB_APP_ID);
  self->projects = csb_projects_new (self->settings);
  if (source != NULL)
    service_schema = g_settings_schema_source_lookup (source, SERVICE_SCHEMA, TRUE);
  if (service_schema != NULL)
    self->service_settings = g_settings_new (SERVICE_SCHEMA);

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions),
                                   self);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.new-window",
                                         new_window_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.choose-folder",
                                         open_accels);

  /* Creating the proxy does not start the service; the first call does. */
  self->manager = csb_dbus_manager_proxy_new_for_bus_sync (G_BUS_TYPE_SESSION,
                                                           G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START_AT_CONSTRUCTION |
                                                           G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                                           SERVICE_NAME, SERVICE_PATH, NULL,
                                                           &error);
  if (self->manager == NULL)
    g_error ("Cannot reach the session bus: %s", error->message);

  self->cancellable = g_cancellable_new ();
  self->name_watch = g_bus_watch_name_on_connection (g_dbus_proxy_get_connection (G_DBUS_PROXY (self->manager)),
                                                     SERVICE_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                     on_service_appeared, on_service_vanished,
                                                     self, NULL);
}

static void
csb_application_shutdown (GApplication *app)
{
  CsbApplication *self = CSB_APPLICATION (app);

  g_cancellable_cancel (self->cancellable);
  g_cancellable_cancel (self->owner_cancellable);
  g_clear_handle_id (&self->name_watch, g_bus_unwatch_name);
  G_APPLICATION_CLASS (csb_application_parent_class)->shutdown (app);
}

static void
csb_application_activate (GApplication *app)
{
  gtk_window_present (csb_application_ensure_window (CSB_APPLICATION (app)));
}

static int
csb_application_handle_local_options (GApplication *app,
                                      GVariantDict *options)
{
  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("claude-sandbox-app %s\n", PACKAGE_VERSION);
      return 0;
    }
  return -1;
}

typedef struct
{
  GApplicationCommandLine *command_line;
} CommandLineLaunch;

static void
on_command_line_launch_done (GObject      *source,
                             GAsyncResult *result,
                             gpointer      user_data)
{
  g_autoptr(GApplicationCommandLine) command_line = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = csb_window_launch_finish (CSB_WINDOW (source), result, &error);

  /* The calling process exits when the last reference to its command line goes. */
  if (path == NULL)
    {
      g_autofree char *message = csb_format_error (error);
      g_autofree char *details = csb_format_error_details (error);

      g_application_command_line_printerr (command_line, "%s\n", message);
      if (details != NULL)
        g_application_command_line_printerr (command_line, "%s\n", details);
      g_application_command_line_set_exit_status (command_line, 1);
    }
  else
    g_application_command_line_print (command_line, "%s\n", path);
}

static int
csb_application_command_line (GApplication            *app,
                              GApplicationCommandLine *command_line)
{
  CsbApplication *self = CSB_APPLICATION (app);
  GVariantDict *options = g_application_command_line_get_options_dict (command_line);
  g_autofree char *launch = NULL;
  GtkWindow *window = NULL;

  if (g_variant_dict_contains (options, "new-window"))
    window = GTK_WINDOW (csb_window_new (self));
  else
    window = csb_application_ensure_window (self);
  gtk_window_present (window);

  if (g_variant_dict_lookup (options, "launch", "^ay", &launch))
    {
      g_autoptr(GFile) file = g_application_command_line_create_file_for_arg (command_line,
                                                                              launch);
      g_autofree char *dir = g_file_get_path (file);

      csb_window_launch_async (CSB_WINDOW (window), dir, on_command_line_launch_done,
                               g_object_ref (command_line));
    }
  return 0;
}

/* ---- GObject ------------------------------------------------------------------------------- */

static void
csb_application_dispose (GObject *object)
{
  CsbApplication *self = CSB_APPLICATION (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_cancellable_cancel (self->owner_cancellable);
  g_clear_object (&self->owner_cancellable);
  g_clear_handle_id (&self->name_watch, g_bus_unwatch_name);
  if (self->object_manager != NULL)
    g_signal_handlers_disconnect_by_data (self->object_manager, self);
  g_clear_object (&self->object_manager);
  g_clear_pointer (&self->stop_requested, g_hash_table_unref);
  g_clear_pointer (&self->launch_options, g_hash_table_unref);
  g_clear_object (&self->manager);
  g_clear_object (&self->projects);
  g_clear_object (&self->settings);
  g_clear_object (&self->service_settings);
  G_OBJECT_CLASS (csb_application_parent_class)->dispose (object);
}

static void
csb_application_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  CsbApplication *self = CSB_APPLICATION (object);

  switch (prop_id)
    {
    case PROP_OBJECT_MANAGER:
      g_value_set_object (value, self->object_manager);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
csb_application_class_init (CsbApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  /* The service's errors arrive as CSB_ERROR only once the domain is registered:
   * before the first reply, not on the first look at one. */
  (void) csb_error_quark ();
  object_class->dispose = csb_application_dispose;
  object_class->get_property = csb_application_get_property;
  app_class->startup = csb_application_startup;
  app_class->shutdown = csb_application_shutdown;
  app_class->activate = csb_application_activate;
  app_class->handle_local_options = csb_application_handle_local_options;
  app_class->command_line = csb_application_command_line;

  properties[PROP_OBJECT_MANAGER] =
    g_param_spec_object ("object-manager", NULL, NULL, G_TYPE_DBUS_OBJECT_MANAGER,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
csb_application_init (CsbApplication *self)
{
  self->stop_requested = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->launch_options = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                (GDestroyNotify) g_variant_unref);
  g_application_add_main_option_entries (G_APPLICATION (self), main_entries);
  g_application_set_option_context_parameter_string (G_APPLICATION (self), NULL);
  g_application_set_option_context_summary (G_APPLICATION (self),
                                            _("Run Claude Code in a sandbox on one project folder."));
}
