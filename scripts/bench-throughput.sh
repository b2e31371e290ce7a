#!/usr/bin/env bash
# The standard throughput benchmark (../shared/bench/README.md): every pcap under
# ../shared/corpus/{benign,malicious} (pcapng excluded), all of the ET Open pack, N workers,
# EVE alerts to a file, checksum checks off. Prints rule load (cold and cached), engine time,
# packets/s, Mbit/s, peak RSS, alerts and packets not inspected, RUNS times.
# Usage: scripts/bench-throughput.sh [WORKERS] [RUNS] [REPLAY ARGS...] (e.g. --flow-events, --config FILE)
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${1:-2}
runs=${2:-3}
extra=${*:3}
shared=../shared
[ -d "$shared/corpus" ] || { echo "bench-throughput: $shared/corpus not found" >&2; exit 1; }
bin=target/release/sekimori
[ -x "$bin" ] || cargo build --release --locked --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The benchmark's input: pcap files only.
find "$shared/corpus/benign" "$shared/corpus/malicious" -type f -name '*.pcap' | sort > "$work/files"
mkdir -p "$work/in"
i=0
while read -r f; do i=$((i + 1)); ln -s "$(realpath "$f")" "$work/in/$(printf '%05d' $i).pcap"; done < "$work/files"
echo "input: $(wc -l < "$work/files") pcap files; rules: $shared/signatures/et-open; workers: $workers $extra"
for mode in cold cached; do
  [ "$mode" = cold ] && rm -rf "$work/cache"
  out=$("$bin" rules check --cache-dir "$work/cache" "$shared/signatures/et-open" 2>/dev/null)
  echo "rule load ($mode): $(echo "$out" | grep -E '^time:' | sed 's/time: //'); $(echo "$out" | grep 'peak RSS')"
done
for r in $(seq "$runs"); do
  /usr/bin/time -f "%M" -o "$work/rss" "$bin" replay --rules "$shared/signatures/et-open" --cache-dir "$work/cache" \
    --eve "$work/eve.json" --checksum-checks no --workers "$workers" $extra "$work/in" 2> "$work/err" > /dev/null || true
  line=$(grep -E '^replay:' "$work/err")
  pkts=$(echo "$line" | sed -E 's/.* ([0-9]+) packets, ([0-9]+) bytes, ([0-9.]+) s.*/\1/')
  bytes=$(echo "$line" | sed -E 's/.* ([0-9]+) packets, ([0-9]+) bytes, ([0-9.]+) s.*/\2/')
  secs=$(echo "$line" | sed -E 's/.* ([0-9]+) packets, ([0-9]+) bytes, ([0-9.]+) s.*/\3/')
  mbit=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.0f", b * 8 / s / 1e6 }')
  pps=$(awk -v p="$pkts" -v s="$secs" 'BEGIN { printf "%.0f", p / s }')
  alerts=$(grep -E '^alerts:' "$work/err" | awk '{print $2}' | tr -d ,)
  sigs=$(grep -cE '^ +[0-9]+  [0-9]+:[0-9]+  ' "$work/err" || true)
  noinsp=$(grep -E '^packets:' "$work/err" | sed -E 's/.*\), ([0-9]+) not inspected.*/\1/')
  echo "run $r: engine $secs s, $pkts packets, $pps packets/s, $mbit Mbit/s, peak RSS $(( $(tail -n 1 "$work/rss") / 1024 )) MB, $alerts alerts from $sigs signatures, $noinsp not inspected"
done
grep -E '^not inspected by reason' "$work/err" || true
