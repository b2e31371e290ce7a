//! Live capture through libpcap: a receiving handle per interface (inbound packets only, so
//! frames an inline bridge sends are not seen again), and a send-only handle per interface
//! for forwarding in inline mode.

use crate::capture::PacketSource;
use crate::common::time::Micros;
use crate::decode::LinkType;

/// Kernel buffer for a receiving handle.
const BUFFER: i32 = 32 << 20;

/// Counters the kernel keeps for a capture handle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Packets the filter accepted.
    pub received: u64,
    /// Packets dropped because the capture buffer was full.
    pub dropped: u64,
    /// Packets the interface dropped.
    pub if_dropped: u64,
}

impl KernelStats {
    /// Adds another handle's counters.
    pub fn add(&mut self, o: KernelStats) {
        self.received += o.received;
        self.dropped += o.dropped;
        self.if_dropped += o.if_dropped;
    }
}

/// How a PACKET_FANOUT group spreads packets over its workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FanoutHash {
    /// By the two IP addresses (a classic BPF program): every flow between two hosts meets
    /// in one worker, as replay and autofp dispatch, so per-host analytics (beacons, DNS
    /// tunnels) see all of it. Fragments need no reassembly to be placed.
    #[default]
    IpPair,
    /// By the kernel's flow hash (addresses and ports): spreads the flows of one busy host
    /// pair too, but one host's flows land on several workers.
    Flow,
}

/// The classic BPF fanout program of [`FanoutHash::IpPair`]: the XOR of the packet's two
/// addresses (every word of both for IPv6), mixed by a multiplicative hash; the kernel
/// takes it modulo the group's size. Non-IP packets go to the first socket. Loads are
/// relative to the network header (`SKF_NET_OFF`), which VLAN tags and link types do not
/// move.
pub fn ip_pair_program() -> Vec<libc::sock_filter> {
    const LD_W_ABS: u16 = 0x20;
    const LD_MEM: u16 = 0x60;
    const ST: u16 = 0x02;
    const TAX: u16 = 0x07;
    const XOR_X: u16 = 0xac;
    const MUL_K: u16 = 0x24;
    const RSH_K: u16 = 0x74;
    const JEQ_K: u16 = 0x15;
    const JA: u16 = 0x05;
    const RET_A: u16 = 0x16;
    const RET_K: u16 = 0x06;
    let op = |code, jt, jf, k: u32| libc::sock_filter { code, jt, jf, k };
    let net = |off: i32| (libc::SKF_NET_OFF + off) as u32;
    // XOR of the words at `offs` (relative to the network header), left in A.
    let fold = |offs: &[i32]| {
        let mut v = vec![op(LD_W_ABS, 0, 0, net(offs[0])), op(ST, 0, 0, 0)];
        for &o in &offs[1..] {
            v.extend([
                op(LD_W_ABS, 0, 0, net(o)),
                op(TAX, 0, 0, 0),
                op(LD_MEM, 0, 0, 0),
                op(XOR_X, 0, 0, 0),
                op(ST, 0, 0, 0),
            ]);
        }
        v
    };
    let v4 = fold(&[12, 16]);
    let v6 = fold(&[8, 12, 16, 20, 24, 28, 32, 36]);
    let mix = [
        op(MUL_K, 0, 0, 0x9e37_79b1),
        op(RSH_K, 0, 0, 16),
        op(RET_A, 0, 0, 0),
    ];
    let mut p = vec![op(
        LD_W_ABS,
        0,
        0,
        (libc::SKF_AD_OFF + libc::SKF_AD_PROTOCOL) as u32,
    )];
    // IPv4: go on; else test IPv6 (1 ahead, past the IPv4 block and its jump).
    p.push(op(JEQ_K, 0, (v4.len() + 1) as u8, 0x0800));
    p.extend(v4);
    p.push(op(JA, 0, 0, (1 + v6.len()) as u32));
    // IPv6, else the last instruction (non-IP: 0).
    p.push(op(JEQ_K, 0, (v6.len() + mix.len()) as u8, 0x86dd));
    p.extend(v6);
    p.extend(mix);
    p.push(op(RET_K, 0, 0, 0));
    p
}

/// Sets packet-socket option `opt` of `fd` to `val`; false on failure (errno says why).
#[allow(unsafe_code)]
fn set_packet_opt<T>(fd: std::os::fd::RawFd, opt: libc::c_int, val: &T) -> bool {
    // SAFETY: `val` is a live value whose exact size is passed, and the kernel only reads it
    // during the call; a descriptor that is not a packet socket makes the call fail, no more.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            opt,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// A live interface.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    link: LinkType,
    name: String,
}

impl LiveCapture {
    /// Opens `iface` for capture: promiscuous, immediate delivery, inbound only, with an
    /// optional BPF filter. Reads return at least every 100 ms so the caller can stop.
    pub fn open(iface: &str, snaplen: i32, bpf: Option<&str>) -> Result<LiveCapture, String> {
        let err = |e: pcap::Error| format!("{iface}: {e}");
        let cap = pcap::Capture::from_device(iface)
            .map_err(err)?
            .promisc(true)
            .snaplen(snaplen)
            .immediate_mode(true)
            .buffer_size(BUFFER)
            .timeout(100)
            .open()
            .map_err(err)?;
        cap.direction(pcap::Direction::In).map_err(err)?;
        // Reads never block: the thread waits in poll(2) with a timeout instead, so it can
        // notice a stop request whatever libpcap's immediate-mode timeout behaviour is.
        let mut cap = cap.setnonblock().map_err(err)?;
        if let Some(f) = bpf {
            cap.filter(f, true)
                .map_err(|e| format!("{iface}: BPF filter '{f}': {e}"))?;
        }
        let dlt = cap.get_datalink();
        let link = LinkType::from_pcap(dlt.0)
            .ok_or_else(|| format!("{iface}: link type {} is not supported", dlt.0))?;
        Ok(LiveCapture {
            cap,
            link,
            name: iface.to_string(),
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Joins PACKET_FANOUT group `group` (with kernel defragmentation first), spreading
    /// packets over the group's sockets `by` address pair or flow. Both are symmetric, so each
    /// worker owning one socket sees whole flows, both directions; by address pair it also
    /// sees every flow between two hosts (what per-host analytics count).
    pub fn join_fanout(&self, group: u16, by: FanoutHash) -> Result<(), String> {
        use std::os::fd::AsRawFd;
        let mode = match by {
            FanoutHash::IpPair => libc::PACKET_FANOUT_CBPF,
            FanoutHash::Flow => libc::PACKET_FANOUT_HASH,
        };
        let val: libc::c_uint =
            libc::c_uint::from(group) | ((mode | libc::PACKET_FANOUT_FLAG_DEFRAG) << 16);
        let fd = self.cap.as_raw_fd();
        let fail =
            |what: &str| format!("{}: {what}: {}", self.name, std::io::Error::last_os_error());
        if !set_packet_opt(fd, libc::PACKET_FANOUT, &val) {
            return Err(fail("PACKET_FANOUT"));
        }
        if by == FanoutHash::IpPair {
            let mut prog = ip_pair_program();
            // Points at `prog`, which outlives the call (the kernel copies the program).
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_mut_ptr(),
            };
            if !set_packet_opt(fd, libc::PACKET_FANOUT_DATA, &fprog) {
                return Err(fail("PACKET_FANOUT_DATA (address-pair program)"));
            }
        }
        Ok(())
    }

    /// Sends a frame out of this interface (inline forwarding in workers mode).
    pub fn send(&mut self, frame: &[u8]) -> Result<(), String> {
        self.cap
            .sendpacket(frame)
            .map_err(|e| format!("{}: {e}", self.name))
    }

    /// Reads what is ready without waiting; `Ok(false)` when nothing was.
    pub fn try_frame(&mut self, f: &mut dyn FnMut(Micros, &[u8])) -> Result<bool, String> {
        match self.cap.next_packet() {
            Ok(pkt) => {
                f(super::pcap_ts(pkt.header), pkt.data);
                Ok(true)
            }
            Err(pcap::Error::TimeoutExpired) => Ok(false),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    /// Waits up to `ms` milliseconds until one of `caps` has a frame.
    pub fn wait_any(caps: &[LiveCapture], ms: u8) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut fds: Vec<PollFd<'_>> = caps
            .iter()
            .map(|c| PollFd::new(c.cap.as_fd(), PollFlags::POLLIN))
            .collect();
        let _ = poll(&mut fds, PollTimeout::from(ms));
    }

    /// The kernel's counters for this handle.
    pub fn kernel_stats(&mut self) -> KernelStats {
        self.cap
            .stats()
            .map(|s| KernelStats {
                received: u64::from(s.received),
                dropped: u64::from(s.dropped),
                if_dropped: u64::from(s.if_dropped),
            })
            .unwrap_or_default()
    }
}

impl PacketSource for LiveCapture {
    fn link(&self) -> LinkType {
        self.link
    }

    /// `Ok(true)` also when no frame came within 100 ms.
    fn next_frame(&mut self, f: &mut dyn FnMut(Micros, &[u8])) -> Result<bool, String> {
        if !self.try_frame(f)? {
            LiveCapture::wait_any(std::slice::from_ref(self), 100);
        }
        Ok(true)
    }
}

/// A handle that only sends frames out of an interface (inline forwarding).
pub struct Injector {
    cap: pcap::Capture<pcap::Active>,
    name: String,
}

impl Injector {
    /// Opens `iface` for sending; its receive side is filtered to nothing.
    pub fn open(iface: &str) -> Result<Injector, String> {
        let err = |e: pcap::Error| format!("{iface}: {e}");
        let mut cap = pcap::Capture::from_device(iface)
            .map_err(err)?
            .snaplen(64)
            .buffer_size(1 << 16)
            .timeout(1)
            .open()
            .map_err(err)?;
        cap.filter("less 1", true).map_err(err)?;
        Ok(Injector {
            cap,
            name: iface.to_string(),
        })
    }

    /// Sends one frame.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), String> {
        self.cap
            .sendpacket(frame)
            .map_err(|e| format!("{}: {e}", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program of the instructions `ip_pair_program` uses on a packet
    /// whose network header is `net`, of link-layer protocol `proto`; None where the kernel
    /// would abort (a load past the end).
    fn run(prog: &[libc::sock_filter], proto: u16, net: &[u8]) -> Option<u32> {
        let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
        loop {
            let i = prog.get(pc)?;
            pc += 1;
            match i.code {
                0x20 if i.k == (libc::SKF_AD_OFF + libc::SKF_AD_PROTOCOL) as u32 => {
                    a = u32::from(proto)
                }
                0x20 => {
                    let off = (i.k as i32 - libc::SKF_NET_OFF) as usize;
                    a = u32::from_be_bytes(net.get(off..off + 4)?.try_into().ok()?);
                }
                0x60 => a = mem[i.k as usize],
                0x02 => mem[i.k as usize] = a,
                0x07 => x = a,
                0xac => a ^= x,
                0x24 => a = a.wrapping_mul(i.k),
                0x74 => a >>= i.k,
                0x15 => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                0x05 => pc += i.k as usize,
                0x16 => return Some(a),
                0x06 => return Some(i.k),
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    fn v4(src: [u8; 4], dst: [u8; 4], sport: u16) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
        h.extend(src);
        h.extend(dst);
        h.extend(sport.to_be_bytes());
        h.extend(53u16.to_be_bytes());
        h.extend([0, 8, 0, 0]);
        h
    }

    fn v6(src: u128, dst: u128) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        h.extend(src.to_be_bytes());
        h.extend(dst.to_be_bytes());
        h.extend([0u8; 8]);
        h
    }

    #[test]
    fn the_fanout_program_places_by_address_pair_both_ways() {
        let p = ip_pair_program();
        assert!(p.len() < 256);
        let (a, b) = ([10, 0, 0, 5], [198, 51, 100, 7]);
        let h = run(&p, 0x0800, &v4(a, b, 40000)).unwrap();
        // Any ports, either direction: the same value.
        assert_eq!(run(&p, 0x0800, &v4(a, b, 51234)), Some(h));
        assert_eq!(run(&p, 0x0800, &v4(b, a, 53)), Some(h));
        // Other pairs spread: 64 clients of one server over two workers.
        let on_one = (0..64u8)
            .filter(|&i| run(&p, 0x0800, &v4([10, 0, 1, i], b, 1)).unwrap() % 2 == 0)
            .count();
        assert!((16..=48).contains(&on_one), "{on_one} of 64 on worker 0");
        let (s6, d6) = (0x2001_0db8_u128 << 96 | 5, 0x2001_0db8_u128 << 96 | 0x77);
        let h6 = run(&p, 0x86dd, &v6(s6, d6)).unwrap();
        assert_eq!(run(&p, 0x86dd, &v6(d6, s6)), Some(h6));
        assert_ne!(run(&p, 0x86dd, &v6(s6, d6 + 1)), Some(h6));
        // Not IP: the first socket; a truncated header aborts (the kernel's 0 too).
        assert_eq!(run(&p, 0x0806, &[0; 28]), Some(0));
        assert_eq!(run(&p, 0x0800, &[0x45; 14]), None);
    }
}
