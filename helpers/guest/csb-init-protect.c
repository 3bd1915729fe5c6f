/* csb-init-protect.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "csb-init-protect.h"

/* The folders covered with a tmpfs: the project's .claude (one per project; a
 * few for safety). */
#define MAX_COVERED 8

typedef struct
{
  char   project[4096];
  char   relative[4096];
  int    original;        /* the folder underneath, O_PATH */
  dev_t  tmpfs_dev;
  uid_t  uid;
  gid_t  gid;
} Covered;

static Covered covered[MAX_COVERED];
static int n_covered;

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

static void
close_quietly (int fd)
{
  int saved = errno;

  if (fd >= 0)
    close (fd);
  errno = saved;
}

/* The covered folder @relative's entry is in, its name in @out_name; or NULL. */
static Covered *
find_covered (const char  *project,
              const char  *relative,
              const char **out_name)
{
  const char *slash = strrchr (relative, '/');

  if (slash == NULL)
    return NULL;
  for (int i = 0; i < n_covered; i++)
    if (strcmp (covered[i].project, project) == 0 &&
        strlen (covered[i].relative) == (size_t) (slash - relative) &&
        strncmp (covered[i].relative, relative, slash - relative) == 0)
      {
        *out_name = slash + 1;
        return &covered[i];
      }
  return NULL;
}

/* The tmpfs of @c, reached again from the project without a symlink and checked
 * to be that tmpfs. */
static int
open_covering (int      project_fd,
               Covered *c)
{
  struct stat st;
  int fd = open_beneath (project_fd, c->relative);

  if (fd >= 0 && (fstat (fd, &st) != 0 || st.st_dev != c->tmpfs_dev || !S_ISDIR (st.st_mode)))
    {
      close (fd);
      errno = ESTALE;
      return -1;
    }
  return fd;
}

/* A mount point for @name in @c's tmpfs, of @name's type. */
static int
make_mount_point (int         project_fd,
                  Covered    *c,
                  const char *name,
                  int         want_dir)
{
  int dir = open_covering (project_fd, c);
  int ret = 0;

  if (dir < 0)
    return -1;
  if (want_dir)
    {
      if (mkdirat (dir, name, 0755) != 0 && errno != EEXIST)
        ret = -1;
    }
  else
    {
      int fd = openat (dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

      if (fd >= 0)
        close (fd);
      else if (errno != EEXIST)
        ret = -1;
    }
  close_quietly (dir);
  return ret;
}

int
csb_init_protect (const char *project,
                  const char *relative,
                  int         readonly,
                  int         want_dir)
{
  char fd_path[64], target_path[64];
  struct stat st, top;
  int saved = 0;
  int project_fd = open (project, O_PATH | O_DIRECTORY | O_CLOEXEC);
  int fd = -1, target = -1, mounted = -1;
  const char *name = NULL;
  Covered *c;

  if (project_fd < 0)
    return -1;
  c = find_covered (project, relative, &name);
  fd = c != NULL ? open_beneath (c->original, name) : open_beneath (project_fd, relative);
  if (fd < 0 || fstat (fd, &st) != 0)
    goto fail;
  if (want_dir ? !S_ISDIR (st.st_mode) : !S_ISREG (st.st_mode))
    {
      errno = EINVAL;
      goto fail;
    }
  /* Through the descriptors, not the paths: what was checked is what is bound,
   * onto itself or onto its mount point in the tmpfs that covers its folder. */
  snprintf (fd_path, sizeof fd_path, "/proc/self/fd/%d", fd);
  if (c != NULL)
    {
      struct stat point;

      if (make_mount_point (project_fd, c, name, want_dir) != 0 ||
          (target = open_beneath (project_fd, relative)) < 0 || fstat (target, &point) != 0)
        goto fail;
      if (point.st_dev != c->tmpfs_dev)
        {
          errno = ESTALE;
          goto fail;
        }
      snprintf (target_path, sizeof target_path, "/proc/self/fd/%d", target);
    }
  else
    snprintf (target_path, sizeof target_path, "%s", fd_path);
  if (mount (fd_path, target_path, NULL, MS_BIND, NULL) != 0)
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
  saved = 0;
  goto out;

fail:
  saved = errno;
out:
  close (project_fd);
  close_quietly (fd);
  close_quietly (target);
  close_quietly (mounted);
  errno = saved;
  return saved != 0 ? -1 : 0;
}

int
csb_init_protect_tmpfs (const char *project,
                        const char *relative,
                        uid_t       uid,
                        gid_t       gid)
{
  char fd_path[64], opts[96];
  struct stat st, top;
  int saved = 0;
  int project_fd = open (project, O_PATH | O_DIRECTORY | O_CLOEXEC);
  int original = -1, mounted = -1;
  Covered *c;

  if (project_fd < 0)
    return -1;
  if (n_covered >= MAX_COVERED || strlen (project) >= sizeof c->project ||
      strlen (relative) >= sizeof c->relative || strchr (relative, '/') != NULL)
    {
      /* Only a folder of the project itself (its .claude): its entries are one
       * name below it. */
      errno = EINVAL;
      goto fail;
    }
  original = open_beneath (project_fd, relative);
  if (original < 0 && errno == ENOENT)
    {
      int made;
      gid_t old_gid;
      uid_t old_uid;

      /* Made as the user (bwrap makes its mount point so; the VM's virtiofsd
       * refuses root, whom it cannot be), then opened again. */
      old_gid = setfsgid (gid);
      old_uid = setfsuid (uid);
      made = mkdirat (project_fd, relative, 0755) == 0 || errno == EEXIST;
      setfsuid (old_uid);
      setfsgid (old_gid);
      if (!made)
        goto fail;
      original = open_beneath (project_fd, relative);
    }
  if (original < 0 || fstat (original, &st) != 0)
    goto fail;
  if (!S_ISDIR (st.st_mode))
    {
      errno = EINVAL;
      goto fail;
    }
  snprintf (fd_path, sizeof fd_path, "/proc/self/fd/%d", original);
  snprintf (opts, sizeof opts, "mode=0755,uid=%u,gid=%u", (unsigned) uid, (unsigned) gid);
  if (mount ("tmpfs", fd_path, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
    goto fail;
  if ((mounted = open_beneath (project_fd, relative)) < 0 || fstat (mounted, &top) != 0)
    goto fail;
  if (top.st_dev == st.st_dev)
    {
      errno = ESTALE;
      goto fail;
    }
  c = &covered[n_covered++];
  snprintf (c->project, sizeof c->project, "%s", project);
  snprintf (c->relative, sizeof c->relative, "%s", relative);
  c->original = original;
  c->tmpfs_dev = top.st_dev;
  c->uid = uid;
  c->gid = gid;
  original = -1;
  saved = 0;
  goto out;

fail:
  saved = errno;
out:
  close (project_fd);
  close_quietly (original);
  close_quietly (mounted);
  errno = saved;
  return saved != 0 ? -1 : 0;
}

int
csb_init_protect_link (const char *project,
                       const char *relative,
                       const char *target)
{
  const char *name = NULL;
  Covered *c = find_covered (project, relative, &name);
  int project_fd, dir, ret = 0;

  if (c == NULL)
    {
      errno = ENOENT;
      return -1;
    }
  if ((project_fd = open (project, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
    return -1;
  dir = open_covering (project_fd, c);
  if (dir < 0 || symlinkat (target, dir, name) != 0 ||
      fchownat (dir, name, c->uid, c->gid, AT_SYMLINK_NOFOLLOW) != 0)
    ret = -1;
  close_quietly (dir);
  close_quietly (project_fd);
  return ret;
}
