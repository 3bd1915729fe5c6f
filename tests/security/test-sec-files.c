/* test-sec-files.c — what a sandbox may write. The project folder and Claude
 * Code's credentials and history (in its own Claude home): yes. Whatever the host's own programs (the
 * unsandboxed claude, git) would later obey or execute: no, and not by renaming
 * the folder around the read-only mount either.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include "csb-sec-utils.h"

#define WRITTEN "written from inside the sandbox\n"

static void
setup (CsbSecFixture *fixture,
       gconstpointer  data)
{
  csb_sec_fixture_setup (fixture, NULL);
}

static void
teardown (CsbSecFixture *fixture,
          gconstpointer  data)
{
  csb_sec_fixture_teardown (fixture);
}

static char *
home_path (CsbSecFixture *fixture,
           const char    *relative)
{
  return g_build_filename (fixture->bus.dirs.home, relative, NULL);
}

static char *
project_path (CsbSecFixture *fixture,
              const char    *relative)
{
  return g_build_filename (fixture->project, relative, NULL);
}

static void
assert_file (const char *path,
             const char *expected)
{
  g_autofree char *contents = csb_sec_read_file (path);

  g_assert_cmpstr (contents, ==, expected);
}

/* The user's Claude settings are read-only inside, and what the sandbox may write
 * (credentials, history) lands in its project's own Claude home: the user's
 * ~/.claude gets only a login that validated. */
static void
test_claude_config (CsbSecFixture *fixture,
                    gconstpointer  data)
{
  g_autofree char *settings = home_path (fixture, ".claude/settings.json");
  g_autofree char *command = home_path (fixture, ".claude/commands/x.md");
  g_autofree char *agent = home_path (fixture, ".claude/agents/x.md");
  g_autofree char *plugin = home_path (fixture, ".claude/plugins/x");
  g_autofree char *skill = home_path (fixture, ".claude/skills/x");
  g_autofree char *memory = home_path (fixture, ".claude/CLAUDE.md");
  g_autofree char *credentials = home_path (fixture, ".claude/.credentials.json");
  g_autofree char *projects = home_path (fixture, ".claude/projects");
  g_autofree char *history = home_path (fixture, ".claude/projects/x");
  g_autofree char *commands = home_path (fixture, ".claude/commands");
  g_autofree char *moved = home_path (fixture, ".claude/moved");
  const char *settings_json = "{\"hooks\": {}, \"marker\": \"host\"}\n";
  g_autoptr(GHashTable) results = NULL;
  g_autofree char *out = NULL;
  g_autofree char *script = NULL;
  int status = -1;

  csb_test_write_file (settings, settings_json, 0600);
  csb_test_write_file (credentials, "{\"old\": true}\n", 0600);
  csb_test_write_file (memory, "host memory\n", 0600);
  g_assert_cmpint (g_mkdir_with_parents (commands, 0700), ==, 0);
  {
    g_autofree char *agents = home_path (fixture, ".claude/agents");
    g_autofree char *plugins = home_path (fixture, ".claude/plugins");
    g_autofree char *skills = home_path (fixture, ".claude/skills");

    g_assert_cmpint (g_mkdir_with_parents (agents, 0700), ==, 0);
    g_assert_cmpint (g_mkdir_with_parents (plugins, 0700), ==, 0);
    g_assert_cmpint (g_mkdir_with_parents (skills, 0700), ==, 0);
  }

  results = csb_sec_probe_inside (fixture, NULL, "write", settings, command, agent,
                                  plugin, skill, memory, credentials, NULL);
  g_assert_cmpstr (g_hash_table_lookup (results, settings), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, command), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, agent), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, plugin), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, skill), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, memory), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, credentials), ==, "OK");

  /* Per-project history: a new folder and file, as Claude Code makes them. */
  g_clear_pointer (&results, g_hash_table_unref);
  results = csb_sec_probe_inside (fixture, NULL, "mkdir", projects, NULL);
  g_assert_cmpstr (g_hash_table_lookup (results, projects), ==, "OK");
  g_clear_pointer (&results, g_hash_table_unref);
  results = csb_sec_probe_inside (fixture, NULL, "write", history, NULL);
  g_assert_cmpstr (g_hash_table_lookup (results, history), ==, "OK");

  /* Nor can the read-only entries be moved out of the way and replaced. */
  script = g_strdup_printf ("%s rename %s %s; %s rename %s %s", fixture->probe, settings, moved,
                            fixture->probe, commands, moved);
  out = csb_sec_run_sh (fixture, script, NULL, &status);
  g_assert_cmpint (status, ==, 0);
  g_clear_pointer (&results, g_hash_table_unref);
  results = csb_sec_parse (out);
  {
    g_autofree char *k1 = g_strconcat ("rename:", settings, NULL);
    g_autofree char *k2 = g_strconcat ("rename:", commands, NULL);

    g_assert_cmpstr (g_hash_table_lookup (results, k1), ==, "EBUSY");
    g_assert_cmpstr (g_hash_table_lookup (results, k2), ==, "EBUSY");
  }

  /* The host: the read-only ones untouched; the credential the sandbox wrote is no
   * login, so it did not come back; the history stayed in the sandbox's home. */
  assert_file (settings, settings_json);
  assert_file (memory, "host memory\n");
  assert_file (credentials, "{\"old\": true}\n");
  g_assert_false (g_file_test (history, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (command, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (moved, G_FILE_TEST_EXISTS));
}

static void
test_claude_json (CsbSecFixture *fixture,
                  gconstpointer  data)
{
  g_autofree char *claude_json = home_path (fixture, ".claude.json");
  g_autofree char *host = NULL;
  g_autofree char *out = NULL;
  int status = -1;

  /* ~/.claude.json holds per-project trust, allowed tools and MCP servers (commands
   * the host's claude runs): only the login keys go back to the host's file. */
  csb_test_write_file (claude_json, "{\"theme\": \"dark\"}\n", 0600);
  out = csb_sec_run_sh (fixture,
                        "printf '{\"theme\": \"light\", \"mcpServers\": {\"evil\": "
                        "{\"command\": \"csb-planted-mcp-command\"}}}' > ~/.claude.json && "
                        "cat ~/.claude.json",
                        NULL, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "csb-planted-mcp-command"));
  host = csb_sec_read_file (claude_json);
  g_assert_nonnull (host);
  g_assert_null (strstr (host, "csb-planted-mcp-command"));
  g_assert_null (strstr (host, "mcpServers"));
  g_assert_nonnull (strstr (host, "light"));
}

static void
test_project_config (CsbSecFixture *fixture,
                     gconstpointer  data)
{
  g_autofree char *pre_commit = project_path (fixture, ".git/hooks/pre-commit");
  g_autofree char *config = project_path (fixture, ".git/config");
  g_autofree char *readme = project_path (fixture, "README");
  g_autofree char *new_file = project_path (fixture, "src/new.c");
  g_autofree char *src = project_path (fixture, "src");
  g_autofree char *claude_settings = project_path (fixture, ".claude/settings.json");
  g_autofree char *config_before = csb_sec_read_file (config);
  g_autoptr(GHashTable) results = NULL;

  csb_test_write_file (claude_settings, "{}\n", 0644);
  results = csb_sec_probe_inside (fixture, NULL, "write", pre_commit, config, readme,
                                  claude_settings, NULL);
  g_assert_cmpstr (g_hash_table_lookup (results, pre_commit), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, config), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, claude_settings), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, readme), ==, "OK");
  g_clear_pointer (&results, g_hash_table_unref);
  results = csb_sec_probe_inside (fixture, NULL, "mkdir", src, NULL);
  g_assert_cmpstr (g_hash_table_lookup (results, src), ==, "OK");
  g_clear_pointer (&results, g_hash_table_unref);
  results = csb_sec_probe_inside (fixture, NULL, "write", new_file, NULL);
  g_assert_cmpstr (g_hash_table_lookup (results, new_file), ==, "OK");

  g_assert_false (g_file_test (pre_commit, G_FILE_TEST_EXISTS));
  assert_file (config, config_before);
  assert_file (claude_settings, "{}\n");
  assert_file (readme, WRITTEN);
  assert_file (new_file, WRITTEN);
}

/* Renaming .git away and making a new one would leave the read-only hooks and
 * config mounts behind in the old folder: the host's git would then run hooks
 * the sandbox planted. */
static void
test_git_dir_rename (CsbSecFixture *fixture,
                     gconstpointer  data)
{
  g_autofree char *git = project_path (fixture, ".git");
  g_autofree char *moved = project_path (fixture, ".git-moved");
  g_autofree char *pre_commit = project_path (fixture, ".git/hooks/pre-commit");
  g_autofree char *key = g_strconcat ("rename:", git, NULL);
  g_autoptr(GHashTable) results = NULL;

  results = csb_sec_probe_inside (fixture, NULL, "rename", git, moved, NULL);
  g_assert_cmpstr (g_hash_table_lookup (results, key), ==, "EBUSY");
  g_assert_true (g_file_test (git, G_FILE_TEST_IS_DIR));
  g_assert_false (g_file_test (moved, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (pre_commit, G_FILE_TEST_EXISTS));
}

/* git obeys $GIT_DIR/commondir in any repository: a path written there becomes
 * the repository's common dir, whose hooks/ and config git uses instead of the
 * read-only ones. */
static void
test_git_commondir (CsbSecFixture *fixture,
                    gconstpointer  data)
{
  g_autofree char *commondir = project_path (fixture, ".git/commondir");
  g_autoptr(GHashTable) results = NULL;
  g_autofree char *host = NULL;

  results = csb_sec_probe_inside (fixture, NULL, "write", commondir, NULL);
  g_assert_cmpstr (g_hash_table_lookup (results, commondir), !=, "OK");
  host = csb_sec_read_file (commondir);
  g_assert_cmpstr (host, !=, WRITTEN);
}

/* A project without .claude/: a sandbox must not be able to create the project
 * settings (hooks, allowed commands) that the host's claude obeys there. */
static void
test_project_claude_settings_created (CsbSecFixture *fixture,
                                      gconstpointer  data)
{
  g_autofree char *claude = project_path (fixture, ".claude");
  g_autofree char *settings = project_path (fixture, ".claude/settings.json");
  g_autofree char *local = project_path (fixture, ".claude/settings.local.json");
  g_autofree char *out = NULL;
  g_autofree char *script = NULL;
  int status = -1;

  g_assert_false (g_file_test (claude, G_FILE_TEST_EXISTS));
  script = g_strdup_printf ("mkdir -p %s; %s write %s %s", claude, fixture->probe, settings,
                            local);
  out = csb_sec_run_sh (fixture, script, NULL, &status);
  g_assert_false (g_file_test (settings, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (local, G_FILE_TEST_EXISTS));
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  /* A failed check ends its test case, not the program: an abort would leave the
   * private bus and its service holding the TAP pipe open until the timeout. */
  g_test_set_nonfatal_assertions ();

  g_test_add ("/security/files/claude-config", CsbSecFixture, NULL, setup,
              test_claude_config, teardown);
  g_test_add ("/security/files/claude-json", CsbSecFixture, NULL, setup,
              test_claude_json, teardown);
  g_test_add ("/security/files/project-config", CsbSecFixture, NULL, setup,
              test_project_config, teardown);
  g_test_add ("/security/files/git-dir-rename", CsbSecFixture, NULL, setup,
              test_git_dir_rename, teardown);
  g_test_add ("/security/files/git-commondir", CsbSecFixture, NULL, setup,
              test_git_commondir, teardown);
  g_test_add ("/security/files/project-claude-settings-created", CsbSecFixture, NULL, setup,
              test_project_claude_settings_created, teardown);
  return g_test_run ();
}
