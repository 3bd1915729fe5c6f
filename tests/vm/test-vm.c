/* test-vm.c — the vm backend: its domain XML against libvirt's schema, its
 * initramfs, its life cycle on libvirt's test driver and real boots of a TCG guest
 * on qemu:///session through the D-Bus API.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gdk-pixbuf/gdk-pixbuf.h>

#include "csb-initramfs.h"
#include "csb-protections.h"
#include "csb-test-claude-api.h"
#include "csb-test-utils.h"
#include "csb-vm-backend.h"
#include "csb-vm-domain.h"

/* Small and emulated: KVM is present but broken on the CI machines. */
#define REAL_SETTINGS \
  "[org/example/ClaudeSandbox]\n" \
  "vm-accel='tcg'\n" \
  "vm-memory-mib=512\n" \
  "vm-cpus=1\n"
/* The same with two CPUs, which the guest must see both of. */
#define REAL_SETTINGS_2CPU \
  "[org/example/ClaudeSandbox]\n" \
  "vm-accel='tcg'\n" \
  "vm-memory-mib=512\n" \
  "vm-cpus=2\n"
#define TEST_DRIVER_SETTINGS \
  "[org/example/ClaudeSandbox]\n" \
  "vm-uri='test:///default'\n" \
  "vm-accel='tcg'\n"
#define BOOT_TIMEOUT_MS 90000

static gboolean
have_kernel (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *kernel = csb_vm_find_kernel (NULL, NULL, &error);

  if (kernel == NULL)
    g_test_skip (error->message);
  return kernel != NULL;
}

/* What an initramfs is built from: the kernel's modules folder (into @modules_dir)
 * and the guest init (returned); NULL, the test skipped, without a kernel. */
static const char *
initramfs_inputs (char **modules_dir)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *kernel = NULL;
  const char *init = g_getenv ("CSB_GUEST_INIT");

  if (!have_kernel ())
    return NULL;
  kernel = csb_vm_find_kernel (NULL, modules_dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (init);
  return init;
}

static CsbVmDomainConfig *
sample_config (gboolean network,
               gboolean display)
{
  CsbVmDomainConfig *config = csb_vm_domain_config_new ();

  config->sandbox_id = g_strdup ("abc123");
  config->name = g_strdup ("my <project> & co");
  config->project_dir = g_strdup ("/home/u/src/project");
  config->memory_mib = 512;
  config->cpus = 1;
  config->kernel = g_strdup ("/boot/vmlinuz-6.1.0-1-cloud-amd64");
  config->initrd = g_strdup ("/home/u/.cache/claude-sandbox/initramfs.cpio");
  config->cmdline = g_strdup ("console=ttyS0 rdinit=/init");
  config->serial_log = g_strdup ("/home/u/.local/state/claude-sandbox/abc123/boot.log");
  config->console_log = g_strdup ("/home/u/.local/state/claude-sandbox/abc123/console.log");
  config->network = network;
  if (display)
    config->spice_socket = g_strdup ("/run/user/1000/claude-sandbox/abc123/spice.sock");
  csb_vm_domain_config_add_share (config, "csb-ctl", "/run/user/1000/x/vfs-ctl.sock");
  csb_vm_domain_config_add_share (config, "csb-0", "/run/user/1000/x/vfs-csb-0.sock");
  return config;
}

static void
validate_xml (const char *xml)
{
  g_autofree char *path = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  int fd, wait_status;
  const char *argv[] = { "virt-xml-validate", NULL, "domain", NULL };

  if (g_find_program_in_path ("virt-xml-validate") == NULL)
    {
      g_test_skip ("virt-xml-validate is not installed (package libvirt-clients)");
      return;
    }
  fd = g_file_open_tmp ("csb-domain-XXXXXX.xml", &path, &error);
  g_assert_no_error (error);
  close (fd);
  g_file_set_contents (path, xml, -1, &error);
  g_assert_no_error (error);
  argv[1] = path;
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                &wait_status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (wait_status, NULL))
    g_error ("virt-xml-validate refused the domain:\n%s\n%s\n%s", xml, out, err);
  unlink (path);
}

static void
test_domain_xml (void)
{
  for (guint i = 0; i < 4; i++)
    {
      gboolean network = (i & 1) != 0, display = (i & 2) != 0;
      g_autoptr(CsbVmDomainConfig) config = sample_config (network, display);
      g_autofree char *xml = csb_vm_domain_to_xml (config);

      g_test_message ("network %d, display %d", network, display);
      validate_xml (xml);
      g_assert_nonnull (strstr (xml, "<name>claude-sandbox-abc123</name>"));
      g_assert_nonnull (strstr (xml, CSB_VM_METADATA_NS));
      g_assert_nonnull (strstr (xml, "my &lt;project&gt; &amp; co"));
      g_assert_nonnull (strstr (xml, "<source type='memfd'/>"));
      g_assert_nonnull (strstr (xml, "<type arch='x86_64' machine='q35'>hvm</type>"));
      /* Our devices on the root bus, not behind a PCIe root port each. */
      g_assert_nonnull (strstr (xml, "<target dir='csb-0'/>\n"
                                     "      <address type='pci' domain='0' bus='0' slot='9' "
                                     "function='0'/>"));
      /* TCG: every CPU feature QEMU emulates (Claude Code needs more than qemu64's). */
      g_assert_nonnull (strstr (xml, "<cpu mode='maximum' check='none'/>"));
      /* The console is logged by libvirt, for a service that takes the VM over. */
      g_assert_nonnull (strstr (xml, "<log file='/home/u/.local/state/claude-sandbox/abc123/"
                                     "console.log' append='on'/>"));
      g_assert_true ((strstr (xml, "<interface") != NULL) == network);
      g_assert_true ((strstr (xml, "<graphics type='spice'") != NULL) == display);
      /* Never a TCP display. */
      g_assert_null (strstr (xml, "type='address'"));
      g_assert_null (strstr (xml, "autoport='yes'"));
      g_assert_null (strstr (xml, "tlsPort"));
      /* libvirt's slow per-feature read-back of the CPU is off; its seccomp filter
       * for QEMU stays (only the filtered network replaces it). */
      g_assert_nonnull (strstr (xml, "<qemu:del capability='cpu-unavailable-features'/>"));
      g_assert_null (strstr (xml, "seccomp-sandbox"));
      g_assert_null (strstr (xml, "<qemu:commandline>"));
    }

  /* More shares than root-bus slots (every --ro-bind is one): the last ones are left
   * to libvirt, which puts them behind root ports; the XML stays valid. */
  {
    g_autoptr(CsbVmDomainConfig) config = sample_config (FALSE, FALSE);
    g_autofree char *xml = NULL;

    for (guint i = 1; i < 30; i++)
      {
        g_autofree char *tag = g_strdup_printf ("csb-%u", i);
        g_autofree char *sock = g_strdup_printf ("/run/user/1000/x/vfs-csb-%u.sock", i);
        csb_vm_domain_config_add_share (config, tag, sock);
      }
    xml = csb_vm_domain_to_xml (config);
    validate_xml (xml);
    g_assert_nonnull (strstr (xml, "slot='29' function='0'"));
    g_assert_null (strstr (xml, "slot='30' function='0'"));
    g_assert_null (strstr (xml, "slot='31' function='0'"));
  }

  /* Pipes as stdio: three virtio channels on unix sockets, named for the guest. */
  {
    g_autoptr(CsbVmDomainConfig) config = sample_config (FALSE, FALSE);
    g_autofree char *xml = NULL;

    config->stdio_sockets[0] = g_strdup ("/run/user/1000/x/stdin.sock");
    config->stdio_sockets[1] = g_strdup ("/run/user/1000/x/stdout.sock");
    config->stdio_sockets[2] = g_strdup ("/run/user/1000/x/stderr.sock");
    xml = csb_vm_domain_to_xml (config);
    validate_xml (xml);
    g_assert_nonnull (strstr (xml, "<source mode='bind' path='/run/user/1000/x/stdout.sock'/>\n"
                                   "      <target type='virtio' name='org.claude-sandbox.stdout'/>"));
  }

  /* A terminal: the console, and a channel for its size. */
  {
    g_autoptr(CsbVmDomainConfig) config = sample_config (FALSE, FALSE);
    g_autofree char *xml = NULL;

    config->winsize_socket = g_strdup ("/run/user/1000/x/winsize.sock");
    xml = csb_vm_domain_to_xml (config);
    validate_xml (xml);
    g_assert_nonnull (strstr (xml, "<source mode='bind' path='/run/user/1000/x/winsize.sock'/>\n"
                                   "      <target type='virtio' name='org.claude-sandbox.winsize'/>"));
  }

  /* The filtered network: no libvirt NIC; QEMU's restricted user-mode network with
   * its one forward, through the qemu namespace; quoted paths, commas doubled. */
  {
    g_autoptr(CsbVmDomainConfig) config = sample_config (TRUE, FALSE);
    g_autofree char *xml = NULL;
    g_autofree char *netdev = NULL;

    config->net_relay_helper = g_strdup ("/usr/libexec/claude-sandbox-init");
    config->net_proxy_socket = g_strdup ("/run/user/1000/claude-sandbox/a,b c/net/proxy.sock");
    xml = csb_vm_domain_to_xml (config);
    validate_xml (xml);
    g_assert_null (strstr (xml, "<interface"));
    g_assert_nonnull (strstr (xml, "xmlns:qemu='" CSB_VM_QEMU_NS "'"));
    g_assert_nonnull (strstr (xml, "restrict=on"));
    g_assert_nonnull (strstr (xml, "<qemu:del capability='seccomp-sandbox'/>"));
    g_assert_nonnull (strstr (xml, "spawn=allow"));
    g_assert_nonnull (strstr (xml, "virtio-net-pci,netdev=csbnet,bus=pcie.0,addr=0x1e,"));
    netdev = csb_vm_domain_filtered_netdev (config);
    g_assert_cmpstr (netdev, ==, "user,id=csbnet,restrict=on,ipv6=off,"
                                 "guestfwd=tcp:10.0.2.100:3128-cmd:"
                                 "'/usr/libexec/claude-sandbox-init' --relay "
                                 "'/run/user/1000/claude-sandbox/a,,b c/net/proxy.sock'");
  }
}

static void
test_initramfs (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *modules_dir = NULL;
  g_autofree char *cache = g_dir_make_tmp ("csb-initramfs-XXXXXX", &error);
  g_autofree char *path = NULL;
  g_autofree char *again = NULL;
  g_autofree char *data = NULL;
  g_autofree char *stale = NULL;
  g_autofree char *recent = NULL;
  g_autoptr(GPtrArray) modules = NULL;
  const char *init;
  gsize len;

  g_assert_no_error (error);
  if ((init = initramfs_inputs (&modules_dir)) == NULL)
    return;
  modules = csb_initramfs_resolve_modules (modules_dir, &error);
  g_assert_no_error (error);
  /* virtio_ring before virtio_pci before virtiofs: dependencies come first. */
  {
    int ring = -1, pci = -1, fs = -1;

    for (guint i = 0; i < modules->len; i++)
      {
        const char *m = g_ptr_array_index (modules, i);
        if (g_str_has_suffix (m, "/virtio_ring.ko")) ring = i;
        if (g_str_has_suffix (m, "/virtio_pci.ko")) pci = i;
        if (g_str_has_suffix (m, "/virtiofs.ko")) fs = i;
      }
    if (ring >= 0 && pci >= 0)
      g_assert_cmpint (ring, <, pci);
    g_assert_cmpint (fs, >=, 0);
  }
  /* Archives of an older kernel, init or /etc: the one unused for an hour goes when
   * a new one is built, the one used a minute ago stays (a launch may be about to
   * boot it). */
  stale = g_build_filename (cache, "initramfs-0.0-stale.cpio", NULL);
  recent = g_build_filename (cache, "initramfs-0.0-recent.cpio", NULL);
  g_file_set_contents (stale, "", 0, &error);
  g_assert_no_error (error);
  g_file_set_contents (recent, "", 0, &error);
  g_assert_no_error (error);
  {
    struct timespec hour_ago[2] = { { time (NULL) - 3600, 0 }, { time (NULL) - 3600, 0 } };
    struct timespec minute_ago[2] = { { time (NULL) - 60, 0 }, { time (NULL) - 60, 0 } };

    g_assert_cmpint (utimensat (AT_FDCWD, stale, hour_ago, 0), ==, 0);
    g_assert_cmpint (utimensat (AT_FDCWD, recent, minute_ago, 0), ==, 0);
  }
  path = csb_initramfs_ensure (modules_dir, init, "/etc", cache, &error);
  g_assert_no_error (error);
  g_assert_false (g_file_test (stale, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (recent, G_FILE_TEST_EXISTS));
  again = csb_initramfs_ensure (modules_dir, init, "/etc", cache, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (path, ==, again);
  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (data, "070701"));
  g_assert_nonnull (memmem (data, len, "modules.order", 13));
  /* The guest's /etc: the host's allowlisted files, and stand-ins for its own. */
  if (g_file_test ("/etc/os-release", G_FILE_TEST_EXISTS))
    g_assert_nonnull (memmem (data, len, "host-etc/os-release", 19));
  g_assert_nonnull (memmem (data, len, "host-etc/passwd", 15));
  g_assert_null (memmem (data, len, "host-etc/shadow", 15));
  g_assert_null (memmem (data, len, "host-etc/ssh", 12));
  g_assert_nonnull (memmem (data, len, "TRAILER!!!", 10));
  csb_test_rm_rf (cache);
}

/* The archive follows the host's /etc: a changed allowlisted file gets a new archive
 * (with the new contents), an unchanged /etc the same one; what is not allowlisted,
 * and the host's resolv.conf and hosts (each VM has its own), stay out. */
static void
test_initramfs_follows_etc (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *modules_dir = NULL;
  g_autofree char *root = g_dir_make_tmp ("csb-initramfs-etc-XXXXXX", &error);
  g_autofree char *etc = NULL;
  g_autofree char *cache = NULL;
  g_autofree char *os_release = NULL;
  g_autofree char *first = NULL;
  g_autofree char *again = NULL;
  g_autofree char *changed = NULL;
  g_autofree char *data = NULL;
  const char *init;
  gsize len;

  g_assert_no_error (error);
  if ((init = initramfs_inputs (&modules_dir)) == NULL)
    return;
  etc = g_build_filename (root, "etc", NULL);
  cache = g_build_filename (root, "cache", NULL);
  os_release = g_build_filename (etc, "os-release", NULL);
  g_assert_cmpint (g_mkdir_with_parents (etc, 0755), ==, 0);
  csb_test_write_file (os_release, "ID=first\n", 0644);
  {
    g_autofree char *shadow = g_build_filename (etc, "shadow", NULL);
    g_autofree char *resolv = g_build_filename (etc, "resolv.conf", NULL);
    csb_test_write_file (shadow, "root:secret-hash:1::::::\n", 0600);
    csb_test_write_file (resolv, "nameserver 192.0.2.53\n", 0644);
  }

  first = csb_initramfs_ensure (modules_dir, init, etc, cache, &error);
  g_assert_no_error (error);
  again = csb_initramfs_ensure (modules_dir, init, etc, cache, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (first, ==, again);
  g_file_get_contents (first, &data, &len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (memmem (data, len, "ID=first", 8));
  g_assert_null (memmem (data, len, "secret-hash", 11));
  g_assert_null (memmem (data, len, "192.0.2.53", 10));
  g_clear_pointer (&data, g_free);

  csb_test_write_file (os_release, "ID=second-version\n", 0644);
  changed = csb_initramfs_ensure (modules_dir, init, etc, cache, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (changed, !=, first);
  g_file_get_contents (changed, &data, &len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (memmem (data, len, "ID=second-version", 17));
  /* The first was used a moment ago: it stays (a launch may be about to boot it). */
  g_assert_true (g_file_test (first, G_FILE_TEST_EXISTS));
  csb_test_rm_rf (root);
}

/* ---- through the service ---------------------------------------------------------- */

static GVariant *
vm_options (gboolean network,
            gboolean display)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "backend", g_variant_new_string ("vm"));
  g_variant_builder_add (&b, "{sv}", "network", g_variant_new_boolean (network));
  g_variant_builder_add (&b, "{sv}", "display", g_variant_new_boolean (display));
  return g_variant_builder_end (&b);
}

static gboolean
state_is (gpointer data)
{
  CsbTestRun *run = data;
  const char *state = csb_dbus_sandbox_get_state (run->sandbox);

  return g_strcmp0 (state, "exited") == 0 || g_strcmp0 (state, "failed") == 0;
}

/* The domains of the session libvirt the service of @bus uses (its daemon lives in
 * the test's runtime folder, which GTestDBus took out of our environment), or of
 * the user's own with a NULL @bus. */
static char *
virsh_list (CsbTestBus *bus)
{
  const char *argv[] = { "virsh", "-c", "qemu:///session", "list", "--all", "--name", NULL };
  g_auto(GStrv) envp = g_get_environ ();
  g_autofree char *out = NULL;
  int wait_status;

  if (bus != NULL)
    envp = g_environ_setenv (envp, "XDG_RUNTIME_DIR", bus->dirs.runtime, TRUE);
  if (!g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &out, NULL, &wait_status, NULL) ||
      !g_spawn_check_wait_status (wait_status, NULL))
    return NULL;
  return g_steal_pointer (&out);
}

/* vm-accel 'auto' (the default): KVM only where a test boot of the kernel and
 * initramfs under KVM reaches our init. Here (nested KVM that runs the
 * one-instruction probe and hangs real guests) that is TCG; an unprivileged user
 * without /dev/kvm gets TCG at once. The verdict is kept: asked again, the same. */
static void
test_accel_auto (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSettings) settings = NULL;
  g_autofree char *modules_dir = NULL;
  g_autofree char *kernel = NULL;
  g_autofree char *cache = g_dir_make_tmp ("csb-accel-XXXXXX", &error);
  g_autofree char *initrd = NULL;
  const char *init, *first, *again;
  gint64 t0;

  g_assert_no_error (error);
  if ((init = initramfs_inputs (&modules_dir)) == NULL)
    return;
  kernel = csb_vm_find_kernel (NULL, NULL, &error);
  g_assert_no_error (error);
  initrd = csb_initramfs_ensure (modules_dir, init, "/etc", cache, &error);
  g_assert_no_error (error);
  settings = g_settings_new ("org.example.ClaudeSandbox");
  g_assert_cmpstr (g_settings_get_string (settings, "vm-accel"), ==, "auto");

  t0 = g_get_monotonic_time ();
  first = csb_vm_choose_virt_type (settings, kernel, initrd);
  g_test_message ("auto: %s after %.1f s", first, (g_get_monotonic_time () - t0) / 1e6);
  if (access ("/dev/kvm", R_OK | W_OK) != 0)
    g_assert_cmpstr (first, ==, "qemu");
  again = csb_vm_choose_virt_type (settings, kernel, initrd);
  g_assert_cmpstr (again, ==, first);
  g_assert_cmpstr (csb_vm_choose_virt_type (settings, kernel, NULL), ==, first);
}

static void
test_backends (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  g_autoptr(GVariant) backends = NULL;
  g_autoptr(GError) error = NULL;
  GVariantIter iter;
  const char *name, *detail;
  gboolean available, found = FALSE;

  csb_test_bus_setup (&bus, &options);
  csb_test_bus_activate (&bus);
  csb_dbus_manager_call_get_backends_sync (bus.manager, &backends, NULL, &error);
  g_assert_no_error (error);
  g_variant_iter_init (&iter, backends);
  while (g_variant_iter_next (&iter, "(&sb&s)", &name, &available, &detail))
    if (g_str_equal (name, "vm"))
      {
        g_test_message ("vm: %s: %s", available ? "available" : "unavailable", detail);
        found = TRUE;
        g_assert_cmpstr (detail, !=, "");
        if (available)
          g_assert_nonnull (strstr (detail, "TCG"));
      }
  g_assert_true (found);
  csb_test_bus_teardown (&bus);
}

static void
test_lifecycle_test_driver (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, TEST_DRIVER_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestRun) shown = NULL;
  g_autofree char *project = NULL;
  const char * const command[] = { "sleep", "600", NULL };

  if (!have_kernel ())
    return;
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "p");
  run = csb_test_launch (&bus, project, command, vm_options (FALSE, FALSE), FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (csb_dbus_sandbox_get_state (run->sandbox), ==, "running");
  g_assert_cmpstr (csb_dbus_sandbox_get_backend (run->sandbox), ==, "vm");
  g_assert_cmpuint (csb_dbus_sandbox_get_pid (run->sandbox), ==, 0);
  g_assert_cmpstr (csb_dbus_sandbox_get_display (run->sandbox), ==, "");
  g_assert_true (g_strv_contains (csb_dbus_sandbox_get_protections (run->sandbox),
                                  "separate-kernel"));
  g_assert_true (g_strv_contains (csb_dbus_sandbox_get_protections (run->sandbox),
                                  "no-network"));

  csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_until (state_is, run, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpstr (csb_dbus_sandbox_get_state (run->sandbox), ==, "exited");
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));

  /* The display is a unix socket address (given a kernel with virtio-gpu). */
  {
    g_autofree char *kernel = csb_vm_find_kernel_for (NULL, TRUE, NULL, NULL);

    if (kernel == NULL)
      {
        g_test_message ("no kernel with virtio-gpu: the display is not tried");
        csb_test_bus_teardown (&bus);
        return;
      }
  }
  shown = csb_test_launch (&bus, project, command, vm_options (TRUE, TRUE), FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (csb_dbus_sandbox_get_display (shown->sandbox),
                                   "spice+unix:///"));
  csb_dbus_sandbox_call_stop_sync (shown->sandbox, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_until (state_is, shown, CSB_TEST_TIMEOUT_MS));
  csb_test_bus_teardown (&bus);
}

static gboolean
can_boot (void)
{
  g_autofree char *list = NULL;

  if (!have_kernel ())
    return FALSE;
  if (g_getenv ("CSB_TEST_NO_VM_BOOT") != NULL)
    {
      g_test_skip ("CSB_TEST_NO_VM_BOOT is set");
      return FALSE;
    }
  /* As root, qemu:///session is the system daemon's, which a CI container does not
   * run: the real boots are the unprivileged user's. */
  list = virsh_list (NULL);
  if (list == NULL)
    {
      g_test_skip ("no libvirt daemon answers on qemu:///session (as root, that is the "
                   "system daemon; the boots run as an unprivileged user)");
      return FALSE;
    }
  return TRUE;
}

static void
test_boot_real (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS_2CPU };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autofree char *project = NULL;
  g_autofree char *marker = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *list = NULL;
  const char * const command[] = {
    "/bin/sh", "-c",
    "echo nics: $(ls /sys/class/net); echo from-vm > written-in-vm.txt; "
    "echo uid=$(id -u) user=$(id -un) host=$(cat /etc/hostname); echo cpus=$(nproc); "
    "echo ports=$(ls /sys/bus/pci/drivers/pcieport 2>/dev/null | grep -c 0000); "
    "grep -q ^ID= /etc/os-release && echo os-release-read; "
    "test -e /etc/shadow || echo no-shadow; touch /etc/x 2>/dev/null || echo etc-read-only; "
    "touch /usr/x 2>/dev/null || echo usr-read-only; "
    /* Dotfiles kept elsewhere: shown as what the link leads to, read-only. */
    "cat ~/.ssh/config; echo x >> ~/.ssh/config 2>/dev/null || echo ssh-config-read-only; "
    /* The project's Claude home, with the user's settings read-only over it. */
    "cat ~/.claude/settings.json ~/.claude/commands/c.md; "
    "echo x > ~/.claude/settings.json 2>/dev/null || echo settings-read-only; "
    "mkdir -p ~/.claude/projects/p && echo h > ~/.claude/projects/p/h && echo home-writable; "
    "ls ~/.claude/rules 2>&1; "
    "printf '{\"claudeAiOauth\": {\"accessToken\": \"sk-from-vm\", \"expiresAt\": 9000}}' "
    "> ~/.claude/.credentials.json; "
    "exit 7", NULL
  };
  g_autofree char *claude_settings = NULL;
  g_autofree char *claude_command = NULL;
  g_autofree char *claude_rules = NULL;
  g_autofree char *claude_history = NULL;
  g_autofree char *claude_credentials = NULL;
  g_autofree char *credentials = NULL;
  gint64 t0;

  if (!can_boot ())
    return;
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "real");
  claude_settings = g_build_filename (bus.dirs.home, ".claude", "settings.json", NULL);
  claude_command = g_build_filename (bus.dirs.home, ".claude", "commands", "c.md", NULL);
  claude_rules = g_build_filename (bus.dirs.home, ".claude", "rules", NULL);
  claude_history = g_build_filename (bus.dirs.home, ".claude", "projects", "p", "h", NULL);
  claude_credentials = g_build_filename (bus.dirs.home, ".claude", ".credentials.json", NULL);
  csb_test_write_file (claude_settings, "{\"marker\": \"vm-host-settings\"}\n", 0600);
  csb_test_write_file (claude_command, "vm-host-command\n", 0600);
  {
    g_autofree char *kept = g_build_filename (bus.dirs.home, "dotfiles", "ssh_config", NULL);
    g_autofree char *ssh_config = g_build_filename (bus.dirs.home, ".ssh", "config", NULL);

    csb_test_write_file (kept, "Host vm-kept-elsewhere\n", 0644);
    {
      g_autofree char *ssh = g_path_get_dirname (ssh_config);
      g_assert_cmpint (g_mkdir_with_parents (ssh, 0700), ==, 0);
    }
    g_assert_cmpint (symlink (kept, ssh_config), ==, 0);
  }
  /* A link in the user's ~/.claude (a sandbox could plant one before): not followed. */
  g_assert_cmpint (symlink (bus.dirs.root, claude_rules), ==, 0);
  csb_test_bus_activate (&bus);

  t0 = g_get_monotonic_time ();
  run = csb_test_launch (&bus, project, command, vm_options (FALSE, FALSE), FALSE, &error);
  if (error != NULL)
    {
      g_autofree char *log = NULL;
      g_file_get_contents (bus.service_log, &log, NULL, NULL);
      g_test_message ("service log:\n%s", log ? log : "");
    }
  g_assert_no_error (error);
  g_test_message ("Launch returned (command running) after %.2f s",
                  (g_get_monotonic_time () - t0) / 1e6);
  g_assert_true (csb_test_run_wait (run, BOOT_TIMEOUT_MS));
  g_test_message ("exited after %.2f s; output: %s", (g_get_monotonic_time () - t0) / 1e6,
                  run->out->str);
  {
    g_autofree char *log = NULL;
    g_file_get_contents (bus.service_log, &log, NULL, NULL);
    g_test_message ("service log:\n%s", log ? log : "");
  }
  g_assert_cmpint (run->exit_signal_status, ==, 7);
  g_assert_true (csb_test_run_until (state_is, run, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpint (csb_dbus_sandbox_get_exit_status (run->sandbox), ==, 7);
  g_assert_cmpstr (csb_dbus_sandbox_get_state (run->sandbox), ==, "exited");
  /* Network off: no NIC at all, only the loopback. */
  g_assert_nonnull (strstr (run->out->str, "nics: lo\n"));
  /* Its /etc: the user's own passwd and name, the host's allowlisted files (from
   * the initramfs), nothing else of the host's, read-only. */
  {
    g_autofree char *ids = g_strdup_printf ("uid=%u user=%s host=claude-sandbox\n",
                                            (guint) getuid (), g_get_user_name ());
    g_assert_nonnull (strstr (run->out->str, ids));
  }
  if (g_file_test ("/etc/os-release", G_FILE_TEST_EXISTS))
    g_assert_nonnull (strstr (run->out->str, "os-release-read\n"));
  /* vm-cpus=2: both online (the guest's local APIC is on; it was off with i440fx's
   * pci=noacpi, and the guest ran on one). */
  g_assert_nonnull (strstr (run->out->str, "cpus=2\n"));
  /* No PCIe root port: the devices are on the root bus (csb-vm-domain.c). */
  g_assert_nonnull (strstr (run->out->str, "ports=0\n"));
  g_assert_nonnull (strstr (run->out->str, "no-shadow\n"));
  g_assert_nonnull (strstr (run->out->str, "etc-read-only\n"));
  /* What Protections says of the files holds, with bwrap's names. */
  g_assert_nonnull (strstr (run->out->str, "usr-read-only\n"));
  g_assert_nonnull (strstr (run->out->str, "Host vm-kept-elsewhere\n"));
  g_assert_nonnull (strstr (run->out->str, "ssh-config-read-only\n"));
  {
    const char * const *protections = csb_dbus_sandbox_get_protections (run->sandbox);

    g_assert_true (g_strv_contains (protections, "usr-ro"));
    g_assert_true (g_strv_contains (protections, "private-tmp"));
    g_assert_true (g_strv_contains (protections, "private-home"));
  }
  marker = g_build_filename (project, "written-in-vm.txt", NULL);
  g_file_get_contents (marker, &contents, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (contents, ==, "from-vm\n");
  /* ~/.claude: the user's settings and commands read-only inside (copies), the link
   * not followed, history in the project's home, only the login back. */
  g_assert_nonnull (strstr (run->out->str, "vm-host-settings"));
  g_assert_nonnull (strstr (run->out->str, "vm-host-command"));
  g_assert_nonnull (strstr (run->out->str, "settings-read-only\n"));
  g_assert_nonnull (strstr (run->out->str, "home-writable\n"));
  g_assert_null (strstr (run->out->str, "service.log"));
  g_assert_false (g_file_test (claude_history, G_FILE_TEST_EXISTS));
  g_file_get_contents (claude_credentials, &credentials, NULL, NULL);
  g_assert_nonnull (credentials);
  g_assert_nonnull (strstr (credentials, "sk-from-vm"));
  g_clear_pointer (&contents, g_free);
  g_file_get_contents (claude_settings, &contents, NULL, NULL);
  g_assert_cmpstr (contents, ==, "{\"marker\": \"vm-host-settings\"}\n");

  list = virsh_list (&bus);
  g_assert_nonnull (list);
  g_assert_null (strstr (list, CSB_VM_DOMAIN_PREFIX));
  csb_test_bus_teardown (&bus);
}

/* The project's protection as bwrap applies it (one layout: csb-layout.c), in the
 * guest: git's config and commondir and the settings read-only, the project's
 * .claude a tmpfs with its entries bound back (a settings file made inside never
 * reaches the folder, the other files stay writable), nested settings read-only;
 * a link planted where settings go is neither bound nor followed, and is reported
 * in Plants. The guest's init binds each from a descriptor opened without
 * following links. */
static void
test_boot_project_protected (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS_2CPU };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autofree char *project = NULL;
  g_autofree char *key = NULL;
  g_autofree char *config = NULL;
  g_autofree char *nested = NULL;
  g_autofree char *planted = NULL;
  g_autofree char *settings = NULL;
  g_autofree char *notes = NULL;
  g_autofree char *made = NULL;
  g_autofree char *shown = NULL;
  g_autofree char *contents = NULL;
  const char * const *protections;
  const char * const command[] = {
    "/bin/sh", "-c",
    "exec 2>/dev/null; echo x > .git/config && echo GITCONFIG-WRITABLE; "
    "echo x > .git/commondir && echo COMMONDIR-WRITABLE; "
    "echo x > .claude/settings.json && echo SETTINGS-WRITABLE; "
    "echo '{\"hooks\": {}}' > .claude/settings.local.json && echo settings-made; "
    "echo n > .claude/notes.md && echo notes-writable; "
    "mv .claude claude.moved && echo CLAUDE-MOVED; "
    "echo x > n/.claude/settings.json && echo NESTED-WRITABLE; "
    "echo y > n/plain && echo plain-writable; cat sub/.claude/settings.json; true", NULL
  };

  if (!can_boot ())
    return;
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "protected");
  key = g_build_filename (bus.dirs.home, ".ssh", "id_ed25519", NULL);
  config = g_build_filename (project, ".git", "config", NULL);
  nested = g_build_filename (project, "n", ".claude", "settings.json", NULL);
  planted = g_build_filename (project, "sub", ".claude", "settings.json", NULL);
  settings = g_build_filename (project, ".claude", "settings.json", NULL);
  notes = g_build_filename (project, ".claude", "notes.md", NULL);
  made = g_build_filename (project, ".claude", "settings.local.json", NULL);
  csb_test_write_file (key, "HOST-PRIVATE-KEY\n", 0600);
  csb_test_write_file (config, "[core]\n", 0644);
  csb_test_write_file (nested, "{}\n", 0644);
  csb_test_write_file (settings, "{}\n", 0644);
  csb_test_write_file (notes, "notes\n", 0644);
  csb_test_write_file (planted, "", 0644);
  g_assert_cmpint (unlink (planted), ==, 0);
  g_assert_cmpint (symlink (key, planted), ==, 0);
  csb_test_bus_activate (&bus);

  run = csb_test_launch (&bus, project, command, vm_options (FALSE, FALSE), FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, BOOT_TIMEOUT_MS));
  g_test_message ("output: %s", run->out->str);
  g_assert_null (strstr (run->out->str, "GITCONFIG-WRITABLE"));
  g_assert_null (strstr (run->out->str, "COMMONDIR-WRITABLE"));
  g_assert_null (strstr (run->out->str, "SETTINGS-WRITABLE"));
  g_assert_null (strstr (run->out->str, "CLAUDE-MOVED"));
  g_assert_null (strstr (run->out->str, "NESTED-WRITABLE"));
  g_assert_null (strstr (run->out->str, "HOST-PRIVATE-KEY"));
  g_assert_nonnull (strstr (run->out->str, "settings-made"));
  g_assert_nonnull (strstr (run->out->str, "notes-writable"));
  g_assert_nonnull (strstr (run->out->str, "plain-writable"));
  g_assert_true (g_file_get_contents (config, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "[core]\n");
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (settings, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "{}\n");
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (notes, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "n\n");
  /* Made in the tmpfs: never in the folder. */
  g_assert_false (g_file_test (made, G_FILE_TEST_EXISTS));
  protections = csb_dbus_sandbox_get_protections (run->sandbox);
  g_assert_true (g_strv_contains (protections, "git-config-ro"));
  g_assert_true (g_strv_contains (protections, "project-claude-settings-ro"));
  shown = g_variant_print (csb_dbus_sandbox_get_plants (run->sandbox), FALSE);
  g_assert_nonnull (strstr (shown, "'sub/.claude/settings.json', \"a symlink where"));
  csb_test_bus_teardown (&bus);
}


/* Every name the VM puts in Protections is measured from inside, one probe each
 * (as the container's /container/run/protections-hold), and a name without a probe
 * fails the test: the property cannot claim what does not hold in the guest. The
 * project has a git config and a .claude settings file, so that the project's
 * protections are listed too. */
static void
test_boot_protections_hold (void)
{
  static const char * const expected[] = {
    "separate-kernel", "shares-virtiofs", "no-network", "usr-ro", "private-tmp",
    "private-home", "claude-home", "claude-config-ro", "clear-environment", "git-config-ro",
    "project-claude-settings-ro", NULL
  };
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS_2CPU };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GString) script = g_string_new (NULL);
  g_autofree char *project = NULL;
  g_autofree char *secret = NULL;
  g_autofree char *host_tmp = g_dir_make_tmp ("csb-vm-probe-XXXXXX", NULL);
  g_autofree char *boot_id = NULL;
  g_autofree char *user_settings = NULL;
  g_autofree char *user_probe = NULL;
  g_autofree char *config = NULL;
  g_autofree char *settings = NULL;
  g_autofree char *made = NULL;
  g_autofree char *contents = NULL;
  const char *command[] = { "/bin/sh", "-c", NULL, NULL };
  const char * const *protections;

  if (!can_boot ())
    return;
  g_assert_nonnull (host_tmp);
  g_assert_true (g_file_get_contents ("/proc/sys/kernel/random/boot_id", &boot_id, NULL, NULL));
  g_strstrip (boot_id);
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "protections");
  secret = g_build_filename (bus.dirs.home, "secret.txt", NULL);
  user_settings = g_build_filename (bus.dirs.home, ".claude", "settings.json", NULL);
  user_probe = g_build_filename (bus.dirs.home, ".claude", "csb-probe", NULL);
  config = g_build_filename (project, ".git", "config", NULL);
  settings = g_build_filename (project, ".claude", "settings.json", NULL);
  made = g_build_filename (project, ".claude", "settings.local.json", NULL);
  csb_test_write_file (secret, "host secret\n", 0600);
  csb_test_write_file (user_settings, "{\"marker\": \"user-settings\"}\n", 0600);
  csb_test_write_file (config, "[core]\n", 0644);
  csb_test_write_file (settings, "{}\n", 0644);
  /* In the service's environment (the bus daemon's, which activates it). */
  setenv ("CSB_PROBE_HOST_ONLY", "leaked", TRUE);
  csb_test_bus_activate (&bus);
  unsetenv ("CSB_PROBE_HOST_ONLY");

  g_string_append_printf (script,
    "exec 2>/dev/null\n"
    "test \"$(cat /proc/sys/kernel/random/boot_id)\" != '%s' && echo separate-kernel=held\n"
    "if grep -q kvm-clock /sys/devices/system/clocksource/clocksource0/available_clocksource;"
    " then echo vm-kvm=held; else echo vm-tcg=held; fi\n"
    "awk -v d=\"$PWD\" '$2 == d && $3 == \"virtiofs\" { f = 1 } END { exit !f }' /proc/mounts"
    " && echo shares-virtiofs=held\n"
    "test \"$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ,)\" = lo,"
    " && echo no-network=held\n"
    "awk '$2 == \"/usr\" && $4 ~ /^ro(,|$)/ { f = 1 } END { exit !f }' /proc/mounts &&"
    " ! touch /usr/csb-probe && echo usr-ro=held\n"
    "test ! -e '%s' && awk '$2 == \"/tmp\" && $3 == \"tmpfs\" { f = 1 } END { exit !f }'"
    " /proc/mounts && echo t > /tmp/csb-probe && echo private-tmp=held\n"
    "test ! -e '%s' && test -d \"$HOME\" && echo private-home=held\n"
    "echo p > ~/.claude/csb-probe && echo claude-home=held\n"
    "grep -q user-settings ~/.claude/settings.json && ! echo x >> ~/.claude/settings.json"
    " && echo claude-config-ro=held\n"
    "test -z \"${CSB_PROBE_HOST_ONLY+set}${GSETTINGS_BACKEND+set}\""
    " && echo clear-environment=held\n"
    "test -f .git/config && ! echo x >> .git/config && echo git-config-ro=held\n"
    "test -f .claude/settings.json && ! echo x >> .claude/settings.json &&"
    " echo '{}' > .claude/settings.local.json && echo project-claude-settings-ro=held\n"
    "echo probes-done\n", boot_id, host_tmp, secret);
  command[2] = script->str;
  run = csb_test_launch (&bus, project, command, vm_options (FALSE, FALSE), FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, BOOT_TIMEOUT_MS));
  g_test_message ("output: %s", run->out->str);
  g_assert_nonnull (strstr (run->out->str, "probes-done\n"));

  protections = csb_dbus_sandbox_get_protections (run->sandbox);
  g_assert_nonnull (protections);
  for (guint i = 0; protections[i] != NULL; i++)
    {
      g_autofree char *held = g_strconcat (protections[i], "=held\n", NULL);

      g_test_message ("protection %s", protections[i]);
      g_assert_nonnull (csb_protection_get_description (protections[i]));
      /* No name without its probe above. */
      if (strstr (run->out->str, held) == NULL)
        g_error ("Protections lists %s, which the guest did not measure as held",
                 protections[i]);
    }
  for (guint i = 0; expected[i] != NULL; i++)
    g_assert_true (g_strv_contains (protections, expected[i]));
  g_assert_true (g_strv_contains (protections, "vm-kvm") ||
                 g_strv_contains (protections, "vm-tcg"));

  /* What the probes wrote stayed inside, or went where the name says. */
  g_assert_false (g_file_test (user_probe, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (made, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_get_contents (config, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "[core]\n");
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (settings, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "{}\n");
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (user_settings, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "{\"marker\": \"user-settings\"}\n");
  csb_test_bus_teardown (&bus);
  g_rmdir (host_tmp);
}

/* The real Claude Code (from npm, a native x86-64 binary) in the VM: the guest's
 * CPU has what it needs. On TCG's default CPU model (qemu64: no SSE4, no AVX) it
 * died of SIGILL, status 132. */
static void
test_boot_claude_version (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, TRUE, REAL_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autofree char *project = NULL;
  const char * const command[] = { "claude", "--version", NULL };

  if (!can_boot () || !csb_test_require_claude ())
    return;
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "claude");
  run = csb_test_launch (&bus, project, command, vm_options (FALSE, FALSE), FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, BOOT_TIMEOUT_MS));
  g_test_message ("status %d; stdout: %s; stderr: %s", run->exit_signal_status, run->out->str,
                  run->err->str);
  g_assert_cmpint (run->exit_signal_status, ==, 0);
  g_assert_nonnull (strstr (run->out->str, "(Claude Code)"));
  csb_test_bus_teardown (&bus);
}

/* Claude Code at work in the VM: its API a local stand-in reached through the
 * filtered network, its tools running in the guest (csb-test-claude-api.c). */
static void
test_boot_claude_agent (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, TRUE, REAL_SETTINGS };
  g_autofree char *project = NULL;
  GVariantDict dict;

  if (!can_boot () || !csb_test_require_claude ())
    return;
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "agent");
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "backend", "s", "vm");
  /* Claude Code under TCG: ~2 min on an idle 2-CPU machine, over 3 at a load of 20. The
   * bound only catches a hang. */
  g_free (csb_test_claude_agent_scenario (&bus, project, g_variant_dict_end (&dict),
                                          8 * BOOT_TIMEOUT_MS));
  csb_test_bus_teardown (&bus);
}

static void
test_boot_terminal_and_stop (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;
  g_autofree char *project = NULL;
  g_autofree char *list = NULL;
  const char * const command[] = { "/bin/sh", NULL };
  gint64 t0;

  if (!can_boot ())
    return;
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "term");
  run = csb_test_launch_pty (&bus, project, command, vm_options (TRUE, FALSE), &error);
  g_assert_no_error (error);
  term = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  csb_test_terminal_send (term, "echo answer=$((6*7)); ls /sys/class/net | tr '\\n' ' '; echo\n");
  g_assert_true (csb_test_terminal_wait (term, "answer=42", BOOT_TIMEOUT_MS));
  /* Network on: a NIC besides lo. */
  g_assert_true (csb_test_terminal_wait (term, "eth0", CSB_TEST_TIMEOUT_MS));

  t0 = g_get_monotonic_time ();
  csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_until (state_is, run, CSB_TEST_TIMEOUT_MS));
  g_test_message ("stopped after %.2f s, status %d", (g_get_monotonic_time () - t0) / 1e6,
                  csb_dbus_sandbox_get_exit_status (run->sandbox));
  g_assert_cmpstr (csb_dbus_sandbox_get_state (run->sandbox), ==, "exited");

  list = virsh_list (&bus);
  g_assert_nonnull (list);
  g_assert_null (strstr (list, CSB_VM_DOMAIN_PREFIX));
  csb_test_bus_teardown (&bus);
}

/* The viewer's terminal size reaches the guest (its console is bridged to the
 * service's pty, whose size the guest cannot see): the size set before the command
 * started is its size from the start, a later one is set and signalled (SIGWINCH). */
static void
test_boot_terminal_size (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;
  g_autofree char *project = NULL;
  const char * const command[] = {
    "/bin/sh", "-c",
    "trap 'echo winch=$(stty size); exit 0' WINCH; echo first=$(stty size); "
    "while :; do sleep 0.2; done", NULL
  };
  gboolean ok;

  if (!can_boot ())
    return;
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "size");
  run = csb_test_launch_pty (&bus, project, command, vm_options (FALSE, FALSE), &error);
  g_assert_no_error (error);
  /* Before the guest runs the command (it boots for seconds yet). */
  g_assert_true (csb_dbus_sandbox_call_resize_terminal_sync (run->sandbox, 100, 30, NULL,
                                                             &error));
  g_assert_no_error (error);
  term = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (term, "first=", BOOT_TIMEOUT_MS));
  ok = csb_test_terminal_wait (term, "first=30 100", CSB_TEST_TIMEOUT_MS);
  g_test_message ("the terminal showed: %s", term->received->str);
  g_assert_true (ok);

  g_assert_true (csb_dbus_sandbox_call_resize_terminal_sync (run->sandbox, 120, 40, NULL,
                                                             &error));
  g_assert_no_error (error);
  ok = csb_test_terminal_wait (term, "winch=40 120", CSB_TEST_TIMEOUT_MS);
  g_test_message ("the terminal showed: %s", term->received->str);
  g_assert_true (ok);
  g_assert_true (csb_test_run_until (csb_test_sandbox_ended, run->sandbox, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpint (csb_dbus_sandbox_get_exit_status (run->sandbox), ==, 0);
  csb_test_bus_teardown (&bus);
}

/* ---- the CLI on a terminal ---------------------------------------------------------- */

/* The CLI's own session on the pty (as in a terminal emulator): a new session whose
 * controlling terminal is its stdin. */
static void
cli_child_setup (gpointer data)
{
  setsid ();
  ioctl (STDIN_FILENO, TIOCSCTTY, 0);
}

/* Reads what the pty shows into @seen until @needle is in it (or, with a NULL
 * @needle, until EOF: every slave end closed) or @timeout_ms passed. */
static gboolean
pty_read_until (int         master,
                GString    *seen,
                const char *needle,
                guint       timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (needle == NULL || strstr (seen->str, needle) == NULL)
    {
      struct pollfd pfd = { master, POLLIN, 0 };
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      char buf[4096];
      ssize_t n;

      if (left <= 0)
        return FALSE;
      if (poll (&pfd, 1, (int) MIN (left, 200)) <= 0)
        continue;
      n = read (master, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)   /* EIO: the last slave end closed */
        return needle == NULL;
      g_string_append_len (seen, buf, n);
    }
  return TRUE;
}

static gboolean
pty_is_raw (int master)
{
  struct termios t;

  return tcgetattr (master, &t) == 0 && (t.c_lflag & ICANON) == 0;
}

/* The real CLI, on a terminal, starts a shell in a VM: what is typed reaches the
 * guest's shell, its output comes back, its exit status is the CLI's, and nothing
 * is left behind. @typeahead: the guest init (its test build) says "started" early and holds the
 * typed line in the console's tty, init's, before the command's shell opens it: the
 * moment typed-ahead keys used to be lost (the tty's last close freed them). */
static void
cli_shell_on_terminal (gboolean typeahead)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  const char *cli = g_getenv ("CSB_TEST_CLI");
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) seen = g_string_new (NULL);
  g_autofree char *project = NULL;
  g_autofree char *list = NULL;
  struct winsize size = { 24, 80, 0, 0 };
  const char *line = "echo vm-$((6*7)); exit 3\n";
  int master, slave;
  gint64 t0;

  if (!can_boot ())
    return;
  if (cli == NULL || !g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    {
      /* It is part of the project: missing is a failure, not a skip. */
      g_test_fail_printf ("the CLI claude-sandbox is missing (%s)", cli ? cli : "CSB_TEST_CLI unset");
      return;
    }
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "cli");
  csb_test_bus_activate (&bus);

  master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (master, >=, 0);
  g_assert_cmpint (grantpt (master), ==, 0);
  g_assert_cmpint (unlockpt (master), ==, 0);
  slave = open (ptsname (master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (slave, >=, 0);
  g_assert_cmpint (ioctl (slave, TIOCSWINSZ, &size), ==, 0);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS",
                                g_test_dbus_get_bus_address (bus.bus), TRUE);
  g_subprocess_launcher_setenv (launcher, "TERM", "xterm", TRUE);
  g_subprocess_launcher_take_stdin_fd (launcher, dup (slave));
  g_subprocess_launcher_take_stdout_fd (launcher, dup (slave));
  g_subprocess_launcher_take_stderr_fd (launcher, slave);
  g_subprocess_launcher_set_child_setup (launcher, cli_child_setup, NULL, NULL);
  t0 = g_get_monotonic_time ();
  {
    const char *argv[7] = { cli, "--backend=vm", "--shell", "--no-network", NULL };
    guint n = 4;

    if (typeahead)
      argv[n++] = "--env=CSB_TEST_TYPEAHEAD=1";
    argv[n++] = project;
    process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  }
  g_assert_no_error (error);
  /* Only the CLI holds the slave now: its exit is our EOF. */
  g_clear_object (&launcher);

  /* Type once the CLI has put the terminal in raw mode (it relays keys as typed). */
  for (guint i = 0; i < 3000 && !pty_is_raw (master); i++)
    {
      pty_read_until (master, seen, "\001never\001", 10);
      if (strstr (seen->str, "claude-sandbox:") != NULL)
        break;
    }
  g_assert_true (pty_is_raw (master));
  g_assert_cmpint (write (master, line, strlen (line)), ==, (gssize) strlen (line));

  if (!pty_read_until (master, seen, "vm-42", BOOT_TIMEOUT_MS))
    {
      g_autofree char *log = NULL;
      g_file_get_contents (bus.service_log, &log, NULL, NULL);
      /* On stderr: the CI's log keeps a failed test's stderr, not its TAP comments. */
      g_printerr ("after %.2f s, no vm-42 on the terminal:\n%s\nservice log:\n%s\n",
                  (g_get_monotonic_time () - t0) / 1e6, seen->str, log ? log : "");
    }
  g_assert_nonnull (strstr (seen->str, "vm-42"));
  /* The line was there before the shell: the dangerous moment was reached. */
  if (typeahead)
    g_assert_nonnull (strstr (seen->str, "typed-ahead line held"));
  g_test_message ("vm-42 after %.2f s", (g_get_monotonic_time () - t0) / 1e6);
  g_assert_true (pty_read_until (master, seen, NULL, CSB_TEST_TIMEOUT_MS));
  g_test_message ("terminal:\n%s", seen->str);
  g_assert_true (g_subprocess_wait (process, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 3);
  /* The CLI gave the terminal back as it found it. */
  g_assert_false (pty_is_raw (master));
  close (master);

  for (guint i = 0; i < 100; i++)
    {
      g_free (list);
      list = virsh_list (&bus);
      if (list != NULL && strstr (list, CSB_VM_DOMAIN_PREFIX) == NULL)
        break;
      csb_test_sleep_ms (50);
    }
  g_assert_nonnull (list);
  g_assert_null (strstr (list, CSB_VM_DOMAIN_PREFIX));
  csb_test_bus_teardown (&bus);
}

static void
test_cli_shell_on_terminal (void)
{
  cli_shell_on_terminal (FALSE);
}

static void
test_cli_typeahead (void)
{
  cli_shell_on_terminal (TRUE);
}

/* ---- a VM outlives the service ---------------------------------------------------- */

/* The processes whose program ends in @program and one of whose arguments starts
 * with @arg_prefix. */
static guint
count_processes (const char *program,
                 const char *arg_prefix)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint n = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc", name, "cmdline", NULL);
      g_autofree char *cmdline = NULL;
      gsize len;

      if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &cmdline, &len, NULL) ||
          len == 0 || !g_str_has_suffix (cmdline, program))
        continue;
      for (gsize i = 0; i < len; i += strlen (cmdline + i) + 1)
        if (g_str_has_prefix (cmdline + i, arg_prefix))
          {
            n++;
            break;
          }
    }
  return n;
}

/* The virtiofsd processes serving a share under @root (the test's folders). */
static guint
count_virtiofsd (const char *root)
{
  g_autofree char *needle = g_strconcat ("source=", root, NULL);

  return count_processes ("/virtiofsd", needle);
}

/* Neither the domain nor its virtiofsd nor its runtime folder. (Other VMs of the
 * user may be listed: test runs may share the user's libvirt.) */
static void
assert_nothing_left (CsbTestBus *bus,
                     const char *domain)
{
  g_autofree char *list = virsh_list (bus);
  g_autofree char *runtime = g_build_filename (bus->dirs.runtime, "claude-sandbox", NULL);
  g_autofree char *left = NULL;

  g_assert_nonnull (list);
  g_assert_null (strstr (list, domain));
  g_assert_cmpuint (count_virtiofsd (bus->dirs.root), ==, 0);
  for (guint i = 0; i < 100; i++)
    {
      g_free (left);
      left = csb_test_list_sandbox_dirs (runtime);
      if (*left == '\0')
        break;
      csb_test_sleep_ms (20);
    }
  g_assert_cmpstr (left, ==, "");
}

/* kill -9 of the service while a VM runs a shell loop on its terminal: the VM,
 * its virtiofsd and its terminal go on; the new service lists it running, its
 * terminal replays the history and takes input, and the exit status comes back. */
static void
test_survive_service_crash (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) before = NULL;
  g_autoptr(CsbTestTerminal) after = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autofree char *project = NULL;
  const char * const command[] = {
    "/bin/sh", "-c",
    "echo started; "
    "(while [ ! -e away ]; do sleep 0.1; done; echo printed-while-away) & "
    "while read l; do echo got-$l; [ \"$l\" = quit ] && exit 7; "
    "[ \"$l\" = size ] && echo size=$(stty size); done", NULL
  };
  g_autofree char *domain = NULL;
  gboolean resized = FALSE;
  guint n_virtiofsd, old_service;
  gint64 t0;

  if (!can_boot ())
    return;
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "survive");
  t0 = g_get_monotonic_time ();
  run = csb_test_launch_pty (&bus, project, command, vm_options (FALSE, FALSE), &error);
  g_assert_no_error (error);
  domain = g_strconcat (CSB_VM_DOMAIN_PREFIX, csb_dbus_sandbox_get_id (run->sandbox), NULL);
  before = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  csb_test_terminal_send (before, "one\n");
  g_assert_true (csb_test_terminal_wait (before, "got-one", BOOT_TIMEOUT_MS));
  g_test_message ("booted and answering after %.2f s", (g_get_monotonic_time () - t0) / 1e6);
  n_virtiofsd = count_virtiofsd (bus.dirs.root);
  g_assert_cmpuint (n_virtiofsd, >=, 2);

  old_service = csb_test_bus_service_pid (&bus);
  csb_test_bus_crash_service (&bus);
  /* No service: the VM and the daemons serving its shares run on, and what the
   * command prints now is kept (libvirt logs the console). */
  g_assert_cmpuint (count_virtiofsd (bus.dirs.root), ==, n_virtiofsd);
  {
    g_autofree char *marker = g_build_filename (project, "away", NULL);
    /* (The proxy's cached properties went with the service: the id from the name.) */
    g_autofree char *log = g_build_filename (bus.dirs.state, "claude-sandbox",
                                             domain + strlen (CSB_VM_DOMAIN_PREFIX),
                                             "console.log", NULL);
    g_autofree char *logged = NULL;

    g_file_set_contents (marker, "", 0, &error);
    g_assert_no_error (error);
    for (guint i = 0; i < 300; i++)
      {
        g_clear_pointer (&logged, g_free);
        if (g_file_get_contents (log, &logged, NULL, NULL) &&
            strstr (logged, "printed-while-away") != NULL)
          break;
        csb_test_sleep_ms (100);
      }
    g_assert_nonnull (logged);
    g_assert_nonnull (strstr (logged, "printed-while-away"));
  }
  {
    g_autofree char *list = virsh_list (&bus);

    g_assert_nonnull (list);
    g_assert_nonnull (strstr (list, domain));
  }

  t0 = g_get_monotonic_time ();
  sandbox = csb_test_bus_sandbox_after_restart (&bus, run->object_path);
  g_assert_cmpuint (csb_test_bus_service_pid (&bus), !=, old_service);
  g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "running");
  g_assert_cmpstr (csb_dbus_sandbox_get_backend (sandbox), ==, "vm");
  g_assert_cmpstr (csb_dbus_sandbox_get_project_dir (sandbox), ==, project);
  g_assert_true (g_strv_contains (csb_dbus_sandbox_get_protections (sandbox),
                                  "separate-kernel"));

  /* A fresh terminal: the history from before, what was printed meanwhile, then the
   * live console. */
  after = csb_test_terminal_open (sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (after, "got-one", CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_terminal_wait (after, "printed-while-away", CSB_TEST_TIMEOUT_MS));
  csb_test_terminal_send (after, "two\n");
  g_assert_true (csb_test_terminal_wait (after, "got-two", CSB_TEST_TIMEOUT_MS));
  g_test_message ("terminal answering again %.2f s after the restart",
                  (g_get_monotonic_time () - t0) / 1e6);
  g_assert_true (csb_dbus_sandbox_call_resize_terminal_sync (sandbox, 90, 30, NULL, &error));
  g_assert_no_error (error);
  /* The new service told the guest (its console's size is set as the init reads it,
   * apart from what is typed: asked until it shows). */
  for (gint64 end = g_get_monotonic_time () + CSB_TEST_TIMEOUT_MS * G_GINT64_CONSTANT (1000);
       !resized && g_get_monotonic_time () < end; )
    {
      csb_test_terminal_send (after, "size\n");
      resized = csb_test_terminal_wait (after, "size=30 90", 500);
    }
  g_test_message ("the terminal showed: %s", after->received->str);
  g_assert_true (resized);

  csb_test_terminal_send (after, "quit\n");
  g_assert_true (csb_test_terminal_wait_eof (after, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (csb_test_sandbox_ended, sandbox, CSB_TEST_TIMEOUT_MS));
  g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "exited");
  g_assert_cmpint (csb_dbus_sandbox_get_exit_status (sandbox), ==, 7);
  g_test_message ("exited %.2f s after the restart", (g_get_monotonic_time () - t0) / 1e6);
  assert_nothing_left (&bus, domain);
  csb_test_bus_teardown (&bus);
}

/* The VM ends while no service runs: the new service reports the status its init
 * left behind, and cleans up after it. */
static void
test_exit_while_away (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;
  g_autofree char *project = NULL;
  g_autofree char *domain = NULL;
  const char * const command[] = {
    "/bin/sh", "-c", "echo waiting; while [ ! -e go ]; do sleep 0.1; done; echo bye; exit 4",
    NULL
  };

  if (!can_boot ())
    return;
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "away");
  run = csb_test_launch_pty (&bus, project, command, vm_options (FALSE, FALSE), &error);
  g_assert_no_error (error);
  domain = g_strconcat (CSB_VM_DOMAIN_PREFIX, csb_dbus_sandbox_get_id (run->sandbox), NULL);
  term = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (term, "waiting", BOOT_TIMEOUT_MS));
  g_clear_pointer (&term, csb_test_terminal_free);
  csb_test_bus_crash_service (&bus);

  {
    g_autofree char *marker = g_build_filename (project, "go", NULL);
    g_autofree char *list = NULL;

    g_file_set_contents (marker, "", 0, &error);
    g_assert_no_error (error);
    for (guint i = 0; i < 300; i++)
      {
        g_free (list);
        list = virsh_list (&bus);
        if (list != NULL && strstr (list, domain) == NULL)
          break;
        csb_test_sleep_ms (100);
      }
    g_assert_nonnull (list);
    g_assert_null (strstr (list, domain));
  }

  term = csb_test_bus_history_after_exit (&bus, run->object_path, 4);
  g_assert_nonnull (strstr (term->received->str, "waiting"));
  /* Printed while no service listened: from libvirt's log of the console. */
  g_assert_nonnull (strstr (term->received->str, "bye"));
  g_assert_nonnull (strstr (strstr (term->received->str, "waiting"), "bye"));
  assert_nothing_left (&bus, domain);
  csb_test_bus_teardown (&bus);
}

/* Stop() of a VM taken over: ACPI, then destroy, as at start; nothing left. */
static void
test_stop_after_restart (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;
  g_autoptr(CsbDBusSandbox) sandbox = NULL;
  g_autofree char *project = NULL;
  g_autofree char *domain = NULL;
  const char * const command[] = {
    "/bin/sh", "-c", "echo up; while :; do sleep 1; done", NULL
  };
  gint64 t0;

  if (!can_boot ())
    return;
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "stop");
  run = csb_test_launch_pty (&bus, project, command, vm_options (FALSE, FALSE), &error);
  g_assert_no_error (error);
  domain = g_strconcat (CSB_VM_DOMAIN_PREFIX, csb_dbus_sandbox_get_id (run->sandbox), NULL);
  term = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (term, "up", BOOT_TIMEOUT_MS));
  csb_test_bus_crash_service (&bus);

  sandbox = csb_test_bus_sandbox_after_restart (&bus, run->object_path);
  g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "running");
  t0 = g_get_monotonic_time ();
  csb_dbus_sandbox_call_stop_sync (sandbox, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_until (csb_test_sandbox_ended, sandbox, CSB_TEST_TIMEOUT_MS));
  g_test_message ("stopped after %.2f s, status %d", (g_get_monotonic_time () - t0) / 1e6,
                  csb_dbus_sandbox_get_exit_status (sandbox));
  g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "exited");
  assert_nothing_left (&bus, domain);
  csb_test_bus_teardown (&bus);
}


/* ---- libvirt restarted while a VM runs --------------------------------------------- */

/* The session libvirtd (or virtqemud) the service of @bus talks to: the user's, with
 * the test's runtime folder as its XDG_RUNTIME_DIR. 0 if none runs. */
static pid_t
session_daemon_pid (CsbTestBus *bus)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
  g_autofree char *needle = g_strconcat ("XDG_RUNTIME_DIR=", bus->dirs.runtime, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *cmdline_path = g_build_filename ("/proc", name, "cmdline", NULL);
      g_autofree char *environ_path = g_build_filename ("/proc", name, "environ", NULL);
      g_autofree char *cmdline = NULL;
      g_autofree char *environ_data = NULL;
      g_autofree char *base = NULL;
      gsize len;
      struct stat st;

      if (!g_ascii_isdigit (name[0]) || stat (cmdline_path, &st) != 0 || st.st_uid != getuid () ||
          !g_file_get_contents (cmdline_path, &cmdline, &len, NULL) || len == 0)
        continue;
      base = g_path_get_basename (cmdline);
      if (!g_str_equal (base, "libvirtd") && !g_str_equal (base, "virtqemud"))
        continue;
      if (!g_file_get_contents (environ_path, &environ_data, &len, NULL))
        continue;
      for (gsize i = 0; i < len; i += strlen (environ_data + i) + 1)
        if (g_str_equal (environ_data + i, needle))
          return (pid_t) atoi (name);
    }
  return 0;
}

/* The QEMU processes running @domain. */
static guint
count_qemu (const char *domain)
{
  g_autofree char *needle = g_strconcat ("guest=", domain, ",", NULL);

  return count_processes ("qemu-system-x86_64", needle);
}

/* The session libvirt daemon is killed while a VM runs a shell loop (it restarts on
 * demand; QEMU runs on without it): the sandbox stays listed and running, its
 * terminal answers again, Stop() still ends it, and no domain, QEMU or virtiofsd is
 * left. */
static void
test_libvirt_restarted (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestTerminal) term = NULL;
  g_autofree char *project = NULL;
  g_autofree char *domain = NULL;
  g_autofree char *proc = NULL;
  const char * const command[] = {
    "/bin/sh", "-c",
    "echo up; while read l; do echo got-$l; done; while :; do sleep 1; done", NULL
  };
  pid_t daemon;
  gint64 t0;

  if (!can_boot ())
    return;
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "libvirt");
  run = csb_test_launch_pty (&bus, project, command, vm_options (FALSE, FALSE), &error);
  g_assert_no_error (error);
  domain = g_strconcat (CSB_VM_DOMAIN_PREFIX, csb_dbus_sandbox_get_id (run->sandbox), NULL);
  term = csb_test_terminal_open (run->sandbox, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_terminal_wait (term, "up", BOOT_TIMEOUT_MS));
  csb_test_terminal_send (term, "one\n");
  g_assert_true (csb_test_terminal_wait (term, "got-one", CSB_TEST_TIMEOUT_MS));
  g_assert_cmpuint (count_qemu (domain), ==, 1);

  daemon = session_daemon_pid (&bus);
  g_assert_cmpint (daemon, >, 0);
  g_test_message ("killing the session libvirt daemon, pid %d", (int) daemon);
  proc = g_strdup_printf ("/proc/%d", (int) daemon);
  g_assert_cmpint (kill (daemon, SIGKILL), ==, 0);
  for (guint i = 0; i < 500 && g_file_test (proc, G_FILE_TEST_EXISTS); i++)
    csb_test_sleep_ms (10);
  g_assert_false (g_file_test (proc, G_FILE_TEST_EXISTS));
  /* Typed while the daemon is gone (or as the service reconnects): it reaches the
   * guest over the next console stream, not lost with the dead one. */
  csb_test_terminal_send (term, "gone\n");
  /* QEMU runs on without the daemon. */
  g_assert_cmpuint (count_qemu (domain), ==, 1);

  /* The service keeps the sandbox, running, and its terminal answers again. */
  csb_test_sleep_ms (2000);
  g_assert_cmpstr (csb_dbus_sandbox_get_state (run->sandbox), ==, "running");
  t0 = g_get_monotonic_time ();
  csb_test_terminal_send (term, "two\n");
  g_assert_true (csb_test_terminal_wait (term, "got-two", CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_terminal_wait (term, "got-gone", CSB_TEST_TIMEOUT_MS));
  g_test_message ("terminal answering %.2f s after the daemon went (a new one: pid %d)",
                  (g_get_monotonic_time () - t0) / 1e6, (int) session_daemon_pid (&bus));

  t0 = g_get_monotonic_time ();
  csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_until (state_is, run, CSB_TEST_TIMEOUT_MS));
  g_test_message ("stopped after %.2f s, state %s, status %d",
                  (g_get_monotonic_time () - t0) / 1e6,
                  csb_dbus_sandbox_get_state (run->sandbox),
                  csb_dbus_sandbox_get_exit_status (run->sandbox));
  g_assert_cmpstr (csb_dbus_sandbox_get_state (run->sandbox), ==, "exited");
  for (guint i = 0; i < 100 && count_qemu (domain) > 0; i++)
    csb_test_sleep_ms (50);
  g_assert_cmpuint (count_qemu (domain), ==, 0);
  assert_nothing_left (&bus, domain);
  csb_test_bus_teardown (&bus);
}

/* ---- the disk-image mode ------------------------------------------------------------ */

/* A copy of @path and of the libraries ldd names for it under @root. */
static void
copy_with_libs (const char *path,
                const char *root)
{
  const char *argv[] = { "ldd", path, NULL };
  g_autofree char *out = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GPtrArray) files = g_ptr_array_new ();

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH |
                               G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, NULL, NULL));
  g_ptr_array_add (files, g_strdup (path));
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *arrow = strstr (lines[i], "=> ");
      char *file = arrow ? arrow + 3 : g_strstrip (lines[i]);

      if (*file == '/')
        g_ptr_array_add (files, g_strndup (file, strcspn (file, " ")));
    }
  for (guint i = 0; i < files->len; i++)
    {
      const char *file = g_ptr_array_index (files, i);
      g_autofree char *dst = g_build_filename (root, file, NULL);
      g_autofree char *parent = g_path_get_dirname (dst);
      g_autofree char *data = NULL;
      gsize len;

      g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
      g_assert_true (g_file_get_contents (file, &data, &len, NULL));
      g_assert_true (g_file_set_contents_full (dst, data, len, G_FILE_SET_CONTENTS_NONE, 0755,
                                               NULL));
    }
  for (guint i = 1; i < files->len; i++)
    g_free (g_ptr_array_index (files, i));
}

/* A tiny raw ext4 image: a dynamic sh, its libraries and a marker file. */
static char *
make_image (const char *mkfs,
            const char *dir)
{
  g_autofree char *tree = g_build_filename (dir, "image-tree", NULL);
  g_autofree char *marker = g_build_filename (tree, "image-marker", NULL);
  g_autofree char *etc = g_build_filename (tree, "etc", NULL);
  g_autofree char *sh = g_find_program_in_path ("dash");
  g_autofree char *sh_dst = g_build_filename (tree, "bin", "sh", NULL);
  char *image = g_build_filename (dir, "image.raw", NULL);
  const char *argv[] = { mkfs, "-q", "-F", "-d", tree, image, "16M", NULL };
  int wait_status;

  if (sh == NULL)
    sh = g_strdup ("/bin/sh");
  copy_with_libs (sh, tree);
  {
    g_autofree char *bin = g_path_get_dirname (sh_dst);
    g_autofree char *copied = g_build_filename (tree, sh, NULL);
    g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
    if (!g_str_equal (copied, sh_dst))
      g_assert_cmpint (rename (copied, sh_dst), ==, 0);
  }
  g_assert_cmpint (g_mkdir_with_parents (etc, 0755), ==, 0);
  csb_test_write_file (marker, "in-the-image\n", 0644);
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                               NULL, NULL, &wait_status, NULL));
  g_assert_true (g_spawn_check_wait_status (wait_status, NULL));
  csb_test_rm_rf (tree);
  return image;
}

static char *
file_sha256 (const char *path)
{
  g_autofree char *data = NULL;
  gsize len;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, len);
}

/* A user's disk image as the root: its programs, not the host's /usr; the project
 * still shared, here in review mode (the guest's overlay over the project's share in
 * the image's root): what it wrote there waits for Apply; the image itself never
 * written; the overlay gone after. */
static void
test_boot_image (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autofree char *project = NULL;
  g_autofree char *image = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *written = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *mkfs = g_find_program_in_path ("mkfs.ext4");
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autofree char *listing = NULL;
  const char * const all[] = { NULL };
  GVariantBuilder b;
  const char * const command[] = {
    "/bin/sh", "-c",
    "read m < /image-marker; echo marker=$m; [ -e /usr/bin/ls ] || echo no-host-usr; "
    "echo from-image > written-in-image.txt; echo changed > /image-marker; exit 5", NULL
  };

  if (!can_boot ())
    return;
  if (mkfs == NULL && g_file_test ("/usr/sbin/mkfs.ext4", G_FILE_TEST_IS_EXECUTABLE))
    mkfs = g_strdup ("/usr/sbin/mkfs.ext4");
  if (mkfs == NULL || qemu_img == NULL)
    {
      g_test_skip ("mkfs.ext4 (e2fsprogs) or qemu-img (qemu-utils) is missing");
      return;
    }
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "img");
  image = make_image (mkfs, bus.dirs.root);
  before = file_sha256 (image);
  csb_test_bus_activate (&bus);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "backend", g_variant_new_string ("vm"));
  g_variant_builder_add (&b, "{sv}", "network", g_variant_new_boolean (FALSE));
  g_variant_builder_add (&b, "{sv}", "vm-image", g_variant_new_string (image));
  g_variant_builder_add (&b, "{sv}", "project-mode", g_variant_new_string ("review"));
  run = csb_test_launch (&bus, project, command, g_variant_builder_end (&b), FALSE, &error);
  if (error != NULL || !csb_test_run_wait (run, BOOT_TIMEOUT_MS) ||
      run->exit_signal_status != 5)
    {
      g_autofree char *log = NULL;
      g_file_get_contents (bus.service_log, &log, NULL, NULL);
      g_test_message ("service log:\n%s\noutput: %s", log ? log : "",
                      run ? run->out->str : "");
    }
  g_assert_no_error (error);
  g_test_message ("output: %s", run->out->str);
  g_assert_true (g_strv_contains (csb_dbus_sandbox_get_protections (run->sandbox),
                                  "vm-image-overlay"));
  g_assert_cmpint (run->exit_signal_status, ==, 5);
  g_assert_nonnull (strstr (run->out->str, "marker=in-the-image\n"));
  g_assert_nonnull (strstr (run->out->str, "no-host-usr\n"));
  g_assert_true (g_strv_contains (csb_dbus_sandbox_get_protections (run->sandbox),
                                  "project-review"));
  g_assert_true (csb_test_run_until (state_is, run, CSB_TEST_TIMEOUT_MS));
  written = g_build_filename (project, "written-in-image.txt", NULL);
  g_assert_false (g_file_test (written, G_FILE_TEST_EXISTS));
  listing = csb_test_review_listing (run->sandbox);
  g_assert_cmpstr (listing, ==, "written-in-image.txt added: new file, 11 bytes\n");
  csb_dbus_sandbox_call_apply_changes_sync (run->sandbox, all, NULL, &error);
  g_assert_no_error (error);
  g_file_get_contents (written, &contents, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (contents, ==, "from-image\n");
  after = file_sha256 (image);
  g_assert_cmpstr (before, ==, after);
  assert_nothing_left (&bus, CSB_VM_DOMAIN_PREFIX);

  /* Not an image: refused before anything starts. */
  {
    g_autoptr(CsbTestRun) bad = NULL;

    g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&b, "{sv}", "backend", g_variant_new_string ("vm"));
    g_variant_builder_add (&b, "{sv}", "vm-image", g_variant_new_string ("relative.img"));
    bad = csb_test_launch (&bus, project, command, g_variant_builder_end (&b), FALSE, &error);
    g_assert_null (bad);
    g_assert_cmpstr (csb_test_error_name (error), ==,
                     "org.example.ClaudeSandbox.Error.InvalidArgument");
    g_assert_nonnull (strstr (error->message, "absolute"));
  }
  csb_test_bus_teardown (&bus);
}

/* ---- the filtered network ----------------------------------------------------------- */

static gboolean
on_http (GSocketService    *service,
         GSocketConnection *connection,
         GObject           *source,
         gpointer           user_data)
{
  static const char reply[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 15\r\nConnection: close\r\n\r\nhello-from-host";
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  char buf[4096];
  gsize len = 0;

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
  return TRUE;
}

static void
on_denied (GDBusConnection *connection,
           const char      *sender,
           const char      *path,
           const char      *interface,
           const char      *signal,
           GVariant        *parameters,
           gpointer         user_data)
{
  GPtrArray *denied = user_data;
  const char *host;
  guint16 port;

  g_variant_get (parameters, "(&sq)", &host, &port);
  g_ptr_array_add (denied, g_strdup_printf ("%s:%u", host, port));
}

/* network-allow in a VM: QEMU's user-mode network restricted to one forward, to the
 * service's proxy. An HTTP server of ours on 127.0.0.1, under the test names of
 * /etc/hosts (build-aux/test.sh adds them as root). */
static void
test_boot_filtered_network (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GSocketService) server = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GPtrArray) denied = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GResolver) resolver = g_resolver_get_default ();
  g_autofree char *project = NULL;
  g_autofree char *script = NULL;
  g_autofree char *denied_entry = NULL;
  GList *addresses;
  GVariantDict dict;
  guint16 port;
  guint signal_id;
  const char * const allow[] = { "allowed.csb.test", NULL };

  if (!can_boot ())
    return;
  addresses = g_resolver_lookup_by_name (resolver, "denied.csb.test", NULL, NULL);
  if (addresses == NULL)
    {
      g_test_skip ("the test host names are not in /etc/hosts (build-aux/test.sh adds them "
                   "as root)");
      return;
    }
  g_resolver_free_addresses (addresses);

  server = g_threaded_socket_service_new (8);
  g_socket_listener_add_address (G_SOCKET_LISTENER (server), any, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_signal_connect (server, "run", G_CALLBACK (on_http), NULL);
  g_socket_service_start (server);

  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "vnet");
  signal_id = g_dbus_connection_signal_subscribe (bus.connection, NULL,
                                                  CSB_SANDBOX_INTERFACE,
                                                  "NetworkDenied", NULL, NULL,
                                                  G_DBUS_SIGNAL_FLAGS_NONE, on_denied, denied,
                                                  NULL);
  /* Through the proxy: allowed, denied (403), three at once (a relay per connection);
   * direct: to the host (10.0.2.2 is its loopback in QEMU's user-mode network) and out. */
  script = g_strdup_printf (
    "echo links=$(ip -o link | cut -d: -f2 | tr -d ' ' | tr '\\n' ,); "
    "echo env=$HTTPS_PROXY,$ALL_PROXY,$NO_PROXY; "
    "echo allowed=$(curl -s -m 30 http://allowed.csb.test:%u/); "
    "echo denied=$(curl -s -o /dev/null -w '%%{http_code}' -m 30 http://denied.csb.test:%u/); "
    "for i in 1 2 3; do curl -s -m 30 -o par$i http://allowed.csb.test:%u/ & done; wait; "
    "echo parallel=$(cat par1 par2 par3 | grep -o hello-from-host | wc -l); "
    "curl -s -m 5 --noproxy '*' http://10.0.2.2:%u/; echo direct-host=$?; "
    "curl -s -m 5 --noproxy '*' http://1.1.1.1/; echo direct-out=$?; "
    "curl -s -m 5 --noproxy '*' http://10.0.2.100:3129/; echo other-port=$?",
    port, port, port, port);
  {
    const char * const command[] = { "/bin/sh", "-c", script, NULL };

    g_variant_dict_init (&dict, NULL);
    g_variant_dict_insert (&dict, "backend", "s", "vm");
    g_variant_dict_insert_value (&dict, "network-allow", g_variant_new_strv (allow, -1));
    run = csb_test_launch (&bus, project, command, g_variant_dict_end (&dict), FALSE, &error);
  }
  g_assert_no_error (error);
  g_assert_true (g_strv_contains (csb_dbus_sandbox_get_protections (run->sandbox),
                                  "network-filtered"));
  g_assert_true (csb_test_run_wait (run, BOOT_TIMEOUT_MS));
  g_test_message ("output:\n%s", run->out->str);
  g_assert_cmpint (run->exit_signal_status, ==, 0);
  g_assert_nonnull (strstr (run->out->str, "links=lo,eth0,\n"));
  g_assert_nonnull (strstr (run->out->str, "env=http://" CSB_VM_PROXY_ADDR ":3128,socks5h://"
                                           CSB_VM_PROXY_ADDR ":3128,localhost,127.0.0.1\n"));
  g_assert_nonnull (strstr (run->out->str, "allowed=hello-from-host\n"));
  g_assert_nonnull (strstr (run->out->str, "denied=403\n"));
  g_assert_nonnull (strstr (run->out->str, "parallel=3\n"));
  g_assert_null (strstr (run->out->str, "direct-host=0\n"));
  g_assert_nonnull (strstr (run->out->str, "direct-host="));
  g_assert_null (strstr (run->out->str, "direct-out=0\n"));
  g_assert_nonnull (strstr (run->out->str, "direct-out="));
  g_assert_null (strstr (run->out->str, "other-port=0\n"));
  g_assert_nonnull (strstr (run->out->str, "other-port="));
  denied_entry = g_strdup_printf ("denied.csb.test:%u", port);
  g_assert_true (csb_test_run_until (state_is, run, CSB_TEST_TIMEOUT_MS));
  g_assert_true (g_ptr_array_find_with_equal_func (denied, denied_entry, g_str_equal, NULL));
  g_dbus_connection_signal_unsubscribe (bus.connection, signal_id);
  g_socket_service_stop (server);
  csb_test_bus_teardown (&bus);
}

/* ---- pipes and files as stdio ------------------------------------------------------ */

/* Pipes as stdio, as a script gives them: stdin's bytes reach the command and its
 * end is an EOF there (cat ends), stdout and stderr come back apart, and the exit
 * status is the command's. */
static void
test_boot_pipes (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autofree char *project = NULL;
  g_autofree char *got_path = NULL;
  g_autofree char *got = NULL;
  g_autoptr(GString) big = g_string_new (NULL);
  const char * const command[] = {
    "/bin/sh", "-c",
    "cat > got; wc -l < got; echo to-stderr >&2; test -t 0 || echo stdin-not-a-tty; "
    "head -c 300000 /dev/zero | tr '\\0' x; echo; exit 5", NULL
  };
  const char *input = "a\nb\n";

  if (!can_boot ())
    return;
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "pipes");
  run = csb_test_launch (&bus, project, command, vm_options (FALSE, FALSE), TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (write (run->stdin_fd, input, strlen (input)), ==, (gssize) strlen (input));
  close (run->stdin_fd);
  run->stdin_fd = -1;
  if (!csb_test_run_wait (run, BOOT_TIMEOUT_MS))
    {
      g_autofree char *log = NULL;
      g_file_get_contents (bus.service_log, &log, NULL, NULL);
      g_test_message ("stdout: %.200s\nstderr: %s\nservice log:\n%s", run->out->str,
                      run->err->str, log ? log : "");
    }
  g_test_message ("status %d; stdout: %.100s…; stderr: %s", run->exit_signal_status,
                  run->out->str, run->err->str);
  g_assert_cmpint (run->exit_signal_status, ==, 5);
  got_path = g_build_filename (project, "got", NULL);
  g_file_get_contents (got_path, &got, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, input);
  /* Apart, and all of it (the last bytes too: the VM waits for them to drain). */
  g_string_append (big, "2\nstdin-not-a-tty\n");
  for (guint i = 0; i < 300000; i++)
    g_string_append_c (big, 'x');
  g_string_append_c (big, '\n');
  g_assert_cmpuint (run->out->len, ==, big->len);
  g_assert_true (memcmp (run->out->str, big->str, big->len) == 0);
  g_assert_cmpstr (run->err->str, ==, "to-stderr\n");
  csb_test_bus_teardown (&bus);
}

/* The CLI in a script: `printf … | claude-sandbox --backend=vm -c DIR -- …` and a
 * shell reading its script from stdin, as with the bwrap backend. */
static void
test_cli_pipes (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  const char *cli = g_getenv ("CSB_TEST_CLI");
  g_autoptr(GError) error = NULL;
  g_autofree char *project = NULL;
  g_autofree char *f_path = NULL;
  g_autofree char *f = NULL;

  if (!can_boot ())
    return;
  if (cli == NULL || !g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_fail_printf ("the CLI claude-sandbox is missing (%s)", cli ? cli : "CSB_TEST_CLI unset");
      return;
    }
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "cli-pipes");
  csb_test_bus_activate (&bus);

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                   G_SUBPROCESS_FLAGS_STDERR_PIPE);
      g_autoptr(GSubprocess) process = NULL;
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;

      g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS",
                                    g_test_dbus_get_bus_address (bus.bus), TRUE);
      if (i == 0)
        process = g_subprocess_launcher_spawn (launcher, &error, cli, "--backend=vm",
                                               "--no-network", "-c", project, "--", "sh", "-c",
                                               "cat > got; wc -l < got; exit 5", NULL);
      else
        process = g_subprocess_launcher_spawn (launcher, &error, cli, "--backend=vm",
                                               "--no-network", "--shell", project, NULL);
      g_assert_no_error (error);
      g_subprocess_communicate_utf8 (process, i == 0 ? "a\nb\n" : "echo hi > f; exit 3\n", NULL,
                                     &out, &err, &error);
      g_assert_no_error (error);
      g_test_message ("CLI %u: status %d, stdout '%s', stderr '%s'", i,
                      g_subprocess_get_exit_status (process), out, err);
      g_assert_true (g_subprocess_get_if_exited (process));
      g_assert_cmpint (g_subprocess_get_exit_status (process), ==, i == 0 ? 5 : 3);
      if (i == 0)
        g_assert_cmpstr (out, ==, "2\n");
    }
  f_path = g_build_filename (project, "f", NULL);
  g_file_get_contents (f_path, &f, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (f, ==, "hi\n");
  unlink (f_path);

  /* The same typed in a terminal: stdin a pipe, stdout the terminal. The CLI attaches
   * to the sandbox's terminal and types the script there. */
  {
    g_autoptr(GSubprocessLauncher) launcher =
      g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE);
    g_autoptr(GSubprocess) process = NULL;
    g_autoptr(GString) seen = g_string_new (NULL);
    g_autofree char *f2 = NULL;
    struct winsize size = { 24, 80, 0, 0 };
    const char *script = "echo hi > f; exit 3\n";
    int master, slave;

    master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
    g_assert_cmpint (master, >=, 0);
    g_assert_cmpint (grantpt (master), ==, 0);
    g_assert_cmpint (unlockpt (master), ==, 0);
    slave = open (ptsname (master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    g_assert_cmpint (slave, >=, 0);
    g_assert_cmpint (ioctl (slave, TIOCSWINSZ, &size), ==, 0);
    g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS",
                                  g_test_dbus_get_bus_address (bus.bus), TRUE);
    g_subprocess_launcher_setenv (launcher, "TERM", "xterm", TRUE);
    g_subprocess_launcher_take_stdout_fd (launcher, dup (slave));
    g_subprocess_launcher_take_stderr_fd (launcher, slave);
    process = g_subprocess_launcher_spawn (launcher, &error, cli, "--backend=vm",
                                           "--no-network", "--shell", project, NULL);
    g_assert_no_error (error);
    g_clear_object (&launcher);
    g_assert_true (g_output_stream_write_all (g_subprocess_get_stdin_pipe (process), script,
                                              strlen (script), NULL, NULL, &error));
    g_assert_no_error (error);
    g_output_stream_close (g_subprocess_get_stdin_pipe (process), NULL, NULL);
    pty_read_until (master, seen, NULL, BOOT_TIMEOUT_MS);
    g_test_message ("terminal:\n%s", seen->str);
    g_assert_true (g_subprocess_wait (process, NULL, &error));
    g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 3);
    g_file_get_contents (f_path, &f2, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (f2, ==, "hi\n");
    close (master);
  }
  csb_test_bus_teardown (&bus);
}

/* ---- the display ---------------------------------------------------------------- */

/* The distinct colours of an image (virsh screenshot gives PNG or PPM). */
static guint
image_colours (const char *path)
{
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file (path, NULL);
  g_autoptr(GHashTable) colours = g_hash_table_new (NULL, NULL);
  const guchar *pixels;
  int width, height, stride, channels;

  if (pixbuf == NULL)
    return 0;
  width = gdk_pixbuf_get_width (pixbuf);
  height = gdk_pixbuf_get_height (pixbuf);
  stride = gdk_pixbuf_get_rowstride (pixbuf);
  channels = gdk_pixbuf_get_n_channels (pixbuf);
  pixels = gdk_pixbuf_read_pixels (pixbuf);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        const guchar *px = pixels + y * stride + x * channels;
        g_hash_table_add (colours, GUINT_TO_POINTER ((px[0] << 16) | (px[1] << 8) | px[2] |
                                                     1u << 24));
      }
  return g_hash_table_size (colours);
}

/* display: true: the guest boots a kernel with virtio-gpu, weston runs on it as the
 * user, and a Wayland client in the VM draws: a screenshot of the domain shows its
 * pixels (weston-simple-shm's pattern: hundreds of colours), not a text console. */
static void
test_boot_display (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autofree char *project = NULL;
  g_autofree char *shot = NULL;
  g_autofree char *domain = NULL;
  g_autofree char *virsh_err = NULL;
  const char * const command[] = {
    "/bin/sh", "-c", "echo wayland=$WAYLAND_DISPLAY display=$DISPLAY; "
    "if command -v xwininfo >/dev/null; then "
    "  (sleep 10; xwininfo -root >/tmp/x11.out 2>&1 && echo x11=ok || { echo x11=failed; cat /tmp/x11.out; }) & fi; "
    "exec weston-simple-shm",
    NULL
  };
  /* With Xwayland on the host's /usr (which the guest sees), X11 programs draw too:
   * weston gave up, and took the display with it, without the guest's /tmp/.X11-unix. */
  gboolean x11 = g_file_test ("/usr/bin/Xwayland", G_FILE_TEST_IS_EXECUTABLE) &&
                 g_file_test ("/usr/bin/xwininfo", G_FILE_TEST_IS_EXECUTABLE);
  guint colours = 0;

  if (!can_boot ())
    return;
  {
    g_autofree char *kernel = csb_vm_find_kernel_for (NULL, TRUE, NULL, &error);
    if (kernel == NULL)
      {
        g_test_skip (error->message);
        return;
      }
  }
  if (!g_file_test ("/usr/bin/weston-simple-shm", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("weston-simple-shm is not installed (package weston)");
      return;
    }
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "display");
  shot = g_build_filename (project, "screen.img", NULL);
  /* Launch returns once the compositor is up and the command runs: a TCG boot of the
   * generic kernel, then weston on the CPU. */
  csb_test_bus_activate (&bus);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (bus.manager), BOOT_TIMEOUT_MS);
  run = csb_test_launch (&bus, project, command, vm_options (FALSE, TRUE), FALSE, &error);
  if (error != NULL)
    {
      g_autofree char *state = g_build_filename (bus.dirs.state, "claude-sandbox", NULL);
      g_autoptr(GDir) dir = g_dir_open (state, 0, NULL);
      const char *name;

      /* The init's set-up errors (and weston's log) are on the console. */
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename (state, name, "console.log", NULL);
          g_autofree char *log = NULL;

          if (g_file_get_contents (path, &log, NULL, NULL))
            g_test_message ("console:\n%s", log);
        }
    }
  g_assert_no_error (error);
  domain = g_strconcat (CSB_VM_DOMAIN_PREFIX, g_path_get_basename (run->object_path), NULL);
  g_assert_true (csb_test_run_wait_output (run, "wayland=wayland-0", BOOT_TIMEOUT_MS));
  if (x11)
    {
      g_assert_true (csb_test_run_wait_output (run, "display=:0", BOOT_TIMEOUT_MS));
      g_assert_true (csb_test_run_wait_output (run, "x11=", BOOT_TIMEOUT_MS));
      csb_test_sleep_ms (200);
      g_test_message ("%s", run->out->str);
      g_assert_null (strstr (run->out->str, "x11=failed"));
    }
  g_test_message ("%s", run->out->str);
  /* Until the client's frames are on the screen. */
  for (guint i = 0; i < 120 && colours < 100; i++)
    {
      g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "XDG_RUNTIME_DIR",
                                             bus.dirs.runtime, TRUE);
      const char *argv[] = { "virsh", "-c", "qemu:///session", "screenshot", domain, shot, NULL };
      int wait_status;

      csb_test_sleep_ms (500);
      g_clear_pointer (&virsh_err, g_free);
      if (g_spawn_sync (NULL, (char **) argv, envp,
                        G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                        &virsh_err, &wait_status, NULL) &&
          g_spawn_check_wait_status (wait_status, NULL))
        colours = image_colours (shot);
    }
  if (colours < 100)
    g_test_message ("virsh screenshot: %s", virsh_err ? virsh_err : "");
  g_test_message ("the screen shows %u colours; stderr: %s", colours, run->err->str);
  g_assert_cmpuint (colours, >=, 100);

  csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_until (state_is, run, CSB_TEST_TIMEOUT_MS));
  csb_test_bus_teardown (&bus);
}

/* ---- review mode ------------------------------------------------------------------ */

/* Review mode in the VM: an overlay in the guest over the project (a read-only
 * share), its upper layer the sandbox's own folder on the host (a second share).
 * The real folder stays byte for byte as it was while the VM runs and after; the
 * changes are listed while it runs and after it ended; Apply leaves the folder
 * exactly as the same script run directly on it. */
static void
test_boot_review (void)
{
  CsbTestBus bus;
  CsbTestBusOptions options = { NULL, FALSE, REAL_SETTINGS };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autofree char *project = NULL;
  g_autofree char *reference = NULL;
  g_autofree char *before = NULL;
  g_autofree char *expected = NULL;
  GVariantBuilder b;
  const char * const command[] = { "/bin/sh", "-c", CSB_TEST_REVIEW_COMMAND, NULL };

  if (!can_boot ())
    return;
  csb_test_bus_setup (&bus, &options);
  project = csb_test_make_project (&bus.dirs, "review");
  reference = csb_test_make_project (&bus.dirs, "direct");
  csb_test_review_prepare (project, reference, &before, &expected);

  csb_test_bus_activate (&bus);
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "backend", g_variant_new_string ("vm"));
  g_variant_builder_add (&b, "{sv}", "network", g_variant_new_boolean (FALSE));
  g_variant_builder_add (&b, "{sv}", "project-mode", g_variant_new_string ("review"));
  run = csb_test_launch (&bus, project, command, g_variant_builder_end (&b), TRUE, &error);
  g_assert_no_error (error);
  if (!csb_test_review_check_run (run, project, before, expected, BOOT_TIMEOUT_MS))
    {
      g_autofree char *log = NULL;
      g_autofree char *console = NULL;
      g_autofree char *console_path = g_build_filename (bus.dirs.state, "claude-sandbox",
                                                        csb_dbus_sandbox_get_id (run->sandbox),
                                                        "console.log", NULL);

      g_file_get_contents (bus.service_log, &log, NULL, NULL);
      g_file_get_contents (console_path, &console, NULL, NULL);
      g_error ("the script did not finish: stdout: %s\nstderr: %s\nservice log:\n%s\n"
               "console:\n%s", run->out->str, run->err->str, log ? log : "",
               console ? console : "");
    }
  csb_test_bus_teardown (&bus);
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/vm/domain/xml-valid", test_domain_xml);
  g_test_add_func ("/vm/initramfs/build", test_initramfs);
  g_test_add_func ("/vm/initramfs/follows-etc", test_initramfs_follows_etc);
  g_test_add_func ("/vm/backends", test_backends);
  g_test_add_func ("/vm/accel/auto", test_accel_auto);
  g_test_add_func ("/vm/lifecycle/test-driver", test_lifecycle_test_driver);
  g_test_add_func ("/vm/boot/command-status-project-no-nic", test_boot_real);
  g_test_add_func ("/vm/boot/claude-version", test_boot_claude_version);
  g_test_add_func ("/vm/boot/project-protected", test_boot_project_protected);
  g_test_add_func ("/vm/boot/protections-hold", test_boot_protections_hold);
  g_test_add_func ("/vm/boot/claude-agent", test_boot_claude_agent);
  g_test_add_func ("/vm/boot/terminal-and-stop", test_boot_terminal_and_stop);
  g_test_add_func ("/vm/boot/terminal-size", test_boot_terminal_size);
  g_test_add_func ("/vm/boot/cli-shell-on-terminal", test_cli_shell_on_terminal);
  g_test_add_func ("/vm/boot/cli-typeahead", test_cli_typeahead);
  g_test_add_func ("/vm/boot/survive-service-crash", test_survive_service_crash);
  g_test_add_func ("/vm/boot/exit-while-away", test_exit_while_away);
  g_test_add_func ("/vm/boot/stop-after-restart", test_stop_after_restart);
  g_test_add_func ("/vm/boot/disk-image", test_boot_image);
  g_test_add_func ("/vm/boot/filtered-network", test_boot_filtered_network);
  g_test_add_func ("/vm/boot/libvirt-restarted", test_libvirt_restarted);
  g_test_add_func ("/vm/boot/pipes", test_boot_pipes);
  g_test_add_func ("/vm/boot/cli-pipes", test_cli_pipes);
  g_test_add_func ("/vm/boot/display", test_boot_display);
  g_test_add_func ("/vm/boot/review", test_boot_review);
  return g_test_run ();
}
