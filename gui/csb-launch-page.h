/* csb-launch-page.h — the welcome page and the options of the next sandbox.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define CSB_TYPE_LAUNCH_PAGE (csb_launch_page_get_type ())

G_DECLARE_FINAL_TYPE (CsbLaunchPage, csb_launch_page, CSB, LAUNCH_PAGE, AdwBin)

/* @project_dir NULL: back to the welcome page. @options: a{sv} shown in the switches. */
void        csb_launch_page_set_folder   (CsbLaunchPage      *self,
                                          const char         *project_dir,
                                          GVariant           *options);
const char *csb_launch_page_get_folder   (CsbLaunchPage      *self);
/* The options as the switches show them, a floating a{sv}. */
GVariant   *csb_launch_page_get_options  (CsbLaunchPage      *self);
/* What GetBackends returned, a(sbs). */
void        csb_launch_page_set_backends (CsbLaunchPage      *self,
                                          GVariant           *backends);
/* The recent projects (CsbProject) to offer, the most recent first; NULL: none. */
void        csb_launch_page_set_projects (CsbLaunchPage      *self,
                                          GListModel         *projects);
/* For the tests: how many recent projects the page offers. */
guint       csb_launch_page_get_n_recent (CsbLaunchPage      *self);
/* A folder is chosen and its backend is available. */
gboolean    csb_launch_page_get_can_launch (CsbLaunchPage    *self);

G_END_DECLS
