#!/usr/bin/env bash
# test_shim_security.sh - tank-shim alone: what an attacker inside a container sees (caps,
# no_new_privs, seccomp, masked and read-only paths, mknod, mount, volume symlinks), users,
# rlimits, umask, CRI logs with P/F records and rotation, the logs/attach/exec-tty/resize ops,
# share_pid (what pid 1 shows), devices (nodes in the image, the devices cgroup and the BPF
# device filter, the last through tankd with a umoci image). Root. Needs `make all`,
# busybox-static, python3, gcc (static probe), umoci, jq, bpftool.
set -u
# tankd helpers (tk_start, tankctl) for the devices part; the functions below replace its
# say/ok/check with the same meaning
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${TANK_BUILD:-$REPO/build}
SHIM=$BUILD/tank-shim
PFX="tanktest-sec-$$"
T=$(mktemp -d "/tmp/$PFX.XXXXXX")
CG_V1=/sys/fs/cgroup/pids/$PFX
CG_V2=/sys/fs/cgroup/unified/$PFX
CG_PA=/sys/fs/cgroup/unified/$PFX-pa
CG_PB=/sys/fs/cgroup/unified/$PFX-pb
CG_DEV=/sys/fs/cgroup/unified/$PFX-dev
CG_PP1=/sys/fs/cgroup/pids/$PFX-pp
CG_PP2=/sys/fs/cgroup/unified/$PFX-pp
DEV_PIN=/sys/fs/bpf/$PFX-dev
SHIM_PIDS=()
pass=0
fail=0

say() { printf '%s\n' "$*"; }
ok() { pass=$((pass + 1)); say "ok   - $*"; }
not_ok() { fail=$((fail + 1)); say "FAIL - $*"; }
check() {
	local desc=$1
	shift
	if "$@" >"$T/check.out" 2>&1; then ok "$desc"; else
		not_ok "$desc"
		sed 's/^/       | /' "$T/check.out" | tail -n 15
	fi
}
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

cleanup() {
	local pid d f
	set +e
	for pid in "${SHIM_PIDS[@]}"; do
		grep -q tank-shim "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	done
	for d in "$CG_V1" "$CG_V2" "$CG_PA" "$CG_PB" "$CG_DEV" "$CG_PP1" "$CG_PP2"; do
		[ -f "$d/cgroup.procs" ] || continue
		for pid in $(cat "$d/cgroup.procs"); do kill -KILL "$pid" 2>/dev/null; done
	done
	for f in /run/netns/"$PFX" /run/netns/"$PFX"-p /run/netns/"$PFX"-3; do
		[ -e "$f" ] || continue
		umount -l "$f" 2>/dev/null
		rm -f "$f"
	done
	for d in "$CG_V1" "$CG_V2" "$CG_PA" "$CG_PB" "$CG_DEV" "$CG_PP1" "$CG_PP2"; do
		[ -d "$d" ] && wait_for 5 rmdir "$d"
	done
	rm -f "$DEV_PIN"
	if [ "${TANK_KEEP:-}" = 1 ]; then say "kept $T"; else rm -rf "$T"; fi
	tk_cleanup
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || { say "test_shim_security.sh needs root"; exit 1; }
[ -x "$SHIM" ] || { say "$SHIM missing: run make build/tank-shim"; exit 1; }
[ -x /bin/busybox ] || { say "busybox-static missing"; exit 1; }

# ---- fixtures ----------------------------------------------------------------------------------
L=$T/layer
mkdir -p "$L"/bin "$L"/etc "$L"/proc "$L"/sys "$L"/dev "$L"/tmp "$L"/home/app
cp /bin/busybox "$L/bin/"
for a in sh sleep echo cat id ls grep tr touch test mount mknod umask ps readlink stty tty \
	chroot wc head tail printf seq true mkdir; do
	ln -s busybox "$L/bin/$a"
done
cat >"$L/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
app:x:1500:1500:app user:/home/app:/bin/sh
other:x:1600:1600::/nonexistent:/bin/false
EOF
cat >"$L/etc/group" <<'EOF'
root:x:0:
app:x:1500:
audio:x:29:app,other
video:x:44:other,app
staff:x:50:other
EOF
# device nodes an image could carry: kvm, /dev/mem, a block device
mknod "$L/tmp/kvm" c 10 232 && mknod "$L/tmp/mem" c 1 1 && mknod "$L/tmp/zram" b 253 0 || exit 1
chmod 666 "$L/tmp/kvm" "$L/tmp/mem" "$L/tmp/zram"
# symlinks an image could use to send a volume elsewhere: absolute, relative, into /proc
ln -s "$T/escape-abs" "$L/vol-abs"
ln -s "../../../../../../../../..$T/escape-rel" "$L/vol-rel"
ln -s /proc/sys "$L/vol-proc"
PROBE=$T/probe.c
cat >"$PROBE" <<'EOF'
#include <errno.h>
#include <stdio.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
/* syscalls the default seccomp profile refuses although the capabilities would allow them */
int main(void)
{
	long r = personality(0x0040000);
	printf("personality %s\n", r < 0 && errno == EPERM ? "EPERM" : "allowed");
	r = socket(40 /* AF_VSOCK */, SOCK_STREAM, 0);
	printf("vsock %s\n", r < 0 && errno == EPERM ? "EPERM" : "allowed");
	r = syscall(SYS_clone3, NULL, 0);
	printf("clone3 %s\n", r < 0 && errno == ENOSYS ? "ENOSYS" : "other");
	r = syscall(SYS_keyctl, 0, 0, 0, 0, 0);
	printf("keyctl %s\n", r < 0 && errno == EPERM ? "EPERM" : "allowed");
	return 0;
}
EOF
gcc -static -O1 -o "$L/bin/probe" "$PROBE" || { say "cannot build the static probe"; exit 1; }
mkdir -p "$T/etc" "$T/logs" "$T/vol" "$T/ro" "$T/plogs"
echo "in the volume" >"$T/vol/marker"
echo "read only" >"$T/ro/marker"
printf '127.0.0.1 localhost\n' >"$T/etc/hosts"
echo sec >"$T/etc/hostname"
echo "nameserver 198.18.0.1" >"$T/etc/resolv.conf"
mkdir "$CG_V1" "$CG_V2" "$CG_PA" "$CG_PB" "$CG_PP1" "$CG_PP2" || exit 1

cat >"$T/client.py" <<'PY'
# Test client for shim.sock: 4-byte big-endian length + JSON, fds via SCM_RIGHTS.
import json, os, pty, select, socket, struct, subprocess, sys, termios, fcntl, time

def send(s, obj, fds=()):
    body = json.dumps(obj).encode()
    hdr = struct.pack('>I', len(body))
    if fds:
        socket.send_fds(s, [hdr], list(fds))
    else:
        s.sendall(hdr)
    s.sendall(body)

def recv(s):
    buf = b''
    while len(buf) < 4:
        c = s.recv(4 - len(buf))
        if not c:
            return None
        buf += c
    n = struct.unpack('>I', buf)[0]
    body = b''
    while len(body) < n:
        c = s.recv(n - len(body))
        if not c:
            raise EOFError('EOF inside a frame')
        body += c
    return json.loads(body)

def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(path)
    return s

def read_until(fd, want, secs=10):
    """Read from fd until the bytes `want` were seen; return all read."""
    out = b''
    end = time.time() + secs
    while want not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                c = os.read(fd, 4096)
            except OSError:
                break
            if not c:
                break
            out += c
    return out

mode = sys.argv[1]
if mode == 'spawn':
    run, shim = sys.argv[2], sys.argv[3]
    r, w = os.pipe()
    subprocess.Popen([shim, '--run-dir', run, '--ready-fd', str(w), '--log-level', 'debug'],
                     pass_fds=(w,), start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        print(f.readline().strip())
elif mode == 'req':        # req SOCK JSON [IN OUT ERR]
    s = connect(sys.argv[2])
    fds = []
    if len(sys.argv) > 4:
        fds = [os.open(sys.argv[4], os.O_RDONLY),
               os.open(sys.argv[5], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
               os.open(sys.argv[6], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    send(s, json.loads(sys.argv[3]), fds)
    for fd in fds:
        os.close(fd)
    print(json.dumps(recv(s)))
elif mode == 'logs':       # logs SOCK JSON OUT ERR: text mode, 2 fds; prints the reply
    s = connect(sys.argv[2])
    out = os.open(sys.argv[4], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(sys.argv[5], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    send(s, json.loads(sys.argv[3]), [out, err])
    os.close(out)
    os.close(err)
    print(json.dumps(recv(s)))
elif mode == 'frames':     # frames SOCK JSON: frame mode; print every frame until the reply
    s = connect(sys.argv[2])
    send(s, json.loads(sys.argv[3]))
    while True:
        m = recv(s)
        print(json.dumps(m), flush=True)
        if m is None or 'ok' in m:
            break
elif mode == 'ptyexec':    # ptyexec SOCK CTR: a tty exec driven through a pty of ours
    s = connect(sys.argv[2])
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 33, 77, 0, 0))
    send(s, {'op': 'exec', 'container': sys.argv[3], 'tty': True, 'args': ['sh']},
         [slave, slave])
    os.close(slave)
    os.write(master, b'stty size; tty; echo "nnp=$(grep NoNewPrivs /proc/self/status | tr -d "\\t ")"\n')
    out = read_until(master, b'nnp=NoNewPrivs:1')
    send(s, {'op': 'resize', 'rows': 40, 'cols': 100})
    time.sleep(0.2)
    os.write(master, b'stty size; exit 3\n')
    out += read_until(master, b'40 100')
    rep = recv(s)
    sys.stdout.write(out.decode(errors='replace').replace('\r', ''))
    print('REPLY ' + json.dumps(rep))
elif mode == 'attach':     # attach SOCK CTR MARK: attach over a socketpair, type, detach
    s = connect(sys.argv[2])
    mine, theirs = socket.socketpair()
    send(s, {'op': 'attach', 'container': sys.argv[3], 'rows': 30, 'cols': 90},
         [theirs.fileno(), theirs.fileno()])
    theirs.close()
    time.sleep(0.3)
    # a second attacher is refused while we are attached
    s2 = connect(sys.argv[2])
    send(s2, {'op': 'attach', 'container': sys.argv[3]}, [mine.fileno()])
    print('SECOND ' + json.dumps(recv(s2)))
    mine.sendall(('echo %s-$((6*7)); stty size\n' % sys.argv[4]).encode())
    out = read_until(mine.fileno(), ('%s-42' % sys.argv[4]).encode())
    out += read_until(mine.fileno(), b'30 90', 3)
    mine.sendall(b'\x10')           # ctrl-p alone is held back ...
    mine.sendall(b'x\x10\x11')      # ... and passed on when x breaks the sequence; then detach
    rep = recv(s)
    sys.stdout.write(out.decode(errors='replace').replace('\r', ''))
    print('REPLY ' + json.dumps(rep))
elif mode == 'attachexit': # attachexit SOCK CTR: attach, make the shell exit 7
    s = connect(sys.argv[2])
    mine, theirs = socket.socketpair()
    send(s, {'op': 'attach', 'container': sys.argv[3]}, [theirs.fileno(), theirs.fileno()])
    theirs.close()
    time.sleep(0.3)
    mine.sendall(b'\nexit 7\n')  # the line left by the detach test first
    print('REPLY ' + json.dumps(recv(s)))
elif mode == 'ptydetach':  # ptydetach SOCK CTR: a tty exec left with the detach keys
    s = connect(sys.argv[2])
    mine, theirs = socket.socketpair()
    send(s, {'op': 'exec', 'container': sys.argv[3], 'tty': True, 'detach_keys': 'ctrl-x,d',
             'args': ['sh', '-c', 'echo started; sleep 1; echo done']},
         [theirs.fileno(), theirs.fileno()])
    theirs.close()
    read_until(mine.fileno(), b'started')
    mine.sendall(b'\x18d')
    print('REPLY ' + json.dumps(recv(s)))
elif mode == 'ptyhangup':  # ptyhangup SOCK CTR: a tty exec whose client goes away
    s = connect(sys.argv[2])
    mine, theirs = socket.socketpair()
    send(s, {'op': 'exec', 'container': sys.argv[3], 'tty': True,
             'args': ['sh', '-c', 'echo started; sleep 1003']},
         [theirs.fileno(), theirs.fileno()])
    theirs.close()
    print(read_until(mine.fileno(), b'started').decode().strip())
    s.close()
PY
client() { python3 "$T/client.py" "$@"; }
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, {"d": d}))' "$1" "$2"; }
logtext() { cut -d' ' -f4- "$1"; }

# container NAME ARGS-JSON [EXTRA-JSON-MEMBERS] [PROCESS-EXTRA]
container() {
	local n=$1 args=$2 extra=${3:-} pextra=${4:-} c=$T/c/$1
	mkdir -p "$c/upper" "$c/work"
	cat <<JSON
{"name":"$n","rootfs":{"lower":["$L"],"upper":"$c/upper","work":"$c/work","target":"$c/rootfs"},
 "etc":{"hosts":"$T/etc/hosts","hostname":"$T/etc/hostname","resolv":"$T/etc/resolv.conf"},
 "process":{"args":$args,"env":["PATH=/bin"],"cwd":"/"$pextra},
 "cgroups":["$CG_V1","$CG_V2"]$extra}
JSON
}

RUN=$T/run
SOCK=$RUN/shim.sock
mkdir -p "$RUN"
LOGGER='echo first; printf "%0300d\n" 0; printf partial; sleep 1.6; echo " end"; echo err >&2; for i in $(seq 0 399); do echo line-$i; done; printf tail-no-newline'
cat >"$RUN/shim.json" <<JSON
{"pod":"$PFX","hostname":"sec","netns_path":"/run/netns/$PFX","log_dir":"$T/logs",
 "seccomp_cache":"$T/scache",
 "logs":{"max_size":8192,"max_files":3,"line_max":200},
 "containers":[
  $(container sec '["sleep","1000"]'),
  $(container user '["sh","-c","id; umask; ulimit -n; ulimit -Hn; echo HOME=$HOME; grep -E \"^Cap(Eff|Prm|Amb)\" /proc/self/status; sleep 1000"]' '' ',"user":"app"'),
  $(container usergrp '["sh","-c","id"]' '' ',"user":"1500:video","umask":63,"rlimits":{"nofile":{"soft":100,"hard":200}}'),
  $(container nouser '["true"]' '' ',"user":"nobody-here"'),
  $(container caps '["sh","-c","grep -E \"^Cap(Eff|Bnd)\" /proc/self/status"]' ',"capabilities":{"add":["NET_RAW","sys_admin"],"drop":["CAP_CHOWN"]}'),
  $(container userplus '["sh","-c","grep -E \"^Cap(Eff|Amb)\" /proc/self/status"]' ',"capabilities":{"add":["NET_BIND_SERVICE"]}' ',"user":"app"'),
  $(container unconf '["sh","-c","grep ^Seccomp: /proc/self/status; probe"]' ',"seccomp":"unconfined"'),
  $(container vol '["sleep","1000"]' ",\"mounts\":[{\"target\":\"/data\",\"source\":\"$T/vol\"},{\"target\":\"/ro\",\"source\":\"$T/ro\",\"read_only\":true},{\"target\":\"/vol-abs\",\"source\":\"$T/vol\"},{\"target\":\"/vol-rel/sub\",\"source\":\"$T/vol\"},{\"target\":\"/scratch\",\"tmpfs\":1048576}]"),
  $(container badvol '["true"]' ",\"mounts\":[{\"target\":\"/vol-proc\",\"source\":\"$T/vol\"}]"),
  $(container logger "$(python3 -c 'import json,sys; print(json.dumps(["sh","-c",sys.argv[1]]))' "$LOGGER")"),
  $(container chatty '["sh","-c","i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done"]'),
  $(container console '["sh"]' ',"tty":true')
 ]}
JSON

READY=$(client spawn "$RUN" "$SHIM")
SPID=$(jget "$READY" 'd.get("pid", 0)' 2>/dev/null || echo 0)
[ "${SPID:-0}" -gt 0 ] && SHIM_PIDS+=("$SPID")
check "shim ready ($READY)" test "${SPID:-0}" -gt 0
if [ "${SPID:-0}" -le 0 ]; then
	cat "$RUN/shim.log" 2>/dev/null
	say "$pass passed, $fail failed"
	exit 1
fi
FDS0=$(ls "/proc/$SPID/fd" | wc -l)

start() { client req "$SOCK" "{\"op\":\"start\",\"container\":\"$1\"}"; }
ex() { # ex CTR SCRIPT [EXTRA-JSON]: exec sh -c SCRIPT; stdout in $T/ex.out; prints the reply
	client req "$SOCK" "$(python3 -c 'import json,sys; r={"op":"exec","container":sys.argv[1],"args":["sh","-c",sys.argv[2]]}; r.update(json.loads(sys.argv[3])); print(json.dumps(r))' "$1" "$2" "${3:-{\}}")" \
		/dev/null "$T/ex.out" "$T/ex.err"
}
st() { grep -E "^$2:" "$1" | tr -d ' \t' | cut -d: -f2; }

# ---- the first process: capabilities, no_new_privs, seccomp -------------------------------
R=$(start sec)
SEC=$(jget "$R" 'd.get("pid", 0)')
check "start sec ($R)" test "$SEC" -gt 0
cp "/proc/$SEC/status" "$T/sec.status"
check "born in its v2 cgroup (clone3 CLONE_INTO_CGROUP), joined its v1 one" sh -c \
	"grep -q 'container sec: cloned into cgroup $CG_V2\$' '$RUN/shim.log' && grep -qx '0::/$PFX' /proc/$SEC/cgroup && grep -q ':pids:/$PFX\$' /proc/$SEC/cgroup"
check "CapEff is the 11 defaults (800405fb)" test "$(st "$T/sec.status" CapEff)" = 00000000800405fb
check "CapBnd is the same set" test "$(st "$T/sec.status" CapBnd)" = 00000000800405fb
check "CapPrm too; CapInh and CapAmb empty" sh -c "[ $(st "$T/sec.status" CapPrm) = 00000000800405fb ] && [ $(st "$T/sec.status" CapInh) = 0000000000000000 ] && [ $(st "$T/sec.status" CapAmb) = 0000000000000000 ]"
check "NoNewPrivs is 1" test "$(st "$T/sec.status" NoNewPrivs)" = 1
check "Seccomp is 2 (filter)" test "$(st "$T/sec.status" Seccomp)" = 2
check "rlimit NOFILE defaults to 1024:1024" sh -c "grep -q '^Max open files *1024 *1024' /proc/$SEC/limits"

# ---- the seccomp cache: one program per capability set, compiled by the first shim ---------
# sec, user, usergrp, nouser, vol, ...: the defaults; caps: its own set; userplus: defaults too
check "seccomp cache: a 0700 directory of 0600 programs, whole instructions" sh -c \
	"ls -la '$T/scache'; [ \$(stat -c %a '$T/scache') = 700 ] && n=\$(ls '$T/scache' | grep -c '^v1-caps[0-9a-f]\{16\}-.*\.bpf\$') && [ \$n -ge 2 ] && for f in '$T'/scache/*.bpf; do [ \$(stat -c %a \$f) = 600 ] && [ \$((\$(stat -c %s \$f) % 8)) = 0 ] || exit 1; done"
ls -i "$T/scache" | sort >"$T/scache.1"

# ---- what an attacker tries, from an exec (same caps and filter) ----------------------------
R=$(ex sec 'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status | tr -d "\t "')
check "exec has the same CapEff/CapBnd/NoNewPrivs/Seccomp" sh -c \
	"grep -qx CapEff:00000000800405fb '$T/ex.out' && grep -qx CapBnd:00000000800405fb '$T/ex.out' && grep -qx NoNewPrivs:1 '$T/ex.out' && grep -qx Seccomp:2 '$T/ex.out'"
R=$(ex sec 'probe')
check "seccomp: personality, AF_VSOCK, keyctl refused with EPERM; clone3 ENOSYS" sh -c \
	"grep -qx 'personality EPERM' '$T/ex.out' && grep -qx 'vsock EPERM' '$T/ex.out' && grep -qx 'keyctl EPERM' '$T/ex.out' && grep -qx 'clone3 ENOSYS' '$T/ex.out'"
R=$(ex sec 'echo 1 >/proc/sys/kernel/domainname 2>/dev/null && echo W1; echo x >/sys/kernel/uevent_helper 2>/dev/null && echo W2; touch /sys/fs/cgroup/x 2>/dev/null && echo W3; echo 1 >/proc/sysrq-trigger 2>/dev/null && echo W4; true')
check "writes to /proc/sys, /sys, /sys/fs/cgroup, /proc/sysrq-trigger fail" test ! -s "$T/ex.out"
R=$(ex sec 'grep -E " /sys/fs/cgroup | /sys | /proc " /proc/mounts')
check "/sys and a cgroup2 at /sys/fs/cgroup are read-only, /proc nosuid,nodev,noexec" sh -c \
	"grep -q '^cgroup2 /sys/fs/cgroup cgroup2 ro,nosuid,nodev,noexec' '$T/ex.out' && grep -q '^sysfs /sys sysfs ro,' '$T/ex.out' && grep -q '^proc /proc proc rw,nosuid,nodev,noexec' '$T/ex.out'"
R=$(ex sec 'for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/interrupts /proc/latency_stats /proc/timer_stats; do [ -e $f ] && printf "%s:%s\n" $f $(cat $f | wc -c); done; for d in /proc/acpi /proc/asound /proc/scsi /sys/firmware /sys/devices/virtual/powercap /sys/devices/virtual/tpm; do [ -e $d ] && printf "%s:%s\n" $d $(ls -A $d | wc -l); done; true')
check "masked paths read empty ($(tr '\n' ' ' <"$T/ex.out"))" sh -c "[ -s '$T/ex.out' ] && ! grep -v ':0$' '$T/ex.out'"
R=$(ex sec 'mknod /tmp/null c 1 3 2>&1 || echo MKNOD-FAILED; mount -t tmpfs none /tmp 2>&1 || echo MOUNT-FAILED; chroot / true && echo CHROOT-OK')
check "mknod and mount fail, chroot (SYS_CHROOT) works" sh -c \
	"grep -q MKNOD-FAILED '$T/ex.out' && grep -q MOUNT-FAILED '$T/ex.out' && grep -q CHROOT-OK '$T/ex.out'"
R=$(ex sec 'for f in /tmp/kvm /tmp/mem /tmp/zram; do [ -c $f ] || [ -b $f ] || echo "$f: not a device node"; (: <$f) 2>&1; done')
check "device nodes of the image (c 10:232, c 1:1, b 253:0) cannot be opened: the root is nodev" sh -c \
	"cat '$T/ex.out'; [ \$(grep -c 'Permission denied' '$T/ex.out') = 3 ] && [ \$(wc -l <'$T/ex.out') = 3 ]"
R=$(ex sec 'head -c 4 /dev/urandom | wc -c; head -c 4 /dev/zero | wc -c; echo x >/dev/null && echo null-ok; (: <>/dev/ptmx) && echo ptmx-ok; ls /dev/pts/ptmx; (: <>/dev/tty) 2>&1')
check "/dev/null, zero, urandom, ptmx, pts work (/dev/tty: no controlling terminal, not refused)" sh -c \
	"cat '$T/ex.out'; [ \"\$(head -n 5 '$T/ex.out' | tr '\n' ' ')\" = '4 4 null-ok ptmx-ok /dev/pts/ptmx ' ] && tail -n1 '$T/ex.out' | grep -q 'No such device or address'"
R=$(ex sec 'readlink /proc/1/fd/1; readlink /proc/1/fd/2; readlink /proc/1/fd/0')
check "the container's stdout/stderr are pipes (no log file to reach), stdin /dev/null" sh -c \
	"cat '$T/ex.out' '$T/ex.err'; [ \"\$(head -n2 '$T/ex.out' | grep -c '^pipe:')\" = 2 ] && tail -n1 '$T/ex.out' | grep -qx /dev/null"
R=$(ex sec 'umask; ulimit -n; echo HOME=$HOME HOSTNAME=$HOSTNAME PATH=$PATH')
check "exec: umask 0022, NOFILE 1024, HOME and HOSTNAME defaults" sh -c \
	"[ \"\$(tr '\n' ' ' <'$T/ex.out')\" = '0022 1024 HOME=/root HOSTNAME=sec PATH=/bin ' ]"
R=$(ex sec 'id; grep -E "^Cap(Eff|Amb)" /proc/self/status | tr -d "\t "' '{"user":"app"}')
check "exec -u app: uid 1500 with its groups and no capabilities" sh -c \
	"grep -q 'uid=1500(app) gid=1500(app) groups=29(audio),44(video),1500(app)' '$T/ex.out' && grep -qx CapEff:0000000000000000 '$T/ex.out'"
R=$(ex sec 'echo $A $B' '{"env_add":["A=1","B=2"]}')
check "exec env_add is merged over the container's env" grep -qx "1 2" "$T/ex.out"
R=$(ex sec 'true' '{"user":"ghost"}')
check "exec -u of an unknown user is an error ($R)" sh -c "echo '$R' | grep -q 'no user \\\\\"ghost\\\\\"'"

# ---- users, umask, rlimits ------------------------------------------------------------------
R=$(start user)
UPID=$(jget "$R" 'd.get("pid", 0)')
check "start user (by name)" test "$UPID" -gt 0
wait_for 5 grep -q CapAmb "$T/logs/user.log"
logtext "$T/logs/user.log" >"$T/user.txt"
check "user app: uid 1500, primary group, supplementary groups from /etc/group" \
	grep -qx 'uid=1500(app) gid=1500(app) groups=29(audio),44(video),1500(app)' "$T/user.txt"
check "umask 0022, NOFILE 1024:1024, HOME from /etc/passwd" sh -c \
	"sed -n 2,5p '$T/user.txt' | tr '\n' ' ' | grep -qx '0022 1024 1024 HOME=/home/app '"
check "a non-root user has no effective, permitted or ambient capabilities" sh -c \
	"grep -q '^CapEff:.*0000000000000000' '$T/user.txt' && grep -q '^CapPrm:.*0000000000000000' '$T/user.txt' && grep -q '^CapAmb:.*0000000000000000' '$T/user.txt'"
R=$(start usergrp)
wait_for 5 test -s "$T/logs/usergrp.log"
check "uid:group by name: no supplementary groups from /etc/group (podman)" sh -c \
	"cut -d' ' -f4- '$T/logs/usergrp.log' | grep -qx 'uid=1500(app) gid=44(video) groups=44(video)'"
R=$(start nouser)
check "an unknown user name fails the start with the reason ($R)" sh -c \
	"echo '$R' | grep -q '\"ok\": false' && echo '$R' | grep -q 'no user'"

# ---- capabilities add/drop, seccomp unconfined ------------------------------------------
R=$(start caps)
wait_for 5 grep -q CapBnd "$T/logs/caps.log"
# defaults 800405fb + NET_RAW (13) + SYS_ADMIN (21) - CHOWN (0) = 802425fa
check "capabilities add NET_RAW, sys_admin and drop CAP_CHOWN: 802425fa" sh -c \
	"cut -d' ' -f4- '$T/logs/caps.log' | tr -d '\t ' | grep -qx CapEff:00000000802425fa"
R=$(start userplus)
wait_for 5 grep -q CapAmb "$T/logs/userplus.log"
check "a non-root user keeps an added capability (NET_BIND_SERVICE = 400), as ambient" sh -c \
	"cut -d' ' -f4- '$T/logs/userplus.log' | tr -d '\t ' | grep -qx CapEff:0000000000000400 && cut -d' ' -f4- '$T/logs/userplus.log' | tr -d '\t ' | grep -qx CapAmb:0000000000000400"
R=$(start unconf)
wait_for 5 grep -q keyctl "$T/logs/unconf.log"
check "seccomp unconfined: Seccomp 0, the probe's syscalls are not refused by a filter" sh -c \
	"cut -d' ' -f4- '$T/logs/unconf.log' | tr -d '\t ' | grep -qx Seccomp:0 && cut -d' ' -f4- '$T/logs/unconf.log' | grep -qx 'personality allowed'"

# ---- volumes ---------------------------------------------------------------------------------
R=$(start vol)
check "start vol ($R)" test "$(jget "$R" 'd["ok"]')" = True
R=$(ex vol 'cat /data/marker; cat /ro/marker; echo x >/ro/x 2>/dev/null && echo RO-WRITABLE; echo y >/data/new && echo RW-OK; grep " /scratch " /proc/mounts')
check "bind volume visible and writable, read_only volume is read-only" sh -c \
	"grep -qx 'in the volume' '$T/ex.out' && grep -qx 'read only' '$T/ex.out' && ! grep -q RO-WRITABLE '$T/ex.out' && grep -qx RW-OK '$T/ex.out' && [ -f '$T/vol/new' ]"
check "tmpfs volume with its size (1 MiB)" grep -q '^tmpfs /scratch tmpfs rw,nosuid,nodev.*size=1024k' "$T/ex.out"
R=$(ex vol "cat /vol-abs/marker; cat $T/escape-abs/marker; cat /vol-rel/sub/marker; cat $T/escape-rel/sub/marker")
check "a symlinked volume target resolves inside the rootfs (absolute and ../ symlinks)" sh -c \
	"[ \"\$(grep -c 'in the volume' '$T/ex.out')\" = 4 ]"
check "... and nothing was created or mounted at those paths on the host" sh -c \
	"[ ! -e '$T/escape-abs' ] && [ ! -e '$T/escape-rel' ] && ! grep -q '$T/escape' /proc/self/mountinfo"
check "... the directories were made in the container's upper layer" \
	test -d "$T/c/vol/upper$T/escape-abs" -a -d "$T/c/vol/upper$T/escape-rel/sub"
R=$(start badvol)
check "a volume target that resolves into /proc is refused ($R)" sh -c \
	"echo '$R' | grep -q 'resolves into /proc or /sys'"

# ---- logs: CRI records, P/F, rotation, the logs op -------------------------------------------
R=$(start logger)
check "start logger" test "$(jget "$R" 'd["ok"]')" = True
check "logger exits" wait_for 15 sh -c "python3 '$T/client.py' req '$SOCK' '{\"op\":\"status\"}' | grep -q '\"name\": \"logger\", \"state\": \"exited\"'"
cat "$T"/logs/logger.log.2 "$T"/logs/logger.log.1 "$T"/logs/logger.log 2>/dev/null >"$T/logger.all"
check "rotation: logger.log.1 and .2 exist, no .3 (max_files 3)" sh -c \
	"[ -s '$T/logs/logger.log.1' ] && [ -s '$T/logs/logger.log.2' ] && [ ! -e '$T/logs/logger.log.3' ]"
check "rotation: every file is at most max_size (8192)" sh -c \
	"for f in '$T'/logs/logger.log*; do [ \$(stat -c %s \"\$f\") -le 8192 ] || exit 1; done"
check "every record is TIME STREAM P|F TEXT" sh -c \
	"! grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z (stdout|stderr) [PF] ' '$T/logger.all'"
check "a 300-byte line is cut at line_max 200: P of 200, then F of 100" sh -c \
	"grep -Eq ' stdout P 0{200}\$' '$T/logger.all' && grep -Eq ' stdout F 0{100}\$' '$T/logger.all'"
check "a line without newline for over 1 s is logged P, its end F" sh -c \
	"grep -q ' stdout P partial$' '$T/logger.all' && grep -q ' stdout F  end$' '$T/logger.all'"
check "stderr is its own stream" grep -q ' stderr F err$' "$T/logger.all"
check "the last piece without newline is F at the end of the stream" grep -q ' stdout F tail-no-newline$' "$T/logger.all"

R=$(client logs "$SOCK" '{"op":"logs","container":"logger"}' "$T/lo.out" "$T/lo.err")
{ echo first; printf '%0300d\n' 0; echo "partial end"; for i in $(seq 0 399); do echo "line-$i"; done; printf 'tail-no-newline\n'; } >"$T/lo.want"
check "logs op (text, 2 fds): stdout across rotations, partial lines joined ($R)" cmp "$T/lo.want" "$T/lo.out"
check "logs op: stderr records on the stderr fd" test "$(cat "$T/lo.err")" = err
R=$(client logs "$SOCK" '{"op":"logs","container":"logger","tail":3,"timestamps":true}' "$T/lo.out" "$T/lo.err")
check "logs --tail 3 --timestamps" sh -c \
	"[ \"\$(cut -d' ' -f2- '$T/lo.out' | tr '\n' ' ')\" = 'line-398 line-399 tail-no-newline ' ] && grep -Eq '^[0-9-]{10}T[0-9:.]{18}Z line-398$' '$T/lo.out'"
FUTURE=$(( $(date +%s) * 1000 + 3600000 ))
R=$(client logs "$SOCK" "{\"op\":\"logs\",\"container\":\"logger\",\"since_ms\":$FUTURE}" "$T/lo.out" "$T/lo.err")
check "logs --since in the future prints nothing" test ! -s "$T/lo.out"
client frames "$SOCK" '{"op":"logs","container":"logger","tail":2}' >"$T/frames.out"
check "logs op without fds: one frame per record, then the reply" sh -c \
	"[ \$(wc -l <'$T/frames.out') = 3 ] && grep -q '\"stream\": \"stdout\", \"tag\": \"F\", \"text\": \"line-399\"' '$T/frames.out' && tail -n1 '$T/frames.out' | grep -q '\"ok\": true'"

R=$(start chatty)
check "start chatty" test "$(jget "$R" 'd["ok"]')" = True
python3 "$T/client.py" logs "$SOCK" '{"op":"logs","container":"chatty","follow":true,"tail":1}' "$T/fo.out" "$T/fo.err" >"$T/fo.reply" &
FPID=$!
check "logs -f follows new lines" wait_for 10 grep -q 'tick-5' "$T/fo.out"
R=$(client req "$SOCK" '{"op":"stop","container":"chatty","signal":9}')
check "logs -f ends when the container stops, with ok" wait_for 10 grep -q '"ok": true' "$T/fo.reply"
kill "$FPID" 2>/dev/null
check "logs -f printed one line per tick, in order" sh -c \
	"awk -F- '{ if (NR > 1 && \$2 != prev + 1) exit 1; prev = \$2 }' '$T/fo.out'"

# ---- tty: exec -t through a pty, attach to a console ---------------------------------------
client ptyexec "$SOCK" sec >"$T/pty.out" 2>&1
check "exec -t: the command has a pty of the container (/dev/pts/0) sized like the client's" sh -c \
	"grep -qx '33 77' '$T/pty.out' && grep -qx /dev/pts/0 '$T/pty.out' && grep -q 'nnp=NoNewPrivs:1' '$T/pty.out'"
check "exec -t: a resize frame changes the size" grep -qx '40 100' "$T/pty.out"
check "exec -t: the reply carries the exit code" grep -q 'REPLY {"ok": true, "exit_code": 3}' "$T/pty.out"

R=$(start console)
check "start a tty container" test "$(jget "$R" 'd["ok"]')" = True
R=$(ex console 'readlink /proc/1/fd/0; ls -l /dev/console; echo $TERM')
check "its stdio is the console /dev/pts/0, bound at /dev/console; TERM set" sh -c \
	"grep -qx /dev/pts/0 '$T/ex.out' && grep -q '^crw.* 136, *0 .*/dev/console' '$T/ex.out' && grep -qx xterm '$T/ex.out'"
client attach "$SOCK" console "mark$$" >"$T/att.out" 2>&1
check "attach: a second attacher is refused" grep -q 'SECOND.*already has an attached client' "$T/att.out"
check "attach: input reaches the shell and its output comes back, at the client's size" sh -c \
	"grep -q 'mark$$-42' '$T/att.out' && grep -qx '30 90' '$T/att.out'"
check "attach: ctrl-p ctrl-q detaches" grep -q 'REPLY {"ok": true, "detached": true}' "$T/att.out"
R=$(client req "$SOCK" '{"op":"status"}')
check "the container runs on after the detach" test "$(jget "$R" \
	'[c["state"] for c in d["containers"] if c["name"] == "console"][0]')" = running
check "the console output is in the log too" grep -q "stdout [PF] mark$$-42" "$T/logs/console.log"
R=$(client req "$SOCK" '{"op":"resize","container":"console","rows":50,"cols":120}')
check "resize op on the console ($R)" test "$(jget "$R" 'd["ok"]')" = True
R=$(client req "$SOCK" '{"op":"attach","container":"sec"}' /dev/null /dev/null /dev/null)
check "attach to a container without tty is refused" sh -c "echo '$R' | grep -q 'no tty'"
R=$(client attachexit "$SOCK" console 2>&1)
check "attach: the reply carries the exit of the container ($R)" \
	sh -c "echo '$R' | grep -q 'REPLY {\"ok\": true, \"exit_code\": 7}'"
R=$(client ptydetach "$SOCK" sec 2>&1)
check "exec -t: custom detach keys (ctrl-x,d) leave the command running ($R)" \
	sh -c "echo '$R' | grep -q 'REPLY {\"ok\": true, \"detached\": true}'"
R=$(client ptyhangup "$SOCK" sec)
check "exec -t: the command started ($R)" test "$R" = started
check "exec -t: a client that goes away hangs up the pty: the command ends" \
	wait_for 5 sh -c "! ps -eo args | grep -q '^sleep 1003\$'"
for c in sec user vol; do client req "$SOCK" "{\"op\":\"stop\",\"container\":\"$c\",\"grace_ms\":0}" >/dev/null; done
check "with every container stopped, the shim holds as many fds as at its start ($FDS0)" \
	wait_for 5 test "$(ls /proc/$SPID/fd | wc -l)" -eq "$FDS0"

say "# shim: $(grep -E "VmRSS|RssAnon|RssFile" "/proc/$SPID/status" | tr -s " \t\n" " ") Pss: $(grep '^Pss:' /proc/$SPID/smaps_rollup | tr -s ' ' | cut -d' ' -f2) kB, $(ls /proc/$SPID/fd | wc -l) fds"
R=$(client req "$SOCK" '{"op":"destroy","grace_ms":500}')
check "destroy ($R)" test "$(jget "$R" 'd["ok"]')" = True
check "the shim exits" wait_for 5 sh -c "! kill -0 $SPID 2>/dev/null"

# ---- share_pid ------------------------------------------------------------------------------
RUNP=$T/runp
mkdir -p "$RUNP"
cat >"$RUNP/shim.json" <<JSON
{"pod":"$PFX-p","hostname":"shared","netns_path":"/run/netns/$PFX-p","log_dir":"$T/plogs",
 "seccomp_cache":"$T/scache",
 "share_pid":true, "pause_cgroups":["$CG_PP1","$CG_PP2"],
 "containers":[
  $(container pa '["sleep","1001"]' | sed "s|\"cgroups\":\[[^]]*\]|\"cgroups\":[\"$CG_PA\"]|"),
  $(container pb '["sleep","1002"]' ',"capabilities":{"add":["SYS_PTRACE"]}' | sed "s|\"cgroups\":\[[^]]*\]|\"cgroups\":[\"$CG_PB\"]|")
 ]}
JSON
READY=$(client spawn "$RUNP" "$SHIM")
SPIDP=$(jget "$READY" 'd.get("pid", 0)' 2>/dev/null || echo 0)
[ "${SPIDP:-0}" -gt 0 ] && SHIM_PIDS+=("$SPIDP")
check "share_pid shim ready ($READY)" test "${SPIDP:-0}" -gt 0
SOCK=$RUNP/shim.sock
R=$(start pa)
PA=$(jget "$R" 'd.get("pid", 0)')
R=$(start pb)
PB=$(jget "$R" 'd.get("pid", 0)')
check "both containers run" test "$PA" -gt 0 -a "$PB" -gt 0
check "share_pid: each is born in its own v2 cgroup too" sh -c \
	"grep -q 'container pa: cloned into cgroup $CG_PA\$' '$RUNP/shim.log' && grep -qx '0::/$PFX-pa' /proc/$PA/cgroup && grep -qx '0::/$PFX-pb' /proc/$PB/cgroup"
check "they share one pid namespace, with separate mount namespaces" sh -c \
	"[ \$(readlink /proc/$PA/ns/pid) = \$(readlink /proc/$PB/ns/pid) ] && [ \$(readlink /proc/$PA/ns/mnt) != \$(readlink /proc/$PB/ns/mnt) ]"
check "the containers are the shim's children" sh -c \
	"[ \$(ps -o ppid= -p $PA | tr -d ' ') = $SPIDP ] && [ \$(ps -o ppid= -p $PB | tr -d ' ') = $SPIDP ]"
R=$(ex pb 'cat /proc/1/comm; ps -o args | grep -c "sleep 100[12]"')
check "inside: pid 1 is the pod's pause, both sleeps are visible" sh -c \
	"[ \"\$(tr '\n' ' ' <'$T/ex.out')\" = 'pause 2 ' ]"
# pb has SYS_PTRACE: what it can see of pid 1 must be nothing of the host
R=$(ex pb 'ls -A /proc/1/root/ 2>&1 | sed "s/^/root:/"; ls -A /proc/1/cwd/ 2>&1 | sed "s/^/cwd:/"; echo "environ:$(cat /proc/1/environ 2>/dev/null | wc -c)"; echo "cmdline:$(tr "\0" " " </proc/1/cmdline)"; echo "exe:$(readlink /proc/1/exe)"; grep -E "^(Cap(Eff|Prm|Inh|Bnd|Amb)|NoNewPrivs|Seccomp|Uid):" /proc/1/status | tr -d " \t"; sed "s/^/cgroup:/" /proc/1/cgroup; sed "s/^/mnt:/" /proc/1/mountinfo')
cp "$T/ex.out" "$T/pause.view"
check "pid 1 (pause) with SYS_PTRACE: /proc/1/root and cwd are empty (no host /)" sh -c \
	"cat '$T/pause.view'; ! grep -Eq '^(root|cwd):' '$T/pause.view' || ! grep -Ev '^(root|cwd):.*(Permission denied|Operation not permitted)' '$T/pause.view' | grep -Eq '^(root|cwd):'"
check "pid 1: /proc/1/environ is empty, cmdline is 'pause', exe no host path" sh -c \
	"grep -qx environ:0 '$T/pause.view' && grep -qx 'cmdline:pause ' '$T/pause.view' && grep -qx 'exe:/memfd:pause (deleted)' '$T/pause.view'"
check "pid 1: no capabilities in any set, no_new_privs, seccomp filter, uid nobody" sh -c \
	"for k in CapEff CapPrm CapInh CapBnd CapAmb; do grep -qx \$k:0000000000000000 '$T/pause.view' || exit 1; done; grep -qx NoNewPrivs:1 '$T/pause.view' && grep -qx Seccomp:2 '$T/pause.view' && grep -qx Uid:65534655346553465534 '$T/pause.view'"
check "pid 1: its mounts are one read-only tmpfs at /, no host path" sh -c \
	"[ \$(grep -c '^mnt:' '$T/pause.view') = 1 ] && grep -q '^mnt:[0-9]* [0-9]* [0-9:]* / / ro,.* - tmpfs ' '$T/pause.view' && ! grep -q '$T' '$T/pause.view'"
PAUSE=$(pgrep -P "$SPIDP" -x pause)
check "from the host: the pause ($PAUSE) has its own mount namespace, an empty root" sh -c \
	"[ -n '$PAUSE' ] && [ \$(readlink /proc/$PAUSE/ns/mnt) != \$(readlink /proc/self/ns/mnt) ] && [ -z \"\$(ls -A /proc/$PAUSE/root/)\" ] && [ ! -s /proc/$PAUSE/environ ]"
check "the pause is in its own cgroups (pause_cgroups), v1 and v2" sh -c \
	"cat /proc/$PAUSE/cgroup; grep -q ':pids:/$PFX-pp\$' /proc/$PAUSE/cgroup && grep -qx '0::/$PFX-pp' /proc/$PAUSE/cgroup"
R=$(ex pb 'sleep 0.3 & sleep 0.3 & exit 0')
check "pause reaps the orphans of the pod (no zombie left in the pid namespace)" wait_for 5 sh -c \
	"! ps -o stat=,args= --ppid '$PAUSE' | grep -q .; [ \$(ps -o pid= --ppid '$PAUSE' | wc -l) = 0 ]"
check "a second shim reuses the cached program of the default set (same file, same inode)" sh -c \
	"ls -i '$T/scache' | sort >'$T/scache.2'; comm -23 '$T/scache.1' '$T/scache.2' | tee /dev/stderr | grep -c . | grep -qx 0"
R=$(ex pa 'grep ^Seccomp: /proc/self/status; probe')
check "... and with it, the denied syscalls are still denied (personality, vsock, keyctl; clone3)" sh -c \
	"cat '$T/ex.out'; grep -qx 'Seccomp:	2' '$T/ex.out' && grep -qx 'personality EPERM' '$T/ex.out' && grep -qx 'vsock EPERM' '$T/ex.out' && grep -qx 'keyctl EPERM' '$T/ex.out' && grep -qx 'clone3 ENOSYS' '$T/ex.out'"
R=$(client req "$SOCK" '{"op":"stop","container":"pa","grace_ms":2000}')
check "stopping pa: SIGTERM works (it is not pid 1 of its namespace) ($R)" \
	test "$(jget "$R" 'd.get("signal")')" = 15
check "pb runs on" sh -c "kill -0 $PB"
R=$(client req "$SOCK" '{"op":"destroy","grace_ms":500}')
check "destroy the share_pid pod" test "$(jget "$R" 'd["ok"]')" = True
check "its shim exits and pb is gone" wait_for 5 sh -c "! kill -0 $SPIDP 2>/dev/null && ! kill -0 $PB 2>/dev/null"

# ---- a damaged cache entry is replaced, not used --------------------------------------------
for f in "$T"/scache/*.bpf; do printf 'xyz' >>"$f"; done
RUN3=$T/run3
mkdir -p "$RUN3" "$T/logs3"
cat >"$RUN3/shim.json" <<JSON
{"pod":"$PFX-3","hostname":"three","netns_path":"/run/netns/$PFX-3","log_dir":"$T/logs3",
 "seccomp_cache":"$T/scache",
 "containers":[ $(container third '["probe"]' | sed "s|\"cgroups\":\[[^]]*\]|\"cgroups\":[]|") ]}
JSON
READY=$(client spawn "$RUN3" "$SHIM")
SPID3=$(jget "$READY" 'd.get("pid", 0)' 2>/dev/null || echo 0)
[ "${SPID3:-0}" -gt 0 ] && SHIM_PIDS+=("$SPID3")
R=$(client req "$RUN3/shim.sock" '{"op":"start","container":"third"}')
check "with every cached program damaged (size not whole instructions), a start works ($R)" \
	wait_for 5 grep -q keyctl "$T/logs3/third.log"
check "... its filter denies as before" sh -c \
	"cut -d' ' -f4- '$T/logs3/third.log' | tee /dev/stderr | tr '\n' ' ' | grep -qx 'personality EPERM vsock EPERM clone3 ENOSYS keyctl EPERM '"
check "... and the damaged entry it needed was rewritten whole" sh -c \
	"n=0; for f in '$T'/scache/*.bpf; do [ \$((\$(stat -c %s \$f) % 8)) = 0 ] && n=\$((n + 1)); done; [ \$n -ge 1 ]"
client req "$RUN3/shim.sock" '{"op":"destroy","grace_ms":500}' >/dev/null
wait_for 5 sh -c "! kill -0 $SPID3 2>/dev/null"

# ---- devices: the BPF device filter alone, on a v2 cgroup ----------------------------------
# (on this hybrid host tankd applies both the v1 devices cgroup and this filter; here it is
# the only restriction: the process stays in the v1 roots)
mknod "$T/kvm" c 10 232 && mknod "$T/null" c 1 3 && mknod "$T/zram" b 253 0 || exit 1
probe_dev() { for f in "$T/kvm" "$T/zram" "$T/null" /dev/urandom; do (: <"$f") 2>&1 | sed 's/.*: //'; done; }
probe_dev >"$T/dev.before"
check "without the filter, kvm and zram nodes are not refused by permission" sh -c \
	"cat '$T/dev.before'; ! grep -q 'Operation not permitted' '$T/dev.before'"
mkdir "$CG_DEV"
check "load tank_dev.bpf.o and attach it to a v2 cgroup" sh -c \
	"bpftool prog load '$BUILD/bpf/tank_dev.bpf.o' '$DEV_PIN' type cgroup/dev && bpftool cgroup attach '$CG_DEV' device pinned '$DEV_PIN' multi"
export -f probe_dev
export T
bash -c "echo \$\$ >'$CG_DEV/cgroup.procs' && probe_dev" >"$T/dev.after" 2>&1
check "in that cgroup: kvm and the block device EPERM, null and urandom open" sh -c \
	"cat '$T/dev.after'; [ \"\$(tr '\n' ' ' <'$T/dev.after')\" = 'Operation not permitted Operation not permitted ' ]"

# ---- devices through tankd: a umoci image with device nodes, unpacked by oci/unpack.c ----
tk_start
DI=$T/devimg
umoci init --layout "$DI" && umoci new --image "$DI:1.0" && umoci unpack --image "$DI:1.0" "$T/devbun" >/dev/null || exit 1
DR=$T/devbun/rootfs
mkdir -p "$DR/bin" "$DR/etc" "$DR/tmp" "$DR/proc" "$DR/sys" "$DR/dev"
cp /bin/busybox "$DR/bin/"
for a in sh sleep cat head wc ls mknod echo; do ln -s busybox "$DR/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$DR/etc/passwd"
mknod -m 666 "$DR/tmp/kvm" c 10 232 && mknod -m 666 "$DR/tmp/mem" c 1 1 && mknod -m 666 "$DR/tmp/zram" b 253 0 || exit 1
umoci repack --image "$DI:1.0" "$T/devbun" >/dev/null && umoci config --image "$DI:1.0" --os linux --architecture amd64 --config.env PATH=/bin || exit 1
DPOD=$TK_P-dev
cat >"$T/dev.json" <<JSON
{"name": "$DPOD", "network": "none", "share_pid": true,
 "containers": [{"name": "c", "image": "oci:$DI:1.0", "command": ["sleep", "1000"], "stop_grace": "1s",
                 "capabilities": {"add": ["MKNOD"]}}]}
JSON
check "apply a pod whose image carries device nodes (with CAP_MKNOD)" tankctl apply -f "$T/dev.json"
check "it runs" tankctl wait pod "$DPOD" --for running --timeout 20s
tankctl exec "$DPOD" -- sh -c 'for f in /tmp/kvm /tmp/mem /tmp/zram; do [ -c $f ] || [ -b $f ] || echo "$f: not a device node"; (: <$f) 2>&1; done' >"$T/dev.img" 2>&1
check "tankd: the image's kvm, mem and block nodes were unpacked and cannot be opened" sh -c \
	"cat '$T/dev.img'; [ \$(grep -Ec 'Permission denied|Operation not permitted' '$T/dev.img') = 3 ] && [ \$(wc -l <'$T/dev.img') = 3 ]"
tankctl exec "$DPOD" -- sh -c 'mknod /dev/kvm2 c 10 232 2>&1; mknod /dev/sda2 b 8 0 2>&1; mknod /dev/null2 c 1 3 && echo x >/dev/null2 && echo null2-ok; head -c 4 /dev/urandom | wc -c' >"$T/dev.mknod" 2>&1
check "tankd: mknod of kvm or a disk in /dev is refused by the device cgroup, of null allowed" sh -c \
	"cat '$T/dev.mknod'; [ \$(grep -c 'Operation not permitted' '$T/dev.mknod') = 2 ] && grep -qx null2-ok '$T/dev.mknod' && grep -qx 4 '$T/dev.mknod'"
if [ -d /sys/fs/cgroup/devices ]; then
	check "v1 devices cgroup of the container lists only the standard devices" sh -c \
		"sort '/sys/fs/cgroup/devices/$TK_CG/$DPOD/c/devices.list' | tr '\n' ' ' | tee /dev/stderr | grep -qx 'c 136:\\* rwm c 1:3 rwm c 1:5 rwm c 1:7 rwm c 1:8 rwm c 1:9 rwm c 5:0 rwm c 5:1 rwm c 5:2 rwm '"
fi
V2C=/sys/fs/cgroup/unified/$TK_CG/$DPOD/c
[ -d "$V2C" ] || V2C=/sys/fs/cgroup/$TK_CG/$DPOD/c
check "the BPF device filter (tank_dev) is attached to its v2 cgroup, once" sh -c \
	"bpftool cgroup show '$V2C' | tee /dev/stderr | grep -c 'device.*tank_dev' | grep -qx 1"
PCG=/sys/fs/cgroup/pids/$TK_CG/$DPOD/_pause
if [ -d /sys/fs/cgroup/pids ]; then
	check "share_pid through tankd: the pause sits alone in <pod>/_pause, pids.max 1" sh -c \
		"[ \$(cat '$PCG/pids.max') = 1 ] && [ \$(wc -l <'$PCG/cgroup.procs') = 1 ] && [ \$(cat /proc/\$(cat '$PCG/cgroup.procs')/comm) = pause ]"
fi
check "delete the pod" tankctl delete pod "$DPOD" --wait
check "its cgroups are gone, _pause included" sh -c "! ls -d /sys/fs/cgroup/*/'$TK_CG/$DPOD' /sys/fs/cgroup/unified/'$TK_CG/$DPOD' 2>/dev/null"

say "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
