//! Tuning files and threshold.config lines: arbitrary text must load or be refused with an
//! error, never panic; a loaded tuning then decides alerts for arbitrary addresses.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use sekimori::detect::rules::Vars;
use sekimori::tune::file::parse_threshold_line;
use sekimori::tune::{AlertFacts, SigInfo, Tuner};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        let _ = parse_threshold_line(line);
    }
    let meta = vec![
        ("signature_severity".to_string(), "Major".to_string()),
        ("cve".to_string(), "CVE_2021_44228".to_string()),
        ("attack_target".to_string(), "Server".to_string()),
    ];
    let sigs = [
        SigInfo {
            gid: 1,
            sid: 1,
            msg: "ET MALWARE one",
            classtype: Some("trojan-activity"),
            priority: 1,
            metadata: &meta,
        },
        SigInfo {
            gid: 1,
            sid: 2,
            msg: "ET POLICY two",
            classtype: Some("policy-violation"),
            priority: 2,
            metadata: &[],
        },
        SigInfo {
            gid: 3,
            sid: 2,
            msg: "other",
            classtype: None,
            priority: 9,
            metadata: &[],
        },
    ];
    let files = [(PathBuf::from("f.toml"), text.to_string())];
    if let Ok(t) = Tuner::from_texts(&files, &sigs, &Vars::suricata_defaults()) {
        for (i, b) in data.iter().take(8).enumerate() {
            let ip = std::net::IpAddr::from([10, *b, i as u8, 1]);
            let f = AlertFacts {
                src: ip,
                dst: "198.51.100.7".parse().unwrap(),
                target: ip,
                target_port: Some(u16::from(*b)),
            };
            for idx in 0..4 {
                let _ = t.decide(idx, &f);
                let _ = t.threshold(idx);
            }
        }
    }
});
