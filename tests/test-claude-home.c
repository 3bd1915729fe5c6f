/* test-claude-home.c — the Claude home's bounded checks, without a sandbox: the
 * project key, the depth scan that runs before json-glib, and which logins and
 * ~/.claude.json keys the write-back lets through.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-claude-home.h"
#include "csb-test-utils.h"

/* HOME and XDG_STATE_HOME are read once per process: one set for all tests. */
static CsbTestDirs dirs;

static void
test_key (void)
{
  g_autofree char *a = csb_claude_home_key ("/home/u/src/my app");
  g_autofree char *b = csb_claude_home_key ("/home/u/other/my app");
  g_autofree char *dots = csb_claude_home_key ("/home/u/..");
  g_autofree char *root = csb_claude_home_key ("/");

  g_assert_true (g_str_has_prefix (a, "my_app-"));
  g_assert_cmpuint (strlen (a), ==, strlen ("my_app-") + 16);
  g_assert_cmpstr (a, !=, b);
  g_assert_null (strchr (dots, '.'));
  g_assert_null (strchr (root, '/'));
  g_assert_cmpuint (strlen (root), >, 16);
}

static void
test_depth (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) deep = g_string_new (NULL);
  const char *shallow_tricky = "{\"a\": \"[[[[[[[[[[{{{{{{\\\"\", \"b\": [[1]]}";

  g_assert_true (csb_json_check_depth (shallow_tricky, strlen (shallow_tricky), 3, &error));
  g_assert_no_error (error);
  g_assert_false (csb_json_check_depth (shallow_tricky, strlen (shallow_tricky), 2, &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_FAILED);
  g_clear_error (&error);

  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, i % 2 ? '[' : '{');
  g_assert_false (csb_json_check_depth (deep->str, deep->len, 64, &error));
  g_clear_error (&error);
  g_assert_false (csb_json_check_depth ("]]", 2, 64, &error));
  g_clear_error (&error);
  g_assert_false (csb_json_check_depth ("{\0}", 3, 64, &error));
  g_clear_error (&error);

  /* One value: json-glib 1.6 leaks the containers of every root but the last. */
  g_assert_true (csb_json_check_depth (" {\"a\": [1]}\n", 12, 64, &error));
  g_assert_no_error (error);
  g_assert_false (csb_json_check_depth ("{} {}", 5, 64, &error));
  g_clear_error (&error);
  g_assert_false (csb_json_check_depth ("\"x\" {\"a\": {}}", 14, 64, &error));
  g_clear_error (&error);
  g_assert_false (csb_json_check_depth ("1 [1]", 5, 64, &error));
  g_clear_error (&error);
  g_assert_false (csb_json_check_depth ("var a = {}", 10, 64, &error));
  g_clear_error (&error);
  g_assert_false (csb_json_check_depth ("{}//", 4, 64, &error));
  g_clear_error (&error);
}

static char *
home_file (const char *project,
           const char *relative)
{
  g_autofree char *root = csb_claude_home_path (project);

  return g_build_filename (root, relative, NULL);
}

/* The user's credential after a sandbox left @sandbox_credential in its home. */
static char *
credential_after (const char *project,
                  const char *sandbox_credential)
{
  g_autoptr(CsbClaudeHome) home = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *in_home = home_file (project, ".claude/.credentials.json");
  g_autofree char *user = g_build_filename (dirs.home, ".claude", ".credentials.json", NULL);
  char *contents = NULL;

  unlink (user);
  unlink (in_home);
  csb_test_write_file (user, "{\"claudeAiOauth\": {\"accessToken\": \"sk-user\", "
                       "\"expiresAt\": 100}, \"other\": 1}\n", 0600);
  home = csb_claude_home_prepare (project, &error);
  g_assert_no_error (error);
  unlink (in_home);
  csb_test_write_file (in_home, sandbox_credential, 0600);
  g_assert_true (csb_claude_home_write_back (project, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (user, &contents, NULL, NULL));
  return contents;
}

static void
test_credential (void)
{
  g_autofree char *project = g_build_filename (dirs.projects, "cred", NULL);
  struct {
    const char *sandbox;
    gboolean    taken;
  } cases[] = {
    { "{\"claudeAiOauth\": {\"accessToken\": \"sk-new\", \"refreshToken\": \"sk-r\", "
      "\"expiresAt\": 200.5, \"scopes\": [\"user:inference\"], \"subscriptionType\": null, "
      "\"rateLimitTier\": \"default_claude_max_20x\", \"future\": {\"x\": 1}}}", TRUE },
    { "{\"claudeAiOauth\": {\"accessToken\": \"sk-new\", \"expiresAt\": 50}}", FALSE },
    { "{\"claudeAiOauth\": {\"accessToken\": \"sk-new\"}}", FALSE },
    { "{\"claudeAiOauth\": {\"accessToken\": 1, \"expiresAt\": 200}}", FALSE },
    { "{\"claudeAiOauth\": {\"accessToken\": \"sk-\\nnew\", \"expiresAt\": 200}}", FALSE },
    { "{\"claudeAiOauth\": {\"accessToken\": \"sk-new\", \"expiresAt\": \"200\"}}", FALSE },
    { "{\"claudeAiOauth\": {\"accessToken\": \"sk-new\", \"expiresAt\": 200, "
      "\"scopes\": [1]}}", FALSE },
    { "{\"claudeAiOauth\": [\"sk-new\"]}", FALSE },
    { "[1, 2]", FALSE },
    { "{\"claudeAiOauth\": {\"accessToken\": \"sk-new\", \"expiresAt\": 200}", FALSE },
  };

  g_assert_cmpint (g_mkdir_with_parents (project, 0700), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *after = credential_after (project, cases[i].sandbox);

      g_test_message ("case %u: %s → %s", i, cases[i].sandbox, after);
      g_assert_true ((strstr (after, "sk-new") != NULL) == cases[i].taken);
      g_assert_nonnull (strstr (after, "\"other\""));
      g_assert_null (strstr (after, "future"));
    }
  {
    /* Too large, though well-formed. */
    g_autoptr(GString) big = g_string_new ("{\"claudeAiOauth\": {\"accessToken\": \"sk-new\", "
                                           "\"expiresAt\": 200, \"refreshToken\": \"");
    g_autofree char *after = NULL;

    for (guint i = 0; i < 70000; i++)
      g_string_append_c (big, 'a');
    g_string_append (big, "\"}}");
    after = credential_after (project, big->str);
    g_assert_null (strstr (after, "sk-new"));
  }
}

static void
test_claude_json_keys (void)
{
  g_autofree char *project = g_build_filename (dirs.projects, "json", NULL);
  g_autofree char *in_home = home_file (project, "json/.claude.json");
  g_autofree char *user = g_build_filename (dirs.home, ".claude.json", NULL);
  g_autofree char *after = NULL;
  g_autoptr(CsbClaudeHome) home = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (project, 0700), ==, 0);
  csb_test_write_file (user, "{\"theme\": \"dark\", \"mine\": true}\n", 0600);
  home = csb_claude_home_prepare (project, &error);
  g_assert_no_error (error);
  unlink (in_home);
  csb_test_write_file (in_home,
                       "{\"theme\": \"evil\", \"hasCompletedOnboarding\": true, "
                       "\"hasAvailableSubscription\": \"yes\", "
                       "\"lastOnboardingVersion\": \"2.1.197\", "
                       "\"lastReleaseNotesSeen\": \"1.0; rm -rf /\", "
                       "\"userID\": \"abc123\", \"firstStartTime\": \"2026-12-06T16:36:37.177Z\", "
                       "\"oauthAccount\": {\"emailAddress\": \"u@example.org\", "
                       "\"billing\": {\"type\": \"pro\"}}, "
                       "\"customApiKeyResponses\": {\"approved\": [\"x\"]}, "
                       "\"mcpServers\": {}}", 0600);
  g_assert_true (csb_claude_home_write_back (project, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (user, &after, NULL, NULL));
  g_test_message ("%s", after);
  g_assert_nonnull (strstr (after, "\"theme\" : \"dark\""));
  g_assert_nonnull (strstr (after, "\"mine\" : true"));
  g_assert_nonnull (strstr (after, "\"hasCompletedOnboarding\" : true"));
  g_assert_null (strstr (after, "hasAvailableSubscription"));
  g_assert_nonnull (strstr (after, "2.1.197"));
  g_assert_null (strstr (after, "rm -rf"));
  g_assert_nonnull (strstr (after, "abc123"));
  g_assert_nonnull (strstr (after, "2026-12-06T16:36:37.177Z"));
  g_assert_nonnull (strstr (after, "u@example.org"));
  g_assert_nonnull (strstr (after, "\"pro\""));
  g_assert_null (strstr (after, "customApiKeyResponses"));
  g_assert_null (strstr (after, "mcpServers"));

  /* oauthAccount three levels deep: not taken. */
  g_clear_pointer (&after, g_free);
  unlink (in_home);
  csb_test_write_file (in_home, "{\"oauthAccount\": {\"a\": {\"b\": {\"c\": 1}}}}", 0600);
  g_assert_true (csb_claude_home_write_back (project, &error));
  g_assert_true (g_file_get_contents (user, &after, NULL, NULL));
  g_assert_null (strstr (after, "\"c\""));
}

/* The user's links are skipped; the home's mount points made; nothing made in the
 * user's ~/.claude. */
static void
test_user_entries (void)
{
  g_autofree char *project = g_build_filename (dirs.projects, "entries", NULL);
  g_autofree char *claude = g_build_filename (dirs.home, ".claude", NULL);
  g_autofree char *settings = g_build_filename (claude, "settings.json", NULL);
  g_autofree char *agents = g_build_filename (claude, "agents", NULL);
  g_autofree char *rules = g_build_filename (claude, "rules", NULL);
  g_autofree char *stage = g_build_filename (dirs.runtime, "stage", NULL);
  g_autofree char *staged_rule = g_build_filename (stage, "rules", "r.md", NULL);
  g_autofree char *staged_link = g_build_filename (stage, "rules", "link.md", NULL);
  g_autofree char *secret = g_build_filename (dirs.root, "secret", NULL);
  g_autofree char *link = g_build_filename (rules, "link.md", NULL);
  g_autofree char *rule = g_build_filename (rules, "r.md", NULL);
  g_autoptr(CsbClaudeHome) home = NULL;
  g_autoptr(GPtrArray) staged = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *names = NULL;

  g_assert_cmpint (g_mkdir_with_parents (project, 0700), ==, 0);
  csb_test_write_file (settings, "{}\n", 0600);
  csb_test_write_file (rule, "rule\n", 0600);
  csb_test_write_file (secret, "secret\n", 0600);
  unlink (agents);
  g_assert_cmpint (symlink (dirs.root, agents), ==, 0);
  g_assert_cmpint (symlink (secret, link), ==, 0);

  home = csb_claude_home_prepare (project, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < home->user_entries->len; i++)
    {
      CsbClaudeUserEntry *entry = g_ptr_array_index (home->user_entries, i);
      g_autofree char *joined = names;

      names = g_strjoin (" ", joined ? joined : "", entry->name, NULL);
    }
  g_test_message ("entries:%s", names);
  g_assert_nonnull (strstr (names, " settings.json"));
  g_assert_nonnull (strstr (names, " rules"));
  g_assert_null (strstr (names, "agents"));
  {
    g_autofree char *mount_point = home_file (project, ".claude/rules");
    g_autofree char *no_mount_point = home_file (project, ".claude/agents");

    g_assert_true (g_file_test (mount_point, G_FILE_TEST_IS_DIR));
    g_assert_false (g_file_test (no_mount_point, G_FILE_TEST_EXISTS));
  }

  staged = csb_claude_home_stage_user (home, stage, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_test (staged_rule, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (staged_link, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (staged_link, G_FILE_TEST_IS_SYMLINK));

  /* The user's settings gone: so is their empty mount point in the home. */
  {
    g_autofree char *mount_point = home_file (project, ".claude/settings.json");

    g_assert_true (g_file_test (mount_point, G_FILE_TEST_IS_REGULAR));
    g_assert_cmpint (unlink (settings), ==, 0);
    g_clear_pointer (&home, csb_claude_home_free);
    home = csb_claude_home_prepare (project, &error);
    g_assert_no_error (error);
    g_assert_false (g_file_test (mount_point, G_FILE_TEST_EXISTS));
  }
  csb_test_rm_rf (claude);
}

int
main (int    argc,
      char **argv)
{
  int status;

  csb_test_init_environment ();
  csb_test_dirs_init (&dirs);
  csb_test_dirs_apply (&dirs);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/claude-home/key", test_key);
  g_test_add_func ("/claude-home/json-depth", test_depth);
  g_test_add_func ("/claude-home/credential", test_credential);
  g_test_add_func ("/claude-home/claude-json-keys", test_claude_json_keys);
  g_test_add_func ("/claude-home/user-entries", test_user_entries);
  status = g_test_run ();
  csb_test_dirs_clear (&dirs);
  return status;
}
