/* csb-fake-compositor.c — a Wayland compositor with one global,
 * wp_security_context_manager_v1, for the display tests: no compositor in Debian 12
 * offers the protocol (weston 10 does not). It says on stdout, a line each, what a
 * real compositor would act on:
 *   context engine=E app_id=A instance_id=I   a security context was committed
 *   client via context                         a client came in on its listener
 *   context closed                             its close fd hung up: no more clients
 *
 *   csb-fake-compositor SOCKET-NAME   (in $XDG_RUNTIME_DIR, as weston --socket)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wayland-server.h>

#include "csb-security-context-protocol.h"

typedef struct
{
  struct wl_display      *display;
  struct wl_event_source *listen_source;
  struct wl_event_source *close_source;
  int                     listen_fd;
  int                     close_fd;
  char                   *engine;
  char                   *app_id;
  char                   *instance_id;
} Context;

static int
on_accept (int       fd,
           uint32_t  mask,
           void     *data)
{
  Context *context = data;
  int client_fd = accept4 (fd, NULL, NULL, SOCK_CLOEXEC);

  if (client_fd >= 0 && wl_client_create (context->display, client_fd) != NULL)
    printf ("client via context\n");
  return 0;
}

static int
on_close (int       fd,
          uint32_t  mask,
          void     *data)
{
  Context *context = data;

  printf ("context closed\n");
  wl_event_source_remove (context->listen_source);
  wl_event_source_remove (context->close_source);
  close (context->listen_fd);
  close (context->close_fd);
  free (context->engine);
  free (context->app_id);
  free (context->instance_id);
  free (context);
  return 0;
}

static void
destroy_request (struct wl_client   *client,
                 struct wl_resource *resource)
{
  wl_resource_destroy (resource);
}

static void
set_string (struct wl_resource *resource,
            char              **field,
            const char         *value)
{
  Context *context = wl_resource_get_user_data (resource);

  if (context == NULL || *field != NULL)
    wl_resource_post_error (resource, 2, "already set");
  else
    *field = strdup (value);
}

static void
set_sandbox_engine (struct wl_client   *client,
                    struct wl_resource *resource,
                    const char         *name)
{
  Context *context = wl_resource_get_user_data (resource);

  set_string (resource, context ? &context->engine : NULL, name);
}

static void
set_app_id (struct wl_client   *client,
            struct wl_resource *resource,
            const char         *app_id)
{
  Context *context = wl_resource_get_user_data (resource);

  set_string (resource, context ? &context->app_id : NULL, app_id);
}

static void
set_instance_id (struct wl_client   *client,
                 struct wl_resource *resource,
                 const char         *instance_id)
{
  Context *context = wl_resource_get_user_data (resource);

  set_string (resource, context ? &context->instance_id : NULL, instance_id);
}

static void
commit (struct wl_client   *client,
        struct wl_resource *resource)
{
  Context *context = wl_resource_get_user_data (resource);
  struct wl_event_loop *loop;

  if (context == NULL)
    {
      wl_resource_post_error (resource, 1, "already used");
      return;
    }
  loop = wl_display_get_event_loop (context->display);
  printf ("context engine=%s app_id=%s instance_id=%s\n", context->engine ? context->engine : "",
          context->app_id ? context->app_id : "",
          context->instance_id ? context->instance_id : "");
  context->listen_source = wl_event_loop_add_fd (loop, context->listen_fd, WL_EVENT_READABLE,
                                                 on_accept, context);
  /* Mask 0: woken only when the other end hangs up. */
  context->close_source = wl_event_loop_add_fd (loop, context->close_fd, 0, on_close, context);
  wl_resource_set_user_data (resource, NULL);
}

static const struct
{
  void (*destroy) (struct wl_client *, struct wl_resource *);
  void (*set_sandbox_engine) (struct wl_client *, struct wl_resource *, const char *);
  void (*set_app_id) (struct wl_client *, struct wl_resource *, const char *);
  void (*set_instance_id) (struct wl_client *, struct wl_resource *, const char *);
  void (*commit) (struct wl_client *, struct wl_resource *);
} context_impl = { destroy_request, set_sandbox_engine, set_app_id, set_instance_id, commit };

/* A context never committed owns its fds until its object goes. */
static void
context_resource_destroyed (struct wl_resource *resource)
{
  Context *context = wl_resource_get_user_data (resource);

  if (context == NULL)
    return;
  close (context->listen_fd);
  close (context->close_fd);
  free (context->engine);
  free (context->app_id);
  free (context->instance_id);
  free (context);
}

static void
create_listener (struct wl_client   *client,
                 struct wl_resource *resource,
                 uint32_t            id,
                 int32_t             listen_fd,
                 int32_t             close_fd)
{
  struct wl_resource *context_resource =
    wl_resource_create (client, &csb_wp_security_context_v1_interface, 1, id);
  Context *context = calloc (1, sizeof *context);

  context->display = wl_client_get_display (client);
  context->listen_fd = listen_fd;
  context->close_fd = close_fd;
  wl_resource_set_implementation (context_resource, &context_impl, context,
                                  context_resource_destroyed);
}

static const struct
{
  void (*destroy) (struct wl_client *, struct wl_resource *);
  void (*create_listener) (struct wl_client *, struct wl_resource *, uint32_t, int32_t, int32_t);
} manager_impl = { destroy_request, create_listener };

static void
bind_manager (struct wl_client *client,
              void             *data,
              uint32_t          version,
              uint32_t          id)
{
  struct wl_resource *resource =
    wl_resource_create (client, &csb_wp_security_context_manager_v1_interface, 1, id);

  wl_resource_set_implementation (resource, &manager_impl, NULL, NULL);
}

int
main (int   argc,
      char *argv[])
{
  struct wl_display *display;

  if (argc != 2)
    {
      fprintf (stderr, "usage: csb-fake-compositor SOCKET-NAME\n");
      return 2;
    }
  setvbuf (stdout, NULL, _IOLBF, 0);
  display = wl_display_create ();
  if (display == NULL || wl_display_add_socket (display, argv[1]) != 0)
    {
      fprintf (stderr, "csb-fake-compositor: cannot listen on %s\n", argv[1]);
      return 1;
    }
  wl_global_create (display, &csb_wp_security_context_manager_v1_interface, 1, NULL,
                    bind_manager);
  printf ("listening\n");
  wl_display_run (display);
  return 0;
}
