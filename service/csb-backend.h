/* csb-backend.h — the one small interface every isolation level implements.
 *
 * prepare + spawn happen in start_async (off the main loop where they block),
 * the backend watches its sandbox and emits "exited" once, and stop() asks for a
 * graceful end. The manager and CsbSandbox never know which backend they hold;
 * a new backend is a new file and one line in the table in csb-backend.c.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "csb-options.h"

G_BEGIN_DECLS

/* Everything a backend needs to start one sandbox; immutable once started. */
typedef struct
{
  char              *id;
  char              *project_dir;   /* resolved, validated */
  char             **command;       /* never empty */
  CsbLaunchOptions  *options;
  char              *state_dir;     /* $XDG_STATE_HOME/claude-sandbox/<id>: logs */
  char              *runtime_dir;   /* $XDG_RUNTIME_DIR/claude-sandbox/<id>: sockets, copies */
  char             **environ;       /* the service's (activation) environment */
  GSettings         *settings;      /* (nullable) */
  int                stdio_fds[3];  /* owned: what the command gets as 0, 1, 2 */
  char              *net_proxy_socket; /* filtered network: the proxy's socket, or NULL */
  gboolean           stdio_is_pty;
  /* (nullable) (element-type CsbGuardEntry): what of the project runs or is obeyed
   * outside, opened by csb-project-guard; backends protect each entry. */
  GPtrArray         *guard_entries;
} CsbSandboxSpec;

CsbSandboxSpec *csb_sandbox_spec_new  (void);
void            csb_sandbox_spec_free (CsbSandboxSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbSandboxSpec, csb_sandbox_spec_free)
guint64         csb_sandbox_spec_terminal_log_max (CsbSandboxSpec *spec);
int             csb_sandbox_spec_open_dir (CsbSandboxSpec *spec,
                                           gboolean        runtime,
                                           gboolean        create,
                                           GError        **error);

#define CSB_TYPE_BACKEND (csb_backend_get_type ())
G_DECLARE_DERIVABLE_TYPE (CsbBackend, csb_backend, CSB, BACKEND, GObject)

struct _CsbBackendClass
{
  GObjectClass parent_class;

  const char *name;
  /* Cannot share the host's network: its sandboxes are offline unless the caller
   * asked for the network (which then fails with the reason). */
  gboolean    offline_only;
  /* Can wire CsbSandboxSpec.net_proxy_socket in (the network-allow option). */
  gboolean    filters_network;

  /* Whether this backend can run here; @detail says what it uses or why not. Blocking. */
  gboolean (*check_available) (CsbBackendClass    *klass,
                               GSettings          *settings,
                               char              **detail);
  /* Prepare and spawn; completes once the command runs inside. */
  void     (*start_async)     (CsbBackend         *self,
                               CsbSandboxSpec     *spec,
                               GCancellable       *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer            user_data);
  gboolean (*start_finish)    (CsbBackend         *self,
                               GAsyncResult       *result,
                               GError            **error);
  /* Graceful stop, forced after @timeout_s seconds; "exited" follows. */
  void     (*stop)            (CsbBackend         *self,
                               guint               timeout_s);
  /* The active protections, for the Protections property. */
  GStrv    (*get_protections) (CsbBackend         *self);
  /* (nullable) The sandbox's display address (a VM's SPICE socket), for Display. */
  char    *(*dup_display)     (CsbBackend         *self);
  /* A stream socket connected to that display (one per SPICE channel); NULL: none. */
  int      (*open_display)    (CsbBackend         *self,
                               GError            **error);

  /* Backends whose sandboxes hold their own terminal (a monitor process) set
   * owns_terminal; CsbSandbox then allocates no pty and asks them instead. */
  gboolean  owns_terminal;
  int      (*open_terminal)   (CsbBackend         *self,
                               GError            **error);
  gboolean (*resize_terminal) (CsbBackend         *self,
                               guint16             columns,
                               guint16             rows,
                               GError            **error);
  /* The window size a client set on the service's pty (ResizeTerminal). A backend
   * whose command does not sit on that pty (a VM's console is bridged to it) passes
   * it on to its guest; NULL: nothing to do. */
  void     (*terminal_resized) (CsbBackend        *self,
                               guint16             columns,
                               guint16             rows);
  /* Takes over a sandbox a previous service started (NULL: cannot). */
  gboolean (*adopt)           (CsbBackend         *self,
                               CsbSandboxSpec     *spec,
                               const char * const *protections,
                               GError            **error);
};

CsbBackend  *csb_backend_new             (const char          *name,
                                          GError             **error);
const char * const *csb_backend_get_names (void);
gboolean     csb_backend_check_available (const char          *name,
                                          GSettings           *settings,
                                          char               **detail);
const char  *csb_backend_get_name        (CsbBackend          *self);
void         csb_backend_start_async     (CsbBackend          *self,
                                          CsbSandboxSpec      *spec,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
gboolean     csb_backend_start_finish    (CsbBackend          *self,
                                          GAsyncResult        *result,
                                          GError             **error);
void         csb_backend_stop            (CsbBackend          *self,
                                          guint                timeout_s);
GStrv        csb_backend_get_protections (CsbBackend          *self);
guint        csb_backend_get_pid         (CsbBackend          *self);
char        *csb_backend_dup_display     (CsbBackend          *self);
int          csb_backend_open_display    (CsbBackend          *self,
                                          GError             **error);
gboolean     csb_backend_adopt           (CsbBackend          *self,
                                          CsbSandboxSpec      *spec,
                                          const char * const  *protections,
                                          GError             **error);
gboolean     csb_backend_owns_terminal   (CsbBackend          *self);
gboolean     csb_backend_is_offline_only (CsbBackend          *self);
gboolean     csb_backend_filters_network (CsbBackend          *self);
int          csb_backend_open_terminal   (CsbBackend          *self,
                                          GError             **error);
gboolean     csb_backend_resize_terminal (CsbBackend          *self,
                                          guint16              columns,
                                          guint16              rows,
                                          GError             **error);
void         csb_backend_terminal_resized (CsbBackend         *self,
                                           guint16             columns,
                                           guint16             rows);

/* For implementations. */
void         csb_backend_set_pid         (CsbBackend          *self,
                                          guint                pid);
void         csb_backend_emit_exited     (CsbBackend          *self,
                                          int                  status,
                                          const char          *error_message);

G_END_DECLS
