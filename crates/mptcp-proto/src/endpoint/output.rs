//! Packets out, and the bookkeeping after every touch of a connection:
//! events, timers, token-table changes, new subflows, removal.

use super::{Endpoint, Event, ResetPlan, TokenOwner, Transmit};
use crate::connection::{ConnEvent, ConnState, ConnectionHandle, Role};
use crate::segment::PacketBuf;
use crate::time::Instant;
use bytes::Bytes;
use mptcp_wire::{EmitError, MpTcpRst, MptcpOption, TcpFlags, TcpOption, TcpRepr, TcpRstFlags};

impl Endpoint {
    /// Write the next packet into `buf` (at least the largest MTU).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.poll_transmit_into(now, &mut PacketBuf::copying(buf))
    }

    /// The next packet as its headers, written into `buf` (at least the
    /// largest MTU; `len` counts them), and its payload by reference (a
    /// slice of the send buffer, empty for a packet without one), to be
    /// sent one after the other (gathered I/O): no copy of the payload.
    /// Interchangeable with [`Self::poll_transmit`], call after call.
    pub fn poll_transmit_gathered(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(Transmit, Bytes)> {
        let mut out = PacketBuf::gathering(buf);
        let t = self.poll_transmit_into(now, &mut out)?;
        Some((t, out.take_payload()))
    }

    /// Gathered packets as [`Self::poll_transmit_gathered`], several at a
    /// time: up to `buf.len() / slot` (`slot` at least the largest MTU),
    /// the `i`-th written at `i * slot` and listed in `out` with its
    /// length there and its payload. All are from one source to one
    /// destination (the `Transmit`, whose `len` is the first's); those of
    /// one subflow's data come out together, without a return through the
    /// connection and the endpoint for each.
    pub fn poll_transmit_batch(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        slot: usize,
        out: &mut Vec<(usize, Bytes)>,
    ) -> Option<Transmit> {
        self.poll_transmit_into(now, &mut PacketBuf::batch(buf, slot, out))
    }

    fn poll_transmit_into(&mut self, now: Instant, buf: &mut PacketBuf<'_>) -> Option<Transmit> {
        if let Some(rst) = self.resets.pop_front() {
            return match self.emit_reset(rst, buf) {
                Ok(t) => Some(t),
                Err(EmitError::BufferTooSmall { .. }) => {
                    // The caller's buffer: the reset stays first in line.
                    self.resets.push_front(rst);
                    None
                }
                Err(_) => None,
            };
        }
        while let Some(ack) = self.cookie_acks.pop_front() {
            match self.emit_cookie_syn_ack(ack, buf.whole()) {
                Ok(t) => {
                    buf.wrote_whole(t.len);
                    return Some(t);
                }
                Err(EmitError::BufferTooSmall { .. }) => {
                    // The caller's buffer: it stays first in line, as a
                    // reset does.
                    self.cookie_acks.push_front(ack);
                    return None;
                }
                // Unsendable as built (no state was kept for it): the
                // peer's SYN is answered again when it is repeated.
                Err(_) => self.stats.cookie_syn_acks_unsent += 1,
            }
        }
        while let Some(idx) = self.ready.pop_front() {
            let Some(slot) = self.conns.get_mut(idx) else {
                continue;
            };
            match slot.conn.poll_transmit_into(now, buf) {
                Some((len, tuple)) => {
                    // Round robin: back of the queue.
                    self.ready.push_back(idx);
                    self.refresh_quiet(idx, now);
                    return Some(Transmit {
                        len,
                        src: tuple.local.ip(),
                        dst: tuple.remote.ip(),
                    });
                }
                None if slot.conn.wants_larger_buffer() => {
                    // Still due: first in line for a larger buffer.
                    self.ready.push_front(idx);
                    return None;
                }
                None => {
                    slot.queued = false;
                    self.refresh_quiet(idx, now);
                }
            }
        }
        None
    }

    fn emit_reset(
        &mut self,
        rst: ResetPlan,
        buf: &mut PacketBuf<'_>,
    ) -> Result<Transmit, EmitError> {
        let flags = if rst.ack.is_some() {
            TcpFlags::RST | TcpFlags::ACK
        } else {
            TcpFlags::RST
        };
        let repr = TcpRepr {
            src_port: rst.tuple.local.port(),
            dst_port: rst.tuple.remote.port(),
            seq: rst.seq,
            ack: rst.ack.unwrap_or_default(),
            flags,
            window: 0,
            urgent: 0,
        };
        let opt = rst.reason.map(|reason| {
            TcpOption::Mptcp(MptcpOption::TcpRst(MpTcpRst {
                flags: TcpRstFlags::NONE,
                reason,
            }))
        });
        let opts: &[TcpOption<'_>] = match &opt {
            Some(o) => std::slice::from_ref(o),
            None => &[],
        };
        let offload = self.config.connection.subflow.checksum_offload;
        let (local, remote) = (rst.tuple.local, rst.tuple.remote);
        let len = buf.emit((local, remote), &repr, opts, &Bytes::new(), offload)?;
        self.stats.resets_sent += 1;
        Ok(Transmit {
            len,
            src: rst.tuple.local.ip(),
            dst: rst.tuple.remote.ip(),
        })
    }

    /// After anything touched connection `idx`: forward its events, queue it
    /// for transmission, apply its token-table and path requests, re-index
    /// its timer, and drop it once finished.
    pub(super) fn refresh(&mut self, idx: usize) {
        let Some(slot) = self.conns.get_mut(idx) else {
            return;
        };
        if !slot.queued {
            slot.queued = true;
            self.ready.push_back(idx);
        }
        let now = self.last_now;
        self.refresh_quiet(idx, now);
    }

    pub(super) fn refresh_quiet(&mut self, idx: usize, now: Instant) {
        self.last_now = self.last_now.max(now);
        if let Some(slot) = self.conns.get_mut(idx) {
            for tuple in slot.conn.prune_subflows() {
                self.tuples.remove(&tuple);
            }
        }
        self.forward_events(idx);
        self.apply_tokens(idx);
        self.open_paths(idx);
        let Some(slot) = self.conns.get_mut(idx) else {
            return;
        };
        let deadline = slot.conn.poll_timeout();
        if deadline != slot.deadline {
            if let Some(old) = slot.deadline {
                self.timers.remove(&(old, idx));
            }
            if let Some(new) = deadline {
                self.timers.insert((new, idx));
            }
            slot.deadline = deadline;
        }
        let gone = slot.conn.is_finished() && (slot.conn.is_released() || !slot.known);
        let dead_handshake = !slot.known && matches!(slot.conn.state(), ConnState::Closed(_));
        if gone || dead_handshake {
            self.remove(idx);
        }
    }

    fn forward_events(&mut self, idx: usize) {
        let Some(slot) = self.conns.get_mut(idx) else {
            return;
        };
        let h = ConnectionHandle::new(idx, slot.generation);
        while let Some(ev) = slot.conn.poll_event() {
            if matches!(ev, ConnEvent::Connected | ConnEvent::Closed(_)) && slot.half_open {
                // The handshake is over (or failed): out of the backlog.
                slot.half_open = false;
                self.half_open -= 1;
                if matches!(ev, ConnEvent::Connected) && !slot.known {
                    slot.awaiting_accept = true;
                    self.unaccepted += 1;
                }
            }
            let event = match ev {
                ConnEvent::Connected if slot.conn.role() == Role::Server => {
                    self.accept_queue.push_back(h);
                    Event::Incoming(h)
                }
                ConnEvent::Connected => Event::Connected(h),
                ConnEvent::Readable => Event::Readable(h),
                ConnEvent::Writable => Event::Writable(h),
                ConnEvent::PeerClosed => Event::PeerClosed(h),
                ConnEvent::Closed(e) => Event::Closed(h, e),
            };
            let unaccepted = !slot.known && slot.conn.role() == Role::Server;
            if !unaccepted || matches!(event, Event::Incoming(_)) {
                self.events.push_back(event);
            }
        }
        while let Some(ev) = slot.conn.poll_pm_event() {
            self.events.push_back(Event::Pm(Some(h), ev));
        }
    }

    /// Server: promote the token on the third ACK; either side: drop the
    /// entry of a connection that fell back.
    fn apply_tokens(&mut self, idx: usize) {
        let Some(slot) = self.conns.get_mut(idx) else {
            return;
        };
        if let Some(handle) = slot.conn.take_token_promotion() {
            let owner = TokenOwner {
                endpoint: self.id,
                connection: ConnectionHandle::new(idx, slot.generation),
                shard: self.config.shard.index(),
            };
            if self.tokens.promote(handle, owner, self.last_now).is_err() {
                slot.conn.on_promotion_failed();
            }
        }
        if let Some(handle) = slot.conn.take_token_release() {
            let _ = self.tokens.remove(handle);
        }
    }

    /// Open the subflows the connection's path manager asks for.
    fn open_paths(&mut self, idx: usize) {
        loop {
            let Some(slot) = self.conns.get_mut(idx) else {
                return;
            };
            let Some(req) = slot.conn.poll_path_request() else {
                return;
            };
            let Some(mtu) = self.mtu_of(req.local) else {
                continue;
            };
            let Ok(tuple) = self.free_tuple(req.local, req.remote) else {
                continue;
            };
            let iss = self.isn(&tuple, self.last_now);
            let mut config = self.config.connection.subflow;
            config.mtu = mtu;
            config.cc = self.config.connection.mptcp.cc;
            let Some(slot) = self.conns.get_mut(idx) else {
                return;
            };
            if let Some(id) = slot.conn.open_join(tuple, iss, config) {
                self.tuples.insert(tuple, (idx, id));
                if !slot.queued {
                    slot.queued = true;
                    self.ready.push_back(idx);
                }
            }
        }
    }

    pub(super) fn remove(&mut self, idx: usize) {
        let Some(slot) = self.conns.try_remove(idx) else {
            return;
        };
        if slot.half_open {
            self.half_open -= 1;
        }
        if slot.awaiting_accept {
            self.unaccepted -= 1;
        }
        // Counters outlive their connection, as the kernel's MIB does.
        self.mib.merge(slot.conn.mib());
        if let Some(t) = slot.deadline {
            self.timers.remove(&(t, idx));
        }
        if let Some(handle) = slot.conn.token_handle() {
            let _ = self.tokens.remove(handle);
        }
        for sf in slot.conn.subflows() {
            self.tuples.remove(&sf.tuple());
        }
        self.accept_queue.retain(|h| h.index() != idx);
    }
}
