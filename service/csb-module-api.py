#!/usr/bin/env python3
# csb-module-api.py — the service's interface to the libvirt backends' module, the
# CSB_MODULE_API list of csb-module-api.h (one `X (name)` line per symbol):
#
#   csb-module-api.py list HEADER OUTPUT
#       the linker's --dynamic-list for claude-sandbox-service: all it exports
#   csb-module-api.py check HEADER MODULE SERVICE [STAMP]
#       every symbol MODULE leaves undefined that SERVICE defines is in the list (else
#       the service would die of "symbol lookup error" at the module's first call),
#       and SERVICE exports the list and nothing else of ours (a name with a leading
#       underscore is the toolchain's); run by the build (STAMP) and as a test
#
# An empty list is an error, not an executable that exports nothing.
#
# SPDX-License-Identifier: GPL-3.0-or-later
import re
import shutil
import subprocess
import sys


def api_names(header):
    with open(header, encoding="utf-8") as f:
        names = re.findall(r"^\s*X \((\w+)\)", f.read(), re.MULTILINE)
    if not names:
        sys.exit(f"{header}: no X (name) line in CSB_MODULE_API")
    if len(set(names)) != len(names):
        sys.exit(f"{header}: a name is listed twice in CSB_MODULE_API")
    return names


def write_list(header, output):
    with open(output, "w", encoding="utf-8") as f:
        f.write("/* Made by csb-module-api.py from csb-module-api.h: do not edit. */\n{\n")
        f.writelines(f"  {name};\n" for name in api_names(header))
        f.write("};\n")


def nm_symbols(path, *args):
    """The symbols nm prints for path, without their version (free@GLIBC_2.2.5)."""
    nm = shutil.which("nm")
    if nm is None:
        sys.exit("nm (binutils) is not on PATH: it reads the service's and the module's symbols")
    out = subprocess.run([nm, "--format=posix", *args, path], check=True,
                         capture_output=True, text=True).stdout
    return {line.split(" ")[0].split("@")[0] for line in out.splitlines() if line}


def ours(symbols):
    """Reserved names (a leading underscore) are the toolchain's: a sanitizer's
    runtime data the executable holds a copy of, for one."""
    return {s for s in symbols if not s.startswith("_")}


def check(header, module, service, stamp=None):
    names = set(api_names(header))
    used = ours(nm_symbols(module, "-D", "--undefined-only"))
    defined = ours(nm_symbols(service, "--defined-only", "--extern-only"))
    exported = ours(nm_symbols(service, "-D", "--defined-only"))
    problems = []
    if "main" not in defined:
        problems.append(f"{service} has no symbol table to compare with (stripped?)")
    problems += [f"the libvirt module uses {s} of the service, which {header} does not name: "
                 "add it to CSB_MODULE_API there (and its header)"
                 for s in sorted(used & defined - names)]
    problems += [f"the service does not export {s}, which {header} names"
                 for s in sorted(names - exported)]
    problems += [f"the service exports {s}, which {header} does not name"
                 for s in sorted(exported - names)]
    if problems:
        sys.exit("\n".join(problems))
    print(f"the libvirt module uses {len(used & defined)} symbols of the service, all in the "
          f"{len(names)} it exports")
    if stamp is not None:
        with open(stamp, "w", encoding="utf-8") as f:
            f.write("ok\n")


if len(sys.argv) == 4 and sys.argv[1] == "list":
    write_list(*sys.argv[2:])
elif len(sys.argv) in (5, 6) and sys.argv[1] == "check":
    check(*sys.argv[2:])
else:
    sys.exit("usage: csb-module-api.py list HEADER OUTPUT\n"
             "       csb-module-api.py check HEADER MODULE SERVICE [STAMP]")
