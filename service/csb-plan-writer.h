/* csb-plan-writer.h — the guest plan's writer, for the service's side (the VM's
 * and the container's backends, the layout's protected entries). The wire format,
 * its keywords and their arguments are csb-plan.h's (helpers/guest/), which the
 * inits read.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "csb-plan.h"

G_BEGIN_DECLS

/* Appends to @plan the entry @keyword with its arguments, NULL-terminated: exactly
 * as many as @keyword takes (else nothing is written, and a critical says so). */
void csb_plan_add (GByteArray     *plan,
                   CsbPlanKeyword  keyword,
                   ...) G_GNUC_NULL_TERMINATED;

G_END_DECLS
