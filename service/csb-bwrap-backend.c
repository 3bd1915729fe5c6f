/* csb-bwrap-backend.c
 *
 * One bwrap process per sandbox. Its whole command line goes through --args FD (a
 * memfd), so nothing of the sandbox's set-up, secrets included, shows in any argv.
 * bwrap reports the sandbox's pid and exit code on --json-status-fd; the pid
 * namespace ends everything inside when the first process exits.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <json-glib/json-glib.h>
#include <glib-unix.h>

#include "csb-bwrap-backend.h"
#include "csb-cgroup.h"
#include "csb-claude-config.h"
#include "csb-claude-home.h"
#include "csb-dbus-proxy.h"
#include "csb-error.h"
#include "csb-file.h"
#include "csb-guest-stage.h"
#include "csb-helper-path.h"
#include "csb-landlock.h"
#include "csb-layout.h"
#include "csb-peer.h"
#include "csb-project-guard.h"
#include "csb-protections.h"
#include "csb-review.h"
#include "csb-seccomp.h"
#include "csb-terminal.h"
#include "csb-trace.h"
#include "csb-monitor-spare.h"
#include "csb-user-net.h"
#include "csb-wayland.h"

/* With a filtered network, where the sandbox finds the proxy's socket and our helper
 * (in its private /run). */
#define SANDBOX_NET_SOCKET "/run/claude-sandbox-net/proxy.sock"
#define SANDBOX_INIT "/run/claude-sandbox-init"
#define SANDBOX_DBUS_DIR "/run/claude-sandbox-dbus"
#define SANDBOX_NET_PORT "3128"

struct _CsbBwrapBackend
{
  CsbBackend         parent_instance;

  CsbSandboxSpec    *spec;           /* borrowed from the sandbox, which outlives us */
  GSocketConnection *control;        /* WATCH connection to the sandbox's monitor */
  GDataInputStream  *control_reader;
  GCancellable      *cancellable;
  GTask             *start_task;
  pid_t              child_pid;      /* the pid namespace's first process, on the host */
  GPid               monitor_pid;    /* while it is our child and alive */
  gboolean           ended;
  int                exit_status;
  char              *exit_error;
  gboolean           claude_home;    /* write its login back at the end */
  GStrv              protections;
};

G_DEFINE_FINAL_TYPE (CsbBwrapBackend, csb_bwrap_backend, CSB_TYPE_BACKEND)

/* Top-level folders that are symlinks into /usr on a merged-/usr system. */
static const char * const sys_dirs[] = {
  "/sys/block", "/sys/bus", "/sys/class", "/sys/dev", "/sys/devices", NULL
};

static void
add_ro_bind (CsbArgv    *args,
             const char *src,
             const char *dest)
{
  csb_argv_add_args (args, "--ro-bind", src, dest, NULL);
}

static void
add_env (CsbArgv    *args,
         const char *name,
         const char *value)
{
  csb_argv_add_args (args, "--setenv", name, value, NULL);
}

/* passwd and group with only the user (and root, nobody): other accounts stay private. */
static gboolean
write_identity_files (CsbSandboxSpec *spec,
                      const char     *home,
                      const char     *shell,
                      char          **out_passwd,
                      char          **out_group,
                      GError        **error)
{
  uid_t uid = getuid ();
  gid_t gid = getgid ();
  const char *user = g_get_user_name ();
  g_autoptr(GString) passwd = g_string_new (NULL);
  g_autoptr(GString) group = g_string_new (NULL);
  g_autofree char *passwd_path = g_build_filename (spec->runtime_dir, "passwd", NULL);
  g_autofree char *group_path = g_build_filename (spec->runtime_dir, "group", NULL);

  if (uid != 0)
    g_string_append (passwd, "root:x:0:0:root:/root:/bin/sh\n");
  g_string_append_printf (passwd, "%s:x:%u:%u:%s:%s:%s\n", user, (guint) uid, (guint) gid,
                          uid == 0 ? "root" : user, home, shell);
  g_string_append (passwd, "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");

  if (gid != 0)
    g_string_append (group, "root:x:0:\n");
  g_string_append_printf (group, "%s:x:%u:\n", gid == 0 ? "root" : user, (guint) gid);
  g_string_append (group, "nogroup:x:65534:\n");

  if (!g_file_set_contents_full (passwd_path, passwd->str, passwd->len,
                                 G_FILE_SET_CONTENTS_NONE, 0644, error) ||
      !g_file_set_contents_full (group_path, group->str, group->len,
                                 G_FILE_SET_CONTENTS_NONE, 0644, error))
    return FALSE;
  *out_passwd = g_steal_pointer (&passwd_path);
  *out_group = g_steal_pointer (&group_path);
  return TRUE;
}

/* The path of a socket the session names relative to its runtime folder. */
/* Paths the sandbox already sees as on the host (read-only). */
static gboolean
visible_as_host_path (const char *path)
{
  static const char * const prefixes[] = { "/usr/", "/opt/", "/nix/store/", NULL };

  for (guint i = 0; prefixes[i] != NULL; i++)
    if (g_str_has_prefix (path, prefixes[i]))
      return TRUE;
  return FALSE;
}

/* Copies the Xauthority entries for display @number, made host-independent
 * (FamilyWild): the sandbox's hostname differs from the host's. */
static gboolean
write_filtered_xauthority (const char *source,
                           const char *dest,
                           const char *number)
{
  g_autofree char *data = NULL;
  g_autoptr(GByteArray) out = g_byte_array_new ();
  gsize len, pos = 0;

  if (!g_file_get_contents (source, &data, &len, NULL))
    return FALSE;
  while (pos + 2 <= len)
    {
      gsize start = pos, fields[4][2];
      guint16 family = ((guint8) data[pos] << 8) | (guint8) data[pos + 1];
      gboolean ok = TRUE;

      pos += 2;
      for (guint f = 0; f < 4; f++)
        {
          gsize flen;

          if (pos + 2 > len)
            return FALSE;
          flen = ((guint8) data[pos] << 8) | (guint8) data[pos + 1];
          pos += 2;
          if (pos + flen > len)
            return FALSE;
          fields[f][0] = pos;
          fields[f][1] = flen;
          pos += flen;
        }
      (void) start;
      /* fields: 0 address, 1 display number, 2 auth name, 3 auth data */
      ok = (family == 256 || family == 65535) &&
           fields[1][1] == strlen (number) &&
           memcmp (data + fields[1][0], number, fields[1][1]) == 0;
      if (ok)
        {
          guint8 wild[4] = { 0xff, 0xff, 0, 0 };

          g_byte_array_append (out, wild, 4);  /* FamilyWild, empty address */
          for (guint f = 1; f < 4; f++)
            {
              guint8 l[2] = { fields[f][1] >> 8, fields[f][1] & 0xff };
              g_byte_array_append (out, l, 2);
              g_byte_array_append (out, (guint8 *) data + fields[f][0], fields[f][1]);
            }
        }
    }
  return g_file_set_contents_full (dest, (const char *) out->data, out->len,
                                   G_FILE_SET_CONTENTS_NONE, 0600, NULL);
}

/* The sandbox's Wayland socket: with @hold_fds (a real launch), one the compositor
 * listens on for the sandbox through wp_security_context_v1 where it offers that
 * (the pipe it watches goes to @hold_fds, held by the monitor for the sandbox's
 * life); else the session's own socket @path, with every protocol the compositor
 * offers, and Protections says so. A layout entry, as in the container
 * (csb-layout.c). */
static void
add_wayland (CsbSandboxSpec *spec,
             CsbArgv        *args,
             GPtrArray      *protections,
             GArray         *hold_fds,
             const char     *path,
             const char     *run_user)
{
  g_autofree char *listen_path = g_build_filename (spec->runtime_dir, "wayland", NULL);
  g_autoptr(CsbLayout) layout = csb_layout_new ();
  g_autoptr(GError) error = NULL;
  int hold_fd = -1;

  if (hold_fds != NULL &&
      csb_wayland_attach_security_context (path, listen_path, CSB_DBUS_PROXY_APP_ID, spec->id,
                                           &hold_fd, &error))
    {
      g_array_append_val (hold_fds, hold_fd);
      csb_layout_wayland (layout, listen_path, run_user, "wayland-security-context");
    }
  else
    {
      if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
        g_message ("sandbox %s: no Wayland security context: %s", spec->id, error->message);
      csb_layout_wayland (layout, path, run_user, "wayland-unrestricted");
    }
  csb_layout_append_bwrap_args (layout, args);
  csb_layout_add_protections (layout, protections);
}

static void
add_display (CsbSandboxSpec *spec,
             CsbArgv        *args,
             GPtrArray      *protections,
             GArray         *hold_fds,
             const char     *run_user)
{
  const char *wayland = g_environ_getenv (spec->environ, "WAYLAND_DISPLAY");
  const char *x_display = g_environ_getenv (spec->environ, "DISPLAY");
  gboolean x11 = spec->settings ? g_settings_get_boolean (spec->settings, "x11") : FALSE;
  gboolean any = FALSE;

  if (wayland != NULL && *wayland != '\0')
    {
      g_autofree char *path =
        csb_layout_session_socket_path ((const char * const *) spec->environ, wayland);

      if (csb_file_is_socket (path))
        {
          add_wayland (spec, args, protections, hold_fds, path, run_user);
          any = TRUE;
        }
    }
  if (x11 && x_display != NULL && x_display[0] == ':')
    {
      g_autofree char *number = g_strndup (x_display + 1, strcspn (x_display + 1, "."));
      g_autofree char *socket = g_strdup_printf ("/tmp/.X11-unix/X%s", number);
      const char *xauth = g_environ_getenv (spec->environ, "XAUTHORITY");
      g_autofree char *default_xauth = g_build_filename (g_get_home_dir (), ".Xauthority", NULL);
      g_autofree char *filtered = g_build_filename (spec->runtime_dir, "Xauthority", NULL);

      if (csb_file_is_socket (socket))
        {
          g_autofree char *display = g_strdup_printf (":%s", number);

          add_ro_bind (args, socket, socket);
          add_env (args, "DISPLAY", display);
          if (write_filtered_xauthority (xauth ? xauth : default_xauth, filtered, number))
            {
              g_autofree char *dest = g_build_filename (run_user, "Xauthority", NULL);
              add_ro_bind (args, filtered, dest);
              add_env (args, "XAUTHORITY", dest);
            }
          csb_protections_add (protections, "x11-shared");
          any = TRUE;
        }
    }
  if (!any)
    g_message ("sandbox %s: the display option is on, but the session has no Wayland%s "
               "display to forward", spec->id, x11 ? " or X11" : "");
}

/* The sandbox's private display: the socket of the headless compositor the monitor
 * starts for it (csb_bwrap_private_display_dir()), and nothing of the host's; with
 * Xwayland, its X socket's folder (made by us, bound by our path: nothing the
 * compositor put in it is followed outside the sandbox) as /tmp/.X11-unix. */
static void
add_private_display (CsbSandboxSpec *spec,
                     CsbArgv        *args,
                     GPtrArray      *protections,
                     const char     *run_user)
{
  g_autofree char *dir = csb_bwrap_private_display_dir (spec);
  g_autofree char *socket = g_build_filename (dir, CSB_PRIVATE_DISPLAY_SOCKET, NULL);
  g_autofree char *dest = g_build_filename (run_user, "wayland-0", NULL);

  add_ro_bind (args, socket, dest);
  add_env (args, "WAYLAND_DISPLAY", "wayland-0");
  if (csb_compositor_has_x11 ())
    {
      g_autofree char *x11 = g_build_filename (dir, CSB_COMPOSITOR_X11_DIR, NULL);

      add_ro_bind (args, x11, "/tmp/.X11-unix");
      add_env (args, "DISPLAY", CSB_COMPOSITOR_X11_DISPLAY);
    }
  csb_protections_add (protections, "display-private");
}

static void
add_gpu (CsbArgv *args)
{
  g_autoptr(GDir) dev = NULL;
  const char *name;

  if (g_file_test ("/dev/dri", G_FILE_TEST_IS_DIR))
    csb_argv_add_args (args, "--dev-bind", "/dev/dri", "/dev/dri", NULL);
  dev = g_dir_open ("/dev", 0, NULL);
  while (dev != NULL && (name = g_dir_read_name (dev)) != NULL)
    if (g_str_has_prefix (name, "nvidia"))
      {
        g_autofree char *path = g_build_filename ("/dev", name, NULL);
        csb_argv_add_args (args, "--dev-bind", path, path, NULL);
      }
}

/* bubblewrap: BWRAP from the build, or $CSB_BWRAP, read once. The variable is for
 * tests (a missing bwrap, say); the service's own environment sets it, no caller can. */
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

/* Our helpers, in the build tree or in libexecdir (csb-helper-path.c). A missing
 * one is left to fail where it is run, with its path in the error. */
static char *
find_libexec (const char *name)
{
  g_autoptr(GError) error = NULL;
  char *path = csb_helper_path (NULL, name, &error);

  return path != NULL ? path : g_build_filename (LIBEXECDIR, name, NULL);
}

/* A filtered network: no route out (own network namespace, only lo) but our helper,
 * which relays 127.0.0.1:3128 to the service's proxy. */
static gboolean
add_network_filter (CsbSandboxSpec *spec,
                    CsbArgv        *args,
                    GError        **error)
{
  static const char * const proxy_vars[] = {
    "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", NULL
  };
  {
    /* The folder, not the socket: a restarted service's new socket appears inside. */
    g_autofree char *dir = g_path_get_dirname (spec->net_proxy_socket);
    g_autofree char *dest = g_path_get_dirname (SANDBOX_NET_SOCKET);

    add_ro_bind (args, dir, dest);
  }
  for (guint i = 0; proxy_vars[i] != NULL; i++)
    add_env (args, proxy_vars[i], "http://127.0.0.1:" SANDBOX_NET_PORT);
  add_env (args, "ALL_PROXY", "socks5h://127.0.0.1:" SANDBOX_NET_PORT);
  add_env (args, "all_proxy", "socks5h://127.0.0.1:" SANDBOX_NET_PORT);
  add_env (args, "NO_PROXY", "localhost,127.0.0.1,::1");
  add_env (args, "no_proxy", "localhost,127.0.0.1,::1");
  return TRUE;
}

/* The sandbox's own network namespace: with the network on, the monitor gives it a
 * user-mode stack that never reaches the host's loopback, whose resolv.conf comes
 * back in @out_resolv_conf; filtered, only our relay to the proxy. */
static gboolean
add_network_namespace (CsbSandboxSpec *spec,
                       GPtrArray      *protections,
                       char          **out_resolv_conf,
                       GError        **error)
{
  CsbUserNetKind kind;
  g_autofree char *program = NULL;
  g_autoptr(GError) local_error = NULL;

  if (spec->net_proxy_socket != NULL)
    {
      csb_protections_add (protections, "network-filtered");
      return TRUE;
    }
  if (!spec->options->network)
    {
      csb_protections_add (protections, "no-network");
      return TRUE;
    }
  if (!csb_user_net_find (&kind, &program, error))
    return FALSE;
  *out_resolv_conf = csb_user_net_resolv_conf (kind, "/etc/resolv.conf", spec->runtime_dir,
                                               &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  csb_protections_add (protections, "network-namespace");
  return TRUE;
}

/* Namespaces and privileges: every namespace the sandbox's own, no capabilities,
 * no new privileges, nested user namespaces only where allowed. */
static gboolean
add_namespaces (CsbSandboxSpec *spec,
                CsbArgv        *args,
                GPtrArray      *protections,
                char          **out_resolv_conf,
                GError        **error)
{
  gboolean allow_userns;

  /* --unshare-all only tries a user namespace, and as root does not make one:
   * ask for it, so root's sandboxes get one too and --disable-userns works. */
  csb_argv_add_args (args, "--unshare-all", "--unshare-user", "--hostname", "claude-sandbox",
                     NULL);
  csb_protections_add (protections, "user-namespace");
  csb_protections_add (protections, "pid-namespace");
  csb_protections_add (protections, "ipc-namespace");
  csb_protections_add (protections, "uts-namespace");
  csb_protections_add (protections, "mount-namespace");
  if (!add_network_namespace (spec, protections, out_resolv_conf, error))
    return FALSE;
  /* No capabilities either way: unprivileged, bwrap gives the sandbox none (permitted
   * and effective sets empty); as root it must be told. --cap-drop ALL also empties
   * the bounding set, which stops nested user namespaces (Claude Code's own bwrap),
   * so unprivileged sandboxes keep it unless those are switched off anyway. */
  allow_userns = spec->settings == NULL || g_settings_get_boolean (spec->settings, "allow-userns");
  if (getuid () == 0 || !allow_userns)
    csb_argv_add_args (args, "--cap-drop", "ALL", NULL);
  csb_protections_add (protections, "no-capabilities");
  /* bwrap always sets it; listed so users can see it. */
  csb_protections_add (protections, "no-new-privs");
  if (!allow_userns)
    {
      csb_argv_add (args, "--disable-userns");
      csb_protections_add (protections, "no-nested-userns");
    }
  return TRUE;
}

/* A layout's entries as bwrap arguments, and the protections they give. */
static void
append_layout (CsbLayout *layout,
               CsbArgv   *args,
               GPtrArray *protections)
{
  csb_layout_append_bwrap_args (layout, args);
  csb_layout_add_protections (layout, protections);
}

/* The host's programs and a curated /etc, read-only (csb-layout.c), the sandbox's
 * own passwd, group and resolv.conf, the kernel's interfaces and private scratch
 * space. */
static void
add_system (CsbArgv    *args,
            GPtrArray  *protections,
            const char *passwd_path,
            const char *group_path,
            const char *resolv_conf,
            const char *run_user)
{
  g_autoptr(CsbLayout) layout = csb_layout_new ();

  csb_layout_expose_host_programs (layout);
  append_layout (layout, args, protections);
  add_ro_bind (args, passwd_path, "/etc/passwd");
  add_ro_bind (args, group_path, "/etc/group");
  if (resolv_conf != NULL)
    add_ro_bind (args, resolv_conf, "/etc/resolv.conf");

  csb_argv_add_args (args,
                     "--proc", "/proc",
                     "--dev", "/dev",
                     "--tmpfs", "/tmp",
                     "--dir", "/var",
                     "--tmpfs", "/var/tmp",
                     "--symlink", "../run", "/var/run",
                     "--tmpfs", "/run",
                     "--perms", "0700", "--dir", run_user,
                     NULL);
  csb_protections_add (protections, "private-tmp");
  for (guint i = 0; sys_dirs[i] != NULL; i++)
    if (g_file_test (sys_dirs[i], G_FILE_TEST_IS_DIR))
      add_ro_bind (args, sys_dirs[i], sys_dirs[i]);
  /* The host's sysfs lists the host's interfaces; the sandbox's network namespace
   * has none of them (netlink, which `ip` uses, shows its own). */
  if (g_file_test ("/sys/class/net", G_FILE_TEST_IS_DIR))
    csb_argv_add_args (args, "--tmpfs", "/sys/class/net", NULL);
}

/* A fresh home at the real path with only what Claude Code and git need, and the
 * project's Claude home at ~/.claude and ~/.claude.json with the user's own
 * settings read-only over it: one layout (csb-layout.c), all bound from
 * descriptors the service opened without following links. */
static void
add_home (CsbSandboxSpec *spec,
          CsbArgv        *args,
          GPtrArray      *protections,
          const char     *home,
          CsbClaudeHome  *claude_home)
{
  g_autoptr(CsbLayout) layout = csb_layout_new ();

  csb_layout_private_home (layout, home, spec->options->gh_token);
  /* From descriptors: nothing to copy, nothing fails. */
  csb_layout_claude_home (layout, home, claude_home, NULL, NULL);
  append_layout (layout, args, protections);
}

/* Claude Code itself, read-only, at the path it was installed to; the PATH inside,
 * its folder first. */
static char *
add_claude_install (CsbArgv          *args,
                    CsbClaudeInstall *claude)
{
  const char *path_env = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
  g_autofree char *bin_dir = NULL;

  if (claude == NULL)
    return g_strdup (path_env);
  if (!visible_as_host_path (claude->bind_root))
    add_ro_bind (args, claude->bind_root, claude->bind_root);
  for (guint i = 0; i < claude->symlinks->len; i++)
    {
      CsbSymlink *link = g_ptr_array_index (claude->symlinks, i);
      if (!visible_as_host_path (link->path))
        csb_argv_add_args (args, "--symlink", link->target, link->path, NULL);
    }
  if (claude->symlinks->len == 0 && !g_str_equal (claude->path, claude->bind_root) &&
      !visible_as_host_path (claude->path))
    add_ro_bind (args, claude->path, claude->path);
  bin_dir = g_path_get_dirname (claude->path);
  return g_strconcat (bin_dir, ":", path_env, NULL);
}

/* The user's extra folders (ro-binds, rw-binds), each checked: one layout
 * (csb-layout.c), as in every backend. */
static gboolean
add_user_binds (CsbLaunchOptions *opts,
                CsbArgv          *args,
                const char       *home,
                GError          **error)
{
  g_autoptr(CsbLayout) layout = csb_layout_new ();

  if (!csb_layout_user_binds (layout, opts->ro_binds, opts->rw_binds, home, error))
    return FALSE;
  csb_layout_append_bwrap_args (layout, args);
  return TRUE;
}

/* The project itself at its own path, the sandbox's working folder: read-write
 * from a checked descriptor with git's and Claude Code's configuration read-only
 * (csb-project-guard.c), or under review, where the monitor's
 * claude-sandbox-review-mount mounts the overlay (nothing of the project is bound
 * read-write, so nothing reaches the folder unreviewed): one layout
 * (csb-layout.c), the same for every backend. */
static gboolean
add_project (CsbSandboxSpec *spec,
             CsbArgv        *args,
             GPtrArray      *protections,
             GError        **error)
{
  g_autoptr(CsbLayout) layout = csb_layout_new ();

  if (spec->options->review
      ? !csb_layout_project_review (layout, spec->project_dir, spec->state_dir, error)
      : !csb_layout_project (layout, spec->project_dir, spec->guard_entries, error))
    return FALSE;
  append_layout (layout, args, protections);
  csb_argv_add_args (args, "--chdir", spec->project_dir, NULL);
  return TRUE;
}

/* The environment: cleared, then an allowlist of the service's, then ours; with a
 * filtered network, the proxy's variables; our init, which runs first. */
static gboolean
add_environment (CsbSandboxSpec *spec,
                 CsbArgv        *args,
                 GPtrArray      *protections,
                 const char     *home,
                 const char     *shell,
                 const char     *path_env,
                 const char     *run_user,
                 GError        **error)
{
  g_auto(GStrv) allowlist = spec->settings
    ? g_settings_get_strv (spec->settings, "env-allowlist") : g_new0 (char *, 1);
  g_autofree char *init = NULL;

  csb_argv_add (args, "--clearenv");
  csb_protections_add (protections, "clear-environment");
  for (guint i = 0; allowlist[i] != NULL; i++)
    {
      const char *value = g_environ_getenv (spec->environ, allowlist[i]);
      if (value != NULL)
        add_env (args, allowlist[i], value);
    }
  if (g_environ_getenv (spec->environ, "LANG") == NULL)
    add_env (args, "LANG", "C.UTF-8");
  add_env (args, "HOME", home);
  add_env (args, "USER", g_get_user_name ());
  add_env (args, "LOGNAME", g_get_user_name ());
  add_env (args, "SHELL", shell);
  add_env (args, "PATH", path_env);
  add_env (args, "XDG_RUNTIME_DIR", run_user);
  add_env (args, "TERM", spec->stdio_is_pty ? "xterm-256color" : "dumb");
  add_env (args, "IS_SANDBOX", "1");
  add_env (args, "CLAUDE_SANDBOX_ID", spec->id);
  add_env (args, "DISABLE_AUTOUPDATER", "1");
  if (spec->net_proxy_socket != NULL && !add_network_filter (spec, args, error))
    return FALSE;
  /* Our init always runs first: it applies Landlock's scoping to the command,
   * and with a terminal or a filtered network it has more to do. Missing,
   * spawn_thread refuses to launch; the arguments alone (tests, benchmarks) go
   * without it. */
  init = find_libexec ("claude-sandbox-init");
  if (g_file_test (init, G_FILE_TEST_IS_EXECUTABLE))
    add_ro_bind (args, init, SANDBOX_INIT);
  if (csb_landlock_abi () >= CSB_LANDLOCK_SCOPE_ABI)
    csb_protections_add (protections, "landlock-scope");
  return TRUE;
}

/* The desktop, each behind its option: off means simply not there. The display
 * (X11 too), the private display and the GPU are bwrap's own; the session's
 * sockets are as in every backend (csb-layout.c). */
static void
add_desktop (CsbSandboxSpec *spec,
             CsbArgv        *args,
             GPtrArray      *protections,
             GArray         *hold_fds,
             const char     *run_user)
{
  CsbLaunchOptions *opts = spec->options;
  g_autoptr(CsbLayout) layout = csb_layout_new ();

  if (opts->display)
    add_display (spec, args, protections, hold_fds, run_user);
  else if (opts->private_display)
    add_private_display (spec, args, protections, run_user);
  if (opts->gpu)
    add_gpu (args);
  if (opts->audio)
    csb_layout_session_audio (layout, (const char * const *) spec->environ, run_user);
  if (opts->ssh_agent &&
      !csb_layout_ssh_agent (layout, (const char * const *) spec->environ, run_user))
    g_message ("sandbox %s: the ssh-agent option is on, but SSH_AUTH_SOCK names no socket",
               spec->id);
  csb_layout_append_bwrap_args (layout, args);
}

/* Last, so they win: the GitHub token (through the --args memfd only: never in an
 * argv, a log or a property) and the launch's own variables. */
static void
add_last_environment (CsbArgv          *args,
                      CsbLaunchOptions *opts,
                      const char       *token)
{
  GHashTableIter iter;
  gpointer name, value;

  if (token != NULL)
    {
      add_env (args, "GH_TOKEN", token);
      add_env (args, "GITHUB_TOKEN", token);
    }
  g_hash_table_iter_init (&iter, opts->env);
  while (g_hash_table_iter_next (&iter, &name, &value))
    add_env (args, name, value);
}

static CsbArgv *
build_args (CsbSandboxSpec *spec,
            GPtrArray      *protections,
            GArray         *hold_fds,
            GError        **error)
{
  g_autoptr(CsbArgv) args = csb_argv_new ();
  g_autoptr(CsbClaudeInstall) claude = NULL;
  g_autoptr(CsbClaudeHome) claude_home = NULL;
  g_autofree char *home = g_strdup (g_get_home_dir ());
  g_autofree char *shell = csb_user_shell (spec->settings);
  g_autofree char *passwd_path = NULL;
  g_autofree char *group_path = NULL;
  g_autofree char *run_user = g_strdup_printf ("/run/user/%u", (guint) getuid ());
  g_autofree char *token = NULL;
  g_autofree char *path_env = NULL;
  g_autofree char *resolv_conf = NULL;
  CsbLaunchOptions *opts = spec->options;

  g_return_val_if_fail (spec->command != NULL && spec->command[0] != NULL, NULL);

  if (!csb_stage_find_claude (spec, home, &claude, error))
    return NULL;
  if (opts->gh_token && (token = csb_stage_find_gh_token (spec, error)) == NULL)
    return NULL;
  if (!write_identity_files (spec, home, shell, &passwd_path, &group_path, error))
    return NULL;
  csb_trace ("args: claude found, identity files written");
  if ((claude_home = csb_claude_home_prepare (spec->project_dir, error)) == NULL)
    return NULL;
  csb_trace ("args: claude home prepared");

  if (!add_namespaces (spec, args, protections, &resolv_conf, error))
    return NULL;
  add_system (args, protections, passwd_path, group_path, resolv_conf, run_user);
  add_home (spec, args, protections, home, claude_home);
  path_env = add_claude_install (args, claude);
  /* The user's extra folders, then the project itself. */
  if (!add_user_binds (opts, args, home, error) ||
      !add_project (spec, args, protections, error) ||
      !add_environment (spec, args, protections, home, shell, path_env, run_user, error))
    return NULL;
  add_desktop (spec, args, protections, hold_fds, run_user);
  add_last_environment (args, opts, token);
  return g_steal_pointer (&args);
}

char *
csb_bwrap_private_display_dir (CsbSandboxSpec *spec)
{
  return g_build_filename (spec->runtime_dir, "display", NULL);
}

CsbArgv *
csb_bwrap_build_args (CsbSandboxSpec *spec,
                      GError        **error)
{
  g_autoptr(GPtrArray) protections = g_ptr_array_new_with_free_func (g_free);

  /* No fds to hold: a display goes in as the session's raw socket. */
  return build_args (spec, protections, NULL, error);
}

/* ---- spawning ------------------------------------------------------------------ */

typedef struct
{
  GPid  monitor_pid;
  int   control_fd;
  GStrv protections;
} SpawnResult;

static void
spawn_result_free (SpawnResult *result)
{
  if (result->control_fd >= 0)
    close (result->control_fd);
  g_strfreev (result->protections);
  g_free (result);
}

/* A proxy whose start failed ends by itself once no one holds its pipe's read end
 * (ours are closed by then): its bwrap follows, and the main loop reaps it. Killing
 * that bwrap instead could leave bwrap's child waiting for ever for a parent that
 * will never set it up. */
static void
reap_proxy (GPid pid)
{
  if (pid > 0)
    g_child_watch_add (pid, (GChildWatchFunc) g_spawn_close_pid, NULL);
}

/* The proxy's socket, in a folder of its own: the proxy's bwrap sees only that
 * folder of the sandbox's runtime folder. */
static char *
proxy_socket_path (CsbSandboxSpec *spec)
{
  return g_build_filename (spec->runtime_dir, "dbus", "bus", NULL);
}

/* What the sandbox's proxy is started with: the session bus (NULL: none, no proxy),
 * the names the settings let it talk to (in *@out_talk, the caller's), the network. */
static CsbSpareProxy
proxy_values (CsbSandboxSpec *spec,
              GStrv          *out_talk)
{
  const char *address = g_environ_getenv (spec->environ, "DBUS_SESSION_BUS_ADDRESS");

  *out_talk = spec->settings ? g_settings_get_strv (spec->settings, "dbus-talk")
                             : g_strsplit ("org.freedesktop.portal.*", ",", -1);
  return (CsbSpareProxy) { address != NULL && *address != '\0' ? address : NULL,
                           (const char * const *) *out_talk, spec->options->network };
}

/* The session bus, filtered: the proxy's socket (@socket_path) is the only bus inside.
 * Started first and not waited for: it gets ready while the rest is prepared and the
 * monitor starts, and the monitor waits for it before it starts bwrap. No session bus,
 * no proxy (*out_pid 0, *out_sync_fd -1). */
static gboolean
start_session_bus (CsbSandboxSpec *spec,
                   const char     *socket_path,
                   GPid           *out_pid,
                   int            *out_sync_fd,
                   GError        **error)
{
  g_autofree char *socket_dir = g_path_get_dirname (socket_path);
  g_autofree char *instance = NULL;
  g_auto(GStrv) talk = NULL;
  CsbSpareProxy values = proxy_values (spec, &talk);

  *out_pid = 0;
  *out_sync_fd = -1;
  if (values.bus_address == NULL)
    return TRUE;
  if (g_mkdir_with_parents (socket_dir, 0700) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create %s: %s", socket_dir,
                   g_strerror (errno));
      return FALSE;
    }
  instance = csb_dbus_proxy_instance_id (spec->id);
  return csb_dbus_proxy_spawn (values.bus_address, socket_path, values.talk, instance,
                               values.network, out_pid, out_sync_fd, error);
}

/* The proxy's socket (@socket_path) as the bus inside; its pipe (@sync_fd, taken) to
 * bwrap, which holds it for exactly as long as the sandbox lives. Returns the pipe's
 * number in bwrap (and the monitor), -1 without a proxy. */
static int
add_session_bus (CsbSandboxSpec *spec,
                 CsbArgv        *args,
                 GPtrArray      *protections,
                 const char     *socket_path,
                 int             sync_fd)
{
  g_autofree char *socket_dir = g_path_get_dirname (socket_path);
  g_autofree char *dest = g_strdup_printf ("/run/user/%u/bus", (guint) getuid ());
  g_autofree char *dest_address = g_strconcat ("unix:path=", dest, NULL);
  int target;

  if (sync_fd < 0)
    {
      csb_protections_add (protections, "no-session-bus");
      return -1;
    }
  target = csb_argv_take_fd (args, sync_fd);
  csb_argv_add (args, "--sync-fd");
  csb_argv_addf (args, "%d", target);
  /* The proxy's folder, not its socket: bwrap sets the sandbox up while the proxy
   * starts, so the socket may not be there yet (the command waits for it on bwrap's
   * --block-fd). */
  add_ro_bind (args, socket_dir, SANDBOX_DBUS_DIR);
  csb_argv_add_args (args, "--symlink", SANDBOX_DBUS_DIR "/bus", dest, NULL);
  add_env (args, "DBUS_SESSION_BUS_ADDRESS", dest_address);
  csb_protections_add (protections, "dbus-filtered");
  csb_protections_add (protections, "dbus-app-identity");
  return target;
}

/* The proxy's start (a fork and exec of its bwrap, a millisecond or more) in a thread
 * of its own, while the spawn thread builds the sandbox's arguments. */
typedef struct
{
  CsbSandboxSpec *spec;
  GThread        *thread;
  GPid            pid;           /* 0: none, or not our child (made ahead) */
  int             sync_fd;
  char           *socket_path;
  GError         *error;
} ProxyStart;

static gpointer
proxy_start_thread (gpointer data)
{
  ProxyStart *start = data;

  csb_trace ("spawn: proxy thread runs");
  start_session_bus (start->spec, start->socket_path, &start->pid, &start->sync_fd,
                     &start->error);
  csb_trace ("spawn: proxy spawned");
  return NULL;
}

/* The proxy the spare this launch claimed started ahead for it, if it has what this
 * launch's own would have (csb-monitor-spare.h): it is ready, or nearly. */
static gboolean
proxy_take_made_ahead (ProxyStart *start)
{
  CsbSandboxSpec *spec = start->spec;
  g_auto(GStrv) talk = NULL;
  CsbSpareProxy values = proxy_values (spec, &talk);
  g_autofree char *expected = g_build_filename (spec->runtime_dir, CSB_MONITOR_SPARE_PROXY_DIR,
                                                "bus", NULL);
  g_autofree char *socket_path = NULL;
  int sync_fd = -1;

  if (values.bus_address == NULL ||
      !csb_monitor_spare_take_proxy (spec->id, &values, &sync_fd, &socket_path))
    return FALSE;
  /* The spare's folder for this id is this sandbox's: always so. */
  if (g_strcmp0 (socket_path, expected) != 0)
    {
      close (sync_fd);
      return FALSE;
    }
  start->sync_fd = sync_fd;
  start->socket_path = g_steal_pointer (&socket_path);
  csb_trace ("spawn: proxy made ahead taken");
  return TRUE;
}

static void
proxy_start_begin (ProxyStart     *start,
                   CsbSandboxSpec *spec)
{
  *start = (ProxyStart) { .spec = spec, .sync_fd = -1 };
  if (proxy_take_made_ahead (start))
    return;
  start->socket_path = proxy_socket_path (spec);
  start->thread = g_thread_try_new ("csb-proxy-start", proxy_start_thread, start, NULL);
  if (start->thread == NULL)
    proxy_start_thread (start);
}

/* Waits for the proxy's start; FALSE (and @error set) if it failed. Idempotent. */
static gboolean
proxy_start_end (ProxyStart *start,
                 GError    **error)
{
  if (start->thread != NULL)
    g_thread_join (g_steal_pointer (&start->thread));
  if (start->error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&start->error));
      return FALSE;
    }
  return TRUE;
}

/* What the monitor said on its ready pipe: TRUE for "x" (bwrap runs), else why not. */
static gboolean
read_monitor_ready (int             fd,
                    CsbSandboxSpec *spec,
                    GError        **error)
{
  struct pollfd pfd = { fd, POLLIN, 0 };
  char buf[512];
  ssize_t n = 0;
  int r;

  /* The monitor may wait up to the proxy's own time-out, then the network stack's,
   * before it answers. */
  do
    r = poll (&pfd, 1, CSB_DBUS_PROXY_READY_TIMEOUT_MS + CSB_USER_NET_READY_TIMEOUT_MS + 5000);
  while (r < 0 && errno == EINTR);
  if (r > 0)
    n = read (fd, buf, sizeof buf - 1);
  if (n > 0 && buf[0] == 'x')
    return TRUE;
  if (n > 0 && buf[0] == 'P')
    {
      g_autofree char *message =
        csb_dbus_proxy_not_ready_message (g_environ_getenv (spec->environ,
                                                            "DBUS_SESSION_BUS_ADDRESS"));
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED, message);
    }
  else if (n > 1 && buf[0] == 'E')
    {
      g_autofree char *message = g_utf8_make_valid (buf + 1, n - 1);

      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "the sandbox's monitor failed: %s",
                   message);
    }
  else
    g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED,
                         "the sandbox's monitor did not start");
  return FALSE;
}

#define MONITOR_SOCKET "monitor.sock"

/* Connects to the sandbox's monitor (through its runtime folder, opened without
 * following links) and sends @first_line; the connected fd, or -1. The monitor must be
 * a host process of ours (csb-peer.c): a socket a sandbox planted in its place is not
 * talked to. */
static int
monitor_connect (CsbSandboxSpec *spec,
                 const char     *first_line,
                 GError        **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  g_autoptr(GError) local_error = NULL;
  int dir_fd = csb_sandbox_spec_open_dir (spec, TRUE, FALSE, &local_error);
  int fd = -1;
  int saved;

  if (dir_fd < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                   "the sandbox's monitor is gone: %s", local_error->message);
      return -1;
    }
  g_snprintf (addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/" MONITOR_SOCKET, dir_fd);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0)
    {
      saved = errno;
      g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                   "the sandbox's monitor is gone: %s", g_strerror (saved));
      goto fail;
    }
  if (!csb_peer_check_host (fd, &local_error))
    {
      g_warning ("sandbox %s: not talking to %s/" MONITOR_SOCKET ": %s", spec->id,
                 spec->runtime_dir, local_error->message);
      g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                   "the sandbox's monitor is gone (its socket is not the monitor's)");
      goto fail;
    }
  if (write (fd, first_line, strlen (first_line)) != (ssize_t) strlen (first_line))
    {
      saved = errno;
      g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                   "the sandbox's monitor is gone: %s", g_strerror (saved));
      goto fail;
    }
  close (dir_fd);
  return fd;

fail:
  close (dir_fd);
  if (fd >= 0)
    close (fd);
  return -1;
}

/* What a start holds while the spawn thread prepares the monitor: everything here is
 * either handed to the monitor (and so closed here once it runs) or undone by
 * spawn_cleanup() when the start fails. */
typedef struct
{
  CsbSandboxSpec *spec;
  CsbArgv        *args;            /* bwrap's, through the memfd */
  CsbArgv        *outer;           /* the monitor's command line and fds */
  GPtrArray      *protections;
  GArray         *hold_fds;        /* (element-type int) for the monitor to hold */
  char           *monitor;
  char           *init;
  char           *weston;          /* with a private display */
  char           *info_dir;        /* the proxy's instance folder, once made */
  GStrv           cgroups;
  gboolean        warming_up;         /* csb_cgroup_warm_up_end is due */
  ProxyStart      proxy;
  int             proxy_sync_target;  /* the proxy's pipe in bwrap, or -1 */
  int             args_target;        /* the memfd's number in the monitor and bwrap */
  int             ready_pipe[2];
  GPid            pid;                /* the monitor, once spawned */
} Spawn;

/* bwrap, weston for a private display, and our two helpers are there. */
static gboolean
spawn_find_programs (Spawn   *spawn,
                     GError **error)
{
  spawn->monitor = find_libexec ("claude-sandbox-monitor");
  spawn->init = find_libexec ("claude-sandbox-init");
  if (!g_file_test (bwrap_path (), G_FILE_TEST_IS_EXECUTABLE))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "bubblewrap is not installed (%s is missing); install the "
                   "'bubblewrap' package", bwrap_path ());
      return FALSE;
    }
  if (spawn->spec->options->private_display &&
      (spawn->weston = g_find_program_in_path ("weston")) == NULL)
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                           "a private display needs weston (its headless backend); "
                           "install the 'weston' package");
      return FALSE;
    }
  if (!g_file_test (spawn->monitor, G_FILE_TEST_IS_EXECUTABLE) ||
      !g_file_test (spawn->init, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "%s is missing; reinstall claude-sandbox",
                   g_file_test (spawn->monitor, G_FILE_TEST_IS_EXECUTABLE) ? spawn->init
                                                                           : spawn->monitor);
      return FALSE;
    }
  return TRUE;
}

/* The sandbox's cgroup, its D-Bus proxy (started beside the rest) and bwrap's
 * arguments with the seccomp filter and the session bus. */
static gboolean
spawn_prepare_sandbox (Spawn   *spawn,
                       GError **error)
{
  CsbSandboxSpec *spec = spawn->spec;
  int seccomp_fd;

  csb_trace ("spawn: thread runs");
  /* Its own cgroup (pids.max, memory), which bwrap joins before it runs; that join
   * waits for the kernel unless a warm-up has done so meanwhile (csb-cgroup.h). */
  spawn->cgroups = csb_cgroup_create_sandbox (spec->id, spec->settings, spawn->protections);
  /* The spare made for this id has its bwrap process in them already. */
  spawn->warming_up = !csb_monitor_spare_claimed_by (spec->id) && csb_cgroup_warm_up ();
  csb_trace ("spawn: cgroup made, warm-up started");
  /* The proxy first, beside the rest: it gets ready while the rest is prepared and
   * the monitor starts. */
  proxy_start_begin (&spawn->proxy, spec);
  if ((spawn->args = build_args (spec, spawn->protections, spawn->hold_fds, error)) == NULL)
    return FALSE;
  csb_trace ("spawn: arguments built");
  /* Network on: the monitor makes the sandbox's network namespace before bwrap, so
   * that the stack starts beside bwrap's set-up (csb-user-net.c); bwrap makes all
   * the other namespaces. */
  if (spec->options->network && spec->net_proxy_socket == NULL)
    csb_argv_add (spawn->args, "--share-net");
  if ((seccomp_fd = csb_seccomp_filter_fd (error)) < 0)
    return FALSE;
  csb_trace ("spawn: seccomp filter");
  csb_argv_add (spawn->args, "--seccomp");
  csb_argv_addf (spawn->args, "%d", csb_argv_take_fd (spawn->args, seccomp_fd));
  csb_protections_add (spawn->protections, "seccomp");
  csb_protections_add (spawn->protections, "no-system-bus");
  if (!proxy_start_end (&spawn->proxy, error))
    return FALSE;
  spawn->proxy_sync_target = add_session_bus (spec, spawn->args, spawn->protections,
                                              spawn->proxy.socket_path,
                                              g_steal_fd (&spawn->proxy.sync_fd));
  return TRUE;
}

/* The monitor's own options: its socket and status file, the cgroups bwrap joins,
 * the fds it passes on to bwrap (bwrap's arguments' memfd among them) or holds, the
 * runtime folder and the pipe on which it says how the start went. */
static gboolean
spawn_add_monitor_args (Spawn   *spawn,
                        GError **error)
{
  CsbSandboxSpec *spec = spawn->spec;
  CsbArgv *outer = spawn->outer;
  g_autofree char *status_path = g_build_filename (spec->state_dir, "monitor.json", NULL);
  g_autoptr(GBytes) data = csb_argv_to_nul_data (spawn->args);
  int args_fd, runtime_fd;

  /* The monitor passes every fd the arguments name on to bwrap at the same number. */
  csb_argv_add_args (outer, spawn->monitor, "--socket", MONITOR_SOCKET,
                     "--status", status_path, NULL);
  for (guint i = 0; spawn->cgroups[i] != NULL; i++)
    csb_argv_add_args (outer, "--cgroup", spawn->cgroups[i], NULL);
  for (guint i = 0; i < spawn->args->target_fds->len; i++)
    {
      csb_argv_add (outer, "--keep-fd");
      csb_argv_addf (outer, "%d", g_array_index (spawn->args->target_fds, int, i));
    }
  csb_argv_append_fds_of (outer, spawn->args);
  /* Held by the monitor, not passed on: the sandbox cannot close them early. */
  for (guint i = 0; i < spawn->hold_fds->len; i++)
    {
      csb_argv_add (outer, "--hold-fd");
      csb_argv_addf (outer, "%d",
                     csb_argv_take_fd (outer, g_array_index (spawn->hold_fds, int, i)));
    }
  g_array_set_size (spawn->hold_fds, 0);
  /* Numbered after bwrap's own fds, which keep theirs. */
  if ((args_fd = csb_file_sealed_memfd ("claude-sandbox-bwrap-args", data)) < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot pass arguments to bwrap: %s",
                   g_strerror (errno));
      return FALSE;
    }
  spawn->args_target = csb_argv_take_fd (outer, args_fd);
  if (!g_unix_open_pipe (spawn->ready_pipe, FD_CLOEXEC, error) ||
      (runtime_fd = csb_sandbox_spec_open_dir (spec, TRUE, FALSE, error)) < 0)
    return FALSE;
  csb_trace ("spawn: memfd written");
  csb_argv_add (outer, "--socket-dir-fd");
  csb_argv_addf (outer, "%d", csb_argv_take_fd (outer, runtime_fd));
  csb_argv_add (outer, "--keep-fd");
  csb_argv_addf (outer, "%d", spawn->args_target);
  csb_argv_add (outer, "--ready-fd");
  csb_argv_addf (outer, "%d", csb_argv_take_fd (outer, g_steal_fd (&spawn->ready_pipe[1])));
  return TRUE;
}

/* The proxy's pipe, which the monitor waits on, and bwrapinfo.json in its instance
 * folder, where newer portals find the sandbox of the app the proxy names. */
static gboolean
spawn_add_proxy_wait (Spawn   *spawn,
                      GError **error)
{
  g_autofree char *instance = NULL;
  g_autofree char *info = NULL;

  if (spawn->proxy_sync_target < 0)
    return TRUE;
  instance = csb_dbus_proxy_instance_id (spawn->spec->id);
  csb_argv_add (spawn->outer, "--wait-fd");
  csb_argv_addf (spawn->outer, "%d", spawn->proxy_sync_target);
  if ((spawn->info_dir = csb_dbus_proxy_make_instance_dir (g_get_user_runtime_dir (), instance,
                                                          error)) == NULL)
    return FALSE;
  info = g_build_filename (spawn->info_dir, "bwrapinfo.json", NULL);
  csb_argv_add_args (spawn->outer, "--bwrapinfo", info, NULL);
  return TRUE;
}

/* What the options ask the monitor to start beside bwrap: the network stack, the
 * private display's compositor, the review overlay. */
static gboolean
spawn_add_monitor_extras (Spawn   *spawn,
                          GError **error)
{
  CsbSandboxSpec *spec = spawn->spec;
  CsbArgv *outer = spawn->outer;

  if (spec->options->network && spec->net_proxy_socket == NULL)
    {
      CsbUserNetKind kind;
      g_autofree char *program = NULL;

      if (!csb_user_net_find (&kind, &program, error))
        return FALSE;
      csb_argv_add_args (outer, "--user-net", csb_user_net_kind_name (kind),
                         "--user-net-program", program, NULL);
    }
  if (spec->options->private_display)
    {
      g_autofree char *dir = csb_bwrap_private_display_dir (spec);
      int compositor_seccomp;

      csb_argv_add_args (outer, "--private-display", dir, "--compositor", spawn->weston,
                         "--compositor-bwrap", bwrap_path (), NULL);
      /* The compositor parses the sandbox's requests: it runs as confined as the
       * sandbox, under the same seccomp filter and Landlock scoping. */
      if ((compositor_seccomp = csb_seccomp_filter_fd (error)) < 0)
        return FALSE;
      csb_argv_add (outer, "--compositor-seccomp");
      csb_argv_addf (outer, "%d", csb_argv_take_fd (outer, compositor_seccomp));
      csb_argv_add_args (outer, "--compositor-init", spawn->init, NULL);
      if (csb_landlock_abi () >= CSB_LANDLOCK_SCOPE_ABI)
        csb_argv_add (outer, "--compositor-landlock");
      if (csb_compositor_has_x11 ())
        csb_argv_add (outer, "--compositor-x11");
    }
  if (spec->options->review)
    {
      g_autofree char *mount_helper = find_libexec ("claude-sandbox-review-mount");

      csb_argv_add_args (outer, "--review-mount", mount_helper,
                         "--review-target", spec->project_dir, NULL);
    }
  return TRUE;
}

/* The sandbox's terminal (the monitor makes a pty and logs it) or its stdio fds, then
 * bwrap and, inside, our init before the command. */
static void
spawn_add_command (Spawn *spawn)
{
  CsbSandboxSpec *spec = spawn->spec;
  CsbArgv *outer = spawn->outer;

  if (spec->stdio_is_pty)
    {
      g_autofree char *log_path = g_build_filename (spec->state_dir, CSB_TERMINAL_LOG, NULL);

      csb_argv_add_args (outer, "--pty", "--log", log_path, "--log-max", NULL);
      csb_argv_addf (outer, "%" G_GUINT64_FORMAT, csb_sandbox_spec_terminal_log_max (spec));
    }
  else
    {
      int in = csb_argv_take_fd (outer, g_steal_fd (&spec->stdio_fds[0]));
      int out = csb_argv_take_fd (outer, g_steal_fd (&spec->stdio_fds[1]));
      int err = csb_argv_take_fd (outer, g_steal_fd (&spec->stdio_fds[2]));

      csb_argv_add (outer, "--stdio");
      csb_argv_addf (outer, "%d,%d,%d", in, out, err);
    }
  csb_argv_add_args (outer, "--", bwrap_path (), "--args", NULL);
  csb_argv_addf (outer, "%d", spawn->args_target);
  /* bwrap takes the command from its own argv only. It is public anyway (the
   * Command property); everything else, secrets included, went through the memfd. */
  csb_argv_add (outer, "--");
  csb_argv_add (outer, SANDBOX_INIT);
  if (spec->stdio_is_pty)
    csb_argv_add (outer, "--tty");
  if (csb_landlock_abi () >= CSB_LANDLOCK_SCOPE_ABI)
    csb_argv_add (outer, "--landlock");
  if (spec->net_proxy_socket != NULL)
    csb_argv_add_args (outer, "--net", SANDBOX_NET_SOCKET, SANDBOX_NET_PORT, NULL);
  csb_argv_add (outer, "--");
  csb_argv_add_strv (outer, (const char * const *) spec->command);
}

/* Spawns the monitor with its fds; ours of them are closed then. */
static gboolean
spawn_monitor (Spawn   *spawn,
               GError **error)
{
  g_autofree char *trace_env = csb_trace_path () ? g_strconcat ("CSB_TRACE=", csb_trace_path (),
                                                                NULL) : NULL;
  const char * const envp[] = { trace_env, NULL };
  CsbArgv *outer = spawn->outer;

  /* The spare started after the last launch, if there is one (csb-monitor-spare.h). */
  if (!csb_monitor_spare_spawn (outer, envp, spawn->spec->id, &spawn->pid, error))
    {
      spawn->pid = 0;
      g_prefix_error (error, "cannot start the sandbox's monitor: ");
      return FALSE;
    }
  csb_trace ("spawn: monitor spawned");
  /* Ours are closed: the monitor and bwrap hold them now (the proxy's pipe too). */
  g_clear_pointer (&spawn->outer, csb_argv_free);
  return TRUE;
}

/* A spare monitor for the next launch, its network made ahead if this launch's was a
 * user-mode stack: launches one after another tend to be alike (csb-monitor-spare.h). */
static void
spawn_replenish_spare (Spawn *spawn)
{
  CsbSandboxSpec *spec = spawn->spec;
  g_autofree char *trace_env = csb_trace_path () ? g_strconcat ("CSB_TRACE=", csb_trace_path (),
                                                                NULL) : NULL;
  const char * const envp[] = { trace_env, NULL };
  g_autofree char *program = NULL;
  g_auto(GStrv) talk = NULL;
  CsbSpareProxy proxy = proxy_values (spec, &talk);
  CsbUserNetKind kind;
  gboolean net = spec->options->network && spec->net_proxy_socket == NULL &&
                 csb_user_net_find (&kind, &program, NULL);

  csb_monitor_spare_replenish (spawn->monitor, envp, net ? csb_user_net_kind_name (kind) : NULL,
                               net ? program : NULL, spec->settings, &proxy);
}

/* Undoes a start that failed: the monitor killed, the proxy left to end, the
 * cgroup and instance folder removed, every fd still ours closed. */
static void
spawn_cleanup_failed (Spawn *spawn)
{
  if (spawn->pid > 0)
    {
      kill (spawn->pid, SIGKILL);
      waitpid (spawn->pid, NULL, 0);
    }
  /* A start still under way is waited for: its pipe and pid are ours to end. */
  proxy_start_end (&spawn->proxy, NULL);
  if (spawn->proxy.sync_fd >= 0)
    close (spawn->proxy.sync_fd);
  for (guint i = 0; i < spawn->hold_fds->len; i++)
    close (g_array_index (spawn->hold_fds, int, i));
  if (spawn->info_dir != NULL)
    rmdir (spawn->info_dir);
  /* Closes the proxy's pipe if we still hold it: the proxy exits. */
  g_clear_pointer (&spawn->outer, csb_argv_free);
  g_clear_pointer (&spawn->args, csb_argv_free);
  reap_proxy (spawn->proxy.pid);
  if (spawn->cgroups != NULL)
    csb_cgroup_remove_sandbox (spawn->spec->id);
}

/* Frees what the spawn still holds (after spawn_cleanup_failed() when it failed). */
static void
spawn_clear (Spawn *spawn)
{
  /* The monitor said how bwrap's start went: it has joined the cgroup, or never will. */
  if (spawn->warming_up)
    csb_cgroup_warm_up_end ();
  if (spawn->ready_pipe[0] >= 0)
    close (spawn->ready_pipe[0]);
  if (spawn->ready_pipe[1] >= 0)
    close (spawn->ready_pipe[1]);
  g_clear_pointer (&spawn->outer, csb_argv_free);
  g_clear_pointer (&spawn->args, csb_argv_free);
  g_clear_pointer (&spawn->protections, g_ptr_array_unref);
  g_clear_pointer (&spawn->hold_fds, g_array_unref);
  g_clear_pointer (&spawn->monitor, g_free);
  g_clear_pointer (&spawn->init, g_free);
  g_clear_pointer (&spawn->weston, g_free);
  g_clear_pointer (&spawn->info_dir, g_free);
  g_clear_pointer (&spawn->cgroups, g_strfreev);
  g_clear_pointer (&spawn->proxy.socket_path, g_free);
}

/* Prepares the sandbox's bwrap and its monitor, spawns the monitor and returns once
 * it says bwrap runs (a SpawnResult) or why it does not. */
static void
spawn_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  Spawn spawn = {
    .spec = task_data,
    .outer = csb_argv_new (),
    .protections = g_ptr_array_new_with_free_func (g_free),
    .hold_fds = g_array_new (FALSE, FALSE, sizeof (int)),
    .proxy = { .sync_fd = -1 },
    .proxy_sync_target = -1,
    .ready_pipe = { -1, -1 },
  };
  g_autoptr(GError) error = NULL;
  SpawnResult *result;
  int control_fd;

  if (!spawn_find_programs (&spawn, &error))
    {
      spawn_clear (&spawn);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (!spawn_prepare_sandbox (&spawn, &error) ||
      !spawn_add_monitor_args (&spawn, &error) ||
      !spawn_add_proxy_wait (&spawn, &error) ||
      !spawn_add_monitor_extras (&spawn, &error))
    goto fail;
  spawn_add_command (&spawn);
  /* The monitor's child joins the cgroup a few ms from now. */
  if (spawn.warming_up)
    csb_cgroup_warm_up_join_soon ();
  if (!spawn_monitor (&spawn, &error) ||
      !read_monitor_ready (spawn.ready_pipe[0], spawn.spec, &error) ||
      (control_fd = monitor_connect (spawn.spec, "WATCH\n", &error)) < 0)
    goto fail;
  csb_trace ("spawn: monitor ready and connected");
  /* The proxy dies with the sandbox (bwrap holds its pipe); reaping it is the job of
   * whoever is its parent then, us or init. */
  if (spawn.proxy.pid > 0)
    g_child_watch_add (spawn.proxy.pid, (GChildWatchFunc) g_spawn_close_pid, NULL);

  g_ptr_array_add (spawn.protections, NULL);
  result = g_new0 (SpawnResult, 1);
  result->monitor_pid = spawn.pid;
  result->control_fd = control_fd;
  result->protections = (GStrv) g_ptr_array_free (g_steal_pointer (&spawn.protections), FALSE);
  g_task_return_pointer (task, result, (GDestroyNotify) spawn_result_free);
  /* The next launch's monitor, while this one's sandbox runs. */
  spawn_replenish_spare (&spawn);
  spawn_clear (&spawn);
  return;

fail:
  spawn_cleanup_failed (&spawn);
  spawn_clear (&spawn);
  g_task_return_error (task, g_steal_pointer (&error));
}

/* ---- watching (through the monitor) ------------------------------------------------- */

static void
cleanup_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  CsbBwrapBackend *self = source_object;
  CsbSandboxSpec *spec = self->spec;
  g_autoptr(GError) error = NULL;

  /* What the sandbox wrote is hostile: a refusal is logged, never fatal. */
  if (self->claude_home && !csb_claude_home_write_back (spec->project_dir, &error))
    g_message ("sandbox %s: its login was not written back: %s", spec->id, error->message);
  g_task_return_boolean (task, TRUE);
}

static void
cleanup_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  CsbBwrapBackend *self = CSB_BWRAP_BACKEND (source);

  csb_backend_emit_exited (CSB_BACKEND (self), self->exit_status, self->exit_error);
  /* The monitor removes them as it ends; this is for a monitor that was killed. After
   * the end is told: the kernel lets the sandbox's last task leave its cgroup a moment
   * after it was reaped, which the Exited signal need not wait for. */
  csb_cgroup_remove_sandbox_later (self->spec->id);
}

/* The exit status the monitor recorded, when its socket is gone. */
static int
read_recorded_exit (CsbBwrapBackend *self)
{
  g_autofree char *path = g_build_filename (self->spec->state_dir, "monitor.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();

  if (json_parser_load_from_mapped_file (parser, path, NULL) &&
      JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      JsonObject *object = json_node_get_object (json_parser_get_root (parser));

      if (json_object_has_member (object, "exit-status"))
        return json_object_get_int_member (object, "exit-status");
    }
  return -1;
}

static void
fail_start (CsbBwrapBackend *self)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->start_task);

  g_task_return_new_error (task, CSB_ERROR, CSB_ERROR_FAILED,
                           "bwrap could not set up the sandbox (exit status %d)",
                           self->exit_status);
}

static void
sandbox_ended (CsbBwrapBackend *self,
               int              status,
               const char      *error_message)
{
  g_autoptr(GTask) cleanup = NULL;

  if (self->ended)
    return;
  self->ended = TRUE;
  g_cancellable_cancel (self->cancellable);
  csb_backend_set_pid (CSB_BACKEND (self), 0);

  if (self->start_task != NULL)
    {
      /* bwrap ended before the command started: a set-up error, which bwrap printed
       * on the sandbox's stderr (the terminal log, with a pty). Reported once the
       * monitor is gone too, so a failed launch leaves nothing behind. */
      self->exit_status = status;
      if (self->monitor_pid == 0)
        fail_start (self);
      return;
    }
  self->exit_status = status;
  self->exit_error = g_strdup (error_message);
  cleanup = g_task_new (self, NULL, cleanup_done, NULL);
  g_task_run_in_thread (cleanup, cleanup_thread);
}

static void read_control_line (CsbBwrapBackend *self);

static void
on_control_line (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(CsbBwrapBackend) self = user_data;
  g_autofree char *line = NULL;
  g_autoptr(GError) error = NULL;
  gint64 value;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result,
                                                    NULL, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (line == NULL)
    {
      /* The monitor left without telling us the end: it recorded it, or it died. */
      int status = read_recorded_exit (self);

      if (status >= 0)
        sandbox_ended (self, status, NULL);
      else
        sandbox_ended (self, 255, "the sandbox's monitor died");
      return;
    }

  csb_trace ("control: %s", line);
  if (g_str_has_prefix (line, "PID ") &&
      g_ascii_string_to_signed (line + 4, 10, 1, G_MAXINT, &value, NULL))
    {
      self->child_pid = value;
      csb_backend_set_pid (CSB_BACKEND (self), self->child_pid);
      if (self->start_task != NULL)
        {
          g_autoptr(GTask) task = g_steal_pointer (&self->start_task);
          g_task_return_boolean (task, TRUE);
        }
    }
  else if (g_str_has_prefix (line, "EXIT ") &&
           g_ascii_string_to_signed (line + 5, 10, 0, 255, &value, NULL))
    {
      sandbox_ended (self, value, NULL);
      return;
    }
  read_control_line (self);
}

static void
read_control_line (CsbBwrapBackend *self)
{
  g_data_input_stream_read_line_async (self->control_reader, G_PRIORITY_DEFAULT,
                                       self->cancellable, on_control_line,
                                       g_object_ref (self));
}

static void
on_monitor_exited (GPid     pid,
                   int      wait_status,
                   gpointer user_data)
{
  CsbBwrapBackend *self = user_data;

  g_spawn_close_pid (pid);
  self->monitor_pid = 0;
  if (self->ended && self->start_task != NULL)
    fail_start (self);
}

static void
watch_control (CsbBwrapBackend *self,
               int              control_fd)
{
  g_autoptr(GSocket) socket = g_socket_new_from_fd (control_fd, NULL);

  if (socket == NULL)
    {
      close (control_fd);
      sandbox_ended (self, 255, "cannot talk to the sandbox's monitor");
      return;
    }
  self->control = g_socket_connection_factory_create_connection (socket);
  self->control_reader = g_data_input_stream_new (
    g_io_stream_get_input_stream (G_IO_STREAM (self->control)));
  g_data_input_stream_set_newline_type (self->control_reader, G_DATA_STREAM_NEWLINE_TYPE_LF);
  read_control_line (self);
}

static void
send_control (CsbBwrapBackend *self,
              const char      *line)
{
  GOutputStream *out;

  if (self->control == NULL)
    return;
  out = g_io_stream_get_output_stream (G_IO_STREAM (self->control));
  /* A short line into a local socket's buffer: it does not block. */
  g_output_stream_write_all (out, line, strlen (line), NULL, NULL, NULL);
}

static void
on_spawned (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  CsbBwrapBackend *self = CSB_BWRAP_BACKEND (source);
  g_autoptr(GError) error = NULL;
  SpawnResult *spawned;

  spawned = g_task_propagate_pointer (G_TASK (result), &error);
  if (spawned == NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->start_task);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  self->protections = g_steal_pointer (&spawned->protections);
  self->claude_home = TRUE;
  self->monitor_pid = spawned->monitor_pid;
  g_child_watch_add_full (G_PRIORITY_DEFAULT, spawned->monitor_pid, on_monitor_exited,
                          g_object_ref (self), g_object_unref);
  watch_control (self, g_steal_fd (&spawned->control_fd));
  spawn_result_free (spawned);
}

static void
csb_bwrap_backend_start_async (CsbBackend         *backend,
                               CsbSandboxSpec     *spec,
                               GCancellable       *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer            user_data)
{
  CsbBwrapBackend *self = CSB_BWRAP_BACKEND (backend);
  g_autoptr(GTask) spawn = NULL;

  g_return_if_fail (self->start_task == NULL);

  self->spec = spec;
  self->start_task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (self->start_task, csb_bwrap_backend_start_async);

  spawn = g_task_new (self, self->cancellable, on_spawned, NULL);
  g_task_set_task_data (spawn, spec, NULL);
  g_task_run_in_thread (spawn, spawn_thread);
}

static gboolean
csb_bwrap_backend_start_finish (CsbBackend   *backend,
                                GAsyncResult *result,
                                GError      **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
on_adopted_gone (gpointer user_data)
{
  CsbBwrapBackend *self = user_data;
  int status = read_recorded_exit (self);

  if (status >= 0)
    sandbox_ended (self, status, NULL);
  else
    sandbox_ended (self, 255, "the sandbox's monitor died while the service was away");
  return G_SOURCE_REMOVE;
}

/* A sandbox a previous service started: its monitor still holds it, or has left
 * its exit status behind. */
static gboolean
csb_bwrap_backend_adopt (CsbBackend         *backend,
                         CsbSandboxSpec     *spec,
                         const char * const *protections,
                         GError            **error)
{
  CsbBwrapBackend *self = CSB_BWRAP_BACKEND (backend);
  int control_fd;

  self->spec = spec;
  self->protections = g_strdupv ((char **) protections);
  self->claude_home = TRUE;
  control_fd = monitor_connect (spec, "WATCH\n", NULL);
  if (control_fd < 0)
    g_idle_add_full (G_PRIORITY_DEFAULT, on_adopted_gone, g_object_ref (self), g_object_unref);
  else
    watch_control (self, control_fd);
  return TRUE;
}

/* ---- stopping and the terminal --------------------------------------------------------- */

static void
csb_bwrap_backend_stop (CsbBackend *backend,
                        guint       timeout_s)
{
  CsbBwrapBackend *self = CSB_BWRAP_BACKEND (backend);
  g_autofree char *line = g_strdup_printf ("STOP %u\n", timeout_s);

  /* The monitor keeps the grace period, so a stop survives the service too. */
  send_control (self, line);
}

static int
csb_bwrap_backend_open_terminal (CsbBackend *backend,
                                 GError    **error)
{
  CsbBwrapBackend *self = CSB_BWRAP_BACKEND (backend);

  return monitor_connect (self->spec, "ATTACH\n", error);
}

static gboolean
csb_bwrap_backend_resize_terminal (CsbBackend *backend,
                                   guint16     columns,
                                   guint16     rows,
                                   GError    **error)
{
  CsbBwrapBackend *self = CSB_BWRAP_BACKEND (backend);
  g_autofree char *line = g_strdup_printf ("RESIZE %u %u\n", columns, rows);

  if (self->ended)
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                           "the sandbox's terminal is closed");
      return FALSE;
    }
  send_control (self, line);
  return TRUE;
}

static GStrv
csb_bwrap_backend_get_protections (CsbBackend *backend)
{
  CsbBwrapBackend *self = CSB_BWRAP_BACKEND (backend);

  return self->protections ? g_strdupv (self->protections) : g_new0 (char *, 1);
}

static gboolean
csb_bwrap_backend_check_available (CsbBackendClass *klass,
                                   GSettings       *settings,
                                   char           **detail)
{
  g_autofree char *out = NULL;
  int wait_status;
  const char *argv[] = { bwrap_path (), "--version", NULL };

  if (!g_file_test (bwrap_path (), G_FILE_TEST_IS_EXECUTABLE))
    {
      *detail = g_strdup_printf ("bubblewrap is not installed (%s is missing); install the "
                                 "'bubblewrap' package", bwrap_path ());
      return FALSE;
    }
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                     &out, NULL, &wait_status, NULL) ||
      !g_spawn_check_wait_status (wait_status, NULL))
    {
      *detail = g_strdup_printf ("%s does not run", bwrap_path ());
      return FALSE;
    }
  *detail = g_strdup_printf ("%s namespaces (%s), shared kernel", g_strstrip (out),
                             bwrap_path ());
  return TRUE;
}

static void
csb_bwrap_backend_dispose (GObject *object)
{
  CsbBwrapBackend *self = CSB_BWRAP_BACKEND (object);

  g_cancellable_cancel (self->cancellable);
  if (self->control != NULL)
    g_io_stream_close (G_IO_STREAM (self->control), NULL, NULL);
  g_clear_object (&self->control_reader);
  g_clear_object (&self->control);
  G_OBJECT_CLASS (csb_bwrap_backend_parent_class)->dispose (object);
}

static void
csb_bwrap_backend_finalize (GObject *object)
{
  CsbBwrapBackend *self = CSB_BWRAP_BACKEND (object);

  g_clear_object (&self->cancellable);
  g_free (self->exit_error);
  g_strfreev (self->protections);
  G_OBJECT_CLASS (csb_bwrap_backend_parent_class)->finalize (object);
}

static void
csb_bwrap_backend_class_init (CsbBwrapBackendClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  CsbBackendClass *backend_class = CSB_BACKEND_CLASS (klass);

  object_class->dispose = csb_bwrap_backend_dispose;
  object_class->finalize = csb_bwrap_backend_finalize;

  backend_class->name = "bwrap";
  backend_class->check_available = csb_bwrap_backend_check_available;
  backend_class->start_async = csb_bwrap_backend_start_async;
  backend_class->start_finish = csb_bwrap_backend_start_finish;
  backend_class->stop = csb_bwrap_backend_stop;
  backend_class->get_protections = csb_bwrap_backend_get_protections;
  backend_class->owns_terminal = TRUE;
  backend_class->filters_network = TRUE;
  backend_class->open_terminal = csb_bwrap_backend_open_terminal;
  backend_class->resize_terminal = csb_bwrap_backend_resize_terminal;
  backend_class->adopt = csb_bwrap_backend_adopt;
}

static void
csb_bwrap_backend_init (CsbBwrapBackend *self)
{
  self->cancellable = g_cancellable_new ();
}
