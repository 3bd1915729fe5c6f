/* csb-claude-config.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#include "csb-claude-config.h"
#include "csb-error.h"

static void
symlink_free (gpointer data)
{
  CsbSymlink *link = data;

  g_free (link->path);
  g_free (link->target);
  g_free (link);
}

void
csb_claude_install_free (CsbClaudeInstall *install)
{
  if (install == NULL)
    return;
  g_free (install->path);
  g_free (install->resolved);
  g_free (install->bind_root);
  g_clear_pointer (&install->symlinks, g_ptr_array_unref);
  g_free (install);
}

static gboolean
is_executable_file (const char *path)
{
  struct stat st;

  return stat (path, &st) == 0 && S_ISREG (st.st_mode) && access (path, X_OK) == 0;
}

/* The npm prefix from ~/.npmrc ("prefix=…"), without running npm. */
static char *
npm_prefix_from_npmrc (const char *home)
{
  g_autofree char *npmrc = g_build_filename (home, ".npmrc", NULL);
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (npmrc, &contents, NULL, NULL))
    return NULL;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autofree char *line = g_strstrip (g_strdup (lines[i]));

      if (g_str_has_prefix (line, "prefix"))
        {
          const char *value = strchr (line, '=');

          if (value == NULL)
            continue;
          value++;
          while (*value == ' ')
            value++;
          if (g_str_has_prefix (value, "~/"))
            return g_build_filename (home, value + 2, NULL);
          if (g_path_is_absolute (value))
            return g_strdup (value);
        }
    }
  return NULL;
}

static char *
find_claude_path (const char * const *environ,
                  const char         *home,
                  const char         *configured)
{
  const char *path_env = g_environ_getenv ((char **) environ, "PATH");
  g_autofree char *npm_prefix = NULL;
  const char *npm_config_prefix = g_environ_getenv ((char **) environ, "NPM_CONFIG_PREFIX");
  const char *data_home = g_environ_getenv ((char **) environ, "XDG_DATA_HOME");
  g_autoptr(GPtrArray) candidates = g_ptr_array_new_with_free_func (g_free);

  if (configured != NULL && *configured != '\0')
    return is_executable_file (configured) ? g_strdup (configured) : NULL;

  if (path_env != NULL)
    {
      g_auto(GStrv) dirs = g_strsplit (path_env, ":", -1);
      for (guint i = 0; dirs[i] != NULL; i++)
        if (g_path_is_absolute (dirs[i]))
          g_ptr_array_add (candidates, g_build_filename (dirs[i], "claude", NULL));
    }
  /* Where installers put it, for a service whose activation PATH lacks them. */
  g_ptr_array_add (candidates, g_build_filename (home, ".local", "bin", "claude", NULL));
  g_ptr_array_add (candidates, g_build_filename (home, ".claude", "local", "claude", NULL));
  if (npm_config_prefix != NULL && g_path_is_absolute (npm_config_prefix))
    g_ptr_array_add (candidates, g_build_filename (npm_config_prefix, "bin", "claude", NULL));
  if ((npm_prefix = npm_prefix_from_npmrc (home)) != NULL)
    g_ptr_array_add (candidates, g_build_filename (npm_prefix, "bin", "claude", NULL));
  g_ptr_array_add (candidates, g_build_filename (home, ".npm-global", "bin", "claude", NULL));
  g_ptr_array_add (candidates, g_build_filename (home, ".npm", "bin", "claude", NULL));
  /* Where build-aux/run.sh installs it when missing: an npm prefix of the user's own. */
  if (data_home != NULL && g_path_is_absolute (data_home))
    g_ptr_array_add (candidates, g_build_filename (data_home, "claude-sandbox", "npm", "bin",
                                                   "claude", NULL));
  else
    g_ptr_array_add (candidates, g_build_filename (home, ".local", "share", "claude-sandbox",
                                                   "npm", "bin", "claude", NULL));
  g_ptr_array_add (candidates, g_strdup ("/usr/local/bin/claude"));
  g_ptr_array_add (candidates, g_strdup ("/usr/bin/claude"));

  for (guint i = 0; i < candidates->len; i++)
    if (is_executable_file (g_ptr_array_index (candidates, i)))
      return g_strdup (g_ptr_array_index (candidates, i));
  return NULL;
}

/* For a file inside an npm package (…/node_modules/[@scope/]name/…), the package folder. */
static char *
npm_package_root (const char *resolved)
{
  g_autofree char *dir = g_path_get_dirname (resolved);

  while (!g_str_equal (dir, "/") && !g_str_equal (dir, "."))
    {
      g_autofree char *parent = g_path_get_dirname (dir);
      g_autofree char *parent_base = g_path_get_basename (parent);
      g_autofree char *grandparent = g_path_get_dirname (parent);
      g_autofree char *grandparent_base = g_path_get_basename (grandparent);
      g_autofree char *package_json = g_build_filename (dir, "package.json", NULL);

      if (g_file_test (package_json, G_FILE_TEST_EXISTS) &&
          (g_str_equal (parent_base, "node_modules") ||
           (parent_base[0] == '@' && g_str_equal (grandparent_base, "node_modules"))))
        return g_steal_pointer (&dir);
      g_free (dir);
      dir = g_steal_pointer (&parent);
    }
  return NULL;
}

CsbClaudeInstall *
csb_claude_install_find (const char * const *environ,
                         const char         *home,
                         const char         *configured_path,
                         GError            **error)
{
  g_autoptr(CsbClaudeInstall) install = g_new0 (CsbClaudeInstall, 1);
  g_autofree char *current = NULL;
  char *package;

  install->path = find_claude_path (environ, home, configured_path);
  if (install->path == NULL)
    {
      if (configured_path != NULL && *configured_path != '\0')
        g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_FOUND,
                     "Claude Code is not at '%s' (the claude-path setting); fix the setting "
                     "or clear it to search the usual places", configured_path);
      else
        g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_FOUND,
                     "Claude Code (claude) is not installed: it is not on PATH, in "
                     "~/.local/bin, ~/.npm-global/bin, the npm prefix, "
                     "~/.local/share/claude-sandbox/npm/bin or /usr/local/bin. Install it "
                     "(build-aux/run.sh does, or: npm install -g --prefix "
                     "~/.local/share/claude-sandbox/npm @anthropic-ai/claude-code, or "
                     "Anthropic's native installer) or set the claude-path setting");
      return NULL;
    }

  /* Follow the chain by hand so each link can be recreated inside. */
  install->symlinks = g_ptr_array_new_with_free_func (symlink_free);
  current = g_strdup (install->path);
  for (guint depth = 0; depth < 16; depth++)
    {
      g_autofree char *target = g_file_read_link (current, NULL);
      g_autofree char *dir = NULL;
      CsbSymlink *link;

      if (target == NULL)
        break;
      link = g_new0 (CsbSymlink, 1);
      link->path = g_strdup (current);
      link->target = g_strdup (target);
      g_ptr_array_add (install->symlinks, link);
      dir = g_path_get_dirname (current);
      g_free (current);
      current = g_canonicalize_filename (target, dir);
    }
  install->resolved = realpath (install->path, NULL);
  if (install->resolved == NULL)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_FOUND,
                   "Claude Code at '%s' cannot be resolved: %s", install->path,
                   g_strerror (errno));
      return NULL;
    }

  package = npm_package_root (install->resolved);
  install->bind_root = package ? package : g_strdup (install->resolved);
  {
    /* Claude Code's "local" install: a wrapper script that runs the package beside it.
     * Sandboxes no longer see the user's ~/.claude, so the whole folder, read-only. */
    g_autofree char *local = g_build_filename (home, ".claude", "local", NULL);
    gsize len = strlen (local);

    if (strncmp (install->resolved, local, len) == 0 && install->resolved[len] == '/')
      {
        g_free (install->bind_root);
        install->bind_root = g_steal_pointer (&local);
      }
  }
  return g_steal_pointer (&install);
}
