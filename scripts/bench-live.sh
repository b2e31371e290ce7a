#!/usr/bin/env bash
# Live capture throughput on a veth pair (root, network namespaces): sekimori captures
# passively in one namespace while python senders in the other blast UDP datagrams as fast as
# they can for SECONDS. Prints what was sent, what the sensor captured, packets/s and drops.
# Rules: ../shared/signatures/et-open when present, else the bundled starter pack.
# Usage: scripts/bench-live.sh [SECONDS] [SENDERS] [WORKERS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
senders=${2:-2}
workers=${3:-2}
bin=target/release/sekimori
[ -x "$bin" ] || cargo build --release --locked --quiet
rules=signatures
[ -d ../shared/signatures/et-open ] && rules=../shared/signatures/et-open
p=skb$$
work=$(mktemp -d)
cleanup() { ip netns del ${p}a 2>/dev/null || true; ip netns del ${p}b 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add ${p}a; ip netns add ${p}b
ip link add ${p}a0 type veth peer name ${p}b0
ip link set ${p}a0 netns ${p}a; ip link set ${p}b0 netns ${p}b
ip -n ${p}a addr add 10.98.0.1/24 dev ${p}a0; ip -n ${p}b addr add 10.98.0.2/24 dev ${p}b0
ip -n ${p}a link set ${p}a0 up; ip -n ${p}b link set ${p}b0 up
cat > "$work/blast.py" <<'PY'
import socket, sys, time
end = time.time() + float(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 11, 1)
msg = b"x" * 64
n = 0
while time.time() < end:
    for _ in range(1000):
        try:
            s.sendto(msg, ("10.98.0.2", 9 + n % 1000))
        except OSError:
            pass
        n += 1
print(n, flush=True)
PY
ip netns exec ${p}b "$bin" run -i ${p}b0 --rules "$rules" --cache-dir "$work/cache" --workers "$workers" \
  --eve "$work/eve.json" --checksum-checks no --runmode ${RUNMODE:-workers} --control-socket "$work/ctl.sock" 2> "$work/sensor.log" &
for _ in $(seq 600); do [ -S "$work/ctl.sock" ] && break; sleep 0.1; done
[ -S "$work/ctl.sock" ] || { cat "$work/sensor.log"; exit 1; }
sent=0
pids=()
for i in $(seq "$senders"); do ip netns exec ${p}a python3 "$work/blast.py" "$secs" > "$work/sent.$i" & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid"; done
sleep 1
for i in $(seq "$senders"); do sent=$((sent + $(cat "$work/sent.$i"))); done
"$bin" ctl --socket "$work/ctl.sock" shutdown > /dev/null
wait
line=$(grep -E '^run:' "$work/sensor.log")
pkts=$(echo "$line" | sed -E 's/.* s, ([0-9]+) packets.*/\1/')
echo "rules: $rules; workers: $workers; senders: $senders for $secs s"
echo "sent: $sent datagrams ($(( sent / secs )) per second offered)"
echo "$line"
echo "captured: $pkts packets, $(( pkts / secs )) packets/s over the sending window"
