//! The TLS record/handshake parser alone (ClientHello, ServerHello, certificates in DER): a
//! client and a server stream (split at `|ff fe fd|`) fed in pieces of a size the first byte
//! picks; every buffer is read. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekimori::applayer::tls::{parse_cert, TlsSession};
use sekimori::applayer::{AppStats, Buf, TxRef};

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
    let mut st = AppStats::default();
    let mut t = TlsSession::default();
    for c in client.chunks(piece) {
        t.feed(true, c, &mut st);
    }
    for s in server.chunks(piece) {
        t.feed(false, s, &mut st);
    }
    for b in [
        Buf::TlsSni,
        Buf::TlsCertSubject,
        Buf::TlsCertIssuer,
        Buf::TlsCertSerial,
        Buf::TlsCertFingerprint,
        Buf::TlsCerts,
        Buf::Ja3Hash,
        Buf::Ja3sString,
        Buf::Ja4Hash,
    ] {
        (&t as TxRef<'_>).each(b, true, &mut |x| x.is_empty());
    }
    // The certificate parser on raw input too.
    let _ = parse_cert(rest);
});
