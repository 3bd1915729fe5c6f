/* csb-dbus-proxy.h — a filtering xdg-dbus-proxy for one sandbox's session bus.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean csb_dbus_proxy_start (const char         *upstream_address,
                               const char         *socket_path,
                               const char * const *talk,
                               GPid               *out_pid,
                               int                *out_sync_fd,
                               GError            **error);

G_END_DECLS
