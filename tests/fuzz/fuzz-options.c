/* fuzz-options.c — libFuzzer target: Launch's a{sv} options as they arrive off the
 * wire (serialised GVariant bytes), parsed with a message fd list that holds a pipe,
 * /dev/null, a folder, an eventfd and a socket.
 *
 * Beyond "no crash, no leak, no UBSan report" it checks what parsing promises: a
 * successful parse hands the sandbox only fds that are safe to give it — no terminal
 * (TIOCSTI) and no folder (openat(fd, "..") walks the host's tree from it).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "fuzz-common.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "csb-error.h"
#include "csb-options.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static GUnixFDList *
make_fd_list (void)
{
  GUnixFDList *list = g_unix_fd_list_new ();
  int pipe_fds[2], pair[2], fd;

  g_assert (pipe (pipe_fds) == 0);
  g_unix_fd_list_append (list, pipe_fds[1], NULL);
  close (pipe_fds[0]);
  close (pipe_fds[1]);
  fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  g_unix_fd_list_append (list, fd, NULL);
  close (fd);
  fd = open ("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_unix_fd_list_append (list, fd, NULL);
  close (fd);
  fd = eventfd (0, EFD_CLOEXEC);
  g_unix_fd_list_append (list, fd, NULL);
  close (fd);
  g_assert (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  g_unix_fd_list_append (list, pair[0], NULL);
  close (pair[0]);
  close (pair[1]);
  return list;
}

static void
check_invariants (CsbLaunchOptions *opts)
{
  g_assert_nonnull (opts->backend);
  if (opts->network_allow->len > 0)
    g_assert_true (opts->network);
  g_assert_true (opts->vm_memory_mib >= 128 || opts->vm_memory_mib == 2048);
  for (guint i = 0; i < 3; i++)
    {
      struct stat st;
      int fd = opts->stdio_fds[i];

      if (fd < 0)
        continue;
      g_assert_cmpint (fstat (fd, &st), ==, 0);
      if (isatty (fd) || S_ISDIR (st.st_mode))
        {
          g_printerr ("fuzz-options: stdio fd %u accepted although it is a %s\n", i,
                      isatty (fd) ? "terminal" : "folder");
          abort ();
        }
    }
  for (guint i = 0; i < opts->ro_binds->len; i++)
    g_assert_true (g_path_is_absolute (g_ptr_array_index (opts->ro_binds, i)));
  for (guint i = 0; i < opts->rw_binds->len; i++)
    g_assert_true (g_path_is_absolute (g_ptr_array_index (opts->rw_binds, i)));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, size);
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GVariant) normal = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GError) error = NULL;
  CsbLaunchOptions *opts;
  gboolean ok;

  /* GDBus hands the handler a variant it checked for normal form; do the same. */
  options = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT, bytes, FALSE));
  if (!g_variant_is_normal_form (options))
    return 0;
  normal = g_variant_get_normal_form (options);

  /* Without an fd list first (a call with no fds), then with the odd kinds. */
  opts = csb_launch_options_new (NULL);
  ok = csb_launch_options_parse (opts, normal, NULL, &error);
  g_assert_true (ok == (error == NULL));
  if (ok)
    check_invariants (opts);
  csb_launch_options_free (opts);
  g_clear_error (&error);

  fds = make_fd_list ();
  opts = csb_launch_options_new (NULL);
  ok = csb_launch_options_parse (opts, normal, fds, &error);
  g_assert_true (ok == (error == NULL));
  if (ok)
    check_invariants (opts);
  else
    g_assert_true (g_error_matches (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT));
  csb_launch_options_free (opts);
  return 0;
}
