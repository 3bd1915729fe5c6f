#!/bin/sh
# "Open in Sandbox" for Nautilus: link this file into ~/.local/share/nautilus/scripts/
# (see README); Nautilus then offers it under Scripts in a folder's context menu.
# SPDX-License-Identifier: GPL-3.0-or-later
if [ -n "$NAUTILUS_SCRIPT_SELECTED_FILE_PATHS" ]; then
  printf '%s\n' "$NAUTILUS_SCRIPT_SELECTED_FILE_PATHS" | while IFS= read -r path; do
    [ -d "$path" ] && claude-sandbox-app --launch "$path"
  done
else
  # Run from the background of a folder: that folder.
  exec claude-sandbox-app --launch "$PWD"
fi
