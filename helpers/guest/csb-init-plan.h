/* csb-init-plan.h — what the VM's and the container's inits share beyond the plan's
 * reader (csb-plan.h): the plan entries both apply alike (mkdir, symlink and the
 * project's protections, csb-init-protect.c), mkdir_p, and the set-up's messages,
 * which each init sends where it can (its log callback). Plain libc, as the inits.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <sys/types.h>

#include "csb-plan.h"

typedef enum
{
  CSB_INIT_FAIL,   /* the start fails: the sandbox's user (and the service) must see it */
  CSB_INIT_WARN,   /* an entry of the plan did not hold; the start goes on */
  CSB_INIT_NOTE,   /* for whoever reads the init's own log */
} CsbInitLevel;

typedef struct
{
  /* The plan's paths are below it: "/newroot" (the VM builds the root there), ""
   * (the container's root is libvirt's). */
  const char *root;
  /* Symlinks are the command's user's, not root's (the container). */
  int         own_links;
  /* Where each message goes (the console, the kernel log, nowhere). */
  void      (*log) (CsbInitLevel level,
                    const char  *message);
} CsbInitContext;

/* The init's, set first thing in its main(). */
extern CsbInitContext csb_init;

void  csb_init_fail (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
void  csb_init_warn (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
void  csb_init_note (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
/* "@prefix@message\r\n" on @fd (a console, raw or not), as one init's line. */
void  csb_init_write_line (int         fd,
                           const char *prefix,
                           const char *message);

/* Makes @path and its missing parents (0755; @path itself @mode). 0, or -1 with errno. */
int   csb_init_mkdir_p (const char *path,
                        mode_t      mode);
/* @path below csb_init.root, in one of four buffers used in turn. */
char *csb_init_in_root (const char *path);

/* Handlers of csb_plan_run() (@data: the CsbPlanCommand) for mkdir, symlink, protect,
 * protect-tmpfs and protect-link. */
int   csb_init_plan_mkdir         (void *data, CsbPlanKeyword keyword, char **args);
int   csb_init_plan_symlink       (void *data, CsbPlanKeyword keyword, char **args);
int   csb_init_plan_protect       (void *data, CsbPlanKeyword keyword, char **args);
int   csb_init_plan_protect_tmpfs (void *data, CsbPlanKeyword keyword, char **args);
int   csb_init_plan_protect_link  (void *data, CsbPlanKeyword keyword, char **args);
