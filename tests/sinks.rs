//! EVE sinks and the metrics endpoint against real peers: a Redis server (Debian's
//! redis-server, started here on a loopback port), syslog and unix-socket listeners, and an
//! HTTP client reading `/metrics` while a replay runs.
//!
//! Redis tests skip with a message when redis-server is not installed, unless
//! SEKIMORI_REQUIRE_REDIS is set (scripts/test.sh sets it after installing the server).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, read_eve, root};
use sekimori::testgen::synth::{dns_query, udp_frame, Frame};

/// A redis-server of the test's own on a free loopback port.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

fn redis_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("redis-server"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("SEKIMORI_REQUIRE_REDIS").is_none(),
            "redis-server is not installed (scripts/test.sh installs Debian's redis-server)"
        );
        eprintln!("skipped: redis-server is not installed (apt-get install redis-server)");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Redis {
    fn start() -> Option<Redis> {
        redis_binary()?;
        let mut r = Redis {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
        };
        r.restart();
        Some(r)
    }

    /// Starts the server (again, empty) on the same port and waits until it answers.
    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", self.dir.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = self.client().get_connection() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server at once (no shutdown, no save).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}", self.port)).unwrap()
    }

    fn conn(&self) -> redis::Connection {
        self.client().get_connection().unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("sinks.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Replays the bundled captures with `config`; returns stderr and the EVE file's lines.
fn replay(config: &Path, eve: &Path, inputs: &[&str]) -> (String, Vec<String>) {
    let out = Command::new(bin())
        .current_dir(root())
        .args(["replay", "--rules", "signatures", "--config"])
        .arg(config)
        .arg("--eve")
        .arg(eve)
        .args(inputs)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let text = std::fs::read_to_string(eve).unwrap();
    (stderr, text.lines().map(str::to_string).collect())
}

/// `[output]` switches that make the bundled captures produce every kind of event.
const ALL_EVENTS: &str =
    "[output]\nflow = true\nhttp = true\ndns = true\ntls = true\nanomaly = true\n";

/// The numbers of a sink's summary line: (written, dropped, refused, reconnects).
fn sink_line(stderr: &str, target: &str) -> (u64, u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("eve: ") && l.contains(target))
        .unwrap_or_else(|| panic!("no summary line for {target}:\n{stderr}"));
    let line = line.split(" (first error").next().unwrap();
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    // "eve: W events written to redis redis://127.0.0.1:PORT CMD key, D dropped ..., R refused, C reconnects"
    let n = nums.len();
    (nums[0], nums[n - 3], nums[n - 2], nums[n - 1])
}

#[test]
fn redis_stream_list_and_channel_carry_what_the_file_carries() {
    let Some(redis) = Redis::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = redis.port;
    let cfg = write_config(
        dir.path(),
        &format!(
            "{ALL_EVENTS}
[[output.sinks]]
kind = \"redis\"
port = {port}
mode = \"stream\"
key = \"eve-stream\"
[[output.sinks]]
kind = \"redis\"
port = {port}
mode = \"rpush\"
key = \"eve-list\"
[[output.sinks]]
kind = \"redis\"
url = \"redis://127.0.0.1:{port}/0\"
mode = \"channel\"
key = \"eve-channel\"
[[output.sinks]]
kind = \"redis\"
port = {port}
key = \"alerts\"
types = [\"alert\"]
"
        ),
    );
    // A subscriber on the channel before the sensor starts.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let client = redis.client();
    let sub = std::thread::spawn(move || {
        let mut c = client.get_connection().unwrap();
        let mut ps = c.as_pubsub();
        ps.subscribe("eve-channel").unwrap();
        ps.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        ready_tx.send(()).unwrap();
        let mut got = Vec::new();
        while let Ok(m) = ps.get_message() {
            got.push(m.get_payload::<String>().unwrap());
        }
        got
    });
    ready_rx.recv().unwrap();
    let eve = dir.path().join("eve.json");
    let (stderr, lines) = replay(&cfg, &eve, &["pcaps"]);
    assert!(lines.len() > 20, "{stderr}");
    let kinds: std::collections::BTreeSet<String> = read_eve(&eve)
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_string())
        .collect();
    for k in ["alert", "flow", "dns", "http", "tls"] {
        assert!(kinds.contains(k), "{kinds:?}");
    }
    let mut c = redis.conn();
    let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg("eve-stream")
        .arg("-")
        .arg("+")
        .query(&mut c)
        .unwrap();
    let stream: Vec<String> = entries
        .into_iter()
        .map(|(_, fields)| {
            assert_eq!(fields[0], "eve");
            fields[1].clone()
        })
        .collect();
    assert_eq!(
        stream, lines,
        "stream entries are the file's lines, in order"
    );
    let list: Vec<String> = redis::cmd("LRANGE")
        .arg("eve-list")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(list, lines, "RPUSH keeps the file's order");
    // The default mode is LPUSH (newest first) and the filter keeps alerts only.
    let mut alerts: Vec<String> = redis::cmd("LRANGE")
        .arg("alerts")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    alerts.reverse();
    let file_alerts: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("\"event_type\":\"alert\""))
        .cloned()
        .collect();
    assert_eq!(alerts, file_alerts);
    assert_eq!(alerts.len(), 7);
    let channel = sub.join().unwrap();
    assert_eq!(channel, lines, "every event published, in order");
    for key in ["eve-stream", "eve-list", "eve-channel"] {
        let (w, d, l, _) = sink_line(&stderr, key);
        assert_eq!((w, d, l), (lines.len() as u64, 0, 0), "{stderr}");
    }
}

/// `n` DNS queries, each its own flow (one EVE `dns` event each).
fn dns_frames(n: u32) -> Vec<Frame> {
    (0..n)
        .map(|i| {
            let src = Ipv4Addr::new(10, 1, (i >> 16) as u8, (i >> 8) as u8);
            let q = dns_query(i as u16, "example.com");
            (
                1_700_000_000_000_000 + i64::from(i) * 10,
                udp_frame(
                    (src, 1024 + (i % 250) as u16),
                    (Ipv4Addr::new(10, 9, 9, 9), 53),
                    &q,
                ),
            )
        })
        .collect()
}

#[test]
fn a_redis_outage_costs_counted_events_and_the_sink_reconnects() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let n = 300_000u32;
    let pcap = dir.path().join("dns.pcap");
    sekimori::testgen::synth::write_pcap(&pcap, &dns_frames(n)).unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "[output]\ndns = true\n[[output.sinks]]\nkind = \"redis\"\nport = {}\nmode = \"xadd\"\nkey = \"dns\"\nstream_maxlen = 1000000\nbuffer = 2000\n",
            redis.port
        ),
    );
    let eve = dir.path().join("eve.json");
    let child = Command::new(bin())
        .args([
            "replay",
            "--rules",
            "signatures",
            "--workers",
            "1",
            "--config",
        ])
        .arg(&cfg)
        .arg("--eve")
        .arg(&eve)
        .arg(&pcap)
        .current_dir(root())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Events are flowing: kill the server mid-run, bring it back (empty) a moment later.
    let mut c = redis.conn();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut before = 0u64;
    while before < 2_000 {
        before = redis::cmd("XLEN").arg("dns").query(&mut c).unwrap_or(0);
        assert!(Instant::now() < deadline, "no events reached redis");
        std::thread::sleep(Duration::from_millis(2));
    }
    redis.kill();
    std::thread::sleep(Duration::from_millis(300));
    redis.restart();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the sensor kept going: {stderr}");
    let lines = std::fs::read_to_string(&eve).unwrap().lines().count() as u64;
    assert_eq!(lines, u64::from(n), "the file sink lost nothing");
    let (written, dropped, refused, reconnects) = sink_line(&stderr, "XADD dns");
    assert!(before < u64::from(n), "the outage came before the end");
    assert_eq!(
        written + dropped,
        u64::from(n),
        "every event written or counted: {stderr}"
    );
    assert_eq!(refused, 0);
    assert!(
        dropped > 0,
        "the outage outlasted a 2,000-event buffer: {stderr}"
    );
    assert!(reconnects >= 1, "{stderr}");
    // What was written after the server came back is there.
    let mut c = redis.conn();
    let after: u64 = redis::cmd("XLEN").arg("dns").query(&mut c).unwrap();
    assert!(after > 0 && after <= written, "{after} of {written}");
}

#[test]
fn redis_down_from_the_start_never_blocks_a_replay() {
    let Some(_) = redis_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "{ALL_EVENTS}[[output.sinks]]\nkind = \"redis\"\nport = {}\n",
            free_port()
        ),
    );
    let eve = dir.path().join("eve.json");
    let started = Instant::now();
    let (stderr, lines) = replay(&cfg, &eve, &["pcaps"]);
    let (written, dropped, _, _) = sink_line(&stderr, "LPUSH suricata");
    assert_eq!((written, dropped), (0, lines.len() as u64), "{stderr}");
    // The sink gives up two seconds after the run ends.
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// RFC 5424 header fields and the message of one syslog line.
fn syslog_parts(m: &str) -> (u32, String, String) {
    let (pri, rest) = m.strip_prefix('<').unwrap().split_once('>').unwrap();
    let f: Vec<&str> = rest.splitn(7, ' ').collect();
    assert_eq!(f[0], "1", "{m}");
    assert!(f[1].ends_with('Z') && f[1].len() == 27, "{m}");
    assert_eq!(f[3], "sekimori");
    assert_eq!(
        f[6].split_once(' ').unwrap().0,
        "-",
        "no structured data: {m}"
    );
    (
        pri.parse().unwrap(),
        f[5].to_string(),
        f[6].split_once(' ').unwrap().1.to_string(),
    )
}

#[test]
fn syslog_and_unix_socket_sinks_deliver_to_real_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let udp_addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let dgram_path = dir.path().join("eve.dgram");
    let dgram = UnixDatagram::bind(&dgram_path).unwrap();
    dgram
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let stream_path = dir.path().join("eve.sock");
    let stream = UnixListener::bind(&stream_path).unwrap();
    let tcp_reader = std::thread::spawn(move || {
        let (mut s, _) = tcp.accept().unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        all
    });
    let stream_reader = std::thread::spawn(move || {
        let (s, _) = stream.accept().unwrap();
        BufReader::new(s)
            .lines()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    });
    let udp_reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = udp.recv(&mut buf) {
            got.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
        got
    });
    let dgram_reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = dgram.recv(&mut buf) {
            got.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
        got
    });
    let cfg = write_config(
        dir.path(),
        &format!(
            "{ALL_EVENTS}
[[output.sinks]]
kind = \"syslog\"
address = \"udp://{udp_addr}\"
[[output.sinks]]
kind = \"syslog\"
address = \"tcp://{tcp_addr}\"
facility = \"daemon\"
types = [\"alert\"]
[[output.sinks]]
kind = \"unix-dgram\"
path = \"{}\"
[[output.sinks]]
kind = \"unix-stream\"
path = \"{}\"
",
            dgram_path.display(),
            stream_path.display()
        ),
    );
    let eve = dir.path().join("eve.json");
    let (stderr, lines) = replay(&cfg, &eve, &["pcaps"]);
    assert!(lines.len() > 20, "{stderr}");
    let alerts: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("\"event_type\":\"alert\""))
        .collect();

    // UDP syslog: every event, local5, MSGID the event type, MSG the EVE line.
    let udp_msgs = udp_reader.join().unwrap();
    assert_eq!(udp_msgs.len(), lines.len(), "{stderr}");
    for (m, line) in udp_msgs.iter().zip(&lines) {
        let (pri, msgid, msg) = syslog_parts(m);
        assert_eq!(&msg, line);
        let v: serde_json::Value = serde_json::from_str(&msg).unwrap();
        assert_eq!(msgid, v["event_type"].as_str().unwrap());
        assert_eq!(pri / 8, 21, "local5");
        let sev = pri % 8;
        match v["alert"]["severity"].as_u64() {
            Some(1) => assert_eq!(sev, 2),
            Some(2) => assert_eq!(sev, 3),
            Some(3) => assert_eq!(sev, 4),
            Some(_) => assert_eq!(sev, 5),
            None => assert_eq!(sev, 6, "{m}"),
        }
    }
    // TCP syslog: octet-counted frames, alerts only, facility daemon.
    let tcp_all = tcp_reader.join().unwrap();
    let mut rest = tcp_all.as_str();
    let mut tcp_msgs = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_once(' ').unwrap();
        let len: usize = len.parse().unwrap();
        tcp_msgs.push(&tail[..len]);
        rest = &tail[len..];
    }
    assert_eq!(tcp_msgs.len(), alerts.len());
    for (m, line) in tcp_msgs.iter().zip(&alerts) {
        let (pri, msgid, msg) = syslog_parts(m);
        assert_eq!((pri / 8, msgid.as_str()), (3, "alert"));
        assert_eq!(&&msg, line);
    }
    // Unix sockets: a datagram per event, newline-separated events on a stream.
    assert_eq!(dgram_reader.join().unwrap(), lines);
    assert_eq!(stream_reader.join().unwrap(), lines);
}

#[test]
fn metrics_are_served_while_a_replay_reads_a_growing_capture() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("live.pcap");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let cfg = write_config(dir.path(), "[output]\ndns = true\n");
    let eve = dir.path().join("eve.json");
    let mut child = Command::new(bin())
        .args([
            "replay",
            "--rules",
            "signatures",
            "--metrics",
            "127.0.0.1:0",
        ])
        .arg("--config")
        .arg(&cfg)
        .arg("--eve")
        .arg(&eve)
        .arg(&fifo)
        .current_dir(root())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The endpoint's address is the line the sensor prints when it binds.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut url = String::new();
    let mut line = String::new();
    while url.is_empty() {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "no metrics line");
        if let Some(u) = line.trim().strip_prefix("metrics: ") {
            url = u.to_string();
        }
    }
    let log = std::thread::spawn(move || {
        let mut rest = String::new();
        err.read_to_string(&mut rest).unwrap();
        rest
    });
    // Half the capture now, the rest after the scrape.
    let frames = dns_frames(2_000);
    let f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let mut w = sekimori::testgen::synth::PcapWriter::new(std::io::BufWriter::new(f), 1).unwrap();
    for (ts, fr) in &frames[..1_000] {
        w.write(*ts, fr).unwrap();
    }
    let mut f = w.finish().unwrap();
    f.flush().unwrap();
    let value = |text: &str, name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let t = http_get(&url);
        if value(&t, "sekimori_packets_total") == Some(1_000) {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never showed 1000 packets:\n{t}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        child.try_wait().unwrap().is_none(),
        "the replay is still running"
    );
    assert_eq!(
        value(&text, "sekimori_app_transactions_total{proto=\"dns\"}"),
        Some(1_000)
    );
    assert_eq!(value(&text, "sekimori_rules{state=\"running\"}"), Some(7));
    assert_eq!(value(&text, "sekimori_replay_files"), Some(1));
    assert_eq!(
        value(&text, "sekimori_info{version=\"0.1.0\",mode=\"replay\"}"),
        Some(1)
    );
    assert!(
        text.contains("# TYPE sekimori_sink_events_total counter"),
        "{text}"
    );
    assert!(
        text.contains("sekimori_sink_up{sink=\"eve\",kind=\"file\"} 1"),
        "{text}"
    );
    for (ts, fr) in &frames[1_000..] {
        let mut one = sekimori::testgen::synth::PcapWriter::new(Vec::new(), 1).unwrap();
        one.write(*ts, fr).unwrap();
        // Record only: the global header was written once at the start.
        f.write_all(&one.finish().unwrap()[24..]).unwrap();
    }
    drop(f);
    let status = child.wait().unwrap();
    let rest = log.join().unwrap();
    assert!(status.success(), "{rest}");
    assert!(rest.contains("2000 packets"), "{rest}");
    assert_eq!(read_eve(&eve).len(), 2_000);
}

/// A GET with a real HTTP client (Python's urllib); the body.
fn http_get(url: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.request\nr = urllib.request.urlopen(sys.argv[1], timeout=5)\nassert r.status == 200, r.status\nassert r.headers['Content-Type'].startswith('text/plain; version=0.0.4')\nsys.stdout.write(r.read().decode())",
            url,
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_pcap_of_alerting_flows_replays_to_the_same_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let pcaps = dir.path().join("pcap");
    let first = dir.path().join("first.json");
    let out = common::run(&[
        "replay",
        "--rules",
        "signatures",
        "--eve",
        first.to_str().unwrap(),
        "--pcap-out",
        pcaps.to_str().unwrap(),
        "pcaps",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let written = sekimori::output::pcaplog::files_in(&pcaps);
    assert_eq!(written.len(), 1, "{stderr}");
    let second = dir.path().join("second.json");
    let out = common::run(&[
        "replay",
        "--rules",
        "signatures",
        "--eve",
        second.to_str().unwrap(),
        written[0].to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let (a, b) = (read_eve(&first), read_eve(&second));
    let sids = common::alert_sids(&a);
    assert_eq!(sids.len(), 7);
    assert_eq!(sids, common::alert_sids(&b));
    // The TCP alerts need their handshakes (no midstream pickup): the frames from before
    // each alert were written too. Every alert's flow is in the index.
    let index = std::fs::read_to_string(pcaps.join("flows.tsv")).unwrap();
    let name = written[0].file_name().unwrap().to_str().unwrap();
    for e in a.iter().filter(|e| e["event_type"] == "alert") {
        let line = format!("{}\t{name}", e["flow_id"]);
        assert!(index.lines().any(|l| l == line), "{line} not in\n{index}");
    }
    // Benign flows are not in the file.
    let packets_in = |s: &str| -> u64 {
        s.lines()
            .find_map(|l| {
                l.strip_prefix("replay: ")?
                    .split(", ")
                    .find_map(|p| p.strip_suffix(" packets")?.parse().ok())
            })
            .unwrap()
    };
    let all = packets_in(&String::from_utf8_lossy(
        &common::run(&["replay", "--rules", "signatures", "--eve", "-", "pcaps"]).stderr,
    ));
    let kept = packets_in(&String::from_utf8_lossy(&out.stderr));
    assert!(kept < all, "{kept} of {all}");
}

#[test]
fn pcap_files_rotate_and_stay_under_their_total() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("dns.pcap");
    sekimori::testgen::synth::write_pcap(&pcap, &dns_frames(5_000)).unwrap();
    let rules = dir.path().join("dns.rules");
    std::fs::write(
        &rules,
        "alert dns any any -> any any (msg:\"q\"; dns.query; content:\"example\"; sid:1;)\n",
    )
    .unwrap();
    let pcaps = dir.path().join("out");
    let cfg = write_config(
        dir.path(),
        &format!(
            "[output.pcap]\ndir = \"{}\"\nfile_size = 65536\ntotal_size = 200000\n",
            pcaps.display()
        ),
    );
    let out = Command::new(bin())
        .args(["replay", "--rules"])
        .arg(&rules)
        .arg("--config")
        .arg(&cfg)
        .args(["--eve", "-"])
        .arg(&pcap)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("alerts: 5000"), "{stderr}");
    // 5,000 frames of 91 bytes with headers: about 7 files of 64 KiB, the oldest deleted.
    assert!(stderr.contains("pcap: 5000 frames"), "{stderr}");
    let files = sekimori::output::pcaplog::files_in(&pcaps);
    let total: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    assert!(
        files.len() >= 2 && total <= 200_000,
        "{} files, {total} bytes",
        files.len()
    );
    assert!(!stderr.contains(" 0 deleted"), "{stderr}");
    // The newest file ends with the last query.
    let newest = files.last().unwrap();
    let replayed = common::run(&[
        "replay",
        "--rules",
        rules.to_str().unwrap(),
        "--eve",
        "-",
        newest.to_str().unwrap(),
    ]);
    let last: Vec<serde_json::Value> = String::from_utf8_lossy(&replayed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!last.is_empty());
    // Two workers write their alerts in no fixed order: the highest frame number counts.
    let q = last
        .iter()
        .filter_map(|e| e["pcap_cnt"].as_u64())
        .max()
        .unwrap();
    assert_eq!(last.len() as u64, q, "one alert per frame of the file");
}
