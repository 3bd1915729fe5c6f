/* csb-escape-filter.c
 *
 * The states follow the DEC/ECMA-48 parser terminals use (vt100.net's), cut down to
 * what we decide on: a sequence is collected until its final byte and then passed on
 * as it is or dropped; strings (OSC, DCS, SOS, PM, APC) are collected (OSC, bounded)
 * or skipped (the rest) up to their terminator. C0 controls inside a sequence act at
 * once, as in a terminal; CAN and SUB cancel it; ESC starts a new one.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "csb-escape-filter.h"

/* An escape or control sequence longer than this is dropped (SGR with two truecolour
 * colours and a few attributes is ~50 bytes). */
#define SEQ_MAX 256

#define ESC 0x1b
#define BEL 0x07
#define CAN 0x18
#define SUB 0x1a
#define DEL 0x7f

typedef enum
{
  STATE_GROUND,
  STATE_ESCAPE,          /* after ESC */
  STATE_ESCAPE_INTER,    /* ESC and intermediates (0x20–0x2f) */
  STATE_CSI,             /* ESC [ and parameters, intermediates */
  STATE_CSI_IGNORE,      /* a malformed or overlong CSI, skipped to its final byte */
  STATE_OSC,             /* ESC ] payload */
  STATE_STRING_IGNORE,   /* DCS, SOS, PM, APC (and screen's ESC k title) */
  STATE_STRING_ESC,      /* ESC inside a string: ST if '\' follows */
} State;

struct _CsbEscapeFilter
{
  State       state;
  gboolean    string_is_osc;  /* the string being skipped or kept is an OSC (BEL ends it) */
  gboolean    string_kept;    /* STATE_STRING_ESC: the string is the OSC being kept */
  GByteArray *seq;          /* the escape sequence so far, ESC included */
  GByteArray *osc;          /* the OSC payload so far */
  guint8      utf8[4];      /* a UTF-8 character begun in an earlier byte */
  guint       utf8_len;
  guint       utf8_need;
  guint64     n_dropped;
};

CsbEscapeFilter *
csb_escape_filter_new (void)
{
  CsbEscapeFilter *self = g_new0 (CsbEscapeFilter, 1);

  self->state = STATE_GROUND;
  self->seq = g_byte_array_sized_new (SEQ_MAX);
  self->osc = g_byte_array_new ();
  return self;
}

void
csb_escape_filter_free (CsbEscapeFilter *self)
{
  if (self == NULL)
    return;
  g_byte_array_unref (self->seq);
  g_byte_array_unref (self->osc);
  g_free (self);
}

guint64
csb_escape_filter_get_n_dropped (CsbEscapeFilter *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_dropped;
}

static void
drop (CsbEscapeFilter *self,
      State            next)
{
  self->n_dropped++;
  g_byte_array_set_size (self->seq, 0);
  self->state = next;
}

static void
start_escape (CsbEscapeFilter *self)
{
  guint8 esc = ESC;

  g_byte_array_set_size (self->seq, 0);
  g_byte_array_append (self->seq, &esc, 1);
  self->state = STATE_ESCAPE;
}

/* ---- text ------------------------------------------------------------------------------ */

static gboolean
utf8_continues (CsbEscapeFilter *self,
                guint8           b)
{
  guint8 lead = self->utf8[0];

  if (b < 0x80 || b > 0xbf)
    return FALSE;
  /* The second byte rules out overlong forms, surrogates and code points past
   * U+10FFFF (an overlong ESC, C0 9B, must not become one). */
  if (self->utf8_len == 1)
    {
      if (lead == 0xe0)
        return b >= 0xa0;
      if (lead == 0xed)
        return b <= 0x9f;
      if (lead == 0xf0)
        return b >= 0x90;
      if (lead == 0xf4)
        return b <= 0x8f;
    }
  return TRUE;
}

static void
ground_byte (CsbEscapeFilter *self,
             guint8           b,
             GByteArray      *out)
{
  if (self->utf8_need > 0)
    {
      if (utf8_continues (self, b))
        {
          self->utf8[self->utf8_len++] = b;
          if (--self->utf8_need > 0)
            return;
          /* U+0080–U+009F are the C1 controls (CSI, OSC, DCS… in one character),
           * which terminals in UTF-8 mode act on too. */
          if (self->utf8[0] == 0xc2 && self->utf8[1] < 0xa0)
            self->n_dropped++;
          else
            g_byte_array_append (out, self->utf8, self->utf8_len);
          self->utf8_len = 0;
          return;
        }
      /* Not UTF-8: what was held goes, @b starts afresh. */
      self->utf8_len = 0;
      self->utf8_need = 0;
      self->n_dropped++;
    }

  if (b < 0x80)
    {
      if (b == ESC)
        start_escape (self);
      else
        g_byte_array_append (out, &b, 1);
      return;
    }
  if (b >= 0xc2 && b <= 0xdf)
    self->utf8_need = 1;
  else if (b >= 0xe0 && b <= 0xef)
    self->utf8_need = 2;
  else if (b >= 0xf0 && b <= 0xf4)
    self->utf8_need = 3;
  else
    {
      /* A C1 control as one byte (0x80–0x9f, what an 8-bit terminal acts on), a
       * stray continuation byte, or a byte UTF-8 never has. */
      self->n_dropped++;
      return;
    }
  self->utf8[0] = b;
  self->utf8_len = 1;
}

/* ---- escape and control sequences ------------------------------------------------------ */

/* ESC + one final byte: cursor save/restore, keypad modes, index, next line, tab
 * set, reverse index, full reset, single and locking shifts. Not DECID (ESC Z, a
 * report request). */
static gboolean
escape_allowed (GByteArray *seq,
                guint8      final)
{
  if (seq->len == 1)
    return strchr ("6789=>DEFHMNOcno|}~", final) != NULL;
  if (seq->len == 2)
    {
      guint8 inter = seq->data[1];

      /* Charset designation (G0–G3): ESC ( B, ESC ) 0… */
      if (strchr ("()*+-./", inter) != NULL)
        return TRUE;
      /* Double-height/width lines and the screen alignment test. */
      if (inter == '#')
        return final >= '3' && final <= '8';
    }
  /* Not ESC SP F/G (7/8-bit controls), ESC % (leaving UTF-8), anything longer. */
  return FALSE;
}

/* Whether every parameter of a CSI is one of @allowed. */
static gboolean
params_among (const guint8 *params,
              gsize         len,
              const int    *allowed,
              guint         n_allowed)
{
  g_autofree char *text = g_strndup ((const char *) params, len);
  g_auto(GStrv) values = g_strsplit (text, ";", -1);

  for (guint i = 0; values[i] != NULL; i++)
    {
      gboolean found = FALSE;
      int value = atoi (values[i]);

      for (guint j = 0; j < n_allowed && !found; j++)
        found = value == allowed[j] && values[i][0] != '\0';
      if (!found)
        return FALSE;
    }
  return TRUE;
}

/* A whole CSI (ESC [ P… I… F) that only draws or sets a mode. */
static gboolean
csi_allowed (GByteArray *seq,
             guint8      final)
{
  const guint8 *p = seq->data + 2;
  gsize n = seq->len - 2;
  guint8 prefix = 0;
  gsize n_params = 0;
  gsize n_inter;

  if (n > 0 && p[0] >= '<' && p[0] <= '?')
    {
      prefix = p[0];
      p++;
      n--;
    }
  while (n_params < n && p[n_params] >= 0x30 && p[n_params] <= 0x3f)
    {
      if (!g_ascii_isdigit (p[n_params]) && p[n_params] != ';' && p[n_params] != ':')
        return FALSE;
      n_params++;
    }
  n_inter = n - n_params;

  if (n_inter == 0)
    switch (prefix)
      {
      case 0:
        /* SM/RM: only insert mode and newline mode; not KAM (2), which locks the
         * keyboard, nor SRM (12), local echo. */
        if (final == 'h' || final == 'l')
          {
            static const int modes[] = { 4, 20 };
            return params_among (p, n_params, modes, G_N_ELEMENTS (modes));
          }
        /* Cursor movement, erasing, inserting and deleting, scrolling, tabs, SGR,
         * scrolling region, cursor save/restore. Not DSR (n), DA (c), window
         * operations and reports (t), DECREQTPARM (x), nor anything unlisted. */
        return strchr ("@ABCDEFGHIJKLMPSTXZ`abdefgmrsu", final) != NULL;
      case '?':
        /* DECSET/DECRST (alternate screen, bracketed paste, mouse, focus…),
         * selective erase, XTSAVE/XTRESTORE. Not DECRQM (?…$p, has an
         * intermediate), DSR (?…n), XTSMGRAPHICS (?…S), keyboard queries (?u). */
        return strchr ("hlJKrs", final) != NULL;
      case '>':
        /* modifyOtherKeys (XTMODKEYS) and the kitty keyboard protocol's push. Not
         * DA2 (>c), XTVERSION (>q), XTQMODKEYS (?m is a query too, not allowed). */
        return final == 'm' || final == 'u';
      case '<':
      case '=':
        /* The kitty keyboard protocol's pop and set. */
        return final == 'u';
      default:
        return FALSE;
      }

  if (n_inter == 1 && prefix == 0)
    {
      /* DECSCUSR (cursor shape), DECSTR (soft reset). Not DECRQM ($p), DECSCL ("p),
       * DECRQCRA (*y), locator requests ('|). */
      if (p[n_params] == ' ' && final == 'q')
        return TRUE;
      if (p[n_params] == '!' && final == 'p')
        return TRUE;
    }
  return FALSE;
}

/* ---- strings --------------------------------------------------------------------------- */

/* OSC 0 and 2 set the window title (the one thing an OSC may still do), rebuilt
 * with no control character in it; every other OSC is dropped. OSC 8's links go
 * with it and leave their text: the text between the two OSC 8 is ordinary output. */
static void
end_osc (CsbEscapeFilter *self,
         GByteArray      *out)
{
  const char *payload = (const char *) self->osc->data;
  gsize len = self->osc->len;
  const char *semicolon = len > 0 ? memchr (payload, ';', len) : NULL;
  g_autofree char *title = NULL;
  g_autoptr(GString) clean = NULL;

  self->state = STATE_GROUND;
  if (len == 0 || semicolon == NULL ||
      !((semicolon - payload == 1 && (payload[0] == '0' || payload[0] == '2'))))
    {
      self->n_dropped++;
      return;
    }
  title = g_utf8_make_valid (semicolon + 1, len - (semicolon + 1 - payload));
  clean = g_string_new (NULL);
  for (const char *c = title; *c != '\0'; c = g_utf8_next_char (c))
    {
      gunichar u = g_utf8_get_char (c);

      if (u < 0x20 || (u >= 0x7f && u <= 0x9f))
        continue;
      g_string_append_unichar (clean, u);
    }
  g_byte_array_append (out, (const guint8 *) "\033]", 2);
  g_byte_array_append (out, (const guint8 *) payload, 2);
  g_byte_array_append (out, (const guint8 *) clean->str, clean->len);
  g_byte_array_append (out, (const guint8 *) "\033\\", 2);
}

/* ---- the machine ------------------------------------------------------------------------ */

/* C0 controls inside a sequence: CAN and SUB cancel it, ESC starts another, the rest
 * act as in text. TRUE when @b was one of them. */
static gboolean
sequence_control (CsbEscapeFilter *self,
                  guint8           b,
                  GByteArray      *out)
{
  if (b == ESC)
    {
      self->n_dropped++;
      start_escape (self);
      return TRUE;
    }
  if (b == CAN || b == SUB)
    {
      drop (self, STATE_GROUND);
      return TRUE;
    }
  if (b < 0x20)
    {
      g_byte_array_append (out, &b, 1);
      return TRUE;
    }
  return FALSE;
}

/* A sequence allowed through: on to @out with its final byte @b. */
static void
pass_sequence (CsbEscapeFilter *self,
               guint8           b,
               GByteArray      *out)
{
  g_byte_array_append (out, self->seq->data, self->seq->len);
  g_byte_array_append (out, &b, 1);
  g_byte_array_set_size (self->seq, 0);
  self->state = STATE_GROUND;
}

/* Right after ESC, the bytes that begin a CSI or a string rather than end an
 * escape sequence. TRUE when @b was one. */
static gboolean
escape_introducer (CsbEscapeFilter *self,
                   guint8           b)
{
  switch (b)
    {
    case '[':
      g_byte_array_append (self->seq, &b, 1);
      self->state = STATE_CSI;
      return TRUE;
    case ']':
      g_byte_array_set_size (self->seq, 0);
      g_byte_array_set_size (self->osc, 0);
      self->string_is_osc = TRUE;
      self->state = STATE_OSC;
      return TRUE;
    case 'P':   /* DCS: DECRQSS, XTGETTCAP, tmux passthrough, sixel… */
    case 'X':   /* SOS */
    case '^':   /* PM */
    case '_':   /* APC */
    case 'k':   /* screen's and tmux's title string */
      self->string_is_osc = FALSE;
      drop (self, STATE_STRING_IGNORE);
      return TRUE;
    default:
      return FALSE;
    }
}

/* STATE_ESCAPE, STATE_ESCAPE_INTER: intermediates, then the final byte. */
static void
escape_byte (CsbEscapeFilter *self,
             guint8           b,
             GByteArray      *out)
{
  if (sequence_control (self, b, out) || b == DEL)
    return;
  if (b >= 0x80)
    {
      drop (self, STATE_GROUND);
      ground_byte (self, b, out);
      return;
    }
  if (b <= 0x2f)
    {
      /* An intermediate byte. */
      /* More than one makes a sequence we do not allow anyway. */
      if (self->seq->len < 4)
        g_byte_array_append (self->seq, &b, 1);
      self->state = STATE_ESCAPE_INTER;
      return;
    }
  if (self->state == STATE_ESCAPE && escape_introducer (self, b))
    return;
  if (escape_allowed (self->seq, b))
    pass_sequence (self, b, out);
  else
    drop (self, STATE_GROUND);
}

/* STATE_CSI, STATE_CSI_IGNORE: parameters and intermediates, then the final byte. */
static void
csi_byte (CsbEscapeFilter *self,
          guint8           b,
          GByteArray      *out)
{
  if (sequence_control (self, b, out) || b == DEL)
    return;
  if (b >= 0x80)
    {
      if (self->state == STATE_CSI)
        drop (self, STATE_GROUND);
      else
        self->state = STATE_GROUND;
      ground_byte (self, b, out);
      return;
    }
  if (b >= 0x40)
    {
      /* The final byte. */
      if (self->state == STATE_CSI && csi_allowed (self->seq, b))
        pass_sequence (self, b, out);
      else if (self->state == STATE_CSI)
        drop (self, STATE_GROUND);
      else
        self->state = STATE_GROUND;
      return;
    }
  if (self->state == STATE_CSI_IGNORE)
    return;
  /* A parameter byte after an intermediate is malformed; an overlong one is
   * not worth keeping. Either way it is dropped, to its final byte. */
  if (self->seq->len >= SEQ_MAX ||
      (b >= 0x30 && self->seq->len > 2 && self->seq->data[self->seq->len - 1] <= 0x2f))
    {
      drop (self, STATE_CSI_IGNORE);
      return;
    }
  g_byte_array_append (self->seq, &b, 1);
}

/* STATE_OSC: the payload, kept (bounded) up to BEL or ESC \. */
static void
osc_byte (CsbEscapeFilter *self,
          guint8           b,
          GByteArray      *out)
{
  if (b == BEL)
    end_osc (self, out);
  else if (b == ESC)
    {
      self->string_kept = TRUE;
      self->state = STATE_STRING_ESC;
    }
  else if (b == CAN || b == SUB)
    drop (self, STATE_GROUND);
  else if (self->osc->len < CSB_ESCAPE_FILTER_STRING_MAX)
    g_byte_array_append (self->osc, &b, 1);
  else
    {
      /* Runaway: dropped, and what follows up to its end is skipped unkept. */
      g_byte_array_set_size (self->osc, 0);
      drop (self, STATE_STRING_IGNORE);
    }
}

/* STATE_STRING_IGNORE: skipped up to its terminator. */
static void
string_ignore_byte (CsbEscapeFilter *self,
                    guint8           b)
{
  if (b == ESC)
    {
      self->string_kept = FALSE;
      self->state = STATE_STRING_ESC;
    }
  else if (b == CAN || b == SUB || (b == BEL && self->string_is_osc))
    self->state = STATE_GROUND;
}

/* STATE_STRING_ESC: ESC inside a string, ST if '\' follows. */
static void
string_esc_byte (CsbEscapeFilter *self,
                 guint8           b,
                 GByteArray      *out)
{
  if (b == '\\')
    {
      /* ST: the string is complete. */
      if (self->string_kept)
        end_osc (self, out);
      else
        self->state = STATE_GROUND;
      return;
    }
  /* Any other ESC ends (and so cancels) the string and begins a sequence. */
  if (self->string_kept)
    self->n_dropped++;
  start_escape (self);
  escape_byte (self, b, out);
}

static void
feed_byte (CsbEscapeFilter *self,
           guint8           b,
           GByteArray      *out)
{
  switch (self->state)
    {
    case STATE_GROUND:
      ground_byte (self, b, out);
      return;
    case STATE_ESCAPE:
    case STATE_ESCAPE_INTER:
      escape_byte (self, b, out);
      return;
    case STATE_CSI:
    case STATE_CSI_IGNORE:
      csi_byte (self, b, out);
      return;
    case STATE_OSC:
      osc_byte (self, b, out);
      return;
    case STATE_STRING_IGNORE:
      string_ignore_byte (self, b);
      return;
    case STATE_STRING_ESC:
      string_esc_byte (self, b, out);
      return;
    default:
      g_assert_not_reached ();
    }
}

void
csb_escape_filter_feed (CsbEscapeFilter *self,
                        const guint8    *data,
                        gsize            len,
                        GByteArray      *out)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (data != NULL || len == 0);
  g_return_if_fail (out != NULL);

  for (gsize i = 0; i < len; i++)
    feed_byte (self, data[i], out);
}
