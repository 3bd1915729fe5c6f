/* csb-folder-chooser.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <gtk/gtk.h>

#include "csb-folder-chooser.h"
#include "csb-window.h"

#define PORTAL_NAME "org.freedesktop.portal.Desktop"
#define PORTAL_PATH "/org/freedesktop/portal/desktop"

/* ---- the portal -------------------------------------------------------------------------- */

typedef struct
{
  GtkWindow            *parent;
  GDBusConnection      *connection;
  guint                 response_id;
  char                 *request_path;
  GtkFileChooserNative *native;
} ChooseData;

static void
choose_data_free (ChooseData *data)
{
  if (data->response_id != 0)
    g_dbus_connection_signal_unsubscribe (data->connection, data->response_id);
  g_clear_object (&data->parent);
  g_clear_object (&data->connection);
  g_free (data->request_path);
  if (data->native != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (data->native));
  g_clear_object (&data->native);
  g_free (data);
}

static void
on_native_response (GtkNativeDialog *dialog,
                    int              response,
                    gpointer         user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GFile) file = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
  if (file != NULL)
    g_task_return_pointer (task, g_steal_pointer (&file), g_object_unref);
  else
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("No folder was chosen"));
}

static void
choose_with_gtk (GTask *task)
{
  ChooseData *data = g_task_get_task_data (task);

  data->native = gtk_file_chooser_native_new (_("Choose a Project Folder"), data->parent,
                                              GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                              _("_Choose"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (data->native), TRUE);
  g_signal_connect (data->native, "response", G_CALLBACK (on_native_response),
                    g_object_ref (task));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (data->native));
}

static void
on_portal_response (GDBusConnection *connection,
                    const char      *sender_name,
                    const char      *object_path,
                    const char      *interface_name,
                    const char      *signal_name,
                    GVariant        *parameters,
                    gpointer         user_data)
{
  g_autoptr(GTask) task = g_object_ref (user_data);
  ChooseData *data = g_task_get_task_data (task);
  g_autoptr(GVariant) results = NULL;
  g_autofree const char **uris = NULL;
  guint32 response;

  g_dbus_connection_signal_unsubscribe (connection, data->response_id);
  data->response_id = 0;
  g_variant_get (parameters, "(u@a{sv})", &response, &results);
  if (response == 0 && g_variant_lookup (results, "uris", "^a&s", &uris) && uris[0] != NULL)
    g_task_return_pointer (task, g_file_new_for_uri (uris[0]), g_object_unref);
  else if (response == 1 || response == 0)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("No folder was chosen"));
  else
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED,
                             _("The file chooser failed. Try again, or drop the folder on the window."));
  g_object_unref (task);  /* the subscription's */
}

static void
on_open_file_called (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ChooseData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result,
                                                             &error);
  const char *handle;

  if (reply == NULL)
    {
      /* No portal on this bus (or an old one): ask GTK. */
      g_debug ("FileChooser portal: %s", error->message);
      if (data->response_id != 0)
        {
          g_dbus_connection_signal_unsubscribe (data->connection, data->response_id);
          data->response_id = 0;
          g_object_unref (task);  /* the subscription's */
        }
      choose_with_gtk (task);
      return;
    }
  /* Old portals answer with another request path than the one we asked for. */
  g_variant_get (reply, "(&o)", &handle);
  if (g_strcmp0 (handle, data->request_path) != 0 && data->response_id != 0)
    {
      g_dbus_connection_signal_unsubscribe (data->connection, data->response_id);
      data->response_id = g_dbus_connection_signal_subscribe (data->connection, PORTAL_NAME,
                                                              "org.freedesktop.portal.Request",
                                                              "Response", handle, NULL,
                                                              G_DBUS_SIGNAL_FLAGS_NO_MATCH_RULE,
                                                              on_portal_response, task, NULL);
    }
}

static void
on_parent_exported (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ChooseData *data = g_task_get_task_data (task);
  g_autofree char *parent_handle = csb_window_export_handle_finish (result);
  g_autofree char *token = g_strdup_printf ("csb%u", g_random_int ());
  g_autofree char *sender = g_strdup (g_dbus_connection_get_unique_name (data->connection) + 1);
  GVariantBuilder options;

  for (char *p = sender; *p != '\0'; p++)
    if (*p == '.')
      *p = '_';
  data->request_path = g_strconcat (PORTAL_PATH "/request/", sender, "/", token, NULL);
  /* Subscribed before the call, so a fast answer is not missed. */
  data->response_id = g_dbus_connection_signal_subscribe (data->connection, PORTAL_NAME,
                                                          "org.freedesktop.portal.Request",
                                                          "Response", data->request_path, NULL,
                                                          G_DBUS_SIGNAL_FLAGS_NONE,
                                                          on_portal_response,
                                                          g_object_ref (task), NULL);

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "handle_token", g_variant_new_string (token));
  g_variant_builder_add (&options, "{sv}", "modal", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&options, "{sv}", "directory", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&options, "{sv}", "accept_label", g_variant_new_string (_("_Choose")));
  g_dbus_connection_call (data->connection, PORTAL_NAME, PORTAL_PATH,
                          "org.freedesktop.portal.FileChooser", "OpenFile",
                          g_variant_new ("(ss@a{sv})", parent_handle,
                                         _("Choose a Project Folder"),
                                         g_variant_builder_end (&options)),
                          G_VARIANT_TYPE ("(o)"), G_DBUS_CALL_FLAGS_NONE, -1,
                          g_task_get_cancellable (task), on_open_file_called,
                          g_object_ref (task));
}

void
csb_folder_chooser_choose_async (GtkWindow           *parent,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  ChooseData *data;

  g_return_if_fail (parent == NULL || GTK_IS_WINDOW (parent));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, csb_folder_chooser_choose_async);
  data = g_new0 (ChooseData, 1);
  data->parent = parent ? g_object_ref (parent) : NULL;
  data->connection = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_task_set_task_data (task, data, (GDestroyNotify) choose_data_free);

  if (data->connection == NULL)
    {
      choose_with_gtk (task);
      return;
    }
  csb_window_export_handle_async (parent, on_parent_exported, g_steal_pointer (&task));
}

GFile *
csb_folder_chooser_choose_finish (GAsyncResult *result,
                                  GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
