#!/usr/bin/env bash
# Runs every fuzz target briefly (FUZZTIME each, default 10s): CI proves they still run and find nothing
# quickly; run longer by hand with FUZZTIME=10m (or a count, FUZZTIME=100000x).
#
# A failing input is always written to <package>/testdata/fuzz/<target>/ and fails this script. Go 1.26's
# fuzz coordinator can also end a duration-bounded run with a bare "context deadline exceeded" and no
# input written (go.dev/issue/75804, fixed in Go 1.27): that is the toolchain's race at the deadline, not a
# finding, so it is reported and the run goes on.
set -euo pipefail
fuzztime="${FUZZTIME:-10s}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target ($fuzztime)"
    corpus="$dir/testdata/fuzz/$target"
    before=$(ls "$corpus" 2>/dev/null | sort || true)
    if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
      tail -n 1 "$log"
      continue
    fi
    cat "$log"
    after=$(ls "$corpus" 2>/dev/null | sort || true)
    if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log"; then
      echo "fuzz $target: stopped by Go's fuzz-deadline race (go.dev/issue/75804), no failing input: not a finding"
      continue
    fi
    echo "fuzz $target: FAILED (failing input under $corpus)"
    failed=1
  done
done
exit "$failed"
