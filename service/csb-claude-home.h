/* csb-claude-home.h — a Claude home of the sandboxes' own, one per project.
 *
 * $XDG_STATE_HOME/claude-sandbox/claude-home/<key>/ holds .claude/ (seen inside at
 * ~/.claude) and json/.claude.json (json/ seen inside at CSB_CLAUDE_HOME_JSON_INSIDE,
 * ~/.claude.json a symlink into it, so Claude Code can replace the file by rename).
 * The sandboxes of one project share it; no sandbox ever sees the host's ~/.claude
 * or ~/.claude.json. Into it go, read-only, a fixed list of the user's own entries
 * (settings, CLAUDE.md, commands/, agents/, …), and the login; only the login comes
 * back, validated (shape, types, sizes, depth), through csb_claude_home_write_back().
 *
 * Everything in the home is the sandbox's writing, so hostile: the service opens it
 * by descriptor, never following a symlink, checks type, owner and size, and parses
 * with bounds. All blocking (file system); call from a worker thread.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Where the sandbox sees the folder that holds its .claude.json. */
#define CSB_CLAUDE_HOME_JSON_INSIDE "/run/claude-sandbox"

typedef struct
{
  char *name;      /* e.g. "settings.json", "commands" */
  gboolean is_dir;
  int   fd;        /* O_PATH of the user's own entry, opened without following links */
} CsbClaudeUserEntry;

typedef struct
{
  char      *root;        /* …/claude-home/<key> */
  char      *claude_dir;  /* root/.claude */
  char      *json_dir;    /* root/json */
  int        claude_fd;   /* O_PATH | O_DIRECTORY of claude_dir */
  int        json_fd;     /* O_PATH | O_DIRECTORY of json_dir */
  GPtrArray *user_entries; /* (element-type CsbClaudeUserEntry): present and safe ones */
} CsbClaudeHome;

/* The fixed list of the user's ~/.claude entries a sandbox sees read-only. */
extern const char * const csb_claude_user_files[];
extern const char * const csb_claude_user_dirs[];

char          *csb_claude_home_key         (const char    *project_dir);
char          *csb_claude_home_path        (const char    *project_dir);

/* Creates or opens the project's home, makes the mount points of the user's entries,
 * and puts the user's login (credential, ~/.claude.json login keys) into it. */
CsbClaudeHome *csb_claude_home_prepare     (const char    *project_dir,
                                            GError       **error);
void           csb_claude_home_free        (CsbClaudeHome *home);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbClaudeHome, csb_claude_home_free)

/* For backends that share paths, not descriptors: copies the user's entries into
 * @stage_dir (made 0700), without following links, owner-checked and size-capped.
 * Returns the names copied (element-type utf8). */
GPtrArray     *csb_claude_home_stage_user  (CsbClaudeHome *home,
                                            const char    *stage_dir,
                                            GError       **error);

/* After a sandbox of @project_dir ended: its credential and the allowlisted login
 * keys of its .claude.json, validated, into the user's files, atomically. What
 * fails validation is dropped and logged; nothing here aborts. */
gboolean       csb_claude_home_write_back  (const char    *project_dir,
                                            GError       **error);

/* @name (one component) beneath @dirfd, opened without following any symlink
 * (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), O_CLOEXEC | O_NOFOLLOW added. */
int            csb_claude_home_open_beneath (int         dirfd,
                                             const char *name,
                                             int         flags);

/* A bounded check before a recursive JSON parser sees @data: one object or array and
 * nothing after it but white space, no NUL bytes, brackets nested at most @max_depth
 * deep. */
gboolean       csb_json_check_depth        (const char    *data,
                                            gsize          len,
                                            guint          max_depth,
                                            GError       **error);

G_END_DECLS
