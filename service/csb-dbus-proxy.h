/* csb-dbus-proxy.h — a filtering xdg-dbus-proxy for one sandbox's session bus.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "csb-argv.h"

G_BEGIN_DECLS

/* The app id the sandbox has on the session bus: what portals see in the proxy's
 * /.flatpak-info, with csb_dbus_proxy_instance_id() of the sandbox's id as instance. */
#define CSB_DBUS_PROXY_APP_ID "org.example.ClaudeSandbox.Sandbox"

/* The proxy's readiness: the byte it writes on its sync pipe once its socket listens. */
#define CSB_DBUS_PROXY_READY_TIMEOUT_MS 10000

/* The proxy's command line (its bwrap, argv[0]) with the fds it takes (its arguments,
 * its /.flatpak-info, its pipe's write end); *@out_sync_fd is the pipe's read end, on
 * which it says it is ready and whose closing ends it. NULL (@error set) if the proxy
 * or bwrap is missing. */
CsbArgv *csb_dbus_proxy_command (const char         *upstream_address,
                                 const char         *socket_path,
                                 const char * const *talk,
                                 const char         *instance_id,
                                 gboolean            network,
                                 int                *out_sync_fd,
                                 GError            **error);
gboolean csb_dbus_proxy_spawn (const char         *upstream_address,
                               const char         *socket_path,
                               const char * const *talk,
                               const char         *instance_id,
                               gboolean            network,
                               GPid               *out_pid,
                               int                *out_sync_fd,
                               GError            **error);
char    *csb_dbus_proxy_not_ready_message (const char *upstream_address);
char    *csb_dbus_proxy_instance_id       (const char *sandbox_id);
char    *csb_dbus_proxy_make_instance_dir (const char *runtime_dir,
                                           const char *instance_id,
                                           GError    **error);
gboolean csb_dbus_proxy_start (const char         *upstream_address,
                               const char         *socket_path,
                               const char * const *talk,
                               const char         *instance_id,
                               gboolean            network,
                               GPid               *out_pid,
                               int                *out_sync_fd,
                               GError            **error);

G_END_DECLS
