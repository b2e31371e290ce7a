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
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

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
}

impl EveWriter {
    /// Opens the target and starts the writer thread.
    pub fn start(target: &EveTarget, policy: Backpressure) -> io::Result<(EveWriter, EveSender)> {
        let sink: Box<dyn Write + Send> =
            match target {
                EveTarget::File(path) => {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir)?;
                    }
                    Box::new(File::create(path).map_err(|e| {
                        io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                    })?)
                }
                EveTarget::Stdout => Box::new(io::stdout()),
            };
        let (tx, rx) = bounded::<Vec<u8>>(QUEUE);
        let (recycle_tx, recycle_rx) = bounded::<Vec<u8>>(QUEUE);
        let handle = std::thread::Builder::new()
            .name("eve-writer".into())
            .spawn(move || {
                let mut out = BufWriter::with_capacity(1 << 16, sink);
                let mut stats = WriterStats::default();
                for mut line in rx {
                    out.write_all(&line)?;
                    stats.lines += 1;
                    stats.bytes += line.len() as u64;
                    line.clear();
                    let _ = recycle_tx.try_send(line);
                }
                out.flush()?;
                Ok(stats)
            })?;
        Ok((
            EveWriter { handle },
            EveSender {
                tx,
                recycle: recycle_rx,
                policy,
                dropped: 0,
            },
        ))
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
    fn unwritable_target_is_an_error() {
        let r = EveWriter::start(
            &EveTarget::File("/proc/nope/eve.json".into()),
            Backpressure::Block,
        );
        assert!(r.is_err());
    }
}
