/* test-peer.c — the control sockets' peer check (csb-peer.c) and the private folders
 * they live in (csb_file_open_private_dir): a process of ours here passes; one in a
 * user namespace of its own, or one already gone, is refused; a link on the way to a
 * folder is not followed, and a folder open to others is closed to them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csb-file.h"
#include "csb-peer.h"
#include "csb-test-utils.h"

typedef gboolean (*CheckFunc) (int socket_fd, GError **error);

/* Each case runs with SO_PEERPIDFD (Linux 6.5) and without, as on older kernels. */
static CheckFunc
check_of (gconstpointer data)
{
  return GPOINTER_TO_INT (data) ? csb_peer_check_host_without_peer_pidfd
                                : csb_peer_check_host;
}

static void
test_peer_host (gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  int pair[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
  g_assert_true (check_of (data) (pair[0], &error));
  g_assert_no_error (error);
  close (pair[0]);
  close (pair[1]);
}

/* A child connects to a fresh listening socket (from a user namespace of its own with
 * @new_userns) and, with @exit_at_once, exits before we look; returns our end. */
static int
connect_from_child (gboolean  new_userns,
                    gboolean  exit_at_once,
                    pid_t    *out_child,
                    int      *out_hold)
{
  g_autofree char *dir = g_dir_make_tmp ("csb-peer-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "s", NULL);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int listener = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int hold[2];
  int fd;
  pid_t child;

  g_assert_cmpuint (strlen (path), <, sizeof addr.sun_path);
  strcpy (addr.sun_path, path);
  g_assert_cmpint (bind (listener, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (listener, 1), ==, 0);
  g_assert_cmpint (pipe2 (hold, O_CLOEXEC), ==, 0);

  child = fork ();
  g_assert_cmpint (child, >=, 0);
  if (child == 0)
    {
      int s;
      char byte;

      if (new_userns && unshare (CLONE_NEWUSER) != 0)
        _exit (99);
      s = socket (AF_UNIX, SOCK_STREAM, 0);
      if (connect (s, (struct sockaddr *) &addr, sizeof addr) != 0)
        _exit (98);
      if (exit_at_once)
        _exit (0);
      close (hold[1]);
      (void) !read (hold[0], &byte, 1);   /* until the parent is done */
      _exit (0);
    }
  close (hold[0]);
  fd = accept4 (listener, NULL, NULL, SOCK_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  close (listener);
  unlink (path);
  rmdir (dir);
  *out_child = child;
  *out_hold = hold[1];
  return fd;
}

static void
test_peer_other_userns (gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  int hold, status;
  pid_t child;
  int fd = connect_from_child (TRUE, FALSE, &child, &hold);
  gboolean ok = check_of (data) (fd, &error);

  close (hold);
  g_assert_cmpint (waitpid (child, &status, 0), ==, child);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 99)
    {
      g_test_skip ("no unprivileged user namespaces here");
      close (fd);
      return;
    }
  g_assert_false (ok);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "user namespace"));
  close (fd);
}

static void
test_peer_gone (gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  int hold, status;
  pid_t child;
  int fd = connect_from_child (FALSE, TRUE, &child, &hold);

  /* Reaped: its pid is free for anyone; what connected is not there to vouch for. */
  g_assert_cmpint (waitpid (child, &status, 0), ==, child);
  close (hold);
  g_assert_false (check_of (data) (fd, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "gone"));
  close (fd);
}

static void
test_private_dir (void)
{
  g_autofree char *base = g_dir_make_tmp ("csb-private-XXXXXX", NULL);
  g_autofree char *a = g_build_filename (base, "a", NULL);
  g_autofree char *b = g_build_filename (a, "b", NULL);
  g_autofree char *elsewhere = g_build_filename (base, "elsewhere", NULL);
  g_autofree char *through = g_build_filename (elsewhere, "b", NULL);
  g_autoptr(GError) error = NULL;
  struct stat st;
  int fd;

  /* Made, 0700 each. */
  fd = csb_file_open_private_dir (base, "a/b", TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
  g_assert_cmpint (stat (b, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);

  /* One open to others is closed to them. */
  g_assert_cmpint (chmod (a, 0755), ==, 0);
  fd = csb_file_open_private_dir (base, "a/b", FALSE, &error);
  g_assert_no_error (error);
  close (fd);
  g_assert_cmpint (stat (a, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);

  /* A link on the way is not followed, and nothing is made through it. */
  csb_test_rm_rf (a);
  g_assert_cmpint (mkdir (elsewhere, 0700), ==, 0);
  g_assert_cmpint (symlink (elsewhere, a), ==, 0);
  fd = csb_file_open_private_dir (base, "a/b", TRUE, &error);
  g_assert_cmpint (fd, ==, -1);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_false (g_file_test (through, G_FILE_TEST_EXISTS));

  csb_test_rm_rf (base);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (int old = 0; old <= 1; old++)
    {
      const char *kind = old ? "without-peer-pidfd" : "peer-pidfd";
      g_autofree char *host = g_strdup_printf ("/unit/peer/%s/host", kind);
      g_autofree char *userns = g_strdup_printf ("/unit/peer/%s/other-user-namespace", kind);
      g_autofree char *gone = g_strdup_printf ("/unit/peer/%s/gone", kind);

      g_test_add_data_func (host, GINT_TO_POINTER (old), test_peer_host);
      g_test_add_data_func (userns, GINT_TO_POINTER (old), test_peer_other_userns);
      g_test_add_data_func (gone, GINT_TO_POINTER (old), test_peer_gone);
    }
  g_test_add_func ("/unit/private-dir", test_private_dir);
  return g_test_run ();
}
