/* csb-module-api.h — all the libvirt backends' module may use of the service.
 *
 * libcsb-libvirt-backends.so (libvirt/) is loaded into claude-sandbox-service on
 * first use (csb-backend.c) and calls back into it: the functions and data named in
 * CSB_MODULE_API below, declared by the headers included here, are resolved from the
 * service's executable. The executable exports exactly those and nothing else of its
 * own: service/meson.build hands this list to the linker as its --dynamic-list
 * (csb-module-api.py writes it). The module's sources include this header, not the
 * service's headers one by one.
 *
 * To let the module call one more function of the service: include its header here
 * (if it is not yet) and add its name to the list. The build fails when the module
 * leaves a symbol of the service undefined that the list does not name (else the
 * service would die of "symbol lookup error" at the first call): csb-module-api.py
 * check, run by libvirt/meson.build and as the unit test module-api; /bus/get-backends
 * loads the module into the real service with every symbol bound at once.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* common/ (linked into the service, not the module) */
#include "csb-error.h"          /* CSB_ERROR */
#include "csb-file.h"           /* connecting to a socket beneath a folder, removing a tree */
#include "csb-helper-path.h"    /* the service's helper programs */
#include "csb-protections.h"    /* the table of protection names */

/* service/ */
#include "csb-backend.h"        /* CsbBackend, CsbSandboxSpec: what a backend implements */
#include "csb-claude-config.h"  /* the Claude Code installation a guest runs */
#include "csb-claude-home.h"    /* the per-project Claude home */
#include "csb-guest-stage.h"    /* what a guest gets staged from the host (/etc, env) */
#include "csb-layout.h"         /* what a sandbox sees, built once for every backend */
#include "csb-options.h"        /* path checks, the user's shell */
#include "csb-plan-writer.h"    /* the guest plan's writer */
#include "csb-private-display.h" /* a container's private display */
#include "csb-project-guard.h"  /* the protected project files */
#include "csb-review.h"         /* review mode's upper folder */

/* One X (name) per symbol, one per line (csb-module-api.py reads them so). */
#define CSB_MODULE_API(X) \
  X (csb_backend_emit_exited) \
  X (csb_backend_get_type) \
  X (csb_claude_home_free) \
  X (csb_claude_home_prepare) \
  X (csb_claude_home_write_back) \
  X (csb_claude_install_free) \
  X (csb_error_quark) \
  X (csb_file_connect_socket) \
  X (csb_helper_path) \
  X (csb_layout_add_environment) \
  X (csb_layout_add_protections) \
  X (csb_layout_append_init_plan) \
  X (csb_layout_claude_home) \
  X (csb_layout_expose_host_usr) \
  X (csb_layout_foreach) \
  X (csb_layout_free) \
  X (csb_layout_new) \
  X (csb_layout_private_display) \
  X (csb_layout_private_home) \
  X (csb_layout_project) \
  X (csb_layout_project_review) \
  X (csb_layout_session_audio) \
  X (csb_layout_session_socket_path) \
  X (csb_layout_ssh_agent) \
  X (csb_layout_user_binds) \
  X (csb_layout_wayland) \
  X (csb_plan_add) \
  X (csb_private_display_free) \
  X (csb_private_display_get_dir) \
  X (csb_private_display_has_x11) \
  X (csb_private_display_start) \
  X (csb_private_display_wait) \
  X (csb_protections_add) \
  X (csb_protections_insert) \
  X (csb_rm_rf) \
  X (csb_stage_copy_tree) \
  X (csb_stage_environment) \
  X (csb_stage_etc) \
  X (csb_stage_etc_own_files) \
  X (csb_stage_find_claude) \
  X (csb_stage_find_gh_token) \
  X (csb_stage_walk_etc) \
  X (csb_user_shell)
