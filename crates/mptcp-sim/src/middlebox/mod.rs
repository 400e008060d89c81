//! Middleboxes: packet rewriters attached to one direction of a link, and
//! NATs shared by both directions of a path.
//!
//! A middlebox sits at the entrance of a one-way link. The link applies its
//! middleboxes, in the order they were attached, to every packet it accepts
//! while up, before the MTU check and the queue (see [`LinkConfig`] for the
//! full order of stages). Each middlebox turns one packet into zero or more
//! (a splitter emits two, a coalescer holds packets back and releases them
//! later); what one emits goes through the next. Observers therefore see
//! the packet as the node sent it in [`Observer::on_sent`] and as rewritten
//! in [`Observer::on_enqueued`] and [`Observer::on_delivered`]; a pcap
//! capture on the sending interface shows the original, one on the
//! receiving interface the rewritten packet. Middleboxes draw no randomness:
//! the same packets at the same times give the same rewrites.
//!
//! Attach one with [`LinkConfig::middlebox`] or
//! [`Simulator::add_middlebox`]; read what they did with
//! [`Simulator::middlebox_stats`]. A [`Nat`] needs one table for both
//! directions of a path and is attached with [`Simulator::add_nat`]; it
//! translates before the link's middleboxes run.
//!
//! # Kinds
//! - [`Middlebox::StripMptcp`]: the option-stripping middlebox of RFC 8684
//!   §3.7 that MPTCP must survive by falling back to plain TCP.
//! - [`Middlebox::StripSynOption`]: removes timestamps, SACK-permitted or
//!   window scale from SYNs and SYN-ACKs (firewalls that "normalize" TCP).
//! - [`Middlebox::Rewrite`]: changes a payload byte of data segments and
//!   fixes the TCP checksum (an application-level gateway); the DSS checksum
//!   must catch it.
//! - [`Middlebox::Split`]: cuts data segments in two, both carrying the
//!   original options (TSO, re-segmenting proxies).
//! - [`Middlebox::Coalesce`]: merges consecutive segments of a flow (GRO,
//!   LRO), keeping the first segment's options.
//! - [`Nat`]: address and port translation (RFC 3022), with its own
//!   [`DropReason::Middlebox`](crate::DropReason::Middlebox) for inbound
//!   packets without a mapping.
//!
//! The scenario layer names them on the command line with [`MiddleboxSpec`].
//!
//! [`LinkConfig`]: crate::LinkConfig
//! [`LinkConfig::middlebox`]: crate::LinkConfig::middlebox
//! [`Simulator::add_middlebox`]: crate::Simulator::add_middlebox
//! [`Simulator::add_nat`]: crate::Simulator::add_nat
//! [`Simulator::middlebox_stats`]: crate::Simulator::middlebox_stats
//! [`Observer::on_sent`]: crate::Observer::on_sent
//! [`Observer::on_enqueued`]: crate::Observer::on_enqueued
//! [`Observer::on_delivered`]: crate::Observer::on_delivered

mod coalesce;
mod nat;
mod rewrite;
mod segment;
mod spec;
mod split;
mod strip;

pub use nat::{Nat, NatSide, NatVerdict};
pub use spec::{MiddleboxKind, MiddleboxSpec, PathDirection, SpecParseError};

use mptcp_proto::time::{Duration, Instant};
use mptcp_wire::options::kind;
use serde::Serialize;

/// A packet rewriter on one direction of a link.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Middlebox {
    /// Replaces every MPTCP option (TCP option kind 30) of the selected TCP
    /// segments by NOP bytes (kind 1), in place: the TCP header length, the
    /// IP header and the payload stay the same, and the TCP checksum is
    /// updated (incrementally, RFC 1624 eqn. 3, so a segment whose checksum
    /// was correct stays correct and a corrupt one stays corrupt). Packets
    /// that are not TCP, are IP fragments, are cut short, or whose options
    /// area does not parse pass unchanged.
    StripMptcp {
        /// Which segments lose their MPTCP options.
        which: StripWhich,
    },
    /// Replaces one negotiation option of every segment with the SYN flag
    /// (SYNs and SYN-ACKs) by NOPs, in place, with the same incremental
    /// checksum update. Later segments keep whatever they carry: stripping
    /// timestamps from the SYN makes both ends agree not to use them,
    /// stripping them from the SYN-ACK only leaves the server using them
    /// and the client not.
    StripSynOption {
        /// The option removed.
        option: SynOption,
    },
    /// Changes one byte of every `every`-th data segment (a payload of at
    /// least 257 bytes, no SYN, no RST) the link carries, counting from the
    /// link's first one, and updates the TCP checksum incrementally: the
    /// length stays and TCP cannot tell. The byte, the first below 0xff
    /// from the middle of the payload on, is incremented, so that changes
    /// in one DSS mapping never cancel out in its checksum (see the
    /// rewriter's module). `every` = 1 changes every data segment.
    Rewrite {
        /// One data segment in `every` is changed (0 counts as 1).
        every: u32,
    },
    /// Cuts every data segment with at least two payload bytes and a
    /// correct checksum in two: the first carries the first half of the
    /// payload (rounded down), the second the rest at the matching sequence
    /// number. Both keep the original TCP header and options, the DSS
    /// included (RFC 8684 §3.3: mappings survive re-segmentation); FIN and
    /// PSH stay on the second only, whose IPv4 identification is the
    /// original's plus one; IP lengths and both checksums are recomputed.
    Split,
    /// Merges consecutive in-order data segments of one 4-tuple into one of
    /// at most the link MTU, holding a segment back for at most `hold` (or
    /// until a packet arrives that does not merge). The merged segment keeps
    /// the first one's header and options.
    Coalesce {
        /// Which segments merge.
        mode: CoalesceMode,
        /// The longest a segment is held back.
        hold: Duration,
    },
}

/// The segments a [`Middlebox::StripMptcp`] rewrites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StripWhich {
    /// Segments with the SYN flag: SYNs and SYN-ACKs (MP_CAPABLE and
    /// MP_JOIN negotiation is lost, connections fall back to TCP or joins
    /// fail).
    Syn,
    /// Every segment without the SYN flag: data, ACKs, FINs, RSTs (the
    /// handshake succeeds, then DSS, ADD_ADDR and the rest vanish).
    NonSyn,
    /// Every TCP segment.
    All,
    /// Segments carrying payload (the handshakes and pure ACKs keep their
    /// options; the DSS mappings of data vanish).
    Data,
}

impl StripWhich {
    /// Whether a segment with (`syn`) or without the SYN flag, carrying
    /// payload or not, is selected.
    pub fn selects(self, syn: bool, payload: bool) -> bool {
        match self {
            StripWhich::Syn => syn,
            StripWhich::NonSyn => !syn,
            StripWhich::All => true,
            StripWhich::Data => payload,
        }
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            StripWhich::Syn => "syn",
            StripWhich::NonSyn => "nonsyn",
            StripWhich::Data => "data",
            StripWhich::All => "all",
        }
    }

    /// Parse a command-line name.
    pub fn from_name(s: &str) -> Option<StripWhich> {
        [
            StripWhich::Syn,
            StripWhich::NonSyn,
            StripWhich::Data,
            StripWhich::All,
        ]
        .into_iter()
        .find(|w| w.name() == s)
    }
}

/// A TCP option negotiated on the SYN and SYN-ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SynOption {
    /// Timestamps (kind 8, RFC 7323).
    Timestamps,
    /// SACK-permitted (kind 4, RFC 2018).
    SackPermitted,
    /// Window scale (kind 3, RFC 7323).
    WindowScale,
}

impl SynOption {
    /// The TCP option kind.
    pub fn kind(self) -> u8 {
        match self {
            SynOption::Timestamps => kind::TIMESTAMPS,
            SynOption::SackPermitted => kind::SACK_PERMITTED,
            SynOption::WindowScale => kind::WINDOW_SCALE,
        }
    }
}

/// How a [`Middlebox::Coalesce`] chooses what to merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CoalesceMode {
    /// Like Linux GRO (`tcp_gro_receive`): segments merge only when their
    /// ACK number, window and flags (apart from PSH, FIN, CWR) are equal and
    /// their options are identical byte for byte apart from the timestamp
    /// values; a segment with PSH or FIN ends the merge. MPTCP segments
    /// cut from one mapping carry identical DSS options and merge; segments
    /// with different mappings do not, so no mapping is lost.
    Gro,
    /// Like the cruder LRO of older NIC drivers: any in-order data
    /// segments of the 4-tuple merge whatever their options; the merged
    /// segment keeps the first one's options (a later segment's DSS
    /// mapping is lost for its bytes) and takes the last one's ACK number
    /// and window; a FIN ends the merge.
    Lro,
}

/// What the middleboxes of one link did, summed over all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MiddleboxStats {
    /// Packets the link handed to its middleboxes (once per packet, however
    /// many middleboxes the link has).
    pub inspected_packets: u64,
    /// Packets a middlebox passed unchanged because they are not TCP or do not
    /// parse (counted once per middlebox).
    pub unparsed_packets: u64,
    /// Packets that lost at least one MPTCP option to a
    /// [`Middlebox::StripMptcp`].
    pub stripped_packets: u64,
    /// MPTCP options replaced by NOPs.
    pub stripped_options: u64,
    /// MPTCP option bytes replaced by NOPs.
    pub stripped_bytes: u64,
    /// Options a [`Middlebox::StripSynOption`] removed.
    pub syn_options_stripped: u64,
    /// Data segments a [`Middlebox::Rewrite`] changed.
    pub rewritten_segments: u64,
    /// Data segments a [`Middlebox::Split`] cut in two.
    pub split_segments: u64,
    /// Segments a [`Middlebox::Coalesce`] merged into an earlier one.
    pub coalesced_segments: u64,
    /// Packets a [`Nat`] translated.
    pub nat_translated: u64,
    /// Mappings a [`Nat`] created.
    pub nat_mappings: u64,
    /// Inbound packets a [`Nat`] dropped for want of a mapping.
    pub nat_dropped: u64,
}

impl MiddleboxStats {
    /// Every counter with its field name, in declaration order.
    pub fn counters(&self) -> [(&'static str, u64); 12] {
        [
            ("inspected_packets", self.inspected_packets),
            ("unparsed_packets", self.unparsed_packets),
            ("stripped_packets", self.stripped_packets),
            ("stripped_options", self.stripped_options),
            ("stripped_bytes", self.stripped_bytes),
            ("syn_options_stripped", self.syn_options_stripped),
            ("rewritten_segments", self.rewritten_segments),
            ("split_segments", self.split_segments),
            ("coalesced_segments", self.coalesced_segments),
            ("nat_translated", self.nat_translated),
            ("nat_mappings", self.nat_mappings),
            ("nat_dropped", self.nat_dropped),
        ]
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &MiddleboxStats) {
        let MiddleboxStats {
            inspected_packets,
            unparsed_packets,
            stripped_packets,
            stripped_options,
            stripped_bytes,
            syn_options_stripped,
            rewritten_segments,
            split_segments,
            coalesced_segments,
            nat_translated,
            nat_mappings,
            nat_dropped,
        } = other;
        self.inspected_packets += inspected_packets;
        self.unparsed_packets += unparsed_packets;
        self.stripped_packets += stripped_packets;
        self.stripped_options += stripped_options;
        self.stripped_bytes += stripped_bytes;
        self.syn_options_stripped += syn_options_stripped;
        self.rewritten_segments += rewritten_segments;
        self.split_segments += split_segments;
        self.coalesced_segments += coalesced_segments;
        self.nat_translated += nat_translated;
        self.nat_mappings += nat_mappings;
        self.nat_dropped += nat_dropped;
    }
}

/// What one middlebox did to one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The packet was passed as it was (not selected, nothing to rewrite, or
    /// not parsable).
    Unchanged,
    /// The packet was rewritten and passed.
    Rewritten,
    /// The packet was passed as two.
    Split,
    /// The packet was kept back, alone or merged into one held before.
    Held,
}

/// The runtime state of one middlebox, kept by its link beside the
/// configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MiddleboxState {
    /// Data segments seen (by [`Middlebox::Rewrite`]).
    data_segments: u64,
    /// The segment a [`Middlebox::Coalesce`] holds.
    held: Option<coalesce::Held>,
}

impl MiddleboxState {
    /// When the held packet, if any, must be released.
    pub fn deadline(&self) -> Option<Instant> {
        self.held.as_ref().map(|h| h.deadline)
    }

    /// Takes the held packet, if any (the link went down).
    pub fn take_held(&mut self) -> Option<Vec<u8>> {
        self.held.take().map(|h| h.packet)
    }
}

/// What a middlebox knows of its surroundings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ctx {
    /// The current time.
    pub now: Instant,
    /// The link's MTU (the largest packet a coalescer builds).
    pub mtu: usize,
}

impl Middlebox {
    /// A [`Middlebox::StripMptcp`] for the segments `which` selects.
    pub fn strip_mptcp(which: StripWhich) -> Middlebox {
        Middlebox::StripMptcp { which }
    }

    /// A [`Middlebox::Coalesce`] holding segments at most
    /// [`Middlebox::DEFAULT_HOLD`].
    pub fn coalesce(mode: CoalesceMode) -> Middlebox {
        Middlebox::Coalesce {
            mode,
            hold: Middlebox::DEFAULT_HOLD,
        }
    }

    /// The hold time of [`Middlebox::coalesce`]: 200 µs, an interrupt
    /// coalescing delay of a network card.
    pub const DEFAULT_HOLD: Duration = Duration::from_micros(200);

    /// Applies this middlebox to `packet` (a complete IPv4 or IPv6 packet),
    /// pushing what it lets through (zero, one or more packets, in order)
    /// onto `out` and counting into `stats`. Deterministic: it depends only
    /// on the packets and times it was given.
    pub fn apply(
        &self,
        state: &mut MiddleboxState,
        ctx: Ctx,
        mut packet: Vec<u8>,
        out: &mut Vec<Vec<u8>>,
        stats: &mut MiddleboxStats,
    ) -> Verdict {
        let verdict = match self {
            Middlebox::StripMptcp { which } => strip::strip_mptcp(*which, &mut packet, stats),
            Middlebox::StripSynOption { option } => {
                strip::strip_syn_option(*option, &mut packet, stats)
            }
            Middlebox::Rewrite { every } => rewrite::rewrite(*every, state, &mut packet, stats),
            Middlebox::Split => return split::split(packet, out, stats),
            Middlebox::Coalesce { mode, hold } => {
                return coalesce::coalesce(*mode, *hold, state, ctx, packet, out, stats);
            }
        };
        out.push(packet);
        verdict
    }

    /// Releases what this middlebox holds whose time is over at `now`
    /// onto `out`.
    pub fn release_due(&self, state: &mut MiddleboxState, now: Instant, out: &mut Vec<Vec<u8>>) {
        if let Middlebox::Coalesce { .. } = self {
            coalesce::release_due(state, now, out);
        }
    }
}
