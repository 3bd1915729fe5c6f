/* csb-argv.h — builds an argument vector plus the fds that go with it.
 *
 * Every command line claude-sandbox runs is built here, never by string
 * concatenation, and nothing goes through a shell. Fds handed to the child
 * get fixed target numbers (3, 4, …) at the time they are added, so
 * arguments like "--seccomp 4" can name them before the spawn.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _CsbArgv CsbArgv;

struct _CsbArgv
{
  GPtrArray *argv;        /* (element-type utf8): no trailing NULL until csb_argv_finish() */
  GArray    *source_fds;  /* (element-type int): owned, closed by csb_argv_free() */
  GArray    *target_fds;  /* (element-type int): the number each fd gets in the child */
  int        next_target;
};

CsbArgv     *csb_argv_new           (void);
void         csb_argv_free          (CsbArgv    *self);
void         csb_argv_add           (CsbArgv    *self,
                                     const char *arg);
void         csb_argv_add_args      (CsbArgv    *self,
                                     ...) G_GNUC_NULL_TERMINATED;
void         csb_argv_addf          (CsbArgv    *self,
                                     const char *format,
                                     ...) G_GNUC_PRINTF (2, 3);
void         csb_argv_add_strv      (CsbArgv            *self,
                                     const char * const *args);
int          csb_argv_take_fd       (CsbArgv    *self,
                                     int         fd);
void         csb_argv_take_fd_as    (CsbArgv    *self,
                                     int         fd,
                                     int         target);
void         csb_argv_append_fds_of (CsbArgv    *self,
                                     CsbArgv    *other);
guint        csb_argv_get_len       (CsbArgv    *self);
const char  *csb_argv_get           (CsbArgv    *self,
                                     guint       i);
gboolean     csb_argv_contains      (CsbArgv    *self,
                                     const char *arg);
GBytes      *csb_argv_to_nul_data   (CsbArgv    *self);
const char * const *csb_argv_finish (CsbArgv    *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbArgv, csb_argv_free)

G_END_DECLS
