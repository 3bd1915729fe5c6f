# fish completion for claude-sandbox(1)
#
# The options come from `claude-sandbox --help` (so they never drift); an option whose
# value is an ID completes the sandbox IDs (asked from the service with the hidden
# --complete-ids), BACKEND the backends, PATH paths. Before the project folder: options
# and folders; after it everything is claude's (or the command's): files.
#
# SPDX-License-Identifier: GPL-3.0-or-later

function __claude_sandbox_before_project
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l skip 0
    for token in $tokens
        if test $skip = 1
            set skip 0
            continue
        end
        switch $token
            case -- '--'
            case -- '--*=*'
            case -- '-*'
                # An option with its value in the next word: --help shows it as --name=VALUE.
                if contains -- $token $__claude_sandbox_with_arg
                    set skip 1
                end
            case '*'
                return 1
        end
    end
    return 0
end

complete -c claude-sandbox -e
complete -c claude-sandbox -n __claude_sandbox_before_project -f -a '(__fish_complete_directories (commandline -ct))'
complete -c claude-sandbox -n 'not __claude_sandbox_before_project' -F

set -g __claude_sandbox_with_arg
for line in (claude-sandbox --help 2>/dev/null | string match -r '^\s{2,}(?:-\w, )?--[a-z].*')
    set -l fields (string replace -r '^\s+(?:-(\w), )?--([a-z][a-z0-9-]*)(?:=(\S+))?\s+(.*)$' '$1|$2|$3|$4' -- $line | string split -m3 '|')
    set -l short $fields[1]
    set -l long $fields[2]
    set -l value $fields[3]
    set -l args -c claude-sandbox -n __claude_sandbox_before_project -l $long -d $fields[4]
    test -n "$short"; and set -a args -s $short
    switch "$value"
        case ''
        case ID
            set -a args -x -a '(claude-sandbox --complete-ids 2>/dev/null)'
        case BACKEND
            set -a args -x -a 'bwrap vm container'
        case PATH
            set -a args -r -F
        case '*'
            set -a args -x
    end
    test -n "$value"; and set -a __claude_sandbox_with_arg --$long
    complete $args
end
