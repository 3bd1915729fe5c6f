/* csb-cli-sync.h — claude-sandbox --host=HOST --sync LOCAL-DIR REMOTE-DIR [--watch].
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Brings @local_dir and @remote_dir (on @host, relative to the remote home) to the
 * same content, both ways, with rsync over ssh: what changed on one side since the
 * last sync goes to the other; what changed on both is reported, never overwritten
 * (unless @prefer, "here" or "there", says which side wins). More than 50 deletions
 * that are more than half of a side's files wait for @delete_many.
 * With @watch, again after every change here and every @interval_s seconds for the
 * remote, until interrupted. Returns the exit status (0; 1 with conflicts; 125 when
 * it could not sync). */
int csb_cli_run_sync (const char *host,
                      const char *local_dir,
                      const char *remote_dir,
                      const char *prefer,
                      gboolean    delete_many,
                      gboolean    watch,
                      guint       interval_s);

G_END_DECLS
