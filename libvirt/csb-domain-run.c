/* csb-domain-run.c — a sandbox's libvirt domain from its start to its end, the same
 * for the vm and container backends (csb-domain-run.h).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "csb-module-api.h"
#include "csb-console-bridge.h"
#include "csb-console-log.h"
#include "csb-domain-run.h"
#include "csb-libvirt.h"

void
csb_domain_run_init (CsbDomainRun          *run,
                     CsbBackend            *backend,
                     const CsbDomainRunOps *ops)
{
  g_return_if_fail (run != NULL && CSB_IS_BACKEND (backend) && ops != NULL);

  memset (run, 0, sizeof *run);
  run->backend = backend;
  run->ops = ops;
  run->event_id = -1;
  run->cancellable = g_cancellable_new ();
  for (guint i = 0; i < G_N_ELEMENTS (run->adopt_fds); i++)
    run->adopt_fds[i] = -1;
}

static void
close_adopt_fds (CsbDomainRun *run)
{
  for (guint i = 0; i < G_N_ELEMENTS (run->adopt_fds); i++)
    if (run->adopt_fds[i] >= 0)
      {
        close (run->adopt_fds[i]);
        run->adopt_fds[i] = -1;
      }
}

void
csb_domain_run_dispose (CsbDomainRun *run)
{
  g_cancellable_cancel (run->cancellable);
  g_clear_handle_id (&run->destroy_timeout_id, g_source_remove);
  g_clear_handle_id (&run->check_id, g_source_remove);
  g_clear_object (&run->ctl_monitor);
}

void
csb_domain_run_finalize (CsbDomainRun *run)
{
  g_clear_pointer (&run->bridge, csb_console_bridge_stop);
  g_clear_pointer (&run->ctl_dir, g_free);
  g_clear_pointer (&run->protections, g_strfreev);
  g_clear_object (&run->cancellable);
  close_adopt_fds (run);
}

void
csb_libvirt_discard (virConnectPtr conn,
                     virDomainPtr  domain,
                     virStreamPtr  console,
                     gboolean      destroy)
{
  if (console != NULL)
    {
      virStreamAbort (console);
      virStreamFree (console);
    }
  if (domain != NULL)
    {
      if (destroy)
        virDomainDestroy (domain);
      virDomainFree (domain);
    }
  if (conn != NULL)
    virConnectClose (conn);
}

static gboolean
on_check (gpointer user_data)
{
  CsbDomainRun *run = user_data;

  if (!run->ops->gone (run))
    return G_SOURCE_CONTINUE;
  g_message ("sandbox %s: %s ended without libvirt saying so; its end is taken as said",
             run->spec->id, run->ops->what);
  run->check_id = 0;
  csb_domain_run_ended (run);
  return G_SOURCE_REMOVE;
}

/* The backend's check of the domain's process, from now until its end. */
static void
start_checks (CsbDomainRun *run)
{
  if (run->ops->gone != NULL && run->check_id == 0)
    run->check_id = g_timeout_add_seconds (CSB_DOMAIN_RUN_CHECK_S, on_check, run);
}

static void
on_lifecycle_event (virConnectPtr conn,
                    virDomainPtr  dom,
                    int           event,
                    int           detail,
                    void         *opaque)
{
  CsbDomainRun *run = opaque;

  g_debug ("sandbox %s: lifecycle event %d/%d", run->spec->id, event, detail);
  /* A fault the tests inject: libvirtd losing the end (see CsbDomainRunOps.gone). */
  if (g_getenv ("CSB_TEST_DROP_DOMAIN_END") != NULL)
    return;
  if (event == VIR_DOMAIN_EVENT_STOPPED || event == VIR_DOMAIN_EVENT_CRASHED)
    csb_domain_run_ended (run);
}

/* The events' reference on the backend, which holds the run. */
static void
unref_backend (void *opaque)
{
  CsbDomainRun *run = opaque;

  g_object_unref (run->backend);
}

void
csb_domain_run_watch_events (CsbDomainRun *run,
                             virConnectPtr conn,
                             virDomainPtr  domain)
{
  g_object_ref (run->backend);
  run->event_id = virConnectDomainEventRegisterAny (conn, domain, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                    VIR_DOMAIN_EVENT_CALLBACK (on_lifecycle_event),
                                                    run, unref_backend);
  if (run->event_id < 0)
    g_object_unref (run->backend);
}

void
csb_domain_run_unwatch_events (CsbDomainRun *run,
                               virConnectPtr conn)
{
  if (conn != NULL && run->event_id >= 0)
    virConnectDomainEventDeregisterAny (conn, run->event_id);
  run->event_id = -1;
}

/* ---- Launch ------------------------------------------------------------------------- */

void
csb_domain_run_start (CsbDomainRun        *run,
                      CsbSandboxSpec      *spec,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (run->start_task == NULL);

  run->spec = spec;
  run->start_task = g_task_new (run->backend, cancellable, callback, user_data);
  g_task_set_source_tag (run->start_task, run->ops->source_tag);

  task = g_task_new (run->backend, run->cancellable, run->ops->start_done, NULL);
  g_task_set_task_data (task, spec, NULL);
  g_task_run_in_thread (task, run->ops->start_thread);
}

gpointer
csb_domain_run_start_result (CsbDomainRun *run,
                             GAsyncResult *res)
{
  g_autoptr(GError) error = NULL;
  gpointer result = g_task_propagate_pointer (G_TASK (res), &error);

  if (result == NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&run->start_task);
      g_task_return_error (task, g_steal_pointer (&error));
    }
  return result;
}

static void
complete_start (CsbDomainRun *run)
{
  if (run->start_task != NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&run->start_task);
      g_task_return_boolean (task, TRUE);
    }
  g_clear_object (&run->ctl_monitor);
}

static void
on_ctl_changed (GFileMonitor     *monitor,
                GFile            *file,
                GFile            *other,
                GFileMonitorEvent event,
                gpointer          user_data)
{
  CsbDomainRun *run = user_data;
  g_autofree char *name = g_file_get_basename (file);

  if (g_str_equal (name, "started") &&
      (event == G_FILE_MONITOR_EVENT_CREATED || event == G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT))
    complete_start (run);
}

/* The run's console to @stdio_fds; with @replay (a take-over), a counted console
 * first passes on what its log holds past the count. */
static CsbConsoleBridge *
bridge_console (CsbDomainRun *run,
                const int     stdio_fds[3],
                gboolean      stdio_is_pty,
                gboolean      replay)
{
  g_autofree char *log = NULL;

  if (!run->count_console)
    return csb_console_bridge_start (run->console, stdio_fds, stdio_is_pty);
  log = g_build_filename (run->spec->state_dir, CSB_CONSOLE_LOG_FILE, NULL);
  return csb_console_bridge_start_counted (run->console, stdio_fds, stdio_is_pty,
                                           run->spec->runtime_dir, log, replay);
}

void
csb_domain_run_attach (CsbDomainRun *run,
                       gboolean      no_guest)
{
  g_autofree char *started = NULL;
  g_autoptr(GFile) dir = NULL;

  g_return_if_fail (run->ctl_dir != NULL);

  run->attached = TRUE;
  start_checks (run);
  if (run->console != NULL && run->console_to_stderr)
    {
      const int fds[3] = { -1, run->spec->stdio_fds[2], -1 };

      run->bridge = bridge_console (run, fds, FALSE, FALSE);
    }
  else if (run->console != NULL)
    run->bridge = bridge_console (run, run->spec->stdio_fds, run->spec->stdio_is_pty, FALSE);
  if (run->end_pending)
    {
      csb_domain_run_ended (run);
      return;
    }
  /* Launch returns once the command runs: the init says so in the control folder. */
  started = g_build_filename (run->ctl_dir, "started", NULL);
  if (no_guest || g_file_test (started, G_FILE_TEST_EXISTS))
    {
      complete_start (run);
      return;
    }
  dir = g_file_new_for_path (run->ctl_dir);
  run->ctl_monitor = g_file_monitor_directory (dir, G_FILE_MONITOR_NONE, NULL, NULL);
  if (run->ctl_monitor != NULL)
    g_signal_connect (run->ctl_monitor, "changed", G_CALLBACK (on_ctl_changed), run);
  if (run->ctl_monitor == NULL || g_file_test (started, G_FILE_TEST_EXISTS))
    complete_start (run);
}

/* ---- taking over a domain of a previous service ---------------------------------- */

void
csb_domain_found_free (CsbDomainFound *found)
{
  csb_libvirt_discard (found->conn, found->domain, found->console, FALSE);
  if (found->extra != NULL && found->extra_free != NULL)
    found->extra_free (found->extra);
  g_free (found);
}

CsbDomainFound *
csb_domain_run_find (CsbDomainRun *run,
                     virConnectPtr conn,
                     const char   *uri,
                     const char   *name,
                     const char   *ns,
                     const char   *console_alias,
                     GError      **error)
{
  CsbDomainFound *found = g_new0 (CsbDomainFound, 1);
  g_autofree char *metadata = NULL;
  g_autofree char *id_element = g_strdup_printf ("id>%s</", run->spec->id);

  found->conn = conn;
  found->domain = virDomainLookupByName (conn, name);
  if (found->domain == NULL)
    {
      virErrorPtr err = virGetLastError ();

      if (err == NULL || err->code != VIR_ERR_NO_DOMAIN)
        {
          g_autofree char *what = g_strdup_printf ("cannot look up %s %s at %s",
                                                   run->ops->what, name, uri);
          csb_libvirt_set_error (error, CSB_ERROR_FAILED, what);
          csb_domain_found_free (found);
          return NULL;
        }
      /* Transient: it ended while no service ran; the control folder holds how. */
      g_message ("sandbox %s: %s %s on %s ended while no service ran", run->spec->id,
                 run->ops->what, name, uri);
      return found;
    }
  metadata = virDomainGetMetadata (found->domain, VIR_DOMAIN_METADATA_ELEMENT, ns, 0);
  if (metadata == NULL || strstr (metadata, id_element) == NULL)
    {
      g_set_error (error, CSB_ERROR, CSB_ERROR_FAILED,
                   "the domain %s at %s does not carry this sandbox's claude-sandbox metadata; "
                   "it was left alone (remove it with virsh if it is not yours)", name, uri);
      csb_domain_found_free (found);
      return NULL;
    }
  csb_domain_run_watch_events (run, conn, found->domain);
  /* Asked after the events are on: an end in between is not missed. */
  found->running = virDomainIsActive (found->domain) == 1;
  if (found->running && run->adopt_fds[0] >= 0)
    {
      g_autoptr(GError) console_error = NULL;

      found->console = csb_libvirt_open_console (conn, found->domain, console_alias,
                                                 run->ops->console_flags, &console_error);
      if (found->console == NULL)
        g_warning ("sandbox %s: its terminal stays silent: %s", run->spec->id,
                   console_error->message);
    }
  g_message ("sandbox %s: %s %s on %s found again (%s)", run->spec->id, run->ops->what, name,
             uri, found->running ? "running" : "ending");
  return found;
}

static void
on_adopted (GObject      *source,
            GAsyncResult *res,
            gpointer      user_data)
{
  CsbDomainRun *run = user_data;
  g_autoptr(GError) error = NULL;
  CsbDomainFound *found = g_task_propagate_pointer (G_TASK (res), &error);

  run->adopting = FALSE;
  if (found == NULL)
    {
      g_autofree char *message = g_strdup_printf ("%s could not be taken over after a "
                                                  "restart of the service: %s",
                                                  run->ops->what, error->message);
      close_adopt_fds (run);
      run->ended = TRUE;
      csb_backend_emit_exited (run->backend, 255, message);
      return;
    }
  run->conn = g_steal_pointer (&found->conn);
  run->domain = g_steal_pointer (&found->domain);
  run->console = g_steal_pointer (&found->console);
  if (!found->running)
    run->end_pending = TRUE;
  run->attached = TRUE;
  if (run->ops->adopted != NULL)
    run->ops->adopted (run, found);
  csb_domain_found_free (found);

  /* What it printed while no service ran first (if kept), then what it prints now. */
  if (run->console != NULL)
    run->bridge = bridge_console (run, run->adopt_fds, TRUE, TRUE);
  close_adopt_fds (run);

  if (run->end_pending)
    csb_domain_run_ended (run);
  else if (run->stop_pending)
    csb_domain_run_stop (run, run->stop_timeout);
  if (!run->ended)
    start_checks (run);
}

void
csb_domain_run_adopt (CsbDomainRun       *run,
                      CsbSandboxSpec     *spec,
                      const char * const *protections)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (run->ops->adopt_thread != NULL && run->spec == NULL);

  run->spec = spec;
  run->protections = g_strdupv ((char **) protections);
  run->ctl_dir = g_build_filename (spec->runtime_dir, "ctl", NULL);
  run->adopting = TRUE;
  if (spec->stdio_is_pty && spec->stdio_fds[0] >= 0 && spec->stdio_fds[1] >= 0)
    {
      run->adopt_fds[0] = fcntl (spec->stdio_fds[0], F_DUPFD_CLOEXEC, 3);
      run->adopt_fds[1] = fcntl (spec->stdio_fds[1], F_DUPFD_CLOEXEC, 3);
    }
  task = g_task_new (run->backend, run->cancellable, on_adopted, run);
  g_task_set_source_tag (task, csb_domain_run_adopt);
  g_task_run_in_thread (task, run->ops->adopt_thread);
}

/* ---- the end ------------------------------------------------------------------------ */

typedef struct
{
  CsbDomainEnd  end;
  CsbBackend   *backend;  /* while "exited" waits in an idle */
} EndResult;

static void
end_result_free (EndResult *result)
{
  g_free (result->end.error);
  g_clear_object (&result->backend);
  g_free (result);
}

static gboolean
emit_exited_idle (gpointer user_data)
{
  EndResult *result = user_data;

  csb_backend_emit_exited (result->backend, result->end.status, result->end.error);
  return G_SOURCE_REMOVE;
}

static void
cleanup_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  CsbDomainRun *run = task_data;
  EndResult *result = g_new0 (EndResult, 1);

  run->ops->cleanup (run, &result->end);
  g_task_return_pointer (task, result, (GDestroyNotify) end_result_free);
}

static void
cleanup_done (GObject      *source,
              GAsyncResult *res,
              gpointer      user_data)
{
  CsbDomainRun *run = g_task_get_task_data (G_TASK (res));
  EndResult *result = g_task_propagate_pointer (G_TASK (res), NULL);

  if (run->start_task != NULL && (result->end.error != NULL || !result->end.ran))
    {
      g_autoptr(GTask) task = g_steal_pointer (&run->start_task);

      if (result->end.error != NULL)
        g_task_return_new_error (task, CSB_ERROR, CSB_ERROR_FAILED, "%s", result->end.error);
      else
        g_task_return_new_error (task, CSB_ERROR, CSB_ERROR_FAILED,
                                 "%s ended before its command started", run->ops->what);
      end_result_free (result);
      return;
    }
  if (run->start_task != NULL)
    {
      /* The command ran and ended before we saw it start: the sandbox learns
       * that it started first, then that it ended. */
      complete_start (run);
      result->backend = g_object_ref (run->backend);
      g_idle_add_full (G_PRIORITY_LOW, emit_exited_idle, result,
                       (GDestroyNotify) end_result_free);
      return;
    }
  csb_backend_emit_exited (run->backend, result->end.status, result->end.error);
  end_result_free (result);
}

void
csb_domain_run_ended (CsbDomainRun *run)
{
  g_autoptr(GTask) task = NULL;

  if (run->ended)
    return;
  if (!run->attached)
    {
      run->end_pending = TRUE;
      return;
    }
  run->ended = TRUE;
  g_clear_handle_id (&run->destroy_timeout_id, g_source_remove);
  g_clear_handle_id (&run->check_id, g_source_remove);
  g_clear_object (&run->ctl_monitor);
  task = g_task_new (run->backend, NULL, cleanup_done, NULL);
  g_task_set_task_data (task, run, NULL);
  g_task_run_in_thread (task, cleanup_thread);
}

/* libvirt frees a domain's console devices when it forgets the (transient) domain,
 * and aborting a console stream at that very moment deadlocks libvirtd: virChrdevFree
 * and virStreamAbort take the same two locks in opposite order (seen here, libvirt
 * 9.0). So a console is let go only once libvirt has forgotten the domain — which
 * follows its end within milliseconds — waiting at most 2 s. */
static void
wait_until_forgotten (virDomainPtr domain)
{
  for (guint i = 0; i < 200; i++)
    {
      virErrorPtr err;

      if (virDomainIsActive (domain) < 0 && (err = virGetLastError ()) != NULL &&
          err->code == VIR_ERR_NO_DOMAIN)
        {
          /* Forgotten; its last reference (and the consoles) go right after. */
          g_usleep (20000);
          return;
        }
      g_usleep (10000);
    }
}

void
csb_domain_run_close (CsbDomainRun *run)
{
  if (run->domain != NULL)
    {
      /* Usually gone already; a domain that did not end by itself is ended here. */
      virDomainDestroy (run->domain);
      if (run->bridge != NULL || run->console != NULL)
        wait_until_forgotten (run->domain);
    }
  g_debug ("sandbox %s: joining the console threads", run->spec->id);
  /* Our copies of the sandbox's stdio: the caller's pipes see EOF now. The
   * bridge aborts the stream itself. */
  if (run->bridge != NULL)
    g_clear_pointer (&run->bridge, csb_console_bridge_stop);
  else if (run->console != NULL)
    virStreamAbort (run->console);
  g_debug ("sandbox %s: console closed", run->spec->id);
  g_clear_pointer (&run->console, virStreamFree);
  csb_domain_run_unwatch_events (run, run->conn);
  g_clear_pointer (&run->domain, virDomainFree);
  if (run->conn != NULL && run->ops->close_cb != NULL)
    virConnectUnregisterCloseCallback (run->conn, run->ops->close_cb);
  if (run->conn != NULL)
    virConnectClose (g_steal_pointer (&run->conn));
}

void
csb_domain_run_read_end (CsbDomainRun *run,
                         CsbDomainEnd *end,
                         gboolean      no_guest,
                         const char   *setup_failed,
                         const char   *no_status)
{
  g_autofree char *status_text = NULL;

  if (run->ctl_dir != NULL)
    {
      g_autofree char *status_path = g_build_filename (run->ctl_dir, "status", NULL);
      g_autofree char *started = g_build_filename (run->ctl_dir, "started", NULL);

      g_file_get_contents (status_path, &status_text, NULL, NULL);
      end->ran = no_guest || g_file_test (started, G_FILE_TEST_EXISTS);
    }
  if (status_text != NULL && g_ascii_isdigit (status_text[0]))
    end->status = atoi (status_text);
  else if (status_text != NULL)
    {
      end->status = 255;
      end->error = g_strdup (setup_failed);
    }
  else if (run->destroyed || run->stopping)
    end->status = 128 + SIGKILL;
  else if (no_guest)
    end->status = 0;
  else
    {
      end->status = 255;
      end->error = g_strdup (no_status);
    }
}

/* ---- stopping ------------------------------------------------------------------- */

static void
shutdown_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  CsbDomainRun *run = task_data;

  if (run->domain != NULL &&
      virDomainShutdownFlags (run->domain, run->ops->shutdown_flags) != 0)
    virDomainShutdown (run->domain);
  g_task_return_boolean (task, TRUE);
}

static void
destroy_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  CsbDomainRun *run = task_data;

  if (run->domain != NULL)
    {
      run->destroyed = TRUE;
      virDomainDestroy (run->domain);
    }
  g_task_return_boolean (task, TRUE);
}

void
csb_domain_run_shutdown (CsbDomainRun *run,
                         gboolean      destroy)
{
  g_autoptr(GTask) task = g_task_new (run->backend, NULL, NULL, NULL);

  g_task_set_task_data (task, run, NULL);
  g_task_run_in_thread (task, destroy ? destroy_thread : shutdown_thread);
}

static gboolean
on_destroy_timeout (gpointer user_data)
{
  CsbDomainRun *run = user_data;

  run->destroy_timeout_id = 0;
  csb_domain_run_shutdown (run, TRUE);
  return G_SOURCE_REMOVE;
}

void
csb_domain_run_stop (CsbDomainRun *run,
                     guint         timeout_s)
{
  if (run->adopting)
    {
      run->stop_pending = TRUE;
      run->stop_timeout = timeout_s;
      return;
    }
  if (run->domain == NULL || run->stopping || run->ended)
    return;
  run->stopping = TRUE;
  csb_domain_run_shutdown (run, FALSE);
  run->destroy_timeout_id = g_timeout_add_seconds (timeout_s, on_destroy_timeout, run);
}

GStrv
csb_domain_run_dup_protections (CsbDomainRun *run)
{
  return run->protections ? g_strdupv (run->protections) : g_new0 (char *, 1);
}
