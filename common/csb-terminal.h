/* csb-terminal.h — a sandbox's terminal: the service end of its pty (or console),
 * its history in a log, and any number of attached clients.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define CSB_TYPE_TERMINAL (csb_terminal_get_type ())
G_DECLARE_FINAL_TYPE (CsbTerminal, csb_terminal, CSB, TERMINAL, GObject)

gboolean     csb_pty_open                (int          *out_master,
                                          int          *out_slave,
                                          GError      **error);

CsbTerminal *csb_terminal_new            (int           master_fd,
                                          const char   *log_path,
                                          GError      **error);
int          csb_terminal_open_client    (CsbTerminal  *self,
                                          GError      **error);
void         csb_terminal_add_client     (CsbTerminal  *self,
                                          int           fd);
gboolean     csb_terminal_resize         (CsbTerminal  *self,
                                          guint16       columns,
                                          guint16       rows,
                                          GError      **error);
void         csb_terminal_set_log_max    (CsbTerminal  *self,
                                          guint64       max_bytes);
gboolean     csb_terminal_is_closed      (CsbTerminal  *self);
guint        csb_terminal_get_n_clients  (CsbTerminal  *self);
void         csb_terminal_preload_history (CsbTerminal *self,
                                           GBytes      *history);
GBytes      *csb_terminal_dup_history    (CsbTerminal  *self);
void         csb_terminal_close          (CsbTerminal  *self);

/* The terminal's log and its one rotated file: what is kept of a sandbox's output. */
#define CSB_TERMINAL_LOG "terminal.log"
#define CSB_TERMINAL_LOG_ROTATED "terminal.log.1"

G_END_DECLS
