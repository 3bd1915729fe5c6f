/* csb-tty.c
 *
 * The user's terminal is shared with the shell that started us: whatever we change
 * (raw mode, O_NONBLOCK on the open file description) must be put back before we
 * exit, or the shell is left unusable. The saved state is global so one call
 * restores it from any exit path.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "csb-tty.h"

#define MAX_SAVED_FDS 3

static int raw_fd = -1;
static struct termios saved_termios;

static struct
{
  int fd;
  int flags;
} saved_flags[MAX_SAVED_FDS];
static guint n_saved_flags;

static gboolean restore_registered;

static void
register_restore (void)
{
  if (!restore_registered)
    {
      atexit (csb_tty_restore);
      restore_registered = TRUE;
    }
}

gboolean
csb_tty_make_raw (int      fd,
                  GError **error)
{
  struct termios raw;

  g_return_val_if_fail (fd >= 0, FALSE);
  g_return_val_if_fail (raw_fd < 0, FALSE);

  if (tcgetattr (fd, &saved_termios) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Cannot read the terminal settings: %s"), g_strerror (saved));
      return FALSE;
    }
  register_restore ();

  /* Fully raw, so Ctrl-C, Ctrl-Z and Ctrl-\ are bytes for the program inside the
   * sandbox (its own pty turns them into signals there), not signals for us. */
  raw = saved_termios;
  cfmakeraw (&raw);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (tcsetattr (fd, TCSADRAIN, &raw) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Cannot put the terminal in raw mode: %s"), g_strerror (saved));
      return FALSE;
    }
  raw_fd = fd;
  return TRUE;
}

gboolean
csb_tty_set_nonblocking (int      fd,
                         GError **error)
{
  int flags;

  g_return_val_if_fail (fd >= 0, FALSE);

  flags = fcntl (fd, F_GETFL);
  if (flags < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Cannot read the flags of file descriptor %d: %s"), fd, g_strerror (saved));
      return FALSE;
    }
  if (flags & O_NONBLOCK)
    return TRUE;

  register_restore ();
  g_assert (n_saved_flags < MAX_SAVED_FDS);
  saved_flags[n_saved_flags].fd = fd;
  saved_flags[n_saved_flags].flags = flags;
  n_saved_flags++;
  if (fcntl (fd, F_SETFL, flags | O_NONBLOCK) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Cannot make file descriptor %d non-blocking: %s"), fd,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Idempotent and only async-signal-safe calls, so it may run from anywhere. */
void
csb_tty_restore (void)
{
  for (guint i = n_saved_flags; i > 0; i--)
    fcntl (saved_flags[i - 1].fd, F_SETFL, saved_flags[i - 1].flags);
  n_saved_flags = 0;

  if (raw_fd >= 0)
    {
      tcsetattr (raw_fd, TCSADRAIN, &saved_termios);
      raw_fd = -1;
    }
}

gboolean
csb_tty_get_size (int      fd,
                  guint16 *out_columns,
                  guint16 *out_rows)
{
  struct winsize ws = { 0, };

  if (ioctl (fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0 || ws.ws_row == 0)
    return FALSE;
  *out_columns = MIN (ws.ws_col, 1000);
  *out_rows = MIN (ws.ws_row, 1000);
  return TRUE;
}

/* When we leave while the program inside still runs, it may have hidden the cursor
 * or turned on mouse reporting or bracketed paste; the shell we return to expects
 * none of that. (The alternate screen is left alone: switching back when it is not
 * in use moves the cursor on some terminals.) */
void
csb_tty_reset_modes (int fd)
{
  static const char reset[] =
    "\033[0m"                                   /* attributes */
    "\033[?25h"                                 /* cursor visible */
    "\033[?1000l\033[?1002l\033[?1003l\033[?1006l" /* mouse reporting */
    "\033[?1005l\033[?1015l\033[?1016l"          /* mouse encodings */
    "\033[?1004l"                               /* focus events */
    "\033[?2026l"                               /* synchronized output */
    "\033[?2004l"                               /* bracketed paste */
    "\033[>4m\033[=0;1u"                        /* modifyOtherKeys, kitty keyboard */
    "\033[?1l\033>";                            /* cursor and keypad keys */
  gsize done = 0;

  if (!isatty (fd))
    return;
  while (done < sizeof reset - 1)
    {
      ssize_t n = write (fd, reset + done, sizeof reset - 1 - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      done += n;
    }
}
