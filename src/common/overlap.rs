//! Overlapping data: which copy a receiving host keeps when TCP segments or IP fragments
//! overlap (target-based reassembly, shared by the stream engine and defragmentation).

/// How overlapping out-of-order segments are resolved (which copy the receiving host keeps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverlapPolicy {
    /// The first copy wins.
    First,
    /// The last copy wins.
    Last,
    /// BSD: a segment starting before the queued one wins the overlap.
    #[default]
    Bsd,
    /// Linux: like BSD, and a segment starting at the same offset but longer also wins.
    Linux,
    /// Windows: the queued copy wins unless the new one starts before and ends after it.
    Windows,
}

/// Resolves bytes that a new segment/fragment `(start, end)` and a queued one cover both:
/// afterwards `new_part` and `old_part` (the overlapping bytes of each) agree on the winner's
/// copy, chosen by `policy`. Shared by TCP reassembly and IP defragmentation.
pub fn resolve_overlap(
    policy: OverlapPolicy,
    new: (u64, u64),
    old: (u64, u64),
    new_part: &mut [u8],
    old_part: &mut [u8],
) {
    let new_wins = match policy {
        OverlapPolicy::First => false,
        OverlapPolicy::Last => true,
        OverlapPolicy::Bsd => new.0 < old.0,
        OverlapPolicy::Linux => new.0 < old.0 || (new.0 == old.0 && new.1 > old.1),
        OverlapPolicy::Windows => new.0 < old.0 && new.1 > old.1,
    };
    if new_wins {
        old_part.copy_from_slice(new_part);
    } else {
        new_part.copy_from_slice(old_part);
    }
}
