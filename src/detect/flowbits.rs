//! Per-flow flowbits: a small growable bitset, allocated only once a flow sets a bit.

/// The flowbits of one flow, by bit id (assigned per flowbit name when the engine is built),
/// and the flow's other per-rule detection state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowBits {
    words: Vec<u64>,
    /// Rules backing off on this flow after hitting PCRE2 limits.
    pub backoff: super::backoff::Backoff,
}

impl FlowBits {
    /// Whether `bit` is set.
    #[inline]
    pub fn get(&self, bit: u32) -> bool {
        self.words
            .get((bit / 64) as usize)
            .is_some_and(|w| w & (1 << (bit % 64)) != 0)
    }

    /// Sets `bit`.
    pub fn set(&mut self, bit: u32) {
        let i = (bit / 64) as usize;
        if self.words.len() <= i {
            self.words.resize(i + 1, 0);
        }
        self.words[i] |= 1 << (bit % 64);
    }

    /// Clears `bit`.
    pub fn unset(&mut self, bit: u32) {
        if let Some(w) = self.words.get_mut((bit / 64) as usize) {
            *w &= !(1 << (bit % 64));
        }
    }

    /// Flips `bit`.
    pub fn toggle(&mut self, bit: u32) {
        if self.get(bit) {
            self.unset(bit)
        } else {
            self.set(bit)
        }
    }

    /// Clears every bit (keeping the storage) and the rule backoffs.
    pub fn clear(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
        self.backoff.clear();
    }
}

/// A flowbits condition of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowbitCond {
    /// `isset`: all (`true`) or any (`false`) of the bits are set.
    IsSet(Vec<u32>, bool),
    /// `isnotset`: all (`true`) or any (`false`) of the bits are clear.
    IsNotSet(Vec<u32>, bool),
}

impl FlowbitCond {
    /// Whether the condition holds for `bits`.
    #[inline]
    pub fn holds(&self, bits: &FlowBits) -> bool {
        match self {
            FlowbitCond::IsSet(b, true) => b.iter().all(|&x| bits.get(x)),
            FlowbitCond::IsSet(b, false) => b.iter().any(|&x| bits.get(x)),
            FlowbitCond::IsNotSet(b, true) => b.iter().all(|&x| !bits.get(x)),
            FlowbitCond::IsNotSet(b, false) => b.iter().any(|&x| !bits.get(x)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_unset_toggle_grow() {
        let mut b = FlowBits::default();
        assert!(!b.get(200));
        b.set(200);
        b.set(3);
        assert!(b.get(200) && b.get(3) && !b.get(4));
        b.toggle(3);
        b.toggle(4);
        assert!(!b.get(3) && b.get(4));
        b.unset(200);
        b.unset(9999);
        assert!(!b.get(200));
        b.clear();
        assert!(!b.get(4));
    }

    #[test]
    fn conditions() {
        let mut b = FlowBits::default();
        b.set(1);
        assert!(FlowbitCond::IsSet(vec![1, 2], false).holds(&b));
        assert!(!FlowbitCond::IsSet(vec![1, 2], true).holds(&b));
        assert!(FlowbitCond::IsNotSet(vec![1, 2], false).holds(&b));
        assert!(!FlowbitCond::IsNotSet(vec![1], true).holds(&b));
    }
}
