//! Decoded MPTCP options against the text decoders' expected output:
//! tcpdump's test suite `.out` files and ptcpdump's `.out.txt`, one line
//! per packet. For every MPTCP option they print, the option length and
//! kind must match ours, and every number they print (keys, tokens,
//! nonces, HMACs, sequence numbers, lengths, checksums, address bytes) must
//! appear in our `Display` of the same option.
#![cfg(feature = "capture")]

mod support;

use std::collections::BTreeSet;

use support::{get, testdata};

/// The MPTCP options a tcpdump-style line prints: (length, text).
fn printed_options(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("mptcp ") {
        let after = &rest[at + "mptcp ".len()..];
        let Some((len, text)) = after.split_once(' ') else {
            break;
        };
        let Ok(len) = len.parse() else {
            rest = after;
            continue;
        };
        // The option's text ends at a ',' or ']' outside brackets.
        let mut depth = 0usize;
        let mut end = text.len();
        for (i, c) in text.char_indices() {
            match c {
                '[' | '{' => depth += 1,
                ']' | '}' if depth > 0 => depth -= 1,
                ',' | ']' if depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        out.push((len, &text[..end]));
        rest = &text[end..];
    }
    out
}

/// Decimal and 0x-hex numbers of a text, as words.
fn numbers(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| {
            let hex = w
                .strip_prefix("0x")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()));
            hex || (!w.is_empty() && w.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The subtype a printed option names.
fn printed_subtype(text: &str) -> u8 {
    let name = text.split(' ').next().unwrap_or_default();
    match name {
        "capable" => 0,
        "join" => 1,
        "dss" => 2,
        "add-addr" => 3,
        "rem-addr" | "remove-addr" => 4,
        "prio" => 5,
        "fail" => 6,
        "fast-close" => 7,
        "tcprst" => 8,
        other => panic!("unknown printed option {other:?}"),
    }
}

/// Compare one capture with its decode; returns the options compared.
fn compare(capture: &str, decode: &str) -> usize {
    let text =
        std::fs::read_to_string(testdata().join("third-party").join(decode)).expect("decode file");
    let lines: Vec<&str> = text.lines().collect();
    let scan = get(capture);
    assert_eq!(lines.len(), scan.packets, "{decode}: one line per packet");
    let mut compared = 0;
    for (i, (line, ours)) in lines.iter().zip(&scan.mptcp).enumerate() {
        let printed = printed_options(line);
        assert_eq!(printed.len(), ours.len(), "{decode} line {}", i + 1);
        for (&(len, text), opt) in printed.iter().zip(ours) {
            let shown = opt.to_string();
            let context = format!("{decode} line {}: {text:?} vs {shown:?}", i + 1);
            assert_eq!(len, opt.len(), "{context}");
            assert_eq!(printed_subtype(text), opt.subtype(), "{context}");
            let missing: Vec<_> = numbers(text)
                .difference(&numbers(&shown))
                .cloned()
                .collect();
            assert!(missing.is_empty(), "{context}: {missing:?} missing");
            compared += 1;
        }
    }
    compared
}

#[test]
fn options_match_tcpdump_and_ptcpdump_decodes() {
    let pairs = [
        ("tcpdump_mptcp-v0.pcap", "tcpdump_mptcp-v0.out", 266),
        ("tcpdump_mptcp-v1.pcap", "tcpdump_mptcp-v1.out", 20),
        ("tcpdump_mptcp-aa-v1.pcap", "tcpdump_mptcp-aa-v1.out", 23),
        ("tcpdump_mptcp-aa-echo.pcap", "tcpdump_mptcp-aa-echo.out", 4),
        ("tcpdump_mptcp-fclose.pcap", "tcpdump_mptcp-fclose.out", 9),
        ("tcpdump_mptcp-tcprst.pcap", "tcpdump_mptcp-tcprst.out", 2),
        ("ptcpdump_mptcp.pcap", "ptcpdump_mptcp.pcap.out.txt", 14),
    ];
    for (capture, decode, expected) in pairs {
        assert_eq!(compare(capture, decode), expected, "{decode}");
    }
}

#[test]
fn tcpdump_calls_the_truncated_dss_a_bad_option() {
    let text = std::fs::read_to_string(testdata().join("third-party/tcpdump_mptcp-dss-oobr.out"))
        .expect("decode file");
    assert!(text.contains("mptcp 3 dss[bad opt]"));
    assert!(get(support::OOBR).mptcp.iter().all(Vec::is_empty));
}

#[test]
fn printed_option_splitting() {
    let line = "options [nop,mptcp 20 capable v0 flags [AH] csum {0x9c,0x96},mptcp 8 dss ack 5]";
    assert_eq!(
        printed_options(line),
        [
            (20, "capable v0 flags [AH] csum {0x9c,0x96}"),
            (8, "dss ack 5")
        ]
    );
    let n = numbers("add-addr v0-ip4 id 1 10.1.2.2 hmac 0xAb");
    assert_eq!(n, ["0xab", "1", "10", "2"].map(String::from).into());
}
