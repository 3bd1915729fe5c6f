/* csb-container-backend.h — sandboxes in a libvirt-LXC container with a root of
 * their own, in their own user, PID, mount, IPC, UTS (and, with the network
 * off, network) namespaces.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "csb-module-api.h"

G_BEGIN_DECLS

#define CSB_TYPE_CONTAINER_BACKEND (csb_container_backend_get_type ())
G_DECLARE_FINAL_TYPE (CsbContainerBackend, csb_container_backend, CSB, CONTAINER_BACKEND,
                      CsbBackend)

/* The libvirt URI: the system daemon's LXC driver (containers need root, which
 * libvirt holds; polkit decides who may ask it). */
#define CSB_CONTAINER_URI "lxc:///system"

/* Why @error of a failed connection to lxc:///system happened, in words a user
 * can act on (libvirtd not running, LXC driver missing, not authorised). */
char *csb_container_explain_connect_error (const char *libvirt_message);

G_END_DECLS
