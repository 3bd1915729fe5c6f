/* csb-options.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-backend-names.h"
#include "csb-backend-options.h"
#include "csb-error.h"
#include "csb-net-policy.h"
#include "csb-options.h"

#define MAX_NAME_LEN 64
#define MAX_BINDS 64
#define MAX_ENV 256
#define MAX_COMMAND_ARGS 4096
#define MAX_PATTERNS 1024

CsbLaunchOptions *
csb_launch_options_new (GSettings *settings)
{
  CsbLaunchOptions *self = g_new0 (CsbLaunchOptions, 1);

  self->env = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->ro_binds = g_ptr_array_new_with_free_func (g_free);
  self->rw_binds = g_ptr_array_new_with_free_func (g_free);
  self->network_allow = g_ptr_array_new_with_free_func (g_free);
  self->network_deny = g_ptr_array_new_with_free_func (g_free);
  self->left_off = g_ptr_array_new_with_free_func (g_free);
  self->stdio_fds[0] = self->stdio_fds[1] = self->stdio_fds[2] = -1;
  self->vm_memory_mib = 2048;
  self->vm_cpus = 2;

  if (settings != NULL)
    {
      g_auto(GStrv) ro = g_settings_get_strv (settings, "ro-binds");

      g_autofree char *mode = g_settings_get_string (settings, "project-mode");

      self->backend = g_settings_get_string (settings, "backend");
      self->review = g_strcmp0 (mode, "review") == 0;
      self->network = g_settings_get_boolean (settings, "network");
      self->gh_token = g_settings_get_boolean (settings, "gh-token");
      self->display = g_settings_get_boolean (settings, "display");
      self->audio = g_settings_get_boolean (settings, "audio");
      self->gpu = g_settings_get_boolean (settings, "gpu");
      self->ssh_agent = g_settings_get_boolean (settings, "ssh-agent");
      self->vm_memory_mib = g_settings_get_uint (settings, "vm-memory-mib");
      self->vm_cpus = g_settings_get_uint (settings, "vm-cpus");
      for (guint i = 0; ro[i] != NULL; i++)
        g_ptr_array_add (self->ro_binds, g_strdup (ro[i]));
    }
  else
    {
      /* The schema's defaults, for when it is not installed. */
      self->backend = g_strdup ("bwrap");
      self->network = TRUE;
    }
  return self;
}

void
csb_launch_options_free (CsbLaunchOptions *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (self->stdio_fds); i++)
    if (self->stdio_fds[i] >= 0)
      close (self->stdio_fds[i]);
  g_free (self->backend);
  g_free (self->name);
  g_free (self->vm_image);
  g_hash_table_unref (self->env);
  g_ptr_array_unref (self->ro_binds);
  g_ptr_array_unref (self->rw_binds);
  g_ptr_array_unref (self->network_allow);
  g_ptr_array_unref (self->network_deny);
  g_ptr_array_unref (self->left_off);
  g_free (self);
}

int
csb_launch_options_steal_stdio_fd (CsbLaunchOptions *self,
                                   guint             target)
{
  int fd;

  g_return_val_if_fail (target < G_N_ELEMENTS (self->stdio_fds), -1);
  fd = self->stdio_fds[target];
  self->stdio_fds[target] = -1;
  return fd;
}

static gboolean
invalid (GError    **error,
         const char *format,
         ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError    **error,
         const char *format,
         ...)
{
  va_list ap;
  g_autofree char *message = NULL;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error_literal (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT, message);
  return FALSE;
}

typedef gboolean (*OptionParser) (CsbLaunchOptions *self,
                                  const char       *key,
                                  GVariant         *value,
                                  GUnixFDList      *fd_list,
                                  GError          **error);

typedef struct
{
  const char   *key;
  const char   *type;
  gsize         offset;   /* of a gboolean or guint field, for the simple kinds */
  OptionParser  parse;
} OptionSpec;

static gboolean
parse_backend (CsbLaunchOptions *self,
               const char       *key,
               GVariant         *value,
               GUnixFDList      *fd_list,
               GError          **error)
{
  const char *name = g_variant_get_string (value, NULL);

  if (!g_strv_contains (csb_backend_names, name))
    return invalid (error, "unknown backend '%s' (use bwrap, vm or container)", name);
  g_free (self->backend);
  self->backend = g_strdup (name);
  return TRUE;
}

static gboolean
parse_project_mode (CsbLaunchOptions *self,
                    const char       *key,
                    GVariant         *value,
                    GUnixFDList      *fd_list,
                    GError          **error)
{
  const char *mode = g_variant_get_string (value, NULL);

  if (!g_str_equal (mode, "direct") && !g_str_equal (mode, "review"))
    return invalid (error, "unknown project-mode '%s' (use direct or review)", mode);
  self->review = g_str_equal (mode, "review");
  return TRUE;
}

static gboolean
parse_name (CsbLaunchOptions *self,
            const char       *key,
            GVariant         *value,
            GUnixFDList      *fd_list,
            GError          **error)
{
  const char *name = g_variant_get_string (value, NULL);

  if (*name == '\0')
    return invalid (error, "option 'name' must not be empty");
  if (g_utf8_strlen (name, -1) > MAX_NAME_LEN)
    return invalid (error, "option 'name' is longer than %d characters", MAX_NAME_LEN);
  for (const char *p = name; *p; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return invalid (error, "option 'name' must not contain control characters");
  g_free (self->name);
  self->name = g_strdup (name);
  return TRUE;
}

static gboolean
parse_env (CsbLaunchOptions *self,
           const char       *key,
           GVariant         *value,
           GUnixFDList      *fd_list,
           GError          **error)
{
  GVariantIter iter;
  const char *name, *val;

  if (g_variant_n_children (value) > MAX_ENV)
    return invalid (error, "option 'env' has more than %d variables", MAX_ENV);
  g_variant_iter_init (&iter, value);
  while (g_variant_iter_next (&iter, "{&s&s}", &name, &val))
    {
      if (!csb_validate_env_name (name, error))
        return FALSE;
      g_hash_table_replace (self->env, g_strdup (name), g_strdup (val));
    }
  return TRUE;
}

static gboolean
parse_binds (CsbLaunchOptions *self,
             const char       *key,
             GVariant         *value,
             GUnixFDList      *fd_list,
             GError          **error)
{
  GPtrArray *binds = g_str_equal (key, "ro-binds") ? self->ro_binds : self->rw_binds;
  g_autofree const char **paths = g_variant_get_strv (value, NULL);

  if (g_strv_length ((char **) paths) > MAX_BINDS)
    return invalid (error, "option '%s' has more than %d paths", key, MAX_BINDS);
  for (guint i = 0; paths[i] != NULL; i++)
    {
      if (!g_path_is_absolute (paths[i]))
        return invalid (error, "option '%s': '%s' is not an absolute path", key, paths[i]);
      g_ptr_array_add (binds, g_strdup (paths[i]));
    }
  return TRUE;
}

static gboolean
parse_network_patterns (CsbLaunchOptions *self,
                        const char       *key,
                        GVariant         *value,
                        GUnixFDList      *fd_list,
                        GError          **error)
{
  GPtrArray *list = g_str_equal (key, "network-allow") ? self->network_allow
                                                        : self->network_deny;
  g_autofree const char **patterns = g_variant_get_strv (value, NULL);

  if (g_strv_length ((char **) patterns) > MAX_PATTERNS)
    return invalid (error, "option '%s' has more than %d patterns", key, MAX_PATTERNS);
  for (guint i = 0; patterns[i] != NULL; i++)
    {
      g_autoptr(GError) local_error = NULL;

      /* "@default" stands for the allowlist in the settings. */
      if (!g_str_equal (patterns[i], "@default") &&
          !csb_net_pattern_validate (patterns[i], &local_error))
        return invalid (error, "option '%s': %s", key, local_error->message);
      g_ptr_array_add (list, g_strdup (patterns[i]));
    }
  return TRUE;
}

static gboolean
parse_network (CsbLaunchOptions *self,
               const char       *key,
               GVariant         *value,
               GUnixFDList      *fd_list,
               GError          **error)
{
  self->network = g_variant_get_boolean (value);
  self->network_given = TRUE;
  return TRUE;
}

static gboolean
parse_display (CsbLaunchOptions *self,
               const char       *key,
               GVariant         *value,
               GUnixFDList      *fd_list,
               GError          **error)
{
  self->display = g_variant_get_boolean (value);
  self->display_given = TRUE;
  return TRUE;
}

static gboolean
stdio_fd_kind_ok (int fd)
{
  struct stat st;

  if (fstat (fd, &st) != 0)
    return FALSE;
  return S_ISFIFO (st.st_mode) || S_ISSOCK (st.st_mode) || S_ISREG (st.st_mode) ||
         S_ISCHR (st.st_mode);
}

static gboolean
parse_stdio (CsbLaunchOptions *self,
             const char       *key,
             GVariant         *value,
             GUnixFDList      *fd_list,
             GError          **error)
{
  GVariantIter iter;
  guint32 target;
  gint32 handle;

  g_variant_iter_init (&iter, value);
  while (g_variant_iter_next (&iter, "{uh}", &target, &handle))
    {
      int fd;

      if (target > 2)
        return invalid (error, "option 'stdio': fd %u is not 0, 1 or 2", target);
      if (fd_list == NULL || handle < 0 || handle >= g_unix_fd_list_get_length (fd_list))
        return invalid (error, "option 'stdio': fd %u refers to handle %d, but the message "
                        "carries %d fds", target, handle,
                        fd_list ? g_unix_fd_list_get_length (fd_list) : 0);
      fd = g_unix_fd_list_get (fd_list, handle, NULL);
      if (fd < 0)
        return invalid (error, "option 'stdio': handle %d cannot be read", handle);
      if (isatty (fd))
        {
          close (fd);
          /* A terminal inside could push keystrokes into the caller's shell (TIOCSTI)
           * or rewrite its screen; clients relay their tty through OpenTerminal. */
          return invalid (error, "option 'stdio': fd %u is a terminal; terminals are never "
                          "handed to a sandbox (attach with OpenTerminal instead)", target);
        }
      if (!stdio_fd_kind_ok (fd))
        {
          close (fd);
          /* A folder fd lets the sandbox openat() its way around the host's tree. */
          return invalid (error, "option 'stdio': fd %u is not a pipe, socket, file or "
                          "character device (folders and other kinds are refused)", target);
        }
      if (self->stdio_fds[target] >= 0)
        close (self->stdio_fds[target]);
      self->stdio_fds[target] = fd;
    }
  self->has_stdio = TRUE;
  return TRUE;
}

static gboolean
parse_vm_memory (CsbLaunchOptions *self,
                 const char       *key,
                 GVariant         *value,
                 GUnixFDList      *fd_list,
                 GError          **error)
{
  guint32 mib = g_variant_get_uint32 (value);

  if (mib < 128 || mib > 1024 * 1024)
    return invalid (error, "option 'vm-memory-mib' is %u; use 128 to 1048576", mib);
  self->vm_memory_mib = mib;
  return TRUE;
}

static gboolean
parse_vm_cpus (CsbLaunchOptions *self,
               const char       *key,
               GVariant         *value,
               GUnixFDList      *fd_list,
               GError          **error)
{
  guint32 cpus = g_variant_get_uint32 (value);

  if (cpus < 1 || cpus > 256)
    return invalid (error, "option 'vm-cpus' is %u; use 1 to 256", cpus);
  self->vm_cpus = cpus;
  return TRUE;
}

static gboolean
parse_vm_image (CsbLaunchOptions *self,
                const char       *key,
                GVariant         *value,
                GUnixFDList      *fd_list,
                GError          **error)
{
  const char *path = g_variant_get_string (value, NULL);
  g_autofree char *resolved = NULL;
  struct stat st;

  if (!g_path_is_absolute (path))
    return invalid (error, "option 'vm-image' must be an absolute path, not '%s'", path);
  if ((resolved = realpath (path, NULL)) == NULL)
    return invalid (error, "option 'vm-image': cannot resolve '%s': %s", path,
                    g_strerror (errno));
  if (stat (resolved, &st) != 0 || !S_ISREG (st.st_mode))
    return invalid (error, "option 'vm-image': '%s' is not a regular file (a qcow2 or raw "
                    "disk image)", path);
  if (access (resolved, R_OK) != 0)
    return invalid (error, "option 'vm-image': '%s' cannot be read: %s", path,
                    g_strerror (errno));
  g_free (self->vm_image);
  self->vm_image = g_steal_pointer (&resolved);
  return TRUE;
}

#define BOOL_OPTION(k, field) { k, "b", G_STRUCT_OFFSET (CsbLaunchOptions, field), NULL }

static const OptionSpec option_specs[] = {
  { "backend", "s", 0, parse_backend },
  { "network", "b", 0, parse_network },
  BOOL_OPTION ("gh-token", gh_token),
  BOOL_OPTION ("shell", shell),
  { "display", "b", 0, parse_display },
  BOOL_OPTION ("private-display", private_display),
  BOOL_OPTION ("audio", audio),
  BOOL_OPTION ("gpu", gpu),
  BOOL_OPTION ("ssh-agent", ssh_agent),
  { "name", "s", 0, parse_name },
  { "env", "a{ss}", 0, parse_env },
  { "ro-binds", "as", 0, parse_binds },
  { "rw-binds", "as", 0, parse_binds },
  { "vm-memory-mib", "u", 0, parse_vm_memory },
  { "vm-cpus", "u", 0, parse_vm_cpus },
  { "vm-image", "s", 0, parse_vm_image },
  { "stdio", "a{uh}", 0, parse_stdio },
  { "network-allow", "as", 0, parse_network_patterns },
  { "network-deny", "as", 0, parse_network_patterns },
  { "project-mode", "s", 0, parse_project_mode },
};

G_STATIC_ASSERT (G_N_ELEMENTS (option_specs) <= 64); /* CsbLaunchOptions.given */

static gboolean
option_given (CsbLaunchOptions *self,
              const char       *key)
{
  for (guint i = 0; i < G_N_ELEMENTS (option_specs); i++)
    if (g_str_equal (option_specs[i].key, key))
      return (self->given & (G_GUINT64_CONSTANT (1) << i)) != 0;
  return FALSE;
}

/* The options only some backends give (the D-Bus XML's option docs and the README say
 * which). Asked for in the call, another backend refuses it: never silently less than
 * was asked. From a setting it is a default, not a request: turned off, and the
 * service's log says so (left_off). */
typedef struct
{
  const char *key;           /* which backends give it: csb-backend-options.h */
  gsize       offset;        /* of its gboolean */
  const char *lack;          /* what the others lack */
} BackendOnlyOption;

static const BackendOnlyOption backend_only_options[] = {
  { "gpu", G_STRUCT_OFFSET (CsbLaunchOptions, gpu), "it gives no host GPU (/dev/dri)" },
  { "audio", G_STRUCT_OFFSET (CsbLaunchOptions, audio),
    "a VM reaches no socket of your session, so no sound server" },
  { "ssh-agent", G_STRUCT_OFFSET (CsbLaunchOptions, ssh_agent),
    "a VM reaches no socket of your session, so no ssh-agent" },
};

static gboolean
check_backend_only_options (CsbLaunchOptions *self,
                            GError          **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (backend_only_options); i++)
    {
      const BackendOnlyOption *option = &backend_only_options[i];
      gboolean *on = &G_STRUCT_MEMBER (gboolean, self, option->offset);
      g_autofree char *givers = NULL;

      if (!*on || csb_backend_gives (self->backend, option->key))
        continue;
      givers = g_strjoinv (" or ", (char **) csb_backend_option_givers (option->key));
      if (option_given (self, option->key))
        {
          g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                       "option '%s' is not available with the %s backend: %s; use backend "
                       "%s, or turn '%s' off", option->key, self->backend, option->lack,
                       givers, option->key);
          return FALSE;
        }
      *on = FALSE;
      g_ptr_array_add (self->left_off,
                       g_strdup_printf ("the '%s' setting is on, but the %s backend cannot "
                                        "give it (%s; backend %s can): it runs without",
                                        option->key, self->backend, option->lack, givers));
    }
  return TRUE;
}

/* The keys Launch accepts, in the table's order (for the test that the D-Bus XML
 * documents each one). */
GStrv
csb_launch_options_dup_keys (void)
{
  GStrv keys = g_new0 (char *, G_N_ELEMENTS (option_specs) + 1);

  for (guint i = 0; i < G_N_ELEMENTS (option_specs); i++)
    keys[i] = g_strdup (option_specs[i].key);
  return keys;
}

/* The GVariant type string of the Launch option @key, or NULL if there is none. */
const char *
csb_launch_option_get_type (const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS (option_specs); i++)
    if (g_str_equal (option_specs[i].key, key))
      return option_specs[i].type;
  return NULL;
}

gboolean
csb_launch_options_parse (CsbLaunchOptions *self,
                          GVariant         *options,
                          GUnixFDList      *fd_list,
                          GError          **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (g_variant_is_of_type (options, G_VARIANT_TYPE_VARDICT), FALSE);

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr(GVariant) owned = value;
      const OptionSpec *spec = NULL;

      for (guint i = 0; i < G_N_ELEMENTS (option_specs); i++)
        if (g_str_equal (option_specs[i].key, key))
          {
            spec = &option_specs[i];
            self->given |= G_GUINT64_CONSTANT (1) << i;
          }

      if (spec == NULL)
        {
          g_autoptr(GString) known = g_string_new (NULL);

          for (guint i = 0; i < G_N_ELEMENTS (option_specs); i++)
            g_string_append_printf (known, "%s%s", i ? ", " : "", option_specs[i].key);
          return invalid (error, "unknown option '%s' (known options: %s)", key, known->str);
        }

      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (spec->type)))
        return invalid (error, "option '%s' must be of type '%s', not '%s'",
                        key, spec->type, g_variant_get_type_string (value));

      if (spec->parse != NULL)
        {
          if (!spec->parse (self, key, value, fd_list, error))
            return FALSE;
        }
      else
        G_STRUCT_MEMBER (gboolean, self, spec->offset) = g_variant_get_boolean (value);
    }

  if (self->vm_image != NULL && g_strcmp0 (self->backend, "vm") != 0)
    return invalid (error, "option 'vm-image' needs the vm backend (backend is '%s')",
                    self->backend ? self->backend : "");
  if (!check_backend_only_options (self, error))
    return FALSE;

  /* The host's display and a private one cannot both be WAYLAND_DISPLAY: a private
   * display replaces the default (the display setting), never a display asked for. */
  if (self->private_display && self->display && self->display_given)
    return invalid (error, "options 'display' (the host's display) and 'private-display' "
                    "exclude each other; turn 'display' off for a private display");
  if (self->private_display)
    self->display = FALSE;
  if (self->private_display && !csb_backend_gives (self->backend, "private-display"))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "option 'private-display' is not available with the %s backend yet (only "
                   "bwrap and container start the headless compositor); use backend bwrap "
                   "or container", self->backend ? self->backend : "");
      return FALSE;
    }

  if (self->network_allow->len > 0)
    {
      if (self->network_given && !self->network)
        return invalid (error, "options 'network' (false) and 'network-allow' contradict each "
                        "other: a filtered network needs network on");
      self->network = TRUE;
    }
  else if (self->network_deny->len > 0)
    return invalid (error, "option 'network-deny' needs 'network-allow' (a filtered network)");

  return TRUE;
}

gboolean
csb_validate_env_name (const char *name,
                       GError    **error)
{
  if (name[0] == '\0')
    return invalid (error, "option 'env': an environment variable name is empty");
  if (!(g_ascii_isalpha (name[0]) || name[0] == '_'))
    return invalid (error, "option 'env': '%s' is not a valid variable name", name);
  for (const char *p = name; *p; p++)
    if (!(g_ascii_isalnum (*p) || *p == '_'))
      return invalid (error, "option 'env': '%s' is not a valid variable name", name);
  return TRUE;
}

gboolean
csb_validate_command (const char * const *command,
                      GError            **error)
{
  guint n = g_strv_length ((char **) command);

  if (n > MAX_COMMAND_ARGS)
    return invalid (error, "the command has %u arguments; at most %d are allowed",
                    n, MAX_COMMAND_ARGS);
  if (n > 0 && command[0][0] == '\0')
    return invalid (error, "the command's first word (the program) is empty");
  return TRUE;
}

/* TRUE if @ancestor is @path or one of its parent folders. Both canonical. */
static gboolean
path_is_within (const char *path,
                const char *ancestor)
{
  gsize len = strlen (ancestor);

  if (g_str_equal (ancestor, "/"))
    return TRUE;
  return strncmp (path, ancestor, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

static char *
resolve_existing (const char *what,
                  const char *path,
                  GError    **error)
{
  char *resolved;
  int saved;

  if (!g_path_is_absolute (path))
    {
      invalid (error, "%s '%s' is not an absolute path", what, path);
      return NULL;
    }
  resolved = realpath (path, NULL);
  if (resolved == NULL)
    {
      saved = errno;
      if (saved == ENOENT || saved == ENOTDIR)
        invalid (error, "%s '%s' does not exist", what, path);
      else
        invalid (error, "%s '%s' cannot be opened: %s", what, path, g_strerror (saved));
      return NULL;
    }
  return resolved;
}

gboolean
csb_validate_project_dir (const char *path,
                          const char *home,
                          char      **out_resolved,
                          GError    **error)
{
  g_autofree char *resolved = NULL;
  g_autofree char *real_home = NULL;
  struct stat st;
  static const char * const forbidden[] = { "/proc", "/sys", "/dev", NULL };

  g_return_val_if_fail (path != NULL, FALSE);

  if (*path == '\0')
    return invalid (error, "the project folder is empty; give an absolute path to a folder");
  if ((resolved = resolve_existing ("project folder", path, error)) == NULL)
    return FALSE;
  if (stat (resolved, &st) != 0)
    return invalid (error, "project folder '%s' cannot be read: %s", path, g_strerror (errno));
  if (!S_ISDIR (st.st_mode))
    return invalid (error, "project folder '%s' is not a folder", path);
  if (g_str_equal (resolved, "/"))
    return invalid (error, "project folder '%s' is the root folder; choose a project folder", path);

  real_home = realpath (home, NULL);
  if (real_home == NULL)
    real_home = g_canonicalize_filename (home, "/");
  if (g_str_equal (resolved, real_home))
    return invalid (error, "project folder '%s' is your home folder; choose a project folder "
                    "inside it", path);
  if (path_is_within (real_home, resolved))
    return invalid (error, "project folder '%s' contains your home folder; choose a project "
                    "folder inside it", path);
  for (guint i = 0; forbidden[i] != NULL; i++)
    if (path_is_within (resolved, forbidden[i]))
      return invalid (error, "project folder '%s' is a system folder (%s)", path, forbidden[i]);
  /* Read-write inside, these would give the sandbox what it must never have: the
   * folder your own claude reads, every sandbox's state (other projects' Claude
   * homes, review layers, records the service trusts), your session's sockets. */
  {
    g_autofree char *claude_dir = g_build_filename (real_home, ".claude", NULL);
    g_autofree char *state = g_build_filename (g_get_user_state_dir (), "claude-sandbox", NULL);
    g_autofree char *real_state = realpath (state, NULL);
    g_autofree char *real_runtime = realpath (g_get_user_runtime_dir (), NULL);

    if (path_is_within (resolved, claude_dir))
      return invalid (error, "project folder '%s' is in your own Claude folder (%s)", path,
                      claude_dir);
    if (path_is_within (real_state ? real_state : state, resolved))
      return invalid (error, "project folder '%s' contains the state folder of claude-sandbox "
                      "(%s)", path, state);
    if (real_runtime != NULL && path_is_within (real_runtime, resolved))
      return invalid (error, "project folder '%s' contains your runtime folder (%s)", path,
                      real_runtime);
  }

  if (out_resolved)
    *out_resolved = g_steal_pointer (&resolved);
  return TRUE;
}

gboolean
csb_validate_bind_path (const char *option,
                        const char *path,
                        const char *home,
                        char      **out_resolved,
                        GError    **error)
{
  g_autofree char *what = g_strdup_printf ("option '%s': path", option);
  g_autofree char *resolved = NULL;
  g_autofree char *real_home = realpath (home, NULL);

  if ((resolved = resolve_existing (what, path, error)) == NULL)
    return FALSE;
  if (g_str_equal (resolved, "/"))
    return invalid (error, "option '%s': '%s' is the root folder", option, path);
  if (real_home != NULL && path_is_within (real_home, resolved))
    return invalid (error, "option '%s': '%s' is or contains your home folder", option, path);
  if (path_is_within (resolved, "/proc") || path_is_within (resolved, "/sys") ||
      path_is_within (resolved, "/dev"))
    return invalid (error, "option '%s': '%s' is a system folder", option, path);
  if (out_resolved)
    *out_resolved = g_steal_pointer (&resolved);
  return TRUE;
}

/* The shell option's shell: the setting, else the user's login shell if the
 * sandbox can see it (it lives under /usr), else bash. */
char *
csb_user_shell (GSettings *settings)
{
  g_autofree char *configured = settings ? g_settings_get_string (settings, "shell") : NULL;
  struct passwd *pw;

  if (configured != NULL && *configured != '\0')
    return g_steal_pointer (&configured);
  pw = getpwuid (getuid ());
  if (pw != NULL && pw->pw_shell != NULL &&
      (g_str_has_prefix (pw->pw_shell, "/usr/") || g_str_has_prefix (pw->pw_shell, "/bin/")) &&
      !g_str_has_suffix (pw->pw_shell, "nologin") && !g_str_has_suffix (pw->pw_shell, "false") &&
      g_file_test (pw->pw_shell, G_FILE_TEST_IS_EXECUTABLE))
    return g_strdup (pw->pw_shell);
  return g_strdup ("/bin/bash");
}
