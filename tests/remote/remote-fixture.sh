# remote-fixture.sh — sourced (after cli, services and schemadir are set) by the
# tests that need a "remote" machine: a private sshd on 127.0.0.1 (its own host key
# and config in a temporary folder), a second unprivileged user csb-remote with its
# own session bus at /run/user/UID/bus (where a login's bus is) activating the
# in-tree service, and a key pair made here. Nothing leaves the loopback. Needs
# root (to start sshd and act as csb-remote): prints a TAP skip and exits otherwise.
# Its cleanup (on EXIT) stops the remote's sandboxes, its bus and sshd.
#
# SPDX-License-Identifier: GPL-3.0-or-later
remote_user=csb-remote

if [ "$(id -u)" != 0 ]; then
  echo "1..0 # SKIP needs root: starts a private sshd and runs the remote side as user $remote_user"
  exit 0
fi
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null; then
  echo "1..0 # SKIP openssh-server/openssh-client are not installed (build-aux/setup.sh installs them)"
  exit 0
fi

if ! id "$remote_user" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/sh "$remote_user" || exit 1
fi
# A fresh account is locked ("!"), and sshd without PAM refuses locked accounts even
# for keys: "*" is no password, not a lock.
if getent shadow "$remote_user" | cut -d: -f2 | grep -q '^!'; then
  usermod -p '*' "$remote_user" || exit 1
fi
ruid=$(id -u "$remote_user")
runtime=/run/user/$ruid
mkdir -p "$runtime" /run/sshd
chown "$remote_user:" "$runtime"
chmod 0700 "$runtime"

tmp=$(mktemp -d /tmp/csb-remote-test.XXXXXX)
chmod 0755 "$tmp"
bus_pid=
sshd_pid=
cleanup () {
  # The remote's sandboxes first (through its own CLI), then its bus and service.
  if [ -n "$bus_pid" ]; then
    for id in $(runuser -u "$remote_user" -- env XDG_RUNTIME_DIR="$runtime" \
                  "$cli" --complete-ids 2>/dev/null); do
      runuser -u "$remote_user" -- env XDG_RUNTIME_DIR="$runtime" "$cli" --stop "$id" \
        >/dev/null 2>&1
    done
    pkill -u "$remote_user" -f -- "$services/../../service/claude-sandbox-service" 2>/dev/null
    kill "$bus_pid" 2>/dev/null
  fi
  [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null
  rm -f "$runtime/bus"
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- the remote: its home for the service, its project, its bus ---------------------
rhome=$tmp/rhome
project=$rhome/project
mkdir -p "$project"
chown -R "$remote_user:" "$rhome"
chmod 0700 "$rhome"
cat > "$tmp/bus.conf" <<EOS
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$runtime/bus</listen>
  <servicedir>$services</servicedir>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOS
chmod 0644 "$tmp/bus.conf"
rm -f "$runtime/bus"
runuser -u "$remote_user" -- env -i HOME="$rhome" USER="$remote_user" \
  PATH=/usr/local/bin:/usr/bin:/bin XDG_RUNTIME_DIR="$runtime" LANG=C.UTF-8 \
  GSETTINGS_SCHEMA_DIR="$schemadir" GSETTINGS_BACKEND=memory \
  dbus-daemon --config-file="$tmp/bus.conf" --nofork --nopidfile \
  >"$tmp/remote-bus.log" 2>&1 &
bus_pid=$!

# --- sshd on loopback, keys ---------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ssh-keygen -q -t ed25519 -N '' -f "$tmp/host_key" || exit 1
ssh-keygen -q -t ed25519 -N '' -f "$tmp/id" || exit 1
cp "$tmp/id.pub" "$tmp/authorized_keys"
chmod 0644 "$tmp/authorized_keys"
cat > "$tmp/sshd_config" <<EOS
ListenAddress 127.0.0.1
Port $port
HostKey $tmp/host_key
PidFile $tmp/sshd.pid
AuthorizedKeysFile $tmp/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $remote_user
# What pam_systemd gives a login; the bridge would find /run/user/UID/bus without it.
SetEnv XDG_RUNTIME_DIR=$runtime
EOS
/usr/sbin/sshd -t -f "$tmp/sshd_config" || exit 1
/usr/sbin/sshd -D -e -f "$tmp/sshd_config" 2>"$tmp/sshd.log" &
sshd_pid=$!
cat > "$tmp/ssh_config" <<EOS
Host remote-test
  HostName 127.0.0.1
  Port $port
  IdentityFile $tmp/id
  IdentitiesOnly yes
  HostKeyAlias remote-test
  UserKnownHostsFile $tmp/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  ConnectTimeout 30
EOS
echo "remote-test $(cat "$tmp/host_key.pub")" > "$tmp/known_hosts"
printf '#!/bin/sh\nexec ssh -F %s "$@"\n' "$tmp/ssh_config" > "$tmp/ssh"
chmod 0755 "$tmp/ssh"
deadline=$((SECONDS + 60)); while [ $SECONDS -lt $deadline ]; do
  [ -S "$runtime/bus" ] && "$tmp/ssh" -o BatchMode=yes "$remote_user@remote-test" true \
    2>/dev/null && break
  sleep 0.1
done

export CLAUDE_SANDBOX_SSH=$tmp/ssh
export CLAUDE_SANDBOX_REMOTE_CLI=$cli
host=$remote_user@remote-test
