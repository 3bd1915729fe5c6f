/* csb-peer.h — who is at the other end of a control socket: the service's side of
 * the host, or something inside a sandbox.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean csb_peer_check_host (int      socket_fd,
                              GError **error);

gboolean csb_peer_check_host_without_peer_pidfd (int      socket_fd,
                                                 GError **error);

G_END_DECLS
