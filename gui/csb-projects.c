/* csb-projects.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "csb-projects.h"

#define MAX_RECENT 8

struct _CsbProjects
{
  GObject    parent_instance;

  GSettings *settings;
  GPtrArray *items;  /* of CsbProject, the most recent first */
};

static void csb_projects_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (CsbProjects, csb_projects, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      csb_projects_list_model_init))

/* ---- GListModel ----------------------------------------------------------------------- */

static GType
csb_projects_get_item_type (GListModel *model)
{
  return CSB_TYPE_PROJECT;
}

static guint
csb_projects_get_n_items (GListModel *model)
{
  return CSB_PROJECTS (model)->items->len;
}

static gpointer
csb_projects_get_item (GListModel *model,
                       guint       position)
{
  CsbProjects *self = CSB_PROJECTS (model);

  if (position >= self->items->len)
    return NULL;
  return g_object_ref (g_ptr_array_index (self->items, position));
}

static void
csb_projects_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = csb_projects_get_item_type;
  iface->get_n_items = csb_projects_get_n_items;
  iface->get_item = csb_projects_get_item;
}

/* ---- the settings --------------------------------------------------------------------- */

/* The items anew from the settings, whoever changed them (this app, another
 * instance, dconf-editor). */
static void
reload (CsbProjects *self)
{
  g_auto(GStrv) recent = g_settings_get_strv (self->settings, "recent-projects");
  g_autoptr(GVariant) all = g_settings_get_value (self->settings, "project-options");
  guint removed = self->items->len;

  g_ptr_array_set_size (self->items, 0);
  for (guint i = 0; recent[i] != NULL; i++)
    {
      g_autoptr(GVariant) options = g_variant_lookup_value (all, recent[i],
                                                            G_VARIANT_TYPE_VARDICT);

      g_ptr_array_add (self->items, csb_project_new (recent[i], options));
    }
  g_list_model_items_changed (G_LIST_MODEL (self), 0, removed, self->items->len);
}

GVariant *
csb_projects_get_options (CsbProjects *self,
                          const char  *project_dir)
{
  g_return_val_if_fail (CSB_IS_PROJECTS (self), NULL);
  g_return_val_if_fail (project_dir != NULL, NULL);

  for (guint i = 0; i < self->items->len; i++)
    {
      CsbProject *project = g_ptr_array_index (self->items, i);
      GVariant *options = csb_project_get_options (project);

      if (g_strcmp0 (csb_project_get_path (project), project_dir) == 0)
        return options != NULL ? g_variant_ref (options) : NULL;
    }
  return NULL;
}

void
csb_projects_remember (CsbProjects *self,
                       const char  *project_dir,
                       GVariant    *options)
{
  g_autoptr(GVariant) owned = NULL;
  g_autoptr(GStrvBuilder) recent = g_strv_builder_new ();
  g_auto(GStrv) recent_strv = NULL;
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a{sa{sv}}"));
  guint n = 1;

  g_return_if_fail (CSB_IS_PROJECTS (self));
  g_return_if_fail (project_dir != NULL);
  g_return_if_fail (options != NULL && g_variant_is_of_type (options, G_VARIANT_TYPE_VARDICT));

  owned = g_variant_ref_sink (options);
  g_strv_builder_add (recent, project_dir);
  g_variant_builder_add (&builder, "{s@a{sv}}", project_dir, owned);
  /* Only the recent projects keep their options, so the key does not grow forever. */
  for (guint i = 0; i < self->items->len && n < MAX_RECENT; i++)
    {
      CsbProject *project = g_ptr_array_index (self->items, i);
      const char *path = csb_project_get_path (project);

      if (g_strcmp0 (path, project_dir) == 0)
        continue;
      g_strv_builder_add (recent, path);
      if (csb_project_get_options (project) != NULL)
        g_variant_builder_add (&builder, "{s@a{sv}}", path, csb_project_get_options (project));
      n++;
    }
  recent_strv = g_strv_builder_end (recent);

  /* The options first: once the list names the project, its options are there
   * (each write reloads the items). */
  g_settings_set_value (self->settings, "project-options", g_variant_builder_end (&builder));
  g_settings_set_strv (self->settings, "recent-projects", (const char * const *) recent_strv);
}

/* ---- GObject -------------------------------------------------------------------------- */

CsbProjects *
csb_projects_new (GSettings *settings)
{
  CsbProjects *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  self = g_object_new (CSB_TYPE_PROJECTS, NULL);
  self->settings = g_object_ref (settings);
  g_signal_connect_object (settings, "changed::recent-projects", G_CALLBACK (reload), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (settings, "changed::project-options", G_CALLBACK (reload), self,
                           G_CONNECT_SWAPPED);
  reload (self);
  return self;
}

static void
csb_projects_dispose (GObject *object)
{
  CsbProjects *self = CSB_PROJECTS (object);

  if (self->settings != NULL)
    g_signal_handlers_disconnect_by_data (self->settings, self);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (csb_projects_parent_class)->dispose (object);
}

static void
csb_projects_finalize (GObject *object)
{
  CsbProjects *self = CSB_PROJECTS (object);

  g_clear_pointer (&self->items, g_ptr_array_unref);
  G_OBJECT_CLASS (csb_projects_parent_class)->finalize (object);
}

static void
csb_projects_class_init (CsbProjectsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = csb_projects_dispose;
  object_class->finalize = csb_projects_finalize;
}

static void
csb_projects_init (CsbProjects *self)
{
  self->items = g_ptr_array_new_with_free_func (g_object_unref);
}
