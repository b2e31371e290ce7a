#!/usr/bin/env python3
"""Seeds for the `applayer` fuzz target: client and server streams of HTTP, TLS and DNS flows
taken from pcaps (payloads concatenated per direction in capture order, retransmissions
skipped). Usage: applayer_seeds.py OUT_DIR PCAP_OR_DIR..."""
import glob, hashlib, os, struct, sys

PORTS = {80: 0, 8080: 0, 443: 1, 53: 3}
MAX_SEED = 16 * 1024
PER_KIND = 40


def frames(path):
    b = open(path, 'rb').read()
    if len(b) < 24:
        return
    magic = struct.unpack('<I', b[:4])[0]
    if magic in (0xa1b2c3d4, 0xa1b23c4d):
        end = '<'
    elif magic in (0xd4c3b2a1, 0x4d3cb2a1):
        end = '>'
    else:
        return
    link = struct.unpack(end + 'I', b[20:24])[0]
    off = 24
    while off + 16 <= len(b):
        _, _, incl, _ = struct.unpack(end + 'IIII', b[off:off + 16])
        yield link, b[off + 16:off + 16 + incl]
        off += 16 + incl


def tcp_payload(link, f):
    if link == 1:
        if len(f) < 14:
            return None
        et, i = struct.unpack('>H', f[12:14])[0], 14
        while et == 0x8100 and len(f) >= i + 4:
            et, i = struct.unpack('>H', f[i + 2:i + 4])[0], i + 4
        if et not in (0x0800, 0x86dd):
            return None
        ip = f[i:]
    elif link in (101, 12, 228, 229):
        ip = f
    else:
        return None
    if len(ip) < 20:
        return None
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 15) * 4
        proto, src, dst, l4 = ip[9], ip[12:16], ip[16:20], ip[ihl:]
    elif ip[0] >> 4 == 6 and len(ip) >= 40:
        proto, src, dst, l4 = ip[6], ip[8:24], ip[24:40], ip[40:]
    else:
        return None
    if proto == 6 and len(l4) >= 20:
        sp, dp, seq = struct.unpack('>HHI', l4[:8])
        doff = (l4[12] >> 4) * 4
        return (src, sp, dst, dp, seq, l4[doff:])
    if proto == 17 and len(l4) >= 8:
        sp, dp = struct.unpack('>HH', l4[:4])
        return (src, sp, dst, dp, None, l4[8:])
    return None


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    paths = []
    for a in sys.argv[2:]:
        paths += sorted(x for x in glob.glob(os.path.join(a, '**', '*.pcap*'), recursive=True) if os.path.isfile(x)) if os.path.isdir(a) else [a]
    count = {0: 0, 1: 0, 2: 0, 3: 0}
    for p in paths:
        flows = {}
        for link, f in frames(p):
            t = tcp_payload(link, f)
            if not t or not t[5]:
                continue
            src, sp, dst, dp, seq, data = t
            if seq is None:
                kind = 2 if 53 in (sp, dp) else None
                if kind is not None and count[2] < PER_KIND:
                    seed = bytes([7, 2]) + data
                    count[2] += 1
                    open(os.path.join(out, 'dns-' + hashlib.md5(seed).hexdigest()[:12]), 'wb').write(seed)
                continue
            if dp in PORTS:
                key, side = (src, sp, dst, dp), 0
            elif sp in PORTS:
                key, side = (dst, dp, src, sp), 1
            else:
                continue
            fl = flows.setdefault(key, [b'', b'', set(), set()])
            if seq in fl[2 + side]:
                continue
            fl[2 + side].add(seq)
            fl[side] += data
        for key, (c, s, _, _) in flows.items():
            kind = PORTS[key[3]]
            if count[kind] >= PER_KIND:
                continue
            count[kind] += 1
            seed = (bytes([(len(c) + 13) % 64, kind]) + c + b'\xff\xfe\xfd' + s)[:MAX_SEED]
            name = 'flow-' + hashlib.md5(seed).hexdigest()[:12]
            open(os.path.join(out, name), 'wb').write(seed)
    print('applayer seeds:', count)


main()
