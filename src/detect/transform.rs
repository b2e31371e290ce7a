//! Sticky-buffer transforms (`dotprefix`, `url_decode`, `to_lowercase`...): applied to a
//! buffer instance before its inspection chain runs.

use std::sync::Arc;

use md5::Digest;
use pcre2::bytes::{Regex, RegexBuilder};

/// A compiled `pcrexform` expression (compared by its text).
#[derive(Clone, Debug)]
pub struct PcreXform {
    text: String,
    re: Arc<Regex>,
}

impl PartialEq for PcreXform {
    fn eq(&self, o: &Self) -> bool {
        self.text == o.text
    }
}
impl Eq for PcreXform {}
impl PartialOrd for PcreXform {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for PcreXform {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.text.cmp(&o.text)
    }
}
impl std::hash::Hash for PcreXform {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.text.hash(h)
    }
}

/// A transform with semantics in the engine.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transform {
    /// `to_lowercase`.
    Lower,
    /// `to_uppercase`.
    Upper,
    /// `dotprefix`: prepends a `.` (so `.example.com` matches whole labels).
    DotPrefix,
    /// `strip_whitespace`: removes all whitespace.
    StripWhitespace,
    /// `compress_whitespace`: runs of whitespace become one space.
    CompressWhitespace,
    /// `url_decode`: `%XX` escapes and `+` as space.
    UrlDecode,
    /// `header_lowercase`: lowercases header names (`Name: value` lines).
    HeaderLowercase,
    /// `to_md5`: the MD5 digest (raw bytes).
    Md5,
    /// `to_sha1`: the SHA-1 digest.
    Sha1,
    /// `to_sha256`: the SHA-256 digest.
    Sha256,
    /// `strip_pseudo_headers`: HTTP/2 pseudo-headers; HTTP/1 buffers have none.
    StripPseudoHeaders,
    /// `xor:"<hex key>"`: each byte XORed with the key, repeated.
    Xor(Vec<u8>),
    /// `pcrexform:"<regex>"`: the first capture group of the first match (the whole match
    /// without a group); no match leaves an empty buffer.
    PcreXform(PcreXform),
}

impl Transform {
    /// The transform of a rule keyword and its value; Err names transforms without semantics
    /// yet, or a bad value.
    pub fn from_keyword(name: &str, arg: Option<&str>) -> Result<Transform, String> {
        let needs_arg = matches!(name, "xor" | "pcrexform");
        if needs_arg == arg.is_none() {
            return Err(match needs_arg {
                true => format!("transform '{name}' needs a value"),
                false => format!("transform '{name}' takes no value"),
            });
        }
        Ok(match name {
            "xor" => {
                let hex = arg.unwrap_or("");
                let key = super::dataset::unhex(hex).filter(|k| !k.is_empty());
                Transform::Xor(key.ok_or_else(|| format!("xor: bad hex key '{hex}'"))?)
            }
            "pcrexform" => {
                let text = arg.unwrap_or("").to_string();
                let re = RegexBuilder::new()
                    .jit_if_available(true)
                    .build(&format!("(*LIMIT_MATCH=3500)(*LIMIT_DEPTH=1500){text}"))
                    .map_err(|e| format!("pcrexform: {e}"))?;
                Transform::PcreXform(PcreXform {
                    text,
                    re: Arc::new(re),
                })
            }
            "to_lowercase" => Transform::Lower,
            "to_uppercase" => Transform::Upper,
            "dotprefix" => Transform::DotPrefix,
            "strip_whitespace" => Transform::StripWhitespace,
            "compress_whitespace" => Transform::CompressWhitespace,
            "url_decode" => Transform::UrlDecode,
            "header_lowercase" => Transform::HeaderLowercase,
            "to_md5" => Transform::Md5,
            "to_sha1" => Transform::Sha1,
            "to_sha256" => Transform::Sha256,
            "strip_pseudo_headers" => Transform::StripPseudoHeaders,
            other => return Err(format!("transform '{other}' not supported yet")),
        })
    }

    /// Writes the transformed `input` to `out` (cleared first).
    pub fn apply(&self, input: &[u8], out: &mut Vec<u8>) {
        out.clear();
        let ws = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c);
        match self {
            Transform::Lower => out.extend(input.iter().map(u8::to_ascii_lowercase)),
            Transform::Upper => out.extend(input.iter().map(u8::to_ascii_uppercase)),
            Transform::DotPrefix => {
                out.push(b'.');
                out.extend_from_slice(input);
            }
            Transform::StripWhitespace => out.extend(input.iter().copied().filter(|&b| !ws(b))),
            Transform::CompressWhitespace => {
                let mut prev_ws = false;
                for &b in input {
                    if ws(b) {
                        if !prev_ws {
                            out.push(b' ');
                        }
                        prev_ws = true;
                    } else {
                        out.push(b);
                        prev_ws = false;
                    }
                }
            }
            Transform::UrlDecode => {
                let mut i = 0;
                while i < input.len() {
                    match input[i] {
                        b'+' => out.push(b' '),
                        b'%' if i + 2 < input.len() => {
                            let h = (input[i + 1] as char).to_digit(16);
                            let l = (input[i + 2] as char).to_digit(16);
                            if let (Some(h), Some(l)) = (h, l) {
                                out.push((h * 16 + l) as u8);
                                i += 3;
                                continue;
                            }
                            out.push(b'%');
                        }
                        b => out.push(b),
                    }
                    i += 1;
                }
            }
            Transform::HeaderLowercase => {
                let mut in_name = true;
                for &b in input {
                    if b == b'\n' {
                        in_name = true;
                        out.push(b);
                    } else if in_name && b == b':' {
                        in_name = false;
                        out.push(b);
                    } else if in_name {
                        out.push(b.to_ascii_lowercase());
                    } else {
                        out.push(b);
                    }
                }
            }
            Transform::Md5 => out.extend_from_slice(&md5::Md5::digest(input)),
            Transform::Sha1 => {
                out.extend_from_slice(&sha1_smol::Sha1::from(input).digest().bytes())
            }
            Transform::Sha256 => out.extend_from_slice(&sha2::Sha256::digest(input)),
            Transform::StripPseudoHeaders => out.extend_from_slice(input),
            Transform::Xor(key) => {
                out.extend(input.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k))
            }
            Transform::PcreXform(x) => match x.re.captures(input) {
                Ok(Some(caps)) => {
                    if let Some(m) = caps.get(1).or_else(|| caps.get(0)) {
                        out.extend_from_slice(m.as_bytes());
                    }
                }
                Ok(None) => {}
                // Stopped at its limits: an empty buffer, counted like a rule's pcre.
                Err(_) => super::inspect::count_pcre_limit_hit(),
            },
        }
    }
}

/// Applies `ts` in order to `input`; returns the result (in `a` or `b`, which are scratch).
pub fn apply_all<'x>(
    ts: &[Transform],
    input: &'x [u8],
    a: &'x mut Vec<u8>,
    b: &'x mut Vec<u8>,
) -> &'x [u8] {
    if ts.is_empty() {
        return input;
    }
    ts[0].apply(input, a);
    let (mut cur, mut next) = (a, b);
    for t in &ts[1..] {
        t.apply(cur, next);
        std::mem::swap(&mut cur, &mut next);
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tr: Transform, s: &[u8]) -> Vec<u8> {
        let mut o = Vec::new();
        tr.apply(s, &mut o);
        o
    }

    #[test]
    fn transforms() {
        assert_eq!(t(Transform::DotPrefix, b"a.com"), b".a.com");
        assert_eq!(
            t(Transform::UrlDecode, b"/evil%27sqli+x%zz"),
            b"/evil'sqli x%zz"
        );
        assert_eq!(t(Transform::StripWhitespace, b" G E\tT "), b"GET");
        assert_eq!(t(Transform::CompressWhitespace, b"a  \t b"), b"a b");
        assert_eq!(
            t(
                Transform::HeaderLowercase,
                b"Accept-Ranges: Bytes\r\nX-Y: Z\r\n"
            ),
            b"accept-ranges: Bytes\r\nx-y: Z\r\n"
        );
        assert_eq!(t(Transform::Md5, b"").len(), 16);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let out = apply_all(
            &[Transform::Lower, Transform::DotPrefix, Transform::Upper],
            b"Ab",
            &mut a,
            &mut b,
        );
        assert_eq!(out, b".AB");
        assert!(Transform::from_keyword("xor", None).is_err());
        assert!(Transform::from_keyword("to_lowercase", Some("x")).is_err());
        assert!(Transform::from_keyword("from_base64", None).is_err());
    }

    #[test]
    fn xor_with_a_repeated_key() {
        let x = Transform::from_keyword("xor", Some("0d0a")).unwrap();
        assert_eq!(t(x.clone(), b"\x0d\x0a\x0d"), [0, 0, 0]);
        assert_eq!(t(x, b"ab"), [b'a' ^ 0x0d, b'b' ^ 0x0a]);
        for bad in ["", "0", "zz", "0d0"] {
            assert!(Transform::from_keyword("xor", Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn pcrexform_keeps_the_first_capture() {
        let x = Transform::from_keyword("pcrexform", Some(r"[a-zA-Z]+\s+(.*)\s+HTTP")).unwrap();
        assert_eq!(t(x.clone(), b"GET /dropper.php HTTP/1.1"), b"/dropper.php");
        // No match: an empty buffer, so contents cannot match.
        assert!(t(x, b"nothing here").is_empty());
        let tld = Transform::from_keyword("pcrexform", Some(r"\.([^\.]+)$")).unwrap();
        assert_eq!(t(tld, b"www.example.xyz"), b"xyz");
        assert!(Transform::from_keyword("pcrexform", Some("[")).is_err());
        // A search stopped at PCRE2's limits leaves an empty buffer and is counted.
        let slow = Transform::from_keyword("pcrexform", Some("(a+)+$")).unwrap();
        let mut input = vec![b'a'; 40];
        input.push(b'b');
        crate::detect::inspect::take_pcre_limit_hits();
        assert!(t(slow, &input).is_empty());
        assert_eq!(crate::detect::inspect::take_pcre_limit_hits(), 1);
        // Equal by their expression text (they key prefilter databases).
        let a = Transform::from_keyword("pcrexform", Some("(a)")).unwrap();
        assert_eq!(
            a,
            Transform::from_keyword("pcrexform", Some("(a)")).unwrap()
        );
        assert_ne!(
            a,
            Transform::from_keyword("pcrexform", Some("(b)")).unwrap()
        );
    }
}
