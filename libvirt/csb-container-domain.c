/* csb-container-domain.c
 *
 * A transient libvirt-LXC domain: our init as <os><init>, a user namespace
 * (<idmap>) so container root is an unprivileged host id, the file system as
 * <filesystem> elements mounted in order (libvirt mounts them in the order
 * given, a bind below a tmpfs after it), a private network namespace with lo
 * only (<privnet/>) unless the network is on, in which case the host's is
 * shared: libvirt-LXC puts a container without <interface> and without
 * <privnet/> in the host's network namespace, as bwrap without --unshare-net.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "csb-container-domain.h"
#include "csb-libvirt.h"

static void
fs_free (CsbContainerFs *fs)
{
  g_free (fs->source);
  g_free (fs->target);
  g_free (fs);
}

CsbContainerDomainConfig *
csb_container_domain_config_new (void)
{
  CsbContainerDomainConfig *config = g_new0 (CsbContainerDomainConfig, 1);

  config->memory_mib = 2048;
  config->uid_map = g_array_new (FALSE, TRUE, sizeof (CsbContainerIdRange));
  config->gid_map = g_array_new (FALSE, TRUE, sizeof (CsbContainerIdRange));
  config->filesystems = g_ptr_array_new_with_free_func ((GDestroyNotify) fs_free);
  return config;
}

void
csb_container_domain_config_free (CsbContainerDomainConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->sandbox_id);
  g_free (config->name);
  g_free (config->project_dir);
  g_free (config->init);
  g_array_unref (config->uid_map);
  g_array_unref (config->gid_map);
  g_ptr_array_unref (config->filesystems);
  g_free (config);
}

void
csb_container_domain_config_add_fs (CsbContainerDomainConfig *config,
                                    const char               *source,
                                    const char               *target,
                                    gboolean                  readonly)
{
  CsbContainerFs *fs = g_new0 (CsbContainerFs, 1);

  fs->source = g_strdup (source);
  fs->target = g_strdup (target);
  fs->readonly = readonly;
  g_ptr_array_add (config->filesystems, fs);
}

void
csb_container_domain_config_add_tmpfs (CsbContainerDomainConfig *config,
                                       const char               *target,
                                       guint                     size_mib)
{
  CsbContainerFs *fs = g_new0 (CsbContainerFs, 1);

  fs->target = g_strdup (target);
  fs->ram_mib = size_mib;
  g_ptr_array_add (config->filesystems, fs);
}

void
csb_container_domain_config_map_ids (CsbContainerDomainConfig *config,
                                     guint32                   uid_inside,
                                     guint32                   uid_host,
                                     guint32                   gid_inside,
                                     guint32                   gid_host)
{
  CsbContainerIdRange uid = { uid_inside, uid_host, 1 };
  CsbContainerIdRange gid = { gid_inside, gid_host, 1 };

  g_array_append_val (config->uid_map, uid);
  g_array_append_val (config->gid_map, gid);
}

char *
csb_container_domain_name (const char *sandbox_id)
{
  return g_strconcat (CSB_CONTAINER_DOMAIN_PREFIX, sandbox_id, NULL);
}

char *
csb_container_domain_to_xml (const CsbContainerDomainConfig *config)
{
  g_autoptr(GString) xml = g_string_new (NULL);
  g_autofree char *name = NULL;

  g_return_val_if_fail (config != NULL && config->sandbox_id != NULL, NULL);
  g_return_val_if_fail (config->init != NULL && config->filesystems->len > 0, NULL);

  name = csb_container_domain_name (config->sandbox_id);
  g_string_append (xml, "<domain type='lxc'>\n");
  csb_libvirt_xml_append_identity (xml, name, config->name ? config->name : config->sandbox_id,
                                   config->sandbox_id, config->project_dir,
                                   CSB_CONTAINER_METADATA_KEY, CSB_CONTAINER_METADATA_NS);
  csb_libvirt_xml_append (xml, "  <memory unit='MiB'>%u</memory>\n", config->memory_mib);
  csb_libvirt_xml_append (xml, "  <os>\n"
                               "    <type>exe</type>\n"
                               "    <init>%s</init>\n"
                               "  </os>\n", config->init);
  if (!config->network)
    g_string_append (xml, "  <features>\n"
                          "    <privnet/>\n"
                          "  </features>\n");
  if (config->uid_map->len > 0)
    {
      g_string_append (xml, "  <idmap>\n");
      for (guint i = 0; i < config->uid_map->len; i++)
        {
          CsbContainerIdRange *r = &g_array_index (config->uid_map, CsbContainerIdRange, i);
          csb_libvirt_xml_append (xml, "    <uid start='%u' target='%u' count='%u'/>\n",
                                  r->start, r->target, r->count);
        }
      for (guint i = 0; i < config->gid_map->len; i++)
        {
          CsbContainerIdRange *r = &g_array_index (config->gid_map, CsbContainerIdRange, i);
          csb_libvirt_xml_append (xml, "    <gid start='%u' target='%u' count='%u'/>\n",
                                  r->start, r->target, r->count);
        }
      g_string_append (xml, "  </idmap>\n");
    }
  /* The init's exit ends the container; nothing restarts it. */
  g_string_append (xml, "  <clock offset='utc'/>\n"
                        "  <on_poweroff>destroy</on_poweroff>\n"
                        "  <on_reboot>destroy</on_reboot>\n"
                        "  <on_crash>destroy</on_crash>\n"
                        "  <devices>\n");
  for (guint i = 0; i < config->filesystems->len; i++)
    {
      CsbContainerFs *fs = g_ptr_array_index (config->filesystems, i);

      if (fs->source == NULL)
        csb_libvirt_xml_append (xml, "    <filesystem type='ram' accessmode='passthrough'>\n"
                                     "      <source usage='%u' units='MiB'/>\n"
                                     "      <target dir='%s'/>\n"
                                     "    </filesystem>\n", fs->ram_mib, fs->target);
      else
        {
          csb_libvirt_xml_append (xml, "    <filesystem type='mount' accessmode='passthrough'>\n"
                                       "      <source dir='%s'/>\n"
                                       "      <target dir='%s'/>\n", fs->source, fs->target);
          if (fs->readonly)
            g_string_append (xml, "      <readonly/>\n");
          g_string_append (xml, "    </filesystem>\n");
        }
    }
  g_string_append (xml, "    <console type='pty'/>\n"
                        "  </devices>\n"
                        "</domain>\n");
  return g_string_free (g_steal_pointer (&xml), FALSE);
}
