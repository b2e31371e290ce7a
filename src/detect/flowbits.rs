//! Per-flow variables: flowbits (a small growable bitset, allocated only once a flow sets a
//! bit) and flow integers (`flowint`).

use crate::detect::rules::keywords::FlowintOp;

/// The flowbits of one flow, by bit id (assigned per flowbit name when the engine is built),
/// and the flow's other per-rule detection state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowBits {
    words: Vec<u64>,
    /// Flow integers set on this flow: (variable id, value).
    ints: Vec<(u32, i64)>,
    /// Flow variables pcre captures set: (name, value), at most [`MAX_FLOWVARS`].
    vars: Vec<(std::sync::Arc<str>, Vec<u8>)>,
    /// Rules backing off on this flow after hitting PCRE2 limits.
    pub backoff: super::backoff::Backoff,
}

/// Flow variables kept per flow; a capture into a new name past this is dropped.
pub const MAX_FLOWVARS: usize = 32;

impl FlowBits {
    /// Sets flow variable `name` (a pcre capture).
    pub fn set_var(&mut self, name: &std::sync::Arc<str>, value: Vec<u8>) {
        if let Some((_, v)) = self.vars.iter_mut().find(|(n, _)| n == name) {
            *v = value;
        } else if self.vars.len() < MAX_FLOWVARS {
            self.vars.push((name.clone(), value));
        }
    }

    /// The flow variables set, in the order they first were.
    pub fn vars(&self) -> &[(std::sync::Arc<str>, Vec<u8>)] {
        &self.vars
    }

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

    /// Clears every bit (keeping the storage), the flow integers and the rule backoffs.
    pub fn clear(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
        self.ints.clear();
        self.backoff.clear();
    }

    /// The set bits, ascending.
    pub fn set_bits(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            (0..64u32)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| i as u32 * 64 + b)
        })
    }

    /// The flow integers set: (variable id, value), in the order they were first set.
    pub fn ints(&self) -> &[(u32, i64)] {
        &self.ints
    }

    /// The flow integer `var`, if set.
    pub fn int(&self, var: u32) -> Option<i64> {
        self.ints.iter().find(|(v, _)| *v == var).map(|(_, x)| *x)
    }

    /// Sets the flow integer `var`.
    pub fn set_int(&mut self, var: u32, value: i64) {
        match self.ints.iter_mut().find(|(v, _)| *v == var) {
            Some(slot) => slot.1 = value,
            None => self.ints.push((var, value)),
        }
    }

    /// Unsets the flow integer `var`.
    pub fn unset_int(&mut self, var: u32) {
        self.ints.retain(|(v, _)| *v != var);
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

/// The operand of a compiled `flowint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowintOperand {
    /// A number.
    Lit(i64),
    /// Another flow integer, by id.
    Var(u32),
}

/// A compiled `flowint`: variable id, operation, operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowintStep {
    /// Variable id (assigned per name when the engine is built).
    pub var: u32,
    /// Operation.
    pub op: FlowintOp,
    /// Operand.
    pub value: Option<FlowintOperand>,
}

/// Runs a rule's `flowint`s in order, as Suricata does once the rule's other conditions
/// matched: modifications apply, and the first condition that fails stops the rule (the
/// modifications before it stay). Returns whether every condition held. Without a flow
/// (`tracked` false) conditions fail and nothing is modified.
pub fn run_flowints(steps: &[FlowintStep], bits: &mut FlowBits, tracked: bool) -> bool {
    for s in steps {
        let operand = match s.value {
            Some(FlowintOperand::Lit(n)) => Some(n),
            Some(FlowintOperand::Var(v)) => bits.int(v),
            None => None,
        };
        let cur = bits.int(s.var);
        let ok = match s.op {
            _ if !tracked => false,
            FlowintOp::Set => operand.map(|n| bits.set_int(s.var, n)).is_some(),
            FlowintOp::Add => operand
                .map(|n| bits.set_int(s.var, cur.unwrap_or(0).saturating_add(n)))
                .is_some(),
            FlowintOp::Sub => operand
                .map(|n| bits.set_int(s.var, cur.unwrap_or(0).saturating_sub(n)))
                .is_some(),
            FlowintOp::Unset => {
                bits.unset_int(s.var);
                true
            }
            FlowintOp::IsSet => cur.is_some(),
            FlowintOp::NotSet => cur.is_none(),
            FlowintOp::Cmp(c) => matches!((cur, operand), (Some(a), Some(b)) if c.test(a, b)),
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::rules::keywords::FlowintCmp;

    #[test]
    fn flowints_count_and_compare_in_rule_order() {
        let add = FlowintStep {
            var: 0,
            op: FlowintOp::Add,
            value: Some(FlowintOperand::Lit(1)),
        };
        let over_two = FlowintStep {
            var: 0,
            op: FlowintOp::Cmp(FlowintCmp::Gt),
            value: Some(FlowintOperand::Lit(2)),
        };
        let mut b = FlowBits::default();
        // The counter grows on each evaluation; the rule holds from the third on.
        let held: Vec<bool> = (0..4)
            .map(|_| run_flowints(&[add, over_two], &mut b, true))
            .collect();
        assert_eq!(held, [false, false, true, true]);
        assert_eq!(b.int(0), Some(4));
        // A comparison with another variable; an unset variable fails comparisons.
        let eq_other = FlowintStep {
            var: 1,
            op: FlowintOp::Cmp(FlowintCmp::Eq),
            value: Some(FlowintOperand::Var(0)),
        };
        assert!(!run_flowints(&[eq_other], &mut b, true));
        b.set_int(1, 4);
        assert!(run_flowints(&[eq_other], &mut b, true));
        let notset = FlowintStep {
            var: 2,
            op: FlowintOp::NotSet,
            value: None,
        };
        assert!(run_flowints(&[notset], &mut b, true));
        // Without a flow nothing changes and nothing holds.
        assert!(!run_flowints(&[add], &mut b, false));
        assert_eq!(b.int(0), Some(4));
        b.clear();
        assert_eq!(b.int(0), None);
    }

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
