/* csb-project.h — one recent project: its folder and the options it was last
 * started with. An item of CsbProjects; it does not change (a new choice makes
 * a new item).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define CSB_TYPE_PROJECT (csb_project_get_type ())

G_DECLARE_FINAL_TYPE (CsbProject, csb_project, CSB, PROJECT, GObject)

/* @options: a{sv}, or NULL when none were kept. */
CsbProject *csb_project_new         (const char *path,
                                     GVariant   *options);
const char *csb_project_get_path    (CsbProject *self);
/* The a{sv} of its last start, or NULL. */
GVariant   *csb_project_get_options (CsbProject *self);

G_END_DECLS
