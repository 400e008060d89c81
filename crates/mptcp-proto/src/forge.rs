//! Crafted segments on a live 4-tuple, as an on-path attacker (or a
//! middlebox) would make them: the security tests and the endpoint fuzz
//! target share it.
//!
//! An [`Observer`] is shown every packet on the wire and keeps, per
//! direction of each 4-tuple, the furthest sequence number sent and the
//! furthest acknowledgment; [`Observer::next`] turns that into the header of
//! the segment the sender would send next, which a test or a fuzz input then
//! varies. [`segment`] and [`segment_raw_options`] emit it, the latter with
//! option bytes taken as they are (malformed lengths included).
//!
//! ```
//! use mptcp_proto::forge::{Observer, segment};
//! use mptcp_wire::{SubflowSeq, TcpFlags, TcpRepr};
//! let (a, b) = ("192.0.2.1:4000".parse().unwrap(), "192.0.2.2:80".parse().unwrap());
//! let repr = |src_port, dst_port, seq, ack| TcpRepr {
//!     src_port, dst_port, seq: SubflowSeq(seq), ack: SubflowSeq(ack),
//!     flags: TcpFlags::ACK, window: 100, urgent: 0,
//! };
//! let mut wire = Observer::default();
//! wire.observe(&segment(a, b, &repr(4000, 80, 1000, 5), &[], b"hello").unwrap());
//! wire.observe(&segment(b, a, &repr(80, 4000, 5, 1005), &[], b"").unwrap());
//! // What A would send next: in sequence, acknowledging B.
//! let next = wire.next(a, b).unwrap();
//! assert_eq!((next.seq, next.ack), (SubflowSeq(1005), SubflowSeq(5)));
//! ```

use crate::segment::emit_ip_tcp;
use mptcp_wire::checksum::pseudo_header;
use mptcp_wire::{EmitError, IpPacket, SubflowSeq, TcpFlags, TcpOption, TcpRepr};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The most option bytes a TCP header holds.
pub const MAX_OPTION_BYTES: usize = 40;

/// What was seen one way on a 4-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The sequence number just past the furthest data (or SYN/FIN) sent.
    pub next_seq: SubflowSeq,
    /// The furthest acknowledgment sent (meaningful once `acked`).
    pub ack: SubflowSeq,
    /// Whether an ACK-flagged segment was seen.
    pub acked: bool,
    /// The last window advertised (unscaled, as on the wire).
    pub window: u16,
}

/// The furthest sequence and acknowledgment numbers seen each way on each
/// 4-tuple (source, destination). Retransmissions and reordering never move
/// them back.
#[derive(Clone, Debug, Default)]
pub struct Observer {
    seen: HashMap<(SocketAddr, SocketAddr), Seen>,
}

impl Observer {
    /// Account one packet from the wire; anything that is not an IP/TCP
    /// packet is ignored.
    pub fn observe(&mut self, pkt: &[u8]) {
        let Ok(ip) = IpPacket::parse(pkt) else { return };
        let Ok(tcp) = ip.tcp() else { return };
        let flags = tcp.flags();
        let len = tcp.payload().len() as u32 + u32::from(flags.syn()) + u32::from(flags.fin());
        let end = tcp.seq() + len;
        let key = (
            SocketAddr::new(ip.src(), tcp.src_port()),
            SocketAddr::new(ip.dst(), tcp.dst_port()),
        );
        let e = self.seen.entry(key).or_insert(Seen {
            next_seq: end,
            ack: tcp.ack(),
            acked: false,
            window: tcp.window(),
        });
        if end.gt(e.next_seq) {
            e.next_seq = end;
        }
        if flags.ack() && (!e.acked || tcp.ack().gt(e.ack)) {
            e.ack = tcp.ack();
            e.acked = true;
        }
        e.window = tcp.window();
    }

    /// What was seen from `from` to `to`.
    pub fn seen(&self, from: SocketAddr, to: SocketAddr) -> Option<Seen> {
        self.seen.get(&(from, to)).copied()
    }

    /// Every 4-tuple (source, destination) seen.
    pub fn tuples(&self) -> impl Iterator<Item = (SocketAddr, SocketAddr)> + '_ {
        self.seen.keys().copied()
    }

    /// The header of the segment `from` would send `to` next: in sequence,
    /// acknowledging everything the other way, flags ACK, the last window.
    /// `None` until both directions were seen.
    pub fn next(&self, from: SocketAddr, to: SocketAddr) -> Option<TcpRepr> {
        let out = self.seen(from, to)?;
        let back = self.seen(to, from)?;
        Some(TcpRepr {
            src_port: from.port(),
            dst_port: to.port(),
            seq: out.next_seq,
            ack: back.next_seq,
            flags: TcpFlags::ACK,
            window: out.window,
            urgent: 0,
        })
    }
}

/// An IP packet from `from` to `to` carrying `repr`, `options` and
/// `payload`, with correct checksums.
pub fn segment(
    from: SocketAddr,
    to: SocketAddr,
    repr: &TcpRepr,
    options: &[TcpOption<'_>],
    payload: &[u8],
) -> Result<Vec<u8>, EmitError> {
    let mut buf = vec![0u8; 60 + 60 + payload.len()];
    let n = emit_ip_tcp(from, to, repr, options, payload, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// As [`segment`], with the option area made of `raw` as it is (at most
/// [`MAX_OPTION_BYTES`], the rest cut; zero-padded to a multiple of four),
/// so that malformed options reach the receiver's parser.
pub fn segment_raw_options(
    from: SocketAddr,
    to: SocketAddr,
    repr: &TcpRepr,
    raw: &[u8],
    payload: &[u8],
) -> Result<Vec<u8>, EmitError> {
    let raw = &raw[..raw.len().min(MAX_OPTION_BYTES)];
    let area = raw.len().div_ceil(4) * 4;
    if area == 0 {
        return segment(from, to, repr, &[], payload);
    }
    // An unknown option of the area's size holds the place.
    let filler = [0u8; MAX_OPTION_BYTES];
    let placeholder = [TcpOption::Unknown {
        kind: 253,
        data: &filler[..area - 2],
    }];
    let mut pkt = segment(from, to, repr, &placeholder, payload)?;
    let bad = |what| EmitError::BadValue { what, value: 0 };
    let tcp_at = IpPacket::parse(&pkt)
        .map_err(|_| bad("IP packet"))?
        .payload_offset();
    let opts = tcp_at + 20;
    pkt[opts..opts + area].fill(0);
    pkt[opts..opts + raw.len()].copy_from_slice(raw);
    pkt[tcp_at + 16..tcp_at + 18].fill(0);
    let sum = pseudo_header(from.ip(), to.ip(), 6, pkt.len() - tcp_at)
        .ok_or(bad("address family"))?
        .add_bytes(&pkt[tcp_at..])
        .finish();
    pkt[tcp_at + 16..tcp_at + 18].copy_from_slice(&sum.to_be_bytes());
    Ok(pkt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mptcp_wire::IpPacket;

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "192.0.2.1:4000".parse().expect("a"),
            "192.0.2.2:80".parse().expect("b"),
        )
    }

    fn repr(seq: u32, ack: u32, flags: TcpFlags) -> TcpRepr {
        TcpRepr {
            src_port: 4000,
            dst_port: 80,
            seq: SubflowSeq(seq),
            ack: SubflowSeq(ack),
            flags,
            window: 512,
            urgent: 0,
        }
    }

    #[test]
    fn the_observer_keeps_the_furthest_numbers_and_ignores_older_ones() {
        let (a, b) = addrs();
        let mut o = Observer::default();
        let back = |seq, ack| {
            let mut r = repr(seq, ack, TcpFlags::ACK);
            (r.src_port, r.dst_port) = (80, 4000);
            segment(b, a, &r, &[], &[]).expect("emit")
        };
        o.observe(&segment(a, b, &repr(100, 0, TcpFlags::SYN), &[], &[]).expect("syn"));
        o.observe(&back(900, 101));
        o.observe(&segment(a, b, &repr(101, 900, TcpFlags::ACK), &[], &[1; 50]).expect("data"));
        // A retransmission of older data moves nothing back.
        o.observe(&segment(a, b, &repr(101, 900, TcpFlags::ACK), &[], &[1; 10]).expect("rtx"));
        o.observe(&back(900, 151));
        o.observe(&back(900, 120));
        let next = o.next(a, b).expect("both ways seen");
        assert_eq!(next.seq, SubflowSeq(151));
        assert_eq!(next.ack, SubflowSeq(900));
        assert_eq!(o.seen(b, a).expect("back").ack, SubflowSeq(151));
        assert_eq!(o.next(a, "192.0.2.9:1".parse().expect("c")), None);
    }

    #[test]
    fn raw_options_are_carried_as_given_and_the_checksum_is_right() {
        let (a, b) = addrs();
        // A malformed option: kind 30 with a length running past the area.
        let raw = [30u8, 39, 0x20, 1, 2];
        let pkt =
            segment_raw_options(a, b, &repr(7, 9, TcpFlags::ACK), &raw, b"xyz").expect("emit");
        let ip = IpPacket::parse(&pkt).expect("ip");
        let tcp = ip.tcp().expect("tcp");
        assert!(tcp.verify_checksum(a.ip(), b.ip()));
        assert_eq!(tcp.options_bytes(), &[30, 39, 0x20, 1, 2, 0, 0, 0]);
        assert_eq!(tcp.payload(), b"xyz");
        // Cut at 40 bytes.
        let long = [1u8; 60];
        let pkt = segment_raw_options(a, b, &repr(7, 9, TcpFlags::ACK), &long, &[]).expect("emit");
        let ip = IpPacket::parse(&pkt).expect("ip");
        assert_eq!(ip.tcp().expect("tcp").options_bytes().len(), 40);
    }
}
