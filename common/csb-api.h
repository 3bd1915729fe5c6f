/* csb-api.h — the versions of the D-Bus interfaces of data/org.example.ClaudeSandbox.xml,
 * which the service publishes as each interface's "version" property. Raise one when
 * its interface gains a method, property, signal, Launch option or error, and say so
 * in the XML ("This documentation describes version N"; test-protections checks that
 * the two agree).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#define CSB_MANAGER_INTERFACE_VERSION 1
#define CSB_SANDBOX_INTERFACE_VERSION 2
