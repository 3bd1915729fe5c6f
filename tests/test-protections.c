/* test-protections.c — the one table of protection names: every name a backend
 * adds is in it, the D-Bus XML lists exactly its names with the same sentences,
 * the README names each one, and old names read from a record become the current
 * ones. And the rest of what the D-Bus XML documents against the implementation
 * (/api/…): every Launch option it lists is accepted, with its type, and every
 * accepted one is listed; its error names are those registered; each interface's
 * documented version is the one the service publishes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include "csb-api.h"
#include "csb-error.h"
#include "csb-options.h"
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

static int
compare_paths (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* The C files of the programs that give protections, sorted. */
static GPtrArray *
list_sources (void)
{
  const char * const dirs[] = { "service", "libvirt", "helpers", "helpers/guest", NULL };
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (g_test_get_dir (G_TEST_DIST), "..", dirs[i],
                                                NULL);
      g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      g_assert_nonnull (dir);
      while ((name = g_dir_read_name (dir)) != NULL)
        if (g_str_has_suffix (name, ".c"))
          g_ptr_array_add (files, g_build_filename (dirs[i], name, NULL));
    }
  g_ptr_array_sort (files, compare_paths);
  return files;
}

/* Every name given to a sandbox is in the table: each call that gives one
 * (csb_protections_add/insert, and in the layout give_protection and
 * csb_layout_wayland) in every C file of the service, the module and the helpers
 * holds literals (or a choice of two), each in the table, and no code adds one
 * around them. The calls that pass on a name given elsewhere are listed below,
 * each seen once. csb_protections_add() and give_protection() assert this too, but
 * only on the paths a test happens to run. */
static void
test_backends_use_table (void)
{
  const struct { const char *file; const char *text; } forwarders[] = {
    /* the layout's names, each given by a literal call of give_protection */
    { "service/csb-layout.c",
      "csb_protections_add (protections, g_ptr_array_index (self->protections, i))" },
    { "service/csb-layout.c", "give_protection (self, protection)" },
    { "service/csb-layout.c", "g_ptr_array_add (self->protections, g_strdup (name))" },
  };
  guint forwarded[G_N_ELEMENTS (forwarders)] = { 0 };
  g_autoptr(GPtrArray) sources = list_sources ();
  g_autoptr(GRegex) call =
    g_regex_new ("[ \t(!](csb_protections_(add|insert)|give_protection|csb_layout_wayland) "
                 "\\(([^;]*);", G_REGEX_DOTALL, 0, NULL);
  g_autoptr(GRegex) literal = g_regex_new ("\"([^\"]*)\"", 0, 0, NULL);
  g_autoptr(GRegex) around =
    g_regex_new ("g_ptr_array_(add|insert) \\([a-z_>-]*protections,[^;]*[\"(][^;]*;", 0, 0,
                 NULL);
  guint found = 0;

  for (guint i = 0; i < sources->len; i++)
    {
      const char *source = g_ptr_array_index (sources, i);
      g_autofree char *text = read_source (source, NULL);
      g_autoptr(GMatchInfo) match = NULL;

      g_test_message ("%s", source);
      for (int pass = 0; pass < 2; pass++)
        {
          g_clear_pointer (&match, g_match_info_unref);
          g_regex_match (pass == 0 ? around : call, text, 0, &match);
          for (; g_match_info_matches (match); g_match_info_next (match, NULL))
            {
              g_autofree char *whole = g_match_info_fetch (match, 0);
              g_autofree char *args = pass == 0 ? NULL : g_match_info_fetch (match, 3);
              g_autofree char *flat = collapse_space (whole);
              g_autoptr(GMatchInfo) names = NULL;
              gboolean is_forwarder = FALSE;

              for (guint f = 0; f < G_N_ELEMENTS (forwarders); f++)
                if (g_str_equal (source, forwarders[f].file) &&
                    strstr (flat, forwarders[f].text) != NULL)
                  {
                    forwarded[f]++;
                    is_forwarder = TRUE;
                  }
              if (is_forwarder)
                continue;
              if (pass == 0)
                g_error ("%s adds a protection around the table: %s", source, flat);

              g_regex_match (literal, args, 0, &names);
              if (!g_match_info_matches (names))
                g_error ("%s gives a protection that is no literal: %s", source, flat);
              for (; g_match_info_matches (names); g_match_info_next (names, NULL))
                {
                  g_autofree char *name = g_match_info_fetch (names, 1);

                  g_test_message ("  %s", name);
                  if (csb_protection_get_description (name) == NULL)
                    g_error ("%s gives the protection '%s', which is not in the table of "
                             "common/csb-protections.c", source, name);
                  found++;
                }
            }
        }
    }
  for (guint f = 0; f < G_N_ELEMENTS (forwarders); f++)
    if (forwarded[f] != 1)
      g_error ("%s: '%s' seen %u times, not once: update the list", forwarders[f].file,
               forwarders[f].text, forwarded[f]);
  g_assert_cmpuint (found, >, 40);
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
  g_autoptr(GRegex) bullet = g_regex_new (" \\* ``([a-z0-9-]+)``: (.*?)(?= \\* ``| Details:|$)",
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

/* The doc comment of @symbol ("Launch", "org.example.ClaudeSandbox.Manager"): from
 * its first line to the comment's end. */
static char *
xml_doc_of (const char *xml,
            const char *symbol)
{
  g_autofree char *escaped = g_regex_escape_string (symbol, -1);
  g_autofree char *pattern = g_strdup_printf ("^ *%s:", escaped);
  g_autoptr(GRegex) first_line = g_regex_new (pattern, G_REGEX_MULTILINE, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  const char *start, *end;
  int pos = -1;

  if (g_regex_match (first_line, xml, 0, &match))
    g_match_info_fetch_pos (match, 0, &pos, NULL);
  if (pos < 0)
    g_error ("the D-Bus XML documents no %s", symbol);
  start = xml + pos;
  end = strstr (start, "-->");
  g_assert_nonnull (end);
  return g_strndup (start, end - start);
}

/* The bullets "* ``key`` (``type``)" of a doc, each with its text up to the next
 * one: key → (type, text). */
static GHashTable *
doc_typed_bullets (const char *doc)
{
  g_autoptr(GRegex) bullet =
    g_regex_new ("^ *\\* ``([a-z0-9-]+)`` \\(``([^`]+)``\\) *\\n(.*?)(?=^ *\\* ``|\\z)",
                 G_REGEX_MULTILINE | G_REGEX_DOTALL, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  GHashTable *found = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify) g_strfreev);

  g_regex_match (bullet, doc, 0, &match);
  for (; g_match_info_matches (match); g_match_info_next (match, NULL))
    {
      char *key = g_match_info_fetch (match, 1);
      char **value = g_new0 (char *, 3);

      value[0] = g_match_info_fetch (match, 2);
      value[1] = g_match_info_fetch (match, 3);
      g_assert_true (g_hash_table_insert (found, key, value));
    }
  return found;
}

/* A value of @type that the parser can take apart: empty containers, false, 0, "". */
static GVariant *
empty_value_of (const GVariantType *type)
{
  if (g_variant_type_is_array (type))
    return g_variant_new_array (g_variant_type_element (type), NULL, 0);
  if (g_variant_type_equal (type, G_VARIANT_TYPE_BOOLEAN))
    return g_variant_new_boolean (FALSE);
  if (g_variant_type_equal (type, G_VARIANT_TYPE_UINT32))
    return g_variant_new_uint32 (0);
  if (g_variant_type_equal (type, G_VARIANT_TYPE_STRING))
    return g_variant_new_string ("");
  g_error ("no empty value for type %s", g_variant_type_peek_string (type));
}

/* Launch's doc lists each option as "* ``key`` (``type``)" with what it means and
 * its default; the parser's table has exactly those keys with those types, and
 * takes each: a value of the documented type is never "unknown" or "of the wrong
 * type" (it may be out of range: that is the option's own check). */
static void
test_launch_options_documented (void)
{
  g_autofree char *xml = read_source ("data", "org.example.ClaudeSandbox.xml", NULL);
  g_autofree char *doc = xml_doc_of (xml, "Launch");
  g_autoptr(GHashTable) documented = doc_typed_bullets (doc);
  g_auto(GStrv) accepted = csb_launch_options_dup_keys ();
  GHashTableIter iter;
  gpointer key, value;

  g_assert_cmpuint (g_strv_length (accepted), >, 15);
  for (guint i = 0; accepted[i] != NULL; i++)
    {
      char **entry = g_hash_table_lookup (documented, accepted[i]);

      if (entry == NULL)
        g_error ("Launch accepts the option '%s', which the D-Bus XML does not document "
                 "(add a \"* ``%s`` (``%s``)\" bullet to Launch's doc)", accepted[i],
                 accepted[i], csb_launch_option_get_type (accepted[i]));
      g_assert_cmpstr (entry[0], ==, csb_launch_option_get_type (accepted[i]));
    }

  g_hash_table_iter_init (&iter, documented);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const char *name = key;
      char **entry = value;
      g_autoptr(CsbLaunchOptions) options = csb_launch_options_new (NULL);
      g_autoptr(GVariantBuilder) builder = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
      g_autoptr(GVariant) dict = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
      g_autofree char *text = collapse_space (entry[1]);

      g_test_message ("%s (%s)", name, entry[0]);
      g_assert_true (g_variant_type_string_is_valid (entry[0]));
      if (strstr (text, "Default: ") == NULL)
        g_error ("the D-Bus XML's doc of the Launch option '%s' says no \"Default: \"", name);
      if (csb_launch_option_get_type (name) == NULL)
        g_error ("the D-Bus XML documents the Launch option '%s', which Launch does not "
                 "accept", name);

      g_variant_builder_add (builder, "{sv}", name,
                             empty_value_of (G_VARIANT_TYPE (entry[0])));
      dict = g_variant_ref_sink (g_variant_builder_end (builder));
      if (!csb_launch_options_parse (options, dict, fds, &error))
        {
          g_test_message ("  %s", error->message);
          g_assert_error (error, CSB_ERROR, CSB_ERROR_INVALID_ARGUMENT);
          g_assert_null (strstr (error->message, "unknown option"));
          g_assert_null (strstr (error->message, "must be of type"));
        }
    }
}

/* The errors are listed as "* ``org.example.ClaudeSandbox.Error.Name``: meaning" in
 * the Manager's doc: exactly the names registered for CSB_ERROR, and the XML names
 * no other. */
static void
test_errors_documented (void)
{
  g_autofree char *xml = read_source ("data", "org.example.ClaudeSandbox.xml", NULL);
  g_autofree char *doc = xml_doc_of (xml, "org.example.ClaudeSandbox.Manager");
  g_autoptr(GRegex) bullet = g_regex_new ("^ *\\* ``(org\\.example\\.ClaudeSandbox\\.Error\\."
                                          "[A-Za-z]+)``: ", G_REGEX_MULTILINE, 0, NULL);
  g_autoptr(GRegex) mention = g_regex_new ("org\\.example\\.ClaudeSandbox\\.Error\\.([A-Za-z]+)",
                                           0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  g_autoptr(GPtrArray) documented = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) registered = g_ptr_array_new_with_free_func (g_free);

  g_regex_match (bullet, doc, 0, &match);
  for (; g_match_info_matches (match); g_match_info_next (match, NULL))
    g_ptr_array_add (documented, g_match_info_fetch (match, 1));
  g_ptr_array_add (documented, NULL);

  for (int code = 0; code < CSB_N_ERRORS; code++)
    {
      g_autoptr(GError) error = g_error_new_literal (CSB_ERROR, code, "x");

      g_ptr_array_add (registered, g_dbus_error_encode_gerror (error));
    }
  g_ptr_array_add (registered, NULL);
  g_assert_cmpstrv ((char **) documented->pdata, (char **) registered->pdata);

  g_clear_pointer (&match, g_match_info_unref);
  g_regex_match (mention, xml, 0, &match);
  for (; g_match_info_matches (match); g_match_info_next (match, NULL))
    {
      g_autofree char *name = g_match_info_fetch (match, 0);

      if (!g_strv_contains ((const char * const *) registered->pdata, name))
        g_error ("the D-Bus XML names the error %s, which the service does not have", name);
    }
}

/* Each interface says "This documentation describes version N of this interface"
 * and has a "version" property of type u; N is what the service publishes there
 * (test-bus /bus/version and /bus/sandbox/object-manager check that it does). */
static void
test_versions_documented (void)
{
  const struct { const char *name; guint version; } interfaces[] = {
    { "org.example.ClaudeSandbox.Manager", CSB_MANAGER_INTERFACE_VERSION },
    { "org.example.ClaudeSandbox.Sandbox", CSB_SANDBOX_INTERFACE_VERSION },
  };
  g_autofree char *xml = read_source ("data", "org.example.ClaudeSandbox.xml", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusNodeInfo) node = g_dbus_node_info_new_for_xml (xml, &error);
  g_autoptr(GRegex) says = g_regex_new ("This documentation describes version ([0-9]+) of "
                                        "this interface\\.", 0, 0, NULL);

  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length ((char **) node->interfaces), ==, G_N_ELEMENTS (interfaces));
  for (guint i = 0; i < G_N_ELEMENTS (interfaces); i++)
    {
      g_autofree char *doc = xml_doc_of (xml, interfaces[i].name);
      g_autofree char *collapsed = collapse_space (doc);
      g_autoptr(GMatchInfo) match = NULL;
      g_autofree char *number = NULL;
      GDBusInterfaceInfo *info = g_dbus_node_info_lookup_interface (node, interfaces[i].name);
      GDBusPropertyInfo *property;

      g_assert_nonnull (info);
      property = g_dbus_interface_info_lookup_property (info, "version");
      g_assert_nonnull (property);
      g_assert_cmpstr (property->signature, ==, "u");
      g_assert_cmpint (property->flags, ==, G_DBUS_PROPERTY_INFO_FLAGS_READABLE);

      if (!g_regex_match (says, collapsed, 0, &match))
        g_error ("the doc of %s does not say which version it describes", interfaces[i].name);
      number = g_match_info_fetch (match, 1);
      g_assert_cmpuint (g_ascii_strtoull (number, NULL, 10), ==, interfaces[i].version);
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
  g_test_add_func ("/api/launch-options", test_launch_options_documented);
  g_test_add_func ("/api/errors", test_errors_documented);
  g_test_add_func ("/api/versions", test_versions_documented);
  return g_test_run ();
}
