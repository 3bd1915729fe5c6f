/* test-sec-display.c — the private display (launch option private-display): a real
 * bwrap sandbox runs weston-simple-shm on a headless weston of its own that the
 * sandbox's monitor started. Sandbox.Screenshot() gives a PNG of its pixels (many
 * colours, decoded with gdk-pixbuf); the "host desktop" (a headless weston this test
 * starts, as the session's WAYLAND_DISPLAY, logging every request) never hears of
 * the sandbox's client, though a client of its own shows up in the same log (the
 * check can fail); and once the sandbox ends its compositor is gone with its socket.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <gio/gunixfdlist.h>
#include <gio/gunixinputstream.h>

#include "csb-compositor.h"
#include "csb-file.h"
#include "csb-landlock.h"
#include "csb-test-display.h"
#include "csb-sec-utils.h"

#define HOST_WAYLAND_NAME "csb-sec-host-desktop"

typedef struct
{
  CsbSecFixture sec;
  GPid          host_weston;
  char         *host_log;
  GPid          host_x;      /* the host's X server, if the test started one */
} Fixture;

/* The host's desktop (csb_test_host_weston_start), as the session's WAYLAND_DISPLAY. */
static void
setup (Fixture      *f,
       gconstpointer data)
{
  csb_sec_fixture_setup (&f->sec, NULL);
  if (!csb_test_have_weston ())
    return;
  f->host_log = g_build_filename (f->sec.bus.dirs.root, "host-weston.log", NULL);
  f->host_weston = csb_test_host_weston_start (f->sec.bus.dirs.runtime, HOST_WAYLAND_NAME,
                                               f->host_log);
  csb_sec_update_activation_environment (&f->sec.bus,
                                         "WAYLAND_DISPLAY", HOST_WAYLAND_NAME,
                                         "XDG_RUNTIME_DIR", f->sec.bus.dirs.runtime,
                                         NULL);
  csb_test_bus_activate (&f->sec.bus);
}

/* As setup(), with a stand-in weston-screenshooter first on the service's PATH: the
 * shell script @script, in a folder of the test's. */
static void
setup_fake_shooter (Fixture      *f,
                    const char   *script)
{
  g_autofree char *bin = NULL;
  g_autofree char *shooter = NULL;
  g_autofree char *path = NULL;

  csb_sec_fixture_setup (&f->sec, NULL);
  bin = g_build_filename (f->sec.bus.dirs.root, "fake-bin", NULL);
  shooter = g_build_filename (bin, "weston-screenshooter", NULL);
  g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
  csb_test_write_file (shooter, script, 0755);
  path = g_strconcat (bin, ":", g_getenv ("PATH"), NULL);
  csb_sec_update_activation_environment (&f->sec.bus, "PATH", path, NULL);
  csb_test_bus_activate (&f->sec.bus);
}

/* It writes what it can see where the PNG goes: the service passes it on as it is. */
static void
setup_probing_shooter (Fixture      *f,
                       gconstpointer data)
{
  g_autofree char *script = NULL;

  /* The test's home and its root hold the user's files as far as the service knows. */
  script = g_strdup_printf ("#!/bin/sh\n"
                            "{ grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status\n"
                            "  [ -e '%s' ] && echo home=visible || echo home=hidden\n"
                            "  [ -e '%s' ] && echo root=visible || echo root=hidden\n"
                            "} > probe.png\n", g_get_home_dir (), f->sec.bus.dirs.root);
  setup_fake_shooter (f, script);
}

/* It never answers, as a client a taken-over compositor keeps waiting would. */
static void
setup_hanging_shooter (Fixture      *f,
                       gconstpointer data)
{
  setup_fake_shooter (f, "#!/bin/sh\nexec sleep 7919\n");
}

static void
teardown (Fixture      *f,
          gconstpointer data)
{
  csb_sec_fixture_teardown (&f->sec);
  csb_test_host_weston_stop (f->host_weston);
  g_clear_pointer (&f->host_log, g_free);
  if (f->host_x > 0)
    {
      kill (f->host_x, SIGTERM);
      waitpid (f->host_x, NULL, 0);
    }
}

/* Launches @argv with a private display (with a stdin pipe if @with_stdin); NULL, the
 * test skipped or failed, where weston is missing or the launch failed. */
static CsbTestRun *
launch_private (Fixture            *f,
                const char * const *argv,
                gboolean            with_stdin)
{
  g_autoptr(GError) error = NULL;
  CsbTestRun *run;

  if (!csb_test_have_weston ())
    {
      g_test_skip ("weston, weston-simple-shm or weston-screenshooter is not installed "
                   "(Debian package 'weston')");
      return NULL;
    }
  run = csb_test_launch (&f->sec.bus, f->sec.project, argv,
                         csb_sec_options ("private-display", g_variant_new_boolean (TRUE),
                                          NULL),
                         with_stdin, &error);
  g_assert_no_error (error);
  return run;
}

/* ScreenshotData() → its bytes; NULL if the call failed. */
static GBytes *
screenshot_data (CsbDBusSandbox *sandbox,
                 GError        **error)
{
  g_autoptr(GVariant) png = NULL;

  if (!csb_dbus_sandbox_call_screenshot_data_sync (sandbox, &png, NULL, error))
    return NULL;
  return g_variant_get_data_as_bytes (png);
}

/* Screenshot() → the bytes of its memfd; NULL if the call failed. */
static GBytes *
screenshot_fd_bytes (CsbDBusSandbox *sandbox,
                     GError        **error)
{
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GInputStream) in = NULL;
  g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable ();
  int fd;

  if (!csb_dbus_sandbox_call_screenshot_sync (sandbox, NULL, &handle, &fds, NULL, error) ||
      (fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), error)) < 0)
    return NULL;
  in = g_unix_input_stream_new (fd, TRUE);
  if (g_output_stream_splice (out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, error) < 0)
    return NULL;
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (out));
}

static guint
count_colours_bytes (GBytes *png)
{
  g_autoptr(GInputStream) in = g_memory_input_stream_new_from_bytes (png);

  return csb_test_png_colours_in (in);
}

/* Whether @png starts as a PNG does (the signature, then its IHDR chunk) and says
 * the size it decodes to. */
static gboolean
png_header_matches (GBytes *png)
{
  static const guint8 signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  g_autoptr(GInputStream) in = g_memory_input_stream_new_from_bytes (png);
  g_autoptr(GdkPixbuf) pixbuf = NULL;
  gsize length;
  const guint8 *p = g_bytes_get_data (png, &length);
  guint32 width, height;

  if (length < 8 + 8 + 13 || memcmp (p, signature, 8) != 0 || memcmp (p + 12, "IHDR", 4) != 0)
    return FALSE;
  width = (guint32) p[16] << 24 | p[17] << 16 | p[18] << 8 | p[19];
  height = (guint32) p[20] << 24 | p[21] << 16 | p[22] << 8 | p[23];
  pixbuf = gdk_pixbuf_new_from_stream (in, NULL, NULL);
  g_test_message ("the PNG says %ux%u", width, height);
  return pixbuf != NULL && width > 0 && height > 0 &&
         width == (guint32) gdk_pixbuf_get_width (pixbuf) &&
         height == (guint32) gdk_pixbuf_get_height (pixbuf);
}

/* Runs the CLI with @args; its stdout, and its exit status in @status. */
static char *
run_cli (const char * const *args,
         int                *status)
{
  const char *cli = g_getenv ("CSB_TEST_CLI");
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  char *out = NULL;

  g_assert_nonnull (cli);
  g_ptr_array_add (argv, (gpointer) cli);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL,
                &out, &err, status, &error);
  g_assert_no_error (error);
  g_test_message ("claude-sandbox %s: %s%s", args[0], out, err);
  return out;
}

static void
test_private_display (Fixture      *f,
                      gconstpointer data)
{
  const char * const argv[] = {
    "/bin/sh", "-c",
    "echo \"display=$WAYLAND_DISPLAY x11=${DISPLAY-unset}\"; ls -A \"$XDG_RUNTIME_DIR\"; "
    "echo listed; exec weston-simple-shm", NULL };
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *display_dir = NULL;
  const char * const *protections;
  pid_t compositor;
  int colours = 0;

  if ((run = launch_private (f, argv, FALSE)) == NULL)
    return;
  g_assert_true (csb_test_run_wait_output (run, "listed\n", CSB_TEST_TIMEOUT_MS));
  g_test_message ("inside: %s", run->out->str);
  /* Its own display as wayland-0 (and its Xwayland as :0 where installed),
   * nothing else of the host's desktop. */
  g_assert_nonnull (strstr (run->out->str,
                            g_file_test (CSB_COMPOSITOR_XWAYLAND, G_FILE_TEST_IS_EXECUTABLE)
                            ? "display=wayland-0 x11=:0\n" : "display=wayland-0 x11=unset\n"));
  g_assert_null (strstr (run->out->str, HOST_WAYLAND_NAME));
  protections = csb_dbus_sandbox_get_protections (run->sandbox);
  g_assert_true (g_strv_contains (protections, "display-private"));
  g_assert_false (g_strv_contains (protections, "wayland-unrestricted"));

  display_dir = g_build_filename (f->sec.bus.dirs.runtime, "claude-sandbox",
                                  csb_dbus_sandbox_get_id (run->sandbox), "display", NULL);
  compositor = csb_test_weston_in (display_dir, NULL);
  g_assert_cmpint (compositor, >, 0);
  /* It parses the sandbox's requests: a bwrap of its own, without the user's files. */
  {
    g_autofree char *ns_path = g_strdup_printf ("/proc/%d/ns/mnt", (int) compositor);
    g_autofree char *ns = g_file_read_link (ns_path, NULL);
    g_autofree char *own_ns = g_file_read_link ("/proc/self/ns/mnt", NULL);
    g_autofree char *project = g_strdup_printf ("/proc/%d/root%s", (int) compositor,
                                                f->sec.project);
    g_autofree char *root = g_strdup_printf ("/proc/%d/root/usr", (int) compositor);

    g_assert_nonnull (ns);
    g_assert_cmpstr (ns, !=, own_ns);
    g_assert_true (g_file_test (root, G_FILE_TEST_IS_DIR));
    g_assert_false (g_file_test (project, G_FILE_TEST_EXISTS));
  }
  /* And as confined as the sandbox: its seccomp filter (Seccomp: 2, a filter), no new
   * privileges, started by our init, which scopes it with Landlock where the kernel
   * can (no /proc field shows a Landlock domain; init's scoping itself is tested by
   * test-sec-network /security/network/landlock-scope). */
  {
    g_autofree char *status_path = g_strdup_printf ("/proc/%d/status", (int) compositor);
    g_autofree char *status = NULL;
    g_autofree char *parent_cmdline = NULL;
    g_autofree char *cmdline_path = NULL;
    gsize len = 0;
    const char *ppid_line;
    int ppid;

    g_assert_true (g_file_get_contents (status_path, &status, NULL, NULL));
    g_assert_nonnull (strstr (status, "\nSeccomp:\t2\n"));
    g_assert_nonnull (strstr (status, "\nNoNewPrivs:\t1\n"));
    ppid_line = strstr (status, "\nPPid:\t");
    g_assert_nonnull (ppid_line);
    ppid = atoi (ppid_line + strlen ("\nPPid:\t"));
    cmdline_path = g_strdup_printf ("/proc/%d/cmdline", ppid);
    g_assert_true (g_file_get_contents (cmdline_path, &parent_cmdline, &len, NULL));
    for (gsize i = 0; i + 1 < len; i++)
      if (parent_cmdline[i] == '\0')
        parent_cmdline[i] = ' ';
    /* Its bwrap (init execs the compositor once it applied the scoping). */
    g_test_message ("the compositor's bwrap: %s", parent_cmdline);
    g_assert_nonnull (strstr (parent_cmdline, " --seccomp "));
    g_assert_nonnull (strstr (parent_cmdline, " -- /run/claude-sandbox-init "));
    if (csb_landlock_abi () >= CSB_LANDLOCK_SCOPE_ABI)
      g_assert_nonnull (strstr (parent_cmdline, " -- /run/claude-sandbox-init --landlock -- "));
  }

  /* simple-shm draws a many-coloured pattern once it is mapped: until then the
   * desktop shell's background alone. */
  colours = csb_test_wait_for_client_pixels (run->sandbox);
  g_assert_cmpint (colours, >=, 200);

  /* The same through the CLI. */
  {
    g_autofree char *file = g_build_filename (f->sec.bus.dirs.root, "shot.png", NULL);
    const char *args[] = { "--screenshot", csb_dbus_sandbox_get_id (run->sandbox), file, NULL };
    g_autofree char *out = NULL;
    int status = -1;

    out = run_cli (args, &status);
    g_assert_cmpint (status, ==, 0);
    g_assert_cmpint (csb_test_png_colours (open (file, O_RDONLY | O_CLOEXEC)), >=, 200);
  }

  g_assert_true (csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_assert_true (csb_test_run_until (csb_test_process_gone, GINT_TO_POINTER (compositor),
                                     CSB_TEST_TIMEOUT_MS));
  g_assert_false (g_file_test (display_dir, G_FILE_TEST_EXISTS));
  g_assert_cmpint (csb_test_screenshot_colours (run->sandbox, &error), ==, -1);
  g_assert_nonnull (error);
  g_assert_cmpstr (csb_test_error_name (error), ==, "org.example.ClaudeSandbox.Error.NotRunning");
  /* It had a private display: what is wrong is that it ended. */
  g_assert_nonnull (strstr (error->message, "is not running (it exited)"));
  g_clear_error (&error);

  /* The host's compositor never heard of simple-shm, and a client of its own shows
   * in the same log. */
  csb_test_host_weston_assert_unheard (f->sec.bus.dirs.runtime, HOST_WAYLAND_NAME, f->host_log);
}

/* Sandbox.ScreenshotData(), for clients that cannot receive descriptors: the same
 * PNG as Screenshot() as bytes. It shows simple-shm's pixels, its IHDR says the size
 * it decodes to, and with simple-shm frozen (SIGSTOP: its last frame stays) it is
 * byte for byte what Screenshot() gives; NotRunning for a sandbox without a private
 * display, and once the sandbox has ended. */
static void
test_private_display_data (Fixture      *f,
                           gconstpointer data)
{
  const char * const argv[] = {
    "/bin/sh", "-c",
    "weston-simple-shm & echo started; read line; kill -STOP $!; echo frozen; read line; "
    "kill -KILL $!", NULL };
  const char * const plain_argv[] = { "/bin/sleep", "1000", NULL };
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(CsbTestRun) plain = NULL;
  g_autoptr(GBytes) png = NULL;
  g_autoptr(GError) error = NULL;
  gboolean same = FALSE;
  guint colours = 0;

  if ((run = launch_private (f, argv, TRUE)) == NULL)
    return;
  g_assert_true (csb_test_run_wait_output (run, "started\n", CSB_TEST_TIMEOUT_MS));
  for (guint waited = 0; waited < CSB_TEST_TIMEOUT_MS && colours < 200; waited += 250)
    {
      g_clear_pointer (&png, g_bytes_unref);
      png = screenshot_data (run->sandbox, &error);
      g_assert_no_error (error);
      if (png == NULL)
        return;
      if ((colours = count_colours_bytes (png)) < 200)
        csb_test_sleep_ms (250);
    }
  g_test_message ("ScreenshotData has %u saturated colours", colours);
  g_assert_cmpuint (colours, >=, 200);
  g_assert_true (png_header_matches (png));

  /* A frame simple-shm committed before it stopped may show only at the next repaint,
   * and the shell's panel clock may turn a minute between two calls: a few tries. */
  g_assert_cmpint (write (run->stdin_fd, "freeze\n", 7), ==, 7);
  g_assert_true (csb_test_run_wait_output (run, "frozen\n", CSB_TEST_TIMEOUT_MS));
  for (guint i = 0; i < 5 && !same; i++)
    {
      g_autoptr(GBytes) by_data = screenshot_data (run->sandbox, &error);
      g_autoptr(GBytes) by_fd = NULL;

      g_assert_no_error (error);
      by_fd = screenshot_fd_bytes (run->sandbox, &error);
      g_assert_no_error (error);
      same = by_data != NULL && by_fd != NULL && g_bytes_equal (by_data, by_fd);
      g_test_message ("ScreenshotData %" G_GSIZE_FORMAT " bytes, Screenshot %" G_GSIZE_FORMAT
                      " bytes: %s", by_data ? g_bytes_get_size (by_data) : 0,
                      by_fd ? g_bytes_get_size (by_fd) : 0, same ? "the same" : "different");
    }
  g_assert_true (same);

  plain = csb_test_launch (&f->sec.bus, f->sec.project, plain_argv, NULL, FALSE, &error);
  g_assert_no_error (error);
  if (plain != NULL)
    {
      g_assert_null (screenshot_data (plain->sandbox, &error));
      g_assert_cmpstr (csb_test_error_name (error), ==,
                       "org.example.ClaudeSandbox.Error.NotRunning");
      g_assert_nonnull (strstr (error->message, "has no private display"));
      g_assert_nonnull (strstr (error->message, "--display=private"));
      g_clear_error (&error);
      g_assert_true (csb_dbus_sandbox_call_stop_sync (plain->sandbox, NULL, &error));
      g_assert_no_error (error);
      g_assert_true (csb_test_run_wait (plain, CSB_TEST_TIMEOUT_MS));
    }

  /* Its stdin closed, the sandbox's shell kills simple-shm and ends. */
  close (run->stdin_fd);
  run->stdin_fd = -1;
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_assert_null (screenshot_data (run->sandbox, &error));
  g_assert_cmpstr (csb_test_error_name (error), ==, "org.example.ClaudeSandbox.Error.NotRunning");
}

/* claude-sandbox --display=private: the option reaches the launch. */
static void
test_private_display_cli (Fixture      *f,
                          gconstpointer data)
{
  const char *args[] = { "--display=private", "--no-network", "--command", f->sec.project,
                         "/bin/sh", "-c", "echo \"display=$WAYLAND_DISPLAY\"; ls -A \"$XDG_RUNTIME_DIR\"",
                         NULL };
  g_autofree char *out = NULL;
  int status = -1;

  if (!csb_test_have_weston ())
    {
      g_test_skip ("weston is not installed (Debian package 'weston')");
      return;
    }
  out = run_cli (args, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "display=wayland-0\n"));
  g_assert_nonnull (strstr (out, "wayland-0\n"));
}

/* The host's display and a private one exclude each other; other backends refuse. */
static void
test_private_display_options (Fixture      *f,
                              gconstpointer data)
{
  const char * const argv[] = { "/bin/true", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) both = NULL;
  g_autoptr(CsbTestRun) vm = NULL;

  if (!csb_test_have_weston ())
    {
      g_test_skip ("weston is not installed (Debian package 'weston')");
      return;
    }
  both = csb_test_launch (&f->sec.bus, f->sec.project, argv,
                          csb_sec_options ("private-display", g_variant_new_boolean (TRUE),
                                           "display", g_variant_new_boolean (TRUE), NULL),
                          FALSE, &error);
  g_assert_null (both);
  g_assert_cmpstr (csb_test_error_name (error), ==,
                   "org.example.ClaudeSandbox.Error.InvalidArgument");
  g_clear_error (&error);
  vm = csb_test_launch (&f->sec.bus, f->sec.project, argv,
                        csb_sec_options ("private-display", g_variant_new_boolean (TRUE),
                                         "backend", g_variant_new_string ("vm"), NULL),
                        FALSE, &error);
  g_assert_null (vm);
  g_assert_cmpstr (csb_test_error_name (error), ==,
                   "org.example.ClaudeSandbox.Error.BackendUnavailable");
  g_assert_nonnull (strstr (error->message, "private-display"));
}

/* Whether a process with @cmdline (NUL-separated arguments) runs. */
static gboolean
process_runs (const char *cmdline,
              gsize       length)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc", name, "cmdline", NULL);
      g_autofree char *text = NULL;
      gsize text_length;

      if (g_ascii_isdigit (name[0]) && g_file_get_contents (path, &text, &text_length, NULL) &&
          text_length == length && memcmp (text, cmdline, length) == 0)
        return TRUE;
    }
  return FALSE;
}

/* The service's screenshooter speaks Wayland with the sandbox's compositor, which the
 * sandbox's clients could have taken over: it runs confined (its own bwrap, the seccomp
 * filter, no capabilities, none of the user's files), and one that hangs is ended. */
static void
test_screenshooter_confined (Fixture      *f,
                             gconstpointer data)
{
  const char * const argv[] = { "/bin/sleep", "1000", NULL };
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GBytes) probe = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  if ((run = launch_private (f, argv, TRUE)) == NULL)
    return;
  for (guint waited = 0; probe == NULL && waited < CSB_TEST_TIMEOUT_MS; waited += 250)
    {
      g_clear_error (&error);
      if ((probe = screenshot_data (run->sandbox, &error)) == NULL)
        csb_test_sleep_ms (250);
    }
  g_assert_no_error (error);
  if (probe == NULL)
    return;
  text = g_strndup (g_bytes_get_data (probe, NULL), g_bytes_get_size (probe));
  g_test_message ("the screenshooter saw:\n%s", text);
  g_assert_nonnull (strstr (text, "Seccomp:\t2"));
  g_assert_nonnull (strstr (text, "NoNewPrivs:\t1"));
  g_assert_nonnull (strstr (text, "CapEff:\t0000000000000000"));
  g_assert_nonnull (strstr (text, "home=hidden"));
  g_assert_nonnull (strstr (text, "root=hidden"));
}

static void
test_screenshooter_hangs (Fixture      *f,
                          gconstpointer data)
{
  static const char sleeper[] = "sleep\0" "7919";
  const char * const argv[] = { "/bin/sleep", "1000", NULL };
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GBytes) png = NULL;
  g_autoptr(GError) error = NULL;

  if ((run = launch_private (f, argv, TRUE)) == NULL)
    return;
  /* The display's socket comes a moment after the sandbox runs. */
  do
    {
      g_clear_error (&error);
      png = screenshot_data (run->sandbox, &error);
    }
  while (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_FAILED) &&
         strstr (error->message, "NotRunning") != NULL);
  g_assert_null (png);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "gave no picture within"));
  for (guint waited = 0; process_runs (sleeper, sizeof sleeper) && waited < 10000;
       waited += 100)
    csb_test_sleep_ms (100);
  g_assert_false (process_runs (sleeper, sizeof sleeper));
  g_assert_cmpstr (csb_dbus_sandbox_get_state (run->sandbox), ==, "running");
}

/* Pixels of @png that are pure red (xmessage's background below). */
static guint
count_red_pixels (GBytes *png)
{
  g_autoptr(GInputStream) in = g_memory_input_stream_new_from_bytes (png);
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_stream (in, NULL, NULL);
  guint red = 0;

  if (pixbuf == NULL)
    return 0;
  for (int y = 0; y < gdk_pixbuf_get_height (pixbuf); y++)
    {
      const guint8 *row = gdk_pixbuf_read_pixels (pixbuf) + y * gdk_pixbuf_get_rowstride (pixbuf);

      for (int x = 0; x < gdk_pixbuf_get_width (pixbuf); x++)
        {
          const guint8 *p = row + x * gdk_pixbuf_get_n_channels (pixbuf);

          red += p[0] == 255 && p[1] == 0 && p[2] == 0;
        }
    }
  return red;
}

static void
die_with_test (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* The host's X server: an Xvfb on a display nobody uses (its socket in the host's
 * /tmp/.X11-unix and its abstract one in the host's network namespace), 1234x567;
 * its number, or -1 if none started. It ends with the test, even one that aborted. */
static int
start_host_x (Fixture *f)
{
  for (int n = 61; n < 99; n++)
    {
      g_autofree char *socket = g_strdup_printf ("/tmp/.X11-unix/X%d", n);
      g_autofree char *lock = g_strdup_printf ("/tmp/.X%d-lock", n);
      g_autofree char *display = g_strdup_printf (":%d", n);
      const char *argv[] = { "Xvfb", display, "-screen", "0", "1234x567x24", "-nolisten",
                             "tcp", NULL };
      g_autoptr(GError) error = NULL;

      if (g_file_test (socket, G_FILE_TEST_EXISTS) || g_file_test (lock, G_FILE_TEST_EXISTS))
        continue;
      g_spawn_async (NULL, (char **) argv, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                     G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                     die_with_test, NULL, &f->host_x, &error);
      g_assert_no_error (error);
      for (guint waited = 0; waited < CSB_TEST_TIMEOUT_MS; waited += 50)
        {
          if (csb_file_is_socket (socket))
            return n;
          csb_test_sleep_ms (50);
        }
      return -1;
    }
  return -1;
}

/* X11 on the private display: a sandbox's X client (xmessage, red) shows in the
 * screenshot, DISPLAY is :0 inside and reaches the sandbox's own Xwayland, and the
 * host's X server (an Xvfb of the test's, reachable from here) is not reachable
 * from inside, by its socket file or its abstract one. */
static void
test_private_display_x11 (Fixture      *f,
                          gconstpointer data)
{
  g_autofree char *script = NULL;
  g_autofree char *go = g_build_filename (f->sec.project, "go", NULL);
  g_autofree char *host_display = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) before = NULL;
  g_autofree char *host_info = NULL;
  guint red = 0;
  int host_status = -1;
  int n;

  if (!csb_test_have_weston () ||
      !g_file_test (CSB_COMPOSITOR_XWAYLAND, G_FILE_TEST_IS_EXECUTABLE) ||
      !g_file_test ("/usr/bin/xmessage", G_FILE_TEST_IS_EXECUTABLE) ||
      !g_file_test ("/usr/bin/xwininfo", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("weston, Xwayland, xmessage or xwininfo is not installed (Debian "
                   "packages 'weston', 'xwayland', 'x11-utils')");
      return;
    }
  if ((n = start_host_x (f)) < 0)
    {
      g_test_skip ("cannot start Xvfb (Debian package 'xvfb')");
      return;
    }
  /* The host's X server answers here: the check inside can fail. */
  host_display = g_strdup_printf (":%d", n);
  {
    const char *argv[] = { "xwininfo", "-root", "-display", host_display, NULL };

    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                  NULL, NULL, &host_info, NULL, &host_status, &error);
    g_assert_no_error (error);
    g_assert_cmpint (host_status, ==, 0);
    g_assert_nonnull (strstr (host_info, "Width: 1234"));
  }

  script = g_strdup_printf (
    "echo \"x11=${DISPLAY-unset}\"; "
    "if xwininfo -root -display :%d >/dev/null 2>&1; then echo host-reached; "
    "else echo host-unreached; fi; "
    "xwininfo -root | sed -n 's/^ *Width: */own-width=/p'; echo listed; "
    "while [ ! -e go ]; do sleep 0.1; done; "
    "exec xmessage -bg red -fg red -geometry 300x200+0+0 x11", n);
  {
    const char * const argv[] = { "/bin/sh", "-c", script, NULL };

    run = csb_test_launch (&f->sec.bus, f->sec.project, argv,
                           csb_sec_options ("private-display", g_variant_new_boolean (TRUE),
                                            NULL),
                           FALSE, &error);
  }
  g_assert_no_error (error);
  if (run == NULL)
    return;
  g_assert_true (csb_test_run_wait_output (run, "listed\n", CSB_TEST_TIMEOUT_MS));
  g_test_message ("inside: %s", run->out->str);
  g_assert_nonnull (strstr (run->out->str, "x11=:0\n"));
  g_assert_nonnull (strstr (run->out->str, "host-unreached\n"));
  g_assert_nonnull (strstr (run->out->str, "own-width="));
  g_assert_null (strstr (run->out->str, "own-width=1234"));

  /* No red before xmessage runs; then its window. */
  before = screenshot_data (run->sandbox, &error);
  g_assert_no_error (error);
  g_clear_error (&error);
  g_assert_nonnull (before);
  g_assert_cmpuint (before != NULL ? count_red_pixels (before) : 1, ==, 0);
  g_assert_true (g_file_set_contents (go, "", 0, &error));
  for (guint waited = 0; waited < CSB_TEST_TIMEOUT_MS && red < 300 * 100; waited += 250)
    {
      g_autoptr(GBytes) shot = screenshot_data (run->sandbox, &error);

      g_assert_no_error (error);
      g_clear_error (&error);
      if (shot == NULL)
        break;
      red = count_red_pixels (shot);
      if (red < 300 * 100)
        csb_test_sleep_ms (250);
    }
  g_test_message ("the screenshot has %u red pixels", red);
  g_assert_cmpuint (red, >=, 300 * 100);

  g_assert_true (csb_dbus_sandbox_call_stop_sync (run->sandbox, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  g_test_set_nonfatal_assertions ();

  g_test_add ("/security/display/private", Fixture, NULL, setup, test_private_display,
              teardown);
  g_test_add ("/security/display/private-x11", Fixture, NULL, setup, test_private_display_x11,
              teardown);
  g_test_add ("/security/display/private-data", Fixture, NULL, setup,
              test_private_display_data, teardown);
  g_test_add ("/security/display/private-cli", Fixture, NULL, setup, test_private_display_cli,
              teardown);
  g_test_add ("/security/display/screenshooter-confined", Fixture, NULL, setup_probing_shooter,
              test_screenshooter_confined, teardown);
  g_test_add ("/security/display/screenshooter-hangs", Fixture, NULL, setup_hanging_shooter,
              test_screenshooter_hangs, teardown);
  g_test_add ("/security/display/private-options", Fixture, NULL, setup,
              test_private_display_options, teardown);
  return g_test_run ();
}
