//! Reordering is not loss: segments that arrive late make RACK retransmit
//! them, but the receiver reports the second copy with D-SACK (RFC 2883),
//! so the sender counts the retransmission as spurious, widens RACK's
//! reordering window (RFC 8985 §6.2) and undoes the congestion response
//! (RFC 9438 §4.9.2). Asserted on counters and integrity, never on time.
//! Each failure prints the `mptcp sim` command that reproduces it.

#[path = "support/transfer.rs"]
mod transfer;
use mptcp_proto::subflow::{SubflowId, SubflowStats};
use mptcp_sim::Duration;
use mptcp_sim::scenario::{PathSpec, Scenario, TransferReport, TransferSpec};
use std::collections::BTreeMap;
use transfer::check;

const MIB: u64 = 1 << 20;

fn spec(paths: &[&str], bytes: u64, tcp_only: bool) -> TransferSpec {
    let paths = paths
        .iter()
        .map(|p| PathSpec::parse(p).expect("path"))
        .collect();
    let mut s = TransferSpec::new(paths, bytes);
    s.tcp_only = tcp_only;
    s
}

/// Run to the end, keeping the sender's (client's) subflow counters as
/// last seen (the connection may be gone from the endpoint at the end).
fn run(spec: &TransferSpec) -> (TransferReport, Vec<SubflowStats>) {
    let mut sc = Scenario::build(spec).expect("build");
    let mut seen: BTreeMap<SubflowId, SubflowStats> = BTreeMap::new();
    let error = loop {
        let until = sc.sim.now() + Duration::from_millis(50);
        let step = sc.step_until(until);
        let ep = &sc.sim.node(sc.client).endpoint;
        for h in ep.connections() {
            for sf in ep.connection(h).into_iter().flat_map(|c| c.subflows()) {
                seen.insert(sf.id(), *sf.stats());
            }
        }
        match step {
            Ok(true) => break None,
            Ok(false) => {}
            Err(e) => break Some(e),
        }
    };
    let report = sc.finish(error);
    (report, seen.into_values().collect())
}

fn summary(name: &str, r: &TransferReport, stats: &[SubflowStats]) {
    for (i, s) in stats.iter().enumerate() {
        eprintln!(
            "{name} subflow {i}: goodput {:.2} Mbit/s, retransmits {}, fast recoveries {}, RTOs {}, \
             D-SACKs {}, spurious retransmits {}, undos {}",
            r.goodput_bps / 1e6,
            s.retransmits,
            s.fast_recoveries,
            s.rto_expirations,
            s.dsacks_received,
            s.spurious_retransmits,
            s.spurious_undos
        );
    }
}

fn total(stats: &[SubflowStats], f: impl Fn(&SubflowStats) -> u64) -> u64 {
    stats.iter().map(f).sum()
}

/// 2% of the packets are held back 8 ms on a 20 ms round trip: more than
/// RACK's initial window of min_RTT / 4, so the first ones are
/// retransmitted. Their D-SACKs widen the window until reordering of that
/// size no longer looks like loss, and the episodes they caused are undone.
#[test]
fn tcp_reordering_is_recognised_and_undone() {
    let bytes = 16 * MIB;
    let s = spec(&["50mbit/10ms,reorder=2%@8ms"], bytes, true);
    let (r, stats) = run(&s);
    check(&r);
    summary("tcp", &r, &stats);
    let st = stats.first().expect("one subflow");
    let reordered = bytes as f64 / 1448.0 * 0.02;
    assert!(
        st.dsacks_received > 0,
        "{st:?}\nreproduce with: {}",
        r.command
    );
    assert!(st.spurious_retransmits > 0, "{st:?}");
    assert!(st.spurious_undos > 0, "{st:?}");
    // Once the window widened, reordering of that size is no longer taken
    // for loss: few reordered packets were retransmitted at all (the other
    // retransmissions repair queue overflows).
    assert!(
        (st.spurious_retransmits as f64) < 0.1 * reordered,
        "{} spurious retransmissions for about {reordered:.0} reordered packets: {st:?}\nreproduce with: {}",
        st.spurious_retransmits,
        r.command
    );
    // Without this the window collapsed at every reordering (efficiency
    // 0.11 in virtual time before D-SACK, 0.83 with it); now the path is
    // used.
    assert!(
        r.efficiency >= 0.6,
        "efficiency {:.3}: {st:?}\nreproduce with: {}",
        r.efficiency,
        r.command
    );
    assert!(st.spurious_undos <= st.fast_recoveries);
    assert_eq!(st.rto_expirations, 0, "{st:?}");
}

/// Two reordering paths, one of them also lossy, under MPTCP: integrity
/// holds, the reordering is recognised on both and real losses are not
/// undone wholesale.
#[test]
fn mptcp_reordering_on_two_paths_keeps_integrity_and_undoes_spurious_episodes() {
    let s = spec(
        &[
            "50mbit/10ms/0.3%,reorder=2%@8ms",
            "20mbit/40ms/0.1%,reorder=2%@30ms",
        ],
        16 * MIB,
        false,
    );
    let (r, stats) = run(&s);
    check(&r);
    summary("mptcp", &r, &stats);
    assert_eq!(stats.len(), 2, "both subflows");
    assert!(total(&stats, |s| s.dsacks_received) > 0, "{stats:?}");
    assert!(total(&stats, |s| s.spurious_undos) > 0, "{stats:?}");
    // Real losses were repaired and not all taken back.
    let recoveries = total(&stats, |s| s.fast_recoveries);
    let undos = total(&stats, |s| s.spurious_undos);
    assert!(
        undos < recoveries,
        "{undos} undos of {recoveries} recoveries"
    );
    assert!(
        total(&stats, |s| s.spurious_retransmits) <= total(&stats, |s| s.retransmits),
        "{stats:?}"
    );
}
