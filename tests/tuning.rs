//! SOC tuning end to end: the bundled pack and pcaps with signatures/tuning.toml, suppression
//! and thresholds from the command line, and the `tune report` / `tune diff` loop.

mod common;

use common::*;
use serde_json::Value;

fn replay(extra: &[&str]) -> (std::process::Output, Vec<Value>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let eve = dir.path().join("eve.json");
    let mut args = vec![
        "replay",
        "--rules",
        "signatures",
        "--eve",
        eve.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    let events = read_eve(&eve);
    (out, events, dir)
}

fn by_sid(events: &[Value], sid: u64) -> &Value {
    events
        .iter()
        .find(|e| e["alert"]["signature_id"] == sid)
        .unwrap_or_else(|| panic!("no alert for {sid}"))
}

#[test]
fn bundled_tuning_sets_severity_and_says_why() {
    let (out, events, _d) = replay(&["--tuning", "signatures/tuning.toml", "pcaps"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("tuning: 1 files, 2 overrides, 1 suppressions, 1 thresholds, 3 assets"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "tuned severity: 6 Critical, 0 Serious, 0 Medium, 1 Informational; 0 suppressed"
        ),
        "{stderr}"
    );
    // Hunting rule lowered by its override, vendor value kept beside it.
    let e = by_sid(&events, 9000006);
    assert_eq!(e["alert"]["severity"], 4);
    let t = &e["sekimori"]["tuning"];
    assert_eq!(t["severity"], "Informational");
    assert_eq!(t["vendor_severity"], 2);
    assert_eq!(t["tuned_by"], "signatures/tuning.toml:38");
    assert!(t["reason"].as_str().unwrap().starts_with("hunting rule"));
    // Log4Shell against the vulnerable, high-criticality DMZ server.
    let t = &by_sid(&events, 9000003)["sekimori"]["tuning"];
    assert_eq!(
        (t["type"].as_u64(), t["asset"].as_str()),
        (Some(100), Some("web-dmz"))
    );
    assert_eq!(
        t["adjustments"],
        serde_json::json!([
            "+1 asset vulnerable to CVE-2021-44228",
            "+1 asset criticality"
        ])
    );
    // The miner is on a workstation: raised to Critical, type malware.
    let e = by_sid(&events, 9000005);
    assert_eq!(e["alert"]["severity"], 1);
    assert_eq!(e["sekimori"]["tuning"]["type"], 300);
    // `target:src_ip`: the asset is the web server that answered as root.
    let t = &by_sid(&events, 9000001)["sekimori"]["tuning"];
    assert_eq!(t["asset"], "web-dmz");
    assert_eq!(t["basis"], "vendor priority");
    assert_eq!(
        t["adjustments"],
        serde_json::json!(["+1 asset criticality"])
    );
}

#[test]
fn without_tuning_alerts_keep_vendor_severity_and_no_extension() {
    let (_, events, _d) = replay(&["pcaps"]);
    assert_eq!(events.len(), 7);
    assert!(events.iter().all(|e| e.get("sekimori").is_none()));
    assert_eq!(by_sid(&events, 9000006)["alert"]["severity"], 2);
}

#[test]
fn suppression_and_threshold_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let tuning = dir.path().join("t.toml");
    let tc = dir.path().join("threshold.config");
    std::fs::write(
        &tc,
        "suppress gen_id 1, sig_id 9000002, track by_src, ip 203.0.113.0/24\n",
    )
    .unwrap();
    std::fs::write(
        &tuning,
        "threshold_config = [\"threshold.config\"]\n[[suppress]]\nsid = 9000007\n",
    )
    .unwrap();
    let (out, events, _d) = replay(&["--tuning", tuning.to_str().unwrap(), "pcaps"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        alert_sids(&events),
        vec![9000001, 9000003, 9000004, 9000005, 9000006]
    );
    assert!(stderr.contains("; 2 suppressed"), "{stderr}");
    // The same attack from another source is not suppressed.
    std::fs::write(
        &tc,
        "suppress gen_id 1, sig_id 9000002, track by_src, ip 198.51.100.0/24\n",
    )
    .unwrap();
    let (_, events, _d) = replay(&["--tuning", tuning.to_str().unwrap(), "pcaps"]);
    assert!(alert_sids(&events).contains(&9000002));
}

#[test]
fn tuning_threshold_replaces_the_rules_own() {
    // Ten datagrams: the rule alone alerts on each; the tuning limits it to 2 per source.
    let rule = "alert udp any any -> any any (msg:\"ping\"; content:\"ping\"; sid:1; rev:1;)";
    let frames: Vec<_> = (0..10i64)
        .map(|i| {
            (
                1_700_000_000_000_000 + i * 1000,
                sekimori::testgen::synth::udp_frame(
                    ("10.0.0.1".parse().unwrap(), 4000 + i as u16),
                    ("10.0.0.2".parse().unwrap(), 9),
                    b"ping",
                ),
            )
        })
        .collect();
    let (_, events) = replay_frames(rule, &frames);
    assert_eq!(alert_sids(&events).len(), 10);
    let dir = tempfile::tempdir().unwrap();
    let tuning = dir.path().join("t.toml");
    std::fs::write(
        &tuning,
        "[[threshold]]\nsid = 1\ntype = \"limit\"\ntrack = \"by_src\"\ncount = 2\nseconds = 60\n",
    )
    .unwrap();
    let (out, events) = replay_frames_with(rule, &frames, &["--tuning", tuning.to_str().unwrap()]);
    assert_eq!(alert_sids(&events).len(), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("alerts: 2"));
}

#[test]
fn broken_tuning_is_an_error_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let tuning = dir.path().join("t.toml");
    std::fs::write(
        &tuning,
        "[[override]]\nsid = 9000006\nseverity = \"Medium\"\n\n[[override]]\nsid = 9000006\nseverity = \"Serious\"\n",
    )
    .unwrap();
    let (out, _, _d) = replay(&["--tuning", tuning.to_str().unwrap(), "pcaps"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("t.toml:1 and") && stderr.contains("t.toml:5 tie on sid 1:9000006"),
        "{stderr}"
    );
    let (out, _, _d) = replay(&["--tuning", "/nonexistent/t.toml", "pcaps"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn report_then_diff_closes_the_loop() {
    let (_, _, d) = replay(&["pcaps"]);
    let eve = d.path().join("eve.json");
    let suggested = d.path().join("suggested.toml");
    let out = run(&[
        "tune",
        "report",
        "--baseline",
        "--write",
        suggested.to_str().unwrap(),
        eve.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("likely noise: 7"), "{stdout}");
    let text = std::fs::read_to_string(&suggested).unwrap();
    assert_eq!(text.matches("[[override]]").count(), 7, "{text}");
    assert!(
        text.contains("# fired on known-clean baseline traffic: 1 hit ("),
        "{text}"
    );
    // Vendor vs the suggestion, straight from the captures.
    let out = run(&[
        "tune",
        "diff",
        "--rules",
        "signatures",
        "--tuning",
        "vendor",
        "--tuning",
        suggested.to_str().unwrap(),
        "pcaps",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("escalations (Serious+Critical): 7 -> 0"),
        "{stdout}"
    );
    assert!(stdout.contains("signatures that change: 7"), "{stdout}");
    // Without the baseline flag, the rare targeted malware detections are flagged high value.
    let out = run(&["tune", "report", eve.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("likely noise: 0; likely high value: 5"),
        "{stdout}"
    );
}
