#!/usr/bin/env bash
# test_limits.sh - container limits through the host's cgroup hierarchies (v1 controllers on
# this hybrid host), an OOM kill reported as OOMKilled (also across a tankd restart, and not
# for a plain SIGKILL), and a dual-stack routed veth pod.
set -u
. "$(dirname "$0")/lib.sh"
trap tk_cleanup EXIT
tk_start
"$TK_REPO/tools/mkimage-busybox.sh" "$TK_T/img" 1.0 >/dev/null || { not_ok "build image"; exit 1; }
IMG="oci:$TK_T/img:1.0"

# -- limits
POD="${TK_P}-lim"
cat >"$TK_T/lim.json" <<JSON
{"name": "$POD", "network": "none",
 "containers": [{"name": "c", "image": "$IMG", "command": ["sleep", "1000"], "stop_grace": "1s",
                 "limits": {"memory": "32Mi", "cpu": "500m", "pids": 64}}]}
JSON
check "apply a pod with limits" tankctl apply -f "$TK_T/lim.json"
check "it runs" tankctl wait pod "$POD" --for running --timeout 20s
cg() { cat "/sys/fs/cgroup/$1/$TK_CG/$POD/c/$2" 2>/dev/null || cat "/sys/fs/cgroup/$TK_CG/$POD/c/$2"; }
if [ -d /sys/fs/cgroup/memory ]; then
	check "memory limit 32Mi (v1)" test "$(cg memory memory.limit_in_bytes)" = 33554432
	check "cpu 500m = 50ms per 100ms (v1)" test "$(cg cpu cpu.cfs_quota_us)" = 50000
	check "pids limit 64 (v1)" test "$(cg pids pids.max)" = 64
else
	check "memory limit 32Mi (v2)" test "$(cg . memory.max)" = 33554432
	check "cpu 500m (v2)" test "$(cg . cpu.max)" = "50000 100000"
	check "pids limit 64 (v2)" test "$(cg . pids.max)" = 64
fi
pid=$(tankctl get pod "$POD" -o json | jq .status.pid)
sed 's/"32Mi"/"48Mi"/; s/"pids": 64/"pids": 100/' "$TK_T/lim.json" >"$TK_T/lim2.json"
check "changing only limits is applied" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' apply -f '$TK_T/lim2.json' | grep -q configured"
check "limits updated in place (event Updated)" wait_for 10 sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $POD | grep -q Updated"
if [ -d /sys/fs/cgroup/memory ]; then
	check "new memory limit in the cgroup" test "$(cg memory memory.limit_in_bytes)" = 50331648
	check "new pids limit in the cgroup" test "$(cg pids pids.max)" = 100
fi
check "same process after an in-place update" test "$(tankctl get pod "$POD" -o json | jq .status.pid)" = "$pid"
sed -i 's/"pids": 100/"pids": 64/' "$TK_T/lim2.json"
tankctl apply -f "$TK_T/lim2.json" >/dev/null
wait_for 10 sh -c "[ \"\$(cat /sys/fs/cgroup/pids/$TK_CG/$POD/c/pids.max 2>/dev/null)\" = 64 ]"
"$TK_BUILD/tankctl" --socket "$TK_SOCK" exec "$POD" -- busybox timeout 3 sh -c 'while :; do :; done' &
BUSY=$!
check "top shows the pod's memory and pids" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' top $POD -o json | jq -e '.[0].memory > 0 and .[0].pids >= 1 and .[0].memory_peak >= .[0].memory'"
check "top shows CPU use of a busy pod" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' top $POD | grep -E '^$POD +[1-9][0-9.]*%'"
wait "$BUSY" # not a bare wait: tankd is a background job of this shell too
check "fork beyond pids.max fails inside the pod" sh -c "! '$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- sh -c 'for i in \$(seq 80); do sleep 5 & done; wait' 2>/dev/null"
check "delete" tankctl delete pod "$POD" --wait

# -- OOM kill
POD="${TK_P}-oom"
cat >"$TK_T/oom.json" <<JSON
{"name": "$POD", "network": "none", "restart": "never",
 "containers": [{"name": "hog", "image": "$IMG", "limits": {"memory": "16Mi"},
                 "command": ["sh", "-c", "x=0123456789abcdef; while true; do x=\$x\$x; done"]}]}
JSON
check "apply a memory hog" tankctl apply -f "$TK_T/oom.json"
check "the hog ends" tankctl wait pod "$POD" --for terminated --timeout 30s
tankctl get pod "$POD" -o json >"$TK_T/oom-pod.json"
check "last_exit.reason is OOMKilled" jq -e '.status.last_exit.reason == "OOMKilled" and .status.last_exit.signal == 9' "$TK_T/oom-pod.json"
check "an OOMKilled event" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $POD | grep -q OOMKilled"
check "delete" tankctl delete pod "$POD" --wait

# -- after a tankd restart, a plain SIGKILL of a container OOM-killed before is not OOMKilled
POD="${TK_P}-oomad"
mkdir -p "$TK_T/oomflag"
cat >"$TK_T/oomad.json" <<JSON
{"name": "$POD", "network": "none", "restart": "always",
 "volumes": [{"name": "flag", "host_path": "$TK_T/oomflag"}],
 "containers": [{"name": "hog", "image": "$IMG", "limits": {"memory": "16Mi"}, "stop_grace": "0s",
   "mounts": [{"volume": "flag", "path": "/flag"}],
   "command": ["sh", "-c", "[ -e /flag/oomed ] && exec sleep 1000; touch /flag/oomed; x=0123456789abcdef; while true; do x=\$x\$x; done"]}]}
JSON
js() { tankctl get pod "$POD" -o json | jq -r "$1"; }
ooms() { tankctl events "$POD" -o json | jq -s '[.[] | select(.reason == "OOMKilled")] | length'; }
runs_after() { [ "$(js .status.phase)" = running ] && [ "$(js .status.restarts)" -ge "$1" ]; }
check "adopt/oom: apply a pod that hogs memory on its first run" tankctl apply -f "$TK_T/oomad.json"
check "adopt/oom: OOM-killed once, then restarted" wait_for 30 runs_after 1
check "adopt/oom: ... reported as OOMKilled" test "$(js .status.last_exit.reason)" = OOMKilled
tk_stop_tankd KILL
tk_start_tankd || exit 1
check "adopt/oom: adopted and running after kill -9 of tankd" wait_for 10 runs_after 1
OPID=$(js .status.pid)
OOMS=$(ooms) # tankd's event ring starts empty after its restart
kill -KILL "$OPID"
check "adopt/oom: a kill -9 of the workload restarts it" wait_for 30 runs_after 2
check "adopt/oom: last_exit is signal 9, not OOMKilled" jq -e '.status.last_exit == {"signal": 9}' <(tankctl get pod "$POD" -o json)
check "adopt/oom: no OOMKilled event for it" test "$(ooms)" = "$OOMS"
rm -f "$TK_T/oomflag/oomed"
kill -KILL "$(js .status.pid)"
two_ooms() { [ "$(ooms)" = $((OOMS + 1)) ] && runs_after 4; }
check "adopt/oom: a real OOM kill after adoption is OOMKilled again" wait_for 60 two_ooms
check "adopt/oom: ... in last_exit" test "$(js .status.last_exit.reason)" = OOMKilled
check "delete" tankctl delete pod "$POD" --wait

# -- dual stack on a routed veth
POD="${TK_P}-v6"
cat >"$TK_T/v6.json" <<JSON
{"name": "$POD", "network": {"nics": [{"name": "eth0", "mode": "veth",
   "ip": ["198.18.0.20/24", "2001:db8:1::20/64"]}]},
 "containers": [{"name": "web", "image": "$IMG",
   "command": ["sh", "-c", "mkdir -p /www && echo dual >/www/index.html && exec httpd -f -p 80 -h /www"]}]}
JSON
check "apply a dual-stack pod" tankctl apply -f "$TK_T/v6.json"
check "it runs" tankctl wait pod "$POD" --for running --timeout 20s
check "IPv6 address in the pod, no DAD wait (not tentative)" sh -c "ip -n tank-$POD -6 addr show eth0 | grep '2001:db8:1::20/64' | grep -vq tentative"
check "IPv4 page from the host side" sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 5 http://198.18.0.20/ | grep -q dual"
check "IPv6 page from the host side" sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 5 'http://[2001:db8:1::20]/' | grep -q dual"
check "status lists both addresses" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' get pod $POD -o json | jq -e '.status.ips | length == 2'"
check "delete" tankctl delete pod "$POD" --wait

tk_finish
