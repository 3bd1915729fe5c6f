/* csb-container-backend.c
 *
 * One transient libvirt-LXC domain per sandbox on lxc:///system. Containers
 * need root to set up; the root libvirtd holds it, and polkit decides whether
 * the user may ask it (action org.libvirt.unix.manage): this service never runs
 * as root and never asks for it itself.
 *
 * The container's root is a fresh folder of ours in the sandbox's runtime
 * folder, read-only inside, holding only mount points and a curated /etc; on it
 * libvirt mounts the host's /usr (and /opt) read-only, tmpfs layers for /tmp,
 * /var/tmp, /run and $HOME, and binds for the project (rw, at its path), the
 * project's Claude home at ~/.claude (rw, copies of the user's settings ro over
 * it), git and ssh config (ro) and the control folder. A user namespace maps container
 * root to an unprivileged host id and the sandbox's user to the real user, so
 * files keep their owner on both sides.
 *
 * Our init (container/csb-container-init.c) reads the plan, secrets included,
 * from a 0700 control folder and deletes it: nothing of it is in the domain
 * XML, an argv or a log. It runs the command on the container's console as the
 * user without capabilities, and writes "started" and the exit status back.
 *
 * Every libvirt call runs in a worker thread; libvirt-glib's event loop
 * integration delivers lifecycle events on the main loop; the console is
 * bridged to the sandbox's stdio by csb-console-bridge.c.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "csb-module-api.h"
#include "csb-container-backend.h"
#include "csb-container-domain.h"
#include "csb-domain-run.h"
#include "csb-libvirt.h"

#define HOSTNAME "claude-sandbox"
#define CTL_INSIDE "/run/claude-sandbox-ctl"
#define STATE_INSIDE "/run/claude-sandbox"
/* The sandbox's uid inside when the real user is root: container root must
 * not be host root, so the user who maps to host root is another id. */
#define ROOT_USER_INSIDE 1000
/* Container root's host id when the user has no range in /etc/subuid. */
#define DEFAULT_ROOT_BASE 0x6fff0000u

struct _CsbContainerBackend
{
  CsbBackend        parent_instance;

  CsbDomainRun      run;           /* the domain, from its start to its end */
  char             *root_dir;
  /* Its private display, started with it on the main thread (the compositor ends
   * with the thread that started it), ended with it (cleanup, or on_started when the
   * start failed); NULL: none. */
  CsbPrivateDisplay *display;
};

G_DEFINE_FINAL_TYPE (CsbContainerBackend, csb_container_backend, CSB_TYPE_BACKEND)

/* ---- helpers ------------------------------------------------------------------------ */

static char *
find_container_init (GError **error)
{
  return csb_helper_path ("CSB_CONTAINER_INIT", "claude-sandbox-container-init", error);
}

static gboolean
lxc_driver_installed (void)
{
  const char *dirs[] = { "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                         "/usr/lib64", "/usr/lib", NULL };

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dirs[i], "libvirt", "connection-driver",
                                                "libvirt_driver_lxc.so", NULL);
      if (g_file_test (path, G_FILE_TEST_EXISTS))
        return TRUE;
    }
  return FALSE;
}

char *
csb_container_explain_connect_error (const char *message)
{
  if (message == NULL)
    message = "unknown error";
  if (strstr (message, "no connection driver") != NULL)
    return g_strdup_printf ("libvirt's LXC driver is not installed (install "
                            "libvirt-daemon-driver-lxc, then restart libvirtd): %s", message);
  if (strstr (message, "Failed to connect socket") != NULL ||
      (strstr (message, "No such file or directory") != NULL && strstr (message, "sock") != NULL))
    return g_strdup_printf ("the system libvirt daemon is not running (as root: libvirtd -d, "
                            "or start the libvirtd service): %s", message);
  if (strstr (message, "system bus") != NULL)
    return g_strdup_printf ("not authorised: libvirt asks polkit whether you may manage "
                            CSB_CONTAINER_URI " (action org.libvirt.unix.manage) and polkit "
                            "cannot be reached (no system bus); see README, "
                            "'Container backend': %s", message);
  if (strstr (message, "no polkit agent") != NULL ||
      strstr (message, "authentication unavailable") != NULL)
    return g_strdup_printf ("not authorised: no polkit agent can ask you for the "
                            "org.libvirt.unix.manage authorisation, and no polkit rule grants "
                            "it (see data/50-claude-sandbox-libvirt.rules.example): %s", message);
  if (strstr (message, "access denied") != NULL || strstr (message, "not authorized") != NULL ||
      strstr (message, "authentication failed") != NULL ||
      strstr (message, "Permission denied") != NULL)
    return g_strdup_printf ("not authorised: polkit denied you org.libvirt.unix.manage on "
                            CSB_CONTAINER_URI " (see data/50-claude-sandbox-libvirt.rules.example): "
                            "%s", message);
  return g_strdup_printf ("cannot connect to libvirt at " CSB_CONTAINER_URI ": %s", message);
}

static virConnectPtr
open_connection (GError **error)
{
  g_autoptr(GError) local_error = NULL;
  virConnectPtr conn = csb_libvirt_open (CSB_CONTAINER_URI, &local_error);

  if (conn == NULL)
    {
      virErrorPtr err = virGetLastError ();
      g_autofree char *why = csb_container_explain_connect_error (err ? err->message : NULL);

      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE, why);
    }
  return conn;
}

/* Container root's host id: the start of the user's range in /etc/subuid (or
 * subgid), else a fixed high id no account uses. */
static guint32
root_base (const char *file)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  g_autofree char *uid = g_strdup_printf ("%u", (guint) getuid ());
  const char *user = g_get_user_name ();

  if (getuid () != 0 && g_file_get_contents (file, &contents, NULL, NULL))
    {
      lines = g_strsplit (contents, "\n", -1);
      for (guint i = 0; lines[i] != NULL; i++)
        {
          g_auto(GStrv) f = g_strsplit (lines[i], ":", 3);

          if (g_strv_length (f) == 3 && (g_str_equal (f[0], user) || g_str_equal (f[0], uid)) &&
              g_ascii_strtoull (f[1], NULL, 10) > 0)
            return (guint32) g_ascii_strtoull (f[1], NULL, 10);
        }
    }
  return DEFAULT_ROOT_BASE;
}

/* ---- the container's file system and plan ---------------------------------------- */

typedef struct
{
  CsbSandboxSpec           *spec;
  CsbContainerDomainConfig *domain;
  GPtrArray                *protections;
  GByteArray               *plan;
  char                     *root_dir;
  char                     *home;
  char                     *run_user;
} Setup;

/* Whether @path lies in a file system mounted before it (then libvirt creates
 * its mount point there), rather than in our read-only root. */
static gboolean
under_mount (Setup      *setup,
             const char *path)
{
  for (guint i = 1; i < setup->domain->filesystems->len; i++)
    {
      CsbContainerFs *fs = g_ptr_array_index (setup->domain->filesystems, i);
      gsize len = strlen (fs->target);

      if (g_str_has_prefix (path, fs->target) && path[len] == '/')
        return TRUE;
    }
  return FALSE;
}

/* The mount point of @target in the root folder, unless another mount holds it. */
static gboolean
add_mount_point (Setup      *setup,
                 const char *target,
                 gboolean    is_dir,
                 GError    **error)
{
  g_autofree char *path = g_build_filename (setup->root_dir, target, NULL);
  g_autofree char *parent = g_path_get_dirname (path);

  if (under_mount (setup, target))
    return TRUE;
  if (g_mkdir_with_parents (is_dir ? path : parent, 0755) != 0)
    goto fail;
  if (!is_dir && !g_file_test (path, G_FILE_TEST_EXISTS))
    {
      int fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0)
        goto fail;
      close (fd);
    }
  return TRUE;

fail:
  g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create '%s': %s", path,
               g_strerror (errno));
  return FALSE;
}

/* Folders between $HOME and @target that libvirt creates for a mount point are
 * container root's: the init gives them to the user. */
static void
own_parents_in_home (Setup      *setup,
                     const char *target)
{
  g_autofree char *dir = g_path_get_dirname (target);
  g_autoptr(GPtrArray) parents = g_ptr_array_new_with_free_func (g_free);

  while (g_str_has_prefix (dir, setup->home) && strlen (dir) > strlen (setup->home))
    {
      char *up = g_path_get_dirname (dir);
      g_ptr_array_insert (parents, 0, g_steal_pointer (&dir));
      dir = up;
    }
  for (guint i = 0; i < parents->len; i++)
    {
      const char *p = g_ptr_array_index (parents, i);
      gboolean mounted = FALSE;

      for (guint j = 0; j < setup->domain->filesystems->len; j++)
        {
          CsbContainerFs *fs = g_ptr_array_index (setup->domain->filesystems, j);
          if (g_str_equal (fs->target, p))
            mounted = TRUE;
        }
      if (!mounted)
        csb_plan_add (setup->plan, CSB_PLAN_OWN, p, "0755", NULL);
    }
}

static gboolean add_tmpfs (Setup *setup, const char *target, guint size_mib, GError **error);

/* Whether a file system of the domain is mounted at @path. */
static gboolean
is_fs_target (Setup      *setup,
              const char *path)
{
  for (guint i = 0; i < setup->domain->filesystems->len; i++)
    if (g_str_equal (((CsbContainerFs *) g_ptr_array_index (setup->domain->filesystems, i))->target,
                     path))
      return TRUE;
  return FALSE;
}

static gboolean
add_bind (Setup      *setup,
          const char *source,
          const char *target,
          gboolean    readonly,
          GError    **error)
{
  gboolean is_dir = g_file_test (source, G_FILE_TEST_IS_DIR);
  g_autofree char *parent = g_path_get_dirname (target);

  /* libvirt makes the mount point of a file in a file system mounted before, but
   * not its folder (~/.ssh for ~/.ssh/config in the home's tmpfs): a small tmpfs
   * of the user's there makes it. */
  if (!is_dir && under_mount (setup, target) && !is_fs_target (setup, parent) &&
      under_mount (setup, parent))
    {
      if (!add_tmpfs (setup, parent, 16, error))
        return FALSE;
      csb_plan_add (setup->plan, CSB_PLAN_OWN, parent, "0700", NULL);
    }
  if (!add_mount_point (setup, target, is_dir, error))
    return FALSE;
  csb_container_domain_config_add_fs (setup->domain, source, target, readonly);
  if (g_str_has_prefix (target, setup->home))
    own_parents_in_home (setup, target);
  return TRUE;
}

static gboolean
add_tmpfs (Setup      *setup,
           const char *target,
           guint       size_mib,
           GError    **error)
{
  if (!add_mount_point (setup, target, TRUE, error))
    return FALSE;
  csb_container_domain_config_add_tmpfs (setup->domain, target, size_mib);
  return TRUE;
}

/* Review mode (csb_layout_project_review): the project read-only and the sandbox's
 * review folder (csb-review.c) read-write are bound below @stage, where only the
 * init looks; the init mounts overlayfs over them at @dest, the project's path
 * (container root has every capability in the container's user namespace, which
 * owns its mount namespace), and detaches them. */
static gboolean
add_overlay (Setup      *setup,
             const char *stage,
             const char *dest,
             GError    **error)
{
  g_autofree char *lower = g_build_filename (stage, "lower", NULL);
  g_autofree char *rw = g_build_filename (stage, "rw", NULL);

  if (!add_mount_point (setup, dest, TRUE, error))
    return FALSE;
  if (g_str_has_prefix (dest, setup->home))
    own_parents_in_home (setup, dest);
  csb_plan_add (setup->plan, CSB_PLAN_REVIEW, lower, rw, dest, NULL);
  return TRUE;
}

/* The container's translator of a layout (csb-layout.c): binds and tmpfs folders
 * as libvirt's file systems, symlinks and ownership in the plan. */
static gboolean
add_layout_entry (CsbLayoutKind   kind,
                  const char     *source,
                  const char     *dest,
                  guint           mode,
                  gpointer        user_data,
                  GError        **error)
{
  Setup *setup = user_data;

  switch (kind)
    {
    case CSB_LAYOUT_BIND_RO:
    case CSB_LAYOUT_BIND_RW:
    case CSB_LAYOUT_SOCKET:
      return add_bind (setup, source, dest, kind == CSB_LAYOUT_BIND_RO, error);
    case CSB_LAYOUT_TMPFS:
      {
        g_autofree char *text = g_strdup_printf ("%04o", mode != 0 ? mode : 0755);

        if (!add_tmpfs (setup, dest, 4096, error))
          return FALSE;
        csb_plan_add (setup->plan, CSB_PLAN_OWN, dest, text, NULL);
        return TRUE;
      }
    case CSB_LAYOUT_DIR:
      return add_mount_point (setup, dest, TRUE, error);
    case CSB_LAYOUT_SYMLINK:
      csb_plan_add (setup->plan, CSB_PLAN_SYMLINK, source, dest, NULL);
      return TRUE;
    case CSB_LAYOUT_OVERLAY:
      return add_overlay (setup, source, dest, error);
    default:
      g_assert_not_reached ();
    }
}

/* A layout (csb-layout.c) in the container: its entries through add_layout_entry,
 * the project's protected ones in the plan for the init (@uid, @gid: the user
 * inside), and the protections they give. */
static gboolean
translate_layout (Setup      *setup,
                  CsbLayout  *layout,
                  guint32     uid,
                  guint32     gid,
                  GError    **error)
{
  if (!csb_layout_foreach (layout, add_layout_entry, setup, error))
    return FALSE;
  csb_layout_append_init_plan (layout, setup->plan, uid, gid);
  csb_layout_add_protections (layout, setup->protections);
  return TRUE;
}

/* The container's translator of the host's programs (csb_layout_expose_host_usr):
 * folders as libvirt's file systems, the merged-/usr links made in our root
 * folder (read-only inside, so the init could not make them). */
static gboolean
add_usr_entry (CsbLayoutKind   kind,
               const char     *source,
               const char     *dest,
               guint           mode,
               gpointer        user_data,
               GError        **error)
{
  Setup *setup = user_data;

  if (kind == CSB_LAYOUT_SYMLINK)
    {
      g_autofree char *link = g_build_filename (setup->root_dir, dest, NULL);

      if (symlink (source, link) != 0 && errno != EEXIST)
        g_debug ("cannot link %s: %s", link, g_strerror (errno));
      return TRUE;
    }
  g_assert (kind == CSB_LAYOUT_BIND_RO);
  return add_bind (setup, source, dest, TRUE, error);
}

static gboolean
visible_as_host_path (const char *path)
{
  return g_str_has_prefix (path, "/usr/") || g_str_has_prefix (path, "/opt/") ||
         g_str_has_prefix (path, "/nix/store/");
}

/* Container root is an unprivileged host id; the user is the user (@user's ids
 * inside). The root is our folder, read-only inside, with mount points and the
 * sandbox's own /etc (the host's allowlisted entries, the user, resolv.conf). */
static gboolean
make_root (Setup              *setup,
           const CsbStageUser *user,
           GError            **error)
{
  g_autofree char *etc = g_build_filename (setup->root_dir, "etc", NULL);
  g_autofree char *resolv = NULL;
  static const char * const dirs[] = { "proc", "sys", "dev", NULL };

  csb_container_domain_config_map_ids (setup->domain, 0, root_base ("/etc/subuid"),
                                       0, root_base ("/etc/subgid"));
  csb_container_domain_config_map_ids (setup->domain, user->uid, getuid (), user->gid,
                                       getgid ());
  csb_protections_add (setup->protections, "user-namespace");

  if (g_mkdir_with_parents (setup->root_dir, 0755) != 0 || chmod (setup->root_dir, 0755) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create '%s': %s",
                   setup->root_dir, g_strerror (errno));
      return FALSE;
    }
  csb_container_domain_config_add_fs (setup->domain, setup->root_dir, "/", TRUE);
  csb_protections_add (setup->protections, "own-root");
  if (!setup->spec->options->network ||
      !g_file_get_contents ("/etc/resolv.conf", &resolv, NULL, NULL))
    resolv = g_strdup ("");
  if (!csb_stage_etc (etc, TRUE, user, HOSTNAME, resolv, error))
    return FALSE;
  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (setup->root_dir, dirs[i], NULL);
      g_mkdir_with_parents (path, 0755);
    }
  return TRUE;
}

/* The host's programs, read-only, as bwrap and the VM show them: one layout
 * (csb-layout.c); the writable layer, tmpfs gone with the container; a fresh home
 * with only git's and ssh's configuration, read-only (gh's only with the token),
 * as bwrap's: one layout. */
static gboolean
add_system_and_home (Setup   *setup,
                     GError **error)
{
  g_autoptr(CsbLayout) programs = csb_layout_new ();
  g_autoptr(CsbLayout) home = csb_layout_new ();
  g_autofree char *var_run = g_build_filename (setup->root_dir, "var", "run", NULL);

  csb_layout_expose_host_usr (programs);
  if (!csb_layout_foreach (programs, add_usr_entry, setup, error))
    return FALSE;
  csb_layout_add_protections (programs, setup->protections);

  if (!add_tmpfs (setup, "/tmp", 4096, error) || !add_tmpfs (setup, "/var/tmp", 1024, error) ||
      !add_tmpfs (setup, "/run", 256, error))
    return FALSE;
  csb_layout_private_home (home, setup->home, setup->spec->options->gh_token);
  if (!translate_layout (setup, home, 0, 0, error))
    return FALSE;
  csb_protections_add (setup->protections, "private-tmp");
  csb_plan_add (setup->plan, CSB_PLAN_OWN, setup->run_user, "0700", NULL);
  if (symlink ("../run", var_run) != 0 && errno != EEXIST)
    g_debug ("cannot link %s: %s", var_run, g_strerror (errno));
  return TRUE;
}

/* The control folder: the plan, our init (a copy of @init), and what comes back. */
static gboolean
add_control (Setup      *setup,
             const char *ctl_dir,
             const char *init,
             GError    **error)
{
  g_autofree char *init_copy = g_build_filename (ctl_dir, "init", NULL);
  g_autofree char *contents = NULL;
  gsize len;

  if (!g_file_get_contents (init, &contents, &len, error) ||
      !g_file_set_contents_full (init_copy, contents, len, G_FILE_SET_CONTENTS_NONE, 0755,
                                 error) ||
      !add_bind (setup, ctl_dir, CTL_INSIDE, FALSE, error))
    return FALSE;
  g_free (setup->domain->init);
  setup->domain->init = g_build_filename (CTL_INSIDE, "init", NULL);
  return TRUE;
}

/* ~/.claude: the project's Claude home, rw; copies of the user's own settings ro
 * over it (libvirt binds paths, not descriptors: copies made without following
 * links, owner-checked, size-capped, in a folder no sandbox sees); one layout
 * (csb-layout.c), as bwrap's. */
static gboolean
add_claude_home (Setup   *setup,
                 GError **error)
{
  g_autofree char *staged = g_build_filename (setup->spec->runtime_dir, "claude-user", NULL);
  g_autoptr(CsbClaudeHome) claude_home = NULL;
  g_autoptr(CsbLayout) layout = csb_layout_new ();

  if ((claude_home = csb_claude_home_prepare (setup->spec->project_dir, error)) == NULL ||
      !csb_layout_claude_home (layout, setup->home, claude_home, staged, error))
    return FALSE;
  return translate_layout (setup, layout, 0, 0, error);
}

/* Claude Code itself, read-only at the path it was installed to; the PATH inside
 * (@path_env), its folder first. */
static gboolean
add_claude_install (Setup             *setup,
                    CsbClaudeInstall  *claude,
                    char             **path_env,
                    GError           **error)
{
  g_autofree char *bin_dir = g_path_get_dirname (claude->path);
  g_autofree char *old = *path_env;

  *path_env = g_strconcat (bin_dir, ":", old, NULL);
  if (!visible_as_host_path (claude->bind_root) &&
      !add_bind (setup, claude->bind_root, claude->bind_root, TRUE, error))
    return FALSE;
  for (guint i = 0; i < claude->symlinks->len; i++)
    {
      CsbSymlink *link = g_ptr_array_index (claude->symlinks, i);

      if (visible_as_host_path (link->path))
        continue;
      if (g_str_has_prefix (link->path, setup->home))
        {
          own_parents_in_home (setup, link->path);
          csb_plan_add (setup->plan, CSB_PLAN_SYMLINK, link->target, link->path, NULL);
        }
      else
        {
          g_autofree char *in_root = g_build_filename (setup->root_dir, link->path, NULL);
          g_autofree char *parent = g_path_get_dirname (in_root);

          if (!under_mount (setup, link->path) && g_mkdir_with_parents (parent, 0755) == 0 &&
              symlink (link->target, in_root) != 0 && errno != EEXIST)
            g_debug ("cannot link %s: %s", in_root, g_strerror (errno));
        }
    }
  return TRUE;
}

/* The session's sockets, each only with its option, as in every backend
 * (csb-layout.c): the session's own Wayland socket (no security context: a
 * container's is not attached to one yet), or the folder of the sandbox's private
 * display (@display, started for it) with a link to its socket. */
static gboolean
add_sockets (Setup             *setup,
             CsbPrivateDisplay *display,
             GError           **error)
{
  CsbSandboxSpec *spec = setup->spec;
  CsbLaunchOptions *opts = spec->options;
  const char * const *environ = (const char * const *) spec->environ;
  g_autoptr(CsbLayout) layout = csb_layout_new ();

  if (opts->display)
    {
      const char *name = g_environ_getenv (spec->environ, "WAYLAND_DISPLAY");
      g_autofree char *wayland = csb_layout_session_socket_path (environ, name);

      csb_layout_wayland (layout, wayland, setup->run_user, "wayland-unrestricted");
    }
  else if (display != NULL)
    csb_layout_private_display (layout, csb_private_display_get_dir (display), setup->run_user,
                                csb_private_display_has_x11 (display));
  if (opts->audio)
    csb_layout_session_audio (layout, environ, setup->run_user);
  if (opts->ssh_agent)
    csb_layout_ssh_agent (layout, environ, setup->run_user);
  if (!translate_layout (setup, layout, 0, 0, error))
    return FALSE;
  csb_layout_add_environment (layout, opts->env);
  return TRUE;
}

/* The user's extra folders (ro-binds, rw-binds), each checked: one layout
 * (csb-layout.c), as in every backend. */
static gboolean
add_user_binds (Setup   *setup,
                GError **error)
{
  CsbLaunchOptions *opts = setup->spec->options;
  g_autoptr(CsbLayout) layout = csb_layout_new ();

  return csb_layout_user_binds (layout, opts->ro_binds, opts->rw_binds, setup->home, error) &&
         translate_layout (setup, layout, 0, 0, error);
}

/* The project, read-write at its own path with git's and Claude Code's
 * configuration read-only, the init opening each protected entry again from the
 * project folder without following any symlink (csb-init-protect.c): never a path
 * the sandbox could have pointed elsewhere; or under review (nothing to guard:
 * nothing reaches the real folder unreviewed). One layout (csb-layout.c), the same
 * as bwrap's; @uid, @gid: the user inside, owner of the tmpfs folders. */
static gboolean
add_project (Setup    *setup,
             guint32   uid,
             guint32   gid,
             GError  **error)
{
  CsbSandboxSpec *spec = setup->spec;
  g_autoptr(CsbLayout) layout = csb_layout_new ();

  if (spec->options->review
      ? !csb_layout_project_review (layout, spec->project_dir, spec->state_dir, error)
      : !csb_layout_project (layout, spec->project_dir, spec->guard_entries, error))
    return FALSE;
  return translate_layout (setup, layout, uid, gid, error);
}

/* The plan: who, where, what; then the plan itself, 0600 in a 0700 folder, deleted
 * by the init once read. */
static gboolean
write_plan (Setup              *setup,
            const char         *ctl_dir,
            const CsbStageUser *user,
            const char         *path_env,
            const char         *token,
            GError            **error)
{
  CsbSandboxSpec *spec = setup->spec;
  g_autofree char *config = g_build_filename (ctl_dir, "config", NULL);
  g_autoptr(GPtrArray) env = NULL;

  csb_plan_add (setup->plan, CSB_PLAN_HOME, setup->home, NULL);
  csb_plan_add (setup->plan, CSB_PLAN_CWD, spec->project_dir, NULL);
  csb_plan_add (setup->plan, CSB_PLAN_HOSTNAME, HOSTNAME, NULL);
  csb_plan_add (setup->plan, CSB_PLAN_RAW, spec->stdio_is_pty ? "0" : "1", NULL);
  if (spec->stdio_is_pty)
    {
      struct winsize ws;

      if (ioctl (spec->stdio_fds[0], TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
        {
          g_autofree char *cols = g_strdup_printf ("%u", ws.ws_col);
          g_autofree char *rows = g_strdup_printf ("%u", ws.ws_row);
          csb_plan_add (setup->plan, CSB_PLAN_WINSIZE, cols, rows, NULL);
        }
    }
  env = csb_stage_environment (spec, user, path_env, setup->run_user, token);
  for (guint i = 0; i < env->len; i++)
    csb_plan_add (setup->plan, CSB_PLAN_ENV, g_ptr_array_index (env, i), NULL);
  for (guint i = 0; spec->command[i] != NULL; i++)
    csb_plan_add (setup->plan, CSB_PLAN_ARG, spec->command[i], NULL);
  csb_protections_add (setup->protections, "clear-environment");
  csb_protections_add (setup->protections, "no-capabilities");
  csb_protections_add (setup->protections, "no-new-privs");

  return g_file_set_contents_full (config, (const char *) setup->plan->data, setup->plan->len,
                                   G_FILE_SET_CONTENTS_NONE, 0600, error);
}

static gboolean
build_container (Setup             *setup,
                 const char        *ctl_dir,
                 const char        *init,
                 CsbPrivateDisplay *display,
                 GError           **error)
{
  CsbSandboxSpec *spec = setup->spec;
  uid_t uid = getuid ();
  gid_t gid = getgid ();
  g_autofree char *shell = csb_user_shell (spec->settings);
  g_autofree char *path_env = g_strdup ("/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:"
                                        "/usr/sbin:/sbin");
  g_autofree char *token = NULL;
  g_autofree char *uid_text = NULL;
  g_autofree char *gid_text = NULL;
  g_autoptr(CsbClaudeInstall) claude = NULL;
  /* The sandbox's ids inside: container root must not be host root, so when the
   * real user is root, the user who maps to host root is another id. */
  CsbStageUser user = {
    uid != 0 ? g_get_user_name () : "sandbox",
    uid != 0 ? uid : ROOT_USER_INSIDE, gid != 0 ? gid : ROOT_USER_INSIDE,
    setup->home, shell
  };

  if (!csb_stage_find_claude (spec, setup->home, &claude, error))
    return FALSE;
  if (spec->options->gh_token && (token = csb_stage_find_gh_token (spec, error)) == NULL)
    return FALSE;

  /* Who first: the plan's later entries give the user folders. */
  uid_text = g_strdup_printf ("%u", (guint) user.uid);
  gid_text = g_strdup_printf ("%u", (guint) user.gid);
  csb_plan_add (setup->plan, CSB_PLAN_UID, uid_text, NULL);
  csb_plan_add (setup->plan, CSB_PLAN_GID, gid_text, NULL);
  if (!make_root (setup, &user, error) ||
      !add_system_and_home (setup, error) ||
      !add_control (setup, ctl_dir, init, error) ||
      !add_claude_home (setup, error) ||
      (claude != NULL && !add_claude_install (setup, claude, &path_env, error)) ||
      !add_sockets (setup, display, error) ||
      !add_user_binds (setup, error) ||
      !add_project (setup, user.uid, user.gid, error))
    return FALSE;
  return write_plan (setup, ctl_dir, &user, path_env, token, error);
}

/* ---- starting ------------------------------------------------------------------- */

typedef struct
{
  virConnectPtr conn;
  virDomainPtr  domain;
  virStreamPtr  console;
  GStrv         protections;
  char         *ctl_dir;
  char         *root_dir;
} StartResult;

static void
start_result_free (StartResult *result)
{
  csb_libvirt_discard (result->conn, result->domain, result->console, TRUE);
  if (result->root_dir != NULL)
    csb_rm_rf (result->root_dir, NULL);
  if (result->ctl_dir != NULL)
    csb_rm_rf (result->ctl_dir, NULL);
  g_strfreev (result->protections);
  g_free (result->ctl_dir);
  g_free (result->root_dir);
  g_free (result);
}

/* Refused before anything is made: a network, filtered or whole, which the
 * container backend has not yet. */
static gboolean
check_no_network (CsbSandboxSpec *spec,
                  GError        **error)
{
  if (spec->net_proxy_socket != NULL)
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                           "the container backend has no filtered network (network-allow) "
                           "yet: launch it with network off, or use the bwrap backend");
      return FALSE;
    }
  if (spec->options->network)
    {
      /* Without <privnet/> libvirt 9.0 keeps the host's network namespace, but
       * then cannot mount sysfs and the cgroups inside a user namespace (the
       * namespace is not the container's): such a container fails to start. */
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                           "the container backend has no network yet (libvirt-LXC cannot "
                           "share the host's network with a user-namespaced container): "
                           "launch it with network off, or use the bwrap or vm backend");
      return FALSE;
    }
  return TRUE;
}

/* The domain created from @xml, its events watched, its console opened, then the
 * init told it may start ("attached" in the control folder). */
static gboolean
create_domain (CsbContainerBackend *self,
               StartResult         *result,
               const char          *xml,
               GError             **error)
{
  g_autofree char *attached = g_build_filename (result->ctl_dir, "attached", NULL);

  if ((result->conn = open_connection (error)) == NULL)
    return FALSE;
  /* LXC cannot start paused: the init waits for "attached" in the control
   * folder instead, so nothing the command prints is lost. */
  result->domain = virDomainCreateXML (result->conn, xml, 0);
  if (result->domain == NULL)
    {
      csb_libvirt_set_error (error, CSB_ERROR_FAILED, "cannot start the container");
      return FALSE;
    }
  csb_domain_run_watch_events (&self->run, result->conn, result->domain);
  result->console = virStreamNew (result->conn, 0);
  if (result->console == NULL ||
      virDomainOpenConsole (result->domain, NULL, result->console, 0) != 0)
    {
      csb_libvirt_set_error (error, CSB_ERROR_FAILED, "cannot open the container's console");
      return FALSE;
    }
  return g_file_set_contents (attached, "1\n", -1, error);
}

/* What the container itself adds to the protections build_container() listed: LXC
 * and its namespaces, no network. */
static void
add_container_protections (GPtrArray      *protections,
                           CsbSandboxSpec *spec)
{
  csb_protections_insert (protections, 0, "container-lxc");
  csb_protections_add (protections, "pid-namespace");
  csb_protections_add (protections, "ipc-namespace");
  csb_protections_add (protections, "uts-namespace");
  csb_protections_add (protections, spec->options->network ? "network-shared" : "no-network");
}

static void
start_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  CsbContainerBackend *self = source_object;
  CsbSandboxSpec *spec = task_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbContainerDomainConfig) domain = csb_container_domain_config_new ();
  g_autoptr(GPtrArray) protections = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *init = NULL;
  g_autofree char *xml = NULL;
  StartResult *result = g_new0 (StartResult, 1);
  Setup setup = { spec, domain, protections, g_byte_array_new (), NULL,
                  g_strdup (g_get_home_dir ()), NULL };
  gint64 t0 = g_get_monotonic_time ();

  setup.run_user = g_strdup_printf ("/run/user/%u",
                                    getuid () != 0 ? (guint) getuid () : ROOT_USER_INSIDE);
  result->ctl_dir = g_build_filename (spec->runtime_dir, "ctl", NULL);
  result->root_dir = g_build_filename (spec->runtime_dir, "root", NULL);
  setup.root_dir = result->root_dir;

  if (!check_no_network (spec, &error))
    goto fail;
  if ((init = find_container_init (&error)) == NULL)
    goto fail;
  /* Its socket is there before libvirt binds its folder. */
  if (self->display != NULL && !csb_private_display_wait (self->display, &error))
    goto fail;
  if (g_mkdir_with_parents (result->ctl_dir, 0700) != 0)
    {
      g_set_error (&error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create '%s': %s",
                   result->ctl_dir, g_strerror (errno));
      goto fail;
    }
  if (!build_container (&setup, result->ctl_dir, init, self->display, &error))
    goto fail;

  domain->sandbox_id = g_strdup (spec->id);
  domain->name = g_strdup (spec->options->name);
  domain->project_dir = g_strdup (spec->project_dir);
  domain->network = spec->options->network;
  if (spec->options->vm_memory_mib > 0)
    domain->memory_mib = spec->options->vm_memory_mib;
  xml = csb_container_domain_to_xml (domain);

  if (!create_domain (self, result, xml, &error))
    goto fail;

  add_container_protections (protections, spec);
  g_ptr_array_add (protections, NULL);
  result->protections = (GStrv) g_ptr_array_free (g_steal_pointer (&protections), FALSE);
  g_message ("sandbox %s: container %s%s on " CSB_CONTAINER_URI " (%u file systems) started in "
             "%.2f s", spec->id, CSB_CONTAINER_DOMAIN_PREFIX, spec->id, domain->filesystems->len,
             (g_get_monotonic_time () - t0) / 1e6);
  g_byte_array_unref (setup.plan);
  g_free (setup.home);
  g_free (setup.run_user);
  g_task_return_pointer (task, result, (GDestroyNotify) start_result_free);
  return;

fail:
  g_byte_array_unref (setup.plan);
  g_free (setup.home);
  g_free (setup.run_user);
  csb_domain_run_unwatch_events (&self->run, result->conn);
  start_result_free (result);
  g_task_return_error (task, g_steal_pointer (&error));
}

/* ---- the end ------------------------------------------------------------------------ */

static void
cleanup (CsbDomainRun *run,
         CsbDomainEnd *end)
{
  CsbContainerBackend *self = CSB_CONTAINER_BACKEND (run->backend);

  csb_domain_run_close (run);
  csb_domain_run_read_end (run, end, FALSE,
                           "the container could not set up the sandbox (its console says why)",
                           "the container ended without reporting the command's exit status "
                           "(libvirt's log, /var/log/libvirt/lxc/, may say why)");
  csb_libvirt_write_back_claude_home (run->spec->project_dir, run->spec->id);
  /* Nothing stays behind: the private display, the root's mount points, the control
   * folder and the copies of the user's Claude settings. */
  g_clear_pointer (&self->display, csb_private_display_free);
  csb_rm_rf (self->root_dir, NULL);
  csb_rm_rf (run->ctl_dir, NULL);
  {
    g_autofree char *claude_user = g_build_filename (run->spec->runtime_dir, "claude-user", NULL);
    csb_rm_rf (claude_user, NULL);
  }
}

static void
on_started (GObject      *source,
            GAsyncResult *res,
            gpointer      user_data)
{
  CsbContainerBackend *self = CSB_CONTAINER_BACKEND (source);
  StartResult *result = csb_domain_run_start_result (&self->run, res);

  if (result == NULL)
    {
      g_clear_pointer (&self->display, csb_private_display_free);
      return;
    }
  self->run.conn = g_steal_pointer (&result->conn);
  self->run.domain = g_steal_pointer (&result->domain);
  self->run.console = g_steal_pointer (&result->console);
  self->run.protections = g_steal_pointer (&result->protections);
  self->run.ctl_dir = g_steal_pointer (&result->ctl_dir);
  self->root_dir = g_steal_pointer (&result->root_dir);
  start_result_free (result);
  csb_domain_run_attach (&self->run, FALSE);
}

static void
csb_container_backend_start_async (CsbBackend         *backend,
                                   CsbSandboxSpec     *spec,
                                   GCancellable       *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer            user_data)
{
  CsbContainerBackend *self = CSB_CONTAINER_BACKEND (backend);
  GError *error = NULL;

  /* The private display's compositor, from the main thread (see display). */
  if (spec->options->private_display &&
      (self->display = csb_private_display_start (spec, &error)) == NULL)
    {
      g_task_report_error (backend, callback, user_data, csb_container_backend_start_async,
                           error);
      return;
    }
  csb_domain_run_start (&self->run, spec, cancellable, callback, user_data);
}

static gboolean
csb_container_backend_start_finish (CsbBackend   *backend,
                                    GAsyncResult *result,
                                    GError      **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- taking over a container of a previous service ------------------------------- */

static void
adopt_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  CsbContainerBackend *self = source_object;
  g_autofree char *name = csb_container_domain_name (self->run.spec->id);
  virConnectPtr conn;
  CsbDomainFound *found;
  GError *error = NULL;

  if ((conn = open_connection (&error)) == NULL ||
      (found = csb_domain_run_find (&self->run, conn, CSB_CONTAINER_URI, name,
                                    CSB_CONTAINER_METADATA_NS, NULL, &error)) == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, found, (GDestroyNotify) csb_domain_found_free);
}

/* A container a previous service started: found again by its name and metadata,
 * its console bridged to the fresh terminal in @spec's stdio (if it had one), its
 * end watched and torn down as at start. A container that is gone reports the
 * status its init left in the control folder. What it printed while no service
 * ran is not kept: libvirt-LXC logs no console. */
static gboolean
csb_container_backend_adopt (CsbBackend         *backend,
                             CsbSandboxSpec     *spec,
                             const char * const *protections,
                             GError            **error)
{
  CsbContainerBackend *self = CSB_CONTAINER_BACKEND (backend);

  self->root_dir = g_build_filename (spec->runtime_dir, "root", NULL);
  csb_domain_run_adopt (&self->run, spec, protections);
  return TRUE;
}

/* ---- stopping ------------------------------------------------------------------- */

static void
csb_container_backend_stop (CsbBackend *backend,
                            guint       timeout_s)
{
  csb_domain_run_stop (&CSB_CONTAINER_BACKEND (backend)->run, timeout_s);
}

static GStrv
csb_container_backend_get_protections (CsbBackend *backend)
{
  return csb_domain_run_dup_protections (&CSB_CONTAINER_BACKEND (backend)->run);
}

static gboolean
csb_container_backend_check_available (CsbBackendClass *klass,
                                       GSettings       *settings,
                                       char           **detail)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *init = NULL;
  virConnectPtr conn;
  unsigned long version = 0;

  if ((init = find_container_init (&error)) == NULL)
    {
      *detail = g_strdup (error->message);
      return FALSE;
    }
  if (!lxc_driver_installed ())
    {
      *detail = g_strdup ("libvirt's LXC driver is not installed (install "
                          "libvirt-daemon-driver-lxc, then restart libvirtd)");
      return FALSE;
    }
  if ((conn = open_connection (&error)) == NULL)
    {
      *detail = g_strdup (error->message);
      return FALSE;
    }
  virConnectGetLibVersion (conn, &version);
  *detail = g_strdup_printf ("libvirt %lu.%lu.%lu LXC at " CSB_CONTAINER_URI ", own root "
                             "from the host's /usr, user namespace",
                             version / 1000000, version / 1000 % 1000, version % 1000);
  virConnectClose (conn);
  return TRUE;
}

static void
csb_container_backend_dispose (GObject *object)
{
  CsbContainerBackend *self = CSB_CONTAINER_BACKEND (object);

  csb_domain_run_dispose (&self->run);
  g_clear_pointer (&self->display, csb_private_display_free);
  G_OBJECT_CLASS (csb_container_backend_parent_class)->dispose (object);
}

static void
csb_container_backend_finalize (GObject *object)
{
  CsbContainerBackend *self = CSB_CONTAINER_BACKEND (object);

  csb_domain_run_finalize (&self->run);
  g_free (self->root_dir);
  G_OBJECT_CLASS (csb_container_backend_parent_class)->finalize (object);
}

static void
csb_container_backend_class_init (CsbContainerBackendClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  CsbBackendClass *backend_class = CSB_BACKEND_CLASS (klass);

  object_class->dispose = csb_container_backend_dispose;
  object_class->finalize = csb_container_backend_finalize;

  backend_class->name = "container";
  backend_class->offline_only = TRUE;
  backend_class->check_available = csb_container_backend_check_available;
  backend_class->start_async = csb_container_backend_start_async;
  backend_class->start_finish = csb_container_backend_start_finish;
  backend_class->stop = csb_container_backend_stop;
  backend_class->get_protections = csb_container_backend_get_protections;
  backend_class->adopt = csb_container_backend_adopt;
}

/* libvirt-LXC's domain id is its controller's pid (libvirt_lxc, which holds the
 * container and ends with it): gone, or another program's, when the container has
 * ended. */
static gboolean
container_gone (CsbDomainRun *run)
{
  g_autofree char *path = NULL;
  g_autofree char *comm = NULL;
  unsigned int id;

  if (run->domain == NULL || (id = virDomainGetID (run->domain)) == (unsigned int) -1 ||
      id == 0)
    return FALSE;
  path = g_strdup_printf ("/proc/%u/comm", id);
  return !g_file_get_contents (path, &comm, NULL, NULL) ||
         !g_str_equal (g_strstrip (comm), "libvirt_lxc");
}

static const CsbDomainRunOps run_ops = {
  .what = "the container",
  /* SIGTERM to our init, which passes it on to the command. */
  .shutdown_flags = VIR_DOMAIN_SHUTDOWN_SIGNAL,
  /* libvirt-LXC refuses VIR_DOMAIN_CONSOLE_FORCE, and needs none: its consoles are
   * not held exclusively (any number of streams may open one). */
  .console_flags = 0,
  .source_tag = csb_container_backend_start_async,
  .start_thread = start_thread,
  .start_done = on_started,
  .cleanup = cleanup,
  .adopt_thread = adopt_thread,
  .gone = container_gone,
};

static void
csb_container_backend_init (CsbContainerBackend *self)
{
  csb_domain_run_init (&self->run, CSB_BACKEND (self), &run_ops);
}
