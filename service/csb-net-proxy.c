/* csb-net-proxy.c
 *
 * One listening socket speaks three protocols, told apart by the first byte: SOCKS5
 * (0x05), HTTP CONNECT (for https), and plain HTTP with an absolute URI. Each
 * connection is checked against the policy by the name asked for; names allowed
 * only through a wildcard must resolve to public addresses, none of the host's own. We connect to the
 * address we checked (never re-resolve), then splice the two streams.
 *
 * Everything is asynchronous on the service's main loop: no thread per connection.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>

#include "csb-error.h"
#include "csb-net-proxy.h"

#define HEADER_MAX 16384
#define HEADER_TIMEOUT_S 30
#define CONNECT_TIMEOUT_S 30

struct _CsbNetProxy
{
  GObject           parent_instance;

  CsbNetPolicy     *policy;
  GSocketService   *service;
  GHashTable       *connections;   /* Conn set */
  GCancellable     *cancellable;
  guint             denied_count;
  char             *socket_path;
};

enum { SIGNAL_DENIED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (CsbNetProxy, csb_net_proxy, G_TYPE_OBJECT)

typedef enum { KIND_UNKNOWN, KIND_SOCKS, KIND_CONNECT, KIND_HTTP } Kind;
typedef enum { SOCKS_GREETING, SOCKS_REQUEST } SocksStep;

typedef struct
{
  CsbNetProxy       *proxy;      /* weak: the proxy frees every Conn when it stops */
  GSocketConnection *client;
  GSocketConnection *upstream;
  GCancellable      *cancellable;
  GByteArray        *buf;
  guint8             chunk[4096];
  Kind               kind;
  SocksStep          socks_step;
  char              *host;
  guint16            port;
  CsbNetVerdict      verdict;
  GByteArray        *forward;    /* what goes upstream first (HTTP: the rewritten request) */
  GList             *candidates; /* (element-type GInetAddress): checked addresses to try */
  guint              timeout_id;
} Conn;

static void conn_read (Conn *conn);

static void
conn_free (Conn *conn)
{
  g_clear_handle_id (&conn->timeout_id, g_source_remove);
  g_cancellable_cancel (conn->cancellable);
  if (conn->client != NULL)
    g_io_stream_close (G_IO_STREAM (conn->client), NULL, NULL);
  if (conn->upstream != NULL)
    g_io_stream_close (G_IO_STREAM (conn->upstream), NULL, NULL);
  g_clear_object (&conn->client);
  g_clear_object (&conn->upstream);
  g_clear_object (&conn->cancellable);
  g_byte_array_unref (conn->buf);
  g_clear_pointer (&conn->forward, g_byte_array_unref);
  g_list_free_full (conn->candidates, g_object_unref);
  g_free (conn->host);
  g_free (conn);
}

static void
conn_done (Conn *conn)
{
  if (conn->proxy != NULL)
    g_hash_table_remove (conn->proxy->connections, conn);  /* frees it */
  else
    conn_free (conn);
}

static void
conn_write_and_close (Conn       *conn,
                      const void *data,
                      gsize       len)
{
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn->client));

  /* Tiny replies into a fresh socket buffer: they do not block. */
  g_output_stream_write_all (out, data, len, NULL, NULL, NULL);
  conn_done (conn);
}

static void
conn_deny (Conn       *conn,
           const char *why)
{
  static const guint8 socks_denied[] = { 5, 2, 0, 1, 0, 0, 0, 0, 0, 0 };
  CsbNetProxy *proxy = conn->proxy;

  g_message ("network filter: denied %s:%u (%s)", conn->host ? conn->host : "?",
             conn->port, why);
  if (proxy != NULL && conn->host != NULL)
    {
      proxy->denied_count++;
      g_signal_emit (proxy, signals[SIGNAL_DENIED], 0, conn->host, (guint) conn->port);
    }
  if (conn->kind == KIND_SOCKS)
    conn_write_and_close (conn, socks_denied, sizeof socks_denied);
  else
    {
      g_autofree char *reply = g_strdup_printf (
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n"
        "X-Claude-Sandbox: denied\r\n\r\nclaude-sandbox: connections to %s are not "
        "allowed (%s)\n", conn->host ? conn->host : "?", why);
      conn_write_and_close (conn, reply, strlen (reply));
    }
}

static void
conn_fail (Conn       *conn,
           const char *why)
{
  static const guint8 socks_failed[] = { 5, 4, 0, 1, 0, 0, 0, 0, 0, 0 };

  g_debug ("network filter: %s:%u failed: %s", conn->host ? conn->host : "?", conn->port, why);
  if (conn->kind == KIND_SOCKS)
    conn_write_and_close (conn, socks_failed, sizeof socks_failed);
  else
    {
      g_autofree char *reply = g_strdup_printf (
        "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
        "claude-sandbox: cannot reach %s: %s\n", conn->host ? conn->host : "?", why);
      conn_write_and_close (conn, reply, strlen (reply));
    }
}

static void
on_spliced (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Conn *conn = user_data;
  g_autoptr(GError) error = NULL;

  /* Cancelled: conn_free() did it, and the Conn is gone (csb_net_proxy_stop with a
   * connection still spliced). */
  if (!g_io_stream_splice_finish (result, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  conn_done (conn);
}

static void
on_forwarded (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Conn *conn = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        conn_done (conn);
      return;
    }
  /* Either side ending ends the connection, as most proxies do: an HTTP server
   * closing after its reply must reach a client that keeps its side open. */
  g_io_stream_splice_async (G_IO_STREAM (conn->client), G_IO_STREAM (conn->upstream),
                            G_IO_STREAM_SPLICE_CLOSE_STREAM1 |
                            G_IO_STREAM_SPLICE_CLOSE_STREAM2,
                            G_PRIORITY_DEFAULT, conn->cancellable, on_spliced, conn);
}

static void connect_next (Conn *conn, const char *last_error);

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Conn *conn = user_data;
  g_autoptr(GError) error = NULL;
  GOutputStream *client_out, *upstream_out;

  conn->upstream = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  if (conn->upstream == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        connect_next (conn, error->message);
      return;
    }

  client_out = g_io_stream_get_output_stream (G_IO_STREAM (conn->client));
  if (conn->kind == KIND_SOCKS)
    {
      static const guint8 ok[] = { 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
      g_output_stream_write_all (client_out, ok, sizeof ok, NULL, NULL, NULL);
    }
  else if (conn->kind == KIND_CONNECT)
    {
      static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
      g_output_stream_write_all (client_out, ok, strlen (ok), NULL, NULL, NULL);
    }

  upstream_out = g_io_stream_get_output_stream (G_IO_STREAM (conn->upstream));
  g_output_stream_write_all_async (upstream_out, conn->forward->data, conn->forward->len,
                                   G_PRIORITY_DEFAULT, conn->cancellable, on_forwarded, conn);
}

/* Tries the next checked address (say ::1, then 127.0.0.1 for localhost). */
static void
connect_next (Conn       *conn,
              const char *last_error)
{
  g_autoptr(GSocketClient) client = NULL;
  g_autoptr(GSocketAddress) target = NULL;
  g_autoptr(GInetAddress) address = NULL;

  if (conn->candidates == NULL)
    {
      conn_fail (conn, last_error ? last_error : "no address");
      return;
    }
  address = conn->candidates->data;
  conn->candidates = g_list_delete_link (conn->candidates, conn->candidates);
  client = g_socket_client_new ();
  target = g_inet_socket_address_new (address, conn->port);
  g_socket_client_set_timeout (client, CONNECT_TIMEOUT_S);
  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (target), conn->cancellable,
                                 on_connected, conn);
}

/* Keeps the addresses the policy lets us use; FALSE if none. */
static gboolean
take_candidates (Conn  *conn,
                 GList *addresses)
{
  for (GList *l = addresses; l != NULL; l = l->next)
    if (conn->verdict == CSB_NET_ALLOW_EXACT ||
        (csb_net_address_is_public (l->data) && !csb_net_address_is_host_own (l->data)))
      conn->candidates = g_list_append (conn->candidates, g_object_ref (l->data));
  return conn->candidates != NULL;
}

static void
on_resolved (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Conn *conn = user_data;
  g_autoptr(GError) error = NULL;
  GList *addresses;

  addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);
  if (addresses == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        conn_fail (conn, error->message);
      return;
    }
  if (!take_candidates (conn, addresses))
    conn_deny (conn, "it resolves to a private or local address, or the host's own");
  else
    connect_next (conn, NULL);
  g_resolver_free_addresses (addresses);
}

static void
conn_decide (Conn *conn)
{
  g_autoptr(GInetAddress) literal = NULL;
  g_autoptr(GResolver) resolver = NULL;

  g_clear_handle_id (&conn->timeout_id, g_source_remove);
  if (conn->port == 0)
    {
      conn_fail (conn, "no port");
      return;
    }
  conn->verdict = csb_net_policy_check_host (conn->proxy->policy, conn->host);
  if (conn->verdict == CSB_NET_DENY)
    {
      conn_deny (conn, "not in the sandbox's allowlist");
      return;
    }

  literal = g_inet_address_new_from_string (conn->host);
  if (literal != NULL)
    {
      GList one = { literal, NULL, NULL };

      if (!take_candidates (conn, &one))
        conn_deny (conn, "a private or local address, or the host's own");
      else
        connect_next (conn, NULL);
      return;
    }
  resolver = g_resolver_get_default ();
  g_resolver_lookup_by_name_async (resolver, conn->host, conn->cancellable, on_resolved, conn);
}

static gboolean
parse_host_port (const char *authority,
                 guint16     default_port,
                 char      **out_host,
                 guint16    *out_port)
{
  const char *colon;
  g_autofree char *host = NULL;
  guint64 port = default_port;

  if (authority[0] == '[')
    {
      const char *end = strchr (authority, ']');

      if (end == NULL)
        return FALSE;
      host = g_strndup (authority + 1, end - authority - 1);
      colon = end[1] == ':' ? end + 1 : NULL;
    }
  else
    {
      colon = strrchr (authority, ':');
      host = colon ? g_strndup (authority, colon - authority) : g_strdup (authority);
    }
  if (colon != NULL && !g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &port, NULL))
    return FALSE;
  if (*host == '\0')
    return FALSE;
  *out_host = g_steal_pointer (&host);
  *out_port = port;
  return TRUE;
}

/* HTTP: the request head is complete in conn->buf (up to @head_len bytes). */
static void
handle_http (Conn  *conn,
             gsize  head_len)
{
  g_autofree char *head = g_strndup ((const char *) conn->buf->data, head_len);
  g_auto(GStrv) lines = g_strsplit (head, "\r\n", -1);
  g_auto(GStrv) request = NULL;

  /* A NUL would cut the head short (an empty head has no lines at all). */
  if (memchr (conn->buf->data, '\0', head_len) != NULL)
    {
      conn_fail (conn, "NUL byte in the request head");
      return;
    }
  request = g_strsplit (lines[0], " ", 3);
  if (g_strv_length (request) != 3 || !g_str_has_prefix (request[2], "HTTP/"))
    {
      conn_fail (conn, "not an HTTP proxy request");
      return;
    }

  if (g_ascii_strcasecmp (request[0], "CONNECT") == 0)
    {
      conn->kind = KIND_CONNECT;
      if (!parse_host_port (request[1], 0, &conn->host, &conn->port))
        {
          conn_fail (conn, "bad CONNECT target");
          return;
        }
      /* Bytes the client sent after the head go upstream once connected. */
      g_byte_array_append (conn->forward, conn->buf->data + head_len,
                           conn->buf->len - head_len);
    }
  else
    {
      g_autoptr(GUri) uri = g_uri_parse (request[1], G_URI_FLAGS_NONE, NULL);
      GString *out;

      conn->kind = KIND_HTTP;
      if (uri == NULL || g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 ||
          g_uri_get_host (uri) == NULL)
        {
          conn_fail (conn, "plain requests need an absolute http:// URI");
          return;
        }
      conn->host = g_strdup (g_uri_get_host (uri));
      conn->port = g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : 80;

      /* origin-form, and one request per connection: the destination was checked
       * for this host only. */
      out = g_string_new (NULL);
      g_string_append_printf (out, "%s %s%s%s %s\r\n", request[0],
                              *g_uri_get_path (uri) ? g_uri_get_path (uri) : "/",
                              g_uri_get_query (uri) ? "?" : "",
                              g_uri_get_query (uri) ? g_uri_get_query (uri) : "",
                              request[2]);
      for (guint i = 1; lines[i] != NULL && *lines[i] != '\0'; i++)
        if (g_ascii_strncasecmp (lines[i], "Connection:", 11) != 0 &&
            g_ascii_strncasecmp (lines[i], "Proxy-Connection:", 17) != 0 &&
            g_ascii_strncasecmp (lines[i], "Proxy-Authorization:", 20) != 0)
          g_string_append_printf (out, "%s\r\n", lines[i]);
      g_string_append (out, "Connection: close\r\n\r\n");
      g_byte_array_append (conn->forward, (const guint8 *) out->str, out->len);
      g_byte_array_append (conn->forward, conn->buf->data + head_len,
                           conn->buf->len - head_len);
      g_string_free (out, TRUE);
    }
  conn_decide (conn);
}

/* SOCKS5. Returns FALSE when more bytes are needed. */
static gboolean
handle_socks (Conn *conn)
{
  const guint8 *b = conn->buf->data;
  gsize len = conn->buf->len;

  if (conn->socks_step == SOCKS_GREETING)
    {
      static const guint8 no_auth[] = { 5, 0 };
      static const guint8 no_method[] = { 5, 0xff };
      GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn->client));
      gboolean offered = FALSE;

      if (len < 2 || len < 2u + b[1])
        return FALSE;
      for (guint i = 0; i < b[1]; i++)
        offered |= b[2 + i] == 0;
      if (!offered)
        {
          conn_write_and_close (conn, no_method, sizeof no_method);
          return TRUE;
        }
      g_output_stream_write_all (out, no_auth, sizeof no_auth, NULL, NULL, NULL);
      g_byte_array_remove_range (conn->buf, 0, 2 + b[1]);
      conn->socks_step = SOCKS_REQUEST;
      return handle_socks (conn);
    }

  /* VER CMD RSV ATYP ADDR PORT */
  if (len < 5)
    return FALSE;
  if (b[0] != 5 || b[1] != 1)
    {
      static const guint8 unsupported[] = { 5, 7, 0, 1, 0, 0, 0, 0, 0, 0 };
      conn_write_and_close (conn, unsupported, sizeof unsupported);  /* only CONNECT */
      return TRUE;
    }
  switch (b[3])
    {
    case 1:
      if (len < 10)
        return FALSE;
      {
        g_autoptr(GInetAddress) a = g_inet_address_new_from_bytes (b + 4, G_SOCKET_FAMILY_IPV4);
        conn->host = g_inet_address_to_string (a);
      }
      conn->port = (b[8] << 8) | b[9];
      g_byte_array_remove_range (conn->buf, 0, 10);
      break;
    case 3:
      if (len < 5u + b[4] + 2)
        return FALSE;
      conn->host = g_strndup ((const char *) b + 5, b[4]);
      conn->port = (b[5 + b[4]] << 8) | b[6 + b[4]];
      g_byte_array_remove_range (conn->buf, 0, 7 + b[4]);
      break;
    case 4:
      if (len < 22)
        return FALSE;
      {
        g_autoptr(GInetAddress) a = g_inet_address_new_from_bytes (b + 4, G_SOCKET_FAMILY_IPV6);
        conn->host = g_inet_address_to_string (a);
      }
      conn->port = (b[20] << 8) | b[21];
      g_byte_array_remove_range (conn->buf, 0, 22);
      break;
    default:
      conn_fail (conn, "unknown SOCKS address type");
      return TRUE;
    }
  if (strlen (conn->host) == 0 || memchr (conn->host, '\0', strlen (conn->host)) != NULL)
    {
      conn_fail (conn, "bad SOCKS host");
      return TRUE;
    }
  g_byte_array_append (conn->forward, conn->buf->data, conn->buf->len);
  conn_decide (conn);
  return TRUE;
}

static void
conn_parse (Conn *conn)
{
  if (conn->kind == KIND_UNKNOWN && conn->buf->len > 0)
    conn->kind = conn->buf->data[0] == 5 ? KIND_SOCKS : KIND_CONNECT;

  if (conn->kind == KIND_SOCKS)
    {
      if (!handle_socks (conn))
        conn_read (conn);
      return;
    }

  {
    const guint8 *end = memmem (conn->buf->data, conn->buf->len, "\r\n\r\n", 4);

    if (end != NULL)
      {
        handle_http (conn, end - conn->buf->data + 4);
        return;
      }
  }
  if (conn->buf->len >= HEADER_MAX)
    conn_fail (conn, "request head too long");
  else
    conn_read (conn);
}

static void
on_read (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Conn *conn = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (n <= 0)
    {
      conn_done (conn);
      return;
    }
  g_byte_array_append (conn->buf, conn->chunk, n);
  conn_parse (conn);
}

static void
conn_read (Conn *conn)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (conn->client));

  g_input_stream_read_async (in, conn->chunk, sizeof conn->chunk, G_PRIORITY_DEFAULT,
                             conn->cancellable, on_read, conn);
}

static gboolean
on_header_timeout (gpointer user_data)
{
  Conn *conn = user_data;

  conn->timeout_id = 0;
  conn_done (conn);
  return G_SOURCE_REMOVE;
}

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  CsbNetProxy *self = user_data;
  Conn *conn = g_new0 (Conn, 1);

  conn->proxy = self;
  conn->client = g_object_ref (connection);
  conn->cancellable = g_cancellable_new ();
  conn->buf = g_byte_array_new ();
  conn->forward = g_byte_array_new ();
  conn->timeout_id = g_timeout_add_seconds (HEADER_TIMEOUT_S, on_header_timeout, conn);
  g_hash_table_add (self->connections, conn);
  conn_read (conn);
  return TRUE;
}

gboolean
csb_net_proxy_listen_unix (CsbNetProxy *self,
                           const char  *socket_path,
                           GError     **error)
{
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (socket_path);

  g_return_val_if_fail (CSB_IS_NET_PROXY (self), FALSE);

  unlink (socket_path);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                      NULL, NULL, error))
    {
      g_prefix_error (error, "cannot listen on %s: ", socket_path);
      return FALSE;
    }
  g_free (self->socket_path);
  self->socket_path = g_strdup (socket_path);
  g_socket_service_start (self->service);
  return TRUE;
}

/* For tests and benchmarks: listen on 127.0.0.1 at a free port, returned. */
guint16
csb_net_proxy_listen_loopback (CsbNetProxy *self,
                               GError     **error)
{
  guint16 port = g_socket_listener_add_any_inet_port (G_SOCKET_LISTENER (self->service),
                                                      NULL, error);
  if (port != 0)
    g_socket_service_start (self->service);
  return port;
}

void
csb_net_proxy_stop (CsbNetProxy *self)
{
  g_socket_service_stop (self->service);
  g_socket_listener_close (G_SOCKET_LISTENER (self->service));
  g_cancellable_cancel (self->cancellable);
  g_hash_table_remove_all (self->connections);
  if (self->socket_path != NULL)
    unlink (self->socket_path);
}

CsbNetPolicy *
csb_net_proxy_get_policy (CsbNetProxy *self)
{
  return self->policy;
}

guint
csb_net_proxy_get_denied_count (CsbNetProxy *self)
{
  return self->denied_count;
}

guint
csb_net_proxy_get_n_connections (CsbNetProxy *self)
{
  return g_hash_table_size (self->connections);
}

static void
csb_net_proxy_dispose (GObject *object)
{
  CsbNetProxy *self = CSB_NET_PROXY (object);

  if (self->service != NULL)
    csb_net_proxy_stop (self);
  g_clear_object (&self->service);
  G_OBJECT_CLASS (csb_net_proxy_parent_class)->dispose (object);
}

static void
csb_net_proxy_finalize (GObject *object)
{
  CsbNetProxy *self = CSB_NET_PROXY (object);

  g_clear_pointer (&self->connections, g_hash_table_unref);
  g_clear_pointer (&self->policy, csb_net_policy_unref);
  g_clear_object (&self->cancellable);
  g_free (self->socket_path);
  G_OBJECT_CLASS (csb_net_proxy_parent_class)->finalize (object);
}

static void
csb_net_proxy_class_init (CsbNetProxyClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = csb_net_proxy_dispose;
  object_class->finalize = csb_net_proxy_finalize;

  /* A connection was refused: the host asked for and the port. */
  signals[SIGNAL_DENIED] = g_signal_new ("denied", G_TYPE_FROM_CLASS (klass),
                                         G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                         G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_UINT);
}

static void
csb_net_proxy_init (CsbNetProxy *self)
{
  self->service = g_socket_service_new ();
  /* GLib's default backlog of 10 refuses bursts (a package manager opens dozens). */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (self->service), 1024);
  self->cancellable = g_cancellable_new ();
  self->connections = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) conn_free, NULL);
  g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);
}

CsbNetProxy *
csb_net_proxy_new (CsbNetPolicy *policy)
{
  CsbNetProxy *self = g_object_new (CSB_TYPE_NET_PROXY, NULL);

  self->policy = csb_net_policy_ref (policy);
  return self;
}
