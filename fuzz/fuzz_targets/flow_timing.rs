//! Flow table, TCP reassembly and defragmentation under adversarial timing: the input is a
//! script of packets (a few hosts and ports, TCP flags, sequence numbers, IP fragments) with
//! clock jumps forwards and backwards, played through a worker whose tables and memcaps are
//! tiny, so eviction, emergency mode, timeouts, memcaps and overlap resolution all run.
//! Never a panic; the counters stay consistent.
#![no_main]

mod common;

use etherparse::PacketBuilder;
use libfuzzer_sys::fuzz_target;
use sekimori::decode::defrag::DefragConfig;
use sekimori::decode::LinkType;
use sekimori::flow::stream::StreamConfig;
use sekimori::flow::{FlowConfig, Timeouts};
use sekimori::output::{Backpressure, EveTarget, EveWriter};
use sekimori::runtime::worker::{Worker, WorkerConfig};

const RULES: &[&str] = &[
    r#"alert tcp any any -> any any (msg:"s"; flow:established,to_server; content:"EVIL"; sid:1;)"#,
    r#"alert tcp any any -> any any (msg:"p"; content:"A"; pcre:"/(A+)+$/"; sid:2;)"#,
    r#"alert udp any any -> any any (msg:"u"; content:"frag"; sid:3;)"#,
    r#"alert tcp any any -> any any (msg:"e"; stream-event:reassembly_overlap_different_data; sid:4;)"#,
];

/// Reads the script: 8 bytes per packet, then a payload length's worth of bytes.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
}

fuzz_target!(|data: &[u8]| {
    let (writer, sender) =
        EveWriter::start(&EveTarget::File("/dev/null".into()), Backpressure::Block).unwrap();
    let mut timeouts = Timeouts::DEFAULTS;
    for t in &mut timeouts {
        *t = Timeouts::new(3, 7, 2, 1, 2, 1);
    }
    let cfg = WorkerConfig {
        flow: FlowConfig {
            capacity: 6,
            timeouts,
            midstream: data.first().is_some_and(|b| b & 1 != 0),
            stream: StreamConfig {
                memcap: 16 * 1024,
                max_segments: 8,
                window: 4096,
                lookback: 512,
                depth: 64 * 1024,
                ..StreamConfig::default()
            },
            ..FlowConfig::default()
        },
        defrag: DefragConfig {
            memcap: 8 * 1024,
            max_fragments: 6,
            timeout: 2,
            ..DefragConfig::default()
        },
        ips: data.first().is_some_and(|b| b & 2 != 0),
        anomaly_events: true,
        flow_events: true,
        ..WorkerConfig::default()
    };
    let mut w = Worker::new(0, common::engine(RULES), Default::default(), sender, cfg).unwrap();
    let mut s = Script(data.get(1..).unwrap_or_default());
    let mut now: i64 = 1_000_000_000;
    let mut cnt = 0u64;
    while let Some(h) = s.take(8) {
        let h: [u8; 8] = h.try_into().unwrap();
        // Clock: mostly small steps, sometimes far jumps, sometimes backwards.
        now += match h[0] >> 6 {
            0 => i64::from(h[0] & 0x3f) * 1_000,
            1 => i64::from(h[0] & 0x3f) * 1_000_000,
            2 => -(i64::from(h[0] & 0x3f) * 1_000_000),
            _ => i64::from(h[0] & 0x3f) * 3_600_000_000,
        };
        let (a, b) = ([10, 0, 0, h[1] & 7], [10, 0, 1, (h[1] >> 3) & 3]);
        let (src, dst) = if h[1] & 0x80 != 0 { (b, a) } else { (a, b) };
        let ports = (1000 + u16::from(h[2] & 3), 80 + u16::from((h[2] >> 2) & 1));
        let (sp, dp) = if h[1] & 0x80 != 0 {
            (ports.1, ports.0)
        } else {
            ports
        };
        let seq = u32::from_be_bytes([h[3], h[4], 0, 0]).wrapping_add(u32::from(h[5]));
        let len = usize::from(h[6] & 0x3f);
        let payload = s.take(len).unwrap_or_default();
        let mut frame = Vec::with_capacity(64 + len);
        let base =
            PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(src, dst, 64);
        let ok = match h[7] >> 6 {
            // TCP with arbitrary flags.
            0 | 1 => {
                let f = h[7];
                let mut t = base.tcp(sp, dp, seq, 65_535);
                if f & 1 != 0 {
                    t = t.syn();
                }
                if f & 2 != 0 {
                    t = t.ack(seq.wrapping_add(u32::from(h[5]) << 8));
                }
                if f & 4 != 0 {
                    t = t.fin();
                }
                if f & 8 != 0 {
                    t = t.rst();
                }
                if f & 16 != 0 {
                    t = t.psh();
                }
                t.write(&mut frame, payload).is_ok()
            }
            // UDP.
            2 => base.udp(sp, dp).write(&mut frame, payload).is_ok(),
            // An IPv4 fragment: id, offset and more-fragments from the script.
            _ => {
                let mut ip = etherparse::Ipv4Header::new(
                    payload.len() as u16,
                    64,
                    etherparse::IpNumber::UDP,
                    src,
                    dst,
                )
                .unwrap();
                ip.identification = u16::from(h[5] & 3);
                ip.more_fragments = h[7] & 1 != 0;
                ip.fragment_offset =
                    etherparse::IpFragOffset::try_new(u16::from(h[4] & 0x1f)).unwrap();
                ip.header_checksum = ip.calc_header_checksum();
                etherparse::Ethernet2Header {
                    source: [2, 0, 0, 0, 0, 1],
                    destination: [2, 0, 0, 0, 0, 2],
                    ether_type: etherparse::EtherType::IPV4,
                }
                .write(&mut frame)
                .unwrap();
                ip.write(&mut frame).unwrap();
                frame.extend_from_slice(payload);
                true
            }
        };
        if ok {
            cnt += 1;
            w.process(LinkType::Ethernet, now, cnt, &frame);
        }
    }
    let st = w.finish();
    assert_eq!(st.packets, cnt);
    assert!(st.flow.created >= st.flow.evicted + st.flow.timed_out);
    writer.finish().unwrap();
});
