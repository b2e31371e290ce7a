#!/usr/bin/env python3
"""Seeds for the framed fuzz targets (smb, dcerpc, krb5): each TCP flow of the given pcaps whose
first payload looks like SMB (NetBIOS + \\xffSMB/\\xfeSMB), DCERPC (version 5 PDU) or Kerberos
(an AS/TGS request, bare over UDP or length-prefixed over TCP) becomes
one script: pieces of (direction bit | length - 1) + bytes, in capture order."""
import hashlib, os, struct, sys

def packets(path):
    d = open(path, 'rb').read()
    if len(d) < 24:
        return
    magic = struct.unpack('<I', d[:4])[0]
    e = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
    if magic not in (0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1):
        return
    lt = struct.unpack(e + 'I', d[20:24])[0]
    o = 24
    while o + 16 <= len(d):
        _, _, cl, _ = struct.unpack(e + 'IIII', d[o:o + 16])
        yield lt, d[o + 16:o + 16 + cl]
        o += 16 + cl

def tcp(lt, p):
    """(flow key, payload) of a TCP or UDP packet over IPv4."""
    off = {1: 14, 113: 16, 101: 0}.get(lt)
    if off is None:
        return None
    if lt == 1 and p[12:14] == b'\x81\x00':
        off = 18
    ip = p[off:]
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] not in (6, 17):
        return None
    ihl = (ip[0] & 15) * 4
    tl = struct.unpack('>H', ip[2:4])[0]
    t = ip[ihl:tl]
    if len(t) < 8:
        return None
    sp, dp = struct.unpack('>HH', t[:4])
    if ip[9] == 17:
        return (ip[12:16], sp, ip[16:20], dp), t[8:]
    if len(t) < 20:
        return None
    return (ip[12:16], sp, ip[16:20], dp), t[(t[12] >> 4) * 4:]

def kind(first):
    if len(first) >= 8 and first[0] == 0 and first[5:8] == b'SMB' and first[4] in (0xff, 0xfe):
        return 'smb'
    if len(first) >= 16 and first[0] == 5 and first[1] in (0, 1):
        return 'dcerpc'
    if first[:1] in (b'\x6a', b'\x6c') or (len(first) > 4 and first[0] == 0 and first[4] in (0x6a, 0x6c)):
        return 'krb5'
    return None

def main(out_root, paths):
    flows = {}
    for root in paths:
        files = [root] if os.path.isfile(root) else [os.path.join(r, f) for r, _, fs in os.walk(root) for f in fs]
        for path in files:
            try:
                for lt, p in packets(path):
                    t = tcp(lt, p)
                    if not t or not t[1]:
                        continue
                    (a, sp, b, dp), data = t
                    key = tuple(sorted([(a, sp), (b, dp)]))
                    f = flows.setdefault((path, key), {'client': (a, sp), 'pieces': []})
                    f['pieces'].append(((a, sp) == f['client'], data))
            except (OSError, struct.error):
                continue
    scripts = {}
    for f in flows.values():
        k = kind(f['pieces'][0][1])
        if not k:
            continue
        script = bytearray()
        for to_server, data in f['pieces']:
            for i in range(0, len(data), 128):
                c = data[i:i + 128]
                script.append((0x80 if to_server else 0) | (len(c) - 1))
                script += c
        if len(script) <= 64 * 1024:
            scripts.setdefault(k, set()).add(bytes(script))
    # At most 40 per target, spread over the sizes seen.
    for k, found in scripts.items():
        found = sorted(found, key=len)
        keep = {found[i * len(found) // 40] for i in range(min(40, len(found)))}
        d = os.path.join(out_root, k)
        os.makedirs(d, exist_ok=True)
        for script in keep:
            open(os.path.join(d, hashlib.md5(script).hexdigest()[:12]), 'wb').write(script)
        print(f'{k}: {len(keep)} seeds of {len(found)} flows')

if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2:])
