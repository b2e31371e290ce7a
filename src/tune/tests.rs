use super::*;

fn md(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A test signature: (sid, classtype, priority, metadata, msg).
type TestSig = (u32, &'static str, u8, Vec<(String, String)>, &'static str);

struct Fixture {
    sigs: Vec<TestSig>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            sigs: vec![
                (
                    100,
                    "trojan-activity",
                    1,
                    md(&[("signature_severity", "Major")]),
                    "ET MALWARE Foo CnC",
                ),
                (
                    101,
                    "policy-violation",
                    1,
                    md(&[("signature_severity", "Informational")]),
                    "ET POLICY cleartext password",
                ),
                (
                    102,
                    "coin-mining",
                    2,
                    md(&[("signature_severity", "Informational")]),
                    "ET COINMINER miner UA",
                ),
                (
                    103,
                    "attempted-admin",
                    1,
                    md(&[
                        ("cve", "CVE_2021_44228"),
                        ("attack_target", "Server"),
                        ("signature_severity", "Major"),
                    ]),
                    "ET EXPLOIT log4j",
                ),
                (104, "misc-activity", 3, vec![], "ET CHAT IRC NICK"),
            ],
        }
    }

    fn infos(&self) -> Vec<SigInfo<'_>> {
        self.sigs
            .iter()
            .map(|(sid, ct, prio, meta, msg)| SigInfo {
                gid: 1,
                sid: *sid,
                msg,
                classtype: Some(ct),
                priority: *prio,
                metadata: meta,
            })
            .collect()
    }

    fn tuner(&self, files: &[&str]) -> Result<Tuner, String> {
        let texts: Vec<(PathBuf, String)> = files
            .iter()
            .enumerate()
            .map(|(i, t)| (PathBuf::from(format!("t{i}.toml")), t.to_string()))
            .collect();
        Tuner::from_texts(&texts, &self.infos(), &Vars::suricata_defaults())
    }

    fn idx(&self, sid: u32) -> u32 {
        self.sigs.iter().position(|s| s.0 == sid).unwrap() as u32
    }
}

fn facts(src: &str, dst: &str) -> AlertFacts {
    AlertFacts {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        target: dst.parse().unwrap(),
        target_port: None,
    }
}

fn tuned<'a>(t: &'a Tuner, idx: u32, f: &AlertFacts) -> Tuned<'a> {
    match t.decide(idx, f) {
        Decision::Alert(x) => x,
        Decision::Suppressed(at) => panic!("suppressed by {at}"),
    }
}

#[test]
fn default_taxonomy_mapping() {
    let fx = Fixture::new();
    let t = fx.tuner(&[""]).unwrap();
    let f = facts("192.0.2.1", "10.0.0.1");
    // Malware, priority 1, Major: an attack class is not lowered by the vendor label.
    let x = tuned(&t, fx.idx(100), &f);
    assert_eq!(
        (x.severity, x.itype.code(), x.vendor),
        (Severity::Critical, 300, 1)
    );
    assert_eq!(x.basis, "vendor priority");
    // Policy, priority 1, ET says Informational: the label wins for policy traffic.
    let x = tuned(&t, fx.idx(101), &f);
    assert_eq!((x.severity, x.itype.code()), (Severity::Informational, 400));
    assert_eq!(x.basis, "signature_severity metadata");
    // Coin mining is malware: the Informational label does not lower it.
    assert_eq!(tuned(&t, fx.idx(102), &f).severity, Severity::Serious);
    // No metadata: priority 3 is Medium.
    let x = tuned(&t, fx.idx(104), &f);
    assert_eq!((x.severity, x.itype.code()), (Severity::Medium, 400));
    assert!(x.by.is_none() && x.asset.is_none());
}

#[test]
fn taxonomy_is_configurable() {
    let fx = Fixture::new();
    let t = fx
        .tuner(&[r#"
[taxonomy]
signature_severity = false
[taxonomy.classtype.coin-mining]
type = 400
severity = "Medium"
"#])
        .unwrap();
    let f = facts("192.0.2.1", "10.0.0.1");
    let x = tuned(&t, fx.idx(102), &f);
    assert_eq!((x.severity, x.itype.code()), (Severity::Medium, 400));
    assert_eq!(x.by, Some("t0.toml:4"));
    // Metadata off: policy keeps its vendor priority 1.
    assert_eq!(tuned(&t, fx.idx(101), &f).severity, Severity::Critical);
    let e = fx
        .tuner(&["[taxonomy.classtype.x]\ntype = 700\n"])
        .unwrap_err();
    assert!(e.contains("t0.toml:1") && e.contains("700"), "{e}");
}

#[test]
fn most_specific_override_wins() {
    let fx = Fixture::new();
    let t = fx
        .tuner(&[r#"
[[override]]
classtype = "trojan-activity"
severity = "Medium"

[[override]]
msg = "CnC"
severity = "Serious"

[[override]]
sid = 100
severity = "Informational"
reason = "sinkholed domain"

[[override]]
sid = "90-199"
severity = "Critical"
"#])
        .unwrap();
    let f = facts("192.0.2.1", "10.0.0.1");
    let x = tuned(&t, fx.idx(100), &f);
    assert_eq!(x.severity, Severity::Informational);
    assert_eq!(x.by, Some("t0.toml:10"));
    assert_eq!(x.reason, Some("sinkholed domain"));
    // 104 only matches the range.
    assert_eq!(tuned(&t, fx.idx(104), &f).severity, Severity::Critical);
}

#[test]
fn networks_refine_and_longest_prefix_wins() {
    let fx = Fixture::new();
    let t = fx
        .tuner(&[r#"
[[override]]
sid = 104
severity = "Informational"

[[override]]
sid = 104
dst = ["10.0.0.0/8"]
severity = "Serious"

[[override]]
sid = 104
dst = ["10.1.0.0/16"]
severity = "Critical"
"#])
        .unwrap();
    let i = fx.idx(104);
    assert_eq!(
        tuned(&t, i, &facts("192.0.2.1", "172.16.0.1")).severity,
        Severity::Informational
    );
    assert_eq!(
        tuned(&t, i, &facts("192.0.2.1", "10.2.0.1")).severity,
        Severity::Serious
    );
    assert_eq!(
        tuned(&t, i, &facts("192.0.2.1", "10.1.0.1")).severity,
        Severity::Critical
    );
}

#[test]
fn ties_are_load_errors_but_later_files_refine() {
    let fx = Fixture::new();
    let tie = r#"
[[override]]
sid = 100
severity = "Medium"

[[override]]
sid = 100
severity = "Serious"
"#;
    let e = fx.tuner(&[tie]).unwrap_err();
    assert!(
        e.contains("t0.toml:2") && e.contains("t0.toml:6") && e.contains("1:100"),
        "{e}"
    );
    // Two selectors of one rank that both match a loaded signature tie too.
    let e = fx
        .tuner(&["[[override]]\nmsg = \"MALWARE\"\nseverity = \"Medium\"\n[[override]]\nmsg = \"CnC\"\nseverity = \"Serious\"\n"])
        .unwrap_err();
    assert!(e.contains("tie"), "{e}");
    // Disjoint networks do not tie.
    fx.tuner(&["[[override]]\nsid = 100\ndst = [\"10.0.0.0/8\"]\nseverity = \"Medium\"\n[[override]]\nsid = 100\ndst = [\"172.16.0.0/12\"]\nseverity = \"Serious\"\n"])
        .unwrap();
    // The same entry in a later file wins.
    let t = fx
        .tuner(&[
            "[[override]]\nsid = 100\nseverity = \"Medium\"\n",
            "[[override]]\nsid = 100\nseverity = \"Serious\"\n",
        ])
        .unwrap();
    let x = tuned(&t, fx.idx(100), &facts("192.0.2.1", "10.0.0.1"));
    assert_eq!((x.severity, x.by), (Severity::Serious, Some("t1.toml:1")));
}

#[test]
fn assets_move_severity_by_impact() {
    let fx = Fixture::new();
    let t = fx
        .tuner(&[r#"
[[asset]]
name = "web-dmz"
networks = ["198.51.100.0/24"]
criticality = "high"
exposure = "internet"
roles = ["Web_Server"]
vulnerabilities = ["CVE-2021-44228"]

[[asset]]
name = "hr-laptops"
networks = ["10.20.0.0/16"]
exposure = "internal"
roles = ["Client_Endpoint"]
vulnerabilities = []

[[asset]]
name = "lab"
networks = ["10.99.0.0/16"]
criticality = "low"
services = [22]
"#])
        .unwrap();
    let log4j = fx.idx(103);
    // Vulnerable, high criticality: Critical stays Critical (clamped) with both reasons.
    let x = tuned(&t, log4j, &facts("203.0.113.5", "198.51.100.7"));
    assert_eq!(x.severity, Severity::Critical);
    assert_eq!(x.asset, Some("web-dmz"));
    let adj: Vec<_> = x.adjust.iter().flatten().copied().collect();
    assert_eq!(
        adj,
        vec![Adjust::Vulnerable("CVE-2021-44228"), Adjust::Criticality(1)]
    );
    // A laptop: not vulnerable, not a server, internal and hit from the internet: -3.
    let x = tuned(&t, log4j, &facts("203.0.113.5", "10.20.1.1"));
    assert_eq!(x.severity, Severity::Informational);
    assert_eq!(
        x.adjust.iter().flatten().copied().collect::<Vec<_>>(),
        vec![Adjust::NotVulnerable, Adjust::OtherRole, Adjust::NotExposed]
    );
    // The same laptop hit from inside is not "not exposed".
    let x = tuned(&t, log4j, &facts("10.0.0.9", "10.20.1.1"));
    assert_eq!(x.severity, Severity::Medium);
    // Lab: low criticality, and the port is not one it serves.
    let mut f = facts("192.0.2.1", "10.99.0.5");
    f.target_port = Some(8080);
    let x = tuned(&t, fx.idx(100), &f);
    assert_eq!(x.severity, Severity::Medium);
    // Outside every asset nothing moves.
    let x = tuned(&t, log4j, &facts("192.0.2.1", "192.0.2.2"));
    assert_eq!((x.severity, x.asset), (Severity::Critical, None));
}

#[test]
fn overrides_can_name_assets() {
    let fx = Fixture::new();
    let t = fx
        .tuner(&[r#"
[[asset]]
name = "mail"
networks = ["10.5.0.10", "10.5.0.11"]

[[override]]
sid = 101
target = ["mail"]
severity = "Critical"
type = 100
"#])
        .unwrap();
    let x = tuned(&t, fx.idx(101), &facts("192.0.2.1", "10.5.0.11"));
    assert_eq!((x.severity, x.itype.code()), (Severity::Critical, 100));
    let x = tuned(&t, fx.idx(101), &facts("192.0.2.1", "10.5.0.12"));
    assert_eq!(x.severity, Severity::Informational);
    let e = fx
        .tuner(&["[[override]]\nsid = 1\ndst = [\"nowhere\"]\nseverity = \"Medium\"\n"])
        .unwrap_err();
    assert!(e.contains("nowhere") && e.contains("t0.toml:1"), "{e}");
}

#[test]
fn suppression_by_address_and_threshold_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("threshold.config"),
        "# site suppressions\nsuppress gen_id 1, sig_id 104, track by_src, ip 10.0.0.0/8\nsuppress gen_id 1, sig_id 101\nthreshold gen_id 1, sig_id 100, \\\n  type limit, track by_src, count 1, seconds 60\n",
    )
    .unwrap();
    let main = dir.path().join("tuning.toml");
    std::fs::write(
        &main,
        "threshold_config = [\"threshold.config\"]\n[[suppress]]\nsid = 102\ntrack = \"by_either\"\nip = [\"192.0.2.0/24\"]\n",
    )
    .unwrap();
    let fx = Fixture::new();
    let t = Tuner::load(
        std::slice::from_ref(&main),
        &fx.infos(),
        &Vars::suricata_defaults(),
    )
    .unwrap();
    assert_eq!(t.summary.files, 2);
    assert_eq!((t.summary.suppressions, t.summary.thresholds), (3, 1));
    let sup = |sid, src, dst| {
        matches!(
            t.decide(fx.idx(sid), &facts(src, dst)),
            Decision::Suppressed(_)
        )
    };
    assert!(sup(104, "10.1.1.1", "192.0.2.9"));
    assert!(!sup(104, "192.0.2.9", "10.1.1.1"));
    assert!(sup(101, "1.1.1.1", "2.2.2.2"));
    assert!(sup(102, "1.1.1.1", "192.0.2.200"));
    assert!(!sup(102, "1.1.1.1", "2.2.2.2"));
    let (spec, at) = t.threshold(fx.idx(100)).unwrap();
    assert_eq!(spec.count, 1);
    assert!(at.ends_with("threshold.config:4"), "{at}");
    assert!(t.threshold(fx.idx(101)).is_none());
    // A bad line is reported with its place.
    std::fs::write(
        dir.path().join("threshold.config"),
        "suppress gen_id 1, sig_id 1, track by_src\n",
    )
    .unwrap();
    let e = Tuner::load(&[main], &fx.infos(), &Vars::suricata_defaults()).unwrap_err();
    assert!(e.contains("threshold.config:1"), "{e}");
}

#[test]
fn bad_files_report_every_problem() {
    let fx = Fixture::new();
    let e = fx
        .tuner(&[r#"
[[override]]
sid = "1-x"
severity = "Medium"

[[override]]
sid = 5

[[override]]
msg = "(unclosed"
severity = "Medium"

[[asset]]
name = "a"
networks = ["10.0.0.300"]
"#])
        .unwrap_err();
    for want in ["t0.toml:2", "t0.toml:6", "t0.toml:9", "10.0.0.300"] {
        assert!(e.contains(want), "{want} in {e}");
    }
    let e = fx
        .tuner(&["[[override]]\nsevrity = \"Medium\"\n"])
        .unwrap_err();
    assert!(e.contains("sevrity"), "{e}");
    let e = fx
        .tuner(&["[[override]]\nsid = 1\nseverity = \"Huge\"\n"])
        .unwrap_err();
    assert!(e.contains("Huge") || e.contains("variant"), "{e}");
}

#[test]
fn many_overrides_are_indexed_and_keep_their_lines() {
    // 20,000 signatures, one override each (in reverse order), plus a range, a msg regex and
    // a classtype entry that apply to many: every signature gets the most specific one, and
    // the line it came from.
    let n = 20_000u32;
    let sigs: Vec<TestSig> = (0..n)
        .map(|i| (1_000_000 + i, "misc-activity", 3, vec![], "ET BULK x"))
        .collect();
    let fx = Fixture { sigs };
    let mut text = String::from(
        "[[override]]\nsid = \"1000000-1000009\"\nseverity = \"Informational\"\n\n\
         [[override]]\nmsg = \"^ET BULK\"\nseverity = \"Medium\"\n\n\
         [[override]]\nclasstype = \"misc-activity\"\nseverity = \"Serious\"\n\n",
    );
    for i in (10..n).rev() {
        text.push_str(&format!(
            "[[override]]\nsid = {}\nseverity = \"Critical\"\n\n",
            1_000_000 + i
        ));
    }
    let t = fx.tuner(&[&text]).unwrap();
    let f = facts("192.0.2.1", "10.0.0.1");
    // In a range: the range (rank 8) beats msg (4) and classtype (1).
    let x = tuned(&t, fx.idx(1_000_003), &f);
    assert_eq!(
        (x.severity, x.by),
        (Severity::Informational, Some("t0.toml:1"))
    );
    // An exact sid beats everything; its line is found deep in the file.
    let last = 1_000_000 + n - 1;
    let x = tuned(&t, fx.idx(last), &f);
    assert_eq!((x.severity, x.by), (Severity::Critical, Some("t0.toml:13")));
    let first_exact = 1_000_010;
    let line = 13 + 4 * (n - 1 - 10) as usize;
    let x = tuned(&t, fx.idx(first_exact), &f);
    assert_eq!(x.by, Some(format!("t0.toml:{line}").as_str()));
}

#[test]
fn the_sid_index_finds_what_a_full_scan_finds() {
    let sels: Vec<SigSel> = [
        (Some((5, 5)), None),
        (Some((1, 10)), None),
        (Some((4, 6)), Some("trojan-activity")),
        (None, Some("misc-activity")),
        (None, None),
        (Some((7, 7)), None),
        (Some((5, 5)), Some("misc-activity")),
    ]
    .into_iter()
    .map(|(sids, class)| SigSel {
        sids,
        exact: sids.is_some_and(|(a, b)| a == b),
        classtype: class.map(str::to_string),
        ..SigSel::default()
    })
    .collect();
    let idx = SelIndex::new(sels.iter());
    for sid in 0..12 {
        for class in ["misc-activity", "trojan-activity"] {
            let s = SigInfo {
                gid: 1,
                sid,
                msg: "m",
                classtype: Some(class),
                priority: 3,
                metadata: &[],
            };
            let scan: Vec<u32> = (0..sels.len() as u32)
                .filter(|&i| sels[i as usize].matches(&s))
                .collect();
            assert_eq!(
                idx.matching(&s, |i| &sels[i as usize]),
                scan,
                "sid {sid} {class}"
            );
        }
    }
}
