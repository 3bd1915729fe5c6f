/* test-protections.c — the one table of protection names: every name a backend
 * adds is in it, the D-Bus XML lists exactly its names with the same sentences,
 * the README names each one, and old names read from a record become the current
 * ones.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include "csb-protections.h"

static char *
read_source (const char *first,
             ...)
{
  g_autofree char *path = NULL;
  g_autoptr(GPtrArray) parts = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  const char *part;
  char *contents = NULL;
  va_list ap;

  g_ptr_array_add (parts, (gpointer) g_test_get_dir (G_TEST_DIST));
  g_ptr_array_add (parts, (gpointer) "..");
  va_start (ap, first);
  for (part = first; part != NULL; part = va_arg (ap, const char *))
    g_ptr_array_add (parts, (gpointer) part);
  va_end (ap);
  g_ptr_array_add (parts, NULL);
  path = g_build_filenamev ((char **) parts->pdata);
  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

/* Runs of white space as one space: the XML wraps its lines. */
static char *
collapse_space (const char *text)
{
  g_autoptr(GRegex) space = g_regex_new ("\\s+", 0, 0, NULL);

  return g_regex_replace_literal (space, text, -1, 0, " ", 0, NULL);
}

static void
test_table (void)
{
  gsize n = 0;
  const CsbProtection *all = csb_protections_get_all (&n);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GRegex) name_re = g_regex_new ("^[a-z0-9]+(-[a-z0-9]+)*$", 0, 0, NULL);

  g_assert_cmpuint (n, >, 30);
  for (gsize i = 0; i < n; i++)
    {
      g_assert_true (g_regex_match (name_re, all[i].name, 0, NULL));
      g_assert_true (g_hash_table_add (seen, (gpointer) all[i].name));
      g_assert_true (g_str_has_suffix (all[i].description, "."));
      g_assert_null (strchr (all[i].description, '\n'));
      g_assert_cmpstr (csb_protection_get_description (all[i].name), ==, all[i].description);
      g_assert_cmpstr (csb_protection_canonical (all[i].name), ==, all[i].name);
    }
  g_assert_null (csb_protection_get_description ("no-such-protection"));
  g_assert_null (csb_protection_canonical ("no-such-protection"));
}

/* The names that drifted between the backends read as the names of today. */
static void
test_aliases (void)
{
  const char * const recorded[] = {
    "container-lxc", "no-new-privileges", "wayland", "gone-since", NULL
  };
  const char * const expected[] = {
    "container-lxc", "no-new-privs", "wayland-unrestricted", NULL
  };
  g_auto(GStrv) current = NULL;

  g_assert_cmpstr (csb_protection_canonical ("no-new-privileges"), ==, "no-new-privs");
  g_assert_null (csb_protection_get_description ("no-new-privileges"));
  current = csb_protections_dup_current (recorded);
  g_assert_cmpstrv (current, expected);
}

/* Every name the backends add (the calls hold literals, or a choice of two) is in
 * the table, and no backend adds one around it. csb_protections_add() asserts
 * this too, but only on the paths a test happens to run. */
static void
test_backends_use_table (void)
{
  const char * const sources[] = {
    "service/csb-bwrap-backend.c", "libvirt/csb-container-backend.c",
    "libvirt/csb-vm-backend.c", "service/csb-cgroup.c", "libvirt/csb-libvirt.c",
    "service/csb-guest-stage.c", "service/csb-sandbox.c", NULL
  };
  g_autoptr(GRegex) call = g_regex_new ("csb_protections_(add|insert) \\(([^;]*)\\);",
                                        G_REGEX_DOTALL, 0, NULL);
  g_autoptr(GRegex) literal = g_regex_new ("\"([^\"]*)\"", 0, 0, NULL);
  g_autoptr(GRegex) around =
    g_regex_new ("g_ptr_array_(add|insert) \\([a-z_>-]*protections,[^;]*[\"(]", 0, 0, NULL);
  guint found = 0;

  for (guint i = 0; sources[i] != NULL; i++)
    {
      g_autofree char *text = read_source (sources[i], NULL);
      g_autoptr(GMatchInfo) match = NULL;

      g_test_message ("%s", sources[i]);
      g_assert_false (g_regex_match (around, text, 0, NULL));
      g_regex_match (call, text, 0, &match);
      while (g_match_info_matches (match))
        {
          g_autofree char *args = g_match_info_fetch (match, 2);
          g_autoptr(GMatchInfo) names = NULL;

          g_regex_match (literal, args, 0, &names);
          g_assert_true (g_match_info_matches (names));
          while (g_match_info_matches (names))
            {
              g_autofree char *name = g_match_info_fetch (names, 1);

              g_test_message ("  %s", name);
              g_assert_nonnull (csb_protection_get_description (name));
              found++;
              g_match_info_next (names, NULL);
            }
          g_match_info_next (match, NULL);
        }
    }
  g_assert_cmpuint (found, >, 30);
}

/* The XML's doc of the Protections property lists the table: the same names, in
 * the same order, with the same sentences; the README names each one. */
static void
test_documented (void)
{
  g_autofree char *xml = read_source ("data", "org.example.ClaudeSandbox.xml", NULL);
  g_autofree char *readme = read_source ("README.md", NULL);
  const char *start = strstr (xml, "Protections: ");
  const char *end = start != NULL ? strstr (start, "-->") : NULL;
  g_autofree char *doc = NULL;
  g_autoptr(GRegex) bullet = g_regex_new (" - ([a-z0-9-]+): (.*?)(?= - [a-z0-9-]+: | Details:|$)",
                                          0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  gsize n = 0, i = 0;
  const CsbProtection *all = csb_protections_get_all (&n);

  g_assert_nonnull (end);
  {
    g_autofree char *raw = g_strndup (start, end - start);

    doc = collapse_space (raw);
  }
  g_regex_match (bullet, doc, 0, &match);
  for (; g_match_info_matches (match); g_match_info_next (match, NULL), i++)
    {
      g_autofree char *name = g_match_info_fetch (match, 1);
      g_autofree char *text = g_match_info_fetch (match, 2);

      g_strstrip (text);
      g_assert_cmpuint (i, <, n);
      g_assert_cmpstr (name, ==, all[i].name);
      g_assert_cmpstr (text, ==, all[i].description);
    }
  g_assert_cmpuint (i, ==, n);

  for (i = 0; i < n; i++)
    {
      g_autofree char *quoted = g_strdup_printf ("`%s`", all[i].name);

      if (strstr (readme, quoted) == NULL)
        g_error ("README.md does not name the protection %s", quoted);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/protections/table", test_table);
  g_test_add_func ("/protections/aliases", test_aliases);
  g_test_add_func ("/protections/backends-use-table", test_backends_use_table);
  g_test_add_func ("/protections/documented", test_documented);
  return g_test_run ();
}
