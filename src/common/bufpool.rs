//! A per-thread pool of byte buffers for out-of-order TCP segments and IP fragments, so that
//! steady-state reassembly and defragmentation do not allocate. Each worker is one thread, so
//! the pool needs no lock.
//!
//! Buffers come in size classes (64 bytes to 2 KiB; a full-size Ethernet segment fits the
//! 1,536 class), so a buffer's capacity, which is what reassembly counts against its memcap,
//! is never far above what it holds. Larger data gets an exact allocation that is freed, not
//! pooled. The pool is bounded (at most `MAX_BUFFERS` per class), so it holds at most about
//! 5 MiB per thread.

use std::cell::RefCell;

/// Capacities of the pooled size classes.
const CLASSES: [usize; 6] = [64, 256, 512, 1024, 1536, 2048];
/// Buffers kept per class and thread.
const MAX_BUFFERS: usize = 1024;

thread_local! {
    static POOL: RefCell<[Vec<Vec<u8>>; 6]> = const {
        RefCell::new([Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new()])
    };
}

/// The size class of `len` bytes, if pooled.
fn class_of(len: usize) -> Option<usize> {
    CLASSES.iter().position(|&c| len <= c)
}

/// The capacity (heap bytes) a copy of `len` bytes takes: what memcaps count.
pub fn cost(len: usize) -> usize {
    class_of(len).map_or(len, |c| CLASSES[c])
}

/// A buffer holding a copy of `data`, recycled when one is available.
pub fn copy_of(data: &[u8]) -> Vec<u8> {
    let mut buf = match class_of(data.len()) {
        Some(c) => POOL
            .with(|p| p.borrow_mut()[c].pop())
            .unwrap_or_else(|| Vec::with_capacity(CLASSES[c])),
        None => Vec::with_capacity(data.len()),
    };
    buf.clear();
    buf.extend_from_slice(data);
    buf
}

/// Returns a buffer to this thread's pool (buffers of other capacities are freed).
pub fn recycle(buf: Vec<u8>) {
    let Some(c) = CLASSES.iter().position(|&c| c == buf.capacity()) else {
        return;
    };
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p[c].len() < MAX_BUFFERS {
            p[c].push(buf);
        }
    });
}

/// Buffers currently pooled on this thread.
pub fn pooled() -> usize {
    POOL.with(|p| p.borrow().iter().map(Vec::len).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_within_their_class() {
        let a = copy_of(b"hello");
        let ptr = a.as_ptr();
        assert_eq!(a.capacity(), 64);
        recycle(a);
        let before = pooled();
        let b = copy_of(b"world");
        assert_eq!(b, b"world");
        assert_eq!(b.as_ptr(), ptr, "the recycled allocation is reused");
        assert_eq!(pooled(), before - 1);
        recycle(Vec::with_capacity(100_000));
        recycle(Vec::with_capacity(100));
        recycle(Vec::with_capacity(1500));
        assert_eq!(
            pooled(),
            before - 1,
            "buffers outside the classes are not kept"
        );
    }

    #[test]
    fn capacity_stays_close_to_the_data() {
        for len in [0, 1, 8, 64, 65, 600, 1460, 2048, 2049, 9000] {
            let b = copy_of(&vec![7u8; len]);
            assert_eq!(b.capacity(), cost(len), "len {len}");
            assert!(b.capacity() <= len.max(8) * 8, "len {len}");
            if len > 64 {
                assert!(b.capacity() * 2 <= len * 3 + 512, "len {len}");
            }
            recycle(b);
        }
    }
}
