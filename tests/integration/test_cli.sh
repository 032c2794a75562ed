#!/usr/bin/env bash
# test_cli.sh - the control plane as an operator drives it: describe, wait, restart, events -w,
# version, completion, --help; the API fed garbage and oversized frames while a normal client
# keeps working.
set -u
. "$(dirname "$0")/lib.sh"
# a throwaway group and user of this run: the group may use the API (socket_group), the user
# is in it only as a supplementary group (so SO_PEERGROUPS is what lets it in)
TK_GRP="tk${TK_ID}g"
TK_USR="tk${TK_ID}u"
cli_cleanup() {
	[ "$BASHPID" = "$TK_ID" ] || return 0
	tk_cleanup
	userdel "$TK_USR" 2>/dev/null
	groupdel "$TK_GRP" 2>/dev/null
}
trap cli_cleanup EXIT
groupadd "$TK_GRP" && useradd -M -N -g nogroup -G "$TK_GRP" -s /usr/sbin/nologin "$TK_USR" || exit 1
TK_CONF_EXTRA="socket_group = $TK_GRP
pool.lan.subnet = 198.18.40.0/24
pool.lan6.subnet = 2001:db8:40::/64"
tk_start

POD="${TK_P}-cli"
R="$TK_T/rootfs"
mkdir -p "$R/bin" "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/tmp"
cp /bin/busybox "$R/bin/"
for a in sh sleep echo cat; do ln -s busybox "$R/bin/$a"; done
cat >"$TK_T/cli.json" <<JSON
{"name": "$POD", "restart": "always", "network": "none",
 "containers": [{"name": "main", "image": {"rootfs": "$R"}, "command": ["sleep", "1000"]}]}
JSON

# -- who may use the API: root, members of socket_group; others get a clear refusal
chmod 0711 "$TK_T" # the socket lives below it
cp "$TK_BUILD/tankctl" "$TK_T/tankctl" && chmod 0755 "$TK_T/tankctl"
as_user() { setpriv --reuid "$1" --regid "$(id -g "$1")" --init-groups "$TK_T/tankctl" --socket "$TK_SOCK" "${@:2}"; }
check "the socket belongs to socket_group" test "$(stat -c '%G %a' "$TK_SOCK")" = "$TK_GRP 660"
check "a member of socket_group (supplementary) uses the API" as_user "$TK_USR" get pods
as_user nobody get pods >"$TK_T/nobody.out" 2>&1
check "others are refused with exit 1" test $? -eq 1
check "... and a clear message" grep -q "permission denied: tankd's API at .* is for root and members of group $TK_GRP" "$TK_T/nobody.out"
# past the file mode (a socket opened up by hand), tankd's own peer check still refuses
chmod 0666 "$TK_SOCK"
as_user nobody get pods >"$TK_T/nobody2.out" 2>&1
check "tankd refuses a peer outside the group, exit 1" test $? -eq 1
check "... saying who may" grep -q "permission denied: tankd's API is for root and members of group $TK_GRP" "$TK_T/nobody2.out"
check "the member still gets in" as_user "$TK_USR" info
# a directory account in hundreds of groups (more than tankd's first SO_PEERGROUPS buffer)
grps=$(seq -s, 70001 70300),$(getent group "$TK_GRP" | cut -d: -f3)
setpriv --reuid "$TK_USR" --regid "$(id -g "$TK_USR")" --groups "$grps" "$TK_T/tankctl" \
	--socket "$TK_SOCK" info >/dev/null 2>&1
check "a member in 301 supplementary groups gets in" test $? -eq 0
chmod 0660 "$TK_SOCK"

check "--help lists the commands" sh -c "'$TK_BUILD/tankctl' --help | grep -q 'describe pod NAME'"
check "per-command --help" sh -c "'$TK_BUILD/tankctl' wait --help | grep -q -- '--for running|terminated|deleted'"
check "completion bash is a completion script" sh -c "'$TK_BUILD/tankctl' completion bash | grep -q 'complete -F _tankctl tankctl'"
check "version names both sides" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' version | grep -q '^tankd   0'"
check "tankd --version reports the BPF attach mode" sh -c "'$TK_BUILD/tankd' --config '$TK_T/tankd.conf' --version | grep -Eq '^bpf attach: (tcx|tc)'"
check "... and leaves no probe pins behind" sh -c "! ls /sys/fs/bpf | grep -q tank-probe-"
check "info reports kernel features" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' info -o json | jq -e '.bpf_attach and .cgroups'"

# -- every problem at once, each with its path: spec syntax and host facts (netkit, pools) together
cat >"$TK_T/bad3.json" <<JSON
{"name": "Bad_Name", "network": {"nics": [
  {"name": "eth0", "mode": "netkit", "ip": {"ipam": "lan"}},
  {"name": "eth1", "mode": "veth", "ip": [{"ipam": "lan6"}, {"ipam": "nosuch"}]}]},
 "containers": [{"name": "main", "image": {"rootfs": "$R"}}]}
JSON
tankctl apply -f "$TK_T/bad3.json" >"$TK_T/bad3.out" 2>&1
check "a spec with three problems exits 1" test $? -eq 1
check "... the bad name is reported" grep -q '^  name: "Bad_Name": ' "$TK_T/bad3.out"
check "... the unknown pool, with its path and the configured ones" \
	grep -qF '  network.nics[1].ip[1].ipam: unknown pool "nosuch" (configured: lan, lan6)' "$TK_T/bad3.out"
if tankctl info -o json | jq -e '.netkit | startswith("yes")' >/dev/null; then
	say "skip - netkit refusal: this kernel has netkit"
	n_bad=2
else
	check "... netkit refused at its path, in the same reply" \
		grep -qF '  network.nics[0].mode: "netkit": this kernel has no netkit links' "$TK_T/bad3.out"
	n_bad=3
fi
check "... -o json lists exactly those problems" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' apply -f '$TK_T/bad3.json' -o json | jq -se '.[0].error.code == \"invalid\" and (.[0].error.details | length) == $n_bad'"
check "... nothing was stored" sh -c "! ls '$TK_T/data/store/pods/' | grep -qi bad_name"

# events -w in the background sees the pod's life
"$TK_BUILD/tankctl" --socket "$TK_SOCK" events -w -o json >"$TK_T/events.jsonl" 2>&1 &
EVPID=$!
sleep 0.2
check "apply a rootfs pod" tankctl apply -f "$TK_T/cli.json"
check "wait --for running" tankctl wait pod "$POD" --for running --timeout 20s
check "wait -o json prints JSON" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' wait pod $POD --for running -o json | jq -e '.state == \"running\" and .object.status.phase == \"running\"'"
check "wait -o json: a timeout is a JSON error" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' wait pod $POD --for terminated --timeout 200ms -o json | jq -e '.ok == false and .error.code == \"timeout\"'"
tankctl describe pod "$POD" >"$TK_T/describe.txt"
check "describe shows status, containers and events" sh -c "grep -q '^Status: *running' '$TK_T/describe.txt' && grep -q 'main.*running' '$TK_T/describe.txt' && grep -q 'Started' '$TK_T/describe.txt'"
check "describe summarises the spec" sh -c "grep -q '^Network: *none' '$TK_T/describe.txt' && grep -q '^Container main:' '$TK_T/describe.txt' && grep -q '^  Image: *$R' '$TK_T/describe.txt' && grep -q '^  Command: *sleep 1000' '$TK_T/describe.txt'"
check "describe -o json" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' describe pod $POD -o json | jq -e '.pod.status.phase == \"running\" and (.events | length) > 0'"
check "wait times out with a reason" sh -c "! '$TK_BUILD/tankctl' --socket '$TK_SOCK' wait pod $POD --for terminated --timeout 300ms 2>&1 | grep -q 'timed out'; '$TK_BUILD/tankctl' --socket '$TK_SOCK' wait pod $POD --for terminated --timeout 300ms 2>&1 | grep -q 'it is running'"
pid1=$(tankctl get pod "$POD" -o json | jq .status.pid)
check "restart pod" tankctl restart pod "$POD"
check "running again after restart" tankctl wait pod "$POD" --for running --timeout 20s
sleep 0.3
pid2=$(tankctl get pod "$POD" -o json | jq .status.pid)
check "restart gave a new process" test "$pid1" != "$pid2" -a "$pid2" != 0
check "restart counted" test "$(tankctl get pod "$POD" -o json | jq .status.restarts)" -ge 1

# garbage on the API socket never hurts tankd; a normal client keeps working
python3 - "$TK_SOCK" >"$TK_T/garbage.out" 2>&1 <<'PY'
import socket, struct, sys, json
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(path); return s
# 1. not JSON
s = conn(); body = b"\x00garbage{"; s.sendall(struct.pack(">I", len(body)) + body)
hdr = s.recv(4); print("garbage reply", len(hdr) == 4 and b"invalid" in s.recv(65536))
# 2. oversized frame header: refused, connection closed
s = conn(); s.sendall(struct.pack(">I", 64 << 20) + b"{}")
data = s.recv(65536); print("oversize reply", b"bad frame" in data)
# 3. a half frame then silence: other clients are not blocked
s3 = conn(); s3.sendall(struct.pack(">I", 100) + b"{\"op\"")
# 4. a normal request on another connection
s = conn(); body = json.dumps({"version": 1, "op": "info"}).encode()
s.sendall(struct.pack(">I", len(body)) + body)
n = struct.unpack(">I", s.recv(4))[0]; rep = b""
while len(rep) < n: rep += s.recv(n - len(rep))
print("normal client ok", json.loads(rep)["ok"])
# 5. JSON that is not an object, unknown op, wrong version
for req in (b"[1,2]", b'{"version":1,"op":"frobnicate"}', b'{"version":99,"op":"info"}'):
    s = conn(); s.sendall(struct.pack(">I", len(req)) + req)
    n = struct.unpack(">I", s.recv(4))[0]; rep = json.loads(s.recv(n)); print("error reply", rep["ok"] is False)
# 6. no version: refused, saying what is missing
s = conn(); req = b'{"op":"info"}'; s.sendall(struct.pack(">I", len(req)) + req)
n = struct.unpack(">I", s.recv(4))[0]; rep = json.loads(s.recv(n))
print("noversion reply", rep["ok"] is False and '"version"' in rep["error"]["message"])
# 7. specs over the 1 MiB limit, straight to the socket: refused as invalid, nothing stored
for size in (1500000, 2500000):
    spec = {"name": "big%d" % size, "network": "none",
            "containers": [{"name": "c", "image": "busybox", "env": {"A": "x" * size}}]}
    body = json.dumps({"version": 1, "op": "apply", "spec": spec}).encode()
    s = conn(); s.sendall(struct.pack(">I", len(body)) + body)
    n = struct.unpack(">I", s.recv(4))[0]; rep = b""
    while len(rep) < n: rep += s.recv(n - len(rep))
    rep = json.loads(rep)
    print("big spec", size, rep["ok"] is False and rep["error"]["code"] == "invalid"
          and "1 MiB" in rep["error"]["message"])
PY
check "garbage answered with an error" grep -q 'garbage reply True' "$TK_T/garbage.out"
check "oversized frame refused" grep -q 'oversize reply True' "$TK_T/garbage.out"
check "a stalled client does not block others" grep -q 'normal client ok True' "$TK_T/garbage.out"
check "bad requests get error replies" test "$(grep -c 'error reply True' "$TK_T/garbage.out")" -eq 3
check "tankd still alive after garbage" kill -0 "$TK_TANKD_PID"
check "a request without version is refused" grep -q 'noversion reply True' "$TK_T/garbage.out"
check "a 1.5 MB spec is refused as invalid (limit 1 MiB)" grep -q 'big spec 1500000 True' "$TK_T/garbage.out"
check "a 2.5 MB spec is refused as invalid (limit 1 MiB)" grep -q 'big spec 2500000 True' "$TK_T/garbage.out"
check "oversized specs were not stored" sh -c "! ls '$TK_T/data/store/pods/' | grep -q big"

# -- a damaged store record holds its pod: never deleted or touched, shown as damaged, one event
pid3=$(tankctl get pod "$POD" -o json | jq .status.pid)
printf 'x' >>"$TK_T/data/store/pods/$POD.json"
sleep 2.5 # resync_interval is 500 ms: several passes
check "damaged record: the pod keeps running (same pid)" sh -c "kill -0 $pid3 && test \"\$('$TK_BUILD/tankctl' --socket '$TK_SOCK' get pod $POD -o json | jq .status.pid)\" = $pid3"
check "damaged record: get pods shows STATUS damaged" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' get pods | grep -E '^$POD +damaged '"
check "damaged record: -o json has an error naming the file" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' get pods -o json | jq -e '.[] | select(.name == \"$POD\") | .status.phase == \"damaged\" and (.error | contains(\"$POD.json\"))'"
check "damaged record: one StoreDamaged event that says how to fix it" sh -c "test \$('$TK_BUILD/tankctl' --socket '$TK_SOCK' events $POD -o json | jq -s '[.[] | select(.reason == \"StoreDamaged\")] | length') -eq 1 && '$TK_BUILD/tankctl' --socket '$TK_SOCK' events $POD | grep StoreDamaged | grep -q 're-apply'"
check "damaged record: the warning is logged once, not every pass" test "$(grep -c 'StoreDamaged' "$TK_T/tankd.log")" -eq 1
check "damaged record: re-apply repairs it" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' apply -f '$TK_T/cli.json' | grep -q 'pod/$POD configured'"
sleep 1
check "repaired: running again, same process" sh -c "test \"\$('$TK_BUILD/tankctl' --socket '$TK_SOCK' get pod $POD -o json | jq -r '.status.phase + \" \" + (.status.pid | tostring)')\" = 'running $pid3'"
check "repaired: get pods shows it running" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' get pods | grep -E '^$POD +running '"

# -- colour: STATUS and Warning events on a terminal only; never in a pipe or in -o json
ESC=$(printf '\033')
no_esc() { ! grep -q "$ESC" "$1"; }
tankctl get pods >"$TK_T/pipe-get.out"
tankctl events "$POD" >"$TK_T/pipe-ev.out"
check "piped get pods has no escape sequences" no_esc "$TK_T/pipe-get.out"
check "piped events have no escape sequences" no_esc "$TK_T/pipe-ev.out"
check "... even with a Warning among them" grep -q 'Warning' "$TK_T/pipe-ev.out"
on_tty() { TERM=${TERM_OVERRIDE:-xterm} script -qec "'$TK_BUILD/tankctl' --socket '$TK_SOCK' $*" /dev/null </dev/null; }
if script -qec true /dev/null </dev/null >/dev/null 2>&1; then
	on_tty get pods >"$TK_T/tty-get.out"
	on_tty events "$POD" >"$TK_T/tty-ev.out"
	on_tty get pods -o json >"$TK_T/tty-json.out"
	NO_COLOR=1 on_tty get pods >"$TK_T/tty-nocolor.out"
	TERM_OVERRIDE=dumb on_tty get pods >"$TK_T/tty-dumb.out"
	check "on a terminal, running is green" grep -qF "${ESC}[32mrunning    ${ESC}[0m" "$TK_T/tty-get.out"
	check "on a terminal, a Warning event is yellow" sh -c "grep StoreDamaged '$TK_T/tty-ev.out' | grep -qF '${ESC}[33m'"
	check "on a terminal, a Normal event is plain" sh -c "grep Started '$TK_T/tty-ev.out' | grep -vq '$ESC'"
	check "-o json on a terminal has no escape sequences" no_esc "$TK_T/tty-json.out"
	check "NO_COLOR turns colour off" no_esc "$TK_T/tty-nocolor.out"
	check "TERM=dumb turns colour off" no_esc "$TK_T/tty-dumb.out"
	check "... and still shows the table" grep -q "^$POD  *running" "$TK_T/tty-dumb.out"
else
	say "skip - colour on a terminal: util-linux script(1) is not available"
fi

check "delete --wait" tankctl delete pod "$POD" --wait
check "wait --for deleted on a gone pod" tankctl wait pod "$POD" --for deleted --timeout 2s
sleep 0.3
kill "$EVPID" 2>/dev/null; wait "$EVPID" 2>/dev/null
for reason in Applied Started RestartRequested Stopping Deleted; do
	check "events -w streamed $reason" grep -q "\"reason\": *\"$reason\"" "$TK_T/events.jsonl"
done
check "events of one pod" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events $POD | grep -q Deleted"

# -- apply a directory: each file on its own, a bad one does not stop the others
mkdir -p "$TK_T/dir"
sed "s/\"$POD\"/\"${TK_P}-d1\"/" "$TK_T/cli.json" >"$TK_T/dir/a.json"
echo '{"name": "x", "containers": [{"name": "c"}]}' >"$TK_T/dir/b.json"
tankctl apply -f "$TK_T/dir" >"$TK_T/dir.out" 2>&1
check "apply -f DIR exits 1 when a file is bad" test $? -eq 1
check "apply -f DIR applied the good file" grep -q "pod/${TK_P}-d1 created" "$TK_T/dir.out"
check "apply -f DIR names the bad file" grep -q "in $TK_T/dir/b.json" "$TK_T/dir.out"
check "get pods -o wide shows NICs and image" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' get pods -o wide | grep -E '^${TK_P}-d1 .* lo +/'"
check "delete it" tankctl delete pod "${TK_P}-d1" --wait

# -- several pods at once: a stream of documents, a JSON array, repeated -f; one line per pod
mspec() { sed "s/\"$POD\"/\"${TK_P}-$1\"/" "$TK_T/cli.json"; }
{ mspec m1; mspec m2; } | tankctl apply -f - >"$TK_T/multi1.out" 2>&1
rc=$?
check "apply: two JSON documents on stdin" sh -c "test $rc -eq 0 && grep -qx 'pod/${TK_P}-m1 created' '$TK_T/multi1.out' && grep -qx 'pod/${TK_P}-m2 created' '$TK_T/multi1.out'"
{ echo '['; mspec m3; echo ','; mspec m4; echo ']'; } >"$TK_T/array.json"
tankctl apply -f "$TK_T/array.json" >"$TK_T/multi2.out" 2>&1
check "apply: a JSON array of specs" sh -c "grep -qx 'pod/${TK_P}-m3 created' '$TK_T/multi2.out' && grep -qx 'pod/${TK_P}-m4 created' '$TK_T/multi2.out'"
mspec m5 >"$TK_T/m5.json"
mspec m6 >"$TK_T/m6.json"
tankctl apply -f "$TK_T/m5.json" -f "$TK_T/m6.json" -f "$TK_T/array.json" >"$TK_T/multi3.out" 2>&1
rc=$?
check "apply: repeated -f applies every file" sh -c "test $rc -eq 0 && grep -qx 'pod/${TK_P}-m5 created' '$TK_T/multi3.out' && grep -qx 'pod/${TK_P}-m6 created' '$TK_T/multi3.out' && grep -qx 'pod/${TK_P}-m3 unchanged' '$TK_T/multi3.out' && test \$(wc -l <'$TK_T/multi3.out') -eq 4"
{ mspec m1; echo '{"name": "bad", "bogus": 1}'; mspec m2; } >"$TK_T/mixed.json"
tankctl apply -f "$TK_T/mixed.json" >"$TK_T/multi4.out" 2>&1
check "apply: one bad spec among several exits 1" test $? -eq 1
check "... the others are applied, the bad one is named" sh -c "grep -qx 'pod/${TK_P}-m1 unchanged' '$TK_T/multi4.out' && grep -qx 'pod/${TK_P}-m2 unchanged' '$TK_T/multi4.out' && grep -q 'bogus' '$TK_T/multi4.out' && grep -q 'in $TK_T/mixed.json, document 2' '$TK_T/multi4.out'"
printf '%s\n{"name": ' "$(mspec m1)" | tankctl apply -f - >"$TK_T/multi5.out" 2>&1
check "apply: a truncated document exits 1" test $? -eq 1
check "... and is reported with its line" grep -q 'error: -: line [0-9]*, column' "$TK_T/multi5.out"
# the same spec in other units is unchanged; another value is configured
lspec() { mspec m7 | jq -c --arg cpu "$1" --arg mem "$2" '.containers[0].limits = {cpu: $cpu, memory: $mem}'; }
check "apply with cpu 0.5, memory 64Mi" sh -c "echo '$(lspec 0.5 64Mi)' | '$TK_BUILD/tankctl' --socket '$TK_SOCK' apply -f - | grep -qx 'pod/${TK_P}-m7 created'"
check "cpu 500m, memory 65536Ki is unchanged" sh -c "echo '$(lspec 500m 65536Ki)' | '$TK_BUILD/tankctl' --socket '$TK_SOCK' apply -f - | grep -qx 'pod/${TK_P}-m7 unchanged'"
check "cpu 1 is configured" sh -c "echo '$(lspec 1 64Mi)' | '$TK_BUILD/tankctl' --socket '$TK_SOCK' apply -f - | grep -qx 'pod/${TK_P}-m7 configured'"
for m in m1 m2 m3 m4 m5 m6 m7; do tankctl delete pod "${TK_P}-$m" >/dev/null; done
check "multi-apply pods deleted" wait_for 30 sh -c "! '$TK_BUILD/tankctl' --socket '$TK_SOCK' get pods | grep -q '${TK_P}-m'"

# -- boot seed: created when absent, never brought back over a runtime delete
mkdir -p "$TK_T/seed"
sed "s/\"$POD\"/\"${TK_P}-seed\"/" "$TK_T/cli.json" >"$TK_T/seed/seed.json"
echo '{"name": "broken", "bogus": 1}' >"$TK_T/seed/broken.json"
tk_stop_tankd TERM
# this run of tankd logs as if its stderr were the journal (systemd's JOURNAL_STREAM names
# stderr's DEV:INO): sd-daemon priorities, no timestamps of its own
log_mark=$(wc -l <"$TK_T/tankd.log")
export JOURNAL_STREAM="$(stat -c '%d:%i' "$TK_T/tankd.log")"
tk_start_tankd
unset JOURNAL_STREAM
check "seeded pod runs after a restart" tankctl wait pod "${TK_P}-seed" --for running --timeout 20s
check "a bad seed file is logged with its path" grep -q 'seed .*broken.json: bogus: unknown key' "$TK_T/tankd.log"
tail -n +"$((log_mark + 1))" "$TK_T/tankd.log" >"$TK_T/journal.log"
check "journal: an error line has priority <3> and no timestamp" grep -q '^<3>seed .*broken.json: bogus: unknown key' "$TK_T/journal.log"
check "journal: a pod's line has <6> and names the pod" grep -q "^<6>pod=${TK_P}-seed: Started" "$TK_T/journal.log"
check "journal: every line starts with a priority" sh -c "! grep -v '^<[3467]>' '$TK_T/journal.log'"
check "delete the seeded pod" tankctl delete pod "${TK_P}-seed" --wait
tk_stop_tankd TERM
tk_start_tankd
sleep 0.5
check "the same seed does not undo a runtime delete" sh -c "! '$TK_BUILD/tankctl' --socket '$TK_SOCK' get pod ${TK_P}-seed >/dev/null 2>&1"

# -- SIGHUP reloads timing and log level; a path change is reported, not applied
sed -i 's/^backoff_base = .*/backoff_base = 3s/; s/^run_dir = .*/run_dir = \/nonexistent/' "$TK_T/tankd.conf"
kill -HUP "$TK_TANKD_PID"
sleep 0.3
check "SIGHUP reloads the config" grep -q 'config reloaded (resync 500 ms, back-off 3000' "$TK_T/tankd.log"
check "SIGHUP reports what needs a restart" grep -q 'run_dir changed to /nonexistent' "$TK_T/tankd.log"
check "tankd keeps serving after SIGHUP" tankctl info

tk_finish
