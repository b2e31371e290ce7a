//! Verification of a rule's content chain on one buffer, with Suricata's modifier semantics.
//!
//! Windows: `offset`/`depth` are absolute (depth counted from offset); `distance`/`within` are
//! relative to the end of the previous match (within counted from the distance point).
//! When a content fails, the previous content is retried at its next occurrence as long as the
//! failing one is relative to it, as Suricata's inspection engine does; a step budget bounds
//! that backtracking on hostile payloads.

use crate::detect::rules::Content;

/// Most content searches one rule may spend on one buffer before giving up (no match).
const STEP_BUDGET: u32 = 4096;

/// Finds `needle` in `hay` starting at or after `from`, the match ending at or before `end`.
#[inline]
fn find(hay: &[u8], needle: &[u8], nocase: bool, from: usize, end: usize) -> Option<usize> {
    if needle.is_empty() || end > hay.len() || from + needle.len() > end {
        return None;
    }
    let window = &hay[from..end];
    if nocase {
        let first = needle[0];
        let (lo, up) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
        let last_start = window.len() - needle.len();
        let mut i = 0;
        while i <= last_start {
            let rel = memchr::memchr2(lo, up, &window[i..=last_start])?;
            let at = i + rel;
            if window[at..at + needle.len()].eq_ignore_ascii_case(needle) {
                return Some(from + at);
            }
            i = at + 1;
        }
        None
    } else {
        memchr::memmem::find(window, needle).map(|at| from + at)
    }
}

/// The search window `[start, end)` of content `c` given the previous match end.
#[inline]
fn window(c: &Content, prev_end: usize, len: usize) -> (usize, usize) {
    let (start, end) = if c.startswith {
        (0i64, c.pattern.len() as i64)
    } else if c.is_relative() {
        let base = prev_end as i64 + i64::from(c.distance.unwrap_or(0));
        let end = match c.within {
            Some(w) => base + i64::from(w),
            None => len as i64,
        };
        (base.max(0), end)
    } else {
        let off = i64::from(c.offset.unwrap_or(0));
        let end = match c.depth {
            Some(d) => off + i64::from(d),
            None => len as i64,
        };
        (off, end)
    };
    let end = end.clamp(0, len as i64) as usize;
    (start.min(len as i64) as usize, end)
}

/// Whether the content chain matches `buf`.
pub fn matches(contents: &[Content], buf: &[u8]) -> bool {
    let mut budget = STEP_BUDGET;
    inspect(contents, 0, buf, 0, &mut budget)
}

fn inspect(cs: &[Content], idx: usize, buf: &[u8], prev_end: usize, budget: &mut u32) -> bool {
    let Some(c) = cs.get(idx) else {
        return true;
    };
    let (start, end) = window(c, prev_end, buf.len());
    let plen = c.pattern.len();
    if c.negated {
        *budget = budget.saturating_sub(1);
        let found = if c.endswith {
            buf.len() >= plen
                && buf.len() - plen >= start
                && end == buf.len()
                && find(buf, &c.pattern, c.nocase, buf.len() - plen, end).is_some()
        } else {
            find(buf, &c.pattern, c.nocase, start, end).is_some()
        };
        return !found && inspect(cs, idx + 1, buf, prev_end, budget);
    }
    // Only a relative successor can succeed on another occurrence of this content.
    let retry = cs.get(idx + 1).is_some_and(|n| n.is_relative());
    let mut from = start;
    loop {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        let at = if c.endswith {
            if end != buf.len() || buf.len() < plen || buf.len() - plen < from {
                return false;
            }
            let at = buf.len() - plen;
            if !eq(&buf[at..], &c.pattern, c.nocase) {
                return false;
            }
            at
        } else {
            match find(buf, &c.pattern, c.nocase, from, end) {
                Some(at) => at,
                None => return false,
            }
        };
        if inspect(cs, idx + 1, buf, at + plen, budget) {
            return true;
        }
        if !retry || c.endswith {
            return false;
        }
        from = at + 1;
    }
}

#[inline]
fn eq(a: &[u8], b: &[u8], nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::rules::{parse::parse_rule, Vars};

    /// Checks the content chain of a rule body against a payload.
    fn m(opts: &str, payload: &[u8]) -> bool {
        let r = parse_rule(
            &format!("alert tcp any any -> any any ({opts} sid:1;)"),
            &Vars::default(),
        )
        .unwrap();
        let cs: Vec<Content> = r.contents().map(|(_, c)| c.clone()).collect();
        matches(&cs, payload)
    }

    #[test]
    fn plain_and_nocase() {
        assert!(m(r#"content:"abc";"#, b"xxabcxx"));
        assert!(!m(r#"content:"ABC";"#, b"xxabcxx"));
        assert!(m(r#"content:"ABC"; nocase;"#, b"xxabcxx"));
        assert!(m(r#"content:"|00 01|";"#, b"\x00\x00\x01"));
    }

    #[test]
    fn offset_and_depth() {
        assert!(m(r#"content:"abc"; depth:3;"#, b"abcdef"));
        assert!(!m(r#"content:"abc"; depth:3;"#, b"xabcdef"));
        assert!(m(r#"content:"abc"; offset:1; depth:3;"#, b"xabcdef"));
        assert!(!m(r#"content:"abc"; offset:2;"#, b"xabcdef"));
        assert!(!m(r#"content:"abc"; offset:10;"#, b"xabcdef"));
    }

    #[test]
    fn distance_and_within() {
        // suricata-verify alert-distance-within-1: within counts from the distance point.
        let opts =
            r#"content:"AllWorkAndNoPlayMakesWill"; content:"DullBoy"; distance:1; within:7;"#;
        assert!(m(opts, b"AllWorkAndNoPlayMakesWill DullBoy"));
        assert!(!m(opts, b"AllWorkAndNoPlayMakesWillDullBoy"));
        assert!(!m(opts, b"AllWorkAndNoPlayMakesWill  DullBoy"));
        assert!(m(r#"content:"a"; content:"b"; distance:0;"#, b"ab"));
        assert!(!m(r#"content:"a"; content:"b"; distance:0;"#, b"ba"));
        assert!(m(
            r#"content:"b"; content:"a"; distance:-2; within:1;"#,
            b"ab"
        ));
        assert!(m(r#"content:"a"; content:"c"; within:3;"#, b"abc"));
        assert!(m(r#"content:"a"; content:"c"; within:3;"#, b"abxc"));
        assert!(!m(r#"content:"a"; content:"c"; within:3;"#, b"abxxc"));
    }

    #[test]
    fn backtracks_over_earlier_occurrences() {
        // First "a" is followed by "x", the second by "b": the relative match must find it.
        assert!(m(r#"content:"a"; content:"b"; within:1;"#, b"axab"));
        // A non-relative second content does not make the first retry pointlessly.
        assert!(!m(r#"content:"a"; content:"zz";"#, b"aaaa"));
    }

    #[test]
    fn negation() {
        assert!(m(r#"content:"abc"; content:!"xyz";"#, b"abc"));
        assert!(!m(r#"content:"abc"; content:!"xyz";"#, b"abc xyz"));
        assert!(m(
            r#"content:"abc"; content:!"xyz"; distance:0; within:3;"#,
            b"abc   xyz"
        ));
        assert!(!m(
            r#"content:"abc"; content:!"xyz"; distance:0; within:6;"#,
            b"abc   xyz"
        ));
        assert!(m(r#"content:!"evil";"#, b"good"));
    }

    #[test]
    fn startswith_endswith() {
        assert!(m(r#"content:"GET"; startswith;"#, b"GET /"));
        assert!(!m(r#"content:"GET"; startswith;"#, b" GET /"));
        assert!(m(r#"content:".exe"; endswith;"#, b"a.exe"));
        assert!(!m(r#"content:".exe"; endswith;"#, b"a.exe "));
        assert!(m(
            r#"content:"a"; content:"z"; distance:0; endswith;"#,
            b"a--z"
        ));
        assert!(!m(r#"content:"z"; content:!"z"; endswith;"#, b"z-z"));
        assert!(m(r#"content:"z"; content:!"q"; endswith;"#, b"z-z"));
    }

    #[test]
    fn hostile_payload_is_bounded() {
        let payload = vec![b'a'; 60_000];
        assert!(!m(
            r#"content:"a"; content:"a"; distance:0; content:"b"; distance:0;"#,
            &payload
        ));
    }
}
