#!/usr/bin/env bash
# run-unit.sh - run cmocka test binaries; print one summary line; fail if any failed.
set -u
pass=0 fail=0 failed=()
for t in "$@"; do
	[ -x "$t" ] || continue
	if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$t"); fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { printf 'failed: %s\n' "${failed[@]}"; exit 1; }
