/* csb-cli-metrics.h — claude-sandbox --metrics: what sandboxes and their machine use,
 * and the metrics columns of --list.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "csb-dbus.h"

G_BEGIN_DECLS

/* Asks @bus's service for its machine's metrics and each of @sandboxes' (element-type
 * CsbDBusSandbox) and prints them as a table, or as JSON with @json. */
int csb_cli_run_metrics (GDBusConnection *bus,
                         GPtrArray       *sandboxes,
                         gboolean         json);

/* One sandbox's GetMetrics answer, or why there is none. */
typedef struct _CsbCliMetrics CsbCliMetrics;

/* Calls GetMetrics of all @sandboxes (element-type CsbDBusSandbox) at once and waits
 * for every answer: an array of CsbCliMetrics in the same order. */
GPtrArray *csb_cli_get_metrics         (GPtrArray     *sandboxes);
/* The answer's a{sv} (owned by @self), or NULL and @error. */
GVariant  *csb_cli_metrics_get         (CsbCliMetrics *self,
                                        GError       **error);
/* Adds @metrics as the object member @name, keys with "_" for "-" (null for NULL). */
void       csb_cli_add_metrics_member  (JsonBuilder   *builder,
                                        const char    *name,
                                        GVariant      *metrics);

/* The metrics columns of --list, in their order. */
typedef enum
{
  CSB_CLI_METRIC_CPU,
  CSB_CLI_METRIC_MEMORY,
  CSB_CLI_METRIC_PROCESSES,
  CSB_CLI_METRIC_DISK,
  CSB_CLI_METRIC_TURNS,
  CSB_CLI_METRIC_TOKENS,
  CSB_CLI_METRIC_COST,
  CSB_CLI_N_METRICS
} CsbCliMetric;

const char *csb_cli_metric_header         (CsbCliMetric  metric);
/* @metric of @metrics (NULL: the call failed) in a few characters ("12.4s", "34M"), or
 * a dash where it is not known. */
char       *csb_cli_metric_cell           (GVariant     *metrics,
                                           CsbCliMetric  metric);
/* Whether @metrics make @metric's column worth showing: always for the sandbox's own,
 * for Claude's once Claude Code has worked in it (its cost once it recorded one). */
gboolean    csb_cli_metric_worth_a_column (GVariant     *metrics,
                                           CsbCliMetric  metric);

G_END_DECLS
