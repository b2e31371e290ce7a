//! Time as the sensor counts it.

/// Microseconds since the Unix epoch (packet timestamps, timeouts, EVE times).
pub type Micros = i64;
