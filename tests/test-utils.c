/* test-utils.c — the test helpers' own tests: hiding Claude Code from the service
 * must not hide the system's programs with it (a `claude` in /usr/bin once left the
 * suites without dbus-daemon).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "csb-test-utils.h"

/* What g_find_program_in_path() would find for @program on @path. */
static char *
find_on (const char *path,
         const char *program)
{
  g_auto(GStrv) dirs = g_strsplit (path, ":", -1);

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *candidate = g_build_filename (dirs[i], program, NULL);

      if (g_file_test (candidate, G_FILE_TEST_IS_EXECUTABLE))
        return g_steal_pointer (&candidate);
    }
  return NULL;
}

static void
test_path_without_claude (void)
{
  CsbTestDirs dirs = { 0 };
  g_autofree char *bin = NULL;
  g_autofree char *claude = NULL;
  g_autofree char *tool = NULL;
  g_autofree char *farm = NULL;
  g_autofree char *path = NULL;
  g_autofree char *hidden = NULL;
  g_autofree char *found = NULL;
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) parts = NULL;
  g_autofree char *path_var = NULL;
  char *envp[] = { NULL, NULL };
  const char *argv[] = { "tool", NULL };
  int wait_status;

  csb_test_dirs_init (&dirs);
  /* A folder as /usr/bin is where `npm install -g` ran as root: Claude Code beside
   * the tools the suites need. It comes first, and again later, with the system's. */
  bin = g_build_filename (dirs.root, "bin", NULL);
  claude = g_build_filename (bin, "claude", NULL);
  tool = g_build_filename (bin, "tool", NULL);
  csb_test_write_file (claude, "#!/bin/sh\necho fake claude\n", 0755);
  csb_test_write_file (tool, "#!/bin/sh\necho tool ran\n", 0755);
  path = g_strdup_printf ("%s:/usr/local/bin:/usr/bin:/bin:%s", bin, bin);
  farm = g_build_filename (dirs.root, "farm", NULL);

  hidden = csb_test_path_without_claude (path, farm);
  g_test_message ("%s → %s", path, hidden);

  /* No folder of it holds a claude… */
  parts = g_strsplit (hidden, ":", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      g_autofree char *candidate = g_build_filename (parts[i], "claude", NULL);

      g_assert_cmpstr (parts[i], !=, "");
      g_assert_false (g_file_test (candidate, G_FILE_TEST_EXISTS));
      g_assert_cmpstr (parts[i], !=, bin);
    }
  /* …one folder stands for each of the original's, in order… */
  g_assert_cmpuint (g_strv_length (parts), ==, 5);
  /* …and everything else is still there: the tool beside claude, the system's. */
  found = find_on (hidden, "tool");
  g_assert_nonnull (found);
  g_assert_true (g_str_has_prefix (found, farm));
  g_clear_pointer (&found, g_free);
  found = find_on (hidden, "sh");
  g_assert_nonnull (found);
  g_clear_pointer (&found, g_free);
  found = find_on (hidden, "dbus-daemon");
  g_assert_nonnull (found);

  path_var = g_strconcat ("PATH=", hidden, NULL);
  envp[0] = path_var;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_SEARCH_PATH_FROM_ENVP, NULL,
                               NULL, &out, NULL, &wait_status, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (out, ==, "tool ran\n");

  /* Folders without a claude are kept as they are, not copied. */
  g_free (hidden);
  hidden = csb_test_path_without_claude ("/nonexistent:/usr/bin", farm);
  if (!g_file_test ("/usr/bin/claude", G_FILE_TEST_EXISTS))
    g_assert_cmpstr (hidden, ==, "/nonexistent:/usr/bin");

  csb_test_dirs_clear (&dirs);
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/test-utils/path-without-claude", test_path_without_claude);
  return g_test_run ();
}
