/* csb-pin.h — "Pin to App Grid": a launcher for one project, through the
 * Dynamic Launcher portal where the desktop offers it, else a desktop entry
 * under ~/.local/share/applications.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* The desktop file ID of @project_dir's launcher. */
char  *csb_pin_get_desktop_file_id (const char          *project_dir);
/* Its desktop entry, running @executable --launch @project_dir. */
char  *csb_pin_build_desktop_entry (const char          *project_dir,
                                    const char          *name,
                                    const char          *executable);

void   csb_pin_project_async       (GtkWindow           *parent,
                                    const char          *project_dir,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);
/* Where the launcher went: "portal", or the path of the desktop file. */
char  *csb_pin_project_finish      (GAsyncResult        *result,
                                    GError             **error);

G_END_DECLS
