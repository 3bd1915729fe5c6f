/* test-sec-project.c — what a sandbox leaves in its project folder for the next
 * one and for the programs outside (git, the host's claude). Links planted where
 * protected names should be are never followed by the service; nested settings
 * and repositories are protected like the project's own; every plant kind shows
 * in the sandbox's Plants property, its PlantsFound signal and the CLI's warning.
 * The attacks on protected names also run against the vm and container backends
 * (/security/project/vm/…, /security/project/container/…: one layout protects the
 * project in all three, csb-layout.c); tests/meson.build runs those in the vm and
 * container suites, one program at a time, and they skip saying why where that
 * backend cannot run.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "csb-sec-utils.h"

#define SECRET "HOST-PRIVATE-KEY-csb-test\n"

/* @data: the backend of the test's sandboxes, or NULL for the default (bwrap). */
static void
setup (CsbSecFixture *fixture,
       gconstpointer  data)
{
  csb_sec_fixture_setup_backend (fixture, data);
}

/* The launch options for the fixture's backend (NULL: the default's), and whether
 * that backend can run here (else the test is skipped). */
static gboolean
backend_options (CsbSecFixture *fixture,
                 gconstpointer  data,
                 GVariant     **out_options)
{
  GVariant *options = csb_sec_backend_options (fixture);

  *out_options = options != NULL ? g_variant_ref_sink (options) : NULL;
  return data == NULL || csb_sec_require_backend (fixture, data);
}

static void
teardown (CsbSecFixture *fixture,
          gconstpointer  data)
{
  csb_sec_fixture_teardown (fixture);
}

static char *
in (const char *dir,
    const char *relative)
{
  return g_build_filename (dir, relative, NULL);
}

static gboolean
is_symlink (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0 && S_ISLNK (st.st_mode);
}

/* Runs @script with /bin/sh in a sandbox on @project; its stdin is held until the
 * PlantsFound handler is connected. Returns the run, ended. */
static CsbTestRun *
run_sh (CsbSecFixture *fixture,
        const char    *project,
        const char    *script,
        GVariant      *options,
        GPtrArray     *signalled)
{
  g_autofree char *full = g_strdup_printf ("read -r go; %s", script);
  const char * const argv[] = { "/bin/sh", "-c", full, NULL };
  g_autoptr(GError) error = NULL;
  const char *backend = NULL;
  guint timeout;
  CsbTestRun *run;

  if (options != NULL)
    g_variant_lookup (options, "backend", "&s", &backend);
  timeout = csb_sec_timeout_ms (backend);
  run = csb_test_launch (&fixture->bus, project, argv, options, TRUE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (run);
  if (signalled != NULL)
    g_signal_connect_swapped (run->sandbox, "plants-found", G_CALLBACK (g_ptr_array_add),
                              signalled);
  g_assert_cmpint (write (run->stdin_fd, "go\n", 3), ==, 3);
  close (run->stdin_fd);
  run->stdin_fd = -1;
  g_assert_true (csb_test_run_wait (run, timeout));
  g_test_message ("[%s] → %d\nstdout: %s\nstderr: %s", script, run->exit_signal_status,
                  run->out->str, run->err->str);
  return run;
}

/* The why of @path in a(ss) @plants, or NULL. */
static const char *
plant_why (GVariant   *plants,
           const char *path)
{
  GVariantIter iter;
  const char *p, *why;

  g_assert_nonnull (plants);
  g_variant_iter_init (&iter, plants);
  while (g_variant_iter_next (&iter, "(&s&s)", &p, &why))
    if (g_str_equal (p, path))
      return why;
  return NULL;
}

static void
assert_plant (GVariant   *plants,
              const char *path,
              const char *needle)
{
  const char *why = plant_why (plants, path);

  if (why == NULL || strstr (why, needle) == NULL)
    {
      g_autofree char *shown = g_variant_print (plants, FALSE);
      g_error ("no plant %s (\"%s\") in %s", path, needle, shown);
    }
}

/* Sandbox 1 on a project without .git plants links to the host's private key and
 * /tmp where .git/config, .git/hooks and a nested .claude/settings.json go; the
 * service of sandbox 2 must bind none of them (issue 12: it bound them by path). */
static void
test_planted_links (CsbSecFixture *fixture,
                    gconstpointer  data)
{
  g_autofree char *project = csb_test_make_project (&fixture->bus.dirs, "nogit");
  g_autofree char *key = in (fixture->bus.dirs.home, ".ssh/id_ed25519");
  g_autofree char *marker_dir = g_dir_make_tmp ("csb-host-tmp-XXXXXX", NULL);
  g_autofree char *marker = in (marker_dir, "host-marker");
  g_autofree char *script1 = NULL;
  g_autofree char *script2 = NULL;
  g_autofree char *config = in (project, ".git/config");
  g_autofree char *hooks = in (project, ".git/hooks");
  g_autofree char *nested = in (project, "sub/.claude/settings.json");
  g_autofree char *local = in (project, "sub/.claude/settings.local.json");
  g_autofree char *commondir = in (project, ".git/commondir");
  g_autoptr(CsbTestRun) run1 = NULL;
  g_autoptr(CsbTestRun) run2 = NULL;
  g_autoptr(GVariant) options = NULL;
  g_autofree char *marker_base = NULL;
  GVariant *plants;

  g_assert_nonnull (marker_dir);
  if (!backend_options (fixture, data, &options))
    {
      g_rmdir (marker_dir);
      return;
    }
  marker_base = g_path_get_basename (marker_dir);
  csb_test_write_file (key, SECRET, 0600);
  csb_test_write_file (marker, "host tmp\n", 0644);

  script1 = g_strdup_printf ("mkdir -p .git sub/.claude && ln -s %s .git/config && "
                             "ln -s /tmp .git/hooks && ln -s %s sub/.claude/settings.json && "
                             "ln -s %s sub/.claude/settings.local.json && "
                             "ln -s %s .git/commondir",
                             key, key, "../../../../../../../../../.." , marker_dir);
  run1 = run_sh (fixture, project, script1, options, NULL);
  g_assert_cmpint (run1->exit_signal_status, ==, 0);
  g_assert_true (is_symlink (config));
  g_assert_true (is_symlink (hooks));
  g_assert_true (is_symlink (nested));

  /* stderr away: a container's output is one terminal, and cat's complaint names
   * the marker's path. */
  script2 = g_strdup_printf ("exec 2>/dev/null; cat .git/config; cat sub/.claude/settings.json; "
                             "ls -a .git/hooks/ .git/commondir/ sub/.claude/settings.local.json/; "
                             "ls -a /tmp; cat %s; true", marker);
  run2 = run_sh (fixture, project, script2, options, NULL);
  g_assert_null (strstr (run2->out->str, "HOST-PRIVATE-KEY"));
  g_assert_null (strstr (run2->out->str, marker_base));
  g_assert_null (strstr (run2->out->str, "host-marker"));
  g_assert_null (strstr (run2->out->str, "host tmp"));

  /* Nothing moved on the host: the links are still links, the key and /tmp as they were. */
  g_assert_true (is_symlink (config));
  g_assert_true (is_symlink (hooks));
  g_assert_true (is_symlink (nested));
  g_assert_true (is_symlink (commondir));
  {
    g_autofree char *contents = csb_sec_read_file (key);
    g_assert_cmpstr (contents, ==, SECRET);
  }
  {
    g_autofree char *contents = csb_sec_read_file (marker);
    g_assert_cmpstr (contents, ==, "host tmp\n");
  }

  /* Sandbox 1 is reported for what it planted, sandbox 2 for what it found. */
  plants = csb_dbus_sandbox_get_plants (run1->sandbox);
  assert_plant (plants, ".git", "new");
  assert_plant (plants, ".git/config", "a new symlink");
  assert_plant (plants, ".git/hooks", "a new symlink");
  assert_plant (plants, "sub/.claude/settings.json", "a new symlink");
  plants = csb_dbus_sandbox_get_plants (run2->sandbox);
  assert_plant (plants, ".git/config", "a symlink where");
  assert_plant (plants, ".git/hooks", "a symlink where");
  assert_plant (plants, ".git/commondir", "a symlink where");
  assert_plant (plants, "sub/.claude/settings.json", "a symlink where");
  assert_plant (plants, "sub/.claude/settings.local.json", "a symlink where");

  g_unlink (marker);
  g_rmdir (marker_dir);
}

/* A folder where a file should be, and a file where hooks should be: not bound. */
static void
test_wrong_types (CsbSecFixture *fixture,
                  gconstpointer  data)
{
  g_autofree char *project = csb_test_make_project (&fixture->bus.dirs, "types");
  g_autoptr(CsbTestRun) run1 = NULL;
  g_autoptr(CsbTestRun) run2 = NULL;
  g_autofree char *hooks = in (project, ".git/hooks");
  g_autoptr(GVariant) options = NULL;
  GVariant *plants;

  if (!backend_options (fixture, data, &options))
    return;
  run1 = run_sh (fixture, project,
                 "mkdir -p .git/config sub/.claude/settings.json && "
                 "echo '#!/bin/sh' > .git/hooks",
                 options, NULL);
  g_assert_cmpint (run1->exit_signal_status, ==, 0);
  run2 = run_sh (fixture, project, "echo planted > .git/hooks && echo ok", options, NULL);
  g_assert_true (g_file_test (hooks, G_FILE_TEST_IS_REGULAR));
  plants = csb_dbus_sandbox_get_plants (run2->sandbox);
  assert_plant (plants, ".git/config", "not a regular file");
  assert_plant (plants, ".git/hooks", "not a folder");
  assert_plant (plants, "sub/.claude/settings.json", "not a regular file");
}

/* Nested settings and repositories that exist at the start are read-only inside,
 * and cannot be renamed away with their parents. */
static void
test_nested_protected (CsbSecFixture *fixture,
                       gconstpointer  data)
{
  const char *p = fixture->project;
  g_autofree char *settings = in (p, "sub/dir/.claude/settings.json");
  g_autofree char *local = in (p, "sub/.claude/settings.local.json");
  g_autofree char *nested_config = in (p, "lib/inner/.git/config");
  g_autofree char *nested_hooks = in (p, "lib/inner/.git/hooks");
  g_autofree char *nested_head = in (p, "lib/inner/.git/HEAD");
  g_autofree char *module_config = in (p, ".git/modules/m/config");
  g_autofree char *module_head = in (p, ".git/modules/m/HEAD");
  g_autofree char *gitlink = in (p, "mod/.git");
  g_autofree char *script = NULL;
  g_autofree char *hook = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GHashTable) results = NULL;
  g_autoptr(GVariant) options = NULL;

  if (!backend_options (fixture, data, &options))
    return;
  csb_test_write_file (settings, "{\"marker\": 1}\n", 0644);
  csb_test_write_file (local, "{\"marker\": 2}\n", 0644);
  csb_test_write_file (nested_config, "[core]\n", 0644);
  csb_test_write_file (nested_head, "ref: refs/heads/main\n", 0644);
  csb_test_write_file (module_config, "[core]\n", 0644);
  csb_test_write_file (module_head, "ref: refs/heads/main\n", 0644);
  csb_test_write_file (gitlink, "gitdir: ../.git/modules/m\n", 0644);
  hook = in (nested_hooks, "pre-commit");

  script = g_strdup_printf ("P=%s; for f in sub/dir/.claude/settings.json "
                            "sub/.claude/settings.local.json lib/inner/.git/config "
                            "lib/inner/.git/hooks/pre-commit .git/modules/m/config "
                            ".git/modules/m/hooks/post-checkout mod/.git; do $P write $f; done; "
                            "for d in sub sub/dir lib lib/inner lib/inner/.git sub/.claude "
                            ".git/modules/m; do $P rename $d $d.moved; done",
                            fixture->probe);
  run = run_sh (fixture, p, script, options, NULL);
  results = csb_sec_parse (run->out->str);
  g_assert_cmpstr (g_hash_table_lookup (results, "sub/dir/.claude/settings.json"), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, "sub/.claude/settings.local.json"), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, "lib/inner/.git/config"), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, "lib/inner/.git/hooks/pre-commit"), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, ".git/modules/m/config"), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, ".git/modules/m/hooks/post-checkout"), ==,
                   "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, "mod/.git"), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, "rename:sub"), ==, "EBUSY");
  g_assert_cmpstr (g_hash_table_lookup (results, "rename:sub/dir"), ==, "EBUSY");
  g_assert_cmpstr (g_hash_table_lookup (results, "rename:lib"), ==, "EBUSY");
  g_assert_cmpstr (g_hash_table_lookup (results, "rename:lib/inner"), ==, "EBUSY");
  g_assert_cmpstr (g_hash_table_lookup (results, "rename:lib/inner/.git"), ==, "EBUSY");
  g_assert_cmpstr (g_hash_table_lookup (results, "rename:sub/.claude"), ==, "EBUSY");
  g_assert_cmpstr (g_hash_table_lookup (results, "rename:.git/modules/m"), ==, "EBUSY");

  {
    g_autofree char *contents = csb_sec_read_file (settings);
    g_assert_cmpstr (contents, ==, "{\"marker\": 1}\n");
  }
  {
    g_autofree char *contents = csb_sec_read_file (nested_config);
    g_assert_cmpstr (contents, ==, "[core]\n");
  }
  {
    g_autofree char *contents = csb_sec_read_file (gitlink);
    g_assert_cmpstr (contents, ==, "gitdir: ../.git/modules/m\n");
  }
  g_assert_false (g_file_test (hook, G_FILE_TEST_EXISTS));
  /* Nothing protected was there to plant in: nothing reported. */
  {
    GVariant *plants = csb_dbus_sandbox_get_plants (run->sandbox);
    g_autofree char *shown = g_variant_print (plants, FALSE);

    g_test_message ("plants: %s", shown);
    g_assert_cmpuint (g_variant_n_children (plants), ==, 0);
  }
}

/* The project's own .claude: its settings, git's config and commondir read-only;
 * a settings file made inside lands in a tmpfs and never reaches the folder (the
 * host's claude would obey it); its other files stay the project's, writable; it
 * cannot be renamed away. The same names in Protections for every backend. */
static void
test_claude_settings (CsbSecFixture *fixture,
                      gconstpointer  data)
{
  const char *p = fixture->project;
  g_autofree char *settings = in (p, ".claude/settings.json");
  g_autofree char *notes = in (p, ".claude/notes.md");
  g_autofree char *made = in (p, ".claude/settings.local.json");
  g_autofree char *config = in (p, ".git/config");
  g_autofree char *config_before = csb_sec_read_file (config);
  g_autofree char *script = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GHashTable) results = NULL;
  g_autoptr(GVariant) options = NULL;
  const char * const *protections;

  if (!backend_options (fixture, data, &options))
    return;
  csb_test_write_file (settings, "{}\n", 0644);
  csb_test_write_file (notes, "notes\n", 0644);
  script = g_strdup_printf ("P=%s; for f in .claude/settings.json .git/config .git/commondir "
                            ".git/hooks/pre-commit .claude/settings.local.json .claude/notes.md; "
                            "do $P write $f; done; $P rename .claude .claude.moved; "
                            "cat .claude/settings.local.json",
                            fixture->probe);
  run = run_sh (fixture, p, script, options, NULL);
  results = csb_sec_parse (run->out->str);
  g_assert_cmpstr (g_hash_table_lookup (results, ".claude/settings.json"), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, ".git/config"), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, ".git/commondir"), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, ".git/hooks/pre-commit"), ==, "EROFS");
  g_assert_cmpstr (g_hash_table_lookup (results, ".claude/settings.local.json"), ==, "OK");
  g_assert_cmpstr (g_hash_table_lookup (results, ".claude/notes.md"), ==, "OK");
  g_assert_cmpstr (g_hash_table_lookup (results, "rename:.claude"), ==, "EBUSY");

  g_assert_false (g_file_test (made, G_FILE_TEST_EXISTS));
  {
    g_autofree char *contents = csb_sec_read_file (settings);
    g_assert_cmpstr (contents, ==, "{}\n");
  }
  {
    g_autofree char *contents = csb_sec_read_file (config);
    g_assert_cmpstr (contents, ==, config_before);
  }
  {
    g_autofree char *contents = csb_sec_read_file (notes);
    g_assert_cmpstr (contents, ==, "written from inside the sandbox\n");
  }
  protections = csb_dbus_sandbox_get_protections (run->sandbox);
  g_assert_true (g_strv_contains (protections, "project-claude-settings-ro"));
  g_assert_true (g_strv_contains (protections, "git-config-ro"));
  g_assert_false (g_strv_contains (protections, "project-claude-config-ro"));
}

/* Runs @argv, TRUE if it exited 0; its stdout in @out if given. */
static gboolean
run_tool (const char * const *argv,
          char              **out)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int status = -1;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, out, &err,
                     &status, &error))
    {
      g_test_message ("%s: %s", argv[0], error->message);
      return FALSE;
    }
  g_test_message ("%s → %d %s", argv[0], status, err ? err : "");
  return g_spawn_check_wait_status (status, NULL);
}

/* A project on a case-insensitive filesystem (exFAT, mounted through FUSE from a loop
 * device: this kernel has no vfat or casefold, and only root may mount). Sandbox 1
 * plants Claude Code settings and a .envrc under names in other cases, which the
 * host's claude and direnv read as their own: they are reported as such, and the
 * next sandbox finds the settings read-only under their own name. */
static void
test_case_insensitive (CsbSecFixture *fixture,
                       gconstpointer  data)
{
  g_autofree char *project = csb_test_make_project (&fixture->bus.dirs, "exfat");
  g_autofree char *image = g_build_filename (fixture->bus.dirs.root, "exfat.img", NULL);
  g_autofree char *settings = in (project, "sub/.claude/settings.json");
  g_autofree char *loop = NULL;
  g_autofree char *script = NULL;
  g_autoptr(CsbTestRun) run1 = NULL;
  g_autoptr(CsbTestRun) run2 = NULL;
  g_autoptr(GHashTable) results = NULL;
  GVariant *plants;

  if (getuid () != 0 || g_find_program_in_path ("mkfs.exfat") == NULL ||
      g_find_program_in_path ("mount.exfat-fuse") == NULL)
    {
      g_test_skip ("needs root, mkfs.exfat and mount.exfat-fuse (exfatprogs, exfat-fuse) to "
                   "mount a case-insensitive filesystem; the name folding itself is tested "
                   "by test-project-guard /project-guard/folded-names");
      return;
    }
  {
    const char * const truncate_argv[] = { "truncate", "-s", "32M", image, NULL };
    const char * const mkfs_argv[] = { "mkfs.exfat", image, NULL };
    const char * const losetup_argv[] = { "losetup", "-f", "--show", image, NULL };

    g_assert_true (run_tool (truncate_argv, NULL));
    g_assert_true (run_tool (mkfs_argv, NULL));
    if (!run_tool (losetup_argv, &loop))
      {
        g_test_skip ("no free loop device");
        return;
      }
    g_strstrip (loop);
  }
  {
    const char * const mount_argv[] = {
      "mount.exfat-fuse", "-o", "uid=0,gid=0,umask=022", loop, project, NULL
    };
    g_assert_true (run_tool (mount_argv, NULL));
  }

  {
    g_autofree char *readme = in (project, "README");

    csb_test_write_file (readme, "a project on exFAT\n", 0644);
  }
  run1 = run_sh (fixture, project,
                 "set -e; mkdir -p sub/.CLAUDE; "
                 "echo '{\"hooks\": {}}' > sub/.CLAUDE/SETTINGS.JSON; "
                 "echo 'echo hi' > .ENVRC; echo planted", NULL, NULL);
  g_assert_cmpint (run1->exit_signal_status, ==, 0);
  plants = csb_dbus_sandbox_get_plants (run1->sandbox);
  {
    g_autofree char *shown = g_variant_print (plants, FALSE);
    g_test_message ("plants: %s", shown);
  }
  assert_plant (plants, "sub/.claude/SETTINGS.JSON", "new: Claude Code settings");
  assert_plant (plants, ".envrc", "new: direnv");
  assert_plant (plants, ".", "ignores case through FUSE");

  /* The host's claude in sub/ reads them as its settings. */
  {
    g_autofree char *contents = csb_sec_read_file (settings);
    g_assert_cmpstr (contents, ==, "{\"hooks\": {}}\n");
  }
  {
    g_autofree char *probe = in (project, "csb-sec-probe");
    const char * const cp_argv[] = { "cp", fixture->probe, probe, NULL };

    g_assert_true (run_tool (cp_argv, NULL));
    script = g_strdup_printf ("P=%s; $P write sub/.claude/settings.json; "
                              "echo '{}' > sub/.CLAUDE/SETTINGS.JSON", probe);
  }
  /* The settings the first planted under another spelling are found and bound
   * read-only; another spelling is another path to the file through FUSE, which no
   * bind covers: the user was warned at the start that this filesystem cannot hold
   * protected files read-only (whether such a change is reported at the end depends
   * on FUSE's attribute cache, so it is not asserted). */
  run2 = run_sh (fixture, project, script, NULL, NULL);
  results = csb_sec_parse (run2->out->str);
  g_assert_cmpstr (g_hash_table_lookup (results, "sub/.claude/settings.json"), ==, "EROFS");
  assert_plant (csb_dbus_sandbox_get_plants (run2->sandbox), ".", "ignores case through FUSE");

  {
    /* Lazily: the service still holds the ended sandboxes' project descriptors. The
     * loop device goes when the FUSE daemon lets go of it. */
    const char * const umount_argv[] = { "umount", "-l", project, NULL };
    const char * const detach_argv[] = { "losetup", "-d", loop, NULL };

    g_assert_true (run_tool (umount_argv, NULL));
    run_tool (detach_argv, NULL);
  }
}

static const char plant_script[] =
  "set -e; echo '{\"mcpServers\": {}}' > .mcp.json; echo 'echo hi' > .envrc; "
  "mkdir -p .vscode .devcontainer new/.claude repo/.git/hooks gl lnk; "
  "echo '{}' > .vscode/tasks.json; echo '{}' > .vscode/settings.json; "
  "echo '{}' > .devcontainer/devcontainer.json; "
  "echo '{\"hooks\": {}}' > new/.claude/settings.local.json; "
  "printf '[core]\\n\\tfsmonitor = ./x\\n' > repo/.git/config; "
  "echo '#!/bin/sh' > repo/.git/hooks/post-checkout; "
  "echo 'gitdir: ../repo/.git' > gl/.git; ln -s /tmp lnk/.git; echo planted";

static void
assert_all_plants (GVariant *plants)
{
  assert_plant (plants, ".mcp.json", "new: MCP");
  assert_plant (plants, ".envrc", "new: direnv");
  assert_plant (plants, ".vscode/tasks.json", "new: VS Code tasks");
  assert_plant (plants, ".vscode/settings.json", "new: VS Code settings");
  assert_plant (plants, ".devcontainer/devcontainer.json", "new: a dev container");
  assert_plant (plants, "new/.claude/settings.local.json", "new: Claude Code settings");
  assert_plant (plants, "repo/.git", "new: a git repository");
  assert_plant (plants, "repo/.git/config", "fsmonitor");
  assert_plant (plants, "repo/.git/hooks/post-checkout", "new: a git hook");
  assert_plant (plants, "gl/.git", "new: a gitlink");
  assert_plant (plants, "lnk/.git", "a new symlink");
}

/* Every kind of plant is in Plants after the end, and was announced by PlantsFound. */
static void
test_plants_reported (CsbSecFixture *fixture,
                      gconstpointer  data)
{
  g_autoptr(GPtrArray) signalled = g_ptr_array_new ();
  g_autoptr(CsbTestRun) run = NULL;

  /* signalled collects one pointer per PlantsFound: only counted. */
  run = run_sh (fixture, fixture->project, plant_script, NULL, signalled);
  g_assert_cmpint (run->exit_signal_status, ==, 0);
  assert_all_plants (csb_dbus_sandbox_get_plants (run->sandbox));
  g_assert_cmpuint (signalled->len, >=, 1);
  /* A file the sandbox changed that runs nowhere is not reported. */
  g_assert_null (plant_why (csb_dbus_sandbox_get_plants (run->sandbox), "README"));
}

/* A plant below a folder whose name is not UTF-8 (nor printable): reported with U+FFFD
 * for the invalid byte, and the service stays up (D-Bus strings are UTF-8). */
static void
test_plants_not_utf8 (CsbSecFixture *fixture,
                      gconstpointer  data)
{
  g_autoptr(CsbTestRun) run = NULL;

  run = run_sh (fixture, fixture->project,
                "d=\"$(printf 'd\\377\\033]52;c;eA==\\007')\"; mkdir \"$d\" && "
                "echo 'echo hi' > \"$d/.envrc\"", NULL, NULL);
  g_assert_cmpint (run->exit_signal_status, ==, 0);
  assert_plant (csb_dbus_sandbox_get_plants (run->sandbox),
                "d\357\277\275\033]52;c;eA==\007/.envrc", "");
}

static gboolean
file_exists (gpointer data)
{
  return g_file_test (data, G_FILE_TEST_EXISTS);
}

static gboolean
has_mcp_plant (gpointer data)
{
  CsbDBusSandbox *sandbox = data;
  GVariant *plants = csb_dbus_sandbox_get_plants (sandbox);

  return plants != NULL && plant_why (plants, ".mcp.json") != NULL;
}

/* While the sandbox runs, the periodic scan reports a plant without waiting for the end. */
static void
test_plants_live (CsbSecFixture *fixture,
                  gconstpointer  data)
{
  const char * const argv[] = {
    "/bin/sh", "-c", "echo '{}' > .mcp.json && echo planted && read -r x", NULL
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;

  run = csb_test_launch (&fixture->bus, fixture->project, argv, NULL, TRUE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait_output (run, "planted", CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (has_mcp_plant, run->sandbox, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpstr (csb_dbus_sandbox_get_state (run->sandbox), ==, "running");
  close (run->stdin_fd);
  run->stdin_fd = -1;
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
}

/* What a sandbox plants while no service runs is reported by the next service,
 * which compares with the snapshot the first one took at the start. */
static void
test_plants_after_restart (CsbSecFixture *fixture,
                           gconstpointer  data)
{
  g_autofree char *go = g_build_filename (fixture->project, "go", NULL);
  g_autofree char *planted = g_build_filename (fixture->project, "planted", NULL);
  g_autofree char *end = g_build_filename (fixture->project, "end", NULL);
  g_autofree char *script = g_strdup_printf (
    "while [ ! -e %s ]; do sleep 0.05; done; echo '{}' > .mcp.json; touch %s; "
    "while [ ! -e %s ]; do sleep 0.05; done", go, planted, end);
  const char * const argv[] = { "/bin/sh", "-c", script, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;

  run = csb_test_launch_pty (&fixture->bus, fixture->project, argv, NULL, &error);
  g_assert_no_error (error);
  csb_test_bus_crash_service (&fixture->bus);
  csb_test_write_file (go, "", 0644);
  g_assert_true (csb_test_run_until (file_exists, planted, CSB_TEST_TIMEOUT_MS));

  sandbox = csb_test_bus_sandbox_after_restart (&fixture->bus, run->object_path);
  csb_test_write_file (end, "", 0644);
  g_assert_true (csb_test_run_until (csb_test_sandbox_ended, sandbox, CSB_TEST_TIMEOUT_MS));
  assert_plant (csb_dbus_sandbox_get_plants (sandbox), ".mcp.json", "new: MCP");
}

/* The CLI warns at the exit, on stderr, listing what was planted. */
static void
test_plants_cli (CsbSecFixture *fixture,
                 gconstpointer  data)
{
  const char *cli = g_getenv ("CSB_TEST_CLI");
  const char * const argv[] = {
    cli, "--no-network", "--command", fixture->project, "--", "/bin/sh", "-c", plant_script,
    NULL
  };
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  static const char * const paths[] = {
    ".mcp.json", ".envrc", ".vscode/tasks.json", ".vscode/settings.json",
    ".devcontainer/devcontainer.json", "new/.claude/settings.local.json", "repo/.git/config",
    "repo/.git/hooks/post-checkout", "gl/.git", "lnk/.git", NULL
  };

  g_assert_nonnull (cli);
  process = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                               G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                               &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  g_test_message ("stdout: %s\nstderr: %s", out, err);
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);
  g_assert_cmpstr (out, ==, "planted\n");
  g_assert_nonnull (strstr (err, "Warning"));
  for (guint i = 0; paths[i] != NULL; i++)
    {
      g_autofree char *line = g_strdup_printf ("  %s — ", paths[i]);
      if (strstr (err, line) == NULL)
        g_error ("the CLI's warning does not list %s", paths[i]);
    }
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/security/project/planted-links", CsbSecFixture, NULL, setup,
              test_planted_links, teardown);
  g_test_add ("/security/project/wrong-types", CsbSecFixture, NULL, setup,
              test_wrong_types, teardown);
  g_test_add ("/security/project/nested-protected", CsbSecFixture, NULL, setup,
              test_nested_protected, teardown);
  g_test_add ("/security/project/claude-settings", CsbSecFixture, NULL, setup,
              test_claude_settings, teardown);
  /* The same attacks on the other backends; the VM's few (each a TCG boot). */
  g_test_add ("/security/project/vm/planted-links", CsbSecFixture, "vm", setup,
              test_planted_links, teardown);
  g_test_add ("/security/project/vm/nested-protected", CsbSecFixture, "vm", setup,
              test_nested_protected, teardown);
  g_test_add ("/security/project/vm/claude-settings", CsbSecFixture, "vm", setup,
              test_claude_settings, teardown);
  g_test_add ("/security/project/container/planted-links", CsbSecFixture, "container", setup,
              test_planted_links, teardown);
  g_test_add ("/security/project/container/wrong-types", CsbSecFixture, "container", setup,
              test_wrong_types, teardown);
  g_test_add ("/security/project/container/nested-protected", CsbSecFixture, "container",
              setup, test_nested_protected, teardown);
  g_test_add ("/security/project/container/claude-settings", CsbSecFixture, "container",
              setup, test_claude_settings, teardown);
  g_test_add ("/security/project/case-insensitive", CsbSecFixture, NULL, setup,
              test_case_insensitive, teardown);
  g_test_add ("/security/project/plants-reported", CsbSecFixture, NULL, setup,
              test_plants_reported, teardown);
  g_test_add ("/security/project/plants-not-utf8", CsbSecFixture, NULL, setup,
              test_plants_not_utf8, teardown);
  g_test_add ("/security/project/plants-live", CsbSecFixture, NULL, setup,
              test_plants_live, teardown);
  g_test_add ("/security/project/plants-cli", CsbSecFixture, NULL, setup,
              test_plants_cli, teardown);
  g_test_add ("/security/project/plants-after-restart", CsbSecFixture, NULL, setup,
              test_plants_after_restart, teardown);
  return g_test_run ();
}
