//! A per-thread pool of byte buffers for out-of-order TCP segments and IP fragments, so that
//! steady-state reassembly and defragmentation do not allocate. Each worker is one thread, so
//! the pool needs no lock. It is bounded: surplus buffers, and buffers grown past
//! [`MAX_KEPT_CAPACITY`], are freed instead of kept.

use std::cell::RefCell;

/// Buffers kept per thread.
const MAX_BUFFERS: usize = 4096;
/// Larger buffers are freed rather than kept.
const MAX_KEPT_CAPACITY: usize = 64 * 1024;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer holding a copy of `data`, recycled when one is available.
pub fn copy_of(data: &[u8]) -> Vec<u8> {
    let mut buf = POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default();
    buf.clear();
    buf.extend_from_slice(data);
    buf
}

/// Returns a buffer to this thread's pool.
pub fn recycle(buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > MAX_KEPT_CAPACITY {
        return;
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < MAX_BUFFERS {
            p.push(buf);
        }
    });
}

/// Buffers currently pooled on this thread.
pub fn pooled() -> usize {
    POOL.with(|p| p.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused() {
        let a = copy_of(b"hello");
        let ptr = a.as_ptr();
        recycle(a);
        let before = pooled();
        let b = copy_of(b"world");
        assert_eq!(b, b"world");
        assert_eq!(b.as_ptr(), ptr, "the recycled allocation is reused");
        assert_eq!(pooled(), before - 1);
        recycle(Vec::with_capacity(MAX_KEPT_CAPACITY + 1));
        assert_eq!(pooled(), before - 1, "oversized buffers are not kept");
    }
}
