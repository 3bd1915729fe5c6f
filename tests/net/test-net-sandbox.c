/* The filtered network end to end: real sandboxes (bwrap, our helper inside, the
 * service's proxy) reaching an HTTP server this test runs on 127.0.0.1, under test
 * host names from /etc/hosts (build-aux/test.sh adds them as root):
 *   allowed.csb.test denied.csb.test evil.rebind.csb.test → 127.0.0.1
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "csb-test-utils.h"

static const char * const test_hosts[] = {
  "allowed.csb.test", "denied.csb.test", "evil.rebind.csb.test", NULL
};

typedef struct
{
  CsbTestBus      bus;
  GSocketService *server;
  guint16         port;
  guint           served;
  GSocket        *udp;
  guint16         udp_port;
  char           *project;
  GPtrArray      *denied;   /* "host:port" from NetworkDenied */
  guint           signal_id;
} Fixture;

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source,
             gpointer           user_data)
{
  Fixture *fixture = user_data;
  static const char reply[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 15\r\nConnection: close\r\n\r\nhello-from-host";
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  char buf[4096];
  gsize len = 0;

  /* Small requests from curl and node: read the head, answer, close. */
  while (len < sizeof buf - 1)
    {
      gssize n = g_input_stream_read (in, buf + len, sizeof buf - 1 - len, NULL, NULL);
      if (n <= 0)
        break;
      len += n;
      buf[len] = '\0';
      if (strstr (buf, "\r\n\r\n") != NULL)
        break;
    }
  g_output_stream_write_all (out, reply, strlen (reply), NULL, NULL, NULL);
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
  fixture->served++;
  return TRUE;
}

static void
on_signal (GDBusConnection *connection,
           const char      *sender,
           const char      *path,
           const char      *interface,
           const char      *signal,
           GVariant        *parameters,
           gpointer         user_data)
{
  Fixture *fixture = user_data;
  const char *host;
  guint16 port;

  g_variant_get (parameters, "(&sq)", &host, &port);
  g_ptr_array_add (fixture->denied, g_strdup_printf ("%s:%u", host, port));
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocketAddress) udp_local = NULL;
  g_autoptr(GResolver) resolver = g_resolver_get_default ();
  g_autoptr(GError) error = NULL;

  for (guint i = 0; test_hosts[i] != NULL; i++)
    {
      g_autoptr(GError) lookup_error = NULL;
      GList *addresses = g_resolver_lookup_by_name (resolver, test_hosts[i], NULL, &lookup_error);

      if (addresses == NULL)
        g_error ("test host %s does not resolve (%s): add '127.0.0.1 allowed.csb.test "
                 "denied.csb.test evil.rebind.csb.test' to /etc/hosts (build-aux/test.sh "
                 "does this as root)", test_hosts[i], lookup_error->message);
      g_resolver_free_addresses (addresses);
    }

  csb_test_bus_setup (&fixture->bus, NULL);
  fixture->project = csb_test_make_project (&fixture->bus.dirs, "net");
  fixture->denied = g_ptr_array_new_with_free_func (g_free);

  fixture->server = g_threaded_socket_service_new (8);
  g_socket_listener_add_address (G_SOCKET_LISTENER (fixture->server), any,
                                 G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, &bound,
                                 &error);
  g_assert_no_error (error);
  fixture->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_signal_connect (fixture->server, "run", G_CALLBACK (on_incoming), fixture);
  g_socket_service_start (fixture->server);

  fixture->udp = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                               G_SOCKET_PROTOCOL_UDP, &error);
  g_assert_no_error (error);
  g_socket_bind (fixture->udp, any, TRUE, &error);
  g_assert_no_error (error);
  g_socket_set_blocking (fixture->udp, FALSE);
  udp_local = g_socket_get_local_address (fixture->udp, &error);
  fixture->udp_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (udp_local));

  csb_test_bus_activate (&fixture->bus);
  fixture->signal_id =
    g_dbus_connection_signal_subscribe (fixture->bus.connection, NULL,
                                        CSB_SANDBOX_INTERFACE, "NetworkDenied",
                                        NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal,
                                        fixture, NULL);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  g_dbus_connection_signal_unsubscribe (fixture->bus.connection, fixture->signal_id);
  g_socket_service_stop (fixture->server);
  g_socket_listener_close (G_SOCKET_LISTENER (fixture->server));
  g_clear_object (&fixture->server);
  g_clear_object (&fixture->udp);
  g_ptr_array_unref (fixture->denied);
  g_free (fixture->project);
  csb_test_bus_teardown (&fixture->bus);
}

static GVariant *
allow_options (const char * const *allow)
{
  GVariantDict dict;

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert_value (&dict, "network-allow", g_variant_new_strv (allow, -1));
  return g_variant_dict_end (&dict);
}

static char *
run_sh (Fixture    *fixture,
        const char *script,
        int         expected_status)
{
  static const char * const allow[] = { "allowed.csb.test", "*.rebind.csb.test", NULL };
  const char * const command[] = { "sh", "-c", script, NULL };

  return csb_test_run_command (&fixture->bus, fixture->project, command, allow_options (allow),
                               expected_status);
}

static void
test_curl (Fixture       *fixture,
           gconstpointer  data)
{
  g_autofree char *script = g_strdup_printf (
    "curl -sS http://allowed.csb.test:%u/; echo;"
    "curl -sS --proxytunnel http://allowed.csb.test:%u/; echo;"
    "curl -sS -x socks5h://127.0.0.1:3128 http://allowed.csb.test:%u/; echo;"
    "curl -sS -o /dev/null -w 'denied=%%{http_code}\\n' http://denied.csb.test:%u/",
    fixture->port, fixture->port, fixture->port, fixture->port);
  g_autofree char *out = run_sh (fixture, script, 0);
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);

  g_assert_cmpstr (lines[0], ==, "hello-from-host");   /* HTTP proxy */
  g_assert_cmpstr (lines[1], ==, "hello-from-host");   /* CONNECT, as https uses */
  g_assert_cmpstr (lines[2], ==, "hello-from-host");   /* SOCKS5 */
  g_assert_cmpstr (lines[3], ==, "denied=403");
  g_assert_cmpuint (fixture->served, ==, 3);

  /* The refusal is on the bus. */
  csb_test_sleep_ms (200);
  g_assert_cmpuint (fixture->denied->len, ==, 1);
  {
    g_autofree char *expected = g_strdup_printf ("denied.csb.test:%u", fixture->port);
    g_assert_cmpstr (g_ptr_array_index (fixture->denied, 0), ==, expected);
  }
}

static void
test_node (Fixture       *fixture,
           gconstpointer  data)
{
  /* Claude Code reaches the network through HTTPS_PROXY with CONNECT tunnels; this is
   * the same exchange in Node, plus a direct fetch, which must find no route. */
  g_autofree char *script = g_strdup_printf (
    "cat > /tmp/t.js <<'EOF'\n"
    "const http = require('http');\n"
    "const proxy = new URL(process.env.HTTPS_PROXY);\n"
    "function tunnel(host) { return new Promise((resolve) => {\n"
    "  const req = http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT',\n"
    "                             path: host + ':%u' });\n"
    "  req.on('connect', (res, socket) => {\n"
    "    if (res.statusCode !== 200) { resolve('status ' + res.statusCode); return; }\n"
    "    socket.write('GET / HTTP/1.1\\r\\nHost: ' + host + '\\r\\n\\r\\n');\n"
    "    let data = ''; socket.on('data', (d) => data += d);\n"
    "    socket.on('end', () => resolve(data.split('\\r\\n\\r\\n')[1]));\n"
    "  });\n"
    "  req.on('error', (e) => resolve('error ' + e.code)); req.end(); }); }\n"
    "(async () => {\n"
    "  console.log('tunnel', await tunnel('allowed.csb.test'));\n"
    "  console.log('tunnel', await tunnel('denied.csb.test'));\n"
    "  try { await fetch('http://allowed.csb.test:%u/'); console.log('direct ok'); }\n"
    "  catch (e) { console.log('direct failed'); }\n"
    "})();\n"
    "EOF\n"
    "node /tmp/t.js", fixture->port, fixture->port);
  g_autofree char *out = run_sh (fixture, script, 0);

  g_assert_cmpstr (out, ==, "tunnel hello-from-host\ntunnel status 403\ndirect failed\n");
}

static void
test_raw_sockets (Fixture       *fixture,
                  gconstpointer  data)
{
  /* Inside, 127.0.0.1 is the sandbox's own loopback: the host's server and its UDP
   * socket there are out of reach, and there is no route anywhere else. */
  g_autofree char *script = g_strdup_printf (
    "python3 - <<'EOF'\n"
    "import socket\n"
    "for target in [('allowed.csb.test', %u), ('127.0.0.1', %u)]:\n"
    "    s = socket.socket()\n"
    "    try:\n"
    "        s.connect(target); print('tcp connected')\n"
    "    except OSError as e:\n"
    "        print('tcp', e.errno)\n"
    "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "u.sendto(b'x', ('127.0.0.1', %u))\n"
    "try:\n"
    "    u.sendto(b'x', ('192.0.2.1', 9)); print('udp out sent')\n"
    "except OSError as e:\n"
    "    print('udp out', e.errno)\n"
    "EOF\n"
    "ip -o link | cut -d: -f2 | tr -d ' '", fixture->port, fixture->port, fixture->udp_port);
  g_autofree char *out = run_sh (fixture, script, 0);
  guint8 buf[16];

  /* ECONNREFUSED (111) twice; ENETUNREACH (101) for the datagram out. */
  g_assert_cmpstr (out, ==, "tcp 111\ntcp 111\nudp out 101\nlo\n");
  g_assert_cmpint (g_socket_receive (fixture->udp, (char *) buf, sizeof buf, NULL, NULL), <, 0);
  g_assert_cmpuint (fixture->served, ==, 0);
}

static void
test_rebinding (Fixture       *fixture,
                gconstpointer  data)
{
  /* evil.rebind.csb.test matches *.rebind.csb.test, but resolves to 127.0.0.1. */
  g_autofree char *script = g_strdup_printf (
    "curl -sS -o /dev/null -w '%%{http_code}\\n' http://evil.rebind.csb.test:%u/",
    fixture->port);
  g_autofree char *out = run_sh (fixture, script, 0);

  g_assert_cmpstr (out, ==, "403\n");
  g_assert_cmpuint (fixture->served, ==, 0);
  csb_test_sleep_ms (200);
  g_assert_cmpuint (fixture->denied->len, ==, 1);
}

static gboolean
denied_once (gpointer data)
{
  return csb_dbus_sandbox_get_denied_connections (data) == 1;
}

static gboolean
network_allow_has_denied (gpointer data)
{
  const char * const *allow = csb_dbus_sandbox_get_network_allow (data);

  return allow != NULL && g_strv_contains (allow, "denied.csb.test");
}

static void
test_allow_at_run_time (Fixture       *fixture,
                        gconstpointer  data)
{
  static const char * const allow[] = { "allowed.csb.test", NULL };
  g_autofree char *script = g_strdup_printf (
    "curl -sS -o /dev/null -w 'first=%%{http_code}\\n' http://denied.csb.test:%u/;"
    "read line; curl -sS http://denied.csb.test:%u/; echo", fixture->port, fixture->port);
  const char * const command[] = { "sh", "-c", script, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;

  run = csb_test_launch (&fixture->bus, fixture->project, command, allow_options (allow), TRUE,
                         &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait_output (run, "first=403\n", CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (denied_once, run->sandbox, CSB_TEST_TIMEOUT_MS));

  csb_dbus_sandbox_call_allow_host_sync (run->sandbox, "denied.csb.test", NULL, &error);
  g_assert_no_error (error);
  /* The property follows (PropertiesChanged reaches our proxy asynchronously). */
  g_assert_true (csb_test_run_until (network_allow_has_denied, run->sandbox, CSB_TEST_TIMEOUT_MS));

  g_assert_cmpint (write (run->stdin_fd, "go\n", 3), ==, 3);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpstr (run->out->str, ==, "first=403\nhello-from-host\n");
  g_assert_cmpint (run->exit_signal_status, ==, 0);
}

static void
test_bad_input (Fixture       *fixture,
                gconstpointer  data)
{
  const char * const command[] = { "true", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  GVariantDict dict;

  /* network off and an allowlist contradict each other */
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "network", "b", FALSE);
  g_variant_dict_insert_value (&dict, "network-allow",
                               g_variant_new_strv ((const char * const[]) { "a.b", NULL }, -1));
  run = csb_test_launch (&fixture->bus, fixture->project, command, g_variant_dict_end (&dict),
                         FALSE, &error);
  g_assert_null (run);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  run = csb_test_launch (&fixture->bus, fixture->project, command,
                         allow_options ((const char * const[]) { "http://x.com/", NULL }),
                         FALSE, &error);
  g_assert_null (run);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "http://x.com/"));
  g_clear_error (&error);

  /* A backend without the filter must refuse, not hand out the whole network (the vm
   * backend has it: tests/vm boots one). */
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "backend", "s", "container");
  g_variant_dict_insert_value (&dict, "network-allow",
                               g_variant_new_strv ((const char * const[]) { "a.b", NULL }, -1));
  run = csb_test_launch (&fixture->bus, fixture->project, command, g_variant_dict_end (&dict),
                         FALSE, &error);
  g_assert_null (run);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "network-allow"));
  g_clear_error (&error);

  /* AllowHost on a sandbox whose network is not filtered */
  {
    const char * const sleeper[] = { "sleep", "30", NULL };

    run = csb_test_launch (&fixture->bus, fixture->project, sleeper, NULL, FALSE, &error);
    g_assert_no_error (error);
    csb_dbus_sandbox_call_allow_host_sync (run->sandbox, "example.com", NULL, &error);
    g_assert_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING);
    g_clear_error (&error);
    csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
    g_clear_pointer (&run, csb_test_run_free);
  }
  /* and a bad pattern to a filtered one */
  {
    const char * const sleeper[] = { "sleep", "30", NULL };

    run = csb_test_launch (&fixture->bus, fixture->project, sleeper,
                           allow_options ((const char * const[]) { "a.b", NULL }), FALSE,
                           &error);
    g_assert_no_error (error);
    csb_dbus_sandbox_call_allow_host_sync (run->sandbox, "*", NULL, &error);
    g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
    csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  }
}

int
main (int   argc,
      char *argv[])
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  /* Register the D-Bus error names, so remote errors arrive as CSB_ERROR. */
  (void) CSB_ERROR;
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/net/sandbox/curl", test_curl);
  ADD ("/net/sandbox/node", test_node);
  ADD ("/net/sandbox/raw-sockets", test_raw_sockets);
  ADD ("/net/sandbox/dns-rebinding", test_rebinding);
  ADD ("/net/sandbox/allow-at-run-time", test_allow_at_run_time);
  ADD ("/net/sandbox/bad-input", test_bad_input);
  return g_test_run ();
}
