/* test-argv.c — the argument vector builder every command line goes through.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "csb-argv.h"
#include "csb-test-utils.h"

static gboolean
fd_is_open (int fd)
{
  return fcntl (fd, F_GETFD) != -1 || errno != EBADF;
}

static int
new_fd (void)
{
  int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  return fd;
}

static void
test_argv_add (void)
{
  g_autoptr(CsbArgv) argv = csb_argv_new ();
  const char * const strv[] = { "--bind", "/a b", "/a b", NULL };
  const char * const *finished;

  csb_argv_add (argv, "--unshare-all");
  csb_argv_add_args (argv, "--cap-drop", "ALL", NULL);
  csb_argv_addf (argv, "%d:%s", 42, "x");
  csb_argv_add_strv (argv, strv);
  csb_argv_add_strv (argv, NULL);

  g_assert_cmpuint (csb_argv_get_len (argv), ==, 7);
  g_assert_cmpstr (csb_argv_get (argv, 0), ==, "--unshare-all");
  g_assert_cmpstr (csb_argv_get (argv, 2), ==, "ALL");
  g_assert_cmpstr (csb_argv_get (argv, 3), ==, "42:x");
  g_assert_cmpstr (csb_argv_get (argv, 5), ==, "/a b");
  g_assert_true (csb_argv_contains (argv, "--cap-drop"));
  g_assert_false (csb_argv_contains (argv, "--share-net"));
  g_assert_false (csb_argv_contains (argv, "/a"));

  finished = csb_argv_finish (argv);
  g_assert_cmpstr (finished[6], ==, "/a b");
  g_assert_null (finished[7]);

  /* Adding after finish keeps one vector, without a NULL in the middle. */
  csb_argv_add (argv, "--");
  g_assert_cmpuint (csb_argv_get_len (argv), ==, 8);
  g_assert_cmpstr (csb_argv_get (argv, 7), ==, "--");
  finished = csb_argv_finish (argv);
  g_assert_cmpuint (g_strv_length ((char **) finished), ==, 8);
  /* Finishing twice adds one terminator only. */
  finished = csb_argv_finish (argv);
  g_assert_cmpuint (g_strv_length ((char **) finished), ==, 8);
  g_assert_cmpuint (csb_argv_get_len (argv), ==, 8);
}

static void
test_argv_nul_data (void)
{
  g_autoptr(CsbArgv) argv = csb_argv_new ();
  g_autoptr(GBytes) data = NULL;
  g_autoptr(GBytes) empty_data = NULL;
  g_autoptr(CsbArgv) empty = csb_argv_new ();
  static const char expected[] = "--setenv\0NAME\0\0a b\nc\0\xc3\xa9t\xc3\xa9";
  gsize len;
  const char *bytes;

  /* An empty argument, a newline and UTF-8 survive: bwrap splits on NUL only. */
  csb_argv_add_args (argv, "--setenv", "NAME", "", "a b\nc", "\xc3\xa9t\xc3\xa9", NULL);
  data = csb_argv_to_nul_data (argv);
  bytes = g_bytes_get_data (data, &len);
  g_assert_cmpuint (len, ==, sizeof expected);  /* with the final NUL */
  g_assert_cmpmem (bytes, len, expected, sizeof expected);
  g_assert_cmpint (bytes[len - 1], ==, '\0');

  /* A finished vector's terminator is not an argument. */
  csb_argv_finish (argv);
  g_clear_pointer (&data, g_bytes_unref);
  data = csb_argv_to_nul_data (argv);
  g_assert_cmpuint (g_bytes_get_size (data), ==, sizeof expected);

  empty_data = csb_argv_to_nul_data (empty);
  g_assert_cmpuint (g_bytes_get_size (empty_data), ==, 0);
}

static void
test_argv_fd_targets (void)
{
  CsbArgv *argv = csb_argv_new ();
  int a = new_fd (), b = new_fd (), c = new_fd (), d = new_fd ();

  g_assert_cmpint (csb_argv_take_fd (argv, a), ==, 3);
  g_assert_cmpint (csb_argv_take_fd (argv, b), ==, 4);
  csb_argv_take_fd_as (argv, c, 10);
  g_assert_cmpint (csb_argv_take_fd (argv, d), ==, 11);

  g_assert_cmpuint (argv->source_fds->len, ==, 4);
  g_assert_cmpint (g_array_index (argv->source_fds, int, 0), ==, a);
  g_assert_cmpint (g_array_index (argv->target_fds, int, 0), ==, 3);
  g_assert_cmpint (g_array_index (argv->source_fds, int, 2), ==, c);
  g_assert_cmpint (g_array_index (argv->target_fds, int, 2), ==, 10);
  g_assert_cmpint (g_array_index (argv->target_fds, int, 3), ==, 11);

  /* A lower explicit target does not move the counter back. */
  {
    int e = new_fd (), f = new_fd ();

    csb_argv_take_fd_as (argv, e, 5);
    g_assert_cmpint (csb_argv_take_fd (argv, f), ==, 12);
  }

  /* The builder owns its fds. */
  g_assert_true (fd_is_open (a));
  csb_argv_free (argv);
  g_assert_false (fd_is_open (a));
  g_assert_false (fd_is_open (b));
  g_assert_false (fd_is_open (c));
  g_assert_false (fd_is_open (d));
}

static void
test_argv_append_fds_of (void)
{
  CsbArgv *outer = csb_argv_new ();
  CsbArgv *inner = csb_argv_new ();
  int a = new_fd (), b = new_fd (), c = new_fd ();

  g_assert_cmpint (csb_argv_take_fd (inner, a), ==, 3);
  g_assert_cmpint (csb_argv_take_fd (inner, b), ==, 4);
  csb_argv_add_args (inner, "--seccomp", "4", NULL);

  csb_argv_append_fds_of (outer, inner);
  g_assert_cmpuint (inner->source_fds->len, ==, 0);
  g_assert_cmpuint (inner->target_fds->len, ==, 0);
  g_assert_cmpuint (outer->source_fds->len, ==, 2);
  g_assert_cmpint (g_array_index (outer->source_fds, int, 1), ==, b);
  /* The numbers the inner arguments name stay valid... */
  g_assert_cmpint (g_array_index (outer->target_fds, int, 1), ==, 4);
  /* ...and the next fd of the outer vector does not collide with them. */
  g_assert_cmpint (csb_argv_take_fd (outer, c), ==, 5);
  /* Arguments are not moved, only fds. */
  g_assert_cmpuint (csb_argv_get_len (outer), ==, 0);
  g_assert_cmpuint (csb_argv_get_len (inner), ==, 2);

  /* The inner vector gave its fds away: freeing it closes none of them. */
  csb_argv_free (inner);
  g_assert_true (fd_is_open (a));
  g_assert_true (fd_is_open (b));
  csb_argv_free (outer);
  g_assert_false (fd_is_open (a));
  g_assert_false (fd_is_open (b));
  g_assert_false (fd_is_open (c));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/argv/add", test_argv_add);
  g_test_add_func ("/argv/nul-data", test_argv_nul_data);
  g_test_add_func ("/argv/fd-targets", test_argv_fd_targets);
  g_test_add_func ("/argv/append-fds-of", test_argv_append_fds_of);

  return g_test_run ();
}
