/* test-sec-bounds.c — a sandbox cannot starve the user: a fork bomb inside stops at
 * its cgroup's pids.max while the host still spawns, and Stop removes the cgroup
 * (where the service has a writable cgroup: root here; elsewhere the sandbox's
 * Protections say no-resource-limits); 300 MB of terminal output leave a log within
 * its cap (terminal.log and one rotated terminal.log.1) while a new client still
 * gets the latest output replayed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-sec-utils.h"

#define LOG_CAP_KIB 512
#define PIDS_MAX 64

static void
setup_log_cap (CsbSecFixture *fixture,
               gconstpointer  data)
{
  g_autofree char *keyfile = g_strdup_printf ("[org/example/ClaudeSandbox]\n"
                                              "terminal-log-max-kib=%u\n", LOG_CAP_KIB);
  CsbTestBusOptions options = { NULL, FALSE, keyfile };

  csb_sec_fixture_setup (fixture, &options);
}

static void
setup_pids (CsbSecFixture *fixture,
            gconstpointer  data)
{
  g_autofree char *keyfile = g_strdup_printf ("[org/example/ClaudeSandbox]\n"
                                              "sandbox-pids-max=%u\n"
                                              "sandbox-memory-max-mib=1024\n", PIDS_MAX);
  CsbTestBusOptions options = { NULL, FALSE, keyfile };

  csb_sec_fixture_setup (fixture, &options);
}

static void
teardown (CsbSecFixture *fixture,
          gconstpointer  data)
{
  csb_sec_fixture_teardown (fixture);
}

static goffset
file_size (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0 ? st.st_size : -1;
}

/* The sandbox's cgroup folder for @controller ("pids", "memory"; "" for v2), from the
 * cgroup of its first process @pid; NULL if it is in none of ours. */
static char *
sandbox_cgroup (guint       pid,
                const char *id,
                const char *controller)
{
  g_autofree char *path = g_strdup_printf ("/proc/%u/cgroup", pid);
  g_autofree char *text = NULL;
  g_autofree char *name = g_strconcat ("/csb-", id, NULL);
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) fields = g_strsplit (lines[i], ":", 3);
      g_auto(GStrv) names = NULL;

      if (g_strv_length (fields) != 3 || !g_str_has_suffix (fields[2], name))
        continue;
      names = g_strsplit (fields[1], ",", -1);
      if (*controller == '\0' ? *fields[1] == '\0'
                               : g_strv_contains ((const char * const *) names, controller))
        return g_build_filename ("/sys/fs/cgroup", fields[1], fields[2], NULL);
    }
  return NULL;
}

static char *
read_trimmed (const char *dir,
              const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_strdup ("(unreadable)");
  return g_strdup (g_strstrip (text));
}

static gboolean
folder_gone (gpointer data)
{
  return !g_file_test (data, G_FILE_TEST_EXISTS);
}

static void
test_fork_bomb (CsbSecFixture *fixture,
                gconstpointer  data)
{
  const char * const first[] = { "true", NULL };
  const char *bomb[] = { fixture->probe, "forks", "2000", NULL };
  const char * const host_argv[] = { "sh", "-c", "true", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) probe_run = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GHashTable) results = NULL;
  g_autofree char *pids_dir = NULL;
  g_autofree char *memory_dir = NULL;
  g_autofree char *pids_max = NULL;
  const char * const *protections;
  const char *id;
  gboolean v2 = g_file_test ("/sys/fs/cgroup/cgroup.controllers", G_FILE_TEST_EXISTS);
  int host_status = -1;

  /* Whether this service has a cgroup to put sandboxes in, before any bomb. */
  probe_run = csb_test_launch (&fixture->bus, fixture->project, first, NULL, FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (probe_run, CSB_TEST_TIMEOUT_MS));
  protections = csb_dbus_sandbox_get_protections (probe_run->sandbox);
  if (g_strv_contains (protections, "no-resource-limits"))
    {
      /* Said, not pretended. */
      g_assert_false (g_strv_contains (protections, "pids-limit"));
      g_assert_false (g_strv_contains (protections, "memory-limit"));
      g_test_skip ("no delegated or writable cgroup here: Protections say no-resource-limits");
      return;
    }
  g_assert_true (g_strv_contains (protections, "pids-limit"));
  g_assert_true (g_strv_contains (protections, "memory-limit"));

  run = csb_test_launch (&fixture->bus, fixture->project, bomb, NULL, FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait_output (run, "fork_errno=", CSB_TEST_TIMEOUT_MS));
  results = csb_sec_parse (run->out->str);
  g_test_message ("fork bomb: %s", run->out->str);
  /* It hit the limit, far from its 2000 ... */
  g_assert_cmpstr (g_hash_table_lookup (results, "fork_errno"), ==, "EAGAIN");
  g_assert_cmpint (atoi (g_hash_table_lookup (results, "forks")), <, PIDS_MAX);

  /* ... in the sandbox's own cgroup, with the settings' limits ... */
  id = csb_dbus_sandbox_get_id (run->sandbox);
  pids_dir = sandbox_cgroup (csb_dbus_sandbox_get_pid (run->sandbox), id, v2 ? "" : "pids");
  memory_dir = sandbox_cgroup (csb_dbus_sandbox_get_pid (run->sandbox), id, v2 ? "" : "memory");
  g_assert_nonnull (pids_dir);
  g_assert_nonnull (memory_dir);
  pids_max = read_trimmed (pids_dir, "pids.max");
  g_assert_cmpint (atoi (pids_max), ==, PIDS_MAX);
  {
    g_autofree char *memory_max = read_trimmed (memory_dir,
                                                v2 ? "memory.max" : "memory.limit_in_bytes");
    g_assert_cmpstr (memory_max, ==, "1073741824");
  }

  /* ... while the host still starts programs. */
  g_spawn_sync (NULL, (char **) host_argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                &host_status, &error);
  g_assert_no_error (error);
  g_assert_cmpint (host_status, ==, 0);

  /* Stop ends it all and the cgroups go with it. */
  g_assert_true (csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (csb_test_run_until (csb_test_sandbox_ended, run->sandbox, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (folder_gone, pids_dir, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (folder_gone, memory_dir, CSB_TEST_TIMEOUT_MS));
}

static void
test_terminal_log (CsbSecFixture *fixture,
                   gconstpointer  data)
{
  /* 300 MB (in 1 MB lines), then a marker, then it waits to be told to end. */
  const char * const command[] = {
    "sh", "-c",
    "head -c 300000000 /dev/zero | tr '\\0' x | fold -w 1000000; "
    "echo; echo flood-done-$((6*7)); read x; echo bye-$x", NULL
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *log = NULL;
  g_autofree char *rotated = NULL;
  g_autofree char *tail = NULL;
  goffset cap = (goffset) LOG_CAP_KIB * 1024;
  goffset log_size, rotated_size;

  run = csb_test_launch_pty (&fixture->bus, fixture->project, command, NULL, &error);
  g_assert_no_error (error);
  dir = g_build_filename (fixture->bus.dirs.state, "claude-sandbox",
                          csb_dbus_sandbox_get_id (run->sandbox), NULL);
  log = g_build_filename (dir, "terminal.log", NULL);
  rotated = g_build_filename (dir, "terminal.log.1", NULL);

  /* Attached only after the flood: the replay comes from what was kept. The marker
   * in the log says the flood went through (no time bound: the wait is for it). */
  while (!(g_file_get_contents (log, &tail, NULL, NULL) && strstr (tail, "flood-done-42")))
    {
      g_clear_pointer (&tail, g_free);
      g_assert_true (csb_dbus_sandbox_get_state (run->sandbox) != NULL);
      csb_test_sleep_ms (200);
      if (g_strcmp0 (csb_dbus_sandbox_get_state (run->sandbox), "running") != 0)
        break;
    }
  g_assert_nonnull (tail);
  g_assert_nonnull (strstr (tail, "flood-done-42"));

  log_size = file_size (log);
  rotated_size = file_size (rotated);
  g_test_message ("terminal.log %" G_GOFFSET_FORMAT " bytes, terminal.log.1 %"
                  G_GOFFSET_FORMAT " bytes, cap %" G_GOFFSET_FORMAT, log_size, rotated_size,
                  cap);
  g_assert_cmpint (log_size, >, 0);
  g_assert_cmpint (rotated_size, >, 0);   /* it did rotate */
  g_assert_cmpint (log_size + rotated_size, <=, cap);

  /* A new client gets the latest output first, then live. */
  term = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (term, "flood-done-42", CSB_TEST_TIMEOUT_MS));
  csb_test_terminal_send (term, "now\n");
  g_assert_true (csb_test_terminal_wait (term, "bye-now", CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpint (file_size (log) + file_size (rotated), <=, cap);
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  /* A failed check ends its test case, not the program (see test-sec-isolation.c). */
  g_test_set_nonfatal_assertions ();

  g_test_add ("/security/bounds/fork-bomb", CsbSecFixture, NULL, setup_pids, test_fork_bomb,
              teardown);
  g_test_add ("/security/bounds/terminal-log", CsbSecFixture, NULL, setup_log_cap,
              test_terminal_log, teardown);
  return g_test_run ();
}
