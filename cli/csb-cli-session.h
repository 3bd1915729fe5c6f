/* csb-cli-session.h — following a launched or attached sandbox until it ends.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "csb-dbus.h"

G_BEGIN_DECLS

int csb_cli_run_interactive  (CsbDBusSandbox *sandbox,
                              const char     *id,
                              gboolean        raw);
int csb_cli_run_with_stdio   (CsbDBusSandbox *sandbox,
                              const char     *id,
                              int             stderr_pipe,
                              gboolean        raw);

G_END_DECLS
