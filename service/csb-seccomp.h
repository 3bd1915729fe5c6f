/* csb-seccomp.h — the sandbox's syscall filter, as a BPF program in a memfd for
 * bwrap's --seccomp FD.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int csb_seccomp_filter_fd (GError **error);

G_END_DECLS
