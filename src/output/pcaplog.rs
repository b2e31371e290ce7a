//! pcap of what alerted: the frames of every flow that raised an alert, written by a thread
//! of their own to rotating pcap files in one directory.
//!
//! Workers keep a bounded ring of their recent frames ([`PacketRing`]), each linked to the
//! previous frame of its flow. When a flow first alerts, the worker walks that chain back
//! and sends the flow's earlier frames still in the ring (oldest first), then every later
//! frame of the flow. Files rotate at `file_size`; the oldest are deleted past `total_size`.
//! `flows.tsv` in the directory maps each alerting flow's EVE `flow_id` to the files holding
//! its frames (a line the first time a flow reaches a file).

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::Backpressure;
use crate::common::time::Micros;

/// `[output.pcap]` settings as the runtime uses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapLogConfig {
    /// Directory of the files.
    pub dir: PathBuf,
    /// A file is closed and a new one started past this many bytes.
    pub file_size: u64,
    /// The oldest files are deleted while the files take more than this.
    pub total_size: u64,
    /// Bytes of recent frames each worker keeps to find an alerting flow's earlier frames.
    pub lookback: usize,
}

impl Default for PcapLogConfig {
    fn default() -> PcapLogConfig {
        PcapLogConfig {
            dir: PathBuf::from("pcap"),
            file_size: 100 << 20,
            total_size: 1 << 30,
            lookback: 16 << 20,
        }
    }
}

/// A frame on its way to the pcap writer.
#[derive(Debug)]
struct Record {
    flow_id: u64,
    ts: Micros,
    dlt: u16,
    data: Vec<u8>,
}

/// Frames queued between workers and the writer.
const QUEUE: usize = 8192;

/// A worker's handle on the pcap writer.
#[derive(Clone, Debug)]
pub struct PcapSender {
    tx: Sender<Record>,
    recycle: Receiver<Vec<u8>>,
    policy: Backpressure,
    /// Frames dropped because the writer's queue was full (live capture only).
    pub dropped: u64,
}

impl PcapSender {
    /// Queues one frame (its bytes in one or two parts, as a ring holds them).
    pub fn send(&mut self, flow_id: u64, ts: Micros, dlt: u16, parts: [&[u8]; 2]) {
        let mut data = self.recycle.try_recv().unwrap_or_default();
        data.clear();
        data.extend_from_slice(parts[0]);
        data.extend_from_slice(parts[1]);
        let r = Record {
            flow_id,
            ts,
            dlt,
            data,
        };
        let ok = match self.policy {
            Backpressure::Block => self.tx.send(r).is_ok(),
            Backpressure::Drop => self.tx.try_send(r).is_ok(),
        };
        if !ok {
            self.dropped += 1;
        }
    }
}

/// What the pcap writer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PcapLogStats {
    /// Frames written.
    pub packets: u64,
    /// Bytes written (records with their headers).
    pub bytes: u64,
    /// Files started.
    pub files: u64,
    /// Files deleted to stay under `total_size`.
    pub deleted: u64,
    /// Frames lost to write errors.
    pub lost: u64,
    /// The first write error.
    pub error: Option<String>,
}

/// The writer thread.
pub struct PcapLog {
    handle: JoinHandle<PcapLogStats>,
}

/// Prefix of the files this writer owns in its directory.
const PREFIX: &str = "sekimori-alerts.";

struct Writer {
    cfg: PcapLogConfig,
    cur: Option<(BufWriter<File>, PathBuf, u64, u16)>,
    /// Files of this writer (and earlier runs), oldest first, with their sizes.
    files: VecDeque<(PathBuf, u64)>,
    total: u64,
    seq: u64,
    flows_in_file: HashSet<u64>,
    index: Option<BufWriter<File>>,
    stats: PcapLogStats,
}

impl Writer {
    fn new(cfg: PcapLogConfig) -> io::Result<Writer> {
        std::fs::create_dir_all(&cfg.dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", cfg.dir.display())))?;
        // Files of earlier runs count against the total, oldest (by name) first.
        let mut old: Vec<(PathBuf, u64)> = std::fs::read_dir(&cfg.dir)?
            .filter_map(Result::ok)
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.starts_with(PREFIX) && n.ends_with(".pcap")
            })
            .filter_map(|e| Some((e.path(), e.metadata().ok()?.len())))
            .collect();
        old.sort();
        let total = old.iter().map(|f| f.1).sum();
        let index = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cfg.dir.join("flows.tsv"))?;
        Ok(Writer {
            cfg,
            cur: None,
            files: old.into(),
            total,
            seq: 0,
            flows_in_file: HashSet::new(),
            index: Some(BufWriter::new(index)),
            stats: PcapLogStats::default(),
        })
    }

    fn fail(&mut self, e: io::Error) {
        if self.stats.error.is_none() {
            tracing::error!("pcap output {}: {e}", self.cfg.dir.display());
            self.stats.error = Some(e.to_string());
        }
        self.stats.lost += 1;
    }

    /// Starts a new file for link type `dlt`, named by the first frame's time.
    fn open(&mut self, ts: Micros, dlt: u16) -> io::Result<()> {
        self.close();
        self.seq += 1;
        let name = format!(
            "{PREFIX}{}.{}.{}.pcap",
            ts / 1_000_000,
            std::process::id(),
            self.seq
        );
        let path = self.cfg.dir.join(name);
        let mut w = BufWriter::new(File::create(&path)?);
        // Classic pcap, microseconds, snaplen 262144.
        w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        w.write_all(&2u16.to_le_bytes())?;
        w.write_all(&4u16.to_le_bytes())?;
        w.write_all(&[0; 8])?;
        w.write_all(&262_144u32.to_le_bytes())?;
        w.write_all(&u32::from(dlt).to_le_bytes())?;
        self.cur = Some((w, path, 24, dlt));
        self.stats.files += 1;
        self.flows_in_file.clear();
        Ok(())
    }

    fn close(&mut self) {
        if let Some((mut w, path, size, _)) = self.cur.take() {
            if let Err(e) = w.flush() {
                self.fail(e);
            }
            self.files.push_back((path, size));
            self.total += size;
        }
        // Stay under the cap, counting the file being written too.
        while self.total > self.cfg.total_size && !self.files.is_empty() {
            if let Some((p, size)) = self.files.pop_front() {
                let _ = std::fs::remove_file(&p);
                self.total -= size;
                self.stats.deleted += 1;
            }
        }
    }

    fn write(&mut self, r: &Record) {
        let needs_new = match &self.cur {
            None => true,
            Some((_, _, size, dlt)) => *dlt != r.dlt || *size >= self.cfg.file_size,
        };
        if needs_new {
            if let Err(e) = self.open(r.ts, r.dlt) {
                self.fail(e);
                return;
            }
        }
        let Some((w, path, size, _)) = self.cur.as_mut() else {
            return;
        };
        let (secs, usecs) = (r.ts.div_euclid(1_000_000), r.ts.rem_euclid(1_000_000));
        let len = r.data.len() as u32;
        let res = w
            .write_all(&(secs as u32).to_le_bytes())
            .and_then(|_| w.write_all(&(usecs as u32).to_le_bytes()))
            .and_then(|_| w.write_all(&len.to_le_bytes()))
            .and_then(|_| w.write_all(&len.to_le_bytes()))
            .and_then(|_| w.write_all(&r.data));
        match res {
            Ok(()) => {
                *size += 16 + u64::from(len);
                self.stats.packets += 1;
                self.stats.bytes += 16 + u64::from(len);
                if r.flow_id != 0 && self.flows_in_file.insert(r.flow_id) {
                    let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
                    if let (Some(ix), Some(file)) = (self.index.as_mut(), file) {
                        let _ = writeln!(ix, "{}\t{file}", r.flow_id);
                    }
                }
            }
            Err(e) => self.fail(e),
        }
    }
}

impl PcapLog {
    /// Creates the directory and starts the writer.
    pub fn start(cfg: PcapLogConfig, policy: Backpressure) -> io::Result<(PcapLog, PcapSender)> {
        let mut w = Writer::new(cfg)?;
        let (tx, rx) = bounded::<Record>(QUEUE);
        let (recycle_tx, recycle_rx) = bounded::<Vec<u8>>(QUEUE);
        let handle = std::thread::Builder::new()
            .name("pcap-out".into())
            .spawn(move || {
                while let Ok(r) = rx.recv() {
                    w.write(&r);
                    let _ = recycle_tx.try_send(r.data);
                }
                w.close();
                if let Some(mut ix) = w.index.take() {
                    let _ = ix.flush();
                }
                w.stats
            })?;
        Ok((
            PcapLog { handle },
            PcapSender {
                tx,
                recycle: recycle_rx,
                policy,
                dropped: 0,
            },
        ))
    }

    /// Waits for the queue to drain (after every sender is dropped) and closes the file.
    pub fn finish(self) -> PcapLogStats {
        self.handle.join().unwrap_or_else(|_| PcapLogStats {
            error: Some("pcap writer thread panicked".into()),
            ..Default::default()
        })
    }
}

/// A worker's recent frames in one circular byte buffer, each linked to the previous frame
/// of its flow, so an alerting flow's earlier frames can be found without a per-flow buffer.
/// Memory is fixed (`lookback` bytes and an index of `lookback / 64` entries); what is older
/// is overwritten.
pub struct PacketRing {
    bytes: Vec<u8>,
    /// Total bytes ever written (position of the next byte, before wrapping).
    head: u64,
    entries: Vec<Entry>,
    /// Sequence number of the next frame.
    next: u64,
}

#[derive(Clone, Copy, Default)]
struct Entry {
    /// Sequence number + 1 (0: empty).
    seq1: u64,
    start: u64,
    len: u32,
    dlt: u16,
    ts: Micros,
    /// Sequence number + 1 of the previous frame of the same flow (0: none).
    prev1: u64,
}

impl PacketRing {
    /// A ring of `bytes` bytes (at least 64 KiB).
    pub fn new(bytes: usize) -> PacketRing {
        let bytes = bytes.max(1 << 16);
        PacketRing {
            bytes: vec![0; bytes],
            head: 0,
            entries: vec![Entry::default(); (bytes / 64).max(1024)],
            next: 0,
        }
    }

    /// Keeps a frame; returns its sequence number + 1 (the handle flows keep).
    pub fn push(&mut self, ts: Micros, dlt: u16, frame: &[u8]) -> u64 {
        let cap = self.bytes.len();
        // A frame larger than the ring is not kept.
        let frame = &frame[..frame.len().min(cap)];
        let at = (self.head % cap as u64) as usize;
        let first = frame.len().min(cap - at);
        self.bytes[at..at + first].copy_from_slice(&frame[..first]);
        self.bytes[..frame.len() - first].copy_from_slice(&frame[first..]);
        let seq = self.next;
        self.next += 1;
        let n = self.entries.len();
        self.entries[(seq % n as u64) as usize] = Entry {
            seq1: seq + 1,
            start: self.head,
            len: frame.len() as u32,
            dlt,
            ts,
            prev1: 0,
        };
        self.head += frame.len() as u64;
        seq + 1
    }

    /// The entry of `seq1` while its bytes are still in the ring.
    fn get(&self, seq1: u64) -> Option<&Entry> {
        if seq1 == 0 {
            return None;
        }
        let e = &self.entries[((seq1 - 1) % self.entries.len() as u64) as usize];
        let cap = self.bytes.len() as u64;
        (e.seq1 == seq1 && e.start + cap >= self.head).then_some(e)
    }

    /// Links frame `seq1` to the previous frame of its flow (once: the first flow wins).
    pub fn link(&mut self, seq1: u64, prev1: u64) {
        if seq1 == 0 || prev1 >= seq1 {
            return;
        }
        let n = self.entries.len() as u64;
        let e = &mut self.entries[((seq1 - 1) % n) as usize];
        if e.seq1 == seq1 && e.prev1 == 0 {
            e.prev1 = prev1;
        }
    }

    /// The frame's bytes (in two parts where it wraps) and its time and link type.
    pub fn frame(&self, seq1: u64) -> Option<(Micros, u16, [&[u8]; 2])> {
        let e = self.get(seq1)?;
        let cap = self.bytes.len();
        let at = (e.start % cap as u64) as usize;
        let len = e.len as usize;
        let first = len.min(cap - at);
        Some((
            e.ts,
            e.dlt,
            [&self.bytes[at..at + first], &self.bytes[..len - first]],
        ))
    }

    /// Walks a flow's chain back from `seq1` (exclusive), calling `f` oldest first with the
    /// frames still in the ring; at most `limit` frames.
    pub fn walk_back(
        &self,
        seq1: u64,
        limit: usize,
        scratch: &mut Vec<u64>,
        mut f: impl FnMut(u64),
    ) {
        scratch.clear();
        let mut cur = self.get(seq1).map_or(0, |e| e.prev1);
        while let Some(e) = self.get(cur) {
            if scratch.len() >= limit {
                break;
            }
            scratch.push(cur);
            cur = e.prev1;
        }
        for &s in scratch.iter().rev() {
            f(s);
        }
    }
}

/// Lists the pcap files in `dir` written by this output, oldest first.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(PREFIX))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_links_flows_and_forgets_what_was_overwritten() {
        let mut r = PacketRing::new(1 << 16);
        let mut scratch = Vec::new();
        let a1 = r.push(1, 1, &[1; 1000]);
        let b1 = r.push(2, 1, &[2; 1000]);
        r.link(b1, 0);
        let a2 = r.push(3, 1, &[3; 1000]);
        r.link(a2, a1);
        let a3 = r.push(4, 1, &[4; 1000]);
        r.link(a3, a2);
        let mut got = Vec::new();
        r.walk_back(a3, 100, &mut scratch, |s| got.push(s));
        assert_eq!(got, [a1, a2]);
        let (ts, _, parts) = r.frame(a2).unwrap();
        assert_eq!(
            (ts, parts[0].len() + parts[1].len(), parts[0][0]),
            (3, 1000, 3)
        );
        // Fill the ring: the oldest frames go, and a wrapped frame comes back whole.
        let mut last = a3;
        for i in 0..70u8 {
            let s = r.push(10 + i64::from(i), 1, &[i; 1000]);
            r.link(s, last);
            last = s;
        }
        assert!(r.frame(a1).is_none());
        let mut n = 0;
        r.walk_back(last, 1000, &mut scratch, |s| {
            let (_, _, p) = r.frame(s).unwrap();
            assert_eq!(p[0].len() + p[1].len(), 1000);
            n += 1;
        });
        assert!(n > 50 && n < 70, "{n}");
    }
}
