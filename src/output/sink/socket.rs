//! Unix socket sinks: a stream socket gets newline-separated events (as a file would), a
//! datagram socket one event per datagram without the newline.

use std::io::Write;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

use super::{body, SendError, Transport};

/// A peer that stops reading holds a write this long before the sink counts it as down.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A unix stream socket (a log shipper listening on a path).
pub(super) struct UnixStreamSink {
    path: PathBuf,
    conn: Option<UnixStream>,
    buf: Vec<u8>,
}

impl UnixStreamSink {
    pub(super) fn new(path: PathBuf) -> UnixStreamSink {
        UnixStreamSink {
            path,
            conn: None,
            buf: Vec::with_capacity(1 << 16),
        }
    }
}

impl Transport for UnixStreamSink {
    fn connect(&mut self) -> Result<(), String> {
        let s =
            UnixStream::connect(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        s.set_write_timeout(Some(WRITE_TIMEOUT))
            .map_err(|e| e.to_string())?;
        self.conn = Some(s);
        Ok(())
    }

    fn send(&mut self, lines: &[Vec<u8>]) -> Result<(), SendError> {
        let Some(c) = self.conn.as_mut() else {
            return Err(SendError::Retry("not connected".into()));
        };
        self.buf.clear();
        for l in lines {
            self.buf.extend_from_slice(l);
        }
        // A stream cut mid-batch may have delivered part of a line; the peer sees the next
        // connection start on a fresh line because the batch is resent whole.
        c.write_all(&self.buf).map_err(|e| {
            self.conn = None;
            SendError::Retry(format!("{}: {e}", self.path.display()))
        })
    }
}

/// A unix datagram socket.
pub(super) struct UnixDgramSink {
    path: PathBuf,
    sock: Option<UnixDatagram>,
}

impl UnixDgramSink {
    pub(super) fn new(path: PathBuf) -> UnixDgramSink {
        UnixDgramSink { path, sock: None }
    }
}

impl Transport for UnixDgramSink {
    fn connect(&mut self) -> Result<(), String> {
        let s = UnixDatagram::unbound().map_err(|e| e.to_string())?;
        s.connect(&self.path)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        s.set_write_timeout(Some(WRITE_TIMEOUT))
            .map_err(|e| e.to_string())?;
        self.sock = Some(s);
        Ok(())
    }

    fn send(&mut self, lines: &[Vec<u8>]) -> Result<(), SendError> {
        let sock = &self.sock;
        send_datagrams(lines, &self.path.display().to_string(), |l| match sock {
            Some(s) => s.send(body(l)).map(|_| ()),
            None => Err(std::io::Error::from(std::io::ErrorKind::NotConnected)),
        })
        .inspect_err(|e| {
            if matches!(e, SendError::Retry(_)) {
                self.sock = None;
            }
        })
    }
}

/// Sends one datagram per line with `send`. An event too large for a datagram is lost
/// (counted) without stopping the rest; any other error means the peer is gone. Lines already
/// sent when that happens go again after the reconnect: a datagram peer may see an event
/// twice, never a half one.
pub(super) fn send_datagrams(
    lines: &[Vec<u8>],
    name: &str,
    mut send: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), SendError> {
    let mut too_large = 0usize;
    for l in lines {
        match send(l) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => too_large += 1,
            Err(e) => return Err(SendError::Retry(format!("{name}: {e}"))),
        }
    }
    if too_large > 0 {
        return Err(SendError::Lost {
            events: too_large,
            why: format!("{name}: events larger than a datagram"),
        });
    }
    Ok(())
}
