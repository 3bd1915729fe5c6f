/* csb-error.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <gio/gio.h>

#include "csb-error.h"
#include "csb-names.h"

static const GDBusErrorEntry csb_error_entries[] = {
  { CSB_ERROR_INVALID_ARGUMENT, CSB_INTERFACE_PREFIX "Error.InvalidArgument" },
  { CSB_ERROR_NOT_FOUND, CSB_INTERFACE_PREFIX "Error.NotFound" },
  { CSB_ERROR_BACKEND_UNAVAILABLE, CSB_INTERFACE_PREFIX "Error.BackendUnavailable" },
  { CSB_ERROR_NOT_RUNNING, CSB_INTERFACE_PREFIX "Error.NotRunning" },
  { CSB_ERROR_FAILED, CSB_INTERFACE_PREFIX "Error.Failed" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (csb_error_entries) == CSB_N_ERRORS);

GQuark
csb_error_quark (void)
{
  static gsize quark = 0;

  /* Registering maps both ways: the service's GErrors become these D-Bus names,
   * and clients (CLI, GUI, tests) get CSB_ERROR back from g_dbus_error. */
  g_dbus_error_register_error_domain ("csb-error-quark", &quark,
                                      csb_error_entries, G_N_ELEMENTS (csb_error_entries));
  return (GQuark) quark;
}
