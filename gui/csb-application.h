/* csb-application.h — the app: one connection to the service, the launch
 * logic every entry point shares (window, --launch, pinned launchers), and
 * the notifications.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "csb-dbus.h"
#include "csb-projects.h"

G_BEGIN_DECLS

#define CSB_TYPE_APPLICATION (csb_application_get_type ())

G_DECLARE_FINAL_TYPE (CsbApplication, csb_application, CSB, APPLICATION, AdwApplication)

CsbApplication     *csb_application_new                  (void);
/* The objects of the running instance of the service; NULL while none runs or
 * until its objects are known (see notify::object-manager). A new instance of the
 * service brings a new object manager. */
GDBusObjectManager *csb_application_get_object_manager   (CsbApplication      *self);
gboolean            csb_application_get_service_running  (CsbApplication      *self);
/* The options @sandbox was started with (a{sv}, new reference): as this app
 * started it, else what it says of itself with the project's options. */
GVariant           *csb_application_get_sandbox_options  (CsbApplication      *self,
                                                          CsbDBusSandbox      *sandbox);
/* The user asked @object_path to stop: its end needs no notification. */
void                csb_application_note_stop_requested  (CsbApplication      *self,
                                                          const char          *object_path);
CsbDBusManager     *csb_application_get_manager          (CsbApplication      *self);
GSettings          *csb_application_get_settings         (CsbApplication      *self);
/* The recent projects and their options. */
CsbProjects        *csb_application_get_projects         (CsbApplication      *self);

/* Every option the app sets, from the service's and the app's GSettings. */
GVariant           *csb_application_get_default_options  (CsbApplication      *self);
GVariant           *csb_application_options_for_service  (GVariant            *options,
                                                          gboolean             has_command);
/* Starts a sandbox on @project_dir running @command (NULL or empty: the
 * service's default, or the shell with the "shell" option); without a command,
 * remembers the folder as recent and @options (a{sv}, floating reference
 * taken; NULL: the project's saved options, else the service's defaults) as
 * the project's options. */
void                csb_application_launch_async         (CsbApplication      *self,
                                                          const char          *project_dir,
                                                          const char * const  *command,
                                                          GVariant            *options,
                                                          GCancellable        *cancellable,
                                                          GAsyncReadyCallback  callback,
                                                          gpointer             user_data);
char               *csb_application_launch_finish        (CsbApplication      *self,
                                                          GAsyncResult        *result,
                                                          GError             **error);

/* The active window, or a new one. */
GtkWindow          *csb_application_ensure_window        (CsbApplication      *self);

G_END_DECLS
