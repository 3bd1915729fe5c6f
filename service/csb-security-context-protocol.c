/* csb-security-context-protocol.c — see the header.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <stddef.h>

#include "csb-security-context-protocol.h"

/* create_listener(new_id wp_security_context_v1, fd listen_fd, fd close_fd) */
static const struct wl_interface *create_listener_types[] = {
  &csb_wp_security_context_v1_interface, NULL, NULL,
};
static const struct wl_interface *no_types[] = { NULL };

static const struct wl_message manager_requests[] = {
  { "destroy", "", no_types },
  { "create_listener", "nhh", create_listener_types },
};

static const struct wl_message context_requests[] = {
  { "destroy", "", no_types },
  { "set_sandbox_engine", "s", no_types },
  { "set_app_id", "s", no_types },
  { "set_instance_id", "s", no_types },
  { "commit", "", no_types },
};

const struct wl_interface csb_wp_security_context_manager_v1_interface = {
  "wp_security_context_manager_v1", 1, 2, manager_requests, 0, NULL,
};

const struct wl_interface csb_wp_security_context_v1_interface = {
  "wp_security_context_v1", 1, 5, context_requests, 0, NULL,
};
