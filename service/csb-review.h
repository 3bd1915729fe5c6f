/* csb-review.h — review mode: the sandbox's writes to the project wait in a layer
 * of their own (an overlay's upper folder under the sandbox's state folder) until
 * the user applies or discards them.
 *
 * The upper layer is written by the sandbox: hostile input. It is read without
 * following links (openat2 RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH), by type (lstat),
 * and only files, folders and symlinks ever reach the project.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

#include "csb-protected-names.h"

G_BEGIN_DECLS

/* Where, inside a bwrap sandbox, the project (lower) and the layers (rw: upper and
 * work) wait for the overlay mount (csb-review-mount.c). */
#define CSB_REVIEW_STAGE "/run/claude-sandbox-review"

typedef enum
{
  CSB_CHANGE_ADDED,
  CSB_CHANGE_MODIFIED,
  CSB_CHANGE_DELETED,
  CSB_CHANGE_TYPE_CHANGED,
} CsbChangeKind;

typedef struct
{
  char          *path;        /* relative to the project */
  CsbChangeKind  kind;
  char          *summary;     /* short, human-readable */
  gboolean       protected;   /* runs or is obeyed outside: applied only when named */
  gboolean       applicable;  /* FALSE: a fifo, socket or device, never applied */
} CsbChange;

void        csb_change_free          (CsbChange     *change);
const char *csb_change_kind_name     (CsbChangeKind  kind);

/* Creates STATE_DIR/review/{upper,work} (0700; upper with @project_mode's
 * permissions, which the overlay's root shows) and returns the review folder,
 * opened O_PATH, for the sandbox's rw binding; -1 and @error otherwise. */
int         csb_review_prepare       (const char    *state_dir,
                                      mode_t         project_mode,
                                      GError       **error);
/* The review folder's path, for backends that share or bind paths (vm, container). */
char       *csb_review_dir           (const char    *state_dir);
gboolean    csb_review_exists        (const char    *state_dir);

/* (element-type CsbChange) sorted by path, parents first. */
GPtrArray  *csb_review_list          (const char    *state_dir,
                                      const char    *project_dir,
                                      GError       **error);

/* A memfd (at offset 0) with a unified diff of @path, or a line saying why there
 * is none (binary files, links, folders). */
int         csb_review_diff          (const char    *state_dir,
                                      const char    *project_dir,
                                      const char    *path,
                                      GError       **error);

/* A copy of the regular file @fd in a memfd (at offset 0), read with a bound: -1 if @fd
 * is not a regular file or cannot be read, or (with *@too_large) holds more than @max
 * bytes, by fstat or because it grew while read. */
int         csb_review_snapshot      (int            fd,
                                      gsize          max,
                                      gboolean      *too_large);

/* @paths: empty for every change that is neither protected nor unapplicable; else
 * the changes at these paths and below them (protected ones only when named
 * exactly). Refuses, applying nothing, when a real file changed since @since_us
 * (µs since the epoch) other than by an earlier apply. */
gboolean    csb_review_apply         (const char         *state_dir,
                                      const char         *project_dir,
                                      const char * const *paths,
                                      gint64              since_us,
                                      GError            **error);
/* @paths as for apply (empty: everything, protected ones too). */
gboolean    csb_review_discard       (const char         *state_dir,
                                      const char         *project_dir,
                                      const char * const *paths,
                                      GError            **error);
/* Deletes the review folder (its layers and the record of applied files). */
gboolean    csb_review_remove        (const char         *state_dir,
                                      GError            **error);

G_END_DECLS
