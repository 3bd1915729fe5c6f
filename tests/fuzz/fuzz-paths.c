/* fuzz-paths.c — libFuzzer target: the project folder, bind path and environment
 * name checks, on paths made from the input inside a temporary tree full of
 * symlinks (to /, to /etc, to the home, loops, dangling) and on host paths.
 *
 * Checks the promises: an accepted project folder is a canonical folder that is
 * neither /, the home, a parent of the home nor under /proc, /sys or /dev; an
 * accepted bind path is canonical and contains neither the home nor /; an accepted
 * variable name is [A-Za-z_][A-Za-z0-9_]*.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "fuzz-common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "csb-options.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

static char *root;
static char *home;

static void
rm_rf (const char *path)
{
  g_autoptr(GDir) dir = NULL;
  struct stat st;
  const char *name;

  if (lstat (path, &st) != 0)
    return;
  if (!S_ISDIR (st.st_mode))
    {
      unlink (path);
      return;
    }
  dir = g_dir_open (path, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      rm_rf (child);
    }
  rmdir (path);
}

static void
cleanup (void)
{
  if (root != NULL)
    rm_rf (root);
}

static void
link_in (const char *target,
         const char *name)
{
  g_autofree char *path = g_build_filename (root, name, NULL);

  g_assert (symlink (target, path) == 0);
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  g_autofree char *tmp = g_dir_make_tmp ("csb-fuzz-paths-XXXXXX", NULL);
  g_autofree char *proj = NULL;
  g_autofree char *file = NULL;

  g_assert (tmp != NULL);
  root = realpath (tmp, NULL);
  home = g_build_filename (root, "home", NULL);
  proj = g_build_filename (home, "proj", "sub", NULL);
  g_assert (g_mkdir_with_parents (proj, 0700) == 0);
  file = g_build_filename (home, "proj", "file", NULL);
  g_assert (g_file_set_contents (file, "x", 1, NULL));
  link_in ("/", "to-root");
  link_in ("/etc", "to-etc");
  link_in ("/proc/self", "to-proc");
  link_in ("home", "to-home");
  link_in ("home/proj", "to-proj");
  link_in ("..", "up");
  link_in ("loop", "loop");
  link_in ("missing", "dangling");
  link_in ("/dev/shm", "to-shm");
  atexit (cleanup);
  return 0;
}

static gboolean
within (const char *path,
        const char *ancestor)
{
  gsize len = strlen (ancestor);

  if (g_str_equal (ancestor, "/"))
    return TRUE;
  return strncmp (path, ancestor, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

static void
check_canonical (const char *resolved)
{
  g_autofree char *again = realpath (resolved, NULL);

  g_assert_true (g_path_is_absolute (resolved));
  /* The tree is static: resolving the result again gives the result. */
  g_assert_cmpstr (again, ==, resolved);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *text = NULL;
  g_autofree char *path = NULL;
  g_autofree char *resolved = NULL;
  g_autoptr(GError) error = NULL;
  static const char * const prefixes[] = { NULL, "/", "", "home" };
  struct stat st;
  guint selector;

  if (size == 0)
    return 0;
  selector = data[0] % 4;
  text = g_strndup ((const char *) data + 1, size - 1);  /* up to the first NUL */

  switch (selector)
    {
    case 0:
      path = g_build_filename (root, text, NULL);
      break;
    case 1:
      path = g_strconcat ("/", text, NULL);
      break;
    case 2:
      path = g_strdup (text);     /* relative, empty or odd: must be refused cleanly */
      break;
    default:
      path = g_build_filename (home, text, NULL);
      break;
    }
  (void) prefixes;

  if (csb_validate_project_dir (path, home, &resolved, &error))
    {
      g_assert_no_error (error);
      check_canonical (resolved);
      g_assert_cmpint (stat (resolved, &st), ==, 0);
      g_assert_true (S_ISDIR (st.st_mode));
      g_assert_cmpstr (resolved, !=, "/");
      g_assert_false (within (home, resolved));
      g_assert_false (within (resolved, "/proc"));
      g_assert_false (within (resolved, "/sys"));
      g_assert_false (within (resolved, "/dev"));
    }
  else
    g_assert_nonnull (error);
  g_clear_error (&error);
  g_clear_pointer (&resolved, g_free);

  if (csb_validate_bind_path ("ro-binds", path, home, &resolved, &error))
    {
      g_assert_no_error (error);
      check_canonical (resolved);
      g_assert_cmpstr (resolved, !=, "/");
      g_assert_false (within (home, resolved));
      g_assert_false (within (resolved, "/proc"));
      g_assert_false (within (resolved, "/sys"));
      g_assert_false (within (resolved, "/dev"));
    }
  else
    g_assert_nonnull (error);
  g_clear_error (&error);

  if (csb_validate_env_name (text, &error))
    {
      g_assert_true (g_ascii_isalpha (text[0]) || text[0] == '_');
      for (const char *p = text; *p; p++)
        g_assert_true (g_ascii_isalnum (*p) || *p == '_');
    }
  else
    g_assert_nonnull (error);
  return 0;
}
