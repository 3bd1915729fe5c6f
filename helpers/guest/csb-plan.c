/* csb-plan.c — the guest plan's keywords, and its reader for the inits (csb-plan.h).
 * Plain libc: the inits are static programs that run before anything else.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csb-plan.h"

static const struct
{
  const char *word;
  int         n_args;
} keywords[CSB_PLAN_N_KEYWORDS] = {
#define CSB_PLAN_ENTRY_(name, word, n_args) [CSB_PLAN_##name] = { word, n_args },
  CSB_PLAN_KEYWORDS (CSB_PLAN_ENTRY_)
#undef CSB_PLAN_ENTRY_
};

const char *
csb_plan_keyword_word (CsbPlanKeyword keyword)
{
  return keyword < CSB_PLAN_N_KEYWORDS ? keywords[keyword].word : NULL;
}

int
csb_plan_keyword_n_args (CsbPlanKeyword keyword)
{
  return keyword < CSB_PLAN_N_KEYWORDS ? keywords[keyword].n_args : -1;
}

/* The keyword written @word, or CSB_PLAN_N_KEYWORDS. */
static CsbPlanKeyword
keyword_of (const char *word)
{
  for (int k = 0; k < CSB_PLAN_N_KEYWORDS; k++)
    if (strcmp (word, keywords[k].word) == 0)
      return k;
  return CSB_PLAN_N_KEYWORDS;
}

void
csb_plan_parse (CsbPlan *plan,
                char    *data,
                size_t   len)
{
  plan->data = data;
  plan->len = len;
  plan->n_words = 0;
  for (size_t i = 0; i < len && plan->n_words < CSB_PLAN_MAX_WORDS; )
    {
      plan->words[plan->n_words++] = data + i;
      i += strlen (data + i) + 1;
    }
}

int
csb_plan_read (int         dir_fd,
               const char *name,
               CsbPlan    *plan)
{
  int fd = openat (dir_fd, name, O_RDONLY | O_CLOEXEC);
  struct stat st;
  size_t off = 0;
  char *data;

  if (fd < 0 || fstat (fd, &st) != 0)
    return -1;
  data = malloc (st.st_size + 1);
  if (data == NULL)
    return -1;
  while (off < (size_t) st.st_size)
    {
      ssize_t n = read (fd, data + off, st.st_size - off);
      if (n <= 0)
        return -1;
      off += n;
    }
  close (fd);
  /* Read once: the secrets in it must not stay around. */
  unlinkat (dir_fd, name, 0);
  data[off] = '\0';
  csb_plan_parse (plan, data, off);
  return 0;
}

int
csb_plan_set_command (void           *data,
                      CsbPlanKeyword  keyword,
                      char          **args)
{
  CsbPlanCommand *cmd = data;

  switch (keyword)
    {
    case CSB_PLAN_UID:
      cmd->uid = strtoul (args[0], NULL, 10);
      break;
    case CSB_PLAN_GID:
      cmd->gid = strtoul (args[0], NULL, 10);
      break;
    case CSB_PLAN_CWD:
      cmd->cwd = args[0];
      break;
    case CSB_PLAN_HOME:
      cmd->home = args[0];
      break;
    case CSB_PLAN_HOSTNAME:
      cmd->hostname = args[0];
      break;
    case CSB_PLAN_NETWORK:
      cmd->network = atoi (args[0]);
      break;
    case CSB_PLAN_RAW:
      cmd->raw = atoi (args[0]);
      break;
    case CSB_PLAN_STDIO:
      cmd->stdio = atoi (args[0]);
      break;
    case CSB_PLAN_DISPLAY:
      cmd->display = atoi (args[0]);
      break;
    case CSB_PLAN_WINSIZE:
      cmd->cols = atoi (args[0]);
      cmd->rows = atoi (args[1]);
      break;
    case CSB_PLAN_ENV:
      if (cmd->envc < CSB_PLAN_MAX_ARGS)
        cmd->envp[cmd->envc++] = args[0];
      break;
    case CSB_PLAN_ARG:
      if (cmd->argc < CSB_PLAN_MAX_ARGS)
        cmd->argv[cmd->argc++] = args[0];
      break;
    default:
      errno = EINVAL;
      return -1;
    }
  return 0;
}

int
csb_plan_run (const CsbPlan        *plan,
              const CsbPlanHandler  handlers[CSB_PLAN_N_KEYWORDS],
              void                 *data,
              void                (*fail) (const char *fmt, ...))
{
  for (int i = 0; i < plan->n_words; )
    {
      const char *word = plan->words[i];
      CsbPlanKeyword keyword = keyword_of (word);
      int n_args;

      if (keyword == CSB_PLAN_N_KEYWORDS || handlers[keyword] == NULL)
        {
          fail ("unknown plan entry '%s'", word);
          return -1;
        }
      n_args = keywords[keyword].n_args;
      if (i + n_args >= plan->n_words)
        {
          fail ("truncated plan at '%s'", word);
          return -1;
        }
      if (handlers[keyword] (data, keyword, (char **) plan->words + i + 1) != 0)
        return -1;
      i += 1 + n_args;
    }
  return 0;
}
