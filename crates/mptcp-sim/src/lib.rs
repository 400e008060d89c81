//! A deterministic network simulator for the sans-IO MPTCP engine.
//!
//! The simulator owns a virtual clock, an event queue, hosts, routers and
//! one-way links. Hosts are anything implementing [`Node`]: complete IP
//! packets (IPv4 or IPv6, as bytes) and time go in, packets and a timeout come
//! out. The simulator never parses anything above the IP header; it reads the
//! source address to pick a host's outgoing interface and the destination
//! address to route through routers.
//!
//! # Model
//! - **Time** is [`mptcp_proto::time::Instant`] (microseconds). The clock jumps
//!   from event to event; events due at the same instant run in the order they
//!   were scheduled (FIFO), so runs are deterministic.
//! - **Hosts** have interfaces, each with addresses and an MTU. After every
//!   event that touched a host the simulator drains its
//!   [`Node::poll_transmit`] (up to [`SimConfig::transmit_cap`] packets) and
//!   re-reads [`Node::poll_timeout`]. A packet leaves through the interface
//!   that owns its source address; a packet whose source matches no interface
//!   is dropped ([`DropReason::NoSourceIface`]).
//! - **Routers** forward by destination address with static routes and
//!   longest-prefix match, without delay and without touching the packet (no
//!   TTL decrement: a routing loop runs until the event limit stops it).
//! - **Links** are one-way and model, in this order: the up/down state, the
//!   link MTU, a drop-tail byte queue, serialization at the link rate, random
//!   loss on the wire, duplication, propagation delay plus jitter, and
//!   reordering. See [`LinkConfig`] for each knob's exact semantics and
//!   defaults.
//! - **Middleboxes** at a link's entrance rewrite, split, merge or hold
//!   back packets, and NATs shared by a path's two links translate
//!   addresses ([`middlebox`]); none draws randomness.
//! - **Randomness** comes only from `ChaCha8Rng` streams derived from the run
//!   seed with [`derive_seed`]; link `i` (in creation order) gets stream `i`,
//!   so adding a link does not perturb the randomness of the links created
//!   before it. One seed reproduces a run bit for bit.
//! - **Observation**: [`Observer`]s see every packet sent, enqueued, dropped
//!   (with a [`DropReason`]) and delivered; built-in [`LinkStats`] and
//!   [`IfaceStats`] count the same events, and [`PcapCapture`] writes what an
//!   interface sees to a pcap file.
//! - **Guard rails**: [`SimConfig::max_events`] and [`SimConfig::time_limit`]
//!   turn a runaway run into a [`SimError`] instead of a hang.
//!
//! # Example
//! ```
//! use mptcp_proto::time::{Duration, Instant};
//! use mptcp_sim::{IfaceConfig, IfaceId, LinkConfig, Node, Simulator, SimConfig};
//!
//! /// A node that never sends anything and counts what it receives.
//! #[derive(Default)]
//! struct Sink(usize);
//! impl Node for Sink {
//!     fn handle(&mut self, _: Instant, _: IfaceId, _: &[u8]) { self.0 += 1; }
//!     fn handle_timeout(&mut self, _: Instant) {}
//!     fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<usize> { None }
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//! }
//!
//! let mut sim = Simulator::new(SimConfig::with_seed(7));
//! let a = sim.add_host(Sink::default());
//! let b = sim.add_host(Sink::default());
//! let a0 = sim.add_iface(a, IfaceConfig::new([10, 0, 0, 1]));
//! let b0 = sim.add_iface(b, IfaceConfig::new([10, 0, 0, 2]));
//! let path = LinkConfig::new(100_000_000, Duration::from_millis(10));
//! sim.connect(a, a0, b, b0, path.clone(), path);
//! sim.run_until(Instant::from_micros(1_000_000)).unwrap();
//! assert_eq!(sim.node(b).0, 0);
//! ```
#![forbid(unsafe_code)]

pub mod app;
pub mod chaos;
mod error;
mod event;
pub mod host;
pub mod invariants;
mod ip;
mod link;
pub mod middlebox;
mod node;
mod observer;
pub mod parse;
mod pcap;
mod rng;
pub mod scenario;
mod sim;
mod stats;
pub mod topology;

pub use error::SimError;
pub use ip::{Prefix, PrefixError, packet_addrs};
pub use link::config::{ConfigError, LinkConfig, LinkState};
pub use link::driver::LinkDriver;
pub use link::loss::{GilbertElliott, batch_release};
pub use link::trace::{OPPORTUNITY_BYTES, Trace, TraceCursor, TraceError};
pub use middlebox::{
    CoalesceMode, Ctx, Middlebox, MiddleboxKind, MiddleboxSpec, MiddleboxState, MiddleboxStats,
    Nat, NatSide, NatVerdict, PathDirection, StripWhich, SynOption, Verdict,
};
pub use node::{IfaceConfig, IfaceId, LinkId, Node, NodeId};
pub use observer::{DropReason, DropSite, Observer, ObserverId};
pub use pcap::PcapCapture;
pub use rng::derive_seed;
pub use sim::{NatId, SimConfig, Simulator, StopReason};
pub use stats::{DropCounts, IfaceStats, LinkStats, SimStats, ThroughputSeries};

/// The simulator's time types, re-exported from the engine.
pub use mptcp_proto::time::{Duration, Instant};
