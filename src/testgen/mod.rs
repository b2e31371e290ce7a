//! Traffic generators for tests, benchmarks and examples: synthetic sessions written as
//! frames or pcaps ([`synth`]) and hostile inputs that try to blind or exhaust the sensor
//! ([`hostile`]). Not used on the packet path.

pub mod hostile;
pub mod synth;
