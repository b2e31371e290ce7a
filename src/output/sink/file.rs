//! File and standard-output sinks: whole lines written in chunks, a failed write cut back to
//! the last whole line and counted, reopened after log rotation.

use std::fs::File;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::{SendError, SinkTarget, Transport};
use crate::output::WriterMode;

/// What a file sink did.
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
pub trait Rewind: Write + Send {
    /// Truncates to `len` bytes and continues writing there; unsupported for streams.
    fn rewind_to(&mut self, _len: u64) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

impl Rewind for File {
    fn rewind_to(&mut self, len: u64) -> io::Result<()> {
        use std::io::Seek;
        self.set_len(len)?;
        self.seek(io::SeekFrom::Start(len)).map(|_| ())
    }
}

impl Rewind for io::Stdout {}

/// Writes whole lines in chunks. A failed write is cut back to the last whole line, reported
/// at once with the path, and its lines counted as lost; writing is retried a second later
/// (a disk may get room again).
pub struct LineWriter {
    out: Box<dyn Rewind>,
    name: String,
    buf: Vec<u8>,
    /// Lines in `buf`.
    pending: u64,
    /// Bytes of whole lines in the file.
    committed: u64,
    failed_at: Option<Instant>,
    /// Counters so far.
    pub stats: WriterStats,
}

impl LineWriter {
    /// Writes to `out` (named `name` in messages), which already holds `committed` bytes.
    pub fn new(out: Box<dyn Rewind>, name: String, committed: u64) -> LineWriter {
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

    /// Adds a line (ending with `\n`).
    pub fn push(&mut self, line: &[u8]) {
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

    /// Writes what is buffered.
    pub fn flush(&mut self) {
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

/// Opens the target: the writer, its name for messages, and the bytes already in it.
fn open(target: &SinkTarget, append: bool) -> io::Result<(Box<dyn Rewind>, String, u64)> {
    Ok(match target {
        SinkTarget::File(path) => {
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
        _ => (Box::new(io::stdout()), "standard output".into(), 0),
    })
}

/// A file or standard output.
pub(super) struct FileSink {
    target: SinkTarget,
    out: LineWriter,
    flush_every: Option<Duration>,
    last_flush: Instant,
}

impl FileSink {
    pub(super) fn open(target: &SinkTarget, mode: WriterMode) -> io::Result<FileSink> {
        let (w, name, len) = open(target, mode.append)?;
        Ok(FileSink {
            target: target.clone(),
            out: LineWriter::new(w, name, len),
            flush_every: mode.flush_every,
            last_flush: Instant::now(),
        })
    }
}

impl Transport for FileSink {
    fn connect(&mut self) -> Result<(), String> {
        Ok(())
    }

    fn send(&mut self, lines: &[Vec<u8>]) -> Result<(), SendError> {
        for l in lines {
            self.out.push(l);
        }
        Ok(())
    }

    fn tick(&mut self) {
        if self
            .flush_every
            .is_some_and(|d| self.last_flush.elapsed() >= d)
        {
            self.out.flush();
            self.last_flush = Instant::now();
        }
    }

    fn reopen(&mut self) {
        // logrotate moved the file away: continue in a new one.
        self.out.flush();
        match open(&self.target, true) {
            Ok((w, name, len)) => {
                let stats = std::mem::take(&mut self.out.stats);
                self.out = LineWriter::new(w, name, len);
                self.out.stats = stats;
            }
            Err(e) => tracing::error!("EVE reopen failed, keeping the old file: {e}"),
        }
    }

    fn finish(&mut self) {
        self.out.flush();
    }

    fn own_counts(&self) -> Option<(u64, u64, u64, Option<String>)> {
        let s = &self.out.stats;
        // Lines still in the chunk buffer count as written once flushed; until then they
        // are neither written nor lost.
        Some((s.lines, s.bytes, s.lost, s.error.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Accepts `room` bytes, then fails like a full disk; can be cut back like a file.
    struct FullDisk {
        data: Arc<Mutex<Vec<u8>>>,
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

    impl Rewind for FullDisk {
        fn rewind_to(&mut self, len: u64) -> io::Result<()> {
            self.data.lock().unwrap().truncate(len as usize);
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_leaves_whole_lines_and_counts_the_rest() {
        let data = Arc::new(Mutex::new(Vec::new()));
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
