//! The HTTP/1 parser alone: a client stream and a server stream (split at `|ff fe fd|`) fed in
//! pieces of a size the first byte picks, interleaved, then closed; every buffer of every
//! transaction is read. Never a panic, and memory stays within the configured limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekimori::applayer::http::HttpState;
use sekimori::applayer::{AppConfig, AppStats, Buf, TxRef};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let rest = rest.get(1..).unwrap_or(&[]);
    let split = rest.windows(3).position(|w| w == [0xff, 0xfe, 0xfd]);
    let (client, server) = match split {
        Some(i) => (&rest[..i], &rest[i + 3..]),
        None => (rest, &[][..]),
    };
    let piece = usize::from(sel % 64) + 1;
    let cfg = AppConfig {
        header_limit: 2048,
        request_body_limit: 4096,
        response_body_limit: 4096,
        max_txs: 8,
        max_headers: usize::from(sel % 32) + 1,
        memcap: 1 << 20,
        ..AppConfig::default()
    };
    let mut st = AppStats::default();
    let mut h = HttpState::default();
    let mut c = client.chunks(piece);
    let mut s = server.chunks(piece);
    loop {
        let (a, b) = (c.next(), s.next());
        if a.is_none() && b.is_none() {
            break;
        }
        if let Some(a) = a {
            h.feed(true, a, &cfg, &mut st);
        }
        if let Some(b) = b {
            h.feed(false, b, &cfg, &mut st);
        }
        // Parser memory stays bounded by the limits whatever the input.
        assert!(h.heap() < 8 * (64 << 10) + 4 * cfg.header_limit);
        for tx in &h.txs {
            assert!(tx.request.line.len() <= cfg.header_limit);
            assert!(tx.request.headers.len() <= cfg.max_headers);
            let mut n = 0;
            for b in [
                Buf::HttpUri,
                Buf::HttpHeader,
                Buf::FileData,
                Buf::HttpRequestHeader,
                Buf::HttpStatCode,
            ] {
                (tx as TxRef<'_>).each(b, sel & 1 == 0, &mut |x| {
                    n += x.len();
                    false
                });
            }
        }
        assert!(h.txs.len() <= cfg.max_txs);
        if sel & 2 != 0 {
            h.gc();
        }
    }
    h.close(true, &cfg, &mut st);
    h.close(false, &cfg, &mut st);
});
