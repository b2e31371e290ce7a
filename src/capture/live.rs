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

    /// Joins PACKET_FANOUT group `group` in hash mode (with kernel defragmentation first):
    /// the kernel spreads flows over the group's sockets by a symmetric flow hash, so each
    /// worker owning one socket sees whole flows, both directions.
    #[allow(unsafe_code)]
    pub fn join_fanout(&self, group: u16) -> Result<(), String> {
        use std::os::fd::AsRawFd;
        let val: libc::c_uint = libc::c_uint::from(group)
            | ((libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG) << 16);
        // SAFETY: the descriptor is this handle's open packet socket for the whole call, and
        // the option value is a live c_uint whose exact size is passed.
        let rc = unsafe {
            libc::setsockopt(
                self.cap.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_FANOUT,
                (&val as *const libc::c_uint).cast(),
                std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(format!(
                "{}: PACKET_FANOUT: {}",
                self.name,
                std::io::Error::last_os_error()
            ));
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
