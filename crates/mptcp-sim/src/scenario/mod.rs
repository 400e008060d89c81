//! Transfer scenarios: two hosts running the real engine over one or more
//! paths, one stream, a report. Used by `mptcp sim`, the tests and the
//! benchmarks alike.

mod report;
mod shared;
mod spec;

pub use report::{MptcpReport, SideCounters, SubflowReport, TransferReport};
pub use shared::{Share, ShareSpec, run_share};
pub use spec::{
    Direction, Outage, PathSpec, SpecError, TransferSpec, parse_pause, parse_size_range,
};

use crate::app::stream::StreamGen;
use crate::app::{AppConfig, AppRole, StreamApp};
use crate::host::Host;
use crate::invariants::TcpInvariants;
use crate::ip::Prefix;
use crate::middlebox::{Middlebox, Nat, PathDirection};
use crate::node::NodeId;
use crate::sim::{SimConfig, Simulator};
use crate::topology::{MultiPath, PathIds};
use crate::{ObserverId, SimError};
use mptcp_proto::endpoint::{Endpoint, EndpointConfig};
use mptcp_proto::time::{Duration, Instant};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The server's port.
pub const SERVER_PORT: u16 = 5201;

/// Address of host `side` (1 client, 2 server) on path `i`.
pub fn path_addr(ipv6: bool, path: usize, side: u8) -> IpAddr {
    if ipv6 {
        IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            path as u16 + 1,
            0,
            0,
            0,
            0,
            0,
            u16::from(side),
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, path as u8 + 1, 0, side))
    }
}

/// A built scenario, ready to run or to inspect mid-way.
pub struct Scenario {
    /// The simulator.
    pub sim: Simulator<Host>,
    /// The client host.
    pub client: NodeId,
    /// The server host.
    pub server: NodeId,
    /// The TCP invariant checker.
    pub invariants: ObserverId,
    /// The description.
    pub spec: TransferSpec,
}

impl Scenario {
    /// Build the topology and hosts for `spec`.
    pub fn build(spec: &TransferSpec) -> std::io::Result<Scenario> {
        let config = SimConfig {
            time_limit: Instant::ZERO + spec.time_limit,
            ..SimConfig::with_seed(spec.seed)
        };
        let mut sim = Simulator::new(config);
        let (up, down) = match spec.direction {
            Direction::Up => (spec.bytes, 0),
            Direction::Down => (0, spec.bytes),
            Direction::Both => (spec.bytes, spec.bytes),
        };
        let used = if spec.tcp_only { 1 } else { spec.paths.len() };
        let server_addr = SocketAddr::new(path_addr(spec.ipv6, 0, 2), SERVER_PORT);
        let client_app = AppConfig {
            role: AppRole::Client {
                local: path_addr(spec.ipv6, 0, 1),
                remote: server_addr,
                start: Instant::ZERO,
            },
            send_bytes: up,
            send_seed: spec.seed ^ 0x0c11,
            recv_seed: spec.seed ^ 0x05e7,
            write_size: spec.write_size,
            read_size: spec.read_size,
            read_pause: (spec.direction != Direction::Up)
                .then_some(spec.read_pause)
                .flatten(),
            io_seed: spec.seed ^ 0x10c,
            verify: spec.verify,
        };
        let server_app = AppConfig {
            role: AppRole::Server,
            send_bytes: down,
            send_seed: client_app.recv_seed,
            recv_seed: client_app.send_seed,
            read_pause: (spec.direction != Direction::Down)
                .then_some(spec.read_pause)
                .flatten(),
            io_seed: spec.seed ^ 0x20c,
            ..client_app
        };
        let (client_seed, server_seed) = (client_app.send_seed, server_app.send_seed);
        let mut client_ep = Endpoint::new(endpoint_config(spec, 1));
        let mut server_ep = Endpoint::new(endpoint_config(spec, 2));
        server_ep.listen(SERVER_PORT);
        for (i, p) in spec.paths.iter().enumerate().take(used) {
            let mtu = p.link.mtu.min(u32::from(u16::MAX)) as u16;
            client_ep.add_address(path_addr(spec.ipv6, i, 1), mtu);
        }
        // The server's one address sits on every path's interface: its MTU
        // is the largest (each subflow's segments are bounded by the MSS the
        // client announced on that path).
        let server_mtu = spec
            .paths
            .iter()
            .take(used)
            .map(|p| p.link.mtu.min(u32::from(u16::MAX)) as u16)
            .max()
            .unwrap_or(1500);
        server_ep.add_address(path_addr(spec.ipv6, 0, 2), server_mtu);
        let mut net = MultiPath::new(path_addr(spec.ipv6, 0, 2));
        for (i, p) in spec.paths.iter().enumerate().take(used) {
            net = net.path(path_addr(spec.ipv6, i, 1), p.link.clone(), p.backward());
        }
        let built = net.build(
            &mut sim,
            Host::new(client_ep, StreamApp::new(client_app)),
            Host::new(server_ep, StreamApp::new(server_app)),
        );
        let (client, server) = (built.client, built.server);
        for (i, ids) in built.paths.iter().enumerate() {
            for o in spec.outages.iter().filter(|o| o.path == i) {
                for (at, state) in o.transitions() {
                    sim.schedule_link_state(ids.links.forward, at, state);
                    sim.schedule_link_state(ids.links.backward, at, state);
                }
            }
            for &(path, which) in &spec.strip {
                if path == i {
                    sim.add_middlebox(ids.links.forward, Middlebox::strip_mptcp(which));
                    sim.add_middlebox(ids.links.backward, Middlebox::strip_mptcp(which));
                }
            }
            attach_middleboxes(&mut sim, spec, i, ids, server);
        }
        if let Some(path) = &spec.pcap {
            sim.capture_pcap(client, crate::node::IfaceId(0), path)?;
        }
        let invariants = TcpInvariants::default()
            .with_stream(client, StreamGen::new(client_seed))
            .with_stream(server, StreamGen::new(server_seed));
        let invariants = sim.add_observer(Box::new(invariants));
        Ok(Scenario {
            sim,
            client,
            server,
            invariants,
            spec: spec.clone(),
        })
    }

    /// Whether both applications are done (released, or failed).
    pub fn is_done(sim: &Simulator<Host>, client: NodeId, server: NodeId) -> bool {
        [client, server].iter().all(|&n| sim.node(n).app.is_done())
    }

    /// Run to completion (or the time limit) and report.
    pub fn run(mut self) -> TransferReport {
        let (client, server) = (self.client, self.server);
        let outcome = self
            .sim
            .run_while(|s| !Scenario::is_done(s, client, server));
        self.finish(outcome.err())
    }

    /// Run until virtual time `until`, or until the transfer is done.
    /// Returns `Ok(true)` once it is done; step again otherwise (progress
    /// displays run in slices like this).
    pub fn step_until(&mut self, until: Instant) -> Result<bool, SimError> {
        let (client, server) = (self.client, self.server);
        self.sim
            .run_while(|s| s.now() < until && !Scenario::is_done(s, client, server))?;
        Ok(Scenario::is_done(&self.sim, client, server))
    }

    /// Run to completion (or the time limit) in slices of `every` of
    /// virtual time, noting the bytes read at the end of each, and report.
    pub fn run_sampled(mut self, every: Duration) -> (TransferReport, ReadSamples) {
        let mut samples = ReadSamples {
            every,
            read: Vec::new(),
        };
        let mut until = Instant::ZERO;
        let error = loop {
            until += every;
            match self.step_until(until) {
                Ok(done) => {
                    samples.read.push(self.bytes_read());
                    if done {
                        break None;
                    }
                }
                Err(e) => break Some(e),
            }
        };
        (self.finish(error), samples)
    }

    /// Bytes the receiver(s) read so far.
    pub fn bytes_read(&self) -> u64 {
        let c = self.sim.node(self.client).app.status().read;
        let s = self.sim.node(self.server).app.status().read;
        c + s
    }

    /// The report, after [`Scenario::step_until`] said done (or failed
    /// with `error`).
    pub fn finish(&mut self, error: Option<SimError>) -> TransferReport {
        let _ = self.sim.finish_observers();
        let error = match error {
            Some(SimError::TimeLimit { .. }) => Some("time limit reached".to_owned()),
            Some(e) => Some(e.to_string()),
            None => None,
        };
        TransferReport::collect(self, error)
    }
}

/// Stream bytes read during a run, sampled at the end of every slice of
/// virtual time ([`Scenario::run_sampled`]): comparing runs over the same
/// span of time rather than the same bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadSamples {
    /// The slice.
    pub every: Duration,
    /// `read[k]`: bytes read by `(k + 1) * every`.
    pub read: Vec<u64>,
}

impl ReadSamples {
    /// Bytes read by `t_s` seconds of virtual time, linear between samples
    /// (from 0 at time 0); the last sample after the run.
    pub fn bytes_by(&self, t_s: f64) -> f64 {
        let every = self.every.as_secs_f64();
        if self.read.is_empty() || every <= 0.0 || t_s <= 0.0 {
            return 0.0;
        }
        let k = (t_s / every).floor() as usize;
        let at = |j: usize| -> f64 {
            match j.checked_sub(1) {
                None => 0.0,
                Some(i) => self.read.get(i).or(self.read.last()).copied().unwrap_or(0) as f64,
            }
        };
        let frac = t_s / every - k as f64;
        at(k) + (at(k + 1) - at(k)) * frac
    }

    /// Goodput in bits per second over the first `window_s` seconds of the
    /// run `report` describes, or over the whole run when it ended sooner.
    pub fn goodput_within(&self, report: &TransferReport, window_s: f64) -> f64 {
        if report.duration_s <= window_s || window_s <= 0.0 {
            report.goodput_bps
        } else {
            self.bytes_by(window_s) * 8.0 / window_s
        }
    }
}

/// The public address of a NAT on path `path`.
pub fn nat_addr(ipv6: bool, path: usize) -> IpAddr {
    if ipv6 {
        IpAddr::V6(Ipv6Addr::new(0xfd64, path as u16 + 1, 0, 0, 0, 0, 0, 1))
    } else {
        IpAddr::V4(Ipv4Addr::new(100, 64, path as u8 + 1, 1))
    }
}

/// Puts the middleboxes `spec` names for path `path` on its links: link
/// middleboxes on the directions they cover, in order, and a NAT with the
/// server's route to its public address.
fn attach_middleboxes(
    sim: &mut Simulator<Host>,
    spec: &TransferSpec,
    path: usize,
    ids: &PathIds,
    server: NodeId,
) {
    for (_, m) in spec.middleboxes.iter().filter(|(p, _)| *p == path) {
        let Some(middlebox) = m.kind.link_middlebox() else {
            let public = nat_addr(spec.ipv6, path);
            sim.add_nat(ids.links.forward, ids.links.backward, Nat::new(public));
            sim.add_host_route(server, Prefix::host(public), ids.server_iface);
            continue;
        };
        if m.covers(PathDirection::Up) {
            sim.add_middlebox(ids.links.forward, middlebox.clone());
        }
        if m.covers(PathDirection::Down) {
            sim.add_middlebox(ids.links.backward, middlebox);
        }
    }
}

fn endpoint_config(spec: &TransferSpec, side: u64) -> EndpointConfig {
    let mut config = EndpointConfig {
        seed: spec.seed.wrapping_mul(0x9e37_79b9).wrapping_add(side),
        ..EndpointConfig::default()
    };
    let tcp = if side == 1 {
        spec.client_tcp
    } else {
        spec.server_tcp
    };
    tcp.apply(&mut config.connection.subflow);
    let mp = &mut config.connection.mptcp;
    if let Some(cc) = spec.cc {
        mp.cc = cc;
        config.connection.subflow.cc = cc;
    }
    mp.enabled = !spec.tcp_only;
    mp.version = spec.version;
    mp.scheduler = spec.scheduler;
    mp.opportunistic_reinjection = spec.opportunistic;
    mp.sbd = spec.sbd;
    mp.checksum = if side == 1 {
        spec.checksum.0
    } else {
        spec.checksum.1
    };
    if let Some(b) = spec.buffer {
        config.connection.send_buffer = b;
        config.connection.recv_buffer = b;
    }
    config
}

/// Build and run `spec`.
pub fn run(spec: &TransferSpec) -> std::io::Result<TransferReport> {
    Ok(Scenario::build(spec)?.run())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_samples_interpolate_and_hold_the_last() {
        let s = ReadSamples {
            every: Duration::from_millis(100),
            read: vec![1000, 3000, 3000, 5000],
        };
        assert_eq!(s.bytes_by(0.0), 0.0);
        assert!((s.bytes_by(0.05) - 500.0).abs() < 1e-6);
        assert!((s.bytes_by(0.1) - 1000.0).abs() < 1e-6);
        assert!((s.bytes_by(0.15) - 2000.0).abs() < 1e-6);
        assert!((s.bytes_by(0.25) - 3000.0).abs() < 1e-6);
        assert!((s.bytes_by(0.4) - 5000.0).abs() < 1e-6);
        assert!((s.bytes_by(9.0) - 5000.0).abs() < 1e-6);
        let empty = ReadSamples {
            every: Duration::from_millis(100),
            read: Vec::new(),
        };
        assert_eq!(empty.bytes_by(1.0), 0.0);
    }
}
