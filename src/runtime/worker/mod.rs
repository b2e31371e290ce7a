//! A worker: owns a flow table, a detection context and its counters, and runs every packet
//! handed to it through the stages of the packet path, each in its own module:
//!
//! 1. `decode`: frame to packet, decoder anomalies, defragmentation, tunnels
//!    (a rebuilt datagram or a tunnelled packet runs the rest of the path as its own packet);
//! 2. `track`: checksum sampling, the packet's flow, tags, the flow facts rules test;
//! 3. `stream`: TCP reassembly and its anomalies;
//! 4. `app`: the app-layer parsers on released stream data or the datagram;
//! 5. `detect`: packet, raw stream and transaction detection into the
//!    packet's hits;
//! 6. `verdict`: `pass`, drop or reject, thresholds and tuning, alerts and tags;
//! 7. `events`: the EVE lines the stages write (anomalies, transactions).
//!
//! `flow_end` runs when a flow ends: its last inspection and its EVE events.
//! `Worker::inspect_packet` shows the order; each stage's signature shows what it touches.

mod app;
mod decode;
mod detect;
mod events;
mod evidence;
mod flow_end;
mod stream;
mod track;
mod verdict;

use std::sync::Arc;

use crate::applayer::{AppConfig, PROTOCOL_COUNT};
use crate::decode::defrag::{DefragConfig, Defragmenter};
use crate::decode::{LinkType, Packet};
use crate::detect::intel::Store;
use crate::detect::tag::HostTags;
use crate::detect::threshold::Thresholds;
use crate::detect::xbits::XBits;
use crate::detect::{DetectCtx, Engine};
use crate::flow::{Flow, FlowConfig, FlowTable, Micros};
pub use crate::output::eve::Tunnel;
use crate::output::EveSender;
pub use crate::stats::WorkerStats;
use crate::tune::Tuner;

use detect::Hits;
use events::Events;
use track::ChecksumSampler;

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
    /// Write EVE transaction events, per protocol (in [`crate::applayer::PROTOCOLS`] order).
    pub app_events: [bool; PROTOCOL_COUNT],
    /// Write `fileinfo` events.
    pub fileinfo_events: bool,
    /// The file store, when configured: files `filestore` rules match go there.
    pub filestore: Option<crate::output::filestore::StoreSender>,
    /// The SOC's tuning (severities, suppressions, thresholds); None logs vendor severities.
    pub tuner: Option<Arc<Tuner>>,
    /// The pcap output of alerting flows, and the bytes of recent frames each worker keeps
    /// to find a flow's earlier frames.
    pub pcap: Option<(crate::output::pcaplog::PcapSender, usize)>,
    /// Threat intelligence (IOC lists, IP reputation), updated at runtime.
    pub intel: Option<Arc<Store>>,
    /// The sensor's own detections that are on.
    pub analytics: Option<Arc<crate::detect::analytics::Specs>>,
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
            app_events: [false; PROTOCOL_COUNT],
            fileinfo_events: false,
            filestore: None,
            tuner: None,
            pcap: None,
            intel: None,
            analytics: None,
        }
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

/// The detection side of a worker: the shared engine and threshold state, and this worker's
/// own detection context.
struct Detector {
    engine: Arc<Engine>,
    thresholds: Arc<Thresholds>,
    ctx: DetectCtx,
    /// The intel store, and what this worker took from it.
    intel: Option<IntelState>,
    /// This worker's analytics and what they track.
    analytics: Option<crate::detect::analytics::Tracker>,
}

/// A worker's view of the intel store: the snapshot it runs with is `ctx.intel`.
struct IntelState {
    store: Arc<Store>,
    /// Generation of the snapshot in use.
    generation: u64,
    /// The sid of each list, as of the last mapping.
    sids: Vec<u32>,
    /// Engine index of each list's signature (`u32::MAX`: the engine has none).
    sigs: Vec<u32>,
}

impl Detector {
    /// Takes the store's newest snapshot if it changed (one atomic load when it did not).
    #[inline]
    fn refresh_intel(&mut self) {
        let Some(st) = &mut self.intel else { return };
        let g = st.store.generation();
        if g == st.generation {
            return;
        }
        let snap = st.store.snapshot();
        st.generation = snap.generation;
        // Most updates change indicators, not lists: the engine is searched for the lists'
        // signatures only when the lists changed (or the engine did: `sids` is cleared).
        if !snap.lists().map(|l| l.sid).eq(st.sids.iter().copied()) {
            st.sids = snap.lists().map(|l| l.sid).collect();
            st.sigs = st
                .sids
                .iter()
                .map(|&sid| self.engine.external_index(sid).unwrap_or(u32::MAX))
                .collect();
        }
        self.ctx.intel = Some(snap);
    }

    /// The engine index of list `list`'s signature.
    #[inline]
    fn intel_sig(&self, list: usize) -> Option<u32> {
        let i = *self.intel.as_ref()?.sigs.get(list)?;
        (i != u32::MAX).then_some(i)
    }
}

/// One worker's state.
pub struct Worker {
    det: Detector,
    flows: FlowTable,
    defrag: Defragmenter,
    /// Rebuilt datagram of the current packet (reused).
    defrag_buf: Vec<u8>,
    eve: EveSender,
    cfg: WorkerConfig,
    checksums: ChecksumSampler,
    /// `tag:host` tags running on this worker.
    host_tags: HostTags,
    /// What detection found on the current packet (buffers reused).
    hits: Hits,
    /// Heap bytes held by this worker's flows, counted against the memcaps.
    mem: MemUse,
    /// Connections control sessions announced (FTP data), waiting for their flow.
    expect: crate::applayer::expect::Expectations,
    /// Frames of alerting flows for the pcap output, when it is on.
    evidence: Option<evidence::Evidence>,
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

/// What the packet path decided for one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Outcome {
    verdict: Verdict,
    /// When an earlier `tag` tagged the packet: its flow id (0 without a flow).
    tagged: Option<u64>,
}

/// Where a packet is in the capture: its time, number and the tunnel it came out of.
#[derive(Clone, Copy)]
struct At<'a> {
    ts: Micros,
    pcap_cnt: u64,
    tunnel: Option<&'a Tunnel>,
}

impl Worker {
    /// A worker with index `id` (distinguishes its flow ids).
    pub fn new(
        id: usize,
        engine: Arc<Engine>,
        thresholds: Arc<Thresholds>,
        eve: EveSender,
        mut cfg: WorkerConfig,
    ) -> Result<Worker, String> {
        let ctx = engine.new_ctx_shared(cfg.xbits.clone())?;
        // The parsers compute the file hashes the rules compare, whatever the config says,
        // and keep files whole for the store when rules may store them.
        cfg.app.files.hashes |= engine.file_hashes();
        cfg.app.files.store_limit = 0;
        if let (Some(s), true) = (&cfg.filestore, engine.stores_files()) {
            cfg.app.files.store_limit = s.max_size;
            cfg.app.files.hashes |= crate::applayer::files::hash::SHA256;
        }
        let stats = WorkerStats {
            per_sig: vec![0; engine.sigs().len()],
            ..WorkerStats::default()
        };
        let intel = cfg.intel.clone().map(|store| {
            // The parsers compute the digests the hash lists compare.
            for l in store.snapshot().lists() {
                cfg.app.files.hashes |= l.kind.file_hash();
            }
            IntelState {
                store,
                generation: 0,
                sids: Vec::new(),
                sigs: Vec::new(),
            }
        });
        let analytics = cfg
            .analytics
            .clone()
            .map(|a| crate::detect::analytics::Tracker::new(a, |sid| engine.external_index(sid)));
        let mut det = Detector {
            engine,
            thresholds,
            ctx,
            intel,
            analytics,
        };
        det.refresh_intel();
        Ok(Worker {
            det,
            flows: FlowTable::new(
                FlowConfig {
                    // Inline, the sensor sees every window update: hold data to the window
                    // exactly. Passive capture misses some, so allow a window's slack.
                    strict_window: cfg.ips,
                    ..cfg.flow.clone()
                },
                id,
            ),
            defrag: Defragmenter::new(cfg.defrag.clone()),
            defrag_buf: Vec::new(),
            expect: Default::default(),
            evidence: cfg
                .pcap
                .clone()
                .map(|(out, lookback)| evidence::Evidence::new(out, lookback)),
            eve,
            checksums: ChecksumSampler::new(cfg.checksums),
            cfg,
            host_tags: HostTags::default(),
            hits: Hits::default(),
            mem: MemUse::default(),
            stats,
        })
    }

    /// Runs one frame through the pipeline and returns the verdict.
    pub fn process(&mut self, link: LinkType, ts: Micros, pcap_cnt: u64, frame: &[u8]) -> Verdict {
        self.stats.packets += 1;
        self.stats.bytes += frame.len() as u64;
        let at = At {
            ts,
            pcap_cnt,
            tunnel: None,
        };
        if let Some(e) = &mut self.evidence {
            e.begin(ts, link.dlt(), frame);
        }
        let verdict = self.process_frame(link, at, frame);
        if let Some(e) = &mut self.evidence {
            e.end();
        }
        self.stats.pcre_limit_hits += crate::detect::inspect::take_pcre_limit_hits();
        verdict
    }

    /// The packet path after decoding, for one packet: flow, stream, app layer, detection,
    /// verdict and alerts.
    fn inspect_packet(&mut self, p: &Packet<'_>, at: At<'_>) -> Outcome {
        self.det.ctx.pktvars.clear();
        self.stats.inspected += 1;
        self.stats.truncated += u64::from(p.truncated);
        let checksum_ok = self.checksums.check(p, &mut self.stats);
        let Worker {
            det,
            flows,
            eve,
            cfg,
            host_tags,
            hits,
            mem,
            expect,
            stats,
            evidence,
            ..
        } = self;
        // A TCP segment with a bad checksum is counted in its flow but does not move the
        // session state (Suricata's stream engine ignores it); it is still inspected.
        let lookup = flows.track(p, at.ts, checksum_ok, &mut |f, why| {
            flow_end::on_flow_end(det, eve, cfg, mem, stats, f, why)
        });
        let (to_server, refused, mut flow) = (lookup.to_server, lookup.refused, lookup.flow);
        let tcp_events = lookup.events;
        if let (Some(e), Some(f)) = (evidence.as_mut(), flow.as_deref_mut()) {
            e.claim(f);
        }
        let alerts_before = stats.alerts;
        if let Some(verdict) = track::decided(flow.as_deref(), stats) {
            return Outcome {
                verdict,
                tagged: None,
            };
        }
        let tagged = track::take_tags(flow.as_deref_mut(), host_tags, p, at.ts);
        let mut facts = track::facts(flow.as_deref(), to_server, refused, at.ts);
        facts.stream_events |= tcp_events;
        hits.clear();
        det.refresh_intel();
        detect::intel_addrs(det, flow.as_deref_mut(), p, at.ts, hits);
        detect::session_analytics(det, flow.as_deref(), at.ts, hits);
        let mut ev = Events::new(eve, cfg, at);
        let dir = usize::from(!to_server);
        let seg = stream::Segment {
            p,
            dir,
            checksum_ok,
            refused,
            events: tcp_events,
        };
        let stream_active = match flow.as_deref_mut() {
            Some(f) => {
                let (scfg, memcap_hits) = (&cfg.flow.stream, &mut stats.stream_memcap);
                let active = stream::reassemble(
                    f,
                    seg,
                    scfg,
                    &mut mem.stream,
                    memcap_hits,
                    &mut facts,
                    &mut ev,
                );
                facts.stream_sizes = stream::sizes(f);
                active
            }
            None => false,
        };
        // Server bytes released to the parser before this packet (raw-start analytics).
        let released_before = flow
            .as_deref()
            .and_then(|f| f.streams.as_deref())
            .map_or(0, |st| st[1].app_off);
        let progressed = match flow.as_deref_mut() {
            Some(f) => app::parse(
                f,
                p,
                dir,
                stream_active,
                cfg,
                &mut mem.app,
                expect,
                &mut stats.app,
                &mut facts,
                &mut ev,
            ),
            None => false,
        };
        let d = &mut *det;
        if let Some(f) = flow.as_deref() {
            detect::raw_start_analytics(d, f, released_before, hits);
        }
        detect::packet(d, flow.as_deref_mut(), p, facts, stream_active, hits);
        if let (true, Some(f)) = (stream_active, flow.as_deref_mut()) {
            detect::stream(d, f, p, facts, dir, cfg, hits, &mut stats.stream_bytes);
        }
        if let Some(f) = flow.as_deref_mut() {
            detect::transactions(d, f, p, facts, dir, progressed, hits);
        }
        let verdict = verdict::decide(
            d,
            cfg,
            stats,
            &mut ev,
            host_tags,
            flow.as_deref_mut(),
            p,
            to_server,
            at.tunnel,
            hits,
        );
        if let Some(e) = evidence {
            e.judged(flow.as_deref(), stats.alerts > alerts_before);
        }
        if let Some(f) = flow {
            ev.transactions_done(f, &d.engine);
        }
        Outcome { verdict, tagged }
    }

    /// A new capture file starts: `auto` checksum validation samples it afresh (each capture
    /// may come from a host with or without checksum offloading).
    pub fn begin_capture(&mut self, capture: u32) {
        self.checksums.restart(capture);
    }

    /// Live capture without packets: ends flows idle past their timeout at wall-clock `now`.
    pub fn tick(&mut self, now: Micros) {
        self.end_flows(Some(now));
    }

    /// Ends flows idle at `now`, or every flow (None), with their end-of-flow work.
    fn end_flows(&mut self, now: Option<Micros>) {
        let Worker {
            det,
            stats,
            mem,
            eve,
            cfg,
            flows,
            ..
        } = self;
        let mut ended =
            |f: &mut Flow, why| flow_end::on_flow_end(det, eve, cfg, mem, stats, f, why);
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
        analytics: Option<Arc<crate::detect::analytics::Specs>>,
    ) -> Result<(), String> {
        let mut ctx = engine.new_ctx_shared(self.cfg.xbits.clone())?;
        ctx.scan_errors = self.det.ctx.scan_errors;
        ctx.backoff_skips = self.det.ctx.backoff_skips;
        self.stats.per_sig = vec![0; engine.sigs().len()];
        // Hashes new rules compare are computed from now on (kept ones stay on), and files
        // are kept whole for the store if the new rules may store them.
        self.cfg.app.files.hashes |= engine.file_hashes();
        if let (Some(s), true) = (&self.cfg.filestore, engine.stores_files()) {
            self.cfg.app.files.store_limit = s.max_size;
            self.cfg.app.files.hashes |= crate::applayer::files::hash::SHA256;
        }
        let intel = self
            .det
            .intel
            .take()
            // A new engine numbers its signatures afresh: map the lists again.
            .map(|s| IntelState {
                generation: 0,
                sids: Vec::new(),
                sigs: Vec::new(),
                ..s
            });
        // Unchanged analytics keep what they track and look their signatures up in the new
        // engine; changed ones start afresh with the new settings.
        let analytics = match (self.det.analytics.take(), analytics) {
            (Some(mut a), Some(specs)) if **a.specs() == *specs => {
                a.map(|sid| engine.external_index(sid));
                Some(a)
            }
            (_, specs) => specs.map(|s| {
                crate::detect::analytics::Tracker::new(s, |sid| engine.external_index(sid))
            }),
        };
        self.cfg.analytics = analytics.as_ref().map(|a| a.specs().clone());
        self.det = Detector {
            engine,
            thresholds,
            ctx,
            intel,
            analytics,
        };
        self.det.refresh_intel();
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
        s.pcap_dropped = self.evidence.as_ref().map_or(0, |e| e.dropped());
        s.scan_errors = self.det.ctx.scan_errors;
        s.backoff_skips = self.det.ctx.backoff_skips;
        s.analytics_untracked = self.det.analytics.as_ref().map_or(0, |a| a.untracked);
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
