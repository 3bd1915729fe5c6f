/* csb-host-label.h — a machine's load and free memory, asked of its service
 * (Manager.GetHostMetrics) every few seconds while the label is on screen.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define CSB_TYPE_HOST_LABEL (csb_host_label_get_type ())

G_DECLARE_FINAL_TYPE (CsbHostLabel, csb_host_label, CSB, HOST_LABEL, GtkWidget)

GtkWidget  *csb_host_label_new      (void);
/* The bus of the machine's service (the session bus, or a connection's), or NULL
 * while there is none: the label is empty then. */
void        csb_host_label_set_bus  (CsbHostLabel    *self,
                                     GDBusConnection *bus);
/* What it shows now ("Load 0.52 · 5.1 GiB free"), "" before the first answer. */
const char *csb_host_label_get_text (CsbHostLabel    *self);

G_END_DECLS
