/* csb-error.c
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <gio/gio.h>

#include "csb-error.h"

static const GDBusErrorEntry csb_error_entries[] = {
  { CSB_ERROR_INVALID_ARGUMENT, "org.example.ClaudeSandbox.Error.InvalidArgument" },
  { CSB_ERROR_NOT_FOUND, "org.example.ClaudeSandbox.Error.NotFound" },
  { CSB_ERROR_BACKEND_UNAVAILABLE, "org.example.ClaudeSandbox.Error.BackendUnavailable" },
  { CSB_ERROR_NOT_RUNNING, "org.example.ClaudeSandbox.Error.NotRunning" },
  { CSB_ERROR_FAILED, "org.example.ClaudeSandbox.Error.Failed" },
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
