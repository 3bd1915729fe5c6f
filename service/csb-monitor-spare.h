/* csb-monitor-spare.h — one sandbox monitor started ahead of the next launch.
 *
 * Starting a monitor costs a launch a fork of the service and the monitor's exec and
 * start (GLib, GIO), and with the network on, the user-mode stack's start (pasta:
 * 20–25 ms of CPU). After a launch, the service starts the next launch's monitor
 * ahead: "claude-sandbox-monitor --spare", which makes the sandbox's user and
 * network namespaces and starts the stack on them if the launch that came before had
 * the network on, then waits. The next bwrap launch hands it its command line and
 * descriptors (csb-spare-job.h) instead of spawning a monitor; bwrap's child joins
 * the namespaces made ahead instead of making its own. The sandbox's D-Bus proxy is
 * started ahead too, as the launch before would have started it (the same bus,
 * talk list, network), by the spare as its child, listening in the sandbox's runtime
 * folder (CSB_MONITOR_SPARE_PROXY_DIR); a launch that would start another ends it.
 *
 * A spare is used once and holds nothing of any sandbox before its launch. One with a
 * network made ahead is dropped (killed, with its stack) after
 * CSB_MONITOR_SPARE_MAX_AGE_S unused, so that no launch gets a network set up from a
 * host network older than that, and one without takes its place. It ends with the
 * service too (which exits when idle): its socket closes. $CSB_MONITOR_SPARE=0 turns
 * spares off.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "csb-argv.h"

G_BEGIN_DECLS

#define CSB_MONITOR_SPARE_MAX_AGE_S 60
/* The folder of the sandbox's runtime folder a proxy made ahead listens in (a launch's
 * own proxy listens in "dbus"). */
#define CSB_MONITOR_SPARE_PROXY_DIR "dbus-ahead"

/* What a sandbox's D-Bus proxy is started with: its session bus (NULL: none), the names
 * it may talk to, whether the sandbox has the network. */
typedef struct
{
  const char         *bus_address;
  const char * const *talk;
  gboolean            network;
} CsbSpareProxy;

/* For a bwrap launch (in the manager, as its id is chosen): the id the spare is for,
 * whose cgroups it has joined (its bwrap process has), if there is a spare nobody has
 * claimed and no sandbox in @taken has that id; else NULL, and the launch gets an id
 * of its own. */
char    *csb_monitor_spare_claim_id  (GHashTable          *taken);
/* Whether the spare is claimed by sandbox @id (its launch need not warm the cgroups
 * up: its bwrap process is in them). */
gboolean csb_monitor_spare_claimed_by (const char         *id);
/* For the launch of sandbox @id, which claimed the spare: the proxy made ahead, if it
 * was started with @proxy's values: the read end of its ready pipe (closing it ends the
 * proxy) and its socket; else FALSE, and one made ahead with other values is ended. */
gboolean csb_monitor_spare_take_proxy (const char          *id,
                                       const CsbSpareProxy *proxy,
                                       int                 *out_sync_fd,
                                       char               **out_socket_path);
/* A launch that claimed the spare failed before it was spawned: the spare is ended. */
void     csb_monitor_spare_release   (const char          *id);

/* Spawns @outer (the monitor's command line and fds; @outer->argv[0] the monitor) as
 * g_spawn_async_with_pipes_and_fds() would with @envp, or hands it to the spare when
 * sandbox @id claimed it. *@out_pid is our child either way. */
gboolean csb_monitor_spare_spawn     (CsbArgv             *outer,
                                      const char * const  *envp,
                                      const char          *id,
                                      GPid                *out_pid,
                                      GError             **error);

/* After a launch: starts a spare (after REPLENISH_DELAY_MS) unless there is one, with
 * its network made ahead if @user_net (and @user_net_program) name the stack that
 * launch used, for a new sandbox id whose cgroups (with @settings' limits) it joins
 * ahead, and a D-Bus proxy started with @proxy's values (if it names a bus).
 * Failures are logged only. */
void     csb_monitor_spare_replenish (const char          *monitor,
                                      const char * const  *envp,
                                      const char          *user_net,
                                      const char          *user_net_program,
                                      GSettings           *settings,
                                      const CsbSpareProxy *proxy);

/* The service ends: the spare is ended, with what it made ahead, its runtime folder
 * and the cgroups made for it. (The spare of a service killed outright, or one being
 * started as it ends, ends by itself, its socket closed, but leaves those folders.) */
void     csb_monitor_spare_shutdown  (void);

G_END_DECLS
