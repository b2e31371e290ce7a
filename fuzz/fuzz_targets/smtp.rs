//! The SMTP parser alone, driven through a session script (directions, piece sizes and
//! piece ends chosen by the input): every buffer, EVE object and file is read, and the
//! parser's memory stays bounded. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekimori::applayer::{smtp, AppConfig};
use sekimori::testgen::drive::exercise;

fuzz_target!(|data: &[u8]| {
    let cfg = AppConfig::default();
    let heap = exercise(&smtp::PROTOCOL, data, &cfg);
    assert!(heap < 64 << 20, "parser holds {heap} bytes");
});
