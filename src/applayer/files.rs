//! Files, one model for every protocol: an HTTP body, an SMTP attachment, an FTP data
//! transfer. A parser opens a [`File`] on its transaction, appends the decoded bytes as they
//! arrive and closes it (or marks it truncated). The file keeps its name, size, state and gaps,
//! streams its hashes, recognises its type from its first bytes and keeps a bounded prefix for
//! `file.data` inspection. Detection (`filename`, `filesize`, `filemd5`...) and EVE
//! (`fileinfo` events, `files` on alerts) read the same record.

use std::io::Write;

use md5::Digest;

use crate::common::json::{push_json_bytes, push_key};

/// File bytes a protocol that inspects its own buffers (HTTP bodies) keeps per file: enough
/// to recognise the type.
pub const MAGIC_BYTES: usize = 512;

/// Hash algorithms computed on file contents (bits of [`FileConfig::hashes`]).
pub mod hash {
    /// MD5.
    pub const MD5: u8 = 1;
    /// SHA-1.
    pub const SHA1: u8 = 2;
    /// SHA-256.
    pub const SHA256: u8 = 4;
    /// All three.
    pub const ALL: u8 = MD5 | SHA1 | SHA256;

    /// Parses a configuration name (`md5`, `sha1`, `sha256`).
    pub fn by_name(name: &str) -> Option<u8> {
        match name {
            "md5" => Some(MD5),
            "sha1" => Some(SHA1),
            "sha256" => Some(SHA256),
            _ => None,
        }
    }
}

/// Limits and options of the file model.
#[derive(Clone, Copy, Debug)]
pub struct FileConfig {
    /// Bytes of each file kept for `file.data` inspection (its prefix).
    pub inspect_limit: usize,
    /// Hashes computed ([`hash`] bits); rules using `filemd5`... add theirs.
    pub hashes: u8,
    /// Files kept per transaction; more are counted and not tracked.
    pub max_per_tx: usize,
    /// Bytes of each file kept whole for the file store (0: no store); larger files are not
    /// stored.
    pub store_limit: usize,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            inspect_limit: 1 << 20,
            hashes: hash::ALL,
            max_per_tx: 64,
            store_limit: 0,
        }
    }
}

/// Where a file is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Data may still come.
    Open,
    /// Complete: its end was seen.
    Closed,
    /// Its transfer stopped before its end (flow ended, a limit, an aborted transfer).
    Truncated,
}

impl FileState {
    /// EVE `state`.
    pub fn name(self) -> &'static str {
        match self {
            FileState::Open => "OPEN",
            FileState::Closed => "CLOSED",
            FileState::Truncated => "TRUNCATED",
        }
    }
}

/// Streaming hashers of an open file.
#[derive(Clone, Default)]
struct Hashers {
    md5: Option<md5::Md5>,
    sha1: Option<sha1_smol::Sha1>,
    sha256: Option<sha2::Sha256>,
}

impl std::fmt::Debug for Hashers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hashers")
    }
}

/// One file seen on a transaction.
#[derive(Clone, Debug)]
pub struct File {
    /// Name as the protocol gave it (may be empty).
    pub name: Vec<u8>,
    /// Bytes seen so far.
    pub size: u64,
    /// State.
    pub state: FileState,
    /// Bytes of the file were missing (a stream gap).
    pub gaps: bool,
    /// Sent by the client (an upload, an attachment) rather than by the server.
    pub to_server: bool,
    /// Its transaction's id (EVE `tx_id`).
    pub tx_id: u64,
    /// The first bytes: for `file.data` (at most [`FileConfig::inspect_limit`]), and the
    /// whole file for the store (up to [`FileConfig::store_limit`]).
    data: Vec<u8>,
    /// Bytes of `data` that `file.data` inspects.
    inspect_len: usize,
    hashers: Option<Box<Hashers>>,
    /// MD5 of the content, once closed (when computed).
    pub md5: Option<[u8; 16]>,
    /// SHA-1 of the content, once closed.
    pub sha1: Option<[u8; 20]>,
    /// SHA-256 of the content, once closed.
    pub sha256: Option<[u8; 32]>,
    /// The kept prefix reached the inspection limit.
    window_full: bool,
}

impl File {
    /// Opens a file.
    pub fn new(name: &[u8], to_server: bool, tx_id: u64, cfg: &FileConfig) -> File {
        let hashers = (cfg.hashes != 0).then(|| {
            Box::new(Hashers {
                md5: (cfg.hashes & hash::MD5 != 0).then(md5::Md5::new),
                sha1: (cfg.hashes & hash::SHA1 != 0).then(sha1_smol::Sha1::new),
                sha256: (cfg.hashes & hash::SHA256 != 0).then(sha2::Sha256::new),
            })
        });
        File {
            name: name[..name.len().min(1024)].to_vec(),
            size: 0,
            state: FileState::Open,
            gaps: false,
            to_server,
            tx_id,
            data: Vec::new(),
            inspect_len: cfg.inspect_limit,
            hashers,
            md5: None,
            sha1: None,
            sha256: None,
            window_full: false,
        }
    }

    /// Appends content. Data after the file closed is ignored.
    pub fn append(&mut self, data: &[u8], cfg: &FileConfig) {
        if self.state != FileState::Open || data.is_empty() {
            return;
        }
        self.size += data.len() as u64;
        let keep = cfg.inspect_limit.max(cfg.store_limit);
        self.window_full |= self.data.len() + data.len() >= cfg.inspect_limit;
        let room = keep.saturating_sub(self.data.len());
        self.data.extend_from_slice(&data[..data.len().min(room)]);
        if let Some(h) = self.hashers.as_deref_mut() {
            if let Some(m) = &mut h.md5 {
                m.update(data);
            }
            if let Some(s) = &mut h.sha1 {
                s.update(data);
            }
            if let Some(s) = &mut h.sha256 {
                s.update(data);
            }
        }
    }

    /// Bytes were missing: the content (and so its hashes) is incomplete.
    pub fn gap(&mut self, len: u64) {
        if self.state == FileState::Open {
            self.gaps = true;
            self.size += len;
            self.hashers = None;
        }
    }

    /// The file's end was seen: finishes its hashes.
    pub fn close(&mut self) {
        if self.state != FileState::Open {
            return;
        }
        self.state = FileState::Closed;
        if let Some(h) = self.hashers.take() {
            let h = *h;
            self.md5 = h.md5.map(|m| m.finalize().into());
            self.sha1 = h.sha1.map(|s| s.digest().bytes());
            self.sha256 = h.sha256.map(|s| s.finalize().into());
        }
    }

    /// The transfer stopped before the file's end.
    pub fn truncate(&mut self) {
        if self.state == FileState::Open {
            self.state = FileState::Truncated;
            self.hashers = None;
        }
    }

    /// Whether the file is closed or truncated.
    pub fn done(&self) -> bool {
        self.state != FileState::Open
    }

    /// Whether `file.data` inspects the file now: once it is done, or once its kept prefix
    /// is full (so a large file is inspected twice at most, never on every packet).
    pub fn inspectable(&self) -> bool {
        self.done() || self.window_full
    }

    /// The prefix `file.data` inspects.
    pub fn data(&self) -> &[u8] {
        &self.data[..self.data.len().min(self.inspect_len)]
    }

    /// The whole content with its SHA-256, when the file is closed, complete and was kept
    /// whole (for the file store).
    pub fn storable(&self) -> Option<(&[u8; 32], &[u8])> {
        let whole =
            self.state == FileState::Closed && !self.gaps && self.size == self.data.len() as u64;
        self.sha256
            .as_ref()
            .filter(|_| whole)
            .map(|h| (h, &self.data[..]))
    }

    /// The file's type as recognised from its first bytes (libmagic-style text).
    pub fn magic(&self) -> Option<&'static str> {
        magic(&self.data)
    }

    /// Heap bytes held.
    pub fn heap(&self) -> usize {
        self.name.capacity()
            + self.data.capacity()
            + self
                .hashers
                .as_ref()
                .map_or(0, |_| std::mem::size_of::<Hashers>())
    }

    /// Writes the file as an EVE object (an element of an alert's `files`; not stored yet).
    pub fn write_eve(&self, out: &mut Vec<u8>) {
        self.write_eve_as(out, self.state, false);
    }

    /// [`File::write_eve`] with the state and stored flag given (a file still open when its
    /// flow ended is reported truncated; a stored one as stored).
    pub fn write_eve_as(&self, out: &mut Vec<u8>, state: FileState, stored: bool) {
        out.push(b'{');
        push_key(out, "filename");
        push_json_bytes(out, &self.name);
        let _ = write!(out, ",\"gaps\":{}", self.gaps);
        if let Some(m) = self.magic() {
            out.extend_from_slice(b",\"magic\":\"");
            out.extend_from_slice(m.as_bytes());
            out.push(b'"');
        }
        push_hex(out, "md5", self.md5.as_ref().map(|h| &h[..]));
        push_hex(out, "sha1", self.sha1.as_ref().map(|h| &h[..]));
        push_hex(out, "sha256", self.sha256.as_ref().map(|h| &h[..]));
        let _ = write!(
            out,
            ",\"state\":\"{}\",\"stored\":{},\"size\":{},\"tx_id\":{}}}",
            state.name(),
            stored,
            self.size,
            self.tx_id
        );
    }
}

fn push_hex(out: &mut Vec<u8>, key: &str, h: Option<&[u8]>) {
    if let Some(h) = h {
        let _ = write!(out, ",\"{key}\":\"");
        for b in h {
            let _ = write!(out, "{b:02x}");
        }
        out.push(b'"');
    }
}

/// Lowercase hex of a digest.
pub fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// The type of a file from its first bytes, in the words libmagic uses for the common kinds
/// an analyst looks for (executables, archives, documents, scripts). None when unknown.
pub fn magic(d: &[u8]) -> Option<&'static str> {
    const TABLE: &[(&[u8], &str)] = &[
        (b"\x7fELF", "ELF"),
        (b"%PDF-", "PDF document"),
        (b"PK\x03\x04", "Zip archive data"),
        (b"\x1f\x8b", "gzip compressed data"),
        (b"BZh", "bzip2 compressed data"),
        (b"\xfd7zXZ\x00", "XZ compressed data"),
        (b"7z\xbc\xaf\x27\x1c", "7-zip archive data"),
        (b"Rar!\x1a\x07", "RAR archive data"),
        (b"\x89PNG\r\n\x1a\n", "PNG image data"),
        (b"\xff\xd8\xff", "JPEG image data"),
        (b"GIF87a", "GIF image data, version 87a"),
        (b"GIF89a", "GIF image data, version 89a"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            "Composite Document File V2 Document",
        ),
        (b"{\\rtf", "Rich Text Format data"),
        (b"CWS", "Macromedia Flash data (compressed)"),
        (b"FWS", "Macromedia Flash data"),
        (b"ZWS", "Macromedia Flash data (LZMA compressed)"),
        (b"\xca\xfe\xba\xbe", "compiled Java class data"),
        (b"MSCF", "Microsoft Cabinet archive data"),
        (b"#!", "script text executable"),
    ];
    if d.len() >= 2 && &d[..2] == b"MZ" {
        return Some(pe_kind(d));
    }
    if let Some((_, m)) = TABLE.iter().find(|(sig, _)| d.starts_with(sig)) {
        return Some(m);
    }
    let head = &d[..d.len().min(512)];
    let starts = |p: &[u8]| {
        let t = head.trim_ascii_start();
        t.len() >= p.len() && t[..p.len()].eq_ignore_ascii_case(p)
    };
    if starts(b"<!doctype html") || starts(b"<html") {
        return Some("HTML document, ASCII text");
    }
    if starts(b"<?xml") {
        return Some("XML 1.0 document, ASCII text");
    }
    if !head.is_empty()
        && head
            .iter()
            .all(|&b| b == b'\t' || b == b'\n' || b == b'\r' || (0x20..0x7f).contains(&b))
    {
        return Some("ASCII text");
    }
    None
}

/// `PE32 executable` or `PE32+ executable` when the MZ stub points at a PE header, else a
/// DOS executable.
fn pe_kind(d: &[u8]) -> &'static str {
    let Some(off) = d
        .get(0x3c..0x40)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    else {
        return "MS-DOS executable";
    };
    match d.get(off..off + 26) {
        Some(h) if &h[..4] == b"PE\0\0" => {
            let dll = u16::from_le_bytes([h[22], h[23]]) & 0x2000 != 0;
            match (u16::from_le_bytes([h[24], h[25]]), dll) {
                (0x20b, true) => "PE32+ executable (DLL), for MS Windows",
                (0x20b, false) => "PE32+ executable, for MS Windows",
                (_, true) => "PE32 executable (DLL), for MS Windows",
                (_, false) => "PE32 executable, for MS Windows",
            }
        }
        _ => "MS-DOS executable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_size_and_prefix() {
        let cfg = FileConfig {
            inspect_limit: 4,
            ..FileConfig::default()
        };
        // With the store on, the whole file is kept while `file.data` sees its prefix.
        let store = FileConfig {
            store_limit: 100,
            ..cfg
        };
        let mut s = File::new(b"s", true, 0, &store);
        s.append(b"abcdefg", &store);
        s.close();
        assert_eq!(s.data(), b"abcd");
        assert_eq!(s.storable().unwrap().1, b"abcdefg");
        let mut f = File::new(b"a.txt", true, 3, &cfg);
        f.append(b"ab", &cfg);
        f.append(b"c", &cfg);
        f.append(b"defg", &cfg);
        assert_eq!(f.data(), b"abcd");
        assert_eq!(f.size, 7);
        f.close();
        assert_eq!(hex(&f.md5.unwrap()), "7ac66c0f148de9519b8bd264312c4d64");
        assert_eq!(
            hex(&f.sha1.unwrap()),
            "2fb5e13419fc89246865e7a324f476ec624e8740"
        );
        assert_eq!(
            hex(&f.sha256.unwrap()),
            "7d1a54127b222502f5b79b5fb0803061152a44f92b37e23c6527baf665d4da9a"
        );
        let mut out = Vec::new();
        f.write_eve(&mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["state"], "CLOSED");
        assert_eq!(v["size"], 7);
        assert_eq!(v["tx_id"], 3);
        // Appending after the close changes nothing.
        f.append(b"zz", &cfg);
        assert_eq!(f.size, 7);
    }

    #[test]
    fn a_gap_drops_the_hashes_and_truncation_is_not_closed() {
        let cfg = FileConfig::default();
        let mut f = File::new(b"", false, 0, &cfg);
        f.append(b"abc", &cfg);
        f.gap(10);
        f.close();
        assert!(f.gaps && f.md5.is_none() && f.size == 13);
        let mut g = File::new(b"x", false, 0, &cfg);
        g.truncate();
        g.close();
        assert_eq!(g.state, FileState::Truncated);
    }

    #[test]
    fn magic_of_common_types() {
        let mut pe = vec![0u8; 0x100];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        pe[0x98] = 0x0b;
        pe[0x99] = 0x01;
        assert_eq!(magic(&pe), Some("PE32 executable, for MS Windows"));
        assert_eq!(magic(b"MZ"), Some("MS-DOS executable"));
        assert_eq!(magic(b"%PDF-1.7\n"), Some("PDF document"));
        assert_eq!(magic(b"hello world\r\n"), Some("ASCII text"));
        assert_eq!(magic(b"\x00\x01\x02"), None);
    }
}
