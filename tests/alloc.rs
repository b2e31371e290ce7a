//! The hot path does not allocate per packet: a counting global allocator around one worker
//! processing packets of established flows (UDP datagrams, TCP segments reassembled and
//! inspected as a stream) with 1,000 content rules loaded. Flow creation, transaction
//! parsing and alerts may allocate; steady-state packets must not (a stream buffer reaching a
//! new high-water mark is the one amortised exception).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sekimori::decode::LinkType;
use sekimori::detect::analytics::{Analytic, Specs};
use sekimori::detect::intel::{Kind, ListAction, ListSpec, Store};
use sekimori::detect::rules::classification::Classifications;
use sekimori::detect::rules::{parse::parse_rule, Vars};
use sekimori::detect::Engine;
use sekimori::output::{Backpressure, EveTarget, EveWriter};
use sekimori::runtime::worker::{ChecksumMode, Worker, WorkerConfig};
use sekimori::testgen::synth::{udp_frame, TcpSession};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Allocations are counted on the thread that runs the worker only: the EVE writer's
    /// thread is off the packet path, and counting it made the figure depend on scheduling.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting(on: bool) {
    COUNTING.with(|c| c.set(on));
}

fn counted() -> bool {
    // `try_with`: the allocator may run while a thread's locals are being torn down.
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter has no effect
// on the memory handed out.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn engine() -> Engine {
    let vars = Vars::suricata_defaults();
    let mut rules: Vec<_> = (0..1000)
        .map(|i| {
            let text = format!(
                "alert tcp any any -> any any (msg:\"r{i}\"; flow:established,to_server; content:\"/evil-path-{i}/\"; nocase; content:\"token{i}\"; distance:0; sid:{};)",
                1_000_000 + i
            );
            parse_rule(&text, &vars).unwrap()
        })
        .collect();
    rules.push(
        parse_rule(
            "alert udp any any -> any 53 (msg:\"u\"; content:\"never-there\"; sid:99;)",
            &vars,
        )
        .unwrap(),
    );
    for spec in intel_specs() {
        let mut r = parse_rule(&spec.rule_text(), &vars).unwrap();
        r.external = true;
        rules.push(r);
    }
    for (_, _, text) in analytics().rules() {
        let mut r = parse_rule(&text, &vars).unwrap();
        r.external = true;
        rules.push(r);
    }
    Engine::build(rules, &Classifications::bundled()).unwrap()
}

/// Every analytic on: the DNS queries and sessions below go through their tables.
fn analytics() -> Specs {
    let home =
        sekimori::detect::rules::header::parse_addr("10.0.0.0/8", &Vars::suricata_defaults())
            .unwrap();
    Specs {
        on: Analytic::ALL
            .iter()
            .map(|&a| (a, a.default_sid()))
            .collect(),
        home: Some(home),
        max_tracked: 1024,
        ..Specs::default()
    }
}

/// An address list and a domain list that the traffic below never matches: each packet
/// still goes through their lookups (the DNS queries, every flow's addresses).
fn intel_specs() -> Vec<ListSpec> {
    [
        ("ips", Kind::Ip, 9_100_001),
        ("domains", Kind::Domain, 9_100_002),
    ]
    .into_iter()
    .map(|(name, kind, sid)| ListSpec {
        name: name.into(),
        kind,
        file: None,
        sid,
        msg: name.into(),
        priority: 1,
        classtype: "trojan-activity".into(),
        action: ListAction::Alert,
        min_confidence: 0,
        subdomains: true,
        state: None,
    })
    .collect()
}

#[test]
fn steady_state_packets_do_not_allocate() {
    let engine = Arc::new(engine());
    let (writer, sender) =
        EveWriter::start(&EveTarget::File("/dev/null".into()), Backpressure::Block).unwrap();
    let store = Store::open(intel_specs(), None).unwrap();
    store.add("ips", "203.0.113.0/24", None).unwrap();
    store.add("domains", "evil.example", None).unwrap();
    let cfg = WorkerConfig {
        checksums: ChecksumMode::No,
        intel: Some(Arc::new(store)),
        analytics: Some(Arc::new(analytics())),
        ..WorkerConfig::default()
    };
    let mut w = Worker::new(0, engine, Default::default(), sender, cfg).unwrap();
    // One long TCP session of a protocol without a parser, and one UDP flow.
    let c = (Ipv4Addr::new(10, 0, 0, 1), 40000);
    let s = (Ipv4Addr::new(198, 51, 100, 7), 7000);
    let mut sess = TcpSession::open(c, s, 1_700_000_000_000_000);
    // 1.3 MB: past the 1 MiB reassembly depth, so the stream buffer has reached its size.
    for i in 0..3000 {
        let payload = format!(
            "chunk {i:05} of a long binary-ish stream {}\n",
            "z".repeat(400)
        );
        sess.send(true, payload.as_bytes()).send(false, b"ack");
    }
    let mut frames = sess.close();
    let t0 = frames.last().unwrap().0;
    for i in 0..1200i64 {
        frames.push((
            t0 + i,
            udp_frame(
                (Ipv4Addr::new(10, 0, 0, 1), 5353),
                (Ipv4Addr::new(10, 0, 0, 53), 53),
                b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01",
            ),
        ));
    }
    // Warm up: flows, stream buffers (up to the depth) and scratch grow here.
    let tcp_end = frames.len() - 1200 - 4;
    let warm: Vec<usize> = (0..tcp_end * 3 / 4)
        .chain(tcp_end + 4..tcp_end + 4 + 400)
        .collect();
    for &i in &warm {
        w.process(LinkType::Ethernet, frames[i].0, i as u64, &frames[i].1);
    }
    let measured: Vec<usize> = (tcp_end * 3 / 4..tcp_end)
        .chain(tcp_end + 4 + 400..frames.len())
        .collect();
    ALLOCS.store(0, Ordering::Relaxed);
    counting(true);
    for &i in &measured {
        let before = ALLOCS.load(Ordering::Relaxed);
        w.process(LinkType::Ethernet, frames[i].0, i as u64, &frames[i].1);
        if ALLOCS.load(Ordering::Relaxed) != before {
            counting(false);
            eprintln!("allocation at frame {i} (TCP frames end at {tcp_end})");
            counting(true);
        }
    }
    counting(false);
    let allocs = ALLOCS.load(Ordering::Relaxed);
    let stats = w.finish();
    writer.finish().unwrap();
    eprintln!(
        "{} packets measured ({} stream bytes in total), {allocs} allocations",
        measured.len(),
        stats.stream_bytes
    );
    assert!(
        stats.stream_bytes > 1_000_000,
        "the TCP data went through reassembly"
    );
    // A stream buffer may still grow once to a new high-water mark (amortised, per flow); a
    // per-packet allocation would show as thousands.
    assert!(
        allocs * 1000 <= measured.len() as u64,
        "{allocs} allocations for {} steady-state packets",
        measured.len()
    );
}
