/* csb-connections.h — the sandbox services of other machines, over ssh.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "csb-dbus.h"

G_BEGIN_DECLS

#define CSB_TYPE_CONNECTIONS (csb_connections_get_type ())
G_DECLARE_FINAL_TYPE (CsbConnections, csb_connections, CSB, CONNECTIONS, GtkBox)

/* Reads and follows the "connections" key of @settings; connects to each. */
void      csb_connections_set_settings (CsbConnections *self,
                                        GSettings      *settings);
guint     csb_connections_get_n        (CsbConnections *self);
/* Adds @host to the list (a clear error if it is no USER@HOST) and connects. */
gboolean  csb_connections_add          (CsbConnections *self,
                                        const char     *host,
                                        GError        **error);
void      csb_connections_remove       (CsbConnections *self,
                                        const char     *host);
/* Connects again (or for the first time) and says how it went in the status. */
void      csb_connections_test         (CsbConnections *self,
                                        const char     *host);
/* For tests: the status line of @host ("Connected — 2 sandboxes", or why not),
 * and the group of its sandboxes. */
const char *csb_connections_get_status (CsbConnections *self,
                                        const char     *host);
GtkWidget  *csb_connections_get_group  (CsbConnections *self,
                                        const char     *host);
guint       csb_connections_get_n_sandboxes (CsbConnections *self,
                                             const char     *host);
/* The entry for a folder there (to start a sandbox on), with its completion. */
GtkWidget  *csb_connections_get_folder_entry (CsbConnections *self,
                                              const char     *host);
/* The terminal (a CsbTerminalPage in a tab) of @host's sandbox at @object_path, or NULL. */
GtkWidget  *csb_connections_get_terminal (CsbConnections *self,
                                          const char     *host,
                                          const char     *object_path);
/* The rows (CsbSandboxRow) of @host's sandboxes: free the list, not its rows. */
GList      *csb_connections_get_rows   (CsbConnections *self,
                                        const char     *host);

G_END_DECLS
