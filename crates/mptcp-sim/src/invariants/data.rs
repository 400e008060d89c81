//! The data-level invariant: every byte a host sends under a data sequence
//! mapping is the application's byte at that data sequence number.
//!
//! The receiver's hash catches corruption only when the corrupt copy is the
//! one it keeps; a peer that keeps the other copy of a reinjected range (the
//! kernel may) would take it. So the sender's packets are checked here, on
//! the wire, each against the stream its application writes
//! ([`StreamGen`]): byte `i` of the stream has data sequence number
//! `IDSN + 1 + i` (RFC 8684 §3.3.1).
//!
//! What it learns from the options: each direction's key (MP_CAPABLE; the
//! IDSN and the token follow from it), which connection a join belongs to
//! (the token in its SYN), each subflow's initial sequence number (its SYN)
//! and every mapping a subflow announced. A payload byte is checked under
//! the mapping that covers its subflow sequence number, whether that mapping
//! came in this segment or an earlier one, so a TCP-level retransmission
//! that carried other bytes than the original is caught too. Bytes outside
//! every mapping (fallback, a stripped option) and subflows after an
//! infinite mapping are not checked.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;

use mptcp_proto::crypto::{self, MptcpVersion};
use mptcp_wire::mptcp::{CapableBody, MpJoin, MptcpOption, WireSeq};
use mptcp_wire::{DataSeq, TcpOption, TcpSegment};

use crate::app::stream::StreamGen;
use crate::node::NodeId;

/// One direction of a subflow: (source, destination).
type Flow = (SocketAddr, SocketAddr);

/// A mapping as announced, the DSN expanded to 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mapping {
    dsn: u64,
    len: u32,
}

/// The sending side of one connection direction.
#[derive(Clone, Copy, Debug)]
struct Sender {
    key: u64,
    version: MptcpVersion,
}

/// What the checker knows so far.
#[derive(Debug, Default)]
pub(crate) struct DataCheck {
    streams: HashMap<NodeId, StreamGen>,
    /// The sender's key per subflow direction.
    senders: HashMap<Flow, Sender>,
    /// Key to the peer's key, from the options that carry both.
    peers: HashMap<u64, u64>,
    /// Token to key, for joins.
    tokens: HashMap<u32, Sender>,
    isn: HashMap<Flow, u32>,
    /// Mappings by relative subflow sequence number of their first byte.
    mappings: HashMap<Flow, BTreeMap<u32, Mapping>>,
    /// The last DSN seen per key (to expand 4-octet DSNs).
    last_dsn: HashMap<u64, u64>,
    /// Subflow directions past an infinite mapping.
    unmapped: HashSet<Flow>,
    checked_bytes: u64,
}

fn version(v: u8) -> MptcpVersion {
    if v == 0 {
        MptcpVersion::V0
    } else {
        MptcpVersion::V1
    }
}

impl DataCheck {
    /// Check the data of `node` against `stream`.
    pub(crate) fn stream(&mut self, node: NodeId, stream: StreamGen) {
        self.streams.insert(node, stream);
    }

    /// Payload bytes checked so far.
    pub(crate) fn checked_bytes(&self) -> u64 {
        self.checked_bytes
    }

    fn learn(&mut self, flow: Flow, sender: Sender) {
        self.senders.insert(flow, sender);
        self.tokens
            .insert(crypto::token(sender.key, sender.version).0, sender);
    }

    fn idsn(sender: Sender) -> u64 {
        crypto::idsn(sender.key, sender.version)
    }

    /// Look at one segment `node` sent; a mismatch is returned as text.
    pub(crate) fn on_segment(
        &mut self,
        node: NodeId,
        flow: Flow,
        tcp: &TcpSegment<'_>,
    ) -> Vec<String> {
        let back = (flow.1, flow.0);
        let mut announced: Vec<(WireSeq, u32, u32)> = Vec::new();
        for opt in tcp.options().flatten() {
            let TcpOption::Mptcp(m) = opt else { continue };
            match m {
                MptcpOption::Capable(c) => {
                    let v = version(c.version.0);
                    if let Some(k) = c.sender_key() {
                        self.learn(flow, Sender { key: k, version: v });
                    }
                    if let Some(r) = c.receiver_key() {
                        self.learn(back, Sender { key: r, version: v });
                        if let Some(k) = c.sender_key() {
                            self.peers.insert(k, r);
                            self.peers.insert(r, k);
                        }
                    }
                    if let CapableBody::BothKeysWithData {
                        sender, data_len, ..
                    } = c.body
                    {
                        let first = crypto::idsn(sender, v).wrapping_add(1);
                        announced.push((WireSeq::Long(first), 1, u32::from(data_len)));
                    }
                }
                MptcpOption::Join(MpJoin::Syn { token, .. }) => {
                    if let Some(&owner) = self.tokens.get(&token) {
                        self.senders.insert(back, owner);
                        if let Some(&peer) = self.peers.get(&owner.key) {
                            let s = Sender {
                                key: peer,
                                version: owner.version,
                            };
                            self.senders.insert(flow, s);
                        }
                    }
                }
                MptcpOption::Dss(d) => {
                    if let Some(map) = d.mapping {
                        if map.is_infinite() {
                            self.unmapped.insert(flow);
                        } else {
                            announced.push((map.dsn, map.subflow_seq, u32::from(map.data_len)));
                        }
                    }
                }
                _ => {}
            }
        }
        if tcp.flags().syn() {
            self.isn.insert(flow, tcp.seq().0);
            self.mappings.remove(&flow);
            self.unmapped.remove(&flow);
            return Vec::new();
        }
        let (Some(&sender), Some(&isn)) = (self.senders.get(&flow), self.isn.get(&flow)) else {
            return Vec::new();
        };
        let first = Self::idsn(sender).wrapping_add(1);
        for (dsn, ssn, len) in announced {
            let near = self.last_dsn.get(&sender.key).copied().unwrap_or(first);
            let dsn = dsn.expand(DataSeq(near)).0;
            self.last_dsn.insert(sender.key, dsn);
            self.mappings
                .entry(flow)
                .or_default()
                .insert(ssn, Mapping { dsn, len });
        }
        let payload = tcp.payload();
        if payload.is_empty() || self.unmapped.contains(&flow) {
            return Vec::new();
        }
        let Some(stream) = self.streams.get(&node).copied() else {
            return Vec::new();
        };
        let Some(maps) = self.mappings.get(&flow) else {
            return Vec::new();
        };
        let start = tcp.seq().0.wrapping_sub(isn);
        let mut problems = Vec::new();
        let mut at = 0usize;
        while at < payload.len() {
            let rel = start.wrapping_add(at as u32);
            let Some((&ssn, &m)) = maps.range(..=rel).next_back() else {
                // Before the first mapping: skip to it.
                match maps.range(rel..).next() {
                    Some((&next, _)) => at += next.wrapping_sub(rel) as usize,
                    None => break,
                }
                continue;
            };
            let into = rel - ssn;
            if into >= m.len {
                match maps.range(rel.wrapping_add(1)..).next() {
                    Some((&next, _)) => at += next.wrapping_sub(rel) as usize,
                    None => break,
                }
                continue;
            }
            let n = ((m.len - into) as usize).min(payload.len() - at);
            let dsn = m.dsn.wrapping_add(u64::from(into));
            let offset = dsn.wrapping_sub(first);
            let bytes = &payload[at..at + n];
            if offset > u64::from(u32::MAX) << 16 {
                problems.push(format!(
                    "{} -> {}: mapping DSN {:#x} lies before the IDSN {:#x}",
                    flow.0,
                    flow.1,
                    m.dsn,
                    first.wrapping_sub(1)
                ));
            } else if let Some(bad) = stream.first_mismatch(offset, bytes) {
                problems.push(format!(
                    "{} -> {}: subflow seq {} (rel {}) carries bytes other than the stream's at offset {bad} \
                     (mapping rel {ssn} len {} DSN offset {})",
                    flow.0,
                    flow.1,
                    tcp.seq().0,
                    rel,
                    m.len,
                    m.dsn.wrapping_sub(first)
                ));
            }
            self.checked_bytes += n as u64;
            at += n;
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mptcp_wire::mptcp::{CapableFlags, Dss, DssMapping, MpCapable, Version};
    use mptcp_wire::{SubflowSeq, TcpFlags, TcpRepr, emit_segment};
    use std::net::IpAddr;

    const CLIENT: NodeId = NodeId(0);
    const KEY: u64 = 0x1122_3344_5566_7788;
    const ISN: u32 = 1000;

    fn flow() -> Flow {
        (
            "10.1.0.1:4000".parse().unwrap(),
            "10.1.0.2:80".parse().unwrap(),
        )
    }

    /// A segment of the client's: `seq` relative to the ISN.
    fn send(
        check: &mut DataCheck,
        seq: u32,
        flags: TcpFlags,
        opt: Option<MptcpOption>,
        payload: &[u8],
    ) -> Vec<String> {
        let (src, dst) = flow();
        let repr = TcpRepr {
            src_port: src.port(),
            dst_port: dst.port(),
            seq: SubflowSeq(ISN.wrapping_add(seq)),
            ack: SubflowSeq(1),
            flags,
            window: 1000,
            urgent: 0,
        };
        let opts: Vec<TcpOption<'_>> = opt.into_iter().map(TcpOption::Mptcp).collect();
        let mut buf = vec![0u8; 200 + payload.len()];
        let (s, d): (IpAddr, IpAddr) = (src.ip(), dst.ip());
        let n = emit_segment(&repr, &opts, payload, s, d, &mut buf).unwrap();
        let tcp = TcpSegment::parse(&buf[..n]).unwrap();
        check.on_segment(CLIENT, flow(), &tcp)
    }

    fn mapping(dsn_offset: u64, ssn: u32, len: u16) -> MptcpOption {
        let dsn = crypto::idsn(KEY, MptcpVersion::V1) + 1 + dsn_offset;
        MptcpOption::Dss(Dss {
            mapping: Some(DssMapping {
                dsn: WireSeq::Long(dsn),
                subflow_seq: ssn,
                data_len: len,
                checksum: None,
            }),
            ..Dss::default()
        })
    }

    /// A client that sent its SYN and third ACK (key `KEY`).
    fn connected(stream: StreamGen) -> DataCheck {
        let mut check = DataCheck::default();
        check.stream(CLIENT, stream);
        let capable = |body| {
            MptcpOption::Capable(MpCapable {
                version: Version(1),
                flags: CapableFlags(0x01),
                body,
            })
        };
        assert!(
            send(
                &mut check,
                0,
                TcpFlags::SYN,
                Some(capable(CapableBody::NoKey)),
                &[]
            )
            .is_empty()
        );
        let third = capable(CapableBody::BothKeys {
            sender: KEY,
            receiver: 7,
        });
        assert!(send(&mut check, 1, TcpFlags::ACK, Some(third), &[]).is_empty());
        check
    }

    #[test]
    fn mapped_bytes_must_be_the_stream_at_their_dsn() {
        let stream = StreamGen::new(9);
        let mut data = vec![0u8; 3000];
        stream.fill(0, &mut data);
        let mut check = connected(stream);
        // One mapping over two segments, the second without an option.
        assert!(
            send(
                &mut check,
                1,
                TcpFlags::ACK,
                Some(mapping(0, 1, 3000)),
                &data[..1500]
            )
            .is_empty()
        );
        assert!(send(&mut check, 1501, TcpFlags::ACK, None, &data[1500..]).is_empty());
        assert_eq!(check.checked_bytes(), 3000);
        // A retransmission of the second segment with one byte changed: its
        // mapping came earlier, and still applies.
        let mut bad = data[1500..].to_vec();
        bad[10] ^= 1;
        let problems = send(&mut check, 1501, TcpFlags::ACK, None, &bad);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("offset 1510"), "{problems:?}");
        // The right bytes under a mapping that names the wrong DSN.
        let problems = send(
            &mut check,
            3001,
            TcpFlags::ACK,
            Some(mapping(1, 3001, 100)),
            &data[..100],
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn bytes_outside_mappings_and_after_an_infinite_one_are_not_checked() {
        let stream = StreamGen::new(9);
        let mut check = connected(stream);
        assert!(send(&mut check, 1, TcpFlags::ACK, None, &[1; 100]).is_empty());
        assert_eq!(check.checked_bytes(), 0);
        let infinite = MptcpOption::Dss(Dss {
            mapping: Some(DssMapping {
                dsn: WireSeq::Long(5),
                subflow_seq: 0,
                data_len: 0,
                checksum: None,
            }),
            ..Dss::default()
        });
        assert!(send(&mut check, 101, TcpFlags::ACK, Some(infinite), &[1; 100]).is_empty());
        assert_eq!(check.checked_bytes(), 0);
    }
}
