/* csb-plan-writer.c — the guest plan's writer (csb-plan-writer.h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "csb-plan-writer.h"

void
csb_plan_add (GByteArray     *plan,
              CsbPlanKeyword  keyword,
              ...)
{
  const char *args[8];
  int n_args = 0;
  va_list ap;

  g_return_if_fail (plan != NULL);
  g_return_if_fail (csb_plan_keyword_word (keyword) != NULL);

  va_start (ap, keyword);
  for (const char *arg = va_arg (ap, const char *); arg != NULL; arg = va_arg (ap, const char *))
    {
      if (n_args < (int) G_N_ELEMENTS (args))
        args[n_args] = arg;
      n_args++;
    }
  va_end (ap);
  if (n_args != csb_plan_keyword_n_args (keyword))
    {
      g_critical ("plan entry '%s' given %d arguments, it takes %d",
                  csb_plan_keyword_word (keyword), n_args, csb_plan_keyword_n_args (keyword));
      return;
    }

  g_byte_array_append (plan, (const guint8 *) csb_plan_keyword_word (keyword),
                       strlen (csb_plan_keyword_word (keyword)) + 1);
  for (int i = 0; i < n_args; i++)
    g_byte_array_append (plan, (const guint8 *) args[i], strlen (args[i]) + 1);
}
