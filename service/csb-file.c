/* csb-file.c
 *
 * Readers of our state files (a restarted service, the host's claude) must see the
 * old file or the new one, never half of one: write a temporary file beside it and
 * rename it over. Only files whose loss in a power cut matters (the user's own
 * ~/.claude.json) are also fsync'ed: an fsync costs tens of milliseconds, and a
 * sandbox's records are rewritten on every launch and state change.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "csb-file.h"

gboolean
csb_file_replace (const char *path,
                  const char *data,
                  gssize      len,
                  int         mode,
                  gboolean    durable,
                  GError    **error)
{
  g_autofree char *tmp = NULL;
  int fd;

  if (durable)
    return g_file_set_contents_full (path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, mode,
                                     error);

  /* A name of its own: several threads may replace the same file at once. */
  tmp = g_strdup_printf ("%s.XXXXXX", path);
  fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, mode);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot write '%s': %s", path, g_strerror (saved));
      return FALSE;
    }
  if (len < 0)
    len = strlen (data);
  for (gssize done = 0; done < len;)
    {
      gssize n = write (fd, data + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = errno;

          close (fd);
          g_unlink (tmp);
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                       "cannot write '%s': %s", path, g_strerror (saved));
          return FALSE;
        }
      done += n;
    }
  close (fd);
  if (g_rename (tmp, path) != 0)
    {
      int saved = errno;

      g_unlink (tmp);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot replace '%s': %s", path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}
