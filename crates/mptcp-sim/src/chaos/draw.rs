//! Drawing one scenario from a seed, over everything the simulator can
//! vary. Every choice comes from one generator seeded by the run's seed, in
//! a fixed order, so a seed names a scenario.

use mptcp_proto::congestion::CcAlgorithm;
use mptcp_proto::crypto::MptcpVersion;
use mptcp_proto::random::Random;
use mptcp_proto::scheduler::SchedulerKind;
use mptcp_proto::subflow::TcpFeatures;
use mptcp_proto::time::{Duration, Instant};

use crate::app::SizeRange;
use crate::middlebox::{CoalesceMode, MiddleboxKind, MiddleboxSpec, PathDirection};
use crate::middlebox::{StripWhich, SynOption};
use crate::scenario::{Direction, Outage, PathSpec, TransferSpec};

/// One of `items`, uniformly.
fn pick<T: Copy>(r: &mut Random, items: &[T]) -> T {
    items[r.below(items.len() as u64) as usize]
}

/// True with probability 1 / `n`.
fn one_in(r: &mut Random, n: u64) -> bool {
    r.below(n) == 0
}

/// A path as `mptcp sim --path` writes it.
fn path(r: &mut Random, ipv6: bool) -> String {
    let rate = pick(r, &[1, 2, 5, 10, 20, 50, 100, 300]);
    let delay = 1 + r.below(80);
    let mut p = format!("{rate}mbit/{delay}ms");
    if one_in(r, 3) {
        p.push_str(&format!(
            "/{}%",
            pick(r, &["0.1", "0.3", "0.5", "1", "2", "3"])
        ));
    }
    if one_in(r, 5) {
        p.push_str(&format!(",dup={}%", pick(r, &["0.5", "1", "3"])));
    }
    if one_in(r, 5) {
        p.push_str(&format!(
            ",reorder={}%@{}ms",
            1 + r.below(5),
            1 + r.below(20)
        ));
    }
    if one_in(r, 4) {
        p.push_str(&format!(",jitter={}us", 100 + r.below(5000)));
    }
    if one_in(r, 6) {
        // Bursty loss (Wi-Fi, cellular handovers): bursts of 1 / R packets
        // on average, the chain in its bad state a share P / (P + R).
        p.push_str(&format!(
            ",loss=ge:{}%/{}%/{}%",
            pick(r, &["0.1", "0.5", "1", "3"]),
            pick(r, &[30, 50, 80]),
            pick(r, &[20, 50, 80]),
        ));
    }
    if one_in(r, 8) {
        // Delivery in bursts (Wi-Fi aggregation, cellular scheduling).
        p.push_str(&format!(",batch={}ms", 1 + r.below(8)));
    }
    let floor = if ipv6 { 1280 } else { 576 };
    let mtu = match r.below(6) {
        0 => floor + r.below(9001 - floor),
        1 => pick(r, &[floor, 1280, 4000, 9000]),
        _ => 1500,
    };
    if mtu != 1500 {
        p.push_str(&format!(",mtu={mtu}"));
    }
    if one_in(r, 5) {
        p.push_str(&format!(",queue={}", mtu * (3 + r.below(40))));
    }
    p
}

/// Stream sizes: empty, one byte, segment boundaries, small and larger.
fn bytes(r: &mut Random) -> u64 {
    match r.below(8) {
        0 => pick(r, &[0, 1, 535, 536, 1000, 1424, 1425, 4000]),
        1 => r.below(20_000),
        _ => r.below(600_000),
    }
}

/// I/O sizes: the default 64 KiB, or a random range.
fn io_sizes(r: &mut Random) -> SizeRange {
    if one_in(r, 2) {
        return SizeRange::fixed(64 * 1024);
    }
    let min = 1 + r.below(4000) as usize;
    SizeRange {
        min,
        max: min + r.below(64 * 1024) as usize,
    }
}

/// The TCP options one end offers.
fn tcp(r: &mut Random) -> TcpFeatures {
    // Fields are drawn in the order written.
    let mut f = TcpFeatures {
        timestamps: !one_in(r, 6),
        sack: !one_in(r, 6),
        window_scaling: !one_in(r, 8),
        mss: None,
    };
    if one_in(r, 5) {
        f.mss = Some(pick(r, &[200, 536, 700, 1000, 1220, 1460, 4000, 8960]));
    }
    f
}

/// Outages: a path flapping, or (not the initial path) going away for good.
fn outages(r: &mut Random, paths: usize, tcp_only: bool) -> Vec<Outage> {
    if !one_in(r, 4) {
        return Vec::new();
    }
    let path = r.below(paths as u64) as usize;
    let ms = |v: u64| Duration::from_millis(v);
    if path != 0 && !tcp_only && one_in(r, 3) {
        let at = Instant::ZERO + ms(r.below(2000));
        return vec![Outage { path, at, up: None }];
    }
    let mut at = Instant::ZERO + ms(r.below(1500));
    (0..1 + r.below(4))
        .map(|_| {
            let up = at + ms(50 + r.below(1500));
            let o = Outage {
                path,
                at,
                up: Some(up),
            };
            at = up + ms(100 + r.below(1000));
            o
        })
        .collect()
}

/// One middlebox for a path; `rewrite` says whether a payload rewriter
/// may be drawn.
fn middlebox(r: &mut Random, rewrite: bool, mptcp: bool) -> MiddleboxSpec {
    let dir = |r: &mut Random| {
        pick(
            r,
            &[None, Some(PathDirection::Up), Some(PathDirection::Down)],
        )
    };
    let (kind, direction) = match r.below(20) {
        0..=2 => (MiddleboxKind::StripSyn(SynOption::Timestamps), dir(r)),
        3 | 4 => (MiddleboxKind::StripSyn(SynOption::SackPermitted), dir(r)),
        // A window scale stripped from the SYN-ACK only leaves the server
        // scaling windows the client takes unscaled: that breaks every TCP,
        // real kernels included, so it is not drawn.
        5 | 6 => {
            let d = pick(r, &[None, Some(PathDirection::Up)]);
            (MiddleboxKind::StripSyn(SynOption::WindowScale), d)
        }
        7..=9 => (MiddleboxKind::Split, None),
        10..=12 => (MiddleboxKind::Coalesce(CoalesceMode::Gro), None),
        13 | 14 => (MiddleboxKind::Coalesce(CoalesceMode::Lro), None),
        15 if mptcp => {
            let which = pick(
                r,
                &[
                    StripWhich::Syn,
                    StripWhich::NonSyn,
                    StripWhich::Data,
                    StripWhich::All,
                ],
            );
            (MiddleboxKind::StripMptcp(which), dir(r))
        }
        16..=18 if rewrite => {
            let every = pick(r, &[1, 2, 5, 20, 100]);
            (MiddleboxKind::Rewrite { every }, dir(r))
        }
        _ => (MiddleboxKind::Nat, None),
    };
    MiddleboxSpec { kind, direction }
}

/// Middleboxes on some paths. A payload rewriter is drawn only where DSS
/// checksums are negotiated (over plain TCP, or after a fallback, nothing
/// can catch it); a run with one gets no middlebox that may make MPTCP
/// fall back (MPTCP option strippers, LRO), and at most one NAT per path.
fn middleboxes(r: &mut Random, spec: &TransferSpec) -> Vec<(usize, MiddleboxSpec)> {
    let mptcp = !spec.tcp_only;
    let rewrite = mptcp && (spec.checksum.0 || spec.checksum.1);
    let mut out: Vec<(usize, MiddleboxSpec)> = Vec::new();
    for path in 0..spec.paths.len() {
        if !one_in(r, 4) {
            continue;
        }
        for _ in 0..1 + r.below(2) {
            let m = middlebox(r, rewrite, mptcp);
            let nat_twice = m.kind == MiddleboxKind::Nat
                && out
                    .iter()
                    .any(|(p, o)| *p == path && o.kind == MiddleboxKind::Nat);
            if !nat_twice {
                out.push((path, m));
            }
        }
    }
    let rewriting = out
        .iter()
        .any(|(_, m)| matches!(m.kind, MiddleboxKind::Rewrite { .. }));
    if rewriting {
        out.retain(|(_, m)| {
            !matches!(
                m.kind,
                MiddleboxKind::StripMptcp(_) | MiddleboxKind::Coalesce(CoalesceMode::Lro)
            )
        });
    }
    out
}

/// The scenario of chaos run `seed` (its time limit not yet set).
pub(super) fn scenario(seed: u64) -> TransferSpec {
    let mut r = Random::from_seed(crate::rng::derive_seed(seed, "chaos", 0));
    let tcp_only = one_in(&mut r, 8);
    let ipv6 = one_in(&mut r, 5);
    let n = if tcp_only { 1 } else { 1 + r.below(4) as usize };
    // The texts always parse (a unit test draws thousands).
    let paths: Vec<PathSpec> = (0..n)
        .filter_map(|_| PathSpec::parse(&path(&mut r, ipv6)).ok())
        .collect();
    let mut spec = TransferSpec::new(paths, bytes(&mut r));
    spec.seed = seed;
    spec.tcp_only = tcp_only;
    spec.ipv6 = ipv6;
    spec.direction = pick(&mut r, &[Direction::Up, Direction::Down, Direction::Both]);
    spec.write_size = io_sizes(&mut r);
    spec.read_size = io_sizes(&mut r);
    spec.client_tcp = tcp(&mut r);
    spec.server_tcp = tcp(&mut r);
    spec.cc = (!one_in(&mut r, 5)).then(|| pick(&mut r, CcAlgorithm::ALL));
    if !tcp_only {
        spec.version = if one_in(&mut r, 5) {
            MptcpVersion::V0
        } else {
            MptcpVersion::V1
        };
        spec.checksum = (one_in(&mut r, 4), one_in(&mut r, 4));
        spec.scheduler = pick(&mut r, SchedulerKind::ALL);
        spec.opportunistic = !one_in(&mut r, 8);
        spec.sbd = one_in(&mut r, 2);
    }
    if one_in(&mut r, 6) {
        let at = Instant::ZERO + Duration::from_millis(r.below(2000));
        spec.read_pause = Some((at, Duration::from_millis(100 + r.below(3000))));
    }
    if one_in(&mut r, 5) {
        spec.buffer = Some(pick(&mut r, &[16 << 10, 64 << 10, 256 << 10, 1 << 20]));
    }
    spec.outages = outages(&mut r, n, tcp_only);
    spec.middleboxes = middleboxes(&mut r, &spec);
    spec
}
