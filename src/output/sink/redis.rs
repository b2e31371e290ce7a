//! Redis sink, with the modes and key names of Suricata's redis output: LPUSH (`list`,
//! `lpush`) or RPUSH onto a list, PUBLISH to a channel (`channel`, `publish`), or XADD to a
//! stream (`stream`, `xadd`) trimmed with `MAXLEN ~ N` (or `=` with `stream_trim_exact`),
//! the event in the entry's field `eve`. Each batch is one pipeline: one round trip.
//!
//! Several sensors XADD to one stream and a consumer group (`XREADGROUP`) spreads the
//! events over the readers: the documented way to scale out.

use std::time::Duration;

use super::{body, SendError, Transport};

/// What the sink does with each event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisMode {
    /// LPUSH onto a list (Suricata's default, `list`).
    Lpush,
    /// RPUSH onto a list.
    Rpush,
    /// PUBLISH to a channel.
    Publish,
    /// XADD to a stream.
    Xadd,
}

impl RedisMode {
    /// Parses a mode name as Suricata spells them.
    pub fn parse(s: &str) -> Result<RedisMode, String> {
        Ok(match s {
            "list" | "lpush" => RedisMode::Lpush,
            "rpush" => RedisMode::Rpush,
            "channel" | "publish" => RedisMode::Publish,
            "stream" | "xadd" => RedisMode::Xadd,
            _ => {
                return Err(format!(
                    "unknown redis mode '{s}' (list, lpush, rpush, channel, publish, stream, xadd)"
                ))
            }
        })
    }

    /// The Redis command.
    pub fn name(self) -> &'static str {
        match self {
            RedisMode::Lpush => "LPUSH",
            RedisMode::Rpush => "RPUSH",
            RedisMode::Publish => "PUBLISH",
            RedisMode::Xadd => "XADD",
        }
    }
}

/// A Redis destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisSpec {
    /// `redis://[user:password@]host:port[/db]` or `redis+unix:///path`.
    pub url: String,
    /// Command.
    pub mode: RedisMode,
    /// List, channel or stream name (default `suricata`).
    pub key: String,
    /// Stream length kept by XADD (default 100,000).
    pub stream_maxlen: u64,
    /// Trim the stream exactly (`MAXLEN =`) instead of approximately (`MAXLEN ~`).
    pub stream_trim_exact: bool,
}

impl RedisSpec {
    /// The URL for messages and summaries, its password (if any) masked.
    pub fn shown_url(&self) -> String {
        let Some((scheme, rest)) = self.url.split_once("://") else {
            return self.url.clone();
        };
        match rest.split_once('@') {
            Some((auth, host)) if auth.contains(':') => {
                let user = auth.split(':').next().unwrap_or("");
                format!("{scheme}://{user}:***@{host}")
            }
            _ => self.url.clone(),
        }
    }
}

/// Connecting, and each pipeline's reply, may take this long before the server counts as down.
const TIMEOUT: Duration = Duration::from_secs(5);

pub(super) struct RedisSink {
    spec: RedisSpec,
    client: redis::Client,
    conn: Option<redis::Connection>,
    pipe: redis::Pipeline,
}

impl RedisSink {
    pub(super) fn new(spec: &RedisSpec) -> std::io::Result<RedisSink> {
        let client = redis::Client::open(spec.url.as_str())
            .map_err(|e| std::io::Error::other(format!("redis url {}: {e}", spec.shown_url())))?;
        Ok(RedisSink {
            spec: spec.clone(),
            client,
            conn: None,
            pipe: redis::Pipeline::with_capacity(256),
        })
    }
}

impl Transport for RedisSink {
    fn connect(&mut self) -> Result<(), String> {
        let url = self.spec.shown_url();
        let c = self
            .client
            .get_connection_with_timeout(TIMEOUT)
            .map_err(|e| format!("redis {url}: {e}"))?;
        c.set_write_timeout(Some(TIMEOUT))
            .and_then(|_| c.set_read_timeout(Some(TIMEOUT)))
            .map_err(|e| format!("redis {url}: {e}"))?;
        self.conn = Some(c);
        Ok(())
    }

    fn send(&mut self, lines: &[Vec<u8>]) -> Result<(), SendError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(SendError::Retry("redis: not connected".into()));
        };
        let s = &self.spec;
        self.pipe.clear();
        for l in lines {
            let cmd = self.pipe.cmd(s.mode.name()).arg(&s.key);
            if s.mode == RedisMode::Xadd {
                cmd.arg("MAXLEN")
                    .arg(if s.stream_trim_exact { "=" } else { "~" })
                    .arg(s.stream_maxlen)
                    .arg("*")
                    .arg("eve");
            }
            cmd.arg(body(l)).ignore();
        }
        match self.pipe.exec(conn) {
            Ok(()) => Ok(()),
            Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
                self.conn = None;
                Err(SendError::Retry(format!("redis {}: {e}", s.shown_url())))
            }
            // An error reply (a key of another type, out of memory): the server is up but
            // refused the batch; resending it would fail the same way.
            Err(e) => Err(SendError::Lost {
                events: lines.len(),
                why: format!("redis {} {}: {e}", s.mode.name(), s.key),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        let mut r = RedisSpec {
            url: "redis://soc:s3cret@10.0.0.5:6379/0".into(),
            mode: RedisMode::Xadd,
            key: "k".into(),
            stream_maxlen: 1,
            stream_trim_exact: false,
        };
        assert_eq!(r.shown_url(), "redis://soc:***@10.0.0.5:6379/0");
        r.url = "redis://127.0.0.1:6379".into();
        assert_eq!(r.shown_url(), r.url);
    }
}
