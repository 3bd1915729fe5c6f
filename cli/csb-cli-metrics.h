/* csb-cli-metrics.h — claude-sandbox --metrics: what sandboxes and their machine use.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "csb-dbus.h"

G_BEGIN_DECLS

/* Asks @bus's service for its machine's metrics and each of @sandboxes' (element-type
 * CsbDBusSandbox) and prints them as a table, or as JSON with @json. */
int csb_cli_run_metrics (GDBusConnection *bus,
                         GPtrArray       *sandboxes,
                         gboolean         json);

G_END_DECLS
