/* csb-user-net.h — "network on" for a bwrap sandbox: its own network namespace,
 * given a user-mode stack (pasta, else slirp4netns) that reaches the internet and
 * the LAN through the host's sockets but never the host's loopback, so host-only
 * services (127.0.0.1, abstract unix sockets) stay out of reach.
 *
 * The service picks the stack and the sandbox's resolv.conf; the monitor makes the
 * namespace before bwrap and attaches the stack to it, before bwrap runs the
 * command.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <sys/types.h>

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  CSB_USER_NET_PASTA,
  CSB_USER_NET_SLIRP4NETNS,
} CsbUserNetKind;

/* How long the monitor waits for the stack to be up. */
#define CSB_USER_NET_READY_TIMEOUT_MS 8000

const char *csb_user_net_kind_name      (CsbUserNetKind  kind);
gboolean    csb_user_net_kind_from_name (const char     *name,
                                         CsbUserNetKind *out_kind);

/* pasta (Debian's passt), else slirp4netns, from PATH; $CSB_USER_NET ("pasta",
 * "slirp4netns", "none") picks one, for tests. FALSE with a message that says
 * what to install. */
gboolean    csb_user_net_find           (CsbUserNetKind *out_kind,
                                         char          **out_path,
                                         GError        **error);

/* The resolv.conf the sandbox needs, written into @runtime_dir, or NULL when the
 * host's does (its name servers are reachable as they are). The stack cannot reach
 * a resolver on the host's loopback (systemd-resolved's 127.0.0.53, say): then the
 * upstream servers systemd-resolved lists are used. slirp4netns answers DNS itself
 * at 10.0.2.3. */
char       *csb_user_net_resolv_conf    (CsbUserNetKind  kind,
                                         const char     *host_resolv_conf,
                                         const char     *runtime_dir,
                                         GError        **error);

/* The stack's command line: it finds the namespace and its owner at descriptors
 * @netns_fd and @userns_fd, and says it is up on @ready_fd. */
GStrv       csb_user_net_build_argv     (CsbUserNetKind  kind,
                                         const char     *path,
                                         gboolean        as_root,
                                         int             netns_fd,
                                         int             userns_fd,
                                         int             ready_fd);

/* As csb_user_net_resolv_conf, with systemd-resolved's list of upstream servers at
 * @upstream_resolv_conf (for tests). */
char       *csb_user_net_resolv_conf_full (CsbUserNetKind  kind,
                                           const char     *host_resolv_conf,
                                           const char     *upstream_resolv_conf,
                                           const char     *runtime_dir,
                                           GError        **error);

/* In the monitor's child, right before it runs bwrap (--share-net): a user
 * namespace and a network namespace of the sandbox's own, the user and group
 * mapped to themselves. Async-signal-safe. 0, or -1 with errno. */
int         csb_user_net_unshare        (void);

/* In the monitor: starts the stack on the network namespace of @pid (bwrap's,
 * made by csb_user_net_unshare; refused if it is the monitor's own), returning at
 * once. The stack is our child, and dies with us (SIGKILL on our death) or when
 * killed. Returns its pid and *@out_ready_fd for csb_user_net_wait(), or 0 with
 * @error set. */
GPid        csb_user_net_spawn          (CsbUserNetKind  kind,
                                         const char     *path,
                                         pid_t           pid,
                                         int            *out_ready_fd,
                                         GError        **error);

/* The same on the network namespace at @netns_fd, owned by the user namespace at
 * @userns_fd (both left open: the stack gets copies). */
GPid        csb_user_net_spawn_on       (CsbUserNetKind  kind,
                                         const char     *path,
                                         int             netns_fd,
                                         int             userns_fd,
                                         int            *out_ready_fd,
                                         GError        **error);
/* For a monitor made ahead of its launch (csb-monitor-spare.h): a user namespace
 * and a network namespace as csb_user_net_unshare makes them, made by a short-lived
 * child and kept by descriptor (close-on-exec). Not for a threaded process (it
 * forks). */
gboolean    csb_user_net_make_ahead     (int            *out_userns_fd,
                                         int            *out_netns_fd,
                                         GError        **error);
/* In the monitor's child, right before it runs bwrap: joins the namespaces made
 * ahead instead of making new ones. Async-signal-safe. 0, or -1 with errno. */
int         csb_user_net_enter          (int             userns_fd,
                                         int             netns_fd);
/* Waits until the stack @child has configured the namespace; closes @ready_fd. On
 * failure the stack is killed and reaped, and @error says why. */
gboolean    csb_user_net_wait           (CsbUserNetKind  kind,
                                         GPid            child,
                                         int             ready_fd,
                                         GError        **error);

G_END_DECLS
