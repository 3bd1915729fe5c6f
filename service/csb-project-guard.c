/* csb-project-guard.c
 *
 * A sandbox writes its project folder, and programs outside later run or obey some
 * of what is there (git's hooks and config, Claude Code's project settings, …).
 * Whatever a sandbox wrote is hostile: every name here is opened relative to the
 * project's descriptor with openat2 (RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH), its
 * type and owner checked, and the backends bind it from that descriptor. The
 * names are a fixed list; globs only ever serve the report of plants, never a bind.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/magic.h>
#include <linux/openat2.h>

#include "csb-project-guard.h"

/* Folders the walks never enter: git's own (handled as git folders) and package
 * trees too big to matter. */
static const char * const skipped_dirs[] = { ".git", "node_modules", NULL };

/* The project settings Claude Code reads, in a .claude folder. */
static const char * const claude_protected[] = {
  "settings.json", "settings.local.json", NULL
};

gboolean
csb_guard_name_is (const char *name,
                   const char *protected_name)
{
  g_autofree char *folded = NULL;

  g_return_val_if_fail (name != NULL && protected_name != NULL, FALSE);

  /* Most names are ASCII: no allocation on the launch path's walk. */
  for (const char *p = name; *p != '\0'; p++)
    if ((guchar) *p >= 0x80)
      {
        folded = csb_guard_fold_name (name);
        return g_str_equal (folded, protected_name);
      }
  return g_ascii_strcasecmp (name, protected_name) == 0;
}

/* Whether @name is one of @names (lower-case ASCII), folded. */
static gboolean
name_in (const char         *name,
         const char * const *names)
{
  for (guint i = 0; names[i] != NULL; i++)
    if (csb_guard_name_is (name, names[i]))
      return TRUE;
  return FALSE;
}

/* Whether @name, folded, starts with @prefix and ends with @suffix (either NULL). */
static gboolean
name_has_affixes (const char *name,
                  const char *prefix,
                  const char *suffix)
{
  g_autofree char *folded = csb_guard_fold_name (name);

  return (prefix == NULL || g_str_has_prefix (folded, prefix)) &&
         (suffix == NULL || g_str_has_suffix (folded, suffix));
}

void
csb_guard_entry_free (CsbGuardEntry *entry)
{
  if (entry == NULL)
    return;
  if (entry->fd >= 0)
    close (entry->fd);
  g_free (entry->path);
  g_free (entry->target);
  g_free (entry);
}

CsbPlant *
csb_plant_new (const char *path,
               const char *why)
{
  CsbPlant *plant = g_new0 (CsbPlant, 1);

  plant->path = g_strdup (path);
  plant->why = g_strdup (why);
  return plant;
}

void
csb_plant_free (CsbPlant *plant)
{
  if (plant == NULL)
    return;
  g_free (plant->path);
  g_free (plant->why);
  g_free (plant);
}

/* ---- the protected entries ------------------------------------------------------- */

typedef struct
{
  int         project_fd;
  GPtrArray  *entries;
  GHashTable *seen;      /* path → entry */
  GPtrArray  *plants;
  uid_t       uid;
  gboolean    full;
} Collect;

static void
add_plant (Collect    *c,
           const char *path,
           const char *format,
           ...) G_GNUC_PRINTF (3, 4);

static void
add_plant (Collect    *c,
           const char *path,
           const char *format,
           ...)
{
  g_autofree char *why = NULL;
  va_list args;

  if (c->plants == NULL)
    return;
  for (guint i = 0; i < c->plants->len; i++)
    if (g_str_equal (((CsbPlant *) g_ptr_array_index (c->plants, i))->path, path))
      return;
  va_start (args, format);
  why = g_strdup_vprintf (format, args);
  va_end (args);
  g_ptr_array_add (c->plants, csb_plant_new (path, why));
}

typedef enum { WANT_FILE, WANT_DIR } Want;

/* Opens @path for binding: a regular file or a folder as @want says, the user's,
 * reached without a symlink. -1 if it does not exist (errno ENOENT); -1 and a plant
 * if it is anything else. */
static int
open_checked (Collect    *c,
              const char *path,
              Want        want,
              const char *what)
{
  struct stat st;
  int fd = csb_open_beneath (c->project_fd, path, O_PATH);

  if (fd < 0)
    {
      int saved = errno;

      if (saved == ELOOP || saved == EXDEV)
        add_plant (c, path, "a symlink where %s should be: not protected, not followed", what);
      else if (saved != ENOENT && saved != ENOTDIR)
        g_message ("cannot open '%s' in the project: %s", path, g_strerror (saved));
      errno = saved;
      return -1;
    }
  if (fstat (fd, &st) != 0 ||
      (want == WANT_FILE && !S_ISREG (st.st_mode)) ||
      (want == WANT_DIR && !S_ISDIR (st.st_mode)))
    {
      add_plant (c, path, "not a %s where %s should be: not protected",
                 want == WANT_FILE ? "regular file" : "folder", what);
      close (fd);
      errno = EINVAL;
      return -1;
    }
  if (st.st_uid != c->uid)
    {
      add_plant (c, path, "%s owned by uid %u, not you: not protected", what,
                 (guint) st.st_uid);
      close (fd);
      errno = EPERM;
      return -1;
    }
  return fd;
}

static CsbGuardEntry *
add_entry (Collect      *c,
           const char   *path,
           CsbGuardKind  kind,
           gboolean      is_dir,
           int           fd)
{
  CsbGuardEntry *entry = g_hash_table_lookup (c->seen, path);

  if (entry != NULL || c->entries->len >= CSB_GUARD_MAX_ENTRIES)
    {
      if (fd >= 0)
        close (fd);
      if (entry == NULL && !c->full)
        g_message ("more than %u protected entries in the project: the rest, from %s on, "
                   "are not protected (only reported)", CSB_GUARD_MAX_ENTRIES, path);
      c->full = entry == NULL;
      return entry;
    }
  entry = g_new0 (CsbGuardEntry, 1);
  entry->path = g_strdup (path);
  entry->kind = kind;
  entry->is_dir = is_dir;
  entry->fd = fd;
  g_ptr_array_add (c->entries, entry);
  g_hash_table_insert (c->seen, entry->path, entry);
  return entry;
}

/* @path's parent folders, each bound onto itself: renaming one away would take the
 * protected entries below along and leave room for new ones. */
static gboolean
add_parents (Collect    *c,
             const char *path)
{
  g_autofree char *copy = g_strdup (path);

  for (char *slash = strchr (copy, '/'); slash != NULL; slash = strchr (slash + 1, '/'))
    {
      int fd;

      *slash = '\0';
      if (!g_hash_table_contains (c->seen, copy))
        {
          fd = csb_open_beneath (c->project_fd, copy, O_PATH | O_DIRECTORY);
          if (fd < 0 || add_entry (c, copy, CSB_GUARD_SELF, TRUE, fd) == NULL)
            return FALSE;
        }
      *slash = '/';
    }
  return TRUE;
}

/* A protected file or folder, read-only, if it exists and is what it should be. */
static void
add_ro (Collect    *c,
        const char *dir,
        const char *name,
        Want        want,
        const char *what)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  int fd = open_checked (c, path, want, what);

  if (fd >= 0)
    add_entry (c, path, CSB_GUARD_RO, want == WANT_DIR, fd);
}

static int
openat_dir (Collect    *c,
            const char *path)
{
  return csb_open_beneath (c->project_fd, path, O_RDONLY | O_DIRECTORY);
}

static void collect_git_dir (Collect *c, const char *gitdir, gboolean worktree, guint depth);

/* .git/modules holds the submodules' git folders, by submodule name (which may
 * have slashes): a folder with a HEAD is one, others are walked into. */
static void
collect_git_modules (Collect    *c,
                     const char *dir,
                     guint       depth)
{
  int fd;
  DIR *d;
  struct dirent *de;
  guint count = 0;

  if (depth > CSB_GUARD_MAX_DEPTH || (fd = openat_dir (c, dir)) < 0)
    return;
  if ((d = fdopendir (fd)) == NULL)
    {
      close (fd);
      return;
    }
  while ((de = readdir (d)) != NULL && count++ < CSB_GUARD_MAX_DIRS)
    {
      g_autofree char *path = NULL;
      struct stat st;

      if (g_str_equal (de->d_name, ".") || g_str_equal (de->d_name, ".."))
        continue;
      if (fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISDIR (st.st_mode))
        continue;
      path = g_build_filename (dir, de->d_name, NULL);
      {
        g_autofree char *head = g_build_filename (de->d_name, "HEAD", NULL);
        struct stat hst;

        if (fstatat (dirfd (d), head, &hst, AT_SYMLINK_NOFOLLOW) == 0)
          collect_git_dir (c, path, FALSE, depth + 1);
        else
          collect_git_modules (c, path, depth + 1);
      }
    }
  closedir (d);
}

/* A git folder: itself onto itself, then its hooks, config and commondir read-only.
 * Missing hooks and commondir are made now (a folder, and "." — what git assumes
 * without one), so that a sandbox cannot create them: a commondir would send git
 * outside to hooks and config of the sandbox's choosing. */
static void
collect_git_dir (Collect    *c,
                 const char *gitdir,
                 gboolean    worktree,
                 guint       depth)
{
  int fd;

  if (!add_parents (c, gitdir))
    return;
  fd = open_checked (c, gitdir, WANT_DIR, "a git folder");
  if (fd < 0 || add_entry (c, gitdir, CSB_GUARD_SELF, TRUE, fd) == NULL)
    return;

  if (!worktree)
    {
      g_autofree char *commondir = g_build_filename (gitdir, "commondir", NULL);
      int dfd = openat_dir (c, gitdir);

      if (dfd >= 0)
        {
          int cfd;

          if (mkdirat (dfd, "hooks", 0755) != 0 && errno != EEXIST)
            g_message ("cannot create '%s/hooks': %s", gitdir, g_strerror (errno));
          cfd = openat (dfd, "commondir", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0644);
          if (cfd >= 0)
            {
              if (write (cfd, ".\n", 2) != 2)
                g_message ("cannot write '%s': %s", commondir, g_strerror (errno));
              close (cfd);
            }
          close (dfd);
        }
      add_ro (c, gitdir, "hooks", WANT_DIR, "git's hooks");
      add_ro (c, gitdir, "config", WANT_FILE, "git's config");
    }
  add_ro (c, gitdir, "commondir", WANT_FILE, "git's commondir");
  add_ro (c, gitdir, "config.worktree", WANT_FILE, "git's worktree config");

  if (!worktree)
    {
      g_autofree char *modules = g_build_filename (gitdir, "modules", NULL);
      g_autofree char *worktrees = g_build_filename (gitdir, "worktrees", NULL);
      int wfd;
      DIR *d;
      struct dirent *de;
      guint count = 0;

      collect_git_modules (c, modules, depth);
      if ((wfd = openat_dir (c, worktrees)) >= 0 && (d = fdopendir (wfd)) == NULL)
        close (wfd);
      else if (wfd >= 0)
        {
          while ((de = readdir (d)) != NULL && count++ < CSB_GUARD_MAX_DIRS)
            if (de->d_type == DT_DIR && !g_str_equal (de->d_name, ".") &&
                !g_str_equal (de->d_name, ".."))
              {
                g_autofree char *path = g_build_filename (worktrees, de->d_name, NULL);
                collect_git_dir (c, path, TRUE, depth + 1);
              }
          closedir (d);
        }
    }
}

/* .git in folder @dir ("" for the project): a git folder, or a gitlink file
 * ("gitdir: …"), read-only so it keeps pointing where it did. */
static void
collect_git (Collect    *c,
             const char *dir)
{
  g_autofree char *path = g_build_filename (dir, ".git", NULL);
  struct stat st;
  int dfd = *dir ? openat_dir (c, dir) : dup (c->project_fd);

  if (dfd < 0)
    return;
  if (fstatat (dfd, ".git", &st, AT_SYMLINK_NOFOLLOW) != 0)
    {
      close (dfd);
      return;
    }
  close (dfd);
  if (S_ISDIR (st.st_mode))
    collect_git_dir (c, path, FALSE, 0);
  else if (S_ISREG (st.st_mode))
    {
      if (add_parents (c, path))
        add_ro (c, dir, ".git", WANT_FILE, "a gitlink");
    }
  else if (S_ISLNK (st.st_mode))
    add_plant (c, path, "a .git symlink: not protected, not followed");
}

/* The project's own .claude (bwrap: a tmpfs, its entries bound back; a settings
 * file created inside then never reaches the host). */
static void
collect_root_claude (Collect *c)
{
  struct stat st;
  int fd;
  DIR *d;
  struct dirent *de;
  guint count = 0;

  if (fstatat (c->project_fd, ".claude", &st, AT_SYMLINK_NOFOLLOW) != 0)
    {
      if (errno == ENOENT)
        add_entry (c, ".claude", CSB_GUARD_TMPFS, TRUE, -1);
      return;
    }
  fd = open_checked (c, ".claude", WANT_DIR, "Claude Code's project folder");
  if (fd < 0)
    return;
  add_entry (c, ".claude", CSB_GUARD_TMPFS, TRUE, fd);
  if ((fd = openat_dir (c, ".claude")) < 0)
    return;
  if ((d = fdopendir (fd)) == NULL)
    {
      close (fd);
      return;
    }
  while ((de = readdir (d)) != NULL && count++ < CSB_GUARD_MAX_DIRS)
    {
      g_autofree char *path = NULL;
      gboolean protected;

      if (g_str_equal (de->d_name, ".") || g_str_equal (de->d_name, ".."))
        continue;
      path = g_build_filename (".claude", de->d_name, NULL);
      protected = name_in (de->d_name, claude_protected);
      if (fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        continue;
      if (S_ISLNK (st.st_mode))
        {
          g_autofree char *target = NULL;
          char buf[4096];
          ssize_t n = readlinkat (dirfd (d), de->d_name, buf, sizeof buf - 1);

          if (protected || csb_guard_name_is (de->d_name, "hooks"))
            add_plant (c, path, "a symlink where Claude Code's settings should be: "
                       "not protected, not followed");
          else if (n > 0)
            {
              CsbGuardEntry *entry = add_entry (c, path, CSB_GUARD_SYMLINK, FALSE, -1);

              buf[n] = '\0';
              if (entry != NULL && entry->target == NULL)
                entry->target = g_strdup (buf);
            }
        }
      else if (protected)
        add_ro (c, ".claude", de->d_name, WANT_FILE, "Claude Code's settings");
      else if (csb_guard_name_is (de->d_name, "hooks"))
        add_ro (c, ".claude", de->d_name, WANT_DIR, "Claude Code's hooks");
      else if (S_ISDIR (st.st_mode) || S_ISREG (st.st_mode))
        {
          int efd = csb_open_beneath (c->project_fd, path, O_PATH);

          if (efd >= 0)
            add_entry (c, path, CSB_GUARD_RW, S_ISDIR (st.st_mode), efd);
        }
    }
  closedir (d);
}

/* A .claude folder below the project: itself and its parents onto themselves, the
 * settings read-only. */
static void
collect_nested_claude (Collect    *c,
                       const char *dir)
{
  g_autofree char *path = g_build_filename (dir, ".claude", NULL);
  int fd;

  if (!add_parents (c, path))
    return;
  fd = open_checked (c, path, WANT_DIR, "a .claude folder");
  if (fd < 0 || add_entry (c, path, CSB_GUARD_SELF, TRUE, fd) == NULL)
    return;
  for (guint i = 0; claude_protected[i] != NULL; i++)
    add_ro (c, path, claude_protected[i], WANT_FILE, "Claude Code's settings");
  add_ro (c, path, "hooks", WANT_DIR, "Claude Code's hooks");
}

/* ---- the bounded walk ---------------------------------------------------------- */

/* Names a folder may hold that the visits look at; the walk notes which it saw, so
 * that a folder without any costs no stat. */
enum
{
  SEEN_GIT          = 1 << 0,
  SEEN_CLAUDE       = 1 << 1,
  SEEN_VSCODE       = 1 << 2,
  SEEN_DEVCONTAINER = 1 << 3,
  SEEN_FILES        = 1 << 4,   /* .mcp.json, .envrc, .devcontainer.json */
};

static guint
seen_bit (const char *name)
{
  static const char * const files[] = { ".mcp.json", ".envrc", ".devcontainer.json", NULL };

  /* Folded: on a case-insensitive filesystem ".GIT" is the folder git uses. */
  if (name[0] != '.')
    return 0;
  if (csb_guard_name_is (name, ".git"))
    return SEEN_GIT;
  if (csb_guard_name_is (name, ".claude"))
    return SEEN_CLAUDE;
  if (csb_guard_name_is (name, ".vscode"))
    return SEEN_VSCODE;
  if (csb_guard_name_is (name, ".devcontainer"))
    return SEEN_DEVCONTAINER;
  if (name_in (name, files))
    return SEEN_FILES;
  return 0;
}

typedef void (*VisitFunc) (int         dir_fd,
                           const char *dir,
                           guint       seen,
                           gpointer    user_data);

/* Every folder of the project, breadth first, at most CSB_GUARD_MAX_DEPTH below it
 * and CSB_GUARD_MAX_DIRS in all, links never followed, skipped_dirs not entered.
 * @visit sees each folder after its entries were read. */
static void
walk (int       project_fd,
      VisitFunc visit,
      gpointer  user_data)
{
  g_autoptr(GQueue) queue = g_queue_new ();
  guint visited = 0;
  char buf[16384];

  g_queue_push_tail (queue, g_strdup (""));
  while (!g_queue_is_empty (queue))
    {
      g_autofree char *dir = g_queue_pop_head (queue);
      guint depth = 0, seen = 0;
      struct dirent64 *de;
      ssize_t n;
      int fd;

      if (visited++ >= CSB_GUARD_MAX_DIRS)
        break;
      for (const char *p = dir; *p; p++)
        depth += *p == '/';
      if (*dir)
        depth++;
      fd = *dir ? csb_open_beneath (project_fd, dir, O_RDONLY | O_DIRECTORY)
                : openat (project_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0)
        continue;
      /* getdents64 itself: readdir's fdopendir costs two more calls per folder, and
       * this loop is on the launch path. */
      while ((n = getdents64 (fd, buf, sizeof buf)) > 0)
        for (ssize_t off = 0; off < n; off += de->d_reclen)
          {
            gboolean is_dir;

            de = (struct dirent64 *) (buf + off);
            is_dir = de->d_type == DT_DIR;
            seen |= seen_bit (de->d_name);
            if (depth >= CSB_GUARD_MAX_DEPTH || g_str_equal (de->d_name, ".") ||
                g_str_equal (de->d_name, "..") || name_in (de->d_name, skipped_dirs))
              continue;
            if (de->d_type == DT_UNKNOWN)
              {
                struct stat st;
                is_dir = fstatat (fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                         S_ISDIR (st.st_mode);
              }
            if (is_dir && g_queue_get_length (queue) + visited < CSB_GUARD_MAX_DIRS)
              g_queue_push_tail (queue, *dir ? g_build_filename (dir, de->d_name, NULL)
                                             : g_strdup (de->d_name));
          }
      if (seen != 0)
        visit (fd, dir, seen, user_data);
      close (fd);
    }
  g_queue_free_full (g_steal_pointer (&queue), g_free);
}

static void
visit_collect (int         dir_fd,
               const char *dir,
               guint       seen,
               gpointer    user_data)
{
  Collect *c = user_data;
  struct stat st;

  if (*dir == '\0')
    return;  /* the project's own .git and .claude are done first */
  if ((seen & SEEN_GIT) && fstatat (dir_fd, ".git", &st, AT_SYMLINK_NOFOLLOW) == 0)
    collect_git (c, dir);
  if ((seen & SEEN_CLAUDE) && fstatat (dir_fd, ".claude", &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      if (S_ISLNK (st.st_mode))
        {
          g_autofree char *path = g_build_filename (dir, ".claude", NULL);
          add_plant (c, path, "a .claude symlink: not protected, not followed");
        }
      else
        collect_nested_claude (c, dir);
    }
}

static int
compare_entries (gconstpointer a,
                 gconstpointer b)
{
  const CsbGuardEntry *ea = *(CsbGuardEntry * const *) a;
  const CsbGuardEntry *eb = *(CsbGuardEntry * const *) b;

  return strcmp (ea->path, eb->path);
}

/* Whether the project's filesystem finds a file under other spellings of its name
 * without the kernel knowing: FUSE (exFAT, FAT, SMB through FUSE) folds case in the
 * daemon, so "config" and "CONFIG" are two dentries (exfat-fuse: two inodes) of one
 * file, and a read-only bind on one spelling leaves the others writable; no bind can
 * cover them all. Kernel filesystems that fold (vfat, exfat, ntfs3, ext4 and f2fs
 * casefold, cifs nocase) compare names in the dentry cache: there every spelling is
 * the one dentry the bind covers. Probed with a name of the project's own looked up
 * in the other case (nothing is written to the folder); a folder that has both
 * spellings as two files is taken as folding too, which costs only a warning. */
static gboolean
names_alias (int project_fd)
{
  g_autofree char *name = NULL;
  struct statfs sfs;
  struct stat st;
  DIR *d;
  struct dirent *de;
  int fd;

  if (fstatfs (project_fd, &sfs) != 0 || sfs.f_type != FUSE_SUPER_MAGIC)
    return FALSE;
  if ((fd = openat (project_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    return FALSE;
  if ((d = fdopendir (fd)) == NULL)
    {
      close (fd);
      return FALSE;
    }
  while (name == NULL && (de = readdir (d)) != NULL)
    for (const char *p = de->d_name; *p != '\0' && name == NULL; p++)
      if (g_ascii_isalpha (*p))
        name = g_strdup (de->d_name);
  closedir (d);
  if (name == NULL)
    return FALSE;
  for (char *p = name; *p != '\0'; p++)
    *p = g_ascii_isupper (*p) ? g_ascii_tolower (*p) : g_ascii_toupper (*p);
  return fstatat (project_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void
collect_start (Collect   *c,
               int        project_fd,
               GPtrArray *plants)
{
  c->project_fd = project_fd;
  c->plants = plants;
  c->uid = getuid ();
  c->full = FALSE;
  if (names_alias (project_fd))
    add_plant (c, ".", "the project folder's filesystem ignores case through FUSE: "
               "protected files (.git/config, .claude/settings.json, …) cannot be made "
               "read-only here, where another spelling of a name is another path to the "
               "file; their changes are only reported");
  c->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) csb_guard_entry_free);
  c->seen = g_hash_table_new (g_str_hash, g_str_equal);
  collect_git (c, "");
  collect_root_claude (c);
}

static GPtrArray *
collect_end (Collect *c)
{
  g_hash_table_unref (c->seen);
  /* A parent before its children ("a" sorts before "a/…"): a bind onto a parent
   * made later would hide those below it. */
  g_ptr_array_sort (c->entries, compare_entries);
  return c->entries;
}

GPtrArray *
csb_project_guard_collect (int        project_fd,
                           GPtrArray *plants)
{
  Collect c;

  g_return_val_if_fail (project_fd >= 0, NULL);

  collect_start (&c, project_fd, plants);
  walk (project_fd, visit_collect, &c);
  return collect_end (&c);
}

/* ---- plants --------------------------------------------------------------------- */

typedef struct
{
  mode_t  mode;
  dev_t   dev;
  ino_t   ino;
  off_t   size;
  gint64  mtime_ns;
  gint64  ctime_ns;
} Stamp;

typedef struct
{
  int         project_fd;
  GHashTable *stamps;
} Snapshot;

static void
stamp_at (Snapshot   *s,
          int         dir_fd,
          const char *dir,
          const char *name)
{
  g_autofree char *path = *dir ? g_build_filename (dir, name, NULL) : g_strdup (name);
  struct stat st;
  Stamp *stamp;

  if (g_hash_table_size (s->stamps) >= 8 * CSB_GUARD_MAX_DIRS ||
      fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return;
  stamp = g_new0 (Stamp, 1);
  stamp->mode = st.st_mode;
  stamp->dev = st.st_dev;
  stamp->ino = st.st_ino;
  stamp->size = st.st_size;
  stamp->mtime_ns = (gint64) st.st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) +
                    st.st_mtim.tv_nsec;
  stamp->ctime_ns = (gint64) st.st_ctim.tv_sec * G_GINT64_CONSTANT (1000000000) +
                    st.st_ctim.tv_nsec;
  g_hash_table_replace (s->stamps, g_steal_pointer (&path), stamp);
}

/* Every entry of folder @name in @dir_fd (one level), @match (NULL: all) by prefix
 * and suffix, and the folder itself. */
static void
stamp_dir (Snapshot   *s,
           int         dir_fd,
           const char *dir,
           const char *name,
           const char *prefix,
           const char *suffix)
{
  g_autofree char *path = *dir ? g_build_filename (dir, name, NULL) : g_strdup (name);
  int fd;
  DIR *d;
  struct dirent *de;
  guint count = 0;

  stamp_at (s, dir_fd, dir, name);
  fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return;
  if ((d = fdopendir (fd)) == NULL)
    {
      close (fd);
      return;
    }
  while ((de = readdir (d)) != NULL && count++ < CSB_GUARD_MAX_DIRS)
    {
      if (g_str_equal (de->d_name, ".") || g_str_equal (de->d_name, ".."))
        continue;
      if (name_has_affixes (de->d_name, prefix, suffix))
        stamp_at (s, dirfd (d), path, de->d_name);
    }
  closedir (d);
}

static void stamp_git_dir (Snapshot *s, int dir_fd, const char *dir, const char *name,
                           guint depth);

static void
stamp_git_children (Snapshot   *s,
                    int         git_fd,
                    const char *gitdir,
                    const char *sub,
                    guint       depth)
{
  g_autofree char *path = g_build_filename (gitdir, sub, NULL);
  int fd;
  DIR *d;
  struct dirent *de;
  guint count = 0;

  if (depth > CSB_GUARD_MAX_DEPTH)
    return;
  fd = openat (git_fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return;
  if ((d = fdopendir (fd)) == NULL)
    {
      close (fd);
      return;
    }
  while ((de = readdir (d)) != NULL && count++ < CSB_GUARD_MAX_DIRS)
    {
      struct stat st;

      if (g_str_equal (de->d_name, ".") || g_str_equal (de->d_name, "..") ||
          fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISDIR (st.st_mode))
        continue;
      {
        g_autofree char *head = g_build_filename (de->d_name, "HEAD", NULL);

        if (fstatat (dirfd (d), head, &st, AT_SYMLINK_NOFOLLOW) == 0)
          stamp_git_dir (s, dirfd (d), path, de->d_name, depth + 1);
        else
          stamp_git_children (s, dirfd (d), path, de->d_name, depth + 1);
      }
    }
  closedir (d);
}

/* A git folder's config, commondir, hooks, and those of its submodules and worktrees. */
static void
stamp_git_dir (Snapshot   *s,
               int         dir_fd,
               const char *dir,
               const char *name,
               guint       depth)
{
  g_autofree char *path = *dir ? g_build_filename (dir, name, NULL) : g_strdup (name);
  int fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0)
    return;
  stamp_at (s, fd, path, "config");
  stamp_at (s, fd, path, "config.worktree");
  stamp_at (s, fd, path, "commondir");
  stamp_dir (s, fd, path, "hooks", NULL, NULL);
  stamp_git_children (s, fd, path, "modules", depth);
  stamp_git_children (s, fd, path, "worktrees", depth);
  close (fd);
}

static void
visit_snapshot (int         dir_fd,
                const char *dir,
                guint       seen,
                gpointer    user_data)
{
  static const char * const files[] = { ".mcp.json", ".envrc", ".devcontainer.json", NULL };
  Snapshot *s = user_data;
  struct stat st;

  for (guint i = 0; (seen & SEEN_FILES) && files[i] != NULL; i++)
    stamp_at (s, dir_fd, dir, files[i]);
  if ((seen & SEEN_GIT) && fstatat (dir_fd, ".git", &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      stamp_at (s, dir_fd, dir, ".git");
      if (S_ISDIR (st.st_mode))
        stamp_git_dir (s, dir_fd, dir, ".git", 0);
    }
  if ((seen & SEEN_CLAUDE) && fstatat (dir_fd, ".claude", &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      g_autofree char *claude = *dir ? g_build_filename (dir, ".claude", NULL)
                                     : g_strdup (".claude");
      int fd;

      stamp_dir (s, dir_fd, dir, ".claude", "settings", ".json");
      if ((fd = openat (dir_fd, ".claude", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
        {
          stamp_dir (s, fd, claude, "hooks", NULL, NULL);
          close (fd);
        }
    }
  if ((seen & SEEN_VSCODE) && fstatat (dir_fd, ".vscode", &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      g_autofree char *vscode = *dir ? g_build_filename (dir, ".vscode", NULL)
                                     : g_strdup (".vscode");
      int fd;

      stamp_at (s, dir_fd, dir, ".vscode");
      if ((fd = openat (dir_fd, ".vscode", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
        {
          stamp_at (s, fd, vscode, "tasks.json");
          stamp_at (s, fd, vscode, "settings.json");
          stamp_at (s, fd, vscode, "launch.json");
          close (fd);
        }
    }
  if ((seen & SEEN_DEVCONTAINER) &&
      fstatat (dir_fd, ".devcontainer", &st, AT_SYMLINK_NOFOLLOW) == 0)
    stamp_dir (s, dir_fd, dir, ".devcontainer", NULL, NULL);
}

typedef struct
{
  Collect  *collect;
  Snapshot *snapshot;
} Both;

static void
visit_both (int         dir_fd,
            const char *dir,
            guint       seen,
            gpointer    user_data)
{
  Both *both = user_data;

  /* Protect first: what it creates (hooks, commondir) is in the snapshot then. */
  visit_collect (dir_fd, dir, seen, both->collect);
  visit_snapshot (dir_fd, dir, seen, both->snapshot);
}

GPtrArray *
csb_project_guard_prepare (int          project_fd,
                           GPtrArray   *plants,
                           GHashTable **out_snapshot)
{
  Collect c;
  Snapshot s = { project_fd, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free) };
  Both both = { &c, &s };

  g_return_val_if_fail (project_fd >= 0, NULL);
  g_return_val_if_fail (out_snapshot != NULL, NULL);

  collect_start (&c, project_fd, plants);
  walk (project_fd, visit_both, &both);
  *out_snapshot = s.stamps;
  return collect_end (&c);
}

GHashTable *
csb_project_guard_snapshot (int project_fd)
{
  Snapshot s = { project_fd, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free) };

  g_return_val_if_fail (project_fd >= 0, NULL);
  walk (project_fd, visit_snapshot, &s);
  return s.stamps;
}

GBytes *
csb_project_guard_snapshot_to_bytes (GHashTable *snapshot)
{
  g_autoptr(GString) out = g_string_new (NULL);
  GHashTableIter iter;
  gpointer key, value;

  g_return_val_if_fail (snapshot != NULL, NULL);

  g_hash_table_iter_init (&iter, snapshot);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const Stamp *stamp = value;

      g_string_append_printf (out, "%o %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %"
                              G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %s",
                              (guint) stamp->mode, (guint64) stamp->dev, (guint64) stamp->ino,
                              (gint64) stamp->size, stamp->mtime_ns, stamp->ctime_ns,
                              (const char *) key);
      g_string_append_c (out, '\0');
    }
  return g_string_free_to_bytes (g_steal_pointer (&out));
}

GHashTable *
csb_project_guard_snapshot_from_bytes (GBytes *bytes)
{
  g_autoptr(GHashTable) stamps = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);
  const char *end = data + len;

  if (len > 0 && data[len - 1] != '\0')
    return NULL;
  for (const char *p = data; p < end; p += strlen (p) + 1)
    {
      Stamp stamp = { 0 };
      guint mode;
      guint64 dev, ino;
      gint64 size;
      int path_at = -1;

      if (g_hash_table_size (stamps) >= 8 * CSB_GUARD_MAX_DIRS ||
          sscanf (p, "%o %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GINT64_FORMAT " %"
                  G_GINT64_FORMAT " %" G_GINT64_FORMAT " %n", &mode, &dev, &ino, &size,
                  &stamp.mtime_ns, &stamp.ctime_ns, &path_at) != 6 ||
          path_at <= 0 || p[path_at] == '\0')
        return NULL;
      stamp.mode = mode;
      stamp.dev = dev;
      stamp.ino = ino;
      stamp.size = size;
      g_hash_table_replace (stamps, g_strdup (p + path_at), g_memdup2 (&stamp, sizeof stamp));
    }
  return g_steal_pointer (&stamps);
}

/* What in a git config makes git run a program of its choosing. */
static char *
git_config_risks (int         project_fd,
                  const char *path)
{
  static const char * const keys[] = {
    "fsmonitor", "hookspath", "sshcommand", "askpass", "pager", "editor", "external",
    "textconv", "smudge", "clean", "process", "program", "worktree", "include", "alias",
    NULL
  };
  g_autoptr(GString) found = g_string_new (NULL);
  g_autofree char *text = NULL;
  char buf[65536];
  ssize_t n;
  struct stat st;
  int fd = csb_open_beneath (project_fd, path, O_RDONLY | O_NONBLOCK);

  if (fd < 0)
    return NULL;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      return NULL;
    }
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  text = g_ascii_strdown (buf, n);
  for (guint i = 0; keys[i] != NULL; i++)
    if (strstr (text, keys[i]) != NULL)
      g_string_append_printf (found, "%s%s", found->len ? ", " : "", keys[i]);
  return found->len ? g_string_free (g_steal_pointer (&found), FALSE) : NULL;
}

static char *
describe (int          project_fd,
          const char  *path,
          const Stamp *stamp)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *updir = g_path_get_dirname (dir);
  g_autofree char *base = NULL;
  g_autofree char *parent = NULL;
  g_autofree char *grand = NULL;

  /* Folded, as the names were matched. */
  {
    g_autofree char *b = g_path_get_basename (path);
    g_autofree char *p = g_path_get_basename (dir);
    g_autofree char *g = g_path_get_basename (updir);

    base = csb_guard_fold_name (b);
    parent = csb_guard_fold_name (p);
    grand = csb_guard_fold_name (g);
  }
  if (g_str_equal (base, ".mcp.json"))
    return g_strdup ("MCP servers: the host's claude starts them");
  if (g_str_equal (base, ".envrc"))
    return g_strdup ("direnv runs it on entering the folder");
  if (g_str_equal (base, ".devcontainer.json") || g_str_equal (parent, ".devcontainer") ||
      g_str_equal (base, ".devcontainer"))
    return g_strdup ("a dev container definition: runs when the folder is reopened in one");
  if (g_str_equal (parent, ".vscode"))
    return g_strdup_printf ("VS Code %s: can run programs when the folder is opened",
                            g_str_equal (base, "tasks.json") ? "tasks" :
                            g_str_equal (base, "launch.json") ? "launch configurations"
                                                              : "settings");
  if (g_str_equal (base, ".vscode"))
    return g_strdup ("VS Code's folder");
  if (g_str_equal (parent, ".claude") || g_str_equal (base, ".claude"))
    return g_strdup ("Claude Code settings: the host's claude obeys them (hooks run commands)");
  if (g_str_equal (parent, "hooks") && g_str_equal (grand, ".claude"))
    return g_strdup ("a Claude Code hook script");
  if (g_str_equal (base, ".git"))
    return g_strdup (S_ISDIR (stamp->mode) ? "a git repository: git outside runs its hooks "
                                             "and obeys its config"
                                           : "a gitlink: sends git outside to a repository "
                                             "of the sandbox's choosing");
  if (g_str_equal (parent, "hooks") || g_str_equal (base, "hooks"))
    return g_strdup ("a git hook: git outside runs it");
  if (g_str_equal (base, "config") || g_str_equal (base, "config.worktree"))
    {
      g_autofree char *risks = S_ISREG (stamp->mode) ? git_config_risks (project_fd, path)
                                                     : NULL;
      return risks ? g_strdup_printf ("git config, mentions %s: git outside obeys it", risks)
                   : g_strdup ("git config: git outside obeys it");
    }
  if (g_str_equal (base, "commondir"))
    return g_strdup ("git commondir: sends git outside to other hooks and config");
  return g_strdup ("runs or is obeyed outside the sandbox");
}

GPtrArray *
csb_project_guard_compare (int         project_fd,
                           GHashTable *before,
                           GHashTable *now)
{
  g_autoptr(GPtrArray) plants = g_ptr_array_new_with_free_func ((GDestroyNotify) csb_plant_free);
  g_autoptr(GList) paths = g_hash_table_get_keys (now);

  paths = g_list_sort (paths, (GCompareFunc) strcmp);
  for (GList *l = paths; l != NULL; l = l->next)
    {
      const char *path = l->data;
      const Stamp *stamp = g_hash_table_lookup (now, path);
      const Stamp *old = before ? g_hash_table_lookup (before, path) : NULL;
      g_autofree char *what = NULL;
      const char *status;

      if (old != NULL && old->mode == stamp->mode && old->dev == stamp->dev &&
          old->ino == stamp->ino && old->size == stamp->size &&
          old->mtime_ns == stamp->mtime_ns && old->ctime_ns == stamp->ctime_ns)
        continue;
      /* A folder's entries are reported themselves; only a new git folder is news
       * (bwrap also makes the project's .claude, as a mount point). */
      if (S_ISDIR (stamp->mode) &&
          ((old != NULL && S_ISDIR (old->mode) && old->ino == stamp->ino) ||
           !g_str_has_suffix (path, ".git")))
        continue;
      what = describe (project_fd, path, stamp);
      if (S_ISLNK (stamp->mode))
        status = "a new symlink";
      else if (old == NULL)
        status = "new";
      else if ((old->mode & S_IFMT) != (stamp->mode & S_IFMT) || old->ino != stamp->ino)
        status = "replaced";
      else
        status = "changed";
      {
        g_autofree char *why = g_strdup_printf ("%s: %s", status, what);
        g_ptr_array_add (plants, csb_plant_new (path, why));
      }
    }
  return g_steal_pointer (&plants);
}
