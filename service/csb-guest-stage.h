/* csb-guest-stage.h — files the libvirt backends stage for their guests.
 * All blocking (file system); call from a worker thread.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <sys/types.h>

#include "csb-backend.h"

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

/* Copies @src (a file, a folder, or a link: links into /usr stay links) to @dest. */
gboolean  csb_stage_copy_tree     (const char         *src,
                                   const char         *dest,
                                   int                 depth);
/* A curated /etc in @etc_dir: the host's allowlisted entries, then passwd, group,
 * hostname and hosts of the sandbox, and @resolv_conf. */
gboolean  csb_stage_etc           (const char         *etc_dir,
                                   const CsbStageUser *user,
                                   const char         *hostname,
                                   const char         *resolv_conf,
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
