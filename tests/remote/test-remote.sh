#!/bin/bash
# test-remote.sh CLI SERVICES-DIR SCHEMA-DIR — claude-sandbox --host over a real ssh.
#
# The "remote" is this machine: a private sshd on 127.0.0.1 (its own host key and
# config in a temporary folder), a second unprivileged user csb-remote with its
# own session bus at /run/user/UID/bus (where a login's bus is) activating the
# in-tree service, and a key pair made here. Nothing leaves the loopback.
# Needs root (to start sshd and act as csb-remote); skips, saying so, otherwise.
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u
cli=$(realpath "$1")
services=$(realpath "$2")
schemadir=$(realpath "$3")
echo "TAP version 13"
# The remote machine: sets remote_user, ruid, runtime, tmp, project, host, cli, services,
# and exports CLAUDE_SANDBOX_SSH and CLAUDE_SANDBOX_REMOTE_CLI; cleans up on exit.
. "$(dirname "$(realpath "$0")")/remote-fixture.sh"
csb () { "$cli" --host="$host" "$@"; }

n=0
failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () {
  n=$((n + 1)); failed=1; echo "not ok $n - $1"
  shift
  for f in "$@"; do sed 's/^/# /' "$f"; done
}
check () { # check DESCRIPTION COMMAND… (stdout in $tmp/out, stderr in $tmp/err)
  local what=$1; shift
  if "$@" >"$tmp/out" 2>"$tmp/err"; then ok "$what"; else not_ok "$what" "$tmp/out" "$tmp/err"; fi
}
# The sandboxes of the remote as JSON lines: id state project
sandboxes () {
  csb --list --json | python3 -c '
import json, sys
for s in json.load(sys.stdin)["sandboxes"]:
    print(s["id"], s["state"], s.get("project_dir", ""))'
}

check "--list --json over ssh: valid JSON, no sandboxes yet" \
  bash -c "'$cli' --host='$host' --list --json | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"sandboxes\"] == []'"

check "a launch on a remote folder runs there: its output comes back" \
  bash -c "'$cli' --host='$host' --command '$project' -- sh -c 'echo hi from \$(id -un) in \$PWD' </dev/null | grep -qx 'hi from $remote_user in $project'"

# Arguments cross the remote shell as they are: none of them is run by it.
check "arguments reach the sandbox unchanged (spaces, quotes, \$(…))" \
  bash -c "'$cli' --host='$host' --command '$project' -- printf '%s|' 'a b' '\$(touch $tmp/pwned)' \"it's\" '; id' </dev/null | grep -qxF \"a b|\\\$(touch $tmp/pwned)|it's|; id|\" && test ! -e '$tmp/pwned'"

check "the exit status of the remote command comes back" \
  bash -c "'$cli' --host='$host' --command '$project' -- sh -c 'exit 7' </dev/null; test \$? = 7"

check "--list --json shows the ended sandboxes with the remote project" \
  bash -c "$(declare -f sandboxes csb); cli='$cli' host='$host'; sandboxes | grep -q ' exited $project\$'"

# Launch options reach the remote launch (a dropped --no-network would give the
# sandbox the network): the remote service's record of it says so.
check "launch options reach the remote: --no-network, --name, --env" \
  bash -c "'$cli' --host='$host' --no-network --name='no net' --env=GREETING=hello --command '$project' -- sh -c 'echo \$GREETING' </dev/null | grep -qx hello && '$cli' --host='$host' --list --json | python3 -c 'import json,sys; s=[s for s in json.load(sys.stdin)[\"sandboxes\"] if s[\"name\"] == \"no net\"]; assert len(s) == 1 and s[0][\"network\"] is False, s'"

# A quoted "~/FOLDER" is that folder of the home there (where ssh runs the remote
# command), as scp's HOST:~/… is: nothing there expands a "~" (every word is quoted
# for the remote shell, rsync -s passes names as they are), so it was a folder "~".
login_home=$(getent passwd "$remote_user" | cut -d: -f6)
tilde_dir=csb-tilde-test.$$
runuser -u "$remote_user" -- mkdir -p "$login_home/$tilde_dir/bin"
ln -s "$cli" "$login_home/$tilde_dir/bin/claude-sandbox"
check "a launch on a quoted '~/FOLDER' runs in that folder of the home there" \
  bash -c "'$cli' --host='$host' --command '~/$tilde_dir' -- pwd </dev/null | grep -qx '$login_home/$tilde_dir'"
# A claude-sandbox that ssh's commands do not find there (a --prefix ~/.local install
# is not on their PATH): the error says so and what to set; a path relative to the
# home there works.
check "a remote claude-sandbox that ssh does not find: said, with what to set" bash -c "
  ! CLAUDE_SANDBOX_REMOTE_CLI=claude-sandbox-missing '$cli' --host='$host' --list 2>'$tmp/err' &&
  grep -q 'claude-sandbox-missing was not found on $host' '$tmp/err' &&
  grep -q 'CLAUDE_SANDBOX_REMOTE_CLI' '$tmp/err'"
check "CLAUDE_SANDBOX_REMOTE_CLI relative to the home there" bash -c "
  CLAUDE_SANDBOX_REMOTE_CLI='$tilde_dir/bin/claude-sandbox' '$cli' --host='$host' --list --json | python3 -c 'import json,sys; json.load(sys.stdin)[\"sandboxes\"]'"

check "--metrics --json over ssh: the remote machine and its sandboxes" \
  bash -c "'$cli' --host='$host' --metrics --json | python3 -c 'import json,sys; m=json.load(sys.stdin); assert m[\"host\"][\"cpus\"] >= 1 and m[\"host\"][\"memory_total_bytes\"] > 0 and len(m[\"sandboxes\"]) >= 1 and \"state_bytes\" in m[\"sandboxes\"][0][\"metrics\"], m'"

check "--list over ssh: each sandbox's metrics, in the JSON and as the table's columns" \
  bash -c "'$cli' --host='$host' --list --json | python3 -c 'import json,sys; l=json.load(sys.stdin)[\"sandboxes\"]; assert l and all(\"state_bytes\" in s[\"metrics\"] for s in l), l' && '$cli' --host='$host' --list | head -n1 | grep -q ' MEM PIDS DISK '"

# A running one, stopped and removed through the bridge.
"$cli" --host="$host" --command "$project" -- sleep 1000 </dev/null >/dev/null 2>&1 &
launcher=$!
id=
deadline=$((SECONDS + 60)); while [ $SECONDS -lt $deadline ]; do
  id=$(sandboxes 2>/dev/null | awk '$2 == "running" { print $1 }' | head -n1)
  [ -n "$id" ] && break
  sleep 0.1
done
if [ -n "$id" ]; then ok "a background launch shows as running"; else not_ok "a background launch shows as running"; fi
check "--stop over the bridge waits until it has ended" csb --stop "$id"
check "--stop ended it" bash -c "$(declare -f sandboxes csb); cli='$cli' host='$host'; sandboxes | grep -q '^$id exited '"
kill "$launcher" 2>/dev/null; wait "$launcher" 2>/dev/null
check "--remove over the bridge forgets it" csb --remove "$id"
check "--remove: gone from --list" bash -c "$(declare -f sandboxes csb); cli='$cli' host='$host'; ! sandboxes | grep -q '^$id '"

# A lost connection: ssh killed while --stop waits (the sandbox ignores SIGTERM, so
# the stop takes its grace period).
"$cli" --host="$host" --command "$project" -- sh -c 'trap "" TERM; sleep 1000' </dev/null >/dev/null 2>&1 &
launcher=$!
id=
deadline=$((SECONDS + 60)); while [ $SECONDS -lt $deadline ]; do
  id=$(sandboxes 2>/dev/null | awk '$2 == "running" { print $1 }' | head -n1)
  [ -n "$id" ] && break
  sleep 0.1
done
"$cli" --host="$host" --stop "$id" >"$tmp/out" 2>"$tmp/err" &
stopper=$!
ssh_pid=
deadline=$((SECONDS + 60)); while [ $SECONDS -lt $deadline ]; do
  ssh_pid=$(pgrep -P "$stopper" ssh)
  # Stop() asked: the CLI is connected and waits for the end.
  [ -n "$ssh_pid" ] && sandboxes 2>/dev/null | grep -q "^$id stopping " && break
  sleep 0.1
done
kill -9 $ssh_pid
wait "$stopper"
status=$?
if [ "$status" = 125 ] && grep -q "lost the connection" "$tmp/err"; then
  ok "a lost connection: a clear error, status 125"
else
  not_ok "a lost connection: a clear error, status 125 (got $status)" "$tmp/err"
fi
gone=no
deadline=$((SECONDS + 60)); while [ $SECONDS -lt $deadline ]; do
  if ! pgrep -u "$remote_user" -f -- '--bus-bridge' >/dev/null && ! pgrep -P "$stopper" >/dev/null; then
    gone=yes; break
  fi
  sleep 0.1
done
if [ "$gone" = yes ]; then ok "a lost connection leaves no bridge or ssh behind"; else not_ok "a lost connection leaves no bridge or ssh behind"; fi
# Under load the stop's grace period may end (and the sandbox with it) before this
# second --stop: "is not running" is an answer over a working connection too.
check "the connection works again afterwards (stop)" \
  bash -c "'$cli' --host='$host' --stop '$id' 2>'$tmp/err2' || grep -q 'is not running' '$tmp/err2'"
kill "$launcher" 2>/dev/null; wait "$launcher" 2>/dev/null
check "and remove" csb --remove "$id"

# --screenshot over --host: the PNG comes as bytes (ScreenshotData: a bus over ssh
# carries no descriptors) and is written here. Checked as a whole PNG: the signature,
# every chunk's CRC, IHDR first and IEND last, and its pixel rows all there.
valid_png () { # valid_png FILE: prints WIDTHxHEIGHT
  python3 - "$1" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
pos, chunks = 8, []
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    crc, = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
    assert zlib.crc32(kind + body) == crc, "bad CRC in %r" % kind
    chunks.append((kind, body))
    pos += 12 + length
assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND", [c[0] for c in chunks]
width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
pixels = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
assert width > 0 and height > 0 and interlace == 0
assert len(pixels) == height * (1 + (width * channels * depth + 7) // 8), "rows missing"
print("%dx%d" % (width, height))
PY
}
if command -v weston >/dev/null && command -v weston-simple-shm >/dev/null &&
   command -v weston-screenshooter >/dev/null; then
  "$cli" --host="$host" --display=private --command "$project" -- weston-simple-shm \
    </dev/null >/dev/null 2>&1 &
  launcher=$!
  id=
  deadline=$((SECONDS + 60)); while [ $SECONDS -lt $deadline ]; do
    id=$(sandboxes 2>/dev/null | awk '$2 == "running" { print $1 }' | head -n1)
    [ -n "$id" ] && break
    sleep 0.1
  done
  rm -f "$tmp/shot.png"
  check "--screenshot ID FILE over --host writes a PNG here" \
    bash -c "'$cli' --host='$host' --screenshot '$id' '$tmp/shot.png' && test -O '$tmp/shot.png'"
  check "--screenshot over --host: a whole PNG of the private display (1024x640)" \
    bash -c "$(declare -f valid_png); valid_png '$tmp/shot.png' | grep -qx 1024x640"
  check "--screenshot ID - over --host: the PNG on standard output" \
    bash -c "$(declare -f valid_png); '$cli' --host='$host' --screenshot '$id' - > '$tmp/shot2.png' && valid_png '$tmp/shot2.png'"
  check "--stop the private-display sandbox" csb --stop "$id"
  "$cli" --host="$host" --screenshot "$id" "$tmp/shot3.png" >"$tmp/out" 2>"$tmp/err"
  status=$?
  if [ "$status" = 1 ] && grep -q "sandbox $id is not running (it exited)" "$tmp/err" && [ ! -e "$tmp/shot3.png" ]; then
    ok "--screenshot over --host of an ended sandbox: a clear error, no file"
  else
    not_ok "--screenshot over --host of an ended sandbox: a clear error, no file (status $status)" "$tmp/err"
  fi
  kill "$launcher" 2>/dev/null; wait "$launcher" 2>/dev/null
  csb --remove "$id" >/dev/null 2>&1
else
  echo "# weston is not installed: --screenshot over --host not tested (build-aux/setup.sh installs it)"
fi

# A lost connection during a launch: the remote CLI sees its output's reader go
# (sshd closes the session's pipes) and stops the sandbox, as SIGPIPE would.
"$cli" --host="$host" --command "$project" -- sleep 1000 </dev/null >/dev/null 2>&1 &
launcher=$!   # ssh itself: the CLI execs it (and the wrapper does)
id=
deadline=$((SECONDS + 60)); while [ $SECONDS -lt $deadline ]; do
  id=$(sandboxes 2>/dev/null | awk '$2 == "running" { print $1 }' | head -n1)
  [ -n "$id" ] && break
  sleep 0.1
done
kill -9 "$launcher"
wait "$launcher" 2>/dev/null
state=
deadline=$((SECONDS + 60)); while [ $SECONDS -lt $deadline ]; do
  state=$(sandboxes 2>/dev/null | awk -v id="$id" '$1 == id { print $2 }')
  [ "$state" = exited ] && ! pgrep -u "$remote_user" -f -- "--command $project" >/dev/null && break
  sleep 0.2
done
if [ -n "$id" ] && [ "$state" = exited ] && ! pgrep -u "$remote_user" -f -- "--command $project" >/dev/null; then
  ok "ssh killed during a launch: the remote sandbox is stopped, no remote CLI left"
else
  ps -u "$remote_user" -o pid,ppid,args > "$tmp/ps"
  for p in $(pgrep -u "$remote_user" -f -- "--command $project"); do ls -l /proc/$p/fd >> "$tmp/ps"; done
  ps -ef | grep "sshd" >> "$tmp/ps"
  not_ok "ssh killed during a launch: the remote sandbox is stopped, no remote CLI left (id '$id', state '$state')" "$tmp/ps"
fi
[ -n "$id" ] && csb --remove "$id" >/dev/null 2>&1

# On a terminal: ssh -t to the remote CLI, which relays the sandbox's terminal.
if python3 "$(dirname "$0")/pty-drive.py" "$cli" "$host" "$project" >"$tmp/out" 2>"$tmp/err"; then
  ok "on a terminal: a typed line comes back, Ctrl-] detaches, --attach comes back, exit ends it"
  csb --remove "$(tail -n1 "$tmp/out")" >/dev/null 2>&1
else
  not_ok "on a terminal: a typed line comes back, Ctrl-] detaches, --attach comes back, exit ends it" "$tmp/err"
fi

# --- --sync: a project here, its copy there ------------------------------------------
laptop=$tmp/laptop
rsynced=$rhome/synced
as_remote () { runuser -u "$remote_user" -- "$@"; }
mkdir -p "$laptop/sub" "$laptop/build" "$laptop/.git"
echo one > "$laptop/a.txt"
echo two > "$laptop/sub/b.txt"
printf 'build/\n*.log\n' > "$laptop/.gitignore"
echo obj > "$laptop/build/out.o"
echo log > "$laptop/debug.log"
echo '[core]' > "$laptop/.git/config"
odd="name with 'quotes' \$(touch pwned-sync); \`touch pwned-sync\`"
echo odd > "$laptop/$odd"
arrived () { # arrived PATH…: each is there byte for byte
  for f in "$@"; do cmp "$laptop/$f" "$rsynced/$f" || return 1; done
}
if command -v rsync >/dev/null; then
  check "--sync copies a new project there" csb --sync "$laptop" "$rsynced"
  check "--sync: the files arrived, byte for byte" \
    arrived a.txt sub/b.txt .gitignore "$odd"
  check "--sync to a quoted '~/FOLDER' fills that folder of the home there, none named ~" bash -c "
    '$cli' --host='$host' --sync '$laptop' '~/$tilde_dir/synced' >/dev/null &&
    cmp '$laptop/a.txt' '$login_home/$tilde_dir/synced/a.txt' && test ! -e '$login_home/~'"
  check "--sync: names reach rsync as they are (nothing run by a shell)" bash -c "
    test ! -e '$rhome/pwned-sync' && test ! -e '$rsynced/pwned-sync' &&
    test ! -e ~$remote_user/pwned-sync && test ! -e '$laptop/pwned-sync'"
  check "--sync: the copies there are the remote user's" \
    test "$(stat -c %U "$rsynced/a.txt" 2>/dev/null)" = "$remote_user"
  check "--sync: what .gitignore ignores and .git stayed here" bash -c "
    test ! -e '$rsynced/build' && test ! -e '$rsynced/debug.log' && test ! -e '$rsynced/.git'"
  check "--sync again: nothing to do, nothing said" bash -c "
    '$cli' --host='$host' --sync '$laptop' '$rsynced' > '$tmp/sync.out' && test ! -s '$tmp/sync.out'"

  # Both sides change; a.txt on both.
  sleep 1   # a new modification time, as an edit a second later has
  echo 'local edit' > "$laptop/a.txt"
  echo d > "$laptop/d.txt"
  rm "$laptop/sub/b.txt"
  as_remote sh -c "echo 'remote edit' > '$rsynced/a.txt' && echo new > '$rsynced/c.txt'"
  "$cli" --host="$host" --sync "$laptop" "$rsynced" >"$tmp/sync.out" 2>"$tmp/sync.err"
  status=$?
  if [ "$status" = 1 ] && grep -q "conflict: a.txt changed here and on $host" "$tmp/sync.err"; then
    ok "--sync: a file changed on both sides is reported as a conflict (status 1)"
  else
    not_ok "--sync: a file changed on both sides is reported as a conflict (status $status)" "$tmp/sync.out" "$tmp/sync.err"
  fi
  check "--sync: the conflict is not resolved silently: each side keeps its own" bash -c "
    test \"\$(cat '$laptop/a.txt')\" = 'local edit' && test \"\$(cat '$rsynced/a.txt')\" = 'remote edit'"
  check "--sync: the rest went both ways (new there, new here, a deletion here)" bash -c "
    test \"\$(cat '$laptop/c.txt')\" = new && test \"\$(cat '$rsynced/d.txt')\" = d &&
    test ! -e '$rsynced/sub/b.txt' && grep -qx 'received c.txt' '$tmp/sync.out' &&
    grep -qx 'sent d.txt' '$tmp/sync.out' && grep -qx 'deleted-there sub/b.txt' '$tmp/sync.out'"
  check "--sync: the conflict stays reported until resolved" bash -c "
    '$cli' --host='$host' --sync '$laptop' '$rsynced' >/dev/null 2>'$tmp/err'; test \$? = 1 && grep -q 'conflict: a.txt' '$tmp/err'"
  check "--sync --prefer=there resolves it with the remote's copy" bash -c "
    '$cli' --host='$host' --sync --prefer=there '$laptop' '$rsynced' >/dev/null &&
    test \"\$(cat '$laptop/a.txt')\" = 'remote edit' &&
    '$cli' --host='$host' --sync '$laptop' '$rsynced' > '$tmp/sync.out' && test ! -s '$tmp/sync.out'"

  # A .gitignore a sandbox there rewrites to ignore everything deletes nothing here.
  as_remote sh -c "cp '$rsynced/.gitignore' '$rsynced/.gitignore.orig' && echo '*' > '$rsynced/.gitignore'"
  check "--sync: files ignored there now (its .gitignore says *) are not deleted here" bash -c "
    '$cli' --host='$host' --sync '$laptop' '$rsynced' >'$tmp/sync.out' 2>'$tmp/sync.err';
    test -f '$laptop/a.txt' && test -f '$laptop/c.txt' && test -f '$laptop/.gitignore' &&
    grep -q 'ignored on $host now' '$tmp/sync.err'"
  as_remote sh -c "cp '$rsynced/.gitignore.orig' '$rsynced/.gitignore' && rm '$rsynced/.gitignore.orig'"
  check "--sync: and with it restored, the sync goes on" bash -c "
    '$cli' --host='$host' --sync '$laptop' '$rsynced' >/dev/null && cmp '$laptop/.gitignore' '$rsynced/.gitignore'"

  # What a sandbox there wrote is hostile here: links out of the tree stay there.
  as_remote sh -c "ln -s /etc/shadow '$rsynced/evil' && ln -s ../../.. '$rsynced/up' && ln -s a.txt '$rsynced/fine'"
  check "--sync: links out of the tree are not copied here, a link inside is" bash -c "
    '$cli' --host='$host' --sync '$laptop' '$rsynced' >'$tmp/sync.out' 2>&1;
    test ! -e '$laptop/evil' && test ! -L '$laptop/evil' && test ! -L '$laptop/up' &&
    test \"\$(readlink '$laptop/fine')\" = a.txt"
  check "--sync: and they are not deleted there by the next sync" bash -c "
    '$cli' --host='$host' --sync '$laptop' '$rsynced' >/dev/null 2>&1;
    test -L '$rsynced/evil' && test -L '$rsynced/up'"
  # What runs here later (direnv, git, the host's claude, editors), written by a sandbox
  # there, in any case (a folder here may ignore case): not copied here, nor deleted there.
  as_remote sh -c "cd '$rsynced' && echo 'touch /tmp/pwned' > .envrc && mkdir -p sub/.claude .Git/hooks &&
    echo '{\"hooks\": {}}' > sub/.claude/settings.json && echo x > .Git/hooks/pre-commit &&
    echo '{}' > .MCP.json && ln -s sub/.claude .vscode"
  check "--sync: .envrc, sub/.claude/settings.json, .Git/hooks/pre-commit, .MCP.json, a .vscode link made there are not copied here" bash -c "
    '$cli' --host='$host' --sync '$laptop' '$rsynced' >'$tmp/sync.out' 2>'$tmp/sync.err';
    test ! -e '$laptop/.envrc' && test ! -e '$laptop/sub/.claude' && test ! -e '$laptop/.Git' &&
    test ! -e '$laptop/.MCP.json' && test ! -L '$laptop/.vscode' &&
    grep -qx 'refused-protected .envrc' '$tmp/sync.out' &&
    grep -qx 'refused-protected sub/.claude/settings.json' '$tmp/sync.out' &&
    grep -q 'not copied here' '$tmp/sync.err'"
  check "--sync: and they are not deleted there, nor reported again" bash -c "
    '$cli' --host='$host' --sync '$laptop' '$rsynced' >'$tmp/sync.out' 2>&1 && test ! -s '$tmp/sync.out' &&
    test -f '$rsynced/.envrc' && test -f '$rsynced/.Git/hooks/pre-commit'"
  as_remote sh -c "cd '$rsynced' && rm -rf .envrc sub/.claude .Git .MCP.json .vscode"
  check "--sync: with them gone there, nothing to do" csb --sync "$laptop" "$rsynced"

  # A set-user-ID program made there arrives without the bit (the CLI here runs as root in
  # this test: rsync -p kept it, and the copy is root's).
  as_remote sh -c "cd '$rsynced' && cp /bin/true suid && chmod 6755 suid"
  check "--sync: a set-user-ID or set-group-ID file made there is not set-ID here" bash -c "
    '$cli' --host='$host' --sync '$laptop' '$rsynced' >/dev/null 2>&1 &&
    test -x '$laptop/suid' && test ! -u '$laptop/suid' && test ! -g '$laptop/suid'"
  as_remote rm -f "$rsynced/suid"
  check "--sync: with it gone there, gone here" bash -c "
    '$cli' --host='$host' --sync '$laptop' '$rsynced' >/dev/null && test ! -e '$laptop/suid'"

  check "--sync refuses the remote home as the folder" bash -c "
    ! '$cli' --host='$host' --sync '$laptop' '' 2>/dev/null && ! '$cli' --host='$host' --sync '$laptop' / 2>/dev/null"

  # A sandbox there deleting everything does not empty the folder here unasked.
  mkdir -p "$laptop/many"
  for i in $(seq 1 60); do echo "$i" > "$laptop/many/$i.txt"; done
  check "--sync: 60 more files" csb --sync "$laptop" "$rsynced"
  as_remote sh -c "rm -rf '$rsynced'/* '$rsynced/.gitignore'"
  "$cli" --host="$host" --sync "$laptop" "$rsynced" >"$tmp/sync.out" 2>"$tmp/sync.err"
  status=$?
  if [ "$status" = 125 ] && grep -q 'would be deleted (they are gone on' "$tmp/sync.err" &&
     [ "$(ls "$laptop/many" | wc -l)" = 60 ] && [ -f "$laptop/a.txt" ]; then
    ok "--sync: everything deleted there is not deleted here unasked (status 125)"
  else
    not_ok "--sync: everything deleted there is not deleted here unasked (status $status)" "$tmp/sync.out" "$tmp/sync.err"
  fi
  check "--sync --delete-many carries it out" bash -c "
    '$cli' --host='$host' --sync --delete-many '$laptop' '$rsynced' >/dev/null &&
    test ! -e '$laptop/many/1.txt' && test ! -e '$laptop/a.txt' && test ! -L '$laptop/fine'"
  # Something to watch again.
  echo one > "$laptop/a.txt"
  check "--sync: a new start" csb --sync "$laptop" "$rsynced"

  # --watch: a change here, in a folder, reaches there by the file monitor alone (the
  # remote is listed only once an hour).
  mkdir -p "$laptop/deep/er"
  echo 'first' > "$laptop/deep/er/seed.txt"
  "$cli" --host="$host" --sync --watch --watch-interval=3600 "$laptop" "$rsynced" \
    >"$tmp/watch1.out" 2>"$tmp/watch1.err" &
  watcher=$!
  came=no
  deadline=$((SECONDS + 120)); while [ $SECONDS -lt $deadline ]; do
    [ "$(cat "$rsynced/deep/er/seed.txt" 2>/dev/null)" = first ] && { came=yes; break; }
    sleep 0.2
  done
  # The monitors are set up after that first sync: a change every 2 s until one of
  # them is seen (each a burst of its own for the half-second debounce).
  edits=0
  deadline=$((SECONDS + 120)); while [ $came = yes ] && [ $SECONDS -lt $deadline ]; do
    case "$(cat "$rsynced/deep/er/seed.txt" 2>/dev/null)" in 'by the monitor'*) came=done; break;; esac
    edits=$((edits + 1)); echo "by the monitor $edits" > "$laptop/deep/er/seed.txt"
    sleep 2
  done
  kill -INT "$watcher"; wait "$watcher"
  if [ "$came" = done ]; then ok "--sync --watch: a change here reaches there through the file monitor (no poll)"
  else not_ok "--sync --watch: a change here reaches there through the file monitor (no poll)" "$tmp/watch1.out" "$tmp/watch1.err"; fi

  # --watch: a change on either side arrives on the other without being asked.
  "$cli" --host="$host" --sync --watch --watch-interval=1 "$laptop" "$rsynced" \
    >"$tmp/watch.out" 2>"$tmp/watch.err" &
  watcher=$!
  sleep 1
  echo 'from here' > "$laptop/watched-here.txt"
  as_remote sh -c "echo 'from there' > '$rsynced/watched-there.txt'"
  came=no
  deadline=$((SECONDS + 120)); while [ $SECONDS -lt $deadline ]; do
    if [ "$(cat "$rsynced/watched-here.txt" 2>/dev/null)" = 'from here' ] &&
       [ "$(cat "$laptop/watched-there.txt" 2>/dev/null)" = 'from there' ]; then
      came=yes; break
    fi
    sleep 0.2
  done
  # Its listings go through one master connection of its own.
  check "--sync --watch keeps one ssh master connection for its listings" bash -c "
    pgrep -f -- 'ControlPat[h]=.*sync-ssh-' >/dev/null"
  if [ "$came" = yes ]; then ok "--sync --watch: a change on either side arrives on the other"
  else not_ok "--sync --watch: a change on either side arrives on the other" "$tmp/watch.out" "$tmp/watch.err"; fi
  # A conflict while watching is reported and left alone; the watch goes on.
  kill -STOP "$watcher"
  sleep 1
  echo 'here again' > "$laptop/watched-here.txt"
  as_remote sh -c "echo 'there again, longer' > '$rsynced/watched-here.txt'"
  kill -CONT "$watcher"
  reported=no
  deadline=$((SECONDS + 120)); while [ $SECONDS -lt $deadline ]; do
    grep -q 'conflict: watched-here.txt' "$tmp/watch.err" && { reported=yes; break; }
    sleep 0.2
  done
  if [ "$reported" = yes ] && [ "$(cat "$laptop/watched-here.txt")" = 'here again' ] &&
     [ "$(cat "$rsynced/watched-here.txt")" = 'there again, longer' ] && kill -0 "$watcher" 2>/dev/null; then
    ok "--sync --watch: a conflict is reported, both copies kept, the watch goes on"
  else
    not_ok "--sync --watch: a conflict is reported, both copies kept, the watch goes on" "$tmp/watch.out" "$tmp/watch.err"
  fi
  kill -INT "$watcher"
  wait "$watcher"
  status=$?
  if [ "$status" = 1 ] || [ "$status" = 0 ]; then ok "--sync --watch ends on SIGINT"
  else not_ok "--sync --watch ends on SIGINT (status $status)" "$tmp/watch.err"; fi
  check "--sync --watch leaves no ssh (its master connection) behind" bash -c "
    ! pgrep -f -- 'ControlPat[h]=.*sync-ssh-' >/dev/null"
else
  echo "# rsync is not installed: --sync not tested (build-aux/setup.sh installs it)"
fi

# What a round trip costs (not a pass/fail bound): ssh's connection and the bridge
# included, against the remote CLI on its own bus.
start=$(date +%s%N)
for _ in 1 2 3 4 5; do csb --list --json >/dev/null 2>&1; done
remote_ms=$((($(date +%s%N) - start) / 5000000))
start=$(date +%s%N)
for _ in 1 2 3 4 5; do
  runuser -u "$remote_user" -- env XDG_RUNTIME_DIR="$runtime" "$cli" --list --json >/dev/null 2>&1
done
local_ms=$((($(date +%s%N) - start) / 5000000))
echo "# --list --json: ${remote_ms} ms over ssh (loopback), ${local_ms} ms on the remote itself"

check "an unknown ID over --host: the error names the machine and its --list" bash -c "
  ! '$cli' --host='$host' --stop 0123abcd 2>'$tmp/err' &&
  grep -qF \"there is no sandbox '0123abcd' on $host (see claude-sandbox --host=$host --list)\" '$tmp/err'"
check "a host that would be an ssh option is refused" bash -c "! '$cli' --host=-oProxyCommand=true --list"
check "a launch with --host needs the remote folder" bash -c "! '$cli' --host='$host' --command </dev/null"

rm -rf "${login_home:?}/$tilde_dir" "$login_home/~/$tilde_dir"
rmdir "$login_home/~" 2>/dev/null
echo "1..$n"
exit $failed
