//! The DNS parser alone: the input as one UDP message, and as a TCP stream (length-prefixed
//! messages) fed in pieces of a size the first byte picks; every buffer is read and every
//! message's EVE object written. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekimori::applayer::dns::{self, probe_tcp, probe_udp};
use sekimori::applayer::{AppConfig, AppStats, Buf, ParseCtx, Parser};

fn read(parser: &dyn Parser) {
    let mut eve = Vec::new();
    for slot in 0..parser.tx_count() {
        let Some((tx, _)) = parser.tx(slot) else {
            continue;
        };
        for b in [Buf::DnsQuery, Buf::DnsQueriesRrname, Buf::DnsAnswersRrname] {
            tx.each(b, true, &mut |x| x.is_empty());
        }
        tx.write_eve(&mut eve);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let rest = rest.get(1..).unwrap_or(&[]);
    let cfg = AppConfig::default();
    let mut st = AppStats::default();
    let mut cx = ParseCtx {
        cfg: &cfg,
        stats: &mut st,
    };
    let _ = probe_udp(rest);
    let mut udp = (dns::PROTOCOL.new_parser)(false);
    udp.feed(true, rest, &mut cx);
    read(&*udp);
    let _ = probe_tcp(rest);
    let piece = usize::from(sel % 64) + 1;
    let mut tcp = (dns::PROTOCOL.new_parser)(true);
    for c in rest.chunks(piece) {
        tcp.feed(sel & 1 == 0, c, &mut cx);
    }
    read(&*tcp);
});
