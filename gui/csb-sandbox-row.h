/* csb-sandbox-row.h — one sandbox in the list, following its D-Bus properties.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "csb-dbus.h"

G_BEGIN_DECLS

#define CSB_TYPE_SANDBOX_ROW (csb_sandbox_row_get_type ())

G_DECLARE_FINAL_TYPE (CsbSandboxRow, csb_sandbox_row, CSB, SANDBOX_ROW, AdwActionRow)

GtkWidget      *csb_sandbox_row_new            (CsbDBusSandbox *sandbox);
/* A sandbox of a connection's machine: its actions are "remote.*" (the
 * connection's, on the group around it) rather than "win.*". */
GtkWidget      *csb_sandbox_row_new_remote     (CsbDBusSandbox *sandbox);
CsbDBusSandbox *csb_sandbox_row_get_sandbox    (CsbSandboxRow  *self);
/* The same sandbox as a new instance of the service lists it. */
void            csb_sandbox_row_set_sandbox    (CsbSandboxRow  *self,
                                                CsbDBusSandbox *sandbox);
const char     *csb_sandbox_row_get_state_text (CsbSandboxRow  *self);
const char     *csb_sandbox_row_get_changes_badge (CsbSandboxRow *self);
/* The picture of the sandbox's private display in the row, or NULL while none shows. */
GdkTexture     *csb_sandbox_row_get_thumbnail  (CsbSandboxRow  *self);
/* For tests: the button that opens its Changes window. */
GtkWidget      *csb_sandbox_row_get_changes_button (CsbSandboxRow *self);

/* A list of sandboxes (the window's, a connection's): @list shows the rows,
 * the newest first, and @rows finds them by object path (path → row). */
/* A new row for @sandbox ("remote.*" actions if @remote), first in @list. */
GtkWidget      *csb_sandbox_row_list_prepend (GtkListBox     *list,
                                              GHashTable     *rows,
                                              CsbDBusSandbox *sandbox,
                                              gboolean        remote);
/* Takes the row of @object_path out of @list and @rows; FALSE if it had none. */
gboolean        csb_sandbox_row_list_remove  (GtkListBox     *list,
                                              GHashTable     *rows,
                                              const char     *object_path);

G_END_DECLS
