/* csb-cli-common.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "csb-cli-common.h"


void
csb_cli_print_error (const char *format,
                     ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_printerr ("claude-sandbox: %s\n", message);
}

/* Says what the user can do about the bus errors that mean "no service here";
 * anything else is the service's own message, which already does. */
void
csb_cli_print_dbus_error (GError *error)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (error);

  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
    {
      csb_cli_print_error (_("the claude-sandbox service (%s) is not installed: the session "
                             "bus does not know how to start it.\n"
                             "Install claude-sandbox, which puts %s.service into "
                             "/usr/share/dbus-1/services; if you installed it under another "
                             "prefix, add that prefix's share folder to XDG_DATA_DIRS and log "
                             "in again."),
                           CSB_BUS_NAME, CSB_BUS_NAME);
      return;
    }
  if (remote != NULL && g_str_has_prefix (remote, "org.freedesktop.DBus.Error.Spawn."))
    {
      g_dbus_error_strip_remote_error (error);
      csb_cli_print_error (_("the claude-sandbox service failed to start: %s\n"
                             "See its log with: journalctl --user -u claude-sandbox"),
                           error->message);
      return;
    }
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    {
      csb_cli_print_error (_("the claude-sandbox service did not answer; see its log with: "
                             "journalctl --user -u claude-sandbox"));
      return;
    }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    {
      /* Over --host: ssh or the remote bridge went away. */
      csb_cli_print_error (_("lost the connection to the service: %s"), error->message);
      return;
    }
  g_dbus_error_strip_remote_error (error);
  csb_cli_print_error ("%s", error->message);
}

gboolean
csb_cli_state_has_ended (const char *state)
{
  return g_strcmp0 (state, "exited") == 0 || g_strcmp0 (state, "failed") == 0;
}

int
csb_cli_print_json (JsonBuilder *builder)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (builder);
  g_autofree char *text = NULL;

  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, NULL);
  g_print ("%s\n", text);
  return EXIT_SUCCESS;
}
