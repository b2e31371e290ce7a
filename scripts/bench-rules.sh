#!/usr/bin/env bash
# Rule-load benchmark: loads a pack cold (empty Hyperscan cache) and cached, RUNS times each,
# and prints wall time and peak RSS per run as reported by `sekimori rules check`.
# Usage: scripts/bench-rules.sh [PACK_DIR] [RUNS]   (default: ../shared/signatures/et-open, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
pack=${1:-../shared/signatures/et-open}
runs=${2:-3}
bin=target/release/sekimori
[ -x "$bin" ] || cargo build --release --locked --quiet
[ -d "$pack" ] || { echo "bench-rules: $pack not found" >&2; exit 1; }
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
figures() { grep -E "^(loaded|  running now|time|peak RSS|hyperscan cache)" | tr '\n' ';' | sed 's/;$//'; }
for i in $(seq "$runs"); do
  rm -rf "${cache:?}"/*
  echo "cold   #$i: $("$bin" rules check --cache-dir "$cache" "$pack" 2>/dev/null | figures)"
done
for i in $(seq "$runs"); do
  echo "cached #$i: $("$bin" rules check --cache-dir "$cache" "$pack" 2>/dev/null | figures)"
done
