//! Running the pipeline: one capture thread hands frames to per-core workers over lock-free
//! single-producer/single-consumer rings (rtrb), dispatching by address-pair hash so each flow
//! stays on one worker. Frame buffers travel back on a second ring and are reused, so steady
//! state allocates nothing per packet. EVE goes to a writer thread off the packet path.

pub mod live;
pub mod reject;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer, RingBuffer};

use crate::capture::{expand_inputs, PacketSource, PcapFile};
use crate::common::time::Micros;
use crate::decode::{dispatch_hash, LinkType};
use crate::detect::threshold::Thresholds;
use crate::detect::Engine;
use crate::output::metrics::Board;
use crate::output::{Backpressure, EveWriter, OutputReport, SinkSpec, WriterMode};
use worker::{Worker, WorkerConfig, WorkerStats};

/// Most worker threads: far above any core count this runs on, and low enough that per-worker
/// tables and rings cannot exhaust memory by a typo.
pub const MAX_WORKERS: usize = 256;

/// Checks a worker count (command line or config).
pub fn check_workers(n: usize) -> Result<usize, String> {
    match n {
        0 => Err("must be at least 1".into()),
        n if n > MAX_WORKERS => Err(format!("{n} is more than the {MAX_WORKERS} allowed")),
        n => Ok(n),
    }
}

/// The default worker count: one per core, within [`MAX_WORKERS`].
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WORKERS))
}

/// Frames in flight per worker ring.
const RING: usize = 1024;

/// A frame on its way to a worker; the buffer is recycled.
struct Slot {
    data: Vec<u8>,
    link: LinkType,
    ts: Micros,
    pcap_cnt: u64,
    /// Index of the capture file the frame came from.
    file: u32,
}

impl Slot {
    fn empty() -> Slot {
        Slot {
            data: Vec::with_capacity(2048),
            link: LinkType::Ethernet,
            ts: 0,
            pcap_cnt: 0,
            file: 0,
        }
    }
}

/// A replay progress callback: (files done, files in all, packets so far).
pub type Progress = Box<dyn Fn(usize, usize, u64) + Send + Sync>;

/// Replay settings.
pub struct ReplayOptions {
    /// Capture files or directories.
    pub inputs: Vec<PathBuf>,
    /// EVE sinks (the EVE file first, when there is one).
    pub sinks: Vec<SinkSpec>,
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Per-worker settings.
    pub worker: WorkerConfig,
    /// Metrics board to keep current, when the endpoint is on.
    pub board: Option<Arc<Board>>,
    /// Called between capture files and every 65,536 packets.
    pub progress: Option<Progress>,
    /// Group alerts into incidents (on the output thread), when set.
    pub incidents: Option<crate::incident::Settings>,
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct ReplaySummary {
    /// Capture files read.
    pub files: usize,
    /// Files that could not be opened (reported as errors).
    pub files_failed: Vec<String>,
    /// Files that ended early (truncated/corrupt); packets before the fault were processed.
    pub files_truncated: Vec<String>,
    /// Merged worker counters.
    pub stats: WorkerStats,
    /// Per-sink counters.
    pub outputs: OutputReport,
    /// Wall time from first packet read to last event written.
    pub elapsed: Duration,
}

struct Lane {
    tx: Producer<Slot>,
    recycle: Consumer<Slot>,
}

/// How often a replay worker hands its counters to the metrics board.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

fn run_worker(
    mut w: Worker,
    mut rx: Consumer<Slot>,
    mut back: Producer<Slot>,
    board: Option<(usize, Arc<Board>)>,
) -> WorkerStats {
    let mut idle = 0u32;
    let mut file = u32::MAX;
    let mut count = 0u32;
    let mut published = Instant::now();
    loop {
        if let Some((id, b)) = &board {
            // One clock read per 256 packets, or on every idle turn.
            count = count.wrapping_add(1);
            if (count % 256 == 0 || idle > 0) && published.elapsed() >= PUBLISH_EVERY {
                published = Instant::now();
                b.set_worker(*id, w.snapshot());
            }
        }
        match rx.pop() {
            Ok(slot) => {
                idle = 0;
                if slot.file != file {
                    file = slot.file;
                    w.begin_capture(file);
                }
                w.process(slot.link, slot.ts, slot.pcap_cnt, &slot.data);
                // If the reader is not taking buffers back fast enough, this one is freed.
                let _ = back.push(slot);
            }
            Err(_) if rx.is_abandoned() => {
                if rx.is_empty() {
                    break;
                }
            }
            Err(_) => backoff(&mut idle),
        }
    }
    let s = w.finish();
    if let Some((id, b)) = &board {
        b.set_worker(*id, s.clone());
    }
    s
}

/// Waiting without a lock: spin a few times, yield a few times, then sleep in growing steps
/// (up to 200 µs, well within what a ring of 1,024 frames buffers). Spinning long costs more
/// than it saves when capture and workers share few cores.
fn backoff(idle: &mut u32) {
    *idle = idle.saturating_add(1);
    if *idle < 8 {
        std::hint::spin_loop();
    } else if *idle < 16 {
        thread::yield_now();
    } else {
        let us = (u64::from(*idle - 15) * 10).min(200);
        thread::sleep(Duration::from_micros(us));
    }
}

/// Replays capture files through the pipeline.
pub fn replay(engine: Arc<Engine>, opts: &mut ReplayOptions) -> Result<ReplaySummary, String> {
    let inputs = expand_inputs(&opts.inputs);
    for e in &inputs.failed {
        tracing::error!("{e}");
    }
    if inputs.files.is_empty() {
        let why = inputs
            .failed
            .first()
            .map_or(String::new(), |e| format!(" ({e})"));
        return Err(format!("no capture files found in the given inputs{why}"));
    }
    let files = inputs.files;
    let started = Instant::now();
    let (writer, sender) = EveWriter::start_sinks(
        &opts.sinks,
        Backpressure::Block,
        WriterMode::default(),
        opts.incidents.take().map(crate::incident::Engine::new),
    )
    .map_err(|e| format!("EVE output: {e}"))?;
    if let Some(b) = &opts.board {
        b.set_sinks(writer.sinks());
        b.set_files(0, files.len() as u64);
    }
    let n = opts.workers.max(1);
    let thresholds = Arc::new(Thresholds::default());
    let mut lanes = Vec::with_capacity(n);
    let mut handles = Vec::with_capacity(n);
    for id in 0..n {
        let (tx, rx) = RingBuffer::<Slot>::new(RING);
        let (back_tx, back_rx) = RingBuffer::<Slot>::new(RING);
        let w = Worker::new(
            id,
            engine.clone(),
            thresholds.clone(),
            sender.clone(),
            opts.worker.clone(),
        )?;
        let board = opts.board.clone().map(|b| (id, b));
        let h = thread::Builder::new()
            .name(format!("worker-{id}"))
            .spawn(move || run_worker(w, rx, back_tx, board))
            .map_err(|e| format!("cannot start worker thread: {e}"))?;
        lanes.push(Lane {
            tx,
            recycle: back_rx,
        });
        handles.push(h);
    }
    drop(sender);

    let mut summary = ReplaySummary {
        files_failed: inputs.failed,
        ..ReplaySummary::default()
    };
    let mut pcap_cnt = 0u64;
    let total = files.len();
    let report = |done: usize, packets: u64| {
        if let Some(p) = &opts.progress {
            p(done, total, packets);
        }
        if let Some(b) = &opts.board {
            b.set_files(done as u64, total as u64);
        }
    };
    for (done, path) in files.iter().enumerate() {
        report(done, pcap_cnt);
        let mut src = match PcapFile::open(path) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{e}");
                summary.files_failed.push(e);
                continue;
            }
        };
        summary.files += 1;
        let file = summary.files as u32;
        let link = src.link();
        loop {
            let mut sent = true;
            let res = src.next_frame(&mut |ts, data| {
                pcap_cnt += 1;
                if pcap_cnt % 65_536 == 0 {
                    report(done, pcap_cnt);
                }
                let lane_idx = if n == 1 {
                    0
                } else {
                    (dispatch_hash(link, data) % n as u64) as usize
                };
                let lane = &mut lanes[lane_idx];
                let mut slot = lane.recycle.pop().unwrap_or_else(|_| Slot {
                    data: Vec::with_capacity(2048),
                    link,
                    ts,
                    pcap_cnt,
                    file,
                });
                slot.data.clear();
                slot.data.extend_from_slice(data);
                slot.link = link;
                slot.ts = ts;
                slot.pcap_cnt = pcap_cnt;
                slot.file = file;
                // Offline replay must not lose packets: wait for room.
                let mut idle = 0;
                let mut pending = slot;
                loop {
                    match lane.tx.push(pending) {
                        Ok(()) => break,
                        Err(rtrb::PushError::Full(s)) => {
                            if lane.tx.is_abandoned() {
                                sent = false;
                                break;
                            }
                            pending = s;
                            backoff(&mut idle);
                        }
                    }
                }
            });
            match res {
                Ok(true) if sent => {}
                Ok(true) => return Err("a worker stopped unexpectedly".into()),
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!("capture file ends early: {e}");
                    summary.files_truncated.push(e);
                    break;
                }
            }
        }
    }
    report(total, pcap_cnt);
    drop(lanes);
    for h in handles {
        let stats = h
            .join()
            .map_err(|_| "a worker thread panicked".to_string())?;
        summary.stats.merge(&stats);
    }
    summary.outputs = writer.finish().map_err(|e| format!("EVE output: {e}"))?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}
