//! Packet path: arbitrary frames (first byte picks the link type) through decode, flow
//! tracking, detection with a small fixed rule set, and EVE rendering; never a panic.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use sekimori::decode::LinkType;
use sekimori::flow::FlowConfig;
use sekimori::output::{Backpressure, EveTarget, EveWriter};
use sekimori::runtime::worker::{Worker, WorkerConfig};

const RULES: &[&str] = &[
    r#"alert tcp any any -> any any (msg:"a"; flow:established; content:"GET"; pcre:"/^GET\s+\S+/"; sid:1;)"#,
    r#"alert udp any any -> any 53 (msg:"b"; content:"|01 00|"; offset:2; depth:2; byte_test:1,>,0,4; sid:2;)"#,
    r#"alert ip any any -> any any (msg:"c"; content:"x"; byte_jump:2,0,relative; isdataat:1,relative; sid:3;)"#,
    r#"alert icmp any any -> any any (msg:"d"; itype:8; dsize:>4; sid:4;)"#,
    r#"alert tcp any any -> any any (msg:"e"; flowbits:set,s; flowbits:noalert; content:"login"; sid:5;)"#,
    r#"alert tcp any any -> any any (msg:"f"; flowbits:isset,s; byte_extract:1,0,n; content:"y"; distance:n; sid:6;)"#,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let link = match sel % 6 {
        0 => LinkType::Ethernet,
        1 => LinkType::Raw,
        2 => LinkType::LinuxSll,
        3 => LinkType::LinuxSll2,
        4 => LinkType::Null,
        _ => LinkType::Loop,
    };
    let (writer, sender) =
        EveWriter::start(&EveTarget::File("/dev/null".into()), Backpressure::Block).unwrap();
    let cfg = WorkerConfig {
        flow: FlowConfig {
            midstream: sel & 0x80 != 0,
            ..FlowConfig::default()
        },
        ips: sel & 0x40 != 0,
        flow_events: true,
        anomaly_events: true,
        app_events: [true; sekimori::applayer::PROTOCOL_COUNT],
        fileinfo_events: true,
        ..WorkerConfig::default()
    };
    let mut w = Worker::new(0, common::engine(RULES), Default::default(), sender, cfg).unwrap();
    // The same frame twice: the second sees the flow the first created.
    w.process(link, 1, 1, frame);
    w.process(link, 2, 2, frame);
    drop(w.finish());
    writer.finish().unwrap();
});
