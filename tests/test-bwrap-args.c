/* test-bwrap-args.c — what csb_bwrap_build_args asks bwrap for, without running it.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define G_SETTINGS_ENABLE_BACKEND
#include <gio/gsettingsbackend.h>

#include "csb-backend.h"
#include "csb-bwrap-backend.h"
#include "csb-test-utils.h"

#define TOKEN "ghp_unitTestToken0123456789abcdefABCDEF"

/* HOME is read once per process (g_get_home_dir caches it): one home for all tests. */
static CsbTestDirs dirs;

typedef struct
{
  GSettings      *settings;
  CsbSandboxSpec *spec;
  char           *project;
  char           *fake_bin;
  CsbArgv        *args;
} Fixture;

static GSettings *
new_settings (void)
{
  g_autoptr(GSettingsSchemaSource) source = NULL;
  g_autoptr(GSettingsSchema) schema = NULL;
  g_autoptr(GSettingsBackend) backend = g_memory_settings_backend_new ();
  g_autoptr(GError) error = NULL;

  source = g_settings_schema_source_new_from_directory (g_getenv ("GSETTINGS_SCHEMA_DIR"),
                                                        NULL, TRUE, &error);
  g_assert_no_error (error);
  schema = g_settings_schema_source_lookup (source, "org.example.ClaudeSandbox", FALSE);
  g_assert_nonnull (schema);
  return g_settings_new_full (schema, backend, NULL);
}

static void
fixture_setup (Fixture      *f,
               gconstpointer data)
{
  static guint counter;
  g_autofree char *id = g_strdup_printf ("%08x", ++counter);
  g_autofree char *path_env = NULL;

  f->settings = new_settings ();
  f->project = g_build_filename (dirs.home, "src", id, NULL);
  g_assert_cmpint (g_mkdir_with_parents (f->project, 0755), ==, 0);
  f->fake_bin = g_build_filename (dirs.root, "bin", id, NULL);
  g_assert_cmpint (g_mkdir_with_parents (f->fake_bin, 0755), ==, 0);
  path_env = g_strdup_printf ("PATH=%s:/nonexistent", f->fake_bin);

  f->spec = csb_sandbox_spec_new ();
  f->spec->id = g_strdup (id);
  f->spec->project_dir = g_strdup (f->project);
  f->spec->command = g_strsplit ("sh -c true", " ", -1);
  f->spec->options = csb_launch_options_new (f->settings);
  f->spec->state_dir = g_build_filename (dirs.state, "claude-sandbox", id, NULL);
  f->spec->runtime_dir = g_build_filename (dirs.runtime, "claude-sandbox", id, NULL);
  g_assert_cmpint (g_mkdir_with_parents (f->spec->state_dir, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (f->spec->runtime_dir, 0700), ==, 0);
  f->spec->environ = g_environ_setenv (NULL, "PATH", path_env + 5, TRUE);
  f->spec->environ = g_environ_setenv (f->spec->environ, "LANG", "de_DE.UTF-8", TRUE);
  f->spec->environ = g_environ_setenv (f->spec->environ, "NO_COLOR", "1", TRUE);
  f->spec->environ = g_environ_setenv (f->spec->environ, "CSB_NOT_ALLOWED", "leak", TRUE);
  f->spec->environ = g_environ_setenv (f->spec->environ, "SSH_AUTH_SOCK", "/tmp/agent", TRUE);
  f->spec->settings = g_object_ref (f->settings);
}

static void
fixture_teardown (Fixture      *f,
                  gconstpointer data)
{
  g_clear_pointer (&f->args, csb_argv_free);
  g_clear_pointer (&f->spec, csb_sandbox_spec_free);
  g_clear_object (&f->settings);
  g_free (f->project);
  g_free (f->fake_bin);
}

static void
build (Fixture *f)
{
  g_autoptr(GError) error = NULL;

  g_clear_pointer (&f->args, csb_argv_free);
  f->args = csb_bwrap_build_args (f->spec, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->args);
  for (guint i = 0; i < csb_argv_get_len (f->args); i++)
    g_test_message ("arg %u: %s", i, csb_argv_get (f->args, i));
}

/* The index of the first occurrence of the arguments @first… in a row, or -1. */
static int
find_seq_v (CsbArgv    *args,
            guint       start,
            const char *first,
            va_list     ap)
{
  g_autoptr(GPtrArray) seq = g_ptr_array_new ();
  const char *arg;
  guint len = csb_argv_get_len (args);

  g_ptr_array_add (seq, (gpointer) first);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (seq, (gpointer) arg);

  for (guint i = start; i + seq->len <= len; i++)
    {
      guint j;

      for (j = 0; j < seq->len; j++)
        if (g_strcmp0 (csb_argv_get (args, i + j), g_ptr_array_index (seq, j)) != 0)
          break;
      if (j == seq->len)
        return i;
    }
  return -1;
}

static int find_seq (CsbArgv *args, const char *first, ...) G_GNUC_NULL_TERMINATED;

static int
find_seq (CsbArgv    *args,
          const char *first,
          ...)
{
  va_list ap;
  int index;

  va_start (ap, first);
  index = find_seq_v (args, 0, first, ap);
  va_end (ap);
  return index;
}

/* The value of --setenv NAME, or NULL. */
/* The index of "@option FD @dest" (--bind-fd, --ro-bind-fd), or -1. */
static int
find_fd_bind (CsbArgv    *args,
              const char *option,
              const char *dest)
{
  for (guint i = 0; i + 2 < csb_argv_get_len (args); i++)
    if (g_str_equal (csb_argv_get (args, i), option) &&
        g_str_equal (csb_argv_get (args, i + 2), dest))
      return i;
  return -1;
}

/* What the fd of the "--…-fd FD DEST" at @index is open on, or NULL. */
static char *
fd_bind_source (CsbArgv *args,
                int      index)
{
  guint64 target;

  if (index < 0 ||
      !g_ascii_string_to_unsigned (csb_argv_get (args, index + 1), 10, 3, 1024, &target, NULL))
    return NULL;
  for (guint i = 0; i < args->target_fds->len; i++)
    if (g_array_index (args->target_fds, int, i) == (int) target)
      {
        g_autofree char *link = g_strdup_printf ("/proc/self/fd/%d",
                                                 g_array_index (args->source_fds, int, i));
        return g_file_read_link (link, NULL);
      }
  return NULL;
}

static const char *
setenv_value (CsbArgv    *args,
              const char *name)
{
  int i = find_seq (args, "--setenv", name, NULL);

  return i < 0 ? NULL : csb_argv_get (args, i + 2);
}

static gboolean
args_mention (CsbArgv    *args,
              const char *needle)
{
  g_autoptr(GBytes) data = csb_argv_to_nul_data (args);
  gsize len;
  const char *bytes = g_bytes_get_data (data, &len);

  return len > 0 && memmem (bytes, len, needle, strlen (needle)) != NULL;
}

static void
test_namespaces (Fixture      *f,
                 gconstpointer data)
{
  f->spec->options->network = FALSE;
  build (f);

  g_assert_cmpint (find_seq (f->args, "--unshare-all", NULL), >=, 0);
  /* Unprivileged, bwrap leaves the sandbox no capabilities anyway; root must drop them. */
  if (getuid () == 0)
    g_assert_cmpint (find_seq (f->args, "--cap-drop", "ALL", NULL), >=, 0);
  g_assert_cmpint (find_seq (f->args, "--hostname", "claude-sandbox", NULL), >=, 0);
  g_assert_false (csb_argv_contains (f->args, "--share-net"));
  /* Sandboxes outlive a restarted service, and keep job control. */
  g_assert_false (csb_argv_contains (f->args, "--die-with-parent"));
  g_assert_false (csb_argv_contains (f->args, "--new-session"));
  /* No access to the host's devices or its whole file system. */
  g_assert_cmpint (find_seq (f->args, "--dev-bind", "/", "/", NULL), ==, -1);
  g_assert_cmpint (find_seq (f->args, "--bind", "/", "/", NULL), ==, -1);
  g_assert_cmpint (find_seq (f->args, "--ro-bind", "/", "/", NULL), ==, -1);
  g_assert_cmpint (find_seq (f->args, "--dev-bind", "/dev", "/dev", NULL), ==, -1);
  g_assert_cmpint (find_seq (f->args, "--proc", "/proc", NULL), >=, 0);
}

static void
test_network_on (Fixture      *f,
                 gconstpointer data)
{
  f->spec->options->network = TRUE;
  build (f);

  /* A network namespace of its own (the monitor gives it a user-mode stack), never
   * the host's: that would bring its loopback and abstract sockets. */
  g_assert_false (csb_argv_contains (f->args, "--share-net"));
  g_assert_cmpint (find_seq (f->args, "--unshare-all", NULL), >=, 0);
  g_assert_cmpint (find_seq (f->args, "--tmpfs", "/sys/class/net", NULL), >=, 0);
}

static void
test_usr_read_only (Fixture      *f,
                    gconstpointer data)
{
  build (f);

  g_assert_cmpint (find_seq (f->args, "--ro-bind", "/usr", "/usr", NULL), >=, 0);
  g_assert_cmpint (find_seq (f->args, "--bind", "/usr", "/usr", NULL), ==, -1);
  g_assert_cmpint (find_seq (f->args, "--ro-bind", "/etc", "/etc", NULL), ==, -1);
  g_assert_cmpint (find_seq (f->args, "--bind", "/etc", "/etc", NULL), ==, -1);
  /* Only what programs need of /etc: no shadow, no sudoers. */
  g_assert_false (args_mention (f->args, "/etc/shadow"));
  g_assert_false (args_mention (f->args, "/etc/sudoers"));
  /* passwd is ours, not the host's. */
  g_assert_cmpint (find_seq (f->args, "--ro-bind", "/etc/passwd", "/etc/passwd", NULL), ==, -1);
  g_assert_cmpint (find_seq (f->args, "--tmpfs", "/tmp", NULL), >=, 0);
}

static void
test_project (Fixture      *f,
              gconstpointer data)
{
  int bind, chdir_at, home_tmpfs;

  build (f);

  /* Bound from a descriptor of the folder as validated (--bind-fd FD PATH), not by a
   * path that could lead elsewhere by the time bwrap mounts it. */
  bind = find_fd_bind (f->args, "--bind-fd", f->project);
  g_assert_cmpint (bind, >=, 0);
  {
    g_autofree char *where = fd_bind_source (f->args, bind);

    g_assert_cmpstr (where, ==, f->project);
  }
  g_assert_cmpint (find_seq (f->args, "--bind", f->project, f->project, NULL), ==, -1);
  chdir_at = find_seq (f->args, "--chdir", f->project, NULL);
  home_tmpfs = find_seq (f->args, "--tmpfs", dirs.home, NULL);
  g_assert_cmpint (bind, >=, 0);
  g_assert_cmpint (chdir_at, >, bind);
  /* The project sits inside home here: bound after home's tmpfs, or it would vanish. */
  g_assert_cmpint (home_tmpfs, >=, 0);
  g_assert_cmpint (bind, >, home_tmpfs);
  g_assert_cmpint (find_seq (f->args, "--ro-bind", f->project, f->project, NULL), ==, -1);
}

/* The folder was validated as a real folder; if, by the time the sandbox is set up,
 * its path leads elsewhere (swapped for a symlink to /etc), the launch fails. */
static void
test_project_swapped (Fixture      *f,
                      gconstpointer data)
{
  g_autofree char *moved = g_strconcat (f->project, "-moved", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbArgv) args = NULL;

  g_assert_cmpint (rename (f->project, moved), ==, 0);
  g_assert_cmpint (symlink ("/etc", f->project), ==, 0);
  args = csb_bwrap_build_args (f->spec, &error);
  g_assert_null (args);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "changed"));
  g_assert_cmpint (unlink (f->project), ==, 0);
  g_assert_cmpint (rename (moved, f->project), ==, 0);
}

static void
test_home (Fixture      *f,
           gconstpointer data)
{
  g_autofree char *key = g_build_filename (dirs.home, ".ssh", "id_ed25519", NULL);
  g_autofree char *known_hosts = g_build_filename (dirs.home, ".ssh", "known_hosts", NULL);
  g_autofree char *gitconfig = g_build_filename (dirs.home, ".gitconfig", NULL);
  g_autofree char *secret = g_build_filename (dirs.home, "Documents", "secret.txt", NULL);
  g_autofree char *claude_dir = g_build_filename (dirs.home, ".claude", NULL);
  g_autofree char *claude_settings = g_build_filename (claude_dir, "settings.json", NULL);
  g_autofree char *claude_commands = g_build_filename (claude_dir, "commands", NULL);
  g_autofree char *claude_agents = g_build_filename (claude_dir, "agents", NULL);
  g_autofree char *claude_rules = g_build_filename (claude_dir, "rules", NULL);
  g_autofree char *claude_planted = g_build_filename (claude_dir, "settings-x.json", NULL);
  g_autofree char *claude_json = g_build_filename (dirs.home, ".claude.json", NULL);
  g_autofree char *claude_home = NULL;
  g_autofree char *where = NULL;
  g_autofree char *gh_config = g_build_filename (dirs.home, ".config", "gh", "hosts.yml", NULL);
  g_autofree char *gh_dir = g_build_filename (dirs.home, ".config", "gh", NULL);
  int tmpfs, claude_bind, settings_ro, json_bind;

  csb_test_write_file (key, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0600);
  csb_test_write_file (known_hosts, "github.com ssh-ed25519 AAAA\n", 0644);
  csb_test_write_file (gitconfig, "[user]\n\tname = Test\n", 0644);
  csb_test_write_file (secret, "secret\n", 0600);
  csb_test_write_file (gh_config, "github.com:\n", 0600);
  csb_test_write_file (claude_settings, "{}\n", 0600);
  g_assert_cmpint (g_mkdir_with_parents (claude_commands, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (claude_rules, 0700), ==, 0);
  /* Links in the user's ~/.claude, as sandboxes could plant them before: not followed. */
  unlink (claude_agents);
  unlink (claude_planted);
  g_assert_cmpint (symlink (dirs.root, claude_agents), ==, 0);
  g_assert_cmpint (symlink ("../../..", claude_planted), ==, 0);
  build (f);
  claude_home = g_build_filename (dirs.state, "claude-sandbox", "claude-home", NULL);

  tmpfs = find_seq (f->args, "--tmpfs", dirs.home, NULL);
  g_assert_cmpint (tmpfs, >=, 0);
  g_assert_cmpint (find_seq (f->args, "--perms", "0700", "--tmpfs", dirs.home, NULL), >=, 0);
  g_assert_false (args_mention (f->args, key));
  g_assert_false (args_mention (f->args, "id_ed25519"));
  g_assert_false (args_mention (f->args, secret));
  g_assert_cmpint (find_seq (f->args, "--ro-bind", known_hosts, known_hosts, NULL), >, tmpfs);
  g_assert_cmpint (find_seq (f->args, "--ro-bind", gitconfig, gitconfig, NULL), >, tmpfs);
  /* gh's config only with gh-token. */
  g_assert_false (args_mention (f->args, gh_dir));

  /* ~/.claude is the project's Claude home, from a descriptor; the user's ~/.claude is
   * never bound by path, and only the fixed entries of it read-only, after. */
  g_assert_cmpint (find_seq (f->args, "--bind", claude_dir, claude_dir, NULL), ==, -1);
  g_assert_cmpint (find_seq (f->args, "--ro-bind", claude_dir, NULL), ==, -1);
  claude_bind = find_fd_bind (f->args, "--bind-fd", claude_dir);
  g_assert_cmpint (claude_bind, >, tmpfs);
  where = fd_bind_source (f->args, claude_bind);
  g_assert_nonnull (where);
  g_assert_true (g_str_has_prefix (where, claude_home));
  g_assert_true (g_str_has_suffix (where, "/.claude"));
  g_clear_pointer (&where, g_free);
  settings_ro = find_fd_bind (f->args, "--ro-bind-fd", claude_settings);
  g_assert_cmpint (settings_ro, >, claude_bind);
  where = fd_bind_source (f->args, settings_ro);
  g_assert_cmpstr (where, ==, claude_settings);
  g_clear_pointer (&where, g_free);
  g_assert_cmpint (find_fd_bind (f->args, "--ro-bind-fd", claude_commands), >, claude_bind);
  g_assert_cmpint (find_fd_bind (f->args, "--ro-bind-fd", claude_rules), >, claude_bind);
  g_assert_cmpint (find_fd_bind (f->args, "--ro-bind-fd", claude_agents), ==, -1);
  g_assert_false (args_mention (f->args, claude_planted));
  /* ~/.claude.json: a link into the home's folder, bound from a descriptor. */
  g_assert_cmpint (find_seq (f->args, "--symlink", "/run/claude-sandbox/.claude.json",
                             claude_json, NULL), >, tmpfs);
  json_bind = find_fd_bind (f->args, "--bind-fd", "/run/claude-sandbox");
  g_assert_cmpint (json_bind, >, tmpfs);
  where = fd_bind_source (f->args, json_bind);
  g_assert_nonnull (where);
  g_assert_true (g_str_has_prefix (where, claude_home));
  /* The service made nothing in the user's ~/.claude. */
  {
    g_autofree char *hooks = g_build_filename (claude_dir, "hooks", NULL);
    g_autofree char *memory = g_build_filename (claude_dir, "CLAUDE.md", NULL);

    g_assert_false (g_file_test (hooks, G_FILE_TEST_EXISTS));
    g_assert_false (g_file_test (memory, G_FILE_TEST_EXISTS));
  }
}

static void
test_environment (Fixture      *f,
                  gconstpointer data)
{
  int clearenv;

  g_hash_table_insert (f->spec->options->env, g_strdup ("MY_OPTION"), g_strdup ("value 1"));
  build (f);

  clearenv = find_seq (f->args, "--clearenv", NULL);
  g_assert_cmpint (clearenv, >=, 0);
  for (guint i = 0; i < csb_argv_get_len (f->args); i++)
    if (g_str_equal (csb_argv_get (f->args, i), "--setenv"))
      g_assert_cmpint (i, >, clearenv);

  /* Allowlisted variables pass, others do not. */
  g_assert_cmpstr (setenv_value (f->args, "LANG"), ==, "de_DE.UTF-8");
  g_assert_cmpstr (setenv_value (f->args, "NO_COLOR"), ==, "1");
  g_assert_null (setenv_value (f->args, "CSB_NOT_ALLOWED"));
  g_assert_false (args_mention (f->args, "leak"));
  g_assert_null (setenv_value (f->args, "SSH_AUTH_SOCK"));
  g_assert_null (setenv_value (f->args, "DBUS_SESSION_BUS_ADDRESS"));
  /* Ours. */
  g_assert_cmpstr (setenv_value (f->args, "HOME"), ==, dirs.home);
  g_assert_cmpstr (setenv_value (f->args, "IS_SANDBOX"), ==, "1");
  g_assert_cmpstr (setenv_value (f->args, "CLAUDE_SANDBOX_ID"), ==, f->spec->id);
  g_assert_cmpstr (setenv_value (f->args, "TERM"), ==, "dumb");
  g_assert_nonnull (setenv_value (f->args, "PATH"));
  g_assert_cmpstr (setenv_value (f->args, "MY_OPTION"), ==, "value 1");
  g_assert_null (setenv_value (f->args, "GH_TOKEN"));
}

static void
test_gh_token_off (Fixture      *f,
                   gconstpointer data)
{
  f->spec->environ = g_environ_setenv (f->spec->environ, "GH_TOKEN", TOKEN, TRUE);
  f->spec->environ = g_environ_setenv (f->spec->environ, "GITHUB_TOKEN", TOKEN, TRUE);
  f->spec->options->gh_token = FALSE;
  build (f);

  g_assert_null (setenv_value (f->args, "GH_TOKEN"));
  g_assert_null (setenv_value (f->args, "GITHUB_TOKEN"));
  g_assert_false (args_mention (f->args, TOKEN));
}

static void
test_gh_token_on (Fixture      *f,
                  gconstpointer data)
{
  g_autofree char *gh_dir = g_build_filename (dirs.home, ".config", "gh", NULL);
  g_autofree char *gh_config = g_build_filename (gh_dir, "hosts.yml", NULL);
  g_autoptr(GBytes) data_bytes = NULL;

  csb_test_write_file (gh_config, "github.com:\n", 0600);
  f->spec->environ = g_environ_setenv (f->spec->environ, "GH_TOKEN", TOKEN, TRUE);
  f->spec->options->gh_token = TRUE;
  build (f);

  g_assert_cmpstr (setenv_value (f->args, "GH_TOKEN"), ==, TOKEN);
  g_assert_cmpstr (setenv_value (f->args, "GITHUB_TOKEN"), ==, TOKEN);
  g_assert_cmpint (find_seq (f->args, "--ro-bind", gh_dir, gh_dir, NULL), >=, 0);
  /* The token goes to bwrap only as --args data, which is what the memfd holds. */
  data_bytes = csb_argv_to_nul_data (f->args);
  g_assert_nonnull (memmem (g_bytes_get_data (data_bytes, NULL), g_bytes_get_size (data_bytes),
                            TOKEN, strlen (TOKEN)));
  /* Nothing in the command (bwrap's own argv) carries it. */
  for (guint i = 0; f->spec->command[i] != NULL; i++)
    g_assert_null (strstr (f->spec->command[i], TOKEN));
}

static void
test_gh_token_github_token (Fixture      *f,
                            gconstpointer data)
{
  f->spec->environ = g_environ_setenv (f->spec->environ, "GITHUB_TOKEN", TOKEN, TRUE);
  f->spec->options->gh_token = TRUE;
  build (f);

  g_assert_cmpstr (setenv_value (f->args, "GH_TOKEN"), ==, TOKEN);
}

static void
test_gh_token_missing (Fixture      *f,
                       gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbArgv) args = NULL;

  if (g_find_program_in_path ("gh") != NULL)
    {
      g_test_skip ("gh is installed here: 'gh auth token' may find a real token");
      return;
    }
  f->spec->options->gh_token = TRUE;
  args = csb_bwrap_build_args (f->spec, &error);
  g_assert_null (args);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "no GitHub token"));
}

static void
test_binds (Fixture      *f,
            gconstpointer data)
{
  g_autofree char *ro = g_build_filename (dirs.root, "ro-data", NULL);
  g_autofree char *rw = g_build_filename (dirs.root, "rw-data", NULL);
  g_autofree char *rw_link = g_build_filename (dirs.root, "rw-link", NULL);

  g_assert_cmpint (g_mkdir_with_parents (ro, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (rw, 0755), ==, 0);
  unlink (rw_link);
  g_assert_cmpint (symlink (rw, rw_link), ==, 0);
  g_ptr_array_add (f->spec->options->ro_binds, g_strdup (ro));
  g_ptr_array_add (f->spec->options->rw_binds, g_strdup (rw_link));
  build (f);

  g_assert_cmpint (find_seq (f->args, "--ro-bind", ro, ro, NULL), >=, 0);
  /* Resolved on the host, seen at the path asked for. */
  g_assert_cmpint (find_seq (f->args, "--bind", rw, rw_link, NULL), >=, 0);
}

static void
test_binds_refused (Fixture      *f,
                    gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbArgv) args = NULL;

  g_ptr_array_add (f->spec->options->rw_binds, g_strdup (dirs.home));
  args = csb_bwrap_build_args (f->spec, &error);
  g_assert_null (args);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "home folder"));
}

static void
test_claude_on_path (Fixture      *f,
                     gconstpointer data)
{
  g_autofree char *claude = g_build_filename (f->fake_bin, "claude", NULL);
  g_autofree char *expected_path = NULL;

  csb_test_write_file (claude, "#!/bin/sh\necho fake\n", 0755);
  g_strfreev (f->spec->command);
  f->spec->command = g_strsplit ("claude --version", " ", -1);
  build (f);

  g_assert_cmpint (find_seq (f->args, "--ro-bind", claude, claude, NULL), >=, 0);
  expected_path = g_strconcat (f->fake_bin, ":", NULL);
  g_assert_true (g_str_has_prefix (setenv_value (f->args, "PATH"), expected_path));
}

static void
test_claude_npm_prefix (Fixture      *f,
                        gconstpointer data)
{
  g_autofree char *prefix = g_build_filename (dirs.root, "npm-prefix", f->spec->id, NULL);
  g_autofree char *package = g_build_filename (prefix, "lib", "node_modules", "@anthropic-ai",
                                               "claude-code", NULL);
  g_autofree char *package_json = g_build_filename (package, "package.json", NULL);
  g_autofree char *cli = g_build_filename (package, "cli.js", NULL);
  g_autofree char *bin_dir = g_build_filename (prefix, "bin", NULL);
  g_autofree char *link = g_build_filename (bin_dir, "claude", NULL);
  g_autofree char *npmrc = g_build_filename (dirs.home, ".npmrc", NULL);
  g_autofree char *npmrc_text = g_strdup_printf ("fund=false\nprefix = %s\n", prefix);
  const char *link_target = "../lib/node_modules/@anthropic-ai/claude-code/cli.js";

  csb_test_write_file (package_json, "{\"name\": \"@anthropic-ai/claude-code\"}\n", 0644);
  csb_test_write_file (cli, "#!/usr/bin/env node\n", 0755);
  g_assert_cmpint (g_mkdir_with_parents (bin_dir, 0755), ==, 0);
  g_assert_cmpint (symlink (link_target, link), ==, 0);
  csb_test_write_file (npmrc, npmrc_text, 0644);

  g_strfreev (f->spec->command);
  f->spec->command = g_strsplit ("claude", " ", -1);
  build (f);
  unlink (npmrc);

  /* The whole package, read-only, and the bin link recreated as it is. */
  g_assert_cmpint (find_seq (f->args, "--ro-bind", package, package, NULL), >=, 0);
  g_assert_cmpint (find_seq (f->args, "--symlink", link_target, link, NULL), >=, 0);
  g_assert_true (g_str_has_prefix (setenv_value (f->args, "PATH"), bin_dir));
}

/* Claude Code's "local" install (~/.claude/local/claude, a wrapper of the package
 * beside it): the whole folder read-only, over the project's Claude home. */
static void
test_claude_local (Fixture      *f,
                   gconstpointer data)
{
  g_autofree char *local = g_build_filename (dirs.home, ".claude", "local", NULL);
  g_autofree char *wrapper = g_build_filename (local, "claude", NULL);
  g_autofree char *cli = g_build_filename (local, "node_modules", ".bin", "claude", NULL);
  g_autofree char *claude_dir = g_build_filename (dirs.home, ".claude", NULL);
  int home_bind, local_bind;

  csb_test_write_file (wrapper, "#!/bin/sh\nexec \"$HOME/.claude/local/node_modules/.bin/claude\" "
                       "\"$@\"\n", 0755);
  csb_test_write_file (cli, "#!/bin/sh\necho local\n", 0755);
  g_strfreev (f->spec->command);
  f->spec->command = g_strsplit ("claude", " ", -1);
  build (f);
  csb_test_rm_rf (local);

  home_bind = find_fd_bind (f->args, "--bind-fd", claude_dir);
  local_bind = find_seq (f->args, "--ro-bind", local, local, NULL);
  g_assert_cmpint (home_bind, >=, 0);
  g_assert_cmpint (local_bind, >, home_bind);
}

static void
test_claude_not_found (Fixture      *f,
                       gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbArgv) args = NULL;

  if (g_file_test ("/usr/local/bin/claude", G_FILE_TEST_EXISTS) ||
      g_file_test ("/usr/bin/claude", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("claude is installed system-wide here; it cannot be missing");
      return;
    }
  g_strfreev (f->spec->command);
  f->spec->command = g_strsplit ("claude", " ", -1);
  args = csb_bwrap_build_args (f->spec, &error);
  g_assert_null (args);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "npm install -g --prefix ~/.local/share/claude-sandbox/npm @anthropic-ai/claude-code"));

  /* A claude-path setting that points nowhere says so. */
  g_clear_error (&error);
  g_settings_set_string (f->settings, "claude-path", "/nonexistent/claude");
  args = csb_bwrap_build_args (f->spec, &error);
  g_assert_null (args);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "/nonexistent/claude"));
}

int
main (int   argc,
      char *argv[])
{
  int status;

  csb_test_init_environment ();
  csb_test_dirs_init (&dirs);
  csb_test_dirs_apply (&dirs);
  /* gh, if installed, must not hand a real token to the tests. */
  g_setenv ("PATH", "/nonexistent", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpstr (g_get_home_dir (), ==, dirs.home);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/bwrap/args/namespaces", test_namespaces);
  ADD ("/bwrap/args/network-on", test_network_on);
  ADD ("/bwrap/args/usr-read-only", test_usr_read_only);
  ADD ("/bwrap/args/project", test_project);
  ADD ("/bwrap/args/project-swapped", test_project_swapped);
  ADD ("/bwrap/args/home", test_home);
  ADD ("/bwrap/args/environment", test_environment);
  ADD ("/bwrap/args/gh-token/off", test_gh_token_off);
  ADD ("/bwrap/args/gh-token/on", test_gh_token_on);
  ADD ("/bwrap/args/gh-token/github-token", test_gh_token_github_token);
  ADD ("/bwrap/args/gh-token/missing", test_gh_token_missing);
  ADD ("/bwrap/args/binds", test_binds);
  ADD ("/bwrap/args/binds-refused", test_binds_refused);
  ADD ("/bwrap/args/claude/on-path", test_claude_on_path);
  ADD ("/bwrap/args/claude/npm-prefix", test_claude_npm_prefix);
  ADD ("/bwrap/args/claude/local", test_claude_local);
  ADD ("/bwrap/args/claude/not-found", test_claude_not_found);
#undef ADD

  status = g_test_run ();
  csb_test_dirs_clear (&dirs);
  return status;
}
