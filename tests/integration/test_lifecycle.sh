#!/usr/bin/env bash
# test_lifecycle.sh - exits and restarts as a user sees them: exits while tankd is down,
# short-lived containers, a SIGKILL of tankd during a log burst, multi-container pods.
#   TK_ONLY="adopt short burst multi delete stop" selects parts (default: all).
set -u
. "$(dirname "$0")/lib.sh"
trap tk_cleanup EXIT
TK_CONF_EXTRA="log_level = info"
tk_start
"$TK_REPO/tools/mkimage-busybox.sh" "$TK_T/img" 1.0 >/dev/null || { not_ok "build image"; exit 1; }
IMG="oci:$TK_T/img:1.0"
ONLY=${TK_ONLY:-adopt short burst multi delete stop}
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

# pod NAME RESTART SHELL-COMMAND: a one-container pod running sh -c COMMAND
pod() {
	cat >"$TK_T/$1.json" <<JSON
{"name": "$1", "restart": "$2", "network": "none",
 "containers": [{"name": "c", "image": "$IMG", "stop_grace": "0s",
                 "command": ["sh", "-c", "$3"]}]}
JSON
	tankctl apply -f "$TK_T/$1.json" >/dev/null
}
js() { tankctl get pod "$1" -o json 2>/dev/null | jq -r "$2"; }
is() { [ "$(js "$1" "$2")" = "$3" ]; }
exited_in_shim() { # the shim's own record says every container exited
	jq -e '[.containers[].state] | all(. == "exited")' "$TK_T/run/pods/$1/state.json"
}
delete_all() {
	for n in "$@"; do timeout 60 "$TK_BUILD/tankctl" --socket "$TK_SOCK" delete pod "$n" --wait >/dev/null || not_ok "delete $n"; done
}

# -- 1. exits that happen while tankd is down are seen when it comes back
if want adopt; then
	NV="${TK_P}-never" OF="${TK_P}-onfail" LR="${TK_P}-long"
	pod "$NV" never "sleep 2; exit 12"
	pod "$OF" on_failure "sleep 2; exit 3"
	pod "$LR" always "sleep 1000"
	for n in "$NV" "$OF" "$LR"; do
		check "adopt: $n running" tankctl wait pod "$n" --for running --timeout 30s
	done
	LRPID=$(js "$LR" .status.pid)
	tk_stop_tankd KILL
	both_exited() { exited_in_shim "$NV" && exited_in_shim "$OF"; }
	check "adopt: the short pods exit while tankd is down" wait_for 10 both_exited
	tk_start_tankd || exit 1
	nv_done() { is "$NV" .status.phase terminated && is "$NV" .status.last_exit.code 12; }
	of_restarted() { is "$OF" .status.restarts 1 && is "$OF" .status.phase running; }
	check "adopt: never pod terminated with exit code 12" wait_for 10 nv_done
	check "adopt: on_failure pod restarted once" wait_for 15 of_restarted
	check "adopt: on_failure pod's last exit is code 3" is "$OF" .status.last_exit.code 3
	check "adopt: long-running pod keeps its pid" is "$LR" .status.pid "$LRPID"
	check "adopt: long-running pod not restarted" is "$LR" .status.restarts 0
	check "adopt: long-running pod running" is "$LR" .status.phase running
	delete_all "$NV" "$OF" "$LR"
fi

# -- 2. containers that exit at once still report their exit
if want short; then
	names=()
	for i in $(seq 1 10); do
		n="${TK_P}-true$i"
		names+=("$n")
		cat >"$TK_T/$n.json" <<JSON
{"name": "$n", "restart": "never", "network": "none",
 "containers": [{"name": "c", "image": "$IMG", "command": ["/bin/true"]}]}
JSON
		tankctl apply -f "$TK_T/$n.json" >/dev/null
	done
	all_done() {
		for n in "${names[@]}"; do
			[ "$(js "$n" .status.phase)" = terminated ] || return 1
			[ "$(js "$n" .status.last_exit.code)" = 0 ] || return 1
		done
	}
	if wait_for 30 all_done; then ok "short: 10 /bin/true pods terminated with code 0"; else
		not_ok "short: 10 /bin/true pods terminated with code 0"
		for n in "${names[@]}"; do say "       | $n $(js "$n" '[.status.phase, .status.last_exit.code] | @tsv')"; done
	fi
	delete_all "${names[@]}"
fi

# -- 3. a SIGKILL of tankd during a log burst changes nothing for the pods
if want burst; then
	names=()
	mkdir -p "$TK_T/go"
	for i in $(seq 1 20); do
		n="${TK_P}-burst$i"
		names+=("$n")
		# the burst starts when the test says go, so tankd dies in the middle of it
		cat >"$TK_T/$n.json" <<JSON
{"name": "$n", "restart": "always", "network": "none",
 "volumes": [{"name": "go", "host_path": "$TK_T/go"}],
 "containers": [{"name": "c", "image": "$IMG", "stop_grace": "0s",
   "mounts": [{"volume": "go", "path": "/go", "read_only": true}],
   "command": ["sh", "-c", "while [ ! -e /go/go ]; do sleep 0.05; done; i=0; while [ \$i -lt 20000 ]; do echo line \$i; i=\$((i+1)); done; sleep 1000"]}]}
JSON
		tankctl apply -f "$TK_T/$n.json" >/dev/null
	done
	for n in "${names[@]}"; do
		tankctl wait pod "$n" --for running --timeout 60s >/dev/null || not_ok "burst: $n running"
	done
	declare -A pids
	for n in "${names[@]}"; do pids[$n]=$(js "$n" .status.pid); done
	touch "$TK_T/go/go"
	sleep 0.3
	tk_stop_tankd KILL
	mid=$(cat "$TK_T"/data/logs/"${TK_P}"-burst*/c.log 2>/dev/null | wc -l)
	say "# tankd killed mid-burst: $mid of 400000 lines logged"
	tk_start_tankd || exit 1 # at once: adoption happens during the burst too
	seq 0 19999 | sed 's/^/line /' >"$TK_T/burst.want"
	burst_logged() { for n in "${names[@]}"; do
		[ "$(tail -n1 "$TK_T/data/logs/$n/c.log" 2>/dev/null | cut -d' ' -f4-)" = "line 19999" ] || return 1
	done; }
	check "burst: every pod logged its last line" wait_for 60 burst_logged
	bad=0
	for n in "${names[@]}"; do
		if [ "$(js "$n" .status.pid)" != "${pids[$n]}" ] || [ "$(js "$n" .status.restarts)" != 0 ] ||
			[ "$(js "$n" .status.phase)" != running ]; then
			bad=$((bad + 1))
			say "       | $n: $(js "$n" '[.status.phase, .status.pid, .status.restarts] | @tsv') (pid was ${pids[$n]})"
		fi
	done
	check "burst: 0 of 20 pods restarted (same pids, restarts 0)" test "$bad" = 0
	bad=0
	for n in "${names[@]}"; do
		tankctl logs "$n" >"$TK_T/burst.got" 2>"$TK_T/burst.err"
		if ! cmp -s "$TK_T/burst.want" "$TK_T/burst.got"; then
			bad=$((bad + 1))
			say "       | $n: $(wc -l <"$TK_T/burst.got") lines, $(sort "$TK_T/burst.got" | uniq -d | wc -l) repeated, first difference: $(diff "$TK_T/burst.want" "$TK_T/burst.got" | head -n 3 | tr '\n' ' ')"
		fi
	done
	check "burst: tankctl logs shows lines 0..19999 once, in order, for all 20 pods" test "$bad" = 0
	delete_all "${names[@]}"
fi

# -- 4. a pod of two containers: each has its own state, restarts and back-off
# pod2 NAME RESTART CMD1 CMD2 [GRACE1 GRACE2]: containers "main" and "side"
pod2() {
	cat >"$TK_T/$1.json" <<JSON
{"name": "$1", "restart": "$2", "network": "none",
 "containers": [{"name": "main", "image": "$IMG", "stop_grace": "${5:-0s}", "command": ["sh", "-c", "$3"]},
                {"name": "side", "image": "$IMG", "stop_grace": "${6:-0s}", "command": ["sh", "-c", "$4"]}]}
JSON
	tankctl apply -f "$TK_T/$1.json" >/dev/null
}
if want multi; then
	M="${TK_P}-multi"
	pod2 "$M" on_failure "sleep 1000" "sleep 1; exit 3"
	check "multi: running" tankctl wait pod "$M" --for running --timeout 30s
	MPID=$(js "$M" '.status.containers[0].pid')
	INO=$(stat -L -c %i "/run/netns/tank-$M")
	side_in_backoff() { is "$M" '.status.containers[1].state' backoff; }
	check "multi: the exiting container waits in backoff" wait_for 10 side_in_backoff
	check "multi: the pod stays running meanwhile" is "$M" .status.phase running
	check "multi: exec into the sleeper while its sibling is in backoff" \
		sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' exec -c main $M -- echo hi | grep -qx hi"
	side_restarted() { [ "$(js "$M" '.status.containers[1].restarts')" -ge 2 ]; }
	check "multi: only the exiting container restarts" wait_for 15 side_restarted
	check "multi: the sleeper keeps its pid" is "$M" '.status.containers[0].pid' "$MPID"
	check "multi: the sleeper was not restarted" is "$M" '.status.containers[0].restarts' 0
	check "multi: the sleeper's state is running" is "$M" '.status.containers[0].state' running
	check "multi: side's last exit is code 3" is "$M" '.status.containers[1].last_exit.code' 3
	check "multi: pod restarts is the sum" is "$M" '.status.restarts' "$(js "$M" '[.status.containers[].restarts] | add')"
	check "multi: the pod netns is the same" test "$(stat -L -c %i "/run/netns/tank-$M")" = "$INO"
	# the per-container counts survive a SIGKILL of tankd
	SR=$(js "$M" '.status.containers[1].restarts')
	tk_stop_tankd KILL
	tk_start_tankd || exit 1
	check "multi: after a tankd restart the sleeper keeps its pid" is "$M" '.status.containers[0].pid' "$MPID"
	check "multi: ... and side keeps its restart count ($SR)" \
		test "$(js "$M" '.status.containers[1].restarts')" -ge "$SR"
	check "multi: ... and the sleeper's is still 0" is "$M" '.status.containers[0].restarts' 0
	delete_all "$M"

	M="${TK_P}-multin"
	pod2 "$M" never "sleep 6" "exit 3"
	check "multi never: running" tankctl wait pod "$M" --for running --timeout 30s
	side_done() { is "$M" '.status.containers[1].state' terminated; }
	check "multi never: the exited container is terminated" wait_for 10 side_done
	check "multi never: the pod runs while the sleeper does" is "$M" .status.phase running
	check "multi never: the sleeper runs" is "$M" '.status.containers[0].state' running
	check "multi never: its last exit is code 3" is "$M" '.status.containers[1].last_exit.code' 3
	tk_stop_tankd KILL
	tk_start_tankd || exit 1
	check "multi never: after a tankd restart the pod still runs" is "$M" .status.phase running
	check "multi never: ... and the exited container is still terminated, code 3" \
		is "$M" '[.status.containers[1].state, .status.containers[1].last_exit.code] | @tsv' "$(printf 'terminated\t3')"
	m_done() { is "$M" .status.phase terminated; }
	check "multi never: terminated once the sleeper is done" wait_for 10 m_done
	check "multi never: the pod's last exit is the most recent (code 0)" is "$M" .status.last_exit.code 0
	check "multi never: no restarts" is "$M" .status.restarts 0
	delete_all "$M"

	# each container gets its own stop_grace on delete (both ignore SIGTERM as pid 1)
	M="${TK_P}-grace"
	pod2 "$M" always "exec sleep 1000" "exec sleep 1000" 1s 6s
	check "grace: running" tankctl wait pod "$M" --for running --timeout 30s
	GP=$(js "$M" '.status.containers[0].pid')
	SP=$(js "$M" '.status.containers[1].pid')
	check "grace: the container pid is visible on the host" kill -0 "$GP"
	t0=$(date +%s%N)
	timeout 60 "$TK_BUILD/tankctl" --socket "$TK_SOCK" delete pod "$M" --wait >/dev/null &
	DEL=$!
	gone() { ! kill -0 "$GP" 2>/dev/null; }
	wait_for 15 gone
	# the sibling (6s grace) must still be there when the 1s container is gone: each gets
	# its own grace (with the largest for all, both would go at 6 s)
	kill -0 "$SP" 2>/dev/null
	side_alive=$?
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	wait "$DEL"
	total=$(( ($(date +%s%N) - t0) / 1000000 ))
	say "# grace: main (1s) gone after $ms ms, delete of the pod (side 6s) took $total ms"
	check "grace: the 1s container is killed after its own grace, while its 6s sibling still runs" test "$side_alive" -eq 0
	check "grace: the 6s container gets its 6s" test "$total" -ge 5500
fi

# -- 5. a terminated pod keeps its shim, netns and cgroups until deleted; delete removes all
if want delete; then
	names=()
	for i in $(seq 1 8); do
		n="${TK_P}-term$i"
		names+=("$n")
		pod "$n" never "exit 0"
	done
	all_term() { for n in "${names[@]}"; do is "$n" .status.phase terminated || return 1; done; }
	check "delete: 8 pods terminated" wait_for 30 all_term
	n=${names[0]}
	SP=$(js "$n" .status.shim_pid)
	check "delete: a terminated pod keeps its shim" grep -q tank-shim "/proc/$SP/cmdline"
	check "delete: ... and its netns" test -e "/run/netns/tank-$n"
	check "delete: ... and its cgroups" test -d "/sys/fs/cgroup/memory/$TK_CG/$n"
	declare -A shims
	for n in "${names[@]}"; do shims[$n]=$(js "$n" .status.shim_pid); done
	delete_all "${names[@]}"
	left=
	for n in "${names[@]}"; do
		grep -qs tank-shim "/proc/${shims[$n]}/cmdline" && left="$left shim:$n"
		[ -e "/run/netns/tank-$n" ] && left="$left netns:$n"
		for d in /sys/fs/cgroup/*/"$TK_CG/$n" /sys/fs/cgroup/unified/"$TK_CG/$n"; do
			[ -d "$d" ] && left="$left $d"
		done
		[ -e "$TK_T/run/pods/$n" ] && left="$left run/pods/$n:$(ls "$TK_T/run/pods/$n" | tr '\n' ,)"
	done
	check "delete --wait leaves no shim, netns, cgroup or run dir${left:+ (left:$left)}" test -z "$left"
fi

# -- 6. delete stops with the image's StopSignal, the spec's stop_signal over it, SIGKILL after
#       stop_grace; what arrived is read from the Exited event (a trap exits with its own code)
if want stop; then
	cp -a "$TK_T/img" "$TK_T/img-usr1"
	umoci config --image "$TK_T/img-usr1:1.0" --config.stopsignal SIGUSR1 >/dev/null
	TRAPS='trap \"echo got-USR1; exit 41\" USR1; trap \"echo got-INT; exit 42\" INT; trap \"echo got-TERM; exit 43\" TERM; echo ready; while :; do sleep 0.1; done'
	# stoppod NAME IMAGE EXTRA-JSON COMMAND
	stoppod() {
		cat >"$TK_T/$1.json" <<JSON
{"name": "$1", "restart": "always", "network": "none",
 "containers": [{"name": "c", "image": "$2" $3, "command": ["sh", "-c", "$4"]}]}
JSON
		tankctl apply -f "$TK_T/$1.json" >/dev/null && tankctl wait pod "$1" --for running --timeout 30s >/dev/null &&
			wait_for 10 sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' logs $1 | grep -q ready"
	}
	exited() { tankctl events "$1" -o json | jq -rs '[.[] | select(.reason == "Exited")] | last | .message'; }
	evtime() { date -d "$(tankctl events "$1" -o json | jq -rs --arg r "$2" '[.[] | select(.reason == $r)] | last | .time')" +%s; }

	S="${TK_P}-sigimg"
	check "stop: a pod whose image says StopSignal SIGUSR1" stoppod "$S" "oci:$TK_T/img-usr1:1.0" ', "stop_grace": "10s"' "$TRAPS"
	check "stop: delete --wait" tankctl delete pod "$S" --wait
	check "stop: the workload got SIGUSR1 (its trap's exit code 41)" test "$(exited "$S")" = "container c exited (code 41)"

	S="${TK_P}-sigspec"
	check "stop: the spec's stop_signal SIGINT over the image's" stoppod "$S" "oci:$TK_T/img-usr1:1.0" ', "stop_grace": "10s", "stop_signal": "SIGINT"' "$TRAPS"
	tankctl delete pod "$S" --wait >/dev/null
	check "stop: the workload got SIGINT (exit code 42)" test "$(exited "$S")" = "container c exited (code 42)"

	S="${TK_P}-sigdef"
	check "stop: a pod with neither: SIGTERM" stoppod "$S" "$IMG" ', "stop_grace": "10s"' "$TRAPS"
	tankctl delete pod "$S" --wait >/dev/null
	check "stop: the workload got SIGTERM (exit code 43)" test "$(exited "$S")" = "container c exited (code 43)"

	S="${TK_P}-sigign"
	check "stop: a workload that ignores its stop signal" stoppod "$S" "oci:$TK_T/img-usr1:1.0" ', "stop_grace": "2s"' \
		'trap \"echo ignored\" USR1; echo ready; while :; do sleep 0.1; done'
	tankctl delete pod "$S" --wait >/dev/null
	check "stop: it is SIGKILLed after stop_grace" test "$(exited "$S")" = "container c exited (signal 9)"
	took=$(( $(evtime "$S" Exited) - $(evtime "$S" Stopping) ))
	say "# stop: Stopping -> Exited took $took s (event times, 1 s resolution) with stop_grace 2s"
	check "stop: ... not before 2 s and well before 10 s (from the events: $took s)" test "$took" -ge 2 -a "$took" -lt 10
fi

tk_finish
