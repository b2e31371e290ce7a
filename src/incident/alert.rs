//! One alert as the incident engine reads it: parsed back from its EVE line, so that the sensor
//! (on its output thread) and `sekimori incidents` (on an EVE file) group the same way.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use serde::Deserialize;

use crate::detect::rules::classification::Classifications;
use crate::tune::report::parse_timestamp;
use crate::tune::taxonomy::sig_type;
use crate::tune::{IncidentType, Severity};

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    #[serde(borrow)]
    src_ip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    dest_ip: Option<Cow<'a, str>>,
    src_port: Option<u16>,
    dest_port: Option<u16>,
    #[serde(borrow)]
    direction: Option<Cow<'a, str>>,
    flow_id: Option<u64>,
    #[serde(borrow)]
    community_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    alert: Option<AlertPart<'a>>,
    #[serde(borrow)]
    sekimori: Option<Ext<'a>>,
    #[serde(borrow)]
    pcap_filename: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct AlertPart<'a> {
    #[serde(borrow)]
    action: Option<Cow<'a, str>>,
    gid: Option<u32>,
    signature_id: u32,
    #[serde(borrow, default)]
    signature: Cow<'a, str>,
    #[serde(borrow)]
    category: Option<Cow<'a, str>>,
    severity: Option<u8>,
    #[serde(borrow)]
    target: Option<Endpoint<'a>>,
}

#[derive(Deserialize)]
struct Endpoint<'a> {
    #[serde(borrow)]
    ip: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Ext<'a> {
    #[serde(borrow)]
    tuning: Option<TuningPart<'a>>,
    analytic: Option<serde_json::Value>,
    intel: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TuningPart<'a> {
    #[serde(borrow)]
    severity: Option<Cow<'a, str>>,
    vendor_severity: Option<u8>,
    #[serde(rename = "type")]
    itype: Option<u16>,
    #[serde(borrow)]
    asset: Option<Cow<'a, str>>,
}

/// An alert, read from its EVE line.
#[derive(Clone, Debug)]
pub struct AlertIn<'a> {
    /// Microseconds since the epoch.
    pub ts: i64,
    /// gid.
    pub gid: u32,
    /// sid.
    pub sid: u32,
    /// Signature message.
    pub msg: Cow<'a, str>,
    /// Tuned severity (the vendor's when the alert was not tuned).
    pub severity: Severity,
    /// The vendor's severity (EVE scale).
    pub vendor: u8,
    /// Incident type.
    pub itype: IncidentType,
    /// Packet source.
    pub src: IpAddr,
    /// Packet destination.
    pub dst: IpAddr,
    /// Source port (0 without ports).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Whether the packet went to the flow's server (None: unknown).
    pub to_server: Option<bool>,
    /// The rule's target (`target` keyword), when it has one.
    pub target: Option<IpAddr>,
    /// The tuning's asset name for the target.
    pub asset: Option<Cow<'a, str>>,
    /// Flow id.
    pub flow_id: Option<u64>,
    /// Community id.
    pub community_id: Option<Cow<'a, str>>,
    /// The packet was blocked (IPS).
    pub blocked: bool,
    /// The capture file (Suricata's `pcap_filename`, when logged).
    pub pcap: Option<Cow<'a, str>>,
    /// What an analytic or an IOC list found (`{"signature_id":..,"analytic"|"intel":{..}}`),
    /// for the incident's findings.
    pub finding: Option<serde_json::Value>,
}

/// Incident types of untuned alerts, from the classification table: category text to
/// classtype to the default taxonomy.
#[derive(Debug, Default)]
pub struct TypeOf {
    /// Category text to classtype name.
    by_category: HashMap<String, String>,
}

impl TypeOf {
    /// From a classification table.
    pub fn new(classes: &Classifications) -> TypeOf {
        let mut by_category = HashMap::new();
        // Several classtypes may share a text: the alphabetically first decides, as
        // `Classifications::name_for_category` does.
        let mut named: Vec<(&str, &str)> = classes
            .iter()
            .map(|(n, c)| (c.category.as_str(), n))
            .collect();
        named.sort_unstable();
        for (category, name) in named.into_iter().rev() {
            by_category.insert(category.to_string(), name.to_string());
        }
        TypeOf { by_category }
    }

    /// The type of an untuned alert: its category's classtype, refined by the message as
    /// the tuning does ([`sig_type`]).
    fn get(&self, category: Option<&str>, msg: &str) -> IncidentType {
        let class = category
            .and_then(|c| self.by_category.get(c))
            .map_or("", String::as_str);
        sig_type(class, msg)
    }
}

/// Whether a line is an alert (a cheap look at its `event_type`).
pub fn is_alert(line: &[u8]) -> bool {
    crate::common::json::event_type(line) == b"alert"
}

/// Parses an alert line; None for other events and lines without the fields an incident
/// needs (timestamp, addresses, signature).
pub fn parse<'a>(line: &'a [u8], types: &TypeOf) -> Option<AlertIn<'a>> {
    let l: Line<'a> = serde_json::from_slice(line).ok()?;
    if l.event_type != "alert" {
        return None;
    }
    let a = l.alert?;
    let ts = parse_timestamp(&l.timestamp)?;
    let src: IpAddr = l.src_ip?.parse().ok()?;
    let dst: IpAddr = l.dest_ip?.parse().ok()?;
    let logged = a.severity.unwrap_or(3);
    let (tuning, finding) = match l.sekimori {
        Some(e) => {
            let finding = match (e.analytic, e.intel) {
                (Some(v), _) => {
                    Some(serde_json::json!({"signature_id": a.signature_id, "analytic": v}))
                }
                (None, Some(v)) => {
                    Some(serde_json::json!({"signature_id": a.signature_id, "intel": v}))
                }
                (None, None) => None,
            };
            (e.tuning, finding)
        }
        None => (None, None),
    };
    let (severity, vendor, itype, asset) = match tuning {
        Some(t) => (
            t.severity
                .as_deref()
                .and_then(Severity::parse)
                .unwrap_or(Severity::from_eve(logged)),
            t.vendor_severity.unwrap_or(logged),
            t.itype
                .and_then(IncidentType::from_code)
                .unwrap_or_else(|| types.get(a.category.as_deref(), &a.signature)),
            t.asset,
        ),
        None => (
            Severity::from_eve(logged),
            logged,
            types.get(a.category.as_deref(), &a.signature),
            None,
        ),
    };
    Some(AlertIn {
        ts,
        gid: a.gid.unwrap_or(1),
        sid: a.signature_id,
        msg: a.signature,
        severity,
        vendor,
        itype,
        src,
        dst,
        sport: l.src_port.unwrap_or(0),
        dport: l.dest_port.unwrap_or(0),
        to_server: match l.direction.as_deref() {
            Some("to_server") => Some(true),
            Some("to_client") => Some(false),
            _ => None,
        },
        target: a.target.and_then(|t| t.ip.parse().ok()),
        asset,
        flow_id: l.flow_id,
        community_id: l.community_id,
        blocked: matches!(a.action.as_deref(), Some("blocked")),
        pcap: l.pcap_filename,
        finding,
    })
}

/// Adds `"incident":"ID"` to an alert line's `sekimori` object (creating the object when the
/// alert was not tuned). The line ends with `}` and an optional newline.
pub fn tag_line(line: &mut Vec<u8>, id: &str) {
    const KEY: &[u8] = b"\"sekimori\":{";
    let mut field = Vec::with_capacity(id.len() + 16);
    field.extend_from_slice(b"\"incident\":");
    crate::common::json::push_json_str(&mut field, id);
    if let Some(at) = memchr::memmem::rfind(line, KEY) {
        // A key inside a string value would have its quotes escaped, so this is the object.
        let at = at + KEY.len();
        field.push(b',');
        line.splice(at..at, field);
        return;
    }
    let end = line.iter().rposition(|&b| b == b'}').unwrap_or(line.len());
    let mut ins = b",\"sekimori\":{".to_vec();
    ins.extend_from_slice(&field);
    ins.push(b'}');
    line.splice(end..end, ins);
}

#[cfg(test)]
mod tests {
    use super::*;

    const TUNED: &str = r#"{"timestamp":"2025-11-24T16:00:30.000000+0000","flow_id":7,"event_type":"alert","src_ip":"192.168.5.10","src_port":53001,"dest_ip":"10.10.0.53","dest_port":53,"proto":"UDP","direction":"to_server","community_id":"1:abc=","alert":{"action":"allowed","gid":1,"signature_id":9000004,"signature":"C2 \"DNS\"","category":"A Network Trojan was detected","severity":1,"target":{"ip":"192.168.5.10","port":53001}},"sekimori":{"tuning":{"severity":"Critical","vendor_severity":2,"type":300,"type_label":"malware","asset":"workstations"}}}"#;

    #[test]
    fn reads_a_tuned_alert() {
        let a = parse(TUNED.as_bytes(), &TypeOf::default()).unwrap();
        assert_eq!(
            (a.sid, a.vendor, a.severity),
            (9000004, 2, Severity::Critical)
        );
        assert_eq!(a.itype, IncidentType::Malware);
        assert_eq!(a.msg, "C2 \"DNS\"");
        assert_eq!(a.target, Some("192.168.5.10".parse().unwrap()));
        assert_eq!(a.to_server, Some(true));
        assert_eq!(a.asset.as_deref(), Some("workstations"));
        assert_eq!(a.community_id.as_deref(), Some("1:abc="));
    }

    #[test]
    fn untuned_alerts_take_the_type_from_the_category() {
        let line = r#"{"timestamp":"2025-11-24T16:00:30+0000","event_type":"alert","src_ip":"1.2.3.4","dest_ip":"10.0.0.1","alert":{"signature_id":1,"signature":"x","category":"Attempted Administrator Privilege Gain","severity":1}}"#;
        let types = TypeOf::new(&Classifications::bundled());
        let a = parse(line.as_bytes(), &types).unwrap();
        assert_eq!(a.itype, IncidentType::UnauthorizedAccess);
        assert_eq!(a.severity, Severity::Critical);
        assert!(parse(b"{\"event_type\":\"flow\"}", &types).is_none());
        assert!(parse(b"not json", &types).is_none());
    }

    #[test]
    fn tagging_keeps_the_line_json() {
        let mut l = TUNED.as_bytes().to_vec();
        l.push(b'\n');
        tag_line(&mut l, "i-1");
        let v: serde_json::Value = serde_json::from_slice(&l).unwrap();
        assert_eq!(v["sekimori"]["incident"], "i-1");
        assert_eq!(v["sekimori"]["tuning"]["severity"], "Critical");
        let mut l =
            b"{\"event_type\":\"alert\",\"alert\":{\"signature\":\"\\\"sekimori\\\":{\"}}\n"
                .to_vec();
        tag_line(&mut l, "i-2");
        let v: serde_json::Value = serde_json::from_slice(&l).unwrap();
        assert_eq!(v["sekimori"]["incident"], "i-2");
        assert_eq!(v["alert"]["signature"], "\"sekimori\":{");
    }
}
