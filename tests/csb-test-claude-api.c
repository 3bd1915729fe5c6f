/* csb-test-claude-api.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include <json-glib/json-glib.h>

#include "csb-test-claude-api.h"

struct _CsbTestClaudeApi
{
  GSubprocess *process;
  char        *dir;
  char        *log;
  guint16      port;
};

/* The stand-in shares the test's stderr: it must not outlive a test that aborts (the
 * test runner would wait for that pipe to close). */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

CsbTestClaudeApi *
csb_test_claude_api_start (const char *script_json,
                           GError    **error)
{
  g_autoptr(CsbTestClaudeApi) self = g_new0 (CsbTestClaudeApi, 1);
  g_autofree char *standin = g_test_build_filename (G_TEST_DIST, "claude-api-standin.py", NULL);
  g_autofree char *script = NULL;
  g_autofree char *line = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;

  self->dir = g_dir_make_tmp ("csb-claude-api-XXXXXX", error);
  if (self->dir == NULL)
    return NULL;
  script = g_build_filename (self->dir, "script.json", NULL);
  self->log = g_build_filename (self->dir, "requests.jsonl", NULL);
  if (!g_file_set_contents (script, script_json, -1, error))
    return NULL;
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  self->process = g_subprocess_launcher_spawn (launcher, error, "python3", standin, script,
                                               self->log, NULL);
  if (self->process == NULL)
    return NULL;
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (self->process));
  line = g_data_input_stream_read_line_utf8 (out, NULL, NULL, error);
  if (line == NULL || !g_str_has_prefix (line, "PORT "))
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                     "the Messages API stand-in %s did not start", standin);
      return NULL;
    }
  self->port = (guint16) g_ascii_strtoull (line + 5, NULL, 10);
  return g_steal_pointer (&self);
}

guint16
csb_test_claude_api_get_port (CsbTestClaudeApi *self)
{
  return self->port;
}

/* The stand-in's log, a request per line: {"path": …, "body": …}. */
static GPtrArray *
read_requests (CsbTestClaudeApi *self)
{
  g_autoptr(GPtrArray) requests = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (self->log, &text, NULL, NULL))
    return g_steal_pointer (&requests);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();

      if (*lines[i] == '\0')
        continue;
      g_assert_true (json_parser_load_from_data (parser, lines[i], -1, NULL));
      g_ptr_array_add (requests, json_node_ref (json_parser_get_root (parser)));
    }
  return g_steal_pointer (&requests);
}

static char *
result_text (JsonObject *result)
{
  JsonNode *content = json_object_get_member (result, "content");
  gboolean is_error = json_object_has_member (result, "is_error") &&
                      json_object_get_boolean_member (result, "is_error");
  GString *text = g_string_new (is_error ? "ERROR: " : NULL);

  if (content != NULL && JSON_NODE_HOLDS_VALUE (content))
    g_string_append (text, json_node_get_string (content));
  else if (content != NULL && JSON_NODE_HOLDS_ARRAY (content))
    {
      JsonArray *parts = json_node_get_array (content);

      for (guint i = 0; i < json_array_get_length (parts); i++)
        {
          JsonObject *part = json_array_get_object_element (parts, i);

          if (json_object_has_member (part, "text"))
            g_string_append (text, json_object_get_string_member (part, "text"));
        }
    }
  return g_string_free (text, FALSE);
}

GPtrArray *
csb_test_claude_api_tool_results (CsbTestClaudeApi *self)
{
  g_autoptr(GPtrArray) requests = read_requests (self);
  GPtrArray *results = g_ptr_array_new_with_free_func (g_free);
  JsonArray *longest = NULL;

  /* Each request of the agent carries the whole conversation: the longest has it all. */
  for (guint i = 0; i < requests->len; i++)
    {
      JsonObject *request = json_node_get_object (g_ptr_array_index (requests, i));
      JsonObject *body = json_object_get_object_member (request, "body");
      JsonArray *messages;

      if (!g_str_equal (json_object_get_string_member (request, "path"), "/v1/messages") ||
          !json_object_has_member (body, "messages"))
        continue;
      messages = json_object_get_array_member (body, "messages");
      if (longest == NULL || json_array_get_length (messages) > json_array_get_length (longest))
        longest = messages;
    }
  for (guint i = 0; longest != NULL && i < json_array_get_length (longest); i++)
    {
      JsonObject *message = json_array_get_object_element (longest, i);
      JsonNode *content = json_object_get_member (message, "content");

      if (content == NULL || !JSON_NODE_HOLDS_ARRAY (content))
        continue;
      for (guint j = 0; j < json_array_get_length (json_node_get_array (content)); j++)
        {
          JsonObject *block = json_array_get_object_element (json_node_get_array (content), j);

          if (g_strcmp0 (json_object_get_string_member_with_default (block, "type", ""),
                         "tool_result") == 0)
            g_ptr_array_add (results, result_text (block));
        }
    }
  return results;
}

guint
csb_test_claude_api_count (CsbTestClaudeApi *self,
                           const char       *path)
{
  g_autoptr(GPtrArray) requests = read_requests (self);
  guint n = 0;

  for (guint i = 0; i < requests->len; i++)
    {
      JsonObject *request = json_node_get_object (g_ptr_array_index (requests, i));

      if (g_strcmp0 (json_object_get_string_member (request, "path"), path) == 0)
        n++;
    }
  return n;
}

void
csb_test_claude_api_free (CsbTestClaudeApi *self)
{
  if (self->process != NULL)
    {
      g_subprocess_force_exit (self->process);
      g_subprocess_wait (self->process, NULL, NULL);
      g_object_unref (self->process);
    }
  if (self->dir != NULL)
    csb_test_rm_rf (self->dir);
  g_free (self->dir);
  g_free (self->log);
  g_free (self);
}

char *
csb_test_json_string (const char *text)
{
  g_autoptr(JsonNode) node = json_node_init_string (json_node_alloc (), text);

  return json_to_string (node, FALSE);
}

/* ---- the agent scenario ------------------------------------------------------------- */

#define HOST_KEY "HOST-SSH-KEY-must-stay-outside"
#define HOST_SETTINGS "{\"model\": \"host-setting\"}\n"
#define FINAL_TEXT "Finished the sandbox check."

/* What the host's ~/.claude holds, names and contents, to compare before and after. */
static char *
snapshot_tree (const char *dir)
{
  g_autoptr(GString) out = g_string_new (NULL);
  g_autofree char *list = csb_test_list_dir (dir);
  g_auto(GStrv) names = g_strsplit (list, " ", -1);

  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dir, names[i], NULL);
      g_autofree char *contents = NULL;

      if (*names[i] == '\0')
        continue;
      g_string_append_printf (out, "%s:", names[i]);
      if (g_file_test (path, G_FILE_TEST_IS_SYMLINK))
        g_string_append (out, "(link)");
      else if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          g_autofree char *sub = snapshot_tree (path);
          g_string_append_printf (out, "[%s]", sub);
        }
      else if (g_file_get_contents (path, &contents, NULL, NULL))
        g_string_append (out, contents);
      g_string_append_c (out, ';');
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
have_test_hosts (void)
{
  g_autoptr(GResolver) resolver = g_resolver_get_default ();
  GList *addresses = g_resolver_lookup_by_name (resolver, "allowed.csb.test", NULL, NULL);

  if (addresses == NULL)
    {
      g_test_skip ("the test host names are not in /etc/hosts (build-aux/test.sh adds "
                   "'127.0.0.1 allowed.csb.test denied.csb.test evil.rebind.csb.test' as root)");
      return FALSE;
    }
  g_resolver_free_addresses (addresses);
  return TRUE;
}

char *
csb_test_claude_agent_scenario (CsbTestBus *bus,
                                const char *project,
                                GVariant   *options,
                                guint       timeout_ms)
{
  g_autoptr(GVariant) extra = options ? g_variant_ref_sink (options) : NULL;
  g_autoptr(CsbTestClaudeApi) api = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) results = NULL;
  g_autofree char *hello = g_build_filename (project, "hello.txt", NULL);
  g_autofree char *ssh = g_build_filename (bus->dirs.home, ".ssh", NULL);
  g_autofree char *key = g_build_filename (ssh, "id_ed25519", NULL);
  g_autofree char *host_file = g_build_filename (bus->dirs.home, "host-only-file", NULL);
  g_autofree char *host_claude = g_build_filename (bus->dirs.home, ".claude", NULL);
  g_autofree char *host_settings = g_build_filename (host_claude, "settings.json", NULL);
  g_autofree char *host_claude_json = g_build_filename (bus->dirs.home, ".claude.json", NULL);
  g_autofree char *hello_json = csb_test_json_string (hello);
  g_autofree char *script = NULL;
  g_autofree char *base_url = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *before_json = NULL;
  g_autofree char *after_json = NULL;
  g_autofree char *contents = NULL;
  GVariantDict dict;
  GVariantBuilder env;
  gboolean finished;
  const char * const allow[] = { "allowed.csb.test", NULL };
  const char * const command[] = {
    "claude", "-p", "Run the sandbox check.", "--dangerously-skip-permissions", NULL
  };

  if (!csb_test_require_claude () || !have_test_hosts ())
    return NULL;

  /* The host's secrets and Claude Code settings, which the agent must not reach. */
  g_assert_cmpint (g_mkdir_with_parents (ssh, 0700), ==, 0);
  csb_test_write_file (key, HOST_KEY "\n", 0600);
  csb_test_write_file (host_file, "host\n", 0644);
  g_assert_cmpint (g_mkdir_with_parents (host_claude, 0700), ==, 0);
  csb_test_write_file (host_settings, HOST_SETTINGS, 0644);
  csb_test_write_file (host_claude_json, "{\"numStartups\": 1}\n", 0600);
  before = snapshot_tree (host_claude);
  g_assert_true (g_file_get_contents (host_claude_json, &before_json, NULL, NULL));

  /* Write, Edit, Bash that looks around, Bash that plants a hook, then the answer. */
  script = g_strdup_printf (
    "["
    " [{\"tool\": \"Write\", \"input\": {\"file_path\": %s, \"content\": \"hello from claude\\n\"}}],"
    " [{\"tool\": \"Edit\", \"input\": {\"file_path\": %s, \"old_string\": \"hello\","
    "   \"new_string\": \"edited\"}}],"
    " [{\"tool\": \"Bash\", \"input\": {\"description\": \"look around\", \"command\":"
    "   \"cat ~/.ssh/id_* ; ls -A \\\"$HOME\\\"; echo host=$(hostname); echo pwd=$(pwd); cat hello.txt\"}}],"
    " [{\"tool\": \"Bash\", \"input\": {\"description\": \"plant a hook\", \"command\":"
    "   \"echo '{\\\"hooks\\\": {\\\"SessionStart\\\": [{\\\"hooks\\\": [{\\\"type\\\":"
    " \\\"command\\\", \\\"command\\\": \\\"touch /tmp/csb-pwned\\\"}]}]}}' >"
    " ~/.claude/settings.json; echo settings=$?;"
    " mkdir -p ~/.claude/hooks && echo 'touch /tmp/csb-pwned' > ~/.claude/hooks/evil.sh;"
    " echo hooks=$?; echo '{}' > ~/.claude.json; echo claude-json=$?\"}}],"
    " [{\"text\": \"" FINAL_TEXT "\"}]"
    "]", hello_json, hello_json);
  api = csb_test_claude_api_start (script, &error);
  g_assert_no_error (error);
  base_url = g_strdup_printf ("http://allowed.csb.test:%u", csb_test_claude_api_get_port (api));

  g_variant_dict_init (&dict, extra);
  g_variant_dict_insert_value (&dict, "network-allow", g_variant_new_strv (allow, -1));
  g_variant_builder_init (&env, G_VARIANT_TYPE ("a{ss}"));
  g_variant_builder_add (&env, "{ss}", "ANTHROPIC_BASE_URL", base_url);
  g_variant_builder_add (&env, "{ss}", "ANTHROPIC_API_KEY", "dummy");
  g_variant_builder_add (&env, "{ss}", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
  g_variant_dict_insert_value (&dict, "env", g_variant_builder_end (&env));

  run = csb_test_launch (bus, project, command, g_variant_dict_end (&dict), FALSE, &error);
  g_assert_no_error (error);
  finished = csb_test_run_wait (run, timeout_ms);
  g_test_message ("claude: %s, status %d\nstdout: %s\nstderr: %s",
                  finished ? "ended" : "still running", run->exit_signal_status,
                  run->out->str, run->err->str);
  g_test_message ("the stand-in answered %u requests",
                  csb_test_claude_api_count (api, "/v1/messages"));
  results = csb_test_claude_api_tool_results (api);
  for (guint i = 0; i < results->len; i++)
    g_test_message ("tool result %u: %s", i, (char *) g_ptr_array_index (results, i));
  g_assert_true (finished);

  /* It ran to the end, through the filtered network. */
  g_assert_cmpint (run->exit_signal_status, ==, 0);
  g_assert_nonnull (strstr (run->out->str, FINAL_TEXT));
  g_assert_cmpuint (results->len, ==, 4);

  /* Write and Edit: the file is in the project, on the host. */
  g_assert_false (g_str_has_prefix (g_ptr_array_index (results, 0), "ERROR"));
  g_assert_false (g_str_has_prefix (g_ptr_array_index (results, 1), "ERROR"));
  g_assert_true (g_file_get_contents (hello, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "edited from claude\n");

  /* Bash ran in the sandbox, in the project, and saw neither the host's key nor its home. */
  g_assert_nonnull (strstr (g_ptr_array_index (results, 2), "host=claude-sandbox\n"));
  g_assert_nonnull (strstr (g_ptr_array_index (results, 2), "edited from claude"));
  g_assert_null (strstr (g_ptr_array_index (results, 2), HOST_KEY));
  g_assert_null (strstr (g_ptr_array_index (results, 2), "host-only-file"));

  /* What the agent wrote to its ~/.claude stayed in the sandbox's own Claude home. */
  after = snapshot_tree (host_claude);
  g_assert_cmpstr (after, ==, before);
  g_assert_true (g_file_get_contents (host_claude_json, &after_json, NULL, NULL));
  g_assert_cmpstr (after_json, ==, before_json);
  g_assert_false (g_file_test ("/tmp/csb-pwned", G_FILE_TEST_EXISTS));
  return g_strdup (run->object_path);
}
