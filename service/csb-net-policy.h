/* csb-net-policy.h — which hosts a sandbox with a filtered network may reach.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  CSB_NET_DENY = 0,
  CSB_NET_ALLOW,         /* matched a pattern: public addresses only */
  CSB_NET_ALLOW_EXACT,   /* named exactly: private addresses too (a local service) */
} CsbNetVerdict;

typedef struct _CsbNetPolicy CsbNetPolicy;

CsbNetPolicy  *csb_net_policy_new             (void);
CsbNetPolicy  *csb_net_policy_ref             (CsbNetPolicy       *self);
void           csb_net_policy_unref           (CsbNetPolicy       *self);
gboolean       csb_net_policy_add_allow       (CsbNetPolicy       *self,
                                               const char         *pattern,
                                               GError            **error);
gboolean       csb_net_policy_add_deny        (CsbNetPolicy       *self,
                                               const char         *pattern,
                                               GError            **error);
GStrv          csb_net_policy_dup_allow       (CsbNetPolicy       *self);
CsbNetVerdict  csb_net_policy_check_host      (CsbNetPolicy       *self,
                                               const char         *host);
gboolean       csb_net_address_is_public      (GInetAddress       *address);
gboolean       csb_net_address_is_host_own    (GInetAddress       *address);
gboolean       csb_net_pattern_validate       (const char         *pattern,
                                               GError            **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbNetPolicy, csb_net_policy_unref)

G_END_DECLS
