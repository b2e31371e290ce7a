//! Time as the sensor counts it.

/// Microseconds since the Unix epoch (packet timestamps, timeouts, EVE times).
pub type Micros = i64;

/// The wall clock now, in [`Micros`].
pub fn now_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as Micros)
}

/// Days since 1970-01-01 to a civil date (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Appends a timestamp as `"2024-01-31T12:00:00.123456+0000"` (UTC, microseconds).
pub fn push_timestamp(out: &mut Vec<u8>, ts: Micros) {
    use std::io::Write;
    let secs = ts.div_euclid(1_000_000);
    let micros = ts.rem_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let _ = write!(
        out,
        "\"{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+0000\"",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.ffffff][+ZZZZ]` into microseconds since the epoch (UTC).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut micros = 0;
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
        rest = &frac[digits.len()..];
        let mut v: i64 = digits.get(..6.min(digits.len()))?.parse().ok()?;
        for _ in digits.len()..6 {
            v *= 10;
        }
        micros = v;
    }
    let mut offset = 0;
    if rest.len() >= 5 {
        let sign = if rest.starts_with('-') { -1 } else { 1 };
        let hh: i64 = rest.get(1..3)?.parse().ok()?;
        let mm: i64 = rest.get(rest.len() - 2..)?.parse().ok()?;
        offset = sign * (hh * 3600 + mm * 60);
    }
    // Days from civil (proleptic Gregorian), as in Howard Hinnant's date algorithms.
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) - offset) * 1_000_000 + micros)
}
