//! SMB parser tests on messages built here: SMB1 and SMB2 file transfers (whole, segmented,
//! out of order, large), compounded requests, NTLMSSP, DCERPC over pipes, hostile input.

use super::*;
use crate::applayer::{AppConfig, AppStats};
use crate::testgen::smb::*;

struct Run {
    s: SmbState,
    cfg: AppConfig,
    stats: AppStats,
}

impl Run {
    fn new() -> Run {
        Run {
            s: SmbState::default(),
            cfg: AppConfig::default(),
            stats: AppStats::default(),
        }
    }

    fn feed(&mut self, to_server: bool, data: &[u8]) {
        let mut cx = ParseCtx {
            cfg: &self.cfg,
            stats: &mut self.stats,
        };
        self.s.feed(to_server, data, &mut cx);
    }

    /// Sends each record in pieces of `piece` bytes.
    fn send(&mut self, to_server: bool, msg: &[u8], piece: usize) {
        for c in nbss(msg).chunks(piece) {
            self.feed(to_server, c);
        }
    }

    fn file(&self, name: &[u8]) -> &File {
        self.s
            .txs
            .iter()
            .flat_map(|t| t.files.iter())
            .find(|f| f.name == name)
            .expect("the file")
    }

    fn buf(&self, b: Buf, to_server: bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for t in &self.s.txs {
            t.each(b, to_server, &mut |x| {
                out.push(x.to_vec());
                false
            });
        }
        out
    }
}

/// Connects to `\\srv\share` (tree 5) and opens `name` as file id 9.
fn open_file(r: &mut Run, name: &str, piece: usize) {
    r.send(true, &tree_connect(1, "\\\\srv\\share"), piece);
    r.send(false, &tree_connect_resp(1, 5, 1), piece);
    r.send(true, &create(2, 5, name), piece);
    r.send(false, &create_resp(2, 5, 9), piece);
}

#[test]
fn smb2_write_becomes_a_file_whatever_the_segmentation() {
    for piece in [1, 3, 7, 64, 4096] {
        let mut r = Run::new();
        open_file(&mut r, "dir\\eicar.com", piece);
        r.send(true, &write(3, 5, 9, 0, b"X5O!P%@AP"), piece);
        r.send(true, &write(4, 5, 9, 9, b"[4\\PZX54"), piece);
        r.send(true, &close(5, 5, 9), piece);
        let f = r.file(b"dir\\eicar.com");
        assert_eq!(f.data(), b"X5O!P%@AP[4\\PZX54", "piece {piece}");
        assert!(f.done() && f.to_server);
        assert_eq!(r.buf(Buf::SmbShare, true), vec![b"\\srv\\share".to_vec()]);
        assert_eq!(r.buf(Buf::SmbVersion, true)[0], [2]);
    }
}

#[test]
fn out_of_order_writes_are_put_back_in_order() {
    let mut r = Run::new();
    open_file(&mut r, "a.bin", 4096);
    r.send(true, &write(4, 5, 9, 4, b"EFGH"), 4096);
    r.send(true, &write(5, 5, 9, 8, b"IJ"), 4096);
    r.send(true, &write(3, 5, 9, 0, b"ABCD"), 4096);
    // A retransmitted chunk overlapping what was seen is skipped, and flagged.
    r.send(true, &write(6, 5, 9, 6, b"GHIJKL"), 4096);
    r.send(true, &close(7, 5, 9), 4096);
    let f = r.file(b"a.bin");
    assert_eq!(f.data(), b"ABCDEFGHIJKL");
    assert!(!f.gaps);
    assert!(r.s.txs.iter().any(|t| t.events & event::FILE_OVERLAP != 0));
    assert_eq!(r.s.pending_bytes, 0);
}

#[test]
fn reads_match_their_requests_and_large_records_stream() {
    let mut r = Run::new();
    open_file(&mut r, "big.iso", 4096);
    // A read larger than the record buffer streams through.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    r.send(true, &read(3, 5, 9, 0, big.len() as u32), 4096);
    r.send(false, &read_resp(3, &big), 1460);
    r.send(true, &close(4, 5, 9), 4096);
    let f = r.file(b"big.iso");
    assert!(!f.to_server);
    assert_eq!(f.size, big.len() as u64);
    assert_eq!(&f.data()[..1000], &big[..1000]);
    // Nothing of the record was kept past its prefix.
    assert!(r.s.heap() < 400_000, "heap {}", r.s.heap());
    assert_eq!(r.s.framers[1].buf.len(), 0);
}

#[test]
fn compounded_requests_are_each_parsed() {
    let mut r = Run::new();
    r.send(true, &tree_connect(1, "\\\\srv\\share"), 4096);
    r.send(false, &tree_connect_resp(1, 5, 1), 4096);
    // CREATE and CLOSE of another handle in one record (8-byte aligned chain).
    let mut first = create(2, 5, "one.txt");
    while first.len() % 8 != 0 {
        first.push(0);
    }
    let next = first.len() as u32;
    first[20..24].copy_from_slice(&next.to_le_bytes());
    let mut chain = first;
    chain.extend_from_slice(&create(3, 5, "two.txt"));
    r.send(true, &chain, 4096);
    let names: Vec<Vec<u8>> =
        r.s.txs
            .iter()
            .filter_map(|t| match &t.detail {
                Detail::Create { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
    assert_eq!(names, vec![b"one.txt".to_vec(), b"two.txt".to_vec()]);
}

#[test]
fn ntlmssp_user_and_domain() {
    let mut r = Run::new();
    let mut blob = b"\xa1\x81\x80\x30\x7e".to_vec();
    blob.extend_from_slice(&auth_message("administrator", "CORP", "WS7"));
    r.send(true, &session_setup(1, &blob), 13);
    assert_eq!(
        r.buf(Buf::SmbNtlmsspUser, true),
        vec![b"administrator".to_vec()]
    );
    assert_eq!(r.buf(Buf::SmbNtlmsspDomain, true), vec![b"CORP".to_vec()]);
    let mut eve = Vec::new();
    r.s.txs[0].write_eve(&mut eve);
    let json = format!("{{{}}}", String::from_utf8_lossy(&eve[1..]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["smb"]["ntlmssp"]["host"], "WS7");
    assert_eq!(v["smb"]["command"], "SMB2_COMMAND_SESSION_SETUP");
}

#[test]
fn dcerpc_over_a_pipe_write_and_read() {
    let mut r = Run::new();
    r.send(true, &tree_connect(1, "\\\\dc\\IPC$"), 4096);
    r.send(false, &tree_connect_resp(1, 7, 2), 4096);
    r.send(true, &create(2, 7, "netlogon"), 4096);
    r.send(false, &create_resp(2, 7, 3), 4096);
    r.send(true, &write(3, 7, 3, 0, &bind(1, 0, &NETLOGON, 1)), 4096);
    r.send(true, &read(4, 7, 3, 0, 1024), 4096);
    r.send(false, &read_resp(4, &bind_ack(1, 0)), 4096);
    r.send(
        true,
        &write(5, 7, 3, 0, &request(2, 3, 0, 26, b"\x5c\x00\x5c\x00STUB")),
        4096,
    );
    assert_eq!(r.buf(Buf::SmbNamedPipe, true), vec![b"\\dc\\IPC$".to_vec()]);
    assert!(r.buf(Buf::SmbShare, true).is_empty());
    assert_eq!(
        r.buf(Buf::DceOpnum, true),
        vec![26u16.to_le_bytes().to_vec()]
    );
    let iface = r.buf(Buf::DceIface, true);
    assert_eq!(&iface[0][..16], &NETLOGON);
    assert_eq!(
        r.buf(Buf::DceStubData, true),
        vec![b"\x5c\x00\x5c\x00STUB".to_vec()]
    );
    // Pipe data is not a file.
    assert!(r.s.txs.iter().all(|t| t.files.is_empty()));
}

#[test]
fn smb1_negotiate_answered_in_smb2_and_encrypted_messages_counted() {
    let mut r = Run::new();
    let mut m = vec![0xff, b'S', b'M', b'B', 0x72];
    m.extend_from_slice(&[0; 27]);
    m.push(0);
    let dialects = b"\x02NT LM 0.12\0\x02SMB 2.002\0\x02SMB 2.???\0";
    m.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
    m.extend_from_slice(dialects);
    r.send(true, &m, 4096);
    let mut resp = h2(0, 0, true, 0, 0, 0);
    let mut body = vec![0u8; 64];
    body[0..2].copy_from_slice(&65u16.to_le_bytes());
    body[4..6].copy_from_slice(&0x02ffu16.to_le_bytes());
    resp.extend_from_slice(&body);
    r.send(false, &resp, 4096);
    let tx = &r.s.txs[0];
    assert!(tx.complete_());
    assert_eq!(tx.version, 2);
    match &tx.detail {
        Detail::Negotiate { client, chosen, .. } => {
            assert_eq!(client.len(), 3);
            assert_eq!(chosen.as_deref(), Some(&b"2.??"[..]));
        }
        d => panic!("{d:?}"),
    }
    let mut enc = vec![0xfd, b'S', b'M', b'B'];
    enc.extend_from_slice(&[0xaa; 60]);
    r.send(true, &enc, 4096);
    r.send(true, &enc, 4096);
    assert_eq!(r.s.encrypted_msgs, 2);
    // One direction encrypted is not yet an encrypted session; both are.
    assert_eq!(Parser::encrypted(&r.s), None);
    r.send(false, &enc, 4096);
    let at = Parser::encrypted(&r.s).expect("both directions encrypted");
    assert!(at[0] > 0 && at[1] > 0);
}

#[test]
fn hostile_input_is_bounded_and_never_panics() {
    // Every cut of a real exchange, and garbage.
    let mut script = Vec::new();
    script.extend(nbss(&tree_connect(1, "\\\\srv\\share")));
    script.extend(nbss(&create(2, 5, "x")));
    script.extend(nbss(&write(3, 5, 9, 0, b"data")));
    for cut in 0..script.len() {
        let mut r = Run::new();
        r.feed(true, &script[..cut]);
        r.feed(true, &[0xff; 16]);
    }
    // A flood of requests never answered stays within the transaction limit.
    let mut r = Run::new();
    for i in 0..1000 {
        r.send(true, &create(i, 5, "f"), 4096);
    }
    assert!(r.s.txs.len() <= r.cfg.max_txs);
    assert!(r.stats.tx_limit_hits > 0);
    // Out-of-order chunks past the queue's limit become a gap, not memory.
    let mut r = Run::new();
    open_file(&mut r, "g", 4096);
    let chunk = vec![0x41u8; 60_000];
    for i in 1..40u64 {
        r.send(true, &write(10 + i, 5, 9, i * 100_000, &chunk), 4096);
    }
    assert!(r.s.pending_bytes <= MAX_PENDING);
    assert!(r.file(b"g").gaps);
    assert!(r.stats.data_cut > 0);
    // A lying NetBIOS type loses the framing, counted; parsing picks up at the next record.
    let mut r = Run::new();
    r.feed(true, b"\x42\x00\x00\x10AAAAAAAAAAAAAAAA");
    assert!(r.s.framers[0].resync);
    assert_eq!(r.stats.parse_errors, 1);
    let mut junk_then_record = b"AAAA".to_vec();
    junk_then_record.extend(nbss(&tree_connect(1, "\\\\srv\\after")));
    r.feed(true, &junk_then_record);
    assert!(!r.s.framers[0].resync);
    assert_eq!(r.buf(Buf::SmbShare, true), vec![b"\\srv\\after".to_vec()]);
}

#[test]
fn a_stream_gap_resyncs_on_the_next_record() {
    let mut r = Run::new();
    let first = nbss(&tree_connect(1, "\\\\srv\\one"));
    // Half a record, then a gap: its rest never comes.
    r.feed(true, &first[..30]);
    Parser::gap(&mut r.s, true, 40);
    let mut after = first[30..].to_vec();
    after.extend(nbss(&tree_connect(2, "\\\\srv\\two")));
    r.feed(true, &after);
    assert_eq!(r.buf(Buf::SmbShare, true), vec![b"\\srv\\two".to_vec()]);
}

#[test]
fn smb1_files_reads_out_of_order_and_andx_chains() {
    use crate::testgen::smb::smb1;
    for piece in [1, 5, 4096] {
        let mut r = Run::new();
        let mut blob = b"\xa1\x81\x80\x30\x7e".to_vec();
        blob.extend_from_slice(&auth_message("bob", "LAB", "PC1"));
        // Session setup and tree connect chained in one message.
        r.send(
            true,
            &smb1::session_setup_then_tree(1, &blob, "\\\\fs\\data"),
            piece,
        );
        assert_eq!(r.buf(Buf::SmbNtlmsspUser, true), vec![b"bob".to_vec()]);
        assert_eq!(r.buf(Buf::SmbShare, true), vec![b"\\fs\\data".to_vec()]);
        r.send(false, &smb1::tree_connect_resp(1, 3, "A:"), piece);
        r.send(true, &smb1::nt_create(2, 3, "\\docs\\plan.txt"), piece);
        r.send(false, &smb1::nt_create_resp(2, 3, 0x4001, 12), piece);
        // Two reads; their responses come back in the opposite order.
        r.send(true, &smb1::read(3, 3, 0x4001, 0, 6), piece);
        r.send(true, &smb1::read(4, 3, 0x4001, 6, 6), piece);
        r.send(false, &smb1::read_resp(4, 3, b"world!"), piece);
        r.send(false, &smb1::read_resp(3, 3, b"hello "), piece);
        r.send(true, &smb1::close(5, 3, 0x4001), piece);
        let f = r.file(b"\\docs\\plan.txt");
        assert_eq!(f.data(), b"hello world!", "piece {piece}");
        assert!(!f.to_server && f.done() && !f.gaps);
        assert_eq!(r.buf(Buf::SmbVersion, true)[0], [1]);
        // An upload on the same tree.
        r.send(true, &smb1::nt_create(6, 3, "\\up.bin"), piece);
        r.send(false, &smb1::nt_create_resp(6, 3, 0x4002, 0), piece);
        r.send(true, &smb1::write(7, 3, 0x4002, 0, b"MZ upload"), piece);
        r.send(true, &smb1::close(8, 3, 0x4002), piece);
        assert_eq!(r.file(b"\\up.bin").data(), b"MZ upload");
        assert!(r.s.txs.iter().all(|t| t.events == 0), "piece {piece}");
    }
}

#[test]
fn kerberos_session_setup_names_the_ticket() {
    let mut r = Run::new();
    let blob = crate::testgen::krb5::spnego_ap_req("CORP.EXAMPLE", &["cifs", "fs01.corp.example"]);
    r.send(true, &session_setup(1, &blob), 7);
    let mut eve = Vec::new();
    r.s.txs[0].write_eve(&mut eve);
    let json = format!("{{{}}}", String::from_utf8_lossy(&eve[1..]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["smb"]["kerberos"]["realm"], "CORP.EXAMPLE");
    assert_eq!(v["smb"]["kerberos"]["snames"][1], "fs01.corp.example");
    assert!(v["smb"]["ntlmssp"].is_null());
}

#[test]
fn a_pipe_left_open_does_not_hold_later_transactions() {
    let mut r = Run::new();
    r.send(true, &tree_connect(1, "\\\\dc\\IPC$"), 4096);
    r.send(false, &tree_connect_resp(1, 7, 2), 4096);
    r.send(true, &create(2, 7, "lsarpc"), 4096);
    r.send(false, &create_resp(2, 7, 3), 4096);
    // The pipe stays open; 200 finished, logged transactions come and go behind it.
    for i in 0..200u64 {
        r.send(true, &tree_connect(10 + i, "\\\\dc\\share"), 4096);
        r.send(false, &tree_connect_resp(10 + i, 8, 1), 4096);
        for slot in 0..r.s.tx_count() {
            // As the worker does: inspected both ways, then logged.
            let d = r.s.tx_detect(slot).unwrap();
            d.updated = [false; 2];
            d.logged = true;
        }
        r.s.gc();
    }
    assert!(r.s.txs.len() <= 3, "{}", r.s.txs.len());
    assert_eq!(r.stats.tx_limit_hits, 0);
    // The open pipe's transaction is still there for its calls.
    assert!(r
        .s
        .txs
        .iter()
        .any(|t| matches!(&t.detail, Detail::Create { name, .. } if name == b"lsarpc")));
}

#[test]
fn pipe_create_logs_as_suricata_does() {
    let mut r = Run::new();
    r.send(true, &tree_connect(1, "\\\\dc\\IPC$"), 4096);
    r.send(false, &tree_connect_resp(1, 7, 2), 4096);
    r.send(true, &create(2, 7, "atsvc"), 4096);
    // FileId: persistent 0x4d, volatile 0xffffffff00000005.
    let mut resp = create_resp(2, 7, 0x4d);
    resp[64 + 72..64 + 80].copy_from_slice(&0xffff_ffff_0000_0005u64.to_le_bytes());
    r.send(false, &resp, 4096);
    let tx =
        r.s.txs
            .iter()
            .find(|t| matches!(t.detail, Detail::Create { .. }))
            .unwrap();
    let mut eve = Vec::new();
    tx.write_eve(&mut eve);
    let json = format!("{{{}}}", String::from_utf8_lossy(&eve[1..]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["smb"]["filename"], "atsvc");
    assert_eq!(v["smb"]["access"], "normal");
    assert_eq!(v["smb"]["fuid"], "0000004d-0000-0000-0005-0000ffffffff");
    assert_eq!(v["smb"]["id"], 2);
    assert_eq!(v["smb"]["dialect"], "unknown");
}

#[test]
fn many_tiny_out_of_order_chunks_are_bounded_in_number() {
    let mut r = Run::new();
    open_file(&mut r, "t", 4096);
    // 1-byte chunks, all ahead of the file's end: at most MAX_PENDING_CHUNKS wait.
    for i in 1..1000u64 {
        r.send(true, &write(10 + i, 5, 9, i * 2, b"x"), 4096);
    }
    assert!(r.s.pending.len() <= MAX_PENDING_CHUNKS);
    assert!(r.stats.data_cut > 0);
}
