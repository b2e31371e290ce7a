use super::iprep::{IprepCond, RepConfig, Reputation};
use super::*;

fn spec(name: &str, kind: Kind, file: Option<PathBuf>) -> ListSpec {
    ListSpec {
        file,
        ..ListSpec::new(name, kind, 9_000_001)
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr_hits(snap: &Snapshot, src: &str, dst: &str, now: u32) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    snap.match_addrs(ip(src), ip(dst), now, |_| false, &mut out);
    out.into_iter().map(|h| (h.indicator, h.field)).collect()
}

#[test]
fn values_normalise_per_kind() {
    // Multi-byte text where a scheme would end is refused or read, never a panic.
    for odd in ["https\u{20ac}x", "htt\u{20ac}ps://x", "http:/\u{e9}"] {
        let _ = parse_value(Kind::Url, odd);
        let _ = parse_value(Kind::Domain, odd);
    }
    assert_eq!(
        parse_value(Kind::Ip, "10.1.2.3/8")
            .unwrap()
            .display(Kind::Ip),
        "10.0.0.0/8"
    );
    assert_eq!(
        parse_value(Kind::Ip, "2001:db8::1")
            .unwrap()
            .display(Kind::Ip),
        "2001:db8::1"
    );
    assert_eq!(
        parse_value(Kind::Domain, "Evil.Example.")
            .unwrap()
            .display(Kind::Domain),
        "evil.example"
    );
    assert_eq!(
        parse_value(Kind::Url, "HTTP://Evil.Example:80/a/b?x=1#frag")
            .unwrap()
            .display(Kind::Url),
        "evil.example/a/b?x=1"
    );
    assert_eq!(
        parse_value(Kind::Url, "evil.example")
            .unwrap()
            .display(Kind::Url),
        "evil.example/"
    );
    let h = "44D88612FEA8A8F36DE82E1278ABB02F";
    assert_eq!(
        parse_value(Kind::Md5, h).unwrap().display(Kind::Md5),
        h.to_lowercase()
    );
    for (k, bad) in [
        (Kind::Ip, "10.0.0.300"),
        (Kind::Domain, "evil example"),
        (Kind::Md5, "abcd"),
        (Kind::Sha256, "44d88612fea8a8f36de82e1278abb02f"),
        (Kind::Ja3, "zz"),
        (Kind::Ja4, "nounderscores"),
        (Kind::Url, ""),
    ] {
        assert!(parse_value(k, bad).is_err(), "{k:?} accepted {bad}");
    }
}

#[test]
fn csv_lists_with_header_confidence_and_expiry() {
    let text = "# feed\nindicator,type,confidence,expires\n\
                198.51.100.7,ip,90,\n\
                203.0.113.0/24,ip,40,2030-01-01\n\
                192.0.2.1,ip,,1000\n";
    let e = parse_list(Kind::Ip, "feed.csv", text).unwrap();
    assert_eq!(e.len(), 3);
    assert_eq!(e.next_expiry, 1000);
    let (p, m) = e.find_addr(addr_bits(ip("203.0.113.77"))).unwrap();
    assert_eq!((p, m.confidence), (120, 40));
    assert_eq!(m.expires, 1_893_456_000);
    // Positional CSV and plain lines.
    let e = parse_list(Kind::Domain, "d", "evil.example,80\n\"odd,name.example\"\n");
    assert!(e.is_err(), "a comma inside a domain is refused");
    let e = parse_list(Kind::Domain, "d", "evil.example,80\nc2.example\n").unwrap();
    assert_eq!(e.find_bytes(b"evil.example").unwrap().confidence, 80);
    assert_eq!(e.find_bytes(b"c2.example").unwrap().confidence, 100);
}

#[test]
fn malformed_lines_are_reported_with_file_and_line() {
    let (err, n) =
        parse_list(Kind::Ip, "bad.lst", "10.0.0.1\nnot-an-ip\n10.0.0.2,101\n").unwrap_err();
    assert_eq!(n, 2);
    assert!(err.contains("bad.lst:2: 'not-an-ip'"), "{err}");
    assert!(err.contains("bad.lst:3: confidence '101'"), "{err}");
}

#[test]
fn address_lists_match_either_end_most_specific_first() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c2.lst");
    std::fs::write(&f, "198.51.100.7\n10.0.0.0/8\n2001:db8::/32\n").unwrap();
    let store = Store::open(vec![spec("c2", Kind::Ip, Some(f))], None).unwrap();
    let s = store.snapshot();
    assert_eq!(
        addr_hits(&s, "192.168.1.5", "198.51.100.7", 0),
        vec![("198.51.100.7".to_string(), "dest_ip")]
    );
    assert_eq!(
        addr_hits(&s, "10.9.9.9", "192.0.2.1", 0),
        vec![("10.0.0.0/8".to_string(), "src_ip")]
    );
    assert_eq!(
        addr_hits(&s, "2001:db8:1::5", "::1", 0),
        vec![("2001:db8::/32".to_string(), "src_ip")]
    );
    assert!(addr_hits(&s, "192.168.1.5", "198.51.100.8", 0).is_empty());
}

#[test]
fn runtime_add_remove_expiry_and_reload_keep_the_old_set_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c2.lst");
    std::fs::write(&f, "198.51.100.7\n").unwrap();
    let store = Store::open(vec![spec("c2", Kind::Ip, Some(f.clone()))], None).unwrap();
    let g0 = store.generation();
    store.add("c2", "203.0.113.9", None).unwrap();
    assert!(store.generation() > g0);
    let s = store.snapshot();
    assert_eq!(addr_hits(&s, "1.1.1.1", "203.0.113.9", 0).len(), 1);
    // Removing a file indicator masks it; re-adding lifts the mask.
    store.remove("c2", "198.51.100.7").unwrap();
    assert!(addr_hits(&store.snapshot(), "1.1.1.1", "198.51.100.7", 0).is_empty());
    assert!(store.remove("c2", "198.51.100.7").is_err());
    store.add("c2", "198.51.100.7", None).unwrap();
    assert_eq!(
        addr_hits(&store.snapshot(), "1.1.1.1", "198.51.100.7", 0).len(),
        1
    );
    // A bad value is refused and counted; an unknown list is named.
    assert!(store.add("c2", "nope", None).is_err());
    assert!(store
        .add("other", "1.2.3.4", None)
        .unwrap_err()
        .contains("lists: c2"));
    assert_eq!(store.stats()[0].rejects, 1);
    // An expiring add stops matching at its expiry, and purge frees it.
    store.add("c2", "192.0.2.50", Some(60)).unwrap();
    let now = (crate::common::time::now_micros() / 1_000_000) as u32;
    let s = store.snapshot();
    assert_eq!(addr_hits(&s, "1.1.1.1", "192.0.2.50", now).len(), 1);
    assert!(addr_hits(&s, "1.1.1.1", "192.0.2.50", now + 61).is_empty());
    assert_eq!(store.purge(now + 61), 1);
    assert_eq!(store.stats()[0].expired, 1);
    // A broken file keeps the previous set; a good one replaces it (runtime adds stay).
    std::fs::write(&f, "198.51.100.99\nbroken\n").unwrap();
    let err = store.reload(true).unwrap().unwrap_err();
    assert!(err.contains("c2.lst:2"), "{err}");
    let s = store.snapshot();
    assert_eq!(addr_hits(&s, "1.1.1.1", "198.51.100.7", 0).len(), 1);
    assert!(addr_hits(&s, "1.1.1.1", "198.51.100.99", 0).is_empty());
    std::fs::write(&f, "198.51.100.99\n").unwrap();
    assert!(store.reload(true).unwrap().is_ok());
    let s = store.snapshot();
    assert_eq!(addr_hits(&s, "1.1.1.1", "198.51.100.99", 0).len(), 1);
    assert_eq!(addr_hits(&s, "1.1.1.1", "203.0.113.9", 0).len(), 1);
    // Unchanged files: the watch finds nothing to do.
    assert!(store.reload(false).is_none());
}

#[test]
fn file_expiry_and_confidence_floor() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ips.csv");
    std::fs::write(&f, "192.0.2.1,90,2000\n192.0.2.2,30\n192.0.2.4,90,2010\n").unwrap();
    let mut sp = spec("ips", Kind::Ip, Some(f));
    sp.min_confidence = 50;
    let store = Store::open(vec![sp], None).unwrap();
    let s = store.snapshot();
    assert_eq!(addr_hits(&s, "1.1.1.1", "192.0.2.1", 1999).len(), 1);
    assert!(addr_hits(&s, "1.1.1.1", "192.0.2.1", 2000).is_empty());
    assert!(
        addr_hits(&s, "1.1.1.1", "192.0.2.2", 0).is_empty(),
        "below the floor"
    );
    // File tables are purged at most once a minute (expired entries stop matching anyway);
    // runtime adds as soon as they expire.
    assert_eq!(store.purge(2000), 1);
    assert_eq!(store.purge(2010), 0, "within the minute");
    assert_eq!(store.purge(2060), 1);
    store.add("ips", "192.0.2.3", Some(1)).unwrap();
    let soon = (crate::common::time::now_micros() / 1_000_000) as u32 + 5;
    assert_eq!(store.purge(soon), 1);
    assert_eq!(store.stats()[0].expired, 3);
}

#[test]
fn reputation_files_and_iprep_conditions() {
    let dir = tempfile::tempdir().unwrap();
    let cats = dir.path().join("categories.txt");
    let rep = dir.path().join("rep.list");
    std::fs::write(
        &cats,
        "1,BadHosts,Known bad hosts\n2,CnC,Command and control\n",
    )
    .unwrap();
    std::fs::write(
        &rep,
        "198.51.100.7,1,101\n198.51.100.0/24,2,50\n10.0.0.1,2,20\n",
    )
    .unwrap();
    let cfg = RepConfig {
        categories: cats.clone(),
        files: vec![rep.clone()],
    };
    let r = Reputation::load(&cfg).unwrap();
    assert_eq!(r.score(ip("198.51.100.7"), 1), Some(101));
    assert_eq!(r.score(ip("198.51.100.7"), 2), Some(50), "from the network");
    assert_eq!(r.score(ip("198.51.100.8"), 1), None);
    let c = |s: &str| IprepCond::parse(s).unwrap();
    let (bad, inner) = (ip("198.51.100.7"), ip("10.0.0.1"));
    assert!(c("dst,BadHosts,>,100").holds(Some(&r), inner, bad));
    assert!(!c("src,BadHosts,>,100").holds(Some(&r), inner, bad));
    assert!(c("any,CnC,<,30").holds(Some(&r), inner, bad));
    assert!(!c("both,CnC,<,30").holds(Some(&r), inner, bad));
    assert!(c("both,CnC,isset").holds(Some(&r), inner, bad));
    assert!(c("src,BadHosts,isnotset").holds(Some(&r), inner, bad));
    assert!(!c("dst,Unknown,isset").holds(Some(&r), inner, bad));
    // Nothing loaded: only isnotset holds.
    assert!(c("src,BadHosts,isnotset").holds(None, inner, bad));
    assert!(!c("src,BadHosts,<,100").holds(None, inner, bad));
    for bad in [
        "up,BadHosts,>,1",
        "src,BadHosts,>",
        "src,BadHosts,~,1",
        "src,X,>,200",
    ] {
        assert!(IprepCond::parse(bad).is_err(), "{bad}");
    }
    std::fs::write(&rep, "198.51.100.7,3,101\n").unwrap();
    let e = Reputation::load(&cfg).unwrap_err();
    assert!(
        e.contains("rep.list:1") && e.contains("category '3'"),
        "{e}"
    );
    std::fs::write(&rep, "198.51.100.7,1,128\n").unwrap();
    assert!(Reputation::load(&cfg).unwrap_err().contains("score"));
}

#[test]
fn runtime_changes_survive_a_restart_in_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c2.lst");
    let state = dir.path().join("c2.state");
    std::fs::write(&f, "198.51.100.7\n").unwrap();
    let mut sp = spec("c2", Kind::Ip, Some(f));
    sp.state = Some(state.clone());
    let store = Store::open(vec![sp.clone()], None).unwrap();
    store.add("c2", "203.0.113.0/24", None).unwrap();
    store.add("c2", "192.0.2.9", Some(3600)).unwrap();
    store.remove("c2", "198.51.100.7").unwrap();
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(
        text.contains("+203.0.113.0/24\n") && text.contains("-198.51.100.7\n"),
        "{text}"
    );
    // A restart: the file's set plus what ctl changed.
    let again = Store::open(vec![sp.clone()], None).unwrap();
    let s = again.snapshot();
    assert_eq!(addr_hits(&s, "1.1.1.1", "203.0.113.4", 0).len(), 1);
    assert_eq!(addr_hits(&s, "1.1.1.1", "192.0.2.9", 0).len(), 1);
    assert!(addr_hits(&s, "1.1.1.1", "198.51.100.7", 0).is_empty());
    let exp = (crate::common::time::now_micros() / 1_000_000) as u32 + 3601;
    assert!(
        addr_hits(&s, "1.1.1.1", "192.0.2.9", exp).is_empty(),
        "the expiry too"
    );
    assert_eq!(again.stats()[0].runtime_adds, 2);
    // A broken state file stops the start with its place.
    std::fs::write(&state, "+203.0.113.0/24\n\u{e9}what\n").unwrap();
    let err = Store::open(vec![sp], None).unwrap_err();
    assert!(err.contains("c2.state:2"), "{err}");
}
