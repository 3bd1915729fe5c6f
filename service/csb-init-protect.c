/* csb-init-protect.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "csb-init-protect.h"

static int
open_beneath (int         dir_fd,
              const char *path)
{
  struct open_how how = {
    .flags = O_PATH | O_CLOEXEC,
    .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
  };

  return syscall (SYS_openat2, dir_fd, path, &how, sizeof how);
}

int
csb_init_protect (const char *project,
                  const char *relative,
                  int         readonly,
                  int         want_dir)
{
  char fd_path[64];
  struct stat st, top;
  int saved = 0;
  int project_fd = open (project, O_PATH | O_DIRECTORY | O_CLOEXEC);
  int fd = -1, mounted = -1;

  if (project_fd < 0)
    return -1;
  fd = open_beneath (project_fd, relative);
  if (fd < 0 || fstat (fd, &st) != 0)
    goto fail;
  if (want_dir ? !S_ISDIR (st.st_mode) : !S_ISREG (st.st_mode))
    {
      errno = EINVAL;
      goto fail;
    }
  /* Through the descriptor, not the path: what was checked is what is bound. */
  snprintf (fd_path, sizeof fd_path, "/proc/self/fd/%d", fd);
  if (mount (fd_path, fd_path, NULL, MS_BIND, NULL) != 0)
    goto fail;
  if (readonly)
    {
      /* The new mount's root, found the same way, is what becomes read-only. */
      mounted = open_beneath (project_fd, relative);
      if (mounted < 0 || fstat (mounted, &top) != 0)
        goto fail;
      if (top.st_ino != st.st_ino || top.st_dev != st.st_dev)
        {
          errno = ESTALE;
          goto fail;
        }
      snprintf (fd_path, sizeof fd_path, "/proc/self/fd/%d", mounted);
      if (mount (NULL, fd_path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
                 NULL) != 0)
        goto fail;
    }
  close (project_fd);
  close (fd);
  if (mounted >= 0)
    close (mounted);
  return 0;

fail:
  saved = errno;
  close (project_fd);
  if (fd >= 0)
    close (fd);
  if (mounted >= 0)
    close (mounted);
  errno = saved;
  return -1;
}
