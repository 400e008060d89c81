//! One application-level connection: a byte stream over one or more
//! subflows.
//!
//! The connection owns its subflows and a data level (send and receive
//! buffers in data sequence space). A subflow talks to the data level only
//! through [`SubflowOwner`], implemented by [`Owner`], which borrows the data
//! level and that subflow's own per-path state for the duration of a call.
//!
//! Without MPTCP (disabled, or after fallback) the data level maps one to
//! one onto the single subflow's byte stream.

pub mod recv;
pub mod send;

#[cfg(test)]
mod tests;

use crate::congestion::SubflowCcView;
use crate::segment::{MptcpOptionList, SegmentIn};
use crate::stats::Counters;
use crate::subflow::{
    CloseReason, FourTuple, InputVerdict, SegmentMeta, Subflow, SubflowConfig, SubflowEvent,
    SubflowId, SubflowOwner, SubflowView, TcpState,
};
use crate::time::Instant;
use mptcp_wire::{DataSeq, SubflowSeq};
use recv::RecvBuffer;
use send::SendBuffer;
use std::collections::VecDeque;
use std::fmt;

/// Identifies a connection within its endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub usize);

impl fmt::Display for ConnectionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn{}", self.0)
    }
}

/// Which side opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the first SYN.
    Client,
    /// We answered it.
    Server,
}

/// Why a connection ended abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionError {
    /// The peer reset it.
    Reset,
    /// The peer refused it.
    Refused,
    /// Retransmissions were exhausted.
    TimedOut,
    /// We aborted it.
    Aborted,
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectionError::Reset => "connection reset by peer",
            ConnectionError::Refused => "connection refused",
            ConnectionError::TimedOut => "connection timed out",
            ConnectionError::Aborted => "connection aborted",
        })
    }
}

impl std::error::Error for ConnectionError {}

/// What the application should know, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnEvent {
    /// The handshake completed; data may flow.
    Connected,
    /// Data is ready to read.
    Readable,
    /// Buffer space freed up for writing.
    Writable,
    /// The peer finished sending (end of stream after the readable data).
    PeerClosed,
    /// The connection is over: `None` when both sides closed gracefully.
    Closed(Option<ConnectionError>),
}

/// Buffer sizes and subflow tunables.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionConfig {
    /// Send buffer bytes.
    pub send_buffer: usize,
    /// Receive buffer bytes (the most the connection advertises).
    pub recv_buffer: usize,
    /// Tunables of each subflow.
    pub subflow: SubflowConfig,
}

impl Default for ConnectionConfig {
    fn default() -> ConnectionConfig {
        ConnectionConfig {
            send_buffer: 8 << 20,
            recv_buffer: 8 << 20,
            subflow: SubflowConfig::default(),
        }
    }
}

/// Where the connection stands, as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// The first subflow's handshake is under way.
    Handshaking,
    /// Data may flow.
    Open,
    /// Over.
    Closed(Option<ConnectionError>),
}

/// Per-subflow state kept beside the TCP machine (MPTCP's view of a path).
#[derive(Debug, Default)]
pub struct PathState {
    /// Whether this subflow's FIN has been queued.
    fin_queued: bool,
}

/// A subflow and its path state.
#[derive(Debug)]
pub struct PathEntry {
    /// The TCP machine.
    pub sf: Subflow,
    /// The MPTCP view of it.
    pub path: PathState,
}

/// The connection-level state a subflow's hooks may touch.
#[derive(Debug)]
pub struct DataLevel {
    /// Send buffer.
    pub send: SendBuffer,
    /// Receive buffer.
    pub recv: RecvBuffer,
    /// Counters named after the kernel's MIB.
    pub mib: Counters,
    events: VecDeque<ConnEvent>,
    readable_signalled: bool,
}

/// What a subflow sees of its connection during a call.
pub struct Owner<'a> {
    data: &'a mut DataLevel,
    path: &'a mut PathState,
}

impl SubflowOwner for Owner<'_> {
    fn receive_space(&self, _view: &SubflowView) -> u64 {
        self.data.recv.space()
    }

    fn options_for(
        &mut self,
        _view: &SubflowView,
        _seg: &SegmentMeta,
        _space: usize,
        _out: &mut MptcpOptionList,
    ) {
        let _ = &self.path;
    }

    fn on_segment(&mut self, _view: &SubflowView, _seg: &SegmentIn<'_>) -> InputVerdict {
        InputVerdict::Accept
    }

    fn on_data(&mut self, _view: &SubflowView, _seq: SubflowSeq, data: &[u8]) {
        // Plain TCP: the subflow delivers in order, so the data level's next
        // byte is this one.
        let at = self.data.recv.nxt();
        let (_, advanced) = self.data.recv.insert(at, data);
        if advanced && !self.data.readable_signalled {
            self.data.readable_signalled = true;
            self.data.events.push_back(ConnEvent::Readable);
        }
    }
}

/// One connection.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: ConnectionConfig,
    subflows: Vec<PathEntry>,
    data: DataLevel,
    state: ConnState,
    /// The application asked to close its sending direction.
    shutdown: bool,
    /// The application gave the connection up (no more reads or writes).
    released: bool,
    writable_wanted: bool,
    cc_scratch: Vec<SubflowCcView>,
}

impl Connection {
    /// A connection around its first subflow.
    pub fn new(role: Role, config: ConnectionConfig, first: Subflow) -> Connection {
        Connection {
            role,
            config,
            subflows: vec![PathEntry {
                sf: first,
                path: PathState::default(),
            }],
            data: DataLevel {
                send: SendBuffer::new(DataSeq(0), config.send_buffer),
                recv: RecvBuffer::new(DataSeq(0), config.recv_buffer),
                mib: Counters::default(),
                events: VecDeque::new(),
                readable_signalled: false,
            },
            state: ConnState::Handshaking,
            shutdown: false,
            released: false,
            writable_wanted: false,
            cc_scratch: Vec::new(),
        }
    }

    /// Which side we are.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The overall state.
    pub fn state(&self) -> ConnState {
        self.state
    }

    /// The subflows, in creation order.
    pub fn subflows(&self) -> impl Iterator<Item = &Subflow> {
        self.subflows.iter().map(|e| &e.sf)
    }

    /// The data level (buffers and counters).
    pub fn data(&self) -> &DataLevel {
        &self.data
    }

    /// The configuration.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// Whether the application released the connection.
    pub fn is_released(&self) -> bool {
        self.released
    }

    /// Whether nothing remains to do: closed, and every subflow closed.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, ConnState::Closed(_))
            && self
                .subflows
                .iter()
                .all(|e| e.sf.state() == TcpState::Closed)
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<ConnEvent> {
        self.data.events.pop_front()
    }

    /// Queue application data; returns how much was taken.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.shutdown || matches!(self.state, ConnState::Closed(_)) {
            return 0;
        }
        let n = self.data.send.write(data);
        if n < data.len() {
            self.writable_wanted = true;
        }
        n
    }

    /// Room in the send buffer.
    pub fn send_capacity(&self) -> usize {
        self.data.send.free()
    }

    /// Copy readable data into `buf`. Returns `Some(0)` at the end of the
    /// stream and `None` when nothing is readable yet.
    pub fn read(&mut self, buf: &mut [u8]) -> Option<usize> {
        let n = self.data.recv.read(buf);
        if n == 0 {
            self.data.readable_signalled = false;
            return self.data.recv.is_finished().then_some(0);
        }
        self.after_read();
        Some(n)
    }

    fn after_read(&mut self) {
        let space = self.data.recv.space();
        for e in &mut self.subflows {
            e.sf.on_receive_space(space);
        }
        if self.data.recv.readable() == 0 {
            self.data.readable_signalled = false;
        }
    }

    /// Close the sending direction once the buffered data is sent.
    pub fn shutdown(&mut self) {
        self.shutdown = true;
    }

    /// Give the connection up gracefully: shut down, read no more.
    pub fn close(&mut self) {
        self.shutdown = true;
        self.released = true;
    }

    /// Reset every subflow at once.
    pub fn abort(&mut self) {
        self.released = true;
        for e in &mut self.subflows {
            e.sf.abort();
        }
        self.finish(Some(ConnectionError::Aborted));
    }

    /// A segment for subflow `id`.
    pub fn handle_segment(&mut self, now: Instant, id: SubflowId, seg: &SegmentIn<'_>) {
        let Some(idx) = self.subflows.iter().position(|e| e.sf.id() == id) else {
            return;
        };
        self.fill_cc_views(idx);
        let entry = &mut self.subflows[idx];
        let mut owner = Owner {
            data: &mut self.data,
            path: &mut entry.path,
        };
        entry
            .sf
            .handle_segment(now, seg, &mut owner, &self.cc_scratch);
        self.after_subflow_activity(idx);
    }

    /// Run due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        for idx in 0..self.subflows.len() {
            if self.subflows[idx]
                .sf
                .poll_timeout()
                .is_some_and(|t| t <= now)
            {
                self.fill_cc_views(idx);
                self.subflows[idx].sf.handle_timeout(now, &self.cc_scratch);
                self.after_subflow_activity(idx);
            }
        }
    }

    /// The earliest deadline of any timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.subflows
            .iter()
            .filter_map(|e| e.sf.poll_timeout())
            .min()
    }

    /// Write the next packet due on any subflow into `buf`; returns its
    /// length and the subflow's addresses.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(usize, FourTuple)> {
        for idx in 0..self.subflows.len() {
            self.feed(idx);
            let entry = &mut self.subflows[idx];
            let mut owner = Owner {
                data: &mut self.data,
                path: &mut entry.path,
            };
            if let Some(n) = entry.sf.poll_transmit(now, &mut owner, buf) {
                let tuple = entry.sf.tuple();
                self.after_subflow_activity(idx);
                return Some((n, tuple));
            }
            self.after_subflow_activity(idx);
        }
        None
    }

    /// Hand the subflow as much new data as its windows allow (late
    /// binding), and its FIN once everything is handed over.
    fn feed(&mut self, idx: usize) {
        let entry = &mut self.subflows[idx];
        let sf = &mut entry.sf;
        let mss = sf.send_mss() as u64;
        loop {
            let unsent = self.data.send.unsent();
            let space = sf.send_space();
            if unsent == 0 || space == 0 {
                break;
            }
            // Sender-side silly window avoidance: a full segment, all that
            // is left, or something when the pipe is empty.
            if space < mss && space < unsent && sf.in_flight() > 0 {
                break;
            }
            let Some((dsn, bytes)) = self.data.send.take_new(space.min(mss) as usize) else {
                break;
            };
            sf.push(bytes, Some(dsn));
        }
        sf.set_send_pending(self.data.send.unsent() > 0);
        if self.shutdown && self.data.send.unsent() == 0 && !entry.path.fin_queued {
            entry.path.fin_queued = true;
            sf.close();
        }
    }

    fn fill_cc_views(&mut self, idx: usize) {
        self.cc_scratch.clear();
        for (i, e) in self.subflows.iter().enumerate() {
            if e.sf.state().is_synchronized() {
                self.cc_scratch.push(e.sf.cc_view(i == idx));
            }
        }
    }

    /// Plain TCP: the subflow's acknowledgments are the data level's.
    fn after_subflow_activity(&mut self, idx: usize) {
        let entry = &mut self.subflows[idx];
        let acked = DataSeq(entry.sf.stats().bytes_acked);
        if self.data.send.ack(acked) > 0 && self.writable_wanted && self.data.send.free() > 0 {
            self.writable_wanted = false;
            self.data.events.push_back(ConnEvent::Writable);
        }
        while let Some(ev) = self.subflows[idx].sf.poll_event() {
            self.on_subflow_event(idx, ev);
        }
        // Both directions are closed once the subflow lingers in TIME-WAIT.
        if self.subflows[idx].sf.state() == TcpState::TimeWait {
            self.finish(None);
        }
    }

    fn on_subflow_event(&mut self, _idx: usize, ev: SubflowEvent) {
        match ev {
            SubflowEvent::Established => {
                if self.state == ConnState::Handshaking {
                    self.state = ConnState::Open;
                    self.data.events.push_back(ConnEvent::Connected);
                }
            }
            SubflowEvent::PeerFin => {
                let at = self.data.recv.nxt();
                self.data.recv.set_fin(at);
                self.data.events.push_back(ConnEvent::PeerClosed);
            }
            SubflowEvent::Closed(reason) => {
                let err = match reason {
                    CloseReason::Normal => None,
                    CloseReason::ResetByPeer => Some(ConnectionError::Reset),
                    CloseReason::Refused => Some(ConnectionError::Refused),
                    CloseReason::TimedOut => Some(ConnectionError::TimedOut),
                    CloseReason::Aborted => Some(ConnectionError::Aborted),
                };
                self.finish(err);
            }
        }
    }

    fn finish(&mut self, err: Option<ConnectionError>) {
        if !matches!(self.state, ConnState::Closed(_)) {
            self.state = ConnState::Closed(err);
            self.data.events.push_back(ConnEvent::Closed(err));
        }
    }
}
