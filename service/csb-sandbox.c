/* csb-sandbox.c
 *
 * State machine: starting → running → (stopping →) exited, or failed when the
 * sandbox could not be set up or its backend lost it. Whatever the backend, the
 * terminal (a pty the service owns) and the caller's stdio work the same way.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <gio/gunixfdlist.h>
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>

#include <json-glib/json-glib.h>

#include "csb-api.h"
#include "csb-bwrap-backend.h"
#include "csb-claude-usage.h"
#include "csb-error.h"
#include "csb-file.h"
#include "csb-metrics.h"
#include "csb-net-proxy.h"
#include "csb-project-guard.h"
#include "csb-trace.h"
#include "csb-protections.h"
#include "csb-review.h"
#include "csb-screenshooter.h"
#include "csb-sandbox.h"
#include "csb-terminal.h"

#define TERMINAL_DRAIN_MS 1000
/* In the state folder while the sandbox runs: what a restarted service reads. */
#define RECORD_NAME "sandbox.json"
/* Beside it: the project as it was at the start, for the plants' comparison. */
#define SNAPSHOT_NAME "plants-snapshot"
#define SNAPSHOT_MAX_BYTES (16 * 1024 * 1024)
/* How often a running sandbox's project is scanned for plants. A scan is a bounded
 * walk (csb-project-guard.c): a few milliseconds on a big tree. */
#define PLANT_SCAN_INTERVAL_S 10
#define REVIEW_COUNT_INTERVAL_S 5

struct _CsbSandbox
{
  CsbDBusSandboxSkeleton parent_instance;

  CsbSandboxSpec *spec;
  CsbBackend     *backend;
  CsbTerminal    *terminal;
  CsbNetProxy    *net_proxy;
  GTask          *start_task;
  GError         *start_error;
  guint           drain_timeout_id;
  gulong          terminal_closed_id;

  int             project_fd;      /* O_PATH: what the plant scans walk */
  GHashTable     *snapshot;        /* the project at the start (csb_project_guard_snapshot) */
  GPtrArray      *plants;          /* (element-type CsbPlant): all reported so far */
  guint           scan_id;
  guint           review_id;       /* review mode: the next PendingChanges count */
  gboolean        review_counting;
  int             pending_status;  /* the exit, announced after the last scan */
  char           *pending_error;
  gint64          ended_at_us;     /* when it ended (real time), 0 while it runs */

  GMutex          metrics_lock;    /* GetMetrics: one reader of the session files */
  CsbClaudeUsage *claude_usage;
};

enum { SIGNAL_REMOVE_REQUESTED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void csb_sandbox_iface_init (CsbDBusSandboxIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (CsbSandbox, csb_sandbox, CSB_DBUS_TYPE_SANDBOX_SKELETON,
                               G_IMPLEMENT_INTERFACE (CSB_DBUS_TYPE_SANDBOX,
                                                      csb_sandbox_iface_init))

const char *
csb_sandbox_get_id (CsbSandbox *self)
{
  return self->spec->id;
}

gboolean
csb_sandbox_is_active (CsbSandbox *self)
{
  const char *state = csb_dbus_sandbox_get_state (CSB_DBUS_SANDBOX (self));

  return g_strcmp0 (state, "exited") != 0 && g_strcmp0 (state, "failed") != 0;
}

static void
close_spec_stdio (CsbSandbox *self)
{
  for (guint i = 0; i < G_N_ELEMENTS (self->spec->stdio_fds); i++)
    if (self->spec->stdio_fds[i] >= 0)
      {
        close (self->spec->stdio_fds[i]);
        self->spec->stdio_fds[i] = -1;
      }
}

static void
remove_dir_thread (GTask        *task,
                   gpointer      source_object,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  char **dirs = task_data;

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;

      if (!csb_rm_rf (dirs[i], &error))
        g_warning ("%s", error->message);
    }
  g_task_return_boolean (task, TRUE);
}

static void
remove_dirs_async (CsbSandbox         *self,
                   gboolean            with_state,
                   GAsyncReadyCallback callback,
                   gpointer            user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  GStrvBuilder *builder = g_strv_builder_new ();

  g_strv_builder_add (builder, self->spec->runtime_dir);
  if (with_state)
    g_strv_builder_add (builder, self->spec->state_dir);
  g_task_set_task_data (task, g_strv_builder_end (builder), (GDestroyNotify) g_strfreev);
  g_strv_builder_unref (builder);
  g_task_run_in_thread (task, remove_dir_thread);
}

/* ---- plants ------------------------------------------------------------------------ */

static GVariant *
plants_to_variant (GPtrArray *plants,
                   guint      from)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ss)"));
  for (guint i = from; plants != NULL && i < plants->len; i++)
    {
      CsbPlant *plant = g_ptr_array_index (plants, i);
      /* The sandbox chose the names; D-Bus strings are UTF-8. */
      g_autofree char *path = g_utf8_make_valid (plant->path, -1);
      g_autofree char *why = g_utf8_make_valid (plant->why, -1);

      g_variant_builder_add (&builder, "(ss)", path, why);
    }
  return g_variant_builder_end (&builder);
}

/* Adds what is not reported yet (by path) to Plants and announces it. */
static void
report_plants (CsbSandbox *self,
               GPtrArray  *found)
{
  guint before = self->plants->len;

  for (guint i = 0; found != NULL && i < found->len; i++)
    {
      CsbPlant *plant = g_ptr_array_index (found, i);
      gboolean known = FALSE;

      for (guint j = 0; j < self->plants->len && !known; j++)
        known = g_str_equal (((CsbPlant *) g_ptr_array_index (self->plants, j))->path,
                             plant->path);
      if (!known)
        {
          g_message ("sandbox %s planted %s: %s", self->spec->id, plant->path, plant->why);
          g_ptr_array_add (self->plants, csb_plant_new (plant->path, plant->why));
        }
    }
  if (self->plants->len == before)
    return;
  csb_dbus_sandbox_set_plants (CSB_DBUS_SANDBOX (self), plants_to_variant (self->plants, 0));
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));
  csb_dbus_sandbox_emit_plants_found (CSB_DBUS_SANDBOX (self),
                                      plants_to_variant (self->plants, before));
}

typedef struct
{
  int         project_fd;
  GHashTable *before;
} ScanData;

static void
scan_data_free (ScanData *data)
{
  g_clear_pointer (&data->before, g_hash_table_unref);
  g_free (data);
}

static void
scan_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  ScanData *data = task_data;
  g_autoptr(GHashTable) now = csb_project_guard_snapshot (data->project_fd);

  g_task_return_pointer (task, csb_project_guard_compare (data->project_fd, data->before, now),
                         (GDestroyNotify) g_ptr_array_unref);
}

static void
scan_async (CsbSandbox         *self,
            GAsyncReadyCallback callback)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, NULL);
  ScanData *data = g_new0 (ScanData, 1);

  data->project_fd = self->project_fd;
  data->before = g_hash_table_ref (self->snapshot);
  g_task_set_task_data (task, data, (GDestroyNotify) scan_data_free);
  g_task_run_in_thread (task, scan_thread);
}

static gboolean on_scan_timeout (gpointer user_data);

static void
on_live_scan (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  CsbSandbox *self = CSB_SANDBOX (source);
  g_autoptr(GPtrArray) found = g_task_propagate_pointer (G_TASK (result), NULL);

  report_plants (self, found);
  if (csb_sandbox_is_active (self) && self->scan_id == 0 && self->pending_status < 0)
    self->scan_id = g_timeout_add_seconds (PLANT_SCAN_INTERVAL_S, on_scan_timeout, self);
}

static gboolean
on_scan_timeout (gpointer user_data)
{
  CsbSandbox *self = user_data;

  self->scan_id = 0;
  scan_async (self, on_live_scan);
  return G_SOURCE_REMOVE;
}

static void
start_live_scans (CsbSandbox *self)
{
  if (self->snapshot != NULL && self->scan_id == 0)
    self->scan_id = g_timeout_add_seconds (PLANT_SCAN_INTERVAL_S, on_scan_timeout, self);
}

typedef struct
{
  int   project_fd;
  char *path;
} AdoptedSnapshot;

static void
adopted_snapshot_free (AdoptedSnapshot *data)
{
  g_free (data->path);
  g_free (data);
}

/* The snapshot the previous service took at the start, or, if there is none
 * (or not one this service can read), one taken now. */
static void
snapshot_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  AdoptedSnapshot *data = task_data;
  GHashTable *snapshot = NULL;
  g_autofree char *contents = NULL;
  gsize len;
  struct stat st;
  int fd = open (data->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

  if (fd >= 0 && fstat (fd, &st) == 0 && S_ISREG (st.st_mode) &&
      st.st_size <= SNAPSHOT_MAX_BYTES)
    {
      /* Read, not mapped: a file truncated meanwhile must not SIGBUS us. */
      contents = g_malloc (st.st_size + 1);
      len = 0;
      while (len < (gsize) st.st_size)
        {
          gssize n = read (fd, contents + len, st.st_size - len);
          if (n <= 0)
            break;
          len += n;
        }
      if (len == (gsize) st.st_size)
        {
          g_autoptr(GBytes) bytes = g_bytes_new_static (contents, len);
          snapshot = csb_project_guard_snapshot_from_bytes (bytes);
        }
    }
  if (fd >= 0)
    close (fd);
  if (snapshot == NULL)
    snapshot = csb_project_guard_snapshot (data->project_fd);
  g_task_return_pointer (task, snapshot, (GDestroyNotify) g_hash_table_unref);
}

static void
on_adopted_snapshot (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  CsbSandbox *self = CSB_SANDBOX (source);

  self->snapshot = g_task_propagate_pointer (G_TASK (result), NULL);
  if (csb_sandbox_is_active (self))
    start_live_scans (self);
}

/* ---- review mode (csb-review.c) ------------------------------------------------------ */

typedef enum
{
  REVIEW_COUNT,
  REVIEW_LIST,
  REVIEW_DIFF,
  REVIEW_DIFF_DATA,
  REVIEW_APPLY,
  REVIEW_DISCARD,
  REVIEW_REMOVE,
} ReviewOp;

typedef struct
{
  ReviewOp               op;
  char                  *state_dir;
  char                  *project_dir;
  char                 **paths;
  char                  *path;
  gint64                 since_us;
  GDBusMethodInvocation *invocation;
  /* results */
  GVariant              *changes;
  int                    diff_fd;
  GBytes                *diff_data;     /* GetDiffData's: the diff's first bytes */
  gboolean               diff_truncated;
  guint                  pending;
  gint64                 started_us;
  gint64                 took_us;
  GError                *error;
} ReviewData;

static void
review_data_free (ReviewData *data)
{
  g_free (data->state_dir);
  g_free (data->project_dir);
  g_strfreev (data->paths);
  g_free (data->path);
  g_clear_object (&data->invocation);
  g_clear_pointer (&data->changes, g_variant_unref);
  if (data->diff_fd >= 0)
    close (data->diff_fd);
  g_clear_pointer (&data->diff_data, g_bytes_unref);
  g_clear_error (&data->error);
  g_free (data);
}

static GVariant *
changes_to_variant (GPtrArray *changes)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sss)"));
  for (guint i = 0; changes != NULL && i < changes->len; i++)
    {
      CsbChange *change = g_ptr_array_index (changes, i);
      g_autofree char *summary = g_strconcat (change->protected ? "[protected] " : "",
                                              change->summary, NULL);
      /* Names and link targets are the sandbox's bytes; D-Bus strings are UTF-8. */
      g_autofree char *shown_path = g_utf8_make_valid (change->path, -1);
      g_autofree char *shown_summary = g_utf8_make_valid (summary, -1);

      g_variant_builder_add (&builder, "(sss)", shown_path,
                             csb_change_kind_name (change->kind), shown_summary);
    }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

/* GetDiffData's bytes travel in one D-Bus message, over ssh for a connection. */
#define DIFF_DATA_MAX (4 * 1024 * 1024)

/* The first DIFF_DATA_MAX bytes of the diff in @data's memory file, which it closes. */
static void
read_diff_data (ReviewData *data)
{
  g_autofree char *buffer = g_malloc (DIFF_DATA_MAX + 1);
  gsize length = 0;
  ssize_t n = 0;

  while (length <= DIFF_DATA_MAX &&
         (n = pread (data->diff_fd, buffer + length, DIFF_DATA_MAX + 1 - length, length)) > 0)
    length += n;
  close (data->diff_fd);
  data->diff_fd = -1;
  if (n < 0)
    {
      g_set_error (&data->error, CSB_ERROR, CSB_ERROR_FAILED, "cannot read the diff: %s",
                   g_strerror (errno));
      return;
    }
  data->diff_truncated = length > DIFF_DATA_MAX;
  data->diff_data = g_bytes_new (buffer, MIN (length, DIFF_DATA_MAX));
}

static void
review_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  ReviewData *data = task_data;
  g_autoptr(GPtrArray) changes = NULL;
  const char * const *paths = (const char * const *) data->paths;

  switch (data->op)
    {
    case REVIEW_DIFF:
    case REVIEW_DIFF_DATA:
      data->diff_fd = csb_review_diff (data->state_dir, data->project_dir, data->path,
                                       &data->error);
      if (data->op == REVIEW_DIFF_DATA && data->diff_fd >= 0)
        read_diff_data (data);
      break;
    case REVIEW_APPLY:
      csb_review_apply (data->state_dir, data->project_dir, paths, data->since_us,
                        &data->error);
      break;
    case REVIEW_DISCARD:
      csb_review_discard (data->state_dir, data->project_dir, paths, &data->error);
      break;
    default:
      break;
    }
  /* Every operation ends with a fresh count (and the list, for whoever wants it). */
  if (csb_review_exists (data->state_dir))
    {
      g_autoptr(GError) local_error = NULL;

      changes = csb_review_list (data->state_dir, data->project_dir, &local_error);
      if (changes == NULL && data->error == NULL && data->op == REVIEW_LIST)
        data->error = g_steal_pointer (&local_error);
    }
  else if (data->error == NULL && data->op != REVIEW_COUNT && data->op != REVIEW_REMOVE)
    g_set_error (&data->error, CSB_ERROR, CSB_ERROR_NOT_FOUND,
                 "this sandbox has no review layer (it was not launched with project-mode "
                 "review)");
  data->pending = changes ? changes->len : 0;
  data->took_us = g_get_monotonic_time () - data->started_us;
  data->changes = changes_to_variant (changes);
  if (data->op == REVIEW_REMOVE && data->pending == 0)
    csb_review_remove (data->state_dir, &data->error);
  g_task_return_boolean (task, TRUE);
}

static gboolean on_review_timeout (gpointer user_data);

static void
set_pending (CsbSandbox *self,
             guint       pending)
{
  CsbDBusSandbox *dbus = CSB_DBUS_SANDBOX (self);

  if (csb_dbus_sandbox_get_pending_changes (dbus) == pending)
    return;
  csb_dbus_sandbox_set_pending_changes (dbus, pending);
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));
}

static void
on_review_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  CsbSandbox *self = CSB_SANDBOX (source);
  ReviewData *data = g_task_get_task_data (G_TASK (result));
  CsbDBusSandbox *dbus = CSB_DBUS_SANDBOX (self);
  GDBusMethodInvocation *invocation = g_steal_pointer (&data->invocation);

  set_pending (self, data->pending);
  if (data->op == REVIEW_COUNT)
    {
      self->review_counting = FALSE;
      /* A big layer (an npm install) takes a while to list: then less often, so
       * that the count never costs more than a tenth of a core. */
      if (csb_sandbox_is_active (self) && self->review_id == 0)
        self->review_id = g_timeout_add_seconds (MAX (REVIEW_COUNT_INTERVAL_S,
                                                      data->took_us * 10 / G_USEC_PER_SEC),
                                                 on_review_timeout, self);
      return;
    }
  if (data->op == REVIEW_REMOVE && data->error == NULL && data->pending > 0)
    g_set_error (&data->error, CSB_ERROR, CSB_ERROR_FAILED,
                 "sandbox %s has %u pending changes to its project folder; apply or discard "
                 "them first (claude-sandbox --changes %s)", self->spec->id, data->pending,
                 self->spec->id);
  if (data->error != NULL)
    {
      /* Messages name the sandbox's paths; D-Bus strings are UTF-8. */
      if (!g_utf8_validate (data->error->message, -1, NULL))
        {
          char *message = g_utf8_make_valid (data->error->message, -1);

          g_free (data->error->message);
          data->error->message = message;
        }
      g_dbus_method_invocation_return_gerror (invocation, data->error);
      g_object_unref (invocation);
      return;
    }
  switch (data->op)
    {
    case REVIEW_LIST:
      csb_dbus_sandbox_complete_get_changes (dbus, invocation, data->changes);
      break;
    case REVIEW_DIFF:
      {
        g_autoptr(GUnixFDList) fds = g_unix_fd_list_new_from_array (&data->diff_fd, 1);

        data->diff_fd = -1;
        csb_dbus_sandbox_complete_get_diff (dbus, invocation, fds, g_variant_new_handle (0));
      }
      break;
    case REVIEW_DIFF_DATA:
      csb_dbus_sandbox_complete_get_diff_data (dbus, invocation,
                                               g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING,
                                                                         data->diff_data, TRUE),
                                               data->diff_truncated);
      break;
    case REVIEW_APPLY:
      g_message ("sandbox %s: changes applied to %s", self->spec->id, self->spec->project_dir);
      csb_dbus_sandbox_complete_apply_changes (dbus, invocation);
      break;
    case REVIEW_DISCARD:
      csb_dbus_sandbox_complete_discard_changes (dbus, invocation);
      break;
    case REVIEW_REMOVE:
      {
        g_autofree char *record = g_build_filename (self->spec->state_dir, RECORD_NAME, NULL);

        unlink (record);
        csb_dbus_sandbox_complete_remove (dbus, invocation);
        g_signal_emit (self, signals[SIGNAL_REMOVE_REQUESTED], 0);
      }
      break;
    default:
      g_assert_not_reached ();
    }
}

/* Takes a reference on @invocation (NULL for the count). */
static void
review_run (CsbSandbox            *self,
            ReviewOp               op,
            const char * const    *paths,
            const char            *path,
            GDBusMethodInvocation *invocation)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, on_review_done, NULL);
  ReviewData *data = g_new0 (ReviewData, 1);

  data->op = op;
  data->state_dir = g_strdup (self->spec->state_dir);
  data->project_dir = g_strdup (self->spec->project_dir);
  data->paths = g_strdupv ((char **) paths);
  data->path = g_strdup (path);
  data->since_us = csb_dbus_sandbox_get_started_at (CSB_DBUS_SANDBOX (self));
  data->invocation = invocation ? g_object_ref (invocation) : NULL;
  data->diff_fd = -1;
  data->started_us = g_get_monotonic_time ();
  g_task_set_task_data (task, data, (GDestroyNotify) review_data_free);
  g_task_run_in_thread (task, review_thread);
}

/* PendingChanges, now, and every few seconds while the sandbox runs. */
static void
review_count (CsbSandbox *self)
{
  g_clear_handle_id (&self->review_id, g_source_remove);
  if (self->review_counting)
    return;
  self->review_counting = TRUE;
  review_run (self, REVIEW_COUNT, NULL, NULL, NULL);
}

static gboolean
on_review_timeout (gpointer user_data)
{
  CsbSandbox *self = user_data;

  self->review_id = 0;
  review_count (self);
  return G_SOURCE_REMOVE;
}

static gboolean
review_check (CsbSandbox            *self,
              GDBusMethodInvocation *invocation)
{
  if (self->spec->options->review)
    return TRUE;
  g_dbus_method_invocation_return_error (invocation, CSB_ERROR, CSB_ERROR_NOT_FOUND,
                                         "sandbox %s writes to its project folder directly; "
                                         "launch it with project-mode review to review its "
                                         "changes", self->spec->id);
  return FALSE;
}

static gboolean
handle_get_changes (CsbDBusSandbox        *object,
                    GDBusMethodInvocation *invocation)
{
  CsbSandbox *self = CSB_SANDBOX (object);

  if (review_check (self, invocation))
    review_run (self, REVIEW_LIST, NULL, NULL, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_diff (CsbDBusSandbox        *object,
                 GDBusMethodInvocation *invocation,
                 GUnixFDList           *fd_list,
                 const char            *path)
{
  CsbSandbox *self = CSB_SANDBOX (object);

  if (review_check (self, invocation))
    review_run (self, REVIEW_DIFF, NULL, path, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_diff_data (CsbDBusSandbox        *object,
                      GDBusMethodInvocation *invocation,
                      const char            *path)
{
  CsbSandbox *self = CSB_SANDBOX (object);

  if (review_check (self, invocation))
    review_run (self, REVIEW_DIFF_DATA, NULL, path, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_apply_changes (CsbDBusSandbox        *object,
                      GDBusMethodInvocation *invocation,
                      const char * const    *paths)
{
  CsbSandbox *self = CSB_SANDBOX (object);

  if (review_check (self, invocation))
    review_run (self, REVIEW_APPLY, paths, NULL, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_discard_changes (CsbDBusSandbox        *object,
                        GDBusMethodInvocation *invocation,
                        const char * const    *paths)
{
  CsbSandbox *self = CSB_SANDBOX (object);

  if (review_check (self, invocation))
    review_run (self, REVIEW_DISCARD, paths, NULL, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- metrics ----------------------------------------------------------------------- */

typedef struct
{
  guint  pid;
  gint64 since_us;
  gint64 until_us;
} MetricsData;

static void
metrics_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  CsbSandbox *self = source_object;
  MetricsData *data = task_data;
  CsbProcessUsage usage;
  GVariantDict dict;

  g_variant_dict_init (&dict, NULL);
  if (csb_metrics_processes (self->spec->id, data->pid, &usage))
    {
      g_variant_dict_insert (&dict, "cpu-time-us", "t", usage.cpu_us);
      g_variant_dict_insert (&dict, "memory-bytes", "t", usage.memory_bytes);
      g_variant_dict_insert (&dict, "processes", "u", usage.processes);
      g_variant_dict_insert (&dict, "source", "s", usage.from_cgroup ? "cgroup" : "proc");
    }
  g_variant_dict_insert (&dict, "state-bytes", "t",
                         csb_metrics_disk_bytes (self->spec->state_dir));
  g_mutex_lock (&self->metrics_lock);
  csb_claude_usage_update (self->claude_usage, self->spec->project_dir, data->since_us,
                           data->until_us);
  csb_claude_usage_add_to (self->claude_usage, &dict);
  g_mutex_unlock (&self->metrics_lock);
  g_task_return_pointer (task, g_variant_ref_sink (g_variant_dict_end (&dict)),
                         (GDestroyNotify) g_variant_unref);
}

static void
on_metrics_done (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GDBusMethodInvocation) invocation = user_data;
  g_autoptr(GVariant) metrics = g_task_propagate_pointer (G_TASK (result), NULL);

  csb_dbus_sandbox_complete_get_metrics (CSB_DBUS_SANDBOX (source),
                                         g_steal_pointer (&invocation), metrics);
}

/* Measured in a worker (a /proc walk, a folder walk, the session files), when asked. */
static gboolean
handle_get_metrics (CsbDBusSandbox        *object,
                    GDBusMethodInvocation *invocation)
{
  CsbSandbox *self = CSB_SANDBOX (object);
  g_autoptr(GTask) task = g_task_new (self, NULL, on_metrics_done, g_object_ref (invocation));
  MetricsData *data = g_new0 (MetricsData, 1);

  data->pid = csb_sandbox_is_active (self) ? csb_dbus_sandbox_get_pid (object) : 0;
  data->since_us = csb_dbus_sandbox_get_started_at (object);
  data->until_us = self->ended_at_us;
  g_task_set_task_data (task, data, g_free);
  g_task_run_in_thread (task, metrics_thread);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- the end ------------------------------------------------------------------------ */

static void
finish_exit (CsbSandbox *self)
{
  CsbDBusSandbox *dbus = CSB_DBUS_SANDBOX (self);
  int status = self->pending_status;
  g_autofree char *error_message = g_steal_pointer (&self->pending_error);

  self->ended_at_us = g_get_real_time ();
  g_object_freeze_notify (G_OBJECT (self));
  csb_dbus_sandbox_set_exit_status (dbus, status);
  csb_dbus_sandbox_set_pid (dbus, 0);
  if (error_message != NULL)
    csb_dbus_sandbox_set_error (dbus, error_message);
  csb_dbus_sandbox_set_state (dbus, error_message ? "failed" : "exited");
  g_object_thaw_notify (G_OBJECT (self));
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));

  g_message ("sandbox %s %s with status %d", self->spec->id,
             error_message ? "failed" : "exited", status);
  csb_dbus_sandbox_emit_exited (dbus, status);
  csb_trace ("exit: Exited emitted");
  /* A review sandbox's changes outlive it, and a restart of the service: its record
   * stays until Remove(). */
  if (self->spec->options->review)
    review_count (self);
  else
    {
      g_autofree char *record = g_build_filename (self->spec->state_dir, RECORD_NAME, NULL);
      unlink (record);
    }
  remove_dirs_async (self, FALSE, NULL, NULL);
}

static void
on_final_scan (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  CsbSandbox *self = CSB_SANDBOX (source);
  g_autoptr(GPtrArray) found = g_task_propagate_pointer (G_TASK (result), NULL);

  report_plants (self, found);
  finish_exit (self);
}

static void
on_backend_exited (CsbBackend *backend,
                   int         status,
                   const char *error_message,
                   gpointer    user_data)
{
  CsbSandbox *self = user_data;

  if (self->start_task != NULL)
    return;  /* A failed start is reported by start_finish. */
  csb_trace ("exit: backend exited");

  if (self->net_proxy != NULL)
    csb_net_proxy_stop (self->net_proxy);
  g_clear_handle_id (&self->scan_id, g_source_remove);
  self->pending_status = status;
  self->pending_error = g_strdup (error_message);
  /* What it planted, known before Exited: a client that waits for Exited then
   * reads Plants (the CLI) sees all of it. */
  if (self->snapshot != NULL)
    scan_async (self, on_final_scan);
  else
    finish_exit (self);
}

/* ---- starting ------------------------------------------------------------------- */

typedef struct
{
  char       *resolved;
  int         project_fd;
  GPtrArray  *guard_entries;
  GPtrArray  *plants;
  GHashTable *snapshot;
} Prepared;

static void
prepared_free (Prepared *prepared)
{
  g_free (prepared->resolved);
  if (prepared->project_fd >= 0)
    close (prepared->project_fd);
  g_clear_pointer (&prepared->guard_entries, g_ptr_array_unref);
  g_clear_pointer (&prepared->plants, g_ptr_array_unref);
  g_clear_pointer (&prepared->snapshot, g_hash_table_unref);
  g_free (prepared);
}

/* The project folder as validated, and checked to be it: a path opened later could
 * meanwhile lead elsewhere (a parent swapped for a symlink to /etc). */
static int
open_project (const char *resolved,
              GError    **error)
{
  gboolean gone;
  int fd = csb_file_open_dir_exact (resolved, O_PATH, &gone);

  if (fd < 0)
    g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                 "project folder '%s' changed while the sandbox was set up (it is %s now)",
                 resolved, gone ? "gone" : "elsewhere");
  return fd;
}

static void
prepare_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  CsbSandboxSpec *spec = task_data;
  Prepared *prepared = g_new0 (Prepared, 1);
  GError *error = NULL;

  prepared->project_fd = -1;
  csb_trace ("prepare: thread runs");
  if (!csb_validate_project_dir (spec->project_dir, g_get_home_dir (), &prepared->resolved,
                                 &error) ||
      (prepared->project_fd = open_project (prepared->resolved, &error)) < 0)
    {
      prepared_free (prepared);
      g_task_return_error (task, error);
      return;
    }
  {
    g_autoptr(GError) local_error = NULL;
    int state_fd = csb_sandbox_spec_open_dir (spec, FALSE, TRUE, &local_error);
    int runtime_fd = state_fd < 0 ? -1
                     : csb_sandbox_spec_open_dir (spec, TRUE, TRUE, &local_error);

    if (state_fd >= 0)
      close (state_fd);
    if (runtime_fd < 0)
      {
        prepared_free (prepared);
        g_task_return_new_error (task, CSB_ERROR, CSB_ERROR_FAILED,
                                 "cannot create the sandbox's folders: %s",
                                 local_error->message);
        return;
      }
    close (runtime_fd);
  }
  csb_trace ("prepare: project validated, folders made");
  /* The guard first: it may create .git/hooks and .git/commondir, which the
   * snapshot then holds (they are no plants). */
  prepared->plants = g_ptr_array_new_with_free_func ((GDestroyNotify) csb_plant_free);
  /* Review mode binds nothing of the project read-write: nothing to guard, and the
   * guard's own writes (.git/hooks, .git/commondir) would touch the real folder. */
  if (!spec->options->review &&
      (spec->settings == NULL || g_settings_get_boolean (spec->settings,
                                                         "protect-project-config")))
    prepared->guard_entries = csb_project_guard_prepare (prepared->project_fd, prepared->plants,
                                                         &prepared->snapshot);
  else
    prepared->snapshot = csb_project_guard_snapshot (prepared->project_fd);
  csb_trace ("prepare: guard and snapshot done");
  {
    g_autoptr(GBytes) bytes = csb_project_guard_snapshot_to_bytes (prepared->snapshot);
    g_autofree char *path = g_build_filename (spec->state_dir, SNAPSHOT_NAME, NULL);
    g_autoptr(GError) local_error = NULL;
    gsize len;
    const char *data = g_bytes_get_data (bytes, &len);

    /* For a restarted service; without it, one compares with the project as it
     * finds it. */
    if (!csb_file_replace (path, data ? data : "", len, 0600, FALSE, &local_error))
      g_message ("sandbox %s: %s", spec->id, local_error->message);
  }
  csb_trace ("prepare: snapshot written");
  g_task_return_pointer (task, prepared, (GDestroyNotify) prepared_free);
}

/* Adds what the sandbox printed before it failed (bwrap's own message) to the
 * error, so it says what went wrong. */
/* The last @max bytes of one log file, appended to @out. */
static void
append_file_tail (GByteArray *out,
                  const char *path,
                  gsize       max)
{
  g_autoptr(GMappedFile) mapped = g_mapped_file_new (path, FALSE, NULL);
  gsize len;
  const char *data;

  if (mapped == NULL)
    return;
  len = g_mapped_file_get_length (mapped);
  data = g_mapped_file_get_contents (mapped);
  if (len > max)
    {
      data += len - max;
      len = max;
    }
  g_byte_array_append (out, (const guint8 *) data, len);
}

/* The last @max bytes of the terminal log (the sandbox's whole output with a pty):
 * of terminal.log, and of its rotated terminal.log.1 where that is not enough. */
static GBytes *
read_log_tail (const char *state_dir,
               gsize       max)
{
  g_autofree char *log_path = g_build_filename (state_dir, CSB_TERMINAL_LOG, NULL);
  g_autofree char *rotated_path = g_build_filename (state_dir, CSB_TERMINAL_LOG_ROTATED, NULL);
  g_autoptr(GByteArray) current = g_byte_array_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();

  append_file_tail (current, log_path, max);
  if (current->len < max)
    append_file_tail (out, rotated_path, max - current->len);
  g_byte_array_append (out, current->data, current->len);
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/* Adds what the sandbox printed before it failed (bwrap's own message) to the
 * error, so it says what went wrong. */
static void
append_terminal_output (CsbSandbox *self)
{
  g_autoptr(GBytes) history = NULL;
  g_autofree char *text = NULL;
  gsize len;
  const char *data;

  if (self->terminal != NULL)
    history = csb_terminal_dup_history (self->terminal);
  else if (self->spec->stdio_is_pty)
    history = read_log_tail (self->spec->state_dir, 2000);
  else
    return;
  data = g_bytes_get_data (history, &len);
  if (len == 0)
    return;
  /* The end holds the message; the start may be a long banner. */
  if (len > 2000)
    {
      data += len - 2000;
      len = 2000;
    }
  text = g_utf8_make_valid (data, len);
  g_strstrip (text);
  if (*text != '\0')
    {
      g_autofree char *old = self->start_error->message;
      self->start_error->message = g_strconcat (old, ": ", text, NULL);
    }
}

static void
on_failed_dirs_removed (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = g_task_get_task_data (task);

  g_task_return_error (task, g_error_copy (error));
}

static void
finish_failed_start (CsbSandbox *self)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->start_task);
  GError *error;

  g_clear_handle_id (&self->drain_timeout_id, g_source_remove);
  append_terminal_output (self);
  error = g_steal_pointer (&self->start_error);
  csb_dbus_sandbox_set_state (CSB_DBUS_SANDBOX (self), "failed");
  csb_dbus_sandbox_set_error (CSB_DBUS_SANDBOX (self), error->message);
  /* The caller hears of the failure once nothing of the sandbox is left. */
  g_task_set_task_data (task, error, (GDestroyNotify) g_error_free);
  remove_dirs_async (self, TRUE, on_failed_dirs_removed, g_steal_pointer (&task));
}

static gboolean
on_drain_timeout (gpointer user_data)
{
  CsbSandbox *self = user_data;

  self->drain_timeout_id = 0;
  finish_failed_start (self);
  return G_SOURCE_REMOVE;
}

static void
on_terminal_closed_during_start (CsbTerminal *terminal,
                                 gpointer     user_data)
{
  CsbSandbox *self = user_data;

  if (self->start_error != NULL)
    finish_failed_start (self);
}

static void
add_strv_member (JsonBuilder        *builder,
                 const char         *name,
                 const char * const *strv)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_array (builder);
  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    json_builder_add_string_value (builder, strv[i]);
  json_builder_end_array (builder);
}

/* What a restarted service needs to list this sandbox again (csb_sandbox_adopt). */
static gboolean
write_record (CsbSandbox *self,
              GError    **error)
{
  CsbDBusSandbox *dbus = CSB_DBUS_SANDBOX (self);
  CsbLaunchOptions *opts = self->spec->options;
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *data = NULL;
  g_autofree char *path = g_build_filename (self->spec->state_dir, RECORD_NAME, NULL);

  g_ptr_array_add (opts->network_allow, NULL);
  g_ptr_array_add (opts->network_deny, NULL);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, self->spec->id);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, csb_dbus_sandbox_get_name (dbus));
  json_builder_set_member_name (builder, "backend");
  json_builder_add_string_value (builder, csb_backend_get_name (self->backend));
  json_builder_set_member_name (builder, "project-dir");
  json_builder_add_string_value (builder, self->spec->project_dir);
  add_strv_member (builder, "command", (const char * const *) self->spec->command);
  json_builder_set_member_name (builder, "started-at");
  json_builder_add_int_value (builder, csb_dbus_sandbox_get_started_at (dbus));
  json_builder_set_member_name (builder, "pid");
  json_builder_add_int_value (builder, csb_dbus_sandbox_get_pid (dbus));
  json_builder_set_member_name (builder, "network");
  json_builder_add_boolean_value (builder, opts->network);
  json_builder_set_member_name (builder, "gh-token");
  json_builder_add_boolean_value (builder, opts->gh_token);
  json_builder_set_member_name (builder, "pty");
  json_builder_add_boolean_value (builder, self->spec->stdio_is_pty);
  json_builder_set_member_name (builder, "project-mode");
  json_builder_add_string_value (builder, opts->review ? "review" : "direct");
  json_builder_set_member_name (builder, "display");
  json_builder_add_string_value (builder, csb_dbus_sandbox_get_display (dbus));
  add_strv_member (builder, "protections", csb_dbus_sandbox_get_protections (dbus));
  add_strv_member (builder, "network-allow", (const char * const *) opts->network_allow->pdata);
  add_strv_member (builder, "network-deny", (const char * const *) opts->network_deny->pdata);
  json_builder_end_object (builder);
  g_ptr_array_remove_index (opts->network_allow, opts->network_allow->len - 1);
  g_ptr_array_remove_index (opts->network_deny, opts->network_deny->len - 1);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  data = json_generator_to_data (generator, NULL);
  /* A few hundred bytes to the state folder. */
  if (!csb_file_replace (path, data, -1, 0600, FALSE, error))
    {
      g_prefix_error (error, "cannot record the sandbox in %s: ", self->spec->state_dir);
      return FALSE;
    }
  return TRUE;
}

static void
on_backend_started (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(CsbSandbox) self = user_data;
  CsbDBusSandbox *dbus = CSB_DBUS_SANDBOX (self);
  g_auto(GStrv) protections = NULL;
  g_autofree char *display = NULL;

  csb_trace ("start: backend started");
  /* The sandbox holds its own copies; ours would keep pipes and the pty open. */
  close_spec_stdio (self);

  if (!csb_backend_start_finish (self->backend, result, &self->start_error))
    {
      g_message ("sandbox %s failed to start: %s", self->spec->id, self->start_error->message);
      if (self->terminal != NULL && !csb_terminal_is_closed (self->terminal))
        {
          /* Give the terminal a moment to collect bwrap's last words. */
          self->terminal_closed_id =
            g_signal_connect_after (self->terminal, "closed",
                                    G_CALLBACK (on_terminal_closed_during_start), self);
          self->drain_timeout_id = g_timeout_add (TERMINAL_DRAIN_MS, on_drain_timeout, self);
          return;
        }
      finish_failed_start (self);
      return;
    }

  protections = csb_backend_get_protections (self->backend);
  display = csb_backend_dup_display (self->backend);
  g_object_freeze_notify (G_OBJECT (self));
  csb_dbus_sandbox_set_pid (dbus, csb_backend_get_pid (self->backend));
  csb_dbus_sandbox_set_display (dbus, display ? display : "");
  csb_dbus_sandbox_set_protections (dbus, (const char * const *) protections);
  csb_dbus_sandbox_set_state (dbus, "running");
  if (self->spec->options->review)
    review_count (self);
  g_object_thaw_notify (G_OBJECT (self));
  start_live_scans (self);
  g_message ("sandbox %s running (pid %u) on %s", self->spec->id,
             csb_backend_get_pid (self->backend), self->spec->project_dir);
  {
    g_autoptr(GError) error = NULL;

    /* The first record, written before the start, still lets a restarted service
     * take the sandbox over; only its pid and protections are missing. */
    if (!write_record (self, &error))
      g_message ("sandbox %s: %s", self->spec->id, error->message);
  }
  {
    g_autoptr(GTask) task = g_steal_pointer (&self->start_task);
    g_task_return_boolean (task, TRUE);
  }
}

/* A pty the service holds, its output logged to terminal.log; the other end
 * becomes the sandbox's stdio. */
static gboolean
open_terminal (CsbSandboxSpec  *spec,
               CsbTerminal    **out_terminal,
               GError         **error)
{
  g_autofree char *log_path = g_build_filename (spec->state_dir, CSB_TERMINAL_LOG, NULL);
  int master, slave;

  if (!csb_pty_open (&master, &slave, error))
    return FALSE;
  *out_terminal = csb_terminal_new (master, log_path, error);
  if (*out_terminal == NULL)
    {
      close (slave);
      return FALSE;
    }
  csb_terminal_set_log_max (*out_terminal, csb_sandbox_spec_terminal_log_max (spec));
  spec->stdio_fds[0] = slave;
  spec->stdio_fds[1] = fcntl (slave, F_DUPFD_CLOEXEC, 3);
  spec->stdio_fds[2] = fcntl (slave, F_DUPFD_CLOEXEC, 3);
  spec->stdio_is_pty = TRUE;
  return TRUE;
}

static gboolean
setup_stdio (CsbSandbox *self,
             GError    **error)
{
  CsbSandboxSpec *spec = self->spec;

  if (spec->options->has_stdio)
    {
      for (guint i = 0; i < 3; i++)
        {
          int fd = csb_launch_options_steal_stdio_fd (spec->options, i);

          if (fd < 0)
            fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
          if (fd < 0)
            {
              g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot open /dev/null: %s",
                           g_strerror (errno));
              return FALSE;
            }
          spec->stdio_fds[i] = fd;
        }
      spec->stdio_is_pty = FALSE;
    }
  else if (csb_backend_owns_terminal (self->backend))
    spec->stdio_is_pty = TRUE;   /* the backend's monitor makes the pty */
  else
    return open_terminal (spec, &self->terminal, error);
  return TRUE;
}

static void
update_network_allow (CsbSandbox *self)
{
  g_auto(GStrv) allow = csb_net_policy_dup_allow (csb_net_proxy_get_policy (self->net_proxy));

  csb_dbus_sandbox_set_network_allow (CSB_DBUS_SANDBOX (self), (const char * const *) allow);
}

static void
on_network_denied (CsbNetProxy *proxy,
                   const char  *host,
                   guint        port,
                   gpointer     user_data)
{
  CsbSandbox *self = user_data;

  csb_dbus_sandbox_set_denied_connections (CSB_DBUS_SANDBOX (self),
                                           csb_net_proxy_get_denied_count (proxy));
  csb_dbus_sandbox_emit_network_denied (CSB_DBUS_SANDBOX (self), host, port);
}

static gboolean
add_patterns (CsbNetPolicy       *policy,
              gboolean            allow,
              const char * const *patterns,
              GError            **error)
{
  for (guint i = 0; patterns != NULL && patterns[i] != NULL; i++)
    if (!(allow ? csb_net_policy_add_allow : csb_net_policy_add_deny) (policy, patterns[i], error))
      return FALSE;
  return TRUE;
}

/* A filtered network: the service's proxy, reached through a socket bound into the
 * sandbox, decides each connection. Backend-independent; the backend wires it in. */
static gboolean
setup_network_filter (CsbSandbox *self,
                      GError    **error)
{
  CsbLaunchOptions *opts = self->spec->options;
  GSettings *settings = self->spec->settings;
  g_autoptr(CsbNetPolicy) policy = NULL;
  g_autofree char *socket_path = NULL;

  if (opts->network_allow->len == 0)
    return TRUE;

  policy = csb_net_policy_new ();
  for (guint i = 0; i < opts->network_allow->len; i++)
    {
      const char *pattern = g_ptr_array_index (opts->network_allow, i);

      if (g_str_equal (pattern, "@default"))
        {
          g_auto(GStrv) defaults = settings ?
            g_settings_get_strv (settings, "network-allow-default") : g_new0 (char *, 1);

          if (!add_patterns (policy, TRUE, (const char * const *) defaults, error))
            return FALSE;
        }
      else if (!csb_net_policy_add_allow (policy, pattern, error))
        return FALSE;
    }
  if (settings != NULL)
    {
      g_autoptr(GVariant) projects = g_settings_get_value (settings, "project-network-allow");
      g_autofree const char **extra = NULL;

      if (g_variant_lookup (projects, self->spec->project_dir, "^a&s", &extra) &&
          !add_patterns (policy, TRUE, extra, error))
        return FALSE;
    }
  for (guint i = 0; i < opts->network_deny->len; i++)
    if (!csb_net_policy_add_deny (policy, g_ptr_array_index (opts->network_deny, i), error))
      return FALSE;

  {
    g_autofree char *dir = g_build_filename (self->spec->runtime_dir, "net", NULL);
    int dir_fd = csb_file_open_private_dir (self->spec->runtime_dir, "net", TRUE, error);

    if (dir_fd < 0)
      return FALSE;
    close (dir_fd);
    socket_path = g_build_filename (dir, "proxy.sock", NULL);
  }
  self->net_proxy = csb_net_proxy_new (policy);
  if (!csb_net_proxy_listen_unix (self->net_proxy, socket_path, error))
    return FALSE;
  g_signal_connect (self->net_proxy, "denied", G_CALLBACK (on_network_denied), self);
  self->spec->net_proxy_socket = g_steal_pointer (&socket_path);
  update_network_allow (self);
  return TRUE;
}

static void
on_prepared (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(CsbSandbox) self = user_data;
  Prepared *prepared;
  g_autoptr(GError) record_error = NULL;

  csb_trace ("prepare: back in the main loop");
  prepared = g_task_propagate_pointer (G_TASK (result), &self->start_error);
  if (prepared == NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->start_task);

      /* Nothing was created: the folder was refused before anything was made. */
      csb_dbus_sandbox_set_state (CSB_DBUS_SANDBOX (self), "failed");
      g_task_return_error (task, g_steal_pointer (&self->start_error));
      return;
    }
  g_free (self->spec->project_dir);
  self->spec->project_dir = g_steal_pointer (&prepared->resolved);
  csb_dbus_sandbox_set_project_dir (CSB_DBUS_SANDBOX (self), self->spec->project_dir);
  self->project_fd = g_steal_fd (&prepared->project_fd);
  self->spec->guard_entries = g_steal_pointer (&prepared->guard_entries);
  self->snapshot = g_steal_pointer (&prepared->snapshot);
  report_plants (self, prepared->plants);
  prepared_free (prepared);

  if (!setup_network_filter (self, &self->start_error) ||
      !setup_stdio (self, &self->start_error))
    {
      finish_failed_start (self);
      return;
    }

  /* Recorded before anything is started: a service killed before the Launch returns
   * leaves a record, so the next one takes over (or reports) whatever runs. A
   * sandbox that could not be recorded (a full disk) is not started at all. */
  if (!write_record (self, &record_error))
    {
      self->start_error = g_error_new (CSB_ERROR, CSB_ERROR_FAILED,
                                       "%s; free some space there", record_error->message);
      close_spec_stdio (self);
      finish_failed_start (self);
      return;
    }
  csb_trace ("start: record written, backend starts");
  csb_backend_start_async (self->backend, self->spec, NULL, on_backend_started,
                           g_object_ref (self));
}

void
csb_sandbox_start_async (CsbSandbox         *self,
                         GAsyncReadyCallback callback,
                         gpointer            user_data)
{
  g_autoptr(GTask) prepare = NULL;

  g_return_if_fail (CSB_IS_SANDBOX (self));
  g_return_if_fail (self->start_task == NULL);

  self->start_task = g_task_new (self, NULL, callback, user_data);
  prepare = g_task_new (self, NULL, on_prepared, g_object_ref (self));
  g_task_set_task_data (prepare, self->spec, NULL);
  g_task_run_in_thread (prepare, prepare_thread);
}

gboolean
csb_sandbox_start_finish (CsbSandbox   *self,
                          GAsyncResult *result,
                          GError      **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- D-Bus methods ---------------------------------------------------------------- */

static gboolean
handle_stop (CsbDBusSandbox        *object,
             GDBusMethodInvocation *invocation)
{
  CsbSandbox *self = CSB_SANDBOX (object);
  guint timeout = self->spec->settings ?
    g_settings_get_uint (self->spec->settings, "stop-timeout") : 10;

  if (!csb_sandbox_is_active (self))
    {
      g_dbus_method_invocation_return_error (invocation, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                                             "sandbox %s is not running (it %s)",
                                             self->spec->id,
                                             csb_dbus_sandbox_get_state (object));
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (g_strcmp0 (csb_dbus_sandbox_get_state (object), "running") == 0)
    csb_dbus_sandbox_set_state (object, "stopping");
  csb_backend_stop (self->backend, timeout);
  csb_dbus_sandbox_complete_stop (object, g_steal_pointer (&invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
on_replayed (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL);
  g_output_stream_close (G_OUTPUT_STREAM (source), NULL, NULL);
}

/* An ended sandbox whose monitor is gone: its log, then EOF, as a live terminal
 * would have given it. */
static int
replay_log (CsbSandbox *self,
            GError    **error)
{
  g_autoptr(GOutputStream) out = NULL;
  GBytes *tail;
  int pair[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create a terminal stream: %s",
                   g_strerror (errno));
      return -1;
    }
  g_unix_set_fd_nonblocking (pair[0], TRUE, NULL);
  shutdown (pair[0], SHUT_RD);
  tail = read_log_tail (self->spec->state_dir, 1024 * 1024);
  out = g_unix_output_stream_new (pair[0], TRUE);
  g_output_stream_write_all_async (out, g_bytes_get_data (tail, NULL), g_bytes_get_size (tail),
                                   G_PRIORITY_DEFAULT, NULL, on_replayed, NULL);
  /* The bytes live as long as the write: tie them to the stream. */
  g_object_set_data_full (G_OBJECT (out), "csb-bytes", tail, (GDestroyNotify) g_bytes_unref);
  return pair[1];
}

/* Completes a method whose one out-argument is a handle: @fd (taken), or @error
 * when @fd is -1. */
static void
return_fd (GDBusMethodInvocation *invocation,
           int                    fd,
           const GError          *error)
{
  g_autoptr(GUnixFDList) fd_list = NULL;
  g_autoptr(GError) local_error = NULL;
  int handle;

  if (fd < 0)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  fd_list = g_unix_fd_list_new ();
  handle = g_unix_fd_list_append (fd_list, fd, &local_error);
  close (fd);
  if (handle < 0)
    {
      g_dbus_method_invocation_return_gerror (invocation, local_error);
      return;
    }
  g_dbus_method_invocation_return_value_with_unix_fd_list (invocation,
                                                           g_variant_new ("(h)", handle),
                                                           fd_list);
}

static gboolean
handle_open_terminal (CsbDBusSandbox        *object,
                      GDBusMethodInvocation *invocation,
                      GUnixFDList           *in_fds)
{
  CsbSandbox *self = CSB_SANDBOX (object);
  g_autoptr(GError) error = NULL;
  int fd;

  if (self->terminal != NULL)
    fd = csb_terminal_open_client (self->terminal, &error);
  else if (self->spec->stdio_is_pty && csb_backend_owns_terminal (self->backend))
    {
      fd = csb_backend_open_terminal (self->backend, &error);
      if (fd < 0 && !csb_sandbox_is_active (self))
        {
          g_clear_error (&error);
          fd = replay_log (self, &error);
        }
    }
  else
    {
      g_dbus_method_invocation_return_error (invocation, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                                             "sandbox %s has no terminal: it was started "
                                             "with the caller's stdio", self->spec->id);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  return_fd (invocation, fd, error);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* A connection to the VM's SPICE server for one channel of the caller's client. */
static gboolean
handle_open_display (CsbDBusSandbox        *object,
                     GDBusMethodInvocation *invocation,
                     GUnixFDList           *in_fds)
{
  CsbSandbox *self = CSB_SANDBOX (object);
  g_autoptr(GError) error = NULL;
  int fd;

  if (!csb_sandbox_is_active (self))
    {
      g_dbus_method_invocation_return_error (invocation, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                                             "sandbox %s is not running", self->spec->id);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  fd = csb_backend_open_display (self->backend, &error);
  return_fd (invocation, fd, error);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

#define SCREENSHOT_MAX (64 * 1024 * 1024)
#define SCREENSHOT_TIMEOUT_S 10
/* ScreenshotData's bytes travel in one D-Bus message, over ssh for a connection. */
#define SCREENSHOT_DATA_MAX (16 * 1024 * 1024)

typedef struct _Screenshot Screenshot;

/* Completes the call with the PNG, in the form its method returns it. */
typedef void (*ScreenshotReply) (Screenshot *shot,
                                 GBytes     *png);

struct _Screenshot
{
  CsbDBusSandbox        *object;
  GDBusMethodInvocation *invocation;
  ScreenshotReply        reply;
  char                  *dir;
  GSubprocess           *process;   /* the confined screenshooter (csb-screenshooter.c) */
  guint                  timeout;
  gboolean               timed_out;
};

static void
screenshot_free (Screenshot *shot)
{
  csb_rm_rf (shot->dir, NULL);
  g_free (shot->dir);
  g_clear_object (&shot->process);
  g_object_unref (shot->object);
  g_free (shot);
}

/* The PNG weston-screenshooter wrote (its only file, in a folder of ours), read like
 * anything the sandbox could have touched: opened beneath the folder without following
 * a link, a regular file of a sane size, read with a bound. NULL and @error otherwise. */
static GBytes *
screenshot_read (const char *dir_path,
                 GError    **error)
{
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, error);
  g_autofree char *data = NULL;
  const char *name;
  struct stat st;
  gsize length = 0;
  gboolean gone;
  int dir_fd, fd;

  if (dir == NULL)
    return NULL;
  while ((name = g_dir_read_name (dir)) != NULL && !g_str_has_suffix (name, ".png"))
    ;
  if (name == NULL)
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED,
                           "the private display's compositor gave no screenshot");
      return NULL;
    }
  if ((dir_fd = csb_file_open_dir_exact (dir_path, O_RDONLY, &gone)) < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot open %s", dir_path);
      return NULL;
    }
  fd = csb_open_beneath (dir_fd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  close (dir_fd);
  if (fd >= 0 && fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && st.st_size <= SCREENSHOT_MAX)
    data = csb_file_read_fd_bounded (fd, SCREENSHOT_MAX, &length);
  if (fd >= 0)
    close (fd);
  if (data == NULL)
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED,
                           "the screenshot is not a regular file of a sane size");
      return NULL;
    }
  return g_bytes_new_take (g_steal_pointer (&data), length);
}

/* Screenshot's reply: the PNG in a sealed memfd. */
static void
screenshot_reply_fd (Screenshot *shot,
                     GBytes     *png)
{
  g_autoptr(GUnixFDList) fd_list = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;
  gsize length;
  const void *data = g_bytes_get_data (png, &length);
  int fd, handle;

  fd = memfd_create ("claude-sandbox-screenshot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || write (fd, data, length) != (gssize) length || lseek (fd, 0, SEEK_SET) != 0)
    {
      g_dbus_method_invocation_return_error (shot->invocation, CSB_ERROR, CSB_ERROR_FAILED,
                                             "cannot pass the screenshot on: %s",
                                             g_strerror (errno));
      if (fd >= 0)
        close (fd);
      return;
    }
  fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  handle = g_unix_fd_list_append (fd_list, fd, &error);
  close (fd);
  if (handle < 0)
    g_dbus_method_invocation_return_gerror (shot->invocation, error);
  else
    csb_dbus_sandbox_complete_screenshot (shot->object, shot->invocation, fd_list,
                                          g_variant_new_handle (handle));
}

/* ScreenshotData's reply: the PNG's bytes, within the size one message should carry. */
static void
screenshot_reply_data (Screenshot *shot,
                       GBytes     *png)
{
  gsize length = g_bytes_get_size (png);

  if (length > SCREENSHOT_DATA_MAX)
    {
      g_dbus_method_invocation_return_error (shot->invocation, CSB_ERROR, CSB_ERROR_FAILED,
                                             "the screenshot is %" G_GSIZE_FORMAT " bytes, "
                                             "more than ScreenshotData passes (16 MiB); "
                                             "Screenshot passes it as a descriptor", length);
      return;
    }
  csb_dbus_sandbox_complete_screenshot_data (shot->object, shot->invocation,
                                             g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING,
                                                                       png, TRUE));
}

/* Ends a screenshooter that took too long (bwrap's --die-with-parent ends the client
 * in it); on_screenshooter_done() then says so. */
static gboolean
on_screenshooter_timeout (gpointer user_data)
{
  Screenshot *shot = user_data;

  shot->timeout = 0;
  shot->timed_out = TRUE;
  g_subprocess_force_exit (shot->process);
  return G_SOURCE_REMOVE;
}

static void
on_screenshooter_done (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  Screenshot *shot = user_data;
  g_autoptr(GBytes) png = NULL;
  g_autoptr(GError) error = NULL;

  g_clear_handle_id (&shot->timeout, g_source_remove);
  if (shot->timed_out)
    g_set_error (&error, CSB_ERROR, CSB_ERROR_FAILED, "the private display gave no picture "
                 "within %d s (its compositor does not answer)", SCREENSHOT_TIMEOUT_S);
  if (error != NULL ||
      !g_subprocess_wait_check_finish (G_SUBPROCESS (source), result, &error) ||
      (png = screenshot_read (shot->dir, &error)) == NULL)
    g_dbus_method_invocation_return_error (shot->invocation, CSB_ERROR, CSB_ERROR_FAILED,
                                           "cannot take a screenshot: %s", error->message);
  else
    shot->reply (shot, png);
  screenshot_free (shot);
}

/* The private display as a PNG, for Screenshot and ScreenshotData (@reply): weston's
 * screenshooter client (the compositor runs with --debug, csb-monitor-main.c) writes it
 * into a fresh folder of ours. */
static void
take_screenshot (CsbDBusSandbox        *object,
                 GDBusMethodInvocation *invocation,
                 ScreenshotReply        reply)
{
  CsbSandbox *self = CSB_SANDBOX (object);
  g_autofree char *display_dir = csb_bwrap_private_display_dir (self->spec);
  g_autofree char *socket = g_build_filename (display_dir, CSB_PRIVATE_DISPLAY_SOCKET, NULL);
  g_autofree char *template = g_build_filename (self->spec->runtime_dir, "shot-XXXXXX", NULL);
  g_autoptr(GError) error = NULL;
  struct stat st;
  Screenshot *shot;

  /* Both NotRunning, but said apart: an ended sandbox had its display all the same. */
  if (!csb_sandbox_is_active (self))
    {
      g_dbus_method_invocation_return_error (invocation, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                                             "sandbox %s is not running (it %s)",
                                             self->spec->id,
                                             csb_dbus_sandbox_get_state (object));
      return;
    }
  if (lstat (socket, &st) != 0 || !S_ISSOCK (st.st_mode))
    {
      g_dbus_method_invocation_return_error (invocation, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                                             "sandbox %s has no private display (launch it "
                                             "with the private-display option, "
                                             "claude-sandbox --display=private)",
                                             self->spec->id);
      return;
    }
  if (g_mkdtemp_full (template, 0700) == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, CSB_ERROR, CSB_ERROR_FAILED,
                                             "cannot make %s: %s", template,
                                             g_strerror (errno));
      return;
    }
  shot = g_new0 (Screenshot, 1);
  shot->object = g_object_ref (object);
  shot->invocation = invocation;
  shot->reply = reply;
  shot->dir = g_steal_pointer (&template);
  shot->process = csb_screenshooter_spawn (display_dir, socket, shot->dir, &error);
  if (shot->process == NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      screenshot_free (shot);
      return;
    }
  /* A compositor the sandbox took over could keep the client waiting, or spinning. */
  shot->timeout = g_timeout_add_seconds (SCREENSHOT_TIMEOUT_S, on_screenshooter_timeout, shot);
  g_subprocess_wait_check_async (shot->process, NULL, on_screenshooter_done, shot);
}

static gboolean
handle_screenshot (CsbDBusSandbox        *object,
                   GDBusMethodInvocation *invocation,
                   GUnixFDList           *in_fds)
{
  take_screenshot (object, invocation, screenshot_reply_fd);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_screenshot_data (CsbDBusSandbox        *object,
                        GDBusMethodInvocation *invocation)
{
  take_screenshot (object, invocation, screenshot_reply_data);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_resize_terminal (CsbDBusSandbox        *object,
                        GDBusMethodInvocation *invocation,
                        guint16                columns,
                        guint16                rows)
{
  CsbSandbox *self = CSB_SANDBOX (object);
  g_autoptr(GError) error = NULL;

  if (columns < 1 || columns > 1000 || rows < 1 || rows > 1000)
    {
      g_dbus_method_invocation_return_error (invocation, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                                             "terminal size %u×%u is out of range (1–1000 "
                                             "columns and rows)", columns, rows);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (self->terminal == NULL && !self->spec->stdio_is_pty)
    {
      g_dbus_method_invocation_return_error (invocation, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                                             "sandbox %s has no terminal: it was started "
                                             "with the caller's stdio", self->spec->id);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (self->terminal != NULL ? !csb_terminal_resize (self->terminal, columns, rows, &error)
                             : !csb_backend_resize_terminal (self->backend, columns, rows,
                                                             &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (self->terminal != NULL)
    csb_backend_terminal_resized (self->backend, columns, rows);
  csb_dbus_sandbox_complete_resize_terminal (object, g_steal_pointer (&invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_remove (CsbDBusSandbox        *object,
               GDBusMethodInvocation *invocation)
{
  CsbSandbox *self = CSB_SANDBOX (object);

  if (csb_sandbox_is_active (self))
    {
      g_dbus_method_invocation_return_error (invocation, CSB_ERROR, CSB_ERROR_FAILED,
                                             "sandbox %s is still %s; stop it first",
                                             self->spec->id,
                                             csb_dbus_sandbox_get_state (object));
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (self->spec->options->review)
    {
      review_run (self, REVIEW_REMOVE, NULL, NULL, invocation);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  csb_dbus_sandbox_complete_remove (object, g_steal_pointer (&invocation));
  g_signal_emit (self, signals[SIGNAL_REMOVE_REQUESTED], 0);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_allow_host (CsbDBusSandbox        *object,
                   GDBusMethodInvocation *invocation,
                   const char            *pattern)
{
  CsbSandbox *self = CSB_SANDBOX (object);
  g_autoptr(GError) error = NULL;

  if (self->net_proxy == NULL || !csb_sandbox_is_active (self))
    {
      g_dbus_method_invocation_return_error (invocation, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                                             "sandbox %s has no filtered network running "
                                             "(launch it with the network-allow option)",
                                             self->spec->id);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (!csb_net_policy_add_allow (csb_net_proxy_get_policy (self->net_proxy), pattern, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  g_message ("sandbox %s: network allowed for %s", self->spec->id, pattern);
  update_network_allow (self);
  csb_dbus_sandbox_complete_allow_host (object, g_steal_pointer (&invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
csb_sandbox_iface_init (CsbDBusSandboxIface *iface)
{
  iface->handle_allow_host = handle_allow_host;
  iface->handle_stop = handle_stop;
  iface->handle_open_terminal = handle_open_terminal;
  iface->handle_resize_terminal = handle_resize_terminal;
  iface->handle_screenshot = handle_screenshot;
  iface->handle_screenshot_data = handle_screenshot_data;
  iface->handle_get_metrics = handle_get_metrics;
  iface->handle_open_display = handle_open_display;
  iface->handle_remove = handle_remove;
  iface->handle_get_changes = handle_get_changes;
  iface->handle_get_diff = handle_get_diff;
  iface->handle_get_diff_data = handle_get_diff_data;
  iface->handle_apply_changes = handle_apply_changes;
  iface->handle_discard_changes = handle_discard_changes;
}

/* ---- object ------------------------------------------------------------------------ */

static void
csb_sandbox_dispose (GObject *object)
{
  CsbSandbox *self = CSB_SANDBOX (object);

  g_clear_handle_id (&self->drain_timeout_id, g_source_remove);
  g_clear_handle_id (&self->scan_id, g_source_remove);
  g_clear_handle_id (&self->review_id, g_source_remove);
  if (self->backend != NULL)
    g_signal_handlers_disconnect_by_data (self->backend, self);
  if (self->terminal != NULL)
    g_clear_signal_handler (&self->terminal_closed_id, self->terminal);
  g_clear_object (&self->backend);
  g_clear_object (&self->terminal);
  if (self->net_proxy != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->net_proxy, self);
      csb_net_proxy_stop (self->net_proxy);
      g_clear_object (&self->net_proxy);
    }
  G_OBJECT_CLASS (csb_sandbox_parent_class)->dispose (object);
}

static void
csb_sandbox_finalize (GObject *object)
{
  CsbSandbox *self = CSB_SANDBOX (object);

  g_clear_pointer (&self->spec, csb_sandbox_spec_free);
  g_clear_error (&self->start_error);
  if (self->project_fd >= 0)
    close (self->project_fd);
  g_clear_pointer (&self->snapshot, g_hash_table_unref);
  g_clear_pointer (&self->plants, g_ptr_array_unref);
  g_free (self->pending_error);
  g_clear_pointer (&self->claude_usage, csb_claude_usage_free);
  g_mutex_clear (&self->metrics_lock);
  G_OBJECT_CLASS (csb_sandbox_parent_class)->finalize (object);
}

static void
csb_sandbox_class_init (CsbSandboxClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = csb_sandbox_dispose;
  object_class->finalize = csb_sandbox_finalize;

  /* Remove() was called on an ended sandbox; its owner drops it from the bus. */
  signals[SIGNAL_REMOVE_REQUESTED] =
    g_signal_new ("remove-requested", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
csb_sandbox_init (CsbSandbox *self)
{
  self->project_fd = -1;
  self->pending_status = -1;
  self->plants = g_ptr_array_new_with_free_func ((GDestroyNotify) csb_plant_free);
  self->claude_usage = csb_claude_usage_new ();
  g_mutex_init (&self->metrics_lock);
}

/* Takes @spec and @backend. */
CsbSandbox *
csb_sandbox_new (CsbSandboxSpec *spec,
                 CsbBackend     *backend)
{
  CsbSandbox *self;
  CsbDBusSandbox *dbus;
  g_autofree char *name = NULL;

  g_return_val_if_fail (spec != NULL, NULL);
  g_return_val_if_fail (CSB_IS_BACKEND (backend), NULL);

  self = g_object_new (CSB_TYPE_SANDBOX, NULL);
  self->spec = spec;
  self->backend = backend;
  g_signal_connect (backend, "exited", G_CALLBACK (on_backend_exited), self);

  dbus = CSB_DBUS_SANDBOX (self);
  name = spec->options->name ? g_strdup (spec->options->name)
                             : g_path_get_basename (spec->project_dir);
  csb_dbus_sandbox_set_interface_version (dbus, CSB_SANDBOX_INTERFACE_VERSION);
  csb_dbus_sandbox_set_id (dbus, spec->id);
  csb_dbus_sandbox_set_name (dbus, name);
  csb_dbus_sandbox_set_backend (dbus, csb_backend_get_name (backend));
  csb_dbus_sandbox_set_project_dir (dbus, spec->project_dir);
  csb_dbus_sandbox_set_command (dbus, (const char * const *) spec->command);
  csb_dbus_sandbox_set_state (dbus, "starting");
  csb_dbus_sandbox_set_exit_status (dbus, -1);
  csb_dbus_sandbox_set_pid (dbus, 0);
  csb_dbus_sandbox_set_started_at (dbus, g_get_real_time ());
  csb_dbus_sandbox_set_network (dbus, spec->options->network);
  csb_dbus_sandbox_set_gh_token (dbus, spec->options->gh_token);
  csb_dbus_sandbox_set_display (dbus, "");
  csb_dbus_sandbox_set_error (dbus, "");
  csb_dbus_sandbox_set_network_allow (dbus, NULL);
  csb_dbus_sandbox_set_denied_connections (dbus, 0);
  csb_dbus_sandbox_set_plants (dbus, plants_to_variant (NULL, 0));
  csb_dbus_sandbox_set_project_mode (dbus, spec->options->review ? "review" : "direct");
  csb_dbus_sandbox_set_pending_changes (dbus, 0);
  return self;
}

static char **
strv_member (JsonObject *object,
             const char *name)
{
  GStrvBuilder *builder = g_strv_builder_new ();
  JsonArray *array = json_object_has_member (object, name) ?
    json_object_get_array_member (object, name) : NULL;
  char **result;

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      const char *value = json_node_get_string (json_array_get_element (array, i));
      if (value != NULL)
        g_strv_builder_add (builder, value);
    }
  result = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return result;
}

/* The record a previous service left in @state_dir (held by @parser), its id,
 * backend and folder there; NULL and an error otherwise. */
static JsonObject *
load_record (JsonParser  *parser,
             const char  *state_dir,
             GError     **error)
{
  g_autofree char *path = g_build_filename (state_dir, RECORD_NAME, NULL);
  JsonObject *record;

  if (!json_parser_load_from_mapped_file (parser, path, error))
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "%s is not a sandbox record", path);
      return NULL;
    }
  record = json_node_get_object (json_parser_get_root (parser));
  if (json_object_get_string_member_with_default (record, "id", NULL) == NULL ||
      json_object_get_string_member_with_default (record, "backend", NULL) == NULL ||
      json_object_get_string_member_with_default (record, "project-dir", NULL) == NULL)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "%s lacks id, backend or folder", path);
      return NULL;
    }
  return record;
}

/* The spec the sandbox of @record was launched with, as far as adopting it needs. */
static CsbSandboxSpec *
spec_from_record (JsonObject *record,
                  const char *state_dir,
                  GSettings  *settings)
{
  const char *id = json_object_get_string_member (record, "id");
  g_autoptr(CsbSandboxSpec) spec = csb_sandbox_spec_new ();
  g_auto(GStrv) allow = strv_member (record, "network-allow");
  g_auto(GStrv) deny = strv_member (record, "network-deny");

  spec->id = g_strdup (id);
  spec->project_dir = g_strdup (json_object_get_string_member (record, "project-dir"));
  spec->command = strv_member (record, "command");
  spec->options = csb_launch_options_new (settings);
  spec->options->network = json_object_get_boolean_member_with_default (record, "network", FALSE);
  spec->options->gh_token = json_object_get_boolean_member_with_default (record, "gh-token", FALSE);
  spec->options->name = g_strdup (json_object_get_string_member_with_default (record, "name", id));
  for (guint i = 0; allow[i] != NULL; i++)
    g_ptr_array_add (spec->options->network_allow, g_strdup (allow[i]));
  for (guint i = 0; deny[i] != NULL; i++)
    g_ptr_array_add (spec->options->network_deny, g_strdup (deny[i]));
  spec->state_dir = g_strdup (state_dir);
  spec->runtime_dir = g_build_filename (g_get_user_runtime_dir (), "claude-sandbox", id, NULL);
  spec->environ = g_get_environ ();
  spec->settings = settings ? g_object_ref (settings) : NULL;
  spec->stdio_is_pty = json_object_get_boolean_member_with_default (record, "pty", FALSE);
  spec->options->review = g_strcmp0 (json_object_get_string_member_with_default (record,
                                                                                 "project-mode",
                                                                                 "direct"),
                                     "review") == 0;
  return g_steal_pointer (&spec);
}

/* The properties the previous service showed, from @record. */
static void
restore_properties (CsbSandbox         *self,
                    JsonObject         *record,
                    const char * const *protections)
{
  csb_dbus_sandbox_set_display (CSB_DBUS_SANDBOX (self),
                                json_object_get_string_member_with_default (record, "display",
                                                                            ""));
  csb_dbus_sandbox_set_started_at (CSB_DBUS_SANDBOX (self),
                                   json_object_get_int_member_with_default (record, "started-at",
                                                                            0));
  csb_dbus_sandbox_set_pid (CSB_DBUS_SANDBOX (self),
                            json_object_get_int_member_with_default (record, "pid", 0));
  csb_dbus_sandbox_set_protections (CSB_DBUS_SANDBOX (self), protections);
}

/* What the previous service watched for the running sandbox, watched again: its
 * network filter, the plants in its project (from the snapshot it left), its review. */
static void
resume_watching (CsbSandbox *self,
                 const char *state_dir)
{
  if (self->spec->options->network_allow->len > 0)
    {
      g_autoptr(GError) net_error = NULL;

      /* The proxy died with the old service; the sandbox sees the new one at the
       * same path (its folder, not the socket, is bound in). */
      if (!setup_network_filter (self, &net_error))
        g_warning ("sandbox %s: its network filter cannot be restored: %s", self->spec->id,
                   net_error->message);
    }
  csb_dbus_sandbox_set_state (CSB_DBUS_SANDBOX (self), "running");
  /* Plants are counted from the start, with the snapshot the previous service left. */
  self->project_fd = open (self->spec->project_dir,
                           O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (self->project_fd >= 0)
    {
      g_autoptr(GTask) task = g_task_new (self, NULL, on_adopted_snapshot, NULL);
      AdoptedSnapshot *data = g_new0 (AdoptedSnapshot, 1);

      data->project_fd = self->project_fd;
      data->path = g_build_filename (state_dir, SNAPSHOT_NAME, NULL);
      g_task_set_task_data (task, data, (GDestroyNotify) adopted_snapshot_free);
      g_task_run_in_thread (task, snapshot_thread);
    }
  if (self->spec->options->review)
    review_count (self);
}

/* A sandbox a previous service started, from the record in @state_dir; NULL (and
 * nothing changed) if the record is not one this service can take over. */
CsbSandbox *
csb_sandbox_adopt (const char *state_dir,
                   GSettings  *settings,
                   GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(CsbSandboxSpec) spec = NULL;
  g_autoptr(CsbBackend) backend = NULL;
  g_autoptr(CsbTerminal) terminal = NULL;
  g_auto(GStrv) protections = NULL;
  CsbSandbox *self;
  JsonObject *record;

  if ((record = load_record (parser, state_dir, error)) == NULL)
    return NULL;
  if ((backend = csb_backend_new (json_object_get_string_member (record, "backend"),
                                  error)) == NULL)
    return NULL;
  spec = spec_from_record (record, state_dir, settings);
  {
    g_auto(GStrv) recorded = strv_member (record, "protections");

    /* An older service's record: its names as they are called now. */
    protections = csb_protections_dup_current ((const char * const *) recorded);
  }
  /* A backend that holds no terminal of its own (a VM, its console bridged to our
   * pty) lost it with the previous service: a fresh one, its history the log of
   * the old. The backend takes its copies of the other end in adopt(). */
  if (spec->stdio_is_pty && !csb_backend_owns_terminal (backend))
    {
      g_autoptr(GBytes) history = read_log_tail (state_dir, 1024 * 1024);

      if (!open_terminal (spec, &terminal, error))
        return NULL;
      csb_terminal_preload_history (terminal, history);
    }

  if (!csb_backend_adopt (backend, spec, (const char * const *) protections, error))
    return NULL;

  self = csb_sandbox_new (g_steal_pointer (&spec), g_steal_pointer (&backend));
  self->terminal = g_steal_pointer (&terminal);
  close_spec_stdio (self);
  restore_properties (self, record, (const char * const *) protections);
  resume_watching (self, state_dir);
  g_message ("sandbox %s taken over (pid %u) on %s", self->spec->id,
             csb_dbus_sandbox_get_pid (CSB_DBUS_SANDBOX (self)), self->spec->project_dir);
  return self;
}
