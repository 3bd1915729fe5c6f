/* csb-manager.h — org.example.ClaudeSandbox.Manager and the object manager.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "csb-dbus.h"
#include "csb-names.h"

G_BEGIN_DECLS

#define CSB_TYPE_MANAGER (csb_manager_get_type ())
G_DECLARE_FINAL_TYPE (CsbManager, csb_manager, CSB, MANAGER, CsbDBusManagerSkeleton)

CsbManager *csb_manager_new      (GSettings       *settings);
gboolean    csb_manager_export   (CsbManager      *self,
                                  GDBusConnection *connection,
                                  GError         **error);
void        csb_manager_unexport (CsbManager      *self);
gboolean    csb_manager_is_busy  (CsbManager      *self);
void        csb_manager_adopt_sandboxes (CsbManager *self);

G_END_DECLS
