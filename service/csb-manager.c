/* csb-manager.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <gio/gunixfdlist.h>

#include "csb-api.h"
#include "csb-backend.h"
#include "csb-error.h"
#include "csb-list-folders.h"
#include "csb-manager.h"
#include "csb-metrics.h"
#include "csb-monitor-spare.h"
#include "csb-trace.h"
#include "csb-options.h"
#include "csb-sandbox.h"

struct _CsbManager
{
  CsbDBusManagerSkeleton    parent_instance;

  GSettings                *settings;
  GDBusObjectManagerServer *object_manager;
  GHashTable               *sandboxes;      /* id → CsbSandbox */
  guint                     pending_calls;  /* Launch and GetBackends in flight */
};

enum { PROP_0, PROP_BUSY, N_PROPS };
static GParamSpec *properties[N_PROPS];

static void csb_manager_iface_init (CsbDBusManagerIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (CsbManager, csb_manager, CSB_DBUS_TYPE_MANAGER_SKELETON,
                               G_IMPLEMENT_INTERFACE (CSB_DBUS_TYPE_MANAGER,
                                                      csb_manager_iface_init))

gboolean
csb_manager_is_busy (CsbManager *self)
{
  GHashTableIter iter;
  gpointer sandbox;

  if (self->pending_calls > 0)
    return TRUE;
  g_hash_table_iter_init (&iter, self->sandboxes);
  while (g_hash_table_iter_next (&iter, NULL, &sandbox))
    if (csb_sandbox_is_active (sandbox))
      return TRUE;
  return FALSE;
}

static void
busy_changed (CsbManager *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

static char *
sandbox_path (const char *id)
{
  return g_strdup_printf (CSB_SANDBOX_PATH_PREFIX "%s", id);
}

static char *
new_id (CsbManager *self)
{
  for (;;)
    {
      char *id = g_strdup_printf ("%08x", g_random_int ());

      if (!g_hash_table_contains (self->sandboxes, id))
        return id;
      g_free (id);
    }
}

static void
drop_sandbox (CsbManager *self,
              CsbSandbox *sandbox)
{
  g_autofree char *path = sandbox_path (csb_sandbox_get_id (sandbox));

  g_dbus_object_manager_server_unexport (self->object_manager, path);
  g_hash_table_remove (self->sandboxes, csb_sandbox_get_id (sandbox));
  busy_changed (self);
}

static void
on_remove_requested (CsbSandbox *sandbox,
                     gpointer    user_data)
{
  drop_sandbox (CSB_MANAGER (user_data), sandbox);
}

static void
on_sandbox_state (GObject    *sandbox,
                  GParamSpec *pspec,
                  gpointer    user_data)
{
  busy_changed (CSB_MANAGER (user_data));
}

static void
add_sandbox (CsbManager *self,
             CsbSandbox *sandbox)
{
  g_autofree char *path = sandbox_path (csb_sandbox_get_id (sandbox));
  g_autoptr(CsbDBusObjectSkeleton) object_skeleton = csb_dbus_object_skeleton_new (path);

  g_hash_table_insert (self->sandboxes, g_strdup (csb_sandbox_get_id (sandbox)), sandbox);
  g_signal_connect_object (sandbox, "remove-requested", G_CALLBACK (on_remove_requested),
                           self, 0);
  g_signal_connect_object (sandbox, "notify::state", G_CALLBACK (on_sandbox_state), self, 0);
  csb_dbus_object_skeleton_set_sandbox (object_skeleton, CSB_DBUS_SANDBOX (sandbox));
  g_dbus_object_manager_server_export (self->object_manager,
                                       G_DBUS_OBJECT_SKELETON (object_skeleton));
}

typedef struct
{
  CsbManager            *manager;
  GDBusMethodInvocation *invocation;
} LaunchData;

static void
on_sandbox_started (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  LaunchData *data = user_data;
  CsbManager *self = data->manager;
  CsbSandbox *sandbox = CSB_SANDBOX (source);
  g_autoptr(GError) error = NULL;

  self->pending_calls--;
  if (!csb_sandbox_start_finish (sandbox, result, &error))
    {
      /* A spare claimed for it and never spawned goes too (csb-monitor-spare.h). */
      csb_monitor_spare_release (csb_sandbox_get_id (sandbox));
      drop_sandbox (self, sandbox);
      g_dbus_method_invocation_return_gerror (data->invocation, error);
    }
  else
    {
      g_autofree char *path = sandbox_path (csb_sandbox_get_id (sandbox));
      csb_dbus_manager_complete_launch (CSB_DBUS_MANAGER (self), data->invocation, NULL, path);
      csb_trace ("launch: replied");
      busy_changed (self);
    }
  g_object_unref (self);
  g_free (data);
}

static char **
default_command (CsbManager *self,
                 gboolean    shell)
{
  if (shell)
    {
      char **argv = g_new0 (char *, 2);
      argv[0] = csb_user_shell (self->settings);
      return argv;
    }
  if (self->settings != NULL)
    {
      g_auto(GStrv) command = g_settings_get_strv (self->settings, "default-command");
      if (command[0] != NULL && *command[0] != '\0')
        return g_steal_pointer (&command);
    }
  return g_strsplit ("claude", " ", -1);
}

static gboolean
handle_launch (CsbDBusManager        *object,
               GDBusMethodInvocation *invocation,
               GUnixFDList           *fd_list,
               const char            *project_dir,
               const char * const    *command,
               GVariant              *options)
{
  CsbManager *self = CSB_MANAGER (object);
  g_autoptr(CsbLaunchOptions) opts = csb_launch_options_new (self->settings);
  g_autoptr(CsbSandboxSpec) spec = NULL;
  g_autoptr(CsbBackend) backend = NULL;
  g_autoptr(GError) error = NULL;
  CsbSandbox *sandbox;
  LaunchData *data;

  csb_trace ("launch: call for %s", project_dir);
  if (!csb_launch_options_parse (opts, options, fd_list, &error) ||
      !csb_validate_command (command, &error))
    goto fail;
  if (*project_dir == '\0' || !g_path_is_absolute (project_dir))
    {
      g_set_error (&error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                   "project folder '%s' is not an absolute path", project_dir);
      goto fail;
    }
  if (opts->shell && command[0] != NULL)
    {
      g_set_error_literal (&error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                           "option 'shell' runs an interactive shell; give an empty command "
                           "with it");
      goto fail;
    }
  if ((backend = csb_backend_new (opts->backend, &error)) == NULL)
    goto fail;
  /* The settings' "network on" is a default, not a request: a backend that cannot
   * share the network runs offline unless the caller asked for it by name. */
  if (csb_backend_is_offline_only (backend) && !opts->network_given &&
      opts->network_allow->len == 0)
    opts->network = FALSE;
  /* A backend that cannot route the sandbox through the filtering proxy would give it
   * the whole network instead: refuse rather than widen what was asked. */
  if (opts->network_allow->len > 0 && !csb_backend_filters_network (backend))
    {
      g_set_error (&error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "the %s backend has no filtered network (network-allow) yet: use the "
                   "bwrap backend for it, or network on or off", opts->backend);
      goto fail;
    }

  spec = csb_sandbox_spec_new ();
  /* A bwrap launch takes the id of the spare monitor made ahead, if there is one: its
   * cgroups are made, and its bwrap process is in them. */
  if (g_str_equal (csb_backend_get_name (backend), "bwrap"))
    spec->id = csb_monitor_spare_claim_id (self->sandboxes);
  if (spec->id == NULL)
    spec->id = new_id (self);
  spec->project_dir = g_strdup (project_dir);
  spec->command = command[0] != NULL ? g_strdupv ((char **) command)
                                     : default_command (self, opts->shell);
  for (guint i = 0; i < opts->left_off->len; i++)
    g_message ("sandbox %s: %s", spec->id, (const char *) g_ptr_array_index (opts->left_off, i));
  spec->options = g_steal_pointer (&opts);
  spec->state_dir = g_build_filename (g_get_user_state_dir (), "claude-sandbox", spec->id, NULL);
  spec->runtime_dir = g_build_filename (g_get_user_runtime_dir (), "claude-sandbox", spec->id,
                                        NULL);
  spec->environ = g_get_environ ();
  spec->settings = self->settings ? g_object_ref (self->settings) : NULL;

  sandbox = csb_sandbox_new (g_steal_pointer (&spec), g_steal_pointer (&backend));
  add_sandbox (self, sandbox);

  self->pending_calls++;
  data = g_new0 (LaunchData, 1);
  data->manager = g_object_ref (self);
  data->invocation = g_steal_pointer (&invocation);
  csb_trace ("launch: options parsed, sandbox %s made", csb_sandbox_get_id (sandbox));
  csb_sandbox_start_async (sandbox, on_sandbox_started, data);
  return G_DBUS_METHOD_INVOCATION_HANDLED;

fail:
  g_dbus_method_invocation_return_gerror (invocation, error);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Lists again the sandboxes a previous service left running (after a crash or an
 * upgrade): each left a record in its state folder while it runs. */
void
csb_manager_adopt_sandboxes (CsbManager *self)
{
  g_autofree char *root = g_build_filename (g_get_user_state_dir (), "claude-sandbox", NULL);
  g_autoptr(GDir) dir = g_dir_open (root, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *state_dir = g_build_filename (root, name, NULL);
      g_autofree char *record = g_build_filename (state_dir, "sandbox.json", NULL);
      g_autoptr(GError) error = NULL;
      CsbSandbox *sandbox;

      if (!g_file_test (record, G_FILE_TEST_EXISTS) || g_hash_table_contains (self->sandboxes, name))
        continue;
      sandbox = csb_sandbox_adopt (state_dir, self->settings, &error);
      if (sandbox == NULL)
        {
          g_warning ("cannot take over the sandbox in %s: %s", state_dir, error->message);
          continue;
        }
      add_sandbox (self, sandbox);
    }
  busy_changed (self);
}

static void
backends_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  CsbManager *self = source_object;
  GVariantBuilder builder;
  const char * const *names = csb_backend_get_names ();

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sbs)"));
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autofree char *detail = NULL;
      gboolean available = csb_backend_check_available (names[i], self->settings, &detail);

      g_variant_builder_add (&builder, "(sbs)", names[i], available, detail ? detail : "");
    }
  g_task_return_pointer (task, g_variant_ref_sink (g_variant_builder_end (&builder)),
                         (GDestroyNotify) g_variant_unref);
}

static void
on_backends (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  CsbManager *self = CSB_MANAGER (source);
  GDBusMethodInvocation *invocation = user_data;
  g_autoptr(GVariant) backends = g_task_propagate_pointer (G_TASK (result), NULL);

  self->pending_calls--;
  csb_dbus_manager_complete_get_backends (CSB_DBUS_MANAGER (self), invocation, backends);
  busy_changed (self);
}

static gboolean
handle_get_backends (CsbDBusManager        *object,
                     GDBusMethodInvocation *invocation)
{
  CsbManager *self = CSB_MANAGER (object);
  g_autoptr(GTask) task = g_task_new (self, NULL, on_backends, g_steal_pointer (&invocation));

  /* Checking a backend runs programs (bwrap --version, libvirt): not on this loop. */
  self->pending_calls++;
  g_task_run_in_thread (task, backends_thread);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Two small /proc reads that never block on a disk: on this loop. */
static gboolean
handle_get_host_metrics (CsbDBusManager        *object,
                         GDBusMethodInvocation *invocation)
{
  csb_dbus_manager_complete_get_host_metrics (object, invocation, csb_metrics_host ());
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
list_folders_thread (GTask        *task,
                     gpointer      source_object,
                     gpointer      task_data,
                     GCancellable *cancellable)
{
  GError *error = NULL;
  GStrv folders = csb_list_folders (g_get_home_dir (), task_data, CSB_LIST_FOLDERS_MAX, &error);

  if (folders == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, folders, (GDestroyNotify) g_strfreev);
}

static void
on_list_folders (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  CsbManager *self = CSB_MANAGER (source);
  GDBusMethodInvocation *invocation = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) folders = g_task_propagate_pointer (G_TASK (result), &error);

  self->pending_calls--;
  if (folders == NULL)
    g_dbus_method_invocation_return_gerror (invocation, error);
  else
    csb_dbus_manager_complete_list_folders (CSB_DBUS_MANAGER (self), invocation,
                                            (const char * const *) folders);
  busy_changed (self);
}

/* A folder can be slow to read (a network mount): not on this loop. */
static gboolean
handle_list_folders (CsbDBusManager        *object,
                     GDBusMethodInvocation *invocation,
                     const char            *path)
{
  CsbManager *self = CSB_MANAGER (object);
  g_autoptr(GTask) task = g_task_new (self, NULL, on_list_folders, g_steal_pointer (&invocation));

  g_task_set_task_data (task, g_strdup (path), g_free);
  self->pending_calls++;
  g_task_run_in_thread (task, list_folders_thread);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
csb_manager_iface_init (CsbDBusManagerIface *iface)
{
  iface->handle_list_folders = handle_list_folders;
  iface->handle_launch = handle_launch;
  iface->handle_get_backends = handle_get_backends;
  iface->handle_get_host_metrics = handle_get_host_metrics;
}

gboolean
csb_manager_export (CsbManager      *self,
                    GDBusConnection *connection,
                    GError         **error)
{
  g_dbus_object_manager_server_set_connection (self->object_manager, connection);
  return g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self), connection,
                                           CSB_MANAGER_PATH, error);
}

void
csb_manager_unexport (CsbManager *self)
{
  g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self));
  g_dbus_object_manager_server_set_connection (self->object_manager, NULL);
}

static void
csb_manager_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_BUSY:
      g_value_set_boolean (value, csb_manager_is_busy (CSB_MANAGER (object)));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
csb_manager_dispose (GObject *object)
{
  CsbManager *self = CSB_MANAGER (object);

  g_clear_pointer (&self->sandboxes, g_hash_table_unref);
  g_clear_object (&self->object_manager);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (csb_manager_parent_class)->dispose (object);
}

static void
csb_manager_class_init (CsbManagerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = csb_manager_get_property;
  object_class->dispose = csb_manager_dispose;

  /* Whether a sandbox is active or a call is in flight: the service must not exit. */
  properties[PROP_BUSY] = g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                                                G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
csb_manager_init (CsbManager *self)
{
  self->sandboxes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->object_manager = g_dbus_object_manager_server_new (CSB_MANAGER_PATH);
  csb_dbus_manager_set_version (CSB_DBUS_MANAGER (self), PACKAGE_VERSION);
  csb_dbus_manager_set_interface_version (CSB_DBUS_MANAGER (self),
                                          CSB_MANAGER_INTERFACE_VERSION);
  csb_dbus_manager_set_home_folder (CSB_DBUS_MANAGER (self), g_get_home_dir ());
}

CsbManager *
csb_manager_new (GSettings *settings)
{
  CsbManager *self = g_object_new (CSB_TYPE_MANAGER, NULL);

  self->settings = settings ? g_object_ref (settings) : NULL;
  return self;
}
