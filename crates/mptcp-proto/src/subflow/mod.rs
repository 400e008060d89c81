//! One TCP connection (an MPTCP subflow): RFC 9293 with its companions.
//!
//! A subflow never looks at its siblings. What MPTCP needs from it comes
//! through [`SubflowOwner`], which the connection implements:
//! - every outgoing segment asks the owner for options (DSS mappings,
//!   DATA_ACKs, MP_CAPABLE, MP_JOIN, ...);
//! - every acceptable incoming segment is shown to the owner before its
//!   payload is delivered, so mappings are known when the data arrives;
//! - in-order payload goes straight to the owner (no subflow-level receive
//!   buffer; out-of-order data waits in the subflow's reassembly queue);
//! - the receive window is the owner's free space.
//!
//! Sending is late-bound: the owner pushes a chunk (one MPTCP mapping, cut
//! into segments here) at a time ([`Subflow::push`]) when
//! [`Subflow::send_space`] says the window has room, so a scheduler decides
//! at the last moment which subflow carries which bytes.

mod dsack;
mod hystart;
mod input;
mod output;
mod pacing;
pub mod rate;
mod recovery;
pub mod rtt;
pub mod rtx;
mod timers;
mod types;

#[cfg(test)]
mod tests;

use crate::congestion::{CcContext, CongestionControl, SubflowCcView};
use crate::reassembly::Reassembly;
use crate::segment::SegmentIn;
use crate::time::Instant;
use bytes::Bytes;
use mptcp_wire::{DataSeq, SubflowSeq};
use recovery::Recovery;
use rtt::RttEstimator;
use rtx::RtxQueue;
use std::collections::VecDeque;
use std::fmt;
use timers::{TimerKind, Timers};
pub use types::{
    CloseReason, FourTuple, InputVerdict, SegmentMeta, SubflowConfig, SubflowEvent, SubflowId,
    SubflowOwner, SubflowStats, SubflowView, TcpFeatures, TcpFeaturesError, TcpState, TxMapping,
};

/// A pending RST to send.
#[derive(Clone, Copy, Debug)]
struct RstPlan {
    seq: SubflowSeq,
    ack: Option<SubflowSeq>,
}

/// One TCP connection.
#[derive(Clone)]
pub struct Subflow {
    id: SubflowId,
    tuple: FourTuple,
    config: SubflowConfig,
    state: TcpState,
    iss: SubflowSeq,
    irs: SubflowSeq,
    snd: SendVars,
    rcv: RecvVars,
    ts: TsState,
    rtx: RtxQueue,
    rtt: RttEstimator,
    cc: Box<dyn CongestionControl>,
    timers: Timers,
    /// Another pure ACK an RTO after each one sent ([`Subflow::repeat_acks`]).
    repeat_acks: bool,
    ack: AckState,
    handshake: Handshake,
    /// The loss recovery episode under way, if any.
    recovery: Option<Recovery>,
    dupacks: u32,
    /// Consecutive RTO expirations without progress.
    rto_streak: u32,
    rst: Option<RstPlan>,
    /// The last `poll_transmit` held a segment back because the caller's
    /// buffer could not take it (see `Subflow::fits`).
    short_buffer: bool,
    /// The owner has data it would push if the peer's window allowed.
    send_pending: bool,
    /// Option bytes the owner adds to every data segment.
    option_reserve: u32,
    /// HyStart++ (RFC 9406) during the initial slow start.
    hystart: hystart::HyStart,
    /// Departures of data segments when the controller paces.
    pacer: pacing::Pacer,
    events: VecDeque<SubflowEvent>,
    stats: SubflowStats,
    sack_scratch: Vec<(u64, u64)>,
}

/// Send sequence variables (RFC 9293 §3.3.1).
#[derive(Clone, Copy, Debug)]
struct SendVars {
    una: SubflowSeq,
    nxt: SubflowSeq,
    /// The sequence number after the last byte queued (FIN included).
    queued_end: SubflowSeq,
    /// Peer window in bytes, scaled.
    wnd: u64,
    max_wnd: u64,
    wl1: SubflowSeq,
    wl2: SubflowSeq,
    /// Peer's window shift (applied to incoming windows).
    wscale: u8,
    /// MSS the peer announced.
    peer_mss: u16,
    /// Whether a FIN was queued.
    fin_queued: bool,
}

/// Receive sequence variables.
#[derive(Clone, Debug)]
struct RecvVars {
    nxt: SubflowSeq,
    /// Bytes of sequence space consumed since IRS + 1 (rcv.nxt as an offset).
    off: u64,
    /// Right edge of the largest window we advertised: data up to it is
    /// accepted.
    adv: SubflowSeq,
    /// Right edge of the window in the last segment we sent (below `adv`
    /// only when the window is the connection's and shrank here, see
    /// [`SubflowOwner::shared_window`]).
    told: SubflowSeq,
    /// Our window shift (applied to windows we send).
    wscale: u8,
    ofo: Reassembly,
    /// Offset at which an out-of-order FIN sits.
    fin_at: Option<u64>,
}

/// Timestamp option state (RFC 7323).
#[derive(Clone, Copy, Debug)]
struct TsState {
    enabled: bool,
    recent: u32,
    last_ack_sent: SubflowSeq,
    offset: u32,
}

/// Acknowledgment scheduling.
#[derive(Clone, Copy, Debug, Default)]
struct AckState {
    /// Segments received since the last ACK we sent.
    unacked_segments: u32,
    /// The acknowledgment owed, if any.
    due: AckDue,
    /// Send a segment with an old sequence number at the next opportunity
    /// (a zero-window probe or a keepalive). A segment of its own, so it
    /// may be owed beside `due` and `tlp`.
    probe: bool,
    /// Send a tail loss probe (the last segment again) at the next
    /// opportunity: also a segment of its own.
    tlp: bool,
    /// Tokens for challenge ACKs (RFC 5961 §7 rate limit).
    challenge_tokens: u32,
    challenge_refill: Option<Instant>,
    /// When we last answered an unacceptable pure ACK (see
    /// `Subflow::answer_invalid`).
    last_invalid_answer: Option<Instant>,
    /// A duplicate to report in the next ACK's first SACK block (RFC 2883).
    dsack: Option<(SubflowSeq, SubflowSeq)>,
}

impl AckState {
    /// Owe at least `due` (a pure ACK owed stays owed when any ACK is).
    fn raise(&mut self, due: AckDue) {
        self.due = self.due.max(due);
    }
}

/// The acknowledgment owed, each level including the one below: what a
/// segment sent satisfies is then one comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
enum AckDue {
    /// Nothing.
    #[default]
    None,
    /// An ACK at the next opportunity: any segment we send carries it.
    Ack,
    /// A pure ACK before any data at the next opportunity: it carries
    /// connection-level signals that do not fit beside a data mapping.
    Pure,
}

/// Handshake bookkeeping.
#[derive(Clone, Copy, Debug, Default)]
struct Handshake {
    /// A SYN or SYN-ACK must go out.
    due: bool,
    /// Transmissions so far.
    sent: u32,
    /// When the first one went out (for an RTT sample).
    first_sent: Option<Instant>,
    /// Whether SACK was negotiated.
    sack: bool,
    /// The owner closed before the handshake completed.
    close_requested: bool,
}

impl Subflow {
    /// Start an active open: the SYN goes out at the next poll.
    pub fn connect(
        id: SubflowId,
        tuple: FourTuple,
        iss: SubflowSeq,
        config: SubflowConfig,
    ) -> Subflow {
        let mut sf = Subflow::new(id, tuple, iss, config, TcpState::SynSent);
        sf.handshake.due = true;
        sf
    }

    /// Answer a SYN (passive open): the SYN-ACK goes out at the next poll.
    /// The caller has already decided to accept it.
    pub fn accept(
        id: SubflowId,
        tuple: FourTuple,
        iss: SubflowSeq,
        config: SubflowConfig,
        syn: &SegmentIn<'_>,
    ) -> Subflow {
        let mut sf = Subflow::new(id, tuple, iss, config, TcpState::SynReceived);
        sf.take_syn_options(syn);
        sf.irs = syn.seq;
        sf.rcv.nxt = syn.seq + 1;
        sf.rcv.adv = sf.rcv.nxt;
        sf.rcv.told = sf.rcv.nxt;
        sf.snd.wnd = u64::from(syn.window);
        sf.snd.wl1 = syn.seq;
        sf.handshake.due = true;
        sf
    }

    fn new(
        id: SubflowId,
        tuple: FourTuple,
        iss: SubflowSeq,
        config: SubflowConfig,
        state: TcpState,
    ) -> Subflow {
        let mss = u32::from(local_mss(&tuple, &config));
        let wscale = if config.window_scaling {
            window_shift(config.max_receive_window)
        } else {
            0
        };
        Subflow {
            id,
            tuple,
            config,
            state,
            iss,
            irs: SubflowSeq(0),
            snd: SendVars {
                una: iss,
                nxt: iss,
                queued_end: iss + 1,
                wnd: 0,
                max_wnd: 0,
                wl1: SubflowSeq(0),
                wl2: iss,
                wscale: 0,
                peer_mss: 536,
                fin_queued: false,
            },
            rcv: RecvVars {
                nxt: SubflowSeq(0),
                off: 0,
                adv: SubflowSeq(0),
                told: SubflowSeq(0),
                wscale,
                ofo: Reassembly::new(),
                fin_at: None,
            },
            ts: TsState {
                enabled: config.timestamps,
                recent: 0,
                last_ack_sent: SubflowSeq(0),
                offset: iss.0.rotate_left(13),
            },
            rtx: RtxQueue::new(),
            rtt: RttEstimator::new(config.rto),
            cc: config.cc.build(mss),
            timers: Timers::default(),
            repeat_acks: false,
            ack: AckState {
                challenge_tokens: CHALLENGE_ACKS_PER_SECOND,
                ..AckState::default()
            },
            handshake: Handshake {
                sack: config.sack,
                ..Handshake::default()
            },
            recovery: None,
            dupacks: 0,
            rto_streak: 0,
            rst: None,
            short_buffer: false,
            send_pending: false,
            option_reserve: 0,
            hystart: hystart::HyStart::default(),
            pacer: pacing::Pacer::default(),
            events: VecDeque::new(),
            stats: SubflowStats::default(),
            sack_scratch: Vec::new(),
        }
    }

    /// Which subflow this is.
    pub fn id(&self) -> SubflowId {
        self.id
    }

    /// Its addresses.
    pub fn tuple(&self) -> FourTuple {
        self.tuple
    }

    /// Current state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// A snapshot for hooks and observers.
    pub fn view(&self) -> SubflowView {
        SubflowView {
            id: self.id,
            tuple: self.tuple,
            iss: self.iss,
            irs: self.irs,
            state: self.state,
            rcv_nxt: self.rcv.nxt,
            snd_wscale: self.snd.wscale,
            snd_una: self.snd.una,
            payload_end: self.snd.queued_end - u32::from(self.snd.fin_queued),
        }
    }

    /// A passive open answered statelessly (a SYN cookie): the SYN-ACK is
    /// taken as sent, so that the ACK completing the handshake is awaited.
    pub fn assume_syn_ack_sent(&mut self) {
        self.handshake.due = false;
        self.handshake.sent = 1;
        self.snd.nxt = self.iss + 1;
    }

    /// The view the owner gets of this subflow.
    pub fn snapshot(&self) -> SubflowView {
        self.view()
    }

    /// The memory the out-of-order queue costs (see
    /// [`crate::reassembly::Reassembly::cost`]).
    pub fn ofo_cost(&self) -> u64 {
        self.rcv.ofo.cost()
    }

    /// The oldest unacknowledged sequence number (SND.UNA).
    pub fn snd_una(&self) -> SubflowSeq {
        self.snd.una
    }

    /// The next sequence number to send (SND.NXT).
    pub fn snd_nxt(&self) -> SubflowSeq {
        self.snd.nxt
    }

    /// The next sequence number expected (RCV.NXT).
    pub fn rcv_nxt(&self) -> SubflowSeq {
        self.rcv.nxt
    }

    /// Counters.
    pub fn stats(&self) -> &SubflowStats {
        &self.stats
    }

    /// The RTT estimator.
    pub fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// Congestion window in bytes.
    pub fn cwnd(&self) -> u64 {
        self.cc.cwnd()
    }

    /// The congestion controller.
    pub fn congestion(&self) -> &dyn CongestionControl {
        self.cc.as_ref()
    }

    /// Bytes in flight (RFC 6675 pipe).
    pub fn in_flight(&self) -> u64 {
        self.rtx.in_flight()
    }

    /// The peer's current window in bytes.
    pub fn peer_window(&self) -> u64 {
        self.snd.wnd
    }

    /// The unacknowledged and unsent segments.
    pub fn send_queue(&self) -> &RtxQueue {
        &self.rtx
    }

    /// Whether we are in loss recovery.
    pub fn in_recovery(&self) -> bool {
        self.recovery.is_some()
    }

    /// The view of this subflow a coupled controller gets.
    pub fn cc_view(&self, is_self: bool) -> SubflowCcView {
        SubflowCcView {
            cwnd: self.cc.cwnd(),
            srtt: self.rtt.srtt_or_initial(),
            mss: self.send_mss(),
            is_self,
            loss_interval: self.cc.loss_interval(),
        }
    }

    /// Whether a segment is still owed (a RST after an abort), so the
    /// subflow must not be dropped yet even though it is closed.
    pub fn has_pending_rst(&self) -> bool {
        self.rst.is_some()
    }

    /// Next event for the owner, if any.
    pub fn poll_event(&mut self) -> Option<SubflowEvent> {
        self.events.pop_front()
    }

    /// The earliest timer deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The MSS we announce: the interface MTU less IP and TCP headers.
    pub fn announced_mss(&self) -> u16 {
        local_mss(&self.tuple, &self.config)
    }

    /// The largest payload per segment, before the owner's per-segment
    /// options: min(our MSS, peer's MSS) less the timestamps option and,
    /// while we hold out-of-order data, room for SACK blocks (as Linux
    /// shrinks its current MSS), so that they fit within the MTU.
    pub fn send_mss(&self) -> u32 {
        let mss = self.announced_mss().min(self.snd.peer_mss);
        // Options are packed without padding between them (timestamps take
        // 10 bytes), and the whole area is padded to a multiple of four.
        let ts = if self.ts.enabled { 10 } else { 0 };
        let fixed = (ts + self.option_reserve + 3) & !3;
        // SACK blocks only when they can fit beside the fixed options.
        let sack = if self.handshake.sack && !self.rcv.ofo.is_empty() && fixed + SACK_RESERVE <= 40
        {
            SACK_RESERVE
        } else {
            0
        };
        u32::from(mss).saturating_sub(fixed + sack).max(64)
    }

    /// Option bytes a segment with `payload` bytes may carry without
    /// exceeding the interface MTU or what the peer's MSS allows (at most
    /// 40). RFC 9293 §3.7.1: the peer takes segments of its MSS plus the
    /// fixed IP and TCP headers; options come out of that.
    fn option_room(&self, payload: usize) -> usize {
        let headers = crate::segment::ip_header_len(self.tuple.local.ip()) + 20;
        let peer = usize::from(self.snd.peer_mss) + headers;
        usize::from(self.config.mtu)
            .min(peer)
            .saturating_sub(headers + payload)
            .min(40)
    }

    /// How many payload bytes the owner may push now: the congestion and
    /// peer windows' room less what is queued but unsent. Zero unless the
    /// subflow can carry data.
    pub fn send_space(&self) -> u64 {
        if !self.state.can_send() || self.snd.fin_queued {
            return 0;
        }
        let queued = self.rtx.unsent_bytes();
        let cwnd_room = self.cc.cwnd().saturating_sub(self.rtx.in_flight() + queued);
        // Everything queued from snd.una on must fit the peer's window.
        cwnd_room.min(self.window_room())
    }

    /// The subflow sequence number the next pushed byte will get.
    pub fn next_push_seq(&self) -> SubflowSeq {
        self.snd.queued_end
    }

    /// Queue a chunk of payload, tagged with its data sequence number and
    /// DSS checksum: one mapping (at most 65535 bytes with a data sequence
    /// number), cut into segments of [`Subflow::send_mss`] bytes, each of
    /// which (and each retransmission) carries the whole mapping to the
    /// owner's hook. Returns the subflow sequence number of its first byte.
    pub fn push(&mut self, data: Bytes, dsn: Option<DataSeq>, csum: Option<u16>) -> SubflowSeq {
        let start = self.snd.queued_end;
        let map = dsn.map(|dsn| {
            debug_assert!(
                data.len() <= usize::from(u16::MAX),
                "a mapping's length is 16 bits"
            );
            TxMapping {
                dsn,
                seq: start,
                len: data.len().min(usize::from(u16::MAX)) as u16,
                csum,
            }
        });
        let mss = self.send_mss() as usize;
        let mut rest = data;
        let mut offset = 0u64;
        loop {
            let piece = rest.split_to(rest.len().min(mss));
            let (seq, len) = (self.snd.queued_end, piece.len());
            self.snd.queued_end += len as u32;
            self.rtx
                .push(seq, piece, dsn.map(|d| d + offset), map, false);
            offset += len as u64;
            if rest.is_empty() {
                break;
            }
        }
        start
    }

    /// The owner has no data for this subflow (its application wrote
    /// nothing more yet): if nothing is queued here either and the window
    /// has room, the delivery rate samples of the next round trip are
    /// application-limited (draft-ietf-ccwg-bbr §4.1.2.4). Call before new
    /// data is written.
    pub fn on_owner_idle(&mut self) {
        let cwnd = self.cc.cwnd();
        self.rtx.check_app_limited(cwnd, false);
    }

    /// Option bytes the owner adds to every data segment (e.g. a DSS
    /// mapping); [`Subflow::send_mss`] leaves room for them.
    pub fn set_option_reserve(&mut self, bytes: u32) {
        if self.option_reserve == bytes {
            return;
        }
        self.option_reserve = bytes;
        // The controller counts in the segments that really go out (a
        // server learns its reserve only after the handshake).
        if self.state.is_synchronized() {
            let mss = self.send_mss();
            self.cc.set_mss(mss);
        }
    }

    /// Tell the subflow whether the owner has data waiting for window space,
    /// so that a closed peer window is probed (RFC 9293 §3.8.6.1) even
    /// though nothing is queued here.
    pub fn set_send_pending(&mut self, pending: bool) {
        self.send_pending = pending;
    }

    /// Room in the peer's window beyond everything queued.
    fn window_room(&self) -> u64 {
        let queued_span = (self.snd.queued_end - self.snd.una).max(0) as u64;
        self.snd.wnd.saturating_sub(queued_span)
    }

    /// Close our sending direction: a FIN follows the queued data. During
    /// the handshake the FIN waits for it to complete (RFC 9293 §3.10.4:
    /// "queue for processing after entering ESTABLISHED"); use
    /// [`Subflow::abort`] to give up a connection attempt.
    pub fn close(&mut self) {
        let next = match self.state {
            TcpState::Established => TcpState::FinWait1,
            TcpState::CloseWait => TcpState::LastAck,
            TcpState::SynSent | TcpState::SynReceived => {
                self.handshake.close_requested = true;
                return;
            }
            _ => return,
        };
        self.state = next;
        self.queue_fin();
    }

    fn queue_fin(&mut self) {
        if self.snd.fin_queued {
            return;
        }
        self.snd.fin_queued = true;
        if !self.rtx.piggyback_fin() {
            self.rtx
                .push(self.snd.queued_end, Bytes::new(), None, None, true);
        }
        self.snd.queued_end += 1;
    }

    /// Abort: send a RST and close at once.
    pub fn abort(&mut self) {
        if matches!(self.state, TcpState::Closed) {
            return;
        }
        if !matches!(self.state, TcpState::SynSent) {
            self.rst = Some(RstPlan {
                seq: self.snd.nxt,
                ack: Some(self.rcv.nxt),
            });
        }
        self.enter_closed(CloseReason::Aborted);
    }

    /// Ask for an ACK at the next poll (e.g. a window update, or to carry
    /// connection-level signals).
    pub fn request_ack(&mut self) {
        if self.state.is_synchronized() {
            self.ack.raise(AckDue::Ack);
        }
    }

    /// While `on`, an RTO after each pure ACK sent another one is sent
    /// (RFC 8684 §3.2: the third ACK of an MP_JOIN is repeated until the
    /// peer acknowledges it; the owner turns this off then). A subflow
    /// timer, stopped when turned off.
    pub fn repeat_acks(&mut self, on: bool) {
        self.repeat_acks = on;
        if !on {
            self.timers.cancel(TimerKind::AckRepeat);
        }
    }

    /// Ask for a pure ACK ahead of any queued data at the next poll: the
    /// owner has options to send that a full data segment leaves no room
    /// for (an ADD_ADDR or its echo).
    pub fn request_pure_ack(&mut self) {
        if self.state.is_synchronized() {
            self.ack.raise(AckDue::Pure);
        }
    }

    /// Send a keepalive at the next poll (RFC 9293 §3.8.4: a segment with
    /// an old sequence number, which the peer must acknowledge).
    pub fn request_keepalive(&mut self) {
        if self.state.is_synchronized() {
            self.ack.probe = true;
        }
    }

    /// Ask for a zero-window probe at the next poll.
    pub fn request_probe(&mut self) {
        if self.state.is_synchronized() {
            self.ack.probe = true;
        }
    }

    /// The owner's free space grew: send a window update if the window we
    /// could advertise now opens by at least two segments or from zero
    /// (receiver-side silly window avoidance, RFC 9293 §3.8.6.2.2).
    pub fn on_receive_space(&mut self, space: u64) {
        if !self.state.can_receive() {
            return;
        }
        let advertised = (self.rcv.told - self.rcv.nxt).max(0) as u64;
        let possible = self.scaled_window_limit().min(space);
        let step = 2 * u64::from(self.send_mss());
        if possible >= advertised + step || (advertised == 0 && possible > 0) {
            self.ack.raise(AckDue::Ack);
        }
    }

    /// How far past RCV.NXT incoming data is taken: our largest advertised
    /// edge, or with a shared window the connection's bound if larger.
    fn accept_window<O: SubflowOwner>(&self, owner: &O) -> u32 {
        let adv = (self.rcv.adv - self.rcv.nxt).max(0) as u32;
        let shared = owner.shared_window().unwrap_or(0).min(i32::MAX as u64) as u32;
        adv.max(shared)
    }

    fn scaled_window_limit(&self) -> u64 {
        u64::from(u16::MAX) << self.rcv.wscale
    }

    fn cc_context<'a>(&self, siblings: &'a [SubflowCcView]) -> CcContext<'a> {
        CcContext {
            mss: self.send_mss(),
            srtt: self.rtt.srtt(),
            min_rtt: self.rtt.min_rtt(),
            siblings,
        }
    }

    fn enter_closed(&mut self, reason: CloseReason) {
        if self.state == TcpState::Closed {
            return;
        }
        self.state = TcpState::Closed;
        self.timers.clear_all();
        self.events.push_back(SubflowEvent::Closed(reason));
    }

    fn take_syn_options(&mut self, syn: &SegmentIn<'_>) {
        if let Some(mss) = syn.mss {
            self.snd.peer_mss = mss.max(64);
        }
        match (syn.wscale, self.config.window_scaling) {
            // RFC 7323 §2.3: shifts above 14 are used as 14.
            (Some(shift), true) => self.snd.wscale = shift.min(14),
            _ => self.rcv.wscale = 0,
        }
        self.handshake.sack = self.config.sack && syn.sack_permitted;
        self.ts.enabled = self.config.timestamps && syn.timestamps.is_some();
        if let Some(ts) = syn.timestamps {
            self.ts.recent = ts.tsval;
        }
        let mss = self.send_mss();
        self.cc.set_mss(mss);
    }

    fn arm(&mut self, kind: TimerKind, at: Instant) {
        self.timers.set(kind, at);
    }
}

/// The MSS a subflow on `tuple` with `config` announces.
pub fn announced_mss(tuple: &FourTuple, config: &SubflowConfig) -> u16 {
    local_mss(tuple, config)
}

/// The timestamp clock of a subflow whose ISS is `iss`: milliseconds plus
/// an offset drawn from the ISS (so a stateless SYN-ACK and the subflow
/// built later from its cookie agree).
pub fn ts_clock(iss: SubflowSeq, now: Instant) -> u32 {
    iss.0
        .rotate_left(13)
        .wrapping_add((now.as_micros() / 1000) as u32)
}

/// The MSS we announce: the interface MTU less the IP header and 20 bytes
/// of TCP, or the configured clamp if smaller.
fn local_mss(tuple: &FourTuple, config: &SubflowConfig) -> u16 {
    let ip = crate::segment::ip_header_len(tuple.local.ip()) as u16;
    let mss = config.mtu.saturating_sub(ip + 20);
    config.mss.map_or(mss, |m| mss.min(m)).max(88)
}

/// The smallest shift that lets a 16-bit window express `max` bytes.
pub fn window_shift(max: u64) -> u8 {
    let mut shift = 0u8;
    while shift < 14 && (u64::from(u16::MAX) << shift) < max {
        shift += 1;
    }
    shift
}

/// Payload bytes kept free for SACK blocks while holes exist: three blocks
/// (2 + 3 * 8 bytes, padded to 28).
const SACK_RESERVE: u32 = 28;

/// The least time between two answers to unacceptable pure ACKs.
const INVALID_ANSWER_INTERVAL: crate::time::Duration = crate::time::Duration::from_millis(500);

/// RFC 5961 §7: at most this many challenge ACKs per second.
const CHALLENGE_ACKS_PER_SECOND: u32 = 10;

impl fmt::Debug for Subflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subflow")
            .field("id", &self.id)
            .field("tuple", &self.tuple)
            .field("state", &self.state)
            .field("snd_una", &self.snd.una)
            .field("snd_nxt", &self.snd.nxt)
            .field("rcv_nxt", &self.rcv.nxt)
            .field("cwnd", &self.cc.cwnd())
            .field("in_flight", &self.rtx.in_flight())
            .field("recovery", &self.recovery)
            .finish()
    }
}
