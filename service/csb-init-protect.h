/* csb-init-protect.h — for the inits of the VM and the container (libc only, no GLib).
 *
 * Binds one protected entry of the project (csb-project-guard.c decided which)
 * onto itself, read-only or not, reached from the project folder without any
 * symlink (openat2 RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH) and checked for its type:
 * the host's guard looked before the start, this look is the one that counts.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* 0, or -1 with errno (ELOOP/EXDEV: a symlink on the way; EINVAL: wrong type). */
int csb_init_protect (const char *project,
                      const char *relative,
                      int         readonly,
                      int         want_dir);
