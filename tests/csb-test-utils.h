/* csb-test-utils.h — what the unit, bus and sandbox tests share: throwaway
 * folders standing in for $HOME and the XDG dirs, a private bus that activates
 * the in-tree service, and sandboxes run with pipes or a terminal.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "csb-dbus.h"
#include "csb-error.h"
#include "csb-names.h"

G_BEGIN_DECLS

/* Generous: a loaded CI machine runs several sandbox tests at once. */
#define CSB_TEST_TIMEOUT_MS 30000

/* A temporary root with home/, state/, runtime/ (0700), config/, cache/, data/
 * and projects/ in it, all canonical paths. */
typedef struct
{
  char *root;
  char *home;
  char *state;
  char *runtime;
  char *config;
  char *cache;
  char *data;
  char *projects;
} CsbTestDirs;

void         csb_test_dirs_init       (CsbTestDirs *dirs);
void         csb_test_dirs_clear      (CsbTestDirs *dirs);
/* Points HOME and the XDG variables of this process (and so of anything it
 * spawns from now on) at @dirs. */
void         csb_test_dirs_apply      (CsbTestDirs *dirs);
char        *csb_test_make_project    (CsbTestDirs *dirs,
                                       const char  *name);

void         csb_test_rm_rf           (const char  *path);
void         csb_test_write_file      (const char  *path,
                                       const char  *contents,
                                       int          mode);
/* TRUE if some file under @dir holds @needle; its path in @out_path. */
gboolean     csb_test_tree_contains   (const char  *dir,
                                       const char  *needle,
                                       char       **out_path);
/* Entries of @dir, sorted, as one space-separated string ('' if none or missing). */
char        *csb_test_list_dir        (const char  *dir);
/* The same for a folder of sandboxes' runtime folders (XDG_RUNTIME_DIR/claude-sandbox),
 * without the spare monitor's: the one holding only the D-Bus proxy it started ahead
 * ("dbus-ahead", service/csb-monitor-spare.h), which is no sandbox's yet. */
char        *csb_test_list_sandbox_dirs (const char *dir);
/* The tree under @root as text (path, mode, sha256 or link target of each entry, in
 * order, links never followed): equal texts, equal trees. */
char        *csb_test_tree_text       (const char  *root);

/* The real Claude Code executable of this machine, or NULL: PATH,
 * $CSB_TEST_CLAUDE, ~/.npm-global/bin, ~/.local/bin (the real home, as it was
 * when the test started). */
const char  *csb_test_find_claude     (void);
/* csb_test_find_claude(), else the test fails saying how to install it (not a skip:
 * the suites are meant to run the real thing; build-aux/test.sh installs it). */
gboolean     csb_test_require_claude  (void);
/* @path with Claude Code hidden and nothing else: each folder of it holding a
 * `claude` is replaced by a folder made under @farm_root with links to all its
 * other entries (dropping the folder would drop /usr/bin where Claude Code was
 * installed there). What the bus set-up gives the service. */
char        *csb_test_path_without_claude (const char *path,
                                           const char *farm_root);
/* Call first thing in main(), before anything reads $HOME. */
void         csb_test_init_environment (void);

/* Iterates the default main context until @done returns TRUE or @timeout_ms
 * passed; returns what @done last said. */
gboolean     csb_test_run_until       (gboolean   (*done) (gpointer data),
                                       gpointer     data,
                                       guint        timeout_ms);
void         csb_test_sleep_ms        (guint        ms);

/* ---- the private bus ------------------------------------------------------------ */

typedef struct
{
  CsbTestDirs         dirs;
  GTestDBus          *bus;
  GDBusConnection    *connection;
  CsbDBusManager     *manager;
  GDBusObjectManager *object_manager;
  char               *service_log;   /* the service's stderr (and the bus's) */
  guint               service_pid;
  GPtrArray          *saved_env;     /* name, value (NULL: unset) before the set-up changed
                                      * it: csb_test_bus_teardown puts them back */
} CsbTestBus;

/* Extra environment of the service, "NAME=VALUE" (a NULL VALUE unsets). */
typedef struct
{
  const char * const *env;        /* NAME=VALUE pairs, or NAME alone to unset */
  gboolean            claude_on_path;  /* put the real claude's folder on the service's PATH */
  const char         *settings_keyfile; /* contents of the GSettings keyfile, or NULL: memory */
} CsbTestBusOptions;

void         csb_test_bus_setup       (CsbTestBus              *self,
                                       const CsbTestBusOptions *options);
void         csb_test_bus_teardown    (CsbTestBus              *self);
void         csb_test_bus_stop_sandboxes (CsbTestBus           *self);
/* Starts the service if not yet (a first call activates it). */
void         csb_test_bus_activate    (CsbTestBus              *self);
CsbDBusSandbox *csb_test_bus_get_sandbox (CsbTestBus *self,
                                          const char *object_path);
/* The service's GetManagedObjects answer: a{oa{sa{sv}}}. */
GVariant    *csb_test_bus_managed_objects (CsbTestBus          *self);
/* After csb_test_bus_crash_service(): the sandbox at @object_path as the new
 * service lists it; the call activates that service, as any client would. */
CsbDBusSandbox *csb_test_bus_sandbox_after_restart (CsbTestBus *self,
                                                    const char *object_path);
/* For csb_test_run_until(): whether the sandbox proxy @data says exited or failed. */
gboolean     csb_test_sandbox_ended   (gpointer                 data);
/* The pid of @name's owner on the bus, or 0 (@error set) when the bus cannot say. */
guint        csb_test_bus_name_pid    (CsbTestBus              *self,
                                       const char              *name,
                                       GError                 **error);
/* The pid of the service that owns its bus name now. */
guint        csb_test_bus_service_pid (CsbTestBus              *self);
/* Kills the service as a crash would (SIGKILL), and waits until it is gone; the
 * next call activates a new one. */
void         csb_test_bus_crash_service (CsbTestBus            *self);

/* ---- one sandbox run -------------------------------------------------------------- */

typedef struct
{
  CsbTestBus     *bus;
  char           *object_path;
  CsbDBusSandbox *sandbox;
  GString        *out;
  GString        *err;
  int             stdin_fd;     /* our end of its stdin pipe, or -1 */
  int             out_fd;
  int             err_fd;
  guint           out_watch;
  guint           err_watch;
  gboolean        exited;
  int             exit_signal_status;
  gulong          exited_id;
} CsbTestRun;

/* Launch with stdio pipes (stdin a pipe we hold when @keep_stdin, else none).
 * @options: extra a{sv} entries (floating reference taken), or NULL. */
CsbTestRun  *csb_test_launch          (CsbTestBus          *bus,
                                       const char          *project_dir,
                                       const char * const  *command,
                                       GVariant            *options,
                                       gboolean             keep_stdin,
                                       GError             **error);
/* Launch with a terminal (no stdio option). */
CsbTestRun  *csb_test_launch_pty      (CsbTestBus          *bus,
                                       const char          *project_dir,
                                       const char * const  *command,
                                       GVariant            *options,
                                       GError             **error);
/* Waits for Exited and EOF on both pipes; FALSE on timeout. */
gboolean     csb_test_run_wait        (CsbTestRun          *run,
                                       guint                timeout_ms);
/* Waits until stdout holds @needle. */
gboolean     csb_test_run_wait_output (CsbTestRun          *run,
                                       const char          *needle,
                                       guint                timeout_ms);
void         csb_test_run_free        (CsbTestRun          *run);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbTestRun, csb_test_run_free)

/* Launch @command with pipes, wait for the end, check it exited with @status;
 * returns stdout. */
char        *csb_test_run_command     (CsbTestBus          *bus,
                                       const char          *project_dir,
                                       const char * const  *command,
                                       GVariant            *options,
                                       int                  expected_status);
/* The same, waiting up to @timeout_ms (a container's or a VM's start takes longer). */
char        *csb_test_run_command_full (CsbTestBus         *bus,
                                        const char         *project_dir,
                                        const char * const *command,
                                        GVariant           *options,
                                        int                 expected_status,
                                        guint               timeout_ms);

/* ---- terminal clients -------------------------------------------------------------- */

typedef struct
{
  int      fd;
  GString *received;
  guint    watch;
  gboolean eof;
} CsbTestTerminal;

CsbTestTerminal *csb_test_terminal_open  (CsbDBusSandbox   *sandbox,
                                          GError          **error);
void             csb_test_terminal_send  (CsbTestTerminal  *term,
                                          const char       *text);
gboolean         csb_test_terminal_wait  (CsbTestTerminal  *term,
                                          const char       *needle,
                                          guint             timeout_ms);
gboolean         csb_test_terminal_wait_eof (CsbTestTerminal *term,
                                             guint            timeout_ms);
void             csb_test_terminal_free  (CsbTestTerminal  *term);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbTestTerminal, csb_test_terminal_free)

/* After csb_test_bus_crash_service() and the end of the sandbox at @object_path while
 * no service ran: the new service reports it exited with @status; returns a terminal
 * client that has read its history up to EOF. */
CsbTestTerminal *csb_test_bus_history_after_exit (CsbTestBus       *bus,
                                                  const char       *object_path,
                                                  int               status);

/* The remote error name of @error, or "(none)". */
const char  *csb_test_error_name      (const GError        *error);

/* ---- review mode ------------------------------------------------------------------- */

/* Each kind of change a sandbox can make to a project (the files of
 * csb_test_review_prepare): a folder deleted and made again (opaque) and a folder
 * renamed (a copy and a deletion) besides. */
#define CSB_TEST_REVIEW_SCRIPT \
  "set -e; " \
  "echo changed >> a.txt; " \
  "echo new > new.txt; " \
  "rm del.txt; " \
  "mv old.txt renamed.txt; " \
  "chmod 755 script.sh; " \
  "ln -s a.txt link; " \
  "mkdir -p n1/n2 && echo deep > n1/n2/f; " \
  "rm -r gone; " \
  "rm -r again && mkdir again && echo fresh > again/fresh; " \
  "mv dir moved; " \
  "ln -sfn b.txt retarget; " \
  "rm b.txt && mkdir b.txt && echo inside > b.txt/c; "

/* What a review test runs: the changes, then it waits for a line on stdin ("go"),
 * and changes a.txt once more (after an Apply of it while it ran). */
#define CSB_TEST_REVIEW_COMMAND \
  CSB_TEST_REVIEW_SCRIPT "echo CHANGES-DONE; read line; echo $line >> a.txt; echo after-$line"
/* The same, all at once on the host. */
#define CSB_TEST_REVIEW_DIRECT CSB_TEST_REVIEW_SCRIPT "echo go >> a.txt"

/* The same files in @project and @reference; CSB_TEST_REVIEW_DIRECT run on the host
 * in @reference; the trees (csb_test_tree_text) of @project and of @reference after. */
void         csb_test_review_prepare  (const char      *project,
                                       const char      *reference,
                                       char           **out_before,
                                       char           **out_expected);
/* GetChanges as "path kind: summary" lines. */
char        *csb_test_review_listing  (CsbDBusSandbox  *sandbox);
/* Every change of CSB_TEST_REVIEW_SCRIPT is in @listing. */
void         csb_test_review_assert_listed (const char *listing);
/* GetDiff of @path, read. */
char        *csb_test_review_diff     (CsbDBusSandbox  *sandbox,
                                       const char      *path);
/* @run: CSB_TEST_REVIEW_COMMAND launched in review mode on @project (stdin kept).
 * The real folder stays @before and every change is listed while it runs; a.txt and
 * new.txt applied while it runs land (and nothing else does); a.txt changed again by it after
 * that is listed after its end, the folder unchanged meanwhile; a diff; Apply makes the
 * folder @expected (no conflict over a.txt, which the service wrote itself); Remove
 * works. FALSE, nothing checked, when the script did not get through its changes within
 * @timeout_ms. */
gboolean     csb_test_review_check_run (CsbTestRun     *run,
                                        const char     *project,
                                        const char     *before,
                                        const char     *expected,
                                        guint           timeout_ms);

G_END_DECLS
