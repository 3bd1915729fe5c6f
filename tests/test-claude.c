/* test-claude.c — the real Claude Code inside a sandbox, found where users install it;
 * Claude Code at work on a stand-in of its API; the README's gdbus example; the
 * claude-sandbox CLI.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "csb-test-claude-api.h"
#include "csb-test-utils.h"

typedef enum
{
  FIND_ON_PATH,        /* the service's PATH has claude's folder */
  FIND_NPM_GLOBAL,     /* ~/.npm-global/bin/claude */
  FIND_NPMRC_PREFIX,   /* prefix=… in ~/.npmrc */
  FIND_OWN_PREFIX,     /* $XDG_DATA_HOME/claude-sandbox/npm, where run.sh installs it */
} FindMode;

typedef struct
{
  CsbTestBus bus;
  char      *project;
} Fixture;

static void
fixture_setup (Fixture      *f,
               gconstpointer data)
{
  FindMode mode = GPOINTER_TO_INT (data);
  CsbTestBusOptions options = { NULL, mode == FIND_ON_PATH && csb_test_find_claude (), NULL };

  csb_test_bus_setup (&f->bus, &options);
  f->project = csb_test_make_project (&f->bus.dirs, "project");
}

static void
fixture_teardown (Fixture      *f,
                  gconstpointer data)
{
  csb_test_bus_teardown (&f->bus);
  g_free (f->project);
}

static void
test_version (Fixture      *f,
              gconstpointer data)
{
  FindMode mode = GPOINTER_TO_INT (data);
  const char * const command[] = { "claude", "--version", NULL };
  g_autofree char *out = NULL;
  const char *claude;

  if (!csb_test_require_claude ())
    return;
  claude = csb_test_find_claude ();
  g_test_message ("Claude Code on this machine: %s", claude);

  if (mode == FIND_NPM_GLOBAL)
    {
      /* The service's home (a test folder) gets ~/.npm-global/bin/claude, as
       * `npm install -g` with prefix ~/.npm-global makes it. */
      g_autofree char *bin = g_build_filename (f->bus.dirs.home, ".npm-global", "bin", NULL);
      g_autofree char *link = g_build_filename (bin, "claude", NULL);
      g_autofree char *target = realpath (claude, NULL);

      g_assert_nonnull (target);
      g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
      g_assert_cmpint (symlink (target, link), ==, 0);
    }
  else if (mode == FIND_OWN_PREFIX)
    {
      /* As build-aux/run.sh installs it: npm install -g --prefix
       * $XDG_DATA_HOME/claude-sandbox/npm (the test's XDG_DATA_HOME). */
      g_autofree char *bin = g_build_filename (f->bus.dirs.data, "claude-sandbox", "npm", "bin",
                                               NULL);
      g_autofree char *link = g_build_filename (bin, "claude", NULL);
      g_autofree char *target = realpath (claude, NULL);

      g_assert_nonnull (target);
      g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
      g_assert_cmpint (symlink (target, link), ==, 0);
    }
  else if (mode == FIND_NPMRC_PREFIX)
    {
      g_autofree char *bin = g_path_get_dirname (claude);
      g_autofree char *prefix = g_path_get_dirname (bin);
      g_autofree char *node_modules = g_build_filename (prefix, "lib", "node_modules", NULL);
      g_autofree char *npmrc = g_build_filename (f->bus.dirs.home, ".npmrc", NULL);
      g_autofree char *text = g_strdup_printf ("prefix=%s\n", prefix);

      if (!g_file_test (node_modules, G_FILE_TEST_IS_DIR))
        {
          g_test_skip ("this Claude Code was not installed by npm (no PREFIX/lib/node_modules)");
          return;
        }
      csb_test_write_file (npmrc, text, 0644);
    }

  out = csb_test_run_command (&f->bus, f->project, command,
                              g_variant_new_parsed ("{'network': <false>}"), 0);
  g_assert_nonnull (strstr (out, "Claude Code"));
}

/* The scripting example of DESIGN.md and the README, as it stands. */
static void
test_gdbus_example (Fixture      *f,
                    gconstpointer data)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autofree char *id = NULL;
  g_autofree char *log_path = NULL;
  g_autofree char *log = NULL;
  const char *start, *end;
  g_autofree char *path = NULL;
  int wait_status;
  const char *argv[] = {
    "gdbus", "call", "--session", "--dest", CSB_BUS_NAME,
    "--object-path", CSB_MANAGER_PATH,
    "--method", CSB_MANAGER_INTERFACE ".Launch",
    f->project, "['claude','--version']", "{'network': <false>}", NULL
  };

  if (!csb_test_require_claude ())
    return;
  csb_test_bus_activate (&f->bus);
  g_assert_true (g_spawn_sync (f->project, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               &out, &err, &wait_status, &error));
  g_assert_no_error (error);
  g_test_message ("gdbus: %s%s", out, err);
  g_assert_true (g_spawn_check_wait_status (wait_status, NULL));

  start = strstr (out, "'" CSB_SANDBOX_PATH_PREFIX);
  g_assert_nonnull (start);
  end = strchr (start + 1, '\'');
  g_assert_nonnull (end);
  path = g_strndup (start + 1, end - start - 1);

  sandbox = csb_test_bus_get_sandbox (&f->bus, path);
  g_assert_true (csb_test_run_until (csb_test_sandbox_ended, sandbox, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "exited");
  g_assert_cmpint (csb_dbus_sandbox_get_exit_status (sandbox), ==, 0);

  /* Without stdio it ran on the service's pty, whose log holds what it printed. */
  id = g_path_get_basename (path);
  log_path = g_build_filename (f->bus.dirs.state, "claude-sandbox", id, "terminal.log", NULL);
  g_assert_true (g_file_get_contents (log_path, &log, NULL, NULL));
  g_assert_nonnull (strstr (log, "Claude Code"));
}

/* Claude Code at work: its Messages API a local stand-in reached through a filtered
 * network, its tools (Write, Edit, Bash) running inside the bwrap sandbox. */
static void
test_agent (Fixture      *f,
            gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GVariant) metrics = NULL;
  g_autoptr(GVariantDict) dict = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  guint32 turns = 0, requests = 0;
  guint64 input = 0, output = 0;

  path = csb_test_claude_agent_scenario (&f->bus, f->project, NULL, 2 * CSB_TEST_TIMEOUT_MS);
  if (path == NULL)
    return;

  /* What Claude Code recorded of its session: one prompt, the stand-in's five answers
   * (four tool calls and the final text), each 100 tokens in and 20 out. */
  sandbox = csb_test_bus_get_sandbox (&f->bus, path);
  g_assert_true (csb_dbus_sandbox_call_get_metrics_sync (sandbox, &metrics, NULL, &error));
  g_assert_no_error (error);
  text = g_variant_print (metrics, TRUE);
  g_test_message ("metrics: %s", text);
  dict = g_variant_dict_new (metrics);
  g_assert_true (g_variant_dict_lookup (dict, "claude-turns", "u", &turns));
  g_assert_true (g_variant_dict_lookup (dict, "claude-requests", "u", &requests));
  g_assert_true (g_variant_dict_lookup (dict, "claude-input-tokens", "t", &input));
  g_assert_true (g_variant_dict_lookup (dict, "claude-output-tokens", "t", &output));
  g_assert_cmpuint (turns, ==, 1);
  g_assert_cmpuint (requests, ==, 5);
  g_assert_cmpuint (input, ==, 500);
  g_assert_cmpuint (output, ==, 100);
}

/* ---- the CLI ---------------------------------------------------------------------------- */

/* The CLI with @args, and @setenv ("NAME=VALUE", or NULL) added to our environment. */
static void
on_communicated (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static gboolean
run_cli_env (const char * const *args,
             const char         *setenv,
             char              **out,
             char              **err,
             int                *exit_status)
{
  const char *cli = g_getenv ("CSB_TEST_CLI");
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  if (cli == NULL || !g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    {
      /* It is part of the project: missing is a failure, not a skip. */
      g_test_fail_printf ("the CLI claude-sandbox is missing (%s)", cli ? cli : "CSB_TEST_CLI unset");
      return FALSE;
    }
  g_ptr_array_add (argv, (gpointer) cli);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  /* No terminal anywhere: the CLI hands the sandbox its pipes. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                       G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                       G_SUBPROCESS_FLAGS_STDERR_PIPE);
  if (setenv != NULL)
    {
      g_autofree char *name = g_strndup (setenv, strchr (setenv, '=') - setenv);

      g_subprocess_launcher_setenv (launcher, name, strchr (setenv, '=') + 1, TRUE);
    }
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  /* Our main context runs meanwhile: a service of the test's own answers from it. */
  g_subprocess_communicate_utf8_async (process, NULL, NULL, on_communicated, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_subprocess_communicate_utf8_finish (process, result, out, err, &error);
  g_assert_no_error (error);
  g_test_message ("claude-sandbox: stdout: %s\nstderr: %s", *out, *err);
  g_assert_true (g_subprocess_get_if_exited (process));
  *exit_status = g_subprocess_get_exit_status (process);
  return TRUE;
}

static gboolean
run_cli (const char * const *args,
         char              **out,
         char              **err,
         int                *exit_status)
{
  return run_cli_env (args, NULL, out, err, exit_status);
}

static void
test_cli_command (Fixture      *f,
                  gconstpointer data)
{
  const char * const args[] = {
    "--no-network", "--command", f->project, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3", NULL
  };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;

  if (!run_cli (args, &out, &err, &status))
    return;
  g_assert_cmpstr (out, ==, "hi\n");
  g_assert_nonnull (strstr (err, "oops"));
  g_assert_cmpint (status, ==, 3);
}

static void
test_cli_claude_version (Fixture      *f,
                         gconstpointer data)
{
  const char * const args[] = { "--no-network", f->project, "--version", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;

  if (!csb_test_require_claude ())
    return;
  if (!run_cli (args, &out, &err, &status))
    return;
  /* claude's --version, not the CLI's own. */
  g_assert_nonnull (strstr (out, "Claude Code"));
  g_assert_cmpint (status, ==, 0);
}

static void
test_cli_no_network (Fixture      *f,
                     gconstpointer data)
{
  const char * const args[] = {
    "--no-network", "--command", f->project, "--",
    "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '", NULL
  };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;

  if (!run_cli (args, &out, &err, &status))
    return;
  g_assert_cmpstr (out, ==, "lo\n");
  g_assert_cmpint (status, ==, 0);
}

/* The real Claude Code writes its history and ~/.claude.json into the project's
 * Claude home (through the ~/.claude.json link), shared by the project's sandboxes;
 * the user's ~/.claude gets none of it, ~/.claude.json only the typed login keys. */
static void
test_claude_home (Fixture      *f,
                  gconstpointer data)
{
  const char * const command[] = { "claude", "-p", "hi", NULL };
  g_autofree char *homes = g_build_filename (f->bus.dirs.state, "claude-sandbox", "claude-home",
                                             NULL);
  g_autofree char *user_projects = g_build_filename (f->bus.dirs.home, ".claude", "projects",
                                                     NULL);
  g_autofree char *user_json = g_build_filename (f->bus.dirs.home, ".claude.json", NULL);
  g_autofree char *key = NULL;
  g_autofree char *projects = NULL;
  g_autofree char *listed = NULL;
  g_autofree char *json = NULL;
  g_autofree char *host_json = NULL;
  g_auto(GStrv) sessions = NULL;
  guint jsonl = 0;

  if (!csb_test_require_claude ())
    return;
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(CsbTestRun) run = csb_test_launch (&f->bus, f->project, command,
                                                   g_variant_new_parsed ("{'network': <false>}"),
                                                   FALSE, &error);

      g_assert_no_error (error);
      g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
      g_test_message ("claude -p (offline, no login): %d\n%s%s", run->exit_signal_status,
                      run->out->str, run->err->str);
    }

  key = csb_test_list_dir (homes);
  g_assert_true (g_str_has_prefix (key, "project-"));
  g_assert_null (strchr (key, ' '));
  projects = g_build_filename (homes, key, ".claude", "projects", NULL);
  g_assert_true (csb_test_tree_contains (projects, "\"sessionId\"", NULL));
  listed = csb_test_list_dir (projects);
  g_test_message ("the home's projects: %s", listed);
  {
    g_autofree char *dir = g_build_filename (projects, listed, NULL);
    g_autofree char *files = csb_test_list_dir (dir);

    sessions = g_strsplit (files, " ", -1);
    for (guint i = 0; sessions[i] != NULL; i++)
      if (g_str_has_suffix (sessions[i], ".jsonl"))
        jsonl++;
  }
  /* Both runs' sessions, in one place: what `claude --continue` looks for. */
  g_assert_cmpuint (jsonl, >=, 2);
  {
    g_autofree char *path = g_build_filename (homes, key, "json", ".claude.json", NULL);

    g_assert_true (g_file_get_contents (path, &json, NULL, NULL));
    g_assert_nonnull (strstr (json, "firstStartTime"));
  }
  g_assert_false (g_file_test (user_projects, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_get_contents (user_json, &host_json, NULL, NULL));
  g_assert_nonnull (strstr (host_json, "firstStartTime"));
  g_assert_null (strstr (host_json, "projects"));
}

static JsonNode *
parse_json (const char *text)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  return json_node_ref (json_parser_get_root (parser));
}

/* --list --json, --backends --json and --complete-ids: the documented shapes. */
static void
test_cli_json (Fixture      *f,
               gconstpointer data)
{
  const char * const launch[] = {
    "--no-network", "--name", "json \"test\"", "--command", f->project, "--",
    "sh", "-c", "exit 3", NULL
  };
  const char * const list[] = { "--list", "--json", NULL };
  const char * const backends[] = { "--backends", "--json", NULL };
  const char * const ids[] = { "--complete-ids", NULL };
  const char * const bad[] = { "--json", f->project, NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonArray *array;
  JsonObject *sandbox = NULL;
  gboolean bwrap_available = FALSE;
  int status;

  if (!run_cli (launch, &out, &err, &status))
    return;
  g_assert_cmpint (status, ==, 3);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_true (run_cli (list, &out, &err, &status));
  g_assert_cmpint (status, ==, 0);
  root = parse_json (out);
  array = json_object_get_array_member (json_node_get_object (root), "sandboxes");
  g_assert_cmpuint (json_array_get_length (array), ==, 1);
  sandbox = json_array_get_object_element (array, 0);
  g_assert_cmpstr (json_object_get_string_member (sandbox, "name"), ==, "json \"test\"");
  g_assert_cmpstr (json_object_get_string_member (sandbox, "backend"), ==, "bwrap");
  g_assert_cmpstr (json_object_get_string_member (sandbox, "project_dir"), ==, f->project);
  g_assert_cmpstr (json_object_get_string_member (sandbox, "state"), ==, "exited");
  g_assert_cmpint (json_object_get_int_member (sandbox, "exit_status"), ==, 3);
  g_assert_false (json_object_get_boolean_member (sandbox, "network"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (sandbox, "command")),
                    ==, 3);
  g_assert_true (g_str_has_suffix (json_object_get_string_member (sandbox, "object_path"),
                                   json_object_get_string_member (sandbox, "id")));
  g_assert_cmpint (json_object_get_int_member (sandbox, "started_at_us"), >, 0);
  for (const char * const *m = (const char * const[]) { "error", "pid", "network_allow",
         "denied_connections", "gh_token", "display", "protections", "plants", NULL };
       *m != NULL; m++)
    g_assert_true (json_object_has_member (sandbox, *m));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_true (run_cli (ids, &out, &err, &status));
  g_assert_cmpint (status, ==, 0);
  {
    g_autofree char *expected = g_strconcat (json_object_get_string_member (sandbox, "id"),
                                             "\n", NULL);
    g_assert_cmpstr (out, ==, expected);
  }

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_clear_pointer (&root, json_node_unref);
  g_assert_true (run_cli (backends, &out, &err, &status));
  g_assert_cmpint (status, ==, 0);
  root = parse_json (out);
  array = json_object_get_array_member (json_node_get_object (root), "backends");
  g_assert_cmpuint (json_array_get_length (array), >=, 3);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *backend = json_array_get_object_element (array, i);

      g_assert_true (json_object_has_member (backend, "detail"));
      if (g_str_equal (json_object_get_string_member (backend, "name"), "bwrap"))
        bwrap_available = json_object_get_boolean_member (backend, "available");
    }
  g_assert_true (bwrap_available);

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_true (run_cli (bad, &out, &err, &status));
  g_assert_cmpint (status, ==, 2);
}

/* --metrics: the machine and each sandbox, as a table and as JSON. */
static void
test_cli_metrics (Fixture      *f,
                  gconstpointer data)
{
  const char * const launch[] = {
    "--no-network", "--command", f->project, "--", "sh", "-c", "head -c 100000 /dev/zero >&2",
    NULL
  };
  const char * const json[] = { "--metrics", "--json", NULL };
  const char * const missing[] = { "--metrics", "nosuchid", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *id = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *host;
  JsonObject *metrics;
  JsonArray *array;
  int status;

  if (!run_cli (launch, &out, &err, &status))
    return;
  g_assert_cmpint (status, ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_true (run_cli (json, &out, &err, &status));
  g_assert_cmpint (status, ==, 0);
  root = parse_json (out);
  host = json_object_get_object_member (json_node_get_object (root), "host");
  g_assert_cmpint (json_object_get_int_member (host, "cpus"), ==, sysconf (_SC_NPROCESSORS_ONLN));
  g_assert_cmpint (json_object_get_int_member (host, "memory_total_bytes"), >, 0);
  array = json_object_get_array_member (json_node_get_object (root), "sandboxes");
  g_assert_cmpuint (json_array_get_length (array), ==, 1);
  id = g_strdup (json_object_get_string_member (json_array_get_object_element (array, 0), "id"));
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (array, 0),
                                                  "state"), ==, "exited");
  metrics = json_object_get_object_member (json_array_get_object_element (array, 0), "metrics");
  g_assert_true (json_object_has_member (metrics, "state_bytes"));
  g_assert_cmpint (json_object_get_int_member (metrics, "claude_turns"), ==, 0);
  /* Ended: no CPU or memory to measure, so none is shown. */
  g_assert_false (json_object_has_member (metrics, "cpu_time_us"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  {
    const char * const text[] = { "--metrics", id, NULL };

    g_assert_true (run_cli (text, &out, &err, &status));
    g_assert_cmpint (status, ==, 0);
    g_assert_true (g_str_has_prefix (out, "Machine: "));
    g_assert_nonnull (strstr (out, id));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }

  g_assert_true (run_cli (missing, &out, &err, &status));
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "nosuchid"));
}

static JsonObject *
find_listed (JsonNode   *root,
             const char *id)
{
  JsonArray *array = json_object_get_array_member (json_node_get_object (root), "sandboxes");

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *sandbox = json_array_get_object_element (array, i);

      if (g_strcmp0 (json_object_get_string_member (sandbox, "id"), id) == 0)
        return sandbox;
    }
  g_error ("sandbox %s is not listed", id);
}

/* The text --list's row of @id, split at runs of spaces. */
static char **
find_listed_row (const char *out,
                 const char *id)
{
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], id))
      return g_regex_split_simple (" +", lines[i], 0, 0);
  g_error ("sandbox %s is not in --list's text", id);
}

/* --list's table: a running sandbox @id and one that exited 3, @ended_id, both of @project. */
static void
check_list_text (const char *out,
                 const char *id,
                 const char *ended_id,
                 const char *project)
{
  g_auto(GStrv) lines = NULL;
  g_auto(GStrv) header = NULL;
  g_auto(GStrv) row = NULL;
  guint n;

  lines = g_strsplit (out, "\n", -1);
  header = g_regex_split_simple (" +", lines[0], 0, 0);
  n = g_strv_length (header);
  /* No Claude session anywhere: no Claude columns. */
  g_assert_cmpstrv (header, ((const char * const[]) { "ID", "STATE", "BACKEND", "CPU", "MEM",
                                                       "PIDS", "DISK", "NAME", "PROJECT",
                                                       NULL }));
  /* Readable in 80 columns: all but the project (the test's folder is long) in 64. */
  for (guint i = 0; lines[i] != NULL && *lines[i] != '\0'; i++)
    g_assert_cmpuint (g_utf8_strlen (lines[i], -1) - strlen (project), <=, 64);

  row = find_listed_row (out, id);
  g_assert_cmpuint (g_strv_length (row), ==, n);
  g_assert_cmpstr (row[1], ==, "running");
  g_assert_cmpstr (row[n - 1], ==, project);
  g_assert_true (g_regex_match_simple ("^[0-9]+\\.[0-9]s$", row[3], 0, 0));
  g_assert_true (g_regex_match_simple ("^[0-9.]+[BKMG]$", row[4], 0, 0));
  g_assert_cmpuint (g_ascii_strtoull (row[5], NULL, 10), >=, 1);
  g_assert_true (g_regex_match_simple ("^[0-9.]+[BKMG]$", row[6], 0, 0));
  g_clear_pointer (&row, g_strfreev);

  /* "exited (3)" is two words; what an ended sandbox cannot say is a dash. */
  row = find_listed_row (out, ended_id);
  g_assert_cmpuint (g_strv_length (row), ==, n + 1);
  g_assert_cmpstr (row[1], ==, "exited");
  g_assert_cmpstr (row[4], ==, "\u2013");
  g_assert_cmpstr (row[5], ==, "\u2013");
  g_assert_cmpstr (row[6], ==, "\u2013");
  g_assert_true (g_regex_match_simple ("^[0-9.]+[BKMG]$", row[7], 0, 0));
  g_assert_cmpstr (row[n], ==, project);
}

/* --list with each sandbox's metrics: a running `sleep` and an ended one, as JSON and as
 * the table (ID first, state second, project last; a dash for what is not known). */
static void
test_cli_list_metrics (Fixture      *f,
                       gconstpointer data)
{
  const char * const ended_launch[] = {
    "--no-network", "--command", f->project, "--", "sh", "-c", "exit 3", NULL
  };
  const char * const command[] = { "sh", "-c", "echo up; exec sleep 1000", NULL };
  const char * const json[] = { "--list", "--json", NULL };
  const char * const text[] = { "--list", NULL };
  const char * const ids[] = { "--complete-ids", NULL };
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *ended_id = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *metrics;
  const char *id;
  int status;

  if (!run_cli (ended_launch, &out, &err, &status))
    return;
  g_assert_cmpint (status, ==, 3);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_true (run_cli (ids, &out, &err, &status));
  ended_id = g_strstrip (g_steal_pointer (&out));
  g_clear_pointer (&err, g_free);

  run = csb_test_launch (&f->bus, f->project, command,
                         g_variant_new_parsed ("{'network': <false>}"), FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait_output (run, "up", CSB_TEST_TIMEOUT_MS));
  id = csb_dbus_sandbox_get_id (run->sandbox);

  g_assert_true (run_cli (json, &out, &err, &status));
  g_assert_cmpint (status, ==, 0);
  root = parse_json (out);
  metrics = json_object_get_object_member (find_listed (root, id), "metrics");
  g_assert_nonnull (metrics);
  g_assert_cmpint (json_object_get_int_member (metrics, "processes"), >=, 1);
  g_assert_cmpint (json_object_get_int_member (metrics, "memory_bytes"), >, 0);
  g_assert_true (json_object_has_member (metrics, "cpu_time_us"));
  g_assert_true (json_object_has_member (metrics, "state_bytes"));
  g_assert_cmpint (json_object_get_int_member (metrics, "claude_turns"), ==, 0);
  metrics = json_object_get_object_member (find_listed (root, ended_id), "metrics");
  g_assert_true (json_object_has_member (metrics, "state_bytes"));
  g_assert_false (json_object_has_member (metrics, "processes"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_true (run_cli (text, &out, &err, &status));
  g_assert_cmpint (status, ==, 0);
  check_list_text (out, id, ended_id, f->project);

  csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
}

/* An older service: GetMetrics is not there. */
static gboolean
on_get_metrics_unknown (CsbDBusSandbox        *object,
                        GDBusMethodInvocation *invocation,
                        gpointer               data)
{
  g_dbus_method_invocation_return_dbus_error (invocation,
                                              "org.freedesktop.DBus.Error.UnknownMethod",
                                              "No such method \u201cGetMetrics\u201d");
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* A sandbox whose metrics cannot be had (here: of a service older than GetMetrics, which
 * the test plays on the bus) is listed with dashes, not an error. */
static void
test_cli_list_metrics_unanswered (Fixture      *f,
                                  gconstpointer data)
{
  g_autoptr(GDBusObjectManagerServer) server = g_dbus_object_manager_server_new (CSB_MANAGER_PATH);
  g_autoptr(CsbDBusObjectSkeleton) object = csb_dbus_object_skeleton_new (CSB_SANDBOX_PATH_PREFIX
                                                                          "0ld5e1ce");
  g_autoptr(CsbDBusSandbox) sandbox = csb_dbus_sandbox_skeleton_new ();
  const char * const text[] = { "--list", NULL };
  const char * const json[] = { "--list", "--json", NULL };
  g_autoptr(GVariant) owned = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_auto(GStrv) row = NULL;
  guint32 reply;
  int status;

  csb_dbus_sandbox_set_id (sandbox, "0ld5e1ce");
  csb_dbus_sandbox_set_state (sandbox, "exited");
  csb_dbus_sandbox_set_exit_status (sandbox, 0);
  csb_dbus_sandbox_set_backend (sandbox, "bwrap");
  csb_dbus_sandbox_set_name (sandbox, "old");
  csb_dbus_sandbox_set_project_dir (sandbox, f->project);
  g_signal_connect (sandbox, "handle-get-metrics", G_CALLBACK (on_get_metrics_unknown), NULL);
  csb_dbus_object_skeleton_set_sandbox (object, sandbox);
  g_dbus_object_manager_server_export (server, G_DBUS_OBJECT_SKELETON (object));
  g_dbus_object_manager_server_set_connection (server, f->bus.connection);
  owned = g_dbus_connection_call_sync (f->bus.connection, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "RequestName", g_variant_new ("(su)", CSB_BUS_NAME, 4),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                                       &error);
  g_assert_no_error (error);
  g_variant_get (owned, "(u)", &reply);
  g_assert_cmpuint (reply, ==, 1);  /* the primary owner */

  if (!run_cli (text, &out, &err, &status))
    return;
  g_assert_cmpint (status, ==, 0);
  g_assert_cmpstr (err, ==, "");
  row = find_listed_row (out, "0ld5e1ce");
  /* ID, "exited", "(0)", backend, then CPU, MEM, PIDS and DISK. */
  for (guint i = 4; i < 8; i++)
    g_assert_cmpstr (row[i], ==, "\u2013");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_true (run_cli (json, &out, &err, &status));
  g_assert_cmpint (status, ==, 0);
  root = parse_json (out);
  g_assert_true (json_object_has_member (find_listed (root, "0ld5e1ce"), "metrics"));
  g_assert_true (json_object_get_null_member (find_listed (root, "0ld5e1ce"), "metrics"));

  g_dbus_object_manager_server_set_connection (server, NULL);
}

/* NO_COLOR (https://no-color.org) of the user reaches the program inside. */
static void
test_cli_no_color (Fixture      *f,
                   gconstpointer data)
{
  const char * const args[] = {
    "--no-network", "--command", f->project, "--", "sh", "-c", "echo \"nc=$NO_COLOR\"", NULL
  };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;

  if (!run_cli_env (args, "NO_COLOR=1", &out, &err, &status))
    return;
  g_assert_cmpint (status, ==, 0);
  g_assert_cmpstr (out, ==, "nc=1\n");
}

int
main (int   argc,
      char *argv[])
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  (void) CSB_ERROR;

#define ADD(path, mode, func) \
  g_test_add (path, Fixture, GINT_TO_POINTER (mode), fixture_setup, func, fixture_teardown)
  ADD ("/sandbox/claude/version/on-path", FIND_ON_PATH, test_version);
  ADD ("/sandbox/claude/version/npm-global", FIND_NPM_GLOBAL, test_version);
  ADD ("/sandbox/claude/version/npmrc-prefix", FIND_NPMRC_PREFIX, test_version);
  ADD ("/sandbox/claude/version/run-sh-prefix", FIND_OWN_PREFIX, test_version);
  ADD ("/sandbox/claude/gdbus-example", FIND_ON_PATH, test_gdbus_example);
  ADD ("/sandbox/claude/home", FIND_ON_PATH, test_claude_home);
  ADD ("/sandbox/claude/agent/filtered-network", FIND_ON_PATH, test_agent);
  ADD ("/sandbox/cli/command", FIND_ON_PATH, test_cli_command);
  ADD ("/sandbox/cli/claude-version", FIND_ON_PATH, test_cli_claude_version);
  ADD ("/sandbox/cli/no-network", FIND_ON_PATH, test_cli_no_network);
  ADD ("/sandbox/cli/json", FIND_ON_PATH, test_cli_json);
  ADD ("/sandbox/cli/metrics", FIND_ON_PATH, test_cli_metrics);
  ADD ("/sandbox/cli/list-metrics", FIND_ON_PATH, test_cli_list_metrics);
  ADD ("/sandbox/cli/list-metrics-unanswered", FIND_ON_PATH, test_cli_list_metrics_unanswered);
  ADD ("/sandbox/cli/no-color", FIND_ON_PATH, test_cli_no_color);
#undef ADD

  return g_test_run ();
}
