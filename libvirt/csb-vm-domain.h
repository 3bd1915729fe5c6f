/* csb-vm-domain.h — the libvirt domain XML of a sandbox VM, built from a plain
 * description (no file system access: the unit tests validate its output).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Our metadata namespace: a restarted service recognises its domains by it. */
#define CSB_VM_METADATA_NS  "https://example.org/claude-sandbox/vm/1"
#define CSB_VM_METADATA_KEY "claude-sandbox"
#define CSB_VM_DOMAIN_PREFIX "claude-sandbox-"
/* The alias of the console the terminal is bridged to (user aliases start "ua-"). */
#define CSB_VM_CONSOLE_ALIAS "ua-terminal"
/* Where the guest reaches the filtering proxy (QEMU's user-mode network is
 * 10.0.2.0/24, the guest 10.0.2.15). */
#define CSB_VM_PROXY_ADDR "10.0.2.100"
#define CSB_VM_PROXY_PORT "3128"
#define CSB_VM_QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"
/* The guest kernel's command line. The machine is q35 (csb-vm-domain.c): on i440fx,
 * enabling each PCI device's ACPI interrupt link (LNKA–LNKD) took ~0.2 s under TCG,
 * 2.2 s of a boot with our virtio devices, and the way around it there (pci=noacpi)
 * also turned off the local APIC: one CPU whatever vm-cpus says, and no MSI-X. q35's
 * links (GSIA–GSIH) are fixed and take milliseconds. */
#define CSB_VM_KERNEL_CMDLINE \
  "console=ttyS0 loglevel=4 panic=-1 rdinit=/init tsc=reliable no_timer_check"
/* The machine type, for libvirt and for the raw QEMU of the benchmark. */
#define CSB_VM_MACHINE "q35"
/* libvirt's own seccomp filter for QEMU, spawn allowed (see csb-vm-domain.c), and
 * elevateprivileges too: libslirp's child calls setsid() before exec'ing the
 * guestfwd command, which elevateprivileges=deny kills (the command never runs). */
#define CSB_VM_QEMU_SECCOMP \
  "on,obsolete=deny,elevateprivileges=allow,spawn=allow,resourcecontrol=deny"

typedef struct
{
  char *tag;      /* virtiofs tag the guest mounts */
  char *socket;   /* the vhost-user socket of the virtiofsd serving it */
} CsbVmShare;

typedef struct
{
  char      *sandbox_id;
  char      *name;          /* the sandbox's Name, for the domain's title */
  char      *project_dir;
  char      *virt_type;     /* "kvm" or "qemu" (TCG) */
  guint      memory_mib;
  guint      cpus;
  char      *kernel;
  char      *initrd;
  char      *cmdline;
  char      *serial_log;    /* (nullable) the kernel's console, a file */
  char      *console_log;   /* (nullable) all the command's console output, a file */
  char      *spice_socket;  /* (nullable) no display when NULL */
  char      *disk;          /* (nullable) a qcow2 overlay, the guest's vda */
  gboolean   network;       /* libvirt's user-mode NIC: the whole network */
  /* (nullable) The filtered network instead: a NIC on QEMU's user-mode network with
   * restrict=on and one guestfwd, CSB_VM_PROXY_ADDR:CSB_VM_PROXY_PORT, whose every
   * connection QEMU hands to `net_relay_helper --relay net_proxy_socket`. */
  char      *net_relay_helper;
  char      *net_proxy_socket;
  GPtrArray *shares;        /* (element-type CsbVmShare) */
  /* (nullable) The command's stdin, stdout and stderr (pipes or files): virtio
   * channels whose host ends are unix sockets QEMU listens on (csb-vm-stdio.c). */
  char      *stdio_sockets[3];
  /* (nullable) With the console as the command's terminal: a virtio channel the
   * service writes the viewer's size to, "COLS ROWS\n" (csb-vm-stdio.h). */
  char      *winsize_socket;
} CsbVmDomainConfig;

CsbVmDomainConfig *csb_vm_domain_config_new       (void);
void               csb_vm_domain_config_free      (CsbVmDomainConfig *config);
void               csb_vm_domain_config_add_share (CsbVmDomainConfig *config,
                                                   const char        *tag,
                                                   const char        *socket);
char              *csb_vm_domain_name             (const char        *sandbox_id);
char              *csb_vm_domain_to_xml           (const CsbVmDomainConfig *config);
char              *csb_vm_domain_filtered_netdev  (const CsbVmDomainConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbVmDomainConfig, csb_vm_domain_config_free)

G_END_DECLS
