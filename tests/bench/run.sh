#!/usr/bin/env bash
# run.sh - Tank's benchmarks. Each prints its figure and, where there is one, the peer's
# figure measured in the same run. Never used as a pass/fail test.
set -u
B=${TANK_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
echo "== reconciler plan (1,000 desired pods, all running; target < 5 ms)"
"$B/bench/bench_plan"
echo "== control plane (apply latency, 200 pods: tankd and shim memory)"
"$(dirname "$0")/bench_control.sh"
echo "== pod network setup, 200 pods: Tank veth and macvlan vs CNI ptp and macvlan (same run)"
"$B/bench/bench_netsetup"
echo "== BPF per-packet cost by rule count (BPF_PROG_RUN; the empty-program floor is the peer)"
"$B/tests/bpf/bench_bpf_rules"
echo "== image pull + unpack of a ~150 MB Debian image: Tank vs skopeo+umoci and podman pull (same run); inflate+untar vs raw zlib"
"$(dirname "$0")/bench_pull.sh"
echo "== warm pod start (busybox /bin/true, network none): Tank vs crun, runc, podman (same run); 200-pod RSS: control plane above"
BENCH_RSS=0 "$(dirname "$0")/bench_start.sh"
echo "== iperf3 pod <- LAN peer: with and without Tank's programs, per-packet program time, 10 to 10,000 policy CIDRs"
"$(dirname "$0")/bench_iperf.sh"
