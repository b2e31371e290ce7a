//! SSH: the banner exchange and the key-exchange init of each side (protocol and software
//! versions, HASSH fingerprints), then nothing more: after NEWKEYS a direction is encrypted,
//! and once both are the session asks for no further payload inspection.
//!
//! Lines before the banner are bounded, as is the one record buffered (KEXINIT); other
//! records are skipped by their length without being kept.

use super::parser::{ParseCtx, Parser, Protocol, Transaction, TxDetect};
use super::{AppProto, AppStats, Buf, Probe};
use crate::common::json::{push_json_bytes, push_key};

/// SSH anomalies.
pub mod event {
    /// A banner that is not `SSH-<proto>-<software>`.
    pub const INVALID_BANNER: u32 = 1 << 0;
    /// A banner (or a line before it) longer than allowed.
    pub const LONG_BANNER: u32 = 1 << 1;
    /// A binary record with an impossible length or padding.
    pub const INVALID_RECORD: u32 = 1 << 2;
    /// A KEXINIT larger than kept.
    pub const LONG_KEX_RECORD: u32 = 1 << 3;

    /// The bit of an `app-layer-event:ssh.<name>` name.
    pub fn by_name(name: &str) -> Option<u32> {
        match name {
            "invalid_banner" => Some(INVALID_BANNER),
            "long_banner" => Some(LONG_BANNER),
            "invalid_record" => Some(INVALID_RECORD),
            "long_kex_record" => Some(LONG_KEX_RECORD),
            _ => None,
        }
    }
}

/// Longest banner line kept (RFC 4253: 255).
const MAX_BANNER: usize = 8192;
/// Lines a server may send before its banner.
const MAX_PRE_LINES: u32 = 64;
/// Largest KEXINIT kept.
const MAX_KEX: usize = 64 * 1024;
/// Largest record length accepted.
const MAX_RECORD: u32 = 256 * 1024;

const MSG_KEXINIT: u8 = 20;
const MSG_NEWKEYS: u8 = 21;

/// One side of the session.
#[derive(Debug, Default)]
pub struct SshSide {
    /// Protocol version (`2.0`).
    pub proto: Option<Vec<u8>>,
    /// Software version (`OpenSSH_9.6`).
    pub software: Option<Vec<u8>>,
    /// HASSH string and its MD5.
    pub hassh: Option<(String, String)>,
    /// NEWKEYS seen: what follows is encrypted.
    pub encrypted: bool,
    /// Bytes of this direction parsed (where encryption started, once `encrypted`).
    fed: u64,
    /// The record being skipped is NEWKEYS: encryption starts after it.
    newkeys: bool,
    buf: Vec<u8>,
    /// Bytes of the current record still to skip.
    skip: u64,
    pre_lines: u32,
    banner_done: bool,
}

/// The flow's one SSH transaction.
#[derive(Debug, Default)]
pub struct SshSession {
    /// Client (0) and server (1).
    pub sides: [SshSide; 2],
    /// [`event`] bits.
    pub events: u32,
    /// Detection and logging state.
    pub det: TxDetect,
    counted: bool,
}

/// SSH's registration.
pub static PROTOCOL: Protocol = Protocol {
    proto: AppProto::Ssh,
    names: &["ssh"],
    event_type: "ssh",
    switch: None,
    parser_error_event: "ssh.parser_error",
    buffers: &[
        ("ssh.proto", Buf::SshProto),
        ("ssh.software", Buf::SshSoftware),
        ("ssh.hassh", Buf::SshHassh),
        ("ssh.hassh.string", Buf::SshHasshString),
        ("ssh.hassh.server", Buf::SshHasshServer),
        ("ssh.hassh.server.string", Buf::SshHasshServerString),
    ],
    ports: &[],
    probe_tcp: Some(probe),
    probe_udp: None,
    new_parser: |_| Box::<SshSession>::default(),
    event_by_name: event::by_name,
    triggers_raw: true,
};

/// Probe: a banner starting `SSH-` from either side.
pub fn probe(data: &[u8], _to_server: bool) -> Probe {
    let n = data.len().min(4);
    if data[..n] != b"SSH-"[..n] {
        Probe::NoMatch
    } else if n < 4 {
        Probe::NeedMore
    } else {
        Probe::Found(AppProto::Ssh)
    }
}

impl SshSession {
    fn feed(&mut self, to_server: bool, mut data: &[u8], stats: &mut AppStats) -> bool {
        let d = usize::from(!to_server);
        let mut progressed = false;
        while !data.is_empty() && !self.sides[d].encrypted {
            let side = &mut self.sides[d];
            let used = if side.skip > 0 {
                let n = side.skip.min(data.len() as u64) as usize;
                side.skip -= n as u64;
                n
            } else if !side.banner_done {
                let used;
                (used, progressed) = self.banner(d, data, progressed);
                used
            } else {
                self.record(d, data, &mut progressed)
            };
            data = &data[used..];
            let side = &mut self.sides[d];
            side.fed += used as u64;
            if side.newkeys && side.skip == 0 {
                side.newkeys = false;
                side.encrypted = true;
                progressed = true;
            }
        }
        if progressed && !self.counted {
            self.counted = true;
            stats.count_tx(AppProto::Ssh);
        }
        progressed
    }

    /// Consumes banner-phase bytes; returns the bytes used and whether anything changed.
    fn banner(&mut self, d: usize, data: &[u8], mut progressed: bool) -> (usize, bool) {
        let side = &mut self.sides[d];
        let (used, line) = match memchr::memchr(b'\n', data) {
            Some(i) => (i + 1, true),
            None => (data.len(), false),
        };
        let room = MAX_BANNER.saturating_sub(side.buf.len());
        side.buf.extend_from_slice(&data[..used.min(room)]);
        if !line {
            if side.buf.len() >= MAX_BANNER {
                self.events |= event::LONG_BANNER;
                side.banner_done = true;
                side.buf.clear();
                progressed = true;
            }
            return (used, progressed);
        }
        let l = std::mem::take(&mut side.buf);
        let l = l.strip_suffix(b"\n").unwrap_or(&l);
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        let Some(rest) = l.strip_prefix(b"SSH-") else {
            side.pre_lines += 1;
            if side.pre_lines > MAX_PRE_LINES || d == 0 {
                self.events |= event::INVALID_BANNER;
                side.banner_done = true;
                progressed = true;
            }
            return (used, progressed);
        };
        side.banner_done = true;
        let Some(dash) = rest.iter().position(|&b| b == b'-') else {
            self.events |= event::INVALID_BANNER;
            side.proto = Some(rest.to_vec());
            return (used, true);
        };
        side.proto = Some(rest[..dash].to_vec());
        let sw = &rest[dash + 1..];
        let end = sw.iter().position(|&b| b == b' ').unwrap_or(sw.len());
        side.software = Some(sw[..end].to_vec());
        if used > MAX_BANNER {
            self.events |= event::LONG_BANNER;
        }
        (used, true)
    }

    /// Consumes binary-packet bytes; returns the bytes used.
    fn record(&mut self, d: usize, data: &[u8], progressed: &mut bool) -> usize {
        let side = &mut self.sides[d];
        // The header (length, padding length, message type) is gathered first.
        if side.buf.len() < 6 {
            let n = (6 - side.buf.len()).min(data.len());
            side.buf.extend_from_slice(&data[..n]);
            if side.buf.len() < 6 {
                return n;
            }
            let len = u32::from_be_bytes([side.buf[0], side.buf[1], side.buf[2], side.buf[3]]);
            // The padding leaves at least the message type (RFC 4253 6: length covers the
            // padding-length byte, the payload and the padding).
            if !(2..=MAX_RECORD).contains(&len) || u32::from(side.buf[4]) + 2 > len {
                // Not a cleartext record: stop parsing this side.
                self.events |= event::INVALID_RECORD;
                side.encrypted = true;
                side.buf.clear();
                *progressed = true;
                return data.len();
            }
            let msg = side.buf[5];
            let body = u64::from(len) - 2;
            match msg {
                MSG_NEWKEYS => {
                    // Encrypted from the end of this record on.
                    side.newkeys = true;
                    side.skip = body;
                    side.buf.clear();
                    return n;
                }
                MSG_KEXINIT if side.hassh.is_none() && (len as usize) <= MAX_KEX => {}
                MSG_KEXINIT if side.hassh.is_none() => {
                    self.events |= event::LONG_KEX_RECORD;
                    side.skip = body;
                    side.buf.clear();
                    return n;
                }
                _ => {
                    side.skip = body;
                    side.buf.clear();
                    return n;
                }
            }
            return n;
        }
        // A KEXINIT being gathered.
        let len = u32::from_be_bytes([side.buf[0], side.buf[1], side.buf[2], side.buf[3]]) as usize;
        let total = len + 4;
        let n = (total - side.buf.len()).min(data.len());
        side.buf.extend_from_slice(&data[..n]);
        if side.buf.len() == total {
            let pad = usize::from(side.buf[4]);
            let payload = &side.buf[6..total - pad];
            side.hassh = hassh(payload, d == 0);
            side.buf.clear();
            *progressed = true;
        }
        n
    }

    fn side(&self, to_server: bool) -> &SshSide {
        &self.sides[usize::from(!to_server)]
    }
}

/// HASSH of a KEXINIT payload (after the message type): the client's uses the client-to-
/// server algorithms, the server's the server-to-client ones.
fn hassh(p: &[u8], client: bool) -> Option<(String, String)> {
    let mut rest = p.get(16..)?;
    let mut lists: Vec<&[u8]> = Vec::with_capacity(10);
    for _ in 0..10 {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        lists.push(rest.get(4..4 + len)?);
        rest = &rest[4 + len..];
    }
    let (enc, mac, comp) = if client { (2, 4, 6) } else { (3, 5, 7) };
    let s = [lists[0], lists[enc], lists[mac], lists[comp]]
        .iter()
        .map(|l| String::from_utf8_lossy(l))
        .collect::<Vec<_>>()
        .join(";");
    let hex = super::tls::md5_hex(&s);
    Some((s, hex))
}

impl Transaction for SshSession {
    fn proto(&self) -> AppProto {
        AppProto::Ssh
    }

    fn id(&self) -> u64 {
        0
    }

    fn each(&self, b: Buf, to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        let side = self.side(to_server);
        fn hassh(s: &SshSide, string: bool) -> Option<&[u8]> {
            s.hassh
                .as_ref()
                .map(|(st, h)| if string { st.as_bytes() } else { h.as_bytes() })
        }
        let v: Option<&[u8]> = match b {
            Buf::SshProto => side.proto.as_deref(),
            Buf::SshSoftware => side.software.as_deref(),
            Buf::SshHassh if to_server => hassh(&self.sides[0], false),
            Buf::SshHasshString if to_server => hassh(&self.sides[0], true),
            Buf::SshHasshServer if !to_server => hassh(&self.sides[1], false),
            Buf::SshHasshServerString if !to_server => hassh(&self.sides[1], true),
            _ => None,
        };
        v.map(f)
    }

    fn settled(&self, b: Buf, to_server: bool) -> bool {
        let side = self.side(to_server);
        match b {
            Buf::SshProto | Buf::SshSoftware => side.banner_done,
            _ => side.hassh.is_some() || side.encrypted,
        }
    }

    fn events(&self) -> u32 {
        self.events
    }

    fn complete(&self) -> bool {
        self.sides.iter().all(|s| s.encrypted)
    }

    fn worth_logging(&self) -> bool {
        self.sides.iter().any(|s| s.proto.is_some())
    }

    fn write_eve(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"ssh\":{");
        let mut first = true;
        for (name, s) in [("client", &self.sides[0]), ("server", &self.sides[1])] {
            if s.proto.is_none() {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            push_key(out, name);
            out.push(b'{');
            push_key(out, "proto_version");
            push_json_bytes(out, s.proto.as_deref().unwrap_or_default());
            if let Some(sw) = &s.software {
                out.push(b',');
                push_key(out, "software_version");
                push_json_bytes(out, sw);
            }
            if let Some((string, hash)) = &s.hassh {
                out.push(b',');
                push_key(out, "hassh");
                out.push(b'{');
                push_key(out, "hash");
                push_json_bytes(out, hash.as_bytes());
                out.push(b',');
                push_key(out, "string");
                push_json_bytes(out, string.as_bytes());
                out.push(b'}');
            }
            out.push(b'}');
        }
        out.push(b'}');
    }
}

impl Parser for SshSession {
    fn feed(&mut self, to_server: bool, data: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        let p = SshSession::feed(self, to_server, data, cx.stats);
        if p {
            self.det.updated[usize::from(!to_server)] = true;
        }
        p
    }

    fn heap(&self) -> usize {
        self.sides
            .iter()
            .map(|s| {
                s.buf.capacity()
                    + s.proto.as_ref().map_or(0, Vec::capacity)
                    + s.software.as_ref().map_or(0, Vec::capacity)
                    + s.hassh
                        .as_ref()
                        .map_or(0, |(a, b)| a.capacity() + b.capacity())
            })
            .sum::<usize>()
            + self.det.heap()
    }

    crate::parser_single_tx!();

    fn encrypted(&self) -> Option<[u64; 2]> {
        let [c, s] = &self.sides;
        (c.encrypted && s.encrypted).then_some([c.fed, s.fed])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::AppConfig;

    fn kexinit(lists: [&str; 10]) -> Vec<u8> {
        let mut payload = vec![MSG_KEXINIT];
        payload.extend_from_slice(&[7u8; 16]);
        for l in lists {
            payload.extend_from_slice(&(l.len() as u32).to_be_bytes());
            payload.extend_from_slice(l.as_bytes());
        }
        payload.extend_from_slice(&[0, 0, 0, 0, 0]);
        let pad = 4;
        let len = (payload.len() + 1 + pad) as u32;
        let mut rec = len.to_be_bytes().to_vec();
        rec.push(pad as u8);
        rec.extend_from_slice(&payload);
        rec.extend_from_slice(&[0; 4]);
        rec
    }

    #[test]
    fn banners_hassh_then_encrypted() {
        let cfg = AppConfig::default();
        let mut stats = AppStats::default();
        let mut cx = ParseCtx {
            cfg: &cfg,
            stats: &mut stats,
        };
        let mut s = SshSession::default();
        let lists = [
            "curve25519-sha256",
            "ssh-ed25519",
            "aes128-ctr",
            "aes256-ctr",
            "hmac-sha2-256",
            "hmac-sha1",
            "none",
            "zlib",
            "",
            "",
        ];
        let mut client = b"SSH-2.0-OpenSSH_9.6 Ubuntu\r\n".to_vec();
        client.extend_from_slice(&kexinit(lists));
        client.extend_from_slice(&[0, 0, 0, 12, 10, MSG_NEWKEYS, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        client.extend_from_slice(b"\xde\xad\xbe\xef encrypted");
        // One byte at a time: the parser holds no assumption about segmentation.
        for b in &client {
            Parser::feed(&mut s, true, std::slice::from_ref(b), &mut cx);
        }
        assert_eq!(s.sides[0].proto.as_deref(), Some(&b"2.0"[..]));
        assert_eq!(s.sides[0].software.as_deref(), Some(&b"OpenSSH_9.6"[..]));
        let (string, hash) = s.sides[0].hassh.clone().unwrap();
        assert_eq!(string, "curve25519-sha256;aes128-ctr;hmac-sha2-256;none");
        assert_eq!(hash.len(), 32);
        assert!(s.sides[0].encrypted && Parser::encrypted(&s).is_none());
        Parser::feed(&mut s, false, b"SSH-1.99-Cisco-1.25\r\n", &mut cx);
        Parser::feed(&mut s, false, &kexinit(lists), &mut cx);
        assert_eq!(
            s.sides[1].hassh.as_ref().unwrap().0,
            "curve25519-sha256;aes256-ctr;hmac-sha1;zlib"
        );
        Parser::feed(
            &mut s,
            false,
            &[0, 0, 0, 12, 10, MSG_NEWKEYS, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &mut cx,
        );
        assert!(Parser::encrypted(&s).is_some());
        let mut out = Vec::new();
        s.write_eve(&mut out);
        let v: serde_json::Value =
            serde_json::from_slice(out[1..].splitn(2, |&b| b == b':').nth(1).unwrap()).unwrap();
        assert_eq!(v["server"]["software_version"], "Cisco-1.25");
    }

    #[test]
    fn padding_as_long_as_the_record_is_refused() {
        // Found by fuzzing: a KEXINIT whose padding covers its message type.
        let cfg = AppConfig::default();
        let mut stats = AppStats::default();
        let mut cx = ParseCtx {
            cfg: &cfg,
            stats: &mut stats,
        };
        let mut s = SshSession::default();
        Parser::feed(
            &mut s,
            true,
            b"SSH-2.0-x\r\n\x00\x00\x00\x03\x02\x14\x00\x00",
            &mut cx,
        );
        assert!(s.events & event::INVALID_RECORD != 0);
    }

    #[test]
    fn hostile_input_is_bounded() {
        let cfg = AppConfig::default();
        let mut stats = AppStats::default();
        let mut cx = ParseCtx {
            cfg: &cfg,
            stats: &mut stats,
        };
        let mut s = SshSession::default();
        let junk = vec![b'A'; 100_000];
        Parser::feed(&mut s, false, &junk, &mut cx);
        assert!(s.events & event::LONG_BANNER != 0);
        assert!(Parser::heap(&s) < 2 * MAX_BANNER);
        let mut t = SshSession::default();
        Parser::feed(
            &mut t,
            true,
            b"SSH-2.0-x\r\n\xff\xff\xff\xff\x00\x14",
            &mut cx,
        );
        assert!(t.events & event::INVALID_RECORD != 0);
    }
}
