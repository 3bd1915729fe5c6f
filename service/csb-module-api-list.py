#!/usr/bin/env python3
# csb-module-api-list.py HEADER OUTPUT — the linker's --dynamic-list for
# claude-sandbox-service from csb-module-api.h: one symbol for each `X (name)` line of
# its CSB_MODULE_API list, which is all the service exports (the libvirt backends'
# module resolves them from it). An empty or unreadable list is an error, not an
# executable that exports nothing.
#
# SPDX-License-Identifier: GPL-3.0-or-later
import re
import sys

if len(sys.argv) != 3:
    sys.exit("usage: csb-module-api-list.py HEADER OUTPUT")
header, output = sys.argv[1:]
with open(header, encoding="utf-8") as f:
    names = re.findall(r"^\s*X \((\w+)\)", f.read(), re.MULTILINE)
if not names:
    sys.exit(f"{header}: no X (name) line in CSB_MODULE_API")
if len(set(names)) != len(names):
    sys.exit(f"{header}: a name is listed twice in CSB_MODULE_API")
with open(output, "w", encoding="utf-8") as f:
    f.write("/* Made by csb-module-api-list.py from csb-module-api.h: do not edit. */\n{\n")
    f.writelines(f"  {name};\n" for name in names)
    f.write("};\n")
