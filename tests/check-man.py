#!/usr/bin/env python3
# check-man.py PROGRAM PAGE [PROGRAM PAGE…] — every long option that PROGRAM --help
# lists is in its man page PAGE (roff, as build-aux/md2man.py makes it), so that the
# two cannot drift apart; and each page is well-formed roff (man --warnings, if man
# is installed).
#
# SPDX-License-Identifier: GPL-3.0-or-later
import os
import re
import shutil
import subprocess
import sys

failed = False
args = sys.argv[1:]
if not args or len(args) % 2:
    sys.exit("usage: check-man.py PROGRAM PAGE [PROGRAM PAGE…]")
for program, page in zip(args[0::2], args[1::2]):
    env = dict(os.environ, LC_ALL="C.UTF-8")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    help_text = subprocess.run([program, "--help"], capture_output=True, text=True, env=env,
                               check=True).stdout
    with open(page, encoding="utf-8") as f:
        roff = f.read()
    options = sorted(set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)", help_text, re.M)))
    if not options:
        print("not ok: no options found in %s --help" % program)
        failed = True
    for option in options:
        if option.replace("-", "\\-") not in roff:
            print("not ok: %s: %s is not in %s" % (os.path.basename(program), option, page))
            failed = True
        else:
            print("ok: %s %s" % (os.path.basename(program), option))
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "EXAMPLES"):
        if not re.search(r'^\.SH "?%s"?$' % section, roff, re.M):
            print("not ok: %s has no %s section" % (page, section))
            failed = True
    if shutil.which("man"):
        result = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", page],
                                capture_output=True, text=True,
                                env=dict(env, MANWIDTH="80"))
        warnings = [l for l in result.stderr.splitlines() if l.strip()]
        if result.returncode != 0 or warnings:
            print("not ok: %s: man says: %s" % (page, "\n".join(warnings)))
            failed = True
sys.exit(1 if failed else 0)
