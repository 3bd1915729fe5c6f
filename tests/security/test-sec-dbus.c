/* test-sec-dbus.c — the sandbox's session bus is a filtering xdg-dbus-proxy:
 * only the talk list (notifications, portals) is visible and callable; the
 * Secret Service is not on it by default (it hands out the whole keyring). The names a sandbox must not reach (the service itself, systemd's
 * user manager, which runs anything via StartTransientUnit) are owned on the
 * private test bus by this test, so they demonstrably exist outside.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

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
  g_assert_null (strstr (out, "/org/example/ClaudeSandbox/sandbox/"));

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
                                         g_variant_new ("(s)", "org.example.ClaudeSandbox"),
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
  g_assert_false (g_strv_contains ((const char * const *) activatable, "org.example.ClaudeSandbox"));
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
