//! Synthetic traffic: well-formed Ethernet frames for whole TCP sessions and UDP exchanges, and
//! a classic pcap writer. Used to generate the bundled `pcaps/`, by tests and by benchmarks.

use std::io::{self, Write};
use std::net::Ipv4Addr;

use etherparse::PacketBuilder;

use crate::common::time::Micros;

/// Writes classic little-endian pcap files (microsecond timestamps).
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header for `linktype` (1 = Ethernet).
    pub fn new(mut out: W, linktype: u32) -> io::Result<Self> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&65_535u32.to_le_bytes())?;
        out.write_all(&linktype.to_le_bytes())?;
        Ok(PcapWriter { out })
    }

    /// Appends one frame.
    pub fn write(&mut self, ts: Micros, frame: &[u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len()).map_err(|_| io::Error::other("frame too large"))?;
        self.out
            .write_all(&(ts.div_euclid(1_000_000) as u32).to_le_bytes())?;
        self.out
            .write_all(&(ts.rem_euclid(1_000_000) as u32).to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(frame)
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A timestamped frame.
pub type Frame = (Micros, Vec<u8>);

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// Builds a TCP session frame by frame with consistent sequence numbers.
pub struct TcpSession {
    client: (Ipv4Addr, u16),
    server: (Ipv4Addr, u16),
    cseq: u32,
    sseq: u32,
    ts: Micros,
    /// Frames so far.
    pub frames: Vec<Frame>,
}

impl TcpSession {
    /// Starts a session with the three-way handshake at time `ts`.
    pub fn open(client: (Ipv4Addr, u16), server: (Ipv4Addr, u16), ts: Micros) -> TcpSession {
        let mut s = TcpSession {
            client,
            server,
            cseq: 1000,
            sseq: 5000,
            ts,
            frames: Vec::new(),
        };
        s.push(
            true,
            |b, seq, _| b.tcp(client.1, server.1, seq, 64_240).syn(),
            &[],
        );
        s.cseq += 1;
        s.push(
            false,
            |b, seq, ack| b.tcp(server.1, client.1, seq, 64_240).syn().ack(ack),
            &[],
        );
        s.sseq += 1;
        s.push(
            true,
            |b, seq, ack| b.tcp(client.1, server.1, seq, 64_240).ack(ack),
            &[],
        );
        s
    }

    fn push(
        &mut self,
        to_server: bool,
        f: impl FnOnce(
            etherparse::PacketBuilderStep<etherparse::IpHeaders>,
            u32,
            u32,
        ) -> etherparse::PacketBuilderStep<etherparse::TcpHeader>,
        payload: &[u8],
    ) {
        let (src, dst, smac, dmac, seq, ack) = if to_server {
            (
                self.client.0,
                self.server.0,
                CLIENT_MAC,
                SERVER_MAC,
                self.cseq,
                self.sseq,
            )
        } else {
            (
                self.server.0,
                self.client.0,
                SERVER_MAC,
                CLIENT_MAC,
                self.sseq,
                self.cseq,
            )
        };
        let b = PacketBuilder::ethernet2(smac, dmac).ipv4(src.octets(), dst.octets(), 64);
        let mut frame = Vec::with_capacity(64 + payload.len());
        f(b, seq, ack)
            .write(&mut frame, payload)
            .expect("writing to a Vec cannot fail");
        self.frames.push((self.ts, frame));
        self.ts += 1_000;
    }

    /// The next sequence number of the client (`true`) or the server.
    pub fn next_seq(&self, client: bool) -> u32 {
        if client {
            self.cseq
        } else {
            self.sseq
        }
    }

    /// Lets `us` microseconds pass before the next frame (to interleave sessions).
    pub fn advance(&mut self, us: Micros) -> &mut Self {
        self.ts += us;
        self
    }

    /// The time of the next frame.
    pub fn now(&self) -> Micros {
        self.ts
    }

    /// The client and server endpoints.
    pub fn endpoints(&self) -> ((Ipv4Addr, u16), (Ipv4Addr, u16)) {
        (self.client, self.server)
    }

    /// Sends `payload` (one segment) from the client or the server, then the peer's ACK.
    pub fn send(&mut self, to_server: bool, payload: &[u8]) -> &mut Self {
        let (sp, dp) = if to_server {
            (self.client.1, self.server.1)
        } else {
            (self.server.1, self.client.1)
        };
        self.push(
            to_server,
            |b, seq, ack| b.tcp(sp, dp, seq, 64_240).psh().ack(ack),
            payload,
        );
        let n = payload.len() as u32;
        if to_server {
            self.cseq = self.cseq.wrapping_add(n);
        } else {
            self.sseq = self.sseq.wrapping_add(n);
        }
        self.push(
            !to_server,
            |b, seq, ack| b.tcp(dp, sp, seq, 64_240).ack(ack),
            &[],
        );
        self
    }

    /// Sends `parts` of one message as separate segments in the given order, each
    /// `(offset in the message, bytes)`, then the peer's ACK of the whole message. Parts may
    /// overlap or come out of order (for reassembly and evasion tests).
    pub fn send_parts(&mut self, to_server: bool, parts: &[(u32, &[u8])]) -> &mut Self {
        let (sp, dp) = if to_server {
            (self.client.1, self.server.1)
        } else {
            (self.server.1, self.client.1)
        };
        let base = if to_server { self.cseq } else { self.sseq };
        let mut end = 0u32;
        for (off, bytes) in parts {
            let seq = base.wrapping_add(*off);
            self.push(
                to_server,
                |b, _, ack| b.tcp(sp, dp, seq, 64_240).psh().ack(ack),
                bytes,
            );
            end = end.max(off + bytes.len() as u32);
        }
        if to_server {
            self.cseq = base.wrapping_add(end);
        } else {
            self.sseq = base.wrapping_add(end);
        }
        self.push(
            !to_server,
            |b, seq, ack| b.tcp(dp, sp, seq, 64_240).ack(ack),
            &[],
        );
        self
    }

    /// Closes with FIN from the client, FIN/ACK from the server and a last ACK.
    pub fn close(mut self) -> Vec<Frame> {
        let (c, s) = (self.client.1, self.server.1);
        self.push(
            true,
            |b, seq, ack| b.tcp(c, s, seq, 64_240).fin().ack(ack),
            &[],
        );
        self.cseq += 1;
        self.push(
            false,
            |b, seq, ack| b.tcp(s, c, seq, 64_240).fin().ack(ack),
            &[],
        );
        self.sseq += 1;
        self.push(true, |b, seq, ack| b.tcp(c, s, seq, 64_240).ack(ack), &[]);
        self.frames
    }
}

/// A UDP datagram as an Ethernet frame.
pub fn udp_frame(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(64 + payload.len());
    PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .udp(src.1, dst.1)
        .write(&mut frame, payload)
        .expect("writing to a Vec cannot fail");
    frame
}

/// A DNS query message for `name` (type A, recursion desired).
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + name.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        m.push(label.len().min(63) as u8);
        m.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// A TLS 1.2 ClientHello record naming `sni`, offering ALPN `h2` (enough for SNI, JA3 and JA4
/// to be computed).
pub fn tls_client_hello(sni: &str) -> Vec<u8> {
    let mut ext = Vec::new();
    let mut push_ext = |t: u16, d: &[u8]| {
        ext.extend_from_slice(&t.to_be_bytes());
        ext.extend_from_slice(&(d.len() as u16).to_be_bytes());
        ext.extend_from_slice(d);
    };
    let name = sni.as_bytes();
    let mut sn = vec![0u8];
    sn.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sn.extend_from_slice(name);
    let mut list = (sn.len() as u16).to_be_bytes().to_vec();
    list.extend_from_slice(&sn);
    push_ext(0, &list);
    push_ext(10, &[0, 4, 0, 0x1d, 0, 0x17]);
    push_ext(11, &[1, 0]);
    push_ext(13, &[0, 4, 4, 3, 8, 4]);
    push_ext(16, &[0, 3, 2, b'h', b'2']);
    let mut body = vec![3, 3];
    body.extend((0..32u8).map(|i| i.wrapping_mul(7)));
    body.push(0);
    body.extend_from_slice(&[0, 4, 0xc0, 0x2f, 0x13, 0x01]);
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    tls_handshake(1, 1, &body)
}

/// A TLS record (version 3.`minor`) holding one handshake message of type `kind`.
pub fn tls_handshake(kind: u8, minor: u8, body: &[u8]) -> Vec<u8> {
    let mut hs = vec![kind];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(body);
    let mut rec = vec![22, 3, minor];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// Writes frames to a pcap file.
pub fn write_pcap(path: &std::path::Path, frames: &[Frame]) -> io::Result<()> {
    let f = std::fs::File::create(path)?;
    let mut w = PcapWriter::new(io::BufWriter::new(f), 1)?;
    for (ts, frame) in frames {
        w.write(*ts, frame)?;
    }
    w.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_bytes() {
        let mut w = PcapWriter::new(Vec::new(), 1).unwrap();
        w.write(1_500_000, &[1, 2, 3]).unwrap();
        let b = w.finish().unwrap();
        assert_eq!(b.len(), 24 + 16 + 3);
        assert_eq!(&b[24..28], &1u32.to_le_bytes());
        assert_eq!(&b[28..32], &500_000u32.to_le_bytes());
    }

    #[test]
    fn dns_query_layout() {
        let q = dns_query(7, "evil.example");
        assert_eq!(&q[12..], b"\x04evil\x07example\x00\x00\x01\x00\x01");
    }
}
