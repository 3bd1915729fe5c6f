/* csb-file.h — replacing a small file atomically; our private folders.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean csb_file_replace (const char *path,
                           const char *data,
                           gssize      len,
                           int         mode,
                           gboolean    durable,
                           GError    **error);

int      csb_file_open_private_dir (const char *base,
                                    const char *relative,
                                    gboolean    create,
                                    GError    **error);

/* The folder @path (absolute, as resolved) opened with @flags | O_DIRECTORY |
 * O_NOFOLLOW | O_CLOEXEC and checked to be that folder still: the kernel's name of the
 * descriptor is @path, so no link on the way and nothing renamed or swapped in
 * meanwhile. -1 otherwise, *@gone TRUE when there was nothing to open. */
int      csb_file_open_dir_exact (const char *path,
                                  int         flags,
                                  gboolean   *gone);

/* A stream socket connected to the unix socket at @path; -1 with @error. */
int      csb_file_connect_socket (const char *path,
                                  GError    **error);

G_END_DECLS
