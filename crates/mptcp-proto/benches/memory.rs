//! Heap per idle established connection, with one subflow and with two:
//! `N` clients connect to one server endpoint over an ideal wire, every
//! connection (and its join) completes, one byte goes each way, the
//! connections stay idle for 2 s, and the heap each side holds is
//! measured (dhat), then divided by `N`.
//!
//! `cargo bench -p mptcp-proto --bench memory` (`-- --count N` for another
//! number of connections; the default is 100,000).

use mptcp_proto::endpoint::{Endpoint, EndpointConfig, Event};
use mptcp_proto::time::{Duration, Instant};
use std::net::{IpAddr, SocketAddr};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Bytes allocated and not freed.
fn heap() -> usize {
    dhat::HeapStats::get().curr_bytes
}

const CLIENT: &str = "192.0.2.1";
const CLIENT2: &str = "192.0.2.3";
const SERVER: &str = "192.0.2.2";

/// Connections per server port.
const PER_PORT: usize = 20_000;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// Moves every packet each way until neither side has one, `rounds`
/// milliseconds of timers in between.
fn exchange(now: &mut Instant, a: &mut Endpoint, b: &mut Endpoint, rounds: u32) {
    let mut buf = vec![0u8; 2048];
    for _ in 0..rounds {
        loop {
            let mut moved = false;
            while let Some(t) = a.poll_transmit(*now, &mut buf) {
                b.handle(*now, &buf[..t.len]);
                moved = true;
            }
            while let Some(t) = b.poll_transmit(*now, &mut buf) {
                a.handle(*now, &buf[..t.len]);
                moved = true;
            }
            while b.accept().is_some() {}
            while a.poll_event().is_some() {}
            while let Some(ev) = b.poll_event() {
                if let Event::Incoming(_) = ev {
                    while b.accept().is_some() {}
                }
            }
            if !moved {
                break;
            }
        }
        *now += Duration::from_millis(1);
        a.handle_timeout(*now);
        b.handle_timeout(*now);
    }
}

struct Row {
    subflows: usize,
    client: usize,
    server: usize,
    live_client: usize,
    live_server: usize,
}

fn measure(count: usize, two_paths: bool) -> Row {
    let base = heap();
    let mut server = Endpoint::new(EndpointConfig {
        seed: 2,
        ..EndpointConfig::default()
    });
    server.add_address(ip(SERVER), 1500);
    // A client address has only so many ports towards one server port.
    let ports = count.div_ceil(PER_PORT);
    for p in 0..ports {
        server.listen(80 + p as u16);
    }
    let server_empty = heap() - base;
    let mut client = Endpoint::new(EndpointConfig {
        seed: 1,
        ..EndpointConfig::default()
    });
    client.add_address(ip(CLIENT), 1500);
    if two_paths {
        client.add_address(ip(CLIENT2), 1500);
    }
    let mut now = Instant::ZERO;
    let mut handles = Vec::with_capacity(count);
    // In batches within the server's backlog, each accepted before the next.
    for start in (0..count).step_by(256) {
        for i in start..(start + 256).min(count) {
            let port = 80 + (i / PER_PORT) as u16;
            let h = client
                .connect(now, ip(CLIENT), SocketAddr::new(ip(SERVER), port))
                .expect("connect");
            handles.push(h);
        }
        exchange(&mut now, &mut client, &mut server, 2);
    }
    // One byte each way makes each connection fully established at both
    // ends (the client opens its join then), read at once.
    for &h in &handles {
        client.write(h, b"x").expect("write");
    }
    exchange(&mut now, &mut client, &mut server, 2);
    let accepted: Vec<_> = server.connections().collect();
    let mut byte = [0u8; 16];
    for &h in &accepted {
        server.write(h, b"y").expect("write");
        let _ = server.read(h, &mut byte);
    }
    exchange(&mut now, &mut client, &mut server, 2);
    for &h in &handles {
        let _ = client.read(h, &mut byte);
    }
    // Joins, fourth ACKs.
    exchange(&mut now, &mut client, &mut server, 200);
    // Idle long enough for the buffers to be let go (`TRIM_AFTER`, 1 s).
    now += Duration::from_secs(2);
    client.handle_timeout(now);
    server.handle_timeout(now);
    exchange(&mut now, &mut client, &mut server, 2);
    let both = heap() - base;
    let (live_client, live_server) = (client.connection_count(), server.connection_count());
    let subflows: usize = server
        .connections()
        .filter_map(|h| server.connection(h))
        .map(|c| c.subflows().count())
        .sum();
    drop(handles);
    drop(client);
    let server_only = heap() - base - server_empty;
    Row {
        subflows,
        client: both - server_only - server_empty,
        server: server_only,
        live_client,
        live_server,
    }
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let args: Vec<String> = std::env::args().collect();
    let count = args
        .iter()
        .position(|a| a == "--count")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000usize);
    println!("idle established connections: {count} per row (heap per connection, dhat)");
    println!(
        "| subflows per connection | client B/conn | server B/conn | connections (client/server) |"
    );
    println!("|---|---|---|---|");
    for two in [false, true] {
        let r = measure(count, two);
        println!(
            "| {} | {} | {} | {}/{} |",
            r.subflows as f64 / r.live_server.max(1) as f64,
            r.client / count,
            r.server / count,
            r.live_client,
            r.live_server
        );
    }
}
