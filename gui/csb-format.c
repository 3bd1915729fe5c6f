/* csb-format.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "csb-error.h"
#include "csb-format.h"
#include "csb-protections.h"

const char *
csb_format_state (const char *state)
{
  if (g_strcmp0 (state, "starting") == 0)
    return _("Starting");
  if (g_strcmp0 (state, "running") == 0)
    return _("Running");
  if (g_strcmp0 (state, "stopping") == 0)
    return _("Stopping");
  if (g_strcmp0 (state, "exited") == 0)
    return _("Exited");
  if (g_strcmp0 (state, "failed") == 0)
    return _("Failed");
  return state != NULL ? state : "";
}

const char *
csb_format_backend (const char *backend)
{
  if (g_strcmp0 (backend, "bwrap") == 0)
    return _("Namespaces");
  if (g_strcmp0 (backend, "vm") == 0)
    return _("Virtual machine");
  if (g_strcmp0 (backend, "container") == 0)
    return _("Container");
  return backend != NULL ? backend : "";
}

const char *
csb_format_protection (const char *protection)
{
  /* The service's table (common/csb-protections.c) holds the sentences, marked
   * for translation there; an unknown name (a newer service) shows as it is. */
  const char *text = csb_protection_get_description (protection);

  return text != NULL ? _(text) : protection;
}

char *
csb_format_protections (const char * const *protections)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; protections != NULL && protections[i] != NULL; i++)
    {
      if (text->len > 0)
        g_string_append_c (text, '\n');
      g_string_append (text, "• ");
      g_string_append (text, csb_format_protection (protections[i]));
    }
  if (text->len == 0)
    g_string_append (text, _("None reported"));
  return g_string_free (text, FALSE);
}

char *
csb_format_uptime (guint64 started_at)
{
  gint64 now = g_get_real_time ();
  gint64 seconds = started_at > 0 && (gint64) started_at < now ? (now - (gint64) started_at) / G_USEC_PER_SEC : 0;

  if (seconds < 60)
    /* Translators: a duration, in seconds */
    return g_strdup_printf (_("%d s"), (int) seconds);
  if (seconds < 3600)
    /* Translators: a duration, in minutes */
    return g_strdup_printf (_("%d min"), (int) (seconds / 60));
  /* Translators: a duration, in hours and minutes */
  return g_strdup_printf (_("%d h %d min"), (int) (seconds / 3600), (int) (seconds % 3600 / 60));
}

char *
csb_format_path (const char *path)
{
  const char *home = g_get_home_dir ();
  g_autofree char *display = NULL;
  gsize home_len;

  if (path == NULL)
    return g_strdup ("");
  display = g_filename_display_name (path);
  home_len = home != NULL ? strlen (home) : 0;
  if (home_len > 1 && g_str_has_prefix (path, home) && (path[home_len] == '/' || path[home_len] == '\0'))
    return g_strconcat ("~", display + home_len, NULL);
  return g_steal_pointer (&display);
}

char *
csb_format_exit (int status)
{
  if (status == 0)
    return g_strdup (_("It exited normally."));
  /* SIGHUP, SIGINT, SIGKILL, SIGTERM: what a stop sends. */
  if (status == 128 + 1 || status == 128 + 2 || status == 128 + 9 || status == 128 + 15)
    return g_strdup (_("It was stopped."));
  if (status > 128)
    /* Translators: %s is the name of a signal, such as "Segmentation fault" */
    return g_strdup_printf (_("It ended abnormally (%s)."), g_strsignal (status - 128));
  return g_strdup_printf (_("It exited with status %d."), status);
}

char *
csb_format_sandbox_title (const char         *name,
                          const char         *project_dir,
                          const char * const *command)
{
  static const char * const shells[] = { "sh", "bash", "dash", "zsh", "fish", "ksh", "mksh",
                                          "tcsh", "csh", "nu", "elvish", "xonsh", NULL };
  g_autofree char *folder = project_dir ? g_path_get_basename (project_dir) : NULL;
  g_autofree char *program = NULL;
  GString *text;

  /* A name the user gave (the name option) says it best. */
  if (name != NULL && *name != '\0' && g_strcmp0 (name, folder) != 0)
    return g_strdup (name);
  if (command == NULL || command[0] == NULL)
    return g_strdup (_("Claude"));
  program = g_path_get_basename (command[0]);
  if (g_str_equal (program, "claude"))
    return g_strdup (_("Claude"));
  if (g_strv_contains (shells, program) && (command[1] == NULL || g_str_equal (command[1], "-l")))
    return g_strdup (_("Shell"));

  text = g_string_new (program);
  for (guint i = 1; command[i] != NULL && text->len < 40; i++)
    {
      g_string_append_c (text, ' ');
      g_string_append (text, command[i]);
    }
  if (text->len > 40)
    {
      /* Cut at a character, not inside one. */
      const char *end = g_utf8_find_prev_char (text->str, text->str + 40);

      g_string_truncate (text, end ? (gsize) (end - text->str) : 40);
      g_string_append (text, "…");
    }
  return g_string_free (text, FALSE);
}

gboolean
csb_format_needs_admin (const char *message)
{
  static const char * const words[] = { "polkit", "authoris", "authoriz", "not authorized",
                                         "permission denied", "access denied", NULL };
  g_autofree char *lower = message ? g_utf8_strdown (message, -1) : NULL;

  for (guint i = 0; lower != NULL && words[i] != NULL; i++)
    if (strstr (lower, words[i]) != NULL)
      return TRUE;
  return FALSE;
}

char *
csb_format_failure (const char *error)
{
  if (csb_format_needs_admin (error))
    return g_strdup (_("Needs administrator permission. Ask an administrator to allow "
                       "containers for you."));
  return g_strdup (_("It could not be set up."));
}

char *
csb_format_error (const GError *error)
{
  g_autoptr(GError) copy = NULL;

  /* The bus's own words name .service files: say it for people. */
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND))
    return g_strdup (_("The sandbox service is not installed. Install claude-sandbox "
                       "completely (its service, claude-sandbox-service, with it), then try "
                       "again."));
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_CHILD_EXITED) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_CHILD_SIGNALED) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_EXEC_FAILED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    return g_strdup (_("The sandbox service stopped or could not start. Try again; if it "
                       "keeps failing, see “journalctl --user -u claude-sandbox”."));

  /* The service's own words are English and for developers: the app says it in the
   * user's language, and keeps those words for the details. */
  if (error->domain == CSB_ERROR && g_dbus_error_is_remote_error (error))
    {
      switch ((CsbError) error->code)
        {
        case CSB_ERROR_INVALID_ARGUMENT:
          return g_strdup (_("The sandbox service cannot use these settings."));
        case CSB_ERROR_NOT_FOUND:
          return g_strdup (_("The sandbox service no longer knows this sandbox."));
        case CSB_ERROR_BACKEND_UNAVAILABLE:
          if (csb_format_needs_admin (error->message))
            return g_strdup (_("This isolation level needs administrator permission. Ask an "
                               "administrator to allow containers for you."));
          return g_strdup (_("This isolation level cannot run on this computer."));
        case CSB_ERROR_NOT_RUNNING:
          return g_strdup (_("The sandbox is not running any more."));
        case CSB_ERROR_FAILED:
        default:
          return g_strdup (_("The sandbox could not be started."));
        }
    }

  copy = g_error_copy (error);
  g_dbus_error_strip_remote_error (copy);
  return g_steal_pointer (&copy->message);
}

char *
csb_format_error_details (const GError *error)
{
  g_autoptr(GError) copy = NULL;

  if (!g_dbus_error_is_remote_error (error))
    return NULL;
  copy = g_error_copy (error);
  g_dbus_error_strip_remote_error (copy);
  return g_steal_pointer (&copy->message);
}
