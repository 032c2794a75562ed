# lib.sh - shared setup for Tank's integration tests: a throwaway "host" netns with its own
# tankd, per-run names, assertions, and cleanup of everything on exit (also on failure).
# Source it; then call tk_start. Needs root.

TK_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TK_BUILD=${TANK_BUILD:-$TK_REPO/build}
TK_ID=$$
TK_P="tt${TK_ID}"                         # pod name prefix (netns tank-<pod>)
TK_HOSTNS="tanktest-${TK_ID}-host"        # where this test's tankd runs
TK_BPF="/sys/fs/bpf/tanktest-${TK_ID}"
TK_CG="tanktest-${TK_ID}"
TK_T=$(mktemp -d /tmp/tanktest.XXXXXX)
TK_SOCK="$TK_T/run/tankd.sock"
TK_TANKD_PID=
tk_pass=0
tk_fail=0

say() { printf '%s\n' "$*"; }

ok() { tk_pass=$((tk_pass + 1)); say "ok   - $*"; }
not_ok() { tk_fail=$((tk_fail + 1)); say "FAIL - $*"; }

# check "description" command...   (passes when the command succeeds)
check() {
	local desc=$1
	shift
	if "$@" >"$TK_T/check.out" 2>&1; then ok "$desc"; else
		not_ok "$desc"
		sed 's/^/       | /' "$TK_T/check.out" | tail -n 15
	fi
}

tankctl() { "$TK_BUILD/tankctl" --socket "$TK_SOCK" "$@"; }
in_host() { nsenter --net="/run/netns/$TK_HOSTNS" "$@"; }

# wait_for SECONDS command...: poll (every 0.1 s) until the command succeeds
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

pod_phase() { tankctl get pod "$1" -o json 2>/dev/null | jq -r .status.phase; }
pod_is() { [ "$(pod_phase "$1")" = "$2" ]; }

tk_write_config() {
	mkdir -p "$TK_T/run" "$TK_T/data"
	cat >"$TK_T/tankd.conf" <<CONF
# throwaway config of test run $TK_ID
data_dir = $TK_T/data
run_dir = $TK_T/run
bpf_dir = $TK_BPF
cgroup_name = $TK_CG
shim = $TK_BUILD/tank-shim
seed_dir = $TK_T/seed
backoff_base = 1s
resync_interval = 500ms
log_level = debug
${TK_CONF_EXTRA:-}
CONF
}

tk_start_tankd() {
	rm -f "$TK_SOCK" # a SIGKILLed tankd leaves its socket file behind
	# nsenter execs tankd, so $! is tankd itself (a shell function here would fork)
	nsenter --net="/run/netns/$TK_HOSTNS" "$TK_BUILD/tankd" --config "$TK_T/tankd.conf" \
		>>"$TK_T/tankd.log" 2>&1 &
	TK_TANKD_PID=$!
	if ! wait_for 10 test -S "$TK_SOCK"; then
		say "tankd did not come up; its log:"
		cat "$TK_T/tankd.log"
		return 1
	fi
}

tk_stop_tankd() {
	local sig=${1:-TERM}
	[ -n "$TK_TANKD_PID" ] || return 0
	kill "-$sig" "$TK_TANKD_PID" 2>/dev/null
	wait "$TK_TANKD_PID" 2>/dev/null
	TK_TANKD_PID=
}

tk_start() {
	[ "$(id -u)" -eq 0 ] || { say "integration tests need root"; exit 1; }
	ip netns add "$TK_HOSTNS" || exit 1
	ip -n "$TK_HOSTNS" link set lo up
	tk_write_config
	tk_start_tankd || exit 1
}

# tc's object loader (`tc filter add ... bpf obj`) makes /sys/fs/bpf/tc/globals and the links
# ip and xdp to it: tk_cleanup removes them when they were not there before this run.
TK_BPFFS_TC_WAS=0
[ -e /sys/fs/bpf/tc ] && TK_BPFFS_TC_WAS=1

# Everything this run made, found by its per-run names, also after a failure.
tk_cleanup() {
	local f pid d
	# a background subshell (a backgrounded function) inherits the EXIT trap: only the test's
	# own shell cleans up
	[ "$BASHPID" = "$TK_ID" ] || return 0
	set +e
	if [ -n "$TK_TANKD_PID" ] && [ -S "$TK_SOCK" ]; then
		for name in $(tankctl get pods -o json 2>/dev/null | jq -r '.[].name'); do
			timeout 20 "$TK_BUILD/tankctl" --socket "$TK_SOCK" delete pod "$name" --wait >/dev/null 2>&1
		done
	fi
	tk_stop_tankd KILL
	# shims this run started (their pids are in the pod state files)
	for f in "$TK_T"/run/pods/*/tankd.json; do
		[ -f "$f" ] || continue
		pid=$(jq -r '.shim_pid // 0' "$f" 2>/dev/null)
		if [ "${pid:-0}" -gt 0 ] && grep -q tank-shim "/proc/$pid/cmdline" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	for f in /run/netns/tank-"$TK_P"-*; do
		[ -e "$f" ] || continue
		umount -l "$f" 2>/dev/null
		rm -f "$f"
	done
	ip netns del "$TK_HOSTNS" 2>/dev/null
	rm -rf "$TK_BPF"
	if [ "$TK_BPFFS_TC_WAS" = 0 ] && rmdir /sys/fs/bpf/tc/globals /sys/fs/bpf/tc 2>/dev/null; then
		for f in /sys/fs/bpf/ip /sys/fs/bpf/xdp; do [ -L "$f" ] && rm -f "$f"; done
	fi
	for d in /sys/fs/cgroup/*/"$TK_CG" /sys/fs/cgroup/unified/"$TK_CG"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	# overlay mounts live in the pods' mount namespaces, so nothing is mounted below TK_T
	if [ "${TANK_KEEP:-}" = 1 ]; then say "kept $TK_T"; else rm -rf "$TK_T"; fi
}

tk_finish() {
	say "$tk_pass passed, $tk_fail failed"
	[ "$tk_fail" -eq 0 ]
}
