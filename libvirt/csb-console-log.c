/* csb-console-log.c — see the header.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "csb-console-log.h"

/* Fixed width: each store overwrites the last in place, with one pwrite. */
#define COUNT_WIDTH 20

int
csb_console_count_open (const char *runtime_dir)
{
  g_autofree char *path = g_build_filename (runtime_dir, CSB_CONSOLE_COUNT_FILE, NULL);

  return open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
}

void
csb_console_count_store (int     fd,
                         guint64 total)
{
  char text[COUNT_WIDTH + 2];

  if (fd < 0)
    return;
  g_snprintf (text, sizeof text, "%0*" G_GUINT64_FORMAT "\n", COUNT_WIDTH, total);
  if (pwrite (fd, text, COUNT_WIDTH + 1, 0) < 0) {}
}

guint64
csb_console_count_load (const char *runtime_dir)
{
  g_autofree char *path = g_build_filename (runtime_dir, CSB_CONSOLE_COUNT_FILE, NULL);
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  return g_ascii_strtoull (text, NULL, 10);
}

/* Writes what @log_path holds from byte @from on to @out_fd; *@out_total is where
 * the log ended. A log shorter than @from (replaced, say) is left alone. */
gboolean
csb_console_log_replay (const char *log_path,
                        guint64     from,
                        int         out_fd,
                        guint64    *out_total)
{
  char buf[16384];
  off_t offset = from;
  int fd = open (log_path, O_RDONLY | O_CLOEXEC);

  *out_total = from;
  if (fd < 0)
    return FALSE;
  for (;;)
    {
      ssize_t n = pread (fd, buf, sizeof buf, offset);
      char *p = buf;

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      offset += n;
      while (n > 0)
        {
          ssize_t w = write (out_fd, p, n);

          if (w < 0 && errno == EINTR)
            continue;
          if (w <= 0)
            break;
          p += w;
          n -= w;
        }
    }
  close (fd);
  *out_total = offset;
  return TRUE;
}
