/* csb-terminal-view.h — a VteTerminal that says when its grid changes size,
 * so the sandbox's terminal can follow (GTK 4 has no size-allocate signal).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <vte/vte.h>

G_BEGIN_DECLS

#define CSB_TYPE_TERMINAL_VIEW (csb_terminal_view_get_type ())

G_DECLARE_FINAL_TYPE (CsbTerminalView, csb_terminal_view, CSB, TERMINAL_VIEW, VteTerminal)

GtkWidget *csb_terminal_view_new (void);

G_END_DECLS
