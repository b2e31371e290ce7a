//! Stage 4: the app layer. Each stream direction's data reaches the flow's parser when it is
//! released (acknowledged by the peer in IDS mode, at once inline); a UDP datagram reaches it
//! directly. A FIN lets the parser finish its direction. Parser memory is counted against the
//! app-layer memcap; malformed data becomes an `applayer` anomaly.

use super::events::Events;
use super::stream::{closing, release_to};
use super::WorkerConfig;
use crate::applayer::expect::Expectations;
use crate::applayer::{AppProto, AppStats};
use crate::decode::{tcp_flags, Packet};
use crate::detect::FlowFacts;
use crate::flow::Flow;

/// Hands the parser what this packet releases. Returns whether a transaction progressed.
/// `mem`: the worker's parser bytes, counted against `app_layer.memcap`; `expect`: the
/// connections control sessions announced (a new flow to one of them starts its parser).
#[allow(clippy::too_many_arguments)]
pub(super) fn parse(
    f: &mut Flow,
    p: &Packet<'_>,
    dir: usize,
    stream_active: bool,
    cfg: &WorkerConfig,
    mem: &mut usize,
    expect: &mut Expectations,
    stats: &mut AppStats,
    facts: &mut FlowFacts,
    ev: &mut Events<'_>,
) -> bool {
    if f.app.proto == AppProto::Unknown && f.proto == 6 && !expect.is_empty() {
        if let Some(e) = expect.take(f.server.0, f.server.1, facts.now) {
            f.app.start_expected(&e, &cfg.app, stats);
        }
    }
    let errors_before = stats.parse_errors;
    let heap_before = f.app.heap();
    let mut progressed = false;
    let Flow { streams, app, .. } = &mut *f;
    match (stream_active, streams.as_deref_mut()) {
        (true, Some(st)) => {
            // The parser gets each direction's data as the peer acknowledges it (on the
            // acknowledging packet), as Suricata does in IDS mode; inline, at once.
            let closing = closing(p);
            for d in [1 - dir, dir] {
                let upto = release_to(&st[d], cfg, d == dir, closing, st[d].app_off);
                if upto <= st[d].app_off {
                    continue;
                }
                if let Some((_, end)) = st[d].range(0, upto) {
                    let window = &st[d].window()[..end];
                    let over = *mem > cfg.app.memcap;
                    if app.on_stream(d, window, st[d].window_off(), &cfg.app, over, stats) {
                        // A message the parser finished is inspected on the raw stream at
                        // once, where Suricata's parser triggers raw reassembly (its SMB
                        // parser does not).
                        st[d].raw_trigger |= app.triggers_raw();
                        progressed = true;
                    }
                }
                st[d].app_off = upto;
            }
        }
        _ if p.proto == 17 && !p.payload.is_empty() => {
            progressed |= app.on_datagram(dir, p.payload, &cfg.app, stats);
        }
        _ => {}
    }
    // A FIN ends its direction: the parser finishes what the close completes (once the
    // direction's data is all in order). A RST does not end the parsers: data after it (an
    // injected RST, as Suricata's suspected_rst_inject) is still parsed; the flow's end
    // completes what is left.
    if let (Some(tcp), Some(st)) = (p.tcp, f.streams.as_deref()) {
        let s = &st[dir];
        if tcp.flags & tcp_flags::FIN != 0 && s.pending() == 0 && s.app_off >= s.next_off() {
            progressed |= f.app.on_close(dir, &cfg.app, stats);
        }
    }
    if progressed && f.app.proto == AppProto::Ftp {
        let mut announced = Vec::new();
        f.app.take_expectations(&mut announced);
        for e in announced {
            let addr = if e.on_server { f.server.0 } else { f.client.0 };
            if expect.insert(addr, e, facts.now) {
                stats.expect_evicted += 1;
            }
        }
    }
    if progressed {
        f.app.check_encrypted(stats);
    }
    *mem = (*mem + f.app.heap()).saturating_sub(heap_before);
    facts.app_proto = f.app.detected();
    facts.proto_detected = f.app.newly_detected();
    facts.upgraded_from = f.app.upgraded_from.unwrap_or_default();
    f.app.was_established |= facts.established;
    if stats.parse_errors > errors_before {
        // Malformed app-layer data: one anomaly per packet that brought some.
        let event = match f.app.proto.protocol() {
            Some(proto) => proto.parser_error_event,
            None => "applayer.parser_error",
        };
        ev.anomaly(Some((p, Some(f.id))), "applayer", event);
    }
    progressed
}
