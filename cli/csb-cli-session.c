/* csb-cli-session.c
 *
 * A session follows one sandbox until it ends, and returns the exit status the
 * CLI passes on. Interactive: the user's terminal is relayed to the sandbox's
 * (raw mode, window size, detach key); the sandbox outlives us if we go. With
 * stdio: the sandbox works on our fds directly and is part of our job, so a
 * signal to us stops it.
 *
 * The sandbox's end is seen through its State property, which the proxy loaded
 * when it was made: the handlers are connected before that value is looked at,
 * so an end that happened before, during or after is never missed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib/gi18n.h>
#include <glib-unix.h>

#include "csb-cli-common.h"
#include "csb-cli-session.h"
#include "csb-escape-filter.h"
#include "csb-terminal-relay.h"
#include "csb-tty.h"

#define DETACH_KEY 0x1d  /* Ctrl-] */

/* How long the sandbox's stderr may trail its exit (a pipe we relay). */
#define STDERR_DRAIN_MS 2000

typedef struct
{
  GMainLoop        *loop;
  CsbDBusSandbox   *sandbox;
  const char       *id;
  CsbTerminalRelay *relay;         /* interactive sessions only */
  int               size_fd;       /* the tty whose size the sandbox gets, or -1 */
  guint16           columns, rows;
  int               stderr_pipe;   /* read end relayed to our stderr, or -1 */
  CsbEscapeFilter  *stderr_filter; /* what of it reaches our stderr (a tty); NULL: raw */
  guint             stderr_watch;
  guint             output_watch;  /* the reader of our stdout going away */
  guint             drain_timeout;
  guint             signal_sources[4];
  guint             n_stop_requests;
  int               signal_number; /* the signal that ends an interactive session */
  gboolean          ended;
  gboolean          service_gone;
} Session;

static void
session_clear (Session *session)
{
  for (guint i = 0; i < G_N_ELEMENTS (session->signal_sources); i++)
    g_clear_handle_id (&session->signal_sources[i], g_source_remove);
  g_clear_handle_id (&session->stderr_watch, g_source_remove);
  g_clear_handle_id (&session->output_watch, g_source_remove);
  g_clear_handle_id (&session->drain_timeout, g_source_remove);
  if (session->stderr_pipe >= 0)
    close (session->stderr_pipe);
  session->stderr_pipe = -1;
  g_clear_pointer (&session->stderr_filter, csb_escape_filter_free);
  if (session->sandbox != NULL)
    g_signal_handlers_disconnect_by_data (session->sandbox, session);
  if (session->relay != NULL)
    g_signal_handlers_disconnect_by_data (session->relay, session);
  g_clear_object (&session->relay);
  g_clear_object (&session->sandbox);
  g_clear_pointer (&session->loop, g_main_loop_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Session, session_clear)

static void
session_check_done (Session *session)
{
  if (session->signal_number != 0 || session->service_gone)
    {
      g_main_loop_quit (session->loop);
      return;
    }
  if (session->relay != NULL)
    {
      CsbTerminalRelayEnd end = csb_terminal_relay_get_end (session->relay);

      /* After the terminal's EOF the exit status is what is still missing. */
      if (end == CSB_TERMINAL_RELAY_RUNNING || (end == CSB_TERMINAL_RELAY_EOF && !session->ended))
        return;
      g_main_loop_quit (session->loop);
      return;
    }
  if (session->ended && session->stderr_pipe < 0)
    g_main_loop_quit (session->loop);
}

static gboolean on_stderr_drain_timeout (gpointer user_data);

static void
session_mark_ended (Session *session)
{
  session->ended = TRUE;
  /* What the sandbox wrote last may still be in the stderr pipe; a process that
   * escaped with it must not hold us forever, though. */
  if (session->stderr_pipe >= 0 && session->drain_timeout == 0)
    session->drain_timeout = g_timeout_add (STDERR_DRAIN_MS, on_stderr_drain_timeout, session);
  session_check_done (session);
}

static void
on_sandbox_properties_changed (GDBusProxy *proxy,
                               GVariant   *changed,
                               GStrv       invalidated,
                               gpointer    user_data)
{
  Session *session = user_data;

  if (session->ended || !csb_cli_state_has_ended (csb_dbus_sandbox_get_state (session->sandbox)))
    return;
  session_mark_ended (session);
}

static gboolean
on_stderr_drain_timeout (gpointer user_data)
{
  Session *session = user_data;

  /* Something inside still holds the pipe after the sandbox ended; stop waiting. */
  session->drain_timeout = 0;
  g_clear_handle_id (&session->stderr_watch, g_source_remove);
  close (session->stderr_pipe);
  session->stderr_pipe = -1;
  session_check_done (session);
  return G_SOURCE_REMOVE;
}

static void
on_sandbox_exited (CsbDBusSandbox *sandbox,
                   int             status,
                   gpointer        user_data)
{
  Session *session = user_data;

  /* Normally the new State came first (the service flushes it before the signal). */
  if (!session->ended)
    session_mark_ended (session);
}

static void
on_name_owner_changed (GObject    *proxy,
                       GParamSpec *pspec,
                       gpointer    user_data)
{
  Session *session = user_data;
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));

  if (owner == NULL && !session->ended)
    {
      session->service_gone = TRUE;
      session_check_done (session);
    }
}

static gboolean
on_stderr_pipe (int          fd,
                GIOCondition cond,
                gpointer     user_data)
{
  Session *session = user_data;
  char buf[8192];
  ssize_t n = read (fd, buf, sizeof buf);

  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return G_SOURCE_CONTINUE;
  if (n > 0)
    {
      g_autoptr(GByteArray) shown = g_byte_array_new ();

      /* Our stderr is a terminal here (that is why it is relayed): the filter keeps
       * the sandbox from making it act, and writes are quick. */
      if (session->stderr_filter != NULL)
        csb_escape_filter_feed (session->stderr_filter, (const guint8 *) buf, n, shown);
      else
        g_byte_array_append (shown, (const guint8 *) buf, n);
      n = shown->len;
      for (ssize_t done = 0; done < n;)
        {
          ssize_t w = write (STDERR_FILENO, shown->data + done, n - done);
          if (w < 0 && errno == EINTR)
            continue;
          if (w <= 0)
            break;
          done += w;
        }
      return G_SOURCE_CONTINUE;
    }
  session->stderr_watch = 0;
  g_clear_handle_id (&session->drain_timeout, g_source_remove);
  close (session->stderr_pipe);
  session->stderr_pipe = -1;
  session_check_done (session);
  return G_SOURCE_REMOVE;
}

static void
send_window_size (Session *session)
{
  guint16 columns, rows;

  if (session->size_fd < 0 || !csb_tty_get_size (session->size_fd, &columns, &rows))
    return;
  if (columns == session->columns && rows == session->rows)
    return;
  session->columns = columns;
  session->rows = rows;
  /* Fire and forget: a sandbox that just ended has no terminal to resize. */
  csb_dbus_sandbox_call_resize_terminal (session->sandbox, columns, rows, NULL, NULL, NULL);
}

static gboolean
on_sigwinch (gpointer user_data)
{
  send_window_size (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_terminating_signal (Session *session,
                       int      signal_number)
{
  if (session->relay != NULL || session->n_stop_requests > 0)
    {
      /* On a terminal the sandbox outlives us (it can be reattached); a second
       * signal in a script means "now". */
      session->signal_number = signal_number;
      session_check_done (session);
      return G_SOURCE_CONTINUE;
    }

  /* In a script the sandbox works on our stdio and is part of our job: stop it
   * and report its status, as a signal to a foreground program would. */
  session->n_stop_requests++;
  csb_cli_print_error (_("stopping sandbox %s…"), session->id);
  csb_dbus_sandbox_call_stop (session->sandbox, NULL, NULL, NULL);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigint (gpointer user_data)
{
  return on_terminating_signal (user_data, SIGINT);
}

static gboolean
on_sigterm (gpointer user_data)
{
  return on_terminating_signal (user_data, SIGTERM);
}

static gboolean
on_sighup (gpointer user_data)
{
  return on_terminating_signal (user_data, SIGHUP);
}

/* Our stdout (and the sandbox's) is a pipe or socket whose reader went: a script
 * that stopped reading, or ssh's session ended (claude-sandbox --host, where the
 * sandbox would otherwise run on with nobody to hear it). As SIGPIPE would be. */
static gboolean
on_output_gone (int          fd,
                GIOCondition condition,
                gpointer     user_data)
{
  Session *session = user_data;

  session->output_watch = 0;
  on_terminating_signal (session, SIGPIPE);
  return G_SOURCE_REMOVE;
}

static void
on_relay_finished (CsbTerminalRelay *relay,
                   gpointer          user_data)
{
  Session *session = user_data;

  /* Nothing more goes to the terminal: give it back to the user right away. */
  csb_tty_restore ();
  session_check_done (session);
}

static void
session_init (Session        *session,
              CsbDBusSandbox *sandbox,
              const char     *id)
{
  memset (session, 0, sizeof *session);
  session->loop = g_main_loop_new (NULL, FALSE);
  session->sandbox = g_object_ref (sandbox);
  session->id = id;
  session->size_fd = -1;
  session->stderr_pipe = -1;

  /* Connect first, then look: a change after this cannot be missed, and one before
   * it is already in the properties the proxy loaded. */
  g_signal_connect (sandbox, "g-properties-changed",
                    G_CALLBACK (on_sandbox_properties_changed), session);
  g_signal_connect (sandbox, "exited", G_CALLBACK (on_sandbox_exited), session);
  g_signal_connect (sandbox, "notify::g-name-owner", G_CALLBACK (on_name_owner_changed),
                    session);
  session->ended = csb_cli_state_has_ended (csb_dbus_sandbox_get_state (sandbox));

  session->signal_sources[0] = g_unix_signal_add (SIGINT, on_sigint, session);
  session->signal_sources[1] = g_unix_signal_add (SIGTERM, on_sigterm, session);
  session->signal_sources[2] = g_unix_signal_add (SIGHUP, on_sighup, session);
}

/* What the sandbox left in the project that runs or is obeyed outside it later:
 * the user reads it before running git or claude there. */
static void
print_plants (Session *session)
{
  GVariant *plants = csb_dbus_sandbox_get_plants (session->sandbox);
  GVariantIter iter;
  const char *path, *why;

  if (plants == NULL || g_variant_n_children (plants) == 0)
    return;
  g_printerr ("\n");
  g_printerr (_("Warning: sandbox %s left files in %s that programs outside it run or obey "
                "(git, claude, direnv, editors). Check them before using the folder outside:"),
              session->id, csb_dbus_sandbox_get_project_dir (session->sandbox));
  g_printerr ("\n");
  g_variant_iter_init (&iter, plants);
  while (g_variant_iter_next (&iter, "(&s&s)", &path, &why))
    {
      g_autofree char *shown_path = g_strescape (path, NULL);
      g_autofree char *shown_why = g_strescape (why, NULL);

      g_printerr ("  %s — %s\n", shown_path, shown_why);
    }
}

/* The exit status of an ended sandbox, reporting why it failed if it did. */
static int
session_exit_status (Session *session)
{
  const char *state = csb_dbus_sandbox_get_state (session->sandbox);
  int status = csb_dbus_sandbox_get_exit_status (session->sandbox);

  print_plants (session);
  if (g_strcmp0 (state, "failed") == 0)
    {
      const char *message = csb_dbus_sandbox_get_error (session->sandbox);

      csb_cli_print_error (_("sandbox %s failed: %s"), session->id,
                           message && *message ? message : _("unknown error"));
      if (status <= 0)
        return CSB_CLI_EXIT_FAILED;
    }
  if (status < 0 || status > 255)
    return CSB_CLI_EXIT_FAILED;
  return status;
}

static void
print_detached (const char *id)
{
  g_printerr ("\n");
  g_printerr (_("Detached from sandbox %s; it keeps running. Reattach with: "
                "claude-sandbox --attach %s\n"), id, id);
}

static void
print_service_gone (const char *id)
{
  csb_cli_print_error (_("the claude-sandbox service went away; sandbox %s may still be running "
                         "(see claude-sandbox --list once the service is back)"), id);
}

/* The sandbox's terminal, opened for us: its stream's fd, or -1 (said). */
static int
open_terminal (Session *session)
{
  g_autoptr(GUnixFDList) fd_list = NULL;
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GError) error = NULL;
  int stream_fd;

  if (!csb_dbus_sandbox_call_open_terminal_sync (session->sandbox, NULL, &handle, &fd_list,
                                                 NULL, &error))
    {
      csb_cli_print_dbus_error (error);
      if (!session->ended)
        csb_cli_print_error (_("sandbox %s keeps running; stop it with: claude-sandbox --stop %s"),
                             session->id, session->id);
      return -1;
    }
  stream_fd = g_unix_fd_list_get (fd_list, g_variant_get_handle (handle), &error);
  if (stream_fd < 0)
    csb_cli_print_error (_("cannot get the sandbox's terminal: %s"), error->message);
  return stream_fd;
}

/* Starts relaying @stream_fd to our terminal, ours in raw mode, and keeps the
 * sandbox's window size ours. */
static gboolean
start_relay (Session  *session,
             int       stream_fd,
             gboolean  raw,
             GError  **error)
{
  gboolean stdin_tty = isatty (STDIN_FILENO);

  session->relay = csb_terminal_relay_new (stream_fd, STDIN_FILENO, STDOUT_FILENO, DETACH_KEY);
  csb_terminal_relay_set_raw (session->relay, raw);
  g_signal_connect (session->relay, "finished", G_CALLBACK (on_relay_finished), session);

  session->size_fd = isatty (STDOUT_FILENO) ? STDOUT_FILENO : STDIN_FILENO;
  send_window_size (session);
  session->signal_sources[3] = g_unix_signal_add (SIGWINCH, on_sigwinch, session);

  /* Raw mode only when the keyboard is ours: with stdin a pipe there is nothing to
   * make raw, and the terminal belongs to whoever reads it. */
  return (!stdin_tty || csb_tty_make_raw (STDIN_FILENO, error)) &&
         csb_tty_set_nonblocking (STDIN_FILENO, error) &&
         csb_tty_set_nonblocking (STDOUT_FILENO, error) &&
         csb_terminal_relay_start (session->relay, error);
}

/* The status of an interactive session after its relay @end: 0 after a detach, 128 +
 * N after signal N, the sandbox's own when it ended, CSB_CLI_EXIT_FAILED otherwise. */
static int
interactive_status (Session             *session,
                    CsbTerminalRelayEnd  end,
                    gboolean             raw)
{
  if (session->signal_number != 0 || end == CSB_TERMINAL_RELAY_DETACHED ||
      end == CSB_TERMINAL_RELAY_HANGUP)
    {
      if (end != CSB_TERMINAL_RELAY_HANGUP && session->signal_number != SIGHUP)
        {
          /* The program inside is still running and may have left the terminal in
           * one of its modes; the shell we return to expects none. */
          csb_tty_reset_modes (STDOUT_FILENO);
          print_detached (session->id);
        }
      if (session->signal_number != 0)
        return 128 + session->signal_number;
      return end == CSB_TERMINAL_RELAY_HANGUP ? 128 + SIGHUP : EXIT_SUCCESS;
    }
  /* The sandbox ended; a program that died, or meant harm, may have left our
   * terminal in a mode the filter let through (mouse reporting, a keyboard
   * protocol): the shell we return to expects none. --raw leaves it as it is. */
  if (end == CSB_TERMINAL_RELAY_EOF && !raw)
    csb_tty_reset_modes (STDOUT_FILENO);
  if (session->service_gone)
    {
      print_service_gone (session->id);
      return CSB_CLI_EXIT_FAILED;
    }
  if (end == CSB_TERMINAL_RELAY_ERROR)
    {
      csb_cli_print_error ("%s", csb_terminal_relay_get_error (session->relay)->message);
      csb_cli_print_error (_("sandbox %s keeps running; reattach with: claude-sandbox --attach %s"),
                           session->id, session->id);
      return CSB_CLI_EXIT_FAILED;
    }
  return session_exit_status (session);
}

/* Relays the user's terminal to the sandbox's until the sandbox ends (its status is
 * returned) or the user detaches. @raw: the sandbox's output unfiltered. */
int
csb_cli_run_interactive (CsbDBusSandbox *sandbox,
                         const char     *id,
                         gboolean        raw)
{
  g_auto(Session) session;
  g_autoptr(GError) error = NULL;
  int stream_fd;

  session_init (&session, sandbox, id);

  if ((stream_fd = open_terminal (&session)) < 0)
    return CSB_CLI_EXIT_FAILED;
  if (!start_relay (&session, stream_fd, raw, &error))
    {
      csb_tty_restore ();
      csb_cli_print_error ("%s", error->message);
      return CSB_CLI_EXIT_FAILED;
    }

  g_main_loop_run (session.loop);
  csb_tty_restore ();

  return interactive_status (&session, csb_terminal_relay_get_end (session.relay), raw);
}

/* Waits for a sandbox that works on our stdio; takes @stderr_pipe (or -1), whose
 * output goes to our stderr, filtered unless @raw. */
int
csb_cli_run_with_stdio (CsbDBusSandbox *sandbox,
                        const char     *id,
                        int             stderr_pipe,
                        gboolean        raw)
{
  g_auto(Session) session;
  struct stat st;

  session_init (&session, sandbox, id);
  session.stderr_pipe = stderr_pipe;
  if (!raw)
    session.stderr_filter = csb_escape_filter_new ();
  if (stderr_pipe >= 0)
    session.stderr_watch = g_unix_fd_add (stderr_pipe, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                          on_stderr_pipe, &session);
  if (fstat (STDOUT_FILENO, &st) == 0 && (S_ISFIFO (st.st_mode) || S_ISSOCK (st.st_mode)))
    session.output_watch = g_unix_fd_add (STDOUT_FILENO, G_IO_HUP | G_IO_ERR,
                                          on_output_gone, &session);
  if (session.ended)
    session_mark_ended (&session);
  if (!session.ended || session.stderr_pipe >= 0)
    g_main_loop_run (session.loop);

  if (session.signal_number != 0)
    return 128 + session.signal_number;
  if (session.service_gone)
    {
      print_service_gone (id);
      return CSB_CLI_EXIT_FAILED;
    }
  return session_exit_status (&session);
}
