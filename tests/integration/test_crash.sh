#!/usr/bin/env bash
# test_crash.sh - the store never loses an acknowledged apply: 1,000 applies while tankd is
# killed with SIGKILL at random moments; afterwards the store loads cleanly and every apply
# that was acknowledged is there, at its acknowledged revision or later.
set -u
. "$(dirname "$0")/lib.sh"
trap tk_cleanup EXIT
# pods point at an image that does not exist: the test is about the store, not about starts
TK_CONF_EXTRA=$'backoff_base = 10m\nlog_level = warn'
tk_start
N=${CRASH_APPLIES:-1000}
: >"$TK_T/acked"
kills=0
while [ "$(wc -l <"$TK_T/acked")" -lt "$N" ]; do
	# applies go on until tankd dies under them; each acknowledged one is written down
	python3 - "$TK_SOCK" "$TK_P" "$N" "$TK_T/acked" <<'PY' &
import json, socket, struct, sys
path, prefix, n, acked = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
done = sum(1 for _ in open(acked))
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(path)
except OSError:
    sys.exit(0)  # bound but not yet listening: the next round connects
def call(req):
    body = json.dumps(req).encode(); s.sendall(struct.pack(">I", len(body)) + body)
    hdr = b""
    while len(hdr) < 4:
        c = s.recv(4 - len(hdr))
        if not c: raise EOFError
        hdr += c
    ln = struct.unpack(">I", hdr)[0]; rep = b""
    while len(rep) < ln:
        c = s.recv(ln - len(rep))
        if not c: raise EOFError
        rep += c
    return json.loads(rep)
with open(acked, "a") as out:
    for i in range(done, n):
        pod, ver = "%s-c%d" % (prefix, i % 100), str(i)   # 100 pods, 10 revisions each
        spec = {"name": pod, "restart": "never", "network": "none",
                "containers": [{"name": "c", "image": "oci:/nonexistent/tank-crash-test:1",
                                "env": {"VERSION": ver}}]}
        try:
            r = call({"version": 1, "op": "apply", "spec": spec})
        except (EOFError, OSError):
            break
        if r.get("ok"):
            out.write("%s %s\n" % (pod, ver)); out.flush()
PY
	APID=$!
	sleep "0.$((RANDOM % 4 + 1))"
	kill -KILL "$TK_TANKD_PID" 2>/dev/null
	wait "$TK_TANKD_PID" 2>/dev/null
	wait "$APID"
	kills=$((kills + 1))
	TK_TANKD_PID=
	tk_start_tankd || { not_ok "tankd restarts after SIGKILL $kills"; break; }
done
ok "$(wc -l <"$TK_T/acked") applies acknowledged across $kills SIGKILLs of tankd"
check "no damaged records reported" sh -c "! grep -q damaged '$TK_T/tankd.log'"
tankctl get pods -o json >"$TK_T/pods.json"
check "all 100 pods are in the store" test "$(jq length "$TK_T/pods.json")" -eq 100
# the last acknowledged version of each pod must be stored (or a later, unacknowledged one)
python3 - "$TK_T/acked" "$TK_T/pods.json" >"$TK_T/verify.out" <<'PY'
import json, sys
last = {}
for line in open(sys.argv[1]):
    pod, ver = line.split(); last[pod] = int(ver)
pods = {p["name"]: p for p in json.load(open(sys.argv[2]))}
bad = [pod for pod, ver in last.items()
       if pod not in pods or int(pods[pod]["spec"]["containers"][0]["env"]["VERSION"]) < ver]
print("lost:", bad[:5], len(bad))
PY
check "no acknowledged apply lost" grep -q 'lost: \[\] 0' "$TK_T/verify.out"
check "store files are all complete records (no temp files left)" sh -c "! ls '$TK_T/data/store/pods/' | grep -q tmp"
for i in $(seq 0 99); do tankctl delete pod "${TK_P}-c$i" >/dev/null 2>&1; done
tk_finish
