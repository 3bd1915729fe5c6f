/* csb-protected-names.h — protected names of a project, shared by the service and
 * the CLI.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* @name as a case-insensitive filesystem compares it (ASCII lower case; other names
 * NFD and full Unicode case folding, as ext4's casefold folders do): protected names
 * (all lower-case ASCII) are matched against this form on every filesystem, since a
 * project may be on vfat, exFAT, NTFS or SMB, or hold casefold folders, where
 * ".Git/Config" is git's config and ".claude/ſettings.json" Claude Code's settings. */
char     *csb_guard_fold_name          (const char *name);

/* Whether @path (relative to the project) is or is in something that runs or is obeyed
 * later outside a sandbox (git, the host's claude, direnv, editors, pre-commit), in
 * any case. */
gboolean  csb_review_path_is_protected (const char *path);

G_END_DECLS
