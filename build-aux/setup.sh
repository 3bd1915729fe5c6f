#!/bin/bash
# build-aux/setup.sh [BUILD_DIR] — install the Debian packages that building and
# testing claude-sandbox need (only those missing), then configure and build.
#
#   BUILD_DIR   default: $CSB_BUILD_DIR, else _build (relative to the source tree)
#   CSB_SKIP_PACKAGES=1   do not look at packages (e.g. for an unprivileged rebuild)
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=${1:-${CSB_BUILD_DIR:-_build}}
case $builddir in /*) ;; *) builddir=$srcdir/$builddir ;; esac

say () { printf 'setup: %s\n' "$*" >&2; }

# What the build and every test suite use. Keep sorted by purpose, not by name.
packages=(
  # build
  meson ninja-build gcc pkg-config gettext git
  libglib2.0-dev libglib2.0-bin libjson-glib-dev libseccomp-dev
  # GUI
  libgtk-4-dev libadwaita-1-dev libvte-2.91-gtk4-dev libportal-dev libportal-gtk4-dev
  libspice-client-glib-2.0-dev
  # VM backend
  libvirt-dev libvirt-glib-1.0-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  qemu-system-x86 qemu-system-common qemu-utils cpio kmod libc6-dev
  # the kernel the VM boots (there is none in /boot on a cloud image); with a display,
  # one with the virtio-gpu driver (the cloud kernel has no DRM)
  linux-image-cloud-amd64 linux-image-amd64
  # container backend (the root libvirtd's LXC driver)
  libvirt-daemon-driver-lxc
  # the sandbox and its tests
  bubblewrap xdg-dbus-proxy dbus dbus-daemon dbus-x11 iproute2 util-linux procps passwd
  # "network on": the sandbox's own network namespace gets pasta's user-mode stack
  # (slirp4netns: the other one, CSB_USER_NET=slirp4netns; test-sec-network-slirp4netns)
  passt slirp4netns
  openssh-client strace wayland-utils curl python3
  # the remote suite: a private sshd on loopback stands in for another machine
  openssh-server
  # claude-sandbox --host … --sync: rsync on both machines
  rsync
  # the display's Wayland security context (libwayland-client); the tests' fake
  # compositor (libwayland-server)
  libwayland-dev
  # a real portal frontend: tests/security/test-sec-dbus.c checks whom it sees calling
  xdg-desktop-portal
  # a session's prompt reaper of orphans (test.sh, bench.sh: see there)
  tini
  # a case-insensitive project folder (exFAT through FUSE on a loop device, as root):
  # test-sec-project /security/project/case-insensitive
  exfatprogs exfat-fuse
  # fuzz targets (tests/fuzz, built when CC=clang): libFuzzer, ASan, UBSan
  clang libclang-rt-14-dev
  # data validation
  desktop-file-utils appstream libxml2-utils
  # the fish completion's test (tests/check-completion.sh)
  fish
  # GUI tests (libxtst: a real click under Xvfb in tests/gui/test-gui-display.c)
  xvfb xauth weston at-spi2-core libxtst-dev
  # X11 on the private display (Xwayland), and the X clients its test runs
  xwayland x11-utils
  # Claude Code comes from npm
  nodejs npm
)

missing=()
for pkg in "${packages[@]}"; do
  # NodeSource's nodejs ships npm itself and conflicts with Debian's npm package.
  if [ "$pkg" = npm ] && command -v npm >/dev/null 2>&1; then
    continue
  fi
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [ "$status" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done

if [ "${CSB_SKIP_PACKAGES:-0}" != 1 ] && [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]}"
    say "install them as root, then run this again:"
    printf '  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends %s\n' \
      "${missing[*]}" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "all Debian packages are installed"
fi

if [ ! -f "$builddir/build.ninja" ]; then
  say "configuring $builddir"
  meson setup "$builddir" "$srcdir"
fi
say "building in $builddir"
meson compile -C "$builddir"
