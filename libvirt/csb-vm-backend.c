/* csb-vm-backend.c
 *
 * One transient libvirt domain per sandbox, booted straight into a host kernel
 * with an initramfs of ours (csb-initramfs.c) whose init (vm/csb-guest-init.c)
 * builds the sandbox's file system from virtiofs shares and runs the command on
 * the console. The plan it follows, secrets included, is a file in a 0700 control
 * share that the init deletes once read: nothing of it is in the domain XML, an
 * argv or a log. The init writes the command's exit status back into that share
 * and powers off.
 *
 * Each share is served by a virtiofsd of ours (session libvirt cannot start one
 * itself): it gets its listening socket as an fd and runs in a user namespace
 * that maps the user to itself, with the namespace's capabilities kept across
 * exec (it needs CAP_SYS_CHROOT), so files keep their owner on both sides.
 *
 * Every libvirt call runs in a worker thread; libvirt-glib's event loop
 * integration delivers the domain's lifecycle events on the main loop. The
 * console is bridged to the sandbox's stdio by csb-console-bridge.c.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gio/gunixinputstream.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libvirt-glib/libvirt-glib.h>

#include "csb-module-api.h"
#include "csb-console-bridge.h"
#include "csb-console-log.h"
#include "csb-domain-run.h"
#include "csb-initramfs.h"
#include "csb-libvirt.h"
#include "csb-vm-backend.h"
#include "csb-vm-domain.h"
#include "csb-vm-stdio.h"

#define VIRTIOFSD "/usr/lib/qemu/virtiofsd"
/* The display's compositor, from the host's /usr the guest shares. */
#define GUEST_COMPOSITOR "/usr/bin/weston"
/* In the runtime folder (not the control share the guest sees): what a restarted
 * service needs beyond the sandbox's record to take the VM over. */
#define ADOPT_FILE "vm.ini"
#define HOSTNAME "claude-sandbox"

struct _CsbVmBackend
{
  CsbBackend      parent_instance;

  CsbDomainRun    run;             /* the domain, from its start to its end */

  gboolean        test_driver;     /* runs no guest: nothing reports "started" */
  GArray         *virtiofsd_pids;  /* (element-type GPid) */
  char           *display;
  gboolean        claude_json;
  CsbVmStdio     *stdio;           /* (nullable) pipes and files: on virtio ports */
  int             winsize_fd;      /* the console's size channel (-1: none) */

  gboolean        reconnect_queued; /* libvirt closed our connection: connect again */
};

G_DEFINE_FINAL_TYPE (CsbVmBackend, csb_vm_backend, CSB_TYPE_BACKEND)

/* QEMU's SPICE server, in the sandbox's runtime folder. */
#define SPICE_SOCKET "spice.sock"

static char *
get_setting (GSettings  *settings,
             const char *key,
             const char *fallback)
{
  g_autoptr(GSettingsSchema) schema = NULL;

  if (settings == NULL)
    return g_strdup (fallback);
  g_object_get (settings, "settings-schema", &schema, NULL);
  if (schema == NULL || !g_settings_schema_has_key (schema, key))
    return g_strdup (fallback);
  return g_settings_get_string (settings, key);
}

static char *
vm_uri (GSettings *settings)
{
  g_autofree char *uri = get_setting (settings, "vm-uri", "qemu:///session");

  return *uri != '\0' ? g_steal_pointer (&uri) : g_strdup ("qemu:///session");
}

static gboolean
is_local_uri (const char *uri)
{
  return g_str_has_prefix (uri, "qemu:///") || g_str_has_prefix (uri, "test:///");
}

/* ---- kernel, init, acceleration ----------------------------------------------------- */

/* Whether the kernel of @version has virtio-gpu (DRM), as a module or built in. */
static gboolean
kernel_has_virtio_gpu (const char *version)
{
  static const char * const lists[] = { "modules.dep", "modules.builtin", NULL };

  for (guint i = 0; lists[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename ("/lib/modules", version, lists[i], NULL);
      g_autofree char *text = NULL;

      if (g_file_get_contents (path, &text, NULL, NULL) && strstr (text, "/virtio-gpu.ko") != NULL)
        return TRUE;
    }
  return FALSE;
}

char *
csb_vm_find_kernel (GSettings *settings,
                    char     **out_modules_dir,
                    GError   **error)
{
  return csb_vm_find_kernel_for (settings, FALSE, out_modules_dir, error);
}

/* The kernel the setting vm-kernel names, if it is a readable file; its version
 * from its name (vmlinuz-VERSION) into @out_version, if it has one. */
static char *
configured_kernel (const char *configured,
                   char      **out_version,
                   GError    **error)
{
  g_autofree char *base = g_path_get_basename (configured);

  if (!g_file_test (configured, G_FILE_TEST_IS_REGULAR) || access (configured, R_OK) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "the kernel '%s' (setting vm-kernel) is not a readable file", configured);
      return NULL;
    }
  if (g_str_has_prefix (base, "vmlinuz-"))
    *out_version = g_strdup (base + strlen ("vmlinuz-"));
  return g_strdup (configured);
}

/* The newest /boot/vmlinuz-VERSION with its modules in /lib/modules (for a
 * @display, one with virtio-gpu), readable by the user; its version into
 * @out_version. */
static char *
newest_boot_kernel (gboolean display,
                    char   **out_version,
                    GError **error)
{
  g_autoptr(GDir) boot = g_dir_open ("/boot", 0, NULL);
  g_autofree char *best = NULL;
  g_autofree char *best_version = NULL;
  const char *name;

  while (boot != NULL && (name = g_dir_read_name (boot)) != NULL)
    {
      const char *version;
      g_autofree char *mods = NULL;

      if (!g_str_has_prefix (name, "vmlinuz-"))
        continue;
      version = name + strlen ("vmlinuz-");
      mods = g_build_filename ("/lib/modules", version, "modules.dep", NULL);
      if (!g_file_test (mods, G_FILE_TEST_EXISTS))
        continue;
      /* A display needs DRM, which Debian's cloud kernel lacks. */
      if (display && !kernel_has_virtio_gpu (version))
        continue;
      if (best_version == NULL || strverscmp (version, best_version) > 0)
        {
          g_free (best_version);
          g_free (best);
          best_version = g_strdup (version);
          best = g_build_filename ("/boot", name, NULL);
        }
    }
  if (best == NULL && display)
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                           "the VM's display needs a kernel with the virtio-gpu driver "
                           "(DRM), and no /boot/vmlinuz-* has one (the cloud kernel has "
                           "none): install the package linux-image-amd64, or set vm-kernel");
      return NULL;
    }
  if (best == NULL)
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                           "no kernel to boot: no /boot/vmlinuz-* has its modules in "
                           "/lib/modules (install a kernel, e.g. the package "
                           "linux-image-cloud-amd64, or set vm-kernel)");
      return NULL;
    }
  if (access (best, R_OK) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "the kernel '%s' is not readable by you", best);
      return NULL;
    }
  *out_version = g_steal_pointer (&best_version);
  return g_steal_pointer (&best);
}

char *
csb_vm_find_kernel_for (GSettings *settings,
                        gboolean   display,
                        char     **out_modules_dir,
                        GError   **error)
{
  g_autofree char *configured = get_setting (settings, "vm-kernel", "");
  g_autofree char *best = NULL;
  g_autofree char *best_version = NULL;
  g_autofree char *modules_dir = NULL;

  if (*configured != '\0')
    best = configured_kernel (configured, &best_version, error);
  else
    best = newest_boot_kernel (display, &best_version, error);
  if (best == NULL)
    return NULL;
  if (best_version != NULL)
    modules_dir = g_build_filename ("/lib/modules", best_version, NULL);
  if (modules_dir == NULL || !g_file_test (modules_dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "the modules of the kernel '%s' are not installed in /lib/modules", best);
      return NULL;
    }
  if (out_modules_dir != NULL)
    *out_modules_dir = g_steal_pointer (&modules_dir);
  return g_steal_pointer (&best);
}

static char *
find_guest_init (GError **error)
{
  return csb_helper_path ("CSB_GUEST_INIT", "claude-sandbox-guest-init", error);
}

/* claude-sandbox-init (its --relay mode, for the filtered network). */
static char *
find_relay_helper (GError **error)
{
  return csb_helper_path (NULL, "claude-sandbox-init", error);
}

/* Runs a guest of one instruction (hlt) in a child with a deadline: KVM that is
 * present but does not run guests (nested set-ups) fails here, not in a boot. */
static gboolean
kvm_probe (void)
{
  int status;
  pid_t pid;

  if (access ("/dev/kvm", R_OK | W_OK) != 0)
    return FALSE;
  pid = fork ();
  if (pid < 0)
    return FALSE;
  if (pid == 0)
    {
      int kvm, vm, vcpu, size;
      guint8 *mem;
      struct kvm_run *run;
      struct kvm_sregs sregs;
      struct kvm_regs regs = { .rip = 0, .rflags = 2 };
      struct kvm_userspace_memory_region region = { .slot = 0, .guest_phys_addr = 0,
                                                     .memory_size = 4096 };

      alarm (2);
      kvm = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
      if (kvm < 0 || ioctl (kvm, KVM_GET_API_VERSION, 0) != 12)
        _exit (1);
      vm = ioctl (kvm, KVM_CREATE_VM, 0);
      mem = mmap (NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
      if (vm < 0 || mem == MAP_FAILED)
        _exit (1);
      mem[0] = 0xf4;  /* hlt */
      region.userspace_addr = (guint64) (guintptr) mem;
      if (ioctl (vm, KVM_SET_USER_MEMORY_REGION, &region) != 0)
        _exit (1);
      vcpu = ioctl (vm, KVM_CREATE_VCPU, 0);
      size = ioctl (kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
      if (vcpu < 0 || size <= 0)
        _exit (1);
      run = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
      if (run == MAP_FAILED || ioctl (vcpu, KVM_GET_SREGS, &sregs) != 0)
        _exit (1);
      sregs.cs.base = 0;
      sregs.cs.selector = 0;
      if (ioctl (vcpu, KVM_SET_SREGS, &sregs) != 0 || ioctl (vcpu, KVM_SET_REGS, &regs) != 0 ||
          ioctl (vcpu, KVM_RUN, 0) != 0)
        _exit (1);
      _exit (run->exit_reason == KVM_EXIT_HLT ? 0 : 1);
    }
  if (waitpid (pid, &status, 0) != pid)
    return FALSE;
  return WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

/* A real boot under KVM: QEMU as a libvirt domain would run it (q35, the host's
 * CPU), our kernel and initramfs, no shares. Our init, finding no control share,
 * says so on its console and powers off: that line is the proof, expected within
 * 20 s (a KVM boot takes about one). Nested set-ups where KVM runs the hlt probe
 * but hangs real guests (as on the machines this is tested on) fail here. */
static gboolean
kvm_boot_probe (const char *kernel,
                const char *initrd)
{
  const char *argv[] = {
    "qemu-system-x86_64", "-machine", CSB_VM_MACHINE ",accel=kvm", "-cpu", "host",
    "-m", "512", "-smp", "1", "-nographic", "-nodefaults", "-no-user-config", "-no-reboot",
    "-kernel", kernel, "-initrd", initrd, "-append", CSB_VM_KERNEL_CMDLINE,
    "-device", "virtio-serial-pci", "-chardev", "stdio,id=con0,signal=off",
    "-device", "virtconsole,chardev=con0", NULL
  };
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) seen = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  gboolean booted = FALSE;
  int fd;

  process = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                     G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                     G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
  if (process == NULL)
    {
      g_message ("KVM test boot: %s", error->message);
      return FALSE;
    }
  fd = g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (g_subprocess_get_stdout_pipe (process)));
  while (!booted && seen->len < 65536)
    {
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      struct pollfd pfd = { fd, POLLIN, 0 };
      char buf[4096];
      ssize_t n;

      if (left <= 0)
        break;
      if (poll (&pfd, 1, (int) left) <= 0)
        continue;
      n = read (fd, buf, sizeof buf);
      if (n <= 0)
        break;
      g_string_append_len (seen, buf, n);
      booted = strstr (seen->str, "claude-sandbox VM:") != NULL;
    }
  g_subprocess_force_exit (process);
  g_subprocess_wait (process, NULL, NULL);
  return booted;
}

/* What the test boot's verdict is kept under: the kernel and QEMU, as they are. */
static char *
kvm_cache_key (const char *kernel)
{
  g_autofree char *qemu = g_find_program_in_path ("qemu-system-x86_64");
  GStatBuf kst, qst;

  if (qemu == NULL || g_stat (kernel, &kst) != 0 || g_stat (qemu, &qst) != 0)
    return NULL;
  return g_strdup_printf ("%s %" G_GINT64_FORMAT " %s %" G_GINT64_FORMAT, kernel,
                          (gint64) kst.st_mtime, qemu, (gint64) qst.st_mtime);
}

static char *
kvm_cache_path (void)
{
  return g_build_filename (g_get_user_cache_dir (), "claude-sandbox", "kvm-boot", NULL);
}

/* The test boot's verdict for @kernel with this QEMU, from the user's cache: 1 it
 * boots, 0 it does not, -1 unknown. */
static int
kvm_cached_verdict (const char *kernel)
{
  g_autofree char *key = kvm_cache_key (kernel);
  g_autofree char *path = kvm_cache_path ();
  g_autofree char *text = NULL;

  if (key == NULL || !g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  if (g_str_has_prefix (text, key) && text[strlen (key)] == '\n')
    return g_str_equal (text + strlen (key) + 1, "boots\n") ? 1 : 0;
  return -1;
}

static void
kvm_store_verdict (const char *kernel,
                   gboolean    boots)
{
  g_autofree char *key = kvm_cache_key (kernel);
  g_autofree char *path = kvm_cache_path ();
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *text = NULL;

  if (key == NULL || g_mkdir_with_parents (dir, 0700) != 0)
    return;
  text = g_strdup_printf ("%s\n%s\n", key, boots ? "boots" : "hangs");
  g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_NONE, 0600, NULL);
}

const char *
csb_vm_choose_virt_type (GSettings  *settings,
                         const char *kernel,
                         const char *initrd)
{
  static gsize probed = 0;
  static gboolean kvm_ok = FALSE;
  static GMutex boot_lock;
  static int boot_verdict = -1;
  g_autofree char *accel = get_setting (settings, "vm-accel", "auto");
  int verdict;

  if (g_str_equal (accel, "kvm"))
    return "kvm";
  if (g_str_equal (accel, "tcg"))
    return "qemu";
  if (g_once_init_enter (&probed))
    {
      kvm_ok = kvm_probe ();
      g_once_init_leave (&probed, 1);
    }
  if (!kvm_ok)
    return "qemu";

  /* One test boot at a time; its verdict for every later launch. */
  g_mutex_lock (&boot_lock);
  verdict = boot_verdict;
  if (verdict < 0 && kernel != NULL)
    verdict = kvm_cached_verdict (kernel);
  if (verdict < 0 && kernel != NULL && initrd != NULL)
    {
      gint64 t0 = g_get_monotonic_time ();

      verdict = kvm_boot_probe (kernel, initrd);
      g_message ("KVM test boot of %s: %s after %.1f s; VMs use %s", kernel,
                 verdict ? "booted" : "no boot", (g_get_monotonic_time () - t0) / 1e6,
                 verdict ? "KVM" : "TCG");
      kvm_store_verdict (kernel, verdict);
    }
  if (verdict >= 0)
    boot_verdict = verdict;
  g_mutex_unlock (&boot_lock);
  return verdict == 1 ? "kvm" : "qemu";
}

/* ---- libvirt helpers ------------------------------------------------------------- */

static virConnectPtr
open_connection (GSettings *settings,
                 GError   **error)
{
  g_autofree char *uri = vm_uri (settings);
  virConnectPtr conn;

  conn = csb_libvirt_open (uri, error);
  if (conn == NULL)
    {
    }
  return conn;
}

/* ---- virtiofsd ------------------------------------------------------------------- */

static int
listen_socket (const char *path,
               GError    **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "socket path '%s' is too long", path);
      return -1;
    }
  strcpy (addr.sun_path, path);
  unlink (path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof addr) != 0 || listen (fd, 1) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot listen on '%s': %s", path,
                   g_strerror (errno));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  return fd;
}

static void
write_proc_file (const char *path,
                 const char *text)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);

  if (fd >= 0)
    {
      if (write (fd, text, strlen (text)) < 0) {}
      close (fd);
    }
}

typedef struct
{
  uid_t uid;
  gid_t gid;
} IdMap;

/* In the forked child, before exec: a user namespace mapping the user to itself,
 * its capabilities made ambient so virtiofsd (not uid 0 there) keeps them. */
static void
virtiofsd_child_setup (gpointer user_data)
{
  IdMap *ids = user_data;
  char map[64];
  struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2];

  if (unshare (CLONE_NEWUSER) != 0)
    _exit (125);
  write_proc_file ("/proc/self/setgroups", "deny");
  snprintf (map, sizeof map, "%u %u 1\n", (guint) ids->uid, (guint) ids->uid);
  write_proc_file ("/proc/self/uid_map", map);
  snprintf (map, sizeof map, "%u %u 1\n", (guint) ids->gid, (guint) ids->gid);
  write_proc_file ("/proc/self/gid_map", map);
  if (syscall (SYS_capget, &header, data) != 0)
    _exit (125);
  data[0].inheritable = data[0].permitted;
  data[1].inheritable = data[1].permitted;
  if (syscall (SYS_capset, &header, data) != 0)
    _exit (125);
  for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
    prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
  setsid ();
}

/* What a share is for. */
typedef enum {
  SHARE_PLAIN,
  SHARE_REVIEW_LOWER,   /* the project, as the lower layer of the guest's overlay */
  SHARE_REVIEW_LAYERS,  /* the sandbox's review folder: the overlay's upper and work */
} ShareKind;

/* How long the guest may trust what it looked up on a review share (a cap: the guest's
 * kernel caps it further at what its jiffies can count). */
#define REVIEW_CACHE_TIMEOUT "timeout=100000000"

static gboolean
start_virtiofsd (const char *source,
                 const char *socket_path,
                 const char *log_path,
                 ShareKind   kind,
                 GPid       *out_pid,
                 GError    **error)
{
  g_autofree char *source_opt = g_strdup_printf ("source=%s", source);
  int log_fd;
  int target = 3;
  g_autofree char *fd_arg = g_strdup_printf ("--fd=%d", target);
  /* The review layers' share: the guest's overlay keeps its marks in user.overlay.*
   * (opaque folders); no other extended attribute passes, either way ("not
   * supported", which the overlay takes in its stride where "not permitted" would
   * make it read-only), but for the file capability, which virtiofsd must map: as
   * it is (renamed, virtiofsd 7.2 fails copy-ups removing it from an O_PATH
   * descriptor). The host's kernel stores it only as a capability for user
   * namespaces whose root is the user: nothing the user has not got.
   * Both review shares: what the guest looked up stays valid (cache=always, for as
   * long as the guest can count). The overlay over them takes a lookup that no longer
   * finds what it had (a file you, or an Apply, replaced in the project meanwhile, or a
   * Discard in the review folder) as "Stale file handle" on that name for as long as
   * the guest keeps it: the sandbox could never write that file again. So it keeps the
   * file as it first saw it instead (the bwrap and container backends' overlays see
   * the host's change). */
  gboolean review = kind != SHARE_PLAIN;
  const char *argv[] = { VIRTIOFSD, fd_arg, "-o", source_opt, "-o", "sandbox=chroot",
                         "-o", review ? "cache=always" : "cache=auto", "-o", "log_level=warn",
                         /* (the list ends here without them) */
                         review ? "-o" : NULL, REVIEW_CACHE_TIMEOUT,
                         kind == SHARE_REVIEW_LAYERS ? "-o" : NULL,
                         "xattrmap=:ok:all:user.overlay.:::ok:all:security.capability:::"
                         "unsupported:all:::", NULL };
  g_autofree char *preload = csb_helper_path ("CSB_VIRTIOFSD_PRELOAD",
                                              "claude-sandbox-virtiofsd-preload.so", error);
  g_autofree char *preload_env = NULL;
  const char *envp[] = { NULL, NULL };
  IdMap ids = { getuid (), getgid () };
  gboolean ok;
  int fd;

  if (preload == NULL)
    return FALSE;
  preload_env = g_strconcat ("LD_PRELOAD=", preload, NULL);
  envp[0] = preload_env;
  fd = listen_socket (socket_path, error);
  if (fd < 0)
    return FALSE;
  log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  ok = g_spawn_async_with_pipes_and_fds (NULL, argv, envp, G_SPAWN_DO_NOT_REAP_CHILD,
                                         virtiofsd_child_setup, &ids, -1, log_fd, log_fd,
                                         &fd, &target, 1, out_pid, NULL, NULL, NULL, error);
  close (fd);
  if (log_fd >= 0)
    close (log_fd);
  if (!ok)
    g_prefix_error (error, "cannot start virtiofsd for '%s': ", source);
  return ok;
}

static gboolean
is_virtiofsd (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/cmdline", (int) pid);
  g_autofree char *cmdline = NULL;
  gsize len = 0;

  /* A zombie has an empty command line. */
  if (!g_file_get_contents (path, &cmdline, &len, NULL) || len == 0)
    return FALSE;
  return g_str_equal (cmdline, VIRTIOFSD);
}

static void
reap_pids (GArray *pids,
           int     signum)
{
  for (guint i = 0; pids != NULL && i < pids->len; i++)
    {
      GPid pid = g_array_index (pids, GPid, i);
      int status;

      if (pid <= 0)
        continue;
      /* They exit by themselves when QEMU goes; give them a moment first. Those a
       * previous service started are not our children: they are gone once the
       * pid no longer runs virtiofsd. */
      for (int tries = 0; tries < 20; tries++)
        {
          pid_t reaped = waitpid (pid, &status, WNOHANG);

          if (reaped == pid || (reaped < 0 && errno == ECHILD && !is_virtiofsd (pid)))
            {
              pid = 0;
              break;
            }
          g_usleep (10000);
        }
      if (pid > 0)
        {
          kill (pid, signum);
          waitpid (pid, &status, 0);
        }
      g_array_index (pids, GPid, i) = 0;
    }
}

/* ---- the control share: the guest's plan and files ------------------------------ */

static gboolean
stage_etc (CsbSandboxSpec *spec,
           const char     *ctl_dir,
           const char     *home,
           const char     *shell,
           GError        **error)
{
  g_autofree char *etc = g_build_filename (ctl_dir, "etc", NULL);
  CsbStageUser user = { g_get_user_name (), getuid (), getgid (), home, shell };

  /* Only the sandbox's own files: the host's share of /etc is in the initramfs.
   * Filtered: no DNS at all; the proxy resolves names on the host. */
  return csb_stage_etc (etc, FALSE, &user, HOSTNAME,
                        spec->options->network && spec->net_proxy_socket == NULL
                          ? "nameserver 10.0.2.3\n" : "", error);
}

static gboolean
visible_as_host_path (const char *path)
{
  return g_str_has_prefix (path, "/usr/") || g_str_has_prefix (path, "/opt/");
}

typedef struct
{
  CsbSandboxSpec    *spec;
  CsbVmDomainConfig *domain;
  GArray            *pids;
  GPtrArray         *protections;
  GByteArray        *plan;
  guint              n_shares;
} Setup;

/* A host folder in the guest at @guest_path, over its own virtiofsd; with a NULL
 * @guest_path, only its tag (@out_tag), for the init to mount where it needs it. */
static gboolean
add_share_full (Setup       *setup,
                const char  *host_path,
                const char  *guest_path,
                gboolean     readonly,
                ShareKind    kind,
                char       **out_tag,
                GError     **error)
{
  g_autofree char *tag = g_strdup_printf ("csb-%u", setup->n_shares++);
  g_autofree char *sock_name = g_strdup_printf ("vfs-%s.sock", tag);
  g_autofree char *sock = g_build_filename (setup->spec->runtime_dir, sock_name, NULL);
  g_autofree char *log = g_build_filename (setup->spec->state_dir, "virtiofsd.log", NULL);
  GPid pid;

  if (!start_virtiofsd (host_path, sock, log, kind, &pid, error))
    return FALSE;
  g_array_append_val (setup->pids, pid);
  csb_vm_domain_config_add_share (setup->domain, tag, sock);
  if (guest_path != NULL)
    csb_plan_add (setup->plan, CSB_PLAN_SHARE, tag, guest_path, readonly ? "ro" : "rw", NULL);
  if (out_tag != NULL)
    *out_tag = g_steal_pointer (&tag);
  return TRUE;
}

static gboolean
add_share (Setup      *setup,
           const char *host_path,
           const char *guest_path,
           gboolean    readonly,
           GError    **error)
{
  return add_share_full (setup, host_path, guest_path, readonly, SHARE_PLAIN, NULL, error);
}

/* The guest's translator of a home layout (csb_layout_private_home): a tmpfs of
 * the user's, and each read-only file a copy in the control share (libvirt shares
 * folders, not files) bound over its path by the guest's init. */
typedef struct
{
  GByteArray *plan;
  const char *home;
  const char *ctl_home;
} HomeCopy;

static gboolean
add_home_entry (CsbLayoutKind   kind,
                const char     *source,
                const char     *dest,
                guint           mode,
                gpointer        user_data,
                GError        **error)
{
  HomeCopy *copy = user_data;

  switch (kind)
    {
    case CSB_LAYOUT_TMPFS:
      {
        g_autofree char *text = g_strdup_printf ("%04ou", mode != 0 ? mode : 0755);

        csb_plan_add (copy->plan, CSB_PLAN_TMPFS, dest, text, NULL);
        return TRUE;
      }
    case CSB_LAYOUT_BIND_RO:
      {
        const char *relative = dest + strlen (copy->home);
        g_autofree char *staged = g_build_filename (copy->ctl_home, relative, NULL);
        g_autofree char *staged_parent = g_path_get_dirname (staged);
        g_autofree char *guest_src = g_build_filename ("/ctl/home", relative, NULL);

        g_assert (g_str_has_prefix (dest, copy->home) && *relative == '/');
        /* What the path leads to, as bwrap and the container bind it. */
        if (g_mkdir_with_parents (staged_parent, 0700) == 0 &&
            csb_stage_copy_tree (source, staged))
          csb_plan_add (copy->plan, CSB_PLAN_BIND, guest_src, dest, "ro", NULL);
        return TRUE;
      }
    case CSB_LAYOUT_BIND_RW:
    case CSB_LAYOUT_DIR:
    case CSB_LAYOUT_SYMLINK:
    default:
      g_assert_not_reached ();
    }
}

/* The guest's translator of a layout (csb-layout.c): each folder a share of its
 * own (a file is shared through its folder by the caller), what was staged in the
 * control share bound from there, symlinks made by the guest's init; review mode's
 * two layers shares the init mounts by their tags, and the overlay over them. */
typedef struct
{
  Setup      *setup;
  const char *ctl_dir;   /* seen in the guest at /ctl */
  char       *lower;     /* review mode: the tags of the overlay's layers */
  char       *rw;
} Guest;

static gboolean
add_guest_bind (Guest       *guest,
                const char  *source,
                const char  *dest,
                gboolean     readonly,
                GError     **error)
{
  const char *staged = guest->ctl_dir != NULL && g_str_has_prefix (source, guest->ctl_dir)
    ? source + strlen (guest->ctl_dir) : NULL;

  /* The overlay's layers are mounted by the init, by their tags (csb-guest-init.c),
   * each served by a virtiofsd set up for it. */
  if (g_str_equal (dest, CSB_REVIEW_STAGE "/lower"))
    return add_share_full (guest->setup, source, NULL, TRUE, SHARE_REVIEW_LOWER,
                           &guest->lower, error);
  if (g_str_equal (dest, CSB_REVIEW_STAGE "/rw"))
    return add_share_full (guest->setup, source, NULL, FALSE, SHARE_REVIEW_LAYERS,
                           &guest->rw, error);
  if (staged != NULL && *staged == '/')
    {
      g_autofree char *guest_src = g_strconcat ("/ctl", staged, NULL);

      csb_plan_add (guest->setup->plan, CSB_PLAN_BIND, guest_src, dest, readonly ? "ro" : "rw",
                    NULL);
      return TRUE;
    }
  /* virtiofs shares folders: a file of the host not staged in the control share
   * (a file among the user's extra binds) is not in the guest. */
  if (!g_file_test (source, G_FILE_TEST_IS_DIR))
    return TRUE;
  return add_share (guest->setup, source, dest, readonly, error);
}

static gboolean
add_guest_entry (CsbLayoutKind   kind,
                 const char     *source,
                 const char     *dest,
                 guint           mode,
                 gpointer        user_data,
                 GError        **error)
{
  Guest *guest = user_data;

  switch (kind)
    {
    case CSB_LAYOUT_BIND_RO:
    case CSB_LAYOUT_BIND_RW:
      return add_guest_bind (guest, source, dest, kind == CSB_LAYOUT_BIND_RO, error);
    case CSB_LAYOUT_SYMLINK:
      csb_plan_add (guest->setup->plan, CSB_PLAN_SYMLINK, source, dest, NULL);
      return TRUE;
    case CSB_LAYOUT_OVERLAY:
      g_assert (guest->lower != NULL && guest->rw != NULL);
      csb_plan_add (guest->setup->plan, CSB_PLAN_REVIEW, guest->lower, guest->rw, dest, NULL);
      return TRUE;
    case CSB_LAYOUT_TMPFS:
    case CSB_LAYOUT_DIR:
    case CSB_LAYOUT_SOCKET:
    default:
      g_assert_not_reached ();
    }
}

/* A layout in the guest: its entries through add_guest_entry (staged files in
 * @ctl_dir, nullable), the project's protected ones in the plan for the init, and
 * the protections they give. */
static gboolean
translate_layout (Setup      *setup,
                  CsbLayout  *layout,
                  const char *ctl_dir,
                  GError    **error)
{
  Guest guest = { setup, ctl_dir, NULL, NULL };
  gboolean ok = csb_layout_foreach (layout, add_guest_entry, &guest, error);

  g_free (guest.lower);
  g_free (guest.rw);
  if (!ok)
    return FALSE;
  csb_layout_append_init_plan (layout, setup->plan, getuid (), getgid ());
  csb_layout_add_protections (layout, setup->protections);
  return TRUE;
}

/* The plan's first entries: who, where, the network, the terminal, the display. */
static void
add_plan_header (Setup      *setup,
                 const char *home)
{
  CsbSandboxSpec *spec = setup->spec;
  CsbLaunchOptions *opts = spec->options;
  GByteArray *plan = setup->plan;
  g_autofree char *uid = g_strdup_printf ("%u", (guint) getuid ());
  g_autofree char *gid = g_strdup_printf ("%u", (guint) getgid ());

  csb_plan_add (plan, CSB_PLAN_UID, uid, NULL);
  csb_plan_add (plan, CSB_PLAN_GID, gid, NULL);
  csb_plan_add (plan, CSB_PLAN_HOME, home, NULL);
  csb_plan_add (plan, CSB_PLAN_CWD, spec->project_dir, NULL);
  csb_plan_add (plan, CSB_PLAN_HOSTNAME, HOSTNAME, NULL);
  csb_plan_add (plan, CSB_PLAN_NETWORK,
                spec->net_proxy_socket != NULL ? "2" : opts->network ? "1" : "0", NULL);
  csb_plan_add (plan, CSB_PLAN_RAW, spec->stdio_is_pty ? "0" : "1", NULL);
  csb_plan_add (plan, CSB_PLAN_STDIO, spec->stdio_is_pty ? "0" : "1", NULL);
  csb_plan_add (plan, CSB_PLAN_DISPLAY, opts->display && opts->vm_image == NULL ? "1" : "0",
                NULL);
  if (spec->stdio_is_pty)
    {
      struct winsize ws;

      if (ioctl (spec->stdio_fds[0], TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
        {
          g_autofree char *cols = g_strdup_printf ("%u", ws.ws_col);
          g_autofree char *rows = g_strdup_printf ("%u", ws.ws_row);
          csb_plan_add (plan, CSB_PLAN_WINSIZE, cols, rows, NULL);
        }
    }
}

/* The root: the user's disk (its overlay) with our user and names over its /etc;
 * or the host's programs, read-only, as bwrap and the container show them (one
 * layout, csb-layout.c, its folders as shares) and the host's allowlisted /etc
 * from the initramfs (csb-initramfs.c); then the sandbox's own /etc files and
 * private scratch space. */
static gboolean
add_system (Setup   *setup,
            GError **error)
{
  GByteArray *plan = setup->plan;
  g_autofree char *run_user = g_strdup_printf ("/run/user/%u", (guint) getuid ());

  if (setup->spec->options->vm_image != NULL)
    csb_plan_add (plan, CSB_PLAN_ROOTDISK, NULL);
  else
    {
      g_autoptr(CsbLayout) layout = csb_layout_new ();

      csb_layout_expose_host_usr (layout);
      if (!translate_layout (setup, layout, NULL, error))
        return FALSE;
      csb_plan_add (plan, CSB_PLAN_BIND, "/host-etc", "/etc", "ro", NULL);
    }
  for (guint i = 0; csb_stage_etc_own_files[i] != NULL; i++)
    {
      g_autofree char *src = g_build_filename ("/ctl/etc", csb_stage_etc_own_files[i], NULL);
      g_autofree char *dst = g_build_filename ("/etc", csb_stage_etc_own_files[i], NULL);

      csb_plan_add (plan, CSB_PLAN_BIND, src, dst, "ro", NULL);
    }
  csb_plan_add (plan, CSB_PLAN_TMPFS, "/tmp", "1777", NULL);
  csb_plan_add (plan, CSB_PLAN_MKDIR, "/var", NULL);
  csb_plan_add (plan, CSB_PLAN_TMPFS, "/var/tmp", "1777", NULL);
  csb_plan_add (plan, CSB_PLAN_TMPFS, "/run", "0755", NULL);
  csb_plan_add (plan, CSB_PLAN_SYMLINK, "../run", "/var/run", NULL);
  csb_plan_add (plan, CSB_PLAN_TMPFS, run_user, "0700u", NULL);
  csb_protections_add (setup->protections, "private-tmp");
  return TRUE;
}

/* A fresh home with only git's and ssh's configuration, read-only (gh's only with
 * the token), as bwrap's and the container's: one layout (csb-layout.c), each file
 * a copy in the control share (add_home_entry); then the project's Claude home,
 * the user's own settings copies in the control share as well (libvirt shares
 * paths, not descriptors: made without following links, owner-checked,
 * size-capped). No sandbox sees the folder that holds the Claude home's two
 * folders, so their paths cannot be swapped under virtiofsd. */
static gboolean
add_home (Setup         *setup,
          const char    *ctl_dir,
          const char    *home,
          CsbClaudeHome *claude_home,
          GError       **error)
{
  g_autoptr(CsbLayout) layout = csb_layout_new ();
  g_autoptr(CsbLayout) claude = csb_layout_new ();
  g_autofree char *ctl_home = g_build_filename (ctl_dir, "home", NULL);
  g_autofree char *staged = g_build_filename (ctl_dir, "claude-user", NULL);
  HomeCopy copy = { setup->plan, home, ctl_home };

  csb_layout_private_home (layout, home, setup->spec->options->gh_token);
  if (!csb_layout_foreach (layout, add_home_entry, &copy, error))
    return FALSE;
  csb_layout_add_protections (layout, setup->protections);

  return csb_layout_claude_home (claude, home, claude_home, staged, error) &&
         translate_layout (setup, claude, ctl_dir, error);
}

/* Claude Code itself, read-only at the path it was installed to; the PATH inside
 * (@path_env), its folder first. */
static gboolean
add_claude_install (Setup             *setup,
                    CsbClaudeInstall  *claude,
                    char             **path_env,
                    GError           **error)
{
  g_autofree char *bin_dir = g_path_get_dirname (claude->path);
  g_autofree char *old = *path_env;

  *path_env = g_strconcat (bin_dir, ":", old, NULL);
  if (!visible_as_host_path (claude->bind_root))
    {
      if (g_file_test (claude->bind_root, G_FILE_TEST_IS_DIR))
        {
          if (!add_share (setup, claude->bind_root, claude->bind_root, TRUE, error))
            return FALSE;
        }
      else
        {
          /* A single file: share its folder, bind the file. */
          g_autofree char *dir = g_path_get_dirname (claude->bind_root);
          const char *mnt = "/run/claude-sandbox-install";
          g_autofree char *base = g_path_get_basename (claude->bind_root);
          g_autofree char *src = g_build_filename (mnt, base, NULL);

          if (!add_share (setup, dir, mnt, TRUE, error))
            return FALSE;
          csb_plan_add (setup->plan, CSB_PLAN_BIND, src, claude->bind_root, "ro", NULL);
        }
    }
  for (guint i = 0; i < claude->symlinks->len; i++)
    {
      CsbSymlink *link = g_ptr_array_index (claude->symlinks, i);
      if (!visible_as_host_path (link->path))
        csb_plan_add (setup->plan, CSB_PLAN_SYMLINK, link->target, link->path, NULL);
    }
  return TRUE;
}

/* The user's extra folders (ro-binds, rw-binds), each checked: one layout
 * (csb-layout.c), as in every backend; shares are folders, so a file is left out
 * (add_guest_bind). */
static gboolean
add_user_binds (Setup      *setup,
                const char *home,
                GError    **error)
{
  CsbLaunchOptions *opts = setup->spec->options;
  g_autoptr(CsbLayout) layout = csb_layout_new ();

  return csb_layout_user_binds (layout, opts->ro_binds, opts->rw_binds, home, error) &&
         translate_layout (setup, layout, NULL, error);
}

/* The project, read-write at its own path with git's and Claude Code's
 * configuration read-only, the init opening each protected entry again from the
 * project folder without following any symlink (csb-init-protect.c): never a path
 * the sandbox could have pointed elsewhere; or under review, an overlay the
 * guest's init mounts over the project's share (read-only) and the sandbox's review
 * folder, nothing of the real folder writable in the guest. One layout
 * (csb-layout.c), the same as bwrap's. */
static gboolean
add_project (Setup   *setup,
             GError **error)
{
  CsbSandboxSpec *spec = setup->spec;
  g_autoptr(CsbLayout) layout = csb_layout_new ();

  if (spec->options->review
      ? !csb_layout_project_review (layout, spec->project_dir, spec->state_dir, error)
      : !csb_layout_project (layout, spec->project_dir, spec->guard_entries, error))
    return FALSE;
  return translate_layout (setup, layout, NULL, error);
}

/* The environment: an allowlist of the service's, then ours, and last (they win
 * over the same names from the options) a filtered network's proxy; then the
 * command. */
static void
add_environment (Setup      *setup,
                 const char *home,
                 const char *shell,
                 const char *path_env,
                 const char *token)
{
  static const char * const proxy_env[] = {
    "HTTP_PROXY=http://" CSB_VM_PROXY_ADDR ":" CSB_VM_PROXY_PORT,
    "HTTPS_PROXY=http://" CSB_VM_PROXY_ADDR ":" CSB_VM_PROXY_PORT,
    "http_proxy=http://" CSB_VM_PROXY_ADDR ":" CSB_VM_PROXY_PORT,
    "https_proxy=http://" CSB_VM_PROXY_ADDR ":" CSB_VM_PROXY_PORT,
    "ALL_PROXY=socks5h://" CSB_VM_PROXY_ADDR ":" CSB_VM_PROXY_PORT,
    "all_proxy=socks5h://" CSB_VM_PROXY_ADDR ":" CSB_VM_PROXY_PORT,
    "NO_PROXY=localhost,127.0.0.1",
    "no_proxy=localhost,127.0.0.1",
  };
  CsbSandboxSpec *spec = setup->spec;
  GByteArray *plan = setup->plan;
  g_autofree char *run_user = g_strdup_printf ("/run/user/%u", (guint) getuid ());
  CsbStageUser user = { g_get_user_name (), getuid (), getgid (), home, shell };
  g_autoptr(GPtrArray) env = csb_stage_environment (spec, &user, path_env, run_user, token);

  csb_protections_add (setup->protections, "clear-environment");
  for (guint i = 0; i < env->len; i++)
    csb_plan_add (plan, CSB_PLAN_ENV, g_ptr_array_index (env, i), NULL);
  for (gsize i = 0; spec->net_proxy_socket != NULL && i < G_N_ELEMENTS (proxy_env); i++)
    csb_plan_add (plan, CSB_PLAN_ENV, proxy_env[i], NULL);
  for (guint i = 0; spec->command[i] != NULL; i++)
    csb_plan_add (plan, CSB_PLAN_ARG, spec->command[i], NULL);
}

static gboolean
build_guest (Setup      *setup,
             const char *ctl_dir,
             GError    **error)
{
  CsbSandboxSpec *spec = setup->spec;
  CsbLaunchOptions *opts = spec->options;
  g_autofree char *home = g_strdup (g_get_home_dir ());
  g_autofree char *shell = csb_user_shell (spec->settings);
  g_autofree char *path_env = g_strdup ("/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:"
                                        "/usr/sbin:/sbin");
  g_autofree char *token = NULL;
  g_autofree char *config = g_build_filename (ctl_dir, "config", NULL);
  g_autoptr(CsbClaudeInstall) claude = NULL;
  g_autoptr(CsbClaudeHome) claude_home = NULL;

  if (!csb_stage_find_claude (spec, home, &claude, error))
    return FALSE;
  if ((opts->gh_token && (token = csb_stage_find_gh_token (spec, error)) == NULL) ||
      !stage_etc (spec, ctl_dir, home, shell, error) ||
      (claude_home = csb_claude_home_prepare (spec->project_dir, error)) == NULL)
    return FALSE;

  add_plan_header (setup, home);
  if (!add_system (setup, error) ||
      !add_home (setup, ctl_dir, home, claude_home, error) ||
      /* A disk image brings its own programs. */
      (claude != NULL && opts->vm_image == NULL &&
       !add_claude_install (setup, claude, &path_env, error)) ||
      !add_user_binds (setup, home, error) ||
      !add_project (setup, error))
    return FALSE;
  add_environment (setup, home, shell, path_env, token);

  /* Last, the plan itself: 0600 in a 0700 folder, deleted by the guest once read. */
  return g_file_set_contents_full (config, (const char *) setup->plan->data,
                                   setup->plan->len, G_FILE_SET_CONTENTS_NONE, 0600,
                                   error);
}

/* ---- the disk-image mode --------------------------------------------------------- */

/* "qcow2" or "raw", from the image's first bytes. */
static const char *
image_format (const char *image,
              GError    **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (image);
  g_autoptr(GFileInputStream) in = g_file_read (file, NULL, error);
  guint8 magic[4] = { 0 };
  gsize got = 0;

  if (in == NULL ||
      !g_input_stream_read_all (G_INPUT_STREAM (in), magic, sizeof magic, &got, NULL, error))
    {
      g_prefix_error (error, "cannot read the disk image '%s': ", image);
      return NULL;
    }
  return got == 4 && memcmp (magic, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
}

/* A qcow2 overlay backed by @image (never written): qemu-img from an argv, no shell.
 * Runs in the start thread. */
static gboolean
create_overlay (const char *image,
                const char *overlay,
                GError    **error)
{
  const char *format = image_format (image, error);
  g_autofree char *err = NULL;
  int wait_status;

  if (format == NULL)
    return FALSE;
  {
    const char *argv[] = {
      "qemu-img", "create", "-q", "-f", "qcow2", "-F", format, "-b", image, overlay, NULL
    };

    if (!g_spawn_sync (NULL, (char **) argv, NULL,
                       G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                       &err, &wait_status, error))
      {
        g_prefix_error (error, "cannot create the disk image's overlay (qemu-img, from "
                        "qemu-utils): ");
        if (error != NULL && *error != NULL && (*error)->domain == G_SPAWN_ERROR &&
            (*error)->code == G_SPAWN_ERROR_NOENT)
          {
            GError *e = *error;
            *error = g_error_new_literal (CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE, e->message);
            g_error_free (e);
          }
        return FALSE;
      }
  }
  if (!g_spawn_check_wait_status (wait_status, NULL))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "cannot create an overlay of the disk image '%s' (%s): %s", image, format,
                   g_strstrip (err));
      return FALSE;
    }
  return TRUE;
}

/* ---- starting ------------------------------------------------------------------- */

typedef struct
{
  virConnectPtr conn;
  virDomainPtr  domain;
  virStreamPtr  console;
  gboolean      test_driver;
  GArray       *pids;
  GStrv         protections;
  char         *display;
  char         *ctl_dir;
  CsbVmStdio   *stdio;
  int           winsize_fd;
} StartResult;

static void
start_result_free (StartResult *result)
{
  csb_libvirt_discard (result->conn, result->domain, result->console, TRUE);
  csb_vm_stdio_stop (result->stdio);
  if (result->winsize_fd >= 0)
    close (result->winsize_fd);
  if (result->pids != NULL)
    {
      reap_pids (result->pids, SIGTERM);
      g_array_unref (result->pids);
    }
  g_strfreev (result->protections);
  g_free (result->display);
  g_free (result->ctl_dir);
  g_free (result);
}

static void
write_adopt_file (CsbSandboxSpec *spec,
                  const char     *uri,
                  GArray         *pids)
{
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autofree char *path = g_build_filename (spec->runtime_dir, ADOPT_FILE, NULL);
  g_autoptr(GError) error = NULL;

  g_key_file_set_string (keyfile, "vm", "uri", uri);
  g_key_file_set_integer_list (keyfile, "vm", "virtiofsd", (int *) pids->data, pids->len);
  if (!g_key_file_save_to_file (keyfile, path, &error))
    g_warning ("sandbox %s: a restarted service will not find its VM's virtiofsd: %s",
               spec->id, error->message);
}

/* The boot's files: the kernel (with its modules' folder), our init and the
 * initramfs made of them (cached); the display's compositor and virtiofsd checked
 * to be there. */
static gboolean
find_boot_files (CsbSandboxSpec *spec,
                 char          **kernel,
                 char          **initrd,
                 GError        **error)
{
  g_autofree char *modules_dir = NULL;
  g_autofree char *init = NULL;
  g_autofree char *cache_dir = g_build_filename (g_get_user_cache_dir (), "claude-sandbox", NULL);

  if (spec->options->display && !g_file_test (GUEST_COMPOSITOR, G_FILE_TEST_IS_EXECUTABLE))
    {
      /* Rather than a black screen: the guest runs the host's weston (its /usr). */
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "the VM's display needs a Wayland compositor in the guest, which runs the "
                   "host's %s: install the package weston", GUEST_COMPOSITOR);
      return FALSE;
    }
  if ((*kernel = csb_vm_find_kernel_for (spec->settings, spec->options->display, &modules_dir,
                                         error)) == NULL ||
      (init = find_guest_init (error)) == NULL ||
      (*initrd = csb_initramfs_ensure (modules_dir, init, "/etc", cache_dir, error)) == NULL)
    return FALSE;
  if (!g_file_test (VIRTIOFSD, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_BACKEND_UNAVAILABLE,
                   "virtiofsd is not installed (%s is missing; install qemu-system-common)",
                   VIRTIOFSD);
      return FALSE;
    }
  return TRUE;
}

/* The control folder and its share, the domain's first: the init mounts it by its
 * tag, csb-ctl. */
static gboolean
start_control_share (CsbSandboxSpec    *spec,
                     StartResult       *result,
                     CsbVmDomainConfig *domain,
                     GError           **error)
{
  g_autofree char *sock = g_build_filename (spec->runtime_dir, "vfs-ctl.sock", NULL);
  g_autofree char *log = g_build_filename (spec->state_dir, "virtiofsd.log", NULL);
  GPid pid;

  if (g_mkdir_with_parents (result->ctl_dir, 0700) != 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create '%s': %s",
                   result->ctl_dir, g_strerror (errno));
      return FALSE;
    }
  if (!start_virtiofsd (result->ctl_dir, sock, log, SHARE_PLAIN, &pid, error))
    return FALSE;
  g_array_append_val (result->pids, pid);
  csb_vm_domain_config_add_share (domain, "csb-ctl", sock);
  return TRUE;
}

/* The rest of the domain's description: the machine, the boot, the network (whole,
 * or filtered through our relay), the display and the command's stdio ports or the
 * terminal's size port. */
static gboolean
describe_domain (CsbSandboxSpec    *spec,
                 StartResult       *result,
                 CsbVmDomainConfig *domain,
                 const char        *kernel,
                 const char        *initrd,
                 GError           **error)
{
  domain->sandbox_id = g_strdup (spec->id);
  domain->name = g_strdup (spec->options->name);
  domain->project_dir = g_strdup (spec->project_dir);
  g_free (domain->virt_type);
  domain->virt_type = g_strdup (csb_vm_choose_virt_type (spec->settings, kernel, initrd));
  domain->memory_mib = spec->options->vm_memory_mib;
  domain->cpus = spec->options->vm_cpus;
  domain->kernel = g_strdup (kernel);
  domain->initrd = g_strdup (initrd);
  domain->cmdline = g_strdup (CSB_VM_KERNEL_CMDLINE);
  domain->serial_log = g_build_filename (spec->state_dir, "boot.log", NULL);
  domain->console_log = g_build_filename (spec->state_dir, CSB_CONSOLE_LOG_FILE, NULL);
  domain->network = spec->options->network;
  if (spec->net_proxy_socket != NULL)
    {
      /* The socket is in the sandbox's runtime folder, created by the service: no
       * part of the command QEMU runs comes from the caller. */
      domain->network = FALSE;
      if ((domain->net_relay_helper = find_relay_helper (error)) == NULL)
        return FALSE;
      domain->net_proxy_socket = g_strdup (spec->net_proxy_socket);
    }
  if (spec->options->display)
    {
      domain->spice_socket = g_build_filename (spec->runtime_dir, SPICE_SOCKET, NULL);
      result->display = g_strconcat ("spice+unix://", domain->spice_socket, NULL);
    }
  if (!spec->stdio_is_pty)
    {
      static const char * const names[] = { "stdin.sock", "stdout.sock", "stderr.sock" };

      for (guint i = 0; i < G_N_ELEMENTS (names); i++)
        domain->stdio_sockets[i] = g_build_filename (spec->runtime_dir, names[i], NULL);
    }
  else
    domain->winsize_socket = g_build_filename (spec->runtime_dir, CSB_VM_WINSIZE_SOCKET, NULL);
  return TRUE;
}

/* The domain created from @xml, paused until the console is attached (nothing the
 * guest prints is lost), its events watched and its console opened; libvirt's test
 * driver runs nothing and may have no console. */
static gboolean
create_domain (CsbVmBackend   *self,
               CsbSandboxSpec *spec,
               StartResult    *result,
               const char     *xml,
               GError        **error)
{
  const char *driver;

  if ((result->conn = open_connection (spec->settings, error)) == NULL)
    return FALSE;
  driver = virConnectGetType (result->conn);
  result->test_driver = g_strcmp0 (driver, "TEST") == 0;

  result->domain = virDomainCreateXML (result->conn, xml,
                                       result->test_driver ? 0 : VIR_DOMAIN_START_PAUSED);
  if (result->domain == NULL)
    {
      csb_libvirt_set_error (error, CSB_ERROR_FAILED, "cannot start the VM");
      return FALSE;
    }
  csb_domain_run_watch_events (&self->run, result->conn, result->domain);
  result->console = virStreamNew (result->conn, 0);
  if (result->console != NULL &&
      virDomainOpenConsole (result->domain, CSB_VM_CONSOLE_ALIAS, result->console,
                            VIR_DOMAIN_CONSOLE_FORCE) != 0)
    {
      virErrorPtr err = virGetLastError ();

      if (!result->test_driver)
        {
          csb_libvirt_set_error (error, CSB_ERROR_FAILED, "cannot open the VM's console");
          return FALSE;
        }
      g_debug ("sandbox %s: no console (%s)", spec->id, err ? err->message : "?");
      virStreamFree (result->console);
      result->console = NULL;
    }
  return TRUE;
}

/* The command's stdio ports and the terminal's size port connected before the guest
 * runs (a port whose host end is not there reads as EOF), then the guest resumed. */
static gboolean
connect_and_resume (CsbSandboxSpec    *spec,
                    StartResult       *result,
                    CsbVmDomainConfig *domain,
                    GError           **error)
{
  if (!result->test_driver && domain->stdio_sockets[0] != NULL &&
      (result->stdio = csb_vm_stdio_start ((const char * const *) domain->stdio_sockets,
                                           spec->stdio_fds, result->ctl_dir, error)) == NULL)
    return FALSE;
  if (!result->test_driver && domain->winsize_socket != NULL &&
      (result->winsize_fd = csb_vm_winsize_connect (domain->winsize_socket, error)) < 0)
    return FALSE;
  if (result->winsize_fd >= 0)
    {
      /* The guest's init waits for a first line before it starts the command. */
      struct winsize ws = { 0 };

      ioctl (spec->stdio_fds[0], TIOCGWINSZ, &ws);
      csb_vm_winsize_send (result->winsize_fd, ws.ws_col, ws.ws_row);
    }
  if (!result->test_driver && virDomainResume (result->domain) != 0)
    {
      csb_libvirt_set_error (error, CSB_ERROR_FAILED, "cannot start the VM");
      return FALSE;
    }
  return TRUE;
}

/* What the VM itself adds to the protections build_guest() listed: its kernel, KVM
 * or TCG, the shares, the network. */
static void
add_vm_protections (GPtrArray      *protections,
                    CsbSandboxSpec *spec,
                    const char     *virt_type)
{
  csb_protections_insert (protections, 0, "separate-kernel");
  if (g_str_equal (virt_type, "kvm"))
    csb_protections_insert (protections, 1, "vm-kvm");
  else
    csb_protections_insert (protections, 1, "vm-tcg");
  csb_protections_add (protections, "shares-virtiofs");
  if (spec->net_proxy_socket != NULL)
    csb_protections_add (protections, "network-filtered");
  else if (!spec->options->network)
    csb_protections_add (protections, "no-network");
}

static void
start_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  CsbVmBackend *self = source_object;
  CsbSandboxSpec *spec = task_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbVmDomainConfig) domain = csb_vm_domain_config_new ();
  g_autoptr(GPtrArray) protections = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *kernel = NULL;
  g_autofree char *initrd = NULL;
  g_autofree char *xml = NULL;
  g_autofree char *uri = vm_uri (spec->settings);
  StartResult *result = g_new0 (StartResult, 1);
  Setup setup = { spec, domain, NULL, protections, NULL, 0 };
  gint64 t0 = g_get_monotonic_time ();

  result->winsize_fd = -1;

  result->pids = g_array_new (FALSE, TRUE, sizeof (GPid));
  setup.pids = result->pids;
  setup.plan = g_byte_array_new ();
  result->ctl_dir = g_build_filename (spec->runtime_dir, "ctl", NULL);

  if (!find_boot_files (spec, &kernel, &initrd, &error) ||
      !start_control_share (spec, result, domain, &error))
    goto fail;
  if (spec->options->vm_image != NULL)
    {
      domain->disk = g_build_filename (spec->runtime_dir, "disk.qcow2", NULL);
      if (!create_overlay (spec->options->vm_image, domain->disk, &error))
        goto fail;
      csb_protections_add (protections, "vm-image-overlay");
    }
  if (!build_guest (&setup, result->ctl_dir, &error) ||
      !describe_domain (spec, result, domain, kernel, initrd, &error))
    goto fail;
  xml = csb_vm_domain_to_xml (domain);
  if (!create_domain (self, spec, result, xml, &error) ||
      !connect_and_resume (spec, result, domain, &error))
    goto fail;

  add_vm_protections (protections, spec, domain->virt_type);
  g_ptr_array_add (protections, NULL);
  result->protections = (GStrv) g_ptr_array_free (g_steal_pointer (&protections), FALSE);
  g_message ("sandbox %s: VM %s%s on %s (%s, kernel %s, %u shares over virtiofs) started in "
             "%.2f s", spec->id, CSB_VM_DOMAIN_PREFIX, spec->id, uri, domain->virt_type, kernel,
             domain->shares->len, (g_get_monotonic_time () - t0) / 1e6);
  write_adopt_file (spec, uri, result->pids);
  g_byte_array_unref (setup.plan);
  g_task_return_pointer (task, result, (GDestroyNotify) start_result_free);
  return;

fail:
  if (setup.plan != NULL)
    g_byte_array_unref (setup.plan);
  csb_domain_run_unwatch_events (&self->run, result->conn);
  start_result_free (result);
  g_task_return_error (task, g_steal_pointer (&error));
}

/* ---- libvirt restarted ------------------------------------------------------------ */

/* The session daemon exits (a restart, a crash, its idle timeout does not apply while
 * a domain runs) and QEMU runs on: the connection, its domain events and the console
 * stream are gone with it. A new connection starts the daemon again, which finds the
 * domain again; the events and the console are registered anew on it. */

static void on_conn_closed (virConnectPtr conn, int reason, void *opaque);

static void
watch_connection (CsbVmBackend *self)
{
  if (self->run.conn != NULL && !self->test_driver &&
      virConnectRegisterCloseCallback (self->run.conn, on_conn_closed, g_object_ref (self),
                                       g_object_unref) != 0)
    g_object_unref (self);
}

/* In a worker thread: the connection is never closed under a running callback. */
static void
unwatch_connection (virConnectPtr conn)
{
  if (conn != NULL)
    virConnectUnregisterCloseCallback (conn, on_conn_closed);
}

/* ---- the end ------------------------------------------------------------------------ */

/* A set-up that failed says why on the console (our init's lines, weston's log):
 * its last lines into the error. What the guest wrote is hostile: printable ASCII
 * and newlines only, at most 1 KiB. */
static void
append_console_tail (const char *state_dir,
                     char      **error)
{
  g_autofree char *path = g_build_filename (state_dir, CSB_CONSOLE_LOG_FILE, NULL);
  g_autofree char *text = NULL;
  g_autoptr(GString) clean = g_string_new (NULL);
  gsize len = 0;
  const char *p;

  if (!g_file_get_contents (path, &text, &len, NULL) || len == 0)
    return;
  p = text + (len > 1024 ? len - 1024 : 0);
  for (; p < text + len; p++)
    if (*p == '\n' || (*p >= 0x20 && *p < 0x7f))
      g_string_append_c (clean, *p);
  g_strstrip (clean->str);
  if (clean->str[0] == '\0')
    return;
  {
    char *both = g_strdup_printf ("%s; the console says:\n%s", *error, clean->str);
    g_free (*error);
    *error = both;
  }
}

static void
cleanup (CsbDomainRun *run,
         CsbDomainEnd *end)
{
  CsbVmBackend *self = CSB_VM_BACKEND (run->backend);

  csb_domain_run_close (run);
  /* The guest waited for its output to be passed on (csb-vm-stdio.c). */
  g_clear_pointer (&self->stdio, csb_vm_stdio_stop);
  if (self->winsize_fd >= 0)
    close (self->winsize_fd);
  self->winsize_fd = -1;
  reap_pids (self->virtiofsd_pids, SIGTERM);
  g_debug ("sandbox %s: cleaned up", run->spec->id);
  csb_domain_run_read_end (run, end, self->test_driver,
                           "the VM could not set up the sandbox (its console, and boot.log in "
                           "the sandbox's state folder, say why)",
                           "the VM ended without reporting the command's exit status "
                           "(boot.log in the sandbox's state folder may say why)");
  if (end->error != NULL && !end->ran)
    append_console_tail (run->spec->state_dir, &end->error);
  if (self->claude_json)
    csb_libvirt_write_back_claude_home (run->spec->project_dir, run->spec->id);
}

/* The size the service's pty has now (a ResizeTerminal may have come while the VM
 * started), to the guest. */
static void
send_pty_size (CsbVmBackend *self)
{
  struct winsize ws;

  if (self->winsize_fd >= 0 && self->run.spec->stdio_is_pty &&
      ioctl (self->run.spec->stdio_fds[0], TIOCGWINSZ, &ws) == 0)
    csb_vm_winsize_send (self->winsize_fd, ws.ws_col, ws.ws_row);
}

static void
csb_vm_backend_terminal_resized (CsbBackend *backend,
                                 guint16     columns,
                                 guint16     rows)
{
  CsbVmBackend *self = CSB_VM_BACKEND (backend);

  csb_vm_winsize_send (self->winsize_fd, columns, rows);
}

static void
on_started (GObject      *source,
            GAsyncResult *res,
            gpointer      user_data)
{
  CsbVmBackend *self = CSB_VM_BACKEND (source);
  StartResult *result = csb_domain_run_start_result (&self->run, res);

  if (result == NULL)
    return;
  self->run.conn = g_steal_pointer (&result->conn);
  self->run.domain = g_steal_pointer (&result->domain);
  self->run.console = g_steal_pointer (&result->console);
  self->test_driver = result->test_driver;
  self->virtiofsd_pids = g_steal_pointer (&result->pids);
  self->run.protections = g_steal_pointer (&result->protections);
  self->display = g_steal_pointer (&result->display);
  self->run.ctl_dir = g_steal_pointer (&result->ctl_dir);
  self->claude_json = TRUE;
  self->stdio = g_steal_pointer (&result->stdio);
  self->run.console_to_stderr = self->stdio != NULL;
  self->winsize_fd = result->winsize_fd;
  result->winsize_fd = -1;
  send_pty_size (self);
  start_result_free (result);
  watch_connection (self);
  csb_domain_run_attach (&self->run, self->test_driver);
}

static void
csb_vm_backend_start_async (CsbBackend         *backend,
                            CsbSandboxSpec     *spec,
                            GCancellable       *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer            user_data)
{
  csb_domain_run_start (&CSB_VM_BACKEND (backend)->run, spec, cancellable, callback, user_data);
}

static gboolean
csb_vm_backend_start_finish (CsbBackend   *backend,
                             GAsyncResult *result,
                             GError      **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- stopping ------------------------------------------------------------------- */

static void
csb_vm_backend_stop (CsbBackend *backend,
                     guint       timeout_s)
{
  csb_domain_run_stop (&CSB_VM_BACKEND (backend)->run, timeout_s);
}

/* ---- taking over a VM of a previous service ------------------------------------ */

/* A VM that ended while no service ran: what it printed meanwhile (libvirt's log of
 * the console, past what the last bridge passed on) into the fresh terminal. In the
 * adopt thread: the terminal that reads it is in the main one. */
static void
replay_missed_output (CsbVmBackend *self)
{
  g_autofree char *log = g_build_filename (self->run.spec->state_dir, CSB_CONSOLE_LOG_FILE,
                                           NULL);
  guint64 total;

  if (self->run.adopt_fds[1] >= 0)
    csb_console_log_replay (log, csb_console_count_load (self->run.spec->runtime_dir),
                            self->run.adopt_fds[1], &total);
}

static void
free_pids (gpointer pids)
{
  g_array_unref (pids);
}

static void
adopt_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  CsbVmBackend *self = source_object;
  CsbSandboxSpec *spec = self->run.spec;
  g_autofree char *path = g_build_filename (spec->runtime_dir, ADOPT_FILE, NULL);
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autofree char *uri = NULL;
  g_autofree char *name = csb_vm_domain_name (spec->id);
  g_autofree int *pids = NULL;
  g_autoptr(GArray) pid_array = g_array_new (FALSE, TRUE, sizeof (GPid));
  gsize n_pids = 0;
  virConnectPtr conn;
  CsbDomainFound *found;
  GError *error = NULL;

  if (g_key_file_load_from_file (keyfile, path, G_KEY_FILE_NONE, NULL))
    {
      uri = g_key_file_get_string (keyfile, "vm", "uri", NULL);
      pids = g_key_file_get_integer_list (keyfile, "vm", "virtiofsd", &n_pids, NULL);
      if (pids != NULL)
        g_array_append_vals (pid_array, pids, n_pids);
    }
  if (uri == NULL)
    uri = vm_uri (spec->settings);

  if ((conn = csb_libvirt_open (uri, &error)) == NULL ||
      (found = csb_domain_run_find (&self->run, conn, uri, name, CSB_VM_METADATA_NS,
                                    CSB_VM_CONSOLE_ALIAS, &error)) == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  found->extra = g_steal_pointer (&pid_array);
  found->extra_free = free_pids;
  if (!found->running)
    replay_missed_output (self);
  g_debug ("sandbox %s: %u virtiofsd of its VM", spec->id,
           ((GArray *) found->extra)->len);
  g_task_return_pointer (task, found, (GDestroyNotify) csb_domain_found_free);
}

static void
adopted (CsbDomainRun   *run,
         CsbDomainFound *found)
{
  CsbVmBackend *self = CSB_VM_BACKEND (run->backend);

  g_clear_pointer (&self->virtiofsd_pids, g_array_unref);
  self->virtiofsd_pids = g_steal_pointer (&found->extra);
  watch_connection (self);
  /* The console's size channel (a VM with a terminal): the guest hears the next
   * resize again (a viewer sizes its terminal as it attaches). */
  if (found->running)
    {
      g_autofree char *winsize = g_build_filename (run->spec->runtime_dir,
                                                   CSB_VM_WINSIZE_SOCKET, NULL);
      g_autoptr(GError) error = NULL;

      if (g_file_test (winsize, G_FILE_TEST_EXISTS) &&
          (self->winsize_fd = csb_vm_winsize_connect (winsize, &error)) < 0)
        g_debug ("sandbox %s: %s", run->spec->id, error->message);
    }
}

/* A VM a previous service started: found again by its name and metadata, its
 * console bridged to the fresh terminal in @spec's stdio (if it had one), its end
 * watched as at start. Finishes in a worker thread; a VM that is gone reports
 * the status its init left in the control share. */
static gboolean
csb_vm_backend_adopt (CsbBackend         *backend,
                      CsbSandboxSpec     *spec,
                      const char * const *protections,
                      GError            **error)
{
  CsbVmBackend *self = CSB_VM_BACKEND (backend);

  g_autofree char *spice = g_build_filename (spec->runtime_dir, SPICE_SOCKET, NULL);
  struct stat st;

  self->claude_json = TRUE;
  /* QEMU made it for the VM's display: OpenDisplay works again. */
  if (lstat (spice, &st) == 0 && S_ISSOCK (st.st_mode))
    self->display = g_strconcat ("spice+unix://", spice, NULL);
  csb_domain_run_adopt (&self->run, spec, protections);
  return TRUE;
}

/* ---- connecting again after libvirt went ---------------------------------------- */

typedef struct
{
  virConnectPtr     old_conn;
  virDomainPtr      old_domain;
  virStreamPtr      old_console;  /* freed once the bridge no longer uses it */
} Reconnect;

static void
reconnect_free (Reconnect *old)
{
  if (old->old_console != NULL)
    virStreamFree (old->old_console);
  g_free (old);
}

static void
reconnect_thread (GTask        *task,
                  gpointer      source_object,
                  gpointer      task_data,
                  GCancellable *cancellable)
{
  CsbVmBackend *self = source_object;
  Reconnect *old = task_data;
  g_autofree char *uri = vm_uri (self->run.spec->settings);
  g_autofree char *name = csb_vm_domain_name (self->run.spec->id);
  CsbDomainFound *result = g_new0 (CsbDomainFound, 1);
  GError *error = NULL;

  /* What was bound to the dead connection (the console: see on_reconnected). */
  g_clear_pointer (&old->old_domain, virDomainFree);
  unwatch_connection (old->old_conn);
  if (old->old_conn != NULL)
    virConnectClose (g_steal_pointer (&old->old_conn));

  /* The daemon starts on demand; one going down may still hold its socket a moment. */
  for (guint tries = 0; result->conn == NULL; tries++)
    {
      g_clear_error (&error);
      if ((result->conn = csb_libvirt_open (uri, &error)) == NULL && tries >= 50)
        {
          g_prefix_error (&error, "libvirt went away and ");
          csb_domain_found_free (result);
          g_task_return_error (task, error);
          return;
        }
      if (result->conn == NULL)
        g_usleep (200000);
    }
  g_clear_error (&error);
  result->domain = virDomainLookupByName (result->conn, name);
  if (result->domain != NULL)
    {
      csb_domain_run_watch_events (&self->run, result->conn, result->domain);
      result->running = virDomainIsActive (result->domain) == 1;
    }
  /* The pty's lock file names the old daemon until it is all gone: a few tries. */
  for (guint tries = 0; result->running && old->old_console != NULL && result->console == NULL;
       tries++)
    {
      g_clear_error (&error);
      result->console = csb_libvirt_open_console (result->conn, result->domain,
                                                  CSB_VM_CONSOLE_ALIAS,
                                                  VIR_DOMAIN_CONSOLE_FORCE, &error);
      if (result->console == NULL && tries >= 25)
        {
          g_message ("sandbox %s: its terminal stays silent: %s", self->run.spec->id,
                     error->message);
          break;
        }
      if (result->console == NULL)
        g_usleep (200000);
    }
  g_clear_error (&error);
  g_message ("sandbox %s: libvirt connection at %s restored, VM %s %s", self->run.spec->id, uri,
             name, result->running ? "running" : "gone");
  g_task_return_pointer (task, result, (GDestroyNotify) csb_domain_found_free);
}

static void
on_reconnected (GObject      *source,
                GAsyncResult *res,
                gpointer      user_data)
{
  CsbVmBackend *self = CSB_VM_BACKEND (source);
  g_autoptr(GError) error = NULL;
  CsbDomainFound *result = g_task_propagate_pointer (G_TASK (res), &error);

  self->run.adopting = FALSE;
  self->reconnect_queued = FALSE;
  if (result == NULL)
    {
      g_clear_pointer (&self->run.bridge, csb_console_bridge_stop);
      g_message ("sandbox %s: %s", self->run.spec->id, error->message);
      self->run.ended = TRUE;
      csb_backend_emit_exited (CSB_BACKEND (self), 255, error->message);
      return;
    }
  self->run.conn = g_steal_pointer (&result->conn);
  self->run.domain = g_steal_pointer (&result->domain);
  self->run.console = g_steal_pointer (&result->console);
  self->run.attached = TRUE;
  if (!result->running)
    self->run.end_pending = TRUE;
  csb_domain_found_free (result);
  watch_connection (self);
  /* The terminal stays; its bridge moves to the new stream. */
  if (self->run.bridge != NULL && self->run.console != NULL)
    csb_console_bridge_restart (self->run.bridge, self->run.console);
  else
    g_clear_pointer (&self->run.bridge, csb_console_bridge_stop);

  if (self->run.end_pending)
    csb_domain_run_ended (&self->run);
  else if (self->run.stop_pending && !self->run.stopping)
    csb_domain_run_stop (&self->run, self->run.stop_timeout);
  else if (self->run.stopping && self->run.destroy_timeout_id == 0)
    csb_domain_run_shutdown (&self->run, TRUE); /* its destroy came while there was no connection */
}

static gboolean
reconnect_idle (gpointer user_data)
{
  CsbVmBackend *self = user_data;
  Reconnect *old;
  g_autoptr(GTask) task = NULL;

  /* Ended or ending (the cleanup has the connection) or busy taking it over. */
  if (self->run.ended || !self->run.attached || self->run.adopting || self->run.conn == NULL)
    {
      self->reconnect_queued = FALSE;
      return G_SOURCE_REMOVE;
    }
  g_message ("sandbox %s: libvirt closed the connection; connecting again", self->run.spec->id);
  old = g_new0 (Reconnect, 1);
  old->old_conn = g_steal_pointer (&self->run.conn);
  old->old_domain = g_steal_pointer (&self->run.domain);
  old->old_console = g_steal_pointer (&self->run.console);
  self->run.event_id = -1;
  /* Until it is back: Stop() waits for it, an end is handled after it. */
  self->run.attached = FALSE;
  self->run.adopting = TRUE;
  task = g_task_new (self, self->run.cancellable, on_reconnected, NULL);
  g_task_set_task_data (task, old, (GDestroyNotify) reconnect_free);
  g_task_run_in_thread (task, reconnect_thread);
  return G_SOURCE_REMOVE;
}

static void
on_conn_closed (virConnectPtr conn,
                int           reason,
                void         *opaque)
{
  CsbVmBackend *self = opaque;

  if (reason == VIR_CONNECT_CLOSE_REASON_CLIENT || g_atomic_int_get (&self->reconnect_queued))
    return;
  g_atomic_int_set (&self->reconnect_queued, TRUE);
  g_idle_add_full (G_PRIORITY_DEFAULT, reconnect_idle, g_object_ref (self), g_object_unref);
}

static GStrv
csb_vm_backend_get_protections (CsbBackend *backend)
{
  return csb_domain_run_dup_protections (&CSB_VM_BACKEND (backend)->run);
}

static char *
csb_vm_backend_dup_display (CsbBackend *backend)
{
  return g_strdup (CSB_VM_BACKEND (backend)->display);
}

/* The socket is in the sandbox's runtime folder, which only the service and QEMU
 * reach (both the user's, outside the guest; no password, no TCP): what answers
 * there is QEMU's SPICE server. One connection per SPICE channel. */
static int
csb_vm_backend_open_display (CsbBackend *backend,
                             GError    **error)
{
  CsbVmBackend *self = CSB_VM_BACKEND (backend);
  g_autoptr(GError) local_error = NULL;
  g_autofree char *path = NULL;
  int fd;

  if (self->display == NULL || self->run.spec == NULL)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                   "the sandbox has no display (launch it with the display option)");
      return -1;
    }
  if (self->run.ended)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                   "sandbox %s has ended: its display is gone", self->run.spec->id);
      return -1;
    }
  path = g_build_filename (self->run.spec->runtime_dir, SPICE_SOCKET, NULL);
  if ((fd = csb_file_connect_socket (path, &local_error)) < 0)
    g_set_error (error, CSB_ERROR, CSB_ERROR_NOT_RUNNING,
                 "the display of sandbox %s is not reachable: %s", self->run.spec->id,
                 local_error->message);
  return fd;
}

static gboolean
csb_vm_backend_check_available (CsbBackendClass *klass,
                                GSettings       *settings,
                                char           **detail)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = vm_uri (settings);
  g_autofree char *modules_dir = NULL;
  g_autofree char *kernel = NULL;
  g_autofree char *init = NULL;
  g_autofree char *qemu = NULL;
  virConnectPtr conn;
  unsigned long version = 0;
  const char *type;

  if ((kernel = csb_vm_find_kernel (settings, &modules_dir, &error)) == NULL ||
      (init = find_guest_init (&error)) == NULL)
    {
      *detail = g_strdup (error->message);
      return FALSE;
    }
  if (is_local_uri (uri) && !g_str_has_prefix (uri, "test:") &&
      (qemu = g_find_program_in_path ("qemu-system-x86_64")) == NULL &&
      !g_file_test ("/usr/bin/qemu-system-x86_64", G_FILE_TEST_IS_EXECUTABLE))
    {
      *detail = g_strdup ("QEMU is not installed (install qemu-system-x86)");
      return FALSE;
    }
  if (!g_file_test (VIRTIOFSD, G_FILE_TEST_IS_EXECUTABLE))
    {
      *detail = g_strdup_printf ("virtiofsd is not installed (%s is missing; install "
                                 "qemu-system-common)", VIRTIOFSD);
      return FALSE;
    }
  if ((conn = open_connection (settings, &error)) == NULL)
    {
      *detail = g_strdup (error->message);
      return FALSE;
    }
  virConnectGetLibVersion (conn, &version);
  type = csb_vm_choose_virt_type (settings, kernel, NULL);
  {
    g_autofree char *accel = get_setting (settings, "vm-accel", "auto");
    const char *how = g_str_equal (type, "kvm") ? "KVM" : "TCG (no KVM)";

    /* 'auto' before the first launch's test boot. */
    if (g_str_equal (accel, "auto") && !g_str_equal (type, "kvm") &&
        access ("/dev/kvm", R_OK | W_OK) == 0 && kvm_cached_verdict (kernel) < 0)
      how = "KVM if a test boot at the first launch works, else TCG";
    *detail = g_strdup_printf ("libvirt %lu.%lu.%lu at %s, kernel %s, %s, shares over virtiofs",
                               version / 1000000, version / 1000 % 1000, version % 1000, uri,
                               kernel, how);
  }
  virConnectClose (conn);
  return TRUE;
}

static void
csb_vm_backend_dispose (GObject *object)
{
  CsbVmBackend *self = CSB_VM_BACKEND (object);

  csb_domain_run_dispose (&self->run);
  G_OBJECT_CLASS (csb_vm_backend_parent_class)->dispose (object);
}

static void
csb_vm_backend_finalize (GObject *object)
{
  CsbVmBackend *self = CSB_VM_BACKEND (object);

  csb_domain_run_finalize (&self->run);
  g_clear_pointer (&self->stdio, csb_vm_stdio_stop);
  if (self->winsize_fd >= 0)
    close (self->winsize_fd);
  self->winsize_fd = -1;
  g_clear_pointer (&self->virtiofsd_pids, g_array_unref);
  g_free (self->display);
  G_OBJECT_CLASS (csb_vm_backend_parent_class)->finalize (object);
}

static void
csb_vm_backend_class_init (CsbVmBackendClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  CsbBackendClass *backend_class = CSB_BACKEND_CLASS (klass);

  object_class->dispose = csb_vm_backend_dispose;
  object_class->finalize = csb_vm_backend_finalize;

  backend_class->name = "vm";
  backend_class->check_available = csb_vm_backend_check_available;
  backend_class->start_async = csb_vm_backend_start_async;
  backend_class->start_finish = csb_vm_backend_start_finish;
  backend_class->stop = csb_vm_backend_stop;
  backend_class->get_protections = csb_vm_backend_get_protections;
  backend_class->dup_display = csb_vm_backend_dup_display;
  backend_class->open_display = csb_vm_backend_open_display;
  backend_class->adopt = csb_vm_backend_adopt;
  backend_class->terminal_resized = csb_vm_backend_terminal_resized;
  backend_class->filters_network = TRUE;
}

static const CsbDomainRunOps run_ops = {
  .what = "the VM",
  .shutdown_flags = VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN,
  /* The previous service's stream died with it; libvirt may still hold it. */
  .console_flags = VIR_DOMAIN_CONSOLE_FORCE,
  .source_tag = csb_vm_backend_start_async,
  .start_thread = start_thread,
  .start_done = on_started,
  .cleanup = cleanup,
  .close_cb = on_conn_closed,
  .adopt_thread = adopt_thread,
  .adopted = adopted,
};

static void
csb_vm_backend_init (CsbVmBackend *self)
{
  csb_domain_run_init (&self->run, CSB_BACKEND (self), &run_ops);
  self->run.count_console = TRUE;
  self->winsize_fd = -1;
}
