//! JSON writing into a reused byte buffer (EVE lines are rendered this way by workers and
//! by the app-layer parsers' EVE objects: no serde tree, no allocation once grown).

use std::io::Write;

/// Appends `s` as a JSON string literal.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                let _ = write!(out, "\\u{b:04x}");
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Appends bytes as a JSON string (invalid UTF-8 replaced).
pub fn push_json_bytes(out: &mut Vec<u8>, b: &[u8]) {
    push_json_str(out, &String::from_utf8_lossy(b));
}

/// Appends `,"key":"value"` when `v` is present.
pub fn push_opt(out: &mut Vec<u8>, key: &str, v: Option<&[u8]>) {
    if let Some(v) = v {
        out.push(b',');
        push_key(out, key);
        push_json_bytes(out, v);
    }
}

/// Appends `,"key":[...]` with the items as JSON strings (invalid UTF-8 replaced); nothing
/// when there are none.
pub fn push_list(out: &mut Vec<u8>, key: &str, items: &[Vec<u8>]) {
    if items.is_empty() {
        return;
    }
    out.push(b',');
    push_key(out, key);
    out.push(b'[');
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_bytes(out, v);
    }
    out.push(b']');
}

/// Removes the comma before an object's first member, written at `mark` (members are
/// appended as `,"key":value`, then the object closes).
pub fn strip_leading_comma(out: &mut Vec<u8>, mark: usize) {
    if out.len() > mark && out[mark] == b',' {
        out.remove(mark);
    }
}

/// Appends `"key":`.
pub fn push_key(out: &mut Vec<u8>, key: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// The event type of an EVE line (`"event_type":"..."`), empty when it has none.
pub fn event_type(line: &[u8]) -> &[u8] {
    const KEY: &[u8] = b"\"event_type\":\"";
    let Some(at) = memchr::memmem::find(line, KEY) else {
        return b"";
    };
    let rest = &line[at + KEY.len()..];
    match memchr::memchr(b'"', rest) {
        Some(end) => &rest[..end],
        None => b"",
    }
}
