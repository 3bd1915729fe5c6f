#!/bin/bash
# build-aux/asan.sh [BUILD_DIR] [MESON-TEST-ARGS…] — the unit and bus suites built with
# AddressSanitizer and UndefinedBehaviorSanitizer (gcc, -Db_sanitize=address,undefined)
# in a build folder of their own. Any report fails the run: a memory error, undefined
# behaviour or a leak, in a test or in a program it starts (the service the bus
# activates, the monitor, the CLI). Each process writes its reports to
# BUILD_DIR/sanitizer-reports/ (a report of a program a test only spawns would otherwise
# go unseen); they are printed at the end. What CI runs (build-aux/test.sh).
#
#   BUILD_DIR   default: _build-asan
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail
srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=${1:-_build-asan}
[ $# -gt 0 ] && shift   # the rest goes to meson test
case $builddir in /*) ;; *) builddir=$srcdir/$builddir ;; esac
say () { printf 'asan.sh: %s\n' "$*" >&2; }

if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" "$srcdir" -Db_sanitize=address,undefined -Dtests=true
fi
meson compile -C "$builddir"

reports=$builddir/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"

# halt_on_error: UBSan's reports stop the program, as ASan's do. detect_leaks is ASan's
# default on x86-64; GLib's GSlice (2.74) keeps freed blocks in its magazines, where
# LeakSanitizer sees them as neither leaked nor freed: plain malloc shows what leaks.
# fast_unwind_on_malloc=0: Debian's GLib has no frame pointers, and a leak's stack would
# end in g_malloc; 16 frames reach our code from GLib's deepest.
asan="log_path=$reports/asan:halt_on_error=1:detect_leaks=1:print_summary=1"
asan+=":fast_unwind_on_malloc=0:malloc_context_size=16"
export ASAN_OPTIONS=$asan
export UBSAN_OPTIONS="log_path=$reports/ubsan:halt_on_error=1:print_stacktrace=1:print_summary=1"
export LSAN_OPTIONS="suppressions=$srcdir/build-aux/lsan.supp:print_suppressions=0"
export G_SLICE=always-malloc

status=0
# The sanitizers make everything two or three times slower.
meson test -C "$builddir" --suite unit --suite bus --print-errorlogs --timeout-multiplier 3 \
  "$@" || status=$?

found=0
for report in "$reports"/*; do
  [ -e "$report" ] || continue
  # LeakSanitizer's own failure to stop a process's threads for its check at exit (its
  # tracer crashed: seen once in CI, in a run whose tests all passed) finds nothing
  # about our code; said, not counted. Any finding in the same file still counts.
  if grep -q 'LeakSanitizer has encountered a fatal error' "$report" &&
     ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer: detected)|runtime error' "$report"; then
    say "LeakSanitizer could not check one process for leaks (its tracer failed), $report:"
    cat "$report" >&2
    continue
  fi
  found=$((found + 1))
  say "sanitizer report $report:"
  cat "$report" >&2
done
if [ "$found" -gt 0 ]; then
  say "FAILED: $found sanitizer report(s) in $reports"
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
