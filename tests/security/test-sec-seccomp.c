/* test-sec-seccomp.c — the seccomp filter, probed from inside a real sandbox.
 *
 * The probe runs once inside and once outside (the first test case); each later
 * case checks one call. Outside shows what the kernel itself answers, so an
 * EPERM inside is the filter's and not, say, a sysctl's: TIOCSTI, for one, works
 * outside on a pty the probe makes its controlling terminal.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include "csb-sec-utils.h"

static GHashTable *inside;
static GHashTable *outside;

static void
test_run_probe (void)
{
  CsbSecFixture fixture = { 0 };

  /* Outside first: what the kernel itself can do decides what the inside shows. */
  outside = csb_sec_probe_outside ("syscalls", NULL);
  csb_sec_fixture_setup (&fixture, NULL);
  inside = csb_sec_probe_inside (&fixture, NULL, "syscalls", NULL);
  csb_sec_fixture_teardown (&fixture);
  g_assert_cmpuint (g_hash_table_size (inside), >=, 20);
}

typedef struct
{
  const char *path;
  const char *probe;
  const char *expected;
  const char *why;
} Case;

static const Case cases[] = {
  { "tiocsti", "tiocsti", "EPERM", "pushing input into a terminal" },
  { "tiocsti-high-bits", "tiocsti-high-bits", "EPERM",
    "TIOCSTI with high bits set (the kernel compares 32 bits)" },
  { "tioclinux", "tioclinux", "EPERM", "TIOCLINUX (console selection paste)" },
  { "add-key", "add_key", "EPERM", "the kernel keyring is not namespaced" },
  { "keyctl", "keyctl", "EPERM", "the kernel keyring is not namespaced" },
  { "request-key", "request_key", "EPERM", "the kernel keyring is not namespaced" },
  { "perf-event-open", "perf_event_open", "EPERM", "host-wide profiling" },
  { "bpf", "bpf", "EPERM", "eBPF" },
  { "userfaultfd", "userfaultfd", "EPERM", "a kernel-exploitation primitive" },
  { "io-uring-setup", "io_uring_setup", "ENOSYS", "io_uring bypasses the socket rules" },
  { "fsopen", "fsopen", "ENOSYS", "the new mount API" },
  { "open-tree", "open_tree", "ENOSYS", "the new mount API" },
  { "syslog", "syslog", "EPERM", "the kernel log" },
  { "open-by-handle-at", "open_by_handle_at", "EPERM", "file handles escape bind mounts" },
  { "personality-addr-no-randomize", "personality-addr-no-randomize", "EINVAL",
    "turning off ASLR" },
  { "personality-linux", "personality-linux", "OK", "the default domain stays allowed" },
  { "socket-packet", "socket-packet", "EAFNOSUPPORT", "raw packets" },
  { "socket-bluetooth", "socket-bluetooth", "EAFNOSUPPORT", "bluetooth" },
  { "socket-vsock", "socket-vsock", "EAFNOSUPPORT", "the hypervisor's vsock" },
  { "socket-key", "socket-key", "EAFNOSUPPORT", "AF_KEY" },
  { "socket-alg", "socket-alg", "EAFNOSUPPORT", "kernel crypto API" },
  { "socket-unix", "socket-unix", "OK", "AF_UNIX stays allowed" },
  { "socket-inet", "socket-inet", "OK", "AF_INET stays allowed" },
  { "socket-inet6", "socket-inet6", "OK", "AF_INET6 stays allowed" },
  { "socket-netlink", "socket-netlink", "OK", "AF_NETLINK stays allowed" },
#if defined(__x86_64__)
  { "i386-add-key", "i386-add_key", "EPERM",
    "add_key through int 0x80 (i386 syscall 286): the filter covers the x86 ABI too" },
#endif
};

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  const char *in, *out;

  g_test_message ("%s: %s", c->probe, c->why);
  g_assert_nonnull (inside);
  in = g_hash_table_lookup (inside, c->probe);
  out = g_hash_table_lookup (outside, c->probe);
  g_test_message ("inside: %s, outside: %s", in, out);

#if defined(__x86_64__)
  /* A kernel without IA-32 emulation kills int 0x80 with SIGSEGV (or, older ones,
   * answers ENOSYS) outside any sandbox: nothing for the filter to do there. */
  if (g_str_equal (c->probe, "i386-add_key") &&
      (g_strcmp0 (out, "SIGSEGV") == 0 || g_strcmp0 (out, "ENOSYS") == 0))
    {
      g_test_skip_printf ("this kernel runs no 32-bit x86 syscalls (int 0x80 outside the "
                          "sandbox: %s): IA-32 emulation is off or not built", out);
      return;
    }
#endif
  g_assert_cmpstr (in, ==, c->expected);
  /* Where the kernel alone would have refused too, the test proves less; say so. */
  if (g_strcmp0 (out, c->expected) == 0 && !g_str_equal (c->expected, "OK"))
    g_test_message ("note: outside the sandbox the kernel answers %s as well", out);
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

  g_test_add_func ("/security/seccomp/run-probe", test_run_probe);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/security/seccomp/%s", cases[i].path);
      g_test_add_data_func (path, &cases[i], test_case);
    }
  return g_test_run ();
}
