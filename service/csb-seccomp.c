/* csb-seccomp.c
 *
 * A Flatpak-class blocklist. Nested user namespaces (and so mount, unshare,
 * pivot_root) stay allowed: Claude Code runs its own bwrap sandbox inside ours,
 * and none of that reaches beyond our namespaces. The new mount API and clone3
 * answer ENOSYS so that libraries fall back to calls the filter can see.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-error.h"
#include "csb-seccomp.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (scmp_filter_ctx, seccomp_release)

typedef struct
{
  const char *name;
  int         errnum;
} BlockedSyscall;

static const BlockedSyscall blocked_syscalls[] = {
  /* The kernel keyring is not namespaced: keys would outlive and escape the sandbox. */
  { "add_key", EPERM },
  { "keyctl", EPERM },
  { "request_key", EPERM },
  /* Kernel and host state. */
  { "syslog", EPERM },
  { "uselib", EPERM },
  { "acct", EPERM },
  { "quotactl", EPERM },
  { "lookup_dcookie", EPERM },
  { "kexec_load", EPERM },
  { "kexec_file_load", EPERM },
  { "init_module", EPERM },
  { "finit_module", EPERM },
  { "delete_module", EPERM },
  { "reboot", EPERM },
  { "swapon", EPERM },
  { "swapoff", EPERM },
  { "settimeofday", EPERM },
  { "clock_settime", EPERM },
  { "clock_adjtime", EPERM },
  { "adjtimex", EPERM },
  { "iopl", EPERM },
  { "ioperm", EPERM },
  { "vm86", EPERM },
  { "vm86old", EPERM },
  { "modify_ldt", EPERM },
  { "bpf", EPERM },
  { "userfaultfd", EPERM },
  { "perf_event_open", EPERM },
  { "open_by_handle_at", EPERM },
  { "name_to_handle_at", EPERM },
  { "fanotify_init", EPERM },
  /* NUMA policy: information about the host, and a way to upset it. */
  { "move_pages", EPERM },
  { "mbind", EPERM },
  { "migrate_pages", EPERM },
  { "get_mempolicy", EPERM },
  { "set_mempolicy", EPERM },
  { "set_mempolicy_home_node", EPERM },
  /* io_uring does socket and file work that this filter would never see. */
  { "io_uring_setup", ENOSYS },
  { "io_uring_enter", ENOSYS },
  { "io_uring_register", ENOSYS },
  /* The new mount API: ENOSYS, so mount(8) and libmount fall back to mount(2). */
  { "open_tree", ENOSYS },
  { "move_mount", ENOSYS },
  { "fsopen", ENOSYS },
  { "fsconfig", ENOSYS },
  { "fsmount", ENOSYS },
  { "fspick", ENOSYS },
  { "mount_setattr", ENOSYS },
};

/* Everything else gets EAFNOSUPPORT, as if the kernel had no such family. */
static const int allowed_families[] = { AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6, AF_NETLINK };

static gboolean
family_allowed (int family)
{
  for (guint i = 0; i < G_N_ELEMENTS (allowed_families); i++)
    if (allowed_families[i] == family)
      return TRUE;
  return FALSE;
}

static gboolean
fail (GError    **error,
      int         r,
      const char *what)
{
  g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot build the seccomp filter (%s): %s",
               what, g_strerror (-r));
  return FALSE;
}

static gboolean
add_rules (scmp_filter_ctx ctx,
           GError        **error)
{
  int r;

  for (guint i = 0; i < G_N_ELEMENTS (blocked_syscalls); i++)
    {
      int nr = seccomp_syscall_resolve_name (blocked_syscalls[i].name);

      if (nr == __NR_SCMP_ERROR)
        continue;  /* unknown to this libseccomp: nothing to block */
      r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (blocked_syscalls[i].errnum), nr, 0);
      if (r < 0 && r != -EDOM)
        return fail (error, r, blocked_syscalls[i].name);
    }

  /* TIOCSTI pushes input into a terminal, TIOCLINUX can too: a sandbox must not type
   * into anyone's shell. The kernel compares only the low 32 bits of the request. */
  r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (ioctl), 1,
                        SCMP_A1 (SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, (int) TIOCSTI));
  if (r < 0)
    return fail (error, r, "ioctl TIOCSTI");
  r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (ioctl), 1,
                        SCMP_A1 (SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, (int) TIOCLINUX));
  if (r < 0)
    return fail (error, r, "ioctl TIOCLINUX");

  /* Only the default execution domain: others turn off ASLR (ADDR_NO_RANDOMIZE) or
   * change the address-space layout. */
  r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EINVAL), SCMP_SYS (personality), 1,
                        SCMP_A0 (SCMP_CMP_NE, PER_LINUX));
  if (r < 0)
    return fail (error, r, "personality");

  for (int family = 0; family < AF_MAX; family++)
    {
      if (family_allowed (family))
        continue;
      r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EAFNOSUPPORT), SCMP_SYS (socket), 1,
                            SCMP_A0 (SCMP_CMP_EQ, family));
      if (r < 0)
        return fail (error, r, "socket");
    }
  r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EAFNOSUPPORT), SCMP_SYS (socket), 1,
                        SCMP_A0 (SCMP_CMP_GE, AF_MAX));
  if (r < 0)
    return fail (error, r, "socket");

  return TRUE;
}

/* The filter, compiled: the same program for every sandbox. */
static GBytes *
compile_filter (GError **error)
{
  g_autoptr(scmp_filter_ctx) ctx = NULL;
  g_autofree char *program = NULL;
  struct stat st;
  int fd, r;

  ctx = seccomp_init (SCMP_ACT_ALLOW);
  if (ctx == NULL)
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot initialise libseccomp");
      return NULL;
    }

#if defined(__x86_64__)
  /* 32-bit x86 programs run on x86_64 too and must meet the same filter. */
  r = seccomp_arch_add (ctx, SCMP_ARCH_X86);
  if (r < 0 && r != -EEXIST)
    {
      fail (error, r, "x86 architecture");
      return NULL;
    }
#endif

  if (!add_rules (ctx, error))
    return NULL;

  fd = memfd_create ("claude-sandbox-seccomp", MFD_CLOEXEC);
  if (fd < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create the seccomp filter: %s",
                   g_strerror (errno));
      return NULL;
    }
  r = seccomp_export_bpf (ctx, fd);
  if (r < 0 || fstat (fd, &st) != 0 || st.st_size <= 0 ||
      pread (fd, (program = g_malloc (st.st_size)), st.st_size, 0) != st.st_size)
    {
      r = r < 0 ? r : -errno;
      close (fd);
      fail (error, r, "export");
      return NULL;
    }
  close (fd);
  return g_bytes_new_take (g_steal_pointer (&program), st.st_size);
}

int
csb_seccomp_filter_fd (GError **error)
{
  static GMutex lock;
  static GBytes *program;
  g_autoptr(GBytes) bytes = NULL;
  const guint8 *data;
  gsize len;
  int fd;

  /* Compiled once (a millisecond of every launch otherwise), then copied. */
  g_mutex_lock (&lock);
  if (program == NULL)
    program = compile_filter (error);
  bytes = program != NULL ? g_bytes_ref (program) : NULL;
  g_mutex_unlock (&lock);
  if (bytes == NULL)
    return -1;

  data = g_bytes_get_data (bytes, &len);
  fd = memfd_create ("claude-sandbox-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || write (fd, data, len) != (ssize_t) len || lseek (fd, 0, SEEK_SET) < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot create the seccomp filter: %s",
                   g_strerror (errno));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  return fd;
}
