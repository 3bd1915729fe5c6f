/* csb-trace.h — timestamps along the launch path, for profiling.
 *
 * With $CSB_TRACE set to an absolute file name in the service's environment, each
 * csb_trace() appends one line there: CLOCK_MONOTONIC in µs (the same clock in the
 * service, the monitor and the sandbox), the program, its pid and what just
 * happened. Unset (always, outside profiling), it costs one branch. The service
 * passes the variable on to the monitors it starts; nothing a caller sends sets it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The trace file's name, or NULL when tracing is off. */
const char *csb_trace_path (void);
void        csb_trace      (const char *format,
                            ...) G_GNUC_PRINTF (1, 2);

G_END_DECLS
