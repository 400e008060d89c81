use super::*;

fn at(ms: u64) -> Instant {
    Instant::from_micros(ms * 1000)
}

/// A queue with `n` segments of 100 bytes from seq 1000, all sent at t=0..n ms.
fn sent_queue(n: u32) -> RtxQueue {
    let mut q = RtxQueue::new();
    for i in 0..n {
        q.push(
            SubflowSeq(1000 + i * 100),
            Bytes::from(vec![i as u8; 100]),
            None,
            None,
            false,
        );
    }
    for i in 0..n as usize {
        let (idx, retx) = q.next_to_send().expect("unsent segment");
        assert_eq!((idx, retx), (i, false));
        q.on_sent(idx, at(i as u64));
    }
    q
}

#[test]
fn cumulative_ack_frees_and_samples_rtt() {
    let mut q = sent_queue(5);
    assert_eq!(q.in_flight(), 500);
    let mut out = AckOutcome::default();
    q.on_cumulative_ack(SubflowSeq(1200), at(30), &mut out);
    assert_eq!(out.cum_acked, 200);
    // Karn: the freshest never-retransmitted segment gives the sample.
    assert_eq!(out.rtt_sample, Some(Duration::from_millis(29)));
    assert_eq!(q.in_flight(), 300);
    assert_eq!(q.front_seq(), Some(SubflowSeq(1200)));
}

#[test]
fn an_ack_that_covers_a_retransmission_gives_no_rtt_sample() {
    // Three segments sent at 0..2 ms; the first is lost and resent by the
    // timer at 10 s; its arrival fills the hole and the ACK covers all
    // three. Segments 1 and 2 were never resent, but timing them would
    // give 10 s: the time the hole took, not the path's.
    let mut q = sent_queue(3);
    q.on_rto(false);
    assert_eq!(q.next_to_send(), Some((0, true)));
    q.on_sent(0, at(10_000));
    let mut out = AckOutcome::default();
    q.on_cumulative_ack(SubflowSeq(1300), at(10_030), &mut out);
    assert_eq!(out.cum_acked, 300);
    assert_eq!(out.rtt_sample, None);
    // The same with the retransmission acknowledged only in part.
    let mut q = sent_queue(3);
    q.on_rto(false);
    q.next_to_send();
    q.on_sent(0, at(10_000));
    let mut out = AckOutcome::default();
    q.on_cumulative_ack(SubflowSeq(1050), at(10_030), &mut out);
    assert_eq!(out.rtt_sample, None);
    // A later ACK of never-resent segments alone does time them.
    let mut out = AckOutcome::default();
    q.on_cumulative_ack(SubflowSeq(1100), at(10_031), &mut out);
    assert_eq!(out.rtt_sample, None, "the rest of the resent segment");
    let mut out = AckOutcome::default();
    q.on_cumulative_ack(SubflowSeq(1200), at(10_040), &mut out);
    assert_eq!(out.rtt_sample, Some(Duration::from_millis(10_039)));
}

#[test]
fn partial_ack_trims_front_and_mapping() {
    let mut q = RtxQueue::new();
    q.push(
        SubflowSeq(0),
        Bytes::from_static(&[7; 100]),
        Some(DataSeq(5000)),
        None,
        false,
    );
    q.on_sent(0, at(0));
    let mut out = AckOutcome::default();
    q.on_cumulative_ack(SubflowSeq(40), at(10), &mut out);
    assert_eq!(out.cum_acked, 40);
    let front = q.get(0).expect("front");
    assert_eq!(front.seq, SubflowSeq(40));
    assert_eq!(front.dsn, Some(DataSeq(5040)));
    assert_eq!(front.data.len(), 60);
    assert_eq!(q.in_flight(), 60);
}

#[test]
fn sack_then_rack_marks_the_hole_lost() {
    let mut q = sent_queue(5);
    q.set_min_rtt(Duration::from_millis(20));
    let mut out = AckOutcome::default();
    // Segment 0 lost; 1..5 SACKed at t=25.
    q.on_sack_block(SubflowSeq(1100), SubflowSeq(1500), at(25), &mut out);
    assert_eq!(out.sacked, 400);
    assert_eq!(q.in_flight(), 100);
    assert_eq!(q.sacked_segments(), 4);
    // Sent at 0, the latest delivered was sent at 4 ms with RTT 21 ms; with
    // three SACKed segments and no reordering seen, reo_wnd is 0.
    let (lost, next) = q.rack_detect_loss(at(20), Some(Duration::from_millis(20)), None, false);
    assert_eq!((lost, next), (0, Some(at(21))));
    let (lost, _) = q.rack_detect_loss(at(21), Some(Duration::from_millis(20)), None, false);
    assert_eq!(lost, 1);
    assert_eq!(q.in_flight(), 0);
    assert_eq!(q.next_to_send(), Some((0, true)));
    q.on_sent(0, at(22));
    assert!(q.get(0).is_some_and(|s| s.retransmitted));
    assert_eq!(q.in_flight(), 100);
    let mut out = AckOutcome::default();
    q.on_cumulative_ack(SubflowSeq(1500), at(45), &mut out);
    // Only the retransmitted segment is newly acked; the SACKed ones were counted.
    assert_eq!(out.cum_acked, 100);
    assert_eq!(out.rtt_sample, None);
    assert!(q.is_empty());
    assert_eq!(q.in_flight(), 0);
}

#[test]
fn reordering_widens_the_window() {
    let mut q = sent_queue(4);
    let mut out = AckOutcome::default();
    q.on_sack_block(SubflowSeq(1300), SubflowSeq(1400), at(20), &mut out);
    // Segment 1 delivered after segment 3: reordering seen.
    q.on_sack_block(SubflowSeq(1100), SubflowSeq(1200), at(21), &mut out);
    let min = Some(Duration::from_millis(16));
    // reo_wnd = min_rtt / 4 = 4 ms past 0 + 17 ms.
    let (lost, next) = q.rack_detect_loss(at(20), min, None, false);
    assert_eq!(lost, 0);
    assert_eq!(next, Some(at(21)));
    let (lost, _) = q.rack_detect_loss(at(21), min, None, false);
    assert_eq!(lost, 1);
}

#[test]
fn rto_marks_everything_unsacked_lost() {
    let mut q = sent_queue(4);
    let mut out = AckOutcome::default();
    q.on_sack_block(SubflowSeq(1200), SubflowSeq(1300), at(20), &mut out);
    q.on_rto(false);
    assert_eq!(q.in_flight(), 0);
    let mut order = Vec::new();
    while let Some((idx, true)) = q.next_to_send() {
        order.push(idx);
        q.on_sent(idx, at(300));
    }
    assert_eq!(order, vec![0, 1, 3]);
    // Reneging: forget the SACKs, everything is resent.
    q.on_rto(true);
    let mut order = Vec::new();
    while let Some((idx, true)) = q.next_to_send() {
        order.push(idx);
        q.on_sent(idx, at(900));
    }
    assert_eq!(order, vec![0, 1, 2, 3]);
}

#[test]
fn fin_piggybacks_on_unsent_tail() {
    let mut q = RtxQueue::new();
    q.push(SubflowSeq(0), Bytes::from_static(b"abc"), None, None, false);
    assert!(q.piggyback_fin());
    assert!(q.fin_queued());
    q.on_sent(0, at(0));
    assert_eq!(q.in_flight(), 4);
    assert!(!q.piggyback_fin());
    let mut out = AckOutcome::default();
    q.on_cumulative_ack(SubflowSeq(4), at(10), &mut out);
    assert!(out.fin_acked);
    assert!(q.is_empty());
}

#[test]
fn dupack_recovery_marks_front_once() {
    let mut q = sent_queue(3);
    assert!(q.mark_first_lost());
    assert!(!q.mark_first_lost());
    assert_eq!(q.in_flight(), 200);
    assert_eq!(q.next_to_send(), Some((0, true)));
}

fn seq(n: u32) -> SubflowSeq {
    SubflowSeq(n)
}

#[test]
fn dsack_widens_reo_wnd_once_per_round_trip_for_16_recoveries() {
    let mut q = sent_queue(4);
    q.rack.reordering_seen = true;
    let (min, srtt) = (
        Some(Duration::from_millis(40)),
        Some(Duration::from_millis(100)),
    );
    let wnd = |q: &RtxQueue| q.reo_wnd(min, srtt, true);
    assert_eq!(wnd(&q), Duration::from_millis(10), "min_RTT / 4");
    let o = q.on_dsack(seq(900), seq(1000), seq(1000), seq(1400));
    assert!(o.widened);
    assert_eq!(o.spurious_retransmits, 0, "no episode watched");
    assert!(
        !q.on_dsack(seq(900), seq(1000), seq(1100), seq(1400))
            .widened
    );
    assert_eq!(wnd(&q), Duration::from_millis(20));
    // A new round trip once SND.UNA reached the SND.NXT of the last one.
    assert!(
        q.on_dsack(seq(900), seq(1000), seq(1400), seq(1800))
            .widened
    );
    assert_eq!(q.reo_wnd_mult(), 3);
    assert_eq!(wnd(&q), Duration::from_millis(30));
    for i in 0..10 {
        let una = seq(2000 + 1000 * i);
        q.on_dsack(seq(900), seq(1000), una, una + 500);
    }
    assert_eq!(q.reo_wnd_mult(), 13);
    assert_eq!(wnd(&q), Duration::from_millis(100), "at most SRTT");
    // Recoveries without D-SACK: the 16th resets the multiplier.
    for _ in 0..15 {
        q.on_recovery_end(seq(1400), false);
    }
    assert_eq!(q.reo_wnd_mult(), 13);
    q.on_recovery_end(seq(1400), true);
    assert_eq!(q.reo_wnd_mult(), 13, "a D-SACK on the same ACK");
    q.on_recovery_end(seq(1400), false);
    assert_eq!(q.reo_wnd_mult(), 1);
    assert_eq!(wnd(&q), Duration::from_millis(10));
}

/// Mark `idxs` lost and retransmit them at `t` ms.
fn retransmit(q: &mut RtxQueue, idxs: &[usize], t: u64) {
    for &i in idxs {
        q.mark_lost(i);
    }
    for _ in idxs {
        let (idx, retx) = q.next_to_send().expect("lost segment");
        assert!(retx);
        q.on_sent(idx, at(t));
    }
}

#[test]
fn an_episode_is_spurious_once_every_retransmission_is_dsacked() {
    let mut q = sent_queue(4);
    q.start_episode();
    retransmit(&mut q, &[0, 1], 50);
    // The first segment went out a third time (a second loss detection).
    retransmit(&mut q, &[0], 60);
    let una = seq(1000);
    let nxt = seq(1400);
    assert_eq!(
        q.on_dsack(seq(1000), seq(1100), una, nxt)
            .spurious_retransmits,
        1
    );
    assert_eq!(
        q.on_dsack(seq(1000), seq(1100), una, nxt)
            .spurious_retransmits,
        1
    );
    assert!(
        !q.take_spurious_episode(una),
        "one retransmission unreported"
    );
    // Data never retransmitted, or only partly covered: matches nothing.
    assert_eq!(
        q.on_dsack(seq(1200), seq(1300), una, nxt)
            .spurious_retransmits,
        0
    );
    assert_eq!(
        q.on_dsack(seq(1100), seq(1150), una, nxt)
            .spurious_retransmits,
        0
    );
    assert_eq!(
        q.on_dsack(seq(1100), seq(1200), una, nxt)
            .spurious_retransmits,
        1
    );
    assert!(q.take_spurious_episode(una));
    assert!(!q.take_spurious_episode(una), "undone once");
}

#[test]
fn an_episode_ends_at_rto_or_a_round_trip_after_recovery() {
    let mut q = sent_queue(4);
    q.start_episode();
    retransmit(&mut q, &[0], 50);
    q.on_rto(false);
    let (una, nxt) = (seq(1000), seq(1400));
    assert_eq!(
        q.on_dsack(seq(1000), seq(1100), una, nxt)
            .spurious_retransmits,
        0
    );
    let mut q = sent_queue(4);
    q.start_episode();
    retransmit(&mut q, &[0], 50);
    q.on_recovery_end(nxt, false);
    assert!(!q.take_spurious_episode(seq(1100)));
    // SND.UNA reached the SND.NXT of the recovery's end: too late.
    assert!(!q.take_spurious_episode(nxt));
    assert_eq!(
        q.on_dsack(seq(1000), seq(1100), nxt, nxt)
            .spurious_retransmits,
        0
    );
}
