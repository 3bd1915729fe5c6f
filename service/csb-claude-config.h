/* csb-claude-config.h — what every backend needs of the user's Claude Code set-up:
 * where `claude` is (its Claude home: csb-claude-home.h).
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

G_END_DECLS
