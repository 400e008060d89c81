//! `mptcp demo` as a user runs it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn mptcp_in(dir: &PathBuf, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mptcp"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run mptcp")
}

/// A fresh directory of its own for each test.
fn tmp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mptcp-cli-demo-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(
        bytes.len() > 33,
        "too short for a PNG: {} bytes",
        bytes.len()
    );
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "IHDR is the first chunk");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (be(16), be(20))
}

/// The first number in `text` after `label`.
fn number_after(text: &str, label: &str) -> f64 {
    let rest = &text[text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in {text}"))
        + label.len()..];
    let num: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse()
        .unwrap_or_else(|_| panic!("a number after {label:?} in {text}"))
}

#[test]
fn demo_prints_the_table_and_the_comparison_and_writes_the_plot() {
    let dir = tmp_dir("plot");
    let out = mptcp_in(&dir, &["demo", "--bytes", "4MiB", "--plot", "out.png"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The subflow table: a header and one row per default path.
    assert!(stdout.contains("path  name"), "{stdout}");
    for (name, addr) in [("Wi-Fi", "10.1.0.1:"), ("LTE", "10.2.0.1:")] {
        let row = stdout
            .lines()
            .find(|l| l.contains(name) && l.contains(addr))
            .unwrap_or_else(|| panic!("a subflow row for {name}: {stdout}"));
        assert!(row.contains('%') && row.contains(" ms"), "{row}");
    }
    // The baselines: both paths alone, verified.
    assert!(stdout.contains("50mbit/10ms"), "{stdout}");
    assert!(stdout.contains("20mbit/40ms"), "{stdout}");
    // The comparison, with plausible numbers.
    let line = stdout
        .lines()
        .find(|l| l.starts_with("MPTCP goodput"))
        .unwrap_or_else(|| panic!("the comparison line: {stdout}"));
    let goodput = number_after(line, "MPTCP goodput");
    let times = number_after(line, "=");
    let best = number_after(line, "single path (");
    let share = number_after(line, "Mbit/s),");
    let sum = number_after(line, "sum of path rates (");
    assert!(goodput > 0.0 && goodput <= 70.0, "{line}");
    assert!(
        best > 0.0 && best <= 50.0 && sum > best && sum <= 70.0,
        "{line}"
    );
    assert!((times - goodput / best).abs() < 0.01, "{line}");
    assert!((share - 100.0 * goodput / sum).abs() < 0.1, "{line}");
    assert!(line.contains("× the best single path"), "{line}");
    // Progress went to stderr, a line per virtual second at most.
    assert!(stderr.contains("MiB"), "{stderr}");
    // The plot.
    let png = std::fs::read(dir.join("out.png")).expect("the plot was written");
    let (w, h) = png_size(&png);
    assert!(
        (640..=4096).contains(&w) && (360..=4096).contains(&h),
        "{w}x{h}"
    );
    assert!(!dir.join("mptcp-demo.png").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_plot_writes_no_file() {
    let dir = tmp_dir("noplot");
    let out = mptcp_in(
        &dir,
        &[
            "demo",
            "--bytes",
            "1MiB",
            "--path",
            "20mbit/5ms",
            "--no-plot",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("MPTCP goodput"), "{stdout}");
    let files: Vec<_> = std::fs::read_dir(&dir).expect("read dir").collect();
    assert!(files.is_empty(), "{files:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let dir = tmp_dir("bad");
    for args in [
        &["demo", "--bytes", "lots"][..],
        &["demo", "--path", "fast/1ms"],
        &["demo", "--scheduler", "fastest"],
        &["demo", "--cc", "vegas"],
        &["demo", "--bytes", "0"],
        &["demo", "--scenario", "moon-link"],
        &[
            "demo",
            "--scenario",
            "lossy-wifi-lte",
            "--path",
            "20mbit/5ms",
        ],
    ] {
        let out = mptcp_in(&dir, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("mptcp: "), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let files: Vec<_> = std::fs::read_dir(&dir).expect("read dir").collect();
    assert!(files.is_empty(), "{files:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_plot_exits_2() {
    let dir = tmp_dir("unwritable");
    let out = mptcp_in(
        &dir,
        &[
            "demo",
            "--bytes",
            "256KiB",
            "--plot",
            "no/such/dir/plot.png",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .lines()
            .last()
            .unwrap_or_default()
            .contains("cannot write the plot"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The stdout of a successful demo run without a plot.
fn demo_stdout(test: &str, args: &[&str]) -> String {
    let dir = tmp_dir(test);
    let mut all = vec!["demo", "--no-plot"];
    all.extend_from_slice(args);
    let out = mptcp_in(&dir, &all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    stdout
}

/// The baseline table's row for path `index`: (seconds measured over,
/// MiB read by then, goodput in Mbit/s).
fn baseline_row(stdout: &str, index: usize) -> (f64, f64, f64) {
    let table = &stdout[stdout
        .find("Plain TCP (")
        .unwrap_or_else(|| panic!("the baselines: {stdout}"))..];
    let row = table
        .lines()
        .skip(2)
        .find(|l| l.split_whitespace().next() == Some(&index.to_string()))
        .unwrap_or_else(|| panic!("a baseline row for path {index}: {stdout}"));
    // ... OVER s READ MiB GOODPUT Mbit/s INTEGRITY (names and links may
    // hold spaces: read from the end).
    let fields: Vec<&str> = row.split_whitespace().rev().collect();
    let num = |k: usize| -> f64 { fields[k].parse().unwrap_or_else(|_| panic!("{row}")) };
    assert_eq!((fields[1], fields[5]), ("Mbit/s", "s"), "{row}");
    let read = match fields[3] {
        "MiB" => num(4),
        "bytes" => num(4) / 1048576.0,
        _ => panic!("a read size: {row}"),
    };
    (num(6), read, num(2))
}

#[test]
fn scenario_list_names_every_scenario_and_runs_nothing() {
    let dir = tmp_dir("list");
    let out = mptcp_in(&dir, &["demo", "--scenario", "list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for name in ["wifi-lte", "lossy-wifi-lte"] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(name)),
            "{name}: {stdout}"
        );
    }
    assert!(stdout.contains("(default)"), "{stdout}");
    assert!(!stdout.contains("MPTCP goodput"), "{stdout}");
    let files: Vec<_> = std::fs::read_dir(&dir).expect("read dir").collect();
    assert!(files.is_empty(), "{files:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_lossy_scenario_runs_over_bursty_wifi_and_a_generated_lte_trace() {
    let stdout = demo_stdout(
        "lossy",
        &["--scenario", "lossy-wifi-lte", "--bytes", "4MiB"],
    );
    assert!(stdout.contains("loss=ge:"), "{stdout}");
    assert!(stdout.contains("trace/30ms (generated"), "{stdout}");
    // Both paths carried data, and both baselines ran.
    for path in 0..2 {
        let (_, _, goodput) = baseline_row(&stdout, path);
        assert!(goodput > 0.5, "path {path}: {stdout}");
    }
    assert!(stdout.contains("integrity ok"), "{stdout}");
    // The same seed gives the same run; another seed another one.
    let again = demo_stdout(
        "lossy2",
        &["--scenario", "lossy-wifi-lte", "--bytes", "4MiB"],
    );
    let headline = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("MPTCP goodput"))
            .map(str::to_owned)
    };
    assert_eq!(headline(&stdout), headline(&again));
}

#[test]
fn coupled_controllers_are_compared_with_reno_and_uncoupled_with_themselves() {
    let lia = demo_stdout("lia", &["--bytes", "2MiB"]);
    assert!(lia.contains("Plain TCP (reno)"), "{lia}");
    let olia = demo_stdout("olia", &["--bytes", "2MiB", "--cc", "olia"]);
    assert!(olia.contains("Plain TCP (reno)"), "{olia}");
    let cubic = demo_stdout("cubic", &["--bytes", "2MiB", "--cc", "cubic"]);
    assert!(cubic.contains("Plain TCP (cubic)"), "{cubic}");
}

#[test]
fn baselines_are_measured_over_the_mptcp_runs_span() {
    let stdout = demo_stdout("span", &["--bytes", "16MiB"]);
    let mptcp_s = number_after(&stdout, "16.0 MiB in");
    // Each path alone is slower than both together: measured over exactly
    // the MPTCP run's time, not over its own longer run, and it had read
    // only part of the stream by then.
    for path in 0..2 {
        let (over, read, goodput) = baseline_row(&stdout, path);
        assert!((over - mptcp_s).abs() < 0.0015, "path {path}: {stdout}");
        assert!(read > 1.0 && read < 15.0, "path {path}: {stdout}");
        let rate = read * 8.0 * 1.048576 / over;
        assert!(
            (rate - goodput).abs() < 0.05 * goodput + 0.1,
            "path {path}: {stdout}"
        );
    }
}

#[test]
fn from_matrix_draws_the_bench_csv_and_rejects_other_files() {
    let dir = tmp_dir("matrix");
    let csv = "row,kind,paths,bytes,direction,buffer,cc,scheduler,default,tcp_cc,mptcp_mbps,\
               tcp_mbps,best_mbps,sum_mbps,x_best,of_sum,shortfalls,wall_s\n\
               \"a, b\",disjoint,x,1,up,,lia,minrtt,true,reno,90,60 40,60,100,1.5,0.9,,1\n\
               \"a, b\",disjoint,x,1,up,,reno,minrtt,false,reno,95,60 40,60,100,1.58,0.95,,1\n\
               s,shared,x,0,up,,lia,minrtt,true,reno,20,25,25,25,0.8,,,1\n";
    std::fs::write(dir.join("m.csv"), csv).expect("write csv");
    let out = mptcp_in(&dir, &["demo", "--from-matrix", "m.csv", "--plot", "m.png"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (w, h) = png_size(&std::fs::read(dir.join("m.png")).expect("the chart"));
    assert!(w >= 640 && h >= 200, "{w}x{h}");
    // Not a matrix: exit 2, one line, nothing written.
    std::fs::write(dir.join("bad.csv"), "a,b\n1,2\n").expect("write csv");
    let out = mptcp_in(
        &dir,
        &["demo", "--from-matrix", "bad.csv", "--plot", "bad.png"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!dir.join("bad.png").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
