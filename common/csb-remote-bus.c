/* csb-remote-bus.c — the session bus of another machine, over ssh.
 *
 * Nothing of our own listens on the network: ssh (its config, keys and agent)
 * carries everything. A GDBusConnection runs on the stdio (a socket pair) of
 * `ssh HOST claude-sandbox --bus-bridge`, which relays its stdio to the remote
 * session bus socket (cli/csb-cli-remote.c has the remote end and why it
 * is ours rather than systemd-stdio-bridge or socat).
 *
 * ssh joins the words after the host into one shell command line on the remote:
 * each of them is quoted here with g_shell_quote, so no argument is ever parsed by
 * the remote shell. The bus's ssh always runs with BatchMode=yes: a password or
 * passphrase prompt would wait invisibly (the app has no terminal), so a missing
 * key or agent is an error that says so.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "csb-error.h"
#include "csb-remote-bus.h"

const char *
csb_remote_ssh_program (void)
{
  const char *ssh = g_getenv ("CLAUDE_SANDBOX_SSH");

  return ssh != NULL && *ssh != '\0' ? ssh : "ssh";
}

const char *
csb_remote_cli (void)
{
  const char *cli = g_getenv ("CLAUDE_SANDBOX_REMOTE_CLI");

  return cli != NULL && *cli != '\0' ? cli : "claude-sandbox";
}

gboolean
csb_remote_check_host (const char *host,
                       GError    **error)
{
  /* A leading '-' would be an option of ssh (-oProxyCommand=…). */
  if (host == NULL || *host == '\0' || *host == '-')
    goto invalid;
  for (const char *p = host; *p; p++)
    if (g_ascii_isspace (*p) || g_ascii_iscntrl (*p))
      goto invalid;
  return TRUE;

invalid:
  g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
               _("a connection needs USER@HOST, HOST or an ssh config Host name, not '%s'"),
               host ? host : "");
  return FALSE;
}

CsbArgv *
csb_remote_ssh_argv (const char         *host,
                     const char         *tty_flag,
                     gboolean            batch,
                     const char * const *remote_args)
{
  g_autoptr(CsbArgv) argv = csb_argv_new ();
  g_autoptr(GString) command = g_string_new (NULL);

  csb_argv_add_args (argv, csb_remote_ssh_program (), "-e", "none", tty_flag, NULL);
  if (batch)
    csb_argv_add_args (argv, "-o", "BatchMode=yes", NULL);
  csb_argv_add_args (argv, "--", host, NULL);
  for (guint i = 0; remote_args[i] != NULL; i++)
    {
      g_autofree char *quoted = g_shell_quote (remote_args[i]);

      if (i > 0)
        g_string_append_c (command, ' ');
      g_string_append (command, quoted);
    }
  csb_argv_add (argv, command->str);
  return g_steal_pointer (&argv);
}

char *
csb_remote_explain_ssh_failure (const char *host,
                                const char *ssh_stderr,
                                int         exit_status)
{
  const char *said = ssh_stderr != NULL ? ssh_stderr : "";

  if (strstr (said, "Permission denied") != NULL)
    return g_strdup_printf (_("%s did not accept a key. Add your key to the agent (ssh-add) "
                              "or install it there (ssh-copy-id %s): the app never asks for "
                              "passwords."), host, host);
  if (strstr (said, "Host key verification failed") != NULL ||
      strstr (said, "REMOTE HOST IDENTIFICATION HAS CHANGED") != NULL)
    return g_strdup_printf (_("The identity of %s is not known yet (or changed). Connect once "
                              "with `ssh %s` in a terminal to check and accept it."), host, host);
  if (strstr (said, "Could not resolve hostname") != NULL)
    return g_strdup_printf (_("There is no machine called %s (its name could not be "
                              "resolved)."), host);
  if (strstr (said, "Connection refused") != NULL)
    return g_strdup_printf (_("%s refused the connection: is its SSH server running?"), host);
  if (strstr (said, "timed out") != NULL || strstr (said, "No route to host") != NULL ||
      strstr (said, "Network is unreachable") != NULL)
    return g_strdup_printf (_("%s cannot be reached on the network."), host);
  if (exit_status == 127 || strstr (said, "not found") != NULL)
    return g_strdup_printf (_("claude-sandbox is not installed on %s."), host);
  if (strstr (said, "no session bus") != NULL)
    return g_strdup_printf (_("%s has no session bus for this user (no login session there?)."),
                            host);
  if (*said != '\0')
    {
      g_autofree char *line = g_strstrip (g_strdup (said));

      return g_strdup_printf (_("Cannot reach the sandbox service of %s: %s"), host, line);
    }
  return g_strdup_printf (_("Cannot reach the sandbox service of %s."), host);
}

/* Starts `ssh HOST claude-sandbox --bus-bridge` on one end of a socket pair (GDBus
 * only offers EXTERNAL, the only mechanism that can work across machines, on a unix
 * socket, so not pipes); @our_fd gets the other end. With @explain, ssh's stderr is
 * a pipe (for set_connect_error). */
static GSubprocess *
spawn_bridge (const char  *host,
              gboolean     explain,
              int         *our_fd,
              GError     **error)
{
  const char * const remote_args[] = { csb_remote_cli (), "--bus-bridge", NULL };
  g_autoptr(CsbArgv) argv = csb_remote_ssh_argv (host, "-T", TRUE, remote_args);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  GSubprocess *ssh;
  int pair[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "socketpair: %s", g_strerror (saved_errno));
      return NULL;
    }
  launcher = g_subprocess_launcher_new (explain ? G_SUBPROCESS_FLAGS_STDERR_PIPE
                                                : G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_take_stdin_fd (launcher, pair[1]);
  g_subprocess_launcher_take_stdout_fd (launcher, dup (pair[1]));
  ssh = g_subprocess_launcher_spawnv (launcher, csb_argv_finish (argv), error);
  if (ssh == NULL)
    {
      close (pair[0]);
      return NULL;
    }
  *our_fd = pair[0];
  return ssh;
}

/* Why the bus over @ssh did not come up (@bus_error, GDBus's view, or NULL), once
 * ssh has exited: in a sentence for people with @explain (from what ssh said on
 * its stderr), else GDBus's words and what to check. */
static void
set_connect_error (const char   *host,
                   GSubprocess  *ssh,
                   gboolean      explain,
                   GError       *bus_error,
                   GError      **error)
{
  g_autofree char *said = NULL;
  int status = -1;

  if (explain)
    {
      GInputStream *err = g_subprocess_get_stderr_pipe (ssh);
      char buf[4096];
      gsize n = 0;

      /* Bounded: the first 4 KiB say why. */
      g_input_stream_read_all (err, buf, sizeof buf - 1, &n, NULL, NULL);
      buf[n] = '\0';
      said = g_utf8_make_valid (buf, -1);
    }
  if (g_subprocess_wait (ssh, NULL, NULL) && g_subprocess_get_if_exited (ssh))
    status = g_subprocess_get_exit_status (ssh);
  if (explain)
    {
      g_autofree char *sentence = csb_remote_explain_ssh_failure (host, said, status);

      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED, sentence);
    }
  else if (status == 127)
    /* The remote shell's "not found": the usual cause is an install under the home
     * there, whose bin folder only a login shell's profile puts on PATH. */
    g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                 _("%s was not found on %s (ssh exited with status 127). ssh runs it there "
                   "without a login shell's PATH, which is where ~/.local/bin usually comes "
                   "from: install claude-sandbox in /usr or /usr/local there, or set "
                   "CLAUDE_SANDBOX_REMOTE_CLI to its path there (relative to the home there, "
                   "like .local/bin/claude-sandbox)."), csb_remote_cli (), host);
  else
    {
      g_autofree char *status_text = status >= 0
        ? g_strdup_printf (_(" (ssh exited with status %d)"), status) : NULL;

      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   _("cannot reach the session bus of %s over ssh%s: %s\n"
                     "Check that `ssh %s` works without a password prompt and that "
                     "claude-sandbox is installed there."),
                   host, status_text ? status_text : "",
                   bus_error ? bus_error->message : _("no connection"), host);
    }
}

GDBusConnection *
csb_remote_bus_connect (const char        *host,
                        CsbRemoteBusFlags  flags,
                        GCancellable      *cancellable,
                        GError           **error)
{
  g_autoptr(GSubprocess) ssh = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GError) local_error = NULL;
  gboolean explain = (flags & CSB_REMOTE_BUS_STDERR_EXPLAIN) != 0;
  int fd = -1;

  if (!csb_remote_check_host (host, error))
    return NULL;
  if ((ssh = spawn_bridge (host, explain, &fd, error)) == NULL)
    return NULL;
  socket = g_socket_new_from_fd (fd, error);
  if (socket == NULL)
    {
      close (fd);
      g_subprocess_force_exit (ssh);
      return NULL;
    }
  stream = G_IO_STREAM (g_socket_connection_factory_create_connection (socket));
  bus = g_dbus_connection_new_sync (stream, NULL,
                                    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                    G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                    NULL, cancellable, &local_error);
  if (bus == NULL)
    {
      /* Closing our ends makes ssh exit, if it has not already. */
      g_io_stream_close (stream, NULL, NULL);
      set_connect_error (host, ssh, explain, local_error, error);
      return NULL;
    }
  g_dbus_connection_set_exit_on_close (bus, FALSE);
  /* ssh lives as long as the connection; when we exit, its stdin ends and it goes. */
  g_object_set_data_full (G_OBJECT (bus), "csb-ssh", g_steal_pointer (&ssh), g_object_unref);
  return g_steal_pointer (&bus);
}

static void
connect_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  const char *host = task_data;
  CsbRemoteBusFlags flags = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (task), "csb-flags"));
  GError *error = NULL;
  GDBusConnection *bus = csb_remote_bus_connect (host, flags, cancellable, &error);

  if (bus == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, bus, g_object_unref);
}

void
csb_remote_bus_connect_async (const char         *host,
                              CsbRemoteBusFlags   flags,
                              GCancellable       *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer            user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, csb_remote_bus_connect_async);
  g_task_set_task_data (task, g_strdup (host), g_free);
  g_object_set_data (G_OBJECT (task), "csb-flags", GUINT_TO_POINTER (flags));
  g_task_run_in_thread (task, connect_thread);
}

GDBusConnection *
csb_remote_bus_connect_finish (GAsyncResult *result,
                               GError      **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}
