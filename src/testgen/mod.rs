//! Traffic generators for tests, benchmarks and examples: synthetic sessions written as
//! frames or pcaps ([`synth`]), hostile inputs that try to blind or exhaust the sensor
//! ([`hostile`]), and a driver running one parser through an arbitrary script ([`drive`]).
//! Not used on the packet path.

pub mod drive;
pub mod hostile;
pub mod krb5;
pub mod smb;
pub mod synth;
