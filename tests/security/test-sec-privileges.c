/* test-sec-privileges.c — no capabilities, no_new_privs, a seccomp filter, the
 * Protections property that tells the GUI so, and nested user namespaces (which
 * Claude Code's own bwrap sandbox needs) as the allow-userns setting says.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "csb-sec-utils.h"

#define NO_USERNS_KEYFILE "[org/example/ClaudeSandbox]\nallow-userns=false\n"

static void
setup (CsbSecFixture *fixture,
       gconstpointer  data)
{
  CsbTestBusOptions options = { NULL, FALSE, data };

  csb_sec_fixture_setup (fixture, &options);
}

static void
teardown (CsbSecFixture *fixture,
          gconstpointer  data)
{
  csb_sec_fixture_teardown (fixture);
}

static void
test_status (CsbSecFixture *fixture,
             gconstpointer  data)
{
  g_autoptr(GHashTable) status = csb_sec_probe_inside (fixture, NULL, "status", NULL);
  gboolean userns = data == NULL;

  g_assert_cmpstr (g_hash_table_lookup (status, "CapEff"), ==, "0000000000000000");
  g_assert_cmpstr (g_hash_table_lookup (status, "CapPrm"), ==, "0000000000000000");
  g_assert_cmpstr (g_hash_table_lookup (status, "CapInh"), ==, "0000000000000000");
  g_assert_cmpstr (g_hash_table_lookup (status, "CapAmb"), ==, "0000000000000000");
  g_assert_cmpstr (g_hash_table_lookup (status, "NoNewPrivs"), ==, "1");
  g_assert_cmpstr (g_hash_table_lookup (status, "Seccomp"), ==, "2");
  /* The bounding set is what a nested user namespace could give back: emptied
   * (--cap-drop ALL) as root, where a full set would be real root's, and when
   * nested user namespaces are off; kept unprivileged, where it is worth nothing
   * outside the sandbox's own user namespace. */
  if (getuid () == 0 || !userns)
    g_assert_cmpstr (g_hash_table_lookup (status, "CapBnd"), ==, "0000000000000000");
  else
    g_test_message ("CapBnd (unprivileged, nested userns allowed): %s",
                    (char *) g_hash_table_lookup (status, "CapBnd"));
}

static void
assert_protections (CsbSecFixture *fixture,
                    gboolean       network)
{
  g_autoptr(GVariant) options = g_variant_ref_sink (
    csb_sec_options ("network", g_variant_new_boolean (network), NULL));
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  const char * const argv[] = { "/bin/sh", "-c", "read line", NULL };
  const char * const expected[] = {
    "seccomp", "dbus-filtered", "no-capabilities", "no-new-privs", "private-home",
    "claude-config-ro", "git-config-ro", NULL
  };
  g_autoptr(GVariant) value = NULL;
  g_auto(GStrv) protections = NULL;
  g_autofree char *shown = NULL;

  run = csb_test_launch (&fixture->bus, fixture->project, argv, g_variant_ref (options), TRUE,
                         &error);
  g_assert_no_error (error);
  if (run == NULL)
    return;
  value = g_dbus_proxy_get_cached_property (G_DBUS_PROXY (run->sandbox), "Protections");
  g_assert_nonnull (value);
  protections = g_variant_dup_strv (value, NULL);
  shown = g_strjoinv (", ", protections);
  g_test_message ("network %s: Protections: %s", network ? "on" : "off", shown);
  for (guint i = 0; expected[i] != NULL; i++)
    g_assert_true (g_strv_contains ((const char * const *) protections, expected[i]));
  g_assert_true (g_strv_contains ((const char * const *) protections, "no-network") == !network);
  close (run->stdin_fd);
  run->stdin_fd = -1;
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
}

static void
test_protections (CsbSecFixture *fixture,
                  gconstpointer  data)
{
  assert_protections (fixture, FALSE);
  assert_protections (fixture, TRUE);
}

static void
test_protections_no_git (CsbSecFixture *fixture,
                         gconstpointer  data)
{
  g_autofree char *plain = csb_test_make_project (&fixture->bus.dirs, "no-git");
  const char * const argv[] = { "true", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GVariant) value = NULL;
  g_auto(GStrv) protections = NULL;

  run = csb_test_launch (&fixture->bus, plain, argv, NULL, FALSE, &error);
  g_assert_no_error (error);
  if (run == NULL)
    return;
  value = g_dbus_proxy_get_cached_property (G_DBUS_PROXY (run->sandbox), "Protections");
  protections = g_variant_dup_strv (value, NULL);
  g_assert_false (g_strv_contains ((const char * const *) protections, "git-config-ro"));
  g_assert_true (g_strv_contains ((const char * const *) protections, "seccomp"));
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
}

static void
test_nested_userns (CsbSecFixture *fixture,
                    gconstpointer  data)
{
  gboolean allowed = data == NULL;
  g_autoptr(GHashTable) results = NULL;
  g_autofree char *out = NULL;
  int status = -1;

  results = csb_sec_probe_inside (fixture, NULL, "userns", NULL);
  out = csb_sec_run_sh (fixture,
                        "unshare -Ur true 2>&1; echo \"unshare=$?\"; "
                        "bwrap --ro-bind / / true 2>&1; echo \"bwrap=$?\"",
                        NULL, &status);
  g_assert_cmpint (status, ==, 0);
  g_hash_table_insert (results, g_strdup ("unshare"),
                       g_strdup (g_strstr_len (out, -1, "unshare=0") ? "OK" : "failed"));
  g_hash_table_insert (results, g_strdup ("bwrap"),
                       g_strdup (g_strstr_len (out, -1, "bwrap=0") ? "OK" : "failed"));

  if (allowed && getuid () != 0)
    {
      /* Claude Code's own sandbox (bwrap inside ours) works. */
      g_assert_cmpstr (g_hash_table_lookup (results, "userns"), ==, "OK");
      g_assert_cmpstr (g_hash_table_lookup (results, "unshare"), ==, "OK");
      g_assert_cmpstr (g_hash_table_lookup (results, "bwrap"), ==, "OK");
    }
  else if (allowed)
    {
      /* As root the service passes --cap-drop ALL, which empties the bounding set
       * too (else the sandbox would keep real root's full bounding set). A new user
       * namespace can then still be made, but its root has no capabilities, so
       * writing its uid map (unshare -r) and bwrap's mounts fail. */
      g_assert_cmpstr (g_hash_table_lookup (results, "unshare"), ==, "failed");
      g_assert_cmpstr (g_hash_table_lookup (results, "bwrap"), ==, "failed");
    }
  else
    {
      /* allow-userns=false: bwrap --disable-userns. */
      g_assert_cmpstr (g_hash_table_lookup (results, "userns"), !=, "OK");
      g_assert_cmpstr (g_hash_table_lookup (results, "unshare"), ==, "failed");
      g_assert_cmpstr (g_hash_table_lookup (results, "bwrap"), ==, "failed");
    }
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

  g_test_add ("/security/privileges/status", CsbSecFixture, NULL, setup, test_status,
              teardown);
  g_test_add ("/security/privileges/status-no-userns", CsbSecFixture, NO_USERNS_KEYFILE, setup,
              test_status, teardown);
  g_test_add ("/security/privileges/protections", CsbSecFixture, NULL, setup,
              test_protections, teardown);
  g_test_add ("/security/privileges/protections-no-git", CsbSecFixture, NULL, setup,
              test_protections_no_git, teardown);
  g_test_add ("/security/privileges/nested-userns", CsbSecFixture, NULL, setup,
              test_nested_userns, teardown);
  g_test_add ("/security/privileges/nested-userns-off", CsbSecFixture, NO_USERNS_KEYFILE, setup,
              test_nested_userns, teardown);
  return g_test_run ();
}
