/* csb-test-display.h — checks of a sandbox's private display, for the bwrap
 * (test-sec-display) and the container (test-container) tests.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <sys/types.h>

#include "csb-test-utils.h"

G_BEGIN_DECLS

/* Whether weston, weston-simple-shm and weston-screenshooter are installed. */
gboolean csb_test_have_weston           (void);
/* The distinct saturated colours of the PNG in @fd (taken), 0 if it does not
 * decode: weston's desktop shell draws greys, weston-simple-shm a many-coloured
 * pattern. */
guint    csb_test_png_colours           (int              fd);
/* The same of the PNG read from @in. */
guint    csb_test_png_colours_in        (GInputStream    *in);
/* Sandbox.Screenshot() → the number of colours it shows; -1 if the call failed. */
int      csb_test_screenshot_colours    (CsbDBusSandbox  *sandbox,
                                         GError         **error);
/* Until a screenshot of @sandbox shows weston-simple-shm's pattern (at least 200
 * colours; the shell's background alone until it is mapped); the colours. */
int      csb_test_wait_for_client_pixels (CsbDBusSandbox *sandbox);
/* The weston whose working folder is @dir (a private compositor), or 0; with @dir
 * NULL, any weston whose working folder is below @under. */
pid_t    csb_test_weston_in             (const char      *dir,
                                         const char      *under);
/* For csb_test_run_until(): the pid @data gone, or a zombie nobody will ever
 * schedule again. */
gboolean csb_test_process_gone          (gpointer         data);

/* "The host's desktop": a headless weston listening on @name in @runtime_dir, whose
 * libwayland logs every request its clients make (WAYLAND_DEBUG) into @log_path. */
GPid     csb_test_host_weston_start     (const char      *runtime_dir,
                                         const char      *name,
                                         const char      *log_path);
void     csb_test_host_weston_stop      (GPid             pid);
/* That no weston-simple-shm spoke to it (its log), and that the check can fail: one
 * of the host's own, run now, shows in the same log. */
void     csb_test_host_weston_assert_unheard (const char *runtime_dir,
                                              const char *name,
                                              const char *log_path);

G_END_DECLS
