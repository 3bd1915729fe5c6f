/* csb-terminal-relay.h — relays the user's terminal to a sandbox's terminal stream.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef enum {
  CSB_TERMINAL_RELAY_RUNNING,
  CSB_TERMINAL_RELAY_EOF,       /* the sandbox's terminal closed: the sandbox ended */
  CSB_TERMINAL_RELAY_DETACHED,  /* the user typed the detach key */
  CSB_TERMINAL_RELAY_HANGUP,    /* the user's terminal went away */
  CSB_TERMINAL_RELAY_ERROR,
} CsbTerminalRelayEnd;

#define CSB_TYPE_TERMINAL_RELAY (csb_terminal_relay_get_type ())
G_DECLARE_FINAL_TYPE (CsbTerminalRelay, csb_terminal_relay, CSB, TERMINAL_RELAY, GObject)

CsbTerminalRelay    *csb_terminal_relay_new        (int               stream_fd,
                                                    int               input_fd,
                                                    int               output_fd,
                                                    int               detach_key);
void                 csb_terminal_relay_set_raw    (CsbTerminalRelay *self,
                                                    gboolean          raw);
gboolean             csb_terminal_relay_start      (CsbTerminalRelay *self,
                                                    GError          **error);
CsbTerminalRelayEnd  csb_terminal_relay_get_end    (CsbTerminalRelay *self);
const GError        *csb_terminal_relay_get_error  (CsbTerminalRelay *self);

G_END_DECLS
