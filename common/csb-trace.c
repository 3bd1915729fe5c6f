/* csb-trace.c — see csb-trace.h.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "csb-trace.h"

const char *
csb_trace_path (void)
{
  static gsize once;
  static const char *path;

  if (g_once_init_enter (&once))
    {
      const char *env = g_getenv ("CSB_TRACE");

      path = env != NULL && g_path_is_absolute (env) ? g_strdup (env) : NULL;
      g_once_init_leave (&once, 1);
    }
  return path;
}

void
csb_trace (const char *format,
           ...)
{
  const char *path = csb_trace_path ();
  struct timespec ts;
  char line[512];
  va_list args;
  int n, fd;

  if (path == NULL)
    return;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  n = snprintf (line, sizeof line, "%lld %s %d ",
                (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000,
                g_get_prgname () ? g_get_prgname () : "?", (int) getpid ());
  va_start (args, format);
  n += vsnprintf (line + n, sizeof line - n - 1, format, args);
  va_end (args);
  if (n > (int) sizeof line - 2)
    n = sizeof line - 2;
  line[n++] = '\n';
  /* One write with O_APPEND: lines of several processes do not interleave. */
  fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0)
    {
      (void) !write (fd, line, n);
      close (fd);
    }
}
