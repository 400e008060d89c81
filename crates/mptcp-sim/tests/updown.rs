//! Link up/down schedules.

mod common;

use common::*;
use mptcp_sim::{DropReason, DropSite, Duration, Instant, LinkConfig, LinkId, LinkState, Observer};

#[derive(Default)]
struct Drops(Vec<(u64, u64, DropReason)>, Vec<(u64, LinkState)>);

impl Observer for Drops {
    fn on_dropped(&mut self, now: Instant, _: DropSite, reason: DropReason, p: &[u8]) {
        self.0.push((now.as_micros(), flow_seq(p).1, reason));
    }

    fn on_link_state(&mut self, now: Instant, _: LinkId, state: LinkState) {
        self.1.push((now.as_micros(), state));
    }
}

#[test]
fn down_drops_offered_and_in_flight_packets_until_up() {
    // One packet every 2 ms; 1 ms serialization + 5 ms propagation.
    let link = LinkConfig::new(12_000_000, Duration::from_millis(5))
        .down_at(ms(31))
        .up_at(ms(61));
    let flow = flow_ab(1500, 50).every(Duration::from_millis(2));
    let (mut sim, _, b, ab) = pair(1, vec![flow], link);
    let drops = sim.add_observer(Box::new(Drops::default()));
    sim.run_until(ms(200)).unwrap();
    // Sent at 0..=24 ms arrive by 30 ms; 26 and 28 are on the wire at 31 ms
    // and 30 is being serialized; 32..=60 are offered while down; 62.. arrive.
    let want: Vec<u64> = (0..=12).chain(31..50).collect();
    assert_eq!(sim.node(b).seqs(0), want);
    assert_eq!(sim.link_stats(ab).dropped.packets(DropReason::LinkDown), 18);
    let obs: &Drops = sim.observer(drops).unwrap();
    // In-flight losses are reported when they would have arrived.
    let down = DropReason::LinkDown;
    assert_eq!(
        obs.0[..3],
        [(31_000, 15, down), (32_000, 13, down), (32_000, 16, down)]
    );
    assert_eq!(obs.1, [(31_000, LinkState::Down), (61_000, LinkState::Up)]);
}

#[test]
fn going_down_empties_the_queue() {
    // Ten back-to-back packets, 1 ms each, no propagation delay: three are
    // through when the link goes down at 3.5 ms, seven are still queued.
    let link = LinkConfig::new(12_000_000, Duration::ZERO).down_at(Instant::from_micros(3_500));
    let (mut sim, _, b, ab) = pair(1, vec![flow_ab(1500, 10)], link);
    let drops = sim.add_observer(Box::new(Drops::default()));
    sim.run_until(ms(100)).unwrap();
    assert_eq!(sim.node(b).seqs(0), [0, 1, 2]);
    let obs: &Drops = sim.observer(drops).unwrap();
    let want: Vec<_> = (3..10).map(|s| (3_500, s, DropReason::LinkDown)).collect();
    assert_eq!(obs.0, want);
    assert!(!sim.link_is_up(ab));
    let s = sim.link_stats(ab);
    assert_eq!(
        s.offered_packets,
        s.delivered_packets + s.dropped.total_packets()
    );
}

#[test]
fn state_can_be_scheduled_after_construction() {
    let flow = flow_ab(100, 10).every(Duration::from_millis(1));
    let (mut sim, _, b, ab) = pair(1, vec![flow], LinkConfig::ideal());
    sim.schedule_link_state(ab, Instant::from_micros(4_500), LinkState::Down);
    sim.schedule_link_state(ab, Instant::from_micros(6_500), LinkState::Up);
    sim.run_until(ms(20)).unwrap();
    assert_eq!(sim.node(b).seqs(0), [0, 1, 2, 3, 4, 7, 8, 9]);
}
