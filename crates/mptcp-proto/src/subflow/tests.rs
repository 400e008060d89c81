//! Two subflows in virtual time over a lossy, delaying wire (the packets
//! on the way are the crate's test harness's, `tests/support`).

use super::*;
use crate::segment::MptcpOptionList;
use crate::time::Duration;
use mptcp_wire::{IpPacket, TcpFlags};

use crate::test_support as support;
use support::{Dir, Flight};

/// A plain-TCP owner: a bounded receive buffer the test drains by hand.
#[derive(Default)]
struct Plain {
    rx: Vec<u8>,
    capacity: u64,
    consumed: u64,
    /// Say that data segments may not leave (as an MPTCP owner does when a
    /// mapping does not fit).
    refuse_data: bool,
}

impl SubflowOwner for Plain {
    fn receive_space(&self, _view: &SubflowView) -> u64 {
        self.capacity - (self.rx.len() as u64 - self.consumed)
    }
    fn options_for(
        &mut self,
        _: &SubflowView,
        seg: &SegmentMeta,
        _: usize,
        _: &mut MptcpOptionList,
    ) -> bool {
        !(self.refuse_data && seg.payload_len > 0)
    }
    fn on_segment(&mut self, _: &SubflowView, _: &SegmentIn<'_>) -> InputVerdict {
        InputVerdict::Accept
    }
    fn on_data(&mut self, _: &SubflowView, _: SubflowSeq, data: &[u8]) -> bool {
        self.rx.extend_from_slice(data);
        false
    }
}

struct Side {
    sf: Option<Subflow>,
    owner: Plain,
    /// Bytes the application still wants to send.
    tx: Vec<u8>,
    tx_off: usize,
    close_when_sent: bool,
    /// Whether the application reads what arrives.
    reading: bool,
    events: Vec<SubflowEvent>,
}

impl Side {
    fn new(capacity: u64) -> Side {
        Side {
            sf: None,
            owner: Plain {
                capacity,
                ..Plain::default()
            },
            tx: Vec::new(),
            tx_off: 0,
            close_when_sent: false,
            reading: true,
            events: Vec::new(),
        }
    }
}

type DropFn = Box<dyn FnMut(bool, &SegmentIn<'_>, usize) -> bool>;
/// Extra delay for one packet, and the delay of a copy of it, if any:
/// (to_server, segment, index).
type ShapeFn = Box<dyn FnMut(bool, &SegmentIn<'_>, usize) -> (Duration, Option<Duration>)>;

struct Wire {
    now: Instant,
    delay: Duration,
    flight: Flight,
    client: Side,
    server: Side,
    /// Decides whether to drop a packet: (to_server, segment, index).
    drop: DropFn,
    /// Reorders (delays) and duplicates packets that are not dropped.
    shape: ShapeFn,
    sent: usize,
    cfg: SubflowConfig,
}

fn addr(s: &str) -> std::net::SocketAddr {
    s.parse().expect("address")
}

impl Wire {
    fn new(delay_ms: u64, capacity: u64) -> Wire {
        let cfg = SubflowConfig::default();
        let tuple = FourTuple {
            local: addr("10.0.0.1:40000"),
            remote: addr("10.0.0.2:80"),
        };
        let mut client = Side::new(capacity);
        client.sf = Some(Subflow::connect(
            SubflowId(1),
            tuple,
            SubflowSeq(0xffff_fff0),
            cfg,
        ));
        Wire {
            now: Instant::ZERO,
            delay: Duration::from_millis(delay_ms),
            flight: Flight::default(),
            client,
            server: Side::new(capacity),
            drop: Box::new(|_, _, _| false),
            shape: Box::new(|_, _, _| (Duration::ZERO, None)),
            sent: 0,
            cfg,
        }
    }

    fn transmit(&mut self) {
        let mut buf = [0u8; 1600];
        for to_server in [true, false] {
            let side = if to_server {
                &mut self.client
            } else {
                &mut self.server
            };
            let Some(sf) = side.sf.as_mut() else { continue };
            while side.tx_off < side.tx.len() && sf.send_space() > 0 {
                let n = (sf.send_mss() as u64).min(sf.send_space()) as usize;
                let end = (side.tx_off + n).min(side.tx.len());
                sf.push(
                    Bytes::copy_from_slice(&side.tx[side.tx_off..end]),
                    None,
                    None,
                );
                side.tx_off = end;
            }
            sf.set_send_pending(side.tx_off < side.tx.len());
            if side.close_when_sent && side.tx_off == side.tx.len() {
                side.close_when_sent = false;
                sf.close();
            }
            while let Some(len) = sf.poll_transmit(self.now, &mut side.owner, &mut buf) {
                let pkt = buf[..len].to_vec();
                let ip = IpPacket::parse(&pkt).expect("own packet parses");
                let tcp = ip.tcp().expect("tcp");
                assert!(tcp.verify_checksum(ip.src(), ip.dst()), "checksum");
                let seg = SegmentIn::from_tcp(&tcp);
                assert_eq!(seg.malformed_options, 0);
                let idx = self.sent;
                self.sent += 1;
                if !(self.drop)(to_server, &seg, idx) {
                    let (extra, copy) = (self.shape)(to_server, &seg, idx);
                    let dir = if to_server {
                        Dir::ToServer
                    } else {
                        Dir::ToClient
                    };
                    if let Some(d) = copy {
                        let at = self.now + self.delay + d;
                        self.flight.push(at, dir, pkt.clone());
                    }
                    self.flight.push(self.now + self.delay + extra, dir, pkt);
                }
            }
            while let Some(ev) = sf.poll_event() {
                side.events.push(ev);
            }
        }
    }

    fn deliver(&mut self, to_server: bool, pkt: &[u8]) {
        let ip = IpPacket::parse(pkt).expect("ip");
        let tcp = ip.tcp().expect("tcp");
        let seg = SegmentIn::from_tcp(&tcp);
        let side = if to_server {
            &mut self.server
        } else {
            &mut self.client
        };
        if side.sf.is_none() && to_server && seg.has(TcpFlags::SYN) && !seg.has(TcpFlags::ACK) {
            let tuple = FourTuple {
                local: std::net::SocketAddr::new(ip.dst(), tcp.dst_port()),
                remote: std::net::SocketAddr::new(ip.src(), tcp.src_port()),
            };
            side.sf = Some(Subflow::accept(
                SubflowId(1),
                tuple,
                SubflowSeq(7),
                self.cfg,
                &seg,
            ));
            return;
        }
        if let Some(sf) = side.sf.as_mut() {
            sf.handle_segment(self.now, &seg, &mut side.owner, &[]);
            if side.reading {
                side.owner.consumed = side.owner.rx.len() as u64;
                let space = side.owner.receive_space(&sf.view());
                sf.on_receive_space(space);
            }
        }
    }

    /// Advance to the next event; false when nothing is left to do.
    fn step(&mut self) -> bool {
        self.transmit();
        let next_pkt = self.flight.next_arrival();
        let timers = [&self.client, &self.server]
            .iter()
            .filter_map(|s| s.sf.as_ref().and_then(|sf| sf.poll_timeout()))
            .min();
        let Some(next) = [next_pkt, timers].into_iter().flatten().min() else {
            return false;
        };
        self.now = next;
        for (dir, pkt) in self.flight.take_due(self.now) {
            self.deliver(dir == Dir::ToServer, &pkt);
        }
        for side in [&mut self.client, &mut self.server] {
            if let Some(sf) = side.sf.as_mut() {
                sf.handle_timeout(self.now, &[]);
                while let Some(ev) = sf.poll_event() {
                    side.events.push(ev);
                }
            }
        }
        true
    }

    fn run_until(&mut self, limit: Instant, mut done: impl FnMut(&Wire) -> bool) {
        while self.now < limit && !done(self) {
            if !self.step() {
                break;
            }
        }
    }

    fn client(&self) -> &Subflow {
        self.client.sf.as_ref().expect("client")
    }

    fn server(&self) -> &Subflow {
        self.server.sf.as_ref().expect("server")
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn secs(s: u64) -> Instant {
    Instant::from_micros(s * 1_000_000)
}

impl Wire {
    /// A wire (10 ms each way, 1 MiB windows) on which both subflows are
    /// established and, if `quiet`, nothing is in flight any more.
    fn established(quiet: bool) -> Wire {
        let mut w = Wire::new(10, 1 << 20);
        w.run_until(secs(1), |w| {
            w.server
                .sf
                .as_ref()
                .is_some_and(|s| s.state() == TcpState::Established)
                && (!quiet || w.flight.is_empty())
        });
        w
    }
}

/// A segment without options, handed to a subflow directly.
fn bare(
    seq: SubflowSeq,
    ack: SubflowSeq,
    flags: TcpFlags,
    window: u16,
    payload: &[u8],
) -> SegmentIn<'_> {
    SegmentIn::bare(seq, ack, flags, window, payload)
}

#[test]
fn handshake_negotiates_options() {
    let w = Wire::established(false);
    let (c, s) = (w.client(), w.server());
    assert_eq!(c.state(), TcpState::Established);
    assert_eq!(s.state(), TcpState::Established);
    assert!(c.handshake.sack && s.handshake.sack);
    assert!(c.ts.enabled && s.ts.enabled);
    assert_eq!(c.snd.peer_mss, 1460);
    assert_eq!(c.send_mss(), 1448);
    // 16 MiB max window: shift 9 announced by both.
    assert_eq!(c.snd.wscale, 9);
    assert_eq!(s.snd.wscale, 9);
    assert_eq!(c.events.len(), 0, "events are drained by the harness");
    assert_eq!(w.client.events, vec![SubflowEvent::Established]);
    // The handshake gives an RTT sample: 20 ms.
    assert_eq!(c.rtt().srtt(), Some(Duration::from_millis(20)));
}

#[test]
fn bulk_transfer_arrives_intact_and_closes() {
    let mut w = Wire::new(5, 1 << 20);
    let data = pattern(2_000_000);
    w.client.tx = data.clone();
    w.client.close_when_sent = true;
    w.run_until(secs(30), |w| {
        w.server.events.contains(&SubflowEvent::PeerFin)
    });
    assert_eq!(w.server.owner.rx.len(), data.len());
    assert!(w.server.owner.rx == data);
    assert_eq!(w.client().stats().retransmits, 0);
    // The server closes too; both ends finish (client via TIME-WAIT).
    w.server.sf.as_mut().expect("server").close();
    w.run_until(secs(200), |w| {
        w.client
            .events
            .contains(&SubflowEvent::Closed(CloseReason::Normal))
            && w.server
                .events
                .contains(&SubflowEvent::Closed(CloseReason::Normal))
    });
    assert_eq!(w.server().state(), TcpState::Closed);
    assert_eq!(w.client().state(), TcpState::Closed);
}

#[test]
fn a_segment_the_owner_refuses_never_leaves_and_the_subflow_resets() {
    let mut w = Wire::new(5, 1 << 20);
    w.client.tx = pattern(10_000);
    w.client.owner.refuse_data = true;
    let data_seen = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let rst_seen = std::rc::Rc::new(std::cell::Cell::new(false));
    let (d, r) = (data_seen.clone(), rst_seen.clone());
    w.drop = Box::new(move |to_server, seg, _| {
        if to_server {
            d.set(d.get() + seg.payload.len());
            r.set(r.get() || seg.has(TcpFlags::RST));
        }
        false
    });
    w.run_until(secs(5), |w| w.client().state() == TcpState::Closed);
    assert_eq!(data_seen.get(), 0, "no payload left the client");
    assert!(rst_seen.get(), "the client reset instead");
    assert_eq!(w.client().stats().withheld_segments, 1);
    assert!(
        w.client
            .events
            .contains(&SubflowEvent::Closed(CloseReason::Aborted))
    );
}

#[test]
fn single_loss_recovered_by_sack_without_rto() {
    let mut w = Wire::new(10, 1 << 20);
    let data = pattern(500_000);
    w.client.tx = data.clone();
    let mut dropped = false;
    w.drop = Box::new(move |to_server, seg, _| {
        // Drop the 100th data segment once.
        if to_server && !dropped && seg.seq.0 == 0xffff_fff1u32.wrapping_add(100 * 1448) {
            dropped = true;
            return true;
        }
        false
    });
    w.run_until(secs(30), |w| w.server.owner.rx.len() == data.len());
    assert!(w.server.owner.rx == data);
    let st = w.client().stats();
    assert_eq!(st.retransmits, 1, "{st:?}");
    assert_eq!(st.rto_expirations, 0);
    assert_eq!(st.fast_recoveries, 1);
    assert!(w.server().stats().ofo_segments > 0);
}

#[test]
fn blackout_recovers_through_rto_backoff() {
    let mut w = Wire::new(10, 1 << 20);
    let data = pattern(300_000);
    w.client.tx = data.clone();
    // Everything in either direction is lost between 0.2 s and 2.5 s.
    let clock = std::rc::Rc::new(std::cell::Cell::new(Instant::ZERO));
    let seen = clock.clone();
    w.drop = Box::new(move |_, _, _| {
        let t = seen.get();
        t >= Instant::from_micros(200_000) && t < Instant::from_micros(2_500_000)
    });
    while w.now < secs(60) && w.server.owner.rx.len() < data.len() {
        clock.set(w.now);
        if !w.step() {
            break;
        }
    }
    assert!(w.server.owner.rx == data);
    let st = w.client().stats();
    assert!(st.rto_expirations >= 2, "{st:?}");
    assert_eq!(w.client().state(), TcpState::Established);
}

#[test]
fn zero_window_is_probed_until_the_reader_resumes() {
    let mut w = Wire::new(10, 64 * 1024);
    let data = pattern(300_000);
    w.client.tx = data.clone();
    w.server.reading = false;
    w.run_until(secs(5), |_| false);
    // Only a window's worth arrived (less what the 512-byte granularity of
    // window scale 9 cannot express); the sender probes the zero window.
    let got = w.server.owner.rx.len();
    assert!((64 * 1024 - 512..=64 * 1024).contains(&got), "{got}");
    assert!(w.client().stats().window_probes >= 2);
    assert_eq!(w.client().state(), TcpState::Established);
    w.server.reading = true;
    w.server.owner.consumed = w.server.owner.rx.len() as u64;
    let sf = w.server.sf.as_mut().expect("server");
    let space = w.server.owner.receive_space(&sf.view());
    sf.on_receive_space(space);
    w.run_until(secs(60), |w| w.server.owner.rx.len() == data.len());
    assert!(w.server.owner.rx == data);
}

#[test]
fn reset_needs_the_exact_sequence_number() {
    let mut w = Wire::established(false);
    let rcv_nxt = w.client().rcv.nxt;
    let sf = w.client.sf.as_mut().expect("client");
    let mut rst = bare(rcv_nxt + 100, SubflowSeq(0), TcpFlags::RST, 0, &[]);
    // In the window but not exact: a challenge ACK (RFC 5961 §3.2).
    sf.handle_segment(w.now, &rst, &mut w.client.owner, &[]);
    assert_eq!(sf.state(), TcpState::Established);
    assert_eq!(sf.stats().challenge_acks, 1);
    // Out of the window: ignored.
    rst.seq = rcv_nxt + (64 << 20);
    sf.handle_segment(w.now, &rst, &mut w.client.owner, &[]);
    assert_eq!(sf.state(), TcpState::Established);
    // Exact: reset.
    rst.seq = rcv_nxt;
    sf.handle_segment(w.now, &rst, &mut w.client.owner, &[]);
    assert_eq!(sf.state(), TcpState::Closed);
    assert_eq!(
        sf.poll_event(),
        Some(SubflowEvent::Closed(CloseReason::ResetByPeer))
    );
}

#[test]
fn abort_resets_the_peer() {
    let mut w = Wire::new(10, 1 << 20);
    w.client.tx = pattern(10_000);
    w.run_until(secs(1), |w| w.server.owner.rx.len() == 10_000);
    w.client.sf.as_mut().expect("client").abort();
    w.run_until(secs(2), |w| w.server().state() == TcpState::Closed);
    assert_eq!(
        w.server.events.last(),
        Some(&SubflowEvent::Closed(CloseReason::ResetByPeer))
    );
}

#[test]
fn syn_to_dead_peer_times_out() {
    let mut w = Wire::new(10, 1 << 20);
    w.drop = Box::new(|_, _, _| true);
    w.run_until(secs(600), |w| w.client().state() == TcpState::Closed);
    assert_eq!(
        w.client.events,
        vec![SubflowEvent::Closed(CloseReason::TimedOut)]
    );
    // 1 + 6 retries, backing off from one second to the 60 s ceiling:
    // 1 + 2 + 4 + 8 + 16 + 32 + 60 s.
    assert_eq!(w.client().handshake.sent, 7);
    assert_eq!(w.now, secs(123));
}

#[test]
fn ack_of_unsent_data_is_dropped() {
    let mut w = Wire::established(false);
    let c = w.client.sf.as_mut().expect("client");
    let una = c.snd.una;
    let seg = bare(c.rcv.nxt, una + 1_000_000, TcpFlags::ACK, 100, &[]);
    c.handle_segment(w.now, &seg, &mut w.client.owner, &[]);
    assert_eq!(c.snd.una, una);
    assert_eq!(c.stats().dropped_segments, 1);
    assert_eq!(c.ack.due, AckDue::Ack, "answered with an ACK");
}

mod dsack;
