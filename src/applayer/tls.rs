//! TLS record and handshake parsing for what detection and EVE use: the ClientHello (SNI,
//! JA3, JA4), the ServerHello (JA3S, negotiated version) and the server certificate (subject,
//! issuer, serial, SHA-1 fingerprint). Parsing stops where the traffic becomes encrypted.

use md5::Digest;

use std::io::Write;

use super::parser::{ParseCtx, Parser, Protocol, Transaction, TxDetect};
use super::{AppProto, AppStats, Buf, Probe};
use crate::common::json::{push_json_str, push_opt};

/// Handshake bytes buffered per direction while a message spans records.
const MAX_HANDSHAKE: usize = 64 * 1024;
/// Certificates kept from the chain.
const MAX_CERTS: usize = 8;

/// TLS state of one flow (the flow's single transaction).
#[derive(Debug, Default)]
pub struct TlsSession {
    rec: [Vec<u8>; 2],
    hs: [Vec<u8>; 2],
    /// No more plaintext handshake in this direction.
    done: [bool; 2],
    /// Record-layer version of the first ClientHello record.
    pub record_version: u16,
    /// Version negotiated by the ServerHello (supported_versions when present).
    pub version: Option<u16>,
    /// Server name from the ClientHello.
    pub sni: Option<Vec<u8>>,
    /// JA3 string and its MD5.
    pub ja3: Option<(String, String)>,
    /// JA3S string and its MD5.
    pub ja3s: Option<(String, String)>,
    /// JA4 fingerprint.
    pub ja4: Option<String>,
    /// ClientHello random.
    pub client_random: Option<[u8; 32]>,
    /// Certificates (DER) sent by the server, leaf first.
    pub certs: Vec<Vec<u8>>,
    /// Leaf certificate subject, issuer, serial and SHA-1 fingerprint.
    pub cert: Option<CertInfo>,
    /// Malformed records or messages seen.
    pub errors: u32,
    /// Detection and logging state of the session (the flow's one transaction).
    pub det: TxDetect,
    /// The session was counted as a transaction (at its first parsed handshake message).
    counted: bool,
}

/// TLS's registration.
pub static PROTOCOL: Protocol = Protocol {
    proto: AppProto::Tls,
    names: &["tls", "ssl"],
    event_type: "tls",
    switch: None,
    parser_error_event: "tls.parser_error",
    buffers: &[
        ("tls.sni", Buf::TlsSni),
        ("tls.cert_subject", Buf::TlsCertSubject),
        ("tls.cert_issuer", Buf::TlsCertIssuer),
        ("tls.cert_serial", Buf::TlsCertSerial),
        ("tls.cert_fingerprint", Buf::TlsCertFingerprint),
        ("tls.certs", Buf::TlsCerts),
        ("tls.random", Buf::TlsRandom),
        ("ja3.hash", Buf::Ja3Hash),
        ("ja3.string", Buf::Ja3String),
        ("ja3s.hash", Buf::Ja3sHash),
        ("ja3s.string", Buf::Ja3sString),
        ("ja4.hash", Buf::Ja4Hash),
    ],
    ports: &[],
    probe_tcp: Some(|d, _| probe(d)),
    probe_udp: None,
    new_parser: |_| Box::<TlsSession>::default(),
    event_by_name: |_| None,
    triggers_raw: true,
};

impl Transaction for TlsSession {
    fn proto(&self) -> AppProto {
        AppProto::Tls
    }

    fn id(&self) -> u64 {
        0
    }

    fn each(&self, b: Buf, _to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        TlsSession::each(self, b, f)
    }

    fn complete(&self) -> bool {
        self.server_done()
    }

    fn worth_logging(&self) -> bool {
        self.ja3.is_some()
    }

    fn write_eve(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"tls\":{");
        let mark = out.len();
        if let Some(c) = &self.cert {
            push_opt(out, "subject", Some(c.subject.as_bytes()));
            push_opt(out, "issuerdn", Some(c.issuer.as_bytes()));
            push_opt(out, "serial", Some(c.serial.as_bytes()));
            push_opt(out, "fingerprint", Some(c.fingerprint.as_bytes()));
        }
        push_opt(out, "sni", self.sni.as_deref());
        push_opt(out, "version", self.version_name().map(str::as_bytes));
        for (key, v) in [("ja3", &self.ja3), ("ja3s", &self.ja3s)] {
            if let Some((string, hash)) = v {
                let _ = write!(out, ",\"{key}\":{{\"hash\":");
                push_json_str(out, hash);
                out.extend_from_slice(b",\"string\":");
                push_json_str(out, string);
                out.push(b'}');
            }
        }
        push_opt(out, "ja4", self.ja4.as_deref().map(str::as_bytes));
        // Drop the leading comma of the first field.
        crate::common::json::strip_leading_comma(out, mark);
        out.push(b'}');
    }
}

impl Parser for TlsSession {
    fn feed(&mut self, to_server: bool, data: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        TlsSession::feed(self, to_server, data, cx.stats)
    }

    fn heap(&self) -> usize {
        TlsSession::heap(self)
    }

    crate::parser_single_tx!();
}

/// What detection and EVE use of a certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject DN (`C=US, O=..., CN=...`).
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial, hex bytes separated by `:`.
    pub serial: String,
    /// SHA-1 of the DER, lowercase hex separated by `:`.
    pub fingerprint: String,
}

/// Probe: a handshake record (or SSLv2 ClientHello) header.
pub fn probe(data: &[u8]) -> Probe {
    match data {
        [0x16] | [0x16, 0x03] => Probe::NeedMore,
        [0x16, 0x03, minor, ..] if *minor <= 4 => Probe::Found(super::AppProto::Tls),
        [0x80..=0xff, _, 0x01, 0x00 | 0x03, ..] => Probe::Found(super::AppProto::Tls),
        [0x80..=0xff] | [0x80..=0xff, _] | [0x80..=0xff, _, 0x01] => Probe::NeedMore,
        _ => Probe::NoMatch,
    }
}

fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// A bounds-checked reader over a byte slice.
struct Rd<'a> {
    d: &'a [u8],
    p: usize,
}

impl<'a> Rd<'a> {
    fn new(d: &'a [u8]) -> Self {
        Rd { d, p: 0 }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.d.get(self.p..self.p.checked_add(n)?)?;
        self.p += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_be_bytes([s[0], s[1]]))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|s| (usize::from(s[0]) << 16) | (usize::from(s[1]) << 8) | usize::from(s[2]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    fn rest(&self) -> usize {
        self.d.len() - self.p
    }
}

fn u16s(d: &[u8]) -> impl Iterator<Item = u16> + '_ {
    d.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]))
}

fn join<T: std::fmt::Display>(it: impl Iterator<Item = T>) -> String {
    let v: Vec<String> = it.map(|x| x.to_string()).collect();
    v.join("-")
}

/// Lowercase hex MD5 of a string (JA3, HASSH).
pub(crate) fn md5_hex(s: &str) -> String {
    let h = md5::Md5::digest(s.as_bytes());
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".into();
    }
    let h = sha2::Sha256::digest(s.as_bytes());
    h.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

impl TlsSession {
    /// Heap bytes held (record and handshake buffers, certificates), for the app-layer memcap.
    pub fn heap(&self) -> usize {
        std::mem::size_of::<TlsSession>()
            + self
                .rec
                .iter()
                .chain(&self.hs)
                .map(Vec::capacity)
                .sum::<usize>()
            + self.certs.iter().map(Vec::capacity).sum::<usize>()
            + self.sni.as_ref().map_or(0, Vec::capacity)
            + self.det.heap()
    }

    /// Feeds stream data of one direction; returns whether handshake data was parsed.
    pub fn feed(&mut self, to_server: bool, data: &[u8], stats: &mut AppStats) -> bool {
        let d = usize::from(!to_server);
        if self.done[d] {
            return false;
        }
        let mut rec = std::mem::take(&mut self.rec[d]);
        rec.extend_from_slice(data);
        let mut off = 0;
        let mut progressed = false;
        while rec.len() - off >= 5 && !self.done[d] {
            let ctype = rec[off];
            if ctype & 0x80 != 0 && off == 0 && self.record_version == 0 && to_server {
                // SSLv2-compatible ClientHello: nothing we fingerprint; stop.
                self.done[d] = true;
                break;
            }
            let ver = u16::from_be_bytes([rec[off + 1], rec[off + 2]]);
            let len = usize::from(u16::from_be_bytes([rec[off + 3], rec[off + 4]]));
            if rec[off + 1] != 3 || len > 18_432 {
                self.errors += 1;
                stats.parse_errors += 1;
                self.done[d] = true;
                break;
            }
            if rec.len() - off - 5 < len {
                break;
            }
            let body = &rec[off + 5..off + 5 + len];
            off += 5 + len;
            match ctype {
                22 => {
                    if self.record_version == 0 && to_server {
                        self.record_version = ver;
                    }
                    self.hs[d].extend_from_slice(body);
                    progressed |= self.handshake(d, stats);
                }
                20 | 23 => self.done[d] = true,
                21 | 24 => {}
                _ => {
                    self.errors += 1;
                    stats.parse_errors += 1;
                    self.done[d] = true;
                }
            }
        }
        rec.drain(..off);
        if rec.len() > MAX_HANDSHAKE {
            rec.clear();
            self.done[d] = true;
        }
        if !self.done[d] {
            self.rec[d] = rec;
        }
        if progressed {
            self.det.updated[d] = true;
            if !self.counted {
                self.counted = true;
                stats.count_tx(AppProto::Tls);
            }
        }
        progressed
    }

    /// Parses complete handshake messages buffered in direction `d`.
    fn handshake(&mut self, d: usize, stats: &mut AppStats) -> bool {
        let buf = std::mem::take(&mut self.hs[d]);
        let mut off = 0;
        let mut progressed = false;
        while buf.len() - off >= 4 {
            let t = buf[off];
            let len = (usize::from(buf[off + 1]) << 16)
                | (usize::from(buf[off + 2]) << 8)
                | usize::from(buf[off + 3]);
            if len > MAX_HANDSHAKE {
                self.done[d] = true;
                stats.parse_errors += 1;
                return progressed;
            }
            if buf.len() - off - 4 < len {
                break;
            }
            let body = &buf[off + 4..off + 4 + len];
            off += 4 + len;
            let ok = match t {
                1 if d == 0 => self.client_hello(body).is_some(),
                2 if d == 1 => self.server_hello(body).is_some(),
                11 => self.certificate(body).is_some(),
                _ => true,
            };
            if !ok {
                self.errors += 1;
                stats.parse_errors += 1;
            }
            progressed |= matches!(t, 1 | 2 | 11);
        }
        self.hs[d] = buf[off..].to_vec();
        progressed
    }

    fn client_hello(&mut self, body: &[u8]) -> Option<()> {
        let mut r = Rd::new(body);
        let version = r.u16()?;
        let random = r.take(32)?;
        let mut cr = [0u8; 32];
        cr.copy_from_slice(random);
        self.client_random = Some(cr);
        r.vec8()?;
        let ciphers: Vec<u16> = u16s(r.vec16()?).filter(|c| !is_grease(*c)).collect();
        r.vec8()?;
        let mut exts = Vec::new();
        let mut groups = Vec::new();
        let mut formats = Vec::new();
        let mut versions = Vec::new();
        let mut sigalgs = Vec::new();
        let mut alpn: Option<Vec<u8>> = None;
        if r.rest() >= 2 {
            let mut e = Rd::new(r.vec16()?);
            while e.rest() >= 4 {
                let et = e.u16()?;
                let data = e.vec16()?;
                if is_grease(et) {
                    continue;
                }
                exts.push(et);
                let mut x = Rd::new(data);
                match et {
                    0 => {
                        let mut list = Rd::new(x.vec16()?);
                        while list.rest() >= 3 {
                            let kind = list.u8()?;
                            let name = list.vec16()?;
                            if kind == 0 && self.sni.is_none() {
                                self.sni = Some(name.to_vec());
                            }
                        }
                    }
                    10 => groups = u16s(x.vec16()?).filter(|g| !is_grease(*g)).collect(),
                    11 => formats = x.vec8()?.to_vec(),
                    13 => sigalgs = u16s(x.vec16()?).collect(),
                    16 => {
                        let mut list = Rd::new(x.vec16()?);
                        if let Some(first) = list.vec8() {
                            alpn = Some(first.to_vec());
                        }
                    }
                    43 => versions = u16s(x.vec8()?).filter(|v| !is_grease(*v)).collect(),
                    _ => {}
                }
            }
        }
        let ja3 = format!(
            "{},{},{},{},{}",
            version,
            join(ciphers.iter()),
            join(exts.iter()),
            join(groups.iter()),
            join(formats.iter())
        );
        let hash = md5_hex(&ja3);
        self.ja3 = Some((ja3, hash));
        // JA4 (TLS over TCP).
        let top = versions.iter().copied().max().unwrap_or(version);
        let ver = match top {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 => "s2",
            _ => "00",
        };
        let alpn_tag = match alpn.as_deref() {
            Some([]) | None => "00".to_string(),
            Some(a) => {
                let (f, l) = (a[0], a[a.len() - 1]);
                if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
                    format!("{}{}", f as char, l as char)
                } else {
                    let hx = format!("{f:02x}{l:02x}");
                    format!("{}{}", &hx[..1], &hx[3..])
                }
            }
        };
        let mut sc: Vec<String> = ciphers.iter().map(|c| format!("{c:04x}")).collect();
        sc.sort();
        let mut se: Vec<String> = exts
            .iter()
            .filter(|e| **e != 0 && **e != 16)
            .map(|e| format!("{e:04x}"))
            .collect();
        se.sort();
        let mut ext_str = se.join(",");
        if !sigalgs.is_empty() {
            let sa: Vec<String> = sigalgs.iter().map(|s| format!("{s:04x}")).collect();
            ext_str.push('_');
            ext_str.push_str(&sa.join(","));
        }
        self.ja4 = Some(format!(
            "t{}{}{:02}{:02}{}_{}_{}",
            ver,
            if self.sni.is_some() { 'd' } else { 'i' },
            ciphers.len().min(99),
            exts.len().min(99),
            alpn_tag,
            sha256_12(&sc.join(",")),
            if se.is_empty() {
                "000000000000".to_string()
            } else {
                sha256_12(&ext_str)
            }
        ));
        Some(())
    }

    fn server_hello(&mut self, body: &[u8]) -> Option<()> {
        let mut r = Rd::new(body);
        let version = r.u16()?;
        r.take(32)?;
        r.vec8()?;
        let cipher = r.u16()?;
        r.u8()?;
        let mut exts = Vec::new();
        let mut selected = None;
        if r.rest() >= 2 {
            let mut e = Rd::new(r.vec16()?);
            while e.rest() >= 4 {
                let et = e.u16()?;
                let data = e.vec16()?;
                exts.push(et);
                if et == 43 && data.len() == 2 {
                    selected = Some(u16::from_be_bytes([data[0], data[1]]));
                }
            }
        }
        self.version = Some(selected.unwrap_or(version));
        let s = format!("{},{},{}", version, cipher, join(exts.iter()));
        let hash = md5_hex(&s);
        self.ja3s = Some((s, hash));
        Some(())
    }

    fn certificate(&mut self, body: &[u8]) -> Option<()> {
        let mut r = Rd::new(body);
        let total = r.u24()?;
        let mut list = Rd::new(r.take(total.min(r.rest()))?);
        while list.rest() >= 3 && self.certs.len() < MAX_CERTS {
            let n = list.u24()?;
            let der = list.take(n)?;
            if self.cert.is_none() {
                self.cert = parse_cert(der);
            }
            self.certs.push(der.to_vec());
        }
        Some(())
    }

    /// Calls `f` on each instance of `b`.
    pub fn each(&self, b: Buf, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        let cert = self.cert.as_ref();
        let one: Option<&[u8]> = match b {
            Buf::TlsSni => self.sni.as_deref(),
            Buf::TlsCertSubject => cert.map(|c| c.subject.as_bytes()),
            Buf::TlsCertIssuer => cert.map(|c| c.issuer.as_bytes()),
            Buf::TlsCertSerial => cert.map(|c| c.serial.as_bytes()),
            Buf::TlsCertFingerprint => cert.map(|c| c.fingerprint.as_bytes()),
            Buf::TlsRandom => self.client_random.as_ref().map(|r| &r[..]),
            Buf::Ja3Hash => self.ja3.as_ref().map(|j| j.1.as_bytes()),
            Buf::Ja3String => self.ja3.as_ref().map(|j| j.0.as_bytes()),
            Buf::Ja3sHash => self.ja3s.as_ref().map(|j| j.1.as_bytes()),
            Buf::Ja3sString => self.ja3s.as_ref().map(|j| j.0.as_bytes()),
            Buf::Ja4Hash => self.ja4.as_deref().map(str::as_bytes),
            Buf::TlsCerts => {
                if self.certs.is_empty() {
                    return None;
                }
                return Some(self.certs.iter().any(|c| f(c)));
            }
            _ => None,
        };
        one.map(f)
    }

    /// Whether the server side went encrypted (the handshake is as complete as it gets).
    pub fn server_done(&self) -> bool {
        self.done[1]
    }

    /// Suricata's name for the negotiated version (`TLS 1.2`...).
    pub fn version_name(&self) -> Option<&'static str> {
        Some(match self.version? {
            0x0304 => "TLSv1.3",
            0x0303 => "TLSv1.2",
            0x0302 => "TLSv1.1",
            0x0301 => "TLSv1",
            0x0300 => "SSLv3",
            0x0002 => "SSLv2",
            _ => "UNDETERMINED",
        })
    }
}

/// One DER element: tag, content, and the rest after it.
fn der(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *d.first()?;
    let l0 = *d.get(1)?;
    let (len, hdr) = if l0 & 0x80 == 0 {
        (usize::from(l0), 2)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*d.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let content = d.get(hdr..hdr.checked_add(len)?)?;
    Some((tag, content, &d[hdr + len..]))
}

fn oid_name(oid: &[u8]) -> String {
    let known: &[(&[u8], &str)] = &[
        (&[0x55, 0x04, 0x03], "CN"),
        (&[0x55, 0x04, 0x06], "C"),
        (&[0x55, 0x04, 0x07], "L"),
        (&[0x55, 0x04, 0x08], "ST"),
        (&[0x55, 0x04, 0x09], "street"),
        (&[0x55, 0x04, 0x0a], "O"),
        (&[0x55, 0x04, 0x0b], "OU"),
        (&[0x55, 0x04, 0x05], "serialNumber"),
        (&[0x55, 0x04, 0x0c], "title"),
        (&[0x55, 0x04, 0x2a], "GN"),
        (&[0x55, 0x04, 0x04], "SN"),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
            "emailAddress",
        ),
        (
            &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
            "DC",
        ),
    ];
    if let Some((_, n)) = known.iter().find(|(o, _)| *o == oid) {
        return (*n).to_string();
    }
    // Dotted form.
    let mut parts = Vec::new();
    if let Some(&first) = oid.first() {
        parts.push((first / 40).to_string());
        parts.push((first % 40).to_string());
        let mut v: u64 = 0;
        for &b in &oid[1..] {
            v = (v << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                parts.push(v.to_string());
                v = 0;
            }
        }
    }
    parts.join(".")
}

fn name_string(name: &[u8]) -> Option<String> {
    let mut out = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let (_, set, r) = der(rest)?;
        rest = r;
        let mut atvs = set;
        while !atvs.is_empty() {
            let (_, atv, r2) = der(atvs)?;
            atvs = r2;
            let (_, oid, v) = der(atv)?;
            let (vt, val, _) = der(v)?;
            let text = if vt == 0x1e {
                // BMPString: UTF-16BE.
                let units: Vec<u16> = u16s(val).collect();
                String::from_utf16_lossy(&units)
            } else {
                String::from_utf8_lossy(val).into_owned()
            };
            out.push(format!("{}={}", oid_name(oid), text));
        }
    }
    Some(out.join(", "))
}

/// Subject, issuer, serial and fingerprint of a DER certificate.
pub fn parse_cert(cert: &[u8]) -> Option<CertInfo> {
    let (_, c, _) = der(cert)?;
    let (_, mut tbs, _) = der(c)?;
    let (tag, _, r) = der(tbs)?;
    if tag == 0xa0 {
        tbs = r;
    }
    let (_, serial, r) = der(tbs)?;
    let (_, _sigalg, r) = der(r)?;
    let (_, issuer, r) = der(r)?;
    let (_, _validity, r) = der(r)?;
    let (_, subject, _) = der(r)?;
    let fp = sha1_smol::Sha1::from(cert).digest().bytes();
    Some(CertInfo {
        subject: name_string(subject)?,
        issuer: name_string(issuer)?,
        serial: serial
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
        fingerprint: fp
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record with SNI, groups, point formats, ALPN and a GREASE cipher.
    fn client_hello(sni: &str) -> Vec<u8> {
        let mut exts = Vec::new();
        let mut sn = vec![0u8];
        sn.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        sn.extend_from_slice(sni.as_bytes());
        let mut list = (sn.len() as u16).to_be_bytes().to_vec();
        list.extend_from_slice(&sn);
        for (t, d) in [
            (0u16, list),
            (10, vec![0, 4, 0, 0x1d, 0, 0x17]),
            (11, vec![1, 0]),
            (16, vec![0, 3, 2, b'h', b'2']),
        ] {
            exts.extend_from_slice(&t.to_be_bytes());
            exts.extend_from_slice(&(d.len() as u16).to_be_bytes());
            exts.extend_from_slice(&d);
        }
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 6, 0x0a, 0x0a, 0xc0, 0x2f, 0x00, 0x9c]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn client_hello_sni_ja3_ja4_in_pieces() {
        let rec = client_hello("ftp.example.org");
        assert_eq!(probe(&rec), Probe::Found(super::super::AppProto::Tls));
        let mut s = TlsSession::default();
        let mut st = AppStats::default();
        for c in rec.chunks(5) {
            s.feed(true, c, &mut st);
        }
        assert_eq!(s.sni.as_deref(), Some(&b"ftp.example.org"[..]));
        // The session is one transaction in the counters.
        assert_eq!(st.txs[AppProto::Tls.index().unwrap()], 1);
        let (ja3, hash) = s.ja3.clone().unwrap();
        assert_eq!(ja3, "771,49199-156,0-10-11-16,29-23,0");
        assert_eq!(hash, md5_hex("771,49199-156,0-10-11-16,29-23,0"));
        let ja4 = s.ja4.clone().unwrap();
        assert!(ja4.starts_with("t12d0204h2_"), "{ja4}");
        let mut got = None;
        s.each(Buf::TlsSni, &mut |b| {
            got = Some(b.to_vec());
            true
        });
        assert_eq!(got.unwrap(), b"ftp.example.org");
    }

    #[test]
    fn hostile_records_stop_cleanly() {
        let mut st = AppStats::default();
        let rec = client_hello("x");
        for cut in 0..rec.len() {
            let mut s = TlsSession::default();
            s.feed(true, &rec[..cut], &mut st);
            let mut bad = rec.clone();
            bad[cut] ^= 0xff;
            let mut s = TlsSession::default();
            s.feed(true, &bad, &mut st);
        }
        assert!(parse_cert(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(parse_cert(&[]).is_none());
        assert_eq!(probe(b"GET /"), Probe::NoMatch);
    }

    #[test]
    fn der_names() {
        // SEQUENCE { SET { SEQUENCE { OID CN, UTF8String "a.example" } } }
        let atv = [
            &[0x30, 0x10, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x09][..],
            b"a.example",
        ]
        .concat();
        let set = [&[0x31, atv.len() as u8][..], &atv].concat();
        assert_eq!(name_string(&set).unwrap(), "CN=a.example");
        assert_eq!(oid_name(&[0x2b, 0x06, 0x01]), "1.3.6.1");
    }
}
