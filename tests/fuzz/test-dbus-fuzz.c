/* test-dbus-fuzz.c — hostile callers against the real service on a private bus while
 * two sandboxes run: random calls with random arguments (wrong signatures, unknown
 * methods, interfaces and objects), huge arrays, deep variants, odd object paths and
 * ids, fds of the wrong kind and out-of-range handles in stdio, and a project folder
 * whose symlink flips between a folder and /etc while Launch runs in a loop.
 *
 * Afterwards the service still answers GetBackends, the two sandboxes still run and
 * are listed, its RSS did not explode, and no sandbox it created is left behind.
 *
 * CSB_FUZZ_CALLS sets the number of random calls (default 3000); CSB_FUZZ_SEED the seed.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>

#include "csb-test-utils.h"


typedef struct
{
  CsbTestBus  bus;
  char       *project;
  CsbTestRun *runs[2];
  GRand      *rand;
  guint       in_flight;
  guint       replies;
  guint       errors;
  GHashTable *error_names;  /* name → count */
} Fixture;

static guint
service_rss_kib (guint pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%u/status", pid);
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents (path, &status, NULL, NULL) ||
      (line = strstr (status, "VmRSS:")) == NULL)
    return 0;
  return (guint) g_ascii_strtoull (line + 6, NULL, 10);
}

static gboolean
service_alive (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) backends = NULL;

  return csb_dbus_manager_call_get_backends_sync (f->bus.manager, &backends, NULL, &error);
}

/* ---- random values --------------------------------------------------------------- */

static char *
random_string (GRand *rand,
               guint  max_len)
{
  static const char alphabet[] = "abcXYZ/._-:0 \t*@$'\"\\";
  guint len = g_rand_int_range (rand, 0, max_len + 1);
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < len; i++)
    {
      if (g_rand_int_range (rand, 0, 20) == 0)
        g_string_append_unichar (s, g_rand_int_range (rand, 0x80, 0x2fff));
      else
        g_string_append_c (s, alphabet[g_rand_int_range (rand, 0, sizeof alphabet - 1)]);
    }
  return g_string_free (s, FALSE);
}

static GVariant *random_value (GRand *rand, guint depth);

static GVariant *
random_vardict (GRand *rand,
                guint  depth)
{
  static const char * const keys[] = {
    "backend", "network", "gh-token", "shell", "display", "audio", "gpu", "ssh-agent",
    "name", "env", "ro-binds", "rw-binds", "vm-memory-mib", "vm-cpus", "stdio",
    "network-allow", "network-deny", "bogus", "",
  };
  GVariantBuilder builder;
  guint n = g_rand_int_range (rand, 0, 4);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; i < n; i++)
    g_variant_builder_add (&builder, "{sv}", keys[g_rand_int_range (rand, 0, G_N_ELEMENTS (keys))],
                           random_value (rand, depth + 1));
  return g_variant_builder_end (&builder);
}

static GVariant *
random_value (GRand *rand,
              guint  depth)
{
  guint kind = g_rand_int_range (rand, 0, depth > 4 ? 9 : 14);

  switch (kind)
    {
    case 0: return g_variant_new_boolean (g_rand_boolean (rand));
    case 1: return g_variant_new_uint32 (g_rand_int (rand));
    case 2: return g_variant_new_int32 ((gint32) g_rand_int (rand));
    case 3: return g_variant_new_uint16 (g_rand_int (rand));
    case 4: return g_variant_new_double (g_rand_double (rand));
    case 5: return g_variant_new_take_string (random_string (rand, 40));
    case 6: return g_variant_new_object_path (g_rand_boolean (rand) ? "/" : CSB_MANAGER_PATH);
    case 7: return g_variant_new_handle (g_rand_int_range (rand, -2, 4));
    case 8: return g_variant_new_uint64 (g_rand_int (rand));
    case 9: return g_variant_new_variant (random_value (rand, depth + 1));
    case 10:
      {
        GVariantBuilder b;
        guint n = g_rand_int_range (rand, 0, 6);

        g_variant_builder_init (&b, G_VARIANT_TYPE ("as"));
        for (guint i = 0; i < n; i++)
          g_variant_builder_add (&b, "s", g_rand_boolean (rand) ? "/usr" : "rel/path");
        return g_variant_builder_end (&b);
      }
    case 11: return random_vardict (rand, depth);
    case 12:
      {
        GVariantBuilder b;
        guint n = g_rand_int_range (rand, 0, 3);

        g_variant_builder_init (&b, G_VARIANT_TYPE ("a{uh}"));
        for (guint i = 0; i < n; i++)
          g_variant_builder_add (&b, "{uh}", g_rand_int_range (rand, 0, 5),
                                 g_rand_int_range (rand, -1, 3));
        return g_variant_builder_end (&b);
      }
    default:
      {
        GVariant *items[3];
        guint n = g_rand_int_range (rand, 0, 4);

        for (guint i = 0; i < n; i++)
          items[i] = random_value (rand, depth + 1);
        return g_variant_new_tuple (items, n);
      }
    }
}

/* Arguments: sometimes the right shape with random content, mostly anything. */
static GVariant *
random_parameters (GRand      *rand,
                   const char *method)
{
  if (g_str_equal (method, "Launch") && g_rand_boolean (rand))
    {
      const char *command[] = { "true", NULL };
      g_autofree char *dir = random_string (rand, 30);

      return g_variant_new ("(s^as@a{sv})", dir, command, random_vardict (rand, 0));
    }
  if (g_rand_int_range (rand, 0, 5) == 0)
    return NULL;
  {
    GVariant *items[4];
    guint n = g_rand_int_range (rand, 0, 5);

    for (guint i = 0; i < n; i++)
      items[i] = random_value (rand, 0);
    return g_variant_new_tuple (items, n);
  }
}

/* ---- fixture --------------------------------------------------------------------- */

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  const char * const sleep_cmd[] = { "sleep", "600", NULL };
  const char *seed = g_getenv ("CSB_FUZZ_SEED");
  g_autoptr(GError) error = NULL;

  csb_test_bus_setup (&f->bus, NULL);
  f->project = csb_test_make_project (&f->bus.dirs, "fuzzed");
  f->rand = seed ? g_rand_new_with_seed (atoi (seed)) : g_rand_new ();
  f->error_names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (f->runs); i++)
    {
      f->runs[i] = csb_test_launch (&f->bus, f->project, sleep_cmd, NULL, FALSE, &error);
      g_assert_no_error (error);
    }
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  for (guint i = 0; i < G_N_ELEMENTS (f->runs); i++)
    {
      if (f->runs[i] != NULL && f->bus.manager != NULL && !f->runs[i]->exited)
        {
          csb_dbus_sandbox_call_stop_sync (f->runs[i]->sandbox, NULL, NULL);
          csb_test_run_wait (f->runs[i], CSB_TEST_TIMEOUT_MS);
        }
      g_clear_pointer (&f->runs[i], csb_test_run_free);
    }
  csb_test_bus_teardown (&f->bus);
  g_free (f->project);
  g_rand_free (f->rand);
  g_hash_table_unref (f->error_names);
}

static void
on_reply (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Fixture *f = user_data;
  g_autoptr(GError) error = NULL;
  GVariant *reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);

  g_clear_pointer (&reply, g_variant_unref);
  f->in_flight--;
  f->replies++;
  if (error != NULL)
    {
      g_autofree char *name = g_dbus_error_get_remote_error (error);
      guint n;

      /* A timeout would mean the service hung on a call: never acceptable. */
      g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));
      f->errors++;
      if (name == NULL)
        name = g_strdup_printf ("(local) %s", error->message);
      n = GPOINTER_TO_UINT (g_hash_table_lookup (f->error_names, name));
      g_hash_table_replace (f->error_names, g_steal_pointer (&name), GUINT_TO_POINTER (n + 1));
    }
}

static gboolean
all_replied (gpointer data)
{
  return ((Fixture *) data)->in_flight == 0;
}

static gboolean
few_in_flight (gpointer data)
{
  return ((Fixture *) data)->in_flight < 32;
}

static void
call_async (Fixture    *f,
            const char *path,
            const char *iface,
            const char *method,
            GVariant   *parameters)
{
  f->in_flight++;
  g_dbus_connection_call (f->bus.connection, CSB_BUS_NAME, path, iface, method, parameters, NULL,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, 25000, NULL, on_reply, f);
  if (!few_in_flight (f))
    g_assert_true (csb_test_run_until (few_in_flight, f, 60000));
}

static void
check_still_fine (Fixture *f,
                  guint    rss_before)
{
  guint rss = service_rss_kib (f->bus.service_pid);

  g_autoptr(GVariant) managed = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (service_alive (f));
  managed = g_dbus_connection_call_sync (f->bus.connection, CSB_BUS_NAME, CSB_MANAGER_PATH,
                                         "org.freedesktop.DBus.ObjectManager",
                                         "GetManagedObjects", NULL,
                                         G_VARIANT_TYPE ("(a{oa{sa{sv}}})"),
                                         G_DBUS_CALL_FLAGS_NONE, 25000, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (f->runs); i++)
    {
      g_autoptr(CsbDBusSandbox) sandbox = csb_test_bus_get_sandbox (&f->bus,
                                                                     f->runs[i]->object_path);
      g_autoptr(GVariant) objects = g_variant_get_child_value (managed, 0);
      g_autoptr(GVariant) listed = g_variant_lookup_value (objects, f->runs[i]->object_path,
                                                           NULL);

      g_assert_cmpstr (csb_dbus_sandbox_get_state (sandbox), ==, "running");
      g_assert_nonnull (listed);
      g_assert_cmpint (kill (csb_dbus_sandbox_get_pid (sandbox), 0), ==, 0);
    }
  g_test_message ("service RSS: %u KiB before, %u KiB now", rss_before, rss);
#ifdef __SANITIZE_ADDRESS__
  /* ASan's allocator holds freed memory (its quarantine) and never gives it back: the
   * bound says nothing of the service there. */
  g_test_message ("ASan build: the service's memory is not bounded");
#else
  /* Generous: GLib's allocator keeps what the huge messages needed. */
  g_assert_cmpuint (rss, <, rss_before + 64 * 1024);
#endif
}

/* ---- the cases ------------------------------------------------------------------- */

static void
test_random_calls (Fixture       *f,
                   gconstpointer  data)
{
  static const char * const methods[] = {
    "Launch", "GetBackends", "Stop", "Remove", "OpenTerminal", "ResizeTerminal",
    "Frobnicate", "Get", "GetAll", "Set", "Introspect", "GetManagedObjects", "Ping", "",
  };
  static const char * const ifaces[] = {
    CSB_MANAGER_INTERFACE, CSB_SANDBOX_INTERFACE, "org.freedesktop.DBus.Properties",
    "org.freedesktop.DBus.Introspectable", "org.freedesktop.DBus.ObjectManager",
    "org.freedesktop.DBus.Peer", "org.example.Nope", CSB_SANDBOX_INTERFACE ".Nope",
  };
  /* Half the calls name a method that exists, with (mostly) the wrong arguments. */
  static const struct { const char *iface, *method; } real_calls[] = {
    { CSB_MANAGER_INTERFACE, "Launch" }, { CSB_MANAGER_INTERFACE, "GetBackends" },
    { CSB_SANDBOX_INTERFACE, "Stop" }, { CSB_SANDBOX_INTERFACE, "Remove" },
    { CSB_SANDBOX_INTERFACE, "OpenTerminal" },
    { CSB_SANDBOX_INTERFACE, "ResizeTerminal" }, { "org.freedesktop.DBus.Properties", "Get" },
    { "org.freedesktop.DBus.Properties", "GetAll" }, { "org.freedesktop.DBus.Properties", "Set" },
    { "org.freedesktop.DBus.ObjectManager", "GetManagedObjects" },
    { "org.freedesktop.DBus.Introspectable", "Introspect" },
  };
  g_autofree char *long_id = g_strnfill (200, 'a');
  g_autofree char *long_path = g_strconcat (CSB_SANDBOX_PATH_PREFIX, long_id, NULL);
  const char *paths[] = {
    CSB_MANAGER_PATH, CSB_MANAGER_PATH "/sandbox", CSB_SANDBOX_PATH_PREFIX "x",
    CSB_SANDBOX_PATH_PREFIX "__/x", "/", "/org/example", long_path,
    CSB_SANDBOX_PATH_PREFIX "00000000",
    f->runs[0]->object_path, f->runs[1]->object_path,
  };
  const char *env_calls = g_getenv ("CSB_FUZZ_CALLS");
  guint n_calls = env_calls ? atoi (env_calls) : 3000;
  guint rss_before = service_rss_kib (f->bus.service_pid);
  GHashTableIter iter;
  gpointer name, count;

  for (guint i = 0; i < n_calls; i++)
    {
      guint real = g_rand_int_range (f->rand, 0, 2 * G_N_ELEMENTS (real_calls));
      const char *method = real < G_N_ELEMENTS (real_calls) ? real_calls[real].method
                         : methods[g_rand_int_range (f->rand, 0, G_N_ELEMENTS (methods))];
      const char *iface = real < G_N_ELEMENTS (real_calls) ? real_calls[real].iface
                        : ifaces[g_rand_int_range (f->rand, 0, G_N_ELEMENTS (ifaces))];
      const char *path = paths[g_rand_int_range (f->rand, 0, G_N_ELEMENTS (paths))];
      GVariant *parameters = random_parameters (f->rand, method);
      gboolean ours = g_str_equal (path, f->runs[0]->object_path) ||
                      g_str_equal (path, f->runs[1]->object_path);

      if (*method == '\0')
        method = "X";   /* an empty member name is not valid D-Bus */
      /* Our two sandboxes must survive: no well-formed Stop for them. */
      if (ours && (g_str_equal (method, "Stop") || g_str_equal (method, "Remove")) &&
          (parameters == NULL || g_variant_n_children (parameters) == 0))
        {
          if (parameters != NULL)
            g_variant_unref (g_variant_ref_sink (parameters));
          continue;
        }
      call_async (f, path, iface, method, parameters);
    }
  g_assert_true (csb_test_run_until (all_replied, f, 120000));

  g_hash_table_iter_init (&iter, f->error_names);
  while (g_hash_table_iter_next (&iter, &name, &count))
    g_test_message ("%5u × %s", GPOINTER_TO_UINT (count), (const char *) name);
  g_test_message ("%u calls answered, %u with an error", f->replies, f->errors);
  check_still_fine (f, rss_before);
}

static void
expect_launch_error (Fixture     *f,
                     const char  *project,
                     const char * const *command,
                     GVariant    *options,
                     GUnixFDList *fds,
                     const char  *expected)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  /* As csb_test_launch(): no bound of ours on how long a huge message takes (an ASan
   * build, build-aux/asan.sh, on a busy machine took over D-Bus's default 25 s). */
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (f->bus.manager), G_MAXINT);
  csb_dbus_manager_call_launch_sync (f->bus.manager, project, command, options, fds, &path,
                                     NULL, NULL, &error);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (f->bus.manager), -1);
  g_assert_nonnull (error);
  g_test_message ("refused: %.200s", error->message);
  g_assert_cmpstr (csb_test_error_name (error), ==, expected);
}

#define INVALID "org.example.ClaudeSandbox.Error.InvalidArgument"

static void
test_huge_and_deep (Fixture       *f,
                    gconstpointer  data)
{
  const char * const cmd[] = { "true", NULL };
  guint rss_before = service_rss_kib (f->bus.service_pid);
  GVariantBuilder b, env, binds;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  GVariant *deep;

  /* 100k environment variables */
  g_variant_builder_init (&env, G_VARIANT_TYPE ("a{ss}"));
  for (guint i = 0; i < 100000; i++)
    {
      g_autofree char *k = g_strdup_printf ("VAR_%u", i);
      g_variant_builder_add (&env, "{ss}", k, "value");
    }
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "env", g_variant_builder_end (&env));
  expect_launch_error (f, f->project, cmd, g_variant_builder_end (&b), NULL, INVALID);

  /* 100k read-only binds */
  g_variant_builder_init (&binds, G_VARIANT_TYPE ("as"));
  for (guint i = 0; i < 100000; i++)
    g_variant_builder_add (&binds, "s", "/usr/share");
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "ro-binds", g_variant_builder_end (&binds));
  expect_launch_error (f, f->project, cmd, g_variant_builder_end (&b), NULL, INVALID);

  /* a 100k-word command */
  for (guint i = 0; i < 100000; i++)
    g_ptr_array_add (argv, g_strdup (i == 0 ? "true" : "x"));
  g_ptr_array_add (argv, NULL);
  expect_launch_error (f, f->project, (const char * const *) argv->pdata,
                       g_variant_new_parsed ("@a{sv} {}"), NULL, INVALID);

  /* a 1 MiB project folder name and option name */
  {
    g_autofree char *big = g_strnfill (1 << 20, 'p');
    g_autofree char *abs = g_strconcat ("/", big, NULL);

    expect_launch_error (f, abs, cmd, g_variant_new_parsed ("@a{sv} {}"), NULL, INVALID);
    g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&b, "{sv}", big, g_variant_new_boolean (TRUE));
    expect_launch_error (f, f->project, cmd, g_variant_builder_end (&b), NULL, INVALID);
  }

  /* variants in variants, as deep as D-Bus allows (64) */
  deep = g_variant_new_boolean (TRUE);
  for (guint i = 0; i < 60; i++)
    deep = g_variant_new_variant (deep);
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "network", deep);
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;

    /* Either GDBus refuses to send it or the service refuses it: never a sandbox. */
    g_assert_false (csb_dbus_manager_call_launch_sync (f->bus.manager, f->project, cmd,
                                                       g_variant_builder_end (&b), NULL, &path,
                                                       NULL, NULL, &error));
    g_test_message ("deep variant: %.200s", error->message);
  }
  check_still_fine (f, rss_before);
}

static GVariant *
stdio_options (guint32 target,
               gint32  handle)
{
  GVariantBuilder b, stdio;

  g_variant_builder_init (&stdio, G_VARIANT_TYPE ("a{uh}"));
  g_variant_builder_add (&stdio, "{uh}", target, handle);
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "stdio", g_variant_builder_end (&stdio));
  return g_variant_builder_end (&b);
}

static GUnixFDList *
one_fd (int fd)
{
  GUnixFDList *list = g_unix_fd_list_new ();

  g_assert_cmpint (g_unix_fd_list_append (list, fd, NULL), ==, 0);
  close (fd);
  return list;
}

static void
test_wrong_fds (Fixture       *f,
                gconstpointer  data)
{
  const char * const cmd[] = { "true", NULL };
  int master, slave;
  int pair[2];
  g_autoptr(GUnixFDList) dir = one_fd (open ("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  g_autoptr(GUnixFDList) ev = one_fd (eventfd (0, EFD_CLOEXEC));
  g_autoptr(GUnixFDList) tty = NULL;
  g_autoptr(GUnixFDList) ptmx = NULL;
  g_autoptr(GUnixFDList) sock = NULL;
  g_autoptr(GUnixFDList) empty = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  g_assert_cmpint (openpty (&master, &slave, NULL, NULL, NULL), ==, 0);
  tty = one_fd (slave);
  ptmx = one_fd (master);

  expect_launch_error (f, f->project, cmd, stdio_options (1, 0), dir, INVALID);
  expect_launch_error (f, f->project, cmd, stdio_options (1, 0), ev, INVALID);
  expect_launch_error (f, f->project, cmd, stdio_options (0, 0), tty, INVALID);
  expect_launch_error (f, f->project, cmd, stdio_options (2, 0), ptmx, INVALID);
  /* out-of-range handles and targets */
  expect_launch_error (f, f->project, cmd, stdio_options (1, 1), dir, INVALID);
  expect_launch_error (f, f->project, cmd, stdio_options (1, -1), dir, INVALID);
  expect_launch_error (f, f->project, cmd, stdio_options (1, G_MAXINT32), dir, INVALID);
  expect_launch_error (f, f->project, cmd, stdio_options (1, 0), empty, INVALID);
  expect_launch_error (f, f->project, cmd, stdio_options (1, 0), NULL, INVALID);
  expect_launch_error (f, f->project, cmd, stdio_options (3, 0), dir, INVALID);
  expect_launch_error (f, f->project, cmd, stdio_options (G_MAXUINT32, 0), dir, INVALID);

  /* A socket is a fine stdio (a caller's log collector): it runs. */
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
  sock = one_fd (pair[1]);
  g_assert_true (csb_dbus_manager_call_launch_sync (f->bus.manager, f->project, cmd,
                                                    stdio_options (1, 0), sock, &path, NULL,
                                                    NULL, &error));
  g_assert_no_error (error);
  close (pair[0]);
  check_still_fine (f, service_rss_kib (f->bus.service_pid));
}

typedef struct
{
  char         *link;
  char         *real;
  volatile gint stop;
  guint         flips;
} Flipper;

static gpointer
flip_thread (gpointer data)
{
  Flipper *flip = data;
  g_autofree char *tmp = g_strconcat (flip->link, ".new", NULL);

  while (!g_atomic_int_get (&flip->stop))
    {
      const char *target = flip->flips % 2 ? "/etc" : flip->real;

      unlink (tmp);
      if (symlink (target, tmp) == 0 && rename (tmp, flip->link) == 0)
        flip->flips++;
      g_usleep (g_random_int_range (0, 3000));
    }
  return NULL;
}

static void
test_symlink_race (Fixture       *f,
                   gconstpointer  data)
{
  const char * const cmd[] = {
    "sh", "-c", "if [ -e csb-fuzz-marker ]; then echo REAL; else echo OTHER; fi; pwd", NULL
  };
  g_autofree char *marker = g_build_filename (f->project, "csb-fuzz-marker", NULL);
  Flipper flip = { 0 };
  GThread *thread;
  guint launched = 0, refused = 0, etc = 0;

  csb_test_write_file (marker, "x", 0644);
  flip.link = g_build_filename (f->bus.dirs.projects, "flipping", NULL);
  flip.real = g_strdup (f->project);
  g_assert_cmpint (symlink (flip.real, flip.link), ==, 0);
  thread = g_thread_new ("flip", flip_thread, &flip);

  for (guint i = 0; i < 20; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(CsbTestRun) run = csb_test_launch (&f->bus, flip.link, cmd, NULL, FALSE, &error);
      const char *project_dir;
      g_auto(GStrv) lines = NULL;

      if (run == NULL)
        {
          /* Refused cleanly is fine (e.g. the link pointed nowhere for a moment). */
          g_test_message ("launch %u refused: %s", i, error->message);
          g_assert_cmpstr (csb_test_error_name (error), ==, INVALID);
          refused++;
          continue;
        }
      launched++;
      g_assert_true (csb_test_run_wait (run, CSB_TEST_TIMEOUT_MS));
      project_dir = csb_dbus_sandbox_get_project_dir (run->sandbox);
      lines = g_strsplit (run->out->str, "\n", -1);
      g_assert_cmpuint (g_strv_length (lines), >=, 2);
      /* What the service says it bound is what the sandbox got. */
      g_assert_cmpstr (lines[1], ==, project_dir);
      if (g_str_equal (project_dir, flip.real))
        g_assert_cmpstr (lines[0], ==, "REAL");
      else
        {
          g_assert_cmpstr (project_dir, ==, "/etc");
          etc++;
          g_assert_cmpstr (lines[0], ==, "OTHER");
        }
      csb_dbus_sandbox_call_remove_sync (run->sandbox, NULL, NULL);
    }
  g_atomic_int_set (&flip.stop, 1);
  g_thread_join (thread);
  g_test_message ("%u launched (%u of them on /etc), %u refused, %u flips", launched, etc,
                  refused, flip.flips);
  g_assert_cmpuint (launched + refused, ==, 20);
  check_still_fine (f, service_rss_kib (f->bus.service_pid));
  unlink (flip.link);
  g_free (flip.link);
  g_free (flip.real);
}

static gboolean
pid_gone (guint pid)
{
  g_autofree char *stat_path = g_strdup_printf ("/proc/%u/stat", pid);
  g_autofree char *contents = NULL;
  const char *paren;

  if (!g_file_get_contents (stat_path, &contents, NULL, NULL))
    return TRUE;
  paren = strrchr (contents, ')');
  return paren != NULL && paren[1] == ' ' && paren[2] == 'Z';   /* a zombie is gone */
}

/* Nothing of ours outlives the bus and the service. */
static void
test_nothing_left (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  guint pids[2];
  const char *name;

  for (guint i = 0; i < 2; i++)
    {
      pids[i] = csb_dbus_sandbox_get_pid (f->runs[i]->sandbox);
      g_assert_true (csb_dbus_sandbox_call_stop_sync (f->runs[i]->sandbox, NULL, NULL));
      g_assert_true (csb_test_run_wait (f->runs[i], CSB_TEST_TIMEOUT_MS));
      g_assert_cmpstr (csb_dbus_sandbox_get_state (f->runs[i]->sandbox), ==, "exited");
    }
  csb_test_bus_teardown (&f->bus);
  memset (&f->bus, 0, sizeof f->bus);
  for (guint i = 0; i < 2; i++)
    {
      for (guint t = 0; t < 200 && !pid_gone (pids[i]); t++)
        g_usleep (50000);
      g_assert_true (pid_gone (pids[i]));
    }
  (void) proc;
  (void) name;
  csb_test_dirs_init (&f->bus.dirs);   /* for the fixture's teardown */
}

int
main (int    argc,
      char **argv)
{
  csb_test_init_environment ();
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/fuzz/dbus/random-calls", test_random_calls);
  ADD ("/fuzz/dbus/huge-and-deep", test_huge_and_deep);
  ADD ("/fuzz/dbus/wrong-fds", test_wrong_fds);
  ADD ("/fuzz/dbus/symlink-race", test_symlink_race);
  ADD ("/fuzz/dbus/nothing-left", test_nothing_left);
  return g_test_run ();
}
