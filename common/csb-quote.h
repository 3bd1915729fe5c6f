/* csb-quote.h — a name a sandbox chose, made safe to show on one line.
 *
 * A file name may hold any byte but '/' and NUL: a newline in it would forge a line of
 * a diff header or of a change list, a carriage return or a bidi override would hide
 * what follows. As git does with its quoted paths, such a name is shown in double
 * quotes with C escapes (\n, \t, \", \\, and \ooo for every other byte that is a
 * control character, invalid UTF-8, or a Unicode format, separator or unassigned
 * character); any other name is shown as it is.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean csb_name_needs_quotes (const char *name);
char    *csb_quote_name        (const char *prefix,
                                const char *name);
/* @text with the escapes of a quoted name but no quotes: for a line of our own that
 * holds quoted names (and must not break on a character that slipped in). */
char    *csb_show_text         (const char *text);

G_END_DECLS
