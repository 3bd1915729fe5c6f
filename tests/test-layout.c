/* test-layout.c — the sandbox's layout on its own, as flatpak's test-exports.c
 * tests FlatpakExports: what is visible where and how, which host links stay links,
 * the order of mounts, and the bwrap arguments it becomes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "csb-guest-stage.h"
#include "csb-layout.h"

static void
assert_access (CsbLayout       *layout,
               const char      *path,
               CsbLayoutAccess  expected,
               const char      *expected_source)
{
  g_autofree char *source = NULL;
  CsbLayoutAccess access = csb_layout_get_access (layout, path, &source);

  g_test_message ("%s: %d from %s", path, access, source ? source : "-");
  g_assert_cmpint (access, ==, expected);
  g_assert_cmpstr (source, ==, expected_source);
}

static char *
args_string (CsbLayout *layout)
{
  g_autoptr(CsbArgv) args = csb_argv_new ();
  g_autoptr(GString) text = g_string_new (NULL);

  csb_layout_append_bwrap_args (layout, args);
  for (guint i = 0; i < csb_argv_get_len (args); i++)
    {
      if (i > 0)
        g_string_append_c (text, ' ');
      g_string_append (text, csb_argv_get (args, i));
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* Later entries cover earlier ones at and below their path, as later mounts do. */
static void
test_order (void)
{
  g_autoptr(CsbLayout) layout = csb_layout_new ();
  g_autofree char *args = NULL;

  csb_layout_bind (layout, "/srv/data", "/data", TRUE);
  csb_layout_tmpfs (layout, "/data/cache", 0700);
  csb_layout_bind (layout, "/srv/data/cache/keep", "/data/cache/keep", FALSE);
  csb_layout_dir (layout, "/made");
  csb_layout_symlink (layout, "data/cache", "/cache");
  csb_layout_symlink (layout, "/loop-b", "/loop-a");
  csb_layout_symlink (layout, "/loop-a", "/loop-b");

  assert_access (layout, "/data", CSB_LAYOUT_HOST_RO, "/srv/data");
  assert_access (layout, "/data/x/y", CSB_LAYOUT_HOST_RO, "/srv/data/x/y");
  assert_access (layout, "/datax", CSB_LAYOUT_HIDDEN, NULL);
  assert_access (layout, "/data/cache", CSB_LAYOUT_PRIVATE, NULL);
  assert_access (layout, "/data/cache/other", CSB_LAYOUT_PRIVATE, NULL);
  assert_access (layout, "/data/cache/keep/f", CSB_LAYOUT_HOST_RW, "/srv/data/cache/keep/f");
  assert_access (layout, "/data/../data/cache/keep", CSB_LAYOUT_HOST_RW, "/srv/data/cache/keep");
  assert_access (layout, "/made", CSB_LAYOUT_PRIVATE, NULL);
  assert_access (layout, "/made/below", CSB_LAYOUT_HIDDEN, NULL);
  assert_access (layout, "/cache/keep", CSB_LAYOUT_HOST_RW, "/srv/data/cache/keep");
  assert_access (layout, "/loop-a/x", CSB_LAYOUT_HIDDEN, NULL);
  assert_access (layout, "/home", CSB_LAYOUT_HIDDEN, NULL);

  args = args_string (layout);
  g_assert_cmpstr (args, ==,
                   "--ro-bind /srv/data /data --perms 0700 --tmpfs /data/cache "
                   "--bind /srv/data/cache/keep /data/cache/keep --dir /made "
                   "--symlink data/cache /cache --symlink /loop-b /loop-a "
                   "--symlink /loop-a /loop-b");
}

/* A host link whose target is visible as itself stays a link; another is bound
 * from where it resolves; a dangling one and a missing path give nothing. */
static void
test_host_links (void)
{
  g_autofree char *root = g_dir_make_tmp ("csb-layout-XXXXXX", NULL);
  g_autofree char *usr = g_build_filename (root, "usr", NULL);
  g_autofree char *usr_file = g_build_filename (root, "usr", "share", "f", NULL);
  g_autofree char *run_file = g_build_filename (root, "run", "f", NULL);
  g_autofree char *to_usr = g_build_filename (root, "etc", "to-usr", NULL);
  g_autofree char *to_run = g_build_filename (root, "etc", "to-run", NULL);
  g_autofree char *dangling = g_build_filename (root, "etc", "dangling", NULL);
  g_autofree char *missing = g_build_filename (root, "etc", "missing", NULL);
  g_autofree char *plain = g_build_filename (root, "etc", "plain", NULL);
  g_autofree char *expected = NULL;
  g_autofree char *args = NULL;
  g_autoptr(CsbLayout) layout = csb_layout_new ();
  g_autofree char *etc = g_build_filename (root, "etc", NULL);
  g_autofree char *run = g_build_filename (root, "run", NULL);
  g_autofree char *share = g_build_filename (root, "usr", "share", NULL);

  g_assert_nonnull (root);
  g_assert_cmpint (g_mkdir_with_parents (share, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (run, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (etc, 0755), ==, 0);
  g_assert_true (g_file_set_contents (usr_file, "f", -1, NULL));
  g_assert_true (g_file_set_contents (run_file, "f", -1, NULL));
  g_assert_true (g_file_set_contents (plain, "p", -1, NULL));
  g_assert_cmpint (symlink ("../usr/share/f", to_usr), ==, 0);
  g_assert_cmpint (symlink (run_file, to_run), ==, 0);
  g_assert_cmpint (symlink ("nowhere", dangling), ==, 0);

  csb_layout_bind (layout, usr, usr, TRUE);
  csb_layout_dir (layout, etc);
  csb_layout_expose_host_path (layout, to_usr);
  csb_layout_expose_host_path (layout, to_run);
  csb_layout_expose_host_path (layout, dangling);
  csb_layout_expose_host_path (layout, missing);
  csb_layout_expose_host_path (layout, plain);

  expected = g_strdup_printf ("--ro-bind %s %s --dir %s --symlink ../usr/share/f %s "
                              "--ro-bind %s %s --ro-bind %s %s",
                              usr, usr, etc, to_usr, run_file, to_run, plain, plain);
  args = args_string (layout);
  g_assert_cmpstr (args, ==, expected);
  assert_access (layout, to_usr, CSB_LAYOUT_HOST_RO, usr_file);
  assert_access (layout, to_run, CSB_LAYOUT_HOST_RO, run_file);
  assert_access (layout, run_file, CSB_LAYOUT_HIDDEN, NULL);
  assert_access (layout, dangling, CSB_LAYOUT_HIDDEN, NULL);
  assert_access (layout, etc, CSB_LAYOUT_PRIVATE, NULL);

  g_unlink (to_usr);
  g_unlink (to_run);
  g_unlink (dangling);
  g_unlink (plain);
  g_unlink (usr_file);
  g_unlink (run_file);
  g_rmdir (share);
  g_rmdir (usr);
  g_rmdir (run);
  g_rmdir (etc);
  g_rmdir (root);
}

/* The host part every backend shows: the programs read-only, /etc only its
 * allowlist, nothing of home, /run, /tmp or the accounts. */
static void
test_host_system (void)
{
  g_autoptr(CsbLayout) layout = csb_layout_new ();
  const char * const hidden[] = {
    "/etc/shadow", "/etc/passwd", "/etc/subuid", "/etc/subgid", "/etc/sudoers", "/etc/ssh",
    "/root", "/home", "/tmp", "/run", "/var", "/proc", "/sys", "/dev", "/srv", "/mnt", NULL
  };

  csb_layout_expose_host_programs (layout);
  assert_access (layout, "/usr", CSB_LAYOUT_HOST_RO, "/usr");
  assert_access (layout, "/usr/bin/sh", CSB_LAYOUT_HOST_RO, "/usr/bin/sh");
  assert_access (layout, "/etc", CSB_LAYOUT_PRIVATE, NULL);
  for (guint i = 0; hidden[i] != NULL; i++)
    assert_access (layout, hidden[i], CSB_LAYOUT_HIDDEN, NULL);
  /* The host's /bin, wherever it leads (merged /usr or not), is the host's. */
  if (g_file_test ("/bin/sh", G_FILE_TEST_EXISTS))
    {
      g_autofree char *resolved = realpath ("/bin/sh", NULL);
      g_autofree char *source = NULL;

      g_assert_cmpint (csb_layout_get_access (layout, "/bin/sh", &source), ==,
                       CSB_LAYOUT_HOST_RO);
      g_assert_nonnull (source);
      {
        g_autofree char *source_resolved = realpath (source, NULL);

        g_assert_cmpstr (source_resolved, ==, resolved);
      }
    }
  for (guint i = 0; csb_etc_allowlist[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename ("/etc", csb_etc_allowlist[i], NULL);
      g_autofree char *resolved = realpath (path, NULL);
      g_autofree char *source = NULL;
      g_autofree char *source_resolved = NULL;

      if (resolved == NULL)
        continue;  /* not on this host, or dangling */
      g_assert_cmpint (csb_layout_get_access (layout, path, &source), ==, CSB_LAYOUT_HOST_RO);
      source_resolved = realpath (source, NULL);
      g_assert_cmpstr (source_resolved, ==, resolved);
    }
}

/* Before the layout, bwrap kept a host link as a link only when it led into /usr:
 * on this host the layout's rule (its target is visible as itself) gives the same
 * arguments for the host part. */
static void
test_host_system_unchanged (void)
{
  static const char * const usr_links[] = {
    "bin", "sbin", "lib", "lib32", "lib64", "libx32", NULL
  };
  g_autoptr(CsbLayout) layout = csb_layout_new ();
  g_autoptr(CsbArgv) before = csb_argv_new ();
  g_autoptr(CsbArgv) now = csb_argv_new ();
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);

  csb_argv_add_args (before, "--ro-bind", "/usr", "/usr", NULL);
  for (guint i = 0; usr_links[i] != NULL; i++)
    g_ptr_array_add (paths, g_strconcat ("/", usr_links[i], NULL));
  g_ptr_array_add (paths, NULL);
  for (guint i = 0; csb_etc_allowlist[i] != NULL; i++)
    g_ptr_array_add (paths, g_build_filename ("/etc", csb_etc_allowlist[i], NULL));
  for (guint i = 0; i < paths->len; i++)
    {
      const char *path = g_ptr_array_index (paths, i);
      struct stat st;

      if (path == NULL)
        {
          if (g_file_test ("/opt", G_FILE_TEST_IS_DIR))
            csb_argv_add_args (before, "--ro-bind", "/opt", "/opt", NULL);
          if (g_file_test ("/nix/store", G_FILE_TEST_IS_DIR))
            csb_argv_add_args (before, "--ro-bind", "/nix/store", "/nix/store", NULL);
          csb_argv_add_args (before, "--dir", "/etc", NULL);
          continue;
        }
      if (lstat (path, &st) != 0)
        continue;
      if (S_ISLNK (st.st_mode))
        {
          g_autofree char *target = g_file_read_link (path, NULL);
          g_autofree char *resolved = realpath (path, NULL);

          if (target == NULL || resolved == NULL)
            continue;
          if (g_str_has_prefix (resolved, "/usr/"))
            csb_argv_add_args (before, "--symlink", target, path, NULL);
          else
            csb_argv_add_args (before, "--ro-bind", resolved, path, NULL);
        }
      else
        csb_argv_add_args (before, "--ro-bind", path, path, NULL);
    }

  csb_layout_expose_host_programs (layout);
  csb_layout_append_bwrap_args (layout, now);
  g_assert_cmpuint (csb_argv_get_len (now), ==, csb_argv_get_len (before));
  for (guint i = 0; i < csb_argv_get_len (now); i++)
    g_assert_cmpstr (csb_argv_get (now, i), ==, csb_argv_get (before, i));
}

/* The home: a tmpfs over the real one, only the listed files of it, each from
 * where it resolves (a symlinked dotfile shows its target; nothing else of the
 * folder it lives in); gh's only with the token. */
static void
test_private_home (void)
{
  g_autofree char *root = g_dir_make_tmp ("csb-layout-XXXXXX", NULL);
  g_autofree char *home = g_build_filename (root, "home", NULL);
  g_autofree char *ssh = g_build_filename (home, ".ssh", NULL);
  g_autofree char *config = g_build_filename (home, ".config", NULL);
  g_autofree char *gh = g_build_filename (config, "gh", NULL);
  g_autofree char *dotfiles = g_build_filename (root, "dotfiles", NULL);
  g_autofree char *gitconfig = g_build_filename (home, ".gitconfig", NULL);
  g_autofree char *ssh_config = g_build_filename (ssh, "config", NULL);
  g_autofree char *key = g_build_filename (ssh, "id_ed25519", NULL);
  g_autofree char *real_config = g_build_filename (dotfiles, "ssh_config", NULL);
  g_autofree char *other = g_build_filename (dotfiles, "other", NULL);
  g_autofree char *expected = NULL;
  g_autofree char *args = NULL;
  g_autofree char *gh_source = NULL;

  g_assert_nonnull (root);
  g_assert_cmpint (g_mkdir_with_parents (ssh, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (gh, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (dotfiles, 0700), ==, 0);
  g_assert_true (g_file_set_contents (gitconfig, "[user]\n", -1, NULL));
  g_assert_true (g_file_set_contents (key, "private", -1, NULL));
  g_assert_true (g_file_set_contents (real_config, "Host *\n", -1, NULL));
  g_assert_true (g_file_set_contents (other, "other", -1, NULL));
  g_assert_cmpint (symlink (real_config, ssh_config), ==, 0);

  {
    g_autoptr(CsbLayout) layout = csb_layout_new ();

    csb_layout_private_home (layout, home, FALSE);
    expected = g_strdup_printf ("--perms 0700 --tmpfs %s --ro-bind %s %s --ro-bind %s %s", home,
                                gitconfig, gitconfig, real_config, ssh_config);
    args = args_string (layout);
    g_assert_cmpstr (args, ==, expected);
    assert_access (layout, home, CSB_LAYOUT_PRIVATE, NULL);
    assert_access (layout, key, CSB_LAYOUT_PRIVATE, NULL);
    assert_access (layout, gh, CSB_LAYOUT_PRIVATE, NULL);
    assert_access (layout, gitconfig, CSB_LAYOUT_HOST_RO, gitconfig);
    assert_access (layout, ssh_config, CSB_LAYOUT_HOST_RO, real_config);
    assert_access (layout, other, CSB_LAYOUT_HIDDEN, NULL);
  }
  {
    g_autoptr(CsbLayout) layout = csb_layout_new ();

    csb_layout_private_home (layout, home, TRUE);
    g_assert_cmpint (csb_layout_get_access (layout, gh, &gh_source), ==, CSB_LAYOUT_HOST_RO);
    g_assert_cmpstr (gh_source, ==, gh);
  }

  g_unlink (ssh_config);
  g_unlink (key);
  g_unlink (gitconfig);
  g_unlink (real_config);
  g_unlink (other);
  g_rmdir (gh);
  g_rmdir (config);
  g_rmdir (ssh);
  g_rmdir (home);
  g_rmdir (dotfiles);
  g_rmdir (root);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/layout/order", test_order);
  g_test_add_func ("/layout/host-links", test_host_links);
  g_test_add_func ("/layout/host-system", test_host_system);
  g_test_add_func ("/layout/host-system-unchanged", test_host_system_unchanged);
  g_test_add_func ("/layout/private-home", test_private_home);
  return g_test_run ();
}
