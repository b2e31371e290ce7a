//! SMTP: commands and replies (pipelined, matched in order), the mail transaction (`HELO`,
//! `MAIL FROM`, `RCPT TO`), the message sent with `DATA` or `BDAT` chunks decoded as MIME into
//! files, and the STARTTLS hand-over to the TLS parser.
//!
//! One transaction per mail: it opens at `MAIL FROM` (or at a `DATA`/`BDAT` without one) and
//! completes at the message's end, `RSET` or `QUIT`. Lines are cut at `line_limit`;
//! pending commands, recipients and transactions are bounded; each overflow is an event.

use std::collections::VecDeque;
use std::io::Write;

use super::files::File;
use super::line::{next_line, Verb};
use super::mime::{self, Limits, Mime};
use super::parser::{ParseCtx, Parser, Protocol, Transaction, TxDetect};
use super::{AppConfig, AppProto, AppStats, Buf, Probe};
use crate::common::json::{push_json_bytes, push_key, push_list};

/// SMTP anomalies (bits of a transaction's events), MIME's included.
pub mod event {
    /// A reply line that is not `NNN text`.
    pub const INVALID_REPLY: u32 = 1 << 0;
    /// A reply with no command waiting for it.
    pub const UNABLE_TO_MATCH_REPLY: u32 = 1 << 1;
    /// A command line longer than the limit.
    pub const MAX_COMMAND_LINE_LEN_EXCEEDED: u32 = 1 << 2;
    /// A reply line longer than the limit.
    pub const MAX_REPLY_LINE_LEN_EXCEEDED: u32 = 1 << 3;
    /// More pipelined commands than tracked.
    pub const INVALID_PIPELINED_SEQUENCE: u32 = 1 << 4;
    /// A BDAT chunk's data ran past its announced length.
    pub const BDAT_CHUNK_LEN_EXCEEDED: u32 = 1 << 5;
    /// The server's first reply was not 220.
    pub const NO_SERVER_WELCOME_MESSAGE: u32 = 1 << 6;
    /// STARTTLS refused by the server.
    pub const TLS_REJECTED: u32 = 1 << 7;
    /// DATA refused by the server.
    pub const DATA_COMMAND_REJECTED: u32 = 1 << 8;
    /// The session ended inside a message.
    pub const TRUNCATED_DATA: u32 = 1 << 9;
    /// Transactions past the per-flow limit were not kept.
    pub const TOO_MANY_TRANSACTIONS: u32 = 1 << 10;

    /// MIME: nesting or part count past the limits (parts not parsed).
    pub const MIME_PARSE_FAILED: u32 = 1 << 11;
    /// MIME: a multipart without boundary, or a message ending inside one.
    pub const MIME_MALFORMED_MSG: u32 = 1 << 12;
    /// MIME: invalid base64.
    pub const MIME_INVALID_BASE64: u32 = 1 << 13;
    /// MIME: invalid quoted-printable.
    pub const MIME_INVALID_QP: u32 = 1 << 14;
    /// MIME: a line longer than the limit.
    pub const MIME_LONG_LINE: u32 = 1 << 15;
    /// MIME: a header block past its limit.
    pub const MIME_LONG_HEADER: u32 = 1 << 16;

    /// The SMTP events of a MIME decoder's events.
    pub fn of_mime(m: u32) -> u32 {
        use super::mime::event as e;
        let map = [
            (e::DEPTH_EXCEEDED | e::TOO_MANY_PARTS, MIME_PARSE_FAILED),
            (e::MISSING_BOUNDARY | e::MALFORMED, MIME_MALFORMED_MSG),
            (e::INVALID_BASE64, MIME_INVALID_BASE64),
            (e::INVALID_QP, MIME_INVALID_QP),
            (e::LONG_LINE, MIME_LONG_LINE),
            (e::LONG_HEADER, MIME_LONG_HEADER),
        ];
        map.iter()
            .filter(|(from, _)| m & from != 0)
            .fold(0, |acc, (_, to)| acc | to)
    }

    /// The bit of an `app-layer-event:smtp.<name>` name.
    pub fn by_name(name: &str) -> Option<u32> {
        match name {
            "invalid_reply" => Some(INVALID_REPLY),
            "unable_to_match_reply_with_request" => Some(UNABLE_TO_MATCH_REPLY),
            "max_command_line_len_exceeded" => Some(MAX_COMMAND_LINE_LEN_EXCEEDED),
            "max_reply_line_len_exceeded" => Some(MAX_REPLY_LINE_LEN_EXCEEDED),
            "invalid_pipelined_sequence" => Some(INVALID_PIPELINED_SEQUENCE),
            "bdat_chunk_len_exceeded" => Some(BDAT_CHUNK_LEN_EXCEEDED),
            "no_server_welcome_message" => Some(NO_SERVER_WELCOME_MESSAGE),
            "tls_rejected" => Some(TLS_REJECTED),
            "data_command_rejected" => Some(DATA_COMMAND_REJECTED),
            "truncated_data" => Some(TRUNCATED_DATA),
            "too_many_transactions" => Some(TOO_MANY_TRANSACTIONS),
            "mime_parse_failed" => Some(MIME_PARSE_FAILED),
            "mime_malformed_msg" => Some(MIME_MALFORMED_MSG),
            "mime_invalid_base64" => Some(MIME_INVALID_BASE64),
            "mime_invalid_qp" => Some(MIME_INVALID_QP),
            "mime_long_line" | "mime_long_enc_line" => Some(MIME_LONG_LINE),
            "mime_long_header_value" | "mime_long_header_name" => Some(MIME_LONG_HEADER),
            _ => None,
        }
    }
}

/// Commands awaiting their reply, at most.
const MAX_PENDING: usize = 256;
/// Recipients kept per mail.
const MAX_RCPT: usize = 128;
/// Bytes kept of the bytes that follow a STARTTLS, for the TLS parser.
const MAX_TAIL: usize = 64 * 1024;

/// A command whose reply matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    StartTls,
    Data,
    Other,
}

/// What the client's bytes are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    #[default]
    Command,
    /// The message after DATA, up to the lone dot.
    Data,
    /// A BDAT chunk: bytes left, and whether it is the last.
    Bdat { left: u64, last: bool },
    /// STARTTLS sent: waiting for the reply, keeping what follows.
    TlsPending,
    /// Handed over.
    Tls,
}

/// One mail transaction.
#[derive(Debug, Default)]
pub struct SmtpTx {
    /// Transaction number within its flow (EVE `tx_id`).
    pub id: u64,
    /// HELO/EHLO argument in effect.
    pub helo: Option<Vec<u8>>,
    /// MAIL FROM argument.
    pub mail_from: Option<Vec<u8>>,
    /// RCPT TO arguments.
    pub rcpt_to: Vec<Vec<u8>>,
    /// The message, once DATA or BDAT started it.
    pub mime: Option<Mime>,
    /// [`event`] bits.
    pub events: u32,
    /// The mail is over (message ended, RSET or QUIT).
    pub done: bool,
    /// Detection and logging state.
    pub det: TxDetect,
}

impl SmtpTx {
    fn files_(&self) -> &[File] {
        self.mime.as_ref().map_or(&[], |m| &m.files[..])
    }

    fn heap(&self) -> usize {
        self.helo.as_ref().map_or(0, Vec::capacity)
            + self.mail_from.as_ref().map_or(0, Vec::capacity)
            + self.rcpt_to.iter().map(Vec::capacity).sum::<usize>()
            + self.mime.as_ref().map_or(0, Mime::heap)
            + self.det.heap()
    }
}

/// Per-flow SMTP state.
#[derive(Debug, Default)]
pub struct SmtpState {
    /// Partial line per direction (to-server, to-client).
    line: [Vec<u8>; 2],
    /// The current line was cut at the limit: the rest up to its end is skipped.
    skipping: [bool; 2],
    mode: Mode,
    /// In DATA, the last message piece did not end its line.
    data_mid_line: bool,
    /// A message line cut by the end of a BDAT chunk (the next chunk continues it).
    bdat_line: Vec<u8>,
    pending: VecDeque<Cmd>,
    helo: Option<Vec<u8>>,
    /// A server reply was seen.
    replied: bool,
    /// Bytes after STARTTLS (client) and after its 220 (server), for the TLS parser.
    tail: [Vec<u8>; 2],
    /// The server accepted STARTTLS: hand over.
    upgrade_ready: bool,
    txs: VecDeque<SmtpTx>,
    next_id: u64,
    /// Events raised outside a transaction, put on the next one.
    loose_events: u32,
}

/// SMTP's registration.
pub static PROTOCOL: Protocol = Protocol {
    proto: AppProto::Smtp,
    names: &["smtp"],
    event_type: "smtp",
    switch: None,
    parser_error_event: "smtp.parser_error",
    buffers: &[
        ("smtp.helo", Buf::SmtpHelo),
        ("smtp.mail_from", Buf::SmtpMailFrom),
        ("smtp.rcpt_to", Buf::SmtpRcptTo),
        ("file.data", Buf::FileData),
        ("file.name", Buf::FileName),
        ("file.magic", Buf::FileMagic),
    ],
    ports: &[],
    probe_tcp: Some(probe),
    probe_udp: None,
    new_parser: |_| Box::<SmtpState>::default(),
    event_by_name: event::by_name,
    triggers_raw: true,
};

/// Probe: a client greeting (`EHLO`/`HELO`/`LHLO`). A server's `220` greeting is shared with
/// FTP, so it waits for the client's first command to decide.
pub fn probe(data: &[u8], to_server: bool) -> Probe {
    if to_server {
        let n = data.len().min(5);
        let head = &data[..n];
        for verb in [&b"EHLO "[..], b"HELO ", b"LHLO "] {
            if n == 5 && head.eq_ignore_ascii_case(verb) {
                return Probe::Found(AppProto::Smtp);
            }
            if n < 5 && head.eq_ignore_ascii_case(&verb[..n]) {
                return Probe::NeedMore;
            }
        }
        return Probe::NoMatch;
    }
    match data {
        [b'2', b'2', b'0', b' ' | b'-', ..] => Probe::NeedMore,
        _ if data.len() < 4 && b"220 "[..data.len()] == *data => Probe::NeedMore,
        _ => Probe::NoMatch,
    }
}

impl SmtpState {
    fn limits(cfg: &AppConfig) -> Limits {
        Limits {
            header_bytes: cfg.mime_header_limit,
            max_depth: cfg.mime_max_depth,
        }
    }

    /// The open transaction, created when there is none.
    fn tx(&mut self, cfg: &AppConfig, stats: &mut AppStats) -> &mut SmtpTx {
        if self.txs.back().is_none_or(|t| t.done) {
            if self.txs.len() >= cfg.max_txs {
                // Make room by forgetting the oldest (it was inspected while it was open).
                self.txs.pop_front();
                stats.tx_limit_hits += 1;
                self.loose_events |= event::TOO_MANY_TRANSACTIONS;
            }
            stats.count_tx(AppProto::Smtp);
            let id = self.next_id;
            self.next_id += 1;
            self.txs.push_back(SmtpTx {
                id,
                helo: self.helo.clone(),
                events: std::mem::take(&mut self.loose_events),
                ..SmtpTx::default()
            });
        }
        self.txs.back_mut().expect("just ensured")
    }

    fn event(&mut self, bit: u32) {
        match self.txs.back_mut().filter(|t| !t.done) {
            Some(t) => {
                t.events |= bit;
                t.det.updated = [true, true];
            }
            None => self.loose_events |= bit,
        }
    }

    fn feed(
        &mut self,
        to_server: bool,
        mut data: &[u8],
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) -> bool {
        let d = usize::from(!to_server);
        let mut progressed = false;
        while !data.is_empty() {
            if self.mode == Mode::Tls {
                return progressed;
            }
            if to_server {
                if self.mode == Mode::TlsPending {
                    keep_tail(&mut self.tail[0], data);
                    return progressed;
                }
                if let Mode::Bdat { left, last } = self.mode {
                    let n = (left.min(data.len() as u64)) as usize;
                    progressed |= self.bdat(&data[..n], left - n as u64, last, cfg, stats);
                    data = &data[n..];
                    continue;
                }
            } else if self.upgrade_ready {
                keep_tail(&mut self.tail[1], data);
                return progressed;
            }
            let (line, eol, used) = next_line(&mut self.line[d], data, cfg.line_limit);
            data = &data[used..];
            let Some(line) = line else { continue };
            if self.skipping[d] {
                // The rest of a line already cut at the limit.
                self.skipping[d] = !eol;
                self.line[d] = line;
                self.line[d].clear();
                continue;
            }
            if !eol {
                self.skipping[d] = true;
            }
            progressed |= if to_server {
                self.client_line(&line, eol, cfg, stats)
            } else {
                self.server_line(&line, eol, cfg, stats)
            };
            self.line[d] = line;
            self.line[d].clear();
        }
        progressed
    }

    fn client_line(
        &mut self,
        line: &[u8],
        eol: bool,
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) -> bool {
        if self.mode == Mode::Data {
            if !eol {
                // A long message line arrives in pieces; the next piece continues it.
                self.skipping[0] = false;
            }
            return self.data_line(line, eol, cfg, stats);
        }
        if !eol {
            self.event(event::MAX_COMMAND_LINE_LEN_EXCEEDED);
        }
        let (verb, arg) = match line.iter().position(|&b| b == b' ') {
            Some(sp) => (&line[..sp], line[sp + 1..].trim_ascii()),
            None => (line.trim_ascii_end(), &b""[..]),
        };
        let verb = Verb::upper(verb);
        let mut cmd = Cmd::Other;
        let mut progressed = false;
        match verb.as_bytes() {
            b"HELO" | b"EHLO" | b"LHLO" => {
                self.helo = Some(arg[..arg.len().min(1024)].to_vec());
                if let Some(t) = self.txs.back_mut().filter(|t| !t.done) {
                    t.helo.clone_from(&self.helo);
                }
            }
            b"MAIL" => {
                if self
                    .txs
                    .back()
                    .is_some_and(|t| !t.done && t.mail_from.is_some())
                {
                    self.txs.back_mut().expect("checked").done = true;
                }
                let from = strip_ci(arg, b"FROM:").trim_ascii();
                let tx = self.tx(cfg, stats);
                tx.mail_from = Some(from[..from.len().min(1024)].to_vec());
                tx.det.updated[0] = true;
                progressed = true;
            }
            b"RCPT" => {
                let to = strip_ci(arg, b"TO:").trim_ascii();
                let tx = self.tx(cfg, stats);
                if tx.rcpt_to.len() < MAX_RCPT {
                    tx.rcpt_to.push(to[..to.len().min(1024)].to_vec());
                }
                tx.det.updated[0] = true;
                progressed = true;
            }
            b"DATA" => {
                cmd = Cmd::Data;
                self.mode = Mode::Data;
                let tx = self.tx(cfg, stats);
                tx.mime.get_or_insert_with(Mime::default);
            }
            b"BDAT" => {
                let mut it = arg.split(|&b| b == b' ').filter(|s| !s.is_empty());
                let size = it
                    .next()
                    .and_then(|s| std::str::from_utf8(s).ok())
                    .and_then(|s| s.parse::<u64>().ok());
                let last = it.next().is_some_and(|s| s.eq_ignore_ascii_case(b"LAST"));
                let tx = self.tx(cfg, stats);
                tx.mime.get_or_insert_with(Mime::default);
                match size {
                    Some(left) if left > 0 => self.mode = Mode::Bdat { left, last },
                    _ if last => progressed |= self.end_message(cfg),
                    _ => {}
                }
            }
            b"RSET" | b"QUIT" => {
                if let Some(t) = self.txs.back_mut().filter(|t| !t.done) {
                    if let Some(m) = &mut t.mime {
                        if m.status != mime::Status::Done {
                            m.abort();
                            t.events |= event::TRUNCATED_DATA;
                        }
                    }
                    t.done = true;
                    t.det.updated = [true, true];
                    progressed = true;
                }
            }
            b"STARTTLS" => {
                cmd = Cmd::StartTls;
                self.mode = Mode::TlsPending;
            }
            _ => {}
        }
        if self.pending.len() >= MAX_PENDING {
            self.event(event::INVALID_PIPELINED_SEQUENCE);
        } else {
            self.pending.push_back(cmd);
        }
        progressed
    }

    fn data_line(&mut self, line: &[u8], eol: bool, cfg: &AppConfig, stats: &mut AppStats) -> bool {
        let line_start = !std::mem::replace(&mut self.data_mid_line, !eol);
        if line_start && eol && line == b"." {
            self.mode = Mode::Command;
            return self.end_message(cfg);
        }
        // Dot-stuffing: a leading dot was doubled by the sender.
        let line = match line {
            [b'.', rest @ ..] if line_start => rest,
            _ => line,
        };
        self.mime_line(line, eol, cfg, stats)
    }

    /// Feeds a message line to the open transaction's MIME decoder. Returns whether a file
    /// reached a point worth inspecting (its inspection window filled).
    fn mime_line(&mut self, line: &[u8], eol: bool, cfg: &AppConfig, stats: &mut AppStats) -> bool {
        let lim = Self::limits(cfg);
        let Some(tx) = self.txs.back_mut().filter(|t| !t.done) else {
            return false;
        };
        let id = tx.id;
        let Some(m) = tx.mime.as_mut() else {
            return false;
        };
        let (files_before, full_before) = (m.files.len(), full_files(m));
        let (events_before, dropped_before) = (m.events, m.files_dropped);
        m.line(line, eol, id, &cfg.files, lim);
        stats.files_over_limit += m.files_dropped - dropped_before;
        let changed = m.files.len() != files_before
            || full_files(m) != full_before
            || m.events != events_before;
        if changed {
            tx.events |= event::of_mime(m.events);
            tx.det.updated[0] = true;
        }
        changed
    }

    fn bdat(
        &mut self,
        chunk: &[u8],
        left: u64,
        last: bool,
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) -> bool {
        let mut progressed = false;
        let mut rest = chunk;
        let mut buf = std::mem::take(&mut self.bdat_line);
        while !rest.is_empty() {
            let (line, eol, used) = next_line(&mut buf, rest, cfg.line_limit);
            rest = &rest[used..];
            if let Some(line) = line {
                progressed |= self.mime_line(&line, eol, cfg, stats);
                buf = line;
                buf.clear();
            }
        }
        if left == 0 {
            self.mode = Mode::Command;
            if last {
                // The message ends with the last chunk, a cut line included.
                if !buf.is_empty() {
                    progressed |= self.mime_line(&buf, true, cfg, stats);
                    buf.clear();
                }
                progressed |= self.end_message(cfg);
            }
        } else {
            self.mode = Mode::Bdat { left, last };
        }
        self.bdat_line = buf;
        progressed
    }

    fn end_message(&mut self, cfg: &AppConfig) -> bool {
        let Some(tx) = self.txs.back_mut().filter(|t| !t.done) else {
            return false;
        };
        if let Some(m) = &mut tx.mime {
            m.finish(&cfg.files);
            tx.events |= event::of_mime(m.events);
        }
        tx.done = true;
        tx.det.updated = [true, true];
        true
    }

    fn server_line(
        &mut self,
        line: &[u8],
        eol: bool,
        _cfg: &AppConfig,
        _stats: &mut AppStats,
    ) -> bool {
        if !eol {
            self.event(event::MAX_REPLY_LINE_LEN_EXCEEDED);
        }
        let code = match line {
            [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
            }
            _ => {
                self.event(event::INVALID_REPLY);
                return true;
            }
        };
        if line.get(3) == Some(&b'-') {
            // A continuation line: the last line of the reply answers the command.
            return false;
        }
        if !self.replied {
            // The server speaks first: its first reply is the greeting, whatever the client
            // already sent.
            self.replied = true;
            if code == 220 {
                return false;
            }
            self.event(event::NO_SERVER_WELCOME_MESSAGE);
        }
        let Some(cmd) = self.pending.pop_front() else {
            self.event(event::UNABLE_TO_MATCH_REPLY);
            return true;
        };
        match cmd {
            Cmd::StartTls if code == 220 => {
                self.upgrade_ready = true;
                false
            }
            Cmd::StartTls => {
                self.event(event::TLS_REJECTED);
                self.mode = Mode::Command;
                // What the client sent meanwhile was commands after all.
                let tail = std::mem::take(&mut self.tail[0]);
                self.feed(true, &tail, _cfg, _stats)
            }
            Cmd::Data if code != 354 => {
                self.event(event::DATA_COMMAND_REJECTED);
                if self.mode == Mode::Data {
                    self.mode = Mode::Command;
                    if let Some(t) = self.txs.back_mut().filter(|t| !t.done) {
                        t.mime = None;
                    }
                }
                true
            }
            _ => false,
        }
    }

    fn close(&mut self, to_server: bool, cfg: &AppConfig) -> bool {
        if !to_server {
            return false;
        }
        let Some(tx) = self.txs.back_mut().filter(|t| !t.done) else {
            return false;
        };
        if let Some(m) = &mut tx.mime {
            if m.status != mime::Status::Done {
                m.abort();
                tx.events |= event::TRUNCATED_DATA;
            }
        }
        let _ = cfg;
        tx.done = true;
        tx.det.updated = [true, true];
        true
    }
}

/// Files `file.data` can inspect (a new one is a milestone worth a detection pass).
fn full_files(m: &Mime) -> usize {
    m.files.iter().filter(|f| f.inspectable()).count()
}

fn keep_tail(tail: &mut Vec<u8>, data: &[u8]) {
    let room = MAX_TAIL.saturating_sub(tail.len());
    tail.extend_from_slice(&data[..data.len().min(room)]);
}

fn strip_ci<'a>(s: &'a [u8], prefix: &[u8]) -> &'a [u8] {
    let t = s.trim_ascii_start();
    if t.len() >= prefix.len() && t[..prefix.len()].eq_ignore_ascii_case(prefix) {
        &t[prefix.len()..]
    } else {
        t
    }
}

impl Transaction for SmtpTx {
    fn proto(&self) -> AppProto {
        AppProto::Smtp
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn each(&self, b: Buf, to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        if !to_server {
            return None;
        }
        match b {
            Buf::SmtpHelo => self.helo.as_deref().map(&mut *f),
            Buf::SmtpMailFrom => self.mail_from.as_deref().map(&mut *f),
            Buf::SmtpRcptTo => {
                (!self.rcpt_to.is_empty()).then(|| self.rcpt_to.iter().any(|r| f(r)))
            }
            Buf::FileData => {
                let mut any = None;
                for file in self.files_() {
                    if file.inspectable() {
                        any = Some(false);
                        if f(file.data()) {
                            return Some(true);
                        }
                    }
                }
                any
            }
            Buf::FileName => {
                let files = self.files_();
                (!files.is_empty()).then(|| files.iter().any(|x| f(&x.name)))
            }
            Buf::FileMagic => {
                let mut any = None;
                for m in self.files_().iter().filter_map(File::magic) {
                    any = Some(false);
                    if f(m.as_bytes()) {
                        return Some(true);
                    }
                }
                any
            }
            _ => None,
        }
    }

    fn settled(&self, _b: Buf, _to_server: bool) -> bool {
        self.done
    }

    fn events(&self) -> u32 {
        self.events
    }

    fn complete(&self) -> bool {
        self.done
    }

    fn worth_logging(&self) -> bool {
        self.mail_from.is_some() || self.mime.is_some()
    }

    fn write_eve(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"smtp\":{");
        let mark = out.len();
        if let Some(h) = &self.helo {
            out.push(b',');
            push_key(out, "helo");
            push_json_bytes(out, h);
        }
        if let Some(m) = &self.mail_from {
            out.push(b',');
            push_key(out, "mail_from");
            push_json_bytes(out, m);
        }
        push_list(out, "rcpt_to", &self.rcpt_to);
        crate::common::json::strip_leading_comma(out, mark);
        out.push(b'}');
        let Some(m) = &self.mime else { return };
        let e = &m.email;
        let _ = write!(out, ",\"email\":{{\"status\":\"{}\"", m.status.name());
        for (key, v) in [
            ("from", &e.from),
            ("subject", &e.subject),
            ("date", &e.date),
            ("message_id", &e.message_id),
            ("x_mailer", &e.x_mailer),
        ] {
            if let Some(v) = v {
                out.push(b',');
                push_key(out, key);
                push_json_bytes(out, v);
            }
        }
        push_list(out, "to", &e.to);
        push_list(out, "cc", &e.cc);
        push_list(out, "attachment", &e.attachments);
        out.push(b'}');
    }

    fn files(&self) -> &[File] {
        self.files_()
    }
}

impl Parser for SmtpState {
    fn feed(&mut self, to_server: bool, data: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        SmtpState::feed(self, to_server, data, cx.cfg, cx.stats)
    }

    fn close(&mut self, to_server: bool, cx: &mut ParseCtx<'_>) -> bool {
        SmtpState::close(self, to_server, cx.cfg)
    }

    fn gap(&mut self, to_server: bool, len: u64) {
        // Client bytes lost: the files of the message being sent miss them.
        if let (true, Some(t)) = (to_server, self.txs.back_mut().filter(|t| !t.done)) {
            for f in t.mime.iter_mut().flat_map(|m| m.files.iter_mut()) {
                f.gap(len);
            }
        }
    }

    fn heap(&self) -> usize {
        self.line.iter().map(Vec::capacity).sum::<usize>()
            + self.bdat_line.capacity()
            + self.tail.iter().map(Vec::capacity).sum::<usize>()
            + self.helo.as_ref().map_or(0, Vec::capacity)
            + self.txs.iter().map(SmtpTx::heap).sum::<usize>()
    }

    crate::parser_tx_slots!(txs);

    fn gc(&mut self) {
        // Completed, logged mails whose files were all logged are no longer needed; the open
        // one stays.
        while self.txs.len() > 1
            && self.txs.front().is_some_and(|t| {
                t.done && t.det.finished() && {
                    let n = t.files_().len();
                    n == 0 || t.det.files_logged.count_ones() as usize >= n.min(64)
                }
            })
        {
            self.txs.pop_front();
        }
    }

    fn upgrade(&mut self) -> Option<(AppProto, [Vec<u8>; 2])> {
        if !self.upgrade_ready || self.mode == Mode::Tls {
            return None;
        }
        self.mode = Mode::Tls;
        Some((AppProto::Tls, std::mem::take(&mut self.tail)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(steps: &[(bool, &[u8])]) -> SmtpState {
        let cfg = AppConfig::default();
        let mut stats = AppStats::default();
        let mut s = SmtpState::default();
        for (to_server, data) in steps {
            s.feed(*to_server, data, &cfg, &mut stats);
        }
        s
    }

    #[test]
    fn starttls_accepted_hands_over_with_what_followed() {
        let mut s = run(&[
            (true, b"EHLO c\r\n"),
            (false, b"220 mx\r\n250-mx\r\n250 STARTTLS\r\n"),
            (true, b"STARTTLS\r\n\x16\x03\x01"),
            (false, b"220 go\r\n"),
        ]);
        let (proto, tails) = Parser::upgrade(&mut s).expect("upgrade");
        assert_eq!(proto, AppProto::Tls);
        assert_eq!(tails[0], b"\x16\x03\x01");
        assert!(Parser::upgrade(&mut s).is_none());
    }

    #[test]
    fn starttls_refused_keeps_parsing_commands() {
        let mut s = run(&[
            (false, b"220 mx\r\n"),
            (true, b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@b>\r\n"),
            (false, b"250 mx\r\n454 no tls\r\n"),
        ]);
        assert!(Parser::upgrade(&mut s).is_none());
        assert_eq!(s.txs.len(), 1);
        assert_eq!(s.txs[0].mail_from.as_deref(), Some(&b"<a@b>"[..]));
        assert!(s.txs[0].events & event::TLS_REJECTED != 0);
    }
}
