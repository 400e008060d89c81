//! Run loop: guard rails, timers, transmit cap, stop conditions, observers.

mod common;

use common::*;
use mptcp_sim::{
    DropReason, DropSite, Duration, IfaceConfig, IfaceId, Instant, LinkConfig, LinkId, Node,
    NodeId, Observer, SimConfig, SimError, Simulator, StopReason,
};

/// A node driven only by timers: it wants a timeout at `want` and records
/// every `handle_timeout`. With `every`, it re-arms itself after firing;
/// with `flood`, it always has another packet to send.
#[derive(Default)]
struct Alarm {
    want: Option<Instant>,
    every: Option<Duration>,
    fired: Vec<u64>,
    flood: bool,
}

impl Node for Alarm {
    fn handle(&mut self, _: Instant, _: IfaceId, _: &[u8]) {}

    fn handle_timeout(&mut self, now: Instant) {
        self.fired.push(now.as_micros());
        if self.want.is_some_and(|w| w <= now) {
            self.want = self.every.map(|d| now + d);
        }
    }

    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<usize> {
        self.flood.then(|| {
            write_ipv4(buf, A, B, 0, 0, 40);
            40
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.want
    }
}

fn alone(config: SimConfig, alarm: Alarm) -> (Simulator<Alarm>, NodeId) {
    let mut sim = Simulator::new(config);
    let n = sim.add_host(alarm);
    sim.add_iface(n, IfaceConfig::new(A));
    (sim, n)
}

#[test]
fn a_timer_stuck_in_the_past_hits_the_event_limit() {
    let config = SimConfig {
        max_events: 1000,
        ..SimConfig::with_seed(1)
    };
    // Never clears its timeout: it fires over and over at the same instant.
    let alarm = Alarm {
        want: Some(Instant::ZERO),
        every: Some(Duration::ZERO),
        ..Alarm::default()
    };
    let (mut sim, _) = alone(config, alarm);
    let err = sim.run_until(ms(1000)).unwrap_err();
    assert_eq!(
        err,
        SimError::EventLimit {
            limit: 1000,
            now: Instant::ZERO
        }
    );
    assert_eq!(sim.stats().events, 1000);
    assert!(err.to_string().contains("1000 events"));
}

#[test]
fn periodic_timers_hit_the_time_limit() {
    let config = SimConfig {
        time_limit: ms(50),
        ..SimConfig::with_seed(1)
    };
    let alarm = Alarm {
        want: Some(ms(1)),
        every: Some(Duration::from_millis(1)),
        ..Alarm::default()
    };
    let (mut sim, n) = alone(config.clone(), alarm);
    let err = sim.run_while(|_| true).unwrap_err();
    assert_eq!(
        err,
        SimError::TimeLimit {
            limit: ms(50),
            now: ms(50)
        }
    );
    assert_eq!(sim.node(n).fired.len(), 50);
    // An idle network still may not be run past the limit.
    let (mut idle, _) = alone(config, Alarm::default());
    assert!(matches!(
        idle.run_until(ms(60)),
        Err(SimError::TimeLimit { .. })
    ));
    assert_eq!(idle.now(), ms(50));
}

#[test]
fn timers_fire_once_at_the_latest_requested_time() {
    let alarm = Alarm {
        want: Some(ms(10)),
        ..Alarm::default()
    };
    let (mut sim, n) = alone(SimConfig::with_seed(1), alarm);
    sim.run_until(ms(2)).unwrap();
    // Move the timeout earlier, then later: the old events become stale.
    sim.with_node(n, |a, _| a.want = Some(ms(5)));
    sim.with_node(n, |a, _| a.want = Some(ms(7)));
    sim.run_until(ms(100)).unwrap();
    assert_eq!(sim.node(n).fired, [7_000]);
    assert_eq!(sim.stats().timers_fired, 1);
    assert_eq!(sim.stats().stale_timers, 2);
    assert_eq!(sim.run_while(|_| true), Ok(StopReason::Idle));
}

#[test]
fn the_transmit_cap_spreads_a_flood_over_events() {
    let config = SimConfig {
        transmit_cap: 100,
        max_events: 50,
        ..SimConfig::with_seed(1)
    };
    let (mut sim, _) = alone(
        config,
        Alarm {
            flood: true,
            ..Alarm::default()
        },
    );
    assert!(matches!(
        sim.run_until(ms(1)),
        Err(SimError::EventLimit { .. })
    ));
    assert_eq!(sim.stats().transmit_cap_hits, 50);
    assert_eq!(sim.stats().packets_transmitted, 5000);
    // Not connected: every packet is dropped at the interface and counted.
    let dropped = sim
        .iface_stats(NodeId(0), IfaceId(0))
        .dropped
        .packets(DropReason::NotConnected);
    assert_eq!(dropped, 5000);
}

#[test]
fn run_while_stops_on_the_predicate() {
    let flow = flow_ab(100, 10).every(Duration::from_millis(1));
    let (mut sim, _, b, _) = pair(1, vec![flow], LinkConfig::new(0, Duration::from_millis(1)));
    let stop = sim.run_while(|s| s.node(b).received.len() < 3).unwrap();
    assert_eq!(stop, StopReason::Predicate);
    assert_eq!(sim.now(), ms(3));
    assert_eq!(sim.node(b).received.len(), 3);
    assert_eq!(sim.run_while(|_| true), Ok(StopReason::Idle));
    assert_eq!(sim.node(b).received.len(), 10);
}

/// Counts every callback.
#[derive(Default)]
struct Count {
    sent: u64,
    enqueued: u64,
    dropped: u64,
    delivered: u64,
}

impl Observer for Count {
    fn on_sent(&mut self, _: Instant, _: NodeId, _: IfaceId, _: &[u8]) {
        self.sent += 1;
    }
    fn on_enqueued(&mut self, _: Instant, _: LinkId, _: &[u8], _: u64) {
        self.enqueued += 1;
    }
    fn on_dropped(&mut self, _: Instant, _: DropSite, _: DropReason, _: &[u8]) {
        self.dropped += 1;
    }
    fn on_delivered(&mut self, _: Instant, _: LinkId, _: NodeId, _: IfaceId, _: &[u8]) {
        self.delivered += 1;
    }
}

#[test]
fn observers_and_counters_agree() {
    let link = LinkConfig::new(10_000_000, Duration::from_millis(2))
        .loss(0.05)
        .duplicate(0.05)
        .queue_bytes(20_000)
        .mtu(1400);
    let flows = vec![
        flow_ab(1000, 2000),
        Flow::new(1, A, B, 1500, 10),
        Flow::new(2, B, A, 60, 5),
    ];
    let (mut sim, _, _, ab) = pair(4, flows, link);
    let id = sim.add_observer(Box::new(Count::default()));
    sim.run_until_idle().unwrap();
    let c: &Count = sim.observer(id).unwrap();
    let s = sim.link_stats(ab).clone();
    assert_eq!(
        s.offered_packets + s.duplicated,
        s.delivered_packets + s.dropped.total_packets()
    );
    assert_eq!(s.dropped.packets(DropReason::LinkMtu), 10);
    assert!(
        s.dropped.packets(DropReason::QueueFull) > 0 && s.dropped.packets(DropReason::Loss) > 0
    );
    // B's flow was handed to A, which does not own its source address.
    assert_eq!(sim.stats().dropped.packets(DropReason::NoSourceIface), 5);
    assert_eq!(c.sent, 2010);
    let refused = s.dropped.packets(DropReason::LinkMtu) + s.dropped.packets(DropReason::QueueFull);
    assert_eq!(c.enqueued + refused, c.sent);
    assert_eq!(c.delivered, s.delivered_packets);
    assert_eq!(c.dropped, s.dropped.total_packets() + 5);
    assert!(sim.observer::<TraceHash>(id).is_none());
}
