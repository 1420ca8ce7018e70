#!/usr/bin/env bash
# Entry point for every job: ./build.sh <build|test|pack|demo|bench> [cake options]
# Restores the pinned Cake tool, then runs build/build.cake. For `test`, the totals line is
# printed again after Cake's own summary so that it is the last line of the run.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
target=${1:-build}
[ $# -gt 0 ] && shift
dotnet tool restore >/dev/null
totals=artifacts/test-results/totals.txt
[ "$target" = test ] && rm -f "$totals"
status=0
dotnet cake build/build.cake --target="$target" "$@" || status=$?
if [ "$target" = test ]; then
  if [ -s "$totals" ]; then
    cat "$totals"
  else
    echo "Tests: 0 passed, 1 failed, 0 skipped"
    status=1
  fi
fi
exit $status
