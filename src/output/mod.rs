//! Output: EVE rendering ([`eve`]), the sinks events go to ([`sink`]: files, sockets, syslog,
//! Redis) and the output thread that keeps all of it off the packet path.
//!
//! Workers send finished lines over a bounded crossbeam channel; the output thread returns the
//! emptied buffers on a second channel so that steady-state alerting allocates nothing, and
//! offers a copy of each line to every sink that wants its event type. In replay the sender
//! waits when the channel is full (no event is lost); live capture uses [`Backpressure::Drop`],
//! so a slow disk costs counted events, never captured packets.

pub mod community_id;
pub mod eve;
pub mod filestore;
pub mod metrics;
pub mod pcaplog;
pub mod sink;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, SendTimeoutError, Sender, TrySendError};

pub use sink::{SinkCounters, SinkReport, SinkSpec, SinkTarget, WriterStats};

/// Where EVE lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EveTarget {
    /// A file, created or truncated.
    File(PathBuf),
    /// Standard output (`--eve -`).
    Stdout,
}

/// What a worker does when the writer cannot keep up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backpressure {
    /// Wait (offline replay: nothing may be lost).
    Block,
    /// Drop the event and count it (live capture: packets come first).
    Drop,
}

/// Lines queued between workers and the writer.
const QUEUE: usize = 4096;

/// A worker's handle for sending EVE lines.
#[derive(Clone)]
pub struct EveSender {
    tx: Sender<Vec<u8>>,
    recycle: Receiver<Vec<u8>>,
    policy: Backpressure,
    /// Events dropped by this sender because the queue was full.
    pub dropped: u64,
}

impl EveSender {
    /// A buffer to render the next line into (recycled when one is available).
    #[inline]
    pub fn buffer(&self) -> Vec<u8> {
        self.recycle
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(1024))
    }

    /// Queues a finished line.
    #[inline]
    pub fn send(&mut self, line: Vec<u8>) {
        match self.policy {
            Backpressure::Block => {
                // The writer only goes away after every sender is dropped, or on an I/O error
                // that it reports itself.
                let _ = self.tx.send(line);
            }
            Backpressure::Drop => match self.tx.try_send(line) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.dropped += 1
                }
            },
        }
    }
}

/// How file sinks treat their file.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriterMode {
    /// Append to an existing file instead of truncating it (a service restarting).
    pub append: bool,
    /// Flush at least this often while lines arrive slowly (live capture), so alerts reach
    /// the file within this delay; None flushes only when the buffer fills (replay).
    pub flush_every: Option<Duration>,
}

/// The output thread: takes every line from the workers and offers a copy to each sink
/// whose filter wants its event type (see [`sink`]).
pub struct EveWriter {
    /// Returns each sink's first error, in configuration order, and the incident counts.
    handle: JoinHandle<(Vec<Option<String>>, Option<crate::incident::Counts>)>,
    sinks: Vec<SinkView>,
    /// New incident settings for the output thread (a reload); None turns incidents off.
    incident_ctl: crossbeam_channel::Sender<Option<crate::incident::Settings>>,
    /// The incident engine's counts and open incidents, as of the last line or tick.
    incident_now: Arc<std::sync::Mutex<Option<(crate::incident::Counts, usize)>>>,
}

/// A running sink as the rest of the sensor sees it (summary, metrics).
#[derive(Clone, Debug)]
pub struct SinkView {
    /// Configured name.
    pub name: String,
    /// Kind.
    pub kind: &'static str,
    /// Destination.
    pub target: String,
    /// Live counters.
    pub counters: Arc<SinkCounters>,
    reopen: Arc<AtomicBool>,
}

/// What the outputs did: one report per sink, in configuration order.
#[derive(Clone, Debug, Default)]
pub struct OutputReport {
    /// Per sink.
    pub sinks: Vec<SinkReport>,
    /// What the incident engine did, when it ran.
    pub incidents: Option<crate::incident::Counts>,
}

impl OutputReport {
    /// Events written by the first sink (the EVE file in the common case).
    pub fn lines(&self) -> u64 {
        self.sinks.first().map_or(0, |s| s.written)
    }

    /// The first local (file or stdout) sink that lost events to write errors: such a run
    /// has failed, whatever else went well.
    pub fn local_failure(&self) -> Option<&SinkReport> {
        self.sinks
            .iter()
            .find(|s| matches!(s.kind, "file" | "stdout") && s.error.is_some())
    }
}

/// Offers one line to a sink. In replay, local sinks wait for room, and so do network sinks
/// while their peer is up (an offline run loses nothing to a slow but live server); otherwise
/// a full queue drops the line and counts it, at once.
fn offer(r: &sink::Running, line: &[u8], policy: Backpressure) {
    let mut buf = r.recycle.try_recv().unwrap_or_default();
    buf.extend_from_slice(line);
    let c = &r.counters;
    if policy == Backpressure::Block {
        if r.spec.target.is_local() {
            let _ = r.tx.send(buf);
            return;
        }
        while c.connected.load(Ordering::Relaxed) {
            match r.tx.send_timeout(buf, Duration::from_millis(20)) {
                Ok(()) => return,
                Err(SendTimeoutError::Timeout(b)) => buf = b,
                Err(SendTimeoutError::Disconnected(_)) => {
                    c.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
    if r.tx.try_send(buf).is_err() {
        c.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

impl EveWriter {
    /// One sink for every event (the EVE file or stdout), truncating a file.
    pub fn start(target: &EveTarget, policy: Backpressure) -> io::Result<(EveWriter, EveSender)> {
        Self::start_with(target, policy, WriterMode::default())
    }

    /// One sink for every event (the EVE file or stdout).
    pub fn start_with(
        target: &EveTarget,
        policy: Backpressure,
        mode: WriterMode,
    ) -> io::Result<(EveWriter, EveSender)> {
        let t = match target {
            EveTarget::File(p) => SinkTarget::File(p.clone()),
            EveTarget::Stdout => SinkTarget::Stdout,
        };
        Self::start_sinks(&[SinkSpec::new("eve", t)], policy, mode, None)
    }

    /// Opens every sink (files are created now: a bad path fails here) and starts the threads.
    /// With an incident engine, every alert line is grouped before it is offered (its incident
    /// id added to the `sekimori` object) and incident events follow it.
    pub fn start_sinks(
        specs: &[SinkSpec],
        policy: Backpressure,
        mode: WriterMode,
        incidents: Option<crate::incident::Engine>,
    ) -> io::Result<(EveWriter, EveSender)> {
        let mut running = Vec::with_capacity(specs.len());
        for spec in specs {
            let r = sink::start(spec, mode).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("sink {} ({}): {e}", spec.name, spec.target.kind()),
                )
            })?;
            running.push(r);
        }
        let sinks = running
            .iter()
            .map(|r| SinkView {
                name: r.spec.name.clone(),
                kind: r.spec.target.kind(),
                target: r.spec.target.describe(),
                counters: r.counters.clone(),
                reopen: r.reopen.clone(),
            })
            .collect();
        let (tx, rx) = bounded::<Vec<u8>>(QUEUE);
        let (recycle_tx, recycle_rx) = bounded::<Vec<u8>>(QUEUE);
        let (incident_ctl, ctl_rx) = bounded::<Option<crate::incident::Settings>>(4);
        let incident_now = Arc::new(std::sync::Mutex::new(
            incidents.as_ref().map(|e| (e.counts.clone(), 0)),
        ));
        let now_shared = incident_now.clone();
        let handle = std::thread::Builder::new()
            .name("eve-out".into())
            .spawn(move || {
                let mut engine = incidents;
                let mut published = std::time::Instant::now();
                // Live, quiet periods still close incidents: the wall clock ticks them (and a
                // reload may start the engine later).
                let tick = (policy == Backpressure::Drop).then_some(Duration::from_secs(1));
                let mut events: Vec<Vec<u8>> = Vec::new();
                let mut last_tick = std::time::Instant::now();
                let dispatch = |line: &[u8]| {
                    let et = sink::event_type(line);
                    for r in &running {
                        if r.spec.wants(et) {
                            offer(r, line, policy);
                        }
                    }
                };
                loop {
                    let got = match tick {
                        Some(t) => match rx.recv_timeout(t) {
                            Ok(l) => Some(l),
                            Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                        },
                        None => match rx.recv() {
                            Ok(l) => Some(l),
                            Err(_) => break,
                        },
                    };
                    // A reload's incident settings: the open incidents carry over.
                    while let Ok(set) = ctl_rx.try_recv() {
                        match (engine.as_mut(), set) {
                            (Some(e), Some(s)) => e.reconfigure(s, &mut events),
                            (None, Some(s)) => engine = Some(crate::incident::Engine::new(s)),
                            (Some(e), None) => {
                                e.finish(&mut events);
                                engine = None;
                            }
                            (None, None) => {}
                        }
                    }
                    if let (Some(e), Some(t)) = (engine.as_mut(), tick) {
                        if last_tick.elapsed() >= t {
                            last_tick = std::time::Instant::now();
                            e.tick(crate::common::time::now_micros(), &mut events);
                        }
                    }
                    if let Some(mut line) = got {
                        if let Some(e) = engine.as_mut() {
                            e.on_line(&mut line, &mut events);
                        }
                        dispatch(&line);
                        line.clear();
                        let _ = recycle_tx.try_send(line);
                    }
                    for ev in events.drain(..) {
                        dispatch(&ev);
                    }
                    if published.elapsed() >= Duration::from_millis(250) {
                        published = std::time::Instant::now();
                        *now_shared.lock().unwrap_or_else(|p| p.into_inner()) =
                            engine.as_ref().map(|e| (e.counts.clone(), e.open_now()));
                    }
                }
                if let Some(e) = engine.as_mut() {
                    e.finish(&mut events);
                    for ev in events.drain(..) {
                        dispatch(&ev);
                    }
                }
                // Every worker is done: the sinks drain their queues and finish.
                let handles: Vec<_> = running
                    .into_iter()
                    .map(|r| {
                        r.closing.store(true, Ordering::Release);
                        drop(r.tx);
                        r.handle
                    })
                    .collect();
                let errors = handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Some("sink thread panicked".into()))
                    })
                    .collect::<Vec<_>>();
                (errors, engine.map(|e| e.counts))
            })?;
        Ok((
            EveWriter {
                handle,
                sinks,
                incident_ctl,
                incident_now,
            },
            EveSender {
                tx,
                recycle: recycle_rx,
                policy,
                dropped: 0,
            },
        ))
    }

    /// Asks the file sinks to reopen their files (after logrotate renamed them).
    pub fn reopen(&self) {
        for s in &self.sinks {
            s.reopen.store(true, Ordering::Release);
        }
    }

    /// The running sinks, for live counters.
    pub fn sinks(&self) -> &[SinkView] {
        &self.sinks
    }

    /// Hands the output thread new incident settings (a reload): open incidents carry over;
    /// None closes them and turns incidents off. Applied before the next line.
    pub fn set_incidents(&self, set: Option<crate::incident::Settings>) {
        let _ = self.incident_ctl.send(set);
    }

    /// The incident engine's counts and open incidents, as of at most 250 ms ago (None
    /// when incidents are off).
    pub fn incident_counts(&self) -> Option<(crate::incident::Counts, usize)> {
        self.incident_now
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits for the sinks to drain (after every sender is dropped) and returns their counts.
    pub fn finish(self) -> io::Result<OutputReport> {
        let (errors, incidents) = self
            .handle
            .join()
            .map_err(|_| io::Error::other("EVE output thread panicked"))?;
        let sinks = self
            .sinks
            .iter()
            .zip(errors)
            .map(|(v, error)| {
                let c = &v.counters;
                SinkReport {
                    name: v.name.clone(),
                    kind: v.kind,
                    target: v.target.clone(),
                    written: c.written.load(Ordering::Relaxed),
                    bytes: c.bytes.load(Ordering::Relaxed),
                    dropped: c.dropped.load(Ordering::Relaxed),
                    lost: c.lost.load(Ordering::Relaxed),
                    failures: c.failures.load(Ordering::Relaxed),
                    reconnects: c.reconnects.load(Ordering::Relaxed),
                    error,
                }
            })
            .collect();
        Ok(OutputReport { sinks, incidents })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn lines_reach_the_file_and_buffers_recycle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/eve.json");
        let (w, mut s) =
            EveWriter::start(&EveTarget::File(path.clone()), Backpressure::Block).unwrap();
        for i in 0..100 {
            let mut b = s.buffer();
            b.extend_from_slice(format!("{{\"n\":{i}}}\n").as_bytes());
            s.send(b);
        }
        drop(s);
        let stats = w.finish().unwrap();
        assert_eq!(stats.lines(), 100);
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(text.lines().count(), 100);
        assert!(text.ends_with("{\"n\":99}\n"));
    }

    #[test]
    fn reopen_continues_in_a_new_file_and_append_keeps_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eve.json");
        std::fs::write(&path, "old\n").unwrap();
        let mode = WriterMode {
            append: true,
            flush_every: Some(Duration::from_millis(10)),
        };
        let target = EveTarget::File(path.clone());
        let (w, mut s) = EveWriter::start_with(&target, Backpressure::Block, mode).unwrap();
        let mut b = s.buffer();
        b.extend_from_slice(b"one\n");
        s.send(b);
        // Flushed within the interval while the writer keeps running.
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(&path).unwrap() != "old\none\n" {
            assert!(Instant::now() < deadline, "not flushed");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::fs::rename(&path, dir.path().join("eve.json.1")).unwrap();
        w.reopen();
        std::thread::sleep(Duration::from_millis(400));
        let mut b = s.buffer();
        b.extend_from_slice(b"two\n");
        s.send(b);
        drop(s);
        w.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        let rotated = std::fs::read_to_string(dir.path().join("eve.json.1")).unwrap();
        assert_eq!(rotated, "old\none\n");
    }

    #[test]
    fn unwritable_target_is_an_error() {
        let r = EveWriter::start(
            &EveTarget::File("/proc/nope/eve.json".into()),
            Backpressure::Block,
        );
        assert!(r.is_err());
    }
}
