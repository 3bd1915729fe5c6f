/* Unit tests of "network on"'s user-mode stack: the command lines that keep the
 * host's loopback out, and the sandbox's resolv.conf. (The real thing, in
 * sandboxes: tests/security/test-sec-network.c.)
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gstdio.h>

#include "csb-user-net.h"

static gboolean
has_seq (GStrv        argv,
         const char  *a,
         const char  *b)
{
  for (guint i = 0; argv[i] != NULL; i++)
    if (g_str_equal (argv[i], a) && (b == NULL || (argv[i + 1] != NULL &&
                                                   g_str_equal (argv[i + 1], b))))
      return TRUE;
  return FALSE;
}

/* pasta maps the gateway to the host's loopback and forwards bound ports both ways
 * unless told not to: each of those would hand the sandbox the host's 127.0.0.1. */
static void
test_pasta_argv (void)
{
  g_auto(GStrv) argv = csb_user_net_build_argv (CSB_USER_NET_PASTA, "/usr/bin/pasta", FALSE,
                                                3, 4, 5);
  g_auto(GStrv) root = csb_user_net_build_argv (CSB_USER_NET_PASTA, "/usr/bin/pasta", TRUE,
                                                3, 4, 5);

  g_assert_cmpstr (argv[0], ==, "/usr/bin/pasta");
  g_assert_true (has_seq (argv, "--no-map-gw", NULL));
  g_assert_true (has_seq (argv, "--tcp-ports", "none"));
  g_assert_true (has_seq (argv, "--udp-ports", "none"));
  g_assert_true (has_seq (argv, "--tcp-ns", "none"));
  g_assert_true (has_seq (argv, "--udp-ns", "none"));
  g_assert_true (has_seq (argv, "--config-net", NULL));
  g_assert_true (has_seq (argv, "--foreground", NULL));
  g_assert_true (has_seq (argv, "--netns", "/proc/self/fd/3"));
  g_assert_true (has_seq (argv, "--userns", "/proc/self/fd/4"));
  g_assert_true (has_seq (argv, "--pid", "/proc/self/fd/5"));
  g_assert_false (has_seq (argv, "--runas", NULL));
  g_assert_true (has_seq (root, "--runas", "0"));
}

static void
test_slirp_argv (void)
{
  g_auto(GStrv) argv = csb_user_net_build_argv (CSB_USER_NET_SLIRP4NETNS,
                                                "/usr/bin/slirp4netns", FALSE, 3, 4, 5);

  g_assert_true (has_seq (argv, "--disable-host-loopback", NULL));
  g_assert_true (has_seq (argv, "--configure", NULL));
  g_assert_true (has_seq (argv, "--ready-fd=5", NULL));
  g_assert_true (has_seq (argv, "--userns-path=/proc/self/fd/4", NULL));
  g_assert_true (has_seq (argv, "/proc/self/fd/3", "tap0"));
}

typedef struct
{
  char *dir;
  char *host;
  char *upstream;
} Files;

static void
files_setup (Files      *f,
             const char *host,
             const char *upstream)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("csb-user-net-XXXXXX", &error);
  g_assert_no_error (error);
  f->host = g_build_filename (f->dir, "host-resolv.conf", NULL);
  f->upstream = g_build_filename (f->dir, "upstream-resolv.conf", NULL);
  g_assert_true (g_file_set_contents (f->host, host, -1, NULL));
  if (upstream != NULL)
    g_assert_true (g_file_set_contents (f->upstream, upstream, -1, NULL));
}

static void
files_clear (Files *f)
{
  g_autofree char *written = g_build_filename (f->dir, "resolv.conf", NULL);

  g_unlink (written);
  g_unlink (f->host);
  g_unlink (f->upstream);
  g_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->host);
  g_free (f->upstream);
}

static char *
resolv (CsbUserNetKind kind,
        Files         *f)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = csb_user_net_resolv_conf_full (kind, f->host, f->upstream, f->dir,
                                                         &error);
  char *contents = NULL;

  g_assert_no_error (error);
  if (path == NULL)
    return NULL;
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  return contents;
}

static void
test_resolv_conf (void)
{
  Files f;
  char *out;

  /* A name server pasta reaches as it is: the host's file. */
  files_setup (&f, "nameserver 10.255.255.53\nsearch example.test\n", NULL);
  g_assert_null (resolv (CSB_USER_NET_PASTA, &f));
  files_clear (&f);

  /* systemd-resolved's stub on the loopback: its upstream servers instead. */
  files_setup (&f, "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.test\n",
               "nameserver 192.0.2.53\nsearch example.test\n");
  out = resolv (CSB_USER_NET_PASTA, &f);
  g_assert_cmpstr (out, ==, "nameserver 192.0.2.53\nsearch example.test\n");
  g_free (out);
  files_clear (&f);

  /* Only loopback servers and no upstream list: nothing better than the host's. */
  files_setup (&f, "nameserver 127.0.0.1\nnameserver ::1\n", NULL);
  g_assert_null (resolv (CSB_USER_NET_PASTA, &f));
  files_clear (&f);

  /* slirp4netns answers at 10.0.2.3 and forwards to the host's: search and options
   * kept, name servers replaced. */
  files_setup (&f, "nameserver 127.0.0.53\nsearch example.test\noptions edns0\n", NULL);
  out = resolv (CSB_USER_NET_SLIRP4NETNS, &f);
  g_assert_cmpstr (out, ==, "nameserver 10.0.2.3\nsearch example.test\noptions edns0\n");
  g_free (out);
  files_clear (&f);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/net/user-net/pasta-argv", test_pasta_argv);
  g_test_add_func ("/net/user-net/slirp4netns-argv", test_slirp_argv);
  g_test_add_func ("/net/user-net/resolv-conf", test_resolv_conf);
  return g_test_run ();
}
