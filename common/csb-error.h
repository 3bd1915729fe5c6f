/* csb-error.h — the one error domain of claude-sandbox, mapped to D-Bus error names.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define CSB_ERROR (csb_error_quark ())

typedef enum {
  CSB_ERROR_INVALID_ARGUMENT,   /*< nick=org.example.ClaudeSandbox.Error.InvalidArgument >*/
  CSB_ERROR_NOT_FOUND,          /*< nick=org.example.ClaudeSandbox.Error.NotFound >*/
  CSB_ERROR_BACKEND_UNAVAILABLE,/*< nick=org.example.ClaudeSandbox.Error.BackendUnavailable >*/
  CSB_ERROR_NOT_RUNNING,        /*< nick=org.example.ClaudeSandbox.Error.NotRunning >*/
  CSB_ERROR_FAILED,             /*< nick=org.example.ClaudeSandbox.Error.Failed >*/
} CsbError;

#define CSB_N_ERRORS (CSB_ERROR_FAILED + 1)

GQuark csb_error_quark (void);

G_END_DECLS
