/* claude-sandbox-monitor — holds one bwrap sandbox, so that it outlives the service.
 *
 * In the manner of podman's conmon: the monitor is the sandbox's parent, owns its
 * terminal (the pty, the log, the attached clients) and records its pid and exit
 * status in a status file. The service talks to it over a unix socket:
 *
 *   ATTACH                 the connection becomes a terminal client (history, then live)
 *   WATCH                  the connection gets "PID n" and "EXIT status" lines, and may
 *                          send: RESIZE cols rows | STOP grace-seconds | KILL
 *
 * The service learns on --ready-fd how the start went: "x" once bwrap runs, "P" if
 * the D-Bus proxy named by --wait-fd never got ready (bwrap sets the sandbox up
 * meanwhile, and its command waits on --block-fd until the proxy listens, so the
 * proxy, the service and bwrap start side by side), "E" and a message otherwise.
 *
 * With --user-net, the network is on: bwrap makes the sandbox's network namespace
 * and waits (--block-fd) while the monitor attaches a user-mode stack to it (pasta,
 * or slirp4netns); the command starts once the stack is up. The stack is the
 * monitor's child and ends with the sandbox, or with the monitor.
 *
 * A service that crashes or is upgraded reconnects (WATCH) and finds the sandbox as
 * it was; nothing inside notices. The monitor exits once the sandbox has ended and
 * its terminal's last output has reached the log and every attached client.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>

#include "csb-dbus-proxy.h"
#include "csb-file.h"
#include "csb-peer.h"
#include "csb-terminal.h"
#include "csb-trace.h"
#include "csb-user-net.h"

#define LINE_MAX_LEN 256
#define DRAIN_TIMEOUT_S 10

static GMainLoop *loop;
static CsbTerminal *terminal;
static GPtrArray *watchers;       /* (element-type GSocketConnection) */
static char *status_path;
static char *bwrapinfo_path;   /* where portals look for the sandbox's pid, or NULL */
static GPid bwrap_pid;
static pid_t child_pid;
static int exit_status = -1;
static guint kill_timeout_id;
static guint term_tick_id;
static guint term_ticks;
static GDataInputStream *json_reader;
static guint exit_announce_id;
static gboolean exit_announced;
static GPid user_net_pid;         /* the sandbox's network stack, while it runs */
static GPid compositor_pid;       /* the sandbox's private display, while it runs */
static char *display_dir;         /* its folder (the runtime folder's display/) */

#define DISPLAY_SOCKET "wayland-0"
#define COMPOSITOR_INIT "/run/claude-sandbox-init"
#define DISPLAY_START_TIMEOUT_S 20

static void
compositor_child_setup (gpointer user_data)
{
  /* Ends with us, even if we crash: nothing shows a display no sandbox has. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* The sandbox's private display: a headless weston (pixman, no input, no output but
 * memory) listening on @display_dir/wayland-0, which bwrap binds into the sandbox.
 * --debug offers weston's screenshooter (how the service takes Screenshot()) to its
 * clients: every one of them is the sandbox's, and sees only the sandbox's own
 * windows. No weston.ini: the user's would apply to the sandbox's compositor. It
 * parses what the sandbox's clients send, so it runs in a bwrap of its own (@bwrap):
 * /usr, the fonts' configuration and its folder, no network, no capabilities, none of
 * the user's files; and as the sandbox runs: under its seccomp filter (@seccomp_fd,
 * the service's, -1: none) and, through our init (@init, NULL: none) with @landlock,
 * Landlock-scoped. FALSE if it did not listen. */
static gboolean
start_compositor (const char *program,
                  const char *bwrap,
                  int         seccomp_fd,
                  const char *init,
                  gboolean    landlock,
                  GError    **error)
{
  g_autofree char *socket = g_build_filename (display_dir, DISPLAY_SOCKET, NULL);
  g_autofree char *seccomp_arg = g_strdup_printf ("%d", seccomp_fd);
  const char *head[] = {
    bwrap, "--unshare-all", "--unshare-user", "--cap-drop", "ALL", "--die-with-parent",
    "--new-session", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
    "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
    "--symlink", "usr/sbin", "/sbin", "--ro-bind-try", "/etc/fonts", "/etc/fonts",
    "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
    "--bind", display_dir, display_dir, "--chdir", display_dir, "--clearenv",
    "--setenv", "XDG_RUNTIME_DIR", display_dir, "--setenv", "XDG_CACHE_HOME", "/tmp",
    "--setenv", "PATH", "/usr/bin:/bin", NULL };
  const char *tail[] = {
    program, "--backend=headless-backend.so", "--use-pixman", "--socket=" DISPLAY_SOCKET,
    "--debug", "--idle-time=0", "--no-config", NULL };
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  const char *envp[] = { NULL };
  gint64 deadline = g_get_monotonic_time () + DISPLAY_START_TIMEOUT_S * G_USEC_PER_SEC;
  int null_fd;

  for (guint i = 0; head[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) head[i]);
  if (seccomp_fd >= 0)
    {
      g_ptr_array_add (argv, "--seccomp");
      g_ptr_array_add (argv, seccomp_arg);
    }
  if (init != NULL)
    {
      g_ptr_array_add (argv, "--ro-bind");
      g_ptr_array_add (argv, (char *) init);
      g_ptr_array_add (argv, COMPOSITOR_INIT);
    }
  g_ptr_array_add (argv, "--");
  if (init != NULL)
    {
      g_ptr_array_add (argv, COMPOSITOR_INIT);
      if (landlock)
        g_ptr_array_add (argv, "--landlock");
      g_ptr_array_add (argv, "--");
    }
  for (guint i = 0; tail[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) tail[i]);
  g_ptr_array_add (argv, NULL);

  if (g_mkdir_with_parents (display_dir, 0700) != 0 || chmod (display_dir, 0700) != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "cannot make %s: %s",
                   display_dir, g_strerror (errno));
      return FALSE;
    }
  unlink (socket);
  null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (!g_spawn_async_with_pipes_and_fds (display_dir, (const char * const *) argv->pdata, envp,
                                         G_SPAWN_DO_NOT_REAP_CHILD,
                                         compositor_child_setup, NULL, null_fd, null_fd,
                                         null_fd, &seccomp_fd, &seccomp_fd,
                                         seccomp_fd >= 0 ? 1 : 0, &compositor_pid, NULL, NULL,
                                         NULL, error))
    {
      close (null_fd);
      return FALSE;
    }
  close (null_fd);
  /* Listening once its socket is there (weston binds it before it loads its shell). */
  while (!g_file_test (socket, G_FILE_TEST_EXISTS))
    {
      if (waitpid (compositor_pid, NULL, WNOHANG) == compositor_pid)
        {
          compositor_pid = 0;
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s exited at its start",
                       program);
          return FALSE;
        }
      if (g_get_monotonic_time () > deadline)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "%s did not listen within %d s", program, DISPLAY_START_TIMEOUT_S);
          return FALSE;
        }
      g_usleep (10000);
    }
  return TRUE;
}

/* Ends the compositor and takes its socket away at once: nothing can connect to a
 * display whose sandbox ended. */
static void
stop_compositor (void)
{
  if (compositor_pid > 0)
    kill (compositor_pid, SIGTERM);
  compositor_pid = 0;
  if (display_dir != NULL)
    {
      g_autofree char *socket = g_build_filename (display_dir, DISPLAY_SOCKET, NULL);
      g_autofree char *lock = g_strconcat (socket, ".lock", NULL);

      unlink (socket);
      unlink (lock);
      rmdir (display_dir);
    }
}

static void
write_status (void)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *data = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "monitor-pid");
  json_builder_add_int_value (builder, getpid ());
  json_builder_set_member_name (builder, "child-pid");
  json_builder_add_int_value (builder, child_pid);
  json_builder_set_member_name (builder, "terminal");
  json_builder_add_boolean_value (builder, terminal != NULL);
  if (exit_status >= 0)
    {
      json_builder_set_member_name (builder, "exit-status");
      json_builder_add_int_value (builder, exit_status);
    }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  data = json_generator_to_data (generator, NULL);
  if (!csb_file_replace (status_path, data, -1, 0600, FALSE, NULL))
    g_warning ("cannot write %s", status_path);
}

static void
broadcast (const char *line)
{
  for (guint i = watchers->len; i > 0; i--)
    {
      GSocketConnection *connection = g_ptr_array_index (watchers, i - 1);
      GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));

      /* A line into a socket buffer: it does not block. A watcher gone is dropped. */
      if (!g_output_stream_write_all (out, line, strlen (line), NULL, NULL, NULL))
        g_ptr_array_remove_index (watchers, i - 1);
    }
}

static gboolean
same_pid_namespace (pid_t pid,
                    ino_t ns)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/ns/pid", (int) pid);
  struct stat st;

  return stat (path, &st) == 0 && st.st_ino == ns;
}

static GHashTable *terminated;   /* pids that got SIGTERM */

/* @signum to everything in the sandbox's pid namespace but its init, bwrap's, which
 * takes no signal it has no handler for from outside. With @once, each pid gets it
 * once (a program shutting down on SIGTERM is not told twice). */
static void
signal_namespace_full (int      signum,
                       gboolean once)
{
  g_autofree char *ns_path = g_strdup_printf ("/proc/%d/ns/pid", (int) child_pid);
  g_autoptr(GDir) proc = NULL;
  struct stat ns;
  const char *name;

  if (child_pid <= 0 || stat (ns_path, &ns) != 0)
    return;
  proc = g_dir_open ("/proc", 0, NULL);
  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      guint64 pid;

      if (!g_ascii_string_to_unsigned (name, 10, 1, G_MAXINT, &pid, NULL))
        continue;
      if ((pid_t) pid == child_pid || !same_pid_namespace ((pid_t) pid, ns.st_ino))
        continue;
      if (once)
        {
          if (g_hash_table_contains (terminated, GINT_TO_POINTER (pid)))
            continue;
          g_hash_table_add (terminated, GINT_TO_POINTER (pid));
        }
      kill ((pid_t) pid, signum);
    }
}

static void
signal_namespace (int signum)
{
  signal_namespace_full (signum, FALSE);
}

/* Right after Launch the command may not be running yet (bwrap reports the pid
 * before it sets up the mounts): processes that appear during the grace period
 * get their SIGTERM too. */
static gboolean
on_term_tick (gpointer user_data)
{
  /* An interactive shell ignores SIGTERM but ends on hang-up, as when its window
   * closes: the second word of a graceful stop, after 2 s. Until the grace period
   * ends, processes that appear late (a loaded machine sets sandboxes up slowly)
   * still get their SIGTERM. */
  if (++term_ticks == 8)
    signal_namespace (SIGHUP);
  signal_namespace_full (SIGTERM, TRUE);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_kill_timeout (gpointer user_data)
{
  kill_timeout_id = 0;
  g_clear_handle_id (&term_tick_id, g_source_remove);
  /* Killing the namespace's init ends every process in it. */
  if (child_pid > 0)
    kill (child_pid, SIGKILL);
  if (bwrap_pid > 0)
    kill (bwrap_pid, SIGKILL);
  return G_SOURCE_REMOVE;
}

static void
handle_command (const char *line)
{
  g_auto(GStrv) words = g_strsplit (line, " ", 4);
  guint64 a, b;

  if (g_strcmp0 (words[0], "RESIZE") == 0 && words[1] && words[2] &&
      g_ascii_string_to_unsigned (words[1], 10, 1, 1000, &a, NULL) &&
      g_ascii_string_to_unsigned (words[2], 10, 1, 1000, &b, NULL))
    {
      if (terminal != NULL)
        csb_terminal_resize (terminal, a, b, NULL);
    }
  else if (g_strcmp0 (words[0], "STOP") == 0 && words[1] &&
           g_ascii_string_to_unsigned (words[1], 10, 1, 3600, &a, NULL))
    {
      if (exit_status >= 0 || kill_timeout_id != 0)
        return;
      if (child_pid > 0)
        {
          signal_namespace_full (SIGTERM, TRUE);
          term_tick_id = g_timeout_add (250, on_term_tick, NULL);
        }
      else if (bwrap_pid > 0)
        kill (bwrap_pid, SIGTERM);
      kill_timeout_id = g_timeout_add_seconds (a, on_kill_timeout, NULL);
    }
  else if (g_strcmp0 (words[0], "KILL") == 0)
    on_kill_timeout (NULL);
  else
    g_debug ("unknown command: %s", line);
}

typedef struct
{
  GSocketConnection *connection;
  GDataInputStream  *reader;      /* once it is a WATCH connection */
  GString           *first_line;
  char               byte;
} Control;

static void
control_free (Control *control)
{
  g_clear_object (&control->reader);
  g_clear_object (&control->connection);
  if (control->first_line)
    g_string_free (control->first_line, TRUE);
  g_free (control);
}

static void control_read_command (Control *control);

static void
on_control_line (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Control *control = user_data;
  g_autofree char *line = NULL;
  gsize len;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result,
                                                    &len, NULL);
  if (line == NULL || len > LINE_MAX_LEN)
    {
      g_ptr_array_remove (watchers, control->connection);
      control_free (control);
      return;
    }
  handle_command (line);
  control_read_command (control);
}

static void
control_read_command (Control *control)
{
  g_data_input_stream_read_line_async (control->reader, G_PRIORITY_DEFAULT, NULL,
                                       on_control_line, control);
}

static void
start_watching (Control *control)
{
  control->reader = g_data_input_stream_new (
    g_io_stream_get_input_stream (G_IO_STREAM (control->connection)));
  g_data_input_stream_set_newline_type (control->reader, G_DATA_STREAM_NEWLINE_TYPE_LF);
  g_ptr_array_add (watchers, g_object_ref (control->connection));
  if (child_pid > 0)
    {
      g_autofree char *pid_line = g_strdup_printf ("PID %d\n", (int) child_pid);
      broadcast (pid_line);
    }
  if (exit_announced)
    {
      g_autofree char *exit_line = g_strdup_printf ("EXIT %d\n", exit_status);
      broadcast (exit_line);
    }
  control_read_command (control);
}

static void read_first_byte (Control *control);

/* The first line is read a byte at a time: after "ATTACH" come the user's keys,
 * which belong to the terminal, not to a read-ahead buffer of ours. */
static void
on_first_byte (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Control *control = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n != 1 || control->first_line->len > LINE_MAX_LEN)
    {
      control_free (control);
      return;
    }
  if (control->byte != '\n')
    {
      g_string_append_c (control->first_line, control->byte);
      read_first_byte (control);
      return;
    }

  if (g_str_equal (control->first_line->str, "ATTACH"))
    {
      GSocket *socket = g_socket_connection_get_socket (control->connection);
      int fd = dup (g_socket_get_fd (socket));

      if (terminal != NULL && fd >= 0)
        csb_terminal_add_client (terminal, fd);
      else if (fd >= 0)
        close (fd);
      control_free (control);
    }
  else if (g_str_equal (control->first_line->str, "WATCH"))
    start_watching (control);
  else
    control_free (control);
}

static void
read_first_byte (Control *control)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (control->connection));

  g_input_stream_read_async (in, &control->byte, 1, G_PRIORITY_DEFAULT, NULL, on_first_byte,
                             control);
}

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  g_autoptr(GError) error = NULL;
  Control *control;

  /* Only the service (a host process of ours) may read or type into the terminal
   * or stop the sandbox: see csb-peer.c. */
  if (!csb_peer_check_host (g_socket_get_fd (g_socket_connection_get_socket (connection)),
                            &error))
    {
      g_message ("refused a connection to the control socket: %s", error->message);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }
  control = g_new0 (Control, 1);
  control->connection = g_object_ref (connection);
  control->first_line = g_string_new (NULL);
  read_first_byte (control);
  return TRUE;
}

static void
maybe_quit (void)
{
  if (exit_status < 0)
    return;
  if (terminal != NULL && (!csb_terminal_is_closed (terminal) ||
                           csb_terminal_get_n_clients (terminal) > 0))
    return;
  g_main_loop_quit (loop);
}

static gboolean
on_check_quit (gpointer user_data)
{
  /* bwrap is reaped; whatever it left (we are their subreaper) is reaped here. */
  while (waitpid (-1, NULL, WNOHANG) > 0)
    ;
  maybe_quit ();
  return G_SOURCE_CONTINUE;
}

static gboolean
on_drain_timeout (gpointer user_data)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static void
announce_exit (void)
{
  g_autofree char *line = NULL;

  if (exit_announced)
    return;
  exit_announced = TRUE;
  g_clear_handle_id (&exit_announce_id, g_source_remove);
  line = g_strdup_printf ("EXIT %d\n", exit_status);
  broadcast (line);
}

static gboolean
on_announce_timeout (gpointer user_data)
{
  exit_announce_id = 0;
  announce_exit ();
  return G_SOURCE_REMOVE;
}

static void
on_bwrap_exited (GPid     pid,
                 int      wait_status,
                 gpointer user_data)
{
  g_spawn_close_pid (pid);
  csb_trace ("monitor: bwrap exited");
  bwrap_pid = 0;
  /* The namespace is gone with the sandbox; its stack has nothing left to serve
   * (on_check_quit reaps it). */
  if (user_net_pid > 0)
    kill (user_net_pid, SIGTERM);
  user_net_pid = 0;
  stop_compositor ();
  g_clear_handle_id (&kill_timeout_id, g_source_remove);
  g_clear_handle_id (&term_tick_id, g_source_remove);
  if (WIFEXITED (wait_status))
    exit_status = WEXITSTATUS (wait_status);
  else if (WIFSIGNALED (wait_status))
    exit_status = 128 + WTERMSIG (wait_status);
  else
    exit_status = 255;

  write_status ();

  /* The last output may still be in the pty, and the terminal closes at its EOF:
   * the end is announced once the log holds everything (bwrap's own error, say). */
  if (terminal != NULL && !csb_terminal_is_closed (terminal))
    {
      g_signal_connect (terminal, "closed", G_CALLBACK (announce_exit), NULL);
      exit_announce_id = g_timeout_add_seconds (1, on_announce_timeout, NULL);
    }
  else
    announce_exit ();
  g_timeout_add (50, on_check_quit, NULL);
  g_timeout_add_seconds (DRAIN_TIMEOUT_S, on_drain_timeout, NULL);
}

static void read_json_line (void);

/* A line of bwrap's --json-status-fd; its child's pid and network namespace (0
 * when the line has none). */
static JsonObject *
parse_json_line (const char *line)
{
  g_autoptr(JsonParser) parser = json_parser_new ();

  if (json_parser_load_from_data (parser, line, -1, NULL) &&
      JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
  return NULL;
}

/* As Flatpak keeps $XDG_RUNTIME_DIR/.flatpak/INSTANCE/bwrapinfo.json: since 1.19,
 * xdg-desktop-portal takes the pid of the caller's sandbox from there (the caller
 * it sees is the D-Bus proxy) and refuses callers whose instance has none. */
static void
write_bwrapinfo (void)
{
  g_autofree char *data = NULL;

  if (bwrapinfo_path == NULL || child_pid <= 0)
    return;
  data = g_strdup_printf ("{\"child-pid\": %d}\n", (int) child_pid);
  if (!csb_file_replace (bwrapinfo_path, data, -1, 0600, FALSE, NULL))
    g_warning ("cannot write %s", bwrapinfo_path);
}

static void
handle_json_line (const char *line)
{
  g_autoptr(JsonObject) object = parse_json_line (line);

  if (object != NULL && json_object_has_member (object, "child-pid"))
    {
      g_autofree char *pid_line = NULL;

      child_pid = json_object_get_int_member (object, "child-pid");
      csb_trace ("monitor: bwrap cloned the sandbox (pid %d)", (int) child_pid);
      write_status ();
      write_bwrapinfo ();
      pid_line = g_strdup_printf ("PID %d\n", (int) child_pid);
      broadcast (pid_line);
    }
}

static void
on_json_line (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autofree char *line = NULL;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result,
                                                    NULL, NULL);
  if (line == NULL)
    return;
  handle_json_line (line);
  read_json_line ();
}

/* Review mode: the overlay over the project, mounted by our helper in the sandbox's
 * namespaces while bwrap waits on its block fd (csb-review-mount.c). */
static gboolean
mount_review (const char *helper,
              gint64      pid,
              const char *target,
              GError    **error)
{
  g_autofree char *pid_arg = g_strdup_printf ("%" G_GINT64_FORMAT, pid);
  const char *argv[] = { helper, pid_arg, target, NULL };
  g_autofree char *err = NULL;
  int status;

  if (!g_spawn_sync (NULL, (char **) argv, (char *[]) { NULL }, G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, &err, &status, error))
    return FALSE;
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s",
                   err && *err ? g_strchomp (err) : "the review overlay could not be mounted");
      return FALSE;
    }
  return TRUE;
}

/* Network on, or review mode: bwrap has made the sandbox's namespaces and waits on
 * its block fd before it runs the command; the review overlay and the network stack
 * go in first. FALSE (and bwrap killed) if they could not. */
static gboolean
start_user_net (CsbUserNetKind kind,
                const char    *program,
                const char    *review_helper,
                const char    *review_target,
                int            block_fd,
                GError       **error)
{
  g_autofree char *line = NULL;
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(GError) local_error = NULL;

  /* bwrap's first line comes as soon as it has cloned the sandbox; none means it
   * failed before, which it reports as ever. */
  line = g_data_input_stream_read_line_utf8 (json_reader, NULL, NULL, NULL);
  if (line == NULL)
    return TRUE;
  object = parse_json_line (line);
  if (object == NULL || !json_object_has_member (object, "child-pid"))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           "bwrap did not say which process the sandbox is");
      goto fail;
    }
  if (review_helper != NULL &&
      !mount_review (review_helper, json_object_get_int_member (object, "child-pid"),
                     review_target, error))
    goto fail;
  csb_trace ("monitor: bwrap cloned, network stack starts");
  if (program != NULL &&
      (user_net_pid = csb_user_net_start (kind, program,
                                     json_object_get_int_member (object, "child-pid"),
                                     json_object_get_int_member_with_default (object,
                                                                              "net-namespace",
                                                                              0),
                                     error)) == 0)
    goto fail;
  csb_trace ("monitor: network stack up");
  /* -1: the caller lets the command go itself (once the D-Bus proxy is ready too). */
  if (block_fd >= 0 && write (block_fd, "x", 1) != 1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot start the sandbox: %s",
                   g_strerror (errno));
      goto fail;
    }
  handle_json_line (line);
  return TRUE;

fail:
  kill (bwrap_pid, SIGKILL);
  waitpid (bwrap_pid, NULL, 0);
  bwrap_pid = 0;
  return FALSE;
}

static void
read_json_line (void)
{
  g_data_input_stream_read_line_async (json_reader, G_PRIORITY_DEFAULT, NULL, on_json_line,
                                       NULL);
}

static int cgroup_fds[4] = { -1, -1, -1, -1 };   /* cgroup.procs of the sandbox's cgroups */

static void
child_setup (gpointer user_data)
{
  /* bwrap joins the sandbox's cgroup(s) before it runs, so everything the sandbox
   * starts is counted; one it cannot join would leave the limits a lie: no start. */
  for (guint i = 0; i < G_N_ELEMENTS (cgroup_fds); i++)
    if (cgroup_fds[i] >= 0 && write (cgroup_fds[i], "0", 1) != 1)
      {
        static const char message[] = "claude-sandbox-monitor: cannot join the sandbox's cgroup\n";

        (void) !write (STDERR_FILENO, message, sizeof message - 1);
        _exit (125);
      }

  /* A session of its own, without a controlling terminal: claude-sandbox-init
   * makes the pty that inside the sandbox's pid namespace, where job control can
   * see the session. */
  setsid ();
}

/* Tells the service (on --ready-fd) and the log why the start failed. */
static int G_GNUC_PRINTF (2, 3)
start_failed (int         ready_fd,
              const char *format,
              ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("claude-sandbox-monitor: %s\n", message);
  if (ready_fd >= 0)
    {
      g_autofree char *line = g_strconcat ("E", message, NULL);
      (void) !write (ready_fd, line, strlen (line));
    }
  return 125;
}

/* The proxy's byte on its sync pipe: it listens. */
static gboolean
wait_for_proxy (int fd)
{
  struct pollfd pfd = { fd, POLLIN, 0 };
  char byte;
  int r;

  do
    r = poll (&pfd, 1, CSB_DBUS_PROXY_READY_TIMEOUT_MS);
  while (r < 0 && errno == EINTR);
  return r > 0 && read (fd, &byte, 1) == 1;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketService) service = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_auto(GStrv) keep_fds = NULL;
  g_auto(GStrv) cgroups = NULL;
  g_auto(GStrv) hold_fds = NULL;
  g_autofree char *socket_name = NULL;
  g_autofree char *socket_path = NULL;
  g_autofree char *log_path = NULL;
  int socket_dir_fd = -1;
  gint64 log_max = 0;
  g_autofree char *stdio_spec = NULL;
  g_autofree char *user_net = NULL;
  g_autofree char *user_net_program = NULL;
  g_autofree char *review_mount = NULL;
  g_autofree char *review_target = NULL;
  g_autofree char *compositor = NULL;
  g_autofree char *compositor_bwrap = NULL;
  g_autofree char *compositor_init = NULL;
  int compositor_seccomp = -1;
  gboolean compositor_landlock = FALSE;
  gboolean block;
  CsbUserNetKind user_net_kind = CSB_USER_NET_PASTA;
  int block_pipe[2] = { -1, -1 };
  g_autoptr(GArray) sources = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr(GArray) targets = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr(GPtrArray) bwrap_argv = g_ptr_array_new_with_free_func (g_free);
  gboolean pty = FALSE;
  int ready_fd = -1;
  int wait_fd = -1;
  int stdio[3] = { -1, -1, -1 };
  int json_pipe[2];
  int json_target = 3;
  const GOptionEntry entries[] = {
    { "socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_name, "Control socket's name", "NAME" },
    { "socket-dir-fd", 0, 0, G_OPTION_ARG_INT, &socket_dir_fd, "Its folder, opened", "FD" },
    { "status", 0, 0, G_OPTION_ARG_FILENAME, &status_path, "Status file", "PATH" },
    { "bwrapinfo", 0, 0, G_OPTION_ARG_FILENAME, &bwrapinfo_path,
      "Say the sandbox's pid here for portals", "PATH" },
    { "log", 0, 0, G_OPTION_ARG_FILENAME, &log_path, "Terminal log", "PATH" },
    { "log-max", 0, 0, G_OPTION_ARG_INT64, &log_max, "Cap of the log and its .1", "BYTES" },
    { "pty", 0, 0, G_OPTION_ARG_NONE, &pty, "Give the sandbox a terminal", NULL },
    { "stdio", 0, 0, G_OPTION_ARG_STRING, &stdio_spec, "The sandbox's 0,1,2", "IN,OUT,ERR" },
    { "keep-fd", 0, 0, G_OPTION_ARG_STRING_ARRAY, &keep_fds, "Pass FD on to bwrap", "FD" },
    { "cgroup", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &cgroups, "Start bwrap in this cgroup", "DIR" },
    { "hold-fd", 0, 0, G_OPTION_ARG_STRING_ARRAY, &hold_fds,
      "Keep FD open (not passed on) until the sandbox ends", "FD" },
    { "ready-fd", 0, 0, G_OPTION_ARG_INT, &ready_fd, "Say here how the start went", "FD" },
    { "wait-fd", 0, 0, G_OPTION_ARG_INT, &wait_fd, "Run the command once a byte comes here",
      "FD" },
    { "user-net", 0, 0, G_OPTION_ARG_STRING, &user_net,
      "Give the sandbox's network namespace this stack", "pasta|slirp4netns" },
    { "user-net-program", 0, 0, G_OPTION_ARG_FILENAME, &user_net_program,
      "The stack's program", "PATH" },
    { "review-mount", 0, 0, G_OPTION_ARG_FILENAME, &review_mount,
      "Mount the review overlay with this helper", "PATH" },
    { "review-target", 0, 0, G_OPTION_ARG_FILENAME, &review_target,
      "Where the review overlay goes (the project's path)", "PATH" },
    { "private-display", 0, 0, G_OPTION_ARG_FILENAME, &display_dir,
      "Run the sandbox's headless compositor in this folder", "DIR" },
    { "compositor", 0, 0, G_OPTION_ARG_FILENAME, &compositor,
      "The compositor's program (weston)", "PATH" },
    { "compositor-seccomp", 0, 0, G_OPTION_ARG_INT, &compositor_seccomp,
      "The sandbox's seccomp filter, for the compositor", "FD" },
    { "compositor-init", 0, 0, G_OPTION_ARG_FILENAME, &compositor_init,
      "claude-sandbox-init, to start the compositor", "PATH" },
    { "compositor-landlock", 0, 0, G_OPTION_ARG_NONE, &compositor_landlock,
      "Scope the compositor with Landlock", NULL },
    { "compositor-bwrap", 0, 0, G_OPTION_ARG_FILENAME, &compositor_bwrap,
      "The bwrap it runs in", "PATH" },
    { NULL }
  };
  int dash = -1;

  csb_trace ("monitor: main");
  for (int i = 1; i < argc; i++)
    if (g_str_equal (argv[i], "--"))
      {
        dash = i;
        break;
      }
  if (dash < 0 || dash + 1 >= argc)
    {
      g_printerr ("usage: claude-sandbox-monitor OPTIONS -- BWRAP ARGS…\n");
      return 125;
    }
  {
    int opt_argc = dash;
    char **opt_argv = argv;

    context = g_option_context_new ("-- BWRAP ARGS…");
    g_option_context_add_main_entries (context, entries, NULL);
    if (!g_option_context_parse (context, &opt_argc, &opt_argv, &error) ||
        socket_name == NULL || socket_dir_fd < 0 || status_path == NULL ||
        strchr (socket_name, '/') != NULL)
      {
        g_printerr ("claude-sandbox-monitor: %s\n",
                    error ? error->message
                          : "--socket NAME, --socket-dir-fd and --status are required");
        return 125;
      }
    if (user_net != NULL &&
        (!csb_user_net_kind_from_name (user_net, &user_net_kind) || user_net_program == NULL))
      {
        g_printerr ("claude-sandbox-monitor: --user-net needs pasta or slirp4netns, and "
                    "--user-net-program\n");
        return 125;
      }
    if ((display_dir == NULL) != (compositor == NULL) ||
        (display_dir == NULL) != (compositor_bwrap == NULL))
      {
        g_printerr ("claude-sandbox-monitor: --private-display, --compositor and "
                    "--compositor-bwrap go together\n");
        return 125;
      }
    if ((review_mount == NULL) != (review_target == NULL))
      {
        g_printerr ("claude-sandbox-monitor: --review-mount and --review-target go together\n");
        return 125;
      }
  }
  block = user_net != NULL || review_mount != NULL;
  csb_trace ("monitor: options parsed");

  /* Out of the service's session and process group: its end is not ours. Orphans
   * of the sandbox come to us, not to an init that may not reap them. */
  setsid ();
  prctl (PR_SET_CHILD_SUBREAPER, 1);
  signal (SIGPIPE, SIG_IGN);
  loop = g_main_loop_new (NULL, FALSE);
  terminated = g_hash_table_new (NULL, NULL);
  watchers = g_ptr_array_new_with_free_func (g_object_unref);


  if (pty)
    {
      int master, slave;

      if (!csb_pty_open (&master, &slave, &error) ||
          (terminal = csb_terminal_new (master, log_path, &error)) == NULL)
        return start_failed (ready_fd, "%s", error->message);
      if (log_max > 0)
        csb_terminal_set_log_max (terminal, log_max);
      stdio[0] = slave;
      stdio[1] = slave;
      stdio[2] = slave;
    }
  else if (stdio_spec != NULL)
    {
      g_auto(GStrv) fds = g_strsplit (stdio_spec, ",", 3);

      for (guint i = 0; i < 3 && fds[i] != NULL; i++)
        stdio[i] = atoi (fds[i]);
    }

  /* Held, never read: whoever has the other end (a compositor's listener for the
   * sandbox) sees it hang up when we exit, which is when the sandbox ends. */
  for (guint i = 0; hold_fds != NULL && hold_fds[i] != NULL; i++)
    fcntl (atoi (hold_fds[i]), F_SETFD, FD_CLOEXEC);

  for (guint i = 0; keep_fds != NULL && keep_fds[i] != NULL; i++)
    {
      int fd = atoi (keep_fds[i]);

      g_array_append_val (sources, fd);
      g_array_append_val (targets, fd);
      if (fd >= json_target)
        json_target = fd + 1;
    }

  for (guint i = 0; cgroups != NULL && cgroups[i] != NULL; i++)
    {
      g_autofree char *procs = g_build_filename (cgroups[i], "cgroup.procs", NULL);

      if (i >= G_N_ELEMENTS (cgroup_fds) ||
          (cgroup_fds[i] = open (procs, O_WRONLY | O_CLOEXEC)) < 0)
        return start_failed (ready_fd, "cannot join cgroup %s: %s", cgroups[i],
                             g_strerror (errno));
    }

  csb_trace ("monitor: cgroups opened");
  /* Before bwrap, which binds its socket. */
  if (compositor_seccomp >= 0)
    fcntl (compositor_seccomp, F_SETFD, FD_CLOEXEC);  /* the compositor's alone */
  if (display_dir != NULL &&
      !start_compositor (compositor, compositor_bwrap, compositor_seccomp, compositor_init,
                         compositor_landlock, &error))
    {
      stop_compositor ();
      return start_failed (ready_fd, "cannot start the private display: %s", error->message);
    }

  if (!g_unix_open_pipe (json_pipe, FD_CLOEXEC, &error))
    return start_failed (ready_fd, "%s", error->message);
  g_array_append_val (sources, json_pipe[1]);
  g_array_append_val (targets, json_target);
  if (block || wait_fd >= 0)
    {
      int block_target = json_target + 1;

      if (!g_unix_open_pipe (block_pipe, FD_CLOEXEC, &error))
        return start_failed (ready_fd, "%s", error->message);
      g_array_append_val (sources, block_pipe[0]);
      g_array_append_val (targets, block_target);
    }

  g_ptr_array_add (bwrap_argv, g_strdup (argv[dash + 1]));
  /* The sandbox ends with its monitor: no one else holds its terminal or learns its
   * exit, and a bwrap left behind (a program that ignores hang-up) runs unaccounted. */
  g_ptr_array_add (bwrap_argv, g_strdup ("--die-with-parent"));
  g_ptr_array_add (bwrap_argv, g_strdup ("--json-status-fd"));
  g_ptr_array_add (bwrap_argv, g_strdup_printf ("%d", json_target));
  if (block || wait_fd >= 0)
    {
      /* The command waits until its network is up, its review overlay mounted and its
       * bus listens. */
      g_ptr_array_add (bwrap_argv, g_strdup ("--block-fd"));
      g_ptr_array_add (bwrap_argv, g_strdup_printf ("%d", json_target + 1));
    }
  for (int i = dash + 2; i < argc; i++)
    g_ptr_array_add (bwrap_argv, g_strdup (argv[i]));
  g_ptr_array_add (bwrap_argv, NULL);

  /* The proxy's pipe goes to bwrap (--sync-fd) with the other fds we pass on and
   * close; we read its ready byte from a copy of our own. */
  if (wait_fd >= 0 && (wait_fd = fcntl (wait_fd, F_DUPFD_CLOEXEC, 3)) < 0)
    return start_failed (ready_fd, "%s", g_strerror (errno));
  if (!g_spawn_async_with_pipes_and_fds (NULL, (const char * const *) bwrap_argv->pdata,
                                         (const char * const[]) { NULL },
                                         G_SPAWN_DO_NOT_REAP_CHILD, child_setup,
                                         GINT_TO_POINTER (pty), stdio[0], stdio[1], stdio[2],
                                         (const int *) sources->data,
                                         (const int *) targets->data, sources->len,
                                         &bwrap_pid, NULL, NULL, NULL, &error))
    return start_failed (ready_fd, "cannot start bwrap: %s", error->message);

  csb_trace ("monitor: bwrap spawned");
  /* Only bwrap and the sandbox hold these now. */
  for (guint i = 0; i < sources->len; i++)
    close (g_array_index (sources, int, i));
  if (pty)
    close (stdio[0]);
  else
    for (guint i = 0; i < 3; i++)
      if (stdio[i] >= 0)
        close (stdio[i]);

  /* The control socket, while bwrap sets the sandbox up: GIO's first socket costs
   * milliseconds, and the service connects only once it hears from --ready-fd.
   * Bound through the folder the service opened and checked (0700, ours, reached
   * without links): a folder swapped meanwhile cannot move the socket elsewhere. */
  socket_path = g_strdup_printf ("/proc/self/fd/%d/%s", socket_dir_fd, socket_name);
  unlinkat (socket_dir_fd, socket_name, 0);
  service = g_socket_service_new ();
  address = g_unix_socket_address_new (socket_path);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (service), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL,
                                      NULL, &error))
    {
      kill (bwrap_pid, SIGKILL);
      waitpid (bwrap_pid, NULL, 0);
      stop_compositor ();
      return start_failed (ready_fd, "%s", error->message);
    }
  g_signal_connect (service, "incoming", G_CALLBACK (on_incoming), NULL);
  g_socket_service_start (service);
  csb_trace ("monitor: listening");

  json_reader = g_data_input_stream_new (g_unix_input_stream_new (json_pipe[0], TRUE));
  if (block)
    {
      gboolean ok = start_user_net (user_net_kind, user_net != NULL ? user_net_program : NULL,
                                    review_mount, review_target,
                                    wait_fd >= 0 ? -1 : block_pipe[1], &error);

      if (!ok)
        return start_failed (ready_fd, "cannot set up the sandbox's %s: %s",
                             review_mount != NULL ? "review overlay or network" : "network",
                             error->message);
    }
  else if (bwrapinfo_path != NULL)
    {
      /* The sandbox's pid before anything inside can call a portal: bwrap says it as
       * soon as it has cloned, before it sets up and runs the command. */
      g_autofree char *line = g_data_input_stream_read_line_utf8 (json_reader, NULL, NULL,
                                                                  NULL);

      if (line != NULL)
        handle_json_line (line);
    }
  /* bwrap has been setting the sandbox up meanwhile; the command goes once the
   * proxy listens. */
  csb_trace ("monitor: waits for the proxy");
  if (wait_fd >= 0 && (!wait_for_proxy (wait_fd) || write (block_pipe[1], "x", 1) != 1))
    {
      g_printerr ("claude-sandbox-monitor: the D-Bus proxy did not get ready\n");
      kill (bwrap_pid, SIGKILL);
      waitpid (bwrap_pid, NULL, 0);
      if (user_net_pid > 0)
        kill (user_net_pid, SIGTERM);
      if (ready_fd >= 0)
        (void) !write (ready_fd, "P", 1);
      return 125;
    }
  csb_trace ("monitor: command let go");
  if (block_pipe[1] >= 0)
    close (block_pipe[1]);
  if (wait_fd >= 0)
    close (wait_fd);
  read_json_line ();
  g_child_watch_add (bwrap_pid, on_bwrap_exited, NULL);
  write_status ();

  if (ready_fd >= 0)
    {
      (void) !write (ready_fd, "x", 1);
      close (ready_fd);
    }

  g_main_loop_run (loop);

  /* The sandbox is gone (its pid namespace went with bwrap, and we reaped the rest):
   * its cgroups are empty. */
  for (guint i = 0; i < G_N_ELEMENTS (cgroup_fds); i++)
    if (cgroup_fds[i] >= 0)
      close (cgroup_fds[i]);
  for (guint i = 0; cgroups != NULL && cgroups[i] != NULL; i++)
    rmdir (cgroups[i]);

  unlinkat (socket_dir_fd, socket_name, 0);
  stop_compositor ();
  if (bwrapinfo_path != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (bwrapinfo_path);

      unlink (bwrapinfo_path);
      rmdir (dir);
    }
  g_clear_object (&terminal);
  return 0;
}
