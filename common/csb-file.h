/* csb-file.h — small files replaced atomically; private folders; opens beneath a folder;
 * bounded reads.
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

/* Opens @path (relative, below @dir_fd) without following any symlink and without
 * leaving @dir_fd (openat2 RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH). -1 and errno.
 * Without O_PATH, O_CREAT or O_DIRECTORY in @flags only a regular file or a folder
 * is really opened: anything else (device, FIFO, socket) is returned as an O_PATH
 * descriptor, never opened, for the caller's fstat to refuse. */
int      csb_open_beneath (int         dir_fd,
                           const char *path,
                           int         flags);

/* The rest of @fd, at most @max bytes, NUL-terminated (not counted in *@out_len); the
 * buffer grows with what is read. NULL with errno set on an error, EFBIG past @max. */
char    *csb_file_read_fd_bounded (int    fd,
                                   gsize  max,
                                   gsize *out_len);

/* A memfd named @name holding @data, read from its start, sealed against change
 * (close-on-exec): how a command line or file goes to another program without an argv
 * or a path. -1 with errno set. */
int      csb_file_sealed_memfd (const char *name,
                                GBytes     *data);

/* Whether @path (followed) is a socket. */
gboolean csb_file_is_socket (const char *path);

/* Removes @path and, when it is a folder, everything below it; a symlink is removed,
 * never followed. Removes all it can; FALSE with @error naming the first thing it
 * could not remove. Nothing at @path is success. */
gboolean csb_rm_rf (const char *path,
                    GError    **error);

G_END_DECLS
