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
