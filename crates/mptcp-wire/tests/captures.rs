//! Every packet of every capture under `testdata/` (pcap and pcapng;
//! Ethernet, PPP, Linux cooked v1 and v2): IP, TCP and every TCP option
//! parse, and every option re-emits to its bytes in the capture.
//!
//! Expected counts were established independently of this crate: with
//! tshark 4.0.17 (`-T fields -e tcp.options.mptcp.subtype`, and
//! `tcp.option_len` with the DSS flag fields for checksums), and against
//! tcpdump's own expected output (`.out` files). Two README figures count
//! something else: "156 DSS with checksum" in tcpdump_mptcp-v0.pcap and
//! "1,662" in the iperf capture also count the three MP_CAPABLE options
//! whose A (checksum) flag tcpdump prints as `csum`; the DSS options with a
//! checksum are 153 and 1,659 (tshark and the `.out` file agree).
#![cfg(feature = "capture")]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use mptcp_wire::{
    AddAddr, CapableBody, CaptureFormat, MpJoin, MptcpOption, ParseErrorKind, ResetReason,
    TcpRstFlags, Version,
};
use support::{OOBR, Scan, get, scans, token};

/// (capture, packets, MPTCP options per subtype, DSS options with checksum)
type Expected = (&'static str, usize, &'static [(u8, usize)], usize);

const EXPECTED: &[Expected] = &[
    ("v1-backup.pcap", 30, &[(0, 4), (2, 26)], 0),
    ("v1-csum.pcap", 37, &[(0, 4), (2, 31), (3, 2)], 14),
    ("v1-join.pcap", 79, &[(0, 3), (1, 6), (2, 68), (3, 2)], 0),
    ("v1-single.pcap", 32, &[(0, 4), (2, 28)], 0),
    ("ptcpdump_mptcp.pcap", 14, &[(0, 4), (2, 10)], 0),
    (
        "pymptcpanalyzer_client_2.pcap",
        2884,
        &[(0, 13), (1, 40), (2, 2767), (3, 8), (7, 4)],
        0,
    ),
    (
        "pymptcpanalyzer_iperf-mptcp-0-0.pcap",
        2560,
        &[(0, 3), (1, 9), (2, 2543), (3, 2)],
        1659,
    ),
    ("tcpdump_mptcp-aa-echo.pcap", 2, &[(2, 2), (3, 2)], 0),
    (
        "tcpdump_mptcp-aa-v1.pcap",
        24,
        &[(0, 4), (2, 18), (3, 1)],
        0,
    ),
    // The malformed DSS is an error, not a count (tshark counts it).
    (OOBR, 1, &[], 0),
    (
        "tcpdump_mptcp-fclose.pcap",
        11,
        &[(0, 3), (2, 5), (7, 1)],
        2,
    ),
    ("tcpdump_mptcp-tcprst.pcap", 2, &[(8, 2)], 0),
    (
        "tcpdump_mptcp-v0.pcap",
        264,
        &[(0, 3), (1, 3), (2, 258), (3, 1), (4, 1)],
        153,
    ),
    ("tcpdump_mptcp-v1.pcap", 20, &[(0, 4), (2, 16)], 0),
];

#[test]
fn every_option_parses_and_reemits_byte_for_byte() {
    assert_eq!(scans().len(), EXPECTED.len());
    for (name, scan) in scans() {
        assert!(scan.options > 0, "{name}: options were seen");
        if name == OOBR {
            continue;
        }
        assert!(
            scan.option_errors.is_empty(),
            "{name}: {:?}",
            scan.option_errors
        );
        assert_eq!(
            scan.ipv4_header_ok, scan.ipv4,
            "{name}: IPv4 header checksums"
        );
    }
}

#[test]
fn truncated_dss_is_a_clean_error_and_parsing_goes_on() {
    let scan = get(OOBR);
    assert_eq!(scan.tcp, 1);
    let [(0, err, bytes)] = scan.option_errors.as_slice() else {
        panic!("one bad option expected: {:?}", scan.option_errors)
    };
    assert_eq!(bytes, &[0x1e, 0x03, 0x20]);
    // The DSS flags field (offset 2 in the option) is missing; offsets count
    // from the IP header: 20 (IP) + 20 (TCP) + 16 (mss, sackOK, TS) + 2.
    assert!(matches!(
        err.kind,
        ParseErrorKind::Truncated {
            what: "DSS flags",
            needed: 2,
            available: 1,
        }
    ));
    assert_eq!(err.offset, 58);
    // mss, sackOK and TS before it; the EOL after it is still seen.
    assert_eq!(scan.options, 4);
    assert_eq!(scan.options_after_error, 1);
}

#[test]
fn mptcp_option_counts_match_tshark_and_tcpdump() {
    for &(name, packets, subtypes, with_csum) in EXPECTED {
        let scan = get(name);
        assert_eq!(scan.packets, packets, "{name}: packets");
        let expected: BTreeMap<u8, usize> = subtypes.iter().copied().collect();
        assert_eq!(scan.subtypes, expected, "{name}: MPTCP options per subtype");
        assert_eq!(
            scan.dss_with_checksum, with_csum,
            "{name}: DSS with checksum"
        );
    }
    assert_eq!(
        get("pymptcpanalyzer_client_2.pcap").format,
        Some(CaptureFormat::PcapNg)
    );
    assert_eq!(get("v1-join.pcap").format, Some(CaptureFormat::Pcap));
}

#[test]
fn timestamps_follow_the_file_resolution() {
    // As tshark prints them (frame.time_epoch): microseconds in pcap,
    // nanoseconds (if_tsresol 9) in the pcapng client capture.
    let first = |name| get(name).first_timestamp.expect("a packet");
    assert_eq!(
        first("tcpdump_mptcp-v1.pcap"),
        Duration::new(1578930666, 676845000)
    );
    assert_eq!(
        first("pymptcpanalyzer_client_2.pcap"),
        Duration::new(1529037834, 335235214)
    );
}

/// TCP checksums. Linux leaves the checksum of a segment it sends to the
/// device when the device can compute it (`CHECKSUM_PARTIAL`): the field
/// then holds only the folded pseudo-header sum. A veth pair passes such
/// segments to the peer namespace still partial, so in the kernel captures
/// (both ends veth, captured with `-i any`) *every* segment, sent (cooked
/// packet type 4) or received (type 0), carries a partial checksum: none is
/// verifiable, and the test asserts exactly that. The loopback captures are
/// the same. Captures from real or simulated links carry full checksums,
/// and there every one must verify; in the pcapng client capture, taken on
/// a host with offloading, 88 segments carry full checksums.
#[test]
fn tcp_checksums_verify_where_computed() {
    let partial_only = [
        "v1-backup.pcap",
        "v1-csum.pcap",
        "v1-join.pcap",
        "v1-single.pcap",
        "ptcpdump_mptcp.pcap",
        "tcpdump_mptcp-aa-echo.pcap",
        "tcpdump_mptcp-aa-v1.pcap",
        "tcpdump_mptcp-v1.pcap",
        OOBR,
    ];
    let full_only = [
        ("pymptcpanalyzer_iperf-mptcp-0-0.pcap", 2554),
        ("tcpdump_mptcp-fclose.pcap", 9),
        ("tcpdump_mptcp-tcprst.pcap", 2),
        ("tcpdump_mptcp-v0.pcap", 264),
    ];
    let total = |m: &BTreeMap<Option<u16>, usize>| m.values().sum::<usize>();
    for (name, scan) in scans() {
        assert_eq!(
            scan.csum_bad, 0,
            "{name}: a checksum neither valid nor partial"
        );
        assert_eq!(scan.truncated, 0, "{name}");
    }
    for name in partial_only {
        let scan = get(name);
        assert_eq!(total(&scan.csum_valid), 0, "{name}");
        assert_eq!(total(&scan.csum_partial), scan.tcp, "{name}");
    }
    let kernel = get("v1-join.pcap");
    assert_eq!(kernel.csum_partial.get(&Some(0)), Some(&38), "received");
    assert_eq!(kernel.csum_partial.get(&Some(4)), Some(&41), "sent");
    for (name, n) in full_only {
        let scan = get(name);
        assert_eq!((total(&scan.csum_valid), scan.tcp), (n, n), "{name}");
    }
    let client = get("pymptcpanalyzer_client_2.pcap");
    assert_eq!(
        client.csum_valid.get(&Some(0)),
        Some(&86),
        "received, computed"
    );
    assert_eq!(client.csum_valid.get(&Some(4)), Some(&2), "sent, computed");
    assert_eq!(total(&client.csum_partial), client.tcp - 88);
}

/// DSS checksums are computed by MPTCP itself, never offloaded: each one
/// whose mapping lies within a single captured segment must verify.
#[test]
fn dss_checksums_verify() {
    for (name, checkable) in [
        ("v1-csum.pcap", 9),
        ("tcpdump_mptcp-v0.pcap", 153),
        ("tcpdump_mptcp-fclose.pcap", 2),
        ("pymptcpanalyzer_iperf-mptcp-0-0.pcap", 1659),
    ] {
        let scan: &Scan = get(name);
        assert_eq!(scan.csum_checkable, checkable, "{name}: checkable");
        assert_eq!(scan.csum_verified, checkable, "{name}: verified");
    }
}

/// Keys from the MP_CAPABLE options of a capture, as (client, server),
/// taken from the third ACK.
fn third_ack_keys(scan: &Scan) -> (u64, u64) {
    let keys = scan.mptcp.iter().flatten().find_map(|m| match m {
        MptcpOption::Capable(c) => match c.body {
            CapableBody::BothKeys { sender, receiver } => Some((sender, receiver)),
            _ => None,
        },
        _ => None,
    });
    keys.expect("a third ACK")
}

/// Keys, tokens, nonces and HMACs against `testdata/kernel-v1/vectors.json`
/// (tshark's decode, and the kernels' own tokens).
#[test]
fn kernel_captures_match_vectors() {
    let vectors = [
        (
            "v1-backup.pcap",
            12465848336479018120,
            17536727130972538704,
            793456169,
        ),
        (
            "v1-csum.pcap",
            17591396919994505989,
            271647796117268965,
            3895002778,
        ),
        (
            "v1-join.pcap",
            6269544198961846954,
            13970375273262275604,
            2875289763,
        ),
        (
            "v1-single.pcap",
            17427411086237832694,
            11482787004990228687,
            2169304799,
        ),
    ];
    for (name, client, server, server_token) in vectors {
        let scan = get(name);
        assert_eq!(third_ack_keys(scan), (client, server), "{name}");
        assert_eq!(token(Version::V1, server), Some(server_token), "{name}");
        let csum_flag = scan.mptcp.iter().flatten().all(|m| match m {
            MptcpOption::Capable(c) => c.flags.checksum_required() == (name == "v1-csum.pcap"),
            _ => true,
        });
        assert!(csum_flag, "{name}: checksum flag");
    }
}

/// ADD_ADDR and its echo in the kernel captures, with the HMACs of
/// `vectors.json`.
#[test]
fn kernel_add_addr_match_vectors() {
    let adds = |name| -> Vec<AddAddr> {
        let scan = get(name);
        let all = scan.mptcp.iter().flatten();
        all.filter_map(|m| match m {
            MptcpOption::AddAddr(a) => Some(*a),
            _ => None,
        })
        .collect()
    };
    for (name, hmac) in [
        ("v1-csum.pcap", 4664472086263768691),
        ("v1-join.pcap", 9357966403089834907),
    ] {
        let a = adds(name);
        let addr = "10.77.2.2".parse().unwrap();
        let echo = AddAddr::V1 {
            flags: mptcp_wire::AddAddrFlags::ECHO,
            address_id: 1,
            addr,
            port: None,
            hmac: None,
        };
        let signal = AddAddr::V1 {
            flags: mptcp_wire::AddAddrFlags::NONE,
            address_id: 1,
            addr,
            port: None,
            hmac: Some(hmac),
        };
        assert_eq!(a, [signal, echo], "{name}");
    }
}

#[test]
fn kernel_joins_match_vectors() {
    let scan = get("v1-join.pcap");
    let joins: Vec<(usize, MpJoin)> = (0..scan.mptcp.len())
        .flat_map(|i| scan.mptcp[i].iter().map(move |m| (i, *m)))
        .filter_map(|(i, m)| match m {
            MptcpOption::Join(j) => Some((i, j)),
            _ => None,
        })
        .collect();
    let syn = |frame: usize, nonce| {
        (
            frame - 1,
            MpJoin::Syn {
                flags: mptcp_wire::BackupFlags::NONE,
                address_id: 1,
                token: 2875289763,
                nonce,
            },
        )
    };
    assert_eq!(joins.len(), 6);
    assert_eq!(joins[0], syn(6, 2172403161));
    assert_eq!(joins[3], syn(10, 3593626236));
    for (i, (id, hmac, nonce)) in [
        (1, 17745865527651569148, 1571787318),
        (0, 12775579210301316269, 2176974638),
    ]
    .into_iter()
    .enumerate()
    {
        let MpJoin::SynAck {
            address_id,
            truncated_hmac,
            nonce: n,
            ..
        } = joins[i * 3 + 1].1
        else {
            panic!("SYN/ACK expected: {:?}", joins[i * 3 + 1])
        };
        assert_eq!((address_id, truncated_hmac, n), (id, hmac, nonce));
    }
    let hex = |m: &MpJoin| -> String {
        match m {
            MpJoin::Ack { hmac, reserved: 0 } => hmac.iter().map(|b| format!("{b:02x}")).collect(),
            other => panic!("third ACK expected: {other:?}"),
        }
    };
    assert_eq!(hex(&joins[2].1), "a655e94ec5331bdd08455c7d9955f71f571e9250");
    assert_eq!(hex(&joins[5].1), "4bfa47624429f30a6dda2245d745e74554964105");
}

#[test]
fn third_party_values() {
    // tcpdump_mptcp-v1.out: keys, and MP_CAPABLE carrying 8192 bytes.
    let v1 = get("tcpdump_mptcp-v1.pcap");
    assert_eq!(third_ack_keys(v1), (0x1fdb5df328bc3def, 0x29a6c86981ad933c));
    assert!(matches!(
        v1.mptcp[3].as_slice(),
        [MptcpOption::Capable(c)] if matches!(c.body, CapableBody::BothKeysWithData {
            data_len: 8192,
            checksum: None,
            ..
        })
    ));
    // README: client key -> IDSN 14413541604287230029 = the server's DATA_ACK - 1.
    assert_eq!(
        support::idsn(Version::V1, 0x1fdb5df328bc3def),
        Some(14413541604287230029)
    );
    // tcpdump_mptcp-tcprst.out: reason 0 without flags, reason 1 with T.
    let rst = get("tcpdump_mptcp-tcprst.pcap");
    let reasons: Vec<_> = rst
        .mptcp
        .iter()
        .flatten()
        .map(|m| match m {
            MptcpOption::TcpRst(r) => (r.flags, r.reason),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        [
            (TcpRstFlags::NONE, ResetReason::UNSPECIFIED),
            (TcpRstFlags::TRANSIENT, ResetReason::MPTCP_SPECIFIC)
        ]
    );
    // ptcpdump README vector: client key -> token 0xc43eb50e.
    let p = get("ptcpdump_mptcp.pcap");
    let (client, server) = third_ack_keys(p);
    assert_eq!((client, server), (0xfe7b93dc894dcb73, 0xe356a8f252e41976));
    assert_eq!(token(Version::V1, client), Some(0xc43eb50e));
    // v0: old kernels left reserved bits set in the MP_JOIN third ACK.
    let odd = get("pymptcpanalyzer_client_2.pcap")
        .mptcp
        .iter()
        .flatten()
        .filter(|m| matches!(m, MptcpOption::Join(MpJoin::Ack { reserved, .. }) if *reserved != 0));
    assert_eq!(odd.count(), 6);
}
