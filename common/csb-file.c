/* csb-file.c
 *
 * Readers of our state files (a restarted service, the host's claude) must see the
 * old file or the new one, never half of one: write a temporary file beside it and
 * rename it over. Only files whose loss in a power cut matters (the user's own
 * ~/.claude.json) are also fsync'ed: an fsync costs tens of milliseconds, and a
 * sandbox's records are rewritten on every launch and state change.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <linux/openat2.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "csb-file.h"

gboolean
csb_file_replace (const char *path,
                  const char *data,
                  gssize      len,
                  int         mode,
                  gboolean    durable,
                  GError    **error)
{
  g_autofree char *tmp = NULL;
  int fd;

  if (durable)
    return g_file_set_contents_full (path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, mode,
                                     error);

  /* A name of its own: several threads may replace the same file at once. */
  tmp = g_strdup_printf ("%s.XXXXXX", path);
  fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, mode);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot write '%s': %s", path, g_strerror (saved));
      return FALSE;
    }
  if (len < 0)
    len = strlen (data);
  for (gssize done = 0; done < len;)
    {
      gssize n = write (fd, data + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = errno;

          close (fd);
          g_unlink (tmp);
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                       "cannot write '%s': %s", path, g_strerror (saved));
          return FALSE;
        }
      done += n;
    }
  close (fd);
  if (g_rename (tmp, path) != 0)
    {
      int saved = errno;

      g_unlink (tmp);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot replace '%s': %s", path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Our folders under @base (the user's own XDG folder, trusted as it is): each
 * component of @relative is created 0700 if missing and opened without following a
 * link, and must be a folder of ours; one that is open to others is closed to them.
 * A sandbox that could write to a parent (the runtime folder bound into it by a
 * mistake) cannot redirect what the service creates there by planting a link. */
int
csb_file_open_private_dir (const char *base,
                           const char *relative,
                           gboolean    create,
                           GError    **error)
{
  g_auto(GStrv) parts = g_strsplit (relative, "/", -1);
  int dir_fd;

  if (create && g_mkdir_with_parents (base, 0700) != 0 && errno != EEXIST)
    goto fail_base;
  dir_fd = open (base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    goto fail_base;

  for (guint i = 0; parts[i] != NULL; i++)
    {
      struct stat st;
      int fd;

      if (parts[i][0] == '\0' || g_str_equal (parts[i], ".") || g_str_equal (parts[i], ".."))
        continue;
      if (create && mkdirat (dir_fd, parts[i], 0700) != 0 && errno != EEXIST)
        {
          int saved = errno;

          close (dir_fd);
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                       "cannot create '%s' in '%s': %s", parts[i], base, g_strerror (saved));
          return -1;
        }
      fd = openat (dir_fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      close (dir_fd);
      if (fd < 0 || fstat (fd, &st) != 0 || st.st_uid != geteuid ())
        {
          int saved = fd < 0 ? errno : EPERM;

          if (fd >= 0)
            close (fd);
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                       "'%s' under '%s' is not a folder of ours%s", relative, base,
                       saved == ELOOP || saved == ENOTDIR ? " (a link or a file)" : "");
          return -1;
        }
      if ((st.st_mode & 0077) != 0 && fchmod (fd, st.st_mode & 0700) != 0)
        {
          int saved = errno;

          close (fd);
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                       "cannot make '%s' under '%s' private: %s", relative, base,
                       g_strerror (saved));
          return -1;
        }
      dir_fd = fd;
    }
  return dir_fd;

fail_base:
  {
    int saved = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                 "cannot open '%s': %s", base, g_strerror (saved));
    return -1;
  }
}

int
csb_file_connect_socket (const char *path,
                         GError    **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  g_return_val_if_fail (path != NULL, -1);

  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG,
                   "socket path '%s' is too long", path);
      return -1;
    }
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "cannot connect to '%s': %s",
                   path, g_strerror (saved));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  return fd;
}

int
csb_file_open_dir_exact (const char *path,
                         int         flags,
                         gboolean   *gone)
{
  g_autofree char *fd_path = NULL;
  g_autofree char *opened = NULL;
  int fd = open (path, flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  *gone = fd < 0;
  if (fd < 0)
    return -1;
  fd_path = g_strdup_printf ("/proc/self/fd/%d", fd);
  opened = g_file_read_link (fd_path, NULL);
  if (g_strcmp0 (opened, path) != 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* ---- opening what a sandbox may have made ---------------------------------------- */

static int
open_beneath_raw (int         dir_fd,
                  const char *path,
                  int         flags)
{
  /* No O_NOFOLLOW: with O_PATH it would return a trailing symlink itself, where
   * RESOLVE_NO_SYMLINKS refuses it (ELOOP). */
  struct open_how how = {
    .flags = flags | O_CLOEXEC,
    .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
  };
  int fd;

  g_assert (path != NULL && !g_path_is_absolute (path));
  do
    fd = syscall (SYS_openat2, dir_fd, path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN);
  if (fd >= 0 || errno != ENOSYS)
    return fd;

  /* Before Linux 5.6: one component at a time, none of them a link or "..". */
  {
    g_auto(GStrv) parts = g_strsplit (path, "/", -1);
    int cur = dup (dir_fd);

    for (guint i = 0; cur >= 0 && parts[i] != NULL; i++)
      {
        gboolean last = parts[i + 1] == NULL;
        int next;

        if (*parts[i] == '\0' || g_str_equal (parts[i], "."))
          continue;
        if (g_str_equal (parts[i], ".."))
          {
            close (cur);
            errno = EXDEV;
            return -1;
          }
        next = openat (cur, parts[i],
                       (last ? flags : O_PATH | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC);
        close (cur);
        cur = next;
      }
    if (cur >= 0 && (flags & O_PATH) && !(flags & O_DIRECTORY))
      {
        struct stat st;

        if (fstat (cur, &st) == 0 && S_ISLNK (st.st_mode))
          {
            close (cur);
            errno = ELOOP;
            return -1;
          }
      }
    return cur;
  }
}

int
csb_open_beneath (int         dir_fd,
                  const char *path,
                  int         flags)
{
  g_autofree char *fd_path = NULL;
  struct stat st;
  int path_fd, fd, saved;

  /* Opening is already acting: a device node's driver runs at open (a watchdog
   * starts, a tape rewinds), a FIFO may block. Whatever a sandbox could have made
   * (a VM's virtiofsd that runs as root can make device nodes) is therefore looked
   * at first through O_PATH, and only a regular file or a folder is opened for
   * real — through that very descriptor, so it cannot be swapped meanwhile. Any
   * other type comes back as its O_PATH descriptor: fstat tells the caller what it
   * is, and a read of it fails (EBADF) rather than act. */
  if (flags & (O_PATH | O_CREAT | O_DIRECTORY))
    return open_beneath_raw (dir_fd, path, flags);
  path_fd = open_beneath_raw (dir_fd, path, O_PATH);
  if (path_fd < 0)
    return -1;
  if (fstat (path_fd, &st) != 0 || !(S_ISREG (st.st_mode) || S_ISDIR (st.st_mode)))
    return path_fd;
  fd_path = g_strdup_printf ("/proc/self/fd/%d", path_fd);
  fd = open (fd_path, (flags & ~O_NOFOLLOW) | O_CLOEXEC);
  saved = errno;
  close (path_fd);
  errno = saved;
  return fd;
}

/* The rest of @fd, at most @max bytes, NUL-terminated. The buffer grows with what is
 * read, so a limit of 64 MiB costs the service no more than the file's own size (a
 * buffer of the limit's size, filled by MALLOC_PERTURB_ or not, stays in RSS).
 * NULL with errno set on an error, EFBIG past @max. */
char *
csb_file_read_fd_bounded (int    fd,
                          gsize  max,
                          gsize *out_len)
{
  g_autoptr(GByteArray) buffer = g_byte_array_new ();
  guint8 chunk[16384];

  for (;;)
    {
      ssize_t n = read (fd, chunk, sizeof chunk);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return NULL;
      if (n == 0)
        break;
      if ((gsize) n > max - MIN (max, buffer->len))
        {
          errno = EFBIG;
          return NULL;
        }
      g_byte_array_append (buffer, chunk, n);
    }
  *out_len = buffer->len;
  g_byte_array_append (buffer, (const guint8 *) "", 1);
  return (char *) g_byte_array_free (g_steal_pointer (&buffer), FALSE);
}

gboolean
csb_file_is_socket (const char *path)
{
  struct stat st;

  return path != NULL && stat (path, &st) == 0 && S_ISSOCK (st.st_mode);
}

/* Sets @error from errno about @name in @path (NULL: @path itself); FALSE. */
static gboolean
set_remove_error (GError    **error,
                  const char *path,
                  const char *name)
{
  int saved = errno;

  if (name == NULL)
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "cannot remove '%s': %s",
                 path, g_strerror (saved));
  else
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                 "cannot remove '%s' in '%s': %s", name, path, g_strerror (saved));
  return FALSE;
}

/* How deep csb_rm_rf descends before it moves a folder up to the top: a sandbox can
 * nest folders as deep as it likes, and each level costs an open folder. */
#define RM_MAX_DEPTH 32

typedef struct
{
  int         top_fd;
  const char *top_path;   /* for messages */
  guint       hoisted;    /* folders moved up to the top in this pass */
  guint       serial;
  GError    **error;      /* the first failure */
  gboolean    ok;
} RmTree;

static void
rm_failed (RmTree     *rm,
           const char *name)
{
  if (rm->ok)
    set_remove_error (rm->error, rm->top_path, name);
  rm->ok = FALSE;
}

/* A folder too deep to enter now goes up to the top, under a name of ours, for
 * a later pass. */
static void
rm_hoist (RmTree     *rm,
          int         dir_fd,
          const char *name)
{
  for (guint tries = 0; tries < 1000; tries++)
    {
      char tmp[64];

      g_snprintf (tmp, sizeof tmp, ".csb-rm-%u", rm->serial++);
      if (renameat2 (dir_fd, name, rm->top_fd, tmp, RENAME_NOREPLACE) == 0)
        {
          rm->hoisted++;
          return;
        }
      if (errno != EEXIST)
        break;
    }
  rm_failed (rm, name);
}

static void rm_children (RmTree *rm, int dir_fd, guint depth);

/* Removes @name in @dir_fd, and everything below it, never following a link. */
static void
rm_entry (RmTree     *rm,
          int         dir_fd,
          const char *name,
          guint       depth)
{
  struct stat st;
  int fd;

  if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    {
      if (errno != ENOENT)
        rm_failed (rm, name);
      return;
    }
  if (!S_ISDIR (st.st_mode))
    {
      if (unlinkat (dir_fd, name, 0) != 0 && errno != ENOENT)
        rm_failed (rm, name);
      return;
    }
  if (depth >= RM_MAX_DEPTH)
    {
      rm_hoist (rm, dir_fd, name);
      return;
    }
  fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0)
    rm_children (rm, fd, depth + 1);   /* closes fd */
  if (unlinkat (dir_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
    rm_failed (rm, name);
}

/* Removes what is in the folder @dir_fd (then closed). */
static void
rm_children (RmTree *rm,
             int     dir_fd,
             guint   depth)
{
  DIR *dir = fdopendir (dir_fd);
  struct dirent *entry;

  if (dir == NULL)
    {
      close (dir_fd);
      return;
    }
  while ((entry = readdir (dir)) != NULL)
    if (strcmp (entry->d_name, ".") != 0 && strcmp (entry->d_name, "..") != 0)
      rm_entry (rm, dirfd (dir), entry->d_name, depth);
  closedir (dir);
}

/* Removes @path and, when it is a folder, everything below it, reached without
 * following any link; goes on after a failure and reports the first. Bounded
 * however deep the tree: at most RM_MAX_DEPTH open folders and no path built per
 * level (folders deeper than that move up to the top and go in a later pass). */
gboolean
csb_rm_rf (const char *path,
           GError    **error)
{
  RmTree rm = { -1, path, 0, 0, error, TRUE };
  struct stat st;

  if (fstatat (AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT || set_remove_error (error, path, NULL);
  if (!S_ISDIR (st.st_mode))
    return unlinkat (AT_FDCWD, path, 0) == 0 || errno == ENOENT ||
           set_remove_error (error, path, NULL);

  rm.top_fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rm.top_fd < 0)
    return set_remove_error (error, path, NULL);
  do
    {
      /* Its own open folder: a dup would share the last pass's read position. */
      int pass_fd = openat (rm.top_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

      rm.hoisted = 0;
      if (pass_fd < 0)
        {
          rm_failed (&rm, NULL);
          break;
        }
      rm_children (&rm, pass_fd, 1);
    }
  while (rm.hoisted > 0 && rm.ok);
  close (rm.top_fd);
  if (unlinkat (AT_FDCWD, path, AT_REMOVEDIR) != 0 && errno != ENOENT)
    return rm.ok ? set_remove_error (error, path, NULL) : FALSE;
  return rm.ok;
}

int
csb_file_sealed_memfd (const char *name,
                       GBytes     *data)
{
  gsize len;
  const guint8 *bytes = g_bytes_get_data (data, &len);
  int fd = memfd_create (name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  int saved;

  if (fd < 0)
    return -1;
  while (len > 0)
    {
      ssize_t n = write (fd, bytes, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        goto fail;
      bytes += n;
      len -= n;
    }
  if (lseek (fd, 0, SEEK_SET) < 0 ||
      fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
    goto fail;
  return fd;

fail:
  saved = errno ? errno : EIO;
  close (fd);
  errno = saved;
  return -1;
}
