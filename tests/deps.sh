#!/usr/bin/env bash
# deps.sh - install the Debian packages Tank builds and tests with, only those missing.
set -eu
pkgs=(gcc clang llvm make pkg-config libbpf-dev libelf-dev bpftool libnl-3-dev libnl-route-3-dev
	libmnl-dev libcurl4-openssl-dev libarchive-dev zlib1g-dev libjansson-dev libcmocka-dev
	libssl-dev libseccomp-dev libclang-rt-14-dev
	docker-registry skopeo umoci busybox-static iproute2 iputils-ping curl jq apache2-utils
	python3 openssl containernetworking-plugins)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# a systemd host may auto-start docker-registry on :5000; tests start their own instance
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d.tank && chmod +x /usr/sbin/policy-rc.d.tank
had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
[ $had_policy -eq 1 ] || cp /usr/sbin/policy-rc.d.tank /usr/sbin/policy-rc.d
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ $had_policy -eq 1 ] || rm -f /usr/sbin/policy-rc.d
rm -f /usr/sbin/policy-rc.d.tank
