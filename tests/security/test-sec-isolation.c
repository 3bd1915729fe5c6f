/* test-sec-isolation.c — what a sandbox cannot see or reach: host processes,
 * the host's home and other users' homes, the host's /etc secrets, and, with
 * network off, anything but its own loopback. With network on the sandbox has a
 * namespace of its own too, with one more interface (its user-mode stack's) and
 * still none of the host's loopback.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "csb-sec-utils.h"

static char *real_home;

static void
setup (CsbSecFixture *fixture,
       gconstpointer  data)
{
  csb_sec_fixture_setup (fixture, NULL);
}

static void
teardown (CsbSecFixture *fixture,
          gconstpointer  data)
{
  csb_sec_fixture_teardown (fixture);
}

static void
test_host_processes (CsbSecFixture *fixture,
                     gconstpointer  data)
{
  const char *argv[] = { "sleep", "987.654321", NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *pid_key = NULL;
  g_autofree char *script = NULL;
  g_auto(GStrv) procs = NULL;
  GPid pid;
  int status = -1;

  g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                 NULL, NULL, &pid, &error);
  g_assert_no_error (error);

  script = g_strdup_printf ("%s procs; echo \"pid1=$(cat /proc/1/comm)\"", fixture->probe);
  out = csb_sec_run_sh (fixture, script, NULL, &status);
  kill (pid, SIGKILL);
  g_spawn_close_pid (pid);
  g_assert_cmpint (status, ==, 0);

  procs = csb_sec_lines_with_prefix (out, "proc=");
  g_assert_cmpuint (g_strv_length (procs), >=, 2);
  g_assert_cmpuint (g_strv_length (procs), <=, 6);  /* bwrap, sh, probe (and a reaper) */
  g_assert_null (strstr (out, "987.654321"));
  pid_key = g_strdup_printf ("proc=%d:", (int) pid);
  g_assert_null (strstr (out, pid_key));
  g_assert_nonnull (strstr (out, "pid1=bwrap\n"));
}

static void
test_home_private (CsbSecFixture *fixture,
                   gconstpointer  data)
{
  const char *home = fixture->bus.dirs.home;
  g_autofree char *key = g_build_filename (home, ".ssh", "id_ed25519", NULL);
  g_autofree char *config = g_build_filename (home, ".ssh", "config", NULL);
  g_autofree char *secret = g_build_filename (home, "Documents", "secret.txt", NULL);
  g_autofree char *history = g_build_filename (home, ".bash_history", NULL);
  g_autofree char *gh = g_build_filename (home, ".config", "gh", "hosts.yml", NULL);
  g_autofree char *script = NULL;
  g_autofree char *out = NULL;
  g_autoptr(GHashTable) results = NULL;
  int status = -1;

  csb_test_write_file (key, "-----BEGIN OPENSSH PRIVATE KEY----- csb-host-private-key\n", 0600);
  csb_test_write_file (config, "Host example\n", 0600);
  csb_test_write_file (secret, "csb-host-secret\n", 0600);
  csb_test_write_file (history, "csb-host-history\n", 0600);
  csb_test_write_file (gh, "github.com: {oauth_token: csb-host-gh}\n", 0600);

  script = g_strdup_printf (
    "for f in %s %s %s %s %s; do if [ -e \"$f\" ]; then echo \"present:$f=1\"; "
    "else echo \"present:$f=0\"; fi; done; "
    "grep -r csb-host- ~ 2>/dev/null | sed 's/^/leak=/'; "
    "echo \"config-write=$(%s write %s | cut -d= -f2)\"; "
    "ls -A /home 2>/dev/null | sed 's/^/home-entry=/'; "
    "echo \"real-home=$(ls -A '%s' 2>/dev/null | tr '\\n' ' ')\"; "
    "ls -A /root 2>/dev/null | sed 's/^/root-entry=/'",
    key, config, secret, history, gh, fixture->probe, config, real_home);
  out = csb_sec_run_sh (fixture, script, NULL, &status);
  g_assert_cmpint (status, ==, 0);
  results = csb_sec_parse (out);
  {
    g_autofree char *k_key = g_strconcat ("present:", key, NULL);
    g_autofree char *k_config = g_strconcat ("present:", config, NULL);
    g_autofree char *k_secret = g_strconcat ("present:", secret, NULL);
    g_autofree char *k_history = g_strconcat ("present:", history, NULL);
    g_autofree char *k_gh = g_strconcat ("present:", gh, NULL);

    g_assert_cmpstr (g_hash_table_lookup (results, k_key), ==, "0");
    g_assert_cmpstr (g_hash_table_lookup (results, k_secret), ==, "0");
    g_assert_cmpstr (g_hash_table_lookup (results, k_history), ==, "0");
    g_assert_cmpstr (g_hash_table_lookup (results, k_gh), ==, "0");  /* gh-token off */
    /* ~/.ssh/config is there for git over ssh, read-only. */
    g_assert_cmpstr (g_hash_table_lookup (results, k_config), ==, "1");
    g_assert_cmpstr (g_hash_table_lookup (results, "config-write"), ==, "EROFS");
  }
  g_assert_false (g_hash_table_contains (results, "leak"));

  /* Other users' homes and the real home of whoever runs the tests. */
  {
    g_autoptr(GDir) host_home = g_dir_open ("/home", 0, NULL);
    const char *name;

    while (host_home != NULL && (name = g_dir_read_name (host_home)) != NULL)
      {
        g_autofree char *line = g_strdup_printf ("home-entry=%s\n", name);
        g_assert_null (strstr (out, line));
      }
  }
  if (real_home != NULL && !g_str_has_prefix (fixture->bus.dirs.home, real_home))
    g_assert_cmpstr (g_hash_table_lookup (results, "real-home"), ==, "");
}

static void
test_etc (CsbSecFixture *fixture,
          gconstpointer  data)
{
  g_autofree char *out = NULL;
  g_auto(GStrv) users = NULL;
  int status = -1;

  /* /etc/subuid and /etc/subgid name every user who has a range (test.sh gives
   * csb-test one, so the host here has them). */
  if (!g_file_test ("/etc/subuid", G_FILE_TEST_EXISTS))
    g_test_message ("the host has no /etc/subuid: its absence inside proves less");
  out = csb_sec_run_sh (fixture,
                        "for f in /etc/shadow /etc/gshadow /etc/sudoers /etc/ssh/ssh_host_ed25519_key "
                        "/etc/machine-id /etc/subuid /etc/subgid; do "
                        "[ -e $f ] && echo \"present=$f\"; done; "
                        "cut -d: -f1 /etc/passwd | sed 's/^/user=/'; "
                        "echo \"hostname=$(cat /proc/sys/kernel/hostname)\"",
                        NULL, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_null (strstr (out, "present="));
  users = csb_sec_lines_with_prefix (out, "user=");
  g_assert_cmpuint (g_strv_length (users), >=, 2);
  for (guint i = 0; users[i] != NULL; i++)
    g_assert_true (g_str_equal (users[i], "root") || g_str_equal (users[i], "nobody") ||
                   g_str_equal (users[i], g_get_user_name ()));
  g_assert_true (g_strv_contains ((const char * const *) users, g_get_user_name ()));
  g_assert_nonnull (strstr (out, "hostname=claude-sandbox\n"));
}

/* A listener on the host's loopback, which the test never accepts on: a connect
 * completes from the backlog alone. */
static int
listen_loopback (guint16 *out_port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t len = sizeof addr;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (fd, 16), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &addr, &len), ==, 0);
  *out_port = ntohs (addr.sin_port);
  return fd;
}

static void
test_network (CsbSecFixture *fixture,
              gconstpointer  data)
{
  gboolean network = GPOINTER_TO_INT (data);
  guint16 port;
  int listener = listen_loopback (&port);
  g_autofree char *port_s = g_strdup_printf ("%u", port);
  g_autoptr(GHashTable) results = NULL;
  g_autoptr(GHashTable) host = NULL;
  g_autofree char *out = NULL;
  g_autofree char *script = NULL;
  g_autoptr(GVariant) options = g_variant_ref_sink (csb_sec_options ("network",
                                                                     g_variant_new_boolean (network),
                                                                     NULL));
  g_auto(GStrv) ifaces = NULL;
  g_auto(GStrv) host_ifaces = NULL;
  int status = -1;

  host = csb_sec_probe_outside ("connect", "127.0.0.1", port_s, NULL);
  g_assert_cmpstr (g_hash_table_lookup (host, "connect"), ==, "OK");

  script = g_strdup_printf ("%s connect 127.0.0.1 %s; %s ifaces", fixture->probe, port_s,
                            fixture->probe);
  out = csb_sec_run_sh (fixture, script, g_variant_ref (options), &status);
  close (listener);
  g_assert_cmpint (status, ==, 0);
  results = csb_sec_parse (out);
  ifaces = csb_sec_lines_with_prefix (out, "iface=");
  {
    g_autofree char *host_out = NULL;
    g_autofree char *probe = csb_sec_built_probe ();
    const char *argv[] = { probe, "ifaces", NULL };

    g_spawn_sync (NULL, (char **) argv, NULL, 0, NULL, NULL, &host_out, NULL, NULL, NULL);
    host_ifaces = csb_sec_lines_with_prefix (host_out, "iface=");
  }

  if (network)
    {
      /* A namespace of its own with a user-mode stack: lo and one interface, and
       * the host's loopback out of reach (more in test-sec-network). */
      g_assert_cmpstr (g_hash_table_lookup (results, "connect"), ==, "ECONNREFUSED");
      g_assert_cmpuint (g_strv_length (ifaces), ==, 2);
      g_assert_true (g_strv_contains ((const char * const *) ifaces, "lo"));
      g_assert_cmpuint (g_strv_length (host_ifaces), >=, 1);
    }
  else
    {
      g_assert_cmpstr (g_hash_table_lookup (results, "connect"), ==, "ECONNREFUSED");
      g_assert_cmpuint (g_strv_length (ifaces), ==, 1);
      g_assert_cmpstr (ifaces[0], ==, "lo");
    }
}

int
main (int    argc,
      char **argv)
{
  real_home = g_strdup (g_get_home_dir ());
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  /* A failed check ends its test case, not the program: an abort would leave the
   * private bus and its service holding the TAP pipe open until the timeout. */
  g_test_set_nonfatal_assertions ();

  g_test_add ("/security/isolation/host-processes", CsbSecFixture, NULL, setup,
              test_host_processes, teardown);
  g_test_add ("/security/isolation/home-private", CsbSecFixture, NULL, setup,
              test_home_private, teardown);
  g_test_add ("/security/isolation/etc", CsbSecFixture, NULL, setup, test_etc, teardown);
  g_test_add ("/security/isolation/network-off", CsbSecFixture, GINT_TO_POINTER (FALSE), setup,
              test_network, teardown);
  g_test_add ("/security/isolation/network-on", CsbSecFixture, GINT_TO_POINTER (TRUE), setup,
              test_network, teardown);
  return g_test_run ();
}
