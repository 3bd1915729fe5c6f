/* csb-layout.c
 *
 * Entries are kept in mount order: a later entry covers what an earlier one put at
 * or below its path, as bwrap's later mounts do.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-error.h"
#include "csb-file.h"
#include "csb-guest-stage.h"
#include "csb-layout.h"
#include "csb-options.h"
#include "csb-plan-writer.h"
#include "csb-protections.h"
#include "csb-review.h"

/* The host's merged-/usr links, shown as the host has them. */
const char * const csb_layout_usr_links[] = {
  "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", NULL
};

typedef struct
{
  CsbLayoutKind  kind;
  char          *source;   /* BIND_*: the host path; SYMLINK: the target; OVERLAY: the
                            * stage its two layers are bound below */
  char          *dest;
  guint          mode;     /* TMPFS: 0 or the permissions */
  int            fd;       /* BIND_*: the source opened (O_PATH), or -1 for by path */
  gboolean       by_path;  /* with @fd: the backends that bind paths may bind @source */
  gboolean       stage;    /* an overlay's layer: gone once the overlay is mounted */
  /* The project folder (the same inside): of an overlay, and of the entries of the
   * project's protection with the path below it (@relative), which the inits open
   * again without following links. */
  char          *project;
  char          *relative;
  gboolean       is_dir;
  /* SOCKET: the variable that names it inside, or NULL. */
  char          *env_name;
  char          *env_value;
} Entry;

struct _CsbLayout
{
  GPtrArray *entries;      /* element-type Entry */
  GPtrArray *protections;  /* element-type utf8: names of csb-protections.c */
};

static void
entry_free (gpointer data)
{
  Entry *entry = data;

  g_free (entry->source);
  g_free (entry->dest);
  if (entry->fd >= 0)
    close (entry->fd);
  g_free (entry->project);
  g_free (entry->relative);
  g_free (entry->env_name);
  g_free (entry->env_value);
  g_free (entry);
}

CsbLayout *
csb_layout_new (void)
{
  CsbLayout *self = g_new0 (CsbLayout, 1);

  self->entries = g_ptr_array_new_with_free_func (entry_free);
  self->protections = g_ptr_array_new_with_free_func (g_free);
  return self;
}

void
csb_layout_free (CsbLayout *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->entries);
  g_ptr_array_unref (self->protections);
  g_free (self);
}

static Entry *
add_entry (CsbLayout     *self,
           CsbLayoutKind  kind,
           const char    *source,
           const char    *dest,
           guint          mode)
{
  Entry *entry = g_new0 (Entry, 1);

  g_assert (g_path_is_absolute (dest));
  entry->kind = kind;
  entry->source = g_strdup (source);
  entry->dest = g_strdup (dest);
  entry->mode = mode;
  entry->fd = -1;
  g_ptr_array_add (self->entries, entry);
  return entry;
}

/* @name (in the table of csb-protections.c) among the layout's protections. */
static void
give_protection (CsbLayout  *self,
                 const char *name)
{
  g_assert (csb_protection_get_description (name) != NULL);

  for (guint i = 0; i < self->protections->len; i++)
    if (g_str_equal (g_ptr_array_index (self->protections, i), name))
      return;
  g_ptr_array_add (self->protections, g_strdup (name));
}

void
csb_layout_bind (CsbLayout  *self,
                 const char *source,
                 const char *dest,
                 gboolean    readonly)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (source != NULL && dest != NULL);

  add_entry (self, readonly ? CSB_LAYOUT_BIND_RO : CSB_LAYOUT_BIND_RW, source, dest, 0);
}

void
csb_layout_tmpfs (CsbLayout  *self,
                  const char *dest,
                  guint       mode)
{
  g_return_if_fail (self != NULL && dest != NULL);

  add_entry (self, CSB_LAYOUT_TMPFS, NULL, dest, mode);
}

void
csb_layout_dir (CsbLayout  *self,
                const char *dest)
{
  g_return_if_fail (self != NULL && dest != NULL);

  add_entry (self, CSB_LAYOUT_DIR, NULL, dest, 0);
}

void
csb_layout_symlink (CsbLayout  *self,
                    const char *target,
                    const char *dest)
{
  g_return_if_fail (self != NULL && target != NULL && dest != NULL);

  add_entry (self, CSB_LAYOUT_SYMLINK, target, dest, 0);
}

/* What of @path is below @dest: "" for @dest itself, "/rest", or NULL. */
static const char *
below (const char *path,
       const char *dest)
{
  gsize len = strlen (dest);

  if (g_str_equal (dest, "/"))
    return path;
  if (strncmp (path, dest, len) != 0 || (path[len] != '\0' && path[len] != '/'))
    return NULL;
  return path + len;
}

static CsbLayoutAccess
get_access (CsbLayout  *self,
            const char *path,
            guint       depth,
            char      **out_source)
{
  Entry *last = NULL;
  const char *last_rest = NULL;
  CsbLayoutAccess access = CSB_LAYOUT_HIDDEN;

  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);
      const char *rest = below (path, entry->dest);

      /* An overlay's layers are gone once it is mounted, before the command runs. */
      if (rest == NULL || entry->stage)
        continue;
      /* A folder made inside is only itself; what is below it is whatever covers
       * it, or nothing. */
      if (entry->kind == CSB_LAYOUT_DIR)
        {
          if (*rest == '\0' && last == NULL)
            access = CSB_LAYOUT_PRIVATE;
          continue;
        }
      last = entry;
      last_rest = rest;
    }
  if (last == NULL)
    return access;

  switch (last->kind)
    {
    case CSB_LAYOUT_BIND_RO:
    case CSB_LAYOUT_BIND_RW:
    case CSB_LAYOUT_SOCKET:
      if (out_source != NULL)
        *out_source = g_strconcat (last->source, last_rest, NULL);
      return last->kind == CSB_LAYOUT_BIND_RO ? CSB_LAYOUT_HOST_RO : CSB_LAYOUT_HOST_RW;
    case CSB_LAYOUT_TMPFS:
      return CSB_LAYOUT_PRIVATE;
    case CSB_LAYOUT_OVERLAY:
      /* The host's files, which the sandbox reads but never changes: its writes go
       * to its own layer, for the review. */
      if (out_source != NULL)
        *out_source = g_strconcat (last->project, last_rest, NULL);
      return CSB_LAYOUT_HOST_RO;
    case CSB_LAYOUT_SYMLINK:
      {
        g_autofree char *parent = g_path_get_dirname (last->dest);
        g_autofree char *target = g_canonicalize_filename (last->source, parent);
        g_autofree char *resolved = g_strconcat (target, last_rest, NULL);

        if (depth >= 8)
          return CSB_LAYOUT_HIDDEN;
        return get_access (self, resolved, depth + 1, out_source);
      }
    case CSB_LAYOUT_DIR:
    default:
      g_assert_not_reached ();
    }
}

CsbLayoutAccess
csb_layout_get_access (CsbLayout   *self,
                       const char  *path,
                       char       **out_source)
{
  g_autofree char *canonical = NULL;

  g_return_val_if_fail (self != NULL, CSB_LAYOUT_HIDDEN);
  g_return_val_if_fail (path != NULL && g_path_is_absolute (path), CSB_LAYOUT_HIDDEN);

  if (out_source != NULL)
    *out_source = NULL;
  canonical = g_canonicalize_filename (path, "/");
  return get_access (self, canonical, 0, out_source);
}

/* Whether the host's @path is visible inside at the same path, as itself. */
static gboolean
host_path_visible (CsbLayout  *self,
                   const char *path)
{
  g_autofree char *source = NULL;

  return csb_layout_get_access (self, path, &source) != CSB_LAYOUT_HIDDEN &&
         g_strcmp0 (source, path) == 0;
}

void
csb_layout_expose_host_path (CsbLayout  *self,
                             const char *path)
{
  struct stat st;

  g_return_if_fail (self != NULL && path != NULL);

  if (lstat (path, &st) != 0)
    return;
  if (S_ISLNK (st.st_mode))
    {
      g_autofree char *target = g_file_read_link (path, NULL);
      g_autofree char *resolved = realpath (path, NULL);

      if (target == NULL || resolved == NULL)
        return;  /* dangling */
      if (host_path_visible (self, resolved))
        csb_layout_symlink (self, target, path);
      else
        csb_layout_bind (self, resolved, path, TRUE);
    }
  else
    csb_layout_bind (self, path, path, TRUE);
}

void
csb_layout_expose_host_usr (CsbLayout *self)
{
  g_return_if_fail (self != NULL);

  csb_layout_bind (self, "/usr", "/usr", TRUE);
  for (guint i = 0; csb_layout_usr_links[i] != NULL; i++)
    csb_layout_expose_host_path (self, csb_layout_usr_links[i]);
  if (g_file_test ("/opt", G_FILE_TEST_IS_DIR))
    csb_layout_bind (self, "/opt", "/opt", TRUE);
  if (g_file_test ("/nix/store", G_FILE_TEST_IS_DIR))
    csb_layout_bind (self, "/nix/store", "/nix/store", TRUE);
  give_protection (self, "usr-ro");
}

void
csb_layout_expose_host_programs (CsbLayout *self)
{
  g_return_if_fail (self != NULL);

  csb_layout_expose_host_usr (self);
  csb_layout_dir (self, "/etc");
  for (guint i = 0; csb_etc_allowlist[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename ("/etc", csb_etc_allowlist[i], NULL);

      csb_layout_expose_host_path (self, path);
    }
}

void
csb_layout_private_home (CsbLayout  *self,
                         const char *home,
                         gboolean    gh_token)
{
  g_return_if_fail (self != NULL && home != NULL && g_path_is_absolute (home));

  csb_layout_tmpfs (self, home, 0700);
  give_protection (self, "private-home");
  for (guint i = 0; csb_home_ro_files[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (home, csb_home_ro_files[i], NULL);
      g_autofree char *resolved = NULL;

      if (g_str_equal (csb_home_ro_files[i], CSB_HOME_GH_CONFIG) && !gh_token)
        continue;
      if ((resolved = realpath (path, NULL)) != NULL)
        csb_layout_bind (self, resolved, path, TRUE);
    }
}

void
csb_layout_protect_project (CsbLayout  *self,
                            const char *project_dir,
                            GPtrArray  *entries)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (project_dir != NULL && g_path_is_absolute (project_dir));

  for (guint i = 0; entries != NULL && i < entries->len; i++)
    {
      CsbGuardEntry *guard = g_ptr_array_index (entries, i);
      g_autofree char *dest = g_build_filename (project_dir, guard->path, NULL);
      gboolean claude = g_str_has_prefix (guard->path, ".claude/") ||
                        strstr (guard->path, "/.claude/") != NULL ||
                        g_str_equal (guard->path, ".claude");
      Entry *entry;

      switch (guard->kind)
        {
        case CSB_GUARD_SELF:
        case CSB_GUARD_RW:
        case CSB_GUARD_RO:
          /* Never by path: a protected name the guard could not open safely is
           * a plant, not an entry. */
          if (guard->fd < 0)
            continue;
          entry = add_entry (self, guard->kind == CSB_GUARD_RO ? CSB_LAYOUT_BIND_RO
                                                               : CSB_LAYOUT_BIND_RW,
                             dest, dest, 0);
          entry->fd = g_steal_fd (&guard->fd);
          if (guard->kind == CSB_GUARD_RO)
            give_protection (self, claude ? "project-claude-settings-ro" : "git-config-ro");
          break;
        case CSB_GUARD_TMPFS:
          /* A settings file created inside lands in the tmpfs and never reaches
           * the claude that runs outside; .claude also cannot be renamed away. */
          entry = add_entry (self, CSB_LAYOUT_TMPFS, NULL, dest, 0);
          /* The inits open the folder again; bwrap needs none. */
          if (guard->fd >= 0)
            close (g_steal_fd (&guard->fd));
          give_protection (self, "project-claude-settings-ro");
          break;
        case CSB_GUARD_SYMLINK:
          if (guard->target == NULL)
            continue;
          entry = add_entry (self, CSB_LAYOUT_SYMLINK, guard->target, dest, 0);
          break;
        default:
          g_assert_not_reached ();
        }
      entry->project = g_strdup (project_dir);
      entry->relative = g_strdup (guard->path);
      entry->is_dir = guard->is_dir;
    }
}

/* A bind of @source at @dest from @fd (taken), which the backends that bind paths
 * may bind by @source. */
static Entry *
add_fd_bind (CsbLayout  *self,
             const char *source,
             const char *dest,
             gboolean    readonly,
             int         fd)
{
  Entry *entry = add_entry (self, readonly ? CSB_LAYOUT_BIND_RO : CSB_LAYOUT_BIND_RW,
                            source, dest, 0);

  entry->fd = fd;
  entry->by_path = TRUE;
  return entry;
}

/* The project folder, opened now and checked to be the folder that was validated;
 * -1 with @error set otherwise. */
static int
open_project_checked (const char  *project_dir,
                      GError     **error)
{
  gboolean gone;
  int fd = csb_file_open_dir_exact (project_dir, O_PATH, &gone);

  if (fd < 0)
    g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                 "project folder '%s' changed while the sandbox was set up (it is %s now)",
                 project_dir, gone ? "gone" : "elsewhere");
  return fd;
}

gboolean
csb_layout_project (CsbLayout   *self,
                    const char  *project_dir,
                    GPtrArray   *entries,
                    GError     **error)
{
  int fd;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (project_dir != NULL && g_path_is_absolute (project_dir), FALSE);

  if ((fd = open_project_checked (project_dir, error)) < 0)
    return FALSE;
  add_fd_bind (self, project_dir, project_dir, FALSE, fd);
  csb_layout_protect_project (self, project_dir, entries);
  return TRUE;
}

gboolean
csb_layout_project_review (CsbLayout   *self,
                           const char  *project_dir,
                           const char  *state_dir,
                           GError     **error)
{
  g_autofree char *layers = NULL;
  int fd, layers_fd;
  struct stat st;
  Entry *entry;

  g_return_val_if_fail (self != NULL && state_dir != NULL, FALSE);
  g_return_val_if_fail (project_dir != NULL && g_path_is_absolute (project_dir), FALSE);

  if ((fd = open_project_checked (project_dir, error)) < 0)
    return FALSE;
  if (fstat (fd, &st) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot stat the project folder: %s",
                   g_strerror (errno));
      close (fd);
      return FALSE;
    }
  /* The overlay's root takes the upper folder's mode: the project's own. */
  if ((layers_fd = csb_review_prepare (state_dir, st.st_mode, error)) < 0)
    {
      close (fd);
      return FALSE;
    }
  layers = csb_review_dir (state_dir);
  entry = add_fd_bind (self, project_dir, CSB_REVIEW_STAGE "/lower", TRUE, fd);
  entry->stage = TRUE;
  entry = add_fd_bind (self, layers, CSB_REVIEW_STAGE "/rw", FALSE, layers_fd);
  entry->stage = TRUE;
  entry = add_entry (self, CSB_LAYOUT_OVERLAY, CSB_REVIEW_STAGE, project_dir, 0);
  entry->project = g_strdup (project_dir);
  give_protection (self, "project-review");
  return TRUE;
}

/* The user's own entries of the Claude home, read-only over @claude_dir: from
 * their descriptors, or (@staged_dir) the copies made there. */
static gboolean
add_claude_user_entries (CsbLayout     *self,
                         const char    *home,
                         const char    *claude_dir,
                         CsbClaudeHome *claude_home,
                         const char    *staged_dir,
                         GError       **error)
{
  g_autoptr(GPtrArray) staged = NULL;

  if (staged_dir == NULL)
    {
      for (guint i = 0; i < claude_home->user_entries->len; i++)
        {
          CsbClaudeUserEntry *user = g_ptr_array_index (claude_home->user_entries, i);
          g_autofree char *source = g_build_filename (home, ".claude", user->name, NULL);
          g_autofree char *dest = g_build_filename (claude_dir, user->name, NULL);
          Entry *entry = add_entry (self, CSB_LAYOUT_BIND_RO, source, dest, 0);

          /* Only from the descriptor: the user's path was checked once, when opened. */
          entry->fd = dup (user->fd);
        }
      return TRUE;
    }
  if ((staged = csb_claude_home_stage_user (claude_home, staged_dir, error)) == NULL)
    return FALSE;
  for (guint i = 0; i < staged->len; i++)
    {
      const char *name = g_ptr_array_index (staged, i);
      g_autofree char *source = g_build_filename (staged_dir, name, NULL);
      g_autofree char *dest = g_build_filename (claude_dir, name, NULL);

      csb_layout_bind (self, source, dest, TRUE);
    }
  return TRUE;
}

gboolean
csb_layout_claude_home (CsbLayout      *self,
                        const char     *home,
                        CsbClaudeHome  *claude_home,
                        const char     *staged_dir,
                        GError        **error)
{
  g_autofree char *claude_dir = NULL;
  g_autofree char *json_link = NULL;
  gboolean by_fd = staged_dir == NULL;

  g_return_val_if_fail (self != NULL && claude_home != NULL, FALSE);
  g_return_val_if_fail (home != NULL && g_path_is_absolute (home), FALSE);

  claude_dir = g_build_filename (home, ".claude", NULL);
  json_link = g_build_filename (home, ".claude.json", NULL);
  if (by_fd)
    add_fd_bind (self, claude_home->claude_dir, claude_dir, FALSE, dup (claude_home->claude_fd));
  else
    csb_layout_bind (self, claude_home->claude_dir, claude_dir, FALSE);
  if (!add_claude_user_entries (self, home, claude_dir, claude_home, staged_dir, error))
    return FALSE;
  /* A folder, not the file: Claude Code replaces ~/.claude.json by rename. */
  if (by_fd)
    add_fd_bind (self, claude_home->json_dir, CSB_CLAUDE_HOME_JSON_INSIDE, FALSE,
                 dup (claude_home->json_fd));
  else
    csb_layout_bind (self, claude_home->json_dir, CSB_CLAUDE_HOME_JSON_INSIDE, FALSE);
  csb_layout_symlink (self, CSB_CLAUDE_HOME_JSON_INSIDE "/.claude.json", json_link);
  give_protection (self, "claude-home");
  give_protection (self, "claude-config-ro");
  return TRUE;
}

gboolean
csb_layout_user_binds (CsbLayout   *self,
                       GPtrArray   *ro_binds,
                       GPtrArray   *rw_binds,
                       const char  *home,
                       GError     **error)
{
  g_return_val_if_fail (self != NULL && ro_binds != NULL && rw_binds != NULL, FALSE);

  for (guint i = 0; i < ro_binds->len + rw_binds->len; i++)
    {
      gboolean readonly = i < ro_binds->len;
      const char *path = readonly ? g_ptr_array_index (ro_binds, i)
                                  : g_ptr_array_index (rw_binds, i - ro_binds->len);
      g_autofree char *resolved = NULL;

      if (!csb_validate_bind_path (readonly ? "ro-binds" : "rw-binds", path, home, &resolved,
                                   error))
        return FALSE;
      csb_layout_bind (self, resolved, path, readonly);
    }
  return TRUE;
}

gboolean
csb_layout_socket (CsbLayout  *self,
                   const char *source,
                   const char *dest,
                   const char *env_name,
                   const char *env_value)
{
  Entry *entry;

  g_return_val_if_fail (self != NULL && dest != NULL, FALSE);
  g_return_val_if_fail ((env_name == NULL) == (env_value == NULL), FALSE);

  if (!csb_file_is_socket (source))
    return FALSE;
  entry = add_entry (self, CSB_LAYOUT_SOCKET, source, dest, 0);
  entry->env_name = g_strdup (env_name);
  entry->env_value = g_strdup (env_value);
  return TRUE;
}

char *
csb_layout_session_socket_path (const char * const *environ,
                                const char         *name)
{
  const char *runtime = g_environ_getenv ((char **) environ, "XDG_RUNTIME_DIR");

  if (name == NULL || *name == '\0')
    return NULL;
  if (g_path_is_absolute (name))
    return g_strdup (name);
  return g_build_filename (runtime != NULL ? runtime : g_get_user_runtime_dir (), name, NULL);
}

gboolean
csb_layout_wayland (CsbLayout  *self,
                    const char *source,
                    const char *run_user,
                    const char *protection)
{
  g_autofree char *dest = g_build_filename (run_user, "wayland-0", NULL);

  g_return_val_if_fail (self != NULL && run_user != NULL && protection != NULL, FALSE);

  if (!csb_layout_socket (self, source, dest, "WAYLAND_DISPLAY", "wayland-0"))
    return FALSE;
  give_protection (self, protection);
  return TRUE;
}

/* The sandbox's private display (csb-private-display.c): its folder @dir, which
 * the compositor writes and the sandbox's clients talk to, read-only at
 * CSB_LAYOUT_DISPLAY_INSIDE (a folder of ours, bound by path: nothing in it is
 * followed; its socket, not a file, is what the sandbox gets) and $XDG_RUNTIME_DIR's
 * wayland-0 a link to its socket, as the session's would be; with @x11 (its
 * Xwayland), /tmp/.X11-unix/X0 a link to its X socket and DISPLAY=:0. */
void
csb_layout_private_display (CsbLayout  *self,
                            const char *dir,
                            const char *run_user,
                            gboolean    x11)
{
  g_autofree char *socket = g_build_filename (CSB_LAYOUT_DISPLAY_INSIDE, CSB_COMPOSITOR_SOCKET,
                                              NULL);
  g_autofree char *link = g_build_filename (run_user, CSB_COMPOSITOR_SOCKET, NULL);
  Entry *entry;

  g_return_if_fail (self != NULL && dir != NULL && run_user != NULL);

  entry = add_entry (self, CSB_LAYOUT_BIND_RO, dir, CSB_LAYOUT_DISPLAY_INSIDE, 0);
  entry->env_name = g_strdup ("WAYLAND_DISPLAY");
  entry->env_value = g_strdup (CSB_COMPOSITOR_SOCKET);
  add_entry (self, CSB_LAYOUT_SYMLINK, socket, link, 0);
  if (x11)
    {
      entry = add_entry (self, CSB_LAYOUT_SYMLINK,
                         CSB_LAYOUT_DISPLAY_INSIDE "/" CSB_COMPOSITOR_X11_DIR "/"
                         CSB_COMPOSITOR_X11_SOCKET,
                         "/tmp/.X11-unix/" CSB_COMPOSITOR_X11_SOCKET, 0);
      entry->env_name = g_strdup ("DISPLAY");
      entry->env_value = g_strdup (CSB_COMPOSITOR_X11_DISPLAY);
    }
  give_protection (self, "display-private");
}

void
csb_layout_session_audio (CsbLayout          *self,
                          const char * const *environ,
                          const char         *run_user)
{
  g_autofree char *pipewire = csb_layout_session_socket_path (environ, "pipewire-0");
  g_autofree char *pulse = csb_layout_session_socket_path (environ, "pulse/native");
  g_autofree char *pipewire_dest = g_build_filename (run_user, "pipewire-0", NULL);
  g_autofree char *pulse_dest = g_build_filename (run_user, "pulse", "native", NULL);
  g_autofree char *server = g_strconcat ("unix:", pulse_dest, NULL);

  g_return_if_fail (self != NULL && run_user != NULL);

  csb_layout_socket (self, pipewire, pipewire_dest, NULL, NULL);
  csb_layout_socket (self, pulse, pulse_dest, "PULSE_SERVER", server);
}

gboolean
csb_layout_ssh_agent (CsbLayout          *self,
                      const char * const *environ,
                      const char         *run_user)
{
  const char *sock = g_environ_getenv ((char **) environ, "SSH_AUTH_SOCK");
  g_autofree char *dest = g_build_filename (run_user, "ssh-agent", NULL);

  g_return_val_if_fail (self != NULL && run_user != NULL, FALSE);

  return sock != NULL && g_path_is_absolute (sock) &&
         csb_layout_socket (self, sock, dest, "SSH_AUTH_SOCK", dest);
}

void
csb_layout_add_environment (CsbLayout  *self,
                            GHashTable *env)
{
  g_return_if_fail (self != NULL && env != NULL);

  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      if (entry->env_name != NULL)
        g_hash_table_replace (env, g_strdup (entry->env_name), g_strdup (entry->env_value));
    }
}

void
csb_layout_add_protections (CsbLayout *self,
                            GPtrArray *protections)
{
  g_return_if_fail (self != NULL && protections != NULL);

  for (guint i = 0; i < self->protections->len; i++)
    csb_protections_add (protections, g_ptr_array_index (self->protections, i));
}

gboolean
csb_layout_foreach (CsbLayout      *self,
                    CsbLayoutFunc   func,
                    gpointer        user_data,
                    GError        **error)
{
  g_return_val_if_fail (self != NULL && func != NULL, FALSE);

  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      if (entry->relative != NULL)
        continue;
      if (entry->fd >= 0 && !entry->by_path)
        {
          g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                       "%s can only be bound from its descriptor", entry->dest);
          return FALSE;
        }
      if (!func (entry->kind, entry->source, entry->dest, entry->mode, user_data, error))
        return FALSE;
    }
  return TRUE;
}

void
csb_layout_append_bwrap_args (CsbLayout *self,
                              CsbArgv   *args)
{
  g_return_if_fail (self != NULL && args != NULL);

  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      switch (entry->kind)
        {
        case CSB_LAYOUT_BIND_RO:
        case CSB_LAYOUT_BIND_RW:
          {
            gboolean ro = entry->kind == CSB_LAYOUT_BIND_RO;

            if (entry->fd >= 0)
              {
                csb_argv_add (args, ro ? "--ro-bind-fd" : "--bind-fd");
                csb_argv_addf (args, "%d", csb_argv_take_fd (args, g_steal_fd (&entry->fd)));
                csb_argv_add (args, entry->dest);
              }
            else
              csb_argv_add_args (args, ro ? "--ro-bind" : "--bind", entry->source, entry->dest,
                                 NULL);
          }
          break;
        case CSB_LAYOUT_TMPFS:
          if (entry->mode != 0)
            {
              csb_argv_add (args, "--perms");
              csb_argv_addf (args, "%04o", entry->mode);
            }
          csb_argv_add_args (args, "--tmpfs", entry->dest, NULL);
          break;
        case CSB_LAYOUT_DIR:
          csb_argv_add_args (args, "--dir", entry->dest, NULL);
          break;
        case CSB_LAYOUT_OVERLAY:
          /* An empty folder until the monitor's claude-sandbox-review-mount
           * mounts the overlay over it (and detaches the stage), before the
           * command runs. */
          csb_argv_add_args (args, "--dir", entry->dest, NULL);
          break;
        case CSB_LAYOUT_SYMLINK:
          csb_argv_add_args (args, "--symlink", entry->source, entry->dest, NULL);
          break;
        case CSB_LAYOUT_SOCKET:
          csb_argv_add_args (args, "--ro-bind", entry->source, entry->dest, NULL);
          break;
        default:
          g_assert_not_reached ();
        }
      if (entry->env_name != NULL)
        csb_argv_add_args (args, "--setenv", entry->env_name, entry->env_value, NULL);
    }
}

void
csb_layout_append_init_plan (CsbLayout  *self,
                             GByteArray *plan,
                             guint32     uid,
                             guint32     gid)
{
  g_autofree char *uid_text = g_strdup_printf ("%u", uid);
  g_autofree char *gid_text = g_strdup_printf ("%u", gid);

  g_return_if_fail (self != NULL && plan != NULL);

  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      if (entry->relative == NULL)
        continue;
      switch (entry->kind)
        {
        case CSB_LAYOUT_BIND_RO:
        case CSB_LAYOUT_BIND_RW:
          csb_plan_add (plan, CSB_PLAN_PROTECT, entry->project, entry->relative,
                        entry->kind == CSB_LAYOUT_BIND_RO ? "ro" : "rw", entry->is_dir ? "d" : "f",
                        NULL);
          break;
        case CSB_LAYOUT_TMPFS:
          csb_plan_add (plan, CSB_PLAN_PROTECT_TMPFS, entry->project, entry->relative, uid_text,
                        gid_text, NULL);
          break;
        case CSB_LAYOUT_SYMLINK:
          csb_plan_add (plan, CSB_PLAN_PROTECT_LINK, entry->project, entry->relative, entry->source,
                        NULL);
          break;
        case CSB_LAYOUT_DIR:
        case CSB_LAYOUT_SOCKET:
        case CSB_LAYOUT_OVERLAY:
        default:
          g_assert_not_reached ();
        }
    }
}
