/* csb-container-domain.h — the libvirt-LXC domain XML of a sandbox container,
 * built from a plain description (no file system access: the unit tests
 * validate its output).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Our metadata namespace: a restarted service recognises its domains by it. */
#define CSB_CONTAINER_METADATA_NS  "https://example.org/claude-sandbox/container/1"
#define CSB_CONTAINER_METADATA_KEY "claude-sandbox"
#define CSB_CONTAINER_DOMAIN_PREFIX "claude-sandbox-ct-"

typedef struct
{
  char    *source;     /* a host folder or file; NULL for a tmpfs */
  char    *target;
  gboolean readonly;
  guint    ram_mib;    /* a tmpfs of this size when source is NULL */
} CsbContainerFs;

typedef struct
{
  guint32 start;       /* the first id inside */
  guint32 target;      /* its id on the host */
  guint32 count;
} CsbContainerIdRange;

typedef struct
{
  char      *sandbox_id;
  char      *name;          /* the sandbox's Name, for the domain's title */
  char      *project_dir;
  guint      memory_mib;
  char      *init;          /* the path of the init inside the container */
  gboolean   network;       /* share the host's network namespace; else lo only */
  GArray    *uid_map;       /* (element-type CsbContainerIdRange) */
  GArray    *gid_map;
  GPtrArray *filesystems;   /* (element-type CsbContainerFs): the first is the root */
} CsbContainerDomainConfig;

CsbContainerDomainConfig *csb_container_domain_config_new    (void);
void                      csb_container_domain_config_free   (CsbContainerDomainConfig *config);
void                      csb_container_domain_config_add_fs (CsbContainerDomainConfig *config,
                                                              const char               *source,
                                                              const char               *target,
                                                              gboolean                  readonly);
void                      csb_container_domain_config_add_tmpfs (CsbContainerDomainConfig *config,
                                                                 const char             *target,
                                                                 guint                   size_mib);
void                      csb_container_domain_config_map_ids (CsbContainerDomainConfig *config,
                                                               guint32                 uid_inside,
                                                               guint32                 uid_host,
                                                               guint32                 gid_inside,
                                                               guint32                 gid_host);
char                     *csb_container_domain_name          (const char               *sandbox_id);
char                     *csb_container_domain_to_xml        (const CsbContainerDomainConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsbContainerDomainConfig, csb_container_domain_config_free)

G_END_DECLS
