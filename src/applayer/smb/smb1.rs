//! SMB1 messages: the 32-byte header, AndX chains, and the commands that carry what the
//! sensor tracks (negotiate, session setup, tree connect, NT create, read, write, close,
//! named-pipe transactions).

use super::{event, Carrier, Detail, FileKey, ParseCtx, PendingRead, SmbState, MAX_ANDX};
use crate::applayer::wire::{cstr, le16, le32, le64, u8_at, utf16le};

const NEGOTIATE: u8 = 0x72;
const SESSION_SETUP_ANDX: u8 = 0x73;
const TREE_CONNECT_ANDX: u8 = 0x75;
const NT_CREATE_ANDX: u8 = 0xa2;
const WRITE_ANDX: u8 = 0x2f;
const READ_ANDX: u8 = 0x2e;
const CLOSE: u8 = 0x04;
const TRANSACTION: u8 = 0x25;
const TRANSACTION2: u8 = 0x32;
const NT_TRANSACT: u8 = 0xa0;
const ECHO: u8 = 0x2b;
/// Header flag: the message is a response.
const FLAGS_REPLY: u8 = 0x80;
/// Flags2: strings are UTF-16LE.
const FLAGS2_UNICODE: u16 = 0x8000;
/// TRANSACTION subcommand: a named-pipe transceive.
const TRANSACT_NM_PIPE: u16 = 0x26;
const HDR: usize = 32;

/// SMB1 command names (as Suricata logs them after `SMB1_COMMAND_`).
pub(super) fn command_name(c: u8) -> &'static str {
    match c {
        0x00 => "CREATE_DIRECTORY",
        0x01 => "DELETE_DIRECTORY",
        0x02 => "OPEN",
        0x03 => "CREATE",
        CLOSE => "CLOSE",
        0x05 => "FLUSH",
        0x06 => "DELETE",
        0x07 => "RENAME",
        0x08 => "QUERY_INFORMATION",
        0x09 => "SET_INFORMATION",
        0x0a => "READ",
        0x0b => "WRITE",
        0x24 => "LOCKING_ANDX",
        TRANSACTION => "TRANS",
        0x26 => "TRANS_SECONDARY",
        0x2d => "OPEN_ANDX",
        READ_ANDX => "READ_ANDX",
        WRITE_ANDX => "WRITE_ANDX",
        ECHO => "ECHO",
        TRANSACTION2 => "TRANS2",
        0x33 => "TRANS2_SECONDARY",
        0x34 => "FIND_CLOSE2",
        NEGOTIATE => "NEGOTIATE_PROTOCOL",
        SESSION_SETUP_ANDX => "SESSION_SETUP_ANDX",
        0x74 => "LOGOFF_ANDX",
        TREE_CONNECT_ANDX => "TREE_CONNECT_ANDX",
        0x71 => "TREE_DISCONNECT",
        NT_TRANSACT => "NT_TRANS",
        0xa1 => "NT_TRANS_SECONDARY",
        NT_CREATE_ANDX => "NT_CREATE_ANDX",
        0xa4 => "NT_CANCEL",
        _ => "UNKNOWN",
    }
}

/// The header fields the parser uses.
#[derive(Clone, Copy, Debug)]
struct Hdr {
    status: u32,
    reply: bool,
    unicode: bool,
    tid: u16,
    uid: u16,
    /// PID and MID: the request/response key.
    key: u64,
}

fn header(msg: &[u8]) -> Option<Hdr> {
    let flags = u8_at(msg, 9)?;
    Some(Hdr {
        status: le32(msg, 5)?,
        reply: flags & FLAGS_REPLY != 0,
        unicode: le16(msg, 10)? & FLAGS2_UNICODE != 0,
        tid: le16(msg, 24)?,
        uid: le16(msg, 28)?,
        key: u64::from(le16(msg, 26)?) << 16 | u64::from(le16(msg, 30)?),
    })
}

/// One command block of a message: its word count at `at`.
#[derive(Clone, Copy)]
struct Block<'a> {
    msg: &'a [u8],
    at: usize,
}

impl<'a> Block<'a> {
    fn wc(&self) -> usize {
        usize::from(self.msg.get(self.at).copied().unwrap_or(0))
    }

    /// The parameter word area's u16 at byte offset `o`.
    fn w16(&self, o: usize) -> Option<u16> {
        (o + 2 <= 2 * self.wc())
            .then(|| le16(self.msg, self.at + 1 + o))
            .flatten()
    }

    fn w32(&self, o: usize) -> Option<u32> {
        (o + 4 <= 2 * self.wc())
            .then(|| le32(self.msg, self.at + 1 + o))
            .flatten()
    }

    fn w64(&self, o: usize) -> Option<u64> {
        (o + 8 <= 2 * self.wc())
            .then(|| le64(self.msg, self.at + 1 + o))
            .flatten()
    }

    /// Offset of the data bytes within the message, and the bytes (cut at the message end).
    fn bytes(&self) -> (usize, &'a [u8]) {
        let bcc_at = self.at + 1 + 2 * self.wc();
        let n = usize::from(le16(self.msg, bcc_at).unwrap_or(0));
        let from = (bcc_at + 2).min(self.msg.len());
        let to = (from + n).min(self.msg.len());
        (from, &self.msg[from..to])
    }
}

/// A string in the data bytes at message offset `off`: UTF-16LE (aligned to 2 from the
/// header) when the message says so, else up to a NUL. Returns it and the offset past it.
fn string_at(msg: &[u8], mut off: usize, end: usize, unicode: bool) -> (Vec<u8>, usize) {
    let end = end.min(msg.len());
    if off >= end {
        return (Vec::new(), end);
    }
    if unicode {
        off += off % 2;
        let d = &msg[off.min(end)..end];
        let n = d
            .chunks_exact(2)
            .position(|c| c == [0, 0])
            .map_or(d.len(), |i| 2 * i);
        (utf16le(&d[..n]), (off + n + 2).min(end))
    } else {
        let s = cstr(&msg[off..end]);
        (s.to_vec(), (off + s.len() + 1).min(end))
    }
}

/// Native OS and LAN manager strings after a session setup's security blob. In Unicode two
/// terminated UTF-16 strings take an even number of bytes, so an odd count means a leading
/// pad byte (senders differ on what they align to).
fn native_pair(rest: &[u8], unicode: bool) -> (Vec<u8>, Vec<u8>) {
    let rest = if unicode && rest.len() % 2 == 1 {
        &rest[1..]
    } else {
        rest
    };
    let (os, next) = string_at(rest, 0, rest.len(), unicode);
    let (lm, _) = string_at(rest, next, rest.len(), unicode);
    (os, lm)
}

fn fid_key(fid: u16) -> FileKey {
    let mut k = [0u8; 16];
    k[..2].copy_from_slice(&fid.to_le_bytes());
    k
}

/// A complete SMB1 message.
pub(super) fn message(s: &mut SmbState, to_server: bool, msg: &[u8], cx: &mut ParseCtx<'_>) {
    let Some(h) = header(msg) else {
        cx.stats.parse_errors += 1;
        return;
    };
    if h.reply == to_server {
        let e = if to_server {
            event::RESPONSE_TO_SERVER
        } else {
            event::REQUEST_TO_CLIENT
        };
        if let Some(tx) = s.txs.back_mut() {
            tx.events |= e;
        }
    }
    let mut cmd = msg[4];
    let mut at = HDR;
    for _ in 0..MAX_ANDX {
        let b = Block { msg, at };
        command(s, to_server, cmd, b, &h, cx);
        if !is_andx(cmd) {
            break;
        }
        let (Some(next), Some(off)) = (b.w16(0).map(|w| w as u8), b.w16(2)) else {
            break;
        };
        let off = usize::from(off);
        // AndX offsets must move forward inside the message.
        if next == 0xff || off <= at || off >= msg.len() {
            break;
        }
        cmd = next;
        at = off;
    }
}

fn is_andx(cmd: u8) -> bool {
    matches!(
        cmd,
        SESSION_SETUP_ANDX
            | TREE_CONNECT_ANDX
            | NT_CREATE_ANDX
            | WRITE_ANDX
            | READ_ANDX
            | 0x24
            | 0x2d
            | 0x74
    )
}

/// One command of a message.
fn command(
    s: &mut SmbState,
    to_server: bool,
    cmd: u8,
    b: Block<'_>,
    h: &Hdr,
    cx: &mut ParseCtx<'_>,
) {
    let msg = b.msg;
    match (cmd, to_server) {
        (NEGOTIATE, true) => {
            let duplicate = s.dialect.is_some();
            let (_, bytes) = b.bytes();
            let client: Vec<Vec<u8>> = bytes
                .split(|&c| c == 0)
                .filter_map(|d| d.strip_prefix(&[2]))
                .map(<[u8]>::to_vec)
                .take(64)
                .collect();
            let tx = new_tx(s, cmd, h, cx);
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
        (NEGOTIATE, false) => {
            let idx = b.w16(0);
            if let Some(tx) = respond(s, h) {
                if let (Detail::Negotiate { client, chosen, .. }, Some(i)) = (&mut tx.detail, idx) {
                    *chosen = client.get(usize::from(i)).cloned();
                }
            }
            s.dialect = Some(0x0100);
        }
        (SESSION_SETUP_ANDX, true) => {
            let (_, bytes) = b.bytes();
            let mut ntlm = None;
            let mut krb = None;
            let mut native = None;
            let mut malformed = false;
            if b.wc() == 12 {
                let blob_len = usize::from(b.w16(14).unwrap_or(0)).min(bytes.len());
                let blob = &bytes[..blob_len];
                (ntlm, krb, malformed) = super::security_blob(blob);
                native = Some(native_pair(&bytes[blob_len..], h.unicode));
            }
            let tx = new_tx(s, cmd, h, cx);
            if malformed {
                tx.events |= event::MALFORMED_NTLMSSP_REQUEST;
            }
            tx.detail = Detail::Session {
                ntlm,
                krb,
                native: [native, None],
            };
        }
        (SESSION_SETUP_ANDX, false) => {
            let (_, bytes) = b.bytes();
            let blob_len = usize::from(b.w16(6).unwrap_or(0)).min(bytes.len());
            let (os, lm) = native_pair(&bytes[blob_len..], h.unicode);
            if let Some(tx) = respond(s, h) {
                tx.session_id = u64::from(h.uid);
                if let Detail::Session { native, .. } = &mut tx.detail {
                    native[1] = Some((os, lm));
                }
            }
        }
        (TREE_CONNECT_ANDX, true) => {
            let (off, bytes) = b.bytes();
            let pw = usize::from(b.w16(6).unwrap_or(0)).min(bytes.len());
            let end = off + bytes.len();
            let (share, next) = string_at(msg, off + pw, end, h.unicode);
            let service = cstr(&msg[next.min(end)..end]).to_vec();
            let tx = new_tx(s, cmd, h, cx);
            tx.detail = Detail::Tree {
                share: super::share_path(share),
                pipe: None,
                service: [Some(service), None],
            };
        }
        (TREE_CONNECT_ANDX, false) => {
            let (_, bytes) = b.bytes();
            let answered = cstr(bytes).to_vec();
            let pipe = answered == b"IPC";
            let ok = h.status == 0;
            let mut path = Vec::new();
            if let Some(tx) = respond(s, h) {
                tx.tree_id = u32::from(h.tid);
                if let Detail::Tree {
                    pipe: p,
                    service,
                    share,
                } = &mut tx.detail
                {
                    *p = ok.then_some(pipe);
                    service[1] = ok.then_some(answered);
                    path.clone_from(share);
                }
            }
            if ok {
                s.add_tree(u32::from(h.tid), pipe, path);
            }
        }
        (NT_CREATE_ANDX, true) => {
            let (off, bytes) = b.bytes();
            let name_len = usize::from(b.w16(5).unwrap_or(0));
            let end = (off + bytes.len()).min(off + name_len + 1);
            let (mut name, _) = string_at(msg, off, end, h.unicode);
            if name.is_empty() && !h.unicode {
                name = cstr(bytes).to_vec();
            }
            let disposition = b.w32(35).unwrap_or(0);
            let directory = b.w32(39).unwrap_or(0) & 1 != 0;
            let delete_on_close = b.w32(39).unwrap_or(0) & 0x1000 != 0;
            let pipe = s.tree_is_pipe(u32::from(h.tid));
            let share = s.tree_share(u32::from(h.tid));
            let tx = new_tx(s, cmd, h, cx);
            tx.detail = Detail::Create {
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
        (NT_CREATE_ANDX, false) => {
            let fid = b.w16(5);
            let times = (|| Some([b.w64(11)?, b.w64(19)?, b.w64(27)?, b.w64(35)?]))()
                .map(|t| t.map(super::filetime));
            let size = b.w64(55);
            let is_dir = b.msg.get(b.at + 1 + 67).is_some_and(|&d| d != 0);
            let ok = h.status == 0;
            let Some(tx) = respond(s, h) else {
                return;
            };
            let id = tx.id;
            let mut pipe = false;
            if let Detail::Create {
                times: t,
                size: sz,
                directory,
                pipe: p,
                ..
            } = &mut tx.detail
            {
                *t = times;
                *sz = size;
                *directory |= is_dir;
                pipe = *p;
            }
            match fid.filter(|_| ok) {
                Some(fid) => {
                    let key = fid_key(fid);
                    tx.fuid = Some(key);
                    // The transaction lives on as the file's until the close.
                    tx.response_done = false;
                    s.add_open(key, id, pipe);
                }
                None => tx.response_done = true,
            }
        }
        (WRITE_ANDX, true) => {
            let (Some(fid), Some(off_lo), Some(len_lo), Some(data_off)) =
                (b.w16(4), b.w32(6), b.w16(20), b.w16(22))
            else {
                return;
            };
            let len = usize::from(len_lo) | usize::from(b.w16(18).unwrap_or(0)) << 16;
            let offset = u64::from(off_lo) | u64::from(b.w32(24).unwrap_or(0)) << 32;
            let from = usize::from(data_off).min(msg.len());
            let data = &msg[from..(from + len).min(msg.len())];
            write_data(s, fid_key(fid), offset, data, carrier(cmd, h, false), cx);
        }
        (READ_ANDX, true) => {
            let (Some(fid), Some(off_lo)) = (b.w16(4), b.w32(6)) else {
                return;
            };
            let offset = u64::from(off_lo) | u64::from(b.w32(20).unwrap_or(0)) << 32;
            s.add_read(PendingRead {
                version: 1,
                key: h.key,
                file: fid_key(fid),
                offset,
            });
        }
        (READ_ANDX, false) => {
            let Some(r) = s.take_read(1, h.key) else {
                return;
            };
            let (Some(len_lo), Some(data_off)) = (b.w16(10), b.w16(12)) else {
                return;
            };
            let len = usize::from(len_lo) | usize::from(b.w16(14).unwrap_or(0)) << 16;
            let from = usize::from(data_off).min(msg.len());
            let data = &msg[from..(from + len).min(msg.len())];
            read_data(s, r, data, carrier(cmd, h, true), cx);
        }
        (CLOSE, true) => {
            if let Some(fid) = b.w16(0) {
                s.close_file(&fid_key(fid));
            }
            new_tx(s, cmd, h, cx).request_done = true;
        }
        (TRANSACTION, true) => {
            // A named-pipe transceive carries DCERPC in its data.
            let setup = u8_at(msg, b.at + 1 + 26).unwrap_or(0);
            let (Some(dcnt), Some(doff)) = (b.w16(22), b.w16(24)) else {
                return;
            };
            if setup >= 2 && b.w16(28) == Some(TRANSACT_NM_PIPE) {
                let from = usize::from(doff).min(msg.len());
                let data = &msg[from..(from + usize::from(dcnt)).min(msg.len())];
                s.dce_data(carrier(cmd, h, false), true, data, cx);
            }
        }
        (TRANSACTION, false) => {
            let (Some(dcnt), Some(doff)) = (b.w16(12), b.w16(14)) else {
                return;
            };
            let from = usize::from(doff).min(msg.len());
            let data = &msg[from..(from + usize::from(dcnt)).min(msg.len())];
            if dcerpc_like(data) {
                s.dce_data(carrier(cmd, h, true), false, data, cx);
            }
        }
        (WRITE_ANDX | TRANSACTION2 | NT_TRANSACT | ECHO | 0x26 | 0x33 | 0xa1, _) => {}
        (_, true) => {
            new_tx(s, cmd, h, cx).request_done = true;
        }
        (_, false) => {
            if let Some(tx) = respond(s, h) {
                tx.request_done = true;
            }
        }
    }
}

/// The message carrying DCERPC, as its transaction logs it.
fn carrier(cmd: u8, h: &Hdr, response: bool) -> Carrier {
    Carrier {
        version: 1,
        command: u16::from(cmd),
        session_id: u64::from(h.uid),
        tree_id: u32::from(h.tid),
        status: response.then_some(h.status),
    }
}

fn dcerpc_like(d: &[u8]) -> bool {
    crate::applayer::dcerpc::header(d).is_some()
}

/// Data written to a file or a pipe.
fn write_data(
    s: &mut SmbState,
    key: FileKey,
    offset: u64,
    data: &[u8],
    via: Carrier,
    cx: &mut ParseCtx<'_>,
) {
    match s.open(&key) {
        Some(o) if o.pipe => s.dce_data(via, true, data, cx),
        Some(_) => s.file_data(&key, offset, data, true, cx),
        None => {}
    }
}

/// Data a read returned from a file or a pipe.
fn read_data(s: &mut SmbState, r: PendingRead, data: &[u8], via: Carrier, cx: &mut ParseCtx<'_>) {
    match s.open(&r.file) {
        Some(o) if o.pipe => s.dce_data(via, false, data, cx),
        Some(_) => s.file_data(&r.file, r.offset, data, false, cx),
        None => {}
    }
}

fn new_tx<'a>(
    s: &'a mut SmbState,
    cmd: u8,
    h: &Hdr,
    cx: &mut ParseCtx<'_>,
) -> &'a mut super::SmbTx {
    let tx = s.new_tx(1, u16::from(cmd), h.key, cx);
    tx.session_id = u64::from(h.uid);
    tx.tree_id = u32::from(h.tid);
    tx.request_done = true;
    tx.det.updated[0] = true;
    tx
}

/// The transaction a response answers: marks it answered with the response's status.
fn respond<'a>(s: &'a mut SmbState, h: &Hdr) -> Option<&'a mut super::SmbTx> {
    let tx = s.tx_for_response(1, h.key)?;
    tx.status = Some(h.status);
    tx.response_done = true;
    tx.det.updated[1] = true;
    Some(tx)
}

/// The prefix of a record too large to buffer: a WRITE_ANDX request or READ_ANDX response
/// streams its data (the file, its offset, and where the data sits in the record).
pub(super) fn large(
    s: &mut SmbState,
    to_server: bool,
    prefix: &[u8],
    _cx: &mut ParseCtx<'_>,
) -> Option<(FileKey, u64, usize, usize)> {
    let h = header(prefix)?;
    let b = Block {
        msg: prefix,
        at: HDR,
    };
    match (prefix[4], to_server) {
        (WRITE_ANDX, true) => {
            let fid = b.w16(4)?;
            let offset = u64::from(b.w32(6)?) | u64::from(b.w32(24).unwrap_or(0)) << 32;
            let len = usize::from(b.w16(20)?) | usize::from(b.w16(18).unwrap_or(0)) << 16;
            let key = fid_key(fid);
            s.open(&key).filter(|o| !o.pipe)?;
            Some((key, offset, usize::from(b.w16(22)?), len))
        }
        (READ_ANDX, false) => {
            let r = s.take_read(1, h.key)?;
            let len = usize::from(b.w16(10)?) | usize::from(b.w16(14).unwrap_or(0)) << 16;
            s.open(&r.file).filter(|o| !o.pipe)?;
            Some((r.file, r.offset, usize::from(b.w16(12)?), len))
        }
        _ => None,
    }
}
