//! The file store: files that a `filestore` rule matched, written once under their SHA-256
//! (`<dir>/<first two hex digits>/<sha256>`) so analysts get the sample. Workers hand complete
//! files to a writer thread over a bounded queue and never wait: a full queue drops the file
//! and counts it. Files over the size cap are not kept for the store in the first place.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender, TrySendError};

/// Files waiting for the writer, at most.
const QUEUE: usize = 256;

/// What the store did.
#[derive(Debug, Default)]
pub struct StoreCounters {
    /// Files written.
    pub stored: AtomicU64,
    /// Files already in the store (same SHA-256): not written again.
    pub existing: AtomicU64,
    /// Files dropped because the writer's queue was full.
    pub dropped: AtomicU64,
    /// Files that could not be written (the first error is logged).
    pub errors: AtomicU64,
}

/// A snapshot of [`StoreCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Files written.
    pub stored: u64,
    /// Files already there.
    pub existing: u64,
    /// Files dropped (queue full).
    pub dropped: u64,
    /// Write errors.
    pub errors: u64,
}

/// A worker's handle to the store.
#[derive(Clone, Debug)]
pub struct StoreSender {
    tx: Sender<([u8; 32], Vec<u8>)>,
    counters: Arc<StoreCounters>,
    /// Largest file kept for the store.
    pub max_size: usize,
}

impl StoreSender {
    /// Hands a complete file to the writer; never blocks (a full queue drops it, counted).
    pub fn store(&self, sha256: [u8; 32], content: &[u8]) {
        match self.tx.try_send((sha256, content.to_vec())) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The writer thread.
pub struct FileStore {
    handle: JoinHandle<()>,
    counters: Arc<StoreCounters>,
}

impl FileStore {
    /// Creates `dir` and starts the writer. `max_size`: largest file stored.
    pub fn start(dir: &Path, max_size: usize) -> io::Result<(FileStore, StoreSender)> {
        std::fs::create_dir_all(dir)?;
        let (tx, rx) = bounded::<([u8; 32], Vec<u8>)>(QUEUE);
        let counters = Arc::new(StoreCounters::default());
        let c = counters.clone();
        let dir = dir.to_path_buf();
        let handle = std::thread::Builder::new()
            .name("filestore".into())
            .spawn(move || {
                let mut reported = false;
                for (sha, content) in rx {
                    match write_once(&dir, &sha, &content) {
                        Ok(true) => c.stored.fetch_add(1, Ordering::Relaxed),
                        Ok(false) => c.existing.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            if !reported {
                                tracing::error!("file store {}: {e}", dir.display());
                                reported = true;
                            }
                            c.errors.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })?;
        Ok((
            FileStore {
                handle,
                counters: counters.clone(),
            },
            StoreSender {
                tx,
                counters,
                max_size,
            },
        ))
    }

    /// Waits until every sender is gone and the queue is written; returns the counters.
    pub fn finish(self) -> StoreStats {
        let counters = self.counters;
        let _ = self.handle.join();
        FileStore::snapshot(&counters)
    }

    /// The counters so far.
    pub fn stats(&self) -> StoreStats {
        FileStore::snapshot(&self.counters)
    }

    fn snapshot(c: &StoreCounters) -> StoreStats {
        StoreStats {
            stored: c.stored.load(Ordering::Relaxed),
            existing: c.existing.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
        }
    }
}

/// Where a file with this digest lives in the store.
pub fn path_of(dir: &Path, sha256: &[u8; 32]) -> PathBuf {
    let hex = crate::applayer::files::hex(sha256);
    dir.join(&hex[..2]).join(hex)
}

/// Writes the file unless it is there; returns whether it wrote. A temporary name and a
/// rename keep half-written files out of the store.
fn write_once(dir: &Path, sha256: &[u8; 32], content: &[u8]) -> io::Result<bool> {
    let path = path_of(dir, sha256);
    if path.exists() {
        return Ok(false);
    }
    let parent = path.parent().expect("a store path has a parent");
    std::fs::create_dir_all(parent)?;
    let tmp = parent.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(content)?;
    f.sync_data()?;
    std::fs::rename(&tmp, &path)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_under_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let (store, tx) = FileStore::start(dir.path(), 1 << 20).unwrap();
        let sha = [0xab; 32];
        tx.store(sha, b"sample");
        tx.store(sha, b"sample");
        drop(tx);
        let s = store.finish();
        assert_eq!((s.stored, s.existing, s.dropped, s.errors), (1, 1, 0, 0));
        assert_eq!(std::fs::read(path_of(dir.path(), &sha)).unwrap(), b"sample");
        assert!(path_of(dir.path(), &sha)
            .to_str()
            .unwrap()
            .contains("/ab/abab"));
    }
}
