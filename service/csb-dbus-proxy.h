/* csb-dbus-proxy.h — a filtering xdg-dbus-proxy for one sandbox's session bus.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The app id the sandbox has on the session bus: what portals see in the proxy's
 * /.flatpak-info, with the sandbox's id as instance. */
#define CSB_DBUS_PROXY_APP_ID "org.example.ClaudeSandbox.Sandbox"

/* The proxy's readiness: the byte it writes on its sync pipe once its socket listens. */
#define CSB_DBUS_PROXY_READY_TIMEOUT_MS 10000

gboolean csb_dbus_proxy_spawn (const char         *upstream_address,
                               const char         *socket_path,
                               const char * const *talk,
                               const char         *instance_id,
                               gboolean            network,
                               GPid               *out_pid,
                               int                *out_sync_fd,
                               GError            **error);
char    *csb_dbus_proxy_not_ready_message (const char *upstream_address);
gboolean csb_dbus_proxy_start (const char         *upstream_address,
                               const char         *socket_path,
                               const char * const *talk,
                               const char         *instance_id,
                               gboolean            network,
                               GPid               *out_pid,
                               int                *out_sync_fd,
                               GError            **error);

G_END_DECLS
