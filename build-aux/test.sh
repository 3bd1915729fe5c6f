#!/bin/bash
# build-aux/test.sh — set up, build and run the whole test suite: as root (when run as
# root) and, as real users are not root, the sandbox suites again as an unprivileged
# user, from a copy of the tree that user can read. What CI runs (.ci/run).
#
#   CSB_BUILD_DIR         build folder, default _build
#   CSB_TEST_USER         the unprivileged user, default csb-test (created if missing)
#   CSB_UNPRIV_SUITES     suites run as that user, default "unit bus sandbox security net
#                         reliability vm container"
#   CSB_MESON_TEST_ARGS   extra arguments for every `meson test`
#   CSB_FUZZ_SECONDS      fuzzing per libFuzzer target (default 10); CSB_SKIP_FUZZ=1: none
#   CSB_SKIP_DIST=1       skip the release tarball check (build-aux/dist-check.sh)
#   CSB_SKIP_ASAN=1       skip the unit and bus suites under ASan+UBSan (build-aux/asan.sh)
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -uo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=${CSB_BUILD_DIR:-_build}
case $builddir in /*) ;; *) builddir=$srcdir/$builddir ;; esac
test_user=${CSB_TEST_USER:-csb-test}
unpriv_suites=${CSB_UNPRIV_SUITES:-unit bus sandbox security net reliability vm container}
claude_package=@anthropic-ai/claude-code
read -r -a extra_args <<< "${CSB_MESON_TEST_ARGS:-}"

say () { printf 'test.sh: %s\n' "$*" >&2; }
started=$(date +%s)
summary=()
failed=0
total_ok=0
total_fail=0

# What one `meson test` run said, from its own record, BUILD/meson-logs/testlog*.json
# (a JSON object per test; never the console log, where test output may say "Ok:" or
# "Fail:" too): "OK FAIL SKIP TIMEOUT EXPECTEDFAIL UNEXPECTEDPASS" counts, as meson's
# closing summary counts them (an ERROR or INTERRUPT is a Fail there).
results () {
  python3 - "$1"/meson-logs/testlog*.json <<'EOF_PY'
import json, sys
n = dict.fromkeys(["OK", "FAIL", "SKIP", "TIMEOUT", "EXPECTEDFAIL", "UNEXPECTEDPASS"], 0)
for path in sys.argv[1:]:
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        continue
    for line in lines:
        try:
            result = json.loads(line).get("result")
        except ValueError:
            continue
        result = "FAIL" if result in ("ERROR", "INTERRUPT") else result
        if result in n:
            n[result] += 1
print(" ".join(str(v) for v in n.values()))
EOF_PY
}

# Forgets BUILD's record of an earlier run, so that results() reads only the next one.
forget_results () {
  rm -f "$1"/meson-logs/testlog*.json
}

# The tests of BUILD's last run that failed, each with the end of what it printed (subtest
# lines and messages), kept for the closing summary: CI shows only the end of the output.
failure_report=()
note_failures () {
  local label=$1 build=$2 text
  text=$(python3 - "$build"/meson-logs/testlog*.json <<'EOF_PY'
import json, sys
bad = ("FAIL", "ERROR", "INTERRUPT", "TIMEOUT", "UNEXPECTEDPASS")
for path in sys.argv[1:]:
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        continue
    for line in lines:
        try:
            t = json.loads(line)
        except ValueError:
            continue
        if t.get("result") not in bad:
            continue
        print("--- %s: %s after %.0f s" % (t.get("name"), t.get("result"), t.get("duration") or 0))
        out = ((t.get("stdout") or "") + "\n" + (t.get("stderr") or "")).splitlines()
        out = [l for l in out if l.strip()]
        keep = [l for l in out if l.startswith("not ok") or "ERROR" in l or "FAIL" in l or "assert" in l]
        for l in (keep[-8:] + ["  ..."] + out[-25:]) if keep else out[-25:]:
            print("    " + l[:300])
EOF_PY
)
  [ -n "$text" ] && failure_report+=("$label:" "$text")
}

# Adds BUILD's last run to the totals (timeouts and unexpected passes fail, as in meson)
# and sets counted="ok 12, fail 1, skipped 0, timeout 0, expected fail 0, unexpected pass 0".
counted=
count_results () {
  local ok fail skip timeout xfail upass
  read -r ok fail skip timeout xfail upass < <(results "$1")
  note_failures "${2:-$1}" "$1"
  total_ok=$((total_ok + ${ok:-0}))
  total_fail=$((total_fail + ${fail:-0} + ${timeout:-0} + ${upass:-0}))
  counted=$(printf 'ok %d, fail %d, skipped %d, timeout %d, expected fail %d, unexpected pass %d' \
    "${ok:-0}" "${fail:-0}" "${skip:-0}" "${timeout:-0}" "${xfail:-0}" "${upass:-0}")
}

# Claude Code from npm into PREFIX (as the calling user), unless it is there and runs.
install_claude () {
  local prefix=$1
  if [ -x "$prefix/bin/claude" ] && "$prefix/bin/claude" --version >/dev/null 2>&1; then
    say "Claude Code already in $prefix: $("$prefix/bin/claude" --version 2>/dev/null)"
    return 0
  fi
  say "installing Claude Code into $prefix (npm install -g --prefix $prefix $claude_package)"
  mkdir -p "$prefix"
  npm install -g --no-fund --no-audit --prefix "$prefix" "$claude_package" &&
    "$prefix/bin/claude" --version
}

# ---- set-up and build -------------------------------------------------------------------

if [ -z "${CSB_UNDER_REAPER:-}" ] && ! bash "$srcdir/build-aux/setup.sh" "$builddir"; then
  say "FAILED: set-up or build failed"
  exit 1
fi

# Orphans (the session libvirtd the VM tests start, the QEMU it daemonizes) go to the
# nearest subreaper: on a desktop systemd --user, which reaps them at once. Some
# machines' PID 1 (this CI's) reaps them only every second or two, and libvirt waits
# for its QEMU to be reaped when each VM ends: `tini -s` stands in for the session
# manager, as the parent of everything the tests start.
if [ -z "${CSB_UNDER_REAPER:-}" ] && command -v tini >/dev/null; then
  export CSB_UNDER_REAPER=1
  exec tini -s -- bash "$srcdir/build-aux/test.sh" "$@"
fi

root_home=${HOME:-/root}
if [ "$(id -u)" -eq 0 ]; then
  claude_prefix=${CSB_CLAUDE_PREFIX:-$root_home/.npm-global}
else
  claude_prefix=${CSB_CLAUDE_PREFIX:-$HOME/.npm-global}
fi
if ! install_claude "$claude_prefix"; then
  say "FAILED: cannot install Claude Code from npm ($claude_package)"
  exit 1
fi
export CSB_TEST_CLAUDE=$claude_prefix/bin/claude

# ---- the system libvirtd, for the container suite (root only) -------------------------

# Only its LXC driver (the qemu driver wants Debian's libvirt-qemu user, which
# libvirt-daemon-system would create), and without the cgroup2 hierarchy of a
# hybrid cgroup layout, on which libvirt 9.0's LXC driver fails to start containers.
# A socket file alone says nothing: a daemon that died (or a machine restored from a
# snapshot) leaves it behind, so ask the daemon itself.
system_libvirtd_answers() {
  command -v virsh >/dev/null && timeout 10 virsh -q -c lxc:///system uri >/dev/null 2>&1
}
if [ "$(id -u)" -eq 0 ] && ! system_libvirtd_answers && command -v libvirtd >/dev/null; then
  say "starting the system libvirtd (LXC driver only) for the container suite"
  rm -f /run/libvirt/libvirt-sock /run/libvirt/libvirt-sock-ro /run/libvirt/libvirt-admin-sock \
    /run/libvirtd.pid
  lxc_driver=$(ls /usr/lib/*/libvirt/connection-driver/libvirt_driver_lxc.so 2>/dev/null | head -1)
  if [ -n "$lxc_driver" ]; then
    mkdir -p /var/log/libvirt /run/csb-libvirt-drivers
    ln -sf "$lxc_driver" /run/csb-libvirt-drivers/
    LIBVIRT_DRIVER_DIR=/run/csb-libvirt-drivers unshare -m --propagation slave sh -c \
      'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi; exec libvirtd -d' ||
      say "cannot start libvirtd: the container suite will skip its real containers"
    for _ in $(seq 50); do system_libvirtd_answers && break; sleep 0.2; done
  fi
fi

# ---- test host names for the filtered-network suite ---------------------------------------

# Local servers under names that resolve to 127.0.0.1 (the net suite's proxy decides by
# name, and refuses a wildcard name that rebinds to a local address).
if [ "$(id -u)" -eq 0 ] && ! grep -q 'allowed\.csb\.test' /etc/hosts; then
  say "adding the net suite's test host names to /etc/hosts"
  echo '127.0.0.1 allowed.csb.test denied.csb.test evil.rebind.csb.test' >> /etc/hosts
fi

# ---- the whole suite, as whoever we are -----------------------------------------------

me=$(id -un)
say "running the whole suite as $me in $builddir"
forget_results "$builddir"
(cd "$srcdir" && meson test -C "$builddir" --print-errorlogs "${extra_args[@]}")
rc=$?
count_results "$builddir" "$me (all suites)"
summary+=("$me (all suites): $counted (exit $rc)")
[ "$rc" -eq 0 ] || failed=1

# ---- Claude Code in /usr/bin, as `npm install -g` as root puts it --------------------------

# The suites must pass whatever is on the user's PATH: with a `claude` in /usr/bin, tests
# that hide Claude Code once dropped /usr/bin and nothing (not even dbus-daemon) ran
# (issue 14). On CI only (a throwaway machine, as root): the bus and sandbox suites
# again with /usr/bin/claude a link to the npm one, removed at the end whatever happens.
if [ "$(id -u)" -eq 0 ] && [ -n "${CI:-}" ] && [ ! -e /usr/bin/claude ] && [ ! -L /usr/bin/claude ]; then
  say "running the bus and sandbox suites again with /usr/bin/claude -> $CSB_TEST_CLAUDE"
  trap 'rm -f /usr/bin/claude' EXIT
  ln -s "$CSB_TEST_CLAUDE" /usr/bin/claude
  forget_results "$builddir"
  (cd "$srcdir" && meson test -C "$builddir" --print-errorlogs --suite bus --suite sandbox \
     "${extra_args[@]}")
  rc=$?
  rm -f /usr/bin/claude
  trap - EXIT
  count_results "$builddir" "$me (claude in /usr/bin)"
  summary+=("$me (bus and sandbox, claude in /usr/bin): $counted (exit $rc)")
  [ "$rc" -eq 0 ] || failed=1
fi

# ---- the release tarball builds and passes the unit suite from scratch ---------------------

if [ "${CSB_SKIP_DIST:-0}" != 1 ]; then
  say "checking the release tarball (meson dist, then a build and the unit suite from it)"
  if bash "$srcdir/build-aux/dist-check.sh" "$builddir" >/dev/null; then
    summary+=("$me (meson dist: the tarball builds, unit suite passes): ok")
  else
    summary+=("$me (meson dist: the tarball builds, unit suite passes): FAILED")
    failed=1
  fi
fi

# ---- the unit and bus suites under ASan and UBSan (a build of their own) -------------------

# Any sanitizer report, from a test or from a program it starts, fails the run.
if [ "${CSB_SKIP_ASAN:-0}" != 1 ]; then
  say "running the unit and bus suites under ASan+UBSan (build in ${builddir}-asan)"
  forget_results "${builddir}-asan"
  bash "$srcdir/build-aux/asan.sh" "${builddir}-asan" "${extra_args[@]}"
  rc=$?
  count_results "${builddir}-asan" "$me (ASan+UBSan)"
  summary+=("$me (unit and bus, ASan+UBSan): $counted (exit $rc)")
  [ "$rc" -eq 0 ] || failed=1
fi

# ---- the fuzz targets (a clang build of their own) ----------------------------------------

# libFuzzer needs clang: its own build folder. CSB_FUZZ_SECONDS of fuzzing per target on
# top of the committed seeds; CSB_SKIP_FUZZ=1 leaves them out.
if [ "${CSB_SKIP_FUZZ:-0}" != 1 ]; then
  say "running the fuzz targets (clang build in ${builddir}-fuzz)"
  forget_results "${builddir}-fuzz"
  CSB_FUZZ_SECONDS=${CSB_FUZZ_SECONDS:-10} bash "$srcdir/build-aux/fuzz.sh" "${builddir}-fuzz"
  rc=$?
  count_results "${builddir}-fuzz" "$me (fuzz)"
  summary+=("$me (fuzz, clang): $counted (exit $rc)")
  [ "$rc" -eq 0 ] || failed=1
fi

# ---- the sandbox suites as an unprivileged user -----------------------------------------

if [ "$(id -u)" -eq 0 ]; then
  if ! id "$test_user" >/dev/null 2>&1; then
    say "creating the unprivileged user $test_user"
    useradd --create-home --shell /bin/bash "$test_user"
  fi
  uid=$(id -u "$test_user")
  user_home=$(getent passwd "$test_user" | cut -d: -f6)
  runtime_dir=/run/user/$uid
  mkdir -p "$runtime_dir"
  chown "$test_user:" "$runtime_dir"
  chmod 0700 "$runtime_dir"

  # The CI clone may sit in a folder the user cannot read: test a copy.
  copy=$(mktemp -d /tmp/csb-unprivileged.XXXXXX)
  chmod 0755 "$copy"
  tar -C "$srcdir" --exclude=./.git --exclude='./_build*' --exclude=./build -cf - . |
    tar -C "$copy" -xf -
  chown -R "$test_user:" "$copy"

  suite_args=()
  for suite in $unpriv_suites; do suite_args+=(--suite "$suite"); done
  say "running the suites '$unpriv_suites' as $test_user (uid $uid) in $copy"
  # The machine's way to the npm registry (proxy, extra CAs) is the user's too.
  pass_env=()
  for name in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY \
              NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR \
              npm_config_registry npm_config_cafile NPM_CONFIG_REGISTRY NPM_CONFIG_CAFILE; do
    [ -n "${!name:-}" ] && pass_env+=("$name=${!name}")
  done
  for key in registry cafile; do
    value=$(npm config get "$key" 2>/dev/null || true)
    case $value in ''|null|undefined) ;; *) pass_env+=("npm_config_$key=$value") ;; esac
  done
  # shellcheck disable=SC2016
  runuser -u "$test_user" -- env -i "${pass_env[@]}" \
      HOME="$user_home" USER="$test_user" LOGNAME="$test_user" SHELL=/bin/bash \
      PATH=/usr/local/bin:/usr/bin:/bin XDG_RUNTIME_DIR="$runtime_dir" LANG=C.UTF-8 \
      CI="${CI:-}" CSB_SKIP_PACKAGES=1 \
      bash -c '
        set -uo pipefail
        cd "$1" || exit 1
        prefix=$HOME/.npm-global
        if ! { [ -x "$prefix/bin/claude" ] && "$prefix/bin/claude" --version >/dev/null 2>&1; }; then
          echo "test.sh: installing Claude Code into $prefix (npm install -g --prefix $prefix $2)" >&2
          npm install -g --no-fund --no-audit --prefix "$prefix" "$2" || exit 1
        fi
        bash build-aux/setup.sh _build || exit 1
        shift 2
        meson test -C _build --print-errorlogs "$@"
      ' csb-test "$copy" "$claude_package" "${suite_args[@]}" "${extra_args[@]}"
  rc=$?
  count_results "$copy/_build" "$test_user"
  summary+=("$test_user (suites $unpriv_suites): $counted (exit $rc)")
  [ "$rc" -eq 0 ] || failed=1
  if [ "$rc" -eq 0 ]; then
    rm -rf "$copy"
  else
    say "the unprivileged copy stays in $copy (logs: $copy/_build/meson-logs/testlog.txt)"
  fi
else
  say "not root: the unprivileged run is this run"
fi

elapsed=$(( $(date +%s) - started ))
echo
if [ "${#failure_report[@]}" -gt 0 ]; then
  say "what the failed tests printed last:"
  printf '%s\n' "${failure_report[@]}" >&2
  echo
fi
for line in "${summary[@]}"; do say "$line"; done
echo "summary: $total_ok passed, $total_fail failed"
if [ "$failed" -eq 0 ]; then
  say "PASSED in ${elapsed} s"
else
  say "FAILED in ${elapsed} s"
fi
exit "$failed"
