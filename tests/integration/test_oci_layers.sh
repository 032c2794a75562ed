#!/usr/bin/env bash
# test_oci_layers.sh - a 3-layer image made with umoci (parents with odd modes and owners that
# upper layers omit, a directory symlink in a lower layer written through, a hard link across
# layers, whiteouts, an opaque directory, same-layer whiteouts) unpacked by Tank and stacked
# with a read-only overlayfs mount, against `umoci unpack` of the same image.
set -u
. "$(dirname "$0")/lib.sh"
trap tk_cleanup EXIT
for t in umoci jq python3 gcc; do
	command -v $t >/dev/null || { not_ok "$t is installed"; tk_finish; exit; }
done
W=$TK_T
cd "$W" || exit 1
[ "$TK_BUILD" = "$TK_REPO/build" ] && make -s -C "$TK_REPO" build/liboci.a build/libtank.a >/dev/null 2>&1
gcc -std=gnu11 -D_GNU_SOURCE -O2 -I"$TK_REPO" $(pkg-config --cflags jansson) -o oci_pull \
	"$TK_REPO/tests/root/oci_pull.c" "$TK_BUILD/liboci.a" "$TK_BUILD/libtank.a" \
	$(pkg-config --libs libcurl libarchive jansson libcrypto zlib) -lpthread ||
	{ not_ok "build the pull driver"; tk_finish; exit; }

# ---- layer 0: umoci repack of a tree with odd parents ---------------------------------------
umoci init --layout img >/dev/null && umoci new --image img:t >/dev/null &&
	umoci unpack --image img:t b0 >/dev/null || { not_ok "umoci init"; tk_finish; exit; }
R=b0/rootfs
mkdir -p $R/home/user $R/usr/lib $R/bin $R/etc $R/var/cache $R/srv $R/d $R/y $R/opt/app/conf
echo libc >$R/usr/lib/libc.so
echo bb >$R/bin/busybox && chown 0:2 $R/bin/busybox && chmod 4755 $R/bin/busybox
ln -s usr/lib $R/lib && ln -s /usr/lib $R/lib64
echo a >$R/etc/a; echo b >$R/etc/b; echo o >$R/var/cache/old; echo o >$R/d/old
echo l >$R/y/lower; echo x >$R/x; echo z >$R/z; echo c >$R/opt/app/conf/c
echo p >$R/home/user/.profile && chown -R 1000:1000 $R/home/user && chmod 0700 $R/home/user
chown 7:8 $R/srv && chmod 0751 $R/srv && chown 5:6 $R/etc && chmod 0750 $R/etc
chmod 0711 $R/var && chown 9:9 $R/opt/app && chmod 0710 $R/opt/app
python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.tank", b"dir")' $R/home/user 2>/dev/null
touch -d @1200000000 $R/home/user $R/srv $R/etc $R/var $R/usr/lib $R/d $R/y $R/opt/app \
	$R/opt/app/conf $R/bin
umoci repack --image img:t b0 >/dev/null || { not_ok "umoci repack"; tk_finish; exit; }

# ---- layers 1 and 2: tars written here, added verbatim (umoci never writes through symlinks) --
python3 - <<'PY' || { not_ok "write layer tars"; tk_finish; exit; }
import tarfile, io
def add(t, kind, name, arg=None, uid=0):
    ti = tarfile.TarInfo(name); ti.mtime = 1300000000; ti.uid = ti.gid = uid
    data = None
    if kind == 'f': data = arg.encode(); ti.size = len(data); ti.mode = 0o644
    elif kind == 'h': ti.type = tarfile.LNKTYPE; ti.linkname = arg; ti.mode = 0o644
    t.addfile(ti, io.BytesIO(data) if data else None)
with tarfile.open('layer1.tar', 'w', format=tarfile.PAX_FORMAT) as t:
    add(t, 'f', 'lib/extra.so', 'extra')            # through layer 0's dir symlink
    add(t, 'f', 'lib64/abs.so', 'abs')              # through an absolute dir symlink
    add(t, 'f', 'home/user/new', 'n', uid=1000)     # its parents are not listed
    add(t, 'h', 'bin/sh', 'bin/busybox')            # a hard link to a layer-0 file
    add(t, 'f', 'etc/.wh.a', '')                    # whiteout of a lower file
    add(t, 'f', 'var/.wh.cache', '')                # whiteout of a lower directory
    add(t, 'f', 'opt/app/conf/new', 'new')
with tarfile.open('layer2.tar', 'w', format=tarfile.PAX_FORMAT) as t:
    add(t, 'f', 'srv/www/index.html', 'i')          # www in no layer, srv below
    add(t, 'f', 'd/new', 'n')
    add(t, 'f', 'd/.wh..wh..opq', '')               # opaque marker after its sibling
    add(t, 'f', 'x', 'upper x')
    add(t, 'f', '.wh.x', '')                        # same layer: x stays
    add(t, 'f', 'y/upper', 'u')
    add(t, 'f', '.wh.y', '')                        # y of this layer stays, y/lower goes
    add(t, 'f', '.wh.z', '')
    add(t, 'h', 'usr/lib/extra.hard', 'lib/extra.so')
PY
umoci raw add-layer --image img:t layer1.tar >/dev/null &&
	umoci raw add-layer --image img:t layer2.tar >/dev/null || { not_ok "umoci add-layer"; tk_finish; exit; }
umoci unpack --image img:t bu >/dev/null || { not_ok "umoci unpack"; tk_finish; exit; }

./oci_pull --store "$W/store" pull "oci:$W/img:t" >pull.json 2>pull.err
check "Tank unpacks the 3-layer image" test -s pull.json
mapfile -t L < <(jq -r '.layers[]' pull.json 2>/dev/null)
check "3 layer dirs" test "${#L[@]}" -eq 3
lower=""
for ((i = ${#L[@]} - 1; i >= 0; i--)); do lower="$lower${lower:+:}${L[$i]}"; done
mkdir -p mnt empty
# type, mode, owner, mtime (dirs: see below), size, link target; and file contents
list() { (cd "$1" && find . -mindepth 1 -printf '%p %y %m %U:%G %T@ %s %l\n' | sed 's/\.0000000000 / /' | sort); }
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 md5sum); }
unshare -m --propagation private sh -c "mount -t overlay -o ro,lowerdir=$lower:$W/empty overlay $W/mnt &&
	cd $W && { $(declare -f list sums); list mnt >tank.list; sums mnt >tank.sums;
	for p in bin/sh bin/busybox usr/lib/extra.so usr/lib/extra.hard; do stat -c %i mnt/\$p; done >tank.ino; umount mnt; }"
list bu/rootfs >umoci.list
sums bu/rootfs >umoci.sums
# umoci leaves the unpack time on directories where it had to mkdir or delete below an
# unlisted parent (srv, y); Tank keeps the lower layer's mtime there. Directory mtimes are
# compared apart.
nodirtime() { awk '$2 == "d" { $5 = "-" } { print }' "$1"; }
check "same paths, types, modes, owners, sizes, link targets and file mtimes as umoci" \
	diff -u <(nodirtime umoci.list) <(nodirtime tank.list)
check "same file contents as umoci" diff -u umoci.sums tank.sums
dirtime() { awk -v p="./$2" '$1 == p { print $5 }' "$1"; }
bad=
for p in home/user etc var usr/lib opt/app opt/app/conf d bin; do
	[ "$(dirtime tank.list $p)" = "$(dirtime umoci.list $p)" ] ||
		bad="$bad $p(tank $(dirtime tank.list $p), umoci $(dirtime umoci.list $p))"
done
check "directory mtimes as umoci where it keeps them:$bad" test -z "$bad"
check "srv keeps its layer-0 mtime" test "$(dirtime tank.list srv)" = 1200000000
check "home/user: 0700 1000:1000 as in layer 0" grep -qx './home/user d 700 1000:1000 1200000000 4096 ' tank.list
check "lib stays layer 0's symlink" grep -qx './lib l 777 0:0 [0-9.]* 7 usr/lib' tank.list
check "usr/lib/extra.so written through it" grep -q '^./usr/lib/extra.so f ' tank.list
check "whiteouts: etc/a, var/cache, z gone; opaque d; same-layer x, y kept" \
	sh -c "! grep -Eq '^./(etc/a|var/cache|z|d/old|y/lower) ' tank.list && grep -q '^./y/upper ' tank.list && grep -q '^./d/new ' tank.list"
mapfile -t I <tank.ino
check "bin/sh and bin/busybox are one file (hard link across layers)" test "${I[0]}" = "${I[1]}"
check "usr/lib/extra.hard and extra.so are one file" test "${I[2]}" = "${I[3]}"
tk_finish
