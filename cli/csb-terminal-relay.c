/* csb-terminal-relay.c
 *
 * Pumps bytes between the user's terminal (or whatever stdin/stdout are) and the
 * stream socket OpenTerminal() returned, without ever blocking the main loop: the
 * D-Bus traffic (resizes, the sandbox's state) shares it. Each direction has a
 * bounded queue; while a queue is full its source is not read, so a slow terminal
 * slows the sandbox's output down instead of growing our memory.
 *
 * What the sandbox writes goes through a CsbEscapeFilter on its way to our output
 * (unless raw): the user's terminal must not be made to act for it (clipboard,
 * links, answers typed back as if by the user).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <glib-unix.h>

#include "csb-escape-filter.h"
#include "csb-terminal-relay.h"

#define QUEUE_MAX (64 * 1024)
#define READ_CHUNK 16384

struct _CsbTerminalRelay
{
  GObject              parent_instance;

  int                  stream_fd;
  int                  input_fd;     /* -1 once it reached EOF */
  int                  output_fd;
  int                  detach_key;   /* -1: none */
  gboolean             input_is_tty;
  CsbEscapeFilter     *filter;       /* NULL: raw */

  GByteArray          *to_stream;
  GByteArray          *to_output;
  gboolean             stream_eof;
  gboolean             stream_shut;  /* our writing side is shut down */

  guint                stream_watch;
  GIOCondition         stream_cond;
  guint                input_watch;
  guint                output_watch;

  CsbTerminalRelayEnd  end;
  GError              *error;
};

enum { SIGNAL_FINISHED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (CsbTerminalRelay, csb_terminal_relay, G_TYPE_OBJECT)

static void update_watches (CsbTerminalRelay *self);

static void
clear_watches (CsbTerminalRelay *self)
{
  g_clear_handle_id (&self->stream_watch, g_source_remove);
  g_clear_handle_id (&self->input_watch, g_source_remove);
  g_clear_handle_id (&self->output_watch, g_source_remove);
}

static void
finish (CsbTerminalRelay   *self,
        CsbTerminalRelayEnd end,
        GError             *error)
{
  if (self->end != CSB_TERMINAL_RELAY_RUNNING)
    {
      g_clear_error (&error);
      return;
    }
  self->end = end;
  self->error = error;
  clear_watches (self);
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0);
}

static void
finish_errno (CsbTerminalRelay *self,
              const char       *what,
              int               saved_errno)
{
  finish (self, CSB_TERMINAL_RELAY_ERROR,
          g_error_new (G_IO_ERROR, g_io_error_from_errno (saved_errno), "%s: %s", what,
                       g_strerror (saved_errno)));
}

/* Writes what it can now; FALSE with errno set on a real error. */
static gboolean
flush_queue (int         fd,
             GByteArray *queue,
             gboolean    is_socket)
{
  while (queue->len > 0)
    {
      ssize_t n = is_socket ? send (fd, queue->data, queue->len, MSG_NOSIGNAL | MSG_DONTWAIT)
                            : write (fd, queue->data, queue->len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            return TRUE;
          return FALSE;
        }
      g_byte_array_remove_range (queue, 0, n);
    }
  return TRUE;
}

static gboolean
flush_to_stream (CsbTerminalRelay *self)
{
  if (!flush_queue (self->stream_fd, self->to_stream, TRUE))
    {
      /* The service dropped us (or the sandbox is gone); what it had sent is still
       * readable, and its EOF ends the relay. */
      g_byte_array_set_size (self->to_stream, 0);
      self->input_fd = -1;
    }
  if (self->input_fd < 0 && self->to_stream->len == 0 && !self->stream_shut)
    {
      /* Our input ended (a pipe, not a tty): tell the service, but keep reading. */
      shutdown (self->stream_fd, SHUT_WR);
      self->stream_shut = TRUE;
    }
  return TRUE;
}

static gboolean
flush_to_output (CsbTerminalRelay *self)
{
  if (!flush_queue (self->output_fd, self->to_output, FALSE))
    {
      finish_errno (self, _("Cannot write to standard output"), errno);
      return FALSE;
    }
  if (self->stream_eof && self->to_output->len == 0)
    {
      finish (self, CSB_TERMINAL_RELAY_EOF, NULL);
      return FALSE;
    }
  return TRUE;
}

static gboolean
on_stream_io (int          fd,
              GIOCondition cond,
              gpointer     user_data)
{
  CsbTerminalRelay *self = user_data;

  if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR))
    {
      guint8 buf[READ_CHUNK];
      ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);

      if (n > 0)
        {
          if (self->filter != NULL)
            csb_escape_filter_feed (self->filter, buf, n, self->to_output);
          else
            g_byte_array_append (self->to_output, buf, n);
          if (!flush_to_output (self))
            return G_SOURCE_REMOVE;
        }
      else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        {
          /* EOF or a reset: either way the terminal is gone. */
          self->stream_eof = TRUE;
          self->stream_watch = 0;
          if (flush_to_output (self))
            update_watches (self);
          return G_SOURCE_REMOVE;
        }
    }
  if (cond & G_IO_OUT)
    flush_to_stream (self);

  update_watches (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_input_io (int          fd,
             GIOCondition cond,
             gpointer     user_data)
{
  CsbTerminalRelay *self = user_data;
  guint8 buf[READ_CHUNK];
  ssize_t n = read (fd, buf, sizeof buf);

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return G_SOURCE_CONTINUE;

  if (n <= 0)
    {
      self->input_watch = 0;
      if (self->input_is_tty)
        {
          /* A terminal in raw mode only ends when it hangs up (EIO): the user is
           * gone, the sandbox is not. */
          finish (self, CSB_TERMINAL_RELAY_HANGUP, NULL);
          return G_SOURCE_REMOVE;
        }
      self->input_fd = -1;
      flush_to_stream (self);
      update_watches (self);
      return G_SOURCE_REMOVE;
    }

  if (self->detach_key >= 0)
    {
      guint8 *key = memchr (buf, self->detach_key, n);

      if (key != NULL)
        {
          g_byte_array_append (self->to_stream, buf, key - buf);
          flush_queue (self->stream_fd, self->to_stream, TRUE);
          self->input_watch = 0;
          finish (self, CSB_TERMINAL_RELAY_DETACHED, NULL);
          return G_SOURCE_REMOVE;
        }
    }

  g_byte_array_append (self->to_stream, buf, n);
  flush_to_stream (self);
  update_watches (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_output_io (int          fd,
              GIOCondition cond,
              gpointer     user_data)
{
  CsbTerminalRelay *self = user_data;

  if (!flush_to_output (self))
    {
      self->output_watch = 0;
      return G_SOURCE_REMOVE;
    }
  update_watches (self);
  return G_SOURCE_CONTINUE;
}

static void
set_watch (guint         *watch,
           int            fd,
           gboolean       wanted,
           GIOCondition   cond,
           GIOCondition  *current_cond,
           GUnixFDSourceFunc func,
           gpointer       user_data)
{
  if (!wanted)
    {
      g_clear_handle_id (watch, g_source_remove);
      return;
    }
  if (*watch != 0 && (current_cond == NULL || *current_cond == cond))
    return;
  g_clear_handle_id (watch, g_source_remove);
  if (current_cond != NULL)
    *current_cond = cond;
  *watch = g_unix_fd_add (fd, cond, func, user_data);
}

static void
update_watches (CsbTerminalRelay *self)
{
  GIOCondition stream_cond = 0;

  if (self->end != CSB_TERMINAL_RELAY_RUNNING)
    return;

  if (!self->stream_eof && self->to_output->len < QUEUE_MAX)
    stream_cond |= G_IO_IN | G_IO_HUP | G_IO_ERR;
  if (!self->stream_eof && self->to_stream->len > 0)
    stream_cond |= G_IO_OUT;
  set_watch (&self->stream_watch, self->stream_fd, stream_cond != 0, stream_cond,
             &self->stream_cond, on_stream_io, self);

  set_watch (&self->input_watch, self->input_fd,
             self->input_fd >= 0 && !self->stream_eof && self->to_stream->len < QUEUE_MAX,
             G_IO_IN | G_IO_HUP | G_IO_ERR, NULL, on_input_io, self);

  set_watch (&self->output_watch, self->output_fd, self->to_output->len > 0,
             G_IO_OUT | G_IO_ERR, NULL, on_output_io, self);
}

static void
csb_terminal_relay_finalize (GObject *object)
{
  CsbTerminalRelay *self = CSB_TERMINAL_RELAY (object);

  clear_watches (self);
  if (self->stream_fd >= 0)
    close (self->stream_fd);
  g_byte_array_unref (self->to_stream);
  g_byte_array_unref (self->to_output);
  g_clear_pointer (&self->filter, csb_escape_filter_free);
  g_clear_error (&self->error);
  G_OBJECT_CLASS (csb_terminal_relay_parent_class)->finalize (object);
}

static void
csb_terminal_relay_class_init (CsbTerminalRelayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = csb_terminal_relay_finalize;

  /* The relay ended; csb_terminal_relay_get_end() says why. Emitted once. */
  signals[SIGNAL_FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                           G_TYPE_NONE, 0);
}

static void
csb_terminal_relay_init (CsbTerminalRelay *self)
{
  self->stream_fd = -1;
  self->input_fd = -1;
  self->output_fd = -1;
  self->detach_key = -1;
  self->to_stream = g_byte_array_new ();
  self->to_output = g_byte_array_new ();
  self->filter = csb_escape_filter_new ();
}

/* Takes @stream_fd. @input_fd and @output_fd stay the caller's and must already be
 * non-blocking; @input_fd may be -1 for no input. @detach_key is a byte that ends
 * the relay when typed on a tty, or -1. */
CsbTerminalRelay *
csb_terminal_relay_new (int stream_fd,
                        int input_fd,
                        int output_fd,
                        int detach_key)
{
  CsbTerminalRelay *self;

  g_return_val_if_fail (stream_fd >= 0, NULL);
  g_return_val_if_fail (output_fd >= 0, NULL);

  self = g_object_new (CSB_TYPE_TERMINAL_RELAY, NULL);
  self->stream_fd = stream_fd;
  self->input_fd = input_fd;
  self->output_fd = output_fd;
  self->input_is_tty = input_fd >= 0 && isatty (input_fd);
  self->detach_key = self->input_is_tty ? detach_key : -1;
  return self;
}

/* @raw: pass the sandbox's output on as it is, escape sequences and all (the
 * default filters it). Call before csb_terminal_relay_start(). */
void
csb_terminal_relay_set_raw (CsbTerminalRelay *self,
                            gboolean          raw)
{
  g_return_if_fail (CSB_IS_TERMINAL_RELAY (self));

  if (raw)
    g_clear_pointer (&self->filter, csb_escape_filter_free);
  else if (self->filter == NULL)
    self->filter = csb_escape_filter_new ();
}

gboolean
csb_terminal_relay_start (CsbTerminalRelay *self,
                          GError          **error)
{
  g_return_val_if_fail (CSB_IS_TERMINAL_RELAY (self), FALSE);

  if (!g_unix_set_fd_nonblocking (self->stream_fd, TRUE, error))
    return FALSE;
  if (self->input_fd < 0)
    flush_to_stream (self);
  update_watches (self);
  return TRUE;
}

CsbTerminalRelayEnd
csb_terminal_relay_get_end (CsbTerminalRelay *self)
{
  g_return_val_if_fail (CSB_IS_TERMINAL_RELAY (self), CSB_TERMINAL_RELAY_ERROR);
  return self->end;
}

const GError *
csb_terminal_relay_get_error (CsbTerminalRelay *self)
{
  g_return_val_if_fail (CSB_IS_TERMINAL_RELAY (self), NULL);
  return self->error;
}
