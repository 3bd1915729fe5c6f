/* test-list-folders.c — Manager.ListFolders' bounds: only under the home, no "..",
 * no symbolic link followed or listed, folders only, a bounded answer.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "csb-error.h"
#include "csb-list-folders.h"

typedef struct
{
  char *root;
  char *home;
} Fixture;

static void
make_dir (const char *home,
          const char *name)
{
  g_autofree char *path = g_build_filename (home, name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autofree char *file = NULL;
  g_autofree char *outside = NULL;
  g_autofree char *link = NULL;

  fixture->root = g_dir_make_tmp ("csb-list-folders-XXXXXX", NULL);
  g_assert_nonnull (fixture->root);
  fixture->home = g_build_filename (fixture->root, "home", NULL);
  make_dir (fixture->home, "src/app");
  make_dir (fixture->home, "src/lib");
  make_dir (fixture->home, "src/Zeta");
  make_dir (fixture->home, "src/.hidden");
  file = g_build_filename (fixture->home, "src", "notes.txt", NULL);
  g_assert_true (g_file_set_contents (file, "x", -1, NULL));
  /* Outside the home: a sibling whose name starts like it, and a secret folder. */
  outside = g_build_filename (fixture->root, "home2", "secret", NULL);
  g_assert_cmpint (g_mkdir_with_parents (outside, 0755), ==, 0);
  /* Links (as a sandbox could plant them in a project): out, and to a folder inside. */
  link = g_build_filename (fixture->home, "src", "out", NULL);
  g_assert_cmpint (symlink (fixture->root, link), ==, 0);
  g_free (link);
  link = g_build_filename (fixture->home, "src", "app-link", NULL);
  g_assert_cmpint (symlink ("app", link), ==, 0);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autofree char *command = g_strdup_printf ("rm -rf '%s'", fixture->root);

  g_assert_cmpint (system (command), ==, 0);
  g_free (fixture->root);
  g_free (fixture->home);
}

static void
assert_lists_src (GStrv folders)
{
  const char * const expected[] = { ".hidden", "Zeta", "app", "lib", NULL };

  g_assert_nonnull (folders);
  g_assert_cmpstrv (folders, expected);
}

static void
test_forms (Fixture       *fixture,
            gconstpointer  data)
{
  g_autofree char *absolute = g_build_filename (fixture->home, "src", NULL);
  g_autofree char *home_slash = g_strconcat (fixture->home, "/", NULL);
  const char *forms[] = { "~/src", "src", "~/src/", "~//src/./", absolute };
  g_auto(GStrv) home = NULL;
  g_auto(GStrv) home_again = NULL;
  g_auto(GStrv) home_slashed = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (forms); i++)
    {
      g_autoptr(GError) error = NULL;
      g_auto(GStrv) folders = csb_list_folders (fixture->home, forms[i], 100, &error);

      g_test_message ("%s", forms[i]);
      g_assert_no_error (error);
      /* Folders only: not notes.txt, not the links (not even the one to app). */
      assert_lists_src (folders);
    }
  home = csb_list_folders (fixture->home, "~", 100, NULL);
  home_again = csb_list_folders (fixture->home, fixture->home, 100, NULL);
  home_slashed = csb_list_folders (home_slash, "", 100, NULL);
  g_assert_nonnull (home);
  g_assert_cmpstrv (home, ((const char * const []) { "src", NULL }));
  g_assert_cmpstrv (home_again, home);
  g_assert_cmpstrv (home_slashed, home);
}

static void
test_refused (Fixture       *fixture,
              gconstpointer  data)
{
  g_autofree char *sibling = g_build_filename (fixture->root, "home2", NULL);
  g_autofree char *dotdot_abs = g_build_filename (fixture->home, "..", "home2", NULL);
  const char *refused[] = {
    "/etc", "/", sibling, dotdot_abs, "..", "~/..", "~/src/../..", "src/..",
    "~root", "~root/src", "~/src/out", "~/src/out/home2", "src/app-link",
  };

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(GError) error = NULL;
      g_auto(GStrv) folders = csb_list_folders (fixture->home, refused[i], 100, &error);

      g_test_message ("%s: %s", refused[i], error ? error->message : "(listed)");
      g_assert_null (folders);
      g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
    }
}

static void
test_not_found (Fixture       *fixture,
                gconstpointer  data)
{
  const char *missing[] = { "~/nothing", "~/src/notes.txt", "~/src/app/deeper" };

  for (guint i = 0; i < G_N_ELEMENTS (missing); i++)
    {
      g_autoptr(GError) error = NULL;
      g_auto(GStrv) folders = csb_list_folders (fixture->home, missing[i], 100, &error);

      g_assert_null (folders);
      g_assert_error (error, CSB_ERROR, CSB_ERROR_NOT_FOUND);
    }
}

static void
test_bounded (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) folders = NULL;
  g_auto(GStrv) few = NULL;
  guint many = CSB_LIST_FOLDERS_MAX + 200;

  for (guint i = 0; i < many; i++)
    {
      g_autofree char *name = g_strdup_printf ("many/d%05u", i);

      make_dir (fixture->home, name);
    }
  folders = csb_list_folders (fixture->home, "~/many", CSB_LIST_FOLDERS_MAX, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (folders), ==, CSB_LIST_FOLDERS_MAX);
  few = csb_list_folders (fixture->home, "~/many", 5, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (few), ==, 5);
}

/* A name that is not UTF-8 cannot go on D-Bus as a string: left out; and a
 * request that is not UTF-8 is refused. */
static void
test_not_utf8 (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) folders = NULL;

  make_dir (fixture->home, "mixed/ok");
  make_dir (fixture->home, "mixed/bad\xff");
  folders = csb_list_folders (fixture->home, "~/mixed", 100, &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (folders, ((const char * const []) { "ok", NULL }));
  g_clear_pointer (&folders, g_strfreev);
  folders = csb_list_folders (fixture->home, "~/mixed/bad\xff", 100, &error);
  g_assert_null (folders);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/list-folders/forms", Fixture, NULL, fixture_set_up, test_forms,
              fixture_tear_down);
  g_test_add ("/list-folders/refused", Fixture, NULL, fixture_set_up, test_refused,
              fixture_tear_down);
  g_test_add ("/list-folders/not-found", Fixture, NULL, fixture_set_up, test_not_found,
              fixture_tear_down);
  g_test_add ("/list-folders/bounded", Fixture, NULL, fixture_set_up, test_bounded,
              fixture_tear_down);
  g_test_add ("/list-folders/not-utf8", Fixture, NULL, fixture_set_up, test_not_utf8,
              fixture_tear_down);
  return g_test_run ();
}
