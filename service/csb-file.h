/* csb-file.h — replacing a small file atomically.
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

G_END_DECLS
