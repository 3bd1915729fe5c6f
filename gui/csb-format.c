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
    { "user-namespace", N_("Own user namespace") },
    { "pid-namespace", N_("Own process namespace") },
    { "ipc-namespace", N_("Own IPC namespace") },
    { "uts-namespace", N_("Own host name") },
    { "mount-namespace", N_("Own view of the file system") },
    { "no-network", N_("No network") },
    { "network-filtered", N_("Filtered network") },
    { "seccomp", N_("System call filter (seccomp)") },
    { "dbus-filtered", N_("Filtered session bus") },
    { "dbus-app-identity", N_("Portals see it as an app, with per-app permissions") },
    { "no-session-bus", N_("No session bus") },
    { "no-system-bus", N_("No system bus") },
    { "no-capabilities", N_("No capabilities") },
    { "no-new-privs", N_("No new privileges") },
    { "no-nested-userns", N_("No nested user namespaces") },
    { "private-home", N_("Private home folder") },
    { "claude-home", N_("Claude Code home of its own, per project") },
    { "claude-config-ro", N_("Claude Code’s hooks and settings read-only") },
    { "git-config-ro", N_("Project’s git hooks and config read-only") },
    { "clear-environment", N_("Cleared environment") },
    { "x11-shared", N_("Shares the X11 display (weaker)") },
    { "wayland-security-context", N_("Display through a Wayland security context") },
    { "wayland-unrestricted", N_("Display unrestricted: the compositor offers no security context") },
    { "separate-kernel", N_("Separate kernel") },
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
  if (status > 128)
    return g_strdup_printf (_("It was ended by signal %d."), status - 128);
  return g_strdup_printf (_("It exited with status %d."), status);
}
