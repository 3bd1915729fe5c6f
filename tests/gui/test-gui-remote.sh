#!/bin/bash
# test-gui-remote.sh CLI SERVICES-DIR SCHEMA-DIR XVFB-RUN TEST — the app's Connections
# against a real sshd on loopback (tests/remote/remote-fixture.sh: root only, as it
# starts sshd and runs the remote side as another user; it skips, saying so,
# otherwise). One sandbox runs on the remote while the app connects to it, and a
# second one with a private display running weston-simple-shm (where weston is).
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u
cli=$(realpath "$1")
services=$(realpath "$2")
schemadir=$(realpath "$3")
xvfb_run=$4
test_binary=$5
. "$(dirname "$(realpath "$0")")/../remote/remote-fixture.sh"

"$cli" --host="$host" --command "$project" -- sleep 1000 </dev/null >/dev/null 2>&1 &
launcher=$!
paint=
paint_launcher=
if command -v weston-simple-shm >/dev/null && command -v weston-screenshooter >/dev/null; then
  paint=$rhome/paint
  mkdir -p "$paint" && chown "$remote_user:" "$paint"
  "$cli" --host="$host" --display=private --command "$paint" -- weston-simple-shm \
    </dev/null >/dev/null 2>&1 &
  paint_launcher=$!
fi
deadline=$((SECONDS + 60)); while [ $SECONDS -lt $deadline ]; do
  "$cli" --host="$host" --list --json 2>/dev/null | PAINT="$paint" python3 -c '
import json, os, sys
running = [s for s in json.load(sys.stdin)["sandboxes"] if s["state"] == "running"]
sys.exit(0 if len(running) >= (2 if os.environ["PAINT"] else 1) else 1)' \
    && break
  sleep 0.2
done

# The lost-connection case stops this sshd and starts another on the same config.
CSB_TEST_REMOTE_HOST=$host CSB_TEST_REMOTE_PROJECT=$project CSB_TEST_REMOTE_PAINT=$paint \
  CSB_TEST_REMOTE_SSHD_CONFIG=$tmp/sshd_config CSB_TEST_REMOTE_SSHD_PIDFILE=$tmp/sshd.pid \
  "$xvfb_run" --auto-servernum --server-args='-screen 0 1280x1024x24 -nolisten tcp' \
  "$test_binary" --tap
status=$?
[ -s "$tmp/sshd.pid" ] && kill "$(cat "$tmp/sshd.pid")" 2>/dev/null
kill "$launcher" $paint_launcher 2>/dev/null
wait "$launcher" $paint_launcher 2>/dev/null
exit $status
