#!/usr/bin/env bash
# bench_iperf.sh - issue 7: iperf3 TCP throughput between a pod and a LAN peer, with and without
# Tank's BPF programs, per-packet program time from the kernel's BPF stats, and both with a
# pod ingress policy of 10, 1,000 and 10,000 peer CIDRs. All in the same run.
#
#   lan netns (iperf3 -c, 198.18.200.2/30) --veth-- tankd's netns (the "host", forwarding,
#   198.18.200.1/30) --Tank's routed veth, tcx programs on the host side-- pod (iperf3 -s,
#   198.18.0.10). The peer sends (the pod's ingress direction, where the policy applies).
#
# "without programs": the pod's pinned tcx links are detached and unpinned (bpftool link
# detach; `bpftool link show` no longer lists them); `tankctl restart pod` attaches them again.
# 5 interleaved rounds of with/without; medians, the best runs and the median of the per-round
# losses (on this VM a plain veth pair alone varies by +-15 % from run to run).
# Rules: the policy is swapped in place (re-apply); N peer CIDRs (/32s right below the peer's
# address, 198.18.160.0 up to 198.18.199.255, so its lookup walks a full trie), one rule each
# with its own port, plus the rule that allows the peer on 5201/tcp;
# 5 interleaved rounds over the sizes, per-round ratios.
# Per-packet time: kernel.bpf_stats_enabled=1 during the rules part (off for with/without),
# run_time_ns/run_cnt of tank_host_in and tank_host_eg of this tankd (its programs, found
# through the pod's pinned links); the sysctl is restored afterwards.
# The floor (the peer figure): an empty tc program ("return TC_ACT_UNSPEC", built here with
# clang) on the same host-side veth, both hooks, as a clsact filter behind Tank's programs during
# the rules part, so it sees the same packets: its run_time_ns/run_cnt is what the BPF stats
# (two clock reads a run) and entering a program cost on this machine, with nothing done.
# Each iperf3 run: 4 s (1 s omitted + 3 s measured). Needs root; cleans up after itself.
set -u
. "$(dirname "$0")/../integration/lib.sh"
LAN="tankbench-$TK_ID-lan"
UP="tkb${TK_ID}up"
POD="${TK_P}-ip"
POD_IP=198.18.0.10
PEER_IP=198.18.200.2
T=${BENCH_IPERF_SECONDS:-3}
ROUNDS=${BENCH_ROUNDS:-5}
STATS_WAS=$(cat /proc/sys/kernel/bpf_stats_enabled)
# client and server on different CPUs (less run-to-run noise on a 2-core machine)
AFFINITY=
[ "$(nproc)" -ge 2 ] && AFFINITY="-A 0,1"
cleanup() {
	set +e
	echo "$STATS_WAS" >/proc/sys/kernel/bpf_stats_enabled
	floor_detach
	ip netns del "$LAN" 2>/dev/null # takes the uplink veth pair with it
	tk_cleanup # also the bpffs dirs tc's object loader made
}
trap cleanup EXIT
die() { say "bench_iperf: $*" >&2; exit 1; }
for t in iperf3 bpftool jq ss tc clang; do command -v "$t" >/dev/null || die "$t not found (apt-get install $t)"; done

TK_CONF_EXTRA='log_level = warn'
tk_start >/dev/null
H() { nsenter --net="/run/netns/$TK_HOSTNS" "$@"; }
Lan() { nsenter --net="/run/netns/$LAN" "$@"; }
Pod() { nsenter --net="/run/netns/tank-$POD" "$@"; }

# the LAN peer: a veth from the host netns into a lan netns
ip netns add "$LAN" || exit 1
ip -n "$LAN" link set lo up
ip -n "$TK_HOSTNS" link add "$UP" type veth peer name lan0 netns "$LAN" || die "veth"
ip -n "$TK_HOSTNS" addr add 198.18.200.1/30 dev "$UP"
ip -n "$TK_HOSTNS" link set "$UP" up
ip -n "$LAN" addr add "$PEER_IP/30" dev lan0
ip -n "$LAN" link set lan0 up
ip -n "$LAN" route add default via 198.18.200.1
H sysctl -qw net.ipv4.ip_forward=1

# the pod's rootfs: iperf3 and the libraries it links
R="$TK_T/rootfs"
mkdir -p "$R/tmp" "$R/etc" "$R/proc" "$R/sys" "$R/dev"
chmod 1777 "$R/tmp"
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
for f in /usr/bin/iperf3 $(ldd /usr/bin/iperf3 | grep -o '/[^ ]*'); do
	mkdir -p "$R$(dirname "$f")" && cp -L "$f" "$R$f"
done

# the pod's spec, with an ingress policy of n peer CIDRs (0: no policy)
apply_pod() {
	python3 - "$1" "$PEER_IP" "$POD" "$R" "$POD_IP/24" >"$TK_T/pod.json" <<'PY'
import json, sys
n, peer, name, root, ip = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
net = {"nics": [{"name": "eth0", "mode": "veth", "ip": [ip]}]}
if n:
    nr = n; per = 1
    cidrs = ["198.18.%d.%d/32" % (160 + k // 256, k % 256) for k in range(n)]
    rules = [{"from": cidrs[i * per:(i + 1) * per], "ports": ["%d/tcp" % (10000 + i)]} for i in range(nr)]
    rules = [r for r in rules if r["from"]]
    rules.append({"from": [peer + "/32"], "ports": ["5201/tcp"]})
    net["policy"] = {"ingress": rules, "mode": "enforce"}
print(json.dumps({"name": name, "restart": "always", "network": net,
                  "containers": [{"name": "s", "image": {"rootfs": root},
                                  "command": ["/usr/bin/iperf3", "-s", "-p", "5201"], "stop_grace": "1s"}]}))
PY
	tankctl apply -f "$TK_T/pod.json" >/dev/null || die "apply failed"
}
ready() { # the pod runs, its server listens and the peer reaches it
	wait_for 30 pod_is "$POD" running || die "pod not running: $(tankctl get pod "$POD" -o json | jq -c .status)"
	wait_for 30 sh -c "nsenter --net=/run/netns/tank-$POD ss -Hltn 'sport = :5201' | grep -q ." ||
		die "iperf3 server not listening"
	# (ping only without a policy: the policies below allow the peer 5201/tcp, not ICMP)
	[ "${1:-0}" -gt 0 ] || wait_for 10 Lan ping -c1 -W1 "$POD_IP" || die "the peer cannot reach the pod"
}
pins() { find "$TK_BPF/pods" -type f 2>/dev/null; }

# ---- the floor: an empty program on the pod's host-side veth ----------------------------------
FLOOR_PREF=49152 # after Tank's own clsact filter (on kernels without tcx), and after tcx
FLOOR_DEV=
FLOOR_QDISC=0
cat >"$TK_T/floor.bpf.c" <<'C'
/* the empty program: the floor of a program's time in the BPF stats */
#include <linux/bpf.h>
__attribute__((section("tc"), used)) int tank_floor(struct __sk_buff *skb) { return -1; }
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
C
clang -O2 -target bpf -I"/usr/include/$(gcc -dumpmachine)" -c "$TK_T/floor.bpf.c" -o "$TK_T/floor.o" ||
	die "building the empty program failed"
host_veth() { # the pod's host-side veth: the host netns' link that is neither lo nor the uplink
	H ip -j link show | jq -r --arg up "$UP" '.[] | select(.ifname != "lo" and .ifname != $up) | .ifname' | head -1
}
floor_attach() { # (again, when the pod's veth changed) attach the empty program on both hooks
	local dev hook
	dev=$(host_veth)
	[ -n "$dev" ] || die "the pod's host-side veth was not found"
	if [ "$dev" = "$FLOOR_DEV" ] && H tc filter show dev "$dev" ingress pref $FLOOR_PREF | grep -q tank_floor; then
		return 0
	fi
	FLOOR_DEV=$dev
	H tc qdisc add dev "$dev" clsact 2>/dev/null && FLOOR_QDISC=1
	for hook in ingress egress; do
		H tc filter replace dev "$dev" $hook pref $FLOOR_PREF bpf direct-action obj "$TK_T/floor.o" sec tc ||
			die "attaching the empty program failed"
	done
}
floor_detach() {
	[ -n "$FLOOR_DEV" ] || return 0
	H tc filter del dev "$FLOOR_DEV" ingress pref $FLOOR_PREF 2>/dev/null
	H tc filter del dev "$FLOOR_DEV" egress pref $FLOOR_PREF 2>/dev/null
	[ "$FLOOR_QDISC" = 1 ] && H tc qdisc del dev "$FLOOR_DEV" clsact 2>/dev/null
	FLOOR_DEV=
}
floor_ids() {
	local hook
	for hook in ingress egress; do
		H tc -j filter show dev "$FLOOR_DEV" $hook pref $FLOOR_PREF | jq -r '.[].options.prog.id // empty'
	done | sort -u
}
prog_ids() { # this tankd's tank_host_in / tank_host_eg, through the pod's pinned links
	local p
	for p in $(pins); do bpftool link show pinned "$p" -j | jq -r .prog_id; done | sort -u
}
iperf() { # prints Gbit/s received by the pod; the JSON stays in $TK_T/iperf.json
	local i
	for i in 1 2 3; do
		if Lan timeout $((T + 30)) iperf3 -c "$POD_IP" -p 5201 -t "$T" -O 1 $AFFINITY -J >"$TK_T/iperf.json" 2>"$TK_T/iperf.err"; then
			jq -er '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100' "$TK_T/iperf.json" && return 0
		fi
		sleep 1 # the server may still be busy with a previous client
	done
	die "iperf3 failed: $(jq -r '.error // empty' "$TK_T/iperf.json" 2>/dev/null || tail -3 "$TK_T/iperf.json")"
}
stats() { # "name id run_time_ns run_cnt" of this tankd's two programs and of the floor's
	local id
	for id in $PROGS $(floor_ids); do
		bpftool prog show id "$id" -j | jq -r '"\(.name) \(.id) \(.run_time_ns // 0) \(.run_cnt // 0)"'
	done
}
per_packet() { # before-file after-file bytes:
	# "<ns/packet of Tank's programs> <floor ns/packet> <per program...> ~<bytes>/packet"
	awk -v bytes="$3" 'NR == FNR { t[$2] = $3; c[$2] = $4; next }
		{ dt = $3 - t[$2]; dc = $4 - c[$2]
		  if ($1 == "tank_floor") { FT += dt; FC += dc; next }
		  T += dt; C += dc
		  s = s sprintf(" %s %.1f ns (%d pkts)", $1, dc ? dt / dc : 0, dc) }
		END { printf "%.1f %.1f%s ~%.0f bytes/packet\n", C ? T / C : 0, FC ? FT / FC : 0, s,
		      C ? bytes / C : 0 }' "$1" "$2"
}
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

apply_pod 0
ready
PROGS=$(prog_ids)
[ "$(echo "$PROGS" | wc -w)" -ge 2 ] || die "the pod's programs were not found through its pins ($(pins))"
say "pod $POD_IP (Tank veth, tcx programs $(echo $PROGS | tr ' ' ,)) <- iperf3 from the LAN peer $PEER_IP, ${T}+1 s runs:"

# ---- with and without the programs, interleaved -----------------------------------------------
: >"$TK_T/with"
: >"$TK_T/without"
for ((r = 1; r <= ROUNDS; r++)); do
	iperf >>"$TK_T/with"
	links=$(for p in $(pins); do bpftool link show pinned "$p" -j | jq -r .id; done)
	for p in $(pins); do bpftool link detach pinned "$p" && rm -f "$p"; done
	for l in $links; do
		bpftool link show id "$l" >/dev/null 2>&1 && die "link $l still listed after the detach"
	done
	iperf >>"$TK_T/without"
	tankctl restart pod "$POD" >/dev/null || die "restart failed"
	wait_for 30 sh -c "[ \$(find '$TK_BPF/pods' -type f | wc -l) -ge 2 ]" || die "programs not attached again"
	ready
done
best() { sort -g | tail -1; }
if [ "$ROUNDS" -gt 0 ]; then
	W=$(median <"$TK_T/with")
	WO=$(median <"$TK_T/without")
	WB=$(best <"$TK_T/with")
	WOB=$(best <"$TK_T/without")
	loss() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f %%", 100 * (b - a) / b }'; }
	# each round's with/without runs are back to back: their ratio cancels slow drift
	PAIRED=$(paste "$TK_T/with" "$TK_T/without" | awk '{ print 100 * ($2 - $1) / $2 }' | median)
	say "  with Tank's programs:     median $W Gbit/s, best $WB   [$(paste -sd' ' "$TK_T/with")]"
	say "  without (links detached): median $WO Gbit/s, best $WOB   [$(paste -sd' ' "$TK_T/without")]"
	say "  loss (target <= 3 %): median of the per-round losses $(printf '%.1f' "$PAIRED") %; of the medians $(loss "$W" "$WO"); of the best runs $(loss "$WB" "$WOB")"
fi
PROGS=$(prog_ids) # the restart attached new links; the programs are tankd's, shared by pods

# ---- rules ------------------------------------------------------------------------------------
# kernel.bpf_stats_enabled=1 for this whole part: every run gives throughput and program time
# (the stats' own clock reads are in both, for every policy size alike)
RULES=${BENCH_RULES:-0 10 1000 10000}
say "ingress policy of N peer CIDRs (swapped in place), $ROUNDS interleaved rounds, kernel.bpf_stats_enabled=1:"
echo 1 >/proc/sys/kernel/bpf_stats_enabled
for ((r = 1; r <= ROUNDS; r++)); do
	for n in $RULES; do
		apply_pod "$n"
		ready "$n"
		floor_attach
		stats >"$TK_T/s0"
		g=$(iperf) || exit 1
		stats >"$TK_T/s1"
		bytes=$(jq '.end.sum_received.bytes' "$TK_T/iperf.json")
		echo "$g" >>"$TK_T/g.$n"
		per_packet "$TK_T/s0" "$TK_T/s1" "$bytes" >>"$TK_T/pp.$n"
	done
done
echo 0 >/proc/sys/kernel/bpf_stats_enabled
floor_detach
for n in $RULES; do
	awk '{ print $1 }' "$TK_T/pp.$n" >"$TK_T/ns.$n"
	awk '{ print $2 }' "$TK_T/pp.$n" >"$TK_T/fl.$n"
	paste "$TK_T/ns.$n" "$TK_T/fl.$n" | awk '{ print $1 - $2 }' >"$TK_T/net.$n"
	for prog in tank_host_in tank_host_eg; do
		grep -o "$prog [0-9.]* ns" "$TK_T/pp.$n" | awk '{ print $2 }' | median >"$TK_T/ns.$n.$prog"
	done
	say "  $(printf '%6s' "$n") CIDRs: $(median <"$TK_T/g.$n") Gbit/s [$(paste -sd' ' "$TK_T/g.$n")]; $(median <"$TK_T/ns.$n") ns/packet [$(paste -sd' ' "$TK_T/ns.$n")], floor $(median <"$TK_T/fl.$n") ns, above the floor $(median <"$TK_T/net.$n") ns (tank_host_in $(cat "$TK_T/ns.$n.tank_host_in"), tank_host_eg $(cat "$TK_T/ns.$n.tank_host_eg"); ~$(grep -o '~[0-9]* bytes' "$TK_T/pp.$n" | tr -d '~' | awk '{ print $1 }' | median | cut -d. -f1) bytes/packet: GSO)"
done
if [ -f "$TK_T/g.10" ] && [ -f "$TK_T/g.10000" ]; then
	gr=$(paste "$TK_T/g.10" "$TK_T/g.10000" | awk '{ print 100 * ($2 - $1) / $1 }' | median)
	nr=$(paste "$TK_T/ns.10" "$TK_T/ns.10000" | awk '{ print 100 * ($2 - $1) / $1 }' | median)
	fr=$(paste "$TK_T/net.10" "$TK_T/net.10000" | awk '{ print 100 * ($2 - $1) / $1 }' | median)
	say "  10 -> 10,000 CIDRs (median of the per-round changes; target <= 10 % extra): throughput $(printf '%+.1f' "$gr") %, time per packet $(printf '%+.1f' "$nr") % (above the floor $(printf '%+.1f' "$fr") %)"
fi
cat "$TK_T"/fl.* 2>/dev/null | median >"$TK_T/fl.all"
say "  per-packet target: < 100 ns; the floor (peer: an empty tc program on the same packets, BPF stats on) median $(cat "$TK_T/fl.all") ns"
say "  (pod restarts in all: $(tankctl get pod "$POD" -o json | jq .status.restarts), the $ROUNDS that re-attached the detached links)"
