//! What the driver task and the application's handles share: the endpoint
//! behind one lock, the wakers of tasks waiting on connections, and a
//! notification that wakes the driver after an application call.

use crate::device::Counters as DeviceCounters;
use mptcp_proto::connection::{ConnState, ConnectionError, ConnectionHandle};
use mptcp_proto::endpoint::{Endpoint, Event};
use mptcp_proto::pm::PmEvent;
use mptcp_proto::time::Instant as EngineInstant;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use tokio::sync::Notify;

/// The engine's clock: microseconds since the stack started.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    epoch: tokio::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            epoch: tokio::time::Instant::now(),
        }
    }

    /// Now, for the engine.
    pub(crate) fn now(&self) -> EngineInstant {
        EngineInstant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    /// An engine deadline on tokio's clock.
    pub(crate) fn to_tokio(self, t: EngineInstant) -> tokio::time::Instant {
        self.epoch + std::time::Duration::from_micros(t.as_micros())
    }
}

/// A connection the application holds.
#[derive(Debug, Default)]
pub(crate) struct ConnSlot {
    /// Distinguishes this connection from a later one that reuses the
    /// engine's handle.
    pub(crate) id: u64,
    pub(crate) reader: Option<Waker>,
    pub(crate) writer: Option<Waker>,
    /// `connect` or `closed()` waiting.
    pub(crate) waiter: Option<Waker>,
    pub(crate) connected: bool,
    /// The connection ended (`Some(None)`: gracefully).
    pub(crate) closed: Option<Option<ConnectionError>>,
}

/// A listening port.
#[derive(Debug, Default)]
pub(crate) struct ListenSlot {
    pub(crate) queue: VecDeque<ConnectionHandle>,
    pub(crate) waker: Option<Waker>,
}

/// Everything behind the lock.
pub(crate) struct State {
    pub(crate) ep: Endpoint,
    pub(crate) clock: Clock,
    pub(crate) conns: HashMap<ConnectionHandle, ConnSlot>,
    pub(crate) listeners: HashMap<u16, ListenSlot>,
    next_id: u64,
    /// Wakers to call once the lock is released.
    pub(crate) to_wake: Vec<Waker>,
    /// The driver is gone (it panicked): nothing moves any more, so every
    /// connection, old or new, ends with an error instead of waiting.
    stopped: bool,
    /// Where path-manager events go (see [`crate::Stack::pm_events`]).
    pub(crate) pm_events: Option<tokio::sync::mpsc::UnboundedSender<PmEvent>>,
}

impl State {
    pub(crate) fn new(ep: Endpoint) -> State {
        State {
            ep,
            clock: Clock::new(),
            conns: HashMap::new(),
            listeners: HashMap::new(),
            next_id: 1,
            to_wake: Vec::new(),
            stopped: false,
            pm_events: None,
        }
    }

    /// The driver stopped: abort what the application waits on (data
    /// already received stays readable first) and close the listeners.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
        for s in self.conns.values_mut() {
            s.closed.get_or_insert(Some(ConnectionError::Aborted));
            self.to_wake.extend(
                [s.reader.take(), s.writer.take(), s.waiter.take()]
                    .into_iter()
                    .flatten(),
            );
        }
        for (_, l) in self.listeners.drain() {
            self.to_wake.extend(l.waker);
        }
    }

    /// Whether the driver stopped.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Start tracking a connection the application now holds.
    /// An accepted connection may have ended before it was taken; its
    /// events went by, so its state is read from the engine.
    pub(crate) fn adopt(&mut self, h: ConnectionHandle, connected: bool) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let closed = match self.ep.connection(h).map(|c| c.state()) {
            _ if self.stopped => Some(Some(ConnectionError::Aborted)),
            Some(ConnState::Closed(e)) => Some(e),
            _ => None,
        };
        self.conns.insert(
            h,
            ConnSlot {
                id,
                connected,
                closed,
                ..ConnSlot::default()
            },
        );
        id
    }

    /// The slot of connection `h` if it is still the one with `id`.
    pub(crate) fn slot(&mut self, h: ConnectionHandle, id: u64) -> Option<&mut ConnSlot> {
        self.conns.get_mut(&h).filter(|s| s.id == id)
    }

    /// Deliver the engine's events to the tasks waiting on them.
    pub(crate) fn dispatch_events(&mut self) {
        while let Some(ev) = self.ep.poll_event() {
            match ev {
                Event::Incoming(_) => self.take_incoming(),
                Event::Connected(h) => {
                    if let Some(s) = self.conns.get_mut(&h) {
                        s.connected = true;
                        self.to_wake.extend(s.waiter.take());
                    }
                }
                Event::Readable(h) | Event::PeerClosed(h) => {
                    if let Some(s) = self.conns.get_mut(&h) {
                        self.to_wake.extend(s.reader.take());
                    }
                }
                Event::Writable(h) => {
                    if let Some(s) = self.conns.get_mut(&h) {
                        self.to_wake.extend(s.writer.take());
                    }
                }
                Event::Pm(_, ev) => {
                    // Nobody listening any more: the events are dropped.
                    if let Some(tx) = &self.pm_events
                        && tx.send(ev).is_err()
                    {
                        self.pm_events = None;
                    }
                }
                Event::Closed(h, err) => {
                    if let Some(s) = self.conns.get_mut(&h) {
                        s.closed = Some(err);
                        self.to_wake.extend(
                            [s.reader.take(), s.writer.take(), s.waiter.take()]
                                .into_iter()
                                .flatten(),
                        );
                    }
                }
            }
        }
    }

    /// Hand connections whose handshake completed to their listener, by
    /// local port; those for a port nobody listens on any more are reset.
    fn take_incoming(&mut self) {
        while let Some(h) = self.ep.accept() {
            let port = self
                .ep
                .connection(h)
                .and_then(|c| c.subflows().next().map(|s| s.tuple().local.port()));
            match port.and_then(|p| self.listeners.get_mut(&p)) {
                Some(l) => {
                    l.queue.push_back(h);
                    self.to_wake.extend(l.waker.take());
                }
                None => {
                    let _ = self.ep.abort(h);
                }
            }
        }
    }
}

/// What a call gets once the driver is gone.
pub(crate) fn driver_stopped() -> std::io::Error {
    std::io::Error::other("the stack's driver stopped (it panicked); see the log")
}

/// How often the runtime woke up, since the stack was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Rounds of the driver task: each follows a wakeup (packets, a
    /// deadline or an application call).
    pub rounds: u64,
    /// Application tasks woken by the driver or by another application
    /// call (a reader, a writer, a task waiting for a connection).
    pub app_wakeups: u64,
    /// With several workers: MP_JOIN SYNs a worker's queue received for a
    /// connection of another worker, handed to that one by token.
    pub joins_handed_over: u64,
    /// With several workers: segments of a 4-tuple the receiving worker
    /// did not know, passed on to the next worker.
    pub segments_passed_on: u64,
}

impl std::ops::AddAssign for DriverStats {
    fn add_assign(&mut self, o: DriverStats) {
        self.rounds += o.rounds;
        self.app_wakeups += o.app_wakeups;
        self.joins_handed_over += o.joins_handed_over;
        self.segments_passed_on += o.segments_passed_on;
    }
}

/// A packet one worker hands to another (see [`crate::driver`]).
#[derive(Debug)]
pub(crate) struct Handoff {
    pub(crate) packet: Vec<u8>,
    /// The path's device it came in on (same order in every worker).
    pub(crate) dev: usize,
    /// The kernel vouched for its TCP checksum.
    pub(crate) verified: bool,
    /// Workers it went through before this one.
    pub(crate) hops: u8,
}

/// The receiving end of a worker's hand-over channel.
pub(crate) type Inbox = tokio::sync::mpsc::UnboundedReceiver<Handoff>;

/// The shared part of a stack.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the driver after an application call changed something.
    pub(crate) notify: Notify,
    /// Wakes every task waiting for a new state of a connection
    /// ([`MptcpStream::wait_info`](crate::MptcpStream::wait_info)) after
    /// each round of the driver.
    pub(crate) rounds: Notify,
    /// Application handles alive (stacks, streams, listeners); the driver
    /// stops when none is left and no connection lingers.
    handles: AtomicUsize,
    /// Rounds the driver ran (each one a wakeup of its task).
    pub(crate) rounds_run: AtomicU64,
    /// Application tasks woken (readers, writers, connect and accept).
    app_wakeups: AtomicU64,
    pub(crate) devices: Vec<(crate::PathConfig, Arc<DeviceCounters>)>,
    /// Where other workers hand this one its packets.
    inbox: tokio::sync::mpsc::UnboundedSender<Handoff>,
    pub(crate) joins_handed_over: AtomicU64,
    pub(crate) segments_passed_on: AtomicU64,
}

impl Shared {
    /// The shared part of one worker, and the inbox its driver reads.
    pub(crate) fn new(
        state: State,
        devices: Vec<(crate::PathConfig, Arc<DeviceCounters>)>,
    ) -> (Arc<Shared>, Inbox) {
        let (inbox, rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            notify: Notify::new(),
            rounds: Notify::new(),
            handles: AtomicUsize::new(0),
            rounds_run: AtomicU64::new(0),
            app_wakeups: AtomicU64::new(0),
            devices,
            inbox,
            joins_handed_over: AtomicU64::new(0),
            segments_passed_on: AtomicU64::new(0),
        });
        (shared, rx)
    }

    /// Give this worker a packet another worker read; false if its driver
    /// is gone.
    pub(crate) fn hand(&self, h: Handoff) -> bool {
        let ok = self.inbox.send(h).is_ok();
        if ok {
            self.kick();
        }
        ok
    }

    /// Lock the state. A panic while it was held cannot leave the engine
    /// half-updated in a way that matters more than the panic itself, so a
    /// poisoned lock is taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Release the lock, then wake whoever the last calls made ready.
    pub(crate) fn unlock(&self, mut st: MutexGuard<'_, State>) {
        let wakers = std::mem::take(&mut st.to_wake);
        drop(st);
        if !wakers.is_empty() {
            self.app_wakeups
                .fetch_add(wakers.len() as u64, Ordering::Relaxed);
        }
        for w in wakers {
            w.wake();
        }
    }

    /// An application call changed the engine: let the driver send.
    pub(crate) fn kick(&self) {
        self.notify.notify_one();
    }

    pub(crate) fn handle_opened(&self) {
        self.handles.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn handle_closed(&self) {
        self.handles.fetch_sub(1, Ordering::AcqRel);
        self.kick();
    }

    pub(crate) fn handles(&self) -> usize {
        self.handles.load(Ordering::Acquire)
    }

    pub(crate) fn driver_stats(&self) -> DriverStats {
        DriverStats {
            rounds: self.rounds_run.load(Ordering::Relaxed),
            app_wakeups: self.app_wakeups.load(Ordering::Relaxed),
            joins_handed_over: self.joins_handed_over.load(Ordering::Relaxed),
            segments_passed_on: self.segments_passed_on.load(Ordering::Relaxed),
        }
    }
}
