//! One endpoint per shard over one shared token table (issue 14 §2): each
//! endpoint's connections take tokens of its shard, and a device that
//! spreads flows over the endpoints by hash, blind to MPTCP, has every
//! MP_JOIN steered to the endpoint that owns its connection.

use mptcp_proto::endpoint::{Endpoint, EndpointConfig, Steer};
use mptcp_proto::stats::Mib;
use mptcp_proto::time::Instant;
use mptcp_proto::token::{Shard, TokenTable, TokenTableConfig};
use mptcp_wire::IpPacket;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

const SERVER: &str = "10.0.0.1";
const CLIENT: &str = "10.1.0.1";
const CLIENT2: &str = "10.2.0.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `n` server endpoints, shard `i` of `n` each, sharing one table.
fn servers(n: u32, syn_backlog: usize) -> Vec<Endpoint> {
    let tokens = Arc::new(TokenTable::new(TokenTableConfig::default()));
    (0..n)
        .map(|i| {
            let config = EndpointConfig {
                seed: 100 + u64::from(i),
                shard: Shard::new(i, n).unwrap(),
                syn_backlog,
                ..EndpointConfig::default()
            };
            let mut ep = Endpoint::with_tokens(config, tokens.clone());
            ep.add_address(ip(SERVER), 1500);
            ep.listen(80);
            ep
        })
        .collect()
}

/// How the device queues a packet: by a hash of the client's address and
/// port, blind to MPTCP.
fn queue(pkt: &[u8], n: usize) -> usize {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let ip = IpPacket::parse(pkt).unwrap();
    let mut h = DefaultHasher::new();
    (ip.src(), ip.tcp().unwrap().src_port()).hash(&mut h);
    (h.finish() % n as u64) as usize
}

#[derive(Default)]
struct Steered {
    to_owner: usize,
    elsewhere: usize,
}

/// Where a packet queued at `q` ends up, as a runtime would route it.
fn route(now: Instant, servers: &[Endpoint], q: usize, pkt: &[u8], seen: &mut Steered) -> usize {
    match servers[q].steer(now, pkt) {
        Steer::Here => q,
        Steer::Shard(k) => {
            seen.to_owner += 1;
            k as usize
        }
        Steer::Elsewhere => {
            seen.elsewhere += 1;
            (0..servers.len())
                .find(|&j| j != q && servers[j].steer(now, pkt) == Steer::Here)
                .unwrap_or(q)
        }
    }
}

/// Exchange packets until both sides are quiet.
fn pump(now: Instant, client: &mut Endpoint, servers: &mut [Endpoint], seen: &mut Steered) {
    let mut buf = vec![0u8; 2048];
    loop {
        let mut moved = false;
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            let pkt = &buf[..t.len];
            let q = queue(pkt, servers.len());
            let to = route(now, servers, q, pkt, seen);
            servers[to].handle(now, pkt);
            moved = true;
        }
        for s in servers.iter_mut() {
            while let Some(t) = s.poll_transmit(now, &mut buf) {
                client.handle(now, &buf[..t.len]);
                moved = true;
            }
        }
        if !moved {
            return;
        }
    }
}

/// 40 connections with a join each to two sharded endpoints; returns what
/// the steering did.
fn run(syn_backlog: usize) -> (Vec<Endpoint>, Steered) {
    let mut servers = servers(2, syn_backlog);
    let mut client = Endpoint::new(EndpointConfig {
        seed: 7,
        ..EndpointConfig::default()
    });
    client.add_address(ip(CLIENT), 1500);
    client.add_address(ip(CLIENT2), 1500);
    let remote = SocketAddr::new(ip(SERVER), 80);
    let mut seen = Steered::default();
    let mut now = Instant::ZERO;
    let mut conns = Vec::new();
    for round in 0..300 {
        if round < 40 {
            conns.push(client.connect(now, ip(CLIENT), remote).expect("connect"));
        }
        // A few bytes each way make the client's side fully established
        // (the server's DSS), after which it opens its join.
        for &h in &conns {
            let _ = client.write(h, b"hello");
        }
        pump(now, &mut client, &mut servers, &mut seen);
        now += mptcp_proto::time::Duration::from_millis(5);
        client.handle_timeout(now);
        for s in servers.iter_mut() {
            s.handle_timeout(now);
        }
    }
    (servers, seen)
}

fn check(servers: &[Endpoint], seen: &Steered) {
    let mut conns = 0;
    for (i, s) in servers.iter().enumerate() {
        let mib = s.mib_total();
        assert_eq!(mib.get(Mib::MPJoinNoTokenFound), 0, "server {i}: {mib:?}");
        let joins = s.mib_total().get(Mib::MPJoinAckRx);
        let accepted = s.mib_total().get(Mib::MPCapablePassive);
        assert_eq!(joins, accepted, "server {i}: every connection joined here");
        assert!(accepted >= 10, "server {i} took {accepted} connections");
        conns += accepted;
    }
    assert_eq!(conns, 40);
    // The port hash sends about half the joins to the other endpoint.
    assert!(seen.to_owner >= 5, "{} joins steered", seen.to_owner);
    // Their later segments, queued by the same hash, were found elsewhere.
    assert!(
        seen.elsewhere >= seen.to_owner,
        "{} found elsewhere",
        seen.elsewhere
    );
}

#[test]
fn joins_reach_the_endpoint_of_their_tokens_shard() {
    let (mut servers, seen) = run(128);
    check(&servers, &seen);
    // Every token in the table is in the shard of the endpoint that owns it.
    let table = servers[0].tokens().clone();
    assert!(table.len() >= 40);
    for (i, s) in servers.iter_mut().enumerate() {
        let shard = Shard::new(i as u32, 2).unwrap();
        while let Some(h) = s.accept() {
            let info = s.connection(h).unwrap().info();
            let token = info.mptcp.expect("MPTCP").local.token;
            assert!(
                shard.contains(token),
                "server {i}: token {token} not in its shard"
            );
            assert_eq!(table.lookup(token).map(|o| o.shard), Some(i as u32));
        }
    }
}

#[test]
fn syn_cookie_keys_outside_the_shard_are_steered_by_the_table() {
    // No half-open room: every SYN is answered with a cookie, and the key
    // derived from it need not fall in the endpoint's shard.
    let (mut servers, seen) = run(0);
    assert!(
        servers.iter().all(|s| s.stats().syn_cookies_sent > 0),
        "cookies were used"
    );
    check(&servers, &seen);
    // Some of those keys' tokens name the other shard: only the table
    // could route their joins.
    let mut outside = 0;
    for (i, s) in servers.iter_mut().enumerate() {
        let shard = Shard::new(i as u32, 2).unwrap();
        while let Some(h) = s.accept() {
            let token = s
                .connection(h)
                .unwrap()
                .info()
                .mptcp
                .expect("MPTCP")
                .local
                .token;
            outside += usize::from(!shard.contains(token));
        }
    }
    assert!(outside > 0, "every cookie key fell in its shard");
}
