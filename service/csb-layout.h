/* csb-layout.h — what a sandbox sees of the host's files, where, and how, as one
 * description built before any backend's arguments (in the manner of Flatpak's
 * FlatpakExports): binds (read-only or read-write, from a path or a descriptor),
 * fresh tmpfs folders, folders and symlinks, in mount order, and the names of the
 * protections they give (csb-protections.c). A backend translates it (bwrap:
 * arguments; the VM's and the container's inits: plan entries); the description
 * answers "what is at this path inside" for the tests.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "csb-argv.h"
#include "csb-claude-home.h"
#include "csb-compositor.h"
#include "csb-project-guard.h"

G_BEGIN_DECLS

typedef enum
{
  CSB_LAYOUT_BIND_RO,
  CSB_LAYOUT_BIND_RW,
  CSB_LAYOUT_TMPFS,     /* a fresh tmpfs: empty, the sandbox's own */
  CSB_LAYOUT_DIR,       /* a folder made inside (on whatever holds its parent) */
  CSB_LAYOUT_SYMLINK,
  CSB_LAYOUT_SOCKET,    /* a socket of the host's session, bound (connect(2) works) */
  CSB_LAYOUT_OVERLAY,   /* the project under review: an overlay at its path of the two
                         * folders bound below the entry's source (CSB_REVIEW_STAGE):
                         * lower (the project, read-only) and rw (the sandbox's layers),
                         * mounted before the command runs; the stage is gone then */
} CsbLayoutKind;

/* What a path inside is: nothing, the host's file (read-only or not), or the
 * sandbox's own (a tmpfs or a folder made for it). */
typedef enum
{
  CSB_LAYOUT_HIDDEN,
  CSB_LAYOUT_HOST_RO,
  CSB_LAYOUT_HOST_RW,
  CSB_LAYOUT_PRIVATE,
} CsbLayoutAccess;

typedef struct _CsbLayout CsbLayout;

CsbLayout       *csb_layout_new                  (void);
void             csb_layout_free                 (CsbLayout   *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbLayout, csb_layout_free)

void             csb_layout_bind                 (CsbLayout   *self,
                                                  const char  *source,
                                                  const char  *dest,
                                                  gboolean     readonly);
/* @mode: the tmpfs root's permissions, or 0 for bwrap's default (0755). */
void             csb_layout_tmpfs                (CsbLayout   *self,
                                                  const char  *dest,
                                                  guint        mode);
void             csb_layout_dir                  (CsbLayout   *self,
                                                  const char  *dest);
void             csb_layout_symlink              (CsbLayout   *self,
                                                  const char  *target,
                                                  const char  *dest);
/* The project's protected entries (csb-project-guard.c, parents first) over the
 * project folder @project_dir, the same path inside as outside: each bound from
 * the descriptor the guard opened without following links (the layout takes the
 * descriptors out of @entries), the project's own .claude a fresh tmpfs with its
 * entries bound (or, for symlinks, made) again, so that a settings file created
 * inside never reaches the folder. Adds "git-config-ro" and
 * "project-claude-settings-ro" to the layout's protections, as they apply. */
void             csb_layout_protect_project      (CsbLayout   *self,
                                                  const char  *project_dir,
                                                  GPtrArray   *entries);
/* The project folder @project_dir, read-write at its own path, bound from a
 * descriptor opened now and checked to be that folder still (a path bound later
 * could meanwhile lead elsewhere: a parent swapped for a link to /etc); backends
 * that bind paths bind its path. Then its protection (csb_layout_protect_project,
 * @entries). FALSE with @error when the folder changed. */
gboolean         csb_layout_project              (CsbLayout   *self,
                                                  const char  *project_dir,
                                                  GPtrArray   *entries,
                                                  GError     **error);
/* Review mode: nothing of the project is bound read-write. The project (checked as
 * above) read-only at CSB_REVIEW_STAGE/lower and the sandbox's review folder
 * (csb_review_prepare in @state_dir) read-write at CSB_REVIEW_STAGE/rw, both from
 * descriptors, and at the project's path a CSB_LAYOUT_OVERLAY of the two. Gives
 * "project-review". FALSE with @error when the folder changed or the review folder
 * cannot be made. */
gboolean         csb_layout_project_review       (CsbLayout   *self,
                                                  const char  *project_dir,
                                                  const char  *state_dir,
                                                  GError     **error);
/* The project's Claude home (csb-claude-home.c) at @home/.claude, read-write, the
 * user's own entries (settings, CLAUDE.md, commands…) read-only over it, and the
 * folder of its .claude.json at CSB_CLAUDE_HOME_JSON_INSIDE with ~/.claude.json a
 * symlink into it (Claude Code replaces the file by rename). With a NULL
 * @staged_dir all from the home's descriptors (duplicated; bwrap); else, for the
 * backends that bind paths, the home's two folders by path (no sandbox sees the
 * folder that holds them, so they cannot be swapped) and the user's entries as
 * copies made into @staged_dir (csb_claude_home_stage_user), only those copied.
 * Gives "claude-home" and "claude-config-ro". FALSE with @error when the copies
 * cannot be made. */
gboolean         csb_layout_claude_home          (CsbLayout     *self,
                                                  const char    *home,
                                                  CsbClaudeHome *claude_home,
                                                  const char    *staged_dir,
                                                  GError       **error);
/* The user's extra folders (the ro-binds and rw-binds options), each checked
 * (csb_validate_bind_path, against @home) and bound at its own path from where it
 * resolves, the read-only ones first. FALSE with @error naming the option and the
 * path that was refused. */
gboolean         csb_layout_user_binds           (CsbLayout   *self,
                                                  GPtrArray   *ro_binds,
                                                  GPtrArray   *rw_binds,
                                                  const char  *home,
                                                  GError     **error);
/* The host's @path at the same path, read-only: a symlink whose target is visible
 * already stays a symlink; another one is bound from where it resolves (so
 * /etc/resolv.conf → /run/… works with a private /run); nothing for a missing or
 * dangling path. */
void             csb_layout_expose_host_path     (CsbLayout   *self,
                                                  const char  *path);
/* The host's merged-/usr links ("/bin", "/lib"…: folders on a host without merged
 * /usr), NULL-terminated. */
extern const char * const csb_layout_usr_links[];
/* The host's programs, read-only: /usr, its merged-/usr links (/bin, /lib…; bound
 * where they are folders), /opt and /nix/store where present. Gives "usr-ro". */
void             csb_layout_expose_host_usr        (CsbLayout   *self);
/* The host's programs and the curated /etc, read-only: csb_layout_expose_host_usr()
 * and /etc's allowlist (csb_etc_allowlist) — the part every backend shows the same
 * (the VM's /etc comes in its initramfs, from the same allowlist). */
void             csb_layout_expose_host_programs   (CsbLayout   *self);
/* A fresh tmpfs (0700) at @home, the user's real home path, with only the home's
 * read-only files (csb_home_ro_files; gh's only with @gh_token) bound from where
 * they resolve: a symlinked dotfile shows what it leads to. */
void             csb_layout_private_home         (CsbLayout   *self,
                                                  const char  *home,
                                                  gboolean     gh_token);

/* The host's socket @source at @dest inside, and with @env_name the variable that
 * names it there (@env_value) — what a backend gives for an option, the same path
 * inside in every backend. FALSE (and nothing added) when @source is not a socket. */
gboolean         csb_layout_socket               (CsbLayout   *self,
                                                  const char  *source,
                                                  const char  *dest,
                                                  const char  *env_name,
                                                  const char  *env_value);
/* The session's socket @name: itself when absolute, else in the session's
 * XDG_RUNTIME_DIR (ours without one in @environ); NULL for a NULL or empty @name. */
char            *csb_layout_session_socket_path  (const char * const *environ,
                                                  const char         *name);
/* A Wayland socket @source as @run_user/wayland-0, named by WAYLAND_DISPLAY inside,
 * giving @protection ("wayland-security-context" for the compositor's restricted
 * one, "wayland-unrestricted" for the session's own); FALSE when @source is not a
 * socket. */
gboolean         csb_layout_wayland              (CsbLayout          *self,
                                                  const char         *source,
                                                  const char         *run_user,
                                                  const char         *protection);
/* A private display's folder @dir (its compositor's socket, csb-compositor.h)
 * read-only at CSB_LAYOUT_DISPLAY_INSIDE, @run_user/wayland-0 a link to the socket,
 * WAYLAND_DISPLAY inside; gives "display-private". */
#define CSB_LAYOUT_DISPLAY_INSIDE "/run/claude-sandbox-display"
void             csb_layout_private_display      (CsbLayout          *self,
                                                  const char         *dir,
                                                  const char         *run_user,
                                                  gboolean            x11);
/* The session's sound servers, where it has them, in @run_user (the sandbox's
 * XDG_RUNTIME_DIR): PipeWire's pipewire-0 and PulseAudio's pulse/native
 * (PULSE_SERVER). @environ: the session's, for its XDG_RUNTIME_DIR. */
void             csb_layout_session_audio        (CsbLayout          *self,
                                                  const char * const *environ,
                                                  const char         *run_user);
/* The session's ssh-agent (SSH_AUTH_SOCK in @environ) as @run_user/ssh-agent, named
 * by SSH_AUTH_SOCK inside; FALSE when the session names no socket. */
gboolean         csb_layout_ssh_agent            (CsbLayout          *self,
                                                  const char * const *environ,
                                                  const char         *run_user);
/* The variables the layout's sockets set inside, into @env (name → value). */
void             csb_layout_add_environment      (CsbLayout   *self,
                                                  GHashTable  *env);

/* What a process inside finds at the absolute @path (symlinks of the layout are
 * followed, at most 8); for the host's files, @out_source (nullable) gets the
 * host path it comes from. */
CsbLayoutAccess  csb_layout_get_access           (CsbLayout   *self,
                                                  const char  *path,
                                                  char       **out_source);

/* The names of the protections the layout's entries give, once each, in the
 * order they were first given, added to @protections (csb_protections_add). */
void             csb_layout_add_protections      (CsbLayout   *self,
                                                  GPtrArray   *protections);

/* One entry of the layout for a backend's own translator: @source is the host
 * path of a bind, the target of a symlink or an overlay's stage, @mode a tmpfs's
 * permissions (0: the default). FALSE with @error set stops the walk. */
typedef gboolean (*CsbLayoutFunc) (CsbLayoutKind   kind,
                                   const char     *source,
                                   const char     *dest,
                                   guint           mode,
                                   gpointer        user_data,
                                   GError        **error);
/* Calls @func for each entry, in order, for the backends that bind paths: a bind
 * from a descriptor by its path where that path may be bound (the project folder,
 * the Claude home's folders, the review's); the project's protected entries go
 * through csb_layout_append_init_plan() instead. FALSE with @error for an entry
 * that only a descriptor may bind (a Claude home laid out without @staged_dir). */
gboolean         csb_layout_foreach              (CsbLayout   *self,
                                                  CsbLayoutFunc func,
                                                  gpointer     user_data,
                                                  GError     **error);

/* The layout as bwrap arguments, in order (a socket's variable as --setenv after
 * it); descriptors go to @args. */
void             csb_layout_append_bwrap_args    (CsbLayout   *self,
                                                  CsbArgv     *args);
/* The project's protected entries as plan entries (NUL-terminated words) for the
 * inits of the VM and the container, which open each again from the project folder
 * without following links (csb-init-protect.c): "protect PROJECT PATH ro|rw d|f",
 * "protect-tmpfs PROJECT PATH UID GID", "protect-link PROJECT PATH TARGET". @uid and
 * @gid: the user inside, owner of the tmpfs folders. Entries that are not the
 * project's are the backends' own still (their shares and binds). */
void             csb_layout_append_init_plan     (CsbLayout   *self,
                                                  GByteArray  *plan,
                                                  guint32      uid,
                                                  guint32      gid);

G_END_DECLS
