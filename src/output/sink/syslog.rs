//! Syslog sink: each event is one RFC 5424 message whose MSG is the EVE JSON and whose MSGID
//! is the event type, sent to the local socket (`/dev/log`, datagrams), over UDP (one message
//! per datagram) or over TCP (octet-counted framing, RFC 6587). Alerts carry a syslog
//! severity from their (tuned) EVE severity: 1 critical, 2 error, 3 warning, 4 notice; other
//! events are informational.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use super::socket::send_datagrams;
use super::{body, event_type, SendError, Transport};
use crate::output::eve::push_timestamp;

/// Syslog facilities by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facility(pub u8);

impl Facility {
    const NAMES: [&'static str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2",
        "local3", "local4", "local5", "local6", "local7",
    ];

    /// A facility from its name (`local5`, `daemon`...).
    pub fn parse(s: &str) -> Result<Facility, String> {
        Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .map(|i| Facility(i as u8))
            .ok_or_else(|| {
                format!(
                    "unknown syslog facility '{s}' (one of {})",
                    Self::NAMES.join(", ")
                )
            })
    }
}

/// A syslog destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogSpec {
    /// `/dev/log` (or another local datagram socket path), `udp://host:port`, `tcp://host:port`.
    pub address: String,
    /// Facility (Suricata's EVE syslog default is local5).
    pub facility: Facility,
    /// APP-NAME.
    pub ident: String,
}

enum Conn {
    Local(UnixDatagram),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

pub(super) struct SyslogSink {
    spec: SyslogSpec,
    host: String,
    pid: u32,
    conn: Option<Conn>,
    msg: Vec<u8>,
    ts: Vec<u8>,
}

const TIMEOUT: Duration = Duration::from_secs(5);

impl SyslogSink {
    pub(super) fn new(spec: SyslogSpec) -> std::io::Result<SyslogSink> {
        if let Some(rest) = spec
            .address
            .strip_prefix("udp://")
            .or_else(|| spec.address.strip_prefix("tcp://"))
        {
            if !rest.contains(':') {
                return Err(std::io::Error::other(format!(
                    "syslog address {}: give host:port",
                    spec.address
                )));
            }
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or_else(|| "-".into());
        Ok(SyslogSink {
            spec,
            host,
            pid: std::process::id(),
            conn: None,
            msg: Vec::with_capacity(4096),
            ts: Vec::with_capacity(40),
        })
    }

    /// Renders one message (without transport framing) into `self.msg`.
    fn render(&mut self, line: &[u8]) {
        let et = event_type(line);
        let severity = syslog_severity(line, et);
        let pri = u32::from(self.spec.facility.0) * 8 + u32::from(severity);
        self.ts.clear();
        push_timestamp(&mut self.ts, crate::common::time::now_micros());
        // "2024-01-31T12:00:00.123456+0000" (quoted) -> RFC 3339 in UTC.
        let stamp = self.ts.get(1..27).unwrap_or(b"-");
        self.msg.clear();
        let _ = write!(self.msg, "<{pri}>1 ");
        self.msg.extend_from_slice(stamp);
        if stamp.len() == 26 {
            self.msg.push(b'Z');
        }
        let _ = write!(self.msg, " {} {} {} ", self.host, self.spec.ident, self.pid);
        if et.is_empty() || et.len() > 32 || !et.iter().all(u8::is_ascii_graphic) {
            self.msg.push(b'-');
        } else {
            self.msg.extend_from_slice(et);
        }
        self.msg.extend_from_slice(b" - ");
        self.msg.extend_from_slice(body(line));
    }
}

/// Syslog severity of an event: alerts by their EVE severity, the rest informational.
fn syslog_severity(line: &[u8], et: &[u8]) -> u8 {
    if et != b"alert" {
        return 6;
    }
    let sev = memchr::memmem::find(line, b"\"alert\":{")
        .and_then(|a| {
            let rest = &line[a..];
            memchr::memmem::find(rest, b"\"severity\":").map(|s| &rest[s + 11..])
        })
        .and_then(|r| r.first().copied());
    match sev {
        Some(b'1') => 2,
        Some(b'2') => 3,
        Some(b'3') => 4,
        _ => 5,
    }
}

impl Transport for SyslogSink {
    fn connect(&mut self) -> Result<(), String> {
        let a = &self.spec.address;
        let err = |e: std::io::Error| format!("syslog {a}: {e}");
        let conn = if let Some(hp) = a.strip_prefix("udp://") {
            let peer = hp
                .to_socket_addrs()
                .map_err(err)?
                .next()
                .ok_or_else(|| format!("syslog {a}: no address"))?;
            let bind = if peer.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let s = UdpSocket::bind(bind).map_err(err)?;
            s.connect(peer).map_err(err)?;
            Conn::Udp(s)
        } else if let Some(hp) = a.strip_prefix("tcp://") {
            let peer = hp
                .to_socket_addrs()
                .map_err(err)?
                .next()
                .ok_or_else(|| format!("syslog {a}: no address"))?;
            let s = TcpStream::connect_timeout(&peer, TIMEOUT).map_err(err)?;
            s.set_write_timeout(Some(TIMEOUT)).map_err(err)?;
            Conn::Tcp(s)
        } else {
            let s = UnixDatagram::unbound().map_err(err)?;
            s.connect(a).map_err(err)?;
            s.set_write_timeout(Some(TIMEOUT)).map_err(err)?;
            Conn::Local(s)
        };
        self.conn = Some(conn);
        Ok(())
    }

    fn send(&mut self, lines: &[Vec<u8>]) -> Result<(), SendError> {
        let name = format!("syslog {}", self.spec.address);
        let Some(mut conn) = self.conn.take() else {
            return Err(SendError::Retry(format!("{name}: not connected")));
        };
        let res = match &mut conn {
            Conn::Tcp(s) => {
                let mut out = Vec::with_capacity(lines.iter().map(|l| l.len() + 120).sum());
                for l in lines {
                    self.render(l);
                    let _ = write!(out, "{} ", self.msg.len());
                    out.extend_from_slice(&self.msg);
                }
                s.write_all(&out)
                    .map_err(|e| SendError::Retry(format!("{name}: {e}")))
            }
            Conn::Udp(s) => send_datagrams(lines, &name, |l| {
                self.render(l);
                s.send(&self.msg).map(|_| ())
            }),
            Conn::Local(s) => send_datagrams(lines, &name, |l| {
                self.render(l);
                s.send(&self.msg).map(|_| ())
            }),
        };
        if !matches!(res, Err(SendError::Retry(_))) {
            self.conn = Some(conn);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_rfc5424() {
        let spec = SyslogSpec {
            address: "/nonexistent".into(),
            facility: Facility::parse("local5").unwrap(),
            ident: "sekimori".into(),
        };
        let mut s = SyslogSink::new(spec).unwrap();
        s.render(b"{\"event_type\":\"alert\",\"alert\":{\"action\":\"allowed\",\"severity\":1}}\n");
        let m = String::from_utf8(s.msg.clone()).unwrap();
        // local5 (21) * 8 + critical (2)
        assert!(m.starts_with("<170>1 "), "{m}");
        let parts: Vec<&str> = m.splitn(8, ' ').collect();
        assert_eq!(parts[1].len(), 27, "{m}");
        assert!(
            parts[1].ends_with('Z') && parts[1].as_bytes()[10] == b'T',
            "{m}"
        );
        assert_eq!(parts[3], "sekimori");
        assert_eq!(parts[5], "alert");
        assert_eq!(parts[6], "-");
        assert!(parts[7].starts_with('{') && parts[7].ends_with('}'), "{m}");
        s.render(b"{\"event_type\":\"dns\"}\n");
        assert!(String::from_utf8_lossy(&s.msg).starts_with("<174>1 "));
        assert!(Facility::parse("nope").is_err());
        assert_eq!(
            syslog_severity(b"{\"alert\":{\"severity\":3}}", b"alert"),
            4
        );
    }
}
