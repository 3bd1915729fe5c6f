/* test-project-guard.c — the project guard on its own: which entries it protects,
 * what it refuses to bind (links, wrong types), its walk's bounds, and the plant
 * report from two snapshots.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "csb-file.h"
#include "csb-project-guard.h"
#include "csb-review.h"
#include "csb-test-utils.h"

typedef struct
{
  char *dir;
  int   fd;
} Fixture;

static void
setup (Fixture      *f,
       gconstpointer data)
{
  f->dir = g_dir_make_tmp ("csb-guard-XXXXXX", NULL);
  g_assert_nonnull (f->dir);
  f->fd = open (f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (f->fd, >=, 0);
}

static void
teardown (Fixture      *f,
          gconstpointer data)
{
  close (f->fd);
  csb_test_rm_rf (f->dir);
  g_free (f->dir);
}

static void
write_in (Fixture    *f,
          const char *relative,
          const char *contents)
{
  g_autofree char *path = g_build_filename (f->dir, relative, NULL);

  csb_test_write_file (path, contents, 0644);
}

static void
mkdir_in (Fixture    *f,
          const char *relative)
{
  g_autofree char *path = g_build_filename (f->dir, relative, NULL);

  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
}

static void
link_in (Fixture    *f,
         const char *target,
         const char *relative)
{
  g_autofree char *path = g_build_filename (f->dir, relative, NULL);
  g_autofree char *parent = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  g_assert_cmpint (symlink (target, path), ==, 0);
}

static CsbGuardEntry *
find_entry (GPtrArray  *entries,
            const char *path)
{
  for (guint i = 0; i < entries->len; i++)
    {
      CsbGuardEntry *entry = g_ptr_array_index (entries, i);
      if (g_str_equal (entry->path, path))
        return entry;
    }
  return NULL;
}

static const char *
find_plant (GPtrArray  *plants,
            const char *path)
{
  for (guint i = 0; i < plants->len; i++)
    {
      CsbPlant *plant = g_ptr_array_index (plants, i);
      if (g_str_equal (plant->path, path))
        return plant->why;
    }
  return NULL;
}

static void
assert_kind (GPtrArray    *entries,
             const char   *path,
             CsbGuardKind  kind)
{
  CsbGuardEntry *entry = find_entry (entries, path);

  if (entry == NULL)
    g_error ("%s is not protected", path);
  g_assert_cmpint (entry->kind, ==, kind);
  if (kind != CSB_GUARD_SYMLINK && kind != CSB_GUARD_TMPFS)
    g_assert_cmpint (entry->fd, >=, 0);
}

static void
test_entries (Fixture      *f,
              gconstpointer data)
{
  g_autoptr(GPtrArray) plants = g_ptr_array_new_with_free_func ((GDestroyNotify) csb_plant_free);
  g_autoptr(GPtrArray) entries = NULL;
  g_autofree char *commondir = g_build_filename (f->dir, ".git", "commondir", NULL);
  g_autofree char *contents = NULL;

  write_in (f, ".git/config", "[core]\n");
  write_in (f, ".claude/settings.json", "{}\n");
  write_in (f, ".claude/notes.md", "x\n");
  link_in (f, "notes.md", ".claude/link");
  write_in (f, "a/b/.claude/settings.local.json", "{}\n");
  write_in (f, "lib/x/.git/config", "[core]\n");
  write_in (f, "mod/.git", "gitdir: ../.git/modules/m\n");
  write_in (f, ".git/modules/m/HEAD", "ref: refs/heads/main\n");
  write_in (f, ".git/worktrees/w/commondir", "../..\n");
  write_in (f, "node_modules/p/.claude/settings.json", "{}\n");
  write_in (f, "1/2/3/4/.claude/settings.json", "{}\n");
  write_in (f, "1/2/3/4/5/.claude/settings.json", "{}\n");
  link_in (f, "/etc", "linked");

  entries = csb_project_guard_collect (f->fd, plants);
  assert_kind (entries, ".git", CSB_GUARD_SELF);
  assert_kind (entries, ".git/config", CSB_GUARD_RO);
  assert_kind (entries, ".git/hooks", CSB_GUARD_RO);
  assert_kind (entries, ".git/commondir", CSB_GUARD_RO);
  assert_kind (entries, ".claude", CSB_GUARD_TMPFS);
  assert_kind (entries, ".claude/settings.json", CSB_GUARD_RO);
  assert_kind (entries, ".claude/notes.md", CSB_GUARD_RW);
  assert_kind (entries, ".claude/link", CSB_GUARD_SYMLINK);
  g_assert_cmpstr (find_entry (entries, ".claude/link")->target, ==, "notes.md");
  assert_kind (entries, "a", CSB_GUARD_SELF);
  assert_kind (entries, "a/b", CSB_GUARD_SELF);
  assert_kind (entries, "a/b/.claude", CSB_GUARD_SELF);
  assert_kind (entries, "a/b/.claude/settings.local.json", CSB_GUARD_RO);
  assert_kind (entries, "lib/x/.git", CSB_GUARD_SELF);
  assert_kind (entries, "lib/x/.git/config", CSB_GUARD_RO);
  assert_kind (entries, "lib/x/.git/hooks", CSB_GUARD_RO);
  assert_kind (entries, "mod/.git", CSB_GUARD_RO);
  assert_kind (entries, ".git/modules/m", CSB_GUARD_SELF);
  assert_kind (entries, ".git/modules/m/hooks", CSB_GUARD_RO);
  assert_kind (entries, ".git/worktrees/w", CSB_GUARD_SELF);
  assert_kind (entries, ".git/worktrees/w/commondir", CSB_GUARD_RO);
  /* Four folders deep is seen, five is not; package trees and links are not entered. */
  assert_kind (entries, "1/2/3/4/.claude/settings.json", CSB_GUARD_RO);
  g_assert_null (find_entry (entries, "1/2/3/4/5/.claude/settings.json"));
  g_assert_null (find_entry (entries, "node_modules/p/.claude/settings.json"));
  g_assert_null (find_entry (entries, "linked"));
  g_assert_cmpuint (plants->len, ==, 0);

  /* Parents before children. */
  for (guint i = 1; i < entries->len; i++)
    g_assert_cmpint (strcmp (((CsbGuardEntry *) g_ptr_array_index (entries, i - 1))->path,
                             ((CsbGuardEntry *) g_ptr_array_index (entries, i))->path), <, 0);

  /* The commondir it wrote says what git assumes without one. */
  g_assert_true (g_file_get_contents (commondir, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, ".\n");
}

static void
test_refused (Fixture      *f,
              gconstpointer data)
{
  g_autoptr(GPtrArray) plants = g_ptr_array_new_with_free_func ((GDestroyNotify) csb_plant_free);
  g_autoptr(GPtrArray) entries = NULL;
  g_autofree char *commondir = g_build_filename (f->dir, ".git", "commondir", NULL);

  link_in (f, "/etc/passwd", ".git/config");
  link_in (f, "/tmp", ".git/hooks");
  link_in (f, "/etc/hostname", ".git/commondir");
  link_in (f, "/etc/passwd", ".claude/settings.json");
  mkdir_in (f, ".claude/settings.local.json");
  link_in (f, "/etc", "sub/.claude");
  link_in (f, "/tmp", "other/.git");
  link_in (f, "/", "deep/x");
  write_in (f, "deep/y/.claude/settings.json", "{}\n");
  link_in (f, "../../../y/.claude/settings.json", "deep/z/.claude/settings.json");

  entries = csb_project_guard_collect (f->fd, plants);
  g_assert_null (find_entry (entries, ".git/config"));
  g_assert_null (find_entry (entries, ".git/hooks"));
  g_assert_null (find_entry (entries, ".git/commondir"));
  g_assert_null (find_entry (entries, ".claude/settings.json"));
  g_assert_null (find_entry (entries, ".claude/settings.local.json"));
  g_assert_null (find_entry (entries, "sub/.claude"));
  g_assert_null (find_entry (entries, "deep/z/.claude/settings.json"));
  assert_kind (entries, "deep/y/.claude/settings.json", CSB_GUARD_RO);
  g_assert_nonnull (strstr (find_plant (plants, ".git/config"), "a symlink where"));
  g_assert_nonnull (strstr (find_plant (plants, ".git/hooks"), "a symlink where"));
  g_assert_nonnull (strstr (find_plant (plants, ".git/commondir"), "a symlink where"));
  g_assert_nonnull (strstr (find_plant (plants, ".claude/settings.json"), "a symlink where"));
  g_assert_nonnull (strstr (find_plant (plants, ".claude/settings.local.json"),
                            "not a regular file"));
  g_assert_nonnull (strstr (find_plant (plants, "sub/.claude"), "symlink"));
  g_assert_nonnull (strstr (find_plant (plants, "other/.git"), "symlink"));
  g_assert_nonnull (strstr (find_plant (plants, "deep/z/.claude/settings.json"),
                            "a symlink where"));
  /* The commondir link was not written through. */
  g_assert_true (g_file_test (commondir, G_FILE_TEST_IS_SYMLINK));
}

static void
test_plants (Fixture      *f,
             gconstpointer data)
{
  g_autoptr(GHashTable) before = NULL;
  g_autoptr(GHashTable) after = NULL;
  g_autoptr(GPtrArray) plants = NULL;
  g_autoptr(GPtrArray) none = NULL;
  g_autoptr(GPtrArray) entries = NULL;

  write_in (f, ".git/config", "[core]\n");
  write_in (f, ".vscode/settings.json", "{}\n");
  write_in (f, "README", "x\n");
  entries = csb_project_guard_prepare (f->fd, NULL, &before);
  none = csb_project_guard_compare (f->fd, before, before);
  g_assert_cmpuint (none->len, ==, 0);

  write_in (f, ".mcp.json", "{}\n");
  write_in (f, ".git/config", "[core]\n\tfsmonitor = x\n");
  write_in (f, ".git/hooks/pre-commit", "#!/bin/sh\n");
  write_in (f, "README", "changed\n");
  write_in (f, "n/.git/HEAD", "x\n");
  write_in (f, "s/.claude/settings.json", "{}\n");
  write_in (f, ".devcontainer/devcontainer.json", "{}\n");
  link_in (f, "/tmp", "l/.git");
  after = csb_project_guard_snapshot (f->fd);
  plants = csb_project_guard_compare (f->fd, before, after);
  g_assert_nonnull (strstr (find_plant (plants, ".mcp.json"), "new: MCP"));
  /* Changed or replaced (a new inode), whichever way the file was written. */
  g_assert_nonnull (strstr (find_plant (plants, ".git/config"), "git config, mentions fsmonitor"));
  g_assert_nonnull (strstr (find_plant (plants, ".git/hooks/pre-commit"), "new: a git hook"));
  g_assert_nonnull (strstr (find_plant (plants, "n/.git"), "new: a git repository"));
  g_assert_nonnull (strstr (find_plant (plants, "s/.claude/settings.json"),
                            "new: Claude Code settings"));
  g_assert_nonnull (strstr (find_plant (plants, ".devcontainer/devcontainer.json"),
                            "new: a dev container"));
  g_assert_nonnull (strstr (find_plant (plants, "l/.git"), "a new symlink"));
  g_assert_null (find_plant (plants, "README"));
  g_assert_null (find_plant (plants, ".vscode/settings.json"));
}

/* A snapshot survives a restart of the service through its state folder. */
static void
test_snapshot_bytes (Fixture      *f,
                     gconstpointer data)
{
  g_autoptr(GHashTable) before = NULL;
  g_autoptr(GHashTable) back = NULL;
  g_autoptr(GHashTable) after = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GBytes) bad = g_bytes_new_static ("644 1 2 3 4 5", 13);
  g_autoptr(GPtrArray) none = NULL;
  g_autoptr(GPtrArray) plants = NULL;

  write_in (f, ".mcp.json", "{}\n");
  write_in (f, "a b\nc/.envrc", "x\n");
  before = csb_project_guard_snapshot (f->fd);
  g_assert_cmpuint (g_hash_table_size (before), ==, 2);
  bytes = csb_project_guard_snapshot_to_bytes (before);
  back = csb_project_guard_snapshot_from_bytes (bytes);
  g_assert_nonnull (back);
  g_assert_cmpuint (g_hash_table_size (back), ==, 2);
  none = csb_project_guard_compare (f->fd, back, before);
  g_assert_cmpuint (none->len, ==, 0);
  g_assert_null (csb_project_guard_snapshot_from_bytes (bad));

  write_in (f, "a b\nc/.envrc", "changed, longer\n");
  after = csb_project_guard_snapshot (f->fd);
  plants = csb_project_guard_compare (f->fd, back, after);
  g_assert_nonnull (find_plant (plants, "a b\nc/.envrc"));
  g_assert_null (find_plant (plants, ".mcp.json"));
}

/* Protected names are matched as a case-insensitive filesystem would (vfat, exFAT,
 * NTFS, SMB, ext4 casefold folders), on every filesystem: there ".Git/Config" is git's
 * config and ".claude/ſettings.json" (U+017F folds to s) Claude Code's settings. */
static void
test_folded_names (void)
{
  static const char * const protected[] = {
    ".Git/Config", ".GIT/hooks/pre-commit", ".CLAUDE/settings.json", ".claude/Settings.JSON",
    "sub/.Claude/ſettings.local.json", ".claude/HOOKS/x", ".ENVRC", ".Mcp.Json", ".VSCode/Tasks.json",
    ".Claude", "a/.DevContainer/devcontainer.json", NULL
  };
  static const char * const plain[] = {
    "src/Config", ".gitignore", "claude/settings.json", ".claude/notes.md", "env/.envrc.bak",
    NULL
  };

  for (guint i = 0; protected[i] != NULL; i++)
    {
      g_test_message ("%s", protected[i]);
      g_assert_true (csb_review_path_is_protected (protected[i]));
    }
  for (guint i = 0; plain[i] != NULL; i++)
    {
      g_test_message ("%s", plain[i]);
      g_assert_false (csb_review_path_is_protected (plain[i]));
    }
  g_assert_true (csb_guard_name_is (".GiT", ".git"));
  g_assert_true (csb_guard_name_is ("\342\204\252ey", "key"));  /* KELVIN SIGN */
  g_assert_false (csb_guard_name_is (".gitx", ".git"));
  g_assert_false (csb_guard_name_is ("bad\377", "bad"));
}

/* A plain open of what a sandbox may have made opens only regular files and folders:
 * a FIFO or a device node comes back as an O_PATH descriptor, never opened (a
 * device's driver acts at open; a FIFO could block). */
static void
test_open_beneath_types (Fixture      *f,
                         gconstpointer data)
{
  g_autofree char *fifo = g_build_filename (f->dir, "fifo", NULL);
  g_autofree char *ptmx = g_build_filename (f->dir, "ptmx", NULL);
  g_autofree char *link = g_build_filename (f->dir, "link", NULL);
  char byte;
  int fd;

  write_in (f, "file", "x");
  mkdir_in (f, "dir");
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);

  fd = csb_open_beneath (f->fd, "file", O_RDONLY | O_NOCTTY);
  g_assert_cmpint (fd, >=, 0);
  g_assert_false (fcntl (fd, F_GETFL) & O_PATH);
  g_assert_cmpint (read (fd, &byte, 1), ==, 1);
  g_assert_cmpint (byte, ==, 'x');
  g_assert_true (fcntl (fd, F_GETFD) & FD_CLOEXEC);
  close (fd);

  fd = csb_open_beneath (f->fd, "dir", O_RDONLY);
  g_assert_cmpint (fd, >=, 0);
  g_assert_false (fcntl (fd, F_GETFL) & O_PATH);
  close (fd);

  fd = csb_open_beneath (f->fd, "fifo", O_RDONLY | O_NONBLOCK);
  g_assert_cmpint (fd, >=, 0);
  g_assert_true (fcntl (fd, F_GETFL) & O_PATH);
  g_assert_cmpint (read (fd, &byte, 1), ==, -1);
  close (fd);

  /* A link is refused, as before. */
  g_assert_cmpint (symlink ("file", link), ==, 0);
  g_assert_cmpint (csb_open_beneath (f->fd, "link", O_RDONLY), ==, -1);

  /* A device node (the pty multiplexer: each real open makes a new pty). */
  if (mknod (ptmx, S_IFCHR | 0666, makedev (5, 2)) != 0)
    {
      g_test_message ("device node part skipped: mknod needs CAP_MKNOD (%s)", g_strerror (errno));
      return;
    }
  fd = csb_open_beneath (f->fd, "ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK);
  g_assert_cmpint (fd, >=, 0);
  g_assert_true (fcntl (fd, F_GETFL) & O_PATH);
  /* Not a pty master: nothing was opened. */
  g_assert_cmpint (ioctl (fd, TIOCGPTN, &(unsigned) { 0 }), ==, -1);
  close (fd);
}

/* csb_rm_rf: the tree goes, links in it (and a link given itself) are removed,
 * never followed: what they lead to stays. */
static void
test_rm_rf_no_follow (Fixture      *f,
                      gconstpointer data)
{
  g_autofree char *outside = g_build_filename (f->dir, "outside", NULL);
  g_autofree char *kept = g_build_filename (f->dir, "outside", "kept", NULL);
  g_autofree char *tree = g_build_filename (f->dir, "tree", NULL);
  g_autofree char *link = g_build_filename (f->dir, "link", NULL);
  g_autofree char *inner_link = g_build_filename (tree, "a", "to-outside", NULL);
  g_autoptr(GError) error = NULL;

  write_in (f, "outside/kept", "x");
  write_in (f, "tree/a/b/file", "x");
  g_assert_cmpint (symlink (outside, inner_link), ==, 0);
  g_assert_cmpint (symlink (outside, link), ==, 0);

  g_assert_true (csb_rm_rf (tree, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (tree, G_FILE_TEST_EXISTS));
  g_assert_true (csb_rm_rf (link, &error));
  g_assert_false (g_file_test (link, G_FILE_TEST_IS_SYMLINK));
  g_assert_true (g_file_test (kept, G_FILE_TEST_IS_REGULAR));
  /* Nothing there: nothing to do. */
  g_assert_true (csb_rm_rf (tree, &error));
  g_assert_no_error (error);
}

/* csb_rm_rf on a tree a sandbox nested as deep as it liked: it all goes, within a
 * few open folders (here at most 64 descriptors for the whole process: the old
 * recursion held one per level, and a path per level, and failed or grew with the
 * square of the depth). */
static void
test_rm_rf_deep (Fixture      *f,
                 gconstpointer data)
{
  g_autofree char *tree = g_build_filename (f->dir, "deep", NULL);
  g_autoptr(GError) error = NULL;
  struct rlimit saved, low;
  int fd;

  g_assert_cmpint (mkdir (tree, 0700), ==, 0);
  fd = open (tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  for (guint i = 0; i < 5000; i++)
    {
      int next;

      g_assert_cmpint (mkdirat (fd, "d", 0700), ==, 0);
      if (i % 1000 == 0)
        g_assert_cmpint (mkdirat (fd, "side", 0700), ==, 0);
      next = openat (fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      g_assert_cmpint (next, >=, 0);
      close (fd);
      fd = next;
    }
  g_assert_cmpint (symlinkat (f->dir, fd, "up"), ==, 0);
  close (fd);

  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &saved), ==, 0);
  low = saved;
  low.rlim_cur = 64;
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &low), ==, 0);
  g_assert_true (csb_rm_rf (tree, &error));
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &saved), ==, 0);
  g_assert_no_error (error);
  g_assert_false (g_file_test (tree, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (f->dir, G_FILE_TEST_IS_DIR));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/project-guard/entries", Fixture, NULL, setup, test_entries, teardown);
  g_test_add_func ("/project-guard/folded-names", test_folded_names);
  g_test_add ("/project-guard/refused", Fixture, NULL, setup, test_refused, teardown);
  g_test_add ("/project-guard/plants", Fixture, NULL, setup, test_plants, teardown);
  g_test_add ("/project-guard/rm-rf-deep", Fixture, NULL, setup, test_rm_rf_deep, teardown);
  g_test_add ("/project-guard/rm-rf-no-follow", Fixture, NULL, setup, test_rm_rf_no_follow,
              teardown);
  g_test_add ("/project-guard/open-beneath-types", Fixture, NULL, setup,
              test_open_beneath_types, teardown);
  g_test_add ("/project-guard/snapshot-bytes", Fixture, NULL, setup, test_snapshot_bytes,
              teardown);
  return g_test_run ();
}
