/* csb-cli-common.h — what the parts of the claude-sandbox CLI share.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "csb-names.h"

G_BEGIN_DECLS

/* Like podman and docker: scripts can tell "claude-sandbox failed" (125) from
 * "the command failed" (its own status), which is rarely 125. */
#define CSB_CLI_EXIT_FAILED 125
#define CSB_CLI_EXIT_USAGE 2

void     csb_cli_print_error       (const char *format,
                                    ...) G_GNUC_PRINTF (1, 2);
void     csb_cli_print_dbus_error  (GError     *error);
gboolean csb_cli_state_has_ended   (const char *state);
/* Prints @builder's JSON, indented; EXIT_SUCCESS. */
int      csb_cli_print_json        (JsonBuilder *builder);

G_END_DECLS
