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
#include "csb-names.h"

static GMainLoop *main_loop;
static CsbManager *manager;
static guint idle_timeout_s = 60;
static guint idle_id;
static gboolean no_idle_exit;
static int exit_status = EXIT_SUCCESS;

static gboolean
on_idle_timeout (gpointer user_data)
{
  idle_id = 0;
  if (!csb_manager_is_busy (manager))
    {
      g_message ("idle for %u s with no sandbox running; exiting", idle_timeout_s);
      g_main_loop_quit (main_loop);
    }
  return G_SOURCE_REMOVE;
}

static void
update_idle (void)
{
  g_clear_handle_id (&idle_id, g_source_remove);
  if (!no_idle_exit && !csb_manager_is_busy (manager))
    idle_id = g_timeout_add_seconds (idle_timeout_s, on_idle_timeout, NULL);
}

static void
on_busy_changed (GObject    *object,
                 GParamSpec *pspec,
                 gpointer    user_data)
{
  update_idle ();
}

static void
on_bus_acquired (GDBusConnection *connection,
                 const char      *name,
                 gpointer         user_data)
{
  g_autoptr(GError) error = NULL;

  if (!csb_manager_export (manager, connection, &error))
    {
      g_printerr ("claude-sandbox-service: cannot export the manager: %s\n", error->message);
      exit_status = EXIT_FAILURE;
      g_main_loop_quit (main_loop);
    }
}

static void
on_name_acquired (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  /* Only once the name is ours: two services must not both take them over. */
  csb_manager_adopt_sandboxes (manager);
  g_message ("%s %s ready", name, PACKAGE_VERSION);
  update_idle ();
}

static void
on_name_lost (GDBusConnection *connection,
              const char      *name,
              gpointer         user_data)
{
  if (connection == NULL)
    g_printerr ("claude-sandbox-service: cannot connect to the session bus\n");
  else
    g_printerr ("claude-sandbox-service: %s is owned by another process (use --replace)\n",
                name);
  exit_status = EXIT_FAILURE;
  g_main_loop_quit (main_loop);
}

static gboolean
on_signal_quit (gpointer user_data)
{
  g_main_loop_quit (main_loop);
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

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSettings) settings = NULL;
  gboolean replace = FALSE;
  gboolean version = FALSE;
  gboolean release_cgroup = FALSE;
  int idle_arg = -1;
  guint owner_id;
  const GOptionEntry entries[] = {
    { "replace", 'r', 0, G_OPTION_ARG_NONE, &replace,
      N_("Replace a running instance"), NULL },
    { "no-idle-exit", 0, 0, G_OPTION_ARG_NONE, &no_idle_exit,
      N_("Do not exit when idle"), NULL },
    { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &idle_arg,
      N_("Seconds to stay up with no sandbox running"), N_("SECONDS") },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"), NULL },
    { "release-cgroup", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &release_cgroup,
      "Switch the cgroup controllers below the unit off (the unit's ExecStartPre)", NULL },
    { NULL }
  };

  /* Each filtered-network connection holds two fds, each sandbox a few more: lift
   * the soft limit to the hard one, as systemd does for services. */
  {
    struct rlimit rl;

    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
      {
        rl.rlim_cur = rl.rlim_max;
        setrlimit (RLIMIT_NOFILE, &rl);
      }
  }

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context, _("The claude-sandbox session service."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("claude-sandbox-service: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (version)
    {
      g_print ("claude-sandbox-service %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }

  if (release_cgroup)
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

  settings = load_settings ();
  if (settings != NULL)
    idle_timeout_s = g_settings_get_uint (settings, "idle-timeout");
  if (idle_arg > 0)
    idle_timeout_s = idle_arg;
  /* Before any sandbox is started or taken over: the service's own cgroup leaf, and
   * the limits of running sandboxes back if a restart cleared them. */
  csb_cgroup_init (settings);

  main_loop = g_main_loop_new (NULL, FALSE);
  manager = csb_manager_new (settings);
  g_signal_connect (manager, "notify::busy", G_CALLBACK (on_busy_changed), NULL);

  g_unix_signal_add (SIGTERM, on_signal_quit, NULL);
  g_unix_signal_add (SIGINT, on_signal_quit, NULL);

  owner_id = g_bus_own_name (G_BUS_TYPE_SESSION, CSB_BUS_NAME,
                             G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT |
                             (replace ? G_BUS_NAME_OWNER_FLAGS_REPLACE : 0),
                             on_bus_acquired, on_name_acquired, on_name_lost, NULL, NULL);

  g_main_loop_run (main_loop);

  g_bus_unown_name (owner_id);
  csb_manager_unexport (manager);
  g_clear_object (&manager);
  g_main_loop_unref (main_loop);
  return exit_status;
}
