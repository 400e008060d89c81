//! Our client against our server.

use super::*;

fn check_consistent(report: &PerfReport, client: &Value, server: &Value) {
    // Both ends count every byte: what was sent was received.
    assert_eq!(report.sent_bytes, report.received_bytes, "{report:?}");
    assert!(report.sent_bytes > 0);
    for doc in [client, server] {
        assert_eq!(bytes_at(doc, "/end/sum_sent/bytes"), report.sent_bytes);
        assert_eq!(
            bytes_at(doc, "/end/sum_received/bytes"),
            report.received_bytes
        );
    }
    let streams: u64 = report.streams.iter().map(|s| s.sent_bytes).sum();
    assert_eq!(streams, report.sent_bytes);
    let expected = report.sent_bytes as f64 * 8.0 / report.sender_seconds();
    assert!((report.sender_bps - expected).abs() <= expected * 1e-9);
    // The printed document is the report's.
    let printed = to_json(report);
    for pointer in [
        "/end/sum_sent/bytes",
        "/end/sum_received/bytes",
        "/start/cookie",
    ] {
        assert_eq!(
            client.pointer(pointer),
            printed.pointer(pointer),
            "{pointer}"
        );
    }
    assert_eq!(
        client["intervals"].as_array().map(Vec::len),
        Some(report.intervals.len())
    );
    assert!(!report.intervals.is_empty(), "{report:?}");
    assert_eq!(
        bytes_at(server, "/start/test_start/reverse"),
        u64::from(report.reverse)
    );
    // Intervals count this end's bytes up to TEST_END.
    let local: u64 = report.intervals.iter().map(|iv| iv.bytes()).sum();
    let own = match report.reverse {
        false => report.sent_bytes,
        true => report.received_bytes,
    };
    assert!(local <= own, "intervals {local} > total {own}");
}

#[tokio::test]
async fn ours_bytes_forward_and_reverse() {
    for reverse in [false, true] {
        let opts = ClientOptions {
            bytes: Some(8 * MIB),
            reverse,
            ..client_opts(([0, 0, 0, 0], 0).into())
        };
        let (report, client, server) = ours_to_ours(opts, false).await;
        assert_eq!(report.sent_bytes, 8 * MIB, "reverse {reverse}");
        assert_eq!(report.received_bytes, 8 * MIB, "reverse {reverse}");
        assert_eq!(report.reverse, reverse);
        check_consistent(&report, &client, &server);
    }
}

#[tokio::test]
async fn ours_time_forward_and_reverse() {
    let both = async {
        tokio::join!(
            ours_to_ours(
                ClientOptions {
                    time: Some(Duration::from_secs(1)),
                    ..client_opts(([0, 0, 0, 0], 0).into())
                },
                false
            ),
            ours_to_ours(
                ClientOptions {
                    time: Some(Duration::from_secs(1)),
                    reverse: true,
                    ..client_opts(([0, 0, 0, 0], 0).into())
                },
                false
            ),
        )
    };
    // A last-resort bound on a test of wall-clock behaviour, far beyond
    // the 1 s asked for even on a loaded machine.
    let (forward, reverse) = tokio::time::timeout(Duration::from_secs(60), both)
        .await
        .expect("a 1 s run ends");
    for (report, client, server) in [forward, reverse] {
        check_consistent(&report, &client, &server);
        // Not before the limit; that the test ends at all (within the
        // generous bound above) shows the sender stopped at it.
        let secs = report.duration.as_secs_f64();
        assert!(secs >= 0.95, "{secs}");
        assert!(report.intervals.len() >= 2, "{:?}", report.intervals);
        assert!(
            !server["intervals"]
                .as_array()
                .expect("intervals")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn ours_parallel_streams() {
    let opts = ClientOptions {
        bytes: Some(8 * MIB),
        parallel: 3,
        block_len: 100_000,
        ..client_opts(([0, 0, 0, 0], 0).into())
    };
    let (report, client, server) = ours_to_ours(opts, false).await;
    let ids: Vec<u32> = report.streams.iter().map(|s| s.id).collect();
    assert_eq!(ids, [1, 3, 4]);
    assert_eq!(report.sent_bytes, 8 * MIB);
    check_consistent(&report, &client, &server);
    let per_stream = client
        .pointer("/end/streams")
        .and_then(Value::as_array)
        .expect("streams");
    assert_eq!(per_stream.len(), 3);
}

#[tokio::test]
async fn ours_text_output() {
    let (mut acceptor, addr) = bind_local(false).expect("bind");
    let opts = ClientOptions {
        bytes: Some(4 * MIB),
        json: false,
        ..client_opts(addr)
    };
    let sopts = ServerOptions {
        json: false,
        ..server_opts()
    };
    let (mut server_out, mut client_out) = (Vec::new(), Vec::new());
    let transport = TcpTransport::default();
    let (served, measured) = limit(async {
        tokio::join!(
            run_server(&mut acceptor, &sopts, &mut server_out),
            run_client(&transport, &opts, &mut client_out),
        )
    })
    .await;
    served.expect("server");
    measured.expect("client");
    let client = String::from_utf8(client_out).expect("utf8");
    let server = String::from_utf8(server_out).expect("utf8");
    assert!(client.starts_with(&format!(
        "Connecting to host 127.0.0.1, port {}\n",
        addr.port()
    )));
    assert!(client.contains("[  1] local 127.0.0.1 port "), "{client}");
    assert!(client.contains("4.00 MBytes"), "{client}");
    assert!(
        client.contains("  sender\n") && client.contains("  receiver\n"),
        "{client}"
    );
    assert!(
        server.starts_with("Accepted connection from 127.0.0.1"),
        "{server}"
    );
    assert!(server.contains("4.00 MBytes"), "{server}");
}

/// Whether the kernel has MPTCP here: an `IPPROTO_MPTCP` socket opens. No
/// MPTCP (`EPROTONOSUPPORT`) or `net.mptcp.enabled = 0` (`ENOPROTOOPT`)
/// is a missing prerequisite: skipped loudly, or a failure under
/// `CI=true`; any other error fails the test.
fn kernel_has_mptcp(test: &str) -> bool {
    const ENOPROTOOPT: i32 = 92;
    const EPROTONOSUPPORT: i32 = 93;
    let protocol = socket2::Protocol::from(262);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, Some(protocol));
    let e = match socket {
        Ok(_) => return true,
        Err(e) => e,
    };
    let missing = matches!(e.raw_os_error(), Some(ENOPROTOOPT | EPROTONOSUPPORT));
    assert!(missing, "{test}: opening an MPTCP socket: {e}");
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "{test}: the kernel's MPTCP is required (CI=true) but missing: {e}"
    );
    loud(&format!(
        "SKIPPED {test}: no kernel MPTCP here ({e}; is net.mptcp.enabled set?)"
    ));
    false
}

#[tokio::test]
async fn ours_over_kernel_mptcp() {
    if !kernel_has_mptcp("ours_over_kernel_mptcp") {
        return;
    }
    for reverse in [false, true] {
        let opts = ClientOptions {
            bytes: Some(8 * MIB),
            reverse,
            ..client_opts(([0, 0, 0, 0], 0).into())
        };
        let (report, client, server) = ours_to_ours(opts, true).await;
        assert_eq!(report.received_bytes, 8 * MIB);
        check_consistent(&report, &client, &server);
    }
}
