#!/usr/bin/env bash
# test_policy.sh - per-pod policy as an operator sees it: a veth pod allowing 80/tcp in: port 80
# answers, port 22 is dropped and an event names it, replies to the pod's own connections
# pass, counted bytes match what was sent, `policy test` gives the datapath's verdict, audit
# mode switches at runtime, top talkers, enforcement and counters while tankd is down, the
# Prometheus endpoint, links lost while tankd was down put back at its start (and a foreign tc
# program reported, not removed), stale pins swept, a host-network pod with a policy, and a
# deleted pod's final totals, also after a restart.
set -u
. "$(dirname "$0")/lib.sh"
SRV=
LAN="tanktest-${TK_ID}-lan"
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; ip netns del "$LAN" 2>/dev/null; tk_cleanup; }
trap cleanup EXIT
# kill_and_detach UID PIN...: SIGKILL tankd, then detach and unpin these links of the pod, as
# an outside hand (or a crash mid-attach) would leave them for the restarted tankd to repair
kill_and_detach() {
	local uid=$1 pin
	shift
	tk_stop_tankd KILL
	for pin; do
		bpftool link detach pinned "$TK_BPF/pods/$uid/$pin" && rm -f "$TK_BPF/pods/$uid/$pin"
	done
}
tk_start
"$TK_REPO/tools/mkimage-busybox.sh" "$TK_T/img" 1.0 >/dev/null || { not_ok "build image"; exit 1; }
POD="${TK_P}-pol"
IP=198.18.0.30
spec() { # mode
	cat >"$TK_T/pol.json" <<JSON
{"name": "$POD", "network": {"nics": [{"name": "eth0", "mode": "veth", "ip": ["$IP/24"]}],
  "policy": {"ingress": [{"from": ["169.254.0.0/16", "198.18.0.0/15"], "ports": ["80/tcp", "8000-8100/tcp"]}],
             "mode": "$1"}},
 "containers": [{"name": "web", "image": "oci:$TK_T/img:1.0", "stop_grace": "1s",
   "command": ["sh", "-c", "mkdir -p /www && dd if=/dev/zero of=/www/big bs=1024 count=1024 2>/dev/null && echo ok >/www/index.html && (while true; do echo hi | nc -l -p 22; done &) && exec httpd -f -p 80 -h /www"]}]}
JSON
}
H() { nsenter --net="/run/netns/$TK_HOSTNS" "$@"; }
spec enforce
check "apply a pod with an ingress policy" tankctl apply -f "$TK_T/pol.json"
check "running" tankctl wait pod "$POD" --for running --timeout 30s
sleep 0.3
check "port 80 answers" sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 3 http://$IP/ | grep -qx ok"
check "port 22 is dropped" sh -c "! nsenter --net=/run/netns/$TK_HOSTNS busybox nc -w 2 $IP 22 </dev/null | grep -q hi"
check "a Dropped event names it" wait_for 5 sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $POD | grep -E 'Dropped .*dropped 169.254.1.1:[0-9]+ → $IP:22/tcp ingress \(no rule allows\)'"

# replies to the pod's own outbound connections pass (ingress is restricted, egress is not)
echo from-host >"$TK_T/host.txt"
nsenter --net="/run/netns/$TK_HOSTNS" python3 -m http.server 8080 --bind 169.254.1.1 --directory "$TK_T" >/dev/null 2>&1 &
SRV=$!
wait_for 5 sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -sf http://169.254.1.1:8080/host.txt"
check "replies to the pod's own connection pass" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- wget -q -O - http://169.254.1.1:8080/host.txt | grep -qx from-host"

# bytes: what the peer fetched matches what was counted, within header overhead
before=$(tankctl traffic "$POD" -o json | jq '.[0].egress.bytes')
H curl -sf --max-time 10 -o "$TK_T/big" "http://$IP/big"
after=$(tankctl traffic "$POD" -o json | jq '.[0].egress.bytes')
sent=$(stat -c %s "$TK_T/big")
check "fetched 1 MiB" test "$sent" -eq 1048576
check "counted bytes = sent + headers (within 10 %)" sh -c "d=$((after - before)); [ \$d -ge $sent ] && [ \$d -le $((sent * 11 / 10)) ]"
check "drops by reason in the JSON" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' traffic $POD -o json | jq -e '.[0].ingress.drops.policy.packets >= 1'"
check "rule hits name the rule" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' traffic $POD -o json | jq -e '[.[0].rule_hits[] | select(.rule == 1 and .packets > 0 and (.rule_text | test(\"ingress\\\\[0\\\\]\")))] | length == 1'"

# explain
check "policy test: 80/tcp allowed, by which rule" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' policy test $POD --from 198.18.1.9 --port 80/tcp | grep -q '^allow (rule: network.policy.ingress\[0\]: from 169.254.0.0/16 198.18.0.0/15 ports 80/tcp, 8000-8100/tcp)'"
"$TK_BUILD/tankctl" --socket "$TK_SOCK" policy test "$POD" --from 198.18.1.9 --port 22/tcp >"$TK_T/pt.out"
check "policy test: 22/tcp denied (exit 1)" test $? -eq 1
check "policy test: says why" grep -q '^deny (no rule allows)' "$TK_T/pt.out"
check "policy test: a peer outside every rule" sh -c "! '$TK_BUILD/tankctl' --socket '$TK_SOCK' policy test $POD --from 10.9.9.9 --port 80/tcp >/dev/null"
check "policy test: egress is unrestricted" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' policy test $POD --to 198.18.1.9 --port 443/tcp | grep -q '^allow (no policy)'"

# top talkers
check "traffic --flows lists the host peer" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' traffic $POD --flows | grep -E '^tcp +169.254.1.1 +80 +ingress'"

# audit mode, switched at runtime (in place: same process)
pid=$(tankctl get pod "$POD" -o json | jq .status.pid)
spec audit
check "switch to audit mode" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' apply -f '$TK_T/pol.json' | grep -q configured"
check "applied in place" wait_for 10 sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $POD | grep -q Updated"
check "event: policy applied at start" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $POD | grep -E 'PolicyApplied +ingress 1 rule, egress all allowed, enforce \\(before the first packet\\)'"
check "event: audit policy swapped in place" wait_for 10 sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $POD | grep -E 'PolicyApplied +ingress 1 rule, egress all allowed, audit \\(swapped in place\\)'"
check "same process" test "$(tankctl get pod "$POD" -o json | jq .status.pid)" = "$pid"
check "audit: port 22 now passes" sh -c "nsenter --net=/run/netns/$TK_HOSTNS busybox nc -w 2 $IP 22 </dev/null | grep -q hi"
check "audit: counted as would-drop" wait_for 5 sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $POD | grep -q 'PolicyAudit.*would drop'"
spec enforce
tankctl apply -f "$TK_T/pol.json" >/dev/null
wait_for 10 sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $POD | grep -c Updated | grep -qx 2"

# tankd down: enforcement and counting go on; after restart the counters continue
check "metrics are off by default" sh -c "! nsenter --net=/run/netns/$TK_HOSTNS curl -s --max-time 2 http://127.0.0.1:9464/metrics"
c1=$(tankctl traffic "$POD" -o json | jq '.[0].ingress.packets')
tk_stop_tankd KILL
check "tankd down: port 22 still dropped" sh -c "! nsenter --net=/run/netns/$TK_HOSTNS busybox nc -w 2 $IP 22 </dev/null | grep -q hi"
check "tankd down: port 80 still answers" sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 3 http://$IP/ | grep -qx ok"
# the metrics endpoint: a non-loopback address is refused, loopback serves
TK_CONF_EXTRA="metrics_listen = 198.18.0.1:9464"
tk_write_config
timeout 20 nsenter --net="/run/netns/$TK_HOSTNS" "$TK_BUILD/tankd" --config "$TK_T/tankd.conf" >"$TK_T/refused.log" 2>&1
check "a non-loopback metrics_listen is refused (tankd exits 1, not killed by the timeout)" test $? -eq 1
check "it says why" grep -q "not a loopback address.*metrics_allow_remote" "$TK_T/refused.log"
TK_CONF_EXTRA="metrics_listen = 127.0.0.1:9464
tombstone_ttl = 2h
drop_events_rate = 50
drop_events_burst = 100"
tk_write_config
tk_start_tankd
wait_for 10 pod_is "$POD" running
c2=$(tankctl traffic "$POD" -o json | jq '.[0].ingress.packets')
check "counters counted while tankd was down and continue" test "$c2" -gt "$c1"

M() { nsenter --net="/run/netns/$TK_HOSTNS" curl -sf --max-time 3 "http://127.0.0.1:9464$1"; }
# metrics bytes of the pod, summed over NIC, family and protocol, as `tankctl traffic` counts
mbytes() { M /metrics | awk -v p="$POD" -v d="$1" 'index($0, "tank_pod_bytes_total{pod=\"" p "\"") == 1 && index($0, "direction=\"" d "\"") { s += $2 } END { print s + 0 }'; }
bytes_match() {
	local m t
	m=$(mbytes egress)
	t=$(tankctl traffic "$POD" -o json | jq '.[0].egress.bytes')
	echo "metrics $m traffic $t"
	[ "$m" -gt 1048576 ] && [ "$m" = "$t" ]
}
check "metrics: Prometheus text with HELP and TYPE" sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -sf http://127.0.0.1:9464/metrics | grep -qx '# TYPE tank_pod_bytes_total counter'"
M /metrics >"$TK_T/metrics.txt"
for m in tank_pod_packets_total tank_pod_drops_total tank_policy_rule_hits_total tank_flow_evictions_total tank_events_lost_total tank_pods; do
	check "metrics: $m" grep -q "^# HELP $m " "$TK_T/metrics.txt"
done
check "metrics: the running pod counted by phase" grep -qx 'tank_pods{phase="running"} 1' "$TK_T/metrics.txt"
check "metrics: drops by reason" grep -qE "^tank_pod_drops_total\{pod=\"$POD\",nic=\"eth0\",direction=\"ingress\",reason=\"policy\"\} [1-9]" "$TK_T/metrics.txt"
check "metrics: the pod's bytes match tankctl traffic" wait_for 5 bytes_match
check "metrics: anything but /metrics is a 404" sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9464/ | grep -qx 404"
check "metrics: a request written by hand (then half-closed) gets its answer" sh -c "printf 'GET /metrics HTTP/1.0\r\n\r\n' | nsenter --net=/run/netns/$TK_HOSTNS busybox nc 127.0.0.1 9464 | grep -q '^tank_pods{phase=\"running\"} 1'"
check "metrics: an oversized request is refused" sh -c "head -c 6000 /dev/zero | tr '\\0' a | nsenter --net=/run/netns/$TK_HOSTNS busybox nc 127.0.0.1 9464 | grep -q '^HTTP/1.0 431'"
check "metrics: other methods are refused" sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:9464/metrics | grep -qx 405"
# a client that connects and never sends: held open (sleep keeps nc's stdin open) while tankd
# must go on answering the API and other scrapes well within the client's life
sleep 10 | nsenter --net="/run/netns/$TK_HOSTNS" busybox nc 127.0.0.1 9464 >/dev/null 2>&1 &
SILENT=$!
wait_for 5 sh -c "nsenter --net=/run/netns/$TK_HOSTNS ss -Htn state established '( dport = :9464 )' | grep -q ."
check "metrics: a silent client does not block tankd" sh -c "timeout 2 '$TK_BUILD/tankctl' --socket '$TK_SOCK' get pods >/dev/null && nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 2 http://127.0.0.1:9464/metrics >/dev/null"
kill "$SILENT" 2>/dev/null
slot=$(tankctl get pod "$POD" -o json | jq .slot)
check "drop_events_rate/burst reach the pod's datapath config" sh -c "bpftool -j map dump pinned $TK_BPF/tank_cfg_v1 | jq -e --argjson s $slot '[.[].formatted | select(.key == \$s) | .value | select(.ev_rate == 50 and .ev_burst == 100)] | length == 1'"
check "info: the datapath's global counters" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' info -o json | jq -e '.datapath.flow_evictions >= 0 and .datapath.events_lost >= 0 and .datapath.metrics == \"127.0.0.1:9464\" and .datapath.tombstone_ttl_s == 7200'"

# links lost while tankd was down are put back at its start; a foreign tc program is reported
# and left alone
uid=$(tankctl get pod "$POD" -o json | jq -r .uid)
hif=$(tankctl get pod "$POD" -o json | jq -r '.nics[0].host_ifname')
cat >"$TK_T/foreign.c" <<'C'
#include <linux/bpf.h>
__attribute__((section("tc"), used)) int tk_foreign(struct __sk_buff *skb) { return -1; }
char _license[] __attribute__((section("license"), used)) = "GPL";
C
clang -O2 -g -target bpf -I"/usr/include/$(gcc -dumpmachine)" -c "$TK_T/foreign.c" -o "$TK_T/foreign.o"
kill_and_detach "$uid" eth0_in eth0_eg
H tc qdisc add dev "$hif" clsact
check "a foreign tc program on the pod's host-side veth" H tc filter add dev "$hif" ingress bpf da obj "$TK_T/foreign.o" sec tc
check "links detached: port 22 answers (no enforcement)" sh -c "nsenter --net=/run/netns/$TK_HOSTNS busybox nc -w 2 $IP 22 </dev/null | grep -q hi"
tk_start_tankd
wait_for 10 pod_is "$POD" running
check "restart: port 22 dropped again" sh -c "! nsenter --net=/run/netns/$TK_HOSTNS busybox nc -w 2 $IP 22 </dev/null | grep -q hi"
check "restart: port 80 still answers" sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 3 http://$IP/ | grep -qx ok"
check "restart: the links are pinned again" test -e "$TK_BPF/pods/$uid/eth0_in" -a -e "$TK_BPF/pods/$uid/eth0_eg"
check "a DatapathRepaired event names the NIC" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $POD | grep -E 'DatapathRepaired .*missing on eth0'"
fid=$(H tc -j filter show dev "$hif" ingress | jq -r '[.[] | select(.options.prog.id) | .options.prog.id][0]')
check "a ForeignProgram warning names the device and program" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $POD | grep -E 'ForeignProgram .*$hif.*tc ingress has BPF program id $fid \(tk_foreign\)'"
check "the foreign program is left in place" sh -c "nsenter --net=/run/netns/$TK_HOSTNS tc filter show dev $hif ingress | grep -q 'id $fid'"
H tc qdisc del dev "$hif" clsact

# pins and map entries of a pod tankd no longer knows are swept at start (totals kept)
tk_stop_tankd KILL
mkdir "$TK_BPF/pods/tanktest-stale-uid"
tk_start_tankd
check "a stale pin directory is swept at start" wait_for 5 test ! -e "$TK_BPF/pods/tanktest-stale-uid"
check "the live pod's pins are kept" test -e "$TK_BPF/pods/$uid/eth0_in"

# a host-network pod with a policy (object form): the cgroup programs filter its sockets
HPOD="${TK_P}-hostpol"
HIP=198.18.5.1
H ip addr add "$HIP/32" dev lo
hspec() { # allowed port
	cat >"$TK_T/hostpol.json" <<JSON
{"name": "$HPOD", "network": {"mode": "host", "policy": {"ingress": [{"from": ["198.18.0.0/15"], "ports": ["$1/tcp"]}]}},
 "containers": [{"name": "web", "image": "oci:$TK_T/img:1.0", "stop_grace": "1s",
   "command": ["sh", "-c", "mkdir -p /www && echo host-ok >/www/index.html && (while true; do echo hi | nc -l -p 18081; done &) && exec httpd -f -p $HIP:18080 -h /www"]}]}
JSON
}
hspec 18080
check "apply a host-network pod with a policy" tankctl apply -f "$TK_T/hostpol.json"
check "host pod running" tankctl wait pod "$HPOD" --for running --timeout 30s
wait_for 5 sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 1 http://$HIP:18080/"
check "host pod: the allowed port answers" sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 3 http://$HIP:18080/ | grep -qx host-ok"
check "host pod: another port is dropped" sh -c "! nsenter --net=/run/netns/$TK_HOSTNS busybox nc -w 2 $HIP 18081 </dev/null | grep -q hi"
check "host pod: a Dropped event names it" wait_for 5 sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $HPOD | grep -E 'Dropped .*dropped $HIP:[0-9]+ → $HIP:18081/tcp ingress \(no rule allows\)'"
check "host pod: drops counted on its cgroup" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' traffic $HPOD -o json | jq -e '.[0].ingress.drops.policy.packets >= 1'"
hpid=$(tankctl get pod "$HPOD" -o json | jq .status.pid)
hspec 18081
check "host pod: the policy changes in place" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' apply -f '$TK_T/hostpol.json' | grep -q configured"
check "host pod: applied in place" wait_for 10 sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $HPOD | grep -q Updated"
check "host pod: same process" test "$(tankctl get pod "$HPOD" -o json | jq .status.pid)" = "$hpid"
check "host pod: now 18081 answers" sh -c "nsenter --net=/run/netns/$TK_HOSTNS busybox nc -w 2 $HIP 18081 </dev/null | grep -q hi"
check "host pod: and 18080 is dropped" sh -c "! nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 2 http://$HIP:18080/"
# its cgroup links lost while tankd was down: put back at start
kill_and_detach "$(tankctl get pod "$HPOD" -o json | jq -r .uid)" @cgroup_in @cgroup_eg
check "host pod: links detached, 18080 answers" sh -c "nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 3 http://$HIP:18080/ | grep -qx host-ok"
tk_start_tankd
wait_for 10 pod_is "$HPOD" running
check "host pod: after the restart 18080 is dropped again" sh -c "! nsenter --net=/run/netns/$TK_HOSTNS curl -sf --max-time 2 http://$HIP:18080/"
check "host pod: a DatapathRepaired event names the cgroup" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $HPOD | grep -E 'DatapathRepaired .*missing on cgroup '"
check "delete the host pod" tankctl delete pod "$HPOD" --wait

# a macvlan pod: its links live inside the pod netns; lost while tankd was down, put back
ip netns add "$LAN"
ip -n "$TK_HOSTNS" link add up0 type veth peer name lan0 netns "$LAN"
ip -n "$TK_HOSTNS" link set up0 up
ip -n "$LAN" link set lo up
ip -n "$LAN" link set lan0 up
ip -n "$LAN" addr add 198.18.12.1/24 dev lan0
TK_CONF_EXTRA="$TK_CONF_EXTRA
uplink = up0"
tk_write_config
tk_stop_tankd TERM
tk_start_tankd
MPOD="${TK_P}-mv"
MIP=198.18.12.10
cat >"$TK_T/mv.json" <<JSON
{"name": "$MPOD", "network": {"nics": [{"name": "eth0", "mode": "macvlan", "parent": "auto", "ip": ["$MIP/24"]}],
  "policy": {"ingress": [{"from": ["198.18.0.0/15"], "ports": ["80/tcp"]}]}},
 "containers": [{"name": "web", "image": "oci:$TK_T/img:1.0", "stop_grace": "1s",
   "command": ["sh", "-c", "mkdir -p /www && echo mv-ok >/www/index.html && (while true; do echo hi | nc -l -p 22; done &) && exec httpd -f -p 80 -h /www"]}]}
JSON
check "apply a macvlan pod with a policy" tankctl apply -f "$TK_T/mv.json"
check "macvlan pod running" tankctl wait pod "$MPOD" --for running --timeout 30s
wait_for 5 sh -c "ip netns exec $LAN curl -sf --max-time 1 http://$MIP/"
check "macvlan pod: port 80 answers the LAN" sh -c "ip netns exec $LAN curl -sf --max-time 3 http://$MIP/ | grep -qx mv-ok"
check "macvlan pod: port 22 dropped" sh -c "! ip netns exec $LAN busybox nc -w 2 $MIP 22 </dev/null | grep -q hi"
kill_and_detach "$(tankctl get pod "$MPOD" -o json | jq -r .uid)" eth0_in eth0_eg
check "macvlan pod: links detached, port 22 answers" sh -c "ip netns exec $LAN busybox nc -w 2 $MIP 22 </dev/null | grep -q hi"
tk_start_tankd
wait_for 10 pod_is "$MPOD" running
check "macvlan pod: after the restart port 22 is dropped again" sh -c "! ip netns exec $LAN busybox nc -w 2 $MIP 22 </dev/null | grep -q hi"
check "macvlan pod: port 80 still answers" sh -c "ip netns exec $LAN curl -sf --max-time 3 http://$MIP/ | grep -qx mv-ok"
# a client that half-closes (as nc does) while an answer larger than the socket buffers waits
# for room: it gets all of it. tankd's netns gets 4 KiB TCP send buffers for this, the client a
# 2 KiB receive buffer, so about 3 KiB fit in flight; the answer (the pods running by now) is larger.
wmem=$(nsenter --net="/run/netns/$TK_HOSTNS" cat /proc/sys/net/ipv4/tcp_wmem)
nsenter --net="/run/netns/$TK_HOSTNS" sh -c 'echo "4096 4096 4096" >/proc/sys/net/ipv4/tcp_wmem'
cat >"$TK_T/halfclose.py" <<'PY'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
s.connect(("127.0.0.1", 9464))
s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
s.shutdown(socket.SHUT_WR)
time.sleep(0.5)  # tankd has filled the buffers and seen the end of our side by now
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
head, _, body = data.partition(b"\r\n\r\n")
want = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
print("body %d bytes, Content-Length %s" % (len(body), want))
sys.exit(0 if want and want[0] == len(body) and len(body) > 3072 else 1)
PY
check "metrics: a client that half-closes gets all of an answer larger than the buffers" \
	nsenter --net="/run/netns/$TK_HOSTNS" python3 "$TK_T/halfclose.py"
nsenter --net="/run/netns/$TK_HOSTNS" sh -c "echo '$wmem' >/proc/sys/net/ipv4/tcp_wmem"
check "macvlan pod: a DatapathRepaired event" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $MPOD | grep -E 'DatapathRepaired .*missing on eth0'"
check "delete the macvlan pod" tankctl delete pod "$MPOD" --wait

# deleted pods keep their final totals
check "delete" tankctl delete pod "$POD" --wait
check "traffic --deleted shows the final totals" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' traffic --deleted -o json | jq -e --arg p $POD '[.deleted[] | select(.name == \$p and .egress.bytes > 1048576)] | length == 1'"
tk_stop_tankd KILL
tk_start_tankd
check "traffic --deleted still has them after a restart" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' traffic --deleted -o json | jq -e --arg p $POD '[.deleted[] | select(.name == \$p and .egress.bytes > 1048576)] | length == 1'"
tk_finish
