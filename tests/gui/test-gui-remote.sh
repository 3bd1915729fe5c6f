#!/bin/bash
# test-gui-remote.sh CLI SERVICES-DIR SCHEMA-DIR XVFB-RUN TEST — the app's Connections
# against a real sshd on loopback (tests/remote/remote-fixture.sh: root only, as it
# starts sshd and runs the remote side as another user; it skips, saying so,
# otherwise). One sandbox runs on the remote while the app connects to it.
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
deadline=$((SECONDS + 60)); while [ $SECONDS -lt $deadline ]; do
  "$cli" --host="$host" --list --json 2>/dev/null | python3 -c '
import json, sys
sys.exit(0 if any(s["state"] == "running" for s in json.load(sys.stdin)["sandboxes"]) else 1)' \
    && break
  sleep 0.2
done

CSB_TEST_REMOTE_HOST=$host CSB_TEST_REMOTE_PROJECT=$project \
  "$xvfb_run" --auto-servernum --server-args='-screen 0 1280x1024x24 -nolisten tcp' \
  "$test_binary" --tap
status=$?
kill "$launcher" 2>/dev/null
wait "$launcher" 2>/dev/null
exit $status
