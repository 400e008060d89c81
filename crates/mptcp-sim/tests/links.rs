//! Link model: timing, queue, loss, duplication, reordering, jitter, MTU.

mod common;

use common::*;
use mptcp_sim::{DropReason, Duration, IfaceConfig, Instant, LinkConfig};

#[test]
fn serialization_and_propagation_are_exact() {
    // 1500-byte packets at 12 Mbit/s take 1 ms each; 10 ms propagation.
    let link = LinkConfig::new(12_000_000, Duration::from_millis(10));
    let (mut sim, _, b, ab) = pair(1, vec![flow_ab(1500, 5)], link);
    sim.run_until(ms(100)).unwrap();
    assert_eq!(
        sim.node(b).times(0),
        [11_000, 12_000, 13_000, 14_000, 15_000]
    );
    assert_eq!(sim.node(b).seqs(0), [0, 1, 2, 3, 4]);
    let s = sim.link_stats(ab);
    assert_eq!(
        (s.offered_packets, s.delivered_packets, s.delivered_bytes),
        (5, 5, 7500)
    );
    assert_eq!(s.max_queue_bytes, 7500);
}

#[test]
fn spaced_packets_do_not_queue() {
    let link = LinkConfig::new(12_000_000, Duration::from_millis(10));
    let flow = flow_ab(1500, 3).every(Duration::from_millis(5));
    let (mut sim, _, b, ab) = pair(1, vec![flow], link);
    sim.run_until(ms(100)).unwrap();
    assert_eq!(sim.node(b).times(0), [11_000, 16_000, 21_000]);
    assert_eq!(sim.link_stats(ab).max_queue_bytes, 1500);
}

#[test]
fn sub_microsecond_serialization_keeps_the_rate() {
    // 1500 bytes at 10 Gbit/s is 1.2 us: 1000 back-to-back packets take 1.2 ms.
    let link = LinkConfig::new(10_000_000_000, Duration::ZERO).queue_bytes(10_000_000);
    let (mut sim, _, b, _) = pair(1, vec![flow_ab(1500, 1000)], link);
    sim.run_until(ms(10)).unwrap();
    let times = sim.node(b).times(0);
    assert_eq!(times.len(), 1000);
    assert_eq!(times[0], 2); // ceil(1.2)
    assert_eq!(times[4], 6); // exactly 6.0
    assert_eq!(times[999], 1200);
}

#[test]
fn infinite_rate_has_only_delay() {
    let link = LinkConfig::new(0, Duration::from_millis(3));
    let (mut sim, _, b, ab) = pair(1, vec![flow_ab(1500, 500)], link);
    sim.run_until(ms(10)).unwrap();
    assert!(sim.node(b).times(0).iter().all(|&t| t == 3000));
    assert_eq!(sim.node(b).seqs(0), (0..500).collect::<Vec<_>>());
    assert_eq!(sim.link_stats(ab).max_queue_bytes, 0);
}

#[test]
fn drop_tail_queue_at_the_byte_limit() {
    // Room for exactly ten 1500-byte packets (the one in service included).
    let link = LinkConfig::new(12_000_000, Duration::from_millis(1)).queue_bytes(15_000);
    let (mut sim, _, b, ab) = pair(1, vec![flow_ab(1500, 20)], link);
    sim.run_until(ms(100)).unwrap();
    assert_eq!(sim.node(b).seqs(0), (0..10).collect::<Vec<_>>());
    let s = sim.link_stats(ab);
    assert_eq!(s.dropped.packets(DropReason::QueueFull), 10);
    assert_eq!(s.dropped.bytes(DropReason::QueueFull), 15_000);
    assert_eq!(s.max_queue_bytes, 15_000);
    // A 1000-byte packet still fits in a queue with 1000 bytes left.
    let link = LinkConfig::new(12_000_000, Duration::ZERO).queue_bytes(2500);
    let flows = vec![
        flow_ab(1500, 1),
        Flow::new(1, A, B, 1000, 1),
        Flow::new(2, A, B, 40, 1),
    ];
    let (mut sim, _, b, ab) = pair(1, flows, link);
    sim.run_until(ms(100)).unwrap();
    assert_eq!(sim.node(b).received.len(), 2);
    assert_eq!(sim.link_stats(ab).dropped.packets(DropReason::QueueFull), 1);
}

#[test]
fn default_queue_follows_the_documented_formula() {
    // 12 Mbit/s × 2 × 1 ms = 3000 bytes < 64 × 1500 = 96,000: 64 packets fit.
    let link = LinkConfig::new(12_000_000, Duration::from_millis(1));
    assert_eq!(link.queue_limit(), 96_000);
    let (mut sim, _, b, ab) = pair(1, vec![flow_ab(1500, 100)], link);
    sim.run_until(Instant::from_micros(1_000_000)).unwrap();
    assert_eq!(sim.node(b).received.len(), 64);
    assert_eq!(
        sim.link_stats(ab).dropped.packets(DropReason::QueueFull),
        36
    );
}

#[test]
fn random_loss_rate_is_within_tolerance() {
    let n = 100_000;
    let link = LinkConfig::new(0, Duration::from_millis(1)).loss(0.01);
    let (mut sim, _, b, ab) = pair(42, vec![flow_ab(100, n)], link);
    sim.run_until(ms(10)).unwrap();
    let lost = sim.link_stats(ab).dropped.packets(DropReason::Loss);
    // Binomial(100000, 0.01): mean 1000, sd 31.5; allow 5 sd.
    assert!((843..=1157).contains(&lost), "lost {lost}");
    assert_eq!(sim.node(b).received.len() as u64, n - lost);
}

#[test]
fn duplication_happens_and_is_counted() {
    let n = 10_000;
    let link = LinkConfig::new(0, Duration::from_millis(1)).duplicate(0.1);
    let flow = flow_ab(100, n).every(Duration::from_micros(10));
    let (mut sim, _, b, ab) = pair(7, vec![flow], link);
    sim.run_until(Instant::from_micros(1_000_000)).unwrap();
    let s = sim.link_stats(ab);
    assert!(
        (800..=1200).contains(&s.duplicated),
        "duplicated {}",
        s.duplicated
    );
    assert_eq!(s.delivered_packets, n + s.duplicated);
    let seqs = sim.node(b).seqs(0);
    let dups = seqs.windows(2).filter(|w| w[0] == w[1]).count() as u64;
    assert_eq!(
        dups, s.duplicated,
        "copies arrive right after their original"
    );
}

#[test]
fn reordering_lets_later_packets_overtake() {
    let n = 10_000;
    let link = LinkConfig::new(0, Duration::from_millis(5)).reorder(0.05, Duration::from_millis(1));
    let flow = flow_ab(100, n).every(Duration::from_micros(100));
    let (mut sim, _, b, ab) = pair(3, vec![flow], link);
    sim.run_until(Instant::from_micros(2_000_000)).unwrap();
    let s = sim.link_stats(ab);
    assert!(
        (400..=600).contains(&s.reordered),
        "reordered {}",
        s.reordered
    );
    let seqs = sim.node(b).seqs(0);
    assert_eq!(seqs.len() as u64, n);
    let inversions = seqs.windows(2).filter(|w| w[0] > w[1]).count() as u64;
    // Each held-back packet is overtaken by the ~10 sent within 1 ms after it.
    assert!(
        inversions > 0 && inversions <= s.reordered,
        "inversions {inversions}"
    );
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..n).collect::<Vec<_>>());
}

#[test]
fn jitter_varies_delay_but_keeps_fifo() {
    let n = 5_000;
    let link = LinkConfig::new(0, Duration::from_millis(10)).jitter(Duration::from_millis(5));
    let flow = flow_ab(100, n).every(Duration::from_micros(200));
    let (mut sim, _, b, _) = pair(9, vec![flow], link);
    sim.run_until(Instant::from_micros(2_000_000)).unwrap();
    let toy = sim.node(b);
    assert_eq!(toy.seqs(0), (0..n).collect::<Vec<_>>(), "FIFO");
    let delays: Vec<u64> = toy
        .received
        .iter()
        .map(|r| r.at.as_micros() - r.seq * 200)
        .collect();
    assert!(delays.iter().all(|&d| (10_000..=15_000).contains(&d)));
    // FIFO clamping pulls delays towards the maximum, but they still vary.
    let spread = delays.iter().max().unwrap() - delays.iter().min().unwrap();
    assert!(spread > 2_500, "jitter spread {spread}");
    let mut distinct = delays.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 1000, "{} distinct delays", distinct.len());
}

#[test]
fn oversize_packets_are_dropped_at_link_and_interface() {
    let link = LinkConfig::new(0, Duration::ZERO).mtu(1000);
    let flows = vec![flow_ab(1500, 3), Flow::new(1, A, B, 1000, 2)];
    let (mut sim, a, b, ab) = pair(1, flows, link);
    sim.run_until(ms(1)).unwrap();
    assert_eq!(sim.link_stats(ab).dropped.packets(DropReason::LinkMtu), 3);
    assert_eq!(sim.node(b).seqs(1), [0, 1]);
    assert_eq!(sim.node(b).seqs(0), [] as [u64; 0]);
    assert_eq!(sim.iface_stats(a, mptcp_sim::IfaceId(0)).sent_packets, 5);

    let mut sim = mptcp_sim::Simulator::new(mptcp_sim::SimConfig::with_seed(1));
    let a = sim.add_host(Toy::sending(vec![
        flow_ab(1500, 2),
        Flow::new(1, A, B, 1200, 1),
    ]));
    let b = sim.add_host(Toy::sink());
    let a0 = sim.add_iface(a, IfaceConfig::new(A).with_mtu(1200));
    let b0 = sim.add_iface(b, IfaceConfig::new(B));
    let (ab, _) = sim.connect(a, a0, b, b0, LinkConfig::ideal(), LinkConfig::ideal());
    sim.run_until(ms(1)).unwrap();
    assert_eq!(
        sim.iface_stats(a, a0).dropped.packets(DropReason::IfaceMtu),
        2
    );
    assert_eq!(sim.link_stats(ab).offered_packets, 1);
    assert_eq!(sim.node(b).received.len(), 1);
}
