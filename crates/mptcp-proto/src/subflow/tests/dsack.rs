//! D-SACK (RFC 2883) at both ends, RACK's reordering window (RFC 8985
//! §6.2) and the undo of spurious congestion responses (RFC 9438 §4.9.2).

use super::*;
use mptcp_wire::{SackBlock, SackBlocks};
use std::cell::RefCell;
use std::rc::Rc;

/// The first data byte's sequence number on the client's subflow.
const DATA0: u32 = 0xffff_fff1;

/// (ack, SACK blocks) of every segment the server sends.
type Acks = Rc<RefCell<Vec<(SubflowSeq, Vec<SackBlock>)>>>;

fn record_server_acks(w: &mut Wire) -> Acks {
    let acks: Acks = Rc::default();
    let seen = acks.clone();
    w.drop = Box::new(move |to_server, seg, _| {
        if !to_server {
            let blocks = seg.sack.map(|s| s.as_slice().to_vec()).unwrap_or_default();
            seen.borrow_mut().push((seg.ack, blocks));
        }
        false
    });
    acks
}

fn nth_segment(n: u32) -> SubflowSeq {
    SubflowSeq(DATA0.wrapping_add(n * 1448))
}

#[test]
fn a_duplicate_below_rcv_nxt_is_reported_first_in_the_next_ack() {
    let mut w = Wire::new(10, 1 << 20);
    let data = pattern(100_000);
    w.client.tx = data.clone();
    let acks = record_server_acks(&mut w);
    // A copy of the third data segment arrives 3 ms after the original.
    let dup = nth_segment(3);
    w.shape = Box::new(move |to_server, seg, _| {
        let copy = (to_server && seg.seq == dup && !seg.payload.is_empty())
            .then_some(Duration::from_millis(3));
        (Duration::ZERO, copy)
    });
    w.run_until(secs(10), |w| w.server.owner.rx.len() == data.len());
    assert!(w.server.owner.rx == data, "delivered once, in order");
    let expect = SackBlock {
        left: dup,
        right: dup + 1448,
    };
    let acks = acks.borrow();
    let with_dsack: Vec<_> = acks
        .iter()
        .filter(|(_, b)| b.first() == Some(&expect))
        .collect();
    assert_eq!(with_dsack.len(), 1, "reported once (RFC 2883 §4 (2))");
    let (ack, blocks) = with_dsack[0];
    assert!(expect.right.le(*ack), "below the cumulative ACK");
    assert_eq!(blocks.len(), 1, "nothing else held");
    assert_eq!(w.server().stats().dsacks_sent, 1);
    let st = w.client().stats();
    assert_eq!(st.dsacks_received, 1, "{st:?}");
    assert_eq!(st.spurious_retransmits, 0, "never retransmitted");
    assert_eq!(st.spurious_undos, 0);
}

#[test]
fn a_duplicate_of_held_data_is_reported_then_its_block() {
    let mut w = Wire::new(10, 1 << 20);
    let data = pattern(100_000);
    w.client.tx = data.clone();
    let acks = record_server_acks(&mut w);
    let (hole, dup) = (nth_segment(5), nth_segment(7));
    let mut dropped = false;
    let record = std::mem::replace(&mut w.drop, Box::new(|_, _, _| false));
    let mut record = record;
    w.drop = Box::new(move |to_server, seg, idx| {
        let _ = record(to_server, seg, idx);
        if to_server && seg.seq == hole && !dropped {
            dropped = true;
            return true;
        }
        false
    });
    w.shape = Box::new(move |to_server, seg, _| {
        let copy = (to_server && seg.seq == dup && !seg.payload.is_empty())
            .then_some(Duration::from_millis(1));
        (Duration::ZERO, copy)
    });
    w.run_until(secs(10), |w| w.server.owner.rx.len() == data.len());
    assert!(w.server.owner.rx == data);
    let expect = SackBlock {
        left: dup,
        right: dup + 1448,
    };
    let acks = acks.borrow();
    let (ack, blocks) = acks
        .iter()
        .find(|(_, b)| b.first() == Some(&expect))
        .expect("an ACK reports the duplicate");
    assert!(ack.le(hole), "the hole is still open");
    let held = blocks.get(1).expect("the held block follows");
    assert!(held.left.le(expect.left) && expect.right.le(held.right));
    assert_eq!(held.left, hole + 1448, "the block after the hole");
    assert_eq!(w.server().stats().dsacks_sent, 1);
}

/// An established client with the server's side driven by hand.
fn established() -> (Subflow, Plain, Instant) {
    let mut w = Wire::established(true);
    let sf = w.client.sf.take().expect("client");
    (sf, std::mem::take(&mut w.client.owner), w.now)
}

fn ack_with(sf: &Subflow, ack: SubflowSeq, blocks: &[SackBlock]) -> SegmentIn<'static> {
    SegmentIn {
        sack: SackBlocks::new(blocks),
        ..bare(sf.rcv.nxt, ack, TcpFlags::ACK, u16::MAX, &[])
    }
}

/// Send `n` segments of 1000 bytes; returns their first sequence numbers.
fn send(sf: &mut Subflow, owner: &mut Plain, now: Instant, n: usize) -> Vec<SubflowSeq> {
    let mut firsts = Vec::new();
    for i in 0..n {
        firsts.push(sf.push(Bytes::from(vec![i as u8; 1000]), None, None));
    }
    let mut buf = [0u8; 1600];
    while sf.poll_transmit(now, owner, &mut buf).is_some() {}
    firsts
}

fn ms(base: Instant, n: u64) -> Instant {
    base + Duration::from_millis(n)
}

#[test]
fn crafted_dsack_is_counted_widens_reo_wnd_and_undoes_the_reduction() {
    let (mut sf, mut owner, t0) = established();
    let segs = send(&mut sf, &mut owner, t0, 10);
    let cwnd_before = sf.cwnd();
    let end = segs[9] + 1000;
    // Everything but the first segment is SACKed: RACK marks it lost.
    let sack = [SackBlock {
        left: segs[1],
        right: end,
    }];
    sf.handle_segment(ms(t0, 20), &ack_with(&sf, segs[0], &sack), &mut owner, &[]);
    assert_eq!(sf.stats().fast_recoveries, 1);
    assert!(sf.cwnd() < cwnd_before, "the congestion response");
    let mut buf = [0u8; 1600];
    while sf.poll_transmit(ms(t0, 20), &mut owner, &mut buf).is_some() {}
    assert_eq!(sf.stats().retransmits, 1);
    assert_eq!(sf.rtx.reo_wnd_mult(), 1);
    // The original was only late: everything is acknowledged, and the
    // retransmission is reported as a duplicate.
    let dsack = [SackBlock {
        left: segs[0],
        right: segs[1],
    }];
    sf.handle_segment(ms(t0, 30), &ack_with(&sf, end, &dsack), &mut owner, &[]);
    let st = *sf.stats();
    assert_eq!(st.dsacks_received, 1, "{st:?}");
    assert_eq!(st.spurious_retransmits, 1);
    assert_eq!(st.spurious_undos, 1);
    assert_eq!(sf.cwnd(), cwnd_before, "RFC 9438 §4.9.2: restored");
    assert_eq!(sf.rtx.reo_wnd_mult(), 2, "RFC 8985 §6.2: widened");
    assert!(sf.recovery.is_none());
    // Another D-SACK undoes nothing twice; it widens the window again, as
    // SND.UNA reached the SND.NXT of the first one's round trip.
    sf.handle_segment(ms(t0, 31), &ack_with(&sf, end, &dsack), &mut owner, &[]);
    assert_eq!(sf.stats().dsacks_received, 2);
    assert_eq!(sf.stats().spurious_retransmits, 1);
    assert_eq!(sf.stats().spurious_undos, 1);
    assert_eq!(sf.rtx.reo_wnd_mult(), 3);
}

#[test]
fn a_real_loss_is_not_undone_and_bogus_dsacks_are_ignored() {
    let (mut sf, mut owner, t0) = established();
    let segs = send(&mut sf, &mut owner, t0, 10);
    let end = segs[9] + 1000;
    let sack = [SackBlock {
        left: segs[1],
        right: end,
    }];
    sf.handle_segment(ms(t0, 20), &ack_with(&sf, segs[0], &sack), &mut owner, &[]);
    let reduced = sf.cwnd();
    let mut buf = [0u8; 1600];
    while sf.poll_transmit(ms(t0, 20), &mut owner, &mut buf).is_some() {}
    // Only the retransmission arrived: a plain cumulative ACK.
    sf.handle_segment(ms(t0, 30), &ack_with(&sf, end, &[]), &mut owner, &[]);
    // Reports of data never sent, empty or reversed blocks: not D-SACKs.
    for (l, r) in [(end, end + 1000), (segs[3], segs[3]), (segs[4], segs[2])] {
        let b = [SackBlock { left: l, right: r }];
        sf.handle_segment(ms(t0, 31), &ack_with(&sf, end, &b), &mut owner, &[]);
    }
    let st = *sf.stats();
    assert_eq!(st.dsacks_received, 0, "{st:?}");
    assert_eq!(st.spurious_undos, 0);
    assert!(sf.cwnd() <= reduced + 2000, "no undo");
}

#[test]
fn reordering_beyond_rack_window_is_undone_end_to_end() {
    let mut w = Wire::new(10, 1 << 20);
    let data = pattern(400_000);
    w.client.tx = data.clone();
    // The 40th data segment is held back 15 ms (RTT 20 ms): RACK, with no
    // reordering seen yet, retransmits it; the original arrives first.
    let late = nth_segment(40);
    let mut once = false;
    w.shape = Box::new(move |to_server, seg, _| {
        if to_server && seg.seq == late && !once {
            once = true;
            return (Duration::from_millis(15), None);
        }
        (Duration::ZERO, None)
    });
    w.run_until(secs(30), |w| w.server.owner.rx.len() == data.len());
    assert!(w.server.owner.rx == data);
    let st = *w.client().stats();
    assert_eq!(st.retransmits, 1, "{st:?}");
    assert_eq!(st.fast_recoveries, 1);
    assert_eq!(st.dsacks_received, 1);
    assert_eq!(st.spurious_retransmits, 1);
    assert_eq!(st.spurious_undos, 1);
    assert_eq!(w.server().stats().dsacks_sent, 1);
    assert_eq!(w.client().rtx.reo_wnd_mult(), 2);
}

#[test]
fn a_segment_straddling_rcv_nxt_keeps_its_new_part_and_reports_the_old() {
    let mut w = Wire::established(true);
    let now = w.now;
    let sf = w.server.sf.as_mut().expect("server");
    let owner = &mut w.server.owner;
    let data = pattern(1600);
    let start = sf.rcv.nxt;
    let seg = |seq: SubflowSeq, payload: &'static [u8], ack: SubflowSeq| {
        bare(seq, ack, TcpFlags::ACK, u16::MAX, payload)
    };
    let data: &'static [u8] = data.leak();
    let ack = sf.snd.nxt;
    sf.handle_segment(now, &seg(start, &data[..1000], ack), owner, &[]);
    let mut buf = [0u8; 1600];
    while sf.poll_transmit(now, owner, &mut buf).is_some() {}
    // Bytes 600..1600: the first 400 are old.
    sf.handle_segment(now, &seg(start + 600, &data[600..], ack), owner, &[]);
    assert_eq!(owner.rx, data, "the new part delivered, once");
    let len = sf.poll_transmit(now, owner, &mut buf).expect("an ACK");
    let ip = IpPacket::parse(&buf[..len]).expect("ip");
    let tcp = ip.tcp().expect("tcp");
    let out = SegmentIn::from_tcp(&tcp);
    assert_eq!(out.ack, start + 1600);
    let blocks = out.sack.expect("a SACK option");
    assert_eq!(
        blocks.as_slice(),
        &[SackBlock {
            left: start + 600,
            right: start + 1000,
        }]
    );
    assert_eq!(sf.stats().dsacks_sent, 1);
}
