/* csb-monitor-spare.c — see csb-monitor-spare.h.
 *
 * The spare is our child. It is reaped here, never by a GLib child watch: it is
 * killed and waited for when dropped (it ends at once: its stack dies with it), and
 * handed over with its pid to the backend, which watches it as a monitor from then on.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "csb-cgroup.h"
#include "csb-dbus-proxy.h"
#include "csb-file.h"
#include "csb-monitor-spare.h"
#include "csb-spare-job.h"
#include "csb-trace.h"

/* The monitor's fd for its end of the socket pair (SPARE_FD in csb-monitor.c). */
#define SPARE_TARGET_FD 3
/* How long after a launch's monitor is ready its successor is started. */
#define REPLENISH_DELAY_MS 100

static GMutex lock;
static struct
{
  GPid     pid;            /* 0: none */
  int      socket_fd;
  char    *monitor;        /* the program it runs */
  char    *id;             /* the sandbox it is for: its cgroups are made */
  gboolean claimed;        /* a launch has that id now */
  guint64  generation;     /* which spare an expiry is for */
  gboolean starting;       /* one replenish at a time */
  /* The D-Bus proxy the spare started for that id: the read end of its ready pipe
   * (closing it ends the proxy), -1 for none; what it was started with. */
  int      proxy_fd;
  char    *proxy_key;
  char    *proxy_socket;
  /* The spare is starting the proxy (settle_proxy): its socket is the replenish
   * thread's until then, and a launch that takes the spare waits (settled). */
  gboolean proxy_pending;
} spare = { 0, -1, NULL, NULL, FALSE, 0, FALSE, -1, NULL, NULL, FALSE };
static GCond settled;

typedef struct _Replenish Replenish;
static void replenish_later (Replenish *r);
static Replenish *replenish_new (const char          *monitor,
                                 const char * const  *envp,
                                 const char          *user_net,
                                 const char          *user_net_program,
                                 GSettings           *settings,
                                 const CsbSpareProxy *proxy);
/* What started the spare with a network made ahead, to start one without in its place
 * when it expires. */
static Replenish *expiring;

static gboolean
spares_enabled (void)
{
  return g_strcmp0 (g_getenv ("CSB_MONITOR_SPARE"), "0") != 0;
}

/* Ends @pid (a spare of ours, not yet reaped) and reaps it. */
static void
kill_spare (GPid pid)
{
  if (pid <= 0)
    return;
  kill (pid, SIGKILL);
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
}

/* Ends a spare taken out of the slot: the process, then (in a thread: it waits for
 * the kernel) the cgroups made for it. */
static void
drop (GPid  pid,
      char *id)
{
  kill_spare (pid);
  if (id != NULL)
    csb_cgroup_remove_sandbox_later (id);
  g_free (id);
}

/* The proxy's socket and folder in sandbox @id's runtime folder, and with @unused that
 * folder too if nothing else is in it; through folders opened without following
 * links, as they were made. */
static void
remove_proxy_folder (const char *id,
                     gboolean    unused)
{
  const char *base = g_get_user_runtime_dir ();
  g_autofree char *sandbox = g_build_filename ("claude-sandbox", id, NULL);
  g_autofree char *folder = g_build_filename (sandbox, CSB_MONITOR_SPARE_PROXY_DIR, NULL);
  int fd;

  if ((fd = csb_file_open_private_dir (base, folder, FALSE, NULL)) >= 0)
    {
      unlinkat (fd, "bus", 0);
      close (fd);
    }
  if ((fd = csb_file_open_private_dir (base, sandbox, FALSE, NULL)) >= 0)
    {
      unlinkat (fd, CSB_MONITOR_SPARE_PROXY_DIR, AT_REMOVEDIR);
      close (fd);
    }
  if (unused && (fd = csb_file_open_private_dir (base, "claude-sandbox", FALSE, NULL)) >= 0)
    {
      unlinkat (fd, id, AT_REMOVEDIR);
      close (fd);
    }
}

/* The proxy made ahead ended (lock held): its pipe closed, which it exits on (its
 * parent, the spare or the monitor it became, or init reaps it), and its socket and
 * folder removed; with @unused, the sandbox's runtime folder too if nothing else is
 * in it (no launch came for that id). */
static void
end_proxy (gboolean unused)
{
  if (spare.proxy_fd < 0)
    return;
  close (spare.proxy_fd);
  spare.proxy_fd = -1;
  remove_proxy_folder (spare.id, unused);
  g_clear_pointer (&spare.proxy_key, g_free);
  g_clear_pointer (&spare.proxy_socket, g_free);
}

/* Empties the slot (lock held); what was in it is the caller's to drop. */
static void
clear_slot (GPid  *out_pid,
            char **out_id)
{
  end_proxy (!spare.claimed);
  /* Its runtime folder, made for the proxy, if no launch has that id. */
  if (!spare.claimed && spare.id != NULL)
    remove_proxy_folder (spare.id, TRUE);
  spare.proxy_pending = FALSE;
  g_cond_broadcast (&settled);
  *out_pid = spare.pid;
  *out_id = g_steal_pointer (&spare.id);
  if (spare.socket_fd >= 0)
    close (spare.socket_fd);
  spare.pid = 0;
  spare.socket_fd = -1;
  spare.claimed = FALSE;
  g_clear_pointer (&spare.monitor, g_free);
}

/* What a proxy was started with: a launch takes it only if it would start the same. */
static char *
proxy_key (const CsbSpareProxy *proxy)
{
  g_autofree char *talk = g_strjoinv ("\n", (char **) (proxy->talk ? proxy->talk
                                                                    : (const char * const[]) { NULL }));

  return g_strdup_printf ("%s\n%d\n%s", proxy->bus_address, proxy->network ? 1 : 0, talk);
}

char *
csb_monitor_spare_claim_id (GHashTable *taken)
{
  char *id = NULL;
  char *dead_id = NULL;
  GPid dead = 0;

  g_mutex_lock (&lock);
  /* One that died meanwhile (killed from outside) is reaped here and not claimed: the
   * launch then starts its own monitor as if there were none. */
  if (spare.pid > 0 && !spare.claimed && waitpid (spare.pid, NULL, WNOHANG) != 0)
    {
      clear_slot (&dead, &dead_id);
      dead = 0;
    }
  else if (spare.pid > 0 && !spare.claimed && !g_hash_table_contains (taken, spare.id))
    {
      spare.claimed = TRUE;
      id = g_strdup (spare.id);
    }
  g_mutex_unlock (&lock);
  if (dead_id != NULL)
    drop (0, dead_id);
  return id;
}

gboolean
csb_monitor_spare_claimed_by (const char *id)
{
  gboolean claimed;

  g_mutex_lock (&lock);
  claimed = spare.pid > 0 && spare.claimed && g_strcmp0 (spare.id, id) == 0;
  g_mutex_unlock (&lock);
  return claimed;
}

void
csb_monitor_spare_release (const char *id)
{
  GPid pid = 0;
  char *spare_id = NULL;

  g_mutex_lock (&lock);
  if (spare.pid > 0 && spare.claimed && g_strcmp0 (spare.id, id) == 0)
    clear_slot (&pid, &spare_id);
  g_mutex_unlock (&lock);
  if (pid > 0)
    drop (pid, spare_id);
}

/* Until the spare's proxy is started, or not (lock held): the socket is the replenish
 * thread's meanwhile, which gives up on the spare after PROXY_ACK_TIMEOUT_MS. */
static void
wait_settled (void)
{
  while (spare.proxy_pending)
    g_cond_wait (&settled, &lock);
}

gboolean
csb_monitor_spare_take_proxy (const char          *id,
                              const CsbSpareProxy *proxy,
                              int                 *out_sync_fd,
                              char               **out_socket_path)
{
  g_autofree char *key = proxy_key (proxy);
  gboolean taken = FALSE;

  g_mutex_lock (&lock);
  wait_settled ();
  if (spare.pid > 0 && spare.claimed && g_strcmp0 (spare.id, id) == 0 && spare.proxy_fd >= 0)
    {
      if (g_strcmp0 (spare.proxy_key, key) == 0)
        {
          *out_sync_fd = spare.proxy_fd;
          *out_socket_path = g_steal_pointer (&spare.proxy_socket);
          spare.proxy_fd = -1;
          g_clear_pointer (&spare.proxy_key, g_free);
          taken = TRUE;
        }
      else
        end_proxy (FALSE);
    }
  g_mutex_unlock (&lock);
  return taken;
}

/* Takes the spare claimed for sandbox @id, if it runs @monitor: its pid and socket
 * are the caller's. */
static gboolean
take (const char *monitor,
      const char *id,
      GPid       *out_pid,
      int        *out_socket)
{
  gboolean taken = FALSE;

  g_mutex_lock (&lock);
  wait_settled ();
  if (spare.pid > 0 && spare.claimed && g_strcmp0 (spare.id, id) == 0 &&
      g_strcmp0 (spare.monitor, monitor) == 0)
    {
      *out_pid = spare.pid;
      *out_socket = spare.socket_fd;
      end_proxy (FALSE);
      spare.pid = 0;
      spare.socket_fd = -1;
      spare.claimed = FALSE;
      g_clear_pointer (&spare.monitor, g_free);
      g_clear_pointer (&spare.id, g_free);
      taken = TRUE;
    }
  g_mutex_unlock (&lock);
  return taken;
}

gboolean
csb_monitor_spare_spawn (CsbArgv             *outer,
                         const char * const  *envp,
                         const char          *id,
                         GPid                *out_pid,
                         GError             **error)
{
  const char * const *argv = csb_argv_finish (outer);
  GPid pid = 0;
  int socket_fd = -1;

  if (outer->source_fds->len <= CSB_SPARE_JOB_MAX_FDS && take (argv[0], id, &pid, &socket_fd))
    {
      g_autoptr(GError) local_error = NULL;
      g_autoptr(GBytes) data = csb_argv_to_nul_data (outer);
      gboolean sent = csb_spare_job_send (socket_fd, data,
                                          (const int *) outer->source_fds->data,
                                          (const int *) outer->target_fds->data,
                                          outer->source_fds->len, &local_error);

      /* Sent, and taken: a spare that died meanwhile never says so (its end closes),
       * and the fds it would have had are ours still. */
      if (sent && csb_spare_job_read_ack (socket_fd))
        {
          close (socket_fd);
          csb_trace ("spawn: monitor taken from the spare");
          *out_pid = pid;
          return TRUE;
        }
      /* It died meanwhile (killed from outside): a monitor of our own after all. */
      g_debug ("the spare monitor could not take the launch: %s",
               sent ? "it ended before it took it" : local_error->message);
      close (socket_fd);
      kill_spare (pid);
      argv = csb_argv_finish (outer);
    }
  return g_spawn_async_with_pipes_and_fds (NULL, argv, envp,
                                           G_SPAWN_DO_NOT_REAP_CHILD |
                                           G_SPAWN_STDIN_FROM_DEV_NULL |
                                           G_SPAWN_STDOUT_TO_DEV_NULL,
                                           NULL, NULL, -1, -1, -1,
                                           (const int *) outer->source_fds->data,
                                           (const int *) outer->target_fds->data,
                                           outer->source_fds->len, out_pid, NULL, NULL, NULL,
                                           error);
}

/* In the main context: the spare of @data's generation (one with a network made
 * ahead: the host's network may have changed since), if still unused, is dropped
 * (claimed by a launch that never came to spawn it, too), and one without a network
 * starts in its place. */
static gboolean
on_expired (gpointer data)
{
  guint64 generation = *(guint64 *) data;
  Replenish *next = NULL;
  GPid pid = 0;
  char *id = NULL;

  g_mutex_lock (&lock);
  if (spare.pid > 0 && spare.generation == generation)
    {
      clear_slot (&pid, &id);
      next = g_steal_pointer (&expiring);
    }
  g_mutex_unlock (&lock);
  if (pid > 0)
    drop (pid, id);
  if (next != NULL)
    replenish_later (next);
  return G_SOURCE_REMOVE;
}

/* What a replenish starts, once the launch that asked for it is under way. */
struct _Replenish
{
  char      *monitor;
  GStrv      envp;
  char      *user_net;
  char      *user_net_program;
  GSettings *settings;
  char      *bus_address;      /* NULL: no proxy made ahead */
  GStrv      talk;
  gboolean   network;
  char      *id;
  GStrv      cgroups;
};

static void
replenish_free (gpointer data)
{
  Replenish *r = data;

  g_free (r->monitor);
  g_strfreev (r->envp);
  g_free (r->user_net);
  g_free (r->user_net_program);
  g_clear_object (&r->settings);
  g_free (r->bus_address);
  g_strfreev (r->talk);
  g_free (r->id);
  g_strfreev (r->cgroups);
  g_free (r);
}

/* The spare with its socket at SPARE_TARGET_FD, through posix_spawn: vfork-like, so the
 * service's memory is not copied (a fork of a threaded service stalls its other
 * threads' page faults for a millisecond or more), every other fd closed. */
static gboolean
spawn_spare (Replenish *r,
             int        socket_fd,
             GPid      *out_pid,
             GError   **error)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  sigset_t none, all;
  pid_t pid;
  int err;

  g_ptr_array_add (argv, r->monitor);
  g_ptr_array_add (argv, "--spare");
  if (r->user_net != NULL && r->user_net_program != NULL)
    {
      g_ptr_array_add (argv, "--user-net");
      g_ptr_array_add (argv, r->user_net);
      g_ptr_array_add (argv, "--user-net-program");
      g_ptr_array_add (argv, r->user_net_program);
    }
  for (guint i = 0; r->cgroups != NULL && r->cgroups[i] != NULL; i++)
    {
      g_ptr_array_add (argv, "--cgroup");
      g_ptr_array_add (argv, r->cgroups[i]);
    }
  g_ptr_array_add (argv, NULL);
  sigemptyset (&none);
  sigfillset (&all);
  posix_spawn_file_actions_init (&actions);
  posix_spawnattr_init (&attr);
  posix_spawn_file_actions_addopen (&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen (&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2 (&actions, socket_fd, SPARE_TARGET_FD);
  posix_spawn_file_actions_addclosefrom_np (&actions, SPARE_TARGET_FD + 1);
  posix_spawnattr_setsigmask (&attr, &none);
  posix_spawnattr_setsigdefault (&attr, &all);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  err = posix_spawn (&pid, r->monitor, &actions, &attr, (char * const *) argv->pdata, r->envp);
  posix_spawn_file_actions_destroy (&actions);
  posix_spawnattr_destroy (&attr);
  if (err != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "cannot start %s: %s",
                   r->monitor, g_strerror (err));
      return FALSE;
    }
  *out_pid = pid;
  return TRUE;
}

/* How long the spare may take to start the proxy: it is ready to once it has made the
 * network ahead (pasta's start). */
#define PROXY_ACK_TIMEOUT_MS 10000

/* The spare's acknowledgement of a job, within PROXY_ACK_TIMEOUT_MS. */
static gboolean
read_ack_within (int socket_fd)
{
  struct pollfd pfd = { socket_fd, POLLIN, 0 };
  int r;

  do
    r = poll (&pfd, 1, PROXY_ACK_TIMEOUT_MS);
  while (r < 0 && errno == EINTR);
  return r > 0 && csb_spare_job_read_ack (socket_fd);
}

/* The sandbox's D-Bus proxy, started by the spare on @socket_fd as its child
 * (csb-spare-job.h), listening in the sandbox's runtime folder: the read end of its
 * pipe, or -1 (no proxy made ahead: the launch starts its own). *@out_spare_lost when
 * the spare died or did not answer: it cannot serve a launch either. */
static int
start_proxy (Replenish  *r,
             int         socket_fd,
             char      **out_socket_path,
             gboolean   *out_spare_lost)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *relative = NULL;
  g_autofree char *socket_path = NULL;
  g_autofree char *instance = NULL;
  g_autoptr(CsbArgv) outer = NULL;
  g_autoptr(GBytes) args = NULL;
  g_autoptr(GBytes) job = NULL;
  GByteArray *data;
  int sync_fd = -1, dir_fd;

  if (r->bus_address == NULL)
    return -1;
  /* As the sandbox's own runtime folder is made: no link followed on the way. */
  relative = g_build_filename ("claude-sandbox", r->id, CSB_MONITOR_SPARE_PROXY_DIR, NULL);
  if ((dir_fd = csb_file_open_private_dir (g_get_user_runtime_dir (), relative, TRUE,
                                           &error)) < 0)
    {
      g_message ("no D-Bus proxy made ahead: %s", error->message);
      return -1;
    }
  close (dir_fd);
  socket_path = g_build_filename (g_get_user_runtime_dir (), relative, "bus", NULL);
  instance = csb_dbus_proxy_instance_id (r->id);
  if ((outer = csb_dbus_proxy_command (r->bus_address, socket_path,
                                       (const char * const *) r->talk, instance, r->network,
                                       &sync_fd, &error)) == NULL)
    goto fail;
  args = csb_argv_to_nul_data (outer);
  data = g_byte_array_new ();
  g_byte_array_append (data, (const guint8 *) "proxy", sizeof "proxy");
  g_byte_array_append (data, g_bytes_get_data (args, NULL), g_bytes_get_size (args));
  job = g_byte_array_free_to_bytes (data);
  /* From here on, a spare that fails us is lost: its acknowledgement, late, would be
   * taken for the launch's. */
  *out_spare_lost = TRUE;
  if (!csb_spare_job_send (socket_fd, job, (const int *) outer->source_fds->data,
                           (const int *) outer->target_fds->data, outer->source_fds->len,
                           &error))
    goto fail;
  /* Its end of the pipe is the spare's (and then the proxy's) alone. */
  g_clear_pointer (&outer, csb_argv_free);
  if (!read_ack_within (socket_fd))
    {
      g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE,
                           "the spare ended or did not answer");
      goto fail;
    }
  *out_spare_lost = FALSE;
  *out_socket_path = g_steal_pointer (&socket_path);
  return sync_fd;

fail:
  g_message ("no D-Bus proxy made ahead: %s", error->message);
  if (sync_fd >= 0)
    close (sync_fd);
  /* Not the runtime folder: a launch may have claimed the id by now. */
  remove_proxy_folder (r->id, FALSE);
  return -1;
}

/* The spare's proxy started (on @handshake_fd, then closed) and filed with the spare
 * (@pid, of @generation) if that is still in the slot; a launch waiting for it goes on.
 * A spare that died or did not answer is ended: dropped here if unclaimed, else only
 * killed (the launch that claimed it finds it gone, reaps it and starts its own). */
static void
settle_proxy (Replenish *r,
              GPid       pid,
              guint64    generation,
              int        handshake_fd)
{
  g_autofree char *socket_path = NULL;
  char *drop_id = NULL;
  GPid drop_pid = 0;
  gboolean lost = FALSE;
  int fd = start_proxy (r, handshake_fd, &socket_path, &lost);

  close (handshake_fd);
  g_mutex_lock (&lock);
  if (spare.pid == pid && spare.generation == generation && spare.proxy_pending)
    {
      spare.proxy_pending = FALSE;
      if (fd >= 0)
        {
          spare.proxy_fd = g_steal_fd (&fd);
          spare.proxy_socket = g_steal_pointer (&socket_path);
          spare.proxy_key = proxy_key (&(CsbSpareProxy) { r->bus_address,
                                                          (const char * const *) r->talk,
                                                          r->network });
        }
      if (lost)
        {
          kill (pid, SIGKILL);
          if (!spare.claimed)
            clear_slot (&drop_pid, &drop_id);
        }
      g_cond_broadcast (&settled);
    }
  g_mutex_unlock (&lock);
  /* Dropped meanwhile: the proxy is nobody's. */
  if (fd >= 0)
    {
      close (fd);
      remove_proxy_folder (r->id, FALSE);
    }
  if (lost)
    g_message ("the spare monitor ended before it was ready");
  if (drop_pid > 0)
    drop (drop_pid, drop_id);
  else
    g_free (drop_id);
}

static guint
max_age_s (void)
{
  const char *env = g_getenv ("CSB_MONITOR_SPARE_MAX_AGE_S");
  guint64 age;

  /* Tests shorten it. */
  if (env != NULL && g_ascii_string_to_unsigned (env, 10, 1, 3600, &age, NULL))
    return age;
  return CSB_MONITOR_SPARE_MAX_AGE_S;
}

/* In a thread (making cgroups may wait for the kernel): the sandbox id the spare is
 * for, its cgroups, the spare. */
static gpointer
replenish_thread (gpointer data)
{
  Replenish *r = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) protections = g_ptr_array_new_with_free_func (g_free);
  int pair[2] = { -1, -1 };
  int handshake_fd = -1;
  GPid pid = 0;
  guint64 *generation, ours = 0;
  gboolean ok;

  /* Random as the manager's (which makes sure no sandbox has it when it claims it). */
  r->id = g_strdup_printf ("%08x", g_random_int ());
  r->cgroups = csb_cgroup_create_sandbox (r->id, r->settings, protections);
  ok = socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0;
  if (!ok)
    g_set_error (&error, G_IO_ERROR, g_io_error_from_errno (errno), "socketpair: %s",
                 g_strerror (errno));
  else
    ok = spawn_spare (r, pair[1], &pid, &error);
  if (pair[1] >= 0)
    close (pair[1]);
  /* A descriptor of its own for the proxy's start: the slot's may be closed meanwhile. */
  if (ok && r->bus_address != NULL)
    handshake_fd = fcntl (pair[0], F_DUPFD_CLOEXEC, 3);
  g_mutex_lock (&lock);
  spare.starting = FALSE;
  if (ok)
    {
      spare.pid = pid;
      spare.socket_fd = pair[0];
      spare.monitor = g_strdup (r->monitor);
      spare.id = g_strdup (r->id);
      spare.claimed = FALSE;
      spare.proxy_pending = handshake_fd >= 0;
      ours = ++spare.generation;
      /* Nothing else of a spare can be out of date. */
      if (r->user_net != NULL)
        {
          generation = g_new (guint64, 1);
          *generation = spare.generation;
          g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, max_age_s (), on_expired, generation,
                                      g_free);
          g_clear_pointer (&expiring, replenish_free);
          expiring = replenish_new (r->monitor, (const char * const *) r->envp, NULL, NULL,
                                    r->settings, &(CsbSpareProxy) {
                                      r->bus_address, (const char * const *) r->talk,
                                      r->network });
        }
    }
  g_mutex_unlock (&lock);
  if (!ok)
    {
      if (pair[0] >= 0)
        close (pair[0]);
      csb_cgroup_remove_sandbox (r->id);
      g_warning ("cannot start a spare monitor: %s", error->message);
    }
  else
    csb_trace ("spare: started for %s", r->id);
  if (handshake_fd >= 0)
    settle_proxy (r, pid, ours, handshake_fd);
  replenish_free (r);
  return NULL;
}

/* In the main context, a moment after the launch. */
static gboolean
on_replenish (gpointer data)
{
  Replenish *r = data;
  gboolean ok;

  g_mutex_lock (&lock);
  ok = spare.pid == 0 && !spare.starting;
  /* Set, never cleared here: a start under way clears it once it has filed its spare
   * (clearing it here let a second start run beside it and overwrite the slot, leaking
   * a spare and its socket: test-load saw two spares left). */
  if (ok)
    spare.starting = TRUE;
  g_mutex_unlock (&lock);
  if (ok)
    g_thread_unref (g_thread_new ("csb-spare", replenish_thread, r));
  else
    replenish_free (r);
  return G_SOURCE_REMOVE;
}

static Replenish *
replenish_new (const char          *monitor,
               const char * const  *envp,
               const char          *user_net,
               const char          *user_net_program,
               GSettings           *settings,
               const CsbSpareProxy *proxy)
{
  Replenish *r = g_new0 (Replenish, 1);

  r->monitor = g_strdup (monitor);
  r->envp = g_strdupv ((char **) envp);
  r->user_net = g_strdup (user_net);
  r->user_net_program = g_strdup (user_net_program);
  r->settings = settings ? g_object_ref (settings) : NULL;
  if (proxy != NULL && proxy->bus_address != NULL)
    {
      r->bus_address = g_strdup (proxy->bus_address);
      r->talk = g_strdupv ((char **) proxy->talk);
      r->network = proxy->network;
    }
  return r;
}

/* Not beside a launch's last steps (its reply, the sandbox's first instants). */
static void
replenish_later (Replenish *r)
{
  g_timeout_add (REPLENISH_DELAY_MS, on_replenish, r);
}

void
csb_monitor_spare_shutdown (void)
{
  GPid pid = 0;
  g_autofree char *id = NULL;

  g_mutex_lock (&lock);
  clear_slot (&pid, &id);
  g_clear_pointer (&expiring, replenish_free);
  g_mutex_unlock (&lock);
  kill_spare (pid);
  if (id != NULL)
    csb_cgroup_remove_sandbox (id);
}

void
csb_monitor_spare_replenish (const char          *monitor,
                             const char * const  *envp,
                             const char          *user_net,
                             const char          *user_net_program,
                             GSettings           *settings,
                             const CsbSpareProxy *proxy)
{
  if (spares_enabled ())
    replenish_later (replenish_new (monitor, envp, user_net, user_net_program, settings,
                                    proxy));
}
