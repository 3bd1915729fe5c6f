#!/bin/sh
# run-fuzzer.sh FUZZER SEED_DIR WORK_DIR — one fuzzer as a test: replay the committed
# seeds, then fuzz for $CSB_FUZZ_SECONDS (default 20) with new inputs kept in WORK_DIR
# (in the build tree; the seeds in the source tree are never written). Any crash,
# leak (LeakSanitizer), UBSan report or failed check fails the test; the input that
# caused it is left in WORK_DIR/artifacts/ for `G_SLICE=always-malloc FUZZER ARTIFACT` to
# replay (without always-malloc, GSlice's caches hide GLib leaks from LeakSanitizer).
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu
fuzzer=$1 seeds=$2 work=$3
seconds=${CSB_FUZZ_SECONDS:-20}
mkdir -p "$work/corpus" "$work/artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1}"
export G_SLICE=always-malloc
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
echo "# $(basename "$fuzzer"): seeds $(ls "$seeds" | wc -l), fuzzing ${seconds} s"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
  -detect_leaks=1 -print_final_stats=1 -error_exitcode=1 -timeout_exitcode=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"
