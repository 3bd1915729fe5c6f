#!/bin/bash
# build-aux/bench.sh [BUILD_DIR] — build and run the benchmarks (tests/bench/csb-bench)
# and print their table: each measurement against a baseline taken in the same run.
# The same as `meson test -C BUILD_DIR --benchmark -v`, with only the table on stdout.
#
#   CSB_BENCH_RUNS        runs per measurement (default 15; medians are reported)
#   CSB_BENCH_SANDBOXES   sandboxes for the memory measurement (default 100)
#   CSB_BENCH_VM_RUNS     runs of each VM row (default 7; a TCG boot takes seconds)
#   CSB_BENCH_ONLY        only these measurements (comma-separated: launch, io, memory,
#                         metrics, proxy, review, net, vm, vm-launch, vm-io, vm-display): vm
#                         is all VM rows (launch, file I/O, display's first frame), vm-launch,
#                         vm-io and vm-display one of them alone
#
# A remote --list round trip is build-aux/bench-remote.sh (root: a private sshd).
#
# The VM rows need an unprivileged user (root's qemu:///session is the system daemon).
# The launch measurement also runs firejail and sandbox-runtime (srt) where they are
# installed; this script installs neither (firejail is setuid root): see README.md.
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail
srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=${1:-${CSB_BUILD_DIR:-_build}}
case $builddir in /*) ;; *) builddir=$srcdir/$builddir ;; esac
[ -f "$builddir/build.ninja" ] || meson setup "$builddir" "$srcdir"
meson compile -C "$builddir" csb-bench claude-sandbox-service claude-sandbox \
  claude-sandbox-monitor claude-sandbox-init \
  claude-sandbox-guest-init claude-sandbox-virtiofsd-preload csb-libvirt-backends >&2
# As in test.sh: a prompt reaper of orphans stands in for the session manager (this
# CI's PID 1 reaps libvirt's QEMU only every second or two, and each VM waits for it).
reaper=
if command -v tini >/dev/null; then reaper="tini -s --"; fi
log=$(mktemp /tmp/csb-bench.XXXXXX)
trap 'rm -f "$log"' EXIT
env G_TEST_SRCDIR="$srcdir/tests" G_TEST_BUILDDIR="$builddir/tests" \
    GSETTINGS_SCHEMA_DIR="$builddir/data" GSETTINGS_BACKEND=memory LC_ALL=C.UTF-8 \
    CSB_TEST_SERVICE="$builddir/service/claude-sandbox-service" \
    CSB_TEST_CLI="$builddir/cli/claude-sandbox" \
    CSB_GUEST_INIT="$builddir/helpers/guest/claude-sandbox-guest-init" \
    CSB_VIRTIOFSD_PRELOAD="$builddir/helpers/guest/claude-sandbox-virtiofsd-preload.so" \
    $reaper "$builddir/tests/bench/csb-bench" > "$log" 2>&1 || { cat "$log" >&2; exit 1; }
# The table is the part from "Machine:" on.
sed -n '/^Machine:/,$p' "$log"
