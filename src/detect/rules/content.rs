//! `content` values and their modifiers.

use super::keywords::Value;

/// How a content takes part in the fast-pattern (MPM) stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FastPattern {
    /// Not chosen by the rule; the compiler may still pick it.
    #[default]
    Auto,
    /// `fast_pattern`: this content is the rule's fast pattern.
    Yes,
    /// `fast_pattern:only` (legacy): same as `Yes`; the content is still verified.
    Only,
    /// `fast_pattern:offset,length`: only this slice of the pattern goes to the MPM.
    Chop(u16, u16),
}

/// A `content` match with Suricata's modifier semantics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Content {
    /// The bytes to find.
    pub pattern: Vec<u8>,
    /// `content:!"..."`: the rule matches only if this is absent.
    pub negated: bool,
    /// Case-insensitive (ASCII).
    pub nocase: bool,
    /// Absolute start of the search window.
    pub offset: Option<Value>,
    /// Absolute window length, counted from `offset`.
    pub depth: Option<Value>,
    /// Start of the search relative to the end of the previous match.
    pub distance: Option<Value>,
    /// Window end relative to the previous match end plus `distance`.
    pub within: Option<Value>,
    /// Match must start the buffer.
    pub startswith: bool,
    /// Match must end the buffer.
    pub endswith: bool,
    /// Fast-pattern choice.
    pub fast_pattern: FastPattern,
    /// `rawbytes` (no effect on packet payloads; kept for reporting).
    pub rawbytes: bool,
}

impl Content {
    /// Whether this content is anchored to the previous match of its buffer.
    pub fn is_relative(&self) -> bool {
        self.distance.is_some() || self.within.is_some()
    }

    /// The bytes that go into the MPM for this content.
    pub fn mpm_bytes(&self) -> &[u8] {
        match self.fast_pattern {
            FastPattern::Chop(off, len) => {
                let start = usize::from(off).min(self.pattern.len());
                let end = (start + usize::from(len)).min(self.pattern.len());
                &self.pattern[start..end]
            }
            _ => &self.pattern,
        }
    }
}

/// Parses a content value: optional `!`, then a quoted string with `|hex|` runs and `\` escapes.
pub fn parse_content_value(raw: &str) -> Result<(Vec<u8>, bool), String> {
    let mut s = raw.trim();
    let mut negated = false;
    if let Some(rest) = s.strip_prefix('!') {
        negated = true;
        s = rest.trim_start();
    }
    let body = s
        .strip_prefix('"')
        .and_then(|b| b.strip_suffix('"'))
        .ok_or_else(|| format!("content value must be quoted: {raw}"))?;
    let bytes = decode_pattern(body)?;
    if bytes.is_empty() {
        return Err("empty content".into());
    }
    Ok((bytes, negated))
}

/// Decodes a content body: `|41 42|` hex runs, `\"` `\\` `\;` `\:` `\|` escapes.
pub fn decode_pattern(body: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len());
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut in_hex = false;
    let mut nibble: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        if in_hex {
            match c {
                b'|' => {
                    if nibble.is_some() {
                        return Err(format!("odd number of hex digits in '{body}'"));
                    }
                    in_hex = false;
                }
                b' ' | b'\t' => {
                    if nibble.is_some() {
                        return Err(format!("space inside a hex byte in '{body}'"));
                    }
                }
                _ => {
                    let v = (c as char)
                        .to_digit(16)
                        .ok_or_else(|| format!("invalid hex digit '{}' in '{body}'", c as char))?
                        as u8;
                    match nibble.take() {
                        Some(hi) => out.push(hi << 4 | v),
                        None => nibble = Some(v),
                    }
                }
            }
            i += 1;
            continue;
        }
        match c {
            b'|' => in_hex = true,
            b'\\' => {
                let next = *bytes
                    .get(i + 1)
                    .ok_or_else(|| format!("trailing backslash in '{body}'"))?;
                match next {
                    b'"' | b'\\' | b';' | b':' | b'|' => out.push(next),
                    _ => return Err(format!("invalid escape '\\{}' in '{body}'", next as char)),
                }
                i += 1;
            }
            b'"' => return Err(format!("unescaped quote inside '{body}'")),
            _ => out.push(c),
        }
        i += 1;
    }
    if in_hex {
        return Err(format!("unterminated hex run in '{body}'"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_escapes() {
        let (b, neg) = parse_content_value(r#""uid=0|28|root|29|""#).unwrap();
        assert_eq!(b, b"uid=0(root)");
        assert!(!neg);
        let (b, neg) = parse_content_value(r#"!"a\;b\"c\\d|0d 0a|""#).unwrap();
        assert_eq!(b, b"a;b\"c\\d\r\n");
        assert!(neg);
        assert_eq!(decode_pattern("|00FFfe|").unwrap(), vec![0, 0xff, 0xfe]);
    }

    #[test]
    fn bad_values() {
        assert!(parse_content_value("abc").is_err());
        assert!(parse_content_value(r#""""#).is_err());
        assert!(parse_content_value(r#""|4|""#).is_err());
        assert!(parse_content_value(r#""|zz|""#).is_err());
        assert!(parse_content_value(r#""|41""#).is_err());
        assert!(parse_content_value(r#""a\x""#).is_err());
        assert!(parse_content_value(r#""a"b""#).is_err());
    }

    #[test]
    fn chopped_fast_pattern() {
        let c = Content {
            pattern: b"abcdef".to_vec(),
            fast_pattern: FastPattern::Chop(2, 3),
            ..Content::default()
        };
        assert_eq!(c.mpm_bytes(), b"cde");
        let c = Content {
            fast_pattern: FastPattern::Chop(4, 9),
            ..c
        };
        assert_eq!(c.mpm_bytes(), b"ef");
    }
}
