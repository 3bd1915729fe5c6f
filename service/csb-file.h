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

/* A stream socket connected to the unix socket at @path; -1 with @error. */
int      csb_file_connect_socket (const char *path,
                                  GError    **error);

G_END_DECLS
