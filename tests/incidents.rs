//! Incidents end to end: the sensor groups the bundled captures' alerts, `sekimori incidents`
//! regroups an EVE file the same way, the policy comes from the tuning file, and the HTML pages
//! render in a real browser (Debian's chromium).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn replay_tuned(tuning: &str, eve: &Path) -> std::process::Output {
    let out = run(&[
        "replay",
        "--rules",
        "signatures",
        "--tuning",
        tuning,
        "--eve",
        eve.to_str().unwrap(),
        "pcaps",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn incident_events<'a>(events: &'a [serde_json::Value], what: &str) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|e| e["event_type"] == "incident" && e["incident"]["event"] == what)
        .map(|e| &e["incident"])
        .collect()
}

#[test]
fn every_alert_belongs_to_one_incident_and_the_events_validate() {
    let dir = tempfile::tempdir().unwrap();
    let eve = dir.path().join("eve.json");
    let out = replay_tuned("signatures/tuning.toml", &eve);
    let events = read_eve(&eve);
    let ours = sekimori_validator();
    for e in &events {
        check_schema(&ours, e);
    }
    // Alerts per incident id, from the alerts' own tags.
    let mut tagged: BTreeMap<String, u64> = BTreeMap::new();
    for e in events.iter().filter(|e| e["event_type"] == "alert") {
        let id = e["sekimori"]["incident"]
            .as_str()
            .unwrap_or_else(|| panic!("alert without incident id: {e}"));
        *tagged.entry(id.to_string()).or_default() += 1;
    }
    let opened = incident_events(&events, "opened");
    let closed = incident_events(&events, "closed");
    let ids = |v: &[&serde_json::Value]| -> BTreeSet<String> {
        v.iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&opened), tagged.keys().cloned().collect());
    assert_eq!(ids(&closed), ids(&opened));
    for c in &closed {
        assert_eq!(
            c["alerts"].as_u64(),
            tagged.get(c["id"].as_str().unwrap()).copied()
        );
        assert_eq!(c["closed_by"], "end of input");
    }
    // The seven alerts of the bundled captures, each in exactly one incident.
    assert_eq!(tagged.values().sum::<u64>(), 7);
    // The Informational hunting alert opens an incident that does not notify; the Critical
    // ones do.
    for o in &opened {
        let sev = o["severity"].as_str().unwrap();
        assert_eq!(
            o["notify"].as_bool().unwrap(),
            sev == "Critical" || sev == "Serious",
            "{o}"
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("incidents:"))
        .expect("summary line");
    assert!(
        line.contains(&format!("7 alerts -> {} incidents", opened.len())),
        "{line}"
    );
}

#[test]
fn incidents_command_regroups_an_eve_file_as_the_sensor_did() {
    let dir = tempfile::tempdir().unwrap();
    let eve = dir.path().join("eve.json");
    replay_tuned("signatures/tuning.toml", &eve);
    let events = read_eve(&eve);
    let opened = incident_events(&events, "opened").len();
    let notified = events
        .iter()
        .filter(|e| e["event_type"] == "incident" && e["incident"]["notify"] == true)
        .count();
    let out = run(&[
        "incidents",
        "--tuning",
        "signatures/tuning.toml",
        eve.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "funnel: 7 alerts -> {opened} incidents -> {notified} notified"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("300 malware"), "{stdout}");
    // A reader that goes away early (`| head -1`) ends the command quietly. The output is
    // bigger than a pipe's buffer only in real use, so the reader closes before it starts.
    let mut child = std::process::Command::new(bin())
        .current_dir(root())
        .args(["incidents", "--tuning", "signatures/tuning.toml"])
        .arg(&eve)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn the_tuning_file_sets_the_notify_policy_and_the_cards() {
    let dir = tempfile::tempdir().unwrap();
    let tuning = dir.path().join("policy.toml");
    let base = std::fs::read_to_string(root().join("signatures/tuning.toml")).unwrap();
    std::fs::write(
        &tuning,
        format!(
            "{base}\n[notify]\nmin_severity = \"Critical\"\ntypes = [100, 300]\nper_hour = 1\n\n[[notify.card]]\ntype = 300\naction = \"Call the workstation team.\"\n"
        ),
    )
    .unwrap();
    let eve = dir.path().join("eve.json");
    replay_tuned(tuning.to_str().unwrap(), &eve);
    let events = read_eve(&eve);
    let opened = incident_events(&events, "opened");
    let notified: Vec<_> = opened.iter().filter(|o| o["notify"] == true).collect();
    // Only access and malware notify, and only once in the hour: the second Critical one is
    // held back and says so.
    assert_eq!(notified.len(), 1, "{opened:?}");
    let cap_held: Vec<_> = opened
        .iter()
        .filter(|o| o["notify_reason"].as_str().unwrap().contains("hourly cap"))
        .collect();
    assert_eq!(cap_held.len(), 1, "{opened:?}");
    let kinds: BTreeSet<u64> = [notified[0], cap_held[0]]
        .iter()
        .map(|o| o["type"].as_u64().unwrap())
        .collect();
    assert_eq!(kinds, BTreeSet::from([100, 300]));
    let malware = opened.iter().find(|o| o["type"] == 300).unwrap();
    assert_eq!(malware["card"]["action"], "Call the workstation team.");
    assert_eq!(malware["card"]["configured"], true);
    assert!(opened.iter().filter(|o| o["type"] == 400).all(|o| {
        let r = o["notify_reason"].as_str().unwrap();
        r.contains("does not notify") || r.contains("below")
    }));

    // Turned off: no incident events, no ids on alerts.
    std::fs::write(&tuning, format!("{base}\n[incidents]\nenabled = false\n")).unwrap();
    replay_tuned(tuning.to_str().unwrap(), &eve);
    let events = read_eve(&eve);
    assert!(events.iter().all(|e| e["event_type"] != "incident"));
    assert!(events.iter().all(|e| e["sekimori"]["incident"].is_null()));

    // A bad policy is an error naming the file and key.
    std::fs::write(&tuning, format!("{base}\n[incidents]\nidle = \"soon\"\n")).unwrap();
    let out = run(&[
        "replay",
        "--rules",
        "signatures",
        "--tuning",
        tuning.to_str().unwrap(),
        "--eve",
        eve.to_str().unwrap(),
        "pcaps",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("incidents.idle") && stderr.contains("policy.toml"),
        "{stderr}"
    );
}

#[test]
fn without_tuning_eve_stays_suricatas_and_the_report_still_groups() {
    let dir = tempfile::tempdir().unwrap();
    let eve = dir.path().join("eve.json");
    let out = run(&[
        "replay",
        "--rules",
        "signatures",
        "--eve",
        eve.to_str().unwrap(),
        "pcaps",
    ]);
    assert!(out.status.success());
    let events = read_eve(&eve);
    assert!(events
        .iter()
        .all(|e| e["event_type"] == "alert" && e["sekimori"].is_null()));
    // The report groups untuned alerts by their class and vendor severity.
    let out = run(&["incidents", eve.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("funnel: 7 alerts -> "), "{stdout}");
    assert!(stdout.contains("300 malware"), "{stdout}");
}

/// Headless Chromium, when installed (scripts/test.sh installs it and sets
/// SEKIMORI_REQUIRE_CHROMIUM so CI cannot skip).
fn chromium() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/chromium");
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("SEKIMORI_REQUIRE_CHROMIUM").is_none(),
        "SEKIMORI_REQUIRE_CHROMIUM is set but /usr/bin/chromium is missing"
    );
    eprintln!("skipped: /usr/bin/chromium is not installed (scripts/test.sh installs it)");
    None
}

/// Renders a page: a screenshot, the DOM after layout, and the browser's log.
fn render(browser: &Path, html: &Path, png: &Path) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--hide-scrollbars",
        "--window-size=1300,1800",
    ];
    let url = format!("file://{}", html.display());
    let profile_arg = format!("--user-data-dir={}", profile.path().display());
    let shot = Command::new(browser)
        .args(common)
        .arg(&profile_arg)
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .expect("run chromium");
    let dom = Command::new(browser)
        .args(common)
        .arg(&profile_arg)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&shot.stderr),
        String::from_utf8_lossy(&dom.stderr)
    );
    (String::from_utf8_lossy(&dom.stdout).into_owned(), log)
}

#[test]
fn html_pages_render_in_a_real_browser() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let eve = dir.path().join("eve.json");
    replay_tuned("signatures/tuning.toml", &eve);
    let pages = [
        (
            "incidents.html",
            vec!["incidents", "--tuning", "signatures/tuning.toml"],
            "From alerts to notifications",
        ),
        (
            "report.html",
            vec!["tune", "report"],
            "Signatures, busiest first",
        ),
        (
            "diff.html",
            vec![
                "tune",
                "diff",
                "--tuning",
                "vendor",
                "--tuning",
                "signatures/tuning.toml",
            ],
            "Signatures that change",
        ),
    ];
    for (name, args, heading) in pages {
        let html = dir.path().join(name);
        let mut a: Vec<&str> = args.clone();
        a.extend(["--html", html.to_str().unwrap(), eve.to_str().unwrap()]);
        let out = run(&a);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&html).unwrap();
        assert!(
            !text.contains("<script") && !text.contains("http://") && !text.contains("https://")
        );
        let png = dir.path().join(format!("{name}.png"));
        let (dom, log) = render(&browser, &html, &png);
        assert!(
            dom.contains(heading),
            "{name}: heading missing from the rendered DOM"
        );
        let shot = std::fs::read(&png).unwrap_or_default();
        assert!(
            shot.starts_with(b"\x89PNG") && shot.len() > 20_000,
            "{name}: screenshot {} bytes",
            shot.len()
        );
        for bad in ["Uncaught", "CONSOLE(", "Failed to load resource"] {
            assert!(!log.contains(bad), "{name}: browser log has {bad}:\n{log}");
        }
        if name == "incidents.html" {
            // A card per incident, with its action.
            let opened = incident_events(&read_eve(&eve), "opened").len();
            assert_eq!(dom.matches("class=\"card\"").count(), opened, "{name}");
            assert!(dom.contains("Action:"));
        }
    }
}
