/* csb-protections.h — the one table of the names a sandbox's Protections property
 * may hold, each with the sentence the app shows for it. Every backend adds names
 * through csb_protections_add(), which refuses a name not in the table; the D-Bus
 * XML and the README list the same names (tests/test-protections.c checks).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  const char *name;
  const char *description;   /* one English sentence, marked N_() for the app */
} CsbProtection;

/* The table, in the order the XML lists it. */
const CsbProtection *csb_protections_get_all        (gsize       *n_protections);
/* The untranslated sentence for @name, or NULL when it is not in the table. */
const char          *csb_protection_get_description (const char  *name);
/* @name, or the name that replaced it (an old record of a running sandbox may
 * hold a name a backend no longer uses); NULL when it is neither. */
const char          *csb_protection_canonical       (const char  *name);
/* Adds @name to @protections (element-type utf8); @name must be in the table. */
/* @names as they are called now: aliases replaced, names not in the table left out. */
GStrv                csb_protections_dup_current    (const char * const *names);
void                 csb_protections_add            (GPtrArray   *protections,
                                                     const char  *name);
void                 csb_protections_insert         (GPtrArray   *protections,
                                                     guint        index_,
                                                     const char  *name);

G_END_DECLS
