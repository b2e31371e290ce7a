//! Line framing and command verbs shared by the text protocols (SMTP, FTP): lines are cut at
//! a limit instead of buffering without end, and verbs are compared without allocating.

/// Takes the next line out of `buf` + `data`. Returns the line (without CRLF/LF) when
/// complete or when it reached `limit` (then `eol` is false), and the bytes of `data` used.
/// The returned vector is `buf`'s storage; callers hand it back cleared.
pub(crate) fn next_line(
    buf: &mut Vec<u8>,
    data: &[u8],
    limit: usize,
) -> (Option<Vec<u8>>, bool, usize) {
    let room = limit.saturating_sub(buf.len()).max(1);
    let window = &data[..data.len().min(room)];
    match memchr::memchr(b'\n', window) {
        Some(i) => {
            buf.extend_from_slice(&window[..i]);
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            (Some(std::mem::take(buf)), true, i + 1)
        }
        None => {
            buf.extend_from_slice(window);
            if buf.len() >= limit {
                (Some(std::mem::take(buf)), false, window.len())
            } else {
                (None, false, window.len())
            }
        }
    }
}

/// A command verb in upper case, on the stack. A verb longer than any command is empty, so it
/// matches none.
pub(crate) struct Verb {
    buf: [u8; 16],
    len: usize,
}

impl Verb {
    /// The upper-case form of `v`.
    pub(crate) fn upper(v: &[u8]) -> Verb {
        let mut buf = [0u8; 16];
        let len = if v.len() <= buf.len() { v.len() } else { 0 };
        for (d, s) in buf.iter_mut().zip(&v[..len]) {
            *d = s.to_ascii_uppercase();
        }
        Verb { buf, len }
    }

    /// The verb's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_at_the_limit_and_verbs_upper_cased() {
        let mut buf = Vec::new();
        let (l, eol, used) = next_line(&mut buf, b"abc\r\ndef", 100);
        assert_eq!((l.unwrap(), eol, used), (b"abc".to_vec(), true, 5));
        let (l, eol, used) = next_line(&mut buf, b"0123456789", 4);
        assert_eq!((l.unwrap(), eol, used), (b"0123".to_vec(), false, 4));
        assert_eq!(Verb::upper(b"ehlo").as_bytes(), b"EHLO");
        assert_eq!(Verb::upper(&[b'a'; 40]).as_bytes(), b"");
    }
}
