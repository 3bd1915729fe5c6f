/* csb-initramfs.c
 *
 * The archive is written here (newc format, no cpio program): /init, /dev/console,
 * the module files at their usual paths and /modules.order, the list the init
 * loads in order, and the guest's share of the host's /etc at /host-etc (the
 * allowlist of csb-guest-stage.c, with empty stand-ins for the sandbox's own
 * files, which each VM's plan binds over them). The guest reads its /etc from
 * memory, and no launch copies it: a launch only walks it (lstat) for the name.
 *
 * The name carries a hash of the init, of the module list and of that /etc walk
 * (names, links, sizes, times, inodes), so a new kernel, a rebuilt init or a
 * changed /etc file gets a new archive; it is written to a temporary file and
 * renamed, so concurrent services never see half an archive. Each use touches the
 * archive; one unused for ARCHIVE_UNUSED_S is deleted when another is built (QEMU
 * reads the archive when it starts: a running VM does not need it).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <gio/gio.h>

#include "csb-module-api.h"
#include "csb-initramfs.h"

#define HOST_ETC "host-etc"
#define ARCHIVE_UNUSED_S (10 * 60)

const char * const csb_initramfs_modules[] = {
  "virtio_pci", "virtio_console", "virtiofs", "overlay", "virtio_net", "virtio-rng",
  "button", "evdev",
  /* the disk-image mode: the overlay's virtio disk and its usual file system */
  "virtio_blk", "ext4", NULL
};

/* Loaded only with the display on (modules-display.order): no cost to a launch
 * without one. Debian's cloud kernel has no DRM at all: then there are none. */
const char * const csb_initramfs_display_modules[] = { "virtio_gpu", "virtio_input", NULL };

/* A module's name as modules.dep spells its file: dashes and underscores mix. */
static char *
module_key (const char *name)
{
  char *key = g_strdup (name);

  g_strdelimit (key, "-", '_');
  return key;
}

static char *
module_key_of_path (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  char *dot = strstr (base, ".ko");

  if (dot != NULL)
    *dot = '\0';
  return module_key (base);
}

static void
add_with_deps (GHashTable *deps,
               GHashTable *paths,
               const char *path,
               GHashTable *seen,
               GPtrArray  *order)
{
  GStrv these;

  if (g_hash_table_contains (seen, path))
    return;
  g_hash_table_add (seen, g_strdup (path));
  these = g_hash_table_lookup (deps, path);
  for (guint i = 0; these != NULL && these[i] != NULL; i++)
    add_with_deps (deps, paths, these[i], seen, order);
  g_ptr_array_add (order, g_strdup (path));
}

static gboolean resolve_lists (const char *modules_dir, GPtrArray **out_base,
                               GPtrArray **out_display, GError **error);

GPtrArray *
csb_initramfs_resolve_modules (const char *modules_dir,
                               GError    **error)
{
  GPtrArray *base = NULL;

  if (!resolve_lists (modules_dir, &base, NULL, error))
    return NULL;
  return base;
}

GPtrArray *
csb_initramfs_resolve_display_modules (const char *modules_dir,
                                       GError    **error)
{
  g_autoptr(GPtrArray) base = NULL;
  GPtrArray *display = NULL;

  if (!resolve_lists (modules_dir, &base, &display, error))
    return NULL;
  return display;
}

/* The base modules, then (with @out_display) the display's but for those already
 * in the base. */
static gboolean
resolve_lists (const char *modules_dir,
               GPtrArray **out_base,
               GPtrArray **out_display,
               GError    **error)
{
  g_autofree char *dep_path = g_build_filename (modules_dir, "modules.dep", NULL);
  g_autofree char *builtin_path = g_build_filename (modules_dir, "modules.builtin", NULL);
  g_autofree char *dep_text = NULL;
  g_autofree char *builtin_text = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GHashTable) deps = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                      (GDestroyNotify) g_strfreev);
  g_autoptr(GHashTable) by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GHashTable) builtin = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) order = g_ptr_array_new_with_free_func (g_free);

  if (!g_file_get_contents (dep_path, &dep_text, NULL, NULL))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "the kernel's modules are not installed ('%s' is missing)", dep_path);
      return FALSE;
    }
  lines = g_strsplit (dep_text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *colon = strchr (lines[i], ':');
      g_auto(GStrv) parts = NULL;
      g_autofree char *path = NULL;

      if (colon == NULL)
        continue;
      path = g_strndup (lines[i], colon - lines[i]);
      parts = g_strsplit_set (g_strstrip (colon + 1), " ", -1);
      {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new ();
        for (guint j = 0; parts[j] != NULL; j++)
          if (*parts[j] != '\0')
            g_strv_builder_add (b, parts[j]);
        g_hash_table_insert (deps, g_strdup (path), g_strv_builder_end (b));
      }
      {
        char *key = module_key_of_path (path);
        g_hash_table_insert (by_key, key, g_steal_pointer (&path));
      }
    }
  if (g_file_get_contents (builtin_path, &builtin_text, NULL, NULL))
    {
      g_auto(GStrv) blines = g_strsplit (builtin_text, "\n", -1);
      for (guint i = 0; blines[i] != NULL; i++)
        if (*blines[i] != '\0')
          g_hash_table_add (builtin, module_key_of_path (blines[i]));
    }

  for (guint list = 0; list < (out_display != NULL ? 2 : 1); list++)
    {
      const char * const *names = list == 0 ? csb_initramfs_modules
                                            : csb_initramfs_display_modules;

      if (list == 1)
        {
          *out_base = g_steal_pointer (&order);
          order = g_ptr_array_new_with_free_func (g_free);
        }
      for (guint i = 0; names[i] != NULL; i++)
        {
          g_autofree char *key = module_key (names[i]);
          const char *path = g_hash_table_lookup (by_key, key);

          if (path != NULL)
            add_with_deps (deps, by_key, path, seen, order);
          else if (!g_hash_table_contains (builtin, key))
            g_debug ("module %s is neither built in nor a module of %s", key, modules_dir);
        }
    }
  if (out_display != NULL)
    *out_display = g_steal_pointer (&order);
  else
    *out_base = g_steal_pointer (&order);
  return TRUE;
}

/* ---- newc ------------------------------------------------------------------------- */

typedef struct
{
  GOutputStream *out;
  guint          ino;
  guint64        offset;
} Cpio;

static gboolean
cpio_write (Cpio         *cpio,
            const void   *data,
            gsize         len,
            GError      **error)
{
  static const char zeros[4] = { 0 };
  gsize pad;

  if (len > 0 && !g_output_stream_write_all (cpio->out, data, len, NULL, NULL, error))
    return FALSE;
  cpio->offset += len;
  pad = (4 - cpio->offset % 4) % 4;
  if (pad > 0 && !g_output_stream_write_all (cpio->out, zeros, pad, NULL, NULL, error))
    return FALSE;
  cpio->offset += pad;
  return TRUE;
}

static gboolean
cpio_entry_full (Cpio       *cpio,
                 const char *name,
                 guint32     mode,
                 guint32     mtime,
                 guint32     rdev_major,
                 guint32     rdev_minor,
                 const void *data,
                 gsize       len,
                 GError    **error)
{
  g_autofree char *header = NULL;

  header = g_strdup_printf ("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
                            ++cpio->ino, mode, 0, 0, 1, mtime, (guint) len, 0, 0,
                            rdev_major, rdev_minor, (guint) strlen (name) + 1, 0);
  /* header and name are padded together, then the data */
  if (!g_output_stream_write_all (cpio->out, header, 110, NULL, NULL, error) ||
      !g_output_stream_write_all (cpio->out, name, strlen (name) + 1, NULL, NULL, error))
    return FALSE;
  cpio->offset += 110 + strlen (name) + 1;
  if (!cpio_write (cpio, NULL, 0, error))
    return FALSE;
  return cpio_write (cpio, data, len, error);
}

static gboolean
cpio_entry (Cpio       *cpio,
            const char *name,
            guint32     mode,
            guint32     rdev_major,
            guint32     rdev_minor,
            GBytes     *data,
            GError    **error)
{
  return cpio_entry_full (cpio, name, mode, 0, rdev_major, rdev_minor,
                          data ? g_bytes_get_data (data, NULL) : NULL,
                          data ? g_bytes_get_size (data) : 0, error);
}

/* ---- the guest's /etc ------------------------------------------------------------- */

static gboolean
hash_etc_entry (CsbStageKind       kind,
                const char        *rel,
                const char        *src,
                const struct stat *st,
                const char        *target,
                gpointer           user_data)
{
  /* A folder's own times change with every file made in it: its entries count. */
  gint64 stamp[6] = { kind, st->st_mode, st->st_size, st->st_ino,
                      kind == CSB_STAGE_DIR ? 0 : st->st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st->st_mtim.tv_nsec,
                      kind == CSB_STAGE_DIR ? 0 : st->st_ctim.tv_sec * G_GINT64_CONSTANT (1000000000) + st->st_ctim.tv_nsec };

  g_checksum_update (user_data, (const guchar *) rel, strlen (rel) + 1);
  g_checksum_update (user_data, (const guchar *) stamp, sizeof stamp);
  if (target != NULL)
    g_checksum_update (user_data, (const guchar *) target, strlen (target) + 1);
  return TRUE;
}

typedef struct
{
  Cpio       *cpio;
  GError    **error;
  gboolean    failed;
} EtcWriter;

static gboolean
write_etc_entry (CsbStageKind       kind,
                 const char        *rel,
                 const char        *src,
                 const struct stat *st,
                 const char        *target,
                 gpointer           user_data)
{
  EtcWriter *w = user_data;
  g_autofree char *name = g_build_filename (HOST_ETC, rel, NULL);
  g_autofree char *contents = NULL;
  gsize len;

  if (w->failed)
    return FALSE;
  switch (kind)
    {
    case CSB_STAGE_DIR:
      w->failed = !cpio_entry_full (w->cpio, name, S_IFDIR | 0755, st->st_mtime, 0, 0, NULL, 0,
                                    w->error);
      break;
    case CSB_STAGE_SYMLINK:
      w->failed = !cpio_entry_full (w->cpio, name, S_IFLNK | 0777, st->st_mtime, 0, 0, target,
                                    strlen (target), w->error);
      break;
    case CSB_STAGE_FILE:
    default:
      /* What the user cannot read (none of the allowlist, usually) is left out. Read,
       * not mapped: a file truncated meanwhile (an editor saving in place) must not
       * kill the service with SIGBUS. */
      if (!g_file_get_contents (src, &contents, &len, NULL))
        return FALSE;
      w->failed = !cpio_entry_full (w->cpio, name, S_IFREG | (st->st_mode & 0755), st->st_mtime,
                                    0, 0, contents, len, w->error);
      break;
    }
  return !w->failed;
}

static gboolean
write_etc (Cpio       *cpio,
           const char *etc_root,
           GError    **error)
{
  EtcWriter w = { cpio, error, FALSE };
  struct stat st;

  if (!cpio_entry_full (cpio, HOST_ETC, S_IFDIR | 0755, stat (etc_root, &st) == 0 ? st.st_mtime : 0,
                        0, 0, NULL, 0, error))
    return FALSE;
  csb_stage_walk_etc (etc_root, write_etc_entry, &w);
  if (w.failed)
    return FALSE;
  /* Where each VM's own passwd, hosts… are bound (the walk leaves the host's out). */
  for (guint i = 0; csb_stage_etc_own_files[i] != NULL; i++)
    {
      g_autofree char *name = g_build_filename (HOST_ETC, csb_stage_etc_own_files[i], NULL);

      if (!cpio_entry (cpio, name, S_IFREG | 0644, 0, 0, NULL, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
cpio_dirs_of (Cpio        *cpio,
              const char  *path,
              GHashTable  *made,
              GError     **error)
{
  g_autofree char *parent = g_path_get_dirname (path);

  if (g_str_equal (parent, ".") || g_str_equal (parent, "/") || g_hash_table_contains (made, parent))
    return TRUE;
  if (!cpio_dirs_of (cpio, parent, made, error))
    return FALSE;
  g_hash_table_add (made, g_strdup (parent));
  return cpio_entry (cpio, parent, S_IFDIR | 0755, 0, 0, NULL, error);
}

static gboolean
write_archive (const char *path,
               const char *modules_dir,
               GPtrArray  *modules,
               GPtrArray  *display_modules,
               GBytes     *init,
               const char *etc_root,
               GError    **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileOutputStream) stream = NULL;
  g_autoptr(GHashTable) made = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GString) order = g_string_new (NULL);
  g_autoptr(GBytes) order_bytes = NULL;
  g_autoptr(GOutputStream) buffered = NULL;
  Cpio cpio = { 0 };
  static const char * const dirs[] = { "dev", "proc", "sys", "ctl", "newroot", NULL };

  stream = g_file_replace (file, NULL, FALSE, G_FILE_CREATE_PRIVATE, NULL, error);
  if (stream == NULL)
    return FALSE;
  buffered = g_buffered_output_stream_new_sized (G_OUTPUT_STREAM (stream), 1 << 20);
  cpio.out = buffered;

  for (guint i = 0; dirs[i] != NULL; i++)
    if (!cpio_entry (&cpio, dirs[i], S_IFDIR | 0755, 0, 0, NULL, error))
      return FALSE;
  if (!cpio_entry (&cpio, "dev/console", S_IFCHR | 0600, 5, 1, NULL, error) ||
      !cpio_entry (&cpio, "init", S_IFREG | 0755, 0, 0, init, error))
    return FALSE;

  for (guint list = 0; list < 2; list++)
    {
      GPtrArray *these = list == 0 ? modules : display_modules;

      if (list == 1)
        {
          order_bytes = g_string_free_to_bytes (g_steal_pointer (&order));
          if (!cpio_entry (&cpio, "modules.order", S_IFREG | 0644, 0, 0, order_bytes, error))
            return FALSE;
          g_clear_pointer (&order_bytes, g_bytes_unref);
          order = g_string_new (NULL);
        }
      for (guint i = 0; i < these->len; i++)
        {
          const char *rel = g_ptr_array_index (these, i);
          g_autofree char *src = g_build_filename (modules_dir, rel, NULL);
          g_autofree char *dest = g_build_filename ("lib/modules", rel, NULL);
          g_autoptr(GMappedFile) mapped = g_mapped_file_new (src, FALSE, error);
          g_autoptr(GBytes) bytes = NULL;

          if (mapped == NULL)
            return FALSE;
          bytes = g_mapped_file_get_bytes (mapped);
          if (!cpio_dirs_of (&cpio, dest, made, error) ||
              !cpio_entry (&cpio, dest, S_IFREG | 0644, 0, 0, bytes, error))
            return FALSE;
          g_string_append_printf (order, "/%s\n", dest);
        }
    }
  order_bytes = g_string_free_to_bytes (g_steal_pointer (&order));
  if (!cpio_entry (&cpio, "modules-display.order", S_IFREG | 0644, 0, 0, order_bytes, error) ||
      !write_etc (&cpio, etc_root, error) ||
      !cpio_entry (&cpio, "TRAILER!!!", 0, 0, 0, NULL, error))
    return FALSE;
  return g_output_stream_close (buffered, NULL, error);
}

/* The archives in @cache_dir but @current that no launch used for ARCHIVE_UNUSED_S:
 * of an older kernel, init or /etc. */
static void
remove_unused (const char *cache_dir,
               const char *current)
{
  g_autoptr(GDir) dir = g_dir_open (cache_dir, 0, NULL);
  const char *name;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (cache_dir, name, NULL);
      struct stat st;

      if (g_str_has_prefix (name, "initramfs-") && g_str_has_suffix (name, ".cpio") &&
          !g_str_equal (name, current) && lstat (path, &st) == 0 && S_ISREG (st.st_mode) &&
          now - st.st_mtime > ARCHIVE_UNUSED_S && unlink (path) == 0)
        g_debug ("removed the unused VM initramfs %s", path);
    }
}

char *
csb_initramfs_ensure (const char *modules_dir,
                      const char *init_path,
                      const char *etc_root,
                      const char *cache_dir,
                      GError    **error)
{
  g_autoptr(GPtrArray) modules = NULL;
  g_autoptr(GPtrArray) display_modules = NULL;
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr(GMappedFile) init_map = NULL;
  g_autoptr(GBytes) init = NULL;
  g_autofree char *version = g_path_get_basename (modules_dir);
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;
  g_autofree char *tmp = NULL;

  g_return_val_if_fail (modules_dir != NULL && init_path != NULL && etc_root != NULL &&
                        cache_dir != NULL, NULL);

  if (!resolve_lists (modules_dir, &modules, &display_modules, error))
    return NULL;
  init_map = g_mapped_file_new (init_path, FALSE, error);
  if (init_map == NULL)
    {
      g_prefix_error (error, "the VM's init is missing: ");
      return NULL;
    }
  init = g_mapped_file_get_bytes (init_map);
  g_checksum_update (sum, g_bytes_get_data (init, NULL), g_bytes_get_size (init));
  for (guint i = 0; i < modules->len + display_modules->len; i++)
    {
      const char *rel = i < modules->len ? g_ptr_array_index (modules, i)
                                         : g_ptr_array_index (display_modules, i - modules->len);
      g_autofree char *full = g_build_filename (modules_dir, rel, NULL);
      struct stat st;

      g_checksum_update (sum, (const guchar *) rel, strlen (rel) + 1);
      if (stat (full, &st) == 0)
        {
          gint64 stamp[2] = { st.st_size, st.st_mtime };
          g_checksum_update (sum, (const guchar *) stamp, sizeof stamp);
        }
    }
  csb_stage_walk_etc (etc_root, hash_etc_entry, sum);
  name = g_strdup_printf ("initramfs-%s-%.16s.cpio", version, g_checksum_get_string (sum));
  path = g_build_filename (cache_dir, name, NULL);
  /* Touched: in use. */
  if (utimensat (AT_FDCWD, path, NULL, 0) == 0)
    return g_steal_pointer (&path);

  if (g_mkdir_with_parents (cache_dir, 0700) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create '%s': %s", cache_dir,
                   g_strerror (errno));
      return NULL;
    }
  tmp = g_strdup_printf ("%s.%d.%08x.tmp", path, (int) getpid (), g_random_int ());
  if (!write_archive (tmp, modules_dir, modules, display_modules, init, etc_root, error))
    {
      unlink (tmp);
      g_prefix_error (error, "cannot build the VM's initramfs: ");
      return NULL;
    }
  if (rename (tmp, path) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot store '%s': %s", path,
                   g_strerror (errno));
      unlink (tmp);
      return NULL;
    }
  g_message ("built the VM initramfs %s (%u modules, %u more for a display)", path,
             modules->len, display_modules->len);
  remove_unused (cache_dir, name);
  return g_steal_pointer (&path);
}
