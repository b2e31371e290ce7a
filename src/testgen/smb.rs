//! SMB, DCERPC and NTLMSSP messages built for tests, fuzz seeds and examples: SMB2
//! requests and responses in NetBIOS framing, DCERPC PDUs, an NTLMSSP AUTHENTICATE.

use crate::applayer::dcerpc::{ptype, HDR_LEN};

/// NTLMSSP's signature.
const NTLMSSP: &[u8] = b"NTLMSSP\0";

/// UTF-16LE bytes of `s`.
pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A NetBIOS session message around `msg`.
pub fn nbss(msg: &[u8]) -> Vec<u8> {
    let n = msg.len();
    let mut r = vec![0, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    r.extend_from_slice(msg);
    r
}

/// An SMB2 header for `cmd` (response when `resp`), with `next` and `status`.
pub fn h2(cmd: u16, msg_id: u64, resp: bool, tree: u32, status: u32, next: u32) -> Vec<u8> {
    let mut h = vec![0xfe, b'S', b'M', b'B', 64, 0, 1, 0];
    h.extend_from_slice(&status.to_le_bytes());
    h.extend_from_slice(&cmd.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&u32::from(resp).to_le_bytes());
    h.extend_from_slice(&next.to_le_bytes());
    h.extend_from_slice(&msg_id.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&tree.to_le_bytes());
    h.extend_from_slice(&0x77u64.to_le_bytes());
    h.extend_from_slice(&[0; 16]);
    h
}

/// An SMB2 TREE_CONNECT request for `path`.
pub fn tree_connect(msg_id: u64, path: &str) -> Vec<u8> {
    let p = utf16(path);
    let mut m = h2(3, msg_id, false, 0, 0, 0);
    m.extend_from_slice(&9u16.to_le_bytes());
    m.extend_from_slice(&0u16.to_le_bytes());
    m.extend_from_slice(&72u16.to_le_bytes());
    m.extend_from_slice(&(p.len() as u16).to_le_bytes());
    m.extend_from_slice(&p);
    m
}

/// An SMB2 TREE_CONNECT response giving tree `tree` of `share_type` (1 disk, 2 pipe).
pub fn tree_connect_resp(msg_id: u64, tree: u32, share_type: u8) -> Vec<u8> {
    let mut m = h2(3, msg_id, true, tree, 0, 0);
    m.extend_from_slice(&16u16.to_le_bytes());
    m.push(share_type);
    m.extend_from_slice(&[0; 13]);
    m
}

/// An SMB2 CREATE request for `name` on `tree`.
pub fn create(msg_id: u64, tree: u32, name: &str) -> Vec<u8> {
    let n = utf16(name);
    let mut m = h2(5, msg_id, false, tree, 0, 0);
    let mut body = vec![0u8; 56];
    body[0..2].copy_from_slice(&57u16.to_le_bytes());
    body[36..40].copy_from_slice(&2u32.to_le_bytes());
    body[44..46].copy_from_slice(&120u16.to_le_bytes());
    body[46..48].copy_from_slice(&(n.len() as u16).to_le_bytes());
    m.extend_from_slice(&body);
    m.extend_from_slice(&n);
    m
}

/// An SMB2 CREATE response giving file id `fid`.
pub fn create_resp(msg_id: u64, tree: u32, fid: u8) -> Vec<u8> {
    let mut m = h2(5, msg_id, true, tree, 0, 0);
    let mut body = vec![0u8; 88];
    body[0..2].copy_from_slice(&89u16.to_le_bytes());
    body[8..16].copy_from_slice(&132_000_000_000_000_000u64.to_le_bytes());
    body[64] = fid;
    m.extend_from_slice(&body);
    m
}

/// An SMB2 WRITE request of `data` at `offset` of file `fid`.
pub fn write(msg_id: u64, tree: u32, fid: u8, offset: u64, data: &[u8]) -> Vec<u8> {
    let mut m = h2(9, msg_id, false, tree, 0, 0);
    let mut body = vec![0u8; 48];
    body[0..2].copy_from_slice(&49u16.to_le_bytes());
    body[2..4].copy_from_slice(&112u16.to_le_bytes());
    body[4..8].copy_from_slice(&(data.len() as u32).to_le_bytes());
    body[8..16].copy_from_slice(&offset.to_le_bytes());
    body[16] = fid;
    m.extend_from_slice(&body);
    m.extend_from_slice(data);
    m
}

/// An SMB2 READ request of `len` bytes at `offset` of file `fid`.
pub fn read(msg_id: u64, tree: u32, fid: u8, offset: u64, len: u32) -> Vec<u8> {
    let mut m = h2(8, msg_id, false, tree, 0, 0);
    let mut body = vec![0u8; 48];
    body[0..2].copy_from_slice(&49u16.to_le_bytes());
    body[4..8].copy_from_slice(&len.to_le_bytes());
    body[8..16].copy_from_slice(&offset.to_le_bytes());
    body[16] = fid;
    m.extend_from_slice(&body);
    m
}

/// An SMB2 READ response carrying `data`.
pub fn read_resp(msg_id: u64, data: &[u8]) -> Vec<u8> {
    let mut m = h2(8, msg_id, true, 0, 0, 0);
    let mut body = vec![0u8; 16];
    body[0..2].copy_from_slice(&17u16.to_le_bytes());
    body[2] = 80;
    body[4..8].copy_from_slice(&(data.len() as u32).to_le_bytes());
    m.extend_from_slice(&body);
    m.extend_from_slice(data);
    m
}

/// An SMB2 CLOSE request of file `fid`.
pub fn close(msg_id: u64, tree: u32, fid: u8) -> Vec<u8> {
    let mut m = h2(6, msg_id, false, tree, 0, 0);
    let mut body = vec![0u8; 24];
    body[0..2].copy_from_slice(&24u16.to_le_bytes());
    body[8] = fid;
    m.extend_from_slice(&body);
    m
}

/// An SMB2 SESSION_SETUP request carrying security blob `blob`.
pub fn session_setup(msg_id: u64, blob: &[u8]) -> Vec<u8> {
    let mut m = h2(1, msg_id, false, 0, 0, 0);
    let mut body = vec![0u8; 24];
    body[0..2].copy_from_slice(&25u16.to_le_bytes());
    body[12..14].copy_from_slice(&88u16.to_le_bytes());
    body[14..16].copy_from_slice(&(blob.len() as u16).to_le_bytes());
    m.extend_from_slice(&body);
    m.extend_from_slice(blob);
    m
}

/// A PDU of type `t` with `body` after the header (little-endian, the given flags).
pub fn pdu(t: u8, flags: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let mut p = vec![5, 0, t, flags, 0x10, 0, 0, 0];
    p.extend_from_slice(&((HDR_LEN + body.len()) as u16).to_le_bytes());
    p.extend_from_slice(&0u16.to_le_bytes());
    p.extend_from_slice(&call_id.to_le_bytes());
    p.extend_from_slice(body);
    p
}

/// A BIND proposing `uuid` version `major`.`minor` as context `ctx`.
pub fn bind(call_id: u32, ctx: u16, uuid: &[u8; 16], major: u16) -> Vec<u8> {
    let mut b = vec![0xb8, 0x10, 0xb8, 0x10, 0, 0, 0, 0, 1, 0, 0, 0];
    b.extend_from_slice(&ctx.to_le_bytes());
    b.extend_from_slice(&[1, 0]);
    b.extend_from_slice(uuid);
    b.extend_from_slice(&major.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&[0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11]);
    b.extend_from_slice(&[0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60, 2, 0, 0, 0]);
    pdu(ptype::BIND, 3, call_id, &b)
}

/// A BIND_ACK accepting (result 0) or refusing one context.
pub fn bind_ack(call_id: u32, result: u16) -> Vec<u8> {
    let mut b = vec![0xb8, 0x10, 0xb8, 0x10, 0x12, 0x34, 0, 0];
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(b"135\0");
    b.extend_from_slice(&[0, 0]); // pad to 4
    b.extend_from_slice(&[1, 0, 0, 0]);
    b.extend_from_slice(&result.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&[0u8; 20]);
    pdu(ptype::BIND_ACK, 3, call_id, &b)
}

/// A REQUEST fragment on context `ctx` for `opnum`.
pub fn request(call_id: u32, flags: u8, ctx: u16, opnum: u16, stub: &[u8]) -> Vec<u8> {
    let mut b = (stub.len() as u32).to_le_bytes().to_vec();
    b.extend_from_slice(&ctx.to_le_bytes());
    b.extend_from_slice(&opnum.to_le_bytes());
    b.extend_from_slice(stub);
    pdu(ptype::REQUEST, flags, call_id, &b)
}

/// An interface UUID (12345678-1234-abcd-ef00-01234567cffb, Netlogon) in wire order.
pub const NETLOGON: [u8; 16] = [
    0x78, 0x56, 0x34, 0x12, 0x34, 0x12, 0xcd, 0xab, 0xef, 0x00, 0x01, 0x23, 0x45, 0x67, 0xcf, 0xfb,
];

/// An AUTHENTICATE message for `user`@`domain` from `host` (UTF-16, with a version).
pub fn auth_message(user: &str, domain: &str, host: &str) -> Vec<u8> {
    let enc = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let (d, u, h) = (enc(domain), enc(user), enc(host));
    let mut m = NTLMSSP.to_vec();
    m.extend_from_slice(&3u32.to_le_bytes());
    let mut payload = Vec::new();
    let mut fields = Vec::new();
    let base = 72u32;
    for part in [&b""[..], &b""[..], &d, &u, &h, &b""[..]] {
        let off = base + payload.len() as u32;
        fields.extend_from_slice(&(part.len() as u16).to_le_bytes());
        fields.extend_from_slice(&(part.len() as u16).to_le_bytes());
        fields.extend_from_slice(&off.to_le_bytes());
        payload.extend_from_slice(part);
    }
    m.extend_from_slice(&fields);
    m.extend_from_slice(&0x0200_0001u32.to_le_bytes());
    m.extend_from_slice(&[6, 1, 0xb1, 0x1d, 0, 0, 0, 15]);
    m.extend_from_slice(&payload);
    m
}

/// SMB1 messages (Unicode, PID 0x1234).
pub mod smb1 {
    use super::utf16;

    /// An SMB1 header for `cmd` (a reply when `reply`).
    pub fn header(cmd: u8, reply: bool, tid: u16, mid: u16, status: u32) -> Vec<u8> {
        let mut h = vec![0xff, b'S', b'M', b'B', cmd];
        h.extend_from_slice(&status.to_le_bytes());
        h.push(if reply { 0x98 } else { 0x18 });
        h.extend_from_slice(&0xc843u16.to_le_bytes());
        h.extend_from_slice(&[0; 12]);
        h.extend_from_slice(&tid.to_le_bytes());
        h.extend_from_slice(&0x1234u16.to_le_bytes());
        h.extend_from_slice(&0x0800u16.to_le_bytes());
        h.extend_from_slice(&mid.to_le_bytes());
        h
    }

    /// Appends a command block: word count, words, byte count, bytes.
    fn block(m: &mut Vec<u8>, words: &[u8], bytes: &[u8]) {
        m.push((words.len() / 2) as u8);
        m.extend_from_slice(words);
        m.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        m.extend_from_slice(bytes);
    }

    /// The AndX words heading a block: no further command.
    const NO_ANDX: [u8; 4] = [0xff, 0, 0, 0];

    /// TREE_CONNECT_ANDX for `path`.
    pub fn tree_connect(mid: u16, path: &str) -> Vec<u8> {
        let mut m = header(0x75, false, 0xffff, mid, 0);
        let mut w = NO_ANDX.to_vec();
        w.extend_from_slice(&[0, 0, 1, 0]);
        // Password (1 byte) puts the Unicode path on an even offset.
        let mut b = vec![0];
        b.extend_from_slice(&utf16(path));
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(b"?????\0");
        block(&mut m, &w, &b);
        m
    }

    /// TREE_CONNECT_ANDX response giving `tid` for `service` (`A:` disk, `IPC` pipe).
    pub fn tree_connect_resp(mid: u16, tid: u16, service: &str) -> Vec<u8> {
        let mut m = header(0x75, true, tid, mid, 0);
        let mut w = NO_ANDX.to_vec();
        w.extend_from_slice(&[1, 0]);
        let mut b = service.as_bytes().to_vec();
        b.push(0);
        block(&mut m, &w, &b);
        m
    }

    /// NT_CREATE_ANDX for `name` on tree `tid`.
    pub fn nt_create(mid: u16, tid: u16, name: &str) -> Vec<u8> {
        let mut m = header(0xa2, false, tid, mid, 0);
        let n = utf16(name);
        let mut w = vec![0u8; 48];
        w[..4].copy_from_slice(&NO_ANDX);
        w[5..7].copy_from_slice(&((n.len() + 2) as u16).to_le_bytes());
        w[35..39].copy_from_slice(&1u32.to_le_bytes());
        // The data starts on an odd offset: one pad byte aligns the name.
        let mut b = vec![0];
        b.extend_from_slice(&n);
        b.extend_from_slice(&[0, 0]);
        block(&mut m, &w, &b);
        m
    }

    /// NT_CREATE_ANDX response giving `fid`, the file `size` bytes long.
    pub fn nt_create_resp(mid: u16, tid: u16, fid: u16, size: u64) -> Vec<u8> {
        let mut m = header(0xa2, true, tid, mid, 0);
        let mut w = vec![0u8; 68];
        w[..4].copy_from_slice(&NO_ANDX);
        w[5..7].copy_from_slice(&fid.to_le_bytes());
        w[7..11].copy_from_slice(&1u32.to_le_bytes());
        w[11..19].copy_from_slice(&132_000_000_000_000_000u64.to_le_bytes());
        w[55..63].copy_from_slice(&size.to_le_bytes());
        block(&mut m, &w, &[]);
        m
    }

    /// WRITE_ANDX of `data` at `offset` of `fid`.
    pub fn write(mid: u16, tid: u16, fid: u16, offset: u32, data: &[u8]) -> Vec<u8> {
        let mut m = header(0x2f, false, tid, mid, 0);
        let mut w = vec![0u8; 28];
        w[..4].copy_from_slice(&NO_ANDX);
        w[4..6].copy_from_slice(&fid.to_le_bytes());
        w[6..10].copy_from_slice(&offset.to_le_bytes());
        w[20..22].copy_from_slice(&(data.len() as u16).to_le_bytes());
        // Header, word count, words, byte count, one pad byte.
        w[22..24].copy_from_slice(&64u16.to_le_bytes());
        let mut b = vec![0];
        b.extend_from_slice(data);
        block(&mut m, &w, &b);
        m
    }

    /// READ_ANDX of `max` bytes at `offset` of `fid`.
    pub fn read(mid: u16, tid: u16, fid: u16, offset: u32, max: u16) -> Vec<u8> {
        let mut m = header(0x2e, false, tid, mid, 0);
        let mut w = vec![0u8; 24];
        w[..4].copy_from_slice(&NO_ANDX);
        w[4..6].copy_from_slice(&fid.to_le_bytes());
        w[6..10].copy_from_slice(&offset.to_le_bytes());
        w[10..12].copy_from_slice(&max.to_le_bytes());
        block(&mut m, &w, &[]);
        m
    }

    /// READ_ANDX response carrying `data`.
    pub fn read_resp(mid: u16, tid: u16, data: &[u8]) -> Vec<u8> {
        let mut m = header(0x2e, true, tid, mid, 0);
        let mut w = vec![0u8; 24];
        w[..4].copy_from_slice(&NO_ANDX);
        w[10..12].copy_from_slice(&(data.len() as u16).to_le_bytes());
        w[12..14].copy_from_slice(&60u16.to_le_bytes());
        let mut b = vec![0];
        b.extend_from_slice(data);
        block(&mut m, &w, &b);
        m
    }

    /// CLOSE of `fid`.
    pub fn close(mid: u16, tid: u16, fid: u16) -> Vec<u8> {
        let mut m = header(0x04, false, tid, mid, 0);
        let mut w = fid.to_le_bytes().to_vec();
        w.extend_from_slice(&[0xff; 4]);
        block(&mut m, &w, &[]);
        m
    }

    /// SESSION_SETUP_ANDX (extended security) carrying `blob`, chained to a
    /// TREE_CONNECT_ANDX for `path` in the same message.
    pub fn session_setup_then_tree(mid: u16, blob: &[u8], path: &str) -> Vec<u8> {
        let mut m = header(0x73, false, 0xffff, mid, 0);
        let mut w = vec![0u8; 24];
        w[0] = 0x75;
        w[14..16].copy_from_slice(&(blob.len() as u16).to_le_bytes());
        // The blob, empty native OS and LAN manager strings, and padding so the chained
        // block (and the Unicode path in it) starts on an even offset, as clients send it.
        let mut b = blob.to_vec();
        b.extend_from_slice(&[0; 4]);
        if (32 + 1 + w.len() + 2 + b.len()) % 2 == 1 {
            b.push(0);
        }
        let next = 32 + 1 + w.len() + 2 + b.len();
        w[2..4].copy_from_slice(&(next as u16).to_le_bytes());
        block(&mut m, &w, &b);
        let tree = tree_connect(mid, path);
        m.extend_from_slice(&tree[32..]);
        m
    }
}

/// A connectionless (UDP) DCERPC PDU: `ptype` with `flags1`, for interface `if_id` version
/// 1, in `activity`, sequence `seqnum`, operation `opnum`, fragment `fragnum`, with `body`.
#[allow(clippy::too_many_arguments)]
pub fn cl_pdu(
    ptype: u8,
    flags: u8,
    if_id: &[u8; 16],
    activity: &[u8; 16],
    seqnum: u32,
    opnum: u16,
    fragnum: u16,
    body: &[u8],
) -> Vec<u8> {
    let mut p = vec![4, ptype, flags, 0, 0x10, 0, 0, 0];
    p.extend_from_slice(&[0; 16]);
    p.extend_from_slice(if_id);
    p.extend_from_slice(activity);
    p.extend_from_slice(&0u32.to_le_bytes());
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(&seqnum.to_le_bytes());
    p.extend_from_slice(&opnum.to_le_bytes());
    p.extend_from_slice(&0xffffu16.to_le_bytes());
    p.extend_from_slice(&0xffffu16.to_le_bytes());
    p.extend_from_slice(&(body.len() as u16).to_le_bytes());
    p.extend_from_slice(&fragnum.to_le_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(body);
    p
}
