/* csb-console-bridge.h — a domain's console stream bridged to the sandbox's stdio.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <libvirt/libvirt.h>

G_BEGIN_DECLS

/* Two threads copying bytes between @console and the sandbox's stdio: the
 * stream's output to @stdio_fds[1], @stdio_fds[0] into the stream. The fds are
 * duplicated (the caller keeps its own); a pty is made raw, as the guest's
 * console has the line discipline. */
typedef struct _CsbConsoleBridge CsbConsoleBridge;

CsbConsoleBridge *csb_console_bridge_start (virStreamPtr      console,
                                            const int         stdio_fds[3],
                                            gboolean          stdio_is_pty);
/* The same, counting the bytes it passes on in @count_dir (csb-console-log.h), so a
 * service that takes the VM over knows where it left off. With @replay (a take-over),
 * what the console's log @log_path holds past the count is passed on first; a
 * restart on a new stream does the same. */
CsbConsoleBridge *csb_console_bridge_start_counted (virStreamPtr  console,
                                                    const int     stdio_fds[3],
                                                    gboolean      stdio_is_pty,
                                                    const char   *count_dir,
                                                    const char   *log_path,
                                                    gboolean      replay);
/* Aborts the stream, joins the threads and closes the copies: the caller's
 * pipes see EOF. Blocking. The stream stays the caller's to free. */
void              csb_console_bridge_stop  (CsbConsoleBridge *bridge);
/* The same terminal on a new stream of the console (libvirt's connection was
 * replaced): the threads of the old stream end, new ones start. The old stream is
 * the caller's to free afterwards. */
void              csb_console_bridge_restart (CsbConsoleBridge *bridge,
                                              virStreamPtr      console);

/* A new stream on @domain's console @alias (NULL: its first) once more, with
 * virDomainOpenConsole()'s @flags (VIR_DOMAIN_CONSOLE_FORCE takes it from the stream
 * of a service that died, should libvirt still hold that). NULL with @error.
 * Blocking. */
virStreamPtr      csb_libvirt_open_console (virConnectPtr      conn,
                                            virDomainPtr       domain,
                                            const char        *alias,
                                            unsigned int       flags,
                                            GError           **error);

G_END_DECLS
