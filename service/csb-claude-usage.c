/* csb-claude-usage.c
 *
 * What Claude Code writes to a session file, one JSON object a line: "user" entries
 * (a typed prompt has a string content or text blocks; a tool's answer has
 * tool_result blocks), "assistant" entries (one line per content block of an API
 * response, each with the same message.id and its usage, the later ones with the
 * final counts), with a "timestamp" (ISO 8601) each; older versions add "costUSD".
 * A response is counted once, with the largest numbers seen for its id (as ccusage
 * does). Subagents' files (in <session>/subagents/) count as requests and
 * tokens, not as sessions or turns.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "csb-claude-home.h"
#include "csb-claude-usage.h"

/* Bounds on what a sandbox can make the service read. */
#define MAX_FILE_BYTES (64 * 1024 * 1024)  /* read of a file; the rest is not counted */
#define MAX_UPDATE_BYTES (64 * 1024 * 1024) /* read by one update; the next one goes on */
#define MAX_LINE_BYTES (1024 * 1024)       /* longer lines (tool output) are skipped */
#define MAX_DEPTH 32
#define MAX_FOLDERS 64                     /* project folders in the home */
#define MAX_FILES 1024                     /* session files in all */
#define MAX_ID_BYTES 128

typedef struct
{
  guint   sessions;
  guint   turns;
  guint   requests;
  guint64 tokens[4];
  gdouble cost_usd;
  gboolean has_cost;
} Totals;

static const char * const token_keys[4] = {
  "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"
};
static const char * const token_names[4] = {
  "claude-input-tokens", "claude-output-tokens", "claude-cache-creation-tokens",
  "claude-cache-read-tokens"
};

/* One session file as far as it was read. */
typedef struct
{
  dev_t       dev;
  ino_t       ino;
  goffset     offset;      /* after the last whole line counted, or the too long one read */
  gboolean    skipping;    /* @offset is inside a line too long to count */
  gboolean    is_session;  /* a main session (not a subagent's) */
  gboolean    counted;     /* has an entry in the window */
  GHashTable *responses;   /* message id → guint64[4], the largest seen */
  Totals      totals;
} FileState;

struct _CsbClaudeUsage
{
  GHashTable *files;   /* "folder/name" → FileState */
  gint64      since_us;
  gint64      until_us;
  goffset     budget;  /* bytes this update may still read */
};

static void
file_state_free (gpointer data)
{
  FileState *state = data;

  g_hash_table_unref (state->responses);
  g_free (state);
}

CsbClaudeUsage *
csb_claude_usage_new (void)
{
  CsbClaudeUsage *self = g_new0 (CsbClaudeUsage, 1);

  self->files = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, file_state_free);
  return self;
}

void
csb_claude_usage_free (CsbClaudeUsage *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->files);
  g_free (self);
}

static gint64
timestamp_us (JsonObject *entry)
{
  const char *text = json_object_get_string_member_with_default (entry, "timestamp", NULL);
  g_autoptr(GDateTime) time = NULL;

  if (text == NULL || strlen (text) > 64 ||
      (time = g_date_time_new_from_iso8601 (text, NULL)) == NULL)
    return -1;
  return g_date_time_to_unix (time) * G_USEC_PER_SEC + g_date_time_get_microsecond (time);
}

static guint64
count_of (JsonObject *object,
          const char *key)
{
  JsonNode *node = json_object_get_member (object, key);
  gdouble value;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      (json_node_get_value_type (node) != G_TYPE_INT64 &&
       json_node_get_value_type (node) != G_TYPE_DOUBLE))
    return 0;
  value = json_node_get_double (node);
  /* A sandbox may write anything: no negative, huge or NaN counts. */
  return value >= 0 && value < 1e15 ? (guint64) value : 0;
}

static gboolean
is_prompt (JsonObject *message)
{
  JsonNode *content = json_object_get_member (message, "content");
  JsonArray *blocks;

  if (content != NULL && JSON_NODE_HOLDS_VALUE (content) &&
      json_node_get_value_type (content) == G_TYPE_STRING)
    return TRUE;
  if (content == NULL || !JSON_NODE_HOLDS_ARRAY (content))
    return FALSE;
  blocks = json_node_get_array (content);
  for (guint i = 0; i < json_array_get_length (blocks); i++)
    {
      JsonNode *block = json_array_get_element (blocks, i);

      if (JSON_NODE_HOLDS_OBJECT (block) &&
          g_strcmp0 (json_object_get_string_member_with_default (
                       json_node_get_object (block), "type", NULL), "tool_result") == 0)
        return FALSE;
    }
  return json_array_get_length (blocks) > 0;
}

static void
count_response (FileState  *state,
                JsonObject *entry,
                JsonObject *message)
{
  const char *id = json_object_get_string_member_with_default (message, "id", NULL);
  JsonNode *usage_node = json_object_get_member (message, "usage");
  JsonObject *usage;
  guint64 *seen;

  if (usage_node == NULL || !JSON_NODE_HOLDS_OBJECT (usage_node))
    return;
  usage = json_node_get_object (usage_node);
  if (id == NULL || strlen (id) > MAX_ID_BYTES)
    id = "";
  seen = *id ? g_hash_table_lookup (state->responses, id) : NULL;
  if (seen == NULL)
    {
      seen = g_new0 (guint64, 4);
      if (*id)
        g_hash_table_insert (state->responses, g_strdup (id), seen);
      state->totals.requests++;
    }
  for (guint i = 0; i < G_N_ELEMENTS (token_keys); i++)
    {
      guint64 value = count_of (usage, token_keys[i]);

      if (value > seen[i])
        {
          state->totals.tokens[i] += value - seen[i];
          seen[i] = value;
        }
    }
  if (!*id)
    g_free (seen);
  if (json_object_has_member (entry, "costUSD"))
    {
      JsonNode *cost = json_object_get_member (entry, "costUSD");

      if (JSON_NODE_HOLDS_VALUE (cost) && json_node_get_value_type (cost) == G_TYPE_DOUBLE &&
          json_node_get_double (cost) >= 0 && json_node_get_double (cost) < 1e9)
        {
          state->totals.cost_usd += json_node_get_double (cost);
          state->totals.has_cost = TRUE;
        }
    }
}

static void
count_line (CsbClaudeUsage *self,
            FileState      *state,
            const char     *line,
            gsize           len)
{
  g_autoptr(JsonParser) parser = NULL;
  JsonNode *root;
  JsonNode *message_node;
  JsonObject *entry;
  JsonObject *message;
  const char *type;
  gint64 when;

  /* Most lines are neither (summaries, snapshots, tool results are "user" though). */
  if (strstr (line, "\"assistant\"") == NULL && strstr (line, "\"user\"") == NULL)
    return;
  if (!csb_json_check_depth (line, len, MAX_DEPTH, NULL))
    return;
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, line, len, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  entry = json_node_get_object (root);
  type = json_object_get_string_member_with_default (entry, "type", "");
  message_node = json_object_get_member (entry, "message");
  if (message_node == NULL || !JSON_NODE_HOLDS_OBJECT (message_node))
    return;
  message = json_node_get_object (message_node);
  when = timestamp_us (entry);
  if (when < self->since_us || (self->until_us > 0 && when >= self->until_us))
    return;

  if (g_str_equal (type, "assistant"))
    count_response (state, entry, message);
  else if (g_str_equal (type, "user") && state->is_session &&
           !json_object_get_boolean_member_with_default (entry, "isMeta", FALSE) &&
           !json_object_get_boolean_member_with_default (entry, "isSidechain", FALSE) &&
           is_prompt (message))
    state->totals.turns++;
  else
    return;
  state->counted = TRUE;
}

/* Counts the whole lines of @fd from the state's offset on (a last line without its
 * newline is being written: it waits for the next read).  A line too long to count is
 * skipped as it is read, never read again: a sandbox's file of zeros without a newline
 * (sparse, no disk space) was read whole again by every update. */
static void
read_lines (CsbClaudeUsage *self,
            FileState      *state,
            int             fd)
{
  g_autoptr(GByteArray) line = g_byte_array_new ();
  gboolean too_long = state->skipping;
  goffset position = state->offset;   /* of chunk[0] */
  char chunk[65536];

  if (lseek (fd, position, SEEK_SET) != position)
    return;
  while (position < MAX_FILE_BYTES && self->budget > 0)
    {
      ssize_t n = read (fd, chunk, MIN ((goffset) sizeof chunk,
                                        MIN (MAX_FILE_BYTES - position, self->budget)));
      const char *p = chunk;
      const char *end;

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      self->budget -= n;
      end = chunk + n;
      while (p < end)
        {
          const char *newline = memchr (p, '\n', end - p);
          gsize piece = (newline ? newline : end) - p;

          too_long = too_long || line->len + piece > MAX_LINE_BYTES;
          if (!too_long)
            g_byte_array_append (line, (const guint8 *) p, piece);
          if (newline == NULL)
            {
              if (too_long)
                {
                  state->offset = position + n;
                  state->skipping = TRUE;
                }
              break;
            }
          if (!too_long)
            {
              g_byte_array_append (line, (const guint8 *) "", 1);
              count_line (self, state, (const char *) line->data, line->len - 1);
            }
          state->offset = position + (newline - chunk) + 1;
          state->skipping = FALSE;
          g_byte_array_set_size (line, 0);
          too_long = FALSE;
          p = newline + 1;
        }
      position += n;
    }
}

static void
update_file (CsbClaudeUsage *self,
             int             dir_fd,
             const char     *key,
             const char     *name,
             gboolean        is_session)
{
  int fd = csb_claude_home_open_beneath (dir_fd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  FileState *state;
  struct stat st;

  if (fd < 0)
    return;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || st.st_uid != getuid ())
    {
      close (fd);
      return;
    }
  state = g_hash_table_lookup (self->files, key);
  /* Replaced or truncated: read it again from the start. */
  if (state != NULL && (state->dev != st.st_dev || state->ino != st.st_ino ||
                        st.st_size < state->offset))
    {
      g_hash_table_remove (self->files, key);
      state = NULL;
    }
  if (state == NULL)
    {
      state = g_new0 (FileState, 1);
      state->dev = st.st_dev;
      state->ino = st.st_ino;
      state->is_session = is_session;
      state->responses = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_insert (self->files, g_strdup (key), state);
    }
  if (st.st_size > state->offset)
    read_lines (self, state, fd);
  close (fd);
}

static gboolean
is_session_name (const char *name)
{
  return g_str_has_suffix (name, ".jsonl") && name[0] != '.';
}

/* The *.jsonl of @dir_fd (its own descriptor, closed here); with @sessions, each
 * folder's subagents/ too. */
static void
update_folder (CsbClaudeUsage *self,
               int             dir_fd,
               const char     *prefix,
               gboolean        sessions)
{
  DIR *dir = fdopendir (dir_fd);
  struct dirent *entry;

  if (dir == NULL)
    {
      close (dir_fd);
      return;
    }
  while ((entry = readdir (dir)) != NULL && g_hash_table_size (self->files) < MAX_FILES)
    {
      g_autofree char *key = g_strconcat (prefix, "/", entry->d_name, NULL);

      if (entry->d_name[0] == '.')
        continue;
      /* DT_UNKNOWN (file systems that do not say): the opens below check the type. */
      if ((entry->d_type == DT_REG || entry->d_type == DT_UNKNOWN) &&
          is_session_name (entry->d_name))
        update_file (self, dirfd (dir), key, entry->d_name, sessions);
      else if ((entry->d_type == DT_DIR || entry->d_type == DT_UNKNOWN) && sessions)
        {
          int session_fd = csb_claude_home_open_beneath (dirfd (dir), entry->d_name,
                                                         O_PATH | O_DIRECTORY);
          int subagents_fd = session_fd >= 0 ?
            csb_claude_home_open_beneath (session_fd, "subagents", O_RDONLY | O_DIRECTORY) : -1;
          g_autofree char *sub_prefix = g_strconcat (key, "/subagents", NULL);

          if (session_fd >= 0)
            close (session_fd);
          if (subagents_fd >= 0)
            update_folder (self, subagents_fd, sub_prefix, FALSE);
        }
    }
  closedir (dir);
}

void
csb_claude_usage_update (CsbClaudeUsage *self,
                         const char     *project_dir,
                         gint64          since_us,
                         gint64          until_us)
{
  g_autofree char *root = NULL;
  int root_fd, claude_fd = -1, projects_fd = -1;
  DIR *projects;
  struct dirent *entry;
  guint folders = 0;

  g_return_if_fail (self != NULL && project_dir != NULL);

  /* Another window (the sandbox ended since): count everything again. */
  if (since_us != self->since_us || until_us != self->until_us)
    g_hash_table_remove_all (self->files);
  self->since_us = since_us;
  self->until_us = until_us;
  self->budget = MAX_UPDATE_BYTES;

  root = csb_claude_home_path (project_dir);
  if ((root_fd = open (root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    return;
  claude_fd = csb_claude_home_open_beneath (root_fd, ".claude", O_PATH | O_DIRECTORY);
  close (root_fd);
  if (claude_fd < 0)
    return;
  projects_fd = csb_claude_home_open_beneath (claude_fd, "projects", O_RDONLY | O_DIRECTORY);
  close (claude_fd);
  if (projects_fd < 0 || (projects = fdopendir (projects_fd)) == NULL)
    {
      if (projects_fd >= 0)
        close (projects_fd);
      return;
    }
  while ((entry = readdir (projects)) != NULL && folders < MAX_FOLDERS)
    {
      int folder_fd;

      if (entry->d_name[0] == '.' || (entry->d_type != DT_DIR && entry->d_type != DT_UNKNOWN))
        continue;
      folders++;
      folder_fd = csb_claude_home_open_beneath (dirfd (projects), entry->d_name,
                                                O_RDONLY | O_DIRECTORY);
      if (folder_fd >= 0)
        update_folder (self, folder_fd, entry->d_name, TRUE);
    }
  closedir (projects);
}

void
csb_claude_usage_add_to (CsbClaudeUsage *self,
                         GVariantDict   *dict)
{
  Totals sum = { 0, };
  GHashTableIter iter;
  FileState *state;

  g_return_if_fail (self != NULL && dict != NULL);

  g_hash_table_iter_init (&iter, self->files);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &state))
    {
      sum.sessions += state->is_session && state->counted;
      sum.turns += state->totals.turns;
      sum.requests += state->totals.requests;
      for (guint i = 0; i < G_N_ELEMENTS (sum.tokens); i++)
        sum.tokens[i] += state->totals.tokens[i];
      sum.cost_usd += state->totals.cost_usd;
      sum.has_cost |= state->totals.has_cost;
    }
  g_variant_dict_insert (dict, "claude-sessions", "u", sum.sessions);
  g_variant_dict_insert (dict, "claude-turns", "u", sum.turns);
  g_variant_dict_insert (dict, "claude-requests", "u", sum.requests);
  for (guint i = 0; i < G_N_ELEMENTS (sum.tokens); i++)
    g_variant_dict_insert (dict, token_names[i], "t", sum.tokens[i]);
  if (sum.has_cost)
    g_variant_dict_insert (dict, "claude-cost-usd", "d", sum.cost_usd);
}
