//! A worker: owns a flow table, a detection context and its counters, and runs
//! decode -> flow -> detect -> output for every packet handed to it.

use std::net::IpAddr;
use std::sync::Arc;

use crate::applayer::dns::{self, DnsMessage};
use crate::applayer::http::Phase;
use crate::applayer::{AppConfig, AppProto, AppState, TxRef};
use crate::decode::defrag::{DefragConfig, Defragmenter};
use crate::decode::tcp_flags;
use crate::decode::{self, decode, LinkType};
use crate::detect::rules::{Action, Target};
use crate::detect::tag::{HostTags, TagScope, TagState};
use crate::detect::threshold::{Subject, Thresholds};
use crate::detect::xbits::XBits;
use crate::detect::{stream_event, DetectCtx, Engine, FlowFacts, Sig, View};
use crate::flow::stream::StreamEvents;
use crate::flow::{EndReason, Flow, FlowConfig, FlowTable, Micros};
use crate::output::eve::{
    blocks, render_alert, render_anomaly, render_app_event, render_flow_event, render_packet,
    AlertInput,
};
use crate::output::EveSender;
pub use crate::stats::WorkerStats;
use crate::tune::{AlertFacts, Decision, Tuned, Tuner};

/// How checksums are treated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Validate; packets with bad checksums do not update TCP state.
    Yes,
    /// Never validate.
    No,
    /// Validate, but stop once the first 1000 packets of a capture show more than 10% bad
    /// checksums (checksum offloading on the capturing host), as Suricata does for pcap files.
    #[default]
    Auto,
}

/// Tunnels inside tunnels decoded at most this deep.
const MAX_TUNNEL_DEPTH: u8 = 3;

pub use crate::output::eve::Tunnel;

/// Packets sampled before `auto` decides.
const AUTO_SAMPLE: u64 = 1000;

/// Per-worker settings.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Flow table settings.
    pub flow: FlowConfig,
    /// IP defragmentation settings.
    pub defrag: DefragConfig,
    /// Checksum validation.
    pub checksums: ChecksumMode,
    /// Inline mode: drop/reject rules block, EVE action "blocked".
    pub ips: bool,
    /// Write EVE `flow` events when flows end.
    pub flow_events: bool,
    /// Add `community_id` to EVE events.
    pub community_id: bool,
    /// Write EVE `anomaly` events for decode, stream and defrag anomalies.
    pub anomaly_events: bool,
    /// Write packets tagged by `tag` rules as EVE `packet` events.
    pub tagged_packets: bool,
    /// xbits store shared by the workers of a run.
    pub xbits: Arc<XBits>,
    /// App-layer parser limits.
    pub app: AppConfig,
    /// Write EVE transaction events for http, tls, dns.
    pub app_events: [bool; 3],
    /// The SOC's tuning (severities, suppressions, thresholds); None logs vendor severities.
    pub tuner: Option<Arc<Tuner>>,
}

impl Default for WorkerConfig {
    /// The defaults of an empty config file: IDS mode, checksums `auto`, Community ID and
    /// tagged packets on, other optional events off, no tuning.
    fn default() -> Self {
        WorkerConfig {
            flow: FlowConfig::default(),
            defrag: DefragConfig::default(),
            checksums: ChecksumMode::default(),
            ips: false,
            flow_events: false,
            community_id: true,
            anomaly_events: false,
            tagged_packets: true,
            xbits: Default::default(),
            app: AppConfig::default(),
            app_events: [false; 3],
            tuner: None,
        }
    }
}

/// How far a direction's stream data is released (to the parser or to raw detection) on
/// this packet: inline, everything; in IDS mode, what the peer acknowledged, or everything of
/// the packet's own direction when it closes (FIN/RST) or when unconsumed data reaches half
/// the retained window. `own`: the direction is the packet's. `done`: released so far.
fn release_to(
    s: &crate::flow::stream::Reassembler,
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

/// Heap bytes a worker's flows hold, per memcap.
#[derive(Clone, Copy, Debug, Default)]
struct MemUse {
    /// TCP reassembly (stream memcap).
    stream: usize,
    /// App-layer parsers (app-layer memcap).
    app: usize,
}

/// One worker's state.
pub struct Worker {
    /// Heap bytes held by this worker's flows, counted against the memcaps.
    mem: MemUse,
    defrag: Defragmenter,
    defrag_buf: Vec<u8>,
    engine: Arc<Engine>,
    thresholds: Arc<Thresholds>,
    ctx: DetectCtx,
    flows: FlowTable,
    eve: EveSender,
    cfg: WorkerConfig,
    validate: bool,
    /// Packets and bad checksums seen in the current capture, for `auto`.
    file_seen: u64,
    file_bad: u64,
    matched: Vec<u32>,
    /// `tag:host` tags running on this worker.
    host_tags: HostTags,
    /// Inline mode: block of queued stream data being inspected (reused).
    ooo_buf: Vec<u8>,
    /// Transaction matches of the current packet: (transaction slot, rule).
    tx_hits: Vec<(usize, u32)>,
    /// DNS message of the current UDP packet.
    dns_msg: DnsMessage,
    /// Counters.
    pub stats: WorkerStats,
}

/// Whether a verdict lets the packet through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Forward.
    Pass,
    /// Drop (inline mode).
    Drop,
    /// Drop and answer the source with a TCP RST or ICMP unreachable (inline `reject`).
    Reject,
}

impl Worker {
    /// A worker with index `id` (distinguishes its flow ids).
    pub fn new(
        id: usize,
        engine: Arc<Engine>,
        thresholds: Arc<Thresholds>,
        eve: EveSender,
        cfg: WorkerConfig,
    ) -> Result<Worker, String> {
        let ctx = engine.new_ctx_shared(cfg.xbits.clone())?;
        let stats = WorkerStats {
            per_sig: vec![0; engine.sigs().len()],
            ..WorkerStats::default()
        };
        Ok(Worker {
            mem: MemUse::default(),
            defrag: Defragmenter::new(cfg.defrag.clone()),
            defrag_buf: Vec::new(),
            flows: FlowTable::new(
                FlowConfig {
                    // Inline, the sensor sees every window update: hold data to the window
                    // exactly. Passive capture misses some, so allow a window's slack.
                    strict_window: cfg.ips,
                    ..cfg.flow.clone()
                },
                id,
            ),
            validate: cfg.checksums != ChecksumMode::No,
            file_seen: 0,
            file_bad: 0,
            engine,
            thresholds,
            ctx,
            eve,
            cfg,
            matched: Vec::with_capacity(16),
            host_tags: HostTags::default(),
            ooo_buf: Vec::new(),
            tx_hits: Vec::with_capacity(16),
            dns_msg: DnsMessage::default(),
            stats,
        })
    }

    /// Called for every flow that ends: stream counters, and the EVE `flow` event.
    #[allow(clippy::too_many_arguments)]
    fn on_flow_end(
        engine: &Engine,
        ctx: &mut DetectCtx,
        thresholds: &Thresholds,
        stats: &mut WorkerStats,
        mem: &mut MemUse,
        eve: &mut EveSender,
        cfg: &WorkerConfig,
        flow: &mut Flow,
        why: EndReason,
    ) {
        // What this flow was counted for (the final inspection may still grow it).
        mem.app = mem.app.saturating_sub(flow.app.heap());
        if let Some(s) = flow.streams.as_deref() {
            mem.stream = mem.stream.saturating_sub(s[0].mem() + s[1].mem());
        }
        Self::final_inspection(engine, ctx, thresholds, eve, stats, cfg, flow);
        // Transactions still open when the flow ends are logged as they are.
        let cs = (flow.client, flow.server);
        match &flow.app.state {
            AppState::Http(h) if cfg.app_events[0] => {
                for t in h
                    .txs
                    .iter()
                    .filter(|t| !t.logged && t.request.phase > Phase::None)
                {
                    Self::write_tx_event(eve, cfg, flow.last, flow, cs, t.id, TxRef::Http(t));
                }
            }
            AppState::Tls(t) if cfg.app_events[1] && !t.logged && t.ja3.is_some() => {
                Self::write_tx_event(eve, cfg, flow.last, flow, cs, 0, TxRef::Tls(t));
            }
            _ => {}
        }
        if cfg.flow_events {
            let mut line = eve.buffer();
            render_flow_event(&mut line, flow, why, cfg.community_id);
            eve.send(line);
        }
        if let Some(streams) = flow.streams.as_deref() {
            for r in streams {
                let e = &r.events;
                stats.stream_events.overlap_diff += e.overlap_diff;
                stats.stream_events.gaps += e.gaps;
                stats.stream_events.ooo_refused += e.ooo_refused;
                stats.stream_events.depth_bytes += e.depth_bytes;
            }
        }
    }

    /// Runs one frame through the pipeline and returns the verdict.
    pub fn process(&mut self, link: LinkType, ts: Micros, pcap_cnt: u64, frame: &[u8]) -> Verdict {
        self.stats.packets += 1;
        self.stats.bytes += frame.len() as u64;
        let verdict = self.process_decoded(link, ts, pcap_cnt, frame, None);
        self.stats.pcre_limit_hits += crate::detect::inspect::take_pcre_limit_hits();
        verdict
    }

    /// Decodes and inspects a frame; then, for a tunnel (IP-in-IP, GRE, VXLAN, Geneve), the packet it
    /// carries, as its own packet (unless the outer packet was dropped; a `pass` on the outer flow
    /// does not hide the tunnel's own flows, as in Suricata where decoding precedes detection).
    fn process_decoded(
        &mut self,
        link: LinkType,
        ts: Micros,
        pcap_cnt: u64,
        frame: &[u8],
        tunnel: Option<&Tunnel>,
    ) -> Verdict {
        let p = match decode(link, frame) {
            Ok(p) => p,
            Err(e) => {
                self.stats.decode_errors[e as usize] += 1;
                if let (true, Some(event)) = (self.cfg.anomaly_events, e.anomaly_event()) {
                    let mut line = self.eve.buffer();
                    render_anomaly(&mut line, ts, pcap_cnt, None, "decode", event);
                    self.eve.send(line);
                }
                return Verdict::Pass;
            }
        };
        if p.events != 0 {
            self.stats.decoder_events += 1;
            if self.cfg.anomaly_events {
                for name in decode::event::names(p.events, p.ip_version) {
                    let mut line = self.eve.buffer();
                    render_anomaly(&mut line, ts, pcap_cnt, Some((&p, None)), "decode", name);
                    self.eve.send(line);
                }
            }
        }
        let (verdict, _passed, tagged) = self.inspect_packet(&p, ts, pcap_cnt, tunnel);
        if let (Some(flow_id), true) = (tagged, self.cfg.tagged_packets) {
            self.stats.tagged_packets += 1;
            let mut line = self.eve.buffer();
            let id = (flow_id != 0).then_some(flow_id);
            render_packet(&mut line, ts, pcap_cnt, &p, id, frame, link.dlt());
            self.eve.send(line);
        }
        if p.fragment && verdict == Verdict::Pass {
            // The rebuilt datagram is a packet of its own (its buffer is reused).
            let mut buf = std::mem::take(&mut self.defrag_buf);
            let before = self.defrag.stats;
            let done = self.defrag.add(&p, ts, &mut buf);
            if self.cfg.anomaly_events {
                let after = self.defrag.stats;
                for (grew, event) in [
                    (
                        after.overlap_diff > before.overlap_diff,
                        "defrag.overlap_different_data",
                    ),
                    (after.refused > before.refused, "defrag.fragment_refused"),
                ] {
                    if grew {
                        let mut line = self.eve.buffer();
                        render_anomaly(&mut line, ts, pcap_cnt, Some((&p, None)), "defrag", event);
                        self.eve.send(line);
                    }
                }
            }
            if done {
                self.process_decoded(LinkType::Raw, ts, pcap_cnt, &buf, tunnel);
            }
            self.defrag_buf = buf;
            return verdict;
        }
        let depth = tunnel.map_or(0, |t| t.depth);
        if verdict == Verdict::Pass && depth < MAX_TUNNEL_DEPTH {
            if let Some((inner_link, inner)) = decode::tunnel_payload(&p) {
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
                return self.process_decoded(inner_link, ts, pcap_cnt, inner, Some(&t));
            }
        }
        verdict
    }

    /// Runs one decoded packet through flow, reassembly and detection. Returns the verdict,
    /// whether the packet or its flow was passed (a `pass` rule), and, when an earlier `tag`
    /// tagged it, its flow id (0 without a flow).
    fn inspect_packet(
        &mut self,
        p: &decode::Packet<'_>,
        ts: Micros,
        pcap_cnt: u64,
        tunnel: Option<&Tunnel>,
    ) -> (Verdict, bool, Option<u64>) {
        self.stats.inspected += 1;
        if p.truncated {
            self.stats.truncated += 1;
        }
        let mut checksum_ok = true;
        if self.validate {
            self.file_seen += 1;
            if p.verify_checksums().is_err() {
                checksum_ok = false;
                self.stats.bad_checksum += 1;
                self.file_bad += 1;
            }
            if self.cfg.checksums == ChecksumMode::Auto
                && self.file_seen == AUTO_SAMPLE
                && self.file_bad * 10 > AUTO_SAMPLE
            {
                tracing::info!(
                    "{} of the first {AUTO_SAMPLE} packets of a capture have bad checksums: assuming checksum offloading, validation off for it",
                    self.file_bad
                );
                self.validate = false;
            }
        }

        let Worker {
            engine,
            thresholds,
            ctx,
            flows,
            eve,
            matched,
            stats,
            cfg,
            mem,
            tx_hits,
            dns_msg,
            host_tags,
            ooo_buf,
            ..
        } = self;
        // A TCP segment with a bad checksum is counted in its flow but does not move the
        // session state (Suricata's stream engine ignores it); it is still inspected.
        let lookup = flows.track(p, ts, checksum_ok, &mut |f, why| {
            Self::on_flow_end(engine, ctx, thresholds, stats, mem, eve, cfg, f, why)
        });
        let to_server = lookup.to_server;
        let refused = lookup.refused;
        let mut flow = lookup.flow;
        if let Some(f) = flow.as_deref() {
            if f.dropped {
                stats.dropped += 1;
                return (Verdict::Drop, false, None);
            }
            if f.passed {
                stats.passed += 1;
                return (Verdict::Pass, true, None);
            }
        }
        // Tags started by earlier alerts: this packet is logged if its session or one of its
        // hosts is tagged (each tag counts it).
        let mut tagged = None;
        if let Some(f) = flow.as_deref_mut() {
            if let Some(t) = &mut f.tag {
                if t.take(ts, p.frame_len) {
                    tagged = Some(f.id);
                } else {
                    f.tag = None;
                }
            }
        }
        if host_tags.take(p.src, p.dst, ts, p.frame_len) && tagged.is_none() {
            tagged = Some(flow.as_deref().map_or(0, |f| f.id));
        }
        let mut facts = match flow.as_deref() {
            Some(f) => FlowFacts {
                tracked: true,
                to_server,
                established: if f.proto == 6 {
                    f.pkt_established
                } else {
                    f.established()
                },
                first_in_dir: f.first_in_dir(to_server),
                stream_sizes: None,
                now: ts,
                app_proto: f.app.proto,
                stream_events: refused.map_or(0, |r| r.stream_event()),
            },
            None => FlowFacts {
                now: ts,
                ..FlowFacts::default()
            },
        };
        // TCP data of a tracked session goes through reassembly; stream rules see it there.
        let stream_active = match (flow.as_deref_mut(), p.tcp) {
            (Some(f), Some(tcp)) if checksum_ok && refused.is_none() && f.streams.is_some() => {
                let scfg = &cfg.flow.stream;
                let dir = usize::from(!to_server);
                let flow_id = f.id;
                let streams = f.streams.as_deref_mut().expect("checked above");
                let before = (streams[0].events, streams[1].events);
                let mem_before = streams[0].mem() + streams[1].mem();
                if tcp.flags & tcp_flags::ACK != 0 {
                    // An ACK past what we saw of the other direction: that data was lost.
                    streams[1 - dir].on_ack(tcp.ack, scfg);
                    streams[1 - dir].ack_to(tcp.ack);
                }
                // Data on a SYN (TCP Fast Open) starts right after the SYN's sequence number.
                let seq = if tcp.flags & tcp_flags::SYN != 0 {
                    tcp.seq.wrapping_add(1)
                } else {
                    tcp.seq
                };
                if mem.stream > scfg.memcap && !p.payload.is_empty() {
                    stats.stream_memcap += 1;
                } else {
                    // Detection sees the data when it is released (below), not here.
                    let _ = streams[dir].insert(seq, p.payload, scfg);
                }
                let after = (streams[0].events, streams[1].events);
                if after.0.gaps + after.1.gaps > before.0.gaps + before.1.gaps {
                    facts.stream_events |= stream_event::SEQ_GAP;
                }
                if after.0.overlap_diff + after.1.overlap_diff
                    > before.0.overlap_diff + before.1.overlap_diff
                {
                    facts.stream_events |= stream_event::OVERLAP_DIFF;
                }
                let bit = 1u8 << dir;
                if tcp.flags & tcp_flags::RST != 0 {
                    f.rsts |= bit;
                } else if f.rsts & bit != 0 && !p.payload.is_empty() {
                    // Data after this side's RST: the RST was forged (or the data is).
                    f.rsts &= !bit;
                    facts.stream_events |= stream_event::RST_INJECT;
                }
                let mem_after = streams[0].mem() + streams[1].mem();
                mem.stream = (mem.stream + mem_after).saturating_sub(mem_before);
                if cfg.anomaly_events {
                    let after = (streams[0].events, streams[1].events);
                    let grew = |f: fn(&StreamEvents) -> u64| {
                        f(&after.0) + f(&after.1) > f(&before.0) + f(&before.1)
                    };
                    for (g, event) in [
                        (
                            grew(|e| u64::from(e.overlap_diff)),
                            "stream.reassembly_overlap_different_data",
                        ),
                        (grew(|e| u64::from(e.gaps)), "stream.reassembly_seq_gap"),
                        (
                            grew(|e| u64::from(e.ooo_refused)),
                            "stream.reassembly_segment_limit",
                        ),
                    ] {
                        if g {
                            let mut line = eve.buffer();
                            render_anomaly(
                                &mut line,
                                ts,
                                pcap_cnt,
                                Some((p, Some(flow_id))),
                                "stream",
                                event,
                            );
                            eve.send(line);
                        }
                    }
                }
                true
            }
            _ => false,
        };
        if let (Some(why), true) = (refused, cfg.anomaly_events) {
            let mut line = eve.buffer();
            let flow_id = flow.as_deref().map(|f| f.id);
            let name = why.anomaly_name();
            render_anomaly(&mut line, ts, pcap_cnt, Some((p, flow_id)), "stream", name);
            eve.send(line);
        }
        if let Some(s) = flow.as_deref().and_then(|f| f.streams.as_deref()) {
            facts.stream_sizes = Some([s[0].size(), s[1].size()]);
        }
        // App layer: probe and parse the new stream bytes, or the datagram.
        let dir = usize::from(!to_server);
        let parse_errors_before = stats.app.parse_errors;
        let mut app_progress = false;
        let mut dns_ready = false;
        if let Some(f) = flow.as_deref_mut() {
            let Flow { streams, app, .. } = f;
            match (stream_active, streams.as_deref_mut()) {
                (true, Some(st)) => {
                    // The parser gets each direction's data as the peer acknowledges it (on
                    // the acknowledging packet), as Suricata does in IDS mode; inline, at once.
                    let closing = p
                        .tcp
                        .is_some_and(|t| t.flags & (tcp_flags::FIN | tcp_flags::RST) != 0);
                    let heap_before = app.heap();
                    for d in [1 - dir, dir] {
                        let upto = release_to(&st[d], cfg, d == dir, closing, st[d].app_off);
                        if upto <= st[d].app_off {
                            continue;
                        }
                        if let Some((_, end)) = st[d].range(0, upto) {
                            app_progress |= app.on_stream(
                                d,
                                &st[d].window()[..end],
                                st[d].window_off(),
                                &cfg.app,
                                mem.app > cfg.app.memcap,
                                &mut stats.app,
                            );
                        }
                        st[d].app_off = upto;
                    }
                    mem.app = (mem.app + app.heap()).saturating_sub(heap_before);
                }
                _ if p.proto == 17 && !p.payload.is_empty() => {
                    if app.proto == AppProto::Unknown {
                        if dns::probe_udp(p.payload, dns_msg) {
                            app.proto = AppProto::Dns;
                            stats.app.detected[2] += 1;
                        } else {
                            app.proto = AppProto::Failed;
                            stats.app.failed += 1;
                        }
                    }
                    if app.proto == AppProto::Dns {
                        match dns_msg.parse(p.payload) {
                            Ok(()) => {
                                dns_ready = true;
                                stats.app.dns_messages += 1;
                                app.udp_txs += 1;
                            }
                            Err(_) => stats.app.parse_errors += 1,
                        }
                    }
                }
                _ => {}
            }
            // A FIN ends its direction, a RST both: parsers finish what the close completes
            // (once the direction's data is all in order).
            if let (Some(tcp), Some(st)) = (p.tcp, f.streams.as_deref()) {
                let fin = tcp.flags & tcp_flags::FIN != 0;
                let rst = tcp.flags & tcp_flags::RST != 0;
                for d in [dir, 1 - dir] {
                    let all_parsed = st[d].app_off >= st[d].next_off();
                    // A RST does not end the parsers: data after it (an injected RST, as
                    // Suricata's suspected_rst_inject) is still parsed; the flow's end
                    // completes what is left.
                    let _ = rst;
                    if fin && d == dir && st[d].pending() == 0 && all_parsed {
                        app_progress |= f.app.on_close(d, &cfg.app, &mut stats.app);
                    }
                }
            }
            facts.app_proto = f.app.proto;
            f.app.was_established |= facts.established;
            if cfg.anomaly_events && stats.app.parse_errors > parse_errors_before {
                // Malformed app-layer data: one anomaly per packet that brought some.
                let event = match f.app.proto {
                    AppProto::Http => "http.parser_error",
                    AppProto::Tls => "tls.parser_error",
                    AppProto::Dns => "dns.parser_error",
                    _ => "applayer.parser_error",
                };
                let mut line = eve.buffer();
                render_anomaly(
                    &mut line,
                    ts,
                    pcap_cnt,
                    Some((p, Some(f.id))),
                    "applayer",
                    event,
                );
                eve.send(line);
            }
        }
        matched.clear();
        let bits = flow.as_deref_mut().map(|f| &mut f.bits);
        engine.inspect(ctx, p, facts, bits, View::Packet { stream_active }, |idx| {
            matched.push(idx)
        });
        // Raw stream detection on this packet's direction: its data acknowledged so far (IDS)
        // or all of it (inline).
        if let (true, Some(f)) = (stream_active, flow.as_deref_mut()) {
            let Flow { streams, bits, .. } = f;
            if let Some(st) = streams.as_deref_mut() {
                let closing = p
                    .tcp
                    .is_some_and(|t| t.flags & (tcp_flags::FIN | tcp_flags::RST) != 0);
                // Inline, data queued past a hole is inspected at once (with what is queued
                // before it): the packet can still be dropped before the host gets it.
                if let (true, Some(tcp)) = (cfg.ips, p.tcp) {
                    let seq = if tcp.flags & tcp_flags::SYN != 0 {
                        tcp.seq.wrapping_add(1)
                    } else {
                        tcp.seq
                    };
                    let s = &mut st[dir];
                    let lookback = crate::detect::STREAM_SCAN_LOOKBACK;
                    if let Some((base, new_from)) =
                        s.ooo_block(seq, p.payload.len(), lookback, ooo_buf)
                    {
                        // The whole block is context: scan all of it.
                        let scanned = std::cell::Cell::new(u64::MAX);
                        let view = View::Stream {
                            data: ooo_buf,
                            new_from,
                            base,
                            hits_until: &scanned,
                        };
                        let end = base + ooo_buf.len() as u64;
                        let alerts = &mut s.ooo_alerts;
                        engine.inspect(ctx, p, facts, Some(bits), view, |idx| {
                            if !matched.contains(&idx) {
                                matched.push(idx);
                                if alerts.len() >= 64 {
                                    alerts.remove(0);
                                }
                                alerts.push((idx, end));
                            }
                        });
                    }
                }
                let s = &mut st[dir];
                let upto = release_to(s, cfg, true, closing, s.raw_off);
                if let Some((start, end)) = s.range(s.raw_off, upto) {
                    let view = View::Stream {
                        data: &s.window()[..end],
                        new_from: start,
                        base: s.window_off(),
                        hits_until: &s.hits_until,
                    };
                    // Rules that alerted on part of this data while it waited past a hole
                    // do not alert on it again.
                    let from = s.raw_off;
                    let earlier = &s.ooo_alerts;
                    engine.inspect(ctx, p, facts, Some(bits), view, |idx| {
                        let repeat = earlier.iter().any(|&(r, e)| r == idx && e > from);
                        if !repeat && !matched.contains(&idx) {
                            matched.push(idx);
                        }
                    });
                    stats.stream_bytes += (end - start) as u64;
                }
                let s = &mut st[dir];
                s.raw_off = s.raw_off.max(upto);
                let done = s.raw_off;
                s.ooo_alerts.retain(|&(_, e)| e > done);
            }
        }
        // Transactions the parsers updated: (transaction slot, rule) pairs.
        tx_hits.clear();
        let pending = flow.as_deref().is_some_and(|f| f.app.has_updates(dir));
        if app_progress || dns_ready || pending {
            if let Some(f) = flow.as_deref_mut() {
                let Flow {
                    streams, app, bits, ..
                } = f;
                // Rules mixing payload and transaction contents look at the direction's
                // retained stream (or the datagram).
                let payload = match streams.as_deref() {
                    Some(st) if p.proto == 6 => st[dir].window(),
                    _ => p.payload,
                };
                match &mut app.state {
                    AppState::Http(h) => {
                        for (slot, tx) in h.txs.iter_mut().enumerate() {
                            // Only this packet's direction: the other side's progress is
                            // inspected on its next packet (or at the flow's end), as
                            // Suricata's transaction detection does.
                            {
                                let d = dir;
                                if !std::mem::take(&mut tx.updated[d]) {
                                    continue;
                                }
                                let before = tx_hits.len();
                                let facts = FlowFacts {
                                    to_server: d == 0,
                                    ..facts
                                };
                                let data = if d == dir { payload } else { &[] };
                                engine.inspect_tx(
                                    ctx,
                                    p,
                                    facts,
                                    bits,
                                    TxRef::Http(tx),
                                    &tx.alerted,
                                    data,
                                    |idx| tx_hits.push((slot, idx)),
                                );
                                tx.alerted.extend(tx_hits[before..].iter().map(|h| h.1));
                                tx.unsettled[d] = !facts.established;
                            }
                        }
                    }
                    AppState::Tls(t) => {
                        // Like HTTP: only this packet's direction.
                        if std::mem::take(&mut t.updated[dir]) {
                            engine.inspect_tx(
                                ctx,
                                p,
                                facts,
                                bits,
                                TxRef::Tls(t),
                                &t.alerted,
                                payload,
                                |idx| tx_hits.push((0, idx)),
                            );
                            t.alerted.extend(tx_hits.iter().map(|h| h.1));
                            t.unsettled[dir] = !facts.established;
                        }
                    }
                    AppState::DnsTcp(d) => {
                        for (slot, (_, m)) in d.done.iter_mut().enumerate() {
                            let before = tx_hits.len();
                            engine.inspect_tx(
                                ctx,
                                p,
                                facts,
                                bits,
                                TxRef::Dns(m),
                                &m.alerted,
                                payload,
                                |idx| tx_hits.push((slot, idx)),
                            );
                            m.alerted.extend(tx_hits[before..].iter().map(|h| h.1));
                        }
                    }
                    AppState::None if dns_ready => {
                        engine.inspect_tx(
                            ctx,
                            p,
                            facts,
                            bits,
                            TxRef::Dns(dns_msg),
                            &[],
                            payload,
                            |idx| tx_hits.push((0, idx)),
                        );
                    }
                    AppState::None => {}
                }
            }
        }
        if matched.is_empty() && tx_hits.is_empty() {
            Self::app_done(eve, cfg, ts, flow, p, dns_ready.then_some(&*dns_msg));
            return (Verdict::Pass, false, tagged);
        }
        // `pass` outranks every other action, as in Suricata's default action order.
        if matched
            .iter()
            .chain(tx_hits.iter().map(|h| &h.1))
            .any(|&i| engine.sig(i).action == Action::Pass)
        {
            if let Some(f) = flow.as_deref_mut() {
                f.passed = true;
            }
            Self::app_done(
                eve,
                cfg,
                ts,
                flow.as_deref_mut(),
                p,
                dns_ready.then_some(&*dns_msg),
            );
            return (Verdict::Pass, true, tagged);
        }
        let mut verdict = Verdict::Pass;
        let mut any_alert = false;
        let subject = Subject {
            src: p.src,
            dst: p.dst,
            flow_id: flow.as_deref().map_or(0, |f| f.id),
            ts,
            sport: p.sport,
            dport: p.dport,
        };
        let ips = cfg.ips;
        let hits = matched
            .iter()
            .map(|&i| (None, i))
            .chain(tx_hits.iter().map(|&(slot, i)| (Some(slot), i)));
        for (slot, idx) in hits {
            let sig = engine.sig(idx);
            if !Self::passes_filters(
                engine,
                thresholds,
                stats,
                cfg.tuner.as_deref(),
                idx,
                subject,
            ) {
                continue;
            }
            let blocked = ips && blocks(sig.action);
            if blocked {
                verdict = if sig.action == Action::Reject || verdict == Verdict::Reject {
                    Verdict::Reject
                } else {
                    Verdict::Drop
                };
                if let Some(f) = flow.as_deref_mut() {
                    f.dropped = true;
                }
            }
            let Ok(tuned) = Self::tune(cfg, stats, sig, idx, subject, Some(to_server)) else {
                continue;
            };
            any_alert = true;
            let fref = flow.as_deref();
            let app = match (slot, fref.map(|f| &f.app.state)) {
                (Some(s), Some(AppState::Http(h))) => h.txs.get(s).map(|t| (t.id, TxRef::Http(t))),
                (Some(_), Some(AppState::Tls(t))) => Some((0, TxRef::Tls(t))),
                (Some(s), Some(AppState::DnsTcp(d))) => {
                    d.done.get(s).map(|(_, m)| (u64::from(m.id), TxRef::Dns(m)))
                }
                (Some(_), _) if dns_ready => Some((
                    fref.map_or(0, |f| f.app.udp_txs.saturating_sub(1)),
                    TxRef::Dns(dns_msg),
                )),
                _ => None,
            };
            let input = AlertInput {
                ts,
                pcap_cnt,
                ip_version: p.ip_version,
                src: p.src,
                sport: p.has_ports().then_some(p.sport),
                dst: p.dst,
                dport: p.has_ports().then_some(p.dport),
                proto: p.proto,
                icmp: p.icmp,
                vlan: p.vlan,
                flow: fref.map(|f| (f, to_server)),
                blocked,
                tunnel,
                community_id: cfg.community_id,
                app,
                pseudo: false,
                tuned,
            };
            let mut line = eve.buffer();
            render_alert(&mut line, &input, sig);
            eve.send(line);
            stats.alerts += 1;
            stats.per_sig[idx as usize] += 1;
            for spec in &sig.tags {
                let tag = TagState::start(spec, ts);
                match (spec.scope, flow.as_deref_mut()) {
                    (TagScope::Session, Some(f)) => match &mut f.tag {
                        Some(t) => t.extend(tag),
                        None => f.tag = Some(tag),
                    },
                    (TagScope::Session, None) => {}
                    (TagScope::HostSrc, _) => host_tags.start(p.src, tag),
                    (TagScope::HostDst, _) => host_tags.start(p.dst, tag),
                }
            }
        }
        if let Some(f) = flow.as_deref_mut() {
            f.alerted |= any_alert;
        }
        Self::app_done(eve, cfg, ts, flow, p, dns_ready.then_some(&*dns_msg));
        if verdict != Verdict::Pass {
            stats.dropped += 1;
        }
        if verdict == Verdict::Reject {
            stats.rejected += 1;
        }
        (verdict, false, tagged)
    }

    /// Whether a matching rule alerts: not `noalert`, and its detection_filter and threshold
    /// let it through (counted when they do not).
    fn passes_filters(
        engine: &Engine,
        thresholds: &Thresholds,
        stats: &mut WorkerStats,
        tuner: Option<&Tuner>,
        idx: u32,
        subject: Subject,
    ) -> bool {
        let sig = engine.sig(idx);
        if sig.noalert {
            return false;
        }
        let df_ok = sig
            .detection_filter
            .is_none_or(|d| thresholds.allow(&d, idx, 1, subject));
        // A tuning threshold replaces the rule's own, as threshold.config does in Suricata.
        let ok = df_ok
            && match tuner.and_then(|t| t.threshold(idx)) {
                Some((t, _)) => thresholds.allow(t, idx, 2, subject),
                None => sig
                    .threshold
                    .is_none_or(|t| thresholds.allow(&t, idx, 0, subject)),
            };
        if !ok {
            stats.thresholded += 1;
        }
        ok
    }

    /// The tuning of an alert that passed its filters: `Err` when tuning suppresses it
    /// (counted), `Ok(None)` without tuning. `to_server`: the packet's direction in its flow.
    fn tune<'c>(
        cfg: &'c WorkerConfig,
        stats: &mut WorkerStats,
        sig: &Sig,
        idx: u32,
        s: Subject,
        to_server: Option<bool>,
    ) -> Result<Option<Tuned<'c>>, ()> {
        let Some(tuner) = cfg.tuner.as_deref() else {
            return Ok(None);
        };
        let target_is_src = sig.target == Some(Target::Src);
        let facts = AlertFacts {
            src: s.src,
            dst: s.dst,
            target: if target_is_src { s.src } else { s.dst },
            // The targeted port means something only when the target is the flow's server.
            target_port: match (target_is_src, to_server) {
                (false, Some(true)) => Some(s.dport),
                (true, Some(false)) => Some(s.sport),
                _ => None,
            },
        };
        match tuner.decide(idx, &facts) {
            Decision::Suppressed(_) => {
                stats.suppressed += 1;
                Err(())
            }
            Decision::Alert(t) => {
                stats.by_severity[t.severity as usize] += 1;
                Ok(Some(t))
            }
        }
    }

    /// When a flow ends: the parsers finish what the end completes (a message cut by the
    /// close), and transactions whose last inspection could not match (the packet that
    /// completed them was no longer `established`, or nothing inspected them) are inspected
    /// once more as Suricata's flow-timeout pseudo packets do: established, one pass per
    /// direction. Alerts say `"pkt_src":"stream (flow timeout)"`.
    #[allow(clippy::too_many_arguments)]
    fn final_inspection(
        engine: &Engine,
        ctx: &mut DetectCtx,
        thresholds: &Thresholds,
        eve: &mut EveSender,
        stats: &mut WorkerStats,
        cfg: &WorkerConfig,
        flow: &mut Flow,
    ) {
        if flow.passed || flow.dropped {
            return;
        }
        let pseudo = [Self::pseudo_packet(flow, 0), Self::pseudo_packet(flow, 1)];
        // Raw stream hits have no transaction (slot usize::MAX).
        let mut hits: Vec<(usize, usize, u32)> = Vec::new();
        let Flow {
            app, bits, streams, ..
        } = &mut *flow;
        if let Some(st) = streams.as_deref_mut() {
            // Data never acknowledged reaches the parser and raw detection now, then what
            // waits after a gap.
            for (d, s) in st.iter_mut().enumerate() {
                let (p, facts) = &pseudo[d];
                loop {
                    let upto = s.next_off();
                    if upto > s.app_off {
                        if let Some((_, end)) = s.range(0, upto) {
                            // The flow ends now: what is left is parsed whatever the memcap.
                            app.on_stream(
                                d,
                                &s.window()[..end],
                                s.window_off(),
                                &cfg.app,
                                false,
                                &mut stats.app,
                            );
                        }
                        s.app_off = upto;
                    }
                    if let Some((start, end)) = s.range(s.raw_off, upto) {
                        let view = View::Stream {
                            data: &s.window()[..end],
                            new_from: start,
                            base: s.window_off(),
                            hits_until: &s.hits_until,
                        };
                        let (from, earlier) = (s.raw_off, &s.ooo_alerts);
                        engine.inspect(ctx, p, *facts, Some(bits), view, |i| {
                            // Not again for data it alerted on while queued past a hole.
                            if !earlier.iter().any(|&(r, e)| r == i && e > from) {
                                hits.push((d, usize::MAX, i))
                            }
                        });
                        stats.stream_bytes += (end - start) as u64;
                    }
                    s.raw_off = upto;
                    s.ooo_alerts.retain(|&(_, e)| e > upto);
                    if s.pending() == 0 || s.flush(&cfg.flow.stream).is_none() {
                        break;
                    }
                }
            }
        }
        if flow.proto == 6 {
            flow.app.on_close(0, &cfg.app, &mut stats.app);
            flow.app.on_close(1, &cfg.app, &mut stats.app);
        }
        for (d, (p, facts)) in pseudo.iter().enumerate() {
            let (p, facts) = (p, *facts);
            let Flow {
                app, bits, streams, ..
            } = &mut *flow;
            match &mut app.state {
                AppState::Http(h) => {
                    for (slot, tx) in h.txs.iter_mut().enumerate() {
                        if !(std::mem::take(&mut tx.updated[d]) || tx.unsettled[d]) {
                            continue;
                        }
                        let before = hits.len();
                        engine.inspect_tx(
                            ctx,
                            p,
                            facts,
                            bits,
                            TxRef::Http(tx),
                            &tx.alerted,
                            streams.as_deref().map_or(&[][..], |st| st[d].window()),
                            |i| hits.push((d, slot, i)),
                        );
                        tx.alerted.extend(hits[before..].iter().map(|h| h.2));
                    }
                }
                AppState::Tls(t) if t.updated[d] || t.unsettled[d] => {
                    t.updated[d] = false;
                    let before = hits.len();
                    engine.inspect_tx(ctx, p, facts, bits, TxRef::Tls(t), &t.alerted, &[], |i| {
                        hits.push((d, 0, i))
                    });
                    t.alerted.extend(hits[before..].iter().map(|h| h.2));
                }
                _ => {}
            }
        }
        let mut any = false;
        for &(d, slot, idx) in &hits {
            let (src, dst) = if d == 0 {
                (flow.client, flow.server)
            } else {
                (flow.server, flow.client)
            };
            let subject = Subject {
                src: src.0,
                dst: dst.0,
                flow_id: flow.id,
                ts: flow.last,
                sport: src.1,
                dport: dst.1,
            };
            let sig = engine.sig(idx);
            if sig.action == Action::Pass
                || !Self::passes_filters(
                    engine,
                    thresholds,
                    stats,
                    cfg.tuner.as_deref(),
                    idx,
                    subject,
                )
            {
                continue;
            }
            let Ok(tuned) = Self::tune(cfg, stats, sig, idx, subject, Some(d == 0)) else {
                continue;
            };
            let app = match &flow.app.state {
                _ if slot == usize::MAX => None,
                AppState::Http(h) => h.txs.get(slot).map(|t| (t.id, TxRef::Http(t))),
                AppState::Tls(t) => Some((0, TxRef::Tls(t))),
                _ => None,
            };
            let input = AlertInput {
                ts: flow.last,
                pcap_cnt: 0,
                ip_version: if src.0.is_ipv4() { 4 } else { 6 },
                src: src.0,
                sport: Some(src.1),
                dst: dst.0,
                dport: Some(dst.1),
                proto: flow.proto,
                icmp: None,
                vlan: [0, 0],
                flow: Some((&*flow, d == 0)),
                blocked: false,
                tunnel: None,
                community_id: cfg.community_id,
                app,
                pseudo: true,
                tuned,
            };
            let mut line = eve.buffer();
            render_alert(&mut line, &input, engine.sig(idx));
            eve.send(line);
            stats.alerts += 1;
            stats.per_sig[idx as usize] += 1;
            any = true;
        }
        flow.alerted |= any;
    }

    /// A packet standing for direction `d` (0 to server) of a flow that ends, with the facts
    /// flow-end detection uses (Suricata's flow-timeout pseudo packet).
    fn pseudo_packet(flow: &Flow, d: usize) -> (decode::Packet<'static>, FlowFacts) {
        let (src, dst) = if d == 0 {
            (flow.client, flow.server)
        } else {
            (flow.server, flow.client)
        };
        let p = decode::Packet {
            ip_version: if src.0.is_ipv4() { 4 } else { 6 },
            src: src.0,
            dst: dst.0,
            proto: flow.proto,
            ttl: 0,
            sport: src.1,
            dport: dst.1,
            tcp: None,
            icmp: None,
            icmp_rest: [0; 4],
            ip_id: 0,
            vlan: [0, 0],
            fragment: false,
            frag: None,
            truncated: false,
            payload: &[],
            frame_len: 0,
            ip_header: &[],
            l4: &[],
            events: 0,
        };
        let facts = FlowFacts {
            tracked: true,
            to_server: d == 0,
            established: flow.app.was_established,
            first_in_dir: false,
            stream_sizes: None,
            now: flow.last,
            app_proto: flow.app.proto,
            stream_events: 0,
        };
        (p, facts)
    }

    /// Writes one EVE transaction event (http, tls or dns), oriented `ends.0` to `ends.1`.
    fn write_tx_event(
        eve: &mut EveSender,
        cfg: &WorkerConfig,
        ts: Micros,
        f: &Flow,
        ends: ((IpAddr, u16), (IpAddr, u16)),
        id: u64,
        tx: TxRef<'_>,
    ) {
        let mut line = eve.buffer();
        render_app_event(&mut line, ts, f, ends.0, ends.1, id, &tx, cfg.community_id);
        eve.send(line);
    }

    /// After detection: writes the EVE transaction events that are due, then frees what the
    /// app layer no longer needs.
    fn app_done(
        eve: &mut EveSender,
        cfg: &WorkerConfig,
        ts: Micros,
        flow: Option<&mut Flow>,
        p: &decode::Packet<'_>,
        udp_dns: Option<&DnsMessage>,
    ) {
        let Some(f) = flow else {
            return;
        };
        let [http, tls, dns_on] = cfg.app_events;
        let cs = (f.client, f.server);
        let pkt = ((p.src, p.sport), (p.dst, p.dport));
        let mut log = |f: &Flow, ends: ((IpAddr, u16), (IpAddr, u16)), id: u64, tx: TxRef<'_>| {
            Self::write_tx_event(eve, cfg, ts, f, ends, id, tx)
        };
        if dns_on {
            if let Some(m) = udp_dns {
                log(f, pkt, f.app.udp_txs.saturating_sub(1), TxRef::Dns(m));
            }
            if let AppState::DnsTcp(d) = &f.app.state {
                for (_, m) in &d.done {
                    log(f, pkt, u64::from(m.id), TxRef::Dns(m));
                }
            }
        }
        let due: Vec<usize> = match &f.app.state {
            AppState::Http(h) if http => h
                .txs
                .iter()
                .enumerate()
                .filter(|(_, t)| t.complete() && !t.logged)
                .map(|(i, _)| i)
                .collect(),
            AppState::Tls(t) if tls && !t.logged && t.server_done() => vec![0],
            _ => Vec::new(),
        };
        for i in &due {
            match &f.app.state {
                AppState::Http(h) => log(f, cs, h.txs[*i].id, TxRef::Http(&h.txs[*i])),
                AppState::Tls(t) => log(f, cs, 0, TxRef::Tls(t)),
                _ => {}
            }
        }
        match &mut f.app.state {
            AppState::Http(h) => {
                for t in h.txs.iter_mut() {
                    t.logged |= t.complete() || !http;
                }
                h.gc();
            }
            AppState::Tls(t) => t.logged |= !due.is_empty(),
            AppState::DnsTcp(d) => d.done.clear(),
            AppState::None => {}
        }
    }

    /// A new capture file starts: `auto` checksum validation samples it afresh (each capture
    /// may come from a host with or without checksum offloading).
    pub fn begin_capture(&mut self) {
        self.validate = self.cfg.checksums != ChecksumMode::No;
        self.file_seen = 0;
        self.file_bad = 0;
    }

    /// Live capture without packets: ends flows idle past their timeout at wall-clock `now`.
    pub fn tick(&mut self, now: Micros) {
        self.end_flows(Some(now));
    }

    /// Ends flows idle at `now`, or every flow (None), with their end-of-flow work.
    fn end_flows(&mut self, now: Option<Micros>) {
        let Worker {
            engine,
            ctx,
            thresholds,
            stats,
            mem,
            eve,
            cfg,
            flows,
            ..
        } = self;
        let mut ended = |f: &mut Flow, why| {
            Self::on_flow_end(engine, ctx, thresholds, stats, mem, eve, cfg, f, why)
        };
        match now {
            Some(t) => flows.expire(t, &mut ended),
            None => flows.drain(&mut ended),
        }
    }

    /// Replaces the detection engine, threshold state and tuning (a reload). Flows stay; what
    /// they hold in the old engine's rule numbering is dropped. Per-rule alert counts restart.
    pub fn set_detection(
        &mut self,
        engine: Arc<Engine>,
        thresholds: Arc<Thresholds>,
        tuner: Option<Arc<Tuner>>,
    ) -> Result<(), String> {
        let mut ctx = engine.new_ctx_shared(self.cfg.xbits.clone())?;
        ctx.scan_errors = self.ctx.scan_errors;
        ctx.backoff_skips = self.ctx.backoff_skips;
        self.ctx = ctx;
        self.stats.per_sig = vec![0; engine.sigs().len()];
        self.engine = engine;
        self.thresholds = thresholds;
        self.cfg.tuner = tuner;
        self.flows.for_each(&mut |f| f.forget_detection());
        Ok(())
    }

    /// The counters so far (flow, defrag and output figures included).
    pub fn snapshot(&self) -> WorkerStats {
        let mut s = WorkerStats {
            per_sig: Vec::new(),
            ..self.stats.clone()
        };
        s.flow = self.flows.stats;
        s.defrag = self.defrag.stats;
        s.eve_dropped = self.eve.dropped;
        s.scan_errors = self.ctx.scan_errors;
        s.backoff_skips = self.ctx.backoff_skips;
        s.active_flows = self.flows.len() as u64;
        s
    }

    /// Ends all flows and returns the final counters.
    pub fn finish(mut self) -> WorkerStats {
        self.end_flows(None);
        let per_sig = std::mem::take(&mut self.stats.per_sig);
        WorkerStats {
            per_sig,
            ..self.snapshot()
        }
    }
}
