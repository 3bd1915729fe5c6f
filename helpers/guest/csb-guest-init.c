/* csb-guest-init.c — PID 1 of a claude-sandbox VM.
 *
 * A small static program in the initramfs the service builds. It loads the
 * modules listed in /modules.order, mounts the control share (virtiofs tag
 * "csb-ctl"), reads the sandbox's plan from its "config" file and deletes it (the
 * file carries the secrets: they never touch the domain XML or an argv), builds
 * the sandbox's root from the plan, runs the command as the user on the console
 * (/dev/hvc0) or, with pipes and files as its stdio, on three virtio ports (its
 * stdout and stderr through pipes the init relays and counts, see csb-vm-stdio.c;
 * on the console, its size comes from the "winsize" port), writes its exit status to the control share and powers off.
 *
 * The plan's format and keywords are csb-plan.h's (plan_handlers says which the VM
 * takes). No libc beyond syscalls wrappers: no GLib here.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/input.h>
#include <linux/reboot.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "csb-init-plan.h"
#include "csb-plan.h"

#define CTL_DIR   "/ctl"
/* The host's share of /etc, in the initramfs (csb-initramfs.c). */
#define HOST_ETC  "/host-etc"
#define NEW_ROOT  "/newroot"
#define STOP_GRACE_S 5

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

static int console_fd = -1;
/* With the plan's "stdio 1": the command's stdin (a virtio port) and the pipes
 * its stdout and stderr go to, which the init relays to their ports. */
static int child_stdio[3] = { -1, -1, -1 };

static void
say (const char *fmt, ...)
{
  char buf[1024];
  va_list ap;
  int kmsg, n;

  va_start (ap, fmt);
  n = vsnprintf (buf, sizeof buf - 1, fmt, ap);
  va_end (ap);
  if (n < 0)
    return;
  if (n > (int) sizeof buf - 2)
    n = sizeof buf - 2;
  buf[n++] = '\n';
  kmsg = open ("/dev/kmsg", O_WRONLY | O_CLOEXEC);
  if (kmsg >= 0)
    {
      char line[1100];
      int m = snprintf (line, sizeof line, "csb-init: %.*s", n, buf);
      if (write (kmsg, line, m) < 0) {}
      close (kmsg);
    }
}

/* Every message of the set-up into the kernel log; its errors on the console too,
 * where the sandbox's user (and the service's start error) sees them. */
static void
log_to_kmsg (CsbInitLevel level,
             const char  *message)
{
  say ("%s", message);
  if (level == CSB_INIT_FAIL)
    csb_init_write_line (console_fd, "claude-sandbox VM: ", message);
}

static void
power_off (void)
{
  sync ();
  reboot (RB_POWER_OFF);
  for (;;)
    pause ();
}

static void
load_modules (const char *order_file)
{
  FILE *order = fopen (order_file, "re");
  char line[512];

  if (order == NULL)
    return;
  while (fgets (line, sizeof line, order) != NULL)
    {
      size_t len = strcspn (line, "\n");
      int fd, flags = 0;

      line[len] = '\0';
      if (len == 0)
        continue;
      fd = open (line, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        {
          say ("cannot open module %s: %s", line, strerror (errno));
          continue;
        }
      if (len > 3 && strcmp (line + len - 3, ".ko") != 0)
        flags = MODULE_INIT_COMPRESSED_FILE;
      if (syscall (SYS_finit_module, fd, "", flags) != 0 && errno != EEXIST)
        say ("cannot load module %s: %s", line, strerror (errno));
      close (fd);
    }
  fclose (order);
}

static int
mount_share (const char *tag,
             const char *target,
             int         readonly)
{
  unsigned long flags = MS_NOSUID | MS_NODEV | (readonly ? MS_RDONLY : 0);

  /* The device may still be probing right after its module loaded. */
  for (int i = 0; i < 200; i++)
    {
      if (mount (tag, target, "virtiofs", flags, NULL) == 0)
        return 0;
      if (errno != ENOENT && errno != ENODEV && errno != ENXIO)
        break;
      usleep (10000);
    }
  return -1;
}

/* ---- the plan ----------------------------------------------------------------- */

typedef CsbPlanCommand Command;

/* A bind's source on the init's own root (the control share, the initramfs's
 * /etc), not in the sandbox's. */
static int
on_init_root (const char *path)
{
  return strncmp (path, CTL_DIR "/", strlen (CTL_DIR) + 1) == 0 ||
         strcmp (path, HOST_ETC) == 0;
}

static int
bind_mount (const char *src,
            const char *dst,
            int         readonly)
{
  struct stat st;

  if (stat (src, &st) != 0)
    return -1;
  if (S_ISDIR (st.st_mode))
    csb_init_mkdir_p (dst, 0755);
  else
    {
      char parent[4096];
      int fd;

      snprintf (parent, sizeof parent, "%s", dst);
      if (strrchr (parent, '/') != NULL)
        *strrchr (parent, '/') = '\0';
      csb_init_mkdir_p (parent, 0755);
      fd = open (dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0)
        close (fd);
    }
  if (mount (src, dst, NULL, MS_BIND | MS_REC, NULL) != 0)
    return -1;
  if (readonly &&
      mount (NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
    return -1;
  return 0;
}

/* The root file system of the user's disk (its overlay, /dev/vda): its first
 * partition, or the whole disk. Every block file system type the kernel knows is
 * tried in turn. */
static int
mount_root_disk (const char *target)
{
  static const char * const devices[] = { "/dev/vda1", "/dev/vda", NULL };
  char types[32][32];
  int n_types = 0;
  FILE *fs;
  char line[128];

  /* The disk may still be probing right after virtio_blk loaded. */
  for (int i = 0; i < 300 && access ("/dev/vda", F_OK) != 0; i++)
    usleep (10000);
  usleep (50000);   /* and its partitions a moment after the disk */
  fs = fopen ("/proc/filesystems", "re");
  while (fs != NULL && n_types < 32 && fgets (line, sizeof line, fs) != NULL)
    if (strncmp (line, "nodev", 5) != 0)
      {
        char *name = line + strspn (line, " \t");
        name[strcspn (name, " \t\n")] = '\0';
        if (*name != '\0')
          snprintf (types[n_types++], sizeof types[0], "%s", name);
      }
  if (fs != NULL)
    fclose (fs);
  for (int d = 0; devices[d] != NULL; d++)
    {
      if (access (devices[d], F_OK) != 0)
        continue;
      for (int t = 0; t < n_types; t++)
        if (mount (devices[d], target, types[t], MS_NODEV, NULL) == 0)
          {
            say ("root: %s (%s)", devices[d], types[t]);
            return 0;
          }
    }
  errno = ENOENT;
  return -1;
}

/* Review mode (csb-review.c reads the upper layer on the host): the project's share
 * read-only as the lower layer, the sandbox's review folder (upper and work) as a
 * second share, and overlayfs over them at @path in the new root.
 *
 * The host's virtiofsd runs as the user and can create files as the user only. The
 * overlay does its own work (copy-up, whiteouts, opaque folders) with the
 * credentials it was mounted with, so it is mounted with the user's fsuid and fsgid:
 * everything reaches the host as the user's. Its capabilities are raised again
 * after the change of fsuid (which drops those of files): the overlay's work folder
 * has mode 0, which only CAP_DAC_OVERRIDE enters. userxattr: its
 * marks are user.overlay.* (the host refuses trusted.* to the user), whiteouts are
 * 0/0 character devices (which Linux 5.8 and later let anyone make), and
 * redirect_dir stays off, so a renamed folder is a deletion plus an addition. The
 * layers' own mounts go once the overlay holds them: the sandbox reaches its upper
 * layer through the overlay only. */
#define REVIEW_STAGE "/review"

/* Every permitted capability effective again. */
static int
raise_capabilities (void)
{
  struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2];

  if (syscall (SYS_capget, &header, data) != 0)
    return -1;
  data[0].effective = data[0].permitted;
  data[1].effective = data[1].permitted;
  return syscall (SYS_capset, &header, data);
}

static int
mount_review (const char    *lower_tag,
              const char    *rw_tag,
              const char    *path,
              const Command *cmd)
{
  const char *options = "lowerdir=" REVIEW_STAGE "/lower,upperdir=" REVIEW_STAGE "/rw/upper,"
                        "workdir=" REVIEW_STAGE "/rw/work,userxattr,redirect_dir=nofollow";
  int saved;

  if (csb_init_mkdir_p (REVIEW_STAGE "/lower", 0700) != 0 ||
      csb_init_mkdir_p (REVIEW_STAGE "/rw", 0700) != 0 ||
      mount_share (lower_tag, REVIEW_STAGE "/lower", 1) != 0 ||
      mount_share (rw_tag, REVIEW_STAGE "/rw", 0) != 0)
    {
      csb_init_fail ("cannot mount the review layers' shares: %s", strerror (errno));
      return -1;
    }
  if (csb_init_mkdir_p (csb_init_in_root (path), 0755) != 0)
    {
      csb_init_fail ("cannot make %s for the review overlay: %s", path, strerror (errno));
      return -1;
    }
  setfsgid (cmd->gid);
  setfsuid (cmd->uid);
  if (raise_capabilities () != 0 ||
      mount ("claude-sandbox-review", csb_init_in_root (path), "overlay", MS_NOSUID | MS_NODEV,
             options) != 0)
    {
      saved = errno;
      setfsuid (0);
      setfsgid (0);
      csb_init_fail ("cannot mount the review overlay at %s: %s", path, strerror (saved));
      return -1;
    }
  setfsuid (0);
  setfsgid (0);
  if (umount2 (REVIEW_STAGE "/lower", MNT_DETACH) != 0 ||
      umount2 (REVIEW_STAGE "/rw", MNT_DETACH) != 0)
    {
      csb_init_fail ("cannot hide the review layers: %s", strerror (errno));
      return -1;
    }
  return 0;
}

/* rootdisk: the disk's root file system as the new root. */
static int
plan_rootdisk (void           *data,
               CsbPlanKeyword  keyword,
               char          **args)
{
  if (mount_root_disk (NEW_ROOT) != 0)
    {
      csb_init_fail ("cannot mount the disk image's root file system, on the first partition or "
                     "the whole disk, of a type in /proc/filesystems: %s", strerror (errno));
      return -1;
    }
  return 0;
}

/* share TAG PATH ro|rw */
static int
plan_share (void           *data,
            CsbPlanKeyword  keyword,
            char          **args)
{
  if (csb_init_mkdir_p (csb_init_in_root (args[1]), 0755) != 0 ||
      mount_share (args[0], csb_init_in_root (args[1]), strcmp (args[2], "ro") == 0) != 0)
    {
      csb_init_fail ("cannot mount the share '%s' at %s: %s", args[0], args[1], strerror (errno));
      return -1;
    }
  return 0;
}

/* review LOWER RW PATH */
static int
plan_review (void           *data,
             CsbPlanKeyword  keyword,
             char          **args)
{
  return mount_review (args[0], args[1], args[2], data);
}

/* tmpfs PATH MODE, the user's when MODE ends in 'u'. */
static int
plan_tmpfs (void           *data,
            CsbPlanKeyword  keyword,
            char          **args)
{
  Command *cmd = data;
  const char *mode = args[1];
  int user = mode[0] != '\0' && mode[strlen (mode) - 1] == 'u';
  char opts[64];

  snprintf (opts, sizeof opts, "mode=%.*s", (int) strcspn (mode, "u"), mode);
  if (csb_init_mkdir_p (csb_init_in_root (args[0]), 0755) != 0 ||
      mount ("tmpfs", csb_init_in_root (args[0]), "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
    {
      csb_init_fail ("cannot mount a tmpfs at %s: %s", args[0], strerror (errno));
      return -1;
    }
  if (user && chown (csb_init_in_root (args[0]), cmd->uid, cmd->gid) != 0)
    say ("cannot chown %s: %s", args[0], strerror (errno));
  return 0;
}

/* bind SRC PATH ro|rw, SRC in the control share ('/ctl/…'), /host-etc or the new
 * root. */
static int
plan_bind (void           *data,
           CsbPlanKeyword  keyword,
           char          **args)
{
  const char *src = on_init_root (args[0]) ? args[0] : csb_init_in_root (args[0]);

  if (bind_mount (src, csb_init_in_root (args[1]), strcmp (args[2], "ro") == 0) != 0)
    say ("cannot bind %s to %s: %s", args[0], args[1], strerror (errno));
  return 0;
}

/* The keywords a VM's plan has (csb-vm-backend.c writes it). */
static const CsbPlanHandler plan_handlers[CSB_PLAN_N_KEYWORDS] = {
  [CSB_PLAN_UID] = csb_plan_set_command,
  [CSB_PLAN_GID] = csb_plan_set_command,
  [CSB_PLAN_CWD] = csb_plan_set_command,
  [CSB_PLAN_HOME] = csb_plan_set_command,
  [CSB_PLAN_HOSTNAME] = csb_plan_set_command,
  [CSB_PLAN_NETWORK] = csb_plan_set_command,
  [CSB_PLAN_RAW] = csb_plan_set_command,
  [CSB_PLAN_STDIO] = csb_plan_set_command,
  [CSB_PLAN_DISPLAY] = csb_plan_set_command,
  [CSB_PLAN_WINSIZE] = csb_plan_set_command,
  [CSB_PLAN_ENV] = csb_plan_set_command,
  [CSB_PLAN_ARG] = csb_plan_set_command,
  [CSB_PLAN_ROOTDISK] = plan_rootdisk,
  [CSB_PLAN_SHARE] = plan_share,
  [CSB_PLAN_REVIEW] = plan_review,
  [CSB_PLAN_TMPFS] = plan_tmpfs,
  [CSB_PLAN_BIND] = plan_bind,
  [CSB_PLAN_PROTECT] = csb_init_plan_protect,
  [CSB_PLAN_PROTECT_TMPFS] = csb_init_plan_protect_tmpfs,
  [CSB_PLAN_PROTECT_LINK] = csb_init_plan_protect_link,
  [CSB_PLAN_SYMLINK] = csb_init_plan_symlink,
  [CSB_PLAN_MKDIR] = csb_init_plan_mkdir,
};

/* ---- network ----------------------------------------------------------------- */

static void
set_addr (struct sockaddr *sa,
          const char      *ip)
{
  struct sockaddr_in *sin = (struct sockaddr_in *) sa;

  memset (sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  inet_pton (AF_INET, ip, &sin->sin_addr);
}

static int
if_up (int         sock,
       const char *name,
       const char *ip,
       const char *mask)
{
  struct ifreq ifr;

  memset (&ifr, 0, sizeof ifr);
  snprintf (ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ip != NULL)
    {
      set_addr (&ifr.ifr_addr, ip);
      if (ioctl (sock, SIOCSIFADDR, &ifr) != 0)
        return -1;
      set_addr (&ifr.ifr_netmask, mask);
      if (ioctl (sock, SIOCSIFNETMASK, &ifr) != 0)
        return -1;
    }
  if (ioctl (sock, SIOCGIFFLAGS, &ifr) != 0)
    return -1;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  return ioctl (sock, SIOCSIFFLAGS, &ifr);
}

/* QEMU's user-mode network is fixed: 10.0.2.15/24, gateway .2, DNS .3. @network 2
 * is the filtered network: the same address, no route beyond the subnet (the proxy
 * is 10.0.2.100 on it; QEMU forwards nothing else). */
static void
setup_network (int network)
{
  int sock = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct rtentry rt;

  if (sock < 0)
    return;
  if (if_up (sock, "lo", "127.0.0.1", "255.0.0.0") != 0)
    say ("cannot bring up lo: %s", strerror (errno));
  if (network)
    {
      if (if_up (sock, "eth0", "10.0.2.15", "255.255.255.0") != 0)
        say ("cannot bring up eth0: %s", strerror (errno));
      if (network == 2)
        {
          close (sock);
          return;
        }
      memset (&rt, 0, sizeof rt);
      set_addr (&rt.rt_dst, "0.0.0.0");
      set_addr (&rt.rt_genmask, "0.0.0.0");
      set_addr (&rt.rt_gateway, "10.0.2.2");
      rt.rt_flags = RTF_UP | RTF_GATEWAY;
      if (ioctl (sock, SIOCADDRT, &rt) != 0)
        say ("cannot add the default route: %s", strerror (errno));
    }
  close (sock);
}

/* ---- the power button (Stop() is an ACPI shutdown) ------------------------------ */

static int
open_power_button (void)
{
  DIR *dir = opendir ("/dev/input");
  struct dirent *entry;
  int found = -1;

  while (dir != NULL && (entry = readdir (dir)) != NULL)
    {
      char path[300], name[256] = "";
      int fd;

      if (strncmp (entry->d_name, "event", 5) != 0)
        continue;
      snprintf (path, sizeof path, "/dev/input/%s", entry->d_name);
      fd = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0)
        continue;
      if (ioctl (fd, EVIOCGNAME (sizeof name), name) >= 0 && strstr (name, "Power Button"))
        {
          found = fd;
          break;
        }
      close (fd);
    }
  if (dir != NULL)
    closedir (dir);
  return found;
}

/* ---- main --------------------------------------------------------------------- */

static void
write_status (int     ctl_fd,
              Command *cmd,
              const char *name,
              const char *text)
{
  int fd;

  /* Files on the share are created as the caller: the user is the uid the
   * host's virtiofsd can create files as. */
  setfsgid (cmd->gid);
  setfsuid (cmd->uid);
  fd = openat (ctl_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0)
    {
      if (write (fd, text, strlen (text)) < 0) {}
      fsync (fd);
      close (fd);
    }
  else
    say ("cannot write %s: %s", name, strerror (errno));
  setfsuid (0);
  setfsgid (0);
}

/* ---- stdio on virtio ports ------------------------------------------------------ */

/* The ports' names (the domain's <channel> targets, csb-vm-domain.c). */
#define PORT_PREFIX "org.claude-sandbox."

/* The virtio port named @name (in sysfs; no udev here for /dev/virtio-ports),
 * opened with @flags, waiting a moment for the host's announcement of it. */
static int
open_port (const char *name,
           int         flags)
{
  for (int i = 0; i < 300; i++)
    {
      DIR *dir = opendir ("/sys/class/virtio-ports");
      struct dirent *entry;

      while (dir != NULL && (entry = readdir (dir)) != NULL)
        {
          char path[300], value[128];
          ssize_t n;
          int fd;

          if (entry->d_name[0] == '.')
            continue;
          snprintf (path, sizeof path, "/sys/class/virtio-ports/%s/name", entry->d_name);
          fd = open (path, O_RDONLY | O_CLOEXEC);
          if (fd < 0)
            continue;
          n = read (fd, value, sizeof value - 1);
          close (fd);
          if (n <= 0)
            continue;
          value[n] = '\0';
          value[strcspn (value, "\n")] = '\0';
          if (strcmp (value, name) != 0)
            continue;
          snprintf (path, sizeof path, "/dev/%s", entry->d_name);
          closedir (dir);
          for (int j = 0; j < 300; j++)
            {
              fd = open (path, flags | O_CLOEXEC | O_NOCTTY);
              if (fd >= 0 || errno != ENOENT)
                return fd;
              usleep (10000);
            }
          return -1;
        }
      if (dir != NULL)
        closedir (dir);
      usleep (10000);
    }
  errno = ENOENT;
  return -1;
}

/* ---- the terminal's size ---------------------------------------------------------- */

/* With the console as the command's terminal: the host writes the viewer's size to
 * this port, "COLS ROWS\n" a line, at the start and at every resize; the last
 * complete line wins. */
static int winsize_port = -1;
static char winsize_buf[64];
static size_t winsize_len;

/* Reads what the port has (non-blocking); the last size in it into @cols, @rows
 * (a zero size, the host's pty before any viewer sized it, is a line but no size).
 * Returns -1 when the host end is gone (no service), 1 after a line, else 0. */
static int
winsize_read (unsigned *cols,
              unsigned *rows)
{
  int got = 0;

  for (;;)
    {
      ssize_t n = read (winsize_port, winsize_buf + winsize_len,
                        sizeof winsize_buf - 1 - winsize_len);
      char *nl;

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return got;
      if (n == 0)
        return got ? got : -1;
      winsize_len += n;
      winsize_buf[winsize_len] = '\0';
      while ((nl = memchr (winsize_buf, '\n', winsize_len)) != NULL)
        {
          unsigned c, r;

          *nl = '\0';
          got = 1;
          if (sscanf (winsize_buf, "%u %u", &c, &r) == 2 && c > 0 && r > 0 && c < 65536 &&
              r < 65536)
            {
              *cols = c;
              *rows = r;
            }
          winsize_len -= nl + 1 - winsize_buf;
          memmove (winsize_buf, nl + 1, winsize_len);
        }
      if (winsize_len == sizeof winsize_buf - 1)
        winsize_len = 0;   /* no line in it: not ours */
    }
}

/* The console's size, which signals SIGWINCH to its foreground process group. */
static void
winsize_apply (unsigned cols,
               unsigned rows)
{
  struct winsize ws;
  int tty = open ("/dev/hvc0", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

  if (tty < 0)
    return;
  memset (&ws, 0, sizeof ws);
  ws.ws_col = cols;
  ws.ws_row = rows;
  ioctl (tty, TIOCSWINSZ, &ws);
  close (tty);
}

/* What the command writes to one of its pipes, passed on to a port. */
typedef struct
{
  int                pipe;   /* our read end, -1 at its EOF */
  int                port;   /* non-blocking */
  unsigned long long count;  /* bytes the port took */
  int                gone;   /* the port's host end is gone: the rest is dropped */
} OutRelay;

/* All of @buf to @relay's port; once its host end is gone (no service reads it:
 * a write would wait forever) the rest is dropped. */
static void
port_write_all (OutRelay   *relay,
                const char *buf,
                size_t      len)
{
  while (len > 0 && !relay->gone)
    {
      ssize_t n = write (relay->port, buf, len);

      if (n > 0)
        {
          buf += n;
          len -= n;
          relay->count += n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          struct pollfd pfd = { relay->port, POLLOUT, 0 };

          if (poll (&pfd, 1, -1) < 0 && errno == EINTR)
            continue;
          if ((pfd.revents & POLLOUT) == 0 && (pfd.revents & (POLLHUP | POLLERR)) != 0)
            relay->gone = 1;
          continue;
        }
      relay->gone = 1;
    }
}

/* One read of @relay's pipe passed on; at its EOF the pipe is closed. */
static void
relay_pump (OutRelay *relay)
{
  static char buf[32768];
  ssize_t n;

  if (relay->pipe < 0)
    return;
  n = read (relay->pipe, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  if (n <= 0)
    {
      close (relay->pipe);
      relay->pipe = -1;
      return;
    }
  port_write_all (relay, buf, n);
}

/* A port's writes are asynchronous: what the command wrote last may still be on its
 * way to the host when the VM powers off, and be lost. So the init says how many
 * bytes each port took ("output" in the control share), and the service, once it
 * passed that many on, answers with "drained". Not waited for when nobody reads
 * (the host ends of both ports gone: no service). */
static void
wait_until_drained (int       ctl_fd,
                    Command  *cmd,
                    OutRelay *relays)
{
  char text[64];

  snprintf (text, sizeof text, "%llu %llu\n", relays[0].count, relays[1].count);
  write_status (ctl_fd, cmd, "output.tmp", text);
  if (renameat (ctl_fd, "output.tmp", ctl_fd, "output") != 0)
    {
      say ("cannot write the output counts: %s", strerror (errno));
      return;
    }
  for (;;)
    {
      struct pollfd fds[2] = { { relays[0].port, 0, 0 }, { relays[1].port, 0, 0 } };

      if (faccessat (ctl_fd, "drained", F_OK, 0) == 0)
        return;
      poll (fds, 2, 0);
      if ((fds[0].revents & POLLHUP) != 0 && (fds[1].revents & POLLHUP) != 0)
        {
          say ("nobody reads the command's output: not waiting for it to drain");
          return;
        }
      usleep (5000);
    }
}

/* ---- the display: weston on the virtio-gpu output --------------------------------- */

#define WESTON "/usr/bin/weston"
#define XWAYLAND "/usr/bin/Xwayland"
#define X11_SOCKET_DIR "/tmp/.X11-unix"

/* NAME=VALUE into the command's environment, in place of a NAME= there. */
static void
set_env (Command    *cmd,
         const char *entry)
{
  static char storage[8][256];
  static int used;
  size_t name_len = strcspn (entry, "=") + 1;
  char *copy;

  if (used >= 8)
    return;
  copy = storage[used++];
  snprintf (copy, sizeof storage[0], "%s", entry);
  for (int i = 0; i < cmd->envc; i++)
    if (strncmp (cmd->envp[i], entry, name_len) == 0)
      {
        cmd->envp[i] = copy;
        return;
      }
  if (cmd->envc < CSB_PLAN_MAX_ARGS)
    cmd->envp[cmd->envc++] = copy;
}

static void
write_id_map (const char *file,
              unsigned    inside,
              unsigned    outside)
{
  char map[64];
  int fd = open (file, O_WRONLY | O_CLOEXEC);

  snprintf (map, sizeof map, "%u %u 1\n", inside, outside);
  if (fd >= 0)
    {
      if (write (fd, map, strlen (map)) < 0) {}
      close (fd);
    }
}

/* libinput takes only devices udev tagged as input, and there is no udev here: the
 * display's virtio keyboard and tablet (SPICE's input) get the tags udev would give
 * them in its database, in the sandbox's /run, and become the user's. Without a
 * seat, weston's kiosk shell would not show any window. */
static void
tag_input_devices (Command *cmd)
{
  DIR *dir;
  struct dirent *entry;

  csb_init_mkdir_p ("/run/udev/data", 0755);
  /* The virtio input devices probe as their module loads. */
  for (int i = 0; i < 100; i++)
    {
      int found = 0;

      dir = opendir ("/sys/class/input");
      while (dir != NULL && (entry = readdir (dir)) != NULL)
        {
          char path[300], name[128] = "", dev[32] = "", db[96];
          const char *tags = NULL;
          int fd, major = 0, minor = 0;
          ssize_t n;

          if (strncmp (entry->d_name, "event", 5) != 0)
            continue;
          snprintf (path, sizeof path, "/sys/class/input/%s/device/name", entry->d_name);
          if ((fd = open (path, O_RDONLY | O_CLOEXEC)) >= 0)
            {
              n = read (fd, name, sizeof name - 1);
              name[n > 0 ? n : 0] = '\0';
              close (fd);
            }
          if (strstr (name, "QEMU Virtio Keyboard") != NULL)
            tags = "E:ID_INPUT=1\nE:ID_INPUT_KEY=1\nE:ID_INPUT_KEYBOARD=1\n";
          else if (strstr (name, "QEMU Virtio Tablet") != NULL)
            tags = "E:ID_INPUT=1\nE:ID_INPUT_MOUSE=1\n";
          if (tags == NULL)
            continue;
          snprintf (path, sizeof path, "/sys/class/input/%s/dev", entry->d_name);
          if ((fd = open (path, O_RDONLY | O_CLOEXEC)) < 0)
            continue;
          n = read (fd, dev, sizeof dev - 1);
          close (fd);
          dev[n > 0 ? n : 0] = '\0';
          if (sscanf (dev, "%d:%d", &major, &minor) != 2)
            continue;
          snprintf (db, sizeof db, "/run/udev/data/c%d:%d", major, minor);
          if ((fd = open (db, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) >= 0)
            {
              if (write (fd, tags, strlen (tags)) < 0) {}
              close (fd);
            }
          snprintf (path, sizeof path, "/dev/input/%s", entry->d_name);
          if (chown (path, cmd->uid, cmd->gid) != 0)
            say ("cannot chown %s: %s", path, strerror (errno));
          found++;
        }
      if (dir != NULL)
        closedir (dir);
      if (found >= 2)
        return;
      usleep (20000);
    }
}

/* Weston, in kiosk style, as the user. Its DRM launcher wants uid 0 and a VT as its
 * controlling terminal (no logind here): it gets a user namespace where the user is
 * uid 0 — no capability outside it, so nothing the user could not do — /dev/tty1 as
 * its terminal and the DRM device and VT made the user's. Returns its pid, or -1. */
static pid_t
start_compositor (Command *cmd,
                  char    *socket_path,
                  size_t   socket_path_size)
{
  char run_dir[64], log_opt[96];
  pid_t pid;
  int xwayland = access (XWAYLAND, X_OK) == 0;

  snprintf (run_dir, sizeof run_dir, "/run/user/%u", cmd->uid);
  snprintf (socket_path, socket_path_size, "%s/wayland-0", run_dir);
  snprintf (log_opt, sizeof log_opt, "--log=%s/weston.log", run_dir);
  /* The device may still be probing right after its module loaded. */
  for (int i = 0; i < 300 && access ("/dev/dri/card0", F_OK) != 0; i++)
    usleep (10000);
  if (chown ("/dev/dri/card0", cmd->uid, cmd->gid) != 0 ||
      chown ("/dev/tty1", cmd->uid, cmd->gid) != 0)
    {
      csb_init_fail ("no virtio-gpu display device (/dev/dri/card0): %s", strerror (errno));
      return -1;
    }
  tag_input_devices (cmd);
  /* Weston's Xwayland makes its socket there and gives up (ending weston) without the
   * folder: the X convention's, sticky and everyone's, in the guest's own /tmp. */
  if (xwayland && ((mkdir (X11_SOCKET_DIR, 01777) != 0 && errno != EEXIST) ||
                   chmod (X11_SOCKET_DIR, 01777) != 0))
    {
      csb_init_warn ("no %s (%s): no X11 on the display", X11_SOCKET_DIR, strerror (errno));
      xwayland = 0;
    }
  pid = fork ();
  if (pid != 0)
    return pid;

  {
    char *envp[] = { NULL, NULL, "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
    char env_run[96], env_home[4200];
    char *argv[] = { WESTON, "--backend=drm-backend.so", "--shell=kiosk-shell.so",
                     "--use-pixman", "--continue-without-input", "--tty=1", "--idle-time=0",
                     "--socket=wayland-0", log_opt, xwayland ? "--xwayland" : NULL, NULL };
    int tty;

    snprintf (env_run, sizeof env_run, "XDG_RUNTIME_DIR=%s", run_dir);
    snprintf (env_home, sizeof env_home, "HOME=%s", cmd->home ? cmd->home : "/");
    envp[0] = env_run;
    envp[1] = env_home;
    setsid ();
    tty = open ("/dev/tty1", O_RDWR);
    if (tty < 0 || ioctl (tty, TIOCSCTTY, 0) != 0)
      _exit (126);
    dup2 (tty, 0);
    if (tty > 0)
      close (tty);
    tty = open ("/dev/null", O_WRONLY);
    dup2 (tty, 1);
    dup2 (tty, 2);
    /* Dumpable again after the change of uid: else /proc/self is root's, and the
     * maps below cannot be written. */
    if (setgroups (0, NULL) != 0 || setgid (cmd->gid) != 0 || setuid (cmd->uid) != 0 ||
        prctl (PR_SET_DUMPABLE, 1, 0, 0, 0) != 0 || unshare (CLONE_NEWUSER) != 0)
      _exit (126);
    {
      int fd = open ("/proc/self/setgroups", O_WRONLY | O_CLOEXEC);
      if (fd >= 0)
        {
          if (write (fd, "deny", 4) < 0) {}
          close (fd);
        }
    }
    write_id_map ("/proc/self/uid_map", 0, cmd->uid);
    write_id_map ("/proc/self/gid_map", 0, cmd->gid);
    if (cmd->home != NULL && chdir (cmd->home) != 0) {}
    execve (WESTON, argv, envp);
    _exit (127);
  }
}

/* Until the compositor listens (its socket is there), or it died. */
static int
wait_for_compositor (pid_t       pid,
                     const char *socket_path)
{
  for (int i = 0; i < 6000; i++)
    {
      if (access (socket_path, F_OK) == 0)
        return 0;
      if (waitpid (pid, NULL, WNOHANG) == pid)
        return -1;
      usleep (10000);
    }
  return -1;
}

static void
run_child (Command *cmd)
{
  int tty;
  struct winsize ws;

  setsid ();
  if (cmd->stdio)
    {
      /* Pipes and files, as bwrap gives them: no terminal. */
      for (int i = 0; i < 3; i++)
        if (dup2 (child_stdio[i], i) < 0)
          _exit (127);
      for (int i = 0; i < 3; i++)
        if (child_stdio[i] > 2)
          close (child_stdio[i]);
      goto become_user;
    }
  tty = open ("/dev/hvc0", O_RDWR);
  if (tty < 0)
    _exit (127);
  ioctl (tty, TIOCSCTTY, 0);
  if (cmd->cols > 0 && cmd->rows > 0)
    {
      memset (&ws, 0, sizeof ws);
      ws.ws_col = cmd->cols;
      ws.ws_row = cmd->rows;
      ioctl (tty, TIOCSWINSZ, &ws);
    }
  if (cmd->raw)
    {
      struct termios tio;
      if (tcgetattr (tty, &tio) == 0)
        {
          cfmakeraw (&tio);
          tcsetattr (tty, TCSANOW, &tio);
        }
    }
  dup2 (tty, 0);
  dup2 (tty, 1);
  dup2 (tty, 2);
  if (tty > 2)
    close (tty);
become_user:
  if (setgroups (0, NULL) != 0 || setgid (cmd->gid) != 0 || setuid (cmd->uid) != 0)
    {
      fprintf (stderr, "claude-sandbox VM: cannot become uid %u: %s\r\n", cmd->uid,
               strerror (errno));
      _exit (126);
    }
  if (cmd->cwd != NULL && chdir (cmd->cwd) != 0)
    {
      fprintf (stderr, "claude-sandbox VM: cannot enter %s: %s\r\n", cmd->cwd, strerror (errno));
      _exit (126);
    }
  cmd->argv[cmd->argc] = NULL;
  cmd->envp[cmd->envc] = NULL;
  {
    char **saved = environ;
    environ = cmd->envp;   /* execvpe searches the sandbox's PATH */
    execvpe (cmd->argv[0], cmd->argv, cmd->envp);
    environ = saved;
  }
  fprintf (stderr, "claude-sandbox VM: cannot run %s: %s\r\n", cmd->argv[0], strerror (errno));
  _exit (errno == ENOENT ? 127 : 126);
}

#ifdef CSB_GUEST_INIT_TEST_HOOKS
/* Tests only (claude-sandbox-guest-init-test, never installed): with
 * CSB_TEST_TYPEAHEAD=1 in the command's environment, init says "started" before the
 * command starts and waits (a minute at most) until a whole line typed on the
 * console has reached the console's tty, which init holds, then goes on as usual:
 * the keys are typed ahead at the moment they used to be lost (test-vm's
 * /vm/boot/cli-typeahead). The console shows "typed-ahead line held" once they came. */
static void
typeahead_hook (Command *cmd,
                int      ctl_fd)
{
  int queued = 0, wanted = 0;

  for (int i = 0; i < cmd->envc; i++)
    if (strcmp (cmd->envp[i], "CSB_TEST_TYPEAHEAD=1") == 0)
      wanted = 1;
  if (!wanted || console_fd < 0)
    return;
  write_status (ctl_fd, cmd, "started", "1\n");
  for (int i = 0; i < 600 && queued <= 0; i++)
    if (ioctl (console_fd, FIONREAD, &queued) != 0 || queued <= 0)
      usleep (100000);
  if (queued > 0)
    csb_init_fail ("test: typed-ahead line held");
}
#endif

/* ---- main's steps --------------------------------------------------------------- */

/* What main's steps share. */
typedef struct
{
  CsbPlan   plan;
  Command   cmd;
  int       ctl_fd;       /* the control share, on the old root */
  OutRelay  relays[2];    /* with "stdio 1": the command's stdout and stderr */
  sigset_t  mask;         /* the signals read from sfd, blocked */
  int       sfd;
  int       button_fd;    /* the power button, or -1 */
  pid_t     child;        /* the command */
} Init;

/* The start failed (it said why): the service reads the status; the VM goes. */
static void
start_failed (Init *init)
{
  write_status (init->ctl_fd, &init->cmd, "status", "failed\n");
  power_off ();
}

/* The kernel's file systems, the modules, and the console for what goes wrong. */
static void
start_up (void)
{
  mount ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount ("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount ("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  say ("started");
  load_modules ("/modules.order");
  say ("modules loaded");
  for (int i = 0; i < 200 && console_fd < 0; i++)
    {
      console_fd = open ("/dev/hvc0", O_WRONLY | O_NOCTTY | O_CLOEXEC);
      if (console_fd < 0)
        usleep (10000);
    }
}

/* The control share mounted and the plan read from it (and deleted there). */
static void
read_plan_from_share (Init *init)
{
  mkdir (CTL_DIR, 0700);
  if (mount_share ("csb-ctl", CTL_DIR, 0) != 0)
    {
      csb_init_fail ("cannot mount the control share: %s", strerror (errno));
      power_off ();
    }
  init->ctl_fd = open (CTL_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (init->ctl_fd < 0 || csb_plan_read (init->ctl_fd, "config", &init->plan) != 0)
    {
      csb_init_fail ("cannot read the sandbox's plan: %s", strerror (errno));
      power_off ();
    }
}

/* The sandbox's root, a tmpfs at NEW_ROOT, built as the plan says. */
static void
build_root (Init *init)
{
  mkdir (NEW_ROOT, 0755);
  if (mount ("tmpfs", NEW_ROOT, "tmpfs", 0, "mode=0755") != 0)
    {
      csb_init_fail ("cannot mount the root tmpfs: %s", strerror (errno));
      power_off ();
    }
  if (csb_plan_run (&init->plan, plan_handlers, &init->cmd, csb_init_fail) != 0 ||
      init->cmd.argc == 0)
    {
      if (init->cmd.argc == 0)
        csb_init_fail ("the plan has no command");
      start_failed (init);
    }
}

/* With "stdio 1", the command's stdio on virtio ports, its output through pipes the
 * init relays; else the console's size port. */
static void
open_command_stdio (Init *init)
{
  int out_pipe[2], err_pipe[2];

  if (!init->cmd.stdio)
    {
      /* Opened early: what the host wrote before the command starts has time to come. */
      winsize_port = open_port (PORT_PREFIX "winsize", O_RDONLY | O_NONBLOCK);
      return;
    }
  child_stdio[0] = open_port (PORT_PREFIX "stdin", O_RDONLY);
  init->relays[0].port = open_port (PORT_PREFIX "stdout", O_WRONLY | O_NONBLOCK);
  init->relays[1].port = open_port (PORT_PREFIX "stderr", O_WRONLY | O_NONBLOCK);
  if (child_stdio[0] < 0 || init->relays[0].port < 0 || init->relays[1].port < 0 ||
      pipe2 (out_pipe, O_CLOEXEC) != 0 || pipe2 (err_pipe, O_CLOEXEC) != 0)
    {
      csb_init_fail ("cannot open the virtio ports of the command's stdio: %s", strerror (errno));
      start_failed (init);
    }
  init->relays[0].pipe = out_pipe[0];
  init->relays[1].pipe = err_pipe[0];
  child_stdio[1] = out_pipe[1];
  child_stdio[2] = err_pipe[1];
}

/* /proc, /sys, /dev (its pts and shm) in the new root. */
static void
mount_kernel_file_systems (void)
{
  csb_init_mkdir_p (csb_init_in_root ("/proc"), 0555);
  csb_init_mkdir_p (csb_init_in_root ("/sys"), 0555);
  csb_init_mkdir_p (csb_init_in_root ("/dev"), 0755);
  mount ("proc", csb_init_in_root ("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount ("sysfs", csb_init_in_root ("/sys"), "sysfs",
         MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL);
  mount ("devtmpfs", csb_init_in_root ("/dev"), "devtmpfs", MS_NOSUID, "mode=0755");
  csb_init_mkdir_p (csb_init_in_root ("/dev/pts"), 0755);
  mount ("devpts", csb_init_in_root ("/dev/pts"), "devpts", MS_NOSUID | MS_NOEXEC,
         "newinstance,ptmxmode=0666,mode=0620");
  csb_init_mkdir_p (csb_init_in_root ("/dev/shm"), 01777);
  mount ("tmpfs", csb_init_in_root ("/dev/shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
}

/* The new root becomes the root. The control share itself stays behind, on the old
 * root: only init's ctl_fd reaches it (for the status), the sandbox sees just what
 * the plan bound. */
static void
switch_root (Init *init)
{
  if (chdir (NEW_ROOT) != 0 || mount (NEW_ROOT, "/", NULL, MS_MOVE, NULL) != 0 ||
      chroot (".") != 0 || chdir ("/") != 0)
    {
      csb_init_fail ("cannot switch to the sandbox's root: %s", strerror (errno));
      start_failed (init);
    }
}

/* The end of the compositor's log for user @uid, on the console. */
static void
show_compositor_log (uid_t uid)
{
  char log_path[64], tail[2048];
  int fd;

  snprintf (log_path, sizeof log_path, "/run/user/%u/weston.log", uid);
  fd = open (log_path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0)
    {
      off_t size = lseek (fd, 0, SEEK_END);
      ssize_t n;

      lseek (fd, size > (off_t) sizeof tail ? size - (off_t) sizeof tail : 0, SEEK_SET);
      n = read (fd, tail, sizeof tail);
      if (n > 0 && console_fd >= 0 && write (console_fd, tail, n) < 0) {}
      close (fd);
    }
}

/* With "display 1": the compositor started, and the command's environment set for it. */
static void
start_display (Init *init)
{
  char socket_path[128];
  pid_t compositor = start_compositor (&init->cmd, socket_path, sizeof socket_path);

  if (compositor < 0 || wait_for_compositor (compositor, socket_path) != 0)
    {
      show_compositor_log (init->cmd.uid);
      csb_init_fail ("the display's compositor (weston) did not start (its log above)");
      start_failed (init);
    }
  say ("compositor ready");
  set_env (&init->cmd, "WAYLAND_DISPLAY=wayland-0");
  if (access (XWAYLAND, X_OK) == 0 && access (X11_SOCKET_DIR, F_OK) == 0)
    set_env (&init->cmd, "DISPLAY=:0");
  set_env (&init->cmd, "XDG_SESSION_TYPE=wayland");
}

/* SIGCHLD and the stop signals, blocked and read from a signalfd, and the power
 * button (Stop() is an ACPI shutdown). */
static void
watch_stop_requests (Init *init)
{
  sigemptyset (&init->mask);
  sigaddset (&init->mask, SIGCHLD);
  sigaddset (&init->mask, SIGTERM);
  sigaddset (&init->mask, SIGINT);
  sigprocmask (SIG_BLOCK, &init->mask, NULL);
  init->sfd = signalfd (-1, &init->mask, SFD_CLOEXEC | SFD_NONBLOCK);
  init->button_fd = open_power_button ();
}

/* The service writes the console's size as it connects (before the guest runs):
 * the command starts at it. Waited for a moment at most (no service: a hang-up). */
static void
read_first_winsize (Command *cmd)
{
  unsigned cols = 0, rows = 0;
  struct pollfd pfd = { winsize_port, POLLIN, 0 };

  if (winsize_port < 0)
    return;
  if (poll (&pfd, 1, 2000) > 0 && winsize_read (&cols, &rows) == 1 && cols > 0)
    {
      cmd->cols = cols;
      cmd->rows = rows;
    }
}

/* The command forked (run_child), and the host told it started. */
static void
start_command (Init *init)
{
  init->child = fork ();
  if (init->child == 0)
    {
      sigprocmask (SIG_UNBLOCK, &init->mask, NULL);
      close (init->sfd);
      if (init->button_fd >= 0)
        close (init->button_fd);
      run_child (&init->cmd);
    }
  if (init->child < 0)
    {
      say ("cannot fork: %s", strerror (errno));
      start_failed (init);
    }
  for (int i = 0; i < 3; i++)
    if (child_stdio[i] >= 0)
      {
        close (child_stdio[i]);
        child_stdio[i] = -1;
      }
  say ("command started");
  write_status (init->ctl_fd, &init->cmd, "started", "1\n");
}

/* Asks the command to end (once): a hang-up and SIGTERM, SIGKILL at @stop_deadline. */
static void
stop_command (Init   *init,
              time_t *stop_deadline)
{
  if (*stop_deadline != 0)
    return;
  kill (-init->child, SIGHUP);
  kill (-init->child, SIGTERM);
  *stop_deadline = time (NULL) + STOP_GRACE_S;
}

/* The signals and power button presses that came: a stop signal or a press stops
 * the command. */
static void
read_stop_requests (Init   *init,
                    short   signal_events,
                    short   button_events,
                    time_t *stop_deadline)
{
  if (signal_events & POLLIN)
    {
      struct signalfd_siginfo si;
      while (read (init->sfd, &si, sizeof si) == sizeof si)
        if (si.ssi_signo != SIGCHLD)
          stop_command (init, stop_deadline);
    }
  if (init->button_fd >= 0 && (button_events & POLLIN))
    {
      struct input_event ev;
      while (read (init->button_fd, &ev, sizeof ev) == sizeof ev)
        if (ev.type == EV_KEY && ev.code == KEY_POWER && ev.value == 1 && *stop_deadline == 0)
          {
            say ("power button: stopping the command");
            stop_command (init, stop_deadline);
          }
    }
}

/* Every child that ended reaped; 1 and the command's exit status in @status once
 * it ended. */
static int
reap_children (Init *init,
               int  *status)
{
  int ended = 0;

  for (;;)
    {
      int ws;
      pid_t pid = waitpid (-1, &ws, WNOHANG);
      if (pid <= 0)
        return ended;
      if (pid == init->child)
        {
          *status = WIFEXITED (ws) ? WEXITSTATUS (ws) : 128 + WTERMSIG (ws);
          ended = 1;
        }
    }
}

/* Until the command ends: its output relayed, the console's size passed on, stop
 * requests heard. Returns its exit status. */
static int
wait_for_command (Init *init)
{
  int status = 255, ended = 0, winsize_hup = 0;
  time_t stop_deadline = 0;

  while (!ended)
    {
      struct pollfd fds[5] = { { init->sfd, POLLIN, 0 }, { init->button_fd, POLLIN, 0 },
                               { init->relays[0].pipe, POLLIN, 0 },
                               { init->relays[1].pipe, POLLIN, 0 },
                               { winsize_hup ? -1 : winsize_port, POLLIN, 0 } };
      /* A port without its host end polls as hung up until a service connects
       * again (it says nothing then): looked at again every second meanwhile. */
      int timeout = stop_deadline ? 500 : winsize_hup ? 1000 : -1;

      poll (fds, 5, timeout);
      winsize_hup = 0;
      if (winsize_port >= 0 && fds[4].revents != 0)
        {
          unsigned cols = 0, rows = 0;
          int r = winsize_read (&cols, &rows);

          if (r == 1 && cols > 0)
            winsize_apply (cols, rows);
          else if (r < 0)
            winsize_hup = 1;
        }
      for (int i = 0; i < 2; i++)
        if (fds[2 + i].revents != 0)
          relay_pump (&init->relays[i]);
      read_stop_requests (init, fds[0].revents, fds[1].revents, &stop_deadline);
      ended = reap_children (init, &status);
      if (!ended && stop_deadline != 0 && time (NULL) >= stop_deadline)
        kill (-init->child, SIGKILL);
    }
  return status;
}

/* What the command left running goes with it: asked first, for up to 100 ms
 * (every orphan is ours, so no child left means nothing left), then killed. */
static void
end_the_rest (void)
{
  if (kill (-1, SIGTERM) == 0)
    {
      for (int i = 0; i < 20 && waitpid (-1, NULL, WNOHANG) >= 0; i++)
        {
          while (waitpid (-1, NULL, WNOHANG) > 0)
            ;
          usleep (5000);
        }
      kill (-1, SIGKILL);
    }
}

/* With "stdio 1": the rest of the output relayed (every writer is gone now; a
 * process stuck in the kernel and holding a pipe is given 5 s), and the host has
 * passed it all on. */
static void
drain_output (Init *init)
{
  while (init->relays[0].pipe >= 0 || init->relays[1].pipe >= 0)
    {
      struct pollfd fds[2] = { { init->relays[0].pipe, POLLIN, 0 },
                               { init->relays[1].pipe, POLLIN, 0 } };

      if (poll (fds, 2, 5000) == 0)
        break;
      for (int i = 0; i < 2; i++)
        if (fds[i].revents != 0)
          relay_pump (&init->relays[i]);
    }
  wait_until_drained (init->ctl_fd, &init->cmd, init->relays);
}

int
main (int    argc,
      char **argv)
{
  static Init init = { .relays = { { -1, -1, 0, 0 }, { -1, -1, 0, 0 } } };
  int status;
  char text[32];

  (void) argc;
  (void) argv;
  csb_init = (CsbInitContext) { NEW_ROOT, 0, log_to_kmsg };
  start_up ();
  read_plan_from_share (&init);
  build_root (&init);
  if (init.cmd.display)
    load_modules ("/modules-display.order");
  open_command_stdio (&init);
  mount_kernel_file_systems ();
  if (init.cmd.hostname != NULL)
    sethostname (init.cmd.hostname, strlen (init.cmd.hostname));
  setup_network (init.cmd.network);
  switch_root (&init);
  if (init.cmd.display)
    start_display (&init);
  watch_stop_requests (&init);

#ifdef CSB_GUEST_INIT_TEST_HOOKS
  typeahead_hook (&init.cmd, init.ctl_fd);
#endif
  /* console_fd stays open for good: the console's tty lives as long as one fd of it
   * is open, and its last close frees what the hvc driver already took in (keys
   * typed ahead, pulled in while init held it). The command's own open then finds
   * the same tty with those keys, and so does winsize_apply's open and close, which
   * may come before the command's open. */
  read_first_winsize (&init.cmd);
  start_command (&init);
  status = wait_for_command (&init);
  end_the_rest ();
  if (init.cmd.stdio)
    drain_output (&init);
  snprintf (text, sizeof text, "%d\n", status);
  write_status (init.ctl_fd, &init.cmd, "status", text);
  say ("command exited with status %d", status);
  power_off ();
  return 0;
}
