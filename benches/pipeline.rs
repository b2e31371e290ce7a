//! Micro-benchmarks of the per-packet stages: decode, flow tracking, detection (prefilter plus
//! verification), EVE rendering, and one worker running the whole path.
//! Run: `cargo bench --bench pipeline`.

// criterion_group! generates public functions without doc comments.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use sekimori::decode::{decode, LinkType};
use sekimori::detect::mpm::MpmBuilder;
use sekimori::detect::rules::classification::Classifications;
use sekimori::detect::rules::{parse::parse_rule, Vars};
use sekimori::detect::{Engine, FlowFacts, View};
use sekimori::flow::stream::{Reassembler, StreamConfig};
use sekimori::flow::{FlowConfig, FlowTable};
use sekimori::output::eve::{render_alert, AlertInput};
use sekimori::output::{Backpressure, EveTarget, EveWriter};
use sekimori::runtime::worker::{ChecksumMode, Worker, WorkerConfig};
use sekimori::testgen::synth::{Frame, TcpSession};
use sekimori::tune::{AlertFacts, Decision, SigInfo, Tuner};

/// 200 HTTP-like sessions between distinct hosts.
fn traffic() -> Vec<Frame> {
    let mut frames = Vec::new();
    for i in 0..200u32 {
        let c = (
            Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8),
            40_000 + i as u16,
        );
        let s = (Ipv4Addr::new(198, 51, 100, (i % 250) as u8), 80);
        let mut sess = TcpSession::open(c, s, i64::from(i) * 1_000);
        let req = format!(
            "GET /index{i}.html HTTP/1.1\r\nHost: site{i}.example\r\nUser-Agent: bench\r\n\r\n"
        );
        sess.send(true, req.as_bytes()).send(false, &[b'x'; 1200]);
        frames.extend(sess.close());
    }
    frames
}

/// 1,000 content rules of the ET kind, none of which match the traffic above.
fn engine() -> Engine {
    let vars = Vars::suricata_defaults();
    let rules = (0..1000)
        .map(|i| {
            let text = format!(
                "alert tcp $HOME_NET any -> $EXTERNAL_NET $HTTP_PORTS (msg:\"r{i}\"; flow:established,to_server; \
                 content:\"/evil-path-{i}/\"; nocase; content:\"token{i}\"; distance:0; classtype:trojan-activity; sid:{};)",
                1_000_000 + i
            );
            parse_rule(&text, &vars).unwrap()
        })
        .collect();
    Engine::build(rules, &Classifications::bundled()).unwrap()
}

fn benches(c: &mut Criterion) {
    let frames = traffic();
    let bytes: u64 = frames.iter().map(|(_, f)| f.len() as u64).sum();
    let engine = Arc::new(engine());

    let mut g = c.benchmark_group("per_packet");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            for (_, f) in &frames {
                black_box(decode(LinkType::Ethernet, f).ok());
            }
        })
    });
    g.bench_function("decode+flow", |b| {
        b.iter(|| {
            let mut table = FlowTable::new(FlowConfig::default(), 0);
            for (ts, f) in &frames {
                if let Ok(p) = decode(LinkType::Ethernet, f) {
                    black_box(table.track(&p, *ts, true, &mut |_, _| {}).to_server);
                }
            }
        })
    });
    g.bench_function("detect_1000_rules", |b| {
        let mut ctx = engine.new_ctx().unwrap();
        let decoded: Vec<_> = frames
            .iter()
            .filter_map(|(_, f)| decode(LinkType::Ethernet, f).ok())
            .collect();
        let facts = FlowFacts {
            tracked: true,
            to_server: true,
            established: true,
            first_in_dir: false,
            stream_sizes: None,
            now: 0,
            app_proto: Default::default(),
            upgraded_from: Default::default(),
            stream_events: 0,
            proto_detected: false,
        };
        b.iter(|| {
            let mut n = 0u32;
            for p in &decoded {
                engine.inspect(
                    &mut ctx,
                    p,
                    facts,
                    None,
                    View::Packet {
                        stream_active: false,
                    },
                    |_| n += 1,
                );
            }
            black_box(n)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("worker");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("whole_path", |b| {
        let (writer, sender) =
            EveWriter::start(&EveTarget::File("/dev/null".into()), Backpressure::Block).unwrap();
        let cfg = WorkerConfig {
            checksums: ChecksumMode::No,
            ..WorkerConfig::default()
        };
        let mut w = Worker::new(0, engine.clone(), Default::default(), sender, cfg).unwrap();
        b.iter(|| {
            for (i, (ts, f)) in frames.iter().enumerate() {
                black_box(w.process(LinkType::Ethernet, *ts, i as u64, f));
            }
        });
        drop(w);
        writer.finish().unwrap();
    });
    g.finish();

    let mut g = c.benchmark_group("reassembly");
    let seg = vec![b'x'; 1460];
    g.throughput(Throughput::Bytes(1460 * 1000));
    g.bench_function("in_order_1000_segments", |b| {
        let cfg = StreamConfig::default();
        b.iter(|| {
            let mut r = Reassembler::default();
            r.set_isn(0);
            for i in 0..1000u32 {
                black_box(r.insert(1 + i * 1460, &seg, &cfg));
            }
        })
    });
    g.bench_function("pairwise_swapped_1000_segments", |b| {
        let cfg = StreamConfig::default();
        b.iter(|| {
            let mut r = Reassembler::default();
            r.set_isn(0);
            for i in (0..1000u32).step_by(2) {
                black_box(r.insert(1 + (i + 1) * 1460, &seg, &cfg));
                black_box(r.insert(1 + i * 1460, &seg, &cfg));
            }
        })
    });
    g.finish();

    let sig = &engine.sigs()[0];
    let p = decode(LinkType::Ethernet, &frames[3].1).unwrap();
    c.bench_function("eve_render_alert", |b| {
        let mut line = Vec::with_capacity(1024);
        b.iter(|| {
            line.clear();
            let input = AlertInput {
                ts: 1_700_000_000_000_000,
                pcap_cnt: 42,
                ip_version: 4,
                src: p.src,
                sport: Some(p.sport),
                dst: p.dst,
                dport: Some(p.dport),
                proto: p.proto,
                icmp: None,
                vlan: [0, 0],
                flow: None,
                blocked: false,
                tunnel: None,
                community_id: true,
                app: None,
                pseudo: false,
                tuned: None,
                var_names: None,
                pktvars: &[],
                intel: None,
                analytic: None,
            };
            render_alert(&mut line, &input, sig);
            black_box(line.len())
        })
    });

    // The Hyperscan prefilter alone: 1,000 fast patterns over one full-size payload.
    let mut builder = MpmBuilder::default();
    for i in 0..1000u32 {
        builder.add(format!("/evil-path-{i}/").as_bytes(), true, i);
    }
    let mpm = builder.build().unwrap().unwrap();
    let mut scratch = None;
    mpm.prepare_scratch(&mut scratch).unwrap();
    let scratch = scratch.unwrap();
    let payload: Vec<u8> = (0..1460u32)
        .map(|i| b"GET /index.html abcdefgh"[i as usize % 24])
        .collect();
    let mut g = c.benchmark_group("prefilter");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.bench_function("scan_1460_bytes_1000_patterns", |b| {
        b.iter(|| {
            let mut n = 0;
            mpm.scan(black_box(&payload), &scratch, |r, _| n += r.len())
                .unwrap();
            black_box(n)
        })
    });
    g.finish();

    // Tuning one alert: suppression check, override lookup with networks, asset impact.
    let infos: Vec<SigInfo<'_>> = engine.sigs().iter().map(SigInfo::from).collect();
    let tuning = r#"
[[asset]]
name = "dmz"
networks = ["198.51.100.0/24"]
criticality = "high"
roles = ["Web_Server"]
[[override]]
classtype = "trojan-activity"
dst = ["198.51.100.0/25"]
severity = "Critical"
[[suppress]]
sid = 1000001
track = "by_src"
ip = ["192.0.2.0/24"]
"#;
    let tuner = Tuner::from_texts(
        &[("bench.toml".into(), tuning.to_string())],
        &infos,
        &Vars::suricata_defaults(),
    )
    .unwrap();
    let facts = AlertFacts {
        src: "10.0.0.1".parse().unwrap(),
        dst: "198.51.100.7".parse().unwrap(),
        target: "198.51.100.7".parse().unwrap(),
        target_port: Some(80),
    };
    c.bench_function("tune_decide_alert", |b| {
        b.iter(|| match tuner.decide(black_box(1), &facts) {
            Decision::Suppressed(_) => 0u8,
            Decision::Alert(t) => t.severity as u8,
        })
    });
}

/// Intel with 1,000,000 addresses and 1,000,000 domains loaded: one flow's address lookup
/// (both ends, a miss), and a runtime add and remove, each published to the workers (what
/// `ctl intel add|remove` costs besides the socket).
fn intel(c: &mut Criterion) {
    use sekimori::detect::intel::{Kind, ListSpec, Store};
    let dir = std::env::temp_dir().join(format!("sekimori-bench-intel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ips, domains) = (dir.join("ips.lst"), dir.join("domains.lst"));
    let mut a = String::with_capacity(16_000_000);
    let mut d = String::with_capacity(24_000_000);
    for i in 0..1_000_000u32 {
        a.push_str(&format!("{}\n", Ipv4Addr::from(0x2d00_0000 + i * 7)));
        d.push_str(&format!("host{i}.bad{}.example\n", i % 977));
    }
    std::fs::write(&ips, a).unwrap();
    std::fs::write(&domains, d).unwrap();
    let spec = |name: &str, kind, file, sid| ListSpec {
        file: Some(file),
        ..ListSpec::new(name, kind, sid)
    };
    let store = Store::open(
        vec![
            spec("ips", Kind::Ip, ips, 9_100_001),
            spec("domains", Kind::Domain, domains, 9_100_002),
        ],
        None,
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let snap = store.snapshot();
    let mut g = c.benchmark_group("intel_2M_indicators");
    let (src, dst) = ("10.0.0.1".parse().unwrap(), "198.51.100.7".parse().unwrap());
    let mut out = Vec::new();
    g.bench_function("flow_addresses_miss", |b| {
        b.iter(|| {
            out.clear();
            snap.match_addrs(black_box(src), black_box(dst), 0, |_| false, &mut out);
            out.len()
        })
    });
    // With 1,000 runtime adds already there (each update copies that small table).
    for i in 0..1000u32 {
        store
            .add("ips", &Ipv4Addr::from(0x0a00_0000 + i).to_string(), None)
            .unwrap();
    }
    g.bench_function("ctl_add_then_remove_publish", |b| {
        b.iter(|| {
            store.add("ips", "192.0.2.77", Some(60)).unwrap();
            store.remove("ips", "192.0.2.77").unwrap().len()
        })
    });
    g.finish();
}

criterion_group!(pipeline, benches, intel);
criterion_main!(pipeline);
