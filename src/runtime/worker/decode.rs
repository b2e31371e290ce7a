//! Stage 1: decoding. A frame becomes a [`Packet`] (or a counted decode error); decoder events
//! become anomalies; an IP fragment goes to defragmentation, and the datagram it completes
//! runs the packet path as a packet of its own; a tunnel's inner packet does too (unless the
//! outer packet was dropped: a `pass` on the outer flow does not hide the tunnel's own flows,
//! as in Suricata where decoding precedes detection).

use super::events::Events;
use super::{At, Tunnel, Verdict, Worker};
use crate::decode::{self, decode, LinkType, Packet};
use crate::output::eve::render_packet;

/// Tunnels inside tunnels decoded at most this deep.
const MAX_TUNNEL_DEPTH: u8 = 3;

impl Worker {
    /// Decodes a frame and runs it, then what it carries, through the packet path.
    pub(super) fn process_frame(&mut self, link: LinkType, at: At<'_>, frame: &[u8]) -> Verdict {
        let p = match decode(link, frame) {
            Ok(p) => p,
            Err(e) => {
                self.stats.decode_errors[e as usize] += 1;
                if let Some(event) = e.anomaly_event() {
                    Events::new(&mut self.eve, &self.cfg, at).anomaly(None, "decode", event);
                }
                return Verdict::Pass;
            }
        };
        if p.events != 0 {
            self.stats.decoder_events += 1;
            let mut ev = Events::new(&mut self.eve, &self.cfg, at);
            for name in decode::event::names(p.events, p.ip_version) {
                ev.anomaly(Some((&p, None)), "decode", name);
            }
        }
        let out = self.inspect_packet(&p, at);
        if let (Some(flow_id), true) = (out.tagged, self.cfg.tagged_packets) {
            self.stats.tagged_packets += 1;
            let mut line = self.eve.buffer();
            let id = (flow_id != 0).then_some(flow_id);
            render_packet(&mut line, at.ts, at.pcap_cnt, &p, id, frame, link.dlt());
            self.eve.send(line);
        }
        if out.verdict != Verdict::Pass {
            return out.verdict;
        }
        if p.fragment {
            self.defragment(&p, at);
            return out.verdict;
        }
        // A tunnel's verdict is its inner packet's.
        self.detunnel(&p, at).unwrap_or(out.verdict)
    }

    /// Queues a fragment; a datagram it completes is a packet of its own (its buffer is
    /// reused).
    fn defragment(&mut self, p: &Packet<'_>, at: At<'_>) {
        let mut buf = std::mem::take(&mut self.defrag_buf);
        let before = self.defrag.stats;
        let done = self.defrag.add(p, at.ts, &mut buf);
        let after = self.defrag.stats;
        let mut ev = Events::new(&mut self.eve, &self.cfg, at);
        if after.overlap_diff > before.overlap_diff {
            ev.anomaly(Some((p, None)), "defrag", "defrag.overlap_different_data");
        }
        if after.refused > before.refused {
            ev.anomaly(Some((p, None)), "defrag", "defrag.fragment_refused");
        }
        if done {
            self.process_frame(LinkType::Raw, at, &buf);
        }
        self.defrag_buf = buf;
    }

    /// Runs the packet a tunnel carries, if `p` is a tunnel and not too deeply nested;
    /// returns the inner packet's verdict.
    fn detunnel(&mut self, p: &Packet<'_>, at: At<'_>) -> Option<Verdict> {
        let depth = at.tunnel.map_or(0, |t| t.depth);
        if depth >= MAX_TUNNEL_DEPTH {
            return None;
        }
        let (inner_link, inner) = decode::tunnel_payload(p)?;
        self.stats.tunneled += 1;
        let t = Tunnel {
            src: p.src,
            dst: p.dst,
            sport: p.has_ports().then_some(p.sport),
            dport: p.has_ports().then_some(p.dport),
            proto: p.proto,
            outer_version: p.ip_version,
            depth: depth + 1,
        };
        let inner_at = At {
            tunnel: Some(&t),
            ..at
        };
        Some(self.process_frame(inner_link, inner_at, inner))
    }
}
