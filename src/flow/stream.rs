//! TCP stream reassembly, one [`Reassembler`] per direction.
//!
//! Data that arrives in order is appended to a bounded window that detection inspects; data
//! that arrives early waits in a capped list of out-of-order segments and is merged when the
//! hole before it fills. Overlapping out-of-order data is resolved by a target-based
//! [`OverlapPolicy`]; data that has already become contiguous is final (a retransmission cannot
//! rewrite what was inspected) and a retransmission that differs from it is counted as an
//! evasion attempt. When the peer acknowledges data that was never seen, the hole is recorded
//! as a gap and reassembly continues after it. Nothing here panics on hostile sequence numbers.

use crate::common::bufpool;
use crate::common::overlap::resolve_overlap;
pub use crate::common::overlap::OverlapPolicy;

/// Reassembly limits (from the `[stream]` config section).
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// Bytes per direction reassembled; later data is not inspected on the stream.
    pub depth: u64,
    /// Overlap policy.
    pub policy: OverlapPolicy,
    /// Out-of-order segments kept per direction.
    pub max_segments: usize,
    /// Bytes all streams of one worker may hold; past it, segments are not reassembled
    /// (counted; the hole they leave becomes a gap).
    pub memcap: usize,
    /// Bytes of contiguous data kept for inspection (older data is dropped, keeping
    /// `lookback` bytes so matches can span the boundary).
    pub window: usize,
    /// Bytes kept before new data when the window slides.
    pub lookback: usize,
    /// IDS mode: acknowledged bytes that accumulate before raw stream detection inspects a
    /// direction (Suricata's `toserver-chunk-size`/`toclient-chunk-size`). A FIN or RST,
    /// the flow's end, inline mode and a full window inspect at once.
    pub raw_chunk: u64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            depth: 1 << 20,
            policy: OverlapPolicy::Bsd,
            max_segments: 256,
            memcap: 256 << 20,
            window: 64 * 1024,
            lookback: 4096,
            raw_chunk: 2560,
        }
    }
}

/// Counters and events of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamEvents {
    /// Segments that overlapped earlier data with different bytes.
    pub overlap_diff: u32,
    /// Holes skipped because the peer acknowledged unseen data (or at close).
    pub gaps: u32,
    /// Segments refused because the out-of-order list was full.
    pub ooo_refused: u32,
    /// Bytes beyond the reassembly depth, not inspected on the stream.
    pub depth_bytes: u64,
}

#[derive(Clone, Debug)]
struct Seg {
    off: u64,
    data: Vec<u8>,
}

/// A rule that alerted on stream data before raw stream detection reached that data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlyAlert {
    /// Engine index of the rule.
    pub rule: u32,
    /// Stream offset the data it alerted on ended at.
    pub end: u64,
    /// It matched a packet's own payload (a packet-and-stream rule); otherwise (inline) data
    /// queued past a hole. Raw detection does not alert the rule again on data before `end`;
    /// after a packet match, Suricata still does on live packets, and only the flow's end
    /// skips it.
    pub on_packet: bool,
}

/// Rule alerts remembered per direction for [`Reassembler::alerted`].
pub const MAX_ALERTED: usize = 64;

/// One direction of a TCP session.
#[derive(Clone, Debug, Default)]
pub struct Reassembler {
    /// Sequence number of stream offset 0 (ISN + 1).
    base_seq: Option<u32>,
    /// Stream offset of `buf[0]`.
    buf_off: u64,
    /// Retained contiguous data.
    buf: Vec<u8>,
    ooo: Vec<Seg>,
    /// Stream offset the peer acknowledged (IDS mode inspects data once acknowledged).
    acked: u64,
    /// Stream offset up to which the app-layer parser was given data.
    pub app_off: u64,
    /// Stream offset up to which raw stream detection looked.
    pub raw_off: u64,
    /// The parser completed something in this direction: raw detection looks at the stream
    /// on the direction's next packet without waiting for a full chunk.
    pub raw_trigger: bool,
    /// Stream offset up to which raw-stream prefilter scans may have found fast patterns.
    pub hits_until: std::cell::Cell<u64>,
    /// Counters.
    pub events: StreamEvents,
    /// Overlap policy of the receiving host (from `[host_os_policy]`); None: the default.
    pub policy: Option<OverlapPolicy>,
    /// Rules that already alerted on data before raw stream detection reached it.
    pub alerted: Vec<EarlyAlert>,
}

impl Drop for Reassembler {
    fn drop(&mut self) {
        for seg in self.ooo.drain(..) {
            bufpool::recycle(seg.data);
        }
    }
}

/// New contiguous data made available by a segment: its range in the retained window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewData {
    /// Start of the new bytes within [`Reassembler::window`].
    pub start: usize,
    /// End of the new bytes within the window (= window length).
    pub end: usize,
}

impl Reassembler {
    /// Sets the initial sequence number (from SYN or SYN/ACK): stream offset 0 is `isn + 1`.
    pub fn set_isn(&mut self, isn: u32) {
        if self.base_seq.is_none() {
            self.base_seq = Some(isn.wrapping_add(1));
        }
    }

    /// What Suricata's `stream_size` measures: sequence space used so far (data plus the
    /// SYN), 0 before the stream starts.
    pub fn size(&self) -> u64 {
        if self.base_seq.is_some() {
            self.next_off() + 1
        } else {
            0
        }
    }

    /// Whether the start of the stream is known.
    pub fn started(&self) -> bool {
        self.base_seq.is_some()
    }

    /// Stream offset just after the contiguous data.
    pub fn next_off(&self) -> u64 {
        self.buf_off + self.buf.len() as u64
    }

    /// The retained contiguous data (what stream detection inspects).
    pub fn window(&self) -> &[u8] {
        &self.buf
    }

    /// Stream offset of the first retained byte.
    pub fn window_off(&self) -> u64 {
        self.buf_off
    }

    /// Records the peer's acknowledgement number.
    pub fn ack_to(&mut self, ack: u32) {
        if let Some(off) = self.offset_of(ack) {
            if off > 0 {
                self.acked = self.acked.max(off as u64);
            }
        }
    }

    /// Stream offset the peer acknowledged, bounded by the contiguous data.
    pub fn acked(&self) -> u64 {
        self.acked.min(self.next_off())
    }

    /// The window positions of stream offsets `from..upto` that are still retained (None when
    /// that is empty).
    pub fn range(&self, from: u64, upto: u64) -> Option<(usize, usize)> {
        let a = from.max(self.buf_off);
        let b = upto.min(self.next_off());
        (a < b).then(|| ((a - self.buf_off) as usize, (b - self.buf_off) as usize))
    }

    /// Bytes contiguous but not yet handed to both the parser and raw detection.
    pub fn unconsumed(&self) -> u64 {
        self.next_off() - self.app_off.min(self.raw_off).max(self.buf_off)
    }

    /// Out-of-order segments waiting.
    pub fn pending(&self) -> usize {
        self.ooo.len()
    }

    /// Heap bytes held (window capacity and queued segments), for the stream memcap.
    pub fn mem(&self) -> usize {
        self.buf.capacity() + self.ooo.iter().map(|s| s.data.capacity()).sum::<usize>()
    }

    /// Stream offset of `seq`, or None for data before the stream start or absurdly far ahead.
    fn offset_of(&self, seq: u32) -> Option<i64> {
        let base = self.base_seq?;
        // Sequence numbers are 32-bit: measure the distance from the contiguous end modulo
        // 2^32; anything more than 1 GiB away is garbage, not wrapped-around data.
        let next = self.next_off();
        let delta = i64::from(seq.wrapping_sub(base).wrapping_sub(next as u32) as i32);
        (delta.abs() < (1 << 30)).then_some(next as i64 + delta)
    }

    /// Records a rule that alerted on data before raw detection reached it (at most
    /// [`MAX_ALERTED`] kept, oldest dropped first).
    pub fn note_alert(&mut self, alert: EarlyAlert) {
        if self.alerted.len() >= MAX_ALERTED {
            self.alerted.remove(0);
        }
        self.alerted.push(alert);
    }

    /// The stream offset just past `len` bytes sent at `seq`, if `seq` is in this stream.
    pub fn end_of(&self, seq: u32, len: usize) -> Option<u64> {
        let end = self.offset_of(seq)? + len as i64;
        u64::try_from(end).ok()
    }

    /// Adds a segment. Returns the range of new contiguous data, if any.
    pub fn insert(&mut self, seq: u32, payload: &[u8], cfg: &StreamConfig) -> Option<NewData> {
        if payload.is_empty() {
            return None;
        }
        if self.base_seq.is_none() {
            // Picked up mid-stream: this segment starts the stream.
            self.base_seq = Some(seq);
        }
        let mut off = self.offset_of(seq)?;
        let mut data = payload;
        if off < 0 {
            let skip = (-off) as usize;
            if skip >= data.len() {
                return None;
            }
            data = &data[skip..];
            off = 0;
        }
        let off = off as u64;
        let old_end = self.next_off();
        self.place(off, data, cfg);
        self.drain_ooo(cfg);
        let added = (self.next_off() - old_end) as usize;
        if added == 0 {
            return None;
        }
        self.slide(cfg, added);
        let end = self.buf.len();
        Some(NewData {
            start: end - added,
            end,
        })
    }

    /// Inline mode: the queued data (past a hole) that the segment at `seq` of `len` bytes
    /// belongs to, copied into `out` as one block starting at most `lookback` bytes before the
    /// segment and ending with it. Returns the stream offset of `out[0]` and where the segment
    /// starts in `out`; None when the segment is not queued past a hole.
    pub fn ooo_block(
        &self,
        seq: u32,
        len: usize,
        lookback: usize,
        out: &mut Vec<u8>,
    ) -> Option<(u64, usize)> {
        let off = u64::try_from(self.offset_of(seq)?).ok()?;
        if len == 0 || off <= self.next_off() {
            return None;
        }
        let contains = |start: u64, end: u64| start <= off && off < end;
        out.clear();
        let (mut run_start, mut run_end) = (0u64, 0u64);
        for s in &self.ooo {
            let s_end = s.off + s.data.len() as u64;
            if out.is_empty() || s.off > run_end {
                if !out.is_empty() && contains(run_start, run_end) {
                    break;
                }
                out.clear();
                run_start = s.off;
                run_end = s.off;
            }
            if s_end > run_end {
                out.extend_from_slice(&s.data[(run_end - s.off) as usize..]);
                run_end = s_end;
            }
        }
        if out.is_empty() || !contains(run_start, run_end) {
            return None;
        }
        let from = off.saturating_sub(lookback as u64).max(run_start);
        let to = (off + len as u64).min(run_end);
        out.truncate((to - run_start) as usize);
        out.drain(..(from - run_start) as usize);
        Some((from, (off - from) as usize))
    }

    /// Places data at stream offset `off`: appends what continues the contiguous data,
    /// compares what overlaps it, queues what lies beyond.
    fn place(&mut self, off: u64, data: &[u8], cfg: &StreamConfig) {
        let next = self.next_off();
        let end = off + data.len() as u64;
        // The part already contiguous: final; only check it for differing bytes.
        if off < next {
            let ov_end = end.min(next);
            if off >= self.buf_off {
                let a = (off - self.buf_off) as usize;
                let b = (ov_end - self.buf_off) as usize;
                if self.buf[a..b] != data[..b - a] {
                    self.events.overlap_diff += 1;
                }
            }
            if end <= next {
                return;
            }
        }
        let start = off.max(next);
        let data = &data[(start - off) as usize..];
        if start == next {
            let room = cfg.depth.saturating_sub(next);
            let take = (data.len() as u64).min(room) as usize;
            self.events.depth_bytes += (data.len() - take) as u64;
            self.buf.extend_from_slice(&data[..take]);
        } else {
            self.queue(start, data, cfg);
        }
    }

    /// Queues an out-of-order segment, resolving overlaps with queued ones by policy.
    fn queue(&mut self, off: u64, data: &[u8], cfg: &StreamConfig) {
        if off >= cfg.depth {
            self.events.depth_bytes += data.len() as u64;
            return;
        }
        let end = off + data.len() as u64;
        let mut new = Seg {
            off,
            data: bufpool::copy_of(data),
        };
        for seg in &mut self.ooo {
            let s_end = seg.off + seg.data.len() as u64;
            let (a, b) = (off.max(seg.off), end.min(s_end));
            if a >= b {
                continue;
            }
            let new_part = &new.data[(a - off) as usize..(b - off) as usize];
            let old_part = &seg.data[(a - seg.off) as usize..(b - seg.off) as usize];
            if new_part == old_part {
                continue;
            }
            self.events.overlap_diff += 1;
            let old = &mut seg.data[(a - seg.off) as usize..(b - seg.off) as usize];
            let new_bytes = &mut new.data[(a - off) as usize..(b - off) as usize];
            let policy = self.policy.unwrap_or(cfg.policy);
            resolve_overlap(policy, (off, end), (seg.off, s_end), new_bytes, old);
        }
        if self.ooo.len() >= cfg.max_segments {
            self.events.ooo_refused += 1;
            bufpool::recycle(new.data);
            return;
        }
        let at = self.ooo.partition_point(|s| s.off <= new.off);
        self.ooo.insert(at, new);
    }

    /// Moves queued segments that now continue the contiguous data into it.
    fn drain_ooo(&mut self, cfg: &StreamConfig) {
        while let Some(first) = self.ooo.first() {
            let next = self.next_off();
            if first.off > next {
                break;
            }
            let seg = self.ooo.remove(0);
            self.place(seg.off, &seg.data, cfg);
            bufpool::recycle(seg.data);
        }
    }

    /// Keeps the window bounded: drops old data, keeping `lookback` bytes before the newest
    /// `added` bytes.
    fn slide(&mut self, cfg: &StreamConfig, added: usize) {
        if self.buf.len() <= cfg.window {
            return;
        }
        // Data not yet consumed by the parser or raw detection stays (the worker consumes it
        // before it grows past half a window).
        let pending = self.unconsumed() as usize;
        let keep = (added.max(pending) + cfg.lookback)
            .max(cfg.window / 2)
            .min(self.buf.len());
        let drop = self.buf.len() - keep;
        self.buf.drain(..drop);
        self.buf_off += drop as u64;
    }

    /// The peer acknowledged up to `ack`: if that is beyond the contiguous data while later
    /// data waits in the queue, the hole was lost to us; skip it (counted as a gap) and
    /// continue with what is queued after it. With nothing queued the missing data may still
    /// arrive (captures reorder packets), so nothing is skipped yet.
    pub fn on_ack(&mut self, ack: u32, cfg: &StreamConfig) -> Option<NewData> {
        if self.ooo.is_empty() {
            return None;
        }
        let acked = self.offset_of(ack)?;
        let next = self.next_off() as i64;
        if acked <= next {
            return None;
        }
        self.skip_gap(acked as u64, cfg)
    }

    /// Skips to the first queued segment (or `limit`), recording a gap.
    fn skip_gap(&mut self, limit: u64, cfg: &StreamConfig) -> Option<NewData> {
        let target = self.ooo.first().map_or(limit, |s| s.off.min(limit));
        let next = self.next_off();
        if target <= next || target > cfg.depth {
            return None;
        }
        self.events.gaps += 1;
        // Data after a gap is inspected on its own: the window restarts at the gap's end.
        self.buf.clear();
        self.buf_off = target;
        let old_end = self.next_off();
        self.drain_ooo(cfg);
        let added = (self.next_off() - old_end) as usize;
        (added > 0).then_some(NewData {
            start: 0,
            end: self.buf.len(),
        })
    }

    /// At the end of the session: everything still queued is delivered after its gaps.
    pub fn flush(&mut self, cfg: &StreamConfig) -> Option<NewData> {
        let first = self.ooo.first()?.off;
        self.skip_gap(first, cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(policy: OverlapPolicy) -> StreamConfig {
        StreamConfig {
            policy,
            ..StreamConfig::default()
        }
    }

    fn stream(isn: u32) -> Reassembler {
        let mut r = Reassembler::default();
        r.set_isn(isn);
        r
    }

    #[test]
    fn in_order() {
        let c = StreamConfig::default();
        let mut r = stream(1000);
        assert_eq!(
            r.insert(1001, b"hello ", &c),
            Some(NewData { start: 0, end: 6 })
        );
        assert_eq!(
            r.insert(1007, b"world", &c),
            Some(NewData { start: 6, end: 11 })
        );
        assert_eq!(r.window(), b"hello world");
        // Pure retransmission: nothing new, nothing flagged.
        assert_eq!(r.insert(1001, b"hello", &c), None);
        assert_eq!(r.events.overlap_diff, 0);
    }

    #[test]
    fn block_of_queued_data_past_a_hole() {
        let c = StreamConfig::default();
        let mut r = stream(1000);
        r.insert(1001, b"GET / HTTP/1.0\r\n", &c);
        // Hole at 17..32, then two adjacent queued segments, another hole, one more.
        r.insert(1033, b"User-Agent: ", &c);
        r.insert(1045, b"Mozilla\r\n", &c);
        r.insert(1100, b"zzz", &c);
        let mut out = Vec::new();
        assert_eq!(r.ooo_block(1045, 9, 4096, &mut out), Some((32, 12)));
        assert_eq!(out, b"User-Agent: Mozilla\r\n");
        // Lookback trims the front; the block ends with the segment asked about.
        assert_eq!(r.ooo_block(1045, 9, 4, &mut out), Some((40, 4)));
        assert_eq!(out, b"nt: Mozilla\r\n");
        assert_eq!(r.ooo_block(1033, 12, 4096, &mut out), Some((32, 0)));
        assert_eq!(out, b"User-Agent: ");
        assert_eq!(r.ooo_block(1100, 3, 4096, &mut out), Some((99, 0)));
        assert_eq!(out, b"zzz");
        // Contiguous data is not "past a hole".
        assert_eq!(r.ooo_block(1001, 16, 4096, &mut out), None);
    }

    #[test]
    fn out_of_order_fills_the_hole() {
        let c = StreamConfig::default();
        let mut r = stream(0);
        assert_eq!(r.insert(7, b"world", &c), None);
        assert_eq!(r.pending(), 1);
        assert_eq!(
            r.insert(1, b"hello ", &c),
            Some(NewData { start: 0, end: 11 })
        );
        assert_eq!(r.window(), b"hello world");
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn retransmission_with_different_bytes_is_flagged_not_applied() {
        let c = StreamConfig::default();
        let mut r = stream(0);
        r.insert(1, b"GET /index", &c);
        assert_eq!(r.insert(5, b"/evil", &c), None);
        assert_eq!(r.window(), b"GET /index");
        assert_eq!(r.events.overlap_diff, 1);
    }

    /// Queues "AAAA" at 4..8, then "BBBBBB" at 2..8 (starts before, same end), then fills 0..2.
    fn overlap_case(policy: OverlapPolicy, first: (u32, &[u8]), second: (u32, &[u8])) -> Vec<u8> {
        let c = cfg(policy);
        let mut r = stream(0);
        r.insert(first.0, first.1, &c);
        r.insert(second.0, second.1, &c);
        r.insert(1, b"xx", &c);
        r.window().to_vec()
    }

    #[test]
    fn overlap_policies() {
        let a = (5, &b"AAAA"[..]);
        let b = (3, &b"BBBBBB"[..]);
        assert_eq!(overlap_case(OverlapPolicy::First, a, b), b"xxBBAAAA");
        assert_eq!(overlap_case(OverlapPolicy::Last, a, b), b"xxBBBBBB");
        assert_eq!(overlap_case(OverlapPolicy::Bsd, a, b), b"xxBBBBBB");
        assert_eq!(overlap_case(OverlapPolicy::Linux, a, b), b"xxBBBBBB");
        // Windows: the new segment must also end after the queued one.
        assert_eq!(overlap_case(OverlapPolicy::Windows, a, b), b"xxBBAAAA");
        // Same start, longer: Linux takes the new copy, BSD keeps the queued one.
        let first = (3, &b"AAAA"[..]);
        let longer = (3, &b"CCCCCC"[..]);
        assert_eq!(
            overlap_case(OverlapPolicy::Linux, first, longer),
            b"xxCCCCCC"
        );
        assert_eq!(overlap_case(OverlapPolicy::Bsd, first, longer), b"xxAAAACC");
    }

    #[test]
    fn gap_on_ack_of_unseen_data() {
        let c = StreamConfig::default();
        let mut r = stream(0);
        r.insert(1, b"abc", &c);
        r.insert(11, b"after", &c);
        // The receiver acknowledged everything: bytes 3..10 were lost to the sensor.
        let new = r.on_ack(16, &c).unwrap();
        assert_eq!(r.events.gaps, 1);
        assert_eq!(&r.window()[new.start..new.end], b"after");
        assert_eq!(r.next_off(), 15);
    }

    #[test]
    fn ack_ahead_of_data_waits_while_nothing_is_queued() {
        let c = StreamConfig::default();
        let mut r = stream(0);
        r.insert(1, b"abc", &c);
        // The ACK overtook the data in the capture; the data then arrives.
        assert_eq!(r.on_ack(10, &c), None);
        assert_eq!(r.insert(4, b"defghi", &c).map(|n| n.end), Some(9));
        assert_eq!(r.events.gaps, 0);
    }

    #[test]
    fn flush_delivers_after_gap() {
        let c = StreamConfig::default();
        let mut r = stream(0);
        r.insert(1, b"abc", &c);
        r.insert(20, b"tail", &c);
        assert_eq!(r.flush(&c).map(|n| n.end), Some(4));
        assert_eq!(r.window(), b"tail");
    }

    #[test]
    fn depth_limit() {
        let c = StreamConfig {
            depth: 8,
            ..StreamConfig::default()
        };
        let mut r = stream(0);
        assert_eq!(r.insert(1, b"0123456789", &c).map(|n| n.end), Some(8));
        assert_eq!(r.events.depth_bytes, 2);
        assert_eq!(r.insert(11, b"more", &c), None);
        assert_eq!(r.events.depth_bytes, 6);
    }

    #[test]
    fn sequence_wraparound() {
        let c = StreamConfig::default();
        let mut r = stream(u32::MAX - 2);
        assert!(r.insert(u32::MAX - 1, b"ab", &c).is_some());
        assert!(r.insert(0, b"cd", &c).is_some());
        assert_eq!(r.window(), b"abcd");
    }

    #[test]
    fn midstream_and_hostile_sequence_numbers() {
        let c = StreamConfig::default();
        let mut r = Reassembler::default();
        assert!(r.insert(5000, b"mid", &c).is_some());
        assert_eq!(r.window(), b"mid");
        // Far away in sequence space: ignored, never a panic.
        assert_eq!(r.insert(5000 + (1 << 31), b"junk", &c), None);
        assert_eq!(r.on_ack(5000u32.wrapping_sub(1 << 31), &c), None);
        // Data before the stream start is trimmed.
        let mut r = stream(100);
        // ISN 100: offset 0 is seq 101, so of "xyz" at seq 99 only "z" is stream data.
        assert_eq!(r.insert(99, b"xyz", &c).map(|n| n.end), Some(1));
        assert_eq!(r.window(), b"z");
    }

    #[test]
    fn segment_cap() {
        let c = StreamConfig {
            max_segments: 2,
            ..StreamConfig::default()
        };
        let mut r = stream(0);
        for i in 0..5u32 {
            r.insert(100 + i * 10, b"x", &c);
        }
        assert_eq!(r.pending(), 2);
        assert_eq!(r.events.ooo_refused, 3);
    }

    #[test]
    fn window_slides_but_keeps_lookback() {
        let c = StreamConfig {
            window: 100,
            lookback: 10,
            ..StreamConfig::default()
        };
        let mut r = stream(0);
        let mut seq = 1u32;
        for _ in 0..20 {
            let n = r.insert(seq, &[b'a'; 30], &c).unwrap();
            assert_eq!(n.end - n.start, 30);
            seq += 30;
            // Consumed, as the worker does once data is released.
            (r.app_off, r.raw_off) = (r.next_off(), r.next_off());
        }
        assert!(r.window().len() <= 100);
        assert_eq!(r.next_off(), 600);
    }

    #[test]
    fn unacknowledged_data_is_kept_until_consumed() {
        let c = StreamConfig {
            window: 100,
            lookback: 10,
            ..StreamConfig::default()
        };
        let mut r = stream(0);
        r.insert(1, &[b'a'; 90], &c);
        r.insert(91, &[b'b'; 90], &c);
        // Nothing consumed: all 180 bytes stay, whatever the window.
        assert_eq!(r.window().len(), 180);
        assert_eq!(r.unconsumed(), 180);
        // The peer acknowledges 100 bytes; only they are released.
        r.ack_to(101);
        assert_eq!(r.acked(), 100);
        assert_eq!(r.range(0, r.acked()), Some((0, 100)));
        (r.app_off, r.raw_off) = (100, 100);
        assert_eq!(r.unconsumed(), 80);
        // A bogus acknowledgement far ahead is bounded by what we have.
        r.ack_to(100_000);
        assert_eq!(r.acked(), 180);
    }
}
