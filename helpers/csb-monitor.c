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
 * With --user-net, the network is on: bwrap's child here makes the sandbox's network
 * namespace (csb_user_net_unshare) and runs bwrap in it, and the monitor attaches a
 * user-mode stack to it (pasta, or slirp4netns) at once, while bwrap sets up and then
 * waits (--block-fd); the command starts once the stack is up. The stack is the
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>

#include "csb-compositor.h"
#include "csb-dbus-proxy.h"
#include "csb-file.h"
#include "csb-peer.h"
#include "csb-spare-job.h"
#include "csb-terminal.h"
#include "csb-trace.h"
#include "csb-user-net.h"

#define LINE_MAX_LEN 256
#define DRAIN_TIMEOUT_S 10

/* What the service asked for (see parse_options). */
typedef struct
{
  char              *socket_name;
  int                socket_dir_fd;
  char              *status_path;
  char              *bwrapinfo_path;   /* where portals look for the sandbox's pid, or NULL */
  char              *log_path;
  gint64             log_max;
  gboolean           pty;
  char              *stdio_spec;
  char             **keep_fds;
  char             **cgroups;
  char             **hold_fds;
  int                ready_fd;
  int                wait_fd;
  char              *user_net;
  char              *user_net_program;
  CsbUserNetKind     user_net_kind;
  char              *review_mount;
  char              *review_target;
  char              *display_dir;      /* the private display's folder (runtime's display/) */
  char              *compositor;
  char              *compositor_bwrap;
  char              *compositor_init;
  int                compositor_seccomp;
  gboolean           compositor_landlock;
  gboolean           compositor_x11;
  char             **bwrap_args;       /* bwrap and its arguments, after "--" (not owned) */
} Options;

static void
options_clear (Options *opt)
{
  g_free (opt->socket_name);
  g_free (opt->status_path);
  g_free (opt->bwrapinfo_path);
  g_free (opt->log_path);
  g_free (opt->stdio_spec);
  g_strfreev (opt->keep_fds);
  g_strfreev (opt->cgroups);
  g_strfreev (opt->hold_fds);
  g_free (opt->user_net);
  g_free (opt->user_net_program);
  g_free (opt->review_mount);
  g_free (opt->review_target);
  g_free (opt->display_dir);
  g_free (opt->compositor);
  g_free (opt->compositor_bwrap);
  g_free (opt->compositor_init);
}

/* Everything one monitor holds: its options, what goes to bwrap, the sandbox as it runs. */
typedef struct
{
  Options            opt;
  gboolean           block;            /* bwrap waits for the network or review overlay */

  int                stdio[3];
  GArray            *sources;          /* (element-type int) fds passed on to bwrap… */
  GArray            *targets;          /* (element-type int) …as these */
  int                json_target;
  int                json_pipe[2];
  int                block_pipe[2];
  int                cgroup_fds[4];    /* cgroup.procs of the sandbox's cgroups */
  GSocketService    *service;

  GMainLoop         *loop;
  CsbTerminal       *terminal;
  GPtrArray         *watchers;         /* (element-type GSocketConnection) */
  GHashTable        *terminated;       /* pids that got SIGTERM */
  GPid               bwrap_pid;
  pid_t              child_pid;
  int                exit_status;
  guint              kill_timeout_id;
  guint              term_tick_id;
  guint              term_ticks;
  GDataInputStream  *json_reader;
  guint              exit_announce_id;
  gboolean           exit_announced;
  GPid               user_net_pid;     /* the sandbox's network stack, while it runs */
  int                user_net_ready;   /* its ready pipe, until it is up */
  GError            *user_net_error;   /* why it did not start */
  GPid               compositor_pid;   /* the sandbox's private display, while it runs */
  /* A spare's network, made before its launch (spare_wait): the namespaces bwrap's
   * child joins, and the stack already running on them. */
  int                ahead_userns;
  int                ahead_netns;
  CsbUserNetKind     ahead_kind;
  char              *ahead_program;
  GPid               ahead_pid;
  int                ahead_ready;
  /* A spare's bwrap process, forked ahead and already in the sandbox's cgroups
   * (spare_fork_bwrap): it runs bwrap when sent its command line and fds. */
  GPid               pre_pid;
  int                pre_socket;
  char             **pre_cgroups;
} Monitor;

#define MONITOR_INIT { .opt = { .socket_dir_fd = -1, .ready_fd = -1, .wait_fd = -1, \
                                .user_net_kind = CSB_USER_NET_PASTA, \
                                .compositor_seccomp = -1 }, \
                       .stdio = { -1, -1, -1 }, .json_target = 3, \
                       .json_pipe = { -1, -1 }, .block_pipe = { -1, -1 }, \
                       .cgroup_fds = { -1, -1, -1, -1 }, .exit_status = -1, \
                       .user_net_ready = -1, .ahead_userns = -1, .ahead_netns = -1, \
                       .ahead_ready = -1, .pre_socket = -1 }

/* Closes *@fd if open, and marks it closed. */
static void
clear_fd (int *fd)
{
  if (*fd >= 0)
    close (g_steal_fd (fd));
}

/* Memory only: the fds and processes are the exit's to end. */
static void
monitor_clear (Monitor *self)
{
  options_clear (&self->opt);
  g_clear_pointer (&self->sources, g_array_unref);
  g_clear_pointer (&self->targets, g_array_unref);
  g_clear_object (&self->service);
  g_clear_error (&self->user_net_error);
  g_free (self->ahead_program);
  g_strfreev (self->pre_cgroups);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Monitor, monitor_clear)

/* The sandbox's private display (csb-compositor.c) on the display folder's
 * wayland-0, which bwrap binds into the sandbox. FALSE if it did not listen. */
static gboolean
start_compositor (Monitor *self,
                  GError **error)
{
  CsbCompositorConfig config = {
    self->opt.compositor_bwrap, self->opt.compositor, self->opt.display_dir,
    self->opt.compositor_seccomp, self->opt.compositor_init, self->opt.compositor_landlock,
    self->opt.compositor_x11
  };

  if (!csb_compositor_spawn (&config, &self->compositor_pid, error))
    return FALSE;
  if (!csb_compositor_wait (&config, self->compositor_pid, error))
    {
      self->compositor_pid = 0;
      return FALSE;
    }
  return TRUE;
}

/* Ends the compositor and takes its socket away at once. */
static void
stop_compositor (Monitor *self)
{
  csb_compositor_stop (self->compositor_pid, self->opt.display_dir);
  self->compositor_pid = 0;
}


static void
write_status (Monitor *self)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *data = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "monitor-pid");
  json_builder_add_int_value (builder, getpid ());
  json_builder_set_member_name (builder, "child-pid");
  json_builder_add_int_value (builder, self->child_pid);
  json_builder_set_member_name (builder, "terminal");
  json_builder_add_boolean_value (builder, self->terminal != NULL);
  if (self->exit_status >= 0)
    {
      json_builder_set_member_name (builder, "exit-status");
      json_builder_add_int_value (builder, self->exit_status);
    }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  data = json_generator_to_data (generator, NULL);
  if (!csb_file_replace (self->opt.status_path, data, -1, 0600, FALSE, NULL))
    g_warning ("cannot write %s", self->opt.status_path);
}

static void
broadcast (Monitor    *self,
           const char *line)
{
  for (guint i = self->watchers->len; i > 0; i--)
    {
      GSocketConnection *connection = g_ptr_array_index (self->watchers, i - 1);
      GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));

      /* A line into a socket buffer: it does not block. A watcher gone is dropped. */
      if (!g_output_stream_write_all (out, line, strlen (line), NULL, NULL, NULL))
        g_ptr_array_remove_index (self->watchers, i - 1);
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

/* @signum to everything in the sandbox's pid namespace but its init, bwrap's, which
 * takes no signal it has no handler for from outside. With @once, each pid gets it
 * once (a program shutting down on SIGTERM is not told twice). */
static void
signal_namespace_full (Monitor *self,
                       int      signum,
                       gboolean once)
{
  g_autofree char *ns_path = g_strdup_printf ("/proc/%d/ns/pid", (int) self->child_pid);
  g_autoptr(GDir) proc = NULL;
  struct stat ns;
  const char *name;

  if (self->child_pid <= 0 || stat (ns_path, &ns) != 0)
    return;
  proc = g_dir_open ("/proc", 0, NULL);
  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      guint64 pid;

      if (!g_ascii_string_to_unsigned (name, 10, 1, G_MAXINT, &pid, NULL))
        continue;
      if ((pid_t) pid == self->child_pid || !same_pid_namespace ((pid_t) pid, ns.st_ino))
        continue;
      if (once)
        {
          if (g_hash_table_contains (self->terminated, GINT_TO_POINTER (pid)))
            continue;
          g_hash_table_add (self->terminated, GINT_TO_POINTER (pid));
        }
      kill ((pid_t) pid, signum);
    }
}

static void
signal_namespace (Monitor *self,
                  int      signum)
{
  signal_namespace_full (self, signum, FALSE);
}

/* Right after Launch the command may not be running yet (bwrap reports the pid
 * before it sets up the mounts): processes that appear during the grace period
 * get their SIGTERM too. */
static gboolean
on_term_tick (gpointer user_data)
{
  Monitor *self = user_data;

  /* An interactive shell ignores SIGTERM but ends on hang-up, as when its window
   * closes: the second word of a graceful stop, after 2 s. Until the grace period
   * ends, processes that appear late (a loaded machine sets sandboxes up slowly)
   * still get their SIGTERM. */
  if (++self->term_ticks == 8)
    signal_namespace (self, SIGHUP);
  signal_namespace_full (self, SIGTERM, TRUE);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_kill_timeout (gpointer user_data)
{
  Monitor *self = user_data;

  self->kill_timeout_id = 0;
  g_clear_handle_id (&self->term_tick_id, g_source_remove);
  /* Killing the namespace's init ends every process in it. */
  if (self->child_pid > 0)
    kill (self->child_pid, SIGKILL);
  if (self->bwrap_pid > 0)
    kill (self->bwrap_pid, SIGKILL);
  return G_SOURCE_REMOVE;
}

static void
handle_command (Monitor    *self,
                const char *line)
{
  g_auto(GStrv) words = g_strsplit (line, " ", 4);
  guint64 a, b;

  if (g_strcmp0 (words[0], "RESIZE") == 0 && words[1] && words[2] &&
      g_ascii_string_to_unsigned (words[1], 10, 1, 1000, &a, NULL) &&
      g_ascii_string_to_unsigned (words[2], 10, 1, 1000, &b, NULL))
    {
      if (self->terminal != NULL)
        csb_terminal_resize (self->terminal, a, b, NULL);
    }
  else if (g_strcmp0 (words[0], "STOP") == 0 && words[1] &&
           g_ascii_string_to_unsigned (words[1], 10, 1, 3600, &a, NULL))
    {
      if (self->exit_status >= 0 || self->kill_timeout_id != 0)
        return;
      if (self->child_pid > 0)
        {
          signal_namespace_full (self, SIGTERM, TRUE);
          self->term_tick_id = g_timeout_add (250, on_term_tick, self);
        }
      else if (self->bwrap_pid > 0)
        kill (self->bwrap_pid, SIGTERM);
      self->kill_timeout_id = g_timeout_add_seconds (a, on_kill_timeout, self);
    }
  else if (g_strcmp0 (words[0], "KILL") == 0)
    on_kill_timeout (self);
  else
    g_debug ("unknown command: %s", line);
}

typedef struct
{
  Monitor           *monitor;
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
      g_ptr_array_remove (control->monitor->watchers, control->connection);
      control_free (control);
      return;
    }
  handle_command (control->monitor, line);
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
  Monitor *self = control->monitor;

  control->reader = g_data_input_stream_new (
    g_io_stream_get_input_stream (G_IO_STREAM (control->connection)));
  g_data_input_stream_set_newline_type (control->reader, G_DATA_STREAM_NEWLINE_TYPE_LF);
  g_ptr_array_add (self->watchers, g_object_ref (control->connection));
  if (self->child_pid > 0)
    {
      g_autofree char *pid_line = g_strdup_printf ("PID %d\n", (int) self->child_pid);
      broadcast (self, pid_line);
    }
  if (self->exit_announced)
    {
      g_autofree char *exit_line = g_strdup_printf ("EXIT %d\n", self->exit_status);
      broadcast (self, exit_line);
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
  CsbTerminal *terminal = control->monitor->terminal;
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
  control->monitor = user_data;
  control->connection = g_object_ref (connection);
  control->first_line = g_string_new (NULL);
  read_first_byte (control);
  return TRUE;
}

static void
maybe_quit (Monitor *self)
{
  if (self->exit_status < 0)
    return;
  if (self->terminal != NULL && (!csb_terminal_is_closed (self->terminal) ||
                                 csb_terminal_get_n_clients (self->terminal) > 0))
    return;
  g_main_loop_quit (self->loop);
}

static gboolean
on_check_quit (gpointer user_data)
{
  /* bwrap is reaped; whatever it left (we are their subreaper) is reaped here. */
  while (waitpid (-1, NULL, WNOHANG) > 0)
    ;
  maybe_quit (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_drain_timeout (gpointer user_data)
{
  Monitor *self = user_data;

  g_main_loop_quit (self->loop);
  return G_SOURCE_REMOVE;
}

static void
announce_exit (Monitor *self)
{
  g_autofree char *line = NULL;

  if (self->exit_announced)
    return;
  self->exit_announced = TRUE;
  g_clear_handle_id (&self->exit_announce_id, g_source_remove);
  line = g_strdup_printf ("EXIT %d\n", self->exit_status);
  broadcast (self, line);
}

static void
on_terminal_closed (CsbTerminal *terminal,
                    gpointer     user_data)
{
  announce_exit (user_data);
}

static gboolean
on_announce_timeout (gpointer user_data)
{
  Monitor *self = user_data;

  self->exit_announce_id = 0;
  announce_exit (self);
  return G_SOURCE_REMOVE;
}

static void
on_bwrap_exited (GPid     pid,
                 int      wait_status,
                 gpointer user_data)
{
  Monitor *self = user_data;

  g_spawn_close_pid (pid);
  csb_trace ("monitor: bwrap exited");
  self->bwrap_pid = 0;
  /* The namespace is gone with the sandbox; its stack has nothing left to serve
   * (on_check_quit reaps it). */
  if (self->user_net_pid > 0)
    kill (self->user_net_pid, SIGTERM);
  self->user_net_pid = 0;
  stop_compositor (self);
  g_clear_handle_id (&self->kill_timeout_id, g_source_remove);
  g_clear_handle_id (&self->term_tick_id, g_source_remove);
  if (WIFEXITED (wait_status))
    self->exit_status = WEXITSTATUS (wait_status);
  else if (WIFSIGNALED (wait_status))
    self->exit_status = 128 + WTERMSIG (wait_status);
  else
    self->exit_status = 255;

  write_status (self);

  /* The last output may still be in the pty, and the terminal closes at its EOF:
   * the end is announced once the log holds everything (bwrap's own error, say). */
  if (self->terminal != NULL && !csb_terminal_is_closed (self->terminal))
    {
      g_signal_connect (self->terminal, "closed", G_CALLBACK (on_terminal_closed), self);
      self->exit_announce_id = g_timeout_add_seconds (1, on_announce_timeout, self);
    }
  else
    announce_exit (self);
  g_timeout_add (50, on_check_quit, self);
  g_timeout_add_seconds (DRAIN_TIMEOUT_S, on_drain_timeout, self);
}

static void read_json_line (Monitor *self);

/* A line of bwrap's --json-status-fd as a JSON object, or NULL when it is not one. */
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
write_bwrapinfo (Monitor *self)
{
  g_autofree char *data = NULL;

  if (self->opt.bwrapinfo_path == NULL || self->child_pid <= 0)
    return;
  data = g_strdup_printf ("{\"child-pid\": %d}\n", (int) self->child_pid);
  if (!csb_file_replace (self->opt.bwrapinfo_path, data, -1, 0600, FALSE, NULL))
    g_warning ("cannot write %s", self->opt.bwrapinfo_path);
}

static void
handle_json_line (Monitor    *self,
                  const char *line)
{
  g_autoptr(JsonObject) object = parse_json_line (line);

  if (object != NULL && json_object_has_member (object, "child-pid"))
    {
      g_autofree char *pid_line = NULL;

      self->child_pid = json_object_get_int_member (object, "child-pid");
      csb_trace ("monitor: bwrap cloned the sandbox (pid %d)", (int) self->child_pid);
      write_status (self);
      write_bwrapinfo (self);
      pid_line = g_strdup_printf ("PID %d\n", (int) self->child_pid);
      broadcast (self, pid_line);
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
  handle_json_line (user_data, line);
  read_json_line (user_data);
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
 * (--user-net-program, or none) go in first. FALSE (and bwrap killed) if they could
 * not. */
static gboolean
start_user_net (Monitor    *self,
                const char *program,
                int         block_fd,
                GError    **error)
{
  g_autofree char *line = NULL;
  g_autoptr(JsonObject) object = NULL;

  /* bwrap's first line comes as soon as it has cloned the sandbox; none means it
   * failed before, which it reports as ever. */
  line = g_data_input_stream_read_line_utf8 (self->json_reader, NULL, NULL, NULL);
  if (line == NULL)
    return TRUE;
  object = parse_json_line (line);
  if (object == NULL || !json_object_has_member (object, "child-pid"))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           "bwrap did not say which process the sandbox is");
      goto fail;
    }
  if (self->opt.review_mount != NULL &&
      !mount_review (self->opt.review_mount, json_object_get_int_member (object, "child-pid"),
                     self->opt.review_target, error))
    goto fail;
  csb_trace ("monitor: bwrap cloned, waits for the network stack");
  /* Started as bwrap was (csb-user-net.c): most of its start is behind us. */
  if (program != NULL && self->user_net_pid == 0)
    {
      g_propagate_error (error, g_steal_pointer (&self->user_net_error));
      goto fail;
    }
  if (program != NULL &&
      !csb_user_net_wait (self->opt.user_net_kind, self->user_net_pid,
                          g_steal_fd (&self->user_net_ready), error))
    {
      self->user_net_pid = 0;
      goto fail;
    }
  csb_trace ("monitor: network stack up");
  /* -1: the caller lets the command go itself (once the D-Bus proxy is ready too). */
  if (block_fd >= 0 && write (block_fd, "x", 1) != 1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot start the sandbox: %s",
                   g_strerror (errno));
      goto fail;
    }
  handle_json_line (self, line);
  return TRUE;

fail:
  kill (self->bwrap_pid, SIGKILL);
  waitpid (self->bwrap_pid, NULL, 0);
  self->bwrap_pid = 0;
  return FALSE;
}

static void
read_json_line (Monitor *self)
{
  g_data_input_stream_read_line_async (self->json_reader, G_PRIORITY_DEFAULT, NULL,
                                       on_json_line, self);
}

/* The signals as a new program expects them, in bwrap's process before it runs: every
 * disposition the default, none blocked. What we ignore (SIGPIPE), what the service's
 * own parent left ignored, and glibc's two internal signals, which posix_spawn leaves
 * ignored in a spare, would otherwise reach the sandbox. A zeroed kernel sigaction is
 * SIG_DFL on every architecture (glibc's sigaction() refuses its internal signals).
 * Async-signal-safe. */
static void
reset_signals (void)
{
  static const unsigned long dfl[8];
  sigset_t none;

  for (int sig = 1; sig < _NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      syscall (SYS_rt_sigaction, sig, dfl, NULL, (size_t) (_NSIG / 8));
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
}

static void
child_setup (gpointer user_data)
{
  Monitor *self = user_data;

  reset_signals ();

  /* bwrap joins the sandbox's cgroup(s) before it runs, so everything the sandbox
   * starts is counted; one it cannot join would leave the limits a lie: no start. */
  for (guint i = 0; i < G_N_ELEMENTS (self->cgroup_fds); i++)
    if (self->cgroup_fds[i] >= 0 && write (self->cgroup_fds[i], "0", 1) != 1)
      {
        static const char message[] = "claude-sandbox-monitor: cannot join the sandbox's cgroup\n";

        (void) !write (STDERR_FILENO, message, sizeof message - 1);
        _exit (125);
      }

  /* A session of its own, without a controlling terminal: claude-sandbox-init
   * makes the pty that inside the sandbox's pid namespace, where job control can
   * see the session. */
  setsid ();
  /* Network on: the namespace the stack gets, made here so that the stack can
   * start at once (csb-user-net.c); bwrap runs in it with --share-net. */
  if (self->opt.user_net != NULL &&
      (self->ahead_userns >= 0 ? csb_user_net_enter (self->ahead_userns, self->ahead_netns)
                               : csb_user_net_unshare ()) != 0)
    {
      static const char message[] = "claude-sandbox-monitor: cannot make the sandbox's network namespace\n";

      (void) !write (STDERR_FILENO, message, sizeof message - 1);
      _exit (125);
    }
}

/* Tells the service (on --ready-fd) and the log why the start failed. */
static int G_GNUC_PRINTF (2, 3)
start_failed (Monitor    *self,
              const char *format,
              ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("claude-sandbox-monitor: %s\n", message);
  if (self->opt.ready_fd >= 0)
    {
      g_autofree char *line = g_strconcat ("E", message, NULL);
      (void) !write (self->opt.ready_fd, line, strlen (line));
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

/* The options that must come together, or with a value from a list. FALSE, and said
 * on stderr, if they do not. */
static gboolean
check_options (Monitor *self)
{
  if (self->opt.user_net != NULL &&
      (!csb_user_net_kind_from_name (self->opt.user_net, &self->opt.user_net_kind) ||
       self->opt.user_net_program == NULL))
    {
      g_printerr ("claude-sandbox-monitor: --user-net needs pasta or slirp4netns, and "
                  "--user-net-program\n");
      return FALSE;
    }
  if ((self->opt.display_dir == NULL) != (self->opt.compositor == NULL) ||
      (self->opt.display_dir == NULL) != (self->opt.compositor_bwrap == NULL))
    {
      g_printerr ("claude-sandbox-monitor: --private-display, --compositor and "
                  "--compositor-bwrap go together\n");
      return FALSE;
    }
  if ((self->opt.review_mount == NULL) != (self->opt.review_target == NULL))
    {
      g_printerr ("claude-sandbox-monitor: --review-mount and --review-target go together\n");
      return FALSE;
    }
  self->block = self->opt.user_net != NULL || self->opt.review_mount != NULL;
  return TRUE;
}

/* The options before "--" into @self, bwrap's command line after it into
 * self->opt.bwrap_args. FALSE, and said on stderr, if they are wrong. */
static gboolean
parse_options (Monitor *self,
               int      argc,
               char    *argv[])
{
  Options *opt = &self->opt;
  const GOptionEntry entries[] = {
    { "socket", 0, 0, G_OPTION_ARG_FILENAME, &opt->socket_name, "Control socket's name",
      "NAME" },
    { "socket-dir-fd", 0, 0, G_OPTION_ARG_INT, &opt->socket_dir_fd, "Its folder, opened",
      "FD" },
    { "status", 0, 0, G_OPTION_ARG_FILENAME, &opt->status_path, "Status file", "PATH" },
    { "bwrapinfo", 0, 0, G_OPTION_ARG_FILENAME, &opt->bwrapinfo_path,
      "Say the sandbox's pid here for portals", "PATH" },
    { "log", 0, 0, G_OPTION_ARG_FILENAME, &opt->log_path, "Terminal log", "PATH" },
    { "log-max", 0, 0, G_OPTION_ARG_INT64, &opt->log_max, "Cap of the log and its .1",
      "BYTES" },
    { "pty", 0, 0, G_OPTION_ARG_NONE, &opt->pty, "Give the sandbox a terminal", NULL },
    { "stdio", 0, 0, G_OPTION_ARG_STRING, &opt->stdio_spec, "The sandbox's 0,1,2",
      "IN,OUT,ERR" },
    { "keep-fd", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt->keep_fds, "Pass FD on to bwrap",
      "FD" },
    { "cgroup", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opt->cgroups,
      "Start bwrap in this cgroup", "DIR" },
    { "hold-fd", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt->hold_fds,
      "Keep FD open (not passed on) until the sandbox ends", "FD" },
    { "ready-fd", 0, 0, G_OPTION_ARG_INT, &opt->ready_fd, "Say here how the start went",
      "FD" },
    { "wait-fd", 0, 0, G_OPTION_ARG_INT, &opt->wait_fd,
      "Run the command once a byte comes here", "FD" },
    { "user-net", 0, 0, G_OPTION_ARG_STRING, &opt->user_net,
      "Give the sandbox's network namespace this stack", "pasta|slirp4netns" },
    { "user-net-program", 0, 0, G_OPTION_ARG_FILENAME, &opt->user_net_program,
      "The stack's program", "PATH" },
    { "review-mount", 0, 0, G_OPTION_ARG_FILENAME, &opt->review_mount,
      "Mount the review overlay with this helper", "PATH" },
    { "review-target", 0, 0, G_OPTION_ARG_FILENAME, &opt->review_target,
      "Where the review overlay goes (the project's path)", "PATH" },
    { "private-display", 0, 0, G_OPTION_ARG_FILENAME, &opt->display_dir,
      "Run the sandbox's headless compositor in this folder", "DIR" },
    { "compositor", 0, 0, G_OPTION_ARG_FILENAME, &opt->compositor,
      "The compositor's program (weston)", "PATH" },
    { "compositor-seccomp", 0, 0, G_OPTION_ARG_INT, &opt->compositor_seccomp,
      "The sandbox's seccomp filter, for the compositor", "FD" },
    { "compositor-init", 0, 0, G_OPTION_ARG_FILENAME, &opt->compositor_init,
      "claude-sandbox-init, to start the compositor", "PATH" },
    { "compositor-landlock", 0, 0, G_OPTION_ARG_NONE, &opt->compositor_landlock,
      "Scope the compositor with Landlock", NULL },
    { "compositor-x11", 0, 0, G_OPTION_ARG_NONE, &opt->compositor_x11,
      "Give the compositor X11 (Xwayland)", NULL },
    { "compositor-bwrap", 0, 0, G_OPTION_ARG_FILENAME, &opt->compositor_bwrap,
      "The bwrap it runs in", "PATH" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  char **opt_argv = argv;
  int dash = -1;

  for (int i = 1; i < argc; i++)
    if (g_str_equal (argv[i], "--"))
      {
        dash = i;
        break;
      }
  if (dash < 0 || dash + 1 >= argc)
    {
      g_printerr ("usage: claude-sandbox-monitor OPTIONS -- BWRAP ARGS…\n");
      return FALSE;
    }
  opt->bwrap_args = argv + dash + 1;
  context = g_option_context_new ("-- BWRAP ARGS…");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &dash, &opt_argv, &error) ||
      opt->socket_name == NULL || opt->socket_dir_fd < 0 || opt->status_path == NULL ||
      strchr (opt->socket_name, '/') != NULL)
    {
      g_printerr ("claude-sandbox-monitor: %s\n",
                  error ? error->message
                        : "--socket NAME, --socket-dir-fd and --status are required");
      return FALSE;
    }
  return check_options (self);
}

/* Out of the service's session and process group: its end is not ours. Orphans
 * of the sandbox come to us, not to an init that may not reap them. */
static void
become_subreaper (Monitor *self)
{
  setsid ();
  prctl (PR_SET_CHILD_SUBREAPER, 1);
  signal (SIGPIPE, SIG_IGN);
  self->loop = g_main_loop_new (NULL, FALSE);
  self->terminated = g_hash_table_new (NULL, NULL);
  self->watchers = g_ptr_array_new_with_free_func (g_object_unref);
  self->sources = g_array_new (FALSE, FALSE, sizeof (int));
  self->targets = g_array_new (FALSE, FALSE, sizeof (int));
}

/* The sandbox's 0, 1 and 2: a pty of ours (its output logged), or the fds given with
 * --stdio; and the fds bwrap gets (--keep-fd) or we hold (--hold-fd). */
static gboolean
set_up_stdio (Monitor *self,
              GError **error)
{
  if (self->opt.pty)
    {
      int master, slave;

      if (!csb_pty_open (&master, &slave, error) ||
          (self->terminal = csb_terminal_new (master, self->opt.log_path, error)) == NULL)
        return FALSE;
      if (self->opt.log_max > 0)
        csb_terminal_set_log_max (self->terminal, self->opt.log_max);
      self->stdio[0] = slave;
      self->stdio[1] = slave;
      self->stdio[2] = slave;
    }
  else if (self->opt.stdio_spec != NULL)
    {
      g_auto(GStrv) fds = g_strsplit (self->opt.stdio_spec, ",", 3);

      for (guint i = 0; i < 3 && fds[i] != NULL; i++)
        self->stdio[i] = atoi (fds[i]);
    }

  /* Held, never read: whoever has the other end (a compositor's listener for the
   * sandbox) sees it hang up when we exit, which is when the sandbox ends. */
  for (guint i = 0; self->opt.hold_fds != NULL && self->opt.hold_fds[i] != NULL; i++)
    fcntl (atoi (self->opt.hold_fds[i]), F_SETFD, FD_CLOEXEC);

  for (guint i = 0; self->opt.keep_fds != NULL && self->opt.keep_fds[i] != NULL; i++)
    {
      int fd = atoi (self->opt.keep_fds[i]);

      g_array_append_val (self->sources, fd);
      g_array_append_val (self->targets, fd);
      if (fd >= self->json_target)
        self->json_target = fd + 1;
    }
  return TRUE;
}

/* The cgroups bwrap joins as it starts (child_setup), opened while we can say why not. */
static gboolean
open_cgroups (Monitor *self,
              GError **error)
{
  for (guint i = 0; self->opt.cgroups != NULL && self->opt.cgroups[i] != NULL; i++)
    {
      g_autofree char *procs = g_build_filename (self->opt.cgroups[i], "cgroup.procs", NULL);

      if (i >= G_N_ELEMENTS (self->cgroup_fds) ||
          (self->cgroup_fds[i] = open (procs, O_WRONLY | O_CLOEXEC)) < 0)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                       "cannot join cgroup %s: %s", self->opt.cgroups[i], g_strerror (errno));
          return FALSE;
        }
    }
  csb_trace ("monitor: cgroups opened");
  return TRUE;
}

/* The private display, if any: before bwrap, which binds its socket. */
static gboolean
start_private_display (Monitor *self,
                       GError **error)
{
  if (self->opt.compositor_seccomp >= 0)
    fcntl (self->opt.compositor_seccomp, F_SETFD, FD_CLOEXEC);  /* the compositor's alone */
  if (self->opt.display_dir != NULL && !start_compositor (self, error))
    {
      stop_compositor (self);
      g_prefix_error (error, "cannot start the private display: ");
      return FALSE;
    }
  return TRUE;
}

/* bwrap's status pipe, and its block pipe if the command waits for us. */
static gboolean
open_bwrap_pipes (Monitor *self,
                  GError **error)
{
  if (!g_unix_open_pipe (self->json_pipe, FD_CLOEXEC, error))
    return FALSE;
  g_array_append_val (self->sources, self->json_pipe[1]);
  g_array_append_val (self->targets, self->json_target);
  if (self->block || self->opt.wait_fd >= 0)
    {
      int block_target = self->json_target + 1;

      if (!g_unix_open_pipe (self->block_pipe, FD_CLOEXEC, error))
        return FALSE;
      g_array_append_val (self->sources, self->block_pipe[0]);
      g_array_append_val (self->targets, block_target);
    }
  return TRUE;
}

/* bwrap's command line: the one we were given, with our pipes. */
static GPtrArray *
bwrap_argv (Monitor *self)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup (self->opt.bwrap_args[0]));
  /* The sandbox ends with its monitor: no one else holds its terminal or learns its
   * exit, and a bwrap left behind (a program that ignores hang-up) runs unaccounted. */
  g_ptr_array_add (argv, g_strdup ("--die-with-parent"));
  g_ptr_array_add (argv, g_strdup ("--json-status-fd"));
  g_ptr_array_add (argv, g_strdup_printf ("%d", self->json_target));
  if (self->block || self->opt.wait_fd >= 0)
    {
      /* The command waits until its network is up, its review overlay mounted and its
       * bus listens. */
      g_ptr_array_add (argv, g_strdup ("--block-fd"));
      g_ptr_array_add (argv, g_strdup_printf ("%d", self->json_target + 1));
    }
  for (int i = 1; self->opt.bwrap_args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (self->opt.bwrap_args[i]));
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* bwrap spawned now, its child joining the cgroups and namespaces in child_setup. */
static gboolean
spawn_bwrap_here (Monitor   *self,
                  GPtrArray *argv,
                  GError   **error)
{
  return g_spawn_async_with_pipes_and_fds (NULL, (const char * const *) argv->pdata,
                                           (const char * const[]) { NULL },
                                           G_SPAWN_DO_NOT_REAP_CHILD, child_setup, self,
                                           self->stdio[0], self->stdio[1], self->stdio[2],
                                           (const int *) self->sources->data,
                                           (const int *) self->targets->data,
                                           self->sources->len, &self->bwrap_pid, NULL, NULL,
                                           NULL, error);
}

/* A spare's bwrap process (spare_fork_bwrap) runs bwrap with @argv: what child_setup
 * does is done there (the cgroups joined ahead), and it gets our stdio, or the
 * sandbox's, at 0-2 and the fds bwrap takes at their numbers. */
static gboolean
run_pre_bwrap (Monitor   *self,
               GPtrArray *argv,
               GError   **error)
{
  const char *mode = self->opt.user_net == NULL ? "none"
                     : self->ahead_userns >= 0 ? "enter" : "unshare";
  g_autoptr(GByteArray) data = g_byte_array_new ();
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GArray) sources = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr(GArray) targets = g_array_new (FALSE, FALSE, sizeof (int));
  int err = 0;
  ssize_t n;

  g_byte_array_append (data, (const guint8 *) mode, strlen (mode) + 1);
  for (guint i = 0; i < argv->len && argv->pdata[i] != NULL; i++)
    g_byte_array_append (data, argv->pdata[i], strlen (argv->pdata[i]) + 1);
  bytes = g_byte_array_free_to_bytes (g_steal_pointer (&data));
  for (int i = 0; i < 3; i++)
    {
      int source = self->stdio[i] >= 0 ? self->stdio[i] : i;

      g_array_append_val (sources, source);
      g_array_append_val (targets, i);
    }
  g_array_append_vals (sources, self->sources->data, self->sources->len);
  g_array_append_vals (targets, self->targets->data, self->targets->len);
  if (!csb_spare_job_send (self->pre_socket, bytes, (const int *) sources->data,
                           (const int *) targets->data, sources->len, error))
    return FALSE;
  csb_trace ("monitor: bwrap's command line sent to the process made ahead");
  /* It says it has them (a process that died before has not: bwrap is spawned here
   * after all), then its end closes as it runs bwrap (close-on-exec), or it says errno. */
  if (!csb_spare_job_read_ack (self->pre_socket))
    {
      g_printerr ("claude-sandbox-monitor: the bwrap process made ahead is gone\n");
      clear_fd (&self->pre_socket);
      waitpid (self->pre_pid, NULL, 0);
      self->pre_pid = 0;
      return spawn_bwrap_here (self, argv, error);
    }
  do
    n = read (self->pre_socket, &err, sizeof err);
  while (n < 0 && errno == EINTR);
  clear_fd (&self->pre_socket);
  if (n != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s",
                   n == sizeof err ? g_strerror (err) : "its process made ahead failed");
      kill (self->pre_pid, SIGKILL);
      waitpid (self->pre_pid, NULL, 0);
      self->pre_pid = 0;
      return FALSE;
    }
  self->bwrap_pid = self->pre_pid;
  self->pre_pid = 0;
  return TRUE;
}

/* bwrap starts setting the sandbox up; the fds it took are its and the sandbox's. */
static gboolean
spawn_bwrap (Monitor *self,
             GError **error)
{
  g_autoptr(GPtrArray) argv = NULL;

  if (!open_bwrap_pipes (self, error))
    return FALSE;
  argv = bwrap_argv (self);
  /* The proxy's pipe goes to bwrap (--sync-fd) with the other fds we pass on and
   * close; we read its ready byte from a copy of our own. */
  if (self->opt.wait_fd >= 0 &&
      (self->opt.wait_fd = fcntl (self->opt.wait_fd, F_DUPFD_CLOEXEC, 3)) < 0)
    {
      g_set_error_literal (error, G_IO_ERROR, g_io_error_from_errno (errno),
                           g_strerror (errno));
      return FALSE;
    }
  if (self->pre_pid > 0 ? !run_pre_bwrap (self, argv, error)
                        : !spawn_bwrap_here (self, argv, error))
    {
      g_prefix_error (error, "cannot start bwrap: ");
      return FALSE;
    }
  csb_trace ("monitor: bwrap spawned");
  /* A bwrap that failed at once has no namespace left: it says why later, as ever. */
  if (self->opt.user_net != NULL && self->ahead_pid > 0)
    {
      self->user_net_pid = self->ahead_pid;
      self->user_net_ready = g_steal_fd (&self->ahead_ready);
      self->ahead_pid = 0;
      csb_trace ("monitor: network made ahead");
    }
  else if (self->opt.user_net != NULL)
    self->user_net_pid = csb_user_net_spawn (self->opt.user_net_kind,
                                             self->opt.user_net_program, self->bwrap_pid,
                                             &self->user_net_ready, &self->user_net_error);
  /* bwrap's child has joined them, if it was to. */
  clear_fd (&self->ahead_userns);
  clear_fd (&self->ahead_netns);
  /* Only bwrap and the sandbox hold these now. */
  for (guint i = 0; i < self->sources->len; i++)
    close (g_array_index (self->sources, int, i));
  if (self->opt.pty)
    close (self->stdio[0]);
  else
    for (guint i = 0; i < 3; i++)
      if (self->stdio[i] >= 0)
        close (self->stdio[i]);
  return TRUE;
}

/* The control socket, while bwrap sets the sandbox up: GIO's first socket costs
 * milliseconds, and the service connects only once it hears from --ready-fd.
 * Bound through the folder the service opened and checked (0700, ours, reached
 * without links): a folder swapped meanwhile cannot move the socket elsewhere.
 * FALSE, and bwrap ended, if it cannot be. */
static gboolean
listen_control_socket (Monitor *self,
                       GError **error)
{
  g_autofree char *socket_path = g_strdup_printf ("/proc/self/fd/%d/%s", self->opt.socket_dir_fd,
                                                  self->opt.socket_name);
  g_autoptr(GSocketAddress) address = NULL;

  unlinkat (self->opt.socket_dir_fd, self->opt.socket_name, 0);
  self->service = g_socket_service_new ();
  address = g_unix_socket_address_new (socket_path);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL,
                                      NULL, error))
    {
      kill (self->bwrap_pid, SIGKILL);
      waitpid (self->bwrap_pid, NULL, 0);
      stop_compositor (self);
      return FALSE;
    }
  g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);
  g_socket_service_start (self->service);
  csb_trace ("monitor: listening");
  return TRUE;
}

/* bwrap has cloned the sandbox: its review overlay and network go in, or, for
 * portals, its pid is said before anything inside can call one. */
static gboolean
prepare_sandbox (Monitor *self,
                 GError **error)
{
  self->json_reader = g_data_input_stream_new (g_unix_input_stream_new (self->json_pipe[0],
                                                                        TRUE));
  if (self->block)
    {
      int block_fd = self->opt.wait_fd >= 0 ? -1 : self->block_pipe[1];

      if (!start_user_net (self, self->opt.user_net != NULL ? self->opt.user_net_program : NULL,
                           block_fd, error))
        {
          g_prefix_error (error, "cannot set up the sandbox's %s: ",
                          self->opt.review_mount != NULL ? "review overlay or network"
                                                     : "network");
          return FALSE;
        }
    }
  else if (self->opt.bwrapinfo_path != NULL)
    {
      /* bwrap says the pid as soon as it has cloned, before it sets up and runs the
       * command. */
      g_autofree char *line = g_data_input_stream_read_line_utf8 (self->json_reader, NULL,
                                                                  NULL, NULL);

      if (line != NULL)
        handle_json_line (self, line);
    }
  return TRUE;
}

/* bwrap has been setting the sandbox up meanwhile; the command goes once the proxy
 * listens. FALSE, with bwrap and the network stack ended, if it never did. */
static gboolean
let_command_go (Monitor *self)
{
  csb_trace ("monitor: waits for the proxy");
  if (self->opt.wait_fd >= 0 &&
      (!wait_for_proxy (self->opt.wait_fd) || write (self->block_pipe[1], "x", 1) != 1))
    {
      g_printerr ("claude-sandbox-monitor: the D-Bus proxy did not get ready\n");
      kill (self->bwrap_pid, SIGKILL);
      waitpid (self->bwrap_pid, NULL, 0);
      if (self->user_net_pid > 0)
        kill (self->user_net_pid, SIGTERM);
      if (self->opt.ready_fd >= 0)
        (void) !write (self->opt.ready_fd, "P", 1);
      return FALSE;
    }
  csb_trace ("monitor: command let go");
  if (self->block_pipe[1] >= 0)
    close (self->block_pipe[1]);
  if (self->opt.wait_fd >= 0)
    close (self->opt.wait_fd);
  return TRUE;
}

/* The sandbox runs: the service hears that it started, and we serve it until it has
 * ended and its output is drained. */
static void
run (Monitor *self)
{
  read_json_line (self);
  g_child_watch_add (self->bwrap_pid, on_bwrap_exited, self);
  write_status (self);

  if (self->opt.ready_fd >= 0)
    {
      (void) !write (self->opt.ready_fd, "x", 1);
      close (self->opt.ready_fd);
    }

  g_main_loop_run (self->loop);
}

/* The sandbox is gone (its pid namespace went with bwrap, and we reaped the rest):
 * its cgroups are empty, and nothing is left to reach it by. */
static void
clean_up (Monitor *self)
{
  for (guint i = 0; i < G_N_ELEMENTS (self->cgroup_fds); i++)
    if (self->cgroup_fds[i] >= 0)
      close (self->cgroup_fds[i]);
  for (guint i = 0; self->opt.cgroups != NULL && self->opt.cgroups[i] != NULL; i++)
    rmdir (self->opt.cgroups[i]);

  unlinkat (self->opt.socket_dir_fd, self->opt.socket_name, 0);
  stop_compositor (self);
  if (self->opt.bwrapinfo_path != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (self->opt.bwrapinfo_path);

      unlink (self->opt.bwrapinfo_path);
      rmdir (dir);
    }
  g_clear_object (&self->terminal);
}

/* ---- a spare: started ahead of its launch (service/csb-monitor-spare.c) ------------- */

#define SPARE_FD 3
#define SPARE_NAME "csb-spare"

/* The network made ahead, ended: the launch did not want it (or it died). Not waited
 * for here, on the launch's way: as a subreaper we reap it with the sandbox's orphans. */
static void
drop_ahead (Monitor *self)
{
  if (self->ahead_pid > 0)
    {
      kill (self->ahead_pid, SIGKILL);
      self->ahead_pid = 0;
    }
  clear_fd (&self->ahead_ready);
  clear_fd (&self->ahead_userns);
  clear_fd (&self->ahead_netns);
}

/* With --user-net KIND and --user-net-program PATH: the sandbox's namespaces and its
 * stack, made now, so that a launch with the network on need not wait for them. A
 * failure is only said: the launch then makes its own. */
static void
make_ahead (Monitor    *self,
            const char *kind,
            const char *program)
{
  g_autoptr(GError) error = NULL;

  if (kind == NULL || program == NULL || !csb_user_net_kind_from_name (kind, &self->ahead_kind))
    return;
  self->ahead_program = g_strdup (program);
  if (!csb_user_net_make_ahead (&self->ahead_userns, &self->ahead_netns, &error) ||
      (self->ahead_pid = csb_user_net_spawn_on (self->ahead_kind, self->ahead_program,
                                                self->ahead_netns, self->ahead_userns,
                                                &self->ahead_ready, &error)) == 0)
    {
      g_printerr ("claude-sandbox-monitor: spare: %s\n", error->message);
      drop_ahead (self);
    }
}

/* In the spare's bwrap process: joins the sandbox's cgroups now (the kernel's wait for a
 * first move, milliseconds, is paid here and not by the launch), then waits for bwrap's
 * command line and fds and runs it; says errno on @socket_fd if it cannot. */
static void G_GNUC_NORETURN
pre_bwrap_main (Monitor *self,
                int      socket_fd)
{
  int *keep[] = { &socket_fd, &self->ahead_userns, &self->ahead_netns, NULL };
  g_auto(GStrv) job = NULL;
  int err;

  for (guint i = 0; self->pre_cgroups[i] != NULL; i++)
    {
      g_autofree char *procs = g_build_filename (self->pre_cgroups[i], "cgroup.procs", NULL);
      int fd = open (procs, O_WRONLY | O_CLOEXEC);

      if (fd < 0 || write (fd, "0", 1) != 1)
        _exit (125);
      close (fd);
    }
  csb_trace ("monitor: spare's bwrap process in the sandbox's cgroups");
  job = csb_spare_job_receive (socket_fd, keep, 0, NULL, NULL);
  if (job == NULL || job[0] == NULL || job[1] == NULL || !csb_spare_job_ack (socket_fd))
    _exit (125);
  setsid ();
  reset_signals ();
  if ((g_str_equal (job[0], "enter") &&
       csb_user_net_enter (self->ahead_userns, self->ahead_netns) != 0) ||
      (g_str_equal (job[0], "unshare") && csb_user_net_unshare () != 0))
    {
      err = errno;
      (void) !write (socket_fd, &err, sizeof err);
      _exit (125);
    }
  execve (job[1], job + 1, (char *[]) { NULL });
  err = errno;
  (void) !write (socket_fd, &err, sizeof err);
  _exit (127);
}

/* With --cgroup DIR…: the launch's bwrap process, forked now into the cgroups the
 * service made for the sandbox this spare is reserved for. Without it (or if it
 * fails) bwrap is spawned at the launch and joins them then. */
static void
spare_fork_bwrap (Monitor *self,
                  int      service_fd)
{
  int pair[2];
  pid_t pid, parent = getpid ();

  if (self->pre_cgroups == NULL || self->pre_cgroups[0] == NULL ||
      socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return;
  pid = fork ();
  if (pid == 0)
    {
      /* Only the spare holds the service's socket: its end must show when the
       * service is gone. */
      close (service_fd);
      close (pair[0]);
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      if (getppid () != parent)
        _exit (1);
      pre_bwrap_main (self, pair[1]);
    }
  close (pair[1]);
  if (pid < 0)
    {
      close (pair[0]);
      return;
    }
  self->pre_pid = pid;
  self->pre_socket = pair[0];
}

/* A job that starts with "proxy": the sandbox's D-Bus proxy (its bwrap, @argv), our
 * child from now on, with the job's fds at @targets, which are closed here once it has
 * them: its pipe's write end must be the proxy's alone (its end shows the proxy's).
 * It lives until the pipe's read end closes: the service holds it until the launch,
 * then bwrap for as long as the sandbox lives. Ours to reap (on_check_quit). */
static void
spare_start_proxy (char  **argv,
                   GArray *targets)
{
  pid_t pid;

  if (argv[0] != NULL && (pid = fork ()) == 0)
    {
      int null_fd = open ("/dev/null", O_RDONLY);

      reset_signals ();
      if (null_fd < 0 || dup2 (null_fd, STDIN_FILENO) < 0)
        _exit (127);
      execve (argv[0], argv, (char *[]) { NULL });
      _exit (127);
    }
  else if (argv[0] != NULL && pid < 0)
    g_printerr ("claude-sandbox-monitor: spare: cannot start the D-Bus proxy: %s\n",
                g_strerror (errno));
  for (guint i = 0; i < targets->len; i++)
    close (g_array_index (targets, int, i));
  csb_trace ("monitor: spare started the D-Bus proxy");
}

/* Started as "claude-sandbox-monitor --spare [--user-net …]" with the service's end of
 * a socket pair at fd 3: makes the network ahead, then waits for the launch's command
 * line and fds (csb-spare-job.h), starting the sandbox's D-Bus proxy first if a job
 * for it comes. NULL when none comes (the service dropped us). */
static GStrv
spare_wait (Monitor *self,
            int      argc,
            char    *argv[])
{
  g_autoptr(GError) error = NULL;
  int socket_fd = fcntl (SPARE_FD, F_DUPFD_CLOEXEC, SPARE_FD + 1);
  int *keep[] = { &socket_fd, &self->ahead_userns, &self->ahead_netns, &self->ahead_ready,
                  &self->pre_socket, NULL };
  g_autoptr(GStrvBuilder) cgroups = g_strv_builder_new ();
  const char *kind = NULL, *program = NULL;
  GStrv job;

  close (SPARE_FD);
  /* What ps shows until the launch comes: not yet anyone's monitor. */
  prctl (PR_SET_NAME, SPARE_NAME);
  /* As a monitor, the service's end is not ours. */
  setsid ();
  for (int i = 2; i + 1 < argc; i += 2)
    if (g_str_equal (argv[i], "--user-net"))
      kind = argv[i + 1];
    else if (g_str_equal (argv[i], "--user-net-program"))
      program = argv[i + 1];
    else if (g_str_equal (argv[i], "--cgroup"))
      g_strv_builder_add (cgroups, argv[i + 1]);
  self->pre_cgroups = g_strv_builder_end (cgroups);
  make_ahead (self, kind, program);
  /* After the stack: pasta is not the sandbox's, nor counted in its cgroups. */
  spare_fork_bwrap (self, socket_fd);
  csb_trace ("monitor: spare ready");
  for (;;)
    {
      g_autoptr(GArray) targets = NULL;

      job = csb_spare_job_receive (socket_fd, keep, 3, &targets, &error);
      if (job == NULL || g_strcmp0 (job[0], "proxy") != 0)
        break;
      spare_start_proxy (job + 1, targets);
      g_clear_pointer (&job, g_strfreev);
      if (!csb_spare_job_ack (socket_fd))
        break;
    }
  /* The service waits for this before it counts on us (csb-monitor-spare.c). */
  if (job != NULL && !csb_spare_job_ack (socket_fd))
    g_clear_pointer (&job, g_strfreev);
  clear_fd (&socket_fd);
  if (job == NULL)
    {
      if (error != NULL)
        g_printerr ("claude-sandbox-monitor: spare: %s\n", error->message);
      drop_ahead (self);
      return NULL;
    }
  prctl (PR_SET_NAME, "claude-sandbox-monitor");
  csb_trace ("monitor: spare took a launch");
  return job;
}

/* The launch's options known: the network made ahead is kept only if it is the one
 * asked for and its stack still runs. */
static void
check_ahead (Monitor *self)
{
  /* The bwrap process made ahead serves only the cgroups it joined. */
  if (self->pre_pid > 0)
    {
      pid_t ended = waitpid (self->pre_pid, NULL, WNOHANG);

      if (ended != 0 ||
          !g_strv_equal ((const char * const *) self->pre_cgroups,
                         (const char * const *) (self->opt.cgroups ? self->opt.cgroups
                                                                   : (char *[]) { NULL })))
        {
          if (ended == 0)
            kill (self->pre_pid, SIGKILL);
          self->pre_pid = 0;
          clear_fd (&self->pre_socket);
        }
    }
  if (self->ahead_pid == 0)
    return;
  if (waitpid (self->ahead_pid, NULL, WNOHANG) != 0)
    {
      g_printerr ("claude-sandbox-monitor: the network stack made ahead had ended\n");
      self->ahead_pid = 0;
      drop_ahead (self);
    }
  else if (self->opt.user_net == NULL || self->ahead_kind != self->opt.user_net_kind ||
           g_strcmp0 (self->ahead_program, self->opt.user_net_program) != 0)
    drop_ahead (self);
}

int
main (int   argc,
      char *argv[])
{
  g_auto(Monitor) self = MONITOR_INIT;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) job = NULL;

  csb_trace ("monitor: main");
  if (argc >= 2 && g_str_equal (argv[1], "--spare"))
    {
      if ((job = spare_wait (&self, argc, argv)) == NULL)
        return 0;
      argv = job;
      argc = g_strv_length (job);
    }
  if (!parse_options (&self, argc, argv))
    return 125;
  check_ahead (&self);
  csb_trace ("monitor: options parsed");
  become_subreaper (&self);
  if (!set_up_stdio (&self, &error) ||
      !open_cgroups (&self, &error) ||
      !start_private_display (&self, &error) ||
      !spawn_bwrap (&self, &error) ||
      !listen_control_socket (&self, &error) ||
      !prepare_sandbox (&self, &error))
    return start_failed (&self, "%s", error->message);
  if (!let_command_go (&self))
    return 125;
  run (&self);
  clean_up (&self);
  return 0;
}
