#!/usr/bin/env bash
# bench_control.sh - control-plane figures: apply -> stored latency (p50/p99 over 200 applies,
# the reply comes after the record is fsync'd), time until all 200 pods run, tankd RSS with
# 200 pods (target < 20 MiB) and shim RSS per pod (target < 1 MiB). Runs its own tankd in a
# throwaway netns (tests/integration/lib.sh) and removes everything afterwards.
set -u
. "$(dirname "$0")/../integration/lib.sh"
trap tk_cleanup EXIT
N=${BENCH_PODS:-200}
TK_CONF_EXTRA='log_level = warn'
tk_start >/dev/null
R="$TK_T/rootfs"
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/etc" "$R/tmp"
cp /bin/busybox "$R/bin/" && ln -s busybox "$R/bin/sleep"

python3 - "$TK_SOCK" "$N" "$TK_P" "$R" <<'PY'
import json, socket, struct, sys, time
path, n, prefix, rootfs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket(socket.AF_UNIX); s.connect(path)
def call(req):
    body = json.dumps(req).encode(); s.sendall(struct.pack(">I", len(body)) + body)
    hdr = b""
    while len(hdr) < 4: hdr += s.recv(4 - len(hdr))
    ln = struct.unpack(">I", hdr)[0]; rep = b""
    while len(rep) < ln: rep += s.recv(ln - len(rep))
    return json.loads(rep)
lat = []
t0 = time.monotonic()
for i in range(n):
    spec = {"name": "%s-b%d" % (prefix, i), "restart": "always", "network": "none",
            "containers": [{"name": "c", "image": {"rootfs": rootfs},
                            "command": ["sleep", "100000"], "stop_grace": "1s"}]}
    a = time.monotonic(); r = call({"version": 1, "op": "apply", "spec": spec}); lat.append(time.monotonic() - a)
    assert r["ok"], r
lat.sort()
print("apply -> stored (%d applies): p50 %.2f ms, p99 %.2f ms (no peer measures this)"
      % (n, lat[n // 2] * 1e3, lat[n * 99 // 100] * 1e3))
while True:
    pods = call({"version": 1, "op": "get"})["pods"]
    running = sum(1 for p in pods if p["status"]["phase"] == "running")
    if running == n or time.monotonic() - t0 > 300: break
    time.sleep(0.2)
print("%d of %d pods running %.1f s after the first apply" % (running, n, time.monotonic() - t0))
# steady state: one pass every resync_interval (500 ms); tankd reports the last one's length
passes = []
for _ in range(15):
    time.sleep(0.55)
    passes.append(call({"version": 1, "op": "info"})["reconcile_pass_us"])
passes.sort()
print("reconcile pass with %d running pods: median %.2f ms, max %.2f ms (15 samples; no peer)"
      % (n, passes[len(passes) // 2] / 1e3, passes[-1] / 1e3))
PY
# steady state of sleeping pods: a shim trims what its setup left mapped after 1 s idle
sleep 2
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }
echo "tankd RSS with $N pods: $(( $(rss_kib "$TK_TANKD_PID") / 1024 )) MiB ($(rss_kib "$TK_TANKD_PID") KiB; target < 20 MiB;" \
	"$(awk '/^RssAnon/ {a = $2} /^RssFile/ {f = $2} END {printf "RssAnon %d KiB, RssFile %d KiB", a, f}' "/proc/$TK_TANKD_PID/status"))"
# per shim: VmRSS (what ps shows), its anonymous and file-backed parts, and Pss (shared pages
# divided among the processes that map them: what each pod really costs the host)
cnt=0 rss=0 anon=0 file=0 pss=0
for f in "$TK_T"/run/pods/*/tankd.json; do
	pid=$(jq -r .shim_pid "$f")
	r=$(rss_kib "$pid") || continue
	[ -n "$r" ] || continue
	set -- $(awk '/^RssAnon/ {a = $2} /^RssFile/ {f = $2} END {print a + 0, f + 0}' "/proc/$pid/status")
	p=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
	rss=$((rss + r)) anon=$((anon + $1)) file=$((file + $2)) pss=$((pss + ${p:-0})) cnt=$((cnt + 1))
done
[ "$cnt" -gt 0 ] && echo "tank-shim per pod: VmRSS $((rss / cnt)) KiB (RssAnon $((anon / cnt)) KiB, RssFile $((file / cnt)) KiB), Pss $((pss / cnt)) KiB (target < 1 MiB; mean of $cnt shims)"
echo "deleting $N pods..."
for i in $(seq 0 $((N - 1))); do tankctl delete pod "${TK_P}-b$i" >/dev/null; done
wait_for 120 sh -c "[ \"\$('$TK_BUILD/tankctl' --socket '$TK_SOCK' get pods -o json | jq length)\" -eq 0 ] && ! ls '$TK_T/run/pods/' | grep -q ." || echo "pods still stopping after 120 s"
