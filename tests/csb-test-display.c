/* csb-test-display.c — checks of a sandbox's private display (csb-test-display.h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <gio/gunixfdlist.h>
#include <gio/gunixinputstream.h>

#include "csb-test-display.h"

gboolean
csb_test_have_weston (void)
{
  g_autofree char *weston = g_find_program_in_path ("weston");
  g_autofree char *shm = g_find_program_in_path ("weston-simple-shm");
  g_autofree char *shooter = g_find_program_in_path ("weston-screenshooter");

  return weston != NULL && shm != NULL && shooter != NULL;
}

guint
csb_test_png_colours (int fd)
{
  g_autoptr(GInputStream) in = g_unix_input_stream_new (fd, TRUE);

  return csb_test_png_colours_in (in);
}

guint
csb_test_png_colours_in (GInputStream *in)
{
  g_autoptr(GdkPixbuf) pixbuf = NULL;
  g_autoptr(GHashTable) colours = g_hash_table_new (NULL, NULL);
  g_autoptr(GError) error = NULL;
  const guint8 *pixels;
  int width, height, stride, channels;

  pixbuf = gdk_pixbuf_new_from_stream (in, NULL, &error);
  g_assert_no_error (error);
  if (pixbuf == NULL)
    return 0;
  width = gdk_pixbuf_get_width (pixbuf);
  height = gdk_pixbuf_get_height (pixbuf);
  stride = gdk_pixbuf_get_rowstride (pixbuf);
  channels = gdk_pixbuf_get_n_channels (pixbuf);
  pixels = gdk_pixbuf_read_pixels (pixbuf);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        const guint8 *p = pixels + y * stride + x * channels;
        guint rgb = (p[0] << 16) | (p[1] << 8) | p[2];

        if (MAX (MAX (p[0], p[1]), p[2]) - MIN (MIN (p[0], p[1]), p[2]) < 64)
          continue;
        g_hash_table_add (colours, GUINT_TO_POINTER (rgb + 1));
      }
  return g_hash_table_size (colours);
}

int
csb_test_screenshot_colours (CsbDBusSandbox *sandbox,
                             GError        **error)
{
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  int fd;

  if (!csb_dbus_sandbox_call_screenshot_sync (sandbox, NULL, &handle, &fds, NULL, error))
    return -1;
  fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), error);
  if (fd < 0)
    return -1;
  return (int) csb_test_png_colours (fd);
}

int
csb_test_wait_for_client_pixels (CsbDBusSandbox *sandbox)
{
  g_autoptr(GError) error = NULL;
  int colours = 0;

  for (guint waited = 0; waited < CSB_TEST_TIMEOUT_MS && colours < 200; waited += 250)
    {
      colours = csb_test_screenshot_colours (sandbox, &error);
      g_assert_no_error (error);
      if (colours < 200)
        csb_test_sleep_ms (250);
    }
  g_test_message ("the screenshot has %d saturated colours", colours);
  return colours;
}

pid_t
csb_test_weston_in (const char *dir,
                    const char *under)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  g_autofree char *prefix = under != NULL ? g_strconcat (under, "/", NULL) : NULL;
  const char *name;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *cwd_link = g_strdup_printf ("/proc/%s/cwd", name);
      g_autofree char *cwd = g_file_read_link (cwd_link, NULL);
      g_autofree char *comm_path = g_strdup_printf ("/proc/%s/comm", name);
      g_autofree char *comm = NULL;

      if (cwd != NULL && (dir != NULL ? g_str_equal (cwd, dir) : g_str_has_prefix (cwd, prefix)) &&
          g_file_get_contents (comm_path, &comm, NULL, NULL) && g_str_equal (comm, "weston\n"))
        return (pid_t) atoi (name);
    }
  return 0;
}

gboolean
csb_test_process_gone (gpointer data)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", GPOINTER_TO_INT (data));
  g_autofree char *stat = NULL;
  const char *end;

  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return TRUE;
  end = strrchr (stat, ')');
  return end != NULL && end[1] == ' ' && end[2] == 'Z';
}

GPid
csb_test_host_weston_start (const char *runtime_dir,
                            const char *name,
                            const char *log_path)
{
  g_autofree char *socket_arg = g_strconcat ("--socket=", name, NULL);
  g_autofree char *socket = g_build_filename (runtime_dir, name, NULL);
  const char *argv[] = { "weston", "--backend=headless-backend.so", "--use-pixman", socket_arg,
                         "--idle-time=0", "--no-config", NULL };
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) envp = g_get_environ ();
  GPid pid = 0;
  int log_fd = open (log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  g_assert_cmpint (log_fd, >=, 0);
  envp = g_environ_setenv (envp, "XDG_RUNTIME_DIR", runtime_dir, TRUE);
  envp = g_environ_setenv (envp, "WAYLAND_DEBUG", "server", TRUE);
  envp = g_environ_unsetenv (envp, "WAYLAND_DISPLAY");
  envp = g_environ_unsetenv (envp, "DISPLAY");
  g_spawn_async_with_pipes_and_fds (NULL, argv, (const char * const *) envp,
                                    G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                    G_SPAWN_STDIN_FROM_DEV_NULL,
                                    NULL, NULL, -1, log_fd, log_fd, NULL, NULL, 0,
                                    &pid, NULL, NULL, NULL, &error);
  close (log_fd);
  g_assert_no_error (error);
  for (guint waited = 0; waited < CSB_TEST_TIMEOUT_MS && !g_file_test (socket, G_FILE_TEST_EXISTS);
       waited += 20)
    g_usleep (20000);
  g_assert_true (g_file_test (socket, G_FILE_TEST_EXISTS));
  return pid;
}

void
csb_test_host_weston_stop (GPid pid)
{
  if (pid <= 0)
    return;
  kill (pid, SIGTERM);
  waitpid (pid, NULL, 0);
  g_spawn_close_pid (pid);
}

void
csb_test_host_weston_assert_unheard (const char *runtime_dir,
                                     const char *name,
                                     const char *log_path)
{
  const char *shm[] = { "timeout", "5", "weston-simple-shm", NULL };
  g_auto(GStrv) envp = g_get_environ ();
  g_autoptr(GError) error = NULL;
  g_autofree char *log = NULL;

  g_assert_true (g_file_get_contents (log_path, &log, NULL, NULL));
  g_assert_null (strstr (log, "simple-shm"));
  g_clear_pointer (&log, g_free);

  /* The check can fail: a client of the host's own shows in the same log. */
  envp = g_environ_setenv (envp, "XDG_RUNTIME_DIR", runtime_dir, TRUE);
  envp = g_environ_setenv (envp, "WAYLAND_DISPLAY", name, TRUE);
  g_spawn_sync (NULL, (char **) shm, envp, G_SPAWN_SEARCH_PATH |
                G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL,
                NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (log_path, &log, NULL, NULL));
  g_assert_nonnull (strstr (log, "simple-shm"));
}
