//! Time as the sensor counts it.

/// Microseconds since the Unix epoch (packet timestamps, timeouts, EVE times).
pub type Micros = i64;

/// The wall clock now, in [`Micros`].
pub fn now_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as Micros)
}
