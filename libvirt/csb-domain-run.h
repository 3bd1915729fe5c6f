/* csb-domain-run.h — a sandbox's libvirt domain from its start to its end.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <libvirt/libvirt.h>

#include "csb-module-api.h"
#include "csb-console-bridge.h"

G_BEGIN_DECLS

/* What the vm and container backends hold of their sandbox's domain (embedded in
 * the backend), and what both do with it the same way: its lifecycle events,
 * Launch completing once our init reports "started" in the control folder,
 * Stop() as a shutdown and a destroy after the timeout, and the end, torn down
 * in a worker thread before "exited" is emitted once. What differs stays in the
 * backend: how it starts, the cleanup hook, the VM's take-over and reconnection.
 * Main thread, unless said otherwise. */
typedef struct _CsbDomainRun CsbDomainRun;

/* How the command ended. */
typedef struct
{
  int       status;
  gboolean  ran;     /* the command started */
  char     *error;   /* (nullable) why it ended without a status of its own */
} CsbDomainEnd;

/* What a take-over found of its domain (csb_domain_run_find). Freeing it never
 * destroys the domain: what is not taken over is left as it was. */
typedef struct
{
  virConnectPtr  conn;
  virDomainPtr   domain;      /* NULL: it ended while no service ran */
  virStreamPtr   console;     /* NULL: no terminal to bridge, or the console would not open */
  gboolean       running;
  gpointer       extra;       /* the backend's own (the VM's virtiofsd), freed with: */
  GDestroyNotify extra_free;
} CsbDomainFound;

void     csb_domain_found_free         (CsbDomainFound      *found);

/* What is the backend's own, one static table per backend. */
typedef struct
{
  const char         *what;            /* "the VM", "the container": for messages */
  unsigned int        shutdown_flags;  /* virDomainShutdownFlags() for Stop() */
  unsigned int        console_flags;   /* virDomainOpenConsole() for a take-over */
  gpointer            source_tag;      /* the backend's start_async */
  /* In a worker thread, task data the spec: starts the domain, returns a result. */
  GTaskThreadFunc     start_thread;
  /* Takes that over with csb_domain_run_start_result(), then csb_domain_run_attach(). */
  GAsyncReadyCallback start_done;
  /* In a worker thread once the domain ended: the backend's teardown
   * (csb_domain_run_close() and what is its own) and how the command ended. */
  void              (*cleanup)         (CsbDomainRun *run,
                                        CsbDomainEnd *end);
  virConnectCloseFunc close_cb;        /* (nullable) what the backend registers on conn */
  /* (nullable: no take-over) In a worker thread, a domain a previous service
   * started found again: returns a CsbDomainFound (csb_domain_run_find()). */
  GTaskThreadFunc     adopt_thread;
  /* (nullable) Once the run holds what was found (conn, domain, console), before
   * its console is bridged: what the backend takes of @found (its extra). */
  void              (*adopted)         (CsbDomainRun   *run,
                                        CsbDomainFound *found);
  /* (nullable) Main thread, every CSB_DOMAIN_RUN_CHECK_S while the domain runs, cheap
   * (no call to libvirtd): whether its process is gone although no event said so —
   * libvirtd drops a domain's end when it happens before libvirtd has connected to
   * the domain's controller (a container whose command is done in milliseconds). */
  gboolean          (*gone)            (CsbDomainRun   *run);
} CsbDomainRunOps;

#define CSB_DOMAIN_RUN_CHECK_S 5

struct _CsbDomainRun
{
  CsbBackend            *backend;      /* the owner, which embeds this */
  const CsbDomainRunOps *ops;
  GCancellable          *cancellable;  /* of the backend's own tasks, cancelled in dispose */

  CsbSandboxSpec     *spec;            /* borrowed from the sandbox, which outlives us */
  GTask              *start_task;
  virConnectPtr       conn;
  virDomainPtr        domain;
  virStreamPtr        console;
  int                 event_id;
  CsbConsoleBridge   *bridge;
  char               *ctl_dir;
  GStrv               protections;

  GFileMonitor       *ctl_monitor;
  guint               destroy_timeout_id;
  guint               check_id;        /* ops->gone, while it runs */
  gboolean            stopping;
  gboolean            destroyed;
  gboolean            count_console;   /* the bridge counts for a take-over (VM) */
  /* The command's stdio is elsewhere (a VM's virtio ports): the console's output
   * (set-up errors) goes to stderr, and it reads no input. */
  gboolean            console_to_stderr;
  gboolean            attached;        /* the backend took the domain over */
  gboolean            end_pending;     /* it ended before that */
  gboolean            ended;

  int                 adopt_fds[3];    /* our copies of a fresh terminal, until bridged */
  gboolean            adopting;        /* taking a domain over (or, a VM, reconnecting) */
  gboolean            stop_pending;    /* Stop() came before that */
  guint               stop_timeout;
};

void     csb_domain_run_init           (CsbDomainRun          *run,
                                        CsbBackend            *backend,
                                        const CsbDomainRunOps *ops);
/* For the backend's dispose and finalize. */
void     csb_domain_run_dispose        (CsbDomainRun        *run);
void     csb_domain_run_finalize       (CsbDomainRun        *run);

/* start_async: the ops' start_thread runs, then start_done; the start completes
 * from csb_domain_run_attach(). */
void     csb_domain_run_start          (CsbDomainRun        *run,
                                        CsbSandboxSpec      *spec,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data);
/* In start_done: the start thread's result, or NULL when it failed (the start
 * has then failed with its error). */
gpointer csb_domain_run_start_result   (CsbDomainRun        *run,
                                        GAsyncResult        *res);
/* What a start (or a take-over) did not hand over: the console stream aborted,
 * the domain destroyed if @destroy, each freed. Any may be NULL. Blocking. */
void     csb_libvirt_discard           (virConnectPtr        conn,
                                        virDomainPtr         domain,
                                        virStreamPtr         console,
                                        gboolean             destroy);

/* The lifecycle events of @domain on @conn (not yet the run's, e.g. in a start
 * thread), each holding a reference on the backend. Any thread. */
void     csb_domain_run_watch_events   (CsbDomainRun        *run,
                                        virConnectPtr        conn,
                                        virDomainPtr         domain);
void     csb_domain_run_unwatch_events (CsbDomainRun        *run,
                                        virConnectPtr        conn);

/* The backend holds the started domain now (conn, domain, console, ctl_dir set):
 * the console is bridged to the sandbox's stdio, and the start completes once
 * the init reports "started" in the control folder, at once with @no_guest
 * (libvirt's test driver runs nothing that would report). */
void     csb_domain_run_attach         (CsbDomainRun        *run,
                                        gboolean             no_guest);
/* The domain ended (or was found gone): once attached, the cleanup runs in a
 * worker thread, then "exited" (after a pending start completes). */
void     csb_domain_run_ended          (CsbDomainRun        *run);

/* In the cleanup: the domain destroyed if it still runs, the console bridge
 * stopped (the caller's pipes see EOF), events, domain and connection freed.
 * Blocking. */
void     csb_domain_run_close          (CsbDomainRun        *run);
/* In the cleanup: @end from what the init left in the control folder ("started",
 * "status"); @setup_failed and @no_status are the errors for a status that is
 * no number and for none at all. Blocking. */
void     csb_domain_run_read_end       (CsbDomainRun        *run,
                                        CsbDomainEnd        *end,
                                        gboolean             no_guest,
                                        const char          *setup_failed,
                                        const char          *no_status);

/* adopt(): takes over the domain of a sandbox a previous service started, from
 * the sandbox's record (@spec, @protections) and the control folder. The ops'
 * adopt_thread finds it in a worker thread; then, in the main thread, the run
 * holds it, the ops' adopted hook runs, the console is bridged to the fresh
 * terminal in @spec's stdio (if it has one) and the end is watched as after a
 * start. A domain gone meanwhile ends at once, with the status its init left in
 * the control folder; one that cannot be taken over ends with why. */
void     csb_domain_run_adopt          (CsbDomainRun        *run,
                                        CsbSandboxSpec      *spec,
                                        const char * const  *protections);
/* In the adopt thread: the domain @name on @conn (taken; @uri for messages), but
 * only if it carries our metadata (namespace @ns) with the sandbox's id — one
 * without it is never touched —, its lifecycle events watched and, if it runs
 * and the sandbox has a terminal, its console @console_alias opened again. NULL
 * with @error. Blocking. */
CsbDomainFound *csb_domain_run_find    (CsbDomainRun        *run,
                                        virConnectPtr        conn,
                                        const char          *uri,
                                        const char          *name,
                                        const char          *ns,
                                        const char          *console_alias,
                                        GError             **error);

/* Stop(): the shutdown, a destroy after @timeout_s seconds (once a take-over is
 * done, if one runs). */
void     csb_domain_run_stop           (CsbDomainRun        *run,
                                        guint                timeout_s);
/* The shutdown (or destroy) in a worker thread. */
void     csb_domain_run_shutdown       (CsbDomainRun        *run,
                                        gboolean             destroy);
GStrv    csb_domain_run_dup_protections (CsbDomainRun       *run);

G_END_DECLS
