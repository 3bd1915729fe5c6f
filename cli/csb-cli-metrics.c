/* csb-cli-metrics.c
 *
 * The service measures when asked (Sandbox.GetMetrics, Manager.GetHostMetrics); this
 * asks once and prints. The JSON keeps the service's keys, with "_" for "-" as in
 * --list --json; a key the service did not send (not known) is absent.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "csb-cli-common.h"
#include "csb-cli-metrics.h"

static void
add_metrics_member (JsonBuilder *builder,
                    const char  *name,
                    GVariant    *metrics)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  json_builder_set_member_name (builder, name);
  json_builder_begin_object (builder);
  g_variant_iter_init (&iter, metrics);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
    {
      g_autofree char *member = g_strdelimit (g_strdup (key), "-", '_');

      if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
        {
          json_builder_set_member_name (builder, member);
          json_builder_add_int_value (builder, (gint64) MIN (g_variant_get_uint64 (value),
                                                             G_MAXINT64));
        }
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
        {
          json_builder_set_member_name (builder, member);
          json_builder_add_int_value (builder, g_variant_get_uint32 (value));
        }
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
        {
          json_builder_set_member_name (builder, member);
          json_builder_add_double_value (builder, g_variant_get_double (value));
        }
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        {
          json_builder_set_member_name (builder, member);
          json_builder_add_string_value (builder, g_variant_get_string (value, NULL));
        }
    }
  json_builder_end_object (builder);
}

static char *
format_bytes (GVariantDict *dict,
              const char   *key)
{
  guint64 bytes;

  if (!g_variant_dict_lookup (dict, key, "t", &bytes))
    return g_strdup ("-");
  return g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
}

static char *
format_cpu (GVariantDict *dict)
{
  guint64 us;

  if (!g_variant_dict_lookup (dict, "cpu-time-us", "t", &us))
    return g_strdup ("-");
  if (us >= 60 * G_USEC_PER_SEC)
    return g_strdup_printf ("%um%04.1fs", (guint) (us / (60 * G_USEC_PER_SEC)),
                            (us % (60 * G_USEC_PER_SEC)) / (double) G_USEC_PER_SEC);
  return g_strdup_printf ("%.1fs", us / (double) G_USEC_PER_SEC);
}

static char *
format_count (GVariantDict *dict,
              const char   *key)
{
  guint32 count;

  if (!g_variant_dict_lookup (dict, key, "u", &count))
    return g_strdup ("-");
  return g_strdup_printf ("%u", count);
}

static char *
format_tokens (GVariantDict *dict)
{
  guint64 in = 0, out = 0, created = 0, read = 0;

  if (!g_variant_dict_lookup (dict, "claude-input-tokens", "t", &in) ||
      !g_variant_dict_lookup (dict, "claude-output-tokens", "t", &out))
    return g_strdup ("-");
  /* Cached input is input too: what was sent, then what came back. */
  g_variant_dict_lookup (dict, "claude-cache-creation-tokens", "t", &created);
  g_variant_dict_lookup (dict, "claude-cache-read-tokens", "t", &read);
  return g_strdup_printf ("%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT, in + created + read,
                          out);
}

static char *
format_cost (GVariantDict *dict)
{
  double cost;

  if (!g_variant_dict_lookup (dict, "claude-cost-usd", "d", &cost))
    return g_strdup ("-");
  return g_strdup_printf ("$%.2f", cost);
}

static void
print_host (GVariant *host)
{
  g_autoptr(GVariantDict) dict = g_variant_dict_new (host);
  g_autofree char *available = format_bytes (dict, "memory-available-bytes");
  g_autofree char *total = format_bytes (dict, "memory-total-bytes");
  double load[3] = { 0, 0, 0 };
  guint32 cpus = 0;

  g_variant_dict_lookup (dict, "cpus", "u", &cpus);
  g_variant_dict_lookup (dict, "load-1", "d", &load[0]);
  g_variant_dict_lookup (dict, "load-5", "d", &load[1]);
  g_variant_dict_lookup (dict, "load-15", "d", &load[2]);
  g_print (_("Machine: %u CPUs, load %.2f %.2f %.2f, memory %s available of %s\n"), cpus,
           load[0], load[1], load[2], available, total);
}

int
csb_cli_run_metrics (GDBusConnection *bus,
                     GPtrArray       *sandboxes,
                     gboolean         json)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(GVariant) host = NULL;
  g_autoptr(GError) error = NULL;
  int status = EXIT_SUCCESS;

  host = g_dbus_connection_call_sync (bus, CSB_BUS_NAME, CSB_MANAGER_PATH,
                                      CSB_MANAGER_INTERFACE, "GetHostMetrics",
                                      NULL, G_VARIANT_TYPE ("(a{sv})"),
                                      G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  if (host == NULL)
    {
      csb_cli_print_dbus_error (error);
      return EXIT_FAILURE;
    }
  json_builder_begin_object (builder);
  {
    g_autoptr(GVariant) dict = g_variant_get_child_value (host, 0);

    if (json)
      add_metrics_member (builder, "host", dict);
    else
      {
        print_host (dict);
        g_print ("%-10s %-9s %9s %11s %6s %11s %6s %16s %8s\n", _("ID"), _("STATE"), _("CPU"),
                 _("MEMORY"), _("PROCS"), _("DISK"), _("TURNS"), _("TOKENS IN/OUT"),
                 _("COST"));
      }
  }
  json_builder_set_member_name (builder, "sandboxes");
  json_builder_begin_array (builder);
  for (guint i = 0; i < sandboxes->len; i++)
    {
      CsbDBusSandbox *sandbox = g_ptr_array_index (sandboxes, i);
      g_autoptr(GVariant) metrics = NULL;
      g_autoptr(GVariantDict) dict = NULL;
      g_autofree char *cpu = NULL, *memory = NULL, *processes = NULL, *disk = NULL;
      g_autofree char *turns = NULL, *tokens = NULL, *cost = NULL;

      g_clear_error (&error);
      if (!csb_dbus_sandbox_call_get_metrics_sync (sandbox, &metrics, NULL, &error))
        {
          /* Removed meanwhile, or an older service: said, and the others still shown. */
          csb_cli_print_dbus_error (error);
          status = EXIT_FAILURE;
          continue;
        }
      if (json)
        {
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "id");
          json_builder_add_string_value (builder, csb_dbus_sandbox_get_id (sandbox));
          json_builder_set_member_name (builder, "state");
          json_builder_add_string_value (builder, csb_dbus_sandbox_get_state (sandbox));
          add_metrics_member (builder, "metrics", metrics);
          json_builder_end_object (builder);
          continue;
        }
      dict = g_variant_dict_new (metrics);
      cpu = format_cpu (dict);
      memory = format_bytes (dict, "memory-bytes");
      processes = format_count (dict, "processes");
      disk = format_bytes (dict, "state-bytes");
      turns = format_count (dict, "claude-turns");
      tokens = format_tokens (dict);
      cost = format_cost (dict);
      g_print ("%-10s %-9s %9s %11s %6s %11s %6s %16s %8s\n", csb_dbus_sandbox_get_id (sandbox),
               csb_dbus_sandbox_get_state (sandbox), cpu, memory, processes, disk, turns,
               tokens, cost);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  if (json)
    csb_cli_print_json (builder);
  return status;
}
