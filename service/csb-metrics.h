/* csb-metrics.h — what a sandbox and the machine use, measured when asked.
 * All blocking (small /proc and /sys reads, a folder walk): call from a worker thread.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  guint64  cpu_us;        /* CPU time, live processes and those already waited for */
  guint64  memory_bytes;
  guint    processes;
  gboolean from_cgroup;   /* the sandbox's cgroup (v2) said; else /proc */
} CsbProcessUsage;

/* The processes of sandbox @id whose first process is @pid (a host pid): its cgroup
 * where it has one, else @pid and its descendants in /proc. FALSE when @pid is gone. */
gboolean  csb_metrics_processes  (const char      *id,
                                  guint            pid,
                                  CsbProcessUsage *out);

/* Disk used (allocated blocks) beneath @dir, links never followed; a bounded walk
 * (depth, entries), so a folder a sandbox filled gives a lower bound, not a hang. */
guint64   csb_metrics_disk_bytes (const char      *dir);

/* The machine: a{sv} with cpus, load-1/5/15, memory-total-bytes,
 * memory-available-bytes (see GetHostMetrics in the D-Bus XML). Floating. */
GVariant *csb_metrics_host       (void);

G_END_DECLS
