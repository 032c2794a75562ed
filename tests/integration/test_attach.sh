#!/usr/bin/env bash
# test_attach.sh - `tankctl attach` to a tty container through tankd on a real pty: type and
# read, one attacher at a time, Ctrl-P Ctrl-Q and --detach-keys detach, an exit ends attach and
# the restart policy brings the container back; exec of a missing or non-executable command
# exits 127 or 126 with the reason on stderr.
set -u
. "$(dirname "$0")/lib.sh"
trap tk_cleanup EXIT
tk_start
"$TK_REPO/tools/mkimage-busybox.sh" "$TK_T/img" 1.0 >/dev/null || { not_ok "build image"; exit 1; }
IMG="oci:$TK_T/img:1.0"
POD="${TK_P}-att"
cat >"$TK_T/att.json" <<JSON
{"name": "$POD", "network": "none", "restart": "always",
 "containers": [{"name": "sh", "image": "$IMG", "tty": true, "stop_grace": "0s",
                 "command": ["sh"]}]}
JSON
check "apply a tty pod running sh" tankctl apply -f "$TK_T/att.json"
check "running" tankctl wait pod "$POD" --for running --timeout 30s
js() { tankctl get pod "$POD" -o json | jq -r "$1"; }
PID=$(js .status.pid)
harness() { python3 "$TK_REPO/tests/integration/attach_pty.py" "$TK_BUILD/tankctl" "$TK_SOCK" "$POD" "$@"; }

harness cmd >"$TK_T/a1.out" 2>&1
check "attach: a typed command's output comes back" grep -q '^SAW' "$TK_T/a1.out"
check "attach: a second attach is refused" grep -q '^SECOND rc=[1-9]' "$TK_T/a1.out"
check "attach: ...with a clear message" grep -q '^SECOND .*already has an attached client' "$TK_T/a1.out"
check "attach: Ctrl-P Ctrl-Q detaches with code 0" grep -qx 'EXIT 0' "$TK_T/a1.out"
check "attach: says it detached" grep -q 'detached from' "$TK_T/a1.out"
check "attach: the container still runs, same pid" sh -c "[ \"\$('$TK_BUILD/tankctl' --socket '$TK_SOCK' get pod $POD -o json | jq -r '.status.phase + \" \" + (.status.pid|tostring)')\" = 'running $PID' ]"

harness cmd --detach-keys ctrl-x,ctrl-y >"$TK_T/a2.out" 2>&1
check "attach --detach-keys: typed command works" grep -q '^SAW' "$TK_T/a2.out"
check "attach --detach-keys ctrl-x,ctrl-y detaches" grep -qx 'EXIT 0' "$TK_T/a2.out"
check "attach: still the same process" test "$(js .status.pid)" = "$PID"

harness exit >"$TK_T/a3.out" 2>&1
check "attach: the container's exit ends attach with its code" grep -qx 'EXIT 5' "$TK_T/a3.out"
restarted() { [ "$(js .status.phase)" = running ] && [ "$(js .status.restarts)" -ge 1 ] && [ "$(js .status.pid)" != "$PID" ]; }
check "attach: restart policy always brings it back" wait_for 30 restarted
check "attach: the exit code is recorded" test "$(js .status.last_exit.code)" = 5
harness cmd >"$TK_T/a4.out" 2>&1
check "attach: attach works on the restarted container" grep -q '^SAW' "$TK_T/a4.out"
for f in a1 a2 a3 a4; do [ "${TANK_VERBOSE:-}" = 1 ] && sed "s/^/$f | /" "$TK_T/$f.out"; done

# -- exec of a command that cannot be started: 127 not found, 126 not executable, as podman
ec() { tankctl exec "$POD" -- "$@" >"$TK_T/ec.out" 2>"$TK_T/ec.err"; echo $?; }
check "exec: a missing command exits 127" test "$(ec nosuchcmd)" = 127
check "exec: ... saying it was not found" grep -q 'nosuchcmd: not found' "$TK_T/ec.err"
check "exec: a missing absolute path exits 127" test "$(ec /bin/nosuch)" = 127
check "exec: ... with the reason" grep -q '/bin/nosuch: No such file or directory' "$TK_T/ec.err"
tankctl exec "$POD" -- sh -c 'echo "#!/bin/sh" > /tmp/noexec; chmod 644 /tmp/noexec' >/dev/null
check "exec: a file without x permission exits 126" test "$(ec /tmp/noexec)" = 126
check "exec: ... saying permission denied" grep -qi 'permission denied' "$TK_T/ec.err"
check "exec: a directory exits 126" test "$(ec /tmp)" = 126
check "exec: a command's own 127 is still its code" test "$(ec sh -c 'exit 127')" = 127
check "exec: a working command still exits 0" test "$(ec true)" = 0
tankctl exec -u ghost "$POD" -- true >/dev/null 2>"$TK_T/ec.err"
check "exec: an unknown user is an error, not 126/127 (code $?)" test $? = 1
check "exec: ... naming the user" grep -q 'no user "ghost"' "$TK_T/ec.err"

check "delete" tankctl delete pod "$POD" --wait
tk_finish
