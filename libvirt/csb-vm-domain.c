/* csb-vm-domain.c
 *
 * Direct kernel boot, everything shared over virtiofs (vhost-user sockets of
 * virtiofsd processes the service runs, since session libvirt refuses to start
 * them itself), which needs shared memfd memory. No disk (but a user image's
 * qcow2 overlay in the disk-image mode), no USB, no balloon; a
 * NIC only with the network; SPICE only on a unix socket.
 *
 * The filtered network (network-allow) is QEMU's user-mode network with
 * restrict=on (the guest reaches nothing through it) and one guestfwd whose
 * connections QEMU hands each to a command of ours relaying it to the service's
 * proxy. libvirt has no element for that: it goes through its qemu:commandline
 * passthrough. QEMU spawns that command, which libvirt's default seccomp filter
 * for QEMU forbids (spawn=deny): for such a domain we drop libvirt's filter
 * (qemu:del capability seccomp-sandbox) and pass QEMU the same one with spawn and
 * elevateprivileges allowed (libslirp's child calls setsid() before the exec, which
 * elevateprivileges=deny kills: the command never runs).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "csb-vm-domain.h"
#include "csb-libvirt.h"
#include "csb-vm-stdio.h"

static void
share_free (CsbVmShare *share)
{
  g_free (share->tag);
  g_free (share->socket);
  g_free (share);
}

CsbVmDomainConfig *
csb_vm_domain_config_new (void)
{
  CsbVmDomainConfig *config = g_new0 (CsbVmDomainConfig, 1);

  config->virt_type = g_strdup ("qemu");
  config->memory_mib = 2048;
  config->cpus = 2;
  config->shares = g_ptr_array_new_with_free_func ((GDestroyNotify) share_free);
  return config;
}

void
csb_vm_domain_config_free (CsbVmDomainConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->sandbox_id);
  g_free (config->name);
  g_free (config->project_dir);
  g_free (config->virt_type);
  g_free (config->kernel);
  g_free (config->initrd);
  g_free (config->cmdline);
  g_free (config->serial_log);
  g_free (config->console_log);
  g_free (config->spice_socket);
  g_free (config->disk);
  g_free (config->net_relay_helper);
  g_free (config->net_proxy_socket);
  g_ptr_array_unref (config->shares);
  for (guint i = 0; i < G_N_ELEMENTS (config->stdio_sockets); i++)
    g_free (config->stdio_sockets[i]);
  g_free (config->winsize_socket);
  g_free (config);
}

void
csb_vm_domain_config_add_share (CsbVmDomainConfig *config,
                                const char        *tag,
                                const char        *socket)
{
  CsbVmShare *share = g_new0 (CsbVmShare, 1);

  share->tag = g_strdup (tag);
  share->socket = g_strdup (socket);
  g_ptr_array_add (config->shares, share);
}

char *
csb_vm_domain_name (const char *sandbox_id)
{
  return g_strconcat (CSB_VM_DOMAIN_PREFIX, sandbox_id, NULL);
}

/* A value inside a QEMU option list: commas doubled. */
static char *
qemu_opt_escape (const char *value)
{
  g_auto(GStrv) parts = g_strsplit (value, ",", -1);

  return g_strjoinv (",,", parts);
}

/* The -netdev value of the filtered network. QEMU (libslirp) parses the command
 * as a shell would and runs it for every guest connection to the forwarded port,
 * its stdin and stdout the connection. Both paths are ours (the helper's install
 * location, the proxy's socket in the sandbox's runtime folder), nothing a caller
 * chose; quoted all the same. */
char *
csb_vm_domain_filtered_netdev (const CsbVmDomainConfig *config)
{
  g_autofree char *helper = g_shell_quote (config->net_relay_helper);
  g_autofree char *socket = g_shell_quote (config->net_proxy_socket);
  g_autofree char *cmd = g_strdup_printf ("%s --relay %s", helper, socket);
  g_autofree char *escaped = qemu_opt_escape (cmd);

  return g_strdup_printf ("user,id=csbnet,restrict=on,ipv6=off,"
                          "guestfwd=tcp:" CSB_VM_PROXY_ADDR ":" CSB_VM_PROXY_PORT "-cmd:%s",
                          escaped);
}

/* Where each of our PCI devices sits: straight on q35's root bus (pcie.0), as
 * integrated devices. Left to itself, libvirt gives each a PCIe root port of its
 * own, and the guest then probes (and, at power-off, shuts down) a port for each:
 * about 0.5 s more of a TCG boot with our devices. Slot 0x1f is the chipset's
 * (LPC, SATA, SMBus); 0x1e the filtered network's NIC. Shares past the last slot
 * get no address: libvirt puts them behind root ports. */
enum
{
  SLOT_VIDEO = 0x01,
  SLOT_CONSOLE = 0x02,
  SLOT_RNG = 0x03,
  SLOT_DISK = 0x04,
  SLOT_NIC = 0x05,
  SLOT_TABLET = 0x06,
  SLOT_KEYBOARD = 0x07,
  SLOT_FIRST_SHARE = 0x08,
  SLOT_LAST_SHARE = 0x1d,
  SLOT_FILTERED_NIC = 0x1e,
};
#define PCI_ADDRESS "      <address type='pci' domain='0' bus='0' slot='%u' function='0'/>\n"

/* The machine: memory (shared, for virtiofs), CPUs, the kernel booted directly, and
 * the end of the guest as the end of the domain. */
static void
append_machine (GString                 *xml,
                const CsbVmDomainConfig *config)
{
  csb_libvirt_xml_append (xml, "  <memory unit='MiB'>%u</memory>\n", config->memory_mib);
  csb_libvirt_xml_append (xml, "  <vcpu>%u</vcpu>\n", config->cpus);
  if (config->shares->len > 0)
    g_string_append (xml, "  <memoryBacking>\n"
                          "    <source type='memfd'/>\n"
                          "    <access mode='shared'/>\n"
                          "  </memoryBacking>\n");
  g_string_append (xml, "  <os>\n"
                        "    <type arch='x86_64' machine='" CSB_VM_MACHINE "'>hvm</type>\n");
  csb_libvirt_xml_append (xml, "    <kernel>%s</kernel>\n", config->kernel);
  csb_libvirt_xml_append (xml, "    <initrd>%s</initrd>\n", config->initrd);
  if (config->cmdline != NULL)
    csb_libvirt_xml_append (xml, "    <cmdline>%s</cmdline>\n", config->cmdline);
  g_string_append (xml, "  </os>\n"
                        "  <features>\n"
                        "    <acpi/>\n"
                        "  </features>\n");
  /* The CPU's features: the host's under KVM; under TCG all it emulates (QEMU's
   * "max": SSE4.2, POPCNT, AVX2…), not libvirt's default qemu64, on which Claude Code's
   * native binary dies of SIGILL. */
  if (g_str_equal (config->virt_type, "kvm"))
    g_string_append (xml, "  <cpu mode='host-passthrough'/>\n");
  else
    g_string_append (xml, "  <cpu mode='maximum' check='none'/>\n");
  /* The guest powers off when its command ends; a reboot or crash ends it too. */
  g_string_append (xml, "  <clock offset='utc'/>\n"
                        "  <on_poweroff>destroy</on_poweroff>\n"
                        "  <on_reboot>destroy</on_reboot>\n"
                        "  <on_crash>destroy</on_crash>\n");
}

/* The user image's overlay (disk-image mode) and the virtiofs shares. */
static void
append_storage (GString                 *xml,
                const CsbVmDomainConfig *config)
{
  if (config->disk != NULL)
    csb_libvirt_xml_append (xml, "    <disk type='file' device='disk'>\n"
                                 "      <driver name='qemu' type='qcow2' discard='unmap'/>\n"
                                 "      <source file='%s'/>\n"
                                 "      <target dev='vda' bus='virtio'/>\n"
                                 PCI_ADDRESS
                                 "    </disk>\n",
                            config->disk, SLOT_DISK);
  for (guint i = 0; i < config->shares->len; i++)
    {
      CsbVmShare *share = g_ptr_array_index (config->shares, i);

      csb_libvirt_xml_append (xml, "    <filesystem type='mount'>\n"
                                   "      <driver type='virtiofs' queue='1024'/>\n"
                                   "      <source socket='%s'/>\n"
                                   "      <target dir='%s'/>\n",
                              share->socket, share->tag);
      if (SLOT_FIRST_SHARE + i <= SLOT_LAST_SHARE)
        csb_libvirt_xml_append (xml, PCI_ADDRESS, SLOT_FIRST_SHARE + i);
      g_string_append (xml, "    </filesystem>\n");
    }
}

/* The kernel's serial log, the console (the terminal, logged for a take-over) and
 * the virtio ports of the command's stdio and of the terminal's size. */
static void
append_console (GString                 *xml,
                const CsbVmDomainConfig *config)
{
  if (config->serial_log != NULL)
    csb_libvirt_xml_append (xml, "    <serial type='file'>\n"
                                 "      <source path='%s'/>\n"
                                 "      <target port='0'/>\n"
                                 "    </serial>\n",
                            config->serial_log);
  g_string_append (xml, "    <console type='pty'>\n"
                        "      <target type='virtio' port='0'/>\n");
  /* Written by libvirt whether or not anyone is attached: what the command prints
   * while no service runs is replayed from it when one takes the VM over. */
  if (config->console_log != NULL)
    csb_libvirt_xml_append (xml, "      <log file='%s' append='on'/>\n", config->console_log);
  g_string_append (xml, "      <alias name='" CSB_VM_CONSOLE_ALIAS "'/>\n"
                        "    </console>\n");
  for (guint i = 0; i < G_N_ELEMENTS (config->stdio_sockets); i++)
    {
      static const char * const names[] = { "stdin", "stdout", "stderr" };

      if (config->stdio_sockets[i] != NULL)
        csb_libvirt_xml_append (xml, "    <channel type='unix'>\n"
                                     "      <source mode='bind' path='%s'/>\n"
                                     "      <target type='virtio' name='%s%s'/>\n"
                                     "    </channel>\n",
                                config->stdio_sockets[i], CSB_VM_PORT_PREFIX, names[i]);
    }
  if (config->winsize_socket != NULL)
    csb_libvirt_xml_append (xml, "    <channel type='unix'>\n"
                                 "      <source mode='bind' path='%s'/>\n"
                                 "      <target type='virtio' name='%swinsize'/>\n"
                                 "    </channel>\n",
                            config->winsize_socket, CSB_VM_PORT_PREFIX);
}

/* The display: SPICE on its unix socket with a virtio GPU, keyboard and tablet, or
 * no video device at all. */
static void
append_display (GString                 *xml,
                const CsbVmDomainConfig *config)
{
  if (config->spice_socket == NULL)
    {
      g_string_append (xml, "    <video>\n"
                            "      <model type='none'/>\n"
                            "    </video>\n");
      return;
    }
  csb_libvirt_xml_append (xml, "    <graphics type='spice' autoport='no'>\n"
                               "      <listen type='socket' socket='%s'/>\n"
                               "      <image compression='off'/>\n"
                               "    </graphics>\n",
                          config->spice_socket);
  csb_libvirt_xml_append (xml, "    <video>\n"
                               "      <model type='virtio' heads='1' primary='yes'/>\n"
                               PCI_ADDRESS
                               "    </video>\n",
                          SLOT_VIDEO);
  /* SPICE's keyboard and pointer, as virtio devices the compositor takes. */
  csb_libvirt_xml_append (xml, "    <input type='tablet' bus='virtio'>\n"
                               PCI_ADDRESS
                               "    </input>\n"
                               "    <input type='keyboard' bus='virtio'>\n"
                               PCI_ADDRESS
                               "    </input>\n",
                          SLOT_TABLET, SLOT_KEYBOARD);
}

/* What every VM has, and what none has: no USB, no balloon; the console's
 * virtio-serial controller and a random number generator. */
static void
append_fixed_devices (GString *xml)
{
  csb_libvirt_xml_append (xml, "    <controller type='usb' model='none'/>\n"
                               "    <controller type='virtio-serial' index='0'>\n"
                               PCI_ADDRESS
                               "    </controller>\n"
                               "    <memballoon model='none'/>\n"
                               "    <rng model='virtio'>\n"
                               "      <backend model='random'>/dev/urandom</backend>\n"
                               PCI_ADDRESS
                               "    </rng>\n",
                          SLOT_CONSOLE, SLOT_RNG);
}

/* What libvirt has no element for, passed to QEMU: the filtered network's NIC and
 * QEMU's seccomp filter that lets its relay command run (@filtered), and the
 * capabilities libvirt is not to use. */
static void
append_qemu_passthrough (GString                 *xml,
                         const CsbVmDomainConfig *config,
                         gboolean                 filtered)
{
  if (filtered)
    {
      g_autofree char *netdev = csb_vm_domain_filtered_netdev (config);

      /* No option ROM: the kernel is booted directly, nothing boots from the NIC. */
      csb_libvirt_xml_append (xml, "  <qemu:commandline>\n"
                   "    <qemu:arg value='-netdev'/>\n"
                   "    <qemu:arg value='%s'/>\n"
                   "    <qemu:arg value='-device'/>\n"
                   "    <qemu:arg value='virtio-net-pci,netdev=csbnet,bus=pcie.0,addr=%#x,romfile='/>\n"
                   "    <qemu:arg value='-sandbox'/>\n"
                   "    <qemu:arg value='" CSB_VM_QEMU_SECCOMP "'/>\n"
                   "  </qemu:commandline>\n",
                              netdev, SLOT_FILTERED_NIC);
    }
  /* libvirt reads the started guest's CPU back before it lets it run: with QEMU's
   * "unavailable-features" it asks for every CPU feature property on its own, some
   * 400 monitor round trips, 0.45 s of each launch here. Without the capability it
   * reads x86 CPUs' four CPUID feature words instead: the same features, four calls. (libvirt
   * notes "tainted: custom-hypervisor-feature" in the domain's log.) The filtered
   * network replaces libvirt's seccomp filter for QEMU with ours, as above. */
  g_string_append (xml, "  <qemu:capabilities>\n"
                        "    <qemu:del capability='cpu-unavailable-features'/>\n");
  if (filtered)
    g_string_append (xml, "    <qemu:del capability='seccomp-sandbox'/>\n");
  g_string_append (xml, "  </qemu:capabilities>\n");
}

char *
csb_vm_domain_to_xml (const CsbVmDomainConfig *config)
{
  gboolean filtered;
  g_autoptr(GString) xml = g_string_new (NULL);
  g_autofree char *name = NULL;

  g_return_val_if_fail (config != NULL && config->sandbox_id != NULL, NULL);
  g_return_val_if_fail (config->kernel != NULL && config->initrd != NULL, NULL);

  filtered = config->net_relay_helper != NULL && config->net_proxy_socket != NULL;
  name = csb_vm_domain_name (config->sandbox_id);
  csb_libvirt_xml_append (xml, "<domain type='%s' xmlns:qemu='" CSB_VM_QEMU_NS "'>\n",
                          config->virt_type);
  csb_libvirt_xml_append_identity (xml, name, config->name ? config->name : config->sandbox_id,
                                   config->sandbox_id, config->project_dir,
                                   CSB_VM_METADATA_KEY, CSB_VM_METADATA_NS);
  append_machine (xml, config);
  g_string_append (xml, "  <devices>\n");
  append_storage (xml, config);
  if (config->network && !filtered)
    csb_libvirt_xml_append (xml, "    <interface type='user'>\n"
                                 "      <model type='virtio'/>\n"
                                 PCI_ADDRESS
                                 "    </interface>\n",
                            SLOT_NIC);
  append_console (xml, config);
  append_display (xml, config);
  append_fixed_devices (xml);
  g_string_append (xml, "  </devices>\n");
  append_qemu_passthrough (xml, config, filtered);
  g_string_append (xml, "</domain>\n");
  return g_string_free (g_steal_pointer (&xml), FALSE);
}
