#!/usr/bin/env python3
# pty-drive.py CLI HOST PROJECT — claude-sandbox --host on a terminal (ssh -t): a shell
# launched on the remote answers a typed line; Ctrl-] detaches; --attach ID comes back
# and a typed line comes back again; "exit" ends it with status 0.
#
# SPDX-License-Identifier: GPL-3.0-or-later
import json, os, pty, re, select, subprocess, sys, time

cli, host, project = sys.argv[1:4]
os.environ["TERM"] = "xterm-256color"


def spawn(args):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(cli, [cli] + args)
    return pid, fd


def expect(fd, pattern, what):
    buf = b""
    end = time.time() + 90  # a bound on waiting, not on speed
    while time.time() < end:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        buf += data
        if re.search(pattern, buf):
            return
    sys.exit("%s: did not see %r in %r" % (what, pattern, buf[-400:]))


def running_ids():
    out = subprocess.run([cli, "--host=" + host, "--list", "--json"], capture_output=True,
                         check=True).stdout
    return [s["id"] for s in json.loads(out)["sandboxes"] if s["state"] == "running"]


before = set(running_ids())
pid, fd = spawn(["--host=" + host, "--command", project, "--", "sh", "-i"])
expect(fd, rb"\$ ", "the remote shell's prompt")
os.write(fd, b"echo typed-$((6*7))\r")
expect(fd, rb"typed-42", "a typed line's answer")
os.write(fd, b"\x1d")  # Ctrl-]: detach
_, status = os.waitpid(pid, 0)
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit("detaching: status %d" % os.waitstatus_to_exitcode(status))
os.close(fd)

new = [i for i in running_ids() if i not in before]
if len(new) != 1:
    sys.exit("after detaching, running: %r" % new)
pid, fd = spawn(["--host=" + host, "--attach", new[0]])
os.write(fd, b"echo again-$((40+2))\r")
expect(fd, rb"again-42", "a typed line's answer after --attach")
os.write(fd, b"exit\r")
_, status = os.waitpid(pid, 0)
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit("exit through --attach: status %d" % os.waitstatus_to_exitcode(status))
print(new[0])
