/* csb-libvirt.c
 *
 * The console is bridged by two threads with blocking stream calls: libvirt
 * streams have no GSource of their own, and a blocked thread costs less than
 * polling. The input thread also polls a pipe that wakes it for the end.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <glib-unix.h>
#include <libvirt/virterror.h>
#include <libvirt-glib/libvirt-glib.h>

#include "csb-claude-config.h"
#include "csb-error.h"
#include "csb-libvirt.h"

static void
ignore_error (void       *user_data,
              virErrorPtr error)
{
}

static void
ensure_event_loop (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      /* Errors go into GErrors, not onto stderr. */
      virSetErrorFunc (NULL, ignore_error);
      gvir_event_register ();
      g_once_init_leave (&done, 1);
    }
}

void
csb_libvirt_set_error (GError    **error,
                       int         code,
                       const char *what)
{
  virErrorPtr err = virGetLastError ();

  g_set_error (error, CSB_ERROR, code, "%s: %s", what,
               err && err->message ? err->message : "unknown libvirt error");
}

virConnectPtr
csb_libvirt_open (const char *uri,
                  GError    **error)
{
  virConnectPtr conn;

  ensure_event_loop ();
  conn = virConnectOpen (uri);
  if (conn == NULL)
    {
      g_autofree char *what = g_strdup_printf ("cannot connect to libvirt at %s", uri);
      csb_libvirt_set_error (error, CSB_ERROR_BACKEND_UNAVAILABLE, what);
    }
  return conn;
}

/* ---- the domain XML ----------------------------------------------------------------- */

void
csb_libvirt_xml_append (GString    *xml,
                        const char *format,
                        ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_markup_vprintf_escaped (format, args);
  va_end (args);
  g_string_append (xml, text);
}

void
csb_libvirt_xml_append_identity (GString    *xml,
                                 const char *name,
                                 const char *title,
                                 const char *sandbox_id,
                                 const char *project_dir,
                                 const char *key,
                                 const char *ns)
{
  csb_libvirt_xml_append (xml, "  <name>%s</name>\n", name);
  csb_libvirt_xml_append (xml, "  <title>claude-sandbox: %s</title>\n", title);
  csb_libvirt_xml_append (xml, "  <description>Sandbox %s on %s, run by claude-sandbox"
                               "</description>\n",
                          sandbox_id, project_dir ? project_dir : "");
  csb_libvirt_xml_append (xml, "  <metadata>\n"
                               "    <csb:%s xmlns:csb='%s'>\n"
                               "      <csb:id>%s</csb:id>\n"
                               "      <csb:project>%s</csb:project>\n"
                               "    </csb:%s>\n"
                               "  </metadata>\n",
                          key, ns, sandbox_id, project_dir ? project_dir : "", key);
}

/* ---- the end ------------------------------------------------------------------------ */

void
csb_libvirt_write_back_claude_json (const char *ctl_dir,
                                    const char *sandbox_id)
{
  g_autofree char *copy = g_build_filename (ctl_dir, "claude-json", ".claude.json", NULL);
  g_autofree char *store = g_build_filename (g_get_user_state_dir (), "claude-sandbox",
                                             "claude.json", NULL);
  g_autoptr(GError) error = NULL;

  if (!csb_claude_json_write_back (g_get_home_dir (), store, copy, &error))
    g_warning ("sandbox %s: ~/.claude.json not written back: %s", sandbox_id, error->message);
}

/* ---- the console bridge ------------------------------------------------------------- */

struct _CsbConsoleBridge
{
  virStreamPtr console;
  GThread     *out_thread;
  GThread     *in_thread;
  int          in_fd;
  int          out_fd;
  int          wake_pipe[2];
};

static gpointer
console_out_thread (gpointer data)
{
  CsbConsoleBridge *self = data;
  char buf[16384];

  for (;;)
    {
      int n = virStreamRecv (self->console, buf, sizeof buf);
      char *p = buf;

      if (n <= 0)
        break;
      while (n > 0)
        {
          ssize_t w = write (self->out_fd, p, n);
          if (w < 0 && errno == EINTR)
            continue;
          if (w <= 0)
            {
              n = 0;  /* nobody reads: drop the output, keep the guest going */
              break;
            }
          p += w;
          n -= w;
        }
    }
  return NULL;
}

static gpointer
console_in_thread (gpointer data)
{
  CsbConsoleBridge *self = data;
  char buf[4096];

  for (;;)
    {
      struct pollfd fds[2] = { { self->in_fd, POLLIN, 0 }, { self->wake_pipe[0], POLLIN, 0 } };
      ssize_t n;

      if (poll (fds, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (fds[1].revents != 0)
        break;
      n = read (self->in_fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0)
        break;
      if (virStreamSend (self->console, buf, n) < 0)
        break;
    }
  return NULL;
}

CsbConsoleBridge *
csb_console_bridge_start (virStreamPtr console,
                          const int    stdio_fds[3],
                          gboolean     stdio_is_pty)
{
  CsbConsoleBridge *self;

  g_return_val_if_fail (console != NULL, NULL);

  self = g_new0 (CsbConsoleBridge, 1);
  self->console = console;
  if (stdio_is_pty)
    {
      struct termios tio;

      /* The guest's console has the line discipline; ours passes bytes through. */
      if (tcgetattr (stdio_fds[0], &tio) == 0)
        {
          cfmakeraw (&tio);
          tcsetattr (stdio_fds[0], TCSANOW, &tio);
        }
    }
  self->in_fd = fcntl (stdio_fds[0], F_DUPFD_CLOEXEC, 3);
  self->out_fd = fcntl (stdio_fds[1], F_DUPFD_CLOEXEC, 3);
  if (!g_unix_open_pipe (self->wake_pipe, FD_CLOEXEC, NULL))
    self->wake_pipe[0] = self->wake_pipe[1] = -1;
  self->out_thread = g_thread_new ("console-out", console_out_thread, self);
  self->in_thread = g_thread_new ("console-in", console_in_thread, self);
  return self;
}

void
csb_console_bridge_stop (CsbConsoleBridge *self)
{
  if (self == NULL)
    return;
  if (self->wake_pipe[1] >= 0)
    {
      if (write (self->wake_pipe[1], "x", 1) < 0) {}
    }
  virStreamAbort (self->console);
  g_thread_join (self->out_thread);
  g_thread_join (self->in_thread);
  for (guint i = 0; i < 2; i++)
    if (self->wake_pipe[i] >= 0)
      close (self->wake_pipe[i]);
  if (self->in_fd >= 0)
    close (self->in_fd);
  if (self->out_fd >= 0)
    close (self->out_fd);
  g_free (self);
}

void
csb_console_bridge_restart (CsbConsoleBridge *self,
                            virStreamPtr      console)
{
  char c;

  g_return_if_fail (self != NULL && console != NULL);

  if (self->wake_pipe[1] >= 0 && write (self->wake_pipe[1], "x", 1) < 0) {}
  virStreamAbort (self->console);
  g_thread_join (self->out_thread);
  g_thread_join (self->in_thread);
  if (self->wake_pipe[0] >= 0 && read (self->wake_pipe[0], &c, 1) < 0) {}
  self->console = console;
  self->out_thread = g_thread_new ("console-out", console_out_thread, self);
  self->in_thread = g_thread_new ("console-in", console_in_thread, self);
}
