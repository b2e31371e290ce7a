//! DCERPC (connection-oriented, version 5) over TCP and inside SMB named pipes: binds and
//! their acknowledgements (which interface each context id names, and whether the server
//! accepted it), requests and responses with their fragments reassembled per call. Rules see
//! the request's interface (`dce_iface`), its operation number (`dce_opnum`) and the stub
//! data of each direction (`dce_stub_data`).
//!
//! [`Binding`] and [`DceCall`] are shared with the SMB parser, which hands over what a pipe
//! carries; [`DcerpcState`] frames PDUs out of a TCP stream itself.

use std::collections::VecDeque;
use std::io::Write;

use super::parser::{ParseCtx, Parser, Protocol, Transaction, TxDetect};
use super::wire::{guid_string, slice, u8_at};
use super::{AppProto, Buf, Probe};
use crate::common::json::push_key;

/// PDU types.
pub mod ptype {
    /// Request.
    pub const REQUEST: u8 = 0;
    /// Response.
    pub const RESPONSE: u8 = 2;
    /// Fault.
    pub const FAULT: u8 = 3;
    /// Bind.
    pub const BIND: u8 = 11;
    /// Bind acknowledgement.
    pub const BIND_ACK: u8 = 12;
    /// Bind refused.
    pub const BIND_NAK: u8 = 13;
    /// Alter context (a further bind on the association).
    pub const ALTER_CONTEXT: u8 = 14;
    /// Alter context response.
    pub const ALTER_CONTEXT_RESP: u8 = 15;

    /// EVE name of a PDU type.
    pub fn name(t: u8) -> &'static str {
        match t {
            REQUEST => "REQUEST",
            1 => "PING",
            RESPONSE => "RESPONSE",
            FAULT => "FAULT",
            4 => "WORKING",
            5 => "NOCALL",
            6 => "REJECT",
            7 => "ACK",
            8 => "CL_CANCEL",
            9 => "FACK",
            10 => "CANCEL_ACK",
            BIND => "BIND",
            BIND_ACK => "BINDACK",
            BIND_NAK => "BINDNAK",
            ALTER_CONTEXT => "ALTER_CONTEXT",
            ALTER_CONTEXT_RESP => "ALTER_CONTEXT_RESP",
            16 => "AUTH3",
            17 => "SHUTDOWN",
            18 => "CO_CANCEL",
            19 => "ORPHANED",
            20 => "RTS",
            _ => "UNKNOWN",
        }
    }
}

/// Header flag: first fragment of a call.
pub const PFC_FIRST_FRAG: u8 = 0x01;
/// Header flag: last fragment of a call.
pub const PFC_LAST_FRAG: u8 = 0x02;
/// Header flag: the request carries an object UUID.
const PFC_OBJECT_UUID: u8 = 0x80;
/// Header bytes.
pub const HDR_LEN: usize = 16;
/// Stub data bytes kept per call and direction; the rest is counted, not kept.
pub const STUB_LIMIT: usize = 256 * 1024;
/// Interfaces (presentation contexts) kept per association.
const MAX_IFACES: usize = 64;

/// A PDU's common header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hdr {
    /// Minor version (0 or 1).
    pub minor: u8,
    /// PDU type ([`ptype`]).
    pub ptype: u8,
    /// PFC flags.
    pub flags: u8,
    /// Integers are little-endian (the data representation's first byte).
    pub le: bool,
    /// Length of the whole fragment.
    pub frag_len: u16,
    /// Length of the authentication verifier.
    pub auth_len: u16,
    /// Call id.
    pub call_id: u32,
}

/// Reads a PDU header; None unless it is a plausible version 5 header.
pub fn header(d: &[u8]) -> Option<Hdr> {
    let h = slice(d, 0, HDR_LEN)?;
    if h[0] != 5 || h[1] > 1 || h[2] > 20 {
        return None;
    }
    let le = h[4] & 0x10 != 0;
    let rd16 = |o: usize| {
        let b = [h[o], h[o + 1]];
        if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    let call = [h[12], h[13], h[14], h[15]];
    let frag_len = rd16(8);
    if usize::from(frag_len) < HDR_LEN {
        return None;
    }
    Some(Hdr {
        minor: h[1],
        ptype: h[2],
        flags: h[3],
        le,
        frag_len,
        auth_len: rd16(10),
        call_id: if le {
            u32::from_le_bytes(call)
        } else {
            u32::from_be_bytes(call)
        },
    })
}

fn rd16(d: &[u8], o: usize, le: bool) -> Option<u16> {
    let b: [u8; 2] = slice(d, o, 2)?.try_into().ok()?;
    Some(if le {
        u16::from_le_bytes(b)
    } else {
        u16::from_be_bytes(b)
    })
}

/// A UUID as sent, in little-endian form whatever the PDU's byte order.
fn uuid_at(d: &[u8], o: usize, le: bool) -> Option<[u8; 16]> {
    let mut u: [u8; 16] = slice(d, o, 16)?.try_into().ok()?;
    if !le {
        u[0..4].reverse();
        u[4..6].reverse();
        u[6..8].reverse();
    }
    Some(u)
}

/// One presentation context of an association: the interface a context id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iface {
    /// Context id.
    pub ctx_id: u16,
    /// Interface UUID (little-endian form).
    pub uuid: [u8; 16],
    /// Interface major version.
    pub major: u16,
    /// Interface minor version.
    pub minor: u16,
    /// The server's answer (0 accepted), once acknowledged.
    pub result: Option<u16>,
    /// The reason given with the answer.
    pub reason: u16,
}

/// The interfaces bound on an association (a TCP connection or an SMB session's pipes).
#[derive(Clone, Debug, Default)]
pub struct Binding {
    ifaces: Vec<Iface>,
    /// Indexes of the contexts the last bind proposed, in order, for its acknowledgement.
    pending: Vec<usize>,
}

impl Binding {
    /// Records the contexts a BIND or ALTER_CONTEXT proposes; returns them.
    pub fn on_bind(&mut self, pdu: &[u8], h: &Hdr) -> Vec<Iface> {
        self.pending.clear();
        let mut out = Vec::new();
        let Some(n) = u8_at(pdu, 24) else {
            return out;
        };
        let mut o = 28;
        for _ in 0..n {
            let (Some(ctx_id), Some(ntrans), Some(uuid), Some(major), Some(minor)) = (
                rd16(pdu, o, h.le),
                u8_at(pdu, o + 2),
                uuid_at(pdu, o + 4, h.le),
                rd16(pdu, o + 20, h.le),
                rd16(pdu, o + 22, h.le),
            ) else {
                break;
            };
            let iface = Iface {
                ctx_id,
                uuid,
                major,
                minor,
                result: None,
                reason: 0,
            };
            let at = match self.ifaces.iter().position(|i| i.ctx_id == ctx_id) {
                Some(i) => {
                    self.ifaces[i] = iface;
                    Some(i)
                }
                None if self.ifaces.len() < MAX_IFACES => {
                    self.ifaces.push(iface);
                    Some(self.ifaces.len() - 1)
                }
                None => None,
            };
            if let Some(i) = at {
                self.pending.push(i);
            }
            out.push(iface);
            o += 24 + 20 * usize::from(ntrans);
        }
        out
    }

    /// Applies a BIND_ACK or ALTER_CONTEXT_RESP to the contexts the last bind proposed;
    /// returns the results and reasons in order.
    pub fn on_bind_ack(&mut self, pdu: &[u8], h: &Hdr) -> Vec<(u16, u16)> {
        let mut results = Vec::new();
        let Some(sec_len) = rd16(pdu, 24, h.le) else {
            return results;
        };
        // The secondary address, then padding to a 4-byte boundary.
        let o = (26 + usize::from(sec_len)).next_multiple_of(4);
        let Some(n) = u8_at(pdu, o) else {
            return results;
        };
        for k in 0..usize::from(n) {
            let Some(r) = rd16(pdu, o + 4 + 24 * k, h.le) else {
                break;
            };
            let reason = rd16(pdu, o + 6 + 24 * k, h.le).unwrap_or(0);
            results.push((r, reason));
            if let Some(&i) = self.pending.get(k) {
                self.ifaces[i].result = Some(r);
                self.ifaces[i].reason = reason;
            }
        }
        self.pending.clear();
        results
    }

    /// The accepted interface context `ctx_id` names.
    pub fn accepted(&self, ctx_id: u16) -> Option<&Iface> {
        self.ifaces
            .iter()
            .find(|i| i.ctx_id == ctx_id && i.result == Some(0))
    }
}

/// One call: a bind and its answer, or a request and its response, fragments reassembled.
#[derive(Clone, Debug, Default)]
pub struct DceCall {
    /// Call id.
    pub call_id: u32,
    /// Minor version of the protocol.
    pub minor: u8,
    /// The request's PDU type.
    pub req_type: u8,
    /// The answer's PDU type, once seen.
    pub res_type: Option<u8>,
    /// Operation number (requests).
    pub opnum: Option<u16>,
    /// Context id (requests).
    pub ctx_id: u16,
    /// The interface the context id names, accepted by the server: UUID, major, minor.
    pub iface: Option<([u8; 16], u16, u16)>,
    /// The request's first fragment carried the first-fragment flag.
    pub first_frag: bool,
    /// Stub data of the request and the response (up to [`STUB_LIMIT`] each).
    pub stub: [Vec<u8>; 2],
    /// Stub bytes seen per direction (kept or not).
    pub stub_size: [u64; 2],
    /// Fragments per direction.
    pub frags: [u32; 2],
    /// The request's last fragment was seen.
    pub req_done: bool,
    /// The answer's last fragment was seen.
    pub res_done: bool,
    /// Binds: the proposed interfaces, with the server's answers once acknowledged.
    pub bound: Vec<Iface>,
    /// Connectionless (UDP) calls: the activity the call belongs to; `call_id` is then its
    /// sequence number.
    pub activity: Option<[u8; 16]>,
}

impl DceCall {
    /// Starts a call from its first PDU (a request or a bind).
    pub fn new(h: &Hdr) -> DceCall {
        DceCall {
            call_id: h.call_id,
            minor: h.minor,
            req_type: h.ptype,
            first_frag: h.flags & PFC_FIRST_FRAG != 0,
            ..DceCall::default()
        }
    }

    /// Adds a REQUEST fragment: context, opnum and stub data. Returns whether it was the
    /// last.
    pub fn add_request(&mut self, pdu: &[u8], h: &Hdr, binding: &Binding) -> bool {
        let ctx = rd16(pdu, 20, h.le);
        let op = rd16(pdu, 22, h.le);
        if self.frags[0] == 0 {
            self.ctx_id = ctx.unwrap_or(0);
            self.opnum = op;
            self.iface = binding
                .accepted(self.ctx_id)
                .map(|i| (i.uuid, i.major, i.minor));
        }
        let start = if h.flags & PFC_OBJECT_UUID != 0 {
            40
        } else {
            24
        };
        self.add_stub(0, pdu, h, start);
        if h.flags & PFC_LAST_FRAG != 0 {
            self.req_done = true;
        }
        self.req_done
    }

    /// Adds a RESPONSE (or FAULT) fragment. Returns whether it was the last.
    pub fn add_response(&mut self, pdu: &[u8], h: &Hdr) -> bool {
        self.res_type = Some(h.ptype);
        if h.ptype == ptype::RESPONSE {
            self.add_stub(1, pdu, h, 24);
        } else {
            self.frags[1] += 1;
        }
        if h.flags & PFC_LAST_FRAG != 0 || h.ptype != ptype::RESPONSE {
            self.res_done = true;
        }
        self.res_done
    }

    fn add_stub(&mut self, dir: usize, pdu: &[u8], h: &Hdr, start: usize) {
        self.frags[dir] += 1;
        let auth = match h.auth_len {
            0 => 0,
            n => usize::from(n) + 8,
        };
        let end = usize::from(h.frag_len).min(pdu.len()).saturating_sub(auth);
        let Some(stub) = pdu.get(start..end) else {
            return;
        };
        self.push_stub(dir, stub);
    }

    /// Appends stub data of a direction, kept up to [`STUB_LIMIT`].
    fn push_stub(&mut self, dir: usize, stub: &[u8]) {
        self.stub_size[dir] += stub.len() as u64;
        let room = STUB_LIMIT.saturating_sub(self.stub[dir].len());
        self.stub[dir].extend_from_slice(&stub[..stub.len().min(room)]);
    }

    /// Stub bytes seen but not kept (past [`STUB_LIMIT`]), both directions.
    pub fn cut(&self) -> u64 {
        (0..2)
            .map(|d| self.stub_size[d] - self.stub[d].len() as u64)
            .sum()
    }

    /// Complete: both sides seen (a call without answer completes at the flow's end).
    pub fn complete(&self) -> bool {
        self.req_done && self.res_done
    }

    /// The rule buffers of the call: stub data per direction, and the internal interface
    /// and opnum records `dce_iface` and `dce_opnum` test.
    pub fn each(&self, b: Buf, to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        match b {
            Buf::DceStubData => {
                let s = &self.stub[usize::from(!to_server)];
                (!s.is_empty()).then(|| f(s))
            }
            Buf::DceIface => {
                let (uuid, major, minor) = self.iface?;
                let mut rec = [0u8; 21];
                rec[..16].copy_from_slice(&uuid);
                rec[16..18].copy_from_slice(&major.to_le_bytes());
                rec[18..20].copy_from_slice(&minor.to_le_bytes());
                rec[20] = u8::from(self.first_frag);
                Some(f(&rec))
            }
            Buf::DceOpnum => self.opnum.map(|op| f(&op.to_le_bytes())),
            _ => None,
        }
    }

    /// Heap bytes held.
    pub fn heap(&self) -> usize {
        self.stub[0].capacity()
            + self.stub[1].capacity()
            + self.bound.capacity() * std::mem::size_of::<Iface>()
    }

    /// Writes the call's EVE fields (without braces): request/response types, interfaces,
    /// call id, and per direction the fragment count and stub size. DCERPC's own events
    /// (`over_smb` false) place the opnum inside `req`; SMB's beside it, and add each
    /// interface's `ack_reason`, as Suricata's schema has them.
    pub fn write_eve_fields(&self, out: &mut Vec<u8>, over_smb: bool) {
        let opnum_in_req = !over_smb;
        let _ = write!(out, "\"request\":\"{}\"", ptype::name(self.req_type));
        let _ = write!(
            out,
            ",\"response\":\"{}\"",
            self.res_type.map_or("UNREPLIED", ptype::name)
        );
        if !self.bound.is_empty() {
            out.extend_from_slice(b",\"interfaces\":[");
            for (k, i) in self.bound.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                let _ = write!(
                    out,
                    "{{\"uuid\":\"{}\",\"version\":\"{}.{}\"",
                    guid_string(&i.uuid),
                    i.major,
                    i.minor
                );
                if let Some(r) = i.result {
                    let _ = write!(out, ",\"ack_result\":{r}");
                    if over_smb {
                        let _ = write!(out, ",\"ack_reason\":{}", i.reason);
                    }
                }
                out.push(b'}');
            }
            out.push(b']');
        }
        if self.req_type == ptype::REQUEST {
            if !opnum_in_req {
                if let Some(op) = self.opnum {
                    let _ = write!(out, ",\"opnum\":{op}");
                }
            }
            out.push(b',');
            push_key(out, "req");
            out.push(b'{');
            if opnum_in_req {
                if let Some(op) = self.opnum {
                    let _ = write!(out, "\"opnum\":{op},");
                }
            }
            let _ = write!(
                out,
                "\"frag_cnt\":{},\"stub_data_size\":{}}}",
                self.frags[0], self.stub_size[0]
            );
            if self.res_type.is_some() {
                let _ = write!(
                    out,
                    ",\"res\":{{\"frag_cnt\":{},\"stub_data_size\":{}}}",
                    self.frags[1], self.stub_size[1]
                );
            }
        }
        let _ = write!(out, ",\"call_id\":{}", self.call_id);
        if let Some(a) = &self.activity {
            let _ = write!(
                out,
                ",\"activityuuid\":\"{}\",\"seqnum\":{}",
                guid_string(a),
                self.call_id
            );
        }
    }
}

/// A DCERPC transaction on TCP: one call.
#[derive(Debug, Default)]
pub struct DceTx {
    /// Transaction number within its flow (EVE `tx_id`).
    pub id: u64,
    /// The call.
    pub call: DceCall,
    /// Detection and logging state.
    pub det: TxDetect,
}

/// Per-flow DCERPC-over-TCP state.
#[derive(Debug, Default)]
pub struct DcerpcState {
    /// Connectionless DCERPC over UDP (one PDU per datagram), else over TCP.
    udp: bool,
    /// Partial PDU per direction (at most one fragment: 64 KiB).
    buf: [Vec<u8>; 2],
    /// A direction stopped making sense (not a PDU header): no more parsing of it.
    lost: [bool; 2],
    binding: Binding,
    txs: VecDeque<DceTx>,
    next_id: u64,
}

/// DCERPC's registration.
pub static PROTOCOL: Protocol = Protocol {
    proto: AppProto::Dcerpc,
    names: &["dcerpc"],
    event_type: "dcerpc",
    switch: None,
    parser_error_event: "dcerpc.parser_error",
    buffers: &[
        ("dce_stub_data", Buf::DceStubData),
        ("dce_iface", Buf::DceIface),
        ("dce_opnum", Buf::DceOpnum),
    ],
    ports: &[],
    probe_tcp: Some(probe),
    probe_udp: Some(probe_udp),
    new_parser: |tcp| {
        Box::new(DcerpcState {
            udp: !tcp,
            ..DcerpcState::default()
        })
    },
    event_by_name: |_| None,
    triggers_raw: true,
};

/// Probe: a version 5 PDU header of a type that opens (client) or answers (server) a
/// connection.
pub fn probe(data: &[u8], to_server: bool) -> Probe {
    if data[0] != 5 {
        return Probe::NoMatch;
    }
    if data.len() < HDR_LEN {
        return Probe::NeedMore;
    }
    match header(data) {
        Some(h)
            if (to_server
                && matches!(h.ptype, ptype::BIND | ptype::ALTER_CONTEXT | ptype::REQUEST))
                || (!to_server
                    && matches!(h.ptype, ptype::BIND_ACK | ptype::BIND_NAK | ptype::RESPONSE)) =>
        {
            Probe::Found(AppProto::Dcerpc)
        }
        _ => Probe::NoMatch,
    }
}

impl DcerpcState {
    /// Handles one complete PDU of a direction. Returns whether a transaction progressed.
    fn pdu(&mut self, to_server: bool, pdu: &[u8], h: &Hdr, cx: &mut ParseCtx<'_>) -> bool {
        let slot = match apply(&mut self.binding, &self.txs, to_server, pdu, h) {
            Applied::Ignored => return false,
            Applied::Existing(i, update) => {
                let call = &mut self.txs[i].call;
                let cut = call.cut();
                update.run(call, &mut self.binding, pdu, h);
                cx.stats.data_cut += call.cut() - cut;
                i
            }
            Applied::New(call) => {
                if self.txs.len() >= cx.cfg.max_txs {
                    self.txs.pop_front();
                    cx.stats.tx_limit_hits += 1;
                }
                cx.stats.count_tx(AppProto::Dcerpc);
                let id = self.next_id;
                self.next_id += 1;
                self.txs.push_back(DceTx {
                    id,
                    call: *call,
                    det: TxDetect::default(),
                });
                self.txs.len() - 1
            }
        };
        self.txs[slot].det.updated[usize::from(!to_server)] = true;
        true
    }
}

/// Connectionless (version 4, UDP) PDU header length.
const CL_HDR_LEN: usize = 80;
/// Connectionless flags1: last fragment.
const CL_LAST_FRAG: u8 = 0x02;
/// Connectionless flags1: the call is fragmented.
const CL_FRAG: u8 = 0x04;

/// A connectionless PDU header: what the sensor uses of it.
#[derive(Clone, Copy, Debug)]
struct ClHdr {
    ptype: u8,
    flags: u8,
    if_id: [u8; 16],
    activity: [u8; 16],
    if_vers: u32,
    seqnum: u32,
    opnum: u16,
    fragnum: u16,
    len: usize,
}

/// Reads a connectionless PDU header; None unless the datagram holds a plausible one whose
/// body fits.
fn cl_header(d: &[u8]) -> Option<ClHdr> {
    if d.len() < CL_HDR_LEN || d[0] != 4 || d[1] > 10 {
        return None;
    }
    let le = d[4] & 0x10 != 0;
    let rd32 = |o: usize| -> Option<u32> {
        let b: [u8; 4] = slice(d, o, 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let h = ClHdr {
        ptype: d[1],
        flags: d[2],
        if_id: uuid_at(d, 24, le)?,
        activity: uuid_at(d, 40, le)?,
        if_vers: rd32(60)?,
        seqnum: rd32(64)?,
        opnum: rd16(d, 68, le)?,
        fragnum: rd16(d, 76, le)?,
        len: usize::from(rd16(d, 74, le)?),
    };
    (CL_HDR_LEN + h.len <= d.len()).then_some(h)
}

/// UDP probe: a connectionless request (or a response to one) whose body fits the datagram.
pub fn probe_udp(d: &[u8]) -> bool {
    cl_header(d).is_some_and(|h| matches!(h.ptype, ptype::REQUEST | ptype::RESPONSE))
}

impl DcerpcState {
    /// One connectionless PDU (a UDP datagram): requests open or continue the call of their
    /// activity and sequence number (fragments appended in order of arrival), responses and
    /// faults answer it. Returns whether a transaction progressed.
    fn datagram(&mut self, to_server: bool, d: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        let Some(h) = cl_header(d) else {
            cx.stats.parse_errors += 1;
            return false;
        };
        let body = &d[CL_HDR_LEN..CL_HDR_LEN + h.len];
        let last = h.flags & CL_FRAG == 0 || h.flags & CL_LAST_FRAG != 0;
        let ours = |t: &DceTx| t.call.activity == Some(h.activity) && t.call.call_id == h.seqnum;
        let dir = usize::from(!to_server);
        let slot = match (to_server, h.ptype) {
            (true, ptype::REQUEST) => {
                let open = self.txs.iter().rposition(|t| ours(t) && !t.call.req_done);
                let i = match open {
                    Some(i) => i,
                    None => {
                        if self.txs.len() >= cx.cfg.max_txs {
                            self.txs.pop_front();
                            cx.stats.tx_limit_hits += 1;
                        }
                        cx.stats.count_tx(AppProto::Dcerpc);
                        let id = self.next_id;
                        self.next_id += 1;
                        let call = DceCall {
                            call_id: h.seqnum,
                            req_type: ptype::REQUEST,
                            opnum: Some(h.opnum),
                            // The interface travels in every header: no bind.
                            iface: Some((h.if_id, h.if_vers as u16, (h.if_vers >> 16) as u16)),
                            first_frag: h.fragnum == 0,
                            activity: Some(h.activity),
                            ..DceCall::default()
                        };
                        self.txs.push_back(DceTx {
                            id,
                            call,
                            det: TxDetect::default(),
                        });
                        self.txs.len() - 1
                    }
                };
                let call = &mut self.txs[i].call;
                let cut = call.cut();
                call.frags[0] += 1;
                call.push_stub(0, body);
                call.req_done |= last;
                cx.stats.data_cut += call.cut() - cut;
                i
            }
            (false, ptype::RESPONSE | ptype::FAULT | 6) => {
                let Some(i) = self.txs.iter().rposition(|t| ours(t) && !t.call.res_done) else {
                    return false;
                };
                let call = &mut self.txs[i].call;
                let cut = call.cut();
                call.res_type = Some(h.ptype);
                call.frags[1] += 1;
                if h.ptype == ptype::RESPONSE {
                    call.push_stub(1, body);
                }
                call.res_done |= last || h.ptype != ptype::RESPONSE;
                cx.stats.data_cut += call.cut() - cut;
                i
            }
            _ => return false,
        };
        self.txs[slot].det.updated[dir] = true;
        true
    }
}

/// Transactions that may carry a DCERPC call (DCERPC's own, SMB's over a pipe).
pub trait HasCall {
    /// The call, if the transaction carries one.
    fn call(&self) -> Option<&DceCall>;
}

impl HasCall for DceTx {
    fn call(&self) -> Option<&DceCall> {
        Some(&self.call)
    }
}

/// What a PDU does to a connection's calls.
pub enum Applied {
    /// Nothing (a PDU type not tracked, or an answer to no known call).
    Ignored,
    /// It continues or answers the call in this slot: apply the update to it.
    Existing(usize, Update),
    /// It opens a call (a bind, or a request's first fragment), already built.
    New(Box<DceCall>),
}

/// How a PDU continues an existing call.
#[derive(Clone, Copy, Debug)]
pub enum Update {
    /// A bind's acknowledgement (or refusal).
    BindAck,
    /// A request's further fragment.
    Request,
    /// A response or fault fragment.
    Response,
}

impl Update {
    /// Applies the PDU to the call it continues.
    pub fn run(self, call: &mut DceCall, binding: &mut Binding, pdu: &[u8], h: &Hdr) {
        match self {
            Update::BindAck => {
                let results = if h.ptype == ptype::BIND_NAK {
                    Vec::new()
                } else {
                    binding.on_bind_ack(pdu, h)
                };
                for (i, (r, reason)) in call.bound.iter_mut().zip(results) {
                    i.result = Some(r);
                    i.reason = reason;
                }
                call.res_type = Some(h.ptype);
                call.frags[1] = 1;
                call.res_done = true;
            }
            Update::Request => {
                call.add_request(pdu, h, binding);
            }
            Update::Response => {
                call.add_response(pdu, h);
            }
        }
    }
}

/// Decides what one PDU does to a connection's calls (`calls`, oldest first): binds and
/// requests open calls, acknowledgements, further fragments and responses continue the
/// newest matching one. The bind's interfaces are recorded in `binding` as it goes.
pub fn apply<T: HasCall>(
    binding: &mut Binding,
    calls: &VecDeque<T>,
    to_server: bool,
    pdu: &[u8],
    h: &Hdr,
) -> Applied {
    let newest = |f: &dyn Fn(&DceCall) -> bool| calls.iter().rposition(|t| t.call().is_some_and(f));
    match (to_server, h.ptype) {
        (true, ptype::BIND | ptype::ALTER_CONTEXT) => {
            let mut call = DceCall::new(h);
            call.bound = binding.on_bind(pdu, h);
            call.frags[0] = 1;
            call.req_done = true;
            Applied::New(Box::new(call))
        }
        (false, ptype::BIND_ACK | ptype::ALTER_CONTEXT_RESP | ptype::BIND_NAK) => {
            match newest(&|c| {
                matches!(c.req_type, ptype::BIND | ptype::ALTER_CONTEXT) && !c.res_done
            }) {
                Some(i) => Applied::Existing(i, Update::BindAck),
                None => Applied::Ignored,
            }
        }
        (true, ptype::REQUEST) => {
            let open =
                newest(&|c| c.call_id == h.call_id && c.req_type == ptype::REQUEST && !c.req_done);
            match open {
                Some(i) => Applied::Existing(i, Update::Request),
                None => {
                    let mut call = DceCall::new(h);
                    call.add_request(pdu, h, binding);
                    Applied::New(Box::new(call))
                }
            }
        }
        (false, ptype::RESPONSE | ptype::FAULT) => {
            match newest(&|c| c.call_id == h.call_id && c.req_type == ptype::REQUEST && !c.res_done)
            {
                Some(i) => Applied::Existing(i, Update::Response),
                None => Applied::Ignored,
            }
        }
        _ => Applied::Ignored,
    }
}

impl Transaction for DceTx {
    fn proto(&self) -> AppProto {
        AppProto::Dcerpc
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn each(&self, b: Buf, to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        self.call.each(b, to_server, f)
    }

    fn settled(&self, _b: Buf, to_server: bool) -> bool {
        if to_server {
            self.call.req_done
        } else {
            self.call.res_done
        }
    }

    fn complete(&self) -> bool {
        self.call.complete()
    }

    fn worth_logging(&self) -> bool {
        true
    }

    fn write_eve(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"dcerpc\":{");
        self.call.write_eve_fields(out, false);
        let major = if self.call.activity.is_some() { 4 } else { 5 };
        let _ = write!(out, ",\"rpc_version\":\"{major}.{}\"}}", self.call.minor);
    }
}

impl Parser for DcerpcState {
    fn feed(&mut self, to_server: bool, data: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        if self.udp {
            return self.datagram(to_server, data, cx);
        }
        let d = usize::from(!to_server);
        if self.lost[d] {
            return false;
        }
        let mut progressed = false;
        let mut data = data;
        while !data.is_empty() {
            // Whole PDUs straight from the data when nothing is pending.
            if self.buf[d].is_empty() {
                match header(data) {
                    Some(h) if data.len() >= usize::from(h.frag_len) => {
                        let (pdu, rest) = data.split_at(usize::from(h.frag_len));
                        progressed |= self.pdu(to_server, pdu, &h, cx);
                        data = rest;
                        continue;
                    }
                    None if data.len() >= HDR_LEN => {
                        self.lost[d] = true;
                        cx.stats.parse_errors += 1;
                        return progressed;
                    }
                    _ => {
                        self.buf[d].extend_from_slice(data);
                        return progressed;
                    }
                }
            }
            // Complete the pending PDU: its header first, then its length.
            let have = self.buf[d].len();
            let need = match header(&self.buf[d]) {
                Some(h) => usize::from(h.frag_len),
                None if have >= HDR_LEN => {
                    self.lost[d] = true;
                    self.buf[d] = Vec::new();
                    cx.stats.parse_errors += 1;
                    return progressed;
                }
                None => HDR_LEN,
            };
            let take = need.saturating_sub(have).min(data.len());
            self.buf[d].extend_from_slice(&data[..take]);
            data = &data[take..];
            if let Some(h) = header(&self.buf[d]) {
                if self.buf[d].len() >= usize::from(h.frag_len) {
                    let pdu = std::mem::take(&mut self.buf[d]);
                    progressed |= self.pdu(to_server, &pdu, &h, cx);
                }
            }
        }
        progressed
    }

    fn heap(&self) -> usize {
        self.buf.iter().map(Vec::capacity).sum::<usize>()
            + self
                .txs
                .iter()
                .map(|t| t.call.heap() + t.det.heap())
                .sum::<usize>()
    }

    crate::parser_tx_slots!(txs);

    fn gc(&mut self) {
        // Finished, logged calls go wherever they are: one never answered must not hold the
        // later ones (the newest stays).
        let done = |t: &DceTx| t.call.complete() && t.det.finished();
        if self.txs.len() > 1 && self.txs.iter().rev().skip(1).any(done) {
            let newest = self.txs.back().map(|t| t.id);
            self.txs.retain(|t| Some(t.id) == newest || !done(t));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::{AppConfig, AppStats};
    use crate::testgen::smb::{bind, bind_ack, pdu, request, NETLOGON};

    #[test]
    fn bind_then_fragmented_request_then_response() {
        let cfg = AppConfig::default();
        let mut stats = AppStats::default();
        let mut cx = ParseCtx {
            cfg: &cfg,
            stats: &mut stats,
        };
        let mut s = DcerpcState::default();
        let mut c2s = bind(1, 0, &NETLOGON, 1);
        c2s.extend(request(2, PFC_FIRST_FRAG, 0, 4, b"AAAA"));
        c2s.extend(request(2, PFC_LAST_FRAG, 0, 4, b"BBBB"));
        // The client's bytes come one at a time; the server acknowledges the bind once it
        // has it.
        let (bind_pdu, rest) = c2s.split_at(bind(1, 0, &NETLOGON, 1).len());
        for b in bind_pdu.chunks(1) {
            s.feed(true, b, &mut cx);
        }
        s.feed(false, &bind_ack(1, 0), &mut cx);
        for b in rest.chunks(1) {
            s.feed(true, b, &mut cx);
        }
        let mut resp = 8u32.to_le_bytes().to_vec();
        resp.extend_from_slice(&[0, 0, 0, 0]);
        resp.extend_from_slice(b"RESULT!!");
        s.feed(false, &pdu(ptype::RESPONSE, 3, 2, &resp), &mut cx);
        assert_eq!(s.txs.len(), 2);
        let call = &s.txs[1].call;
        assert_eq!(call.opnum, Some(4));
        assert_eq!(call.stub[0], b"AAAABBBB");
        assert_eq!(call.stub[1], b"RESULT!!");
        assert_eq!(call.frags, [2, 1]);
        assert_eq!(call.iface.map(|i| i.0), Some(NETLOGON));
        assert!(call.complete());
        let mut eve = Vec::new();
        s.txs[0].write_eve(&mut eve);
        let json = format!("{{{}}}", String::from_utf8_lossy(&eve[1..]));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["dcerpc"]["request"], "BIND");
        assert_eq!(v["dcerpc"]["interfaces"][0]["ack_result"], 0);
        assert_eq!(
            v["dcerpc"]["interfaces"][0]["uuid"],
            "12345678-1234-abcd-ef00-01234567cffb"
        );
    }

    #[test]
    fn refused_interface_is_not_the_requests() {
        let cfg = AppConfig::default();
        let mut stats = AppStats::default();
        let mut cx = ParseCtx {
            cfg: &cfg,
            stats: &mut stats,
        };
        let mut s = DcerpcState::default();
        s.feed(true, &bind(1, 0, &NETLOGON, 1), &mut cx);
        s.feed(false, &bind_ack(1, 2), &mut cx);
        s.feed(true, &request(2, 3, 0, 4, b"x"), &mut cx);
        assert_eq!(s.txs[1].call.iface, None);
        // A call's stub past what it keeps is counted, not held.
        let chunk = vec![0x42u8; 60_000];
        s.feed(true, &request(3, PFC_FIRST_FRAG, 0, 4, &chunk), &mut cx);
        for _ in 0..5 {
            s.feed(true, &request(3, 0, 0, 4, &chunk), &mut cx);
        }
        let call = &s.txs.back().unwrap().call;
        assert_eq!(call.stub[0].len(), STUB_LIMIT);
        assert_eq!(call.stub_size[0], 360_000);
        assert_eq!(cx.stats.data_cut, 360_000 - STUB_LIMIT as u64);
        // Garbage stops the direction, counted.
        s.feed(true, &[0x41; 32], &mut cx);
        assert_eq!(stats.parse_errors, 1);
        // Connectionless: every cut of a datagram is refused cleanly.
        let pdu = crate::testgen::smb::cl_pdu(0, 0, &NETLOGON, &[1; 16], 1, 2, 0, b"stub");
        assert!(probe_udp(&pdu));
        for cut in 0..pdu.len() {
            assert_eq!(cl_header(&pdu[..cut]).is_some(), cut == pdu.len());
        }
    }
}
