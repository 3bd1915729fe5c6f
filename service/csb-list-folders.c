/* csb-list-folders.c — the subfolders of a folder under the home.
 *
 * For the app's remote folder entry: the caller is the user (the bus is theirs),
 * but the answer crosses a network and the request comes from another machine's
 * app, so it is narrow: names only, of folders only, only under the home, walked
 * from the home one component at a time with O_NOFOLLOW (a link planted by a
 * sandbox in the project cannot lead the listing anywhere), and bounded.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "csb-error.h"
#include "csb-list-folders.h"

/* @path relative to @home, as components; NULL if it leaves the home. */
static GStrv
relative_components (const char  *home,
                     const char  *path,
                     GError     **error)
{
  g_autofree char *relative = NULL;
  g_auto(GStrv) parts = NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  if (strcmp (path, "~") == 0)
    relative = g_strdup ("");
  else if (g_str_has_prefix (path, "~/"))
    relative = g_strdup (path + 2);
  else if (g_path_is_absolute (path))
    {
      gsize len = strlen (home);

      while (len > 1 && home[len - 1] == '/')
        len--;
      if (strncmp (path, home, len) != 0 || (path[len] != '\0' && path[len] != '/'))
        {
          g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                       _("'%s' is not in the home folder %s: only folders there are listed"),
                       path, home);
          return NULL;
        }
      relative = g_strdup (path + len);
    }
  else if (*path == '~')
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                   _("'%s': another user's home folder is not listed"), path);
      return NULL;
    }
  else
    relative = g_strdup (path);

  parts = g_strsplit (relative, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (*parts[i] == '\0' || strcmp (parts[i], ".") == 0)
        continue;
      if (strcmp (parts[i], "..") == 0)
        {
          g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                       _("'%s' has a '..': give the folder without it"), path);
          return NULL;
        }
      g_strv_builder_add (builder, parts[i]);
    }
  return g_strv_builder_end (builder);
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  /* Bytes: the same order whatever the service's locale. */
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* The folder @components below @home, opened one component at a time without
 * following a link; -1 and an error naming @path if it cannot be. */
static int
open_below_home (const char          *home,
                 const char * const  *components,
                 const char          *path,
                 GError             **error)
{
  /* The home itself may be a link (/home → /usr/home): it is the user's own
   * choice, not a sandbox's; below it, nothing is followed. */
  int fd = open (home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  for (guint i = 0; fd >= 0 && components[i] != NULL; i++)
    {
      int next = openat (fd, components[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      int saved_errno = errno;
      struct stat st;
      /* A link is ELOOP, or ENOTDIR as O_DIRECTORY is checked first: which it was. */
      gboolean link = next < 0 && (saved_errno == ELOOP || saved_errno == ENOTDIR) &&
                      fstatat (fd, components[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                      S_ISLNK (st.st_mode);

      close (fd);
      fd = next;
      if (link)
        {
          g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                       _("'%s' goes through a symbolic link (%s): links are not followed"),
                       path, components[i]);
          return -1;
        }
      errno = saved_errno;
    }
  if (fd < 0)
    {
      int saved_errno = errno;

      g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_FOUND, _("cannot list '%s': %s"), path,
                   g_strerror (saved_errno));
    }
  return fd;
}

/* The names of the folders in @dir (not links, UTF-8 only), at most @max_names of
 * the first CSB_LIST_FOLDERS_MAX_SCANNED entries, unsorted. */
static void
add_subfolders (DIR       *dir,
                guint      max_names,
                GPtrArray *names)
{
  struct dirent *entry;
  guint scanned = 0;

  while (names->len < max_names && scanned < CSB_LIST_FOLDERS_MAX_SCANNED &&
         (entry = readdir (dir)) != NULL)
    {
      struct stat st;

      scanned++;
      if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
        continue;
      if (entry->d_type == DT_LNK || !g_utf8_validate (entry->d_name, -1, NULL))
        continue;
      if (entry->d_type != DT_DIR &&
          (entry->d_type != DT_UNKNOWN ||
           fstatat (dirfd (dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
           !S_ISDIR (st.st_mode)))
        continue;
      g_ptr_array_add (names, g_strdup (entry->d_name));
    }
}

GStrv
csb_list_folders (const char  *home,
                  const char  *path,
                  guint        max_names,
                  GError     **error)
{
  g_auto(GStrv) components = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  DIR *dir;
  int fd;

  g_return_val_if_fail (home != NULL && g_path_is_absolute (home), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  if (!g_utf8_validate (path, -1, NULL))
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                           _("the folder's name is not UTF-8"));
      return NULL;
    }
  components = relative_components (home, path, error);
  if (components == NULL)
    return NULL;
  fd = open_below_home (home, (const char * const *) components, path, error);
  if (fd < 0)
    return NULL;
  dir = fdopendir (fd);
  if (dir == NULL)
    {
      int saved_errno = errno;

      close (fd);
      g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_FOUND, _("cannot list '%s': %s"), path,
                   g_strerror (saved_errno));
      return NULL;
    }
  add_subfolders (dir, max_names, names);
  closedir (dir);
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return (GStrv) g_ptr_array_steal (names, NULL);
}
