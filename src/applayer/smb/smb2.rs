//! SMB2 and SMB3 messages: the 64-byte header, compounded chains, async interim responses,
//! and the commands that carry what the sensor tracks (negotiate, session setup, tree
//! connect, create, close, read, write, IOCTL pipe transceive).

use super::{event, Carrier, Detail, FileKey, ParseCtx, PendingRead, SmbState, SmbTx};
use crate::applayer::wire::{le16, le32, le64, slice, utf16le};

const NEGOTIATE: u16 = 0x00;
const SESSION_SETUP: u16 = 0x01;
const TREE_CONNECT: u16 = 0x03;
const CREATE: u16 = 0x05;
const CLOSE: u16 = 0x06;
const READ: u16 = 0x08;
const WRITE: u16 = 0x09;
const IOCTL: u16 = 0x0b;
/// Header flag: the message is a response.
const FLAGS_RESPONSE: u32 = 0x1;
/// Header flag: async header (AsyncId instead of TreeId).
const FLAGS_ASYNC: u32 = 0x2;
/// The interim answer of an async operation.
const STATUS_PENDING: u32 = 0x103;
/// IOCTL code: a named-pipe transceive (DCERPC request in, response out).
const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_c017;
const HDR: usize = 64;
/// Commands followed per compounded chain.
const MAX_COMPOUND: usize = 32;

/// SMB2 command names (as Suricata logs them after `SMB2_COMMAND_`).
pub(super) fn command_name(c: u16) -> &'static str {
    match c {
        NEGOTIATE => "NEGOTIATE_PROTOCOL",
        SESSION_SETUP => "SESSION_SETUP",
        0x02 => "SESSION_LOGOFF",
        TREE_CONNECT => "TREE_CONNECT",
        0x04 => "TREE_DISCONNECT",
        CREATE => "CREATE",
        CLOSE => "CLOSE",
        0x07 => "FLUSH",
        READ => "READ",
        WRITE => "WRITE",
        0x0a => "LOCK",
        IOCTL => "IOCTL",
        0x0c => "CANCEL",
        0x0d => "KEEPALIVE",
        0x0e => "FIND",
        0x0f => "CHANGE_NOTIFY",
        0x10 => "GET_INFO",
        0x11 => "SET_INFO",
        0x12 => "OPLOCK_BREAK",
        _ => "UNKNOWN",
    }
}

/// The header fields the parser uses.
#[derive(Clone, Copy, Debug)]
struct Hdr {
    status: u32,
    command: u16,
    flags: u32,
    next: u32,
    msg_id: u64,
    tree_id: u32,
    session_id: u64,
}

fn header(m: &[u8]) -> Option<Hdr> {
    let flags = le32(m, 16)?;
    Some(Hdr {
        status: le32(m, 8)?,
        command: le16(m, 12)?,
        flags,
        next: le32(m, 20)?,
        msg_id: le64(m, 24)?,
        tree_id: if flags & FLAGS_ASYNC != 0 {
            0
        } else {
            le32(m, 36)?
        },
        session_id: le64(m, 40)?,
    })
}

fn file_id(m: &[u8], o: usize) -> Option<FileKey> {
    slice(m, o, 16)?.try_into().ok()
}

/// Data a message points at with an offset from its header and a length (cut at its end).
fn data_at(m: &[u8], off: usize, len: usize) -> &[u8] {
    let from = off.min(m.len());
    &m[from..from.saturating_add(len).min(m.len())]
}

/// A record's SMB2 messages (one, or a compounded chain).
pub(super) fn message(s: &mut SmbState, to_server: bool, rec: &[u8], cx: &mut ParseCtx<'_>) {
    let mut at = 0;
    for _ in 0..MAX_COMPOUND {
        let m = &rec[at..];
        let Some(h) = header(m) else {
            cx.stats.parse_errors += 1;
            if let Some(tx) = s.txs.back_mut() {
                tx.events |= event::MALFORMED_DATA;
            }
            return;
        };
        // Each message of a chain ends where the next begins.
        let len = match h.next as usize {
            0 => m.len(),
            n => n.min(m.len()),
        };
        command(s, to_server, &m[..len], &h, cx);
        let next = h.next as usize;
        if next < HDR || next >= m.len() {
            return;
        }
        at += next;
    }
}

fn command(s: &mut SmbState, to_server: bool, m: &[u8], h: &Hdr, cx: &mut ParseCtx<'_>) {
    let response = h.flags & FLAGS_RESPONSE != 0;
    if response == to_server {
        let e = if to_server {
            event::RESPONSE_TO_SERVER
        } else {
            event::REQUEST_TO_CLIENT
        };
        if let Some(tx) = s.txs.back_mut() {
            tx.events |= e;
        }
        return;
    }
    if response && h.status == STATUS_PENDING && h.flags & FLAGS_ASYNC != 0 {
        // An interim answer: the final one comes later with the same MessageId.
        return;
    }
    let b = HDR;
    if !response {
        request(s, m, h, cx);
        return;
    }
    match h.command {
        NEGOTIATE => {
            let dialect = le16(m, b + 4);
            let guid: Option<[u8; 16]> = slice(m, b + 8, 16).and_then(|g| g.try_into().ok());
            let max_rw = le32(m, b + 32).zip(le32(m, b + 36));
            // An SMB1 negotiate may be answered in SMB2: the open negotiation, whatever its
            // version.
            let found = match s.tx_for_response(2, h.msg_id) {
                Some(_) => true,
                None => s
                    .txs
                    .iter()
                    .rev()
                    .any(|t| matches!(t.detail, Detail::Negotiate { .. }) && !t.response_done),
            };
            if let Some(d) = dialect {
                s.dialect = Some(d);
            }
            if !found {
                return;
            }
            let tx = match s.tx_for_response(2, h.msg_id) {
                Some(t) => t,
                None => s
                    .txs
                    .iter_mut()
                    .rev()
                    .find(|t| matches!(t.detail, Detail::Negotiate { .. }) && !t.response_done)
                    .expect("found above"),
            };
            answer(tx, h);
            // Answered in SMB2: the negotiation is SMB2's from here on.
            tx.version = 2;
            tx.command = NEGOTIATE;
            if let Detail::Negotiate {
                chosen,
                server_guid,
                max_rw: mrw,
                ..
            } = &mut tx.detail
            {
                *chosen = dialect.map(|d| super::dialect_name(d).into_bytes());
                *server_guid = guid;
                *mrw = max_rw;
            }
        }
        TREE_CONNECT => {
            let pipe = m.get(b + 2) == Some(&2);
            let ok = h.status == 0;
            let mut path = Vec::new();
            if let Some(tx) = respond(s, h) {
                tx.tree_id = h.tree_id;
                if let Detail::Tree { pipe: p, share, .. } = &mut tx.detail {
                    *p = ok.then_some(pipe);
                    path.clone_from(share);
                }
            }
            if ok {
                s.add_tree(h.tree_id, pipe, path);
            }
        }
        CREATE => {
            let ok = h.status == 0 && le16(m, b) == Some(89);
            let times = (|| {
                Some([
                    le64(m, b + 8)?,
                    le64(m, b + 16)?,
                    le64(m, b + 24)?,
                    le64(m, b + 32)?,
                ])
            })()
            .map(|t| t.map(super::filetime));
            let size = le64(m, b + 48);
            let fid = file_id(m, b + 64);
            let Some(tx) = respond(s, h) else {
                return;
            };
            let id = tx.id;
            let mut pipe = false;
            if let Detail::Create {
                times: t,
                size: sz,
                pipe: p,
                ..
            } = &mut tx.detail
            {
                if ok {
                    *t = times;
                    *sz = size;
                }
                pipe = *p;
            }
            match fid.filter(|_| ok) {
                Some(key) => {
                    tx.fuid = Some(key);
                    tx.response_done = false;
                    s.add_open(key, id, pipe);
                }
                None => tx.response_done = true,
            }
        }
        READ => {
            let Some(r) = s.take_read(2, h.msg_id) else {
                return;
            };
            if h.status != 0 {
                return;
            }
            let (Some(&off), Some(len)) = (m.get(b + 2), le32(m, b + 4)) else {
                return;
            };
            let data = data_at(m, usize::from(off), len as usize);
            match s.open(&r.file) {
                Some(o) if o.pipe => s.dce_data(carrier(h), false, data, cx),
                Some(_) => s.file_data(&r.file, r.offset, data, false, cx),
                None => {}
            }
        }
        IOCTL => {
            if le32(m, b + 4) == Some(FSCTL_PIPE_TRANSCEIVE) {
                if let (Some(off), Some(len)) = (le32(m, b + 32), le32(m, b + 36)) {
                    let data = data_at(m, off as usize, len as usize);
                    s.dce_data(carrier(h), false, data, cx);
                }
            } else if let Some(tx) = respond(s, h) {
                tx.request_done = true;
            }
        }
        WRITE => {}
        _ => {
            if let Some(tx) = respond(s, h) {
                tx.session_id = h.session_id;
                if h.command == SESSION_SETUP && h.status == 0 {
                    tx.session_id = h.session_id;
                }
            }
        }
    }
}

fn request(s: &mut SmbState, m: &[u8], h: &Hdr, cx: &mut ParseCtx<'_>) {
    let b = HDR;
    match h.command {
        NEGOTIATE => {
            let duplicate = s.dialect.is_some();
            let n = usize::from(le16(m, b + 2).unwrap_or(0)).min(64);
            let client: Vec<Vec<u8>> = (0..n)
                .map_while(|i| le16(m, b + 36 + 2 * i))
                .map(|d| super::dialect_name(d).into_bytes())
                .collect();
            let tx = new_tx(s, h, cx);
            if client.is_empty() {
                tx.events |= event::NEGOTIATE_MALFORMED_DIALECTS;
            }
            if duplicate {
                tx.events |= event::DUPLICATE_NEGOTIATE;
            }
            tx.detail = Detail::Negotiate {
                client,
                chosen: None,
                server_guid: None,
                max_rw: None,
            };
        }
        SESSION_SETUP => {
            let blob = match (le16(m, b + 12), le16(m, b + 14)) {
                (Some(o), Some(l)) => data_at(m, usize::from(o), usize::from(l)),
                _ => &[],
            };
            let (ntlm, krb, malformed) = super::security_blob(blob);
            let tx = new_tx(s, h, cx);
            if malformed {
                tx.events |= event::MALFORMED_NTLMSSP_REQUEST;
            }
            tx.detail = Detail::Session {
                ntlm,
                krb,
                native: [None, None],
            };
        }
        TREE_CONNECT => {
            let share = match (le16(m, b + 4), le16(m, b + 6)) {
                (Some(o), Some(l)) => utf16le(data_at(m, usize::from(o), usize::from(l))),
                _ => Vec::new(),
            };
            new_tx(s, h, cx).detail = Detail::Tree {
                share: super::share_path(share),
                pipe: None,
                service: [None, None],
            };
        }
        CREATE => {
            let name = match (le16(m, b + 44), le16(m, b + 46)) {
                (Some(o), Some(l)) => utf16le(data_at(m, usize::from(o), usize::from(l))),
                _ => Vec::new(),
            };
            let disposition = le32(m, b + 36).unwrap_or(0);
            let directory = le32(m, b + 40).unwrap_or(0) & 1 != 0;
            let delete_on_close = le32(m, b + 40).unwrap_or(0) & 0x1000 != 0;
            let pipe = s.tree_is_pipe(h.tree_id);
            let share = s.tree_share(h.tree_id);
            new_tx(s, h, cx).detail = Detail::Create {
                name,
                share,
                disposition,
                pipe,
                directory,
                delete_on_close,
                times: None,
                size: None,
            };
        }
        CLOSE => {
            if let Some(key) = file_id(m, b + 8) {
                s.close_file(&key);
            }
            new_tx(s, h, cx);
        }
        READ => {
            let (Some(offset), Some(key)) = (le64(m, b + 8), file_id(m, b + 16)) else {
                return;
            };
            s.add_read(PendingRead {
                version: 2,
                key: h.msg_id,
                file: key,
                offset,
            });
        }
        WRITE => {
            let (Some(off), Some(len), Some(offset), Some(key)) = (
                le16(m, b + 2),
                le32(m, b + 4),
                le64(m, b + 8),
                file_id(m, b + 16),
            ) else {
                return;
            };
            let data = data_at(m, usize::from(off), len as usize);
            match s.open(&key) {
                Some(o) if o.pipe => s.dce_data(carrier(h), true, data, cx),
                Some(_) => s.file_data(&key, offset, data, true, cx),
                None => {}
            }
        }
        IOCTL if le32(m, b + 4) == Some(FSCTL_PIPE_TRANSCEIVE) => {
            if let (Some(off), Some(len)) = (le32(m, b + 24), le32(m, b + 28)) {
                let data = data_at(m, off as usize, len as usize);
                s.dce_data(carrier(h), true, data, cx);
            }
        }
        _ => {
            new_tx(s, h, cx);
        }
    }
}

/// The message carrying DCERPC, as its transaction logs it.
fn carrier(h: &Hdr) -> Carrier {
    Carrier {
        version: 2,
        command: h.command,
        session_id: h.session_id,
        tree_id: h.tree_id,
        status: (h.flags & FLAGS_RESPONSE != 0).then_some(h.status),
    }
}

fn new_tx<'a>(s: &'a mut SmbState, h: &Hdr, cx: &mut ParseCtx<'_>) -> &'a mut SmbTx {
    let tx = s.new_tx(2, h.command, h.msg_id, cx);
    tx.session_id = h.session_id;
    tx.tree_id = h.tree_id;
    tx.request_done = true;
    tx.det.updated[0] = true;
    tx
}

fn answer(tx: &mut SmbTx, h: &Hdr) {
    tx.status = Some(h.status);
    tx.response_done = true;
    tx.det.updated[1] = true;
}

/// The transaction a response answers: marks it answered with the response's status.
fn respond<'a>(s: &'a mut SmbState, h: &Hdr) -> Option<&'a mut SmbTx> {
    let tx = s.tx_for_response(2, h.msg_id)?;
    answer(tx, h);
    Some(tx)
}

/// The prefix of a record too large to buffer: a WRITE request or READ response streams its
/// data (the file, its offset, and where the data sits in the record).
pub(super) fn large(
    s: &mut SmbState,
    to_server: bool,
    prefix: &[u8],
    _cx: &mut ParseCtx<'_>,
) -> Option<(FileKey, u64, usize, usize)> {
    let h = header(prefix)?;
    let response = h.flags & FLAGS_RESPONSE != 0;
    let b = HDR;
    match (h.command, to_server, response) {
        (WRITE, true, false) => {
            let key = file_id(prefix, b + 16)?;
            s.open(&key).filter(|o| !o.pipe)?;
            Some((
                key,
                le64(prefix, b + 8)?,
                usize::from(le16(prefix, b + 2)?),
                le32(prefix, b + 4)? as usize,
            ))
        }
        (READ, false, true) if h.status == 0 => {
            let r = s.take_read(2, h.msg_id)?;
            s.open(&r.file).filter(|o| !o.pipe)?;
            Some((
                r.file,
                r.offset,
                usize::from(*prefix.get(b + 2)?),
                le32(prefix, b + 4)? as usize,
            ))
        }
        _ => None,
    }
}
