/* csb-bwrap-backend.h — sandboxes from bubblewrap namespaces.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "csb-argv.h"
#include "csb-backend.h"
#include "csb-compositor.h"

G_BEGIN_DECLS

#define CSB_TYPE_BWRAP_BACKEND (csb_bwrap_backend_get_type ())
G_DECLARE_FINAL_TYPE (CsbBwrapBackend, csb_bwrap_backend, CSB, BWRAP_BACKEND, CsbBackend)

/* The bwrap arguments for @spec (everything that goes through --args), with the fds
 * they name. Exposed for the unit tests; blocking (reads the file system). */
CsbArgv *csb_bwrap_build_args (CsbSandboxSpec *spec,
                               GError        **error);

/* The private display's socket, in csb_bwrap_private_display_dir(): the headless
 * compositor's, started and ended by the sandbox's monitor (a container's by the
 * service, csb-private-display.c). */
#define CSB_PRIVATE_DISPLAY_SOCKET CSB_COMPOSITOR_SOCKET

char *csb_bwrap_private_display_dir (CsbSandboxSpec *spec);

G_END_DECLS
