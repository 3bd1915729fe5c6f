/* test-sec-claude-home.c — each sandbox has a Claude home of its project's own, and
 * nothing it writes there acts outside: links, FIFOs and folders planted in sandbox 1
 * are checked from sandbox 2 (same project and another) and from the host; hostile
 * ~/.claude.json and credentials neither crash nor hang the service, and only the
 * validated login keys reach the user's files. The user's settings and the planted
 * links also run against the vm and container backends (/…/vm/…, /…/container/…,
 * in the vm and container suites: see tests/security/meson.build).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-claude-home.h"
#include "csb-sec-utils.h"

#define HOST_SETTINGS "{\"marker\": \"host-settings\"}\n"
#define HOST_JSON "{\"theme\": \"dark\", \"userID\": \"host-user\", \"hasCompletedOnboarding\": false, " \
                  "\"projects\": {\"/secret/project\": {\"allowedTools\": [\"Bash\"]}}}\n"
#define HOST_CREDENTIAL "{\"claudeAiOauth\": {\"accessToken\": \"sk-host-access\", " \
                        "\"refreshToken\": \"sk-host-refresh\", \"expiresAt\": 1000, " \
                        "\"scopes\": [\"user:inference\"], \"subscriptionType\": \"pro\"}, " \
                        "\"mcpOAuth\": {\"server\": {\"accessToken\": \"host-mcp-token\"}}}\n"

/* @data: the backend of the test's sandboxes (/…/vm/…, /…/container/…), or NULL. */
static void
setup (CsbSecFixture *fixture,
       gconstpointer  data)
{
  csb_sec_fixture_setup_backend (fixture, data);
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

/* The project's Claude home as the service keeps it. */
static char *
claude_home (CsbSecFixture *fixture,
             const char    *project,
             const char    *relative)
{
  g_autofree char *key = csb_claude_home_key (project);

  return g_build_filename (fixture->bus.dirs.state, "claude-sandbox", "claude-home", key,
                           relative, NULL);
}

/* A script in a sandbox on @project (NULL: the fixture's); waits for the end, which
 * includes the service's clean-up: a hang there fails the test. */
static char *
run_sh_in (CsbSecFixture *fixture,
           const char    *project,
           const char    *script,
           int           *out_status)
{
  char *saved = fixture->project;
  char *out;

  if (project != NULL)
    fixture->project = (char *) project;
  out = csb_sec_run_sh (fixture, script, NULL, out_status);
  fixture->project = saved;
  return out;
}

static void
assert_file (const char *path,
             const char *expected)
{
  g_autofree char *contents = csb_sec_read_file (path);

  g_assert_cmpstr (contents, ==, expected);
}

static void
assert_contains (const char *haystack,
                 const char *needle)
{
  if (haystack == NULL || strstr (haystack, needle) == NULL)
    g_test_fail_printf ("'%s' is not in: %s", needle, haystack ? haystack : "(null)");
}

static void
assert_not_contains (const char *haystack,
                     const char *needle)
{
  if (haystack != NULL && strstr (haystack, needle) != NULL)
    g_test_fail_printf ("'%s' is in: %s", needle, haystack);
}

/* The user's own settings, CLAUDE.md, commands/ and rules/ inside, read-only; what
 * the sandbox writes in ~/.claude (rules, shell snapshots, a local install, a status
 * line command, history) lands in its home and never in the user's ~/.claude. */
static void
test_user_config (CsbSecFixture *fixture,
                  gconstpointer  data)
{
  g_autofree char *settings = home_path (fixture, ".claude/settings.json");
  g_autofree char *memory = home_path (fixture, ".claude/CLAUDE.md");
  g_autofree char *command = home_path (fixture, ".claude/commands/review.md");
  g_autofree char *rule = home_path (fixture, ".claude/rules/style.md");
  g_autofree char *claude_dir = home_path (fixture, ".claude");
  g_autofree char *listing_before = NULL;
  g_autofree char *listing_after = NULL;
  g_autofree char *out = NULL;
  g_autofree char *script = NULL;
  g_autofree char *in_home = NULL;
  int status = -1;

  if (data != NULL && !csb_sec_require_backend (fixture, data))
    return;
  csb_test_write_file (settings, HOST_SETTINGS, 0600);
  csb_test_write_file (memory, "host memory\n", 0600);
  csb_test_write_file (command, "host command\n", 0600);
  csb_test_write_file (rule, "host rule\n", 0600);
  listing_before = csb_test_list_dir (claude_dir);

  script = g_strdup_printf (
    "cat ~/.claude/settings.json ~/.claude/CLAUDE.md ~/.claude/commands/review.md "
    "~/.claude/rules/style.md\n"
    "%s write ~/.claude/settings.json ~/.claude/CLAUDE.md ~/.claude/commands/review.md "
    "~/.claude/rules/style.md ~/.claude/rules/planted.md\n"
    "%s rename ~/.claude/settings.json ~/.claude/moved.json\n"
    "%s rename ~/.claude ~/.claude-moved\n"
    "mkdir -p ~/.claude/shell-snapshots ~/.claude/local ~/.claude/projects/p && "
    "echo 'touch /tmp/pwned' > ~/.claude/shell-snapshots/snapshot-bash-1.sh && "
    "echo planted > ~/.claude/local/claude && "
    "echo planted > ~/.claude/statusline-command.sh && "
    "echo history > ~/.claude/projects/p/s.jsonl && echo WROTE-HOME\n",
    fixture->probe, fixture->probe, fixture->probe);
  out = run_sh_in (fixture, NULL, script, &status);
  g_assert_cmpint (status, ==, 0);
  assert_contains (out, "host-settings");
  assert_contains (out, "host memory");
  assert_contains (out, "host command");
  assert_contains (out, "host rule");
  {
    g_autoptr(GHashTable) results = csb_sec_parse (out);
    const char *ro[] = { "settings.json", "CLAUDE.md", "commands/review.md", "rules/style.md",
                         "rules/planted.md", NULL };

    for (guint i = 0; ro[i] != NULL; i++)
      {
        g_autofree char *path = g_build_filename (claude_dir, ro[i], NULL);

        g_assert_cmpstr (g_hash_table_lookup (results, path), ==, "EROFS");
      }
    {
      g_autofree char *key = g_strconcat ("rename:", settings, NULL);
      g_autofree char *key2 = g_strconcat ("rename:", claude_dir, NULL);

      g_assert_cmpstr (g_hash_table_lookup (results, key), ==, "EBUSY");
      g_assert_cmpstr (g_hash_table_lookup (results, key2), ==, "EBUSY");
    }
  }
  assert_contains (out, "WROTE-HOME");

  /* The user's ~/.claude: exactly as it was. */
  assert_file (settings, HOST_SETTINGS);
  assert_file (memory, "host memory\n");
  assert_file (command, "host command\n");
  assert_file (rule, "host rule\n");
  listing_after = csb_test_list_dir (claude_dir);
  g_assert_cmpstr (listing_after, ==, listing_before);
  {
    g_autofree char *rules = home_path (fixture, ".claude/rules");
    g_autofree char *rules_listing = csb_test_list_dir (rules);

    g_assert_cmpstr (rules_listing, ==, "style.md");
  }
  /* The sandbox's writing is in its home. */
  in_home = claude_home (fixture, fixture->project, ".claude/projects/p/s.jsonl");
  assert_file (in_home, "history\n");
}

/* Sandbox 1 plants a link named like a settings file, a FIFO as ~/.claude.json, a
 * link from ~/.claude.json to a host secret and a folder for the credential file.
 * The service neither follows nor blocks on them; sandbox 2 gets nothing of the host. */
static void
test_planted (CsbSecFixture *fixture,
              gconstpointer  data)
{
  g_autofree char *claude_json = home_path (fixture, ".claude.json");
  g_autofree char *credentials = home_path (fixture, ".claude/.credentials.json");
  g_autofree char *docker = home_path (fixture, ".docker/config.json");
  g_autofree char *host_tmp_marker = NULL;
  g_autofree char *run_marker = NULL;
  g_autofree char *other = csb_test_make_project (&fixture->bus.dirs, "other");
  g_autofree char *script = NULL;
  g_autofree char *out = NULL;
  guint service;
  int status = -1;

  if (data != NULL && !csb_sec_require_backend (fixture, data))
    return;
  csb_test_write_file (claude_json, HOST_JSON, 0600);
  csb_test_write_file (credentials, HOST_CREDENTIAL, 0600);
  csb_test_write_file (docker, "{\"auths\": {\"registry\": {\"auth\": \"docker-secret\"}}}\n",
                       0600);
  host_tmp_marker = g_strdup_printf ("/tmp/csb-host-tmp-marker-%d", getpid ());
  csb_test_write_file (host_tmp_marker, "host tmp\n", 0600);
  run_marker = g_build_filename (fixture->bus.dirs.runtime, "csb-run-marker", NULL);
  csb_test_write_file (run_marker, "host runtime\n", 0600);

  script = g_strdup_printf (
    "ln -s ../../../tmp ~/.claude/settings-x.json && "
    "ln -s %s ~/.claude/settings-run.json && "
    "ln -s ../../../tmp ~/.claude/commands && "
    "rm -f ~/.claude/.credentials.json && mkdir ~/.claude/.credentials.json && "
    "echo x > ~/.claude/.credentials.json/y && "
    "rm -f /run/claude-sandbox/.claude.json && mkfifo /run/claude-sandbox/.claude.json && "
    "echo PLANTED", fixture->bus.dirs.runtime);
  out = run_sh_in (fixture, NULL, script, &status);
  assert_contains (out, "PLANTED");
  service = csb_test_bus_service_pid (&fixture->bus);

  /* Sandbox 2, same project: started (the FIFO did not block the service), no host /tmp
   * or runtime folder through the links, a fresh ~/.claude.json. */
  g_clear_pointer (&out, g_free);
  g_free (script);
  script = g_strdup_printf (
    "cat ~/.claude/settings-x.json/%s 2>/dev/null; cat ~/.claude/settings-run.json/%s "
    "2>/dev/null; ls ~/.claude/commands/ 2>/dev/null; test -f ~/.claude.json && "
    "echo JSON-IS-FILE; "
    "rm -f /run/claude-sandbox/.claude.json && ln -s %s /run/claude-sandbox/.claude.json && "
    "echo LINKED",
    strrchr (host_tmp_marker, '/') + 1, "csb-run-marker", docker);
  out = run_sh_in (fixture, NULL, script, &status);
  g_assert_cmpint (status, ==, 0);
  assert_not_contains (out, "host tmp");
  assert_not_contains (out, "host runtime");
  assert_not_contains (out, "csb-host-tmp-marker");
  assert_contains (out, "JSON-IS-FILE");
  assert_contains (out, "LINKED");

  /* Sandbox 3: ~/.claude.json was a link to the docker config: not read, not copied. */
  g_clear_pointer (&out, g_free);
  out = run_sh_in (fixture, NULL, "cat ~/.claude.json; ls -la ~/.claude/", &status);
  g_assert_cmpint (status, ==, 0);
  assert_not_contains (out, "docker-secret");

  /* Another project sees nothing of this one's home. */
  g_clear_pointer (&out, g_free);
  out = run_sh_in (fixture, other, "ls -la ~/.claude/; cat ~/.claude.json", &status);
  g_assert_cmpint (status, ==, 0);
  assert_not_contains (out, "settings-x.json");
  assert_not_contains (out, "settings-run.json");
  assert_not_contains (out, "docker-secret");

  /* The host: its files as they were, the service the same process. */
  assert_file (claude_json, HOST_JSON);
  assert_file (credentials, HOST_CREDENTIAL);
  assert_file (host_tmp_marker, "host tmp\n");
  g_assert_cmpuint (csb_test_bus_service_pid (&fixture->bus), ==, service);
  unlink (host_tmp_marker);
}

/* Hostile ~/.claude.json and credentials: deeply nested, huge, wrong types. The
 * service survives each (its pid stays), the sandbox ends as exited, and the user's
 * files keep everything but the keys that validated. */
static void
test_hostile_json (CsbSecFixture *fixture,
                   gconstpointer  data)
{
  g_autofree char *claude_json = home_path (fixture, ".claude.json");
  g_autofree char *credentials = home_path (fixture, ".claude/.credentials.json");
  g_autofree char *host = NULL;
  g_autofree char *out = NULL;
  guint service = 0;
  int status = -1;
  const char * const scripts[] = {
    /* Deep nesting, for a recursive parser, in both files. */
    "head -c 200000 /dev/zero | tr '\\0' '[' > ~/.claude.json && "
    "{ printf '{\"claudeAiOauth\": '; head -c 100000 /dev/zero | tr '\\0' '['; } "
    "> ~/.claude/.credentials.json && echo DONE",
    /* Deep nesting inside an allowed key, and huge files. */
    "{ printf '{\"oauthAccount\": '; head -c 50000 /dev/zero | tr '\\0' '{' ; } > ~/.claude.json"
    " && head -c 20000000 /dev/zero | tr '\\0' ' ' >> ~/.claude.json && "
    "head -c 100000 /dev/zero | tr '\\0' ' ' >> ~/.claude/.credentials.json && echo DONE",
    /* Wrong types and sizes: only hasCompletedOnboarding is valid. */
    "{ printf '{\"hasCompletedOnboarding\": true, \"theme\": {\"evil\": 1}, "
    "\"oauthAccount\": {\"a\": {\"b\": {\"c\": 1}}}, \"lastOnboardingVersion\": 7, "
    "\"customApiKeyResponses\": {\"approved\": [\"sandbox-key\"]}, "
    "\"mcpServers\": {\"evil\": {\"command\": \"csb-planted-mcp\"}}, \"userID\": \"'; "
    "head -c 70000 /dev/zero | tr '\\0' 'a'; printf '\"}'; } > ~/.claude.json && "
    "printf '{\"claudeAiOauth\": {\"accessToken\": 42, \"expiresAt\": 99999999999999}}' "
    "> ~/.claude/.credentials.json && echo DONE",
    NULL
  };

  csb_test_write_file (claude_json, HOST_JSON, 0600);
  csb_test_write_file (credentials, HOST_CREDENTIAL, 0600);
  for (guint i = 0; scripts[i] != NULL; i++)
    {
      g_clear_pointer (&out, g_free);
      out = run_sh_in (fixture, NULL, scripts[i], &status);
      g_assert_cmpint (status, ==, 0);
      assert_contains (out, "DONE");
      if (service == 0)
        service = csb_test_bus_service_pid (&fixture->bus);
      g_assert_cmpuint (csb_test_bus_service_pid (&fixture->bus), ==, service);
      assert_file (credentials, HOST_CREDENTIAL);
    }
  host = csb_sec_read_file (claude_json);
  g_assert_nonnull (host);
  assert_contains (host, "\"hasCompletedOnboarding\" : true");
  assert_contains (host, "\"theme\" : \"dark\"");
  assert_contains (host, "\"userID\" : \"host-user\"");
  assert_contains (host, "/secret/project");
  assert_not_contains (host, "evil");
  assert_not_contains (host, "sandbox-key");
  assert_not_contains (host, "csb-planted-mcp");
  assert_not_contains (host, "oauthAccount");
  assert_not_contains (host, "lastOnboardingVersion");

  /* And the home starts afresh: a next sandbox runs. */
  g_clear_pointer (&out, g_free);
  out = run_sh_in (fixture, NULL, "cat ~/.claude.json; echo; echo RAN", &status);
  g_assert_cmpint (status, ==, 0);
  assert_contains (out, "RAN");
}

/* More than one JSON value in a file (json-glib 1.6 took the first and leaked the
 * containers of the others, so "{…} {} {} …" grew the service at every write-back):
 * refused whole, the user's files unchanged, the service still up. */
static void
test_multi_root (CsbSecFixture *fixture,
                 gconstpointer  data)
{
  g_autofree char *claude_json = home_path (fixture, ".claude.json");
  g_autofree char *credentials = home_path (fixture, ".claude/.credentials.json");
  g_autofree char *out = NULL;
  int status = -1;

  csb_test_write_file (claude_json, HOST_JSON, 0600);
  csb_test_write_file (credentials, HOST_CREDENTIAL, 0600);
  out = run_sh_in (fixture, NULL,
                   "printf '{\"hasCompletedOnboarding\": true} {\"a\": {\"b\": [{}]}} [{}]' "
                   "> ~/.claude.json && "
                   "printf '{\"claudeAiOauth\": {\"accessToken\": \"sk-planted\", "
                   "\"expiresAt\": %s000}} {\"x\": {}}' \"$(date +%s)\" "
                   "> ~/.claude/.credentials.json && echo DONE", &status);
  g_assert_cmpint (status, ==, 0);
  assert_contains (out, "DONE");
  assert_file (claude_json, HOST_JSON);
  assert_file (credentials, HOST_CREDENTIAL);
}

/* The login: the user's credential goes in (only the claude.ai login, not the MCP
 * servers' tokens), and a login made inside comes back to the user's file, validated,
 * 0600; a stale or malformed one does not. */
static void
test_login (CsbSecFixture *fixture,
            gconstpointer  data)
{
  g_autofree char *claude_json = home_path (fixture, ".claude.json");
  g_autofree char *credentials = home_path (fixture, ".claude/.credentials.json");
  g_autofree char *host = NULL;
  g_autofree char *out = NULL;
  struct stat st;
  int status = -1;

  {
    /* The user trusts this project outside (and allowed tools there, which stay out). */
    g_autofree char *host_json = g_strdup_printf (
      "{\"theme\": \"dark\", \"projects\": {\"/secret/project\": {\"allowedTools\": "
      "[\"Bash\"]}, \"%s\": {\"hasTrustDialogAccepted\": true, \"allowedTools\": "
      "[\"csb-allowed-outside\"]}}}\n", fixture->project);

    csb_test_write_file (claude_json, host_json, 0600);
  }
  csb_test_write_file (credentials, HOST_CREDENTIAL, 0600);

  out = run_sh_in (fixture, NULL,
                   "cat ~/.claude.json; cat ~/.claude/.credentials.json; echo; "
                   "printf '{\"claudeAiOauth\": {\"accessToken\": \"sk-sandbox-access\", "
                   "\"refreshToken\": \"sk-sandbox-refresh\", \"expiresAt\": 2000, "
                   "\"scopes\": [\"user:inference\", \"user:profile\"], "
                   "\"subscriptionType\": \"max\", \"planted\": {\"x\": 1}}, "
                   "\"mcpOAuth\": {\"evil\": 1}}' > ~/.claude/.credentials.json && "
                   "printf '{\"oauthAccount\": {\"emailAddress\": \"u@example.org\", "
                   "\"accountUuid\": \"1234\"}, \"theme\": \"light\", "
                   "\"hasCompletedOnboarding\": true}' > ~/.claude.json && echo LOGGED-IN",
                   &status);
  g_assert_cmpint (status, ==, 0);
  assert_contains (out, "sk-host-access");
  assert_not_contains (out, "host-mcp-token");
  assert_contains (out, "\"hasTrustDialogAccepted\" : true");
  assert_not_contains (out, "csb-allowed-outside");
  assert_not_contains (out, "/secret/project");
  assert_contains (out, "LOGGED-IN");

  host = csb_sec_read_file (credentials);
  assert_contains (host, "sk-sandbox-access");
  assert_contains (host, "sk-sandbox-refresh");
  assert_contains (host, "host-mcp-token");   /* the rest of the user's file stays */
  assert_not_contains (host, "planted");
  assert_not_contains (host, "evil");
  g_assert_cmpint (stat (credentials, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_clear_pointer (&host, g_free);
  host = csb_sec_read_file (claude_json);
  assert_contains (host, "u@example.org");
  assert_contains (host, "\"theme\" : \"light\"");
  assert_contains (host, "/secret/project");

  /* An older login from inside does not replace a newer one outside. */
  g_clear_pointer (&out, g_free);
  out = run_sh_in (fixture, NULL,
                   "printf '{\"claudeAiOauth\": {\"accessToken\": \"sk-stale\", "
                   "\"expiresAt\": 10}}' > ~/.claude/.credentials.json && echo STALE",
                   &status);
  assert_contains (out, "STALE");
  g_clear_pointer (&host, g_free);
  host = csb_sec_read_file (credentials);
  assert_contains (host, "sk-sandbox-access");
  assert_not_contains (host, "sk-stale");

  /* A login dated far ahead (year 5138) would win against every later login of the
   * user's, at the end of each sandbox of this project: not written back. */
  g_clear_pointer (&out, g_free);
  out = run_sh_in (fixture, NULL,
                   "printf '{\"claudeAiOauth\": {\"accessToken\": \"sk-forever\", "
                   "\"expiresAt\": 99999999999999}}' > ~/.claude/.credentials.json && "
                   "echo FOREVER", &status);
  assert_contains (out, "FOREVER");
  g_clear_pointer (&host, g_free);
  host = csb_sec_read_file (credentials);
  assert_contains (host, "sk-sandbox-access");
  assert_not_contains (host, "sk-forever");
}

/* Two sandboxes of one project share their home (claude --continue works); another
 * project's sandbox sees none of it. */
static void
test_per_project (CsbSecFixture *fixture,
                  gconstpointer  data)
{
  g_autofree char *other = csb_test_make_project (&fixture->bus.dirs, "other");
  g_autofree char *out = NULL;
  int status = -1;

  out = run_sh_in (fixture, NULL,
                   "mkdir -p ~/.claude/projects/here && echo transcript-one > "
                   "~/.claude/projects/here/s.jsonl && echo ok", &status);
  g_assert_cmpint (status, ==, 0);
  g_clear_pointer (&out, g_free);
  out = run_sh_in (fixture, NULL, "cat ~/.claude/projects/here/s.jsonl", &status);
  assert_contains (out, "transcript-one");
  g_clear_pointer (&out, g_free);
  out = run_sh_in (fixture, other, "cat ~/.claude/projects/here/s.jsonl 2>&1; ls -R ~/.claude",
                   &status);
  assert_not_contains (out, "transcript-one");
}

/* A sandbox ends while no service runs, leaving a deeply nested ~/.claude.json and a
 * new login: the service that takes it over writes the login back and neither crashes
 * nor loops (it used to, at every restart). */
static void
test_adoption (CsbSecFixture *fixture,
               gconstpointer  data)
{
  g_autofree char *claude_json = home_path (fixture, ".claude.json");
  g_autofree char *credentials = home_path (fixture, ".claude/.credentials.json");
  g_autofree char *marker = g_build_filename (fixture->project, "go", NULL);
  g_autofree char *script = g_strdup_printf (
    "head -c 200000 /dev/zero | tr '\\0' '[' > ~/.claude.json && "
    "printf '{\"claudeAiOauth\": {\"accessToken\": \"sk-while-away\", "
    "\"expiresAt\": 5000}}' > ~/.claude/.credentials.json && echo written && "
    "while [ ! -e %s ]; do sleep 0.05; done; echo bye; exit 4", marker);
  const char * const command[] = { "sh", "-c", script, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;
  g_autofree char *proc = NULL;
  g_autofree char *host = NULL;
  g_autofree char *out = NULL;
  guint service;
  int status = -1;

  csb_test_write_file (claude_json, HOST_JSON, 0600);
  csb_test_write_file (credentials, HOST_CREDENTIAL, 0600);
  run = csb_test_launch_pty (&fixture->bus, fixture->project, command, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (run);
  proc = g_strdup_printf ("/proc/%u", csb_dbus_sandbox_get_pid (run->sandbox));
  csb_test_bus_crash_service (&fixture->bus);

  g_file_set_contents (marker, "", 0, NULL);
  for (guint i = 0; i < 3000 && g_file_test (proc, G_FILE_TEST_EXISTS); i++)
    csb_test_sleep_ms (10);
  g_assert_false (g_file_test (proc, G_FILE_TEST_EXISTS));

  /* Exited, as recorded; the clean-up (the write-back) is done by then. */
  term = csb_test_bus_history_after_exit (&fixture->bus, run->object_path, 4);
  g_assert_nonnull (strstr (term->received->str, "bye"));
  service = csb_test_bus_service_pid (&fixture->bus);
  host = csb_sec_read_file (credentials);
  assert_contains (host, "sk-while-away");
  assert_contains (host, "host-mcp-token");
  assert_file (claude_json, HOST_JSON);

  /* The same service goes on serving. */
  out = run_sh_in (fixture, NULL, "echo STILL-SERVED", &status);
  assert_contains (out, "STILL-SERVED");
  g_assert_cmpuint (csb_test_bus_service_pid (&fixture->bus), ==, service);
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  g_test_set_nonfatal_assertions ();

  g_test_add ("/security/claude-home/user-config", CsbSecFixture, NULL, setup,
              test_user_config, teardown);
  g_test_add ("/security/claude-home/planted", CsbSecFixture, NULL, setup,
              test_planted, teardown);
  g_test_add ("/security/claude-home/hostile-json", CsbSecFixture, NULL, setup,
              test_hostile_json, teardown);
  g_test_add ("/security/claude-home/multi-root", CsbSecFixture, NULL, setup,
              test_multi_root, teardown);
  g_test_add ("/security/claude-home/login", CsbSecFixture, NULL, setup,
              test_login, teardown);
  g_test_add ("/security/claude-home/per-project", CsbSecFixture, NULL, setup,
              test_per_project, teardown);
  g_test_add ("/security/claude-home/vm/user-config", CsbSecFixture, "vm", setup,
              test_user_config, teardown);
  g_test_add ("/security/claude-home/vm/planted", CsbSecFixture, "vm", setup,
              test_planted, teardown);
  g_test_add ("/security/claude-home/container/user-config", CsbSecFixture, "container", setup,
              test_user_config, teardown);
  g_test_add ("/security/claude-home/container/planted", CsbSecFixture, "container", setup,
              test_planted, teardown);
  g_test_add ("/security/claude-home/adoption", CsbSecFixture, NULL, setup,
              test_adoption, teardown);
  return g_test_run ();
}
