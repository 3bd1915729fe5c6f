/* csb-cli-remote.c — claude-sandbox --host=USER@HOST.
 *
 * Nothing of our own listens on the network: ssh (its config, keys and agent)
 * carries everything. Calls that need no fds (--list, --stop, --remove, …) use a
 * GDBusConnection on the stdio (a socket pair) of `ssh HOST claude-sandbox --bus-bridge`, which
 * relays its stdio to the remote session bus socket: scripts get the same
 * structured results as locally. Terminals and launches need fds, which cannot
 * cross ssh, so they run the remote CLI itself under `ssh -t` (or `-T` with pipes).
 *
 * Why a bridge mode of our own rather than systemd-stdio-bridge or socat: the
 * remote machine has claude-sandbox anyway (its service is what we talk to), while
 * systemd-stdio-bridge is missing where systemd does not run and socat is often
 * not installed. The bridge only copies bytes, but for the EXTERNAL identity of the
 * authentication: the bus authenticates the bridge's own process (SO_PEERCRED), and
 * our local uid means nothing there. (G_DBUS_CONNECTION_FLAGS_CROSS_NAMESPACE would
 * do that on our side, but GLib 2.74 refuses the flag.)
 *
 * ssh joins the words after the host into one shell command line on the remote:
 * each of them is quoted here with g_shell_quote, so no argument is ever parsed by
 * the remote shell.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "csb-argv.h"
#include "csb-cli-common.h"
#include "csb-cli-remote.h"
#include "csb-error.h"
#include "csb-remote-bus.h"

char *
csb_cli_remote_rsync_shell (const char *control_path,
                            GError    **error)
{
  const char *ssh = csb_remote_ssh_program ();

  /* rsync splits -e at spaces, honouring quotes but not backslashes. */
  if (strpbrk (ssh, "'\"\\") != NULL ||
      (control_path != NULL && strpbrk (control_path, "'\"\\") != NULL))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                   _("the ssh program '%s' (CLAUDE_SANDBOX_SSH) cannot be given to rsync: its "
                     "path has a quote or a backslash"), ssh);
      return NULL;
    }
  if (control_path != NULL)
    return g_strdup_printf ("\"%s\" -e none -T -o BatchMode=yes -o ControlMaster=no "
                            "-o \"ControlPath=%s\"", ssh, control_path);
  return g_strdup_printf ("\"%s\" -e none -T -o BatchMode=yes", ssh);
}

static void
master_child_setup (gpointer user_data)
{
  /* It goes when we go, however we go. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

GSubprocess *
csb_cli_remote_start_master (const char *host,
                             const char *control_path,
                             GError    **error)
{
  g_autoptr(CsbArgv) argv = csb_argv_new ();
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree char *path_option = g_strconcat ("ControlPath=", control_path, NULL);

  csb_argv_add_args (argv, csb_remote_ssh_program (), "-e", "none", "-N", "-o", "BatchMode=yes",
                     "-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-o", path_option,
                     "--", host, NULL);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, master_child_setup, NULL, NULL);
  return g_subprocess_launcher_spawnv (launcher, csb_argv_finish (argv), error);
}

gboolean
csb_cli_remote_check_host (const char *host,
                           GError    **error)
{
  return csb_remote_check_host (host, error);
}

/* ssh runs the remote command in the home there, so a path relative to it is one
 * without its "~/". Nothing there would expand a "~" that reaches it (quoted here,
 * as "~/src/app" to keep the local shell from expanding it to a home of this machine):
 * the words are quoted for the remote shell, and rsync -s passes names as they are,
 * so "~/src/app" was a folder named "~" in the home. "~user/…" stays as it is. */
const char *
csb_cli_remote_home_relative (const char *path)
{
  if (path[0] != '~' || (path[1] != '\0' && path[1] != '/'))
    return path;
  path++;
  while (*path == '/')
    path++;
  return *path != '\0' ? path : ".";
}

int
csb_cli_remote_exec (const char         *host,
                     const char * const *remote_args)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  g_autoptr(CsbArgv) argv = NULL;
  const char * const *finished;
  /* A terminal on both sides gets a remote terminal (the remote CLI relays it);
   * otherwise the remote CLI sees pipes and runs the sandbox on them. */
  gboolean tty = isatty (STDIN_FILENO) && isatty (STDOUT_FILENO);

  g_ptr_array_add (args, (gpointer) csb_remote_cli ());
  for (guint i = 0; remote_args[i] != NULL; i++)
    g_ptr_array_add (args, (gpointer) remote_args[i]);
  g_ptr_array_add (args, NULL);
  argv = csb_remote_ssh_argv (host, tty ? "-t" : "-T", FALSE, (const char * const *) args->pdata);
  finished = csb_argv_finish (argv);
  execvp (finished[0], (char **) finished);
  csb_cli_print_error (_("cannot run %s: %s"), finished[0], g_strerror (errno));
  return CSB_CLI_EXIT_FAILED;
}

static void
on_connection_closed (GDBusConnection *connection,
                      gboolean         remote_peer_vanished,
                      GError          *error,
                      gpointer         user_data)
{
  const char *host = user_data;

  csb_cli_print_error (_("lost the connection to %s%s%s"), host, error ? ": " : "",
                       error ? error->message : "");
  exit (CSB_CLI_EXIT_FAILED);
}

GDBusConnection *
csb_cli_remote_connect (const char *host,
                        GError    **error)
{
  GDBusConnection *bus = csb_remote_bus_connect (host, CSB_REMOTE_BUS_STDERR_INHERIT, NULL, error);

  if (bus != NULL)
    g_signal_connect_data (bus, "closed", G_CALLBACK (on_connection_closed), g_strdup (host),
                           (GClosureNotify) g_free, 0);
  return bus;
}

/* ---- the remote end --------------------------------------------------------------- */

static gboolean
write_all (int         fd,
           const char *data,
           gsize       len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n, len -= n;
    }
  return TRUE;
}

static void
copy_until_end (int from,
                int to)
{
  char buf[65536];

  for (;;)
    {
      ssize_t n = read (from, buf, sizeof buf);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0 || !write_all (to, buf, n))
        return;
    }
}

static gpointer
bus_to_client (gpointer data)
{
  copy_until_end (GPOINTER_TO_INT (data), STDOUT_FILENO);
  /* The bus closed (or ssh did): nothing more to do in either direction. */
  _exit (EXIT_SUCCESS);
  return NULL;
}

/* The client's side of the authentication, line by line until BEGIN. Its
 * EXTERNAL identity is its uid on its own machine, which means nothing here:
 * ours replaces it. The bus checks it against the credentials of our socket, so
 * this claims nothing that the bridge's own process is not. */
static gboolean
relay_client_auth (int bus_fd)
{
  g_autoptr(GString) buffer = g_string_new (NULL);
  g_autofree char *uid = g_strdup_printf ("%u", (guint) getuid ());
  g_autoptr(GString) hex_uid = g_string_new (NULL);
  gboolean first_byte = TRUE;

  for (const char *p = uid; *p; p++)
    g_string_append_printf (hex_uid, "%02x", (guchar) *p);
  for (;;)
    {
      char buf[4096];
      ssize_t n = read (STDIN_FILENO, buf, sizeof buf);
      char *eol;

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      g_string_append_len (buffer, buf, n);
      if (first_byte && buffer->len > 0)
        {
          /* The credentials byte. */
          if (!write_all (bus_fd, buffer->str, 1))
            return FALSE;
          g_string_erase (buffer, 0, 1);
          first_byte = FALSE;
        }
      while ((eol = g_strstr_len (buffer->str, buffer->len, "\r\n")) != NULL)
        {
          gsize line_len = eol - buffer->str;
          gboolean begin = line_len == 5 && memcmp (buffer->str, "BEGIN", 5) == 0;
          gboolean ok;

          if (g_str_has_prefix (buffer->str, "AUTH EXTERNAL"))
            {
              g_autofree char *line = g_strdup_printf ("AUTH EXTERNAL %s\r\n", hex_uid->str);
              ok = write_all (bus_fd, line, strlen (line));
            }
          else
            ok = write_all (bus_fd, buffer->str, line_len + 2);
          g_string_erase (buffer, 0, line_len + 2);
          if (!ok)
            return FALSE;
          if (begin)
            /* What follows BEGIN is the messages: as they are. */
            return write_all (bus_fd, buffer->str, buffer->len);
        }
      if (buffer->len > 16384)
        return FALSE;
    }
}

int
csb_cli_remote_bus_bridge (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GIOStream) bus_stream = NULL;
  g_autoptr(GThread) thread = NULL;
  g_autofree char *address = NULL;
  const char *runtime_dir = g_getenv ("XDG_RUNTIME_DIR");
  int bus_fd;

  /* Where the session bus is for a login (pam_systemd sets XDG_RUNTIME_DIR; the
   * user bus listens at its "bus"), or DBUS_SESSION_BUS_ADDRESS if the session
   * says otherwise. */
  if (g_getenv ("DBUS_SESSION_BUS_ADDRESS") != NULL &&
      *g_getenv ("DBUS_SESSION_BUS_ADDRESS") != '\0')
    address = g_strdup (g_getenv ("DBUS_SESSION_BUS_ADDRESS"));
  else
    {
      g_autofree char *dir = runtime_dir != NULL && *runtime_dir != '\0'
                             ? g_strdup (runtime_dir)
                             : g_strdup_printf ("/run/user/%u", (guint) getuid ());
      g_autofree char *socket = g_build_filename (dir, "bus", NULL);
      g_autofree char *escaped = g_dbus_address_escape_value (socket);

      address = g_strconcat ("unix:path=", escaped, NULL);
    }
  bus_stream = g_dbus_address_get_stream_sync (address, NULL, NULL, &error);
  if (bus_stream == NULL || !G_IS_SOCKET_CONNECTION (bus_stream))
    {
      csb_cli_print_error (_("no session bus to bridge to at %s: %s"), address,
                           error ? error->message : _("not a socket"));
      return CSB_CLI_EXIT_FAILED;
    }
  bus_fd = g_socket_get_fd (g_socket_connection_get_socket (G_SOCKET_CONNECTION (bus_stream)));
  /* GSocket made it non-blocking; the two copying threads block. */
  if (fcntl (bus_fd, F_SETFL, fcntl (bus_fd, F_GETFL) & ~O_NONBLOCK) < 0)
    {
      csb_cli_print_error ("%s", g_strerror (errno));
      return CSB_CLI_EXIT_FAILED;
    }
  thread = g_thread_new ("bus-to-client", bus_to_client, GINT_TO_POINTER (bus_fd));
  if (relay_client_auth (bus_fd))
    copy_until_end (STDIN_FILENO, bus_fd);
  /* The client went (ssh closed our stdin): so does our side of the bus. */
  _exit (EXIT_SUCCESS);
}
