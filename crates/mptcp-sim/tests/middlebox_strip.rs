//! Option strippers on crafted segments: MPTCP options (every selection,
//! IPv4 and IPv6, odd and even offsets) and the negotiation options of SYNs
//! and SYN-ACKs. The packet keeps its length, the checksum stays valid.

#[path = "support/packets.rs"]
mod packets;

use mptcp_sim::{Middlebox, MiddleboxStats, StripWhich, SynOption, Verdict};
use mptcp_wire::{TcpFlags, TcpOption};
use packets::*;

/// MSS + timestamps + DSS in two layouts: DSS at an even and at an odd
/// offset of the options area.
fn layouts() -> [Vec<TcpOption<'static>>; 2] {
    [
        vec![
            TcpOption::Mss(1460),
            TS,
            TcpOption::Nop,
            TcpOption::Nop,
            dss(),
        ],
        vec![TcpOption::Mss(1460), TcpOption::Nop, dss(), TS],
    ]
}

fn strip(which: StripWhich, p: &mut Vec<u8>, stats: &mut MiddleboxStats) -> Verdict {
    let (verdict, out) = apply_one(&Middlebox::strip_mptcp(which), p, stats);
    *p = out;
    verdict
}

/// (options, payload, TCP checksum verifies) of a packet.
fn inspect(p: &[u8]) -> (Vec<TcpOption<'_>>, &[u8], bool) {
    let v = view(p);
    assert!(v.ip_ok);
    (v.options, v.payload, v.tcp_ok)
}

#[test]
fn strips_dss_from_data_segments_v4_and_v6() {
    for v6_addrs in [false, true] {
        for options in layouts() {
            for which in [StripWhich::NonSyn, StripWhich::All] {
                let original = packet(v6_addrs, TcpFlags::ACK | TcpFlags::PSH, &options, PAYLOAD);
                let mut p = original.clone();
                let mut stats = MiddleboxStats::default();
                assert_eq!(strip(which, &mut p, &mut stats), Verdict::Rewritten);
                assert_eq!(p.len(), original.len());
                let (before, _, ok) = inspect(&original);
                assert!(ok);
                let (after, payload, ok) = inspect(&p);
                assert!(
                    ok,
                    "checksum must verify after stripping ({v6_addrs}, {which:?})"
                );
                assert_eq!(payload, PAYLOAD);
                assert_eq!(mptcp_count(&after), 0);
                let dss_len = dss().len();
                assert_eq!(nop_count(&after), nop_count(&before) + dss_len);
                // Every other option survives, in order.
                let keep = |o: &&TcpOption<'_>| !matches!(o, TcpOption::Mptcp(_) | TcpOption::Nop);
                let kept_before: Vec<_> = before.iter().filter(keep).collect();
                let kept_after: Vec<_> = after.iter().filter(keep).collect();
                assert_eq!(kept_before, kept_after);
                assert_eq!(kept_after, [&TcpOption::Mss(1460), &TS]);
                // Only the DSS bytes and the TCP checksum changed.
                let ip_len = if v6_addrs { 40 } else { 20 };
                let changed: Vec<usize> = (0..p.len()).filter(|&i| p[i] != original[i]).collect();
                assert!(changed.iter().all(|&i| {
                    let t = i - ip_len;
                    t == 16 || t == 17 || p[i] == 1
                }));
                assert_eq!(
                    stats,
                    MiddleboxStats {
                        stripped_packets: 1,
                        stripped_options: 1,
                        stripped_bytes: dss_len as u64,
                        ..MiddleboxStats::default()
                    }
                );
            }
        }
    }
}

#[test]
fn syn_mode_keeps_data_segments() {
    for v6_addrs in [false, true] {
        for options in layouts() {
            let original = packet(v6_addrs, TcpFlags::ACK, &options, PAYLOAD);
            let mut p = original.clone();
            let mut stats = MiddleboxStats::default();
            assert_eq!(
                strip(StripWhich::Syn, &mut p, &mut stats),
                Verdict::Unchanged
            );
            assert_eq!(p, original);
            assert_eq!(stats, MiddleboxStats::default());
        }
    }
}

#[test]
fn syn_and_syn_ack_lose_mp_capable_in_syn_and_all_modes() {
    for v6_addrs in [false, true] {
        for flags in [TcpFlags::SYN, TcpFlags::SYN | TcpFlags::ACK] {
            let options = [
                TcpOption::Mss(1460),
                TcpOption::SackPermitted,
                TS,
                TcpOption::Nop,
                TcpOption::WindowScale(7),
                mp_capable_syn(),
            ];
            let original = packet(v6_addrs, flags, &options, &[]);
            for which in [StripWhich::Syn, StripWhich::All] {
                let mut p = original.clone();
                let mut stats = MiddleboxStats::default();
                assert_eq!(strip(which, &mut p, &mut stats), Verdict::Rewritten);
                let (after, payload, ok) = inspect(&p);
                assert!(ok && payload.is_empty());
                assert_eq!(mptcp_count(&after), 0);
                assert_eq!(after.len(), options.len() - 1 + 4);
                assert_eq!((stats.stripped_packets, stats.stripped_options), (1, 1));
                assert_eq!(stats.stripped_bytes, 4);
            }
            let mut p = original.clone();
            let mut stats = MiddleboxStats::default();
            let verdict = strip(StripWhich::NonSyn, &mut p, &mut stats);
            assert_eq!((verdict, &p), (Verdict::Unchanged, &original));
        }
    }
}

#[test]
fn several_mptcp_options_in_one_segment_are_all_stripped() {
    // Not a sensible segment, but a middlebox must not care.
    let options = [mp_capable_syn(), TS, dss()];
    let mut p = packet(false, TcpFlags::ACK, &options, PAYLOAD);
    let mut stats = MiddleboxStats::default();
    strip(StripWhich::All, &mut p, &mut stats);
    let (after, _, ok) = inspect(&p);
    assert!(ok);
    assert_eq!(mptcp_count(&after), 0);
    assert_eq!(stats.stripped_options, 2);
    assert_eq!(stats.stripped_packets, 1);
}

#[test]
fn packets_without_mptcp_or_tcp_pass_unchanged() {
    let mut stats = MiddleboxStats::default();
    let mb = Middlebox::strip_mptcp(StripWhich::All);
    // TCP without MPTCP options: parsed, nothing to do.
    let plain = packet(true, TcpFlags::ACK, &[TS], PAYLOAD);
    assert_eq!(
        apply_one(&mb, &plain, &mut stats),
        (Verdict::Unchanged, plain.clone())
    );
    assert_eq!(stats, MiddleboxStats::default());
    // UDP, garbage, a truncated TCP packet, a broken options area.
    let mut udp = packet(false, TcpFlags::ACK, &[dss()], PAYLOAD);
    udp[9] = 17;
    let mut truncated = packet(false, TcpFlags::ACK, &[dss()], PAYLOAD);
    truncated.truncate(truncated.len() - 1);
    let mut bad_opts = packet(false, TcpFlags::ACK, &[dss(), TS], PAYLOAD);
    // Options start at 40; the timestamps' length byte follows the DSS.
    let ts_len_at = 40 + dss().len() + 1;
    assert_eq!(bad_opts[ts_len_at], 10);
    bad_opts[ts_len_at] = 0;
    let cases = [udp, vec![0x45; 10], vec![], truncated, bad_opts];
    for case in &cases {
        let (verdict, p) = apply_one(&mb, case, &mut stats);
        assert_eq!(verdict, Verdict::Unchanged);
        assert_eq!(&p, case);
    }
    assert_eq!(stats.unparsed_packets, cases.len() as u64);
    assert_eq!(stats.stripped_packets, 0);
}

#[test]
fn a_corrupt_checksum_stays_corrupt() {
    let mut p = packet(false, TcpFlags::ACK, &[dss()], PAYLOAD);
    let at = 20 + 16;
    p[at] ^= 0x40;
    assert!(!inspect(&p).2);
    let mut stats = MiddleboxStats::default();
    strip(StripWhich::All, &mut p, &mut stats);
    let (after, _, ok) = inspect(&p);
    assert_eq!(mptcp_count(&after), 0);
    assert!(!ok, "an incremental update keeps the error");
}

fn syn_options() -> Vec<TcpOption<'static>> {
    vec![
        TcpOption::Mss(1460),
        TcpOption::SackPermitted,
        TS,
        TcpOption::Nop,
        TcpOption::WindowScale(7),
        mp_capable_syn(),
    ]
}

#[test]
fn syn_options_are_stripped_one_kind_at_a_time() {
    let cases = [
        (SynOption::Timestamps, TS, 10),
        (SynOption::SackPermitted, TcpOption::SackPermitted, 2),
        (SynOption::WindowScale, TcpOption::WindowScale(7), 3),
    ];
    for v6_addrs in [false, true] {
        for flags in [TcpFlags::SYN, TcpFlags::SYN | TcpFlags::ACK] {
            let original = packet(v6_addrs, flags, &syn_options(), &[]);
            for (option, gone, len) in cases {
                let mb = Middlebox::StripSynOption { option };
                let mut stats = MiddleboxStats::default();
                let (verdict, p) = apply_one(&mb, &original, &mut stats);
                assert_eq!(verdict, Verdict::Rewritten);
                assert_eq!(p.len(), original.len());
                let (before, after) = (view(&original), view(&p));
                assert!(after.tcp_ok && after.ip_ok, "{option:?} v6 {v6_addrs}");
                assert!(!after.options.contains(&gone));
                assert_eq!(nop_count(&after.options), nop_count(&before.options) + len);
                let mut kept = non_nop(&before.options);
                kept.retain(|o| *o != gone);
                assert_eq!(non_nop(&after.options), kept, "the others stay, in order");
                assert_eq!(stats.syn_options_stripped, 1);
            }
        }
    }
}

#[test]
fn syn_option_strippers_leave_other_segments_alone() {
    // Timestamps on data segments stay: only the negotiation is touched.
    let data = packet(false, TcpFlags::ACK, &[TS, dss()], PAYLOAD);
    let no_ts_syn = packet(false, TcpFlags::SYN, &[TcpOption::Mss(1460)], &[]);
    for option in [
        SynOption::Timestamps,
        SynOption::SackPermitted,
        SynOption::WindowScale,
    ] {
        let mb = Middlebox::StripSynOption { option };
        let mut stats = MiddleboxStats::default();
        for p in [&data, &no_ts_syn] {
            assert_eq!(
                apply_one(&mb, p, &mut stats),
                (Verdict::Unchanged, p.clone())
            );
        }
        assert_eq!(stats, MiddleboxStats::default());
    }
}
