/* csb-projects.h — the recent projects and the options each was last started
 * with: a GListModel of CsbProject, the most recent first, kept in the app's
 * GSettings ("recent-projects", "project-options") and following them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "csb-project.h"

G_BEGIN_DECLS

#define CSB_TYPE_PROJECTS (csb_projects_get_type ())

G_DECLARE_FINAL_TYPE (CsbProjects, csb_projects, CSB, PROJECTS, GObject)

CsbProjects *csb_projects_new         (GSettings   *settings);
/* The options last used for @project_dir (a{sv}, new reference), or NULL. */
GVariant    *csb_projects_get_options (CsbProjects *self,
                                       const char  *project_dir);
/* Puts @project_dir first and keeps @options (a{sv}; a floating reference is
 * taken) as its options; only the recent projects keep theirs. */
void         csb_projects_remember    (CsbProjects *self,
                                       const char  *project_dir,
                                       GVariant    *options);

G_END_DECLS
