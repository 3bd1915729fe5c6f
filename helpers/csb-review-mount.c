/* claude-sandbox-review-mount — the review mode's overlay, mounted from outside.
 *
 *   claude-sandbox-review-mount PID TARGET
 *
 * bwrap 0.8 has no overlay options, and the sandbox itself must never hold the
 * capability to mount (it runs with none, under a seccomp filter that refuses
 * mount()). So the monitor runs us on the host while bwrap waits on its block fd:
 * its child (PID) has set up its mount namespace and dropped its privileges, and
 * has neither loaded its seccomp filter nor run anything of the sandbox yet.
 *
 * We join its user namespace (which our user owns, so we have every capability in
 * it) and its mount namespace, and mount overlayfs at TARGET (the project's path
 * inside) from the two folders bwrap bound under STAGE: lower (the project,
 * read-only, bound from a descriptor) and rw, which holds upper and work (the
 * sandbox's own, under the service's state folder; overlayfs wants both on one
 * mount). userxattr: an overlay in a user namespace keeps its
 * metadata in user.overlay.* (Linux 5.11). redirect_dir stays off, so a renamed
 * folder is a deletion plus an addition in the upper layer, never a pointer into
 * the lower one. Then the staging mounts go away, so the sandbox cannot reach its
 * upper layer except through the overlay.
 *
 * Plain C: nothing to load but libc, and a single thread (setns() into a user
 * namespace needs that).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <linux/nsfs.h>
#include <unistd.h>

#define STAGE "/run/claude-sandbox-review"

/* The sandbox's mount namespace, and the user namespace that owns it: with --dev,
 * bwrap makes two user namespaces (uid 0 in the first, for devpts, then the user's
 * own uid in a second one for the command) and the mount namespace belongs to the
 * first, the child's parent. */
static int
join (long pid)
{
  char path[64];
  int mnt_fd, user_fd = -1, root_fd;

  snprintf (path, sizeof path, "/proc/%ld/ns/mnt", pid);
  mnt_fd = open (path, O_RDONLY | O_CLOEXEC);
  snprintf (path, sizeof path, "/proc/%ld/root", pid);
  root_fd = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (mnt_fd < 0 || root_fd < 0 || (user_fd = ioctl (mnt_fd, NS_GET_USERNS)) < 0)
    {
      fprintf (stderr, "claude-sandbox-review-mount: cannot find the sandbox's mount "
               "namespace: %s\n", strerror (errno));
      return -1;
    }
  if (setns (user_fd, CLONE_NEWUSER) != 0 || setns (mnt_fd, CLONE_NEWNS) != 0)
    {
      fprintf (stderr, "claude-sandbox-review-mount: cannot join the sandbox's mount "
               "namespace: %s\n", strerror (errno));
      return -1;
    }
  /* The namespace's root is bwrap's scratch folder; the sandbox's is where bwrap
   * chrooted its child (bwrap 0.8) or pivoted to: take the child's. */
  if (fchdir (root_fd) != 0 || chroot (".") != 0 || chdir ("/") != 0)
    {
      fprintf (stderr, "claude-sandbox-review-mount: cannot enter the sandbox's root: %s\n",
               strerror (errno));
      return -1;
    }
  close (root_fd);
  close (user_fd);
  close (mnt_fd);
  return 0;
}

/* bwrap reports the child's pid as soon as it has cloned it; the child then builds
 * the sandbox's tree (in a scratch root of its own) and pivots into it. Once our
 * staging folders are where the sandbox's root has them, the tree is complete
 * (what remains: dropping the old root and privileges, then the block fd). Polled:
 * bwrap says nothing in between. */
static int
wait_for_root (long pid)
{
  char path[128];
  struct stat st;

  snprintf (path, sizeof path, "/proc/%ld/root" STAGE "/rw/upper", pid);
  for (int i = 0; i < 60000; i++)
    {
      char proc[64];

      if (stat (path, &st) == 0 && S_ISDIR (st.st_mode))
        return 0;
      snprintf (proc, sizeof proc, "/proc/%ld", pid);
      if (stat (proc, &st) != 0)
        {
          fprintf (stderr, "claude-sandbox-review-mount: the sandbox is gone: %s\n",
                   strerror (errno));
          return -1;
        }
      usleep (1000);
    }
  fprintf (stderr, "claude-sandbox-review-mount: the sandbox never got its root\n");
  return -1;
}

int
main (int   argc,
      char *argv[])
{
  const char *options = "lowerdir=" STAGE "/lower,upperdir=" STAGE "/rw/upper,workdir="
                        STAGE "/rw/work,userxattr,redirect_dir=nofollow";
  const char *target;
  char *end;
  long pid;

  if (argc != 3 || argv[2][0] != '/')
    {
      fprintf (stderr, "usage: %s PID TARGET\n", argv[0]);
      return 125;
    }
  pid = strtol (argv[1], &end, 10);
  if (*end != '\0' || pid <= 1)
    {
      fprintf (stderr, "%s: bad pid '%s'\n", argv[0], argv[1]);
      return 125;
    }
  target = argv[2];

  /* That user namespace's owner is our euid (root's when we are root), which gives
   * us CAP_SYS_ADMIN inside it. */
  if (wait_for_root (pid) < 0 || join (pid) < 0)
    return 1;
  if (mount ("claude-sandbox-review", target, "overlay", MS_NOSUID | MS_NODEV, options) != 0)
    {
      int saved = errno;

      fprintf (stderr, "claude-sandbox-review-mount: cannot mount the review overlay at %s: "
               "%s%s\n", target, strerror (saved),
               saved == EPERM || saved == EINVAL || saved == ENODEV
                 ? " (review mode needs overlayfs in user namespaces, Linux 5.11 or later, "
                   "and user extended attributes in the state folder)" : "");
      return 1;
    }
  /* The overlay holds its own references to its layers. */
  if (umount2 (STAGE "/lower", MNT_DETACH) != 0 || umount2 (STAGE "/rw", MNT_DETACH) != 0)
    {
      fprintf (stderr, "claude-sandbox-review-mount: cannot hide the layers: %s\n",
               strerror (errno));
      return 1;
    }
  return 0;
}
