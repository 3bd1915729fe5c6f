/* csb-libvirt.h — what the libvirt backends (vm, container) share: the
 * connection with its event loop, libvirt errors as GErrors, the parts of the
 * domain XML and of a domain's end that are the same for both, and the bridge
 * between a domain's console stream and the sandbox's stdio.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

G_BEGIN_DECLS

/* Opens @uri with libvirt-glib's event loop registered (once) and libvirt's
 * own error printing off. Blocking: call from a worker thread. */
virConnectPtr csb_libvirt_open      (const char  *uri,
                                     GError     **error);
/* @what, then libvirt's last error message. */
void          csb_libvirt_set_error (GError     **error,
                                     int          code,
                                     const char  *what);

/* @format's arguments markup-escaped, appended to @xml. */
void          csb_libvirt_xml_append (GString    *xml,
                                      const char *format,
                                      ...) G_GNUC_PRINTF (2, 3);
/* A domain's <name>, <title>, <description> and our <metadata> element (@key in
 * the namespace @ns, holding the sandbox's id and project folder). */
void          csb_libvirt_xml_append_identity (GString    *xml,
                                               const char *name,
                                               const char *title,
                                               const char *sandbox_id,
                                               const char *project_dir,
                                               const char *key,
                                               const char *ns);

/* After a domain ended: the ~/.claude.json the sandbox changed (in @ctl_dir)
 * back into the user's; a failure is logged. Blocking. */
void          csb_libvirt_write_back_claude_json (const char *ctl_dir,
                                                  const char *sandbox_id);

/* Two threads copying bytes between @console and the sandbox's stdio: the
 * stream's output to @stdio_fds[1], @stdio_fds[0] into the stream. The fds are
 * duplicated (the caller keeps its own); a pty is made raw, as the guest's
 * console has the line discipline. */
typedef struct _CsbConsoleBridge CsbConsoleBridge;

CsbConsoleBridge *csb_console_bridge_start (virStreamPtr      console,
                                            const int         stdio_fds[3],
                                            gboolean          stdio_is_pty);
/* Aborts the stream, joins the threads and closes the copies: the caller's
 * pipes see EOF. Blocking. The stream stays the caller's to free. */
void              csb_console_bridge_stop  (CsbConsoleBridge *bridge);
/* The same terminal on a new stream of the console (libvirt's connection was
 * replaced): the threads of the old stream end, new ones start. The old stream is
 * the caller's to free afterwards. */
void              csb_console_bridge_restart (CsbConsoleBridge *bridge,
                                              virStreamPtr      console);

G_END_DECLS
