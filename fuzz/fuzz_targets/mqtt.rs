//! The MQTT parser alone, driven through a framed session script (every byte value can be
//! sent, in any split and direction): every buffer and EVE object is read, and the parser's
//! memory stays bounded. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekimori::applayer::{mqtt, AppConfig};
use sekimori::testgen::drive::exercise_framed;

fuzz_target!(|data: &[u8]| {
    let cfg = AppConfig::default();
    let heap = exercise_framed(&mqtt::PROTOCOL, data, &cfg);
    assert!(heap < 64 << 20, "parser holds {heap} bytes");
});
