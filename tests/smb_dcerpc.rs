//! SMB, DCERPC and Kerberos end to end: crafted sessions replayed through the sensor, checking the SMB
//! rule buffers, files written over SMB (segmented and out of order), DCERPC keywords over
//! an SMB pipe and over TCP, and the EVE each gives.

mod common;

use common::*;
use sekimori::testgen::smb::*;
use sekimori::testgen::synth::{Frame, TcpSession};
use std::net::Ipv4Addr;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn session(port: u16, f: impl FnOnce(&mut TcpSession)) -> Vec<Frame> {
    let mut s = TcpSession::open((CLIENT, 40_000), (SERVER, port), 1_000_000);
    f(&mut s);
    s.close()
}

/// Replays with SMB, DCERPC, Kerberos and `fileinfo` events on; returns all events.
fn replay_all(rules: &str, frames: &[Frame]) -> Vec<serde_json::Value> {
    replay_with_outputs(
        rules,
        frames,
        &["smb", "dcerpc", "krb5", "fileinfo", "anomaly"],
    )
    .1
}

const PAYLOAD: &[u8] = b"MZ\x90\x00\x03\x00\x00\x00 this program drops an evil payload here";

#[test]
fn smb2_file_upload_share_user_and_version() {
    let rules = r#"alert smb any any -> any any (msg:"share"; smb.share; content:"srv|5c|share"; endswith; sid:1;)
alert smb any any -> any any (msg:"user"; smb.ntlmssp_user; content:"administrator"; sid:2;)
alert smb any any -> any any (msg:"domain"; smb.ntlmssp_domain; content:"CORP"; sid:3;)
alert smb any any -> any any (msg:"file data"; file.data; content:"evil payload"; sid:4;)
alert smb any any -> any any (msg:"exe by name"; fileext:"exe"; sid:5;)
alert smb any any -> any any (msg:"smb2"; smb.version:2; sid:6;)
alert smb any any -> any any (msg:"smb1"; smb.version:1; sid:7;)
alert smb any any -> any any (msg:"not a pipe tree"; smb.named_pipe; content:"IPC"; sid:8;)
alert tcp any any -> any 445 (msg:"raw SMB2 header"; content:"|fe|SMB"; offset:4; depth:4; sid:9;)
"#;
    let mut blob = b"\xa1\x81\x80\x30\x7e".to_vec();
    blob.extend_from_slice(&auth_message("administrator", "CORP", "WS7"));
    let f = session(445, |s| {
        s.send(true, &nbss(&session_setup(1, &blob)));
        s.send(true, &nbss(&tree_connect(2, "\\\\srv\\share")))
            .send(false, &nbss(&tree_connect_resp(2, 5, 1)))
            .send(true, &nbss(&create(3, 5, "temp\\invoice.exe")))
            .send(false, &nbss(&create_resp(3, 5, 9)));
        // The second chunk first, then the first one split across two segments.
        let (a, b) = PAYLOAD.split_at(20);
        s.send(true, &nbss(&write(5, 5, 9, 20, b)));
        let first = nbss(&write(4, 5, 9, 0, a));
        let (x, y) = first.split_at(30);
        s.send(true, x).send(true, y);
        s.send(true, &nbss(&close(6, 5, 9)));
    });
    let events = replay_all(rules, &f);
    let mut sids = alert_sids(&events);
    let count = |sid: u64| sids.iter().filter(|&&s| s == sid).count();
    // smb.version holds on every SMB transaction; the anchored raw content on every SMB2
    // packet (one alert per matching packet, as Suricata).
    assert_eq!(count(6), of_type(&events, "smb").len());
    assert_eq!(count(9), 7);
    sids.dedup();
    assert_eq!(sids, vec![1, 2, 3, 4, 5, 6, 9]);
    let alert = of_type(&events, "alert")
        .into_iter()
        .find(|e| e["alert"]["signature_id"] == 4)
        .unwrap();
    assert_eq!(alert["app_proto"], "smb");
    assert_eq!(alert["files"][0]["filename"], "temp\\invoice.exe");
    let info = of_type(&events, "fileinfo");
    assert_eq!(info.len(), 1);
    assert_eq!(info[0]["fileinfo"]["size"], PAYLOAD.len());
    assert_eq!(info[0]["fileinfo"]["state"], "CLOSED");
    assert_eq!(info[0]["fileinfo"]["gaps"], false);
    let smb = of_type(&events, "smb");
    let cmds: Vec<&str> = smb
        .iter()
        .map(|e| e["smb"]["command"].as_str().unwrap())
        .collect();
    for c in [
        "SMB2_COMMAND_SESSION_SETUP",
        "SMB2_COMMAND_TREE_CONNECT",
        "SMB2_COMMAND_CREATE",
        "SMB2_COMMAND_CLOSE",
    ] {
        assert!(cmds.contains(&c), "{cmds:?}");
    }
    let setup = smb
        .iter()
        .find(|e| e["smb"]["command"] == "SMB2_COMMAND_SESSION_SETUP")
        .unwrap();
    assert_eq!(setup["smb"]["ntlmssp"]["user"], "administrator");
    assert_eq!(setup["smb"]["ntlmssp"]["host"], "WS7");
}

/// A DCERPC response PDU carrying `stub`.
fn response(call_id: u32, stub: &[u8]) -> Vec<u8> {
    let mut b = (stub.len() as u32).to_le_bytes().to_vec();
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(stub);
    pdu(2, 3, call_id, &b)
}

#[test]
fn dcerpc_keywords_over_an_smb_pipe_and_over_tcp() {
    let rules = r#"alert dcerpc any any -> any any (msg:"netlogon op 26 stub"; dce_iface:12345678-1234-abcd-ef00-01234567cffb; dce_opnum:26; dce_stub_data; content:"ZERO"; sid:10;)
alert tcp any any -> any any (msg:"iface newer than 1"; dce_iface:12345678-1234-abcd-ef00-01234567cffb,>1; sid:11;)
alert tcp any any -> any any (msg:"opnum range"; dcerpc.opnum:20-30; sid:12;)
alert dcerpc any any -> any any (msg:"other opnum"; dce_iface:12345678-1234-abcd-ef00-01234567cffb; dce_opnum:!26; sid:13;)
alert dcerpc any any -> any any (msg:"unbound iface"; dce_iface:e1af8308-5d1f-11c9-91a4-08002b14a0fa; sid:14;)
alert dcerpc any any -> any any (msg:"response stub"; flow:to_client; dcerpc.stub_data; content:"GRANTED"; sid:15;)
"#;
    let stub = b"\\\x00\\\x00ZERO-CREDENTIALS";
    // Over an SMB named pipe.
    let mut frames = session(445, |s| {
        s.send(true, &nbss(&tree_connect(1, "\\\\dc\\IPC$")))
            .send(false, &nbss(&tree_connect_resp(1, 7, 2)))
            .send(true, &nbss(&create(2, 7, "netlogon")))
            .send(false, &nbss(&create_resp(2, 7, 3)))
            .send(true, &nbss(&write(3, 7, 3, 0, &bind(1, 0, &NETLOGON, 1))))
            .send(true, &nbss(&read(4, 7, 3, 0, 1024)))
            .send(false, &nbss(&read_resp(4, &bind_ack(1, 0))))
            .send(true, &nbss(&write(5, 7, 3, 0, &request(2, 3, 0, 26, stub))))
            .send(true, &nbss(&read(6, 7, 3, 0, 1024)))
            .send(false, &nbss(&read_resp(6, &response(2, b"GRANTED"))));
    });
    // Over TCP on a dynamic port: the request in two fragments, each split across segments.
    let mut tcp = TcpSession::open((CLIENT, 40_001), (SERVER, 49_670), 2_000_000);
    tcp.send(true, &bind(1, 0, &NETLOGON, 1))
        .send(false, &bind_ack(1, 0));
    let mut frags = request(2, 1, 0, 26, &stub[..6]);
    frags.extend(request(2, 2, 0, 26, &stub[6..]));
    for part in frags.chunks(11) {
        tcp.send(true, part);
    }
    tcp.send(false, &response(2, b"GRANTED"));
    frames.extend(tcp.close());
    let events = replay_all(rules, &frames);
    let alerts = of_type(&events, "alert");
    let sids = |proto: &str| -> Vec<u64> {
        let mut v: Vec<u64> = alerts
            .iter()
            .filter(|a| a["app_proto"] == proto)
            .map(|a| a["alert"]["signature_id"].as_u64().unwrap())
            .collect();
        v.sort_unstable();
        v
    };
    assert_eq!(sids("smb"), vec![10, 12, 15]);
    assert_eq!(sids("dcerpc"), vec![10, 12, 15]);
    let dce = of_type(&events, "dcerpc");
    let req = dce
        .iter()
        .find(|e| e["dcerpc"]["request"] == "REQUEST")
        .unwrap();
    assert_eq!(req["dcerpc"]["req"]["opnum"], 26);
    assert_eq!(req["dcerpc"]["req"]["frag_cnt"], 2);
    assert_eq!(req["dcerpc"]["req"]["stub_data_size"], stub.len());
    assert_eq!(req["dcerpc"]["response"], "RESPONSE");
    let bind_ev = dce
        .iter()
        .find(|e| e["dcerpc"]["request"] == "BIND")
        .unwrap();
    assert_eq!(
        bind_ev["dcerpc"]["interfaces"][0]["uuid"],
        "12345678-1234-abcd-ef00-01234567cffb"
    );
    // Over SMB the call is logged inside the SMB transaction that carried it.
    let over_smb = of_type(&events, "smb")
        .into_iter()
        .find(|e| e["smb"]["dcerpc"]["request"] == "REQUEST")
        .unwrap();
    assert_eq!(over_smb["smb"]["dcerpc"]["opnum"], 26);
    assert_eq!(over_smb["smb"]["command"], "SMB2_COMMAND_WRITE");
}

#[test]
fn dcerpc_rule_keywords_are_checked_when_loading() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("r.rules");
    std::fs::write(
        &rules,
        "alert tcp any any -> any any (dce_iface:not-a-uuid; sid:1;)\n\
         alert tcp any any -> any any (dce_opnum:30-20; sid:2;)\n\
         alert smb any any -> any any (smb.version:4; sid:3;)\n\
         alert tcp any any -> any any (dce_iface:12345678-1234-abcd-ef00-01234567cffb,any_frag; dce_opnum:1,5-7,>100; sid:4;)\n",
    )
    .unwrap();
    let out = run(&["rules", "check", rules.to_str().unwrap()]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("failed to parse: 3"), "{text}");
    for sid in ["1", "2", "3"] {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("sid {sid}")) || l.contains(&format!("1:{sid} "))),
            "sid {sid} reported: {text}"
        );
    }
    assert!(text.contains("loaded: 1"), "{text}");
}

#[test]
fn kerberos_over_udp_and_tcp() {
    use sekimori::testgen::krb5::{as_rep, as_req, krb_error};
    use sekimori::testgen::synth::udp_frame;
    let rules = r#"alert krb5 any any -> any any (msg:"AS-REQ"; krb5_msg_type:10; sid:20;)
alert krb5 any any -> any any (msg:"krbtgt asked"; krb5_sname; content:"krbtgt"; sid:21;)
alert krb5 any any -> any any (msg:"alice"; krb5.cname; content:"alice"; sid:22;)
alert krb5 any any -> any any (msg:"preauth failed"; krb5_err_code:24; sid:23;)
alert krb5 any any -> any any (msg:"preauth required"; krb5_err_code:25; sid:24;)
alert krb5 any any -> any any (msg:"weak ticket"; krb5.ticket_encryption: weak; sid:25;)
alert krb5 any any -> any any (msg:"aes ticket"; krb5.ticket_encryption: aes256-cts-hmac-sha1-96; sid:26;)
"#;
    let (c, s) = ((CLIENT, 50_000), (SERVER, 88));
    let mut frames: Vec<Frame> = vec![
        (
            1_000_000,
            udp_frame(
                c,
                s,
                &as_req("alice", "CORP.EXAMPLE", &["krbtgt", "CORP.EXAMPLE"]),
            ),
        ),
        (
            1_000_100,
            udp_frame(s, c, &krb_error(25, "alice", &["krbtgt", "CORP.EXAMPLE"])),
        ),
    ];
    // Over TCP, the reply with an RC4 ticket (Kerberoasting's ask), its record split.
    let reply = as_rep("bob", &["MSSQLSvc", "db.corp.example"], 18, 23);
    let mut rec = (reply.len() as u32).to_be_bytes().to_vec();
    rec.extend_from_slice(&reply);
    let req = as_req("bob", "CORP.EXAMPLE", &["MSSQLSvc", "db.corp.example"]);
    let mut req_rec = (req.len() as u32).to_be_bytes().to_vec();
    req_rec.extend_from_slice(&req);
    let mut tcp = TcpSession::open((CLIENT, 50_001), (SERVER, 88), 2_000_000);
    tcp.send(true, &req_rec);
    let (a, b) = rec.split_at(9);
    tcp.send(false, a).send(false, b);
    frames.extend(tcp.close());
    let events = replay_all(rules, &frames);
    let mut sids = alert_sids(&events);
    sids.dedup();
    assert_eq!(sids, vec![20, 21, 22, 24, 25]);
    let krb = of_type(&events, "krb5");
    assert_eq!(krb.len(), 4, "{krb:?}");
    let err = krb
        .iter()
        .find(|e| e["krb5"]["msg_type"] == "KRB_ERROR")
        .unwrap();
    assert_eq!(err["krb5"]["error_code"], "KDC_ERR_PREAUTH_REQUIRED");
    assert_eq!(err["krb5"]["failed_request"], "KRB_AS_REQ");
    let rep = krb
        .iter()
        .find(|e| e["krb5"]["msg_type"] == "KRB_AS_REP")
        .unwrap();
    assert_eq!(rep["krb5"]["ticket_encryption"], "rc4-hmac");
    assert_eq!(rep["krb5"]["ticket_weak_encryption"], true);
    assert_eq!(rep["krb5"]["sname"], "MSSQLSvc/db.corp.example");
}

#[test]
fn dcerpc_over_udp_fragments_and_keywords() {
    use sekimori::testgen::synth::udp_frame;
    let rules = r#"alert dcerpc any any -> any any (msg:"iface+opnum+stub over udp"; dce_iface:12345678-1234-abcd-ef00-01234567cffb; dce_opnum:7; dce_stub_data; content:"PART1PART2"; sid:30;)
alert dcerpc any any -> any any (msg:"response stub"; flow:to_client; dce_stub_data; content:"DONE"; sid:31;)
alert dcerpc any any -> any any (msg:"wrong opnum"; dce_opnum:8; sid:32;)
"#;
    let activity = [0x5a; 16];
    let (c, s) = ((CLIENT, 40_100), (SERVER, 34_567));
    // A request in two fragments, then the response.
    let frames: Vec<Frame> = vec![
        (
            1_000_000,
            udp_frame(
                c,
                s,
                &cl_pdu(0, 0x04, &NETLOGON, &activity, 9, 7, 0, b"PART1"),
            ),
        ),
        (
            1_000_100,
            udp_frame(
                c,
                s,
                &cl_pdu(0, 0x06, &NETLOGON, &activity, 9, 7, 1, b"PART2"),
            ),
        ),
        (
            1_000_200,
            udp_frame(
                s,
                c,
                &cl_pdu(2, 0x00, &NETLOGON, &activity, 9, 7, 0, b"DONE"),
            ),
        ),
    ];
    let events = replay_all(rules, &frames);
    let mut sids = alert_sids(&events);
    sids.dedup();
    assert_eq!(sids, vec![30, 31]);
    let dce = of_type(&events, "dcerpc");
    assert_eq!(dce.len(), 1, "{dce:?}");
    let d = &dce[0]["dcerpc"];
    assert_eq!(d["rpc_version"], "4.0");
    assert_eq!(d["seqnum"], 9);
    assert_eq!(d["activityuuid"], "5a5a5a5a-5a5a-5a5a-5a5a-5a5a5a5a5a5a");
    assert_eq!(d["req"]["frag_cnt"], 2);
    assert_eq!(d["req"]["opnum"], 7);
    assert_eq!(d["response"], "RESPONSE");
    assert_eq!(dce[0]["proto"], "UDP");
}
