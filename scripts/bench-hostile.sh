#!/usr/bin/env bash
# The hostile benchmark (issue 14): generates what an attacker sends to blind a sensor and
# prints, for each input, packets/s and peak RSS next to the standard benchmark input
# (../shared/corpus benign+malicious, ET Open), all with the same config:
#   syn-flood        1,000,000 SYNs from distinct sources (flow tables full all along)
#   fragment-flood   200,000 first fragments that never complete
#   pcre-stream      a stream of 'aaa...!' segments against /(a+)+$/ behind content "a"
#   header-flood     20 HTTP requests with 100,000 header lines each
#   overlap-flood    12,000 sessions holding overlapping out-of-order segments
#   nul-flood        a stream of NUL-byte segments: ET's own run-of-zeros literals make the
#                    Hyperscan prefilter slow per byte (found in this work; not yet fixed)
# and the load time and peak RSS of ET Open with a 1,000-network HOME_NET, and of a tuning
# file with 100,000 overrides. Each run is cut at TIMEOUT seconds (printed as such).
# Targets: every flood at >= 50% of the standard packet rate; peak RSS within the standard
# run's + the configured caps (stream and defrag memcaps of all workers) + 10%.
# Usage: scripts/bench-hostile.sh [WORKERS] [TIMEOUT]
# BIN=path/to/sekimori compares another build on the same inputs (default: target/release).
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${1:-2}
limit=${2:-120}
shared=../shared
rules=$shared/signatures/et-open
[ -d "$rules" ] || { echo "bench-hostile: $rules not found" >&2; exit 1; }
cargo build --release --locked --quiet --bin sekimori --example hostile_inputs
bin=${BIN:-target/release/sekimori}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/examples/hostile_inputs "$work/in" > /dev/null
# The caps the floods must stay within (per worker; the script multiplies by workers).
stream_memcap=$((64 << 20))
defrag_memcap=$((16 << 20))
cat > "$work/bench.toml" <<EOF
[stream]
memcap = $stream_memcap
[defrag]
memcap = $defrag_memcap
EOF
caps_mb=$(( (stream_memcap + defrag_memcap) * workers >> 20 ))
mkdir -p "$work/std"
i=0
find "$shared/corpus/benign" "$shared/corpus/malicious" -type f -name '*.pcap' | sort | while read -r f; do
  i=$((i + 1)); ln -s "$(realpath "$f")" "$work/std/$(printf '%05d' $i).pcap"
done
"$bin" rules check --cache-dir "$work/cache" "$rules" > /dev/null 2>&1 || true

# run NAME INPUT [EXTRA ARGS...]: one replay, cut at $limit seconds.
run() {
  local name=$1 input=$2; shift 2
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  timeout "$limit" /usr/bin/time -f "%M" -o "$work/rss" "$bin" replay --config "$work/bench.toml" \
    --rules "$rules" --rules "$work/in/hostile.rules" --cache-dir "$work/cache" \
    --eve "$work/eve.json" --checksum-checks no --workers "$workers" "$@" "$input" \
    2> "$work/err" > /dev/null || rc=$?
  t1=$(date +%s.%N)
  if [ "$rc" = 124 ]; then
    printf '%-16s not done in %s s\n' "$name" "$limit"
    return
  fi
  local line pkts secs pps rss
  line=$(grep -E '^replay:' "$work/err" || true)
  pkts=$(echo "$line" | sed -E 's/.* ([0-9]+) packets, ([0-9]+) bytes, ([0-9.]+) s.*/\1/')
  secs=$(echo "$line" | sed -E 's/.* ([0-9]+) packets, ([0-9]+) bytes, ([0-9.]+) s.*/\3/')
  pps=$(awk -v p="$pkts" -v s="$secs" 'BEGIN { printf "%.0f", p / s }')
  rss=$(( $(tail -n 1 "$work/rss") / 1024 ))
  printf '%-16s %9s packets  %7s s  %9s packets/s  peak RSS %5s MB  (exit %s, wall %.1f s)\n' \
    "$name" "$pkts" "$secs" "$pps" "$rss" "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
  echo "$pps $rss" > "$work/last"
}

echo "workers: $workers; rules: ET Open + hostile.rules; caps: stream $((stream_memcap >> 20)) MiB + defrag $((defrag_memcap >> 20)) MiB per worker ($caps_mb MB in all)"
run standard "$work/std"
read -r std_pps std_rss < "$work/last"
for f in syn-flood fragment-flood pcre-stream header-flood overlap-flood nul-flood; do
  echo "0 0" > "$work/last"
  run "$f" "$work/in/$f.pcap"
  read -r pps rss < "$work/last"
  [ "$pps" = 0 ] && continue
  awk -v p="$pps" -v s="$std_pps" -v r="$rss" -v sr="$std_rss" -v c="$caps_mb" 'BEGIN {
    printf "                 rate %.0f%% of standard (target >= 50%%); RSS %s MB vs cap %.0f MB (standard + caps + 10%%)\n",
      100 * p / s, r, (sr + c) * 1.1 }'
done

# load NAME ARGS...: rule load time and peak RSS.
load() {
  local name=$1; shift
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  timeout "$limit" /usr/bin/time -f "%M" -o "$work/rss" "$bin" "$@" > /dev/null 2> "$work/err" || rc=$?
  t1=$(date +%s.%N)
  if [ "$rc" = 124 ]; then
    printf '%-16s not done in %s s\n' "$name" "$limit"
  else
    printf '%-16s %.2f s  peak RSS %s MB  (exit %s)\n' "$name" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
      "$(( $(tail -n 1 "$work/rss") / 1024 ))" "$rc"
  fi
}
load "load standard" rules check --cache-dir "$work/cache" "$rules"
load "load HOME_NET x1000" rules check --config "$work/in/home-net-1000.toml" --cache-dir "$work/cache" "$rules"
load "tuning 100k" replay --rules "$rules" --cache-dir "$work/cache" --tuning "$work/in/tuning-100k.toml" \
  --eve /dev/null --workers 1 pcaps/benign-web.pcap
