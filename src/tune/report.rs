//! Tuning advisor (in progress).
