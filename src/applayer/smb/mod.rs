//! SMB 1, 2 and 3 over NetBIOS session framing (TCP 445 and 139): negotiation, session
//! setup (NTLMSSP user, domain and host), tree connects (shares and the IPC$ pipe tree),
//! creates (file names), reads and writes as files in the shared file model, and DCERPC
//! carried over named pipes (writes, reads, SMB1 transactions, SMB2 IOCTLs). Encrypted SMB3
//! (transform header) and compressed messages are counted, not inspected.
//!
//! State is bounded: a record is buffered only up to [`BUFFERED_MAX`]; larger reads and
//! writes stream their data into the file without being kept; transactions, open files,
//! trees, pending reads and out-of-order file chunks each have a cap, and what exceeds one is
//! counted.

mod smb1;
mod smb2;

use std::collections::VecDeque;
use std::io::Write;

use super::dcerpc::{self, Applied, Binding, DceCall, HasCall};
use super::files::File;
use super::ntlmssp::NtlmAuth;
use super::parser::{ParseCtx, Parser, Protocol, Transaction, TxDetect};
use super::wire::guid_string;
use super::{AppProto, Buf, Probe};
use crate::common::json::{push_json_bytes, push_key, push_list};

/// SMB anomalies (Suricata's `smb.*` event names).
pub mod event {
    /// A message's fields do not fit the message.
    pub const MALFORMED_DATA: u32 = 1 << 0;
    /// A NetBIOS record larger than the sensor buffers, that is not a read or write.
    pub const RECORD_OVERFLOW: u32 = 1 << 1;
    /// An NTLMSSP blob that could not be read.
    pub const MALFORMED_NTLMSSP_REQUEST: u32 = 1 << 2;
    /// A second negotiation on the session.
    pub const DUPLICATE_NEGOTIATE: u32 = 1 << 3;
    /// A negotiate request without readable dialects.
    pub const NEGOTIATE_MALFORMED_DIALECTS: u32 = 1 << 4;
    /// File data overlapping data already seen, or out of order past the queue's limit.
    pub const FILE_OVERLAP: u32 = 1 << 5;
    /// Transactions past the per-flow limit were not kept.
    pub const TOO_MANY_TRANSACTIONS: u32 = 1 << 6;
    /// A request travelling to the client.
    pub const REQUEST_TO_CLIENT: u32 = 1 << 7;
    /// A response travelling to the server.
    pub const RESPONSE_TO_SERVER: u32 = 1 << 8;

    /// The bit of an `app-layer-event:smb.<name>` name.
    pub fn by_name(name: &str) -> Option<u32> {
        Some(match name {
            "malformed_data" => MALFORMED_DATA,
            "record_overflow" => RECORD_OVERFLOW,
            "malformed_ntlmssp_request" => MALFORMED_NTLMSSP_REQUEST,
            "duplicate_negotiate" => DUPLICATE_NEGOTIATE,
            "negotiate_malformed_dialects" => NEGOTIATE_MALFORMED_DIALECTS,
            "file_overlap" => FILE_OVERLAP,
            "too_many_transactions" => TOO_MANY_TRANSACTIONS,
            "request_to_client" => REQUEST_TO_CLIENT,
            "response_to_server" => RESPONSE_TO_SERVER,
            _ => return None,
        })
    }
}

/// Records up to this size are buffered whole; larger ones are read or write data streamed
/// past a prefix (or skipped).
pub const BUFFERED_MAX: usize = 64 * 1024 + 1024;
/// Prefix of a large record parsed for its command before its data streams.
const PREFIX: usize = 1024;
/// Open files (and pipes) tracked per flow.
const MAX_OPENS: usize = 256;
/// Trees tracked per flow.
const MAX_TREES: usize = 64;
/// Reads waiting for their response, per flow.
const MAX_READS: usize = 256;
/// Out-of-order file bytes held per flow until the gap before them fills.
const MAX_PENDING: usize = 1 << 20;
/// Out-of-order chunks held per flow (each arrival scans them: a bound on the work as well
/// as the bytes, whatever chunk sizes an attacker picks).
const MAX_PENDING_CHUNKS: usize = 64;
/// SMB1 AndX commands followed per message.
const MAX_ANDX: usize = 8;

/// A Kerberos service ticket's realm and server name parts.
pub type KrbTicket = (Vec<u8>, Vec<Vec<u8>>);

/// A file's handle: SMB2's 16-byte FileId, or SMB1's FID in the first two bytes.
pub type FileKey = [u8; 16];

/// What a transaction is about, beyond its command.
#[derive(Clone, Debug, Default)]
pub enum Detail {
    /// A command logged by name and status only.
    #[default]
    Generic,
    /// Dialect negotiation.
    Negotiate {
        /// Dialects the client offered (names).
        client: Vec<Vec<u8>>,
        /// The dialect the server chose.
        chosen: Option<Vec<u8>>,
        /// Server GUID (SMB2).
        server_guid: Option<[u8; 16]>,
        /// Largest read and write the server accepts (SMB2).
        max_rw: Option<(u32, u32)>,
    },
    /// Session setup: who authenticated.
    Session {
        /// NTLMSSP AUTHENTICATE fields.
        ntlm: Option<NtlmAuth>,
        /// Kerberos: the service ticket's realm and server name parts.
        krb: Option<KrbTicket>,
        /// SMB1: native OS and LAN manager of the request and the response.
        native: [Option<(Vec<u8>, Vec<u8>)>; 2],
    },
    /// Tree connect.
    Tree {
        /// The share path (`\server\share`: as Suricata gives it, one of the two leading
        /// backslashes dropped, so rules written for it match).
        share: Vec<u8>,
        /// The tree is the IPC$ pipe tree (from the response).
        pipe: Option<bool>,
        /// SMB1: the service asked for and the one answered (`A:`, `IPC`, `?????`).
        service: [Option<Vec<u8>>; 2],
    },
    /// Create/open of a file, directory or pipe; the file's data lands here.
    Create {
        /// The name as sent.
        name: Vec<u8>,
        /// The share path of the tree it was opened on (empty when the connect was not
        /// seen).
        share: Vec<u8>,
        /// Create disposition.
        disposition: u32,
        /// Opened on the pipe tree.
        pipe: bool,
        /// A directory (SMB1: from the response; SMB2: from the create options).
        directory: bool,
        /// Opened to be deleted on close (create option FILE_DELETE_ON_CLOSE).
        delete_on_close: bool,
        /// Created, accessed, modified, changed (Unix seconds), from the response.
        times: Option<[i64; 4]>,
        /// End of file, from the response.
        size: Option<u64>,
    },
    /// A DCERPC call over a named pipe.
    Dce(Box<DceCall>),
}

/// One SMB transaction: a command and its response, a file's life, or a DCERPC call.
#[derive(Debug, Default)]
pub struct SmbTx {
    /// Transaction number within its flow (EVE `id` and `tx_id`).
    pub id: u64,
    /// 1 or 2 (SMB3 is 2).
    pub version: u8,
    /// The command (SMB1's byte or SMB2's code).
    pub command: u16,
    /// Request/response matching key: SMB2 MessageId, SMB1 PID and MID.
    key: u64,
    /// NT status of the response.
    pub status: Option<u32>,
    /// The session's dialect when the transaction started (SMB2 revision, 0x0100 for NT LM
    /// 0.12).
    pub dialect: Option<u16>,
    /// SMB2 session and tree ids (SMB1 UID and TID).
    pub session_id: u64,
    /// Tree id.
    pub tree_id: u32,
    /// The request was seen whole.
    pub request_done: bool,
    /// The response was seen (or, for files, the close).
    pub response_done: bool,
    /// What the transaction is about.
    pub detail: Detail,
    /// The handle of the opened file (creates).
    pub fuid: Option<FileKey>,
    /// Files: at most one per direction (write and read).
    pub files: Vec<File>,
    /// [`event`] bits.
    pub events: u32,
    /// Detection and logging state.
    pub det: TxDetect,
}

impl SmbTx {
    fn heap(&self) -> usize {
        let detail = match &self.detail {
            Detail::Generic => 0,
            Detail::Negotiate { client, chosen, .. } => {
                client.iter().map(Vec::capacity).sum::<usize>()
                    + chosen.as_ref().map_or(0, Vec::capacity)
            }
            Detail::Session { ntlm, native, krb } => {
                ntlm.as_ref().map_or(0, NtlmAuth::heap)
                    + krb.as_ref().map_or(0, |(r, s)| {
                        r.capacity() + s.iter().map(Vec::capacity).sum::<usize>()
                    })
                    + native
                        .iter()
                        .flatten()
                        .map(|(a, b)| a.capacity() + b.capacity())
                        .sum::<usize>()
            }
            Detail::Tree { share, service, .. } => {
                share.capacity() + service.iter().flatten().map(Vec::capacity).sum::<usize>()
            }
            Detail::Create { name, share, .. } => name.capacity() + share.capacity(),
            Detail::Dce(c) => c.heap() + std::mem::size_of::<DceCall>(),
        };
        detail + self.files.iter().map(File::heap).sum::<usize>() + self.det.heap()
    }

    fn complete_(&self) -> bool {
        self.request_done && self.response_done
    }
}

/// An open file or pipe: its handle and the transaction of its create.
#[derive(Clone, Copy, Debug)]
struct Open {
    key: FileKey,
    tx_id: u64,
    pipe: bool,
}

/// A read waiting for its response: the file and where in it.
#[derive(Clone, Copy, Debug)]
struct PendingRead {
    version: u8,
    key: u64,
    file: FileKey,
    offset: u64,
}

/// Where the rest of a large record goes.
#[derive(Clone, Copy, Debug)]
enum Sink {
    /// File data: record bytes `[from, to)` are the file's bytes from `offset`.
    File {
        file: FileKey,
        offset: u64,
        from: usize,
        to: usize,
    },
    /// Not inspected.
    Skip,
}

/// NetBIOS framing of one direction.
#[derive(Debug, Default)]
struct Framer {
    hdr: [u8; 4],
    hdr_len: usize,
    /// Record type and length, once the header is complete.
    rec: Option<(u8, usize)>,
    /// Bytes of the current record consumed so far.
    seen: usize,
    /// The buffered part of the record.
    buf: Vec<u8>,
    /// Large record: where bytes past the prefix go.
    sink: Option<Sink>,
    /// The framing was lost (a stream gap, a record that is not NetBIOS): bytes are skipped
    /// until the next SMB record header.
    resync: bool,
}

/// Where in `d` the next NetBIOS session message carrying an SMB header starts (a record
/// header split across two deliveries is missed; the one after it is found).
fn next_record(d: &[u8]) -> Option<usize> {
    memchr::memmem::find_iter(d, b"SMB")
        .filter(|&p| p >= 5)
        .map(|p| p - 5)
        .find(|&i| d[i] == 0 && matches!(d[i + 4], 0xfc..=0xff))
}

/// Per-flow SMB state.
#[derive(Debug, Default)]
pub struct SmbState {
    framers: [Framer; 2],
    txs: VecDeque<SmbTx>,
    next_id: u64,
    /// The negotiated dialect (SMB2 revision, or 0x0100 for NT LM 0.12).
    dialect: Option<u16>,
    /// Trees: id, whether it is the pipe tree, and its share path.
    trees: Vec<(u32, bool, Vec<u8>)>,
    opens: Vec<Open>,
    reads: Vec<PendingRead>,
    /// Out-of-order file chunks: file, offset, bytes.
    pending: Vec<(FileKey, u64, Vec<u8>)>,
    pending_bytes: usize,
    /// DCERPC interfaces bound over the session's pipes.
    binding: Binding,
    /// Encrypted (SMB3 transform) and compressed messages skipped.
    pub encrypted_msgs: u64,
    /// Bytes given to the parser per direction.
    fed: [u64; 2],
    /// Per direction: how many bytes had been given when its first encrypted message came.
    encrypted_at: [Option<u64>; 2],
}

/// SMB's registration.
pub static PROTOCOL: Protocol = Protocol {
    proto: AppProto::Smb,
    names: &["smb"],
    event_type: "smb",
    switch: None,
    parser_error_event: "smb.parser_error",
    buffers: &[
        ("smb.share", Buf::SmbShare),
        ("smb.named_pipe", Buf::SmbNamedPipe),
        ("smb.ntlmssp_user", Buf::SmbNtlmsspUser),
        ("smb.ntlmssp_domain", Buf::SmbNtlmsspDomain),
        ("smb.version", Buf::SmbVersion),
        ("file.data", Buf::FileData),
        ("file.name", Buf::FileName),
        ("file.magic", Buf::FileMagic),
        ("dce_stub_data", Buf::DceStubData),
        ("dce_iface", Buf::DceIface),
        ("dce_opnum", Buf::DceOpnum),
    ],
    ports: &[],
    probe_tcp: Some(probe),
    probe_udp: None,
    new_parser: |_| Box::<SmbState>::default(),
    event_by_name: event::by_name,
    triggers_raw: false,
};

/// Probe: a NetBIOS session message carrying an SMB header (`\xffSMB`, `\xfeSMB`,
/// `\xfdSMB`, `\xfcSMB`), or a NetBIOS session request (port 139) of the usual size.
pub fn probe(data: &[u8], _to_server: bool) -> Probe {
    match data[0] {
        0x00 => {}
        0x81 | 0x82 | 0x85 => {
            if data.len() < 4 {
                return Probe::NeedMore;
            }
            let len = u32::from(data[1] & 1) << 16 | u32::from(data[2]) << 8 | u32::from(data[3]);
            let ok = match data[0] {
                0x81 => len == 68,
                _ => len == 0,
            };
            return if ok {
                Probe::Found(AppProto::Smb)
            } else {
                Probe::NoMatch
            };
        }
        _ => return Probe::NoMatch,
    }
    if data.len() < 8 {
        // Every byte so far must agree with a record header and an SMB signature.
        let sig = b"SMB";
        let ok = data.get(4).is_none_or(|&b| matches!(b, 0xfc..=0xff))
            && data.iter().skip(5).zip(sig).all(|(a, b)| a == b);
        return if ok { Probe::NeedMore } else { Probe::NoMatch };
    }
    if matches!(data[4], 0xfc..=0xff) && &data[5..8] == b"SMB" {
        Probe::Found(AppProto::Smb)
    } else {
        Probe::NoMatch
    }
}

/// What a session setup's security blob says of who authenticates: NTLMSSP's user, domain
/// and host, or a Kerberos ticket's realm and service; and whether an NTLMSSP AUTHENTICATE
/// was there but could not be read.
fn security_blob(blob: &[u8]) -> (Option<NtlmAuth>, Option<KrbTicket>, bool) {
    if memchr::memmem::find(blob, b"NTLMSSP\0").is_some() {
        let ntlm = super::ntlmssp::find_auth(blob);
        let malformed =
            ntlm.is_none() && memchr::memmem::find(blob, b"NTLMSSP\0\x03\0\0\0").is_some();
        return (ntlm, None, malformed);
    }
    (None, super::krb5::ap_req_ticket(blob), false)
}

/// A file id as Suricata prints it: GUID-like groups, the first four each in reverse byte
/// order.
fn fuid_string(k: &FileKey) -> String {
    let mut g = *k;
    g[8..10].reverse();
    guid_string(&g)
}

/// A tree path as Suricata keeps it: the first of its two leading backslashes dropped.
fn share_path(mut p: Vec<u8>) -> Vec<u8> {
    if p.starts_with(b"\\\\") {
        p.remove(0);
    }
    p
}

/// NT status names for the codes seen most.
fn status_name(s: u32) -> Option<&'static str> {
    Some(match s {
        0x0000_0000 => "STATUS_SUCCESS",
        0x0000_0103 => "STATUS_PENDING",
        0x0000_010b => "STATUS_NOTIFY_CLEANUP",
        0x0000_010c => "STATUS_NOTIFY_ENUM_DIR",
        0x8000_0005 => "STATUS_BUFFER_OVERFLOW",
        0x8000_0006 => "STATUS_NO_MORE_FILES",
        0xc000_0003 => "STATUS_INVALID_INFO_CLASS",
        0xc000_000d => "STATUS_INVALID_PARAMETER",
        0xc000_000f => "STATUS_NO_SUCH_FILE",
        0xc000_0010 => "STATUS_INVALID_DEVICE_REQUEST",
        0xc000_0011 => "STATUS_END_OF_FILE",
        0xc000_0016 => "STATUS_MORE_PROCESSING_REQUIRED",
        0xc000_0022 => "STATUS_ACCESS_DENIED",
        0xc000_0023 => "STATUS_BUFFER_TOO_SMALL",
        0xc000_0033 => "STATUS_OBJECT_NAME_INVALID",
        0xc000_0034 => "STATUS_OBJECT_NAME_NOT_FOUND",
        0xc000_0035 => "STATUS_OBJECT_NAME_COLLISION",
        0xc000_003a => "STATUS_OBJECT_PATH_NOT_FOUND",
        0xc000_0043 => "STATUS_SHARING_VIOLATION",
        0xc000_006d => "STATUS_LOGON_FAILURE",
        0xc000_006e => "STATUS_ACCOUNT_RESTRICTION",
        0xc000_0071 => "STATUS_PASSWORD_EXPIRED",
        0xc000_0072 => "STATUS_ACCOUNT_DISABLED",
        0xc000_00ba => "STATUS_FILE_IS_A_DIRECTORY",
        0xc000_00bb => "STATUS_NOT_SUPPORTED",
        0xc000_00c9 => "STATUS_NETWORK_NAME_DELETED",
        0xc000_00cc => "STATUS_BAD_NETWORK_NAME",
        0xc000_0101 => "STATUS_DIRECTORY_NOT_EMPTY",
        0xc000_0120 => "STATUS_CANCELLED",
        0xc000_0128 => "STATUS_FILE_CLOSED",
        0xc000_014b => "STATUS_PIPE_BROKEN",
        0xc000_0184 => "STATUS_INVALID_DEVICE_STATE",
        0xc000_0203 => "STATUS_USER_SESSION_DELETED",
        0xc000_022a => "STATUS_DUPLICATE_OBJECTID",
        0xc000_0225 => "STATUS_NOT_FOUND",
        0xc000_0257 => "STATUS_PATH_NOT_COVERED",
        0xc000_035c => "STATUS_NETWORK_SESSION_EXPIRED",
        _ => return None,
    })
}

/// Create disposition names.
fn disposition_name(d: u32) -> &'static str {
    match d {
        0 => "FILE_SUPERSEDE",
        1 => "FILE_OPEN",
        2 => "FILE_CREATE",
        3 => "FILE_OPEN_IF",
        4 => "FILE_OVERWRITE",
        5 => "FILE_OVERWRITE_IF",
        _ => "UNKNOWN",
    }
}

/// A FILETIME (100 ns since 1601) as Unix seconds; 0 stays 0 (not set, as for pipes).
fn filetime(ft: u64) -> i64 {
    if ft == 0 {
        return 0;
    }
    (ft / 10_000_000) as i64 - 11_644_473_600
}

/// The SMB message that carried DCERPC PDUs: what the DCERPC transaction logs of it.
#[derive(Clone, Copy, Debug)]
struct Carrier {
    version: u8,
    command: u16,
    session_id: u64,
    tree_id: u32,
    /// The response's status (responses).
    status: Option<u32>,
}

/// Dialect names: SMB2 revisions, and NT LM 0.12 for SMB1.
fn dialect_name(d: u16) -> String {
    match d {
        0x0100 => "NT LM 0.12".to_string(),
        0x02ff => "2.??".to_string(),
        d => format!("{}.{:02x}", d >> 8, d & 0xff),
    }
}

impl SmbState {
    /// Opens a transaction (dropping the oldest at the limit, counted).
    fn new_tx(&mut self, version: u8, command: u16, key: u64, cx: &mut ParseCtx<'_>) -> &mut SmbTx {
        let mut events = 0;
        if self.txs.len() >= cx.cfg.max_txs {
            // Prefer freeing a finished transaction; an open file's stays while others can go.
            let victim = self.txs.iter().position(SmbTx::complete_).unwrap_or(0);
            let gone = self.txs.remove(victim).expect("in range");
            if gone.fuid.is_some() {
                self.opens.retain(|o| o.tx_id != gone.id);
            }
            cx.stats.tx_limit_hits += 1;
            events = event::TOO_MANY_TRANSACTIONS;
        }
        cx.stats.count_tx(AppProto::Smb);
        let id = self.next_id;
        self.next_id += 1;
        self.txs.push_back(SmbTx {
            id,
            version,
            command,
            key,
            dialect: self.dialect,
            events,
            ..SmbTx::default()
        });
        self.txs.back_mut().expect("just pushed")
    }

    /// A transaction for a DCERPC call over a pipe, tagged with the SMB message carrying it.
    fn new_dce_tx(&mut self, via: Carrier, cx: &mut ParseCtx<'_>) -> &mut SmbTx {
        let tx = self.new_tx(via.version, via.command, u64::MAX, cx);
        tx.session_id = via.session_id;
        tx.tree_id = via.tree_id;
        tx
    }

    /// The newest transaction awaiting the response with this key.
    fn tx_for_response(&mut self, version: u8, key: u64) -> Option<&mut SmbTx> {
        self.txs
            .iter_mut()
            .rev()
            .find(|t| t.version == version && t.key == key && !t.response_done)
    }

    fn tx_by_id(&mut self, id: u64) -> Option<&mut SmbTx> {
        self.txs.iter_mut().find(|t| t.id == id)
    }

    fn open(&self, key: &FileKey) -> Option<Open> {
        self.opens.iter().find(|o| &o.key == key).copied()
    }

    fn add_open(&mut self, key: FileKey, tx_id: u64, pipe: bool) {
        self.opens.retain(|o| o.key != key);
        if self.opens.len() >= MAX_OPENS {
            self.opens.remove(0);
        }
        self.opens.push(Open { key, tx_id, pipe });
    }

    fn tree_is_pipe(&self, tree: u32) -> bool {
        self.trees.iter().any(|(t, p, _)| *t == tree && *p)
    }

    /// The share path of tree `tree` (empty when its connect was not seen).
    fn tree_share(&self, tree: u32) -> Vec<u8> {
        self.trees
            .iter()
            .find(|(t, ..)| *t == tree)
            .map(|(.., share)| share.clone())
            .unwrap_or_default()
    }

    fn add_tree(&mut self, tree: u32, pipe: bool, share: Vec<u8>) {
        self.trees.retain(|(t, ..)| *t != tree);
        if self.trees.len() >= MAX_TREES {
            self.trees.remove(0);
        }
        self.trees.push((tree, pipe, share));
    }

    fn add_read(&mut self, r: PendingRead) {
        if self.reads.len() >= MAX_READS {
            self.reads.remove(0);
        }
        self.reads.push(r);
    }

    fn take_read(&mut self, version: u8, key: u64) -> Option<PendingRead> {
        let i = self
            .reads
            .iter()
            .position(|r| r.version == version && r.key == key)?;
        Some(self.reads.swap_remove(i))
    }

    /// A file's handle was closed: its files are complete, and so is its transaction.
    fn close_file(&mut self, key: &FileKey) {
        let Some(o) = self.open(key) else {
            return;
        };
        self.opens.retain(|x| &x.key != key);
        self.drop_pending(key);
        if let Some(tx) = self.tx_by_id(o.tx_id) {
            for f in &mut tx.files {
                f.close();
            }
            tx.request_done = true;
            tx.response_done = true;
            tx.det.updated = [true, true];
        }
    }

    fn drop_pending(&mut self, key: &FileKey) {
        let mut freed = 0;
        self.pending.retain(|(k, _, d)| {
            let keep = k != key;
            if !keep {
                freed += d.len();
            }
            keep
        });
        self.pending_bytes -= freed;
    }

    /// File bytes at `offset` of the file behind `key`, travelling `to_server`: appended in
    /// order; a chunk ahead of the file's end waits (bounded) for the gap to fill, and
    /// bytes already seen are skipped.
    fn file_data(
        &mut self,
        key: &FileKey,
        offset: u64,
        data: &[u8],
        to_server: bool,
        cx: &mut ParseCtx<'_>,
    ) {
        if data.is_empty() {
            return;
        }
        let Some(o) = self.open(key) else {
            return;
        };
        if o.pipe {
            return;
        }
        let cfg = cx.cfg.files;
        let max_files = cfg.max_per_tx;
        let Some(tx) = self.txs.iter_mut().find(|t| t.id == o.tx_id) else {
            return;
        };
        let slot = match tx.files.iter().position(|f| f.to_server == to_server) {
            Some(i) => i,
            None if tx.files.len() < max_files.max(1) => {
                let name = match &tx.detail {
                    Detail::Create { name, .. } => name.as_slice(),
                    _ => &[],
                };
                let file = File::new(name, to_server, tx.id, &cfg);
                tx.files.push(file);
                tx.files.len() - 1
            }
            None => {
                cx.stats.files_over_limit += 1;
                return;
            }
        };
        let file = &mut tx.files[slot];
        if file.done() {
            return;
        }
        let end = file.size;
        let before = file.inspectable();
        if offset > end {
            // Ahead of the file's end: hold it until the bytes before it arrive.
            if self.pending_bytes + data.len() <= MAX_PENDING
                && self.pending.len() < MAX_PENDING_CHUNKS
            {
                self.pending_bytes += data.len();
                self.pending.push((*key, offset, data.to_vec()));
            } else {
                // Too much waits already: the bytes before this chunk are given up.
                cx.stats.data_cut += offset - end;
                file.gap(offset - end);
                file.append(data, &cfg);
                tx.events |= event::FILE_OVERLAP;
            }
        } else {
            let skip = (end - offset) as usize;
            if skip > 0 {
                tx.events |= event::FILE_OVERLAP;
            }
            if skip < data.len() {
                file.append(&data[skip..], &cfg);
            }
            // Chunks that waited for these bytes.
            loop {
                let end = file.size;
                let Some(i) = self
                    .pending
                    .iter()
                    .position(|(k, off, d)| k == key && *off <= end && *off + d.len() as u64 > end)
                else {
                    break;
                };
                let (_, off, d) = self.pending.swap_remove(i);
                self.pending_bytes -= d.len();
                file.append(&d[(end - off) as usize..], &cfg);
            }
        }
        if file.inspectable() != before {
            tx.det.updated[usize::from(!to_server)] = true;
        }
    }

    /// DCERPC PDUs a pipe carried (a write, a read's data, a transaction's data).
    fn dce_data(&mut self, via: Carrier, to_server: bool, mut data: &[u8], cx: &mut ParseCtx<'_>) {
        while let Some(h) = dcerpc::header(data) {
            let len = usize::from(h.frag_len).min(data.len());
            let pdu = &data[..len];
            data = &data[len..];
            let slot = match dcerpc::apply(&mut self.binding, &self.txs, to_server, pdu, &h) {
                Applied::Ignored => continue,
                Applied::Existing(i, update) => {
                    if let Detail::Dce(c) = &mut self.txs[i].detail {
                        let cut = c.cut();
                        update.run(c, &mut self.binding, pdu, &h);
                        cx.stats.data_cut += c.cut() - cut;
                    }
                    i
                }
                Applied::New(call) => {
                    self.new_dce_tx(via, cx).detail = Detail::Dce(call);
                    self.txs.len() - 1
                }
            };
            let tx = &mut self.txs[slot];
            if let Detail::Dce(c) = &tx.detail {
                tx.request_done = c.req_done;
                tx.response_done = c.res_done;
            }
            if !to_server {
                tx.status = via.status;
            }
            tx.det.updated[usize::from(!to_server)] = true;
        }
    }

    /// One complete (or prefix of a large) SMB message of a record.
    fn message(&mut self, to_server: bool, msg: &[u8], cx: &mut ParseCtx<'_>) {
        let d = usize::from(!to_server);
        match msg.get(..4) {
            Some([0xff, b'S', b'M', b'B']) => smb1::message(self, to_server, msg, cx),
            Some([0xfe, b'S', b'M', b'B']) => smb2::message(self, to_server, msg, cx),
            Some([0xfd, b'S', b'M', b'B']) => {
                // From here on the direction is ciphertext: once both are, the stream is no
                // longer worth inspecting (`Parser::encrypted`).
                self.encrypted_msgs += 1;
                let fed = self.fed[d];
                self.encrypted_at[d].get_or_insert(fed);
            }
            // Compressed: skipped (not decompressed), counted with the encrypted ones.
            Some([0xfc, b'S', b'M', b'B']) => self.encrypted_msgs += 1,
            _ => cx.stats.parse_errors += 1,
        }
    }

    /// A large record's prefix: parses its command; a read or write streams its data.
    fn large(
        &mut self,
        to_server: bool,
        prefix: &[u8],
        rec_len: usize,
        cx: &mut ParseCtx<'_>,
    ) -> Sink {
        let found = match prefix.get(..4) {
            Some([0xff, b'S', b'M', b'B']) => smb1::large(self, to_server, prefix, cx),
            Some([0xfe, b'S', b'M', b'B']) => smb2::large(self, to_server, prefix, cx),
            _ => None,
        };
        let Some((file, offset, from, len)) = found else {
            if let Some(tx) = self.txs.back_mut() {
                tx.events |= event::RECORD_OVERFLOW;
            }
            cx.stats.parse_errors += 1;
            return Sink::Skip;
        };
        let to = from.saturating_add(len).min(rec_len).max(from);
        // The prefix's own share of the data.
        if from < prefix.len() {
            let here = &prefix[from..to.min(prefix.len())];
            self.file_data(&file, offset, here, to_server, cx);
        }
        Sink::File {
            file,
            offset,
            from,
            to,
        }
    }
}

impl HasCall for SmbTx {
    fn call(&self) -> Option<&DceCall> {
        match &self.detail {
            Detail::Dce(c) => Some(c),
            _ => None,
        }
    }
}

impl Transaction for SmbTx {
    fn proto(&self) -> AppProto {
        AppProto::Smb
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn announced_size(&self) -> Option<u64> {
        match &self.detail {
            Detail::Create { size, .. } => *size,
            _ => None,
        }
    }

    fn each(&self, b: Buf, to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        match (b, &self.detail) {
            (Buf::SmbVersion, _) => Some(f(&[self.version])),
            (Buf::SmbShare, Detail::Tree { share, pipe, .. }) if *pipe != Some(true) => {
                Some(f(share))
            }
            (
                Buf::SmbNamedPipe,
                Detail::Tree {
                    share,
                    pipe: Some(true),
                    ..
                },
            ) => Some(f(share)),
            (Buf::SmbTreeShare, Detail::Create { share, .. }) => Some(f(share)),
            (Buf::SmbNtlmsspUser, Detail::Session { ntlm: Some(n), .. }) => Some(f(&n.user)),
            (Buf::SmbNtlmsspDomain, Detail::Session { ntlm: Some(n), .. }) => Some(f(&n.domain)),
            (Buf::DceStubData | Buf::DceIface | Buf::DceOpnum, Detail::Dce(c)) => {
                c.each(b, to_server, f)
            }
            (Buf::FileData | Buf::FileName | Buf::FileMagic, _) => {
                let file = self.files.iter().find(|x| x.to_server == to_server)?;
                match b {
                    Buf::FileData if file.inspectable() => Some(f(file.data())),
                    Buf::FileName => Some(f(&file.name)),
                    Buf::FileMagic => file.magic().map(|m| f(m.as_bytes())),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn settled(&self, _b: Buf, to_server: bool) -> bool {
        if to_server {
            self.request_done
        } else {
            self.response_done
        }
    }

    fn events(&self) -> u32 {
        self.events
    }

    fn complete(&self) -> bool {
        self.complete_()
    }

    fn worth_logging(&self) -> bool {
        true
    }

    fn write_eve(&self, out: &mut Vec<u8>) {
        // Suricata numbers SMB transactions from 1 in the `smb` object.
        let _ = write!(out, ",\"smb\":{{\"id\":{}", self.id + 1);
        let chosen = match &self.detail {
            Detail::Negotiate { chosen, .. } => chosen.as_deref(),
            _ => None,
        };
        match (chosen, self.dialect) {
            (Some(d), _) => {
                out.push(b',');
                push_key(out, "dialect");
                push_json_bytes(out, d);
            }
            (None, Some(d)) => {
                let _ = write!(out, ",\"dialect\":\"{}\"", dialect_name(d));
            }
            (None, None) => out.extend_from_slice(b",\"dialect\":\"unknown\""),
        }
        let cmd = if self.version == 1 {
            smb1::command_name(self.command as u8)
        } else {
            smb2::command_name(self.command)
        };
        let prefix = if self.version == 1 { "SMB1" } else { "SMB2" };
        let _ = write!(out, ",\"command\":\"{prefix}_COMMAND_{cmd}\"");
        if let Some(s) = self.status {
            match status_name(s) {
                Some(n) => {
                    let _ = write!(out, ",\"status\":\"{n}\"");
                }
                None => {
                    let _ = write!(out, ",\"status\":\"{s}\"");
                }
            }
            let _ = write!(out, ",\"status_code\":\"0x{s:x}\"");
        }
        let _ = write!(
            out,
            ",\"session_id\":{},\"tree_id\":{}",
            self.session_id, self.tree_id
        );
        match &self.detail {
            Detail::Generic => {}
            Detail::Negotiate {
                client,
                server_guid,
                max_rw,
                ..
            } => {
                push_list(out, "client_dialects", client);
                if let Some(g) = server_guid {
                    let _ = write!(out, ",\"server_guid\":\"{}\"", guid_string(g));
                }
                if let Some((r, w)) = max_rw {
                    let _ = write!(out, ",\"max_read_size\":{r},\"max_write_size\":{w}");
                }
            }
            Detail::Session { ntlm, native, krb } => {
                if let Some((realm, snames)) = krb {
                    out.extend_from_slice(b",\"kerberos\":{\"realm\":");
                    push_json_bytes(out, realm);
                    push_list(out, "snames", snames);
                    out.push(b'}');
                }
                if let Some(n) = ntlm {
                    out.extend_from_slice(b",\"ntlmssp\":{\"domain\":");
                    push_json_bytes(out, &n.domain);
                    out.extend_from_slice(b",\"user\":");
                    push_json_bytes(out, &n.user);
                    out.extend_from_slice(b",\"host\":");
                    push_json_bytes(out, &n.host);
                    if let Some(v) = n.version_string() {
                        let _ = write!(out, ",\"version\":\"{v}\"");
                    }
                    out.push(b'}');
                }
                for (key, nat) in ["request", "response"].iter().zip(native) {
                    if let Some((os, lm)) = nat {
                        let _ = write!(out, ",\"{key}\":{{\"native_os\":");
                        push_json_bytes(out, os);
                        out.extend_from_slice(b",\"native_lm\":");
                        push_json_bytes(out, lm);
                        out.push(b'}');
                    }
                }
            }
            Detail::Tree {
                share,
                pipe,
                service,
            } => {
                let key = if *pipe == Some(true) {
                    "named_pipe"
                } else {
                    "share"
                };
                out.push(b',');
                push_key(out, key);
                push_json_bytes(out, share);
                if let Some(p) = pipe {
                    let t = if *p { "PIPE" } else { "FILE" };
                    let _ = write!(out, ",\"share_type\":\"{t}\"");
                }
                if service.iter().any(Option::is_some) {
                    out.extend_from_slice(b",\"service\":{");
                    let mut first = true;
                    for (key, v) in ["request", "response"].iter().zip(service) {
                        if let Some(v) = v {
                            if !first {
                                out.push(b',');
                            }
                            first = false;
                            push_key(out, key);
                            push_json_bytes(out, v);
                        }
                    }
                    out.push(b'}');
                }
            }
            Detail::Create {
                name,
                disposition,
                directory,
                delete_on_close,
                times,
                size,
                ..
            } => {
                // Pipes too are a create's `filename`, as Suricata logs them.
                out.push(b',');
                push_key(out, "filename");
                push_json_bytes(out, name);
                let _ = write!(
                    out,
                    ",\"disposition\":\"{}\"",
                    disposition_name(*disposition)
                );
                if *directory {
                    out.extend_from_slice(b",\"directory\":\"true\"");
                }
                if let Some([c, a, m, ch]) = times {
                    let _ = write!(
                        out,
                        ",\"created\":{c},\"accessed\":{a},\"modified\":{m},\"changed\":{ch}"
                    );
                }
                if let Some(s) = size {
                    let _ = write!(out, ",\"size\":{s}");
                }
                let access = if *delete_on_close {
                    "delete on close"
                } else {
                    "normal"
                };
                let _ = write!(out, ",\"access\":\"{access}\"");
                if let Some(k) = &self.fuid {
                    let _ = write!(out, ",\"fuid\":\"{}\"", fuid_string(k));
                }
            }
            Detail::Dce(c) => {
                out.extend_from_slice(b",\"dcerpc\":{");
                c.write_eve_fields(out, true);
                out.push(b'}');
            }
        }
        let _ = write!(
            out,
            ",\"request_done\":{},\"response_done\":{}}}",
            self.request_done, self.response_done
        );
    }

    fn files(&self) -> &[File] {
        &self.files
    }
}

impl Parser for SmbState {
    fn feed(&mut self, to_server: bool, mut data: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        let d = usize::from(!to_server);
        self.fed[d] += data.len() as u64;
        let before = self.next_id;
        let mut touched = false;
        while !data.is_empty() {
            let fr = &mut self.framers[d];
            if fr.resync {
                let Some(at) = next_record(data) else {
                    break;
                };
                data = &data[at..];
                *fr = Framer {
                    buf: std::mem::take(&mut fr.buf),
                    ..Framer::default()
                };
                fr.buf.clear();
            }
            let Some((rtype, rlen)) = fr.rec else {
                let take = (4 - fr.hdr_len).min(data.len());
                fr.hdr[fr.hdr_len..fr.hdr_len + take].copy_from_slice(&data[..take]);
                fr.hdr_len += take;
                data = &data[take..];
                if fr.hdr_len == 4 {
                    let h = fr.hdr;
                    // Session messages carry a 24-bit length (direct TCP, port 445); the
                    // other NetBIOS records a 17-bit one.
                    if !matches!(h[0], 0x00 | 0x81..=0x85) || (h[0] != 0 && h[1] & 0xfe != 0) {
                        fr.resync = true;
                        fr.hdr_len = 0;
                        cx.stats.parse_errors += 1;
                        continue;
                    }
                    let len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
                    fr.rec = Some((h[0], len));
                    fr.seen = 0;
                    fr.sink = None;
                    fr.buf.clear();
                    fr.hdr_len = 0;
                    if len == 0 {
                        fr.rec = None;
                    }
                }
                continue;
            };
            let take = (rlen - fr.seen).min(data.len());
            let (chunk, rest) = data.split_at(take);
            data = rest;
            let at = fr.seen;
            fr.seen += take;
            let finished = fr.seen == rlen;
            if rtype != 0x00 {
                // Session request/response, keep-alive: nothing to inspect.
            } else if rlen <= BUFFERED_MAX {
                fr.buf.extend_from_slice(chunk);
                if finished {
                    let msg = std::mem::take(&mut fr.buf);
                    self.message(to_server, &msg, cx);
                    touched = true;
                    let fr = &mut self.framers[d];
                    fr.buf = msg;
                    fr.buf.clear();
                    if fr.buf.capacity() > 4 * 4096 {
                        fr.buf = Vec::new();
                    }
                }
            } else {
                match fr.sink {
                    None => {
                        let want = PREFIX - fr.buf.len();
                        let n = want.min(chunk.len());
                        fr.buf.extend_from_slice(&chunk[..n]);
                        if fr.buf.len() == PREFIX {
                            let prefix = std::mem::take(&mut fr.buf);
                            let sink = self.large(to_server, &prefix, rlen, cx);
                            touched = true;
                            let fr = &mut self.framers[d];
                            fr.sink = Some(sink);
                            fr.buf = prefix;
                            fr.buf.clear();
                            // The rest of this chunk, past the prefix.
                            if n < chunk.len() {
                                self.stream(d, to_server, at + n, &chunk[n..], cx);
                            }
                        }
                    }
                    Some(_) => {
                        self.stream(d, to_server, at, chunk, cx);
                        touched = true;
                    }
                }
            }
            if finished {
                let fr = &mut self.framers[d];
                fr.rec = None;
                fr.sink = None;
                fr.buf.clear();
            }
        }
        touched
            && (self.next_id != before
                || self
                    .txs
                    .iter()
                    .any(|t| t.det.updated[d] || t.det.updated[1 - d]))
    }

    fn gap(&mut self, to_server: bool, len: u64) {
        // The framing is lost until the next record header; open files lose their
        // integrity.
        let d = usize::from(!to_server);
        self.framers[d].resync = true;
        let _ = len;
        for tx in &mut self.txs {
            for f in tx.files.iter_mut().filter(|f| f.to_server == to_server) {
                f.truncate();
            }
        }
    }

    fn close(&mut self, _to_server: bool, _cx: &mut ParseCtx<'_>) -> bool {
        let mut progressed = false;
        for tx in &mut self.txs {
            let mut touched = false;
            for f in &mut tx.files {
                if !f.done() {
                    f.truncate();
                    touched = true;
                }
            }
            if touched {
                tx.det.updated = [true, true];
                progressed = true;
            }
        }
        progressed
    }

    fn heap(&self) -> usize {
        self.framers.iter().map(|f| f.buf.capacity()).sum::<usize>()
            + self.txs.iter().map(SmbTx::heap).sum::<usize>()
            + self.pending_bytes
            + self.opens.capacity() * std::mem::size_of::<Open>()
            + self.reads.capacity() * std::mem::size_of::<PendingRead>()
    }

    crate::parser_tx_slots!(txs);

    fn encrypted(&self) -> Option<[u64; 2]> {
        Some([self.encrypted_at[0]?, self.encrypted_at[1]?])
    }

    fn gc(&mut self) {
        // Finished, logged transactions go wherever they are: a file or pipe left open for
        // the whole session must not hold every later transaction (the newest stays).
        let done = |t: &SmbTx| {
            t.complete_()
                && t.det.finished()
                && t.det.files_logged.count_ones() as usize >= t.files.len().min(64)
        };
        if self.txs.len() > 1 && self.txs.iter().rev().skip(1).any(done) {
            let newest = self.txs.back().map(|t| t.id);
            self.txs.retain(|t| Some(t.id) == newest || !done(t));
        }
    }
}

impl SmbState {
    /// Bytes `at..` of a large record past its prefix: file data inside the sink's range.
    fn stream(
        &mut self,
        d: usize,
        to_server: bool,
        at: usize,
        chunk: &[u8],
        cx: &mut ParseCtx<'_>,
    ) {
        let Some(Sink::File {
            file,
            offset,
            from,
            to,
        }) = self.framers[d].sink
        else {
            return;
        };
        let lo = at.max(from);
        let hi = (at + chunk.len()).min(to);
        if lo < hi {
            let data = &chunk[lo - at..hi - at];
            self.file_data(&file, offset + (lo - from) as u64, data, to_server, cx);
        }
    }
}

#[cfg(test)]
mod tests;
