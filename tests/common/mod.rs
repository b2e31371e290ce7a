//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `sekimori` binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sekimori"))
}

/// Runs sekimori with `args` from the project root.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(root())
        .output()
        .expect("run sekimori")
}

/// Parses an EVE file into JSON values.
pub fn read_eve(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Signature ids of the alert events, sorted.
pub fn alert_sids(events: &[serde_json::Value]) -> Vec<u64> {
    let mut v: Vec<u64> = events
        .iter()
        .filter(|e| e["event_type"] == "alert")
        .map(|e| e["alert"]["signature_id"].as_u64().unwrap())
        .collect();
    v.sort_unstable();
    v
}

/// `../shared`, when present.
pub fn shared() -> Option<PathBuf> {
    let p = root().join("../shared");
    p.join("README.md").exists().then_some(p)
}

/// The Suricata EVE schema validator, when ../shared is present.
pub fn eve_validator() -> Option<jsonschema::Validator> {
    let schema_path = shared()?.join("eve/schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).ok()?).ok()?;
    Some(jsonschema::validator_for(&schema).expect("schema compiles"))
}

/// sekimori's own schema for its EVE extensions (in the repository: no ../shared needed).
pub fn sekimori_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schema/sekimori-eve.schema.json"))
        .expect("schema/sekimori-eve.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

/// Asserts every event validates against sekimori's extension schema, then (apart from the
/// extensions: the `sekimori` object and `incident` events) against Suricata's EVE schema.
pub fn assert_valid_eve(v: &jsonschema::Validator, events: &[serde_json::Value]) {
    let ours = sekimori_validator();
    for e in events {
        check_schema(&ours, e);
        if e["event_type"] == "incident" {
            continue;
        }
        let mut e = e.clone();
        if let Some(o) = e.as_object_mut() {
            o.remove("sekimori");
        }
        check_schema(v, &e);
    }
}

pub fn check_schema(v: &jsonschema::Validator, e: &serde_json::Value) {
    let errors: Vec<String> = v
        .iter_errors(e)
        .map(|err| format!("{} at {}", err, err.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "EVE line fails the schema: {errors:?}\n{e}"
    );
}

/// Writes `frames` to a pcap and `rules` to a rules file in a temporary directory, replays
/// them and returns the run's output and EVE events.
pub fn replay_frames(
    rules: &str,
    frames: &[sekimori::testgen::synth::Frame],
) -> (Output, Vec<serde_json::Value>) {
    replay_frames_with(rules, frames, &[])
}

/// [`replay_frames`] with extra command-line arguments.
pub fn replay_frames_with(
    rules: &str,
    frames: &[sekimori::testgen::synth::Frame],
    extra: &[&str],
) -> (Output, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("t.pcap");
    let rfile = dir.path().join("t.rules");
    let eve = dir.path().join("eve.json");
    sekimori::testgen::synth::write_pcap(&pcap, frames).unwrap();
    std::fs::write(&rfile, rules).unwrap();
    let out = run(&[
        "replay",
        "--rules",
        rfile.to_str().unwrap(),
        "--eve",
        eve.to_str().unwrap(),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .chain([pcap.to_str().unwrap()])
    .collect::<Vec<_>>());
    let events = read_eve(&eve);
    (out, events)
}

/// A TCP session from 10.0.0.1:40000 to 10.0.0.2:80 (handshake, what `f` sends, FIN close).
#[allow(dead_code)]
pub fn http_port_session(
    f: impl FnOnce(&mut sekimori::testgen::synth::TcpSession),
) -> Vec<sekimori::testgen::synth::Frame> {
    let mut s = sekimori::testgen::synth::TcpSession::open(
        (std::net::Ipv4Addr::new(10, 0, 0, 1), 40_000),
        (std::net::Ipv4Addr::new(10, 0, 0, 2), 80),
        1_000_000,
    );
    f(&mut s);
    s.close()
}

/// The alert events of a replay of `frames` with `rules` (the replay must succeed).
#[allow(dead_code)]
pub fn replay_alerts(
    rules: &str,
    frames: &[sekimori::testgen::synth::Frame],
    extra: &[&str],
) -> Vec<serde_json::Value> {
    let (out, events) = replay_frames_with(rules, frames, extra);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    events
        .into_iter()
        .filter(|e| e["event_type"] == "alert")
        .collect()
}

/// Replays `frames` with the `[output]` switches named in `outputs` (e.g. `["smb", "fileinfo"]`)
/// turned on; checks the run succeeded, every rule loaded and the EVE validates (when the
/// schema is there). Returns stderr and all events.
#[allow(dead_code)]
pub fn replay_with_outputs(
    rules: &str,
    frames: &[sekimori::testgen::synth::Frame],
    outputs: &[&str],
) -> (String, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let mut text = String::from("[output]\n");
    for o in outputs {
        text.push_str(&format!("{o} = true\n"));
    }
    std::fs::write(&cfg, text).unwrap();
    let (out, events) = replay_frames_with(rules, frames, &["--config", cfg.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("not loaded"), "{stderr}");
    if let Some(v) = eve_validator() {
        assert_valid_eve(&v, &events);
    }
    (stderr, events)
}

/// The events of one `event_type`.
#[allow(dead_code)]
pub fn of_type<'a>(events: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event_type"] == t).collect()
}

/// A TLS 1.2 ServerHello record choosing ECDHE-RSA-AES128-GCM, with renegotiation_info.
pub fn tls_server_hello() -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend((0..32u8).map(|i| i.wrapping_mul(11)));
    body.push(0);
    body.extend_from_slice(&[0xc0, 0x2f, 0]);
    let ext = [0xff, 0x01, 0, 1, 0];
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    sekimori::testgen::synth::tls_handshake(2, 3, &body)
}

/// An FTP control session and its data connection, interleaved in time: once the data is
/// through, the server says `reply` (the transfer's end) and the client QUIT.
pub fn ftp_finish(
    mut ctl: sekimori::testgen::synth::TcpSession,
    data: sekimori::testgen::synth::TcpSession,
    reply: &[u8],
) -> Vec<sekimori::testgen::synth::Frame> {
    ctl.advance(data.now() - ctl.now() + 1_000);
    ctl.send(false, reply).send(true, b"QUIT\r\n");
    let mut frames = ctl.close();
    frames.extend(data.close());
    frames.sort_by_key(|(ts, _)| *ts);
    frames
}
