# bash completion for claude-sandbox(1)                          -*- shell-script -*-
#
# Completes its options (read from `claude-sandbox --help`, so they never drift), the
# backends after --backend, the sandbox IDs (asked from the service with the hidden
# --complete-ids) after --attach, --stop and --remove, paths after the options that take
# one, and folders for PROJECT-DIR; after the folder everything is claude's (or the
# command's, with --command), so it completes files there.
#
# SPDX-License-Identifier: GPL-3.0-or-later

_claude_sandbox_options ()
{
  claude-sandbox --help 2>/dev/null |
    sed -n 's/^ \{2,\}\(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z0-9-]*\)\(=\{0,1\}\).*/\2\3/p' |
    sort -u
}

_claude_sandbox ()
{
  local cur prev i word project_seen=0 command_mode=0
  local -a words
  local with_arg='--backend|--name|--env|--ro-bind|--rw-bind|--allow-host|--deny-host|--vm-memory|--vm-cpus|--vm-image|--attach|--stop|--remove'

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
      if [[ $word != *=* && $word =~ ^($with_arg)$ ]]; then
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

  case $prev in
    --backend)
      COMPREPLY=($(compgen -W 'bwrap vm container' -- "$cur"))
      return 0 ;;
    --attach|--stop|--remove)
      COMPREPLY=($(compgen -W "$(claude-sandbox --complete-ids 2>/dev/null)" -- "$cur"))
      return 0 ;;
    --ro-bind|--rw-bind|--vm-image)
      COMPREPLY=($(compgen -f -- "$cur"))
      return 0 ;;
    --name|--env|--allow-host|--deny-host|--vm-memory|--vm-cpus)
      return 0 ;;
  esac

  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_claude_sandbox_options)" -- "$cur"))
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
