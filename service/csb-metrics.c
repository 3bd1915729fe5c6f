/* csb-metrics.c
 *
 * A sandbox's CPU time, memory and processes come from its cgroup where the service
 * has one for it (csb-cgroup.c), else from /proc: its first process and every
 * descendant (orphans inside are reparented to the sandbox's own pid 1, so the tree
 * holds everything it runs). Nothing here runs unless someone asks (GetMetrics).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#include "csb-cgroup.h"
#include "csb-metrics.h"

/* A viewer asks for every sandbox at once: one walk of /proc serves them all. */
#define PROC_SNAPSHOT_MAX_AGE_US (500 * 1000)

/* A sandbox can make a folder as deep and as full as it likes: the walk stops. */
#define DISK_MAX_DEPTH 64
#define DISK_MAX_ENTRIES 500000

typedef struct
{
  int     pid;
  int     ppid;
  guint64 ticks;      /* utime + stime + cutime + cstime */
  guint64 rss_pages;
} Proc;

/* /proc/PID/stat: the fields after the command's name, which may hold ") ". */
static gboolean
read_proc (int   pid,
           Proc *out)
{
  char path[64];
  char buffer[1024];
  g_auto(GStrv) fields = NULL;
  const char *end;
  ssize_t n;
  int fd;

  g_snprintf (path, sizeof path, "/proc/%d/stat", pid);
  if ((fd = open (path, O_RDONLY | O_CLOEXEC)) < 0)
    return FALSE;
  n = read (fd, buffer, sizeof buffer - 1);
  close (fd);
  if (n <= 0)
    return FALSE;
  buffer[n] = '\0';
  if ((end = strrchr (buffer, ')')) == NULL || end[1] != ' ')
    return FALSE;
  /* fields[0] is the state (field 3 of proc(5)), so field N is fields[N - 3]. */
  fields = g_strsplit (end + 2, " ", 24);
  if (g_strv_length (fields) < 22)
    return FALSE;
  out->pid = pid;
  out->ppid = atoi (fields[1]);
  out->ticks = g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10) +
               g_ascii_strtoull (fields[13], NULL, 10) + g_ascii_strtoull (fields[14], NULL, 10);
  out->rss_pages = g_ascii_strtoull (fields[21], NULL, 10);
  return TRUE;
}

static GMutex snapshot_lock;
static GArray *snapshot;         /* (element-type Proc) */
static gint64 snapshot_time;

/* Every process of the machine, as read at most PROC_SNAPSHOT_MAX_AGE_US ago. */
static GArray *
proc_snapshot (void)
{
  GArray *procs;

  g_mutex_lock (&snapshot_lock);
  if (snapshot == NULL || g_get_monotonic_time () - snapshot_time > PROC_SNAPSHOT_MAX_AGE_US)
    {
      g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
      const char *name;

      g_clear_pointer (&snapshot, g_array_unref);
      snapshot = g_array_new (FALSE, FALSE, sizeof (Proc));
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          Proc proc;

          if (g_ascii_isdigit (*name) && read_proc (atoi (name), &proc))
            g_array_append_val (snapshot, proc);
        }
      snapshot_time = g_get_monotonic_time ();
    }
  procs = g_array_ref (snapshot);
  g_mutex_unlock (&snapshot_lock);
  return procs;
}

/* @pid and its descendants, summed. */
static gboolean
proc_tree_usage (guint            pid,
                 CsbProcessUsage *out)
{
  g_autoptr(GArray) procs = proc_snapshot ();
  g_autoptr(GHashTable) in_tree = g_hash_table_new (NULL, NULL);
  long ticks_per_s = sysconf (_SC_CLK_TCK);
  long page_size = sysconf (_SC_PAGESIZE);
  guint64 ticks = 0, pages = 0;
  gboolean grew = TRUE;

  for (guint i = 0; i < procs->len; i++)
    if ((guint) g_array_index (procs, Proc, i).pid == pid)
      g_hash_table_add (in_tree, GINT_TO_POINTER (pid));
  if (g_hash_table_size (in_tree) == 0)
    return FALSE;
  /* Children may be listed before their parents: repeat until the tree stops growing. */
  while (grew)
    {
      grew = FALSE;
      for (guint i = 0; i < procs->len; i++)
        {
          Proc *proc = &g_array_index (procs, Proc, i);

          if (!g_hash_table_contains (in_tree, GINT_TO_POINTER (proc->pid)) &&
              g_hash_table_contains (in_tree, GINT_TO_POINTER (proc->ppid)))
            grew = g_hash_table_add (in_tree, GINT_TO_POINTER (proc->pid)) || grew;
        }
    }
  for (guint i = 0; i < procs->len; i++)
    {
      Proc *proc = &g_array_index (procs, Proc, i);

      if (g_hash_table_contains (in_tree, GINT_TO_POINTER (proc->pid)))
        {
          ticks += proc->ticks;
          pages += proc->rss_pages;
        }
    }
  out->cpu_us = ticks_per_s > 0 ? ticks * G_USEC_PER_SEC / ticks_per_s : 0;
  out->memory_bytes = pages * (page_size > 0 ? page_size : 4096);
  out->processes = g_hash_table_size (in_tree);
  return TRUE;
}

gboolean
csb_metrics_processes (const char      *id,
                       guint            pid,
                       CsbProcessUsage *out)
{
  CsbProcessUsage from_proc = { 0, };

  g_return_val_if_fail (id != NULL && out != NULL, FALSE);

  memset (out, 0, sizeof *out);
  if (pid == 0)
    return FALSE;
  if (csb_cgroup_read_usage (id, &out->cpu_us, &out->memory_bytes, &out->processes))
    {
      out->from_cgroup = TRUE;
      /* A controller the service was not given: what /proc says instead. */
      if ((out->memory_bytes == G_MAXUINT64 || out->processes == G_MAXUINT) &&
          proc_tree_usage (pid, &from_proc))
        {
          if (out->memory_bytes == G_MAXUINT64)
            out->memory_bytes = from_proc.memory_bytes;
          if (out->processes == G_MAXUINT)
            out->processes = from_proc.processes;
        }
      return out->memory_bytes != G_MAXUINT64 && out->processes != G_MAXUINT;
    }
  return proc_tree_usage (pid, out);
}

static void
disk_walk (int      dir_fd,
           guint    depth,
           guint   *entries,
           guint64 *bytes)
{
  DIR *dir = fdopendir (dir_fd);
  struct dirent *entry;

  if (dir == NULL)
    {
      close (dir_fd);
      return;
    }
  while (*entries < DISK_MAX_ENTRIES && (entry = readdir (dir)) != NULL)
    {
      struct stat st;
      int child;

      if (g_str_equal (entry->d_name, ".") || g_str_equal (entry->d_name, ".."))
        continue;
      (*entries)++;
      if (fstatat (dirfd (dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        continue;
      *bytes += (guint64) st.st_blocks * 512;
      if (S_ISDIR (st.st_mode) && depth < DISK_MAX_DEPTH &&
          (child = openat (dirfd (dir), entry->d_name,
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
        disk_walk (child, depth + 1, entries, bytes);
    }
  closedir (dir);
}

guint64
csb_metrics_disk_bytes (const char *dir)
{
  struct stat st;
  guint64 bytes = 0;
  guint entries = 0;
  int fd;

  g_return_val_if_fail (dir != NULL, 0);

  if ((fd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    return 0;
  if (fstat (fd, &st) == 0)
    bytes = (guint64) st.st_blocks * 512;
  disk_walk (fd, 0, &entries, &bytes);
  return bytes;
}

static guint64
meminfo_bytes (const char *text,
               const char *key)
{
  g_autofree char *prefix = g_strconcat ("\n", key, ":", NULL);
  const char *line = strstr (text, prefix);

  /* "MemTotal:       16303604 kB" */
  return line ? g_ascii_strtoull (line + strlen (prefix), NULL, 10) * 1024 : 0;
}

GVariant *
csb_metrics_host (void)
{
  g_autofree char *loadavg = NULL;
  g_autofree char *meminfo = NULL;
  g_autofree char *lines = NULL;
  GVariantDict dict;
  long cpus = sysconf (_SC_NPROCESSORS_ONLN);

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "cpus", "u", (guint32) MAX (cpus, 1));
  if (g_file_get_contents ("/proc/loadavg", &loadavg, NULL, NULL))
    {
      g_auto(GStrv) fields = g_strsplit (loadavg, " ", 4);

      if (g_strv_length (fields) >= 3)
        {
          g_variant_dict_insert (&dict, "load-1", "d", g_ascii_strtod (fields[0], NULL));
          g_variant_dict_insert (&dict, "load-5", "d", g_ascii_strtod (fields[1], NULL));
          g_variant_dict_insert (&dict, "load-15", "d", g_ascii_strtod (fields[2], NULL));
        }
    }
  if (g_file_get_contents ("/proc/meminfo", &meminfo, NULL, NULL))
    {
      /* Every key is then found after a newline, the first one too. */
      lines = g_strconcat ("\n", meminfo, NULL);
      g_variant_dict_insert (&dict, "memory-total-bytes", "t", meminfo_bytes (lines, "MemTotal"));
      g_variant_dict_insert (&dict, "memory-available-bytes", "t",
                             meminfo_bytes (lines, "MemAvailable"));
    }
  return g_variant_dict_end (&dict);
}
