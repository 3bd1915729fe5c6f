/* test-bus.c — the D-Bus API of the service, activated in-tree on a private bus.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csb-api.h"
#include "csb-test-utils.h"

typedef struct
{
  CsbTestBus bus;
} Fixture;

static void
fixture_setup (Fixture      *f,
               gconstpointer data)
{
  csb_test_bus_setup (&f->bus, NULL);
}

static void
fixture_setup_keyfile (Fixture      *f,
                       gconstpointer data)
{
  CsbTestBusOptions options = { NULL, FALSE, data };

  csb_test_bus_setup (&f->bus, &options);
}

/* The service binds every symbol of what it loads at once (LD_BIND_NOW): a function
 * the libvirt module calls that the service does not export (csb-module-api.h) fails
 * its loading, not a later call. */
static void
fixture_setup_bind_now (Fixture      *f,
                        gconstpointer data)
{
  const char * const env[] = { "LD_BIND_NOW=1", NULL };
  CsbTestBusOptions options = { env, FALSE, NULL };

  csb_test_bus_setup (&f->bus, &options);
}

static void
fixture_teardown (Fixture      *f,
                  gconstpointer data)
{
  csb_test_bus_teardown (&f->bus);
}

static guint
n_sandboxes (Fixture *f)
{
  GList *objects = g_dbus_object_manager_get_objects (f->bus.object_manager);
  guint n = g_list_length (objects);

  g_list_free_full (objects, g_object_unref);
  return n;
}

/* Nothing of a sandbox on disk: no state or runtime folder of its own. The projects'
 * Claude homes stay, they belong to no sandbox. */
static void
assert_no_sandbox_dirs (Fixture *f)
{
  g_autofree char *state = g_build_filename (f->bus.dirs.state, "claude-sandbox", NULL);
  g_autofree char *runtime = g_build_filename (f->bus.dirs.runtime, "claude-sandbox", NULL);
  g_autofree char *state_entries = csb_test_list_dir (state);
  g_autofree char *runtime_entries = csb_test_list_sandbox_dirs (runtime);

  if (g_str_equal (state_entries, "claude-home"))
    state_entries[0] = '\0';
  if (*state_entries != '\0' || *runtime_entries != '\0')
    {
      g_autofree char *later_state = NULL;
      g_autofree char *later_runtime = NULL;

      /* Say whether they go later (a clean-up racing the error reply) or stay. */
      csb_test_sleep_ms (2000);
      later_state = csb_test_list_dir (state);
      later_runtime = csb_test_list_sandbox_dirs (runtime);
      g_test_message ("left behind when Launch failed: state '%s', runtime '%s'; "
                      "2 s later: state '%s', runtime '%s'", state_entries, runtime_entries,
                      later_state, later_runtime);
    }
  g_assert_cmpstr (state_entries, ==, "");
  g_assert_cmpstr (runtime_entries, ==, "");
}

static void
test_activation (Fixture      *f,
                 gconstpointer data)
{
  g_autofree char *exe_link = NULL;
  g_autofree char *exe = NULL;
  g_autofree char *expected = realpath (g_getenv ("CSB_TEST_SERVICE"), NULL);
  g_autofree char *owner = NULL;

  /* Setup checked that nobody owns the name yet; a call activates the service. */
  csb_test_bus_activate (&f->bus);
  g_assert_cmpuint (f->bus.service_pid, >, 0);
  g_assert_cmpuint (f->bus.service_pid, !=, getpid ());

  /* The binary of this build tree, through the real .service file. */
  exe_link = g_strdup_printf ("/proc/%u/exe", f->bus.service_pid);
  exe = g_file_read_link (exe_link, NULL);
  g_assert_nonnull (expected);
  g_assert_cmpstr (exe, ==, expected);
  owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (f->bus.manager));
  g_assert_nonnull (owner);
  g_assert_cmpuint (n_sandboxes (f), ==, 0);
}

static void
test_version (Fixture      *f,
              gconstpointer data)
{
  csb_test_bus_activate (&f->bus);
  g_assert_cmpstr (csb_dbus_manager_get_version (f->bus.manager), ==, PACKAGE_VERSION);
  /* The API's version, as the XML documents it (test-protections compares the two). */
  g_assert_cmpuint (csb_dbus_manager_get_interface_version (f->bus.manager), ==,
                    CSB_MANAGER_INTERFACE_VERSION);
}

static void
test_get_backends (Fixture      *f,
                   gconstpointer data)
{
  g_autoptr(GVariant) backends = NULL;
  g_autoptr(GError) error = NULL;
  GVariantIter iter;
  const char *name, *detail;
  gboolean available;
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  gboolean bwrap_available = FALSE;

  csb_test_bus_activate (&f->bus);
  g_assert_true (csb_dbus_manager_call_get_backends_sync (f->bus.manager, &backends, NULL,
                                                          &error));
  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (backends, G_VARIANT_TYPE ("a(sbs)")));

  g_variant_iter_init (&iter, backends);
  while (g_variant_iter_next (&iter, "(&sb&s)", &name, &available, &detail))
    {
      g_test_message ("backend %s: %s: %s", name, available ? "available" : "unavailable",
                      detail);
      g_ptr_array_add (names, (gpointer) name);
      /* Available or not, the user is told what it uses or why not. */
      g_assert_cmpstr (detail, !=, "");
      /* Not available perhaps, but not for want of the module or a symbol of it. */
      g_assert_null (strstr (detail, "cannot load"));
      g_assert_null (strstr (detail, "missing from its module"));
      if (g_str_equal (name, "bwrap"))
        {
          bwrap_available = available;
          g_assert_nonnull (strstr (detail, "bwrap"));
        }
    }
  g_assert_cmpuint (names->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (names, 0), ==, "bwrap");
  g_assert_cmpstr (g_ptr_array_index (names, 1), ==, "vm");
  g_assert_cmpstr (g_ptr_array_index (names, 2), ==, "container");
  /* bubblewrap is installed on every machine these tests run on (build-aux/setup.sh). */
  g_assert_true (bwrap_available);
}

/* ---- bad input -------------------------------------------------------------------- */

typedef struct
{
  const char *path;
  const char *dir;        /* project, relative, missing, file, root, home, home-parent, empty */
  const char *command;    /* space-separated; NULL: empty */
  const char *options;    /* GVariant text of the a{sv} */
  int         code;
  const char *message;
} ErrorCase;

static const ErrorCase error_cases[] = {
  { "/bus/errors/unknown-option", "project", "true", "{'bogus': <true>}",
    CSB_ERROR_INVALID_ARGUMENT, "unknown option 'bogus'" },
  { "/bus/errors/wrong-type", "project", "true", "{'network': <'no'>}",
    CSB_ERROR_INVALID_ARGUMENT, "'network' must be of type 'b'" },
  { "/bus/errors/wrong-type-stdio", "project", "true", "{'stdio': <{0: 'x'}>}",
    CSB_ERROR_INVALID_ARGUMENT, "'stdio' must be of type 'a{uh}'" },
  { "/bus/errors/bad-backend", "project", "true", "{'backend': <'docker'>}",
    CSB_ERROR_INVALID_ARGUMENT, "unknown backend 'docker'" },
  { "/bus/errors/bad-env-name", "project", "true", "{'env': <{'A-B': 'x'}>}",
    CSB_ERROR_INVALID_ARGUMENT, "'A-B' is not a valid variable name" },
  { "/bus/errors/relative-bind", "project", "true", "{'ro-binds': <['usr']>}",
    CSB_ERROR_INVALID_ARGUMENT, "not an absolute path" },
  { "/bus/errors/shell-with-command", "project", "ls", "{'shell': <true>}",
    CSB_ERROR_INVALID_ARGUMENT, "shell" },
  { "/bus/errors/empty-program", "project", "@EMPTY@ x", "{}",
    CSB_ERROR_INVALID_ARGUMENT, "empty" },
  { "/bus/errors/relative-dir", "relative", "true", "{}",
    CSB_ERROR_INVALID_ARGUMENT, "not an absolute path" },
  { "/bus/errors/empty-dir", "empty", "true", "{}",
    CSB_ERROR_INVALID_ARGUMENT, "" },
  { "/bus/errors/missing-dir", "missing", "true", "{}",
    CSB_ERROR_INVALID_ARGUMENT, "does not exist" },
  { "/bus/errors/file-dir", "file", "true", "{}",
    CSB_ERROR_INVALID_ARGUMENT, "is not a folder" },
  { "/bus/errors/root-dir", "root", "true", "{}",
    CSB_ERROR_INVALID_ARGUMENT, "root folder" },
  { "/bus/errors/home-dir", "home", "true", "{}",
    CSB_ERROR_INVALID_ARGUMENT, "is your home folder" },
  { "/bus/errors/home-parent-dir", "home-parent", "true", "{}",
    CSB_ERROR_INVALID_ARGUMENT, "contains your home folder" },
  { "/bus/errors/proc-dir", "proc", "true", "{}",
    CSB_ERROR_INVALID_ARGUMENT, "system folder" },
  /* Asked for by name, what the backend cannot give is refused, naming both; no VM or
   * container is started for it. */
  { "/bus/errors/vm-gpu", "project", "true", "{'backend': <'vm'>, 'gpu': <true>}",
    CSB_ERROR_BACKEND_UNAVAILABLE, "option 'gpu' is not available with the vm backend" },
  { "/bus/errors/container-gpu", "project", "true", "{'backend': <'container'>, 'gpu': <true>}",
    CSB_ERROR_BACKEND_UNAVAILABLE, "option 'gpu' is not available with the container backend" },
  { "/bus/errors/vm-audio", "project", "true", "{'backend': <'vm'>, 'audio': <true>}",
    CSB_ERROR_BACKEND_UNAVAILABLE, "option 'audio' is not available with the vm backend" },
  { "/bus/errors/vm-ssh-agent", "project", "true", "{'backend': <'vm'>, 'ssh-agent': <true>}",
    CSB_ERROR_BACKEND_UNAVAILABLE, "option 'ssh-agent' is not available with the vm backend" },
  /* Refused only once the sandbox's folders exist: nothing may stay behind. */
  { "/bus/failed-launch/home-bind", "project", "true", "{'rw-binds': <['@HOME@']>}",
    CSB_ERROR_INVALID_ARGUMENT, "home folder" },
  { "/bus/failed-launch/home-bind-pty", "project", "true", "{'rw-binds': <['@HOME@']>}",
    CSB_ERROR_INVALID_ARGUMENT, "home folder" },
  { "/bus/failed-launch/missing-bind", "project", "true", "{'ro-binds': <['/nonexistent/csb']>}",
    CSB_ERROR_INVALID_ARGUMENT, "does not exist" },
};

static char *
case_dir (Fixture    *f,
          const char *kind)
{
  if (g_str_equal (kind, "project"))
    return csb_test_make_project (&f->bus.dirs, "project");
  if (g_str_equal (kind, "relative"))
    return g_strdup ("projects/project");
  if (g_str_equal (kind, "empty"))
    return g_strdup ("");
  if (g_str_equal (kind, "missing"))
    return g_build_filename (f->bus.dirs.projects, "missing", NULL);
  if (g_str_equal (kind, "file"))
    {
      char *path = g_build_filename (f->bus.dirs.projects, "file.txt", NULL);
      csb_test_write_file (path, "x", 0644);
      return path;
    }
  if (g_str_equal (kind, "root"))
    return g_strdup ("/");
  if (g_str_equal (kind, "home"))
    return g_strdup (f->bus.dirs.home);
  if (g_str_equal (kind, "home-parent"))
    return g_strdup (f->bus.dirs.root);
  if (g_str_equal (kind, "proc"))
    return g_strdup ("/proc");
  g_assert_not_reached ();
}

static void
test_error_case (Fixture      *f,
                 gconstpointer data)
{
  const ErrorCase *c = data;
  g_autofree char *dir = case_dir (f, c->dir);
  g_auto(GStrv) command = c->command ? g_strsplit (c->command, " ", -1) : g_new0 (char *, 1);
  g_autoptr(GString) options_text = g_string_new (c->options);
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;

  if (command[0] != NULL && g_str_equal (command[0], "@EMPTY@"))
    command[0][0] = '\0';
  g_string_replace (options_text, "@HOME@", f->bus.dirs.home, 0);
  options = g_variant_parse (G_VARIANT_TYPE_VARDICT, options_text->str, NULL, NULL, &error);
  g_assert_no_error (error);

  if (g_str_has_suffix (c->path, "-pty"))
    run = csb_test_launch_pty (&f->bus, dir, (const char * const *) command, options, &error);
  else
    run = csb_test_launch (&f->bus, dir, (const char * const *) command, options, FALSE,
                           &error);
  g_assert_null (run);
  g_test_message ("error: %s", error->message);
  g_assert_error (error, CSB_ERROR, c->code);
  g_assert_nonnull (strstr (error->message, c->message));
  g_assert_true (g_dbus_error_is_remote_error (error) ||
                 g_str_has_prefix (csb_test_error_name (error), "org.example.ClaudeSandbox.Error."));
  g_assert_cmpstr (csb_test_error_name (error), ==,
                   c->code == CSB_ERROR_BACKEND_UNAVAILABLE
                     ? "org.example.ClaudeSandbox.Error.BackendUnavailable"
                     : "org.example.ClaudeSandbox.Error.InvalidArgument");

  /* Launch failed: no object, nothing on disk. */
  g_assert_cmpuint (n_sandboxes (f), ==, 0);
  assert_no_sandbox_dirs (f);
}

static void
test_stdio_tty (Fixture      *f,
                gconstpointer data)
{
  g_autofree char *dir = csb_test_make_project (&f->bus.dirs, "project");
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  const char * const command[] = { "true", NULL };
  int master, slave;

  csb_test_bus_activate (&f->bus);
  master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (master, >=, 0);
  g_assert_cmpint (grantpt (master), ==, 0);
  g_assert_cmpint (unlockpt (master), ==, 0);
  slave = open (ptsname (master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (slave, >=, 0);
  g_unix_fd_list_append (fds, slave, NULL);

  g_assert_false (csb_dbus_manager_call_launch_sync (f->bus.manager, dir, command,
                                                     g_variant_new_parsed ("{'stdio': <{uint32 1: handle 0}>}"),
                                                     fds, &path, NULL, NULL, &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "terminal"));
  g_assert_cmpuint (n_sandboxes (f), ==, 0);
  close (slave);
  close (master);
}

static void
test_claude_not_found (Fixture      *f,
                       gconstpointer data)
{
  g_autofree char *dir = csb_test_make_project (&f->bus.dirs, "project");
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;

  if (data == NULL && (g_file_test ("/usr/local/bin/claude", G_FILE_TEST_EXISTS) ||
                       g_file_test ("/usr/bin/claude", G_FILE_TEST_EXISTS)))
    {
      g_test_skip ("claude is installed system-wide here; it cannot be missing");
      return;
    }
  /* An empty command is the default command: claude. */
  run = csb_test_launch (&f->bus, dir, NULL, NULL, FALSE, &error);
  g_assert_null (run);
  g_test_message ("error: %s", error->message);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_NOT_FOUND);
  g_assert_cmpstr (csb_test_error_name (error), ==, "org.example.ClaudeSandbox.Error.NotFound");
  if (data == NULL)
    g_assert_nonnull (strstr (error->message, "npm install -g --prefix ~/.local/share/claude-sandbox/npm @anthropic-ai/claude-code"));
  else
    g_assert_nonnull (strstr (error->message, "/nonexistent/claude"));
  g_assert_cmpuint (n_sandboxes (f), ==, 0);
  assert_no_sandbox_dirs (f);
}

/* ---- sandbox objects ---------------------------------------------------------------- */

typedef struct
{
  char *added;
  char *removed;
} ObjectEvents;

static void
on_object_added (GDBusObjectManager *manager,
                 GDBusObject        *object,
                 gpointer            user_data)
{
  ObjectEvents *events = user_data;

  g_free (events->added);
  events->added = g_strdup (g_dbus_object_get_object_path (object));
}

static void
on_object_removed (GDBusObjectManager *manager,
                   GDBusObject        *object,
                   gpointer            user_data)
{
  ObjectEvents *events = user_data;

  g_free (events->removed);
  events->removed = g_strdup (g_dbus_object_get_object_path (object));
}

static gboolean
removed_seen (gpointer data)
{
  return ((ObjectEvents *) data)->removed != NULL;
}

static gboolean
added_seen (gpointer data)
{
  return ((ObjectEvents *) data)->added != NULL;
}

static void
test_object_manager (Fixture      *f,
                     gconstpointer data)
{
  g_autofree char *dir = csb_test_make_project (&f->bus.dirs, "real-project");
  g_autofree char *link = g_build_filename (f->bus.dirs.root, "link", NULL);
  const char * const command[] = { "sh", "-c", "echo started; exec sleep 1000", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GDBusObject) object = NULL;
  g_autofree char *id = NULL;
  g_autofree char *runtime = NULL;
  g_autofree char *state = NULL;
  g_autofree char *proc = NULL;
  ObjectEvents events = { NULL, NULL };
  CsbDBusSandbox *sandbox;
  const char * const *protections;
  gint64 before = g_get_real_time ();

  g_assert_cmpint (symlink (dir, link), ==, 0);
  csb_test_bus_activate (&f->bus);
  g_signal_connect (f->bus.object_manager, "object-added", G_CALLBACK (on_object_added), &events);
  g_signal_connect (f->bus.object_manager, "object-removed", G_CALLBACK (on_object_removed),
                    &events);

  run = csb_test_launch (&f->bus, link, command,
                         g_variant_new_parsed ("{'name': <'my sandbox'>, 'network': <false>}"),
                         FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_until (added_seen, &events, CSB_TEST_TIMEOUT_MS));
  /* Stopping a command that has not started yet is /sandbox/bwrap/stop/right-after-launch. */
  g_assert_true (csb_test_run_wait_output (run, "started\n", CSB_TEST_TIMEOUT_MS));
  g_assert_cmpstr (events.added, ==, run->object_path);

  object = g_dbus_object_manager_get_object (f->bus.object_manager, run->object_path);
  g_assert_nonnull (object);
  sandbox = csb_dbus_object_peek_sandbox (CSB_DBUS_OBJECT (object));
  g_assert_nonnull (sandbox);
  id = g_path_get_basename (run->object_path);
  g_assert_true (g_str_has_prefix (run->object_path, CSB_SANDBOX_PATH_PREFIX));
  g_assert_cmpstr (csb_dbus_sandbox_get_id (sandbox), ==, id);
  g_assert_cmpuint (csb_dbus_sandbox_get_interface_version (sandbox), ==,
                    CSB_SANDBOX_INTERFACE_VERSION);
  g_assert_cmpstr (csb_dbus_sandbox_get_name (sandbox), ==, "my sandbox");
  g_assert_cmpstr (csb_dbus_sandbox_get_backend (sandbox), ==, "bwrap");
  /* The symlink is resolved: the sandbox sees the real path. */
  g_assert_cmpstr (csb_dbus_sandbox_get_project_dir (sandbox), ==, dir);
  g_assert_cmpstrv (csb_dbus_sandbox_get_command (sandbox), command);
  g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "running");
  g_assert_cmpint (csb_dbus_sandbox_get_exit_status (sandbox), ==, -1);
  g_assert_false (csb_dbus_sandbox_get_network (sandbox));
  g_assert_false (csb_dbus_sandbox_get_gh_token (sandbox));
  g_assert_cmpstr (csb_dbus_sandbox_get_display (sandbox), ==, "");
  g_assert_cmpstr (csb_dbus_sandbox_get_error (sandbox), ==, "");
  g_assert_cmpuint (csb_dbus_sandbox_get_started_at (sandbox), >=, (guint64) before);
  g_assert_cmpuint (csb_dbus_sandbox_get_started_at (sandbox), <=, (guint64) g_get_real_time ());
  g_assert_cmpuint (csb_dbus_sandbox_get_pid (sandbox), >, 0);
  proc = g_strdup_printf ("/proc/%u", csb_dbus_sandbox_get_pid (sandbox));
  g_assert_true (g_file_test (proc, G_FILE_TEST_IS_DIR));
  protections = csb_dbus_sandbox_get_protections (sandbox);
  g_assert_nonnull (protections);
  g_assert_true (g_strv_contains (protections, "pid-namespace"));
  g_assert_true (g_strv_contains (protections, "no-network"));

  runtime = g_build_filename (f->bus.dirs.runtime, "claude-sandbox", id, NULL);
  state = g_build_filename (f->bus.dirs.state, "claude-sandbox", id, NULL);
  g_assert_true (g_file_test (runtime, G_FILE_TEST_IS_DIR));
  g_assert_true (g_file_test (state, G_FILE_TEST_IS_DIR));

  /* Remove is refused while it runs. */
  g_assert_false (csb_dbus_sandbox_call_remove_sync (sandbox, NULL, &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_FAILED);
  g_clear_error (&error);

  g_assert_true (csb_dbus_sandbox_call_stop_sync (sandbox, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpint (run->exit_signal_status, ==, 128 + 15);
  g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "exited");
  g_assert_cmpuint (csb_dbus_sandbox_get_pid (sandbox), ==, 0);
  g_assert_null (events.removed);

  g_assert_true (csb_dbus_sandbox_call_remove_sync (sandbox, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (csb_test_run_until (removed_seen, &events, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpstr (events.removed, ==, run->object_path);
  g_assert_cmpuint (n_sandboxes (f), ==, 0);
  /* The runtime folder (sockets, copies) goes once it ended; the logs stay. */
  for (guint i = 0; i < 500 && g_file_test (runtime, G_FILE_TEST_EXISTS); i++)
    csb_test_sleep_ms (10);
  g_assert_false (g_file_test (runtime, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (state, G_FILE_TEST_IS_DIR));

  g_signal_handlers_disconnect_by_data (f->bus.object_manager, &events);
  g_free (events.added);
  g_free (events.removed);
}

static void
test_ended_sandbox_errors (Fixture      *f,
                           gconstpointer data)
{
  g_autofree char *dir = csb_test_make_project (&f->bus.dirs, "project");
  const char * const command[] = { "true", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GVariant) handle = NULL;

  run = csb_test_launch (&f->bus, dir, command, NULL, FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpint (run->exit_signal_status, ==, 0);

  g_assert_false (csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING);
  g_assert_cmpstr (csb_test_error_name (error), ==, "org.example.ClaudeSandbox.Error.NotRunning");
  g_clear_error (&error);

  /* Started with stdio: no terminal. */
  g_assert_false (csb_dbus_sandbox_call_open_terminal_sync (run->sandbox, NULL, &handle, NULL,
                                                            NULL, &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING);
  g_clear_error (&error);
  g_assert_false (csb_dbus_sandbox_call_resize_terminal_sync (run->sandbox, 80, 24, NULL,
                                                              &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING);
  g_clear_error (&error);
  g_assert_false (csb_dbus_sandbox_call_resize_terminal_sync (run->sandbox, 0, 24, NULL, &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (csb_dbus_sandbox_call_resize_terminal_sync (run->sandbox, 80, 1001, NULL,
                                                              &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (csb_dbus_sandbox_call_open_display_sync (run->sandbox, NULL, &handle, NULL,
                                                           NULL, &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING);
  g_clear_error (&error);

  g_assert_true (csb_dbus_sandbox_call_remove_sync (run->sandbox, NULL, &error));
  g_assert_no_error (error);
}

static void
test_open_terminal_stdio_running (Fixture      *f,
                                  gconstpointer data)
{
  g_autofree char *dir = csb_test_make_project (&f->bus.dirs, "project");
  const char * const command[] = { "sleep", "1000", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GVariant) handle = NULL;

  run = csb_test_launch (&f->bus, dir, command, NULL, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (csb_dbus_sandbox_get_state (run->sandbox), ==, "running");
  g_assert_false (csb_dbus_sandbox_call_open_terminal_sync (run->sandbox, NULL, &handle, NULL,
                                                            NULL, &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING);
  g_clear_error (&error);
  /* A bwrap sandbox has no VM display to connect to (and says so). */
  g_assert_false (csb_dbus_sandbox_call_open_display_sync (run->sandbox, NULL, &handle, NULL,
                                                           NULL, &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING);
  g_assert_nonnull (strstr (error->message, "no display"));
  g_clear_error (&error);

  g_assert_true (csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
}

/* The fixture puts back the environment it changed for the bus and the service: one
 * test's (a fault's CSB_DBUS_PROXY=/bin/false, the folders, PATH) never reaches the
 * next in the same program. (setenv, not g_setenv: GLib warns once GDBus's thread
 * runs; here nothing else reads the environment.) */
static void
test_fixture_restores_environment (void)
{
  const char * const env[] = { "CSB_TEST_SET=1", "CSB_TEST_CHANGED=2", "CSB_TEST_UNSET", NULL };
  CsbTestBusOptions options = { env, FALSE, NULL };
  const char * const names[] = { "HOME", "XDG_RUNTIME_DIR", "XDG_STATE_HOME", "PATH",
                                 "GSETTINGS_BACKEND", "CSB_TEST_SET", "CSB_TEST_CHANGED",
                                 "CSB_TEST_UNSET" };
  char *before[G_N_ELEMENTS (names)];
  CsbTestBus bus;

  unsetenv ("CSB_TEST_SET");
  setenv ("CSB_TEST_CHANGED", "before", 1);
  setenv ("CSB_TEST_UNSET", "before", 1);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    before[i] = g_strdup (g_getenv (names[i]));

  csb_test_bus_setup (&bus, &options);
  g_assert_cmpstr (g_getenv ("CSB_TEST_SET"), ==, "1");
  g_assert_cmpstr (g_getenv ("CSB_TEST_CHANGED"), ==, "2");
  g_assert_null (g_getenv ("CSB_TEST_UNSET"));
  g_assert_cmpstr (g_getenv ("HOME"), ==, bus.dirs.home);
  csb_test_bus_teardown (&bus);

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_test_message ("%s: %s", names[i], before[i] ? before[i] : "(unset)");
      g_assert_cmpstr (g_getenv (names[i]), ==, before[i]);
      g_free (before[i]);
    }
  unsetenv ("CSB_TEST_CHANGED");
  unsetenv ("CSB_TEST_UNSET");
}

int
main (int   argc,
      char *argv[])
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  /* Registers the error domain, so remote errors come back as CSB_ERROR. */
  (void) CSB_ERROR;

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/bus/activation", test_activation);
  g_test_add_func ("/bus/fixture/restores-environment", test_fixture_restores_environment);
  ADD ("/bus/version", test_version);
  g_test_add ("/bus/get-backends", Fixture, NULL, fixture_setup_bind_now, test_get_backends,
              fixture_teardown);
  for (guint i = 0; i < G_N_ELEMENTS (error_cases); i++)
    if (g_str_has_prefix (error_cases[i].path, "/bus/errors/"))
      g_test_add (error_cases[i].path, Fixture, &error_cases[i], fixture_setup, test_error_case,
                  fixture_teardown);
  ADD ("/bus/errors/stdio-tty", test_stdio_tty);
  ADD ("/bus/sandbox/object-manager", test_object_manager);
  ADD ("/bus/sandbox/ended-errors", test_ended_sandbox_errors);
  ADD ("/bus/sandbox/open-terminal-stdio", test_open_terminal_stdio_running);
  /* Refused once the sandbox's folders exist: nothing may be left of it. */
  for (guint i = 0; i < G_N_ELEMENTS (error_cases); i++)
    if (g_str_has_prefix (error_cases[i].path, "/bus/failed-launch/"))
      g_test_add (error_cases[i].path, Fixture, &error_cases[i], fixture_setup, test_error_case,
                  fixture_teardown);
  ADD ("/bus/failed-launch/claude-not-found", test_claude_not_found);
  g_test_add ("/bus/failed-launch/claude-path-setting", Fixture,
              "[org/example/ClaudeSandbox]\nclaude-path='/nonexistent/claude'\n",
              fixture_setup_keyfile, test_claude_not_found, fixture_teardown);
#undef ADD

  return g_test_run ();
}
