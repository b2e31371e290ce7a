//! Adversarial traffic and inputs: what an attacker sends to blind a sensor (floods that fill
//! the flow and fragment tables, payloads that make regular expressions backtrack, headers by
//! the hundred thousand, overlapping segments across many sessions). Used by the hostile
//! benchmark (`scripts/bench-hostile.sh`, through `examples/hostile_inputs.rs`) and by the
//! regression tests, at smaller sizes.

use std::net::Ipv4Addr;

use etherparse::PacketBuilder;

use crate::common::time::Micros;
use crate::testgen::synth::{Frame, TcpSession};

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// The `i`-th address of 10.0.0.0/8 after 10.0.0.0 (distinct for i < 2^24).
fn spread_addr(i: u32) -> Ipv4Addr {
    let i = (i % 0x00ff_ffff) + 1;
    Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8)
}

/// `n` SYNs from distinct sources to one server port, `gap` microseconds apart: every one
/// opens a new flow, so the flow tables fill and stay full.
pub fn syn_flood(n: u32, t0: Micros, gap: Micros) -> impl Iterator<Item = Frame> {
    let server = [192, 0, 2, 80];
    (0..n).map(move |i| {
        let src = spread_addr(i).octets();
        let mut frame = Vec::with_capacity(64);
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(src, server, 64)
            .tcp(
                1024 + (i % 60_000) as u16,
                80,
                i.wrapping_mul(2_654_435_761),
                1024,
            )
            .syn()
            .write(&mut frame, &[])
            .expect("writing to a Vec cannot fail");
        (t0 + Micros::from(i) * gap, frame)
    })
}

/// `n` first fragments (offset 0, more fragments set, 8 bytes each) of datagrams that never
/// complete, each with its own source and IP id.
pub fn fragment_flood(n: u32, t0: Micros, gap: Micros) -> impl Iterator<Item = Frame> {
    (0..n).map(move |i| {
        let mut h = etherparse::Ipv4Header::new(
            8,
            64,
            etherparse::IpNumber::UDP,
            spread_addr(i).octets(),
            [192, 0, 2, 53],
        )
        .expect("8-byte payload fits");
        h.identification = i as u16;
        h.more_fragments = true;
        h.header_checksum = h.calc_header_checksum();
        let mut frame = Vec::with_capacity(64);
        etherparse::Ethernet2Header {
            source: MAC_A,
            destination: MAC_B,
            ether_type: etherparse::EtherType::IPV4,
        }
        .write(&mut frame)
        .expect("writing to a Vec cannot fail");
        h.write(&mut frame).expect("writing to a Vec cannot fail");
        frame.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0x00, 0x40, 0x00, 0x00]);
        (t0 + Micros::from(i) * gap, frame)
    })
}

/// One TCP session whose client sends `segments` segments of `seg_len` bytes of `a` followed
/// by `!`: the input of a catastrophically backtracking pattern such as `/(a+)+$/`, behind a
/// content (`a`) that occurs at every byte.
pub fn backtracking_stream(segments: usize, seg_len: usize, t0: Micros) -> Vec<Frame> {
    repeated_byte_stream(b'a', segments, seg_len, t0)
}

/// One TCP session whose client sends `segments` segments of `seg_len` copies of `byte`, each
/// ending in `!`. With `0x00` or `0x90` (a NOP sled) this is also the worst case for the
/// prefilter: vendor packs have many literals that are runs of those bytes.
pub fn repeated_byte_stream(byte: u8, segments: usize, seg_len: usize, t0: Micros) -> Vec<Frame> {
    let mut payload = vec![byte; seg_len.max(2)];
    *payload.last_mut().expect("not empty") = b'!';
    let mut s = TcpSession::open(
        (Ipv4Addr::new(198, 51, 100, 7), 40_000),
        (Ipv4Addr::new(192, 0, 2, 80), 8080),
        t0,
    );
    for _ in 0..segments {
        s.send(true, &payload);
    }
    s.close()
}

/// Rules that make [`backtracking_stream`] expensive for a naive engine: a non-relative pcre
/// after a content found at every byte, on the stream and on the packet.
pub const BACKTRACKING_RULES: &str = "\
alert tcp any any -> any any (msg:\"hostile: nested quantifier on the stream\"; flow:established,to_server; content:\"a\"; pcre:\"/(a+)+$/\"; sid:9900001; rev:1;)
alert tcp any any -> any any (msg:\"hostile: nested quantifier, relative\"; flow:established,to_server; content:\"a\"; pcre:\"/(a|aa)+$/R\"; sid:9900002; rev:1;)
";

/// `sessions` HTTP sessions, each one request whose header block has `lines` header lines
/// (`X-N: v`, every tenth a repeat of an earlier name, so duplicates must be merged), cut
/// into 1,400-byte segments.
pub fn header_flood(lines: usize, sessions: u16, t0: Micros) -> Vec<Frame> {
    let mut req = b"GET /flood HTTP/1.1\r\nHost: victim.example\r\n".to_vec();
    for i in 0..lines {
        let name = if i % 10 == 9 { i % 7 } else { i };
        req.extend_from_slice(format!("X-{name}: v{i}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let mut frames = Vec::new();
    for k in 0..sessions {
        let mut s = TcpSession::open(
            (Ipv4Addr::new(198, 51, 100, 8), 40_001 + k),
            (Ipv4Addr::new(192, 0, 2, 80), 80),
            t0 + Micros::from(k) * 1_000_000,
        );
        for chunk in req.chunks(1400) {
            s.send(true, chunk);
        }
        s.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        frames.extend(s.close());
    }
    frames
}

/// `sessions` TCP sessions (distinct clients) that each leave a hole at the start of the
/// client's stream and then send `segments` overlapping out-of-order segments of `seg_len`
/// bytes that can never be delivered: every one waits in reassembly memory. The sessions
/// are interleaved, so all of them are open at once.
pub fn overlap_flood(sessions: u32, segments: u32, seg_len: usize, t0: Micros) -> Vec<Frame> {
    let server = Ipv4Addr::new(192, 0, 2, 80);
    let mut open: Vec<TcpSession> = (0..sessions)
        .map(|i| {
            TcpSession::open(
                (spread_addr(i), 30_000 + (i % 30_000) as u16),
                (server, 80),
                t0,
            )
        })
        .collect();
    let mut frames: Vec<Frame> = Vec::new();
    for s in &mut open {
        frames.append(&mut s.frames);
    }
    let payload = vec![b'x'; seg_len];
    let step = (seg_len / 2).max(1) as u32;
    let mut ts = t0 + 1_000_000;
    for k in 0..segments {
        for (i, s) in open.iter().enumerate() {
            // Offsets 100, 100 + step, ...: each overlaps the previous one by half.
            let off = 100 + k * step;
            let seq = s.next_seq(true).wrapping_add(off);
            let (c, srv) = s.endpoints();
            let mut frame = Vec::with_capacity(64 + seg_len);
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .ipv4(c.0.octets(), srv.0.octets(), 64)
                .tcp(c.1, srv.1, seq, 64_240)
                .ack(s.next_seq(false))
                .psh()
                .write(&mut frame, &payload)
                .expect("writing to a Vec cannot fail");
            frames.push((ts + i as Micros, frame));
        }
        ts += 10_000;
    }
    frames
}

/// A `vars.address` value of `n` distinct, non-adjacent /24 networks (for load-time tests of
/// address lists: they do not merge into fewer intervals).
pub fn big_address_list(n: u32) -> String {
    let nets: Vec<String> = (0..n)
        .map(|i| {
            let a = spread_addr(i.wrapping_mul(512)).octets();
            format!("{}.{}.{}.0/24", a[0], a[1], a[2])
        })
        .collect();
    format!("[{}]", nets.join(","))
}

/// A tuning file with `n` overrides, each on its own signature.
pub fn big_tuning(n: u32) -> String {
    let mut out = String::with_capacity(n as usize * 64);
    for i in 0..n {
        out.push_str(&format!(
            "[[override]]\nsid = {}\nseverity = \"Medium\"\nreason = \"bulk {i}\"\n\n",
            1_000_000 + i
        ));
    }
    out
}
