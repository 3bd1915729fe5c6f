/* csb-plan.h — the guest plan: what the service tells the VM's and the container's
 * init to build and run (libc only, no GLib: the inits include it, and so do the
 * service's writers, through csb-plan-writer.h).
 *
 * The wire format: a file "config" in the control folder, 0600 in a 0700 folder,
 * which the init reads once and deletes (it carries the secrets: they never touch a
 * domain XML, an argv or a log). It is a list of NUL-terminated words: a keyword,
 * then exactly as many arguments as the keyword takes (CSB_PLAN_KEYWORDS). Entries
 * apply in order: the command's settings (uid, gid, …) come before the entries that
 * use them. A keyword an init does not handle, or an entry cut short, fails the
 * start.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* At most this many words in a plan; the words after them are ignored. */
#define CSB_PLAN_MAX_WORDS 65536
/* At most this many command arguments ("arg") and environment entries ("env"),
 * each: the rest are ignored. */
#define CSB_PLAN_MAX_ARGS  4095

/* X (NAME, "keyword", number of arguments): every keyword of the plan.
 *
 * The command (both inits; network, stdio and display the VM's only):
 *   uid U | gid G | cwd PATH | home PATH | hostname NAME
 *   network 0/1/2            no network, the network, the filtered network
 *   raw 0/1                  a console without line discipline, for pipes
 *   stdio 0/1                the command's stdin, stdout, stderr on the VM's virtio
 *                            ports (pipes, files) rather than the console
 *   display 0/1              weston (kiosk) on the virtio-gpu output, for the command
 *   winsize COLS ROWS        the console's size at the start
 *   env NAME=VALUE | arg WORD
 * The file system (paths in the sandbox's root):
 *   rootdisk                 the VM disk's root file system as the new root (first)
 *   share TAG PATH ro|rw     the VM's virtiofs share TAG at PATH
 *   review LOWER RW PATH     review mode: an overlay at PATH over LOWER (read-only),
 *                            its upper and work folders in RW (the VM: share tags;
 *                            the container: folders, detached once the overlay holds
 *                            them)
 *   tmpfs PATH MODE          the VM: a tmpfs, the user's when MODE ends in 'u'
 *   bind SRC PATH ro|rw      the VM: SRC in the control share ('/ctl/…') or the root
 *   own PATH MODE            the container: PATH made, the user's, with octal MODE
 *   symlink TARGET PATH | mkdir PATH
 * The project's protected entries (csb-layout.c writes them, csb-init-protect.c
 * applies them):
 *   protect PROJECT RELATIVE ro|rw d|f
 *   protect-tmpfs PROJECT RELATIVE UID GID
 *   protect-link PROJECT RELATIVE TARGET */
#define CSB_PLAN_KEYWORDS(X) \
  X (UID,           "uid",           1) \
  X (GID,           "gid",           1) \
  X (CWD,           "cwd",           1) \
  X (HOME,          "home",          1) \
  X (HOSTNAME,      "hostname",      1) \
  X (NETWORK,       "network",       1) \
  X (RAW,           "raw",           1) \
  X (STDIO,         "stdio",         1) \
  X (DISPLAY,       "display",       1) \
  X (WINSIZE,       "winsize",       2) \
  X (ENV,           "env",           1) \
  X (ARG,           "arg",           1) \
  X (ROOTDISK,      "rootdisk",      0) \
  X (SHARE,         "share",         3) \
  X (REVIEW,        "review",        3) \
  X (TMPFS,         "tmpfs",         2) \
  X (BIND,          "bind",          3) \
  X (OWN,           "own",           2) \
  X (SYMLINK,       "symlink",       2) \
  X (MKDIR,         "mkdir",         1) \
  X (PROTECT,       "protect",       4) \
  X (PROTECT_TMPFS, "protect-tmpfs", 4) \
  X (PROTECT_LINK,  "protect-link",  3)

typedef enum
{
#define CSB_PLAN_ENUM_(name, word, n_args) CSB_PLAN_##name,
  CSB_PLAN_KEYWORDS (CSB_PLAN_ENUM_)
#undef CSB_PLAN_ENUM_
  CSB_PLAN_N_KEYWORDS
} CsbPlanKeyword;

/* The word of @keyword, and how many arguments follow it. */
const char *csb_plan_keyword_word   (CsbPlanKeyword keyword);
int         csb_plan_keyword_n_args (CsbPlanKeyword keyword);

/* ---- the inits' side: the reader ------------------------------------------------- */

typedef struct
{
  char  *data;
  size_t len;
  char  *words[CSB_PLAN_MAX_WORDS];
  int    n_words;
} CsbPlan;

/* Reads the plan @name in the folder @dir_fd into @plan (a static one: it is large)
 * and deletes the file: the secrets in it must not stay around. 0, or -1 with errno. */
int  csb_plan_read  (int         dir_fd,
                     const char *name,
                     CsbPlan    *plan);
/* Splits @len bytes at @data (kept, and NUL-terminated at @len by the caller's
 * allocation of @len + 1) into @plan's words. */
void csb_plan_parse (CsbPlan    *plan,
                     char       *data,
                     size_t      len);

/* What the plan sets of the command the init runs. */
typedef struct
{
  uid_t  uid;
  gid_t  gid;
  char  *cwd;
  char  *home;
  char  *hostname;
  int    network;
  int    raw;
  int    stdio;
  int    display;
  int    cols, rows;
  char  *argv[CSB_PLAN_MAX_ARGS + 1];
  int    argc;
  char  *envp[CSB_PLAN_MAX_ARGS + 1];
  int    envc;
} CsbPlanCommand;

/* An init's handler of one keyword: @args are its arguments (as many as it takes).
 * 0, or -1 when the start fails (the handler said why). */
typedef int (*CsbPlanHandler) (void            *data,
                               CsbPlanKeyword   keyword,
                               char           **args);

/* The handler of the command's settings (uid … arg): @data is a CsbPlanCommand. */
int csb_plan_set_command (void           *data,
                          CsbPlanKeyword  keyword,
                          char          **args);

/* Applies @plan's entries in order, each by its keyword's handler in @handlers
 * (NULL: a keyword this init does not take) with @data. A keyword without a
 * handler or an entry cut short is reported through @fail. 0, or -1 at the first
 * entry that failed. */
int csb_plan_run (const CsbPlan        *plan,
                  const CsbPlanHandler  handlers[CSB_PLAN_N_KEYWORDS],
                  void                 *data,
                  void                (*fail) (const char *fmt, ...));
