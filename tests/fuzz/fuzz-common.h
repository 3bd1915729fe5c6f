/* fuzz-common.h — included by every fuzz target: GLib criticals and errors become an
 * abort() that libFuzzer catches (G_DEBUG=fatal-criticals raises SIGTRAP, which it
 * does not), and the service's chatter is kept off the fuzzer's output.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdlib.h>

#include <glib.h>

static GLogWriterOutput
csb_fuzz_log_writer (GLogLevelFlags   level,
                     const GLogField *fields,
                     gsize            n_fields,
                     gpointer         user_data)
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    {
      g_log_writer_standard_streams (level, fields, n_fields, user_data);
      abort ();
    }
  if (level & G_LOG_LEVEL_WARNING)
    return g_log_writer_standard_streams (level, fields, n_fields, user_data);
  return G_LOG_WRITER_HANDLED;
}

__attribute__((constructor)) static void
csb_fuzz_init_logging (void)
{
  g_log_set_writer_func (csb_fuzz_log_writer, NULL, NULL);
}
