/* test-escape-filter.c — what of a sandbox's output reaches the user's terminal
 * (CsbEscapeFilter): a full-screen program's drawing passes unchanged; clipboard
 * writes, links, report requests, device control strings and C1 controls do not;
 * and all of it the same whichever way the stream is cut into reads.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include "csb-escape-filter.h"
#include "csb-quote.h"

/* The filter's output for @input fed in one piece. */
static char *
filter_whole (const char *input,
              gsize       len)
{
  g_autoptr(CsbEscapeFilter) filter = csb_escape_filter_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();

  csb_escape_filter_feed (filter, (const guint8 *) input, len, out);
  return out->len > 0 ? g_strndup ((const char *) out->data, out->len) : g_strdup ("");
}

/* The same, fed in pieces cut at @cuts (increasing offsets, ending with @len). */
static char *
filter_cut (const char  *input,
            gsize        len,
            const gsize *cuts,
            guint        n_cuts)
{
  g_autoptr(CsbEscapeFilter) filter = csb_escape_filter_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  gsize from = 0;

  for (guint i = 0; i < n_cuts; i++)
    {
      csb_escape_filter_feed (filter, (const guint8 *) input + from, cuts[i] - from, out);
      from = cuts[i];
    }
  return out->len > 0 ? g_strndup ((const char *) out->data, out->len) : g_strdup ("");
}

static char *
escaped (const char *text)
{
  return g_strescape (text, NULL);
}

/* @input gives @expected in one piece, one byte at a time, and cut in two at
 * every offset: a sequence split across reads is the same sequence. */
static void
assert_filters_to (const char *input,
                   gsize       len,
                   const char *expected)
{
  g_autofree char *whole = filter_whole (input, len);
  g_autofree char *shown_whole = escaped (whole);
  g_autofree char *shown_expected = escaped (expected);
  g_autofree gsize *bytes = g_new (gsize, len + 1);

  g_assert_cmpstr (shown_whole, ==, shown_expected);

  for (gsize i = 0; i < len; i++)
    bytes[i] = i + 1;
  {
    g_autofree char *one_by_one = filter_cut (input, len, bytes, len);
    g_autofree char *shown = escaped (one_by_one);

    g_assert_cmpstr (shown, ==, shown_expected);
  }
  for (gsize cut = 1; cut < len; cut++)
    {
      gsize cuts[] = { cut, len };
      g_autofree char *two = filter_cut (input, len, cuts, G_N_ELEMENTS (cuts));

      if (!g_str_equal (two, expected))
        {
          g_autofree char *shown = escaped (two);
          g_test_message ("cut at %" G_GSIZE_FORMAT, cut);
          g_assert_cmpstr (shown, ==, shown_expected);
        }
    }
}

#define ASSERT_FILTERS_TO(input, expected) \
  assert_filters_to ((input), strlen (input), (expected))

/* ---- what passes -------------------------------------------------------------------------- */

/* What Claude Code's interface (Ink) and a shell draw (checked against a capture of
 * Claude Code 2's start-up, whose only sequences dropped were its two queries): the alternate screen, bracketed
 * paste, focus events, synchronized output, the keyboard protocols, mouse modes,
 * truecolour and 256-colour SGR, erasing lines as Ink redraws, cursor shape, charsets,
 * scrolling regions, a window title ended by ST, UTF-8 text and the C0 controls. */
static const char tui_stream[] =
  "\033]0;\xe2\x9c\xb3 Claude Code\033\\"
  "\033[?1049h\033[?2004h\033[?1004h\033[?2031h\033[?25l\033[>1u\033[>4;2m\033[=1;1u"
  "\033[?2026h\033[H\033[2J\033[3J"
  "\033[38;2;215;119;87m\xe2\x95\xad\xe2\x94\x80\xe2\x94\x80\xe2\x95\xae\033[39m\r\n"
  "\033[1m\xe2\x9c\xbb\033[22m Welcome to \033[1;38;5;209mClaude Code\033[0m!\r\n"
  "\033[2m  /help for help, /status for your current setup\033[0m\r\n"
  "\033[48;2;55;55;55m\033[38;2;153;153;153m> \033[7m \033[27m\033[49m\033[39m\033[K\r\n"
  "\033[2K\033[1A\033[2K\033[1A\033[2K\033[G"
  "  \033[32m\xe2\x8f\xba\033[39m Update(\033[1msrc/main.c\033[22m)\r\n"
  "    \033[48;5;22m+ int x = 1;\033[49m\t\033[3mcaf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89\033[23m\r\n"
  "\033[?2026l\033[?1000h\033[?1002h\033[?1006h\033[?1000l\033[?1002l\033[?1006l"
  "\033[5 q\033[0 q\033(0lqk\033(B\033)0\016x\017\0337\0338\033[1;24r\033[r\033[s\033[u"
  "\033[3A\033[2B\033[10C\033[4D\033[5G\033[12;40H\033[4P\033[2@\033[3X\033[L\033[M\033[2S\033[T"
  "\033[4h\033[4l\033[!p\033=\033>\033M\033D\033E\007\b"
  "\033[<u\033[>4m\033[?2031l\033[?1004l\033[?2004l\033[?25h\033[?1049l";

static void
test_passes_tui (void)
{
  assert_filters_to (tui_stream, strlen (tui_stream), tui_stream);
}

/* Window titles are rebuilt: ended by ST, control characters (C0 and C1, as UTF-8 or
 * as bytes) taken out, the text otherwise kept. */
static void
test_title (void)
{
  ASSERT_FILTERS_TO ("a\033]2;my title\007b", "a\033]2;my title\033\\b");
  ASSERT_FILTERS_TO ("\033]0;x\r\ny\xc2\x9b" "6n\033\\", "\033]0;xy6n\033\\");
  /* OSC 1 (the icon name) and titles with a number written otherwise are not titles. */
  ASSERT_FILTERS_TO ("\033]1;icon\007.", ".");
  ASSERT_FILTERS_TO ("\033]02;t\007.", ".");
}

/* ---- what does not ---------------------------------------------------------------------- */

typedef struct
{
  const char *name;
  const char *input;
  const char *expected;
} Dropped;

static const Dropped dropped[] = {
  /* OSC 52: writing (and asking for) the clipboard, ended by BEL or by ST. */
  { "osc52-bel", "a\033]52;c;ZWNobyBwd25lZAo=\007b", "ab" },
  { "osc52-st", "a\033]52;c;ZWNobyBwd25lZAo=\033\\b", "ab" },
  { "osc52-query", "a\033]52;c;?\007b", "ab" },
  /* OSC 8: the link goes, its text stays. */
  { "osc8-hyperlink", "see \033]8;;https://evil.example/\033\\the docs\033]8;;\033\\.",
    "see the docs." },
  { "osc8-with-params", "\033]8;id=1;file:///etc/passwd\007x\033]8;;\007", "x" },
  /* Every other OSC: colour queries and sets, the working folder, notifications,
   * iTerm2's file transfer, prompt marks, progress. */
  { "osc4-colour", "\033]4;1;?\007\033]4;1;rgb:ff/00/00\007.", "." },
  { "osc10-11-query", "\033]10;?\007\033]11;?\033\\.", "." },
  { "osc7-cwd", "\033]7;file://host/tmp\007.", "." },
  { "osc9-notify", "\033]9;you have been pwned\007\033]777;notify;a;b\007.", "." },
  { "osc1337", "\033]1337;File=name=eA==;inline=1:QUFBQQ==\007.", "." },
  { "osc133", "\033]133;A\007.", "." },
  { "osc-no-number", "\033];x\007.", "." },
  /* Report requests: the terminal would type its answer. */
  { "dsr-cursor", "a\033[6nb", "ab" },
  { "dsr-status", "a\033[5nb", "ab" },
  { "dsr-private", "a\033[?6n\033[?15nb", "ab" },
  { "da1", "a\033[c\033[0cb", "ab" },
  { "da2", "a\033[>c\033[>0cb", "ab" },
  { "da3", "a\033[=cb", "ab" },
  { "window-title-report", "a\033[21tb", "ab" },
  { "window-size-reports", "a\033[14t\033[18t\033[19t\033[13t\033[11tb", "ab" },
  { "window-ops", "a\033[8;100;300t\033[3;0;0t\033[2t\033[22;0t\033[>3tb", "ab" },
  { "decreqtparm", "a\033[xb", "ab" },
  { "decrqm-private", "a\033[?2004$pb", "ab" },
  { "decrqm-ansi", "a\033[4$pb", "ab" },
  { "xtversion", "a\033[>q\033[>0qb", "ab" },
  /* What Claude Code 2's start-up asks (XTVERSION, then DA1 as a sentinel): it goes
   * on without answers, as with a terminal that gives none. */
  { "claude-code-startup-queries", "\033[?2004h\033[>0q\033[c\033[?25l", "\033[?2004h\033[?25l" },
  { "kitty-keyboard-query", "a\033[?ub", "ab" },
  { "xtqmodkeys", "a\033[?4mb", "ab" },
  { "xtsmgraphics", "a\033[?1;1;0Sb", "ab" },
  { "decrqcra", "a\033[1;1;1;1;1;1*yb", "ab" },
  { "decid", "a\033Zb", "ab" },
  /* Modes that take the keyboard or the 7-bit world away. */
  { "kam", "a\033[2hb", "ab" },
  { "srm", "a\033[12lb", "ab" },
  { "s8c1t", "a\033 Gb", "ab" },
  { "leave-utf8", "a\033%@b", "ab" },
  { "decscl", "a\033[62;1\"pb", "ab" },
  /* Device control strings, all of them. */
  { "decrqss", "a\033P$qm\033\\b", "ab" },
  { "decrqss-sgr-then-text", "\033P$q\"p\033\\ok", "ok" },
  { "xtgettcap", "a\033P+q544e;636f6c6f7273\033\\b", "ab" },
  { "tmux-passthrough", "a\033Ptmux;\033\033]52;c;ZXZpbA==\007\033\\b", "ab" },
  { "sixel", "a\033Pq#0;2;0;0;0#1!14~-\033\\b", "ab" },
  { "decudk", "a\033P1;1|17/6563686f\033\\b", "ab" },
  /* SOS, PM, APC (kitty graphics), screen's title string. */
  { "apc", "a\033_Gf=100,a=T;iVBORw0KGgo=\033\\b", "ab" },
  { "pm", "a\033^private\033\\b", "ab" },
  { "sos", "a\033Xstring\033\\b", "ab" },
  { "screen-title", "a\033kname\033\\b", "ab" },
  /* C1 controls: 8-bit bytes, and UTF-8 encoded (U+009B CSI, U+009D OSC). The rest of
   * the would-be sequence is plain text then. */
  { "c1-8bit-csi", "a\x9b" "6nb", "a6nb" },
  { "c1-8bit-osc", "a\x9d" "52;c;eA==\x9c" "b", "a52;c;eA==b" },
  { "c1-8bit-dcs", "a\x90$qm\x9c" "b", "a$qmb" },
  { "c1-utf8-csi", "a\xc2\x9b" "6nb", "a6nb" },
  { "c1-utf8-osc", "a\xc2\x9d" "52;c;eA==\xc2\x9c" "b", "a52;c;eA==b" },
  /* Not UTF-8: an overlong ESC, a stray continuation, a surrogate. */
  { "overlong-esc", "a\xc0\x9b[6nb", "a[6nb" },
  { "overlong-3", "a\xe0\x80\x9b" "b", "ab" },
  { "stray", "a\xbf" "b", "ab" },
  { "surrogate", "a\xed\xa0\x80" "b", "ab" },
  /* Cancelled and malformed sequences. */
  { "can", "a\033[6\030nb", "anb" },
  { "sub-in-string", "a\033]52;c;eA==\032b", "ab" },
  { "esc-restarts", "a\033[6\033[1mb", "a\033[1mb" },
  { "param-after-intermediate", "a\033[1$2mb", "ab" },
  { "private-marker-late", "a\033[1?25hb", "ab" },
};

static void
test_dropped (gconstpointer data)
{
  const Dropped *d = data;
  g_autoptr(CsbEscapeFilter) filter = csb_escape_filter_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();

  assert_filters_to (d->input, strlen (d->input), d->expected);
  csb_escape_filter_feed (filter, (const guint8 *) d->input, strlen (d->input), out);
  g_assert_cmpuint (csb_escape_filter_get_n_dropped (filter), >, 0);
}

/* ---- bounds -------------------------------------------------------------------------------- */

/* A string that never ends is not kept whole: at most its first 4 KiB. What follows
 * its terminator is text again; an OSC title too long is dropped. */
static void
test_runaway (void)
{
  static const char * const openers[] = { "\033]52;c;", "\033]0;", "\033P$q", "\033_G" };
  const gsize n = 1024 * 1024;

  for (guint i = 0; i < G_N_ELEMENTS (openers); i++)
    {
      g_autoptr(CsbEscapeFilter) filter = csb_escape_filter_new ();
      g_autoptr(GByteArray) out = g_byte_array_new ();
      g_autofree char *payload = g_malloc (n);

      memset (payload, 'A', n);
      csb_escape_filter_feed (filter, (const guint8 *) openers[i], strlen (openers[i]), out);
      for (guint chunk = 0; chunk < 16; chunk++)
        csb_escape_filter_feed (filter, (const guint8 *) payload, n, out);
      g_assert_cmpuint (out->len, ==, 0);
      csb_escape_filter_feed (filter, (const guint8 *) "\033\\after", 7, out);
      g_assert_cmpmem (out->data, out->len, "after", 5);
    }

  /* An overlong CSI: dropped to its final byte. */
  {
    g_autoptr(GString) csi = g_string_new ("\033[");
    g_autofree char *result = NULL;

    for (guint i = 0; i < 1000; i++)
      g_string_append (csi, "1;");
    g_string_append (csi, "mafter");
    result = filter_whole (csi->str, csi->len);
    g_assert_cmpstr (result, ==, "after");
  }
  /* A title of exactly the limit is kept, one byte more is not. */
  {
    g_autoptr(GString) title = g_string_new ("\033]2;");
    g_autofree char *kept = NULL;
    g_autofree char *longer = NULL;

    for (guint i = 0; i < CSB_ESCAPE_FILTER_STRING_MAX - 2; i++)
      g_string_append_c (title, 't');
    g_string_append (title, "\007");
    kept = filter_whole (title->str, title->len);
    g_assert_cmpuint (strlen (kept), ==, CSB_ESCAPE_FILTER_STRING_MAX - 2 + 6);
    g_string_insert_c (title, 4, 't');
    longer = filter_whole (title->str, title->len);
    g_assert_cmpstr (longer, ==, "");
  }
}

/* Cut anywhere, a stream mixing everything gives what it gives whole. */
static void
test_split_everywhere (void)
{
  g_autoptr(GString) mixed = g_string_new (tui_stream);
  g_autofree char *whole = NULL;
  g_autofree gsize *cuts = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (dropped); i++)
    g_string_append (mixed, dropped[i].input);
  whole = filter_whole (mixed->str, mixed->len);
  /* Every dropped class left only its expected text behind. */
  {
    g_autoptr(GString) expected = g_string_new (tui_stream);
    for (guint i = 0; i < G_N_ELEMENTS (dropped); i++)
      g_string_append (expected, dropped[i].expected);
    g_assert_cmpstr (whole, ==, expected->str);
  }
  /* Random cuts, a few hundred times. */
  cuts = g_new (gsize, mixed->len);
  for (guint round = 0; round < 300; round++)
    {
      g_autofree char *cut_result = NULL;
      guint n_cuts = 0;
      gsize at = 0;

      while (at < mixed->len)
        {
          at = MIN (mixed->len, at + (gsize) g_test_rand_int_range (1, 9));
          cuts[n_cuts++] = at;
        }
      cut_result = filter_cut (mixed->str, mixed->len, cuts, n_cuts);
      g_assert_cmpstr (cut_result, ==, whole);
    }
}

/* Names a sandbox chose, quoted as git quotes paths: plain names as they are, others
 * in quotes with every byte that would not show as itself escaped. */
static void
test_quote_names (void)
{
  static const struct { const char *name, *quoted; } cases[] = {
    { "src/main.c", "a/src/main.c" },
    { "caf\303\251", "a/caf\303\251" },
    { "x\n+++ b/y", "\"a/x\\n+++ b/y\"" },
    { "tab\there\r", "\"a/tab\\there\\r\"" },
    { "q\"b\\", "\"a/q\\\"b\\\\\"" },
    { "esc\033[2J", "\"a/esc\\033[2J\"" },
    { "bad\377", "\"a/bad\\377\"" },
    { "rlo\342\200\256txt", "\"a/rlo\\342\\200\\256txt\"" },
    { "nel\302\205", "\"a/nel\\302\\205\"" },
    { "ls\342\200\250", "\"a/ls\\342\\200\\250\"" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *quoted = csb_quote_name ("a/", cases[i].name);

      g_assert_cmpstr (quoted, ==, cases[i].quoted);
      g_assert_null (strchr (quoted, '\n'));
    }
  {
    g_autofree char *shown = csb_show_text ("new symlink \342\206\222 \"t\"\r");

    g_assert_cmpstr (shown, ==, "new symlink \342\206\222 \"t\"\\r");
  }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/escape-filter/passes/tui", test_passes_tui);
  g_test_add_func ("/escape-filter/passes/title", test_title);
  for (guint i = 0; i < G_N_ELEMENTS (dropped); i++)
    {
      g_autofree char *path = g_strdup_printf ("/escape-filter/drops/%s", dropped[i].name);
      g_test_add_data_func (path, &dropped[i], test_dropped);
    }
  g_test_add_func ("/escape-filter/runaway", test_runaway);
  g_test_add_func ("/escape-filter/split-everywhere", test_split_everywhere);
  g_test_add_func ("/escape-filter/quote-names", test_quote_names);
  return g_test_run ();
}
