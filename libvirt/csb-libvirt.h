/* csb-libvirt.h — what the libvirt backends (vm, container) share: the
 * connection with its event loop, libvirt errors as GErrors, the parts of the
 * domain XML that are the same for both, the Claude home's write-back. The bridge
 * between a domain's console stream and the sandbox's stdio is csb-console-bridge.h,
 * a sandbox's domain from its start to its end (CsbDomainRun) csb-domain-run.h.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <libvirt/libvirt.h>

#include "csb-module-api.h"

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

/* After a domain ended: the login the sandbox's Claude home holds, validated, back
 * into the user's files; a refusal is logged. Blocking. */
void          csb_libvirt_write_back_claude_home (const char *project_dir,
                                                  const char *sandbox_id);

G_END_DECLS
