/* csb-backend-names.h — the backends' names, once: the values of Launch's backend
 * option (csb-options.c) and of GetBackends, whose table of backends (csb-backend.c)
 * has one row per name, in this order. Only a header, so that what links
 * csb-options.c alone (the fuzzers, tests/fuzz/) needs nothing more.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

static const char * const csb_backend_names[] = { "bwrap", "vm", "container", NULL };
