/* csb-format.h — how the app words what the service reports.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

const char *csb_format_state       (const char         *state);
const char *csb_format_backend     (const char         *backend);
const char *csb_format_protection  (const char         *protection);
/* One protection a line. */
char       *csb_format_protections (const char * const *protections);
/* "5 s", "3 min", "2 h 5 min" since @started_at (µs since the epoch). */
char       *csb_format_uptime      (guint64             started_at);
/* @path with the home folder as "~". */
char       *csb_format_path        (const char         *path);
/* What the exit status of a sandbox means. */
char       *csb_format_exit        (int                 status);

/* What a row or tab is called: what runs in it ("Claude", "Shell", the command),
 * or the name the user gave it. */
char       *csb_format_sandbox_title (const char         *name,
                                      const char         *project_dir,
                                      const char * const *command);

/* Whether the service's @message means the user lacks an administrator's permission. */
gboolean    csb_format_needs_admin   (const char         *message);
/* Why a sandbox failed, for people; the service's Error goes under "Details". */
char       *csb_format_failure       (const char         *error);

/* A message for the user from an error of the service (or of the bus on the way). */
char       *csb_format_error         (const GError       *error);
/* The service's own words about @error, for a "Details" view, or NULL. */
char       *csb_format_error_details (const GError       *error);

G_END_DECLS
