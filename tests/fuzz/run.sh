#!/usr/bin/env bash
# run.sh - run every built libFuzzer target for FUZZ_SECONDS each (default 5) on its seed
# corpus (tests/fuzz/corpus/<target>, plus tests/data/specs for the spec target). A crash
# fails the run and leaves the reproducer in build/fuzz/.
set -u
B=${TANK_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
here=$(cd "$(dirname "$0")" && pwd)
secs=${FUZZ_SECONDS:-5}
pass=0 fail=0
for f in "$B"/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	work="$B/fuzz/corpus-$name"
	mkdir -p "$work"
	seeds=()
	[ -d "$here/corpus/$name" ] && seeds+=("$here/corpus/$name")
	[ "$name" = fuzz_spec ] && seeds+=("$here/../data/specs")
	if "$f" -max_total_time="$secs" -max_len=65536 -artifact_prefix="$B/fuzz/$name-" \
		"$work" "${seeds[@]}" >"$B/fuzz/$name.log" 2>&1; then
		pass=$((pass + 1))
		echo "ok   - $name ($(grep -o 'Done [0-9]* runs' "$B/fuzz/$name.log" | tail -n 1))"
	else
		fail=$((fail + 1))
		echo "FAIL - $name: see $B/fuzz/$name.log"
		tail -n 30 "$B/fuzz/$name.log"
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
