//! `asn1`: decodes BER elements from a point of the buffer and matches when one of them has
//! a property the rule asks for: a length above a bound (`oversize_length`), a BIT STRING
//! claiming more than 7 unused bits (`bitstring_overflow`), or a REAL in decimal (ASCII) form
//! longer than a 256-byte buffer (`double_overflow`). Decoding starts at `absolute_offset`,
//! or `relative_offset` from the end of the previous match, else at the buffer start, and
//! visits at most 30 elements (constructed ones are descended into), as Suricata does.

/// Elements visited per evaluation, at most.
const MAX_FRAMES: usize = 30;
/// Nesting descended, at most.
const MAX_DEPTH: usize = 16;

/// A parsed `asn1` keyword.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Asn1Spec {
    /// `bitstring_overflow`.
    pub bitstring_overflow: bool,
    /// `double_overflow`.
    pub double_overflow: bool,
    /// `oversize_length N`: an element's length above N.
    pub oversize_length: Option<u64>,
    /// `absolute_offset N`.
    pub absolute_offset: Option<u32>,
    /// `relative_offset N` (may be negative).
    pub relative_offset: Option<i32>,
}

impl Asn1Spec {
    /// Parses `option[ value], ...`.
    pub fn parse(v: &str) -> Result<Asn1Spec, String> {
        let mut s = Asn1Spec::default();
        for item in v.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let mut words = item.split_whitespace();
            let name = words.next().unwrap_or_default();
            let mut num = || -> Result<i64, String> {
                words
                    .next()
                    .and_then(|w| w.parse::<i64>().ok())
                    .ok_or_else(|| format!("asn1 option '{name}' needs a number"))
            };
            match name {
                "bitstring_overflow" => s.bitstring_overflow = true,
                "double_overflow" => s.double_overflow = true,
                "oversize_length" => {
                    s.oversize_length =
                        Some(u64::try_from(num()?).map_err(|_| "negative oversize_length")?)
                }
                "absolute_offset" => {
                    s.absolute_offset =
                        Some(u32::try_from(num()?).map_err(|_| "absolute_offset out of range")?)
                }
                "relative_offset" => {
                    s.relative_offset =
                        Some(i32::try_from(num()?).map_err(|_| "relative_offset out of range")?)
                }
                other => return Err(format!("unknown asn1 option '{other}'")),
            }
        }
        if !(s.bitstring_overflow || s.double_overflow || s.oversize_length.is_some()) {
            return Err(
                "asn1 needs a check (bitstring_overflow, double_overflow, oversize_length)".into(),
            );
        }
        if s.absolute_offset.is_some() && s.relative_offset.is_some() {
            return Err("asn1 takes absolute_offset or relative_offset, not both".into());
        }
        Ok(s)
    }

    /// Whether decoding `buf` from where the options say (`prev_end`: end of the previous
    /// match) finds an element with a property asked for.
    pub fn matches(&self, buf: &[u8], prev_end: usize) -> bool {
        let start = match (self.absolute_offset, self.relative_offset) {
            (Some(a), _) => a as i64,
            (None, Some(r)) => prev_end as i64 + i64::from(r),
            (None, None) => 0,
        };
        let Ok(start) = usize::try_from(start) else {
            return false;
        };
        let Some(data) = buf.get(start..) else {
            return false;
        };
        let mut frames = 0;
        self.walk(data, 0, &mut frames)
    }

    /// Visits the elements of `data` in order (descending into constructed ones).
    fn walk(&self, mut data: &[u8], depth: usize, frames: &mut usize) -> bool {
        while !data.is_empty() && *frames < MAX_FRAMES {
            *frames += 1;
            let Some(h) = header(data) else {
                return false;
            };
            if self.oversize_length.is_some_and(|n| h.len > n) {
                return true;
            }
            let avail = &data[h.size..];
            let body = &avail[..avail
                .len()
                .min(usize::try_from(h.len).unwrap_or(usize::MAX))];
            if h.universal && !h.constructed {
                if self.bitstring_overflow && h.tag == 3 && body.first().is_some_and(|&u| u > 7) {
                    return true;
                }
                if self.double_overflow
                    && h.tag == 9
                    && h.len > 256
                    && body.first().is_some_and(|&b| b & 0xc0 == 0)
                {
                    return true;
                }
            }
            if h.constructed && depth < MAX_DEPTH && self.walk(body, depth + 1, frames) {
                return true;
            }
            data = &avail[body.len()..];
        }
        false
    }
}

/// A BER element header.
struct Header {
    /// Bytes of the identifier and length octets.
    size: usize,
    tag: u64,
    universal: bool,
    constructed: bool,
    /// The length the element claims (the rest of the data for the indefinite form).
    len: u64,
}

fn header(d: &[u8]) -> Option<Header> {
    let id = *d.first()?;
    let mut i = 1;
    let mut tag = u64::from(id & 0x1f);
    if tag == 0x1f {
        // High tag number form: base-128 digits.
        tag = 0;
        loop {
            let b = *d.get(i)?;
            i += 1;
            tag = tag.checked_mul(128)? | u64::from(b & 0x7f);
            if b & 0x80 == 0 || i > 9 {
                break;
            }
        }
    }
    let first = *d.get(i)?;
    i += 1;
    let len = if first & 0x80 == 0 {
        u64::from(first)
    } else if first == 0x80 {
        // Indefinite: up to the end of what is there.
        (d.len() - i) as u64
    } else {
        let n = usize::from(first & 0x7f);
        if n > 8 {
            return None;
        }
        let bytes = d.get(i..i + n)?;
        i += n;
        bytes.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b))
    };
    Some(Header {
        size: i,
        tag,
        universal: id & 0xc0 == 0,
        constructed: id & 0x20 != 0,
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_and_offsets() {
        let s = Asn1Spec::parse("bitstring_overflow, oversize_length 100").unwrap();
        // SEQUENCE { BIT STRING with 9 unused bits }
        assert!(s.matches(&[0x30, 0x04, 0x03, 0x02, 0x09, 0xff], 0));
        assert!(!s.matches(&[0x30, 0x04, 0x03, 0x02, 0x07, 0xff], 0));
        // A length of 0x0200 claimed in long form.
        assert!(s.matches(&[0x04, 0x82, 0x02, 0x00, 0x41], 0));
        let rel = Asn1Spec::parse("oversize_length 10, relative_offset 2").unwrap();
        assert!(rel.matches(b"xx\x04\x20", 0));
        assert!(!rel.matches(b"xx\x04\x20", 5));
        let abs = Asn1Spec::parse("oversize_length 10, absolute_offset 1").unwrap();
        assert!(abs.matches(b"\x00\x04\x20", 0));
        let dbl = Asn1Spec::parse("double_overflow").unwrap();
        let mut real = vec![0x09, 0x82, 0x01, 0x01, 0x03];
        real.extend(std::iter::repeat_n(b'1', 256));
        assert!(dbl.matches(&real, 0));
        assert!(Asn1Spec::parse("relative_offset 1").is_err());
        assert!(Asn1Spec::parse("bitstring_overflow, bogus").is_err());
        // Garbage and endless nesting stay bounded.
        assert!(!s.matches(&[0x30; 4096], 0));
    }
}
