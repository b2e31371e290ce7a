//! SMTP, FTP and SSH end to end: crafted sessions replayed through the sensor, checking the
//! rule buffers, files and events each protocol gives, the FTP data link, the STARTTLS
//! hand-over, SSH going quiet once encrypted, and hostile input staying bounded.

mod common;

use common::*;
use sekimori::testgen::synth::{tls_client_hello, Frame, TcpSession};
use std::net::Ipv4Addr;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn session(port: u16, f: impl FnOnce(&mut TcpSession)) -> Vec<Frame> {
    let mut s = TcpSession::open((CLIENT, 40_000), (SERVER, port), 1_000_000);
    f(&mut s);
    s.close()
}

/// Replays with every protocol's events and `fileinfo` on; returns stderr and all events.
fn replay_all(rules: &str, frames: &[Frame]) -> (String, Vec<serde_json::Value>) {
    replay_with_outputs(
        rules,
        frames,
        &[
            "smtp", "ftp", "ftp_data", "ssh", "tls", "fileinfo", "anomaly",
        ],
    )
}

const MAIL: &str = "From: \"Eve\" <eve@evil.example>\r\nTo: <bob@corp.example>, alice@corp.example\r\n\
Subject: invoice\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
Content-Type: text/plain\r\n\r\nplease see attached\r\n--b1\r\n\
Content-Type: application/octet-stream; name=\"invoice.exe\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n\
AAAAAAAAAAAAAAAAAAAAAGV2aWwgcGF5bG9hZA==\r\n--b1--\r\n.\r\n";

#[test]
fn smtp_session_buffers_mime_attachment_and_fileinfo() {
    let rules = r#"alert smtp any any -> any any (msg:"helo"; smtp.helo; content:"mx.evil"; sid:1;)
alert smtp any any -> any any (msg:"from"; smtp.mail_from; content:"<eve@evil.example>"; sid:2;)
alert smtp any any -> any any (msg:"rcpt"; smtp.rcpt_to; content:"alice@"; sid:3;)
alert smtp any any -> any any (msg:"attachment payload"; file.data; content:"evil payload"; sid:4;)
alert smtp any any -> any any (msg:"exe attachment"; fileext:"EXE"; filemagic:"MS-DOS"; sid:5;)
alert smtp any any -> any any (msg:"name"; filename:"invoice.exe"; sid:6;)
alert smtp any any -> any any (msg:"body text is not a file"; file.data; content:"please see"; sid:7;)
alert tcp any any -> any 25 (msg:"stream content"; flow:to_server; content:"RCPT TO"; sid:8;)
"#;
    let f = session(25, |s| {
        s.send(false, b"220 mx.corp.example ESMTP\r\n")
            .send(true, b"EHLO mx.evil\r\n")
            .send(false, b"250-mx.corp.example\r\n250 PIPELINING\r\n")
            // Pipelined: the envelope and DATA in one segment.
            .send(true, b"MAIL FROM: <eve@evil.example>\r\nRCPT TO: <bob@corp.example>\r\nRCPT TO: <alice@corp.example>\r\nDATA\r\n")
            .send(false, b"250 ok\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n");
        // The message split at awkward places.
        let (a, b) = MAIL.as_bytes().split_at(190);
        s.send(true, a).send(true, b).send(false, b"250 queued\r\n");
        s.send(true, b"QUIT\r\n").send(false, b"221 bye\r\n");
    });
    let (_, events) = replay_all(rules, &f);
    assert_eq!(alert_sids(&events), vec![1, 2, 3, 4, 5, 6, 8]);
    let a = of_type(&events, "alert")
        .into_iter()
        .find(|e| e["alert"]["signature_id"] == 4)
        .unwrap();
    assert_eq!(a["app_proto"], "smtp");
    assert_eq!(a["smtp"]["rcpt_to"][1], "<alice@corp.example>");
    assert_eq!(a["email"]["attachment"][0], "invoice.exe");
    assert_eq!(a["files"][0]["state"], "CLOSED");
    let smtp = of_type(&events, "smtp");
    assert_eq!(smtp.len(), 1);
    assert_eq!(smtp[0]["email"]["status"], "PARSE_DONE");
    assert_eq!(smtp[0]["email"]["to"][1], "alice@corp.example");
    let info = of_type(&events, "fileinfo");
    assert_eq!(info.len(), 1);
    let fi = &info[0]["fileinfo"];
    assert_eq!(fi["filename"], "invoice.exe");
    // The decoded attachment (85 bytes: an MZ header and text).
    assert_eq!(fi["size"], 85);
    assert_eq!(
        fi["sha256"],
        "f51d663a59d2df3280c82c163638296fce51180734fdfb3ddcdbdf2bd57ceda9"
    );
    assert_eq!(fi["magic"], "MS-DOS executable");
    assert_eq!(info[0]["src_ip"], "10.0.0.1");
}

#[test]
fn smtp_bdat_chunks_and_rset() {
    let rules = r#"alert smtp any any -> any any (msg:"bdat file"; file.data; content:"chunked secret"; sid:1;)
alert smtp any any -> any any (msg:"chunk len"; app-layer-event:smtp.bdat_chunk_len_exceeded; sid:2;)
"#;
    let msg = "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Disposition: attachment; filename=s.txt\r\n\r\nchunked secret\r\n--x--\r\n";
    let (a, b) = msg.as_bytes().split_at(60);
    let f = session(25, |s| {
        s.send(true, b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")
            .send(false, b"250 ok\r\n250 ok\r\n250 ok\r\n");
        let first = format!("BDAT {}\r\n", a.len());
        s.send(true, first.as_bytes()).send(true, a);
        let last = format!("BDAT {} LAST\r\n", b.len());
        s.send(true, last.as_bytes()).send(true, b);
        s.send(false, b"250 ok\r\n250 ok\r\n")
            .send(true, b"RSET\r\n")
            .send(false, b"250 ok\r\n");
    });
    let (_, events) = replay_all(rules, &f);
    assert_eq!(alert_sids(&events), vec![1]);
}

#[test]
fn smtp_starttls_hands_over_to_tls() {
    let rules = r#"alert tls any any -> any any (msg:"sni after starttls"; tls.sni; content:"mail.example"; sid:1;)
alert tls any any -> any any (msg:"started as smtp"; app-layer-protocol:smtp,original; tls.sni; content:"mail"; sid:2;)
alert tls any any -> any any (msg:"is smtp now"; app-layer-protocol:smtp; tls.sni; content:"mail"; sid:3;)
"#;
    let f = session(587, |s| {
        s.send(false, b"220 mail.example ESMTP\r\n")
            .send(true, b"EHLO c\r\n")
            .send(false, b"250-mail.example\r\n250 STARTTLS\r\n")
            .send(true, b"STARTTLS\r\n")
            .send(false, b"220 ready\r\n")
            .send(true, &tls_client_hello("mail.example"));
    });
    let (stderr, events) = replay_all(rules, &f);
    assert_eq!(alert_sids(&events), vec![1, 2], "{stderr}");
    assert!(stderr.contains("smtp 1"), "{stderr}");
}

#[test]
fn smtp_hostile_input_stays_bounded() {
    let rules = r#"alert smtp any any -> any any (msg:"long line"; app-layer-event:smtp.max_command_line_len_exceeded; sid:1;)
alert smtp any any -> any any (msg:"mime limits"; app-layer-event:smtp.mime_parse_failed; sid:2;)
alert smtp any any -> any any (msg:"deep file"; filename:"deep.txt"; sid:3;)
"#;
    // An over-long command, then a message nesting multiparts 200 deep and a flood of parts.
    let mut body = String::new();
    for d in 0..200 {
        body.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"n{d}\"\r\n\r\n--n{d}\r\n"
        ));
    }
    body.push_str("Content-Type: text/plain; name=deep.txt\r\n\r\nx\r\n");
    let mut flood = String::from("Content-Type: multipart/mixed; boundary=f\r\n\r\n");
    for _ in 0..3000 {
        flood.push_str("--f\r\nContent-Type: text/plain\r\n\r\ny\r\n");
    }
    flood.push_str("--f--\r\n.\r\n");
    let long = vec![b'A'; 20_000];
    let f = session(25, |s| {
        s.send(true, b"EHLO c\r\n");
        s.send(true, &long);
        s.send(true, b"\r\nMAIL FROM:<a@b>\r\nDATA\r\n");
        for chunk in body.as_bytes().chunks(1400) {
            s.send(true, chunk);
        }
        s.send(true, b"\r\n.\r\nMAIL FROM:<c@d>\r\nDATA\r\n");
        for chunk in flood.as_bytes().chunks(1400) {
            s.send(true, chunk);
        }
    });
    let (_, events) = replay_all(rules, &f);
    let sids = alert_sids(&events);
    assert!(sids.contains(&1) && sids.contains(&2), "{sids:?}");
    assert!(
        !sids.contains(&3),
        "a part below the depth limit was parsed"
    );
}

/// An FTP control session (passive mode) and its data connection, interleaved in time.
fn ftp_passive(file: &[u8]) -> Vec<Frame> {
    let mut ctl = TcpSession::open((CLIENT, 40_000), (SERVER, 21), 1_000_000);
    ctl.send(false, b"220-Welcome\r\n220 FTP ready\r\n")
        .send(true, b"USER anonymous\r\n")
        .send(false, b"331 Password required\r\n")
        .send(true, b"PASS x\r\n")
        .send(false, b"230 Logged in\r\n")
        .send(true, b"PASV\r\n")
        .send(false, b"227 Entering Passive Mode (10,0,0,2,195,80).\r\n")
        .send(true, b"RETR payload.bin\r\n")
        .send(false, b"150 Opening BINARY mode data connection\r\n");
    let mut data = TcpSession::open((CLIENT, 40_001), (SERVER, 50_000), ctl.now());
    for chunk in file.chunks(1000) {
        data.send(false, chunk);
    }
    ftp_finish(ctl, data, b"226 Transfer complete\r\n")
}

#[test]
fn ftp_commands_and_the_data_connection_become_a_file() {
    let rules = r#"alert ftp any any -> any any (msg:"ftp user"; ftp.command; content:"USER"; ftp.command_data; content:"anonymous"; sid:1;)
alert ftp-data any any -> any any (msg:"retr data"; ftpdata_command:retr; file.data; content:"ELF-marker"; sid:2;)
alert ftp-data any any -> any any (msg:"stor data"; ftpdata_command:stor; sid:3;)
alert tcp any any -> any any (msg:"data file name"; file.name; content:"payload.bin"; sid:4;)
"#;
    let mut file = b"\x7fELF".to_vec();
    file.extend(std::iter::repeat_n(b'z', 5000));
    file.extend_from_slice(b"ELF-marker");
    let (stderr, events) = replay_all(rules, &ftp_passive(&file));
    assert_eq!(alert_sids(&events), vec![1, 2, 4], "{stderr}");
    let ftp = of_type(&events, "ftp");
    let pasv = ftp.iter().find(|e| e["ftp"]["command"] == "PASV").unwrap();
    assert_eq!(pasv["ftp"]["dynamic_port"], 50_000);
    assert_eq!(pasv["ftp"]["mode"], "passive");
    let retr = ftp.iter().find(|e| e["ftp"]["command"] == "RETR").unwrap();
    assert_eq!(retr["ftp"]["completion_code"][1], "226");
    let data = of_type(&events, "ftp_data");
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["ftp_data"]["filename"], "payload.bin");
    assert_eq!(data[0]["ftp_data"]["command"], "RETR");
    let info = of_type(&events, "fileinfo");
    assert_eq!(info.len(), 1);
    assert_eq!(info[0]["fileinfo"]["size"], file.len());
    assert_eq!(info[0]["fileinfo"]["magic"], "ELF");
    assert_eq!(info[0]["app_proto"], "ftp-data");
    assert!(stderr.contains("ftp-data 1"), "{stderr}");
}

#[test]
fn ftp_bounce_and_bogus_port_commands() {
    let rules = r#"alert tcp any any -> any 21 (msg:"bounce"; flow:to_server,established; content:"PORT"; nocase; ftpbounce; sid:1;)
"#;
    let f = session(21, |s| {
        s.send(false, b"220 ready\r\n")
            .send(true, b"USER a\r\n")
            .send(false, b"331 pw\r\n")
            // Own address: no bounce. Then garbage, then a third party's address.
            .send(true, b"PORT 10,0,0,1,200,1\r\n")
            .send(false, b"200 ok\r\n")
            .send(
                true,
                b"PORT 999,1,2\r\nPORT ,,,,,\r\nPORT 1,2,3,4,5,6,7\r\n",
            )
            .send(false, b"501 bad\r\n501 bad\r\n501 bad\r\n")
            .send(true, b"PORT 192,168,7,7,0,25\r\n")
            .send(false, b"200 ok\r\n");
    });
    let (_, events) = replay_all(rules, &f);
    let alerts = of_type(&events, "alert");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["ftp"]["command_data"], "192,168,7,7,0,25");
}

#[test]
fn ssh_banners_hassh_and_no_inspection_once_encrypted() {
    let rules = r#"alert ssh any any -> any any (msg:"client sw"; flow:to_server; ssh.software; content:"libssh"; sid:1;)
alert ssh any any -> any any (msg:"proto"; ssh.protoversion:2.0; sid:2;)
alert ssh any any -> any any (msg:"hassh"; ssh.hassh.string; content:"curve25519-sha256|3b|aes128-ctr"; sid:3;)
alert tcp any any -> any any (msg:"inside encrypted"; content:"SECRET-AFTER-NEWKEYS"; sid:4;)
alert tcp any any -> any any (msg:"before newkeys"; content:"PLAIN-KEXDH"; sid:5;)
"#;
    fn kexinit() -> Vec<u8> {
        let lists = [
            "curve25519-sha256",
            "ssh-ed25519",
            "aes128-ctr",
            "aes128-ctr",
            "hmac-sha2-256",
            "hmac-sha2-256",
            "none",
            "none",
            "",
            "",
        ];
        let mut p = vec![20u8];
        p.extend_from_slice(&[1; 16]);
        for l in lists {
            p.extend_from_slice(&(l.len() as u32).to_be_bytes());
            p.extend_from_slice(l.as_bytes());
        }
        p.extend_from_slice(&[0; 5]);
        let pad = 8 - (p.len() + 5) % 8 + 4;
        let mut r = ((p.len() + 1 + pad) as u32).to_be_bytes().to_vec();
        r.push(pad as u8);
        r.extend_from_slice(&p);
        r.extend(std::iter::repeat_n(0, pad));
        r
    }
    let newkeys = [0u8, 0, 0, 12, 10, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut kexdh = vec![0u8, 0, 0, 20, 6, 30];
    kexdh.extend_from_slice(b"PLAIN-KEXDH\0\0\0\0\0\0\0\0\0");
    let f = session(22, |s| {
        s.send(false, b"SSH-2.0-OpenSSH_9.6\r\n")
            .send(true, b"SSH-2.0-libssh_0.9.6\r\n")
            .send(false, &kexinit())
            .send(true, &kexinit())
            .send(true, &kexdh)
            .send(false, &newkeys)
            .send(true, &newkeys)
            .send(true, b"\x00\x00\x01\x00SECRET-AFTER-NEWKEYS")
            .send(false, b"\x00\x00\x01\x00SECRET-AFTER-NEWKEYS");
    });
    let (stderr, events) = replay_all(rules, &f);
    assert_eq!(alert_sids(&events), vec![1, 2, 3, 5], "{stderr}");
    let ssh = of_type(&events, "ssh");
    assert_eq!(ssh.len(), 1);
    assert_eq!(ssh[0]["ssh"]["server"]["software_version"], "OpenSSH_9.6");
    assert_eq!(
        ssh[0]["ssh"]["client"]["hassh"]["string"],
        "curve25519-sha256;aes128-ctr;hmac-sha2-256;none"
    );
    assert!(
        stderr.contains("1 encrypted sessions not inspected further"),
        "{stderr}"
    );
}

#[test]
fn file_size_and_hash_list_keywords() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("bad-sha256.txt");
    std::fs::write(
        &list,
        "# known bad\nf51d663a59d2df3280c82c163638296fce51180734fdfb3ddcdbdf2bd57ceda9 invoice.exe\n",
    )
    .unwrap();
    let other = dir.path().join("other-md5.txt");
    std::fs::write(&other, "00112233445566778899aabbccddeeff\n").unwrap();
    let rules = format!(
        r#"alert smtp any any -> any any (msg:"size"; filesize:85; sid:1;)
alert smtp any any -> any any (msg:"size range"; filesize:1<>1KB; sid:2;)
alert smtp any any -> any any (msg:"too big"; filesize:>1KB; sid:3;)
alert smtp any any -> any any (msg:"known bad"; filesha256:{}; sid:4;)
alert smtp any any -> any any (msg:"not in md5 list"; filemd5:!{}; fileext:"exe"; sid:5;)
alert smtp any any -> any any (msg:"in md5 list"; filemd5:{}; sid:6;)
"#,
        list.display(),
        other.display(),
        other.display()
    );
    let f = session(25, |s| {
        s.send(
            true,
            b"EHLO mx.evil\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
        )
        .send(false, b"220 x\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
        .send(true, MAIL.as_bytes())
        .send(false, b"250 queued\r\n");
    });
    let (_, events) = replay_all(&rules, &f);
    assert_eq!(alert_sids(&events), vec![1, 2, 4, 5]);
    // A malformed list is a clear load error naming the file and line (-v lists each rule;
    // the summary counts the reason).
    std::fs::write(&other, "not-hex\n").unwrap();
    let (out, _) = replay_frames_with(&rules, &f, &["-v"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("other-md5.txt:1"), "{stderr}");
    let (out, _) = replay_frames(&rules, &f);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2  not supported: hash list ") && stderr.contains("other-md5.txt:N"),
        "{stderr}"
    );
}

#[test]
fn filestore_writes_matched_files_once_under_their_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[output]\nfileinfo = true\n[filestore]\ndir = \"{}\"\n",
            store.display()
        ),
    )
    .unwrap();
    let rules = r#"alert smtp any any -> any any (msg:"store exe"; fileext:"exe"; filestore; sid:1;)
"#;
    let mail = |s: &mut TcpSession| {
        s.send(
            true,
            b"EHLO mx.evil\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
        )
        .send(false, b"220 x\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
        .send(true, MAIL.as_bytes())
        .send(false, b"250 queued\r\n");
    };
    // The same attachment in two sessions: stored once.
    let mut frames = session(25, mail);
    let mut second = TcpSession::open((CLIENT, 40_002), (SERVER, 25), 9_000_000);
    mail(&mut second);
    frames.extend(second.close());
    let (out, events) = replay_frames_with(rules, &frames, &["--config", cfg.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("filestore: 1 files stored, 1 already there"),
        "{stderr}"
    );
    let sha = "f51d663a59d2df3280c82c163638296fce51180734fdfb3ddcdbdf2bd57ceda9";
    let stored = std::fs::read(store.join(&sha[..2]).join(sha)).unwrap();
    assert_eq!(stored.len(), 85);
    assert!(stored.starts_with(b"MZ") && stored.ends_with(b"evil payload"));
    let info = of_type(&events, "fileinfo");
    assert_eq!(info.len(), 2);
    assert!(info.iter().all(|e| e["fileinfo"]["stored"] == true));
}

#[test]
fn a_mail_cut_by_the_close_leaves_a_truncated_file() {
    let rules = r#"alert smtp any any -> any any (msg:"truncated"; app-layer-event:smtp.truncated_data; sid:1;)
"#;
    let cut = &MAIL.as_bytes()[..MAIL.len() - 40];
    let f = session(25, |s| {
        s.send(
            true,
            b"EHLO mx.evil\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
        )
        .send(false, b"220 x\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
        .send(true, cut);
    });
    let (_, events) = replay_all(rules, &f);
    let info = of_type(&events, "fileinfo");
    assert_eq!(info.len(), 1);
    assert_eq!(info[0]["fileinfo"]["state"], "TRUNCATED");
    assert!(info[0]["fileinfo"].get("sha256").is_none());
    let smtp = of_type(&events, "smtp");
    assert_eq!(smtp.len(), 1);
    assert_ne!(smtp[0]["email"]["status"], "PARSE_DONE");
}
