#!/bin/bash
# build-aux/deb.sh [OUT-DIR] — a Debian package of claude-sandbox (debian/), built from
# the release tarball (meson dist of the committed tree), checked with lintian when it
# is installed. The .deb lands in OUT-DIR (default _build/deb); its path is printed last.
#
#   sudo apt install ./_build/deb/claude-sandbox_*_amd64.deb
#
# As root, the packaging tools that are missing (dpkg-dev, debhelper, fakeroot) are
# installed with apt-get; otherwise the command to install them is printed. The
# build dependencies are those of build-aux/setup.sh.
#
#   CSB_BUILD_DIR   the configured build folder meson dist runs from (default _build)
#   CSB_LINTIAN=0   skip lintian
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=${CSB_BUILD_DIR:-_build}
case $builddir in /*) ;; *) builddir=$srcdir/$builddir ;; esac
outdir=${1:-$builddir/deb}
case $outdir in /*) ;; *) outdir=$PWD/$outdir ;; esac
say () { printf 'deb.sh: %s\n' "$*" >&2; }

tools=(dpkg-dev debhelper fakeroot)
missing=()
for pkg in "${tools[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" = "install ok installed" ] ||
    missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing packaging tools: sudo apt-get install ${missing[*]}"
    exit 1
  fi
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

[ -f "$builddir/build.ninja" ] || bash "$srcdir/build-aux/setup.sh" "$builddir" >&2

version=$(cd "$srcdir" && meson introspect --projectinfo "$builddir" |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
deb_version=$(cd "$srcdir" && dpkg-parsechangelog -S Version)
if [ "${deb_version%-*}" != "$version" ]; then
  say "debian/changelog is at $deb_version, meson.build at $version: add a changelog entry"
  say "  (dch -v $version-1 'New upstream release.')"
  exit 1
fi

(cd "$srcdir" && meson dist -C "$builddir" --no-tests --formats xztar --allow-dirty) >&2
tarball=$builddir/meson-dist/claude-sandbox-$version.tar.xz

work=$(mktemp -d /tmp/csb-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$tarball" "$work/claude-sandbox_$version.orig.tar.xz"
tar -C "$work" -xf "$tarball"
say "building the package in $work/claude-sandbox-$version"
(cd "$work/claude-sandbox-$version" && dpkg-buildpackage -b -us -uc) >&2

mkdir -p "$outdir"
deb=$(ls "$work"/claude-sandbox_"$deb_version"_*.deb)
cp "$deb" "$outdir/"
deb=$outdir/$(basename "$deb")

if [ "${CSB_LINTIAN:-1}" != 0 ]; then
  if command -v lintian >/dev/null; then
    say "lintian $(basename "$deb")"
    lintian --fail-on error,warning "$deb" >&2
  else
    say "lintian is not installed (apt-get install lintian): not checked"
  fi
fi
say "built $deb"
echo "$deb"
