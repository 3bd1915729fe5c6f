/* csb-net-proxy.h — the filtering HTTP CONNECT / HTTP / SOCKS5 proxy of one sandbox.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "csb-net-policy.h"

G_BEGIN_DECLS

#define CSB_TYPE_NET_PROXY (csb_net_proxy_get_type ())
G_DECLARE_FINAL_TYPE (CsbNetProxy, csb_net_proxy, CSB, NET_PROXY, GObject)

CsbNetProxy  *csb_net_proxy_new               (CsbNetPolicy  *policy);
gboolean      csb_net_proxy_listen_unix       (CsbNetProxy   *self,
                                               const char    *socket_path,
                                               GError       **error);
guint16       csb_net_proxy_listen_loopback   (CsbNetProxy   *self,
                                               GError       **error);
void          csb_net_proxy_stop              (CsbNetProxy   *self);
CsbNetPolicy *csb_net_proxy_get_policy        (CsbNetProxy   *self);
guint         csb_net_proxy_get_denied_count  (CsbNetProxy   *self);
guint         csb_net_proxy_get_n_connections (CsbNetProxy   *self);

G_END_DECLS
