#!/bin/bash
# check-completion.sh COMPLETION CLI [FISH-COMPLETION] — the bash completion of
# claude-sandbox, driven as bash drives it (COMP_WORDS, COMP_CWORD, split at "=" as
# COMP_WORDBREAKS does), with the real CLI's --help and a stand-in for the service's
# answer to --complete-ids; then the fish completion through fish's `complete -C`
# (when fish is installed: build-aux/setup.sh installs it).
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u
completion=$(realpath "$1")
cli=$(realpath "$2")
fish_completion=${3:+$(realpath "$3")}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/bin" "$tmp/work/projA" "$tmp/work/projB" "$tmp/work/other"
touch "$tmp/work/file.txt"
cat > "$tmp/bin/claude-sandbox" <<EOS
#!/bin/sh
[ "\$1" = --complete-ids ] && { printf '3f2a9c1b\n3f77aa00\nbeef0001\n'; exit 0; }
exec "$cli" "\$@"
EOS
chmod +x "$tmp/bin/claude-sandbox"
export PATH="$tmp/bin:$PATH"
cd "$tmp/work" || exit 1
# shellcheck source=/dev/null
. "$completion"

failed=0
# check "WORD WORD … CUR" "EXPECTED (sorted, space-separated; * matches any rest)"
check () {
  local line=$1 expected=$2 got
  read -r -a COMP_WORDS <<< "$line"
  [[ $line == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _claude_sandbox
  got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//')
  # shellcheck disable=SC2053
  if [[ $got == $expected ]]; then
    echo "ok: '$line' -> $got"
  else
    echo "not ok: '$line' -> '$got', expected '$expected'"
    failed=1
  fi
}

check "claude-sandbox --ba" "--backend= --backends"
check "claude-sandbox --vm-" "--vm-cpus= --vm-image= --vm-memory="
check "claude-sandbox --backend " "bwrap container vm"
check "claude-sandbox --backend = v" "vm"
check "claude-sandbox --backend=vm --no-net" "--no-network"
check "claude-sandbox --attach 3f" "3f2a9c1b 3f77aa00"
check "claude-sandbox --stop = b" "beef0001"
check "claude-sandbox --remove " "3f2a9c1b 3f77aa00 beef0001"
check "claude-sandbox proj" "projA projB"
check "claude-sandbox --name x proj" "projA projB"
check "claude-sandbox --ro-bind fi" "file.txt"
check "claude-sandbox projA fi" "file.txt"
check "claude-sandbox projA --mo" ""
check "claude-sandbox -c projA -- bas" "*bash*"
check "claude-sandbox -c projA bash fi" "file.txt"
# Every option of --help is offered.
check "claude-sandbox --js" "--json"
check "claude-sandbox --diff " "3f2a9c1b 3f77aa00 beef0001"
check "claude-sandbox --vm-image fi" "file.txt"
check "claude-sandbox --env A=1 proj" "projA projB"
n=$(COMP_WORDS=(claude-sandbox --); COMP_CWORD=1; _claude_sandbox; echo ${#COMPREPLY[@]})
expected=$("$cli" --help | grep -cE '^ {2,}(-[a-zA-Z], )?--[a-z]')
if [ "$n" -eq "$expected" ]; then
  echo "ok: all $n options offered"
else
  echo "not ok: $n options offered, --help lists $expected"
  failed=1
fi

# fish: "WORDS" "EXPECTED" as above, from the candidates' first column.
fish_check () {
  local line=$1 expected=$2 got
  got=$(fish -c "source '$fish_completion'; complete -C '$line'" | cut -f1 | sort |
        tr '\n' ' ' | sed 's/ $//')
  # shellcheck disable=SC2053
  if [[ $got == $expected ]]; then
    echo "ok: fish '$line' -> $got"
  else
    echo "not ok: fish '$line' -> '$got', expected '$expected'"
    failed=1
  fi
}
if [ -n "$fish_completion" ] && command -v fish >/dev/null; then
  fish_check "claude-sandbox --ba" "--backend --backends"
  fish_check "claude-sandbox --backend " "bwrap container vm"
  fish_check "claude-sandbox --stop " "3f2a9c1b 3f77aa00 beef0001"
  fish_check "claude-sandbox --diff=" "--diff=3f2a9c1b --diff=3f77aa00 --diff=beef0001"
  fish_check "claude-sandbox proj" "projA/ projB/"
  fish_check "claude-sandbox --name x proj" "projA/ projB/"
  fish_check "claude-sandbox --ro-bind fi" "file.txt"
  fish_check "claude-sandbox projA fi" "file.txt"
  n=$(fish -c "source '$fish_completion'; complete -C 'claude-sandbox --'" | grep -c '^--')
  expected=$("$cli" --help | grep -cE '^ {2,}(-[a-zA-Z], )?--[a-z]')
  if [ "$n" -eq "$expected" ]; then
    echo "ok: fish offers all $n options"
  else
    echo "not ok: fish offers $n options, --help lists $expected"
    failed=1
  fi
else
  echo "skip: fish is not installed (apt-get install fish): its completion not checked"
fi
exit $failed
