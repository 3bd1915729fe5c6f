/* csb-initramfs.h — the VM's initramfs: our guest init plus the kernel modules it
 * needs and the guest's /etc, as a newc cpio archive, built once per kernel, init
 * and /etc, and cached.
 * Blocking (reads modules, writes the cache); call from a worker thread.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The modules the guest loads, by name; their dependencies come from modules.dep. */
extern const char * const csb_initramfs_modules[];

/* Those loaded only with the display on (virtio_gpu; none in a kernel without DRM). */
extern const char * const csb_initramfs_display_modules[];

/* The module files (relative to @modules_dir) to load, dependencies first. */
GPtrArray *csb_initramfs_resolve_modules (const char  *modules_dir,
                                          GError     **error);
/* The same for the display, but for those the base list loads already. */
GPtrArray *csb_initramfs_resolve_display_modules (const char  *modules_dir,
                                                  GError     **error);

/* Returns the path of a cached initramfs for the kernel whose modules are in
 * @modules_dir (/lib/modules/<version>), with @init_path as /init and the
 * allowlisted entries of @etc_root (/etc; another folder in tests) as /host-etc;
 * builds it under @cache_dir first if there is none. */
char      *csb_initramfs_ensure          (const char  *modules_dir,
                                          const char  *init_path,
                                          const char  *etc_root,
                                          const char  *cache_dir,
                                          GError     **error);

G_END_DECLS
