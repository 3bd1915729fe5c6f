/* csb-protected-names.c — which names in a project run or are obeyed later outside
 * a sandbox, matched as a case-insensitive file system would: the service's review
 * and project guard, and the CLI's --sync (what a sandbox on the remote wrote is not
 * copied here unasked).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib.h>

#include "csb-protected-names.h"

char *
csb_guard_fold_name (const char *name)
{
  g_autofree char *folded = NULL;
  gboolean ascii = TRUE;

  g_return_val_if_fail (name != NULL, NULL);

  for (const char *p = name; *p != '\0' && ascii; p++)
    ascii = (guchar) *p < 0x80;
  if (ascii || !g_utf8_validate (name, -1, NULL))
    return g_ascii_strdown (name, -1);
  folded = g_utf8_casefold (name, -1);
  return g_utf8_normalize (folded, -1, G_NORMALIZE_NFD);
}

/* What runs or is obeyed outside the sandbox later (git, the host's claude, direnv,
 * editors, pre-commit): a fixed list of names, as the project guard's. */
gboolean
csb_review_path_is_protected (const char *path)
{
  g_auto(GStrv) parts = g_strsplit (path, "/", -1);
  guint n = g_strv_length (parts);
  static const char * const anywhere[] = {
    ".git", ".devcontainer", ".husky", NULL
  };
  static const char * const files[] = {
    ".mcp.json", ".envrc", ".devcontainer.json", ".gitmodules", ".pre-commit-config.yaml",
    NULL
  };

  /* Folded: the real folder may be on a case-insensitive filesystem, where
   * ".CLAUDE/Settings.json" applied is Claude Code's settings. */
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *part = csb_guard_fold_name (parts[i]);
      g_autofree char *next = i + 1 < n ? csb_guard_fold_name (parts[i + 1]) : NULL;

      if (g_strv_contains (anywhere, part))
        return TRUE;
      if (i + 1 == n && g_strv_contains (files, part))
        return TRUE;
      /* The folder itself: made a symlink (to a folder of the sandbox's with a
       * settings.json or tasks.json) or deleted, its protected files would go with it. */
      if (i + 1 == n && (g_str_equal (part, ".claude") || g_str_equal (part, ".vscode")))
        return TRUE;
      if (g_str_equal (part, ".vscode") && next != NULL &&
          (g_str_equal (next, "tasks.json") || g_str_equal (next, "settings.json") ||
           g_str_equal (next, "launch.json")))
        return TRUE;
      if (g_str_equal (part, ".claude") && next != NULL &&
          (g_str_equal (next, "hooks") ||
           (g_str_has_prefix (next, "settings") && g_str_has_suffix (next, ".json"))))
        return TRUE;
    }
  return FALSE;
}
