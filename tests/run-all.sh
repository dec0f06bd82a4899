#!/usr/bin/env bash
# Runs every test project and ends with one plain line: "N passed, M failed[, K skipped]".
# Exit status is non-zero when any test failed or a project could not run.
set -uo pipefail
cd "$(dirname "$0")/.."
config="${1:-Release}"
results=tests/.results
rm -rf "$results"; mkdir -p "$results"

projects=$(ls tests/*/*.Tests.csproj)
status=0
for proj in $projects; do
  name=$(basename "$proj" .csproj)
  echo "=== $name"
  if ! dotnet test "$proj" -c "$config" --no-build --nologo \
        --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal" \
        --results-directory "$results"; then
    status=1
  fi
  if [ ! -f "$results/$name.trx" ]; then
    echo "error: $name produced no results (build or test host failure)"
    status=1
  fi
done

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  p=$(get passed); f=$(get failed); e=$(get error); t=$(get timeout); a=$(get aborted)
  total=$(get total); executed=$(get executed)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0} + ${t:-0} + ${a:-0}))
  skipped=$((skipped + ${total:-0} - ${executed:-0}))
done
[ "$failed" -gt 0 ] && status=1
line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
exit $status
