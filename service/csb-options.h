/* csb-options.h — the a{sv} options of Launch, checked and with defaults applied.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

G_BEGIN_DECLS

typedef struct _CsbLaunchOptions CsbLaunchOptions;

struct _CsbLaunchOptions
{
  char        *backend;
  gboolean     review;        /* project-mode review: writes go to an upper layer */
  gboolean     network;
  gboolean     gh_token;
  gboolean     shell;
  gboolean     display;
  gboolean     private_display; /* a headless compositor of its own (bwrap, container) */
  gboolean     audio;
  gboolean     gpu;
  gboolean     ssh_agent;
  char        *name;
  GHashTable  *env;           /* name → value, set inside after the allowlist */
  GPtrArray   *ro_binds;      /* (element-type filename) */
  GPtrArray   *rw_binds;      /* (element-type filename) */
  GPtrArray   *network_allow; /* (element-type utf8): non-empty = filtered network */
  GPtrArray   *network_deny;
  gboolean     network_given; /* the caller said network: true/false itself */
  gboolean     display_given; /* the caller said display: true/false itself */
  guint64      given;         /* bit i: the call gave the i-th key of Launch's table */
  GPtrArray   *left_off;      /* (element-type utf8): settings' defaults the backend
                               * cannot give, turned off; what the log says of each */
  guint        vm_memory_mib;
  guint        vm_cpus;
  char        *vm_image;      /* (nullable) resolved absolute path of a disk image */
  gboolean     has_stdio;
  int          stdio_fds[3];  /* owned; -1 for "not given" (then /dev/null) */
};

CsbLaunchOptions *csb_launch_options_new      (GSettings        *settings);
void              csb_launch_options_free     (CsbLaunchOptions *self);
gboolean          csb_launch_options_parse    (CsbLaunchOptions *self,
                                               GVariant         *options,
                                               GUnixFDList      *fd_list,
                                               GError          **error);
GStrv             csb_launch_options_dup_keys (void);
const char       *csb_launch_option_get_type  (const char       *key);
int               csb_launch_options_steal_stdio_fd (CsbLaunchOptions *self,
                                                     guint             target);

gboolean          csb_validate_project_dir    (const char       *path,
                                               const char       *home,
                                               char            **out_resolved,
                                               GError          **error);
gboolean          csb_validate_bind_path      (const char       *option,
                                               const char       *path,
                                               const char       *home,
                                               char            **out_resolved,
                                               GError          **error);
gboolean          csb_validate_env_name       (const char       *name,
                                               GError          **error);
gboolean          csb_validate_command        (const char * const *command,
                                               GError          **error);

char             *csb_user_shell              (GSettings        *settings);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbLaunchOptions, csb_launch_options_free)

G_END_DECLS
