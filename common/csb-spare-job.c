/* csb-spare-job.c — see csb-spare-job.h.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-error.h"
#include "csb-file.h"
#include "csb-spare-job.h"

#define JOB_MAGIC "CSBJ"
/* The command line's size, checked on the way in: bwrap's own arguments travel in a
 * memfd of their own, so this is the monitor's options and the sandbox's command. */
#define JOB_ARGV_MAX (16 * 1024 * 1024)

typedef struct
{
  char    magic[4];
  guint32 n_fds;
  gint32  targets[CSB_SPARE_JOB_MAX_FDS];
} JobHeader;

gboolean
csb_spare_job_send (int         socket_fd,
                    GBytes     *argv_data,
                    const int  *sources,
                    const int  *targets,
                    guint       n_fds,
                    GError    **error)
{
  JobHeader header = { JOB_MAGIC, n_fds, { 0 } };
  int fds[CSB_SPARE_JOB_MAX_FDS + 1];
  union {
    char buf[CMSG_SPACE (sizeof fds)];
    struct cmsghdr align;
  } control;
  struct iovec iov = { &header, G_STRUCT_OFFSET (JobHeader, targets) + n_fds * sizeof (gint32) };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                        .msg_controllen = CMSG_SPACE ((n_fds + 1) * sizeof (int)) };
  struct cmsghdr *cmsg;
  ssize_t sent;
  int saved;

  if (n_fds > CSB_SPARE_JOB_MAX_FDS)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "%u descriptors are more than a message carries", n_fds);
      return FALSE;
    }
  if ((fds[0] = csb_file_sealed_memfd ("csb-spare-job", argv_data)) < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "cannot write the monitor's command line: %s", g_strerror (errno));
      return FALSE;
    }
  for (guint i = 0; i < n_fds; i++)
    {
      fds[i + 1] = sources[i];
      header.targets[i] = targets[i];
    }
  memset (control.buf, 0, sizeof control.buf);
  cmsg = CMSG_FIRSTHDR (&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN ((n_fds + 1) * sizeof (int));
  memcpy (CMSG_DATA (cmsg), fds, (n_fds + 1) * sizeof (int));
  do
    sent = sendmsg (socket_fd, &msg, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  saved = errno;
  close (fds[0]);
  if (sent != (ssize_t) iov.iov_len)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "the spare monitor is gone: %s",
                   sent < 0 ? g_strerror (saved) : "short write");
      return FALSE;
    }
  return TRUE;
}

/* The command line in @fd: NUL-terminated arguments, at most JOB_ARGV_MAX bytes. */
static GStrv
read_argv (int      fd,
           GError **error)
{
  struct stat st;
  g_autofree char *data = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  gsize done = 0;

  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || st.st_size <= 0 ||
      st.st_size > JOB_ARGV_MAX)
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED,
                           "the job's command line is not a file of a sane size");
      return NULL;
    }
  data = g_malloc (st.st_size);
  while (done < (gsize) st.st_size)
    {
      ssize_t n = pread (fd, data + done, st.st_size - done, done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED,
                               "cannot read the job's command line");
          return NULL;
        }
      done += n;
    }
  if (data[st.st_size - 1] != '\0')
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED,
                           "the job's command line does not end with NUL");
      return NULL;
    }
  for (gsize at = 0; at < (gsize) st.st_size; at += strlen (data + at) + 1)
    g_ptr_array_add (argv, g_strdup (data + at));
  g_ptr_array_add (argv, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&argv), FALSE);
}

/* @fd moved above @top, close-on-exec; -1 if it cannot be. */
static int
move_above (int fd,
            int top)
{
  int moved;

  if (fd < 0 || fd > top)
    return fd;
  moved = fcntl (fd, F_DUPFD_CLOEXEC, top + 1);
  close (fd);
  return moved;
}

/* Whether @targets are @n distinct numbers from @min on. */
static gboolean
targets_sane (const gint32 *targets,
              guint         n,
              int           min,
              int          *out_top)
{
  *out_top = 2;
  for (guint i = 0; i < n; i++)
    {
      if (targets[i] < min || targets[i] > 65535)
        return FALSE;
      for (guint k = 0; k < i; k++)
        if (targets[k] == targets[i])
          return FALSE;
      *out_top = MAX (*out_top, targets[i]);
    }
  return TRUE;
}

/* @keep's fds and the @n_received received ones (@fds; the memfd first) moved above
 * @top, then each received one but the memfd dup'ed to its target. */
static gboolean
place_fds (int          *fds,
           guint         n_received,
           const gint32 *targets,
           int           top,
           int         **keep,
           GError      **error)
{
  for (guint i = 0; keep != NULL && keep[i] != NULL; i++)
    *keep[i] = move_above (*keep[i], top);
  for (guint i = 0; i < n_received; i++)
    if ((fds[i] = move_above (fds[i], top)) < 0)
      goto fail;
  for (guint i = 1; i < n_received; i++)
    if (dup2 (fds[i], targets[i - 1]) < 0)
      goto fail;
  return TRUE;

fail:
  g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot place the job's fds: %s",
               g_strerror (errno));
  return FALSE;
}

GStrv
csb_spare_job_receive (int       socket_fd,
                       int     **keep,
                       int       min_target,
                       GArray  **out_targets,
                       GError  **error)
{
  JobHeader header;
  union {
    char buf[CMSG_SPACE ((CSB_SPARE_JOB_MAX_FDS + 1) * sizeof (int))];
    struct cmsghdr align;
  } control;
  struct iovec iov = { &header, sizeof header };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf };
  struct cmsghdr *cmsg;
  int fds[CSB_SPARE_JOB_MAX_FDS + 1];
  guint n_received = 0;
  ssize_t n;
  int top;
  GStrv argv = NULL;

  do
    n = recvmsg (socket_fd, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n == 0)
    return NULL;
  if (n < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot read the job: %s",
                   g_strerror (errno));
      return NULL;
    }
  for (cmsg = CMSG_FIRSTHDR (&msg); cmsg != NULL; cmsg = CMSG_NXTHDR (&msg, cmsg))
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
      {
        guint count = (cmsg->cmsg_len - CMSG_LEN (0)) / sizeof (int);

        for (guint i = 0; i < count; i++)
          {
            int fd;

            memcpy (&fd, CMSG_DATA (cmsg) + i * sizeof (int), sizeof fd);
            if (n_received < G_N_ELEMENTS (fds))
              fds[n_received++] = fd;
            else
              close (fd);
          }
      }
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
      n < G_STRUCT_OFFSET (JobHeader, targets) || memcmp (header.magic, JOB_MAGIC, 4) != 0 ||
      header.n_fds > CSB_SPARE_JOB_MAX_FDS ||
      n != (ssize_t) (G_STRUCT_OFFSET (JobHeader, targets) + header.n_fds * sizeof (gint32)) ||
      n_received != header.n_fds + 1 || !targets_sane (header.targets, header.n_fds, min_target, &top))
    {
      g_set_error_literal (error, CSB_ERROR, CSB_ERROR_FAILED, "the job's message is malformed");
      goto out;
    }
  if ((argv = read_argv (fds[0], error)) == NULL)
    goto out;
  if (!place_fds (fds, n_received, header.targets, top, keep, error))
    g_clear_pointer (&argv, g_strfreev);
  else if (out_targets != NULL)
    {
      *out_targets = g_array_sized_new (FALSE, FALSE, sizeof (int), header.n_fds);
      for (guint i = 0; i < header.n_fds; i++)
        g_array_append_val (*out_targets, header.targets[i]);
    }

out:
  for (guint i = 0; i < n_received; i++)
    if (fds[i] >= 0)
      close (fds[i]);
  return argv;
}

gboolean
csb_spare_job_ack (int socket_fd)
{
  return write (socket_fd, "k", 1) == 1;
}

gboolean
csb_spare_job_read_ack (int socket_fd)
{
  char byte;
  ssize_t n;

  do
    n = read (socket_fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  return n == 1;
}
