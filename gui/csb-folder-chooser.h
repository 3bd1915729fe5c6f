/* csb-folder-chooser.h — choose a project folder: the FileChooser portal with
 * its "directory" option (libportal 0.6 cannot ask for folders), else
 * GtkFileChooserNative when no portal is on the bus.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

void   csb_folder_chooser_choose_async  (GtkWindow           *parent,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data);
/* NULL with G_IO_ERROR_CANCELLED when the user closed the dialog. */
GFile *csb_folder_chooser_choose_finish (GAsyncResult        *result,
                                         GError             **error);

G_END_DECLS
