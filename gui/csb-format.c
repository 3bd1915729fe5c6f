/* csb-format.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "csb-format.h"

const char *
csb_format_state (const char *state)
{
  if (g_strcmp0 (state, "starting") == 0)
    return _("Starting");
  if (g_strcmp0 (state, "running") == 0)
    return _("Running");
  if (g_strcmp0 (state, "stopping") == 0)
    return _("Stopping");
  if (g_strcmp0 (state, "exited") == 0)
    return _("Exited");
  if (g_strcmp0 (state, "failed") == 0)
    return _("Failed");
  return state != NULL ? state : "";
}

const char *
csb_format_backend (const char *backend)
{
  if (g_strcmp0 (backend, "bwrap") == 0)
    return _("Namespaces");
  if (g_strcmp0 (backend, "vm") == 0)
    return _("Virtual machine");
  if (g_strcmp0 (backend, "container") == 0)
    return _("Container");
  return backend != NULL ? backend : "";
}

const char *
csb_format_protection (const char *protection)
{
  static const struct {
    const char *name;
    const char *text;
  } known[] = {
    { "user-namespace", N_("It has user IDs of its own: root inside is not root outside.") },
    { "pid-namespace", N_("It sees only its own processes.") },
    { "ipc-namespace", N_("It cannot reach other programs’ shared memory.") },
    { "uts-namespace", N_("It has a host name of its own.") },
    { "mount-namespace", N_("It sees only the folders it was given.") },
    { "network-namespace", N_("It has a network of its own, without your computer’s local services.") },
    { "network-shared", N_("It uses your network connection.") },
    { "no-network", N_("It has no network at all.") },
    { "network-filtered", N_("It reaches only the hosts you allowed.") },
    { "seccomp", N_("Dangerous system calls are blocked.") },
    { "landlock-scope", N_("It cannot signal or connect to programs outside it.") },
    { "dbus-filtered", N_("It talks only to notifications and portals on your session bus.") },
    { "dbus-app-identity", N_("Portals treat it as an app of its own, with its own permissions.") },
    { "no-session-bus", N_("It cannot talk to your desktop’s services.") },
    { "no-system-bus", N_("It cannot talk to the system’s services.") },
    { "no-capabilities", N_("It has no administrator powers.") },
    { "no-new-privs", N_("Nothing inside can gain more rights (no setuid).") },
    { "no-nested-userns", N_("It cannot make sandboxes of its own inside.") },
    { "private-home", N_("Your home folder is hidden; it gets an empty one.") },
    { "usr-ro", N_("The system’s programs are read-only.") },
    { "claude-home", N_("Claude Code keeps its own settings and history for this project.") },
    { "claude-config-ro", N_("Your Claude Code hooks and settings are read-only.") },
    { "project-claude-config-ro", N_("The project’s Claude Code configuration is read-only.") },
    { "project-claude-settings-ro", N_("The project’s Claude Code settings are read-only.") },
    { "git-config-ro", N_("The project’s git hooks and config are read-only.") },
    { "clear-environment", N_("It gets only the environment variables it needs.") },
    { "pids-limit", N_("The number of its processes is limited.") },
    { "memory-limit", N_("The memory it may use is limited.") },
    { "no-resource-limits", N_("Its processes and memory are not limited (no cgroup delegation).") },
    { "x11-shared", N_("It shares your X11 display, which is weaker isolation.") },
    { "wayland-security-context", N_("Its windows go through a restricted Wayland connection.") },
    { "wayland-unrestricted", N_("Its windows are not restricted: your compositor offers no security context.") },
    { "separate-kernel", N_("It runs its own kernel in a virtual machine.") },
    { "vm-kvm", N_("The virtual machine uses hardware virtualisation (KVM).") },
    { "vm-tcg", N_("The virtual machine is emulated (no KVM): slower, just as separate.") },
    { "shares-virtiofs", N_("Its folders are shared with the virtual machine through virtiofs.") },
    { "vm-image-overlay", N_("It writes to a copy of the disk image, never to the image.") },
    { "container-lxc", N_("It runs in a container with a root of its own.") },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (known); i++)
    if (g_strcmp0 (known[i].name, protection) == 0)
      return _(known[i].text);
  return protection;
}

char *
csb_format_protections (const char * const *protections)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; protections != NULL && protections[i] != NULL; i++)
    {
      if (text->len > 0)
        g_string_append_c (text, '\n');
      g_string_append (text, "• ");
      g_string_append (text, csb_format_protection (protections[i]));
    }
  if (text->len == 0)
    g_string_append (text, _("None reported"));
  return g_string_free (text, FALSE);
}

char *
csb_format_uptime (guint64 started_at)
{
  gint64 now = g_get_real_time ();
  gint64 seconds = started_at > 0 && (gint64) started_at < now ? (now - (gint64) started_at) / G_USEC_PER_SEC : 0;

  if (seconds < 60)
    /* Translators: a duration, in seconds */
    return g_strdup_printf (_("%d s"), (int) seconds);
  if (seconds < 3600)
    /* Translators: a duration, in minutes */
    return g_strdup_printf (_("%d min"), (int) (seconds / 60));
  /* Translators: a duration, in hours and minutes */
  return g_strdup_printf (_("%d h %d min"), (int) (seconds / 3600), (int) (seconds % 3600 / 60));
}

char *
csb_format_path (const char *path)
{
  const char *home = g_get_home_dir ();
  g_autofree char *display = NULL;
  gsize home_len;

  if (path == NULL)
    return g_strdup ("");
  display = g_filename_display_name (path);
  home_len = home != NULL ? strlen (home) : 0;
  if (home_len > 1 && g_str_has_prefix (path, home) && (path[home_len] == '/' || path[home_len] == '\0'))
    return g_strconcat ("~", display + home_len, NULL);
  return g_steal_pointer (&display);
}

char *
csb_format_exit (int status)
{
  if (status == 0)
    return g_strdup (_("It exited normally."));
  /* SIGHUP, SIGINT, SIGKILL, SIGTERM: what a stop sends. */
  if (status == 128 + 1 || status == 128 + 2 || status == 128 + 9 || status == 128 + 15)
    return g_strdup (_("It was stopped."));
  if (status > 128)
    /* Translators: %s is the name of a signal, such as "Segmentation fault" */
    return g_strdup_printf (_("It ended abnormally (%s)."), g_strsignal (status - 128));
  return g_strdup_printf (_("It exited with status %d."), status);
}

char *
csb_format_sandbox_title (const char         *name,
                          const char         *project_dir,
                          const char * const *command)
{
  static const char * const shells[] = { "sh", "bash", "dash", "zsh", "fish", "ksh", "mksh",
                                          "tcsh", "csh", "nu", "elvish", "xonsh", NULL };
  g_autofree char *folder = project_dir ? g_path_get_basename (project_dir) : NULL;
  g_autofree char *program = NULL;
  GString *text;

  /* A name the user gave (the name option) says it best. */
  if (name != NULL && *name != '\0' && g_strcmp0 (name, folder) != 0)
    return g_strdup (name);
  if (command == NULL || command[0] == NULL)
    return g_strdup (_("Claude"));
  program = g_path_get_basename (command[0]);
  if (g_str_equal (program, "claude"))
    return g_strdup (_("Claude"));
  if (g_strv_contains (shells, program) && (command[1] == NULL || g_str_equal (command[1], "-l")))
    return g_strdup (_("Shell"));

  text = g_string_new (program);
  for (guint i = 1; command[i] != NULL && text->len < 40; i++)
    {
      g_string_append_c (text, ' ');
      g_string_append (text, command[i]);
    }
  if (text->len > 40)
    {
      /* Cut at a character, not inside one. */
      const char *end = g_utf8_find_prev_char (text->str, text->str + 40);

      g_string_truncate (text, end ? (gsize) (end - text->str) : 40);
      g_string_append (text, "…");
    }
  return g_string_free (text, FALSE);
}

gboolean
csb_format_needs_admin (const char *message)
{
  static const char * const words[] = { "polkit", "authoris", "authoriz", "not authorized",
                                         "permission denied", "access denied", NULL };
  g_autofree char *lower = message ? g_utf8_strdown (message, -1) : NULL;

  for (guint i = 0; lower != NULL && words[i] != NULL; i++)
    if (strstr (lower, words[i]) != NULL)
      return TRUE;
  return FALSE;
}

char *
csb_format_failure (const char *error)
{
  if (csb_format_needs_admin (error))
    return g_strdup (_("Needs administrator permission. Ask an administrator to allow "
                       "containers for you."));
  return g_strdup (_("It could not be set up."));
}
