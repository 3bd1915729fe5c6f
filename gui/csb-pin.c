/* csb-pin.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#ifdef HAVE_LIBPORTAL
#include <libportal/portal.h>
#include <libportal-gtk4/portal-gtk4.h>
#endif

#include "csb-pin.h"

#define PORTAL_NAME "org.freedesktop.portal.Desktop"
#define PORTAL_PATH "/org/freedesktop/portal/desktop"

char *
csb_pin_get_desktop_file_id (const char *project_dir)
{
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, project_dir, -1);

  g_return_val_if_fail (project_dir != NULL, NULL);
  /* The portal wants the app's ID as the prefix. */
  hash[16] = '\0';
  return g_strdup_printf ("%s.Project_%s.desktop", CSB_APP_ID, hash);
}

/* One argument of an Exec line, quoted as the Desktop Entry spec says; the
 * key file quotes it once more as a string value. */
static char *
quote_exec_argument (const char *arg)
{
  GString *quoted = g_string_new ("\"");

  for (const char *p = arg; *p != '\0'; p++)
    {
      if (*p == '"' || *p == '`' || *p == '$' || *p == '\\')
        g_string_append_c (quoted, '\\');
      if (*p == '%')
        g_string_append_c (quoted, '%');
      g_string_append_c (quoted, *p);
    }
  g_string_append_c (quoted, '"');
  return g_string_free (quoted, FALSE);
}

char *
csb_pin_build_desktop_entry (const char *project_dir,
                             const char *name,
                             const char *executable)
{
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autofree char *exec_quoted = quote_exec_argument (executable);
  g_autofree char *dir_quoted = quote_exec_argument (project_dir);
  g_autofree char *exec = g_strdup_printf ("%s --launch %s", exec_quoted, dir_quoted);
  g_autofree char *comment = g_strdup_printf (_("Claude Code in a sandbox on %s"), project_dir);
  g_autofree char *display_dir = g_filename_display_name (project_dir);
  const char *group = G_KEY_FILE_DESKTOP_GROUP;

  g_return_val_if_fail (project_dir != NULL, NULL);

  g_key_file_set_string (key_file, group, G_KEY_FILE_DESKTOP_KEY_TYPE,
                         G_KEY_FILE_DESKTOP_TYPE_APPLICATION);
  g_key_file_set_string (key_file, group, G_KEY_FILE_DESKTOP_KEY_NAME, name);
  g_key_file_set_string (key_file, group, G_KEY_FILE_DESKTOP_KEY_COMMENT, comment);
  g_key_file_set_string (key_file, group, G_KEY_FILE_DESKTOP_KEY_EXEC, exec);
  g_key_file_set_string (key_file, group, G_KEY_FILE_DESKTOP_KEY_ICON, CSB_APP_ID);
  g_key_file_set_boolean (key_file, group, G_KEY_FILE_DESKTOP_KEY_TERMINAL, FALSE);
  g_key_file_set_string (key_file, group, G_KEY_FILE_DESKTOP_KEY_CATEGORIES, "Development;");
  g_key_file_set_boolean (key_file, group, G_KEY_FILE_DESKTOP_KEY_STARTUP_NOTIFY, TRUE);
  g_key_file_set_string (key_file, group, "X-ClaudeSandbox-Project", display_dir);
  return g_key_file_to_data (key_file, NULL, NULL);
}

static char *
app_executable (void)
{
  const char *env = g_getenv ("CSB_APP_EXECUTABLE");

  /* Tests and uninstalled runs point at the binary in the build tree. */
  if (env != NULL && *env != '\0')
    return g_strdup (env);
  return g_build_filename (CSB_BINDIR, "claude-sandbox-app", NULL);
}

typedef struct
{
  char      *project_dir;
  char      *name;
  GtkWindow *parent;
} PinData;

static void
pin_data_free (PinData *data)
{
  g_free (data->project_dir);
  g_free (data->name);
  g_clear_object (&data->parent);
  g_free (data);
}

static void
pin_with_desktop_file (GTask *task)
{
  PinData *data = g_task_get_task_data (task);
  g_autofree char *id = csb_pin_get_desktop_file_id (data->project_dir);
  g_autofree char *executable = app_executable ();
  g_autofree char *entry = csb_pin_build_desktop_entry (data->project_dir, data->name, executable);
  g_autofree char *dir = g_build_filename (g_get_user_data_dir (), "applications", NULL);
  g_autofree char *path = g_build_filename (dir, id, NULL);
  g_autoptr(GError) error = NULL;

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved_errno = errno;
      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                               _("Cannot create the folder “%s”: %s"), dir,
                               g_strerror (saved_errno));
      return;
    }
  if (!g_file_set_contents_full (path, entry, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_pointer (task, g_steal_pointer (&path), g_free);
}

#ifdef HAVE_LIBPORTAL
static void
on_prepare_install (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  PinData *data = g_task_get_task_data (task);
  XdpPortal *portal = XDP_PORTAL (source);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = xdp_portal_dynamic_launcher_prepare_install_finish (portal, result,
                                                                                  &error);
  g_autofree char *id = csb_pin_get_desktop_file_id (data->project_dir);
  g_autofree char *executable = app_executable ();
  g_autofree char *entry = NULL;
  const char *name = data->name;
  const char *token;

  if (reply == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_variant_lookup (reply, "name", "&s", &name);
  if (!g_variant_lookup (reply, "token", "&s", &token))
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED,
                               _("The launcher portal gave no token"));
      return;
    }
  entry = csb_pin_build_desktop_entry (data->project_dir, name, executable);
  if (!xdp_portal_dynamic_launcher_install (portal, token, id, entry, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_pointer (task, g_strdup ("portal"), g_free);
}

static void
on_portal_version (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  PinData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result,
                                                             &error);
  g_autoptr(XdpPortal) portal = NULL;
  g_autoptr(GBytes) icon_bytes = NULL;
  g_autoptr(GIcon) icon = NULL;
  g_autoptr(GVariant) icon_v = NULL;
  XdpParent *parent;

  if (reply == NULL)
    {
      /* No Dynamic Launcher portal here: write the entry ourselves. */
      g_debug ("DynamicLauncher portal: %s", error->message);
      pin_with_desktop_file (task);
      return;
    }

  icon_bytes = g_resources_lookup_data ("/org/example/ClaudeSandbox/App/icons/scalable/apps/"
                                        CSB_APP_ID ".svg", G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  g_assert (icon_bytes != NULL);
  icon = g_bytes_icon_new (icon_bytes);
  icon_v = g_icon_serialize (icon);
  portal = xdp_portal_new ();
  parent = data->parent ? xdp_parent_new_gtk (data->parent) : NULL;
  xdp_portal_dynamic_launcher_prepare_install (portal, parent, data->name, icon_v,
                                               XDP_LAUNCHER_APPLICATION, NULL, TRUE, TRUE,
                                               g_task_get_cancellable (task), on_prepare_install,
                                               g_object_ref (task));
  if (parent != NULL)
    xdp_parent_free (parent);
}
#endif

void
csb_pin_project_async (GtkWindow           *parent,
                       const char          *project_dir,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GDBusConnection) connection = NULL;
  PinData *data;

  g_return_if_fail (project_dir != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, csb_pin_project_async);
  data = g_new0 (PinData, 1);
  data->project_dir = g_strdup (project_dir);
  data->name = g_path_get_basename (project_dir);
  data->parent = parent ? g_object_ref (parent) : NULL;
  g_task_set_task_data (task, data, (GDestroyNotify) pin_data_free);

#ifdef HAVE_LIBPORTAL
  connection = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  if (connection != NULL)
    {
      g_dbus_connection_call (connection, PORTAL_NAME, PORTAL_PATH,
                              "org.freedesktop.DBus.Properties", "Get",
                              g_variant_new ("(ss)", "org.freedesktop.portal.DynamicLauncher",
                                             "version"),
                              G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, -1, cancellable,
                              on_portal_version, g_steal_pointer (&task));
      return;
    }
#endif
  pin_with_desktop_file (task);
}

char *
csb_pin_project_finish (GAsyncResult *result,
                        GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
