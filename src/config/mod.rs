//! The TOML configuration: plain data (serde, unknown keys rejected), turned into runtime
//! settings by its methods (`flow()`, `defrag()`, `app_layer()`...). Command-line flags
//! override it.

pub mod output;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::decode::defrag::DefragConfig;
use crate::detect::rules::classification::Classifications;
use crate::detect::rules::load::{Matcher, Selection};
use crate::detect::rules::Vars;
use crate::flow::stream::{OverlapPolicy, StreamConfig};
use crate::flow::FlowConfig;

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port variables used by rules.
    #[serde(default)]
    pub vars: VarsConfig,
    /// Rule loading.
    #[serde(default)]
    pub rules: RulesConfig,
    /// Flow tracking.
    #[serde(default)]
    pub flow: FlowSection,
    /// TCP reassembly.
    #[serde(default)]
    pub stream: StreamSection,
    /// IP defragmentation.
    #[serde(default)]
    pub defrag: DefragSection,
    /// Threads.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// Outputs.
    #[serde(default)]
    pub output: OutputConfig,
    /// App-layer parser limits.
    #[serde(default)]
    pub app_layer: AppLayerSection,
    /// SOC tuning.
    #[serde(default)]
    pub tuning: TuningSection,
    /// Live capture.
    #[serde(default)]
    pub capture: CaptureSection,
    /// Running as a service.
    #[serde(default)]
    pub service: ServiceSection,
    /// Overlap policy by receiving network (target-based reassembly).
    #[serde(default)]
    pub host_os_policy: HostOsPolicySection,
    /// Where files matched by `filestore` rules are written.
    #[serde(default)]
    pub filestore: FileStoreSection,
    /// Prometheus endpoint.
    #[serde(default)]
    pub metrics: output::MetricsSection,
    /// IOC lists matched without rules.
    #[serde(default)]
    pub intel: Vec<IntelEntry>,
    /// IP reputation for `iprep` rules.
    #[serde(default)]
    pub reputation: ReputationSection,
    /// The sensor's own detections (off unless named).
    #[serde(default)]
    pub analytics: AnalyticsSection,
}

/// `[analytics]`: the sensor's own detections ([`crate::detect::analytics`]). Each one named
/// here is on; the others are off.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsSection {
    /// `[analytics.dns_tunnel]`: data carried in DNS query names.
    pub dns_tunnel: Option<DnsTunnelSection>,
    /// `[analytics.admin_share_exec]`: whole executables copied over administrative SMB shares.
    pub admin_share_exec: Option<AnalyticSection>,
    /// `[analytics.beacon]`: steady sessions from an internal host to one external server.
    pub beacon: Option<BeaconSection>,
    /// `[analytics.exe_delivery]`: executables to internal hosts from bare-IP web servers or
    /// over raw TCP.
    pub exe_delivery: Option<AnalyticSection>,
    /// `[analytics.auth_overflow]`: HTTP Basic credentials too long or binary to be a login.
    pub auth_overflow: Option<AuthOverflowSection>,
    /// `[analytics.tor]`: Tor connections from internal hosts.
    pub tor: Option<AnalyticSection>,
    /// `[analytics.ftp_upload]`: files uploaded over cleartext FTP to external servers.
    pub ftp_upload: Option<AnalyticSection>,
    /// Entries each worker tracks at most, per analytic (default 16,384).
    pub max_tracked: Option<usize>,
}

/// `[analytics.beacon]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeaconSection {
    /// Off when false (default true).
    pub enabled: Option<bool>,
    /// Signature id of its alerts.
    pub sid: Option<u32>,
    /// Window, seconds (default 3,600).
    pub window: Option<u32>,
    /// Sessions within the window (default 20).
    pub min_sessions: Option<u32>,
    /// Shortest median interval, seconds (default 1).
    pub min_interval: Option<f64>,
    /// Largest median absolute deviation of the intervals, as a share of the median
    /// (default 0.1).
    pub max_jitter: Option<f64>,
}

/// One analytic without settings of its own.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticSection {
    /// Off when false (default true).
    pub enabled: Option<bool>,
    /// Signature id of its alerts.
    pub sid: Option<u32>,
}

/// `[analytics.auth_overflow]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthOverflowSection {
    /// Off when false (default true).
    pub enabled: Option<bool>,
    /// Signature id of its alerts.
    pub sid: Option<u32>,
    /// Longest Basic credentials token taken for a login, base64 bytes (default 1,024).
    pub max_length: Option<u32>,
}

/// `[analytics.dns_tunnel]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsTunnelSection {
    /// Off when false (default true).
    pub enabled: Option<bool>,
    /// Signature id of its alerts.
    pub sid: Option<u32>,
    /// Window, seconds (default 600).
    pub window: Option<u32>,
    /// Distinct names under one domain from one host within the window (default 50).
    pub min_names: Option<u32>,
    /// Bytes of non-numeric subdomain labels in those names (default 2,000).
    pub min_bytes: Option<u32>,
    /// Those bytes per name on average (default 20).
    pub min_length: Option<u32>,
}

/// `[[intel]]`: one IOC list. The sensor matches its indicators where they appear (see
/// [`crate::detect::intel`]); each hit is an alert of the list's own signature.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelEntry {
    /// Name (`sekimori ctl intel add NAME VALUE`).
    pub name: String,
    /// Indicator kind: ip, domain, url, md5, sha1, sha256, ja3, ja3s, ja4.
    pub kind: String,
    /// List file (plain lines or CSV `value,confidence,expires`); relative to the config
    /// file. Without one the list starts empty.
    pub file: Option<PathBuf>,
    /// Signature id of its alerts (default 9,100,001 plus the list's position).
    pub sid: Option<u32>,
    /// Alert `signature` (default `SEKIMORI INTEL <name> (<kind>)`).
    pub msg: Option<String>,
    /// Severity for the tuning layer: Critical, Serious (default), Medium, Informational.
    pub severity: Option<String>,
    /// Incident type: 100, 200, 300 (default), 400, 500, 600.
    #[serde(rename = "type")]
    pub itype: Option<u16>,
    /// Classtype (default: one of the type's).
    pub classtype: Option<String>,
    /// `alert` (default) or `drop` (inline: the packet and the rest of its flow).
    pub action: Option<String>,
    /// Indicators below this confidence do not match (default 0).
    pub min_confidence: Option<u8>,
    /// Domain lists: subdomains of a listed domain match too (default true).
    pub subdomains: Option<bool>,
    /// File keeping the list's runtime adds and removals (`ctl intel`) across restarts;
    /// relative to the config file. Without one they last until the sensor stops.
    pub state: Option<PathBuf>,
}

/// First default sid of `[[intel]]` lists.
pub const INTEL_SID_BASE: u32 = 9_100_001;

impl IntelEntry {
    /// The list definition; `pos` is the list's position (its default sid).
    pub fn spec(&self, pos: usize) -> Result<crate::detect::intel::ListSpec, String> {
        use crate::detect::intel::{Kind, ListAction, ListSpec};
        let at = format!("intel '{}'", self.name);
        if self.name.is_empty() || self.name.contains(char::is_whitespace) {
            return Err(format!("{at}: name must be non-empty without spaces"));
        }
        let kind = Kind::parse(&self.kind).ok_or_else(|| {
            format!(
                "{at}: kind '{}' is not ip, domain, url, md5, sha1, sha256, ja3, ja3s or ja4",
                self.kind
            )
        })?;
        let priority = match self
            .severity
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("critical") => 1,
            None | Some("serious") => 2,
            Some("medium") => 3,
            Some("informational") => 4,
            Some(_) => {
                return Err(format!(
                    "{at}: severity '{}' is not Critical, Serious, Medium or Informational",
                    self.severity.as_deref().unwrap_or("")
                ))
            }
        };
        let classtype = match (&self.classtype, self.itype.unwrap_or(300)) {
            (Some(c), _) => c.clone(),
            (None, 100) => "attempted-admin".into(),
            (None, 200) => "attempted-dos".into(),
            (None, 300) => "command-and-control".into(),
            (None, 400) => "bad-unknown".into(),
            (None, 500) => "attempted-recon".into(),
            (None, 600) => "unknown".into(),
            (None, t) => return Err(format!("{at}: type {t} is not 100, 200, ... 600")),
        };
        let action = match self.action.as_deref() {
            None | Some("alert") => ListAction::Alert,
            Some("drop") => ListAction::Drop,
            Some(o) => return Err(format!("{at}: action '{o}' is not alert or drop")),
        };
        let min_confidence = self.min_confidence.unwrap_or(0);
        if min_confidence > 100 {
            return Err(format!("{at}: min_confidence must be 0-100"));
        }
        let defaults = ListSpec::new(
            &self.name,
            kind,
            self.sid.unwrap_or(INTEL_SID_BASE + pos as u32),
        );
        Ok(ListSpec {
            file: self.file.clone(),
            msg: self.msg.clone().unwrap_or_else(|| defaults.msg.clone()),
            priority,
            classtype,
            action,
            min_confidence,
            subdomains: self.subdomains.unwrap_or(true),
            state: self.state.clone(),
            ..defaults
        })
    }
}

/// `[reputation]`: Suricata-format IP reputation for `iprep` rules.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReputationSection {
    /// Categories file (`id,shortname,description`), relative to the config file.
    pub categories: Option<PathBuf>,
    /// Reputation files (`address-or-CIDR,category,score`).
    #[serde(default)]
    pub files: Vec<PathBuf>,
}

/// `[filestore]`: files that `filestore` rules match, written once under their SHA-256.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStoreSection {
    /// Directory of the store (off when unset). Files land in `<dir>/<2 hex>/<sha256>`.
    pub dir: Option<PathBuf>,
    /// Largest file stored, in bytes (default 16 MiB); files are kept whole in memory up to
    /// this while they transfer, counted against `app_layer.memcap`.
    pub max_size: Option<usize>,
}

/// `[host_os_policy]`: networks (CIDR or addresses) per overlap policy. A segment or fragment
/// is resolved by the policy of its receiver's most specific network; others use
/// `stream.policy` / `defrag.policy`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostOsPolicySection {
    /// First copy wins.
    #[serde(default)]
    pub first: Vec<String>,
    /// Last copy wins.
    #[serde(default)]
    pub last: Vec<String>,
    /// BSD hosts.
    #[serde(default)]
    pub bsd: Vec<String>,
    /// Linux hosts.
    #[serde(default)]
    pub linux: Vec<String>,
    /// Windows hosts.
    #[serde(default)]
    pub windows: Vec<String>,
}

impl HostOsPolicySection {
    /// The compiled map.
    pub fn build(&self) -> Result<crate::common::hostpolicy::HostPolicies, String> {
        let mut entries = Vec::new();
        for (policy, nets) in [
            (OverlapPolicy::First, &self.first),
            (OverlapPolicy::Last, &self.last),
            (OverlapPolicy::Bsd, &self.bsd),
            (OverlapPolicy::Linux, &self.linux),
            (OverlapPolicy::Windows, &self.windows),
        ] {
            entries.extend(nets.iter().map(|n| (policy, n.clone())));
        }
        crate::common::hostpolicy::HostPolicies::new(&entries)
    }
}

/// Capture mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureMode {
    /// Passive: SPAN/mirror port or tap, alerts only.
    #[default]
    Ids,
    /// Inline between two interfaces: drop/reject rules block.
    Ips,
}

/// `[capture]`: live capture.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSection {
    /// Interfaces (inline: exactly two, bridged).
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// ids (default) or ips.
    pub mode: Option<CaptureMode>,
    /// BPF filter.
    pub bpf: Option<String>,
    /// Bytes captured per frame (default 65535).
    pub snaplen: Option<u32>,
    /// workers (default: each worker its own PACKET_FANOUT socket per interface) or autofp
    /// (one capture thread per interface hands frames to the workers).
    pub runmode: Option<RunMode>,
    /// Workers runmode: how the kernel spreads packets over the workers, `ip_pair`
    /// (default: every flow between two hosts on one worker) or `flow` (its flow hash).
    pub fanout: Option<crate::capture::live::FanoutHash>,
}

/// How capture reaches the workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    /// Each worker owns a fanout socket per interface: capture, decode, detect in one thread.
    #[default]
    Workers,
    /// One capture thread per interface dispatches to workers over lock-free rings.
    Autofp,
}

/// `[service]`: running as a daemon.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    /// Run as this user once capture is open (default: stay as started).
    pub user: Option<String>,
    /// Group for `user` (default: its primary group).
    pub group: Option<String>,
    /// Unix socket for `sekimori ctl` (reload, reopen, stats, shutdown).
    pub control_socket: Option<PathBuf>,
    /// Seconds between EVE `stats` events (default 30; 0 turns them off).
    pub stats_interval: Option<u64>,
}

/// `[tuning]`: severity tuning files.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningSection {
    /// Tuning files (TOML), applied in order; relative paths are relative to the config file.
    #[serde(default)]
    pub files: Vec<PathBuf>,
}

/// `[app_layer]`: HTTP/TLS/DNS parser limits.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppLayerSection {
    /// HTTP request body bytes kept for inspection (default 100 KiB).
    pub request_body_limit: Option<usize>,
    /// HTTP response body bytes kept for inspection, after decompression (default 100 KiB).
    pub response_body_limit: Option<usize>,
    /// Longest HTTP request/status line plus header block (default 64 KiB).
    pub header_limit: Option<usize>,
    /// HTTP transactions kept open per flow (default 64).
    pub max_txs: Option<usize>,
    /// Header fields kept per HTTP message (default 1,024); more raise
    /// `http.request_too_many_headers` / `response_too_many_headers` and are not kept.
    pub max_headers: Option<usize>,
    /// Heap bytes all parsers of one worker may hold (default 256 MiB); past it new stream
    /// data is not parsed (counted) until flows end.
    pub memcap: Option<usize>,
    /// Parsers switched off by name (`disabled = ["ftp"]`): their traffic stays unparsed and
    /// rules on their buffers never match.
    #[serde(default)]
    pub disabled: Vec<String>,
    /// Longest SMTP/FTP command or reply line (default 4,096); longer ones are cut, an event.
    pub line_limit: Option<usize>,
    /// Deepest MIME multipart nesting parsed (default 16).
    pub mime_max_depth: Option<usize>,
    /// MIME header bytes kept per part (default 16 KiB).
    pub mime_header_limit: Option<usize>,
    /// Bytes of each file kept for `file.data` (default 1 MiB); an open file is inspected
    /// when this fills and again when it closes.
    pub file_inspect_limit: Option<usize>,
    /// File hashes computed when `fileinfo` events are on (default all of md5, sha1, sha256);
    /// hash rules and the file store add the ones they need.
    pub file_hashes: Option<Vec<String>>,
    /// Files tracked per transaction (default 64); more are counted, not tracked.
    pub max_files_per_tx: Option<usize>,
}

/// `[vars]`: overrides and additions to Suricata's default variables.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VarsConfig {
    /// `[vars.address]`: `HOME_NET = "[10.0.0.0/8]"`.
    #[serde(default)]
    pub address: BTreeMap<String, String>,
    /// `[vars.port]`: `HTTP_PORTS = "[80,8080]"`.
    #[serde(default)]
    pub port: BTreeMap<String, String>,
}

/// `[rules]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// classification.config to use instead of the bundled one.
    pub classification: Option<PathBuf>,
    /// Rule files or directories loaded before any given with `--rules` (relative paths are
    /// relative to the config file).
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Rules to enable, also those commented out in their files (`2019401`, `1:2019401`,
    /// `2000000-2000100`, `re:REGEX`, `group:emerging-scan.rules`).
    #[serde(default)]
    pub enable: Vec<String>,
    /// Rules to leave out (same selectors); wins over `enable`.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Rules whose `alert` becomes `drop` in inline mode (same selectors).
    #[serde(default)]
    pub drop: Vec<String>,
    /// Directory for compiled Hyperscan databases, so a restart with the same packs skips
    /// compilation (off when unset).
    pub cache_dir: Option<PathBuf>,
    /// Server ports per protocol and direction that get a prefilter database of their own
    /// (default 0: one database per protocol and direction; see `detect::mpmgroup`).
    pub port_groups: Option<usize>,
}

/// `[flow]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSection {
    /// Flows per worker.
    pub capacity: Option<usize>,
    /// Pick up TCP sessions mid-stream (default false, as Suricata).
    pub midstream: Option<bool>,
    /// Idle timeouts per protocol and state.
    #[serde(default)]
    pub timeouts: TimeoutsSection,
}

/// `[flow.timeouts.<class>]` for class `tcp`, `udp`, `icmp`, `other`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsSection {
    /// TCP.
    #[serde(default)]
    pub tcp: TimeoutValues,
    /// UDP.
    #[serde(default)]
    pub udp: TimeoutValues,
    /// ICMP and ICMPv6.
    #[serde(default)]
    pub icmp: TimeoutValues,
    /// Other IP protocols.
    #[serde(default)]
    pub other: TimeoutValues,
}

/// Seconds per state; unset values keep their defaults.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutValues {
    /// Not yet established.
    pub new: Option<u32>,
    /// Established.
    pub established: Option<u32>,
    /// Closed (TCP).
    pub closed: Option<u32>,
    /// `new` in emergency mode.
    pub emergency_new: Option<u32>,
    /// `established` in emergency mode.
    pub emergency_established: Option<u32>,
    /// `closed` in emergency mode.
    pub emergency_closed: Option<u32>,
}

impl TimeoutValues {
    fn apply(&self, d: crate::flow::Timeouts) -> crate::flow::Timeouts {
        crate::flow::Timeouts {
            new: self.new.unwrap_or(d.new),
            established: self.established.unwrap_or(d.established),
            closed: self.closed.unwrap_or(d.closed),
            emergency_new: self.emergency_new.unwrap_or(d.emergency_new),
            emergency_established: self
                .emergency_established
                .unwrap_or(d.emergency_established),
            emergency_closed: self.emergency_closed.unwrap_or(d.emergency_closed),
        }
    }
}

/// Largest `flow.capacity` (flows per worker).
pub const MAX_FLOWS: usize = 1 << 24;

/// `[stream]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSection {
    /// Bytes reassembled per direction (default 1 MiB; 0: no limit, as in Suricata).
    pub depth: Option<u64>,
    /// Overlap policy: first, last, bsd (default), linux, windows.
    pub policy: Option<OverlapPolicy>,
    /// Out-of-order segments kept per direction (default 256).
    pub max_segments: Option<usize>,
    /// Bytes all streams of one worker may hold (default 256 MiB).
    pub memcap: Option<usize>,
    /// Acknowledged bytes per direction before raw stream detection runs (default 2560,
    /// Suricata's chunk size); 0 inspects on every acknowledgement.
    pub raw_chunk: Option<u64>,
}

/// `[defrag]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefragSection {
    /// Overlap policy: first, last, bsd (default), linux, windows.
    pub policy: Option<OverlapPolicy>,
    /// Seconds an incomplete datagram is kept (default 60).
    pub timeout: Option<u32>,
    /// Bytes of incomplete datagrams kept per worker (default 16 MiB).
    pub memcap: Option<usize>,
}

/// `[runtime]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads (default: number of cores).
    pub workers: Option<usize>,
}

/// `[output]`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OutputConfig {
    /// EVE file path (`-` for stdout).
    pub eve: Option<String>,
    /// Write an EVE `flow` event for every flow when it ends (default false).
    pub flow: Option<bool>,
    /// Add Community ID v1 (seed 0) to alert and flow events (default true).
    pub community_id: Option<bool>,
    /// Write EVE anomaly events for decode, stream, defrag and app-layer anomalies (default
    /// false).
    pub anomaly: Option<bool>,
    /// Write packets tagged by a rule's `tag` keyword as EVE `packet` events (default true).
    pub tagged_packets: Option<bool>,
    /// Write an EVE `fileinfo` event for every file (HTTP, SMTP, FTP data, SMB) when it closes or
    /// its flow ends (default false).
    pub fileinfo: Option<bool>,
    /// EVE destinations besides `eve` (`[[output.sinks]]`).
    #[serde(default)]
    pub sinks: Vec<output::SinkSection>,
    /// pcap of alerting flows (`[output.pcap]`).
    pub pcap: Option<output::PcapSection>,
    /// Transaction events per app-layer protocol, keyed by its name: `http = true` writes an
    /// EVE `http` event per HTTP transaction, `tls` per handshake, `dns` per message (all
    /// default false). Any other key is an error (see [`Config::validate`]).
    #[serde(flatten)]
    pub protocols: BTreeMap<String, toml::Value>,
}

impl OutputConfig {
    /// Transaction events on, per app-layer protocol (in [`crate::applayer::PROTOCOLS`]
    /// order): the `[output]` switch named after the protocol.
    pub fn app_events(&self) -> [bool; crate::applayer::PROTOCOL_COUNT] {
        crate::applayer::PROTOCOLS.map(|p| {
            self.protocols
                .get(p.switch())
                .and_then(toml::Value::as_bool)
                .unwrap_or(false)
        })
    }
}

impl Config {
    /// Reads and parses a config file; errors name the file, line and key.
    pub fn from_file(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut cfg = Self::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for f in cfg
            .tuning
            .files
            .iter_mut()
            .chain(cfg.rules.files.iter_mut())
            .chain(cfg.filestore.dir.iter_mut())
            .chain(cfg.output.pcap.iter_mut().map(|p| &mut p.dir))
            .chain(
                cfg.intel
                    .iter_mut()
                    .flat_map(|i| i.file.as_mut().into_iter().chain(i.state.as_mut())),
            )
            .chain(cfg.reputation.categories.iter_mut())
            .chain(cfg.reputation.files.iter_mut())
        {
            if f.is_relative() {
                *f = dir.join(&*f);
            }
        }
        Ok(cfg)
    }

    /// Parses config text.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let cfg: Config =
            toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The `[[intel]]` lists and `[reputation]`, checked.
    pub fn intel_specs(
        &self,
    ) -> Result<
        (
            Vec<crate::detect::intel::ListSpec>,
            Option<crate::detect::intel::iprep::RepConfig>,
        ),
        String,
    > {
        let mut specs = Vec::new();
        let mut errors = Vec::new();
        for (i, e) in self.intel.iter().enumerate() {
            match e.spec(i) {
                Ok(s) => {
                    if specs
                        .iter()
                        .any(|o: &crate::detect::intel::ListSpec| o.name == s.name)
                    {
                        errors.push(format!("intel '{}': defined twice", s.name));
                    } else if let Some(o) = specs.iter().find(|o| o.sid == s.sid) {
                        errors.push(format!(
                            "intel '{}': sid {} is also list '{}'s",
                            s.name, s.sid, o.name
                        ));
                    }
                    specs.push(s);
                }
                Err(err) => errors.push(err),
            }
        }
        if specs.len() > crate::detect::intel::MAX_LISTS {
            errors.push(format!(
                "{} intel lists: at most {} are supported",
                specs.len(),
                crate::detect::intel::MAX_LISTS
            ));
        }
        let rep = match (
            &self.reputation.categories,
            self.reputation.files.is_empty(),
        ) {
            (Some(c), _) => Some(crate::detect::intel::iprep::RepConfig {
                categories: c.clone(),
                files: self.reputation.files.clone(),
            }),
            (None, true) => None,
            (None, false) => {
                errors.push("reputation: files need a categories file".into());
                None
            }
        };
        if errors.is_empty() {
            Ok((specs, rep))
        } else {
            Err(errors.join("\n"))
        }
    }

    /// The analytics `[analytics]` turns on, with their sids and thresholds (None: none).
    pub fn analytics(&self) -> Result<Option<crate::detect::analytics::Specs>, String> {
        use crate::detect::analytics::{Analytic, DnsTunnel, Specs};
        let a = &self.analytics;
        let mut specs = Specs {
            max_tracked: a.max_tracked.unwrap_or(16_384),
            ..Specs::default()
        };
        let mut errors = Vec::new();
        if let Some(d) = &a.dns_tunnel {
            if d.enabled != Some(false) {
                specs.on.push((
                    Analytic::DnsTunnel,
                    d.sid.unwrap_or(Analytic::DnsTunnel.default_sid()),
                ));
            }
            let def = DnsTunnel::default();
            specs.dns = DnsTunnel {
                window: d.window.unwrap_or(def.window),
                min_names: d.min_names.unwrap_or(def.min_names),
                min_bytes: d.min_bytes.unwrap_or(def.min_bytes),
                min_length: d.min_length.unwrap_or(def.min_length),
            };
            if specs.dns.window == 0 || specs.dns.min_names == 0 {
                errors.push("analytics.dns_tunnel: window and min_names must be above 0".into());
            }
        }
        if let Some(x) = &a.admin_share_exec {
            if x.enabled != Some(false) {
                let a = Analytic::AdminShareExec;
                specs.on.push((a, x.sid.unwrap_or(a.default_sid())));
            }
        }
        if let Some(b) = &a.beacon {
            if b.enabled != Some(false) {
                let a = Analytic::Beacon;
                specs.on.push((a, b.sid.unwrap_or(a.default_sid())));
            }
            let def = crate::detect::analytics::Beacon::default();
            specs.beacon = crate::detect::analytics::Beacon {
                window: b.window.unwrap_or(def.window),
                min_sessions: b.min_sessions.unwrap_or(def.min_sessions),
                min_interval: b.min_interval.unwrap_or(def.min_interval),
                max_jitter: b.max_jitter.unwrap_or(def.max_jitter),
            };
            let c = specs.beacon;
            if c.window == 0
                || c.min_sessions < 3
                || !c.min_interval.is_finite()
                || c.min_interval < 0.0
                || !c.max_jitter.is_finite()
                || c.max_jitter < 0.0
            {
                errors.push(
                    "analytics.beacon: window must be above 0, min_sessions at least 3, min_interval and max_jitter 0 or more"
                        .into(),
                );
            }
        }
        for (section, a) in [
            (&a.exe_delivery, Analytic::ExeDelivery),
            (&a.tor, Analytic::Tor),
            (&a.ftp_upload, Analytic::FtpUpload),
        ] {
            if let Some(x) = section.as_ref().filter(|x| x.enabled != Some(false)) {
                specs.on.push((a, x.sid.unwrap_or(a.default_sid())));
            }
        }
        if let Some(x) = &a.auth_overflow {
            if x.enabled != Some(false) {
                let a = Analytic::AuthOverflow;
                specs.on.push((a, x.sid.unwrap_or(a.default_sid())));
            }
            let def = crate::detect::analytics::AuthOverflow::default();
            specs.auth.max_length = x.max_length.unwrap_or(def.max_length);
            if specs.auth.max_length == 0 || specs.auth.max_length > 1024 {
                errors.push("analytics.auth_overflow: max_length must be 1 to 1024".into());
            }
        }
        // Analytics of internal and external hosts read $HOME_NET.
        if !specs.on.is_empty() {
            match crate::detect::rules::header::parse_addr("$HOME_NET", &self.vars()) {
                Ok(h) => specs.home = Some(h),
                Err(e) => errors.push(format!("analytics: HOME_NET: {e}")),
            }
        }
        if specs.max_tracked == 0 {
            errors.push("analytics.max_tracked: must be above 0".into());
        }
        let lists = self.intel_specs().map(|(l, _)| l).unwrap_or_default();
        for (i, (a, sid)) in specs.on.iter().enumerate() {
            if specs.on[..i].iter().any(|(_, s)| s == sid) {
                errors.push(format!("analytics.{}: sid {sid} is used twice", a.name()));
            }
            if let Some(l) = lists.iter().find(|l| l.sid == *sid) {
                errors.push(format!(
                    "analytics.{}: sid {sid} is also intel list '{}'s",
                    a.name(),
                    l.name
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        Ok((!specs.on.is_empty()).then_some(specs))
    }

    /// Checks values serde cannot, reporting every problem at once.
    pub fn validate(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        if let Err(e) = self.intel_specs() {
            errors.push(e);
        }
        if let Err(e) = self.analytics() {
            errors.push(e);
        }
        // [output] takes its fixed keys plus one switch per registered app-layer protocol.
        for (key, value) in &self.output.protocols {
            let known = crate::applayer::PROTOCOLS.iter().any(|p| p.switch() == key);
            if !known {
                errors.push(format!("output: unknown key '{key}'"));
            } else if !value.is_bool() {
                errors.push(format!("output.{key}: must be true or false"));
            }
        }
        if let Err(e) = output::build_sinks(
            self.output.eve.as_deref().unwrap_or("eve.json"),
            &self.output.sinks,
        ) {
            errors.push(e);
        }
        if let Some(Err(e)) = self.output.pcap.as_ref().map(output::PcapSection::build) {
            errors.push(e);
        }
        if let Some(l) = &self.metrics.listen {
            if l.parse::<std::net::SocketAddr>().is_err() {
                errors.push(format!(
                    "metrics.listen: '{l}' is not an address and port (e.g. 127.0.0.1:9917)"
                ));
            }
        }
        for name in &self.app_layer.disabled {
            if crate::applayer::AppProto::from_rule_name(name)
                .is_none_or(|p| crate::applayer::AppProto::of_rule_mask(p) == 0)
            {
                errors.push(format!("app_layer.disabled: unknown protocol '{name}'"));
            }
        }
        for name in self.app_layer.file_hashes.iter().flatten() {
            if crate::applayer::files::hash::by_name(name).is_none() {
                errors.push(format!(
                    "app_layer.file_hashes: unknown hash '{name}' (md5, sha1, sha256)"
                ));
            }
        }
        if self.stream.max_segments == Some(0) {
            errors.push("stream.max_segments: must be at least 1".to_string());
        }
        if self.filestore.max_size == Some(0) {
            errors.push("filestore.max_size: must be more than 0".to_string());
        }
        if self.flow.capacity == Some(0) {
            errors.push("flow.capacity: must be at least 1".to_string());
        }
        if let Err(e) = self.host_os_policy.build() {
            errors.push(e);
        }
        if self.rules.port_groups.is_some_and(|n| n > 32) {
            errors.push("rules.port_groups: at most 32".to_string());
        }
        if let Some(n) = self.runtime.workers {
            if let Err(e) = crate::runtime::check_workers(n) {
                errors.push(format!("runtime.workers: {e}"));
            }
        }
        if self.flow.capacity.is_some_and(|n| n > MAX_FLOWS) {
            errors.push(format!("flow.capacity: at most {MAX_FLOWS} per worker"));
        }
        if self.stream.memcap == Some(0) {
            errors.push("stream.memcap: must be more than 0 (it bounds reassembly memory)".into());
        }
        if self.app_layer.memcap == Some(0) {
            errors.push("app_layer.memcap: must be more than 0".into());
        }
        if self.defrag.memcap == Some(0) {
            errors.push("defrag.memcap: must be more than 0".into());
        }
        if self.capture.mode == Some(CaptureMode::Ips)
            && !self.capture.interfaces.is_empty()
            && self.capture.interfaces.len() != 2
        {
            errors.push(format!(
                "capture.interfaces: inline mode bridges exactly two interfaces, {} given",
                self.capture.interfaces.len()
            ));
        }
        if self
            .capture
            .snaplen
            .is_some_and(|s| !(64..=262_144).contains(&s))
        {
            errors.push("capture.snaplen: must be between 64 and 262144".to_string());
        }
        for (key, list) in [
            ("enable", &self.rules.enable),
            ("disable", &self.rules.disable),
            ("drop", &self.rules.drop),
        ] {
            for (i, sel) in list.iter().enumerate() {
                if let Err(e) = Matcher::parse(sel) {
                    errors.push(format!("rules.{key}[{i}]: {e}"));
                }
            }
        }
        let vars = self.vars();
        for name in self.vars.address.keys() {
            if let Err(e) = crate::detect::rules::header::parse_addr(&format!("${name}"), &vars) {
                errors.push(format!("vars.address.{name}: {e}"));
            }
        }
        for name in self.vars.port.keys() {
            if let Err(e) = crate::detect::rules::header::parse_ports(&format!("${name}"), &vars) {
                errors.push(format!("vars.port.{name}: {e}"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Rule variables: Suricata's defaults overlaid with `[vars]`.
    pub fn vars(&self) -> Vars {
        let mut v = Vars::suricata_defaults();
        for (k, val) in &self.vars.address {
            v.set_address(k.trim_start_matches('$'), val);
        }
        for (k, val) in &self.vars.port {
            v.set_port(k.trim_start_matches('$'), val);
        }
        v
    }

    /// The classification table: the configured file or the bundled one.
    pub fn classifications(&self) -> Result<Classifications, String> {
        match &self.rules.classification {
            Some(p) => Classifications::from_file(p),
            None => Ok(Classifications::bundled()),
        }
    }

    /// The enable/disable/drop selection (validated when the config was read).
    pub fn selection(&self) -> Result<Selection, String> {
        let list = |v: &[String]| {
            v.iter()
                .map(|s| Matcher::parse(s))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Selection {
            enable: list(&self.rules.enable)?,
            disable: list(&self.rules.disable)?,
            drop: list(&self.rules.drop)?,
        })
    }

    /// Defragmentation settings.
    pub fn defrag(&self) -> DefragConfig {
        let d = DefragConfig::default();
        DefragConfig {
            policy: self.defrag.policy.unwrap_or(d.policy),
            timeout: self.defrag.timeout.unwrap_or(d.timeout),
            memcap: self.defrag.memcap.unwrap_or(d.memcap),
            hosts: std::sync::Arc::new(self.host_os_policy.build().unwrap_or_default()),
            ..d
        }
    }

    /// App-layer parser limits.
    pub fn app_layer(&self) -> crate::applayer::AppConfig {
        let d = crate::applayer::AppConfig::default();
        let a = &self.app_layer;
        crate::applayer::AppConfig {
            request_body_limit: a.request_body_limit.unwrap_or(d.request_body_limit),
            response_body_limit: a.response_body_limit.unwrap_or(d.response_body_limit),
            header_limit: a.header_limit.unwrap_or(d.header_limit).max(256),
            max_txs: a.max_txs.unwrap_or(d.max_txs).max(1),
            max_headers: a.max_headers.unwrap_or(d.max_headers).max(1),
            memcap: a.memcap.unwrap_or(d.memcap),
            disabled: a
                .disabled
                .iter()
                .filter_map(|n| crate::applayer::AppProto::from_rule_name(n))
                .fold(0, |m, p| m | crate::applayer::AppProto::of_rule_mask(p)),
            files: crate::applayer::FileConfig {
                inspect_limit: a
                    .file_inspect_limit
                    .unwrap_or(d.files.inspect_limit)
                    .max(64),
                hashes: match &a.file_hashes {
                    Some(names) => names
                        .iter()
                        .filter_map(|n| crate::applayer::files::hash::by_name(n))
                        .fold(0, |m, h| m | h),
                    None => d.files.hashes,
                },
                max_per_tx: a
                    .max_files_per_tx
                    .unwrap_or(d.files.max_per_tx)
                    .clamp(1, 64),
                // Set by the workers when a file store and rules that use it are there.
                store_limit: 0,
            },
            line_limit: a.line_limit.unwrap_or(d.line_limit).max(64),
            mime_max_depth: a.mime_max_depth.unwrap_or(d.mime_max_depth).max(1),
            mime_header_limit: a.mime_header_limit.unwrap_or(d.mime_header_limit).max(256),
        }
    }

    /// Flow table settings.
    pub fn flow(&self) -> FlowConfig {
        let d = FlowConfig::default();
        FlowConfig {
            capacity: self.flow.capacity.unwrap_or(d.capacity),
            timeouts: {
                let t = &self.flow.timeouts;
                let d = crate::flow::Timeouts::DEFAULTS;
                [
                    t.tcp.apply(d[0]),
                    t.udp.apply(d[1]),
                    t.icmp.apply(d[2]),
                    t.other.apply(d[3]),
                ]
            },
            midstream: self.flow.midstream.unwrap_or(d.midstream),
            strict_window: d.strict_window,
            hosts: std::sync::Arc::new(self.host_os_policy.build().unwrap_or_default()),
            stream: {
                let d = StreamConfig::default();
                StreamConfig {
                    // 0 means unlimited, as in Suricata (reassembly memory stays bounded by
                    // the window and the memcap).
                    depth: match self.stream.depth.unwrap_or(d.depth) {
                        0 => u64::MAX,
                        n => n,
                    },
                    policy: self.stream.policy.unwrap_or(d.policy),
                    max_segments: self.stream.max_segments.unwrap_or(d.max_segments),
                    memcap: self.stream.memcap.unwrap_or(d.memcap),
                    raw_chunk: self.stream.raw_chunk.unwrap_or(d.raw_chunk),
                    ..d
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_config() {
        let c = Config::from_toml(
            r#"
            [vars.address]
            HOME_NET = "[192.0.2.0/24]"
            [vars.port]
            HTTP_PORTS = "[80,8080]"
            [flow]
            capacity = 10
            midstream = true
            [stream]
            depth = 4096
            policy = "windows"
            [runtime]
            workers = 3
            [output]
            eve = "/tmp/x.json"
            "#,
        )
        .unwrap();
        let vars = c.vars();
        assert_eq!(vars.address("HOME_NET"), Some("[192.0.2.0/24]"));
        assert_eq!(vars.address("EXTERNAL_NET"), Some("!$HOME_NET"));
        assert!(c.flow().midstream);
        assert_eq!(c.flow().capacity, 10);
        assert_eq!(c.flow().timeouts, FlowConfig::default().timeouts);
        assert_eq!(c.runtime.workers, Some(3));
        assert_eq!(c.flow().stream.depth, 4096);
        assert_eq!(c.flow().stream.policy, OverlapPolicy::Windows);
        assert!(Config::from_toml("[stream]\npolicy = \"solaris\"\n").is_err());
        let c = Config::from_toml(
            "[flow.timeouts.tcp]\nclosed = 5\n[flow.timeouts.udp]\nestablished = 90\n",
        )
        .unwrap();
        let t = c.flow().timeouts;
        assert_eq!((t[0].closed, t[0].established), (5, 600));
        assert_eq!((t[1].established, t[1].new), (90, 30));
        let e = Config::from_toml("[flow.timeouts.sctp]\nnew = 1\n").unwrap_err();
        assert!(e.contains("sctp"), "{e}");
    }

    #[test]
    fn the_service_example_config_is_valid() {
        let c = Config::from_toml(include_str!("../../systemd/sekimori.toml")).unwrap();
        assert_eq!(c.capture.interfaces, ["eth1"]);
        assert_eq!(c.capture.mode, Some(CaptureMode::Ids));
        assert_eq!(c.service.stats_interval, Some(30));
        let e = Config::from_toml("[capture]\nmode = \"ips\"\ninterfaces = [\"a\"]\n").unwrap_err();
        assert!(e.contains("capture.interfaces"), "{e}");
        let e = Config::from_toml("[service]\nusr = \"x\"\n").unwrap_err();
        assert!(e.contains("usr"), "{e}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let e = Config::from_toml("[flow]\ncapacty = 3\n").unwrap_err();
        assert!(e.contains("capacty"), "{e}");
        let e = Config::from_toml("bogus = 1\n").unwrap_err();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn output_switches_per_registered_protocol() {
        let c = Config::from_toml("[output]\nflow = true\ndns = true\nhttp = false\n").unwrap();
        let on: Vec<&str> = crate::applayer::PROTOCOLS
            .iter()
            .zip(c.output.app_events())
            .filter(|(_, on)| *on)
            .map(|(p, _)| p.name())
            .collect();
        assert_eq!(on, ["dns"]);
        assert_eq!(c.output.flow, Some(true));
        let e = Config::from_toml("[output]\nhtpp = true\ntls = \"yes\"\n").unwrap_err();
        assert!(e.contains("output: unknown key 'htpp'"), "{e}");
        assert!(e.contains("output.tls: must be true or false"), "{e}");
        let e = Config::from_toml("[output]\nflow = \"yes\"\n").unwrap_err();
        assert!(e.contains("expected a boolean"), "{e}");
    }

    #[test]
    fn invalid_values_are_all_reported() {
        let e = Config::from_toml(
            "[flow]\ncapacity = 0\n[runtime]\nworkers = 0\n[vars.address]\nHOME_NET = \"300.0.0.1\"\n[rules]\ndisable = [\"1\", \"nonsense\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("rules.disable[1]"), "{e}");
        assert!(
            e.contains("flow.capacity")
                && e.contains("runtime.workers")
                && e.contains("vars.address.HOME_NET"),
            "{e}"
        );
    }

    #[test]
    fn limits_on_settings() {
        let e = Config::from_toml(
            "[runtime]\nworkers = 10000\n[flow]\ncapacity = 100000000\n[stream]\nmemcap = 0\n[defrag]\nmemcap = 0\n",
        )
        .unwrap_err();
        for key in [
            "runtime.workers: 10000 is more than the 256 allowed",
            "flow.capacity: at most",
            "stream.memcap",
            "defrag.memcap",
        ] {
            assert!(e.contains(key), "{key}: {e}");
        }
        // Depth 0 is Suricata's "no limit", not "no stream inspection".
        let c = Config::from_toml("[stream]\ndepth = 0\n").unwrap();
        assert_eq!(c.flow().stream.depth, u64::MAX);
    }
}
