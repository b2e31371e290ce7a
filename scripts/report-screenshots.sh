#!/usr/bin/env bash
# Renders sekimori's HTML reports in headless Chromium (Debian's package, installed when
# missing) and saves a screenshot of each. Without arguments it replays the bundled captures
# with the bundled tuning and writes out/reports/{incidents,tune-report,tune-diff}.{html,png};
# with an EVE file (and optional tuning files) it reports on that instead.
#
#   scripts/report-screenshots.sh [EVE [TUNING...]]
#
# The pages carry no script and load nothing from the network; the browser's log is checked
# for console messages and failed loads, and the run fails if there are any.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_command chromium chromium
bin=target/release/sekimori
[ -x "$bin" ] || scripts/setup.sh
out=out/reports
mkdir -p "$out"
if [ $# -ge 1 ]; then
  eve=$1
  shift
  tunings=("$@")
else
  eve=$out/eve.json
  tunings=(signatures/tuning.toml)
  "$bin" replay --rules signatures --tuning signatures/tuning.toml --eve "$eve" pcaps 2>/dev/null
fi
targs=()
for t in "${tunings[@]}"; do targs+=(--tuning "$t"); done
"$bin" incidents "${targs[@]}" --html "$out/incidents.html" "$eve" >/dev/null
"$bin" tune report --html "$out/tune-report.html" "$eve" >/dev/null
if [ ${#tunings[@]} -gt 0 ]; then
  "$bin" tune diff --tuning vendor --tuning "${tunings[-1]}" --html "$out/tune-diff.html" "$eve" >/dev/null
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
status=0
for page in "$out"/incidents.html "$out"/tune-report.html "$out"/tune-diff.html; do
  [ -f "$page" ] || continue
  png=${page%.html}.png
  log=$(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --enable-logging=stderr --v=0 --hide-scrollbars --user-data-dir="$profile" \
    --window-size=1300,1800 --screenshot="$png" "file://$(realpath "$page")" 2>&1 || true)
  if grep -qE 'Uncaught|CONSOLE\(|Failed to load resource' <<<"$log"; then
    echo "report-screenshots: $page: the browser reported errors:" >&2
    grep -E 'Uncaught|CONSOLE\(|Failed to load resource' <<<"$log" >&2
    status=1
  fi
  [ -s "$png" ] || { echo "report-screenshots: no screenshot for $page" >&2; status=1; }
  echo "$page -> $png"
done
exit $status
