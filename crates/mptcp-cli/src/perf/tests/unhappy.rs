//! Unhappy paths: typed errors, no panics, no hangs.

use super::*;

/// A server that reads the cookie, then sends `reply` and closes.
async fn fake_server(reply: Vec<u8>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut cookie = [0u8; COOKIE_SIZE];
        s.read_exact(&mut cookie).await.expect("cookie");
        s.write_all(&reply).await.expect("reply");
        // Stay silent, then close.
        tokio::time::sleep(Duration::from_millis(800)).await;
    });
    addr
}

async fn client_against(reply: Vec<u8>) -> Result<PerfReport, PerfError> {
    let addr = fake_server(reply).await;
    let opts = ClientOptions {
        timeout: Duration::from_millis(300),
        ..client_opts(addr)
    };
    limit(run_client(&TcpTransport::default(), &opts, &mut Vec::new())).await
}

#[tokio::test]
async fn client_errors_are_typed() {
    let denied = client_against(vec![0xff]).await;
    assert!(matches!(denied, Err(PerfError::AccessDenied)), "{denied:?}");

    let mut error = vec![0xfe];
    error.extend_from_slice(&13i32.to_be_bytes());
    error.extend_from_slice(&98i32.to_be_bytes());
    let failed = client_against(error).await;
    assert!(
        matches!(
            failed,
            Err(PerfError::ServerError {
                code: 13,
                errno: 98
            })
        ),
        "{failed:?}"
    );
    let text = failed.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("not implemented"), "{text}");

    let odd = client_against(vec![77]).await;
    assert!(
        matches!(
            odd,
            Err(PerfError::Protocol {
                peer: Side::Server,
                violation: Violation::UnexpectedState(State(77)),
                ..
            })
        ),
        "{odd:?}"
    );

    let silent = client_against(vec![]).await;
    assert!(
        matches!(
            silent,
            Err(PerfError::Timeout {
                peer: Side::Server,
                ..
            })
        ),
        "{silent:?}"
    );

    // PARAM_EXCHANGE, then the server hangs up before CREATE_STREAMS.
    let addr = {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut cookie = [0u8; COOKIE_SIZE];
            s.read_exact(&mut cookie).await.expect("cookie");
            s.write_all(&[9]).await.expect("state");
            let len = s.read_u32().await.expect("len");
            let mut params = vec![0u8; len as usize];
            s.read_exact(&mut params).await.expect("params");
            serde_json::from_slice::<Value>(&params).expect("params are JSON");
        });
        addr
    };
    let opts = ClientOptions {
        timeout: Duration::from_secs(2),
        ..client_opts(addr)
    };
    let closed = limit(run_client(&TcpTransport::default(), &opts, &mut Vec::new())).await;
    assert!(
        matches!(
            closed,
            Err(PerfError::ControlClosed {
                peer: Side::Server,
                state: State::PARAM_EXCHANGE
            })
        ),
        "{closed:?}"
    );

    let nobody = {
        let port = free_port();
        let opts = client_opts((Ipv4Addr::LOCALHOST, port).into());
        limit(run_client(&TcpTransport::default(), &opts, &mut Vec::new())).await
    };
    assert!(matches!(nobody, Err(PerfError::Io { .. })), "{nobody:?}");
}

/// A raw client speaking the protocol by hand, for the server's tests.
struct Raw {
    ctrl: TcpStream,
    cookie: [u8; COOKIE_SIZE],
}

impl Raw {
    async fn connect(addr: SocketAddr, cookie: [u8; COOKIE_SIZE]) -> Raw {
        let mut ctrl = TcpStream::connect(addr).await.expect("connect");
        ctrl.write_all(&cookie).await.expect("cookie");
        Raw { ctrl, cookie }
    }

    async fn state(&mut self) -> i8 {
        self.ctrl.read_i8().await.expect("state")
    }

    async fn send_json(&mut self, v: Value) {
        let text = v.to_string();
        self.ctrl.write_u32(text.len() as u32).await.expect("len");
        self.ctrl.write_all(text.as_bytes()).await.expect("json");
    }

    async fn read_json(&mut self) -> Value {
        let len = self.ctrl.read_u32().await.expect("len");
        let mut text = vec![0u8; len as usize];
        self.ctrl.read_exact(&mut text).await.expect("json");
        serde_json::from_slice(&text).expect("JSON")
    }
}

fn raw_cookie(c: u8) -> [u8; COOKIE_SIZE] {
    let mut cookie = [c; COOKIE_SIZE];
    cookie[COOKIE_SIZE - 1] = 0;
    cookie
}

#[tokio::test]
async fn server_denies_strangers_and_counts_in_flight_bytes() {
    let (mut acceptor, addr) = bind_local(false).expect("bind");
    let mut out = Vec::new();
    let sent: u64 = 3_000_000;
    let client = async {
        let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
        assert_eq!(raw.state().await, 9);
        // A second client while the first one is at it: busy.
        let mut busy = Raw::connect(addr, raw_cookie(b'b')).await;
        assert_eq!(busy.state().await, -1);
        raw.send_json(
            json!({"tcp": true, "omit": 0, "time": 0, "num": sent, "parallel": 1,
            "len": 65536, "client_version": "raw"}),
        )
        .await;
        assert_eq!(raw.state().await, 10);
        // A data connection with the wrong cookie is turned away...
        let mut stranger = TcpStream::connect(addr).await.expect("connect");
        stranger.write_all(&raw_cookie(b'z')).await.expect("cookie");
        assert_eq!(stranger.read_i8().await.expect("denied"), -1);
        // ...and the right one joins the test.
        let mut data = TcpStream::connect(addr).await.expect("connect");
        data.write_all(&raw.cookie).await.expect("cookie");
        assert_eq!(raw.state().await, 1);
        assert_eq!(raw.state().await, 2);
        // Send, and end the test before the server could read it all.
        let payload = vec![7u8; sent as usize];
        let writer = tokio::spawn(async move {
            data.write_all(&payload).await.expect("data");
            data
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        raw.ctrl.write_all(&[4]).await.expect("TEST_END");
        assert_eq!(raw.state().await, 13);
        let _data = writer.await.expect("writer");
        raw.send_json(
            json!({"cpu_util_total": 0, "cpu_util_user": 0, "cpu_util_system": 0,
            "sender_has_retransmits": 0, "streams": [{"id": 1, "bytes": sent, "retransmits": -1,
            "jitter": 0, "errors": 0, "packets": 0, "start_time": 0, "end_time": 0.1}]}),
        )
        .await;
        let results = raw.read_json().await;
        assert_eq!(results["sender_has_retransmits"], json!(-1));
        assert_eq!(results["streams"][0]["id"], json!(1));
        assert_eq!(results["streams"][0]["bytes"], json!(sent));
        assert_eq!(raw.state().await, 14);
        raw.ctrl.write_all(&[16]).await.expect("IPERF_DONE");
    };
    let sopts = server_opts();
    let serve = run_server(&mut acceptor, &sopts, &mut out);
    let (served, ()) = limit(async { tokio::join!(serve, client) }).await;
    served.expect("server");
    let doc = parse(&out);
    assert_eq!(bytes_at(&doc, "/end/sum_received/bytes"), sent);
}

#[tokio::test]
async fn server_errors_are_typed() {
    let serve = |setup: fn(SocketAddr) -> tokio::task::JoinHandle<()>| async move {
        let (mut acceptor, addr) = bind_local(false).expect("bind");
        let peer = setup(addr);
        let opts = ServerOptions {
            timeout: Duration::from_millis(500),
            ..server_opts()
        };
        let result = limit(run_server(&mut acceptor, &opts, &mut Vec::new())).await;
        peer.await.expect("peer");
        result
    };

    // A client that hangs up after its cookie.
    let closed = serve(|addr| {
        tokio::spawn(async move {
            let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
            assert_eq!(raw.state().await, 9);
        })
    })
    .await;
    assert!(
        matches!(
            closed,
            Err(PerfError::ControlClosed {
                peer: Side::Client,
                state: State::PARAM_EXCHANGE
            })
        ),
        "{closed:?}"
    );

    // A half cookie is nobody; the next client gets a test.
    let after_half_cookie = serve(|addr| {
        tokio::spawn(async move {
            let mut half = TcpStream::connect(addr).await.expect("connect");
            half.write_all(b"abc").await.expect("half");
            drop(half);
            let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
            assert_eq!(raw.state().await, 9);
            raw.ctrl
                .write_all(&u32::MAX.to_be_bytes())
                .await
                .expect("len");
            let _ = raw.ctrl.read_i8().await;
        })
    })
    .await;
    assert!(
        matches!(
            after_half_cookie,
            Err(PerfError::Protocol {
                violation: Violation::MessageTooLong(u32::MAX),
                ..
            })
        ),
        "{after_half_cookie:?}"
    );

    // UDP: refused with iperf3's "not implemented".
    let udp = serve(|addr| {
        tokio::spawn(async move {
            let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
            assert_eq!(raw.state().await, 9);
            raw.send_json(json!({"udp": true, "time": 1, "parallel": 1}))
                .await;
            assert_eq!(raw.state().await, -2);
            assert_eq!(raw.ctrl.read_i32().await.expect("code"), 13);
        })
    })
    .await;
    assert!(
        matches!(udp, Err(PerfError::Unsupported(Unsupported::Udp))),
        "{udp:?}"
    );

    // Streams that never come.
    let no_streams = serve(|addr| {
        tokio::spawn(async move {
            let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
            assert_eq!(raw.state().await, 9);
            raw.send_json(json!({"tcp": true, "time": 1, "parallel": 2}))
                .await;
            assert_eq!(raw.state().await, 10);
            let _ = raw.ctrl.read_i8().await;
        })
    })
    .await;
    assert!(
        matches!(
            no_streams,
            Err(PerfError::Timeout {
                peer: Side::Client,
                state: State::CREATE_STREAMS,
                ..
            })
        ),
        "{no_streams:?}"
    );
}

#[tokio::test]
async fn our_server_busy_is_access_denied_for_our_client() {
    let (mut acceptor, addr) = bind_local(false).expect("bind");
    let opts = ServerOptions {
        timeout: Duration::from_secs(2),
        ..server_opts()
    };
    let busy = async {
        let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
        assert_eq!(raw.state().await, 9);
        let mut out = Vec::new();
        let result = run_client(&TcpTransport::default(), &client_opts(addr), &mut out).await;
        drop(raw);
        result
    };
    let mut out = Vec::new();
    let serve = run_server(&mut acceptor, &opts, &mut out);
    let (served, result) = limit(async { tokio::join!(serve, busy) }).await;
    assert!(matches!(result, Err(PerfError::AccessDenied)), "{result:?}");
    assert!(
        matches!(served, Err(PerfError::ControlClosed { .. })),
        "{served:?}"
    );
}

#[tokio::test]
async fn server_goes_on_after_a_failed_test() {
    let (mut acceptor, addr) = bind_local(false).expect("bind");
    let opts = ServerOptions {
        one_off: false,
        ..server_opts()
    };
    let mut out = Vec::new();
    let clients = async {
        // First a client that gives up, then a real test.
        let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
        assert_eq!(raw.state().await, 9);
        drop(raw);
        let opts = ClientOptions {
            bytes: Some(MIB),
            ..client_opts(addr)
        };
        // Until the server has noticed, it is busy with the first.
        loop {
            match run_client(&TcpTransport::default(), &opts, &mut Vec::new()).await {
                Err(PerfError::AccessDenied) => tokio::time::sleep(Duration::from_millis(50)).await,
                other => return other,
            }
        }
    };
    // The server runs until dropped: stop it once the client is done.
    let report = limit(async {
        tokio::select! {
            r = run_server(&mut acceptor, &opts, &mut out) => panic!("server stopped: {r:?}"),
            report = clients => report,
        }
    })
    .await
    .expect("second test");
    assert_eq!(report.received_bytes, MIB);
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("\"error\""), "{text}");
}
