/* claude-sandbox-service — the session-bus service org.example.ClaudeSandbox.
 *
 * D-Bus activated; exits after idle-timeout seconds with no sandbox active and no
 * call in flight (sysprofd- and xdg-desktop-portal-style). --replace takes the name
 * over from a running instance; --no-idle-exit keeps it up (for tests and debugging).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <locale.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "csb-dbus.h"
#include "csb-error.h"
#include "csb-cgroup.h"
#include "csb-manager.h"
#include "csb-monitor-spare.h"
#include "csb-names.h"

/* The service's state, from its options to its exit status. */
typedef struct
{
  gboolean    replace;
  gboolean    version;
  gboolean    release_cgroup;
  gboolean    no_idle_exit;
  int         idle_arg;
  guint       idle_timeout_s;
  guint       idle_id;
  GSettings  *settings;
  GMainLoop  *main_loop;
  CsbManager *manager;
  guint       owner_id;
  int         exit_status;
} Service;

static gboolean
on_idle_timeout (gpointer user_data)
{
  Service *self = user_data;

  self->idle_id = 0;
  if (!csb_manager_is_busy (self->manager))
    {
      g_message ("idle for %u s with no sandbox running; exiting", self->idle_timeout_s);
      g_main_loop_quit (self->main_loop);
    }
  return G_SOURCE_REMOVE;
}

static void
update_idle (Service *self)
{
  g_clear_handle_id (&self->idle_id, g_source_remove);
  if (!self->no_idle_exit && !csb_manager_is_busy (self->manager))
    self->idle_id = g_timeout_add_seconds (self->idle_timeout_s, on_idle_timeout, self);
}

static void
on_busy_changed (GObject    *object,
                 GParamSpec *pspec,
                 gpointer    user_data)
{
  update_idle (user_data);
}

static void
on_bus_acquired (GDBusConnection *connection,
                 const char      *name,
                 gpointer         user_data)
{
  Service *self = user_data;
  g_autoptr(GError) error = NULL;

  if (!csb_manager_export (self->manager, connection, &error))
    {
      g_printerr ("claude-sandbox-service: cannot export the manager: %s\n", error->message);
      self->exit_status = EXIT_FAILURE;
      g_main_loop_quit (self->main_loop);
    }
}

static void
on_name_acquired (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  Service *self = user_data;

  /* Only once the name is ours: two services must not both take them over. */
  csb_manager_adopt_sandboxes (self->manager);
  g_message ("%s %s ready", name, PACKAGE_VERSION);
  update_idle (self);
}

static void
on_name_lost (GDBusConnection *connection,
              const char      *name,
              gpointer         user_data)
{
  Service *self = user_data;

  if (connection == NULL)
    g_printerr ("claude-sandbox-service: cannot connect to the session bus\n");
  else
    g_printerr ("claude-sandbox-service: %s is owned by another process (use --replace)\n",
                name);
  self->exit_status = EXIT_FAILURE;
  g_main_loop_quit (self->main_loop);
}

static gboolean
on_signal_quit (gpointer user_data)
{
  Service *self = user_data;

  g_main_loop_quit (self->main_loop);
  return G_SOURCE_REMOVE;
}

static GSettings *
load_settings (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;
  g_autoptr(GSettingsSchemaSource) installed = NULL;

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, APP_ID, TRUE);
  if (schema == NULL)
    {
      /* Installed into a prefix the session does not search (e.g. ~/.local). */
      installed = g_settings_schema_source_new_from_directory (SCHEMADIR, source, FALSE, NULL);
      if (installed != NULL)
        schema = g_settings_schema_source_lookup (installed, APP_ID, TRUE);
    }
  if (schema == NULL)
    {
      g_warning ("the GSettings schema %s is not installed; using built-in defaults", APP_ID);
      return NULL;
    }
  return g_settings_new_full (schema, NULL, NULL);
}

/* Each filtered-network connection holds two fds, each sandbox a few more: lift
 * the soft limit to the hard one, as systemd does for services. */
static void
raise_fd_limit (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
}

static void
init_i18n (void)
{
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
}

static gboolean
parse_options (Service  *self,
               int      *argc,
               char   ***argv,
               GError  **error)
{
  g_autoptr(GOptionContext) context = NULL;
  const GOptionEntry entries[] = {
    { "replace", 'r', 0, G_OPTION_ARG_NONE, &self->replace,
      N_("Replace a running instance"), NULL },
    { "no-idle-exit", 0, 0, G_OPTION_ARG_NONE, &self->no_idle_exit,
      N_("Do not exit when idle"), NULL },
    { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &self->idle_arg,
      N_("Seconds to stay up with no sandbox running"), N_("SECONDS") },
    { "version", 0, 0, G_OPTION_ARG_NONE, &self->version, N_("Print the version and exit"),
      NULL },
    { "release-cgroup", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &self->release_cgroup,
      "Switch the cgroup controllers below the unit off (the unit's ExecStartPre)", NULL },
    { NULL }
  };

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context, _("The claude-sandbox session service."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  return g_option_context_parse (context, argc, argv, error);
}

/* The settings, the cgroups, the manager; then the bus name is asked for. */
static void
start (Service *self)
{
  self->settings = load_settings ();
  if (self->settings != NULL)
    self->idle_timeout_s = g_settings_get_uint (self->settings, "idle-timeout");
  if (self->idle_arg > 0)
    self->idle_timeout_s = self->idle_arg;
  /* Before any sandbox is started or taken over: the service's own cgroup leaf, and
   * the limits of running sandboxes back if a restart cleared them. */
  csb_cgroup_init (self->settings);

  self->main_loop = g_main_loop_new (NULL, FALSE);
  self->manager = csb_manager_new (self->settings);
  g_signal_connect (self->manager, "notify::busy", G_CALLBACK (on_busy_changed), self);

  g_unix_signal_add (SIGTERM, on_signal_quit, self);
  g_unix_signal_add (SIGINT, on_signal_quit, self);

  self->owner_id = g_bus_own_name (G_BUS_TYPE_SESSION, CSB_BUS_NAME,
                                   G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT |
                                   (self->replace ? G_BUS_NAME_OWNER_FLAGS_REPLACE : 0),
                                   on_bus_acquired, on_name_acquired, on_name_lost, self,
                                   NULL);
}

static void
stop (Service *self)
{
  g_bus_unown_name (self->owner_id);
  csb_monitor_spare_shutdown ();
  csb_manager_unexport (self->manager);
  g_clear_object (&self->manager);
  g_main_loop_unref (self->main_loop);
  g_clear_object (&self->settings);
}

int
main (int   argc,
      char *argv[])
{
  Service self = { .idle_arg = -1, .idle_timeout_s = 60, .exit_status = EXIT_SUCCESS };
  g_autoptr(GError) error = NULL;

  raise_fd_limit ();
  init_i18n ();
  if (!parse_options (&self, &argc, &argv, &error))
    {
      g_printerr ("claude-sandbox-service: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (self.version)
    {
      g_print ("claude-sandbox-service %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }

  if (self.release_cgroup)
    {
      if (!csb_cgroup_release (&error))
        {
          g_printerr ("claude-sandbox-service: %s\n", error->message);
          return EXIT_FAILURE;
        }
      return EXIT_SUCCESS;
    }

  /* Registers the D-Bus error names before the first error goes out. */
  (void) CSB_ERROR;

  start (&self);
  g_main_loop_run (self.main_loop);
  stop (&self);
  return self.exit_status;
}
