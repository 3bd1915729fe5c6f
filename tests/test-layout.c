/* test-layout.c — the sandbox's layout on its own, as flatpak's test-exports.c
 * tests FlatpakExports: what is visible where and how, which host links stay links,
 * the order of mounts, and the bwrap arguments it becomes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "csb-error.h"
#include "csb-guest-stage.h"
#include "csb-init-protect.h"
#include "csb-layout.h"
#include "csb-plan-writer.h"
#include "csb-project-guard.h"
#include "csb-protections.h"
#include "csb-review.h"
#include "csb-test-utils.h"

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
  g_autoptr(CsbLayout) layout = csb_layout_new ();
  g_autoptr(CsbArgv) before = csb_argv_new ();
  g_autoptr(CsbArgv) now = csb_argv_new ();
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);

  csb_argv_add_args (before, "--ro-bind", "/usr", "/usr", NULL);
  for (guint i = 0; csb_layout_usr_links[i] != NULL; i++)
    g_ptr_array_add (paths, g_strdup (csb_layout_usr_links[i]));
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

/* The host's programs without /etc (the VM's part: its /etc comes in the
 * initramfs): read-only binds and links only, which the VM's translator takes as
 * shares and links, and the same binds as csb_layout_expose_host_programs(). */
static gboolean
count_usr_entry (CsbLayoutKind   kind,
                 const char     *source,
                 const char     *dest,
                 guint           mode,
                 gpointer        user_data,
                 GError        **error)
{
  guint *n = user_data;

  g_assert_true (kind == CSB_LAYOUT_BIND_RO || kind == CSB_LAYOUT_SYMLINK);
  g_assert_false (g_str_has_prefix (dest, "/etc"));
  (*n)++;
  return TRUE;
}

static void
test_host_usr (void)
{
  g_autoptr(CsbLayout) layout = csb_layout_new ();
  g_autoptr(GPtrArray) protections = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  guint n = 0;

  csb_layout_expose_host_usr (layout);
  assert_access (layout, "/usr/bin/sh", CSB_LAYOUT_HOST_RO, "/usr/bin/sh");
  assert_access (layout, "/etc", CSB_LAYOUT_HIDDEN, NULL);
  assert_access (layout, "/etc/os-release", CSB_LAYOUT_HIDDEN, NULL);
  if (g_file_test ("/bin/sh", G_FILE_TEST_EXISTS))
    g_assert_cmpint (csb_layout_get_access (layout, "/bin/sh", NULL), ==, CSB_LAYOUT_HOST_RO);
  g_assert_true (csb_layout_foreach (layout, count_usr_entry, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, >=, 1);
  csb_layout_add_protections (layout, protections);
  g_assert_cmpuint (protections->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (protections, 0), ==, "usr-ro");
}

static void
listen_unix (const char *path,
             int        *out_fd)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };

  g_assert_cmpuint (strlen (path), <, sizeof addr.sun_path);
  strcpy (addr.sun_path, path);
  *out_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (*out_fd, >=, 0);
  g_assert_cmpint (bind (*out_fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
}

/* The session's sockets: each at its one place in the sandbox's runtime folder,
 * with the variable that names it, only where the session has a socket there (a
 * file, a missing path or a relative SSH_AUTH_SOCK give nothing); bwrap's
 * translation binds it and sets the variable, the container's sets it in its
 * environment. */
static void
test_sockets (void)
{
  g_autofree char *root = g_dir_make_tmp ("csb-layout-XXXXXX", NULL);
  g_autofree char *pipewire = g_build_filename (root, "pipewire-0", NULL);
  g_autofree char *pulse_dir = g_build_filename (root, "pulse", NULL);
  g_autofree char *pulse = g_build_filename (pulse_dir, "native", NULL);
  g_autofree char *agent = g_build_filename (root, "agent.sock", NULL);
  g_autofree char *runtime_env = g_strconcat ("XDG_RUNTIME_DIR=", root, NULL);
  g_autofree char *agent_env = g_strconcat ("SSH_AUTH_SOCK=", agent, NULL);
  const char *environ_[] = { runtime_env, agent_env, NULL };
  const char *file_environ[] = { runtime_env, "SSH_AUTH_SOCK=agent.sock", NULL };
  g_autoptr(GHashTable) env = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(CsbArgv) args = csb_argv_new ();
  g_autoptr(GString) joined = g_string_new (NULL);
  g_autoptr(CsbLayout) layout = csb_layout_new ();
  g_autoptr(CsbLayout) none = csb_layout_new ();
  g_autofree char *expected = NULL;
  int fds[3];

  g_assert_nonnull (root);
  g_assert_cmpint (g_mkdir (pulse_dir, 0700), ==, 0);
  listen_unix (pipewire, &fds[0]);
  listen_unix (agent, &fds[2]);
  /* PulseAudio's is a plain file here: not given. */
  csb_test_write_file (pulse, "", 0600);

  csb_layout_session_audio (layout, environ_, "/run/user/1000");
  g_assert_true (csb_layout_ssh_agent (layout, environ_, "/run/user/1000"));
  assert_access (layout, "/run/user/1000/pipewire-0", CSB_LAYOUT_HOST_RW, pipewire);
  assert_access (layout, "/run/user/1000/ssh-agent", CSB_LAYOUT_HOST_RW, agent);
  assert_access (layout, "/run/user/1000/pulse/native", CSB_LAYOUT_HIDDEN, NULL);
  csb_layout_add_environment (layout, env);
  g_assert_cmpuint (g_hash_table_size (env), ==, 1);
  g_assert_cmpstr (g_hash_table_lookup (env, "SSH_AUTH_SOCK"), ==, "/run/user/1000/ssh-agent");
  csb_layout_append_bwrap_args (layout, args);
  for (guint i = 0; i < csb_argv_get_len (args); i++)
    g_string_append_printf (joined, "%s ", csb_argv_get (args, i));
  expected = g_strdup_printf ("--ro-bind %s /run/user/1000/pipewire-0 --ro-bind %s "
                              "/run/user/1000/ssh-agent --setenv SSH_AUTH_SOCK "
                              "/run/user/1000/ssh-agent ", pipewire, agent);
  g_assert_cmpstr (joined->str, ==, expected);

  /* Now a socket: given, with the variable that names it. */
  g_assert_cmpint (unlink (pulse), ==, 0);
  listen_unix (pulse, &fds[1]);
  g_hash_table_remove_all (env);
  csb_layout_session_audio (none, environ_, "/run/user/1000");
  g_assert_false (csb_layout_ssh_agent (none, file_environ, "/run/user/1000"));
  assert_access (none, "/run/user/1000/pulse/native", CSB_LAYOUT_HOST_RW, pulse);
  assert_access (none, "/run/user/1000/ssh-agent", CSB_LAYOUT_HIDDEN, NULL);
  csb_layout_add_environment (none, env);
  g_assert_cmpstr (g_hash_table_lookup (env, "PULSE_SERVER"), ==,
                   "unix:/run/user/1000/pulse/native");

  /* Wayland: the session's socket by its name, WAYLAND_DISPLAY inside, and the
   * protection it gives only when given. */
  {
    g_autoptr(CsbLayout) wayland = csb_layout_new ();
    g_autoptr(CsbLayout) missing = csb_layout_new ();
    g_autoptr(GPtrArray) protections = g_ptr_array_new_with_free_func (g_free);
    g_autofree char *named = csb_layout_session_socket_path (environ_, "pipewire-0");
    g_autofree char *absolute = csb_layout_session_socket_path (environ_, agent);
    g_autofree char *absent = csb_layout_session_socket_path (environ_, "wayland-9");

    g_assert_cmpstr (named, ==, pipewire);
    g_assert_cmpstr (absolute, ==, agent);
    g_assert_null (csb_layout_session_socket_path (environ_, NULL));
    g_assert_null (csb_layout_session_socket_path (environ_, ""));
    g_assert_true (csb_layout_wayland (wayland, named, "/run/user/1000", "wayland-unrestricted"));
    assert_access (wayland, "/run/user/1000/wayland-0", CSB_LAYOUT_HOST_RW, pipewire);
    g_hash_table_remove_all (env);
    csb_layout_add_environment (wayland, env);
    g_assert_cmpstr (g_hash_table_lookup (env, "WAYLAND_DISPLAY"), ==, "wayland-0");
    csb_layout_add_protections (wayland, protections);
    g_assert_cmpuint (protections->len, ==, 1);
    g_assert_cmpstr (g_ptr_array_index (protections, 0), ==, "wayland-unrestricted");
    g_ptr_array_set_size (protections, 0);
    g_assert_false (csb_layout_wayland (missing, absent, "/run/user/1000",
                                        "wayland-unrestricted"));
    csb_layout_add_protections (missing, protections);
    g_assert_cmpuint (protections->len, ==, 0);
    assert_access (missing, "/run/user/1000/wayland-0", CSB_LAYOUT_HIDDEN, NULL);
  }

  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    close (fds[i]);
  unlink (pipewire);
  unlink (pulse);
  unlink (agent);
  g_rmdir (pulse_dir);
  g_rmdir (root);
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

/* ---- the project's protection -------------------------------------------------- */

/* A project with what the guard protects: git's config, hooks and (made by the
 * guard) commondir; the project's .claude with settings, other files, a folder and
 * a link; a nested .claude; and a link planted where git's config of a nested
 * repository goes. */
static char *
make_project (void)
{
  g_autofree char *dir = g_dir_make_tmp ("csb-layout-project-XXXXXX", NULL);
  const char * const files[] = {
    ".git/HEAD", ".git/config", ".git/hooks/pre-commit", ".claude/settings.json",
    ".claude/settings.local.json", ".claude/notes.md", ".claude/agents/a.md",
    "sub/.claude/settings.json", "sub/.claude/other.md", "inner/.git/HEAD", "src/main.c", NULL
  };

  g_assert_nonnull (dir);
  for (guint i = 0; files[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dir, files[i], NULL);

      csb_test_write_file (path, files[i], 0644);
    }
  {
    g_autofree char *link = g_build_filename (dir, ".claude", "to-agents", NULL);
    g_autofree char *planted = g_build_filename (dir, "inner", ".git", "config", NULL);

    g_assert_cmpint (symlink ("agents", link), ==, 0);
    g_assert_cmpint (symlink ("/etc/shadow", planted), ==, 0);
  }
  return g_steal_pointer (&dir);
}

static CsbLayout *
protect_project (const char *project,
                 GPtrArray **out_plants)
{
  g_autoptr(GPtrArray) plants = g_ptr_array_new_with_free_func ((GDestroyNotify) csb_plant_free);
  g_autoptr(GPtrArray) entries = NULL;
  CsbLayout *layout = csb_layout_new ();
  int fd = open (project, O_PATH | O_DIRECTORY | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  entries = csb_project_guard_collect (fd, plants);
  close (fd);
  csb_layout_protect_project (layout, project, entries);
  /* The layout took the descriptors: nothing of them is left to leak or reuse. */
  for (guint i = 0; i < entries->len; i++)
    g_assert_cmpint (((CsbGuardEntry *) g_ptr_array_index (entries, i))->fd, ==, -1);
  if (out_plants != NULL)
    *out_plants = g_steal_pointer (&plants);
  return layout;
}

/* What is at each path inside: settings and git's files the host's, read-only;
 * new files in .claude the sandbox's own; everything else of .claude the host's,
 * writable; the planted link not bound. */
static void
test_project_access (void)
{
  g_autofree char *project = make_project ();
  g_autoptr(GPtrArray) plants = NULL;
  g_autoptr(CsbLayout) layout = protect_project (project, &plants);
  g_autoptr(GPtrArray) protections = g_ptr_array_new_with_free_func (g_free);
  const struct
  {
    const char      *path;
    CsbLayoutAccess  access;
    const char      *source;   /* relative to the project; NULL: none */
  } expected[] = {
    { ".git/config", CSB_LAYOUT_HOST_RO, ".git/config" },
    { ".git/commondir", CSB_LAYOUT_HOST_RO, ".git/commondir" },
    { ".git/hooks", CSB_LAYOUT_HOST_RO, ".git/hooks" },
    { ".git/hooks/post-checkout", CSB_LAYOUT_HOST_RO, ".git/hooks/post-checkout" },
    { ".git/HEAD", CSB_LAYOUT_HOST_RW, ".git/HEAD" },
    { ".git", CSB_LAYOUT_HOST_RW, ".git" },
    { ".claude", CSB_LAYOUT_PRIVATE, NULL },
    { ".claude/settings.json", CSB_LAYOUT_HOST_RO, ".claude/settings.json" },
    { ".claude/settings.local.json", CSB_LAYOUT_HOST_RO, ".claude/settings.local.json" },
    { ".claude/hooks", CSB_LAYOUT_PRIVATE, NULL },
    { ".claude/new-settings.json", CSB_LAYOUT_PRIVATE, NULL },
    { ".claude/notes.md", CSB_LAYOUT_HOST_RW, ".claude/notes.md" },
    { ".claude/agents/a.md", CSB_LAYOUT_HOST_RW, ".claude/agents/a.md" },
    { ".claude/to-agents/a.md", CSB_LAYOUT_HOST_RW, ".claude/agents/a.md" },
    { "sub/.claude/settings.json", CSB_LAYOUT_HOST_RO, "sub/.claude/settings.json" },
    { "sub/.claude/settings.local.json", CSB_LAYOUT_HOST_RW, "sub/.claude/settings.local.json" },
    { "sub/.claude/other.md", CSB_LAYOUT_HOST_RW, "sub/.claude/other.md" },
    { "inner/.git/config", CSB_LAYOUT_HOST_RW, "inner/.git/config" },
    /* The project itself is the backends' (bound from its own descriptor). */
    { "src/main.c", CSB_LAYOUT_HIDDEN, NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_autofree char *path = g_build_filename (project, expected[i].path, NULL);
      g_autofree char *source = expected[i].source != NULL
        ? g_build_filename (project, expected[i].source, NULL) : NULL;

      assert_access (layout, path, expected[i].access, source);
    }
  {
    gboolean planted = FALSE;

    for (guint i = 0; i < plants->len; i++)
      planted |= g_str_equal (((CsbPlant *) g_ptr_array_index (plants, i))->path,
                              "inner/.git/config");
    g_assert_true (planted);
  }

  csb_layout_add_protections (layout, protections);
  g_ptr_array_add (protections, NULL);
  {
    const char * const names[] = { "project-claude-settings-ro", "git-config-ro", NULL };

    g_assert_cmpstrv ((const char * const *) protections->pdata, names);
  }
  csb_test_rm_rf (project);
}

/* A plan entry as text, for plan_string(). */
static int
plan_entry_text (void           *data,
                 CsbPlanKeyword  keyword,
                 char          **args)
{
  const char * const *state = data;
  GString *text = (GString *) state[0];

  g_string_append (text, csb_plan_keyword_word (keyword));
  for (int i = 0; i < csb_plan_keyword_n_args (keyword); i++)
    g_string_append_printf (text, " %s", g_str_equal (args[i], state[1]) ? "P" : args[i]);
  g_string_append_c (text, '\n');
  return 0;
}

static void
plan_error (const char *fmt,
            ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, fmt);
  message = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_error ("the plan does not read: %s", message);
}

/* The plan's words, one entry a line ("protect P .git/config ro f"), the project's
 * path shown as P: read as the inits read it (csb-plan.c), which take only these
 * keywords from the layout. */
static char *
plan_string (CsbLayout  *layout,
             const char *project)
{
  static CsbPlan plan;
  static const CsbPlanHandler handlers[CSB_PLAN_N_KEYWORDS] = {
    [CSB_PLAN_PROTECT] = plan_entry_text,
    [CSB_PLAN_PROTECT_TMPFS] = plan_entry_text,
    [CSB_PLAN_PROTECT_LINK] = plan_entry_text,
  };
  g_autoptr(GByteArray) bytes = g_byte_array_new ();
  g_autoptr(GString) text = g_string_new (NULL);
  const void *state[] = { text, project };

  csb_layout_append_init_plan (layout, bytes, 1234, 5678);
  g_byte_array_append (bytes, (const guint8 *) "", 1);
  csb_plan_parse (&plan, (char *) bytes->data, bytes->len - 1);
  g_assert_cmpint (csb_plan_run (&plan, handlers, state, plan_error), ==, 0);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* The two translators of one layout: bwrap's arguments and the inits' plan hold
 * the same mounts, in the same order, from descriptors (bwrap) or opened again
 * below the project (the inits). */
static void
test_project_translators (void)
{
  g_autofree char *project = make_project ();
  g_autoptr(CsbLayout) layout = protect_project (project, NULL);
  g_autofree char *plan = plan_string (layout, project);
  g_autoptr(CsbArgv) args = csb_argv_new ();
  g_auto(GStrv) lines = NULL;
  guint line = 0;

  g_test_message ("plan:\n%s", plan);
  g_assert_nonnull (strstr (plan, "protect-tmpfs P .claude 1234 5678\n"
                                  "protect P .claude/agents rw d\n"));
  g_assert_nonnull (strstr (plan, "protect P .claude/settings.json ro f\n"));
  g_assert_nonnull (strstr (plan, "protect-link P .claude/to-agents agents\n"));
  g_assert_nonnull (strstr (plan, "protect P .git rw d\n"));
  g_assert_nonnull (strstr (plan, "protect P .git/commondir ro f\n"));
  g_assert_nonnull (strstr (plan, "protect P .git/config ro f\n"));
  g_assert_nonnull (strstr (plan, "protect P .git/hooks ro d\n"));
  g_assert_nonnull (strstr (plan, "protect P sub/.claude/settings.json ro f\n"));
  g_assert_null (strstr (plan, "inner/.git/config"));

  csb_layout_append_bwrap_args (layout, args);
  lines = g_strsplit (plan, "\n", -1);
  for (guint i = 0; i < csb_argv_get_len (args); line++)
    {
      const char *option = csb_argv_get (args, i);
      g_auto(GStrv) words = NULL;
      g_autofree char *dest = NULL;
      const char *expected = NULL;
      guint n = 3;

      g_assert_nonnull (lines[line]);
      words = g_strsplit (lines[line], " ", -1);
      dest = g_build_filename (project, words[2], NULL);
      if (g_str_equal (words[0], "protect"))
        expected = g_str_equal (words[3], "ro") ? "--ro-bind-fd" : "--bind-fd";
      else if (g_str_equal (words[0], "protect-tmpfs"))
        expected = "--tmpfs", n = 2;
      else if (g_str_equal (words[0], "protect-link"))
        expected = "--symlink";
      g_assert_cmpstr (option, ==, expected);
      if (g_str_equal (option, "--symlink"))
        g_assert_cmpstr (csb_argv_get (args, i + 1), ==, words[3]);
      g_assert_cmpstr (csb_argv_get (args, i + n - 1), ==, dest);
      i += n;
    }
  g_assert_cmpstr (lines[line], ==, "");
  csb_test_rm_rf (project);
}

/* A project without any of it: nothing protected, no protection claimed; the
 * project's .claude (not there yet) still a tmpfs, which the inits make. */
static void
test_project_bare (void)
{
  g_autofree char *project = g_dir_make_tmp ("csb-layout-bare-XXXXXX", NULL);
  g_autoptr(CsbLayout) layout = protect_project (project, NULL);
  g_autofree char *plan = plan_string (layout, project);
  g_autofree char *claude = g_build_filename (project, ".claude", "settings.json", NULL);
  g_autoptr(GPtrArray) protections = g_ptr_array_new_with_free_func (g_free);

  g_assert_cmpstr (plan, ==, "protect-tmpfs P .claude 1234 5678\n");
  assert_access (layout, claude, CSB_LAYOUT_PRIVATE, NULL);
  csb_layout_add_protections (layout, protections);
  g_assert_cmpuint (protections->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (protections, 0), ==, "project-claude-settings-ro");
  csb_test_rm_rf (project);
}

/* ---- the project folder and the Claude home: each backend's translation ------ */

/* The layout's entries as a path backend's translator sees them (csb_layout_foreach),
 * one a line ("bind-rw SOURCE DEST"), each of @from (in pairs, NULL-terminated)
 * shown as its name. */
static gboolean
record_entry (CsbLayoutKind   kind,
              const char     *source,
              const char     *dest,
              guint           mode,
              gpointer        user_data,
              GError        **error)
{
  static const char * const names[] = {
    [CSB_LAYOUT_BIND_RO] = "bind-ro", [CSB_LAYOUT_BIND_RW] = "bind-rw",
    [CSB_LAYOUT_TMPFS] = "tmpfs", [CSB_LAYOUT_DIR] = "dir", [CSB_LAYOUT_SYMLINK] = "symlink",
    [CSB_LAYOUT_SOCKET] = "socket", [CSB_LAYOUT_OVERLAY] = "overlay",
  };

  g_string_append_printf (user_data, "%s %s %s\n", names[kind], source ? source : "-", dest);
  return TRUE;
}

static char *
replace_all (char               *text,
             const char * const *from)
{
  for (guint i = 0; from[i] != NULL; i += 2)
    {
      g_auto(GStrv) parts = g_strsplit (text, from[i], -1);

      g_free (text);
      text = g_strjoinv (from[i + 1], parts);
    }
  return text;
}

static char *
foreach_string (CsbLayout          *layout,
                const char * const *from)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (csb_layout_foreach (layout, record_entry, text, &error));
  g_assert_no_error (error);
  return replace_all (g_string_free (g_steal_pointer (&text), FALSE), from);
}

/* The bwrap arguments with each descriptor shown as FD (after checking that it is
 * one of the arguments' descriptors) and each of @from as its name. */
static char *
fd_args_string (CsbLayout          *layout,
                const char * const *from)
{
  g_autoptr(CsbArgv) args = csb_argv_new ();
  g_autoptr(GString) text = g_string_new (NULL);

  csb_layout_append_bwrap_args (layout, args);
  for (guint i = 0; i < csb_argv_get_len (args); i++)
    {
      const char *arg = csb_argv_get (args, i);

      if (i > 0)
        g_string_append_c (text, ' ');
      if (i > 0 && g_str_has_suffix (csb_argv_get (args, i - 1), "bind-fd"))
        {
          g_assert_cmpint (atoi (arg), >=, 3);
          arg = "FD";
        }
      g_string_append (text, arg);
    }
  return replace_all (g_string_free (g_steal_pointer (&text), FALSE), from);
}

static GPtrArray *
layout_protections (CsbLayout *layout)
{
  GPtrArray *protections = g_ptr_array_new_with_free_func (g_free);

  csb_layout_add_protections (layout, protections);
  g_ptr_array_add (protections, NULL);
  return protections;
}

/* The project folder read-write at its own path from its checked descriptor, its
 * protection over it: bwrap binds the descriptor, the path backends its path (and
 * the inits the protected entries, as /layout/project/translators shows). */
static void
test_project_folder (void)
{
  g_autofree char *project = make_project ();
  g_autofree char *main_c = g_build_filename (project, "src", "main.c", NULL);
  g_autofree char *config = g_build_filename (project, ".git", "config", NULL);
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(CsbLayout) layout = csb_layout_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) protections = NULL;
  g_autofree char *args = NULL;
  g_autofree char *paths = NULL;
  const char * const from[] = { project, "P", NULL };
  int fd = open (project, O_PATH | O_DIRECTORY | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  entries = csb_project_guard_collect (fd, NULL);
  close (fd);
  g_assert_true (csb_layout_project (layout, project, entries, &error));
  g_assert_no_error (error);

  assert_access (layout, project, CSB_LAYOUT_HOST_RW, project);
  assert_access (layout, main_c, CSB_LAYOUT_HOST_RW, main_c);
  assert_access (layout, config, CSB_LAYOUT_HOST_RO, config);
  protections = layout_protections (layout);
  {
    const char * const names[] = { "project-claude-settings-ro", "git-config-ro", NULL };

    g_assert_cmpstrv ((const char * const *) protections->pdata, names);
  }

  args = fd_args_string (layout, from);
  g_test_message ("bwrap: %s", args);
  g_assert_true (g_str_has_prefix (args, "--bind-fd FD P --tmpfs P/.claude "));
  g_assert_nonnull (strstr (args, " --ro-bind-fd FD P/.git/config"));
  g_assert_nonnull (strstr (args, " --bind-fd FD P/.git "));
  /* A path backend binds the folder by its path; the protected entries are the
   * inits' (the plan), never bound by path. */
  paths = foreach_string (layout, from);
  g_assert_cmpstr (paths, ==, "bind-rw P P\n");
  csb_test_rm_rf (project);
}

/* A project folder whose path leads elsewhere by the time the sandbox is set up
 * (swapped for a link to /etc): no layout, in any backend. */
static void
test_project_swapped (void)
{
  g_autofree char *project = make_project ();
  g_autofree char *moved = g_strconcat (project, "-moved", NULL);
  g_autoptr(CsbLayout) layout = csb_layout_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *args = NULL;
  const char * const none[] = { NULL };

  g_assert_cmpint (rename (project, moved), ==, 0);
  g_assert_cmpint (symlink ("/etc", project), ==, 0);
  g_assert_false (csb_layout_project (layout, project, NULL, &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "changed"));
  g_clear_error (&error);
  g_assert_false (csb_layout_project_review (layout, project, moved, &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
  args = fd_args_string (layout, none);
  g_assert_cmpstr (args, ==, "");
  g_assert_cmpint (unlink (project), ==, 0);
  csb_test_rm_rf (moved);
}

/* Review mode: the project's files the host's, which the sandbox reads but never
 * changes (its writes go to its layer); the stage of the two layers gone once the
 * overlay is mounted; the review folder made with the project's mode. bwrap binds
 * both from descriptors below the stage, the path backends by path, then the
 * overlay at the project's path. */
static void
test_project_review (void)
{
  g_autofree char *project = make_project ();
  g_autofree char *state = g_dir_make_tmp ("csb-layout-state-XXXXXX", NULL);
  g_autofree char *review = g_build_filename (state, "review", NULL);
  g_autofree char *upper = g_build_filename (review, "upper", NULL);
  g_autofree char *main_c = g_build_filename (project, "src", "main.c", NULL);
  g_autofree char *config = g_build_filename (project, ".git", "config", NULL);
  g_autoptr(CsbLayout) layout = csb_layout_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) protections = NULL;
  g_autofree char *args = NULL;
  g_autofree char *paths = NULL;
  g_autofree char *plan = NULL;
  const char * const from[] = { review, "R", project, "P", NULL };
  struct stat st;

  g_assert_cmpint (chmod (project, 0750), ==, 0);
  g_assert_true (csb_layout_project_review (layout, project, state, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stat (upper, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0750);

  assert_access (layout, project, CSB_LAYOUT_HOST_RO, project);
  assert_access (layout, main_c, CSB_LAYOUT_HOST_RO, main_c);
  assert_access (layout, config, CSB_LAYOUT_HOST_RO, config);
  assert_access (layout, CSB_REVIEW_STAGE "/lower/src", CSB_LAYOUT_HIDDEN, NULL);
  assert_access (layout, CSB_REVIEW_STAGE "/rw/upper", CSB_LAYOUT_HIDDEN, NULL);
  protections = layout_protections (layout);
  {
    const char * const names[] = { "project-review", NULL };

    g_assert_cmpstrv ((const char * const *) protections->pdata, names);
  }

  args = fd_args_string (layout, from);
  g_assert_cmpstr (args, ==,
                   "--ro-bind-fd FD " CSB_REVIEW_STAGE "/lower "
                   "--bind-fd FD " CSB_REVIEW_STAGE "/rw --dir P");
  paths = foreach_string (layout, from);
  g_assert_cmpstr (paths, ==,
                   "bind-ro P " CSB_REVIEW_STAGE "/lower\n"
                   "bind-rw R " CSB_REVIEW_STAGE "/rw\n"
                   "overlay " CSB_REVIEW_STAGE " P\n");
  /* Nothing of the project for the inits to protect: nothing is bound writable. */
  plan = plan_string (layout, project);
  g_assert_cmpstr (plan, ==, "");
  csb_test_rm_rf (project);
  csb_test_rm_rf (state);
}

/* A Claude home as csb_claude_home_prepare() opens one, in @root: the home's two
 * folders and the user's ~/.claude (in @home) with a settings file and a
 * commands folder, each opened O_PATH. */
static CsbClaudeHome *
make_claude_home (const char *root,
                  const char *home)
{
  CsbClaudeHome *claude_home = g_new0 (CsbClaudeHome, 1);
  const char * const names[] = { "settings.json", "commands", NULL };
  g_autofree char *command = g_build_filename (home, ".claude", "commands", "c.md", NULL);
  g_autofree char *settings = g_build_filename (home, ".claude", "settings.json", NULL);
  g_autofree char *login = NULL;

  claude_home->root = g_build_filename (root, "claude-home", "key", NULL);
  claude_home->claude_dir = g_build_filename (claude_home->root, ".claude", NULL);
  claude_home->json_dir = g_build_filename (claude_home->root, "json", NULL);
  login = g_build_filename (claude_home->json_dir, ".claude.json", NULL);
  csb_test_write_file (login, "{}", 0600);
  g_assert_cmpint (g_mkdir_with_parents (claude_home->claude_dir, 0700), ==, 0);
  csb_test_write_file (settings, "{\"model\": \"x\"}", 0600);
  csb_test_write_file (command, "# c", 0600);
  claude_home->claude_fd = open (claude_home->claude_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  claude_home->json_fd = open (claude_home->json_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (claude_home->claude_fd, >=, 0);
  g_assert_cmpint (claude_home->json_fd, >=, 0);
  claude_home->user_entries = g_ptr_array_new ();
  for (guint i = 0; names[i] != NULL; i++)
    {
      CsbClaudeUserEntry *entry = g_new0 (CsbClaudeUserEntry, 1);
      g_autofree char *path = g_build_filename (home, ".claude", names[i], NULL);

      entry->name = g_strdup (names[i]);
      entry->is_dir = g_str_equal (names[i], "commands");
      entry->fd = open (path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      g_assert_cmpint (entry->fd, >=, 0);
      g_ptr_array_add (claude_home->user_entries, entry);
    }
  return claude_home;
}

static void
free_claude_home (CsbClaudeHome *claude_home)
{
  for (guint i = 0; i < claude_home->user_entries->len; i++)
    {
      CsbClaudeUserEntry *entry = g_ptr_array_index (claude_home->user_entries, i);

      close (entry->fd);
      g_free (entry->name);
      g_free (entry);
    }
  g_ptr_array_unref (claude_home->user_entries);
  close (claude_home->claude_fd);
  close (claude_home->json_fd);
  g_free (claude_home->root);
  g_free (claude_home->claude_dir);
  g_free (claude_home->json_dir);
  g_free (claude_home);
}

/* The project's Claude home at ~/.claude, the user's own entries read-only over it,
 * ~/.claude.json a link into the json folder: for bwrap all from descriptors (a
 * path backend gets none of them: only descriptors may bind the user's entries);
 * for the path backends the home's folders by path and the user's entries as
 * copies. */
static void
test_claude_home (void)
{
  g_autofree char *root = g_dir_make_tmp ("csb-layout-claude-XXXXXX", NULL);
  g_autofree char *home = g_build_filename (root, "home", NULL);
  g_autofree char *staged = g_build_filename (root, "staged", NULL);
  CsbClaudeHome *claude_home = make_claude_home (root, home);
  g_autofree char *claude_dir = g_build_filename (home, ".claude", NULL);
  g_autofree char *settings = g_build_filename (claude_dir, "settings.json", NULL);
  g_autofree char *command = g_build_filename (claude_dir, "commands", "c.md", NULL);
  g_autofree char *history = g_build_filename (claude_dir, "history.jsonl", NULL);
  g_autofree char *history_source = g_build_filename (claude_home->claude_dir,
                                                      "history.jsonl", NULL);
  g_autofree char *json = g_build_filename (home, ".claude.json", NULL);
  g_autofree char *json_source = g_build_filename (claude_home->json_dir, ".claude.json", NULL);
  const char * const from[] = {
    claude_home->root, "C", staged, "S", home, "H", CSB_CLAUDE_HOME_JSON_INSIDE, "J", NULL
  };

  {
    g_autoptr(CsbLayout) layout = csb_layout_new ();
    g_autoptr(GPtrArray) protections = NULL;
    g_autoptr(GString) text = g_string_new (NULL);
    g_autoptr(GError) error = NULL;
    g_autofree char *args = NULL;
    const char * const names[] = { "claude-home", "claude-config-ro", NULL };

    g_assert_true (csb_layout_claude_home (layout, home, claude_home, NULL, &error));
    g_assert_no_error (error);
    assert_access (layout, history, CSB_LAYOUT_HOST_RW, history_source);
    assert_access (layout, settings, CSB_LAYOUT_HOST_RO, settings);
    assert_access (layout, command, CSB_LAYOUT_HOST_RO, command);
    assert_access (layout, json, CSB_LAYOUT_HOST_RW, json_source);
    protections = layout_protections (layout);
    g_assert_cmpstrv ((const char * const *) protections->pdata, names);
    g_assert_false (csb_layout_foreach (layout, record_entry, text, &error));
    g_assert_error (error, CSB_ERROR, CSB_ERROR_FAILED);
    args = fd_args_string (layout, from);
    g_assert_cmpstr (args, ==,
                     "--bind-fd FD H/.claude --ro-bind-fd FD H/.claude/settings.json "
                     "--ro-bind-fd FD H/.claude/commands --bind-fd FD J "
                     "--symlink J/.claude.json H/.claude.json");
  }
  {
    g_autoptr(CsbLayout) layout = csb_layout_new ();
    g_autoptr(GError) error = NULL;
    g_autofree char *paths = NULL;
    g_autofree char *copy = g_build_filename (staged, "commands", "c.md", NULL);
    g_autofree char *contents = NULL;

    g_assert_true (csb_layout_claude_home (layout, home, claude_home, staged, &error));
    g_assert_no_error (error);
    paths = foreach_string (layout, from);
    g_assert_cmpstr (paths, ==,
                     "bind-rw C/.claude H/.claude\n"
                     "bind-ro S/settings.json H/.claude/settings.json\n"
                     "bind-ro S/commands H/.claude/commands\n"
                     "bind-rw C/json J\n"
                     "symlink J/.claude.json H/.claude.json\n");
    g_assert_true (g_file_get_contents (copy, &contents, NULL, NULL));
    g_assert_cmpstr (contents, ==, "# c");
    assert_access (layout, command, CSB_LAYOUT_HOST_RO, copy);
  }
  free_claude_home (claude_home);
  csb_test_rm_rf (root);
}

/* The user's extra folders: each at its own path from where it resolves (a link to
 * a folder shows the folder), read-only ones first; a refused one (the home, the
 * root) names the option and stops the layout. */
static void
test_user_binds (void)
{
  g_autofree char *root = g_dir_make_tmp ("csb-layout-binds-XXXXXX", NULL);
  g_autofree char *home = g_build_filename (root, "home", NULL);
  g_autofree char *data = g_build_filename (root, "data", NULL);
  g_autofree char *cache = g_build_filename (root, "cache", NULL);
  g_autofree char *link = g_build_filename (root, "to-data", NULL);
  g_autofree char *file = g_build_filename (data, "f", NULL);
  g_autofree char *file_by_link = g_build_filename (link, "f", NULL);
  g_autoptr(GPtrArray) ro = g_ptr_array_new ();
  g_autoptr(GPtrArray) rw = g_ptr_array_new ();
  const char * const from[] = { root, "T", NULL };

  g_assert_cmpint (g_mkdir_with_parents (home, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (cache, 0700), ==, 0);
  csb_test_write_file (file, "f", 0644);
  g_assert_cmpint (symlink (data, link), ==, 0);
  g_ptr_array_add (ro, link);
  g_ptr_array_add (rw, cache);
  {
    g_autoptr(CsbLayout) layout = csb_layout_new ();
    g_autoptr(GError) error = NULL;
    g_autofree char *args = NULL;
    g_autofree char *paths = NULL;

    g_assert_true (csb_layout_user_binds (layout, ro, rw, home, &error));
    g_assert_no_error (error);
    assert_access (layout, file_by_link, CSB_LAYOUT_HOST_RO, file);
    assert_access (layout, cache, CSB_LAYOUT_HOST_RW, cache);
    assert_access (layout, data, CSB_LAYOUT_HIDDEN, NULL);
    args = fd_args_string (layout, from);
    g_assert_cmpstr (args, ==, "--ro-bind T/data T/to-data --bind T/cache T/cache");
    paths = foreach_string (layout, from);
    g_assert_cmpstr (paths, ==, "bind-ro T/data T/to-data\nbind-rw T/cache T/cache\n");
  }
  {
    g_autoptr(CsbLayout) layout = csb_layout_new ();
    g_autoptr(GError) error = NULL;

    g_ptr_array_add (rw, root);
    g_assert_false (csb_layout_user_binds (layout, ro, rw, home, &error));
    g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "rw-binds"));
  }
  csb_test_rm_rf (root);
}

/* ---- the inits' side, in a mount namespace of the test's own ------------------- */

static gboolean
write_proc (const char *file,
            const char *text)
{
  int fd = open (file, O_WRONLY | O_CLOEXEC);
  gboolean ok = fd >= 0 && write (fd, text, strlen (text)) == (ssize_t) strlen (text);

  if (fd >= 0)
    close (fd);
  return ok;
}

/* Writes @path in place (as a program inside would; g_file_set_contents() renames
 * over it, which a mount point refuses). */
static gboolean
write_in_place (const char *path,
                const char *text)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  gboolean ok = fd >= 0 && write (fd, text, strlen (text)) == (ssize_t) strlen (text);

  if (fd >= 0)
    close (fd);
  return ok;
}

/* In a child: a mount namespace (with a user namespace when not root), then the
 * plan's protect entries applied by csb-init-protect.c, then the writes a sandbox
 * would try. Exit status: 0 when all held, 77 when no namespace could be made,
 * else the number of the check that failed. */
static int
apply_and_attack (const char *project,
                  const char *plan)
{
  g_auto(GStrv) lines = g_strsplit (plan, "\n", -1);
  uid_t uid = getuid ();
  gid_t gid = getgid ();
  g_autofree char *map_uid = g_strdup_printf ("%u %u 1\n", uid, uid);
  g_autofree char *map_gid = g_strdup_printf ("%u %u 1\n", gid, gid);
  int check = 0;

  if (uid != 0)
    {
      if (unshare (CLONE_NEWUSER | CLONE_NEWNS) != 0)
        return 77;
      if (!write_proc ("/proc/self/setgroups", "deny") ||
          !write_proc ("/proc/self/uid_map", map_uid) || !write_proc ("/proc/self/gid_map", map_gid))
        return 77;
    }
  else if (unshare (CLONE_NEWNS) != 0)
    return 77;
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    return 77;

  for (guint i = 0; lines[i] != NULL && *lines[i] != '\0'; i++)
    {
      g_auto(GStrv) w = g_strsplit (lines[i], " ", -1);
      int ret = -1;

      if (g_str_equal (w[0], "protect"))
        ret = csb_init_protect (project, w[2], g_str_equal (w[3], "ro"), g_str_equal (w[4], "d"));
      else if (g_str_equal (w[0], "protect-tmpfs"))
        ret = csb_init_protect_tmpfs (project, w[2], uid, gid);
      else if (g_str_equal (w[0], "protect-link"))
        ret = csb_init_protect_link (project, w[2], w[3]);
      if (ret != 0)
        {
          g_printerr ("%s: %s\n", lines[i], g_strerror (errno));
          return 100 + i;
        }
    }

#define CHECK(cond) G_STMT_START { check++; if (!(cond)) { g_printerr ("check %d: %s\n", check, #cond); return check; } } G_STMT_END
  {
    g_autofree char *settings = g_build_filename (project, ".claude", "settings.json", NULL);
    g_autofree char *new_settings = g_build_filename (project, ".claude", "settings.x.json", NULL);
    g_autofree char *notes = g_build_filename (project, ".claude", "notes.md", NULL);
    g_autofree char *agent = g_build_filename (project, ".claude", "to-agents", "b.md", NULL);
    g_autofree char *config = g_build_filename (project, ".git", "config", NULL);
    g_autofree char *commondir = g_build_filename (project, ".git", "commondir", NULL);
    g_autofree char *hook = g_build_filename (project, ".git", "hooks", "post-checkout", NULL);
    g_autofree char *nested = g_build_filename (project, "sub", ".claude", "settings.json", NULL);
    g_autofree char *claude = g_build_filename (project, ".claude", NULL);
    g_autofree char *moved = g_build_filename (project, "moved", NULL);
    g_autofree char *git = g_build_filename (project, ".git", NULL);

    CHECK (!write_in_place (settings, "x"));
    CHECK (!write_in_place (config, "x"));
    CHECK (!write_in_place (commondir, "x"));
    CHECK (!write_in_place (hook, "x"));
    CHECK (!write_in_place (nested, "x"));
    CHECK (open (settings, O_WRONLY) < 0 && errno == EROFS);
    CHECK (write_in_place (new_settings, "planted"));
    CHECK (write_in_place (notes, "kept"));
    CHECK (write_in_place (agent, "kept"));
    CHECK (rename (claude, moved) != 0 && errno == EBUSY);
    CHECK (rename (git, moved) != 0 && errno == EBUSY);
  }
#undef CHECK
  return 0;
}

static void
test_project_init_applies (void)
{
  g_autofree char *project = make_project ();
  g_autoptr(CsbLayout) layout = protect_project (project, NULL);
  g_autofree char *plan = plan_string (layout, project);
  g_autofree char *new_settings = g_build_filename (project, ".claude", "settings.x.json", NULL);
  g_autofree char *notes = g_build_filename (project, ".claude", "notes.md", NULL);
  g_autofree char *agent = g_build_filename (project, ".claude", "agents", "b.md", NULL);
  g_autofree char *settings = g_build_filename (project, ".claude", "settings.json", NULL);
  g_autofree char *contents = NULL;
  int status;
  pid_t pid;

  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    _exit (apply_and_attack (project, plan));
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  if (WEXITSTATUS (status) == 77)
    {
      g_test_skip ("no mount namespace can be made here (unprivileged user namespaces off?)");
      csb_test_rm_rf (project);
      return;
    }
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  /* On the host: the settings as they were, the new one never reached the folder,
   * the writes to the rest of .claude did. */
  g_assert_false (g_file_test (new_settings, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_get_contents (settings, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, ".claude/settings.json");
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (notes, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "kept");
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (agent, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "kept");
  csb_test_rm_rf (project);
}

/* The writer and the inits' reader agree on every keyword's arguments: what
 * csb_plan_add() wrote reads back entry by entry, and every keyword has a name and
 * an argument count. */
static void
test_plan_words (void)
{
  static CsbPlan plan;
  static const CsbPlanHandler handlers[CSB_PLAN_N_KEYWORDS] = {
    [CSB_PLAN_UID] = plan_entry_text,
    [CSB_PLAN_WINSIZE] = plan_entry_text,
    [CSB_PLAN_ROOTDISK] = plan_entry_text,
    [CSB_PLAN_PROTECT] = plan_entry_text,
  };
  g_autoptr(GByteArray) bytes = g_byte_array_new ();
  g_autoptr(GString) text = g_string_new (NULL);
  const void *state[] = { text, "/p" };
  static const char expected[] = "uid\0" "1000\0" "rootdisk\0" "winsize\0" "80\0" "24\0"
                                 "protect\0" "/p\0" ".git\0" "rw\0" "d";

  csb_plan_add (bytes, CSB_PLAN_UID, "1000", NULL);
  csb_plan_add (bytes, CSB_PLAN_ROOTDISK, NULL);
  csb_plan_add (bytes, CSB_PLAN_WINSIZE, "80", "24", NULL);
  csb_plan_add (bytes, CSB_PLAN_PROTECT, "/p", ".git", "rw", "d", NULL);
  g_assert_cmpmem (bytes->data, bytes->len, expected, sizeof expected);
  csb_plan_parse (&plan, (char *) bytes->data, bytes->len);
  g_assert_cmpint (plan.n_words, ==, 11);
  g_assert_cmpint (csb_plan_run (&plan, handlers, state, plan_error), ==, 0);
  g_assert_cmpstr (text->str, ==, "uid 1000\nrootdisk\nwinsize 80 24\nprotect P .git rw d\n");

  for (int k = 0; k < CSB_PLAN_N_KEYWORDS; k++)
    {
      g_assert_nonnull (csb_plan_keyword_word (k));
      g_assert_cmpint (csb_plan_keyword_n_args (k), >=, 0);
    }
}

static const CsbPlanHandler winsize_only[CSB_PLAN_N_KEYWORDS] = {
  [CSB_PLAN_WINSIZE] = plan_entry_text,
};

/* An init without a handler of a keyword does not take it: the start fails with
 * what the init says (plan_error ends the subprocess with it). */
static void
test_plan_unknown (void)
{
  static CsbPlan plan;
  g_autoptr(GString) text = g_string_new (NULL);
  const void *state[] = { text, "/p" };

  if (g_test_subprocess ())
    {
      csb_plan_parse (&plan, (char *) "mkdir\0/x", sizeof "mkdir\0/x");
      csb_plan_run (&plan, winsize_only, state, plan_error);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*unknown plan entry 'mkdir'*");
}

/* An entry cut short stops the plan. */
static void
test_plan_truncated (void)
{
  static CsbPlan plan;
  g_autoptr(GString) text = g_string_new (NULL);
  const void *state[] = { text, "/p" };

  if (g_test_subprocess ())
    {
      csb_plan_parse (&plan, (char *) "winsize\0" "80", sizeof "winsize\0" "80");
      csb_plan_run (&plan, winsize_only, state, plan_error);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*truncated plan at 'winsize'*");
}

/* A writer's mistake (the wrong number of arguments) is a critical, and nothing is
 * written. */
static void
test_plan_writer_count (void)
{
  g_autoptr(GByteArray) bytes = g_byte_array_new ();

  if (g_test_subprocess ())
    {
      g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
      csb_plan_add (bytes, CSB_PLAN_UID, "1000", "1000", NULL);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*plan entry 'uid' given 2 arguments, it takes 1*");
}

/* A private display (csb_layout_private_display): its folder read-only at a path of
 * ours, $XDG_RUNTIME_DIR/wayland-0 a link to its socket, WAYLAND_DISPLAY, the
 * protection; bwrap's and the container's translations alike. */
static void
test_private_display (void)
{
  g_autoptr(CsbLayout) layout = csb_layout_new ();
  g_autoptr(GHashTable) env = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GPtrArray) protections = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(CsbArgv) args = csb_argv_new ();
  g_autoptr(GString) joined = g_string_new (NULL);

  csb_layout_private_display (layout, "/run/user/0/claude-sandbox/x/display", "/run/user/1000",
                              FALSE);
  assert_access (layout, CSB_LAYOUT_DISPLAY_INSIDE "/wayland-0", CSB_LAYOUT_HOST_RO,
                 "/run/user/0/claude-sandbox/x/display/wayland-0");
  assert_access (layout, "/run/user/1000/wayland-0", CSB_LAYOUT_HOST_RO,
                 "/run/user/0/claude-sandbox/x/display/wayland-0");
  csb_layout_add_environment (layout, env);
  g_assert_cmpstr (g_hash_table_lookup (env, "WAYLAND_DISPLAY"), ==, "wayland-0");
  csb_layout_add_protections (layout, protections);
  g_assert_cmpuint (protections->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (protections, 0), ==, "display-private");
  csb_layout_append_bwrap_args (layout, args);
  for (guint i = 0; i < csb_argv_get_len (args); i++)
    g_string_append_printf (joined, "%s ", csb_argv_get (args, i));
  g_assert_cmpstr (joined->str, ==,
                   "--ro-bind /run/user/0/claude-sandbox/x/display " CSB_LAYOUT_DISPLAY_INSIDE
                   " --setenv WAYLAND_DISPLAY wayland-0 --symlink " CSB_LAYOUT_DISPLAY_INSIDE
                   "/wayland-0 /run/user/1000/wayland-0 ");
  g_assert_null (g_hash_table_lookup (env, "DISPLAY"));

  /* With its Xwayland: /tmp/.X11-unix/X0 a link into the folder, DISPLAY=:0. */
  {
    g_autoptr(CsbLayout) x11 = csb_layout_new ();
    g_autoptr(CsbArgv) x11_args = csb_argv_new ();
    g_autoptr(GString) x11_joined = g_string_new (NULL);

    csb_layout_private_display (x11, "/d", "/run/user/1000", TRUE);
    csb_layout_add_environment (x11, env);
    g_assert_cmpstr (g_hash_table_lookup (env, "DISPLAY"), ==, ":0");
    csb_layout_append_bwrap_args (x11, x11_args);
    for (guint i = 0; i < csb_argv_get_len (x11_args); i++)
      g_string_append_printf (x11_joined, "%s ", csb_argv_get (x11_args, i));
    g_assert_nonnull (strstr (x11_joined->str, " --symlink " CSB_LAYOUT_DISPLAY_INSIDE
                              "/x11/X0 /tmp/.X11-unix/X0 --setenv DISPLAY :0 "));
  }
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
  g_test_add_func ("/layout/host-usr", test_host_usr);
  g_test_add_func ("/layout/private-home", test_private_home);
  g_test_add_func ("/layout/sockets", test_sockets);
  g_test_add_func ("/layout/private-display", test_private_display);
  g_test_add_func ("/layout/project/access", test_project_access);
  g_test_add_func ("/layout/project/translators", test_project_translators);
  g_test_add_func ("/layout/project/bare", test_project_bare);
  g_test_add_func ("/layout/project/init-applies", test_project_init_applies);
  g_test_add_func ("/layout/plan/words", test_plan_words);
  g_test_add_func ("/layout/plan/unknown", test_plan_unknown);
  g_test_add_func ("/layout/plan/truncated", test_plan_truncated);
  g_test_add_func ("/layout/plan/writer-count", test_plan_writer_count);
  g_test_add_func ("/layout/project/folder", test_project_folder);
  g_test_add_func ("/layout/project/swapped", test_project_swapped);
  g_test_add_func ("/layout/project/review", test_project_review);
  g_test_add_func ("/layout/claude-home", test_claude_home);
  g_test_add_func ("/layout/user-binds", test_user_binds);
  return g_test_run ();
}
