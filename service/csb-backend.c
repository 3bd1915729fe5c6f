/* csb-backend.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <unistd.h>

#include <gmodule.h>

#include "csb-backend.h"
#include "csb-backend-names.h"
#include "csb-file.h"
#include "csb-helper-path.h"
#include "csb-bwrap-backend.h"
#include "csb-error.h"

typedef struct
{
  guint    pid;
  gboolean exited;
} CsbBackendPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (CsbBackend, csb_backend, G_TYPE_OBJECT)

enum { SIGNAL_EXITED, N_SIGNALS };
static guint signals[N_SIGNALS];

typedef struct
{
  GType     (*get_type) (void);   /* built in */
  const char *module_symbol;      /* or its get_type in the libvirt backends' module */
} BackendEntry;

/* One row for each of csb_backend_names[], in its order. */
static const BackendEntry backends[] = {
  { csb_bwrap_backend_get_type, NULL },               /* bwrap */
  { NULL, "csb_vm_backend_get_type" },                /* vm */
  { NULL, "csb_container_backend_get_type" },         /* container */
};

G_STATIC_ASSERT (G_N_ELEMENTS (backends) + 1 == G_N_ELEMENTS (csb_backend_names));

#define LIBVIRT_MODULE "libcsb-libvirt-backends.so"

/* The libvirt backends' module: in the build tree (csb-helper-path.c), else in
 * the installed module folder. Loaded once, on first use, and kept. */
static GModule *
libvirt_module (GError **error)
{
  static GMutex lock;
  static GModule *module;
  static char *failure;
  GModule *result;

  g_mutex_lock (&lock);
  if (module == NULL && failure == NULL)
    {
      g_autoptr(GError) local_error = NULL;
      g_autofree char *path = csb_helper_path (NULL, LIBVIRT_MODULE, &local_error);

      if (path == NULL)
        path = g_build_filename (MODULEDIR, LIBVIRT_MODULE, NULL);
      module = g_module_open (path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
      if (module != NULL)
        g_module_make_resident (module);
      else
        failure = g_strdup_printf ("cannot load %s: %s", path, g_module_error ());
    }
  result = module;
  if (result == NULL)
    g_set_error_literal (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE, failure);
  g_mutex_unlock (&lock);
  return result;
}

static GType
entry_get_type (const BackendEntry *entry,
                GError            **error)
{
  GModule *module;
  gpointer symbol = NULL;

  if (entry->get_type != NULL)
    return entry->get_type ();
  if ((module = libvirt_module (error)) == NULL)
    return G_TYPE_INVALID;
  if (!g_module_symbol (module, entry->module_symbol, &symbol) || symbol == NULL)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "the %s backend is missing from its module: %s",
                   csb_backend_names[entry - backends],
                   g_module_error ());
      return G_TYPE_INVALID;
    }
  return ((GType (*) (void)) symbol) ();
}

CsbSandboxSpec *
csb_sandbox_spec_new (void)
{
  CsbSandboxSpec *spec = g_new0 (CsbSandboxSpec, 1);

  spec->stdio_fds[0] = spec->stdio_fds[1] = spec->stdio_fds[2] = -1;
  return spec;
}

void
csb_sandbox_spec_free (CsbSandboxSpec *spec)
{
  if (spec == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (spec->stdio_fds); i++)
    if (spec->stdio_fds[i] >= 0)
      close (spec->stdio_fds[i]);
  g_free (spec->id);
  g_free (spec->project_dir);
  g_strfreev (spec->command);
  g_clear_pointer (&spec->options, csb_launch_options_free);
  g_free (spec->state_dir);
  g_free (spec->runtime_dir);
  g_free (spec->net_proxy_socket);
  g_strfreev (spec->environ);
  g_clear_object (&spec->settings);
  g_clear_pointer (&spec->guard_entries, g_ptr_array_unref);
  g_free (spec);
}

/* The sandbox's runtime (@runtime) or state folder, <base>/claude-sandbox/<id>,
 * opened (and with @create made) without following links below <base>, checked to
 * be a 0700 folder of ours: see csb_file_open_private_dir(). A descriptor, or -1. */
int
csb_sandbox_spec_open_dir (CsbSandboxSpec *spec,
                           gboolean        runtime,
                           gboolean        create,
                           GError        **error)
{
  const char *dir = runtime ? spec->runtime_dir : spec->state_dir;
  g_autofree char *parent = g_path_get_dirname (dir);
  g_autofree char *base = g_path_get_dirname (parent);
  g_autofree char *parent_name = g_path_get_basename (parent);
  g_autofree char *name = g_path_get_basename (dir);
  g_autofree char *relative = g_build_filename (parent_name, name, NULL);

  return csb_file_open_private_dir (base, relative, create, error);
}

/* The cap of the sandbox's terminal log, in bytes (setting terminal-log-max-kib). */
guint64
csb_sandbox_spec_terminal_log_max (CsbSandboxSpec *spec)
{
  guint kib = spec->settings ? g_settings_get_uint (spec->settings, "terminal-log-max-kib")
                             : 8192;

  return (guint64) kib * 1024;
}

static const BackendEntry *
lookup (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (backends); i++)
    if (g_strcmp0 (csb_backend_names[i], name) == 0)
      return &backends[i];
  return NULL;
}

const char * const *
csb_backend_get_names (void)
{
  return csb_backend_names;
}

CsbBackend *
csb_backend_new (const char *name,
                 GError    **error)
{
  const BackendEntry *entry = lookup (name);
  GType type;

  if (entry == NULL)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                   "unknown backend '%s' (use bwrap, vm or container)", name);
      return NULL;
    }
  if ((type = entry_get_type (entry, error)) == G_TYPE_INVALID)
    return NULL;
  return g_object_new (type, NULL);
}

gboolean
csb_backend_check_available (const char *name,
                             GSettings  *settings,
                             char      **detail)
{
  const BackendEntry *entry = lookup (name);
  g_autoptr(GTypeClass) klass = NULL;
  g_autoptr(GError) error = NULL;
  GType type;

  g_return_val_if_fail (entry != NULL, FALSE);

  if ((type = entry_get_type (entry, &error)) == G_TYPE_INVALID)
    {
      *detail = g_strdup (error->message);
      return FALSE;
    }
  klass = g_type_class_ref (type);
  return CSB_BACKEND_CLASS (klass)->check_available (CSB_BACKEND_CLASS (klass), settings, detail);
}

const char *
csb_backend_get_name (CsbBackend *self)
{
  return CSB_BACKEND_GET_CLASS (self)->name;
}

void
csb_backend_start_async (CsbBackend         *self,
                         CsbSandboxSpec     *spec,
                         GCancellable       *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer            user_data)
{
  g_return_if_fail (CSB_IS_BACKEND (self));
  CSB_BACKEND_GET_CLASS (self)->start_async (self, spec, cancellable, callback, user_data);
}

gboolean
csb_backend_start_finish (CsbBackend   *self,
                          GAsyncResult *result,
                          GError      **error)
{
  g_return_val_if_fail (CSB_IS_BACKEND (self), FALSE);
  return CSB_BACKEND_GET_CLASS (self)->start_finish (self, result, error);
}

void
csb_backend_stop (CsbBackend *self,
                  guint       timeout_s)
{
  g_return_if_fail (CSB_IS_BACKEND (self));
  CSB_BACKEND_GET_CLASS (self)->stop (self, timeout_s);
}

GStrv
csb_backend_get_protections (CsbBackend *self)
{
  g_return_val_if_fail (CSB_IS_BACKEND (self), NULL);
  return CSB_BACKEND_GET_CLASS (self)->get_protections (self);
}

char *
csb_backend_dup_display (CsbBackend *self)
{
  g_return_val_if_fail (CSB_IS_BACKEND (self), NULL);
  if (CSB_BACKEND_GET_CLASS (self)->dup_display == NULL)
    return NULL;
  return CSB_BACKEND_GET_CLASS (self)->dup_display (self);
}

int
csb_backend_open_display (CsbBackend *self,
                          GError    **error)
{
  g_return_val_if_fail (CSB_IS_BACKEND (self), -1);
  if (CSB_BACKEND_GET_CLASS (self)->open_display == NULL)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                   "the %s backend has no display to open", csb_backend_get_name (self));
      return -1;
    }
  return CSB_BACKEND_GET_CLASS (self)->open_display (self, error);
}

guint
csb_backend_get_pid (CsbBackend *self)
{
  CsbBackendPrivate *priv = csb_backend_get_instance_private (self);
  return priv->pid;
}

void
csb_backend_set_pid (CsbBackend *self,
                     guint       pid)
{
  CsbBackendPrivate *priv = csb_backend_get_instance_private (self);
  priv->pid = pid;
}

void
csb_backend_emit_exited (CsbBackend *self,
                         int         status,
                         const char *error_message)
{
  CsbBackendPrivate *priv = csb_backend_get_instance_private (self);

  if (priv->exited)
    return;
  priv->exited = TRUE;
  g_signal_emit (self, signals[SIGNAL_EXITED], 0, status, error_message);
}

static void
csb_backend_class_init (CsbBackendClass *klass)
{
  /* The sandbox ended: its exit status (code, or 128 + signal) and, if it
   * failed rather than ran to its end, why. Emitted once. */
  signals[SIGNAL_EXITED] = g_signal_new ("exited", G_TYPE_FROM_CLASS (klass),
                                         G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                         G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_STRING);
}

static void
csb_backend_init (CsbBackend *self)
{
}

gboolean
csb_backend_is_offline_only (CsbBackend *self)
{
  g_return_val_if_fail (CSB_IS_BACKEND (self), FALSE);
  return CSB_BACKEND_GET_CLASS (self)->offline_only;
}

gboolean
csb_backend_filters_network (CsbBackend *self)
{
  g_return_val_if_fail (CSB_IS_BACKEND (self), FALSE);
  return CSB_BACKEND_GET_CLASS (self)->filters_network;
}

gboolean
csb_backend_owns_terminal (CsbBackend *self)
{
  g_return_val_if_fail (CSB_IS_BACKEND (self), FALSE);
  return CSB_BACKEND_GET_CLASS (self)->owns_terminal;
}

int
csb_backend_open_terminal (CsbBackend *self,
                           GError    **error)
{
  g_return_val_if_fail (csb_backend_owns_terminal (self), -1);
  return CSB_BACKEND_GET_CLASS (self)->open_terminal (self, error);
}

gboolean
csb_backend_resize_terminal (CsbBackend *self,
                             guint16     columns,
                             guint16     rows,
                             GError    **error)
{
  g_return_val_if_fail (csb_backend_owns_terminal (self), FALSE);
  return CSB_BACKEND_GET_CLASS (self)->resize_terminal (self, columns, rows, error);
}

void
csb_backend_terminal_resized (CsbBackend *self,
                              guint16     columns,
                              guint16     rows)
{
  g_return_if_fail (CSB_IS_BACKEND (self));
  if (CSB_BACKEND_GET_CLASS (self)->terminal_resized != NULL)
    CSB_BACKEND_GET_CLASS (self)->terminal_resized (self, columns, rows);
}

gboolean
csb_backend_adopt (CsbBackend         *self,
                   CsbSandboxSpec     *spec,
                   const char * const *protections,
                   GError            **error)
{
  g_return_val_if_fail (CSB_IS_BACKEND (self), FALSE);
  if (CSB_BACKEND_GET_CLASS (self)->adopt == NULL)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "the %s backend cannot take over sandboxes of a previous service",
                   csb_backend_get_name (self));
      return FALSE;
    }
  return CSB_BACKEND_GET_CLASS (self)->adopt (self, spec, protections, error);
}
