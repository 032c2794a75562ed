#!/usr/bin/env bash
# mkimage-busybox.sh - build a busybox OCI image layout with umoci (no registry needed).
#   usage: mkimage-busybox.sh DIR [TAG]    (TAG defaults to 1.0; DIR must be absent or empty)
# Prints the absolute path of the layout. Recipe: TESTING.md "Test images".
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 DIR [TAG]" >&2
	exit 2
fi
dir=$1
tag=${2:-1.0}

for tool in umoci; do
	command -v "$tool" >/dev/null || { echo "$0: $tool not found (apt-get install umoci)" >&2; exit 1; }
done
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "$0: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
	echo "$0: $dir exists and is not empty" >&2
	exit 1
fi

case "$(uname -m)" in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) arch=$(uname -m) ;;
esac

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# umoci init wants to create the layout directory itself
rmdir "$dir"

work=$(mktemp -d "${TMPDIR:-/tmp}/mkimage-busybox.XXXXXX")
trap 'rm -rf "$work"' EXIT

# as root a plain unpack; otherwise umoci's rootless mode (repack picks it up from the bundle)
rootless=
[ "$(id -u)" -eq 0 ] || rootless=--rootless

umoci init --layout "$dir"
umoci new --image "$dir:$tag"
umoci unpack $rootless --image "$dir:$tag" "$work/bun" >/dev/null

r=$work/bun/rootfs
mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/proc" "$r/sys" "$r/dev"
chmod 1777 "$r/tmp"
cp "$busybox" "$r/bin/busybox"
for a in sh ls cat echo sleep ping wget ip nc httpd ps id true false env hostname mkdir rm; do
	ln -s busybox "$r/bin/$a"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
echo 'root:x:0:' >"$r/etc/group"

umoci repack --image "$dir:$tag" "$work/bun"
umoci config --image "$dir:$tag" --os linux --architecture "$arch" --config.env PATH=/bin \
	--config.entrypoint /bin/sh --config.cmd -c --config.cmd 'echo hello'
umoci gc --layout "$dir"

echo "$dir"
