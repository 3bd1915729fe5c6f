/* test-metrics.c — Sandbox.GetMetrics and Manager.GetHostMetrics on real bwrap
 * sandboxes: a busy loop and an allocation seen in the numbers, Claude Code session
 * files written inside counted exactly, hostile ones (symlinks out, FIFOs, nesting
 * bombs, huge lines) ignored.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "csb-test-utils.h"

#define MIB (1024 * 1024)
#define ALLOCATED_MIB 160

typedef struct
{
  CsbTestBus bus;
  char      *project;
} Fixture;

static void
fixture_setup (Fixture      *f,
               gconstpointer data)
{
  csb_test_bus_setup (&f->bus, NULL);
  f->project = csb_test_make_project (&f->bus.dirs, "project");
}

static void
fixture_teardown (Fixture      *f,
                  gconstpointer data)
{
  csb_test_bus_teardown (&f->bus);
  g_free (f->project);
}

static GVariantDict *
get_metrics (CsbDBusSandbox *sandbox)
{
  g_autoptr(GVariant) metrics = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  g_assert_true (csb_dbus_sandbox_call_get_metrics_sync (sandbox, &metrics, NULL, &error));
  g_assert_no_error (error);
  text = g_variant_print (metrics, TRUE);
  g_test_message ("metrics: %s", text);
  return g_variant_dict_new (metrics);
}

static guint64
lookup_t (GVariantDict *dict,
          const char   *key)
{
  guint64 value;

  if (!g_variant_dict_lookup (dict, key, "t", &value))
    g_error ("no %s (t) in the metrics", key);
  return value;
}

static guint32
lookup_u (GVariantDict *dict,
          const char   *key)
{
  guint32 value;

  if (!g_variant_dict_lookup (dict, key, "u", &value))
    g_error ("no %s (u) in the metrics", key);
  return value;
}

static void
stop_and_wait (CsbDBusSandbox *sandbox)
{
  g_autoptr(GError) error = NULL;

  csb_dbus_sandbox_call_stop_sync (sandbox, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_until (csb_test_sandbox_ended, sandbox, CSB_TEST_TIMEOUT_MS));
}

/* A shell spinning and a python holding ALLOCATED_MIB it wrote to: the numbers are
 * the sandbox's, from the host's side. */
static void
test_busy (Fixture      *f,
           gconstpointer data)
{
  const char * const command[] = {
    "sh", "-c",
    /* 64 KiB on the terminal first: its log is in the state folder. */
    "head -c 65536 /dev/zero | tr '\\0' x; echo;"
    " python3 -c 'b = bytearray(b\"\\x01\" * (" G_STRINGIFY (ALLOCATED_MIB) " << 20))\n"
    "print(\"allo\" + \"cated\", flush=True)\n"
    "while True: pass' &"
    " while :; do :; done",
    NULL
  };
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;
  g_autoptr(GVariantDict) first = NULL;
  g_autoptr(GVariantDict) dict = NULL;
  g_autoptr(GVariantDict) ended = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *source = NULL;
  guint64 cpu_us = 0;

  run = csb_test_launch_pty (&f->bus, f->project, command,
                             g_variant_new_parsed ("{'network': <false>}"), &error);
  g_assert_no_error (error);
  term = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (term, "allocated", 4 * CSB_TEST_TIMEOUT_MS));

  first = get_metrics (run->sandbox);
  /* Two spinning processes: CPU time grows until it passes a second and the first
   * reading (a guard against a hang, not a timing bound: on a loaded machine it takes
   * longer, that is all; CI once saw no clock tick between two readings 200 ms apart). */
  for (guint i = 0; i < 600 && (cpu_us < G_USEC_PER_SEC ||
                                cpu_us <= lookup_t (first, "cpu-time-us")); i++)
    {
      csb_test_sleep_ms (200);
      g_clear_pointer (&dict, g_variant_dict_unref);
      dict = get_metrics (run->sandbox);
      cpu_us = lookup_t (dict, "cpu-time-us");
    }
  g_assert_cmpuint (cpu_us, >=, G_USEC_PER_SEC);
  g_assert_cmpuint (cpu_us, >, lookup_t (first, "cpu-time-us"));
  g_assert_cmpuint (lookup_t (dict, "memory-bytes"), >=, (guint64) ALLOCATED_MIB * MIB);
  /* Not the machine's: less than all of its memory. */
  g_assert_cmpuint (lookup_t (dict, "memory-bytes"), <,
                    (guint64) sysconf (_SC_PHYS_PAGES) * sysconf (_SC_PAGESIZE));
  /* sh and python3, at least (bwrap's init inside, where there is one). */
  g_assert_cmpuint (lookup_u (dict, "processes"), >=, 2);
  g_assert_cmpuint (lookup_u (dict, "processes"), <=, 5);
  g_assert_true (g_variant_dict_lookup (dict, "source", "s", &source));
  g_assert_true (g_str_equal (source, "proc") || g_str_equal (source, "cgroup"));
  g_assert_cmpuint (lookup_t (dict, "state-bytes"), >=, 65536);
  g_assert_cmpuint (lookup_u (dict, "claude-sessions"), ==, 0);
  g_assert_cmpuint (lookup_u (dict, "claude-turns"), ==, 0);

  /* Ended: nothing runs to measure, the disk is still there. */
  stop_and_wait (run->sandbox);
  ended = get_metrics (run->sandbox);
  g_assert_false (g_variant_dict_contains (ended, "cpu-time-us"));
  g_assert_false (g_variant_dict_contains (ended, "memory-bytes"));
  g_assert_false (g_variant_dict_contains (ended, "processes"));
  g_assert_cmpuint (lookup_t (ended, "state-bytes"), >=, 65536);
}

/* Written inside as Claude Code writes its sessions, with the hostile kinds around. */
static const char session_writer[] =
  "import datetime, json, os, sys, time\n"
  "def ts(t):\n"
  "    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)\n"
  "    return d.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (d.microsecond // 1000)\n"
  "now = time.time()\n"
  "def e(kind, message, t=None, **extra):\n"
  "    return json.dumps(dict(type=kind, message=message, timestamp=ts(t or now), **extra))\n"
  "def usage(i, o, cc=0, cr=0):\n"
  "    return {'input_tokens': i, 'output_tokens': o, 'cache_creation_input_tokens': cc,\n"
  "            'cache_read_input_tokens': cr}\n"
  "d = os.path.expanduser('~/.claude/projects/-project')\n"
  "os.makedirs(d + '/session/subagents', exist_ok=True)\n"
  "lines = [\n"
  "  e('user', {'role': 'user', 'content': 'first prompt'}),\n"
  /* One response in two lines (one a content block): counted once, the larger numbers. */
  "  e('assistant', {'id': 'msg_1', 'role': 'assistant', 'usage': usage(100, 5, 7, 11)},"
  " costUSD=0.25),\n"
  "  e('assistant', {'id': 'msg_1', 'role': 'assistant', 'usage': usage(100, 30, 7, 11)}),\n"
  "  e('user', {'role': 'user', 'content': [{'type': 'tool_result', 'content': 'x'}]}),\n"
  "  e('assistant', {'id': 'msg_2', 'role': 'assistant', 'usage': usage(200, 40)},"
  " costUSD=0.5),\n"
  "  e('user', {'role': 'user', 'content': [{'type': 'text', 'text': 'second prompt'}]}),\n"
  "  e('user', {'role': 'user', 'content': 'a meta entry'}, isMeta=True),\n"
  /* Before the sandbox started: another sandbox's. */
  "  e('assistant', {'id': 'msg_old', 'usage': usage(99999, 99999)}, t=1577836800),\n"
  "  '[' * 200000 + ']' * 200000,\n"
  "  e('user', {'role': 'user', 'content': 'x' * (2 << 20)}),\n"
  "  '{\"type\": \"assistant\", \"message\": {\"id\": \"msg_bad\", \"usage\":"
  " {\"input_tokens\": -5, \"output_tokens\": 1e300}}, \"timestamp\": \"' + ts(now) + '\"}',\n"
  "  'not json at all \"assistant\"',\n"
  "]\n"
  "with open(d + '/s1.jsonl', 'w') as f:\n"
  /* The last line is being written: no newline yet, not counted. */
  "    f.write('\\n'.join(lines) + '\\n' + e('assistant', {'id': 'msg_partial',"
  " 'usage': usage(5000, 5000)}))\n"
  "with open(d + '/session/subagents/agent-1.jsonl', 'w') as f:\n"
  "    f.write(e('user', {'role': 'user', 'content': 'subagent task'}, isSidechain=True) + '\\n')\n"
  "    f.write(e('assistant', {'id': 'msg_sub', 'usage': usage(10, 1)}) + '\\n')\n"
  /* Links out of the home (to a file the host holds), a FIFO. */
  "os.symlink(sys.argv[1], d + '/evil.jsonl')\n"
  "os.symlink(os.path.dirname(sys.argv[1]), os.path.expanduser('~/.claude/projects/evil-dir'))\n"
  "os.mkfifo(d + '/fifo.jsonl')\n"
  "print('written', flush=True)\n"
  "time.sleep(3600)\n";

static void
test_claude_sessions (Fixture      *f,
                      gconstpointer data)
{
  g_autofree char *host_dir = g_build_filename (f->bus.dirs.home, "host-sessions", NULL);
  g_autofree char *host_file = g_build_filename (host_dir, "host.jsonl", NULL);
  g_autofree char *host_line = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GVariantDict) dict = NULL;
  g_autoptr(GVariantDict) ended = NULL;
  g_autoptr(GError) error = NULL;
  double cost = 0;
  const char *command[] = { "python3", "-c", session_writer, host_file, NULL };

  /* A session of the host's own, with a time inside the sandbox's run. */
  g_assert_cmpint (g_mkdir_with_parents (host_dir, 0700), ==, 0);
  host_line = g_strdup_printf ("{\"type\": \"assistant\", \"timestamp\": \"2999-01-01T00:00:00Z\","
                               " \"message\": {\"id\": \"msg_host\", \"usage\":"
                               " {\"input_tokens\": 777777, \"output_tokens\": 1}}}\n");
  csb_test_write_file (host_file, host_line, 0600);

  run = csb_test_launch (&f->bus, f->project, command,
                         g_variant_new_parsed ("{'network': <false>}"), FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait_output (run, "written", 4 * CSB_TEST_TIMEOUT_MS));

  dict = get_metrics (run->sandbox);
  g_assert_cmpuint (lookup_u (dict, "claude-sessions"), ==, 1);
  g_assert_cmpuint (lookup_u (dict, "claude-turns"), ==, 2);
  g_assert_cmpuint (lookup_u (dict, "claude-requests"), ==, 4);   /* msg_1, _2, _bad, _sub */
  g_assert_cmpuint (lookup_t (dict, "claude-input-tokens"), ==, 310);
  g_assert_cmpuint (lookup_t (dict, "claude-output-tokens"), ==, 71);
  g_assert_cmpuint (lookup_t (dict, "claude-cache-creation-tokens"), ==, 7);
  g_assert_cmpuint (lookup_t (dict, "claude-cache-read-tokens"), ==, 11);
  g_assert_true (g_variant_dict_lookup (dict, "claude-cost-usd", "d", &cost));
  g_assert_cmpfloat_with_epsilon (cost, 0.75, 1e-9);

  /* After the end, the same: what it recorded while it ran. */
  stop_and_wait (run->sandbox);
  ended = get_metrics (run->sandbox);
  g_assert_cmpuint (lookup_u (ended, "claude-turns"), ==, 2);
  g_assert_cmpuint (lookup_t (ended, "claude-input-tokens"), ==, 310);
}

/* Session files a sandbox made sparse, 64 MiB of zeros each without a newline: one
 * line too long to count.  The service read them whole at every GetMetrics (the
 * offset only moved after a newline): gigabytes a call for no disk space.  Measured
 * by what the service read (its /proc/PID/io rchar), not by time. */
static const char sparse_writer[] =
  "import os, time\n"
  "d = os.path.expanduser('~/.claude/projects/-project')\n"
  "os.makedirs(d, exist_ok=True)\n"
  "for i in range(6):\n"
  "    with open(d + '/sparse-%d.jsonl' % i, 'w') as f:\n"
  "        f.truncate(64 << 20)\n"
  "print('written', flush=True)\n"
  "time.sleep(3600)\n";

static guint64
service_read_bytes (CsbTestBus *bus)
{
  g_autofree char *path = g_strdup_printf ("/proc/%u/io", csb_test_bus_service_pid (bus));
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  const char *rchar;

  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  g_assert_no_error (error);
  g_assert_nonnull ((rchar = strstr (text, "rchar: ")));
  return g_ascii_strtoull (rchar + strlen ("rchar: "), NULL, 10);
}

static void
test_claude_sessions_sparse (Fixture      *f,
                             gconstpointer data)
{
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GError) error = NULL;
  const char *command[] = { "python3", "-c", sparse_writer, NULL };
  guint64 last = 0;

  run = csb_test_launch (&f->bus, f->project, command,
                         g_variant_new_parsed ("{'network': <false>}"), FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait_output (run, "written", 4 * CSB_TEST_TIMEOUT_MS));

  /* 384 MiB planted: at most 64 MiB (and a little of /proc) a call, nothing once seen. */
  for (guint i = 0; i < 8; i++)
    {
      guint64 before = service_read_bytes (&f->bus);
      g_autoptr(GVariantDict) dict = get_metrics (run->sandbox);

      last = service_read_bytes (&f->bus) - before;
      g_test_message ("GetMetrics %u read %" G_GUINT64_FORMAT " bytes", i, last);
      g_assert_cmpuint (last, <=, 72 * MIB);
      g_assert_cmpuint (lookup_u (dict, "claude-turns"), ==, 0);
    }
  g_assert_cmpuint (last, <, 8 * MIB);
  stop_and_wait (run->sandbox);
}

static void
test_host (Fixture      *f,
           gconstpointer data)
{
  g_autoptr(GVariant) metrics = NULL;
  g_autoptr(GVariantDict) dict = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *meminfo = NULL;
  guint64 total_kib;
  double load;

  csb_test_bus_activate (&f->bus);
  g_assert_true (csb_dbus_manager_call_get_host_metrics_sync (f->bus.manager, &metrics, NULL,
                                                              &error));
  g_assert_no_error (error);
  dict = g_variant_dict_new (metrics);
  g_assert_cmpuint (lookup_u (dict, "cpus"), ==, sysconf (_SC_NPROCESSORS_ONLN));
  g_assert_true (g_file_get_contents ("/proc/meminfo", &meminfo, NULL, NULL));
  g_assert_cmpint (sscanf (meminfo, "MemTotal: %" G_GUINT64_FORMAT " kB", &total_kib), ==, 1);
  g_assert_cmpuint (lookup_t (dict, "memory-total-bytes"), ==, total_kib * 1024);
  g_assert_cmpuint (lookup_t (dict, "memory-available-bytes"), >, 0);
  g_assert_cmpuint (lookup_t (dict, "memory-available-bytes"), <=, total_kib * 1024);
  g_assert_true (g_variant_dict_lookup (dict, "load-1", "d", &load));
  g_assert_cmpfloat (load, >=, 0);
}

int
main (int   argc,
      char *argv[])
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  (void) CSB_ERROR;

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/sandbox/metrics/busy", test_busy);
  ADD ("/sandbox/metrics/claude-sessions", test_claude_sessions);
  ADD ("/sandbox/metrics/claude-sessions-sparse", test_claude_sessions_sparse);
  ADD ("/sandbox/metrics/host", test_host);
#undef ADD

  return g_test_run ();
}
