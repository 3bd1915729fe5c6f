/* csb-names.h — the names of the D-Bus API, once: the service owns and exports them,
 * the CLI, the app and the tests call them. data/org.example.ClaudeSandbox.xml (and
 * its .service.in) spell the same names, which the bus tests check end to end.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The well-known name the service owns on the session bus. */
#define CSB_BUS_NAME "org.example.ClaudeSandbox"
/* The Manager object, which is also the object manager's root. */
#define CSB_MANAGER_PATH "/org/example/ClaudeSandbox"
/* A sandbox's object is CSB_SANDBOX_PATH_PREFIX + its ID. */
#define CSB_SANDBOX_PATH_PREFIX CSB_MANAGER_PATH "/sandbox/"
/* Every interface's and error's name starts with it; common/meson.build gives it to
 * gdbus-codegen as interface_prefix. */
#define CSB_INTERFACE_PREFIX CSB_BUS_NAME "."
#define CSB_MANAGER_INTERFACE CSB_INTERFACE_PREFIX "Manager"
#define CSB_SANDBOX_INTERFACE CSB_INTERFACE_PREFIX "Sandbox"
