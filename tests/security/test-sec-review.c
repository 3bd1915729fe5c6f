/* test-sec-review.c — review mode (project-mode review): whatever a sandbox writes
 * to its project waits in a layer of its own, and the real folder stays byte for
 * byte as it was until the user applies; then it is exactly as if the sandbox had
 * written directly. Apply refuses conflicts, never follows a link, never makes a
 * fifo; protected names need their own yes; Discard leaves nothing; Remove refuses
 * while changes are pending.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "csb-sec-utils.h"
#include "csb-test-claude-api.h"
#include "csb-review.h"

/* Everything a sandbox does to a project: each kind of change. */
#define SCRIPT \
  "set -e; " \
  "echo changed >> a.txt; " \
  "echo new > new.txt; " \
  "rm del.txt; " \
  "mv old.txt renamed.txt; " \
  "chmod 755 script.sh; " \
  "ln -s a.txt link; " \
  "mkdir -p n1/n2 && echo deep > n1/n2/f; " \
  "rm -r gone; " \
  "ln -sfn b.txt retarget; " \
  "rm b.txt && mkdir b.txt && echo inside > b.txt/c; " \
  "echo 'export X=1' > .envrc; " \
  "printf 'a\\000b' > bin.dat; " \
  "echo done"

static void
setup (CsbSecFixture *fixture,
       gconstpointer  data)
{
  csb_sec_fixture_setup (fixture, NULL);
}

static void
setup_claude (CsbSecFixture *fixture,
              gconstpointer  data)
{
  CsbTestBusOptions options = { NULL, csb_test_find_claude () != NULL, NULL };

  csb_sec_fixture_setup (fixture, &options);
}

static void
teardown (CsbSecFixture *fixture,
          gconstpointer  data)
{
  csb_sec_fixture_teardown (fixture);
}

static void
write_in (const char *project,
          const char *relative,
          const char *contents,
          int         mode)
{
  g_autofree char *path = g_build_filename (project, relative, NULL);
  g_autofree char *dir = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  csb_test_write_file (path, contents, mode);
}

static char *
make_project (CsbSecFixture *fixture,
              const char    *name)
{
  char *project = csb_test_make_project (&fixture->bus.dirs, name);
  g_autofree char *retarget = g_build_filename (project, "retarget", NULL);

  write_in (project, "a.txt", "hello\n", 0644);
  write_in (project, "b.txt", "bee\n", 0644);
  write_in (project, "del.txt", "delete me\n", 0644);
  write_in (project, "old.txt", "old\n", 0600);
  write_in (project, "script.sh", "#!/bin/sh\necho hi\n", 0644);
  write_in (project, "gone/x", "x\n", 0644);
  write_in (project, "gone/y/z", "z\n", 0644);
  write_in (project, "bin.dat", "", 0644);
  g_assert_cmpint (symlink ("a.txt", retarget), ==, 0);
  return project;
}

static GVariant *
review_options (void)
{
  return csb_sec_options ("project-mode", g_variant_new_string ("review"), NULL);
}

/* Runs @script in review mode on @project; returns the ended sandbox. */
static CsbDBusSandbox *
run_review (CsbSecFixture *fixture,
            const char    *project,
            const char    *script)
{
  const char * const argv[] = { "/bin/sh", "-c", script, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;

  run = csb_test_launch (&fixture->bus, project, argv, review_options (), FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_test_message ("review run: %d\nstdout: %s\nstderr: %s", run->exit_signal_status,
                  run->out->str, run->err->str);
  g_assert_cmpint (run->exit_signal_status, ==, 0);
  return g_object_ref (run->sandbox);
}

/* The kind and summary of @path in GetChanges, or NULL. */
static GVariant *
get_changes (CsbDBusSandbox *sandbox)
{
  g_autoptr(GError) error = NULL;
  GVariant *changes = NULL;

  g_assert_true (csb_dbus_sandbox_call_get_changes_sync (sandbox, &changes, NULL, &error));
  g_assert_no_error (error);
  return changes;
}

static char *
change_of (GVariant   *changes,
           const char *path)
{
  GVariantIter iter;
  const char *p, *kind, *summary;

  g_variant_iter_init (&iter, changes);
  while (g_variant_iter_next (&iter, "(&s&s&s)", &p, &kind, &summary))
    if (g_str_equal (p, path))
      return g_strdup_printf ("%s: %s", kind, summary);
  return NULL;
}

static void
assert_change (GVariant   *changes,
               const char *path,
               const char *kind)
{
  g_autofree char *found = change_of (changes, path);

  g_test_message ("%s → %s", path, found ? found : "(none)");
  g_assert_nonnull (found);
  g_assert_true (g_str_has_prefix (found, kind));
}

static void
apply (CsbDBusSandbox     *sandbox,
       const char * const *paths)
{
  g_autoptr(GError) error = NULL;
  const char * const none[] = { NULL };

  csb_dbus_sandbox_call_apply_changes_sync (sandbox, paths ? paths : none, NULL, &error);
  g_assert_no_error (error);
}

static gboolean
pending_is_zero (gpointer data)
{
  return csb_dbus_sandbox_get_pending_changes (CSB_DBUS_SANDBOX (data)) == 0;
}

static gboolean
pending_is_nonzero (gpointer data)
{
  return csb_dbus_sandbox_get_pending_changes (CSB_DBUS_SANDBOX (data)) > 0;
}

/* Review, then apply: the folder is untouched until then, and afterwards exactly
 * as a direct sandbox leaves it. */
static void
test_apply (CsbSecFixture *fixture,
            gconstpointer  data)
{
  g_autofree char *project = make_project (fixture, "review");
  g_autofree char *reference = make_project (fixture, "direct");
  g_autofree char *before = csb_test_tree_text (project);
  g_autofree char *direct_out = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *after = NULL;
  g_autofree char *diff = NULL;
  g_autofree char *envrc = g_build_filename (project, ".envrc", NULL);
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GVariant) changes = NULL;
  g_autoptr(GVariant) left = NULL;
  const char * const sh[] = { "/bin/sh", "-c", SCRIPT, NULL };
  const char * const envrc_only[] = { ".envrc", NULL };

  /* What the same script does directly. */
  direct_out = csb_test_run_command (&fixture->bus, reference, sh, NULL, 0);
  {
    /* Direct mode's guard makes an empty .claude (so that a sandbox cannot); not the
     * script's doing. */
    g_autofree char *claude = g_build_filename (reference, ".claude", NULL);
    g_rmdir (claude);
  }
  expected = csb_test_tree_text (reference);
  g_assert_cmpstr (expected, !=, before);

  sandbox = run_review (fixture, project, SCRIPT);
  g_assert_cmpstr (csb_dbus_sandbox_get_project_mode (sandbox), ==, "review");
  after = csb_test_tree_text (project);
  g_assert_cmpstr (after, ==, before);

  changes = get_changes (sandbox);
  assert_change (changes, "a.txt", "modified");
  assert_change (changes, "new.txt", "added");
  assert_change (changes, "del.txt", "deleted");
  assert_change (changes, "old.txt", "deleted");
  assert_change (changes, "renamed.txt", "added");
  assert_change (changes, "script.sh", "modified: mode 0644 → 0755");
  assert_change (changes, "link", "added: new symlink → a.txt");
  assert_change (changes, "n1", "added");
  assert_change (changes, "n1/n2/f", "added");
  assert_change (changes, "gone", "deleted");
  assert_change (changes, "retarget", "modified");
  assert_change (changes, "b.txt", "type-changed");
  assert_change (changes, ".envrc", "added: [protected]");
  g_assert_true (csb_test_run_until (pending_is_nonzero, sandbox, CSB_TEST_TIMEOUT_MS));

  diff = csb_test_review_diff (sandbox, "a.txt");
  g_assert_nonnull (strstr (diff, "--- a/a.txt"));
  g_assert_nonnull (strstr (diff, "+changed"));
  g_clear_pointer (&diff, g_free);
  diff = csb_test_review_diff (sandbox, "bin.dat");
  g_assert_nonnull (strstr (diff, "Binary files"));

  /* "All" leaves the protected name alone; naming it applies it. */
  apply (sandbox, NULL);
  g_assert_false (g_file_test (envrc, G_FILE_TEST_EXISTS));
  left = get_changes (sandbox);
  g_assert_cmpuint (g_variant_n_children (left), ==, 1);
  apply (sandbox, envrc_only);
  g_clear_pointer (&after, g_free);
  after = csb_test_tree_text (project);
  g_assert_cmpstr (after, ==, expected);
  g_assert_true (csb_test_run_until (pending_is_zero, sandbox, CSB_TEST_TIMEOUT_MS));

  /* Decided: Remove works, and takes the layer with it. */
  {
    g_autoptr(GError) error = NULL;

    csb_dbus_sandbox_call_remove_sync (sandbox, NULL, &error);
    g_assert_no_error (error);
  }
}

/* Changed in the real folder meanwhile: Apply refuses, naming it, and applies
 * nothing; Remove refuses while changes are pending; Discard leaves nothing. */
static void
test_conflict_discard (CsbSecFixture *fixture,
                       gconstpointer  data)
{
  g_autofree char *project = make_project (fixture, "conflict");
  g_autofree char *a = g_build_filename (project, "a.txt", NULL);
  g_autofree char *new_txt = g_build_filename (project, "new.txt", NULL);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *state = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GVariant) changes = NULL;
  g_autoptr(GError) error = NULL;
  const char * const none[] = { NULL };

  sandbox = run_review (fixture, project, SCRIPT);
  csb_test_write_file (a, "the user's own edit\n", 0644);
  before = csb_test_tree_text (project);

  csb_dbus_sandbox_call_apply_changes_sync (sandbox, none, NULL, &error);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "conflict"));
  g_assert_nonnull (strstr (error->message, "a.txt"));
  g_clear_error (&error);
  after = csb_test_tree_text (project);
  g_assert_cmpstr (after, ==, before);
  g_assert_false (g_file_test (new_txt, G_FILE_TEST_EXISTS));

  csb_dbus_sandbox_call_remove_sync (sandbox, NULL, &error);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "pending"));
  g_clear_error (&error);

  state = g_build_filename (fixture->bus.dirs.state, "claude-sandbox",
                            csb_dbus_sandbox_get_id (sandbox), "review", NULL);
  g_assert_true (g_file_test (state, G_FILE_TEST_IS_DIR));
  csb_dbus_sandbox_call_discard_changes_sync (sandbox, none, NULL, &error);
  g_assert_no_error (error);
  changes = get_changes (sandbox);
  g_assert_cmpuint (g_variant_n_children (changes), ==, 0);
  g_clear_pointer (&after, g_free);
  after = csb_test_tree_text (project);
  g_assert_cmpstr (after, ==, before);
  g_assert_true (csb_test_run_until (pending_is_zero, sandbox, CSB_TEST_TIMEOUT_MS));

  csb_dbus_sandbox_call_remove_sync (sandbox, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (g_file_test (state, G_FILE_TEST_EXISTS));
}

/* A hostile layer: a symlink to /etc/passwd as a "change" is made as a symlink and
 * never followed; a fifo is never made; a folder of the sandbox's where the real
 * folder now has a symlink out of the project is not followed. */
static void
test_hostile (CsbSecFixture *fixture,
              gconstpointer  data)
{
  g_autofree char *project = csb_test_make_project (&fixture->bus.dirs, "hostile");
  g_autofree char *outside = g_build_filename (fixture->bus.dirs.root, "outside", NULL);
  g_autofree char *out_link = g_build_filename (project, "out", NULL);
  g_autofree char *passwd_link = g_build_filename (project, "passwd", NULL);
  g_autofree char *fifo = g_build_filename (project, "fifo", NULL);
  g_autofree char *passwd_before = csb_sec_read_file ("/etc/passwd");
  g_autofree char *passwd_after = NULL;
  g_autofree char *target = NULL;
  g_autofree char *listing = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GVariant) changes = NULL;
  g_autoptr(GError) error = NULL;
  const char * const fifo_only[] = { "fifo", NULL };
  const char * const into_out[] = { "out/evil", NULL };
  struct stat st;

  g_assert_cmpint (g_mkdir_with_parents (outside, 0755), ==, 0);
  sandbox = run_review (fixture, project,
                        "set -e; ln -s /etc/passwd passwd; mkfifo fifo; "
                        "mkdir out; echo evil > out/evil; echo plain > plain");

  changes = get_changes (sandbox);
  assert_change (changes, "passwd", "added: new symlink → /etc/passwd");
  assert_change (changes, "fifo", "added: a fifo: never applied");

  /* Meanwhile the real folder got a symlink out of the project where the sandbox
   * made a folder. */
  g_assert_cmpint (symlink (outside, out_link), ==, 0);
  csb_dbus_sandbox_call_apply_changes_sync (sandbox, into_out, NULL, &error);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  listing = csb_test_list_dir (outside);
  g_assert_cmpstr (listing, ==, "");

  csb_dbus_sandbox_call_apply_changes_sync (sandbox, fifo_only, NULL, &error);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  {
    const char * const some[] = { "passwd", "plain", NULL };
    apply (sandbox, some);
  }
  g_assert_cmpint (lstat (passwd_link, &st), ==, 0);
  g_assert_true (S_ISLNK (st.st_mode));
  target = g_file_read_link (passwd_link, NULL);
  g_assert_cmpstr (target, ==, "/etc/passwd");
  passwd_after = csb_sec_read_file ("/etc/passwd");
  g_assert_cmpstr (passwd_after, ==, passwd_before);
  g_assert_false (g_file_test (fifo, G_FILE_TEST_EXISTS));
  g_clear_pointer (&listing, g_free);
  listing = csb_test_list_dir (outside);
  g_assert_cmpstr (listing, ==, "");
}

/* A protected folder made a symlink: .claude (or .vscode) pointing to a folder of the
 * sandbox's holding a settings.json with a hook. "Apply all" must not take the link,
 * or the host's claude obeys the sandbox's settings. */
static void
test_protected_folder_link (CsbSecFixture *fixture,
                            gconstpointer  data)
{
  g_autofree char *project = csb_test_make_project (&fixture->bus.dirs, "folder-link");
  g_autofree char *claude = g_build_filename (project, ".claude", NULL);
  g_autofree char *vscode = g_build_filename (project, ".vscode", NULL);
  g_autofree char *plain = g_build_filename (project, "plain", NULL);
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GVariant) changes = NULL;
  struct stat st;

  sandbox = run_review (fixture, project,
                        "mkdir -p x v; "
                        "echo '{\"hooks\":{\"SessionStart\":[]}}' > x/settings.json; "
                        "echo '{}' > v/tasks.json; "
                        "rm -rf .claude 2>/dev/null; ln -sfn x .claude || "
                        "{ echo cannot replace .claude; exit 1; }; "
                        "ln -s v .vscode; echo plain > plain");
  changes = get_changes (sandbox);
  assert_change (changes, ".vscode", "added: [protected]");
  assert_change (changes, ".claude", "added: [protected]");
  apply (sandbox, NULL);
  g_assert_true (g_file_test (plain, G_FILE_TEST_IS_REGULAR));
  g_assert_false (lstat (vscode, &st) == 0 && S_ISLNK (st.st_mode));
  g_assert_false (lstat (claude, &st) == 0 && S_ISLNK (st.st_mode));
}

/* Protected names in other cases (and a Unicode letter that folds to an ASCII one):
 * on a case-insensitive project folder (vfat, exFAT, NTFS, SMB, casefold) they are
 * git's config and Claude Code's settings once applied, so "apply all" leaves them
 * out as it leaves out the plain spellings. */
static void
test_protected_cases (CsbSecFixture *fixture,
                      gconstpointer  data)
{
  g_autofree char *project = csb_test_make_project (&fixture->bus.dirs, "cases");
  g_autofree char *claude = g_build_filename (project, ".CLAUDE", NULL);
  g_autofree char *git = g_build_filename (project, ".Git", NULL);
  g_autofree char *envrc = g_build_filename (project, ".EnvRC", NULL);
  g_autofree char *long_s = g_build_filename (project, "sub/.claude/\305\277ettings.json",
                                              NULL);
  g_autofree char *plain = g_build_filename (project, "plain", NULL);
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GVariant) changes = NULL;

  sandbox = run_review (fixture, project,
                        "set -e; mkdir -p .CLAUDE .Git/hooks sub/.claude; "
                        "echo '{\"hooks\": {}}' > .CLAUDE/Settings.json; "
                        "printf '[core]\\n\\tfsmonitor = x\\n' > .Git/Config; "
                        "echo x > .Git/hooks/post-checkout; echo 'echo hi' > .EnvRC; "
                        "echo '{}' > \"sub/.claude/$(printf '\\305\\277')ettings.json\"; "
                        "echo plain > plain");
  changes = get_changes (sandbox);
  assert_change (changes, ".CLAUDE/Settings.json", "added: [protected]");
  assert_change (changes, ".Git/Config", "added: [protected]");
  assert_change (changes, ".EnvRC", "added: [protected]");
  apply (sandbox, NULL);
  g_assert_true (g_file_test (plain, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (claude, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (git, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (envrc, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (long_s, G_FILE_TEST_EXISTS));
}

/* Names (and link targets) that are not UTF-8: D-Bus strings are, so the list shows
 * them with U+FFFD; what the user cannot see as it is is never applied, even by
 * "apply all", and can be diffed and discarded by the name shown. */
static void
test_not_utf8 (CsbSecFixture *fixture,
               gconstpointer  data)
{
  g_autofree char *project = csb_test_make_project (&fixture->bus.dirs, "not-utf8");
  g_autofree char *bad = g_build_filename (project, "bad\377", NULL);
  g_autofree char *plain = g_build_filename (project, "plain", NULL);
  g_autofree char *diff = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GVariant) changes = NULL;
  g_autoptr(GVariant) left = NULL;
  g_autoptr(GError) error = NULL;
  const char * const shown[] = { "bad\357\277\275", NULL };

  sandbox = run_review (fixture, project,
                        "set -e; echo hidden > \"$(printf 'bad\\377')\"; "
                        "ln -s \"$(printf 't\\377')\" link; echo plain > plain");
  changes = get_changes (sandbox);
  assert_change (changes, "bad\357\277\275", "added: a name that is not UTF-8");
  assert_change (changes, "link", "added: new symlink → \"t\\377\"");
  diff = csb_test_review_diff (sandbox, shown[0]);
  g_assert_nonnull (strstr (diff, "+hidden"));

  apply (sandbox, NULL);
  g_assert_true (g_file_test (plain, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (bad, G_FILE_TEST_EXISTS));
  csb_dbus_sandbox_call_apply_changes_sync (sandbox, shown, NULL, &error);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
  g_assert_false (g_file_test (bad, G_FILE_TEST_EXISTS));

  g_assert_true (csb_dbus_sandbox_call_discard_changes_sync (sandbox, shown, NULL, NULL));
  left = get_changes (sandbox);
  g_assert_cmpuint (g_variant_n_children (left), ==, 0);
}

static char *run_cli (const char * const *args,
                      int                 expected_status);

/* Whether a line of @text starts with @start. */
static gboolean
has_line (const char *text,
          const char *start)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], start))
      return TRUE;
  return FALSE;
}

/* Names and link targets with a newline in them cannot forge a line of a diff header
 * or of the CLI's list: they are quoted as git quotes them. */
static void
test_hostile_names (CsbSecFixture *fixture,
                    gconstpointer  data)
{
  g_autofree char *project = csb_test_make_project (&fixture->bus.dirs, "names");
  g_autofree char *diff = NULL;
  g_autofree char *out = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GVariant) changes = NULL;
  const char *forged = "x\n+++ evil";
  const char *id;

  sandbox = run_review (fixture, project,
                        "set -e; n=$(printf 'x\\n+++ evil'); echo hidden > \"$n\"; "
                        "ln -s \"$(printf 't\\n+++ b/x')\" link");
  id = csb_dbus_sandbox_get_id (sandbox);
  changes = get_changes (sandbox);
  assert_change (changes, forged, "added: new file");
  assert_change (changes, "link", "added: new symlink → \"t\\n+++ b/x\"");

  diff = csb_test_review_diff (sandbox, forged);
  g_test_message ("%s", diff);
  g_assert_nonnull (strstr (diff, "+++ \"b/x\\n+++ evil\"\n"));
  g_assert_false (has_line (diff, "+++ evil"));
  g_assert_nonnull (strstr (diff, "+hidden"));
  g_clear_pointer (&diff, g_free);
  diff = csb_test_review_diff (sandbox, "link");
  g_assert_false (has_line (diff, "+++ b/x"));
  g_clear_pointer (&diff, g_free);

  {
    const char * const args[] = { "--changes", id, NULL };
    out = run_cli (args, 0);
    g_assert_nonnull (strstr (out, "A  \"x\\n+++ evil\"  (new file"));
    g_assert_false (has_line (out, "+++ "));
    g_clear_pointer (&out, g_free);
  }
  {
    const char * const args[] = { "--diff", id, NULL };
    out = run_cli (args, 0);
    g_assert_false (has_line (out, "+++ evil"));
    g_assert_false (has_line (out, "+++ b/x"));
  }
}

/* A file too large to diff, a link and a FIFO the sandbox left: each is said to be
 * what it is, none is read through, none blocks the service. */
static void
test_diff_bounded (CsbSecFixture *fixture,
                   gconstpointer  data)
{
  g_autofree char *project = csb_test_make_project (&fixture->bus.dirs, "bounded");
  g_autofree char *diff = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;

  sandbox = run_review (fixture, project,
                        "set -e; printf a > big; truncate -s 40M big; printf b >> big; "
                        "ln -s /etc/passwd passwd; mkfifo fifo; echo small > small");
  diff = csb_test_review_diff (sandbox, "big");
  g_test_message ("%s", diff);
  g_assert_nonnull (strstr (diff, "too large to diff"));
  g_clear_pointer (&diff, g_free);
  diff = csb_test_review_diff (sandbox, "passwd");
  g_assert_nonnull (strstr (diff, "symlink → /etc/passwd"));
  g_assert_null (strstr (diff, "root:"));
  g_clear_pointer (&diff, g_free);
  diff = csb_test_review_diff (sandbox, "fifo");
  g_assert_nonnull (strstr (diff, "fifo"));
  g_clear_pointer (&diff, g_free);
  diff = csb_test_review_diff (sandbox, "small");
  g_assert_nonnull (strstr (diff, "+small"));
}

/* The diff's reads are bounded by what they find, not by what fstat said before: a
 * file that grows while it is read (here /proc/self/maps, which fstat calls an empty
 * regular file) is too large past the limit, and a FIFO is never waited on. */
static void
test_snapshot_bounded (void)
{
  g_autofree char *dir = g_dir_make_tmp ("csb-snapshot-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "file", NULL);
  g_autofree char *fifo = g_build_filename (dir, "fifo", NULL);
  gboolean too_large;
  char buf[16] = { 0 };
  int fd, copy;

  fd = open ("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (csb_review_snapshot (fd, 64, &too_large), ==, -1);
  g_assert_true (too_large);
  close (fd);

  csb_test_write_file (file, "0123456789", 0644);
  fd = open (file, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (csb_review_snapshot (fd, 9, &too_large), ==, -1);
  g_assert_true (too_large);
  copy = csb_review_snapshot (fd, 10, &too_large);
  g_assert_cmpint (copy, >=, 0);
  g_assert_false (too_large);
  g_assert_cmpint (read (copy, buf, sizeof buf), ==, 10);
  g_assert_cmpstr (buf, ==, "0123456789");
  close (copy);
  close (fd);

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  fd = open (fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  g_assert_cmpint (csb_review_snapshot (fd, 64, &too_large), ==, -1);
  g_assert_false (too_large);
  close (fd);
  unlink (fifo);
  unlink (file);
  rmdir (dir);
}

/* The review folder as a container leaves it to a service that is not root: the
 * overlay's work folder (work/work) is mode 0 and owned by the container's root, an
 * id not the user's; the user can neither enter nor chmod it. Removing the layer
 * still works (the folder is empty: its parent, the user's, lets it go). As root, the
 * removal runs in a child with the ids of nobody; needs root to make a folder owned
 * by someone else. */
static void
test_remove_foreign_work (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *state = NULL;
  g_autofree char *inner = NULL;
  g_autofree char *file = NULL;
  g_autofree char *applied = NULL;
  const uid_t user = 65534, other = 65533;
  int status;
  pid_t pid;

  if (getuid () != 0)
    {
      g_test_skip ("needs root, to make a folder owned by someone else");
      return;
    }
  dir = g_dir_make_tmp ("csb-review-remove-XXXXXX", NULL);
  g_assert_nonnull (dir);
  g_assert_cmpint (chmod (dir, 0755), ==, 0);
  state = g_build_filename (dir, "state", NULL);
  inner = g_build_filename (state, "review", "work", "work", NULL);
  file = g_build_filename (state, "review", "upper", "sub", "f", NULL);
  applied = g_build_filename (state, "review-applied", NULL);
  g_assert_cmpint (g_mkdir_with_parents (inner, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (file, 0700), ==, 0);
  g_assert_cmpint (rmdir (file), ==, 0);
  csb_test_write_file (file, "x\n", 0644);
  csb_test_write_file (applied, "", 0600);
  {
    const char * const mine[] = {
      "", "review", "review/work", "review/upper", "review/upper/sub", "review/upper/sub/f",
      "review-applied", NULL
    };

    for (guint i = 0; mine[i] != NULL; i++)
      {
        g_autofree char *path = g_build_filename (state, mine[i], NULL);

        g_assert_cmpint (lchown (path, user, user), ==, 0);
      }
  }
  g_assert_cmpint (chown (inner, other, other), ==, 0);
  g_assert_cmpint (chmod (inner, 0), ==, 0);

  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      g_autoptr(GError) error = NULL;

      if (setgroups (0, NULL) != 0 || setresgid (user, user, user) != 0 ||
          setresuid (user, user, user) != 0)
        _exit (3);
      /* Not root any more: the work folder cannot be entered. */
      if (open (inner, O_RDONLY | O_DIRECTORY | O_CLOEXEC) >= 0 || errno != EACCES)
        _exit (4);
      if (!csb_review_remove (state, &error))
        {
          g_printerr ("%s\n", error->message);
          _exit (1);
        }
      _exit (0);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  g_assert_false (csb_review_exists (state));
  g_assert_false (g_file_test (applied, G_FILE_TEST_EXISTS));
  g_assert_cmpint (rmdir (state), ==, 0);
  g_assert_cmpint (rmdir (dir), ==, 0);
}

/* A sparse file (64 MiB of holes, a few bytes of data) is applied with its holes: a
 * sparse terabyte must not fill the user's disk. */
static void
test_sparse (CsbSecFixture *fixture,
             gconstpointer  data)
{
  g_autofree char *project = csb_test_make_project (&fixture->bus.dirs, "sparse");
  g_autofree char *sparse = g_build_filename (project, "sparse", NULL);
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  struct stat st;
  char buf[5] = { 0 };
  int fd;

  sandbox = run_review (fixture, project,
                        "set -e; printf head > sparse; truncate -s 64M sparse; "
                        "printf tail >> sparse");
  apply (sandbox, NULL);
  g_assert_cmpint (stat (sparse, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, 64 * 1024 * 1024 + 4);
  g_test_message ("%" G_GINT64_FORMAT " bytes allocated", (gint64) st.st_blocks * 512);
  g_assert_cmpint ((gint64) st.st_blocks * 512, <, 1024 * 1024);
  fd = open (sparse, O_RDONLY);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pread (fd, buf, 4, 0), ==, 4);
  g_assert_cmpstr (buf, ==, "head");
  g_assert_cmpint (pread (fd, buf, 4, 64 * 1024 * 1024), ==, 4);
  g_assert_cmpstr (buf, ==, "tail");
  close (fd);
}

/* Claude Code's own Write and Edit tools in review mode (its Messages API a local
 * stand-in that answers with tool calls): the agent sees its file, the project gets
 * it only when applied. */
static void
test_claude (CsbSecFixture *fixture,
             gconstpointer  data)
{
  g_autofree char *project = csb_test_make_project (&fixture->bus.dirs, "agent");
  g_autofree char *hello = g_build_filename (project, "hello.txt", NULL);
  g_autofree char *hello_json = csb_test_json_string (hello);
  g_autofree char *script = NULL;
  g_autofree char *base_url = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *hosts = NULL;
  g_autoptr(CsbTestClaudeApi) api = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GPtrArray) results = NULL;
  g_autoptr(GVariant) changes = NULL;
  g_autoptr(GError) error = NULL;
  GVariantDict dict;
  GVariantBuilder env;
  const char * const allow[] = { "allowed.csb.test", NULL };
  const char * const command[] = {
    "claude", "-p", "Write the greeting.", "--dangerously-skip-permissions", NULL
  };

  if (!csb_test_require_claude ())
    return;
  if (!g_file_get_contents ("/etc/hosts", &hosts, NULL, NULL) ||
      strstr (hosts, "allowed.csb.test") == NULL)
    {
      g_test_skip ("the test host names are not in /etc/hosts (build-aux/test.sh adds "
                   "them as root)");
      return;
    }

  script = g_strdup_printf (
    "["
    " [{\"tool\": \"Write\", \"input\": {\"file_path\": %s, \"content\": \"hello from claude\\n\"}}],"
    " [{\"tool\": \"Edit\", \"input\": {\"file_path\": %s, \"old_string\": \"hello\","
    "   \"new_string\": \"edited\"}}],"
    " [{\"tool\": \"Bash\", \"input\": {\"description\": \"read it\", \"command\":"
    "   \"cat hello.txt\"}}],"
    " [{\"text\": \"Greeting written.\"}]"
    "]", hello_json, hello_json);
  api = csb_test_claude_api_start (script, &error);
  g_assert_no_error (error);
  base_url = g_strdup_printf ("http://allowed.csb.test:%u", csb_test_claude_api_get_port (api));

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert_value (&dict, "project-mode", g_variant_new_string ("review"));
  g_variant_dict_insert_value (&dict, "network-allow", g_variant_new_strv (allow, -1));
  g_variant_builder_init (&env, G_VARIANT_TYPE ("a{ss}"));
  g_variant_builder_add (&env, "{ss}", "ANTHROPIC_BASE_URL", base_url);
  g_variant_builder_add (&env, "{ss}", "ANTHROPIC_API_KEY", "dummy");
  g_variant_builder_add (&env, "{ss}", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
  g_variant_dict_insert_value (&dict, "env", g_variant_builder_end (&env));

  run = csb_test_launch (&fixture->bus, project, command, g_variant_dict_end (&dict), FALSE,
                         &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, 2 * CSB_TEST_TIMEOUT_MS));
  g_test_message ("claude: status %d\nstdout: %s\nstderr: %s", run->exit_signal_status,
                  run->out->str, run->err->str);
  results = csb_test_claude_api_tool_results (api);
  for (guint i = 0; i < results->len; i++)
    g_test_message ("tool result %u: %s", i, (char *) g_ptr_array_index (results, i));
  g_assert_cmpint (run->exit_signal_status, ==, 0);
  g_assert_cmpuint (results->len, ==, 3);
  g_assert_false (g_str_has_prefix (g_ptr_array_index (results, 0), "ERROR"));
  g_assert_false (g_str_has_prefix (g_ptr_array_index (results, 1), "ERROR"));
  /* The agent saw its own edit… */
  g_assert_nonnull (strstr (g_ptr_array_index (results, 2), "edited from claude"));
  /* …the project did not, until applied. */
  g_assert_false (g_file_test (hello, G_FILE_TEST_EXISTS));
  changes = get_changes (run->sandbox);
  assert_change (changes, "hello.txt", "added");
  apply (run->sandbox, NULL);
  g_assert_true (g_file_get_contents (hello, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "edited from claude\n");
}

/* Pending changes outlive the sandbox and a crash of the service: the new service
 * lists the ended sandbox with them, and Apply works from there. */
static void
test_restart (CsbSecFixture *fixture,
              gconstpointer  data)
{
  g_autofree char *project = make_project (fixture, "restart");
  g_autofree char *new_txt = g_build_filename (project, "new.txt", NULL);
  g_autofree char *object_path = NULL;
  g_autoptr(CsbDBusSandbox) ended = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GVariant) changes = NULL;
  const char * const new_only[] = { "new.txt", NULL };

  ended = run_review (fixture, project, "echo new > new.txt");
  object_path = g_strdup (g_dbus_proxy_get_object_path (G_DBUS_PROXY (ended)));
  csb_test_bus_crash_service (&fixture->bus);

  sandbox = csb_test_bus_sandbox_after_restart (&fixture->bus, object_path);
  g_assert_true (csb_test_run_until (csb_test_sandbox_ended, sandbox, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpstr (csb_dbus_sandbox_get_project_mode (sandbox), ==, "review");
  g_assert_true (csb_test_run_until (pending_is_nonzero, sandbox, CSB_TEST_TIMEOUT_MS));
  changes = get_changes (sandbox);
  assert_change (changes, "new.txt", "added");
  g_assert_false (g_file_test (new_txt, G_FILE_TEST_EXISTS));
  apply (sandbox, new_only);
  g_assert_true (g_file_test (new_txt, G_FILE_TEST_IS_REGULAR));
}

/* Applied while the sandbox runs, then changed again by it: the second apply is no
 * conflict (the service wrote the file itself the first time). */
static void
test_apply_running (CsbSecFixture *fixture,
                    gconstpointer  data)
{
  g_autofree char *project = csb_test_make_project (&fixture->bus.dirs, "running");
  g_autofree char *f = g_build_filename (project, "f", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GVariant) changes = NULL;
  g_autoptr(GError) error = NULL;
  const char * const f_only[] = { "f", NULL };
  const char * const argv[] = {
    "/bin/sh", "-c",
    "echo one > f; echo ready; read x; cat f; echo two >> f; echo again; read y", NULL
  };

  run = csb_test_launch (&fixture->bus, project, argv, review_options (), TRUE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait_output (run, "ready", CSB_TEST_TIMEOUT_MS));
  apply (run->sandbox, f_only);
  g_assert_true (g_file_get_contents (f, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "one\n");
  g_clear_pointer (&contents, g_free);

  g_assert_cmpint (write (run->stdin_fd, "go\n", 3), ==, 3);
  g_assert_true (csb_test_run_wait_output (run, "again", CSB_TEST_TIMEOUT_MS));
  changes = get_changes (run->sandbox);
  assert_change (changes, "f", "modified");
  close (run->stdin_fd);
  run->stdin_fd = -1;
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  apply (run->sandbox, f_only);
  g_assert_true (g_file_get_contents (f, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "one\ntwo\n");
}

/* The check the vm and container backends run (csb_test_review_check_run), here with
 * bwrap: every kind of change listed while it runs, two of them applied while it runs
 * and changed again after, then the rest; the folder as the script run directly
 * leaves it. */
static void
test_backend_check (CsbSecFixture *fixture,
                    gconstpointer  data)
{
  g_autofree char *project = csb_test_make_project (&fixture->bus.dirs, "checked");
  g_autofree char *reference = csb_test_make_project (&fixture->bus.dirs, "reference");
  g_autofree char *before = NULL;
  g_autofree char *expected = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GError) error = NULL;
  const char * const argv[] = { "/bin/sh", "-c", CSB_TEST_REVIEW_COMMAND, NULL };

  csb_test_review_prepare (project, reference, &before, &expected);
  run = csb_test_launch (&fixture->bus, project, argv, review_options (), TRUE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_review_check_run (run, project, before, expected,
                                            CSB_TEST_TIMEOUT_MS));
}

/* The fixed list of names that run or are obeyed outside. */
static void
test_protected_names (void)
{
  static const char * const protected[] = {
    ".git", ".git/config", ".git/hooks/pre-commit", "sub/.git/hooks/post-checkout",
    ".claude/settings.json", ".claude/settings.local.json", "a/.claude/settings.json",
    ".claude/hooks/x.sh", ".mcp.json", "sub/.envrc", ".envrc", ".devcontainer/Dockerfile",
    ".devcontainer.json", ".vscode/tasks.json", ".vscode/settings.json",
    ".vscode/launch.json", ".husky/pre-commit", ".pre-commit-config.yaml", ".gitmodules",
    ".claude", "sub/.claude", ".vscode", NULL
  };
  static const char * const plain[] = {
    "Makefile", "src/main.c", ".claude/commands/x.md", ".vscode/extensions.json",
    "git/config", ".gitignore", "envrc", "my.git", NULL
  };

  for (guint i = 0; protected[i] != NULL; i++)
    if (!csb_review_path_is_protected (protected[i]))
      g_error ("%s should be protected", protected[i]);
  for (guint i = 0; plain[i] != NULL; i++)
    if (csb_review_path_is_protected (plain[i]))
      g_error ("%s should not be protected", plain[i]);
}

static char *
run_cli (const char * const *args,
         int                 expected_status)
{
  const char *cli = g_getenv ("CSB_TEST_CLI");
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  char *out = NULL;

  g_assert_nonnull (cli);
  g_ptr_array_add (argv, (char *) cli);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  process = g_subprocess_newv ((const char * const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                               G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  g_test_message ("claude-sandbox %s: %d\nstdout: %s\nstderr: %s", args[0],
                  g_subprocess_get_exit_status (process), out, err);
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, expected_status);
  return out;
}

/* The CLI: --review, --changes, --diff, --apply, --discard, --remove. */
static void
test_cli (CsbSecFixture *fixture,
          gconstpointer  data)
{
  g_autofree char *project = make_project (fixture, "cli");
  g_autofree char *new_txt = g_build_filename (project, "new.txt", NULL);
  g_autofree char *envrc = g_build_filename (project, ".envrc", NULL);
  g_autofree char *out = NULL;
  g_autofree char *id = NULL;
  g_autoptr(GVariant) objects = NULL;
  GVariantIter iter;
  const char *path;
  const char * const launch[] = {
    "--review", "--no-network", "--command", project, "--", "/bin/sh", "-c",
    "echo new > new.txt; echo changed >> a.txt; echo x > .envrc; "
    "printf 'osc\\033]52;c;ZWNobyBwd25lZA==\\007 csi\\033[21t end\\n' > esc.txt", NULL
  };

  g_free (run_cli (launch, 0));
  objects = csb_test_bus_managed_objects (&fixture->bus);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, NULL))
    if (g_str_has_prefix (path, CSB_SANDBOX_PATH_PREFIX))
      id = g_path_get_basename (path);
  g_assert_nonnull (id);

  {
    const char * const args[] = { "--changes", id, NULL };
    out = run_cli (args, 0);
    g_assert_nonnull (strstr (out, "A  new.txt"));
    g_assert_nonnull (strstr (out, "M  a.txt"));
    g_assert_nonnull (strstr (out, "A! .envrc"));
    g_clear_pointer (&out, g_free);
  }
  {
    const char * const args[] = { "--diff", id, "a.txt", NULL };
    out = run_cli (args, 0);
    g_assert_nonnull (strstr (out, "+changed"));
    g_clear_pointer (&out, g_free);
  }
  {
    /* The sandbox's bytes reach the user's terminal without their escape sequences:
     * no clipboard write (OSC 52), no report request (CSI 21t). */
    const char * const args[] = { "--diff", id, "esc.txt", NULL };
    out = run_cli (args, 0);
    g_assert_nonnull (strstr (out, "+osc"));
    g_assert_nonnull (strstr (out, " end"));
    g_assert_null (strchr (out, '\033'));
    g_clear_pointer (&out, g_free);
  }
  {
    const char * const args[] = { "--remove", id, NULL };
    g_free (run_cli (args, 1));
  }
  {
    const char * const args[] = { "--apply", id, NULL };
    out = run_cli (args, 0);
    g_assert_nonnull (strstr (out, "still pending"));
    g_assert_true (g_file_test (new_txt, G_FILE_TEST_IS_REGULAR));
    g_assert_false (g_file_test (envrc, G_FILE_TEST_EXISTS));
  }
  {
    const char * const args[] = { "--discard", id, NULL };
    g_free (run_cli (args, 0));
  }
  {
    const char * const args[] = { "--remove", id, NULL };
    g_free (run_cli (args, 0));
  }
  g_assert_false (g_file_test (envrc, G_FILE_TEST_EXISTS));
}

/* A repository's hooks and config planted in review mode: the real folder is not
 * touched, not even by the service (no .git/commondir made), the plants are flagged
 * protected and "apply all" leaves them out. */
static void
test_git_plants (CsbSecFixture *fixture,
                 gconstpointer  data)
{
  g_autofree char *before = csb_test_tree_text (fixture->project);
  g_autofree char *after = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GVariant) changes = NULL;
  g_autoptr(GVariant) left = NULL;

  sandbox = run_review (fixture, fixture->project,
                        "set -e; printf '#!/bin/sh\\ntouch /tmp/pwned\\n' > .git/hooks/pre-commit; "
                        "chmod +x .git/hooks/pre-commit; "
                        "printf '[core]\\n\\thooksPath = /tmp\\n' >> .git/config; "
                        "echo '{}' > .mcp.json; echo fine > notes.txt");
  after = csb_test_tree_text (fixture->project);
  g_assert_cmpstr (after, ==, before);
  changes = get_changes (sandbox);
  assert_change (changes, ".git/hooks/pre-commit", "added: [protected]");
  assert_change (changes, ".git/config", "modified: [protected]");
  assert_change (changes, ".mcp.json", "added: [protected]");
  apply (sandbox, NULL);
  left = get_changes (sandbox);
  g_assert_cmpuint (g_variant_n_children (left), ==, 3);
  g_clear_pointer (&after, g_free);
  after = csb_test_tree_text (fixture->project);
  g_assert_nonnull (strstr (after, "notes.txt"));
  g_assert_null (strstr (after, "pre-commit "));
  g_assert_null (strstr (after, ".mcp.json"));
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  /* Registers the error domain, so the service's errors arrive as CSB_ERROR. */
  (void) CSB_ERROR;

  g_test_add ("/security/review/apply", CsbSecFixture, NULL, setup, test_apply, teardown);
  g_test_add ("/security/review/conflict-discard", CsbSecFixture, NULL, setup,
              test_conflict_discard, teardown);
  g_test_add ("/security/review/hostile-layer", CsbSecFixture, NULL, setup, test_hostile,
              teardown);
  g_test_add ("/security/review/claude-write-edit", CsbSecFixture, NULL, setup_claude,
              test_claude, teardown);
  g_test_add ("/security/review/survives-restart", CsbSecFixture, NULL, setup, test_restart,
              teardown);
  g_test_add ("/security/review/apply-while-running", CsbSecFixture, NULL, setup,
              test_apply_running, teardown);
  g_test_add ("/security/review/cli", CsbSecFixture, NULL, setup, test_cli, teardown);
  g_test_add ("/security/review/backend-check", CsbSecFixture, NULL, setup,
              test_backend_check, teardown);
  g_test_add ("/security/review/protected-folder-link", CsbSecFixture, NULL, setup,
              test_protected_folder_link, teardown);
  g_test_add ("/security/review/protected-cases", CsbSecFixture, NULL, setup,
              test_protected_cases, teardown);
  g_test_add ("/security/review/not-utf8", CsbSecFixture, NULL, setup, test_not_utf8,
              teardown);
  g_test_add ("/security/review/hostile-names", CsbSecFixture, NULL, setup,
              test_hostile_names, teardown);
  g_test_add ("/security/review/sparse", CsbSecFixture, NULL, setup, test_sparse, teardown);
  g_test_add_func ("/security/review/protected-names", test_protected_names);
  g_test_add_func ("/security/review/snapshot-bounded", test_snapshot_bounded);
  g_test_add_func ("/security/review/remove-foreign-work", test_remove_foreign_work);
  g_test_add ("/security/review/diff-bounded", CsbSecFixture, NULL, setup, test_diff_bounded,
              teardown);
  g_test_add ("/security/review/git-plants", CsbSecFixture, NULL, setup, test_git_plants,
              teardown);
  return g_test_run ();
}
