#!/usr/bin/env bash
# bench_pull.sh - issue 4: pull + unpack of a ~150 MB Debian image from a registry on loopback
# (inside a throwaway netns) by Tank (`tankctl pull` through tankd, fresh store each round), by
# `skopeo copy` + `umoci unpack` and by `podman pull` (when installed; its own root, runroot and
# tmpdir, overlay storage, cgroupfs, in a private mount namespace), all in the same run
# against the same registry; median of BENCH_ROUNDS (3) rounds each. Then Tank's
# inflate+untar of the biggest layer against `gzip -dc` and a raw zlib inflate loop (MB/s of
# uncompressed tar bytes; target: Tank >= 80 % of raw inflate).
# The image (debootstrap --variant=minbase bookworm from apt's mirror + a few packages, packaged
# with umoci) is built once and cached as an OCI layout in $TANK_BENCH_CACHE
# (/var/cache/tank-bench)/debian-<hash of the recipe>/.
# Everything the tools write (Tank's store, skopeo's layout, umoci's bundle, podman's storage,
# the registry) lives on a tmpfs mounted for the run, so the figures are the tools' own cost:
# on this VM's ext4 creating a file costs ~1 ms in most directories, which swamps them.
# BENCH_DISK=1 keeps it all on disk (under /tmp) instead. Needs root; cleans up after itself.
set -u
. "$(dirname "$0")/../integration/lib.sh"
ROUNDS=${BENCH_ROUNDS:-3}
CACHE=${TANK_BENCH_CACHE:-/var/cache/tank-bench}
PORT=5000
REG=
BUILD_TMP=
TMPFS=
cleanup() {
	set +e
	[ -n "$REG" ] && kill "$REG" 2>/dev/null && wait "$REG" 2>/dev/null
	[ -n "$BUILD_TMP" ] && rm -rf "$BUILD_TMP"
	# tk_cleanup empties TK_T; the mount point itself goes after the umount
	tk_cleanup 2> >(grep -v "cannot remove '$TK_T'" >&2)
	[ -n "$TMPFS" ] && umount "$TK_T" && rmdir "$TK_T"
}
trap cleanup EXIT
H() { nsenter --net="/run/netns/$TK_HOSTNS" "$@"; }
now() { printf '%s\n' "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
die() { say "bench_pull: $*"; exit 1; }

# the tools of the run, from Debian's packages (package names: the commands' own)
missing=
for t in debootstrap skopeo umoci docker-registry jq gzip; do
	command -v "$t" >/dev/null || missing="$missing $t"
done
if [ -n "$missing" ]; then
	say "bench_pull: installing$missing (apt-get)"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } \
		>/dev/null 2>&1 || die "apt-get install$missing failed"
	# docker-registry starts itself on *:5000 on a systemd host: stop that one
	if [[ $missing == *docker-registry* ]] && command -v systemctl >/dev/null; then
		systemctl disable --now docker-registry >/dev/null 2>&1 || true
	fi
fi

# ---- the image: recipe, cache key, build -----------------------------------------------------

# apt's mirror for bookworm: one-line sources (sources.list, *.list) or deb822 (*.sources)
apt_mirror() {
	local u
	u=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++ }
		                   else { if ($(i + 1) == "bookworm") { print $i; exit } break } }')
	[ -n "$u" ] || u=$(awk '
		function flush() { if (!done && uris != "" && on && (" " suites " ") ~ / bookworm /) { print uris; done = 1; exit } uris = ""; suites = ""; on = 1 }
		FNR == 1 { flush() } /^[ \t]*$/ { flush() }
		/^URIs:/ { uris = $2 } /^Suites:/ { $1 = ""; suites = $0 } /^Enabled:[ \t]*no/ { on = 0 }
		END { flush() }' /etc/apt/sources.list.d/*.sources 2>/dev/null)
	printf '%s\n' "$u"
}
MIRROR=$(apt_mirror)
[ -n "$MIRROR" ] || die "no bookworm mirror in /etc/apt/sources.list{,.d}"
PKGS="iproute2 iputils-ping curl ca-certificates procps less"

build_image() { # $1: OCI layout to create (tag "bench")
	local out=$1 w=$BUILD_TMP r=$BUILD_TMP/rootfs
	timeout 900 debootstrap --variant=minbase bookworm "$r" "$MIRROR" >"$w/debootstrap.log" 2>&1 ||
		{ tail -5 "$w/debootstrap.log"; return 1; }
	printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d" && chmod 755 "$r/usr/sbin/policy-rc.d"
	# a private mount namespace: /proc for apt goes away with it, whatever happens
	timeout 600 unshare -m --propagation private sh -c "mount -t proc proc '$r/proc' && chroot '$r' sh -c '
		export DEBIAN_FRONTEND=noninteractive LC_ALL=C
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $PKGS &&
		apt-get clean && rm -rf /var/lib/apt/lists/*'" >"$w/apt.log" 2>&1 ||
		{ tail -5 "$w/apt.log"; return 1; }
	rm -f "$r/usr/sbin/policy-rc.d"
	: >"$r/etc/resolv.conf"
	echo debian >"$r/etc/hostname"
	umoci init --layout "$out" && umoci new --image "$out:bench" &&
		umoci unpack --image "$out:bench" "$w/bundle" >/dev/null || return 1
	rmdir "$w/bundle/rootfs" && mv "$r" "$w/bundle/rootfs" &&
		umoci repack --image "$out:bench" "$w/bundle" &&
		umoci config --image "$out:bench" --os linux --architecture amd64 \
			--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			--config.cmd /bin/bash && umoci gc --layout "$out"
}
KEY=$({ echo "bookworm minbase $MIRROR $PKGS $(uname -m)"; declare -f build_image; } | sha256sum | cut -c1-16)
IMG="$CACHE/debian-$KEY"
if [ ! -f "$IMG/index.json" ]; then
	say "building the Debian image (debootstrap from $MIRROR + $PKGS; cached in $IMG)..."
	mkdir -p "$CACHE" || exit 1
	BUILD_TMP=$(mktemp -d "$CACHE/.build.XXXXXX") || exit 1
	t0=$(now)
	build_image "$BUILD_TMP/layout" || die "building the image failed"
	mv "$BUILD_TMP/layout" "$IMG" || exit 1
	rm -rf "$BUILD_TMP"
	BUILD_TMP=
	say "  built in $(elapsed "$t0" "$(now)") s"
fi
MANIFEST=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "bench") | .digest' "$IMG/index.json")
mblob() { printf '%s/blobs/sha256/%s' "$IMG" "${1#sha256:}"; }
[ -f "$(mblob "$MANIFEST")" ] || die "cached image $IMG is broken; remove it"
CONFIG=$(jq -r .config.digest "$(mblob "$MANIFEST")")
BIG=$(jq -r '.layers | to_entries | max_by(.value.size) | "\(.key) \(.value.digest) \(.value.size)"' "$(mblob "$MANIFEST")")
read -r BIG_I BIG_DIGEST BIG_SIZE <<<"$BIG"
BIG_DIFF=$(jq -r ".rootfs.diff_ids[$BIG_I]" "$(mblob "$CONFIG")")
ZSIZE=$(jq '[.layers[].size] | add' "$(mblob "$MANIFEST")")
NLAYERS=$(jq '.layers | length' "$(mblob "$MANIFEST")")

# ---- tankd, registry, push -------------------------------------------------------------------

if [ "${BENCH_DISK:-0}" != 1 ]; then
	mount -t tmpfs -o size=8g,mode=0700 "tankbench-$TK_ID" "$TK_T" || die "cannot mount a tmpfs on $TK_T"
	TMPFS=1
fi
TK_CONF_EXTRA='log_level = warn'
tk_start >/dev/null
mkdir -p "$TK_T/reg"
cat >"$TK_T/reg/config.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $TK_T/reg/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$PORT, secret: bench}
YML
# nsenter and setsid exec (no job control: not a group leader), so $! is the registry itself
nsenter --net="/run/netns/$TK_HOSTNS" setsid docker-registry serve "$TK_T/reg/config.yml" \
	>"$TK_T/reg/log" 2>&1 </dev/null &
REG=$!
wait_for 10 H curl -fsS "http://127.0.0.1:$PORT/v2/" || die "the registry did not start"
REF="127.0.0.1:$PORT/debian:bench"
H skopeo copy -q --dest-tls-verify=false "oci:$IMG:bench" "docker://$REF" || die "push failed"
say "image: $REF, $NLAYERS layer(s), $((ZSIZE / 1000000)) MB gzip (cache $IMG); written to $([ -n "$TMPFS" ] && echo tmpfs || echo "disk ($TK_T)")"

PODMAN=$(command -v podman || true)
[ -n "$PODMAN" ] || say "podman not installed: that peer is skipped (apt-get install podman)"
# in a private mount namespace: whatever its storage mounts goes away with the process
podman_() {
	unshare -m --propagation private nsenter --net="/run/netns/$TK_HOSTNS" "$PODMAN" --root "$TK_T/podman/root" --runroot "$TK_T/podman/run" --tmpdir "$TK_T/podman/tmp" \
		--storage-driver overlay --cgroup-manager cgroupfs --events-backend none \
		--network-config-dir "$TK_T/podman/cni" "$@"
}

# ---- pulls, interleaved per round ------------------------------------------------------------

: >"$TK_T/t.tank"
: >"$TK_T/t.skopeo"
: >"$TK_T/t.umoci"
: >"$TK_T/t.sku"
: >"$TK_T/t.podman"
for ((r = 1; r <= ROUNDS; r++)); do
	# Tank: a fresh store (tankd restarted on an empty images dir), then `tankctl pull`
	tk_stop_tankd TERM
	rm -rf "$TK_T/data/images"
	tk_start_tankd || exit 1
	sync
	t0=$(now)
	tankctl pull "$REF" -o json >"$TK_T/pull.out" 2>&1 || { cat "$TK_T/pull.out"; die "tankctl pull failed"; }
	t1=$(now)
	elapsed "$t0" "$t1" >>"$TK_T/t.tank"

	# skopeo copy + umoci unpack into fresh directories
	rm -rf "$TK_T/sk"
	mkdir -p "$TK_T/sk"
	sync
	t0=$(now)
	H skopeo copy -q --src-tls-verify=false "docker://$REF" "oci:$TK_T/sk/img:bench" || die "skopeo copy failed"
	t1=$(now)
	umoci unpack --image "$TK_T/sk/img:bench" "$TK_T/sk/bundle" >/dev/null || die "umoci unpack failed"
	t2=$(now)
	elapsed "$t0" "$t1" >>"$TK_T/t.skopeo"
	elapsed "$t1" "$t2" >>"$TK_T/t.umoci"
	elapsed "$t0" "$t2" >>"$TK_T/t.sku"
	rm -rf "$TK_T/sk"

	if [ -n "$PODMAN" ]; then
		rm -rf "$TK_T/podman"
		mkdir -p "$TK_T/podman/cni"
		sync
		t0=$(now)
		podman_ pull -q --tls-verify=false "$REF" >/dev/null 2>"$TK_T/podman.err" ||
			{ cat "$TK_T/podman.err"; die "podman pull failed"; }
		t1=$(now)
		elapsed "$t0" "$t1" >>"$TK_T/t.podman"
		rm -rf "$TK_T/podman"
	fi
done
T_TANK=$(median <"$TK_T/t.tank")
T_SKU=$(median <"$TK_T/t.sku")
T_POD=$(median <"$TK_T/t.podman")
say "pull + unpack, median of $ROUNDS (same run, same registry; seconds):"
say "  Tank (tankctl pull, fresh store):  $T_TANK s   [$(paste -sd' ' "$TK_T/t.tank")]"
say "  skopeo copy + umoci unpack:        $T_SKU s   (copy $(median <"$TK_T/t.skopeo") + unpack $(median <"$TK_T/t.umoci"))   [$(paste -sd' ' "$TK_T/t.sku")]"
[ -n "$PODMAN" ] && say "  podman pull:                       $T_POD s   [$(paste -sd' ' "$TK_T/t.podman")]"
# the events carry running totals of the pull: a layer's unpack time is the step between the
# "done" events around it (layers unpack one after the other); blobs download in parallel, so
# only the whole image's download time is a figure
say "  Tank's last pull (its progress events): $(jq -rs --arg d "$BIG_DIGEST" '
	[.[] | objects | select(.phase? == "done" and (.digest? // null) != null)] as $e
	| [range(0; $e | length) | select($e[.].digest == $d)
	   | $e[.].unpack_ms - (if . > 0 then $e[. - 1].unpack_ms else 0 end)] | last as $u
	| "download of all blobs \($e[-1].download_ms) ms, unpack of the biggest layer \($u) ms"' \
	"$TK_T/pull.out" 2>/dev/null)"
BEST=$T_SKU
BEST_NAME="skopeo+umoci"
if [ -n "$T_POD" ] && awk -v a="$T_POD" -v b="$BEST" 'BEGIN { exit !(a < b) }'; then
	BEST=$T_POD
	BEST_NAME="podman pull"
fi
say "  speed-up over the fastest peer ($BEST_NAME): $(awk -v a="$BEST" -v b="$T_TANK" 'BEGIN { printf "%.2fx", a / b }') (target >= 1.5x)"

# ---- the biggest layer: Tank's inflate+untar vs gzip -dc vs raw zlib inflate -------------------

U="$TK_BUILD/bench/bench_unpack"
[ -x "$U" ] || make -s -C "$TK_REPO" "${TK_BUILD#"$TK_REPO"/}/bench/bench_unpack" >/dev/null ||
	die "building bench_unpack failed (make bench builds it)"
BLOB=$(mblob "$BIG_DIGEST")
cat "$BLOB" >/dev/null # in the page cache for all three
: >"$TK_T/u.tank"
: >"$TK_T/u.stream"
: >"$TK_T/u.gzip"
: >"$TK_T/u.zlib"
for ((r = 1; r <= ROUNDS; r++)); do
	rm -rf "$TK_T/unpack"
	mkdir -p "$TK_T/unpack"
	sync
	"$U" unpack "$BLOB" "$TK_T/unpack" "$BIG_DIGEST" "$BIG_DIFF" >"$TK_T/u.out" || die "Tank's unpack failed"
	sed -n 's/.*sec=//p' "$TK_T/u.out" >>"$TK_T/u.tank"
	rm -rf "$TK_T/unpack"
	"$U" stream "$BLOB" >"$TK_T/u.out" || die "Tank's layer stream failed"
	sed -n 's/.*sec=//p' "$TK_T/u.out" >>"$TK_T/u.stream"
	t0=$(now)
	gzip -dc "$BLOB" >/dev/null || die "gzip -dc failed"
	elapsed "$t0" "$(now)" >>"$TK_T/u.gzip"
	"$U" inflate "$BLOB" >"$TK_T/u.out" || die "zlib inflate failed"
	sed -n 's/.*sec=//p' "$TK_T/u.out" >>"$TK_T/u.zlib"
	TAR=$(sed -n 's/.* out=\([0-9]*\) .*/\1/p' "$TK_T/u.out")
done
mbs() { awk -v b="$TAR" -v s="$1" 'BEGIN { printf "%.0f", b / 1e6 / s }'; }
U_TANK=$(median <"$TK_T/u.tank")
U_STREAM=$(median <"$TK_T/u.stream")
U_GZIP=$(median <"$TK_T/u.gzip")
U_ZLIB=$(median <"$TK_T/u.zlib")
say "biggest layer ${BIG_DIGEST:7:12}: $((BIG_SIZE / 1000000)) MB gzip -> $((TAR / 1000000)) MB tar; median of $ROUNDS, MB/s of tar bytes:"
say "  Tank unpack (inflate + sha256 x2 + untar):         $(mbs "$U_TANK") MB/s ($U_TANK s)"
say "  Tank layer stream only (inflate + sha256 x2):      $(mbs "$U_STREAM") MB/s ($U_STREAM s)"
say "  gzip -dc >/dev/null:                               $(mbs "$U_GZIP") MB/s ($U_GZIP s)"
say "  raw zlib inflate loop:                             $(mbs "$U_ZLIB") MB/s ($U_ZLIB s)"
say "  Tank unpack / raw inflate: $(awk -v a="$U_ZLIB" -v b="$U_TANK" 'BEGIN { printf "%.0f %%", 100 * a / b }') (target >= 80 %)"
