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
