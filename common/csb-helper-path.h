/* csb-helper-path.h: where the service finds the programs and module it runs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

char *csb_helper_path (const char *env_name,
                       const char *name,
                       GError    **error);

G_END_DECLS
