/* csb-helper-path.c: where the service finds the programs and module it runs.
 *
 * Installed, they are in LIBEXECDIR (the module in MODULEDIR). In a build tree
 * (meson's, which the tests and build-aux/run.sh use) each is in the build folder of
 * the source folder that builds it; the service knows it runs from a build tree when
 * the folder above its own holds meson's build.ninja. A test may name a file in the
 * service's environment (@env_name); no D-Bus caller can.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "csb-helper-path.h"

#include "csb-error.h"

typedef struct
{
  const char *name;
  const char *build_dir;   /* relative to the build tree's root */
  const char *install_dir;
} HelperEntry;

static const HelperEntry helpers[] = {
  { "claude-sandbox-monitor", "helpers", LIBEXECDIR },
  { "claude-sandbox-init", "helpers", LIBEXECDIR },
  { "claude-sandbox-review-mount", "helpers", LIBEXECDIR },
  { "claude-sandbox-guest-init", "helpers/guest", LIBEXECDIR },
  { "claude-sandbox-container-init", "helpers/guest", LIBEXECDIR },
  { "claude-sandbox-virtiofsd-preload.so", "helpers/guest", LIBEXECDIR },
  { "libcsb-libvirt-backends.so", "libvirt", MODULEDIR },
};

/* The build tree the running program was built in, or NULL when it is installed. */
static const char *
build_root (void)
{
  static gsize once;
  static char *root;

  if (g_once_init_enter (&once))
    {
      g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
      g_autofree char *dir = self ? g_path_get_dirname (self) : NULL;
      g_autofree char *parent = dir ? g_path_get_dirname (dir) : NULL;
      g_autofree char *ninja = parent ? g_build_filename (parent, "build.ninja", NULL) : NULL;

      if (ninja != NULL && g_file_test (ninja, G_FILE_TEST_IS_REGULAR))
        root = g_steal_pointer (&parent);
      g_once_init_leave (&once, 1);
    }
  return root;
}

/* The path of our helper @name: $@env_name when set (and @env_name not NULL), else
 * in the build tree or installed; an error naming the installed path when the file
 * is missing. */
char *
csb_helper_path (const char *env_name,
                 const char *name,
                 GError    **error)
{
  const char *env = env_name != NULL ? g_getenv (env_name) : NULL;
  const HelperEntry *entry = NULL;
  g_autofree char *path = NULL;

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  for (gsize i = 0; i < G_N_ELEMENTS (helpers); i++)
    if (g_str_equal (helpers[i].name, name))
      entry = &helpers[i];
  g_return_val_if_fail (entry != NULL, NULL);

  if (build_root () != NULL)
    path = g_build_filename (build_root (), entry->build_dir, name, NULL);
  else
    path = g_build_filename (entry->install_dir, name, NULL);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "claude-sandbox is not completely installed (%s is missing)", path);
      return NULL;
    }
  return g_steal_pointer (&path);
}
