//! Capture: where frames come from. Offline replay reads pcap/pcapng files through libpcap;
//! live capture ([`live`]) reads interfaces through libpcap (TPACKET_V3 rings on Linux, with
//! PACKET_FANOUT in workers mode) behind the same [`PacketSource`] trait.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::common::time::Micros;
use crate::decode::LinkType;

pub mod live;

/// A source of captured frames.
pub trait PacketSource {
    /// Link type of this source's frames.
    fn link(&self) -> LinkType;
    /// Lends the next frame to `f` as `(timestamp, bytes)`. `Ok(false)` at end of input.
    fn next_frame(&mut self, f: &mut dyn FnMut(Micros, &[u8])) -> Result<bool, String>;
}

/// Extensions taken from directories (explicitly named files are read whatever their name).
const PCAP_EXTENSIONS: &[&str] = &["pcap", "pcapng", "cap", "dmp", "trace"];

/// Capture files found in the inputs, and the inputs that could not be used.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Regular files to replay, in order (directories walked recursively, sorted).
    pub files: Vec<PathBuf>,
    /// Inputs skipped, each with its path and reason: missing, unreadable, not a regular
    /// file (FIFO, device, socket), or a directory seen before (a symlink loop).
    pub failed: Vec<String>,
}

/// Expands files and directories into the capture files to replay. Each real file or
/// directory (device and inode) is visited once, whatever symlinks lead to it, so loops end;
/// only regular files are read (a FIFO named `x.pcap` would block the replay). A path that
/// cannot be used is reported in [`Inputs::failed`] and the others are still expanded.
pub fn expand_inputs(paths: &[PathBuf]) -> Inputs {
    let mut out = Inputs::default();
    let mut seen = HashSet::new();
    for p in paths {
        // Named files are read whatever their extension.
        visit(p, true, &mut seen, &mut out);
    }
    out
}

/// Adds `p` (following symlinks): a directory is walked once, a regular file read once; a
/// path that cannot be used is reported. `named`: given on the command line, not found in a
/// directory (where only capture extensions are taken).
fn visit(p: &Path, named: bool, seen: &mut HashSet<(u64, u64)>, out: &mut Inputs) {
    let wanted = named
        || p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| PCAP_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) => {
            // A dangling link or unreadable entry matters only where a capture was expected.
            if wanted {
                out.failed.push(format!("{}: {e}", p.display()));
            }
            return;
        }
    };
    if meta.is_dir() {
        if seen.insert((meta.dev(), meta.ino())) {
            walk(p, seen, out);
        }
        return;
    }
    if !wanted {
        return;
    }
    // A named pipe given by name is read as it is written (`tcpdump -w fifo`).
    let fifo = named && {
        use std::os::unix::fs::FileTypeExt;
        meta.file_type().is_fifo()
    };
    if !meta.is_file() && !fifo {
        out.failed
            .push(format!("{}: not a regular file, skipped", p.display()));
    } else if seen.insert((meta.dev(), meta.ino())) {
        out.files.push(p.to_path_buf());
    }
}

/// Visits a directory's entries in sorted order.
fn walk(dir: &Path, seen: &mut HashSet<(u64, u64)>, out: &mut Inputs) {
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            out.failed.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    let mut paths = Vec::new();
    for e in entries {
        match e {
            Ok(e) => paths.push(e.path()),
            Err(e) => out.failed.push(format!("{}: {e}", dir.display())),
        }
    }
    let mut entries = paths;
    entries.sort();
    for p in entries {
        visit(&p, false, seen, out);
    }
}

/// A libpcap packet time in microseconds since the epoch.
#[inline]
pub(crate) fn pcap_ts(h: &pcap::PacketHeader) -> Micros {
    // time_t and suseconds_t are i64 here but narrower on other targets.
    #[allow(clippy::useless_conversion)]
    let ts = i64::from(h.ts.tv_sec) * 1_000_000 + i64::from(h.ts.tv_usec);
    ts
}

/// A pcap or pcapng file read through libpcap.
pub struct PcapFile {
    cap: pcap::Capture<pcap::Offline>,
    link: LinkType,
    path: PathBuf,
}

impl PcapFile {
    /// Opens a capture file; fails for unreadable files and link types sekimori cannot decode.
    pub fn open(path: &Path) -> Result<PcapFile, String> {
        let cap = pcap::Capture::from_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let dlt = cap.get_datalink();
        let link = LinkType::from_pcap(dlt.0).ok_or_else(|| {
            format!(
                "{}: link type {} ({}) is not supported",
                path.display(),
                dlt.0,
                dlt.get_name().unwrap_or_else(|_| "unknown".into())
            )
        })?;
        Ok(PcapFile {
            cap,
            link,
            path: path.to_path_buf(),
        })
    }
}

impl PacketSource for PcapFile {
    fn link(&self) -> LinkType {
        self.link
    }

    fn next_frame(&mut self, f: &mut dyn FnMut(Micros, &[u8])) -> Result<bool, String> {
        match self.cap.next_packet() {
            Ok(pkt) => {
                f(pcap_ts(pkt.header), pkt.data);
                Ok(true)
            }
            Err(pcap::Error::NoMorePackets) => Ok(false),
            Err(e) => Err(format!("{}: {e}", self.path.display())),
        }
    }
}
