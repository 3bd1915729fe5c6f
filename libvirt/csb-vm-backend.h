/* csb-vm-backend.h — sandboxes in a libvirt VM with a kernel of their own.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "csb-module-api.h"

G_BEGIN_DECLS

#define CSB_TYPE_VM_BACKEND (csb_vm_backend_get_type ())
G_DECLARE_FINAL_TYPE (CsbVmBackend, csb_vm_backend, CSB, VM_BACKEND, CsbBackend)

/* The kernel a VM boots: the vm-kernel setting, else the newest /boot/vmlinuz-*
 * whose modules are installed; its modules folder in @out_modules_dir. Blocking. */
char     *csb_vm_find_kernel     (GSettings   *settings,
                                  char       **out_modules_dir,
                                  GError     **error);
/* The same; with @display, only a kernel with the virtio-gpu driver (DRM). */
char     *csb_vm_find_kernel_for (GSettings   *settings,
                                  gboolean     display,
                                  char       **out_modules_dir,
                                  GError     **error);
/* "kvm" or "qemu" (TCG) for the vm-accel setting. For 'auto', KVM only where it
 * is proven to boot: /dev/kvm runs a one-instruction guest, and @kernel with
 * @initrd (when given) boots under KVM to our init's first console output. The
 * boot's verdict is kept in memory and in the user's cache (per kernel and QEMU).
 * Without @kernel, a verdict not yet known reads as TCG. Blocking (seconds: a
 * worker thread). */
const char *csb_vm_choose_virt_type (GSettings  *settings,
                                     const char *kernel,
                                     const char *initrd);

G_END_DECLS
