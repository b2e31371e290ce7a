//! MIME message decoding for the mail parsers: header fields, multipart nesting, and the
//! content transfer encodings (base64, quoted-printable, uuencode, 7bit/8bit/binary). Each
//! attachment becomes a [`File`] holding its decoded content.
//!
//! The decoder is fed the message one line at a time (a line too long to keep arrives in
//! pieces, the last with `eol`). Every bound is explicit: header bytes per part, nesting depth
//! and parts per message; what exceeds one is counted as an event and skipped, never buffered.

use super::files::{File, FileConfig};

/// MIME anomalies (bits of [`Mime::events`]).
pub mod event {
    /// A base64 body held characters outside the alphabet.
    pub const INVALID_BASE64: u32 = 1 << 0;
    /// A quoted-printable body held a malformed escape.
    pub const INVALID_QP: u32 = 1 << 1;
    /// A header block exceeded its limit; the rest was skipped.
    pub const LONG_HEADER: u32 = 1 << 2;
    /// Multipart nesting deeper than the limit; deeper parts were not parsed.
    pub const DEPTH_EXCEEDED: u32 = 1 << 3;
    /// More parts than the limit in one message; later ones were not parsed.
    pub const TOO_MANY_PARTS: u32 = 1 << 4;
    /// A multipart entity without a boundary parameter.
    pub const MISSING_BOUNDARY: u32 = 1 << 5;
    /// A line longer than the line limit.
    pub const LONG_LINE: u32 = 1 << 6;
    /// The message ended inside a multipart (a missing closing boundary).
    pub const MALFORMED: u32 = 1 << 7;
}

/// Parts parsed per message.
const MAX_PARTS: usize = 1000;
/// Longest boundary accepted (RFC 2046: 70).
const MAX_BOUNDARY: usize = 256;

/// Content transfer encoding of a part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Enc {
    #[default]
    Plain,
    Base64,
    Qp,
}

/// One entity on the path from the message to the part being read.
#[derive(Debug, Default)]
struct Part {
    /// Boundary of a multipart entity.
    boundary: Option<Vec<u8>>,
    enc: Enc,
    /// Index of the part's file in [`Mime::files`].
    file: Option<usize>,
    /// Reading the part's header block (else its body).
    in_headers: bool,
    /// Header bytes seen.
    header_bytes: usize,
    /// A multipart whose closing boundary was seen: the rest is its epilogue.
    closed: bool,
    content_type: Vec<u8>,
    disposition: Vec<u8>,
}

/// Header fields of the message itself, as EVE `email` logs them.
#[derive(Debug, Default)]
pub struct Email {
    /// `From`.
    pub from: Option<Vec<u8>>,
    /// `To` addresses.
    pub to: Vec<Vec<u8>>,
    /// `Cc` addresses.
    pub cc: Vec<Vec<u8>>,
    /// `Subject`.
    pub subject: Option<Vec<u8>>,
    /// `Date`.
    pub date: Option<Vec<u8>>,
    /// `Message-Id`.
    pub message_id: Option<Vec<u8>>,
    /// `X-Mailer`.
    pub x_mailer: Option<Vec<u8>>,
    /// Names of the attachments.
    pub attachments: Vec<Vec<u8>>,
}

/// Where the decoder is, as EVE `email.status` says it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Status {
    /// Nothing parsed yet.
    #[default]
    Start,
    /// In the header block.
    HeaderStarted,
    /// In a body.
    BodyStarted,
    /// The message ended.
    Done,
}

impl Status {
    /// EVE `email.status`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Start | Status::HeaderStarted => "HEADER_STARTED",
            Status::BodyStarted => "BODY_STARTED",
            Status::Done => "PARSE_DONE",
        }
    }
}

/// A streaming MIME decoder for one message.
#[derive(Debug, Default)]
pub struct Mime {
    stack: Vec<Part>,
    /// The header field being unfolded.
    field: Vec<u8>,
    /// Base64 characters carried to the next line.
    b64: Vec<u8>,
    /// A line ending of a plain/QP body held back: it belongs to the next boundary if one
    /// follows.
    held_eol: bool,
    /// Inside a uuencoded block: the index of its file.
    uu: Option<usize>,
    /// The last line fed did not end: the next piece continues it.
    mid_line: bool,
    parts: usize,
    /// The message's header fields.
    pub email: Email,
    /// Attachments, in order.
    pub files: Vec<File>,
    /// [`event`] bits raised.
    pub events: u32,
    /// Progress.
    pub status: Status,
    /// Attachments not tracked because the transaction held its limit of files.
    pub files_dropped: u64,
    /// Scratch for decoded bytes.
    out: Vec<u8>,
}

impl Mime {
    /// Heap bytes held.
    pub fn heap(&self) -> usize {
        let email = &self.email;
        let list = |l: &Vec<Vec<u8>>| l.iter().map(|v| v.capacity()).sum::<usize>();
        self.field.capacity()
            + self.b64.capacity()
            + self.out.capacity()
            + self
                .stack
                .iter()
                .map(|p| {
                    p.boundary.as_ref().map_or(0, |b| b.capacity())
                        + p.content_type.capacity()
                        + p.disposition.capacity()
                })
                .sum::<usize>()
            + self.files.iter().map(File::heap).sum::<usize>()
            + list(&email.to)
            + list(&email.cc)
            + list(&email.attachments)
            + [
                &email.from,
                &email.subject,
                &email.date,
                &email.message_id,
                &email.x_mailer,
            ]
            .iter()
            .map(|v| v.as_ref().map_or(0, |v| v.capacity()))
            .sum::<usize>()
    }

    /// Feeds one line of the message (without its line ending; `eol` says whether it had
    /// one: a piece of an over-long line has none). `tx_id` is stamped on new files.
    pub fn line(&mut self, line: &[u8], eol: bool, tx_id: u64, cfg: &FileConfig, lim: Limits) {
        if self.status == Status::Done {
            return;
        }
        if self.stack.is_empty() {
            self.stack.push(Part {
                in_headers: true,
                ..Part::default()
            });
            self.status = Status::HeaderStarted;
        }
        if !eol {
            self.events |= event::LONG_LINE;
        }
        let continued = std::mem::replace(&mut self.mid_line, !eol);
        if continued {
            // The rest of an over-long line: more of the same header field or body line.
            let top = self.stack.len() - 1;
            if self.stack[top].in_headers {
                let room = lim.header_bytes.saturating_sub(self.field.len());
                self.field.extend_from_slice(&line[..line.len().min(room)]);
            } else {
                self.body_line(line, eol, tx_id, cfg);
            }
            return;
        }
        // A boundary line of any open multipart ends the parts inside it.
        if line.len() > 2 && line.starts_with(b"--") {
            if let Some((k, end)) = self.boundary_match(line) {
                self.boundary(k, end, cfg);
                return;
            }
        }
        let top = self.stack.len() - 1;
        if self.stack[top].in_headers {
            self.header_line(line, tx_id, cfg, lim);
        } else {
            self.body_line(line, eol, tx_id, cfg);
        }
    }

    /// The message ended: open files close.
    pub fn finish(&mut self, cfg: &FileConfig) {
        if self.status == Status::Done {
            return;
        }
        let unterminated = self.stack.iter().any(|p| p.boundary.is_some() && !p.closed);
        if unterminated {
            self.events |= event::MALFORMED;
        }
        self.flush_b64_tail(cfg);
        if let Some(i) = self.uu.take() {
            self.files[i].truncate();
        }
        for f in &mut self.files {
            f.close();
        }
        self.stack.clear();
        self.status = Status::Done;
    }

    /// The transfer stopped (the session ended inside the message): open files are cut.
    pub fn abort(&mut self) {
        for f in &mut self.files {
            f.truncate();
        }
        self.stack.clear();
    }

    /// Which open multipart (stack index) a `--boundary` line belongs to, and whether it is
    /// the closing `--boundary--`.
    fn boundary_match(&self, line: &[u8]) -> Option<(usize, bool)> {
        let rest = &line[2..];
        self.stack.iter().enumerate().rev().find_map(|(k, p)| {
            let b = p.boundary.as_deref().filter(|_| !p.closed)?;
            let tail = rest.strip_prefix(b)?;
            let tail = tail.trim_ascii_end();
            match tail {
                b"" => Some((k, false)),
                b"--" => Some((k, true)),
                _ => None,
            }
        })
    }

    fn boundary(&mut self, k: usize, end: bool, cfg: &FileConfig) {
        // The held line ending belonged to the boundary.
        self.held_eol = false;
        self.flush_b64_tail(cfg);
        while self.stack.len() > k + 1 {
            let p = self.stack.pop().expect("deeper than k");
            if let Some(i) = p.file {
                self.files[i].close();
            }
        }
        if let Some(i) = self.uu.take() {
            self.files[i].truncate();
        }
        if end {
            self.stack[k].closed = true;
            return;
        }
        self.parts += 1;
        if self.parts > MAX_PARTS {
            self.events |= event::TOO_MANY_PARTS;
            // Read no further parts: the multipart's remaining lines are skipped.
            self.stack[k].closed = true;
            return;
        }
        self.stack.push(Part {
            in_headers: true,
            ..Part::default()
        });
        self.status = Status::HeaderStarted;
    }

    fn header_line(&mut self, line: &[u8], tx_id: u64, cfg: &FileConfig, lim: Limits) {
        let top = self.stack.len() - 1;
        if line.is_empty() {
            self.end_field();
            self.end_headers(tx_id, cfg, lim);
            return;
        }
        let part = &mut self.stack[top];
        part.header_bytes += line.len() + 2;
        if part.header_bytes > lim.header_bytes {
            self.events |= event::LONG_HEADER;
            return;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            // Folded continuation of the field.
            if self.field.len() + line.len() < lim.header_bytes {
                self.field.push(b' ');
                self.field.extend_from_slice(line.trim_ascii());
            }
            return;
        }
        self.end_field();
        self.field.extend_from_slice(line);
    }

    /// A complete (unfolded) header field.
    fn end_field(&mut self) {
        if self.field.is_empty() {
            return;
        }
        let field = std::mem::take(&mut self.field);
        if let Some(colon) = field.iter().position(|&b| b == b':') {
            let name = field[..colon].trim_ascii();
            let value = field[colon + 1..].trim_ascii();
            let top = self.stack.len() - 1;
            let part = &mut self.stack[top];
            let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
            if is("content-type") {
                part.content_type = value.to_vec();
            } else if is("content-disposition") {
                part.disposition = value.to_vec();
            } else if is("content-transfer-encoding") {
                part.enc = match value.to_ascii_lowercase().as_slice() {
                    b"base64" => Enc::Base64,
                    b"quoted-printable" => Enc::Qp,
                    _ => Enc::Plain,
                };
            } else if top == 0 {
                let e = &mut self.email;
                let keep = |v: &[u8]| Some(v[..v.len().min(1024)].to_vec());
                if is("from") {
                    e.from = keep(value);
                } else if is("to") {
                    push_addresses(&mut e.to, value);
                } else if is("cc") {
                    push_addresses(&mut e.cc, value);
                } else if is("subject") {
                    e.subject = keep(value);
                } else if is("date") {
                    e.date = keep(value);
                } else if is("message-id") {
                    e.message_id = keep(value);
                } else if is("x-mailer") {
                    e.x_mailer = keep(value);
                }
            }
        }
        self.field = field;
        self.field.clear();
    }

    fn end_headers(&mut self, tx_id: u64, cfg: &FileConfig, lim: Limits) {
        let top = self.stack.len() - 1;
        self.status = Status::BodyStarted;
        let part = &mut self.stack[top];
        part.in_headers = false;
        let ct = part.content_type.to_ascii_lowercase();
        if ct.starts_with(b"multipart/") {
            match param(&part.content_type, b"boundary") {
                Some(b) if !b.is_empty() && b.len() <= MAX_BOUNDARY => {
                    if top + 1 >= lim.max_depth {
                        // Too deep: the multipart is read as an opaque body.
                        self.events |= event::DEPTH_EXCEEDED;
                    } else {
                        part.boundary = Some(b);
                    }
                }
                _ => self.events |= event::MISSING_BOUNDARY,
            }
            return;
        }
        let name =
            param(&part.disposition, b"filename").or_else(|| param(&part.content_type, b"name"));
        let attachment = part.disposition.len() >= 10
            && part.disposition[..10].eq_ignore_ascii_case(b"attachment");
        if let Some(name) = name.filter(|n| !n.is_empty()).or_else(|| {
            // An attachment without a name is still a file.
            attachment.then(Vec::new)
        }) {
            if self.files.len() >= cfg.max_per_tx {
                self.files_dropped += 1;
            } else {
                self.email.attachments.push(name.clone());
                self.files.push(File::new(&name, true, tx_id, cfg));
                part.file = Some(self.files.len() - 1);
            }
        }
        self.b64.clear();
        self.held_eol = false;
    }

    fn body_line(&mut self, line: &[u8], eol: bool, tx_id: u64, cfg: &FileConfig) {
        let top = self.stack.len() - 1;
        let part = &self.stack[top];
        if part.boundary.is_some() {
            // Preamble or epilogue of a multipart: not content.
            return;
        }
        let (file, enc) = (part.file, part.enc);
        let Some(i) = file.or(self.uu) else {
            if enc == Enc::Plain {
                self.uuencode_begin(line, tx_id, cfg);
            }
            return;
        };
        if self.uu.is_some() && file.is_none() {
            self.uuencode_line(line, cfg);
            return;
        }
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        match enc {
            Enc::Base64 => self.decode_b64(line, &mut out),
            Enc::Qp => {
                if self.held_eol {
                    out.extend_from_slice(b"\r\n");
                }
                let soft = decode_qp(line, &mut out, &mut self.events);
                self.held_eol = eol && !soft;
            }
            Enc::Plain => {
                if self.held_eol {
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(line);
                self.held_eol = eol;
            }
        }
        self.files[i].append(&out, cfg);
        self.out = out;
    }

    fn decode_b64(&mut self, line: &[u8], out: &mut Vec<u8>) {
        for &c in line {
            if c == b'=' || c.is_ascii_whitespace() {
                continue;
            }
            if b64_value(c).is_none() {
                self.events |= event::INVALID_BASE64;
                continue;
            }
            self.b64.push(c);
            if self.b64.len() == 4 {
                b64_quad(&self.b64, out);
                self.b64.clear();
            }
        }
    }

    /// Decodes the last partial base64 group of a part into its file.
    fn flush_b64_tail(&mut self, cfg: &FileConfig) {
        if self.b64.len() >= 2 {
            if let Some(i) = self.stack.last().and_then(|p| p.file) {
                let mut out = Vec::new();
                b64_quad(&self.b64, &mut out);
                self.files[i].append(&out, cfg);
            }
        }
        self.b64.clear();
    }

    /// `begin <mode> <name>` in a plain body starts a uuencoded file.
    fn uuencode_begin(&mut self, line: &[u8], tx_id: u64, cfg: &FileConfig) {
        let Some(rest) = line.strip_prefix(b"begin ") else {
            return;
        };
        let mut it = rest.splitn(2, |&b| b == b' ');
        let mode = it.next().unwrap_or_default();
        let name = it.next().unwrap_or_default().trim_ascii();
        if mode.is_empty() || !mode.iter().all(u8::is_ascii_digit) || name.is_empty() {
            return;
        }
        if self.files.len() >= cfg.max_per_tx {
            self.files_dropped += 1;
        } else {
            self.email.attachments.push(name.to_vec());
            self.files.push(File::new(name, true, tx_id, cfg));
            self.uu = Some(self.files.len() - 1);
        }
    }

    fn uuencode_line(&mut self, line: &[u8], cfg: &FileConfig) {
        let Some(i) = self.uu else { return };
        if line == b"end" {
            self.files[i].close();
            self.uu = None;
            return;
        }
        let Some((&len, rest)) = line.split_first() else {
            return;
        };
        let n = usize::from(len.wrapping_sub(b' ') & 0x3f);
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        for chunk in rest.chunks(4) {
            let v = |k: usize| u32::from(chunk.get(k).map_or(0, |c| c.wrapping_sub(b' ') & 0x3f));
            let w = (v(0) << 18) | (v(1) << 12) | (v(2) << 6) | v(3);
            out.extend_from_slice(&[(w >> 16) as u8, (w >> 8) as u8, w as u8]);
        }
        out.truncate(n);
        self.files[i].append(&out, cfg);
        self.out = out;
    }
}

/// Limits of the decoder (from the app-layer configuration).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Header bytes per part.
    pub header_bytes: usize,
    /// Nesting depth.
    pub max_depth: usize,
}

fn push_addresses(list: &mut Vec<Vec<u8>>, value: &[u8]) {
    // Commas inside quotes or angle brackets do not separate addresses.
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    for (i, &b) in value.iter().chain(std::iter::once(&b',')).enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => {
                let a = value[start..i.min(value.len())].trim_ascii();
                if !a.is_empty() && list.len() < 64 {
                    list.push(a[..a.len().min(1024)].to_vec());
                }
                start = i + 1;
            }
            _ => {}
        }
    }
}

/// A parameter of a structured header value (`boundary="x"`, `filename=y`, RFC 2231
/// `filename*=utf-8''a%20b`).
pub fn param(value: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    let mut rest = value;
    while let Some(semi) = rest.iter().position(|&b| b == b';') {
        rest = &rest[semi + 1..];
        let item = rest.trim_ascii_start();
        let Some(eq) = item.iter().position(|&b| b == b'=') else {
            continue;
        };
        let key = item[..eq].trim_ascii();
        let raw = item[eq + 1..].trim_ascii_start();
        let extended = key.len() == name.len() + 1
            && key.ends_with(b"*")
            && key[..name.len()].eq_ignore_ascii_case(name);
        if !key.eq_ignore_ascii_case(name) && !extended {
            continue;
        }
        let v = if let Some(q) = raw.strip_prefix(b"\"") {
            let end = q.iter().position(|&b| b == b'"').unwrap_or(q.len());
            q[..end].to_vec()
        } else {
            let end = raw
                .iter()
                .position(|&b| b == b';' || b.is_ascii_whitespace())
                .unwrap_or(raw.len());
            raw[..end].to_vec()
        };
        if extended {
            // charset'language'percent-encoded
            let enc = v.rsplit(|&b| b == b'\'').next().unwrap_or(&v);
            let mut out = Vec::new();
            super::http::percent_decode(enc, &mut out);
            return Some(out);
        }
        return Some(v);
    }
    None
}

fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes 2 to 4 base64 characters.
fn b64_quad(q: &[u8], out: &mut Vec<u8>) {
    let v = |k: usize| u32::from(q.get(k).and_then(|&c| b64_value(c)).unwrap_or(0));
    let w = (v(0) << 18) | (v(1) << 12) | (v(2) << 6) | v(3);
    let bytes = [(w >> 16) as u8, (w >> 8) as u8, w as u8];
    out.extend_from_slice(&bytes[..q.len() - 1]);
}

/// Decodes one quoted-printable line; returns whether it ended with a soft line break.
fn decode_qp(line: &[u8], out: &mut Vec<u8>, events: &mut u32) -> bool {
    let line = line.trim_ascii_end();
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if b != b'=' {
            out.push(b);
            i += 1;
            continue;
        }
        if i + 1 == line.len() {
            return true;
        }
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            line.get(i + 1).and_then(|&c| hex(c)),
            line.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            _ => {
                *events |= event::INVALID_QP;
                out.push(b'=');
                i += 1;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: Limits = Limits {
        header_bytes: 16 * 1024,
        max_depth: 8,
    };

    fn feed(m: &mut Mime, text: &str) {
        let cfg = FileConfig::default();
        for l in text.split("\r\n") {
            m.line(l.as_bytes(), true, 0, &cfg, LIM);
        }
        m.finish(&cfg);
    }

    #[test]
    fn multipart_with_base64_and_qp_attachments() {
        let mut m = Mime::default();
        feed(
            &mut m,
            "From: \"A, B\" <a@x>\r\nTo: <b@y>, c@z\r\nSubject: hi\r\n\
             Content-Type: multipart/mixed;\r\n boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\n\
             Content-Type: text/plain\r\n\r\nbody text\r\n--XX\r\n\
             Content-Type: application/octet-stream; name=\"a.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8g\r\nd29y\r\nbGQ=\r\n--XX\r\n\
             Content-Disposition: attachment; filename*=utf-8''q%20p.txt\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\r\na=3Db=\r\nc\r\nd\r\n--XX--\r\nepilogue",
        );
        assert_eq!(m.email.from.as_deref(), Some(&b"\"A, B\" <a@x>"[..]));
        assert_eq!(m.email.to, vec![b"<b@y>".to_vec(), b"c@z".to_vec()]);
        assert_eq!(m.files.len(), 2);
        assert_eq!(m.files[0].name, b"a.bin");
        assert_eq!(m.files[0].data(), b"hello world");
        assert_eq!(m.files[1].name, b"q p.txt");
        assert_eq!(m.files[1].data(), b"a=bc\r\nd");
        assert!(m
            .files
            .iter()
            .all(|f| f.state == super::super::FileState::Closed));
        assert_eq!(m.status, Status::Done);
        assert_eq!(m.events, 0);
    }

    #[test]
    fn nesting_is_bounded() {
        let mut m = Mime::default();
        let mut text = String::new();
        for d in 0..50 {
            text.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{d}\r\n\r\n--b{d}\r\n"
            ));
        }
        text.push_str("Content-Type: text/plain; name=deep.txt\r\n\r\nx\r\n");
        feed(&mut m, &text);
        assert!(m.events & event::DEPTH_EXCEEDED != 0);
        assert!(m.stack.is_empty());
        assert!(
            m.files.is_empty(),
            "parts below the depth limit are not parsed"
        );
    }

    #[test]
    fn uuencoded_file_in_a_plain_body() {
        let mut m = Mime::default();
        feed(
            &mut m,
            "Subject: uu\r\n\r\nhello\r\nbegin 644 cat.txt\r\n#8V%T\r\n`\r\nend\r\n",
        );
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].name, b"cat.txt");
        assert_eq!(m.files[0].data(), b"cat");
    }

    #[test]
    fn attachments_past_the_limit_are_counted() {
        let mut m = Mime::default();
        let cfg = FileConfig {
            max_per_tx: 2,
            ..FileConfig::default()
        };
        let mut text = String::from("Content-Type: multipart/mixed; boundary=b\r\n\r\n");
        for i in 0..5 {
            text.push_str(&format!(
                "--b\r\nContent-Type: text/plain; name={i}.txt\r\n\r\nx\r\n"
            ));
        }
        text.push_str("--b--");
        for l in text.split("\r\n") {
            m.line(l.as_bytes(), true, 0, &cfg, LIM);
        }
        m.finish(&cfg);
        assert_eq!((m.files.len(), m.files_dropped), (2, 3));
    }

    #[test]
    fn hostile_headers_are_bounded() {
        let mut m = Mime::default();
        let cfg = FileConfig::default();
        let long = vec![b'a'; 10_000];
        for _ in 0..100 {
            m.line(&long, true, 0, &cfg, LIM);
        }
        assert!(m.events & event::LONG_HEADER != 0);
        assert!(m.heap() < 64 * 1024);
    }
}
