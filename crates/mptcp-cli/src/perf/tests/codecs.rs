//! Codecs, parsers and formatting.

use super::*;

#[test]
fn states_have_iperf3_values() {
    let states = [
        (State::TEST_START, 1),
        (State::TEST_RUNNING, 2),
        (State::TEST_END, 4),
        (State::PARAM_EXCHANGE, 9),
        (State::CREATE_STREAMS, 10),
        (State::SERVER_TERMINATE, 11),
        (State::CLIENT_TERMINATE, 12),
        (State::EXCHANGE_RESULTS, 13),
        (State::DISPLAY_RESULTS, 14),
        (State::IPERF_START, 15),
        (State::IPERF_DONE, 16),
        (State::ACCESS_DENIED, -1),
        (State::SERVER_ERROR, -2),
    ];
    for (state, value) in states {
        assert_eq!(state.0, value);
        assert_eq!(State::from_byte(state.byte()), state);
        assert!(state.name().is_some());
    }
    assert_eq!(State::ACCESS_DENIED.byte(), 0xff);
    assert_eq!(State::from_byte(77).to_string(), "unknown state 77");
}

#[test]
fn cookies_are_36_chars_and_a_nul() {
    let a = Cookie::random();
    let b = Cookie::random();
    assert_ne!(a, b);
    assert_eq!(a.0.len(), COOKIE_SIZE);
    assert_eq!(a.0[36], 0);
    let text = a.text();
    assert_eq!(text.len(), 36);
    assert!(
        text.bytes()
            .all(|c| b"abcdefghijklmnopqrstuvwxyz234567".contains(&c))
    );
}

#[test]
fn stream_ids_skip_two_like_iperf3() {
    let ids: Vec<u32> = (0..4).map(stream_id).collect();
    assert_eq!(ids, [1, 3, 4, 5]);
}

#[test]
fn sizes_are_1024_based() {
    assert_eq!(parse_size("1500"), Ok(1500));
    assert_eq!(parse_size("128K"), Ok(128 * 1024));
    assert_eq!(parse_size("10M"), Ok(10 * MIB));
    assert_eq!(parse_size("64MiB"), Ok(64 * MIB));
    assert_eq!(parse_size("16m"), Ok(16 * MIB));
    assert_eq!(parse_size("1.5G"), Ok(3 * 512 * MIB));
    assert_eq!(parse_size("2T"), Ok(2 << 40));
    for bad in ["", "M", "12X", "-5", "1.2.3K", "10 M"] {
        assert!(parse_size(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn times_are_seconds() {
    assert_eq!(parse_seconds("10"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_seconds("2.5"), Ok(Duration::from_millis(2500)));
    assert_eq!(parse_seconds("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_seconds("3s"), Ok(Duration::from_secs(3)));
    assert!(parse_seconds("soon").is_err());
    assert!(parse_seconds("-1").is_err());
}

#[test]
fn units_print_like_iperf3() {
    assert_eq!(bytes_text(11.2 * MIB as f64), "11.2 MBytes");
    assert_eq!(bytes_text(1536.0), "1.50 KBytes");
    assert_eq!(bytes_text(0.0), "0.00 Bytes");
    assert_eq!(bytes_text(112.0 * MIB as f64), " 112 MBytes");
    assert_eq!(rate_text(94.1e6), "94.1 Mbits/sec");
    assert_eq!(rate_text(1.25e9), "1.25 Gbits/sec");
    assert_eq!(rate_text(938e6), " 938 Mbits/sec");
}

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    perf: Args,
}

#[test]
fn arguments_use_iperf3_letters() {
    let cli = Cli::try_parse_from([
        "perf",
        "client",
        "example.org",
        "-p",
        "5202",
        "-n",
        "10M",
        "-R",
        "-P",
        "4",
        "-l",
        "64K",
        "-i",
        "0.5",
        "--json",
        "--tun",
        "t0=10.0.0.2",
        "--cc",
        "olia",
    ])
    .expect("parse");
    assert_eq!(cli.perf.transport(), TransportChoice::Tun);
    let Role::Client(c) = &cli.perf.role else {
        panic!("not a client: {cli:?}")
    };
    let expected = ClientArgs {
        host: "example.org".into(),
        port: 5202,
        time: None,
        bytes: Some(10 * MIB),
        reverse: true,
        parallel: 4,
        length: 64 * 1024,
        interval: Duration::from_millis(500),
        json: true,
        stack: crate::cmd::net::StackArgs {
            tun: vec!["t0=10.0.0.2".parse().expect("path")],
            version: 1,
            no_mptcp: false,
            scheduler: "minrtt".into(),
            cc: "olia".into(),
            checksum: false,
            no_subflows: false,
            limits: None,
            pm: Default::default(),
            events: None,
            workers: None,
        },
    };
    assert_eq!(c, &expected);
    let addr: SocketAddr = "10.0.0.1:5202".parse().expect("addr");
    let opts = c.options(addr);
    assert_eq!((opts.parallel, opts.block_len), (4, 64 * 1024));

    let cli =
        Cli::try_parse_from(["perf", "server", "-1", "-p", "6000", "--kernel"]).expect("parse");
    assert_eq!(
        cli.perf.transport(),
        TransportChoice::Kernel { mptcp: true }
    );
    let Role::Server(s) = &cli.perf.role else {
        panic!("not a server: {cli:?}")
    };
    assert!(s.one_off);
    assert_eq!(s.listen_addr().port(), 6000);

    for bad in [
        &["perf", "client", "h", "-t", "2", "-n", "1M"][..],
        &["perf", "client", "h", "-P", "0"],
        &["perf", "client", "h", "-P", "129"],
        &["perf", "client", "h", "-l", "2M"],
        &["perf", "client", "h", "-n", "0"],
        &["perf", "client", "h", "-t", "0"],
        &["perf", "client", "h", "-i", "0.01"],
        &["perf", "--kernel", "--kernel-tcp", "server"],
    ] {
        assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn stock_parameters_parse() {
    // What iperf3 3.12 sends for `-c host -t 2 -P 2 -R`.
    let stock = json!({
        "tcp": true, "omit": 0, "time": 2, "num": 0, "blockcount": 0, "parallel": 2,
        "reverse": true, "len": 131072, "pacing_timer": 1000, "client_version": "3.12"
    });
    let Value::Object(map) = stock else {
        unreachable!()
    };
    let p = TestParams::from_json(&map).expect("params");
    assert_eq!(
        (p.parallel, p.reverse, p.time_secs, p.bytes),
        (2, true, 2, 0)
    );
    assert_eq!(p.block_len, 131072);
    let Value::Object(ours) = p.to_json() else {
        panic!("not an object")
    };
    assert_eq!(TestParams::from_json(&ours), Ok(p));

    for (extra, why) in [
        (json!({"udp": true}), Unsupported::Udp),
        (json!({"bidirectional": true}), Unsupported::Bidirectional),
        (json!({"omit": 2}), Unsupported::Omit),
        (json!({"parallel": 500}), Unsupported::Streams(500)),
        (json!({"len": 4_000_000}), Unsupported::BlockLen(4_000_000)),
    ] {
        let Value::Object(map) = extra else {
            unreachable!()
        };
        assert_eq!(TestParams::from_json(&map), Err(why));
    }
}

#[test]
fn results_parse_iperf3_numbers() {
    // cJSON prints large integers as doubles.
    let stock = json!({
        "cpu_util_total": 12.5, "cpu_util_user": 2.5, "cpu_util_system": 10.0,
        "sender_has_retransmits": 1, "congestion_used": "cubic",
        "streams": [{"id": 1, "bytes": 1.2e15, "retransmits": 3, "jitter": 0, "errors": 0,
                     "omitted_errors": 0, "packets": 0, "start_time": 0, "end_time": 10.0002}]
    });
    let Value::Object(map) = stock else {
        unreachable!()
    };
    let r = Results::from_json(&map).expect("results");
    assert_eq!(r.streams[0].bytes, 1_200_000_000_000_000);
    assert_eq!(r.streams[0].retransmits, 3);
    assert!((r.streams[0].seconds - 10.0002).abs() < 1e-9);
    let Value::Object(again) = r.to_json() else {
        panic!("not an object")
    };
    assert_eq!(Results::from_json(&again).expect("round trip"), r);

    let Value::Object(no_streams) = json!({"cpu_util_total": 1, "cpu_util_user": 0,
        "cpu_util_system": 1, "sender_has_retransmits": -1})
    else {
        unreachable!()
    };
    assert!(matches!(
        Results::from_json(&no_streams),
        Err(Violation::MissingField("streams"))
    ));
}

#[test]
fn subflow_counters_become_interval_deltas() {
    let (io, _peer) = tokio::io::duplex(64);
    let mut streams: Vec<DataStream<DuplexStream>> = vec![DataStream::new(
        1,
        io,
        None,
        "10.0.0.2:5201".parse().expect("addr"),
    )];
    let sf = |sent, retr| SubflowSample {
        local: "10.0.0.1:40000".parse().expect("addr"),
        remote: "10.0.0.2:5201".parse().expect("addr"),
        bytes_sent: sent,
        bytes_received: 0,
        retransmits: retr,
        srtt_us: 1500,
        cwnd: 65536,
    };
    let samples = std::cell::Cell::new(0u64);
    let sampler = |_: &DuplexStream| {
        let n = samples.get();
        vec![sf(n * 1_000_000, n)]
    };
    let start = Instant::now();
    let mut meter = Meter::new(start, Duration::from_secs(1), &streams, &sampler);
    for second in 1..=2u64 {
        samples.set(second);
        streams[0].bytes += 1_000_000;
        let iv = meter.tick(start + Duration::from_secs(second), &streams, &sampler);
        assert_eq!(iv.bytes(), 1_000_000);
        assert_eq!(iv.subflows.len(), 1);
        assert_eq!(iv.subflows[0].bytes_sent, 1_000_000);
        assert_eq!(iv.subflows[0].retransmits, 1);
        let lines = interval_lines(iv);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("[  1] "), "{lines:?}");
        assert!(
            lines[0].contains("sec   977 KBytes  8.00 Mbits/sec"),
            "{lines:?}"
        );
        assert!(
            lines[1].contains("subflow 10.0.0.1:40000 -> 10.0.0.2:5201"),
            "{lines:?}"
        );
        assert!(lines[1].contains("8.00 Mbits/sec"), "{lines:?}");
    }
    assert_eq!(meter.retransmits(1), Some(2));
    assert_eq!(meter.retransmits(3), None);
}
