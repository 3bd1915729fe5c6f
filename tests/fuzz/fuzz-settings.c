/* fuzz-settings.c — libFuzzer target: the service's settings as a keyfile the user (or
 * anything that writes ~/.config/glib-2.0/settings/keyfile) controls. The bytes are
 * loaded as the keyfile GSettings backend and the Launch defaults started from them
 * (csb_launch_options_new), with the shell setting too.
 *
 * Checks: no crash, leak or UBSan report; the defaults keep the schema's ranges
 * (GSettings falls back to the default for values out of range or of the wrong type).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "fuzz-common.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define G_SETTINGS_ENABLE_BACKEND
#include <gio/gio.h>
#include <gio/gsettingsbackend.h>

#include "csb-options.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

static char *dir;
static char *keyfile;
static GSettingsSchema *schema;

static void
cleanup (void)
{
  g_clear_pointer (&schema, g_settings_schema_unref);
  if (keyfile != NULL)
    unlink (keyfile);
  if (dir != NULL)
    rmdir (dir);
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  GSettingsSchemaSource *source;
  g_autoptr(GError) error = NULL;
  const char *schema_dir = g_getenv ("GSETTINGS_SCHEMA_DIR");

  dir = g_dir_make_tmp ("csb-fuzz-settings-XXXXXX", &error);
  g_assert_no_error (error);
  keyfile = g_build_filename (dir, "keyfile", NULL);
  if (schema_dir != NULL)
    {
      g_autoptr(GSettingsSchemaSource) own =
        g_settings_schema_source_new_from_directory (schema_dir, NULL, FALSE, &error);
      g_assert_no_error (error);
      schema = g_settings_schema_source_lookup (own, "org.example.ClaudeSandbox", FALSE);
    }
  else if ((source = g_settings_schema_source_get_default ()) != NULL)
    schema = g_settings_schema_source_lookup (source, "org.example.ClaudeSandbox", TRUE);
  if (schema == NULL)
    {
      g_printerr ("fuzz-settings: schema org.example.ClaudeSandbox not found; set "
                  "GSETTINGS_SCHEMA_DIR to the build's data folder\n");
      exit (1);
    }
  atexit (cleanup);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GSettingsBackend) backend = NULL;
  g_autoptr(GSettings) settings = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *shell = NULL;
  CsbLaunchOptions *opts;

  /* GLib 2.74's g_variant_parse() takes a string literal with invalid UTF-8 to
   * g_variant_new_string() (a critical, then the default): a GLib bug, not ours, and a
   * keyfile is UTF-8 text. */
  if (!g_utf8_validate ((const char *) data, size, NULL))
    return 0;
  if (!g_file_set_contents (keyfile, (const char *) data, size, &error))
    g_error ("cannot write %s: %s", keyfile, error->message);
  /* Keys directly under the schema's path live in the group [claude-sandbox]. */
  backend = g_keyfile_settings_backend_new (keyfile, "/org/example/ClaudeSandbox/",
                                            "claude-sandbox");
  settings = g_settings_new_full (schema, backend, NULL);

  opts = csb_launch_options_new (settings);
  g_assert_nonnull (opts->backend);
  g_assert_cmpuint (opts->vm_memory_mib, >=, 1);
  g_assert_cmpuint (opts->vm_cpus, >=, 1);
  for (guint i = 0; i < opts->ro_binds->len; i++)
    g_assert_nonnull (g_ptr_array_index (opts->ro_binds, i));
  csb_launch_options_free (opts);

  shell = csb_user_shell (settings);
  g_assert_nonnull (shell);

  g_clear_object (&settings);
  g_clear_object (&backend);
  /* The backend's file monitor is torn down from the main context. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  return 0;
}
