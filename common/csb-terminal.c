/* csb-terminal.c
 *
 * The service always reads the terminal, whether or not a client is attached, so
 * the sandbox never blocks on output and the log is complete. Output goes to the
 * log, to an in-memory history (replayed to each new client first) and to every
 * client; input from any client goes into the terminal. Nothing here blocks: all
 * fds are non-blocking and what cannot be written yet is queued (a client that
 * falls too far behind is dropped rather than holding the others back).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "csb-error.h"
#include "csb-terminal.h"

#define HISTORY_MAX (1024 * 1024)
#define CLIENT_BACKLOG_MAX (8 * 1024 * 1024)
#define INPUT_BACKLOG_MAX (1024 * 1024)
#define READ_CHUNK 65536

typedef struct
{
  CsbTerminal *terminal;
  int          fd;
  guint        watch_id;
  GIOCondition watch_cond;
  GByteArray  *pending_out;
  gboolean     read_eof;
} Client;

struct _CsbTerminal
{
  GObject      parent_instance;

  int          master_fd;
  guint        master_watch_id;
  GIOCondition master_cond;
  int          log_fd;
  char        *log_path;
  guint64      log_max;     /* the log and its one rotated .1 together; 0: no cap */
  guint64      log_size;
  GByteArray  *history;
  GByteArray  *pending_in;
  GPtrArray   *clients;     /* (element-type Client) */
  gboolean     closed;
};

enum { SIGNAL_CLOSED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (CsbTerminal, csb_terminal, G_TYPE_OBJECT)

static void client_update_watch (Client *client);
static void master_update_watch (CsbTerminal *self);

gboolean
csb_pty_open (int     *out_master,
              int     *out_slave,
              GError **error)
{
  int master, slave;
  const char *name;

  master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt (master) != 0 || unlockpt (master) != 0 ||
      (name = ptsname (master)) == NULL)
    {
      int saved = errno;
      if (master >= 0)
        close (master);
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "cannot allocate a terminal (pty): %s", g_strerror (saved));
      return FALSE;
    }
  slave = open (name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0)
    {
      int saved = errno;
      close (master);
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "cannot open terminal %s: %s", name, g_strerror (saved));
      return FALSE;
    }
  *out_master = master;
  *out_slave = slave;
  return TRUE;
}

static void
client_free (gpointer data)
{
  Client *client = data;

  g_clear_handle_id (&client->watch_id, g_source_remove);
  if (client->fd >= 0)
    close (client->fd);
  g_byte_array_unref (client->pending_out);
  g_free (client);
}

static void
drop_client (Client *client)
{
  g_ptr_array_remove (client->terminal->clients, client);
}

/* Writes what it can now; FALSE if the client is gone. */
static gboolean
client_flush (Client *client)
{
  while (client->pending_out->len > 0)
    {
      ssize_t n = send (client->fd, client->pending_out->data, client->pending_out->len,
                        MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
          return FALSE;
        }
      g_byte_array_remove_range (client->pending_out, 0, n);
    }
  return TRUE;
}

static void
client_send (Client       *client,
             const guint8 *data,
             gsize         len)
{
  if (client->pending_out->len + len > CLIENT_BACKLOG_MAX)
    {
      g_debug ("terminal client falls too far behind; dropping it");
      drop_client (client);
      return;
    }
  g_byte_array_append (client->pending_out, data, len);
  if (!client_flush (client))
    drop_client (client);
  else
    client_update_watch (client);
}

static void
master_queue_input (CsbTerminal  *self,
                    const guint8 *data,
                    gsize         len)
{
  if (self->closed)
    return;
  if (self->pending_in->len + len > INPUT_BACKLOG_MAX)
    return;  /* The sandbox is not reading; typing more into it helps nobody. */
  g_byte_array_append (self->pending_in, data, len);
  master_update_watch (self);
}

static gboolean
on_client_io (int          fd,
              GIOCondition cond,
              gpointer     user_data)
{
  Client *client = user_data;
  CsbTerminal *self = client->terminal;

  if (cond & G_IO_IN)
    {
      guint8 buf[4096];
      ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);

      if (n > 0)
        master_queue_input (self, buf, n);
      else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        client->read_eof = TRUE;
    }

  if (cond & G_IO_OUT)
    {
      if (!client_flush (client))
        goto drop;
    }

  if ((cond & (G_IO_ERR | G_IO_NVAL)) || ((cond & G_IO_HUP) && !(cond & G_IO_IN)))
    goto drop;

  /* A client that closed its writing side only (shutdown) still gets output;
   * once the terminal is closed and everything is sent, the client is done. */
  if (self->closed && client->pending_out->len == 0)
    goto drop;

  client_update_watch (client);
  return G_SOURCE_CONTINUE;

drop:
  client->watch_id = 0;
  drop_client (client);
  return G_SOURCE_REMOVE;
}

static void
client_update_watch (Client *client)
{
  GIOCondition cond = G_IO_HUP | G_IO_ERR;

  if (!client->read_eof)
    cond |= G_IO_IN;
  if (client->pending_out->len > 0)
    cond |= G_IO_OUT;

  if (client->terminal->closed && client->pending_out->len == 0)
    {
      drop_client (client);
      return;
    }

  if (client->watch_id != 0 && cond == client->watch_cond)
    return;
  g_clear_handle_id (&client->watch_id, g_source_remove);
  client->watch_cond = cond;
  client->watch_id = g_unix_fd_add (client->fd, cond, on_client_io, client);
}

static void
terminal_closed (CsbTerminal *self)
{
  if (self->closed)
    return;
  self->closed = TRUE;
  g_clear_handle_id (&self->master_watch_id, g_source_remove);
  if (self->master_fd >= 0)
    {
      close (self->master_fd);
      self->master_fd = -1;
    }
  g_byte_array_set_size (self->pending_in, 0);

  /* Clients get what is queued for them, then EOF. */
  for (guint i = self->clients->len; i > 0; i--)
    client_update_watch (g_ptr_array_index (self->clients, i - 1));

  g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
}

/* The log is terminal.log and, once that holds half the cap, it becomes terminal.log.1
 * (replacing the one before) and a new terminal.log starts: the two together stay
 * within the cap, and the newest half of it at least is always kept. */
static void
log_rotate (CsbTerminal *self)
{
  g_autofree char *rotated = g_strconcat (self->log_path, ".1", NULL);
  int fd;

  if (rename (self->log_path, rotated) == 0)
    fd = open (self->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
               0600);
  else
    fd = -1;
  if (fd < 0)
    {
      /* Capped all the same: the history starts again. */
      if (ftruncate (self->log_fd, 0) != 0)
        {
          g_warning ("cannot rotate the terminal log %s: %s", self->log_path, g_strerror (errno));
          close (self->log_fd);
          self->log_fd = -1;
        }
    }
  else
    {
      close (self->log_fd);
      self->log_fd = fd;
    }
  self->log_size = 0;
}

static void
log_write (CsbTerminal  *self,
           const guint8 *data,
           gsize         len)
{
  if (self->log_fd < 0)
    return;
  if (self->log_max > 0)
    {
      guint64 half = MAX (self->log_max / 2, 1);

      if (len > half)
        {
          data += len - half;
          len = half;
        }
      if (self->log_size + len > half)
        log_rotate (self);
      if (self->log_fd < 0)
        return;
    }
  /* A full disk must not stop the sandbox; the log is best effort. */
  if (write (self->log_fd, data, len) < 0)
    {
      g_warning ("cannot write the terminal log: %s", g_strerror (errno));
      close (self->log_fd);
      self->log_fd = -1;
      return;
    }
  self->log_size += len;
}

static void
terminal_output (CsbTerminal  *self,
                 const guint8 *data,
                 gsize         len)
{
  log_write (self, data, len);

  g_byte_array_append (self->history, data, len);
  if (self->history->len > HISTORY_MAX + HISTORY_MAX / 4)
    g_byte_array_remove_range (self->history, 0, self->history->len - HISTORY_MAX);

  for (guint i = self->clients->len; i > 0; i--)
    client_send (g_ptr_array_index (self->clients, i - 1), data, len);
}

static gboolean
on_master_io (int          fd,
              GIOCondition cond,
              gpointer     user_data)
{
  CsbTerminal *self = user_data;

  if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR))
    {
      guint8 buf[READ_CHUNK];
      ssize_t n = read (fd, buf, sizeof buf);

      if (n > 0)
        terminal_output (self, buf, n);
      else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        {
          /* EIO: every slave fd is closed — the sandbox is gone. */
          self->master_watch_id = 0;
          terminal_closed (self);
          return G_SOURCE_REMOVE;
        }
    }

  if ((cond & G_IO_OUT) && self->pending_in->len > 0)
    {
      ssize_t n = write (fd, self->pending_in->data, self->pending_in->len);

      if (n > 0)
        g_byte_array_remove_range (self->pending_in, 0, n);
    }

  master_update_watch (self);
  return G_SOURCE_CONTINUE;
}

static void
master_update_watch (CsbTerminal *self)
{
  GIOCondition cond = G_IO_IN | G_IO_HUP | G_IO_ERR;

  if (self->closed)
    return;
  if (self->pending_in->len > 0)
    cond |= G_IO_OUT;
  if (self->master_watch_id != 0 && cond == self->master_cond)
    return;
  g_clear_handle_id (&self->master_watch_id, g_source_remove);
  self->master_cond = cond;
  self->master_watch_id = g_unix_fd_add (self->master_fd, cond, on_master_io, self);
}

static void
csb_terminal_dispose (GObject *object)
{
  CsbTerminal *self = CSB_TERMINAL (object);

  g_clear_handle_id (&self->master_watch_id, g_source_remove);
  if (self->clients)
    g_ptr_array_set_size (self->clients, 0);
  G_OBJECT_CLASS (csb_terminal_parent_class)->dispose (object);
}

static void
csb_terminal_finalize (GObject *object)
{
  CsbTerminal *self = CSB_TERMINAL (object);

  if (self->master_fd >= 0)
    close (self->master_fd);
  if (self->log_fd >= 0)
    close (self->log_fd);
  g_free (self->log_path);
  g_clear_pointer (&self->history, g_byte_array_unref);
  g_clear_pointer (&self->pending_in, g_byte_array_unref);
  g_clear_pointer (&self->clients, g_ptr_array_unref);
  G_OBJECT_CLASS (csb_terminal_parent_class)->finalize (object);
}

static void
csb_terminal_class_init (CsbTerminalClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = csb_terminal_dispose;
  object_class->finalize = csb_terminal_finalize;

  /* The terminal reached EOF: the sandbox (and everything holding it) is gone. */
  signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass),
                                         G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                         G_TYPE_NONE, 0);
}

static void
csb_terminal_init (CsbTerminal *self)
{
  self->master_fd = -1;
  self->log_fd = -1;
  self->history = g_byte_array_new ();
  self->pending_in = g_byte_array_new ();
  self->clients = g_ptr_array_new_with_free_func (client_free);
}

/* Takes ownership of @master_fd (a pty master or one end of a stream socket). */
CsbTerminal *
csb_terminal_new (int         master_fd,
                  const char *log_path,
                  GError    **error)
{
  g_autoptr(CsbTerminal) self = NULL;

  g_return_val_if_fail (master_fd >= 0, NULL);

  self = g_object_new (CSB_TYPE_TERMINAL, NULL);
  self->master_fd = master_fd;

  if (!g_unix_set_fd_nonblocking (master_fd, TRUE, error))
    return NULL;

  if (log_path != NULL)
    {
      self->log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                           0600);
      if (self->log_fd < 0)
        {
          g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                       "cannot create the terminal log '%s': %s", log_path,
                       g_strerror (errno));
          return NULL;
        }
      {
        struct stat st;

        if (fstat (self->log_fd, &st) == 0)
          self->log_size = st.st_size;
      }
      self->log_path = g_strdup (log_path);
    }

  master_update_watch (self);
  return g_steal_pointer (&self);
}

/* Takes @fd (a connected stream socket) as a client: history first, then live. */
void
csb_terminal_add_client (CsbTerminal *self,
                         int          fd)
{
  Client *client;

  g_return_if_fail (CSB_IS_TERMINAL (self));
  g_return_if_fail (fd >= 0);

  g_unix_set_fd_nonblocking (fd, TRUE, NULL);
  client = g_new0 (Client, 1);
  client->terminal = self;
  client->fd = fd;
  client->pending_out = g_byte_array_new ();
  g_byte_array_append (client->pending_out, self->history->data, self->history->len);
  g_ptr_array_add (self->clients, client);
  client_update_watch (client);
}

int
csb_terminal_open_client (CsbTerminal *self,
                          GError     **error)
{
  int pair[2];

  g_return_val_if_fail (CSB_IS_TERMINAL (self), -1);

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "cannot create a terminal stream: %s", g_strerror (errno));
      return -1;
    }
  /* The client's end stays blocking, as a plain fd should be for its reader. */
  csb_terminal_add_client (self, pair[0]);
  return pair[1];
}

gboolean
csb_terminal_resize (CsbTerminal *self,
                     guint16      columns,
                     guint16      rows,
                     GError     **error)
{
  struct winsize ws = { .ws_row = rows, .ws_col = columns };

  g_return_val_if_fail (CSB_IS_TERMINAL (self), FALSE);

  if (self->closed)
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                           "the sandbox's terminal is closed");
      return FALSE;
    }
  if (!isatty (self->master_fd))
    return TRUE;  /* A console stream has no window size of its own. */
  if (ioctl (self->master_fd, TIOCSWINSZ, &ws) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "cannot resize the terminal: %s", g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

/* At most @max_bytes of log, in the log and its rotated terminal.log.1 together; 0
 * for no cap. */
void
csb_terminal_set_log_max (CsbTerminal *self,
                          guint64      max_bytes)
{
  g_return_if_fail (CSB_IS_TERMINAL (self));

  self->log_max = max_bytes;
}

gboolean
csb_terminal_is_closed (CsbTerminal *self)
{
  return self->closed;
}

guint
csb_terminal_get_n_clients (CsbTerminal *self)
{
  return self->clients->len;
}

void
csb_terminal_close (CsbTerminal *self)
{
  terminal_closed (self);
}

/* What an earlier terminal of the same sandbox showed (its log, say): new clients
 * get it first, as if this terminal had shown it. Before any output. */
void
csb_terminal_preload_history (CsbTerminal *self,
                              GBytes      *history)
{
  gsize len;
  const guint8 *data;

  g_return_if_fail (CSB_IS_TERMINAL (self));

  data = g_bytes_get_data (history, &len);
  if (len > HISTORY_MAX)
    {
      data += len - HISTORY_MAX;
      len = HISTORY_MAX;
    }
  g_byte_array_prepend (self->history, data, len);
}

GBytes *
csb_terminal_dup_history (CsbTerminal *self)
{
  return g_bytes_new (self->history->data, self->history->len);
}
