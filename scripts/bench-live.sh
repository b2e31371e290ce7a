#!/usr/bin/env bash
# Live capture on the wire: a veth pair between two network namespaces (root), sekimori
# capturing passively on one end while tcpreplay (Debian's tcpreplay, installed when missing)
# replays the benchmark captures into the other, at each rate given and at --topspeed, for
# both runmodes. Prints per rate: frames sent, frames the sensor received, kernel and ring
# drops, and alerts against the offline replay of the same captures; then the highest rate
# each runmode sustained with under 0.1% kernel drops.
# Input: the Ethernet pcaps of ../shared/corpus/{benign,malicious} (the standard benchmark's
# files that tcpreplay can put on an Ethernet link), else the bundled pcaps/.
# Rules: ../shared/signatures/et-open when present, else the bundled starter pack.
# Usage: scripts/bench-live.sh [WORKERS] [MBPS...]   (default: 2 workers, 200 500 1000 2000)
# RUNMODES="workers workers:flow autofp" picks the runmodes (default "workers autofp"); after
# a colon, the workers fanout (ip_pair, the default, or flow).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_command tcpreplay tcpreplay --no-install-recommends
workers=${1:-2}
shift || true
rates=("${@:-200 500 1000 2000}")
read -r -a rates <<< "${rates[*]}"
rates+=(topspeed)
bin=target/release/sekimori
[ -x "$bin" ] || cargo build --release --locked --quiet
rules=signatures
[ -d ../shared/signatures/et-open ] && rules=../shared/signatures/et-open
p=skb$$
work=$(mktemp -d)
cleanup() {
  ip netns del ${p}a 2>/dev/null || true
  ip netns del ${p}b 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The input: Ethernet captures (link type 1), each frame short enough for the link.
if [ -d ../shared/corpus/benign ]; then
  find ../shared/corpus/benign ../shared/corpus/malicious -type f -name '*.pcap' | sort > "$work/all"
else
  ls pcaps/*.pcap > "$work/all"
fi
python3 - "$work/all" "$work/files" <<'PY'
import struct, sys
out = []
for path in open(sys.argv[1]).read().split():
    with open(path, "rb") as f:
        h = f.read(24)
    if len(h) < 24:
        continue
    magic = struct.unpack("<I", h[:4])[0]
    e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    if struct.unpack(e + "I", h[20:24])[0] == 1:
        out.append(path)
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
mapfile -t files < "$work/files"
mkdir -p "$work/in"
i=0
for f in "${files[@]}"; do i=$((i + 1)); ln -s "$(realpath "$f")" "$work/in/$(printf '%05d' $i).pcap"; done

# Offline reference: the same captures replayed from the files.
"$bin" rules check --cache-dir "$work/cache" "$rules" > /dev/null 2>&1 || true
"$bin" replay --rules "$rules" --cache-dir "$work/cache" --checksum-checks no --workers "$workers" \
  --eve "$work/offline.json" "$work/in" 2> "$work/offline.log" > /dev/null
offline_pkts=$(grep -E '^replay:' "$work/offline.log" | sed -E 's/.* ([0-9]+) packets, .*/\1/')
offline_alerts=$(grep -E '^alerts:' "$work/offline.log" | awk '{print $2}' | tr -d ,)
echo "input: ${#files[@]} Ethernet pcaps, $offline_pkts packets; rules: $rules; workers: $workers"
echo "offline replay: $offline_alerts alerts"

ip netns add ${p}a
ip netns add ${p}b
ip link add ${p}a0 type veth peer name ${p}b0
ip link set ${p}a0 netns ${p}a
ip link set ${p}b0 netns ${p}b
for n in a b; do
  # Captured frames may be larger than 1500 bytes (offloaded segments): the link takes them.
  ip -n ${p}$n link set ${p}${n}0 mtu 65535
  ip -n ${p}$n link set ${p}${n}0 up
done

# sigcounts FILE: "sid count" per alert signature.
sigcounts() {
  python3 -c '
import collections, json, sys
c = collections.Counter()
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("event_type") == "alert":
        c[e["alert"]["signature_id"]] += 1
for k in sorted(c):
    print(k, c[k])' "$1"
}
sigcounts "$work/offline.json" > "$work/offline.sigs"

best=()
for spec in ${RUNMODES:-workers autofp}; do
  mode=${spec%%:*}
  fanout=ip_pair
  [ "$spec" != "$mode" ] && fanout=${spec#*:}
  printf '[capture]\nfanout = "%s"\n' "$fanout" > "$work/run.toml"
  top=""
  for rate in "${rates[@]}"; do
    rm -f "$work/eve.json" "$work/ctl.sock"
    ip netns exec ${p}b "$bin" run -i ${p}b0 --rules "$rules" --cache-dir "$work/cache" \
      --workers "$workers" --eve "$work/eve.json" --checksum-checks no --runmode $mode \
      --control-socket "$work/ctl.sock" --config "$work/run.toml" 2> "$work/sensor.log" &
    spid=$!
    for _ in $(seq 600); do [ -S "$work/ctl.sock" ] && break; sleep 0.1; done
    [ -S "$work/ctl.sock" ] || { cat "$work/sensor.log"; exit 1; }
    if [ "$rate" = topspeed ]; then speed=(--topspeed); else speed=(--mbps "$rate"); fi
    ip netns exec ${p}a tcpreplay -q -i ${p}a0 "${speed[@]}" "${files[@]}" > "$work/replay.log" 2>&1 || true
    sent=$(grep -oE 'Actual: [0-9]+ packets' "$work/replay.log" | awk '{print $2}')
    took=$(grep -oE 'in [0-9.]+ seconds' "$work/replay.log" | awk '{print $2}')
    sleep 2
    "$bin" ctl --socket "$work/ctl.sock" shutdown > /dev/null || true
    wait $spid || true
    line=$(grep -E '^run:' "$work/sensor.log")
    rcv=$(echo "$line" | sed -E 's/.* s, ([0-9]+) packets \(.*/\1/')
    kdrop=$(echo "$line" | sed -E 's/.*\(([0-9]+) kernel drops.*/\1/')
    rdrop=$(echo "$line" | sed -E 's/.*, ([0-9]+) ring drops.*/\1/')
    alerts=$(echo "$line" | sed -E 's/.*\), ([0-9]+) alerts.*/\1/')
    sigcounts "$work/eve.json" > "$work/live.sigs"
    [ -n "${KEEP:-}" ] && cp "$work/live.sigs" "$KEEP.$mode.$rate" && cp "$work/offline.sigs" "$KEEP.offline"
    differ=$(diff "$work/offline.sigs" "$work/live.sigs" | grep -c '^[<>]' || true)
    pct=$(awk -v d="$kdrop" -v s="$sent" 'BEGIN { if (s > 0) printf "%.3f", 100 * d / s; else print "n/a" }')
    mbps=$(grep -oE '[0-9.]+ Mbps' "$work/replay.log" | head -1)
    pps=$(grep -oE '[0-9.]+ pps' "$work/replay.log" | head -1)
    echo "$spec, $rate: sent $sent frames in $took s ($mbps, $pps); received $rcv; kernel drops $kdrop ($pct%), ring drops $rdrop; alerts $alerts (offline $offline_alerts, $differ signature lines differ)"
    if awk -v p="$pct" 'BEGIN { exit !(p != "n/a" && p < 0.1) }'; then top="$rate ($mbps)"; fi
  done
  best+=("$spec: highest rate with under 0.1% kernel drops: ${top:-none of those tried}")
done
printf '%s\n' "${best[@]}"
