//! Middleboxes: MPTCP option stripping on IPv4 and IPv6 segments, directly and
//! on a simulated link.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mptcp_sim::{
    Duration, IfaceConfig, IfaceId, Instant, LinkConfig, Middlebox, MiddleboxStats, Node,
    SimConfig, Simulator, StripWhich, Verdict,
};
use mptcp_wire::{
    CapableBody, CapableFlags, Dss, DssMapping, IpPacket, IpProtocol, Ipv4Repr, Ipv6Repr,
    MpCapable, MptcpOption, SubflowSeq, TcpFlags, TcpOption, TcpRepr, Version, WireSeq,
    emit_segment,
};

const PAYLOAD: &[u8] = b"multipath payload, odd length!!";
const V4_SRC: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const V4_DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn dss() -> TcpOption<'static> {
    TcpOption::Mptcp(MptcpOption::Dss(Dss {
        data_ack: Some(WireSeq::Short(7000)),
        mapping: Some(DssMapping {
            dsn: WireSeq::Short(5000),
            subflow_seq: 1,
            data_len: PAYLOAD.len() as u16,
            checksum: None,
        }),
        ..Dss::default()
    }))
}

fn mp_capable_syn() -> TcpOption<'static> {
    TcpOption::Mptcp(MptcpOption::Capable(MpCapable {
        version: Version::V1,
        flags: CapableFlags::HMAC_SHA,
        body: CapableBody::NoKey,
    }))
}

const TS: TcpOption<'static> = TcpOption::Timestamps {
    tsval: 0x0102_0304,
    tsecr: 0x0506_0708,
};

/// A complete IP packet carrying a TCP segment with `options` and `payload`.
fn packet(v6_addrs: bool, flags: TcpFlags, options: &[TcpOption<'_>], payload: &[u8]) -> Vec<u8> {
    let (src, dst): (IpAddr, IpAddr) = if v6_addrs {
        (v6("2001:db8:1::1").into(), v6("2001:db8::2").into())
    } else {
        (V4_SRC.into(), V4_DST.into())
    };
    let repr = TcpRepr {
        src_port: 40_000,
        dst_port: 80,
        seq: SubflowSeq(0x1234_5678),
        ack: SubflowSeq(0x9abc_def0),
        flags,
        window: 65_535,
        urgent: 0,
    };
    let mut seg = vec![0; 1500];
    let len = emit_segment(&repr, options, payload, src, dst, &mut seg).unwrap();
    seg.truncate(len);
    let mut out = vec![0; 60];
    let hdr = match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => Ipv4Repr {
            src,
            dst,
            protocol: IpProtocol::TCP,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 7,
            dont_fragment: true,
        }
        .emit(&mut out, len)
        .unwrap(),
        (IpAddr::V6(src), IpAddr::V6(dst)) => Ipv6Repr {
            src,
            dst,
            next_header: IpProtocol::TCP,
            hop_limit: 64,
            dscp: 0,
            ecn: 0,
            flow_label: 0x12345,
        }
        .emit(&mut out, len)
        .unwrap(),
        _ => unreachable!(),
    };
    out.truncate(hdr);
    out.extend_from_slice(&seg);
    out
}

/// The parsed options of a packet (all must parse), its payload, and whether
/// its TCP checksum verifies.
fn inspect(p: &[u8]) -> (Vec<TcpOption<'_>>, &[u8], bool) {
    let ip = IpPacket::parse(p).unwrap();
    let tcp = ip.tcp().unwrap();
    let opts = tcp.options().map(Result::unwrap).collect();
    (opts, tcp.payload(), tcp.verify_checksum(ip.src(), ip.dst()))
}

fn mptcp_count(opts: &[TcpOption<'_>]) -> usize {
    opts.iter()
        .filter(|o| matches!(o, TcpOption::Mptcp(_)))
        .count()
}

fn nop_count(opts: &[TcpOption<'_>]) -> usize {
    opts.iter().filter(|o| matches!(o, TcpOption::Nop)).count()
}

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
    Middlebox::strip_mptcp(which).apply(p, stats)
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
    let mut p = plain.clone();
    assert_eq!(mb.apply(&mut p, &mut stats), Verdict::Unchanged);
    assert_eq!(p, plain);
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
        let mut p = case.clone();
        assert_eq!(mb.apply(&mut p, &mut stats), Verdict::Unchanged);
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

/// Sends its packets (from the back) at `start`, and records what it
/// receives.
#[derive(Default)]
struct Replay {
    out: Vec<Vec<u8>>,
    start: Instant,
    received: Vec<(IfaceId, Vec<u8>)>,
}

impl Node for Replay {
    fn handle(&mut self, _: Instant, iface: IfaceId, packet: &[u8]) {
        self.received.push((iface, packet.to_vec()));
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if now < self.start {
            return None;
        }
        let p = self.out.pop()?;
        buf[..p.len()].copy_from_slice(&p);
        Some(p.len())
    }
    fn poll_timeout(&self) -> Option<Instant> {
        (!self.out.is_empty()).then_some(self.start)
    }
}

#[test]
fn middleboxes_on_a_simulated_link() {
    let syn = packet(
        false,
        TcpFlags::SYN,
        &[TcpOption::Mss(1460), mp_capable_syn()],
        &[],
    );
    let data = packet(false, TcpFlags::ACK, &[TS, dss()], PAYLOAD);
    let udp = {
        let mut u = data.clone();
        u[9] = 17;
        u
    };
    let mut sim = Simulator::new(SimConfig::with_seed(3));
    let sender = Replay {
        // Popped from the back: SYN, data, UDP.
        out: vec![udp.clone(), data.clone(), syn.clone()],
        ..Replay::default()
    };
    let a = sim.add_host(sender);
    let b = sim.add_host(Replay::default());
    let a0 = sim.add_iface(a, IfaceConfig::new(V4_SRC));
    let b0 = sim.add_iface(b, IfaceConfig::new(V4_DST));
    let link = LinkConfig::new(10_000_000, Duration::from_millis(5))
        .middlebox(Middlebox::strip_mptcp(StripWhich::Syn));
    let (ab, ba) = sim.connect(a, a0, b, b0, link, LinkConfig::ideal());
    sim.add_middlebox(ab, Middlebox::strip_mptcp(StripWhich::NonSyn));
    assert_eq!(sim.link_config(ab).middleboxes.len(), 2);
    sim.run_until(Instant::from_micros(100_000)).unwrap();

    let rx = &sim.node(b).received;
    assert_eq!(rx.len(), 3);
    let (syn_opts, _, ok) = inspect(&rx[0].1);
    assert!(ok);
    assert_eq!(mptcp_count(&syn_opts), 0);
    assert_eq!(syn_opts[0], TcpOption::Mss(1460));
    let (data_opts, payload, ok) = inspect(&rx[1].1);
    assert!(ok && payload == PAYLOAD);
    assert_eq!(mptcp_count(&data_opts), 0);
    assert_eq!(rx[2].1, udp);
    // Same lengths: nothing else about the link changed.
    assert_eq!(
        sim.link_stats(ab).delivered_bytes,
        (syn.len() + data.len() + udp.len()) as u64
    );

    let s = sim.middlebox_stats(ab);
    assert_eq!(s.inspected_packets, 3);
    assert_eq!((s.stripped_packets, s.stripped_options), (2, 2));
    // The UDP packet is counted by each of the two middleboxes.
    assert_eq!(s.unparsed_packets, 2);
    assert_eq!(sim.middlebox_stats(ba), &MiddleboxStats::default());
}

#[test]
fn a_down_link_does_not_run_its_middleboxes() {
    let data = packet(false, TcpFlags::ACK, &[dss()], PAYLOAD);
    let mut sim = Simulator::new(SimConfig::with_seed(3));
    let a = sim.add_host(Replay {
        out: vec![data],
        start: Instant::from_micros(1),
        ..Replay::default()
    });
    let b = sim.add_host(Replay::default());
    let a0 = sim.add_iface(a, IfaceConfig::new(V4_SRC));
    let b0 = sim.add_iface(b, IfaceConfig::new(V4_DST));
    let link = LinkConfig::ideal()
        .middlebox(Middlebox::strip_mptcp(StripWhich::All))
        .down_at(Instant::ZERO);
    let (ab, _) = sim.connect(a, a0, b, b0, link, LinkConfig::ideal());
    sim.run_until(Instant::from_micros(10)).unwrap();
    assert!(sim.node(b).received.is_empty());
    assert_eq!(sim.middlebox_stats(ab), &MiddleboxStats::default());
}
