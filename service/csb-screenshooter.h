/* csb-screenshooter.h — weston's screenshooter client, confined, for Screenshot().
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

GSubprocess *csb_screenshooter_spawn (const char *display_dir,
                                      const char *socket,
                                      const char *out_dir,
                                      GError    **error);

G_END_DECLS
