/* csb-escape-filter.h — what of a sandbox's terminal output may reach the user's
 * terminal.
 *
 * A terminal is more than a screen: some escape sequences make it act (OSC 52 writes
 * the clipboard, OSC 8 turns text into links, DECRQSS, DA, DSR and window reports are
 * answered by typing the answer into whatever reads the terminal, tmux passes DCS
 * payloads on to the terminal around it). A sandbox's output is hostile input, so the
 * CLI passes it through this filter: a byte-at-a-time state machine, its state kept
 * between chunks, that lets text, colours, cursor movement, erasing, scrolling
 * regions, charset selection and the modes a full-screen program needs (alternate
 * screen, bracketed paste, mouse reporting, focus events, keyboard protocols) through
 * as they are, rewrites a window title (OSC 0/2) without control characters, and
 * drops everything else: every other OSC, report requests, all DCS (DECRQSS,
 * XTGETTCAP, tmux passthrough, sixel), SOS/PM/APC strings and C1 controls (8-bit, or
 * UTF-8 encoded). String sequences are never passed on as received, only dropped or
 * rebuilt, so the filter's idea of where one ends cannot differ from the terminal's in
 * a way that lets bytes through; at most 4 KiB of one is kept, the rest up to its
 * terminator discarded, as terminals do.
 *
 * Text is taken as UTF-8; an invalid sequence is dropped.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The longest OSC payload kept (a window title); longer strings are dropped whole. */
#define CSB_ESCAPE_FILTER_STRING_MAX 4096

typedef struct _CsbEscapeFilter CsbEscapeFilter;

CsbEscapeFilter *csb_escape_filter_new        (void);
void             csb_escape_filter_free       (CsbEscapeFilter *self);
/* Appends to @out what of @data may reach the terminal; a sequence cut at the end of
 * @data is held until the next call completes it. */
void             csb_escape_filter_feed       (CsbEscapeFilter *self,
                                               const guint8    *data,
                                               gsize            len,
                                               GByteArray      *out);
/* How many sequences, controls or invalid bytes were dropped so far. */
guint64          csb_escape_filter_get_n_dropped (CsbEscapeFilter *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbEscapeFilter, csb_escape_filter_free)

G_END_DECLS
