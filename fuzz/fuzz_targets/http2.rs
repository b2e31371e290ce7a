//! The HTTP/2 parser alone, driven through a framed session script (every byte value, any
//! split and direction): frames, HPACK blocks and DoH bodies are read, every buffer and EVE
//! object is produced, and the parser's memory stays bounded. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekimori::applayer::{http2, AppConfig};
use sekimori::testgen::drive::exercise_framed;

fuzz_target!(|data: &[u8]| {
    let cfg = AppConfig::default();
    let heap = exercise_framed(&http2::PROTOCOL, data, &cfg);
    assert!(heap < 64 << 20, "parser holds {heap} bytes");
});
