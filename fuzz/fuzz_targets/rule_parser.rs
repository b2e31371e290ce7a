//! Rule parser: any text must parse or fail with an error, never panic; whatever parses must
//! survive the engine's compilation checks on its inspection chain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekimori::detect::rules::{parse::parse_rule, Vars};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let vars = Vars::suricata_defaults();
    if let Ok(rule) = parse_rule(text, &vars) {
        // Contents must be usable as prefilter input.
        for (_, c) in rule.contents() {
            let _ = c.mpm_bytes();
        }
    }
});
