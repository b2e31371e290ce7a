//! The IKE parser alone, each piece of a framed script one datagram: every buffer and EVE
//! object is read, and the parser's memory stays bounded. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekimori::applayer::{ike, AppConfig};
use sekimori::testgen::drive::exercise_datagrams;

fuzz_target!(|data: &[u8]| {
    let cfg = AppConfig::default();
    let heap = exercise_datagrams(&ike::PROTOCOL, data, &cfg);
    assert!(heap < 1 << 20, "parser holds {heap} bytes");
});
