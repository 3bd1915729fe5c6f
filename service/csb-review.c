/* csb-review.c — the change list, diffs, apply and discard of review mode.
 *
 * A review sandbox sees the project through an overlay: lower is the real folder
 * (read-only), upper is STATE_DIR/review/upper, where every write lands. Mounted
 * with userxattr and without redirect_dir, the upper layer says everything in
 * plain terms: a file or folder there is new or replaces the real one, a character
 * device 0/0 (or an empty file with user.overlay.whiteout) is a deletion, a folder
 * with user.overlay.opaque "y" replaces the real folder's whole content. A rename is
 * a deletion and an addition.
 *
 * The sandbox wrote all of it: every path is opened beneath its root without
 * following links, types come from lstat, and only files, folders and symlinks are
 * ever applied (symlinks made as symlinks, never followed). Apply writes each file
 * to a temporary name in its real folder and renames it into place.
 *
 * The change list compares with the real folder as it is now. A file the user
 * changed while the sandbox ran (its ctime is newer than the sandbox's start) is a
 * conflict and is not applied, unless it was our own apply that changed it: those
 * are remembered (inode and ctime) in STATE_DIR/review-applied: beside the review
 * folder, which the sandbox's overlay mount (or a VM's share) holds, never in it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gio/gio.h>

#include "csb-error.h"
#include "csb-file.h"
#include "csb-project-guard.h"
#include "csb-quote.h"
#include "csb-review.h"

#define MAX_DEPTH   64
#define MAX_CHANGES 200000
#define COPY_BUF    (64 * 1024)
#define BINARY_PEEK 8000
#define MAX_DIFF_SIZE (32 * 1024 * 1024)
#define APPLIED_NAME "review-applied"

/* GLib 2.74 has no g_autofd yet. errno survives the close. */
static inline void
close_fd_ptr (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;

      close (*fd);
      errno = saved;
    }
}
#define csb_autofd __attribute__ ((cleanup (close_fd_ptr)))

void
csb_change_free (CsbChange *change)
{
  if (change == NULL)
    return;
  g_free (change->path);
  g_free (change->summary);
  g_free (change);
}

const char *
csb_change_kind_name (CsbChangeKind kind)
{
  switch (kind)
    {
    case CSB_CHANGE_ADDED:
      return "added";
    case CSB_CHANGE_MODIFIED:
      return "modified";
    case CSB_CHANGE_DELETED:
      return "deleted";
    case CSB_CHANGE_TYPE_CHANGED:
      return "type-changed";
    default:
      g_assert_not_reached ();
    }
}

/* ---- opening ----------------------------------------------------------------------- */

static char *
review_path (const char *state_dir,
             const char *name)
{
  return g_build_filename (state_dir, "review", name, NULL);
}

gboolean
csb_review_exists (const char *state_dir)
{
  g_autofree char *upper = review_path (state_dir, "upper");

  return g_file_test (upper, G_FILE_TEST_IS_DIR);
}

int
csb_review_prepare (const char *state_dir,
                    mode_t      project_mode,
                    GError    **error)
{
  g_autofree char *review = review_path (state_dir, NULL);
  static const char * const names[] = { "upper", "work", NULL };
  int fd;

  if (g_mkdir_with_parents (review, 0700) != 0)
    goto fail;
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (review, names[i], NULL);

      if (mkdir (path, 0700) != 0 && errno != EEXIST)
        goto fail;
    }
  fd = open (review, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    goto fail;
  /* The overlay's root takes the upper folder's mode: the project's own, as in direct
   * mode (its parent, review/, stays 0700). */
  fchmodat (fd, "upper", project_mode & 07777, 0);
  return fd;

fail:
  g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot prepare the review layer in %s: %s",
               review, g_strerror (errno));
  return -1;
}

char *
csb_review_dir (const char *state_dir)
{
  return review_path (state_dir, NULL);
}

static int
open_upper (const char *state_dir,
            GError    **error)
{
  g_autofree char *path = review_path (state_dir, "upper");
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0)
    g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_FOUND,
                 "this sandbox has no review layer (it was not launched with project-mode "
                 "review, or its changes were removed)");
  return fd;
}

/* The real folder, checked to be the one the sandbox was started on. */
static int
open_project (const char *project_dir,
              GError    **error)
{
  gboolean gone;
  int fd = csb_file_open_dir_exact (project_dir, O_RDONLY, &gone);

  if (fd < 0)
    g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                 "project folder '%s' is gone or was replaced", project_dir);
  return fd;
}

/* @rel below @root ("" is @root itself), a folder, no link on the way. */
static int
open_dir_beneath (int         root,
                  const char *rel)
{
  if (rel == NULL || *rel == '\0' || g_str_equal (rel, "."))
    return fcntl (root, F_DUPFD_CLOEXEC, 3);
  return csb_open_beneath (root, rel, O_RDONLY | O_DIRECTORY);
}

static gboolean
xattr_is (int         fd,
          const char *name,
          const char *value)
{
  char buf[8];
  ssize_t n = fgetxattr (fd, name, buf, sizeof buf);

  return n == (ssize_t) strlen (value) && memcmp (buf, value, n) == 0;
}

static gboolean
has_xattr (int         fd,
           const char *name)
{
  return fgetxattr (fd, name, NULL, 0) >= 0;
}

static gboolean
is_whiteout (int                dir,
             const char        *name,
             const struct stat *st)
{
  int fd;
  gboolean result;

  if (S_ISCHR (st->st_mode) && st->st_rdev == makedev (0, 0))
    return TRUE;
  if (!S_ISREG (st->st_mode) || st->st_size != 0)
    return FALSE;
  if ((fd = csb_open_beneath (dir, name, O_RDONLY | O_NONBLOCK | O_NOCTTY)) < 0)
    return FALSE;
  result = has_xattr (fd, "user.overlay.whiteout");
  close (fd);
  return result;
}

static gboolean
dir_is_opaque (int dir_fd)
{
  return xattr_is (dir_fd, "user.overlay.opaque", "y");
}

static const char *
type_name (mode_t mode)
{
  switch (mode & S_IFMT)
    {
    case S_IFREG:
      return "file";
    case S_IFDIR:
      return "folder";
    case S_IFLNK:
      return "symlink";
    case S_IFIFO:
      return "fifo";
    case S_IFSOCK:
      return "socket";
    case S_IFCHR:
      return "character device";
    case S_IFBLK:
      return "block device";
    default:
      return "unknown";
    }
}

static gboolean
type_is_applicable (mode_t mode)
{
  return S_ISREG (mode) || S_ISDIR (mode) || S_ISLNK (mode);
}

static char *
read_link_at (int         dir,
              const char *name)
{
  char buf[PATH_MAX + 1];
  ssize_t n = readlinkat (dir, name, buf, sizeof buf - 1);

  if (n < 0)
    return NULL;
  buf[n] = '\0';
  return g_strdup (buf);
}

/* A link's target as the user may see it on one line (quoted if it needs it). */
static char *
shown_link_at (int         dir,
               const char *name)
{
  g_autofree char *target = read_link_at (dir, name);

  return target ? csb_quote_name ("", target) : g_strdup ("?");
}

/* Same bytes? Both regular files, read without following links. */
static gboolean
same_content (int         upper_dir,
              int         lower_dir,
              const char *name,
              gboolean   *out_ok)
{
  g_autofree char *a = g_malloc (COPY_BUF);
  g_autofree char *b = g_malloc (COPY_BUF);
  /* O_NONBLOCK and the type checked on the descriptor: a running sandbox may have
   * swapped the file for a FIFO since it was listed, and a read must not wait on it. */
  int ua = csb_open_beneath (upper_dir, name, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  int lb = csb_open_beneath (lower_dir, name, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  gboolean same = FALSE;
  struct stat sa, sb;

  *out_ok = ua >= 0 && lb >= 0 &&
            fstat (ua, &sa) == 0 && S_ISREG (sa.st_mode) &&
            fstat (lb, &sb) == 0 && S_ISREG (sb.st_mode);
  while (*out_ok)
    {
      ssize_t na = read (ua, a, COPY_BUF);
      ssize_t nb = na > 0 ? read (lb, b, na) : read (lb, b, 1);

      if (na < 0 || nb < 0)
        {
          *out_ok = FALSE;
          break;
        }
      if (na != nb || memcmp (a, b, na) != 0)
        break;
      if (na == 0)
        {
          same = TRUE;
          break;
        }
    }
  if (ua >= 0)
    close (ua);
  if (lb >= 0)
    close (lb);
  return same;
}

/* ---- the change list -------------------------------------------------------------- */

typedef struct
{
  GPtrArray *changes;
} Walk;

static void
add_change (Walk          *w,
            const char    *path,
            CsbChangeKind  kind,
            gboolean       applicable,
            const char    *format,
            ...) G_GNUC_PRINTF (5, 6);

static void
add_change (Walk          *w,
            const char    *path,
            CsbChangeKind  kind,
            gboolean       applicable,
            const char    *format,
            ...)
{
  CsbChange *change;
  va_list ap;

  if (w->changes->len >= MAX_CHANGES)
    return;
  change = g_new0 (CsbChange, 1);
  change->path = g_strdup (path);
  change->kind = kind;
  change->protected = csb_review_path_is_protected (path);
  va_start (ap, format);
  change->summary = g_strdup_vprintf (format, ap);
  va_end (ap);
  /* A name that is not UTF-8 cannot be shown as it is (D-Bus strings are UTF-8): what
   * the user cannot see is never applied, only discarded. */
  change->applicable = applicable && g_utf8_validate (path, -1, NULL);
  if (applicable && !change->applicable)
    {
      char *summary = g_strconcat ("a name that is not UTF-8, never applied: ",
                                   change->summary, NULL);

      g_free (change->summary);
      change->summary = summary;
    }
  g_ptr_array_add (w->changes, change);
}

static void walk_dir (Walk       *w,
                      int         upper_dir,
                      int         lower_dir,
                      gboolean    opaque,
                      const char *rel,
                      guint       depth);

/* A folder in the upper layer (@lst: what was below it, NULL: nothing): its own
 * change, then what is in it. */
static void
walk_entry_folder (Walk              *w,
                   int                upper_dir,
                   int                lower_dir,
                   gboolean           opaque,
                   const char        *name,
                   const char        *path,
                   guint              depth,
                   const struct stat *ust,
                   const struct stat *lst)
{
  int cu = csb_open_beneath (upper_dir, name, O_RDONLY | O_DIRECTORY);
  int cl = -1;

  if (lst == NULL)
    add_change (w, path, CSB_CHANGE_ADDED, TRUE, "new folder");
  else if (!S_ISDIR (lst->st_mode))
    add_change (w, path, CSB_CHANGE_TYPE_CHANGED, TRUE, "a folder where a %s was",
                type_name (lst->st_mode));
  else
    {
      if ((ust->st_mode & 07777) != (lst->st_mode & 07777))
        add_change (w, path, CSB_CHANGE_MODIFIED, TRUE, "mode %04o → %04o",
                    lst->st_mode & 07777, ust->st_mode & 07777);
      cl = csb_open_beneath (lower_dir, name, O_RDONLY | O_DIRECTORY);
    }
  if (cu < 0)
    add_change (w, path, CSB_CHANGE_MODIFIED, FALSE, "cannot be read: %s",
                g_strerror (errno));
  else if (depth >= MAX_DEPTH)
    add_change (w, path, CSB_CHANGE_MODIFIED, FALSE, "more than %d folders deep: not "
                "listed further", MAX_DEPTH);
  else
    walk_dir (w, cu, cl, opaque || dir_is_opaque (cu), path, depth + 1);
  if (cu >= 0)
    close (cu);
  if (cl >= 0)
    close (cl);
}

/* A file or symlink the sandbox made where there was nothing. */
static void
walk_entry_new (Walk              *w,
                int                upper_dir,
                const char        *name,
                const char        *path,
                const struct stat *ust)
{
  if (S_ISLNK (ust->st_mode))
    {
      g_autofree char *target = shown_link_at (upper_dir, name);
      add_change (w, path, CSB_CHANGE_ADDED, TRUE, "new symlink → %s", target);
    }
  else
    add_change (w, path, CSB_CHANGE_ADDED, TRUE, "new file, %" G_GINT64_FORMAT " bytes",
                (gint64) ust->st_size);
}

/* A symlink in both layers: changed if it points elsewhere now. */
static void
walk_entry_link (Walk       *w,
                 int         upper_dir,
                 int         lower_dir,
                 const char *name,
                 const char *path)
{
  g_autofree char *now = read_link_at (upper_dir, name);
  g_autofree char *before = read_link_at (lower_dir, name);

  if (g_strcmp0 (now, before) != 0)
    {
      g_autofree char *shown_now = shown_link_at (upper_dir, name);
      g_autofree char *shown_before = shown_link_at (lower_dir, name);

      add_change (w, path, CSB_CHANGE_MODIFIED, TRUE, "symlink → %s (was → %s)",
                  shown_now, shown_before);
    }
}

/* A regular file in both layers: its size, content and mode compared. */
static void
walk_entry_file (Walk              *w,
                 int                upper_dir,
                 int                lower_dir,
                 const char        *name,
                 const char        *path,
                 const struct stat *ust,
                 const struct stat *lst)
{
  gboolean ok;
  gboolean same = ust->st_size == lst->st_size && same_content (upper_dir, lower_dir, name, &ok);
  gboolean mode = (ust->st_mode & 07777) != (lst->st_mode & 07777);

  if (!same && ust->st_size != lst->st_size)
    add_change (w, path, CSB_CHANGE_MODIFIED, TRUE, "%" G_GINT64_FORMAT " → %"
                G_GINT64_FORMAT " bytes%s", (gint64) lst->st_size, (gint64) ust->st_size,
                mode ? ", mode changed" : "");
  else if (!same)
    add_change (w, path, CSB_CHANGE_MODIFIED, ok, ok ? "content changed%s" :
                "cannot be read%s", mode ? ", mode changed" : "");
  else if (mode)
    add_change (w, path, CSB_CHANGE_MODIFIED, TRUE, "mode %04o → %04o",
                lst->st_mode & 07777, ust->st_mode & 07777);
}

/* One entry of the upper layer against what was below it, if anything. */
static void
walk_entry (Walk       *w,
            int         upper_dir,
            int         lower_dir,
            gboolean    opaque,
            const char *name,
            const char *path,
            guint       depth)
{
  struct stat ust, lst;
  gboolean has_lower;

  if (fstatat (upper_dir, name, &ust, AT_SYMLINK_NOFOLLOW) != 0)
    return;
  has_lower = lower_dir >= 0 && fstatat (lower_dir, name, &lst, AT_SYMLINK_NOFOLLOW) == 0;

  if (is_whiteout (upper_dir, name, &ust))
    {
      if (has_lower)
        add_change (w, path, CSB_CHANGE_DELETED, TRUE, "deleted (%s)", type_name (lst.st_mode));
    }
  else if (S_ISDIR (ust.st_mode))
    walk_entry_folder (w, upper_dir, lower_dir, opaque, name, path, depth, &ust,
                       has_lower ? &lst : NULL);
  else if (!type_is_applicable (ust.st_mode))
    add_change (w, path, has_lower ? CSB_CHANGE_TYPE_CHANGED : CSB_CHANGE_ADDED, FALSE,
                "a %s: never applied", type_name (ust.st_mode));
  else if (!has_lower)
    walk_entry_new (w, upper_dir, name, path, &ust);
  else if ((ust.st_mode & S_IFMT) != (lst.st_mode & S_IFMT))
    add_change (w, path, CSB_CHANGE_TYPE_CHANGED, TRUE, "a %s where a %s was",
                type_name (ust.st_mode), type_name (lst.st_mode));
  else if (S_ISLNK (ust.st_mode))
    walk_entry_link (w, upper_dir, lower_dir, name, path);
  else
    walk_entry_file (w, upper_dir, lower_dir, name, path, &ust, &lst);
}

static void
walk_dir (Walk       *w,
          int         upper_dir,
          int         lower_dir,
          gboolean    opaque,
          const char *rel,
          guint       depth)
{
  g_autoptr(GHashTable) seen = NULL;
  DIR *dir;
  struct dirent *entry;
  int fd = fcntl (upper_dir, F_DUPFD_CLOEXEC, 3);

  if (fd < 0 || (dir = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      return;
    }
  rewinddir (dir);
  if (opaque && lower_dir >= 0)
    seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  while ((entry = readdir (dir)) != NULL)
    {
      g_autofree char *path = NULL;

      if (g_str_equal (entry->d_name, ".") || g_str_equal (entry->d_name, ".."))
        continue;
      path = *rel ? g_build_filename (rel, entry->d_name, NULL) : g_strdup (entry->d_name);
      if (seen != NULL)
        g_hash_table_add (seen, g_strdup (entry->d_name));
      walk_entry (w, upper_dir, lower_dir, opaque, entry->d_name, path, depth);
    }
  closedir (dir);

  /* An opaque folder hides everything of the real one it does not hold itself. */
  if (seen != NULL && (fd = fcntl (lower_dir, F_DUPFD_CLOEXEC, 3)) >= 0 &&
      (dir = fdopendir (fd)) != NULL)
    {
      rewinddir (dir);
      while ((entry = readdir (dir)) != NULL)
        {
          g_autofree char *path = NULL;
          struct stat lst;

          if (g_str_equal (entry->d_name, ".") || g_str_equal (entry->d_name, "..") ||
              g_hash_table_contains (seen, entry->d_name) ||
              fstatat (lower_dir, entry->d_name, &lst, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
          path = *rel ? g_build_filename (rel, entry->d_name, NULL) : g_strdup (entry->d_name);
          add_change (w, path, CSB_CHANGE_DELETED, TRUE, "deleted (%s)", type_name (lst.st_mode));
        }
      closedir (dir);
    }
}

static int
compare_changes (gconstpointer a,
                 gconstpointer b)
{
  const CsbChange *ca = *(CsbChange **) a;
  const CsbChange *cb = *(CsbChange **) b;

  return strcmp (ca->path, cb->path);
}

static GPtrArray *
list_with (int upper_fd,
           int project_fd)
{
  Walk w = { g_ptr_array_new_with_free_func ((GDestroyNotify) csb_change_free) };

  walk_dir (&w, upper_fd, project_fd, dir_is_opaque (upper_fd), "", 0);
  g_ptr_array_sort (w.changes, compare_changes);
  return w.changes;
}

GPtrArray *
csb_review_list (const char *state_dir,
                 const char *project_dir,
                 GError    **error)
{
  csb_autofd int upper_fd = -1;
  csb_autofd int project_fd = -1;

  g_return_val_if_fail (state_dir != NULL && project_dir != NULL, NULL);

  if ((upper_fd = open_upper (state_dir, error)) < 0 ||
      (project_fd = open_project (project_dir, error)) < 0)
    return NULL;
  return list_with (upper_fd, project_fd);
}

/* ---- selection ---------------------------------------------------------------------- */

static gboolean
path_is_below (const char *path,
               const char *folder)
{
  gsize len = strlen (folder);

  return strncmp (path, folder, len) == 0 && path[len] == '/';
}

/* @wanted names the change at @path: as it is, or as shown (a name that is not UTF-8
 * is shown with U+FFFD for its invalid bytes). */
static gboolean
same_path (const char *path,
           const char *wanted)
{
  g_autofree char *shown = NULL;

  if (g_str_equal (path, wanted))
    return TRUE;
  if (g_utf8_validate (path, -1, NULL))
    return FALSE;
  shown = g_utf8_make_valid (path, -1);
  return g_str_equal (shown, wanted);
}

static gboolean
valid_relative (const char *path)
{
  g_auto(GStrv) parts = NULL;

  if (*path == '\0' || g_path_is_absolute (path))
    return FALSE;
  parts = g_strsplit (path, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (*parts[i] == '\0' || g_str_equal (parts[i], ".") || g_str_equal (parts[i], ".."))
      return FALSE;
  return TRUE;
}

/* The changes @paths choose, in path order (parents first). Borrowed pointers. */
static GPtrArray *
select_changes (GPtrArray          *changes,
                const char * const *paths,
                gboolean            discard,
                GError            **error)
{
  g_autoptr(GPtrArray) selected = g_ptr_array_new ();
  gboolean all = paths == NULL || paths[0] == NULL;

  for (guint i = 0; !all && paths[i] != NULL; i++)
    {
      gboolean any = FALSE;

      if (!valid_relative (paths[i]))
        {
          g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                       "'%s' is not a path relative to the project folder", paths[i]);
          return NULL;
        }
      for (guint k = 0; k < changes->len; k++)
        {
          CsbChange *change = g_ptr_array_index (changes, k);

          if (same_path (change->path, paths[i]) || path_is_below (change->path, paths[i]))
            any = TRUE;
        }
      if (!any)
        {
          g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                       "no pending change at '%s'", paths[i]);
          return NULL;
        }
    }

  for (guint k = 0; k < changes->len; k++)
    {
      CsbChange *change = g_ptr_array_index (changes, k);
      gboolean take = FALSE;

      if (all)
        take = discard || (!change->protected && change->applicable);
      for (guint i = 0; !all && paths[i] != NULL && !take; i++)
        {
          if (same_path (change->path, paths[i]))
            take = TRUE;
          /* Below a named folder: protected changes only if the folder named is
           * itself protected (naming .git takes all of it, naming src/ does not take
           * src/.envrc). */
          else if (path_is_below (change->path, paths[i]))
            take = discard || !change->protected || csb_review_path_is_protected (paths[i]);
        }
      if (take && !discard && !change->applicable)
        {
          if (all)
            continue;
          g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                       "'%s' is %s; discard it instead", change->path, change->summary);
          return NULL;
        }
      if (take)
        g_ptr_array_add (selected, change);
    }
  return g_steal_pointer (&selected);
}

/* ---- removing, copying ------------------------------------------------------------ */

/* Removes @name in @dir, a whole tree if it is a folder, never following a link. */
static gboolean
remove_at (int         dir,
           const char *name,
           guint       depth)
{
  struct stat st;
  int fd;
  DIR *d;
  struct dirent *entry;

  if (fstatat (dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT;
  if (!S_ISDIR (st.st_mode))
    return unlinkat (dir, name, 0) == 0 || errno == ENOENT;
  if (depth > 4 * MAX_DEPTH)
    {
      errno = ELOOP;
      return FALSE;
    }
  fd = csb_open_beneath (dir, name, O_RDONLY | O_DIRECTORY);
  if (fd < 0 && errno == EACCES)
    {
      if (fchmodat (dir, name, 0700, AT_SYMLINK_NOFOLLOW) == 0)
        fd = csb_open_beneath (dir, name, O_RDONLY | O_DIRECTORY);
      else
        errno = EACCES;
    }
  /* A folder not ours that we cannot enter nor chmod (a container's overlay leaves its
   * empty work folder, mode 0, to container root's id): gone if it is empty. */
  if (fd < 0 && errno == EACCES)
    {
      if (unlinkat (dir, name, AT_REMOVEDIR) == 0)
        return TRUE;
      errno = EACCES;
      return FALSE;
    }
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      return FALSE;
    }
  /* Writable, or nothing inside can go. */
  fchmod (fd, 0700);
  while ((entry = readdir (d)) != NULL)
    {
      if (g_str_equal (entry->d_name, ".") || g_str_equal (entry->d_name, ".."))
        continue;
      if (!remove_at (fd, entry->d_name, depth + 1))
        {
          int saved = errno;
          closedir (d);
          errno = saved;
          return FALSE;
        }
    }
  closedir (d);
  return unlinkat (dir, name, AT_REMOVEDIR) == 0 || errno == ENOENT;
}

static char *
temp_name (void)
{
  return g_strdup_printf (".csb-apply-%08x%08x", g_random_int (), g_random_int ());
}

/* Puts the finished @tmp in @dst_dir in the place of @name, in one rename; a folder
 * there (which rename cannot replace with a file or link) is removed first. FALSE with
 * errno set. */
static gboolean
replace_with_temp_at (int         dst_dir,
                      const char *tmp,
                      const char *name)
{
  struct stat dst;

  if (fstatat (dst_dir, name, &dst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR (dst.st_mode) &&
      !remove_at (dst_dir, name, 0))
    return FALSE;
  return renameat (dst_dir, tmp, dst_dir, name) == 0;
}

/* Up to @len bytes of @fd at @pos into @buf, read again when interrupted. */
static ssize_t
pread_all (int    fd,
           char  *buf,
           gsize  len,
           off_t  pos)
{
  ssize_t n;

  do
    n = pread (fd, buf, len, pos);
  while (n < 0 && errno == EINTR);
  return n;
}

/* @len bytes of @buf to @fd, at @pos (-1: at its offset), over short writes and
 * interruptions. FALSE, errno set, if a write failed. */
static gboolean
write_all_at (int         fd,
              const char *buf,
              gsize       len,
              off_t       pos)
{
  while (len > 0)
    {
      ssize_t w = pos >= 0 ? pwrite (fd, buf, len, pos) : write (fd, buf, len);

      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return FALSE;
      buf += w;
      len -= w;
      if (pos >= 0)
        pos += w;
    }
  return TRUE;
}

/* The first @size bytes of @in to @out, through @buf (COPY_BUF bytes). No more (a
 * running sandbox may grow the file while we copy), and its holes stay holes (a
 * sparse terabyte must not fill the user's disk). FALSE, errno set, on an error. */
static gboolean
copy_data (int    in,
           int    out,
           off_t  size,
           char  *buf)
{
  for (off_t pos = 0; pos < size;)
    {
      off_t data = lseek (in, pos, SEEK_DATA);
      off_t hole;

      if (data < 0 && errno == ENXIO)
        break;
      if (data < 0 || (hole = lseek (in, data, SEEK_HOLE)) < 0)
        return FALSE;
      hole = MIN (hole, size);
      for (pos = data; pos < hole;)
        {
          ssize_t n = pread_all (in, buf, MIN ((off_t) COPY_BUF, hole - pos), pos);

          if (n < 0)
            return FALSE;
          if (n == 0)
            {
              pos = size;  /* shrunk meanwhile */
              break;
            }
          if (!write_all_at (out, buf, n, pos))
            return FALSE;
          pos += n;
        }
    }
  return TRUE;
}

/* The temporary @tmp of @dst_dir, if it was @made, renamed over @name. Otherwise, or
 * if that fails: an error "cannot @doing '@name'", and @tmp removed. */
static gboolean
put_temp_in_place (int          dst_dir,
                   const char  *tmp,
                   const char  *name,
                   gboolean     made,
                   const char  *doing,
                   GError     **error)
{
  if (made && replace_with_temp_at (dst_dir, tmp, name))
    return TRUE;
  g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot %s '%s': %s", doing, name,
               g_strerror (errno));
  unlinkat (dst_dir, tmp, 0);
  return FALSE;
}

/* Copies the file @name of @src_dir to @dst_dir: to a temporary name, then renamed
 * over whatever is there (a folder is removed first). Mode without set-id bits. */
static gboolean
copy_file_at (int                src_dir,
              int                dst_dir,
              const char        *name,
              GError           **error)
{
  g_autofree char *tmp = temp_name ();
  g_autofree char *buf = g_malloc (COPY_BUF);
  csb_autofd int in = -1;
  csb_autofd int out = -1;
  struct stat st;
  struct timespec times[2];
  gboolean made;

  in = csb_open_beneath (src_dir, name, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (in < 0 || fstat (in, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot read '%s': %s", name,
                   in < 0 ? g_strerror (errno) : "not a regular file any more");
      return FALSE;
    }
  times[0] = st.st_atim;
  times[1] = st.st_mtim;
  out = openat (dst_dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  made = out >= 0 && copy_data (in, out, st.st_size, buf) &&
         ftruncate (out, st.st_size) == 0 &&
         fchmod (out, st.st_mode & 01777) == 0 && futimens (out, times) == 0;
  return put_temp_in_place (dst_dir, tmp, name, made, "write", error);
}

static gboolean
copy_symlink_at (int          src_dir,
                 int          dst_dir,
                 const char  *name,
                 GError     **error)
{
  g_autofree char *tmp = temp_name ();
  g_autofree char *target = read_link_at (src_dir, name);

  if (target == NULL)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot read the symlink '%s': %s",
                   name, g_strerror (errno));
      return FALSE;
    }
  return put_temp_in_place (dst_dir, tmp, name, symlinkat (target, dst_dir, tmp) == 0,
                            "make the symlink", error);
}

/* A folder @name in @dst_dir with @mode, replacing a non-folder. */
static gboolean
make_dir_at (int          dst_dir,
             const char  *name,
             mode_t       mode,
             GError     **error)
{
  struct stat st;
  csb_autofd int fd = -1;

  if (fstatat (dst_dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR (st.st_mode) &&
      unlinkat (dst_dir, name, 0) != 0)
    goto fail;
  if (mkdirat (dst_dir, name, 0700) != 0 && errno != EEXIST)
    goto fail;
  if ((fd = csb_open_beneath (dst_dir, name, O_RDONLY | O_DIRECTORY)) < 0 ||
      fchmod (fd, mode & 01777) != 0)
    goto fail;
  return TRUE;

fail:
  g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot make the folder '%s': %s", name,
               g_strerror (errno));
  return FALSE;
}

/* Copies @name (a file, symlink or folder tree) from @src_dir to @dst_dir. */
static gboolean
copy_tree_at (int          src_dir,
              int          dst_dir,
              const char  *name,
              guint        depth,
              GError     **error)
{
  struct stat st;
  csb_autofd int src = -1;
  csb_autofd int dst = -1;
  DIR *d;
  struct dirent *entry;
  gboolean ok = TRUE;

  if (fstatat (src_dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return TRUE;
  if (S_ISREG (st.st_mode))
    return copy_file_at (src_dir, dst_dir, name, error);
  if (S_ISLNK (st.st_mode))
    return copy_symlink_at (src_dir, dst_dir, name, error);
  if (!S_ISDIR (st.st_mode) || depth > MAX_DEPTH)
    return TRUE;
  if (!make_dir_at (dst_dir, name, st.st_mode, error))
    return FALSE;
  if ((src = csb_open_beneath (src_dir, name, O_RDONLY | O_DIRECTORY)) < 0 ||
      (dst = csb_open_beneath (dst_dir, name, O_RDONLY | O_DIRECTORY)) < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot open the folder '%s': %s",
                   name, g_strerror (errno));
      return FALSE;
    }
  if ((d = fdopendir (fcntl (src, F_DUPFD_CLOEXEC, 3))) == NULL)
    return TRUE;
  while (ok && (entry = readdir (d)) != NULL)
    if (!g_str_equal (entry->d_name, ".") && !g_str_equal (entry->d_name, ".."))
      ok = copy_tree_at (src, dst, entry->d_name, depth + 1, error);
  closedir (d);
  return ok;
}

/* ---- apply --------------------------------------------------------------------------- */

/* The real parent folder of @rel, its missing folders made as in the upper layer. */
static int
open_real_parent (int          project_fd,
                  int          upper_fd,
                  const char  *rel,
                  GError     **error)
{
  g_autofree char *parent = g_path_get_dirname (rel);
  g_auto(GStrv) parts = NULL;
  g_autofree char *so_far = NULL;
  int cur;

  if (g_str_equal (parent, "."))
    return fcntl (project_fd, F_DUPFD_CLOEXEC, 3);
  parts = g_strsplit (parent, "/", -1);
  cur = fcntl (project_fd, F_DUPFD_CLOEXEC, 3);
  for (guint i = 0; cur >= 0 && parts[i] != NULL; i++)
    {
      g_autofree char *prev = g_steal_pointer (&so_far);
      int next = csb_open_beneath (cur, parts[i], O_RDONLY | O_DIRECTORY);

      so_far = prev ? g_build_filename (prev, parts[i], NULL) : g_strdup (parts[i]);
      if (next < 0 && errno == ENOENT)
        {
          struct stat ust;
          mode_t mode = 0755;
          g_autofree char *uparent = g_path_get_dirname (so_far);
          csb_autofd int ufd = open_dir_beneath (upper_fd, g_str_equal (uparent, ".") ? "" : uparent);

          if (ufd >= 0 && fstatat (ufd, parts[i], &ust, AT_SYMLINK_NOFOLLOW) == 0 &&
              S_ISDIR (ust.st_mode))
            mode = ust.st_mode;
          if (!make_dir_at (cur, parts[i], mode, error))
            {
              close (cur);
              return -1;
            }
          next = csb_open_beneath (cur, parts[i], O_RDONLY | O_DIRECTORY);
        }
      if (next < 0)
        {
          int saved = errno;

          g_clear_error (error);
          g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                       "'%s' in the project folder is %s; nothing applied below it", so_far,
                       saved == ELOOP || saved == EXDEV ? "a symlink (not followed)" :
                       saved == ENOTDIR ? "not a folder" : g_strerror (saved));
          close (cur);
          return -1;
        }
      close (cur);
      cur = next;
    }
  return cur;
}

typedef struct
{
  guint64 ino;
  gint64  ctime_ns;
} Stamp;

static gint64
ctime_ns_of (const struct stat *st)
{
  return (gint64) st->st_ctim.tv_sec * G_GINT64_CONSTANT (1000000000) + st->st_ctim.tv_nsec;
}

/* path → Stamp of the real file right after we applied it. */
static GHashTable *
load_applied (const char *state_dir)
{
  g_autofree char *path = g_build_filename (state_dir, APPLIED_NAME, NULL);
  g_autofree char *data = NULL;
  gsize len;
  GHashTable *table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  if (g_file_get_contents (path, &data, &len, NULL))
    {
      g_autoptr(GVariant) v = g_variant_ref_sink (
        g_variant_new_from_data (G_VARIANT_TYPE ("a{s(tx)}"), data, len, FALSE, NULL, NULL));
      GVariantIter iter;
      const char *key;
      guint64 ino;
      gint64 ctime_ns;

      g_variant_iter_init (&iter, v);
      while (g_variant_iter_next (&iter, "{&s(tx)}", &key, &ino, &ctime_ns))
        {
          Stamp *stamp = g_new (Stamp, 1);

          stamp->ino = ino;
          stamp->ctime_ns = ctime_ns;
          g_hash_table_replace (table, g_strdup (key), stamp);
        }
    }
  return table;
}

static gboolean
save_applied (const char *state_dir,
              GHashTable *table,
              GError    **error)
{
  g_autofree char *path = g_build_filename (state_dir, APPLIED_NAME, NULL);
  g_autoptr(GVariant) v = NULL;
  GVariantBuilder builder;
  GHashTableIter iter;
  gpointer key, value;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{s(tx)}"));
  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Stamp *stamp = value;
      g_variant_builder_add (&builder, "{s(tx)}", key, stamp->ino, stamp->ctime_ns);
    }
  v = g_variant_ref_sink (g_variant_builder_end (&builder));
  return g_file_set_contents_full (path, g_variant_get_data (v), g_variant_get_size (v),
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

static void
record_applied (GHashTable *table,
                int         project_fd,
                const char *rel)
{
  g_autofree char *parent = g_path_get_dirname (rel);
  g_autofree char *name = g_path_get_basename (rel);
  csb_autofd int dir = open_dir_beneath (project_fd, g_str_equal (parent, ".") ? "" : parent);
  struct stat st;

  if (dir >= 0 && fstatat (dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      Stamp *stamp = g_new (Stamp, 1);

      stamp->ino = st.st_ino;
      stamp->ctime_ns = ctime_ns_of (&st);
      g_hash_table_replace (table, g_strdup (rel), stamp);
    }
  else
    g_hash_table_remove (table, rel);
}

/* Changed in the real folder since @since_ns, other than by our own apply? A folder
 * counts by what is in it (adding to it changes its own ctime). */
static gboolean
real_changed (int          dir,
              const char  *name,
              const char  *rel,
              gint64       since_ns,
              GHashTable  *applied,
              guint        depth)
{
  struct stat st;
  Stamp *stamp;

  if (fstatat (dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return FALSE;
  if (S_ISDIR (st.st_mode))
    {
      csb_autofd int fd = csb_open_beneath (dir, name, O_RDONLY | O_DIRECTORY);
      DIR *d;
      struct dirent *entry;
      gboolean changed = FALSE;

      if (fd < 0 || depth > MAX_DEPTH || (d = fdopendir (fcntl (fd, F_DUPFD_CLOEXEC, 3))) == NULL)
        return FALSE;
      while (!changed && (entry = readdir (d)) != NULL)
        {
          g_autofree char *child = NULL;

          if (g_str_equal (entry->d_name, ".") || g_str_equal (entry->d_name, ".."))
            continue;
          child = g_build_filename (rel, entry->d_name, NULL);
          changed = real_changed (fd, entry->d_name, child, since_ns, applied, depth + 1);
        }
      closedir (d);
      return changed;
    }
  if (ctime_ns_of (&st) <= since_ns)
    return FALSE;
  stamp = g_hash_table_lookup (applied, rel);
  return stamp == NULL || stamp->ino != st.st_ino || stamp->ctime_ns != ctime_ns_of (&st);
}

static gboolean
apply_one (CsbChange   *change,
           int          upper_fd,
           int          project_fd,
           GError     **error)
{
  g_autofree char *parent = g_path_get_dirname (change->path);
  g_autofree char *name = g_path_get_basename (change->path);
  csb_autofd int real = -1;
  csb_autofd int upper = -1;
  struct stat ust;

  if ((real = open_real_parent (project_fd, upper_fd, change->path, error)) < 0)
    return FALSE;
  upper = open_dir_beneath (upper_fd, g_str_equal (parent, ".") ? "" : parent);

  /* What the upper layer holds now is the truth (it may have moved on since the list). */
  if (change->kind == CSB_CHANGE_DELETED ||
      upper < 0 || fstatat (upper, name, &ust, AT_SYMLINK_NOFOLLOW) != 0 ||
      is_whiteout (upper, name, &ust))
    {
      if (change->kind != CSB_CHANGE_DELETED && upper >= 0 &&
          fstatat (upper, name, &ust, AT_SYMLINK_NOFOLLOW) != 0)
        return TRUE;  /* gone from the upper layer meanwhile: nothing to apply */
      if (!remove_at (real, name, 0))
        {
          g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot delete '%s': %s",
                       change->path, g_strerror (errno));
          return FALSE;
        }
      return TRUE;
    }
  if (S_ISDIR (ust.st_mode))
    return make_dir_at (real, name, ust.st_mode, error);
  if (S_ISREG (ust.st_mode))
    return copy_file_at (upper, real, name, error);
  if (S_ISLNK (ust.st_mode))
    return copy_symlink_at (upper, real, name, error);
  g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "'%s' is a %s: never applied",
               change->path, type_name (ust.st_mode));
  return FALSE;
}

gboolean
csb_review_apply (const char         *state_dir,
                  const char         *project_dir,
                  const char * const *paths,
                  gint64              since_us,
                  GError            **error)
{
  csb_autofd int upper_fd = -1;
  csb_autofd int project_fd = -1;
  g_autoptr(GPtrArray) changes = NULL;
  g_autoptr(GPtrArray) selected = NULL;
  g_autoptr(GHashTable) applied = NULL;
  g_autoptr(GString) conflicts = g_string_new (NULL);
  guint n_conflicts = 0;
  gint64 since_ns = since_us * 1000;

  g_return_val_if_fail (state_dir != NULL && project_dir != NULL, FALSE);

  if ((upper_fd = open_upper (state_dir, error)) < 0 ||
      (project_fd = open_project (project_dir, error)) < 0)
    return FALSE;
  changes = list_with (upper_fd, project_fd);
  if ((selected = select_changes (changes, paths, FALSE, error)) == NULL)
    return FALSE;
  applied = load_applied (state_dir);

  for (guint i = 0; i < selected->len; i++)
    {
      CsbChange *change = g_ptr_array_index (selected, i);
      g_autofree char *parent = g_path_get_dirname (change->path);
      g_autofree char *name = g_path_get_basename (change->path);
      csb_autofd int dir = open_dir_beneath (project_fd, g_str_equal (parent, ".") ? "" : parent);

      if (dir >= 0 && real_changed (dir, name, change->path, since_ns, applied, 0))
        {
          g_string_append_printf (conflicts, "%s%s", n_conflicts ? ", " : "", change->path);
          n_conflicts++;
        }
    }
  if (n_conflicts > 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "conflict: %s changed in the project folder since the sandbox started; "
                   "nothing was applied (look at the diff, then discard the sandbox's change "
                   "or apply the others by name)", conflicts->str);
      return FALSE;
    }

  for (guint i = 0; i < selected->len; i++)
    {
      CsbChange *change = g_ptr_array_index (selected, i);

      if (!apply_one (change, upper_fd, project_fd, error))
        {
          g_prefix_error (error, "applied %u of %u changes, then: ", i, selected->len);
          save_applied (state_dir, applied, NULL);
          return FALSE;
        }
      record_applied (applied, project_fd, change->path);
    }
  return save_applied (state_dir, applied, error);
}

/* ---- discard -------------------------------------------------------------------------- */

/* Whether the upper folder @rel or one of its parents replaces the real one whole. */
static gboolean
upper_opaque (int         upper_fd,
              const char *rel)
{
  g_auto(GStrv) parts = g_strsplit (rel, "/", -1);
  g_autofree char *so_far = NULL;

  if (dir_is_opaque (upper_fd))
    return TRUE;
  for (guint i = 0; parts[i] != NULL && !g_str_equal (rel, "."); i++)
    {
      g_autofree char *prev = g_steal_pointer (&so_far);
      csb_autofd int fd = -1;

      so_far = prev ? g_build_filename (prev, parts[i], NULL) : g_strdup (parts[i]);
      fd = open_dir_beneath (upper_fd, so_far);
      if (fd >= 0 && dir_is_opaque (fd))
        return TRUE;
    }
  return FALSE;
}

static gboolean
discard_one (CsbChange   *change,
             int          upper_fd,
             int          project_fd,
             GError     **error)
{
  g_autofree char *parent = g_path_get_dirname (change->path);
  g_autofree char *name = g_path_get_basename (change->path);
  const char *parent_rel = g_str_equal (parent, ".") ? "" : parent;
  csb_autofd int upper = open_dir_beneath (upper_fd, parent_rel);
  csb_autofd int real = -1;
  struct stat ust, rst;

  if (upper < 0)
    return TRUE;  /* nothing of it is in the upper layer any more */
  real = open_dir_beneath (project_fd, parent_rel);

  /* A folder whose mode alone changed keeps what is in it: only the mode goes back. */
  if (change->kind == CSB_CHANGE_MODIFIED && real >= 0 &&
      fstatat (upper, name, &ust, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR (ust.st_mode) &&
      fstatat (real, name, &rst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR (rst.st_mode))
    {
      csb_autofd int fd = csb_open_beneath (upper, name, O_RDONLY | O_DIRECTORY);

      if (fd >= 0 && fchmod (fd, rst.st_mode & 07777) == 0)
        return TRUE;
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot discard '%s': %s",
                   change->path, g_strerror (errno));
      return FALSE;
    }

  if (!remove_at (upper, name, 0))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot discard '%s': %s",
                   change->path, g_strerror (errno));
      return FALSE;
    }
  /* Under an opaque folder the real one shows through nowhere: put its copy back. */
  if (change->kind != CSB_CHANGE_ADDED && real >= 0 && upper_opaque (upper_fd, parent_rel))
    return copy_tree_at (real, upper, name, 0, error);
  return TRUE;
}

gboolean
csb_review_discard (const char         *state_dir,
                    const char         *project_dir,
                    const char * const *paths,
                    GError            **error)
{
  csb_autofd int upper_fd = -1;
  csb_autofd int project_fd = -1;
  g_autoptr(GPtrArray) changes = NULL;
  g_autoptr(GPtrArray) selected = NULL;

  g_return_val_if_fail (state_dir != NULL && project_dir != NULL, FALSE);

  if ((upper_fd = open_upper (state_dir, error)) < 0 ||
      (project_fd = open_project (project_dir, error)) < 0)
    return FALSE;
  changes = list_with (upper_fd, project_fd);
  if ((selected = select_changes (changes, paths, TRUE, error)) == NULL)
    return FALSE;
  /* Children first: a discarded folder takes what is left in it. */
  for (guint i = selected->len; i > 0; i--)
    if (!discard_one (g_ptr_array_index (selected, i - 1), upper_fd, project_fd, error))
      return FALSE;
  return TRUE;
}

gboolean
csb_review_remove (const char *state_dir,
                   GError    **error)
{
  csb_autofd int dir = open (state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (dir < 0 || !remove_at (dir, "review", 0) || !remove_at (dir, APPLIED_NAME, 0))
    {
      if (dir < 0 && errno == ENOENT)
        return TRUE;
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot remove the review layer in "
                   "%s: %s", state_dir, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

/* ---- diff ---------------------------------------------------------------------------- */

static gboolean
looks_binary (int fd)
{
  char buf[BINARY_PEEK];
  ssize_t n = pread (fd, buf, sizeof buf, 0);

  return n > 0 && memchr (buf, '\0', n) != NULL;
}

static void
write_text (int         fd,
            const char *text)
{
  (void) write_all_at (fd, text, strlen (text), -1);
}

int
csb_review_snapshot (int       fd,
                     gsize     max,
                     gboolean *too_large)
{
  g_autofree char *buf = g_malloc (COPY_BUF);
  csb_autofd int copy = -1;
  struct stat st;
  gsize total = 0;

  *too_large = FALSE;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    return -1;
  if ((guint64) st.st_size > max)
    {
      *too_large = TRUE;
      return -1;
    }
  if ((copy = memfd_create ("csb-diff-side", MFD_CLOEXEC)) < 0)
    return -1;
  for (;;)
    {
      /* One byte past the limit tells a file that grew from one that did not. */
      ssize_t n = pread_all (fd, buf, MIN ((gsize) COPY_BUF, max + 1 - total), total);

      if (n < 0)
        return -1;
      if (n == 0)
        break;
      total += n;
      if (total > max)
        {
          *too_large = TRUE;
          return -1;
        }
      if (!write_all_at (copy, buf, n, -1))
        return -1;
    }
  lseek (copy, 0, SEEK_SET);
  return g_steal_fd (&copy);
}

/* The regular file @name of the side @dir (-1: that side has none), its type from
 * lstat in *@st. Returns a copy of at most MAX_DIFF_SIZE bytes that the sandbox cannot
 * change while diff reads it, or -1: not a regular file (opened without following a
 * link, its type checked again on the descriptor: a running sandbox may swap it for
 * a FIFO or a link meanwhile), unreadable, or *@too_large. */
static int
open_side (int          dir,
           const char  *name,
           struct stat *st,
           gboolean    *present,
           gboolean    *too_large)
{
  csb_autofd int fd = -1;

  *too_large = FALSE;
  *present = dir >= 0 && fstatat (dir, name, st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!*present || !S_ISREG (st->st_mode))
    return -1;
  if ((fd = csb_open_beneath (dir, name, O_RDONLY | O_NOCTTY | O_NONBLOCK)) < 0)
    return -1;
  return csb_review_snapshot (fd, MAX_DIFF_SIZE, too_large);
}

/* Both sides of a change to diff: the project's (a) and the sandbox's (b). */
typedef struct
{
  int         lower_dir;
  int         upper_dir;
  char       *name;
  int         a;              /* a copy of each side's content, or -1 (see open_side) */
  int         b;
  struct stat sa;
  struct stat sb;
  gboolean    has_a;
  gboolean    has_b;
  gboolean    big_a;
  gboolean    big_b;
} DiffSides;

static void
diff_sides_clear (DiffSides *sides)
{
  close_fd_ptr (&sides->lower_dir);
  close_fd_ptr (&sides->upper_dir);
  close_fd_ptr (&sides->a);
  close_fd_ptr (&sides->b);
  g_free (sides->name);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (DiffSides, diff_sides_clear)

/* The pending change at @path among @changes, or NULL and an error. */
static CsbChange *
find_change (GPtrArray   *changes,
             const char  *path,
             GError     **error)
{
  for (guint i = 0; i < changes->len; i++)
    if (same_path (((CsbChange *) g_ptr_array_index (changes, i))->path, path))
      return g_ptr_array_index (changes, i);
  g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT, "no pending change at '%s'",
               path);
  return NULL;
}

/* The two sides of @change: the project's before (none if the sandbox added it) and
 * the sandbox's (none if it deleted it). */
static void
open_sides (int              upper_fd,
            int              project_fd,
            const CsbChange *change,
            DiffSides       *sides)
{
  g_autofree char *parent = g_path_get_dirname (change->path);
  gboolean whiteout;

  sides->name = g_path_get_basename (change->path);
  sides->lower_dir = open_dir_beneath (project_fd, g_str_equal (parent, ".") ? "" : parent);
  sides->upper_dir = open_dir_beneath (upper_fd, g_str_equal (parent, ".") ? "" : parent);
  sides->a = open_side (change->kind == CSB_CHANGE_ADDED ? -1 : sides->lower_dir, sides->name,
                        &sides->sa, &sides->has_a, &sides->big_a);
  sides->b = open_side (sides->upper_dir, sides->name, &sides->sb, &sides->has_b,
                        &sides->big_b);
  whiteout = sides->has_b && is_whiteout (sides->upper_dir, sides->name, &sides->sb);
  if (change->kind == CSB_CHANGE_DELETED || whiteout)
    {
      sides->has_b = sides->big_b = FALSE;
      close (g_steal_fd (&sides->b));
    }
}

/* What stands for a diff where diff(1) has nothing to compare: a symlink or another
 * non-file on a side, a side too large or binary, one that cannot be read. NULL:
 * run diff. */
static char *
diff_instead (DiffSides       *sides,
              const CsbChange *change,
              const char      *shown,
              const char      *label_a,
              const char      *label_b)
{
  if ((sides->has_a && !S_ISREG (sides->sa.st_mode)) ||
      (sides->has_b && !S_ISREG (sides->sb.st_mode)))
    {
      g_autofree char *link_a = sides->has_a && S_ISLNK (sides->sa.st_mode)
                                  ? shown_link_at (sides->lower_dir, sides->name) : NULL;
      g_autofree char *link_b = sides->has_b && S_ISLNK (sides->sb.st_mode)
                                  ? shown_link_at (sides->upper_dir, sides->name) : NULL;

      return g_strdup_printf ("%s: %s\n%s%s%s%s%s%s", shown, change->summary,
                              link_a ? "- symlink → " : "", link_a ? link_a : "",
                              link_a ? "\n" : "",
                              link_b ? "+ symlink → " : "", link_b ? link_b : "",
                              link_b ? "\n" : "");
    }
  if (sides->big_a || sides->big_b)
    return g_strdup_printf ("%s: %s (too large to diff: over %u MiB)\n", shown,
                            change->summary, MAX_DIFF_SIZE / (1024 * 1024));
  if ((sides->a >= 0 && looks_binary (sides->a)) || (sides->b >= 0 && looks_binary (sides->b)))
    return g_strdup_printf ("Binary files %s and %s differ\n",
                            sides->has_a ? label_a : "/dev/null",
                            sides->has_b ? label_b : "/dev/null");
  if ((sides->has_a && sides->a < 0) || (sides->has_b && sides->b < 0))
    return g_strdup_printf ("%s: cannot be read\n", shown);
  return NULL;
}

/* diff -u of the two sides (their copies handed to it) into @out. */
static gboolean
run_diff (DiffSides   *sides,
          int          out,
          const char  *label_a,
          const char  *label_b,
          const char  *path,
          GError     **error)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr(GSubprocess) diff = NULL;
  const char *argv[] = {
    "diff", "-u", "--label", sides->has_a ? label_a : "/dev/null",
    "--label", sides->has_b ? label_b : "/dev/null",
    sides->a >= 0 ? "/dev/fd/3" : "/dev/null", sides->b >= 0 ? "/dev/fd/4" : "/dev/null", NULL
  };

  if (sides->a >= 0)
    g_subprocess_launcher_take_fd (launcher, g_steal_fd (&sides->a), 3);
  if (sides->b >= 0)
    g_subprocess_launcher_take_fd (launcher, g_steal_fd (&sides->b), 4);
  g_subprocess_launcher_take_stdout_fd (launcher, fcntl (out, F_DUPFD_CLOEXEC, 3));
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  diff = g_subprocess_launcher_spawnv (launcher, argv, error);
  if (diff == NULL || !g_subprocess_wait (diff, NULL, error))
    {
      g_prefix_error (error, "cannot run diff: ");
      return FALSE;
    }
  if (!g_subprocess_get_if_exited (diff) || g_subprocess_get_exit_status (diff) > 1)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "diff failed on '%s'", path);
      return FALSE;
    }
  return TRUE;
}

int
csb_review_diff (const char *state_dir,
                 const char *project_dir,
                 const char *path,
                 GError    **error)
{
  csb_autofd int upper_fd = -1;
  csb_autofd int project_fd = -1;
  csb_autofd int out = -1;
  g_auto(DiffSides) sides = { -1, -1, NULL, -1, -1 };
  g_autoptr(GPtrArray) changes = NULL;
  g_autofree char *label_a = NULL;
  g_autofree char *label_b = NULL;
  g_autofree char *shown = NULL;
  g_autofree char *text = NULL;
  CsbChange *change;

  g_return_val_if_fail (path != NULL, -1);

  if ((upper_fd = open_upper (state_dir, error)) < 0 ||
      (project_fd = open_project (project_dir, error)) < 0)
    return -1;
  if (!valid_relative (path))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                   "'%s' is not a path relative to the project folder", path);
      return -1;
    }
  changes = list_with (upper_fd, project_fd);
  if ((change = find_change (changes, path, error)) == NULL)
    return -1;
  if ((out = memfd_create ("csb-diff", MFD_CLOEXEC)) < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot make the diff: %s",
                   g_strerror (errno));
      return -1;
    }

  open_sides (upper_fd, project_fd, change, &sides);
  /* Names and link targets are the sandbox's: quoted where a newline or another
   * control character could forge a line of the header. */
  shown = csb_quote_name ("", path);
  label_a = csb_quote_name ("a/", path);
  label_b = csb_quote_name ("b/", path);

  if ((text = diff_instead (&sides, change, shown, label_a, label_b)) != NULL)
    write_text (out, text);
  else if (!run_diff (&sides, out, label_a, label_b, path, error))
    return -1;
  else if (lseek (out, 0, SEEK_END) == 0)
    {
      text = g_strdup_printf ("%s: %s (same content)\n", shown, change->summary);
      write_text (out, text);
    }
  lseek (out, 0, SEEK_SET);
  return g_steal_fd (&out);
}
