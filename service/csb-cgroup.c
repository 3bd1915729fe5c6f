/* csb-cgroup.c
 *
 * A fork bomb or a runaway build inside a sandbox must not starve the user: each
 * bwrap sandbox gets a cgroup of its own, csb-<id>, with pids.max and a memory limit
 * (settings sandbox-pids-max, sandbox-memory-max-mib). Its first process joins it
 * before exec (the monitor writes to cgroup.procs in the forked child), so nothing
 * the sandbox starts is ever outside it.
 *
 * Where the cgroups go:
 * - cgroup v2 (a desktop with systemd): the user unit has Delegate=yes, so the unit's
 *   cgroup is ours. v2 allows no processes in a cgroup whose controllers are enabled
 *   for its children, so the service lives in the leaf <unit>/service (systemd ≥ 254
 *   starts it there, DelegateSubgroup=service; older ones start it in <unit> and it
 *   moves itself), its monitors with it, and the sandboxes in <unit>/csb-<id>.
 *   Older systemd attaches a restarted service to <unit> itself, which v2 refuses
 *   while the controllers are on: the unit's ExecStartPre runs us with
 *   --release-cgroup first, which switches them off, and the new service switches
 *   them on again and gives every running sandbox its limits back.
 * - cgroup v1 (the pids and memory hierarchies of a legacy or hybrid layout): only
 *   where they are writable, i.e. for root; v1 has no rule against inner processes.
 * - Nowhere else: a service D-Bus activated without its systemd unit (no delegation)
 *   or an unprivileged user on v1 gets no limits, says so once in its log and in each
 *   sandbox's Protections ("no-resource-limits").
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-cgroup.h"
#include "csb-protections.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define UNIT_NAME "claude-sandbox.service"
#define LEAF_NAME "service"
#define SANDBOX_PREFIX "csb-"

typedef struct
{
  char *v2_base;       /* cgroup v2: the folder csb-<id> go in */
  gboolean v2_pids;    /* ... with these controllers on for them */
  gboolean v2_memory;
  char *pids_base;     /* cgroup v1 */
  char *memory_base;
  char *own_procs;     /* the service's own cgroup.procs in one of them (warm-up) */
  char *why_not;       /* where there is neither: why */
} Bases;

static Bases bases;
static gsize bases_once;
static GMutex lock;

static gboolean
write_file (const char *path,
            const char *text,
            GError    **error)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  gssize len = strlen (text);

  if (fd < 0 || write (fd, text, len) != len)
    {
      int saved = errno;

      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot write '%s' to %s: %s",
                   g_strstrip (g_strdup (text)), path, g_strerror (saved));
      return FALSE;
    }
  close (fd);
  return TRUE;
}

static gboolean
file_has_word (const char *path,
               const char *word)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) words = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  words = g_strsplit_set (g_strstrip (text), " \n", -1);
  return g_strv_contains ((const char * const *) words, word);
}

static gboolean
writable (const char *dir)
{
  g_autofree char *procs = g_build_filename (dir, "cgroup.procs", NULL);

  return access (dir, W_OK | X_OK) == 0 && access (procs, W_OK) == 0;
}

/* The service's cgroup v2 path ("0::PATH"), or NULL. */
static char *
own_v2_path (void)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents ("/proc/self/cgroup", &text, NULL, NULL))
    return NULL;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "0::"))
      return g_strdup (lines[i] + 3);
  return NULL;
}

/* Moves every process of @from into @to (the service and monitors of before). */
static gboolean
move_processes (const char *from,
                const char *to,
                GError    **error)
{
  g_autofree char *from_procs = g_build_filename (from, "cgroup.procs", NULL);
  g_autofree char *to_procs = g_build_filename (to, "cgroup.procs", NULL);
  g_autofree char *text = NULL;
  g_auto(GStrv) pids = NULL;
  g_autofree char *self = g_strdup_printf ("%d", (int) getpid ());

  /* Ourselves first: without that nothing below can work. */
  if (!write_file (to_procs, self, error) ||
      !g_file_get_contents (from_procs, &text, NULL, error))
    return FALSE;
  pids = g_strsplit (text, "\n", -1);
  for (guint i = 0; pids[i] != NULL; i++)
    {
      g_autoptr(GError) local_error = NULL;

      if (*pids[i] != '\0' && !write_file (to_procs, pids[i], &local_error))
        g_message ("cgroups: %s", local_error->message);
    }
  return TRUE;
}

/* cgroup v2: the unit's cgroup, with the service in its leaf and the controllers on. */
static char *
find_v2 (char **why_not)
{
  g_autofree char *path = own_v2_path ();
  g_autofree char *name = NULL;
  g_autofree char *parent = NULL;
  g_autofree char *parent_name = NULL;
  g_autofree char *base = NULL;
  g_autofree char *controllers = NULL;
  g_autofree char *subtree = NULL;
  g_autoptr(GError) error = NULL;
  gboolean in_leaf;

  if (!g_file_test (CGROUP_ROOT "/cgroup.controllers", G_FILE_TEST_EXISTS) || path == NULL)
    {
      *why_not = g_strdup ("no cgroup v2 hierarchy with controllers");
      return NULL;
    }
  name = g_path_get_basename (path);
  parent = g_path_get_dirname (path);
  parent_name = g_path_get_basename (parent);
  in_leaf = g_str_equal (name, LEAF_NAME) && g_str_equal (parent_name, UNIT_NAME);
  if (!in_leaf && !g_str_equal (name, UNIT_NAME))
    {
      *why_not = g_strdup_printf ("the service runs in cgroup %s, not in its systemd unit "
                                  "(" UNIT_NAME ", which has Delegate=yes)", path);
      return NULL;
    }
  base = g_build_filename (CGROUP_ROOT, in_leaf ? parent : path, NULL);
  controllers = g_build_filename (base, "cgroup.controllers", NULL);
  subtree = g_build_filename (base, "cgroup.subtree_control", NULL);
  bases.v2_pids = file_has_word (controllers, "pids");
  bases.v2_memory = file_has_word (controllers, "memory");
  if (!bases.v2_pids && !bases.v2_memory)
    {
      *why_not = g_strdup_printf ("neither the pids nor the memory controller is delegated "
                                  "to %s", base);
      return NULL;
    }
  if (!writable (base) || access (subtree, W_OK) != 0)
    {
      *why_not = g_strdup_printf ("cgroup %s is not ours (no Delegate=yes)", base);
      return NULL;
    }
  if (!in_leaf)
    {
      g_autofree char *leaf = g_build_filename (base, LEAF_NAME, NULL);

      if ((mkdir (leaf, 0755) != 0 && errno != EEXIST) || !move_processes (base, leaf, &error))
        {
          *why_not = g_strdup_printf ("cannot move the service into %s: %s", leaf,
                                      error ? error->message : g_strerror (errno));
          return NULL;
        }
    }
  if (((bases.v2_pids && !file_has_word (subtree, "pids")) ||
       (bases.v2_memory && !file_has_word (subtree, "memory"))) &&
      !write_file (subtree, bases.v2_pids && bases.v2_memory ? "+pids +memory"
                            : bases.v2_pids ? "+pids" : "+memory", &error))
    {
      *why_not = g_strdup (error->message);
      return NULL;
    }
  return g_steal_pointer (&base);
}

/* cgroup v1: the service's cgroup in the @controller hierarchy, if writable. */
static char *
find_v1 (const char *controller)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents ("/proc/self/cgroup", &text, NULL, NULL))
    return NULL;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) fields = g_strsplit (lines[i], ":", 3);
      g_auto(GStrv) names = NULL;
      g_autofree char *dir = NULL;

      if (g_strv_length (fields) != 3 || *fields[1] == '\0')
        continue;
      names = g_strsplit (fields[1], ",", -1);
      if (!g_strv_contains ((const char * const *) names, controller))
        continue;
      dir = g_build_filename (CGROUP_ROOT, fields[1], fields[2], NULL);
      return writable (dir) ? g_steal_pointer (&dir) : NULL;
    }
  return NULL;
}

guint
csb_cgroup_pids_max (GSettings *settings)
{
  return settings ? g_settings_get_uint (settings, "sandbox-pids-max") : 4096;
}

guint64
csb_cgroup_memory_max (GSettings *settings)
{
  guint mib = settings ? g_settings_get_uint (settings, "sandbox-memory-max-mib") : 0;
  long pages = sysconf (_SC_PHYS_PAGES);
  long page_size = sysconf (_SC_PAGESIZE);

  if (mib > 0)
    return (guint64) mib * 1024 * 1024;
  /* Half of the machine's memory: enough for any build, and the rest for the user. */
  if (pages > 0 && page_size > 0)
    return (guint64) pages * page_size / 2;
  return G_GUINT64_CONSTANT (8) * 1024 * 1024 * 1024;
}

/* Writes the limits into the sandbox cgroup(s) @v2, @pids_dir, @memory_dir (each
 * nullable); which of them hold. */
static void
apply_limits (const char *v2,
              const char *pids_dir,
              const char *memory_dir,
              GSettings  *settings,
              gboolean   *out_pids,
              gboolean   *out_memory)
{
  guint pids = csb_cgroup_pids_max (settings);
  g_autofree char *pids_text = pids > 0 ? g_strdup_printf ("%u", pids) : g_strdup ("max");
  g_autofree char *memory_text = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                                  csb_cgroup_memory_max (settings));
  g_autoptr(GError) error = NULL;
  g_autofree char *pids_file = NULL;
  g_autofree char *memory_file = NULL;

  if ((v2 != NULL && bases.v2_pids) || pids_dir != NULL)
    pids_file = g_build_filename (v2 ? v2 : pids_dir, "pids.max", NULL);
  if ((v2 != NULL && bases.v2_memory) || memory_dir != NULL)
    memory_file = g_build_filename (v2 ? v2 : memory_dir,
                                    v2 ? "memory.max" : "memory.limit_in_bytes", NULL);
  *out_pids = pids_file != NULL && write_file (pids_file, pids_text, &error) && pids > 0;
  if (error != NULL)
    g_message ("cgroups: %s", error->message);
  g_clear_error (&error);
  *out_memory = memory_file != NULL && write_file (memory_file, memory_text, &error);
  if (error != NULL)
    g_message ("cgroups: %s", error->message);
}

static void
reapply_all (const char *dir,
             GSettings  *settings)
{
  g_autoptr(GDir) listing = dir ? g_dir_open (dir, 0, NULL) : NULL;
  const char *name;

  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    if (g_str_has_prefix (name, SANDBOX_PREFIX))
      {
        g_autofree char *path = g_build_filename (dir, name, NULL);
        gboolean p, m;

        apply_limits (path, NULL, NULL, settings, &p, &m);
      }
}

static void
find_bases (GSettings *settings)
{
  g_autofree char *why_v2 = NULL;

  bases.v2_base = find_v2 (&why_v2);
  if (bases.v2_base != NULL)
    {
      /* find_v2 has put the service in its leaf. */
      bases.own_procs = g_build_filename (bases.v2_base, LEAF_NAME, "cgroup.procs", NULL);
      reapply_all (bases.v2_base, settings);
      return;
    }
  /* v1 never loses a limit, and its bases may be shared with other services (root's
   * cgroup): no re-applying there. */
  bases.pids_base = find_v1 ("pids");
  bases.memory_base = find_v1 ("memory");
  /* find_v1 gives the service's own cgroup of each hierarchy. */
  if (bases.pids_base != NULL || bases.memory_base != NULL)
    bases.own_procs = g_build_filename (bases.pids_base ? bases.pids_base : bases.memory_base,
                                        "cgroup.procs", NULL);
  if (bases.pids_base == NULL && bases.memory_base == NULL)
    bases.why_not = g_strdup_printf ("%s, and cgroup v1 has no pids or memory hierarchy "
                                     "the service may write", why_v2);
}

void
csb_cgroup_init (GSettings *settings)
{
  if (g_once_init_enter (&bases_once))
    {
      find_bases (settings);
      if (bases.why_not != NULL)
        g_message ("sandboxes get no pids or memory limits: %s", bases.why_not);
      g_once_init_leave (&bases_once, 1);
    }
}

/* --release-cgroup, run by the unit's ExecStartPre in <unit>/.control: the
 * controllers off below the unit, so that systemd before 254 can start the service
 * in the unit's cgroup (see above). The service switches them on again. */
gboolean
csb_cgroup_release (GError **error)
{
  g_autofree char *path = own_v2_path ();
  g_autofree char *unit = path ? g_path_get_dirname (path) : NULL;
  g_autofree char *unit_name = unit ? g_path_get_basename (unit) : NULL;
  g_autofree char *subtree = NULL;

  if (unit_name == NULL || !g_str_equal (unit_name, UNIT_NAME))
    return TRUE;   /* not under the unit: nothing of ours to release */
  subtree = g_build_filename (CGROUP_ROOT, unit, "cgroup.subtree_control", NULL);
  if (!file_has_word (subtree, "pids") && !file_has_word (subtree, "memory"))
    return TRUE;
  return write_file (subtree, "-pids -memory", error);
}

static char *
sandbox_dir (const char *base,
             const char *id)
{
  g_autofree char *name = g_strconcat (SANDBOX_PREFIX, id, NULL);

  return base != NULL ? g_build_filename (base, name, NULL) : NULL;
}

GStrv
csb_cgroup_create_sandbox (const char *id,
                           GSettings  *settings,
                           GPtrArray  *protections)
{
  g_autoptr(GStrvBuilder) join = g_strv_builder_new ();
  g_autofree char *v2 = NULL;
  g_autofree char *pids_dir = NULL;
  g_autofree char *memory_dir = NULL;
  gboolean pids = FALSE, memory = FALSE;

  csb_cgroup_init (settings);
  g_mutex_lock (&lock);
  v2 = sandbox_dir (bases.v2_base, id);
  pids_dir = sandbox_dir (bases.pids_base, id);
  memory_dir = sandbox_dir (bases.memory_base, id);
  if (v2 != NULL && mkdir (v2, 0755) != 0 && errno != EEXIST)
    g_clear_pointer (&v2, g_free);
  if (pids_dir != NULL && mkdir (pids_dir, 0755) != 0 && errno != EEXIST)
    g_clear_pointer (&pids_dir, g_free);
  if (memory_dir != NULL && mkdir (memory_dir, 0755) != 0 && errno != EEXIST)
    g_clear_pointer (&memory_dir, g_free);
  apply_limits (v2, pids_dir, memory_dir, settings, &pids, &memory);
  g_mutex_unlock (&lock);

  /* A cgroup without its limit is still joined: it is the sandbox's, and Stop and
   * the clean-up know it by name. */
  if (v2 != NULL)
    g_strv_builder_add (join, v2);
  if (pids_dir != NULL)
    g_strv_builder_add (join, pids_dir);
  if (memory_dir != NULL)
    g_strv_builder_add (join, memory_dir);
  if (pids)
    csb_protections_add (protections, "pids-limit");
  if (memory)
    csb_protections_add (protections, "memory-limit");
  if (!pids && !memory)
    csb_protections_add (protections, "no-resource-limits");
  return g_strv_builder_end (join);
}

/* The warm-up's state: launches between csb_cgroup_warm_up and csb_cgroup_warm_up_end,
 * and how long at most the thread keeps going without an end. */
#define WARM_UP_INTERVAL_US 2000
#define WARM_UP_DENSE_INTERVAL_US 500
#define WARM_UP_DENSE_US (30 * 1000)
#define WARM_UP_MAX_US (2 * G_USEC_PER_SEC)
static GMutex warm_lock;
static GCond warm_cond;
static guint warm_pending;
static gint64 warm_until;
static gint64 warm_dense_until;
static gboolean warm_running;

/* Moves the service into its own cgroup again every 2 ms while launches are under
 * way, every 0.5 ms while a join is about to come: the kernel's fast path stays on
 * (it goes off a grace period after the last writer, 1.5-5 ms on an idle machine),
 * whenever the joins come. */
static gpointer
warm_up_thread (gpointer data)
{
  g_autofree char *self = g_strdup_printf ("%d", (int) getpid ());

  g_mutex_lock (&warm_lock);
  while (warm_pending > 0 && g_get_monotonic_time () < warm_until)
    {
      g_autoptr(GError) error = NULL;
      gint64 now;

      g_mutex_unlock (&warm_lock);
      if (!write_file (bases.own_procs, self, &error))
        g_debug ("cgroups: warm-up: %s", error->message);
      g_mutex_lock (&warm_lock);
      if (error != NULL)
        break;
      now = g_get_monotonic_time ();
      g_cond_wait_until (&warm_cond, &warm_lock,
                         now + (now < warm_dense_until ? WARM_UP_DENSE_INTERVAL_US
                                                       : WARM_UP_INTERVAL_US));
    }
  warm_running = FALSE;
  g_mutex_unlock (&warm_lock);
  return NULL;
}

gboolean
csb_cgroup_warm_up (void)
{
  csb_cgroup_init (NULL);
  if (bases.own_procs == NULL)
    return FALSE;
  g_mutex_lock (&warm_lock);
  warm_pending++;
  warm_until = g_get_monotonic_time () + WARM_UP_MAX_US;
  if (!warm_running)
    {
      GThread *thread = g_thread_try_new ("csb-cgroup-warm-up", warm_up_thread, NULL, NULL);

      warm_running = thread != NULL;
      if (thread != NULL)
        g_thread_unref (thread);
    }
  g_mutex_unlock (&warm_lock);
  return TRUE;
}

void
csb_cgroup_warm_up_join_soon (void)
{
  g_mutex_lock (&warm_lock);
  warm_dense_until = g_get_monotonic_time () + WARM_UP_DENSE_US;
  g_cond_signal (&warm_cond);
  g_mutex_unlock (&warm_lock);
}

void
csb_cgroup_warm_up_end (void)
{
  g_mutex_lock (&warm_lock);
  if (warm_pending > 0)
    warm_pending--;
  g_cond_signal (&warm_cond);
  g_mutex_unlock (&warm_lock);
}

void
csb_cgroup_remove_sandbox (const char *id)
{
  const char *all[3];

  csb_cgroup_init (NULL);
  all[0] = bases.v2_base;
  all[1] = bases.pids_base;
  all[2] = bases.memory_base;
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    {
      g_autofree char *dir = sandbox_dir (all[i], id);

      gulong waited_us = 0, step_us = 500;

      /* A monitor that was killed took bwrap with it (--die-with-parent), but the
       * kernel may still be tearing the sandbox down: give it two seconds. Even after
       * a clean exit the last task leaves its cgroup a moment after its parent has
       * reaped it (this kernel unlinks it once it has switched out), so the first
       * tries come quickly (the service runs this after Exited, in a thread). */
      while (dir != NULL && rmdir (dir) != 0 && errno == EBUSY &&
             waited_us < 2 * G_USEC_PER_SEC)
        {
          g_usleep (step_us);
          waited_us += step_us;
          step_us = MIN (step_us * 2, 100 * 1000);
        }
    }
}

static gpointer
remove_sandbox_thread (gpointer data)
{
  g_autofree char *id = data;

  csb_cgroup_remove_sandbox (id);
  return NULL;
}

void
csb_cgroup_remove_sandbox_later (const char *id)
{
  g_thread_unref (g_thread_new ("csb-cgroup-remove", remove_sandbox_thread, g_strdup (id)));
}

/* The first number of @name in @dir (a one-value file, or "KEY VALUE" lines with @key). */
static gboolean
read_number (const char *dir,
             const char *name,
             const char *key,
             guint64    *out)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  if (key == NULL)
    return g_ascii_string_to_unsigned (g_strstrip (text), 10, 0, G_MAXUINT64, out, NULL);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], key) && lines[i][strlen (key)] == ' ')
      return g_ascii_string_to_unsigned (lines[i] + strlen (key) + 1, 10, 0, G_MAXUINT64, out,
                                         NULL);
  return FALSE;
}

gboolean
csb_cgroup_read_usage (const char *id,
                       guint64    *cpu_us,
                       guint64    *memory_bytes,
                       guint      *processes)
{
  g_autofree char *dir = NULL;
  guint64 pids;

  csb_cgroup_init (NULL);
  dir = sandbox_dir (bases.v2_base, id);
  if (dir == NULL || !read_number (dir, "cpu.stat", "usage_usec", cpu_us))
    return FALSE;
  if (!bases.v2_memory || !read_number (dir, "memory.current", NULL, memory_bytes))
    *memory_bytes = G_MAXUINT64;
  if (!bases.v2_pids || !read_number (dir, "pids.current", NULL, &pids))
    pids = G_MAXUINT;
  *processes = MIN (pids, G_MAXUINT);
  return TRUE;
}
