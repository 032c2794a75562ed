#!/usr/bin/env bash
# test_e2e.sh - the walking skeleton as a user sees it: a busybox image built with umoci, a pod
# serving HTTP on a veth NIC, a page fetched from the host side, BPF counters in bpftool and
# tankctl, exec, a crash restarted under on_failure, bad specs refused, tankd restarted without
# touching the pod, and delete leaving nothing behind.
set -u
. "$(dirname "$0")/lib.sh"
trap tk_cleanup EXIT
tk_start

POD="${TK_P}-web"
IP=198.18.0.10
"$TK_REPO/tools/mkimage-busybox.sh" "$TK_T/img" 1.0 >/dev/null || { not_ok "build image"; exit 1; }
cat >"$TK_T/web.json" <<JSON
{
  "name": "$POD",
  "restart": "on_failure",
  "network": {"nics": [{"name": "eth0", "mode": "veth", "ip": ["$IP/24"]}]},
  "containers": [{
    "name": "app", "image": "oci:$TK_T/img:1.0",
    "command": ["sh", "-c", "mkdir -p /www && echo hello-from-tank >/www/index.html && exec httpd -f -p 80 -h /www"],
    "env": {"GREETING": "hi"}
  }]
}
JSON

# -- bad specs first: nothing may change
cat >"$TK_T/bad.json" <<JSON
{"name": "$POD", "containers": [{"name": "app", "image": "oci:/x:1", "comand": ["x"]}]}
JSON
tankctl apply -f "$TK_T/bad.json" >"$TK_T/bad.out" 2>&1
check "bad spec exits 1" test $? -eq 1
check "bad spec names the JSON path" grep -q 'containers\[0\]\.comand' "$TK_T/bad.out"
echo '{"name": "Bad_Name", "containers": []}' >"$TK_T/bad2.json"
tankctl apply -f "$TK_T/bad2.json" >"$TK_T/bad2.out" 2>&1
check "several problems reported at once, each with its path" sh -c "grep -q '^  name:' '$TK_T/bad2.out' && grep -q '^  containers' '$TK_T/bad2.out'"
check "bad specs stored nothing" test "$(tankctl get pods -o json | jq length)" -eq 0
tankctl frobnicate >/dev/null 2>&1
check "unknown command exits 2" test $? -eq 2

# -- the pod
check "apply creates the pod" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' apply -f '$TK_T/web.json' | grep -q 'pod/$POD created'"
check "apply again is unchanged" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' apply -f '$TK_T/web.json' | grep -q unchanged"
if ! wait_for 30 pod_is "$POD" running; then
	not_ok "pod reaches running (phase: $(pod_phase "$POD"))"
	tankctl get pod "$POD" -o json; tail -n 30 "$TK_T/tankd.log"; exit 1
fi
ok "pod reaches running"
tankctl get pod "$POD" -o json >"$TK_T/pod.json"
check "get pod -o json has status fields" jq -e '.status | has("phase") and has("restarts") and has("pid") and has("ips") and has("last_exit")' "$TK_T/pod.json"
check "status.ips has the address" jq -e --arg ip "$IP/24" '.status.ips | index($ip) != null' "$TK_T/pod.json"
check "ip netns list shows tank-$POD" sh -c "ip netns list | grep -q '^tank-$POD'"
check "pod address inside the netns" sh -c "ip -n tank-$POD addr show eth0 | grep -q '$IP/24'"
check "page fetched from the host side" sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 5 http://$IP/ | grep -q hello-from-tank"
for i in 1 2 3; do in_host curl -sf --max-time 5 -o /dev/null "http://$IP/"; done

slot=$(jq -r .slot "$TK_T/pod.json")
tankctl traffic "$POD" -o json >"$TK_T/traffic0.json"
bpftool -j map dump pinned "$TK_BPF/tank_stats_v2" >"$TK_T/stats.json" 2>"$TK_T/stats.err"
bpftool -j map dump pinned "$TK_BPF/tank_scell_v2" >"$TK_T/cells.json" 2>>"$TK_T/stats.err"
epoch=$(bpftool -j map lookup pinned "$TK_BPF/tank_cfg_v1" key $((slot & 255)) $(((slot >> 8) & 255)) 0 0 | jq '.formatted.value.epoch')
check "bpftool dumps the pinned stats map" test -s "$TK_T/stats.json"
# bpftool -j prints raw bytes plus, with BTF, a "formatted" object with field names (and
# enum names for direction, family, protocol...). A pod's counters: its tank_stats_v2 entries
# plus its tank_scell_v2 cells of the slot's epoch (the flow cache counts there; an array with
# a part per CPU).
sum_hash() { jq --argjson s "$slot" --arg d "$1" "[.[] | (.formatted // .) | select(.key.slot == \$s and .key.dir == \$d) | .values[].value.$2] | add // 0" "$TK_T/stats.json"; }
sum_cells() { jq --argjson s "$slot" --argjson e "$epoch" --arg d "$1" "[.[] | .formatted.value | select(.key.slot == \$s and .epoch == \$e and .key.dir == \$d) | .count.$2] | add // 0" "$TK_T/cells.json"; }
sum() { echo $(($(sum_hash "$1" "$2") + $(sum_cells "$1" "$2"))); }
check "bpftool: pod received bytes (TANK_DIR_INGRESS bytes > 0)" test "$(sum TANK_DIR_INGRESS bytes)" -gt 0
check "bpftool: pod sent bytes (TANK_DIR_EGRESS bytes > 0)" test "$(sum TANK_DIR_EGRESS bytes)" -gt 0
check "bpftool: the flow cache counted the fetches' later packets in cells" test "$(sum_cells TANK_DIR_EGRESS packets)" -gt 0
# read just after tankctl: at most a few neighbour-discovery packets more
near() { [ "$1" -ge "$2" ] && [ "$1" -le $(($2 + 1000)) ]; }
for d in ingress egress; do
	D=$(echo "$d" | tr a-z A-Z)
	check "bpftool's sum of stats and cells is what tankctl traffic shows ($d bytes)" \
		near "$(sum "TANK_DIR_$D" bytes)" "$(jq ".[0].$d.bytes" "$TK_T/traffic0.json")"
done
check "bpftool prints enum names" grep -q 'TANK_DIR_EGRESS' "$TK_T/stats.json"
check "bpftool prints field names" grep -q '"packets"' "$TK_T/stats.json"
bpftool map dump pinned "$TK_BPF/tank_pods_v1" >"$TK_T/pods.txt" 2>&1
check "slot map names the pod" grep -q "$POD" "$TK_T/pods.txt"
tankctl traffic "$POD" -o json >"$TK_T/traffic.json"
check "tankctl traffic: both directions counted" jq -e '.[0].ingress.bytes > 0 and .[0].egress.bytes > 0 and .[0].egress.packets > 0' "$TK_T/traffic.json"
check "tankctl traffic table" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' traffic | grep -q '$POD'"
check "tankctl get pods table" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' get pods | grep -E '^$POD +running +0 '"

# -- exec
tankctl exec "$POD" -- sh -c 'exit 7'
check "exec propagates the exit code" test $? -eq 7
check "exec sees the pod hostname" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- cat /etc/hostname | grep -qx '$POD'"
check "exec gets the container env" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- sh -c 'echo \$GREETING' | grep -qx hi"
check "exec runs in the pod's pid namespace (httpd is pid 1)" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- cat /proc/1/comm | grep -qx httpd"
check "/sys is read-only in the pod" sh -c "! '$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- sh -c 'echo 1 > /sys/kernel/profiling' 2>/dev/null"

# -- cgroups
pid=$(jq -r .status.pid "$TK_T/pod.json")
check "workload is in the pod's v1 pids cgroup" grep -q "^$pid$" "/sys/fs/cgroup/pids/$TK_CG/$POD/app/cgroup.procs"
check "workload is in the pod's v2 cgroup" grep -q "^$pid$" "/sys/fs/cgroup/unified/$TK_CG/$POD/app/cgroup.procs"

# -- a crash restarts under on_failure
kill -KILL "$pid"
if wait_for 20 sh -c "[ \"\$('$TK_BUILD/tankctl' --socket '$TK_SOCK' get pod $POD -o json | jq .status.restarts)\" -ge 1 ]"; then
	ok "crashed workload restarted"
else
	not_ok "crashed workload restarted"; tankctl get pod "$POD" -o json
fi
wait_for 10 pod_is "$POD" running
tankctl get pod "$POD" -o json >"$TK_T/pod2.json"
check "last_exit reports signal 9" jq -e '.status.last_exit.signal == 9' "$TK_T/pod2.json"
check "new pid after restart" test "$(jq .status.pid "$TK_T/pod2.json")" != "$pid"
check "page served again after restart" sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 5 http://$IP/ | grep -q hello-from-tank"

# -- tankd killed and restarted: the pod is untouched and adopted
pid2=$(jq .status.pid "$TK_T/pod2.json")
tk_stop_tankd KILL
check "pod serves while tankd is down" sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 5 http://$IP/ | grep -q hello-from-tank"
tk_start_tankd
wait_for 10 pod_is "$POD" running
tankctl get pod "$POD" -o json >"$TK_T/pod3.json"
check "restarted tankd adopts the running pod (same pid)" test "$(jq .status.pid "$TK_T/pod3.json")" = "$pid2"
check "adopted pod shows its spec and image again" jq -e --arg p "$POD" '.spec.name == $p and (.containers[0].image | startswith("oci:"))' "$TK_T/pod3.json"
check "counters survive the tankd restart" jq -e '.[0].ingress.bytes > 0' <(tankctl traffic "$POD" -o json)

# -- network "none" (loopback only), restart "never", apply from stdin
cat >"$TK_T/once.json" <<JSON
{"name": "${TK_P}-once", "restart": "never", "network": "none",
 "containers": [{"name": "job", "image": "oci:$TK_T/img:1.0",
                 "command": ["sh", "-c", "ip -o link > /tmp/links; exit 0"]}]}
JSON
check "apply -f - reads stdin" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' apply -f - <'$TK_T/once.json' | grep -q created"
if wait_for 20 pod_is "${TK_P}-once" terminated; then ok "restart never: a finished pod is terminated"; else not_ok "restart never: terminated (is $(pod_phase "${TK_P}-once"))"; fi
tankctl get pod "${TK_P}-once" -o json >"$TK_T/once-pod.json"
check "terminated pod: exit code 0, no restarts" jq -e '.status.last_exit.code == 0 and .status.restarts == 0' "$TK_T/once-pod.json"
check "network none: only loopback" sh -c "ip -n tank-${TK_P}-once -o link | awk '{print \$2}' | tr -d : | grep -vx lo | wc -l | grep -qx 0"
check "delete the terminated pod" tankctl delete pod "${TK_P}-once" --wait

# -- delete leaves nothing
hostif=$(jq -r '.nics[0].host_ifname' "$TK_T/pod3.json")
check "delete pod --wait" tankctl delete pod "$POD" --wait
check "workload process gone" sh -c "! kill -0 $pid2 2>/dev/null"
check "netns gone" sh -c "! ip netns list | grep -q 'tank-$POD'"
check "host veth gone" sh -c "! ip -n $TK_HOSTNS link show $hostif >/dev/null 2>&1"
check "cgroups gone" sh -c "! ls -d /sys/fs/cgroup/*/$TK_CG/$POD /sys/fs/cgroup/unified/$TK_CG/$POD 2>/dev/null | grep -q ."
check "BPF link pins gone" sh -c "! ls $TK_BPF/pods/* 2>/dev/null | grep -q ."
check "get pod says not found" sh -c "! '$TK_BUILD/tankctl' --socket '$TK_SOCK' get pod $POD"
tankctl delete pod "$POD" >/dev/null
check "deleting a missing pod is not an error" test $? -eq 0

tk_finish
