/* csb-project-guard.h — what in a project folder runs or is obeyed later outside
 * the sandbox (git's hooks and config, Claude Code's settings, …): the fixed list
 * of names the backends protect, opened without following links, and the scan
 * that reports what a sandbox planted.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "csb-file.h"

#include "csb-protected-names.h"

G_BEGIN_DECLS

/* How deep (folders below the project) and how many folders the walks for nested
 * repositories, nested .claude folders and plants go. */
#define CSB_GUARD_MAX_DEPTH 4
#define CSB_GUARD_MAX_DIRS  2000
/* How many entries at most are protected (each a bind and a descriptor). */
#define CSB_GUARD_MAX_ENTRIES 256

typedef enum
{
  CSB_GUARD_SELF,     /* a folder bound onto itself, read-write: it cannot be renamed away */
  CSB_GUARD_RO,       /* read-only */
  CSB_GUARD_TMPFS,    /* a fresh tmpfs with its entries bound back (bwrap); others: SELF */
  CSB_GUARD_RW,       /* an entry of a TMPFS folder, bound back read-write */
  CSB_GUARD_SYMLINK,  /* an entry of a TMPFS folder, a symlink made again inside */
} CsbGuardKind;

typedef struct
{
  char         *path;     /* relative to the project, no "..", no links on the way */
  CsbGuardKind  kind;
  gboolean      is_dir;
  char         *target;   /* SYMLINK: where it points */
  int           fd;       /* O_PATH, opened without following links; -1 for none */
} CsbGuardEntry;

typedef struct
{
  char *path;             /* relative to the project */
  char *why;
} CsbPlant;

void       csb_guard_entry_free  (CsbGuardEntry *entry);
CsbPlant  *csb_plant_new         (const char    *path,
                                  const char    *why);
void       csb_plant_free        (CsbPlant      *plant);


/* The project's protected entries, parents before their children. A symlink, a
 * wrong type or another owner where a protected name should be is not bound but
 * added to @plants. Creates .git/hooks and .git/commondir (".") where missing, so
 * that a sandbox cannot make them. @project_fd: the project folder, O_PATH. */
GPtrArray *csb_project_guard_collect (int         project_fd,
                                      GPtrArray  *plants);

/* Both of the above and the snapshot below in one walk of the project. */
GPtrArray *csb_project_guard_prepare (int          project_fd,
                                      GPtrArray   *plants,
                                      GHashTable **out_snapshot);

/* The files of the kinds that run later outside (see the README's list), each
 * with its size, mtime and inode, links not followed: a table path → stamp. */
GHashTable *csb_project_guard_snapshot (int        project_fd);
/* A snapshot as NUL-separated records and back (a restarted service compares with
 * the snapshot of the start); NULL for data that is not one. */
GBytes     *csb_project_guard_snapshot_to_bytes   (GHashTable *snapshot);
GHashTable *csb_project_guard_snapshot_from_bytes (GBytes     *bytes);

/* What is new or changed in @now compared with @before, as CsbPlant (element-type). */
GPtrArray  *csb_project_guard_compare  (int         project_fd,
                                        GHashTable *before,
                                        GHashTable *now);

gboolean   csb_guard_name_is     (const char    *name,
                                  const char    *protected_name);

G_END_DECLS
