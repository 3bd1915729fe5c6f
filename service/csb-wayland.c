/* csb-wayland.c
 *
 * A raw Wayland socket lets a client use every protocol the compositor offers its
 * ordinary clients (on wlroots: screencopy of every window, a virtual keyboard
 * into the host's terminals). Compositors that implement wp_security_context_v1
 * restrict the clients that come in through a security context: we create a
 * listening socket, hand it to the compositor with the sandbox's engine, app id
 * and instance id, and bind that socket, not the session's, into the sandbox.
 * The compositor accepts on it until every copy of the close pipe's read end is
 * closed; the sandbox's monitor holds it, so the listener ends with the sandbox.
 *
 * We connect to the socket ourselves rather than with wl_display_connect(), which
 * reads and unsets WAYLAND_SOCKET in this (multi-threaded) process.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>
#include <wayland-client.h>

#include "csb-error.h"
#include "csb-security-context-protocol.h"
#include "csb-wayland.h"

static void
on_global (void               *data,
           struct wl_registry *registry,
           uint32_t            name,
           const char         *interface,
           uint32_t            version)
{
  struct wl_proxy **manager = data;

  if (*manager == NULL &&
      strcmp (interface, csb_wp_security_context_manager_v1_interface.name) == 0)
    *manager = wl_registry_bind (registry, name, &csb_wp_security_context_manager_v1_interface,
                                 1);
}

static void
on_global_remove (void               *data,
                  struct wl_registry *registry,
                  uint32_t            name)
{
}

static const struct wl_registry_listener registry_listener = { on_global, on_global_remove };

static int
unix_socket (const char *path,
             gboolean    listening,
             GError    **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "socket path too long: %s", path);
      return -1;
    }
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && listening)
    {
      unlink (path);
      if (bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0 && listen (fd, 16) == 0)
        return fd;
    }
  else if (fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0)
    return fd;
  g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot %s %s: %s",
               listening ? "listen on" : "connect to", path, g_strerror (errno));
  if (fd >= 0)
    close (fd);
  return -1;
}

/* Attaches a security context listening on @listen_path to the compositor at
 * @display_path. TRUE: *out_hold_fd is the close pipe's read end, to be held for
 * as long as the sandbox may connect. FALSE with G_IO_ERROR_NOT_SUPPORTED: the
 * compositor does not offer the protocol. */
gboolean
csb_wayland_attach_security_context (const char  *display_path,
                                     const char  *listen_path,
                                     const char  *app_id,
                                     const char  *instance_id,
                                     int         *out_hold_fd,
                                     GError     **error)
{
  struct wl_display *display;
  struct wl_registry *registry;
  struct wl_proxy *manager = NULL;
  struct wl_proxy *context;
  int fd, listen_fd, close_pipe[2], err;
  gboolean ok = FALSE;

  if ((fd = unix_socket (display_path, FALSE, error)) < 0)
    return FALSE;
  /* Not closed on failure: libwayland may have closed it already. */
  if ((display = wl_display_connect_to_fd (fd)) == NULL)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "cannot talk Wayland to %s",
                   display_path);
      return FALSE;
    }
  registry = wl_display_get_registry (display);
  wl_registry_add_listener (registry, &registry_listener, &manager);
  err = wl_display_roundtrip (display);
  wl_registry_destroy (registry);
  if (err < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED, "the compositor at %s did not answer",
                   display_path);
      goto out;
    }
  if (manager == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "the compositor does not offer wp_security_context_v1");
      goto out;
    }
  if ((listen_fd = unix_socket (listen_path, TRUE, error)) < 0)
    goto out;
  if (!g_unix_open_pipe (close_pipe, FD_CLOEXEC, error))
    {
      close (listen_fd);
      goto out;
    }

  /* libwayland sends copies of the fds; ours are closed once sent. */
  context = wl_proxy_marshal_flags (manager, CSB_WP_SECURITY_CONTEXT_MANAGER_V1_CREATE_LISTENER,
                                    &csb_wp_security_context_v1_interface, 1, 0, NULL,
                                    listen_fd, close_pipe[1]);
  wl_proxy_marshal_flags (context, CSB_WP_SECURITY_CONTEXT_V1_SET_SANDBOX_ENGINE, NULL, 1, 0,
                          CSB_WAYLAND_SANDBOX_ENGINE);
  wl_proxy_marshal_flags (context, CSB_WP_SECURITY_CONTEXT_V1_SET_APP_ID, NULL, 1, 0, app_id);
  wl_proxy_marshal_flags (context, CSB_WP_SECURITY_CONTEXT_V1_SET_INSTANCE_ID, NULL, 1, 0,
                          instance_id);
  wl_proxy_marshal_flags (context, CSB_WP_SECURITY_CONTEXT_V1_COMMIT, NULL, 1, 0);
  wl_proxy_marshal_flags (context, CSB_WP_SECURITY_CONTEXT_V1_DESTROY, NULL, 1,
                          WL_MARSHAL_FLAG_DESTROY);
  err = wl_display_roundtrip (display);
  close (listen_fd);
  close (close_pipe[1]);
  if (err < 0)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "the compositor refused the sandbox's security context (error %d)",
                   wl_display_get_error (display));
      close (close_pipe[0]);
      unlink (listen_path);
      goto out;
    }
  *out_hold_fd = close_pipe[0];
  ok = TRUE;

out:
  if (manager != NULL)
    wl_proxy_marshal_flags (manager, CSB_WP_SECURITY_CONTEXT_MANAGER_V1_DESTROY, NULL, 1,
                            WL_MARSHAL_FLAG_DESTROY);
  wl_display_disconnect (display);
  return ok;
}
