//! Payload middleboxes on crafted segments: the rewriter (TCP cannot tell,
//! the DSS checksum can), the splitter (the halves reassemble to the
//! original and keep its options) and the coalescers (GRO merges only
//! identical options, LRO anything in order; both release in time).

#[path = "support/packets.rs"]
mod packets;

use mptcp_sim::{
    CoalesceMode, Duration, Instant, Middlebox, MiddleboxState, MiddleboxStats, Verdict,
};
use mptcp_wire::{TcpFlags, TcpOption, dss_checksum, verify_dss_checksum};
use packets::*;

fn data(v6_addrs: bool, seq: u32, options: &[TcpOption<'static>], payload: &[u8]) -> Vec<u8> {
    Seg::new(TcpFlags::ACK, options, payload)
        .v6(v6_addrs)
        .seq(seq)
        .build()
}

/// A payload of `len` bytes, 0xff in the middle (the rewriter skips it).
fn long_payload(len: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
    p[len / 2] = 0xff;
    p
}

#[test]
fn rewrite_changes_one_byte_that_only_the_dss_checksum_sees() {
    let payload = long_payload(301);
    for v6_addrs in [false, true] {
        let original = packet(
            v6_addrs,
            TcpFlags::ACK | TcpFlags::PSH,
            &[TS, dss_of(301)],
            &payload,
        );
        let mut stats = MiddleboxStats::default();
        let (verdict, p) = apply_one(&Middlebox::Rewrite { every: 1 }, &original, &mut stats);
        assert_eq!(verdict, Verdict::Rewritten);
        assert_eq!(p.len(), original.len());
        let (before, after) = (view(&original), view(&p));
        assert!(after.tcp_ok && after.ip_ok, "TCP's checksum was fixed");
        assert_eq!(after.options, before.options);
        let changed: Vec<usize> = (0..payload.len())
            .filter(|&i| after.payload[i] != payload[i])
            .collect();
        // The middle byte is 0xff: the next one is incremented.
        assert_eq!(changed, [payload.len() / 2 + 1]);
        assert_eq!(after.payload[151], payload[151] + 1);
        // RFC 8684 §3.3.1: the DSS checksum covers the payload.
        let csum = dss_checksum(5000, 1, 301, &payload);
        assert!(verify_dss_checksum(5000, 1, 301, csum, &payload));
        assert!(!verify_dss_checksum(5000, 1, 301, csum, after.payload));
        assert_eq!(stats.rewritten_segments, 1);
    }
}

#[test]
fn rewrites_in_one_mapping_never_cancel_out() {
    // Flipping one bit here and there would cancel half the time; the
    // increments of every segment of a long mapping all show.
    let mb = Middlebox::Rewrite { every: 1 };
    let mut state = MiddleboxState::default();
    let mut stats = MiddleboxStats::default();
    let (segment, count) = (257usize, 255usize);
    let mapping: Vec<u8> = (0..segment * count)
        .map(|i| (i * 131 % 256) as u8)
        .collect();
    let mut seen = Vec::new();
    for (k, chunk) in mapping.chunks(segment).enumerate() {
        let p = data(false, SEQ + (k * segment) as u32, &[TS], chunk);
        let o = run(&mb, &mut state, &mut stats, p);
        assert_eq!(o.verdict, Verdict::Rewritten);
        seen.extend_from_slice(view(&o.out[0]).payload);
    }
    let len = mapping.len() as u16;
    let csum = dss_checksum(1, 1, len, &mapping);
    assert!(!verify_dss_checksum(1, 1, len, csum, &seen));
    assert_eq!(stats.rewritten_segments, count as u64);
}

#[test]
fn rewrite_every_n_counts_long_data_segments_only() {
    let mb = Middlebox::Rewrite { every: 3 };
    let mut state = MiddleboxState::default();
    let mut stats = MiddleboxStats::default();
    let syn = packet(false, TcpFlags::SYN, &[TcpOption::Mss(1460)], &[]);
    let ack = packet(false, TcpFlags::ACK, &[TS], &[]);
    let short = packet(false, TcpFlags::ACK, &[TS], &[1; 256]);
    let mut rewritten = Vec::new();
    for i in 1..=7u32 {
        for other in [&syn, &ack, &short] {
            let o = run(&mb, &mut state, &mut stats, other.clone());
            assert_eq!(
                (o.verdict, &o.out[..]),
                (Verdict::Unchanged, &[other.clone()][..])
            );
        }
        let p = data(false, SEQ + i * 1000, &[TS], &long_payload(1000));
        let o = run(&mb, &mut state, &mut stats, p.clone());
        assert!(view(&o.out[0]).tcp_ok);
        if o.verdict == Verdict::Rewritten {
            assert_ne!(o.out[0], p);
            rewritten.push(i);
        } else {
            assert_eq!(o.out[0], p);
        }
    }
    assert_eq!(rewritten, [3, 6]);
    assert_eq!(stats.rewritten_segments, 2);
    // A payload of 0xff only has nothing to increment.
    let all_ones = data(false, SEQ, &[TS], &[0xff; 300]);
    let (verdict, _) = apply_one(&Middlebox::Rewrite { every: 1 }, &all_ones, &mut stats);
    assert_eq!(verdict, Verdict::Unchanged);
}

#[test]
fn split_halves_reassemble_to_the_original_with_its_options() {
    for v6_addrs in [false, true] {
        for len in [2usize, 3, PAYLOAD.len()] {
            let payload = &PAYLOAD[..len];
            let flags = TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN;
            let options = [TS, dss_of(len as u16 + 1)];
            let original = Seg::new(flags, &options, payload).v6(v6_addrs).build();
            let mut stats = MiddleboxStats::default();
            let mut state = MiddleboxState::default();
            let o = run(&Middlebox::Split, &mut state, &mut stats, original.clone());
            assert_eq!(o.verdict, Verdict::Split);
            let [a, b] = &o.out[..] else {
                panic!("two halves, got {}", o.out.len())
            };
            let (va, vb, vo) = (view(a), view(b), view(&original));
            for v in [&va, &vb] {
                assert!(v.tcp_ok && v.ip_ok, "v6 {v6_addrs} len {len}");
                // RFC 8684 §3.3: both carry the mapping.
                assert_eq!(v.options, vo.options);
                assert_eq!(
                    (v.ack, v.window, v.src, v.dst),
                    (vo.ack, vo.window, vo.src, vo.dst)
                );
            }
            assert_eq!(va.payload.len(), len / 2);
            assert_eq!([va.payload, vb.payload].concat(), payload);
            assert_eq!(vb.seq, SEQ + (len / 2) as u32);
            assert_eq!(va.seq, SEQ);
            assert_eq!(va.flags, TcpFlags::ACK, "FIN and PSH end the data");
            assert_eq!(vb.flags, flags);
            assert_eq!(stats.split_segments, 1);
        }
    }
}

#[test]
fn split_passes_what_it_cannot_cut() {
    let one_byte = packet(false, TcpFlags::ACK, &[dss_of(1)], &PAYLOAD[..1]);
    let syn = packet(false, TcpFlags::SYN, &[mp_capable_syn()], &[]);
    let pure_ack = packet(true, TcpFlags::ACK, &[TS], &[]);
    let mut corrupt = packet(false, TcpFlags::ACK, &[dss()], PAYLOAD);
    *corrupt.last_mut().unwrap() ^= 1;
    let mut stats = MiddleboxStats::default();
    for p in [&one_byte, &syn, &pure_ack, &corrupt] {
        assert_eq!(
            apply_one(&Middlebox::Split, p, &mut stats),
            (Verdict::Unchanged, p.clone())
        );
    }
    assert_eq!(stats.split_segments, 0);
}

/// Three in-order data segments of 100 bytes with `options(i)`.
fn train(options: impl Fn(u32) -> Vec<TcpOption<'static>>) -> Vec<Vec<u8>> {
    (0..3u32)
        .map(|i| {
            let payload: Vec<u8> = (0..100).map(|b| (b + i as usize * 100) as u8).collect();
            data(false, SEQ + i * 100, &options(i), &payload)
        })
        .collect()
}

fn coalescer(mode: CoalesceMode) -> Middlebox {
    Middlebox::Coalesce {
        mode,
        hold: Duration::from_micros(200),
    }
}

/// Feeds `packets` at time zero; returns what came out, then what the
/// release at the deadline let go.
fn feed(
    mb: &Middlebox,
    packets: &[Vec<u8>],
    mtu: usize,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, MiddleboxStats) {
    let mut state = MiddleboxState::default();
    let mut stats = MiddleboxStats::default();
    let mut out = Vec::new();
    for p in packets {
        out.extend(run_at(mb, &mut state, &mut stats, p.clone(), Instant::ZERO, mtu).out);
    }
    assert_eq!(state.deadline(), Some(Instant::from_micros(200)));
    let mut released = Vec::new();
    mb.release_due(&mut state, Instant::from_micros(199), &mut released);
    assert!(released.is_empty(), "held until its deadline");
    mb.release_due(&mut state, Instant::from_micros(200), &mut released);
    assert_eq!(state.deadline(), None);
    (out, released, stats)
}

fn expected_payload() -> Vec<u8> {
    (0..300).map(|b| b as u8).collect()
}

#[test]
fn gro_merges_segments_that_differ_only_in_timestamps() {
    let ts = |i: u32| TcpOption::Timestamps {
        tsval: 1000 + i,
        tsecr: 77,
    };
    let packets = train(|i| vec![ts(i), dss_of(300)]);
    let (out, released, stats) = feed(&coalescer(CoalesceMode::Gro), &packets, 1500);
    assert!(out.is_empty());
    let [merged] = &released[..] else {
        panic!("one merged segment")
    };
    let v = view(merged);
    assert!(v.tcp_ok && v.ip_ok);
    assert_eq!(v.payload, expected_payload());
    assert_eq!(v.seq, SEQ);
    assert_eq!(v.options, vec![ts(0), dss_of(300)], "the first's options");
    assert_eq!(stats.coalesced_segments, 2);
}

#[test]
fn gro_keeps_segments_with_different_mappings_apart_and_lro_merges_them() {
    // Each segment carries its own mapping: GRO must not merge them (the
    // second mapping would be lost); a crude LRO does, keeping the first.
    let packets = train(|i| vec![TS, dss_of(100 + i as u16)]);
    let mut state = MiddleboxState::default();
    let mut stats = MiddleboxStats::default();
    let gro = coalescer(CoalesceMode::Gro);
    let mut out = Vec::new();
    for p in &packets {
        out.extend(run(&gro, &mut state, &mut stats, p.clone()).out);
    }
    gro.release_due(&mut state, Instant::from_micros(200), &mut out);
    assert_eq!(out, packets, "unchanged, in order");
    assert_eq!(stats.coalesced_segments, 0);

    let (out, released, stats) = feed(&coalescer(CoalesceMode::Lro), &packets, 1500);
    assert!(out.is_empty());
    let v = view(&released[0]);
    assert!(v.tcp_ok && v.ip_ok);
    assert_eq!(v.payload, expected_payload());
    assert_eq!(v.options, vec![TS, dss_of(100)]);
    assert_eq!(stats.coalesced_segments, 2);
}

#[test]
fn coalescing_stops_at_the_mtu_gaps_other_flows_and_push() {
    let same = |_| vec![TS];
    // MTU: 20 + 32 + 100 = 152-byte segments; two fit in 260, not three.
    let packets = train(same);
    let (out, released, _) = feed(&coalescer(CoalesceMode::Gro), &packets, 260);
    assert_eq!(
        out.len(),
        1,
        "the first pair left when the third did not fit"
    );
    assert_eq!(view(&out[0]).payload.len(), 200);
    assert_eq!(view(&released[0]).seq, SEQ + 200);

    // A gap in the sequence numbers: nothing merges, order is kept.
    let mut gap = train(same);
    gap.swap(1, 2);
    let (out, released, stats) = feed(&coalescer(CoalesceMode::Lro), &gap, 1500);
    assert_eq!([out, released].concat(), gap);
    assert_eq!(stats.coalesced_segments, 0);

    // PSH ends a GRO merge: the merged segment leaves at once.
    let mut packets = train(same);
    packets[1] = Seg::new(
        TcpFlags::ACK | TcpFlags::PSH,
        &[TS],
        view(&packets[1]).payload,
    )
    .seq(SEQ + 100)
    .build();
    let mut state = MiddleboxState::default();
    let mut stats = MiddleboxStats::default();
    let gro = coalescer(CoalesceMode::Gro);
    let first = run(&gro, &mut state, &mut stats, packets[0].clone());
    assert_eq!((first.verdict, first.out.len()), (Verdict::Held, 0));
    let second = run(&gro, &mut state, &mut stats, packets[1].clone());
    assert_eq!(second.out.len(), 1);
    let v = view(&second.out[0]);
    assert_eq!(
        (v.payload.len(), v.flags),
        (200, TcpFlags::ACK | TcpFlags::PSH)
    );
    assert_eq!(state.deadline(), None);
}

#[test]
fn coalescers_pass_what_they_cannot_merge() {
    for mode in [CoalesceMode::Gro, CoalesceMode::Lro] {
        let mb = coalescer(mode);
        let mut state = MiddleboxState::default();
        let mut stats = MiddleboxStats::default();
        let syn = packet(false, TcpFlags::SYN, &[mp_capable_syn()], &[]);
        let ack = packet(false, TcpFlags::ACK, &[TS], &[]);
        let fin = packet(false, TcpFlags::ACK | TcpFlags::FIN, &[TS], PAYLOAD);
        for p in [&syn, &ack, &fin] {
            let o = run(&mb, &mut state, &mut stats, p.clone());
            assert_eq!(
                (o.verdict, &o.out[..]),
                (Verdict::Unchanged, &[p.clone()][..])
            );
        }
        // A held segment leaves before an unrelated packet, in order.
        let held = data(false, SEQ, &[TS], PAYLOAD);
        assert_eq!(
            run(&mb, &mut state, &mut stats, held.clone()).verdict,
            Verdict::Held
        );
        let o = run(&mb, &mut state, &mut stats, ack.clone());
        assert_eq!(o.out, [held, ack]);
        assert_eq!(state.take_held(), None);
    }
}
