#!/usr/bin/env bash
# test_images.sh - images through tankd as a user sees them: a pod from a registry on loopback
# (inside the test's own netns), tankctl pull with progress (plain and on a tty), registry
# Warning headers and error bodies, the pulling phase, pull always re-resolving a tag, images,
# rmi refused while a pod uses the image, prune, pull policy never (offline), image import of an
# OCI layout directory and of an oci-archive tar, the image_max_unpacked limit.
set -u
. "$(dirname "$0")/lib.sh"
REG=
cleanup() { [ -n "$REG" ] && kill "$REG" 2>/dev/null; tk_cleanup; }
trap cleanup EXIT
tk_start
# (background servers call nsenter directly, so that $! is their pid and cleanup kills them)
H() { nsenter --net="/run/netns/$TK_HOSTNS" "$@"; }
PORT=5055
mkdir -p "$TK_T/reg"
cat >"$TK_T/reg/config.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $TK_T/reg/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$PORT, secret: test}
YML
nsenter --net="/run/netns/$TK_HOSTNS" setsid docker-registry serve "$TK_T/reg/config.yml" >"$TK_T/reg/log" 2>&1 </dev/null &
REG=$!
wait_for 10 H curl -fsS "http://127.0.0.1:$PORT/v2/" || { not_ok "registry starts"; exit 1; }
"$TK_REPO/tools/mkimage-busybox.sh" "$TK_T/img" 1.0 >/dev/null || { not_ok "build image"; exit 1; }
H skopeo copy -q --dest-tls-verify=false "oci:$TK_T/img:1.0" "docker://127.0.0.1:$PORT/busybox:1.0" ||
	{ not_ok "push"; exit 1; }
REF="127.0.0.1:$PORT/busybox:1.0"
POD="${TK_P}-img"

tankctl pull "$REF" >"$TK_T/pull.out" 2>&1
check "tankctl pull" test $? -eq 0
check "pull off a tty: a plain line per layer download" grep -Eq '^[0-9a-f]{12} downloaded [0-9.]+ [KMG]?i?B( in [0-9.]+ s \([0-9.]+ MiB/s\))?$' "$TK_T/pull.out"
check "pull off a tty: a plain line per layer unpacked" grep -Eq '^[0-9a-f]{12} unpacked ' "$TK_T/pull.out"
no_ctl() { ! LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\n\t' <"$1"); }
check "pull off a tty: no control characters" no_ctl "$TK_T/pull.out"
summary_ok() {
	tail -n 1 "$1" | tr -d '\r' | grep -Eq "^pulled $REF \(sha256:[0-9a-f]{12}\) [0-9]+ layers?, [0-9.]+ [KMG]?i?B: download [0-9.]+ s, unpack [0-9.]+ s\$"
}
check "pull: the last line has the digest, size, download and unpack times" summary_ok "$TK_T/pull.out"
# on a terminal: one bar line per layer, redrawn in place, then "unpacked" on each
tankctl rmi "$REF" >/dev/null && tankctl image prune >/dev/null
if command -v script >/dev/null; then
	script -qec "'$TK_BUILD/tankctl' --socket '$TK_SOCK' pull '$REF'" /dev/null >"$TK_T/pull.tty" 2>&1
	check "pull on a tty" test $? -eq 0
	check "pull on a tty: a bar line per layer with bytes done/total" \
		grep -aEq '[0-9a-f]{12} \[[# ]+\] +[0-9.]+ [KMG]?i?B / [0-9.]+' "$TK_T/pull.tty"
	redrawn() { LC_ALL=C grep -aq "$(printf '\033')\[[0-9]*A" "$1"; }
	check "pull on a tty: the lines are redrawn in place (cursor up)" redrawn "$TK_T/pull.tty"
	check "pull on a tty: each layer ends unpacked" \
		test "$(grep -aEo '[0-9a-f]{12} unpacked' "$TK_T/pull.tty" | sort -u | wc -l)" -eq "$(grep -aEo '[0-9a-f]{12} downloading' "$TK_T/pull.out" | sort -u | wc -l)"
	check "pull on a tty: the summary line" summary_ok "$TK_T/pull.tty"
else
	say "skip - no script(1): the tty output is not tested"
fi
check "images lists it" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' images | grep -q '127.0.0.1:$PORT/busybox:1.0'"
check "images -o json" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' images -o json | jq -e 'length >= 1 and .[0].size > 0'"

cat >"$TK_T/p.json" <<JSON
{"name": "$POD", "network": "none",
 "containers": [{"name": "c", "image": "$REF", "command": ["sleep", "1000"], "stop_grace": "1s"}]}
JSON
check "a pod from the registry" tankctl apply -f "$TK_T/p.json"
check "it runs" tankctl wait pod "$POD" --for running --timeout 30s
check "rmi refused while the pod uses it" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' rmi $REF 2>&1 | grep -q 'used by pod $POD'"
check "prune keeps what the pod uses" tankctl image prune
check "the pod still runs its image" tankctl exec "$POD" -- true
check "delete the pod" tankctl delete pod "$POD" --wait
check "rmi" tankctl rmi "$REF"
check "prune frees the blobs" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' image prune | grep -Eq 'removed [1-9][0-9]* blobs'"
check "images is empty of it" sh -c "! '$TK_BUILD/tankctl' --socket '$TK_SOCK' images | grep -q 'busybox:1.0'"

# a registry front (python3): "warn" adds a Warning header to manifests, "slow" trickles blobs
cat >"$TK_T/proxy.py" <<'PY'
import http.client, http.server, socketserver, sys, time
mode, port, upstream = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        c = http.client.HTTPConnection(upstream, timeout=60)
        c.request("GET", self.path, headers={k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")})
        r = c.getresponse()
        body = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "keep-alive"):
                self.send_header(k, v)
        if mode == "warn" and "/manifests/" in self.path:
            self.send_header("Warning", '299 - "this image is deprecated"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        step = 32768 if mode == "slow" and "/blobs/" in self.path and len(body) > 100000 else len(body) or 1
        for i in range(0, len(body), step):
            self.wfile.write(body[i:i + step])
            self.wfile.flush()
            if step < len(body):
                time.sleep(0.1)
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
S(("127.0.0.1", port), H).serve_forever()
PY
PROXIES=()
cleanup() { for p in "${PROXIES[@]}"; do kill "$p" 2>/dev/null; done; [ -n "$REG" ] && kill "$REG" 2>/dev/null; tk_cleanup; }
start_proxy() { # MODE PORT
	nsenter --net="/run/netns/$TK_HOSTNS" python3 "$TK_T/proxy.py" "$1" "$2" "127.0.0.1:$PORT" >"$TK_T/proxy-$1.log" 2>&1 &
	PROXIES+=($!)
	wait_for 10 H curl -fsS "http://127.0.0.1:$2/v2/"
}
check "a proxy that adds a Warning header" start_proxy warn 5056
WREF="127.0.0.1:5056/busybox:1.0"
tankctl pull "$WREF" >"$TK_T/wpull.out" 2>"$TK_T/wpull.err"
check "pull through it" test $? -eq 0
check "pull: the registry's Warning reaches the user (stderr)" \
	grep -q "^warning: $WREF: this image is deprecated\$" "$TK_T/wpull.err"
tankctl pull "127.0.0.1:$PORT/busybox:nope" >/dev/null 2>"$TK_T/nope.err"
check "pull: the registry's error body reaches the user" grep -q 'MANIFEST_UNKNOWN' "$TK_T/nope.err"
tankctl rmi "$WREF" >/dev/null
cat >"$TK_T/w.json" <<JSON
{"name": "${POD}w", "network": "none",
 "containers": [{"name": "c", "image": "$WREF", "command": ["sleep", "1000"], "stop_grace": "1s"}]}
JSON
check "a pod whose image the registry calls deprecated" tankctl apply -f "$TK_T/w.json"
check "it runs" tankctl wait pod "${POD}w" --for running --timeout 30s
check "the pod's events have a PullWarning with the registry's text" \
	sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events '${POD}w' | grep PullWarning | grep -q 'this image is deprecated'"
check "delete it" tankctl delete pod "${POD}w" --wait

# the pod's "pulling" phase with a progress message, through a proxy that trickles blobs
tankctl rmi "$WREF" >/dev/null 2>&1
tankctl image prune >/dev/null
check "a proxy that delays blobs" start_proxy slow 5057
cat >"$TK_T/s.json" <<JSON
{"name": "${POD}s", "network": "none",
 "containers": [{"name": "c", "image": "127.0.0.1:5057/busybox:1.0", "command": ["sleep", "1000"], "stop_grace": "1s"}]}
JSON
check "a pod whose image arrives slowly" tankctl apply -f "$TK_T/s.json"
pulling_shown() {
	tankctl get pod "${POD}s" -o json | jq -e '.status.phase == "pulling" and
		(.status.message | test("^pulling 127.0.0.1:5057/busybox:1.0: layer sha256:[0-9a-f]{12} [0-9]+/[0-9]+ bytes$"))'
}
check "get pod shows the pulling phase with the layer's bytes" wait_for 15 pulling_shown
check "... then it runs" tankctl wait pod "${POD}s" --for running --timeout 60s
check "delete it" tankctl delete pod "${POD}s" --wait

# pull "always" re-resolves the tag: a new image pushed under the same tag is used
tankctl pull "$REF" >/dev/null 2>&1
V1=$(tankctl images -o json | jq -r --arg r "$REF" '.[] | select(.ref == $r) | .manifest_digest')
cp -a "$TK_T/img" "$TK_T/img2" && umoci unpack --image "$TK_T/img2:1.0" "$TK_T/v2" >/dev/null &&
	echo 2 >"$TK_T/v2/rootfs/etc/version" && umoci repack --image "$TK_T/img2:1.0" "$TK_T/v2" >/dev/null &&
	H skopeo copy -q --dest-tls-verify=false "oci:$TK_T/img2:1.0" "docker://$REF" || not_ok "push v2 under the same tag"
for pol in if_not_present always; do
	cat >"$TK_T/$pol.json" <<JSON
{"name": "${POD}-${pol%%_*}", "network": "none",
 "containers": [{"name": "c", "image": "$REF", "pull": "$pol", "command": ["sleep", "1000"], "stop_grace": "1s"}]}
JSON
	tankctl apply -f "$TK_T/$pol.json" >/dev/null
	tankctl wait pod "${POD}-${pol%%_*}" --for running --timeout 30s >/dev/null
done
check "pull if_not_present keeps the image in the store (no /etc/version)" \
	sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' exec '${POD}-if' -- true && ! '$TK_BUILD/tankctl' --socket '$TK_SOCK' exec '${POD}-if' -- cat /etc/version"
check "pull always runs the image now under the tag" \
	sh -c "[ \"\$('$TK_BUILD/tankctl' --socket '$TK_SOCK' exec '${POD}-always' -- cat /etc/version)\" = 2 ]"
check "... whose digest differs and is recorded for the tag" \
	sh -c "d=\$('$TK_BUILD/tankctl' --socket '$TK_SOCK' images -o json | jq -r '.[] | select(.ref == \"$REF\") | .manifest_digest'); [ -n '$V1' ] && [ \"\$d\" != '$V1' ] && jq -e --arg d \"\$d\" '.digests[0] == \$d' '$TK_T/run/pods/${POD}-always/tankd.json'"
for pol in if_not_present always; do tankctl delete pod "${POD}-${pol%%_*}" --wait >/dev/null; done
tankctl rmi "$REF" >/dev/null && tankctl image prune >/dev/null

# offline: pull policy never only looks in the store
kill "$REG"; wait "$REG" 2>/dev/null; REG=
sed 's/"stop_grace": "1s"/"stop_grace": "1s", "pull": "never"/' "$TK_T/p.json" >"$TK_T/p2.json"
check "apply with pull never" tankctl apply -f "$TK_T/p2.json"
check "never + not in the store: a clear status" wait_for 15 sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' get pod $POD -o json | jq -e '.status.last_exit.reason == \"ImagePullError\"'"
check "delete" tankctl delete pod "$POD" --wait

# import of an OCI layout directory: named as podman does ("1.0" is localhost/1.0:latest)
check "image import DIR:TAG" tankctl image import "$TK_T/img:1.0"
check "images lists the imported directory as localhost/1.0:latest" \
	sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' images | grep -q '^localhost/1.0:latest '"
# import of an oci-archive tar written by skopeo, named by its ref.name annotation
skopeo copy -q "oci:$TK_T/img:1.0" "oci-archive:$TK_T/bb.tar:tank/bb:2.0" || not_ok "skopeo oci-archive"
tankctl image import "$TK_T/bb.tar" >"$TK_T/import.out" 2>&1
check "image import TAR" test $? -eq 0
check "import names the image as podman load does (localhost/<name>)" \
	grep -Eq '^imported localhost/tank/bb:2.0 \(sha256:[0-9a-f]{12}\) [0-9]+ layers?' "$TK_T/import.out"
check "images lists it" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' images | grep -q '^localhost/tank/bb:2.0 '"
cat >"$TK_T/imp.json" <<JSON
{"name": "${POD}i", "network": "none",
 "containers": [{"name": "c", "image": "localhost/tank/bb:2.0", "pull": "never",
   "command": ["sleep", "1000"], "stop_grace": "1s"}]}
JSON
check "a pod from the imported image with pull never" tankctl apply -f "$TK_T/imp.json"
check "it runs" tankctl wait pod "${POD}i" --for running --timeout 30s
tankctl rmi localhost/tank/bb:2.0 >/dev/null 2>&1
check "prune while the pod uses it" tankctl image prune
check "the image is still listed and usable" \
	sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' images | grep -q '^localhost/tank/bb:2.0 ' && '$TK_BUILD/tankctl' --socket '$TK_SOCK' exec '${POD}i' -- true"
check "delete it" tankctl delete pod "${POD}i" --wait
# an unnamed archive needs a name; a tar of other things is refused and writes nothing
skopeo copy -q "oci:$TK_T/img:1.0" "oci-archive:$TK_T/anon.tar" || not_ok "skopeo oci-archive (unnamed)"
check "an unnamed archive named on the command line" tankctl image import "$TK_T/anon.tar" anon:3
check "... listed as localhost/anon:3" sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' images | grep -q '^localhost/anon:3 '"
python3 - "$TK_T/evil.tar" "$TK_T/escaped" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    for name in ("../../../../.." + sys.argv[2], "blobs/sha256/../../../escaped"):
        data = b"x"
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
PY
tankctl image import "$TK_T/evil.tar" >"$TK_T/evil.out" 2>&1
check "a tar that is not a layout is refused" sh -c "grep -q 'no index.json' '$TK_T/evil.out'"
check "... and writes nothing outside" sh -c "! test -e '$TK_T/escaped' && ! find '$TK_T/data' -name escaped | grep -q ."
# image_max_unpacked: a tankd whose limit is smaller than the image refuses to unpack it
tk_stop_tankd
rm -rf "$TK_T/data/images"
echo "image_max_unpacked = 64Ki" >>"$TK_T/tankd.conf"
tk_start_tankd || not_ok "tankd restarts with image_max_unpacked"
cat >"$TK_T/big.json" <<JSON
{"name": "${POD}b", "network": "none",
 "containers": [{"name": "c", "image": "oci:$TK_T/img:1.0", "command": ["true"]}]}
JSON
check "a pod whose image is larger than image_max_unpacked" tankctl apply -f "$TK_T/big.json"
limit_status() {
	tankctl get pod "${POD}b" -o json | jq -e '.status.last_exit.reason == "ImagePullError" and
		(.status.last_exit.message | test("more than 65536 bytes.*image_max_unpacked"))'
}
check "the pod's status says the image is over the limit and names the key" wait_for 20 limit_status
check "... and so do its events" \
	sh -c "'$TK_BUILD/tankctl' --socket '$TK_SOCK' events '${POD}b' | grep -q 'image_max_unpacked'"
tk_finish
