/* csb-remote-bus.h — the session bus of another machine, over ssh: shared by the
 * CLI (--host) and the app (Connections).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "csb-argv.h"

G_BEGIN_DECLS

/* The ssh program: CLAUDE_SANDBOX_SSH (like GIT_SSH: a program, not a shell
 * command), else ssh from PATH. */
const char      *csb_remote_ssh_program      (void);
/* The remote claude-sandbox: CLAUDE_SANDBOX_REMOTE_CLI, else the one on the
 * remote PATH. */
const char      *csb_remote_cli              (void);
/* USER@HOST, HOST or an ssh config Host name; never an ssh option. */
gboolean         csb_remote_check_host       (const char          *host,
                                              GError             **error);
/* `ssh -e none TTY_FLAG [-o BatchMode=yes] -- HOST 'ARG' 'ARG'…`: each remote
 * argument quoted for the remote shell. */
CsbArgv         *csb_remote_ssh_argv         (const char          *host,
                                              const char          *tty_flag,
                                              gboolean             batch,
                                              const char * const  *remote_args);

typedef enum {
  /* ssh's stderr stays ours (a terminal: its own words are the clearest). */
  CSB_REMOTE_BUS_STDERR_INHERIT = 0,
  /* ssh's stderr is read on failure and said in people's words (the app). */
  CSB_REMOTE_BUS_STDERR_EXPLAIN = 1 << 0,
} CsbRemoteBusFlags;

/* A message-bus connection to the session bus of @host, through
 * `ssh -o BatchMode=yes HOST claude-sandbox --bus-bridge` (never a prompt). ssh
 * lives as long as the connection. Blocks: the app calls it in a thread
 * (csb_remote_bus_connect_async). */
GDBusConnection *csb_remote_bus_connect      (const char          *host,
                                              CsbRemoteBusFlags    flags,
                                              GCancellable        *cancellable,
                                              GError             **error);
void             csb_remote_bus_connect_async (const char         *host,
                                               CsbRemoteBusFlags   flags,
                                               GCancellable       *cancellable,
                                               GAsyncReadyCallback callback,
                                               gpointer            user_data);
GDBusConnection *csb_remote_bus_connect_finish (GAsyncResult      *result,
                                                GError           **error);
/* What ssh said on stderr (and its exit status, -1 if unknown), in a sentence
 * for people: a missing key or agent, an unknown host key, no such host, no
 * claude-sandbox there… */
char            *csb_remote_explain_ssh_failure (const char       *host,
                                                 const char       *ssh_stderr,
                                                 int               exit_status);

G_END_DECLS
