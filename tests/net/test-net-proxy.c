/* The filtering proxy on its own, in-process: the three protocols, refusals, private
 * addresses behind wildcard names, and 1,000 concurrent connections without leaking
 * a file descriptor. The upstream is a small HTTP server on 127.0.0.1 in this test.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>

#include "csb-net-proxy.h"

#define N_CONCURRENT 1000

typedef struct
{
  GSocketService *upstream;
  guint16         upstream_port;
  guint           upstream_served;
  CsbNetProxy    *proxy;
  char           *dir;
  char           *socket_path;
  GPtrArray      *denied;      /* "host:port" */
} Fixture;

/* ---- the upstream: answers "ok" to one request per connection -------------------- */

typedef struct
{
  GSocketConnection *connection;
  guint8             buf[4096];
  gsize              len;
  Fixture           *fixture;
} Served;

static void
served_read (Served *served);

static void
on_served_read (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Served *served = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n > 0)
    {
      served->len += n;
      if (memmem (served->buf, served->len, "\r\n\r\n", 4) == NULL && served->len < sizeof served->buf)
        {
          served_read (served);
          return;
        }
      {
        static const char reply[] =
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (served->connection));
        g_output_stream_write_all (out, reply, strlen (reply), NULL, NULL, NULL);
        served->fixture->upstream_served++;
      }
    }
  g_io_stream_close (G_IO_STREAM (served->connection), NULL, NULL);
  g_object_unref (served->connection);
  g_free (served);
}

static void
served_read (Served *served)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (served->connection));

  g_input_stream_read_async (in, served->buf + served->len, sizeof served->buf - served->len,
                             G_PRIORITY_DEFAULT, NULL, on_served_read, served);
}

static gboolean
on_upstream_incoming (GSocketService    *service,
                      GSocketConnection *connection,
                      GObject           *source,
                      gpointer           user_data)
{
  Served *served = g_new0 (Served, 1);

  served->connection = g_object_ref (connection);
  served->fixture = user_data;
  served_read (served);
  return TRUE;
}

static void
on_denied (CsbNetProxy *proxy,
           const char  *host,
           guint        port,
           gpointer     user_data)
{
  Fixture *fixture = user_data;

  g_ptr_array_add (fixture->denied, g_strdup_printf ("%s:%u", host, port));
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(CsbNetPolicy) policy = csb_net_policy_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  fixture->upstream = g_socket_service_new ();
  /* /net/proxy/concurrent opens 1000 at once: with GLib's backlog of 10 the kernel drops
   * SYNs, whose retries took a few connections past the proxy's 30 s under load. */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (fixture->upstream), 1024);
  g_socket_listener_add_address (G_SOCKET_LISTENER (fixture->upstream), any,
                                 G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, &bound,
                                 &error);
  g_assert_no_error (error);
  fixture->upstream_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_signal_connect (fixture->upstream, "incoming", G_CALLBACK (on_upstream_incoming), fixture);
  g_socket_service_start (fixture->upstream);

  /* Named exactly: a local service the user chose to allow. */
  g_assert_true (csb_net_policy_add_allow (policy, "127.0.0.1", NULL));
  g_assert_true (csb_net_policy_add_allow (policy, "localhost", NULL));
  /* Matches 127.0.0.2 only through a wildcard: must not reach a private address. */
  g_assert_true (csb_net_policy_add_allow (policy, "*.0.0.2", NULL));

  fixture->dir = g_dir_make_tmp ("csb-net-proxy-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->socket_path = g_build_filename (fixture->dir, "proxy.sock", NULL);
  fixture->proxy = csb_net_proxy_new (policy);
  g_assert_true (csb_net_proxy_listen_unix (fixture->proxy, fixture->socket_path, &error));
  g_assert_no_error (error);
  fixture->denied = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (fixture->proxy, "denied", G_CALLBACK (on_denied), fixture);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  g_clear_object (&fixture->proxy);
  g_socket_service_stop (fixture->upstream);
  g_socket_listener_close (G_SOCKET_LISTENER (fixture->upstream));
  g_clear_object (&fixture->upstream);
  rmdir (fixture->dir);
  g_free (fixture->socket_path);
  g_free (fixture->dir);
  g_ptr_array_unref (fixture->denied);
}

/* ---- a client ------------------------------------------------------------------------ */

typedef struct
{
  Fixture           *fixture;
  GSocketConnection *connection;
  GByteArray        *received;
  guint8             chunk[4096];
  const guint8      *request;
  gsize              request_len;
  gboolean           done;
  guint             *n_done;
} Client;

static void client_read (Client *client);

static void
on_client_read (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Client *client = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n > 0)
    {
      g_byte_array_append (client->received, client->chunk, n);
      client_read (client);
      return;
    }
  client->done = TRUE;
  if (client->n_done)
    (*client->n_done)++;
}

static void
client_read (Client *client)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (client->connection));

  g_input_stream_read_async (in, client->chunk, sizeof client->chunk, G_PRIORITY_DEFAULT, NULL,
                             on_client_read, client);
}

static void
on_client_connected (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Client *client = user_data;
  g_autoptr(GError) error = NULL;
  GOutputStream *out;

  client->connection = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  g_assert_no_error (error);
  out = g_io_stream_get_output_stream (G_IO_STREAM (client->connection));
  g_output_stream_write_all (out, client->request, client->request_len, NULL, NULL, &error);
  g_assert_no_error (error);
  client_read (client);
}

static Client *
client_start (Fixture      *fixture,
              const void   *request,
              gsize         request_len,
              guint        *n_done)
{
  g_autoptr(GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (fixture->socket_path);
  Client *client = g_new0 (Client, 1);

  client->fixture = fixture;
  client->received = g_byte_array_new ();
  client->request = request;
  client->request_len = request_len;
  client->n_done = n_done;
  g_socket_client_connect_async (socket_client, G_SOCKET_CONNECTABLE (address), NULL,
                                 on_client_connected, client);
  return client;
}

static void
client_free (Client *client)
{
  if (client->connection)
    g_io_stream_close (G_IO_STREAM (client->connection), NULL, NULL);
  g_clear_object (&client->connection);
  g_byte_array_unref (client->received);
  g_free (client);
}

/* The bytes received, NUL-terminated (SOCKS replies hold zeros of their own). */
static char *
client_text (Client *client)
{
  char *text = g_malloc (client->received->len + 1);

  memcpy (text, client->received->data, client->received->len);
  text[client->received->len] = '\0';
  return text;
}

static void
run_client (Fixture    *fixture,
            const void *request,
            gsize       len,
            char      **out_text)
{
  Client *client = client_start (fixture, request, len, NULL);
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  while (!client->done && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (client->done);
  *out_text = client_text (client);
  client_free (client);
}

/* ---- tests ------------------------------------------------------------------------- */

static void
test_connect_allowed (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autofree char *request = g_strdup_printf (
    "CONNECT 127.0.0.1:%u HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    fixture->upstream_port);
  g_autofree char *reply = NULL;

  run_client (fixture, request, strlen (request), &reply);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 200 Connection established\r\n\r\n"));
  g_assert_true (g_str_has_suffix (reply, "\r\n\r\nok"));
  g_assert_cmpuint (fixture->denied->len, ==, 0);
}

static void
test_plain_http (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autofree char *request = g_strdup_printf (
    "GET http://localhost:%u/path?q=1 HTTP/1.1\r\nHost: localhost\r\nProxy-Connection: keep-alive\r\n\r\n",
    fixture->upstream_port);
  g_autofree char *reply = NULL;

  run_client (fixture, request, strlen (request), &reply);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 200 OK"));
  g_assert_true (g_str_has_suffix (reply, "ok"));
}

static void
test_socks5 (Fixture       *fixture,
             gconstpointer  data)
{
  guint8 request[64];
  gsize len = 0;
  g_autofree char *reply = NULL;
  const char *host = "localhost";
  const char *get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

  request[len++] = 5; request[len++] = 1; request[len++] = 0;          /* no auth */
  request[len++] = 5; request[len++] = 1; request[len++] = 0; request[len++] = 3;
  request[len++] = strlen (host);
  memcpy (request + len, host, strlen (host));
  len += strlen (host);
  request[len++] = fixture->upstream_port >> 8;
  request[len++] = fixture->upstream_port & 0xff;
  memcpy (request + len, get, strlen (get));
  len += strlen (get);

  run_client (fixture, request, len, &reply);
  g_assert_cmpint (reply[0], ==, 5);
  g_assert_cmpint (reply[1], ==, 0);   /* 5 0: greeting accepted; then 5 0 …: connected */
  g_assert_cmpint (reply[2], ==, 5);
  g_assert_cmpint (reply[3], ==, 0);
  g_assert_true (g_str_has_suffix (reply + 12, "ok"));
}

static void
test_denied (Fixture       *fixture,
             gconstpointer  data)
{
  static const char request[] = "CONNECT denied.example:443 HTTP/1.1\r\n\r\n";
  g_autofree char *reply = NULL;

  run_client (fixture, request, strlen (request), &reply);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 403 Forbidden"));
  g_assert_cmpuint (fixture->denied->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (fixture->denied, 0), ==, "denied.example:443");
  g_assert_cmpuint (csb_net_proxy_get_denied_count (fixture->proxy), ==, 1);
  g_assert_cmpuint (fixture->upstream_served, ==, 0);
}

static void
test_socks5_denied (Fixture       *fixture,
                    gconstpointer  data)
{
  static const guint8 request[] = { 5, 1, 0, 5, 1, 0, 1, 10, 0, 0, 1, 0, 80 };
  g_autofree char *reply = NULL;

  run_client (fixture, request, sizeof request, &reply);
  g_assert_cmpint (reply[2], ==, 5);
  g_assert_cmpint (reply[3], ==, 2);   /* connection not allowed by ruleset */
  g_assert_cmpuint (fixture->denied->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (fixture->denied, 0), ==, "10.0.0.1:80");
}

static void
test_private_via_wildcard (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autofree char *request = g_strdup_printf ("CONNECT 127.0.0.2:%u HTTP/1.1\r\n\r\n",
                                              fixture->upstream_port);
  g_autofree char *reply = NULL;

  run_client (fixture, request, strlen (request), &reply);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 403 Forbidden"));
  g_assert_nonnull (strstr (reply, "private or local address"));
  g_assert_cmpuint (fixture->upstream_served, ==, 0);
}

/* A wildcard name that resolves to one of the host's own public addresses is
 * refused as its loopback is: the proxy runs on the host, and would otherwise hand
 * the sandbox every service the host listens with on all addresses. */
static void
test_host_own_via_wildcard (Fixture       *fixture,
                            gconstpointer  data)
{
  struct ifaddrs *list = NULL;
  g_autofree char *own = NULL;
  g_autofree char *request = NULL;
  g_autofree char *reply = NULL;
  g_autofree char *pattern = NULL;

  g_assert_cmpint (getifaddrs (&list), ==, 0);
  for (struct ifaddrs *i = list; i != NULL && own == NULL; i = i->ifa_next)
    if (i->ifa_addr != NULL && i->ifa_addr->sa_family == AF_INET)
      {
        g_autoptr(GInetAddress) a =
          g_inet_address_new_from_bytes ((guint8 *) &((struct sockaddr_in *) i->ifa_addr)->sin_addr,
                                         G_SOCKET_FAMILY_IPV4);

        if (csb_net_address_is_public (a))
          own = g_inet_address_to_string (a);
      }
  freeifaddrs (list);
  if (own == NULL)
    {
      g_test_skip ("this host has no IPv4 address that counts as public (its private "
                   "ones are refused as private)");
      return;
    }
  /* "*.0.2.2" for 192.0.2.2: the address matches only through a wildcard. */
  pattern = g_strconcat ("*", strchr (own, '.'), NULL);
  g_assert_true (csb_net_policy_add_allow (csb_net_proxy_get_policy (fixture->proxy), pattern,
                                           NULL));
  request = g_strdup_printf ("CONNECT %s:%u HTTP/1.1\r\n\r\n", own, fixture->upstream_port);
  run_client (fixture, request, strlen (request), &reply);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 403 Forbidden"));
  g_assert_nonnull (strstr (reply, "the host's own"));
  g_assert_cmpuint (fixture->upstream_served, ==, 0);
}

static void
test_garbage (Fixture       *fixture,
              gconstpointer  data)
{
  static const char * const requests[] = {
    "HELLO\r\n\r\n", "CONNECT nohost HTTP/1.1\r\n\r\n", "CONNECT :80 HTTP/1.1\r\n\r\n",
    "CONNECT host:99999 HTTP/1.1\r\n\r\n", "GET https://x/ HTTP/1.1\r\n\r\n",
    "GET /relative HTTP/1.1\r\n\r\n",
  };

  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    {
      g_autofree char *reply = NULL;

      run_client (fixture, requests[i], strlen (requests[i]), &reply);
      g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 4") || g_str_has_prefix (reply, "HTTP/1.1 5"));
    }
  g_assert_cmpuint (fixture->upstream_served, ==, 0);
}

static guint
count_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  while (dir != NULL && g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static void
test_concurrent (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autofree char *request = g_strdup_printf (
    "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    fixture->upstream_port);
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) client_free);
  gint64 deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  guint fds_before, n_done = 0, n_ok = 0;

  fds_before = count_fds ();
  for (guint i = 0; i < N_CONCURRENT; i++)
    g_ptr_array_add (clients, client_start (fixture, request, strlen (request), &n_done));
  while (n_done < N_CONCURRENT && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (n_done, ==, N_CONCURRENT);

  for (guint i = 0; i < clients->len; i++)
    {
      g_autofree char *text = client_text (g_ptr_array_index (clients, i));
      n_ok += g_str_has_suffix (text, "\r\n\r\nok");
    }
  g_assert_cmpuint (n_ok, ==, N_CONCURRENT);
  g_assert_cmpuint (fixture->upstream_served, ==, N_CONCURRENT);
  g_ptr_array_set_size (clients, 0);

  /* Let the proxy see every close, then nothing of it may be left open. */
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while ((csb_net_proxy_get_n_connections (fixture->proxy) > 0 || count_fds () > fds_before) &&
         g_get_monotonic_time () < deadline)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
  g_assert_cmpuint (csb_net_proxy_get_n_connections (fixture->proxy), ==, 0);
  g_assert_cmpuint (count_fds (), <=, fds_before);
}

int
main (int   argc,
      char *argv[])
{
  struct rlimit rl;

  /* Five fds a connection live in this one process (client, both proxy ends, server). */
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }

  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/net/proxy/connect-allowed", test_connect_allowed);
  ADD ("/net/proxy/plain-http", test_plain_http);
  ADD ("/net/proxy/socks5", test_socks5);
  ADD ("/net/proxy/denied", test_denied);
  ADD ("/net/proxy/socks5-denied", test_socks5_denied);
  ADD ("/net/proxy/private-via-wildcard", test_private_via_wildcard);
  ADD ("/net/proxy/host-own-via-wildcard", test_host_own_via_wildcard);
  ADD ("/net/proxy/garbage", test_garbage);
  ADD ("/net/proxy/concurrent-1000", test_concurrent);
  return g_test_run ();
}
