/* csb-project.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "csb-project.h"

struct _CsbProject
{
  GObject   parent_instance;

  char     *path;
  GVariant *options;
};

G_DEFINE_FINAL_TYPE (CsbProject, csb_project, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_PATH,
  PROP_OPTIONS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

CsbProject *
csb_project_new (const char *path,
                 GVariant   *options)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (options == NULL || g_variant_is_of_type (options, G_VARIANT_TYPE_VARDICT),
                        NULL);

  return g_object_new (CSB_TYPE_PROJECT, "path", path, "options", options, NULL);
}

const char *
csb_project_get_path (CsbProject *self)
{
  g_return_val_if_fail (CSB_IS_PROJECT (self), NULL);
  return self->path;
}

GVariant *
csb_project_get_options (CsbProject *self)
{
  g_return_val_if_fail (CSB_IS_PROJECT (self), NULL);
  return self->options;
}

static void
csb_project_finalize (GObject *object)
{
  CsbProject *self = CSB_PROJECT (object);

  g_free (self->path);
  g_clear_pointer (&self->options, g_variant_unref);
  G_OBJECT_CLASS (csb_project_parent_class)->finalize (object);
}

static void
csb_project_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  CsbProject *self = CSB_PROJECT (object);

  switch (prop_id)
    {
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    case PROP_OPTIONS:
      g_value_set_variant (value, self->options);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
csb_project_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  CsbProject *self = CSB_PROJECT (object);

  switch (prop_id)
    {
    case PROP_PATH:
      self->path = g_value_dup_string (value);
      break;
    case PROP_OPTIONS:
      self->options = g_value_dup_variant (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
csb_project_class_init (CsbProjectClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = csb_project_finalize;
  object_class->get_property = csb_project_get_property;
  object_class->set_property = csb_project_set_property;

  properties[PROP_PATH] =
    g_param_spec_string ("path", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_OPTIONS] =
    g_param_spec_variant ("options", NULL, NULL, G_VARIANT_TYPE_VARDICT, NULL,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
csb_project_init (CsbProject *self)
{
}
