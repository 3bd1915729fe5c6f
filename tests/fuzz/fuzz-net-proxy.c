/* fuzz-net-proxy.c — libFuzzer target: the filtering proxy's request parsing (SOCKS5,
 * HTTP CONNECT, plain HTTP), driven through its real listening socket in-process.
 * Each input is one client connection: the bytes are sent, the write side shut, and
 * the main loop runs until the proxy has closed the connection (or a short bound).
 *
 * The policy allows 127.0.0.1 and localhost exactly; an upstream HTTP server of this
 * program listens on 127.0.0.1:18080 (the seeds use that port), so allowed requests
 * reach the splice code. No wildcard: those resolve names through DNS.
 *
 * Checks: no crash, leak or UBSan report; every connection is gone once the client
 * has hung up (no Conn, no fd left behind).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "fuzz-common.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>

#include "csb-net-proxy.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

#define UPSTREAM_PORT 18080

static CsbNetProxy *proxy;
static GSocketService *upstream;
static char *dir;
static char *socket_path;

static gboolean
on_upstream (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source,
             gpointer           user_data)
{
  static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));

  g_output_stream_write_all (out, reply, strlen (reply), NULL, NULL, NULL);
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
  return TRUE;
}

static void
cleanup (void)
{
  if (proxy != NULL)
    {
      csb_net_proxy_stop (proxy);
      g_clear_object (&proxy);
    }
  if (upstream != NULL)
    {
      g_socket_service_stop (upstream);
      g_socket_listener_close (G_SOCKET_LISTENER (upstream));
      g_clear_object (&upstream);
    }
  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (socket_path != NULL)
    unlink (socket_path);
  if (dir != NULL)
    rmdir (dir);
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  g_autoptr(CsbNetPolicy) policy = csb_net_policy_new ();
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, UPSTREAM_PORT);
  g_autoptr(GError) error = NULL;

  dir = g_dir_make_tmp ("csb-fuzz-proxy-XXXXXX", &error);
  g_assert_no_error (error);
  socket_path = g_build_filename (dir, "proxy", NULL);

  g_assert_true (csb_net_policy_add_allow (policy, "127.0.0.1", NULL));
  g_assert_true (csb_net_policy_add_allow (policy, "localhost", NULL));
  proxy = csb_net_proxy_new (policy);
  csb_net_proxy_listen_unix (proxy, socket_path, &error);
  g_assert_no_error (error);

  upstream = g_socket_service_new ();
  /* Another fuzzer run may hold the port: then allowed requests are refused
   * upstream, which is a path worth fuzzing too. */
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (upstream), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                      NULL, NULL))
    g_printerr ("fuzz-net-proxy: 127.0.0.1:%d is taken; no upstream\n", UPSTREAM_PORT);
  g_signal_connect (upstream, "incoming", G_CALLBACK (on_upstream), NULL);
  g_socket_service_start (upstream);
  atexit (cleanup);
  return 0;
}

static gboolean
on_deadline (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the loop until @fd reads EOF (or fails) and the proxy holds no connection. */
static gboolean
drain (int   fd,
       guint timeout_ms)
{
  gboolean expired = FALSE;
  gboolean eof = fd < 0;
  guint id = g_timeout_add (timeout_ms, on_deadline, &expired);

  while (!expired)
    {
      char buf[4096];

      while (!eof)
        {
          ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);

          if (n > 0)
            continue;
          if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
          eof = TRUE;
        }
      if (eof && csb_net_proxy_get_n_connections (proxy) == 0)
        break;
      g_main_context_iteration (NULL, TRUE);
    }
  if (!expired)
    g_source_remove (id);
  return eof && csb_net_proxy_get_n_connections (proxy) == 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  gsize off = 0;

  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (sun.sun_path, socket_path, sizeof sun.sun_path);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &sun, sizeof sun), ==, 0);

  /* Let the proxy accept and read as the bytes arrive, in two pieces, as a real
   * client's request may. */
  while (off < size)
    {
      gsize piece = off == 0 && size > 1 ? size / 2 : size - off;
      ssize_t n = send (fd, data + off, piece, MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n < 0 && errno == EAGAIN)
        {
          g_main_context_iteration (NULL, FALSE);
          continue;
        }
      if (n < 0)
        break;   /* the proxy refused and closed already */
      off += n;
      for (guint i = 0; i < 4; i++)
        g_main_context_iteration (NULL, FALSE);
    }
  shutdown (fd, SHUT_WR);

  if (!drain (fd, 2000))
    {
      /* A connection the client ended must end too: the proxy would otherwise pile up
       * connections until HEADER_TIMEOUT_S. */
      close (fd);
      if (!drain (-1, 2000))
        {
          g_printerr ("fuzz-net-proxy: %u connection(s) still open 2 s after the client "
                      "closed\n", csb_net_proxy_get_n_connections (proxy));
          abort ();
        }
      return 0;
    }
  close (fd);
  return 0;
}
