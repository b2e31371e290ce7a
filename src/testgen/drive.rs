//! Drives one app-layer parser through an arbitrary byte string (fuzzing and hostile-input
//! tests): the input is a session script of pieces, each sent in a direction and size the
//! script's bytes pick, then both directions close. Every buffer of every transaction is
//! read, every EVE object and file written, hand-overs and announced connections taken, as
//! the worker would. Returns the parser's heap bytes at the end, for bounds checks.

use crate::applayer::{AppConfig, AppStats, Buf, Expectation, ParseCtx, Protocol};

/// Runs `data` through a fresh TCP parser of `proto`. The first byte picks the piece size
/// (1-64 bytes), the second the direction pattern (bit i of it: piece i % 8 goes to the
/// client); a byte `0xff` ends a piece early, so inputs can place line and record ends.
pub fn exercise(proto: &Protocol, data: &[u8], cfg: &AppConfig) -> usize {
    let (Some(&size), Some(&dirs)) = (data.first(), data.get(1)) else {
        return 0;
    };
    let piece = usize::from(size % 64) + 1;
    let pieces = data[2..]
        .split(|&b| b == 0xff)
        .flat_map(|p| p.chunks(piece))
        .enumerate()
        .map(|(i, chunk)| (dirs >> (i % 8) & 1 == 1, chunk));
    run_script(proto, true, pieces, cfg)
}

/// Runs `data` through a fresh TCP parser of `proto`, for binary protocols whose messages
/// use every byte value (SMB, DCERPC): the input is a sequence of pieces, each a header byte
/// (bit 7: sent by the client; bits 0-6: length - 1) and that many bytes.
pub fn exercise_framed(proto: &Protocol, data: &[u8], cfg: &AppConfig) -> usize {
    run_script(proto, true, framed_pieces(data), cfg)
}

/// Runs `data` through a fresh UDP parser of `proto`: the same framing as
/// [`exercise_framed`], each piece one datagram.
pub fn exercise_datagrams(proto: &Protocol, data: &[u8], cfg: &AppConfig) -> usize {
    run_script(proto, false, framed_pieces(data), cfg)
}

/// Splits a framed script into its pieces: (sent by the client, bytes).
fn framed_pieces(data: &[u8]) -> impl Iterator<Item = (bool, &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (&h, tail) = rest.split_first()?;
        let n = (usize::from(h & 0x7f) + 1).min(tail.len());
        let (chunk, more) = tail.split_at(n);
        rest = more;
        Some((h & 0x80 != 0, chunk))
    })
}

/// Encodes a session for [`exercise_framed`]: each (to_server, bytes) in pieces of at most
/// 128 bytes.
pub fn frame_script(session: &[(bool, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(to_server, data) in session {
        for c in data.chunks(128) {
            out.push(u8::from(to_server) << 7 | (c.len() - 1) as u8);
            out.extend_from_slice(c);
        }
    }
    out
}

/// Feeds the pieces as the worker would, reading everything after each; returns the
/// parser's heap bytes at the end.
fn run_script<'a>(
    proto: &Protocol,
    tcp: bool,
    pieces: impl Iterator<Item = (bool, &'a [u8])>,
    cfg: &AppConfig,
) -> usize {
    let mut stats = AppStats::default();
    let mut cx = ParseCtx {
        cfg,
        stats: &mut stats,
    };
    let mut parser = (proto.new_parser)(tcp);
    let mut announced: Vec<Expectation> = Vec::new();
    for (to_server, chunk) in pieces {
        parser.feed(to_server, chunk, &mut cx);
        if let Some((_, tails)) = parser.upgrade() {
            assert!(
                tails.iter().all(|t| t.len() <= 1 << 20),
                "unbounded hand-over"
            );
        }
        parser.take_expectations(&mut announced);
        let _ = parser.encrypted();
        read_all(&*parser);
        parser.gc();
    }
    parser.close(true, &mut cx);
    parser.close(false, &mut cx);
    read_all(&*parser);
    parser.heap()
}

/// Reads every buffer of every transaction in both directions and writes its EVE objects.
fn read_all(parser: &dyn crate::applayer::Parser) {
    let mut eve = Vec::new();
    for slot in 0..parser.tx_count() {
        let Some((tx, _)) = parser.tx(slot) else {
            continue;
        };
        for b in ALL_BUFS {
            for to_server in [true, false] {
                tx.each(b, to_server, &mut |x| x.is_empty());
                let _ = tx.settled(b, to_server);
            }
        }
        let _ = (tx.events(), tx.complete(), tx.worth_logging(), tx.id());
        tx.write_eve(&mut eve);
        for f in tx.files() {
            f.write_eve(&mut eve);
        }
        eve.clear();
    }
}

/// The buffers of the parsers this module drives.
const ALL_BUFS: [Buf; 54] = [
    Buf::FileData,
    Buf::FileName,
    Buf::FileMagic,
    Buf::FtpDataCommand,
    Buf::FtpPortAddr,
    Buf::SmtpHelo,
    Buf::SmtpMailFrom,
    Buf::SmtpRcptTo,
    Buf::FtpCommand,
    Buf::FtpCommandData,
    Buf::SshProto,
    Buf::SshSoftware,
    Buf::SshHassh,
    Buf::SshHasshString,
    Buf::SshHasshServer,
    Buf::SshHasshServerString,
    Buf::SmbShare,
    Buf::SmbNamedPipe,
    Buf::SmbNtlmsspUser,
    Buf::SmbNtlmsspDomain,
    Buf::SmbVersion,
    Buf::DceStubData,
    Buf::DceIface,
    Buf::DceOpnum,
    Buf::Krb5Cname,
    Buf::Krb5Sname,
    Buf::Krb5MsgType,
    Buf::Krb5ErrCode,
    Buf::Krb5TicketEtype,
    Buf::MqttClientId,
    Buf::MqttUsername,
    Buf::MqttPassword,
    Buf::MqttWillTopic,
    Buf::MqttWillMessage,
    Buf::MqttProtocolString,
    Buf::MqttPublishTopic,
    Buf::MqttPublishMessage,
    Buf::MqttSubscribeTopic,
    Buf::MqttUnsubscribeTopic,
    Buf::MqttType,
    Buf::MqttFlags,
    Buf::MqttQos,
    Buf::MqttVersion,
    Buf::MqttReasonCode,
    Buf::MqttSessionPresent,
    Buf::MqttConnectFlags,
    Buf::IkeInitSpi,
    Buf::IkeRespSpi,
    Buf::IkeVendor,
    Buf::IkeKePayload,
    Buf::IkeNoncePayload,
    Buf::IkeExchType,
    Buf::IkeKeLen,
    Buf::IkeNonceLen,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_drive_every_new_parser() {
        let cfg = AppConfig::default();
        let smtp = b"\x05\x55EHLO a\r\n\xff220 x\r\n\xffMAIL FROM:<a@b>\r\nDATA\r\n\xff354 go\r\n\xffSubject: x\r\n\r\nbody\r\n.\r\n";
        for p in [
            &crate::applayer::smtp::PROTOCOL,
            &crate::applayer::ftp::PROTOCOL,
            &crate::applayer::ftp::DATA_PROTOCOL,
            &crate::applayer::ssh::PROTOCOL,
        ] {
            let heap = exercise(p, smtp, &cfg);
            assert!(heap < 1 << 20, "{}: {heap}", p.name());
        }
    }

    /// A small deterministic generator (xorshift64*), so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }

        /// Up to `max - 1` random bytes.
        fn some(&mut self, max: u64) -> Vec<u8> {
            let n = (self.next() % max) as usize;
            self.bytes(n)
        }
    }

    #[test]
    fn random_and_mutated_input_never_panics_the_binary_parsers() {
        // Random pieces, and valid-looking starts with random lengths and bodies: the
        // header checks pass and the length fields lie.
        let cfg = AppConfig::default();
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let ike_hdr = |rng: &mut Rng| {
            let mut m = rng.bytes(28);
            m[17] = if rng.next() % 2 == 0 { 0x20 } else { 0x10 };
            m[16] = [33, 34, 40, 41, 43, 46, 1, 4, 10, 13][(rng.next() % 10) as usize];
            let extra = rng.some(300);
            let len = if rng.next() % 3 == 0 {
                (28 + extra.len()) as u32
            } else {
                rng.next() as u32
            };
            m[24..28].copy_from_slice(&len.to_be_bytes());
            m.extend_from_slice(&extra);
            m
        };
        for round in 0..3000 {
            let noise = rng.some(600);
            let mut h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
            for _ in 0..(rng.next() % 6) {
                let len = (rng.next() % 200) as usize;
                let t = (rng.next() % 11) as u8;
                let flags = rng.next() as u8;
                let stream = (rng.next() % 4) as u8;
                h2.extend_from_slice(&[0, 0, len as u8, t, flags, 0, 0, 0, stream]);
                let body = rng.bytes(len);
                h2.extend_from_slice(&body);
            }
            let mqtt = {
                let mut v = vec![(rng.next() as u8) | 0x10, (rng.next() % 128) as u8];
                let body = rng.some(140);
                v.extend_from_slice(&body);
                v
            };
            let script = frame_script(&[(true, &h2), (false, &noise), (true, &mqtt)]);
            for p in [
                &crate::applayer::http2::PROTOCOL,
                &crate::applayer::mqtt::PROTOCOL,
            ] {
                let heap = exercise_framed(p, &script, &cfg);
                assert!(heap < 4 << 20, "{} round {round}: {heap}", p.name());
            }
            let ike = ike_hdr(&mut rng);
            let mut natt = vec![0, 0, 0, 0];
            natt.extend_from_slice(&ike_hdr(&mut rng));
            let dgrams = frame_script(&[(true, &ike), (false, &natt), (true, &noise)]);
            assert!(exercise_datagrams(&crate::applayer::ike::PROTOCOL, &dgrams, &cfg) < 1 << 20);
        }
    }

    #[test]
    fn framed_scripts_carry_every_byte_value() {
        use crate::testgen::smb::*;
        let cfg = AppConfig::default();
        let mut smb1_negotiate = vec![0xff, b'S', b'M', b'B', 0x72];
        smb1_negotiate.extend_from_slice(&[0; 28]);
        smb1_negotiate.extend_from_slice(&[12, 0, 2]);
        smb1_negotiate.extend_from_slice(b"NT LM 0.12\0");
        let script = frame_script(&[
            (true, &nbss(&smb1_negotiate)),
            (true, &nbss(&tree_connect(1, "\\\\s\\share"))),
            (false, &nbss(&tree_connect_resp(1, 5, 1))),
        ]);
        for p in [
            &crate::applayer::smb::PROTOCOL,
            &crate::applayer::dcerpc::PROTOCOL,
            &crate::applayer::mqtt::PROTOCOL,
        ] {
            let heap = exercise_framed(p, &script, &cfg);
            assert!(heap < 1 << 20, "{}: {heap}", p.name());
        }
        // MQTT: a CONNECT, its CONNACK, and a publish split over three pieces.
        let mqtt = frame_script(&[
            (true, b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02P1"),
            (false, b"\x20\x02\x00\x00"),
            (true, b"\x30\x08\x00\x01t"),
            (true, b"pay"),
            (true, b"ld"),
        ]);
        assert!(exercise_framed(&crate::applayer::mqtt::PROTOCOL, &mqtt, &cfg) > 0);
        assert!(exercise_datagrams(&crate::applayer::ike::PROTOCOL, &script, &cfg) < 1 << 20);
        // The SMB1 header's 0xff survives the framing: the negotiation is a transaction.
        let mut stats = AppStats::default();
        let mut cx = ParseCtx {
            cfg: &cfg,
            stats: &mut stats,
        };
        let mut smb = (crate::applayer::smb::PROTOCOL.new_parser)(true);
        smb.feed(true, &nbss(&smb1_negotiate), &mut cx);
        assert_eq!(smb.tx_count(), 1);
        assert_eq!(
            exercise_framed(&crate::applayer::smb::PROTOCOL, &[], &cfg),
            0
        );
    }
}
