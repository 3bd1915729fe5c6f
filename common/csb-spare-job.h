/* csb-spare-job.h — how the service hands a launch to a monitor started ahead of it.
 *
 * A spare monitor (service/csb-monitor-spare.c) is started before any launch asks
 * for it, waits on a socket pair with the service, and becomes a launch's monitor
 * when the service sends it the command line and descriptors it would otherwise
 * have been spawned with. One message on a SOCK_SEQPACKET socket:
 *
 *   data:        "CSBJ", then a guint32 N, then N gint32 target numbers
 *   SCM_RIGHTS:  N + 1 descriptors: a memfd with the command line (NUL after each
 *                argument, argv[0] first), then the N descriptors to place at the
 *                target numbers, as g_spawn_async_with_pipes_and_fds() would.
 *
 * Before the launch, a job whose command line starts with "proxy" may come: the rest
 * is the sandbox's D-Bus proxy's command line (its bwrap), which the spare starts at
 * once as its child with the job's fds (csb-monitor.c, spare_start_proxy), so that
 * the launch finds its proxy ready (csb-monitor-spare.h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* SCM_RIGHTS carries at most 253 descriptors; the memfd is one of them. */
#define CSB_SPARE_JOB_MAX_FDS 252

/* Sends the job; FALSE with @error set (the spare is gone, or too many fds). */
gboolean csb_spare_job_send    (int           socket_fd,
                                GBytes       *argv_data,
                                const int    *sources,
                                const int    *targets,
                                guint         n_fds,
                                GError      **error);

/* Waits for the job on @socket_fd; targets below @min_target are refused (3 for a
 * monitor, whose stdio is its own; 0 for a process that gets its stdio so). Every
 * descriptor in @keep (pointers to our own
 * fds, NULL-terminated; -1 entries skipped) that sits at a target number is moved
 * above the targets first (close-on-exec, the pointer updated); then each received
 * descriptor is placed at its target (not close-on-exec), and @out_targets (if not
 * NULL) gets those numbers (element-type int). Returns the command line, or NULL: with
 * @error unset if the service closed the socket (no job will come), set if the
 * message was wrong. */
GStrv    csb_spare_job_receive (int           socket_fd,
                                int         **keep,
                                int           min_target,
                                GArray      **out_targets,
                                GError      **error);

/* The receiver's byte saying it has taken a job (csb_spare_job_ack), read by the
 * sender: FALSE at the socket's end (it died before, and never will). */
gboolean csb_spare_job_ack      (int           socket_fd);
gboolean csb_spare_job_read_ack (int           socket_fd);

G_END_DECLS
