//! Pcap capture, read back with pcap-file (and with tshark when installed).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use mptcp_sim::{Duration, IfaceId, LinkConfig};
use pcap_file::pcap::PcapReader;
use pcap_file::{DataLink, TsResolution};

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}", std::process::id()))
}

/// (timestamp in microseconds, seq) of every packet in the file.
fn read(path: &PathBuf) -> Vec<(u64, u64)> {
    let mut reader = PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let header = reader.header();
    assert_eq!(header.datalink, DataLink::RAW);
    assert_eq!(u32::from(header.datalink), 101);
    assert_eq!(header.ts_resolution, TsResolution::MicroSecond);
    let mut out = Vec::new();
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        assert_eq!(p.orig_len as usize, p.data.len());
        out.push((p.timestamp.as_micros() as u64, flow_seq(&p.data).1));
    }
    out
}

#[test]
fn capture_both_ends_and_read_back() {
    let link = LinkConfig::new(12_000_000, Duration::from_millis(10));
    let (mut sim, a, b, _) = pair(1, vec![flow_ab(1500, 5)], link);
    let (pa, pb) = (tmp("a.pcap"), tmp("b.pcap"));
    sim.capture_pcap(a, IfaceId(0), &pa).unwrap();
    let cb = sim.capture_pcap(b, IfaceId(0), &pb).unwrap();
    sim.run_until(ms(100)).unwrap();
    sim.finish_observers().unwrap();
    assert_eq!(
        sim.observer::<mptcp_sim::PcapCapture>(cb)
            .unwrap()
            .packets(),
        5
    );

    let sent: Vec<_> = (0..5).map(|s| (0, s)).collect();
    assert_eq!(read(&pa), sent);
    let received: Vec<_> = (0..5).map(|s| (11_000 + 1_000 * s, s)).collect();
    assert_eq!(read(&pb), received);
    tshark_agrees(&pb, 5);
    let _ = (std::fs::remove_file(pa), std::fs::remove_file(pb));
}

/// tshark decodes the file as IPv4 from 10.0.0.1. A tshark that runs and
/// fails fails the test; a missing one is skipped loudly, except under
/// `CI=true`, where it fails too.
fn tshark_agrees(path: &PathBuf, packets: usize) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-T", "fields", "-e", "ip.src", "-e", "frame.time_relative"])
        .output();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let out = match out {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !ci => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "!!!!! SKIPPED: tshark is not installed; pcap checked with pcap-file only"
            );
            return;
        }
        Err(e) => panic!("tshark cannot run ({e}); CI={ci}: install tshark"),
    };
    assert!(
        out.status.success(),
        "tshark -r {} failed ({}): {}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), packets, "{text}");
    assert!(lines.iter().all(|l| l.starts_with("10.0.0.1\t")), "{text}");
    assert!(lines[1].ends_with("0.001000000"), "{text}");
}
