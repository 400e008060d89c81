//! `mptcp chaos` as a user runs it, and the promise of its failure lines:
//! the `mptcp sim` command printed reproduces the run bit for bit.

use std::process::Command;

fn mptcp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mptcp"))
        .args(args)
        .output()
        .expect("run mptcp")
}

/// The words of a command line as `TransferSpec::command_line` writes it
/// (single quotes around paths, nothing else quoted).
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in command.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => out.push(std::mem::take(&mut word)),
            c => word.push(c),
        }
    }
    out.push(word);
    out
}

#[test]
fn a_passing_range_exits_0_with_the_summary() {
    let out = mptcp(&["chaos", "--runs", "12", "--seed", "2000"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.lines().last(),
        Some("chaos: 12 runs, 0 failed, seeds 2000..2012")
    );
}

#[test]
fn a_failed_run_exits_1_with_its_reproducing_command() {
    // A liveness bound shrunk a thousandfold: the run is judged too slow.
    let out = mptcp(&[
        "chaos",
        "--runs",
        "1",
        "--seed",
        "768",
        "--bound-scale",
        "0.001",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().expect("a failure line");
    assert!(line.starts_with("seed 768: "), "{line}");
    let (_, command) = line.split_once("; reproduce with: ").expect("a command");
    assert_eq!(
        text.lines().last(),
        Some("chaos: 1 runs, 1 failed, seeds 768..769")
    );
    let args = words(command);
    assert_eq!(args[..2], ["mptcp", "sim"]);
    let args: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    assert!(
        line.contains("too slow") || line.contains("bound"),
        "{line}"
    );
    // The command reproduces the run itself (intact: only the bound was
    // shrunk).
    let again = mptcp(&args);
    assert_eq!(again.status.code(), Some(0));
}

#[test]
fn printed_commands_reproduce_runs_bit_for_bit() {
    for seed in 0..12 {
        let outcome = mptcp_sim::chaos::run_one(seed).expect("builds");
        let Some(expected) = &outcome.report else {
            continue; // the engine panicked: nothing to compare
        };
        let command = outcome.spec.command_line();
        let mut args = words(&command);
        args.push("--json".to_owned());
        let args: Vec<&str> = args[1..].iter().map(String::as_str).collect();
        let out = mptcp(&args);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
        assert_eq!(report["command"].as_str(), Some(command.as_str()));
        assert_eq!(
            report["sim_events"].as_u64(),
            Some(expected.sim_events),
            "seed {seed}: {command}"
        );
        assert_eq!(
            report["finished_s"].as_f64(),
            Some(expected.finished_s),
            "seed {seed}"
        );
        assert_eq!(
            report["integrity"].as_str(),
            Some(expected.integrity.as_str())
        );
    }
}
