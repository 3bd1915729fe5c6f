/* csb-vm-stdio.h — a VM's stdio on virtio ports: the caller's pipes and files,
 * relayed to and from the domain's stdin, stdout and stderr channels.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The names of the guest's ports (the channels' targets), each followed by "stdin",
 * "stdout" or "stderr"; the guest's init opens them by these names. */
#define CSB_VM_PORT_PREFIX "org.claude-sandbox."
/* The host end of the "winsize" channel, in the sandbox's runtime folder. */
#define CSB_VM_WINSIZE_SOCKET "winsize.sock"

typedef struct _CsbVmStdio CsbVmStdio;

/* Connects to the channels' unix sockets @sockets (QEMU listens on them) and relays
 * @stdio_fds[0] to the first, the second and third to @stdio_fds[1] and [2]. The
 * caller's stdin ending ends the guest's (a half-close: QEMU reads the rest, then
 * hangs the port up, which the guest reads as EOF). It answers the guest's "output"
 * in @ctl_dir with "drained" once it passed that many bytes on. The fds are
 * duplicated. Blocking: connect before the guest runs (a port without its host end
 * reads as EOF). */
CsbVmStdio *csb_vm_stdio_start (const char * const  sockets[3],
                                const int           stdio_fds[3],
                                const char         *ctl_dir,
                                GError            **error);
/* Stops the relays (what was not passed on yet is dropped), joins the threads,
 * closes the copies: the caller's pipes see EOF. Blocking. */
void        csb_vm_stdio_stop  (CsbVmStdio         *self);

/* The console's size channel ("winsize", with the console as the command's
 * terminal): connected like the stdio ones, before the guest runs, and set
 * non-blocking. -1 with @error when it cannot be. */
int         csb_vm_winsize_connect (const char      *socket_path,
                                    GError         **error);
/* Tells the guest the viewer's size, a "COLS ROWS\n" line (its init sets the
 * console's size, which signals the command; a zero size says only "no size yet").
 * Dropped when the guest does not read (its socket's buffer full). */
void        csb_vm_winsize_send    (int              fd,
                                    guint            columns,
                                    guint            rows);

G_END_DECLS
