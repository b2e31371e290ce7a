//! The DCERPC parser alone, over TCP and over UDP (each piece a datagram), driven through a
//! framed session script (each piece's direction and length in a header byte, so every byte
//! value reaches the parser): every buffer, EVE object and file is read, and the parser's
//! memory stays bounded. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekimori::applayer::{dcerpc, AppConfig};
use sekimori::testgen::drive::{exercise_datagrams, exercise_framed};

fuzz_target!(|data: &[u8]| {
    let cfg = AppConfig::default();
    let heap = exercise_framed(&dcerpc::PROTOCOL, data, &cfg);
    assert!(heap < 64 << 20, "parser holds {heap} bytes over TCP");
    let heap = exercise_datagrams(&dcerpc::PROTOCOL, data, &cfg);
    assert!(heap < 64 << 20, "parser holds {heap} bytes over UDP");
});
