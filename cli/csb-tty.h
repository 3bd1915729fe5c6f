/* csb-tty.h — the CLI's hold on the user's terminal: raw mode and non-blocking
 * fds, both undone by csb_tty_restore() on every way out.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean csb_tty_make_raw         (int      fd,
                                   GError **error);
gboolean csb_tty_set_nonblocking  (int      fd,
                                   GError **error);
void     csb_tty_restore          (void);
gboolean csb_tty_get_size         (int      fd,
                                   guint16 *out_columns,
                                   guint16 *out_rows);
void     csb_tty_reset_modes      (int      fd);

G_END_DECLS
