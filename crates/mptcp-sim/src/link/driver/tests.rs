use std::collections::VecDeque;
use std::sync::Arc;

use mptcp_proto::time::Duration;

use super::*;
use crate::link::loss::GilbertElliott;
use crate::link::trace::Trace;
use crate::node::{IfaceId, Node};
use crate::{IfaceConfig, SimConfig, Simulator, derive_seed};

/// Sends its plan (instant, packet) and records what it receives.
#[derive(Default)]
struct Host {
    plan: VecDeque<(Instant, Vec<u8>)>,
    got: Vec<(Instant, Vec<u8>)>,
}

impl Node for Host {
    fn handle(&mut self, now: Instant, _: IfaceId, packet: &[u8]) {
        self.got.push((now, packet.to_vec()));
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.plan.front().is_none_or(|(at, _)| *at > now) {
            return None;
        }
        let (_, p) = self.plan.pop_front()?;
        buf[..p.len()].copy_from_slice(&p);
        Some(p.len())
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.plan.front().map(|(at, _)| *at)
    }
}

/// An IPv4 packet from 10.0.0.1 to 10.0.0.2 of `len` bytes carrying `n`.
fn packet(n: u32, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    p[20..24].copy_from_slice(&n.to_be_bytes());
    p
}

/// Bursts of packets at odd instants, sizes 40 to 1500 bytes.
fn plan() -> Vec<(Instant, Vec<u8>)> {
    let mut plan = Vec::new();
    let mut t = 3;
    for n in 0..3000u32 {
        t += if n % 50 < 40 { 7 } else { 1_913 };
        let len = 40 + (n as usize * 389) % 1461;
        plan.push((Instant::from_micros(t), packet(n, len)));
    }
    plan
}

/// What the simulator delivers over one link with `config` and `seed`.
fn simulated(config: &LinkConfig, seed: u64) -> (Vec<(Instant, Vec<u8>)>, LinkStats) {
    let mut sim = Simulator::new(SimConfig::with_seed(seed));
    let a = sim.add_host(Host {
        plan: plan().into(),
        got: Vec::new(),
    });
    let b = sim.add_host(Host::default());
    let a0 = sim.add_iface(a, IfaceConfig::new([10, 0, 0, 1]));
    let b0 = sim.add_iface(b, IfaceConfig::new([10, 0, 0, 2]));
    let link = sim.add_link((a, a0), (b, b0), config.clone());
    sim.run_until_idle().unwrap();
    let stats = sim.link_stats(link).clone();
    let got = std::mem::take(&mut sim.node_mut(b).got);
    (got, stats)
}

/// What a driver delivers from the same plan, advanced irregularly.
fn driven(config: &LinkConfig, seed: u64) -> (Vec<(Instant, Vec<u8>)>, LinkStats) {
    let mut d = LinkDriver::new(config.clone(), derive_seed(seed, "link", 0)).unwrap();
    let mut out = Vec::new();
    for (i, (at, p)) in plan().into_iter().enumerate() {
        // Late calls now and then: decisions must not depend on them.
        if i % 7 == 0 {
            let late = Instant::from_micros(at.as_micros().saturating_sub(1));
            d.advance(late, &mut out);
        }
        d.advance(at, &mut out);
        d.offer(at, p);
    }
    while let Some(next) = d.next_deadline() {
        d.advance(next + Duration::from_micros(250), &mut out);
    }
    (out, d.stats().clone())
}

fn rich() -> LinkConfig {
    LinkConfig::new(20_000_000, Duration::from_millis(5))
        .jitter(Duration::from_micros(1500))
        .loss(0.03)
        .duplicate(0.02)
        .reorder(0.05, Duration::from_millis(2))
        .burst_loss(GilbertElliott::new(0.01, 0.3, 0.8))
        .queue_bytes(15_000)
        .mtu(1400)
        .down_at(Instant::from_micros(400_000))
        .up_at(Instant::from_micros(450_000))
}

#[test]
fn delivers_what_the_simulator_delivers() {
    let trace = Arc::new(Trace::from_millis(&[1, 1, 2, 4, 4, 4, 5]).unwrap());
    let configs = [
        rich(),
        rich().batch(Duration::from_millis(3)),
        LinkConfig::new(0, Duration::from_millis(4)).loss(0.1),
        LinkConfig::ideal(),
        LinkConfig::new(0, Duration::from_millis(8)).trace(trace),
    ];
    for (k, config) in configs.iter().enumerate() {
        let (sim, sim_stats) = simulated(config, 11);
        let (ours, our_stats) = driven(config, 11);
        assert!(sim.len() > 100, "config {k}: {} delivered", sim.len());
        assert_eq!(sim.len(), ours.len(), "config {k}");
        assert!(sim == ours, "config {k}: deliveries differ");
        assert_eq!(sim_stats.dropped, our_stats.dropped, "config {k}");
        assert_eq!(sim_stats.delivered_bytes, our_stats.delivered_bytes);
    }
    // The rich link exercised every stage.
    let (_, s) = driven(&rich(), 11);
    assert!(s.duplicated > 0 && s.reordered > 0);
    for reason in [
        DropReason::Loss,
        DropReason::QueueFull,
        DropReason::LinkDown,
        DropReason::LinkMtu,
    ] {
        assert!(s.dropped.packets(reason) > 0, "{reason:?}");
    }
}

#[test]
fn rejects_a_bad_configuration() {
    assert!(LinkDriver::new(LinkConfig::ideal().loss(2.0), 1).is_err());
}
