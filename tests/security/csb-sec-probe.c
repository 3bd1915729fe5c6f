/* csb-sec-probe.c — tries things a sandbox must not be able to do, and says what
 * the kernel answered. It depends on libc only, so it runs inside a sandbox that
 * sees nothing but the host's /usr and a copy of it in the project folder.
 *
 * Each result is a line "NAME=RESULT", RESULT being OK (with a value after a
 * colon where there is one) or the errno's symbolic name (EPERM, ENOSYS…). The
 * tests run the same probe outside too, to show the kernel would have allowed
 * what the sandbox refused.
 *
 *   csb-sec-probe syscalls           the seccomp battery
 *   csb-sec-probe write PATH…        create/truncate and write each PATH
 *   csb-sec-probe mkdir PATH…        mkdir each PATH
 *   csb-sec-probe rename FROM TO     rename(2)
 *   csb-sec-probe connect IP PORT    TCP connect
 *   csb-sec-probe connect-abstract NAME   connect to the abstract unix socket @NAME
 *   csb-sec-probe listen IP PORT SECONDS  listen on IP:PORT for SECONDS ("listen=OK")
 *   csb-sec-probe kill PID           kill(PID, 0): may we signal it?
 *   csb-sec-probe serve IP PORT      accept connections for ever, answering each
 *                                    "csb-served" (a server the tests run elsewhere)
 *   csb-sec-probe ifaces             network interfaces (if_nameindex, i.e. netlink)
 *   csb-sec-probe procs              every visible process: "proc=PID:CMDLINE"
 *   csb-sec-probe status             Cap*, NoNewPrivs, Seccomp of /proc/self/status
 *   csb-sec-probe userns             unshare(CLONE_NEWUSER) in a child
 *   csb-sec-probe forks N            fork up to N children that wait, until fork fails:
 *                                    forks=COUNT, fork_errno=; then waits itself
 *   csb-sec-probe unix PATH LINE…    connect to a unix socket, send each LINE (with a
 *                                    newline), then read until EOF or 3 s of silence:
 *                                    unix_connect=, unix_bytes=N, unix_eof=0|1,
 *                                    unix_text= (what came, non-printables as '.')
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_BLUETOOTH
#define AF_BLUETOOTH 31
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

static const char *
errno_name (int e)
{
  switch (e)
    {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case EAGAIN: return "EAGAIN";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ENOSYS: return "ENOSYS";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EUSERS: return "EUSERS";
    default:
      {
        static char buf[32];
        snprintf (buf, sizeof buf, "E%d", e);
        return buf;
      }
    }
}

/* A raw syscall's result as OK or an errno name; a file descriptor it made is closed. */
static void
report (const char *name,
        long        r,
        int         closes_fd)
{
  if (r >= 0)
    {
      printf ("%s=OK\n", name);
      if (closes_fd)
        close ((int) r);
    }
  else
    printf ("%s=%s\n", name, errno_name (errno));
  fflush (stdout);
}

/* A fresh pty whose slave is this process's controlling terminal, so the kernel by
 * itself would let TIOCSTI push input into it: only the filter stands in the way. */
static int
open_own_tty (void)
{
  int master, slave;
  char *name;

  if (setsid () < 0)
    return -1;
  master = posix_openpt (O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt (master) < 0 || unlockpt (master) < 0 ||
      (name = ptsname (master)) == NULL)
    return -1;
  slave = open (name, O_RDWR);   /* no O_NOCTTY: it becomes our controlling tty */
  if (slave < 0)
    return -1;
  ioctl (slave, TIOCSCTTY, 0);
  return slave;
}

static void
probe_ttys (void)
{
  pid_t pid = fork ();
  int status;

  if (pid == 0)
    {
      int tty = open_own_tty ();
      char c = '\n';
      char linux_arg[2] = { 11, 0 };   /* TIOCL_GETSHIFTSTATE-ish: harmless */

      if (tty < 0)
        {
          printf ("tiocsti=NOTTY:%s\n", errno_name (errno));
          _exit (0);
        }
      report ("tiocsti", syscall (SYS_ioctl, tty, (unsigned long) TIOCSTI, &c), 0);
      /* The kernel reads the request as 32 bits: high bits set must not slip past. */
      report ("tiocsti-high-bits",
              syscall (SYS_ioctl, tty, (unsigned long) TIOCSTI | (1UL << 32), &c), 0);
      report ("tioclinux", syscall (SYS_ioctl, tty, (unsigned long) TIOCLINUX, linux_arg), 0);
      _exit (0);
    }
  waitpid (pid, &status, 0);
}

#if defined(__x86_64__)
/* add_key through the 32-bit entry point (i386 syscall 286): the filter must know
 * the x86 architecture too. Null pointers: the kernel itself would say EFAULT. */
static long
i386_add_key (void)
{
  long r;

  __asm__ volatile ("int $0x80"
                    : "=a" (r)
                    : "0" (286L), "b" (0L), "c" (0L), "d" (0L), "S" (0L), "D" (-1L)
                    : "memory");
  if (r < 0 && r > -4096)
    {
      errno = (int) -r;
      return -1;
    }
  return r;
}
#endif

#if defined(__x86_64__)
/* In a child: a kernel without IA-32 emulation (ia32_emulation=0, or built so)
 * answers int 0x80 with SIGSEGV, which would end the whole battery. Then the result
 * is SIGSEGV, which the tests read as "no 32-bit syscalls here", inside or out. */
static void
probe_i386 (void)
{
  int fds[2];
  pid_t pid;
  int status;

  fflush (stdout);
  if (pipe (fds) != 0)
    {
      report ("i386-add_key", -1, 0);
      return;
    }
  pid = fork ();
  if (pid == 0)
    {
      long r = i386_add_key ();
      const char *answer = r >= 0 ? "OK" : errno_name (errno);

      close (fds[0]);
      if (write (fds[1], answer, strlen (answer)) < 0)
        _exit (1);
      _exit (0);
    }
  close (fds[1]);
  if (pid < 0)
    {
      close (fds[0]);
      report ("i386-add_key", -1, 0);
      return;
    }
  {
    char answer[32] = "";
    ssize_t n = read (fds[0], answer, sizeof answer - 1);

    close (fds[0]);
    waitpid (pid, &status, 0);
    if (WIFSIGNALED (status))
      printf ("i386-add_key=%s\n", WTERMSIG (status) == SIGSEGV ? "SIGSEGV" : "SIGNAL");
    else
      printf ("i386-add_key=%s\n", n > 0 ? answer : "E?");
    fflush (stdout);
  }
}
#endif

static void
probe_syscalls (void)
{
  probe_ttys ();

  report ("add_key", syscall (SYS_add_key, NULL, NULL, NULL, 0, 0), 0);
  report ("keyctl", syscall (SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0), 0);
  report ("request_key", syscall (SYS_request_key, NULL, NULL, NULL, 0), 0);
  report ("perf_event_open", syscall (SYS_perf_event_open, NULL, 0, -1, -1, 0), 0);
  report ("bpf", syscall (SYS_bpf, 9999, NULL, 0), 0);
  report ("userfaultfd", syscall (SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */), 1);
  report ("io_uring_setup", syscall (SYS_io_uring_setup, 1, NULL), 0);
  report ("fsopen", syscall (SYS_fsopen, NULL, 0), 0);
  report ("open_tree", syscall (SYS_open_tree, -1, NULL, 0), 0);
  report ("syslog", syscall (SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0), 0);
  report ("open_by_handle_at", syscall (SYS_open_by_handle_at, -1, NULL, 0), 0);

  /* personality: the query (0xffffffff) and PER_LINUX stay possible elsewhere. */
  report ("personality-linux", syscall (SYS_personality, PER_LINUX), 0);
  report ("personality-addr-no-randomize",
          syscall (SYS_personality, PER_LINUX | ADDR_NO_RANDOMIZE), 0);
  /* Put it back if the kernel let us (outside). */
  syscall (SYS_personality, PER_LINUX);

  report ("socket-packet", syscall (SYS_socket, AF_PACKET, SOCK_RAW, 0), 1);
  report ("socket-bluetooth", syscall (SYS_socket, AF_BLUETOOTH, SOCK_STREAM, 0), 1);
  report ("socket-vsock", syscall (SYS_socket, AF_VSOCK, SOCK_STREAM, 0), 1);
  report ("socket-key", syscall (SYS_socket, 15 /* AF_KEY */, SOCK_RAW, 2), 1);
  report ("socket-alg", syscall (SYS_socket, 38 /* AF_ALG */, SOCK_SEQPACKET, 0), 1);
  report ("socket-unix", syscall (SYS_socket, AF_UNIX, SOCK_STREAM, 0), 1);
  report ("socket-inet", syscall (SYS_socket, AF_INET, SOCK_STREAM, 0), 1);
  report ("socket-inet6", syscall (SYS_socket, AF_INET6, SOCK_DGRAM, 0), 1);
  report ("socket-netlink", syscall (SYS_socket, AF_NETLINK, SOCK_RAW, 0), 1);

#if defined(__x86_64__)
  probe_i386 ();
#endif
}

static int
probe_write (int    argc,
             char **argv)
{
  for (int i = 0; i < argc; i++)
    {
      int fd = open (argv[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      const char *text = "written from inside the sandbox\n";

      if (fd < 0)
        printf ("%s=%s\n", argv[i], errno_name (errno));
      else
        {
          ssize_t n = write (fd, text, strlen (text));
          int e = n < 0 ? errno : 0;

          close (fd);
          printf ("%s=%s\n", argv[i], errno_name (e));
        }
    }
  return 0;
}

static int
probe_mkdir (int    argc,
             char **argv)
{
  for (int i = 0; i < argc; i++)
    printf ("%s=%s\n", argv[i], errno_name (mkdir (argv[i], 0755) < 0 ? errno : 0));
  return 0;
}

static int
probe_connect (const char *ip,
               const char *port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int r;

  addr.sin_port = htons ((uint16_t) atoi (port));
  if (fd < 0 || inet_pton (AF_INET, ip, &addr.sin_addr) != 1)
    {
      printf ("connect=%s\n", errno_name (errno));
      return 0;
    }
  r = connect (fd, (struct sockaddr *) &addr, sizeof addr);
  printf ("connect=%s\n", errno_name (r < 0 ? errno : 0));
  close (fd);
  return 0;
}

static int
probe_connect_abstract (const char *name)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  size_t len = strlen (name);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int r;

  if (fd < 0 || len + 1 > sizeof addr.sun_path)
    {
      printf ("connect-abstract=%s\n", errno_name (fd < 0 ? errno : EINVAL));
      return 0;
    }
  memcpy (addr.sun_path + 1, name, len);
  r = connect (fd, (struct sockaddr *) &addr, offsetof (struct sockaddr_un, sun_path) + 1 + len);
  printf ("connect-abstract=%s\n", errno_name (r < 0 ? errno : 0));
  close (fd);
  return 0;
}

static int
bind_listen (const char *ip,
             const char *port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;

  addr.sin_port = htons ((uint16_t) atoi (port));
  if (fd < 0 || inet_pton (AF_INET, ip, &addr.sin_addr) != 1)
    return -1;
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0 || listen (fd, 64) < 0)
    {
      int saved = errno;
      close (fd);
      errno = saved;
      return -1;
    }
  return fd;
}

static int
probe_listen (const char *ip,
              const char *port,
              const char *seconds)
{
  int fd = bind_listen (ip, port);

  printf ("listen=%s\n", errno_name (fd < 0 ? errno : 0));
  if (fd >= 0)
    sleep ((unsigned) atoi (seconds));
  return 0;
}

static int
probe_serve (const char *ip,
             const char *port)
{
  int fd = bind_listen (ip, port);

  printf ("serve=%s\n", errno_name (fd < 0 ? errno : 0));
  if (fd < 0)
    return 1;
  for (;;)
    {
      int client = accept (fd, NULL, NULL);

      if (client < 0)
        continue;
      (void) !write (client, "csb-served\n", 11);
      close (client);
    }
}

static int
probe_ifaces (void)
{
  struct if_nameindex *ifs = if_nameindex ();

  if (ifs == NULL)
    {
      printf ("ifaces=%s\n", errno_name (errno));
      return 0;
    }
  for (struct if_nameindex *i = ifs; i->if_index != 0; i++)
    printf ("iface=%s\n", i->if_name);
  if_freenameindex (ifs);
  return 0;
}

static int
probe_procs (void)
{
  DIR *proc = opendir ("/proc");
  struct dirent *entry;

  while (proc != NULL && (entry = readdir (proc)) != NULL)
    {
      char path[300], buf[4096];
      ssize_t n;
      int fd;

      if (entry->d_name[0] < '0' || entry->d_name[0] > '9')
        continue;
      snprintf (path, sizeof path, "/proc/%s/cmdline", entry->d_name);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      n = fd >= 0 ? read (fd, buf, sizeof buf - 1) : 0;
      if (fd >= 0)
        close (fd);
      if (n < 0)
        n = 0;
      for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0' || buf[i] == '\n')
          buf[i] = ' ';
      buf[n] = '\0';
      printf ("proc=%s:%s\n", entry->d_name, buf);
    }
  if (proc != NULL)
    closedir (proc);
  return 0;
}

static int
probe_status (void)
{
  FILE *f = fopen ("/proc/self/status", "re");
  char line[512];

  while (f != NULL && fgets (line, sizeof line, f) != NULL)
    {
      char *colon = strchr (line, ':');
      char *value;

      if (colon == NULL)
        continue;
      *colon = '\0';
      if (strncmp (line, "Cap", 3) != 0 && strcmp (line, "NoNewPrivs") != 0 &&
          strcmp (line, "Seccomp") != 0)
        continue;
      value = colon + 1;
      value += strspn (value, " \t");
      value[strcspn (value, "\n")] = '\0';
      printf ("%s=%s\n", line, value);
    }
  if (f != NULL)
    fclose (f);
  return 0;
}

static int
probe_userns (void)
{
  pid_t pid = fork ();
  int status = 0;

  if (pid == 0)
    _exit (unshare (CLONE_NEWUSER) < 0 ? errno : 0);
  waitpid (pid, &status, 0);
  printf ("userns=%s\n", errno_name (WIFEXITED (status) ? WEXITSTATUS (status) : EIO));
  return 0;
}

static int
probe_forks (const char *count)
{
  long n = atol (count);
  long made = 0;
  int err = 0;

  for (; made < n; made++)
    {
      pid_t pid = fork ();

      if (pid < 0)
        {
          err = errno;
          break;
        }
      if (pid == 0)
        {
          pause ();
          _exit (0);
        }
    }
  printf ("forks=%ld\nfork_errno=%s\n", made, errno_name (err));
  fflush (stdout);
  pause ();
  return 0;
}

static int
probe_unix (int    argc,
            char **argv)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  char text[4096];
  size_t total = 0;
  int eof = 0;
  int fd;

  if (argc < 1 || strlen (argv[0]) >= sizeof addr.sun_path)
    return 2;
  strcpy (addr.sun_path, argv[0]);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      printf ("unix_connect=%s\n", errno_name (errno));
      return 0;
    }
  printf ("unix_connect=OK\n");
  for (int i = 1; i < argc; i++)
    {
      char line[512];
      int n = snprintf (line, sizeof line, "%s\n", argv[i]);

      if (send (fd, line, n, MSG_NOSIGNAL) < 0)
        break;
      /* The first line is a command; what follows is typed into a terminal. */
      usleep (100000);
    }
  for (;;)
    {
      struct pollfd pfd = { fd, POLLIN, 0 };
      char buf[1024];
      ssize_t n;

      if (poll (&pfd, 1, 3000) <= 0)
        break;
      n = recv (fd, buf, sizeof buf, 0);
      if (n <= 0)
        {
          eof = n == 0 || errno == ECONNRESET;
          break;
        }
      for (ssize_t j = 0; j < n && total + j < sizeof text - 1; j++)
        text[total + j] = buf[j] >= 0x20 && buf[j] < 0x7f ? buf[j] : '.';
      total += n;
    }
  text[total < sizeof text - 1 ? total : sizeof text - 1] = '\0';
  close (fd);
  printf ("unix_bytes=%zu\nunix_eof=%d\nunix_text=%s\n", total, eof, text);
  return 0;
}

int
main (int    argc,
      char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: %s syscalls|write|mkdir|rename|connect|ifaces|procs|status|userns …\n",
               argv[0]);
      return 2;
    }
  setvbuf (stdout, NULL, _IOLBF, 0);
  if (strcmp (argv[1], "syscalls") == 0)
    probe_syscalls ();
  else if (strcmp (argv[1], "write") == 0)
    return probe_write (argc - 2, argv + 2);
  else if (strcmp (argv[1], "mkdir") == 0)
    return probe_mkdir (argc - 2, argv + 2);
  else if (strcmp (argv[1], "rename") == 0 && argc == 4)
    printf ("rename:%s=%s\n", argv[2], errno_name (rename (argv[2], argv[3]) < 0 ? errno : 0));
  else if (strcmp (argv[1], "connect") == 0 && argc == 4)
    return probe_connect (argv[2], argv[3]);
  else if (strcmp (argv[1], "kill") == 0 && argc == 3)
    printf ("kill=%s\n", errno_name (kill ((pid_t) atoi (argv[2]), 0) < 0 ? errno : 0));
  else if (strcmp (argv[1], "connect-abstract") == 0 && argc == 3)
    return probe_connect_abstract (argv[2]);
  else if (strcmp (argv[1], "listen") == 0 && argc == 5)
    return probe_listen (argv[2], argv[3], argv[4]);
  else if (strcmp (argv[1], "serve") == 0 && argc == 4)
    return probe_serve (argv[2], argv[3]);
  else if (strcmp (argv[1], "ifaces") == 0)
    return probe_ifaces ();
  else if (strcmp (argv[1], "procs") == 0)
    return probe_procs ();
  else if (strcmp (argv[1], "status") == 0)
    return probe_status ();
  else if (strcmp (argv[1], "userns") == 0)
    return probe_userns ();
  else if (strcmp (argv[1], "forks") == 0 && argc == 3)
    return probe_forks (argv[2]);
  else if (strcmp (argv[1], "unix") == 0 && argc >= 3)
    return probe_unix (argc - 2, argv + 2);
  else
    {
      fprintf (stderr, "unknown probe '%s'\n", argv[1]);
      return 2;
    }
  return 0;
}
