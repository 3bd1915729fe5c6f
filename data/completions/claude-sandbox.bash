# bash completion for claude-sandbox(1)                          -*- shell-script -*-
#
# Completes its options (read from `claude-sandbox --help`, so they never drift), the
# backends after --backend, the sandbox IDs (asked from the service with the hidden
# --complete-ids) after every option whose value is an ID (--attach, --stop, --remove,
# --diff…), paths after those whose value is a PATH, and folders for PROJECT-DIR; after the folder everything is claude's (or the
# command's, with --command), so it completes files there.
#
# SPDX-License-Identifier: GPL-3.0-or-later

# The options of `claude-sandbox --help`, one a line: "--name" for a flag,
# "--name=METAVAR" for one that takes a value.
_claude_sandbox_help ()
{
  claude-sandbox --help 2>/dev/null |
    sed -n 's/^ \{2,\}\(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z0-9-]*\(=[A-Z][A-Z=_-]*\)\{0,1\}\).*/\2/p' |
    sort -u
}

_claude_sandbox ()
{
  local cur prev i word project_seen=0 command_mode=0 help with_arg id_opts path_opts
  local -a words

  # What takes a value, and which values, as --help says (--stop=ID, --ro-bind=PATH).
  help=$(_claude_sandbox_help)
  with_arg=$(sed -n 's/=.*//p' <<< "$help" | paste -sd '|')
  id_opts=$(sed -n 's/=ID$//p' <<< "$help" | paste -sd '|')
  path_opts=$(sed -n 's/=PATH$//p' <<< "$help" | paste -sd '|')

  COMPREPLY=()
  # Join what COMP_WORDBREAKS split at "=": --backend=vm is one word for us.
  words=()
  for ((i = 0; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ $word == "=" && ${#words[@]} -gt 0 ]]; then
      words[${#words[@]}-1]+="="
    elif [[ ${#words[@]} -gt 0 && ${words[${#words[@]}-1]} == *= ]]; then
      words[${#words[@]}-1]+=$word
    else
      words+=("$word")
    fi
  done
  cur=${COMP_WORDS[COMP_CWORD]}
  if [[ $cur == "=" ]]; then
    cur=""
    prev=${words[${#words[@]}-1]}
    prev=${prev%=}
    words[${#words[@]}-1]=$prev
  elif [[ ${#words[@]} -gt 0 && ${words[${#words[@]}-1]} == *= ]]; then
    prev=${words[${#words[@]}-1]%=}
    words[${#words[@]}-1]=$prev
  else
    prev=${words[${#words[@]}-1]}
  fi

  # Before the project folder: options and their values. Strict POSIX parsing, as the
  # program does: the first word that is not an option is the folder.
  for ((i = 1; i < ${#words[@]}; i++)); do
    word=${words[i]}
    if [[ $word == -c || $word == --command ]]; then
      command_mode=1
    elif [[ $word == -- ]]; then
      continue
    elif [[ $word == -* ]]; then
      if [[ $word != *=* && -n $with_arg && $word =~ ^($with_arg)$ ]]; then
        ((i++))
      fi
    else
      project_seen=1
      break
    fi
  done
  if ((project_seen)); then
    # claude's arguments, or the command's: with --command, the word after the folder
    # (and a "--") is a command; the rest are files.
    local rest=$((${#words[@]} - i - 1))
    if ((command_mode)) && { ((rest == 0)) || { ((rest == 1)) && [[ ${words[i+1]} == -- ]]; }; }; then
      COMPREPLY=($(compgen -c -- "$cur"))
    else
      COMPREPLY=($(compgen -f -- "$cur"))
    fi
    return 0
  fi

  if [[ $prev == --backend ]]; then
    COMPREPLY=($(compgen -W 'bwrap vm container' -- "$cur"))
    return 0
  elif [[ -n $id_opts && $prev =~ ^($id_opts)$ ]]; then
    COMPREPLY=($(compgen -W "$(claude-sandbox --complete-ids 2>/dev/null)" -- "$cur"))
    return 0
  elif [[ $prev == --host ]]; then
    COMPREPLY=($(compgen -A hostname -- "$cur"))
    return 0
  elif [[ -n $path_opts && $prev =~ ^($path_opts)$ ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
    return 0
  elif [[ -n $with_arg && $prev =~ ^($with_arg)$ ]]; then
    return 0   # a name, a pattern, a number: nothing to offer
  fi

  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(sed 's/=.*/=/' <<< "$help")" -- "$cur"))
    # An option that takes a value ends in "=": no space after it.
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then
      compopt -o nospace 2>/dev/null
    fi
    return 0
  fi
  COMPREPLY=($(compgen -d -- "$cur"))
  compopt -o filenames 2>/dev/null
  return 0
}

complete -F _claude_sandbox claude-sandbox
