/* claude-sandbox — the terminal client of org.example.ClaudeSandbox.
 *
 * Command-line compatible with claude-code-nix-sandbox: options, then the project
 * folder, then claude's own arguments, which are never parsed here (strict POSIX
 * parsing stops at the first non-option). The sandbox runs in the service, not
 * under us: on a terminal we relay the tty to the sandbox's pty (a terminal fd is
 * never handed in, see DESIGN.md), in scripts we hand over our stdio fds.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <glib/gi18n.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>

#include "csb-cli-common.h"
#include "csb-cli-metrics.h"
#include "csb-cli-remote.h"
#include "csb-cli-sync.h"
#include "csb-cli-session.h"
#include "csb-dbus.h"
#include "csb-error.h"
#include "csb-escape-filter.h"
#include "csb-names.h"
#include "csb-quote.h"

static gboolean opt_shell;
static gboolean opt_command;
static gboolean opt_gh_token;
static int opt_network = -1;
static char *opt_backend;
static char *opt_name;
static char **opt_env;
static char **opt_ro_binds;
static char **opt_rw_binds;
static char **opt_allow_hosts;
static char **opt_deny_hosts;
static gboolean opt_display;
static gboolean opt_private_display;
static char *opt_screenshot;
static gboolean opt_audio;
static gboolean opt_gpu;
static gboolean opt_ssh_agent;
static int opt_vm_memory = -1;
static int opt_vm_cpus = -1;
static char *opt_vm_image;
static gboolean opt_list;
static gboolean opt_metrics;
static gboolean opt_sync;
static gboolean opt_watch;
static int opt_watch_interval = 5;
static char *opt_prefer;
static gboolean opt_delete_many;
static gboolean opt_backends;
static gboolean opt_json;
static gboolean opt_complete_ids;
static char *opt_attach;
static char *opt_stop;
static char *opt_remove;
static gboolean opt_version;
static gboolean opt_raw;
static gboolean opt_review;
static char *opt_changes;
static char *opt_diff;
static char *opt_apply;
static char *opt_discard;
static char *opt_host;
static gboolean opt_bus_bridge;

/* --display is the host's display; --display=private a headless one of its own. */
static gboolean
on_display_option (const char *option_name,
                   const char *value,
                   gpointer    data,
                   GError    **error)
{
  if (value == NULL || g_str_equal (value, "host"))
    opt_display = TRUE, opt_private_display = FALSE;
  else if (g_str_equal (value, "private"))
    opt_private_display = TRUE, opt_display = FALSE;
  else
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--display takes host or private, not '%s'"), value);
      return FALSE;
    }
  return TRUE;
}

static gboolean
on_network_option (const char *option_name,
                   const char *value,
                   gpointer    data,
                   GError    **error)
{
  /* The last of --network and --no-network wins, as with most tools. */
  opt_network = g_str_equal (option_name, "--network");
  return TRUE;
}

static const GOptionEntry launch_entries[] = {
  { "shell", 0, 0, G_OPTION_ARG_NONE, &opt_shell,
    N_("Run an interactive shell instead of Claude Code"), NULL },
  { "gh-token", 0, 0, G_OPTION_ARG_NONE, &opt_gh_token,
    N_("Forward the GitHub token (GH_TOKEN, ~/.config/gh)"), NULL },
  { "network", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_network_option,
    N_("Reach the internet and the LAN, not the host's own services "
       "(the default unless configured otherwise)"), NULL },
  { "no-network", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_network_option,
    N_("Run without any network access"), NULL },
  { "backend", 0, 0, G_OPTION_ARG_STRING, &opt_backend,
    N_("Isolation: bwrap (the default), vm or container"),
    N_("BACKEND") },
  { "name", 0, 0, G_OPTION_ARG_STRING, &opt_name,
    N_("A name for the sandbox (default: the folder's name)"), N_("NAME") },
  { "env", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_env,
    N_("Set an environment variable inside (repeatable)"), N_("NAME=VALUE") },
  { "ro-bind", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_ro_binds,
    N_("Make a host path visible read-only at the same place (repeatable)"), N_("PATH") },
  { "rw-bind", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_rw_binds,
    N_("Make a host path visible read-write at the same place (repeatable)"), N_("PATH") },
  { "allow-host", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_allow_hosts,
    N_("Filter the network: allow only this host (example.com, *.example.com; repeatable)"),
    N_("PATTERN") },
  { "deny-host", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_deny_hosts,
    N_("With --allow-host: refuse this host even so (repeatable)"), N_("PATTERN") },
  { "display", 0, G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK, on_display_option,
    N_("Give access to your display (Wayland, X11), or with =private a headless display "
       "of the sandbox's own (see --screenshot)"), "host|private" },
  { "audio", 0, 0, G_OPTION_ARG_NONE, &opt_audio,
    N_("Give access to audio (PipeWire, PulseAudio)"), NULL },
  { "gpu", 0, 0, G_OPTION_ARG_NONE, &opt_gpu,
    N_("Give access to the GPU (/dev/dri)"), NULL },
  { "ssh-agent", 0, 0, G_OPTION_ARG_NONE, &opt_ssh_agent,
    N_("Forward the SSH agent socket"), NULL },
  { "vm-memory", 0, 0, G_OPTION_ARG_INT, &opt_vm_memory,
    N_("Memory of the virtual machine, in MiB (vm backend)"), N_("MIB") },
  { "vm-cpus", 0, 0, G_OPTION_ARG_INT, &opt_vm_cpus,
    N_("Number of CPUs of the virtual machine (vm backend)"), N_("N") },
  { "vm-image", 0, 0, G_OPTION_ARG_FILENAME, &opt_vm_image,
    N_("Boot a disk image (qcow2 or raw) instead of the host's /usr; changes go to a "
       "per-sandbox overlay (vm backend)"), N_("PATH") },
  { "review", 0, 0, G_OPTION_ARG_NONE, &opt_review,
    N_("Review mode: the sandbox's writes to the project wait in a layer of their own "
       "until you apply them (--changes, --diff, --apply)"), NULL },
  { "command", 'c', 0, G_OPTION_ARG_NONE, &opt_command,
    N_("Run the arguments after PROJECT-DIR as the command instead of claude"), NULL },
  { NULL }
};

static const GOptionEntry manage_entries[] = {
  { "list", 0, 0, G_OPTION_ARG_NONE, &opt_list,
    N_("List the sandboxes, running and ended, and what each uses (CPU time, memory, "
       "processes, disk; Claude's turns, tokens and cost once it has worked)"), NULL },
  { "metrics", 0, 0, G_OPTION_ARG_NONE, &opt_metrics,
    N_("Show what the sandboxes (all, or the IDs given after it) and their machine use: "
       "CPU, memory, processes, disk, Claude's turns, tokens and cost"), NULL },
  { "backends", 0, 0, G_OPTION_ARG_NONE, &opt_backends,
    N_("List the backends and whether they can run here"), NULL },
  { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json,
    N_("With --list, --metrics or --backends: print JSON (see claude-sandbox(1) for its "
       "shape)"), NULL },
  /* For shell completion: the sandbox IDs, one a line. */
  { "complete-ids", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &opt_complete_ids, NULL, NULL },
  { "attach", 0, 0, G_OPTION_ARG_STRING, &opt_attach,
    N_("Attach to the terminal of a sandbox"), N_("ID") },
  { "stop", 0, 0, G_OPTION_ARG_STRING, &opt_stop,
    N_("Stop a sandbox and wait until it has ended"), N_("ID") },
  { "screenshot", 0, 0, G_OPTION_ARG_STRING, &opt_screenshot,
    N_("Save a PNG of the private display of sandbox ID in FILE"), N_("ID FILE") },
  { "remove", 0, 0, G_OPTION_ARG_STRING, &opt_remove,
    N_("Forget an ended sandbox (its logs stay on disk)"), N_("ID") },
  { "changes", 0, 0, G_OPTION_ARG_STRING, &opt_changes,
    N_("List what a review-mode sandbox changed and is not applied yet"), N_("ID") },
  { "diff", 0, 0, G_OPTION_ARG_STRING, &opt_diff,
    N_("Show the changes of a review-mode sandbox as a diff (all, or the PATHs given after "
       "the ID)"), N_("ID") },
  { "apply", 0, 0, G_OPTION_ARG_STRING, &opt_apply,
    N_("Apply the changes of a review-mode sandbox to the project folder (all but protected "
       "ones, or the PATHs given after the ID)"), N_("ID") },
  { "discard", 0, 0, G_OPTION_ARG_STRING, &opt_discard,
    N_("Discard the changes of a review-mode sandbox (all, or the PATHs given after the ID)"),
    N_("ID") },
  { "raw", 0, 0, G_OPTION_ARG_NONE, &opt_raw,
    N_("Pass the sandbox's output to the terminal unfiltered (see below)"), NULL },
  { "host", 0, 0, G_OPTION_ARG_STRING, &opt_host,
    N_("Use the service of another machine over ssh (its config, keys and agent "
       "apply); PROJECT-DIR and paths are on that machine"), N_("[USER@]HOST") },
  { "sync", 0, 0, G_OPTION_ARG_NONE, &opt_sync,
    N_("With --host: make LOCAL-DIR here and REMOTE-DIR there the same (rsync over ssh, "
       "both ways, .gitignore honoured); what changed on both sides is reported, not "
       "copied"), NULL },
  { "watch", 0, 0, G_OPTION_ARG_NONE, &opt_watch,
    N_("With --sync: keep syncing, after each change here and every few seconds for the "
       "remote, until interrupted"), NULL },
  { "prefer", 0, 0, G_OPTION_ARG_STRING, &opt_prefer,
    N_("With --sync: for what changed on both sides, keep this side's (here) or the "
       "remote's (there) instead of reporting a conflict"), N_("here|there") },
  { "delete-many", 0, 0, G_OPTION_ARG_NONE, &opt_delete_many,
    N_("With --sync: carry out deletions even when they are more than 50 and more than "
       "half of the files (otherwise they wait, as if something had gone wrong)"), NULL },
  { "watch-interval", 0, 0, G_OPTION_ARG_INT, &opt_watch_interval,
    N_("With --watch: how often to look for changes on the remote (default 5)"),
    N_("SECONDS") },
  /* The remote end of --host: splices stdio with the session bus socket. */
  { "bus-bridge", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &opt_bus_bridge, NULL, NULL },
  { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version,
    N_("Show the version and exit"), NULL },
  { NULL }
};

static int G_GNUC_PRINTF (1, 2)
usage_error (const char *format,
             ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_printerr ("claude-sandbox: %s\n", message);
  g_printerr (_("Try 'claude-sandbox --help' for more information.\n"));
  return CSB_CLI_EXIT_USAGE;
}

static GDBusConnection *
connect_to_service (void)
{
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  if (opt_host != NULL)
    {
      bus = csb_cli_remote_connect (opt_host, &error);
      if (bus == NULL)
        {
          csb_cli_print_error ("%s", error->message);
          return NULL;
        }
    }
  else
    bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus == NULL)
    {
      csb_cli_print_error (_("cannot connect to the D-Bus session bus: %s\n"
                             "The session bus is not running (or DBUS_SESSION_BUS_ADDRESS is "
                             "wrong). Run claude-sandbox in a desktop or login session, or start "
                             "a bus for it with: dbus-run-session -- claude-sandbox …"),
                           error->message);
      return NULL;
    }

  /* Ping activates the service if needed, so "not installed" is told apart from
   * "no such sandbox" before anything else is asked. */
  reply = g_dbus_connection_call_sync (bus, CSB_BUS_NAME, CSB_MANAGER_PATH,
                                       "org.freedesktop.DBus.Peer", "Ping", NULL, NULL,
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  if (reply == NULL)
    {
      csb_cli_print_dbus_error (error);
      return NULL;
    }
  return g_steal_pointer (&bus);
}

/* Accepts an ID as --list shows it, or the sandbox's whole object path. */
static char *
sandbox_path_for_id (const char *id)
{
  if (g_str_has_prefix (id, CSB_SANDBOX_PATH_PREFIX))
    id += strlen (CSB_SANDBOX_PATH_PREFIX);
  if (*id == '\0')
    return NULL;
  for (const char *p = id; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_')
      return NULL;
  return g_strconcat (CSB_SANDBOX_PATH_PREFIX, id, NULL);
}

static CsbDBusSandbox *
get_sandbox (GDBusConnection *bus,
             const char      *id_or_path,
             GError         **error)
{
  g_autofree char *path = sandbox_path_for_id (id_or_path);
  g_autoptr(CsbDBusSandbox) sandbox = NULL;

  if (path == NULL)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                   _("'%s' is not a sandbox ID (see claude-sandbox --list)"), id_or_path);
      return NULL;
    }
  sandbox = csb_dbus_sandbox_proxy_new_sync (bus, G_DBUS_PROXY_FLAGS_NONE, CSB_BUS_NAME, path,
                                             NULL, error);
  if (sandbox == NULL)
    return NULL;
  /* The proxy loads the properties when it is made; none means no such object. */
  if (csb_dbus_sandbox_get_id (sandbox) == NULL)
    {
      if (opt_host != NULL)
        g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_FOUND,
                     _("there is no sandbox '%s' on %s (see claude-sandbox --host=%s --list)"),
                     id_or_path, opt_host, opt_host);
      else
        g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_FOUND,
                     _("there is no sandbox '%s' (see claude-sandbox --list)"), id_or_path);
      return NULL;
    }
  /* Launching and stopping a VM can take longer than D-Bus's default 25 s. */
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (sandbox), G_MAXINT);
  return g_steal_pointer (&sandbox);
}

/* ---- launching -------------------------------------------------------------------- */

/* Every launch option is here, and forwarded by run_remote_launch() too (a launch
 * with --host runs the remote CLI with them; one left out would be silently lost). */
static gboolean
launch_options_given (void)
{
  return opt_shell || opt_command || opt_gh_token || opt_network >= 0 || opt_backend ||
         opt_name || opt_env || opt_ro_binds || opt_rw_binds || opt_allow_hosts ||
         opt_deny_hosts || opt_display || opt_private_display || opt_audio || opt_gpu || opt_ssh_agent ||
         opt_vm_memory >= 0 || opt_vm_cpus >= 0 || opt_vm_image || opt_review;
}

static void
add_env_from_host (GVariantBuilder *env,
                   const char      *name)
{
  const char *value = g_getenv (name);

  if (value != NULL && *value != '\0')
    g_variant_builder_add (env, "{ss}", name, value);
}

static gboolean
add_binds (GVariantBuilder *options,
           const char      *key,
           char           **paths,
           const char      *cwd,
           GError         **error)
{
  GVariantBuilder builder;

  if (paths == NULL)
    return TRUE;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_STRING_ARRAY);
  for (guint i = 0; paths[i] != NULL; i++)
    {
      g_autofree char *absolute = NULL;

      if (*paths[i] == '\0')
        {
          g_variant_builder_clear (&builder);
          g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                       _("--%s needs a path"), g_str_equal (key, "ro-binds") ? "ro-bind"
                                                                              : "rw-bind");
          return FALSE;
        }
      absolute = g_canonicalize_filename (paths[i], cwd);
      g_variant_builder_add (&builder, "s", absolute);
    }
  g_variant_builder_add (options, "{sv}", key, g_variant_builder_end (&builder));
  return TRUE;
}

/* --backend, checked here so that a typo is told before the service starts. */
static gboolean
add_backend_option (GVariantBuilder *options,
                    GError         **error)
{
  static const char * const backends[] = { "bwrap", "vm", "container", NULL };

  if (opt_backend == NULL)
    return TRUE;
  if (!g_strv_contains (backends, opt_backend))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                   _("unknown backend '%s' (use bwrap, vm or container)"), opt_backend);
      return FALSE;
    }
  g_variant_builder_add (options, "{sv}", "backend", g_variant_new_string (opt_backend));
  return TRUE;
}

/* The options that are given as they are: switches, the name, the VM's size and
 * image, the host filters. */
static void
add_plain_options (GVariantBuilder *options,
                   const char      *cwd)
{
  if (opt_network >= 0)
    g_variant_builder_add (options, "{sv}", "network", g_variant_new_boolean (opt_network));
  if (opt_gh_token)
    g_variant_builder_add (options, "{sv}", "gh-token", g_variant_new_boolean (TRUE));
  if (opt_review)
    g_variant_builder_add (options, "{sv}", "project-mode", g_variant_new_string ("review"));
  if (opt_shell)
    g_variant_builder_add (options, "{sv}", "shell", g_variant_new_boolean (TRUE));
  if (opt_display)
    g_variant_builder_add (options, "{sv}", "display", g_variant_new_boolean (TRUE));
  if (opt_private_display)
    g_variant_builder_add (options, "{sv}", "private-display", g_variant_new_boolean (TRUE));
  if (opt_audio)
    g_variant_builder_add (options, "{sv}", "audio", g_variant_new_boolean (TRUE));
  if (opt_gpu)
    g_variant_builder_add (options, "{sv}", "gpu", g_variant_new_boolean (TRUE));
  if (opt_ssh_agent)
    g_variant_builder_add (options, "{sv}", "ssh-agent", g_variant_new_boolean (TRUE));
  if (opt_name != NULL)
    g_variant_builder_add (options, "{sv}", "name", g_variant_new_string (opt_name));
  if (opt_vm_memory >= 0)
    g_variant_builder_add (options, "{sv}", "vm-memory-mib",
                           g_variant_new_uint32 (opt_vm_memory));
  if (opt_vm_cpus >= 0)
    g_variant_builder_add (options, "{sv}", "vm-cpus", g_variant_new_uint32 (opt_vm_cpus));
  if (opt_vm_image != NULL)
    {
      /* The service resolves nothing against our folder: an absolute path. */
      g_autofree char *image = g_canonicalize_filename (opt_vm_image, cwd);

      g_variant_builder_add (options, "{sv}", "vm-image", g_variant_new_string (image));
    }

  if (opt_allow_hosts != NULL)
    g_variant_builder_add (options, "{sv}", "network-allow",
                           g_variant_new_strv ((const char * const *) opt_allow_hosts, -1));
  if (opt_deny_hosts != NULL)
    g_variant_builder_add (options, "{sv}", "network-deny",
                           g_variant_new_strv ((const char * const *) opt_deny_hosts, -1));
}

/* The env option: the terminal's variables when @interactive, NO_COLOR, then --env. */
static gboolean
add_env_option (GVariantBuilder *options,
                gboolean         interactive,
                GError         **error)
{
  GVariantBuilder env;
  gboolean have_env = FALSE;

  g_variant_builder_init (&env, G_VARIANT_TYPE ("a{ss}"));
  if (interactive)
    {
      /* The program inside draws for our terminal, so it must know what it is. */
      add_env_from_host (&env, "TERM");
      add_env_from_host (&env, "COLORTERM");
      add_env_from_host (&env, "LANG");
      have_env = g_getenv ("TERM") || g_getenv ("COLORTERM") || g_getenv ("LANG");
    }
  /* The user's wish for no colours (https://no-color.org) holds inside too. */
  if (g_getenv ("NO_COLOR") != NULL && *g_getenv ("NO_COLOR") != '\0')
    {
      add_env_from_host (&env, "NO_COLOR");
      have_env = TRUE;
    }
  for (guint i = 0; opt_env != NULL && opt_env[i] != NULL; i++)
    {
      const char *eq = strchr (opt_env[i], '=');
      g_autofree char *name = NULL;

      if (eq == NULL || eq == opt_env[i])
        {
          g_variant_builder_clear (&env);
          g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                       _("--env '%s' is not of the form NAME=VALUE"), opt_env[i]);
          return FALSE;
        }
      /* Given later, so it wins over the terminal's variables above. */
      name = g_strndup (opt_env[i], eq - opt_env[i]);
      g_variant_builder_add (&env, "{ss}", name, eq + 1);
      have_env = TRUE;
    }
  if (have_env)
    g_variant_builder_add (options, "{sv}", "env", g_variant_builder_end (&env));
  else
    g_variant_builder_clear (&env);
  return TRUE;
}

/* The a{sv} of Launch: only what was given on the command line, so that the
 * user's GSettings defaults apply to everything else. */
static gboolean
build_options (GVariantBuilder *options,
               gboolean         interactive,
               const char      *cwd,
               GError         **error)
{
  if (!add_backend_option (options, error))
    return FALSE;
  add_plain_options (options, cwd);
  if (!add_binds (options, "ro-binds", opt_ro_binds, cwd, error) ||
      !add_binds (options, "rw-binds", opt_rw_binds, cwd, error))
    return FALSE;
  return add_env_option (options, interactive, error);
}

/* Adds the stdio option: our fds 0, 1 and 2 as they are, except a terminal, which
 * the service refuses (and rightly): a stderr on a tty gets a pipe that we relay. */
static gboolean
add_stdio (GVariantBuilder *options,
           GUnixFDList     *fd_list,
           int             *out_stderr_pipe,
           GError         **error)
{
  GVariantBuilder stdio;

  *out_stderr_pipe = -1;
  g_variant_builder_init (&stdio, G_VARIANT_TYPE ("a{uh}"));
  for (int target = 0; target < 3; target++)
    {
      int fd = target;
      int pipe_fds[2] = { -1, -1 };
      int handle;

      if (isatty (fd))
        {
          if (!g_unix_open_pipe (pipe_fds, FD_CLOEXEC, error))
            {
              g_variant_builder_clear (&stdio);
              return FALSE;
            }
          fd = pipe_fds[1];
        }
      handle = g_unix_fd_list_append (fd_list, fd, error);
      if (pipe_fds[1] >= 0)
        close (pipe_fds[1]);
      if (handle < 0)
        {
          if (pipe_fds[0] >= 0)
            close (pipe_fds[0]);
          g_variant_builder_clear (&stdio);
          return FALSE;
        }
      if (pipe_fds[0] >= 0)
        {
          if (*out_stderr_pipe >= 0)
            close (*out_stderr_pipe);
          *out_stderr_pipe = pipe_fds[0];
        }
      g_variant_builder_add (&stdio, "{uh}", (guint32) target, handle);
    }
  g_variant_builder_add (options, "{sv}", "stdio", g_variant_builder_end (&stdio));
  return TRUE;
}

static int
run_launch (const char         *project_dir,
            const char * const *command)
{
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(CsbDBusManager) manager = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GUnixFDList) fd_list = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *path = NULL;
  g_autofree char *id = NULL;
  g_auto(GVariantBuilder) options = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  gboolean interactive = isatty (STDIN_FILENO) || isatty (STDOUT_FILENO);
  int stderr_pipe = -1;

  if (!build_options (&options, interactive, cwd, &error))
    return usage_error ("%s", error->message);
  if ((bus = connect_to_service ()) == NULL)
    return CSB_CLI_EXIT_FAILED;
  if (!interactive)
    {
      fd_list = g_unix_fd_list_new ();
      if (!add_stdio (&options, fd_list, &stderr_pipe, &error))
        {
          csb_cli_print_error (_("cannot pass standard input and output: %s"), error->message);
          return CSB_CLI_EXIT_FAILED;
        }
    }

  manager = csb_dbus_manager_proxy_new_sync (bus,
                                             G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                             G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                             CSB_BUS_NAME, CSB_MANAGER_PATH, NULL, &error);
  if (manager == NULL)
    {
      if (stderr_pipe >= 0)
        close (stderr_pipe);
      csb_cli_print_dbus_error (error);
      return CSB_CLI_EXIT_FAILED;
    }
  /* Launch returns once the sandbox runs; a VM's boot can take long. */
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (manager), G_MAXINT);

  if (!csb_dbus_manager_call_launch_sync (manager, project_dir, command,
                                          g_variant_builder_end (&options), fd_list, &path,
                                          NULL, NULL, &error))
    {
      if (stderr_pipe >= 0)
        close (stderr_pipe);
      csb_cli_print_dbus_error (error);
      return CSB_CLI_EXIT_FAILED;
    }
  /* Our copies of the fds would keep the sandbox's stdin open and hide its EOF. */
  g_clear_object (&fd_list);

  id = g_path_get_basename (path);
  sandbox = get_sandbox (bus, path, &error);
  if (sandbox == NULL)
    {
      if (stderr_pipe >= 0)
        close (stderr_pipe);
      csb_cli_print_dbus_error (error);
      return CSB_CLI_EXIT_FAILED;
    }

  if (interactive)
    return csb_cli_run_interactive (sandbox, id, opt_raw);
  return csb_cli_run_with_stdio (sandbox, id, stderr_pipe, opt_raw);
}

/* ---- managing ---------------------------------------------------------------------- */

static const char *
or_empty (const char *text)
{
  return text != NULL ? text : "";
}

static int
compare_started_at (gconstpointer a,
                    gconstpointer b)
{
  guint64 ta = csb_dbus_sandbox_get_started_at (*(CsbDBusSandbox **) a);
  guint64 tb = csb_dbus_sandbox_get_started_at (*(CsbDBusSandbox **) b);

  return ta < tb ? -1 : ta > tb;
}

/* The service's sandboxes, oldest first; NULL (the error told) if it cannot say. */
static GPtrArray *
list_sandboxes (GDBusConnection *bus)
{
  g_autoptr(GDBusObjectManager) object_manager = NULL;
  g_autoptr(GPtrArray) sandboxes = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  GList *objects;

  /* On our connection, which is over ssh with --host. */
  object_manager = csb_dbus_object_manager_client_new_sync (
    bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE, CSB_BUS_NAME, CSB_MANAGER_PATH, NULL, &error);
  if (object_manager == NULL)
    {
      csb_cli_print_dbus_error (error);
      return NULL;
    }

  objects = g_dbus_object_manager_get_objects (object_manager);
  for (GList *l = objects; l != NULL; l = l->next)
    {
      CsbDBusSandbox *sandbox = csb_dbus_object_get_sandbox (CSB_DBUS_OBJECT (l->data));

      if (sandbox != NULL)
        g_ptr_array_add (sandboxes, sandbox);
    }
  g_list_free_full (objects, g_object_unref);
  g_ptr_array_sort (sandboxes, compare_started_at);
  return g_steal_pointer (&sandboxes);
}

static void
add_string_member (JsonBuilder *builder,
                   const char  *name,
                   const char  *value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, or_empty (value));
}

static void
add_strv_member (JsonBuilder        *builder,
                 const char         *name,
                 const char * const *values)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_array (builder);
  for (guint i = 0; values != NULL && values[i] != NULL; i++)
    json_builder_add_string_value (builder, values[i]);
  json_builder_end_array (builder);
}

/* The shape is a contract with scripts (claude-sandbox(1), JSON OUTPUT): add members,
 * never rename or retype one. */
static int
print_list_json (GPtrArray *sandboxes,
                 GPtrArray *metrics)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "sandboxes");
  json_builder_begin_array (builder);
  for (guint i = 0; i < sandboxes->len; i++)
    {
      CsbDBusSandbox *sandbox = g_ptr_array_index (sandboxes, i);
      const char *state = csb_dbus_sandbox_get_state (sandbox);
      GVariant *plants = csb_dbus_sandbox_get_plants (sandbox);

      json_builder_begin_object (builder);
      add_string_member (builder, "id", csb_dbus_sandbox_get_id (sandbox));
      add_string_member (builder, "object_path",
                         g_dbus_proxy_get_object_path (G_DBUS_PROXY (sandbox)));
      add_string_member (builder, "name", csb_dbus_sandbox_get_name (sandbox));
      add_string_member (builder, "backend", csb_dbus_sandbox_get_backend (sandbox));
      add_string_member (builder, "project_dir", csb_dbus_sandbox_get_project_dir (sandbox));
      add_strv_member (builder, "command", csb_dbus_sandbox_get_command (sandbox));
      add_string_member (builder, "state", state);
      json_builder_set_member_name (builder, "exit_status");
      if (csb_cli_state_has_ended (state) && csb_dbus_sandbox_get_exit_status (sandbox) >= 0)
        json_builder_add_int_value (builder, csb_dbus_sandbox_get_exit_status (sandbox));
      else
        json_builder_add_null_value (builder);
      add_string_member (builder, "error", csb_dbus_sandbox_get_error (sandbox));
      json_builder_set_member_name (builder, "pid");
      json_builder_add_int_value (builder, csb_dbus_sandbox_get_pid (sandbox));
      json_builder_set_member_name (builder, "started_at_us");
      json_builder_add_int_value (builder, (gint64) csb_dbus_sandbox_get_started_at (sandbox));
      json_builder_set_member_name (builder, "network");
      json_builder_add_boolean_value (builder, csb_dbus_sandbox_get_network (sandbox));
      add_strv_member (builder, "network_allow", csb_dbus_sandbox_get_network_allow (sandbox));
      json_builder_set_member_name (builder, "denied_connections");
      json_builder_add_int_value (builder, csb_dbus_sandbox_get_denied_connections (sandbox));
      json_builder_set_member_name (builder, "gh_token");
      json_builder_add_boolean_value (builder, csb_dbus_sandbox_get_gh_token (sandbox));
      add_string_member (builder, "display", csb_dbus_sandbox_get_display (sandbox));
      add_strv_member (builder, "protections", csb_dbus_sandbox_get_protections (sandbox));
      json_builder_set_member_name (builder, "plants");
      json_builder_begin_array (builder);
      if (plants != NULL && g_variant_is_of_type (plants, G_VARIANT_TYPE ("a(ss)")))
        {
          GVariantIter iter;
          const char *path, *why;

          g_variant_iter_init (&iter, plants);
          while (g_variant_iter_next (&iter, "(&s&s)", &path, &why))
            {
              json_builder_begin_object (builder);
              add_string_member (builder, "path", path);
              add_string_member (builder, "why", why);
              json_builder_end_object (builder);
            }
        }
      json_builder_end_array (builder);
      /* null where the service could not say (an older one, a sandbox just removed). */
      csb_cli_add_metrics_member (builder, "metrics",
                                  csb_cli_metrics_get (g_ptr_array_index (metrics, i), NULL));
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  return csb_cli_print_json (builder);
}

/* --list's columns: the sandbox's, its metrics, its name and, last, its project (what
 * reads the text finds the ID first, the state second and the project at the end). */
enum
{
  LIST_ID,
  LIST_STATE,
  LIST_BACKEND,
  LIST_METRICS,
  LIST_NAME = LIST_METRICS + CSB_CLI_N_METRICS,
  LIST_PROJECT,
  LIST_N_COLUMNS
};

static char **
list_headers (void)
{
  char **row = g_new0 (char *, LIST_N_COLUMNS + 1);

  row[LIST_ID] = g_strdup (_("ID"));
  row[LIST_STATE] = g_strdup (_("STATE"));
  row[LIST_BACKEND] = g_strdup (_("BACKEND"));
  for (guint m = 0; m < CSB_CLI_N_METRICS; m++)
    row[LIST_METRICS + m] = g_strdup (csb_cli_metric_header (m));
  row[LIST_NAME] = g_strdup (_("NAME"));
  row[LIST_PROJECT] = g_strdup (_("PROJECT"));
  return row;
}

static char **
list_row (CsbDBusSandbox *sandbox,
          GVariant       *metrics)
{
  char **row = g_new0 (char *, LIST_N_COLUMNS + 1);
  const char *state = csb_dbus_sandbox_get_state (sandbox);

  row[LIST_ID] = g_strdup (or_empty (csb_dbus_sandbox_get_id (sandbox)));
  /* An ended sandbox shows how it ended: "exited (0)", "failed (1)". */
  if (csb_cli_state_has_ended (state) && csb_dbus_sandbox_get_exit_status (sandbox) >= 0)
    row[LIST_STATE] = g_strdup_printf ("%s (%d)", state,
                                       csb_dbus_sandbox_get_exit_status (sandbox));
  else
    row[LIST_STATE] = g_strdup (state ? state : "?");
  row[LIST_BACKEND] = g_strdup (or_empty (csb_dbus_sandbox_get_backend (sandbox)));
  for (guint m = 0; m < CSB_CLI_N_METRICS; m++)
    row[LIST_METRICS + m] = csb_cli_metric_cell (metrics, m);
  row[LIST_NAME] = g_strdup (or_empty (csb_dbus_sandbox_get_name (sandbox)));
  row[LIST_PROJECT] = g_strdup (or_empty (csb_dbus_sandbox_get_project_dir (sandbox)));
  return row;
}

/* @rows (strvs of LIST_N_COLUMNS) as a table of the @shown columns: words left-aligned
 * two spaces apart, numbers right-aligned one space apart, the last column unpadded. */
static void
print_list_table (GPtrArray      *rows,
                  const gboolean *shown)
{
  guint widths[LIST_N_COLUMNS] = { 0 };

  for (guint i = 0; i < rows->len; i++)
    for (guint c = 0; c < LIST_N_COLUMNS; c++)
      widths[c] = MAX (widths[c], (guint) g_utf8_strlen (((char **) rows->pdata[i])[c], -1));
  for (guint i = 0; i < rows->len; i++)
    {
      char **row = g_ptr_array_index (rows, i);
      g_autoptr(GString) line = g_string_new (NULL);
      gboolean previous_number = FALSE;

      for (guint c = 0; c < LIST_N_COLUMNS; c++)
        {
          gboolean number = c >= LIST_METRICS && c < LIST_NAME;
          guint pad = widths[c] - g_utf8_strlen (row[c], -1);

          if (!shown[c])
            continue;
          if (c > 0)
            g_string_append (line, number && previous_number ? " " : "  ");
          if (number)
            g_string_append_printf (line, "%*s%s", (int) pad, "", row[c]);
          else if (c == LIST_PROJECT)
            g_string_append (line, row[c]);
          else
            g_string_append_printf (line, "%s%*s", row[c], (int) pad, "");
          previous_number = number;
        }
      g_print ("%s\n", line->str);
    }
}

static int
run_list (GDBusConnection *bus)
{
  g_autoptr(GPtrArray) sandboxes = list_sandboxes (bus);
  g_autoptr(GPtrArray) metrics = NULL;
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  gboolean shown[LIST_N_COLUMNS];

  if (sandboxes == NULL)
    return EXIT_FAILURE;
  if (opt_complete_ids)
    {
      for (guint i = 0; i < sandboxes->len; i++)
        g_print ("%s\n", or_empty (csb_dbus_sandbox_get_id (g_ptr_array_index (sandboxes, i))));
      return EXIT_SUCCESS;
    }
  /* All at once: one round trip however many sandboxes; one that cannot say shows dashes. */
  metrics = csb_cli_get_metrics (sandboxes);
  if (opt_json)
    return print_list_json (sandboxes, metrics);

  for (guint c = 0; c < LIST_N_COLUMNS; c++)
    shown[c] = c < LIST_METRICS + CSB_CLI_METRIC_TURNS || c >= LIST_NAME;
  g_ptr_array_add (rows, list_headers ());
  for (guint i = 0; i < sandboxes->len; i++)
    {
      GVariant *m = csb_cli_metrics_get (g_ptr_array_index (metrics, i), NULL);

      g_ptr_array_add (rows, list_row (g_ptr_array_index (sandboxes, i), m));
      for (guint c = 0; c < CSB_CLI_N_METRICS; c++)
        shown[LIST_METRICS + c] |= csb_cli_metric_worth_a_column (m, c);
    }
  print_list_table (rows, shown);
  return EXIT_SUCCESS;
}

static int
run_backends (GDBusConnection *bus)
{
  g_autoptr(CsbDBusManager) manager = NULL;
  g_autoptr(GVariant) backends = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  GVariantIter iter;
  const char *name, *detail;
  gboolean available;

  manager = csb_dbus_manager_proxy_new_sync (bus, G_DBUS_PROXY_FLAGS_NONE, CSB_BUS_NAME,
                                             CSB_MANAGER_PATH, NULL, &error);
  if (manager == NULL || !csb_dbus_manager_call_get_backends_sync (manager, &backends, NULL,
                                                                   &error))
    {
      csb_cli_print_dbus_error (error);
      return EXIT_FAILURE;
    }

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "backends");
  json_builder_begin_array (builder);
  g_variant_iter_init (&iter, backends);
  while (g_variant_iter_next (&iter, "(&sb&s)", &name, &available, &detail))
    {
      if (!opt_json)
        {
          g_print ("%-10s %-4s %s\n", name, available ? _("yes") : _("no"), detail);
          continue;
        }
      json_builder_begin_object (builder);
      add_string_member (builder, "name", name);
      json_builder_set_member_name (builder, "available");
      json_builder_add_boolean_value (builder, available);
      add_string_member (builder, "detail", detail);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  return opt_json ? csb_cli_print_json (builder) : EXIT_SUCCESS;
}

static int
run_attach (GDBusConnection *bus,
            const char      *id)
{
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GError) error = NULL;

  sandbox = get_sandbox (bus, id, &error);
  if (sandbox == NULL)
    {
      csb_cli_print_dbus_error (error);
      return CSB_CLI_EXIT_FAILED;
    }
  /* An ended sandbox still replays its output, then gives its exit status. */
  return csb_cli_run_interactive (sandbox, csb_dbus_sandbox_get_id (sandbox), opt_raw);
}

static void
on_stop_state (GDBusProxy *proxy,
               GVariant   *changed,
               GStrv       invalidated,
               gpointer    user_data)
{
  if (csb_cli_state_has_ended (csb_dbus_sandbox_get_state (CSB_DBUS_SANDBOX (proxy))))
    g_main_loop_quit (user_data);
}

static int
run_stop (GDBusConnection *bus,
          const char      *id)
{
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(GError) error = NULL;

  sandbox = get_sandbox (bus, id, &error);
  if (sandbox == NULL)
    {
      csb_cli_print_dbus_error (error);
      return EXIT_FAILURE;
    }
  g_signal_connect (sandbox, "g-properties-changed", G_CALLBACK (on_stop_state), loop);
  if (!csb_dbus_sandbox_call_stop_sync (sandbox, NULL, &error))
    {
      csb_cli_print_dbus_error (error);
      return EXIT_FAILURE;
    }
  /* Stop() only starts the stop (SIGTERM, later SIGKILL); scripts that go on to
   * --remove want it over. */
  if (!csb_cli_state_has_ended (csb_dbus_sandbox_get_state (sandbox)))
    g_main_loop_run (loop);
  g_signal_handlers_disconnect_by_data (sandbox, loop);
  return EXIT_SUCCESS;
}

/* The PNG of sandbox @id's private display: through a descriptor here, as bytes
 * over --host, whose bus (over ssh) carries no descriptors. NULL and @error. */
static GInputStream *
take_screenshot (GDBusConnection *bus,
                 const char      *id,
                 GError         **error)
{
  g_autoptr(CsbDBusSandbox) sandbox = get_sandbox (bus, id, error);
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GVariant) png = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  int fd;

  if (sandbox == NULL)
    return NULL;
  if (opt_host == NULL)
    {
      if (!csb_dbus_sandbox_call_screenshot_sync (sandbox, NULL, &handle, &fds, NULL, error) ||
          (fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), error)) < 0)
        return NULL;
      return g_unix_input_stream_new (fd, TRUE);
    }
  if (!csb_dbus_sandbox_call_screenshot_data_sync (sandbox, &png, NULL, error))
    {
      if (g_error_matches (*error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
        {
          g_clear_error (error);
          g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                       _("the service on %s is too old to pass a screenshot over ssh (it "
                         "has no ScreenshotData); run claude-sandbox --screenshot there"),
                       opt_host);
        }
      return NULL;
    }
  bytes = g_variant_get_data_as_bytes (png);
  return g_memory_input_stream_new_from_bytes (bytes);
}

/* Saves the screenshot in @file, here (with --host too); "-" is standard output. */
static int
run_screenshot (GDBusConnection *bus,
                const char      *id,
                const char      *file)
{
  g_autoptr(GInputStream) in = NULL;
  g_autoptr(GOutputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  gboolean to_stdout = g_str_equal (file, "-");

  if ((in = take_screenshot (bus, id, &error)) == NULL)
    {
      csb_cli_print_dbus_error (error);
      return EXIT_FAILURE;
    }
  if (to_stdout)
    out = g_unix_output_stream_new (STDOUT_FILENO, FALSE);
  else
    {
      g_autoptr(GFile) dest = g_file_new_for_commandline_arg (file);

      out = G_OUTPUT_STREAM (g_file_replace (dest, NULL, FALSE, G_FILE_CREATE_NONE, NULL,
                                             &error));
    }
  if (out == NULL ||
      g_output_stream_splice (out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, &error) < 0)
    {
      g_printerr (_("claude-sandbox: cannot save the screenshot: %s\n"), error->message);
      return EXIT_FAILURE;
    }
  return EXIT_SUCCESS;
}

static int
run_remove (GDBusConnection *bus,
            const char      *id)
{
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GError) error = NULL;

  sandbox = get_sandbox (bus, id, &error);
  if (sandbox == NULL || !csb_dbus_sandbox_call_remove_sync (sandbox, NULL, &error))
    {
      csb_cli_print_dbus_error (error);
      return EXIT_FAILURE;
    }
  return EXIT_SUCCESS;
}

/* ---- review mode ---------------------------------------------------------------------- */

static const char *
kind_letter (const char *kind)
{
  if (g_str_equal (kind, "added"))
    return "A";
  if (g_str_equal (kind, "modified"))
    return "M";
  if (g_str_equal (kind, "deleted"))
    return "D";
  return "T";
}

/* Like git status --short: a letter, the path, what changed. */
static int
run_changes (GDBusConnection *bus,
             const char      *id)
{
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GVariant) changes = NULL;
  g_autoptr(GError) error = NULL;
  GVariantIter iter;
  const char *path, *kind, *summary;
  guint protected = 0;

  sandbox = get_sandbox (bus, id, &error);
  if (sandbox == NULL || !csb_dbus_sandbox_call_get_changes_sync (sandbox, &changes, NULL,
                                                                  &error))
    {
      csb_cli_print_dbus_error (error);
      return EXIT_FAILURE;
    }
  g_variant_iter_init (&iter, changes);
  while (g_variant_iter_next (&iter, "(&s&s&s)", &path, &kind, &summary))
    {
      /* Names the sandbox chose: quoted as git quotes them, so none forges a line. */
      g_autofree char *safe_path = csb_quote_name ("", path);
      g_autofree char *safe_summary = csb_show_text (summary);
      gboolean is_protected = g_str_has_prefix (summary, "[protected] ");

      protected += is_protected;
      g_print ("%s%s %s  (%s)\n", kind_letter (kind), is_protected ? "!" : " ", safe_path,
               safe_summary);
    }
  if (g_variant_n_children (changes) == 0)
    g_print (_("No pending changes.\n"));
  else if (protected > 0)
    g_print (_("\n! protected: runs or is obeyed outside the sandbox later; applied only "
               "when named (claude-sandbox --apply %s PATH).\n"), id);
  return EXIT_SUCCESS;
}

static gboolean
print_diff (CsbDBusSandbox *sandbox,
            const char     *path,
            GError        **error)
{
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GInputStream) in = NULL;
  g_autoptr(GOutputStream) out = NULL;
  g_autoptr(CsbEscapeFilter) filter = NULL;
  g_autoptr(GByteArray) shown = NULL;
  int fd;

  if (!csb_dbus_sandbox_call_get_diff_sync (sandbox, path, NULL, &handle, &fds, NULL, error))
    return FALSE;
  if (fds == NULL || g_unix_fd_list_get_length (fds) != 1 ||
      (fd = g_unix_fd_list_get (fds, 0, error)) < 0)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "the service sent no diff");
      return FALSE;
    }
  in = g_unix_input_stream_new (fd, TRUE);
  out = g_unix_output_stream_new (1, FALSE);
  /* The sandbox wrote those bytes (and names): no escape sequence of theirs may act on
   * the user's terminal. */
  filter = csb_escape_filter_new ();
  shown = g_byte_array_new ();
  for (;;)
    {
      guint8 buf[16384];
      gssize n = g_input_stream_read (in, buf, sizeof buf, NULL, error);

      if (n < 0)
        return FALSE;
      if (n == 0)
        return TRUE;
      g_byte_array_set_size (shown, 0);
      csb_escape_filter_feed (filter, buf, n, shown);
      if (!g_output_stream_write_all (out, shown->data, shown->len, NULL, NULL, error))
        return FALSE;
    }
}

static int
run_diff (GDBusConnection    *bus,
          const char         *id,
          const char * const *paths)
{
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GVariant) changes = NULL;
  g_autoptr(GError) error = NULL;

  sandbox = get_sandbox (bus, id, &error);
  if (sandbox == NULL)
    goto fail;
  if (paths[0] != NULL)
    {
      for (guint i = 0; paths[i] != NULL; i++)
        if (!print_diff (sandbox, paths[i], &error))
          goto fail;
      return EXIT_SUCCESS;
    }
  if (!csb_dbus_sandbox_call_get_changes_sync (sandbox, &changes, NULL, &error))
    goto fail;
  for (gsize i = 0; i < g_variant_n_children (changes); i++)
    {
      const char *path;

      g_variant_get_child (changes, i, "(&s&s&s)", &path, NULL, NULL);
      if (!print_diff (sandbox, path, &error))
        goto fail;
    }
  return EXIT_SUCCESS;

fail:
  csb_cli_print_dbus_error (error);
  return EXIT_FAILURE;
}

static int
run_decide (GDBusConnection    *bus,
            const char         *id,
            const char * const *paths,
            gboolean            apply)
{
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  sandbox = get_sandbox (bus, id, &error);
  if (sandbox == NULL)
    ok = FALSE;
  else if (apply)
    ok = csb_dbus_sandbox_call_apply_changes_sync (sandbox, paths, NULL, &error);
  else
    ok = csb_dbus_sandbox_call_discard_changes_sync (sandbox, paths, NULL, &error);
  if (!ok)
    {
      csb_cli_print_dbus_error (error);
      return EXIT_FAILURE;
    }
  if (apply && paths[0] == NULL && csb_dbus_sandbox_get_pending_changes (sandbox) > 0)
    {
      g_autoptr(CsbDBusSandbox) fresh = get_sandbox (bus, id, NULL);

      if (fresh != NULL && csb_dbus_sandbox_get_pending_changes (fresh) > 0)
        g_print (_("%u changes still pending (protected, or never applied): see "
                   "claude-sandbox --changes %s\n"),
                 csb_dbus_sandbox_get_pending_changes (fresh), id);
    }
  return EXIT_SUCCESS;
}

/* ---- --host ---------------------------------------------------------------------------- */

static void
add_remote_strv (GPtrArray  *args,
                 const char *option,
                 char      **values)
{
  for (guint i = 0; values != NULL && values[i] != NULL; i++)
    g_ptr_array_add (args, g_strdup_printf ("--%s=%s", option, values[i]));
}

/* The launch as the remote CLI is to see it: the options given here, rebuilt from
 * what was parsed (never the raw command line), then PROJECT-DIR and the rest, each
 * behind a "--" so that nothing of them is taken for an option there. */
static int
run_remote_launch (const char         *project_dir,
                   const char * const *rest)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  const struct { gboolean set; const char *option; } flags[] = {
    { opt_shell, "--shell" }, { opt_command, "--command" }, { opt_gh_token, "--gh-token" },
    { opt_display, "--display" }, { opt_audio, "--audio" }, { opt_gpu, "--gpu" },
    { opt_ssh_agent, "--ssh-agent" }, { opt_review, "--review" }, { opt_raw, "--raw" },
    { opt_private_display, "--display=private" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (flags); i++)
    if (flags[i].set)
      g_ptr_array_add (args, g_strdup (flags[i].option));
  if (opt_network >= 0)
    g_ptr_array_add (args, g_strdup (opt_network ? "--network" : "--no-network"));
  if (opt_backend != NULL)
    g_ptr_array_add (args, g_strdup_printf ("--backend=%s", opt_backend));
  if (opt_name != NULL)
    g_ptr_array_add (args, g_strdup_printf ("--name=%s", opt_name));
  if (opt_vm_image != NULL)
    g_ptr_array_add (args, g_strdup_printf ("--vm-image=%s", opt_vm_image));
  if (opt_vm_memory >= 0)
    g_ptr_array_add (args, g_strdup_printf ("--vm-memory=%d", opt_vm_memory));
  if (opt_vm_cpus >= 0)
    g_ptr_array_add (args, g_strdup_printf ("--vm-cpus=%d", opt_vm_cpus));
  add_remote_strv (args, "env", opt_env);
  add_remote_strv (args, "ro-bind", opt_ro_binds);
  add_remote_strv (args, "rw-bind", opt_rw_binds);
  add_remote_strv (args, "allow-host", opt_allow_hosts);
  add_remote_strv (args, "deny-host", opt_deny_hosts);
  g_ptr_array_add (args, g_strdup ("--"));
  g_ptr_array_add (args, g_strdup (csb_cli_remote_home_relative (project_dir)));
  if (rest[0] != NULL)
    {
      g_ptr_array_add (args, g_strdup ("--"));
      for (guint i = 0; rest[i] != NULL; i++)
        g_ptr_array_add (args, g_strdup (rest[i]));
    }
  g_ptr_array_add (args, NULL);
  return csb_cli_remote_exec (opt_host, (const char * const *) args->pdata);
}

/* --diff, --apply, --discard (fds) and --attach (a terminal) run the remote CLI. */
static int
run_remote_action (const char         *option,
                   const char         *id,
                   const char * const *paths)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);

  if (opt_raw)
    g_ptr_array_add (args, g_strdup ("--raw"));
  g_ptr_array_add (args, g_strdup_printf ("--%s=%s", option, id));
  if (paths != NULL && paths[0] != NULL)
    {
      g_ptr_array_add (args, g_strdup ("--"));
      for (guint i = 0; paths[i] != NULL; i++)
        g_ptr_array_add (args, g_strdup (paths[i]));
    }
  g_ptr_array_add (args, NULL);
  return csb_cli_remote_exec (opt_host, (const char * const *) args->pdata);
}

/* All sandboxes, or those of @ids. */
static int
run_metrics (GDBusConnection    *bus,
             const char * const *ids,
             guint               n_ids)
{
  g_autoptr(GPtrArray) sandboxes = NULL;

  if (n_ids == 0)
    sandboxes = list_sandboxes (bus);
  else
    {
      sandboxes = g_ptr_array_new_with_free_func (g_object_unref);
      for (guint i = 0; i < n_ids; i++)
        {
          g_autoptr(GError) error = NULL;
          CsbDBusSandbox *sandbox = get_sandbox (bus, ids[i], &error);

          if (sandbox == NULL)
            {
              csb_cli_print_dbus_error (error);
              return EXIT_FAILURE;
            }
          g_ptr_array_add (sandboxes, sandbox);
        }
    }
  if (sandboxes == NULL)
    return EXIT_FAILURE;
  return csb_cli_run_metrics (bus, sandboxes, opt_json);
}

/* ---- main ----------------------------------------------------------------------------- */

static int
run_action (GDBusConnection *bus)
{
  if (opt_list)
    return run_list (bus);
  if (opt_backends)
    return run_backends (bus);
  if (opt_attach)
    return run_attach (bus, opt_attach);
  if (opt_stop)
    return run_stop (bus, opt_stop);
  if (opt_changes)
    return run_changes (bus, opt_changes);
  return run_remove (bus, opt_remove);
}

/* What every run needs first: the locale, SIGPIPE ignored, fds 0 to 2 open. */
static gboolean
init_process (void)
{
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* A closed stdout (claude-sandbox … | head) is an error to report, not a death
   * that would leave the terminal in raw mode. */
  signal (SIGPIPE, SIG_IGN);

  /* With 0, 1 or 2 closed, the next socket or pipe we open would take its number and
   * be handed to the sandbox as its stdio; /dev/null is what a closed fd means. */
  for (int fd = 0; fd < 3; fd++)
    if (fcntl (fd, F_GETFD) < 0 && open ("/dev/null", O_RDWR) != fd)
      return FALSE;

  /* Registers the error domain, so the service's errors arrive as CSB_ERROR. */
  (void) CSB_ERROR;
  return TRUE;
}

/* Every option, in one group so that --help shows them all, with --help's summary
 * and examples. */
static GOptionContext *
new_option_context (void)
{
  GOptionContext *context = g_option_context_new (_("[PROJECT-DIR] [CLAUDE-ARGS…]"));
  g_autofree char *description = NULL;

  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  /* Everything after the project folder is claude's (claude-sandbox ~/p -p hi --model x). */
  g_option_context_set_strict_posix (context, TRUE);
  g_option_context_set_summary (context,
    _("Run Claude Code (or a shell) in a sandbox on a project folder.\n"
      "\n"
      "PROJECT-DIR (default: the current folder) is visible read-write inside at the same\n"
      "path; the rest of your files are not. Arguments after it go to claude unchanged.\n"
      "Options you do not give take their defaults from the settings\n"
      "(gsettings list-recursively org.example.ClaudeSandbox)."));
  description = g_strdup_printf (
    _("Examples:\n"
      "  claude-sandbox ~/src/project\n"
      "  claude-sandbox --no-network ~/src/project -p \"explain this code\" --model opus\n"
      "  claude-sandbox --shell --backend=vm ~/src/project\n"
      "  claude-sandbox --no-network --command ~/src/project -- make test\n"
      "  claude-sandbox --review ~/src/project\n"
      "  claude-sandbox --changes ID; claude-sandbox --diff ID; claude-sandbox --apply ID\n"
      "  claude-sandbox --list\n"
      "  claude-sandbox --list --json | jq -r '.sandboxes[] | select(.state == \"running\") | .id'\n"
      "  claude-sandbox --host=me@server src/project; claude-sandbox --host=me@server --list\n"
      "\n"
      "--command (-c) runs the arguments after PROJECT-DIR (a \"--\" right after it is\n"
      "dropped) instead of claude; --shell runs your shell and takes no arguments.\n"
      "\n"
      "On a terminal, the sandbox gets a terminal of its own that claude-sandbox\n"
      "relays: Ctrl-C and every other key go to the program inside. Press Ctrl-] to\n"
      "detach; the sandbox keeps running, and --attach ID comes back to it.\n"
      "What the sandbox writes to your terminal is filtered: text, colours, cursor\n"
      "movement and the screen modes of full-screen programs pass; escape sequences\n"
      "that make a terminal act (clipboard writes (OSC 52), links (OSC 8), report\n"
      "requests whose answers it would type, device control strings, tmux\n"
      "passthrough, C1 controls) are dropped. --raw turns the filter off.\n"
      "When neither standard input nor output is a terminal (scripts, pipes), the\n"
      "sandbox reads and writes them directly; SIGINT or SIGTERM stops it, as does\n"
      "the reader of a piped standard output going away (an ssh session that ended).\n"
      "(The container backend runs on a console even then: the end of standard input\n"
      "does not reach it, and its standard error arrives merged into standard output.)\n"
      "\n"
      "Sandbox IDs are shown by --list (and are the last element of the object path\n"
      "%s<ID> on the session bus).\n"
      "\n"
      "Exit status: the sandbox's (128 + N when it was killed by signal N),\n"
      "125 if claude-sandbox itself failed (the service is missing, the launch or\n"
      "attach failed), 2 for usage errors, 0 after detaching."),
    CSB_SANDBOX_PATH_PREFIX);
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, launch_entries, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, manage_entries, GETTEXT_PACKAGE);
  return context;
}

/* Drops a "--" at the start of @rest: GOption keeps one before an argument that
 * looks like an option, and either way it only separates. */
static void
skip_separator (char  ***rest,
                guint   *n_rest)
{
  if (*n_rest > 0 && g_str_equal ((*rest)[0], "--"))
    (*rest)++, (*n_rest)--;
}

/* --sync --host=HOST LOCAL-DIR REMOTE-DIR */
static int
run_sync_command (char  **rest,
                  guint   n_rest)
{
  if (opt_host == NULL)
    return usage_error (_("--sync needs --host=[USER@]HOST, the machine to sync with"));
  if (launch_options_given () || opt_raw || opt_json)
    return usage_error (_("--sync takes only LOCAL-DIR and REMOTE-DIR"));
  skip_separator (&rest, &n_rest);
  if (n_rest != 2 || *rest[0] == '\0')
    return usage_error (_("--sync needs LOCAL-DIR (here) and REMOTE-DIR (on %s)"),
                        opt_host);
  if (opt_watch_interval < 1)
    return usage_error (_("--watch-interval needs a positive number of seconds"));
  return csb_cli_run_sync (opt_host, rest[0], rest[1], opt_prefer, opt_delete_many,
                           opt_watch, opt_watch_interval);
}

/* --screenshot ID FILE, here or on --host (FILE is here). */
static int
run_screenshot_command (char  **rest,
                        guint   n_rest)
{
  g_autoptr(GDBusConnection) bus = NULL;
  int status;

  skip_separator (&rest, &n_rest);
  if (n_rest != 1)
    return usage_error (_("--screenshot ID needs one FILE to save the PNG in"));
  if (launch_options_given () || opt_raw)
    return usage_error (_("launch options cannot be combined with --screenshot"));
  if (g_str_equal (rest[0], "-") && isatty (STDOUT_FILENO))
    return usage_error (_("--screenshot ID - writes the PNG to the standard output, which "
                          "is a terminal: redirect it, or give a FILE"));
  if ((bus = connect_to_service ()) == NULL)
    return EXIT_FAILURE;
  status = run_screenshot (bus, opt_screenshot, rest[0]);
  if (opt_host != NULL && g_dbus_connection_is_closed (bus))
    return CSB_CLI_EXIT_FAILED;
  return status;
}

/* --metrics [ID…] */
static int
run_metrics_command (char  **rest,
                     guint   n_rest)
{
  g_autoptr(GDBusConnection) bus = NULL;
  int status;

  if (launch_options_given () || opt_raw)
    return usage_error (_("launch options cannot be combined with --metrics"));
  skip_separator (&rest, &n_rest);
  if ((bus = connect_to_service ()) == NULL)
    return EXIT_FAILURE;
  status = run_metrics (bus, (const char * const *) rest, n_rest);
  if (opt_host != NULL && g_dbus_connection_is_closed (bus))
    return CSB_CLI_EXIT_FAILED;
  return status;
}

/* --diff, --apply or --discard ID [PATH…], here or on --host. */
static int
run_review_command (char  **rest,
                    guint   n_rest)
{
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GPtrArray) paths = g_ptr_array_new ();

  if (launch_options_given () || opt_raw)
    return usage_error (_("launch options cannot be combined with --diff, --apply or "
                          "--discard"));
  skip_separator (&rest, &n_rest);
  for (guint i = 0; i < n_rest; i++)
    g_ptr_array_add (paths, rest[i]);
  g_ptr_array_add (paths, NULL);
  if (opt_host != NULL)
    return run_remote_action (opt_diff ? "diff" : opt_apply ? "apply" : "discard",
                              opt_diff ? opt_diff : opt_apply ? opt_apply : opt_discard,
                              (const char * const *) paths->pdata);
  if ((bus = connect_to_service ()) == NULL)
    return EXIT_FAILURE;
  if (opt_diff)
    return run_diff (bus, opt_diff, (const char * const *) paths->pdata);
  return run_decide (bus, opt_apply ? opt_apply : opt_discard,
                     (const char * const *) paths->pdata, opt_apply != NULL);
}

/* --list, --backends, --attach, --stop, --remove or --changes: no arguments. */
static int
run_manage_command (char  **rest,
                    guint   n_rest)
{
  g_autoptr(GDBusConnection) bus = NULL;
  int status;

  if (n_rest > 0)
    return usage_error (_("unexpected argument '%s'"), rest[0]);
  if (launch_options_given ())
    return usage_error (_("launch options cannot be combined with --list, --backends, "
                          "--attach, --stop or --remove"));
  if (opt_raw && !opt_attach)
    return usage_error (_("--raw goes with a launch or --attach"));
  if (opt_host != NULL && opt_attach)
    return run_remote_action ("attach", opt_attach, NULL);
  if ((bus = connect_to_service ()) == NULL)
    return opt_attach ? CSB_CLI_EXIT_FAILED : EXIT_FAILURE;
  status = run_action (bus);
  /* Over --host, a lost connection is claude-sandbox failing, whatever the call
   * it broke said. */
  if (opt_host != NULL && g_dbus_connection_is_closed (bus))
    return CSB_CLI_EXIT_FAILED;
  return status;
}

/* [PROJECT-DIR] [CLAUDE-ARGS…]: a launch, here or on --host. */
static int
run_launch_command (char  **rest,
                    guint   n_rest)
{
  g_autoptr(GPtrArray) command = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *project_dir = NULL;
  g_autofree char *cwd = NULL;

  /* A "--" only separates: it is dropped before and right after the project folder. */
  skip_separator (&rest, &n_rest);
  if (opt_host != NULL)
    {
      /* Our folder means nothing there: the remote folder is named, and resolved
       * (like --ro-bind's paths) by the remote CLI, relative to the remote home. */
      if (n_rest == 0 || *rest[0] == '\0')
        return usage_error (_("with --host, give the project folder on %s"), opt_host);
      return run_remote_launch (rest[0], (const char * const *) rest + 1 +
                                (n_rest > 1 && g_str_equal (rest[1], "--")));
    }
  cwd = g_get_current_dir ();
  if (n_rest > 0)
    {
      if (*rest[0] == '\0')
        return usage_error (_("the project folder is empty"));
      project_dir = g_canonicalize_filename (rest[0], cwd);
      rest++, n_rest--;
      skip_separator (&rest, &n_rest);
    }
  else
    project_dir = g_strdup (cwd);

  if (opt_shell && opt_command)
    return usage_error (_("--shell and --command cannot be combined"));
  if (opt_shell && n_rest > 0)
    return usage_error (_("--shell runs an interactive shell and takes no arguments, "
                          "but '%s' was given"), rest[0]);
  if (opt_command && n_rest == 0)
    return usage_error (_("--command needs a command after the project folder"));
  if (opt_vm_memory < -1 || opt_vm_memory == 0 || opt_vm_cpus < -1 || opt_vm_cpus == 0)
    return usage_error (_("--vm-memory and --vm-cpus need a positive number"));

  if (n_rest > 0 && !opt_command)
    g_ptr_array_add (command, g_strdup ("claude"));
  for (guint i = 0; i < n_rest; i++)
    g_ptr_array_add (command, g_strdup (rest[i]));
  g_ptr_array_add (command, NULL);

  return run_launch (project_dir, (const char * const *) command->pdata);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  char **rest;
  guint n_rest;
  guint n_actions;

  if (!init_process ())
    return CSB_CLI_EXIT_FAILED;

  context = new_option_context ();
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error ("%s", error->message);

  if (opt_version)
    {
      g_print ("claude-sandbox %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }

  rest = argv + 1;
  n_rest = argc - 1;
  if (opt_bus_bridge)
    {
      if (argc > 1 || opt_host != NULL)
        return usage_error (_("--bus-bridge takes nothing else"));
      return csb_cli_remote_bus_bridge ();
    }
  if (opt_host != NULL && !csb_cli_remote_check_host (opt_host, &error))
    return usage_error ("%s", error->message);
  if (opt_complete_ids)
    opt_list = TRUE;
  n_actions = !!opt_list + !!opt_metrics + !!opt_sync + !!opt_backends + !!opt_attach +
              !!opt_stop + !!opt_remove + !!opt_changes + !!opt_diff + !!opt_apply +
              !!opt_discard + !!opt_screenshot;
  if (n_actions > 1)
    return usage_error (_("--list, --metrics, --sync, --backends, --attach, --stop, "
                          "--remove, --changes, --diff, --apply, --discard and --screenshot "
                          "cannot be combined"));
  if ((opt_watch || opt_prefer || opt_delete_many) && !opt_sync)
    return usage_error (_("--watch, --prefer and --delete-many go with --sync"));
  if (opt_sync)
    return run_sync_command (rest, n_rest);
  if (opt_screenshot)
    return run_screenshot_command (rest, n_rest);
  if (opt_json && !opt_list && !opt_backends && !opt_metrics)
    return usage_error (_("--json goes with --list, --metrics or --backends"));
  if (opt_metrics)
    return run_metrics_command (rest, n_rest);
  if (n_actions == 1 && (opt_diff || opt_apply || opt_discard))
    return run_review_command (rest, n_rest);
  if (n_actions == 1)
    return run_manage_command (rest, n_rest);
  return run_launch_command (rest, n_rest);
}
