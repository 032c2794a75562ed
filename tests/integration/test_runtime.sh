#!/usr/bin/env bash
# test_runtime.sh - a pod as an operator and an attacker see it through tankctl: default
# capabilities, seccomp and no_new_privs; exec with user, env, cwd and a pty; logs with tail,
# since, timestamps and follow; the log line cap (P records) and rotation set in tankd.conf;
# volumes (managed, host_path, tmpfs) and their lifetimes.
set -u
. "$(dirname "$0")/lib.sh"
trap tk_cleanup EXIT
TK_CONF_EXTRA="log_level = debug
log_max_line = 128
log_max_size = 16Ki
log_max_files = 3"
tk_start
"$TK_REPO/tools/mkimage-busybox.sh" "$TK_T/img" 1.0 >/dev/null || { not_ok "build image"; exit 1; }
IMG="oci:$TK_T/img:1.0"
POD="${TK_P}-rt"
mkdir -p "$TK_T/hostdir" && echo from-host >"$TK_T/hostdir/file"
cat >"$TK_T/rt.json" <<JSON
{"name": "$POD", "network": "none",
 "volumes": [{"name": "${TK_P}-data"}, {"name": "conf", "host_path": "$TK_T/hostdir"},
             {"name": "scratch", "tmpfs": "8Mi"}],
 "containers": [{"name": "app", "image": "$IMG", "stop_grace": "1s",
   "capabilities": {"add": ["NET_RAW"], "drop": ["CHOWN"]},
   "mounts": [{"volume": "${TK_P}-data", "path": "/data"},
              {"volume": "conf", "path": "/conf", "read_only": true},
              {"volume": "scratch", "path": "/scratch"}],
   "command": ["sh", "-c", "echo first line; echo to-stderr >&2; i=0; while true; do i=\$((i+1)); echo tick \$i; sleep 0.2; done"]}]}
JSON
check "apply" tankctl apply -f "$TK_T/rt.json"
check "running" tankctl wait pod "$POD" --for running --timeout 30s
ex() { tankctl exec "$POD" -- "$@"; }

# -- what an attacker finds
ex cat /proc/self/status >"$TK_T/status"
# podman's 11 capabilities, minus CHOWN, plus NET_RAW: 0x800425fa
check "effective capabilities: the default set with add/drop applied" grep -q '^CapEff:.*00000000800425fa' "$TK_T/status"
check "bounding set equals it" grep -q '^CapBnd:.*00000000800425fa' "$TK_T/status"
check "no_new_privs" grep -q '^NoNewPrivs:.*1' "$TK_T/status"
check "seccomp filter on" grep -q '^Seccomp:.*2' "$TK_T/status"
check "writing /proc/sys fails" sh -c "! '$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- sh -c 'echo 1 > /proc/sys/kernel/domainname' 2>/dev/null"
check "mknod fails" sh -c "! '$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- mknod /tmp/x c 1 3 2>/dev/null"
check "mount fails" sh -c "! '$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- mount -t tmpfs x /tmp 2>/dev/null"
check "masked /proc/kcore reads empty" sh -c "[ -z \"\$('$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- cat /proc/kcore 2>/dev/null | head -c 1)\" ]"
check "open files limited to 1024" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- sh -c 'ulimit -n' | grep -qx 1024"

# -- exec options
check "exec -u 1000:1000" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' exec -u 1000:1000 $POD -- id | grep -q 'uid=1000 gid=1000'"
check "exec -e and -w" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' exec -e FOO=bar -w /tmp $POD -- sh -c 'echo \$FOO \$(pwd)' | grep -qx 'bar /tmp'"
check "exec without -i reads nothing" sh -c "echo data | '$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- cat | wc -c | grep -qx 0"
check "exec -i passes stdin" sh -c "echo data | '$TK_BUILD/tankctl' --socket '$TK_SOCK' exec -i $POD -- cat | grep -qx data"
python3 - "$TK_BUILD/tankctl" "$TK_SOCK" "$POD" >"$TK_T/pty.out" 2>&1 <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "--socket", sys.argv[2], "exec", "-it", sys.argv[3], "--", "sh", "-c", "tty; stty size; exit 3"])
out = b""
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk: break
    out += chunk
_, status = os.waitpid(pid, 0)
print(out.decode(errors="replace")); print("EXIT", os.WEXITSTATUS(status))
PY
check "exec -it gets a pty" grep -q '/dev/pts/' "$TK_T/pty.out"
check "exec -it exit code" grep -q 'EXIT 3' "$TK_T/pty.out"

# -- volumes
check "host_path mounted read-only" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- cat /conf/file | grep -qx from-host && ! '$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- sh -c 'echo x > /conf/new' 2>/dev/null"
check "tmpfs volume with its size" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' exec $POD -- busybox df -k /scratch | grep -q ' 8192 '"
check "write to the managed volume" ex sh -c 'echo kept > /data/v'
check "managed volume is on the host under data_dir" test -f "$TK_T/data/volumes/${TK_P}-data/v"

# -- logs
sleep 0.6
check "logs show stdout and stderr" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' logs $POD 2>&1 | grep -q 'first line' && '$TK_BUILD/tankctl' --socket '$TK_SOCK' logs $POD 2>&1 >/dev/null | grep -q to-stderr"
check "logs --tail 1" sh -c "[ \$('$TK_BUILD/tankctl' --socket '$TK_SOCK' logs --tail 1 $POD 2>/dev/null | wc -l) -eq 1 ]"
check "logs --timestamps" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' logs --timestamps --tail 1 $POD | grep -Eq '^20[0-9-]+T[0-9:.]+Z tick'"
check "logs --since excludes old lines" sh -c "! '$TK_BUILD/tankctl' --socket '$TK_SOCK' logs --since 300ms $POD | grep -q 'first line'"
timeout 2 "$TK_BUILD/tankctl" --socket "$TK_SOCK" logs -f --tail 0 "$POD" >"$TK_T/follow.out" 2>&1
check "logs -f follows new lines" grep -q tick "$TK_T/follow.out"
check "the log file is CRI format" sh -c "head -n1 $TK_T/data/logs/$POD/app.log | grep -Eq '^[0-9-]+T[0-9:.]+Z stdout F first line$'"

# -- tankd.conf's log_max_line = 128: a longer line is P records then an F record, joined again
#    by tankctl logs; log_max_size = 16Ki, log_max_files = 3: rotation keeps three files
LP="${TK_P}-lines"
cat >"$TK_T/lines.json" <<JSON
{"name": "$LP", "network": "none", "restart": "never",
 "containers": [{"name": "c", "image": "$IMG",
   "command": ["sh", "-c", "l=; i=0; while [ \$i -lt 30 ]; do l=\${l}0123456789; i=\$((i+1)); done; echo start; echo \$l; echo end; sleep 1; i=0; while [ \$i -lt 600 ]; do echo filler-line-\$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=\$((i+1)); done; echo last"]}]}
JSON
tankctl apply -f "$TK_T/lines.json" >/dev/null
LONG=$(for i in $(seq 30); do printf 0123456789; done)
long_logged() { grep -q ' stdout F end$' "$TK_T/data/logs/$LP/c.log"* 2>/dev/null; }
check "long line: logged" wait_for 15 long_logged
check "long line: 300 bytes are P 128, P 128, F 44 in the CRI file" sh -c "grep -h -A4 ' stdout F start\$' $TK_T/data/logs/$LP/c.log* | cut -d' ' -f3- | awk '{print \$1, length(\$2)}' | tr '\n' ' ' | grep -qx 'F 5 P 128 P 128 F 44 F 3 '"
check "long line: tankctl logs joins it into one line" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' logs $LP | grep -qx '$LONG'"
check "long line: the pod ends" tankctl wait pod "$LP" --for terminated --timeout 30s
check "rotation: three files (c.log, c.log.1, c.log.2), no fourth" sh -c "ls $TK_T/data/logs/$LP/ | tr '\n' ' ' | grep -qx 'c.log c.log.1 c.log.2 '"
check "rotation: each file within 16Ki" sh -c "[ \$(stat -c %s $TK_T/data/logs/$LP/c.log* | sort -n | tail -n1) -le 16384 ]"
check "rotation: the last line is in the current file" sh -c "tail -n1 $TK_T/data/logs/$LP/c.log | grep -q ' F last\$'"
check "rotation: tankctl logs still ends with it" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' logs --tail 1 $LP | grep -qx last"
tankctl delete pod "$LP" --wait >/dev/null

# -- the managed volume outlives the pod; a missing host_path is a clear status
check "delete" tankctl delete pod "$POD" --wait
check "managed volume kept after delete" test -f "$TK_T/data/volumes/${TK_P}-data/v"
sed "s|$TK_T/hostdir|$TK_T/nonexistent|" "$TK_T/rt.json" >"$TK_T/rt2.json"
tankctl apply -f "$TK_T/rt2.json" >/dev/null
check "missing host_path: backoff with the reason" wait_for 15 sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' get pod $POD -o json | jq -e '.status.message | test(\"host_path .* does not exist\")'"
tankctl delete pod "$POD" --wait >/dev/null
rm -rf "$TK_T/data/volumes"
tk_finish
