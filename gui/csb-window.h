/* csb-window.h — the main window: start page, the list of sandboxes, terminals.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "csb-application.h"

G_BEGIN_DECLS

#define CSB_TYPE_WINDOW (csb_window_get_type ())

G_DECLARE_FINAL_TYPE (CsbWindow, csb_window, CSB, WINDOW, AdwApplicationWindow)

CsbWindow  *csb_window_new            (CsbApplication      *application);
/* Shows @project_dir with its saved options on the start page. */
void        csb_window_select_folder  (CsbWindow           *self,
                                       const char          *project_dir);
/* Starts a sandbox on @project_dir with its saved options (or the defaults)
 * and shows its terminal; errors become toasts too. */
void        csb_window_launch_async   (CsbWindow           *self,
                                       const char          *project_dir,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data);
/* The object path of the new sandbox. */
char       *csb_window_launch_finish  (CsbWindow           *self,
                                       GAsyncResult        *result,
                                       GError             **error);
/* Opens (or shows) the terminal of the sandbox at @object_path. */
void        csb_window_show_sandbox   (CsbWindow           *self,
                                       const char          *object_path);
void        csb_window_add_toast      (CsbWindow           *self,
                                       const char          *message);

/* A handle of @window (any GtkWindow: a dialog's parent) for portals ("x11:…",
 * "wayland:…", or ""), asynchronously. */
void        csb_window_export_handle_async  (GtkWindow           *window,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
char       *csb_window_export_handle_finish (GAsyncResult        *result);

/* For the tests: what the window shows. */
GtkWidget  *csb_window_get_launch_page   (CsbWindow       *self);
GtkWidget  *csb_window_find_row          (CsbWindow       *self,
                                          const char      *object_path);
GtkWidget  *csb_window_find_terminal     (CsbWindow       *self,
                                          const char      *object_path);
const char *csb_window_get_visible_page  (CsbWindow       *self);
/* The service stopped while sandboxes ran: the status page and bar show it. */
gboolean    csb_window_get_service_lost  (CsbWindow       *self);
guint       csb_window_get_n_rows        (CsbWindow       *self);
/* The open question (AdwMessageDialog) before closing a tab or the window, or NULL. */
GtkWidget  *csb_window_get_question      (CsbWindow       *self);
/* The other machines' sandboxes, and the list of connections. */
struct _CsbConnections *csb_window_get_connections (CsbWindow *self);

G_END_DECLS
