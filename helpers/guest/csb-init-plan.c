/* csb-init-plan.c — see csb-init-plan.h.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-init-plan.h"
#include "csb-init-protect.h"

CsbInitContext csb_init = { "", 0, NULL };

static void __attribute__ ((format (printf, 2, 0)))
log_va (CsbInitLevel level,
        const char  *fmt,
        va_list      ap)
{
  char buf[1024];

  if (vsnprintf (buf, sizeof buf, fmt, ap) < 0 || csb_init.log == NULL)
    return;
  csb_init.log (level, buf);
}

void
csb_init_fail (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  log_va (CSB_INIT_FAIL, fmt, ap);
  va_end (ap);
}

void
csb_init_warn (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  log_va (CSB_INIT_WARN, fmt, ap);
  va_end (ap);
}

void
csb_init_note (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  log_va (CSB_INIT_NOTE, fmt, ap);
  va_end (ap);
}

void
csb_init_write_line (int         fd,
                     const char *prefix,
                     const char *message)
{
  if (fd < 0 || message[0] == '\0')
    return;
  if (write (fd, prefix, strlen (prefix)) < 0 || write (fd, message, strlen (message)) < 0 ||
      write (fd, "\r\n", 2) < 0) {}
}

int
csb_init_mkdir_p (const char *path,
                  mode_t      mode)
{
  char buf[4096];
  size_t len = strlen (path);

  if (len >= sizeof buf)
    return -1;
  memcpy (buf, path, len + 1);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/')
      {
        *p = '\0';
        if (mkdir (buf, 0755) != 0 && errno != EEXIST)
          return -1;
        *p = '/';
      }
  if (mkdir (buf, mode) != 0 && errno != EEXIST)
    return -1;
  return 0;
}

char *
csb_init_in_root (const char *path)
{
  static char buf[4][4096];
  static int slot;
  char *out = buf[slot++ % 4];

  snprintf (out, 4096, "%s%s", csb_init.root, path);
  return out;
}

/* mkdir PATH */
int
csb_init_plan_mkdir (void           *data,
                     CsbPlanKeyword  keyword,
                     char          **args)
{
  csb_init_mkdir_p (csb_init_in_root (args[0]), 0755);
  return 0;
}

/* symlink TARGET PATH, its folder made first. */
int
csb_init_plan_symlink (void           *data,
                       CsbPlanKeyword  keyword,
                       char          **args)
{
  CsbPlanCommand *cmd = data;
  char parent[4096];

  snprintf (parent, sizeof parent, "%s", csb_init_in_root (args[1]));
  if (strrchr (parent, '/') != NULL && strrchr (parent, '/') != parent)
    {
      *strrchr (parent, '/') = '\0';
      csb_init_mkdir_p (parent, 0755);
    }
  if (symlink (args[0], csb_init_in_root (args[1])) != 0 && errno != EEXIST)
    csb_init_warn ("cannot create the symlink %s: %s", args[1], strerror (errno));
  else if (csb_init.own_links)
    lchown (csb_init_in_root (args[1]), cmd->uid, cmd->gid);
  return 0;
}

/* protect PROJECT RELATIVE ro|rw d|f (csb-init-protect.c): an entry that is not
 * there, or not what it should be, is left alone (and the log says so). */
int
csb_init_plan_protect (void           *data,
                       CsbPlanKeyword  keyword,
                       char          **args)
{
  if (csb_init_protect (csb_init_in_root (args[0]), args[1], strcmp (args[2], "ro") == 0,
                        strcmp (args[3], "d") == 0) != 0)
    {
      if (errno != ENOENT && errno != ELOOP && errno != EXDEV && errno != EINVAL)
        {
          csb_init_fail ("cannot protect %s/%s: %s", args[0], args[1], strerror (errno));
          return -1;
        }
      csb_init_note ("%s/%s not protected: %s", args[0], args[1], strerror (errno));
    }
  return 0;
}

/* protect-tmpfs PROJECT RELATIVE UID GID (csb-init-protect.c). */
int
csb_init_plan_protect_tmpfs (void           *data,
                             CsbPlanKeyword  keyword,
                             char          **args)
{
  if (csb_init_protect_tmpfs (csb_init_in_root (args[0]), args[1], strtoul (args[2], NULL, 10),
                              strtoul (args[3], NULL, 10)) != 0)
    {
      csb_init_fail ("cannot cover %s/%s with a tmpfs: %s", args[0], args[1], strerror (errno));
      return -1;
    }
  return 0;
}

/* protect-link PROJECT RELATIVE TARGET: a link of a folder covered by a tmpfs. */
int
csb_init_plan_protect_link (void           *data,
                            CsbPlanKeyword  keyword,
                            char          **args)
{
  if (csb_init_protect_link (csb_init_in_root (args[0]), args[1], args[2]) != 0)
    csb_init_warn ("cannot make the link %s/%s again: %s", args[0], args[1], strerror (errno));
  return 0;
}
