//! App-layer parsers on arbitrary streams: the input is a client stream and a server stream
//! (split at the first `|ff fe fd|`), fed in alternating pieces whose size the first byte
//! picks, through protocol probing, then straight into one registered parser (the second byte
//! picks which, and TCP or datagram framing); every buffer is then read. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekimori::applayer::{AppConfig, AppLayer, AppStats, Buf, ParseCtx, TxRef, PROTOCOLS};

const ALL: &[Buf] = &[
    Buf::HttpMethod,
    Buf::HttpUri,
    Buf::HttpUriRaw,
    Buf::HttpProtocol,
    Buf::HttpRequestLine,
    Buf::HttpHeader,
    Buf::HttpHeaderRaw,
    Buf::HttpHeaderNames,
    Buf::HttpHost,
    Buf::HttpHostRaw,
    Buf::HttpUserAgent,
    Buf::HttpCookie,
    Buf::HttpContentType,
    Buf::HttpContentLen,
    Buf::HttpStart,
    Buf::HttpRequestBody,
    Buf::HttpStatCode,
    Buf::HttpStatMsg,
    Buf::HttpResponseLine,
    Buf::HttpResponseBody,
    Buf::HttpServer,
    Buf::HttpLocation,
    Buf::HttpRequestHeader,
    Buf::HttpResponseHeader,
    Buf::FileData,
    Buf::TlsSni,
    Buf::TlsCertSubject,
    Buf::TlsCertIssuer,
    Buf::TlsCertSerial,
    Buf::TlsCertFingerprint,
    Buf::TlsCerts,
    Buf::Ja3Hash,
    Buf::Ja3String,
    Buf::Ja3sHash,
    Buf::Ja4Hash,
    Buf::DnsQuery,
    Buf::DnsQueriesRrname,
    Buf::DnsAnswersRrname,
];

fn read_all(tx: TxRef<'_>) {
    for &b in ALL {
        for dir in [true, false] {
            tx.each(b, dir, &mut |s| s.is_empty());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Some((&which, rest)) = rest.split_first() else {
        return;
    };
    let split = rest.windows(3).position(|w| w == [0xff, 0xfe, 0xfd]);
    let (client, server) = match split {
        Some(i) => (&rest[..i], &rest[i + 3..]),
        None => (rest, &[][..]),
    };
    let piece = usize::from(sel % 64) + 1;
    let cfg = AppConfig {
        header_limit: 4096,
        request_body_limit: 8192,
        response_body_limit: 8192,
        max_txs: 8,
        max_headers: 16,
        memcap: 1 << 20,
        ..AppConfig::default()
    };
    let mut st = AppStats::default();
    // Through probing, as a flow sees it (window = everything so far).
    let mut app = AppLayer::default();
    let (mut c_end, mut s_end) = (0, 0);
    while c_end < client.len() || s_end < server.len() {
        c_end = (c_end + piece).min(client.len());
        // Past 64 KiB of parser state the memcap path (nothing parsed) runs too.
        let over = app.heap() > 64 * 1024;
        app.on_stream(0, &client[..c_end], 0, &cfg, over, &mut st);
        s_end = (s_end + piece).min(server.len());
        app.on_stream(1, &server[..s_end], 0, &cfg, over, &mut st);
    }
    app.on_close(0, &cfg, &mut st);
    app.on_close(1, &cfg, &mut st);
    // Directly into one parser, through the registry: every protocol, over TCP framing and
    // as datagrams; every buffer of every transaction is read and its EVE object written.
    let proto = PROTOCOLS[usize::from(which) % PROTOCOLS.len()];
    let mut parser = (proto.new_parser)(which & 0x80 == 0);
    let mut cx = ParseCtx {
        cfg: &cfg,
        stats: &mut st,
    };
    for (c, s) in client
        .chunks(piece)
        .zip(server.chunks(piece).chain(std::iter::repeat(&[][..])))
    {
        parser.feed(true, c, &mut cx);
        parser.feed(false, s, &mut cx);
    }
    parser.close(true, &mut cx);
    parser.close(false, &mut cx);
    let mut eve = Vec::new();
    for slot in 0..parser.tx_count() {
        if let Some((tx, _)) = parser.tx(slot) {
            read_all(tx);
            tx.write_eve(&mut eve);
        }
    }
    parser.gc();
    let _ = parser.heap();
});
