//! Invariants checked on every packet a host sends.
//!
//! The checks run in every scenario (they are cheap): a sender's
//! acknowledgment number never moves backwards within a connection, and
//! every packet a host emits parses as IP and TCP with a valid checksum.
//! Violations are recorded, not panicked on, so a report can say what broke.
//! Given the streams the applications write, every mapped payload byte is
//! checked against them too ([`data`]).

mod data;

use crate::app::stream::StreamGen;
use crate::node::{IfaceId, NodeId};
use crate::observer::Observer;
use mptcp_proto::time::Instant;
use mptcp_wire::{IpPacket, SubflowSeq, TcpFlags};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The most violations kept (the rest are only counted).
const KEEP: usize = 32;

/// Checks TCP-level invariants on sent packets.
#[derive(Debug, Default)]
pub struct TcpInvariants {
    /// Highest ACK number sent per (source, destination).
    acks: HashMap<(SocketAddr, SocketAddr), SubflowSeq>,
    violations: Vec<String>,
    count: u64,
    checked: u64,
    data: data::DataCheck,
}

impl TcpInvariants {
    /// Also check that what `node` sends under its mappings is `stream`.
    pub fn with_stream(mut self, node: NodeId, stream: StreamGen) -> TcpInvariants {
        self.data.stream(node, stream);
        self
    }

    /// Mapped payload bytes checked against the applications' streams.
    pub fn data_bytes_checked(&self) -> u64 {
        self.data.checked_bytes()
    }

    /// What went wrong (the first few).
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// How many violations in all.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Packets checked.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    fn violation(&mut self, now: Instant, what: String) {
        self.count += 1;
        if self.violations.len() < KEEP {
            self.violations.push(format!("{now:?}: {what}"));
        }
    }
}

impl Observer for TcpInvariants {
    fn on_sent(&mut self, now: Instant, node: NodeId, _iface: IfaceId, packet: &[u8]) {
        if node.0 > 1 {
            // Routers forward; only hosts are checked.
            return;
        }
        self.checked += 1;
        let Ok(ip) = IpPacket::parse(packet) else {
            self.violation(
                now,
                format!("host {} sent a packet that does not parse", node.0),
            );
            return;
        };
        let Ok(tcp) = ip.tcp() else {
            self.violation(now, format!("host {} sent a non-TCP packet", node.0));
            return;
        };
        if !tcp.verify_checksum(ip.src(), ip.dst()) {
            self.violation(now, format!("host {} sent a bad TCP checksum", node.0));
        }
        let key = (
            SocketAddr::new(ip.src(), tcp.src_port()),
            SocketAddr::new(ip.dst(), tcp.dst_port()),
        );
        for problem in self.data.on_segment(node, key, &tcp) {
            self.violation(now, problem);
        }
        let flags = tcp.flags();
        if flags.contains(TcpFlags::SYN) {
            self.acks.remove(&key);
        }
        if !flags.ack() || flags.rst() {
            return;
        }
        let ack = tcp.ack();
        match self.acks.get(&key).copied() {
            Some(prev) if ack.lt(prev) => {
                self.violation(
                    now,
                    format!("{} -> {}: ACK went back from {prev} to {ack}", key.0, key.1),
                );
            }
            _ => {
                self.acks.insert(key, ack);
            }
        }
    }
}
