//! FTP: the control channel (one transaction per command with its replies, multi-line
//! replies, pipelining) and the data connections it announces. PORT/EPRT (active) and the
//! replies to PASV/EPSV (passive) name the data connection's port; the worker links the
//! connection that opens there to this session, and its bytes become a file (`ftp-data`)
//! named by the RETR/STOR that uses it.

use std::collections::VecDeque;
use std::io::Write;
use std::net::Ipv4Addr;

use super::files::File;
use super::line::{next_line, Verb};
use super::parser::{Expectation, ParseCtx, Parser, Protocol, Transaction, TxDetect};
use super::{AppConfig, AppProto, AppStats, Buf, Probe};
use crate::common::json::{push_json_bytes, push_key};

/// FTP anomalies.
pub mod event {
    /// A command line longer than the limit (cut).
    pub const REQUEST_COMMAND_TOO_LONG: u32 = 1 << 0;
    /// A reply line longer than the limit (cut).
    pub const RESPONSE_COMMAND_TOO_LONG: u32 = 1 << 1;
    /// Transactions past the per-flow limit were not kept.
    pub const TOO_MANY_TRANSACTIONS: u32 = 1 << 2;

    /// The bit of an `app-layer-event:ftp.<name>` name.
    pub fn by_name(name: &str) -> Option<u32> {
        match name {
            "request_command_too_long" => Some(REQUEST_COMMAND_TOO_LONG),
            "response_command_too_long" => Some(RESPONSE_COMMAND_TOO_LONG),
            "too_many_transactions" => Some(TOO_MANY_TRANSACTIONS),
            _ => None,
        }
    }
}

/// Reply lines kept per command.
const MAX_REPLY_LINES: usize = 64;
/// Announced data connections waiting to be handed to the worker.
const MAX_EXPECT: usize = 16;

/// One command and its replies.
#[derive(Debug, Default)]
pub struct FtpTx {
    /// Transaction number within its flow (EVE `tx_id`).
    pub id: u64,
    /// The command verb as sent (empty for the server's greeting).
    pub command: Vec<u8>,
    /// Its argument.
    pub command_data: Vec<u8>,
    /// Reply texts (without their codes).
    pub replies: Vec<Vec<u8>>,
    /// Reply codes.
    pub codes: Vec<[u8; 3]>,
    /// A final (non-1xx) reply arrived.
    pub done: bool,
    /// Port of a data connection the command or its reply announced.
    pub dynamic_port: Option<u16>,
    /// The mode of that data connection: passive (PASV/EPSV) or active (PORT/EPRT).
    pub passive: Option<bool>,
    /// The address a PORT command gave (`ftpbounce` compares it with the client's).
    pub port_addr: Option<Ipv4Addr>,
    /// [`event`] bits.
    pub events: u32,
    /// Detection and logging state.
    pub det: TxDetect,
}

/// Per-flow FTP control state.
#[derive(Debug, Default)]
pub struct FtpState {
    line: [Vec<u8>; 2],
    skipping: [bool; 2],
    txs: VecDeque<FtpTx>,
    next_id: u64,
    /// The port of the last PASV/EPSV reply or PORT/EPRT command, and whether passive.
    data_port: Option<(u16, bool)>,
    /// Inside a multi-line reply: its code.
    reply_code: Option<[u8; 3]>,
    expect: Vec<Expectation>,
}

/// FTP's registration.
pub static PROTOCOL: Protocol = Protocol {
    proto: AppProto::Ftp,
    names: &["ftp"],
    event_type: "ftp",
    switch: None,
    parser_error_event: "ftp.parser_error",
    buffers: &[
        ("ftp.command", Buf::FtpCommand),
        ("ftp.command_data", Buf::FtpCommandData),
    ],
    ports: &[],
    probe_tcp: Some(probe),
    probe_udp: None,
    new_parser: |_| Box::<FtpState>::default(),
    event_by_name: event::by_name,
    triggers_raw: true,
};

/// Probe: a client's usual first commands. The server's `220` greeting waits for them (SMTP
/// shares it).
pub fn probe(data: &[u8], to_server: bool) -> Probe {
    if !to_server {
        // The greeting alone cannot tell FTP from SMTP (the SMTP probe already waits on it).
        return Probe::NoMatch;
    }
    const FIRST: [&[u8]; 8] = [
        b"USER ", b"AUTH ", b"FEAT", b"SYST", b"OPTS ", b"PASS ", b"ACCT ", b"HOST ",
    ];
    let n = data.len().min(5);
    for verb in FIRST {
        let k = verb.len().min(n);
        if data[..k].eq_ignore_ascii_case(&verb[..k]) {
            return if n >= verb.len() {
                Probe::Found(AppProto::Ftp)
            } else {
                Probe::NeedMore
            };
        }
    }
    Probe::NoMatch
}

impl FtpState {
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
            self.skipping[d] = !eol;
            if to_server {
                self.command(&line, eol, cfg, stats);
            } else {
                self.reply(&line, eol, cfg, stats);
            }
            progressed = true;
            self.line[d] = line;
            self.line[d].clear();
        }
        progressed
    }

    fn new_tx(&mut self, cfg: &AppConfig, stats: &mut AppStats) -> &mut FtpTx {
        let mut events = 0;
        if self.txs.len() >= cfg.max_txs {
            self.txs.pop_front();
            stats.tx_limit_hits += 1;
            events = event::TOO_MANY_TRANSACTIONS;
        }
        stats.count_tx(AppProto::Ftp);
        let id = self.next_id;
        self.next_id += 1;
        self.txs.push_back(FtpTx {
            id,
            events,
            ..FtpTx::default()
        });
        self.txs.back_mut().expect("just pushed")
    }

    fn command(&mut self, line: &[u8], eol: bool, cfg: &AppConfig, stats: &mut AppStats) {
        let (verb, arg) = match line.iter().position(|&b| b == b' ') {
            Some(sp) => (&line[..sp], &line[sp + 1..]),
            None => (line, &b""[..]),
        };
        let verb_upper = Verb::upper(verb);
        let upper = verb_upper.as_bytes();
        let mut announce = None;
        if upper == b"PORT" {
            announce = parse_port(arg).map(|(a, p)| (p, false, Some(a)));
        } else if upper == b"EPRT" {
            announce = parse_eprt(arg).map(|p| (p, false, None));
        }
        let data_cmd = matches!(
            upper,
            b"RETR" | b"STOR" | b"APPE" | b"STOU" | b"LIST" | b"NLST" | b"MLSD"
        );
        let expect = if data_cmd { self.data_port } else { None };
        let tx = self.new_tx(cfg, stats);
        tx.command = verb[..verb.len().min(64)].to_vec();
        tx.command_data = arg[..arg.len().min(cfg.line_limit)].to_vec();
        if !eol {
            tx.events |= event::REQUEST_COMMAND_TOO_LONG;
        }
        tx.det.updated[0] = true;
        if let Some((port, passive, addr)) = announce {
            tx.dynamic_port = Some(port);
            tx.passive = Some(passive);
            tx.port_addr = addr;
            self.data_port = Some((port, passive));
            self.announce(port, passive, b"", b"");
        }
        if let Some((port, passive)) = expect {
            let file = if matches!(upper, b"LIST" | b"NLST" | b"MLSD") {
                Vec::new()
            } else {
                arg.to_vec()
            };
            self.announce(port, passive, upper, &file);
        }
    }

    fn announce(&mut self, port: u16, passive: bool, command: &[u8], file: &[u8]) {
        if self.expect.len() >= MAX_EXPECT {
            self.expect.remove(0);
        }
        self.expect.push(Expectation {
            on_server: passive,
            port,
            proto: AppProto::FtpData,
            command: command.to_vec(),
            file: file[..file.len().min(1024)].to_vec(),
        });
    }

    fn reply(&mut self, line: &[u8], eol: bool, cfg: &AppConfig, stats: &mut AppStats) {
        let code = match line {
            [a, b, c, rest @ ..]
                if a.is_ascii_digit()
                    && b.is_ascii_digit()
                    && c.is_ascii_digit()
                    && matches!(rest.first(), None | Some(b' ' | b'-')) =>
            {
                Some(([*a, *b, *c], rest.first() == Some(&b'-')))
            }
            _ => None,
        };
        let text = line.get(4..).unwrap_or_default();
        // The oldest command still waiting for its final reply, else a reply of its own.
        let idx = match self.txs.iter().position(|t| !t.done) {
            Some(i) => i,
            None => {
                self.new_tx(cfg, stats);
                self.txs.len() - 1
            }
        };
        let tx = &mut self.txs[idx];
        tx.det.updated[1] = true;
        if !eol {
            tx.events |= event::RESPONSE_COMMAND_TOO_LONG;
        }
        let (code, more) = match (code, self.reply_code) {
            // Not open: a reply starts (a line without a code is kept as it is).
            (Some((c, more)), None) => (c, more),
            // Open: only `<same code> ` ends it; `<same code>-` continues it.
            (Some((c, more)), Some(open)) if c == open => (c, more),
            _ => {
                if tx.replies.len() < MAX_REPLY_LINES {
                    tx.replies.push(line.to_vec());
                }
                return;
            }
        };
        if tx.replies.len() < MAX_REPLY_LINES {
            tx.replies.push(text.to_vec());
        }
        if more {
            self.reply_code = Some(code);
            return;
        }
        self.reply_code = None;
        if tx.codes.len() < MAX_REPLY_LINES {
            tx.codes.push(code);
        }
        if code[0] != b'1' {
            tx.done = true;
        }
        let announced = match &code {
            b"227" => parse_port_in(text).map(|(_, p)| p),
            b"229" => parse_epsv(text),
            _ => None,
        };
        if let Some(port) = announced {
            tx.dynamic_port = Some(port);
            tx.passive = Some(true);
            self.data_port = Some((port, true));
            self.announce(port, true, b"", b"");
        }
    }
}

/// `h1,h2,h3,h4,p1,p2`.
fn parse_port(arg: &[u8]) -> Option<(Ipv4Addr, u16)> {
    let s = std::str::from_utf8(arg).ok()?.trim();
    let n: Vec<u8> = s
        .split(',')
        .map(|x| x.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .ok()?;
    if n.len() != 6 {
        return None;
    }
    let port = u16::from(n[4]) << 8 | u16::from(n[5]);
    (port != 0).then(|| (Ipv4Addr::new(n[0], n[1], n[2], n[3]), port))
}

/// The `h1,h2,h3,h4,p1,p2` inside a 227 reply's text.
fn parse_port_in(text: &[u8]) -> Option<(Ipv4Addr, u16)> {
    let start = text.iter().position(u8::is_ascii_digit)?;
    let rest = &text[start..];
    let end = rest
        .iter()
        .position(|&b| !(b.is_ascii_digit() || b == b',' || b == b' '))
        .unwrap_or(rest.len());
    parse_port(&rest[..end])
}

/// `|1|a.b.c.d|port|` (EPRT).
fn parse_eprt(arg: &[u8]) -> Option<u16> {
    let s = std::str::from_utf8(arg).ok()?.trim();
    let delim = s.chars().next()?;
    let parts: Vec<&str> = s.split(delim).collect();
    parts.get(3)?.parse::<u16>().ok().filter(|&p| p != 0)
}

/// `(|||port|)` in a 229 reply.
fn parse_epsv(text: &[u8]) -> Option<u16> {
    let s = std::str::from_utf8(text).ok()?;
    let open = s.find('(')?;
    let close = s[open..].find(')')? + open;
    let inner = &s[open + 1..close];
    let delim = inner.chars().next()?;
    inner
        .split(delim)
        .nth(3)?
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
}

impl Transaction for FtpTx {
    fn proto(&self) -> AppProto {
        AppProto::Ftp
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn each(&self, b: Buf, to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        if !to_server || self.command.is_empty() {
            return None;
        }
        match b {
            Buf::FtpPortAddr => self.port_addr.map(|a| f(&a.octets())),
            Buf::FtpCommand => Some(f(&self.command)),
            Buf::FtpCommandData => Some(f(&self.command_data)),
            _ => None,
        }
    }

    fn events(&self) -> u32 {
        self.events
    }

    fn complete(&self) -> bool {
        self.done
    }

    fn worth_logging(&self) -> bool {
        true
    }

    fn write_eve(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"ftp\":{");
        let mark = out.len();
        if !self.command.is_empty() {
            out.extend_from_slice(b",\"command\":");
            push_json_bytes(out, &self.command);
            out.extend_from_slice(b",\"command_data\":");
            push_json_bytes(out, &self.command_data);
        }
        if !self.replies.is_empty() {
            out.extend_from_slice(b",\"reply\":[");
            for (i, r) in self.replies.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_json_bytes(out, r);
            }
            out.push(b']');
        }
        if !self.codes.is_empty() {
            out.extend_from_slice(b",\"completion_code\":[");
            for (i, c) in self.codes.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_json_bytes(out, c);
            }
            out.push(b']');
        }
        if let Some(p) = self.dynamic_port {
            let _ = write!(out, ",\"dynamic_port\":{p}");
        }
        if let Some(passive) = self.passive {
            let mode = if passive { "passive" } else { "active" };
            let _ = write!(out, ",\"mode\":\"{mode}\"");
        }
        let got = if self.codes.is_empty() { "no" } else { "yes" };
        let _ = write!(out, ",\"reply_received\":\"{got}\"");
        if self.events & event::REQUEST_COMMAND_TOO_LONG != 0 {
            out.extend_from_slice(b",\"command_truncated\":true");
        }
        if self.events & event::RESPONSE_COMMAND_TOO_LONG != 0 {
            out.extend_from_slice(b",\"reply_truncated\":true");
        }
        crate::common::json::strip_leading_comma(out, mark);
        out.push(b'}');
    }
}

impl FtpTx {
    /// Whether the transaction is a PORT command naming an address other than `client`
    /// (an FTP bounce).
    pub fn bounce(&self, client: std::net::IpAddr) -> bool {
        match (self.port_addr, client) {
            (Some(a), std::net::IpAddr::V4(c)) => a != c,
            _ => false,
        }
    }

    fn heap(&self) -> usize {
        self.command.capacity()
            + self.command_data.capacity()
            + self.replies.iter().map(Vec::capacity).sum::<usize>()
            + self.codes.capacity() * 3
            + self.det.heap()
    }
}

impl Parser for FtpState {
    fn feed(&mut self, to_server: bool, data: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        FtpState::feed(self, to_server, data, cx.cfg, cx.stats)
    }

    fn heap(&self) -> usize {
        self.line.iter().map(Vec::capacity).sum::<usize>()
            + self.txs.iter().map(FtpTx::heap).sum::<usize>()
            + self.expect.len() * std::mem::size_of::<Expectation>()
    }

    crate::parser_tx_slots!(txs);

    fn gc(&mut self) {
        while self.txs.len() > 1 && self.txs.front().is_some_and(|t| t.done && t.det.finished()) {
            self.txs.pop_front();
        }
    }

    fn take_expectations(&mut self, out: &mut Vec<Expectation>) {
        out.append(&mut self.expect);
    }
}

/// The transfer on an FTP data connection: one transaction carrying one file.
#[derive(Debug, Default)]
pub struct FtpDataState {
    /// The command that uses the connection (RETR, STOR...), empty when not known.
    pub command: Vec<u8>,
    /// The file: named by the command's argument, in the direction its bytes flow.
    pub file: Option<File>,
    name: Vec<u8>,
    /// Both directions closed, or the flow ended.
    pub done: bool,
    /// Detection and logging state.
    pub det: TxDetect,
}

/// FTP data's registration: never probed, only started on an announced connection.
pub static DATA_PROTOCOL: Protocol = Protocol {
    proto: AppProto::FtpData,
    names: &["ftp-data"],
    event_type: "ftp_data",
    switch: None,
    parser_error_event: "ftp-data.parser_error",
    buffers: &[
        ("file.data", Buf::FileData),
        ("file.name", Buf::FileName),
        ("file.magic", Buf::FileMagic),
        ("ftpdata_command", Buf::FtpDataCommand),
    ],
    ports: &[],
    probe_tcp: None,
    probe_udp: None,
    new_parser: |_| Box::<FtpDataState>::default(),
    event_by_name: |_| None,
    triggers_raw: true,
};

impl Transaction for FtpDataState {
    fn proto(&self) -> AppProto {
        AppProto::FtpData
    }

    fn id(&self) -> u64 {
        0
    }

    fn each(&self, b: Buf, to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        if b == Buf::FtpDataCommand {
            return (!self.command.is_empty()).then(|| f(&self.command));
        }
        let file = self.file.as_ref().filter(|x| x.to_server == to_server)?;
        match b {
            Buf::FileData if file.inspectable() => Some(f(file.data())),
            Buf::FileName => Some(f(&file.name)),
            Buf::FileMagic => file.magic().map(|m| f(m.as_bytes())),
            _ => None,
        }
    }

    fn settled(&self, _b: Buf, _to_server: bool) -> bool {
        self.done
    }

    fn complete(&self) -> bool {
        self.done
    }

    fn worth_logging(&self) -> bool {
        self.file.is_some()
    }

    fn write_eve(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"ftp_data\":{");
        let mark = out.len();
        if !self.name.is_empty() {
            out.push(b',');
            push_key(out, "filename");
            push_json_bytes(out, &self.name);
        }
        if !self.command.is_empty() {
            out.push(b',');
            push_key(out, "command");
            push_json_bytes(out, &self.command);
        }
        crate::common::json::strip_leading_comma(out, mark);
        out.push(b'}');
    }

    fn files(&self) -> &[File] {
        self.file.as_slice()
    }
}

impl Parser for FtpDataState {
    fn feed(&mut self, to_server: bool, data: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        if self.done || data.is_empty() {
            return false;
        }
        let cfg = &cx.cfg.files;
        let file = self.file.get_or_insert_with(|| {
            cx.stats.count_tx(AppProto::FtpData);
            File::new(&self.name, to_server, 0, cfg)
        });
        if file.to_server != to_server {
            return false;
        }
        let before = file.inspectable();
        file.append(data, cfg);
        let progressed = file.inspectable() != before;
        if progressed {
            self.det.updated[usize::from(!to_server)] = true;
        }
        progressed
    }

    fn gap(&mut self, to_server: bool, len: u64) {
        if let Some(f) = self.file.as_mut().filter(|f| f.to_server == to_server) {
            f.gap(len);
        }
    }

    fn close(&mut self, to_server: bool, _cx: &mut ParseCtx<'_>) -> bool {
        match &mut self.file {
            Some(f) if f.to_server == to_server && !f.done() => {
                f.close();
                self.done = true;
                self.det.updated = [true, true];
                true
            }
            _ => false,
        }
    }

    fn heap(&self) -> usize {
        self.command.capacity()
            + self.name.capacity()
            + self.file.as_ref().map_or(0, File::heap)
            + self.det.heap()
    }

    crate::parser_single_tx!();

    fn expected(&mut self, e: &Expectation) {
        self.command.clone_from(&e.command);
        self.name.clone_from(&e.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx_run(f: impl FnOnce(&mut ParseCtx<'_>)) {
        let cfg = AppConfig::default();
        let mut stats = AppStats::default();
        let mut cx = ParseCtx {
            cfg: &cfg,
            stats: &mut stats,
        };
        f(&mut cx);
    }

    #[test]
    fn commands_replies_and_passive_data_link() {
        cx_run(|cx| {
            let mut s = FtpState::default();
            Parser::feed(&mut s, false, b"220-Welcome\r\n220 ready\r\n", cx);
            Parser::feed(&mut s, true, b"USER bob\r\nPASS x\r\nPASV\r\n", cx);
            Parser::feed(
                &mut s,
                false,
                b"331 pw\r\n230 ok\r\n227 Entering Passive Mode (10,0,0,1,4,1).\r\n",
                cx,
            );
            Parser::feed(&mut s, true, b"RETR /etc/passwd\r\n", cx);
            Parser::feed(&mut s, false, b"150 Opening\r\n226 Done\r\n", cx);
            let cmds: Vec<_> = s
                .txs
                .iter()
                .map(|t| String::from_utf8_lossy(&t.command).into_owned())
                .collect();
            assert_eq!(cmds, ["", "USER", "PASS", "PASV", "RETR"]);
            assert_eq!(
                s.txs[0].replies,
                vec![b"Welcome".to_vec(), b"ready".to_vec()]
            );
            assert_eq!(s.txs[3].dynamic_port, Some(1025));
            assert_eq!(s.txs[4].codes, vec![*b"150", *b"226"]);
            assert!(s.txs.iter().all(|t| t.done));
            let mut ex = Vec::new();
            Parser::take_expectations(&mut s, &mut ex);
            let last = ex.last().unwrap();
            assert_eq!((last.on_server, last.port), (true, 1025));
            assert_eq!(
                (last.command.as_slice(), last.file.as_slice()),
                (&b"RETR"[..], &b"/etc/passwd"[..])
            );
            // The data connection's bytes become the named file.
            let mut d = FtpDataState::default();
            Parser::expected(&mut d, last);
            Parser::feed(&mut d, false, b"root:x:0:0", cx);
            assert!(Parser::close(&mut d, false, cx));
            let f = d.file.as_ref().unwrap();
            assert_eq!(
                (f.name.as_slice(), f.size, f.done()),
                (&b"/etc/passwd"[..], 10, true)
            );
        });
    }

    #[test]
    fn port_bounce_and_bogus_ports() {
        cx_run(|cx| {
            let mut s = FtpState::default();
            Parser::feed(&mut s, true, b"PORT 192,168,1,9,0,21\r\nPORT 1,2,3\r\nPORT 300,1,1,1,1,1\r\nEPRT |1|10.0.0.1|6446|\r\n", cx);
            let c = std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
            assert!(s.txs[0].bounce(c));
            assert_eq!(s.txs[0].dynamic_port, Some(21));
            assert!(s.txs[1].port_addr.is_none() && s.txs[2].port_addr.is_none());
            assert_eq!(s.txs[3].dynamic_port, Some(6446));
            assert!(!s.txs[3].bounce(c));
        });
    }

    #[test]
    fn hostile_lines_are_cut() {
        cx_run(|cx| {
            let mut s = FtpState::default();
            let long = vec![b'A'; 100_000];
            Parser::feed(&mut s, true, &long, cx);
            Parser::feed(&mut s, true, b"\r\nNOOP\r\n", cx);
            assert!(s.txs[0].events & event::REQUEST_COMMAND_TOO_LONG != 0);
            assert_eq!(s.txs[1].command, b"NOOP");
            assert!(Parser::heap(&s) < 64 * 1024);
            for _ in 0..1000 {
                Parser::feed(&mut s, true, b"NOOP\r\n", cx);
            }
            assert!(s.txs.len() <= AppConfig::default().max_txs);
        });
    }
}
