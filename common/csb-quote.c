/* csb-quote.c — names a sandbox chose, quoted as git quotes paths.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "csb-quote.h"

/* Whether @c shows as itself on a line of its own (and needs no escape in quotes). */
static gboolean
shows_as_itself (gunichar c,
                 gboolean in_quotes)
{
  switch (g_unichar_type (c))
    {
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_UNASSIGNED:
    case G_UNICODE_PRIVATE_USE:
    case G_UNICODE_SURROGATE:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
      return FALSE;
    default:
      return !in_quotes || (c != '"' && c != '\\');
    }
}

/* Whether @name needs quotes; with @out, appends it escaped: each character that does
 * not show as itself (or each byte of an invalid sequence) as an escape. */
static gboolean
scan (const char *name,
      gboolean    in_quotes,
      GString    *out)
{
  gboolean quoted = FALSE;

  for (const char *s = name; *s != '\0';)
    {
      gunichar c = g_utf8_get_char_validated (s, -1);
      gsize len = c < (gunichar) -2 ? (gsize) (g_utf8_next_char (s) - s) : 1;

      if (c < (gunichar) -2 && shows_as_itself (c, in_quotes))
        {
          if (out != NULL)
            g_string_append_len (out, s, len);
          s += len;
          continue;
        }
      quoted = TRUE;
      if (out == NULL)
        return TRUE;
      for (gsize i = 0; i < len; i++, s++)
        {
          guchar b = (guchar) *s;

          switch (b)
            {
            case '\n': g_string_append (out, "\\n"); break;
            case '\t': g_string_append (out, "\\t"); break;
            case '\r': g_string_append (out, "\\r"); break;
            case '"': g_string_append (out, "\\\""); break;
            case '\\': g_string_append (out, "\\\\"); break;
            default: g_string_append_printf (out, "\\%03o", b); break;
            }
        }
    }
  return quoted;
}

gboolean
csb_name_needs_quotes (const char *name)
{
  g_return_val_if_fail (name != NULL, FALSE);

  return scan (name, TRUE, NULL);
}

/* @prefix (ours, plain: "a/", "b/" or "") and @name, quoted as one if @name needs it:
 * "a/new\nline" as git writes it. */
char *
csb_quote_name (const char *prefix,
                const char *name)
{
  GString *out;

  g_return_val_if_fail (prefix != NULL && name != NULL, NULL);

  if (!csb_name_needs_quotes (name))
    return g_strconcat (prefix, name, NULL);
  out = g_string_new ("\"");
  g_string_append (out, prefix);
  scan (name, TRUE, out);
  g_string_append_c (out, '"');
  return g_string_free (out, FALSE);
}

char *
csb_show_text (const char *text)
{
  GString *out;

  g_return_val_if_fail (text != NULL, NULL);

  out = g_string_new (NULL);
  scan (text, FALSE, out);
  return g_string_free (out, FALSE);
}
