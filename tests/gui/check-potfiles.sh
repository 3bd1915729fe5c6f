#!/bin/sh
# Every source file with a translatable string is in po/POTFILES.in, every file
# listed exists, and the list is sorted.
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu
srcdir=${1:?usage: check-potfiles.sh SOURCE_ROOT}
cd "$srcdir"
listed=$(mktemp)
found=$(mktemp)
trap 'rm -f "$listed" "$found"' EXIT
grep -v -e '^#' -e '^[[:space:]]*$' po/POTFILES.in > "$listed"
status=0

if ! LC_ALL=C sort -c "$listed" 2>/dev/null; then
  echo "po/POTFILES.in is not sorted (LC_ALL=C sort)"; status=1
fi
while IFS= read -r file; do
  [ -f "$file" ] || { echo "po/POTFILES.in lists $file, which does not exist"; status=1; }
done < "$listed"

# C: _( N_( C_( NC_( ; GtkBuilder: translatable="yes"; desktop/metainfo/gschema sources.
{
  grep -rlE '(^|[^A-Za-z0-9_])N?C?_ ?\(' --include='*.c' gui service 2>/dev/null || true
  grep -rl 'translatable="yes"' --include='*.ui' gui 2>/dev/null || true
  ls data/*.desktop.in data/*.metainfo.xml.in data/*.App.gschema.xml 2>/dev/null || true
} | LC_ALL=C sort -u > "$found"
while IFS= read -r file; do
  if ! grep -qxF "$file" "$listed"; then
    echo "$file has translatable strings but is not in po/POTFILES.in"; status=1
  fi
done < "$found"
[ $status -eq 0 ] && echo "po/POTFILES.in: $(wc -l < "$listed") files, complete and sorted"
exit $status
