/* csb-claude-config.h — what every backend needs of the user's Claude Code set-up:
 * where `claude` is, which parts of ~/.claude must stay read-only, and ~/.claude.json,
 * which sandboxes get as a copy and hand back only the keys that are safe.
 * All blocking (file system); call from a worker thread.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char      *path;       /* as found, e.g. ~/.npm-global/bin/claude */
  char      *resolved;   /* after symlinks */
  char      *bind_root;  /* what to make visible read-only: a file or a package folder */
  GPtrArray *symlinks;   /* (element-type CsbSymlink): the chain from path to resolved */
} CsbClaudeInstall;

typedef struct
{
  char *path;
  char *target;   /* as readlink gives it */
} CsbSymlink;

CsbClaudeInstall *csb_claude_install_find  (const char * const *environ,
                                            const char         *home,
                                            const char         *configured_path,
                                            GError            **error);
void              csb_claude_install_free  (CsbClaudeInstall   *install);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbClaudeInstall, csb_claude_install_free)

GPtrArray        *csb_claude_protect_paths (const char         *claude_dir,
                                            GError            **error);

gboolean          csb_claude_json_prepare  (const char         *home,
                                            const char         *store_path,
                                            const char         *copy_path,
                                            GError            **error);
gboolean          csb_claude_json_write_back (const char       *home,
                                              const char       *store_path,
                                              const char       *copy_path,
                                              GError          **error);

G_END_DECLS
