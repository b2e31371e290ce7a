//! Per-flow backoff for rules whose pcre hits PCRE2's match limit.
//!
//! A pcre that runs into its limit costs thousands of backtracking steps per inspection: an
//! attacker who makes one rule do that on every packet of a flow slows a worker to a crawl
//! without ever being detected. As in Snort's rule latency suspension, such a rule backs off
//! on that flow only: after its `k`-th consecutive limit hit it is skipped for the flow's next
//! 2^k inspections (up to 1,024), then tried again; one inspection without a hit ends the
//! backoff. Other flows, and other rules on this flow, are inspected as usual, and every skip
//! is counted.

/// Most rules backing off on one flow (more: the one with the shortest backoff is replaced).
const MAX_RULES: usize = 16;
/// Longest backoff: 2^10 inspections.
const MAX_LEVEL: u8 = 10;

/// The rules backing off on one flow: (engine index, inspections left to skip, level).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    rules: Vec<(u32, u16, u8)>,
}

impl Backoff {
    /// Whether `rule` is to be skipped on this inspection (counts the skip down).
    #[inline]
    pub fn skip(&mut self, rule: u32) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        match self.rules.iter_mut().find(|e| e.0 == rule) {
            Some(e) if e.1 > 0 => {
                e.1 -= 1;
                true
            }
            _ => false,
        }
    }

    /// Records the outcome of inspecting `rule`: `limited` when one of its pcre searches hit
    /// the limit.
    #[inline]
    pub fn record(&mut self, rule: u32, limited: bool) {
        let at = self.rules.iter().position(|e| e.0 == rule);
        match (at, limited) {
            (None, false) => {}
            (Some(i), false) => {
                self.rules.swap_remove(i);
            }
            (Some(i), true) => {
                let e = &mut self.rules[i];
                e.2 = (e.2 + 1).min(MAX_LEVEL);
                e.1 = 1 << e.2;
            }
            (None, true) => {
                let entry = (rule, 2, 1);
                if self.rules.len() < MAX_RULES {
                    self.rules.push(entry);
                } else if let Some(low) = self.rules.iter_mut().min_by_key(|e| e.2) {
                    *low = entry;
                }
            }
        }
    }

    /// Forgets everything (the engine's rule numbering changed).
    pub fn clear(&mut self) {
        self.rules.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_ends_on_a_clean_inspection() {
        let mut b = Backoff::default();
        // Inspections of rule 7 that always hit the limit: skipped 2, 4, 8... then 1,024.
        let mut evaluated = 0;
        for _ in 0..10_000 {
            if !b.skip(7) {
                evaluated += 1;
                b.record(7, true);
            }
        }
        assert!(evaluated < 20, "{evaluated}");
        assert_eq!(b.rules[0].2, MAX_LEVEL);
        // Once it stops hitting the limit, the next evaluation ends the backoff.
        while b.skip(7) {}
        b.record(7, false);
        assert!(!b.skip(7));
        assert!(b.rules.is_empty());
        // Other rules are never skipped.
        b.record(1, true);
        assert!(!b.skip(2));
    }

    #[test]
    fn the_list_is_bounded() {
        let mut b = Backoff::default();
        for r in 0..100 {
            b.record(r, true);
        }
        assert_eq!(b.rules.len(), MAX_RULES);
    }
}
