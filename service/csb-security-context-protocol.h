/* csb-security-context-protocol.h — the wire description of the Wayland protocol
 * wp_security_context_v1 (wayland-protocols, staging), for libwayland's marshalling:
 * what wayland-scanner would generate, written out because the wayland-protocols of
 * Debian 12 (1.31) predates the protocol. The service uses the client side, the
 * tests' fake compositor the server side.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <wayland-util.h>

extern const struct wl_interface csb_wp_security_context_manager_v1_interface;
extern const struct wl_interface csb_wp_security_context_v1_interface;

/* Request opcodes, in the protocol's order. */
enum
{
  CSB_WP_SECURITY_CONTEXT_MANAGER_V1_DESTROY = 0,
  CSB_WP_SECURITY_CONTEXT_MANAGER_V1_CREATE_LISTENER = 1,
};

enum
{
  CSB_WP_SECURITY_CONTEXT_V1_DESTROY = 0,
  CSB_WP_SECURITY_CONTEXT_V1_SET_SANDBOX_ENGINE = 1,
  CSB_WP_SECURITY_CONTEXT_V1_SET_APP_ID = 2,
  CSB_WP_SECURITY_CONTEXT_V1_SET_INSTANCE_ID = 3,
  CSB_WP_SECURITY_CONTEXT_V1_COMMIT = 4,
};
