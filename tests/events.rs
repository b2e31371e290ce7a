//! Stream and decoder events end to end: crafted TCP handshakes gone wrong, SYNs on live
//! sessions, FIN/RST without a session, retransmitted data, and packets that decode but carry
//! odd options or ICMP types, each matched by its `stream-event`/`decode-event` rule and
//! logged as an `anomaly`.

mod common;

use common::*;
use etherparse::PacketBuilder;
use sekimori::testgen::synth::{Frame, TcpSession};
use std::net::Ipv4Addr;

const C: [u8; 4] = [10, 0, 0, 1];
const S: [u8; 4] = [10, 0, 0, 2];
const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

/// A TCP segment from the client (`to_server`) or the server of the flow C:sp <-> S:80.
fn seg(to_server: bool, sp: u16, seq: u32, ack: Option<u32>, flags: &str, data: &[u8]) -> Vec<u8> {
    let (src, dst, a, b) = if to_server {
        (C, S, sp, 80)
    } else {
        (S, C, 80, sp)
    };
    let mut t = PacketBuilder::ethernet2(MAC, MAC)
        .ipv4(src, dst, 64)
        .tcp(a, b, seq, 64_240);
    if let Some(n) = ack {
        t = t.ack(n);
    }
    for f in flags.chars() {
        t = match f {
            'S' => t.syn(),
            'F' => t.fin(),
            'R' => t.rst(),
            'P' => t.psh(),
            _ => t,
        };
    }
    let mut v = Vec::new();
    t.write(&mut v, data).unwrap();
    v
}

fn at(frames: Vec<Vec<u8>>, t0: i64) -> Vec<Frame> {
    frames
        .into_iter()
        .enumerate()
        .map(|(i, f)| (t0 + i as i64 * 1000, f))
        .collect()
}

#[test]
fn tcp_state_machine_events() {
    let mut frames = Vec::new();
    // A SYN flood on one tuple: eleven SYNs, each with another sequence number.
    for i in 0..11u32 {
        frames.push(seg(true, 40_001, 1000 + i * 7919, None, "S", b""));
    }
    let mut frames = at(frames, 1_000_000);
    // An established session, then the client's SYN again (same and other ISN), a SYN/ACK
    // from the client, the server's SYN/ACK again, data sent twice, and a SYN after FIN.
    let mut s = TcpSession::open(
        (Ipv4Addr::from(C), 40_002),
        (Ipv4Addr::from(S), 80),
        2_000_000,
    );
    s.send(true, b"GET / HTTP/1.0\r\n\r\n");
    let mut extra = vec![
        seg(true, 40_002, 1000, None, "S", b""),
        seg(true, 40_002, 9999, None, "S", b""),
        seg(true, 40_002, 1000, Some(5001), "S", b""),
        seg(false, 40_002, 5000, Some(1001), "S", b""),
        // The request again: the server acknowledged it already.
        seg(
            true,
            40_002,
            1001,
            Some(5001),
            "P",
            b"GET / HTTP/1.0\r\n\r\n",
        ),
        seg(true, 40_002, 1019, Some(5001), "F", b""),
        seg(true, 40_002, 1020, None, "S", b""),
    ];
    let mut sess = s.frames.clone();
    let t = sess.last().unwrap().0;
    for (i, f) in extra.drain(..).enumerate() {
        sess.push((t + 1000 * (i as i64 + 1), f));
    }
    frames.extend(sess);
    // FIN and RST with no session (the flows start with them; midstream pickup is off).
    frames.push((3_000_000, seg(true, 40_003, 5, Some(9), "F", b"")));
    frames.push((3_001_000, seg(true, 40_004, 5, Some(9), "R", b"")));
    let names = [
        "3whs_syn_flood",
        "est_syn_resend",
        "est_syn_resend_diff_seq",
        "est_synack_toserver",
        "est_synack_resend",
        "pkt_retransmission",
        "shutdown_syn_resend",
        "fin_but_no_session",
        "rst_but_no_session",
    ];
    let rules: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "alert tcp any any -> any any (msg:\"{n}\"; stream-event:{n}; sid:{};)\n",
                i + 1
            )
        })
        .collect();
    let (_, events) = replay_with_outputs(&rules, &frames, &["anomaly"]);
    let sids = alert_sids(&events);
    for (i, n) in names.iter().enumerate() {
        let sid = i as u64 + 1;
        assert!(sids.contains(&sid), "{n} did not fire: {sids:?}");
    }
    // One flood alert per SYN past the queue, not per SYN.
    assert_eq!(sids.iter().filter(|&&s| s == 1).count(), 1, "{sids:?}");
    let anomalies: Vec<&str> = of_type(&events, "anomaly")
        .iter()
        .filter_map(|e| e["anomaly"]["event"].as_str())
        .collect();
    for n in names {
        let want = format!("stream.{n}");
        assert!(
            anomalies.contains(&want.as_str()),
            "{want} not logged: {anomalies:?}"
        );
    }
}

/// An IPv4 packet (no link layer) with `options` in its header and `l4` after it.
fn ipv4_raw(proto: u8, options: &[u8], l4: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let hlen = 20 + options.len();
    let total = (hlen + l4.len()) as u16;
    let mut p = vec![0x40 | (hlen / 4) as u8, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&C);
    p.extend_from_slice(&S);
    p.extend_from_slice(options);
    let sum = !fold(&p[..hlen]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

fn fold(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// A TCP header with `options` (padded by the caller to a multiple of 4).
fn tcp_raw(options: &[u8]) -> Vec<u8> {
    let doff = (20 + options.len()) / 4;
    let mut t = vec![0x9c, 0x41, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0];
    t.push((doff as u8) << 4);
    t.extend_from_slice(&[0x02, 0xfa, 0xf0, 0, 0, 0, 0]);
    t.extend_from_slice(options);
    t
}

#[test]
fn decoder_events_on_packets_that_decode() {
    let eth = |ip: Vec<u8>| {
        let mut f = MAC.to_vec();
        f.extend_from_slice(&MAC);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
        f
    };
    let frames = at(
        vec![
            // IPv4: an option of unknown type 0x99 (len 4), then router alert twice.
            eth(ipv4_raw(
                6,
                &[0x99, 4, 0, 0, 148, 4, 0, 0, 148, 4, 0, 0],
                &tcp_raw(&[]),
            )),
            // IPv4: an option claiming 40 bytes in an 8-byte option area.
            eth(ipv4_raw(6, &[7, 40, 4, 0, 0, 0, 0, 0], &tcp_raw(&[]))),
            // TCP: an MSS of length 3 and two timestamps.
            eth(ipv4_raw(
                6,
                &[],
                &tcp_raw(&[
                    2, 3, 5, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 8, 10, 0, 0, 0, 2, 0, 0, 0, 0, 1,
                ]),
            )),
            // ICMPv4: type 42 does not exist; echo request with code 7.
            eth(ipv4_raw(1, &[], &[42, 0, 0, 0, 0, 0, 0, 0])),
            eth(ipv4_raw(1, &[], &[8, 7, 0, 0, 0, 1, 0, 1])),
        ],
        1_000_000,
    );
    let names = [
        "ipv4.opt_unknown",
        "ipv4.opt_duplicate",
        "ipv4.opt_malformed",
        "tcp.opt_invalid_len",
        "tcp.opt_duplicate",
        "icmpv4.unknown_type",
        "icmpv4.unknown_code",
    ];
    let rules: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "alert pkthdr any any -> any any (msg:\"{n}\"; decode-event:{n}; sid:{};)\n",
                i + 1
            )
        })
        .collect();
    let (out, events) = replay_frames_with(&rules, &frames, &["--checksum-checks", "no"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sids = alert_sids(&events);
    sids.dedup();
    assert_eq!(sids, vec![1, 2, 3, 4, 5, 6, 7]);
}
