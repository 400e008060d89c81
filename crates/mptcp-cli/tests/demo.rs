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
