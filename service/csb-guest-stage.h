/* csb-guest-stage.h — files the libvirt backends stage for their guests.
 * All blocking (file system); call from a worker thread.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include "csb-backend.h"
#include "csb-claude-config.h"

G_BEGIN_DECLS

/* The sandbox's user as the guest knows it (its ids inside). */
typedef struct
{
  const char *name;
  uid_t       uid;
  gid_t       gid;
  const char *home;
  const char *shell;
} CsbStageUser;

/* What csb_stage_walk_etc() visits: a folder (its entries come after it), a
 * regular file (@src is where to read it) or a link, kept as such (@target). */
typedef enum
{
  CSB_STAGE_DIR,
  CSB_STAGE_FILE,
  CSB_STAGE_SYMLINK,
} CsbStageKind;

/* @rel is the entry's path inside the staged folder; @st the lstat() of @src (of
 * what a followed link points to). Returning FALSE for a folder leaves out what is
 * in it. */
typedef gboolean (*CsbStageVisit) (CsbStageKind       kind,
                                   const char        *rel,
                                   const char        *src,
                                   const struct stat *st,
                                   const char        *target,
                                   gpointer           user_data);

/* The host's /etc entries a sandbox sees (bwrap binds them; a guest gets copies, but
 * of those in csb_stage_etc_own_files). */
extern const char * const csb_etc_allowlist[];
/* The files of the user's home every backend shows read-only (relative to the
 * home), when present; the last one, CSB_HOME_GH_CONFIG, only with gh-token. */
extern const char * const csb_home_ro_files[];
#define CSB_HOME_GH_CONFIG ".config/gh"
/* The /etc files of the sandbox's own (not the host's): csb_stage_etc() writes them. */
extern const char * const csb_stage_etc_own_files[];

/* The host's allowlisted /etc entries (in @etc_root: /etc but in tests), in order,
 * but the guest's own files: what a
 * guest's /etc holds of the host (links into /usr, and relative ones, stay links;
 * others are followed). */
void      csb_stage_walk_etc      (const char         *etc_root,
                                   CsbStageVisit       visit,
                                   gpointer            user_data);
/* Copies @src (a file, a folder, or a link, as csb_stage_walk_etc() treats them) to
 * @dest, whose folder exists; FALSE if nothing could be copied. */
gboolean  csb_stage_copy_tree     (const char         *src,
                                   const char         *dest);
/* A curated /etc in @etc_dir: with @with_host_entries, the host's allowlisted
 * entries; then passwd, group, hostname and hosts of the sandbox, and @resolv_conf. */
gboolean  csb_stage_etc           (const char         *etc_dir,
                                   gboolean            with_host_entries,
                                   const CsbStageUser *user,
                                   const char         *hostname,
                                   const char         *resolv_conf,
                                   GError            **error);
/* Claude Code's installation for @spec (the claude-path setting, else found from
 * the session's PATH and @home): visible in every sandbox, as a shell user runs it
 * too; only a sandbox whose command is claude fails without it. TRUE with
 * *@out_claude NULL when it is missing and not needed. */
gboolean  csb_stage_find_claude   (CsbSandboxSpec     *spec,
                                   const char         *home,
                                   CsbClaudeInstall  **out_claude,
                                   GError            **error);
/* GH_TOKEN, GITHUB_TOKEN or `gh auth token` of the service's environment. */
char     *csb_stage_find_gh_token (CsbSandboxSpec     *spec,
                                   GError            **error);

/* The sandbox's environment, "NAME=VALUE": the env-allowlist setting's share of
 * the service's, then ours, the token (nullable) and the caller's env option. */
GPtrArray *csb_stage_environment  (CsbSandboxSpec     *spec,
                                   const CsbStageUser *user,
                                   const char         *path_env,
                                   const char         *run_user,
                                   const char         *token);

G_END_DECLS
