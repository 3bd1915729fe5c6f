/* csb-container-init.c — PID 1 of a claude-sandbox container.
 *
 * libvirt's LXC driver has built the container's file system from the domain
 * XML (read-only host /usr, tmpfs layers, binds) and starts this program as
 * container root, with the console as its stdio. It reads the sandbox's plan
 * from the control folder ("config", deleted once read: it carries the secrets,
 * which so never touch the domain XML, an argv or a log), detaches that folder
 * from the container, finishes the set-up (ownership of the user's tmpfs
 * folders, links), waits until the service has attached to the console
 * ("attached" in the folder: LXC domains cannot start paused), runs the command as the sandbox's user on the console with
 * no capabilities and no_new_privs, and writes "started" and then the exit
 * status back through the folder's fd it kept. Its exit ends the container.
 *
 * The plan uses the VM init's word format (vm/csb-guest-init.c): NUL-terminated
 * words, a keyword and a fixed number of arguments:
 *   uid U | gid G | cwd PATH | home PATH | hostname NAME | raw 0/1 | winsize COLS ROWS
 *   env NAME=VALUE | arg WORD | own PATH MODE (the user's, with octal MODE)
 *   symlink TARGET PATH | mkdir PATH
 *   review LOWER RW PATH (review mode: overlayfs at PATH over LOWER, its upper and work
 *                         folders in RW; LOWER and RW are detached once it holds them)
 * Plain libc: it is linked statically and runs before anything else.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "csb-init-protect.h"

#define CTL_DIR      "/run/claude-sandbox-ctl"
#define MAX_WORDS    65536
#define STOP_GRACE_S 5

typedef struct
{
  uid_t  uid;
  gid_t  gid;
  char  *cwd;
  char  *home;
  char  *hostname;
  int    raw;
  int    cols, rows;
  char  *argv[4096];
  int    argc;
  char  *envp[4096];
  int    envc;
} Command;

static char *words[MAX_WORDS];
static int n_words;

/* A set-up error: on the console, where the sandbox's user sees it. */
static void
fail (const char *fmt, ...)
{
  char buf[1024];
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (buf, sizeof buf, fmt, ap);
  va_end (ap);
  if (n > 0)
    {
      if (write (2, "claude-sandbox container: ", 26) < 0 ||
          write (2, buf, strlen (buf)) < 0 || write (2, "\r\n", 2) < 0) {}
    }
}

static int
mkdir_p (const char *path)
{
  char buf[4096];
  size_t len = strlen (path);

  if (len >= sizeof buf)
    return -1;
  memcpy (buf, path, len + 1);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/')
      {
        *p = '\0';
        if (mkdir (buf, 0755) != 0 && errno != EEXIST)
          return -1;
        *p = '/';
      }
  if (mkdir (buf, 0755) != 0 && errno != EEXIST)
    return -1;
  return 0;
}

static int
read_plan (int ctl_fd)
{
  int fd = openat (ctl_fd, "config", O_RDONLY | O_CLOEXEC);
  struct stat st;
  size_t off = 0;
  char *data;

  if (fd < 0 || fstat (fd, &st) != 0)
    return -1;
  data = malloc (st.st_size + 1);
  if (data == NULL)
    return -1;
  while (off < (size_t) st.st_size)
    {
      ssize_t n = read (fd, data + off, st.st_size - off);
      if (n <= 0)
        return -1;
      off += n;
    }
  close (fd);
  /* Read once: the secrets in it must not stay around. */
  unlinkat (ctl_fd, "config", 0);
  data[off] = '\0';
  for (size_t i = 0; i < off && n_words < MAX_WORDS; )
    {
      words[n_words++] = data + i;
      i += strlen (data + i) + 1;
    }
  return 0;
}

/* Review mode (csb-review.c reads the upper layer on the host). In the container's
 * user namespace, as container root: userxattr (its marks in user.overlay.*),
 * whiteouts as 0/0 character devices, and no redirects, so a renamed folder is a
 * deletion plus an addition. The command, later, holds no capability: it reaches
 * its upper layer through the overlay only. */
static int
mount_review (const char *lower,
              const char *rw,
              const char *path)
{
  char options[3 * 4096 + 128];

  snprintf (options, sizeof options, "lowerdir=%s,upperdir=%s/upper,workdir=%s/work,"
            "userxattr,redirect_dir=nofollow", lower, rw, rw);
  if (mkdir_p (path) != 0 ||
      mount ("claude-sandbox-review", path, "overlay", MS_NOSUID | MS_NODEV, options) != 0)
    {
      fail ("cannot mount the review overlay at %s: %s%s", path, strerror (errno),
            errno == EPERM || errno == EINVAL || errno == ENODEV
              ? " (review mode needs overlayfs in user namespaces, Linux 5.11 or later, and "
                "user extended attributes in the state folder)" : "");
      return -1;
    }
  if (umount2 (lower, MNT_DETACH) != 0 || umount2 (rw, MNT_DETACH) != 0)
    {
      fail ("cannot hide the review layers: %s", strerror (errno));
      return -1;
    }
  return 0;
}

static int
run_plan (Command *cmd)
{
  char **w = words;
  int n = n_words;

#define NEED(k) do { if (i + (k) >= n) { fail ("truncated plan at '%s'", w[i]); return -1; } } while (0)
  for (int i = 0; i < n; )
    {
      const char *key = w[i];

      if (strcmp (key, "uid") == 0)
        { NEED (1); cmd->uid = strtoul (w[i + 1], NULL, 10); i += 2; }
      else if (strcmp (key, "gid") == 0)
        { NEED (1); cmd->gid = strtoul (w[i + 1], NULL, 10); i += 2; }
      else if (strcmp (key, "cwd") == 0)
        { NEED (1); cmd->cwd = w[i + 1]; i += 2; }
      else if (strcmp (key, "home") == 0)
        { NEED (1); cmd->home = w[i + 1]; i += 2; }
      else if (strcmp (key, "hostname") == 0)
        { NEED (1); cmd->hostname = w[i + 1]; i += 2; }
      else if (strcmp (key, "raw") == 0)
        { NEED (1); cmd->raw = atoi (w[i + 1]); i += 2; }
      else if (strcmp (key, "winsize") == 0)
        { NEED (2); cmd->cols = atoi (w[i + 1]); cmd->rows = atoi (w[i + 2]); i += 3; }
      else if (strcmp (key, "env") == 0)
        {
          NEED (1);
          if (cmd->envc < 4095)
            cmd->envp[cmd->envc++] = w[i + 1];
          i += 2;
        }
      else if (strcmp (key, "arg") == 0)
        {
          NEED (1);
          if (cmd->argc < 4095)
            cmd->argv[cmd->argc++] = w[i + 1];
          i += 2;
        }
      else if (strcmp (key, "own") == 0)
        {
          NEED (2);
          if (mkdir_p (w[i + 1]) != 0 || chown (w[i + 1], cmd->uid, cmd->gid) != 0 ||
              chmod (w[i + 1], strtoul (w[i + 2], NULL, 8)) != 0)
            {
              fail ("cannot prepare %s: %s", w[i + 1], strerror (errno));
              return -1;
            }
          i += 3;
        }
      else if (strcmp (key, "protect") == 0)
        {
          /* project, path below it, ro|rw, d|f: see csb-init-protect.c */
          NEED (4);
          if (csb_init_protect (w[i + 1], w[i + 2], strcmp (w[i + 3], "ro") == 0,
                                strcmp (w[i + 4], "d") == 0) != 0)
            {
              if (errno != ENOENT && errno != ELOOP && errno != EXDEV && errno != EINVAL)
                {
                  fail ("cannot protect %s/%s: %s", w[i + 1], w[i + 2], strerror (errno));
                  return -1;
                }
            }
          i += 5;
        }
      else if (strcmp (key, "protect-tmpfs") == 0)
        {
          /* project, its folder, uid, gid: see csb-init-protect.c */
          NEED (4);
          if (csb_init_protect_tmpfs (w[i + 1], w[i + 2], strtoul (w[i + 3], NULL, 10),
                                      strtoul (w[i + 4], NULL, 10)) != 0)
            {
              fail ("cannot cover %s/%s with a tmpfs: %s", w[i + 1], w[i + 2], strerror (errno));
              return -1;
            }
          i += 5;
        }
      else if (strcmp (key, "protect-link") == 0)
        {
          /* project, path below it, target: a link of a folder covered by a tmpfs */
          NEED (3);
          if (csb_init_protect_link (w[i + 1], w[i + 2], w[i + 3]) != 0)
            fail ("cannot make the link %s/%s again: %s", w[i + 1], w[i + 2], strerror (errno));
          i += 4;
        }
      else if (strcmp (key, "symlink") == 0)
        {
          NEED (2);
          if (symlink (w[i + 1], w[i + 2]) != 0 && errno != EEXIST)
            fail ("cannot create the symlink %s: %s", w[i + 2], strerror (errno));
          else
            lchown (w[i + 2], cmd->uid, cmd->gid);
          i += 3;
        }
      else if (strcmp (key, "mkdir") == 0)
        {
          NEED (1);
          mkdir_p (w[i + 1]);
          i += 2;
        }
      else if (strcmp (key, "review") == 0)
        {
          NEED (3);
          if (mount_review (w[i + 1], w[i + 2], w[i + 3]) != 0)
            return -1;
          i += 4;
        }
      else
        {
          fail ("unknown plan entry '%s'", key);
          return -1;
        }
    }
#undef NEED
  return 0;
}

static void
write_status (int         ctl_fd,
              Command    *cmd,
              const char *name,
              const char *text)
{
  int fd;

  /* As the user: the file is the user's on the host too, the folder is 0700. */
  setfsgid (cmd->gid);
  setfsuid (cmd->uid);
  fd = openat (ctl_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0)
    {
      if (write (fd, text, strlen (text)) < 0) {}
      close (fd);
    }
  setfsuid (0);
  setfsgid (0);
}

static void
run_child (Command *cmd)
{
  struct winsize ws;

  setsid ();
  ioctl (0, TIOCSCTTY, 0);
  if (cmd->cols > 0 && cmd->rows > 0)
    {
      memset (&ws, 0, sizeof ws);
      ws.ws_col = cmd->cols;
      ws.ws_row = cmd->rows;
      ioctl (0, TIOCSWINSZ, &ws);
    }
  if (cmd->raw)
    {
      struct termios tio;
      if (tcgetattr (0, &tio) == 0)
        {
          cfmakeraw (&tio);
          tcsetattr (0, TCSANOW, &tio);
        }
    }
  /* Nothing of container root survives into the command: no capabilities,
   * bounding set included, and setuid programs do not give them back. */
  for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
    prctl (PR_CAPBSET_DROP, cap, 0, 0, 0);
  if (setgroups (0, NULL) != 0 || setgid (cmd->gid) != 0 || setuid (cmd->uid) != 0 ||
      prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    {
      fprintf (stderr, "claude-sandbox container: cannot become uid %u: %s\r\n", cmd->uid,
               strerror (errno));
      _exit (126);
    }
  if (cmd->cwd != NULL && chdir (cmd->cwd) != 0)
    {
      fprintf (stderr, "claude-sandbox container: cannot enter %s: %s\r\n", cmd->cwd,
               strerror (errno));
      _exit (126);
    }
  cmd->argv[cmd->argc] = NULL;
  cmd->envp[cmd->envc] = NULL;
  {
    environ = cmd->envp;   /* execvpe searches the sandbox's PATH */
    execvpe (cmd->argv[0], cmd->argv, cmd->envp);
  }
  fprintf (stderr, "claude-sandbox container: cannot run %s: %s\r\n", cmd->argv[0],
           strerror (errno));
  _exit (errno == ENOENT ? 127 : 126);
}

int
main (int    argc,
      char **argv)
{
  static Command cmd;
  int ctl_fd, sfd;
  sigset_t mask;
  pid_t child;
  int status = 255, ended = 0;
  time_t stop_deadline = 0;
  char text[32];

  (void) argc;
  (void) argv;
  ctl_fd = open (CTL_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (ctl_fd < 0 || read_plan (ctl_fd) != 0)
    {
      fail ("cannot read the sandbox's plan: %s", strerror (errno));
      return 1;
    }
  /* Only our fd reaches the control folder from now on. */
  if (umount2 (CTL_DIR, MNT_DETACH) != 0)
    fail ("cannot detach the control folder: %s", strerror (errno));
  rmdir (CTL_DIR);
  if (run_plan (&cmd) != 0 || cmd.argc == 0)
    {
      if (cmd.argc == 0)
        fail ("the plan has no command");
      write_status (ctl_fd, &cmd, "status", "failed\n");
      return 1;
    }
  if (cmd.hostname != NULL)
    sethostname (cmd.hostname, strlen (cmd.hostname));

  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  sigaddset (&mask, SIGTERM);
  sigaddset (&mask, SIGINT);
  sigaddset (&mask, SIGHUP);
  sigaddset (&mask, SIGPWR);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  sfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  /* The service attaches to the console first, then says so. */
  for (int i = 0; i < 3000 && faccessat (ctl_fd, "attached", F_OK, 0) != 0; i++)
    usleep (10000);

  child = fork ();
  if (child == 0)
    {
      sigprocmask (SIG_UNBLOCK, &mask, NULL);
      run_child (&cmd);
    }
  if (child < 0)
    {
      fail ("cannot fork: %s", strerror (errno));
      write_status (ctl_fd, &cmd, "status", "failed\n");
      return 1;
    }
  write_status (ctl_fd, &cmd, "started", "1\n");

  while (!ended)
    {
      struct pollfd fds[1] = { { sfd, POLLIN, 0 } };

      poll (fds, 1, stop_deadline ? 500 : -1);
      if (fds[0].revents & POLLIN)
        {
          struct signalfd_siginfo si;
          while (read (sfd, &si, sizeof si) == sizeof si)
            if (si.ssi_signo != SIGCHLD && stop_deadline == 0)
              {
                /* Stop(): libvirt's shutdown signals us. */
                kill (-child, SIGHUP);
                kill (-child, SIGTERM);
                stop_deadline = time (NULL) + STOP_GRACE_S;
              }
        }
      for (;;)
        {
          int ws;
          pid_t pid = waitpid (-1, &ws, WNOHANG);
          if (pid <= 0)
            break;
          if (pid == child)
            {
              status = WIFEXITED (ws) ? WEXITSTATUS (ws) : 128 + WTERMSIG (ws);
              ended = 1;
            }
        }
      if (!ended && stop_deadline != 0 && time (NULL) >= stop_deadline)
        kill (-child, SIGKILL);
    }

  /* What the command left running goes with it. */
  kill (-1, SIGTERM);
  usleep (50000);
  kill (-1, SIGKILL);
  /* Its last output reaches the console before the container goes. */
  tcdrain (1);
  snprintf (text, sizeof text, "%d\n", status);
  write_status (ctl_fd, &cmd, "status", text);
  return 0;
}
