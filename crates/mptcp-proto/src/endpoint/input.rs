//! Packets in: parse at the edge, demultiplex by 4-tuple, open passive
//! connections, route MP_JOINs by token, answer the rest with RST.

use super::{Endpoint, ResetPlan, TokenOwner};
use crate::connection::mptcp::{MptcpConn, Phase};
use crate::connection::{Connection, ConnectionHandle, Mode, Role};
use crate::crypto::KeyMaterial;
use crate::segment::SegmentIn;
use crate::stats::Mib;
use crate::subflow::{FourTuple, Subflow, SubflowId};
use crate::time::{Duration, Instant};
use crate::token::FourTuple as KeyTuple;
use mptcp_wire::{IpPacket, IpProtocol, ResetReason, SubflowSeq, TcpFlags};
use std::net::SocketAddr;

/// How long a passive-side token stays pending without its third ACK
/// (the SYN-ACK retransmissions give up well before).
const PENDING_TOKEN_LIFETIME: Duration = Duration::from_secs(180);

/// The most RSTs queued for unknown tuples; more are not sent.
const MAX_PENDING_RESETS: usize = 256;

impl Endpoint {
    /// One IP packet from the network.
    pub fn handle(&mut self, now: Instant, packet: &[u8]) {
        self.handle_packet(now, packet, true);
    }

    /// One IP packet whose TCP checksum the OS vouches for (it verified it,
    /// or the packet was made on this host and its checksum left partial,
    /// as a TUN device with offloads says): not checked again.
    pub fn handle_verified(&mut self, now: Instant, packet: &[u8]) {
        self.handle_packet(now, packet, false);
    }

    fn handle_packet(&mut self, now: Instant, packet: &[u8], verify: bool) {
        self.stats.packets_in += 1;
        let Ok(ip) = IpPacket::parse(packet) else {
            self.stats.malformed += 1;
            return;
        };
        if ip.protocol() != IpProtocol::TCP || ip.is_fragment() || ip.is_truncated() {
            self.stats.not_tcp += 1;
            return;
        }
        let Ok(tcp) = ip.tcp() else {
            self.stats.malformed += 1;
            return;
        };
        if verify && !tcp.verify_checksum(ip.src(), ip.dst()) {
            self.stats.bad_checksum += 1;
            return;
        }
        let seg = SegmentIn::from_tcp(&tcp);
        let tuple = FourTuple {
            local: SocketAddr::new(ip.dst(), tcp.dst_port()),
            remote: SocketAddr::new(ip.src(), tcp.src_port()),
        };
        if let Some(&(idx, id)) = self.tuples.get(&tuple) {
            if let Some(slot) = self.conns.get_mut(idx) {
                slot.conn.handle_segment(now, id, &seg);
            }
            self.refresh(idx);
            return;
        }
        if seg.has(TcpFlags::RST) {
            return;
        }
        let is_syn = seg.has(TcpFlags::SYN) && !seg.has(TcpFlags::ACK);
        let Some(mtu) = self.mtu_of(tuple.local.ip()).filter(|_| is_syn) else {
            self.queue_reset(tuple, &seg, None);
            return;
        };
        if let Some((_, _, token, _)) = crate::connection::join_syn(&seg) {
            self.accept_join(now, tuple, mtu, token, &seg);
        } else if self.listeners.contains(&tuple.local.port()) {
            self.accept_syn(now, tuple, mtu, &seg);
        } else {
            self.queue_reset(tuple, &seg, None);
        }
    }

    /// A SYN for a listener: a new server connection, MPTCP if the SYN
    /// offers a version we accept (RFC 8684 §3.1), else plain TCP.
    fn accept_syn(&mut self, now: Instant, tuple: FourTuple, mtu: u16, syn: &SegmentIn<'_>) {
        if self.unaccepted >= self.config.backlog {
            self.stats.syn_backlog_drops += 1;
            return;
        }
        let mut config = self.config.connection;
        config.subflow.mtu = mtu;
        let iss = self.isn(&tuple, now);
        let mode = self.answer_mptcp(now, &tuple, syn);
        if mode.mptcp().is_some() {
            config.subflow.cc = config.mptcp.cc;
        }
        let sf = Subflow::accept(SubflowId(0), tuple, iss, config.subflow, syn);
        let mut conn = Connection::new(
            Role::Server,
            config,
            sf,
            mode,
            self.rng.fork(),
            self.local_addrs(),
        );
        for &(addr, port) in &self.signal {
            if addr != tuple.local.ip() && addr.is_ipv4() == tuple.local.is_ipv4() {
                conn.announce(addr, port);
            }
        }
        let idx = self.insert(conn, false).index();
        self.tuples.insert(tuple, (idx, SubflowId(0)));
        self.stats.passive_opens += 1;
        self.refresh(idx);
    }

    /// The client side's MPTCP offer: a key with a unique token.
    pub(super) fn offer_mptcp(&mut self, tuple: &FourTuple, handle: ConnectionHandle) -> Mode {
        let mp = self.config.connection.mptcp;
        if !mp.enabled {
            return Mode::Plain;
        }
        let Some(key_tuple) = KeyTuple::new(tuple.local, tuple.remote) else {
            return Mode::Plain;
        };
        let owner = TokenOwner {
            endpoint: self.id,
            connection: handle,
        };
        match self
            .tokens
            .allocate_active(&*self.keys, &key_tuple, mp.version, owner)
        {
            Ok(alloc) => {
                self.mib.inc(Mib::MPCapableActive);
                let mut conn =
                    MptcpConn::new(mp.version, alloc.keys, mp.checksum, Phase::AwaitSynAck);
                conn.token = Some(alloc.handle);
                Mode::Mptcp(Box::new(conn))
            }
            Err(_) => {
                self.mib.inc(Mib::MPFallbackTokenInit);
                Mode::Plain
            }
        }
    }

    /// The server side: answer an acceptable MP_CAPABLE with our key, its
    /// token pending until the third ACK (RFC 8684 §3.1).
    fn answer_mptcp(&mut self, now: Instant, tuple: &FourTuple, syn: &SegmentIn<'_>) -> Mode {
        let mp = self.config.connection.mptcp;
        if !mp.enabled {
            return Mode::Plain;
        }
        let Some((version, client_key, csum)) =
            crate::connection::accept_capable_syn(syn, mp.accept_v0)
        else {
            return Mode::Plain;
        };
        self.mib.inc(Mib::MPCapableSYNRX);
        let Some(key_tuple) = KeyTuple::new(tuple.local, tuple.remote) else {
            return Mode::Plain;
        };
        let expires = now + PENDING_TOKEN_LIFETIME;
        match self
            .tokens
            .allocate_passive(&*self.keys, &key_tuple, version, expires)
        {
            Ok(alloc) => {
                self.mib.inc(Mib::MPCapablePassive);
                let mut conn = MptcpConn::new(
                    version,
                    alloc.keys,
                    mp.checksum || csum,
                    Phase::AwaitThirdAck,
                );
                conn.token = Some(alloc.handle);
                conn.remote = client_key.map(|k| KeyMaterial::derive(k, version));
                Mode::Mptcp(Box::new(conn))
            }
            Err(_) => {
                self.mib.inc(Mib::MPFallbackTokenInit);
                Mode::Plain
            }
        }
    }

    /// An MP_JOIN SYN: find the connection by token (RFC 8684 §3.2: only
    /// established connections), let it decide, or refuse with a RST
    /// carrying MP_TCPRST (reason 1 for an unknown token, as Linux does).
    fn accept_join(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        mtu: u16,
        token: u32,
        syn: &SegmentIn<'_>,
    ) {
        let owner = self.tokens.lookup(crate::crypto::Token(token));
        // The handle's generation keeps a stale entry from reaching a
        // newer connection in the same slot.
        let Some(idx) = owner
            .filter(|o| o.endpoint == self.id)
            .map(|o| o.connection)
            .filter(|&h| self.connection(h).is_some())
            .map(|h| h.index())
        else {
            self.mib.inc(Mib::MPJoinNoTokenFound);
            self.queue_reset(tuple, syn, Some(ResetReason::MPTCP_SPECIFIC));
            return;
        };
        let mut config = self.config.connection.subflow;
        config.mtu = mtu;
        config.cc = self.config.connection.mptcp.cc;
        let iss = self.isn(&tuple, now);
        let Some(slot) = self.conns.get_mut(idx) else {
            self.queue_reset(tuple, syn, Some(ResetReason::MPTCP_SPECIFIC));
            return;
        };
        match slot.conn.accept_join(tuple, iss, config, syn) {
            Ok(id) => {
                self.tuples.insert(tuple, (idx, id));
                self.refresh(idx);
            }
            Err(reason) => self.queue_reset(tuple, syn, Some(reason)),
        }
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a RST.
    pub(super) fn queue_reset(
        &mut self,
        tuple: FourTuple,
        seg: &SegmentIn<'_>,
        reason: Option<ResetReason>,
    ) {
        if self.resets.len() >= MAX_PENDING_RESETS {
            return;
        }
        let plan = if seg.has(TcpFlags::ACK) {
            ResetPlan {
                tuple,
                seq: seg.ack,
                ack: None,
                reason,
            }
        } else {
            ResetPlan {
                tuple,
                seq: SubflowSeq(0),
                ack: Some(seg.seq + seg.seq_len()),
                reason,
            }
        };
        self.resets.push_back(plan);
    }

    /// Run every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(t, idx)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            if let Some(slot) = self.conns.get_mut(idx) {
                slot.deadline = None;
                slot.conn.handle_timeout(now);
            }
            self.refresh(idx);
        }
    }
}
