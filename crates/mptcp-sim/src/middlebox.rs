//! Middleboxes: packet rewriters attached to one direction of a link.
//!
//! A middlebox sits at the entrance of a one-way link. The link applies its
//! middleboxes, in the order they were attached, to every packet it accepts
//! while up, before the MTU check and the queue (see [`LinkConfig`] for the
//! full order of stages). Observers therefore see the packet as the node sent
//! it in [`Observer::on_sent`] and as rewritten in
//! [`Observer::on_enqueued`] and [`Observer::on_delivered`]; a pcap capture on
//! the sending interface shows the original, one on the receiving interface
//! the rewritten packet. Middleboxes draw no randomness: the same packets give
//! the same rewrites.
//!
//! Attach one with [`LinkConfig::middlebox`] or
//! [`Simulator::add_middlebox`]; read what they did with
//! [`Simulator::middlebox_stats`].
//!
//! # Kinds
//! The only kind so far is [`Middlebox::StripMptcp`], the option-stripping
//! middlebox of RFC 8684 §3.7 that MPTCP must survive by falling back to
//! plain TCP.
//!
//! The enum is open for more kinds; [`Middlebox::apply`] takes the whole
//! packet buffer so that later kinds may change its length. Planned, not
//! built: a NAT (rewrites addresses and ports, and needs per-link state: it
//! would keep its translation table beside the link's runtime state, not in
//! the configuration), a payload rewriter (changes bytes or lengths of the
//! TCP payload, which MPTCP's DSS checksum detects) and segment
//! coalescing/splitting (which needs to hold packets back). A kind that drops
//! packets would also need its own [`DropReason`](crate::DropReason).
//!
//! [`LinkConfig`]: crate::LinkConfig
//! [`LinkConfig::middlebox`]: crate::LinkConfig::middlebox
//! [`Simulator::add_middlebox`]: crate::Simulator::add_middlebox
//! [`Simulator::middlebox_stats`]: crate::Simulator::middlebox_stats
//! [`Observer::on_sent`]: crate::Observer::on_sent
//! [`Observer::on_enqueued`]: crate::Observer::on_enqueued
//! [`Observer::on_delivered`]: crate::Observer::on_delivered

use mptcp_wire::Checksum;
use mptcp_wire::IpPacket;
use mptcp_wire::options::kind;

/// Offset of the checksum field in the TCP header.
const TCP_CHECKSUM_OFFSET: usize = 16;
/// Length of the TCP header without options.
const TCP_HEADER_LEN: usize = 20;

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
}

/// What the middleboxes of one link did, summed over all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    /// Option bytes replaced by NOPs.
    pub stripped_bytes: u64,
}

/// What one middlebox did to one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The packet was left as it was (not selected, nothing to rewrite, or
    /// not parsable).
    Unchanged,
    /// The packet was rewritten.
    Rewritten,
}

impl Middlebox {
    /// A [`Middlebox::StripMptcp`] for the segments `which` selects.
    pub fn strip_mptcp(which: StripWhich) -> Middlebox {
        Middlebox::StripMptcp { which }
    }

    /// Applies this middlebox to `packet` (a complete IPv4 or IPv6 packet),
    /// counting into `stats`. Deterministic: it depends only on the bytes.
    /// Takes the buffer itself so that later kinds may change the length.
    #[allow(clippy::ptr_arg)]
    pub fn apply(&self, packet: &mut Vec<u8>, stats: &mut MiddleboxStats) -> Verdict {
        match self {
            Middlebox::StripMptcp { which } => strip_mptcp(*which, packet, stats),
        }
    }
}

/// Where the parts of a TCP segment are inside its IP packet.
struct TcpLayout {
    /// Offset of the TCP header.
    start: usize,
    /// The options area, as offsets into the packet.
    options: core::ops::Range<usize>,
    /// Offsets and lengths of the MPTCP options.
    mptcp: Vec<(usize, usize)>,
    /// Whether the SYN flag is set.
    syn: bool,
    /// Whether the segment carries payload.
    payload: bool,
}

/// Locates the TCP header and its MPTCP options; `None` when the packet is
/// not a complete, unfragmented TCP segment with a well-framed options area.
fn tcp_layout(packet: &[u8]) -> Option<TcpLayout> {
    let ip = IpPacket::parse(packet).ok()?;
    if ip.is_truncated() {
        return None;
    }
    let tcp = ip.tcp().ok()?;
    let mut mptcp = Vec::new();
    for raw in tcp.options().raw() {
        let raw = raw.ok()?;
        if raw.kind() == kind::MPTCP {
            mptcp.push((raw.offset, raw.bytes.len()));
        }
    }
    let start = ip.payload_offset();
    Some(TcpLayout {
        start,
        options: start + TCP_HEADER_LEN..start + tcp.header_len(),
        mptcp,
        syn: tcp.flags().syn(),
        payload: !tcp.payload().is_empty(),
    })
}

/// The one's complement sum of `packet[range]` (empty when out of bounds).
fn sum(packet: &[u8], range: core::ops::Range<usize>) -> u16 {
    Checksum::new()
        .add_bytes(packet.get(range).unwrap_or_default())
        .sum()
}

fn strip_mptcp(which: StripWhich, packet: &mut [u8], stats: &mut MiddleboxStats) -> Verdict {
    let Some(layout) = tcp_layout(packet) else {
        stats.unparsed_packets += 1;
        return Verdict::Unchanged;
    };
    if !which.selects(layout.syn, layout.payload) || layout.mptcp.is_empty() {
        return Verdict::Unchanged;
    }
    // The options area starts 20 bytes into the TCP header, an even offset,
    // so its 16-bit sum lines up with the checksum's words.
    let old_sum = sum(packet, layout.options.clone());
    for &(at, len) in &layout.mptcp {
        if let Some(option) = packet.get_mut(at..at + len) {
            option.fill(kind::NOP);
            stats.stripped_bytes += len as u64;
        }
    }
    let new_sum = sum(packet, layout.options);
    let field = layout.start + TCP_CHECKSUM_OFFSET;
    if let Some(bytes) = packet.get_mut(field..field + 2) {
        // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
        let old = u16::from_be_bytes([bytes[0], bytes[1]]);
        let updated = Checksum::new()
            .add_u16(!old)
            .add_u16(!old_sum)
            .add_u16(new_sum)
            .finish();
        bytes.copy_from_slice(&updated.to_be_bytes());
    }
    stats.stripped_packets += 1;
    stats.stripped_options += layout.mptcp.len() as u64;
    Verdict::Rewritten
}
