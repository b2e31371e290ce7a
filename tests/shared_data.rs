//! Tests on the reference data in ../shared (conformance cases, the ET Open pack, the corpus).
//! Each skips with a message when ../shared is absent. Run them with `cargo test --release`:
//! they replay hundreds of thousands of packets.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// Conformance cases that must keep passing; raise it as the engine grows.
const CONFORMANCE_FLOOR: usize = 121;

#[test]
fn conformance_does_not_regress() {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared is absent (a plain clone has no conformance cases)");
        return;
    };
    let out = Command::new("python3")
        .arg(shared.join("conformance/run"))
        .args([
            "--sensor",
            bin().to_str().unwrap(),
            "--min-pass",
            &CONFORMANCE_FLOOR.to_string(),
        ])
        .output()
        .expect("run the conformance runner");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    eprintln!("conformance: {last}");
    assert!(
        out.status.success(),
        "fewer than {CONFORMANCE_FLOOR} cases pass: {last}\n{stdout}"
    );
    // A crash or a timeout is never acceptable, whatever the case needs.
    for line in stdout.lines().filter(|l| l.starts_with("FAIL")) {
        assert!(
            !line.contains("timed out") && !line.contains("exit 101") && !line.contains("signal"),
            "{line}"
        );
    }
}

#[test]
fn et_open_pack_parses_completely() {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared is absent (no ET Open pack)");
        return;
    };
    let pack = shared.join("signatures/et-open");
    let out = run(&["rules", "check", pack.to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> usize {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no '{name}' in {stdout}"));
        line[name.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(field("rules: "), 14_949);
    assert_eq!(field("failed to parse: "), 0, "{stdout}");
    // Every rule compiles with full semantics and runs: none waits for a parser.
    assert_eq!(field("loaded: "), 14_949, "{stdout}");
    assert_eq!(field("not supported yet: "), 0, "{stdout}");
    assert_eq!(field("  running now: "), 14_949, "{stdout}");
}

/// The corpus replayed once per test run (every event type on, the bundled tuning applied),
/// shared by the tests that read its EVE.
struct CorpusRun {
    dir: tempfile::TempDir,
}

static CORPUS: OnceLock<CorpusRun> = OnceLock::new();

fn corpus_run(shared: &Path) -> &'static CorpusRun {
    CORPUS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        // Every event type on: alerts, flows, anomalies and the app-layer transaction events.
        let config = dir.path().join("all-events.toml");
        std::fs::write(
            &config,
            "[output]\nflow = true\nanomaly = true\nhttp = true\ntls = true\ndns = true\n\
             smtp = true\nftp = true\nftp_data = true\nssh = true\nsmb = true\n\
             dcerpc = true\nkrb5 = true\nfileinfo = true\n",
        )
        .unwrap();
        for folder in ["benign", "malicious", "evasion"] {
            let eve = dir.path().join(format!("{folder}.json"));
            let out = run(&[
                "replay",
                "--config",
                config.to_str().unwrap(),
                "--rules",
                shared.join("signatures/et-open").to_str().unwrap(),
                "--rules",
                "signatures",
                "--tuning",
                "signatures/tuning.toml",
                "--eve",
                eve.to_str().unwrap(),
                shared.join("corpus").join(folder).to_str().unwrap(),
            ]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let summary: Vec<&str> = stderr
                .lines()
                .filter(|l| !l.contains("rule not loaded"))
                .collect();
            eprintln!("{folder}:\n{}", summary.join("\n"));
            // Exit 2 means some files could not be opened (each reported); a panic is 101.
            assert!(
                matches!(out.status.code(), Some(0) | Some(2)),
                "{folder}: {:?}\n{}",
                out.status,
                summary.join("\n")
            );
            assert!(!stderr.contains("panicked"), "{folder}");
        }
        CorpusRun { dir }
    })
}

#[test]
fn corpus_replays_without_crash_and_eve_validates() {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared is absent (no corpus)");
        return;
    };
    let validator = eve_validator().expect("schema present with ../shared");
    let corpus = corpus_run(&shared);
    for folder in ["benign", "malicious", "evasion"] {
        let events = read_eve(&corpus.dir.path().join(format!("{folder}.json")));
        assert_valid_eve(&validator, &events);
        if folder != "evasion" {
            // The corpus has web, TLS, DNS, mail, FTP (with transfers), SSH, SMB, DCERPC and
            // Kerberos traffic: each parser must have produced events, and the files they
            // carried `fileinfo`.
            let kinds = [
                "http", "tls", "dns", "smtp", "ftp", "ftp_data", "ssh", "smb", "dcerpc", "krb5",
                "fileinfo", "alert", "flow",
            ];
            for kind in kinds {
                let n = events.iter().filter(|e| e["event_type"] == kind).count();
                eprintln!("{folder}: {n} {kind} events");
                assert!(n > 0, "{folder}: no {kind} events");
            }
            // Tuned: every alert says why it has its severity.
            assert!(events
                .iter()
                .filter(|e| e["event_type"] == "alert")
                .all(|e| e["sekimori"]["tuning"]["vendor_severity"].is_u64()));
        }
    }
}

/// Issue 7's measure: a tuning written by `tune report` from the benign corpus alone must cut
/// benign escalations at least 100-fold and keep at least 95% of the malicious corpus's
/// escalated flows Serious or Critical.
#[test]
fn baseline_tuning_cuts_benign_escalations_and_keeps_malicious_ones() {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared is absent (no corpus)");
        return;
    };
    let corpus = corpus_run(&shared);
    let dir = corpus.dir.path();
    let benign = dir.join("benign.json");
    let tuning = dir.join("baseline-tuning.toml");
    let out = run(&[
        "tune",
        "report",
        "--baseline",
        "--write",
        tuning.to_str().unwrap(),
        benign.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let diff = |eve: &str| -> String {
        let out = run(&[
            "tune",
            "diff",
            "--tuning",
            "vendor",
            "--tuning",
            tuning.to_str().unwrap(),
            dir.join(eve).to_str().unwrap(),
        ]);
        assert!(out.status.success());
        let s = String::from_utf8_lossy(&out.stdout).to_string();
        eprintln!("{eve}:\n{s}");
        s
    };
    let numbers = |text: &str, prefix: &str| -> Vec<u64> {
        let line = text.lines().find(|l| l.starts_with(prefix)).unwrap();
        line[prefix.len()..]
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect()
    };
    let b = diff("benign.json");
    let esc = numbers(&b, "escalations (Serious+Critical):");
    let (before, after) = (esc[0], esc[1]);
    assert!(before > 0, "{b}");
    assert!(after == 0 || before / after >= 100, "{before} -> {after}");
    let m = diff("malicious.json");
    let flows = numbers(&m, "alerting flows:");
    let (escalated, kept) = (flows[1], flows[2]);
    assert!(escalated > 1000, "{m}");
    assert!(
        kept * 100 >= escalated * 95,
        "{kept} of {escalated} escalated flows kept"
    );
}
