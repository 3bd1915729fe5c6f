/* csb-protections.c
 *
 * The names are part of the D-Bus contract (the Protections property): a name
 * may be added, never given another meaning. A name a backend stopped using for
 * one that means the same stays in the aliases, so that a sandbox adopted from an
 * older service's record still shows a name the app knows.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "csb-protections.h"

static const CsbProtection protections[] = {
  /* Kernel isolation. */
  { "user-namespace", N_("It has user IDs of its own: root inside is not root outside.") },
  { "pid-namespace", N_("It sees only its own processes.") },
  { "ipc-namespace", N_("It cannot reach other programs’ shared memory.") },
  { "uts-namespace", N_("It has a host name of its own.") },
  { "mount-namespace", N_("It sees only the folders it was given.") },
  { "own-root", N_("It has a root folder of its own, with only what it was given of yours.") },
  { "separate-kernel", N_("It runs its own kernel in a virtual machine.") },
  { "vm-kvm", N_("The virtual machine uses hardware virtualisation (KVM).") },
  { "vm-tcg", N_("The virtual machine is emulated (no KVM): slower, just as separate.") },
  { "shares-virtiofs", N_("Its folders are shared with the virtual machine through virtiofs.") },
  { "vm-image-overlay", N_("It writes to a copy of the disk image, never to the image.") },
  { "container-lxc", N_("It runs in a container with a root of its own.") },
  /* Network. */
  { "network-namespace",
    N_("It has a network of its own, without your computer’s local services.") },
  { "network-shared", N_("It uses your network connection.") },
  { "no-network", N_("It has no network at all.") },
  { "network-filtered", N_("It reaches only the hosts you allowed.") },
  /* Privileges and system calls. */
  { "seccomp", N_("Dangerous system calls are blocked.") },
  { "landlock-scope", N_("It cannot signal or connect to programs outside it.") },
  { "no-capabilities", N_("It has no administrator powers.") },
  { "no-new-privs", N_("Nothing inside can gain more rights (no setuid).") },
  { "no-nested-userns", N_("It cannot make sandboxes of its own inside.") },
  { "clear-environment", N_("It gets only the environment variables it needs.") },
  /* Buses. */
  { "dbus-filtered", N_("It talks only to notifications and portals on your session bus.") },
  { "dbus-app-identity", N_("Portals treat it as an app of its own, with its own permissions.") },
  { "no-session-bus", N_("It cannot talk to your desktop’s services.") },
  { "no-system-bus", N_("It cannot talk to the system’s services.") },
  /* Files. */
  { "private-home", N_("Your home folder is hidden; it gets an empty one.") },
  { "private-tmp", N_("It gets empty temporary folders of its own.") },
  { "usr-ro", N_("The system’s programs are read-only.") },
  { "claude-home", N_("Claude Code keeps its own settings and history for this project.") },
  { "claude-config-ro", N_("Your Claude Code hooks and settings are read-only.") },
  { "git-config-ro", N_("The project’s git hooks and config are read-only.") },
  { "project-claude-settings-ro",
    N_("The project’s Claude Code settings are read-only, and new ones made inside never "
       "reach the folder.") },
  { "project-claude-config-ro",
    N_("The project’s Claude Code settings files are read-only; new ones made inside are "
       "reported when it stops.") },
  { "project-review", N_("Its changes to the project wait for your review.") },
  /* Resources. */
  { "pids-limit", N_("The number of its processes is limited.") },
  { "memory-limit", N_("The memory it may use is limited.") },
  { "no-resource-limits",
    N_("Its processes and memory are not limited (no cgroup delegation).") },
  /* Display. */
  { "x11-shared", N_("It shares your X11 display, which is weaker isolation.") },
  { "wayland-security-context", N_("Its windows go through a restricted Wayland connection.") },
  { "wayland-unrestricted",
    N_("Its windows are not restricted: it uses your compositor’s socket without a security "
       "context.") },
  { "display-private",
    N_("Its windows go to a display of its own, invisible on your desktop.") },
};

/* Old name → the name that means the same and replaced it. */
static const struct
{
  const char *old_name;
  const char *name;
} aliases[] = {
  { "no-new-privileges", "no-new-privs" },      /* the container's, until the table */
  { "wayland", "wayland-unrestricted" },        /* the container's raw session socket */
};

const CsbProtection *
csb_protections_get_all (gsize *n_protections)
{
  g_return_val_if_fail (n_protections != NULL, NULL);

  *n_protections = G_N_ELEMENTS (protections);
  return protections;
}

static const CsbProtection *
lookup (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (protections); i++)
    if (g_strcmp0 (protections[i].name, name) == 0)
      return &protections[i];
  return NULL;
}

const char *
csb_protection_get_description (const char *name)
{
  const CsbProtection *protection = lookup (name);

  return protection != NULL ? protection->description : NULL;
}

const char *
csb_protection_canonical (const char *name)
{
  const CsbProtection *protection = lookup (name);

  if (protection != NULL)
    return protection->name;
  for (gsize i = 0; i < G_N_ELEMENTS (aliases); i++)
    if (g_strcmp0 (aliases[i].old_name, name) == 0)
      return aliases[i].name;
  return NULL;
}

void
csb_protections_add (GPtrArray  *protections,
                     const char *name)
{
  g_return_if_fail (protections != NULL);
  /* A name not in the table is a bug of the backend: the app could not explain it
   * and the D-Bus contract does not define it. */
  g_assert (lookup (name) != NULL);

  g_ptr_array_add (protections, g_strdup (name));
}

void
csb_protections_insert (GPtrArray  *protections,
                        guint       index_,
                        const char *name)
{
  g_return_if_fail (protections != NULL);
  g_assert (lookup (name) != NULL);

  g_ptr_array_insert (protections, index_, g_strdup (name));
}

GStrv
csb_protections_dup_current (const char * const *names)
{
  GPtrArray *current = g_ptr_array_new ();

  for (gsize i = 0; names != NULL && names[i] != NULL; i++)
    {
      const char *name = csb_protection_canonical (names[i]);

      if (name != NULL)
        g_ptr_array_add (current, g_strdup (name));
      else
        g_message ("leaving out the protection '%s', which this version does not know",
                   names[i]);
    }
  g_ptr_array_add (current, NULL);
  return (GStrv) g_ptr_array_free (current, FALSE);
}
