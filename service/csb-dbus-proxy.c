/* csb-dbus-proxy.c
 *
 * The handshake is xdg-dbus-proxy's --fd: the proxy writes one byte on the pipe
 * once its socket listens, and exits when the pipe's other end is closed. Someone
 * waits for the byte (csb_dbus_proxy_start: we, blocking, so from a worker thread;
 * a sandbox's monitor does it itself while the service goes on), then the other end
 * goes to bwrap's --sync-fd, which keeps it open exactly as long as the sandbox
 * lives. So the proxy never outlives its sandbox, even if the service dies.
 *
 * The proxy runs as Flatpak runs it: in a small bwrap of its own whose root holds a
 * /.flatpak-info naming the sandbox as an app. Every peer on the bus sees the
 * proxy's process as the caller; xdg-desktop-portal reads /proc/PID/root/.flatpak-info
 * of that process to learn who it is, and without the file the caller is a host
 * app, which portals trust with everything (no permission store, no dialogs). The
 * bwrap gives the proxy only what it needs: /usr, the upstream bus socket, the
 * folder it listens in.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "csb-argv.h"
#include "csb-dbus-proxy.h"
#include "csb-error.h"
#include "csb-file.h"
#include "csb-layout.h"


/* xdg-dbus-proxy: DBUS_PROXY from the build, or $CSB_DBUS_PROXY, read once. The
 * variable is for tests (a proxy that fails); the service's own environment sets it,
 * no caller can. */
static const char *
dbus_proxy_path (void)
{
  static gsize once;
  static const char *path;

  if (g_once_init_enter (&once))
    {
      const char *env = g_getenv ("CSB_DBUS_PROXY");

      path = env != NULL && *env != '\0' ? g_strdup (env) : DBUS_PROXY;
      g_once_init_leave (&once, 1);
    }
  return path;
}

/* bubblewrap: BWRAP from the build, or $CSB_BWRAP (as the bwrap backend reads it). */
static const char *
bwrap_path (void)
{
  static gsize once;
  static const char *path;

  if (g_once_init_enter (&once))
    {
      const char *env = g_getenv ("CSB_BWRAP");

      path = env != NULL && *env != '\0' ? g_strdup (env) : BWRAP;
      g_once_init_leave (&once, 1);
    }
  return path;
}

static int
memfd_with (const char *name,
            GBytes     *data,
            GError    **error)
{
  int fd = csb_file_sealed_memfd (name, data);

  if (fd < 0)
    g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                 "cannot pass data to xdg-dbus-proxy: %s", g_strerror (errno));
  return fd;
}

/* The instance a sandbox's proxy names to portals. Flatpak's own instances are
 * decimal numbers (and its clean-up touches only those), so ours never is one: a
 * sandbox id of eight hex digits can be all digits. */
char *
csb_dbus_proxy_instance_id (const char *sandbox_id)
{
  g_return_val_if_fail (sandbox_id != NULL && *sandbox_id != '\0', NULL);

  return g_strconcat ("csb-", sandbox_id, NULL);
}

/* @runtime_dir/.flatpak/@instance_id, where newer portals find the pid of the
 * sandbox, made now for us alone (0700, mkdir's O_EXCL semantics): a folder already
 * there is someone else's and is never used, nor is a .flatpak that is a link. */
char *
csb_dbus_proxy_make_instance_dir (const char *runtime_dir,
                                  const char *instance_id,
                                  GError    **error)
{
  g_autofree char *base = g_build_filename (runtime_dir, ".flatpak", NULL);
  g_autofree char *dir = g_build_filename (base, instance_id, NULL);
  int base_fd;

  g_return_val_if_fail (instance_id != NULL && strchr (instance_id, '/') == NULL, NULL);

  /* Flatpak makes it 0755; so do we, if it comes first. */
  if (mkdir (base, 0755) != 0 && errno != EEXIST)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create %s: %s", base,
                   g_strerror (errno));
      return NULL;
    }
  if ((base_fd = open (base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot open %s: %s", base,
                   errno == ENOTDIR || errno == ELOOP ? "not a folder" : g_strerror (errno));
      return NULL;
    }
  if (mkdirat (base_fd, instance_id, 0700) != 0)
    {
      int saved = errno;

      close (base_fd);
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create %s: %s", dir,
                   saved == EEXIST ? "it exists already and is not this sandbox's "
                                     "(remove it if nothing uses it)"
                                   : g_strerror (saved));
      return NULL;
    }
  close (base_fd);
  return g_steal_pointer (&dir);
}

/* What xdg-desktop-portal (1.16 and later) reads of /.flatpak-info: the app id
 * ([Application] name), the instance ([Instance] instance-id) and whether the app
 * has the network ([Context] shared). No app-path or runtime-path: the sandbox's
 * /usr is the host's, so its paths need no translation. */
static GBytes *
app_info_data (const char *instance_id,
               gboolean    network)
{
  g_autoptr(GKeyFile) info = g_key_file_new ();
  gsize len;
  char *data;

  g_key_file_set_string (info, "Application", "name", CSB_DBUS_PROXY_APP_ID);
  g_key_file_set_string (info, "Instance", "instance-id", instance_id);
  g_key_file_set_boolean (info, "Instance", "session-bus-proxy", TRUE);
  if (network)
    g_key_file_set_string (info, "Context", "shared", "network;");
  data = g_key_file_to_data (info, &len, NULL);
  return g_bytes_new_take (data, len);
}

/* The upstream bus inside the proxy's bwrap: a unix:path= socket is bound at its
 * own path; abstract sockets and TCP need nothing, as the proxy keeps the host's
 * network namespace (which an abstract address needs). Values are %-escaped. */
static void
add_upstream (CsbArgv    *args,
              const char *address)
{
  g_auto(GStrv) entries = g_strsplit (address, ";", -1);

  for (guint i = 0; entries[i] != NULL; i++)
    {
      g_auto(GStrv) pairs = NULL;

      if (!g_str_has_prefix (entries[i], "unix:"))
        continue;
      pairs = g_strsplit (entries[i] + strlen ("unix:"), ",", -1);
      for (guint k = 0; pairs[k] != NULL; k++)
        {
          g_autofree char *path = NULL;

          if (!g_str_has_prefix (pairs[k], "path="))
            continue;
          path = g_uri_unescape_string (pairs[k] + strlen ("path="), NULL);
          if (path != NULL && g_path_is_absolute (path))
            csb_argv_add_args (args, "--ro-bind-try", path, path, NULL);
        }
    }
}

/* The proxy's root: /usr (with the host's merged-/usr links or folders), the
 * loader's cache, /nix/store where the proxy may live, the upstream socket, the
 * folder it listens in and the app info. */
static void
add_wrapper (CsbArgv    *outer,
             const char *upstream_address,
             const char *socket_path,
             int         info_fd)
{
  g_autofree char *socket_dir = g_path_get_dirname (socket_path);
  const char *proxy = dbus_proxy_path ();
  int info_target;

  /* No pid namespace: without /proc in there it would hide nothing, and it costs a
   * process (bwrap's init) per sandbox. */
  csb_argv_add_args (outer, bwrap_path (),
                     "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                     "--new-session", "--ro-bind", "/usr", "/usr", NULL);
  for (guint i = 0; csb_layout_usr_links[i] != NULL; i++)
    {
      const char *path = csb_layout_usr_links[i];
      g_autofree char *target = g_file_read_link (path, NULL);

      if (target != NULL)
        csb_argv_add_args (outer, "--symlink", target, path, NULL);
      else
        csb_argv_add_args (outer, "--ro-bind-try", path, path, NULL);
    }
  csb_argv_add_args (outer, "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
                     "--ro-bind-try", "/nix/store", "/nix/store", NULL);
  if (!g_str_has_prefix (proxy, "/usr/") && !g_str_has_prefix (proxy, "/nix/store/"))
    csb_argv_add_args (outer, "--ro-bind", proxy, proxy, NULL);
  add_upstream (outer, upstream_address);
  csb_argv_add_args (outer, "--bind", socket_dir, socket_dir, NULL);
  /* Read-only: not even the proxy can change who it says it is. */
  info_target = csb_argv_take_fd (outer, info_fd);
  csb_argv_add (outer, "--ro-bind-data");
  csb_argv_addf (outer, "%d", info_target);
  csb_argv_add_args (outer, "/.flatpak-info", "--", NULL);
}

CsbArgv *
csb_dbus_proxy_command (const char         *upstream_address,
                        const char         *socket_path,
                        const char * const *talk,
                        const char         *instance_id,
                        gboolean            network,
                        int                *out_sync_fd,
                        GError            **error)
{
  g_autoptr(CsbArgv) args = csb_argv_new ();
  g_autoptr(CsbArgv) outer = csb_argv_new ();
  g_autoptr(GBytes) args_data = NULL;
  g_autoptr(GBytes) info_data = NULL;
  int sync_pipe[2];
  int sync_target, args_fd, args_target, info_fd;

  g_return_val_if_fail (instance_id != NULL, NULL);

  if (!g_file_test (dbus_proxy_path (), G_FILE_TEST_IS_EXECUTABLE))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "xdg-dbus-proxy is not installed (%s is missing); install the "
                   "'xdg-dbus-proxy' package", dbus_proxy_path ());
      return NULL;
    }
  if (!g_file_test (bwrap_path (), G_FILE_TEST_IS_EXECUTABLE))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "bubblewrap is not installed (%s is missing); install the "
                   "'bubblewrap' package", bwrap_path ());
      return NULL;
    }

  csb_argv_add_args (args, upstream_address, socket_path, "--filter", NULL);
  for (guint i = 0; talk != NULL && talk[i] != NULL; i++)
    csb_argv_addf (args, "--talk=%s", talk[i]);
  args_data = csb_argv_to_nul_data (args);
  info_data = app_info_data (instance_id, network);
  if ((args_fd = memfd_with ("claude-sandbox-dbus-proxy-args", args_data, error)) < 0)
    return NULL;
  if ((info_fd = memfd_with ("claude-sandbox-flatpak-info", info_data, error)) < 0)
    {
      close (args_fd);
      return NULL;
    }
  if (!g_unix_open_pipe (sync_pipe, FD_CLOEXEC, error))
    {
      close (args_fd);
      close (info_fd);
      return NULL;
    }

  add_wrapper (outer, upstream_address, socket_path, info_fd);
  sync_target = csb_argv_take_fd (outer, sync_pipe[1]);
  args_target = csb_argv_take_fd (outer, args_fd);
  csb_argv_add (outer, dbus_proxy_path ());
  csb_argv_addf (outer, "--fd=%d", sync_target);
  csb_argv_addf (outer, "--args=%d", args_target);
  *out_sync_fd = sync_pipe[0];
  return g_steal_pointer (&outer);
}

gboolean
csb_dbus_proxy_spawn (const char         *upstream_address,
                      const char         *socket_path,
                      const char * const *talk,
                      const char         *instance_id,
                      gboolean            network,
                      GPid               *out_pid,
                      int                *out_sync_fd,
                      GError            **error)
{
  const char * const envp[] = { NULL };
  g_autoptr(CsbArgv) outer = NULL;
  int sync_fd = -1;
  GPid pid;

  if ((outer = csb_dbus_proxy_command (upstream_address, socket_path, talk, instance_id,
                                       network, &sync_fd, error)) == NULL)
    return FALSE;
  if (!g_spawn_async_with_pipes_and_fds (NULL, csb_argv_finish (outer), envp,
                                         G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                         -1, -1, -1,
                                         (const int *) outer->source_fds->data,
                                         (const int *) outer->target_fds->data,
                                         outer->source_fds->len, &pid,
                                         NULL, NULL, NULL, error))
    {
      close (sync_fd);
      g_prefix_error (error, "cannot start xdg-dbus-proxy: ");
      return FALSE;
    }
  /* Our copy of the write end goes with @outer: a dying proxy gives EOF. */
  *out_pid = pid;
  *out_sync_fd = sync_fd;
  return TRUE;
}

char *
csb_dbus_proxy_not_ready_message (const char *upstream_address)
{
  return g_strdup_printf ("xdg-dbus-proxy did not start (is the session bus at '%s' "
                          "reachable?)", upstream_address);
}

gboolean
csb_dbus_proxy_start (const char         *upstream_address,
                      const char         *socket_path,
                      const char * const *talk,
                      const char         *instance_id,
                      gboolean            network,
                      GPid               *out_pid,
                      int                *out_sync_fd,
                      GError            **error)
{
  struct pollfd pfd;
  char byte;
  GPid pid;
  int sync_fd, r;

  if (!csb_dbus_proxy_spawn (upstream_address, socket_path, talk, instance_id, network, &pid,
                             &sync_fd, error))
    return FALSE;
  pfd.fd = sync_fd;
  pfd.events = POLLIN;
  do
    r = poll (&pfd, 1, CSB_DBUS_PROXY_READY_TIMEOUT_MS);
  while (r < 0 && errno == EINTR);
  if (r <= 0 || read (sync_fd, &byte, 1) != 1)
    {
      g_autofree char *message = csb_dbus_proxy_not_ready_message (upstream_address);

      close (sync_fd);
      kill (pid, SIGKILL);
      waitpid (pid, NULL, 0);
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED, message);
      return FALSE;
    }
  *out_pid = pid;
  *out_sync_fd = sync_fd;
  return TRUE;
}
