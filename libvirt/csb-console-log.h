/* csb-console-log.h — what a VM's console printed while no service listened.
 *
 * libvirt logs the console to a file whether or not anyone is attached; the bridge
 * counts the bytes it has passed on, in a small file in the sandbox's runtime folder
 * that outlives the service. A service that takes the VM over replays the log from
 * that count on, so nothing the command printed meanwhile is lost.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define CSB_CONSOLE_COUNT_FILE "console.count"   /* in the runtime folder */
#define CSB_CONSOLE_LOG_FILE   "console.log"     /* in the state folder */

int      csb_console_count_open  (const char *runtime_dir);
void     csb_console_count_store (int         fd,
                                  guint64     total);
guint64  csb_console_count_load  (const char *runtime_dir);
gboolean csb_console_log_replay  (const char *log_path,
                                  guint64     from,
                                  int         out_fd,
                                  guint64    *out_total);

G_END_DECLS
