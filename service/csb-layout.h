/* csb-layout.h — what a sandbox sees of the host's files, where, and how, as one
 * description built before any backend's arguments (in the manner of Flatpak's
 * FlatpakExports): binds (read-only or read-write), fresh tmpfs folders, folders
 * and symlinks, in mount order. A backend translates it (bwrap: arguments); the
 * description answers "what is at this path inside" for the tests.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "csb-argv.h"

G_BEGIN_DECLS

typedef enum
{
  CSB_LAYOUT_BIND_RO,
  CSB_LAYOUT_BIND_RW,
  CSB_LAYOUT_TMPFS,     /* a fresh tmpfs: empty, the sandbox's own */
  CSB_LAYOUT_DIR,       /* a folder made inside (on whatever holds its parent) */
  CSB_LAYOUT_SYMLINK,
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
/* The host's @path at the same path, read-only: a symlink whose target is visible
 * already stays a symlink; another one is bound from where it resolves (so
 * /etc/resolv.conf → /run/… works with a private /run); nothing for a missing or
 * dangling path. */
void             csb_layout_expose_host_path     (CsbLayout   *self,
                                                  const char  *path);
/* The host's programs and the curated /etc, read-only: /usr, its merged-/usr links
 * (/bin, /lib…), /opt and /nix/store where present, and /etc's allowlist
 * (csb_etc_allowlist) — the part every backend shows the same. */
void             csb_layout_expose_host_programs   (CsbLayout   *self);
/* A fresh tmpfs (0700) at @home, the user's real home path, with only the home's
 * read-only files (csb_home_ro_files; gh's only with @gh_token) bound from where
 * they resolve: a symlinked dotfile shows what it leads to. */
void             csb_layout_private_home         (CsbLayout   *self,
                                                  const char  *home,
                                                  gboolean     gh_token);

/* What a process inside finds at the absolute @path (symlinks of the layout are
 * followed, at most 8); for the host's files, @out_source (nullable) gets the
 * host path it comes from. */
CsbLayoutAccess  csb_layout_get_access           (CsbLayout   *self,
                                                  const char  *path,
                                                  char       **out_source);

/* The layout as bwrap arguments, in order. */
void             csb_layout_append_bwrap_args    (CsbLayout   *self,
                                                  CsbArgv     *args);

G_END_DECLS
