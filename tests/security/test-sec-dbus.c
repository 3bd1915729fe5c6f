/* test-sec-dbus.c — the sandbox's session bus is a filtering xdg-dbus-proxy:
 * only the talk list (notifications, portals) is visible and callable; the
 * Secret Service is not on it by default (it hands out the whole keyring). The names a sandbox must not reach (the service itself, systemd's
 * user manager, which runs anything via StartTransientUnit) are owned on the
 * private test bus by this test, so they demonstrably exist outside.
 *
 * Who the sandbox is on the bus: the proxy runs in a bwrap of its own with a
 * /.flatpak-info, so a real xdg-desktop-portal identifies its calls as the app
 * org.example.ClaudeSandbox.Sandbox, not as a host app it would trust blindly.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <json-glib/json-glib.h>

#include "csb-dbus-proxy.h"
#include "csb-sec-utils.h"

#define GDBUS_CALL "gdbus call --session --timeout 5 "

static void
setup (CsbSecFixture *fixture,
       gconstpointer  data)
{
  csb_sec_fixture_setup (fixture, NULL);
  csb_test_bus_activate (&fixture->bus);
}

static void
teardown (CsbSecFixture *fixture,
          gconstpointer  data)
{
  csb_sec_fixture_teardown (fixture);
}

static void
on_ping_reply (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  GVariant **reply = user_data;
  g_autoptr(GError) error = NULL;

  *reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  g_assert_no_error (error);
}

static gboolean
is_set (gpointer data)
{
  return *(GVariant **) data != NULL;
}

/* Calls Ping on @name from this (host) side: the name exists and answers. The
 * owner is served by this thread's main loop, so the call must not block it. */
static void
assert_answers_outside (CsbSecFixture *fixture,
                        const char    *name,
                        const char    *marker)
{
  g_autoptr(GVariant) reply = NULL;
  const char *answer;

  g_dbus_connection_call (fixture->bus.connection, name, "/org/freedesktop/Test",
                          "org.example.ClaudeSandbox.SecurityTest", "Ping", NULL,
                          G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE, 5000,
                          NULL, on_ping_reply, &reply);
  g_assert_true (csb_test_run_until (is_set, &reply, 10000));
  g_variant_get (reply, "(&s)", &answer);
  g_assert_cmpstr (answer, ==, marker);
}

static char *
ping_script (const char *name)
{
  return g_strdup_printf (GDBUS_CALL "--dest %s --object-path /org/freedesktop/Test "
                          "--method org.example.ClaudeSandbox.SecurityTest.Ping 2>&1", name);
}

static GStrv
parse_names (const char *output)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  GStrv names;

  value = g_variant_parse (G_VARIANT_TYPE ("(as)"), output, NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (value, "(^as)", &names);
  return names;
}

static void
test_manager_invisible (CsbSecFixture *fixture,
                        gconstpointer  data)
{
  g_autofree char *out = NULL;
  int status = -1;

  /* Outside, the service answers (the test bus activated it). */
  g_assert_nonnull (fixture->bus.manager);
  g_assert_cmpstr (csb_dbus_manager_get_version (fixture->bus.manager), !=, NULL);

  out = csb_sec_run_sh (fixture,
                        GDBUS_CALL "--dest org.example.ClaudeSandbox "
                        "--object-path /org/example/ClaudeSandbox "
                        "--method org.example.ClaudeSandbox.Manager.Launch "
                        "\"$PWD\" \"['true']\" '{}' 2>&1; echo \"launch-status=$?\"; "
                        GDBUS_CALL "--dest org.freedesktop.DBus --object-path /org/freedesktop/DBus "
                        "--method org.freedesktop.DBus.NameHasOwner org.example.ClaudeSandbox; "
                        GDBUS_CALL "--dest org.freedesktop.DBus --object-path /org/freedesktop/DBus "
                        "--method org.freedesktop.DBus.GetNameOwner org.example.ClaudeSandbox 2>&1; "
                        "echo \"owner-status=$?\"",
                        NULL, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "launch-status=1"));
  g_assert_nonnull (strstr (out, "org.freedesktop.DBus.Error.ServiceUnknown"));
  g_assert_nonnull (strstr (out, "(false,)"));
  g_assert_nonnull (strstr (out, "owner-status=1"));
  g_assert_null (strstr (out, CSB_SANDBOX_PATH_PREFIX));

  /* Nor through the service's unique name, which the proxy may list. */
  {
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *script = NULL;
    g_autofree char *out2 = NULL;
    const char *unique;

    reply = g_dbus_connection_call_sync (fixture->bus.connection, "org.freedesktop.DBus",
                                         "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                         "GetNameOwner",
                                         g_variant_new ("(s)", CSB_BUS_NAME),
                                         G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE, -1,
                                         NULL, &error);
    g_assert_no_error (error);
    g_variant_get (reply, "(&s)", &unique);
    script = g_strdup_printf (GDBUS_CALL "--dest %s --object-path /org/example/ClaudeSandbox "
                              "--method org.example.ClaudeSandbox.Manager.GetBackends 2>&1; "
                              "echo \"unique-status=$?\"", unique);
    out2 = csb_sec_run_sh (fixture, script, NULL, &status);
    g_assert_cmpint (status, ==, 0);
    g_assert_nonnull (strstr (out2, "unique-status=1"));
    g_assert_null (strstr (out2, "bwrap"));
  }
}

static void
test_systemd_invisible (CsbSecFixture *fixture,
                        gconstpointer  data)
{
  g_autoptr(GDBusConnection) systemd = csb_sec_own_name (&fixture->bus, "org.freedesktop.systemd1",
                                                         "fake-systemd");
  g_autofree char *script = ping_script ("org.freedesktop.systemd1");
  g_autofree char *out = NULL;
  int status = -1;

  assert_answers_outside (fixture, "org.freedesktop.systemd1", "fake-systemd");
  out = csb_sec_run_sh (fixture, script, NULL, &status);
  g_assert_cmpint (status, !=, 0);
  g_assert_null (strstr (out, "fake-systemd"));
  g_assert_nonnull (strstr (out, "org.freedesktop.DBus.Error.ServiceUnknown"));
  g_dbus_connection_close_sync (systemd, NULL, NULL);
}

/* gnome-keyring checks nothing per item for a client that is not a Flatpak app:
 * whoever can call org.freedesktop.secrets reads and replaces every stored secret.
 * A fake keyring owns the name on the test bus; from inside it does not exist. */
static void
test_keyring_unreachable (CsbSecFixture *fixture,
                          gconstpointer  data)
{
  g_autoptr(GDBusConnection) keyring = csb_sec_own_name (&fixture->bus, "org.freedesktop.secrets",
                                                         "fake-keyring");
  g_autofree char *ping = ping_script ("org.freedesktop.secrets");
  g_autofree char *script = g_strdup_printf (
    "%s; echo \"ping-status=$?\"; "
    GDBUS_CALL "--dest org.freedesktop.secrets --object-path /org/freedesktop/secrets "
    "--method org.freedesktop.Secret.Service.OpenSession plain '<\"\">' 2>&1; "
    "echo \"open-status=$?\"; "
    GDBUS_CALL "--dest org.freedesktop.DBus --object-path /org/freedesktop/DBus "
    "--method org.freedesktop.DBus.NameHasOwner org.freedesktop.secrets", ping);
  g_autofree char *out = NULL;
  int status = -1;

  assert_answers_outside (fixture, "org.freedesktop.secrets", "fake-keyring");
  out = csb_sec_run_sh (fixture, script, NULL, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_null (strstr (out, "fake-keyring"));
  g_assert_nonnull (strstr (out, "ping-status=1"));
  g_assert_nonnull (strstr (out, "open-status=1"));
  g_assert_nonnull (strstr (out, "org.freedesktop.DBus.Error.ServiceUnknown"));
  g_assert_nonnull (strstr (out, "(false,)"));
  g_dbus_connection_close_sync (keyring, NULL, NULL);
}

/* ---- the sandbox's identity on the bus ----------------------------------------- */

#define IMPL_NAME "org.example.ClaudeSandbox.TestPortalImpl"
#define WHO_NAME "org.freedesktop.portal.ClaudeSandboxTest"

static const char fake_xml[] =
  "<node>"
  "<interface name='org.freedesktop.impl.portal.Notification'>"
  "<method name='AddNotification'><arg type='s' direction='in'/><arg type='s' direction='in'/>"
  "<arg type='a{sv}' direction='in'/></method>"
  "<method name='RemoveNotification'><arg type='s' direction='in'/>"
  "<arg type='s' direction='in'/></method>"
  "</interface>"
  "<interface name='org.example.ClaudeSandbox.SecurityTest'>"
  "<method name='WhoAmI'><arg type='s' direction='out'/></method>"
  "</interface>"
  "</node>";

/* A bus peer that records what it is told: a portal backend for notifications (the
 * frontend passes it the app id it found) and a WhoAmI that reads the caller's
 * /.flatpak-info through /proc, as xdg-desktop-portal does. */
typedef struct
{
  GDBusConnection *connection;
  char            *app_id;       /* of the last AddNotification */
  char            *caller_info;  /* the last WhoAmI caller's /.flatpak-info, or "" */
  char            *caller_exe;
  char            *bwrapinfo;    /* its instance's bwrapinfo.json then, or NULL */
  const char      *runtime_dir;  /* the session's XDG_RUNTIME_DIR */
} FakePeer;

static void
on_fake_call (GDBusConnection       *connection,
              const char            *sender,
              const char            *path,
              const char            *interface,
              const char            *method,
              GVariant              *parameters,
              GDBusMethodInvocation *invocation,
              gpointer               user_data)
{
  FakePeer *peer = user_data;

  if (g_str_equal (method, "AddNotification"))
    {
      g_free (peer->app_id);
      g_variant_get (parameters, "(s&s@a{sv})", &peer->app_id, NULL, NULL);
      g_dbus_method_invocation_return_value (invocation, NULL);
    }
  else if (g_str_equal (method, "WhoAmI"))
    {
      g_autoptr(GVariant) reply = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *info_path = NULL;
      g_autofree char *exe_path = NULL;
      guint32 pid = 0;

      /* The caller is alive now: it waits for this reply. */
      reply = g_dbus_connection_call_sync (connection, "org.freedesktop.DBus",
                                           "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                           "GetConnectionUnixProcessID",
                                           g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
                                           G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
      g_assert_no_error (error);
      g_variant_get (reply, "(u)", &pid);
      info_path = g_strdup_printf ("/proc/%u/root/.flatpak-info", pid);
      exe_path = g_strdup_printf ("/proc/%u/exe", pid);
      g_free (peer->caller_info);
      peer->caller_info = csb_sec_read_file (info_path);
      if (peer->caller_info == NULL)
        peer->caller_info = g_strdup ("");
      g_free (peer->caller_exe);
      peer->caller_exe = g_file_read_link (exe_path, NULL);
      {
        g_autoptr(GKeyFile) info = g_key_file_new ();
        g_autofree char *instance = NULL;

        if (g_key_file_load_from_data (info, peer->caller_info, -1, G_KEY_FILE_NONE, NULL) &&
            (instance = g_key_file_get_string (info, "Instance", "instance-id", NULL)) != NULL)
          {
            g_autofree char *path = g_build_filename (peer->runtime_dir, ".flatpak",
                                                      instance, "bwrapinfo.json", NULL);

            g_free (peer->bwrapinfo);
            peer->bwrapinfo = csb_sec_read_file (path);
          }
      }
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(s)", "recorded"));
    }
  else
    g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                           "no method %s", method);
}

static const GDBusInterfaceVTable fake_vtable = { on_fake_call, NULL, NULL, { 0 } };

static void
fake_peer_start (FakePeer   *peer,
                 CsbTestBus *bus,
                 const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (fake_xml, &error);
  g_autoptr(GVariant) reply = NULL;
  guint32 result;

  g_assert_no_error (error);
  peer->connection =
    g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (bus->bus),
                                            G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                            G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                            NULL, NULL, &error);
  g_assert_no_error (error);
  g_dbus_connection_set_exit_on_close (peer->connection, FALSE);
  for (guint i = 0; info->interfaces[i] != NULL; i++)
    {
      g_dbus_connection_register_object (peer->connection, "/org/freedesktop/portal/desktop",
                                         info->interfaces[i], &fake_vtable, peer, NULL, &error);
      g_assert_no_error (error);
    }
  reply = g_dbus_connection_call_sync (peer->connection, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "RequestName", g_variant_new ("(su)", name, 4),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1,
                                       NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &result);
  g_assert_cmpuint (result, ==, 1);
}

static void
fake_peer_stop (FakePeer *peer)
{
  if (peer->connection != NULL)
    g_dbus_connection_close_sync (peer->connection, NULL, NULL);
  g_clear_object (&peer->connection);
  g_clear_pointer (&peer->app_id, g_free);
  g_clear_pointer (&peer->caller_info, g_free);
  g_clear_pointer (&peer->caller_exe, g_free);
  g_clear_pointer (&peer->bwrapinfo, g_free);
}

static gboolean
file_gone (gpointer path)
{
  return !g_file_test (path, G_FILE_TEST_EXISTS);
}

/* The instance folder portals read is made for the sandbox alone: one that exists
 * already (Flatpak's, another program's, planted) is never used or changed, nor is a
 * .flatpak that is a link. */
static void
test_instance_dir (void)
{
  g_autofree char *runtime = g_dir_make_tmp ("csb-instance-XXXXXX", NULL);
  g_autofree char *base = g_build_filename (runtime, ".flatpak", NULL);
  g_autofree char *taken = g_build_filename (base, "csb-taken", NULL);
  g_autofree char *taken_file = g_build_filename (taken, "bwrapinfo.json", NULL);
  g_autofree char *other = g_build_filename (runtime, "other", NULL);
  g_autofree char *old = g_build_filename (runtime, "old", NULL);
  g_autofree char *made = NULL;
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  struct stat st;

  made = csb_dbus_proxy_make_instance_dir (runtime, "csb-new", &error);
  g_assert_no_error (error);
  g_assert_cmpint (stat (made, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);

  g_assert_cmpint (mkdir (taken, 0755), ==, 0);
  csb_test_write_file (taken_file, "{\"child-pid\": 1}", 0644);
  g_assert_null (csb_dbus_proxy_make_instance_dir (runtime, "csb-taken", &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, CSB_ERROR, CSB_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (taken_file, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "{\"child-pid\": 1}");

  /* .flatpak a link to another folder: nothing made there. */
  g_assert_cmpint (mkdir (other, 0700), ==, 0);
  g_assert_cmpint (rename (base, old), ==, 0);
  g_assert_cmpint (symlink (other, base), ==, 0);
  g_assert_null (csb_dbus_proxy_make_instance_dir (runtime, "csb-linked", &error));
  g_assert_error (error, CSB_ERROR, CSB_ERROR_FAILED);
  g_clear_pointer (&contents, g_free);
  contents = csb_test_list_dir (other);
  g_assert_cmpstr (contents, ==, "");
  csb_test_rm_rf (runtime);
}

static gboolean
has_app_id (gpointer data)
{
  return ((FakePeer *) data)->app_id != NULL;
}

/* The proxy a sandbox talks through carries /.flatpak-info naming the app and the
 * sandbox as its instance: read here through /proc/PID/root of the process that
 * called, while it calls. */
static void
test_proxy_app_info (CsbSecFixture *fixture,
                     gconstpointer  data)
{
  const char * const argv[] = {
    "/bin/sh", "-c", GDBUS_CALL "--dest " WHO_NAME " --object-path /org/freedesktop/portal/desktop "
    "--method org.example.ClaudeSandbox.SecurityTest.WhoAmI", NULL
  };
  FakePeer peer = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GKeyFile) info = g_key_file_new ();
  g_autofree char *name = NULL;
  g_autofree char *instance = NULL;
  const char * const *protections;

  peer.runtime_dir = fixture->bus.dirs.runtime;
  fake_peer_start (&peer, &fixture->bus, WHO_NAME);
  run = csb_test_launch (&fixture->bus, fixture->project, argv,
                         csb_sec_options ("network", g_variant_new_boolean (FALSE), NULL), FALSE,
                         &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_test_message ("inside: %s%s", run->out->str, run->err->str);
  g_assert_nonnull (strstr (run->out->str, "('recorded',)"));

  g_assert_nonnull (peer.caller_info);
  g_test_message ("the caller's /.flatpak-info:\n%s", peer.caller_info);
  g_assert_cmpstr (peer.caller_exe, ==, DBUS_PROXY);
  g_assert_true (g_key_file_load_from_data (info, peer.caller_info, -1, G_KEY_FILE_NONE, NULL));
  name = g_key_file_get_string (info, "Application", "name", NULL);
  instance = g_key_file_get_string (info, "Instance", "instance-id", NULL);
  g_assert_cmpstr (name, ==, CSB_DBUS_PROXY_APP_ID);
  /* Never a number: Flatpak's instances are, and its clean-up removes those. */
  g_assert_true (g_str_has_prefix (instance, "csb-"));
  g_assert_cmpstr (instance + 4, ==, csb_dbus_sandbox_get_id (run->sandbox));
  g_assert_true (g_key_file_get_boolean (info, "Instance", "session-bus-proxy", NULL));
  protections = csb_dbus_sandbox_get_protections (run->sandbox);
  g_assert_true (g_strv_contains (protections, "dbus-app-identity"));

  /* Where xdg-desktop-portal ≥ 1.19 finds the sandbox the proxy speaks for: the pid of
   * a process in the sandbox (its own mount namespace), for as long as it runs. */
  g_assert_nonnull (peer.bwrapinfo);
  g_test_message ("bwrapinfo.json: %s", peer.bwrapinfo);
  {
    g_autoptr(JsonParser) parser = json_parser_new ();
    g_autofree char *path = g_build_filename (fixture->bus.dirs.runtime, ".flatpak", instance,
                                              "bwrapinfo.json", NULL);
    gint64 child_pid;

    if (peer.bwrapinfo == NULL)
      return;
    g_assert_true (json_parser_load_from_data (parser, peer.bwrapinfo, -1, NULL));
    child_pid = json_object_get_int_member (json_node_get_object (json_parser_get_root (parser)),
                                            "child-pid");
    g_assert_cmpint (child_pid, >, 1);
    /* Nothing wakes the main loop when a file goes: look every 50 ms. */
    for (guint waited = 0; waited < 30000 && !file_gone (path); waited += 50)
      csb_test_sleep_ms (50);
    g_assert_true (file_gone (path));
  }
  fake_peer_stop (&peer);
}

/* A real xdg-desktop-portal on the test bus, with a notification backend of ours
 * that learns the app id the portal found: "" (a host app, trusted with every
 * portal) for this test process, the sandbox's app id for a call from inside. */
static void
test_portal_app_id (CsbSecFixture *fixture,
                    gconstpointer  data)
{
  const char *portal = "/usr/libexec/xdg-desktop-portal";
  g_autofree char *portals_dir = g_build_filename (fixture->bus.dirs.root, "portals", NULL);
  g_autofree char *portal_file = g_build_filename (portals_dir, "csb-test.portal", NULL);
  g_autofree char *log_path = g_build_filename (fixture->bus.dirs.root, "portal.log", NULL);
  g_autofree char *env_bus = g_strconcat ("DBUS_SESSION_BUS_ADDRESS=",
                                          g_test_dbus_get_bus_address (fixture->bus.bus), NULL);
  g_autofree char *env_dir = g_strconcat ("XDG_DESKTOP_PORTAL_DIR=", portals_dir, NULL);
  g_autofree char *env_home = g_strconcat ("HOME=", fixture->bus.dirs.home, NULL);
  g_autofree char *env_runtime = g_strconcat ("XDG_RUNTIME_DIR=", fixture->bus.dirs.runtime, NULL);
  const char * const envp[] = {
    env_bus, env_dir, env_home, env_runtime, "XDG_CURRENT_DESKTOP=csb-test",
    "PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL
  };
  const char * const argv[] = { portal, "--replace", "--verbose", NULL };
  FakePeer impl = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *out = NULL;
  g_autofree char *log = NULL;
  GPid pid = 0;
  int log_fd, status = -1;
  gboolean up = FALSE;

  if (!g_file_test (portal, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("xdg-desktop-portal is not installed (Debian package xdg-desktop-portal; "
                   "build-aux/setup.sh installs it)");
      return;
    }
  fake_peer_start (&impl, &fixture->bus, IMPL_NAME);
  g_assert_cmpint (g_mkdir_with_parents (portals_dir, 0700), ==, 0);
  csb_test_write_file (portal_file,
                       "[portal]\nDBusName=" IMPL_NAME "\n"
                       "Interfaces=org.freedesktop.impl.portal.Notification;\n"
                       "UseIn=csb-test\n", 0644);
  log_fd = open (log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  g_assert_cmpint (log_fd, >=, 0);
  g_spawn_async_with_pipes_and_fds (NULL, argv, envp,
                                    G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL,
                                    NULL, NULL, -1, log_fd, log_fd, NULL, NULL, 0, &pid,
                                    NULL, NULL, NULL, &error);
  close (log_fd);
  g_assert_no_error (error);

  for (guint i = 0; i < 200 && !up; i++)
    {
      g_clear_pointer (&reply, g_variant_unref);
      reply = g_dbus_connection_call_sync (fixture->bus.connection, "org.freedesktop.DBus",
                                           "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                           "NameHasOwner",
                                           g_variant_new ("(s)", "org.freedesktop.portal.Desktop"),
                                           G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, -1,
                                           NULL, NULL);
      if (reply != NULL)
        g_variant_get (reply, "(b)", &up);
      if (!up)
        csb_test_sleep_ms (50);
    }
  g_assert_true (up);

  /* From this process: a host app. */
  g_clear_pointer (&reply, g_variant_unref);
  reply = g_dbus_connection_call_sync (fixture->bus.connection, "org.freedesktop.portal.Desktop",
                                       "/org/freedesktop/portal/desktop",
                                       "org.freedesktop.portal.Notification", "AddNotification",
                                       g_variant_new_parsed ("('csb-host', {'title': <'host'>})"),
                                       NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_until (has_app_id, &impl, 10000));
  g_assert_cmpstr (impl.app_id, ==, "");
  g_clear_pointer (&impl.app_id, g_free);

  /* From inside: the sandbox's app. */
  out = csb_sec_run_sh (fixture,
                        GDBUS_CALL "--dest org.freedesktop.portal.Desktop "
                        "--object-path /org/freedesktop/portal/desktop "
                        "--method org.freedesktop.portal.Notification.AddNotification "
                        "csb-inside \"{'title': <'inside'>}\" 2>&1",
                        NULL, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_true (csb_test_run_until (has_app_id, &impl, 10000));
  log = csb_sec_read_file (log_path);
  g_test_message ("xdg-desktop-portal's log:\n%s", log ? log : "");
  g_assert_cmpstr (impl.app_id, ==, CSB_DBUS_PROXY_APP_ID);

  kill (pid, SIGTERM);
  waitpid (pid, NULL, 0);
  g_spawn_close_pid (pid);
  fake_peer_stop (&impl);
}

static void
test_list_names (CsbSecFixture *fixture,
                 gconstpointer  data)
{
  g_autoptr(GDBusConnection) notifications =
    csb_sec_own_name (&fixture->bus, "org.freedesktop.Notifications", "notifications");
  g_autoptr(GDBusConnection) portal =
    csb_sec_own_name (&fixture->bus, "org.freedesktop.portal.Desktop", "portal");
  g_autoptr(GDBusConnection) systemd =
    csb_sec_own_name (&fixture->bus, "org.freedesktop.systemd1", "fake-systemd");
  g_autoptr(GDBusConnection) other =
    csb_sec_own_name (&fixture->bus, "org.gnome.Shell", "shell");
  g_autoptr(GDBusConnection) keyring =
    csb_sec_own_name (&fixture->bus, "org.freedesktop.secrets", "keyring");
  g_autofree char *out = NULL;
  g_auto(GStrv) lines = NULL;
  g_auto(GStrv) names = NULL;
  g_auto(GStrv) activatable = NULL;
  g_autoptr(GPtrArray) well_known = g_ptr_array_new ();
  int status = -1;

  out = csb_sec_run_sh (fixture,
                        GDBUS_CALL "--dest org.freedesktop.DBus --object-path /org/freedesktop/DBus "
                        "--method org.freedesktop.DBus.ListNames && "
                        GDBUS_CALL "--dest org.freedesktop.DBus --object-path /org/freedesktop/DBus "
                        "--method org.freedesktop.DBus.ListActivatableNames",
                        NULL, &status);
  g_assert_cmpint (status, ==, 0);
  lines = g_strsplit (out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), >=, 2);
  names = parse_names (lines[0]);
  activatable = parse_names (lines[1]);

  for (guint i = 0; names[i] != NULL; i++)
    if (names[i][0] != ':')
      g_ptr_array_add (well_known, names[i]);
  /* Exactly the bus and the talk-list names that exist; systemd1, the shell, the
   * keyring and the service itself (running, and activatable) are not there. */
  g_assert_cmpuint (well_known->len, ==, 3);
  g_assert_true (g_strv_contains ((const char * const *) names, "org.freedesktop.DBus"));
  g_assert_true (g_strv_contains ((const char * const *) names, "org.freedesktop.Notifications"));
  g_assert_true (g_strv_contains ((const char * const *) names, "org.freedesktop.portal.Desktop"));
  g_assert_false (g_strv_contains ((const char * const *) activatable, CSB_BUS_NAME));
  for (guint i = 0; activatable[i] != NULL; i++)
    g_assert_true (g_str_equal (activatable[i], "org.freedesktop.DBus") ||
                   g_str_has_prefix (activatable[i], "org.freedesktop.portal.") ||
                   g_str_equal (activatable[i], "org.freedesktop.Notifications"));

  g_dbus_connection_close_sync (notifications, NULL, NULL);
  g_dbus_connection_close_sync (portal, NULL, NULL);
  g_dbus_connection_close_sync (systemd, NULL, NULL);
  g_dbus_connection_close_sync (other, NULL, NULL);
  g_dbus_connection_close_sync (keyring, NULL, NULL);
}

static void
test_talk_list_reachable (CsbSecFixture *fixture,
                          gconstpointer  data)
{
  g_autoptr(GDBusConnection) notifications =
    csb_sec_own_name (&fixture->bus, "org.freedesktop.Notifications", "notifications-answered");
  g_autoptr(GDBusConnection) portal =
    csb_sec_own_name (&fixture->bus, "org.freedesktop.portal.Desktop", "portal-answered");
  g_autofree char *ping_notifications = ping_script ("org.freedesktop.Notifications");
  g_autofree char *ping_portal = ping_script ("org.freedesktop.portal.Desktop");
  g_autofree char *script = g_strdup_printf ("%s && %s", ping_notifications, ping_portal);
  g_autofree char *out = NULL;
  int status = -1;

  /* The filter lets the allowed names through: the calls reach this process. */
  out = csb_sec_run_sh (fixture, script, NULL, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "('notifications-answered',)"));
  g_assert_nonnull (strstr (out, "('portal-answered',)"));
  g_dbus_connection_close_sync (notifications, NULL, NULL);
  g_dbus_connection_close_sync (portal, NULL, NULL);
}

static void
test_cannot_own_or_monitor (CsbSecFixture *fixture,
                            gconstpointer  data)
{
  g_autofree char *out = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  gboolean owned = TRUE;
  int status = -1;

  /* Owning a name would let the sandbox impersonate a service the user trusts
   * (a fake notification daemon, a fake keyring); monitoring would read the bus. */
  out = csb_sec_run_sh (fixture,
                        GDBUS_CALL "--dest org.freedesktop.DBus --object-path /org/freedesktop/DBus "
                        "--method org.freedesktop.DBus.RequestName org.freedesktop.Notifications 4 2>&1; "
                        "echo \"own-status=$?\"; "
                        GDBUS_CALL "--dest org.freedesktop.DBus --object-path /org/freedesktop/DBus "
                        "--method org.freedesktop.DBus.RequestName org.example.Evil 4 2>&1; "
                        "echo \"own-other-status=$?\"; "
                        GDBUS_CALL "--dest org.freedesktop.DBus --object-path /org/freedesktop/DBus "
                        "--method org.freedesktop.DBus.Monitoring.BecomeMonitor '[]' 0 2>&1; "
                        "echo \"monitor-status=$?\"",
                        NULL, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "own-status=1"));
  g_assert_nonnull (strstr (out, "own-other-status=1"));
  g_assert_nonnull (strstr (out, "monitor-status=1"));

  reply = g_dbus_connection_call_sync (fixture->bus.connection, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner",
                                       g_variant_new ("(s)", "org.freedesktop.Notifications"),
                                       G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, -1,
                                       NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(b)", &owned);
  g_assert_false (owned);
}

static void
test_no_system_bus (CsbSecFixture *fixture,
                    gconstpointer  data)
{
  g_autofree char *out = NULL;
  g_autofree char *run_user = g_strdup_printf ("/run/user/%u", (guint) getuid ());
  g_autofree char *expected = g_strdup_printf ("run-user=%s/bus\n", run_user);
  g_autofree char *script = g_strdup_printf (
    "for p in /run/dbus/system_bus_socket /var/run/dbus/system_bus_socket /run/dbus; do "
    "  if [ -e \"$p\" ]; then echo \"present=$p\"; fi; done; "
    "echo \"system-address=${DBUS_SYSTEM_BUS_ADDRESS-unset}\"; "
    "echo \"session-address=$DBUS_SESSION_BUS_ADDRESS\"; "
    "for f in %s/* %s/.[!.]*; do [ -e \"$f\" ] && echo \"run-user=$f\"; done; "
    "gdbus call --system --timeout 5 --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus "
    "--method org.freedesktop.DBus.ListNames >/dev/null 2>&1; echo \"system-call=$?\"",
    run_user, run_user);
  g_autoptr(GHashTable) results = NULL;
  g_auto(GStrv) run_user_entries = NULL;
  int status = -1;

  out = csb_sec_run_sh (fixture, script, NULL, &status);
  g_assert_cmpint (status, ==, 0);
  results = csb_sec_parse (out);
  g_assert_false (g_hash_table_contains (results, "present"));
  g_assert_cmpstr (g_hash_table_lookup (results, "system-address"), ==, "unset");
  g_assert_cmpstr (g_hash_table_lookup (results, "system-call"), !=, "0");
  /* The only bus inside is the proxy's socket; nothing else sits in the runtime dir. */
  g_assert_true (g_str_has_prefix (g_hash_table_lookup (results, "session-address"),
                                   "unix:path=/run/user/"));
  g_assert_nonnull (strstr (out, expected));
  run_user_entries = csb_sec_lines_with_prefix (out, "run-user=");
  g_assert_cmpuint (g_strv_length (run_user_entries), ==, 1);
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  /* A failed check ends its test case, not the program: an abort would leave the
   * private bus and its service holding the TAP pipe open until the timeout. */
  g_test_set_nonfatal_assertions ();

  g_test_add ("/security/dbus/manager-invisible", CsbSecFixture, NULL, setup,
              test_manager_invisible, teardown);
  g_test_add ("/security/dbus/systemd-invisible", CsbSecFixture, NULL, setup,
              test_systemd_invisible, teardown);
  g_test_add ("/security/dbus/keyring-unreachable", CsbSecFixture, NULL, setup,
              test_keyring_unreachable, teardown);
  g_test_add_func ("/security/dbus/instance-dir", test_instance_dir);
  g_test_add ("/security/dbus/proxy-app-info", CsbSecFixture, NULL, setup,
              test_proxy_app_info, teardown);
  g_test_add ("/security/dbus/portal-app-id", CsbSecFixture, NULL, setup,
              test_portal_app_id, teardown);
  g_test_add ("/security/dbus/list-names", CsbSecFixture, NULL, setup,
              test_list_names, teardown);
  g_test_add ("/security/dbus/talk-list-reachable", CsbSecFixture, NULL, setup,
              test_talk_list_reachable, teardown);
  g_test_add ("/security/dbus/cannot-own-or-monitor", CsbSecFixture, NULL, setup,
              test_cannot_own_or_monitor, teardown);
  g_test_add ("/security/dbus/no-system-bus", CsbSecFixture, NULL, setup,
              test_no_system_bus, teardown);
  return g_test_run ();
}
