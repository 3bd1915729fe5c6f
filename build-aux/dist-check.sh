#!/bin/bash
# build-aux/dist-check.sh [BUILD-DIR] — the release tarball builds and passes the unit
# suite from scratch: `meson dist` (without its own full test run) from BUILD-DIR
# (default _build, configured), then the tarball unpacked in a temporary folder,
# configured, built and tested there with nothing of this tree. What CI runs
# (build-aux/test.sh); prints the tarball's path last.
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=${1:-_build}
case $builddir in /*) ;; *) builddir=$srcdir/$builddir ;; esac
say () { printf 'dist-check.sh: %s\n' "$*" >&2; }

# meson dist packs the committed tree (git archive of HEAD).
(cd "$srcdir" && meson dist -C "$builddir" --no-tests --formats xztar --allow-dirty) >&2
tarball=$(ls -t "$builddir"/meson-dist/*.tar.xz | head -1)
say "built $tarball; building and testing it from scratch"

tmp=$(mktemp -d /tmp/csb-dist.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
tar -C "$tmp" -xf "$tarball"
tree=$(ls -d "$tmp"/*/)
(
  cd "$tree"
  meson setup _build >&2
  meson compile -C _build >&2
  meson test -C _build --suite unit --print-errorlogs >&2
)
say "the tarball builds and passes the unit suite"
echo "$tarball"
