/* csb-backend-options.h — the Launch options only some backends give, once: the
 * service refuses one asked for by name on another backend (csb-options.c), and the
 * app neither offers nor asks for it there (gui/). Only a header, so that what links
 * csb-options.c alone (the fuzzers) needs nothing more.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

typedef struct
{
  const char *key;
  const char *backends[3];      /* the backends that give it */
} CsbBackendOption;

static const CsbBackendOption csb_backend_options[] = {
  { "gpu", { "bwrap", NULL } },
  { "audio", { "bwrap", "container", NULL } },
  { "ssh-agent", { "bwrap", "container", NULL } },
  { "private-display", { "bwrap", "container", NULL } },
};

/* The backends that give option @key, or NULL when every backend does. */
static inline const char * const *
csb_backend_option_givers (const char *key)
{
  for (gsize i = 0; i < G_N_ELEMENTS (csb_backend_options); i++)
    if (g_strcmp0 (csb_backend_options[i].key, key) == 0)
      return csb_backend_options[i].backends;
  return NULL;
}

/* Whether @backend gives option @key. */
static inline gboolean
csb_backend_gives (const char *backend,
                   const char *key)
{
  const char * const *givers = csb_backend_option_givers (key);

  return givers == NULL || (backend != NULL && g_strv_contains (givers, backend));
}
