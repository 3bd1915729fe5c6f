/* csb-wayland.h — a sandbox's Wayland connection through the compositor's
 * wp_security_context_v1, as Flatpak attaches its apps'.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The engine name the compositor sees (wayland-protocols' engines list names them). */
#define CSB_WAYLAND_SANDBOX_ENGINE "claude-sandbox"

gboolean csb_wayland_attach_security_context (const char  *display_path,
                                              const char  *listen_path,
                                              const char  *app_id,
                                              const char  *instance_id,
                                              int         *out_hold_fd,
                                              GError     **error);

G_END_DECLS
