/* csb-cli-sync.c
 *
 * A two-way sync of a project folder here with one on a remote machine, for users
 * whose project lives on the laptop and whose sandboxes run on a server. rsync does
 * the listing and the copying, over the same ssh as --host; this decides what goes
 * where, as unison does: each side's listing (type, size, modification time; rsync's
 * own quick check) is compared with the one both sides had after the last sync,
 * kept in $XDG_STATE_HOME/claude-sandbox/sync/. What changed on one side only is
 * copied (or deleted) on the other; what changed on both, differently, is a
 * conflict: reported, and neither side touched. The first sync has no such record:
 * a file on one side goes to the other, files that differ on both are conflicts.
 *
 * Both listings apply the same filter: no .git folder, and each folder's .gitignore
 * (rsync's dir-merge rule ":- .gitignore"), on each side its own. Links are copied
 * as links; from the remote, links that point out of the tree are not copied
 * (--safe-links): whatever a sandbox there wrote is hostile input here. Nor are the
 * names that run or are obeyed here later (.git in any case, .envrc, .mcp.json,
 * .claude/settings*.json and hooks, .vscode's tasks, …, at any depth, matched as a
 * folder that ignores case would): they are said, and left to the user.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "csb-argv.h"
#include "csb-cli-common.h"
#include "csb-cli-remote.h"
#include "csb-cli-sync.h"
#include "csb-protected-names.h"

#define GITIGNORE_FILTER "--filter=:- .gitignore"
#define WATCH_DEBOUNCE_MS 500
/* More deletions than this, and more than half of a side's files, in one sync wait
 * for --delete-many: an `rm -rf` by a sandbox on the remote must not empty the folder
 * here unasked (as unison's confirmbigdeletes). */
#define MANY_DELETIONS 50

typedef struct
{
  char     type;    /* 'f' a file, 'l' a symlink */
  guint64  size;
  char    *time;    /* as rsync lists it: YYYY/MM/DD hh:mm:ss */
} Entry;

typedef struct
{
  const char *host;
  char       *local_dir;     /* absolute, no trailing slash */
  const char *remote_dir;
  char       *shell;         /* rsync -e */
  char       *base_path;     /* the listing both sides had after the last sync */
  char        prefer;        /* conflicts: 'h' here wins, 't' there wins, 0 reported */
  guint       kept_ignored[2]; /* said last time: kept here, there (see keep_ignored) */
  gboolean    delete_many;
  /* --watch */
  GMainLoop  *loop;
  GHashTable *monitors;      /* folder → GFileMonitor */
  guint       debounce_id;
  int         status;
} Sync;

static void
entry_free (gpointer data)
{
  Entry *entry = data;

  g_free (entry->time);
  g_free (entry);
}

static gboolean
entry_equal (const Entry *a,
             const Entry *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return a->type == b->type && a->size == b->size && g_str_equal (a->time, b->time);
}

static GHashTable *
entries_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, entry_free);
}

/* rsync writes a name's unprintable bytes as \#ooo. */
static char *
unescape_name (const char *name)
{
  GString *out = g_string_new (NULL);

  for (const char *p = name; *p; p++)
    {
      if (p[0] == '\\' && p[1] == '#' && g_ascii_isdigit (p[2]) && g_ascii_isdigit (p[3]) &&
          g_ascii_isdigit (p[4]))
        {
          g_string_append_c (out, (char) (((p[2] - '0') << 6) | ((p[3] - '0') << 3) |
                                          (p[4] - '0')));
          p += 4;
        }
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

/* One line of rsync --list-only: "PERMS SIZE YYYY/MM/DD hh:mm:ss NAME[ -> TARGET]",
 * the size with thousands separators. */
static void
parse_listing_line (GHashTable *entries,
                    const char *line)
{
  const char *words[4];
  gsize lengths[4];
  const char *p = line;
  g_autoptr(GString) size = g_string_new (NULL);
  g_autofree char *name = NULL;
  char *arrow;
  Entry *entry;

  for (guint i = 0; i < 4; i++)
    {
      while (*p == ' ')
        p++;
      words[i] = p;
      while (*p != ' ' && *p != '\0')
        p++;
      lengths[i] = p - words[i];
      if (lengths[i] == 0)
        return;
    }
  /* The name is what follows the fourth word and its one space. */
  if (*p != ' ' || p[1] == '\0')
    return;
  /* Folders are made as needed; devices, FIFOs and sockets are not synced. */
  if (words[0][0] != '-' && words[0][0] != 'l')
    return;
  for (gsize i = 0; i < lengths[1]; i++)
    if (g_ascii_isdigit (words[1][i]))
      g_string_append_c (size, words[1][i]);
  name = g_strdup (p + 1);
  if (words[0][0] == 'l' && (arrow = strstr (name, " -> ")) != NULL)
    *arrow = '\0';
  if (g_str_equal (name, "."))
    return;
  entry = g_new0 (Entry, 1);
  entry->type = words[0][0] == 'l' ? 'l' : 'f';
  entry->size = g_ascii_strtoull (size->str, NULL, 10);
  entry->time = g_strdup_printf ("%.*s %.*s", (int) lengths[2], words[2], (int) lengths[3],
                                 words[3]);
  g_hash_table_replace (entries, unescape_name (name), entry);
}

/* Runs rsync (@argv) with @input on its stdin; its stderr is ours, or in @err. */
static gboolean
run_rsync (CsbArgv  *argv,
           GBytes   *input,
           char    **out,
           char    **err,
           int      *exit_status,
           GError  **error)
{
  g_autoptr(GSubprocess) rsync = NULL;
  g_autoptr(GBytes) stdout_bytes = NULL;
  g_autoptr(GBytes) stderr_bytes = NULL;
  GSubprocessFlags flags = G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                           (err ? G_SUBPROCESS_FLAGS_STDERR_PIPE : G_SUBPROCESS_FLAGS_NONE) |
                           (input ? G_SUBPROCESS_FLAGS_STDIN_PIPE : G_SUBPROCESS_FLAGS_NONE);

  rsync = g_subprocess_newv (csb_argv_finish (argv), flags, error);
  if (rsync == NULL)
    {
      g_prefix_error (error, _("cannot run rsync (install it here and on the remote): "));
      return FALSE;
    }
  if (!g_subprocess_communicate (rsync, input, NULL, &stdout_bytes,
                                 err ? &stderr_bytes : NULL, error))
    return FALSE;
  *exit_status = g_subprocess_get_if_exited (rsync) ? g_subprocess_get_exit_status (rsync) : 255;
  if (out != NULL)
    {
      gsize len = 0;
      const char *data = stdout_bytes ? g_bytes_get_data (stdout_bytes, &len) : NULL;

      *out = data != NULL ? g_strndup (data, len) : g_strdup ("");
    }
  if (err != NULL)
    {
      gsize len = 0;
      const char *data = stderr_bytes ? g_bytes_get_data (stderr_bytes, &len) : NULL;

      *err = g_strstrip (data != NULL ? g_strndup (data, len) : g_strdup (""));
    }
  return TRUE;
}

static CsbArgv *
rsync_argv_filtered (Sync     *sync,
                     gboolean  gitignore)
{
  CsbArgv *argv = csb_argv_new ();

  /* -s: names reach the remote rsync as they are, not through its shell. */
  csb_argv_add_args (argv, "rsync", "-s", "-e", sync->shell, "--exclude=.git", NULL);
  if (gitignore)
    csb_argv_add (argv, GITIGNORE_FILTER);
  return argv;
}

static CsbArgv *
rsync_argv (Sync *sync)
{
  return rsync_argv_filtered (sync, TRUE);
}

static char *
remote_source (Sync *sync)
{
  return g_strdup_printf ("%s:%s/", sync->host, sync->remote_dir);
}

/* One side's files as rsync lists them; with @gitignore, less what its .gitignore
 * files ignore. */
static GHashTable *
list_side_filtered (Sync     *sync,
                    gboolean  remote,
                    gboolean  gitignore,
                    GError  **error)
{
  g_autoptr(CsbArgv) argv = rsync_argv_filtered (sync, gitignore);
  g_autoptr(GHashTable) entries = entries_new ();
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *source = remote ? remote_source (sync)
                                   : g_strconcat (sync->local_dir, "/", NULL);
  g_auto(GStrv) lines = NULL;
  int status;

  csb_argv_add_args (argv, "-r", "-l", "--list-only", source, NULL);
  if (!run_rsync (argv, NULL, &out, &err, &status, error))
    return NULL;
  /* 23 with nothing listed: a remote folder that is not there yet (the first sync). */
  if (status != 0 && !(remote && status == 23 && *out == '\0' &&
                       strstr (err, "No such file or directory") != NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   _("rsync could not list %s (exit status %d): %s"), source, status, err);
      return NULL;
    }
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    parse_listing_line (entries, lines[i]);
  return g_steal_pointer (&entries);
}

static GHashTable *
list_side (Sync     *sync,
           gboolean  remote,
           GError  **error)
{
  return list_side_filtered (sync, remote, TRUE, error);
}

/* Names of @deletions (to be deleted on the other side) that are still there on their
 * own side, only ignored now: a .gitignore that changed (one a sandbox wrote, say
 * "*") must not delete the other side's copies. They leave @deletions. */
static void
keep_ignored (Sync      *sync,
              GPtrArray *deletions,
              gboolean   remote)
{
  g_autoptr(GHashTable) all = NULL;
  g_autoptr(GError) error = NULL;
  guint kept = 0;

  if (deletions->len == 0)
    {
      sync->kept_ignored[remote] = 0;
      return;
    }
  if ((all = list_side_filtered (sync, remote, FALSE, &error)) == NULL)
    {
      /* Unsure: nothing deleted this time. */
      csb_cli_print_error ("%s", error->message);
      g_ptr_array_set_size (deletions, 0);
      return;
    }
  for (guint i = 0; i < deletions->len; )
    {
      if (g_hash_table_contains (all, g_ptr_array_index (deletions, i)))
        {
          g_ptr_array_remove_index (deletions, i);
          kept++;
        }
      else
        i++;
    }
  /* Said once, not at every turn of --watch. */
  if (kept > 0 && kept != sync->kept_ignored[remote])
    csb_cli_print_error (remote ? _("%u files ignored on %s now (its .gitignore changed) are "
                                    "not deleted here") : _("%u files ignored here now (a "
                                    ".gitignore changed) are not deleted on %s"), kept,
                         sync->host);
  sync->kept_ignored[remote] = kept;
}

/* ---- the record of the last sync ---------------------------------------------------- */

/* "files": what both sides had; "refused": links of the remote that were not
 * copied here (pointing out of the tree), so they are neither asked for again nor
 * deleted there while they stay as they are. */
static void
load_entries (JsonObject *object,
              const char *member,
              GHashTable *entries)
{
  JsonNode *node = json_object_get_member (object, member);
  JsonArray *files = node && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;

  for (guint i = 0; files != NULL && i < json_array_get_length (files); i++)
    {
      JsonNode *item_node = json_array_get_element (files, i);
      JsonArray *item = JSON_NODE_HOLDS_ARRAY (item_node) ? json_node_get_array (item_node) : NULL;
      const char *path, *type, *time;
      Entry *entry;

      if (item == NULL || json_array_get_length (item) != 4 ||
          (path = json_node_get_string (json_array_get_element (item, 0))) == NULL ||
          (type = json_node_get_string (json_array_get_element (item, 1))) == NULL ||
          (time = json_node_get_string (json_array_get_element (item, 3))) == NULL)
        continue;
      entry = g_new0 (Entry, 1);
      entry->type = *type == 'l' ? 'l' : 'f';
      entry->size = json_array_get_int_element (item, 2);
      entry->time = g_strdup (time);
      g_hash_table_replace (entries, g_strdup (path), entry);
    }
}

static void
load_base (Sync       *sync,
           GHashTable *base,
           GHashTable *refused)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (!json_parser_load_from_file (parser, sync->base_path, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  load_entries (json_node_get_object (root), "files", base);
  load_entries (json_node_get_object (root), "refused", refused);
}

static void
add_entries (JsonBuilder *builder,
             const char  *member,
             GHashTable  *entries)
{
  GHashTableIter iter;
  const char *path;
  Entry *entry;

  json_builder_set_member_name (builder, member);
  json_builder_begin_array (builder);
  g_hash_table_iter_init (&iter, entries);
  while (g_hash_table_iter_next (&iter, (gpointer *) &path, (gpointer *) &entry))
    {
      char type[2] = { entry->type, '\0' };

      json_builder_begin_array (builder);
      json_builder_add_string_value (builder, path);
      json_builder_add_string_value (builder, type);
      json_builder_add_int_value (builder, (gint64) entry->size);
      json_builder_add_string_value (builder, entry->time);
      json_builder_end_array (builder);
    }
  json_builder_end_array (builder);
}

static gboolean
save_base (Sync       *sync,
           GHashTable *base,
           GHashTable *refused,
           GError    **error)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *dir = g_path_get_dirname (sync->base_path);
  g_autofree char *data = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "host");
  json_builder_add_string_value (builder, sync->host);
  json_builder_set_member_name (builder, "remote");
  json_builder_add_string_value (builder, sync->remote_dir);
  json_builder_set_member_name (builder, "local");
  json_builder_add_string_value (builder, sync->local_dir);
  add_entries (builder, "files", base);
  add_entries (builder, "refused", refused);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  data = json_generator_to_data (generator, NULL);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), _("cannot make %s: %s"), dir,
                   g_strerror (errno));
      return FALSE;
    }
  return g_file_set_contents_full (sync->base_path, data, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                   0600, error);
}

/* ---- one sync ----------------------------------------------------------------------- */

static Entry *
entry_copy (const Entry *entry)
{
  Entry *copy = g_new0 (Entry, 1);

  copy->type = entry->type;
  copy->size = entry->size;
  copy->time = g_strdup (entry->time);
  return copy;
}

static void
set_entry (GHashTable  *entries,
           const char  *path,
           const Entry *entry)
{
  if (entry != NULL)
    g_hash_table_replace (entries, g_strdup (path), entry_copy (entry));
  else
    g_hash_table_remove (entries, path);
}

/* Copies (or deletes, for names missing at the source) @paths, here to there with
 * @push, else there to here; returns the names rsync copied or deleted (its own
 * account, --out-format), or NULL (@error set). A file that changed at the
 * destination after the listings is newer there: --update leaves it alone. */
static GHashTable *
transfer (Sync       *sync,
          GPtrArray  *paths,
          gboolean    push,
          GError    **error)
{
  g_autoptr(CsbArgv) argv = rsync_argv (sync);
  g_autoptr(GByteArray) list = g_byte_array_new ();
  g_autoptr(GBytes) input = NULL;
  g_autoptr(GHashTable) done = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *remote = remote_source (sync);
  g_autofree char *local = g_strconcat (sync->local_dir, "/", NULL);
  g_autofree char *out = NULL;
  g_auto(GStrv) lines = NULL;
  int status;

  if (paths->len == 0)
    return g_steal_pointer (&done);
  for (guint i = 0; i < paths->len; i++)
    g_byte_array_append (list, g_ptr_array_index (paths, i),
                         strlen (g_ptr_array_index (paths, i)) + 1);
  input = g_byte_array_free_to_bytes (g_steal_pointer (&list));
  /* Links as links, permissions and times (the times make both listings agree);
   * never owners. */
  csb_argv_add_args (argv, "-l", "-p", "-t", "--update", "--from0", "--files-from=-",
                     "--delete-missing-args", "--out-format=%i %n", NULL);
  if (push)
    csb_argv_add_args (argv, "--mkpath", local, remote, NULL);
  else
    /* No set-ID bit from there: rsync -p keeps it for a receiver that is root, and the
     * copy is then root's. */
    csb_argv_add_args (argv, "--safe-links", "--chmod=Fug-s", remote, local, NULL);
  if (!run_rsync (argv, input, &out, NULL, &status, error))
    return NULL;
  /* "<f+++++++++ NAME", "*deleting   NAME" */
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *name = strchr (lines[i], ' ');

      if (name == NULL)
        continue;
      while (*name == ' ')
        name++;
      g_hash_table_add (done, unescape_name (name));
    }
  /* 24: "vanished source files", such as the folder of files deleted at the source:
   * what rsync did is in its account above, the rest comes up again. */
  if (status != 0 && status != 24)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   push ? _("rsync could not copy everything to %s (exit status %d)")
                        : _("rsync could not copy everything from %s (exit status %d)"),
                   remote, status);
      return NULL;
    }
  return g_steal_pointer (&done);
}

/* Whether @path here is still what the listing said (@listed, NULL: absent): a
 * change made since would be overwritten by what comes from there. */
static gboolean
local_unchanged (Sync        *sync,
                 const char  *path,
                 const Entry *listed)
{
  g_autofree char *full = g_build_filename (sync->local_dir, path, NULL);
  struct stat st;
  struct tm tm;
  char time[32];

  if (lstat (full, &st) != 0)
    return listed == NULL && errno == ENOENT;
  if (listed == NULL || localtime_r (&st.st_mtime, &tm) == NULL ||
      strftime (time, sizeof time, "%Y/%m/%d %H:%M:%S", &tm) == 0)
    return FALSE;
  return (S_ISLNK (st.st_mode) ? 'l' : S_ISREG (st.st_mode) ? 'f' : '?') == listed->type &&
         (guint64) st.st_size == listed->size && g_str_equal (time, listed->time);
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char **) a, *(const char **) b);
}

/* Every name of @tables, once, sorted. */
static GPtrArray *
all_names (GHashTable **tables,
           guint        n_tables)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);

  for (guint t = 0; t < n_tables; t++)
    {
      GHashTableIter iter;
      gpointer key;

      g_hash_table_iter_init (&iter, tables[t]);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        if (g_hash_table_add (seen, key))
          g_ptr_array_add (names, g_strdup (key));
    }
  g_ptr_array_sort (names, compare_strings);
  return names;
}

/* One sync's listings and what it decided; borrowed from sync_once(). */
typedef struct
{
  GHashTable *local;     /* path → Entry, here now */
  GHashTable *remote;    /* there now */
  GHashTable *base;      /* after the last sync, then the next sync's record */
  GHashTable *refused;   /* what was not taken from there, and was then there */
  GPtrArray  *names;     /* every path of the three listings, sorted */
  GPtrArray  *push;      /* paths (of names) to copy or delete there */
  GPtrArray  *pull;      /* paths to copy or delete here */
} Plan;

/* Sorts every name into push, pull or a conflict (said); returns the conflicts. */
static guint
plan_changes (Sync *sync,
              Plan *plan)
{
  guint conflicts = 0;

  for (guint i = 0; i < plan->names->len; i++)
    {
      const char *path = g_ptr_array_index (plan->names, i);
      Entry *l = g_hash_table_lookup (plan->local, path);
      Entry *r = g_hash_table_lookup (plan->remote, path);
      Entry *b = g_hash_table_lookup (plan->base, path);

      if (entry_equal (l, r))
        continue;
      /* Refused before (a link out, a protected name) and unchanged on both sides. */
      if (r != NULL && entry_equal (r, g_hash_table_lookup (plan->refused, path)) &&
          (l == NULL || entry_equal (l, b)))
        continue;
      if (entry_equal (r, b))
        g_ptr_array_add (plan->push, (gpointer) path);
      else if (entry_equal (l, b))
        g_ptr_array_add (plan->pull, (gpointer) path);
      else if (sync->prefer != 0)
        g_ptr_array_add (sync->prefer == 'h' ? plan->push : plan->pull, (gpointer) path);
      else
        {
          conflicts++;
          csb_cli_print_error (_("conflict: %s changed here and on %s since the last sync; "
                                 "neither copy was touched (sync again with --prefer=here or "
                                 "--prefer=there to keep one of them)"),
                               path, sync->host);
        }
    }
  return conflicts;
}

/* Takes out of @changes the deletions (names missing from @source, the side they
 * are copied from) that @deletions does not keep. */
static void
drop_deletions_not_kept (GPtrArray  *changes,
                         GHashTable *source,
                         GPtrArray  *deletions)
{
  for (guint i = 0; i < changes->len; )
    if (!g_hash_table_contains (source, g_ptr_array_index (changes, i)) &&
        !g_ptr_array_find_with_equal_func (deletions, g_ptr_array_index (changes, i),
                                           g_str_equal, NULL))
      g_ptr_array_remove_index (changes, i);
    else
      i++;
}

/* A deletion only for what is gone from its side, not merely ignored there now, and
 * not many at once unless --delete-many; FALSE if many were held back (said). */
static gboolean
limit_deletions (Sync *sync,
                 Plan *plan)
{
  g_autoptr(GPtrArray) push_deletions = g_ptr_array_new ();
  g_autoptr(GPtrArray) pull_deletions = g_ptr_array_new ();
  gboolean held_back = FALSE;

  for (guint i = 0; i < plan->push->len; i++)
    if (!g_hash_table_contains (plan->local, g_ptr_array_index (plan->push, i)))
      g_ptr_array_add (push_deletions, g_ptr_array_index (plan->push, i));
  for (guint i = 0; i < plan->pull->len; i++)
    if (!g_hash_table_contains (plan->remote, g_ptr_array_index (plan->pull, i)))
      g_ptr_array_add (pull_deletions, g_ptr_array_index (plan->pull, i));
  keep_ignored (sync, push_deletions, FALSE);
  keep_ignored (sync, pull_deletions, TRUE);
  for (guint side = 0; side < 2 && !sync->delete_many; side++)
    {
      GPtrArray *deletions = side == 0 ? push_deletions : pull_deletions;
      /* The files of the side they would be deleted from. */
      guint files = g_hash_table_size (side == 0 ? plan->remote : plan->local);

      if (deletions->len > MANY_DELETIONS && deletions->len * 2 > files)
        {
          csb_cli_print_error (side == 0
                               ? _("%u of the %u files on %s would be deleted there (they "
                                   "are gone here): not done; sync with --delete-many if "
                                   "that is what you want")
                               : _("%u of the %u files here would be deleted (they are "
                                   "gone on %s): not done; sync with --delete-many if that "
                                   "is what you want"),
                               deletions->len, files, sync->host);
          g_ptr_array_set_size (deletions, 0);
          held_back = TRUE;
        }
    }
  drop_deletions_not_kept (plan->push, plan->local, push_deletions);
  drop_deletions_not_kept (plan->pull, plan->remote, pull_deletions);
  return !held_back;
}

/* What changed here since the listing waits for the next sync: rsync would send it
 * as it is now, and the record would hold what it was (a false conflict). */
static void
drop_changed_since_listing (Sync *sync,
                            Plan *plan)
{
  for (guint i = 0; i < plan->push->len; )
    {
      const char *path = g_ptr_array_index (plan->push, i);

      if (local_unchanged (sync, path, g_hash_table_lookup (plan->local, path)))
        i++;
      else
        g_ptr_array_remove_index (plan->push, i);
    }
}

/* What runs or is obeyed here later, written there (by a sandbox, say): not taken
 * unasked, neither a copy nor a deletion; said. */
static void
refuse_protected (Sync *sync,
                  Plan *plan)
{
  guint protected = 0;

  for (guint i = 0; i < plan->pull->len; )
    {
      const char *path = g_ptr_array_index (plan->pull, i);
      Entry *r = g_hash_table_lookup (plan->remote, path);

      if (!csb_review_path_is_protected (path))
        {
          i++;
          continue;
        }
      if (r != NULL)
        set_entry (plan->refused, path, r);
      g_print ("refused-protected %s\n", path);
      protected++;
      g_ptr_array_remove_index (plan->pull, i);
    }
  if (protected > 0)
    csb_cli_print_error (_("%u changes on %s to files that run or are obeyed here later (git, "
                           "direnv, Claude Code's settings, editors) were not copied here "
                           "(listed as refused-protected): read them there and copy them by "
                           "hand if they are yours"),
                         protected, sync->host);
}

/* Right before the copy from there: what changed here since the listing stays
 * (rsync's --update would not keep an edit older than the remote's), and comes up
 * again next time. */
static void
keep_local_edits (Sync *sync,
                  Plan *plan)
{
  for (guint i = 0; i < plan->pull->len; )
    {
      const char *path = g_ptr_array_index (plan->pull, i);

      if (local_unchanged (sync, path, g_hash_table_lookup (plan->local, path)))
        i++;
      else
        {
          g_print ("not-received %s\n", path);
          g_ptr_array_remove_index (plan->pull, i);
        }
    }
}

/* The next sync's record: what both sides agree on now. What rsync did not copy
 * (not in @pushed, @pulled; NULL: nothing was) keeps its old record, so it comes up
 * again (as a conflict, if it changed at the destination meanwhile). Says what was
 * done. */
static void
record_results (Plan       *plan,
                GHashTable *pushed,
                GHashTable *pulled)
{
  for (guint i = 0; i < plan->names->len; i++)
    {
      const char *path = g_ptr_array_index (plan->names, i);
      Entry *l = g_hash_table_lookup (plan->local, path);

      if (entry_equal (l, g_hash_table_lookup (plan->remote, path)))
        set_entry (plan->base, path, l);
    }
  for (guint i = 0; pushed != NULL && i < plan->push->len; i++)
    {
      const char *path = g_ptr_array_index (plan->push, i);
      Entry *l = g_hash_table_lookup (plan->local, path);

      if (!g_hash_table_contains (pushed, path))
        {
          g_print ("not-sent %s\n", path);
          continue;
        }
      set_entry (plan->base, path, l);
      g_print ("%s %s\n", l != NULL ? "sent" : "deleted-there", path);
    }
  for (guint i = 0; pulled != NULL && i < plan->pull->len; i++)
    {
      const char *path = g_ptr_array_index (plan->pull, i);
      Entry *r = g_hash_table_lookup (plan->remote, path);

      if (!g_hash_table_contains (pulled, path))
        {
          /* --safe-links refused it, or it changed here since the listing. */
          if (r != NULL && r->type == 'l')
            set_entry (plan->refused, path, r);
          g_print ("%s %s\n", r != NULL && r->type == 'l' ? "refused-link" : "not-received",
                   path);
          continue;
        }
      set_entry (plan->base, path, r);
      set_entry (plan->refused, path, NULL);
      g_print ("%s %s\n", r != NULL ? "received" : "deleted-here", path);
    }
}

/* Lists both sides, copies what changed on one side only, and records the result:
 * EXIT_SUCCESS, EXIT_FAILURE for conflicts, CSB_CLI_EXIT_FAILED. */
static int
sync_once (Sync *sync)
{
  g_autoptr(GHashTable) local = NULL;
  g_autoptr(GHashTable) remote = NULL;
  g_autoptr(GHashTable) base = entries_new ();
  g_autoptr(GHashTable) refused = entries_new ();
  g_autoptr(GHashTable) pushed = NULL;
  g_autoptr(GHashTable) pulled = NULL;
  g_autoptr(GPtrArray) names = NULL;
  g_autoptr(GPtrArray) push = g_ptr_array_new ();
  g_autoptr(GPtrArray) pull = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  Plan plan;
  guint conflicts;
  gboolean failed = FALSE;

  load_base (sync, base, refused);
  if ((local = list_side (sync, FALSE, &error)) == NULL ||
      (remote = list_side (sync, TRUE, &error)) == NULL)
    {
      csb_cli_print_error ("%s", error->message);
      return CSB_CLI_EXIT_FAILED;
    }
  names = all_names ((GHashTable *[]) { local, remote, base }, 3);
  plan = (Plan) { local, remote, base, refused, names, push, pull };

  conflicts = plan_changes (sync, &plan);
  if (!limit_deletions (sync, &plan))
    failed = TRUE;
  drop_changed_since_listing (sync, &plan);
  refuse_protected (sync, &plan);

  pushed = transfer (sync, push, TRUE, &error);
  if (pushed != NULL)
    keep_local_edits (sync, &plan);
  if (pushed == NULL || (pulled = transfer (sync, pull, FALSE, &error)) == NULL)
    {
      csb_cli_print_error ("%s", error->message);
      g_clear_error (&error);
      failed = TRUE;
    }

  record_results (&plan, pushed, pulled);
  if (!save_base (sync, base, refused, &error))
    {
      csb_cli_print_error ("%s", error->message);
      return CSB_CLI_EXIT_FAILED;
    }
  if (failed)
    return CSB_CLI_EXIT_FAILED;
  return conflicts > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- --watch ------------------------------------------------------------------------ */

static void watch_local (Sync *sync);

static gboolean
on_sync_due (gpointer user_data)
{
  Sync *sync = user_data;

  sync->debounce_id = 0;
  sync->status = sync_once (sync);
  if (sync->status == CSB_CLI_EXIT_FAILED)
    {
      g_main_loop_quit (sync->loop);
      return G_SOURCE_REMOVE;
    }
  /* Folders may have come or gone. */
  watch_local (sync);
  return G_SOURCE_REMOVE;
}

static void
on_local_changed (GFileMonitor      *monitor,
                  GFile             *file,
                  GFile             *other,
                  GFileMonitorEvent  event,
                  gpointer           user_data)
{
  Sync *sync = user_data;
  g_autofree char *name = g_file_get_basename (file);

  if (g_str_equal (name, ".git") || event == G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED)
    return;
  /* A burst of writes (a checkout, a build) becomes one sync after it settles. */
  g_clear_handle_id (&sync->debounce_id, g_source_remove);
  sync->debounce_id = g_timeout_add (WATCH_DEBOUNCE_MS, on_sync_due, sync);
}

static void
add_monitor (Sync       *sync,
             GHashTable *wanted,
             const char *dir)
{
  g_autoptr(GFile) file = NULL;
  GFileMonitor *monitor;

  g_hash_table_add (wanted, g_strdup (dir));
  if (g_hash_table_contains (sync->monitors, dir))
    return;
  file = g_file_new_for_path (dir);
  monitor = g_file_monitor_directory (file, G_FILE_MONITOR_WATCH_MOVES, NULL, NULL);
  if (monitor == NULL)
    return;
  g_signal_connect (monitor, "changed", G_CALLBACK (on_local_changed), sync);
  g_hash_table_insert (sync->monitors, g_strdup (dir), monitor);
}

/* A monitor on every folder the sync covers (GFileMonitor watches one folder): those
 * that came are added, those gone dropped, the rest kept. */
static void
watch_local (Sync *sync)
{
  g_autoptr(GHashTable) entries = list_side (sync, FALSE, NULL);
  g_autoptr(GHashTable) wanted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  const char *path;

  add_monitor (sync, wanted, sync->local_dir);
  if (entries == NULL)
    return;   /* unsure: keep what is watched */
  g_hash_table_iter_init (&iter, entries);
  while (g_hash_table_iter_next (&iter, (gpointer *) &path, NULL))
    {
      g_autofree char *dir = g_path_get_dirname (path);

      while (!g_str_equal (dir, "."))
        {
          g_autofree char *full = g_build_filename (sync->local_dir, dir, NULL);
          char *parent;

          if (g_hash_table_contains (wanted, full))
            break;
          add_monitor (sync, wanted, full);
          parent = g_path_get_dirname (dir);
          g_free (dir);
          dir = parent;
        }
    }
  g_hash_table_iter_init (&iter, sync->monitors);
  while (g_hash_table_iter_next (&iter, (gpointer *) &path, NULL))
    if (!g_hash_table_contains (wanted, path))
      g_hash_table_iter_remove (&iter);
}

static gboolean
on_poll (gpointer user_data)
{
  Sync *sync = user_data;

  if (sync->debounce_id == 0)
    on_sync_due (sync);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_quit_signal (gpointer user_data)
{
  Sync *sync = user_data;

  g_main_loop_quit (sync->loop);
  return G_SOURCE_CONTINUE;
}

/* ---- entry -------------------------------------------------------------------------- */

static char *
base_path_for (const char *host,
               const char *local_dir,
               const char *remote_dir)
{
  g_autofree char *key = g_strdup_printf ("%s\n%s\n%s", host, remote_dir, local_dir);
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);
  g_autofree char *name = g_strconcat (hash, ".json", NULL);

  return g_build_filename (g_get_user_state_dir (), "claude-sandbox", "sync", name, NULL);
}

static void
sync_clear (Sync *sync)
{
  g_clear_pointer (&sync->local_dir, g_free);
  g_clear_pointer (&sync->shell, g_free);
  g_clear_pointer (&sync->base_path, g_free);
}

/* Fills @sync's folders and choices from the command line, @remote (a copy of
 * @remote_dir) trimmed of trailing slashes; FALSE when one is wrong (said). */
static gboolean
sync_init (Sync       *sync,
           const char *host,
           const char *local_dir,
           char       *remote,
           const char *remote_dir,
           const char *prefer,
           gboolean    delete_many)
{
  g_autofree char *cwd = g_get_current_dir ();

  sync->host = host;
  sync->delete_many = delete_many;
  if (prefer != NULL && !g_str_equal (prefer, "here") && !g_str_equal (prefer, "there"))
    {
      csb_cli_print_error (_("--prefer takes here or there, not '%s'"), prefer);
      return FALSE;
    }
  sync->prefer = prefer == NULL ? 0 : g_str_equal (prefer, "here") ? 'h' : 't';
  sync->local_dir = g_canonicalize_filename (local_dir, cwd);
  /* "dir/" and "dir" are one folder; "" or "/" would be the remote home or root. */
  while (strlen (remote) > 1 && g_str_has_suffix (remote, "/"))
    remote[strlen (remote) - 1] = '\0';
  sync->remote_dir = remote;
  if (*remote == '\0' || g_str_equal (remote, "/") || g_str_equal (remote, ".") ||
      g_str_equal (remote, "~"))
    {
      csb_cli_print_error (_("--sync needs a project folder on %s, not '%s' (its home or "
                             "root)"), host, remote_dir);
      return FALSE;
    }
  if (!g_file_test (sync->local_dir, G_FILE_TEST_IS_DIR))
    {
      csb_cli_print_error (_("the folder '%s' does not exist here"), sync->local_dir);
      return FALSE;
    }
  return TRUE;
}

/* --watch lists the remote every few seconds: over one ssh connection (a master of
 * our own, in our runtime folder), not a new one each time. Returns the master, or
 * NULL (then each listing connects anew); sets @control_path for it. */
static GSubprocess *
start_ssh_master (const char  *host,
                  char       **control_path)
{
  g_autofree char *dir = g_build_filename (g_get_user_runtime_dir (), "claude-sandbox", NULL);
  GSubprocess *master;

  *control_path = NULL;
  if (g_mkdir_with_parents (dir, 0700) != 0 || strpbrk (dir, " '\"\\") != NULL)
    return NULL;
  *control_path = g_build_filename (dir, "sync-ssh-%C", NULL);
  master = csb_cli_remote_start_master (host, *control_path, NULL);
  if (master == NULL)
    g_clear_pointer (control_path, g_free);
  return master;
}

/* --watch: syncs again after local changes settle and every @interval_s seconds,
 * until SIGINT or SIGTERM or a failed sync; returns the last sync's status. */
static int
watch_and_sync (Sync  *sync,
                int    status,
                guint  interval_s)
{
  sync->loop = g_main_loop_new (NULL, FALSE);
  sync->monitors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  watch_local (sync);
  g_timeout_add_seconds (MAX (interval_s, 1), on_poll, sync);
  g_unix_signal_add (SIGINT, on_quit_signal, sync);
  g_unix_signal_add (SIGTERM, on_quit_signal, sync);
  sync->status = status;
  g_main_loop_run (sync->loop);
  status = sync->status;
  g_clear_handle_id (&sync->debounce_id, g_source_remove);
  g_clear_pointer (&sync->monitors, g_hash_table_unref);
  g_clear_pointer (&sync->loop, g_main_loop_unref);
  return status;
}

int
csb_cli_run_sync (const char *host,
                  const char *local_dir,
                  const char *remote_dir,
                  const char *prefer,
                  gboolean    delete_many,
                  gboolean    watch,
                  guint       interval_s)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *remote = g_strdup (csb_cli_remote_home_relative (remote_dir));
  g_autofree char *control_path = NULL;
  g_autoptr(GSubprocess) master = NULL;
  Sync sync = { 0, };
  int status;

  g_return_val_if_fail (host != NULL && local_dir != NULL && remote_dir != NULL,
                        CSB_CLI_EXIT_FAILED);

  if (!sync_init (&sync, host, local_dir, remote, remote_dir, prefer, delete_many))
    {
      sync_clear (&sync);
      return CSB_CLI_EXIT_USAGE;
    }
  if (watch)
    master = start_ssh_master (host, &control_path);
  if ((sync.shell = csb_cli_remote_rsync_shell (control_path, &error)) == NULL)
    {
      csb_cli_print_error ("%s", error->message);
      sync_clear (&sync);
      return CSB_CLI_EXIT_USAGE;
    }
  sync.base_path = base_path_for (host, sync.local_dir, remote);

  status = sync_once (&sync);
  if (watch && status != CSB_CLI_EXIT_FAILED)
    status = watch_and_sync (&sync, status, interval_s);
  if (master != NULL)
    {
      g_subprocess_send_signal (master, SIGTERM);
      g_subprocess_wait (master, NULL, NULL);
    }
  sync_clear (&sync);
  return status;
}
