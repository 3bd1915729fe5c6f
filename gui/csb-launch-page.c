/* csb-launch-page.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "csb-backend-options.h"
#include "csb-format.h"
#include "csb-launch-page.h"
#include "csb-project.h"

#ifdef GDK_WINDOWING_WAYLAND
#include <gdk/wayland/gdkwayland.h>
#endif

typedef struct
{
  char     *name;
  gboolean  available;
  char     *detail;
} Backend;

struct _CsbLaunchPage
{
  AdwBin          parent_instance;

  GtkStack       *stack;
  AdwPreferencesGroup *recent_group;
  GtkListBox     *recent_list;
  AdwActionRow   *folder_row;
  GtkSwitch      *network_switch;
  GtkSwitch      *gh_token_switch;
  AdwComboRow    *backend_row;
  GtkSwitch      *shell_switch;
  AdwActionRow   *display_row;
  GtkSwitch      *display_switch;
  GtkSwitch      *audio_switch;
  GtkSwitch      *gpu_switch;
  GtkSwitch      *ssh_agent_switch;
  GtkSwitch      *review_switch;
  AdwActionRow   *vm_memory_row;
  GtkSpinButton  *vm_memory_spin;
  AdwActionRow   *vm_cpus_row;
  GtkSpinButton  *vm_cpus_spin;

  char           *project_dir;
  GArray         *backends;   /* of Backend */
  GtkStringList  *backend_labels;
  gboolean        can_launch;
  GtkFilterListModel *recent;  /* the recent projects (CsbProject) whose folder is there */
};

G_DEFINE_FINAL_TYPE (CsbLaunchPage, csb_launch_page, ADW_TYPE_BIN)

enum {
  PROP_0,
  PROP_CAN_LAUNCH,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static const char *
backend_title (const char *name)
{
  if (g_strcmp0 (name, "bwrap") == 0)
    return _("Namespaces (bubblewrap)");
  if (g_strcmp0 (name, "vm") == 0)
    return _("Virtual Machine");
  if (g_strcmp0 (name, "container") == 0)
    return _("Container");
  return name;
}

static const char *
backend_description (const char *name)
{
  if (g_strcmp0 (name, "bwrap") == 0)
    return _("Fast: its own view of the system, sharing your computer’s kernel.");
  if (g_strcmp0 (name, "vm") == 0)
    return _("Strongest: its own kernel in a virtual machine; starts in a few seconds.");
  if (g_strcmp0 (name, "container") == 0)
    return _("A container with a root of its own, set up with administrator permission.");
  return "";
}

static void
backend_clear (Backend *backend)
{
  g_free (backend->name);
  g_free (backend->detail);
}

static const Backend *
selected_backend (CsbLaunchPage *self)
{
  guint selected = adw_combo_row_get_selected (self->backend_row);

  if (selected >= self->backends->len)
    return NULL;
  return &g_array_index (self->backends, Backend, selected);
}

/* An option the chosen backend cannot give (csb-backend-options.h) is not offered: its
 * row is greyed out, its switch keeps the project's choice for another backend (and
 * csb-application.c does not send it, as the service would refuse it). */
static void
offer_option (GtkSwitch     *option_switch,
              const Backend *backend,
              const char    *key)
{
  GtkWidget *row = gtk_widget_get_ancestor (GTK_WIDGET (option_switch), ADW_TYPE_ACTION_ROW);
  gboolean gives = backend == NULL || csb_backend_gives (backend->name, key);
  g_autofree char *tooltip = NULL;

  if (!gives)
    /* Translators: the name of a kind of sandbox, e.g. "Virtual Machine" */
    tooltip = g_strdup_printf (_("Not available with %s"), backend_title (backend->name));
  gtk_widget_set_sensitive (row, gives);
  gtk_widget_set_tooltip_text (row, tooltip);
}

static void
update_state (CsbLaunchPage *self)
{
  const Backend *backend = selected_backend (self);
  gboolean is_vm = backend != NULL && g_strcmp0 (backend->name, "vm") == 0;
  gboolean can_launch;

  /* Words for people; what the service says (versions, paths) on hover. */
  if (backend == NULL)
    adw_action_row_set_subtitle (ADW_ACTION_ROW (self->backend_row), "");
  else if (backend->available)
    adw_action_row_set_subtitle (ADW_ACTION_ROW (self->backend_row),
                                 backend_description (backend->name));
  else if (csb_format_needs_admin (backend->detail))
    adw_action_row_set_subtitle (ADW_ACTION_ROW (self->backend_row),
                                 _("Needs administrator permission. Ask an administrator to allow "
                                   "containers for you."));
  else
    adw_action_row_set_subtitle (ADW_ACTION_ROW (self->backend_row),
                                 _("Not available on this computer."));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->backend_row),
                               backend != NULL && *backend->detail != '\0' ? backend->detail : NULL);
  gtk_widget_set_sensitive (GTK_WIDGET (self->vm_memory_row), is_vm);
  gtk_widget_set_sensitive (GTK_WIDGET (self->vm_cpus_row), is_vm);
  offer_option (self->audio_switch, backend, "audio");
  offer_option (self->gpu_switch, backend, "gpu");
  offer_option (self->ssh_agent_switch, backend, "ssh-agent");

  can_launch = self->project_dir != NULL && backend != NULL && backend->available;
  if (can_launch != self->can_launch)
    {
      self->can_launch = can_launch;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_LAUNCH]);
    }
}

static void
select_backend (CsbLaunchPage *self,
                const char    *name)
{
  for (guint i = 0; i < self->backends->len; i++)
    if (g_strcmp0 (g_array_index (self->backends, Backend, i).name, name) == 0)
      {
        adw_combo_row_set_selected (self->backend_row, i);
        return;
      }
}

void
csb_launch_page_set_backends (CsbLaunchPage *self,
                              GVariant      *backends)
{
  g_autofree char *selected = NULL;
  g_autoptr(GPtrArray) labels = g_ptr_array_new_with_free_func (g_free);
  GVariantIter iter;
  Backend backend;

  g_return_if_fail (CSB_IS_LAUNCH_PAGE (self));
  g_return_if_fail (g_variant_is_of_type (backends, G_VARIANT_TYPE ("a(sbs)")));

  if (selected_backend (self) != NULL)
    selected = g_strdup (selected_backend (self)->name);
  g_array_set_size (self->backends, 0);
  g_variant_iter_init (&iter, backends);
  while (g_variant_iter_next (&iter, "(sbs)", &backend.name, &backend.available, &backend.detail))
    {
      g_array_append_val (self->backends, backend);
      /* The chosen one shows its title only (the subtitle says whether it runs here);
       * the list says which cannot (see setup_list_item()). */
      g_ptr_array_add (labels, g_strdup (backend_title (backend.name)));
    }
  g_ptr_array_add (labels, NULL);
  gtk_string_list_splice (self->backend_labels, 0,
                          g_list_model_get_n_items (G_LIST_MODEL (self->backend_labels)),
                          (const char * const *) labels->pdata);
  if (selected != NULL)
    select_backend (self, selected);
  update_state (self);
}

static gboolean
lookup_boolean (GVariant   *options,
                const char *key,
                gboolean    fallback)
{
  gboolean value;

  return g_variant_lookup (options, key, "b", &value) ? value : fallback;
}

void
csb_launch_page_set_folder (CsbLaunchPage *self,
                            const char    *project_dir,
                            GVariant      *options)
{
  g_autoptr(GVariant) owned = options ? g_variant_ref_sink (options) : NULL;
  g_autofree char *basename = NULL;
  g_autofree char *display = NULL;
  const char *backend;
  guint32 value;

  g_return_if_fail (CSB_IS_LAUNCH_PAGE (self));

  g_free (self->project_dir);
  self->project_dir = g_strdup (project_dir);
  if (project_dir == NULL)
    {
      gtk_stack_set_visible_child_name (self->stack, "welcome");
      update_state (self);
      return;
    }

  basename = g_path_get_basename (project_dir);
  display = csb_format_path (project_dir);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->folder_row), basename);
  adw_action_row_set_subtitle (self->folder_row, display);

  if (owned != NULL)
    {
      gtk_switch_set_active (self->network_switch, lookup_boolean (owned, "network", TRUE));
      gtk_switch_set_active (self->gh_token_switch, lookup_boolean (owned, "gh-token", FALSE));
      gtk_switch_set_active (self->shell_switch, lookup_boolean (owned, "shell", FALSE));
      gtk_switch_set_active (self->display_switch, lookup_boolean (owned, "display", FALSE));
      gtk_switch_set_active (self->audio_switch, lookup_boolean (owned, "audio", FALSE));
      gtk_switch_set_active (self->gpu_switch, lookup_boolean (owned, "gpu", FALSE));
      gtk_switch_set_active (self->ssh_agent_switch, lookup_boolean (owned, "ssh-agent", FALSE));
      {
        const char *mode = NULL;

        gtk_switch_set_active (self->review_switch,
                               g_variant_lookup (owned, "project-mode", "&s", &mode) &&
                               g_strcmp0 (mode, "review") == 0);
      }
      if (g_variant_lookup (owned, "vm-memory-mib", "u", &value))
        gtk_spin_button_set_value (self->vm_memory_spin, value);
      if (g_variant_lookup (owned, "vm-cpus", "u", &value))
        gtk_spin_button_set_value (self->vm_cpus_spin, value);
      if (g_variant_lookup (owned, "backend", "&s", &backend))
        select_backend (self, backend);
    }
  gtk_stack_set_visible_child_name (self->stack, "options");
  update_state (self);
  /* Another folder: its options from the top. */
  {
    GtkWidget *scrolled = gtk_widget_get_ancestor (GTK_WIDGET (self->folder_row),
                                                   GTK_TYPE_SCROLLED_WINDOW);

    if (scrolled != NULL)
      gtk_adjustment_set_value (gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (scrolled)),
                                0);
  }
}

const char *
csb_launch_page_get_folder (CsbLaunchPage *self)
{
  g_return_val_if_fail (CSB_IS_LAUNCH_PAGE (self), NULL);
  return self->project_dir;
}

gboolean
csb_launch_page_get_can_launch (CsbLaunchPage *self)
{
  g_return_val_if_fail (CSB_IS_LAUNCH_PAGE (self), FALSE);
  return self->can_launch;
}

GVariant *
csb_launch_page_get_options (CsbLaunchPage *self)
{
  GVariantBuilder builder;
  const Backend *backend;

  g_return_val_if_fail (CSB_IS_LAUNCH_PAGE (self), NULL);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  backend = selected_backend (self);
  if (backend != NULL)
    g_variant_builder_add (&builder, "{sv}", "backend", g_variant_new_string (backend->name));
  g_variant_builder_add (&builder, "{sv}", "network",
                         g_variant_new_boolean (gtk_switch_get_active (self->network_switch)));
  g_variant_builder_add (&builder, "{sv}", "gh-token",
                         g_variant_new_boolean (gtk_switch_get_active (self->gh_token_switch)));
  g_variant_builder_add (&builder, "{sv}", "shell",
                         g_variant_new_boolean (gtk_switch_get_active (self->shell_switch)));
  g_variant_builder_add (&builder, "{sv}", "display",
                         g_variant_new_boolean (gtk_switch_get_active (self->display_switch)));
  g_variant_builder_add (&builder, "{sv}", "audio",
                         g_variant_new_boolean (gtk_switch_get_active (self->audio_switch)));
  g_variant_builder_add (&builder, "{sv}", "gpu",
                         g_variant_new_boolean (gtk_switch_get_active (self->gpu_switch)));
  g_variant_builder_add (&builder, "{sv}", "ssh-agent",
                         g_variant_new_boolean (gtk_switch_get_active (self->ssh_agent_switch)));
  /* Always said: the switch shows the setting's default for a new project, and off
   * must mean direct even where the setting says review. */
  g_variant_builder_add (&builder, "{sv}", "project-mode",
                         g_variant_new_string (gtk_switch_get_active (self->review_switch)
                                               ? "review" : "direct"));
  g_variant_builder_add (&builder, "{sv}", "vm-memory-mib",
                         g_variant_new_uint32 (gtk_spin_button_get_value_as_int (self->vm_memory_spin)));
  g_variant_builder_add (&builder, "{sv}", "vm-cpus",
                         g_variant_new_uint32 (gtk_spin_button_get_value_as_int (self->vm_cpus_spin)));
  return g_variant_builder_end (&builder);
}

/* A folder gone since (moved, on a drive not mounted) is not offered. */
static gboolean
project_exists (gpointer item,
                gpointer user_data)
{
  return g_file_test (csb_project_get_path (item), G_FILE_TEST_IS_DIR);
}

static GtkWidget *
create_recent_row (gpointer item,
                   gpointer user_data)
{
  const char *path = csb_project_get_path (item);
  g_autofree char *basename = g_path_get_basename (path);
  g_autofree char *subtitle = csb_format_path (path);
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *start = gtk_button_new_from_icon_name ("media-playback-start-symbolic");

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), basename);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_add_prefix (ADW_ACTION_ROW (row),
                             gtk_image_new_from_icon_name ("folder-symbolic"));
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (row), "win.select-folder");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (row), "s", path);

  gtk_widget_set_valign (start, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (start, "flat");
  gtk_widget_set_tooltip_text (start, _("Start a sandbox with the project’s last options"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (start), "app.launch");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (start), "s", path);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), start);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                             gtk_image_new_from_icon_name ("go-next-symbolic"));
  return row;
}

static void
on_recent_changed (CsbLaunchPage *self)
{
  gtk_widget_set_visible (GTK_WIDGET (self->recent_group),
                          self->recent != NULL &&
                          g_list_model_get_n_items (G_LIST_MODEL (self->recent)) > 0);
}

void
csb_launch_page_set_projects (CsbLaunchPage *self,
                              GListModel    *projects)
{
  GtkCustomFilter *filter;

  g_return_if_fail (CSB_IS_LAUNCH_PAGE (self));
  g_return_if_fail (projects == NULL || G_IS_LIST_MODEL (projects));

  if (self->recent != NULL)
    g_signal_handlers_disconnect_by_data (self->recent, self);
  g_clear_object (&self->recent);
  if (projects != NULL)
    {
      filter = gtk_custom_filter_new (project_exists, NULL, NULL);
      self->recent = gtk_filter_list_model_new (g_object_ref (projects), GTK_FILTER (filter));
      g_signal_connect_object (self->recent, "items-changed", G_CALLBACK (on_recent_changed),
                               self, G_CONNECT_SWAPPED);
    }
  gtk_list_box_bind_model (self->recent_list, G_LIST_MODEL (self->recent), create_recent_row,
                           NULL, NULL);
  on_recent_changed (self);
}

guint
csb_launch_page_get_n_recent (CsbLaunchPage *self)
{
  g_return_val_if_fail (CSB_IS_LAUNCH_PAGE (self), 0);
  return self->recent != NULL ? g_list_model_get_n_items (G_LIST_MODEL (self->recent)) : 0;
}

static void
setup_list_item (GtkSignalListItemFactory *factory,
                 GtkListItem              *item,
                 gpointer                  user_data)
{
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_list_item_set_child (item, label);
}

static void
bind_list_item (GtkSignalListItemFactory *factory,
                GtkListItem              *item,
                CsbLaunchPage            *self)
{
  GtkLabel *label = GTK_LABEL (gtk_list_item_get_child (item));
  const char *title = gtk_string_object_get_string (gtk_list_item_get_item (item));
  guint position = gtk_list_item_get_position (item);
  gboolean available = position >= self->backends->len ||
                       g_array_index (self->backends, Backend, position).available;

  if (available)
    gtk_label_set_label (label, title);
  else
    {
      g_autofree char *text = g_strdup_printf (_("%s (not available)"), title);

      gtk_label_set_label (label, text);
    }
  if (available)
    gtk_widget_remove_css_class (GTK_WIDGET (label), "dim-label");
  else
    gtk_widget_add_css_class (GTK_WIDGET (label), "dim-label");
}

static void
on_backend_selected (CsbLaunchPage *self)
{
  update_state (self);
}

static void
csb_launch_page_finalize (GObject *object)
{
  CsbLaunchPage *self = CSB_LAUNCH_PAGE (object);

  g_free (self->project_dir);
  g_array_unref (self->backends);
  g_clear_object (&self->backend_labels);
  g_clear_object (&self->recent);
  G_OBJECT_CLASS (csb_launch_page_parent_class)->finalize (object);
}

static void
csb_launch_page_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  CsbLaunchPage *self = CSB_LAUNCH_PAGE (object);

  switch (prop_id)
    {
    case PROP_CAN_LAUNCH:
      g_value_set_boolean (value, self->can_launch);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* A sandbox's display is the session's compositor: whether that can hold the
 * sandbox to less than an ordinary app (wp_security_context_v1) is worth saying
 * before the switch is turned on. */
static void
update_display_subtitle (CsbLaunchPage *self)
{
#ifdef GDK_WINDOWING_WAYLAND
  GdkDisplay *display = gtk_widget_get_display (GTK_WIDGET (self));

  if (!GDK_IS_WAYLAND_DISPLAY (display))
    return;
  if (gdk_wayland_display_query_registry (display, "wp_security_context_manager_v1"))
    adw_action_row_set_subtitle (self->display_row,
                                 _("Let programs inside open windows, with the restrictions "
                                   "your compositor sets for sandboxed apps"));
  else
    adw_action_row_set_subtitle (self->display_row,
                                 _("Let programs inside open windows. Your compositor cannot "
                                   "restrict them: they can use everything it offers any app, "
                                   "such as screen capture where it has that"));
#endif
}

static void
csb_launch_page_class_init (CsbLaunchPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = csb_launch_page_finalize;
  object_class->get_property = csb_launch_page_get_property;

  properties[PROP_CAN_LAUNCH] =
    g_param_spec_boolean ("can-launch", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/example/ClaudeSandbox/App/csb-launch-page.ui");
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, stack);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, recent_group);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, recent_list);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, folder_row);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, network_switch);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, gh_token_switch);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, backend_row);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, shell_switch);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, display_row);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, display_switch);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, audio_switch);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, gpu_switch);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, ssh_agent_switch);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, review_switch);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, vm_memory_row);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, vm_memory_spin);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, vm_cpus_row);
  gtk_widget_class_bind_template_child (widget_class, CsbLaunchPage, vm_cpus_spin);
}

static void
csb_launch_page_init (CsbLaunchPage *self)
{
  g_autoptr(GVariant) guess = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->backends = g_array_new (FALSE, TRUE, sizeof (Backend));
  g_array_set_clear_func (self->backends, (GDestroyNotify) backend_clear);
  self->backend_labels = gtk_string_list_new (NULL);
  adw_combo_row_set_model (self->backend_row, G_LIST_MODEL (self->backend_labels));
  {
    g_autoptr(GtkListItemFactory) factory = gtk_signal_list_item_factory_new ();

    g_signal_connect (factory, "setup", G_CALLBACK (setup_list_item), NULL);
    g_signal_connect (factory, "bind", G_CALLBACK (bind_list_item), self);
    adw_combo_row_set_list_factory (self->backend_row, factory);
  }
  g_signal_connect_swapped (self->backend_row, "notify::selected",
                            G_CALLBACK (on_backend_selected), self);

  /* Until the service answers GetBackends. */
  guess = g_variant_ref_sink (g_variant_new_parsed ("[('bwrap', true, ''), ('vm', false, %s), ('container', false, %s)]",
                                                    _("Checking…"), _("Checking…")));
  csb_launch_page_set_backends (self, guess);
  gtk_widget_set_visible (GTK_WIDGET (self->recent_group), FALSE);
  update_display_subtitle (self);
}
