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
 * The plan's format and keywords are csb-plan.h's (the container's: the command's
 * settings, own, symlink, mkdir, review and the project's protect entries).
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

#include "csb-init-plan.h"
#include "csb-plan.h"

#define CTL_DIR      "/run/claude-sandbox-ctl"
#define STOP_GRACE_S 5

typedef CsbPlanCommand Command;

/* Set-up errors, and entries of the plan that did not hold, on the console, where the
 * sandbox's user sees them; the notes nowhere (the container keeps no log of its own). */
static void
log_to_console (CsbInitLevel level,
                const char  *message)
{
  if (level != CSB_INIT_NOTE)
    csb_init_write_line (2, "claude-sandbox container: ", message);
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
  if (csb_init_mkdir_p (path, 0755) != 0 ||
      mount ("claude-sandbox-review", path, "overlay", MS_NOSUID | MS_NODEV, options) != 0)
    {
      csb_init_fail ("cannot mount the review overlay at %s: %s%s", path, strerror (errno),
                     errno == EPERM || errno == EINVAL || errno == ENODEV
                       ? " (review mode needs overlayfs in user namespaces, Linux 5.11 or "
                         "later, and user extended attributes in the state folder)" : "");
      return -1;
    }
  if (umount2 (lower, MNT_DETACH) != 0 || umount2 (rw, MNT_DETACH) != 0)
    {
      csb_init_fail ("cannot hide the review layers: %s", strerror (errno));
      return -1;
    }
  return 0;
}

/* own PATH MODE: PATH made, the user's, with octal MODE. */
static int
plan_own (void           *data,
          CsbPlanKeyword  keyword,
          char          **args)
{
  Command *cmd = data;

  if (csb_init_mkdir_p (args[0], 0755) != 0 || chown (args[0], cmd->uid, cmd->gid) != 0 ||
      chmod (args[0], strtoul (args[1], NULL, 8)) != 0)
    {
      csb_init_fail ("cannot prepare %s: %s", args[0], strerror (errno));
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
  return mount_review (args[0], args[1], args[2]);
}

/* The keywords a container's plan has (csb-container-backend.c writes it). */
static const CsbPlanHandler plan_handlers[CSB_PLAN_N_KEYWORDS] = {
  [CSB_PLAN_UID] = csb_plan_set_command,
  [CSB_PLAN_GID] = csb_plan_set_command,
  [CSB_PLAN_CWD] = csb_plan_set_command,
  [CSB_PLAN_HOME] = csb_plan_set_command,
  [CSB_PLAN_HOSTNAME] = csb_plan_set_command,
  [CSB_PLAN_RAW] = csb_plan_set_command,
  [CSB_PLAN_WINSIZE] = csb_plan_set_command,
  [CSB_PLAN_ENV] = csb_plan_set_command,
  [CSB_PLAN_ARG] = csb_plan_set_command,
  [CSB_PLAN_OWN] = plan_own,
  [CSB_PLAN_PROTECT] = csb_init_plan_protect,
  [CSB_PLAN_PROTECT_TMPFS] = csb_init_plan_protect_tmpfs,
  [CSB_PLAN_PROTECT_LINK] = csb_init_plan_protect_link,
  [CSB_PLAN_SYMLINK] = csb_init_plan_symlink,
  [CSB_PLAN_MKDIR] = csb_init_plan_mkdir,
  [CSB_PLAN_REVIEW] = plan_review,
};

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

/* The plan, read from the control folder (and deleted there), which is then
 * detached: only the returned fd reaches it from now on. -1 when it cannot be read. */
static int
read_plan_and_detach (CsbPlan *plan)
{
  int ctl_fd = open (CTL_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (ctl_fd < 0 || csb_plan_read (ctl_fd, "config", plan) != 0)
    {
      csb_init_fail ("cannot read the sandbox's plan: %s", strerror (errno));
      return -1;
    }
  if (umount2 (CTL_DIR, MNT_DETACH) != 0)
    csb_init_fail ("cannot detach the control folder: %s", strerror (errno));
  rmdir (CTL_DIR);
  return ctl_fd;
}

/* SIGCHLD and the stop signals, blocked (into @mask) and read from the returned
 * signalfd. */
static int
block_signals (sigset_t *mask)
{
  sigemptyset (mask);
  sigaddset (mask, SIGCHLD);
  sigaddset (mask, SIGTERM);
  sigaddset (mask, SIGINT);
  sigaddset (mask, SIGHUP);
  sigaddset (mask, SIGPWR);
  sigprocmask (SIG_BLOCK, mask, NULL);
  return signalfd (-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Until the command (@child) ends: its exit status. A stop signal (Stop():
 * libvirt's shutdown signals us) hangs it up and terminates it, and kills it
 * STOP_GRACE_S seconds later. */
static int
wait_for_command (int   sfd,
                  pid_t child)
{
  time_t stop_deadline = 0;
  int status = 255, ended = 0;

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
  return status;
}

int
main (int    argc,
      char **argv)
{
  static CsbPlan plan;
  static Command cmd;
  int ctl_fd, sfd;
  sigset_t mask;
  pid_t child;
  int status;
  char text[32];

  (void) argc;
  (void) argv;
  csb_init = (CsbInitContext) { "", 1, log_to_console };
  ctl_fd = read_plan_and_detach (&plan);
  if (ctl_fd < 0)
    return 1;
  if (csb_plan_run (&plan, plan_handlers, &cmd, csb_init_fail) != 0 || cmd.argc == 0)
    {
      if (cmd.argc == 0)
        csb_init_fail ("the plan has no command");
      write_status (ctl_fd, &cmd, "status", "failed\n");
      return 1;
    }
  if (cmd.hostname != NULL)
    sethostname (cmd.hostname, strlen (cmd.hostname));
  sfd = block_signals (&mask);

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
      csb_init_fail ("cannot fork: %s", strerror (errno));
      write_status (ctl_fd, &cmd, "status", "failed\n");
      return 1;
    }
  write_status (ctl_fd, &cmd, "started", "1\n");
  status = wait_for_command (sfd, child);

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
