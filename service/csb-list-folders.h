/* csb-list-folders.h — the subfolders of a folder under the home, for a remote
 * folder entry's completion (Manager.ListFolders).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* At most this many names come back; the listing reads at most
 * CSB_LIST_FOLDERS_MAX_SCANNED entries of the folder. */
#define CSB_LIST_FOLDERS_MAX          1000
#define CSB_LIST_FOLDERS_MAX_SCANNED  20000

/* The names of the subfolders of @path (absolute, or relative to @home, "~" and
 * "~/…" being @home), sorted by bytes; only under @home (which is itself allowed), with no
 * ".." and no symbolic link followed on the way or listed (a link to a folder is
 * not a folder here); names that are not UTF-8 are left out. NULL with
 * CSB_ERROR_INVALID_ARGUMENT (not under the home, "..", a link on the way) or
 * CSB_ERROR_NOT_FOUND (missing, not a folder). */
GStrv csb_list_folders (const char  *home,
                        const char  *path,
                        guint        max_names,
                        GError     **error);

G_END_DECLS
