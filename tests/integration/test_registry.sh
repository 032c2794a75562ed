#!/usr/bin/env bash
# test_registry.sh - the oci/ registry client against real registries on loopback: OCI, Docker
# schema2 and multi-arch images pushed by skopeo; Basic and Bearer auth; mirrors; digest
# refs; pull policies; a corrupting, a flaky, a redirecting, a short-body and a token-expiring
# proxy; concurrent pulls; prune.
# Root files (uid/gid, modes) are compared with `umoci unpack` of the same image. Needs root.
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${TANK_BUILD:-$REPO/build}
W=$(mktemp -d /tmp/tank-regtest.XXXXXX)
PIDS=()
MNTS=()
pass=0
fail=0

say() { printf '%s\n' "$*"; }
ok() { pass=$((pass + 1)); say "ok   - $*"; }
not_ok() { fail=$((fail + 1)); say "FAIL - $*"; }
# check "description" command...   (passes when the command succeeds)
check() {
	local desc=$1
	shift
	if "$@" >"$W/check.out" 2>&1; then ok "$desc"; else
		not_ok "$desc"
		sed 's/^/       | /' "$W/check.out" | tail -n 15
	fi
}

cleanup() {
	local p m
	set +e
	for m in "${MNTS[@]}"; do umount "$m" 2>/dev/null; done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if [ "${TANK_KEEP:-}" = 1 ]; then say "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" -eq 0 ] || { say "test_registry.sh needs root"; exit 1; }
for t in docker-registry skopeo umoci htpasswd python3 openssl jq gcc curl; do
	command -v "$t" >/dev/null || { say "missing $t (tests/deps.sh installs it)"; exit 1; }
done

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() { # URL: until it answers at all (any status)
	local i
	for ((i = 0; i < 100; i++)); do
		curl -s -o /dev/null "$1" && return 0
		sleep 0.05
	done
	return 1
}

# start_registry NAME [extra config lines] [extra http settings]: sets <NAME>_PORT
start_registry() {
	local name=$1 extra=${2:-} http=${3:-} port
	port=$(free_port)
	mkdir -p "$W/$name"
	cat >"$W/$name/config.yml" <<EOF
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $W/$name/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port, secret: test$http}
$extra
EOF
	setsid docker-registry serve "$W/$name/config.yml" >"$W/$name/log" 2>&1 </dev/null &
	PIDS+=($!)
	wait_http "http://127.0.0.1:$port/v2/" || { say "registry $name did not start"; cat "$W/$name/log"; exit 1; }
	printf -v "${name}_PORT" '%s' "$port"
}

# start_proxy MODE UPSTREAM [EXTRA]: a python3 helper on a free port; sets PROXY_PORT
start_proxy() {
	local mode=$1 up=$2 extra=${3:-} port
	port=$(free_port)
	python3 "$W/proxy.py" "$mode" "$port" "$up" "$extra" "$W/proxy-$mode.log" \
		>"$W/proxy-$mode.out" 2>&1 &
	PIDS+=($!)
	wait_http "http://127.0.0.1:$port/v2/" || { say "proxy $mode did not start"; cat "$W/proxy-$mode.out"; exit 1; }
	PROXY_PORT=$port
}

# ---- helpers written into the temp dir ---------------------------------------------------------

cat >"$W/proxy.py" <<'PY'
# A registry front for tests: pass-through to UPSTREAM with faults injected by MODE.
import http.client, http.server, json, socket, socketserver, sys, threading, time

mode, port, upstream, extra, logpath = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
lock = threading.Lock()
count = {"manifest": 0, "bigblob": 0, "token": 0}
valid = set()  # mode expiring: the tokens this proxy accepts
logf = open(logpath, "a", buffering=1)
BIG = 10000


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def fwd(self):
        c = http.client.HTTPConnection(upstream, timeout=60)
        drop = ("host", "connection") + (("range",) if extra == "norange" else ())
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in drop}
        c.request("GET", self.path, headers=hdrs)
        r = c.getresponse()
        body = r.read()
        skip = ("transfer-encoding", "connection", "content-length", "keep-alive")
        return r.status, [(k, v) for k, v in r.getheaders() if k.lower() not in skip], body

    def reply(self, status, headers, body, cut=None, slow=False):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if slow:
            for i in range(0, len(body), 65536):
                self.wfile.write(body[i:i + 65536])
                self.wfile.flush()
                time.sleep(0.05)
            return
        self.wfile.write(body)

    def do_GET(self):
        p = self.path
        blob = "/blobs/" in p
        manifest = "/manifests/" in p
        logf.write("GET %s range=%s auth=%s t=%.3f\n" % (p, self.headers.get("Range", "-"),
                   "yes" if self.headers.get("Authorization") else "no", time.time()))
        if mode == "token":
            self.reply(200, [("Content-Type", "application/json")], open(extra, "rb").read())
            return
        if mode == "expiring":
            # its own token server: tokN, valid until the proxy says otherwise
            if p.startswith("/token"):
                with lock:
                    count["token"] += 1
                    tok = "tok%d" % count["token"]
                    if extra != "never":
                        valid.add(tok)
                self.reply(200, [("Content-Type", "application/json")],
                           json.dumps({"token": tok, "expires_in": 3600}).encode())
                return
            auth = self.headers.get("Authorization", "")
            tok = auth[7:] if auth.startswith("Bearer ") else ""
            if tok not in valid:
                chal = 'Bearer realm="http://127.0.0.1:%d/token",service="tanktest",scope="repository:test/bb:pull"' % port
                if tok:
                    chal += ',error="invalid_token"'
                logf.write("401 %s token=%s\n" % (p, tok or "-"))
                self.reply(401, [("WWW-Authenticate", chal), ("Content-Type", "application/json")],
                           b'{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}')
                return
            if manifest and tok == "tok1":
                valid.discard("tok1")  # it expires once the manifest is served: mid-pull
        if mode == "redirect":
            if not self.headers.get("Authorization"):
                self.reply(401, [("WWW-Authenticate", 'Basic realm="test"'), ("Content-Type", "application/json")],
                           b'{"errors":[{"code":"UNAUTHORIZED","message":"login please"}]}')
                return
            if "evil" in p:
                self.reply(302, [("Location", "file:///etc/passwd")], b"")
                return
            if blob:
                self.reply(307, [("Location", "http://%s%s" % (extra, p))], b"")
                return
        status, headers, body = self.fwd()
        cut = None
        if mode == "corrupt" and blob and status == 200 and len(body) > BIG:
            b = bytearray(body)
            b[len(b) // 2] ^= 0xFF
            body = bytes(b)
        if mode == "flaky":
            with lock:
                if manifest:
                    count["manifest"] += 1
                n_manifest = count["manifest"]
                if blob and len(body) > BIG:
                    count["bigblob"] += 1
                n_blob = count["bigblob"]
            if manifest:
                headers.append(("Warning", '299 - "tank test warning: this repository is deprecated"'))
                if n_manifest == 1:
                    self.reply(503, [("Content-Type", "application/json")],
                               b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')
                    return
            if blob and len(body) > BIG:
                if n_blob == 1:
                    self.reply(429, [("Retry-After", "1")], b"slow down")
                    return
                if n_blob == 2:
                    cut = len(body) // 2
        if mode == "short" and blob and status == 200 and len(body) > BIG:
            # a Content-Length shorter than the blob, and a clean end: the client must see
            # that the blob is incomplete
            body = body[:len(body) // 2]
        if mode == "schema1" and manifest:
            headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
            headers.append(("Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws"))
        self.reply(status, headers, body, cut=cut, slow=(mode == "slow" and blob and len(body) > BIG))


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


S(("127.0.0.1", port), H).serve_forever()
PY

# the pull driver, against the libraries `make` built (or $OCI_PULL, e.g. a sanitizer build)
[ "$BUILD" = "$REPO/build" ] && make -s -C "$REPO" build/liboci.a build/libtank.a >/dev/null 2>&1
if [ -n "${OCI_PULL:-}" ]; then
	cp "$OCI_PULL" "$W/oci_pull"
elif ! gcc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-missing-field-initializers -O2 \
	-I"$REPO" $(pkg-config --cflags jansson) -o "$W/oci_pull" "$REPO/tests/root/oci_pull.c" \
	"$BUILD/liboci.a" "$BUILD/libtank.a" \
	$(pkg-config --libs libcurl libarchive jansson libcrypto zlib) -lpthread >"$W/gcc.log" 2>&1; then
	cat "$W/gcc.log"
	say "building the pull driver failed"
	exit 1
fi
PULL="$W/oci_pull"
pull() { "$PULL" --store "$W/store" "$@"; }

# ---- images, built by umoci ------------------------------------------------------------------

L="$W/layout"
cd "$W" || exit 1
umoci init --layout "$L" >/dev/null
# bb:1.0 - two layers: busybox, then ownership, modes, links and a deletion (a whiteout)
umoci new --image "$L:bb" >/dev/null
umoci unpack --image "$L:bb" "$W/bun" >/dev/null
R="$W/bun/rootfs"
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/srv/data" "$R/gone/sub"
cp /bin/busybox "$R/bin/"
for a in sh ls cat echo; do ln -s busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo doomed >"$R/gone/sub/file"
echo old >"$R/etc/motd"
umoci repack --image "$L:bb" "$W/bun" >/dev/null
rm -rf "$W/bun"
umoci unpack --image "$L:bb" "$W/bun" >/dev/null
R="$W/bun/rootfs"
rm -rf "$R/gone"
echo new >"$R/etc/motd"
echo data >"$R/srv/data/f" && chown -R 1000:1001 "$R/srv/data" && chmod 0750 "$R/srv/data"
chmod 1777 "$R/tmp"
echo '#!/bin/sh' >"$R/bin/suid" && chmod 4755 "$R/bin/suid"
ln -s ../etc/passwd "$R/srv/passwd-link"
ln "$R/etc/motd" "$R/srv/motd-hard"
umoci repack --image "$L:bb" "$W/bun" >/dev/null
rm -rf "$W/bun"
umoci config --image "$L:bb" --os linux --architecture amd64 --config.env PATH=/bin \
	--config.entrypoint /bin/sh >/dev/null
# arm64: another image for the multi-arch index
umoci new --image "$L:arm" >/dev/null
umoci unpack --image "$L:arm" "$W/bun" >/dev/null
echo arm64 >"$W/bun/rootfs/arch"
umoci repack --image "$L:arm" "$W/bun" >/dev/null
rm -rf "$W/bun"
umoci config --image "$L:arm" --os linux --architecture arm64 --config.entrypoint /bin/sh >/dev/null

desc_of() { jq -c --arg t "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]==$t) | {mediaType, digest, size}' "$L/index.json"; }
put_blob() { # FILE -> prints digest and size
	local h s
	h=$(sha256sum "$1" | cut -d' ' -f1)
	s=$(stat -c %s "$1")
	mv "$1" "$L/blobs/sha256/$h"
	echo "sha256:$h $s"
}
AMD=$(desc_of bb)
ARM=$(desc_of arm)
AMD_DIGEST=$(jq -r .digest <<<"$AMD")
ARM_DIGEST=$(jq -r .digest <<<"$ARM")
# an attestation manifest as BuildKit writes them (unknown/unknown, in-toto layer)
printf '{"_type":"https://in-toto.io/Statement/v0.1","subject":[]}' >"$W/att-layer"
read -r ATT_L ATT_LS < <(put_blob "$W/att-layer")
printf '{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' "$ATT_L" >"$W/att-config"
read -r ATT_C ATT_CS < <(put_blob "$W/att-config")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.in-toto+json","digest":"%s","size":%s,"annotations":{"in-toto.io/predicate-type":"https://spdx.dev/Document"}}]}' \
	"$ATT_C" "$ATT_CS" "$ATT_L" "$ATT_LS" >"$W/att-manifest"
read -r ATT_M ATT_MS < <(put_blob "$W/att-manifest")
jq -n --argjson amd "$AMD" --argjson arm "$ARM" --arg am "$ATT_M" --argjson ams "$ATT_MS" --arg ad "$AMD_DIGEST" '{
  schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [
    ($arm + {platform: {os: "linux", architecture: "arm64", variant: "v8"}}),
    {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $am, size: $ams,
     platform: {os: "unknown", architecture: "unknown"},
     annotations: {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": $ad}},
    ($amd + {platform: {os: "linux", architecture: "amd64"}})
  ]}' >"$W/index-blob"
read -r IDX IDXS < <(put_blob "$W/index-blob")
jq --arg d "$IDX" --argjson s "$IDXS" '.manifests += [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": "multi"}}]' \
	"$L/index.json" >"$W/index.json.new" && mv "$W/index.json.new" "$L/index.json"

# what umoci makes of the images: the reference trees
umoci unpack --image "$L:bb" "$W/ref-bb" >/dev/null
umoci unpack --image "$L:arm" "$W/ref-arm" >/dev/null

# tree listing: path, type, mode, owner, link target, and content digests
listing() {
	(cd "$1" && find . -mindepth 1 -printf '%p %y %m %U:%G %l\n' | LC_ALL=C sort &&
		find . -type f -exec sha256sum {} + | LC_ALL=C sort -k2)
}
# same_tree PULL_JSON REFERENCE_ROOTFS: the pulled layers, stacked by overlayfs, equal umoci's
same_tree() {
	local json=$1 ref=$2 lower mnt
	lower=$(jq -r '.layers | reverse | join(":")' <<<"$json")
	mnt=$(mktemp -d "$W/mnt.XXXXXX")
	if [ "$(jq '.layers | length' <<<"$json")" -eq 1 ]; then
		mount --bind -o ro "$lower" "$mnt" || return 1
	else
		mount -t overlay overlay -o "ro,lowerdir=$lower" "$mnt" || return 1
	fi
	MNTS+=("$mnt")
	listing "$mnt" >"$mnt.ours"
	listing "$ref" >"$mnt.umoci"
	umount "$mnt"
	diff -u "$mnt.umoci" "$mnt.ours"
}

# ---- registries ------------------------------------------------------------------------------

start_registry reg
REG="127.0.0.1:$reg_PORT"
sk() { skopeo copy -q --dest-tls-verify=false "$@"; }
sk "oci:$L:bb" "docker://$REG/test/bb:1.0" &&
	sk --format v2s2 "oci:$L:bb" "docker://$REG/test/bb:1.0-docker" &&
	sk --all "oci:$L:multi" "docker://$REG/test/multi:1" ||
	{ say "pushing the test images failed"; exit 1; }
DOCKER_DIGEST=$(skopeo inspect --tls-verify=false --raw "docker://$REG/test/bb:1.0-docker" | sha256sum | cut -d' ' -f1)

# ---- pulls -------------------------------------------------------------------------------------

out=$(pull pull "$REG/test/bb:1.0" 2>"$W/err") || cat "$W/err"
check "OCI image: pulled" test -n "$out"
check "OCI image: manifest digest as pushed" test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"
check "OCI image: root file tree equals umoci unpack (modes, owners, links, whiteouts)" \
	same_tree "$out" "$W/ref-bb/rootfs"
AMD_LAYERS=$(jq -r '.layers[]' <<<"$out")
pull list >"$W/list.out"
check "OCI image: the tag is recorded with its digest" \
	grep -q "\"ref\":\"$REG/test/bb:1.0\",\"digest\":\"$AMD_DIGEST\"" "$W/list.out"
check "content store: blobs/sha256/<hex>, refs/, nothing left in tmp/" \
	sh -c "test -f '$W/store/blobs/sha256/${AMD_DIGEST#sha256:}' && ls '$W/store/refs' | grep -q json && test -z \"\$(ls -A '$W/store/tmp')\""

out=$(pull --progress pull "$REG/test/bb:1.0-docker" 2>"$W/err") || cat "$W/err"
check "Docker schema2 image: pulled, digest as pushed" test "$(jq -r .manifest <<<"$out")" = "sha256:$DOCKER_DIGEST"
check "Docker schema2 image: root file tree equals umoci unpack" same_tree "$out" "$W/ref-bb/rootfs"
check "Docker schema2 image: layers already there are not downloaded again" \
	sh -c "! grep -q 'progress downloading' '$W/err'"

out=$(pull --progress pull "$REG/test/multi:1" 2>"$W/err") || cat "$W/err"
check "multi-arch index: linux/amd64 chosen (attestation and arm64 skipped)" \
	test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"
pull list >"$W/list.out"
check "multi-arch index: the index digest is recorded for the tag" \
	grep -q "\"ref\":\"$REG/test/multi:1\",\"digest\":\"$IDX\"" "$W/list.out"
out=$(pull --platform linux/arm64 pull "$REG/test/multi:1" 2>"$W/err") || cat "$W/err"
check "multi-arch index: --platform linux/arm64/v8 picks arm64" test "$(jq -r .manifest <<<"$out")" = "$ARM_DIGEST"
check "multi-arch index: arm64 root file tree equals umoci unpack" same_tree "$out" "$W/ref-arm/rootfs"
ARM_LAYERS=$(jq -r '.layers[]' <<<"$out")
pull --platform linux/s390x pull "$REG/test/multi:1" >/dev/null 2>"$W/err"
check "multi-arch index: no match names what there is (not the attestation)" \
	grep -q 'no manifest for linux/s390x (the image has: linux/arm64/v8, linux/amd64)' "$W/err"

out=$(pull --policy always pull "$REG/test/bb@$AMD_DIGEST" 2>"$W/err") || cat "$W/err"
check "pull by digest" test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"
out=$(pull --policy always pull "$REG/test/bb:nonexistent@$AMD_DIGEST" 2>"$W/err") || cat "$W/err"
check "name:tag@digest uses the digest" test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"
pull --policy always pull "$REG/test/bb:nope" >/dev/null 2>"$W/err"
rc=$?
check "unknown tag: ENOENT with the registry's error" \
	sh -c "[ $rc -eq 2 ] && grep -q 'not found (HTTP 404: MANIFEST_UNKNOWN' '$W/err'"
pull --policy always pull "$REG/test/bb@sha256:$(printf x | sha256sum | cut -d' ' -f1)" >/dev/null 2>"$W/err"
check "unknown digest: fails" sh -c "grep -q 'HTTP 404' '$W/err'"

# pull policies: never is offline, if_not_present does not need the registry
kill "${PIDS[0]}" && wait "${PIDS[0]}" 2>/dev/null
out=$(pull --policy never pull "$REG/test/bb:1.0" 2>"$W/err") || cat "$W/err"
check "policy never: served from the local store while the registry is down" \
	test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"
out=$(pull pull "$REG/test/multi:1" 2>"$W/err") || cat "$W/err"
check "policy if_not_present: local index, platform chosen offline" \
	test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"
pull --policy never pull "$REG/test/other:1" >/dev/null 2>"$W/err"
rc=$?
check "policy never: a missing image is ENOENT with a clear message" \
	sh -c "[ $rc -eq 2 ] && grep -q 'not in the local image store and the pull policy is \"never\"' '$W/err'"
# the registry back on the same port and data
setsid docker-registry serve "$W/reg/config.yml" >>"$W/reg/log" 2>&1 </dev/null &
PIDS[0]=$!
wait_http "http://$REG/v2/"

# ---- authentication --------------------------------------------------------------------------

htpasswd -Bbn tester 's3cret:pw' >"$W/htpasswd"
start_registry basic "auth: {htpasswd: {realm: tanktest, path: $W/htpasswd}}"
BASIC="127.0.0.1:$basic_PORT"
sk --dest-creds 'tester:s3cret:pw' "oci:$L:bb" "docker://$BASIC/test/bb:1.0" || say "push to the basic-auth registry failed"
printf '{"auths":{"http://%s":{"auth":"%s"}}}' "$BASIC" "$(printf 'tester:s3cret:pw' | base64)" >"$W/auth.json"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$BASIC" "$(printf 'tester:wrong' | base64)" >"$W/bad-auth.json"
pull --auth "$W/none.json" pull "$BASIC/test/bb:1.0" >/dev/null 2>"$W/err"
rc=$?
check "Basic auth: without credentials EACCES and a hint" \
	sh -c "[ $rc -eq 13 ] && grep -q 'requires a login: add credentials for $BASIC to $W/none.json' '$W/err'"
pull --auth "$W/bad-auth.json" pull "$BASIC/test/bb:1.0" >/dev/null 2>"$W/err"
rc=$?
check "Basic auth: wrong password EACCES naming the credentials file" \
	sh -c "[ $rc -eq 13 ] && grep -q 'check the credentials for $BASIC in $W/bad-auth.json' '$W/err'"
check "Basic auth: no secret in the message" sh -c "! grep -q -e wrong -e s3cret '$W/err'"
out=$(pull --auth "$W/auth.json" --policy always pull "$BASIC/test/bb:1.0" 2>"$W/err") || cat "$W/err"
check "Basic auth: credentials from a docker config file" test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"

# Bearer: a JWT signed by a throwaway certificate, served by a static token server
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/tok.key" -out "$W/tok.crt" -days 2 \
	-subj /CN=tanktest-token >/dev/null 2>&1
x5c=$(openssl x509 -in "$W/tok.crt" -outform DER | openssl base64 -A)
now=$(date +%s)
jh=$(printf '{"typ":"JWT","alg":"RS256","x5c":["%s"]}' "$x5c" | b64url)
jp=$(printf '{"iss":"tanktest-issuer","sub":"tester","aud":"tanktest-service","exp":%d,"nbf":%d,"iat":%d,"jti":"j%s","access":[{"type":"repository","name":"test/bb","actions":["pull","push"]}]}' \
	$((now + 3600)) $((now - 60)) $((now - 60)) "$RANDOM" | b64url)
js=$(printf '%s.%s' "$jh" "$jp" | openssl dgst -sha256 -sign "$W/tok.key" -binary | b64url)
printf '{"access_token":"%s.%s.%s","expires_in":3600}' "$jh" "$jp" "$js" >"$W/token.json"
start_proxy token none "$W/token.json"
TOKSRV=$PROXY_PORT
start_registry bearer "auth: {token: {realm: \"http://127.0.0.1:$TOKSRV/token\", service: tanktest-service, issuer: tanktest-issuer, rootcertbundle: $W/tok.crt}}"
BEARER="127.0.0.1:$bearer_PORT"
sk "oci:$L:bb" "docker://$BEARER/test/bb:1.0" || say "push to the token registry failed"
: >"$W/proxy-token.log"
out=$(pull --policy always pull "$BEARER/test/bb:1.0" 2>"$W/err") || cat "$W/err"
check "Bearer: token from the realm (access_token), pull works" test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"
check "Bearer: token asked for service and repository pull scope" \
	grep -q 'GET /token?service=tanktest-service&scope=repository%3Atest%2Fbb%3Apull ' "$W/proxy-token.log"
check "Bearer: one token request for the whole pull (cached)" \
	test "$(grep -c 'GET /token' "$W/proxy-token.log")" -eq 1

# ---- mirrors -----------------------------------------------------------------------------------

out=$(pull --mirror "mirror-only.invalid=$REG" --policy always pull "mirror-only.invalid/test/bb:1.0" 2>"$W/err") || cat "$W/err"
check "mirror: tried first (the origin does not even resolve)" test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"
dead=$(free_port)
out=$(pull --mirror "$REG=127.0.0.1:$dead" --policy always pull "$REG/test/bb:1.0" 2>"$W/err") || cat "$W/err"
check "mirror: a dead mirror falls back to the registry" test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"

# ---- hostile and unreliable registries ---------------------------------------------------------

start_proxy corrupt "$REG"
rm -rf "$W/cstore"
"$PULL" --store "$W/cstore" pull "127.0.0.1:$PROXY_PORT/test/bb:1.0" >/dev/null 2>"$W/err"
rc=$?
check "corrupted blob: the pull fails with a digest error (EBADMSG)" \
	sh -c "[ $rc -eq 74 ] && grep -q 'digest mismatch' '$W/err'"
# only the large layer is corrupted: the config and the small layer are fine
bad=$(jq -r '.layers | max_by(.size) | .digest' "$L/blobs/sha256/${AMD_DIGEST#sha256:}")
blobs_verify() { # every blob in the store matches its name
	local f
	for f in "$1"/blobs/sha256/*; do
		[ -e "$f" ] || continue
		[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || return 1
	done
}
check "corrupted blob: nothing of it is left in blobs/ or tmp/, no ref written" \
	sh -c "[ ! -e '$W/cstore/blobs/sha256/${bad#sha256:}' ] && ! ls '$W/cstore/tmp' | grep -q '${bad#sha256:}' && test -z \"\$(ls -A '$W/cstore/refs')\""
check "corrupted blob: whatever is in blobs/ matches its digest" blobs_verify "$W/cstore"

start_proxy flaky "$REG"
rm -rf "$W/fstore"
out=$("$PULL" --store "$W/fstore" --progress pull "127.0.0.1:$PROXY_PORT/test/bb:1.0" 2>"$W/err") || cat "$W/err"
check "flaky registry: 503, 429 and a cut connection are survived" test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"
check "flaky registry: the cut download resumed with Range" grep -q 'range=bytes=[1-9]' "$W/proxy-flaky.log"
retry_gap() { # seconds between the 429 on the large layer and the next request for it
	grep "/blobs/$bad " "$W/proxy-flaky.log" | head -n 2 | sed 's/.* t=//' |
		awk 'NR == 1 { a = $1 } NR == 2 { b = $1 } END { print (b - a >= 1.0) ? "ok" : "short" }'
}
check "flaky registry: Retry-After: 1 honoured after the 429" test "$(retry_gap)" = ok
check "flaky registry: the Warning header reaches the caller (once)" \
	test "$(grep -c 'progress warning - .*tank test warning: this repository is deprecated' "$W/err")" -eq 1
# a registry that ignores Range: the resumed download starts over on its 200
: >"$W/proxy-flaky.log"
start_proxy flaky "$REG" norange
rm -rf "$W/fstore"
out=$("$PULL" --store "$W/fstore" pull "127.0.0.1:$PROXY_PORT/test/bb:1.0" 2>"$W/err") || cat "$W/err"
check "flaky registry without Range support: a 200 to a range request restarts the blob" \
	sh -c "[ '$(jq -r .manifest <<<"$out")' = '$AMD_DIGEST' ] && grep -q 'range=bytes=[1-9]' '$W/proxy-flaky.log'"

# a token that expires mid-pull: one retry with a fresh token, never a loop
start_proxy expiring "$REG"
rm -rf "$W/estore"
out=$("$PULL" --store "$W/estore" pull "127.0.0.1:$PROXY_PORT/test/bb:1.0" 2>"$W/err") || cat "$W/err"
check "token expired mid-pull: the pull succeeds" test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"
check "token expired mid-pull: a 401 with the old token, then one new token" \
	sh -c "grep -q '^401 .*/blobs/.* token=tok1' '$W/proxy-expiring.log' && [ \$(grep -c 'GET /token' '$W/proxy-expiring.log') -eq 2 ]"
: >"$W/proxy-expiring.log"
start_proxy expiring "$REG" never
"$PULL" --store "$W/estore2" pull "127.0.0.1:$PROXY_PORT/test/bb:1.0" >/dev/null 2>"$W/err"
rc=$?
check "tokens that never work: EACCES with the registry's message" \
	sh -c "[ $rc -eq 13 ] && grep -q 'token expired' '$W/err'"
check "tokens that never work: a single retry (two token requests), no loop" \
	test "$(grep -c 'GET /token' "$W/proxy-expiring.log")" -eq 2

# a blob cut short by its Content-Length (a clean end, not a dropped connection): a size error
start_proxy short "$REG"
rm -rf "$W/shstore"
"$PULL" --store "$W/shstore" pull "127.0.0.1:$PROXY_PORT/test/bb:1.0" >/dev/null 2>"$W/err"
rc=$?
check "short Content-Length: the pull fails with a size mismatch naming both sizes (EBADMSG)" \
	sh -c "[ $rc -eq 74 ] && grep -Eq 'size mismatch: the registry sent [0-9]+ bytes, the manifest says [0-9]+' '$W/err'"
check "short Content-Length: nothing of the blob is kept, no ref written" \
	sh -c "[ ! -e '$W/shstore/blobs/sha256/${bad#sha256:}' ] && ! ls '$W/shstore/tmp' | grep -q '${bad#sha256:}' && test -z \"\$(ls -A '$W/shstore/refs')\""
check "short Content-Length: whatever is in blobs/ matches its digest" blobs_verify "$W/shstore"

# TLS with a self-signed certificate: verified, trusted with ca_file only
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/tls.key" -out "$W/tls.crt" -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
start_registry tls "" ", tls: {certificate: $W/tls.crt, key: $W/tls.key}"
TLS="127.0.0.1:$tls_PORT"
sk "oci:$L:bb" "docker://$TLS/test/bb:1.0" || say "push to the TLS registry failed"
"$PULL" --store "$W/tstore" pull "$TLS/test/bb:1.0" >/dev/null 2>"$W/err"
rc=$?
check "TLS: an unknown certificate fails (no fallback to HTTP) with a hint" \
	sh -c "[ $rc -eq 71 ] && grep -q 'set ca_file' '$W/err'"
out=$("$PULL" --store "$W/tstore" --ca "$TLS=$W/tls.crt" pull "$TLS/test/bb:1.0" 2>"$W/err") || cat "$W/err"
check "TLS: trusted through the registry's ca_file" test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"

start_proxy cdn "$REG"
CDN=$PROXY_PORT
start_proxy redirect "$REG" "127.0.0.1:$CDN"
RED="127.0.0.1:$PROXY_PORT"
printf '{"auths":{"%s":{"username":"u","password":"p"}}}' "$RED" >"$W/red-auth.json"
rm -rf "$W/rstore"
out=$("$PULL" --store "$W/rstore" --auth "$W/red-auth.json" pull "$RED/test/bb:1.0" 2>"$W/err") || cat "$W/err"
check "redirect: blobs followed to another host" test "$(jq -r .manifest <<<"$out")" = "$AMD_DIGEST"
check "redirect: Authorization was sent to the registry" grep -q 'manifests/1.0 range=- auth=yes' "$W/proxy-redirect.log"
check "redirect: Authorization dropped for the other host" \
	sh -c "grep -q '/blobs/' '$W/proxy-cdn.log' && ! grep -q 'auth=yes' '$W/proxy-cdn.log'"
"$PULL" --store "$W/rstore" --auth "$W/red-auth.json" pull "$RED/test/evil:1" >/dev/null 2>"$W/err"
check "redirect: a file:// Location is refused" grep -q 'only http(s) URLs are allowed' "$W/err"

start_proxy schema1 "$REG"
"$PULL" --store "$W/sstore" pull "127.0.0.1:$PROXY_PORT/test/bb:1.0" >/dev/null 2>"$W/err"
rc=$?
check "schema1 refused with a clear message (EPROTONOSUPPORT)" \
	sh -c "[ $rc -eq 93 ] && grep -q 'Docker schema1 manifest, which is not supported' '$W/err'"

# ---- concurrent pulls into one store: one download per digest ------------------------------------

start_proxy slow "$REG"
rm -rf "$W/pstore"
"$PULL" --store "$W/pstore" pull "127.0.0.1:$PROXY_PORT/test/bb:1.0" >"$W/p1" 2>&1 &
p1=$!
"$PULL" --store "$W/pstore" pull "127.0.0.1:$PROXY_PORT/test/bb:1.0" >"$W/p2" 2>&1 &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
check "concurrent pulls: both succeed" sh -c "[ $r1 -eq 0 ] && [ $r2 -eq 0 ]"
big=$(for f in "$W"/pstore/blobs/sha256/*; do [ "$(stat -c %s "$f")" -gt 10000 ] && basename "$f"; done)
check "concurrent pulls: each layer downloaded once" \
	sh -c "for h in $big; do [ \$(grep -c \"blobs/sha256:\$h \" '$W/proxy-slow.log') -eq 1 ] || exit 1; done"

# ---- rmi and prune ---------------------------------------------------------------------------------

nblobs() { find "$W/store/blobs/sha256" -type f | wc -l; }
before=$(nblobs)
check "rmi: a reference is forgotten" pull rm "$REG/test/multi:1"
check "prune: runs" pull prune
check "prune: the index that only the removed tag reached is gone, the rest stays" \
	sh -c "[ ! -e '$W/store/blobs/sha256/${IDX#sha256:}' ] && [ -e '$W/store/blobs/sha256/${AMD_DIGEST#sha256:}' ] && [ $(nblobs) -lt $before ]"
for r in "$REG/test/bb:1.0" "$REG/test/bb:1.0-docker" "mirror-only.invalid/test/bb:1.0" \
	"$REG/test/bb@$AMD_DIGEST" "$BASIC/test/bb:1.0" "$BEARER/test/bb:1.0"; do
	pull rm "$r" 2>/dev/null
done
check "prune: with an image in use" pull prune "$AMD_DIGEST"
check "prune: an image in use keeps its blobs and unpacked layers" \
	sh -c "out=\$(\"$PULL\" --store \"$W/store\" --policy never pull \"$REG/test/bb@$AMD_DIGEST\") && test -n \"\$out\""
check "prune: the unpacked layers of the image in use are still there" \
	sh -c "for l in $(echo $AMD_LAYERS); do test -d \$l || exit 1; done"
check "prune: the arm64 image nobody uses is gone, unpacked layers too" \
	sh -c "[ ! -e '$W/store/blobs/sha256/${ARM_DIGEST#sha256:}' ] && for l in $(echo $ARM_LAYERS); do test ! -e \$l || exit 1; done"
pull prune "sha256:$(printf y | sha256sum | cut -d' ' -f1)" >/dev/null 2>"$W/err"
check "prune: an in-use digest that is not in the store stops pruning" grep -q 'not pruning' "$W/err"

say "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
