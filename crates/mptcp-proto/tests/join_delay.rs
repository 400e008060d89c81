//! A subflow we joined carries data only `MptcpConfig::join_data_delay`
//! after its handshake completed (the peer's ACK of our third ACK), and
//! then at once: a Linux peer may put data that reaches a subflow it has
//! not linked into its connection yet in the wrong place
//! (`docs/interop.md`).

mod support;

use mptcp_proto::time::{Duration, Instant};
use mptcp_wire::IpPacket;
use std::cell::RefCell;
use std::rc::Rc;
use support::{CLIENT, CLIENT2, Dir, Net, ip, pattern};

/// One-way delay of the harness's wire.
const DELAY: Duration = Duration::from_millis(2);

/// When the server's ACK of our join's third ACK reached the client, and
/// when the client first sent data on the join.
fn join_timeline(hold: Duration) -> (Instant, Instant) {
    let mut n = Net::new(true, move |_, c| c.connection.mptcp.join_data_delay = hold);
    n.delay = DELAY;
    let h = n.conn();
    let seen: Rc<RefCell<(Option<Instant>, Option<Instant>)>> = Rc::default();
    let log = seen.clone();
    n.tamper = Box::new(move |now, dir, pkt| {
        let Ok(packet) = IpPacket::parse(pkt) else {
            return true;
        };
        let Ok(tcp) = packet.tcp() else { return true };
        let mut log = log.borrow_mut();
        // Once the join is up, the first path goes silent: only the hold's
        // own deadline can wake the connection when it ends.
        let first_path = packet.src() == ip(CLIENT) || packet.dst() == ip(CLIENT);
        if log.0.is_some() && first_path {
            return false;
        }
        match dir {
            Dir::ToClient if packet.dst() == ip(CLIENT2) && !tcp.flags().syn() => {
                log.0.get_or_insert(now + DELAY);
            }
            Dir::ToServer if packet.src() == ip(CLIENT2) && !tcp.payload().is_empty() => {
                log.1.get_or_insert(now);
            }
            _ => {}
        }
        true
    });
    // Deadline to deadline: no tick wakes the connection early. The data
    // is all written at once (the send buffer takes it) once the
    // connection is open.
    let data = pattern(3, 4 << 20);
    let mut written = 0;
    while n.step() && seen.borrow().1.is_none() {
        if written < data.len() {
            written += n.client.write(h, &data[written..]).unwrap_or(0);
        }
    }
    let (joined, data) = *seen.borrow();
    (
        joined.expect("the join completed"),
        data.expect("the join carried data"),
    )
}

#[test]
fn a_join_waits_its_delay_before_it_carries_data() {
    let hold = Duration::from_millis(20);
    let (joined, data) = join_timeline(hold);
    let waited = data.saturating_duration_since(joined);
    assert!(
        waited >= hold && waited <= hold + Duration::from_millis(1),
        "first data {} ms after the join",
        waited.as_micros() as f64 / 1000.0
    );
}

#[test]
fn without_a_delay_a_join_carries_data_at_once() {
    let (joined, data) = join_timeline(Duration::ZERO);
    let waited = data.saturating_duration_since(joined);
    assert!(
        waited <= Duration::from_millis(1),
        "first data {} ms after the join",
        waited.as_micros() as f64 / 1000.0
    );
}
