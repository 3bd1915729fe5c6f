/* test-sec-forwarding.c — desktop forwarding with real parts, each behind its
 * option: a headless weston (wayland-info inside; it lacks wp_security_context_v1,
 * so the sandbox's Protections say the display is unrestricted), a fake compositor
 * that offers the protocol (the sandbox's connection goes through a security context
 * with its app id, and the context ends with the sandbox), a real ssh-agent holding a
 * generated key (ssh-add -l inside), PipeWire and PulseAudio sockets, /dev/dri.
 * Off means not there at all.
 *
 * The session's sockets live in the service's XDG_RUNTIME_DIR; the service learns
 * WAYLAND_DISPLAY and SSH_AUTH_SOCK through UpdateActivationEnvironment before it
 * is activated, as from dbus-update-activation-environment in a desktop session.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csb-dbus-proxy.h"
#include "csb-sec-utils.h"

#define WAYLAND_NAME "csb-sec-wayland"
#define FAKE_WAYLAND_NAME "csb-sec-fake-wayland"

typedef struct
{
  CsbSecFixture sec;
  GPid          weston;
  GPid          fake_compositor;
  char         *fake_log;
  GPid          agent;
  char         *agent_socket;
  char         *fingerprint;
  int           audio_fds[2];
} Fixture;

/* Whether a server listens on @path: the file is there from bind(2) on, but a
 * connection is refused until listen(2) (ssh-add failed in that gap). */
static gboolean
socket_listens (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;
  gboolean ok;

  if (strlen (path) >= sizeof addr.sun_path)
    return FALSE;
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ok = fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0;
  if (fd >= 0)
    close (fd);
  return ok;
}

static gboolean
socket_exists (const char *path)
{
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* Nothing wakes the main loop when a socket appears: poll for it (@ready: its file
 * is there, or a server listens on it). */
static gboolean
wait_for_socket (const char *path,
                 guint       timeout_ms,
                 gboolean  (*ready) (const char *path))
{
  for (guint waited = 0; waited < timeout_ms; waited += 20)
    {
      if (ready (path))
        return TRUE;
      g_usleep (20000);
    }
  return ready (path);
}

static void
start_weston (Fixture *f)
{
  g_autofree char *socket = g_build_filename (f->sec.bus.dirs.runtime, WAYLAND_NAME, NULL);
  g_autofree char *log = g_build_filename (f->sec.bus.dirs.root, "weston.log", NULL);
  g_autofree char *log_arg = g_strconcat ("--log=", log, NULL);
  const char *argv[] = { "weston", "--backend=headless-backend.so", "--socket=" WAYLAND_NAME,
                         "--idle-time=0", log_arg, NULL };
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) envp = g_get_environ ();

  if (g_find_program_in_path ("weston") == NULL)
    return;
  envp = g_environ_setenv (envp, "XDG_RUNTIME_DIR", f->sec.bus.dirs.runtime, TRUE);
  envp = g_environ_unsetenv (envp, "WAYLAND_DISPLAY");
  envp = g_environ_unsetenv (envp, "DISPLAY");
  g_spawn_async (NULL, (char **) argv, envp,
                 G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                 G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &f->weston, &error);
  g_assert_no_error (error);
  if (!wait_for_socket (socket, 10000, socket_exists))
    {
      g_autofree char *contents = csb_sec_read_file (log);
      g_test_message ("weston did not start: %s", contents);
    }
}

/* The fake compositor, its stdout (what it was asked and who came) in fake_log. */
static void
start_fake_compositor (Fixture *f)
{
  g_autofree char *socket = g_build_filename (f->sec.bus.dirs.runtime, FAKE_WAYLAND_NAME, NULL);
  g_autofree char *program = g_test_build_filename (G_TEST_BUILT, "security",
                                                    "csb-fake-compositor", NULL);
  const char *argv[] = { program, FAKE_WAYLAND_NAME, NULL };
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) envp = g_get_environ ();
  int log_fd;

  f->fake_log = g_build_filename (f->sec.bus.dirs.root, "fake-compositor.log", NULL);
  log_fd = open (f->fake_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  g_assert_cmpint (log_fd, >=, 0);
  envp = g_environ_setenv (envp, "XDG_RUNTIME_DIR", f->sec.bus.dirs.runtime, TRUE);
  g_spawn_async_with_pipes_and_fds (NULL, argv, (const char * const *) envp,
                                    G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL,
                                    NULL, NULL, -1, log_fd, -1, NULL, NULL, 0,
                                    &f->fake_compositor, NULL, NULL, NULL, &error);
  close (log_fd);
  g_assert_no_error (error);
  g_assert_true (wait_for_socket (socket, 10000, socket_exists));
}

static void
run_sync (const char * const *argv,
          const char * const *envp)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int wait_status;

  g_spawn_sync (NULL, (char **) argv, (char **) envp, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
                &err, &wait_status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (wait_status, NULL))
    g_test_message ("%s failed: %s", argv[0], err);
  g_spawn_check_wait_status (wait_status, &error);
  g_assert_no_error (error);
}

static void
start_ssh_agent (Fixture *f)
{
  g_autofree char *key = g_build_filename (f->sec.bus.dirs.root, "agent-key", NULL);
  g_autofree char *pub = g_strconcat (key, ".pub", NULL);
  const char *keygen[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                           "csb-sec-agent-key", "-f", key, NULL };
  const char *agent[] = { "ssh-agent", "-D", "-a", NULL, NULL };
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) envp = g_get_environ ();
  g_autofree char *out = NULL;

  f->agent_socket = g_build_filename (f->sec.bus.dirs.runtime, "ssh-agent.socket", NULL);
  agent[3] = f->agent_socket;
  run_sync (keygen, NULL);
  g_spawn_async (NULL, (char **) agent, NULL,
                 G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                 NULL, NULL, &f->agent, &error);
  g_assert_no_error (error);
  g_assert_true (wait_for_socket (f->agent_socket, 10000, socket_listens));
  envp = g_environ_setenv (envp, "SSH_AUTH_SOCK", f->agent_socket, TRUE);
  {
    const char *add[] = { "ssh-add", "-q", key, NULL };
    run_sync (add, (const char * const *) envp);
  }
  {
    const char *fp[] = { "ssh-keygen", "-l", "-f", pub, NULL };
    g_spawn_sync (NULL, (char **) fp, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL,
                  NULL, &error);
    g_assert_no_error (error);
    /* "256 SHA256:… comment (ED25519)": the hash is what ssh-add -l shows too. */
    f->fingerprint = g_strdup (strtok (strchr (out, ' ') + 1, " "));
  }
}

static int
listen_unix (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_autofree char *dir = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_cmpuint (strlen (path), <, sizeof addr.sun_path);
  strcpy (addr.sun_path, path);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (fd, 4), ==, 0);
  return fd;
}

static void
setup (Fixture      *f,
       gconstpointer data)
{
  g_autofree char *pipewire = NULL;
  g_autofree char *pulse = NULL;

  gboolean fake = g_strcmp0 (data, "fake") == 0;

  /* "container": the same sockets given by the container backend (csb-layout.c). */
  csb_sec_fixture_setup_backend (&f->sec, g_strcmp0 (data, "container") == 0 ? "container" : NULL);
  if (fake)
    start_fake_compositor (f);
  else
    start_weston (f);
  start_ssh_agent (f);
  /* No audio daemon: the sockets a PipeWire and a PulseAudio server would listen
   * on are enough to show what is forwarded. */
  pipewire = g_build_filename (f->sec.bus.dirs.runtime, "pipewire-0", NULL);
  pulse = g_build_filename (f->sec.bus.dirs.runtime, "pulse", "native", NULL);
  f->audio_fds[0] = listen_unix (pipewire);
  f->audio_fds[1] = listen_unix (pulse);

  csb_sec_update_activation_environment (&f->sec.bus,
                                         "WAYLAND_DISPLAY",
                                         fake ? FAKE_WAYLAND_NAME : WAYLAND_NAME,
                                         "SSH_AUTH_SOCK", f->agent_socket,
                                         "XDG_RUNTIME_DIR", f->sec.bus.dirs.runtime,
                                         NULL);
  csb_test_bus_activate (&f->sec.bus);
}

static void
stop (GPid *pid)
{
  if (*pid > 0)
    {
      kill (*pid, SIGTERM);
      waitpid (*pid, NULL, 0);
      g_spawn_close_pid (*pid);
      *pid = 0;
    }
}

static void
teardown (Fixture      *f,
          gconstpointer data)
{
  csb_sec_fixture_teardown (&f->sec);
  stop (&f->weston);
  stop (&f->fake_compositor);
  g_clear_pointer (&f->fake_log, g_free);
  stop (&f->agent);
  close (f->audio_fds[0]);
  close (f->audio_fds[1]);
  g_clear_pointer (&f->agent_socket, g_free);
  g_clear_pointer (&f->fingerprint, g_free);
}

static GVariant *
option (const char *name,
        gboolean    on)
{
  return g_variant_ref_sink (csb_sec_options (name, g_variant_new_boolean (on), NULL));
}

/* @name on or off, in the fixture's backend. */
static GVariant *
backend_option (Fixture    *f,
                const char *name,
                gboolean    on)
{
  if (f->sec.backend == NULL)
    return option (name, on);
  return g_variant_ref_sink (csb_sec_options (name, g_variant_new_boolean (on), "backend",
                                              g_variant_new_string (f->sec.backend), NULL));
}

/* Runs @script with the display on; its stdout, exit status and Protections. */
static char *
run_display (Fixture    *f,
             const char *script,
             int        *out_status,
             GStrv      *out_protections)
{
  const char * const argv[] = { "/bin/sh", "-c", script, NULL };
  g_autoptr(GVariant) options = backend_option (f, "display", TRUE);
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;

  run = csb_test_launch (&f->sec.bus, f->sec.project, argv, g_variant_ref (options), FALSE,
                         &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_test_message ("[%s] → %d\nstdout: %s\nstderr: %s", script, run->exit_signal_status,
                  run->out->str, run->err->str);
  *out_status = run->exit_signal_status;
  *out_protections = g_strdupv ((char **) csb_dbus_sandbox_get_protections (run->sandbox));
  return g_strdup (run->out->str);
}

/* Whether the compositor under test lists wp_security_context_manager_v1. */
static gboolean
compositor_offers_security_context (Fixture *f)
{
  const char *argv[] = { "wayland-info", NULL };
  g_auto(GStrv) envp = g_get_environ ();
  g_autofree char *out = NULL;

  envp = g_environ_setenv (envp, "XDG_RUNTIME_DIR", f->sec.bus.dirs.runtime, TRUE);
  envp = g_environ_setenv (envp, "WAYLAND_DISPLAY", WAYLAND_NAME, TRUE);
  g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                NULL, NULL, &out, NULL, NULL, NULL);
  return out != NULL && strstr (out, "wp_security_context_manager_v1") != NULL;
}

static gboolean
log_has_closed (gpointer data)
{
  g_autofree char *log = csb_sec_read_file (data);

  return log != NULL && strstr (log, "context closed\n") != NULL;
}

/* A compositor that offers wp_security_context_v1: the sandbox's connection comes in
 * through a context with our engine, app id and the sandbox's id, not on the
 * session's socket, and the compositor stops listening once the sandbox ended. */
static void
test_wayland_security_context (Fixture      *f,
                               gconstpointer data)
{
  const char *script = "wayland-info >/dev/null && echo \"display=$WAYLAND_DISPLAY\"; "
                       "ls -A \"$XDG_RUNTIME_DIR\"";
  const char * const argv[] = { "/bin/sh", "-c", script, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CsbTestRun) run = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *log = NULL;
  const char * const *protections;

  if (g_find_program_in_path ("wayland-info") == NULL)
    {
      g_test_skip ("wayland-info is not installed (Debian package 'wayland-utils')");
      return;
    }
  run = csb_test_launch (&f->sec.bus, f->sec.project, argv,
                         csb_sec_options ("display", g_variant_new_boolean (TRUE), NULL), FALSE,
                         &error);
  g_assert_no_error (error);
  g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
  g_test_message ("stdout: %s\nstderr: %s", run->out->str, run->err->str);
  g_assert_cmpint (run->exit_signal_status, ==, 0);
  g_assert_nonnull (strstr (run->out->str, "display=wayland-0\n"));
  g_assert_null (strstr (run->out->str, FAKE_WAYLAND_NAME));
  protections = csb_dbus_sandbox_get_protections (run->sandbox);
  g_assert_true (g_strv_contains (protections, "wayland-security-context"));
  g_assert_false (g_strv_contains (protections, "wayland-unrestricted"));

  log = csb_sec_read_file (f->fake_log);
  g_test_message ("the compositor saw:\n%s", log);
  expected = g_strdup_printf ("context engine=claude-sandbox app_id=%s instance_id=%s\n",
                              CSB_DBUS_PROXY_APP_ID, csb_dbus_sandbox_get_id (run->sandbox));
  g_assert_nonnull (strstr (log, expected));
  g_assert_nonnull (strstr (log, "client via context\n"));
  /* The sandbox has ended: so does its listener (the monitor held its close fd). */
  for (guint waited = 0; waited < 30000 && !log_has_closed (f->fake_log); waited += 50)
    csb_test_sleep_ms (50);
  g_assert_true (log_has_closed (f->fake_log));
}

static void
test_wayland (Fixture      *f,
              gconstpointer data)
{
  g_autoptr(GVariant) off = backend_option (f, "display", FALSE);
  g_autofree char *out_on = NULL;
  g_autofree char *out_off = NULL;
  g_auto(GStrv) protections = NULL;
  int status = -1;

  if (f->sec.backend != NULL && !csb_sec_require_backend (&f->sec, f->sec.backend))
    return;
  if (f->weston == 0)
    {
      g_test_skip ("weston is not installed (Debian package 'weston')");
      return;
    }
  if (g_find_program_in_path ("wayland-info") == NULL)
    {
      g_test_skip ("wayland-info is not installed (Debian package 'wayland-utils')");
      return;
    }
  out_on = run_display (f, "wayland-info >/dev/null && echo \"display=$WAYLAND_DISPLAY\"",
                        &status, &protections);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out_on, "display=wayland-0\n"));
  /* weston 10 has no wp_security_context_v1: every protocol it offers is open to the
   * sandbox, and Protections says so (a newer one would give it a context; the
   * container is given the session's own socket either way). */
  if (f->sec.backend == NULL && compositor_offers_security_context (f))
    g_assert_true (g_strv_contains ((const char * const *) protections,
                                    "wayland-security-context"));
  else
    g_assert_true (g_strv_contains ((const char * const *) protections,
                                    "wayland-unrestricted"));

  out_off = csb_sec_run_sh (&f->sec,
                            "echo \"display=${WAYLAND_DISPLAY-unset}\"; ls -A \"$XDG_RUNTIME_DIR\"; "
                            "wayland-info >/dev/null 2>&1",
                            g_variant_ref (off), &status);
  g_assert_cmpint (status, !=, 0);
  g_assert_nonnull (strstr (out_off, "display=unset\n"));
  g_assert_null (strstr (out_off, "wayland"));
}

static void
test_ssh_agent (Fixture      *f,
                gconstpointer data)
{
  g_autoptr(GVariant) on = backend_option (f, "ssh-agent", TRUE);
  g_autoptr(GVariant) off = backend_option (f, "ssh-agent", FALSE);
  g_autofree char *out_on = NULL;
  g_autofree char *out_off = NULL;
  int status = -1;

  if (f->sec.backend != NULL && !csb_sec_require_backend (&f->sec, f->sec.backend))
    return;
  out_on = csb_sec_run_sh (&f->sec, "ssh-add -l", g_variant_ref (on), &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out_on, f->fingerprint));

  out_off = csb_sec_run_sh (&f->sec, "echo \"sock=${SSH_AUTH_SOCK-unset}\"; ssh-add -l",
                            g_variant_ref (off), &status);
  g_assert_cmpint (status, ==, 2);  /* "Could not open a connection to your authentication agent" */
  g_assert_nonnull (strstr (out_off, "sock=unset\n"));
  g_assert_null (strstr (out_off, f->fingerprint));
}

static void
test_audio (Fixture      *f,
            gconstpointer data)
{
  g_autoptr(GVariant) on = backend_option (f, "audio", TRUE);
  g_autoptr(GVariant) off = backend_option (f, "audio", FALSE);
  const char *script =
    "for s in \"$XDG_RUNTIME_DIR/pipewire-0\" \"$XDG_RUNTIME_DIR/pulse/native\"; do "
    "  if [ -S \"$s\" ]; then echo \"socket:${s##*/}=1\"; else echo \"socket:${s##*/}=0\"; fi; "
    "done; echo \"pulse-server=${PULSE_SERVER-unset}\"; echo \"runtime=$XDG_RUNTIME_DIR\"";
  g_autoptr(GHashTable) with = NULL;
  g_autoptr(GHashTable) without = NULL;
  g_autofree char *out_on = NULL;
  g_autofree char *out_off = NULL;
  g_autofree char *pulse_server = NULL;
  int status = -1;

  if (f->sec.backend != NULL && !csb_sec_require_backend (&f->sec, f->sec.backend))
    return;
  out_on = csb_sec_run_sh (&f->sec, script, g_variant_ref (on), &status);
  g_assert_cmpint (status, ==, 0);
  with = csb_sec_parse (out_on);
  /* The sandbox's own runtime folder (/run/user/UID of the user inside). */
  g_assert_true (g_str_has_prefix (g_hash_table_lookup (with, "runtime"), "/run/user/"));
  pulse_server = g_strconcat ("unix:", (char *) g_hash_table_lookup (with, "runtime"),
                              "/pulse/native", NULL);
  g_assert_cmpstr (g_hash_table_lookup (with, "socket:pipewire-0"), ==, "1");
  g_assert_cmpstr (g_hash_table_lookup (with, "socket:native"), ==, "1");
  g_assert_cmpstr (g_hash_table_lookup (with, "pulse-server"), ==, pulse_server);

  out_off = csb_sec_run_sh (&f->sec, script, g_variant_ref (off), &status);
  g_assert_cmpint (status, ==, 0);
  without = csb_sec_parse (out_off);
  g_assert_cmpstr (g_hash_table_lookup (without, "socket:pipewire-0"), ==, "0");
  g_assert_cmpstr (g_hash_table_lookup (without, "socket:native"), ==, "0");
  g_assert_cmpstr (g_hash_table_lookup (without, "pulse-server"), ==, "unset");
}

static void
test_gpu (Fixture      *f,
          gconstpointer data)
{
  g_autoptr(GVariant) on = option ("gpu", TRUE);
  g_autoptr(GVariant) off = option ("gpu", FALSE);
  const char *script = "if [ -e /dev/dri ]; then echo dri=1; else echo dri=0; fi";
  gboolean host_has_dri = g_file_test ("/dev/dri", G_FILE_TEST_IS_DIR);
  g_autofree char *out_on = NULL;
  g_autofree char *out_off = NULL;
  int status = -1;

  if (f->sec.backend != NULL && !csb_sec_require_backend (&f->sec, f->sec.backend))
    return;
  out_on = csb_sec_run_sh (&f->sec, script, g_variant_ref (on), &status);
  out_off = csb_sec_run_sh (&f->sec, script, g_variant_ref (off), &status);
  if (!host_has_dri)
    g_test_message ("this machine has no /dev/dri: absent inside either way");
  g_assert_cmpstr (out_on, ==, host_has_dri ? "dri=1\n" : "dri=0\n");
  g_assert_cmpstr (out_off, ==, "dri=0\n");
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);
  /* A failed check ends its test case, not the program: an abort would leave the
   * private bus and its service holding the TAP pipe open until the timeout. */
  g_test_set_nonfatal_assertions ();

  g_test_add ("/security/forwarding/wayland", Fixture, NULL, setup, test_wayland, teardown);
  g_test_add ("/security/forwarding/wayland-security-context", Fixture, "fake", setup,
              test_wayland_security_context, teardown);
  g_test_add ("/security/forwarding/ssh-agent", Fixture, NULL, setup, test_ssh_agent, teardown);
  g_test_add ("/security/forwarding/audio", Fixture, NULL, setup, test_audio, teardown);
  g_test_add ("/security/forwarding/container/wayland", Fixture, "container", setup,
              test_wayland, teardown);
  g_test_add ("/security/forwarding/container/ssh-agent", Fixture, "container", setup,
              test_ssh_agent, teardown);
  g_test_add ("/security/forwarding/container/audio", Fixture, "container", setup,
              test_audio, teardown);
  g_test_add ("/security/forwarding/gpu", Fixture, NULL, setup, test_gpu, teardown);
  return g_test_run ();
}
