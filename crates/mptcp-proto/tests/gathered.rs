//! The gathered transmit form (headers in the buffer, the payload by
//! reference) puts the same bytes on the wire as the copying one.

use mptcp_proto::endpoint::{Endpoint, EndpointConfig, Event};
use mptcp_proto::segment::{emit_ip_tcp_headers, emit_ip_tcp_with};
use mptcp_proto::time::{Duration, Instant};
use mptcp_wire::{SubflowSeq, TcpFlags, TcpOption, TcpRepr};
use std::net::SocketAddr;

fn repr() -> TcpRepr {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: SubflowSeq(0xfff0_0000),
        ack: SubflowSeq(77),
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window: 512,
        urgent: 0,
    }
}

#[test]
fn headers_and_payload_are_the_whole_packet() {
    let pairs: [(SocketAddr, SocketAddr); 2] = [
        (
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        ),
        (
            "[fd00::1]:40000".parse().unwrap(),
            "[fd00::2]:80".parse().unwrap(),
        ),
    ];
    let opts = [TcpOption::Timestamps { tsval: 1, tsecr: 2 }];
    for (local, remote) in pairs {
        for offload in [false, true] {
            // An odd length: the checksum's byte order must carry over.
            for len in [1usize, 1001, 1448] {
                let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut whole = [0u8; 1600];
                let n =
                    emit_ip_tcp_with(local, remote, &repr(), &opts, &payload, &mut whole, offload)
                        .expect("whole");
                let mut head = [0u8; 120];
                let h = emit_ip_tcp_headers(
                    local,
                    remote,
                    &repr(),
                    &opts,
                    &payload,
                    &mut head,
                    offload,
                )
                .expect("headers");
                let mut gathered = head[..h].to_vec();
                gathered.extend_from_slice(&payload);
                assert_eq!(gathered, whole[..n], "{local} offload {offload} len {len}");
            }
        }
    }
}

#[test]
fn headers_refuse_a_packet_over_the_ip_limit() {
    let (local, remote) = ("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap());
    let payload = vec![0u8; 65535];
    let mut head = [0u8; 120];
    assert!(emit_ip_tcp_headers(local, remote, &repr(), &[], &payload, &mut head, true).is_err());
}

/// How the client is polled.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    Copying,
    Gathered,
    /// Up to this many packets a call.
    Batch(usize),
}

/// Every packet the client sends in a 300 KB upload (and the server's
/// answers), with the client polled in `form`.
fn upload(form: Form) -> (Vec<Vec<u8>>, usize) {
    let config = |seed| {
        let mut c = EndpointConfig {
            seed,
            ..EndpointConfig::default()
        };
        c.connection.subflow.checksum_offload = true;
        c.connection.subflow.segmentation_offload = true;
        c
    };
    let (ca, sa) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    let mut client = Endpoint::new(config(1));
    let mut server = Endpoint::new(config(2));
    client.add_address(ca, 1500);
    server.add_address(sa, 1500);
    server.listen(80);
    let mut now = Instant::ZERO;
    let conn = client
        .connect(now, ca, SocketAddr::new(sa, 80))
        .expect("connect");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut got, mut wire) = (0, Vec::new(), Vec::new());
    let mut accepted = None;
    let mut most = 1;
    let mut buf = vec![0u8; 2048];
    let mut slots = vec![0u8; 2048 * 64];
    let mut out = Vec::new();
    for _ in 0..2000 {
        if let Ok(n) = client.write(conn, &data[sent..]) {
            sent += n;
        }
        loop {
            let pkts = match form {
                Form::Gathered => {
                    let Some((t, payload)) = client.poll_transmit_gathered(now, &mut buf) else {
                        break;
                    };
                    let mut p = buf[..t.len].to_vec();
                    p.extend_from_slice(&payload);
                    vec![p]
                }
                Form::Copying => {
                    let Some(t) = client.poll_transmit(now, &mut buf) else {
                        break;
                    };
                    vec![buf[..t.len].to_vec()]
                }
                Form::Batch(n) => {
                    let area = &mut slots[..2048 * n];
                    if client
                        .poll_transmit_batch(now, area, 2048, &mut out)
                        .is_none()
                    {
                        break;
                    }
                    assert!(!out.is_empty() && out.len() <= n, "{} packets", out.len());
                    most = most.max(out.len());
                    let slot = |i: usize| &area[i * 2048..];
                    (out.iter().enumerate())
                        .map(|(i, (len, payload))| [&slot(i)[..*len], &payload[..]].concat())
                        .collect()
                }
            };
            for pkt in pkts {
                server.handle_verified(now, &pkt);
                wire.push(pkt);
            }
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            client.handle_verified(now, &buf[..t.len]);
        }
        while let Some(ev) = server.poll_event() {
            if let Event::Incoming(_) = ev {
                accepted = server.accept();
            }
        }
        let mut b = [0u8; 65536];
        while let Some(h) = accepted
            && let Ok(Some(n)) = server.read(h, &mut b)
            && n > 0
        {
            got.extend_from_slice(&b[..n]);
        }
        now += Duration::from_millis(1);
        client.handle_timeout(now);
        server.handle_timeout(now);
    }
    assert_eq!(got, data, "everything arrived ({form:?})");
    (wire, most)
}

#[test]
fn gathered_packets_are_the_copied_ones() {
    let (copied, _) = upload(Form::Copying);
    assert!(copied.len() > 200, "{} packets", copied.len());
    for form in [
        Form::Gathered,
        Form::Batch(1),
        Form::Batch(7),
        Form::Batch(64),
    ] {
        let (gathered, most) = upload(form);
        if let Form::Batch(n) = form {
            assert!(most > 1 || n == 1, "{form:?}: one packet a call at most");
        }
        assert_eq!(copied.len(), gathered.len(), "{form:?}");
        assert!(copied == gathered, "{form:?}: other packets");
    }
}
