//! Unit tests of the HTTP/2 parser: frames built here, header blocks encoded with the HPACK
//! encoder of the same crate the parser decodes with.

use super::*;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut v = len.to_be_bytes()[1..].to_vec();
    v.extend_from_slice(&[kind, flags]);
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn block(enc: &mut loona_hpack::Encoder<'_>, fields: &[(&str, &str)]) -> Vec<u8> {
    enc.encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
}

struct Session {
    st: H2State,
    cfg: AppConfig,
    stats: AppStats,
    enc: [loona_hpack::Encoder<'static>; 2],
}

impl Session {
    fn new() -> Session {
        let mut s = Session {
            st: H2State::default(),
            cfg: AppConfig::default(),
            stats: AppStats::default(),
            enc: [loona_hpack::Encoder::new(), loona_hpack::Encoder::new()],
        };
        let mut first = PREFACE.to_vec();
        first.extend_from_slice(&frame(frame::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]));
        s.send(true, &first);
        s.send(false, &frame(frame::SETTINGS, 0, 0, &[]));
        s
    }

    fn send(&mut self, to_server: bool, data: &[u8]) {
        self.st.feed(to_server, data, &self.cfg, &mut self.stats);
    }

    fn headers(&mut self, to_server: bool, stream: u32, flags: u8, fields: &[(&str, &str)]) {
        let b = block(&mut self.enc[usize::from(!to_server)], fields);
        self.send(
            to_server,
            &frame(frame::HEADERS, flags | END_HEADERS, stream, &b),
        );
    }

    fn stream(&self, id: u32) -> &H2Tx {
        self.st.txs.iter().find(|t| t.stream == id).expect("stream")
    }
}

fn get(tx: &H2Tx, b: Buf, to_server: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    tx.each(b, to_server, &mut |x| {
        out.push(x.to_vec());
        false
    });
    out
}

#[test]
fn request_and_response_answer_the_http_buffers() {
    let mut s = Session::new();
    // The request's block split over HEADERS and CONTINUATION, one byte at a time.
    let b = block(
        &mut s.enc[0],
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/upload?x=1"),
            (":authority", "Admin@WWW.Example.COM:8080"),
            ("user-agent", "curl/8"),
            ("cookie", "a=1"),
            ("accept", "*/*"),
            ("accept", "text/html"),
        ],
    );
    let mut wire = frame(frame::HEADERS, 0, 1, &b[..5]);
    wire.extend_from_slice(&frame(frame::CONTINUATION, END_HEADERS, 1, &b[5..]));
    // A padded DATA frame ending the request.
    let mut data = vec![3];
    data.extend_from_slice(b"hello");
    data.extend_from_slice(&[0, 0, 0]);
    wire.extend_from_slice(&frame(frame::DATA, PADDED | END_STREAM, 1, &data));
    for byte in &wire {
        s.send(true, std::slice::from_ref(byte));
    }
    s.headers(false, 1, 0, &[(":status", "201"), ("server", "h2o")]);
    s.send(false, &frame(frame::DATA, END_STREAM, 1, b"done"));

    let tx = s.stream(1);
    assert!(tx.complete());
    assert_eq!(tx.events, event::USERINFO_IN_URI);
    assert_eq!(get(tx, Buf::HttpMethod, true), [b"POST"]);
    assert_eq!(get(tx, Buf::HttpUri, true), [b"/upload?x=1"]);
    assert_eq!(get(tx, Buf::HttpHost, true), [b"www.example.com"]);
    assert_eq!(
        get(tx, Buf::HttpHostRaw, true),
        [b"Admin@WWW.Example.COM:8080"]
    );
    assert_eq!(get(tx, Buf::HttpAccept, true), [b"*/*, text/html"]);
    assert_eq!(get(tx, Buf::HttpRequestBody, true), [b"hello"]);
    assert_eq!(get(tx, Buf::FileData, false), [b"done"]);
    assert_eq!(get(tx, Buf::HttpStatCode, false), [b"201"]);
    assert_eq!(get(tx, Buf::HttpResponseLine, false), [b"HTTP/2 201"]);
    assert_eq!(
        get(tx, Buf::HttpRequestLine, true),
        [b"POST /upload?x=1 HTTP/2"]
    );
    let header = &get(tx, Buf::HttpHeader, true)[0];
    assert!(header.starts_with(b":method: POST\r\n:scheme: http\r\n"));
    assert!(!header.windows(6).any(|w| w == b"cookie"));
    let names = &get(tx, Buf::HttpHeaderNames, true)[0];
    assert!(names.starts_with(b"\r\n:method\r\n") && names.ends_with(b"accept\r\n\r\n"));
    let lines = get(tx, Buf::HttpRequestHeader, true);
    assert_eq!(lines[3], b":authority: Admin@WWW.Example.COM:8080");
    let kinds: Vec<u8> = get(tx, Buf::Http2FrameType, true).concat();
    assert_eq!(kinds, vec![1, 0, 1, 0]);

    let mut eve = Vec::new();
    tx.write_eve(&mut eve);
    let v: serde_json::Value = serde_json::from_slice(&eve[8..]).unwrap();
    assert_eq!(v["hostname"], "www.example.com");
    assert_eq!(v["protocol"], "HTTP/2");
    assert_eq!(v["status"], 201);
    assert_eq!(v["http2"]["stream_id"], 1);
    assert_eq!(v["request_headers"][0]["name"], ":method");
}

#[test]
fn compressed_bodies_are_inspected_decompressed_and_are_files() {
    use std::io::Write as _;
    let mut s = Session::new();
    s.headers(
        true,
        1,
        END_STREAM,
        &[(":method", "GET"), (":path", "/dl/tool.exe?x=1")],
    );
    s.headers(
        false,
        1,
        0,
        &[(":status", "200"), ("content-encoding", "gzip")],
    );
    let mut body = b"MZ\x90\x00".to_vec();
    body.extend_from_slice(&[b'A'; 5000]);
    body.extend_from_slice(b"This program cannot be run in DOS mode");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&body).unwrap();
    let gz = gz.finish().unwrap();
    let (a, b) = gz.split_at(gz.len() / 2);
    s.send(false, &frame(frame::DATA, 0, 1, a));
    s.send(false, &frame(frame::DATA, END_STREAM, 1, b));
    let tx = s.stream(1);
    assert_eq!(tx.half[1].body(), &body[..]);
    let f = &tx.files[0];
    assert_eq!(f.name, b"/dl/tool.exe");
    assert!(f.done() && !f.to_server);
    assert_eq!(f.size, body.len() as u64);
    assert_eq!(get(tx, Buf::FileName, false), [b"/dl/tool.exe"]);
    assert!(!get(tx, Buf::FileMagic, false).is_empty());
    // A body that says gzip but is not: an event, and the file is cut.
    s.headers(true, 3, END_STREAM, &[(":method", "GET"), (":path", "/x")]);
    s.headers(
        false,
        3,
        0,
        &[(":status", "200"), ("content-encoding", "gzip")],
    );
    s.send(
        false,
        &frame(frame::DATA, END_STREAM, 3, b"definitely not gzip data"),
    );
    assert_eq!(s.stream(3).events, event::FAILED_DECOMPRESSION);
}

#[test]
fn connection_frames_and_anomalies() {
    let mut s = Session::new();
    // Stream 0: each frame is a transaction; SETTINGS entries are kept.
    let global: Vec<&H2Tx> = s.st.txs.iter().filter(|t| t.stream == 0).collect();
    assert_eq!(global.len(), 2);
    assert_eq!(global[0].half[0].settings, vec![(3, 100)]);
    // :authority and host disagree; RST_STREAM with CANCEL; a WINDOW_UPDATE.
    s.headers(
        true,
        3,
        END_STREAM,
        &[
            (":method", "GET"),
            (":path", "/"),
            (":authority", "a.example:443"),
            ("host", "b.example"),
        ],
    );
    s.send(false, &frame(frame::RST_STREAM, 0, 3, &8u32.to_be_bytes()));
    s.send(
        true,
        &frame(frame::WINDOW_UPDATE, 0, 0, &65_535u32.to_be_bytes()),
    );
    s.send(true, &frame(frame::PING, 0, 0, &[1, 2, 3])); // 3 bytes: wrong length
    let tx = s.stream(3);
    assert_eq!(tx.events, event::AUTHORITY_HOST_MISMATCH);
    assert!(tx.complete());
    assert_eq!(get(tx, Buf::Http2ErrorCode, true), [8u32.to_le_bytes()]);
    let last = s.st.txs.back().unwrap();
    assert_eq!(last.events, event::INVALID_FRAME_LENGTH);
    let wu = &s.st.txs[s.st.txs.len() - 2];
    assert_eq!(get(wu, Buf::Http2Window, true), [65_535u32.to_le_bytes()]);
    // A CONTINUATION nobody started.
    s.send(true, &frame(frame::CONTINUATION, END_HEADERS, 5, b"\x82"));
    assert_eq!(s.stream(5).events, event::INVALID_FRAME_HEADER);

    // A client that does not start with the preface.
    let mut bad = H2State::default();
    let mut stats = AppStats::default();
    bad.feed(
        true,
        b"GET / HTTP/1.1\r\n\r\n",
        &AppConfig::default(),
        &mut stats,
    );
    assert_eq!(
        bad.txs[0].events & event::INVALID_CLIENT_MAGIC,
        event::INVALID_CLIENT_MAGIC
    );
}

#[test]
fn oversized_blocks_and_frames_stay_bounded() {
    let mut s = Session::new();
    s.cfg.header_limit = 1024;
    // A header block over the limit: not kept, and the direction's HPACK state is lost, so
    // the next block is not decoded either (an event each).
    let big = "x".repeat(2000);
    s.headers(true, 1, END_STREAM, &[(":method", "GET"), ("x-big", &big)]);
    s.headers(
        true,
        3,
        END_STREAM,
        &[(":method", "GET"), (":path", "/next")],
    );
    assert_eq!(s.stream(1).events, event::LONG_FRAME_DATA);
    assert_eq!(s.stream(3).events, event::INVALID_HEADER);
    assert!(s.stream(3).half[0].headers.is_empty());

    // A 3 MiB DATA frame from the server, arriving in pieces, is streamed, never buffered:
    // the client's next request on another stream still parses (a long frame must not
    // blind the sensor to what follows).
    let mut s = Session::new();
    s.headers(true, 1, END_STREAM, &[(":method", "GET"), (":path", "/")]);
    s.headers(false, 1, 0, &[(":status", "200")]);
    let len = 3u32 << 20;
    let mut hdr = len.to_be_bytes()[1..].to_vec();
    hdr.extend_from_slice(&[frame::DATA, END_STREAM, 0, 0, 0, 1]);
    s.send(false, &hdr);
    let chunk = vec![b'X'; 64 * 1024];
    for _ in 0..(len as usize / chunk.len() - 1) {
        s.send(false, &chunk);
    }
    s.headers(
        true,
        3,
        END_STREAM,
        &[(":method", "GET"), (":path", "/malware/payload.exe")],
    );
    assert_eq!(
        get(s.stream(3), Buf::HttpUri, true),
        [b"/malware/payload.exe"]
    );
    let heap = Parser::heap(&s.st);
    assert!(heap < 512 * 1024, "{heap}");
    assert_eq!(
        s.stream(1).half[1].body.len(),
        AppConfig::default().response_body_limit
    );

    // Header blocks repeated on one stream (trailers without end) stay within the limits
    // for the direction as a whole.
    let mut s = Session::new();
    s.cfg.max_headers = 40;
    for i in 0..200 {
        let name = format!("x-h{i}");
        s.headers(true, 1, 0, &[(":method", "GET"), (name.as_str(), "v")]);
    }
    let h = &s.stream(1).half[0];
    assert_eq!(h.headers.len(), 40);
    assert_ne!(s.stream(1).events & event::TOO_MANY_HEADERS, 0);

    // Streams never held past the flow's limit.
    let mut s = Session::new();
    for id in 0..500u32 {
        s.headers(true, 2 * id + 1, 0, &[(":method", "GET"), (":path", "/")]);
    }
    assert!(s.st.txs.len() <= AppConfig::default().max_txs);
    assert_ne!(s.st.txs.back().unwrap().events & event::TOO_MANY_STREAMS, 0);
}

/// A DNS query for `name`, type A.
fn dns_query(name: &str) -> Vec<u8> {
    let mut q = vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = c.len();
        let v = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=n {
            out.push(A[(v >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn dns_over_http2_get_and_post() {
    let mut s = Session::new();
    assert_eq!(Parser::refined(&s.st), None);
    let path = format!("/dns-query?dns={}", b64url(&dns_query("evil.example")));
    s.headers(
        true,
        1,
        END_STREAM,
        &[
            (":method", "GET"),
            (":path", &path),
            ("accept", "application/dns-message"),
        ],
    );
    assert_eq!(get(s.stream(1), Buf::DnsQuery, true), [b"evil.example"]);
    assert_eq!(Parser::refined(&s.st), Some(AppProto::Doh2));
    // POST: the body is the message; a body past 65,535 bytes is an event.
    s.headers(
        true,
        3,
        0,
        &[
            (":method", "POST"),
            (":path", "/dns-query"),
            ("content-type", "application/dns-message"),
        ],
    );
    s.send(
        true,
        &frame(frame::DATA, END_STREAM, 3, &dns_query("c2.example")),
    );
    assert_eq!(get(s.stream(3), Buf::DnsQuery, true), [b"c2.example"]);
    s.headers(
        true,
        5,
        0,
        &[
            (":method", "POST"),
            (":path", "/dns-query"),
            ("content-type", "application/dns-message"),
        ],
    );
    for _ in 0..5 {
        s.send(true, &frame(frame::DATA, 0, 5, &[b'A'; 16_000]));
    }
    assert_eq!(s.stream(5).events, event::DNS_REQUEST_TOO_LONG);
    assert_eq!(base64url(b"AAAB"), Some(vec![0, 0, 1]));
    assert_eq!(base64url(b"A+A"), None);
}
