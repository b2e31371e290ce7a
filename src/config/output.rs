//! `[[output.sinks]]` and `[metrics]`: where EVE events go besides the EVE file, and the
//! Prometheus endpoint.

use std::path::PathBuf;

use serde::Deserialize;

use crate::output::sink::{
    Facility, RedisMode, RedisSpec, SinkSpec, SinkTarget, SyslogSpec, DEFAULT_BUFFER, MAX_BUFFER,
};

/// One `[[output.sinks]]` table. Which keys apply depends on `kind`; a key given to a kind
/// that does not use it is an error.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSection {
    /// `file`, `stdout`, `unix-stream`, `unix-dgram`, `syslog` or `redis`.
    pub kind: String,
    /// Name in logs, stats and metrics (default: the kind, numbered when repeated).
    pub name: Option<String>,
    /// Event types written (`alert`, `anomaly`, `flow`, `fileinfo`, `stats`, `packet`, or a
    /// protocol's events such as `http`); default all.
    #[serde(default)]
    pub types: Vec<String>,
    /// Events queued before the sink drops (default 65,536).
    pub buffer: Option<usize>,
    /// Events per write: one Redis pipeline, one socket write (default 256).
    pub batch: Option<usize>,
    /// File or socket path (`file`, `unix-stream`, `unix-dgram`).
    pub path: Option<PathBuf>,
    /// Syslog: `/dev/log` (default), another local socket path, `udp://host:port` or
    /// `tcp://host:port`.
    pub address: Option<String>,
    /// Syslog facility (default `local5`).
    pub facility: Option<String>,
    /// Syslog APP-NAME (default `sekimori`).
    pub ident: Option<String>,
    /// Redis URL (`redis://host:port/db`, `redis+unix:///path`); overrides server and port.
    pub url: Option<String>,
    /// Redis server (default 127.0.0.1).
    pub server: Option<String>,
    /// Redis port (default 6379).
    pub port: Option<u16>,
    /// Redis mode: `list`/`lpush` (default), `rpush`, `channel`/`publish`, `stream`/`xadd`.
    pub mode: Option<String>,
    /// Redis key or channel (default `suricata`).
    pub key: Option<String>,
    /// Entries a Redis stream keeps (default 100,000).
    pub stream_maxlen: Option<u64>,
    /// Trim the stream exactly instead of approximately (default false).
    pub stream_trim_exact: Option<bool>,
}

/// Event types a filter may name.
pub fn known_event_types() -> Vec<&'static str> {
    let mut v = vec![
        "alert", "anomaly", "flow", "fileinfo", "stats", "packet", "incident",
    ];
    v.extend(crate::applayer::PROTOCOLS.iter().map(|p| p.event_type()));
    v
}

impl SinkSection {
    /// The runtime sink; `name` is used when none is configured.
    pub fn build(&self, name: String) -> Result<SinkSpec, String> {
        let at = format!("output.sinks '{}'", name.escape_debug());
        // The name labels a thread, metrics and stats keys: printable, one line.
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(format!("{at}: a name is 1 to 64 printable characters"));
        }
        let kind = self.kind.as_str();
        let allowed: &[&str] = match kind {
            "file" | "unix-stream" | "unix-dgram" => &["path"],
            "stdout" => &[],
            "syslog" => &["address", "facility", "ident"],
            "redis" => &[
                "url",
                "server",
                "port",
                "mode",
                "key",
                "stream_maxlen",
                "stream_trim_exact",
            ],
            _ => {
                return Err(format!(
                    "{at}: unknown kind '{kind}' (file, stdout, unix-stream, unix-dgram, syslog, redis)"
                ))
            }
        };
        let given = [
            ("path", self.path.is_some()),
            ("address", self.address.is_some()),
            ("facility", self.facility.is_some()),
            ("ident", self.ident.is_some()),
            ("url", self.url.is_some()),
            ("server", self.server.is_some()),
            ("port", self.port.is_some()),
            ("mode", self.mode.is_some()),
            ("key", self.key.is_some()),
            ("stream_maxlen", self.stream_maxlen.is_some()),
            ("stream_trim_exact", self.stream_trim_exact.is_some()),
        ];
        for (key, set) in given {
            if set && !allowed.contains(&key) {
                return Err(format!("{at}: '{key}' does not apply to a {kind} sink"));
            }
        }
        let known = known_event_types();
        for t in &self.types {
            if !known.contains(&t.as_str()) {
                return Err(format!(
                    "{at}: unknown event type '{t}' (one of {})",
                    known.join(", ")
                ));
            }
        }
        let need_path = || {
            self.path
                .clone()
                .ok_or_else(|| format!("{at}: a {kind} sink needs 'path'"))
        };
        let target = match kind {
            "file" => SinkTarget::File(need_path()?),
            "stdout" => SinkTarget::Stdout,
            "unix-stream" => SinkTarget::UnixStream(need_path()?),
            "unix-dgram" => SinkTarget::UnixDgram(need_path()?),
            "syslog" => SinkTarget::Syslog(SyslogSpec {
                address: self.address.clone().unwrap_or_else(|| "/dev/log".into()),
                facility: Facility::parse(self.facility.as_deref().unwrap_or("local5"))
                    .map_err(|e| format!("{at}: {e}"))?,
                ident: self.ident.clone().unwrap_or_else(|| "sekimori".into()),
            }),
            _ => {
                let url = match &self.url {
                    Some(u) => u.clone(),
                    None => format!(
                        "redis://{}:{}",
                        self.server.as_deref().unwrap_or("127.0.0.1"),
                        self.port.unwrap_or(6379)
                    ),
                };
                let key = self.key.clone().unwrap_or_else(|| "suricata".into());
                if key.is_empty() {
                    return Err(format!("{at}: 'key' is empty"));
                }
                SinkTarget::Redis(RedisSpec {
                    url,
                    mode: RedisMode::parse(self.mode.as_deref().unwrap_or("list"))
                        .map_err(|e| format!("{at}: {e}"))?,
                    key,
                    stream_maxlen: self.stream_maxlen.unwrap_or(100_000),
                    stream_trim_exact: self.stream_trim_exact.unwrap_or(false),
                })
            }
        };
        let buffer = self.buffer.unwrap_or(DEFAULT_BUFFER);
        if buffer == 0 || buffer > MAX_BUFFER {
            return Err(format!("{at}: buffer must be 1 to {MAX_BUFFER} events"));
        }
        let batch = self.batch.unwrap_or(256);
        if batch == 0 || batch > 65_536 {
            return Err(format!("{at}: batch must be 1 to 65536 events"));
        }
        Ok(SinkSpec {
            name,
            target,
            types: self.types.clone(),
            buffer,
            batch,
        })
    }
}

/// Every sink of a run: the EVE file (`eve`: a path, `-` for stdout, empty for none) first,
/// then `[[output.sinks]]` in order. Names are unique: repeated kinds are numbered.
pub fn build_sinks(eve: &str, sections: &[SinkSection]) -> Result<Vec<SinkSpec>, String> {
    let mut out: Vec<SinkSpec> = Vec::new();
    match eve {
        "" => {}
        "-" => out.push(SinkSpec::new("eve", SinkTarget::Stdout)),
        p => out.push(SinkSpec::new("eve", SinkTarget::File(PathBuf::from(p)))),
    }
    let mut errors = Vec::new();
    for (i, s) in sections.iter().enumerate() {
        let name = s.name.clone().unwrap_or_else(|| {
            let same = sections[..i].iter().filter(|o| o.kind == s.kind).count();
            if same == 0 {
                s.kind.clone()
            } else {
                format!("{}-{}", s.kind, same + 1)
            }
        });
        if out.iter().any(|o| o.name == name) {
            errors.push(format!("output.sinks: two sinks named '{name}'"));
            continue;
        }
        match s.build(name) {
            Ok(spec) => out.push(spec),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    if out.is_empty() {
        return Err("no EVE output: output.eve is empty and no [[output.sinks]] is set".into());
    }
    Ok(out)
}

/// `[output.pcap]`: the frames of every flow that raised an alert, in rotating pcap files.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcapSection {
    /// Directory of the files (and of `flows.tsv`, flow id to file).
    pub dir: PathBuf,
    /// Bytes per file before the next one starts (default 100 MiB).
    pub file_size: Option<u64>,
    /// Bytes all files may take; the oldest are deleted past it (default 1 GiB).
    pub total_size: Option<u64>,
    /// Bytes of recent frames each worker keeps, so an alerting flow's frames from before
    /// the alert are written too (default 16 MiB; at least 64 KiB).
    pub lookback: Option<usize>,
}

impl PcapSection {
    /// The runtime settings.
    pub fn build(&self) -> Result<crate::output::pcaplog::PcapLogConfig, String> {
        let d = crate::output::pcaplog::PcapLogConfig::default();
        let c = crate::output::pcaplog::PcapLogConfig {
            dir: self.dir.clone(),
            file_size: self.file_size.unwrap_or(d.file_size),
            total_size: self.total_size.unwrap_or(d.total_size),
            lookback: self.lookback.unwrap_or(d.lookback),
        };
        if c.file_size < 4096 || c.total_size < c.file_size {
            return Err(
                "output.pcap: file_size must be at least 4096 and total_size at least file_size"
                    .into(),
            );
        }
        if !(1 << 16..=1 << 32).contains(&c.lookback) {
            return Err("output.pcap.lookback: 64 KiB to 4 GiB".into());
        }
        Ok(c)
    }
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Address to serve `/metrics` on, e.g. `127.0.0.1:9917` (off when unset).
    pub listen: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Vec<SinkSpec>, String> {
        let cfg = crate::config::Config::from_toml(t)?;
        build_sinks(
            cfg.output.eve.as_deref().unwrap_or("eve.json"),
            &cfg.output.sinks,
        )
    }

    #[test]
    fn sinks_parse_with_defaults_and_names() {
        let s = parse(
            r#"
[[output.sinks]]
kind = "redis"
mode = "xadd"
types = ["alert"]
[[output.sinks]]
kind = "redis"
key = "eve"
port = 6380
[[output.sinks]]
kind = "syslog"
address = "udp://127.0.0.1:514"
"#,
        )
        .unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].target, SinkTarget::File("eve.json".into()));
        assert_eq!(s[1].name, "redis");
        assert_eq!(s[2].name, "redis-2");
        let SinkTarget::Redis(r) = &s[1].target else {
            panic!()
        };
        assert_eq!(r.mode, RedisMode::Xadd);
        assert_eq!((r.key.as_str(), r.stream_maxlen), ("suricata", 100_000));
        assert_eq!(r.url, "redis://127.0.0.1:6379");
        let SinkTarget::Redis(r) = &s[2].target else {
            panic!()
        };
        assert_eq!(
            (r.mode, r.url.as_str()),
            (RedisMode::Lpush, "redis://127.0.0.1:6380")
        );
        assert_eq!(s[1].types, ["alert"]);
        let SinkTarget::Syslog(y) = &s[3].target else {
            panic!()
        };
        assert_eq!(y.facility, Facility(21));
    }

    #[test]
    fn bad_sinks_are_errors_naming_the_sink() {
        for (t, want) in [
            ("kind = \"kafka\"", "unknown kind 'kafka'"),
            ("kind = \"file\"", "needs 'path'"),
            (
                "kind = \"syslog\"\nkey = \"x\"",
                "'key' does not apply to a syslog sink",
            ),
            (
                "kind = \"redis\"\nmode = \"set\"",
                "unknown redis mode 'set'",
            ),
            (
                "kind = \"stdout\"\ntypes = [\"alerts\"]",
                "unknown event type 'alerts'",
            ),
            ("kind = \"stdout\"\nbuffer = 0", "buffer must be"),
            (
                "kind = \"syslog\"\nfacility = \"local9\"",
                "unknown syslog facility",
            ),
            ("kind = \"redis\"\nbogus = 1", "unknown field `bogus`"),
            (
                "kind = \"stdout\"\nname = \"a\\u0000b\"",
                "1 to 64 printable",
            ),
        ] {
            let e = parse(&format!("[[output.sinks]]\n{t}\n")).unwrap_err();
            assert!(e.contains(want), "{t}: {e}");
        }
        let e = parse("[output]\neve = \"\"\n").unwrap_err();
        assert!(e.contains("no EVE output"), "{e}");
        let e = parse("[[output.sinks]]\nkind=\"stdout\"\nname=\"eve\"\n").unwrap_err();
        assert!(e.contains("two sinks named 'eve'"), "{e}");
    }
}
