#!/usr/bin/env bash
# What each EVE sink costs: replays ../shared/corpus/{benign,malicious} (pcap files) with
# ET Open and every event type on (flow, http, dns, tls, smb, fileinfo, anomaly), once per
# output set, RUNS rounds alternating the sets. Prints the median replay time per set, the
# events each sink wrote and dropped, and events/s into Redis. Starts its own redis-server
# and UDP/unix-datagram listeners (python3) on loopback; needs redis-server installed.
# Usage: scripts/bench-sinks.sh [WORKERS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${1:-2}
runs=${2:-3}
shared=../shared
[ -d "$shared/corpus" ] || { echo "bench-sinks: $shared/corpus not found" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "bench-sinks: redis-server not installed" >&2; exit 1; }
bin=target/release/sekimori
[ -x "$bin" ] || cargo build --release --locked --quiet
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --logfile "$work/redis.log" --pidfile "$work/redis.pid" --dir "$work"
python3 - "$work/udp.port" "$work/eve.dgram" <<'PY' &
import socket, sys, threading
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
open(sys.argv[1], "w").write(str(u.getsockname()[1]))
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); d.bind(sys.argv[2])
d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
def drain(s):
    while True: s.recv(65536)
threading.Thread(target=drain, args=(d,), daemon=True).start()
drain(u)
PY
listener=$!
trap 'kill $listener 2>/dev/null; redis-cli -p "$port" shutdown nosave >/dev/null 2>&1; rm -rf "$work"' EXIT
while [ ! -s "$work/udp.port" ]; do sleep 0.1; done
find "$shared/corpus/benign" "$shared/corpus/malicious" -type f -name '*.pcap' | sort > "$work/files"
mkdir -p "$work/in"
i=0
while read -r f; do i=$((i + 1)); ln -s "$(realpath "$f")" "$work/in/$(printf '%05d' $i).pcap"; done < "$work/files"
events="[output]
flow = true
http = true
dns = true
tls = true
smb = true
fileinfo = true
anomaly = true
"
printf '%s' "$events" > "$work/file.toml"
printf '%s[[output.sinks]]\nkind = "redis"\nport = %s\nmode = "xadd"\nkey = "bench"\nstream_maxlen = 100000000\n' "$events" "$port" > "$work/redis.toml"
printf '%s[[output.sinks]]\nkind = "syslog"\naddress = "udp://127.0.0.1:%s"\n' "$events" "$(cat "$work/udp.port")" > "$work/syslog.toml"
printf '%s[[output.sinks]]\nkind = "unix-dgram"\npath = "%s"\n' "$events" "$work/eve.dgram" > "$work/dgram.toml"
cp "$work/file.toml" "$work/pcap.toml"
sets="file redis syslog dgram pcap"
"$bin" rules check --cache-dir "$work/cache" "$shared/signatures/et-open" > /dev/null 2>&1
echo "input: $(wc -l < "$work/files") pcap files; rules: ET Open; workers: $workers; runs: $runs"
for r in $(seq "$runs"); do
  for s in $sets; do
    redis-cli -p "$port" del bench > /dev/null
    extra=()
    [ "$s" = pcap ] && extra=(--pcap-out "$work/pcap-out")
    "$bin" replay --rules "$shared/signatures/et-open" --cache-dir "$work/cache" --config "$work/$s.toml" \
      --eve "$work/eve.json" --checksum-checks no --workers "$workers" "${extra[@]}" "$work/in" \
      2> "$work/$s.err.$r" > /dev/null || true
    rm -rf "$work/pcap-out"
    grep -E '^replay:' "$work/$s.err.$r" | sed -E 's/.* ([0-9.]+) s,.*/\1/' >> "$work/$s.times"
  done
done
base=$(sort -n "$work/file.times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
for s in $sets; do
  med=$(sort -n "$work/$s.times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  cost=$(awk -v m="$med" -v b="$base" 'BEGIN { printf "%+.1f%%", (m - b) / b * 100 }')
  echo "== $s: median $med s ($cost vs file only)"
  grep -E '^eve:|^pcap:' "$work/$s.err.$runs" | sed 's/^/   /'
done
w=$(grep -E '^eve: .* redis ' "$work/redis.err.$runs" | awk '{print $2}')
t=$(sort -n "$work/redis.times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "redis: $w events in $t s: $(awk -v w="$w" -v t="$t" 'BEGIN { printf "%.0f", w / t }') events/s (XADD, pipelined, loopback)"
