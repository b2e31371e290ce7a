//! Stage 3: TCP reassembly. The packet's data goes into its direction's stream, its ACK
//! moves the other direction's acknowledged edge, and what the reassembler noticed (gaps,
//! overlaps with different data, injected RSTs, refused segments) becomes stream events for
//! rules and EVE anomalies. Detection and the parsers see the data later, when it is released.

use super::events::Events;
use super::WorkerConfig;
use crate::decode::{tcp_flags, Packet};
use crate::detect::{stream_event, FlowFacts};
use crate::flow::stream::{Reassembler, StreamConfig, StreamEvents};
use crate::flow::tcp::Refusal;
use crate::flow::Flow;

/// A TCP packet as reassembly sees it.
#[derive(Clone, Copy)]
pub(super) struct Segment<'p, 'a> {
    pub p: &'p Packet<'a>,
    /// Direction index: 0 to the server, 1 to the client.
    pub dir: usize,
    /// Its checksums are good (or not validated).
    pub checksum_ok: bool,
    /// TCP validation refused it.
    pub refused: Option<Refusal>,
    /// Stream events the session's state machine raised on it.
    pub events: u32,
}

/// How far a direction's stream data is released (to the parser or to raw detection) on
/// this packet: inline, everything; in IDS mode, what the peer acknowledged, or everything of
/// the packet's own direction when it closes (FIN/RST) or when unconsumed data reaches half
/// the retained window. `own`: the direction is the packet's. `done`: released so far.
pub(super) fn release_to(
    s: &Reassembler,
    cfg: &WorkerConfig,
    own: bool,
    closing: bool,
    done: u64,
) -> u64 {
    let all = s.next_off();
    if cfg.ips || (own && closing) || s.unconsumed() as usize > cfg.flow.stream.window / 2 {
        all
    } else {
        s.acked().max(done)
    }
}

/// The packet closes its direction (FIN or RST).
pub(super) fn closing(p: &Packet<'_>) -> bool {
    p.tcp
        .is_some_and(|t| t.flags & (tcp_flags::FIN | tcp_flags::RST) != 0)
}

/// The stream offset the segment's data starts at: data on a SYN (TCP Fast Open) starts right
/// after the SYN's sequence number.
pub(super) fn data_seq(p: &Packet<'_>) -> Option<u32> {
    p.tcp.map(|t| {
        if t.flags & tcp_flags::SYN != 0 {
            t.seq.wrapping_add(1)
        } else {
            t.seq
        }
    })
}

/// Reassembles the segment into its flow's streams: its data into its direction, its ACK
/// into the other. Returns whether the flow's stream is active for this packet (rules then
/// see its data on the stream, not on the packet). Raises the stream events it caused.
/// `mem`: the worker's stream bytes, counted against `stream.memcap`; `over_memcap`: segments
/// not reassembled because of it.
pub(super) fn reassemble(
    f: &mut Flow,
    seg: Segment<'_, '_>,
    scfg: &StreamConfig,
    mem: &mut usize,
    over_memcap: &mut u64,
    facts: &mut FlowFacts,
    ev: &mut Events<'_>,
) -> bool {
    let (p, dir, flow_id) = (seg.p, seg.dir, f.id);
    if let Some(why) = seg.refused {
        ev.anomaly(Some((p, Some(flow_id))), "stream", why.anomaly_name());
    }
    for name in stream_event::names(seg.events) {
        stream_anomaly(ev, p, flow_id, name);
    }
    let (Some(tcp), Some(seq)) = (p.tcp, data_seq(p)) else {
        return false;
    };
    let Some(streams) = f.streams.as_deref_mut() else {
        return false;
    };
    if !seg.checksum_ok || seg.refused.is_some() {
        return false;
    }
    let before = (streams[0].events, streams[1].events);
    let mem_before = streams[0].mem() + streams[1].mem();
    if tcp.flags & tcp_flags::ACK != 0 {
        // An ACK past what we saw of the other direction: that data was lost.
        streams[1 - dir].on_ack(tcp.ack, scfg);
        streams[1 - dir].ack_to(tcp.ack);
    }
    // Data the peer already acknowledged is sent again.
    if streams[dir]
        .end_of(seq, p.payload.len())
        .is_some_and(|end| !p.payload.is_empty() && end <= streams[dir].acked())
    {
        facts.stream_events |= stream_event::RETRANSMISSION;
        stream_anomaly(ev, p, flow_id, "pkt_retransmission");
    }
    if *mem > scfg.memcap && !p.payload.is_empty() {
        *over_memcap += 1;
    } else {
        // Detection sees the data when it is released, not here.
        let _ = streams[dir].insert(seq, p.payload, scfg);
    }
    let after = (streams[0].events, streams[1].events);
    let grew = |e: fn(&StreamEvents) -> u32| {
        let sum = |x: &StreamEvents, y: &StreamEvents| u64::from(e(x)) + u64::from(e(y));
        sum(&after.0, &after.1) > sum(&before.0, &before.1)
    };
    let mem_after = streams[0].mem() + streams[1].mem();
    *mem = (*mem + mem_after).saturating_sub(mem_before);
    if grew(|e| e.overlap_diff) {
        facts.stream_events |= stream_event::OVERLAP_DIFF;
        let event = "stream.reassembly_overlap_different_data";
        ev.anomaly(Some((p, Some(flow_id))), "stream", event);
    }
    if grew(|e| e.gaps) {
        facts.stream_events |= stream_event::SEQ_GAP;
        ev.anomaly(
            Some((p, Some(flow_id))),
            "stream",
            "stream.reassembly_seq_gap",
        );
    }
    if grew(|e| e.ooo_refused) {
        facts.stream_events |= stream_event::SEGMENT_LIMIT;
        stream_anomaly(ev, p, flow_id, "reassembly_segment_limit");
    }
    let depth = |x: &StreamEvents, y: &StreamEvents| x.depth_bytes + y.depth_bytes;
    if depth(&after.0, &after.1) > depth(&before.0, &before.1) {
        // Suricata raises it once, when the depth is first reached.
        if depth(&before.0, &before.1) == 0 {
            facts.stream_events |= stream_event::DEPTH_REACHED;
            stream_anomaly(ev, p, flow_id, "reassembly_depth_reached");
        }
    }
    let bit = 1u8 << dir;
    if tcp.flags & tcp_flags::RST != 0 {
        f.rsts |= bit;
    } else if f.rsts & bit != 0 && !p.payload.is_empty() {
        // Data after this side's RST: the RST was forged (or the data is).
        f.rsts &= !bit;
        facts.stream_events |= stream_event::RST_INJECT;
    }
    true
}

/// The sizes of a flow's two streams (client, server), as `stream_size` measures them.
pub(super) fn sizes(f: &Flow) -> Option<[u64; 2]> {
    f.streams.as_deref().map(|s| [s[0].size(), s[1].size()])
}

/// Writes a `stream.<name>` anomaly event for the packet.
fn stream_anomaly(ev: &mut Events<'_>, p: &Packet<'_>, flow_id: u64, name: &str) {
    let mut full = [0u8; 64];
    let text = format_args!("stream.{name}");
    let mut cur = std::io::Cursor::new(&mut full[..]);
    let _ = std::io::Write::write_fmt(&mut cur, text);
    let n = cur.position() as usize;
    if let Ok(s) = std::str::from_utf8(&full[..n]) {
        ev.anomaly(Some((p, Some(flow_id))), "stream", s);
    }
}
