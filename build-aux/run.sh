#!/bin/bash
# build-aux/run.sh [--no-install] [FOLDER] [claude args…] — set up and build, then run
# Claude Code in a sandbox on FOLDER (default: the current folder) through the service.
#
# When Claude Code is not installed, it is installed from npm into a prefix of the
# user's own, ${XDG_DATA_HOME:-~/.local/share}/claude-sandbox/npm (where the service
# looks for it), as the user who runs this script: never into /usr, never with sudo.
# --no-install (or CSB_NO_INSTALL=1) refuses and stops instead.
#
# The service on the session bus is used when one is activatable there (an installed
# claude-sandbox); otherwise the freshly built one is started on the session bus, or on
# a private bus (dbus-run-session) when there is no session bus at all.
#
#   CSB_BUILD_DIR   build folder, default _build
#   CSB_NO_INSTALL  1: never install Claude Code
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=${CSB_BUILD_DIR:-_build}
case $builddir in /*) ;; *) builddir=$srcdir/$builddir ;; esac
bus_name=org.example.ClaudeSandbox

say () { printf 'run.sh: %s\n' "$*" >&2; }

claude_package=@anthropic-ai/claude-code
claude_prefix=${XDG_DATA_HOME:-$HOME/.local/share}/claude-sandbox/npm
no_install=${CSB_NO_INSTALL:-0}
if [ "${1:-}" = --no-install ]; then
  no_install=1
  shift
fi
export CSB_NO_INSTALL=$no_install   # for the re-run under dbus-run-session

project=${1:-.}
[ $# -gt 0 ] && shift
if [ ! -d "$project" ]; then
  say "'$project' is not a folder"
  exit 2
fi
project=$(cd "$project" && pwd)

if [ -z "${CSB_RUN_PRIVATE_BUS:-}" ]; then
  bash "$srcdir/build-aux/setup.sh" "$builddir" >&2
fi
cli=$builddir/cli/claude-sandbox
service=$builddir/service/claude-sandbox-service
if [ ! -x "$cli" ]; then
  say "the CLI was not built ($cli is missing)"
  exit 1
fi

# Claude Code, where the service looks for it (see csb-claude-config.c).
find_claude () {
  local npm_prefix=""
  command -v claude 2>/dev/null && return 0
  for candidate in "$HOME/.local/bin/claude" "$HOME/.claude/local/claude" \
                   "${NPM_CONFIG_PREFIX:+$NPM_CONFIG_PREFIX/bin/claude}" \
                   "$HOME/.npm-global/bin/claude" "$claude_prefix/bin/claude" \
                   /usr/local/bin/claude; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
  if [ -f "$HOME/.npmrc" ]; then
    npm_prefix=$(sed -n 's/^[[:space:]]*prefix[[:space:]]*=[[:space:]]*//p' "$HOME/.npmrc" | tail -1)
    npm_prefix=${npm_prefix/#\~/$HOME}
    [ -n "$npm_prefix" ] && [ -x "$npm_prefix/bin/claude" ] && { echo "$npm_prefix/bin/claude"; return 0; }
  fi
  return 1
}
# Claude Code from npm into the user's own prefix, as this user.
install_claude () {
  say "Claude Code is not installed: installing it into $claude_prefix"
  say "  (npm install -g --prefix $claude_prefix $claude_package; --no-install or"
  say "  CSB_NO_INSTALL=1 to refuse; delete that folder to remove it)"
  if ! command -v npm >/dev/null; then
    say "npm is missing: install Debian's nodejs and npm (build-aux/setup.sh does, as root)"
    return 1
  fi
  mkdir -p "$claude_prefix" &&
    npm install -g --no-fund --no-audit --prefix "$claude_prefix" "$claude_package" >&2 &&
    "$claude_prefix/bin/claude" --version >/dev/null || {
      say "installing Claude Code failed (the npm output above says why)"
      return 1
    }
  say "installed Claude Code $("$claude_prefix/bin/claude" --version 2>/dev/null) as $claude_prefix/bin/claude"
}
if ! find_claude >/dev/null; then
  if [ "$no_install" = 1 ]; then
    say "Claude Code is not installed, and --no-install (CSB_NO_INSTALL=1) says not to install it."
    say "Install it yourself, for example:"
    say "  npm install -g --prefix $claude_prefix $claude_package"
    say "  (or Anthropic's native installer), then run this again"
    exit 1
  fi
  install_claude || exit 1
fi

have_session_bus () {
  [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] ||
    [ -S "${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/bus" ]
}

if ! have_session_bus; then
  say "no session bus: starting a private one"
  export CSB_RUN_PRIVATE_BUS=1
  exec dbus-run-session -- bash "$0" "$project" "$@"
fi
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  export DBUS_SESSION_BUS_ADDRESS=unix:path=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/bus
fi

bus_has () {
  gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method "org.freedesktop.DBus.$1" 2>/dev/null | grep -q "'$bus_name'"
}

service_pid=""
if bus_has ListActivatableNames || bus_has ListNames; then
  say "using the $bus_name service of the session bus"
else
  # Its messages would mix with the sandbox's terminal: they go to a log.
  service_log=${XDG_STATE_HOME:-$HOME/.local/state}/claude-sandbox/service.log
  mkdir -p "$(dirname "$service_log")"
  say "starting the service of this build ($service; log: $service_log)"
  GSETTINGS_SCHEMA_DIR=$builddir/data${GSETTINGS_SCHEMA_DIR:+:$GSETTINGS_SCHEMA_DIR} \
    "$service" >>"$service_log" 2>&1 &
  service_pid=$!
  trap '[ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null' EXIT
  if ! gdbus wait --session --timeout 10 "$bus_name"; then
    say "the service did not appear on the bus"
    exit 1
  fi
fi

status=0
"$cli" "$project" "$@" || status=$?
exit "$status"
