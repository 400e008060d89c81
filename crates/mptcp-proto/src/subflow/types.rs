//! The subflow's public vocabulary: identifiers, configuration, states,
//! events, what the owner sees of a segment, and the owner's hooks.

use crate::congestion::CcAlgorithm;
use crate::segment::{MptcpOptionList, SegmentIn};
use crate::time::Duration;
use mptcp_wire::{DataSeq, SubflowSeq, TcpFlags};
use std::fmt;
use std::net::SocketAddr;

use super::rtt::RtoConfig;

/// Identifies a subflow within its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SubflowId(pub u32);

impl fmt::Display for SubflowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sf{}", self.0)
    }
}

/// Local and remote transport addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FourTuple {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
}

/// Tunables of one subflow.
#[derive(Clone, Copy, Debug)]
pub struct SubflowConfig {
    /// MTU of the local interface; the MSS we announce follows from it.
    pub mtu: u16,
    /// RTO bounds.
    pub rto: RtoConfig,
    /// How long an acknowledgment may be delayed (RFC 9293 §3.8.6.3 allows
    /// up to 500 ms; Linux uses 40 ms at least).
    pub delayed_ack: Duration,
    /// Congestion control algorithm.
    pub cc: CcAlgorithm,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Offer timestamps (RFC 7323).
    pub timestamps: bool,
    /// Offer window scaling (RFC 7323).
    pub window_scaling: bool,
    /// Announce at most this MSS (as `TCP_MAXSEG` does); `None`: the
    /// interface MTU less the headers.
    pub mss: Option<u16>,
    /// The largest receive window we will ever advertise (sets our shift).
    pub max_receive_window: u64,
    /// SYN (or SYN-ACK) transmissions before giving up.
    pub syn_retries: u32,
    /// Consecutive retransmission timeouts before giving up.
    pub data_retries: u32,
    /// How long TIME-WAIT lasts (2 MSL).
    pub time_wait: Duration,
    /// Leave TCP checksums of outgoing segments to the device (the field
    /// holds the pseudo-header's sum, as Linux's `CHECKSUM_PARTIAL`); the
    /// runtime must have the device complete them. Off by default.
    pub checksum_offload: bool,
    /// The runtime hands a mapping's segments to the OS as one train
    /// (segmentation offload), so a mapping is cut to fit one IP packet of
    /// 65535 bytes with its headers. Off by default.
    pub segmentation_offload: bool,
}

impl Default for SubflowConfig {
    fn default() -> SubflowConfig {
        SubflowConfig {
            mtu: 1500,
            rto: RtoConfig::default(),
            delayed_ack: Duration::from_millis(40),
            cc: CcAlgorithm::Cubic,
            sack: true,
            timestamps: true,
            window_scaling: true,
            mss: None,
            max_receive_window: 16 << 20,
            syn_retries: 6,
            data_retries: 15,
            time_wait: Duration::from_secs(60),
            checksum_offload: false,
            segmentation_offload: false,
        }
    }
}

/// The TCP options one end offers, as a peer or a test varies them: the
/// command-line form is a comma-separated list of `no-timestamps`,
/// `no-sack`, `no-wscale` and `mss=N` (empty: the defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpFeatures {
    /// Offer timestamps (RFC 7323).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Offer window scaling (RFC 7323).
    pub window_scaling: bool,
    /// Announce at most this MSS.
    pub mss: Option<u16>,
}

impl Default for TcpFeatures {
    fn default() -> TcpFeatures {
        TcpFeatures {
            timestamps: true,
            sack: true,
            window_scaling: true,
            mss: None,
        }
    }
}

/// A [`TcpFeatures`] list that did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpFeaturesError(pub String);

impl fmt::Display for TcpFeaturesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown TCP option setting {:?} (expected no-timestamps, no-sack, no-wscale, mss=N with N of 88 to 65495)",
            self.0
        )
    }
}

impl std::error::Error for TcpFeaturesError {}

impl TcpFeatures {
    /// Set these on a subflow configuration.
    pub fn apply(&self, config: &mut SubflowConfig) {
        config.timestamps = self.timestamps;
        config.sack = self.sack;
        config.window_scaling = self.window_scaling;
        config.mss = self.mss;
    }

    /// Whether every option is at its default.
    pub fn is_default(&self) -> bool {
        *self == TcpFeatures::default()
    }
}

impl std::str::FromStr for TcpFeatures {
    type Err = TcpFeaturesError;

    fn from_str(s: &str) -> Result<TcpFeatures, TcpFeaturesError> {
        let mut f = TcpFeatures::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item {
                "no-timestamps" => f.timestamps = false,
                "no-sack" => f.sack = false,
                "no-wscale" => f.window_scaling = false,
                _ => {
                    let mss = item
                        .strip_prefix("mss=")
                        .and_then(|n| n.parse::<u16>().ok())
                        .filter(|n| (88..=65495).contains(n))
                        .ok_or_else(|| TcpFeaturesError(item.to_owned()))?;
                    f.mss = Some(mss);
                }
            }
        }
        Ok(f)
    }
}

impl fmt::Display for TcpFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items = Vec::new();
        if !self.timestamps {
            items.push("no-timestamps".to_owned());
        }
        if !self.sack {
            items.push("no-sack".to_owned());
        }
        if !self.window_scaling {
            items.push("no-wscale".to_owned());
        }
        if let Some(m) = self.mss {
            items.push(format!("mss={m}"));
        }
        f.write_str(&items.join(","))
    }
}

/// RFC 9293 §3.3.2 connection states (LISTEN lives in the endpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// SYN sent, waiting for SYN-ACK.
    SynSent,
    /// SYN received and answered.
    SynReceived,
    /// Data flows both ways.
    Established,
    /// We closed; our FIN is not yet acknowledged.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed first, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both FINs acknowledged; lingering for stray segments.
    TimeWait,
    /// Gone.
    Closed,
}

impl TcpState {
    /// Whether the peer's FIN arrived (it closed its direction).
    pub fn peer_closed(self) -> bool {
        matches!(
            self,
            TcpState::CloseWait | TcpState::Closing | TcpState::LastAck | TcpState::TimeWait
        )
    }

    /// Whether the three-way handshake completed.
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            TcpState::SynSent | TcpState::SynReceived | TcpState::Closed
        )
    }

    /// Whether we may still queue data.
    pub fn can_send(self) -> bool {
        matches!(self, TcpState::Established | TcpState::CloseWait)
    }

    /// Whether the peer may still send data.
    pub fn can_receive(self) -> bool {
        matches!(
            self,
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        )
    }
}

/// Why a subflow closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Both sides closed gracefully.
    Normal,
    /// The peer sent an acceptable RST.
    ResetByPeer,
    /// The peer refused the connection (RST answering our SYN).
    Refused,
    /// Retransmissions were exhausted.
    TimedOut,
    /// We aborted (and sent a RST).
    Aborted,
}

/// Something the owner should know about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubflowEvent {
    /// The handshake completed.
    Established,
    /// The peer's FIN arrived in order: no more data will come.
    PeerFin,
    /// The subflow is closed; nothing more will be sent or delivered.
    Closed(CloseReason),
}

/// A read-only snapshot of a subflow given to its owner's hooks.
#[derive(Clone, Copy, Debug)]
pub struct SubflowView {
    /// Which subflow.
    pub id: SubflowId,
    /// Its addresses.
    pub tuple: FourTuple,
    /// Our initial sequence number.
    pub iss: SubflowSeq,
    /// The peer's initial sequence number (meaningless before the SYN).
    pub irs: SubflowSeq,
    /// Current state.
    pub state: TcpState,
    /// Next sequence number expected from the peer.
    pub rcv_nxt: SubflowSeq,
    /// The peer's window shift (RFC 7323), for windows read by the owner.
    pub snd_wscale: u8,
    /// Our oldest unacknowledged sequence number (SND.UNA), before the
    /// segment being handled.
    pub snd_una: SubflowSeq,
    /// The sequence number after the last payload byte queued (a FIN not
    /// counted).
    pub payload_end: SubflowSeq,
}

impl SubflowView {
    /// Whether acknowledgment number `ack` covers payload of ours that was
    /// not acknowledged before (not merely the SYN or a FIN).
    pub fn acks_new_payload(&self, ack: SubflowSeq) -> bool {
        ack.gt(self.snd_una) && self.snd_una.lt(self.payload_end) && self.snd_una.ge(self.iss + 1)
    }
}

/// What an outgoing segment carries, for the owner's options.
#[derive(Clone, Copy, Debug)]
pub struct SegmentMeta {
    /// Flags.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq: SubflowSeq,
    /// Payload length.
    pub payload_len: u32,
    /// Data sequence number of the first payload byte.
    pub dsn: Option<DataSeq>,
    /// The mapping the payload belongs to, as pushed.
    pub map: Option<TxMapping>,
    /// Whether it is a retransmission.
    pub retransmission: bool,
}

/// A chunk the owner pushed with its data sequence number: one MPTCP
/// mapping (RFC 8684 §3.3.1), carried by every segment the chunk is cut
/// into, and by their retransmissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxMapping {
    /// Data sequence number of the chunk's first byte.
    pub dsn: DataSeq,
    /// Subflow sequence number of its first byte.
    pub seq: SubflowSeq,
    /// Its length (at most 65535: the DSS length field).
    pub len: u16,
    /// Its DSS checksum, when checksums are in use.
    pub csum: Option<u16>,
}

/// The owner's answer to an incoming segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputVerdict {
    /// Go on processing it.
    Accept,
    /// Go on processing it, and acknowledge it at once (the ACK carries a
    /// signal of the owner's).
    AcceptAndAck,
    /// Drop it and reset the subflow (the owner adds MP_TCPRST or
    /// MP_FASTCLOSE to the RST through [`SubflowOwner::options_for`]).
    Reset,
    /// Drop it whole, as if it never arrived: neither its acknowledgment
    /// nor its payload is taken (a segment whose MPTCP options cannot be
    /// right, such as a forged infinite mapping).
    Discard,
}

/// What a subflow needs from the layer above it.
pub trait SubflowOwner {
    /// Free receive space in bytes: the window to advertise.
    fn receive_space(&self, view: &SubflowView) -> u64;

    /// `Some(bytes)` when the receive window is the connection's, shared
    /// by its subflows and read by the peer relative to the DATA_ACK on
    /// each segment (RFC 8684 §3.3.4). The subflow then advertises the free
    /// space as it is, even where that moves its own right edge left (an
    /// edge kept from an earlier, larger space would let the peer send past
    /// the connection's buffer), and accepts data up to `bytes` past
    /// RCV.NXT: the in-window check is the connection's, not the subflow's.
    fn shared_window(&self) -> Option<u64> {
        None
    }

    /// Whether the owner holds data it has not handed to any subflow yet.
    /// When it does not, and this subflow has nothing queued either though
    /// its window has room, the sender is application-limited for delivery
    /// rate sampling. The default, `true`, never says so.
    fn has_data_to_send(&self) -> bool {
        true
    }

    /// Add options to an outgoing segment, using at most `space` bytes
    /// (every option pushed within that space is carried). Returns whether
    /// the segment may leave: `false` when it carries data whose required
    /// option (an MPTCP mapping) did not fit. The subflow then withholds it
    /// and resets itself, so that the owner can send the data elsewhere.
    fn options_for(
        &mut self,
        view: &SubflowView,
        seg: &SegmentMeta,
        space: usize,
        out: &mut MptcpOptionList,
    ) -> bool;

    /// An acceptable incoming segment, before its ACK and payload are
    /// processed.
    fn on_segment(&mut self, view: &SubflowView, seg: &SegmentIn<'_>) -> InputVerdict;

    /// In-order payload starting at `seq`. Returns whether to acknowledge
    /// it at once (the ACK carries a signal of the owner's).
    fn on_data(&mut self, view: &SubflowView, seq: SubflowSeq, data: &[u8]) -> bool;
}

/// Per-subflow counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubflowStats {
    /// Segments sent (including pure ACKs and retransmissions).
    pub segs_out: u64,
    /// Answers to unacceptable pure ACKs left out by the rate limit (two
    /// ends out of step would otherwise exchange ACKs forever).
    pub invalid_answers_suppressed: u64,
    /// Out-of-order bytes dropped again to keep the reassembly queue's
    /// memory within its budget (tiny pieces cost more than their bytes).
    pub ofo_pruned_bytes: u64,
    /// Segments withheld because the owner's required options did not fit
    /// (the subflow was reset instead; zero unless the engine has a bug).
    pub withheld_segments: u64,
    /// Segments received and processed.
    pub segs_in: u64,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Payload bytes retransmitted.
    pub bytes_retrans: u64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Payload bytes delivered in order to the owner.
    pub bytes_received: u64,
    /// Payload bytes acknowledged by the peer.
    pub bytes_acked: u64,
    /// Retransmission timeouts.
    pub rto_expirations: u64,
    /// Entries into fast recovery.
    pub fast_recoveries: u64,
    /// Received segments that were wholly duplicate.
    pub dup_segments: u64,
    /// Received segments that arrived out of order.
    pub ofo_segments: u64,
    /// Received segments dropped as unacceptable.
    pub dropped_segments: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Zero-window probes sent.
    pub window_probes: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tail_loss_probes: u64,
    /// D-SACK blocks sent: segments received twice (RFC 2883; the
    /// kernel's TCPDSACKOldSent and TCPDSACKOfoSent together).
    pub dsacks_sent: u64,
    /// D-SACK blocks received (the kernel's TCPDSACKRecv).
    pub dsacks_received: u64,
    /// Retransmissions a D-SACK showed unnecessary (the original arrived).
    pub spurious_retransmits: u64,
    /// Congestion responses undone because every retransmission of their
    /// episode was unnecessary (the kernel's TCPDSACKUndo).
    pub spurious_undos: u64,
}
