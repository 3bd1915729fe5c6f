#!/bin/bash
# build-aux/fuzz.sh [BUILD_DIR] — build with clang (libFuzzer, ASan, UBSan) and run the
# suite 'fuzz': every fuzz target over its seeds plus CSB_FUZZ_SECONDS (default 20) of
# fuzzing, and the D-Bus fuzz test. A failing target leaves the input that broke it in
# BUILD_DIR/tests/fuzz/<target>-work/artifacts/; replay it with
# G_SLICE=always-malloc BUILD_DIR/tests/fuzz/<target> ARTIFACT (GSlice's caches otherwise
# hide GLib leaks from LeakSanitizer).
#
#   BUILD_DIR   default: _build-fz (its own: the fuzz targets need CC=clang)
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail
srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=${1:-_build-fz}
[ $# -gt 0 ] && shift   # the rest goes to meson test
case $builddir in /*) ;; *) builddir=$srcdir/$builddir ;; esac
if [ ! -f "$builddir/build.ninja" ]; then
  # clang's -Wformat-nonliteral (in -Werror=format=2) flags vsnprintf wrappers gcc accepts.
  CC=clang meson setup "$builddir" "$srcdir" -Dc_args=-Wno-error=format-nonliteral
fi
meson compile -C "$builddir"
meson test -C "$builddir" --suite fuzz --print-errorlogs "$@"
