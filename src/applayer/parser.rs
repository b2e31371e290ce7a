//! The contract between an app-layer parser and the rest of the sensor.
//!
//! A protocol plugs in with a [`Protocol`] entry in [`super::PROTOCOLS`]: its probes, its rule
//! buffers and a constructor for its per-flow [`Parser`]. The parser turns stream data (or
//! datagrams) into transactions; each transaction implements [`Transaction`], which is all
//! detection (buffers, events) and EVE (the protocol's object) see of it. What detection and
//! logging track per transaction ([`TxDetect`]) is the same for every protocol, so the worker
//! drives every parser with one loop.

use super::files::File;
use super::{AppConfig, AppProto, AppStats, Buf, Probe};

/// One transaction (an HTTP request/response, a TLS handshake, a DNS message) as detection and
/// EVE see it.
pub trait Transaction {
    /// The protocol.
    fn proto(&self) -> AppProto;

    /// EVE `tx_id`: the transaction's number within its flow.
    fn id(&self) -> u64;

    /// Calls `f` on each instance of buffer `b` as seen when inspecting in direction
    /// `to_server`, until `f` returns true. Returns whether it did; None when the transaction
    /// does not have the buffer (yet).
    fn each(&self, b: Buf, to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool>;

    /// Whether buffer `b` (seen in direction `to_server`) can no longer appear: its message
    /// is complete. Rules testing a buffer's absence only match then.
    fn settled(&self, _b: Buf, _to_server: bool) -> bool {
        true
    }

    /// Parser events raised on the transaction (bits the protocol's `app-layer-event` names
    /// map to).
    fn events(&self) -> u32 {
        0
    }

    /// Complete: its EVE event is written now.
    fn complete(&self) -> bool;

    /// Incomplete when its flow ended, but worth an EVE event as far as it got.
    fn worth_logging(&self) -> bool {
        self.complete()
    }

    /// EVE orientation of the transaction's event: from the client (true), or from the
    /// server (a DNS response).
    fn sent_by_client(&self) -> bool {
        true
    }

    /// Appends the protocol's EVE object with a leading comma: `,"http":{...}`.
    fn write_eve(&self, out: &mut Vec<u8>);

    /// Files the transaction carries (oldest first).
    fn files(&self) -> &[File] {
        &[]
    }

    /// The size the protocol announced for the existing file the transaction reads (SMB's
    /// end of file from the create response), to tell a whole copy from a partial read.
    fn announced_size(&self) -> Option<u64> {
        None
    }
}

/// A transaction as detection and EVE are handed it.
pub type TxRef<'a> = &'a dyn Transaction;

/// What detection and logging track on each transaction, the same for every protocol.
#[derive(Clone, Debug, Default)]
pub struct TxDetect {
    /// Engine indexes of rules that alerted on the transaction (each fires once per
    /// transaction).
    pub alerted: Vec<u32>,
    /// The parser added to the transaction since detection last looked, per direction
    /// (to-server, to-client).
    pub updated: [bool; 2],
    /// The last inspection of a direction ran on a packet that was not `established` (a
    /// closing packet): the flow's end inspects it once more.
    pub unsettled: [bool; 2],
    /// Its EVE event was written (or events of its protocol are off).
    pub logged: bool,
    /// Files of the transaction whose `fileinfo` event was written (bit per file slot).
    pub files_logged: u64,
}

impl TxDetect {
    /// Logged, and inspected in both directions since the parser last touched it: nothing
    /// needs the transaction any more (beyond its files). A transaction the parser completed
    /// on the other side's acknowledgement is inspected on that side's next packet, so it
    /// must not be freed before then.
    pub fn finished(&self) -> bool {
        self.logged && self.updated == [false; 2] && self.unsettled == [false; 2]
    }

    /// Heap bytes held.
    pub fn heap(&self) -> usize {
        self.alerted.capacity() * std::mem::size_of::<u32>()
    }
}

/// What a parser works with besides its data: the limits, and the worker's counters.
pub struct ParseCtx<'a> {
    /// App-layer limits.
    pub cfg: &'a AppConfig,
    /// The worker's app-layer counters.
    pub stats: &'a mut AppStats,
}

/// Implements [`Parser`]'s transaction access for a parser whose transactions (each with a
/// `det: TxDetect`) sit in the collection `$field` (a `VecDeque` or `Vec`), oldest first.
#[macro_export]
macro_rules! parser_tx_slots {
    ($field:ident) => {
        fn tx_count(&self) -> usize {
            self.$field.len()
        }

        fn tx(
            &self,
            slot: usize,
        ) -> Option<($crate::applayer::TxRef<'_>, &$crate::applayer::TxDetect)> {
            self.$field
                .get(slot)
                .map(|t| (t as $crate::applayer::TxRef<'_>, &t.det))
        }

        fn tx_detect(&mut self, slot: usize) -> Option<&mut $crate::applayer::TxDetect> {
            self.$field.get_mut(slot).map(|t| &mut t.det)
        }
    };
}

/// Implements [`Parser`]'s transaction access for a parser that is its flow's one
/// transaction (with a `det: TxDetect` field).
#[macro_export]
macro_rules! parser_single_tx {
    () => {
        fn tx_count(&self) -> usize {
            1
        }

        fn tx(
            &self,
            slot: usize,
        ) -> Option<($crate::applayer::TxRef<'_>, &$crate::applayer::TxDetect)> {
            (slot == 0).then_some((self as $crate::applayer::TxRef<'_>, &self.det))
        }

        fn tx_detect(&mut self, slot: usize) -> Option<&mut $crate::applayer::TxDetect> {
            (slot == 0).then_some(&mut self.det)
        }
    };
}

/// A protocol's per-flow parser.
pub trait Parser: std::fmt::Debug + Send {
    /// Consumes new contiguous data of one direction (a stream's next bytes, or one
    /// datagram). Returns whether a transaction progressed (and was marked updated).
    fn feed(&mut self, to_server: bool, data: &[u8], cx: &mut ParseCtx<'_>) -> bool;

    /// `len` bytes of a direction were lost (a stream gap, or data that slid out before
    /// parsing): files being transferred lose their integrity.
    fn gap(&mut self, _to_server: bool, _len: u64) {}

    /// The direction's stream ended: finish what the close completes. Returns whether a
    /// transaction progressed.
    fn close(&mut self, _to_server: bool, _cx: &mut ParseCtx<'_>) -> bool {
        false
    }

    /// Heap bytes the parser and its transactions hold, counted against the app-layer memcap.
    fn heap(&self) -> usize;

    /// Transactions held, addressed by slot `0..tx_count()` (oldest first).
    fn tx_count(&self) -> usize;

    /// The transaction in `slot` and its detection state.
    fn tx(&self, slot: usize) -> Option<(TxRef<'_>, &TxDetect)>;

    /// The detection state of the transaction in `slot`.
    fn tx_detect(&mut self, slot: usize) -> Option<&mut TxDetect>;

    /// After a packet's detection and logging: frees transactions no longer needed.
    fn gc(&mut self) {}

    /// The session hands over to another protocol (SMTP's STARTTLS to TLS): the protocol and
    /// the bytes of each direction (to-server, to-client) already received that belong to it.
    fn upgrade(&mut self) -> Option<(AppProto, [Vec<u8>; 2])> {
        None
    }

    /// The session went encrypted in both directions: where, in bytes of each direction
    /// (to-server, to-client) given to the parser. Payload past those is not worth inspecting.
    fn encrypted(&self) -> Option<[u64; 2]> {
        None
    }

    /// Moves out the data connections the session announced (FTP's PASV/PORT with the
    /// command that uses them).
    fn take_expectations(&mut self, _out: &mut Vec<Expectation>) {}

    /// The parser runs on a connection its control session announced: what was said of it.
    fn expected(&mut self, _e: &Expectation) {}

    /// The flow turned out to carry a protocol inside this one (DNS over HTTP/2): rules and
    /// EVE see that protocol while this parser goes on.
    fn refined(&self) -> Option<AppProto> {
        None
    }
}

/// A connection a control session announced (an FTP data connection): the flow whose
/// responder is `port` on the control session's server (passive mode) or client (active
/// mode) belongs to `proto`, with what the control session said of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The responder is the control session's server (else its client).
    pub on_server: bool,
    /// Responder port.
    pub port: u16,
    /// Its protocol.
    pub proto: AppProto,
    /// The command using it (FTP: RETR, STOR...) as sent; empty when not known yet.
    pub command: Vec<u8>,
    /// The file it carries (FTP: the command's argument).
    pub file: Vec<u8>,
}

/// A protocol's registration: everything the sensor needs to know to run its parser.
pub struct Protocol {
    /// The protocol.
    pub proto: AppProto,
    /// Names rules use for it (`alert http ...`, `app-layer-protocol:tls`); the first is the
    /// EVE `app_proto`.
    pub names: &'static [&'static str],
    /// EVE `event_type` of its transaction events and their `[output]` switch (Suricata's
    /// name: `ftp_data` for the `ftp-data` protocol).
    pub event_type: &'static str,
    /// The `[output]` switch, when it is not `event_type` (HTTP/2 writes `http` events under
    /// `http2 = true`).
    pub switch: Option<&'static str>,
    /// EVE anomaly event for malformed data (`http.parser_error`).
    pub parser_error_event: &'static str,
    /// Rule buffer names the parser fills, and the buffer behind each.
    pub buffers: &'static [(&'static str, Buf)],
    /// Ports the protocol is probed on (either end of the flow); empty: every port. Probes
    /// too weak to run everywhere (a two-byte MQTT header) are confined this way, as
    /// Suricata's probing ports do.
    pub ports: &'static [u16],
    /// Recognises the protocol from a TCP direction's first bytes (true: sent by the client).
    pub probe_tcp: Option<fn(&[u8], bool) -> Probe>,
    /// Recognises the protocol from a UDP flow's first datagram.
    pub probe_udp: Option<fn(&[u8]) -> bool>,
    /// A parser for a new flow (`tcp`: stream framing, else datagrams).
    pub new_parser: fn(tcp: bool) -> Box<dyn Parser>,
    /// The bit of an `app-layer-event:<proto>.<name>` name, if the parser raises it.
    pub event_by_name: fn(&str) -> Option<u32>,
    /// A message the parser finished has the raw stream inspected at once (as Suricata's
    /// parsers trigger raw reassembly); otherwise raw detection waits for its usual chunk.
    pub triggers_raw: bool,
}

impl Protocol {
    /// EVE `app_proto` name.
    pub fn name(&self) -> &'static str {
        self.names[0]
    }

    /// EVE `event_type` of its transaction events.
    pub fn event_type(&self) -> &'static str {
        self.event_type
    }

    /// The `[output]` switch of its transaction events.
    pub fn switch(&self) -> &'static str {
        self.switch.unwrap_or(self.event_type)
    }

    /// Whether the protocol may be probed on a flow between these ports.
    pub fn probes_ports(&self, ports: [u16; 2]) -> bool {
        self.ports.is_empty() || ports.iter().any(|p| self.ports.contains(p))
    }
}
