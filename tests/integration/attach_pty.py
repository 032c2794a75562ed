#!/usr/bin/env python3
# attach_pty.py - drive `tankctl attach` on a real pty for test_attach.sh: type, read, detach.
#   attach_pty.py TANKCTL SOCK POD MODE [--detach-keys K]
#   MODE cmd:  type a command, wait for its output, try a second attach meanwhile, then detach
#              with Ctrl-P Ctrl-Q (or the bytes for --detach-keys ctrl-x,ctrl-y)
#   MODE exit: type "exit 5" and wait for attach to return
import os, pty, select, subprocess, sys, time

tankctl, sock, pod, mode = sys.argv[1:5]
extra = sys.argv[5:]
keys = b"\x10\x11" if not extra else b"\x18\x19"


def read_until(fd, want, timeout):
    out, end = b"", time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if want and want in out:
            break
    return out


pid, fd = pty.fork()
if pid == 0:
    os.execv(tankctl, [tankctl, "--socket", sock, "attach", pod] + extra)
time.sleep(0.3)
if mode == "cmd":
    os.write(fd, b"echo mark-$((6*7))\r")
    out = read_until(fd, b"mark-42", 10)
    print("SAW" if b"mark-42" in out else "MISSING", out.decode(errors="replace").replace("\r", ""))
    second = subprocess.run([tankctl, "--socket", sock, "attach", pod], stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=10)
    print("SECOND rc=%d err=%s" % (second.returncode, second.stderr.decode().strip()))
    os.write(fd, keys)
else:
    os.write(fd, b"exit 5\r")
out = read_until(fd, None, 10)
t0 = time.time()
r, status = 0, 0
while time.time() - t0 < 10:
    r, status = os.waitpid(pid, os.WNOHANG)
    if r:
        break
    time.sleep(0.05)
if not r:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("HUNG")
else:
    print("TAIL", out.decode(errors="replace").replace("\r", ""))
    print("EXIT", os.WEXITSTATUS(status))
