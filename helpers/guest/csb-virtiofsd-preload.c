/* csb-virtiofsd-preload.c — preloaded into the virtiofsd the service runs.
 *
 * QEMU 7's virtiofsd drops its supplementary groups at start and exits when it
 * cannot. Unprivileged, in the user namespace it runs in, it cannot: setgroups is
 * denied there (the kernel's price for mapping our own gid). Dropping groups is
 * hardening for a daemon started as root; ours holds only the user's own groups,
 * so "drop all" becomes a no-op success. Anything else stays refused.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <grp.h>

int
setgroups (size_t       size,
           const gid_t *list)
{
  if (size == 0)
    return 0;
  errno = EPERM;
  return -1;
}
