/* csb-terminal-page.h — the terminal of one sandbox, attached with OpenTerminal().
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>
#include <vte/vte.h>

#include "csb-dbus.h"

G_BEGIN_DECLS

#define CSB_TYPE_TERMINAL_PAGE (csb_terminal_page_get_type ())

G_DECLARE_FINAL_TYPE (CsbTerminalPage, csb_terminal_page, CSB, TERMINAL_PAGE, AdwBin)

GtkWidget      *csb_terminal_page_new          (CsbDBusSandbox  *sandbox);
/* A sandbox of another machine (@host): the terminal runs @argv, the ssh that
 * attaches to it there; titled "ID on HOST". Closing the page ends that ssh. */
GtkWidget      *csb_terminal_page_new_remote   (CsbDBusSandbox     *sandbox,
                                                const char         *host,
                                                const char * const *argv);
/* The machine of a remote sandbox's page, NULL for this machine's. */
const char     *csb_terminal_page_get_host     (CsbTerminalPage *self);
CsbDBusSandbox *csb_terminal_page_get_sandbox  (CsbTerminalPage *self);
/* The same sandbox as a new instance of the service lists it: attaches again. */
void            csb_terminal_page_set_sandbox  (CsbTerminalPage *self,
                                                CsbDBusSandbox  *sandbox);
/* Gives the terminal the keyboard focus, now or once it shows (a VM boots first). */
void            csb_terminal_page_focus        (CsbTerminalPage *self);
/* A VM with a display, or a private display: shows its screen (the Display tab), and
 * focuses a VM's. */
void            csb_terminal_page_show_display (CsbTerminalPage *self);
GtkWidget      *csb_terminal_page_get_display_view (CsbTerminalPage *self);
/* A private display's pictures (a CsbScreenView). */
GtkWidget      *csb_terminal_page_get_screen_view (CsbTerminalPage *self);
/* The service no longer lists the sandbox: the page shows it ended. */
void            csb_terminal_page_set_gone     (CsbTerminalPage *self);
gboolean        csb_terminal_page_get_ended    (CsbTerminalPage *self);
VteTerminal    *csb_terminal_page_get_terminal (CsbTerminalPage *self);
/* The tab's title and whether it shows a spinner. */
const char     *csb_terminal_page_get_title    (CsbTerminalPage *self);
gboolean        csb_terminal_page_get_busy     (CsbTerminalPage *self);
/* What the window calls it (duplicates numbered). */
void            csb_terminal_page_set_title    (CsbTerminalPage *self,
                                                const char      *title);
/* The plants warning's text while it is shown, else NULL. */
const char     *csb_terminal_page_get_plants_text (CsbTerminalPage *self);

G_END_DECLS
