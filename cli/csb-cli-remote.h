/* csb-cli-remote.h — claude-sandbox --host: the service of another machine, over ssh.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

gboolean         csb_cli_remote_check_host (const char          *host,
                                            GError             **error);
/* A folder of the remote machine as ssh's command there is to see it: "~/src/app"
 * is "src/app" and "~" is "." (relative to the home there, where ssh runs it). */
const char      *csb_cli_remote_home_relative (const char       *path);
/* A message-bus connection to the session bus of @host, through
 * `ssh HOST claude-sandbox --bus-bridge`. Losing it later ends the process with
 * an error message (CSB_CLI_EXIT_FAILED). */
GDBusConnection *csb_cli_remote_connect    (const char          *host,
                                            GError             **error);
/* Replaces this process with `ssh [-t|-T] HOST claude-sandbox ARGS…`; returns only
 * on failure, with the exit status to use. */
int              csb_cli_remote_exec       (const char          *host,
                                            const char * const  *remote_args);
/* The remote-shell command for rsync's -e: the same ssh (CLAUDE_SANDBOX_SSH or ssh),
 * without a terminal, escape character or password prompt, through the master
 * connection at @control_path if there is one (nullable); NULL (@error set) when the
 * ssh program's path cannot be written in rsync's -e syntax. */
char            *csb_cli_remote_rsync_shell (const char         *control_path,
                                             GError            **error);
/* `ssh -N -o ControlMaster=yes` to @host at @control_path, ended when we end. */
GSubprocess     *csb_cli_remote_start_master (const char        *host,
                                              const char        *control_path,
                                              GError           **error);

/* The hidden --bus-bridge mode: splices stdio with the session bus socket. */
int              csb_cli_remote_bus_bridge (void);

G_END_DECLS
