#!/usr/bin/env bash
# The incident figure on the reference corpus (../shared): how many of the malicious captures on
# which Suricata alerts (../shared/parity) yield an incident rated Serious or Critical, each
# replayed alone with ET Open, a baseline tuning learnt from the benign captures and every
# analytic on; then the funnel (alerts -> incidents -> notifications) of each corpus set.
# Usage: scripts/corpus-incidents.sh [SHARED_DIR]   (default: ../shared)
# Prints one line per capture (OK/MISS, the highest incident severity, the capture), the total,
# and the funnels. Set ANALYTICS=0 to measure without the analytics.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-../shared}
bin=target/release/sekimori
[ -x "$bin" ] || cargo build --release --locked --quiet
for d in "$shared/signatures/et-open" "$shared/corpus" "$shared/parity"; do
  [ -e "$d" ] || { echo "corpus-incidents: $d not found" >&2; exit 1; }
done
rules=$shared/signatures/et-open
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
config=$work/config.toml
: >"$config"
if [ "${ANALYTICS:-1}" != 0 ]; then
  for a in dns_tunnel admin_share_exec beacon exe_delivery auth_overflow tor ftp_upload; do
    echo "[analytics.$a]" >>"$config"
  done
fi
replay() { "$bin" replay --rules "$rules" --checksum-checks no --config "$config" "$@"; }

# The baseline: every signature that fires on the benign set, lowered to Informational.
# (replay exits 2 when some captures cannot be read: FDDI and 802.15.4 link types.)
replay --eve "$work/benign.json" "$shared/corpus/benign" >/dev/null 2>&1 || true
"$bin" tune report --baseline --write "$work/baseline.toml" "$work/benign.json" >/dev/null

zcat "$shared/parity/suricata-alerts-benign-malicious.jsonl.gz" |
  grep -o '"pcap_filename":"malicious/[^"]*"' | cut -d'"' -f4 | sort -u >"$work/captures"
ok=0 n=0
while read -r cap; do
  n=$((n + 1))
  rm -f "$work/one.json"
  replay --tuning "$work/baseline.toml" --eve "$work/one.json" "$shared/corpus/$cap" >/dev/null 2>&1 || true
  best=none
  for sev in Informational Medium Serious Critical; do
    if grep -q "\"event_type\":\"incident\".*[,{]\"severity\":\"$sev\"" "$work/one.json" 2>/dev/null; then
      best=$sev
    fi
  done
  case $best in
    Serious | Critical) ok=$((ok + 1)) && verdict=OK ;;
    *) verdict=MISS ;;
  esac
  echo "$verdict $best $cap"
done <"$work/captures"
echo "captures with a Serious or Critical incident: $ok/$n"
for set in benign malicious evasion; do
  echo "$set: $(replay --tuning "$work/baseline.toml" --eve "$work/$set.json" "$shared/corpus/$set" 2>&1 | grep '^incidents:' || true)"
done
