/* csb-sandbox.h — one sandbox on the bus: its properties, its terminal, its backend.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "csb-backend.h"
#include "csb-dbus.h"

G_BEGIN_DECLS

#define CSB_TYPE_SANDBOX (csb_sandbox_get_type ())
G_DECLARE_FINAL_TYPE (CsbSandbox, csb_sandbox, CSB, SANDBOX, CsbDBusSandboxSkeleton)

CsbSandbox  *csb_sandbox_new          (CsbSandboxSpec      *spec,
                                       CsbBackend          *backend);
const char  *csb_sandbox_get_id       (CsbSandbox          *self);
gboolean     csb_sandbox_is_active    (CsbSandbox          *self);
void         csb_sandbox_start_async  (CsbSandbox          *self,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data);
gboolean     csb_sandbox_start_finish (CsbSandbox          *self,
                                       GAsyncResult        *result,
                                       GError             **error);

CsbSandbox  *csb_sandbox_adopt        (const char          *state_dir,
                                       GSettings           *settings,
                                       GError             **error);

G_END_DECLS
