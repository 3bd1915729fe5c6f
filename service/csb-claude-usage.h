/* csb-claude-usage.h — Claude Code's own record of what a sandbox's sessions used:
 * turns, API responses, tokens and (where recorded) cost, read from the session
 * files (~/.claude/projects/<folder>/<session>.jsonl) in the project's Claude home.
 *
 * The sandbox writes those files: they are opened beneath the home without
 * following a symlink, owner- and type-checked, read up to a size limit a line at
 * a time (long lines skipped), and each line depth-checked before json-glib sees it.
 * A file is read again only from where the last read stopped, while it only grows.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _CsbClaudeUsage CsbClaudeUsage;

CsbClaudeUsage *csb_claude_usage_new    (void);
void            csb_claude_usage_free   (CsbClaudeUsage *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbClaudeUsage, csb_claude_usage_free)

/* Reads what changed in the session files of @project_dir's Claude home, counting
 * the entries timestamped from @since_us (µs since the epoch) and before @until_us
 * (0: no end). Blocking (file reads): call from a worker thread, one at a time. */
void            csb_claude_usage_update (CsbClaudeUsage *self,
                                         const char     *project_dir,
                                         gint64          since_us,
                                         gint64          until_us);

/* The totals as claude-* keys (see GetMetrics in the D-Bus XML). */
void            csb_claude_usage_add_to (CsbClaudeUsage *self,
                                         GVariantDict   *dict);

G_END_DECLS
