//! EVE JSON lines, in Suricata's field names and formats.
//!
//! Workers render each event into a reused byte buffer (no serde tree, no allocation once the
//! buffer has grown) and hand the finished line to the writer thread.

use std::io::Write;
use std::net::IpAddr;

use crate::applayer::{AppProto, TxRef};
use crate::common::json::{push_json_bytes, push_json_str, push_key};
use crate::detect::rules::{Action, Target};
use crate::detect::{Sig, VarNames};
use crate::flow::{EndReason, Flow, Micros, TcpState};
use crate::output::community_id::community_id_bytes;
use crate::tune::{Adjust, Tuned};

pub use crate::common::time::push_timestamp;

/// Suricata's protocol names for EVE `proto`.
pub fn proto_name(proto: u8) -> Option<&'static str> {
    Some(match proto {
        1 => "ICMP",
        2 => "IGMP",
        4 => "IP-in-IP",
        6 => "TCP",
        17 => "UDP",
        41 => "IPv6",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        58 => "IPv6-ICMP",
        103 => "PIM",
        132 => "SCTP",
        _ => return None,
    })
}

/// The outer packet of a tunnel, logged as EVE `tunnel` on packets decoded from inside it.
#[derive(Clone, Copy, Debug)]
pub struct Tunnel {
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// Outer source port (UDP tunnels).
    pub sport: Option<u16>,
    /// Outer destination port (UDP tunnels).
    pub dport: Option<u16>,
    /// Outer IP protocol.
    pub proto: u8,
    /// Outer IP version.
    pub outer_version: u8,
    /// Nesting depth (1 = directly inside the captured packet).
    pub depth: u8,
}

/// The packet facts an alert line needs.
pub struct AlertInput<'a> {
    /// Packet time.
    pub ts: Micros,
    /// 1-based packet number in the replay.
    pub pcap_cnt: u64,
    /// IP version.
    pub ip_version: u8,
    /// Source address.
    pub src: IpAddr,
    /// Source port (None for protocols without ports).
    pub sport: Option<u16>,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dport: Option<u16>,
    /// IP protocol.
    pub proto: u8,
    /// ICMP type/code.
    pub icmp: Option<(u8, u8)>,
    /// VLAN ids (0 = none).
    pub vlan: [u16; 2],
    /// The packet's flow and whether it goes to the server.
    pub flow: Option<(&'a Flow, bool)>,
    /// Whether the verdict blocked the packet (IPS drop/reject).
    pub blocked: bool,
    /// The tunnel the packet came out of.
    pub tunnel: Option<&'a Tunnel>,
    /// Add `community_id`.
    pub community_id: bool,
    /// The app-layer transaction the alert is on.
    pub app: Option<TxRef<'a>>,
    /// Raised when the flow ended (no packet): `pkt_src` says "stream (flow timeout)".
    pub pseudo: bool,
    /// The SOC's tuning of this alert: sets `alert.severity` and adds the `sekimori` object.
    pub tuned: Option<Tuned<'a>>,
    /// Names of flow variables: the flow's flowbits and flow integers are logged in
    /// `metadata`, as Suricata does.
    pub var_names: Option<&'a VarNames>,
    /// Packet variables pcre captures set on the packet.
    pub pktvars: &'a [(std::sync::Arc<str>, Vec<u8>)],
    /// An intel list's hit: what matched, and the list (adds `sekimori.intel`).
    pub intel: Option<(
        &'a crate::detect::intel::Hit,
        &'a crate::detect::intel::ListSpec,
    )>,
    /// An analytic's finding (adds `sekimori.analytic`).
    pub analytic: Option<&'a crate::detect::analytics::Finding>,
}

/// The flow of a transaction event.
#[derive(Clone, Copy, Debug)]
pub struct TxFlow {
    /// Flow id.
    pub id: u64,
    /// IP protocol.
    pub proto: u8,
    /// The client's address and port.
    pub client: (IpAddr, u16),
    /// The server's address and port.
    pub server: (IpAddr, u16),
}

impl TxFlow {
    /// The event fields of flow `f`.
    pub fn of(f: &Flow) -> TxFlow {
        TxFlow {
            id: f.id,
            proto: f.proto,
            client: f.client,
            server: f.server,
        }
    }
}

/// Renders an app-layer transaction event (`event_type` = the protocol's name), oriented
/// from the client to the server, or from the server for what it sent (a DNS response).
pub fn render_app_event(
    out: &mut Vec<u8>,
    ts: Micros,
    f: TxFlow,
    tx: TxRef<'_>,
    community_id: bool,
) {
    let (src, dst) = if tx.sent_by_client() {
        (f.client, f.server)
    } else {
        (f.server, f.client)
    };
    let kind = tx.proto().protocol().map_or("unknown", |p| p.event_type());
    push_flow_event_head(out, ts, &f, kind, (src, dst), community_id);
    let _ = write!(out, ",\"tx_id\":{}", tx.id());
    tx.write_eve(out);
    out.extend_from_slice(b"}\n");
}

/// Renders a `fileinfo` event: the file, oriented in the direction its bytes flowed, with its
/// transaction's protocol object. `shown`: the state to report (a file still open when its
/// flow ended is truncated) and whether it went to the file store.
pub fn render_fileinfo(
    out: &mut Vec<u8>,
    ts: Micros,
    f: TxFlow,
    tx: TxRef<'_>,
    file: &crate::applayer::File,
    shown: (crate::applayer::FileState, bool),
    community_id: bool,
) {
    let (src, dst) = if file.to_server {
        (f.client, f.server)
    } else {
        (f.server, f.client)
    };
    push_flow_event_head(out, ts, &f, "fileinfo", (src, dst), community_id);
    let _ = write!(out, ",\"app_proto\":\"{}\"", tx.proto().name());
    tx.write_eve(out);
    out.extend_from_slice(b",\"fileinfo\":");
    file.write_eve_as(out, shown.0, shown.1);
    out.extend_from_slice(b"}\n");
}

/// Opens an event about a flow's transaction or file: time, flow id, type, the endpoints in
/// the given orientation, protocol and Community ID.
fn push_flow_event_head(
    out: &mut Vec<u8>,
    ts: Micros,
    f: &TxFlow,
    kind: &str,
    (src, dst): ((IpAddr, u16), (IpAddr, u16)),
    community_id: bool,
) {
    out.extend_from_slice(b"{\"timestamp\":");
    push_timestamp(out, ts);
    let _ = write!(
        out,
        ",\"flow_id\":{},\"event_type\":\"{kind}\",\"src_ip\":",
        f.id
    );
    push_ip(out, src.0);
    let _ = write!(out, ",\"src_port\":{},\"dest_ip\":", src.1);
    push_ip(out, dst.0);
    let _ = write!(out, ",\"dest_port\":{}", dst.1);
    push_proto(out, f.proto);
    if community_id {
        out.extend_from_slice(b",\"community_id\":\"");
        out.extend_from_slice(&community_id_bytes(src.0, dst.0, f.proto, src.1, dst.1));
        out.push(b'"');
    }
}

/// Appends `,"files":[...]`: the files of an alert's transaction.
fn push_files(out: &mut Vec<u8>, files: &[crate::applayer::File]) {
    if files.is_empty() {
        return;
    }
    out.extend_from_slice(b",\"files\":[");
    for (i, f) in files.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        f.write_eve(out);
    }
    out.push(b']');
}

/// Appends `,"app_proto":"..."` for a flow whose protocol was probed.
fn push_app_proto(out: &mut Vec<u8>, f: &Flow) {
    if f.app.proto != AppProto::Unknown {
        let _ = write!(out, ",\"app_proto\":\"{}\"", f.app.detected().name());
    }
}

/// Appends `,"proto":"TCP"` (Suricata's name, or the number for others).
fn push_proto(out: &mut Vec<u8>, proto: u8) {
    match proto_name(proto) {
        Some(n) => {
            let _ = write!(out, ",\"proto\":\"{n}\"");
        }
        None => {
            let _ = write!(out, ",\"proto\":\"{proto}\"");
        }
    }
}

/// Appends an address as Suricata writes it: dotted IPv4, IPv6 as eight 4-digit groups.
pub fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let _ = write!(out, "\"{v4}\"");
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let _ = write!(
                out,
                "\"{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}\"",
                s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
            );
        }
    }
}

/// Renders one `alert` event line (with trailing newline) into `out`.
pub fn render_alert(out: &mut Vec<u8>, a: &AlertInput<'_>, sig: &Sig) {
    out.extend_from_slice(b"{\"timestamp\":");
    push_timestamp(out, a.ts);
    if let Some((f, _)) = a.flow {
        let _ = write!(out, ",\"flow_id\":{}", f.id);
    }
    let _ = write!(out, ",\"pcap_cnt\":{},\"event_type\":\"alert\"", a.pcap_cnt);
    if a.vlan[0] != 0 {
        let _ = write!(out, ",\"vlan\":[{}", a.vlan[0]);
        if a.vlan[1] != 0 {
            let _ = write!(out, ",{}", a.vlan[1]);
        }
        out.push(b']');
    }
    out.extend_from_slice(b",\"src_ip\":");
    push_ip(out, a.src);
    if let Some(p) = a.sport {
        let _ = write!(out, ",\"src_port\":{p}");
    }
    out.extend_from_slice(b",\"dest_ip\":");
    push_ip(out, a.dst);
    if let Some(p) = a.dport {
        let _ = write!(out, ",\"dest_port\":{p}");
    }
    let _ = write!(out, ",\"ip_v\":{}", a.ip_version);
    push_proto(out, a.proto);
    if let Some((t, c)) = a.icmp {
        let _ = write!(out, ",\"icmp_type\":{t},\"icmp_code\":{c}");
    }
    match a.tunnel {
        None if a.pseudo => out.extend_from_slice(b",\"pkt_src\":\"stream (flow timeout)\""),
        None => out.extend_from_slice(b",\"pkt_src\":\"wire/pcap\""),
        Some(t) => {
            let src = if t.outer_version == 6 {
                "ipv6 tunnel"
            } else {
                "ipv4 tunnel"
            };
            let _ = write!(out, ",\"pkt_src\":\"{src}\",\"tunnel\":{{\"src_ip\":");
            push_ip(out, t.src);
            out.extend_from_slice(b",\"dest_ip\":");
            push_ip(out, t.dst);
            if let (Some(sp), Some(dp)) = (t.sport, t.dport) {
                let _ = write!(out, ",\"src_port\":{sp},\"dest_port\":{dp}");
            }
            let name = proto_name(t.proto).unwrap_or("unknown");
            let _ = write!(out, ",\"proto\":\"{name}\",\"depth\":{}}}", t.depth);
        }
    }
    if let Some((_, to_server)) = a.flow {
        let dir = if to_server { "to_server" } else { "to_client" };
        let _ = write!(out, ",\"direction\":\"{dir}\"");
    }
    if a.community_id {
        let (sp, dp) = match (a.sport, a.dport, a.icmp) {
            (Some(s), Some(d), _) => (s, d),
            (_, _, Some((t, c))) => (u16::from(t), u16::from(c)),
            _ => (0, 0),
        };
        out.extend_from_slice(b",\"community_id\":\"");
        out.extend_from_slice(&community_id_bytes(a.src, a.dst, a.proto, sp, dp));
        out.push(b'"');
    }
    if let Some((f, _)) = a.flow {
        push_app_proto(out, f);
    }
    if let Some(tx) = a.app {
        let _ = write!(out, ",\"tx_id\":{}", tx.id());
    }
    render_alert_object(out, a, sig);
    if let Some(tx) = a.app {
        tx.write_eve(out);
        push_files(out, tx.files());
    }
    if let Some((f, _)) = a.flow {
        render_flow_object(out, f);
        if let Some(names) = a.var_names {
            render_metadata(out, f, names, a.pktvars);
        }
    }
    if a.tuned.is_some() || a.intel.is_some() || a.analytic.is_some() {
        out.extend_from_slice(b",\"sekimori\":{");
        if let Some((h, l)) = a.intel {
            render_intel(out, h, l);
        }
        if let Some(f) = a.analytic {
            if a.intel.is_some() {
                out.push(b',');
            }
            let _ = write!(out, "\"analytic\":{{\"name\":\"{}\",", f.analytic.name());
            out.extend_from_slice(&f.detail);
            out.push(b'}');
        }
        if let Some(t) = &a.tuned {
            if a.intel.is_some() || a.analytic.is_some() {
                out.push(b',');
            }
            render_tuning(out, t);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"}\n");
}

/// `"intel":{...}` in the `sekimori` object of an intel list's alert: the list, its kind,
/// the listed indicator, where it matched, the value seen there when it differs (a
/// subdomain, an address in a listed network) and the indicator's confidence.
fn render_intel(
    out: &mut Vec<u8>,
    h: &crate::detect::intel::Hit,
    l: &crate::detect::intel::ListSpec,
) {
    out.extend_from_slice(b"\"intel\":{\"list\":");
    push_json_str(out, &l.name);
    let _ = write!(out, ",\"kind\":\"{}\",\"indicator\":", l.kind.name());
    push_json_str(out, &h.indicator);
    let _ = write!(out, ",\"field\":\"{}\"", h.field);
    if let Some(s) = &h.seen {
        out.extend_from_slice(b",\"seen\":");
        push_json_str(out, s);
    }
    let _ = write!(out, ",\"confidence\":{}}}", h.confidence);
}

/// `sekimori` extension: `"tuning":{...}` on tuned alerts, giving the severity
/// label, incident type and label, the vendor's severity, what set the value (`tuned_by`
/// file:line, else `basis`), the reason, and the target asset with its adjustments.
fn render_tuning(out: &mut Vec<u8>, t: &Tuned<'_>) {
    let _ = write!(
        out,
        "\"tuning\":{{\"severity\":\"{}\",\"vendor_severity\":{},\"type\":{},\"type_label\":\"{}\"",
        t.severity.label(),
        t.vendor,
        t.itype.code(),
        t.itype.label()
    );
    match t.by {
        Some(by) => {
            out.extend_from_slice(b",\"tuned_by\":");
            push_json_str(out, by);
        }
        None => {
            out.extend_from_slice(b",\"basis\":");
            push_json_str(out, t.basis);
        }
    }
    if let Some(r) = t.reason {
        out.extend_from_slice(b",\"reason\":");
        push_json_str(out, r);
    }
    if let Some(a) = t.asset {
        out.extend_from_slice(b",\"asset\":");
        push_json_str(out, a);
        out.extend_from_slice(b",\"adjustments\":[");
        for (i, adj) in t.adjust.iter().flatten().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = match adj {
                Adjust::Vulnerable(cve) => write!(out, "\"+1 asset vulnerable to {cve}\""),
                Adjust::NotVulnerable => {
                    write!(out, "\"-1 asset not vulnerable to the rule's CVE\"")
                }
                Adjust::OtherRole => write!(out, "\"-1 rule targets another kind of system\""),
                Adjust::NoService(p) => write!(out, "\"-1 asset serves no port {p}\""),
                Adjust::NotExposed => write!(out, "\"-1 internal asset, source on the internet\""),
                Adjust::Criticality(n) => write!(out, "\"{n:+} asset criticality\""),
            };
        }
        out.push(b']');
    }
    out.push(b'}');
}

/// Renders an `anomaly` event: `kind` is "decode", "stream" or "defrag", `event` its name.
/// The packet's addresses are included when it was decoded.
pub fn render_anomaly(
    out: &mut Vec<u8>,
    ts: Micros,
    pcap_cnt: u64,
    packet: Option<(&crate::decode::Packet<'_>, Option<u64>)>,
    kind: &str,
    event: &str,
) {
    out.extend_from_slice(b"{\"timestamp\":");
    push_timestamp(out, ts);
    if let Some((_, Some(id))) = packet {
        let _ = write!(out, ",\"flow_id\":{id}");
    }
    let _ = write!(out, ",\"pcap_cnt\":{pcap_cnt},\"event_type\":\"anomaly\"");
    if let Some((p, _)) = packet {
        push_endpoints(out, p);
    }
    let _ = write!(
        out,
        ",\"anomaly\":{{\"type\":\"{kind}\",\"event\":\"{event}\"}}}}"
    );
    out.push(b'\n');
}

/// Appends a packet's addresses, ports (where it has them) and protocol.
fn push_endpoints(out: &mut Vec<u8>, p: &crate::decode::Packet<'_>) {
    out.extend_from_slice(b",\"src_ip\":");
    push_ip(out, p.src);
    if p.has_ports() {
        let _ = write!(out, ",\"src_port\":{}", p.sport);
    }
    out.extend_from_slice(b",\"dest_ip\":");
    push_ip(out, p.dst);
    if p.has_ports() {
        let _ = write!(out, ",\"dest_port\":{}", p.dport);
    }
    push_proto(out, p.proto);
}

/// Appends `data` base64-encoded (standard alphabet, padded).
fn push_base64(out: &mut Vec<u8>, data: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

/// Renders an EVE `packet` event: a packet logged because a `tag` keyword tagged its session
/// or host. The frame is base64 in `packet`, its pcap link type in `packet_info`.
pub fn render_packet(
    out: &mut Vec<u8>,
    ts: Micros,
    pcap_cnt: u64,
    p: &crate::decode::Packet<'_>,
    flow_id: Option<u64>,
    frame: &[u8],
    linktype: u16,
) {
    out.extend_from_slice(b"{\"timestamp\":");
    push_timestamp(out, ts);
    if let Some(id) = flow_id {
        let _ = write!(out, ",\"flow_id\":{id}");
    }
    let _ = write!(out, ",\"pcap_cnt\":{pcap_cnt},\"event_type\":\"packet\"");
    push_endpoints(out, p);
    out.extend_from_slice(b",\"packet\":\"");
    push_base64(out, frame);
    let _ = writeln!(out, "\",\"packet_info\":{{\"linktype\":{linktype}}}}}");
}

/// The figures of one `stats` event (live capture).
#[derive(Clone, Copy, Debug, Default)]
pub struct StatsInput<'a> {
    /// Event time.
    pub ts: Micros,
    /// Seconds since start.
    pub uptime: u64,
    /// Kernel counters summed over the capture handles: received, dropped, interface drops.
    pub kernel: (u64, u64, u64),
    /// Frames dropped because a worker's ring was full.
    pub ring_drops: u64,
    /// Engine reloads done and failed.
    pub reloads: (u64, u64),
    /// Merged worker counters.
    pub workers: Option<&'a crate::stats::WorkerStats>,
    /// EVE sinks, whose counters go in as `sink_<name>_written`, `_dropped` and `_lost`.
    pub sinks: &'a [crate::output::SinkView],
    /// Intel lists' figures (`sekimori.intel_lists`).
    pub intel: &'a [crate::detect::intel::ListStats],
    /// The incident engine's counts and open incidents, when it runs.
    pub incidents: Option<&'a (crate::incident::Counts, usize)>,
}

/// Appends `,"metadata":{...}` with the flow's set flowbits and flow integers, and
/// `,"traffic":{...}` with its `traffic/id/...` and `traffic/label/...` flowbits, as
/// Suricata logs them. Nothing when the flow has none.
fn render_metadata(
    out: &mut Vec<u8>,
    f: &Flow,
    names: &VarNames,
    pktvars: &[(std::sync::Arc<str>, Vec<u8>)],
) {
    let named = || {
        f.bits
            .set_bits()
            .filter_map(|b| names.flowbits.get(b as usize))
    };
    let traffic = |kind: &'static str| {
        named().filter_map(move |n| n.strip_prefix("traffic/")?.strip_prefix(kind))
    };
    let plain =
        || named().filter(|n| !n.starts_with("traffic/id/") && !n.starts_with("traffic/label/"));
    let ints = f.bits.ints();
    let vars = f.bits.vars();
    let has_plain = plain().next().is_some();
    if has_plain || !ints.is_empty() || !vars.is_empty() || !pktvars.is_empty() {
        out.extend_from_slice(b",\"metadata\":{");
        let mark = out.len();
        if has_plain {
            out.extend_from_slice(b",\"flowbits\":");
            push_str_array(out, plain().map(String::as_str));
        }
        // Suricata's form: an array of one-key objects, `[{"name":"value"}]`.
        for (key, list) in [("flowvars", vars), ("pktvars", pktvars)] {
            if list.is_empty() {
                continue;
            }
            let _ = write!(out, ",\"{key}\":[");
            for (i, (name, v)) in list.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'{');
                push_json_str(out, name);
                out.push(b':');
                push_json_bytes(out, v);
                out.push(b'}');
            }
            out.push(b']');
        }
        if !ints.is_empty() {
            out.push(b',');
            out.extend_from_slice(b"\"flowints\":{");
            for (i, (id, v)) in ints.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let name = names.flowints.get(*id as usize).map_or("", String::as_str);
                push_json_str(out, name);
                let _ = write!(out, ":{v}");
            }
            out.push(b'}');
        }
        crate::common::json::strip_leading_comma(out, mark);
        out.push(b'}');
    }
    let (ids, labels) = (traffic("id/").next(), traffic("label/").next());
    if ids.is_some() || labels.is_some() {
        out.extend_from_slice(b",\"traffic\":{");
        if ids.is_some() {
            out.extend_from_slice(b"\"id\":");
            push_str_array(out, traffic("id/"));
        }
        if labels.is_some() {
            if ids.is_some() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"label\":");
            push_str_array(out, traffic("label/"));
        }
        out.push(b'}');
    }
}

/// Appends a JSON array of strings.
fn push_str_array<'s>(out: &mut Vec<u8>, items: impl Iterator<Item = &'s str>) {
    out.push(b'[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_str(out, s);
    }
    out.push(b']');
}

/// Renders an EVE `stats` event: Suricata's field names where they exist; sekimori's own
/// counters (ring drops, reloads, EVE drops, suppressed and thresholded alerts by tuning) go
/// in the `sekimori` extension object.
pub fn render_stats(out: &mut Vec<u8>, s: &StatsInput<'_>) {
    let d = crate::stats::WorkerStats::default();
    let w = s.workers.unwrap_or(&d);
    out.extend_from_slice(b"{\"timestamp\":");
    push_timestamp(out, s.ts);
    let (kp, kd, ki) = s.kernel;
    let _ = write!(
        out,
        ",\"event_type\":\"stats\",\"stats\":{{\"uptime\":{},\"capture\":{{\"kernel_packets\":{kp},\"kernel_drops\":{kd},\"kernel_ifdrops\":{ki}}}",
        s.uptime
    );
    let _ = write!(
        out,
        ",\"decoder\":{{\"pkts\":{},\"bytes\":{},\"invalid\":{}}}",
        w.packets,
        w.bytes,
        w.not_inspected()
    );
    let _ = write!(
        out,
        ",\"flow\":{{\"total\":{},\"active\":{},\"emerg_mode_entered\":{}}}",
        w.flow.created, w.active_flows, w.flow.emergencies
    );
    let se = &w.stream_events;
    let _ = write!(
        out,
        ",\"tcp\":{{\"reassembly_gap\":{},\"overlap_diff_data\":{},\"segment_memcap_drop\":{}}}",
        se.gaps, se.overlap_diff, w.stream_memcap
    );
    let _ = write!(
        out,
        ",\"detect\":{{\"alert\":{},\"alerts_suppressed\":{}}}",
        w.alerts,
        w.suppressed + w.thresholded
    );
    let _ = write!(
        out,
        ",\"ips\":{{\"accepted\":{},\"blocked\":{}}}}}",
        w.packets.saturating_sub(w.dropped),
        w.dropped
    );
    let _ = writeln!(
        out,
        ",\"sekimori\":{{\"stats\":{{\"ring_drops\":{},\"reloads\":{},\"reload_failures\":{},\"eve_dropped\":{},\"tuning_suppressed\":{},\"thresholded\":{},\"defrag_fragments\":{},\"defrag_reassembled\":{},\"defrag_timeouts\":{},\"tcp_invalid_timestamp\":{},\"tcp_synack_wrong_ack\":{},\"tcp_out_of_window\":{},\"tcp_rst_out_of_window\":{},\"pcre_limit_hits\":{},\"rule_backoff_skips\":{},\"app_tx_limit_hits\":{},\"app_data_cut\":{},\"analytics_untracked\":{}}}}}}}",
        s.ring_drops,
        s.reloads.0,
        s.reloads.1,
        w.eve_dropped,
        w.suppressed,
        w.thresholded,
        w.defrag.fragments,
        w.defrag.reassembled,
        w.defrag.timeouts,
        w.flow.tcp_refused[0],
        w.flow.tcp_refused[1],
        w.flow.tcp_refused[2],
        w.flow.tcp_refused[3],
        w.pcre_limit_hits,
        w.backoff_skips,
        w.app.tx_limit_hits,
        w.app.data_cut,
        w.analytics_untracked
    );
    // Per-sink counters, flat like the rest of the object: the line ends "}}}\n" above.
    if !s.sinks.is_empty() {
        out.truncate(out.len() - 4);
        for v in s.sinks {
            let c = &v.counters;
            let ld =
                |x: &std::sync::atomic::AtomicU64| x.load(std::sync::atomic::Ordering::Relaxed);
            for (what, n) in [
                ("written", ld(&c.written)),
                ("dropped", ld(&c.dropped)),
                ("lost", ld(&c.lost)),
            ] {
                out.push(b',');
                push_json_str(out, &format!("sink_{}_{what}", v.name));
                let _ = write!(out, ":{n}");
            }
        }
        out.extend_from_slice(b"}}}\n");
    }
    if let Some((c, open)) = s.incidents {
        // Flat like the rest of the stats object: the line ends "}}}\n".
        out.truncate(out.len() - 4);
        let _ = write!(
            out,
            ",\"incident_alerts\":{},\"incidents_opened\":{},\"incidents_open\":{open},\"incidents_closed\":{},\"incident_escalations\":{},\"incident_notifications\":{},\"incident_notifications_capped\":{},\"incidents_evicted\":{}}}}}}}",
            c.alerts, c.opened, c.closed, c.escalations, c.notifications, c.capped, c.evicted
        );
        out.push(b'\n');
    }
    if !s.intel.is_empty() {
        // Reopen after `"stats":{...}`: the line ends "}}}\n".
        out.truncate(out.len() - 3);
        out.extend_from_slice(b",\"intel_lists\":[");
        for (i, l) in s.intel.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"list\":");
            push_json_str(out, &l.name);
            let _ = write!(
                out,
                ",\"kind\":\"{}\",\"indicators\":{},\"runtime_adds\":{},\"hits\":{},\"rejects\":{},\"expired\":{},\"updated\":{},\"bytes\":{}}}",
                l.kind, l.indicators, l.runtime_adds, l.hits, l.rejects, l.expired, l.updated, l.bytes
            );
        }
        out.extend_from_slice(b"]}}\n");
    }
}

/// Renders a `flow` event for a flow that ended.
pub fn render_flow_event(out: &mut Vec<u8>, f: &Flow, reason: EndReason, community_id: bool) {
    out.extend_from_slice(b"{\"timestamp\":");
    push_timestamp(out, f.last);
    let _ = write!(
        out,
        ",\"flow_id\":{},\"event_type\":\"flow\",\"src_ip\":",
        f.id
    );
    push_ip(out, f.client.0);
    let ports = matches!(f.proto, 6 | 17 | 132);
    if ports {
        let _ = write!(out, ",\"src_port\":{}", f.client.1);
    }
    out.extend_from_slice(b",\"dest_ip\":");
    push_ip(out, f.server.0);
    if ports {
        let _ = write!(out, ",\"dest_port\":{}", f.server.1);
    }
    push_proto(out, f.proto);
    push_app_proto(out, f);
    if community_id {
        out.extend_from_slice(b",\"community_id\":\"");
        out.extend_from_slice(&community_id_bytes(
            f.client.0, f.server.0, f.proto, f.client.1, f.server.1,
        ));
        out.push(b'"');
    }
    let state = match f.tcp {
        TcpState::Closed | TcpState::Closing => "closed",
        _ if f.established() => "established",
        _ => "new",
    };
    let reason = match reason {
        EndReason::Timeout => "timeout",
        EndReason::Evicted => "forced",
        EndReason::Shutdown => "shutdown",
    };
    push_flow_counters(out, f);
    out.extend_from_slice(b",\"end\":");
    push_timestamp(out, f.last);
    let age = (f.last - f.start).max(0) / 1_000_000;
    let _ = write!(
        out,
        ",\"age\":{age},\"state\":\"{state}\",\"reason\":\"{reason}\",\"alerted\":{}}}}}",
        f.alerted
    );
    out.push(b'\n');
}

fn render_alert_object(out: &mut Vec<u8>, a: &AlertInput<'_>, sig: &Sig) {
    let action = if a.blocked { "blocked" } else { "allowed" };
    let _ = write!(
        out,
        ",\"alert\":{{\"action\":\"{action}\",\"gid\":{},\"signature_id\":{},\"rev\":{},\"signature\":",
        sig.gid, sig.sid, sig.rev
    );
    push_json_str(out, &sig.msg);
    out.extend_from_slice(b",\"category\":");
    push_json_str(out, &sig.category);
    let severity = a.tuned.as_ref().map_or(sig.severity, |t| t.severity.eve());
    let _ = write!(out, ",\"severity\":{severity}");
    if let Some(t) = sig.target {
        let (src_is_target, (sip, sp), (dip, dp)) = match t {
            Target::Src => (true, (a.src, a.sport), (a.dst, a.dport)),
            Target::Dst => (false, (a.src, a.sport), (a.dst, a.dport)),
        };
        let (source, target) = if src_is_target {
            ((dip, dp), (sip, sp))
        } else {
            ((sip, sp), (dip, dp))
        };
        for (key, (ip, port)) in [("source", source), ("target", target)] {
            out.push(b',');
            push_key(out, key);
            out.extend_from_slice(b"{\"ip\":");
            push_ip(out, ip);
            if let Some(p) = port {
                let _ = write!(out, ",\"port\":{p}");
            }
            out.push(b'}');
        }
    }
    if !sig.metadata.is_empty() {
        out.extend_from_slice(b",\"metadata\":{");
        // Group values by key in first-seen order: {"key":["v1","v2"],...}.
        let mut first = true;
        for (i, (k, _)) in sig.metadata.iter().enumerate() {
            if sig.metadata[..i].iter().any(|(pk, _)| pk == k) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            push_json_str(out, k);
            out.extend_from_slice(b":[");
            let mut first_v = true;
            for (_, v) in sig.metadata[i..].iter().filter(|(kk, _)| kk == k) {
                if !first_v {
                    out.push(b',');
                }
                first_v = false;
                push_json_str(out, v);
            }
            out.push(b']');
        }
        out.push(b'}');
    }
    out.push(b'}');
}

/// Appends `,"flow":{"pkts_toserver":..,"bytes_toclient":..,"start":"..."` (object left open).
fn push_flow_counters(out: &mut Vec<u8>, f: &Flow) {
    let _ = write!(
        out,
        ",\"flow\":{{\"pkts_toserver\":{},\"pkts_toclient\":{},\"bytes_toserver\":{},\"bytes_toclient\":{},\"start\":",
        f.pkts_toserver, f.pkts_toclient, f.bytes_toserver, f.bytes_toclient
    );
    push_timestamp(out, f.start);
}

fn render_flow_object(out: &mut Vec<u8>, f: &Flow) {
    push_flow_counters(out, f);
    out.extend_from_slice(b",\"src_ip\":");
    push_ip(out, f.client.0);
    out.extend_from_slice(b",\"dest_ip\":");
    push_ip(out, f.server.0);
    if matches!(f.proto, 6 | 17 | 132) {
        let _ = write!(
            out,
            ",\"src_port\":{},\"dest_port\":{}",
            f.client.1, f.server.1
        );
    }
    out.push(b'}');
}

/// Whether `action` means a block when running inline.
pub fn blocks(action: Action) -> bool {
    matches!(action, Action::Drop | Action::Reject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            push_base64(&mut out, input.as_bytes());
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn timestamps() {
        let mut b = Vec::new();
        push_timestamp(&mut b, 0);
        assert_eq!(b, b"\"1970-01-01T00:00:00.000000+0000\"");
        b.clear();
        // 2009-11-24T21:27:09.534255 UTC
        push_timestamp(&mut b, 1_259_098_029_534_255);
        assert_eq!(b, b"\"2009-11-24T21:27:09.534255+0000\"");
        b.clear();
        push_timestamp(&mut b, 951_782_400_000_001); // 2000-02-29
        assert_eq!(b, b"\"2000-02-29T00:00:00.000001+0000\"");
    }

    #[test]
    fn addresses_as_suricata_writes_them() {
        let mut b = Vec::new();
        push_ip(&mut b, "2001:db8:85a3::8a2e:370:7334".parse().unwrap());
        assert_eq!(b, b"\"2001:0db8:85a3:0000:0000:8a2e:0370:7334\"");
        b.clear();
        push_ip(&mut b, "10.0.0.1".parse().unwrap());
        assert_eq!(b, b"\"10.0.0.1\"");
    }

    #[test]
    fn string_escaping() {
        let mut b = Vec::new();
        push_json_str(&mut b, "a\"b\\c\nd\u{1}é");
        let back: String = serde_json::from_slice(&b).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }
}
