/* csb-console-bridge.c
 *
 * The console is bridged by two threads with blocking stream calls: libvirt
 * streams have no GSource of their own, and a blocked thread costs less than
 * polling. The input thread also polls a pipe that wakes it for the end.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <glib-unix.h>

#include "csb-module-api.h"
#include "csb-console-bridge.h"
#include "csb-console-log.h"
#include "csb-libvirt.h"

/* Input kept while libvirt is away (a user's typing, not a flood). */
#define CONSOLE_UNSENT_MAX (1024 * 1024)

struct _CsbConsoleBridge
{
  virStreamPtr console;
  GThread     *out_thread;
  GThread     *in_thread;
  int          in_fd;
  int          out_fd;
  int          wake_pipe[2];
  int          count_fd;     /* (nullable: -1) where the bytes passed on are counted */
  guint64      total;
  char        *log_path;     /* (nullable) the console's log, to replay past the count */
  gboolean     replay;       /* before anything new (a take-over, a new stream) */
  GByteArray  *unsent;       /* input read but not taken by a stream: the next one gets it */
};

static gpointer
console_out_thread (gpointer data)
{
  CsbConsoleBridge *self = data;
  char buf[16384];

  if (self->replay && self->log_path != NULL)
    {
      /* Here, not in the main thread: the terminal reading it is there. */
      csb_console_log_replay (self->log_path, self->total, self->out_fd, &self->total);
      csb_console_count_store (self->count_fd, self->total);
    }
  self->replay = FALSE;
  for (;;)
    {
      int n = virStreamRecv (self->console, buf, sizeof buf);
      char *p = buf;

      if (n <= 0)
        break;
      self->total += n;
      while (n > 0)
        {
          ssize_t w = write (self->out_fd, p, n);
          if (w < 0 && errno == EINTR)
            continue;
          if (w <= 0)
            {
              n = 0;  /* nobody reads: drop the output, keep the guest going */
              break;
            }
          p += w;
          n -= w;
        }
      csb_console_count_store (self->count_fd, self->total);
    }
  return NULL;
}

/* What was read and not sent yet, to the stream; FALSE once the stream fails (a
 * libvirt that went away: the rest waits for the next stream, csb_console_bridge_restart). */
static gboolean
send_unsent (CsbConsoleBridge *self)
{
  while (self->unsent->len > 0)
    {
      int n = virStreamSend (self->console, (const char *) self->unsent->data,
                             MIN (self->unsent->len, 65536));

      if (n <= 0)
        return FALSE;
      g_byte_array_remove_range (self->unsent, 0, n);
    }
  return TRUE;
}

static gpointer
console_in_thread (gpointer data)
{
  CsbConsoleBridge *self = data;
  guint8 buf[4096];

  if (!send_unsent (self))
    return NULL;
  for (;;)
    {
      struct pollfd fds[2] = { { self->in_fd, POLLIN, 0 }, { self->wake_pipe[0], POLLIN, 0 } };
      ssize_t n;

      if (poll (fds, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (fds[1].revents != 0)
        break;
      n = read (self->in_fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0)
        break;
      /* Kept until sent: keys typed as libvirt restarts reach the guest afterwards. */
      if (self->unsent->len + n <= CONSOLE_UNSENT_MAX)
        g_byte_array_append (self->unsent, buf, n);
      if (!send_unsent (self))
        break;
    }
  return NULL;
}

CsbConsoleBridge *
csb_console_bridge_start (virStreamPtr console,
                          const int    stdio_fds[3],
                          gboolean     stdio_is_pty)
{
  return csb_console_bridge_start_counted (console, stdio_fds, stdio_is_pty, NULL, NULL, FALSE);
}

CsbConsoleBridge *
csb_console_bridge_start_counted (virStreamPtr console,
                                  const int    stdio_fds[3],
                                  gboolean     stdio_is_pty,
                                  const char  *count_dir,
                                  const char  *log_path,
                                  gboolean     replay)
{
  CsbConsoleBridge *self;

  g_return_val_if_fail (console != NULL, NULL);

  self = g_new0 (CsbConsoleBridge, 1);
  self->console = console;
  self->count_fd = count_dir != NULL ? csb_console_count_open (count_dir) : -1;
  self->total = count_dir != NULL ? csb_console_count_load (count_dir) : 0;
  self->log_path = g_strdup (log_path);
  self->replay = replay;
  self->unsent = g_byte_array_new ();
  if (stdio_is_pty)
    {
      struct termios tio;

      /* The guest's console has the line discipline; ours passes bytes through. */
      if (tcgetattr (stdio_fds[0], &tio) == 0)
        {
          cfmakeraw (&tio);
          tcsetattr (stdio_fds[0], TCSANOW, &tio);
        }
    }
  self->in_fd = fcntl (stdio_fds[0], F_DUPFD_CLOEXEC, 3);
  self->out_fd = fcntl (stdio_fds[1], F_DUPFD_CLOEXEC, 3);
  if (!g_unix_open_pipe (self->wake_pipe, FD_CLOEXEC, NULL))
    self->wake_pipe[0] = self->wake_pipe[1] = -1;
  self->out_thread = g_thread_new ("console-out", console_out_thread, self);
  self->in_thread = g_thread_new ("console-in", console_in_thread, self);
  return self;
}

void
csb_console_bridge_stop (CsbConsoleBridge *self)
{
  if (self == NULL)
    return;
  if (self->wake_pipe[1] >= 0)
    {
      if (write (self->wake_pipe[1], "x", 1) < 0) {}
    }
  virStreamAbort (self->console);
  g_thread_join (self->out_thread);
  g_thread_join (self->in_thread);
  for (guint i = 0; i < 2; i++)
    if (self->wake_pipe[i] >= 0)
      close (self->wake_pipe[i]);
  if (self->in_fd >= 0)
    close (self->in_fd);
  if (self->out_fd >= 0)
    close (self->out_fd);
  if (self->count_fd >= 0)
    close (self->count_fd);
  g_free (self->log_path);
  g_byte_array_unref (self->unsent);
  g_free (self);
}

void
csb_console_bridge_restart (CsbConsoleBridge *self,
                            virStreamPtr      console)
{
  char c;

  g_return_if_fail (self != NULL && console != NULL);

  if (self->wake_pipe[1] >= 0 && write (self->wake_pipe[1], "x", 1) < 0) {}
  virStreamAbort (self->console);
  g_thread_join (self->out_thread);
  g_thread_join (self->in_thread);
  if (self->wake_pipe[0] >= 0 && read (self->wake_pipe[0], &c, 1) < 0) {}
  self->console = console;
  /* What came while there was no stream is in the log. */
  self->replay = TRUE;
  self->out_thread = g_thread_new ("console-out", console_out_thread, self);
  self->in_thread = g_thread_new ("console-in", console_in_thread, self);
}

virStreamPtr
csb_libvirt_open_console (virConnectPtr conn,
                          virDomainPtr  domain,
                          const char   *alias,
                          unsigned int  flags,
                          GError      **error)
{
  virStreamPtr console = virStreamNew (conn, 0);

  if (console == NULL || virDomainOpenConsole (domain, alias, console, flags) != 0)
    {
      csb_libvirt_set_error (error, CSB_ERROR_FAILED, "cannot open the console again");
      g_clear_pointer (&console, virStreamFree);
    }
  return console;
}
