//! The Kerberos parser alone, over TCP (length-prefixed records) and over UDP (each piece a
//! datagram), driven through a framed session script: every buffer and EVE object is read,
//! and the parser's memory stays bounded. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekimori::applayer::{krb5, AppConfig};
use sekimori::testgen::drive::{exercise_datagrams, exercise_framed};

fuzz_target!(|data: &[u8]| {
    let cfg = AppConfig::default();
    let heap = exercise_framed(&krb5::PROTOCOL, data, &cfg);
    assert!(heap < 64 << 20, "parser holds {heap} bytes over TCP");
    let heap = exercise_datagrams(&krb5::PROTOCOL, data, &cfg);
    assert!(heap < 64 << 20, "parser holds {heap} bytes over UDP");
});
