//! IKE (versions 1 and 2) over UDP 500 and 4500 (NAT traversal, after its non-ESP marker):
//! each message is a transaction with its header, the payload types it chains, and the
//! unencrypted payloads detection and analysts care about: IKEv2 security-association
//! proposals (with weak-crypto events as Suricata raises them), key exchange, nonce, notify
//! and vendor IDs. Encrypted payloads end the walk. Every count and length is bounded.

use std::io::Write as _;

use super::parser::{ParseCtx, Parser, Protocol, Transaction, TxDetect};
use super::{AppProto, Buf};
use crate::common::json::{push_json_str, push_key};

/// IKE anomalies (`app-layer-event:ike.<name>`, also spelled `ikev2.<name>`).
pub mod event {
    /// A message or payload whose lengths do not hold.
    pub const MALFORMED_DATA: u32 = 1 << 0;
    /// An AH proposal (integrity without encryption).
    pub const NO_ENCRYPTION: u32 = 1 << 1;
    /// A weak encryption transform (DES, 3DES, RC5, IDEA, CAST, Blowfish, NULL).
    pub const WEAK_CRYPTO_ENC: u32 = 1 << 2;
    /// A weak pseudo-random function (NULL, HMAC-MD5, HMAC-SHA1).
    pub const WEAK_CRYPTO_PRF: u32 = 1 << 3;
    /// A weak Diffie-Hellman group (MODP 768, 1024, 1536, 1024 with 160-bit subgroup).
    pub const WEAK_CRYPTO_DH: u32 = 1 << 4;
    /// A weak integrity transform (HMAC-MD5-96, HMAC-SHA1-96, DES-MAC, ...).
    pub const WEAK_CRYPTO_AUTH: u32 = 1 << 5;
    /// A proposal without Diffie-Hellman.
    pub const WEAK_CRYPTO_NODH: u32 = 1 << 6;
    /// A proposal without integrity and without an AEAD cipher.
    pub const WEAK_CRYPTO_NOAUTH: u32 = 1 << 7;
    /// A proposal that does not parse.
    pub const INVALID_PROPOSAL: u32 = 1 << 8;
    /// A transform of an unknown type.
    pub const UNKNOWN_PROPOSAL: u32 = 1 << 9;
    /// Bytes after the last payload.
    pub const PAYLOAD_EXTRA_DATA: u32 = 1 << 10;
    /// A responder answering with more than one proposal.
    pub const MULTIPLE_SERVER_PROPOSAL: u32 = 1 << 11;

    /// The bit of an `app-layer-event:ike.<name>` name.
    pub fn by_name(name: &str) -> Option<u32> {
        Some(match name {
            "malformed_data" => MALFORMED_DATA,
            "no_encryption" => NO_ENCRYPTION,
            "weak_crypto_enc" => WEAK_CRYPTO_ENC,
            "weak_crypto_prf" => WEAK_CRYPTO_PRF,
            "weak_crypto_dh" => WEAK_CRYPTO_DH,
            "weak_crypto_auth" => WEAK_CRYPTO_AUTH,
            "weak_crypto_nodh" => WEAK_CRYPTO_NODH,
            "weak_crypto_noauth" => WEAK_CRYPTO_NOAUTH,
            "invalid_proposal" => INVALID_PROPOSAL,
            "unknown_proposal" => UNKNOWN_PROPOSAL,
            "payload_extra_data" => PAYLOAD_EXTRA_DATA,
            "multiple_server_proposal" => MULTIPLE_SERVER_PROPOSAL,
            _ => return None,
        })
    }
}

/// Payloads walked per message.
const MAX_PAYLOADS: usize = 32;
/// Vendor IDs and notifications kept per message.
const MAX_ITEMS: usize = 16;
/// Key-exchange and nonce bytes kept.
const MAX_DATA: usize = 1024;
/// Transactions kept per flow (datagrams are inspected and logged as they come).
const MAX_TXS: usize = 16;

/// One IKEv2 transform: type (1 ENCR, 2 PRF, 3 INTEG, 4 DH, 5 ESN) and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transform {
    /// Transform type.
    pub kind: u8,
    /// Transform id.
    pub id: u16,
}

/// One IKE message.
#[derive(Debug, Default)]
pub struct IkeTx {
    id: u64,
    /// Sent by the initiator side of the flow.
    pub to_server: bool,
    /// Initiator and responder SPIs.
    pub spi: [[u8; 8]; 2],
    /// Major and minor version.
    pub version: (u8, u8),
    /// Exchange type.
    pub exchange: u8,
    /// Header flags.
    pub flags: u8,
    /// Message id.
    pub msg_id: u32,
    /// Payload types in chain order (at most [`MAX_PAYLOADS`]).
    pub payloads: Vec<u8>,
    /// IKEv2 proposals: each one's protocol id and transforms.
    pub proposals: Vec<(u8, Vec<Transform>)>,
    /// Key-exchange data (at most [`MAX_DATA`] bytes) and its full length.
    pub ke: Option<(Vec<u8>, u32)>,
    /// Nonce (at most [`MAX_DATA`] bytes) and its full length.
    pub nonce: Option<(Vec<u8>, u32)>,
    /// Vendor IDs as lower-case hex.
    pub vendors: Vec<String>,
    /// IKEv2 notify message types.
    pub notify: Vec<u16>,
    /// Payloads after the header are encrypted (IKEv1 flag, IKEv2 SK payload).
    pub encrypted: bool,
    /// [`event`] bits.
    pub events: u32,
    /// Detection and logging state.
    pub det: TxDetect,
}

/// A flow's IKE messages.
#[derive(Debug, Default)]
pub struct IkeState {
    txs: Vec<IkeTx>,
    next_id: u64,
}

/// IKE's registration.
pub static PROTOCOL: Protocol = Protocol {
    proto: AppProto::Ike,
    names: &["ike", "ikev2"],
    event_type: "ike",
    switch: None,
    parser_error_event: "ike.parser_error",
    buffers: &[
        ("ike.init_spi", Buf::IkeInitSpi),
        ("ike.resp_spi", Buf::IkeRespSpi),
        ("ike.vendor", Buf::IkeVendor),
        ("ike.key_exchange_payload", Buf::IkeKePayload),
        ("ike.nonce_payload", Buf::IkeNoncePayload),
        ("ike.exchtype", Buf::IkeExchType),
        ("ike.key_exchange_payload_length", Buf::IkeKeLen),
        ("ike.nonce_payload_length", Buf::IkeNonceLen),
    ],
    ports: &[500, 4500],
    probe_tcp: None,
    probe_udp: Some(probe),
    new_parser: |_| Box::<IkeState>::default(),
    event_by_name: event::by_name,
    triggers_raw: false,
};

/// The IKE message in a datagram: past the non-ESP marker of NAT traversal, when there is
/// one. None for ESP on port 4500 and for anything without a plausible IKE header.
fn message(d: &[u8]) -> Option<&[u8]> {
    let m = match d {
        [0, 0, 0, 0, rest @ ..] if rest.len() >= 28 => rest,
        _ => d,
    };
    if m.len() < 28 || m[..8] == [0; 8] || !matches!(m[17] >> 4, 1 | 2) {
        return None;
    }
    let len = u32::from_be_bytes([m[24], m[25], m[26], m[27]]) as usize;
    (28..=m.len()).contains(&len).then(|| &m[..len])
}

/// UDP probe: an IKE header (version 1 or 2, non-zero initiator SPI, a length that fits).
pub fn probe(d: &[u8]) -> bool {
    message(d).is_some()
}

fn be16(d: &[u8]) -> u16 {
    u16::from_be_bytes([d[0], d[1]])
}

/// Whether an IKEv2 encryption transform is an AEAD cipher (integrity built in).
fn aead(id: u16) -> bool {
    matches!(id, 14..=16 | 18..=20 | 28)
}

impl IkeTx {
    /// Walks the payload chain starting with type `next` over `d`.
    fn walk(&mut self, mut next: u8, mut d: &[u8]) {
        let v2 = self.version.0 == 2;
        if !v2 && self.flags & 1 != 0 {
            self.encrypted = true;
            return;
        }
        while next != 0 {
            if self.payloads.len() >= MAX_PAYLOADS {
                return;
            }
            self.payloads.push(next);
            if d.len() < 4 {
                self.events |= event::MALFORMED_DATA;
                return;
            }
            let len = usize::from(be16(&d[2..4]));
            if len < 4 || len > d.len() {
                self.events |= event::MALFORMED_DATA;
                return;
            }
            let body = &d[4..len];
            match (v2, next) {
                (true, 46) => {
                    self.encrypted = true;
                    return;
                }
                (true, 33) => self.proposals_v2(body),
                (true, 34) if body.len() >= 4 => self.set_ke(&body[4..]),
                (false, 4) => self.set_ke(body),
                (true, 40) | (false, 10) => {
                    let keep = body.len().min(MAX_DATA);
                    self.nonce = Some((body[..keep].to_vec(), body.len() as u32));
                }
                (true, 41) if body.len() >= 4 && self.notify.len() < MAX_ITEMS => {
                    self.notify.push(be16(&body[2..4]));
                }
                (true, 43) | (false, 13) if self.vendors.len() < MAX_ITEMS => {
                    self.vendors
                        .push(super::files::hex(&body[..body.len().min(64)]));
                }
                _ => {}
            }
            next = d[0];
            d = &d[len..];
        }
        if !d.is_empty() {
            self.events |= event::PAYLOAD_EXTRA_DATA;
        }
    }

    fn set_ke(&mut self, data: &[u8]) {
        let keep = data.len().min(MAX_DATA);
        self.ke = Some((data[..keep].to_vec(), data.len() as u32));
    }

    /// An IKEv2 SA payload: its proposals and their transforms, checked for weak crypto.
    fn proposals_v2(&mut self, mut d: &[u8]) {
        while !d.is_empty() {
            if d.len() < 8 {
                self.events |= event::INVALID_PROPOSAL;
                return;
            }
            let len = usize::from(be16(&d[2..4]));
            let (proto, spi_size, count) = (d[5], usize::from(d[6]), d[7]);
            if len < 8 + spi_size || len > d.len() {
                self.events |= event::INVALID_PROPOSAL;
                return;
            }
            let mut t = &d[8 + spi_size..len];
            let mut transforms = Vec::new();
            for _ in 0..count {
                if t.len() < 8 {
                    self.events |= event::INVALID_PROPOSAL;
                    break;
                }
                let tl = usize::from(be16(&t[2..4]));
                if tl < 8 || tl > t.len() {
                    self.events |= event::INVALID_PROPOSAL;
                    break;
                }
                if transforms.len() < 64 {
                    transforms.push(Transform {
                        kind: t[4],
                        id: be16(&t[6..8]),
                    });
                }
                t = &t[tl..];
            }
            self.events |= weak_crypto(proto, &transforms);
            if self.proposals.len() < MAX_ITEMS {
                self.proposals.push((proto, transforms));
            }
            let last = d[0] == 0;
            d = &d[len..];
            if last {
                break;
            }
        }
    }
}

/// The weak-crypto events of one IKEv2 proposal (RFC 8247's guidance, as Suricata applies
/// it).
fn weak_crypto(proto: u8, ts: &[Transform]) -> u32 {
    let mut ev = 0;
    for t in ts {
        ev |= match (t.kind, t.id) {
            (1, 1..=9 | 11) => event::WEAK_CRYPTO_ENC,
            (2, 1 | 2) => event::WEAK_CRYPTO_PRF,
            (3, 1..=7) => event::WEAK_CRYPTO_AUTH,
            (4, 0) => event::WEAK_CRYPTO_NODH,
            (4, 1 | 2 | 5 | 22) => event::WEAK_CRYPTO_DH,
            (1..=5, _) => 0,
            _ => event::UNKNOWN_PROPOSAL,
        };
    }
    if !ts.iter().any(|t| t.kind == 4) {
        ev |= event::WEAK_CRYPTO_NODH;
    }
    if proto == 2 {
        ev |= event::NO_ENCRYPTION;
    }
    let integrity = ts.iter().any(|t| t.kind == 3 && t.id != 0);
    let aead_enc = ts.iter().any(|t| t.kind == 1 && aead(t.id));
    if !integrity && !aead_enc {
        ev |= event::WEAK_CRYPTO_NOAUTH;
    }
    ev
}

impl IkeState {
    fn datagram(&mut self, to_server: bool, d: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        let Some(m) = message(d) else {
            // ESP sharing the NAT-traversal port, or not IKE at all: not parsed.
            cx.stats.data_cut += d.len() as u64;
            return false;
        };
        if self.txs.len() >= MAX_TXS {
            self.txs.remove(0);
            cx.stats.tx_limit_hits += 1;
        }
        cx.stats.count_tx(AppProto::Ike);
        let mut tx = IkeTx {
            id: self.next_id,
            to_server,
            version: (m[17] >> 4, m[17] & 0x0f),
            exchange: m[18],
            flags: m[19],
            msg_id: u32::from_be_bytes([m[20], m[21], m[22], m[23]]),
            ..IkeTx::default()
        };
        self.next_id += 1;
        tx.spi[0].copy_from_slice(&m[..8]);
        tx.spi[1].copy_from_slice(&m[8..16]);
        tx.walk(m[16], &m[28..]);
        if tx.version.0 == 2 && tx.flags & 0x20 != 0 && tx.proposals.len() > 1 {
            // A response (the R flag) carries the one proposal the responder chose.
            tx.events |= event::MULTIPLE_SERVER_PROPOSAL;
        }
        if tx.events & (event::MALFORMED_DATA | event::INVALID_PROPOSAL) != 0 {
            cx.stats.parse_errors += 1;
        }
        tx.det.updated[usize::from(!to_server)] = true;
        self.txs.push(tx);
        true
    }
}

fn hex8(b: &[u8; 8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, x) in b.iter().enumerate() {
        out[2 * i] = b"0123456789abcdef"[usize::from(x >> 4)];
        out[2 * i + 1] = b"0123456789abcdef"[usize::from(x & 15)];
    }
    out
}

/// Suricata's name of a payload type.
fn payload_name(v2: bool, t: u8) -> &'static str {
    match (v2, t) {
        (true, 33) | (false, 1) => "SecurityAssociation",
        (true, 34) | (false, 4) => "KeyExchange",
        (true, 35) | (false, 5) => "IdentificationInitiator",
        (true, 36) => "IdentificationResponder",
        (true, 37) | (false, 6) => "Certificate",
        (true, 38) | (false, 7) => "CertificateRequest",
        (true, 39) | (false, 8) => "Authentication",
        (false, 9) => "Signature",
        (true, 40) | (false, 10) => "Nonce",
        (true, 41) | (false, 11) => "Notify",
        (true, 42) | (false, 12) => "Delete",
        (true, 43) | (false, 13) => "VendorID",
        (true, 44) => "TrafficSelectorInitiator",
        (true, 45) => "TrafficSelectorResponder",
        (true, 46) => "EncryptedAndAuthenticated",
        (true, 47) => "Configuration",
        (true, 48) => "ExtensibleAuthentication",
        (false, 2) => "Proposal",
        (false, 3) => "Transform",
        _ => "Unknown",
    }
}

impl Transaction for IkeTx {
    fn proto(&self) -> AppProto {
        AppProto::Ike
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn each(&self, b: Buf, _to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        // The transaction is one message: its payloads answer in either direction.
        match b {
            Buf::IkeInitSpi => Some(f(&hex8(&self.spi[0]))),
            Buf::IkeRespSpi => Some(f(&hex8(&self.spi[1]))),
            Buf::IkeExchType => Some(f(&[self.exchange])),
            Buf::IkeVendor if !self.vendors.is_empty() => {
                Some(self.vendors.iter().any(|v| f(v.as_bytes())))
            }
            Buf::IkeKePayload => self.ke.as_ref().map(|(k, _)| f(k)),
            Buf::IkeNoncePayload => self.nonce.as_ref().map(|(n, _)| f(n)),
            Buf::IkeKeLen => self.ke.as_ref().map(|(_, l)| f(&l.to_le_bytes())),
            Buf::IkeNonceLen => self.nonce.as_ref().map(|(_, l)| f(&l.to_le_bytes())),
            _ => None,
        }
    }

    fn events(&self) -> u32 {
        self.events
    }

    fn complete(&self) -> bool {
        true
    }

    fn sent_by_client(&self) -> bool {
        self.to_server
    }

    fn write_eve(&self, out: &mut Vec<u8>) {
        let v2 = self.version.0 == 2;
        let _ = write!(
            out,
            ",\"ike\":{{\"version_major\":{},\"version_minor\":{},\"init_spi\":\"",
            self.version.0, self.version.1
        );
        out.extend_from_slice(&hex8(&self.spi[0]));
        out.extend_from_slice(b"\",\"resp_spi\":\"");
        out.extend_from_slice(&hex8(&self.spi[1]));
        let _ = write!(
            out,
            "\",\"message_id\":{},\"exchange_type\":{}",
            self.msg_id, self.exchange
        );
        let initiator = if v2 {
            self.flags & 0x08 != 0
        } else {
            self.to_server
        };
        out.extend_from_slice(if initiator {
            b",\"role\":\"initiator\""
        } else {
            b",\"role\":\"responder\""
        });
        if !self.payloads.is_empty() {
            out.extend_from_slice(b",\"payload\":[");
            for (i, &p) in self.payloads.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_json_str(out, payload_name(v2, p));
            }
            out.push(b']');
        }
        if v2 {
            let errors = self.events.count_ones();
            let _ = write!(out, ",\"ikev2\":{{\"errors\":{errors}");
            if !self.notify.is_empty() {
                out.extend_from_slice(b",\"notify\":[");
                for (i, n) in self.notify.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let _ = write!(out, "{n}");
                }
                out.push(b']');
            }
            out.push(b'}');
        } else {
            out.extend_from_slice(b",\"ikev1\":{");
            let _ = write!(out, "\"encrypted_payloads\":{}", self.encrypted);
            let side = if self.to_server { "client" } else { "server" };
            if self.ke.is_some() || self.nonce.is_some() {
                out.push(b',');
                push_key(out, side);
                out.push(b'{');
                let mut first = true;
                for (name, v) in [
                    ("key_exchange_payload", &self.ke),
                    ("nonce_payload", &self.nonce),
                ] {
                    if let Some((data, len)) = v {
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        let _ = write!(out, "\"{name}\":\"");
                        for b in data {
                            let _ = write!(out, "{b:02x}");
                        }
                        let _ = write!(out, "\",\"{name}_length\":{len}");
                    }
                }
                out.push(b'}');
            }
            if !self.vendors.is_empty() {
                out.extend_from_slice(b",\"vendor_ids\":[");
                for (i, v) in self.vendors.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    push_json_str(out, v);
                }
                out.push(b']');
            }
            out.push(b'}');
        }
        out.push(b'}');
    }
}

impl IkeTx {
    fn heap(&self) -> usize {
        self.payloads.capacity()
            + self
                .proposals
                .iter()
                .map(|(_, t)| 32 + t.capacity() * 4)
                .sum::<usize>()
            + self.ke.as_ref().map_or(0, |(k, _)| k.capacity())
            + self.nonce.as_ref().map_or(0, |(n, _)| n.capacity())
            + self
                .vendors
                .iter()
                .map(|v| 24 + v.capacity())
                .sum::<usize>()
            + self.notify.capacity() * 2
            + self.det.heap()
    }
}

impl Parser for IkeState {
    fn feed(&mut self, to_server: bool, data: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        self.datagram(to_server, data, cx)
    }

    fn heap(&self) -> usize {
        self.txs.capacity() * std::mem::size_of::<IkeTx>()
            + self.txs.iter().map(IkeTx::heap).sum::<usize>()
    }

    crate::parser_tx_slots!(txs);

    fn gc(&mut self) {
        self.txs.retain(|t| !t.det.finished());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::{AppConfig, AppStats};

    /// An IKEv2 IKE_SA_INIT request proposing AES-CBC-256, PRF-SHA256, HMAC-SHA256-128 and
    /// DH `group`, with a key exchange, a nonce and a vendor ID.
    fn sa_init(group: u16, response: bool) -> Vec<u8> {
        let transforms: Vec<(u8, u16)> = vec![(1, 12), (2, 5), (3, 12), (4, group)];
        let mut prop = Vec::new();
        for (i, (k, id)) in transforms.iter().enumerate() {
            let last = if i + 1 == transforms.len() { 0 } else { 3 };
            prop.extend_from_slice(&[last, 0, 0, 8, *k, 0]);
            prop.extend_from_slice(&id.to_be_bytes());
        }
        let mut p = vec![0, 0, 0, 0, 1, 1, 0, transforms.len() as u8];
        p.extend_from_slice(&prop);
        let plen = p.len() as u16;
        p[2..4].copy_from_slice(&plen.to_be_bytes());
        let mut sa = vec![34, 0, 0, 0];
        sa.extend_from_slice(&p);
        let l = sa.len() as u16;
        sa[2..4].copy_from_slice(&l.to_be_bytes());
        let mut ke = vec![40, 0, 0, 0];
        ke.extend_from_slice(&group.to_be_bytes());
        ke.extend_from_slice(&[0, 0]);
        ke.extend_from_slice(&[0xab; 128]);
        let l = ke.len() as u16;
        ke[2..4].copy_from_slice(&l.to_be_bytes());
        let mut nonce = vec![43, 0, 0, 36];
        nonce.extend_from_slice(&[0x11; 32]);
        let mut vid = vec![0, 0, 0, 20];
        vid.extend_from_slice(&[0x4a; 16]);
        let mut m = vec![1, 2, 3, 4, 5, 6, 7, 8];
        m.extend_from_slice(&if response { [9; 8] } else { [0; 8] });
        let flags = if response { 0x20 } else { 0x08 };
        m.extend_from_slice(&[33, 0x20, 34, flags, 0, 0, 0, 0, 0, 0, 0, 0]);
        for part in [&sa, &ke, &nonce, &vid] {
            m.extend_from_slice(part);
        }
        let len = m.len() as u32;
        m[24..28].copy_from_slice(&len.to_be_bytes());
        m
    }

    fn parse(datagrams: &[(bool, Vec<u8>)]) -> IkeState {
        let cfg = AppConfig::default();
        let mut stats = AppStats::default();
        let mut cx = ParseCtx {
            cfg: &cfg,
            stats: &mut stats,
        };
        let mut st = IkeState::default();
        for (to_server, d) in datagrams {
            st.datagram(*to_server, d, &mut cx);
        }
        st
    }

    #[test]
    fn ikev2_sa_init_with_weak_and_strong_groups() {
        let st = parse(&[(true, sa_init(2, false)), (false, sa_init(19, true))]);
        let (req, resp) = (&st.txs[0], &st.txs[1]);
        assert_eq!(req.version, (2, 0));
        assert_eq!(req.payloads, vec![33, 34, 40, 43]);
        assert_eq!(req.events, event::WEAK_CRYPTO_DH);
        assert_eq!(resp.events, 0);
        assert_eq!(req.ke.as_ref().map(|k| k.1), Some(128));
        assert_eq!(req.vendors, vec!["4a".repeat(16)]);
        assert_eq!(
            req.each(Buf::IkeInitSpi, true, &mut |b| b == b"0102030405060708"),
            Some(true)
        );
        assert_eq!(
            req.each(Buf::IkeExchType, true, &mut |b| b == [34]),
            Some(true)
        );
        assert_eq!(
            req.each(Buf::IkeKePayload, false, &mut |k| k.len() == 128),
            Some(true)
        );
        let mut eve = Vec::new();
        req.write_eve(&mut eve);
        let v: serde_json::Value = serde_json::from_slice(&eve[7..]).unwrap();
        assert_eq!(v["role"], "initiator");
        assert_eq!(v["payload"][0], "SecurityAssociation");
        assert_eq!(v["ikev2"]["errors"], 1);
    }

    #[test]
    fn nat_traversal_marker_esp_and_broken_lengths() {
        let mut natt = vec![0, 0, 0, 0];
        natt.extend_from_slice(&sa_init(14, false));
        assert!(probe(&natt));
        let esp = [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 0x55, 0x66];
        assert!(!probe(&esp));
        let mut broken = sa_init(19, false);
        broken[30] = 0xff; // the SA payload claims more than the message holds
        let st = parse(&[(true, natt), (true, esp.to_vec()), (true, broken)]);
        assert_eq!(st.txs.len(), 2);
        assert_eq!(st.txs[0].events, 0);
        assert_eq!(st.txs[1].events, event::MALFORMED_DATA);
    }

    #[test]
    fn proposal_checks() {
        let t = |kind, id| Transform { kind, id };
        // AES-GCM (AEAD) needs no integrity transform; DH 19 is strong.
        assert_eq!(weak_crypto(1, &[t(1, 20), t(2, 5), t(4, 19)]), 0);
        // 3DES, HMAC-MD5 PRF and integrity, no DH, AH, an unknown transform type.
        let ev = weak_crypto(2, &[t(1, 3), t(2, 1), t(3, 1), t(9, 1)]);
        for e in [
            event::WEAK_CRYPTO_ENC,
            event::WEAK_CRYPTO_PRF,
            event::WEAK_CRYPTO_AUTH,
            event::WEAK_CRYPTO_NODH,
            event::NO_ENCRYPTION,
            event::UNKNOWN_PROPOSAL,
        ] {
            assert_ne!(ev & e, 0, "{e:#x}");
        }
        // AES-CBC without integrity.
        assert_ne!(
            weak_crypto(1, &[t(1, 12), t(4, 19)]) & event::WEAK_CRYPTO_NOAUTH,
            0
        );
    }
}
