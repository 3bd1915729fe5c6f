/* csb-claude-home.c
 *
 * The first rule holds here throughout: whatever lies in a Claude home was written
 * by a sandbox. Names are single components opened with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS) from a descriptor of their folder, then fstat'ed for type,
 * owner and size; JSON is checked for depth by a flat scan before json-glib (which
 * recurses) sees it. The user's own ~/.claude is trusted as the user's, but sandboxes
 * could write it before this design, so links in it are not followed either.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "csb-claude-home.h"
#include "csb-error.h"
#include "csb-file.h"
#include "csb-project-guard.h"

#define CREDENTIALS ".credentials.json"
#define CLAUDE_JSON ".claude.json"

#define CREDENTIALS_MAX     (64 * 1024)
#define CREDENTIALS_DEPTH   8
#define TOKEN_MAX           (8 * 1024)
#define HOME_JSON_MAX       (16 * 1024 * 1024)
#define HOST_JSON_MAX       (64 * 1024 * 1024)
#define JSON_DEPTH          64
#define OAUTH_ACCOUNT_MAX   (16 * 1024)
/* A login from inside expires within this (in ms; Claude's access tokens last hours):
 * one dated far ahead would win against every later login of the user's. */
#define EXPIRES_AHEAD_MAX_MS (G_GINT64_CONSTANT (31) * 24 * 3600 * 1000)
#define STAGE_TOTAL_MAX     (64 * 1024 * 1024)
#define STAGE_ENTRIES_MAX   10000
#define STAGE_DEPTH_MAX     16

const char * const csb_claude_user_files[] = {
  "settings.json", "settings.local.json", "CLAUDE.md", NULL
};
const char * const csb_claude_user_dirs[] = {
  "commands", "agents", "skills", "rules", "output-styles", "plugins", NULL
};

/* GLib 2.74 has no g_autofd yet. errno survives the close. */
static inline void
close_fd_ptr (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;

      close (*fd);
      errno = saved;
    }
}
#define csb_autofd __attribute__ ((cleanup (close_fd_ptr)))

/* Several sandboxes may end at once: one read-modify-write of the user's files at
 * a time. */
static GMutex write_back_lock;

/* ---- descriptors ------------------------------------------------------------------ */

/* @name (one component) beneath @dirfd, never through a symlink. */
static int
open_beneath (int         dirfd,
              const char *name,
              int         flags,
              mode_t      mode)
{
  struct open_how how = {
    .flags = flags | O_CLOEXEC | O_NOFOLLOW,
    .mode = (flags & O_CREAT) ? mode : 0,
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  int fd;

  g_assert (strchr (name, '/') == NULL);
  if (!(flags & (O_CREAT | O_PATH | O_DIRECTORY)))
    /* A plain open: only a regular file or a folder is opened for real (see there). */
    return csb_open_beneath (dirfd, name, flags);
  do
    fd = syscall (SYS_openat2, dirfd, name, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  if (fd < 0 && errno == ENOSYS)
    /* Before Linux 5.6: one component, so O_NOFOLLOW is the same guarantee (an O_PATH
     * of a link opens the link, which the callers' fstat refuses). */
    fd = openat (dirfd, name, how.flags, how.mode);
  return fd;
}

int
csb_claude_home_open_beneath (int         dirfd,
                              const char *name,
                              int         flags)
{
  g_return_val_if_fail (name != NULL && strchr (name, '/') == NULL, -1);

  return open_beneath (dirfd, name, flags & ~O_CREAT, 0);
}

static gboolean
check_owned (int          fd,
             const char  *what,
             mode_t       type,
             goffset      max_size,
             struct stat *out_st,
             GError     **error)
{
  struct stat st;

  if (fstat (fd, &st) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot stat %s: %s", what,
                   g_strerror (errno));
      return FALSE;
    }
  if ((st.st_mode & S_IFMT) != type)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "%s is not a %s", what,
                   type == S_IFDIR ? "folder" : "regular file");
      return FALSE;
    }
  if (st.st_uid != getuid ())
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "%s belongs to uid %u, not to us", what,
                   (guint) st.st_uid);
      return FALSE;
    }
  if (max_size >= 0 && st.st_size > max_size)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "%s is larger than %" G_GOFFSET_FORMAT
                   " bytes", what, max_size);
      return FALSE;
    }
  if (out_st != NULL)
    *out_st = st;
  return TRUE;
}

/* A regular file of ours beneath @dirfd, at most @max bytes, read without blocking on
 * a FIFO or following a link. A missing file is G_FILE_ERROR_NOENT. */
static char *
read_beneath (int         dirfd,
              const char *name,
              gsize       max,
              gsize      *out_len,
              GError    **error)
{
  csb_autofd int fd = open_beneath (dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
  g_autofree char *data = NULL;
  gsize len = 0;

  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "cannot open %s: %s",
                   name, saved == ELOOP ? "it is a symlink" : g_strerror (saved));
      return NULL;
    }
  if (!check_owned (fd, name, S_IFREG, max, NULL, error))
    return NULL;
  if ((data = csb_file_read_fd_bounded (fd, max, &len)) == NULL)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot read %s: %s", name,
                   errno == EFBIG ? "it grew past the size limit" : g_strerror (errno));
      return NULL;
    }
  data[len] = '\0';
  *out_len = len;
  return g_steal_pointer (&data);
}

/* Moves whatever @name is (a folder where a file belongs, a FIFO, a link) out of the
 * way, under a name of its own in the same folder. */
static void
move_aside (int         dirfd,
            const char *name)
{
  g_autofree char *aside = g_strdup_printf ("%s.csb-moved-%08x", name, g_random_int ());

  if (renameat (dirfd, name, dirfd, aside) == 0)
    g_message ("Claude home: moved '%s' aside to '%s' (not what belongs there)", name, aside);
}

/* Replaces @name beneath @dirfd atomically with @data; a folder or anything else in
 * the way is moved aside first. */
static gboolean
write_beneath (int         dirfd,
               const char *name,
               const char *data,
               gsize       len,
               mode_t      mode,
               GError    **error)
{
  g_autofree char *tmp = g_strdup_printf (".%s.csb-%08x", name, g_random_int ());
  csb_autofd int fd = open_beneath (dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL, mode);
  struct stat st;

  if (fd < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create %s: %s", tmp,
                   g_strerror (errno));
      return FALSE;
    }
  for (gsize done = 0; done < len;)
    {
      ssize_t n = write (fd, data + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = errno;

          unlinkat (dirfd, tmp, 0);
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                       "cannot write %s: %s", name, g_strerror (saved));
          return FALSE;
        }
      done += n;
    }
  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR (st.st_mode))
    move_aside (dirfd, name);
  if (renameat (dirfd, tmp, dirfd, name) != 0)
    {
      int saved = errno;

      unlinkat (dirfd, tmp, 0);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot replace %s: %s", name, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* A folder of ours beneath @dirfd, made if missing (0700); anything else in its
 * place is moved aside. */
static int
ensure_dir_beneath (int         dirfd,
                    const char *name,
                    GError    **error)
{
  for (guint attempt = 0; attempt < 2; attempt++)
    {
      csb_autofd int fd = -1;
      g_autoptr(GError) local_error = NULL;

      if (mkdirat (dirfd, name, 0700) != 0 && errno != EEXIST)
        {
          g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create %s: %s", name,
                       g_strerror (errno));
          return -1;
        }
      fd = open_beneath (dirfd, name, O_PATH | O_DIRECTORY, 0);
      if (fd >= 0 && check_owned (fd, name, S_IFDIR, -1, NULL, &local_error))
        return g_steal_fd (&fd);
      move_aside (dirfd, name);
    }
  g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot make the folder %s", name);
  return -1;
}

/* ---- bounded JSON ------------------------------------------------------------------ */

static gboolean
is_json_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

gboolean
csb_json_check_depth (const char *data,
                      gsize       len,
                      guint       max_depth,
                      GError    **error)
{
  guint depth = 0;
  gboolean in_string = FALSE;
  gboolean ended = FALSE;

  for (gsize i = 0; i < len; i++)
    {
      char c = data[i];

      if (c == '\0')
        {
          g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED, "a NUL byte in JSON");
          return FALSE;
        }
      if (in_string)
        {
          if (c == '\\')
            i++;
          else if (c == '"')
            in_string = FALSE;
          continue;
        }
      /* One object or array, nothing but white space around it: json-glib (1.6) takes
       * more than one value as several roots and leaks every container of the roots
       * it drops, so a sandbox could grow the service with "{} {} {}…". */
      if (depth == 0 && !is_json_space (c) && (ended || (c != '{' && c != '[')))
        {
          g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED,
                               ended ? "more than one JSON value"
                                     : "JSON that is not an object or an array");
          return FALSE;
        }
      if (c == '"')
        in_string = TRUE;
      else if (c == '{' || c == '[')
        {
          if (++depth > max_depth)
            {
              g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                           "JSON nested deeper than %u levels", max_depth);
              return FALSE;
            }
        }
      else if (c == '}' || c == ']')
        {
          if (depth == 0)
            {
              g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED, "unbalanced JSON");
              return FALSE;
            }
          ended = --depth == 0;
        }
    }
  return TRUE;
}

static JsonObject *
parse_object (const char *data,
              gsize       len,
              guint       max_depth,
              const char *what,
              GError    **error)
{
  g_autoptr(JsonParser) parser = NULL;
  JsonNode *root;

  if (!csb_json_check_depth (data, len, max_depth, error))
    {
      g_prefix_error (error, "%s: ", what);
      return NULL;
    }
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, data, len, error))
    {
      g_prefix_error (error, "%s: ", what);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "%s does not hold a JSON object", what);
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

static JsonObject *
load_object_beneath (int         dirfd,
                     const char *name,
                     gsize       max,
                     guint       max_depth,
                     GError    **error)
{
  g_autofree char *data = NULL;
  gsize len;

  if ((data = read_beneath (dirfd, name, max, &len, error)) == NULL)
    return NULL;
  return parse_object (data, len, max_depth, name, error);
}

static char *
object_to_data (JsonObject *object,
                gboolean    pretty,
                gsize      *out_len)
{
  g_autoptr(JsonNode) root = json_node_init_object (json_node_alloc (), object);
  g_autoptr(JsonGenerator) generator = json_generator_new ();

  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, pretty);
  return json_generator_to_data (generator, out_len);
}

static char *
node_to_data (JsonNode *node,
              gsize    *out_len)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();

  json_generator_set_root (generator, node);
  return json_generator_to_data (generator, out_len);
}

/* ---- what a login may look like ------------------------------------------------------ */

static gboolean
is_number (JsonNode *node)
{
  GType type;

  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  return type == G_TYPE_INT64 || type == G_TYPE_DOUBLE;
}

static gdouble
number_of (JsonNode *node)
{
  return json_node_get_value_type (node) == G_TYPE_INT64 ? (gdouble) json_node_get_int (node)
                                                          : json_node_get_double (node);
}

static gboolean
is_string (JsonNode *node,
           gsize     max)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING &&
         strlen (json_node_get_string (node)) <= max;
}

/* A string of at most @max characters, each in @allowed (or printable ASCII when NULL). */
static gboolean
is_plain_string (JsonNode   *node,
                 gsize       max,
                 const char *allowed)
{
  const char *s;

  if (!is_string (node, max))
    return FALSE;
  for (s = json_node_get_string (node); *s != '\0'; s++)
    if (allowed != NULL ? (!g_ascii_isalnum (*s) && strchr (allowed, *s) == NULL)
                        : (*s < 0x20 || *s > 0x7e))
      return FALSE;
  return TRUE;
}

static gboolean
is_bool (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN;
}

static gboolean
is_scalar (JsonNode *node)
{
  return JSON_NODE_HOLDS_NULL (node) || is_bool (node) || is_number (node) ||
         is_string (node, 1024);
}

static gboolean
is_member_name (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > 64)
    return FALSE;
  for (const char *s = name; *s != '\0'; s++)
    if (!g_ascii_isalnum (*s) && *s != '_' && *s != '-')
      return FALSE;
  return TRUE;
}

/* An object of scalars, or of objects of scalars (@depth 2), with sane names. */
static gboolean
is_flat_object (JsonNode *node,
                guint     depth)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;
  guint n = 0;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return FALSE;
  json_object_iter_init (&iter, json_node_get_object (node));
  while (json_object_iter_next (&iter, &name, &member))
    {
      if (++n > 64 || !is_member_name (name))
        return FALSE;
      if (is_scalar (member))
        continue;
      if (depth > 1 && is_flat_object (member, depth - 1))
        continue;
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_oauth_account (JsonNode *node)
{
  g_autofree char *data = NULL;
  gsize len;

  if (!is_flat_object (node, 2))
    return FALSE;
  data = node_to_data (node, &len);
  return len <= OAUTH_ACCOUNT_MAX;
}

static gboolean
check_bool (JsonNode *node)
{
  return is_bool (node);
}

static gboolean
check_version (JsonNode *node)
{
  return is_plain_string (node, 64, ".+-_");
}

static gboolean
check_user_id (JsonNode *node)
{
  return is_plain_string (node, 128, "-_");
}

static gboolean
check_time (JsonNode *node)
{
  return is_plain_string (node, 64, ":.+-");
}

static gboolean
check_theme (JsonNode *node)
{
  static const char * const themes[] = {
    "dark", "light", "dark-daltonized", "light-daltonized", "dark-ansi", "light-ansi", NULL
  };

  return is_string (node, 32) && g_strv_contains (themes, json_node_get_string (node));
}

/* The keys of ~/.claude.json that travel between the user's file and the sandboxes':
 * what keeps the user logged in and onboarded, each with its type. Everything else
 * (per-project trust, allowed tools, MCP servers, API key approvals, which would make
 * the host's unsandboxed claude run or accept things) stays in the sandbox's home. */
static const struct
{
  const char *name;
  gboolean  (*check) (JsonNode *node);
} login_keys[] = {
  { "oauthAccount", check_oauth_account },
  { "hasCompletedOnboarding", check_bool },
  { "lastOnboardingVersion", check_version },
  { "userID", check_user_id },
  { "firstStartTime", check_time },
  { "hasAvailableSubscription", check_bool },
  { "lastReleaseNotesSeen", check_version },
  { "theme", check_theme },
};

/* The claudeAiOauth object of a credentials file, rebuilt from its known fields with
 * their types checked; NULL (and why) if it has not the shape of a login. */
static JsonObject *
clean_credential (JsonObject *file,
                  GError    **error)
{
  JsonNode *oauth = json_object_get_member (file, "claudeAiOauth");
  g_autoptr(JsonObject) clean = json_object_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;

  if (oauth == NULL || !JSON_NODE_HOLDS_OBJECT (oauth))
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED, "no claudeAiOauth object");
      return NULL;
    }
  json_object_iter_init (&iter, json_node_get_object (oauth));
  while (json_object_iter_next (&iter, &name, &member))
    {
      gboolean ok;

      if (g_str_equal (name, "accessToken") || g_str_equal (name, "refreshToken"))
        ok = is_plain_string (member, TOKEN_MAX, NULL);
      else if (g_str_equal (name, "expiresAt"))
        ok = is_number (member);
      else if (g_str_equal (name, "scopes"))
        {
          JsonArray *array = JSON_NODE_HOLDS_ARRAY (member) ? json_node_get_array (member) : NULL;

          ok = array != NULL && json_array_get_length (array) <= 64;
          for (guint i = 0; ok && i < json_array_get_length (array); i++)
            ok = is_plain_string (json_array_get_element (array, i), 128, ":._-");
        }
      else if (g_str_equal (name, "subscriptionType") || g_str_equal (name, "rateLimitTier"))
        ok = JSON_NODE_HOLDS_NULL (member) || is_plain_string (member, 64, "._-");
      else
        {
          g_message ("Claude credential: unknown field '%.64s' dropped", name);
          continue;
        }
      if (!ok)
        {
          g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "claudeAiOauth.%s has the wrong type "
                       "or size", name);
          return NULL;
        }
      json_object_set_member (clean, name, json_node_copy (member));
    }
  if (!json_object_has_member (clean, "accessToken") ||
      !json_object_has_member (clean, "expiresAt"))
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED,
                           "claudeAiOauth lacks accessToken or expiresAt");
      return NULL;
    }
  return g_steal_pointer (&clean);
}

static JsonObject *
load_credential (int         dirfd,
                 JsonObject **out_file,
                 GError    **error)
{
  g_autoptr(JsonObject) file = NULL;
  JsonObject *clean;

  file = load_object_beneath (dirfd, CREDENTIALS, CREDENTIALS_MAX, CREDENTIALS_DEPTH, error);
  if (file == NULL)
    return NULL;
  if ((clean = clean_credential (file, error)) == NULL)
    return NULL;
  if (out_file != NULL)
    *out_file = g_steal_pointer (&file);
  return clean;
}

static gdouble
expires_at (JsonObject *credential)
{
  return number_of (json_object_get_member (credential, "expiresAt"));
}

static gboolean
credential_newer (JsonObject *a,
                  JsonObject *b)
{
  return b == NULL || expires_at (a) > expires_at (b);
}

/* ---- the home ----------------------------------------------------------------------- */

char *
csb_claude_home_key (const char *project_dir)
{
  g_autofree char *base = g_path_get_basename (project_dir);
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, project_dir, -1);
  g_autoptr(GString) key = g_string_new (NULL);

  for (const char *s = base; *s != '\0' && key->len < 32; s++)
    g_string_append_c (key, g_ascii_isalnum (*s) || *s == '-' || *s == '_' ? *s : '_');
  if (key->len == 0 || key->str[0] == '.')
    g_string_prepend_c (key, '_');
  g_string_append_printf (key, "-%.16s", hash);
  return g_string_free (g_steal_pointer (&key), FALSE);
}

static char *
homes_dir (void)
{
  return g_build_filename (g_get_user_state_dir (), "claude-sandbox", "claude-home", NULL);
}

char *
csb_claude_home_path (const char *project_dir)
{
  g_autofree char *homes = homes_dir ();
  g_autofree char *key = csb_claude_home_key (project_dir);

  return g_build_filename (homes, key, NULL);
}

static void
user_entry_free (gpointer data)
{
  CsbClaudeUserEntry *entry = data;

  if (entry->fd >= 0)
    close (entry->fd);
  g_free (entry->name);
  g_free (entry);
}

void
csb_claude_home_free (CsbClaudeHome *home)
{
  if (home == NULL)
    return;
  g_free (home->root);
  g_free (home->claude_dir);
  g_free (home->json_dir);
  if (home->claude_fd >= 0)
    close (home->claude_fd);
  if (home->json_fd >= 0)
    close (home->json_fd);
  g_clear_pointer (&home->user_entries, g_ptr_array_unref);
  g_free (home);
}

/* The home's two folders, made if missing: the parents are the service's own and no
 * sandbox sees them, so only the last components can have been tampered with. */
static gboolean
open_home (const char *project_dir,
           char      **out_root,
           int        *out_claude_fd,
           int        *out_json_fd,
           GError    **error)
{
  g_autofree char *homes = homes_dir ();
  g_autofree char *key = csb_claude_home_key (project_dir);
  csb_autofd int homes_fd = -1;
  csb_autofd int root_fd = -1;
  csb_autofd int claude_fd = -1;
  csb_autofd int json_fd = -1;

  if (g_mkdir_with_parents (homes, 0700) != 0 ||
      (homes_fd = open (homes, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create '%s': %s", homes,
                   g_strerror (errno));
      return FALSE;
    }
  if ((root_fd = ensure_dir_beneath (homes_fd, key, error)) < 0 ||
      (claude_fd = ensure_dir_beneath (root_fd, ".claude", error)) < 0 ||
      (json_fd = ensure_dir_beneath (root_fd, "json", error)) < 0)
    {
      g_prefix_error (error, "the Claude home in '%s': ", homes);
      return FALSE;
    }
  *out_root = g_build_filename (homes, key, NULL);
  *out_claude_fd = g_steal_fd (&claude_fd);
  *out_json_fd = g_steal_fd (&json_fd);
  return TRUE;
}

/* The user's own ~/.claude, if any (followed if it is a link: the user's choice, and
 * never anything a sandbox could write). */
static int
open_user_claude_dir (void)
{
  g_autofree char *path = g_build_filename (g_get_home_dir (), ".claude", NULL);

  return open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* The user's entry @name: a link is not followed but skipped (sandboxes could plant
 * them here before), as is anything not of its type or not the user's. */
static CsbClaudeUserEntry *
open_user_entry (int         user_fd,
                 const char *name,
                 gboolean    is_dir)
{
  g_autoptr(GError) error = NULL;
  CsbClaudeUserEntry *entry;
  csb_autofd int fd = open_beneath (user_fd, name, O_PATH | (is_dir ? O_DIRECTORY : 0), 0);

  if (fd < 0)
    {
      if (errno != ENOENT)
        g_message ("~/.claude/%s is not shared with sandboxes: %s", name,
                   errno == ELOOP ? "it is a symlink" : g_strerror (errno));
      return NULL;
    }
  if (!check_owned (fd, name, is_dir ? S_IFDIR : S_IFREG, -1, NULL, &error))
    {
      g_message ("~/.claude/%s is not shared with sandboxes: %s", name, error->message);
      return NULL;
    }
  entry = g_new0 (CsbClaudeUserEntry, 1);
  entry->name = g_strdup (name);
  entry->is_dir = is_dir;
  entry->fd = g_steal_fd (&fd);
  return entry;
}

/* In the home, an empty file or folder where a user's entry is mounted, so no bind
 * has to make one in a folder a sandbox writes. */
static void
ensure_mount_point (int         claude_fd,
                    const char *name,
                    gboolean    is_dir)
{
  struct stat st;

  if (fstatat (claude_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      if (is_dir ? S_ISDIR (st.st_mode) : S_ISREG (st.st_mode))
        return;
      move_aside (claude_fd, name);
    }
  if (is_dir)
    mkdirat (claude_fd, name, 0700);
  else
    {
      int fd = open_beneath (claude_fd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);

      if (fd >= 0)
        close (fd);
    }
}

/* An empty file left as the mount point of a user's file that is gone: Claude Code
 * would take it for settings it cannot parse. */
static void
drop_empty_mount_point (int         claude_fd,
                        const char *name)
{
  struct stat st;

  if (fstatat (claude_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG (st.st_mode) &&
      st.st_size == 0)
    unlinkat (claude_fd, name, 0);
}

/* The user's credential into the home, unless the home holds a newer one (a sandbox
 * refreshed it and has not ended yet). */
static void
credential_in (int user_fd,
               int claude_fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) host = NULL;
  g_autoptr(JsonObject) home = NULL;
  g_autoptr(JsonObject) file = json_object_new ();
  g_autofree char *data = NULL;
  gsize len;

  if (user_fd < 0)
    return;
  if ((host = load_credential (user_fd, NULL, &error)) == NULL)
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_message ("~/.claude/" CREDENTIALS " not given to the sandbox: %s", error->message);
      return;
    }
  home = load_credential (claude_fd, NULL, NULL);
  if (!credential_newer (host, home))
    return;
  json_object_set_object_member (file, "claudeAiOauth", g_steal_pointer (&host));
  data = object_to_data (file, FALSE, &len);
  if (!write_beneath (claude_fd, CREDENTIALS, data, len, 0600, &error))
    g_message ("Claude home: %s", error->message);
}

/* The user's ~/.claude.json, parsed with bounds. A missing file is NOENT. */
static JsonObject *
load_user_claude_json (GError **error)
{
  g_autofree char *path = g_build_filename (g_get_home_dir (), CLAUDE_JSON, NULL);
  csb_autofd int fd = open (path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  g_autofree char *data = NULL;
  gsize len = 0;

  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "cannot open %s: %s",
                   path, g_strerror (saved));
      return NULL;
    }
  if (!check_owned (fd, path, S_IFREG, HOST_JSON_MAX, NULL, error))
    return NULL;
  if ((data = csb_file_read_fd_bounded (fd, HOST_JSON_MAX, &len)) == NULL)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot read %s: %s", path,
                   errno == EFBIG ? "it is too large" : g_strerror (errno));
      return NULL;
    }
  return parse_object (data, len, 256, path, error);
}

/* Whether the user trusted @project_dir in their own claude: only that one boolean. */
static gboolean
host_trusts_project (JsonObject *host,
                     const char *project_dir)
{
  JsonNode *projects = json_object_get_member (host, "projects");
  JsonNode *project, *trusted;

  if (projects == NULL || !JSON_NODE_HOLDS_OBJECT (projects))
    return FALSE;
  project = json_object_get_member (json_node_get_object (projects), project_dir);
  if (project == NULL || !JSON_NODE_HOLDS_OBJECT (project))
    return FALSE;
  trusted = json_object_get_member (json_node_get_object (project), "hasTrustDialogAccepted");
  return trusted != NULL && is_bool (trusted) && json_node_get_boolean (trusted);
}

/* The home's .claude.json: the sandboxes' own (per-project trust, history, MCP servers
 * they set up), with the user's login keys on top, and the user's trust in this
 * project folder if the home has no word on it. */
static void
claude_json_in (int         json_fd,
                const char *project_dir)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) home = NULL;
  g_autoptr(JsonObject) host = NULL;
  g_autofree char *data = NULL;
  gsize len;

  home = load_object_beneath (json_fd, CLAUDE_JSON, HOME_JSON_MAX, JSON_DEPTH, &error);
  if (home == NULL)
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_message ("Claude home: its %s starts afresh: %s", CLAUDE_JSON, error->message);
      home = json_object_new ();
    }
  g_clear_error (&error);
  host = load_user_claude_json (&error);
  if (host == NULL && !g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    g_message ("~/.claude.json not read: %s", error->message);
  for (guint i = 0; host != NULL && i < G_N_ELEMENTS (login_keys); i++)
    {
      JsonNode *node = json_object_get_member (host, login_keys[i].name);

      if (node != NULL && login_keys[i].check (node))
        json_object_set_member (home, login_keys[i].name, json_node_copy (node));
    }
  if (host != NULL && host_trusts_project (host, project_dir))
    {
      JsonNode *projects = json_object_get_member (home, "projects");
      JsonObject *project;

      if (projects == NULL || !JSON_NODE_HOLDS_OBJECT (projects))
        {
          json_object_set_object_member (home, "projects", json_object_new ());
          projects = json_object_get_member (home, "projects");
        }
      if (!json_object_has_member (json_node_get_object (projects), project_dir) ||
          !JSON_NODE_HOLDS_OBJECT (json_object_get_member (json_node_get_object (projects),
                                                           project_dir)))
        json_object_set_object_member (json_node_get_object (projects), project_dir,
                                       json_object_new ());
      project = json_object_get_object_member (json_node_get_object (projects), project_dir);
      if (!json_object_has_member (project, "hasTrustDialogAccepted"))
        json_object_set_boolean_member (project, "hasTrustDialogAccepted", TRUE);
    }
  data = object_to_data (home, TRUE, &len);
  g_clear_error (&error);
  if (!write_beneath (json_fd, CLAUDE_JSON, data, len, 0600, &error))
    g_message ("Claude home: %s", error->message);
}

CsbClaudeHome *
csb_claude_home_prepare (const char *project_dir,
                         GError    **error)
{
  g_autoptr(CsbClaudeHome) home = g_new0 (CsbClaudeHome, 1);
  csb_autofd int user_fd = -1;

  g_return_val_if_fail (project_dir != NULL, NULL);

  home->claude_fd = home->json_fd = -1;
  home->user_entries = g_ptr_array_new_with_free_func (user_entry_free);
  if (!open_home (project_dir, &home->root, &home->claude_fd, &home->json_fd, error))
    return NULL;
  home->claude_dir = g_build_filename (home->root, ".claude", NULL);
  home->json_dir = g_build_filename (home->root, "json", NULL);

  user_fd = open_user_claude_dir ();
  for (guint pass = 0; user_fd >= 0 && pass < 2; pass++)
    {
      const char * const *names = pass == 0 ? csb_claude_user_files : csb_claude_user_dirs;

      for (guint i = 0; names[i] != NULL; i++)
        {
          CsbClaudeUserEntry *entry = open_user_entry (user_fd, names[i], pass == 1);

          if (entry == NULL)
            {
              drop_empty_mount_point (home->claude_fd, names[i]);
              continue;
            }
          ensure_mount_point (home->claude_fd, entry->name, entry->is_dir);
          g_ptr_array_add (home->user_entries, entry);
        }
    }
  credential_in (user_fd, home->claude_fd);
  claude_json_in (home->json_fd, project_dir);
  return g_steal_pointer (&home);
}

/* ---- staged copies (vm, container) ----------------------------------------------------- */

typedef struct
{
  goffset bytes_left;
  guint   entries_left;
} Budget;

static gboolean
copy_file_fd (int         src,
              int         dest_dir,
              const char *name,
              mode_t      mode,
              Budget     *budget)
{
  csb_autofd int out = open_beneath (dest_dir, name, O_WRONLY | O_CREAT | O_EXCL, mode & 0700);
  char buf[65536];

  if (out < 0)
    return FALSE;
  for (;;)
    {
      ssize_t n = read (src, buf, sizeof buf);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n == 0;
      if ((budget->bytes_left -= n) < 0 || write (out, buf, n) != n)
        return FALSE;
    }
}

static void
copy_dir_fd (int         src_dir,
             int         dest_dir,
             const char *path,
             guint       depth,
             Budget     *budget)
{
  csb_autofd int list_fd = -1;
  DIR *dir;
  struct dirent *d;

  if (depth > STAGE_DEPTH_MAX)
    {
      g_message ("~/.claude/%s: deeper than %u levels, not copied", path, STAGE_DEPTH_MAX);
      return;
    }
  if ((list_fd = openat (src_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
      (dir = fdopendir (g_steal_fd (&list_fd))) == NULL)
    return;
  while ((d = readdir (dir)) != NULL)
    {
      g_autofree char *child_path = NULL;
      g_autoptr(GError) error = NULL;
      csb_autofd int fd = -1;
      struct stat st;

      if (g_str_equal (d->d_name, ".") || g_str_equal (d->d_name, ".."))
        continue;
      child_path = g_build_filename (path, d->d_name, NULL);
      if (budget->entries_left == 0 || budget->bytes_left <= 0)
        {
          g_message ("~/.claude/%s: over the copy limits, not copied", child_path);
          break;
        }
      budget->entries_left--;
      if (fstatat (dirfd (dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        continue;
      if (S_ISDIR (st.st_mode))
        {
          csb_autofd int sub_dest = -1;

          fd = open_beneath (dirfd (dir), d->d_name, O_PATH | O_DIRECTORY, 0);
          if (fd < 0 || !check_owned (fd, child_path, S_IFDIR, -1, NULL, &error) ||
              mkdirat (dest_dir, d->d_name, 0700) != 0 ||
              (sub_dest = open_beneath (dest_dir, d->d_name, O_PATH | O_DIRECTORY, 0)) < 0)
            continue;
          copy_dir_fd (fd, sub_dest, child_path, depth + 1, budget);
        }
      else if (S_ISREG (st.st_mode))
        {
          fd = open_beneath (dirfd (dir), d->d_name, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
          if (fd < 0 || !check_owned (fd, child_path, S_IFREG, budget->bytes_left, &st, &error) ||
              !copy_file_fd (fd, dest_dir, d->d_name, st.st_mode, budget))
            g_message ("~/.claude/%s not copied%s%s", child_path, error ? ": " : "",
                       error ? error->message : "");
        }
      else
        g_message ("~/.claude/%s not copied: %s", child_path,
                   S_ISLNK (st.st_mode) ? "a symlink" : "not a file or folder");
    }
  closedir (dir);
}

GPtrArray *
csb_claude_home_stage_user (CsbClaudeHome *home,
                            const char    *stage_dir,
                            GError       **error)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  csb_autofd int dest_fd = -1;
  Budget budget = { STAGE_TOTAL_MAX, STAGE_ENTRIES_MAX };

  if (g_mkdir_with_parents (stage_dir, 0700) != 0 ||
      (dest_fd = open (stage_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create '%s': %s", stage_dir,
                   g_strerror (errno));
      return NULL;
    }
  for (guint i = 0; i < home->user_entries->len; i++)
    {
      CsbClaudeUserEntry *entry = g_ptr_array_index (home->user_entries, i);

      if (entry->is_dir)
        {
          csb_autofd int sub_dest = -1;

          if (mkdirat (dest_fd, entry->name, 0700) != 0 ||
              (sub_dest = open_beneath (dest_fd, entry->name, O_PATH | O_DIRECTORY, 0)) < 0)
            continue;
          copy_dir_fd (entry->fd, sub_dest, entry->name, 1, &budget);
        }
      else
        {
          g_autofree char *proc = g_strdup_printf ("/proc/self/fd/%d", entry->fd);
          /* Reopened through our own descriptor: the same file that was checked. */
          csb_autofd int fd = open (proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
          g_autoptr(GError) local_error = NULL;
          struct stat st;

          if (fd < 0 ||
              !check_owned (fd, entry->name, S_IFREG, budget.bytes_left, &st, &local_error) ||
              !copy_file_fd (fd, dest_fd, entry->name, st.st_mode, &budget))
            {
              g_message ("~/.claude/%s not copied%s%s", entry->name, local_error ? ": " : "",
                         local_error ? local_error->message : "");
              continue;
            }
        }
      g_ptr_array_add (names, g_strdup (entry->name));
    }
  return g_steal_pointer (&names);
}

/* ---- write-back ----------------------------------------------------------------------- */

static void
credential_back (int claude_fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) home = NULL;
  g_autoptr(JsonObject) host = NULL;
  g_autoptr(JsonObject) host_file = NULL;
  csb_autofd int user_fd = -1;
  g_autofree char *user_dir = g_build_filename (g_get_home_dir (), ".claude", NULL);
  g_autofree char *path = g_build_filename (user_dir, CREDENTIALS, NULL);
  g_autofree char *data = NULL;
  gsize len;

  if ((home = load_credential (claude_fd, NULL, &error)) == NULL)
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_message ("the sandbox's credential is not written back: %s", error->message);
      return;
    }
  g_clear_error (&error);
  if (expires_at (home) > (gdouble) (g_get_real_time () / 1000 + EXPIRES_AHEAD_MAX_MS))
    {
      g_message ("the sandbox's credential is not written back: it expires more than 31 "
                 "days from now");
      return;
    }
  if (g_mkdir_with_parents (user_dir, 0700) != 0 || (user_fd = open_user_claude_dir ()) < 0)
    {
      g_message ("the sandbox's credential is not written back: cannot open %s: %s", user_dir,
                 g_strerror (errno));
      return;
    }
  host = load_credential (user_fd, &host_file, &error);
  if (host == NULL && !g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT) &&
      !g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_LOOP))
    {
      /* Never overwrite a file we could not understand. */
      g_message ("the sandbox's credential is not written back: %s", error->message);
      return;
    }
  if (!credential_newer (home, host))
    return;
  if (host_file == NULL)
    {
      /* None yet, or a link planted before sandboxes had homes of their own: replaced
       * (the rename replaces the link, never what it points to). */
      if (g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_LOOP))
        g_message ("~/.claude/" CREDENTIALS " was a symlink; replaced by the login");
      host_file = json_object_new ();
    }
  json_object_set_object_member (host_file, "claudeAiOauth", g_steal_pointer (&home));
  data = object_to_data (host_file, FALSE, &len);
  g_clear_error (&error);
  if (!csb_file_replace (path, data, len, 0600, TRUE, &error))
    g_message ("the sandbox's credential is not written back: %s", error->message);
  else
    g_message ("the sandbox's login was written back to %s", path);
}

static gboolean
claude_json_back (int      json_fd,
                  GError **error)
{
  g_autoptr(JsonObject) home = NULL;
  g_autoptr(JsonObject) host = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *path = g_build_filename (g_get_home_dir (), CLAUDE_JSON, NULL);
  g_autofree char *data = NULL;
  gboolean changed = FALSE;
  gsize len;

  home = load_object_beneath (json_fd, CLAUDE_JSON, HOME_JSON_MAX, JSON_DEPTH, &local_error);
  if (home == NULL)
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                  "the sandbox's ~/.claude.json is refused: ");
      return FALSE;
    }
  host = load_user_claude_json (&local_error);
  if (host == NULL)
    {
      if (!g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        {
          /* Never overwrite a file we could not understand. */
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      host = json_object_new ();
    }
  for (guint i = 0; i < G_N_ELEMENTS (login_keys); i++)
    {
      JsonNode *node = json_object_get_member (home, login_keys[i].name);
      JsonNode *old = json_object_get_member (host, login_keys[i].name);

      if (node == NULL || (old != NULL && json_node_equal (node, old)))
        continue;
      if (!login_keys[i].check (node))
        {
          g_message ("the sandbox's ~/.claude.json key '%s' is dropped: wrong type or size",
                     login_keys[i].name);
          continue;
        }
      json_object_set_member (host, login_keys[i].name, json_node_copy (node));
      changed = TRUE;
    }
  if (!changed)
    return TRUE;
  data = object_to_data (host, TRUE, &len);
  /* Atomic: a reader (the host's claude) sees the old file or the new one. */
  return csb_file_replace (path, data, len, 0600, TRUE, error);
}

gboolean
csb_claude_home_write_back (const char *project_dir,
                            GError    **error)
{
  g_autofree char *root = NULL;
  csb_autofd int claude_fd = -1;
  csb_autofd int json_fd = -1;
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (project_dir != NULL, FALSE);

  if (!open_home (project_dir, &root, &claude_fd, &json_fd, error))
    return FALSE;
  locker = g_mutex_locker_new (&write_back_lock);
  credential_back (claude_fd);
  return claude_json_back (json_fd, error);
}
