/* test-sec-network.c — with the network on (the default), a sandbox reaches the
 * LAN but nothing that only the host can reach: its loopback (TCP servers on
 * 127.0.0.1), its abstract unix sockets (an X server's @/tmp/.X11-unix/X0, a
 * session bus on unix:abstract=), and it cannot listen on the host's loopback or
 * read the host's sockets in /proc/net.
 *
 * The "LAN" is a host the test makes: a network namespace with a veth pair and
 * addresses from 198.18.0.0/15 (RFC 2544's benchmarking range; the host's own LAN
 * may be TEST-NET-1). Only root can make one; unprivileged, that part is skipped
 * and says why. No packet goes to any outside address.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csb-landlock.h"
#include "csb-sec-utils.h"

#define LAN_HOST_ADDR "198.18.77.2"
#define LAN_LOCAL_ADDR "198.18.77.1"
#define LAN_PORT "8477"

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

static GVariant *
network_on (void)
{
  return g_variant_ref_sink (csb_sec_options ("network", g_variant_new_boolean (TRUE), NULL));
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

/* An abstract unix socket of the host, as an X server or dbus-launch makes. */
static int
listen_abstract (const char *name)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  size_t len = strlen (name);

  g_assert_cmpint (fd, >=, 0);
  memcpy (addr.sun_path + 1, name, len);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr,
                         offsetof (struct sockaddr_un, sun_path) + 1 + len), ==, 0);
  g_assert_cmpint (listen (fd, 16), ==, 0);
  return fd;
}

static void
test_host_loopback (CsbSecFixture *fixture,
                    gconstpointer  data)
{
  guint16 port;
  int listener = listen_loopback (&port);
  g_autofree char *port_s = g_strdup_printf ("%u", port);
  g_autofree char *abstract = g_strdup_printf ("csb-test-abstract-%d-%u", (int) getpid (),
                                               g_random_int ());
  int abstract_fd = listen_abstract (abstract);
  g_autofree char *port_hex = g_strdup_printf (":%04X ", port);
  g_autoptr(GVariant) options = network_on ();
  g_autoptr(GHashTable) host = NULL;
  g_autoptr(GHashTable) results = NULL;
  g_autofree char *script = NULL;
  g_autofree char *out = NULL;
  g_auto(GStrv) ifaces = NULL;
  int status = -1;

  /* The host itself reaches both: the refusals below are the sandbox's. */
  host = csb_sec_probe_outside ("connect", "127.0.0.1", port_s, NULL);
  g_assert_cmpstr (g_hash_table_lookup (host, "connect"), ==, "OK");
  g_clear_pointer (&host, g_hash_table_unref);
  host = csb_sec_probe_outside ("connect-abstract", abstract, NULL);
  g_assert_cmpstr (g_hash_table_lookup (host, "connect-abstract"), ==, "OK");

  script = g_strdup_printf ("%s connect 127.0.0.1 %s; %s connect-abstract %s; %s ifaces; "
                            "if grep -q '%s' /proc/net/tcp; then echo proc-net-tcp=host; "
                            "else echo proc-net-tcp=own; fi",
                            fixture->probe, port_s, fixture->probe, abstract, fixture->probe,
                            port_hex);
  out = csb_sec_run_sh (fixture, script, g_variant_ref (options), &status);
  close (listener);
  close (abstract_fd);
  g_assert_cmpint (status, ==, 0);
  results = csb_sec_parse (out);
  g_assert_cmpstr (g_hash_table_lookup (results, "connect"), ==, "ECONNREFUSED");
  g_assert_nonnull (g_hash_table_lookup (results, "connect-abstract"));
  g_assert_cmpstr (g_hash_table_lookup (results, "connect-abstract"), !=, "OK");
  g_assert_cmpstr (g_hash_table_lookup (results, "proc-net-tcp"), ==, "own");
  /* Its own namespace: lo and the stack's interface, none of the host's. */
  ifaces = csb_sec_lines_with_prefix (out, "iface=");
  g_assert_cmpuint (g_strv_length (ifaces), ==, 2);
  g_assert_true (g_strv_contains ((const char * const *) ifaces, "lo"));
}

typedef struct
{
  guint16       port;
  volatile gint stop;
  volatile gint reached;
} Knocker;

/* Knocks on the host's 127.0.0.1:port while the sandbox listens there. */
static gpointer
knock_thread (gpointer data)
{
  Knocker *k = data;

  while (!g_atomic_int_get (&k->stop))
    {
      struct sockaddr_in addr = { .sin_family = AF_INET };
      int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

      addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      addr.sin_port = htons (k->port);
      if (fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0)
        g_atomic_int_set (&k->reached, 1);
      if (fd >= 0)
        close (fd);
      g_usleep (20 * 1000);
    }
  return NULL;
}

static void
test_listen_host_loopback (CsbSecFixture *fixture,
                           gconstpointer  data)
{
  guint16 port;
  int probe_fd = listen_loopback (&port);
  g_autofree char *port_s = g_strdup_printf ("%u", port);
  g_autoptr(GVariant) options = network_on ();
  g_autoptr(GHashTable) results = NULL;
  g_autofree char *out = NULL;
  g_autofree char *script = NULL;
  Knocker knocker = { 0 };
  GThread *thread;
  int status = -1;

  /* A port free on the host: the sandbox squats it for two seconds. */
  close (probe_fd);
  knocker.port = port;
  thread = g_thread_new ("knock", knock_thread, &knocker);
  script = g_strdup_printf ("%s listen 127.0.0.1 %s 2", fixture->probe, port_s);
  out = csb_sec_run_sh (fixture, script, g_variant_ref (options), &status);
  g_atomic_int_set (&knocker.stop, 1);
  g_thread_join (thread);
  g_assert_cmpint (status, ==, 0);
  results = csb_sec_parse (out);
  /* It listened, in its own namespace; the host never saw it. */
  g_assert_cmpstr (g_hash_table_lookup (results, "listen"), ==, "OK");
  g_assert_cmpint (g_atomic_int_get (&knocker.reached), ==, 0);
}

static gboolean
run_quiet (const char * const *argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int status = -1;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH |
                     G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err, &status, &error))
    {
      g_test_message ("%s: %s", argv[0], error->message);
      return FALSE;
    }
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_autofree char *shown = g_strjoinv (" ", (char **) argv);
      g_test_message ("%s: %s", shown, err);
      return FALSE;
    }
  return TRUE;
}

typedef struct
{
  char *netns;
  char *veth;
  GPid  server;
} LanHost;

static void
lan_host_free (LanHost *lan)
{
  if (lan->server > 0)
    {
      kill (lan->server, SIGKILL);
      waitpid (lan->server, NULL, 0);
    }
  if (lan->veth != NULL)
    run_quiet ((const char * const[]) { "ip", "link", "del", lan->veth, NULL });
  if (lan->netns != NULL)
    run_quiet ((const char * const[]) { "ip", "netns", "del", lan->netns, NULL });
  g_free (lan->netns);
  g_free (lan->veth);
  g_free (lan);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LanHost, lan_host_free)

/* A host on a made-up LAN: its own network namespace behind a veth pair, serving
 * LAN_PORT. NULL (with the reason in @out_why) where this user cannot make one. */
static LanHost *
lan_host_new (CsbSecFixture *fixture,
              char         **out_why)
{
  g_autoptr(LanHost) lan = g_new0 (LanHost, 1);
  g_autofree char *peer = NULL;
  g_autofree char *probe = csb_sec_built_probe ();
  g_autoptr(GError) error = NULL;
  guint tag = (guint) getpid () % 100000;

  if (getuid () != 0)
    {
      *out_why = g_strdup ("making a LAN host (a network namespace and a veth pair on the "
                           "host) needs root");
      return NULL;
    }
  lan->netns = g_strdup_printf ("csb-lan-%u", tag);
  if (!run_quiet ((const char * const[]) { "ip", "netns", "add", lan->netns, NULL }))
    {
      g_clear_pointer (&lan->netns, g_free);
      *out_why = g_strdup ("'ip netns add' failed (see the messages above)");
      return NULL;
    }
  lan->veth = g_strdup_printf ("csbl%ua", tag);
  peer = g_strdup_printf ("csbl%ub", tag);
  if (!run_quiet ((const char * const[]) { "ip", "link", "add", lan->veth, "type", "veth",
                                           "peer", "name", peer, NULL }))
    {
      g_clear_pointer (&lan->veth, g_free);
      *out_why = g_strdup ("cannot make a veth pair");
      return NULL;
    }
  if (!run_quiet ((const char * const[]) { "ip", "link", "set", peer, "netns", lan->netns,
                                           NULL }) ||
      !run_quiet ((const char * const[]) { "ip", "addr", "add", LAN_LOCAL_ADDR "/24", "dev",
                                           lan->veth, NULL }) ||
      !run_quiet ((const char * const[]) { "ip", "link", "set", lan->veth, "up", NULL }) ||
      !run_quiet ((const char * const[]) { "ip", "-n", lan->netns, "addr", "add",
                                           LAN_HOST_ADDR "/24", "dev", peer, NULL }) ||
      !run_quiet ((const char * const[]) { "ip", "-n", lan->netns, "link", "set", peer, "up",
                                           NULL }) ||
      !run_quiet ((const char * const[]) { "ip", "-n", lan->netns, "link", "set", "lo", "up",
                                           NULL }))
    {
      *out_why = g_strdup ("cannot configure the LAN host's veth pair");
      return NULL;
    }
  {
    const char *argv[] = { "ip", "netns", "exec", lan->netns, probe, "serve", LAN_HOST_ADDR,
                           LAN_PORT, NULL };
    int out_fd = -1;
    char buf[64] = "";

    g_spawn_async_with_pipes (NULL, (char **) argv, NULL,
                              G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                              &lan->server, NULL, &out_fd, NULL, &error);
    g_assert_no_error (error);
    /* "serve=OK" once it listens. */
    g_assert_cmpint (read (out_fd, buf, sizeof buf - 1), >, 0);
    close (out_fd);
    g_assert_nonnull (strstr (buf, "serve=OK"));
  }
  return g_steal_pointer (&lan);
}

static void
test_lan (CsbSecFixture *fixture,
          gconstpointer  data)
{
  g_autofree char *why = NULL;
  g_autoptr(LanHost) lan = lan_host_new (fixture, &why);
  g_autoptr(GVariant) options = network_on ();
  g_autoptr(GHashTable) host = NULL;
  g_autoptr(GHashTable) results = NULL;

  if (lan == NULL)
    {
      g_test_skip (why);
      return;
    }
  host = csb_sec_probe_outside ("connect", LAN_HOST_ADDR, LAN_PORT, NULL);
  g_assert_cmpstr (g_hash_table_lookup (host, "connect"), ==, "OK");
  results = csb_sec_probe_inside (fixture, options, "connect", LAN_HOST_ADDR, LAN_PORT, NULL);
  g_assert_cmpstr (g_hash_table_lookup (results, "connect"), ==, "OK");
}

/* Names from /etc/hosts resolve inside as outside (the resolver's files source,
 * which the network namespace must not break). */
static void
test_hosts_file (CsbSecFixture *fixture,
                 gconstpointer  data)
{
  g_autoptr(GVariant) options = network_on ();
  g_autofree char *hosts = NULL;
  g_autofree char *out = NULL;
  g_autofree char *expected = NULL;
  g_auto(GStrv) lines = NULL;
  g_autofree char *name = NULL;
  g_autofree char *address = NULL;
  int status = -1;

  g_assert_true (g_file_get_contents ("/etc/hosts", &hosts, NULL, NULL));
  lines = g_strsplit (hosts, "\n", -1);
  for (guint i = 0; lines[i] != NULL && name == NULL; i++)
    {
      g_auto(GStrv) words = g_strsplit_set (g_strstrip (lines[i]), " \t", -1);

      if (words[0] == NULL || words[0][0] == '#' || strchr (words[0], '.') == NULL)
        continue;   /* IPv4 entries only: getent's answer is then the same */
      for (guint k = 1; words[k] != NULL && name == NULL; k++)
        if (*words[k] != '\0')
          {
            name = g_strdup (words[k]);
            address = g_strdup (words[0]);
          }
    }
  if (name == NULL)
    {
      g_test_skip ("/etc/hosts has no IPv4 entry");
      return;
    }
  {
    const char * const argv[] = { "getent", "ahostsv4", name, NULL };

    out = csb_sec_run (fixture, argv, g_variant_ref (options), &status, NULL);
  }
  g_assert_cmpint (status, ==, 0);
  expected = g_strconcat (address, " ", NULL);
  g_assert_true (g_str_has_prefix (out, expected));
}

/* Landlock's scoping, on where the kernel has it (ABI 6) and said in Protections:
 * the command cannot signal a process outside its domain, here bwrap's pid 1 of
 * its own sandbox (same user, which it could signal otherwise). Abstract sockets
 * made outside the domain are scoped the same way; the network namespace already
 * hides the host's. */
static void
test_landlock_scope (CsbSecFixture *fixture,
                     gconstpointer  data)
{
  const char *argv[] = { fixture->probe, "kill", "1", NULL };
  g_autoptr(GVariant) options = network_on ();
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GHashTable) results = NULL;
  const char * const *protections;
  gboolean scoped = csb_landlock_abi () >= CSB_LANDLOCK_SCOPE_ABI;

  run = csb_test_launch (&fixture->bus, fixture->project, argv, g_variant_ref (options), FALSE,
                         &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  protections = csb_dbus_sandbox_get_protections (run->sandbox);
  g_assert_true (g_strv_contains (protections, "landlock-scope") == scoped);
  results = csb_sec_parse (run->out->str);
  g_test_message ("Landlock ABI %d: %s", csb_landlock_abi (), run->out->str);
  if (!scoped)
    {
      g_test_skip ("this kernel has no Landlock scoping (ABI < 6): Protections do not say "
                   "landlock-scope");
      return;
    }
  g_assert_cmpstr (g_hash_table_lookup (results, "kill"), ==, "EPERM");
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  g_test_set_nonfatal_assertions ();

  g_test_add ("/security/network/host-loopback-unreachable", CsbSecFixture, NULL, setup,
              test_host_loopback, teardown);
  g_test_add ("/security/network/no-listening-on-host-loopback", CsbSecFixture, NULL, setup,
              test_listen_host_loopback, teardown);
  g_test_add ("/security/network/lan-reachable", CsbSecFixture, NULL, setup, test_lan,
              teardown);
  g_test_add ("/security/network/hosts-file", CsbSecFixture, NULL, setup, test_hosts_file,
              teardown);
  g_test_add ("/security/network/landlock-scope", CsbSecFixture, NULL, setup,
              test_landlock_scope, teardown);
  return g_test_run ();
}
