//! Output: EVE rendering ([`eve`]) and the writer thread that keeps file I/O off the packet path.
//!
//! Workers send finished lines over a bounded crossbeam channel; the writer returns the emptied
//! buffers on a second channel so that steady-state alerting allocates nothing. In replay the
//! sender waits when the channel is full (no event is lost); live capture uses
//! [`Backpressure::Drop`], so a slow disk costs counted events, never captured packets.

pub mod community_id;
pub mod eve;

use std::fs::File;
use std::io::{self, BufWriter, Write};
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Lines written.
    pub lines: u64,
    /// Bytes written.
    pub bytes: u64,
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

fn open_sink(target: &EveTarget, append: bool) -> io::Result<Box<dyn Write + Send>> {
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
            Box::new(f.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?)
        }
        EveTarget::Stdout => Box::new(io::stdout()),
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
        let sink = open_sink(target, mode.append)?;
        let (tx, rx) = bounded::<Vec<u8>>(QUEUE);
        let (recycle_tx, recycle_rx) = bounded::<Vec<u8>>(QUEUE);
        let reopen = Arc::new(AtomicBool::new(false));
        let flag = reopen.clone();
        let target = target.clone();
        let handle = std::thread::Builder::new()
            .name("eve-writer".into())
            .spawn(move || {
                let mut out = BufWriter::with_capacity(1 << 16, sink);
                let mut stats = WriterStats::default();
                let tick = mode.flush_every.unwrap_or(Duration::from_millis(250));
                let mut last_flush = Instant::now();
                loop {
                    match rx.recv_timeout(tick) {
                        Ok(mut line) => {
                            out.write_all(&line)?;
                            stats.lines += 1;
                            stats.bytes += line.len() as u64;
                            line.clear();
                            let _ = recycle_tx.try_send(line);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if mode.flush_every.is_some_and(|d| last_flush.elapsed() >= d) {
                        out.flush()?;
                        last_flush = Instant::now();
                    }
                    if flag.swap(false, Ordering::AcqRel) {
                        // logrotate moved the file away: continue in a new one.
                        out.flush()?;
                        match open_sink(&target, true) {
                            Ok(s) => out = BufWriter::with_capacity(1 << 16, s),
                            Err(e) => {
                                tracing::error!("EVE reopen failed, keeping the old file: {e}")
                            }
                        }
                    }
                }
                out.flush()?;
                Ok(stats)
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
}
