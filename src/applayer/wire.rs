//! Field access on untrusted protocol bytes: every read is bounds-checked and returns None
//! past the end, so parsers of binary protocols (SMB, DCERPC, NTLMSSP, Kerberos) never index
//! out of range.

/// Byte at `o`.
#[inline]
pub fn u8_at(d: &[u8], o: usize) -> Option<u8> {
    d.get(o).copied()
}

/// Little-endian u16 at `o`.
#[inline]
pub fn le16(d: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        d.get(o..o.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// Little-endian u32 at `o`.
#[inline]
pub fn le32(d: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        d.get(o..o.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Little-endian u64 at `o`.
#[inline]
pub fn le64(d: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        d.get(o..o.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// `len` bytes at `o`.
#[inline]
pub fn slice(d: &[u8], o: usize, len: usize) -> Option<&[u8]> {
    d.get(o..o.checked_add(len)?)
}

/// Decodes UTF-16LE text to UTF-8 (unpaired surrogates become U+FFFD), stopping at the
/// first NUL character; an odd trailing byte is ignored.
pub fn utf16le(d: &[u8]) -> Vec<u8> {
    let units = d
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0);
    let mut out = Vec::with_capacity(d.len() / 2);
    for c in char::decode_utf16(units) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        let mut b = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }
    out
}

/// The bytes up to the first NUL (all of `d` when there is none).
pub fn cstr(d: &[u8]) -> &[u8] {
    match memchr::memchr(0, d) {
        Some(i) => &d[..i],
        None => d,
    }
}

/// Formats a 16-byte GUID as it travels in little-endian byte order (the first three fields
/// reversed), lower case: `4b324fc8-1670-01d3-1278-5a47bf6ee188`.
pub fn guid_string(g: &[u8; 16]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(36);
    for i in [3, 2, 1, 0] {
        let _ = write!(s, "{:02x}", g[i]);
    }
    s.push('-');
    for i in [5, 4] {
        let _ = write!(s, "{:02x}", g[i]);
    }
    s.push('-');
    for i in [7, 6] {
        let _ = write!(s, "{:02x}", g[i]);
    }
    s.push('-');
    for b in &g[8..10] {
        let _ = write!(s, "{b:02x}");
    }
    s.push('-');
    for b in &g[10..] {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses a GUID's text form (`4b324fc8-1670-01d3-1278-5a47bf6ee188`) into its
/// little-endian wire bytes (the inverse of [`guid_string`]).
pub fn parse_guid(s: &str) -> Option<[u8; 16]> {
    let parts: Vec<&str> = s.trim().split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    if parts.len() != 5 || parts.iter().zip(lens).any(|(p, l)| p.len() != l) {
        return None;
    }
    let hex: String = parts.concat();
    let mut b = [0u8; 16];
    for (i, out) in b.iter_mut().enumerate() {
        *out = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_end() {
        let d = [1u8, 2, 3];
        assert_eq!(le16(&d, 1), Some(0x0302));
        assert_eq!(le16(&d, 2), None);
        assert_eq!(le32(&d, 0), None);
        assert_eq!(le64(&d, usize::MAX - 1), None);
        assert_eq!(slice(&d, usize::MAX, 2), None);
    }

    #[test]
    fn utf16_and_guids() {
        assert_eq!(utf16le(b"\\\0e\0i\0\0\0x\0"), b"\\ei");
        assert_eq!(utf16le(&[0x00, 0xd8, b'a', 0]), "\u{fffd}a".as_bytes());
        let g = parse_guid("4b324fc8-1670-01d3-1278-5a47bf6ee188").unwrap();
        assert_eq!(
            g,
            [
                0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e,
                0xe1, 0x88
            ]
        );
        assert_eq!(guid_string(&g), "4b324fc8-1670-01d3-1278-5a47bf6ee188");
        assert_eq!(parse_guid("4b324fc8-1670-01d3-1278"), None);
        assert_eq!(parse_guid("zb324fc8-1670-01d3-1278-5a47bf6ee188"), None);
    }
}
