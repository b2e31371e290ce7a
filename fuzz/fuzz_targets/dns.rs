//! The DNS parser alone: the input as one UDP message, and as a TCP stream (length-prefixed
//! messages) fed in pieces of a size the first byte picks; every buffer is read. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekimori::applayer::dns::{probe_tcp, DnsMessage, DnsTcp};
use sekimori::applayer::{AppStats, Buf, TxRef};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let rest = rest.get(1..).unwrap_or(&[]);
    let read = |m: &DnsMessage| {
        for b in [Buf::DnsQuery, Buf::DnsQueriesRrname, Buf::DnsAnswersRrname] {
            TxRef::Dns(m).each(b, true, &mut |x| x.is_empty());
        }
    };
    let mut m = DnsMessage::default();
    if m.parse(rest).is_ok() {
        read(&m);
    }
    let _ = probe_tcp(rest);
    let piece = usize::from(sel % 64) + 1;
    let mut st = AppStats::default();
    let mut d = DnsTcp::default();
    for c in rest.chunks(piece) {
        d.feed(sel & 1 == 0, c, &mut st);
    }
    for (_, m) in &d.done {
        read(m);
    }
});
