#!/usr/bin/env bash
# How engine time grows with workers, loaded rules and input size, on the standard benchmark's
# input (../shared/corpus/{benign,malicious}, pcap files) with EVE alerts only:
#   - workers: 1 and 2 (and more on a larger machine: WORKERS="1 2 4 8");
#   - rules: 1,000 / 5,000 / 15,000 (every enabled ET Open rule) / 50,000, the smaller sets
#     an even sample of ET Open, the largest ET Open plus variants of each rule (new sid,
#     each content prefixed with a variant tag, so every variant is a distinct pattern);
#   - input: x1, x4 and x16 the corpus (the same files given several times).
# Prints one line per measurement: median engine time of RUNS runs, packets/s, alerts.
# Usage: scripts/bench-scaling.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shared=../shared
[ -d "$shared/corpus" ] || { echo "bench-scaling: $shared/corpus not found" >&2; exit 1; }
bin=target/release/sekimori
[ -x "$bin" ] || cargo build --release --locked --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in"
i=0
find "$shared/corpus/benign" "$shared/corpus/malicious" -type f -name '*.pcap' | sort |
  while read -r f; do i=$((i + 1)); ln -s "$(realpath "$f")" "$work/in/$(printf '%05d' $i).pcap"; done

# Rule sets.
python3 - "$shared/signatures/et-open" "$work" <<'PY'
import os, re, sys
src, work = sys.argv[1], sys.argv[2]
rules = []
for name in sorted(os.listdir(src)):
    if name.endswith(".rules"):
        with open(os.path.join(src, name), encoding="utf-8", errors="replace") as f:
            rules += [l.rstrip("\n") for l in f if re.match(r"^(alert|drop|pass|reject)\s", l)]
def write(n, lines):
    d = os.path.join(work, f"rules{n}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "set.rules"), "w") as f:
        f.write("\n".join(lines) + "\n")
for n in (1000, 5000):
    step = len(rules) / n
    write(n, [rules[int(i * step)] for i in range(n)])
write(len(rules), rules)
out = list(rules)
v = 1
while len(out) < 50000:
    for r in rules:
        if len(out) >= 50000:
            break
        r2 = re.sub(r"\bsid:\s*(\d+)", lambda m: f"sid:{int(m.group(1)) + v * 10_000_000}", r)
        r2 = re.sub(r'content:\s*"', f'content:"v{v}z', r2)
        out.append(r2)
    v += 1
write(50000, out)
print(len(rules))
PY

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# measure LABEL WORKERS RULES INPUT...: the median engine time of RUNS runs.
measure() {
  local label=$1 workers=$2 rules=$3; shift 3
  rm -rf "$work/cache"
  "$bin" rules check --cache-dir "$work/cache" "$rules" > /dev/null 2>&1 || true
  local times=() line pkts alerts
  for _ in $(seq "$runs"); do
    "$bin" replay --rules "$rules" --cache-dir "$work/cache" --eve "$work/eve.json" \
      --checksum-checks no --workers "$workers" "$@" 2> "$work/err" > /dev/null || true
    line=$(grep -E '^replay:' "$work/err")
    times+=("$(echo "$line" | sed -E 's/.* ([0-9.]+) s, .*/\1/')")
    pkts=$(echo "$line" | sed -E 's/.* ([0-9]+) packets, .*/\1/')
    alerts=$(grep -E '^alerts:' "$work/err" | awk '{print $2}' | tr -d ,)
  done
  local t
  t=$(printf '%s\n' "${times[@]}" | median)
  echo "$label: engine $t s (runs: ${times[*]}), $pkts packets, $(awk -v p="$pkts" -v s="$t" 'BEGIN { printf "%.0f", p / s }') packets/s, $alerts alerts"
}

et="$shared/signatures/et-open"
for w in ${WORKERS:-1 2}; do
  measure "workers $w, ET Open, input x1" "$w" "$et" "$work/in"
done
for n in 1000 5000 $(ls "$work" | sed -n 's/^rules//p' | sort -n | sed -n 3p) 50000; do
  measure "rules $n, 2 workers, input x1" 2 "$work/rules$n" "$work/in"
done
# Larger inputs are copies of the corpus (the replay reads a file once, however often it is
# named, so links would not do).
mkdir -p "$work/copies"
for x in 4 16; do
  args=("$work/in")
  for k in $(seq 2 "$x"); do
    [ -d "$work/copies/$k" ] || cp -rL "$work/in" "$work/copies/$k"
    args+=("$work/copies/$k")
  done
  measure "input x$x, 2 workers, ET Open" 2 "$et" "${args[@]}"
done
