/* csb-sec-utils.h — what the security tests add to csb-test-utils: a project
 * folder holding a copy of the probe program, runs that report their exit status
 * instead of asserting it, the probe's "NAME=RESULT" lines as a table, and the
 * session a desktop would give the service (activation environment, bus names).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "csb-test-utils.h"

G_BEGIN_DECLS

typedef struct
{
  CsbTestBus  bus;
  char       *project;   /* a git repository, with the probe in it */
  char       *probe;     /* the probe's path, the same inside and outside */
  const char *backend;   /* the backend csb_sec_run() asks for; NULL: the default */
} CsbSecFixture;

/* Sets up the private bus (not yet activating the service) and the project. */
void         csb_sec_fixture_setup      (CsbSecFixture           *fixture,
                                         const CsbTestBusOptions *options);
/* The same for the probes of @backend (a static string; NULL: the default), with
 * the settings it needs (the vm's: CSB_SEC_VM_SETTINGS). */
void         csb_sec_fixture_setup_backend (CsbSecFixture        *fixture,
                                            const char           *backend);
void         csb_sec_fixture_teardown   (CsbSecFixture           *fixture);

/* The probe as built, in the build tree. */
char        *csb_sec_built_probe        (void);

/* Runs @argv in a sandbox with pipes and waits for it; returns its stdout, its
 * exit status in @out_status and its stderr in @out_err (both optional). @options
 * NULL: those of the fixture's backend. */
char        *csb_sec_run                (CsbSecFixture      *fixture,
                                         const char * const *argv,
                                         GVariant           *options,
                                         int                *out_status,
                                         char              **out_err);
/* Runs a /bin/sh script in a sandbox. */
char        *csb_sec_run_sh             (CsbSecFixture      *fixture,
                                         const char         *script,
                                         GVariant           *options,
                                         int                *out_status);
/* Runs the probe with @args (NULL-terminated) in a sandbox; asserts it exited 0. */
GHashTable  *csb_sec_probe_inside       (CsbSecFixture      *fixture,
                                         GVariant           *options,
                                         const char         *first_arg,
                                         ...) G_GNUC_NULL_TERMINATED;
/* The same probe, run here, outside any sandbox. */
GHashTable  *csb_sec_probe_outside      (const char         *first_arg,
                                         ...) G_GNUC_NULL_TERMINATED;

/* "NAME=VALUE" lines → table (later lines win; lines without '=' ignored). */
GHashTable  *csb_sec_parse              (const char         *output);
/* Lines starting with @prefix, the prefix taken off, as a NULL-terminated array. */
GStrv        csb_sec_lines_with_prefix  (const char         *output,
                                         const char         *prefix);

/* a{sv} options from "key", GVariant*, …, NULL (values' floating refs taken). */
GVariant    *csb_sec_options            (const char         *first_key,
                                         ...) G_GNUC_NULL_TERMINATED;

/* org.freedesktop.DBus.UpdateActivationEnvironment on the private bus, as
 * dbus-update-activation-environment does in a desktop session. */
void         csb_sec_update_activation_environment (CsbTestBus *bus,
                                                    const char *first_name,
                                                    ...) G_GNUC_NULL_TERMINATED;

/* Owns @name on a connection of its own to the private bus and serves an object
 * at /org/freedesktop/Test with a method Ping() → (s marker). Returns the
 * connection; closing it releases the name. */
GDBusConnection *csb_sec_own_name       (CsbTestBus         *bus,
                                         const char         *name,
                                         const char         *marker);

/* Settings for the vm backend's probes: TCG (KVM is broken on the CI machines), small. */
#define CSB_SEC_VM_SETTINGS \
  "[org/example/ClaudeSandbox]\n" \
  "vm-accel='tcg'\n" \
  "vm-memory-mib=512\n" \
  "vm-cpus=1\n"

/* How long a probe's sandbox of @backend (NULL: the default) may take to end: a VM
 * boots under TCG on a loaded machine. */
guint        csb_sec_timeout_ms         (const char         *backend);
/* Whether sandboxes of @backend can run here, from the service's GetBackends
 * (activating it); when not, the test is skipped with the service's reason. The VM
 * probes also skip with CSB_TEST_NO_VM_BOOT and as root (qemu:///session is then the
 * system daemon's: the boots are the unprivileged user's, as in tests/vm). */
gboolean     csb_sec_require_backend    (CsbSecFixture      *fixture,
                                         const char         *backend);
/* Launch options asking for the fixture's backend (floating), or NULL for the
 * default. */
GVariant    *csb_sec_backend_options    (CsbSecFixture      *fixture);

/* The file's contents, or NULL. */
char        *csb_sec_read_file          (const char         *path);

G_END_DECLS
