/* csb-landlock.h — Landlock scoping (kernel ABI 6, Linux 6.12): a process so
 * restricted, and everything it starts, can neither connect to an abstract unix
 * socket made outside its domain nor signal a process outside it. No file system
 * or network rule: those stay bwrap's and the network namespace's.
 *
 * Plain libc, for claude-sandbox-init (which applies it inside the sandbox, right
 * before the command) and the service (which asks whether the kernel has it, to
 * say so in Protections). Debian 12's kernel headers predate scoping, hence the
 * definitions here.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

#define CSB_LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#define CSB_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define CSB_LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#define CSB_LANDLOCK_SCOPE_ABI 6

/* struct landlock_ruleset_attr as of ABI 6. */
struct csb_landlock_ruleset_attr
{
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

/* The kernel's Landlock ABI, or -1 (no Landlock, or switched off). */
static inline int
csb_landlock_abi (void)
{
  long abi = syscall (SYS_landlock_create_ruleset, NULL, 0,
                      CSB_LANDLOCK_CREATE_RULESET_VERSION);

  return abi < 0 ? -1 : (int) abi;
}

/* Scopes the calling thread (and what it starts) to abstract unix sockets and
 * signals of its own domain. 0, or -1 with errno. */
static inline int
csb_landlock_scope_self (void)
{
  struct csb_landlock_ruleset_attr attr = {
    .scoped = CSB_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | CSB_LANDLOCK_SCOPE_SIGNAL,
  };
  long fd;
  long r;
  int saved;

  if (csb_landlock_abi () < CSB_LANDLOCK_SCOPE_ABI)
    {
      errno = EOPNOTSUPP;
      return -1;
    }
  fd = syscall (SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
  if (fd < 0)
    return -1;
  /* bwrap has set it already; restrict_self requires it. */
  prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  r = syscall (SYS_landlock_restrict_self, (int) fd, 0);
  saved = errno;
  close ((int) fd);
  errno = saved;
  return r < 0 ? -1 : 0;
}
