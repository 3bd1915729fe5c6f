#!/bin/bash
# build-aux/bench-remote.sh [BUILD_DIR] — what a remote `claude-sandbox --host=… --list`
# costs: the median of CSB_BENCH_RUNS (default 15) round trips against `ssh HOST true`
# measured in the same run, printed as a row of the benchmark table (README.md). Not a
# test: nothing is asserted.
#
# The "remote" is this machine, as in the remote test suite (tests/remote/
# remote-fixture.sh): a private sshd on 127.0.0.1 and the user csb-remote with its own
# bus and the in-tree service. Needs root (it starts sshd and acts as csb-remote);
# says so and exits otherwise.
#
#   CSB_BENCH_RUNS              round trips of each (default 15)
#   CSB_BENCH_REMOTE_SANDBOXES  sandboxes running `sleep` on the remote, each listed with
#                               its metrics (default 10)
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -uo pipefail
srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=${1:-${CSB_BUILD_DIR:-_build}}
case $builddir in /*) ;; *) builddir=$srcdir/$builddir ;; esac
runs=${CSB_BENCH_RUNS:-15}
n_sandboxes=${CSB_BENCH_REMOTE_SANDBOXES:-10}
[ -f "$builddir/build.ninja" ] || meson setup "$builddir" "$srcdir" >&2 || exit 1
meson compile -C "$builddir" >&2 || exit 1
cli=$builddir/cli/claude-sandbox
services=$builddir/tests/services
schemadir=$builddir/data

if [ "$(id -u)" != 0 ]; then
  echo "bench-remote: needs root (starts a private sshd and acts as csb-remote)" >&2
  exit 0
fi
# Sets remote_user, runtime, tmp, project, host and CLAUDE_SANDBOX_SSH; cleans up on exit
# (it says why on stdout, as TAP, if it cannot: here that goes to stderr).
. "$srcdir/tests/remote/remote-fixture.sh" >&2
[ -n "${host:-}" ] || exit 0

# The remote's sandboxes, started there on its own bus (each with a terminal, so that
# nothing here waits for it); the fixture's cleanup stops them.
for _ in $(seq "$n_sandboxes"); do
  runuser -u "$remote_user" -- env XDG_RUNTIME_DIR="$runtime" \
    DBUS_SESSION_BUS_ADDRESS="unix:path=$runtime/bus" \
    gdbus call --session --dest org.example.ClaudeSandbox \
    --object-path /org/example/ClaudeSandbox --method org.example.ClaudeSandbox.Manager.Launch \
    "$project" "['sleep', '100000']" "{'network': <false>}" >/dev/null || exit 1
done
listed=$("$cli" --host="$host" --list --json | python3 -c '
import json, sys
print(sum(1 for s in json.load(sys.stdin)["sandboxes"]
          if s["state"] == "running" and s["metrics"] and "memory_bytes" in s["metrics"]))')
if [ "$listed" != "$n_sandboxes" ]; then
  echo "bench-remote: the remote lists $listed running sandboxes with metrics, not $n_sandboxes" >&2
  exit 1
fi

# Interleaved, one round of each at a time, so that a machine busy for a while weighs on
# all of them alike; each warmed up once first. Times in 0.1 ms.
measures=(ssh list json ids local)
run_measure () {
  case $1 in
    ssh) "$CLAUDE_SANDBOX_SSH" -o BatchMode=yes "$host" true ;;
    list) "$cli" --host="$host" --list ;;
    json) "$cli" --host="$host" --list --json ;;
    ids) "$cli" --host="$host" --complete-ids ;;
    local) runuser -u "$remote_user" -- env XDG_RUNTIME_DIR="$runtime" \
             DBUS_SESSION_BUS_ADDRESS="unix:path=$runtime/bus" "$cli" --list ;;
  esac
}
declare -A times
for m in "${measures[@]}"; do run_measure "$m" >/dev/null 2>&1; times[$m]=; done
for _ in $(seq "$runs"); do
  for m in "${measures[@]}"; do
    start=$(date +%s%N)
    if ! run_measure "$m" >/dev/null 2>&1; then
      echo "bench-remote: $m failed" >&2
      exit 1
    fi
    times[$m]+=" $((($(date +%s%N) - start) / 100000))"
  done
done
# median_ms NAME: the median of its times, in ms with one decimal.
median_ms () {
  printf '%s\n' ${times[$1]} | sort -n | sed -n "$(((runs + 1) / 2))p" |
    awk '{ printf "%.1f", $1 / 10 }'
}
ssh_ms=$(median_ms ssh)
list_ms=$(median_ms list)
json_ms=$(median_ms json)
ids_ms=$(median_ms ids)
local_ms=$(median_ms local)

ratio () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }
echo "Machine: $(nproc) CPUs (nproc), load average $(cut -d' ' -f1-3 /proc/loadavg), as $(id -un)"
echo "| Remote \`--host=… --list\`, $n_sandboxes sandboxes with their metrics (loopback sshd) | $list_ms ms | $ssh_ms ms | $(ratio "$list_ms" "$ssh_ms") | \`ssh HOST true\` (the same ssh, config and key) | $runs |"
echo "|   the same, \`--list --json\` | $json_ms ms | $ssh_ms ms | $(ratio "$json_ms" "$ssh_ms") | \`ssh HOST true\` | $runs |"
echo "|   the same sandboxes' IDs alone (\`--complete-ids\`: the list without metrics) | $ids_ms ms | $ssh_ms ms | $(ratio "$ids_ms" "$ssh_ms") | \`ssh HOST true\` | $runs |"
echo "|   \`--list\` on the remote itself (its own bus, no ssh) | $local_ms ms | $ssh_ms ms | $(ratio "$local_ms" "$ssh_ms") | \`ssh HOST true\` (for reference) | $runs |"
