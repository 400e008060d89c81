//! Connection-level MPTCP state and configuration.

use crate::congestion::CcAlgorithm;
use crate::crypto::{KeyMaterial, MptcpVersion};
use crate::pm::PmConfig;
use crate::scheduler::SchedulerKind;
use crate::time::{Duration, Instant};
use crate::token::TokenHandle;
use mptcp_wire::DataSeq;
use std::net::{IpAddr, SocketAddr};

/// MPTCP settings of an endpoint's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MptcpConfig {
    /// Offer and accept MPTCP at all (off: plain TCP).
    pub enabled: bool,
    /// The version offered when connecting (RFC 8684 §3.1: the highest
    /// supported; v1 by default).
    pub version: MptcpVersion,
    /// Accept connections from v0 (RFC 6824) peers; otherwise a v0
    /// MP_CAPABLE is ignored and the connection is plain TCP.
    pub accept_v0: bool,
    /// Ask for DSS checksums (RFC 8684 §3.1 flag A). Checksums are used
    /// when either side asks.
    pub checksum: bool,
    /// Which subflow carries which bytes.
    pub scheduler: SchedulerKind,
    /// Subflows per connection, the first included.
    pub max_subflows: usize,
    /// Without endpoints configured (see [`crate::pm`]), the client's
    /// path manager opens a subflow from every other local address and to
    /// every address the peer announces; off: none.
    pub open_subflows: bool,
    /// The path manager: its kind, limits and events.
    pub pm: PmConfig,
    /// When nothing new may be sent, resend the oldest data outstanding on
    /// a slower subflow on the fastest one with room (see the connection's
    /// transmit module).
    pub opportunistic_reinjection: bool,
    /// Congestion control of the subflows of MPTCP connections (plain TCP
    /// connections use the subflow configuration's). LIA (RFC 6356) by
    /// default.
    pub cc: CcAlgorithm,
    /// Couple only the subflows found to share a bottleneck (RFC 8382
    /// shared bottleneck detection, see [`crate::congestion::SbdConfig`]);
    /// off: a coupled controller couples every subflow. On by default: on
    /// disjoint lossy paths coupling everything keeps a connection near
    /// its best path alone (0.51 of two independent TCPs over two
    /// 40mbit/15ms/1% paths, 0.92 with detection), while on a shared
    /// bottleneck detection still couples (0.97 of the TCP beside it);
    /// `docs/performance.md` has the matrix.
    pub sbd: bool,
    /// Server: set flag C in our SYN-ACK (RFC 8684 §3.1, v1 only) and
    /// refuse joins to the connection's initial address and port, so that
    /// peers join only the addresses we announce: for servers behind a
    /// load balancer that spreads by 4-tuple (`docs/scaling.md`). The
    /// kernel's `net.mptcp.allow_join_initial_addr_port = 0`. Off by
    /// default.
    pub no_join_initial: bool,
    /// A subflow we joined carries data only this long after its
    /// handshake completed (the peer's ACK of our third ACK). Linux (6.18
    /// at least) links a subflow it accepted into its connection only once
    /// the application releases the socket's lock; data that arrived on
    /// the subflow before then is put at the connection's acknowledged
    /// sequence number, whatever its mapping said: every byte sent there
    /// ahead of a hole lands in the wrong place, checksums or not
    /// (`docs/interop.md`, "Joins and the kernel's socket lock"). The wait
    /// covers the application's lock hold; zero sends at once, as RFC 8684
    /// §3.2 allows. 20 ms by default.
    pub join_data_delay: Duration,
}

impl Default for MptcpConfig {
    fn default() -> MptcpConfig {
        MptcpConfig {
            enabled: true,
            version: MptcpVersion::V1,
            accept_v0: true,
            checksum: false,
            scheduler: SchedulerKind::MinRtt,
            max_subflows: 8,
            open_subflows: true,
            pm: PmConfig::default(),
            opportunistic_reinjection: true,
            cc: CcAlgorithm::Lia,
            sbd: true,
            no_join_initial: false,
            join_data_delay: Duration::from_millis(20),
        }
    }
}

/// Where the MPTCP handshake of the first subflow stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Client: MP_CAPABLE SYN sent, waiting for the SYN-ACK.
    AwaitSynAck,
    /// Server: MP_CAPABLE SYN-ACK sent, waiting for the keys in the third
    /// ACK (or in the first data).
    AwaitThirdAck,
    /// Keys exchanged on both sides.
    Established,
}

/// Our DATA_FIN (RFC 8684 §3.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFinTx {
    /// Not sent: the application still writes, or data is unsent.
    NotYet,
    /// Queued at this data sequence number, not yet acknowledged.
    Pending(DataSeq),
    /// Acknowledged by a DATA_ACK.
    Acked,
}

/// An address the peer announced with ADD_ADDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteAddr {
    /// Its address identifier.
    pub id: u8,
    /// Address and port (the connection's port when none was given).
    pub addr: SocketAddr,
}

/// An address we announce with ADD_ADDR (server `--signal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announce {
    /// Its address identifier.
    pub id: u8,
    /// The address.
    pub addr: IpAddr,
    /// The port, if not the connection's.
    pub port: Option<u16>,
    /// Whether the peer echoed it.
    pub echoed: bool,
    /// When it was last sent.
    pub sent_at: Option<Instant>,
    /// How many times it was sent.
    pub sends: u8,
}

/// The MPTCP state of a connection that negotiated (or is negotiating) it.
#[derive(Clone, Debug)]
pub struct MptcpConn {
    /// Negotiated (or offered) version.
    pub version: MptcpVersion,
    /// Our key, token and IDSN.
    pub local: KeyMaterial,
    /// The peer's, once known.
    pub remote: Option<KeyMaterial>,
    /// Whether DSS checksums are in use.
    pub checksum: bool,
    /// Handshake progress.
    pub phase: Phase,
    /// Client: the peer sent a DSS, so it has our key (RFC 8684 §3.1: stop
    /// repeating MP_CAPABLE). Server: true once the keys arrived.
    pub fully_established: bool,
    /// Client: the third ACK with both keys went out on its own segment
    /// (v0 has no MP_CAPABLE carrying data, so data waits for it).
    pub keys_sent: bool,
    /// Right edge of the peer's connection-level receive window (RFC 8684
    /// §3.3.4: DATA_ACK plus the window); never moves left.
    pub window_end: DataSeq,
    /// Whether `window_end` came from a DATA_ACK yet (until then, from the
    /// handshake's TCP window).
    pub window_from_data_ack: bool,
    /// Our DATA_FIN.
    pub data_fin: DataFinTx,
    /// Our entry in the token table.
    pub token: Option<TokenHandle>,
    /// Addresses the peer announced.
    pub remote_addrs: Vec<RemoteAddr>,
    /// Addresses we announce.
    pub announce: Vec<Announce>,
    /// ADD_ADDR echoes we owe the peer.
    pub echo_due: Vec<(u8, IpAddr, Option<u16>)>,
    /// Address ids the peer removed, to act on.
    pub removed: Vec<u8>,
    /// Ids of our addresses whose removal we have to announce with
    /// REMOVE_ADDR (RFC 8684 §3.4.2).
    pub remove_due: Vec<u8>,
    /// The peer fast-closed the connection.
    pub fast_closed: bool,
    /// A DSS checksum failed on the only subflow and we sent MP_FAIL for
    /// this data sequence number (RFC 8684 §3.7); what follows it is
    /// discarded until the peer's infinite mapping ends the connection's
    /// MPTCP life (see `dss::on_checksum_failure`).
    pub fail_sent: Option<DataSeq>,
    /// Client: the server's SYN-ACK set flag C: it accepts no subflows to
    /// its initial address and port, only to addresses it announces.
    pub no_join_to_source: bool,
    /// Server: our SYN-ACK set flag C ([`MptcpConfig::no_join_initial`]):
    /// joins to the first subflow's local address and port are refused.
    pub deny_join_initial: bool,
}

impl MptcpConn {
    /// A connection's MPTCP state before the handshake completes.
    pub fn new(
        version: MptcpVersion,
        local: KeyMaterial,
        checksum: bool,
        phase: Phase,
    ) -> MptcpConn {
        MptcpConn {
            version,
            local,
            remote: None,
            checksum,
            phase,
            fully_established: false,
            keys_sent: false,
            window_end: DataSeq(0),
            window_from_data_ack: false,
            data_fin: DataFinTx::NotYet,
            token: None,
            remote_addrs: Vec::new(),
            announce: Vec::new(),
            echo_due: Vec::new(),
            removed: Vec::new(),
            remove_due: Vec::new(),
            fast_closed: false,
            fail_sent: None,
            no_join_to_source: false,
            deny_join_initial: false,
        }
    }

    /// The peer's key, once known.
    pub fn remote_key(&self) -> Option<u64> {
        self.remote.map(|r| r.key)
    }

    /// The first data sequence number we send (our IDSN + 1).
    pub fn send_start(&self) -> DataSeq {
        DataSeq(self.local.idsn.wrapping_add(1))
    }

    /// The first data sequence number the peer sends (its IDSN + 1).
    pub fn recv_start(&self) -> Option<DataSeq> {
        self.remote.map(|r| DataSeq(r.idsn.wrapping_add(1)))
    }

    /// Whether DSS options are in use (both keys known).
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Established
    }

    /// Move the window's right edge to `end` if that is further right.
    pub fn advance_window(&mut self, end: DataSeq) {
        if end.gt(self.window_end) {
            self.window_end = end;
        }
    }

    /// The right edge a DATA_ACK gives. The first one is taken as it is:
    /// the handshake's window is a subflow's TCP window, which a peer (the
    /// Linux kernel with jumbo frames) may offer above what its connection
    /// takes; after that the edge only moves right (DATA_ACKs reordered
    /// across subflows carry older windows).
    pub fn window_from_ack(&mut self, end: DataSeq) {
        if self.window_from_data_ack {
            self.advance_window(end);
        } else {
            self.window_from_data_ack = true;
            self.window_end = end;
        }
    }
}

/// Why a connection runs as plain TCP after offering or accepting MPTCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FallbackReason {
    /// The SYN-ACK carried no (usable) MP_CAPABLE.
    NoCapableInSynAck,
    /// The third ACK carried no MP_CAPABLE.
    NoCapableInAck,
    /// Data arrived without a DSS mapping on the only subflow.
    MissingMapping,
    /// The peer sent an infinite mapping.
    InfiniteMapping,
    /// The peer sent MP_FAIL on the only subflow.
    PeerFail,
    /// Our data was acknowledged without a DATA_ACK (or any MPTCP
    /// option) on the first subflow: options do not pass (RFC 8684 §3.7).
    NoDataAck,
}

impl FallbackReason {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            FallbackReason::NoCapableInSynAck => "no MP_CAPABLE in SYN-ACK",
            FallbackReason::NoCapableInAck => "no MP_CAPABLE in third ACK",
            FallbackReason::MissingMapping => "data without DSS mapping",
            FallbackReason::InfiniteMapping => "infinite mapping received",
            FallbackReason::PeerFail => "MP_FAIL received",
            FallbackReason::NoDataAck => "data acknowledged without DATA_ACK",
        }
    }
}

/// How the data level maps onto subflows.
#[derive(Clone, Debug)]
pub enum Mode {
    /// MPTCP was never attempted: plain TCP.
    Plain,
    /// MPTCP is in use (or being negotiated).
    Mptcp(Box<MptcpConn>),
    /// MPTCP was offered or used and the connection fell back to TCP on
    /// its first subflow. Data-level numbers continue from `dsn_base`,
    /// which corresponds to `acked_base` bytes acknowledged on that
    /// subflow (a fallback after the handshake happens only while both
    /// streams ran one to one over the first subflow: `dsn_base` is then
    /// the stream's start and `acked_base` zero).
    Fallback {
        /// Why.
        reason: FallbackReason,
        /// Data sequence number at the fallback point.
        dsn_base: DataSeq,
        /// The subflow's acknowledged bytes at that point (taken at the
        /// first acknowledgment after it).
        acked_base: Option<u64>,
        /// The keys, if they were exchanged.
        keys: Option<(KeyMaterial, Option<KeyMaterial>)>,
        /// The version that was offered or negotiated.
        version: MptcpVersion,
        /// Signals still owed to the peer after falling back.
        owed: FallbackSignals,
        /// Where the peer's stream starts, if the data level had rebased on
        /// it (a fallback after the handshake): its bytes then map one to
        /// one onto the first subflow from there.
        recv_start: Option<DataSeq>,
    },
}

/// What a connection that fell back after the handshake still tells its
/// peer (RFC 8684 §3.7), on the first subflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FallbackSignals {
    /// An infinite mapping on the next data segment, so that a peer whose
    /// options did not reach us (or did) falls back too.
    pub infinite_map: bool,
    /// MP_FAIL with this data sequence number, the answer to the peer's
    /// MP_FAIL (RFC 8684 §3.7: the receiver of an MP_FAIL responds with
    /// one).
    pub fail_echo: Option<DataSeq>,
    /// Whether DSS checksums were in use (the infinite mapping then has a
    /// checksum field, zero).
    pub checksum: bool,
}

impl Mode {
    /// The MPTCP state, if in use.
    pub fn mptcp(&self) -> Option<&MptcpConn> {
        match self {
            Mode::Mptcp(m) => Some(m),
            _ => None,
        }
    }

    /// The MPTCP state, mutably.
    pub fn mptcp_mut(&mut self) -> Option<&mut MptcpConn> {
        match self {
            Mode::Mptcp(m) => Some(m),
            _ => None,
        }
    }

    /// Whether the data level is plain TCP (never MPTCP, or fallen back).
    pub fn is_tcp(&self) -> bool {
        !matches!(self, Mode::Mptcp(_))
    }
}
