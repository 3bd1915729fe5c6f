/* csb-guest-stage.c
 *
 * What a libvirt guest (a VM or a container) gets as files rather than as
 * host folders: a curated /etc with passwd and group of its own, copies of
 * single files, and the GitHub token, which travels only in a 0600 file.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-error.h"
#include "csb-guest-stage.h"

/* /etc entries a program needs; everything else of the host's /etc stays hidden. */
const char * const csb_etc_allowlist[] = {
  "resolv.conf", "hosts", "host.conf", "nsswitch.conf", "gai.conf", "localtime",
  "timezone", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "ssl",
  "ca-certificates", "ca-certificates.conf", "pki", "crypto-policies", "mime.types",
  "os-release", "lsb-release", "debian_version", "bash.bashrc", "profile", "profile.d",
  "inputrc", "terminfo", "locale.alias", "locale.conf", "default", "gitconfig", "fonts",
  "protocols", "services", "shells", "npmrc", "magic", "magic.mime", "vim", "nanorc",
  "mailcap", "manpath.config", "environment", "papersize", "xdg", "java-17-openjdk",
  "python3", "python3.11", "perl", "ImageMagick-6", "gnutls",
  NULL
};

const char * const csb_home_ro_files[] = {
  ".gitconfig", ".config/git", ".ssh/config", ".ssh/known_hosts", CSB_HOME_GH_CONFIG, NULL
};

const char * const csb_stage_etc_own_files[] = {
  "passwd", "group", "hostname", "hosts", "resolv.conf", NULL
};

/* Visits @src (at @rel) and, for a folder, what is in it. A link into /usr stays a
 * link (the guest has /usr), a relative one too; another is followed, and what it
 * points to is visited in its place. Most links (/etc/alternatives: hundreds) say
 * so themselves, without resolving them: this runs at every launch. What cannot be
 * read (a folder) is left out. */
static void
walk (const char    *src,
      const char    *rel,
      int            depth,
      CsbStageVisit  visit,
      gpointer       user_data)
{
  struct stat st;

  if (depth > 8 || lstat (src, &st) != 0)
    return;
  if (S_ISLNK (st.st_mode))
    {
      g_autofree char *target = g_file_read_link (src, NULL);
      g_autofree char *resolved = NULL;

      if (target == NULL)
        return;
      if (!g_path_is_absolute (target) || g_str_has_prefix (target, "/usr/"))
        visit (CSB_STAGE_SYMLINK, rel, src, &st, target, user_data);
      else if ((resolved = realpath (src, NULL)) == NULL)
        return;
      else if (g_str_has_prefix (resolved, "/usr/"))
        visit (CSB_STAGE_SYMLINK, rel, src, &st, target, user_data);
      else
        walk (resolved, rel, depth + 1, visit, user_data);
    }
  else if (S_ISDIR (st.st_mode))
    {
      g_autoptr(GDir) dir = g_dir_open (src, 0, NULL);
      const char *name;

      if (dir == NULL || !visit (CSB_STAGE_DIR, rel, src, &st, NULL, user_data))
        return;
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *s = g_build_filename (src, name, NULL);
          g_autofree char *r = g_build_filename (rel, name, NULL);

          walk (s, r, depth + 1, visit, user_data);
        }
    }
  else if (S_ISREG (st.st_mode))
    visit (CSB_STAGE_FILE, rel, src, &st, NULL, user_data);
}

void
csb_stage_walk_etc (const char    *etc_root,
                    CsbStageVisit  visit,
                    gpointer       user_data)
{
  for (guint i = 0; csb_etc_allowlist[i] != NULL; i++)
    {
      g_autofree char *src = g_build_filename (etc_root, csb_etc_allowlist[i], NULL);

      /* A guest's own resolv.conf and hosts stand in for the host's. */
      if (!g_strv_contains (csb_stage_etc_own_files, csb_etc_allowlist[i]))
        walk (src, csb_etc_allowlist[i], 0, visit, user_data);
    }
}

/* Makes each entry below the folder @user_data. */
static gboolean
copy_entry (CsbStageKind       kind,
            const char        *rel,
            const char        *src,
            const struct stat *st,
            const char        *target,
            gpointer           user_data)
{
  g_autofree char *dest = g_build_filename (user_data, rel, NULL);
  g_autofree char *contents = NULL;
  gsize len;

  switch (kind)
    {
    case CSB_STAGE_SYMLINK:
      return symlink (target, dest) == 0;
    case CSB_STAGE_DIR:
      return mkdir (dest, 0755) == 0 || errno == EEXIST;
    case CSB_STAGE_FILE:
    default:
      return g_file_get_contents (src, &contents, &len, NULL) &&
             g_file_set_contents_full (dest, contents, len, G_FILE_SET_CONTENTS_NONE,
                                       st->st_mode & 0755, NULL);
    }
}

gboolean
csb_stage_copy_tree (const char *src,
                     const char *dest)
{
  g_autofree char *parent = g_path_get_dirname (dest);
  g_autofree char *name = g_path_get_basename (dest);

  walk (src, name, 0, copy_entry, parent);
  return g_file_test (dest, G_FILE_TEST_EXISTS) ||
         g_file_test (dest, G_FILE_TEST_IS_SYMLINK);
}

static gboolean
write_text (const char *dir,
            const char *name,
            const char *text,
            int         mode,
            GError    **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  return g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_NONE, mode, error);
}

gboolean
csb_stage_etc (const char         *etc,
               gboolean            with_host_entries,
               const CsbStageUser *user,
               const char         *hostname,
               const char         *resolv_conf,
               GError            **error)
{
  g_autofree char *passwd = NULL;
  g_autofree char *group = NULL;
  g_autofree char *hosts = NULL;
  g_autofree char *hostname_line = g_strconcat (hostname, "\n", NULL);

  if (g_mkdir_with_parents (etc, 0755) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create '%s': %s", etc,
                   g_strerror (errno));
      return FALSE;
    }
  if (with_host_entries)
    csb_stage_walk_etc ("/etc", copy_entry, (gpointer) etc);
  passwd = g_strdup_printf ("%s%s:x:%u:%u:%s:%s:%s\n"
                            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                            user->uid != 0 ? "root:x:0:0:root:/root:/bin/sh\n" : "",
                            user->name, (guint) user->uid, (guint) user->gid, user->name,
                            user->home, user->shell);
  group = g_strdup_printf ("%s%s:x:%u:\nnogroup:x:65534:\n",
                           user->gid != 0 ? "root:x:0:\n" : "",
                           user->gid == 0 ? "root" : user->name, (guint) user->gid);
  hosts = g_strdup_printf ("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n"
                           "::1\tlocalhost ip6-localhost ip6-loopback\n", hostname);
  return write_text (etc, "passwd", passwd, 0644, error) &&
         write_text (etc, "group", group, 0644, error) &&
         write_text (etc, "hostname", hostname_line, 0644, error) &&
         write_text (etc, "hosts", hosts, 0644, error) &&
         write_text (etc, "resolv.conf", resolv_conf, 0644, error);
}

/* @program on the PATH of @environ (the session's, which the service learnt), not
 * of the service's own process. */
static char *
find_in_path (char      **environ,
              const char *program)
{
  const char *path = g_environ_getenv (environ, "PATH");
  g_auto(GStrv) dirs = g_strsplit (path ? path : "/usr/local/bin:/usr/bin:/bin", ":", -1);

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *candidate = NULL;

      if (!g_path_is_absolute (dirs[i]))
        continue;
      candidate = g_build_filename (dirs[i], program, NULL);
      if (g_file_test (candidate, G_FILE_TEST_IS_EXECUTABLE) &&
          !g_file_test (candidate, G_FILE_TEST_IS_DIR))
        return g_steal_pointer (&candidate);
    }
  return NULL;
}

gboolean
csb_stage_find_claude (CsbSandboxSpec    *spec,
                       const char        *home,
                       CsbClaudeInstall **out_claude,
                       GError           **error)
{
  g_autofree char *configured = spec->settings ?
    g_settings_get_string (spec->settings, "claude-path") : NULL;
  g_autoptr(GError) local_error = NULL;

  *out_claude = csb_claude_install_find ((const char * const *) spec->environ, home,
                                         configured, &local_error);
  if (*out_claude == NULL && g_str_equal (spec->command[0], "claude"))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  return TRUE;
}

/* GH_TOKEN or GITHUB_TOKEN of the session, else what `gh auth token` says. */
char *
csb_stage_find_gh_token (CsbSandboxSpec *spec,
                         GError        **error)
{
  const char *token = g_environ_getenv (spec->environ, "GH_TOKEN");
  g_autofree char *gh = find_in_path (spec->environ, "gh");
  g_autofree char *out = NULL;
  const char *argv[] = { NULL, "auth", "token", NULL };
  int wait_status;

  if (token == NULL || *token == '\0')
    token = g_environ_getenv (spec->environ, "GITHUB_TOKEN");
  if (token != NULL && *token != '\0')
    return g_strdup (token);
  argv[0] = gh;
  if (gh != NULL &&
      g_spawn_sync (NULL, (char **) argv, spec->environ, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                    &out, NULL, &wait_status, NULL) &&
      g_spawn_check_wait_status (wait_status, NULL))
    {
      g_strstrip (out);
      if (*out != '\0' && strchr (out, '\n') == NULL)
        return g_steal_pointer (&out);
    }
  g_set_error_literal (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
                       "option 'gh-token': no GitHub token found: GH_TOKEN and GITHUB_TOKEN "
                       "are not set in the service's environment and 'gh auth token' gave "
                       "none (run 'gh auth login', or 'dbus-update-activation-environment "
                       "GH_TOKEN' in your session)");
  return NULL;
}

GPtrArray *
csb_stage_environment (CsbSandboxSpec     *spec,
                       const CsbStageUser *user,
                       const char         *path_env,
                       const char         *run_user,
                       const char         *token)
{
  GPtrArray *env = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) allowlist = NULL;
  GHashTableIter iter;
  gpointer name, value;

  allowlist = spec->settings ? g_settings_get_strv (spec->settings, "env-allowlist")
                             : g_new0 (char *, 1);
  for (guint i = 0; allowlist[i] != NULL; i++)
    {
      const char *v = g_environ_getenv (spec->environ, allowlist[i]);
      if (v != NULL)
        g_ptr_array_add (env, g_strdup_printf ("%s=%s", allowlist[i], v));
    }
  if (g_environ_getenv (spec->environ, "LANG") == NULL)
    g_ptr_array_add (env, g_strdup ("LANG=C.UTF-8"));
  g_ptr_array_add (env, g_strdup_printf ("HOME=%s", user->home));
  g_ptr_array_add (env, g_strdup_printf ("USER=%s", user->name));
  g_ptr_array_add (env, g_strdup_printf ("LOGNAME=%s", user->name));
  g_ptr_array_add (env, g_strdup_printf ("SHELL=%s", user->shell));
  g_ptr_array_add (env, g_strdup_printf ("PATH=%s", path_env));
  g_ptr_array_add (env, g_strdup_printf ("XDG_RUNTIME_DIR=%s", run_user));
  g_ptr_array_add (env, g_strdup_printf ("TERM=%s", spec->stdio_is_pty ? "xterm-256color"
                                                                       : "dumb"));
  g_ptr_array_add (env, g_strdup ("IS_SANDBOX=1"));
  g_ptr_array_add (env, g_strdup_printf ("CLAUDE_SANDBOX_ID=%s", spec->id));
  g_ptr_array_add (env, g_strdup ("DISABLE_AUTOUPDATER=1"));
  if (token != NULL)
    {
      g_ptr_array_add (env, g_strdup_printf ("GH_TOKEN=%s", token));
      g_ptr_array_add (env, g_strdup_printf ("GITHUB_TOKEN=%s", token));
    }
  g_hash_table_iter_init (&iter, spec->options->env);
  while (g_hash_table_iter_next (&iter, &name, &value))
    g_ptr_array_add (env, g_strdup_printf ("%s=%s", (char *) name, (char *) value));
  return env;
}
