#!/usr/bin/env bash
# Sets up (plus redis-server for the sink tests and chromium for the report tests), then runs every check CI runs: formatting,
# clippy (warnings are errors) and the test suite in the release profile (tests that replay
# ../shared data use the release binary and skip with a message when ../shared is absent). The conformance figure is printed for
# information; a test in tests/shared_data.rs holds it to a floor.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The sink tests talk to a real Redis server, which they start themselves on a loopback port;
# the report tests render the HTML pages in a real browser (Debian's chromium).
. scripts/lib.sh
ensure_command redis-server redis-server --no-install-recommends
ensure_command chromium chromium
export SEKIMORI_REQUIRE_REDIS=1
export SEKIMORI_REQUIRE_CHROMIUM=1
cargo fmt --all -- --check
cargo clippy --release --all-targets --locked --quiet -- -D warnings
if [ -x ../shared/conformance/run ]; then
  line=$(../shared/conformance/run --sensor target/release/sekimori | tail -n 1)
  echo "conformance figure (../shared/conformance/cases): ${line/passed,/cases pass,}"
else
  echo "conformance figure: ../shared is absent, skipped"
fi
cargo test --release --locked
