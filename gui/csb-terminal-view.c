/* csb-terminal-view.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "csb-terminal-view.h"

struct _CsbTerminalView
{
  VteTerminal parent_instance;

  glong       columns;
  glong       rows;
};

G_DEFINE_FINAL_TYPE (CsbTerminalView, csb_terminal_view, VTE_TYPE_TERMINAL)

enum {
  GRID_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

GtkWidget *
csb_terminal_view_new (void)
{
  return g_object_new (CSB_TYPE_TERMINAL_VIEW, NULL);
}

static void
csb_terminal_view_size_allocate (GtkWidget *widget,
                                 int        width,
                                 int        height,
                                 int        baseline)
{
  CsbTerminalView *self = CSB_TERMINAL_VIEW (widget);
  glong columns, rows;

  GTK_WIDGET_CLASS (csb_terminal_view_parent_class)->size_allocate (widget, width, height,
                                                                    baseline);
  columns = vte_terminal_get_column_count (VTE_TERMINAL (self));
  rows = vte_terminal_get_row_count (VTE_TERMINAL (self));
  if (columns != self->columns || rows != self->rows)
    {
      self->columns = columns;
      self->rows = rows;
      g_signal_emit (self, signals[GRID_CHANGED], 0, (guint) columns, (guint) rows);
    }
}

static gboolean
copy_shortcut (GtkWidget *widget,
               GVariant  *args,
               gpointer   user_data)
{
  vte_terminal_copy_clipboard_format (VTE_TERMINAL (widget), VTE_FORMAT_TEXT);
  return TRUE;
}

static gboolean
paste_shortcut (GtkWidget *widget,
                GVariant  *args,
                gpointer   user_data)
{
  vte_terminal_paste_clipboard (VTE_TERMINAL (widget));
  return TRUE;
}

static void
copy_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  vte_terminal_copy_clipboard_format (VTE_TERMINAL (widget), VTE_FORMAT_TEXT);
}

static void
paste_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  vte_terminal_paste_clipboard (VTE_TERMINAL (widget));
}

static void
select_all_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  vte_terminal_select_all (VTE_TERMINAL (widget));
}

/* A right click opens Copy, Paste, Select All, as in Console. */
static void
on_secondary_click (GtkGestureClick *gesture,
                    int              n_press,
                    double           x,
                    double           y,
                    CsbTerminalView *self)
{
  g_autoptr(GMenu) menu = g_menu_new ();
  GtkWidget *popover;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "term.copy",
                                 vte_terminal_get_has_selection (VTE_TERMINAL (self)));
  g_menu_append (menu, _("_Copy"), "term.copy");
  g_menu_append (menu, _("_Paste"), "term.paste");
  g_menu_append (menu, _("Select _All"), "term.select-all");
  popover = gtk_popover_menu_new_from_model (G_MENU_MODEL (menu));
  gtk_widget_set_parent (popover, GTK_WIDGET (self));
  gtk_popover_set_has_arrow (GTK_POPOVER (popover), FALSE);
  gtk_popover_set_pointing_to (GTK_POPOVER (popover), &(GdkRectangle) { (int) x, (int) y, 1, 1 });
  g_signal_connect (popover, "closed", G_CALLBACK (gtk_widget_unparent), NULL);
  gtk_popover_popup (GTK_POPOVER (popover));
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
}

static void
csb_terminal_view_class_init (CsbTerminalViewClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  widget_class->size_allocate = csb_terminal_view_size_allocate;

  /* Ctrl+C and Ctrl+V belong to the program in the terminal. */
  gtk_widget_class_add_binding (widget_class, GDK_KEY_c, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                copy_shortcut, NULL);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_v, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                paste_shortcut, NULL);
  gtk_widget_class_install_action (widget_class, "term.copy", NULL, copy_action);
  gtk_widget_class_install_action (widget_class, "term.paste", NULL, paste_action);
  gtk_widget_class_install_action (widget_class, "term.select-all", NULL, select_all_action);

  /* Emitted from size_allocate: handlers must not change the layout. */
  signals[GRID_CHANGED] =
    g_signal_new ("grid-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_UINT);
}

static void
csb_terminal_view_init (CsbTerminalView *self)
{
  GtkGesture *click = gtk_gesture_click_new ();

  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_SECONDARY);
  g_signal_connect (click, "pressed", G_CALLBACK (on_secondary_click), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));

  vte_terminal_set_scrollback_lines (VTE_TERMINAL (self), 10000);
  vte_terminal_set_scroll_on_output (VTE_TERMINAL (self), FALSE);
  vte_terminal_set_scroll_on_keystroke (VTE_TERMINAL (self), TRUE);
  vte_terminal_set_mouse_autohide (VTE_TERMINAL (self), TRUE);
  vte_terminal_set_size (VTE_TERMINAL (self), 100, 30);
  /* What the sandbox writes is hostile (the CLI filters it, see CsbEscapeFilter);
   * here VTE itself is the filter. Links (OSC 8) off, whatever the default; no sixel
   * images. VTE has no clipboard write (OSC 52 is parsed and ignored, as in 0.70 and
   * since), the window title (OSC 0/2) is not used by the app (its tabs show the
   * sandbox's name), and the answers VTE gives to report requests (DSR, DA,
   * DECRQSS…) come out of its ::commit signal, which this page writes into the
   * sandbox's terminal: they go back to the program that asked, inside, and never
   * to a shell of the host. */
  vte_terminal_set_allow_hyperlink (VTE_TERMINAL (self), FALSE);
  vte_terminal_set_enable_sixel (VTE_TERMINAL (self), FALSE);
  gtk_widget_set_hexpand (GTK_WIDGET (self), TRUE);
  gtk_widget_set_vexpand (GTK_WIDGET (self), TRUE);
}
