/* csb-init-protect.h — for the inits of the VM and the container (libc only, no GLib).
 *
 * Binds one protected entry of the project (csb-project-guard.c decided which, the
 * layout how: csb-layout.c) onto itself, read-only or not, reached from the project
 * folder without any symlink (openat2 RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH) and
 * checked for its type: the host's guard looked before the start, this look is the
 * one that counts. A folder may be covered with a fresh tmpfs first (the project's
 * .claude): its protected entries are then bound again into the tmpfs from the
 * folder underneath, and its symlinks made again there.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <sys/types.h>

/* 0, or -1 with errno (ELOOP/EXDEV: a symlink on the way; EINVAL: wrong type;
 * ENOENT: missing). An entry of a folder csb_init_protect_tmpfs() covered is bound
 * from that folder into the tmpfs. */
int csb_init_protect       (const char *project,
                            const char *relative,
                            int         readonly,
                            int         want_dir);
/* Covers the project's folder @relative (made when missing, owned by @uid:@gid)
 * with a fresh tmpfs of mode 0755 owned by @uid:@gid; the folder underneath stays
 * open for the entries bound back. 0, or -1 with errno as above. */
int csb_init_protect_tmpfs (const char *project,
                            const char *relative,
                            uid_t       uid,
                            gid_t       gid);
/* Makes the symlink @relative → @target again in a folder csb_init_protect_tmpfs()
 * covered. 0, or -1 with errno (ENOENT: its folder is not covered). */
int csb_init_protect_link  (const char *project,
                            const char *relative,
                            const char *target);
