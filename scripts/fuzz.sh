#!/usr/bin/env bash
# Runs every fuzz target briefly (FUZZTIME each, default 10s): CI proves they still run and find nothing
# quickly; run longer by hand with FUZZTIME=10m.
set -euo pipefail
fuzztime="${FUZZTIME:-10s}"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
  done
done
