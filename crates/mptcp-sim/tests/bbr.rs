//! BBR (draft-ietf-ccwg-bbr) in the simulator: it fills a clean path
//! without a standing queue, keeps its rate on a path with random loss
//! where loss-based controllers collapse, and carries MPTCP over two
//! paths. Asserted on virtual-time goodput and on the RTTs the sender
//! measured, never on wall-clock time. Each failure prints the `mptcp sim`
//! command that reproduces it.

#[path = "support/transfer.rs"]
mod transfer;
use mptcp_proto::congestion::CcAlgorithm;
use mptcp_proto::subflow::SubflowId;
use mptcp_sim::Duration;
use mptcp_sim::scenario::{Scenario, TransferReport, TransferSpec};
use std::collections::BTreeMap;
use transfer::check;

const MIB: u64 = 1 << 20;

fn spec(paths: &[&str], bytes: u64, tcp_only: bool, cc: CcAlgorithm) -> TransferSpec {
    let mut s = transfer::spec(paths, bytes);
    s.tcp_only = tcp_only;
    s.cc = Some(cc);
    s
}

/// What the sender's subflows measured, every 50 ms of virtual time.
#[derive(Default)]
struct Trace {
    /// (time in s, smoothed RTT) per subflow.
    srtt: BTreeMap<SubflowId, Vec<(f64, Duration)>>,
}

fn run(spec: &TransferSpec) -> (TransferReport, Trace) {
    let mut sc = Scenario::build(spec).expect("build");
    let mut trace = Trace::default();
    let error = loop {
        let until = sc.sim.now() + Duration::from_millis(50);
        let step = sc.step_until(until);
        let now = sc.sim.now().as_secs_f64();
        let ep = &sc.sim.node(sc.client).endpoint;
        for h in ep.connections() {
            for sf in ep.connection(h).into_iter().flat_map(|c| c.subflows()) {
                if let Some(srtt) = sf.rtt().srtt() {
                    trace.srtt.entry(sf.id()).or_default().push((now, srtt));
                }
            }
        }
        match step {
            Ok(true) => break None,
            Ok(false) => {}
            Err(e) => break Some(e),
        }
    };
    (sc.finish(error), trace)
}

/// The smoothed RTTs measured from `from` seconds on, sorted.
fn srtts_after(samples: &[(f64, Duration)], from: f64) -> Vec<Duration> {
    let mut v: Vec<Duration> = samples
        .iter()
        .filter(|(t, _)| *t >= from)
        .map(|(_, d)| *d)
        .collect();
    v.sort();
    v
}

/// The median and the share of samples below `limit`.
fn median_and_share_below(v: &[Duration], limit: Duration) -> (Duration, f64) {
    let median = v.get(v.len() / 2).copied().unwrap_or(Duration::ZERO);
    let below = v.iter().filter(|d| **d < limit).count();
    (median, below as f64 / v.len().max(1) as f64)
}

/// 50 Mbit/s with a 40 ms round trip: BBR reaches 90% of the link rate
/// (the payload share of 1500-byte packets is 96.5%) and, once out of
/// Startup, keeps the queue small: the smoothed RTT stays under 1.5 times
/// the base RTT but for its brief bandwidth probes (ProbeBW_UP every few
/// seconds adds a quarter of the BDP per round for about three rounds),
/// and its median is within 10% of the base. CUBIC fills the same path
/// by keeping its queue full.
#[test]
fn a_clean_path_is_filled_without_a_standing_queue() {
    let path = ["50mbit/20ms"];
    let base = Duration::from_millis(40);
    let limit = Duration::from_micros(base.as_micros() * 3 / 2);
    let (r, trace) = run(&spec(&path, 64 * MIB, true, CcAlgorithm::Bbr));
    check(&r);
    let samples = trace.srtt.values().next().expect("one subflow");
    if std::env::var_os("BBR_TRACE").is_some() {
        for (t, d) in samples {
            eprintln!("{t:.2} {:.1}", d.as_micros() as f64 / 1000.0);
        }
    }
    let (median, share) = median_and_share_below(&srtts_after(samples, 1.0), limit);
    let (cubic, cubic_trace) = run(&spec(&path, 64 * MIB, true, CcAlgorithm::Cubic));
    let cubic_samples = cubic_trace.srtt.values().next().expect("one subflow");
    let (cubic_median, cubic_share) =
        median_and_share_below(&srtts_after(cubic_samples, 1.0), limit);
    eprintln!(
        "bbr: goodput {:.2} Mbit/s, median srtt {median:?}, {:.0}% under {limit:?}; \
         cubic: {:.2} Mbit/s, median {cubic_median:?}, {:.0}% under",
        r.goodput_bps / 1e6,
        share * 100.0,
        cubic.goodput_bps / 1e6,
        cubic_share * 100.0
    );
    assert!(
        r.goodput_bps >= 0.9 * 50e6,
        "goodput {:.2} Mbit/s\nreproduce with: {}",
        r.goodput_bps / 1e6,
        r.command
    );
    assert!(
        share >= 0.9 && median <= Duration::from_micros(base.as_micros() * 11 / 10),
        "median srtt {median:?}, {:.0}% of the time under {limit:?}\nreproduce with: {}",
        share * 100.0,
        r.command
    );
}

/// 1% random loss on a 40 Mbit/s, 30 ms path: loss-based control keeps
/// halving its window (NewReno holds a few Mbit/s); BBR responds to loss
/// only above 2% per round trip and keeps most of the link.
#[test]
fn random_loss_does_not_collapse_the_rate() {
    let path = ["40mbit/15ms/1%"];
    let (bbr, _) = run(&spec(&path, 16 * MIB, true, CcAlgorithm::Bbr));
    let (reno, _) = run(&spec(&path, 16 * MIB, true, CcAlgorithm::Reno));
    check(&bbr);
    check(&reno);
    eprintln!(
        "40mbit/15ms/1%: bbr {:.2} Mbit/s, reno {:.2} Mbit/s",
        bbr.goodput_bps / 1e6,
        reno.goodput_bps / 1e6
    );
    assert!(
        bbr.goodput_bps >= 3.0 * reno.goodput_bps,
        "bbr {:.2} vs reno {:.2} Mbit/s\nreproduce with: {}\nand: {}",
        bbr.goodput_bps / 1e6,
        reno.goodput_bps / 1e6,
        bbr.command,
        reno.command
    );
    assert!(
        bbr.goodput_bps >= 0.5 * 40e6,
        "bbr {:.2} Mbit/s\nreproduce with: {}",
        bbr.goodput_bps / 1e6,
        bbr.command
    );
}

/// MPTCP over two paths with `--cc bbr`: the stream arrives intact, both
/// subflows carry a real share, and together they beat the faster path
/// alone.
#[test]
fn mptcp_with_bbr_uses_both_paths() {
    let s = spec(
        &["50mbit/10ms", "20mbit/40ms"],
        32 * MIB,
        false,
        CcAlgorithm::Bbr,
    );
    let (r, trace) = run(&s);
    check(&r);
    for (id, samples) in &trace.srtt {
        let v = srtts_after(samples, 1.0);
        eprintln!(
            "subflow {id:?}: median srtt after 1 s {:?}",
            v.get(v.len() / 2)
        );
    }
    assert_eq!(r.subflows.len(), 2, "{:?}", r.subflows);
    for sf in &r.subflows {
        assert!(
            sf.bytes >= r.bytes / 10,
            "a subflow carried {} of {} bytes\nreproduce with: {}",
            sf.bytes,
            r.bytes,
            r.command
        );
    }
    assert!(
        r.goodput_bps > 50e6,
        "goodput {:.2} Mbit/s\nreproduce with: {}",
        r.goodput_bps / 1e6,
        r.command
    );
}
