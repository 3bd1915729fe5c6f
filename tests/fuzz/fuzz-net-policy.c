/* fuzz-net-policy.c — libFuzzer target: host patterns and the policy's verdicts.
 * The input is lines: "+pattern" adds an allow pattern, "-pattern" a deny pattern,
 * "?host" asks for a verdict, "@bytes" checks an address (4 or 16 bytes) for being
 * public.
 *
 * Checks: a pattern is added exactly when it validates; a host matching a deny
 * pattern is never allowed; an exact verdict only for a host named by an allow
 * pattern; loopback, private, link-local and their v4-mapped forms are never public.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "fuzz-common.h"

#include <stdint.h>
#include <string.h>

#include <gio/gio.h>

#include "csb-net-policy.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gboolean
v4_is_private (const guint8 *b)
{
  return b[0] == 127 || b[0] == 10 || b[0] == 0 || (b[0] == 172 && (b[1] & 0xf0) == 16) ||
         (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254) ||
         (b[0] == 100 && (b[1] & 0xc0) == 64) || b[0] >= 224;
}

static void
check_address (const char *bytes,
               gsize       len)
{
  g_autoptr(GInetAddress) address = NULL;
  static const guint8 v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
  gboolean is_public;

  if (len != 4 && len != 16)
    return;
  address = g_inet_address_new_from_bytes ((const guint8 *) bytes,
                                           len == 4 ? G_SOCKET_FAMILY_IPV4
                                                    : G_SOCKET_FAMILY_IPV6);
  is_public = csb_net_address_is_public (address);
  if (len == 4 && v4_is_private ((const guint8 *) bytes))
    g_assert_false (is_public);
  if (len == 16 && memcmp (bytes, v4mapped, 12) == 0 && v4_is_private ((const guint8 *) bytes + 12))
    g_assert_false (is_public);
  if (len == 16 && ((guint8) bytes[0] & 0xfe) == 0xfc)
    g_assert_false (is_public);
  if (g_inet_address_get_is_loopback (address) || g_inet_address_get_is_link_local (address))
    g_assert_false (is_public);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(CsbNetPolicy) policy = csb_net_policy_new ();
  g_autoptr(GPtrArray) deny = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) allow = g_ptr_array_new_with_free_func (g_free);
  const char *p = (const char *) data, *end = p + size;

  while (p < end)
    {
      const char *nl = memchr (p, '\n', end - p);
      gsize len = (nl ? nl : end) - p;
      g_autofree char *line = g_strndup (p, len);  /* stops at a NUL, as a C caller would */
      g_autoptr(GError) error = NULL;

      p += len + (nl ? 1 : 0);
      if (len == 0)
        continue;
      switch (line[0])
        {
        case '+':
        case '-':
          {
            gboolean valid = csb_net_pattern_validate (line + 1, NULL);
            gboolean added = line[0] == '+' ? csb_net_policy_add_allow (policy, line + 1, &error)
                                            : csb_net_policy_add_deny (policy, line + 1, &error);

            g_assert_true (valid == added);
            g_assert_true (added == (error == NULL));
            if (added)
              g_ptr_array_add (line[0] == '+' ? allow : deny, g_ascii_strdown (line + 1, -1));
          }
          break;
        case '?':
          {
            CsbNetVerdict verdict = csb_net_policy_check_host (policy, line + 1);
            g_autofree char *host = g_ascii_strdown (line + 1, -1);
            gsize hlen = strlen (host);

            if (hlen > 1 && host[hlen - 1] == '.')
              host[hlen - 1] = '\0';
            for (guint i = 0; i < deny->len; i++)
              if (g_str_equal (g_ptr_array_index (deny, i), host))
                g_assert_cmpint (verdict, ==, CSB_NET_DENY);
            if (verdict == CSB_NET_ALLOW_EXACT)
              {
                gboolean named = FALSE;

                for (guint i = 0; i < allow->len; i++)
                  named |= g_str_equal (g_ptr_array_index (allow, i), host);
                g_assert_true (named);
              }
          }
          break;
        case '@':
          check_address (p - len - (nl ? 1 : 0) + 1, len - 1);
          break;
        default:
          break;
        }
    }
  return 0;
}
