//! "Do no harm" (RFC 6356 §2): an MPTCP connection whose two subflows
//! share one bottleneck must take no more than a plain TCP flow competing
//! with it there. Topology: client (two interfaces) and competitor (one)
//! reach the server through one 50 Mbit/s, 10 ms bottleneck with a
//! bandwidth-delay product of queue ([`ShareSpec::new`]).

use mptcp_proto::congestion::CcAlgorithm;
use mptcp_proto::endpoint::EndpointConfig;
use mptcp_sim::scenario::{Share, ShareSpec, run_share};

/// What the MPTCP client and the TCP competitor get between 10 s and 40 s,
/// the coupled controllers coupling every subflow (RFC 6356 as written).
fn share(cc: CcAlgorithm) -> Share {
    share_with(cc, false)
}

fn share_with(cc: CcAlgorithm, sbd: bool) -> Share {
    let mut spec = ShareSpec::new(cc);
    spec.sbd = sbd;
    // Both senders use NewReno as plain TCP, as the coupled controllers'
    // reference.
    spec.tcp_cc = CcAlgorithm::Reno;
    let share = run_share(&spec).expect("run");
    assert_eq!(share.subflows, 2, "{cc}: both subflows joined");
    share
}

#[test]
fn coupled_controllers_take_about_a_fair_half() {
    for cc in [CcAlgorithm::Lia, CcAlgorithm::Olia, CcAlgorithm::Balia] {
        let s = share(cc);
        let ratio = s.ratio();
        eprintln!(
            "{cc}: MPTCP {:.2} Mbit/s, TCP {:.2} Mbit/s, ratio {ratio:.2}",
            s.mptcp_bps * 1e-6,
            s.tcp_bps * 1e-6
        );
        // Fair is 1; the tolerance covers the sawtooth phases of a 30 s
        // window. Two uncoupled flows would take about twice as much.
        assert!((0.6..=1.45).contains(&ratio), "{cc}: ratio {ratio:.2}");
        assert!(
            s.mptcp_bps + s.tcp_bps > 0.85 * 50e6,
            "the bottleneck stays busy"
        );
    }
}

#[test]
fn uncoupled_subflows_take_more_than_their_share() {
    let ratio = share(CcAlgorithm::Reno).ratio();
    eprintln!("reno (uncoupled): ratio {ratio:.2}");
    assert!(
        ratio > 1.45,
        "two uncoupled Reno subflows vs one: {ratio:.2}"
    );
}

/// The engine's defaults (LIA with shared-bottleneck detection, RFC 8382)
/// find the shared bottleneck, couple there, and stay within the real-paths
/// acceptance bound: at most 1.25 times the TCP beside them.
#[test]
fn the_default_finds_the_shared_bottleneck_and_takes_at_most_a_quarter_more() {
    let mp = EndpointConfig::default().connection.mptcp;
    let s = share_with(mp.cc, mp.sbd);
    let ratio = s.ratio();
    eprintln!(
        "default {} (sbd {}): ratio {ratio:.2}, one group {:.0}% of the time",
        mp.cc,
        mp.sbd,
        s.grouped * 100.0
    );
    assert!(ratio <= 1.25, "ratio {ratio:.2}");
    if mp.sbd {
        assert!(s.grouped >= 0.5, "grouped {:.2}", s.grouped);
    }
    assert!(
        s.mptcp_bps + s.tcp_bps > 0.85 * 50e6,
        "the bottleneck stays busy"
    );
}
