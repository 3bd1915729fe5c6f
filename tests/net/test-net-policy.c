/* Unit tests of the network filter's policy: patterns, verdicts, address classes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <gio/gio.h>

#include "csb-error.h"
#include "csb-net-policy.h"

static void
test_patterns (void)
{
  static const char * const good[] = {
    "example.com", "*.example.com", "api.anthropic.com", "localhost", "127.0.0.1", "::1",
    "under_score.example", NULL
  };
  static const char * const bad[] = {
    "", "*.", "*", ".example.com", "example..com", "example.com.", "exa mple.com",
    "*.*.example.com", "example.com/path", "http://example.com", "ex\nample", NULL
  };

  for (guint i = 0; good[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_true (csb_net_pattern_validate (good[i], &error));
      g_assert_no_error (error);
    }
  for (guint i = 0; bad[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (csb_net_pattern_validate (bad[i], &error));
      g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
    }
}

static void
test_verdicts (void)
{
  g_autoptr(CsbNetPolicy) policy = csb_net_policy_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (csb_net_policy_add_allow (policy, "github.com", &error));
  g_assert_true (csb_net_policy_add_allow (policy, "*.GitHubUserContent.com", &error));
  g_assert_true (csb_net_policy_add_allow (policy, "*.example.org", &error));
  g_assert_true (csb_net_policy_add_deny (policy, "evil.example.org", &error));
  g_assert_no_error (error);

  g_assert_cmpint (csb_net_policy_check_host (policy, "github.com"), ==, CSB_NET_ALLOW_EXACT);
  g_assert_cmpint (csb_net_policy_check_host (policy, "GITHUB.com."), ==, CSB_NET_ALLOW_EXACT);
  /* A pattern for the host is not one for its subdomains, nor the reverse. */
  g_assert_cmpint (csb_net_policy_check_host (policy, "api.github.com"), ==, CSB_NET_DENY);
  g_assert_cmpint (csb_net_policy_check_host (policy, "raw.githubusercontent.com"), ==,
                   CSB_NET_ALLOW);
  g_assert_cmpint (csb_net_policy_check_host (policy, "githubusercontent.com"), ==,
                   CSB_NET_DENY);
  g_assert_cmpint (csb_net_policy_check_host (policy, "xgithubusercontent.com"), ==,
                   CSB_NET_DENY);
  g_assert_cmpint (csb_net_policy_check_host (policy, "a.b.example.org"), ==, CSB_NET_ALLOW);
  /* Deny wins. */
  g_assert_cmpint (csb_net_policy_check_host (policy, "evil.example.org"), ==, CSB_NET_DENY);
  g_assert_cmpint (csb_net_policy_check_host (policy, "github.com.evil.net"), ==, CSB_NET_DENY);
  g_assert_cmpint (csb_net_policy_check_host (policy, ""), ==, CSB_NET_DENY);
  g_assert_cmpint (csb_net_policy_check_host (policy, NULL), ==, CSB_NET_DENY);

  /* Added at run time (AllowHost): effective at once. */
  g_assert_cmpint (csb_net_policy_check_host (policy, "pypi.org"), ==, CSB_NET_DENY);
  g_assert_true (csb_net_policy_add_allow (policy, "pypi.org", &error));
  g_assert_cmpint (csb_net_policy_check_host (policy, "pypi.org"), ==, CSB_NET_ALLOW_EXACT);
  {
    g_auto(GStrv) allow = csb_net_policy_dup_allow (policy);
    g_assert_true (g_strv_contains ((const char * const *) allow, "pypi.org"));
    g_assert_true (g_strv_contains ((const char * const *) allow, "*.githubusercontent.com"));
  }
}

static void
test_addresses (void)
{
  static const struct { const char *address; gboolean is_public; } cases[] = {
    { "1.1.1.1", TRUE }, { "140.82.112.3", TRUE }, { "2606:4700::1111", TRUE },
    { "127.0.0.1", FALSE }, { "127.8.9.10", FALSE }, { "10.1.2.3", FALSE },
    { "172.16.0.1", FALSE }, { "172.31.255.255", FALSE }, { "172.32.0.1", TRUE },
    { "192.168.1.1", FALSE }, { "169.254.169.254", FALSE }, { "0.0.0.0", FALSE },
    { "100.64.0.1", FALSE }, { "198.18.0.1", FALSE }, { "224.0.0.1", FALSE },
    { "255.255.255.255", FALSE }, { "::1", FALSE }, { "::", FALSE }, { "fe80::1", FALSE },
    { "fd00::1", FALSE }, { "::ffff:127.0.0.1", FALSE }, { "::ffff:8.8.8.8", TRUE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GInetAddress) a = g_inet_address_new_from_string (cases[i].address);

      g_assert_nonnull (a);
      if (csb_net_address_is_public (a) != cases[i].is_public)
        g_error ("%s should%s be public", cases[i].address, cases[i].is_public ? "" : " not");
    }
}

/* Every address of this host's interfaces is its own, loopback included; one from
 * TEST-NET-3 that no interface has is not. */
static void
test_host_own (void)
{
  struct ifaddrs *list = NULL;
  guint seen = 0;

  g_assert_cmpint (getifaddrs (&list), ==, 0);
  for (struct ifaddrs *i = list; i != NULL; i = i->ifa_next)
    {
      g_autoptr(GSocketAddress) sa = NULL;

      if (i->ifa_addr == NULL ||
          (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
        continue;
      sa = g_socket_address_new_from_native (i->ifa_addr,
                                             i->ifa_addr->sa_family == AF_INET
                                             ? sizeof (struct sockaddr_in)
                                             : sizeof (struct sockaddr_in6));
      g_assert_true (csb_net_address_is_host_own (
        g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (sa))));
      seen++;
    }
  freeifaddrs (list);
  g_assert_cmpuint (seen, >=, 1);
  {
    g_autoptr(GInetAddress) other = g_inet_address_new_from_string ("203.0.113.77");
    g_autoptr(GInetAddress) mapped = g_inet_address_new_from_string ("::ffff:127.0.0.1");

    g_assert_false (csb_net_address_is_host_own (other));
    g_assert_true (csb_net_address_is_host_own (mapped));
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/net/policy/patterns", test_patterns);
  g_test_add_func ("/net/policy/verdicts", test_verdicts);
  g_test_add_func ("/net/policy/addresses", test_addresses);
  g_test_add_func ("/net/policy/host-own-addresses", test_host_own);
  return g_test_run ();
}
