/* claude-sandbox-init — the first program inside a sandbox, before the command.
 *
 *   claude-sandbox-init [--tty] [--landlock] [--net SOCKET PORT] -- COMMAND [ARG…]
 *   claude-sandbox-init --relay SOCKET
 *
 * --tty: the command gets its terminal (fd 0) as controlling terminal in a session
 * of its own *inside* the sandbox's pid namespace. Made outside, the session and
 * its foreground process group would be invisible inside, and a job-control shell
 * could not hand the terminal back ("Cannot set tty process group").
 *
 * --landlock: the command (not we) runs Landlock-scoped: no abstract unix socket
 * and no signal outside its domain (csb-landlock.h). The service asks for it only
 * where the kernel has it and says so in Protections, so if it fails we refuse to
 * run the command.
 *
 * --net: the sandbox has its own network namespace with only lo. We listen on
 * 127.0.0.1:PORT, relay each connection to SOCKET (the service's filtering proxy,
 * bound in from outside), and run COMMAND as our child, exiting with its status;
 * we ignore the terminal's and Stop's signals: the command gets them, and when it
 * ends we end. Without --net we simply become COMMAND.
 *
 * --relay: one connection whose two ends are our stdin and stdout, relayed to
 * SOCKET until both sides are done. A VM sandbox's QEMU runs us so for each guest
 * connection to its one forwarded address (guestfwd=…-cmd:); stderr is that same
 * connection there, so we write nothing to it.
 *
 * Plain C and poll(): nothing to load but libc.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csb-landlock.h"

#define BUF_SIZE 65536
#define MAX_CONNS 4096

typedef struct
{
  int    fd[2];          /* 0: the client (tcp), 1: the proxy (unix) */
  char  *buf[2];         /* bytes read from fd[i], waiting to go to fd[1 - i] */
  size_t len[2];
  int    eof[2];         /* fd[i] gave EOF */
} Conn;

static Conn *conns[MAX_CONNS];
static int sigchld_pipe[2];

static void
on_sigchld (int signum)
{
  int saved = errno;
  char c = 0;

  (void) signum;
  (void) !write (sigchld_pipe[1], &c, 1);
  errno = saved;
}

static void
conn_close (int i)
{
  Conn *c = conns[i];

  close (c->fd[0]);
  close (c->fd[1]);
  free (c->buf[0]);
  free (c->buf[1]);
  free (c);
  conns[i] = NULL;
}

static int
connect_proxy (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

  if (fd < 0)
    return -1;
  strncpy (addr.sun_path, path, sizeof addr.sun_path - 1);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0 && errno != EINPROGRESS)
    {
      close (fd);
      return -1;
    }
  return fd;
}

static void
accept_one (int listener,
            const char *proxy_path)
{
  int client = accept4 (listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  int upstream, slot = -1;

  if (client < 0)
    return;
  for (int i = 0; i < MAX_CONNS; i++)
    if (conns[i] == NULL)
      {
        slot = i;
        break;
      }
  upstream = slot >= 0 ? connect_proxy (proxy_path) : -1;
  if (upstream < 0)
    {
      close (client);
      return;
    }
  conns[slot] = calloc (1, sizeof (Conn));
  conns[slot]->fd[0] = client;
  conns[slot]->fd[1] = upstream;
  conns[slot]->buf[0] = malloc (BUF_SIZE);
  conns[slot]->buf[1] = malloc (BUF_SIZE);
}

/* Moves what it can; returns -1 when the connection is finished. */
static int
conn_pump (Conn *c,
           short revents0,
           short revents1)
{
  short revents[2] = { revents0, revents1 };

  for (int i = 0; i < 2; i++)
    {
      if (!c->eof[i] && c->len[i] < BUF_SIZE && (revents[i] & (POLLIN | POLLHUP | POLLERR)))
        {
          ssize_t n = read (c->fd[i], c->buf[i] + c->len[i], BUF_SIZE - c->len[i]);

          if (n > 0)
            c->len[i] += n;
          else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            c->eof[i] = 1;
        }
      if (c->len[i] > 0)
        {
          ssize_t n = send (c->fd[1 - i], c->buf[i], c->len[i], MSG_NOSIGNAL);

          if (n > 0)
            {
              memmove (c->buf[i], c->buf[i] + n, c->len[i] - n);
              c->len[i] -= n;
            }
          else if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        }
      if (c->eof[i] && c->len[i] == 0)
        shutdown (c->fd[1 - i], SHUT_WR);
    }
  return (c->eof[0] && c->eof[1] && c->len[0] == 0 && c->len[1] == 0) ? -1 : 0;
}

static int
exit_status (int wait_status)
{
  if (WIFEXITED (wait_status))
    return WEXITSTATUS (wait_status);
  if (WIFSIGNALED (wait_status))
    return 128 + WTERMSIG (wait_status);
  return 255;
}

static void
take_terminal (void)
{
  /* A new session (we are not a group leader: bwrap forked us), then fd 0, which no
   * session holds (the monitor gave it to none), as its controlling terminal. */
  setsid ();
  if (ioctl (0, TIOCSCTTY, 0) != 0)
    fprintf (stderr, "claude-sandbox-init: no controlling terminal: %s\n", strerror (errno));
}

static int landlock;

static int
run_command (char **command)
{
  if (landlock && csb_landlock_scope_self () < 0)
    {
      fprintf (stderr, "claude-sandbox-init: cannot apply Landlock scoping: %s\n",
               strerror (errno));
      return 125;
    }
  execvp (command[0], command);
  fprintf (stderr, "claude-sandbox-init: cannot run %s: %s\n", command[0], strerror (errno));
  return errno == ENOENT ? 127 : 126;
}

/* Writes all of @len bytes, or fails. */
static int
write_all (int         fd,
           const char *buf,
           size_t      len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, buf, len, MSG_NOSIGNAL);

      if (n < 0 && errno == ENOTSOCK)
        n = write (fd, buf, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return -1;
      buf += n;
      len -= n;
    }
  return 0;
}

/* Our stdin/stdout ↔ @path. Blocking: one connection, and both peers (QEMU's
 * user-mode network, the service's proxy) read while they write. */
static int
relay (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  char *buf = malloc (BUF_SIZE);
  int eof_in = 0, eof_sock = 0;
  int sock, null_fd;

  /* stderr is the guest's connection too: nothing may go there. */
  null_fd = open ("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_fd >= 0)
    {
      dup2 (null_fd, 2);
      close (null_fd);
    }
  signal (SIGPIPE, SIG_IGN);
  sock = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (buf == NULL || sock < 0 || strlen (path) >= sizeof addr.sun_path)
    return 1;
  strcpy (addr.sun_path, path);
  if (connect (sock, (struct sockaddr *) &addr, sizeof addr) < 0)
    return 1;
  while (!eof_in || !eof_sock)
    {
      struct pollfd fds[2] = {
        { eof_in ? -1 : 0, POLLIN, 0 },
        { eof_sock ? -1 : sock, POLLIN, 0 },
      };

      if (poll (fds, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return 1;
        }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
        {
          ssize_t n = read (0, buf, BUF_SIZE);

          if (n > 0 && write_all (sock, buf, n) < 0)
            return 1;
          if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            {
              eof_in = 1;
              shutdown (sock, SHUT_WR);
            }
        }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
        {
          ssize_t n = read (sock, buf, BUF_SIZE);

          if (n > 0 && write_all (1, buf, n) < 0)
            return 1;
          if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            {
              eof_sock = 1;
              /* A socket (QEMU gives us one end of a socket pair): half-close it;
               * anything else is closed. */
              if (shutdown (1, SHUT_WR) < 0)
                close (1);
            }
        }
    }
  return 0;
}

typedef struct
{
  int         tty;
  const char *proxy_path;   /* --net: the proxy's socket, or NULL */
  long        port;
  char      **command;
} Args;

/* The options before "--" and the command after it; 0, or the exit status of a
 * usage error (said on stderr). */
static int
parse_args (int    argc,
            char  *argv[],
            Args  *args)
{
  int arg = 1;

  for (; arg < argc; arg++)
    {
      if (strcmp (argv[arg], "--tty") == 0)
        args->tty = 1;
      else if (strcmp (argv[arg], "--landlock") == 0)
        landlock = 1;
      else if (strcmp (argv[arg], "--net") == 0 && arg + 2 < argc)
        {
          args->proxy_path = argv[++arg];
          args->port = strtol (argv[++arg], NULL, 10);
          if (args->port < 1 || args->port > 65535)
            {
              fprintf (stderr, "%s: bad port '%s'\n", argv[0], argv[arg]);
              return 125;
            }
        }
      else
        break;
    }
  if (arg + 1 >= argc || strcmp (argv[arg], "--") != 0)
    {
      fprintf (stderr, "usage: %s [--tty] [--landlock] [--net SOCKET PORT] -- COMMAND [ARG…]\n"
                       "       %s --relay SOCKET\n", argv[0], argv[0]);
      return 125;
    }
  args->command = argv + arg + 1;
  return 0;
}

/* A listener on 127.0.0.1:@port (non-blocking), or -1 (said on stderr). */
static int
listen_loopback (const char *argv0,
                 long        port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET };
  struct rlimit rl;
  int listener, one = 1;

  /* Two fds a connection: lift the soft limit to the hard one. */
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  listener = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  addr.sin_port = htons (port);
  setsockopt (listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (listener < 0 || bind (listener, (struct sockaddr *) &addr, sizeof addr) < 0 ||
      listen (listener, 1024) < 0)
    {
      fprintf (stderr, "%s: cannot listen on 127.0.0.1:%ld: %s\n", argv0, port,
               strerror (errno));
      return -1;
    }
  return listener;
}

/* Relays the connections of @listener to @proxy_path until @child exits; its exit
 * status. */
static int
relay_until_exit (int         listener,
                  const char *proxy_path,
                  pid_t       child)
{
  struct pollfd *pfds = calloc (2 + 2 * MAX_CONNS, sizeof (struct pollfd));

  for (;;)
    {
      int n = 0, idx[MAX_CONNS];
      int status;

      pfds[n++] = (struct pollfd) { .fd = sigchld_pipe[0], .events = POLLIN };
      pfds[n++] = (struct pollfd) { .fd = listener, .events = POLLIN };
      for (int i = 0; i < MAX_CONNS; i++)
        {
          Conn *c = conns[i];

          idx[i] = -1;
          if (c == NULL)
            continue;
          idx[i] = n;
          for (int k = 0; k < 2; k++)
            pfds[n++] = (struct pollfd) {
              .fd = c->fd[k],
              .events = (!c->eof[k] && c->len[k] < BUF_SIZE ? POLLIN : 0) |
                        (c->len[1 - k] > 0 ? POLLOUT : 0),
            };
        }
      if (poll (pfds, n, -1) < 0 && errno != EINTR)
        break;

      if (waitpid (child, &status, WNOHANG) == child)
        return exit_status (status);
      if (pfds[0].revents & POLLIN)
        {
          char drain[64];
          while (read (sigchld_pipe[0], drain, sizeof drain) > 0)
            ;
        }
      for (int i = 0; i < MAX_CONNS; i++)
        if (idx[i] >= 0 && conns[i] != NULL &&
            conn_pump (conns[i], pfds[idx[i]].revents, pfds[idx[i] + 1].revents) < 0)
          conn_close (i);
      if (pfds[1].revents & POLLIN)
        for (int k = 0; k < 64; k++)
          accept_one (listener, proxy_path);
    }
  return 125;
}

int
main (int   argc,
      char *argv[])
{
  static const int ignored[] = { SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGTERM, SIGHUP,
                                 SIGPIPE };
  Args args = { 0 };
  int listener, status;
  pid_t child;

  if (argc == 3 && strcmp (argv[1], "--relay") == 0)
    return relay (argv[2]);
  if ((status = parse_args (argc, argv, &args)) != 0)
    return status;

  if (args.proxy_path == NULL)
    {
      if (args.tty)
        take_terminal ();
      return run_command (args.command);
    }

  if ((listener = listen_loopback (argv[0], args.port)) < 0)
    return 125;
  if (pipe2 (sigchld_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
    return 125;
  signal (SIGCHLD, on_sigchld);

  child = fork ();
  if (child < 0)
    return 125;
  if (child == 0)
    {
      signal (SIGCHLD, SIG_DFL);
      close (listener);
      if (args.tty)
        take_terminal ();
      _exit (run_command (args.command));
    }
  for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
    signal (ignored[i], SIG_IGN);
  return relay_until_exit (listener, args.proxy_path, child);
}
