//! `mptcp sim` as a user runs it.

use std::process::Command;

fn mptcp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mptcp"))
        .args(args)
        .output()
        .expect("run mptcp")
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mptcp-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

#[test]
fn json_report_has_the_documented_fields() {
    let out = mptcp(&[
        "sim",
        "--tcp",
        "--path",
        "20mbit/5ms/0.5%",
        "--bytes",
        "1MiB",
        "--seed",
        "7",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["bytes"], 1 << 20);
    assert_eq!(v["integrity"], "ok");
    assert_eq!(v["seed"], 7);
    assert_eq!(v["capacity_bps"], 20e6);
    let goodput = v["goodput_bps"].as_f64().expect("goodput");
    let eff = v["efficiency"].as_f64().expect("efficiency");
    assert!((eff - goodput / 20e6).abs() < 1e-9);
    assert!(v["duration_s"].as_f64().expect("duration") > 0.0);
    let sf = &v["subflows"][0];
    assert_eq!(sf["bytes"], 1 << 20);
    assert!(sf["retransmits"].as_u64().is_some());
    assert!(sf["srtt_ms"].as_f64().expect("srtt") >= 10.0);
    assert!(
        v["command"]
            .as_str()
            .expect("command")
            .starts_with("mptcp sim --tcp")
    );
}

#[test]
fn same_seed_same_numbers() {
    let run = || {
        mptcp(&[
            "sim",
            "--tcp",
            "--path",
            "10mbit/8ms/1%",
            "--bytes",
            "300KB",
            "--json",
        ])
        .stdout
    };
    assert_eq!(run(), run());
}

#[test]
fn pcap_is_readable_by_decode_and_tshark() {
    let pcap = tmp("sim.pcap");
    let out = mptcp(&[
        "sim",
        "--tcp",
        "--path",
        "10mbit/5ms",
        "--bytes",
        "50000",
        "--pcap",
        pcap.to_str().expect("utf-8 path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dec = mptcp(&["decode", pcap.to_str().expect("utf-8 path")]);
    assert!(dec.status.success());
    let text = String::from_utf8_lossy(&dec.stdout);
    let lines = text.lines().count();
    assert!(lines > 40, "{lines} lines");
    assert!(text.lines().next().expect("first line").contains("[S]"));
    assert!(text.contains("[S.]"));
    match Command::new("tshark").arg("-r").arg(&pcap).output() {
        Ok(t) => {
            assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
            assert_eq!(String::from_utf8_lossy(&t.stdout).lines().count(), lines);
        }
        Err(e) if std::env::var_os("CI").is_some() => panic!("tshark is required under CI: {e}"),
        Err(_) => eprintln!("!!! tshark not installed: pcap checked with mptcp decode only"),
    }
}

#[test]
fn failed_run_exits_1_with_the_reproducing_command() {
    let out = mptcp(&[
        "sim",
        "--tcp",
        "--path",
        "1mbit/50ms",
        "--bytes",
        "10MB",
        "--time-limit",
        "2s",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("reproduce with: mptcp sim --tcp --path '1mbit/50ms' --bytes 10000000"),
        "{err}"
    );
}

#[test]
fn bad_values_exit_2_with_one_line() {
    for args in [
        &["sim", "--tcp", "--path", "fast/10ms", "--bytes", "1MB"][..],
        &["sim", "--tcp", "--path", "10mbit/10ms", "--bytes", "lots"],
        &[
            "sim",
            "--tcp",
            "--path",
            "10mbit/10ms",
            "--bytes",
            "1MB",
            "--cc",
            "vegas",
        ],
        &[
            "sim",
            "--tcp",
            "--path",
            "10mbit/10ms",
            "--bytes",
            "1MB",
            "--down",
            "3@1s",
        ],
        &[
            "sim",
            "--path",
            "10mbit/10ms",
            "--bytes",
            "1MB",
            "--middlebox",
            "1:split",
        ],
        &[
            "sim",
            "--path",
            "10mbit/10ms",
            "--bytes",
            "1MB",
            "--middlebox",
            "0:firewall",
        ],
        &[
            "sim",
            "--path",
            "10mbit/10ms",
            "--bytes",
            "1MB",
            "--middlebox",
            "0:nat@up",
        ],
    ] {
        let out = mptcp(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn middleboxes_run_and_print_what_they_did() {
    let out = mptcp(&[
        "sim",
        "--path",
        "20mbit/10ms",
        "--path",
        "10mbit/20ms",
        "--bytes",
        "300KB",
        "--middlebox",
        "0:split",
        "--middlebox",
        "1:nat",
        "--strip-options",
        "1:data",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("middlebox"))
        .expect("a middlebox line");
    for counter in ["split_segments=", "nat_translated=", "stripped_options="] {
        assert!(line.contains(counter), "{line}");
    }
}

/// `mptcp sim --json | head -c 0`: a reader that goes away before the
/// report ends the command quietly, not with a panic.
#[test]
fn a_closed_pipe_ends_the_report_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mptcp"))
        .args(["sim", "--path", "20mbit/5ms", "--bytes", "64KiB", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mptcp");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{:?}: {err}", out.status);
}
