/* fuzz-claude-home.c — libFuzzer target: what a sandbox leaves in its Claude home,
 * written back. The input is the sandbox's ~/.claude/.credentials.json and
 * ~/.claude.json, split at the first "\n--\n" (no separator: both get the input).
 *
 * Checks: the write-back never fails on its input (it drops and logs); the user's
 * credential file afterwards is an object whose claudeAiOauth has an accessToken
 * string, a numeric expiresAt and only known fields, and the user's other entry is
 * kept; the user's ~/.claude.json holds only its own keys and the allowlisted login
 * keys, its theme one of Claude Code's names.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "fuzz-common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "csb-claude-home.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define PROJECT "/fuzz/project"
#define USER_CREDENTIAL "{\"claudeAiOauth\": {\"accessToken\": \"sk-user\", \"expiresAt\": 100}, " \
                        "\"other\": 1}"
#define USER_JSON "{\"theme\": \"dark\", \"mine\": true}"

static char *root;

static void
write_file (const char *path,
            const char *data,
            gsize       len)
{
  g_autoptr(GError) error = NULL;

  unlink (path);
  if (!g_file_set_contents_full (path, data, len, G_FILE_SET_CONTENTS_NONE, 0600, &error))
    g_error ("%s", error->message);
}

static JsonObject *
load (const char *path)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  if (!json_parser_load_from_file (parser, path, &error))
    g_error ("%s: %s", path, error->message);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
check_credential (const char *path)
{
  static const char * const known[] = {
    "accessToken", "refreshToken", "expiresAt", "scopes", "subscriptionType", "rateLimitTier",
    NULL
  };
  g_autoptr(JsonObject) file = load (path);
  JsonObject *oauth = json_object_get_object_member (file, "claudeAiOauth");
  g_autoptr(GList) members = json_object_get_members (oauth);

  g_assert_true (json_object_has_member (file, "other"));
  g_assert_true (JSON_NODE_HOLDS_VALUE (json_object_get_member (oauth, "accessToken")));
  g_assert_true (json_node_get_value_type (json_object_get_member (oauth, "accessToken")) ==
                 G_TYPE_STRING);
  g_assert_true (JSON_NODE_HOLDS_VALUE (json_object_get_member (oauth, "expiresAt")));
  for (GList *l = members; l != NULL; l = l->next)
    g_assert_true (g_strv_contains (known, l->data));
}

static void
check_claude_json (const char *path)
{
  static const char * const allowed[] = {
    "theme", "mine", "oauthAccount", "hasCompletedOnboarding", "lastOnboardingVersion",
    "userID", "firstStartTime", "hasAvailableSubscription", "lastReleaseNotesSeen", NULL
  };
  static const char * const themes[] = {
    "dark", "light", "dark-daltonized", "light-daltonized", "dark-ansi", "light-ansi", NULL
  };
  g_autoptr(JsonObject) file = load (path);
  g_autoptr(GList) members = json_object_get_members (file);

  for (GList *l = members; l != NULL; l = l->next)
    g_assert_true (g_strv_contains (allowed, l->data));
  g_assert_true (json_object_get_boolean_member (file, "mine"));
  g_assert_true (g_strv_contains (themes, json_object_get_string_member (file, "theme")));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *user_claude = NULL;
  g_autofree char *user_credential = NULL;
  g_autofree char *user_json = NULL;
  g_autofree char *home_root = NULL;
  g_autofree char *home_credential = NULL;
  g_autofree char *home_json = NULL;
  g_autoptr(CsbClaudeHome) home = NULL;
  g_autoptr(GError) error = NULL;
  const char *input = (const char *) data;
  const char *sep = g_strstr_len (input, size, "\n--\n");
  gsize first = sep != NULL ? (gsize) (sep - input) : size;
  const char *second = sep != NULL ? sep + 4 : input;
  gsize second_len = sep != NULL ? size - first - 4 : size;

  if (root == NULL)
    {
      root = g_dir_make_tmp ("csb-fuzz-claude-home-XXXXXX", NULL);
      g_assert_nonnull (root);
      /* Before GLib reads and caches them. */
      setenv ("HOME", root, TRUE);
      setenv ("XDG_STATE_HOME", root, TRUE);
    }
  user_claude = g_build_filename (root, ".claude", NULL);
  user_credential = g_build_filename (user_claude, ".credentials.json", NULL);
  user_json = g_build_filename (root, ".claude.json", NULL);
  g_mkdir_with_parents (user_claude, 0700);
  write_file (user_credential, USER_CREDENTIAL, strlen (USER_CREDENTIAL));
  write_file (user_json, USER_JSON, strlen (USER_JSON));

  home = csb_claude_home_prepare (PROJECT, &error);
  g_assert_no_error (error);
  home_root = csb_claude_home_path (PROJECT);
  home_credential = g_build_filename (home_root, ".claude", ".credentials.json", NULL);
  home_json = g_build_filename (home_root, "json", ".claude.json", NULL);
  write_file (home_credential, input, first);
  write_file (home_json, second, second_len);
  /* The next sandbox on the project starts from what this one left: its prepare
   * reads the same hostile files, so they go through that path too. */
  g_clear_pointer (&home, csb_claude_home_free);
  home = csb_claude_home_prepare (PROJECT, &error);
  g_assert_no_error (error);
  write_file (home_credential, input, first);
  write_file (home_json, second, second_len);

  /* A refusal of the sandbox's ~/.claude.json is an error, not a failure. */
  csb_claude_home_write_back (PROJECT, NULL);
  check_credential (user_credential);
  check_claude_json (user_json);
  return 0;
}
