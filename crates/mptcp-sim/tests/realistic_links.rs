//! Realistic links: Mahimahi traces, Gilbert-Elliott bursty loss and batched
//! release, at the link level with toy flows and end to end with the real
//! engine. Traces are generated here, into a temporary directory.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use mptcp_sim::scenario::{PathSpec, SpecError, TransferReport, TransferSpec, run};
use mptcp_sim::{
    DropReason, Duration, GilbertElliott, IfaceConfig, LinkConfig, SimConfig, Simulator, Trace,
    TraceError,
};

const MIB: u64 = 1 << 20;

/// A fresh directory for this test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("mptcp-sim-realistic-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes a trace of `times` (milliseconds), one per line; returns its path.
fn write_trace(dir: &std::path::Path, name: &str, times: &[u64]) -> String {
    let text: String = times.iter().map(|t| format!("{t}\n")).collect();
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write trace");
    path.display().to_string()
}

/// A trace of `period_ms` milliseconds with `counts[ms % counts.len()]`
/// opportunities at each millisecond 1..=period_ms.
fn varying(period_ms: u64, counts: &[u64]) -> Vec<u64> {
    (1..=period_ms)
        .flat_map(|ms| std::iter::repeat_n(ms, counts[ms as usize % counts.len()] as usize))
        .chain(std::iter::once(period_ms))
        .collect()
}

/// A (sending `a_flows`) and B (sending `b_flows`) joined by `ab` and `ba`,
/// interfaces of `mtu` bytes.
fn duplex(
    ab: LinkConfig,
    ba: LinkConfig,
    a_flows: Vec<Flow>,
    b_flows: Vec<Flow>,
    mtu: u32,
) -> (Simulator<Toy>, mptcp_sim::NodeId, mptcp_sim::NodeId) {
    let mut sim = Simulator::new(SimConfig::with_seed(3));
    let a = sim.add_host(Toy::sending(a_flows));
    let b = sim.add_host(Toy::sending(b_flows));
    let a0 = sim.add_iface(a, IfaceConfig::new(A).with_mtu(mtu));
    let b0 = sim.add_iface(b, IfaceConfig::new(B).with_mtu(mtu));
    sim.connect(a, a0, b, b0, ab, ba);
    (sim, a, b)
}

fn trace(times_ms: &[u64]) -> Arc<Trace> {
    Arc::new(Trace::from_millis(times_ms).expect("trace"))
}

#[test]
fn trace_link_delivers_exactly_the_opportunities_and_repeats() {
    // Six opportunities per 10 ms period: three at 1 ms, then 3, 7, 10.
    let t = [1, 1, 1, 3, 7, 10];
    let link = LinkConfig::new(0, Duration::from_millis(2))
        .trace(trace(&t))
        .queue_bytes(1 << 20);
    let (mut sim, _, b, ab) = pair(1, vec![flow_ab(1500, 60)], link);
    sim.run_until(ms(1000)).unwrap();
    let want: Vec<u64> = (0..10)
        .flat_map(|c| t.iter().map(move |ms| (c * 10 + ms + 2) * 1000))
        .collect();
    assert_eq!(sim.node(b).times(0), want);
    assert_eq!(sim.node(b).seqs(0), (0..60).collect::<Vec<_>>());
    // Per period (c × 10 ms, (c + 1) × 10 ms], exactly the trace's six.
    let left: Vec<u64> = sim.node(b).times(0).iter().map(|t| t - 2000).collect();
    for c in 0..10 {
        let n = left
            .iter()
            .filter(|&&t| t > c * 10_000 && t <= (c + 1) * 10_000)
            .count();
        assert_eq!(n, 6, "period {c}");
    }
    let s = sim.link_stats(ab);
    assert_eq!((s.delivered_packets, s.delivered_bytes), (60, 90_000));
}

#[test]
fn opportunities_carry_bytes_not_packets() {
    // Opportunities at 2 ms and 4 ms of every 4 ms.
    let link = LinkConfig::new(0, Duration::ZERO)
        .trace(trace(&[2, 4]))
        .mtu(9000);
    // Nine 500-byte packets: three share each opportunity.
    let (mut sim, _, b, _) = pair(1, vec![flow_ab(500, 9)], link.clone());
    sim.run_until(ms(100)).unwrap();
    assert_eq!(
        sim.node(b).times(0),
        [2, 2, 2, 4, 4, 4, 6, 6, 6].map(|t| t * 1000)
    );
    // A 4000-byte packet needs three: it leaves with the third, at 6 ms;
    // the 500 bytes left of that one carry the next small packet.
    let flows = vec![flow_ab(4000, 1), Flow::new(1, A, B, 500, 2)];
    let (mut sim, _, b) = duplex(link, LinkConfig::ideal(), flows, vec![], 9000);
    sim.run_until(ms(100)).unwrap();
    assert_eq!(sim.node(b).times(0), [6000]);
    assert_eq!(sim.node(b).times(1), [6000, 8000]);
}

#[test]
fn idle_time_does_not_save_capacity_and_the_trace_repeats() {
    // One opportunity at 10 and 20 ms of each 20 ms; a packet every 25 ms.
    let link = LinkConfig::new(0, Duration::ZERO).trace(trace(&[10, 20]));
    let flow = flow_ab(1500, 5).every(Duration::from_millis(25));
    let (mut sim, _, b, _) = pair(1, vec![flow], link);
    sim.run_until(ms(1000)).unwrap();
    // Sent at 0, 25, 50, 75, 100: the first opportunity at or after each.
    assert_eq!(
        sim.node(b).times(0),
        [10, 30, 50, 80, 100].map(|t| t * 1000)
    );
}

#[test]
fn queue_in_front_of_a_trace_is_drop_tail() {
    // 10 opportunities every 10 ms is 12 Mbit/s; 5 ms delay: the default
    // queue is max(BDP, 64 packets) = 64 packets.
    let link = LinkConfig::new(0, Duration::from_millis(5)).trace(trace(&[10; 10]));
    assert_eq!(link.queue_limit(), 96_000);
    let (mut sim, _, b, ab) = pair(1, vec![flow_ab(1500, 100)], link.clone());
    sim.run_until(ms(1000)).unwrap();
    assert_eq!(sim.node(b).received.len(), 64);
    assert_eq!(
        sim.link_stats(ab).dropped.packets(DropReason::QueueFull),
        36
    );
    let (mut sim, _, b, _) = pair(1, vec![flow_ab(1500, 100)], link.queue_bytes(15_000));
    sim.run_until(ms(1000)).unwrap();
    assert_eq!(sim.node(b).seqs(0), (0..10).collect::<Vec<_>>());
}

#[test]
fn up_and_down_traces_go_to_their_directions() {
    let dir = temp_dir("updown");
    let sub = dir.join("lte");
    std::fs::create_dir_all(&sub).unwrap();
    // Up: one opportunity every 5 ms; down: one every 2 ms.
    let up = write_trace(&sub, "x.up", &[5]);
    let down = write_trace(&sub, "x.down", &[2]);
    let p = PathSpec::parse(&format!("trace/1ms,trace={up}+{down}")).expect("path");
    assert_eq!(
        p.link.trace.as_deref(),
        Some(&Trace::from_millis(&[5]).unwrap())
    );
    assert_eq!(
        p.backward().trace.as_deref(),
        Some(&Trace::from_millis(&[2]).unwrap())
    );
    assert_eq!(p.backward().delay, p.link.delay);

    let (mut sim, a, b) = duplex(
        p.link.clone(),
        p.backward(),
        vec![flow_ab(1500, 4)],
        vec![Flow::new(1, B, A, 1500, 4)],
        1500,
    );
    sim.run_until(ms(1000)).unwrap();
    // Client to server (A → B) follows the up trace, back the down one.
    assert_eq!(sim.node(b).times(0), [6, 11, 16, 21].map(|t| t * 1000));
    assert_eq!(sim.node(a).times(1), [3, 5, 7, 9].map(|t| t * 1000));

    // One file serves both ways.
    let p = PathSpec::parse(&format!("trace/1ms,trace={up}")).expect("path");
    assert_eq!(p.backward().trace, p.link.trace);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_trace_specs_are_typed_errors() {
    let dir = temp_dir("bad");
    let good = write_trace(&dir, "good", &[1, 2]);
    let bad_path = dir.join("bad");
    std::fs::write(&bad_path, "1\n2\nthree\n").unwrap();
    let bad = bad_path.display().to_string();
    let zero = write_trace(&dir, "zero", &[0, 0]);
    let missing = dir.join("missing").display().to_string();

    let err = |s: String| PathSpec::parse(&s).expect_err(&s);
    assert!(matches!(
        err(format!("trace/10ms,trace={missing}")),
        SpecError::Trace {
            error: TraceError::Io {
                kind: std::io::ErrorKind::NotFound,
                ..
            },
            ..
        }
    ));
    assert_eq!(
        err(format!("trace/10ms,trace={good}+{bad}")),
        SpecError::Trace {
            file: bad.clone(),
            error: TraceError::Number { line: 3 }
        }
    );
    assert!(matches!(
        err(format!("trace/10ms,trace={zero}")),
        SpecError::Trace {
            error: TraceError::ZeroPeriod,
            ..
        }
    ));
    assert!(matches!(
        err("trace/10ms".into()),
        SpecError::Value(e) if e.kind == mptcp_sim::parse::ParseErrorKind::TraceNeedsFile
    ));
    assert_eq!(
        err(format!("10mbit/10ms,trace={good}")),
        SpecError::TraceWithoutTraceRate
    );
    assert!(matches!(
        err("trace/10ms,trace=".into()),
        SpecError::Malformed { .. }
    ));
    assert!(matches!(
        err(format!("trace/10ms,trace={good}+")),
        SpecError::Malformed { .. }
    ));
    assert!(matches!(
        err(format!("trace/10ms,trace={good}+{good}+{good}")),
        SpecError::Malformed { .. }
    ));
    // Messages name the file and the line.
    let msg = err(format!("trace/10ms,trace={bad}")).to_string();
    assert!(msg.contains("bad") && msg.contains("line 3"), "{msg}");
    // Extras after the trace apply on top.
    let p = PathSpec::parse(&format!(
        "trace/30ms/1%,trace={good},jitter=2ms,queue=30KB,loss=ge:1%/20%/100%,batch=5ms"
    ))
    .expect("path");
    assert_eq!(p.link.delay, Duration::from_millis(30));
    assert_eq!(p.link.loss, 0.01);
    assert_eq!(p.link.jitter, Duration::from_millis(2));
    assert_eq!(p.link.queue_limit(), 30_000);
    assert_eq!(p.link.batch, Duration::from_millis(5));
    assert_eq!(p.link.burst_loss, Some(GilbertElliott::new(0.01, 0.2, 1.0)));
    assert_eq!(p.backward(), p.link);
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs of consecutive missing sequence numbers among `0..n`, given the
/// received ones in order.
fn loss_runs(received: &[u64], n: u64) -> Vec<u64> {
    let mut runs = Vec::new();
    let mut expect = 0;
    for &s in received.iter().chain(std::iter::once(&n)) {
        if s > expect {
            runs.push(s - expect);
        }
        expect = s + 1;
    }
    runs
}

#[test]
fn gilbert_elliott_loss_rate_and_burst_length() {
    let n = 200_000;
    let ge = GilbertElliott::new(0.01, 0.25, 1.0);
    let link = LinkConfig::new(0, Duration::from_millis(1)).burst_loss(ge);
    let (mut sim, _, b, ab) = pair(42, vec![flow_ab(100, n)], link);
    sim.run_until(ms(10)).unwrap();
    let lost = sim.link_stats(ab).dropped.packets(DropReason::Loss);
    let rate = lost as f64 / n as f64;
    // π_bad = 0.01 / 0.26 ≈ 3.85%.
    let want = ge.mean_loss();
    assert!(
        (rate - want).abs() < 0.1 * want,
        "loss rate {rate}, model {want}"
    );
    let seqs = sim.node(b).seqs(0);
    assert_eq!(seqs.len() as u64, n - lost);
    let runs = loss_runs(&seqs, n);
    assert_eq!(runs.iter().sum::<u64>(), lost);
    let mean_run = lost as f64 / runs.len() as f64;
    // Geometric stays of mean 1 / 0.25 = 4 packets (sd of the mean ≈ 0.08).
    assert!((mean_run - 4.0).abs() < 0.4, "mean burst {mean_run}");

    // The same mean rate without memory has bursts of about 1 / (1 - p).
    let link = LinkConfig::new(0, Duration::from_millis(1)).loss(want);
    let (mut sim, _, b, _) = pair(42, vec![flow_ab(100, n)], link);
    sim.run_until(ms(10)).unwrap();
    let runs = loss_runs(&sim.node(b).seqs(0), n);
    let mean_run = runs.iter().sum::<u64>() as f64 / runs.len() as f64;
    assert!(mean_run < 1.1, "Bernoulli mean burst {mean_run}");
}

#[test]
fn gilbert_elliott_loss_in_both_states() {
    // P 5%, R 5%: half the time bad; loss 20% in bad and 2% in good: 11%.
    let n = 200_000;
    let p = PathSpec::parse("0/1ms,loss=ge:5%/0.05/20%/2%").expect("path");
    let ge = p.link.burst_loss.expect("ge");
    assert!((ge.mean_loss() - 0.11).abs() < 1e-12);
    let (mut sim, _, _, ab) = pair(9, vec![flow_ab(100, n)], p.link);
    sim.run_until(ms(10)).unwrap();
    let rate = sim.link_stats(ab).dropped.packets(DropReason::Loss) as f64 / n as f64;
    assert!((rate - 0.11).abs() < 0.011, "loss rate {rate}");
}

#[test]
fn batching_releases_only_at_the_instants_and_keeps_order() {
    // Sent every 300 µs over 1 ms of delay; released every 4 ms.
    let link = LinkConfig::new(0, Duration::from_millis(1)).batch(Duration::from_millis(4));
    let flow = flow_ab(1500, 100).every(Duration::from_micros(300));
    let (mut sim, _, b, _) = pair(1, vec![flow], link.clone());
    sim.run_until(ms(1000)).unwrap();
    let want: Vec<u64> = (0..100u64)
        .map(|i| (300 * i + 1000).div_ceil(4000) * 4000)
        .collect();
    assert_eq!(sim.node(b).times(0), want);
    assert_eq!(sim.node(b).seqs(0), (0..100).collect::<Vec<_>>());
    assert!(
        want.windows(14).any(|w| w[0] == w[13]),
        "bursts of 13 or more"
    );

    // With jitter and a finite rate, still only at the instants, in order.
    let link = LinkConfig::new(20_000_000, Duration::from_millis(1))
        .jitter(Duration::from_millis(3))
        .batch(Duration::from_millis(4));
    let flow = flow_ab(1500, 500).every(Duration::from_micros(700));
    let (mut sim, _, b, _) = pair(5, vec![flow], link);
    sim.run_until(ms(1000)).unwrap();
    let times = sim.node(b).times(0);
    assert_eq!(times.len(), 500);
    assert!(times.iter().all(|t| t % 4000 == 0));
    assert_eq!(sim.node(b).seqs(0), (0..500).collect::<Vec<_>>());
}

fn check(r: &TransferReport) {
    assert!(
        r.is_ok(),
        "integrity {:?}, error {:?}\nreproduce with: {}",
        r.integrity,
        r.error,
        r.command
    );
    assert_eq!(r.integrity, "ok");
}

#[test]
fn mptcp_over_trace_bursty_and_batched_paths() {
    let dir = temp_dir("mptcp");
    // About 15 and 24 Mbit/s, varying every millisecond.
    let up = write_trace(&dir, "cell.up", &varying(1000, &[0, 1, 2, 1, 3, 0, 2, 1]));
    let down = write_trace(&dir, "cell.down", &varying(1000, &[1, 2, 3, 2]));
    let paths = [
        format!("trace/20ms,trace={up}+{down},loss=ge:0.5%/30%/50%"),
        "20mbit/10ms,jitter=1ms,batch=3ms,loss=ge:0.2%/25%/100%".to_owned(),
    ];
    let paths: Vec<PathSpec> = paths
        .iter()
        .map(|p| PathSpec::parse(p).expect("path"))
        .collect();
    for direction in ["up", "down"] {
        let mut s = TransferSpec::new(paths.clone(), 4 * MIB);
        s.direction = mptcp_sim::scenario::Direction::from_name(direction).unwrap();
        let r = run(&s).expect("run");
        check(&r);
        assert_eq!(r.subflows.len(), 2, "{:?}", r.subflows);
        eprintln!("mptcp {direction}: {:.2} Mbit/s", r.goodput_bps / 1e6);
        assert!(r.capacity_bps > 30e6, "capacity {}", r.capacity_bps);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn tcp_over_a_trace_path_with_bursty_loss() {
    let dir = temp_dir("tcp");
    let t = write_trace(&dir, "cell", &varying(500, &[2, 0, 1, 3]));
    let path = PathSpec::parse(&format!(
        "trace/15ms,trace={t},loss=ge:1%/40%/80%,batch=2ms"
    ))
    .expect("path");
    let mut s = TransferSpec::new(vec![path], 4 * MIB);
    s.tcp_only = true;
    s.direction = mptcp_sim::scenario::Direction::Both;
    let r = run(&s).expect("run");
    check(&r);
    eprintln!("tcp both: {:.2} Mbit/s", r.goodput_bps / 1e6);
    std::fs::remove_dir_all(&dir).ok();
}
