/* csb-test-utils.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "csb-test-utils.h"


static char *real_home;

/* GLib's g_setenv complains once the GDBus worker thread runs; here the environment
 * changes only between tests, when no other thread reads it. */
static void
test_setenv (const char *name,
             const char *value,
             gboolean    overwrite)
{
  setenv (name, value, overwrite);
}
static char *claude_path;
static gboolean claude_searched;

/* ---- files and folders ------------------------------------------------------------ */

void
csb_test_rm_rf (const char *path)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;
  struct stat st;

  if (lstat (path, &st) != 0)
    return;
  if (!S_ISDIR (st.st_mode))
    {
      unlink (path);
      return;
    }
  /* Tests make read-only folders (e.g. ~/.claude/hooks); let us in again. */
  chmod (path, 0700);
  dir = g_dir_open (path, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      csb_test_rm_rf (child);
    }
  rmdir (path);
}

void
csb_test_write_file (const char *path,
                     const char *contents,
                     int         mode)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_file_set_contents_full (path, contents, -1, G_FILE_SET_CONTENTS_NONE, mode, &error);
  g_assert_no_error (error);
}

gboolean
csb_test_tree_contains (const char *dir,
                        const char *needle,
                        char      **out_path)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      struct stat st;

      if (lstat (path, &st) != 0)
        continue;
      if (S_ISDIR (st.st_mode))
        {
          if (csb_test_tree_contains (path, needle, out_path))
            return TRUE;
        }
      else if (S_ISREG (st.st_mode))
        {
          g_autofree char *contents = NULL;
          gsize len;

          if (g_file_get_contents (path, &contents, &len, NULL) &&
              memmem (contents, len, needle, strlen (needle)) != NULL)
            {
              if (out_path)
                *out_path = g_steal_pointer (&path);
              return TRUE;
            }
        }
    }
  return FALSE;
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* @dir's entries for which @keep (if any) says so, sorted, space-separated. */
static char *
list_dir_filtered (const char *dir,
                   gboolean  (*keep) (const char *dir,
                                      const char *name))
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (keep == NULL || keep (dir, name))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_strings);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

char *
csb_test_list_dir (const char *dir)
{
  return list_dir_filtered (dir, NULL);
}

/* Not the spare monitor's folder: one holding only the proxy it made ahead. */
static gboolean
is_sandbox_dir (const char *dir,
                const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *inside = csb_test_list_dir (path);

  return !g_str_equal (inside, "dbus-ahead");
}

char *
csb_test_list_sandbox_dirs (const char *dir)
{
  return list_dir_filtered (dir, is_sandbox_dir);
}

/* The tree under @root as text: each entry's path, mode and content (sha256) or
 * target, in order; links never followed. */
static void
describe_tree (GString    *out,
               const char *root,
               const char *relative)
{
  g_autofree char *path = relative ? g_build_filename (root, relative, NULL) : g_strdup (root);
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_strings);
  for (guint i = 0; i < names->len; i++)
    {
      const char *child_name = g_ptr_array_index (names, i);
      g_autofree char *child = relative ? g_build_filename (relative, child_name, NULL)
                                        : g_strdup (child_name);
      g_autofree char *full = g_build_filename (root, child, NULL);
      struct stat st;

      g_assert_cmpint (lstat (full, &st), ==, 0);
      g_string_append_printf (out, "%s %o ", child, st.st_mode);
      if (S_ISLNK (st.st_mode))
        {
          g_autofree char *target = g_file_read_link (full, NULL);
          g_string_append_printf (out, "-> %s\n", target);
        }
      else if (S_ISREG (st.st_mode))
        {
          g_autofree char *contents = NULL;
          gsize len;
          g_autofree char *sum = NULL;

          g_assert_true (g_file_get_contents (full, &contents, &len, NULL));
          sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (guchar *) contents, len);
          g_string_append_printf (out, "%s\n", sum);
        }
      else
        {
          g_string_append (out, "\n");
          if (S_ISDIR (st.st_mode))
            describe_tree (out, root, child);
        }
    }
}

char *
csb_test_tree_text (const char *root)
{
  GString *out = g_string_new (NULL);

  describe_tree (out, root, NULL);
  return g_string_free (out, FALSE);
}

void
csb_test_dirs_init (CsbTestDirs *dirs)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("csb-test-XXXXXX", &error);
  char *root;

  g_assert_no_error (error);
  root = realpath (tmp, NULL);
  g_assert_nonnull (root);
  dirs->root = root;
  dirs->home = g_build_filename (root, "home", NULL);
  dirs->state = g_build_filename (root, "state", NULL);
  dirs->runtime = g_build_filename (root, "runtime", NULL);
  dirs->config = g_build_filename (root, "config", NULL);
  dirs->cache = g_build_filename (root, "cache", NULL);
  dirs->data = g_build_filename (root, "data", NULL);
  dirs->projects = g_build_filename (root, "projects", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dirs->home, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (dirs->state, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (dirs->runtime, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (dirs->config, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (dirs->cache, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (dirs->data, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (dirs->projects, 0700), ==, 0);
}

/* What csb_test_dirs_apply() sets, in the order of its values. */
static const char * const dirs_env_names[] = {
  "HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
  "XDG_DATA_HOME",
};

void
csb_test_dirs_apply (CsbTestDirs *dirs)
{
  const char *values[] = { dirs->home, dirs->state, dirs->runtime, dirs->config, dirs->cache,
                           dirs->data };

  G_STATIC_ASSERT (G_N_ELEMENTS (values) == G_N_ELEMENTS (dirs_env_names));
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    test_setenv (dirs_env_names[i], values[i], TRUE);
}

void
csb_test_dirs_clear (CsbTestDirs *dirs)
{
  if (dirs->root != NULL && g_getenv ("CSB_TEST_KEEP") == NULL)
    csb_test_rm_rf (dirs->root);
  g_clear_pointer (&dirs->root, g_free);
  g_clear_pointer (&dirs->home, g_free);
  g_clear_pointer (&dirs->state, g_free);
  g_clear_pointer (&dirs->runtime, g_free);
  g_clear_pointer (&dirs->config, g_free);
  g_clear_pointer (&dirs->cache, g_free);
  g_clear_pointer (&dirs->data, g_free);
  g_clear_pointer (&dirs->projects, g_free);
}

char *
csb_test_make_project (CsbTestDirs *dirs,
                       const char  *name)
{
  char *path = g_build_filename (dirs->projects, name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
  return path;
}

/* ---- claude --------------------------------------------------------------------------- */

void
csb_test_init_environment (void)
{
  if (real_home == NULL)
    real_home = g_strdup (g_getenv ("HOME") ? g_getenv ("HOME") : g_get_home_dir ());
  /* Nothing a developer's session has must leak into the tests' services. */
  unsetenv ("GH_TOKEN");
  unsetenv ("GITHUB_TOKEN");
  unsetenv ("NPM_CONFIG_PREFIX");
  unsetenv ("DBUS_SESSION_BUS_ADDRESS");
  csb_test_find_claude ();
}

static gboolean
is_executable_file (const char *path)
{
  struct stat st;

  return path != NULL && stat (path, &st) == 0 && S_ISREG (st.st_mode) &&
         access (path, X_OK) == 0;
}

const char *
csb_test_find_claude (void)
{
  g_autofree char *on_path = NULL;
  const char *env = g_getenv ("CSB_TEST_CLAUDE");

  if (claude_searched)
    return claude_path;
  claude_searched = TRUE;

  if (is_executable_file (env))
    return claude_path = g_strdup (env);
  if (real_home != NULL)
    {
      g_autofree char *npm_global = g_build_filename (real_home, ".npm-global", "bin", "claude",
                                                      NULL);
      g_autofree char *local = g_build_filename (real_home, ".local", "bin", "claude", NULL);

      if (is_executable_file (npm_global))
        return claude_path = g_steal_pointer (&npm_global);
      if (is_executable_file (local))
        return claude_path = g_steal_pointer (&local);
    }
  on_path = g_find_program_in_path ("claude");
  if (is_executable_file (on_path))
    return claude_path = g_steal_pointer (&on_path);
  return NULL;
}

gboolean
csb_test_require_claude (void)
{
  if (csb_test_find_claude () != NULL)
    return TRUE;
  g_test_fail_printf ("Claude Code is not installed: npm install -g --prefix ~/.npm-global "
                      "@anthropic-ai/claude-code (or set CSB_TEST_CLAUDE)");
  return FALSE;
}

/* ---- main loop ------------------------------------------------------------------------- */

static gboolean
on_run_timeout (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
csb_test_run_until (gboolean (*done) (gpointer data),
                    gpointer   data,
                    guint      timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms, on_run_timeout, &timed_out);

  while (!done (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return done (data);
}

static gboolean
never (gpointer data)
{
  return FALSE;
}

void
csb_test_sleep_ms (guint ms)
{
  csb_test_run_until (never, NULL, ms);
}

/* ---- the private bus ----------------------------------------------------------------- */

static GHashTable *exited_statuses;   /* object path → status + 1000 */

static void
on_exited_signal (GDBusConnection *connection,
                  const char      *sender,
                  const char      *path,
                  const char      *interface,
                  const char      *signal,
                  GVariant        *parameters,
                  gpointer         user_data)
{
  int status;

  g_variant_get (parameters, "(i)", &status);
  g_hash_table_insert (exited_statuses, g_strdup (path), GINT_TO_POINTER (status + 1000));
}

/* The PATH the test started with, which teardown puts back; and the one every bus
 * set-up of this process gives the service, derived from it once: its folders of
 * links (~1,400 each for /usr/bin and /bin) cost a second or more per test on a busy
 * machine, which made the bus suite time out with a claude in /usr/bin. */
static char *original_path;
static char *hidden_path;
static char *hidden_path_farm;

static void
remove_hidden_path_farm (void)
{
  if (hidden_path_farm != NULL)
    csb_test_rm_rf (hidden_path_farm);
}

char *
csb_test_path_without_claude (const char *path,
                              const char *farm_root)
{
  g_auto(GStrv) dirs = g_strsplit (path != NULL ? path : "/usr/local/bin:/usr/bin:/bin", ":", -1);
  g_autoptr(GStrvBuilder) kept = g_strv_builder_new ();
  g_auto(GStrv) result = NULL;

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *candidate = NULL;
      g_autofree char *farm = NULL;
      g_autoptr(GDir) dir = NULL;
      const char *name;

      if (*dirs[i] == '\0')
        continue;
      candidate = g_build_filename (dirs[i], "claude", NULL);
      if (!g_file_test (candidate, G_FILE_TEST_EXISTS))
        {
          g_strv_builder_add (kept, dirs[i]);
          continue;
        }
      /* Not the folder itself (it may be /usr/bin, and then nothing runs) but a
       * private one of links to everything in it except claude. */
      farm = g_strdup_printf ("%s/%u", farm_root, i);
      g_assert_cmpint (g_mkdir_with_parents (farm, 0700), ==, 0);
      dir = g_dir_open (dirs[i], 0, NULL);
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *target = NULL;
          g_autofree char *link = NULL;

          if (g_str_equal (name, "claude"))
            continue;
          target = g_build_filename (dirs[i], name, NULL);
          link = g_build_filename (farm, name, NULL);
          if (symlink (target, link) != 0)
            g_error ("cannot link %s to %s: %s", link, target, g_strerror (errno));
        }
      g_strv_builder_add (kept, farm);
    }
  result = g_strv_builder_end (kept);
  return g_strjoinv (":", result);
}

/* Our bus daemons and GTestDBus's watcher. GLib 2.74's dbus-daemon inherits the
 * watcher's pipe, so when a test aborts the watcher never sees its parent go and
 * neither of them exits; they would also keep the test runner's output open. */
static pid_t doomed[64];
static guint n_doomed;
static guint doomed_service;

static void
on_fatal_signal (int signum)
{
  for (guint i = 0; i < n_doomed; i++)
    kill (doomed[i], SIGKILL);
  if (doomed_service != 0)
    kill ((pid_t) doomed_service, SIGTERM);
  signal (signum, SIG_DFL);
  raise (signum);
}

static void
remember_children (void)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  static gboolean handlers_set;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc", name, "stat", NULL);
      g_autofree char *contents = NULL;
      const char *paren;
      int ppid;
      pid_t pid;
      gboolean known = FALSE;

      if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &contents, NULL, NULL))
        continue;
      paren = strrchr (contents, ')');
      if (paren == NULL || sscanf (paren + 2, "%*c %d", &ppid) != 1 || ppid != getpid ())
        continue;
      pid = (pid_t) g_ascii_strtoll (name, NULL, 10);
      for (guint i = 0; i < n_doomed; i++)
        known |= doomed[i] == pid;
      if (!known && n_doomed < G_N_ELEMENTS (doomed))
        doomed[n_doomed++] = pid;
    }
  if (!handlers_set)
    {
      handlers_set = TRUE;
      signal (SIGABRT, on_fatal_signal);
      signal (SIGSEGV, on_fatal_signal);
      signal (SIGTERM, on_fatal_signal);
      signal (SIGTRAP, on_fatal_signal);
    }
}

static gboolean
name_has_owner (GDBusConnection *connection)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  gboolean owned;

  reply = g_dbus_connection_call_sync (connection, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", g_variant_new ("(s)", CSB_BUS_NAME),
                                       G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, -1,
                                       NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(b)", &owned);
  return owned;
}

/* Keeps what @name was before the set-up first changed it, for bus_restore_env(). */
static void
bus_save_env (CsbTestBus *self,
              const char *name)
{
  for (guint i = 0; i < self->saved_env->len; i += 2)
    if (g_str_equal (g_ptr_array_index (self->saved_env, i), name))
      return;
  g_ptr_array_add (self->saved_env, g_strdup (name));
  g_ptr_array_add (self->saved_env, g_strdup (g_getenv (name)));
}

/* Sets @name to @value (NULL: unsets it) for the bus and the service it activates,
 * until the teardown. */
static void
bus_setenv (CsbTestBus *self,
            const char *name,
            const char *value)
{
  bus_save_env (self, name);
  if (value != NULL)
    test_setenv (name, value, TRUE);
  else
    unsetenv (name);
}

/* Puts back what the set-up changed, so that no test's environment reaches the next
 * one in the same program. */
static void
bus_restore_env (CsbTestBus *self)
{
  if (self->saved_env == NULL)
    return;
  for (guint i = 0; i < self->saved_env->len; i += 2)
    {
      const char *name = g_ptr_array_index (self->saved_env, i);
      const char *value = g_ptr_array_index (self->saved_env, i + 1);

      if (value != NULL)
        test_setenv (name, value, TRUE);
      else
        unsetenv (name);
    }
  g_clear_pointer (&self->saved_env, g_ptr_array_unref);
}

/* The environment the bus and its service get: the test's folders, the settings
 * backend, PATH (Claude Code hidden unless asked for) and @options' own. */
static void
bus_set_environment (CsbTestBus              *self,
                     const CsbTestBusOptions *options)
{
  g_autoptr(GError) error = NULL;
  const char *path_env;

  for (guint i = 0; i < G_N_ELEMENTS (dirs_env_names); i++)
    bus_save_env (self, dirs_env_names[i]);
  csb_test_dirs_apply (&self->dirs);
  if (original_path == NULL)
    original_path = g_strdup (g_getenv ("PATH") ? g_getenv ("PATH")
                                                : "/usr/local/bin:/usr/bin:/bin");
  if (hidden_path == NULL)
    {
      hidden_path_farm = g_dir_make_tmp ("csb-test-path-XXXXXX", &error);
      g_assert_no_error (error);
      atexit (remove_hidden_path_farm);
      hidden_path = csb_test_path_without_claude (original_path, hidden_path_farm);
    }
  path_env = hidden_path;
  if (options->settings_keyfile != NULL)
    {
      g_autofree char *keyfile = g_build_filename (self->dirs.config, "glib-2.0", "settings",
                                                   "keyfile", NULL);
      csb_test_write_file (keyfile, options->settings_keyfile, 0600);
      bus_setenv (self, "GSETTINGS_BACKEND", "keyfile");
    }
  else
    bus_setenv (self, "GSETTINGS_BACKEND", "memory");

  if (options->claude_on_path)
    {
      const char *claude = csb_test_find_claude ();
      g_autofree char *bin = NULL;
      g_autofree char *with_claude = NULL;

      g_assert_nonnull (claude);
      bin = g_path_get_dirname (claude);
      with_claude = g_strconcat (bin, ":", path_env, NULL);
      bus_setenv (self, "PATH", with_claude);
    }
  else
    bus_setenv (self, "PATH", path_env);
  for (guint i = 0; options->env != NULL && options->env[i] != NULL; i++)
    {
      const char *eq = strchr (options->env[i], '=');
      g_autofree char *name = eq ? g_strndup (options->env[i], eq - options->env[i])
                                 : g_strdup (options->env[i]);

      bus_setenv (self, name, eq ? eq + 1 : NULL);
    }
}

void
csb_test_bus_setup (CsbTestBus              *self,
                    const CsbTestBusOptions *options)
{
  static const CsbTestBusOptions no_options = { NULL, FALSE, NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *services = g_test_build_filename (G_TEST_BUILT, "services", NULL);
  const char *address;
  int saved_stdout, saved_stderr, log_fd;

  if (options == NULL)
    options = &no_options;
  memset (self, 0, sizeof *self);
  if (exited_statuses == NULL)
    exited_statuses = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_remove_all (exited_statuses);

  /* The activated service inherits the bus daemon's environment, as a desktop
   * service inherits the session's activation environment. */
  csb_test_dirs_init (&self->dirs);
  self->saved_env = g_ptr_array_new_with_free_func (g_free);
  bus_set_environment (self, options);

  self->service_log = g_build_filename (self->dirs.root, "service.log", NULL);
  log_fd = open (self->service_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  g_assert_cmpint (log_fd, >=, 0);
  saved_stdout = dup (STDOUT_FILENO);
  saved_stderr = dup (STDERR_FILENO);
  g_assert_cmpint (saved_stdout, >=, 0);
  g_assert_cmpint (saved_stderr, >=, 0);

  /* The bus daemon, and through it the service, write to the log, and none of them
   * holds the test's output open (the test runner would wait for them). */
  fflush (stdout);
  dup2 (log_fd, STDOUT_FILENO);
  dup2 (log_fd, STDERR_FILENO);
  self->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_add_service_dir (self->bus, services);
  g_test_dbus_up (self->bus);
  remember_children ();
  dup2 (saved_stdout, STDOUT_FILENO);
  dup2 (saved_stderr, STDERR_FILENO);
  close (saved_stdout);
  close (saved_stderr);
  close (log_fd);

  address = g_test_dbus_get_bus_address (self->bus);
  g_assert_nonnull (address);
  /* A private connection: nothing of it outlives the test's bus. */
  self->connection = g_dbus_connection_new_for_address_sync (address,
                                                             G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                             G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                             NULL, NULL, &error);
  g_assert_no_error (error);
  g_dbus_connection_set_exit_on_close (self->connection, FALSE);
  g_dbus_connection_signal_subscribe (self->connection, NULL,
                                      CSB_SANDBOX_INTERFACE, "Exited", NULL,
                                      NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_exited_signal,
                                      NULL, NULL);
  g_assert_false (name_has_owner (self->connection));
}

guint
csb_test_bus_name_pid (CsbTestBus *self,
                       const char *name,
                       GError    **error)
{
  g_autoptr(GVariant) reply = NULL;
  guint pid;

  reply = g_dbus_connection_call_sync (self->connection, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "GetConnectionUnixProcessID",
                                       g_variant_new ("(s)", name), G_VARIANT_TYPE ("(u)"),
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
  if (reply == NULL)
    return 0;
  g_variant_get (reply, "(u)", &pid);
  return pid;
}

guint
csb_test_bus_service_pid (CsbTestBus *self)
{
  g_autoptr(GError) error = NULL;
  guint pid = csb_test_bus_name_pid (self, CSB_BUS_NAME, &error);

  g_assert_no_error (error);
  return pid;
}

void
csb_test_bus_crash_service (CsbTestBus *self)
{
  guint pid = csb_test_bus_service_pid (self);
  g_autofree char *proc = g_strdup_printf ("/proc/%u", pid);

  g_assert_cmpint (kill ((pid_t) pid, SIGKILL), ==, 0);
  for (guint i = 0; i < 500 && g_file_test (proc, G_FILE_TEST_EXISTS); i++)
    csb_test_sleep_ms (10);
  g_assert_false (g_file_test (proc, G_FILE_TEST_EXISTS));
  csb_test_sleep_ms (100);
}

void
csb_test_bus_activate (CsbTestBus *self)
{
  g_autoptr(GError) error = NULL;

  if (self->manager != NULL)
    return;
  self->manager = csb_dbus_manager_proxy_new_sync (self->connection, G_DBUS_PROXY_FLAGS_NONE,
                                                   CSB_BUS_NAME, CSB_MANAGER_PATH, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (name_has_owner (self->connection));

  self->service_pid = csb_test_bus_service_pid (self);
  doomed_service = self->service_pid;

  self->object_manager = csb_dbus_object_manager_client_new_sync (self->connection,
                                                                  G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                                                  CSB_BUS_NAME,
                                                                  CSB_MANAGER_PATH, NULL, &error);
  g_assert_no_error (error);
}

CsbDBusSandbox *
csb_test_bus_get_sandbox (CsbTestBus *self,
                          const char *object_path)
{
  g_autoptr(GError) error = NULL;
  CsbDBusSandbox *sandbox;

  sandbox = csb_dbus_sandbox_proxy_new_sync (self->connection, G_DBUS_PROXY_FLAGS_NONE,
                                             CSB_BUS_NAME, object_path, NULL, &error);
  g_assert_no_error (error);
  return sandbox;
}

GVariant *
csb_test_bus_managed_objects (CsbTestBus *self)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = g_dbus_connection_call_sync (self->connection, CSB_BUS_NAME, CSB_MANAGER_PATH,
                                       "org.freedesktop.DBus.ObjectManager",
                                       "GetManagedObjects", NULL,
                                       G_VARIANT_TYPE ("(a{oa{sa{sv}}})"),
                                       G_DBUS_CALL_FLAGS_NONE, 20000, NULL, &error);
  g_assert_no_error (error);
  return g_variant_get_child_value (reply, 0);
}

CsbDBusSandbox *
csb_test_bus_sandbox_after_restart (CsbTestBus *self,
                                    const char *object_path)
{
  g_autoptr(GVariant) objects = csb_test_bus_managed_objects (self);
  g_autoptr(GVariant) entry = g_variant_lookup_value (objects, object_path, NULL);

  g_assert_nonnull (entry);
  return csb_test_bus_get_sandbox (self, object_path);
}

static gboolean
is_active_state (const char *state)
{
  return g_strcmp0 (state, "exited") != 0 && g_strcmp0 (state, "failed") != 0;
}

gboolean
csb_test_sandbox_ended (gpointer data)
{
  return !is_active_state (csb_dbus_sandbox_get_state (data));
}

CsbTestTerminal *
csb_test_bus_history_after_exit (CsbTestBus *bus,
                                 const char *object_path,
                                 int         status)
{
  g_autoptr(CsbDBusSandbox) sandbox = csb_test_bus_sandbox_after_restart (bus, object_path);
  g_autoptr(GError) error = NULL;
  CsbTestTerminal *term;

  g_assert_true (csb_test_run_until (csb_test_sandbox_ended, sandbox, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "exited");
  g_assert_cmpint (csb_dbus_sandbox_get_exit_status (sandbox), ==, status);
  term = csb_test_terminal_open (sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait_eof (term, CSB_TEST_TIMEOUT_MS));
  return term;
}

typedef struct
{
  CsbTestBus *bus;
  const char *path;
} ExitWait;

static gboolean
has_exited (gpointer data)
{
  ExitWait *wait = data;

  return g_hash_table_contains (exited_statuses, wait->path);
}

static gboolean
process_gone (guint pid)
{
  g_autofree char *stat_path = g_strdup_printf ("/proc/%u/stat", pid);
  g_autofree char *contents = NULL;
  const char *paren;

  if (kill ((pid_t) pid, 0) != 0 && errno == ESRCH)
    return TRUE;
  /* A zombie nobody reaps yet is gone for our purpose. */
  if (!g_file_get_contents (stat_path, &contents, NULL, NULL))
    return TRUE;
  paren = strrchr (contents, ')');
  return paren != NULL && paren[1] == ' ' && paren[2] == 'Z';
}

/* A failed test must not leave sandboxes behind: stops every one still active. Asks
 * the service itself (GetManagedObjects), not the object manager's cache, which is
 * only as fresh as the last turn of the main loop: a test that made only synchronous
 * calls since its launch left its sandbox running (and, with a private display, its
 * compositor) after the service had gone. */
void
csb_test_bus_stop_sandboxes (CsbTestBus *self)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) objects = NULL;
  GVariantIter iter;
  const char *path;
  GVariant *interfaces;

  if (self->manager == NULL || self->connection == NULL ||
      g_dbus_connection_is_closed (self->connection))
    return;
  /* A test may have ended the service: then there is nothing to ask (and nothing to
   * start again). */
  reply = g_dbus_connection_call_sync (self->connection, CSB_BUS_NAME, CSB_MANAGER_PATH,
                                       "org.freedesktop.DBus.ObjectManager",
                                       "GetManagedObjects", NULL,
                                       G_VARIANT_TYPE ("(a{oa{sa{sv}}})"),
                                       G_DBUS_CALL_FLAGS_NO_AUTO_START, 20000, NULL, NULL);
  if (reply == NULL)
    return;
  objects = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    {
      g_autoptr(GVariant) properties = g_variant_lookup_value (interfaces, CSB_SANDBOX_INTERFACE,
                                                               NULL);
      const char *state = NULL;
      ExitWait wait = { self, path };

      if (properties != NULL && g_variant_lookup (properties, "State", "&s", &state) &&
          is_active_state (state))
        {
          g_autoptr(CsbDBusSandbox) sandbox = csb_test_bus_get_sandbox (self, path);

          csb_dbus_sandbox_call_stop_sync (sandbox, NULL, NULL);
          csb_test_run_until (has_exited, &wait, 15000);
        }
      g_variant_unref (interfaces);
    }
}

void
csb_test_bus_teardown (CsbTestBus *self)
{
  csb_test_bus_stop_sandboxes (self);

  g_clear_object (&self->object_manager);
  g_clear_object (&self->manager);
  if (self->connection != NULL)
    g_dbus_connection_close_sync (self->connection, NULL, NULL);
  g_clear_object (&self->connection);
  /* Let pending callbacks of the closed connection run. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (self->bus != NULL)
    g_test_dbus_down (self->bus);
  g_clear_object (&self->bus);

  doomed_service = 0;
  if (self->service_pid != 0)
    {
      for (guint i = 0; i < 500 && !process_gone (self->service_pid); i++)
        g_usleep (10000);
      if (!process_gone (self->service_pid))
        {
          g_test_message ("the service (pid %u) did not exit with its bus", self->service_pid);
          kill ((pid_t) self->service_pid, SIGKILL);
          g_test_fail ();
        }
    }

  if (g_test_failed () || g_getenv ("CSB_TEST_SHOW_LOG") != NULL)
    {
      g_autofree char *log = NULL;

      if (self->service_log && g_file_get_contents (self->service_log, &log, NULL, NULL))
        g_test_message ("service log:\n%s", log);
    }
  g_clear_pointer (&self->service_log, g_free);
  csb_test_dirs_clear (&self->dirs);
  bus_restore_env (self);
}

/* ---- one sandbox run ----------------------------------------------------------------- */

static gboolean
on_pipe_readable (int          fd,
                  GIOCondition cond,
                  gpointer     user_data)
{
  CsbTestRun *run = user_data;
  gboolean is_out = fd == run->out_fd;
  GString *buffer = is_out ? run->out : run->err;
  char chunk[4096];
  ssize_t n;

  n = read (fd, chunk, sizeof chunk);
  if (n > 0)
    {
      g_string_append_len (buffer, chunk, n);
      return G_SOURCE_CONTINUE;
    }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  close (fd);
  if (is_out)
    {
      run->out_fd = -1;
      run->out_watch = 0;
    }
  else
    {
      run->err_fd = -1;
      run->err_watch = 0;
    }
  return G_SOURCE_REMOVE;
}

static CsbTestRun *
launch (CsbTestBus         *bus,
        const char         *project_dir,
        const char * const *command,
        GVariant           *options,
        gboolean            with_stdio,
        gboolean            keep_stdin,
        GError            **error)
{
  g_autoptr(CsbTestRun) run = g_new0 (CsbTestRun, 1);
  g_autoptr(GUnixFDList) fd_list = g_unix_fd_list_new ();
  g_autoptr(GVariant) owned_options = options ? g_variant_ref_sink (options) : NULL;
  GVariantBuilder builder;
  gboolean launched;
  const char * const empty[] = { NULL };
  g_autoptr(GError) local_error = NULL;

  csb_test_bus_activate (bus);
  run->bus = bus;
  run->out = g_string_new (NULL);
  run->err = g_string_new (NULL);
  run->stdin_fd = run->out_fd = run->err_fd = -1;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  if (owned_options != NULL)
    {
      GVariantIter iter;
      const char *key;
      GVariant *value;

      g_variant_iter_init (&iter, owned_options);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
        {
          g_variant_builder_add (&builder, "{sv}", key, value);
          g_variant_unref (value);
        }
    }
  if (with_stdio)
    {
      GVariantBuilder stdio;
      int out_pipe[2], err_pipe[2];

      g_variant_builder_init (&stdio, G_VARIANT_TYPE ("a{uh}"));
      if (keep_stdin)
        {
          int in_pipe[2];

          g_assert_true (g_unix_open_pipe (in_pipe, FD_CLOEXEC, NULL));
          g_variant_builder_add (&stdio, "{uh}", 0,
                                 g_unix_fd_list_append (fd_list, in_pipe[0], NULL));
          close (in_pipe[0]);
          run->stdin_fd = in_pipe[1];
        }
      g_assert_true (g_unix_open_pipe (out_pipe, FD_CLOEXEC, NULL));
      g_assert_true (g_unix_open_pipe (err_pipe, FD_CLOEXEC, NULL));
      g_variant_builder_add (&stdio, "{uh}", 1,
                             g_unix_fd_list_append (fd_list, out_pipe[1], NULL));
      g_variant_builder_add (&stdio, "{uh}", 2,
                             g_unix_fd_list_append (fd_list, err_pipe[1], NULL));
      close (out_pipe[1]);
      close (err_pipe[1]);
      run->out_fd = out_pipe[0];
      run->err_fd = err_pipe[0];
      g_unix_set_fd_nonblocking (run->out_fd, TRUE, NULL);
      g_unix_set_fd_nonblocking (run->err_fd, TRUE, NULL);
      run->out_watch = g_unix_fd_add (run->out_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                      on_pipe_readable, run);
      run->err_watch = g_unix_fd_add (run->err_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                      on_pipe_readable, run);
      g_variant_builder_add (&builder, "{sv}", "stdio", g_variant_builder_end (&stdio));
    }

  /* Launch returns once the command runs: a VM boots first, which on a busy machine
   * takes longer than D-Bus's default 25 s (seen at a load of 20). No bound of ours:
   * the test runner's timeout catches a hang. Other calls keep the default. */
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (bus->manager), G_MAXINT);
  launched = csb_dbus_manager_call_launch_sync (bus->manager, project_dir,
                                                command ? command : empty,
                                                g_variant_builder_end (&builder),
                                                with_stdio ? fd_list : NULL,
                                                &run->object_path, NULL, NULL, &local_error);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (bus->manager), -1);
  if (!launched)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  g_assert_true (g_variant_is_object_path (run->object_path));
  run->sandbox = csb_test_bus_get_sandbox (bus, run->object_path);
  return g_steal_pointer (&run);
}

CsbTestRun *
csb_test_launch (CsbTestBus         *bus,
                 const char         *project_dir,
                 const char * const *command,
                 GVariant           *options,
                 gboolean            keep_stdin,
                 GError            **error)
{
  return launch (bus, project_dir, command, options, TRUE, keep_stdin, error);
}

CsbTestRun *
csb_test_launch_pty (CsbTestBus         *bus,
                     const char         *project_dir,
                     const char * const *command,
                     GVariant           *options,
                     GError            **error)
{
  return launch (bus, project_dir, command, options, FALSE, FALSE, error);
}

static gboolean
run_finished (gpointer data)
{
  CsbTestRun *run = data;

  return g_hash_table_contains (exited_statuses, run->object_path) &&
         run->out_fd < 0 && run->err_fd < 0;
}

gboolean
csb_test_run_wait (CsbTestRun *run,
                   guint       timeout_ms)
{
  gboolean done = csb_test_run_until (run_finished, run, timeout_ms);

  if (g_hash_table_contains (exited_statuses, run->object_path))
    {
      run->exited = TRUE;
      run->exit_signal_status =
        GPOINTER_TO_INT (g_hash_table_lookup (exited_statuses, run->object_path)) - 1000;
    }
  return done;
}

typedef struct
{
  CsbTestRun *run;
  const char *needle;
} OutputWait;

static gboolean
output_has (gpointer data)
{
  OutputWait *wait = data;

  return strstr (wait->run->out->str, wait->needle) != NULL;
}

gboolean
csb_test_run_wait_output (CsbTestRun *run,
                          const char *needle,
                          guint       timeout_ms)
{
  OutputWait wait = { run, needle };

  return csb_test_run_until (output_has, &wait, timeout_ms);
}

void
csb_test_run_free (CsbTestRun *run)
{
  if (run == NULL)
    return;
  g_clear_handle_id (&run->out_watch, g_source_remove);
  g_clear_handle_id (&run->err_watch, g_source_remove);
  if (run->stdin_fd >= 0)
    close (run->stdin_fd);
  if (run->out_fd >= 0)
    close (run->out_fd);
  if (run->err_fd >= 0)
    close (run->err_fd);
  g_clear_object (&run->sandbox);
  g_free (run->object_path);
  g_string_free (run->out, TRUE);
  g_string_free (run->err, TRUE);
  g_free (run);
}

char *
csb_test_run_command (CsbTestBus         *bus,
                      const char         *project_dir,
                      const char * const *command,
                      GVariant           *options,
                      int                 expected_status)
{
  return csb_test_run_command_full (bus, project_dir, command, options, expected_status,
                                    CSB_TEST_TIMEOUT_MS);
}

char *
csb_test_run_command_full (CsbTestBus         *bus,
                           const char         *project_dir,
                           const char * const *command,
                           GVariant           *options,
                           int                 expected_status,
                           guint               timeout_ms)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = csb_test_launch (bus, project_dir, command, options, FALSE,
                                               &error);
  gboolean finished;

  g_assert_no_error (error);
  finished = csb_test_run_wait (run, timeout_ms);
  g_test_message ("%s: stdout: %s", run->object_path, run->out->str);
  if (run->err->len > 0)
    g_test_message ("%s: stderr: %s", run->object_path, run->err->str);
  g_assert_true (finished);
  g_assert_true (run->exited);
  g_assert_cmpint (run->exit_signal_status, ==, expected_status);
  g_assert_cmpint (csb_dbus_sandbox_get_exit_status (run->sandbox), ==, expected_status);
  g_assert_cmpstr (csb_dbus_sandbox_get_state (run->sandbox), ==, "exited");
  return g_strdup (run->out->str);
}

/* ---- terminal clients --------------------------------------------------------------- */

static gboolean
on_terminal_readable (int          fd,
                      GIOCondition cond,
                      gpointer     user_data)
{
  CsbTestTerminal *term = user_data;
  char chunk[4096];
  ssize_t n = recv (fd, chunk, sizeof chunk, MSG_DONTWAIT);

  if (n > 0)
    {
      g_string_append_len (term->received, chunk, n);
      return G_SOURCE_CONTINUE;
    }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  term->eof = TRUE;
  term->watch = 0;
  return G_SOURCE_REMOVE;
}

CsbTestTerminal *
csb_test_terminal_open (CsbDBusSandbox *sandbox,
                        GError        **error)
{
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  CsbTestTerminal *term;
  int fd;

  if (!csb_dbus_sandbox_call_open_terminal_sync (sandbox, NULL, &handle, &fds, NULL, error))
    return NULL;
  g_assert_nonnull (fds);
  fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), error);
  if (fd < 0)
    return NULL;
  term = g_new0 (CsbTestTerminal, 1);
  term->fd = fd;
  term->received = g_string_new (NULL);
  g_unix_set_fd_nonblocking (fd, TRUE, NULL);
  term->watch = g_unix_fd_add (fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_terminal_readable, term);
  return term;
}

void
csb_test_terminal_send (CsbTestTerminal *term,
                        const char      *text)
{
  gsize len = strlen (text);

  while (len > 0)
    {
      ssize_t n = send (term->fd, text, len, MSG_NOSIGNAL);

      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      g_assert_cmpint (n, >, 0);
      text += n;
      len -= n;
    }
}

typedef struct
{
  CsbTestTerminal *term;
  const char      *needle;
} TerminalWait;

static gboolean
terminal_has (gpointer data)
{
  TerminalWait *wait = data;

  return strstr (wait->term->received->str, wait->needle) != NULL;
}

gboolean
csb_test_terminal_wait (CsbTestTerminal *term,
                        const char      *needle,
                        guint            timeout_ms)
{
  TerminalWait wait = { term, needle };

  return csb_test_run_until (terminal_has, &wait, timeout_ms);
}

static gboolean
terminal_eof (gpointer data)
{
  return ((CsbTestTerminal *) data)->eof;
}

gboolean
csb_test_terminal_wait_eof (CsbTestTerminal *term,
                            guint            timeout_ms)
{
  return csb_test_run_until (terminal_eof, term, timeout_ms);
}

void
csb_test_terminal_free (CsbTestTerminal *term)
{
  if (term == NULL)
    return;
  g_clear_handle_id (&term->watch, g_source_remove);
  close (term->fd);
  g_string_free (term->received, TRUE);
  g_free (term);
}

const char *
csb_test_error_name (const GError *error)
{
  static char *name;

  if (error == NULL)
    return "(none)";
  g_free (name);
  name = g_dbus_error_get_remote_error (error);
  if (name == NULL)
    name = g_dbus_error_encode_gerror (error);
  return name;
}

/* ---- review mode ------------------------------------------------------------------- */

void
csb_test_review_prepare (const char  *project,
                         const char  *reference,
                         char       **out_before,
                         char       **out_expected)
{
  static const char * const files[][2] = {
    { "a.txt", "hello\n" }, { "b.txt", "bee\n" }, { "del.txt", "delete me\n" },
    { "old.txt", "old\n" }, { "script.sh", "#!/bin/sh\necho hi\n" }, { "gone/x", "x\n" },
    { "gone/y/z", "z\n" }, { "again/old", "old\n" }, { "dir/d/e", "e\n" },
  };
  const char * const direct[] = { "/bin/sh", "-c", CSB_TEST_REVIEW_DIRECT, NULL };
  const char * const roots[] = { project, reference };
  g_autoptr(GError) error = NULL;
  int status;

  for (guint r = 0; r < G_N_ELEMENTS (roots); r++)
    {
      g_autofree char *retarget = g_build_filename (roots[r], "retarget", NULL);

      for (guint i = 0; i < G_N_ELEMENTS (files); i++)
        {
          g_autofree char *path = g_build_filename (roots[r], files[i][0], NULL);
          g_autofree char *dir = g_path_get_dirname (path);

          g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
          csb_test_write_file (path, files[i][1], 0644);
        }
      g_assert_cmpint (symlink ("a.txt", retarget), ==, 0);
    }
  *out_before = csb_test_tree_text (project);
  g_assert_true (g_spawn_sync (reference, (char **) direct, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               NULL, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  *out_expected = csb_test_tree_text (reference);
  g_assert_cmpstr (*out_expected, !=, *out_before);
}

char *
csb_test_review_listing (CsbDBusSandbox *sandbox)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) changes = NULL;
  GString *out = g_string_new (NULL);
  GVariantIter iter;
  const char *path, *kind, *summary;

  g_assert_true (csb_dbus_sandbox_call_get_changes_sync (sandbox, &changes, NULL, &error));
  g_assert_no_error (error);
  g_variant_iter_init (&iter, changes);
  while (g_variant_iter_next (&iter, "(&s&s&s)", &path, &kind, &summary))
    g_string_append_printf (out, "%s %s: %s\n", path, kind, summary);
  return g_string_free (out, FALSE);
}

void
csb_test_review_assert_listed (const char *listing)
{
  static const char * const lines[] = {
    "a.txt modified: ", "new.txt added: ", "del.txt deleted: ", "old.txt deleted: ",
    "renamed.txt added: ", "script.sh modified: mode 0644 → 0755",
    "link added: new symlink → a.txt", "n1 added: ", "n1/n2/f added: ", "gone deleted: ",
    "again/fresh added: ", "again/old deleted: ", "dir deleted: ", "moved added: ",
    "moved/d/e added: ", "retarget modified: symlink → b.txt", "b.txt type-changed: ",
    "b.txt/c added: ", NULL
  };
  g_autofree char *text = g_strconcat ("\n", listing, NULL);

  g_test_message ("changes:\n%s", listing);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autofree char *needle = g_strconcat ("\n", lines[i], NULL);

      if (strstr (text, needle) == NULL)
        g_error ("'%s' is not in the changes:\n%s", lines[i], listing);
    }
}

char *
csb_test_review_diff (CsbDBusSandbox *sandbox,
                      const char     *path)
{
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GError) error = NULL;
  GString *text = g_string_new (NULL);
  char buf[4096];
  ssize_t n;
  int fd;

  g_assert_true (csb_dbus_sandbox_call_get_diff_sync (sandbox, path, NULL, &handle, &fds,
                                                      NULL, &error));
  g_assert_no_error (error);
  fd = g_unix_fd_list_get (fds, 0, &error);
  g_assert_no_error (error);
  while ((n = read (fd, buf, sizeof buf)) > 0)
    g_string_append_len (text, buf, n);
  close (fd);

  /* GetDiffData (a bus over ssh has no descriptors) gives the same bytes, the first
   * 4 MiB of them. */
  {
    g_autoptr(GVariant) data = NULL;
    gboolean truncated;
    gsize length;
    const char *bytes;

    g_assert_true (csb_dbus_sandbox_call_get_diff_data_sync (sandbox, path, &data, &truncated,
                                                             NULL, &error));
    g_assert_no_error (error);
    bytes = g_variant_get_fixed_array (data, &length, 1);
    g_assert_cmpuint (length, ==, MIN (text->len, 4 * 1024 * 1024));
    g_assert_cmpint (truncated, ==, text->len > 4 * 1024 * 1024);
    g_assert_true (length == 0 || memcmp (bytes, text->str, length) == 0);
  }
  return g_string_free (text, FALSE);
}

gboolean
csb_test_review_check_run (CsbTestRun *run,
                           const char *project,
                           const char *before,
                           const char *expected,
                           guint       timeout_ms)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *after = NULL;
  g_autofree char *listing = NULL;
  g_autofree char *running_listing = NULL;
  g_autofree char *applied = NULL;
  g_autofree char *diff = NULL;
  g_autofree char *a_txt = g_build_filename (project, "a.txt", NULL);
  g_autofree char *new_txt = g_build_filename (project, "new.txt", NULL);
  g_autofree char *contents = NULL;
  const char * const all[] = { NULL };
  const char * const two[] = { "a.txt", "new.txt", NULL };
  const char * const a_only[] = { "a.txt", NULL };

  if (!csb_test_run_wait_output (run, "CHANGES-DONE", timeout_ms))
    return FALSE;
  g_assert_cmpstr (csb_dbus_sandbox_get_project_mode (run->sandbox), ==, "review");

  /* While it runs: nothing of it in the real folder, all of it in the list. */
  after = csb_test_tree_text (project);
  g_assert_cmpstr (after, ==, before);
  running_listing = csb_test_review_listing (run->sandbox);
  csb_test_review_assert_listed (running_listing);

  /* Two of them applied while it runs: they land, and only they. */
  csb_dbus_sandbox_call_apply_changes_sync (run->sandbox, two, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (a_txt, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "hello\nchanged\n");
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (new_txt, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "new\n");
  g_clear_pointer (&contents, g_free);
  applied = csb_test_tree_text (project);
  {
    /* Nothing else: every other line of the tree as before, and one line more. */
    g_auto(GStrv) lines_before = g_strsplit (before, "\n", -1);
    g_auto(GStrv) lines_applied = g_strsplit (applied, "\n", -1);

    for (guint i = 0; lines_before[i] != NULL; i++)
      if (!g_str_has_prefix (lines_before[i], "a.txt ") &&
          !g_strv_contains ((const char * const *) lines_applied, lines_before[i]))
        g_error ("'%s' changed by an Apply of a.txt and new.txt:\n%s", lines_before[i],
                 applied);
    g_assert_cmpuint (g_strv_length (lines_applied), ==, g_strv_length (lines_before) + 1);
  }
  listing = csb_test_review_listing (run->sandbox);
  g_assert_null (strstr (listing, "a.txt modified"));
  g_assert_null (strstr (listing, "new.txt added"));
  g_assert_nonnull (strstr (listing, "del.txt deleted"));
  g_clear_pointer (&listing, g_free);

  /* It goes on: a.txt again. */
  g_assert_cmpint (write (run->stdin_fd, "go\n", 3), ==, 3);
  close (run->stdin_fd);
  run->stdin_fd = -1;
  g_assert_true (csb_test_run_wait (run, timeout_ms));
  g_test_message ("stdout: %s\nstderr: %s", run->out->str, run->err->str);
  g_assert_cmpint (run->exit_signal_status, ==, 0);
  g_assert_nonnull (strstr (run->out->str, "after-go"));
  g_assert_true (csb_test_run_until (csb_test_sandbox_ended, run->sandbox, CSB_TEST_TIMEOUT_MS));

  /* After its end: its new change listed, a diff, the folder as the first Apply left it. */
  listing = csb_test_review_listing (run->sandbox);
  g_assert_nonnull (strstr (listing, "a.txt modified"));
  g_assert_null (strstr (listing, "new.txt added"));
  g_assert_nonnull (strstr (listing, "del.txt deleted"));
  g_clear_pointer (&after, g_free);
  after = csb_test_tree_text (project);
  g_assert_cmpstr (after, ==, applied);
  diff = csb_test_review_diff (run->sandbox, "a.txt");
  g_assert_nonnull (strstr (diff, "--- a/a.txt"));
  g_assert_nonnull (strstr (diff, "+go"));

  /* The user edits a.txt meanwhile: Apply refuses, naming it, and applies nothing;
   * Remove refuses while changes are pending. */
  g_assert_cmpint (unlink (a_txt), ==, 0);
  csb_test_write_file (a_txt, "hello\nchanged\nmine\n", 0644);
  g_clear_pointer (&applied, g_free);
  applied = csb_test_tree_text (project);
  csb_dbus_sandbox_call_apply_changes_sync (run->sandbox, all, NULL, &error);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "conflict: a.txt changed"));
  g_clear_error (&error);
  g_clear_pointer (&after, g_free);
  after = csb_test_tree_text (project);
  g_assert_cmpstr (after, ==, applied);
  csb_dbus_sandbox_call_remove_sync (run->sandbox, NULL, &error);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "pending"));
  g_clear_error (&error);

  /* Its a.txt discarded (the user's stays), the rest applied, a.txt merged by hand: as
   * the script run directly leaves the folder; nothing pending; Remove works. */
  csb_dbus_sandbox_call_discard_changes_sync (run->sandbox, a_only, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (a_txt, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "hello\nchanged\nmine\n");
  csb_dbus_sandbox_call_apply_changes_sync (run->sandbox, all, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (unlink (a_txt), ==, 0);
  csb_test_write_file (a_txt, "hello\nchanged\ngo\n", 0644);
  g_clear_pointer (&after, g_free);
  after = csb_test_tree_text (project);
  g_assert_cmpstr (after, ==, expected);
  g_clear_pointer (&listing, g_free);
  listing = csb_test_review_listing (run->sandbox);
  g_assert_cmpstr (listing, ==, "");
  csb_dbus_sandbox_call_remove_sync (run->sandbox, NULL, &error);
  g_assert_no_error (error);
  return TRUE;
}
