//! Output: EVE rendering ([`eve`]) and the writer thread that keeps file I/O off the packet path.
//!
//! Workers send finished lines over a bounded crossbeam channel; the writer returns the emptied
//! buffers on a second channel so that steady-state alerting allocates nothing. In replay the
//! sender waits when the channel is full (no event is lost); live capture uses
//! [`Backpressure::Drop`], so a slow disk costs counted events, never captured packets.

pub mod community_id;
pub mod eve;
pub mod filestore;

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};

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

/// What the writer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Lines written.
    pub lines: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Lines lost to write errors (a full disk): never half-written, always counted.
    pub lost: u64,
    /// The first write error, with the path.
    pub error: Option<String>,
}

/// Bytes gathered before a write.
const WRITE_CHUNK: usize = 1 << 16;
/// After a write error, lines are counted as lost for this long before writing is retried.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A destination that can be cut back to a length (so a failed write leaves no half line).
trait Sink: Write + Send {
    /// Truncates to `len` bytes and continues writing there; unsupported for streams.
    fn rewind_to(&mut self, _len: u64) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

impl Sink for File {
    fn rewind_to(&mut self, len: u64) -> io::Result<()> {
        use std::io::Seek;
        self.set_len(len)?;
        self.seek(io::SeekFrom::Start(len)).map(|_| ())
    }
}

impl Sink for io::Stdout {}

/// Writes whole lines in chunks. A failed write is cut back to the last whole line, reported
/// at once with the path, and its lines counted as lost; writing is retried a second later
/// (a disk may get room again).
struct LineWriter {
    out: Box<dyn Sink>,
    name: String,
    buf: Vec<u8>,
    /// Lines in `buf`.
    pending: u64,
    /// Bytes of whole lines in the file.
    committed: u64,
    failed_at: Option<Instant>,
    stats: WriterStats,
}

impl LineWriter {
    fn new(out: Box<dyn Sink>, name: String, committed: u64) -> LineWriter {
        LineWriter {
            out,
            name,
            buf: Vec::with_capacity(WRITE_CHUNK),
            pending: 0,
            committed,
            failed_at: None,
            stats: WriterStats::default(),
        }
    }

    fn push(&mut self, line: &[u8]) {
        if self.failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
            self.stats.lost += 1;
            return;
        }
        self.buf.extend_from_slice(line);
        self.pending += 1;
        if self.buf.len() >= WRITE_CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            match self.out.write_all(&self.buf) {
                Ok(()) => {
                    self.committed += self.buf.len() as u64;
                    self.stats.lines += self.pending;
                    self.stats.bytes += self.buf.len() as u64;
                    self.failed_at = None;
                }
                Err(e) => self.fail(e),
            }
            self.buf.clear();
            self.pending = 0;
        }
        if let Err(e) = self.out.flush() {
            self.fail(e);
        }
    }

    fn fail(&mut self, e: io::Error) {
        // Whatever part of the chunk reached the file goes again: no half line stays.
        let cut = self.out.rewind_to(self.committed);
        self.stats.lost += self.pending;
        if self.failed_at.is_none() {
            let msg = format!("{}: {e}", self.name);
            tracing::error!(
                "EVE output {msg}: events are counted as lost until writing succeeds again{}",
                if cut.is_err() {
                    ""
                } else {
                    " (no partial line left)"
                }
            );
            self.stats.error.get_or_insert(msg);
        }
        self.failed_at = Some(Instant::now());
    }
}

/// The writer thread.
pub struct EveWriter {
    handle: JoinHandle<io::Result<WriterStats>>,
    reopen: Arc<AtomicBool>,
}

/// How the writer treats its file.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriterMode {
    /// Append to an existing file instead of truncating it (a service restarting).
    pub append: bool,
    /// Flush at least this often while lines arrive slowly (live capture), so alerts reach
    /// the file within this delay; None flushes only when the buffer fills (replay).
    pub flush_every: Option<Duration>,
}

/// Opens the target: the sink, its name for messages, and the bytes already in it.
fn open_sink(target: &EveTarget, append: bool) -> io::Result<(Box<dyn Sink>, String, u64)> {
    Ok(match target {
        EveTarget::File(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let f = if append {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
            } else {
                File::create(path)
            };
            let f = f.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let len = f.metadata().map_or(0, |m| m.len());
            (Box::new(f), path.display().to_string(), len)
        }
        EveTarget::Stdout => (Box::new(io::stdout()), "standard output".into(), 0),
    })
}

impl EveWriter {
    /// Opens (truncating) the target and starts the writer thread.
    pub fn start(target: &EveTarget, policy: Backpressure) -> io::Result<(EveWriter, EveSender)> {
        Self::start_with(target, policy, WriterMode::default())
    }

    /// Opens the target and starts the writer thread.
    pub fn start_with(
        target: &EveTarget,
        policy: Backpressure,
        mode: WriterMode,
    ) -> io::Result<(EveWriter, EveSender)> {
        let (sink, name, len) = open_sink(target, mode.append)?;
        let (tx, rx) = bounded::<Vec<u8>>(QUEUE);
        let (recycle_tx, recycle_rx) = bounded::<Vec<u8>>(QUEUE);
        let reopen = Arc::new(AtomicBool::new(false));
        let flag = reopen.clone();
        let target = target.clone();
        let handle = std::thread::Builder::new()
            .name("eve-writer".into())
            .spawn(move || {
                let mut out = LineWriter::new(sink, name, len);
                let tick = mode.flush_every.unwrap_or(Duration::from_millis(250));
                let mut last_flush = Instant::now();
                loop {
                    match rx.recv_timeout(tick) {
                        Ok(mut line) => {
                            out.push(&line);
                            line.clear();
                            let _ = recycle_tx.try_send(line);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if mode.flush_every.is_some_and(|d| last_flush.elapsed() >= d) {
                        out.flush();
                        last_flush = Instant::now();
                    }
                    if flag.swap(false, Ordering::AcqRel) {
                        // logrotate moved the file away: continue in a new one.
                        out.flush();
                        match open_sink(&target, true) {
                            Ok((s, name, len)) => {
                                let stats = std::mem::take(&mut out.stats);
                                out = LineWriter::new(s, name, len);
                                out.stats = stats;
                            }
                            Err(e) => {
                                tracing::error!("EVE reopen failed, keeping the old file: {e}")
                            }
                        }
                    }
                }
                out.flush();
                Ok(out.stats)
            })?;
        Ok((
            EveWriter { handle, reopen },
            EveSender {
                tx,
                recycle: recycle_rx,
                policy,
                dropped: 0,
            },
        ))
    }

    /// Asks the writer to reopen its file (after logrotate renamed it).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Release);
    }

    /// Waits for the writer to drain the queue (after every sender is dropped) and flush.
    pub fn finish(self) -> io::Result<WriterStats> {
        self.handle
            .join()
            .map_err(|_| io::Error::other("EVE writer thread panicked"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(stats.lines, 100);
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

    /// Accepts `room` bytes, then fails like a full disk; can be cut back like a file.
    struct FullDisk {
        data: Arc<std::sync::Mutex<Vec<u8>>>,
        room: usize,
    }

    impl Write for FullDisk {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let mut d = self.data.lock().unwrap();
            let n = b.len().min(self.room.saturating_sub(d.len()));
            if n == 0 {
                return Err(io::Error::from_raw_os_error(28));
            }
            d.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink for FullDisk {
        fn rewind_to(&mut self, len: u64) -> io::Result<()> {
            self.data.lock().unwrap().truncate(len as usize);
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_leaves_whole_lines_and_counts_the_rest() {
        let data = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = FullDisk {
            data: data.clone(),
            room: 100_000,
        };
        let mut w = LineWriter::new(Box::new(sink), "disk/eve.json".into(), 0);
        let line = format!(
            "{{\"event_type\":\"alert\",\"pad\":\"{}\"}}\n",
            "x".repeat(60)
        );
        for _ in 0..5000 {
            w.push(line.as_bytes());
        }
        w.flush();
        let written = data.lock().unwrap().clone();
        assert!(written.ends_with(b"\n"), "no half line");
        let whole = written.iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(w.stats.lines, whole);
        assert_eq!(w.stats.lines + w.stats.lost, 5000);
        assert!(w.stats.lost > 0);
        let err = w.stats.error.clone().unwrap();
        assert!(err.starts_with("disk/eve.json: "), "{err}");
    }
}
