#!/usr/bin/env bash
# Regenerates the seed corpora from the project's own rules and captures.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p fuzz/corpus/rule_parser fuzz/corpus/packet
grep -hE "^(alert|drop)" signatures/sekimori-starter.rules | while read -r l; do
  printf '%s' "$l" > "fuzz/corpus/rule_parser/starter-$(printf '%s' "$l" | md5sum | cut -c1-12)"
done
grep -ho 'r#"alert[^#]*"#' src/detect/rules/parse.rs src/detect/inspect.rs src/detect/mod.rs | sed 's/^r#"//; s/"#$//' | sort -u |
  while read -r l; do printf '%s' "$l" > "fuzz/corpus/rule_parser/unit-$(printf '%s' "$l" | md5sum | cut -c1-12)"; done
python3 - <<'PY'
import glob, hashlib, os, struct
for p in sorted(glob.glob('pcaps/*.pcap')):
    b = open(p, 'rb').read()
    off = 24
    while off + 16 <= len(b):
        _, _, incl, _ = struct.unpack('<IIII', b[off:off + 16])
        frame = b[off + 16:off + 16 + incl]
        off += 16 + incl
        for sel in (0, 0x80):
            data = bytes([sel]) + frame
            open(os.path.join('fuzz/corpus/packet', hashlib.md5(data).hexdigest()[:12]), 'wb').write(data)
PY
# App-layer seeds: the bundled pcaps, plus ../shared/corpus when it is there.
extra=()
[ -d ../shared/corpus ] && extra=(../shared/corpus/benign ../shared/corpus/malicious)
python3 fuzz/applayer_seeds.py fuzz/corpus/applayer pcaps "${extra[@]}"
# SMB and DCERPC flows as framed scripts (every byte value reaches those parsers).
python3 fuzz/framed_seeds.py fuzz/corpus pcaps "${extra[@]}" ${extra:+../shared/conformance/cases}
# Per-parser corpora: the same flows by protocol (second byte of a seed: 0 http, 1 tls, 2-3 dns).
for f in fuzz/corpus/applayer/*; do
  case $(od -An -tu1 -j1 -N1 "$f" | tr -d ' ') in
    0) d=http ;;
    1) d=tls ;;
    *) d=dns ;;
  esac
  mkdir -p "fuzz/corpus/$d" && cp "$f" "fuzz/corpus/$d/"
done
