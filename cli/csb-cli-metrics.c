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

static const char *
unknown_cell (void)
{
  /* An en dash where the terminal can show one. */
  return g_get_charset (NULL) ? "\xe2\x80\x93" : "-";
}

void
csb_cli_add_metrics_member (JsonBuilder *builder,
                            const char  *name,
                            GVariant    *metrics)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  json_builder_set_member_name (builder, name);
  if (metrics == NULL)
    {
      json_builder_add_null_value (builder);
      return;
    }
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
    return g_strdup (unknown_cell ());
  return g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
}

static char *
format_cpu (GVariantDict *dict)
{
  guint64 us;

  if (!g_variant_dict_lookup (dict, "cpu-time-us", "t", &us))
    return g_strdup (unknown_cell ());
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
    return g_strdup (unknown_cell ());
  return g_strdup_printf ("%u", count);
}

static char *
format_tokens (GVariantDict *dict)
{
  guint64 in = 0, out = 0, created = 0, read = 0;

  if (!g_variant_dict_lookup (dict, "claude-input-tokens", "t", &in) ||
      !g_variant_dict_lookup (dict, "claude-output-tokens", "t", &out))
    return g_strdup (unknown_cell ());
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
    return g_strdup (unknown_cell ());
  return g_strdup_printf ("$%.2f", cost);
}

/* ---- asking every sandbox at once -------------------------------------------------- */

struct _CsbCliMetrics
{
  GVariant *metrics;
  GError   *error;
  guint    *pending;
};

static void
csb_cli_metrics_free (CsbCliMetrics *self)
{
  g_clear_pointer (&self->metrics, g_variant_unref);
  g_clear_error (&self->error);
  g_free (self);
}

static void
on_metrics (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  CsbCliMetrics *self = user_data;

  csb_dbus_sandbox_call_get_metrics_finish (CSB_DBUS_SANDBOX (source), &self->metrics, result,
                                            &self->error);
  (*self->pending)--;
}

GPtrArray *
csb_cli_get_metrics (GPtrArray *sandboxes)
{
  g_autoptr(GPtrArray) all = g_ptr_array_new_full (sandboxes->len,
                                                   (GDestroyNotify) csb_cli_metrics_free);
  guint pending = sandboxes->len;

  /* All the calls first, then the answers: one round trip for all of them, however many
   * (over --host, ssh's latency once, not once a sandbox). */
  for (guint i = 0; i < sandboxes->len; i++)
    {
      CsbCliMetrics *metrics = g_new0 (CsbCliMetrics, 1);

      metrics->pending = &pending;
      g_ptr_array_add (all, metrics);
      csb_dbus_sandbox_call_get_metrics (g_ptr_array_index (sandboxes, i), NULL, on_metrics,
                                         metrics);
    }
  while (pending > 0)
    g_main_context_iteration (NULL, TRUE);
  for (guint i = 0; i < all->len; i++)
    ((CsbCliMetrics *) g_ptr_array_index (all, i))->pending = NULL;
  return g_steal_pointer (&all);
}

GVariant *
csb_cli_metrics_get (CsbCliMetrics *self,
                     GError       **error)
{
  if (self->metrics == NULL && error != NULL)
    *error = g_error_copy (self->error);
  return self->metrics;
}

/* ---- short cells for --list ---------------------------------------------------------- */

/* 512B, 80K, 1.2M, 34M, 2.0G: like ls -sh, in 1024s. */
static char *
format_short_size (guint64 bytes)
{
  const char *units = "KMGTPE";
  double value = bytes;
  guint unit = 0;

  if (bytes < 1024)
    return g_strdup_printf ("%uB", (guint) bytes);
  value /= 1024;
  while (value >= 1023.5 && units[unit + 1] != '\0')
    value /= 1024, unit++;
  if (value < 9.95)
    return g_strdup_printf ("%.1f%c", value, units[unit]);
  return g_strdup_printf ("%.0f%c", value, units[unit]);
}

/* 0.4s, 12.4s, 2m05s, 1h02m, 3d04h. */
static char *
format_short_cpu (guint64 us)
{
  guint64 s = us / G_USEC_PER_SEC;

  if (us < 59950 * G_GUINT64_CONSTANT (1000))
    return g_strdup_printf ("%.1fs", us / (double) G_USEC_PER_SEC);
  if (s < 3600)
    return g_strdup_printf ("%um%02us", (guint) (s / 60), (guint) (s % 60));
  if (s < 86400)
    return g_strdup_printf ("%uh%02um", (guint) (s / 3600), (guint) (s % 3600 / 60));
  return g_strdup_printf ("%" G_GUINT64_FORMAT "d%02uh", s / 86400, (guint) (s % 86400 / 3600));
}

/* 310, 3.1k, 45k, 1.2M, 120M. */
static char *
format_short_count (guint64 count)
{
  if (count < 1000)
    return g_strdup_printf ("%u", (guint) count);
  if (count < 9950)
    return g_strdup_printf ("%.1fk", count / 1e3);
  if (count < 999500)
    return g_strdup_printf ("%.0fk", count / 1e3);
  if (count < 9950000)
    return g_strdup_printf ("%.1fM", count / 1e6);
  return g_strdup_printf ("%.0fM", count / 1e6);
}

/* Input (cached or not) and output: all Claude Code's requests carried. */
static gboolean
lookup_tokens (GVariantDict *dict,
               guint64      *total)
{
  const char *keys[] = { "claude-input-tokens", "claude-output-tokens",
                         "claude-cache-creation-tokens", "claude-cache-read-tokens" };
  guint64 value;

  *total = 0;
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      if (g_variant_dict_lookup (dict, keys[i], "t", &value))
        *total += value;
      else if (i < 2)
        return FALSE;
    }
  return TRUE;
}

const char *
csb_cli_metric_header (CsbCliMetric metric)
{
  switch (metric)
    {
    case CSB_CLI_METRIC_CPU: return _("CPU");
    case CSB_CLI_METRIC_MEMORY: return _("MEM");
    case CSB_CLI_METRIC_PROCESSES: return _("PIDS");
    case CSB_CLI_METRIC_DISK: return _("DISK");
    case CSB_CLI_METRIC_TURNS: return _("TURNS");
    case CSB_CLI_METRIC_TOKENS: return _("TOKENS");
    case CSB_CLI_METRIC_COST: return _("COST");
    default: g_assert_not_reached ();
    }
}

/* The cell's text, or NULL when @metrics do not say. */
static char *
metric_cell (GVariantDict *dict,
             CsbCliMetric  metric)
{
  guint64 value;
  guint32 count;
  double cost;

  switch (metric)
    {
    case CSB_CLI_METRIC_CPU:
      return g_variant_dict_lookup (dict, "cpu-time-us", "t", &value) ?
             format_short_cpu (value) : NULL;
    case CSB_CLI_METRIC_MEMORY:
      return g_variant_dict_lookup (dict, "memory-bytes", "t", &value) ?
             format_short_size (value) : NULL;
    case CSB_CLI_METRIC_PROCESSES:
      return g_variant_dict_lookup (dict, "processes", "u", &count) ?
             g_strdup_printf ("%u", count) : NULL;
    case CSB_CLI_METRIC_DISK:
      return g_variant_dict_lookup (dict, "state-bytes", "t", &value) ?
             format_short_size (value) : NULL;
    case CSB_CLI_METRIC_TURNS:
      return g_variant_dict_lookup (dict, "claude-turns", "u", &count) ?
             g_strdup_printf ("%u", count) : NULL;
    case CSB_CLI_METRIC_TOKENS:
      return lookup_tokens (dict, &value) ? format_short_count (value) : NULL;
    case CSB_CLI_METRIC_COST:
      return g_variant_dict_lookup (dict, "claude-cost-usd", "d", &cost) ?
             g_strdup_printf ("$%.2f", cost) : NULL;
    default:
      g_assert_not_reached ();
    }
}

char *
csb_cli_metric_cell (GVariant     *metrics,
                     CsbCliMetric  metric)
{
  g_autoptr(GVariantDict) dict = NULL;
  char *cell;

  if (metrics == NULL)
    return g_strdup (unknown_cell ());
  dict = g_variant_dict_new (metrics);
  cell = metric_cell (dict, metric);
  return cell != NULL ? cell : g_strdup (unknown_cell ());
}

gboolean
csb_cli_metric_worth_a_column (GVariant     *metrics,
                               CsbCliMetric  metric)
{
  g_autoptr(GVariantDict) dict = NULL;
  guint32 sessions = 0;

  if (metric < CSB_CLI_METRIC_TURNS)
    return TRUE;
  if (metrics == NULL)
    return FALSE;
  dict = g_variant_dict_new (metrics);
  /* Claude's columns once it has worked in one of them; cost only once it recorded one. */
  if (metric == CSB_CLI_METRIC_COST)
    return g_variant_dict_contains (dict, "claude-cost-usd");
  return g_variant_dict_lookup (dict, "claude-sessions", "u", &sessions) && sessions > 0;
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

/* The table's nine cells, padded by characters (a dash is one, of three bytes). */
static void
print_row (const char * const cells[9])
{
  static const int widths[9] = { -10, -9, 9, 11, 6, 11, 6, 16, 8 };
  g_autoptr(GString) line = g_string_new (NULL);

  for (guint i = 0; i < 9; i++)
    {
      const char *cell = cells[i] != NULL ? cells[i] : "";
      int pad = MAX (0, ABS (widths[i]) - (int) g_utf8_strlen (cell, -1));

      if (i > 0)
        g_string_append_c (line, ' ');
      if (widths[i] < 0)
        g_string_append_printf (line, "%s%*s", cell, pad, "");
      else
        g_string_append_printf (line, "%*s%s", pad, "", cell);
    }
  g_print ("%s\n", line->str);
}

int
csb_cli_run_metrics (GDBusConnection *bus,
                     GPtrArray       *sandboxes,
                     gboolean         json)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(GVariant) host = NULL;
  g_autoptr(GPtrArray) all = NULL;
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
      csb_cli_add_metrics_member (builder, "host", dict);
    else
      {
        print_host (dict);
        print_row ((const char * const[]) { _("ID"), _("STATE"), _("CPU"), _("MEMORY"),
                                            _("PIDS"), _("DISK"), _("TURNS"),
                                            _("TOKENS IN/OUT"), _("COST") });
      }
  }
  json_builder_set_member_name (builder, "sandboxes");
  json_builder_begin_array (builder);
  all = csb_cli_get_metrics (sandboxes);
  for (guint i = 0; i < sandboxes->len; i++)
    {
      CsbDBusSandbox *sandbox = g_ptr_array_index (sandboxes, i);
      GVariant *metrics;
      g_autoptr(GVariantDict) dict = NULL;
      g_autofree char *cpu = NULL, *memory = NULL, *processes = NULL, *disk = NULL;
      g_autofree char *turns = NULL, *tokens = NULL, *cost = NULL;

      g_clear_error (&error);
      metrics = csb_cli_metrics_get (g_ptr_array_index (all, i), &error);
      if (metrics == NULL)
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
          csb_cli_add_metrics_member (builder, "metrics", metrics);
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
      print_row ((const char * const[]) { csb_dbus_sandbox_get_id (sandbox),
                                          csb_dbus_sandbox_get_state (sandbox), cpu, memory,
                                          processes, disk, turns, tokens, cost });
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  if (json)
    csb_cli_print_json (builder);
  return status;
}
