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
    let mut stats = AppStats::default();
    let mut cx = ParseCtx {
        cfg,
        stats: &mut stats,
    };
    let mut parser = (proto.new_parser)(true);
    let script = &data[2..];
    let mut announced: Vec<Expectation> = Vec::new();
    for (i, chunk) in script
        .split(|&b| b == 0xff)
        .flat_map(|p| p.chunks(piece))
        .enumerate()
    {
        let to_server = dirs >> (i % 8) & 1 == 1;
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
const ALL_BUFS: [Buf; 16] = [
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
}
