//! Evaluation of a rule's inspection chain on one buffer, with Suricata's semantics.
//!
//! Steps run in rule order over a cursor: `content` and `pcre` move it to the end of their
//! match, `byte_jump` and `byte_extract` move it past what they read, the others test without
//! moving it. Relative steps (`distance`/`within`, `/R`, `,relative`) work from the cursor.
//! When a step fails, a preceding `content` or `pcre` is retried at its next occurrence as long
//! as the step after it is relative to it, as Suricata's inspection engine does; a step budget
//! bounds that backtracking on hostile payloads. A step whose outcome does not depend on where
//! the previous match ended (a non-relative content or pcre) is evaluated at most once per
//! chain evaluation, and every pcre runs under PCRE2 match and depth limits (Suricata's
//! defaults), so no payload makes one rule cost more than a bounded amount of work.

use std::cell::Cell;

use pcre2::bytes::{Regex, RegexBuilder};

use crate::detect::rules::keywords::{
    Base, Base64Decode, ByteExtract, ByteJump, ByteMath, ByteOp, ByteTest, Cmp, Endian, Extract,
    IsDataAt, MathOp, PcreSpec, Value, MAX_VARS,
};
use crate::detect::rules::{Content, Inspect};

/// Most searches one rule may spend on one buffer before giving up (no match).
const STEP_BUDGET: u32 = 4096;
/// PCRE2 match limit (internal backtracking calls per search), Suricata's default.
pub const PCRE_MATCH_LIMIT: u32 = 3_500;
/// PCRE2 depth limit (nested backtracking), Suricata's default.
pub const PCRE_DEPTH_LIMIT: u32 = 1_500;

thread_local! {
    /// pcre searches that hit a limit on this thread since the last take (each worker is one
    /// thread and moves the count into its stats after every packet).
    static PCRE_LIMIT_HITS: Cell<u64> = const { Cell::new(0) };
}

/// pcre limit hits on this thread since the last [`take_pcre_limit_hits`] (a rule that
/// raised it during its inspection backs off on the flow).
#[inline]
pub fn pcre_limit_hits_so_far() -> u64 {
    PCRE_LIMIT_HITS.with(Cell::get)
}

/// Counts a PCRE2 search that gave up at its limits (counted as no match).
pub(crate) fn count_pcre_limit_hit() {
    PCRE_LIMIT_HITS.with(|c| c.set(c.get() + 1));
}

/// pcre searches on this thread that gave up at the match or depth limit (counted as no
/// match) since the last call; resets the count.
pub fn take_pcre_limit_hits() -> u64 {
    PCRE_LIMIT_HITS.with(|c| c.replace(0))
}

/// A `pcre` compiled for matching.
#[derive(Debug)]
pub struct Pcre {
    re: Regex,
    negated: bool,
    relative: bool,
    /// Capture groups stored in variables, in group order: (flow variable, name).
    captures: Vec<(bool, std::sync::Arc<str>)>,
}

impl Pcre {
    /// Compiles a parsed pcre; Suricata's flags become PCRE2 options or inline settings.
    pub fn compile(spec: &PcreSpec) -> Result<Pcre, String> {
        let mut pattern = String::with_capacity(spec.pattern.len() + 64);
        // Limits go first; the pattern's own leading `(*VERB)` settings must stay at the very
        // start too (a pattern can only lower the limits, never raise them).
        pattern.push_str(&format!(
            "(*LIMIT_MATCH={PCRE_MATCH_LIMIT})(*LIMIT_DEPTH={PCRE_DEPTH_LIMIT})"
        ));
        let mut body = spec.pattern.as_str();
        while let Some(rest) = body.strip_prefix("(*") {
            let Some(end) = rest.find(')') else { break };
            let verb = &rest[..end];
            if !verb
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'=')
            {
                break;
            }
            pattern.push_str(&body[..end + 3]);
            body = &rest[end + 1..];
        }
        if spec.ungreedy {
            pattern.push_str("(?U)");
        }
        if spec.anchored {
            // Anchored at the search start, which is where \G holds.
            pattern.push_str("\\G(?:");
            pattern.push_str(body);
            pattern.push(')');
        } else {
            pattern.push_str(body);
        }
        let re = RegexBuilder::new()
            .caseless(spec.caseless)
            .dotall(spec.dotall)
            .multi_line(spec.multiline)
            .extended(spec.extended)
            .jit_if_available(true)
            .build(&pattern)
            .map_err(|e| format!("pcre does not compile: {e}"))?;
        Ok(Pcre {
            re,
            negated: spec.negated,
            relative: spec.relative,
            captures: spec
                .captures
                .iter()
                .map(|(flow, name)| (*flow, std::sync::Arc::from(name.as_str())))
                .collect(),
        })
    }
}

/// A compiled inspection step.
#[derive(Debug)]
pub enum Step {
    /// `content`.
    Content(Content),
    /// `pcre`.
    Pcre(Box<Pcre>),
    /// `isdataat`.
    IsDataAt(IsDataAt),
    /// `asn1`.
    Asn1(crate::detect::asn1::Asn1Spec),
    /// `byte_test`.
    ByteTest(ByteTest),
    /// `byte_jump`.
    ByteJump(ByteJump),
    /// `byte_extract`.
    ByteExtract(ByteExtract),
    /// `byte_math`.
    ByteMath(ByteMath),
    /// `bsize`.
    Bsize(Cmp),
    /// `base64_decode` + `base64_data`: decodes part of the buffer and runs the rest of the
    /// rule's steps on the decoded bytes (built by [`nest_base64`]).
    Base64(Box<Base64Chain>),
    /// `base64_decode` as parsed, before [`nest_base64`].
    Base64Decode(Base64Decode),
    /// `base64_data` as parsed, before [`nest_base64`].
    Base64Data,
}

/// What `base64_decode` decodes, and the steps `base64_data` runs on it.
#[derive(Debug)]
pub struct Base64Chain {
    /// Which bytes are decoded.
    pub decode: Base64Decode,
    /// Steps on the decoded bytes.
    pub tail: Vec<Step>,
}

/// Folds `base64_decode; base64_data; <steps>` of a chain into one [`Step::Base64`] whose
/// tail holds the steps on the decoded data (so the prefilter and anchoring look only at
/// the steps on the buffer itself).
pub fn nest_base64(mut steps: Vec<Step>) -> Result<Vec<Step>, String> {
    let Some(at) = steps
        .iter()
        .position(|s| matches!(s, Step::Base64Decode(_)))
    else {
        return match steps.iter().any(|s| matches!(s, Step::Base64Data)) {
            true => Err("base64_data without a base64_decode before it".into()),
            false => Ok(steps),
        };
    };
    let mut rest = steps.split_off(at);
    let Step::Base64Decode(decode) = rest.remove(0) else {
        unreachable!("found above");
    };
    if !matches!(rest.first(), Some(Step::Base64Data)) {
        return Err("base64_decode must be followed by base64_data".into());
    }
    rest.remove(0);
    let tail = nest_base64(rest)?;
    steps.push(Step::Base64(Box::new(Base64Chain { decode, tail })));
    Ok(steps)
}

/// Decodes base64 (RFC 4648 alphabet) from the start of `input` into `out`, stopping at the
/// first byte outside the alphabet (padding included), as Suricata does; a trailing partial
/// group yields the whole bytes it holds.
pub fn decode_base64(input: &[u8], out: &mut Vec<u8>) {
    crate::common::base64_decode(input, false, out);
}

impl Step {
    /// Compiles a parsed inspection step (only `pcre` needs work: PCRE2 compilation).
    pub fn compile(item: Inspect) -> Result<Step, String> {
        Ok(match item {
            Inspect::Content(c) => Step::Content(c),
            Inspect::Pcre(p) => Step::Pcre(Box::new(Pcre::compile(&p)?)),
            Inspect::IsDataAt(d) => Step::IsDataAt(d),
            Inspect::Asn1(a) => Step::Asn1(a),
            Inspect::ByteTest(t) => Step::ByteTest(t),
            Inspect::ByteJump(j) => Step::ByteJump(j),
            Inspect::ByteExtract(e) => Step::ByteExtract(e),
            Inspect::ByteMath(m) => Step::ByteMath(m),
            Inspect::Bsize(c) => Step::Bsize(c),
            Inspect::Base64Decode(d) => Step::Base64Decode(d),
            Inspect::Base64Data => Step::Base64Data,
        })
    }

    /// Whether the step's outcome, and that of the rest of the chain after it, is the same
    /// wherever the previous match ended: a positive content or pcre that is not relative.
    fn restarts_cursor(&self) -> bool {
        match self {
            Step::Content(c) => !c.negated && !c.is_relative(),
            Step::Pcre(p) => !p.negated && !p.relative,
            _ => false,
        }
    }

    /// Whether the step can move the cursor forward (so a chain's end position depends on it).
    fn moves_cursor(&self) -> bool {
        match self {
            Step::Content(c) => !c.negated,
            Step::Pcre(p) => !p.negated,
            Step::ByteJump(_) | Step::ByteExtract(_) => true,
            _ => false,
        }
    }

    /// Whether the step sets byte variables (later steps may read them).
    fn sets_vars(&self) -> bool {
        matches!(self, Step::ByteExtract(_) | Step::ByteMath(_))
    }

    fn is_relative(&self) -> bool {
        match self {
            Step::Content(c) => c.is_relative(),
            Step::Pcre(p) => p.relative,
            Step::IsDataAt(d) => d.relative,
            Step::Asn1(a) => a.relative_offset.is_some(),
            Step::ByteTest(t) => t.ex.relative,
            Step::ByteJump(j) => j.ex.relative,
            Step::ByteExtract(e) => e.ex.relative,
            Step::ByteMath(m) => m.ex.relative,
            Step::Base64(b) => b.decode.relative,
            Step::Base64Decode(d) => d.relative,
            Step::Bsize(_) | Step::Base64Data => false,
        }
    }
}

/// State of one chain evaluation.
struct Cursor<'b> {
    buf: &'b [u8],
    vars: [i64; MAX_VARS],
    budget: u32,
    /// The chain's last match must end after this offset (stream inspection: in new data).
    min_end: usize,
    /// Steps (by index, first 64) known to fail from any cursor in this evaluation.
    failed: u64,
    /// pcre steps (by index) that hit a PCRE2 limit in this evaluation: not run again.
    limited: u64,
}

impl Cursor<'_> {
    #[inline]
    fn val(&self, v: Value) -> i64 {
        match v {
            Value::Lit(n) => n,
            Value::Var(i) => self.vars[usize::from(i)],
        }
    }

    /// Whether step `idx` is known to fail whatever the cursor (so retrying an earlier match
    /// cannot help): remembered as failed, or a pcre stopped at its limit.
    fn rest_failed(&self, idx: usize) -> bool {
        let bit = 1u64.checked_shl(idx as u32).unwrap_or(0);
        (self.failed | self.limited) & bit != 0
    }

    fn spend(&mut self) -> bool {
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        true
    }
}

/// Whether the chain matches `buf`.
pub fn matches(steps: &[Step], buf: &[u8]) -> bool {
    matches_ending_after(steps, buf, 0)
}

/// Whether the chain matches `buf` with its last content/pcre match ending after `min_end`
/// (0: anywhere). Stream inspection uses it so data already inspected does not alert again.
pub fn matches_ending_after(steps: &[Step], buf: &[u8], min_end: usize) -> bool {
    let mut cur = Cursor {
        buf,
        vars: [0; MAX_VARS],
        budget: STEP_BUDGET,
        min_end,
        failed: 0,
        limited: 0,
    };
    run(steps, 0, 0, &mut cur)
}

/// Like [`matches()`], with byte_extract/byte_math variables carried in from earlier chains of
/// the same rule and out to later ones.
pub fn matches_with_vars(steps: &[Step], buf: &[u8], vars: &mut [i64; MAX_VARS]) -> bool {
    let mut cur = Cursor {
        buf,
        vars: *vars,
        budget: STEP_BUDGET,
        min_end: 0,
        failed: 0,
        limited: 0,
    };
    let ok = run(steps, 0, 0, &mut cur);
    if ok {
        *vars = cur.vars;
    }
    ok
}

/// Whether a chain pins a content to a position in its buffer: `offset`, `depth` or
/// `startswith`, or `distance`/`within` on the first content (which Suricata turns into
/// `offset`/`depth`). Suricata inspects such TCP rules on each packet's payload as well as
/// on the stream.
pub fn pins_position(steps: &[Step]) -> bool {
    let mut first = true;
    for s in steps {
        match s {
            Step::Content(c) => {
                if c.offset.is_some()
                    || c.depth.is_some()
                    || c.startswith
                    || (first && c.is_relative())
                {
                    return true;
                }
                first = false;
            }
            Step::Pcre(_) => first = false,
            _ => {}
        }
    }
    false
}

/// Whether a chain has a positive content or pcre (so its match has an end position).
pub fn has_anchor(steps: &[Step]) -> bool {
    steps.iter().any(|s| match s {
        Step::Content(c) => !c.negated,
        Step::Pcre(p) => !p.negated,
        _ => false,
    })
}

fn run(steps: &[Step], idx: usize, prev_end: usize, cur: &mut Cursor<'_>) -> bool {
    let Some(step) = steps.get(idx) else {
        return cur.min_end == 0 || prev_end > cur.min_end;
    };
    let bit = 1u64.checked_shl(idx as u32).unwrap_or(0);
    if cur.failed & bit != 0 {
        return false;
    }
    if !cur.spend() {
        return false;
    }
    let ok = run_step(steps, idx, step, prev_end, cur);
    // A step that ignores the cursor fails the same way from every earlier match position
    // (unless an earlier step may have set variables it reads): remember it, so retries of
    // earlier contents do not run it again.
    if !ok && step.restarts_cursor() && !steps[..idx].iter().any(Step::sets_vars) {
        cur.failed |= bit;
    }
    ok
}

thread_local! {
    /// Decoded bytes of `base64_decode`, reused (one per nesting level in use).
    static B64_BUFS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `base64_decode` at `prev_end` (or the buffer start), then the tail on the decoded bytes;
/// on success the rest of the outer chain continues where the decoded input ended.
fn base64(
    steps: &[Step],
    idx: usize,
    b: &Base64Chain,
    prev_end: usize,
    cur: &mut Cursor<'_>,
) -> bool {
    let len = cur.buf.len();
    let start = if b.decode.relative { prev_end } else { 0 } + b.decode.offset as usize;
    if start >= len {
        return false;
    }
    let take = match b.decode.bytes {
        0 => len - start,
        n => (n as usize).min(len - start),
    };
    let input = &cur.buf[start..start + take];
    let mut buf = B64_BUFS.with_borrow_mut(|v| v.pop()).unwrap_or_default();
    decode_base64(input, &mut buf);
    let mut sub = Cursor {
        buf: &buf,
        vars: cur.vars,
        budget: cur.budget,
        min_end: 0,
        failed: 0,
        limited: 0,
    };
    let ok = !buf.is_empty() && run(&b.tail, 0, 0, &mut sub);
    cur.budget = sub.budget;
    if ok {
        cur.vars = sub.vars;
    }
    B64_BUFS.with_borrow_mut(|v| v.push(buf));
    ok && run(steps, idx + 1, start + take, cur)
}

fn run_step(
    steps: &[Step],
    idx: usize,
    step: &Step,
    prev_end: usize,
    cur: &mut Cursor<'_>,
) -> bool {
    // In stream mode a later occurrence may be the one that ends in the new data.
    let retry = cur.min_end > 0 || steps.get(idx + 1).is_some_and(Step::is_relative);
    let len = cur.buf.len();
    match step {
        Step::Content(c) => content(steps, idx, c, prev_end, retry, cur),
        Step::Pcre(p) => pcre(steps, idx, p, prev_end, retry, cur),
        Step::IsDataAt(d) => {
            let n = cur.val(d.offset);
            let data = if d.relative {
                prev_end as i64 + n <= len as i64
            } else {
                n < len as i64
            };
            data != d.negated && run(steps, idx + 1, prev_end, cur)
        }
        Step::Bsize(cmp) => cmp.test(len as u64) && run(steps, idx + 1, prev_end, cur),
        Step::Asn1(a) => a.matches(cur.buf, prev_end) && run(steps, idx + 1, prev_end, cur),
        Step::Base64(b) => base64(steps, idx, b, prev_end, cur),
        // Folded into `Base64` when the rule is built.
        Step::Base64Decode(_) | Step::Base64Data => false,
        Step::ByteTest(t) => {
            let Some((v, _)) = read(&t.ex, prev_end, cur) else {
                return false;
            };
            let rhs = cur.val(t.value) as u64;
            let ok = match t.op {
                ByteOp::Lt => v < rhs,
                ByteOp::Gt => v > rhs,
                ByteOp::Eq => v == rhs,
                ByteOp::Le => v <= rhs,
                ByteOp::Ge => v >= rhs,
                ByteOp::And => v & rhs != 0,
                ByteOp::Xor => v ^ rhs != 0,
            };
            ok != t.negated && run(steps, idx + 1, prev_end, cur)
        }
        Step::ByteJump(j) => {
            let Some((v, after)) = read(&j.ex, prev_end, cur) else {
                return false;
            };
            let mut jump = (v as i64).saturating_mul(i64::from(j.multiplier));
            if j.align {
                jump = (jump + 3) & !3;
            }
            let base = if j.from_beginning {
                0
            } else if j.from_end {
                len as i64
            } else {
                after as i64
            };
            let target = base
                .saturating_add(jump)
                .saturating_add(j.post_offset)
                .max(0);
            target <= len as i64 && run(steps, idx + 1, target as usize, cur)
        }
        Step::ByteExtract(e) => {
            let Some((v, after)) = read(&e.ex, prev_end, cur) else {
                return false;
            };
            let mut v = (v as i64).saturating_mul(i64::from(e.multiplier));
            if e.align > 0 {
                let a = i64::from(e.align);
                v = (v + a - 1) / a * a;
            }
            cur.vars[usize::from(e.var)] = v;
            run(steps, idx + 1, after, cur)
        }
        Step::ByteMath(m) => {
            let Some((v, _)) = read(&m.ex, prev_end, cur) else {
                return false;
            };
            let (v, r) = (v as i64, cur.val(m.rvalue));
            let out = match m.op {
                MathOp::Add => v.checked_add(r),
                MathOp::Sub => v.checked_sub(r),
                MathOp::Mul => v.checked_mul(r),
                MathOp::Div => v.checked_div(r),
                MathOp::Shl => u32::try_from(r).ok().and_then(|r| v.checked_shl(r)),
                MathOp::Shr => u32::try_from(r).ok().and_then(|r| v.checked_shr(r)),
            };
            let Some(out) = out else {
                return false;
            };
            cur.vars[usize::from(m.var)] = out;
            run(steps, idx + 1, prev_end, cur)
        }
    }
}

/// Reads the number an extraction describes. Returns it and the offset after the bytes read.
fn read(ex: &Extract, prev_end: usize, cur: &Cursor<'_>) -> Option<(u64, usize)> {
    let base = if ex.relative { prev_end as i64 } else { 0 };
    let start = base.checked_add(cur.val(ex.offset))?;
    if start < 0 {
        return None;
    }
    let start = start as usize;
    // nbytes 0: with `string`, the rest of the buffer; binary, the value 0 (a pure cursor move).
    let nbytes = match ex.nbytes_var {
        Some(i) => {
            let max = if ex.string.is_some() { 20 } else { 8 };
            u8::try_from(cur.vars[usize::from(i)].clamp(0, max)).unwrap_or(0)
        }
        None => ex.nbytes,
    };
    let n = match (nbytes, ex.string) {
        (0, Some(_)) => cur.buf.len().checked_sub(start)?.min(20),
        (0, None) => return (start <= cur.buf.len()).then_some((0, start)),
        (n, _) => usize::from(n),
    };
    let bytes = cur.buf.get(start..start.checked_add(n)?)?;
    let mut v = match ex.string {
        None => {
            let mut v = 0u64;
            match ex.endian {
                Endian::Big => bytes.iter().for_each(|&b| v = v << 8 | u64::from(b)),
                Endian::Little => bytes.iter().rev().for_each(|&b| v = v << 8 | u64::from(b)),
            }
            v
        }
        Some(base) => {
            let radix = match base {
                Base::Hex => 16,
                Base::Dec => 10,
                Base::Oct => 8,
            };
            // Like strtoull: the longest run of digits from the start; none is a failure.
            let digits = bytes
                .iter()
                .take_while(|b| (**b as char).is_digit(radix))
                .count();
            if digits == 0 {
                return None;
            }
            let s = std::str::from_utf8(&bytes[..digits]).ok()?;
            u64::from_str_radix(s, radix).ok()?
        }
    };
    if let Some(mask) = ex.bitmask {
        v = (v & mask) >> mask.trailing_zeros();
    }
    Some((v, start + n))
}

/// The search window `[start, end)` of a content given the previous match end.
#[inline]
fn window(c: &Content, prev_end: usize, cur: &Cursor<'_>) -> (usize, usize) {
    let len = cur.buf.len() as i64;
    let (start, end) = if c.startswith {
        (0i64, c.pattern.len() as i64)
    } else if c.is_relative() {
        let dist = c.distance.map_or(0, |v| cur.val(v));
        let base = prev_end as i64 + dist;
        let end = match c.within {
            Some(w) => base + cur.val(w),
            None => len,
        };
        (base.max(0), end)
    } else {
        let off = c.offset.map_or(0, |v| cur.val(v)).max(0);
        let end = match c.depth {
            Some(d) => off + cur.val(d),
            None => len,
        };
        (off, end)
    };
    (start.min(len) as usize, end.clamp(0, len) as usize)
}

/// Finds `needle` at or after `from`, ending at or before `end`.
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
            let at = i + memchr::memchr2(lo, up, &window[i..=last_start])?;
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

fn content(
    steps: &[Step],
    idx: usize,
    c: &Content,
    prev_end: usize,
    retry: bool,
    cur: &mut Cursor<'_>,
) -> bool {
    let (start, end) = window(c, prev_end, cur);
    let buf = cur.buf;
    let plen = c.pattern.len();
    let at_end = |from: usize| -> Option<usize> {
        let at = buf.len().checked_sub(plen)?;
        (end == buf.len() && at >= from && eq(&buf[at..], &c.pattern, c.nocase)).then_some(at)
    };
    if c.negated {
        let found = if c.endswith {
            at_end(start).is_some()
        } else {
            find(buf, &c.pattern, c.nocase, start, end).is_some()
        };
        return !found && run(steps, idx + 1, prev_end, cur);
    }
    let mut from = start;
    // Stream inspection needs the chain's last match to end in the new data: when nothing
    // after this content moves the cursor, occurrences ending before that cannot succeed, so
    // the search starts where an occurrence would end in the new data (instead of retrying
    // every earlier one, which also ran into the step budget on data full of the pattern).
    if cur.min_end > 0 && !steps[idx + 1..].iter().any(Step::moves_cursor) {
        from = from.max((cur.min_end + 1).saturating_sub(plen));
    }
    loop {
        let found = if c.endswith {
            at_end(from)
        } else {
            find(buf, &c.pattern, c.nocase, from, end)
        };
        let Some(at) = found else {
            return false;
        };
        if run(steps, idx + 1, at + plen, cur) {
            return true;
        }
        if !retry || c.endswith || cur.rest_failed(idx + 1) || !cur.spend() {
            return false;
        }
        from = at + 1;
    }
}

fn pcre(
    steps: &[Step],
    idx: usize,
    p: &Pcre,
    prev_end: usize,
    retry: bool,
    cur: &mut Cursor<'_>,
) -> bool {
    // As Suricata: a relative pcre sees the buffer from the cursor on (so `^` anchors there).
    let base = if p.relative {
        prev_end.min(cur.buf.len())
    } else {
        0
    };
    let subject = &cur.buf[base..];
    let bit = 1u64.checked_shl(idx as u32).unwrap_or(0);
    if cur.limited & bit != 0 {
        return false;
    }
    // PCRE2 gives up at its match/depth limit: counted, no match, and this pcre is not run
    // again in this evaluation.
    let search = |from: usize, limited: &mut u64| match p.re.find_at(subject, from) {
        Ok(m) => m.map(|m| (m.start(), m.end())),
        Err(_) => {
            count_pcre_limit_hit();
            *limited |= bit;
            None
        }
    };
    if p.negated {
        let found = search(0, &mut cur.limited).is_some();
        if cur.limited & bit != 0 {
            return false;
        }
        return !found && run(steps, idx + 1, prev_end, cur);
    }
    if !p.captures.is_empty() {
        return pcre_capturing(steps, idx, p, base, retry, cur);
    }
    let mut from = 0;
    loop {
        let Some(m) = search(from, &mut cur.limited) else {
            return false;
        };
        if run(steps, idx + 1, base + m.1, cur) {
            return true;
        }
        if !retry || m.0 >= subject.len() || cur.rest_failed(idx + 1) || !cur.spend() {
            return false;
        }
        from = m.0 + 1;
    }
}

/// A pcre whose groups go to variables: as [`pcre`], but each match's groups are kept, and
/// those of the match the rest of the chain accepted are recorded for the rule's actions.
fn pcre_capturing(
    steps: &[Step],
    idx: usize,
    p: &Pcre,
    base: usize,
    retry: bool,
    cur: &mut Cursor<'_>,
) -> bool {
    let subject = &cur.buf[base..];
    let bit = 1u64.checked_shl(idx as u32).unwrap_or(0);
    let mut locs = p.re.capture_locations();
    let mut from = 0;
    loop {
        let m = match p.re.captures_read_at(&mut locs, subject, from) {
            Ok(Some(m)) => (m.start(), m.end()),
            Ok(None) => return false,
            Err(_) => {
                count_pcre_limit_hit();
                cur.limited |= bit;
                return false;
            }
        };
        if run(steps, idx + 1, base + m.1, cur) {
            CAPTURED.with_borrow_mut(|c| {
                for (i, (flow, name)) in p.captures.iter().enumerate() {
                    if let Some((s, e)) = locs.get(i + 1) {
                        let v = &subject[s..e];
                        if c.len() < MAX_CAPTURES {
                            c.push((*flow, name.clone(), v[..v.len().min(MAX_VAR_LEN)].to_vec()));
                        }
                    }
                }
            });
            return true;
        }
        if !retry || m.0 >= subject.len() || cur.rest_failed(idx + 1) || !cur.spend() {
            return false;
        }
        from = m.0 + 1;
    }
}

/// Values a pcre's captures can leave per rule evaluation, at most.
const MAX_CAPTURES: usize = 16;
/// Bytes kept of a captured value.
pub const MAX_VAR_LEN: usize = 1024;

/// A captured value: (flow variable (else packet variable), name, value).
type Captured = (bool, std::sync::Arc<str>, Vec<u8>);

thread_local! {
    /// Captures of the rule being evaluated, waiting for the rule to match.
    static CAPTURED: std::cell::RefCell<Vec<Captured>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Forgets captures left by an earlier evaluation (before evaluating a capturing rule).
pub fn clear_captures() {
    CAPTURED.with_borrow_mut(Vec::clear);
}

/// Hands the captures of the rule that just matched to `f`: (flow variable, name, value).
pub fn take_captures(mut f: impl FnMut(bool, &std::sync::Arc<str>, Vec<u8>)) {
    CAPTURED.with_borrow_mut(|c| {
        for (flow, name, v) in c.drain(..) {
            f(flow, &name, v);
        }
    });
}

/// Whether a chain stores captures in variables.
pub fn captures(steps: &[Step]) -> bool {
    steps
        .iter()
        .any(|s| matches!(s, Step::Pcre(p) if !p.captures.is_empty()))
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

    fn steps(opts: &str) -> Vec<Step> {
        let r = parse_rule(
            &format!("alert tcp any any -> any any ({opts} sid:1;)"),
            &Vars::default(),
        )
        .unwrap();
        let flat = r
            .inspect
            .into_iter()
            .map(|(_, i)| Step::compile(i).unwrap())
            .collect();
        nest_base64(flat).unwrap()
    }

    #[test]
    fn base64_decoding_stops_outside_the_alphabet() {
        let mut out = Vec::new();
        decode_base64(b"dGVzdA==", &mut out);
        assert_eq!(out, b"test");
        decode_base64(b"dGVzdA", &mut out);
        assert_eq!(out, b"test");
        decode_base64(b"dGVz dA==", &mut out);
        assert_eq!(out, b"tes");
        decode_base64(b"!dGVz", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn base64_data_inspects_the_decoded_bytes() {
        // "<base64>" then base64 of "`id`": the tail is anchored to the decoded start.
        let rule = r#"content:"<base64>"; base64_decode:offset 0,relative; base64_data; content:"|60|id"; startswith;"#;
        assert!(m(rule, b"xx<base64>YGlkYA==</base64>"));
        assert!(!m(rule, b"xx<base64>eGlkYA==</base64>"));
        // Not relative: decoded from the buffer start (offset 2 skips "xx").
        let abs = r#"base64_decode:bytes 8, offset 2; base64_data; content:"test"; depth:4;"#;
        assert!(m(abs, b"xxdGVzdA==yy"));
        assert!(!m(abs, b"xdGVzdA==yy"));
        // The decoded content is not the encoded one: no match on the raw bytes.
        assert!(!m(
            r#"base64_decode; base64_data; content:"dGVz";"#,
            b"dGVzdA=="
        ));
        // Only steps before base64_data feed the prefilter.
        let s = steps(rule);
        assert!(matches!(s.last(), Some(Step::Base64(_))));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn base64_keywords_must_pair() {
        let flat = |opts: &str| -> Vec<Step> {
            parse_rule(
                &format!("alert tcp any any -> any any ({opts} sid:1;)"),
                &Vars::default(),
            )
            .unwrap()
            .inspect
            .into_iter()
            .map(|(_, i)| Step::compile(i).unwrap())
            .collect()
        };
        let e = nest_base64(flat(r#"content:"a"; base64_decode;"#)).unwrap_err();
        assert!(e.contains("followed by base64_data"), "{e}");
        let e = parse_rule(
            r#"alert tcp any any -> any any (content:"a"; base64_data; content:"b"; sid:1;)"#,
            &Vars::default(),
        )
        .unwrap_err();
        assert!(e.contains("must follow a base64_decode"), "{e}");
    }

    fn m(opts: &str, payload: &[u8]) -> bool {
        matches(&steps(opts), payload)
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
        assert!(m(r#"content:"a"; content:"b"; within:1;"#, b"axab"));
        assert!(!m(r#"content:"a"; content:"zz";"#, b"aaaa"));
        assert!(m(r#"pcre:"/a./"; content:"b"; within:1;"#, b"axxayb"));
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
    fn backtracking_pcre_stops_at_the_limit_once_per_evaluation() {
        let mut hostile = vec![b'a'; 1400];
        hostile.push(b'!');
        take_pcre_limit_hits();
        // On a stream chunk every occurrence of the content is retried; the pcre ignores the
        // cursor, so it runs once, stops at the match limit, and counts one hit.
        let chain = steps(r#"content:"a"; pcre:"/(a+)+$/";"#);
        assert!(!matches_ending_after(&chain, &hostile, 700));
        assert_eq!(take_pcre_limit_hits(), 1);
        assert!(!matches(&chain, &hostile));
        assert_eq!(take_pcre_limit_hits(), 1);
        // A relative pcre depends on the cursor, but once it hit the limit it is not run
        // again in the same evaluation.
        let chain = steps(r#"content:"aa"; pcre:"/(a|aa)+$/R";"#);
        assert!(!matches_ending_after(&chain, &hostile, 10));
        assert_eq!(take_pcre_limit_hits(), 1);
        // The limits leave ordinary patterns alone, with their own leading settings too.
        assert!(m(r#"content:"a"; pcre:"/(a+)+!$/";"#, &hostile));
        assert!(m(r#"pcre:"/(*UTF)(*UCP)\w+z/";"#, "éaz".as_bytes()));
        assert!(m(r#"pcre:"/(*UTF)ab/A";"#, b"abc"));
        assert_eq!(take_pcre_limit_hits(), 0);
    }

    #[test]
    fn new_stream_data_is_found_after_thousands_of_earlier_occurrences() {
        // 9,000 bytes of context full of the pattern, then new data: the match that ends in
        // the new data is found directly (retrying each earlier one exhausted the budget).
        let buf = vec![b'a'; 10_000];
        let chain = steps(r#"content:"a";"#);
        assert!(matches_ending_after(&chain, &buf, 9_000));
        let chain = steps(r#"content:"aa"; isdataat:1,relative;"#);
        assert!(matches_ending_after(&chain, &buf, 9_000));
        assert!(
            !matches_ending_after(&chain, &buf, 9_999),
            "no data after the last one"
        );
        // A cursor-moving step after it keeps the full retry.
        let chain = steps(r#"content:"a"; byte_jump:1,0,relative,string,dec;"#);
        let mut digits = vec![b'a'; 50];
        digits.extend_from_slice(b"9xxxxxxxxxxxx");
        assert!(matches_ending_after(&chain, &digits, 55));
    }

    #[test]
    fn a_cursor_independent_step_fails_once_not_per_retry() {
        // 2,000 occurrences of the content, each retried (stream mode); the non-relative
        // content after it is absent. The step budget would stop a naive retry loop after
        // 4,096 searches; the memo stops it after the first.
        let mut buf = vec![b'x'; 2000];
        buf.extend_from_slice(b"tail");
        let chain = steps(r#"content:"x"; content:"absent";"#);
        let mut cur = Cursor {
            buf: &buf,
            vars: [0; MAX_VARS],
            budget: STEP_BUDGET,
            min_end: 1,
            failed: 0,
            limited: 0,
        };
        assert!(!run(&chain, 0, 0, &mut cur));
        assert!(
            STEP_BUDGET - cur.budget <= 2 * 2001,
            "{}",
            STEP_BUDGET - cur.budget
        );
        assert_ne!(
            cur.failed & 0b10,
            0,
            "the absent content is remembered as failed"
        );
        // With a relative step after it, each occurrence is a different question.
        assert!(m(
            r#"content:"x"; content:"t"; distance:0; within:1;"#,
            &buf
        ));
    }

    #[test]
    fn pcre_semantics() {
        assert!(m(r#"pcre:"/ab+c/";"#, b"xxabbbc"));
        assert!(m(r#"pcre:"/AB+C/i";"#, b"xxabbbc"));
        assert!(!m(r#"pcre:"/^ab/";"#, b"xab"));
        // Relative: the subject starts at the cursor, so ^ anchors right after "x".
        assert!(m(r#"content:"x"; pcre:"/^ab/R";"#, b"xab"));
        assert!(!m(r#"content:"x"; pcre:"/^b/R";"#, b"xab"));
        assert!(m(r#"content:"x"; pcre:"/b/R";"#, b"xab"));
        assert!(!m(r#"content:"b"; pcre:"/a/R";"#, b"ab"));
        assert!(m(r#"pcre:!"/evil/";"#, b"good"));
        assert!(!m(r#"pcre:!"/evil/";"#, b"so evil"));
        assert!(m(r#"pcre:"/a.c/s";"#, b"a\nc"));
        assert!(!m(r#"pcre:"/a.c/";"#, b"a\nc"));
        assert!(m(r#"content:"k="; pcre:"/\d+/AR";"#, b"k=12"));
        assert!(!m(r#"content:"k="; pcre:"/\d+/AR";"#, b"k=x12"));
        // The cursor moves to the end of the pcre match.
        assert!(m(r#"pcre:"/a+/"; content:"b"; within:1;"#, b"aaab"));
    }

    #[test]
    fn isdataat_and_bsize() {
        assert!(m(r#"content:"ab"; isdataat:1,relative;"#, b"abc"));
        assert!(!m(r#"content:"ab"; isdataat:2,relative;"#, b"abc"));
        assert!(m(r#"content:"ab"; isdataat:!2,relative;"#, b"abc"));
        assert!(m("isdataat:2;", b"abc"));
        assert!(!m("isdataat:3;", b"abc"));
        assert!(m("bsize:3;", b"abc") && !m("bsize:>3;", b"abc"));
    }

    #[test]
    fn byte_test_forms() {
        assert!(m("byte_test:2,=,258,0;", b"\x01\x02"));
        assert!(m("byte_test:2,=,513,0,little;", b"\x01\x02"));
        assert!(m("byte_test:2,>,257,0;", b"\x01\x02"));
        assert!(!m("byte_test:2,!>,257,0;", b"\x01\x02"));
        assert!(m("byte_test:1,&,0x80,1;", b"\x00\x81"));
        assert!(m("byte_test:3,=,123,0,string,dec;", b"123"));
        assert!(m("byte_test:2,=,255,0,string,hex;", b"ff"));
        assert!(!m("byte_test:3,=,1,0,string,dec;", b"abc"));
        assert!(m("byte_test:1,=,3,0,bitmask 0x30;", b"\x30"));
        assert!(m("byte_test:0,=,1234,0,string,dec;", b"1234"));
        assert!(!m("byte_test:0,=,0,0,string,dec;", b"12"));
        assert!(
            !m("byte_test:4,=,1,0;", b"\x00\x01"),
            "reading past the end fails"
        );
        assert!(m(r#"content:"L"; byte_test:1,=,5,0,relative;"#, b"xL\x05"));
    }

    #[test]
    fn byte_jump_and_extract() {
        // Length-prefixed field, then "END" right after it.
        let jump = r#"byte_jump:1,0; content:"END"; within:3;"#;
        assert!(m(jump, b"\x03abcEND"));
        assert!(!m(jump, b"\x02abcEND"));
        assert!(m(
            r#"byte_jump:1,0,from_beginning,post_offset 1; content:"c"; within:1;"#,
            b"\x02abc"
        ));
        assert!(
            !m("byte_jump:1,0;", b"\x09ab"),
            "jumping past the end fails"
        );
        assert!(m(
            r#"content:"xyz"; byte_jump:0,0,relative,post_offset -2; content:"yz"; within:2;"#,
            b"xyz"
        ));
        assert!(
            m("byte_jump:1,0;", b"\x02ab"),
            "jumping exactly to the end is allowed"
        );
        let ex = r#"byte_extract:1,0,len; content:"x"; offset:1; depth:len;"#;
        assert!(m(ex, b"\x03abx"));
        assert!(!m(ex, b"\x02abx"));
        assert!(m(
            r#"byte_extract:1,0,n,string,dec; byte_test:1,=,n,1;"#,
            b"7\x07"
        ));
        assert!(m(
            r#"byte_math:bytes 1, offset 0, oper *, rvalue 2, result r; byte_test:1,=,r,1;"#,
            b"\x03\x06"
        ));
        assert!(!m(
            r#"byte_math:bytes 1, offset 0, oper /, rvalue 0, result r;"#,
            b"\x03"
        ));
    }

    #[test]
    fn match_must_end_in_new_data() {
        let s = steps(r#"content:"ab";"#);
        assert!(matches_ending_after(&s, b"ab..ab", 3));
        assert!(!matches_ending_after(&s, b"ab....", 3));
        // Backtracking finds the later occurrence when the first ends too early.
        let s = steps(r#"content:"a"; content:"b"; distance:0;"#);
        assert!(matches_ending_after(&s, b"ab ab", 3));
    }

    #[test]
    fn hostile_payload_is_bounded() {
        let payload = vec![b'a'; 60_000];
        assert!(!m(
            r#"content:"a"; content:"a"; distance:0; content:"b"; distance:0;"#,
            &payload
        ));
        assert!(!m(
            r#"pcre:"/a/"; pcre:"/a/R"; content:"b"; distance:0;"#,
            &payload
        ));
    }
}
