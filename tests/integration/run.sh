#!/usr/bin/env bash
# run.sh - run every integration test (root): tests/integration/test_*.sh, one summary line.
set -u
here=$(cd "$(dirname "$0")" && pwd)
pass=0 fail=0
for t in "$here"/test_*.sh; do
	echo "== $(basename "$t")"
	if bash "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "== $(basename "$t") FAILED"; fi
done
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
