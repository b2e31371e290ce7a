//! Prometheus metrics: a [`Board`] the runtime keeps current (worker snapshots about once a
//! second, capture counters, reloads, sinks) and a small HTTP endpoint that renders it in the
//! text exposition format on `GET /metrics`.
//!
//! The packet path never touches the board: workers hand it a snapshot from their
//! housekeeping, and the endpoint renders from the last snapshots on its own thread.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::SinkView;
use crate::applayer::PROTOCOLS;
use crate::decode::DecodeError;
use crate::stats::WorkerStats;

/// Rule counts of the running engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct RuleCounts {
    /// Rules running.
    pub loaded: u64,
    /// Rules that failed to parse.
    pub failed: u64,
    /// Rules parsed but not supported.
    pub unsupported: u64,
    /// Rules waiting for engine parts not built yet.
    pub waiting: u64,
}

/// Capture counters (live runs).
#[derive(Clone, Copy, Debug, Default)]
pub struct CaptureCounts {
    /// Frames the kernel delivered.
    pub received: u64,
    /// Frames the kernel dropped (buffer full).
    pub kernel_dropped: u64,
    /// Frames the interface dropped.
    pub if_dropped: u64,
    /// Frames dropped because a worker's ring was full.
    pub ring_dropped: u64,
}

#[derive(Default)]
struct State {
    workers: Vec<Option<WorkerStats>>,
    capture: Option<CaptureCounts>,
    reloads: (u64, u64),
    /// Success and wall time (seconds) of the last reload.
    last_reload: Option<(bool, u64)>,
    rules: RuleCounts,
    files: Option<(u64, u64)>,
    /// The incident engine's counts and open incidents.
    incidents: Option<(crate::incident::Counts, usize)>,
}

/// What the metrics endpoint shows.
pub struct Board {
    mode: &'static str,
    started: Instant,
    sinks: Mutex<Vec<SinkView>>,
    state: Mutex<State>,
    /// The intel store (its figures are read live).
    intel: Mutex<Option<std::sync::Arc<crate::detect::intel::Store>>>,
}

impl Board {
    /// A board for `workers` workers; `mode` is `replay` or `live`.
    pub fn new(mode: &'static str, workers: usize, rules: RuleCounts) -> Board {
        Board {
            mode,
            started: Instant::now(),
            sinks: Mutex::new(Vec::new()),
            intel: Mutex::new(None),
            state: Mutex::new(State {
                workers: vec![None; workers],
                rules,
                ..State::default()
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The running sinks (their counters are read live).
    pub fn set_sinks(&self, sinks: &[SinkView]) {
        *self.sinks.lock().unwrap_or_else(|p| p.into_inner()) = sinks.to_vec();
    }

    /// The incident engine's latest counts and open incidents.
    pub fn set_incidents(&self, c: Option<(crate::incident::Counts, usize)>) {
        self.state().incidents = c;
    }

    /// The intel store whose per-list figures the endpoint shows.
    pub fn set_intel(&self, store: std::sync::Arc<crate::detect::intel::Store>) {
        *self.intel.lock().unwrap_or_else(|p| p.into_inner()) = Some(store);
    }

    /// A worker's latest counters.
    pub fn set_worker(&self, id: usize, s: WorkerStats) {
        let mut st = self.state();
        if let Some(slot) = st.workers.get_mut(id) {
            *slot = Some(s);
        }
    }

    /// Capture counters summed over interfaces.
    pub fn set_capture(&self, c: CaptureCounts) {
        self.state().capture = Some(c);
    }

    /// Reloads done and failed, and whether the last one (if any) succeeded.
    pub fn set_reloads(&self, done: u64, failed: u64, last_ok: Option<bool>) {
        let mut st = self.state();
        st.reloads = (done, failed);
        if let Some(ok) = last_ok {
            st.last_reload = Some((ok, crate::common::time::now_micros() as u64 / 1_000_000));
        }
    }

    /// Rule counts after a reload.
    pub fn set_rules(&self, r: RuleCounts) {
        self.state().rules = r;
    }

    /// Replay progress: capture files done of all.
    pub fn set_files(&self, done: u64, total: u64) {
        self.state().files = Some((done, total));
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let st = self.state();
        let mut w = WorkerStats::default();
        for s in st.workers.iter().flatten() {
            w.merge(s);
        }
        let mut m = Metrics::default();
        if let Some((c, open)) = &st.incidents {
            m.counter(
                "sekimori_incident_alerts_total",
                "Alerts grouped into incidents.",
                &[],
                c.alerts,
            );
            for (event, n) in [
                ("opened", c.opened),
                ("escalated", c.escalations),
                ("closed", c.closed),
                ("evicted", c.evicted),
            ] {
                m.counter(
                    "sekimori_incidents_total",
                    "Incident events: opened, escalated, closed (evicted: closed at the cap).",
                    &[("event", event)],
                    n,
                );
            }
            m.gauge(
                "sekimori_incidents_open",
                "Incidents open now.",
                &[],
                *open as u64,
            );
            for (outcome, n) in [("sent", c.notifications), ("capped", c.capped)] {
                m.counter(
                    "sekimori_incident_notifications_total",
                    "Notifications sent, and held back by the hourly cap.",
                    &[("outcome", outcome)],
                    n,
                );
            }
        }
        let intel = self.intel.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for l in intel.map(|s| s.stats()).unwrap_or_default() {
            let labels = [("list", l.name.as_str()), ("kind", l.kind)];
            m.gauge(
                "sekimori_intel_indicators",
                "Indicators in force per intel list.",
                &labels,
                l.indicators as u64,
            );
            m.counter(
                "sekimori_intel_hits_total",
                "Alerts raised by each intel list.",
                &labels,
                l.hits,
            );
            m.counter(
                "sekimori_intel_rejects_total",
                "Malformed list lines and values refused per intel list.",
                &labels,
                l.rejects,
            );
            m.counter(
                "sekimori_intel_expired_total",
                "Indicators dropped at their expiry per intel list.",
                &labels,
                l.expired,
            );
            m.gauge(
                "sekimori_intel_updated_seconds",
                "Unix time of the last change to each intel list.",
                &labels,
                l.updated,
            );
        }
        m.gauge(
            "sekimori_info",
            "Sensor version and run mode.",
            &[("version", env!("CARGO_PKG_VERSION")), ("mode", self.mode)],
            1,
        );
        m.gauge(
            "sekimori_uptime_seconds",
            "Seconds since the run started.",
            &[],
            self.started.elapsed().as_secs(),
        );
        m.gauge(
            "sekimori_workers_reporting",
            "Workers whose counters are included.",
            &[],
            st.workers.iter().flatten().count() as u64,
        );
        if let Some((done, total)) = st.files {
            m.gauge(
                "sekimori_replay_files_done",
                "Capture files read so far.",
                &[],
                done,
            );
            m.gauge(
                "sekimori_replay_files",
                "Capture files to read.",
                &[],
                total,
            );
        }
        if let Some(c) = st.capture {
            let h = "Frames by capture outcome.";
            m.counter(
                "sekimori_capture_frames_total",
                h,
                &[("outcome", "received")],
                c.received,
            );
            m.counter(
                "sekimori_capture_frames_total",
                h,
                &[("outcome", "kernel_dropped")],
                c.kernel_dropped,
            );
            m.counter(
                "sekimori_capture_frames_total",
                h,
                &[("outcome", "interface_dropped")],
                c.if_dropped,
            );
            m.counter(
                "sekimori_capture_frames_total",
                h,
                &[("outcome", "ring_dropped")],
                c.ring_dropped,
            );
        }
        m.counter(
            "sekimori_packets_total",
            "Packets handed to workers.",
            &[],
            w.packets,
        );
        m.counter(
            "sekimori_bytes_total",
            "Captured bytes handed to workers.",
            &[],
            w.bytes,
        );
        m.counter(
            "sekimori_packets_inspected_total",
            "Packets decoded and inspected.",
            &[],
            w.inspected,
        );
        for (r, n) in DecodeError::ALL.iter().zip(w.decode_errors.iter()) {
            m.counter(
                "sekimori_packets_not_inspected_total",
                "Packets that could not be decoded, by reason.",
                &[("reason", r.name())],
                *n,
            );
        }
        let d = "Packets by decoder finding or inline verdict.";
        for (k, n) in [
            ("truncated", w.truncated),
            ("decoder_event", w.decoder_events),
            ("bad_checksum", w.bad_checksum),
            ("tunneled", w.tunneled),
            ("passed", w.passed),
            ("dropped", w.dropped),
            ("rejected", w.rejected),
        ] {
            m.counter("sekimori_packets_flagged_total", d, &[("kind", k)], n);
        }
        let f = &w.flow;
        let h = "Flows by what happened to them.";
        for (k, n) in [
            ("created", f.created),
            ("timed_out", f.timed_out),
            ("evicted", f.evicted),
            ("no_room", f.no_room),
        ] {
            m.counter("sekimori_flows_total", h, &[("event", k)], n);
        }
        m.counter(
            "sekimori_flow_emergencies_total",
            "Times the flow table entered emergency mode.",
            &[],
            f.emergencies,
        );
        m.gauge(
            "sekimori_flows_active",
            "Flows in the tables at the last snapshot.",
            &[],
            w.active_flows,
        );
        let df = &w.defrag;
        let h = "IP fragments and datagrams by defragmentation outcome.";
        for (k, n) in [
            ("fragments", df.fragments),
            ("reassembled", df.reassembled),
            ("overlap_diff", df.overlap_diff),
            ("timed_out", df.timeouts),
            ("refused", df.refused),
        ] {
            m.counter("sekimori_defrag_total", h, &[("event", k)], n);
        }
        m.counter(
            "sekimori_stream_bytes_total",
            "TCP payload bytes reassembled and inspected.",
            &[],
            w.stream_bytes,
        );
        let se = &w.stream_events;
        let h = "TCP stream anomalies and limits.";
        for (k, n) in [
            ("gap", u64::from(se.gaps)),
            ("overlap_diff", u64::from(se.overlap_diff)),
            ("ooo_refused", u64::from(se.ooo_refused)),
            ("memcap", w.stream_memcap),
        ] {
            m.counter("sekimori_stream_events_total", h, &[("event", k)], n);
        }
        m.counter(
            "sekimori_stream_depth_bytes_total",
            "Stream bytes past the reassembly depth.",
            &[],
            se.depth_bytes,
        );
        let a = &w.app;
        for (i, p) in PROTOCOLS.iter().enumerate() {
            m.counter(
                "sekimori_app_flows_total",
                "Flows whose app-layer protocol was detected.",
                &[("proto", p.name())],
                a.detected[i],
            );
            m.counter(
                "sekimori_app_transactions_total",
                "App-layer transactions parsed.",
                &[("proto", p.name())],
                a.txs[i],
            );
        }
        m.counter(
            "sekimori_app_undetected_flows_total",
            "Flows with payload whose protocol was not recognised.",
            &[],
            a.failed,
        );
        m.counter(
            "sekimori_app_parse_errors_total",
            "App-layer parser errors.",
            &[],
            a.parse_errors,
        );
        m.counter(
            "sekimori_app_missed_bytes_total",
            "Stream bytes the app layer could not parse (gaps).",
            &[],
            a.missed_bytes,
        );
        m.counter(
            "sekimori_app_memcap_skips_total",
            "Parses skipped at the app-layer memcap.",
            &[],
            a.memcap_skips,
        );
        m.counter("sekimori_alerts_total", "Alerts raised.", &[], w.alerts);
        for (label, n) in ["Informational", "Medium", "Serious", "Critical"]
            .iter()
            .zip(w.by_severity)
        {
            m.counter(
                "sekimori_alerts_by_severity_total",
                "Alerts by tuned severity (zero without tuning).",
                &[("severity", label)],
                n,
            );
        }
        m.counter(
            "sekimori_alerts_suppressed_total",
            "Alerts suppressed by tuning.",
            &[],
            w.suppressed,
        );
        m.counter(
            "sekimori_alerts_thresholded_total",
            "Matches not alerted by threshold or detection_filter.",
            &[],
            w.thresholded,
        );
        m.counter(
            "sekimori_eve_queue_dropped_total",
            "Events dropped between workers and the output thread.",
            &[],
            w.eve_dropped,
        );
        for s in self.sinks.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let c = &s.counters;
            let l = [("sink", s.name.as_str()), ("kind", s.kind)];
            let ld = |x: &std::sync::atomic::AtomicU64| x.load(Ordering::Relaxed);
            m.counter(
                "sekimori_sink_events_total",
                "Events a sink wrote.",
                &l,
                ld(&c.written),
            );
            m.counter(
                "sekimori_sink_bytes_total",
                "Bytes a sink wrote.",
                &l,
                ld(&c.bytes),
            );
            m.counter(
                "sekimori_sink_dropped_total",
                "Events a sink dropped at a full queue.",
                &l,
                ld(&c.dropped),
            );
            m.counter(
                "sekimori_sink_lost_total",
                "Events lost to write errors or refused by the peer.",
                &l,
                ld(&c.lost),
            );
            m.counter(
                "sekimori_sink_failures_total",
                "Failed writes or connection attempts.",
                &l,
                ld(&c.failures),
            );
            m.counter(
                "sekimori_sink_reconnects_total",
                "Reconnections after the peer came back.",
                &l,
                ld(&c.reconnects),
            );
            m.gauge(
                "sekimori_sink_up",
                "Whether the sink is connected and writing.",
                &l,
                u64::from(c.connected.load(Ordering::Relaxed)),
            );
            m.gauge(
                "sekimori_sink_queued",
                "Events waiting in the sink's queue.",
                &l,
                ld(&c.queued),
            );
        }
        let h = "Rule reloads by result.";
        m.counter(
            "sekimori_reloads_total",
            h,
            &[("result", "ok")],
            st.reloads.0,
        );
        m.counter(
            "sekimori_reloads_total",
            h,
            &[("result", "failed")],
            st.reloads.1,
        );
        if let Some((ok, at)) = st.last_reload {
            m.gauge(
                "sekimori_last_reload_success",
                "Whether the last reload succeeded.",
                &[],
                u64::from(ok),
            );
            m.gauge(
                "sekimori_last_reload_timestamp_seconds",
                "When the last reload ran.",
                &[],
                at,
            );
        }
        let r = st.rules;
        let h = "Rules of the running engine by state.";
        for (k, n) in [
            ("running", r.loaded),
            ("failed", r.failed),
            ("unsupported", r.unsupported),
            ("waiting", r.waiting),
        ] {
            m.gauge("sekimori_rules", h, &[("state", k)], n);
        }
        m.finish()
    }
}

/// Builds the exposition text: HELP and TYPE once per family, then its samples.
#[derive(Default)]
struct Metrics {
    out: String,
    families: Vec<(&'static str, String)>,
}

impl Metrics {
    fn sample(
        &mut self,
        kind: &str,
        name: &'static str,
        help: &str,
        labels: &[(&str, &str)],
        v: u64,
    ) {
        let idx = match self.families.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.families.push((
                    name,
                    format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"),
                ));
                self.families.len() - 1
            }
        };
        let body = &mut self.families[idx].1;
        body.push_str(name);
        if !labels.is_empty() {
            body.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                let _ = write!(body, "{k}=\"");
                for ch in val.chars() {
                    match ch {
                        '\\' => body.push_str("\\\\"),
                        '"' => body.push_str("\\\""),
                        '\n' => body.push_str("\\n"),
                        c => body.push(c),
                    }
                }
                body.push('"');
            }
            body.push('}');
        }
        let _ = writeln!(body, " {v}");
    }

    fn counter(&mut self, name: &'static str, help: &str, labels: &[(&str, &str)], v: u64) {
        self.sample("counter", name, help, labels, v);
    }

    fn gauge(&mut self, name: &'static str, help: &str, labels: &[(&str, &str)], v: u64) {
        self.sample("gauge", name, help, labels, v);
    }

    fn finish(mut self) -> String {
        for (_, body) in self.families.drain(..) {
            self.out.push_str(&body);
        }
        self.out
    }
}

/// The endpoint's thread.
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    /// The bound address (the port, when 0 was asked for).
    pub addr: SocketAddr,
}

impl MetricsServer {
    /// Binds `addr` and serves `board` until dropped.
    pub fn start(addr: &str, board: Arc<Board>) -> Result<MetricsServer, String> {
        let l = TcpListener::bind(addr).map_err(|e| format!("metrics.listen {addr}: {e}"))?;
        let bound = l.local_addr().map_err(|e| e.to_string())?;
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((s, _)) => serve(s, &board),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20))
                        }
                        Err(e) => {
                            tracing::warn!("metrics: {e}");
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        tracing::info!("metrics on http://{bound}/metrics");
        Ok(MetricsServer {
            stop,
            handle: Some(handle),
            addr: bound,
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Answers one request (HTTP/1.x, one per connection).
fn serve(mut s: TcpStream, board: &Board) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let mut req = [0u8; 4096];
    let mut n = 0;
    while n < req.len() {
        match s.read(&mut req[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                n += k;
                if req[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let line = req[..n].split(|&b| b == b'\n').next().unwrap_or(b"");
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next().unwrap_or(b""), parts.next().unwrap_or(b""));
    let path = path.split(|&b| b == b'?').next().unwrap_or(b"");
    let (status, ctype, body) = match (method, path) {
        (b"GET" | b"HEAD", b"/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            board.render(),
        ),
        (b"GET" | b"HEAD", b"/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "sekimori: metrics at /metrics\n".to_string(),
        ),
        (b"GET" | b"HEAD", _) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    if method != b"HEAD" {
        let _ = s.write_all(body.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_one_help_per_family_and_escaped_labels() {
        let b = Board::new(
            "replay",
            2,
            RuleCounts {
                loaded: 5,
                ..Default::default()
            },
        );
        let mut w = WorkerStats {
            packets: 10,
            alerts: 3,
            ..Default::default()
        };
        b.set_worker(0, w.clone());
        w.packets = 7;
        b.set_worker(1, w);
        b.set_worker(9, WorkerStats::default());
        let t = b.render();
        assert!(t.contains("\nsekimori_packets_total 17\n"), "{t}");
        assert!(t.contains("\nsekimori_alerts_total 6\n"));
        assert!(t.contains("sekimori_rules{state=\"running\"} 5\n"));
        assert_eq!(
            t.matches("# TYPE sekimori_app_flows_total counter").count(),
            1
        );
        assert!(t.contains("sekimori_app_flows_total{proto=\"http\"} 0"));
        let mut m = Metrics::default();
        m.gauge("x", "h", &[("a", "q\"\\\n")], 1);
        assert_eq!(
            m.finish(),
            "# HELP x h\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\"} 1\n"
        );
        // Every sample line is `name{labels} value` or `name value`.
        for l in t.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').unwrap();
            assert!(v.parse::<u64>().is_ok(), "{l}");
        }
    }
}
