/* csb-cgroup.h — each bwrap sandbox in a cgroup of its own, with pids.max and a
 * memory limit, where the service has a delegated (writable) cgroup.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Finds the cgroup the service may make sandbox cgroups in, once; on cgroup v2
 * moves the service into a leaf (<unit>/service) and enables the pids and memory
 * controllers below its unit, then gives every existing sandbox cgroup the limits of
 * @settings again (a restart may have cleared them). Blocking: small file writes. */
void     csb_cgroup_init             (GSettings   *settings);

/* Makes the cgroup(s) of sandbox @id with the limits of @settings; returns the
 * folders its first process must join (none without delegation) and adds to
 * @protections what holds: "pids-limit", "memory-limit", or "no-resource-limits". */
GStrv    csb_cgroup_create_sandbox   (const char  *id,
                                      GSettings   *settings,
                                      GPtrArray   *protections);

/* Moving a process into a cgroup takes the kernel's global cgroup_threadgroup_rwsem
 * for writing, whose first writer waits for an RCU grace period (5-20 ms on a busy
 * machine; the writers that follow within a grace period or so do not). The sandbox's
 * first process joins its cgroup before it runs bwrap, so that wait was on every
 * launch's path. This starts, in a thread of its own, moves of the service into the
 * cgroup it is already in, every 2 ms until csb_cgroup_warm_up_end (or 2 s), every
 * 0.5 ms for 30 ms after csb_cgroup_warm_up_join_soon (a grace period on an idle
 * machine is shorter than 2 ms): they change nothing, the first pays the grace period
 * while the launch goes on, and the ones after keep the fast path on however long
 * the launch takes to get to the sandbox's own join, which is then quick. Call it as
 * a launch begins, after csb_cgroup_create_sandbox (a move holds cgroup_mutex while
 * it waits, which mkdir needs too), csb_cgroup_warm_up_join_soon as the monitor is
 * spawned, and csb_cgroup_warm_up_end once the sandbox has joined (or failed to), if
 * it returned TRUE. Nothing to do without delegated cgroups (FALSE). */
gboolean csb_cgroup_warm_up          (void);
void     csb_cgroup_warm_up_join_soon (void);
void     csb_cgroup_warm_up_end      (void);

/* Removes sandbox @id's cgroup(s) once its processes are gone (best effort; waits
 * up to two seconds for them to go: call it from a worker thread). */
void     csb_cgroup_remove_sandbox   (const char  *id);
/* The same in a thread of its own (it may wait for the kernel), not waited for. */
void     csb_cgroup_remove_sandbox_later (const char *id);

/* What sandbox @id's cgroup v2 holds now: CPU time (cpu.stat usage_usec) and, where
 * their controllers are on, memory.current and pids.current (else G_MAXUINT64 and
 * G_MAXUINT). FALSE when it has no cgroup v2 of its own. Blocking: small reads. */
gboolean csb_cgroup_read_usage       (const char  *id,
                                      guint64     *cpu_us,
                                      guint64     *memory_bytes,
                                      guint       *processes);

/* The controllers off below the unit before systemd < 254 restarts the service. */
gboolean csb_cgroup_release          (GError     **error);

/* What the settings give a sandbox: pids.max (0 for none) and memory bytes. */
guint    csb_cgroup_pids_max         (GSettings   *settings);
guint64  csb_cgroup_memory_max       (GSettings   *settings);

G_END_DECLS
