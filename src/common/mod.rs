//! What every stage shares and depends on nothing else of the crate: time, address keys,
//! interval indexes, the per-thread buffer pool, overlap resolution and host policies, and
//! JSON writing. Keeping these here keeps the stage modules free of import cycles.

pub mod bufpool;
pub mod hostpolicy;
pub mod html;
pub mod intervals;
pub mod json;
pub mod net;
pub mod overlap;
pub mod time;

/// Base64 of `data` into `out` (which must hold 4 bytes per 3 input bytes, rounded up).
pub fn base64(data: &[u8], out: &mut [u8]) {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (chunk, o) in data.chunks(3).zip(out.chunks_mut(4)) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, slot) in o.iter_mut().enumerate() {
            *slot = if i <= chunk.len() {
                T[(n >> (18 - 6 * i) & 63) as usize]
            } else {
                b'='
            };
        }
    }
}

/// Decodes base64 from the start of `input` into `out` (cleared first), stopping at the first
/// byte outside the alphabet (padding included); a trailing partial group yields the whole
/// bytes it holds. `url`: the URL-safe alphabet (`-`, `_`) instead of `+`, `/`. Returns the
/// number of input bytes decoded.
pub fn base64_decode(input: &[u8], url: bool, out: &mut Vec<u8>) -> usize {
    let val = |b: u8| -> Option<u32> {
        Some(u32::from(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' if !url => 62,
            b'/' if !url => 63,
            b'-' if url => 62,
            b'_' if url => 63,
            _ => return None,
        }))
    };
    out.clear();
    let (mut acc, mut n, mut used) = (0u32, 0u32, 0);
    for &b in input {
        let Some(v) = val(b) else {
            break;
        };
        used += 1;
        acc = (acc << 6) | v;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&acc.to_be_bytes()[1..]);
            (acc, n) = (0, 0);
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&((acc >> 2) as u16).to_be_bytes()),
        _ => {}
    }
    used
}
