/* test-options.c — Launch's a{sv} options and the path checks.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#define G_SETTINGS_ENABLE_BACKEND
#include <gio/gsettingsbackend.h>
#include <glib-unix.h>

#include "csb-options.h"
#include "csb-test-utils.h"

typedef struct
{
  CsbTestDirs       dirs;
  GSettings        *settings;
  CsbLaunchOptions *opts;
} Fixture;

static GSettings *
new_settings (void)
{
  g_autoptr(GSettingsSchemaSource) source = NULL;
  g_autoptr(GSettingsSchema) schema = NULL;
  g_autoptr(GSettingsBackend) backend = g_memory_settings_backend_new ();
  g_autoptr(GError) error = NULL;
  const char *dir = g_getenv ("GSETTINGS_SCHEMA_DIR");

  g_assert_nonnull (dir);
  source = g_settings_schema_source_new_from_directory (dir, NULL, TRUE, &error);
  g_assert_no_error (error);
  schema = g_settings_schema_source_lookup (source, "org.example.ClaudeSandbox", FALSE);
  g_assert_nonnull (schema);
  return g_settings_new_full (schema, backend, NULL);
}

static void
fixture_setup (Fixture      *f,
               gconstpointer data)
{
  csb_test_dirs_init (&f->dirs);
  f->settings = new_settings ();
  f->opts = csb_launch_options_new (f->settings);
}

static void
fixture_teardown (Fixture      *f,
                  gconstpointer data)
{
  g_clear_pointer (&f->opts, csb_launch_options_free);
  g_clear_object (&f->settings);
  csb_test_dirs_clear (&f->dirs);
}

static gboolean
parse (Fixture     *f,
       GVariant    *options,
       GUnixFDList *fd_list,
       GError     **error)
{
  g_autoptr(GVariant) owned = g_variant_ref_sink (options);

  return csb_launch_options_parse (f->opts, owned, fd_list, error);
}

static gboolean
parse_text (Fixture    *f,
            const char *text,
            GError    **error)
{
  g_autoptr(GError) parse_error = NULL;
  /* A new (not floating) reference: parse() sinks, and so adds, one of its own. */
  g_autoptr(GVariant) options = g_variant_parse (G_VARIANT_TYPE_VARDICT, text, NULL, NULL,
                                                 &parse_error);

  g_assert_no_error (parse_error);
  return parse (f, options, NULL, error);
}

#define assert_invalid(error, substring) G_STMT_START {                         \
    g_assert_error ((error), CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);             \
    if (strstr ((error)->message, (substring)) == NULL)                         \
      g_error ("error '%s' does not mention '%s'", (error)->message, (substring)); \
  } G_STMT_END

static void
test_defaults (Fixture      *f,
               gconstpointer data)
{
  g_autoptr(CsbLaunchOptions) builtin = csb_launch_options_new (NULL);

  /* As the schema says, and as claude-code-nix-sandbox did: network on, token off. */
  g_assert_cmpstr (f->opts->backend, ==, "bwrap");
  g_assert_true (f->opts->network);
  g_assert_false (f->opts->gh_token);
  g_assert_false (f->opts->shell);
  g_assert_false (f->opts->display);
  g_assert_false (f->opts->has_stdio);
  g_assert_cmpint (f->opts->stdio_fds[0], ==, -1);
  g_assert_cmpuint (f->opts->ro_binds->len, ==, 0);

  g_assert_cmpstr (builtin->backend, ==, "bwrap");
  g_assert_true (builtin->network);
  g_assert_false (builtin->gh_token);

  /* Settings change the defaults; options then override them. */
  {
    g_autoptr(CsbLaunchOptions) changed = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) network_on = NULL;
    const char * const ro[] = { "/opt", NULL };

    g_settings_set_boolean (f->settings, "network", FALSE);
    g_settings_set_boolean (f->settings, "gh-token", TRUE);
    g_settings_set_strv (f->settings, "ro-binds", ro);
    changed = csb_launch_options_new (f->settings);
    g_assert_false (changed->network);
    g_assert_true (changed->gh_token);
    g_assert_cmpuint (changed->ro_binds->len, ==, 1);
    g_assert_cmpstr (g_ptr_array_index (changed->ro_binds, 0), ==, "/opt");
    network_on = g_variant_ref_sink (g_variant_new_parsed ("{'network': <true>}"));
    g_assert_true (csb_launch_options_parse (changed, network_on, NULL, &error));
    g_assert_no_error (error);
    g_assert_true (changed->network);
  }
}

static const char * const bool_keys[] = {
  "network", "gh-token", "shell", "display", "audio", "gpu", "ssh-agent", NULL
};

static gboolean *
bool_field (CsbLaunchOptions *opts,
            const char       *key)
{
  if (g_str_equal (key, "network"))
    return &opts->network;
  if (g_str_equal (key, "gh-token"))
    return &opts->gh_token;
  if (g_str_equal (key, "shell"))
    return &opts->shell;
  if (g_str_equal (key, "display"))
    return &opts->display;
  if (g_str_equal (key, "audio"))
    return &opts->audio;
  if (g_str_equal (key, "gpu"))
    return &opts->gpu;
  if (g_str_equal (key, "ssh-agent"))
    return &opts->ssh_agent;
  g_assert_not_reached ();
}

static void
test_booleans (Fixture      *f,
               gconstpointer data)
{
  for (guint i = 0; bool_keys[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(CsbLaunchOptions) opts = csb_launch_options_new (NULL);
      gboolean *field = bool_field (opts, bool_keys[i]);
      gboolean before = *field;
      GVariantBuilder builder;
      g_autoptr(GVariant) options = NULL;

      g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&builder, "{sv}", bool_keys[i], g_variant_new_boolean (!before));
      /* The parser takes no reference (the service hands it the message's). */
      options = g_variant_ref_sink (g_variant_builder_end (&builder));
      g_assert_true (csb_launch_options_parse (opts, options, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpint (*field, ==, !before);

      /* Wrong types: a string, an int, a boxed boolean. */
      {
        const char *wrong[] = { "<'true'>", "<1>", "<<true>>" };

        for (guint j = 0; j < G_N_ELEMENTS (wrong); j++)
          {
            g_autofree char *text = g_strdup_printf ("{'%s': %s}", bool_keys[i], wrong[j]);
            g_autoptr(GError) type_error = NULL;

            g_assert_false (parse_text (f, text, &type_error));
            assert_invalid (type_error, bool_keys[i]);
            assert_invalid (type_error, "'b'");
          }
      }
    }
}

typedef struct
{
  const char *text;
  const char *message;   /* NULL: accepted */
} Case;

static const Case typed_cases[] = {
  { "{'backend': <'bwrap'>}", NULL },
  { "{'backend': <'vm'>}", NULL },
  { "{'backend': <'container'>}", NULL },
  { "{'backend': <'docker'>}", "unknown backend 'docker'" },
  { "{'backend': <true>}", "backend" },
  { "{'name': <'my sandbox ✓'>}", NULL },
  { "{'name': <''>}", "must not be empty" },
  { "{'name': <'a\\u0001b'>}", "control characters" },
  { "{'name': <'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'>}", "longer than" },
  { "{'name': <['x']>}", "'name' must be of type 's'" },
  { "{'env': <{'FOO': 'bar', '_x1': ''}>}", NULL },
  { "{'env': <{'1FOO': 'bar'}>}", "'1FOO' is not a valid variable name" },
  { "{'env': <{'A-B': 'bar'}>}", "'A-B' is not a valid variable name" },
  { "{'env': <{'A=B': 'bar'}>}", "'A=B' is not a valid variable name" },
  { "{'env': <{'': 'bar'}>}", "is empty" },
  { "{'env': <['FOO=bar']>}", "'env' must be of type 'a{ss}'" },
  { "{'env': <{'FOO': <'bar'>}>}", "'env' must be of type 'a{ss}'" },
  { "{'ro-binds': <['/usr/share', '/opt']>}", NULL },
  { "{'ro-binds': <['relative/path']>}", "'relative/path' is not an absolute path" },
  { "{'ro-binds': <'/usr'>}", "'ro-binds' must be of type 'as'" },
  { "{'rw-binds': <['/srv']>}", NULL },
  { "{'rw-binds': <['']>}", "is not an absolute path" },
  { "{'rw-binds': <[b'/srv']>}", "'rw-binds' must be of type 'as'" },
  { "{'vm-memory-mib': <uint32 4096>}", NULL },
  { "{'vm-memory-mib': <uint32 64>}", "'vm-memory-mib' is 64" },
  { "{'vm-memory-mib': <4096>}", "'vm-memory-mib' must be of type 'u'" },
  { "{'vm-cpus': <uint32 4>}", NULL },
  { "{'vm-cpus': <uint32 0>}", "'vm-cpus' is 0" },
  { "{'vm-cpus': <uint32 1000>}", "'vm-cpus' is 1000" },
  { "{'vm-cpus': <int64 2>}", "'vm-cpus' must be of type 'u'" },
  { "{'stdio': <@a{uh} {}>}", NULL },
  { "{'stdio': <{0: 1}>}", "'stdio' must be of type 'a{uh}'" },
  { "{'display': <true>, 'bogus': <true>}", "unknown option 'bogus'" },
  { "{'Network': <true>}", "unknown option 'Network'" },
  { "{'gh_token': <true>}", "unknown option 'gh_token'" },
};

static void
test_typed (Fixture      *f,
            gconstpointer data)
{
  for (guint i = 0; i < G_N_ELEMENTS (typed_cases); i++)
    {
      g_autoptr(CsbLaunchOptions) opts = csb_launch_options_new (NULL);
      g_autoptr(GError) error = NULL;
      g_autoptr(GError) parse_error = NULL;
      g_autoptr(GVariant) options = g_variant_parse (G_VARIANT_TYPE_VARDICT, typed_cases[i].text,
                                                     NULL, NULL, &parse_error);
      gboolean ok;

      g_assert_no_error (parse_error);
      g_test_message ("options %s", typed_cases[i].text);
      ok = csb_launch_options_parse (opts, options, NULL, &error);
      if (typed_cases[i].message == NULL)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
        }
      else
        {
          g_assert_false (ok);
          assert_invalid (error, typed_cases[i].message);
        }
    }
}

static void
test_values (Fixture      *f,
             gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (parse_text (f, "{'backend': <'vm'>, 'name': <'n'>, 'env': <{'A': '1'}>,"
                                " 'ro-binds': <['/usr/share']>, 'rw-binds': <['/srv', '/mnt']>,"
                                " 'vm-memory-mib': <uint32 512>, 'vm-cpus': <uint32 3>}",
                             &error));
  g_assert_no_error (error);
  g_assert_cmpstr (f->opts->backend, ==, "vm");
  g_assert_cmpstr (f->opts->name, ==, "n");
  g_assert_cmpstr (g_hash_table_lookup (f->opts->env, "A"), ==, "1");
  g_assert_cmpuint (f->opts->ro_binds->len, ==, 1);
  g_assert_cmpuint (f->opts->rw_binds->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (f->opts->rw_binds, 1), ==, "/mnt");
  g_assert_cmpuint (f->opts->vm_memory_mib, ==, 512);
  g_assert_cmpuint (f->opts->vm_cpus, ==, 3);
  g_assert_false (f->opts->has_stdio);
}

/* What a backend cannot give: asked for in the call, BackendUnavailable naming the option
 * and the backend; from the settings only, turned off and noted for the log. */
static const struct
{
  const char *backend;
  const char *key;
} unavailable_cases[] = {
  { "vm", "gpu" },
  { "container", "gpu" },
  { "vm", "audio" },
  { "vm", "ssh-agent" },
};

static void
test_backend_only (Fixture      *f,
                   gconstpointer data)
{
  for (guint i = 0; i < G_N_ELEMENTS (unavailable_cases); i++)
    {
      const char *backend = unavailable_cases[i].backend;
      const char *key = unavailable_cases[i].key;
      g_autofree char *asked = g_strdup_printf ("{'backend': <'%s'>, '%s': <true>}", backend,
                                                key);
      g_autofree char *off = g_strdup_printf ("{'backend': <'%s'>, '%s': <false>}", backend,
                                              key);
      g_autofree char *only_backend = g_strdup_printf ("{'backend': <'%s'>}", backend);
      g_autofree char *quoted_key = g_strdup_printf ("'%s'", key);
      g_autofree char *quoted_setting = g_strdup_printf ("the '%s' setting", key);
      g_autoptr(GError) error = NULL;

      g_test_message ("%s with %s", key, backend);
      g_clear_pointer (&f->opts, csb_launch_options_free);
      f->opts = csb_launch_options_new (f->settings);
      g_assert_false (parse_text (f, asked, &error));
      g_assert_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE);
      g_assert_nonnull (strstr (error->message, quoted_key));
      g_assert_nonnull (strstr (error->message, backend));
      g_clear_error (&error);

      /* Turned off by name: nothing to refuse or note. */
      g_clear_pointer (&f->opts, csb_launch_options_free);
      f->opts = csb_launch_options_new (f->settings);
      g_assert_true (parse_text (f, off, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (f->opts->left_off->len, ==, 0);

      /* The setting is a default, not a request: off, and the log will say so. */
      g_settings_set_boolean (f->settings, key, TRUE);
      g_clear_pointer (&f->opts, csb_launch_options_free);
      f->opts = csb_launch_options_new (f->settings);
      g_assert_true (parse_text (f, only_backend, &error));
      g_assert_no_error (error);
      g_assert_false (*bool_field (f->opts, key));
      g_assert_cmpuint (f->opts->left_off->len, ==, 1);
      g_assert_nonnull (strstr (g_ptr_array_index (f->opts->left_off, 0), quoted_setting));
      g_assert_nonnull (strstr (g_ptr_array_index (f->opts->left_off, 0), backend));

      /* The backends that give it keep it, from the settings and asked for. */
      g_clear_pointer (&f->opts, csb_launch_options_free);
      f->opts = csb_launch_options_new (f->settings);
      g_assert_true (parse_text (f, "{'backend': <'bwrap'>}", &error));
      g_assert_no_error (error);
      g_assert_true (*bool_field (f->opts, key));
      g_assert_cmpuint (f->opts->left_off->len, ==, 0);
      g_settings_reset (f->settings, key);
    }

  /* The container forwards the session's sockets: audio and ssh-agent are its too. */
  {
    g_autoptr(GError) error = NULL;

    g_clear_pointer (&f->opts, csb_launch_options_free);
    f->opts = csb_launch_options_new (f->settings);
    g_assert_true (parse_text (f, "{'backend': <'container'>, 'audio': <true>, "
                                  "'ssh-agent': <true>}", &error));
    g_assert_no_error (error);
    g_assert_true (f->opts->audio);
    g_assert_true (f->opts->ssh_agent);
  }
}

static void
test_env_limit (Fixture      *f,
                gconstpointer data)
{
  GVariantBuilder env, builder;
  g_autoptr(GError) error = NULL;

  g_variant_builder_init (&env, G_VARIANT_TYPE ("a{ss}"));
  for (guint i = 0; i < 300; i++)
    {
      g_autofree char *name = g_strdup_printf ("VAR_%u", i);
      g_variant_builder_add (&env, "{ss}", name, "x");
    }
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "env", g_variant_builder_end (&env));
  g_assert_false (parse (f, g_variant_builder_end (&builder), NULL, &error));
  assert_invalid (error, "more than");
}

static GVariant *
stdio_option (guint target,
              int   handle)
{
  GVariantBuilder stdio, builder;

  g_variant_builder_init (&stdio, G_VARIANT_TYPE ("a{uh}"));
  g_variant_builder_add (&stdio, "{uh}", target, handle);
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "stdio", g_variant_builder_end (&stdio));
  return g_variant_builder_end (&builder);
}

static void
test_stdio (Fixture      *f,
            gconstpointer data)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;
  int pipe_fds[2];
  int handle, fd;
  struct stat st_ours, st_theirs;

  g_assert_true (g_unix_open_pipe (pipe_fds, FD_CLOEXEC, NULL));
  handle = g_unix_fd_list_append (fds, pipe_fds[1], &error);
  g_assert_no_error (error);

  g_assert_true (parse (f, stdio_option (1, handle), fds, &error));
  g_assert_no_error (error);
  g_assert_true (f->opts->has_stdio);
  g_assert_cmpint (f->opts->stdio_fds[0], ==, -1);
  g_assert_cmpint (f->opts->stdio_fds[2], ==, -1);
  /* A copy of the same pipe, owned by the options. */
  fd = csb_launch_options_steal_stdio_fd (f->opts, 1);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (fd, !=, pipe_fds[1]);
  g_assert_cmpint (fstat (fd, &st_theirs), ==, 0);
  g_assert_cmpint (fstat (pipe_fds[1], &st_ours), ==, 0);
  g_assert_cmpuint (st_ours.st_ino, ==, st_theirs.st_ino);
  g_assert_cmpint (csb_launch_options_steal_stdio_fd (f->opts, 1), ==, -1);
  close (fd);

  /* Handles the message does not carry. */
  g_assert_false (parse (f, stdio_option (0, 5), fds, &error));
  assert_invalid (error, "refers to handle 5");
  g_clear_error (&error);
  g_assert_false (parse (f, stdio_option (0, -1), fds, &error));
  assert_invalid (error, "handle -1");
  g_clear_error (&error);
  g_assert_false (parse (f, stdio_option (0, 0), NULL, &error));
  assert_invalid (error, "carries 0 fds");
  g_clear_error (&error);

  /* Only 0, 1 and 2. */
  g_assert_false (parse (f, stdio_option (3, handle), fds, &error));
  assert_invalid (error, "fd 3 is not 0, 1 or 2");

  close (pipe_fds[0]);
  close (pipe_fds[1]);
}

static void
test_stdio_tty (Fixture      *f,
                gconstpointer data)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;
  int master, slave, handle;

  master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (master, >=, 0);
  g_assert_cmpint (grantpt (master), ==, 0);
  g_assert_cmpint (unlockpt (master), ==, 0);
  slave = open (ptsname (master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (slave, >=, 0);
  g_assert_true (isatty (slave));

  handle = g_unix_fd_list_append (fds, slave, &error);
  g_assert_no_error (error);
  g_assert_false (parse (f, stdio_option (0, handle), fds, &error));
  assert_invalid (error, "is a terminal");
  g_assert_false (f->opts->has_stdio);
  g_clear_error (&error);

  /* The master side is a terminal too. */
  handle = g_unix_fd_list_append (fds, master, &error);
  g_assert_no_error (error);
  g_assert_false (parse (f, stdio_option (2, handle), fds, &error));
  assert_invalid (error, "fd 2 is a terminal");

  close (slave);
  close (master);
}

/* ---- paths --------------------------------------------------------------------------- */

static void
assert_project_invalid (Fixture    *f,
                        const char *path,
                        const char *message)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *resolved = NULL;

  g_test_message ("project folder %s", path);
  g_assert_false (csb_validate_project_dir (path, f->dirs.home, &resolved, &error));
  assert_invalid (error, message);
  g_assert_null (resolved);
}

static void
test_project_dir (Fixture      *f,
                  gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *project = csb_test_make_project (&f->dirs, "proj");
  g_autofree char *in_home = g_build_filename (f->dirs.home, "src", "proj", NULL);
  g_autofree char *file = g_build_filename (f->dirs.root, "file.txt", NULL);
  g_autofree char *missing = g_build_filename (f->dirs.root, "missing", NULL);
  g_autofree char *link = g_build_filename (f->dirs.root, "link-to-proj", NULL);
  g_autofree char *home_link = g_build_filename (f->dirs.root, "link-to-home", NULL);
  g_autofree char *dotdot = g_build_filename (f->dirs.home, "..", "projects", "proj", NULL);
  g_autofree char *resolved = NULL;
  g_autofree char *home_parent = g_path_get_dirname (f->dirs.home);

  csb_test_write_file (file, "x", 0644);
  g_assert_cmpint (g_mkdir_with_parents (in_home, 0700), ==, 0);
  g_assert_cmpint (symlink (project, link), ==, 0);
  g_assert_cmpint (symlink (f->dirs.home, home_link), ==, 0);

  g_assert_true (csb_validate_project_dir (project, f->dirs.home, &resolved, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (resolved, ==, project);
  g_clear_pointer (&resolved, g_free);

  /* A folder inside home is the normal case. */
  g_assert_true (csb_validate_project_dir (in_home, f->dirs.home, &resolved, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (resolved, ==, in_home);
  g_clear_pointer (&resolved, g_free);

  /* Symlinks and .. are resolved: the sandbox sees the real path. */
  g_assert_true (csb_validate_project_dir (link, f->dirs.home, &resolved, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (resolved, ==, project);
  g_clear_pointer (&resolved, g_free);
  g_assert_true (csb_validate_project_dir (dotdot, f->dirs.home, &resolved, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (resolved, ==, project);
  g_clear_pointer (&resolved, g_free);

  assert_project_invalid (f, missing, "does not exist");
  assert_project_invalid (f, file, "is not a folder");
  assert_project_invalid (f, "/", "root folder");
  assert_project_invalid (f, "/usr/..", "root folder");
  assert_project_invalid (f, f->dirs.home, "is your home folder");
  assert_project_invalid (f, home_link, "is your home folder");
  assert_project_invalid (f, home_parent, "contains your home folder");
  assert_project_invalid (f, "relative/dir", "not an absolute path");
  assert_project_invalid (f, ".", "not an absolute path");
  assert_project_invalid (f, "", "empty");
  assert_project_invalid (f, "/proc/self", "system folder");
  assert_project_invalid (f, "/sys/kernel", "system folder");
  assert_project_invalid (f, "/dev", "system folder");
  {
    /* Your own claude's folder, the service's state, your session's sockets. */
    g_autofree char *claude_dir = g_build_filename (f->dirs.home, ".claude", "skills", NULL);
    g_autofree char *state = g_build_filename (g_get_user_state_dir (), "claude-sandbox", NULL);
    g_autofree char *state_parent = g_path_get_dirname (state);
    g_autofree char *runtime = g_strdup (g_get_user_runtime_dir ());

    g_assert_cmpint (g_mkdir_with_parents (claude_dir, 0700), ==, 0);
    g_assert_cmpint (g_mkdir_with_parents (state, 0700), ==, 0);
    g_assert_cmpint (g_mkdir_with_parents (runtime, 0700), ==, 0);
    assert_project_invalid (f, claude_dir, "in your own Claude folder");
    assert_project_invalid (f, state_parent, "contains the state folder of claude-sandbox");
    assert_project_invalid (f, runtime, "contains your runtime folder");
  }

  /* A file under the folder cannot be a project either. */
  {
    g_autofree char *under_file = g_build_filename (file, "sub", NULL);
    assert_project_invalid (f, under_file, "does not exist");
  }
}

static void
test_bind_path (Fixture      *f,
                gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *resolved = NULL;
  g_autofree char *dir = csb_test_make_project (&f->dirs, "data");
  g_autofree char *link = g_build_filename (f->dirs.root, "data-link", NULL);
  g_autofree char *file = g_build_filename (dir, "file", NULL);
  g_autofree char *in_home = g_build_filename (f->dirs.home, "docs", NULL);
  g_autofree char *missing = g_build_filename (f->dirs.root, "missing", NULL);
  g_autofree char *home_parent = g_path_get_dirname (f->dirs.home);

  g_assert_cmpint (symlink (dir, link), ==, 0);
  csb_test_write_file (file, "x", 0644);
  g_assert_cmpint (g_mkdir_with_parents (in_home, 0700), ==, 0);

  g_assert_true (csb_validate_bind_path ("ro-binds", link, f->dirs.home, &resolved, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (resolved, ==, dir);
  g_clear_pointer (&resolved, g_free);

  /* Files may be bound too, and folders inside home. */
  g_assert_true (csb_validate_bind_path ("rw-binds", file, f->dirs.home, &resolved, &error));
  g_assert_no_error (error);
  g_clear_pointer (&resolved, g_free);
  g_assert_true (csb_validate_bind_path ("ro-binds", in_home, f->dirs.home, NULL, &error));
  g_assert_no_error (error);

  g_assert_false (csb_validate_bind_path ("ro-binds", "rel", f->dirs.home, NULL, &error));
  assert_invalid (error, "option 'ro-binds'");
  assert_invalid (error, "not an absolute path");
  g_clear_error (&error);
  g_assert_false (csb_validate_bind_path ("rw-binds", missing, f->dirs.home, NULL, &error));
  assert_invalid (error, "option 'rw-binds'");
  assert_invalid (error, "does not exist");
  g_clear_error (&error);
  g_assert_false (csb_validate_bind_path ("rw-binds", "/", f->dirs.home, NULL, &error));
  assert_invalid (error, "root folder");
  g_clear_error (&error);
  g_assert_false (csb_validate_bind_path ("rw-binds", f->dirs.home, f->dirs.home, NULL, &error));
  assert_invalid (error, "home folder");
  g_clear_error (&error);
  g_assert_false (csb_validate_bind_path ("ro-binds", home_parent, f->dirs.home, NULL, &error));
  assert_invalid (error, "home folder");
  g_clear_error (&error);
  g_assert_false (csb_validate_bind_path ("ro-binds", "/proc/1", f->dirs.home, NULL, &error));
  assert_invalid (error, "system folder");
  g_clear_error (&error);
  g_assert_false (csb_validate_bind_path ("ro-binds", "/dev/null", f->dirs.home, NULL, &error));
  assert_invalid (error, "system folder");
}

static void
test_env_name (Fixture      *f,
               gconstpointer data)
{
  const char * const good[] = { "A", "_", "PATH", "lower_case9", "_1", NULL };
  const char * const bad[] = { "", "9", "A B", "A-B", "A=B", "Ä", "A.B", "$A", NULL };

  for (guint i = 0; good[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_true (csb_validate_env_name (good[i], &error));
      g_assert_no_error (error);
    }
  for (guint i = 0; bad[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_test_message ("env name '%s'", bad[i]);
      g_assert_false (csb_validate_env_name (bad[i], &error));
      g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
    }
}

static void
test_command (Fixture      *f,
              gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  const char * const empty[] = { NULL };
  const char * const ok[] = { "sh", "-c", "", NULL };
  const char * const empty_program[] = { "", "x", NULL };
  g_autoptr(GPtrArray) huge = g_ptr_array_new_with_free_func (g_free);

  g_assert_true (csb_validate_command (empty, &error));
  g_assert_no_error (error);
  g_assert_true (csb_validate_command (ok, &error));
  g_assert_no_error (error);
  g_assert_false (csb_validate_command (empty_program, &error));
  assert_invalid (error, "empty");
  g_clear_error (&error);

  for (guint i = 0; i < 5000; i++)
    g_ptr_array_add (huge, g_strdup ("x"));
  g_ptr_array_add (huge, NULL);
  g_assert_false (csb_validate_command ((const char * const *) huge->pdata, &error));
  assert_invalid (error, "5000 arguments");
}

int
main (int   argc,
      char *argv[])
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/options/defaults", test_defaults);
  ADD ("/options/booleans", test_booleans);
  ADD ("/options/types-and-values", test_typed);
  ADD ("/options/values", test_values);
  ADD ("/options/backend-only", test_backend_only);
  ADD ("/options/env/limit", test_env_limit);
  ADD ("/options/stdio/fds", test_stdio);
  ADD ("/options/stdio/refuses-tty", test_stdio_tty);
  ADD ("/options/project-dir", test_project_dir);
  ADD ("/options/bind-path", test_bind_path);
  ADD ("/options/env-name", test_env_name);
  ADD ("/options/command", test_command);
#undef ADD

  return g_test_run ();
}
