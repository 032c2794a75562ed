#!/usr/bin/env bash
# demo.sh - Tank's main job, start to finish, on a fresh Debian 12 machine (run as root):
# installs what is missing, builds, starts tankd with a throwaway config, builds a busybox image
# locally (no registry needed), runs a pod serving HTTP on a veth NIC, fetches a page from it
# and shows the pod and its traffic counters. `tools/demo.sh stop` removes all of it.
#
# The demo's tankd runs in its own network namespace (tank-demo-host), so it touches none of
# this machine's interfaces or routes; its pod uses 198.18.0.10 (a benchmarking range).
set -euo pipefail
cd "$(dirname "$0")/.."
D=/tmp/tank-demo
NS=tank-demo-host
BPF=/sys/fs/bpf/tank-demo
POD=web
IP=198.18.0.10
ctl() { build/tankctl --socket "$D/run/tankd.sock" "$@"; }
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }

stop() {
	set +e
	if [ -S "$D/run/tankd.sock" ]; then ctl delete pod "$POD" --wait >/dev/null 2>&1; fi
	if [ -f "$D/tankd.pid" ]; then
		pid=$(cat "$D/tankd.pid")
		grep -q tankd "/proc/$pid/cmdline" 2>/dev/null && kill "$pid"
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "$BPF"
	for c in /sys/fs/cgroup/*/tank-demo /sys/fs/cgroup/unified/tank-demo; do
		[ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	rm -rf "$D"
	echo "demo stopped and cleaned up"
}

[ "$(id -u)" -eq 0 ] || { echo "run as root: sudo $0 $*" >&2; exit 1; }
if [ "${1:-}" = stop ]; then stop; exit 0; fi
[ -e "$D" ] && stop >/dev/null

echo "== installing missing packages, building"
command -v make >/dev/null || { apt-get update -qq && apt-get install -y -qq make >/dev/null; }
tests/deps.sh
make -j"$(nproc)" build/tankd build/tank-shim build/tankctl >/dev/null

echo "== starting tankd (config $D/tankd.conf, log $D/tankd.log)"
mkdir -p "$D"
cat >"$D/tankd.conf" <<CONF
data_dir = $D/data
run_dir = $D/run
bpf_dir = $BPF
cgroup_name = tank-demo
shim = $PWD/build/tank-shim
CONF
ip netns add "$NS"
ip -n "$NS" link set lo up
setsid nsenter --net="/run/netns/$NS" build/tankd --config "$D/tankd.conf" \
	>"$D/tankd.log" 2>&1 </dev/null &
echo $! >"$D/tankd.pid"
for _ in $(seq 100); do [ -S "$D/run/tankd.sock" ] && break; sleep 0.1; done

echo "== building a busybox OCI image with umoci at $D/image"
tools/mkimage-busybox.sh "$D/image" 1.0 >/dev/null

cat >"$D/web.json" <<JSON
{
  "name": "$POD",
  "restart": "always",
  "network": {"nics": [{"name": "eth0", "mode": "veth", "ip": ["$IP/24"]}]},
  "containers": [{
    "name": "app",
    "image": "oci:$D/image:1.0",
    "command": ["sh", "-c", "mkdir -p /www && echo 'hello from a Tank pod' >/www/index.html && exec httpd -f -p 80 -h /www"]
  }]
}
JSON
echo "== tankctl apply -f $D/web.json"
ctl apply -f "$D/web.json"
for _ in $(seq 300); do
	[ "$(ctl get pod "$POD" -o json | jq -r .status.phase)" = running ] && break
	sleep 0.1
done

echo "== fetching http://$IP/ from the host side"
in_ns curl -s --max-time 5 "http://$IP/"
for _ in 1 2 3 4; do in_ns curl -s --max-time 5 -o /dev/null "http://$IP/"; done

echo "== tankctl get pods"
ctl get pods
echo "== tankctl traffic $POD   (counted by BPF on the pod's veth)"
ctl traffic "$POD"
SLOT=$(ctl get pod "$POD" -o json | jq .slot)
echo "== bpftool map dump pinned $BPF/tank_stats_v2   (the same counters; slot $SLOT is $POD)"
bpftool map dump pinned "$BPF/tank_stats_v2" | grep -m1 -A14 '"slot": '"$SLOT"',' || true
echo "   ... with the flow cache's cells (tank_scell_v2, the slot's epoch; a part per CPU), summed"
echo "   by direction, family and protocol:"
EPOCH=$(bpftool -j map lookup pinned "$BPF/tank_cfg_v1" key $((SLOT & 255)) $(((SLOT >> 8) & 255)) 0 0 |
	jq '.formatted.value.epoch // .value.epoch')
{
	bpftool -j map dump pinned "$BPF/tank_stats_v2" |
		jq -c --argjson s "$SLOT" '.[] | .formatted | select(.key.slot == $s) |
			{key, p: ([.values[].value.packets] | add), b: ([.values[].value.bytes] | add)}'
	bpftool -j map dump pinned "$BPF/tank_scell_v2" |
		jq -c --argjson s "$SLOT" --argjson e "$EPOCH" '.[] | .formatted.value |
			select(.key.slot == $s and .epoch == $e) | {key, p: .count.packets, b: .count.bytes}'
} | jq -rs 'map(. + {k: "\(.key.dir) \(.key.family) \(.key.proto) \(.key.verdict)"}) |
	group_by(.k)[] | "   \(.[0].k): \(map(.p) | add) packets, \(map(.b) | add) bytes"'
cat <<EOT

Tank is running: tankd (pid $(cat "$D/tankd.pid")) in netns $NS, pod "$POD" in netns tank-$POD.
Try:  build/tankctl --socket $D/run/tankd.sock get pod $POD -o json
      build/tankctl --socket $D/run/tankd.sock exec $POD -- ps
      ip netns list; ip -n tank-$POD addr
Stop: sudo tools/demo.sh stop
EOT
