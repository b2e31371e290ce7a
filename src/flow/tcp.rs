//! TCP segment validation: what a receiving host would refuse, the sensor refuses too, so an
//! attacker cannot feed the stream engine data, resets or handshakes the target never accepts.
//!
//! Checked per packet before it moves session state or reaches reassembly:
//! - during the handshake, the server's reply must echo the client's SYN timestamp and its
//!   SYN/ACK must acknowledge the client's ISN (`pkt_invalid_timestamp`,
//!   `3whs_synack_with_wrong_ack`);
//! - once established, data must start inside the receiver's advertised window
//!   (`est_packet_out_of_window`) and, when both sides negotiated timestamps, its TSval must not
//!   go backwards (PAWS, RFC 7323: `pkt_invalid_timestamp`);
//! - a RST must fall inside the receiver's window (otherwise it is ignored and counted).
//!
//! A refused packet is still inspected as a packet; it just cannot change the stream.

use crate::decode::{tcp_flags, TcpInfo};

/// Sequence-space comparison (RFC 1982): `a` after `b`.
fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Why a segment was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Timestamp echo wrong during the handshake, or TSval went backwards (PAWS).
    InvalidTimestamp,
    /// SYN/ACK that does not acknowledge the client's SYN.
    SynAckWrongAck,
    /// Data starting beyond the receiver's window.
    OutOfWindow,
    /// RST outside the receiver's window.
    RstOutOfWindow,
}

impl Refusal {
    /// The `stream-event` bit (of [`crate::detect::stream_event`]) the refusal raises.
    pub fn stream_event(self) -> u32 {
        use crate::detect::stream_event::*;
        match self {
            Refusal::InvalidTimestamp => INVALID_TIMESTAMP,
            Refusal::SynAckWrongAck => SYNACK_WRONG_ACK,
            Refusal::OutOfWindow | Refusal::RstOutOfWindow => OUT_OF_WINDOW,
        }
    }

    /// The EVE anomaly event: `stream.` + the `stream-event` name rules match it by.
    pub fn anomaly_name(self) -> &'static str {
        match self {
            Refusal::InvalidTimestamp => "stream.pkt_invalid_timestamp",
            Refusal::SynAckWrongAck => "stream.3whs_synack_with_wrong_ack",
            Refusal::OutOfWindow | Refusal::RstOutOfWindow => "stream.est_packet_out_of_window",
        }
    }
}

/// How strictly to validate.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// The receiver is Linux: one tick of timestamp slack.
    pub linux_receiver: bool,
    /// Data must start inside the advertised window; otherwise one extra (largest seen)
    /// window of slack covers window updates a passive capture missed.
    pub strict_window: bool,
}

/// Session phase, as far as validation needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Client SYN seen, no valid SYN/ACK yet.
    SynSent,
    /// Handshake under way or done, or picked up mid-stream.
    Synchronized,
    /// Not tracked (no SYN seen, midstream off) or closed.
    Other,
}

/// What one side has sent.
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    /// Initial sequence number, from its SYN.
    isn: Option<u32>,
    /// One past the highest sequence number sent (valid when `sent`).
    next_seq: u32,
    sent: bool,
    /// Right edge of the window this side advertised: ack + (window << scale), the highest
    /// seen; valid when `acked`.
    next_win: u32,
    acked: bool,
    /// Largest window (scaled) it advertised.
    max_win: u32,
    /// Window scale it announced on its SYN.
    wscale: Option<u8>,
    /// Its SYN carried a timestamp.
    syn_ts: bool,
    /// Latest accepted TSval and when (seconds of packet time) it was taken.
    last_ts: u32,
    last_ts_secs: i64,
}

/// Validation state of one TCP session (both directions; index 0 is the client).
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpTrack {
    side: [Side; 2],
    /// Both SYNs seen: whether timestamps and window scaling are in effect is known.
    negotiated: bool,
}

/// PAWS gives up on a timestamp this old (RFC 7323 §5.5: 24 days).
const PAWS_IDLE_SECS: i64 = 24 * 86_400;

impl TcpTrack {
    /// Checks a segment sent by side `dir` (0 client, 1 server) at packet time `secs`. On
    /// success the segment's sequence, window and timestamp are recorded.
    pub fn check(
        &mut self,
        phase: Phase,
        tcp: &TcpInfo,
        payload_len: usize,
        dir: usize,
        secs: i64,
        limits: Limits,
    ) -> Result<(), Refusal> {
        let flags = tcp.flags;
        let syn = flags & tcp_flags::SYN != 0;
        let ack = flags & tcp_flags::ACK != 0;
        let rst = flags & tcp_flags::RST != 0;
        let (me, peer) = (self.side[dir], self.side[1 - dir]);
        match phase {
            Phase::SynSent if dir == 1 && peer.isn.is_some() => {
                // The server answers a SYN: it must echo the client's timestamp (or none if
                // the client sent none) and, on a SYN/ACK, acknowledge the client's ISN. (A
                // SYN that failed its checksum was not recorded: nothing to compare with.)
                if let Some((_, ecr)) = tcp.ts {
                    let bad = if peer.syn_ts {
                        peer.last_ts != 0 && ecr != 0 && ecr != peer.last_ts
                    } else {
                        ecr != 0
                    };
                    if bad {
                        return Err(Refusal::InvalidTimestamp);
                    }
                }
                if syn && ack && peer.isn.is_some_and(|i| tcp.ack != i.wrapping_add(1)) {
                    return Err(Refusal::SynAckWrongAck);
                }
            }
            Phase::Synchronized if !syn => {
                // Window: the receiver discards data (and resets) starting past its window.
                if self.negotiated && peer.acked {
                    let slack = if limits.strict_window {
                        0
                    } else {
                        peer.max_win
                    };
                    let starts_beyond = seq_gt(tcp.seq, peer.next_win.wrapping_add(slack));
                    if rst && starts_beyond {
                        return Err(Refusal::RstOutOfWindow);
                    }
                    if payload_len > 0 && starts_beyond {
                        return Err(Refusal::OutOfWindow);
                    }
                }
                // PAWS, when both SYNs carried timestamps.
                if let (true, true, Some((tsval, _))) = (self.negotiated, me.syn_ts, tcp.ts) {
                    if me.last_ts != 0 && secs <= me.last_ts_secs + PAWS_IDLE_SECS {
                        let slack = i32::from(limits.linux_receiver);
                        let behind = (tsval.wrapping_sub(me.last_ts) as i32).saturating_add(slack);
                        if behind < 0 || (tsval == 0 && !rst) {
                            return Err(Refusal::InvalidTimestamp);
                        }
                    }
                }
            }
            _ => {}
        }
        self.record(tcp, payload_len, dir, secs);
        Ok(())
    }

    fn record(&mut self, tcp: &TcpInfo, payload_len: usize, dir: usize, secs: i64) {
        let flags = tcp.flags;
        let syn = flags & tcp_flags::SYN != 0;
        let ack = flags & tcp_flags::ACK != 0;
        if syn {
            let me = &mut self.side[dir];
            me.isn = Some(tcp.seq);
            me.wscale = tcp.wscale.map(|s| s.min(14));
            me.syn_ts = tcp.ts.is_some();
            if ack && self.side[1 - dir].isn.is_some() {
                self.negotiated = true;
            }
        }
        let both_ws = self.side[0].wscale.is_some() && self.side[1].wscale.is_some();
        let me = &mut self.side[dir];
        let used = payload_len as u32 + u32::from(syn) + u32::from(flags & tcp_flags::FIN != 0);
        let end = tcp.seq.wrapping_add(used);
        let in_order = !me.sent || !seq_gt(tcp.seq, me.next_seq);
        if !me.sent || seq_gt(end, me.next_seq) {
            me.next_seq = end;
            me.sent = true;
        }
        if let Some((tsval, _)) = tcp.ts {
            // RFC 7323: TS.Recent follows segments that do not lie ahead of the expected
            // sequence number.
            if in_order && (me.last_ts == 0 || seq_gt(tsval, me.last_ts) || syn) {
                me.last_ts = tsval;
                me.last_ts_secs = secs;
            }
        }
        if ack {
            // The window field of a SYN is never scaled.
            let shift = if both_ws && !syn {
                me.wscale.unwrap_or(0)
            } else {
                0
            };
            let win = u32::from(tcp.window) << shift;
            me.max_win = me.max_win.max(win);
            let edge = tcp.ack.wrapping_add(win);
            if !me.acked || seq_gt(edge, me.next_win) {
                me.next_win = edge;
                me.acked = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(flags: u8, seq: u32, ack: u32, window: u16, ts: Option<(u32, u32)>) -> TcpInfo {
        TcpInfo {
            flags,
            seq,
            ack,
            window,
            ts,
            wscale: (flags & tcp_flags::SYN != 0).then_some(2),
        }
    }

    const STRICT: Limits = Limits {
        linux_receiver: false,
        strict_window: true,
    };
    const LINUX: Limits = Limits {
        linux_receiver: true,
        strict_window: true,
    };
    const S: u8 = tcp_flags::SYN;
    const A: u8 = tcp_flags::ACK;
    const R: u8 = tcp_flags::RST;

    /// Client ISN 1000 (TS 500), server ISN 9000 (TS 70), both scale windows by 4.
    fn established() -> TcpTrack {
        let mut t = TcpTrack::default();
        let ok = |t: &mut TcpTrack, ph, s, dir| t.check(ph, &s, 0, dir, 0, STRICT);
        ok(
            &mut t,
            Phase::Other,
            seg(S, 1000, 0, 1000, Some((500, 0))),
            0,
        )
        .unwrap();
        let synack = seg(S | A, 9000, 1001, 1000, Some((70, 500)));
        ok(&mut t, Phase::SynSent, synack, 1).unwrap();
        ok(
            &mut t,
            Phase::Synchronized,
            seg(A, 1001, 9001, 100, Some((501, 70))),
            0,
        )
        .unwrap();
        t
    }

    #[test]
    fn handshake_reply_must_echo_the_syn_timestamp() {
        let mut t = TcpTrack::default();
        t.check(
            Phase::Other,
            &seg(S, 1000, 0, 1000, Some((500, 0))),
            0,
            0,
            0,
            STRICT,
        )
        .unwrap();
        let forged = seg(R | A, 0, 1001, 0, Some((100, 100)));
        assert_eq!(
            t.check(Phase::SynSent, &forged, 0, 1, 0, STRICT),
            Err(Refusal::InvalidTimestamp)
        );
        // An echo of 0 is tolerated (a SYN/ACK of a host that did not see the option).
        let synack = seg(S | A, 9000, 1001, 1000, Some((70, 0)));
        assert_eq!(t.check(Phase::SynSent, &synack, 0, 1, 0, STRICT), Ok(()));
    }

    #[test]
    fn echo_without_client_timestamp_is_invalid() {
        let mut t = TcpTrack::default();
        t.check(Phase::Other, &seg(S, 1000, 0, 1000, None), 0, 0, 0, STRICT)
            .unwrap();
        let forged = seg(R | A, 0, 1001, 0, Some((100, 100)));
        assert!(t.check(Phase::SynSent, &forged, 0, 1, 0, STRICT).is_err());
        let plain = seg(R | A, 0, 1001, 0, None);
        assert!(t.check(Phase::SynSent, &plain, 0, 1, 0, STRICT).is_ok());
    }

    #[test]
    fn synack_must_acknowledge_the_syn() {
        let mut t = TcpTrack::default();
        t.check(Phase::Other, &seg(S, 1000, 0, 1000, None), 0, 0, 0, STRICT)
            .unwrap();
        let wrong = seg(S | A, 9000, 4242, 1000, None);
        assert_eq!(
            t.check(Phase::SynSent, &wrong, 0, 1, 0, STRICT),
            Err(Refusal::SynAckWrongAck)
        );
        let right = seg(S | A, 9000, 1001, 1000, None);
        assert!(t.check(Phase::SynSent, &right, 0, 1, 0, STRICT).is_ok());
    }

    #[test]
    fn data_beyond_the_scaled_window_is_refused() {
        let mut t = established();
        // The server acknowledged 1001 with a window of 1000 << 2 = 4000 (its SYN/ACK's
        // window was unscaled; no later ACK from it): the edge is 1001 + 1000.
        let inside = seg(A, 1001, 9001, 100, Some((502, 70)));
        assert!(t
            .check(Phase::Synchronized, &inside, 100, 0, 0, STRICT)
            .is_ok());
        let beyond = seg(A, 1001 + 5000, 9001, 100, Some((503, 70)));
        assert_eq!(
            t.check(Phase::Synchronized, &beyond, 100, 0, 0, STRICT),
            Err(Refusal::OutOfWindow)
        );
        // The server opens its window (scaled): now it fits.
        let update = seg(A, 9001, 1101, 2000, Some((71, 502)));
        t.check(Phase::Synchronized, &update, 0, 1, 0, STRICT)
            .unwrap();
        assert!(t
            .check(Phase::Synchronized, &beyond, 100, 0, 0, STRICT)
            .is_ok());
        // A RST far outside the window is ignored.
        let rst = seg(R, 1001 + 100_000, 0, 0, None);
        assert_eq!(
            t.check(Phase::Synchronized, &rst, 0, 0, 0, STRICT),
            Err(Refusal::RstOutOfWindow)
        );
    }

    #[test]
    fn passive_mode_allows_one_window_of_slack() {
        let passive = Limits::default();
        let mut t = established();
        // Edge 2001; the largest window the server advertised is 1000 (its SYN/ACK).
        let just_past = seg(A, 2001 + 500, 9001, 100, None);
        assert!(t
            .check(Phase::Synchronized, &just_past, 100, 0, 0, STRICT)
            .is_err());
        assert!(t
            .check(Phase::Synchronized, &just_past, 100, 0, 0, passive)
            .is_ok());
        let far = seg(A, 2001 + 1500, 9001, 100, None);
        assert_eq!(
            t.check(Phase::Synchronized, &far, 100, 0, 0, passive),
            Err(Refusal::OutOfWindow)
        );
    }

    #[test]
    fn paws_refuses_old_timestamps() {
        let mut t = established();
        let old = seg(A, 1001, 9001, 100, Some((400, 70)));
        assert_eq!(
            t.check(Phase::Synchronized, &old, 10, 0, 0, STRICT),
            Err(Refusal::InvalidTimestamp)
        );
        // Linux accepts one tick back.
        let one_back = seg(A, 1001, 9001, 100, Some((500, 70)));
        assert!(t
            .check(Phase::Synchronized, &one_back, 10, 0, 0, STRICT)
            .is_err());
        assert!(t
            .check(Phase::Synchronized, &one_back, 10, 0, 0, LINUX)
            .is_ok());
        // After 24 idle days the old timestamp is no longer trusted.
        assert!(t
            .check(Phase::Synchronized, &old, 10, 0, PAWS_IDLE_SECS + 1, STRICT)
            .is_ok());
    }

    #[test]
    fn sequence_wraparound() {
        let mut t = TcpTrack::default();
        let isn = u32::MAX - 10;
        t.check(Phase::Other, &seg(S, isn, 0, 1000, None), 0, 0, 0, STRICT)
            .unwrap();
        let synack = seg(S | A, 5, isn.wrapping_add(1), 1000, None);
        t.check(Phase::SynSent, &synack, 0, 1, 0, STRICT).unwrap();
        let data = seg(A, isn.wrapping_add(1), 6, 100, None);
        assert!(t
            .check(Phase::Synchronized, &data, 500, 0, 0, STRICT)
            .is_ok());
        let far = seg(A, isn.wrapping_add(1 + 3000), 6, 100, None);
        assert!(t
            .check(Phase::Synchronized, &far, 500, 0, 0, STRICT)
            .is_err());
    }
}
