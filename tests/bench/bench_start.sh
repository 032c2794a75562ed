#!/usr/bin/env bash
# bench_start.sh - issue 5: warm pod start of busybox `/bin/true`, network none, same run:
#   Tank    apply -> the workload exec'd: a client timestamps the apply request (monotonic)
#           and the arrival of the pod's "Started" event on an events watch of the same tankd
#           ("Started" is emitted once the shim saw the exec: the CLOEXEC error pipe closed),
#           and of its "Exited" event (the container ran and was reaped). Warm: the image is
#           in tankd's store (a first, untimed pod pulled it). restart never; each pod is
#           deleted (untimed) before the next.
#   crun    `crun run` of the same image unpacked by umoci into a bundle (args /bin/true,
#           its own netns = network none), in a private mount namespace without the cgroup v2
#           mount (crun refuses hybrid cgroups; the host keeps its mounts). Creates, starts,
#           waits for the exit and deletes the container.
#   runc    `runc run` of the same bundle (extra peer).
#   podman  `podman run --rm --network none --entrypoint /bin/true` of the same image (its own
#           --root/--runroot/--tmpdir, crun with the same cgroup workaround, a scratch netns).
# Peers are timed by the same Python harness (fork+exec+wait of the CLI; its floor, spawning
# /bin/true, is printed). Targets: Tank <= 1.5x crun, >= 10x faster than podman.
# The 200 sleeping pods figures (tankd RSS, shim RSS per pod) come from bench_control.sh,
# run from here unless BENCH_RSS=0 (make bench runs bench_control.sh itself).
set -u
. "$(dirname "$0")/../integration/lib.sh"
N_TANK=${BENCH_START_ROUNDS:-20}
N_RT=${BENCH_RT_ROUNDS:-30}
N_PODMAN=${BENCH_PODMAN_ROUNDS:-10}
PNS="tankbench-$TK_ID-podman"
PCG="tankbench-$TK_ID-podman"
cleanup() {
	set +e
	local d
	for d in /sys/fs/cgroup/*/"$PCG"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	ip netns del "$PNS" 2>/dev/null
	# crun/runc delete their containers when `run` returns; any left by an interrupted run:
	for id in $(crun list -q 2>/dev/null | grep "^tkb$TK_ID-"); do crun delete -f "$id"; done
	for id in $(runc list -q 2>/dev/null | grep "^tkb$TK_ID-"); do runc delete -f "$id"; done
	tk_cleanup
}
trap cleanup EXIT
die() { say "bench_start: $*"; exit 1; }
for t in umoci skopeo jq python3; do command -v "$t" >/dev/null || die "$t not found"; done

TK_CONF_EXTRA='log_level = warn'
tk_start >/dev/null
L="$TK_T/img"
"$TK_REPO/tools/mkimage-busybox.sh" "$L" 1.0 >/dev/null || die "building the busybox image failed"

# ---- the harness -------------------------------------------------------------------------------
cat >"$TK_T/h.py" <<'PY'
import json, socket, struct, subprocess, sys, time

def med(v):
    v = sorted(v); n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2

def fmt(v):
    v = sorted(v)
    return "median %.2f ms (min %.2f, p90 %.2f, n=%d)" % (med(v), v[0], v[int(len(v) * 0.9) - 1 if len(v) >= 10 else -1], len(v))

def cmd_mode(label, n, argv):
    """time n runs of argv ('{i}' replaced by the run number) after 2 warm-up runs"""
    ts = []
    for i in range(-2, n):
        a = [x.replace("{i}", str(i + 2)) for x in argv]
        t0 = time.monotonic()
        r = subprocess.run(a, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t1 = time.monotonic()
        if r.returncode != 0:
            sys.stderr.write("%s failed (%d): %s\n" % (label, r.returncode, r.stderr.decode(errors="replace")[-500:]))
            sys.exit(1)
        if i >= 0:
            ts.append((t1 - t0) * 1e3)
    print("%s %s" % (label, fmt(ts)))
    print("RAW %s %.3f" % (label, med(ts)))

class Api:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX); self.s.connect(path)
    def send(self, req):
        b = json.dumps(dict(req, version=1)).encode(); self.s.sendall(struct.pack(">I", len(b)) + b)
    def recv(self):
        h = b""
        while len(h) < 4:
            c = self.s.recv(4 - len(h))
            if not c: raise EOFError
            h += c
        n = struct.unpack(">I", h)[0]; b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c: raise EOFError
            b += c
        return json.loads(b)
    def call(self, req):
        self.send(req); return self.recv()

def tank_mode(sock, prefix, image, n, label, extra):
    ev = Api(sock); ctl = Api(sock)
    ev.call({"op": "events", "watch": True, "max": 1})
    def wait_event(pod, reasons, timeout):
        ev.s.settimeout(timeout)
        try:
            while True:
                e = ev.recv().get("event")
                if e and e["pod"] == pod and e["reason"] in reasons:
                    return time.monotonic(), e
        except TimeoutError:
            return None, None
    started, exited, srv_s, srv_e, lost = [], [], [], [], 0
    for i in range(-1, n):          # round -1: cold, puts the image in the store; not counted
        name = "%s-%d" % (prefix, i + 1)
        ctr = dict({"name": "c", "image": image, "command": ["/bin/true"], "stop_grace": "1s"}, **extra)
        spec = {"name": name, "restart": "never", "network": "none", "containers": [ctr]}
        t0 = time.monotonic()
        r = ctl.call({"op": "apply", "spec": spec})
        if not r.get("ok"): sys.exit("apply failed: %s" % r)
        times = {}
        while "Exited" not in times:
            # /bin/true exits within ms of its exec; 3 s without "Exited" means tankd never
            # heard of it (the exit happened before tankd's watch on the shim was set up)
            t, e = wait_event(name, ("Applied", "Started", "Exited", "StartFailed"),
                              3 if "Started" in times else 30)
            if e is None and "Started" in times:
                break
            if e is None: sys.exit("no Started event for %s within 30 s" % name)
            if e["reason"] == "StartFailed": sys.exit("start failed: %s" % e["message"])
            times[e["reason"]] = (t, e["time_ms"])
        if i >= 0:
            started.append((times["Started"][0] - t0) * 1e3)
            srv_s.append(times["Started"][1] - times["Applied"][1])
            if "Exited" in times:
                exited.append((times["Exited"][0] - t0) * 1e3)
                srv_e.append(times["Exited"][1] - times["Applied"][1])
            else:
                lost += 1
        r = ctl.call({"op": "delete", "name": name})
        if not r.get("ok"): sys.exit("delete failed: %s" % r)
        if wait_event(name, ("Deleted",), 30)[1] is None: sys.exit("%s not deleted within 30 s" % name)
    print("%s apply -> exec'd (Started event) %s" % (label, fmt(started)))
    if exited:
        print("%s apply -> exited (Exited event)  %s" % (label, fmt(exited)))
    if lost:
        print("  !! %d of %d exits never reached tankd (no Exited event, pod stays \"running\")" % (lost, n))
    print("  tankd's own event stamps (wall ms): Applied->Started median %d ms%s"
          % (med(srv_s), ", Applied->Exited median %d ms" % med(srv_e) if srv_e else ""))
    print("RAW %s_started %.3f" % (label.split()[0], med(started)))
    if exited:
        print("RAW %s_exited %.3f" % (label.split()[0], med(exited)))

if sys.argv[1] == "tank":
    tank_mode(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6], json.loads(sys.argv[7]))
else:
    cmd_mode(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
PY
H() { python3 "$TK_T/h.py" "$@" | tee -a "$TK_T/raw" | grep -v '^RAW'; }
: >"$TK_T/raw"

say "warm start of busybox /bin/true, network none (same run):"
H cmd "harness floor: spawn /bin/true        " 50 /bin/true || exit 1

# Tank
H tank "$TK_SOCK" "$TK_P-st" "oci:$L:1.0" "$N_TANK" "Tank" '{}' || die "Tank rounds failed"
# what the default seccomp filter costs (the crun/runc bundle from umoci has no seccomp profile)
H tank "$TK_SOCK" "$TK_P-un" "oci:$L:1.0" "$((N_TANK / 2))" "Tank-seccomp-unconfined" '{"seccomp": "unconfined"}' ||
	die "Tank rounds failed"

# crun and runc on the same image, unpacked by umoci
umoci unpack --image "$L:1.0" "$TK_T/bundle" >/dev/null || die "umoci unpack failed"
jq '.process.terminal = false | .process.args = ["/bin/true"]' "$TK_T/bundle/config.json" >"$TK_T/c.json" &&
	mv "$TK_T/c.json" "$TK_T/bundle/config.json"
if command -v crun >/dev/null; then
	unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh \
		python3 "$TK_T/h.py" cmd "crun run                              " "$N_RT" \
		crun run --bundle "$TK_T/bundle" "tkb$TK_ID-crun-{i}" | tee -a "$TK_T/raw" | grep -v '^RAW'
else
	say "crun not installed: skipped (apt-get install crun)"
fi
if command -v runc >/dev/null; then
	H cmd "runc run                              " "$N_RT" runc run --bundle "$TK_T/bundle" "tkb$TK_ID-runc-{i}"
else
	say "runc not installed: skipped (apt-get install runc)"
fi

# podman on the same image
if command -v podman >/dev/null; then
	ip netns add "$PNS" || exit 1
	P="$TK_T/podman"
	mkdir -p "$P/cni"
	unshare -m --propagation private skopeo copy -q "oci:$L:1.0" \
		"containers-storage:[overlay@$P/root+$P/run]localhost/tankbench:1.0" || die "podman image import failed"
	unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh \
		python3 "$TK_T/h.py" cmd "podman run --rm --network none        " "$N_PODMAN" \
		nsenter --net="/run/netns/$PNS" podman --root "$P/root" --runroot "$P/run" --tmpdir "$P/tmp" \
		--storage-driver overlay --cgroup-manager cgroupfs --events-backend none \
		--network-config-dir "$P/cni" run --rm --network none --cgroup-parent "/$PCG" \
		--ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --entrypoint /bin/true \
		localhost/tankbench:1.0 | tee -a "$TK_T/raw" | grep -v '^RAW'
else
	say "podman not installed: skipped (apt-get install podman)"
fi

raw() { awk -v k="$1" '$1 == "RAW" && $2 == k { print $3 }' "$TK_T/raw"; }
rawc() { awk -v k="$1" '$1 == "RAW" && $2 == k { print $NF }' "$TK_T/raw"; }
TS=$(raw Tank_started)
TE=$(raw Tank_exited)
CR=$(rawc crun)
PM=$(rawc podman)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
[ -n "$CR" ] && say "  Tank / crun run (target <= 1.5x): apply -> exec'd $(ratio "$TS" "$CR")${TE:+, apply -> exited $(ratio "$TE" "$CR")}"
[ -n "$PM" ] && say "  podman run / Tank (target >= 10x): vs apply -> exec'd $(ratio "$PM" "$TS")${TE:+, vs apply -> exited $(ratio "$PM" "$TE")}"

if [ "${BENCH_RSS:-1}" != 0 ]; then
	say "200 sleeping pods (bench_control.sh):"
	"$(dirname "$0")/bench_control.sh" | grep -E 'RSS|running' | sed 's/^/  /'
fi
