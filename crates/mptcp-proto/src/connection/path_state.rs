//! Per-subflow MPTCP state: how the subflow joined, its address ids, and
//! the mappings it received.

use crate::error::ProtocolViolation;
use crate::time::{Duration, Instant};
use mptcp_wire::{DataSeq, ResetReason};
use std::collections::VecDeque;

/// How the subflow came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathKind {
    /// The first subflow: MP_CAPABLE (or plain TCP).
    Initial,
    /// Added with MP_JOIN (RFC 8684 §3.2).
    Join(Join),
}

/// An MP_JOIN handshake and its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Join {
    /// Our random number (R-A or R-B).
    pub local_nonce: u32,
    /// The peer's, once seen.
    pub remote_nonce: u32,
    /// Where the handshake stands.
    pub stage: JoinStage,
    /// A join of ours: how long after its handshake completes data may
    /// flow (see [`super::MptcpConfig::join_data_delay`]); zero for the
    /// peer's joins.
    pub data_delay: Duration,
}

/// MP_JOIN progress (A sends the SYN, B answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinStage {
    /// A: SYN sent.
    SynSent,
    /// A: SYN-ACK verified; the third ACK, with A's HMAC, is repeated until
    /// the peer acknowledges it (RFC 8684 §3.2: A must not send data
    /// before; the subflow's `AckRepeat` timer repeats it).
    AckPending,
    /// B: SYN-ACK sent, waiting for the third ACK with A's HMAC.
    AwaitAck,
    /// Data may flow.
    Established,
}

/// A mapping received in a DSS option (RFC 8684 §3.3.1), in relative
/// subflow sequence space (the first data byte is 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxMapping {
    /// Relative subflow sequence number of the first byte.
    pub ssn: u32,
    /// Data sequence number of the first byte.
    pub dsn: DataSeq,
    /// Payload bytes covered (the DATA_FIN, if any, excluded).
    pub len: u32,
    /// The checksum, when checksums are in use.
    pub csum: Option<u16>,
    /// Whether the mapping ends with the DATA_FIN (which its data-level
    /// length, and so its checksum, counts).
    pub fin: bool,
}

impl RxMapping {
    /// Whether relative sequence number `ssn` lies in it.
    pub fn covers(&self, ssn: u32) -> bool {
        ssn.wrapping_sub(self.ssn) < self.len
    }

    /// The relative sequence number after it.
    pub fn end(&self) -> u32 {
        self.ssn.wrapping_add(self.len)
    }
}

/// Bytes of one mapping gathered until it is complete, when checksums are
/// in use (the checksum covers the whole mapping).
#[derive(Clone, Debug, Default)]
pub struct Pending {
    /// The mapping.
    pub map: Option<RxMapping>,
    /// Its bytes so far.
    pub bytes: Vec<u8>,
}

/// Why we reset a subflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetCause {
    /// The peer broke the protocol.
    Violation(ProtocolViolation),
    /// Options or bytes are altered or lost on the path.
    Middlebox,
    /// Our own decision (an address withdrawn, the path manager), or a
    /// segment that could not leave with its mapping.
    Local,
}

impl ResetCause {
    /// The MP_TCPRST reason that says it (RFC 8684 §3.6).
    pub fn reason(self) -> ResetReason {
        match self {
            ResetCause::Violation(_) => ResetReason::MPTCP_SPECIFIC,
            ResetCause::Middlebox => ResetReason::MIDDLEBOX_INTERFERENCE,
            ResetCause::Local => ResetReason::UNSPECIFIED,
        }
    }
}

/// What our RST on a subflow carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OurReset {
    /// This subflow alone ends: MP_TCPRST with the cause's reason.
    Subflow(ResetCause),
    /// The whole connection ends: MP_FASTCLOSE (once the peer's key is
    /// known, RFC 8684 §3.5), and MP_TCPRST when there is a cause.
    FastClose(Option<ResetCause>),
}

impl OurReset {
    /// Its cause, if any.
    pub fn cause(self) -> Option<ResetCause> {
        match self {
            OurReset::Subflow(c) => Some(c),
            OurReset::FastClose(c) => c,
        }
    }

    /// Its MP_TCPRST reason, if any.
    pub fn reason(self) -> Option<ResetReason> {
        self.cause().map(ResetCause::reason)
    }
}

/// The MPTCP side of one subflow.
#[derive(Clone, Debug)]
pub struct PathState {
    /// Initial or joined.
    pub kind: PathKind,
    /// Our address id on this subflow.
    pub local_id: u8,
    /// The peer's address id.
    pub remote_id: u8,
    /// Whether we asked the peer to use it only as a backup.
    pub backup: bool,
    /// Whether the peer asked us to use it only as a backup.
    pub peer_backup: bool,
    /// Mappings received and not yet consumed.
    pub rx_maps: VecDeque<RxMapping>,
    /// Bytes held for checksum verification.
    pub pending: Pending,
    /// Whether a DSS was ever received here.
    pub dss_seen: bool,
    /// Whether a DATA_ACK was ever received here (RFC 8684 §3.7: until
    /// then, an acknowledgment of our data without one means the path
    /// drops options).
    pub data_ack_seen: bool,
    /// Whether this subflow's FIN was queued.
    pub fin_queued: bool,
    /// Whether and why we reset it: what our RST carries. Once set, the
    /// connection aborts the subflow (see `Connection::after_activity`).
    pub reset: Option<OurReset>,
    /// An MP_PRIO is owed, with the backup flag it carries (RFC 8684
    /// §3.3.8).
    pub prio_due: Option<bool>,
    /// An MP_FAIL is due, with this DSN (RFC 8684 §3.7).
    pub fail_due: Option<DataSeq>,
    /// Whether the subflow is stale (see the connection's scheduling).
    pub stale: bool,
    /// When a pure ACK was last asked for to carry a signal.
    pub signal_ack_at: Option<Instant>,
    /// The peer removed this subflow's address: a keepalive probe went out
    /// and, unless the path answers before this instant, the subflow is
    /// reset (RFC 8684 §3.4.2).
    pub removal_probe: Option<Instant>,
    /// A segment arrived after the probe went out: the path is alive.
    pub heard_since_probe: bool,
    /// The peer removed this subflow's address (REMOVE_ADDR): once it
    /// closes its direction, the subflow is reset rather than closed
    /// gracefully (RFC 8684 §3.4.2: RSTs on the affected subflows).
    pub peer_removed: bool,
    /// The peer's RST said the path interferes (MP_FAIL, or MP_TCPRST
    /// reason "middlebox interference").
    pub peer_saw_interference: bool,
    /// A join of ours carries no data before this instant (its
    /// handshake's end plus [`Join::data_delay`]).
    pub data_hold: Option<Instant>,
}

impl PathState {
    /// Reset this subflow alone, for `cause`.
    pub fn reset_for(&mut self, cause: ResetCause) {
        self.reset = Some(OurReset::Subflow(cause));
    }

    /// The peer broke the protocol here: our RST says "MPTCP-specific
    /// error" (RFC 8684 §3.6) and the violation is kept for the
    /// connection's error, should this subflow be its last.
    pub fn violated(&mut self, v: ProtocolViolation) {
        self.reset_for(ResetCause::Violation(v));
    }

    /// The peer's violation this subflow was reset for, if that was why.
    pub fn violation(&self) -> Option<ProtocolViolation> {
        match self.reset.and_then(OurReset::cause) {
            Some(ResetCause::Violation(v)) => Some(v),
            _ => None,
        }
    }

    /// Whether this is a join we accepted whose third ACK has not arrived.
    pub fn is_half_open_join(&self) -> bool {
        matches!(self.kind, PathKind::Join(j) if j.stage == JoinStage::AwaitAck)
    }

    /// The state of a new subflow.
    pub fn new(kind: PathKind, local_id: u8, remote_id: u8, backup: bool) -> PathState {
        PathState {
            kind,
            local_id,
            remote_id,
            backup,
            peer_backup: false,
            rx_maps: VecDeque::new(),
            pending: Pending::default(),
            dss_seen: false,
            data_ack_seen: false,
            fin_queued: false,
            reset: None,
            prio_due: None,
            fail_due: None,
            stale: false,
            signal_ack_at: None,
            removal_probe: None,
            heard_since_probe: false,
            peer_removed: false,
            peer_saw_interference: false,
            data_hold: None,
        }
    }

    /// Whether the scheduler may give this subflow data at `now`: its join,
    /// if any, is complete and past its hold.
    pub fn takes_data(&self, now: Instant) -> bool {
        self.can_carry_data() && self.data_hold.is_none_or(|t| t <= now)
    }

    /// Whether this subflow may carry data at the MPTCP level (its join, if
    /// any, is complete).
    pub fn can_carry_data(&self) -> bool {
        match self.kind {
            PathKind::Initial => true,
            PathKind::Join(j) => j.stage == JoinStage::Established,
        }
    }

    /// The mapping covering relative sequence number `ssn`, dropping the
    /// ones wholly before it.
    pub fn mapping_for(&mut self, ssn: u32) -> Option<RxMapping> {
        while let Some(front) = self.rx_maps.front() {
            if (front.end().wrapping_sub(ssn) as i32) <= 0 {
                self.rx_maps.pop_front();
            } else {
                break;
            }
        }
        self.rx_maps.iter().find(|m| m.covers(ssn)).copied()
    }

    /// Record a received mapping. Returns false if it contradicts one
    /// already held for the same bytes (RFC 8684 §3.3.1: a mapping, once
    /// declared, cannot change).
    pub fn add_mapping(&mut self, map: RxMapping) -> bool {
        for m in &self.rx_maps {
            if m.ssn == map.ssn {
                return m.dsn == map.dsn && m.len == map.len;
            }
        }
        // Keep them ordered by relative sequence number.
        let at = self
            .rx_maps
            .iter()
            .position(|m| (map.ssn.wrapping_sub(m.ssn) as i32) < 0)
            .unwrap_or(self.rx_maps.len());
        self.rx_maps.insert(at, map);
        // A hostile peer must not grow this without bound.
        while self.rx_maps.len() > MAX_MAPPINGS {
            self.rx_maps.pop_front();
        }
        true
    }
}

/// The most mappings remembered per subflow.
const MAX_MAPPINGS: usize = 4096;
