/* csb-net-policy.c
 *
 * Patterns: "example.com" matches that host only; "*.example.com" matches its
 * subdomains (not example.com itself). Deny wins over allow. Decisions are made
 * on the name the sandbox asked for; the proxy then refuses private addresses
 * unless the name was allowed exactly, so a wildcard name rebound to 127.0.0.1
 * (or the LAN) does not reach the host's own services; nor does one rebound to
 * any address of the host's own interfaces, public ones included.
 *
 * Thread-safe: AllowHost() changes the lists while connections are checked.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "csb-error.h"
#include "csb-net-policy.h"

#define MAX_PATTERN_LEN 253

struct _CsbNetPolicy
{
  gatomicrefcount ref_count;
  GMutex          lock;
  GPtrArray      *allow;   /* (element-type utf8), lower case */
  GPtrArray      *deny;
};

CsbNetPolicy *
csb_net_policy_new (void)
{
  CsbNetPolicy *self = g_new0 (CsbNetPolicy, 1);

  g_atomic_ref_count_init (&self->ref_count);
  g_mutex_init (&self->lock);
  self->allow = g_ptr_array_new_with_free_func (g_free);
  self->deny = g_ptr_array_new_with_free_func (g_free);
  return self;
}

CsbNetPolicy *
csb_net_policy_ref (CsbNetPolicy *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
csb_net_policy_unref (CsbNetPolicy *self)
{
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  g_mutex_clear (&self->lock);
  g_ptr_array_unref (self->allow);
  g_ptr_array_unref (self->deny);
  g_free (self);
}

gboolean
csb_net_pattern_validate (const char *pattern,
                          GError    **error)
{
  const char *host = g_str_has_prefix (pattern, "*.") ? pattern + 2 : pattern;
  gsize len = strlen (host);

  if (len == 0 || len > MAX_PATTERN_LEN)
    goto bad;
  if (host[0] == '.' || host[len - 1] == '.' || strstr (host, "..") != NULL)
    goto bad;
  for (const char *p = host; *p; p++)
    if (!(g_ascii_isalnum (*p) || *p == '-' || *p == '.' || *p == ':' || *p == '_'))
      goto bad;
  return TRUE;

bad:
  g_set_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT,
               "'%s' is not a host pattern (use example.com, or *.example.com for its "
               "subdomains)", pattern);
  return FALSE;
}

static gboolean
add_pattern (CsbNetPolicy *self,
             GPtrArray    *list,
             const char   *pattern,
             GError      **error)
{
  g_autofree char *lower = NULL;

  if (!csb_net_pattern_validate (pattern, error))
    return FALSE;
  lower = g_ascii_strdown (pattern, -1);
  g_mutex_lock (&self->lock);
  for (guint i = 0; i < list->len; i++)
    if (g_str_equal (g_ptr_array_index (list, i), lower))
      {
        g_mutex_unlock (&self->lock);
        return TRUE;
      }
  g_ptr_array_add (list, g_steal_pointer (&lower));
  g_mutex_unlock (&self->lock);
  return TRUE;
}

gboolean
csb_net_policy_add_allow (CsbNetPolicy *self,
                          const char   *pattern,
                          GError      **error)
{
  return add_pattern (self, self->allow, pattern, error);
}

gboolean
csb_net_policy_add_deny (CsbNetPolicy *self,
                         const char   *pattern,
                         GError      **error)
{
  return add_pattern (self, self->deny, pattern, error);
}

GStrv
csb_net_policy_dup_allow (CsbNetPolicy *self)
{
  GStrvBuilder *builder = g_strv_builder_new ();
  GStrv result;

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->allow->len; i++)
    g_strv_builder_add (builder, g_ptr_array_index (self->allow, i));
  g_mutex_unlock (&self->lock);
  result = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return result;
}

/* 0: no match; 1: wildcard match; 2: exact match. */
static int
match (const char *pattern,
       const char *host)
{
  if (g_str_has_prefix (pattern, "*."))
    {
      const char *suffix = pattern + 1;  /* ".example.com" */
      gsize hlen = strlen (host), slen = strlen (suffix);

      return (hlen > slen && g_str_equal (host + hlen - slen, suffix)) ? 1 : 0;
    }
  return g_str_equal (pattern, host) ? 2 : 0;
}

CsbNetVerdict
csb_net_policy_check_host (CsbNetPolicy *self,
                           const char   *host)
{
  g_autofree char *lower = NULL;
  CsbNetVerdict verdict = CSB_NET_DENY;
  gsize len;

  if (host == NULL || *host == '\0')
    return CSB_NET_DENY;
  lower = g_ascii_strdown (host, -1);
  /* "example.com." is example.com. */
  len = strlen (lower);
  if (len > 1 && lower[len - 1] == '.')
    lower[len - 1] = '\0';

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->deny->len; i++)
    if (match (g_ptr_array_index (self->deny, i), lower))
      goto out;
  for (guint i = 0; i < self->allow->len; i++)
    {
      int m = match (g_ptr_array_index (self->allow, i), lower);

      if (m == 2)
        {
          verdict = CSB_NET_ALLOW_EXACT;
          break;
        }
      if (m == 1)
        verdict = CSB_NET_ALLOW;
    }
out:
  g_mutex_unlock (&self->lock);
  return verdict;
}

gboolean
csb_net_address_is_public (GInetAddress *address)
{
  const guint8 *bytes;

  if (g_inet_address_get_is_any (address) || g_inet_address_get_is_loopback (address) ||
      g_inet_address_get_is_link_local (address) || g_inet_address_get_is_site_local (address) ||
      g_inet_address_get_is_multicast (address))
    return FALSE;

  bytes = g_inet_address_to_bytes (address);
  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4)
    {
      /* 0/8, 100.64/10 (CGNAT), 198.18/15 (benchmarks), 240/4 */
      if (bytes[0] == 0 || (bytes[0] == 100 && (bytes[1] & 0xc0) == 64) ||
          (bytes[0] == 198 && (bytes[1] & 0xfe) == 18) || bytes[0] >= 240)
        return FALSE;
    }
  else
    {
      static const guint8 v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

      /* fc00::/7 (unique local) */
      if ((bytes[0] & 0xfe) == 0xfc)
        return FALSE;
      if (memcmp (bytes, v4mapped, 12) == 0)
        {
          g_autoptr(GInetAddress) v4 = g_inet_address_new_from_bytes (bytes + 12,
                                                                      G_SOCKET_FAMILY_IPV4);
          return csb_net_address_is_public (v4);
        }
    }
  return TRUE;
}

/* Whether @address is one of this host's (any interface's, as getifaddrs lists
 * them now: addresses come and go with the network). An IPv4-mapped IPv6 address
 * counts as its IPv4 one. */
gboolean
csb_net_address_is_host_own (GInetAddress *address)
{
  struct ifaddrs *list = NULL;
  const guint8 *bytes = g_inet_address_to_bytes (address);
  gsize len = g_inet_address_get_native_size (address);
  GSocketFamily family = g_inet_address_get_family (address);
  gboolean own = FALSE;

  if (family == G_SOCKET_FAMILY_IPV6)
    {
      static const guint8 v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

      if (memcmp (bytes, v4mapped, 12) == 0)
        {
          g_autoptr(GInetAddress) v4 = g_inet_address_new_from_bytes (bytes + 12,
                                                                      G_SOCKET_FAMILY_IPV4);
          return csb_net_address_is_host_own (v4);
        }
    }
  if (getifaddrs (&list) != 0)
    return TRUE;   /* cannot tell: refuse, as for a private address */
  for (struct ifaddrs *i = list; i != NULL && !own; i = i->ifa_next)
    {
      if (i->ifa_addr == NULL)
        continue;
      if (family == G_SOCKET_FAMILY_IPV4 && i->ifa_addr->sa_family == AF_INET)
        own = memcmp (&((struct sockaddr_in *) i->ifa_addr)->sin_addr, bytes, len) == 0;
      else if (family == G_SOCKET_FAMILY_IPV6 && i->ifa_addr->sa_family == AF_INET6)
        own = memcmp (&((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr, bytes, len) == 0;
    }
  freeifaddrs (list);
  return own;
}
