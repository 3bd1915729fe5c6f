/* csb-vm-stdio.c
 *
 * With pipes or files as a sandbox's stdio, a VM's command does not run on its
 * console (a terminal: stdin's end could never reach it, stdout and stderr would be
 * one) but on three virtio ports, the domain's stdin, stdout and stderr channels,
 * whose host ends are unix sockets QEMU listens on. Threads with blocking calls copy
 * between them and the caller's fds; a pipe to wake them for the end.
 *
 * EOF: virtio_console reads as end-of-file when the port's host end is closed. We
 * half-close (SHUT_WR) at the caller's EOF: QEMU reads what is left, as the guest
 * takes it, then reads the end and closes its side, which the guest sees. (A full
 * close would be a hang-up that QEMU acts on at once, dropping unread bytes.)
 *
 * The drain: a port's writes complete before the host took the data, so the guest's
 * init says how many bytes each output port took (the file "output" in the control
 * folder, renamed into place) and waits for our "drained" before it powers off.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "csb-module-api.h"
#include "csb-vm-stdio.h"

/* At most this much at once into a caller's fd we may not set non-blocking (its
 * file description is shared with the caller): a pipe that polls writable takes it. */
#define CHUNK 4096

typedef struct
{
  CsbVmStdio *self;
  int         sock;
  int         fd;
  guint64     count;     /* passed on (or dropped: nobody read) */
  gboolean    eof;
  GThread    *thread;
} Relay;

struct _CsbVmStdio
{
  Relay     relays[3];   /* stdin, stdout, stderr */
  GThread  *ack_thread;
  char     *ctl_dir;
  int       wake_pipe[2];
  GMutex    lock;
  GCond     cond;
  gboolean  stopping;
};

static gboolean
woken (CsbVmStdio *self)
{
  return g_atomic_int_get (&self->stopping);
}

/* Waits until @fd polls @events; FALSE when woken for the end. */
static gboolean
wait_fd (CsbVmStdio *self,
         int         fd,
         short       events)
{
  for (;;)
    {
      struct pollfd fds[2] = { { fd, events, 0 }, { self->wake_pipe[0], POLLIN, 0 } };

      if (poll (fds, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return FALSE;
        }
      if (fds[1].revents != 0)
        return FALSE;
      if (fds[0].revents != 0)
        return TRUE;
    }
}

static gpointer
in_thread (gpointer data)
{
  Relay *relay = data;
  char buf[16384];

  while (wait_fd (relay->self, relay->fd, POLLIN))
    {
      ssize_t n = read (relay->fd, buf, sizeof buf);
      char *p = buf;

      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0)
        break;
      while (n > 0)
        {
          /* Blocks while the guest does not read; the end's shutdown wakes it. */
          ssize_t w = send (relay->sock, p, n, MSG_NOSIGNAL);

          if (w < 0 && errno == EINTR)
            continue;
          if (w <= 0)
            return NULL;
          p += w;
          n -= w;
        }
    }
  if (!woken (relay->self))
    shutdown (relay->sock, SHUT_WR);
  return NULL;
}

static void
add_count (Relay   *relay,
           gssize   n,
           gboolean eof)
{
  CsbVmStdio *self = relay->self;

  g_mutex_lock (&self->lock);
  relay->count += n;
  relay->eof |= eof;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static gpointer
out_thread (gpointer data)
{
  Relay *relay = data;
  gboolean reader_gone = FALSE;
  char buf[CHUNK];

  for (;;)
    {
      ssize_t n = recv (relay->sock, buf, sizeof buf, 0);
      char *p = buf;
      ssize_t left = n;

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      while (left > 0 && !reader_gone)
        {
          ssize_t w;

          if (!wait_fd (relay->self, relay->fd, POLLOUT))
            {
              add_count (relay, 0, TRUE);
              return NULL;
            }
          w = write (relay->fd, p, left);
          if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
          if (w <= 0)
            reader_gone = TRUE;  /* nobody reads: drop the output, keep the guest going */
          else
            {
              p += w;
              left -= w;
            }
        }
      add_count (relay, n, FALSE);
    }
  add_count (relay, 0, TRUE);
  return NULL;
}

/* "output" holds two counts; FALSE while it is not there (or not whole). */
static gboolean
read_output_counts (const char *ctl_dir,
                    guint64     counts[2])
{
  g_autofree char *path = g_build_filename (ctl_dir, "output", NULL);
  g_autofree char *text = NULL;
  char *end;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  counts[0] = g_ascii_strtoull (text, &end, 10);
  if (end == text || *end != ' ')
    return FALSE;
  counts[1] = g_ascii_strtoull (end + 1, &end, 10);
  return *end == '\n';
}

static gpointer
ack_thread (gpointer data)
{
  CsbVmStdio *self = data;
  guint64 counts[2] = { 0, 0 };
  g_autofree char *drained = g_build_filename (self->ctl_dir, "drained", NULL);
  g_autoptr(GError) error = NULL;
  int inotify = inotify_init1 (IN_CLOEXEC | IN_NONBLOCK);

  if (inotify < 0 || inotify_add_watch (inotify, self->ctl_dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
    {
      g_warning ("cannot watch '%s' for the VM's output counts: %s", self->ctl_dir,
                 g_strerror (errno));
      if (inotify >= 0)
        close (inotify);
      return NULL;
    }
  /* Watched first, then looked at: a rename in between is not missed. */
  while (!read_output_counts (self->ctl_dir, counts))
    {
      char events[4096];

      if (!wait_fd (self, inotify, POLLIN))
        {
          close (inotify);
          return NULL;
        }
      while (read (inotify, events, sizeof events) > 0)
        ;
    }
  close (inotify);

  g_mutex_lock (&self->lock);
  while (!self->stopping &&
         !((self->relays[1].count >= counts[0] || self->relays[1].eof) &&
           (self->relays[2].count >= counts[1] || self->relays[2].eof)))
    g_cond_wait (&self->cond, &self->lock);
  g_mutex_unlock (&self->lock);
  if (!woken (self) &&
      !g_file_set_contents_full (drained, "1\n", -1, G_FILE_SET_CONTENTS_NONE, 0600, &error))
    g_warning ("the VM waits for its output to drain in vain: %s", error->message);
  return NULL;
}

static int
connect_socket (const char *path,
                GError    **error)
{
  g_autoptr(GError) local_error = NULL;
  int fd = csb_file_connect_socket (path, &local_error);

  if (fd < 0)
    g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot reach the VM's channel: %s",
                 local_error->message);
  return fd;
}

CsbVmStdio *
csb_vm_stdio_start (const char * const  sockets[3],
                    const int           stdio_fds[3],
                    const char         *ctl_dir,
                    GError            **error)
{
  CsbVmStdio *self;

  g_return_val_if_fail (sockets != NULL && stdio_fds != NULL && ctl_dir != NULL, NULL);

  self = g_new0 (CsbVmStdio, 1);
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->ctl_dir = g_strdup (ctl_dir);
  self->wake_pipe[0] = self->wake_pipe[1] = -1;
  for (guint i = 0; i < 3; i++)
    {
      self->relays[i].self = self;
      self->relays[i].sock = self->relays[i].fd = -1;
    }
  if (!g_unix_open_pipe (self->wake_pipe, FD_CLOEXEC, error))
    goto fail;
  for (guint i = 0; i < 3; i++)
    {
      if ((self->relays[i].sock = connect_socket (sockets[i], error)) < 0)
        goto fail;
      self->relays[i].fd = fcntl (stdio_fds[i], F_DUPFD_CLOEXEC, 3);
      if (self->relays[i].fd < 0)
        {
          g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot duplicate fd %d: %s",
                       stdio_fds[i], g_strerror (errno));
          goto fail;
        }
    }
  self->relays[0].thread = g_thread_new ("vm-stdin", in_thread, &self->relays[0]);
  self->relays[1].thread = g_thread_new ("vm-stdout", out_thread, &self->relays[1]);
  self->relays[2].thread = g_thread_new ("vm-stderr", out_thread, &self->relays[2]);
  self->ack_thread = g_thread_new ("vm-drain", ack_thread, self);
  return self;

fail:
  csb_vm_stdio_stop (self);
  return NULL;
}

void
csb_vm_stdio_stop (CsbVmStdio *self)
{
  if (self == NULL)
    return;
  g_mutex_lock (&self->lock);
  g_atomic_int_set (&self->stopping, TRUE);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  if (self->wake_pipe[1] >= 0 && write (self->wake_pipe[1], "x", 1) < 0) {}
  for (guint i = 0; i < 3; i++)
    if (self->relays[i].sock >= 0)
      shutdown (self->relays[i].sock, SHUT_RDWR);
  for (guint i = 0; i < 3; i++)
    if (self->relays[i].thread != NULL)
      g_thread_join (self->relays[i].thread);
  if (self->ack_thread != NULL)
    g_thread_join (self->ack_thread);
  for (guint i = 0; i < 3; i++)
    {
      if (self->relays[i].sock >= 0)
        close (self->relays[i].sock);
      if (self->relays[i].fd >= 0)
        close (self->relays[i].fd);
    }
  for (guint i = 0; i < 2; i++)
    if (self->wake_pipe[i] >= 0)
      close (self->wake_pipe[i]);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self->ctl_dir);
  g_free (self);
}

int
csb_vm_winsize_connect (const char  *socket_path,
                        GError     **error)
{
  int fd = connect_socket (socket_path, error);

  if (fd >= 0 && !g_unix_set_fd_nonblocking (fd, TRUE, error))
    {
      close (fd);
      return -1;
    }
  return fd;
}

void
csb_vm_winsize_send (int   fd,
                     guint columns,
                     guint rows)
{
  char line[32];
  int n;

  if (fd < 0)
    return;
  n = g_snprintf (line, sizeof line, "%u %u\n", columns, rows);
  if (send (fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
    g_debug ("the VM did not take its terminal's size (%ux%u)", columns, rows);
}
