#!/usr/bin/env bash
# Installs what Debian must provide (libpcap, Hyperscan, pkg-config, python3 for the conformance
# runner) when missing, then builds the release binary. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in libpcap-dev libhyperscan-dev pkg-config python3; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found: install a Rust toolchain (rustup) first" >&2
  exit 1
fi
cargo build --release --locked --quiet
echo "setup: built target/release/sekimori"
