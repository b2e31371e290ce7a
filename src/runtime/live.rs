//! Live capture: passive on one or more interfaces (SPAN/mirror ports), or inline between two
//! interfaces (IPS), as a long-running service.
//!
//! Threads: one capture thread per interface dispatches frames by address-pair hash to the
//! workers over lock-free rtrb rings (a full ring is a counted drop: capture never waits);
//! each worker owns its flows and, inline, its own send handles, so a packet it passes leaves
//! by the other interface from the same thread that judged it. The main thread handles
//! signals, the control socket, reloads and periodic `stats` events; EVE is written by the
//! writer thread, which drops (and counts) events rather than stall a worker.
//!
//! Reload builds the new engine (and tuning) beside the running one; workers pick it up
//! between two packets at their next housekeeping tick, so no packet waits or is lost for it.
//! If the new packs fail to load, the old engine stays and the error is logged.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};
use rtrb::{Consumer, Producer, RingBuffer};

use super::worker::{Verdict, Worker, WorkerConfig, WorkerStats};
use super::{backoff, reject, Slot, RING};
use crate::capture::live::{Injector, KernelStats, LiveCapture};
use crate::capture::PacketSource;
use crate::common::time::now_micros;
use crate::decode::dispatch_hash;
use crate::detect::intel::Store;
use crate::detect::threshold::Thresholds;
use crate::detect::Engine;
use crate::output::eve::{render_stats, StatsInput};
use crate::output::metrics::{Board, CaptureCounts, RuleCounts};
use crate::output::{
    Backpressure, EveSender, EveWriter, OutputReport, SinkSpec, SinkView, WriterMode,
};
use crate::tune::Tuner;

/// A detection engine and the tuning compiled against it: they are swapped together.
pub struct Detection {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The tuning, if any.
    pub tuner: Option<Arc<Tuner>>,
    /// Rule counts of the load, for metrics.
    pub rules: RuleCounts,
    /// Incident settings from the tuning's policy (a reload hands them to the output
    /// thread; open incidents carry over).
    pub incidents: Option<crate::incident::Settings>,
    /// The analytics the config turns on (a reload hands them to the workers).
    pub analytics: Option<Arc<crate::detect::analytics::Specs>>,
}

/// Live run settings.
pub struct LiveOptions {
    /// Interfaces: any number for passive capture, exactly two (bridged) inline.
    pub interfaces: Vec<String>,
    /// Inline: forward between the two interfaces, drop what drop/reject rules block.
    pub ips: bool,
    /// BPF filter for capture.
    pub bpf: Option<String>,
    /// Bytes captured per frame.
    pub snaplen: i32,
    /// Worker threads.
    pub workers: usize,
    /// EVE sinks (files are appended to).
    pub sinks: Vec<SinkSpec>,
    /// Per-worker settings.
    pub worker: WorkerConfig,
    /// How often `stats` events are written (None: never).
    pub stats_interval: Option<Duration>,
    /// Unix socket accepting `reload`, `reopen`, `stats`, `shutdown`.
    pub control_socket: Option<PathBuf>,
    /// Workers mode: every worker opens each interface itself and the kernel spreads flows
    /// over them (PACKET_FANOUT, symmetric hash): no capture thread, no hand-over.
    pub fanout: bool,
    /// How the fanout spreads packets (by address pair, or by the kernel's flow hash).
    pub fanout_hash: crate::capture::live::FanoutHash,
    /// Run as this user (and group) once capture is open.
    pub user: Option<String>,
    /// Group for `user` (default: the user's primary group).
    pub group: Option<String>,
    /// Metrics board to keep current, when the endpoint is on.
    pub board: Option<Arc<Board>>,
    /// Group alerts into incidents (on the output thread), when set.
    pub incidents: Option<crate::incident::Settings>,
}

/// What a live run did.
#[derive(Debug, Default)]
pub struct LiveSummary {
    /// Merged worker counters.
    pub stats: WorkerStats,
    /// Kernel counters summed over the capture handles.
    pub kernel: KernelStats,
    /// Frames dropped because a worker ring was full.
    pub ring_drops: u64,
    /// Frames an inline worker could not send on.
    pub forward_errors: u64,
    /// Reloads done and failed.
    pub reloads: (u64, u64),
    /// Per-sink counters.
    pub outputs: OutputReport,
    /// Run time.
    pub elapsed: Duration,
}

#[derive(Clone)]
struct Current {
    engine: Arc<Engine>,
    thresholds: Arc<Thresholds>,
    tuner: Option<Arc<Tuner>>,
    analytics: Option<Arc<crate::detect::analytics::Specs>>,
}

/// State the main thread publishes to workers.
struct Shared {
    /// Bumped on every successful reload; workers compare it at each tick (one atomic load).
    generation: AtomicU64,
    current: RwLock<Current>,
    stop: AtomicBool,
    /// Why capture failed, if it did: the run then ends with this error (so a service
    /// manager restarts it) instead of staying up without capturing.
    failure: std::sync::Mutex<Option<String>>,
}

impl Shared {
    /// Records a capture failure and stops the run.
    fn fail(&self, why: String) {
        tracing::error!("capture stopped: {why}");
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(why);
        self.stop.store(true, Ordering::Relaxed);
    }
}

enum Report {
    Worker(usize, Box<WorkerStats>, u64),
    Capture(usize, KernelStats, u64),
}

/// How often workers do housekeeping (reload check, idle flow timeouts, stats).
const TICK: Duration = Duration::from_millis(100);

/// Tells systemd (Type=notify) about the service state; a no-op outside systemd.
pub fn sd_notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let res = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = res {
        tracing::warn!("sd_notify: {e}");
    }
}

/// Switches to an unprivileged user once capture handles are open.
fn drop_privileges(user: &str, group: Option<&str>) -> Result<(), String> {
    use nix::unistd::{setgid, setgroups, setuid, Group, User};
    let u = User::from_name(user)
        .map_err(|e| format!("user {user}: {e}"))?
        .ok_or_else(|| format!("user {user} does not exist"))?;
    let gid = match group {
        Some(g) => {
            Group::from_name(g)
                .map_err(|e| format!("group {g}: {e}"))?
                .ok_or_else(|| format!("group {g} does not exist"))?
                .gid
        }
        None => u.gid,
    };
    setgroups(&[gid]).map_err(|e| format!("setgroups: {e}"))?;
    setgid(gid).map_err(|e| format!("setgid: {e}"))?;
    setuid(u.uid).map_err(|e| format!("setuid: {e}"))?;
    Ok(())
}

/// A worker's periodic duties: pick up a reloaded engine, end idle flows, report counters.
struct Housekeeping {
    id: usize,
    generation: u64,
    last_tick: Instant,
    last_report: Instant,
    stats_every: Option<Duration>,
}

impl Housekeeping {
    fn new(id: usize, shared: &Shared, stats_every: Option<Duration>) -> Housekeeping {
        Housekeeping {
            id,
            generation: shared.generation.load(Ordering::Acquire),
            last_tick: Instant::now(),
            last_report: Instant::now(),
            stats_every,
        }
    }

    /// Whether a tick is due (one clock read).
    #[inline]
    fn due(&self) -> bool {
        self.last_tick.elapsed() >= TICK
    }

    /// Runs the tick; true when counters were reported this time.
    fn run(
        &mut self,
        w: &mut Worker,
        shared: &Shared,
        reports: &Sender<Report>,
        forward_errors: u64,
    ) -> bool {
        self.last_tick = Instant::now();
        let g = shared.generation.load(Ordering::Acquire);
        if g != self.generation {
            self.generation = g;
            let c = shared
                .current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Err(e) = w.set_detection(c.engine, c.thresholds, c.tuner, c.analytics) {
                tracing::error!(
                    "worker {}: cannot switch to the reloaded engine: {e}",
                    self.id
                );
            }
        }
        w.tick(now_micros());
        if self
            .stats_every
            .is_some_and(|d| self.last_report.elapsed() >= d)
        {
            self.last_report = Instant::now();
            let snap = Box::new(w.snapshot());
            let _ = reports.try_send(Report::Worker(self.id, snap, forward_errors));
            return true;
        }
        false
    }
}

struct WorkerLane {
    rx: Consumer<Slot>,
    back: Producer<Slot>,
}

#[allow(clippy::too_many_arguments)]
fn worker_loop(
    id: usize,
    mut w: Worker,
    mut lanes: Vec<WorkerLane>,
    mut out: Vec<Injector>,
    shared: Arc<Shared>,
    reports: Sender<Report>,
    stats_every: Option<Duration>,
) -> (WorkerStats, u64) {
    let mut hk = Housekeeping::new(id, &shared, stats_every);
    let mut idle = 0u32;
    let mut forward_errors = 0u64;
    let mut reply = Vec::with_capacity(1500);
    loop {
        let mut got = false;
        for (i, lane) in lanes.iter_mut().enumerate() {
            for _ in 0..64 {
                let Ok(slot) = lane.rx.pop() else { break };
                got = true;
                let v = w.process(slot.link, slot.ts, slot.pcap_cnt, &slot.data);
                if !out.is_empty() {
                    match v {
                        // Inline: out of the other interface of the pair.
                        Verdict::Pass => {
                            if out[1 - i].send(&slot.data).is_err() {
                                forward_errors += 1;
                            }
                        }
                        // Back to the source, out of the interface it came in on.
                        Verdict::Reject => {
                            if reject::build(slot.link, &slot.data, &mut reply)
                                && out[i].send(&reply).is_err()
                            {
                                forward_errors += 1;
                            }
                        }
                        Verdict::Drop => {}
                    }
                }
                let _ = lane.back.push(slot);
            }
        }
        if got {
            idle = 0;
        } else {
            if lanes.iter().all(|l| l.rx.is_abandoned() && l.rx.is_empty()) {
                break;
            }
            backoff(&mut idle);
        }
        if hk.due() {
            hk.run(&mut w, &shared, &reports, forward_errors);
        }
    }
    (w.finish(), forward_errors)
}

/// Workers mode: this worker reads its own fanout sockets (one per interface), judges each
/// frame and, inline, sends what passes out of the other interface.
fn worker_loop_fanout(
    id: usize,
    mut w: Worker,
    mut caps: Vec<LiveCapture>,
    ips: bool,
    shared: Arc<Shared>,
    reports: Sender<Report>,
    stats_every: Option<Duration>,
) -> (WorkerStats, u64, KernelStats) {
    let mut hk = Housekeeping::new(id, &shared, stats_every);
    let mut forward_errors = 0u64;
    let mut count = 0u64;
    let mut reply: Vec<u8> = Vec::with_capacity(1500);
    let links: Vec<_> = caps.iter().map(|c| c.link()).collect();
    let kernel = |caps: &mut [LiveCapture]| {
        caps.iter_mut().fold(KernelStats::default(), |mut a, c| {
            a.add(c.kernel_stats());
            a
        })
    };
    while !shared.stop.load(Ordering::Relaxed) {
        let mut got = false;
        for i in 0..caps.len() {
            // Inline, the frame leaves by the other interface straight from libpcap's buffer.
            let (first, second) = caps.split_at_mut(1);
            let (rx, peer) = match i {
                0 => (&mut first[0], second.first_mut()),
                _ => (&mut second[i - 1], Some(&mut first[0])),
            };
            let mut peer = peer.filter(|_| ips);
            for _ in 0..64 {
                let mut reply_ready = false;
                let res = rx.try_frame(&mut |ts, data| {
                    count += 1;
                    match w.process(links[i], ts, count, data) {
                        Verdict::Pass => {
                            if let Some(out) = peer.as_deref_mut() {
                                if out.send(data).is_err() {
                                    forward_errors += 1;
                                }
                            }
                        }
                        Verdict::Reject if ips => {
                            reply_ready = reject::build(links[i], data, &mut reply);
                        }
                        _ => {}
                    }
                });
                match res {
                    Ok(true) => {
                        got = true;
                        // Back to the source, out of the interface it came in on.
                        if reply_ready && rx.send(&reply).is_err() {
                            forward_errors += 1;
                        }
                    }
                    Ok(false) => break,
                    Err(e) => {
                        shared.fail(format!("worker {id}: {e}"));
                        break;
                    }
                }
            }
        }
        if !got {
            LiveCapture::wait_any(&caps, 100);
        }
        if hk.due() && hk.run(&mut w, &shared, &reports, forward_errors) {
            let _ = reports.try_send(Report::Capture(id, kernel(&mut caps), 0));
        }
    }
    let k = kernel(&mut caps);
    (w.finish(), forward_errors, k)
}

fn capture_loop(
    idx: usize,
    mut cap: LiveCapture,
    mut lanes: Vec<(Producer<Slot>, Consumer<Slot>)>,
    shared: Arc<Shared>,
    reports: Sender<Report>,
    stats_every: Option<Duration>,
) -> (KernelStats, u64) {
    let n = lanes.len();
    let link = cap.link();
    let mut ring_drops = 0u64;
    let mut count = 0u64;
    let mut spare: Option<Slot> = None;
    let mut last_report = Instant::now();
    while !shared.stop.load(Ordering::Relaxed) {
        let res = cap.next_frame(&mut |ts, data| {
            count += 1;
            let lane = if n == 1 {
                0
            } else {
                (dispatch_hash(link, data) % n as u64) as usize
            };
            let (tx, recycle) = &mut lanes[lane];
            let mut slot = spare
                .take()
                .or_else(|| recycle.pop().ok())
                .unwrap_or_else(Slot::empty);
            slot.data.clear();
            slot.data.extend_from_slice(data);
            slot.link = link;
            slot.ts = ts;
            slot.pcap_cnt = count;
            slot.file = idx as u32;
            if let Err(rtrb::PushError::Full(s)) = tx.push(slot) {
                // Never wait on a worker: the frame is lost and counted.
                ring_drops += 1;
                spare = Some(s);
            }
        });
        if let Err(e) = res {
            shared.fail(e);
            break;
        }
        if stats_every.is_some_and(|d| last_report.elapsed() >= d) {
            last_report = Instant::now();
            let _ = reports.try_send(Report::Capture(idx, cap.kernel_stats(), ring_drops));
        }
    }
    (cap.kernel_stats(), ring_drops)
}

/// Runs live capture until SIGTERM/SIGINT or a `shutdown` command. `reload` builds a new
/// detection from the current configuration (SIGHUP or the `reload` command).
pub fn run_live(
    first: Detection,
    reload: &mut dyn FnMut() -> Result<Detection, String>,
    opts: &mut LiveOptions,
) -> Result<LiveSummary, String> {
    let started = Instant::now();
    if opts.interfaces.is_empty() {
        return Err("no capture interface given".into());
    }
    if opts.ips && opts.interfaces.len() != 2 {
        return Err(format!(
            "inline mode bridges exactly two interfaces, {} given",
            opts.interfaces.len()
        ));
    }
    let n = opts.workers.max(1);
    // Everything that needs privileges is opened first.
    let mut caps = Vec::new();
    let mut worker_caps: Vec<Vec<LiveCapture>> = Vec::new();
    let mut injectors: Vec<Vec<Injector>> = Vec::new();
    if opts.fanout {
        // Joined in worker order on every interface, so a flow's two directions, arriving on
        // the two interfaces of an inline pair, land on the same worker.
        let base = (std::process::id() as u16).wrapping_mul(8);
        for _ in 0..n {
            let mut v = Vec::new();
            for (i, iface) in opts.interfaces.iter().enumerate() {
                let c = LiveCapture::open(iface, opts.snaplen, opts.bpf.as_deref())?;
                c.join_fanout(base.wrapping_add(i as u16), opts.fanout_hash)?;
                v.push(c);
            }
            worker_caps.push(v);
        }
    } else {
        for iface in &opts.interfaces {
            caps.push(LiveCapture::open(iface, opts.snaplen, opts.bpf.as_deref())?);
        }
        for _ in 0..n {
            let mut v = Vec::new();
            if opts.ips {
                for iface in &opts.interfaces {
                    v.push(Injector::open(iface)?);
                }
            }
            injectors.push(v);
        }
    }
    let mode = WriterMode {
        append: true,
        flush_every: Some(Duration::from_millis(100)),
    };
    let (writer, mut eve) = EveWriter::start_sinks(
        &opts.sinks,
        Backpressure::Drop,
        mode,
        opts.incidents.take().map(crate::incident::Engine::new),
    )
    .map_err(|e| format!("EVE output: {e}"))?;
    if let Some(b) = &opts.board {
        b.set_sinks(writer.sinks());
    }
    // Workers report to the main thread for EVE stats events, and about once a second when
    // the metrics endpoint is on.
    let report_every = match (&opts.board, opts.stats_interval) {
        (Some(_), Some(d)) => Some(d.min(Duration::from_secs(1))),
        (Some(_), None) => Some(Duration::from_secs(1)),
        (None, d) => d,
    };
    let control = match &opts.control_socket {
        Some(p) => {
            let _ = std::fs::remove_file(p);
            let l = UnixListener::bind(p).map_err(|e| format!("{}: {e}", p.display()))?;
            l.set_nonblocking(true)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            Some(l)
        }
        None => None,
    };
    if let Some(u) = &opts.user {
        drop_privileges(u, opts.group.as_deref())?;
        tracing::info!("running as user {u}");
    }
    let hup = Arc::new(AtomicBool::new(false));
    let usr2 = Arc::new(AtomicBool::new(false));
    let term = Arc::new(AtomicBool::new(false));
    for (sig, flag) in [
        (signal_hook::consts::SIGHUP, &hup),
        (signal_hook::consts::SIGUSR2, &usr2),
        (signal_hook::consts::SIGTERM, &term),
        (signal_hook::consts::SIGINT, &term),
    ] {
        signal_hook::flag::register(sig, flag.clone()).map_err(|e| format!("signal: {e}"))?;
    }

    let shared = Arc::new(Shared {
        generation: AtomicU64::new(0),
        current: RwLock::new(Current {
            engine: first.engine.clone(),
            thresholds: Arc::new(Thresholds::default()),
            tuner: first.tuner.clone(),
            analytics: first.analytics.clone(),
        }),
        stop: AtomicBool::new(false),
        failure: Default::default(),
    });
    let (report_tx, report_rx) = bounded::<Report>(1024);
    // Rings: one per (interface, worker).
    let mut worker_lanes: Vec<Vec<WorkerLane>> = (0..n).map(|_| Vec::new()).collect();
    let mut capture_lanes: Vec<Vec<(Producer<Slot>, Consumer<Slot>)>> = Vec::new();
    for _ in &caps {
        let mut lanes = Vec::new();
        for wl in worker_lanes.iter_mut() {
            let (tx, rx) = RingBuffer::<Slot>::new(RING);
            let (back, recycle) = RingBuffer::<Slot>::new(RING);
            wl.push(WorkerLane { rx, back });
            lanes.push((tx, recycle));
        }
        capture_lanes.push(lanes);
    }
    let new_worker = |id: usize| {
        let cur = shared
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let cfg = WorkerConfig {
            tuner: cur.tuner.clone(),
            ips: opts.ips,
            ..opts.worker.clone()
        };
        Worker::new(id, cur.engine, cur.thresholds, eve.clone(), cfg)
    };
    let mut workers = Vec::new();
    let mut fanout_workers = Vec::new();
    for (id, own) in worker_caps.into_iter().enumerate() {
        let w = new_worker(id)?;
        let (sh, rep, every, ips) = (shared.clone(), report_tx.clone(), report_every, opts.ips);
        fanout_workers.push(
            thread::Builder::new()
                .name(format!("worker-{id}"))
                .spawn(move || worker_loop_fanout(id, w, own, ips, sh, rep, every))
                .map_err(|e| format!("cannot start worker thread: {e}"))?,
        );
    }
    for (id, (lanes, out)) in worker_lanes.into_iter().zip(injectors).enumerate() {
        let w = new_worker(id)?;
        let (sh, rep, every) = (shared.clone(), report_tx.clone(), report_every);
        workers.push(
            thread::Builder::new()
                .name(format!("worker-{id}"))
                .spawn(move || worker_loop(id, w, lanes, out, sh, rep, every))
                .map_err(|e| format!("cannot start worker thread: {e}"))?,
        );
    }
    let mut captures = Vec::new();
    for (idx, (cap, lanes)) in caps.into_iter().zip(capture_lanes).enumerate() {
        let (sh, rep, every) = (shared.clone(), report_tx.clone(), report_every);
        captures.push(
            thread::Builder::new()
                .name(format!("capture-{}", cap.name()))
                .spawn(move || capture_loop(idx, cap, lanes, sh, rep, every))
                .map_err(|e| format!("cannot start capture thread: {e}"))?,
        );
    }
    drop(report_tx);
    tracing::info!(
        "capturing on {} ({}, {}), {n} workers",
        opts.interfaces.join(", "),
        if opts.ips { "inline" } else { "passive" },
        if opts.fanout {
            "workers mode: PACKET_FANOUT"
        } else {
            "one capture thread per interface"
        }
    );
    sd_notify("READY=1");

    let mut reloads = (0u64, 0u64);
    let mut latest_workers: Vec<Option<(WorkerStats, u64)>> = vec![None; n];
    let mut latest_caps: Vec<(KernelStats, u64)> =
        vec![Default::default(); opts.interfaces.len().max(n)];
    let mut last_stats = Instant::now();
    let intel = opts.worker.intel.clone();
    let mut last_watch = Instant::now();
    let mut do_reload = |reloads: &mut (u64, u64)| -> Result<String, String> {
        sd_notify("RELOADING=1");
        // What rules added to `state` datasets goes to their files, which the next engine
        // loads.
        let running = shared
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .engine
            .clone();
        log_saves(&running);
        let res = reload();
        sd_notify("READY=1");
        match res {
            Ok(d) => {
                let rules = d.engine.sigs().len();
                writer.set_incidents(d.incidents);
                if let Some(b) = &opts.board {
                    b.set_rules(d.rules);
                    b.set_reloads(reloads.0 + 1, reloads.1, Some(true));
                }
                *shared.current.write().unwrap_or_else(|p| p.into_inner()) = Current {
                    engine: d.engine,
                    thresholds: Arc::new(Thresholds::default()),
                    tuner: d.tuner,
                    analytics: d.analytics,
                };
                shared.generation.fetch_add(1, Ordering::AcqRel);
                reloads.0 += 1;
                tracing::info!("reloaded: {rules} rules");
                Ok(format!("reloaded: {rules} rules"))
            }
            Err(e) => {
                reloads.1 += 1;
                if let Some(b) = &opts.board {
                    b.set_reloads(reloads.0, reloads.1, Some(false));
                }
                tracing::error!("reload failed, the running rules stay: {e}");
                Err(e)
            }
        }
    };
    while !term.load(Ordering::Relaxed) && !shared.stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(50));
        if hup.swap(false, Ordering::AcqRel) {
            let _ = do_reload(&mut reloads);
        }
        if usr2.swap(false, Ordering::AcqRel) {
            writer.reopen();
        }
        let mut fresh = false;
        while let Ok(r) = report_rx.try_recv() {
            fresh = true;
            match r {
                Report::Worker(i, s, fe) => latest_workers[i] = Some((*s, fe)),
                Report::Capture(i, k, d) => latest_caps[i] = (k, d),
            }
        }
        if let (true, Some(b)) = (fresh, &opts.board) {
            b.set_incidents(writer.incident_counts());
            for (i, w) in latest_workers.iter().enumerate() {
                if let Some((s, _)) = w {
                    b.set_worker(i, s.clone());
                }
            }
            b.set_capture(
                latest_caps
                    .iter()
                    .fold(CaptureCounts::default(), |a, (k, d)| CaptureCounts {
                        received: a.received + k.received,
                        kernel_dropped: a.kernel_dropped + k.dropped,
                        if_dropped: a.if_dropped + k.if_dropped,
                        ring_dropped: a.ring_dropped + d,
                    }),
            );
        }
        if let Some(l) = &control {
            while let Ok((stream, _)) = l.accept() {
                let stop = handle_control(stream, &mut |cmd| match cmd {
                    "reload" => do_reload(&mut reloads),
                    "reopen" => {
                        writer.reopen();
                        Ok("EVE file reopened".into())
                    }
                    "stats" => {
                        let s = merged(&latest_workers);
                        let hits: u64 = intel.iter().flat_map(|i| i.stats()).map(|l| l.hits).sum();
                        let inc = writer
                            .incident_counts()
                            .map(|(c, open)| {
                                format!(
                                    " incidents_open {open} incidents {} notifications {}",
                                    c.opened, c.notifications
                                )
                            })
                            .unwrap_or_default();
                        Ok(format!(
                            "packets {} alerts {} dropped {} kernel_drops {} ring_drops {} intel_hits {hits}{inc}",
                            s.packets,
                            s.alerts,
                            s.dropped,
                            latest_caps.iter().map(|c| c.0.dropped).sum::<u64>(),
                            latest_caps.iter().map(|c| c.1).sum::<u64>()
                        ))
                    }
                    "shutdown" => Ok("shutting down".into()),
                    c if c == "reload-intel" || c.starts_with("intel") => {
                        intel_command(intel.as_deref(), c)
                    }
                    other => Err(format!("unknown command '{other}'")),
                });
                if stop {
                    term.store(true, Ordering::Relaxed);
                }
            }
        }
        if let (Some(store), true) = (&intel, last_watch.elapsed() >= INTEL_WATCH) {
            last_watch = Instant::now();
            watch_intel(store);
        }
        if let Some(every) = opts.stats_interval {
            if last_stats.elapsed() >= every {
                last_stats = Instant::now();
                let s = merged(&latest_workers);
                let lists = intel.as_ref().map(|i| i.stats()).unwrap_or_default();
                let inc = writer.incident_counts();
                let extra = Extra {
                    intel: &lists,
                    incidents: inc.as_ref(),
                };
                write_stats(
                    &mut eve,
                    writer.sinks(),
                    started,
                    &latest_caps,
                    reloads,
                    &s,
                    extra,
                );
            }
        }
    }
    sd_notify("STOPPING=1");
    shared.stop.store(true, Ordering::Relaxed);
    let mut summary = LiveSummary {
        reloads,
        ..Default::default()
    };
    for h in captures {
        let (k, d) = h
            .join()
            .map_err(|_| "a capture thread panicked".to_string())?;
        summary.kernel.add(k);
        summary.ring_drops += d;
    }
    for h in workers {
        let (s, fe) = h
            .join()
            .map_err(|_| "a worker thread panicked".to_string())?;
        summary.stats.merge(&s);
        summary.forward_errors += fe;
    }
    for h in fanout_workers {
        let (s, fe, k) = h
            .join()
            .map_err(|_| "a worker thread panicked".to_string())?;
        summary.stats.merge(&s);
        summary.forward_errors += fe;
        summary.kernel.add(k);
    }
    let last = shared
        .current
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .engine
        .clone();
    log_saves(&last);
    let caps: Vec<(KernelStats, u64)> = vec![(summary.kernel, summary.ring_drops)];
    if opts.stats_interval.is_some() {
        write_stats(
            &mut eve,
            writer.sinks(),
            started,
            &caps,
            reloads,
            &summary.stats,
            Extra {
                intel: &intel.as_ref().map(|i| i.stats()).unwrap_or_default(),
                incidents: writer.incident_counts().as_ref(),
            },
        );
    }
    drop(eve);
    summary.outputs = writer.finish().map_err(|e| format!("EVE output: {e}"))?;
    summary.elapsed = started.elapsed();
    if let Some(p) = &opts.control_socket {
        let _ = std::fs::remove_file(p);
    }
    let failure = shared
        .failure
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    match failure {
        // Everything captured until then was inspected and logged.
        Some(why) => Err(format!("capture failed: {why}")),
        None => Ok(summary),
    }
}

/// Writes the engine's `save`/`state` datasets, logging each.
fn log_saves(engine: &Engine) {
    for r in engine.save_datasets() {
        match r {
            Ok(s) => tracing::info!("{s}"),
            Err(e) => tracing::error!("{e}"),
        }
    }
}

/// How often list files are checked for changes and expired indicators freed.
const INTEL_WATCH: Duration = Duration::from_secs(1);

/// Reloads the intel files that changed and frees expired indicators.
fn watch_intel(store: &Store) {
    match store.reload(false) {
        Some(Ok(s)) => tracing::info!("intel: {s}"),
        Some(Err(e)) => tracing::error!("intel: {e}"),
        None => {}
    }
    let now = (now_micros() / 1_000_000).clamp(0, i64::from(u32::MAX)) as u32;
    let n = store.purge(now);
    if n > 0 {
        tracing::info!("intel: {n} expired indicators dropped");
    }
}

/// `reload-intel`, `intel stats`, `intel add NAME VALUE [--expire SECONDS]`,
/// `intel remove NAME VALUE`.
fn intel_command(store: Option<&Store>, cmd: &str) -> Result<String, String> {
    let store = store.ok_or("no [[intel]] lists or [reputation] in the config")?;
    let words: Vec<&str> = cmd.split_whitespace().collect();
    match words.as_slice() {
        ["reload-intel"] => {
            let r = store
                .reload(true)
                .unwrap_or_else(|| Ok("no list files to reload".into()));
            match &r {
                Ok(s) => tracing::info!("intel: {s}"),
                Err(e) => tracing::error!("intel: {e}"),
            }
            r
        }
        ["intel"] | ["intel", "stats"] => Ok(store
            .stats()
            .iter()
            .map(|s| {
                format!(
                    "{}: {} {} indicators ({} runtime), {} hits, {} rejects, {} expired, updated {}",
                    s.name, s.indicators, s.kind, s.runtime_adds, s.hits, s.rejects, s.expired, s.updated
                )
            })
            .collect::<Vec<_>>()
            .join("\n")),
        ["intel", "add", name, value] => store.add(name, value, None),
        ["intel", "add", name, value, "--expire", secs] => {
            let s = secs
                .parse::<u64>()
                .map_err(|_| format!("--expire '{secs}' is not a number of seconds"))?;
            store.add(name, value, Some(s))
        }
        ["intel", "remove", name, value] => store.remove(name, value),
        _ => Err(
            "usage: reload-intel | intel stats | intel add NAME VALUE [--expire SECONDS] | intel remove NAME VALUE"
                .into(),
        ),
    }
}

/// What stats events carry besides the worker and capture counters.
struct Extra<'a> {
    intel: &'a [crate::detect::intel::ListStats],
    incidents: Option<&'a (crate::incident::Counts, usize)>,
}

fn merged(latest: &[Option<(WorkerStats, u64)>]) -> WorkerStats {
    let mut s = WorkerStats::default();
    for (w, _) in latest.iter().flatten() {
        s.merge(w);
    }
    s
}

fn write_stats(
    eve: &mut EveSender,
    sinks: &[SinkView],
    started: Instant,
    caps: &[(KernelStats, u64)],
    reloads: (u64, u64),
    s: &WorkerStats,
    extra: Extra<'_>,
) {
    let input = StatsInput {
        ts: now_micros(),
        uptime: started.elapsed().as_secs(),
        kernel: caps.iter().fold((0, 0, 0), |a, (k, _)| {
            (a.0 + k.received, a.1 + k.dropped, a.2 + k.if_dropped)
        }),
        ring_drops: caps.iter().map(|c| c.1).sum(),
        reloads,
        workers: Some(s),
        sinks,
        intel: extra.intel,
        incidents: extra.incidents,
    };
    let mut line = eve.buffer();
    render_stats(&mut line, &input);
    eve.send(line);
}

/// Reads one command line from a control client and answers `ok: ...` or `error: ...`.
/// Returns true for `shutdown`.
fn handle_control(stream: UnixStream, run: &mut dyn FnMut(&str) -> Result<String, String>) -> bool {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    let Ok(mut w) = stream.try_clone() else {
        return false;
    };
    if BufReader::new(stream).read_line(&mut line).is_err() {
        return false;
    }
    let cmd = line.trim();
    let reply = match run(cmd) {
        Ok(s) => format!("ok: {s}\n"),
        Err(e) => format!("error: {e}\n"),
    };
    let _ = w.write_all(reply.as_bytes());
    cmd == "shutdown"
}

/// Sends one command to a running sensor's control socket and returns its answer.
pub fn control(socket: &std::path::Path, cmd: &str) -> Result<String, String> {
    let mut s = UnixStream::connect(socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    s.write_all(format!("{cmd}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut s, &mut answer).map_err(|e| e.to_string())?;
    Ok(answer.trim_end().to_string())
}
