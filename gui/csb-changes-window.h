/* csb-changes-window.h — a review-mode sandbox's pending changes: the list, a diff of
 * the chosen one, and Apply / Discard per file and for all.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "csb-dbus.h"

G_BEGIN_DECLS

#define CSB_TYPE_CHANGES_WINDOW (csb_changes_window_get_type ())

G_DECLARE_FINAL_TYPE (CsbChangesWindow, csb_changes_window, CSB, CHANGES_WINDOW, AdwWindow)

GtkWidget *csb_changes_window_new            (CsbDBusSandbox   *sandbox);
/* A sandbox of another machine: its bus (over ssh) carries no descriptors, so the
 * diff comes as bytes (GetDiffData). */
GtkWidget *csb_changes_window_new_remote     (CsbDBusSandbox   *sandbox);
/* For tests: how many changes it lists, and the diff it shows. */
guint      csb_changes_window_get_n_changes  (CsbChangesWindow *self);
char      *csb_changes_window_dup_diff_text  (CsbChangesWindow *self);
char      *csb_changes_window_dup_title      (CsbChangesWindow *self,
                                              guint             index);
GtkWidget *csb_changes_window_get_apply_all  (CsbChangesWindow *self);

G_END_DECLS
