#!/usr/bin/env bash
# test_shim.sh - tank-shim alone (no tankd): pod namespaces, container start/exec/stop, destroy.
# Root. Needs `make build/tank-shim` (TANK_BUILD=dir overrides build/), busybox-static, python3.
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${TANK_BUILD:-$REPO/build}
SHIM=$BUILD/tank-shim
PFX="tanktest-shim-$$"
T=$(mktemp -d "/tmp/$PFX.XXXXXX")
HOSTNAME_POD="tt$$"
CG_V1=/sys/fs/cgroup/pids/$PFX
CG_V2=/sys/fs/cgroup/unified/$PFX
SHIM_PIDS=()
BG_PIDS=()
pass=0
fail=0

say() { printf '%s\n' "$*"; }
ok() { pass=$((pass + 1)); say "ok   - $*"; }
not_ok() { fail=$((fail + 1)); say "FAIL - $*"; }
# check "description" command...   (passes when the command succeeds; shows output if not)
check() {
	local desc=$1
	shift
	if "$@" >"$T/check.out" 2>&1; then ok "$desc"; else
		not_ok "$desc"
		sed 's/^/       | /' "$T/check.out" | tail -n 15
	fi
}
# wait_for SECONDS command...: poll every 0.1 s until the command succeeds
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
	local pid f d
	set +e
	for pid in "${BG_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
	for pid in "${SHIM_PIDS[@]}"; do
		grep -q tank-shim "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	done
	# containers outlive a SIGKILLed shim: kill what is still in this run's cgroups, by pid
	for d in "$CG_V1" "$CG_V2"; do
		[ -f "$d/cgroup.procs" ] || continue
		for pid in $(cat "$d/cgroup.procs"); do kill -KILL "$pid" 2>/dev/null; done
	done
	for f in /run/netns/"$PFX" /run/netns/"$PFX"-b /run/netns/"$PFX"-c; do
		[ -e "$f" ] || continue
		umount -l "$f" 2>/dev/null
		rm -f "$f"
	done
	for d in "$CG_V1" "$CG_V2"; do
		[ -d "$d" ] && wait_for 5 rmdir "$d"
	done
	# container mounts live in the containers' mount namespaces: nothing is mounted below $T
	if [ "${TANK_KEEP:-}" = 1 ]; then say "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || { say "test_shim.sh needs root"; exit 1; }
[ -x "$SHIM" ] || { say "$SHIM missing: run make build/tank-shim"; exit 1; }
[ -x /bin/busybox ] || { say "busybox-static missing"; exit 1; }

# ---- fixtures: a busybox rootfs layer, /etc files, cgroups, a client ------------------------
L=$T/layer
mkdir -p "$L"/bin "$L"/etc "$L"/proc "$L"/sys "$L"/dev "$L"/tmp
cp /bin/busybox "$L/bin/"
for a in sh sleep echo cat id hostname ip ls true false ps grep tr touch test mount; do
	ln -s busybox "$L/bin/$a"
done
# a second layer on top: its /etc/layer wins
L2=$T/layer2
mkdir -p "$L2/etc" && echo top >"$L2/etc/layer" && echo bottom >"$L/etc/layer"
mkdir -p "$T/etc" "$T/logs"
printf '127.0.0.1 localhost\n198.18.0.9 marker-%s\n' "$$" >"$T/etc/hosts"
echo "$HOSTNAME_POD" >"$T/etc/hostname"
echo "nameserver 198.18.0.1" >"$T/etc/resolv.conf"
mkdir "$CG_V1" "$CG_V2" || exit 1

cat >"$T/client.py" <<'PY'
# Test client for shim.sock: 4-byte big-endian length + JSON, fds via SCM_RIGHTS.
import json, os, socket, struct, subprocess, sys, time

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

mode = sys.argv[1]
if mode == 'spawn':        # spawn RUN_DIR SHIM: setsid + ready pipe; print the ready line
    run, shim = sys.argv[2], sys.argv[3]
    r, w = os.pipe()
    subprocess.Popen([shim, '--run-dir', run, '--ready-fd', str(w), '--log-level', 'debug'],
                     pass_fds=(w,), start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        print(f.readline().strip())
elif mode == 'req':        # req SOCK JSON [IN OUT ERR]: one request, print the reply
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
elif mode == 'watch':      # watch SOCK: print every frame (ack, then events) until EOF
    s = connect(sys.argv[2])
    s.settimeout(None)
    send(s, {'op': 'watch'})
    while True:
        m = recv(s)
        if m is None:
            break
        print(json.dumps(m), flush=True)
elif mode == 'idle':       # idle SOCK SECONDS [BYTES]: connect, send some raw bytes, stall
    s = connect(sys.argv[2])
    if len(sys.argv) > 4:
        s.sendall(bytes.fromhex(sys.argv[4]))
    time.sleep(float(sys.argv[3]))
elif mode == 'raw':        # raw SOCK HEX: send raw bytes, print the reply (or "EOF")
    s = connect(sys.argv[2])
    s.sendall(bytes.fromhex(sys.argv[3]))
    try:
        m = recv(s)
    except (EOFError, ConnectionResetError):
        m = None
    print(json.dumps(m) if m is not None else 'EOF')
PY
client() { python3 "$T/client.py" "$@"; }

# container NAME JSON-ARGS: one container entry of shim.json (rootfs dirs under $T/c/NAME)
container() {
	local n=$1 args=$2 c=$T/c/$1
	mkdir -p "$c/upper" "$c/work"
	cat <<JSON
{"name":"$n","rootfs":{"lower":["$L","$L2"],"upper":"$c/upper","work":"$c/work","target":"$c/rootfs"},
 "etc":{"hosts":"$T/etc/hosts","hostname":"$T/etc/hostname","resolv":"$T/etc/resolv.conf"},
 "process":{"args":$args,"env":["PATH=/bin","HOME=/"],"cwd":"/","uid":0,"gid":0},
 "cgroups":["$CG_V1","$CG_V2"],"stop_signal":15}
JSON
}

# shim_config RUN_DIR NETNS_NAME: write shim.json with every test container
shim_config() {
	mkdir -p "$1"
	cat >"$1/shim.json" <<JSON
{"pod":"$PFX","uid":"u-$$","hostname":"$HOSTNAME_POD","netns_path":"/run/netns/$2",
 "log_dir":"$T/logs",
 "containers":[
  $(container once '["sh","-c","hostname; echo out; sleep 0.2; exit 3"]'),
  $(container long '["sleep","1000"]'),
  $(container trap '["sh","-c","trap \"exit 0\" TERM; echo trapping; sleep 1000 & wait"]'),
  $(container missing '["no-such-cmd-'$$'","x"]'),
  {"name":"badcg","rootfs":{"lower":["$L"],"target":"$T/c/badcg/rootfs"},
   "process":{"args":["true"],"env":["PATH=/bin"],"cwd":"/","uid":0,"gid":0},
   "cgroups":["$T/no-such-cgroup"]},
  {"name":"ro","rootfs":{"lower":["$L"],"target":"$T/c/ro/rootfs"},
   "process":{"args":["sh","-c","id -u; id -g; pwd; touch /x 2>/dev/null || echo rofs"],
              "env":["PATH=/bin"],"cwd":"/tmp","uid":1000,"gid":1001},"cgroups":[]}
 ]}
JSON
}

# logtext FILE: the text of each CRI record ("TIME STREAM TAG TEXT")
logtext() { cut -d' ' -f4- "$1"; }
log_has() { logtext "$1" | grep -qx -- "$2"; }
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, {"d": d}))' "$1" "$2"; }

RUN=$T/run
SOCK=$RUN/shim.sock
shim_config "$RUN" "$PFX"

# ---- start ----------------------------------------------------------------------------------
READY=$(client spawn "$RUN" "$SHIM")
say "# ready: $READY"
SPID=$(jget "$READY" 'd.get("pid", 0)' 2>/dev/null || echo 0)
[ "${SPID:-0}" -gt 0 ] && SHIM_PIDS+=("$SPID")
check "ready line says ok with the shim pid" test "$(jget "$READY" 'd["ok"]')" = True -a "$SPID" -gt 0
if [ "${SPID:-0}" -le 0 ]; then
	cat "$RUN/shim.log" 2>/dev/null
	say "$pass passed, $fail failed"
	exit 1
fi
check "the shim survives its spawner and is a session leader" \
	test "$(ps -o sid= -p "$SPID" | tr -d ' ')" = "$SPID"
check "ip netns list shows the pod netns" sh -c "ip netns list | grep -qw $PFX"
check "shim.sock is a 0600 socket" test "$(stat -c %a "$SOCK")" = 600 -a -S "$SOCK"
check "state.json written at start" grep -q '"state":"created"' "$RUN/state.json"
check "the netns has loopback up" sh -c "ip -n $PFX link show lo | grep -q UP"

client watch "$SOCK" >"$T/watch.log" 2>&1 &
BG_PIDS+=($!)
check "watch is acknowledged with a status snapshot" \
	wait_for 5 grep -q '"shim_pid"' "$T/watch.log"
nfds() { ls "/proc/$SPID/fd" | wc -l; }
FDS0=$(nfds)
say "# shim: $FDS0 fds, $(grep -E "VmRSS|RssAnon|RssFile" "/proc/$SPID/status" | tr -s " \t\n" " ")"

# ---- a short container, twice --------------------------------------------------------------
R=$(client req "$SOCK" '{"op":"start","container":"once"}')
check "start once replies a pid ($R)" test "$(jget "$R" 'd.get("pid", 0) > 0')" = True
check "watch gets exited once with exit_code 3" \
	wait_for 10 grep -q '"event": "exited", "container": "once".*"exit_code": 3' "$T/watch.log"
check "log has the output" log_has "$T/logs/once.log" out
check "log has the pod hostname" log_has "$T/logs/once.log" "$HOSTNAME_POD"
check "log records are CRI lines (RFC 3339 nano time, stream, F tag)" \
	grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z stdout F out$' "$T/logs/once.log"
R=$(client req "$SOCK" '{"op":"status"}')
check "status shows once exited with code 3" test "$(jget "$R" \
	'[(c["state"], c.get("exit_code")) for c in d["containers"] if c["name"] == "once"][0]')" \
	= "('exited', 3)"
check "state.json matches" grep -q '"name":"once","state":"exited"' "$RUN/state.json"
R=$(client req "$SOCK" '{"op":"start","container":"once"}')
check "start once again (same pod namespaces)" test "$(jget "$R" 'd["ok"]')" = True
check "watch gets the second exit" \
	wait_for 10 sh -c "[ \$(grep -c '\"container\": \"once\"' '$T/watch.log') -ge 2 ]"

# ---- a long container: pid ns, cgroups, exec --------------------------------------------
R=$(client req "$SOCK" '{"op":"start","container":"long"}')
LPID=$(jget "$R" 'd.get("pid", 0)')
check "start long replies a pid" test "$LPID" -gt 0
R=$(client req "$SOCK" '{"op":"start","container":"long"}')
check "starting a running container is an error" sh -c "echo '$R' | grep -q 'is running'"
check "v1 pids cgroup has the pid" grep -qx "$LPID" "$CG_V1/cgroup.procs"
check "v2 cgroup has the pid" grep -qx "$LPID" "$CG_V2/cgroup.procs"
check "on v2 the container is born in its cgroup (clone3 CLONE_INTO_CGROUP, shim debug log)" \
	grep -q "container long: cloned into cgroup $CG_V2\$" "$RUN/shim.log"
check "container is in its own mount and pid ns" sh -c \
	"[ \$(readlink /proc/$LPID/ns/mnt) != \$(readlink /proc/self/ns/mnt) ] &&
	 [ \$(readlink /proc/$LPID/ns/pid) != \$(readlink /proc/self/ns/pid) ]"
check "container shares the shim's net, uts, ipc" sh -c \
	"for n in net uts ipc; do [ \$(readlink /proc/$LPID/ns/\$n) = \$(readlink /proc/$SPID/ns/\$n) ] || exit 1; done"
check "container has its own cgroup ns" sh -c \
	"[ \$(readlink /proc/$LPID/ns/cgroup) != \$(readlink /proc/$SPID/ns/cgroup) ]"

ex() { # ex SCRIPT: exec sh -c SCRIPT in long; stdout in $T/ex.out; prints the reply
	client req "$SOCK" "$(python3 -c 'import json,sys; print(json.dumps({"op":"exec","container":"long","args":["sh","-c",sys.argv[1]]}))' "$1")" \
		/dev/null "$T/ex.out" "$T/ex.err"
}
R=$(ex 'cat /proc/1/cmdline; exit 5')
check "exec returns exit_code 5 ($R)" test "$(jget "$R" 'd.get("exit_code")')" = 5
check "exec output came through the passed stdout: /proc/1 is the sleep" \
	sh -c "tr '\\0' ' ' <'$T/ex.out' | grep -q '^sleep 1000'"
R=$(ex 'grep " /sys " /proc/mounts; touch /sys/x 2>/dev/null && echo writable; true')
check "/sys is a read-only sysfs" sh -c "grep -q '^sysfs /sys sysfs ro,' '$T/ex.out' && ! grep -q writable '$T/ex.out'"
R=$(ex 'cat /proc/self/cgroup')
# the exec joined the container's cgroups itself: at the root of the container's cgroup ns
check "exec is in the container's v1 pids and v2 cgroups" \
	sh -c "grep -q '^[0-9]*:pids:/\$' '$T/ex.out' && grep -q '^0::/\$' '$T/ex.out'"
check "on v2 an exec is born in the container's cgroup too (CLONE_INTO_CGROUP)" \
	grep -q "container long: exec cloned into cgroup $CG_V2\$" "$RUN/shim.log"
R=$(ex 'cat /etc/layer')
check "layers are stacked in order (the last lower is on top)" grep -qx top "$T/ex.out"
R=$(ex 'cat /etc/hosts; hostname; cat /etc/resolv.conf; ls /dev; ls -l /dev/ptmx; echo $$')
check "/etc/hosts is the pod's" grep -q "marker-$$" "$T/ex.out"
check "hostname is the pod's" grep -qx "$HOSTNAME_POD" "$T/ex.out"
check "/etc/resolv.conf is the pod's" grep -q "nameserver 198.18.0.1" "$T/ex.out"
check "/dev has the standard nodes" sh -c "for n in null zero full random urandom tty pts shm mqueue fd stdin stdout stderr; do grep -qx \$n '$T/ex.out' || { echo missing \$n; exit 1; }; done"
check "/dev/ptmx links to pts/ptmx" grep -q 'ptmx -> pts/ptmx' "$T/ex.out"
check "exec runs inside the container pid ns" sh -c "[ \$(tail -n1 '$T/ex.out') -gt 1 ] && [ \$(tail -n1 '$T/ex.out') -lt 100 ]"
R=$(ex 'echo hi >/etc/hosts 2>/dev/null && echo writable; echo 1 >/proc/sys/kernel/ns_last_pid 2>/dev/null && echo writable; grep -c "" /proc/timer_list; ls /sys/firmware | grep -c ""')
check "/etc/hosts and /proc/sys read-only, /proc/timer_list and /sys/firmware masked" \
	sh -c "! grep -q writable '$T/ex.out' && [ \"\$(cat '$T/ex.out' | tr '\n' ' ')\" = '0 0 ' ]"
R=$(ex 'echo err >&2; kill -TERM $$')
check "exec killed by a signal replies the signal ($R)" test "$(jget "$R" 'd.get("signal")')" = 15
check "exec stderr came through the passed stderr" grep -qx err "$T/ex.err"
R=$(client req "$SOCK" '{"op":"exec","container":"long","args":["nope-'$$'"]}' /dev/null "$T/ex.out" "$T/ex.err")
check "exec of a missing command exits 127, as podman ($R)" test "$(jget "$R" 'd.get("exit_code")')" = 127
check "... and says why on the exec's stderr" grep -q "exec nope-$$: not found" "$T/ex.err"
R=$(client req "$SOCK" '{"op":"exec","container":"long","args":["true"]}')
check "exec without 3 fds is refused" sh -c "echo '$R' | grep -q '3 fds'"

# ---- robustness: idle and garbage clients do not wedge the shim -------------------------------
client idle "$SOCK" 5 >/dev/null 2>&1 &
BG_PIDS+=($!)
client idle "$SOCK" 5 00000010 >/dev/null 2>&1 &
BG_PIDS+=($!)
sleep 0.2
R=$(timeout 2 python3 "$T/client.py" req "$SOCK" '{"op":"status"}')
check "status answers while two clients stall" test "$(jget "$R" 'd["ok"]' 2>/dev/null)" = True
R=$(client raw "$SOCK" 7fffffff7b7d)
check "an oversized frame is refused ($R)" sh -c "echo '$R' | grep -q 'larger than'"
R=$(client raw "$SOCK" 001000007b7d)
check "a frame above the shim's request limit is refused" sh -c "echo '$R' | grep -q 'larger than'"
R=$(client raw "$SOCK" 00000003616263)
check "a frame that is not JSON is refused ($R)" sh -c "echo '$R' | grep -q 'bad request'"
R=$(client req "$SOCK" '{"op":"frobnicate"}')
check "an unknown op is refused" sh -c "echo '$R' | grep -q 'unknown operation'"

# ---- kill, stop ------------------------------------------------------------------------------
R=$(client req "$SOCK" '{"op":"kill","container":"long","signal":0}')
check "kill with signal 0 is refused" sh -c "echo '$R' | grep -q 'not a signal'"
R=$(client req "$SOCK" '{"op":"stop","container":"long","signal":15,"grace_ms":300}')
check "stop: pid 1 ignores SIGTERM, SIGKILL after the grace ($R)" \
	test "$(jget "$R" 'd.get("signal")')" = 9
check "the container process is gone" sh -c "! kill -0 $LPID 2>/dev/null"
check "watch saw long killed" wait_for 5 grep -q '"container": "long".*"signal": 9' "$T/watch.log"

R=$(client req "$SOCK" '{"op":"start","container":"trap"}')
check "start trap" test "$(jget "$R" 'd["ok"]')" = True
wait_for 5 grep -q trapping "$T/logs/trap.log"
R=$(client req "$SOCK" '{"op":"stop","container":"trap","grace_ms":20000}')
check "stop with grace: a TERM handler exits 0 before SIGKILL ($R)" \
	test "$(jget "$R" 'd.get("exit_code")')" = 0
R=$(client req "$SOCK" '{"op":"stop","container":"trap"}')
check "stopping a stopped container is fine" test "$(jget "$R" 'd["ok"]')" = True

# ---- one read-only layer, no upper, a non-root user ------------------------------------------
R=$(client req "$SOCK" '{"op":"start","container":"ro"}')
check "start ro (single layer, no upper: read-only bind) ($R)" test "$(jget "$R" 'd["ok"]')" = True
check "ro ran as uid 1000 gid 1001 in /tmp on a read-only root" \
	wait_for 5 sh -c "[ \"\$(cut -d' ' -f4- '$T/logs/ro.log' | tr '\n' ' ')\" = '1000 1001 /tmp rofs ' ]"

# ---- a start that cannot exec --------------------------------------------------------------
R=$(client req "$SOCK" '{"op":"start","container":"missing"}')
check "start of a missing binary: ok false, exec + name ($R)" \
	sh -c "echo '$R' | grep -q '\"ok\": false' && echo '$R' | grep -q 'exec no-such-cmd-$$' && echo '$R' | grep -q 'PATH=/bin'"
R=$(client req "$SOCK" '{"op":"status"}')
check "status shows the failed start as exited 127 with its error" test "$(jget "$R" \
	'[(c["state"], c.get("exit_code"), "no-such-cmd" in c.get("error", "")) for c in d["containers"] if c["name"] == "missing"][0]')" \
	= "('exited', 127, True)"
R=$(client req "$SOCK" '{"op":"start","container":"badcg"}')
check "a cgroup the container cannot join fails its start, naming it ($R)" \
	sh -c "echo '$R' | grep -q '\"ok\": false' && echo '$R' | grep -q 'join cgroup $T/no-such-cgroup'"
R=$(client req "$SOCK" '{"op":"start","container":"ghost"}')
check "start of an unknown container is an error" sh -c "echo '$R' | grep -q 'no container'"

check "no fd leaked by the shim ($FDS0 fds at the start)" wait_for 5 test "$(nfds)" -eq "$FDS0"
# idle for 1 s, the shim gives back what its setup left mapped (DESIGN: < 1 MiB per pod)
check "an idle shim's VmRSS drops below 1 MiB" \
	wait_for 5 sh -c "[ \$(awk '/^VmRSS/ {print \$2}' /proc/$SPID/status) -lt 1024 ]"

# ---- destroy ------------------------------------------------------------------------------------
R=$(client req "$SOCK" '{"op":"start","container":"long"}')
LPID=$(jget "$R" 'd.get("pid", 0)')
check "start long again" test "$LPID" -gt 0
R=$(client req "$SOCK" '{"op":"destroy","grace_ms":500}')
check "destroy replies ok ($R)" test "$(jget "$R" 'd["ok"]')" = True
check "the shim exits" wait_for 5 sh -c "! kill -0 $SPID 2>/dev/null"
check "the container is gone" sh -c "! kill -0 $LPID 2>/dev/null"
check "the netns is gone" sh -c "! ip netns list | grep -qw $PFX && [ ! -e /run/netns/$PFX ]"
check "shim.sock is gone" test ! -e "$SOCK"
check "the watcher saw the end of the stream" wait_for 5 sh -c "! kill -0 ${BG_PIDS[0]} 2>/dev/null"
check "final state.json has every container exited or created" \
	sh -c "! grep -q '\"state\":\"running\"' '$RUN/state.json'"

# ---- a second shim: SIGTERM means destroy; setup errors are reported ------------------------
RUN2=$T/run2
shim_config "$RUN2" "$PFX-b"
READY=$(client spawn "$RUN2" "$SHIM")
SPID2=$(jget "$READY" 'd.get("pid", 0)' 2>/dev/null || echo 0)
[ "${SPID2:-0}" -gt 0 ] && SHIM_PIDS+=("$SPID2")
R=$(client req "$RUN2/shim.sock" '{"op":"start","container":"trap"}')
TPID=$(jget "$R" 'd.get("pid", 0)' 2>/dev/null || echo 0)
check "second shim runs trap" test "${TPID:-0}" -gt 0
wait_for 5 grep -q trapping "$T/logs/trap.log"
kill -TERM "$SPID2"
check "SIGTERM: the shim stops its containers and exits" wait_for 10 sh -c "! kill -0 $SPID2 2>/dev/null"
check "SIGTERM: netns and socket removed" sh -c "[ ! -e /run/netns/$PFX-b ] && [ ! -e '$RUN2/shim.sock' ]"
check "SIGTERM: the container exited by its handler" grep -q '"name":"trap","state":"exited".*"exit_code":0' "$RUN2/state.json"

RUN4=$T/run4
shim_config "$RUN4" "$PFX-c"
READY=$(client spawn "$RUN4" "$SHIM")
SPID4=$(jget "$READY" 'd.get("pid", 0)' 2>/dev/null || echo 0)
[ "${SPID4:-0}" -gt 0 ] && SHIM_PIDS+=("$SPID4")
R=$(client req "$RUN4/shim.sock" '{"op":"start","container":"long"}')
LPID4=$(jget "$R" 'd.get("pid", 0)' 2>/dev/null || echo 0)
check "third shim runs long" test "${LPID4:-0}" -gt 0
[ "${SPID4:-0}" -gt 0 ] && kill -KILL "$SPID4"
check "a shim killed hard takes its containers with it" \
	wait_for 5 sh -c "! kill -0 $LPID4 2>/dev/null"

RUN3=$T/run3
mkdir -p "$RUN3"
echo '{"pod":"x","netns_path":"relative","log_dir":"/tmp","containers":[]}' >"$RUN3/shim.json"
READY=$(client spawn "$RUN3" "$SHIM")
check "a bad shim.json is reported on the ready fd ($READY)" \
	test "$(jget "$READY" 'd["ok"] is False and "netns_path" in d["error"]')" = True

say "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
