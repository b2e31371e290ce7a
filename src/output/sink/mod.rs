//! EVE sinks: where finished lines go once they leave the workers.
//!
//! Every sink runs on a thread of its own behind a bounded queue (`buffer` lines). The
//! dispatcher in [`crate::output`] offers each line to the sinks whose event-type filter
//! takes it; a sink that cannot keep up, or whose peer is down, fills its queue and further
//! lines are dropped and counted for that sink alone, so one slow sink never holds up another
//! or the packet path. Network sinks reconnect with a growing pause (100 ms to 5 s) and
//! resend the batch that failed, so a short outage loses nothing beyond what the queue could
//! not hold.

mod file;
mod redis;
mod socket;
mod syslog;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

pub use file::{LineWriter, WriterStats};
pub use redis::{RedisMode, RedisSpec};
pub use syslog::{Facility, SyslogSpec};

/// Lines a sink queues by default before it drops.
pub const DEFAULT_BUFFER: usize = 65_536;
/// Largest `buffer` accepted (lines; each line is one event, typically under 2 KiB).
pub const MAX_BUFFER: usize = 4 << 20;

/// Where one sink writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkTarget {
    /// A regular file (reopened on SIGUSR2 / `reopen`).
    File(std::path::PathBuf),
    /// Standard output.
    Stdout,
    /// A unix stream socket: newline-separated events.
    UnixStream(std::path::PathBuf),
    /// A unix datagram socket: one event per datagram.
    UnixDgram(std::path::PathBuf),
    /// Syslog (RFC 5424).
    Syslog(SyslogSpec),
    /// A Redis list, channel or stream.
    Redis(RedisSpec),
}

impl SinkTarget {
    /// The sink kind as configured (`file`, `redis`...).
    pub fn kind(&self) -> &'static str {
        match self {
            SinkTarget::File(_) => "file",
            SinkTarget::Stdout => "stdout",
            SinkTarget::UnixStream(_) => "unix-stream",
            SinkTarget::UnixDgram(_) => "unix-dgram",
            SinkTarget::Syslog(_) => "syslog",
            SinkTarget::Redis(_) => "redis",
        }
    }

    /// Local sinks (file, stdout) wait in replay instead of dropping: they have no peer
    /// that can go away.
    pub fn is_local(&self) -> bool {
        matches!(self, SinkTarget::File(_) | SinkTarget::Stdout)
    }

    /// Where it writes, for messages and metrics labels.
    pub fn describe(&self) -> String {
        match self {
            SinkTarget::File(p) => p.display().to_string(),
            SinkTarget::Stdout => "standard output".into(),
            SinkTarget::UnixStream(p) | SinkTarget::UnixDgram(p) => p.display().to_string(),
            SinkTarget::Syslog(s) => s.address.clone(),
            SinkTarget::Redis(r) => format!("{} {} {}", r.shown_url(), r.mode.name(), r.key),
        }
    }
}

/// One configured sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkSpec {
    /// Name in messages, stats and metrics (unique per run).
    pub name: String,
    /// Destination.
    pub target: SinkTarget,
    /// Event types written (`alert`, `http`...); empty: all.
    pub types: Vec<String>,
    /// Lines queued before drops.
    pub buffer: usize,
    /// Events per write (one Redis pipeline, one socket write); at least 1.
    pub batch: usize,
}

impl SinkSpec {
    /// A sink for every event type with the default queue.
    pub fn new(name: impl Into<String>, target: SinkTarget) -> SinkSpec {
        SinkSpec {
            name: name.into(),
            target,
            types: Vec::new(),
            buffer: DEFAULT_BUFFER,
            batch: 256,
        }
    }

    /// Whether events of this type go to the sink.
    #[inline]
    pub fn wants(&self, event_type: &[u8]) -> bool {
        self.types.is_empty() || self.types.iter().any(|t| t.as_bytes() == event_type)
    }
}

/// Live counters of one sink, shared with the metrics endpoint.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Events written.
    pub written: AtomicU64,
    /// Bytes written (events as sent, framing excluded).
    pub bytes: AtomicU64,
    /// Events dropped because the sink's queue was full (slow or absent peer).
    pub dropped: AtomicU64,
    /// Events lost after they were taken from the queue: write errors of a file, events
    /// the peer refused (too large for a datagram, a Redis error reply).
    pub lost: AtomicU64,
    /// Failed writes or connection attempts.
    pub failures: AtomicU64,
    /// Connections made after the first (the peer came back).
    pub reconnects: AtomicU64,
    /// Whether the sink is writing now.
    pub connected: AtomicBool,
    /// Events waiting in the queue at the last write.
    pub queued: AtomicU64,
}

/// A sink's counters at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkReport {
    /// Sink name.
    pub name: String,
    /// Kind (`file`, `redis`...).
    pub kind: &'static str,
    /// Destination.
    pub target: String,
    /// Events written.
    pub written: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Events dropped at a full queue.
    pub dropped: u64,
    /// Events lost to write errors.
    pub lost: u64,
    /// Failed writes or connection attempts.
    pub failures: u64,
    /// Reconnections.
    pub reconnects: u64,
    /// The first error, if any.
    pub error: Option<String>,
}

/// Why a write did not go through.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The connection is gone: reconnect, then send the same batch again.
    Retry(String),
    /// The peer refused `events` of the batch (the rest went through): count them lost.
    Lost {
        /// Events refused.
        events: usize,
        /// Why.
        why: String,
    },
}

impl From<io::Error> for SendError {
    fn from(e: io::Error) -> SendError {
        SendError::Retry(e.to_string())
    }
}

/// A sink's way to its destination; driven by [`run`] on the sink's thread.
pub(crate) trait Transport: Send {
    /// Opens (or reopens) the connection.
    fn connect(&mut self) -> Result<(), String>;
    /// Writes a batch of lines (each ends with `\n`).
    fn send(&mut self, lines: &[Vec<u8>]) -> Result<(), SendError>;
    /// Called at least every [`TICK`] while the sink runs (flush on a timer).
    fn tick(&mut self) {}
    /// Reopens a file after rotation.
    fn reopen(&mut self) {}
    /// Flushes before the run ends.
    fn finish(&mut self) {}
    /// Counters the transport keeps itself (a file's write errors): (written, bytes, lost).
    fn own_counts(&self) -> Option<(u64, u64, u64, Option<String>)> {
        None
    }
}

/// How often an idle sink wakes to flush or retry.
pub(crate) const TICK: Duration = Duration::from_millis(50);
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long a sink whose peer is down keeps trying once the run ends.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running sink: the dispatcher's end of its queue.
pub(crate) struct Running {
    pub spec: SinkSpec,
    pub tx: Sender<Vec<u8>>,
    pub recycle: Receiver<Vec<u8>>,
    pub counters: Arc<SinkCounters>,
    pub reopen: Arc<AtomicBool>,
    /// Set when no more lines will come (the sink drains its queue and ends).
    pub closing: Arc<AtomicBool>,
    pub handle: JoinHandle<Option<String>>,
}

/// Opens a sink (files are created here, so a bad path fails the start) and starts its thread.
pub(crate) fn start(spec: &SinkSpec, mode: crate::output::WriterMode) -> io::Result<Running> {
    let transport: Box<dyn Transport> = match &spec.target {
        SinkTarget::File(_) | SinkTarget::Stdout => {
            Box::new(file::FileSink::open(&spec.target, mode)?)
        }
        SinkTarget::UnixStream(p) => Box::new(socket::UnixStreamSink::new(p.clone())),
        SinkTarget::UnixDgram(p) => Box::new(socket::UnixDgramSink::new(p.clone())),
        SinkTarget::Syslog(s) => Box::new(syslog::SyslogSink::new(s.clone())?),
        SinkTarget::Redis(r) => Box::new(redis::RedisSink::new(r)?),
    };
    let (tx, rx) = bounded::<Vec<u8>>(spec.buffer.max(1));
    // Spare buffers beyond what the queue holds are freed, not kept.
    let (recycle_tx, recycle) = bounded::<Vec<u8>>(spec.buffer.clamp(1, 4096));
    let counters = Arc::new(SinkCounters::default());
    let reopen = Arc::new(AtomicBool::new(false));
    let closing = Arc::new(AtomicBool::new(false));
    let (c, flags, name, batch) = (
        counters.clone(),
        [reopen.clone(), closing.clone()],
        spec.name.clone(),
        spec.batch.max(1),
    );
    let handle = std::thread::Builder::new()
        .name(format!("sink-{}", spec.name))
        .spawn(move || run(transport, &name, batch, rx, recycle_tx, &c, &flags))?;
    Ok(Running {
        spec: spec.clone(),
        tx,
        recycle,
        counters,
        reopen,
        closing,
        handle,
    })
}

/// The sink thread: take up to `batch` lines, write them, reconnect on failure.
fn run(
    mut t: Box<dyn Transport>,
    name: &str,
    batch_max: usize,
    rx: Receiver<Vec<u8>>,
    recycle: Sender<Vec<u8>>,
    c: &SinkCounters,
    [reopen, closing]: &[Arc<AtomicBool>; 2],
) -> Option<String> {
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(batch_max);
    let mut connected = false;
    let mut ever_connected = false;
    let mut pause = RETRY_MIN;
    let mut retry_at = Instant::now();
    let mut closed = false;
    let mut closed_at: Option<Instant> = None;
    let mut first_error: Option<String> = None;
    let mut failing = false;
    loop {
        if reopen.swap(false, Ordering::AcqRel) {
            t.reopen();
        }
        // Seen even while a full batch waits for a peer that is down.
        closed |= closing.load(Ordering::Acquire);
        if batch.is_empty() && !closed {
            match rx.recv_timeout(TICK) {
                Ok(l) => batch.push(l),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => closed = true,
            }
        }
        while batch.len() < batch_max {
            match rx.try_recv() {
                Ok(l) => batch.push(l),
                Err(_) => break,
            }
        }
        if closed && batch.is_empty() && rx.is_empty() {
            break;
        }
        if !connected && Instant::now() >= retry_at {
            match t.connect() {
                Ok(()) => {
                    connected = true;
                    c.connected.store(true, Ordering::Relaxed);
                    if ever_connected || failing {
                        c.reconnects
                            .fetch_add(u64::from(ever_connected), Ordering::Relaxed);
                        tracing::info!("EVE sink {name}: connected again");
                    }
                    ever_connected = true;
                    failing = false;
                    pause = RETRY_MIN;
                }
                Err(e) => {
                    c.failures.fetch_add(1, Ordering::Relaxed);
                    if !failing {
                        tracing::warn!(
                            "EVE sink {name}: {e}; retrying, events queue up to the sink's buffer and are then dropped (counted)"
                        );
                        first_error.get_or_insert(e);
                        failing = true;
                    }
                    retry_at = Instant::now() + pause;
                    pause = (pause * 2).min(RETRY_MAX);
                }
            }
        }
        if connected && !batch.is_empty() {
            match t.send(&batch) {
                Ok(()) => {
                    let bytes: usize = batch.iter().map(Vec::len).sum();
                    c.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    c.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                    recycle_all(&mut batch, &recycle);
                }
                Err(SendError::Lost { events, why }) => {
                    let events = events.min(batch.len());
                    c.lost.fetch_add(events as u64, Ordering::Relaxed);
                    c.written
                        .fetch_add((batch.len() - events) as u64, Ordering::Relaxed);
                    c.failures.fetch_add(1, Ordering::Relaxed);
                    if first_error.is_none() {
                        tracing::warn!("EVE sink {name}: {events} events refused: {why}");
                        first_error = Some(why);
                    }
                    recycle_all(&mut batch, &recycle);
                }
                Err(SendError::Retry(e)) => {
                    connected = false;
                    c.connected.store(false, Ordering::Relaxed);
                    c.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("EVE sink {name}: {e}; reconnecting");
                    first_error.get_or_insert(e);
                    failing = true;
                    retry_at = Instant::now() + pause;
                    pause = (pause * 2).min(RETRY_MAX);
                }
            }
            c.queued.store(rx.len() as u64, Ordering::Relaxed);
        }
        t.tick();
        sync_own_counts(t.as_ref(), c, &mut first_error);
        if !connected {
            if closed {
                // The run is over and the peer is down: give it a moment, then count the rest.
                let since = *closed_at.get_or_insert_with(Instant::now);
                if since.elapsed() >= SHUTDOWN_GRACE {
                    let rest = batch.len() + rx.len();
                    if rest > 0 {
                        tracing::warn!(
                            "EVE sink {name}: still unreachable at shutdown, {rest} events dropped"
                        );
                    }
                    c.dropped.fetch_add(rest as u64, Ordering::Relaxed);
                    break;
                }
            }
            if !batch.is_empty() || closed {
                // Nothing to do until the next attempt (the queue keeps filling meanwhile).
                let wait = retry_at.saturating_duration_since(Instant::now()).min(TICK);
                std::thread::sleep(wait.max(Duration::from_millis(1)));
            }
        }
    }
    t.finish();
    sync_own_counts(t.as_ref(), c, &mut first_error);
    c.connected.store(false, Ordering::Relaxed);
    c.queued.store(0, Ordering::Relaxed);
    first_error
}

/// Copies the counts a transport keeps itself (a file's) into the shared counters.
fn sync_own_counts(t: &dyn Transport, c: &SinkCounters, first_error: &mut Option<String>) {
    if let Some((w, b, l, e)) = t.own_counts() {
        c.written.store(w, Ordering::Relaxed);
        c.bytes.store(b, Ordering::Relaxed);
        c.lost.store(l, Ordering::Relaxed);
        if first_error.is_none() {
            *first_error = e;
        }
    }
}

fn recycle_all(batch: &mut Vec<Vec<u8>>, recycle: &Sender<Vec<u8>>) {
    for mut l in batch.drain(..) {
        l.clear();
        let _ = recycle.try_send(l);
    }
}

pub use crate::common::json::event_type;

/// The line without its trailing newline.
#[inline]
pub(crate) fn body(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_read_from_the_line() {
        let l =
            br#"{"timestamp":"x","flow_id":1,"event_type":"alert","alert":{"event_type":"no"}}"#;
        assert_eq!(event_type(l), b"alert");
        assert_eq!(event_type(b"{}"), b"");
        assert_eq!(event_type(br#"{"event_type":"cut"#), b"");
        let mut s = SinkSpec::new("x", SinkTarget::Stdout);
        assert!(s.wants(b"dns"));
        s.types = vec!["alert".into(), "anomaly".into()];
        assert!(s.wants(b"alert") && s.wants(b"anomaly"));
        assert!(!s.wants(b"dns") && !s.wants(b""));
    }
}
