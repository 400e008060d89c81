//! Packets in: parse at the edge, demultiplex by 4-tuple, open passive
//! connections, route MP_JOINs by token, answer the rest with RST.

use super::{Endpoint, ResetPlan, SynParams, TokenOwner, Transmit};
use crate::connection::mptcp::{MptcpConn, Phase};
use crate::connection::{Connection, ConnectionHandle, Mode, Role};
use crate::crypto::KeyMaterial;
use crate::segment::SegmentIn;
use crate::segment::emit_ip_tcp_with;
use crate::stats::Mib;
use crate::subflow::{FourTuple, Subflow, SubflowId};
use crate::time::{Duration, Instant};
use crate::token::FourTuple as KeyTuple;
use crate::token::Shard;
use mptcp_wire::{
    EmitError, IpPacket, IpProtocol, ResetReason, SubflowSeq, TcpFlags, TcpOption, TcpRepr,
};
use std::net::SocketAddr;

/// How long a passive-side token stays pending without its third ACK
/// (the SYN-ACK retransmissions give up well before).
const PENDING_TOKEN_LIFETIME: Duration = Duration::from_secs(180);

/// The most RSTs queued for unknown tuples; more are not sent.
const MAX_PENDING_RESETS: usize = 256;

/// A SYN-ACK to send without state (a SYN cookie).
#[derive(Clone, Copy, Debug)]
pub(super) struct CookieSynAck {
    tuple: FourTuple,
    iss: SubflowSeq,
    peer_isn: SubflowSeq,
    params: SynParams,
    /// The peer's timestamp to echo.
    tsecr: u32,
    mtu: u16,
    now: Instant,
}

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

    /// Where `packet` belongs on a host that runs one endpoint per shard
    /// ([`EndpointConfig::shard`](super::EndpointConfig::shard)) over one
    /// shared token table, before any of them handles it. A device that
    /// spreads flows over queues by hash hands an endpoint the joins of
    /// other endpoints' connections: an MP_JOIN SYN goes to the shard of
    /// its token's owner (the shared table says, for keys drawn in any
    /// shard, SYN cookies' too; the token's own shard otherwise). A
    /// segment of an unknown 4-tuple may belong to another endpoint. The
    /// rest, and anything that does not parse, is this endpoint's, and so
    /// is the ACK that answers one of its SYN cookies (valid at `now`).
    /// Reads only; costs a parse and a lookup.
    pub fn steer(&self, now: Instant, packet: &[u8]) -> super::Steer {
        use super::Steer;
        let Some((tuple, tcp)) = IpPacket::parse(packet)
            .ok()
            .and_then(|ip| ip.tcp().ok().map(|tcp| (tuple_of(&ip, &tcp), tcp)))
        else {
            return Steer::Here;
        };
        let flags = tcp.flags();
        if self.tuples.contains_key(&tuple) {
            return Steer::Here;
        }
        if !flags.contains(TcpFlags::SYN) || flags.contains(TcpFlags::ACK) {
            let cookie = !flags.contains(TcpFlags::SYN)
                && flags.contains(TcpFlags::ACK)
                && self.listeners.contains(&tuple.local.port())
                && self
                    .cookies
                    .check(&tuple, tcp.seq() - 1, tcp.ack() - 1, now)
                    .is_some();
            return if cookie {
                Steer::Here
            } else {
                Steer::Elsewhere
            };
        }
        let seg = SegmentIn::from_tcp(&tcp);
        let Some((_, _, token, _)) = crate::connection::join_syn(&seg) else {
            return Steer::Here;
        };
        let mine = self.config.shard;
        let shard = match self.tokens.lookup(crate::crypto::Token(token)) {
            Some(owner) => owner.shard,
            None => Shard::owner(crate::crypto::Token(token), mine.count()).index(),
        };
        if shard == mine.index() {
            Steer::Here
        } else {
            Steer::Shard(shard)
        }
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
        let tuple = tuple_of(&ip, &tcp);
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
        if !seg.has(TcpFlags::SYN)
            && seg.has(TcpFlags::ACK)
            && self.listeners.contains(&tuple.local.port())
            && let Some(mtu) = self.mtu_of(tuple.local.ip())
            && let Some(params) = self.cookies.check(&tuple, seg.seq - 1, seg.ack - 1, now)
        {
            self.accept_cookie(now, tuple, mtu, params, &seg);
            return;
        }
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
        if self.half_open >= self.config.syn_backlog {
            // A SYN flood fills the backlog: answer without state.
            self.queue_cookie(now, tuple, mtu, syn);
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
        let setup = self.pm_setup(Role::Server);
        let conn = Connection::new(Role::Server, config, sf, mode, self.rng.fork(), setup);
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
            shard: self.config.shard.index(),
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
                conn.deny_join_initial = mp.no_join_initial;
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
        // Counted as the kernel counts them: every MP_JOIN SYN, before the
        // token or anything else is looked at.
        self.mib.inc(Mib::MPJoinSynRx);
        if crate::connection::join_syn(syn).is_some_and(|(backup, ..)| backup) {
            self.mib.inc(Mib::MPJoinSynBackupRx);
        }
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

    /// Run every timer due at `now`, each connection's once: one whose
    /// deadline is still due afterwards waits for the next call rather
    /// than keeping this one from returning.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some(&(t, idx)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            due.push(idx);
        }
        for idx in due {
            if let Some(slot) = self.conns.get_mut(idx) {
                slot.deadline = None;
                slot.conn.handle_timeout(now);
            }
            self.refresh(idx);
        }
    }
}

impl Endpoint {
    /// A SYN while the backlog is full: a SYN-ACK whose ISS is a cookie
    /// (RFC 4987 §3.6), and nothing kept.
    fn queue_cookie(&mut self, now: Instant, tuple: FourTuple, mtu: u16, syn: &SegmentIn<'_>) {
        if self.cookie_acks.len() >= MAX_PENDING_RESETS {
            self.stats.syn_backlog_drops += 1;
            return;
        }
        let tcp = self.config.connection.subflow;
        let mp = self.config.connection.mptcp;
        let capable = mp
            .enabled
            .then(|| crate::connection::accept_capable_syn(syn, mp.accept_v0))
            .flatten();
        if capable.is_some() {
            self.mib.inc(Mib::MPCapableSYNRX);
        }
        let params = SynParams {
            mss: syn.mss.unwrap_or(536),
            wscale: syn.wscale.filter(|_| tcp.window_scaling),
            sack: syn.sack_permitted && tcp.sack,
            timestamps: syn.timestamps.is_some() && tcp.timestamps,
            mptcp: capable.map(|(v, _, _)| v),
            checksum: capable.is_some_and(|(_, _, c)| c),
        };
        let peer_isn = syn.seq;
        let iss = self.cookies.iss(&tuple, peer_isn, now, &params);
        self.stats.syn_cookies_sent += 1;
        self.cookie_acks.push_back(CookieSynAck {
            tuple,
            iss,
            peer_isn,
            params,
            tsecr: syn.timestamps.map_or(0, |t| t.tsval),
            mtu,
            now,
        });
    }

    /// Write a cookie's SYN-ACK: the options a SYN-ACK of ours would carry
    /// (MSS, SACK, timestamps, window scale, MP_CAPABLE with the key the
    /// cookie derives).
    pub(super) fn emit_cookie_syn_ack(
        &mut self,
        c: CookieSynAck,
        buf: &mut [u8],
    ) -> Result<Transmit, EmitError> {
        let tcp = self.config.connection.subflow;
        let mut config = tcp;
        config.mtu = c.mtu;
        let mut opts: arrayvec::ArrayVec<TcpOption<'_>, 6> = arrayvec::ArrayVec::new();
        opts.push(TcpOption::Mss(crate::subflow::announced_mss(
            &c.tuple, &config,
        )));
        if c.params.sack {
            opts.push(TcpOption::SackPermitted);
        }
        if c.params.timestamps {
            opts.push(TcpOption::Timestamps {
                tsval: crate::subflow::ts_clock(c.iss, c.now),
                tsecr: c.tsecr,
            });
        }
        if c.params.wscale.is_some() {
            opts.push(TcpOption::WindowScale(crate::subflow::window_shift(
                tcp.max_receive_window,
            )));
        }
        if let Some(version) = c.params.mptcp {
            let key = self.cookies.key(&c.tuple, c.peer_isn, c.iss);
            let mp = self.config.connection.mptcp;
            let checksum = c.params.checksum || mp.checksum;
            opts.push(TcpOption::Mptcp(crate::connection::capable_syn_ack(
                version,
                key,
                checksum,
                mp.no_join_initial,
            )));
        }
        let repr = TcpRepr {
            src_port: c.tuple.local.port(),
            dst_port: c.tuple.remote.port(),
            seq: c.iss,
            ack: c.peer_isn + 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: self
                .config
                .connection
                .recv_buffer
                .min(usize::from(u16::MAX)) as u16,
            urgent: 0,
        };
        let offload = tcp.checksum_offload;
        let len = emit_ip_tcp_with(
            c.tuple.local,
            c.tuple.remote,
            &repr,
            &opts,
            &[],
            buf,
            offload,
        )?;
        Ok(Transmit {
            len,
            src: c.tuple.local.ip(),
            dst: c.tuple.remote.ip(),
        })
    }

    /// An ACK whose acknowledgment number is a valid cookie: the connection
    /// the SYN would have opened, past its SYN-ACK, then the ACK itself.
    fn accept_cookie(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        mtu: u16,
        params: SynParams,
        ack: &SegmentIn<'_>,
    ) {
        if self.unaccepted >= self.config.backlog {
            self.stats.syn_backlog_drops += 1;
            return;
        }
        let (iss, peer_isn) = (ack.ack - 1, ack.seq - 1);
        let mut config = self.config.connection;
        config.subflow.mtu = mtu;
        let syn = SegmentIn {
            seq: peer_isn,
            ack: SubflowSeq(0),
            flags: TcpFlags::SYN,
            window: ack.window,
            payload: &[],
            mss: Some(params.mss),
            wscale: params.wscale,
            sack_permitted: params.sack,
            sack: None,
            timestamps: ack.timestamps.filter(|_| params.timestamps).map(|t| {
                crate::segment::Timestamps {
                    tsval: t.tsval,
                    tsecr: 0,
                }
            }),
            mptcp: crate::segment::MptcpOptionList::new(),
            malformed_options: 0,
        };
        let mode = self.cookie_mode(now, &tuple, peer_isn, iss, &params);
        if mode.mptcp().is_some() {
            config.subflow.cc = config.mptcp.cc;
        }
        let mut sf = Subflow::accept(SubflowId(0), tuple, iss, config.subflow, &syn);
        sf.assume_syn_ack_sent();
        let setup = self.pm_setup(Role::Server);
        let conn = Connection::new(Role::Server, config, sf, mode, self.rng.fork(), setup);
        let idx = self.insert(conn, false).index();
        self.tuples.insert(tuple, (idx, SubflowId(0)));
        self.stats.passive_opens += 1;
        self.stats.syn_cookies_accepted += 1;
        if let Some(slot) = self.conns.get_mut(idx) {
            slot.conn.handle_segment(now, SubflowId(0), ack);
        }
        self.refresh(idx);
    }

    /// The MPTCP state of a connection a cookie opens: the key the cookie
    /// derives, its token inserted now (pending its third ACK's check). If
    /// that token is taken, the connection is plain TCP: our segments then
    /// carry no MPTCP option and the client falls back (RFC 8684 §3.7).
    fn cookie_mode(
        &mut self,
        now: Instant,
        tuple: &FourTuple,
        peer_isn: SubflowSeq,
        iss: SubflowSeq,
        params: &SynParams,
    ) -> Mode {
        let mp = self.config.connection.mptcp;
        let Some(version) = params.mptcp.filter(|_| mp.enabled) else {
            return Mode::Plain;
        };
        let key = self.cookies.key(tuple, peer_isn, iss);
        let keys = KeyMaterial::derive(key, version);
        match self
            .tokens
            .insert_pending(keys, now + PENDING_TOKEN_LIFETIME)
        {
            Ok(handle) => {
                self.mib.inc(Mib::MPCapablePassive);
                let mut conn = MptcpConn::new(
                    version,
                    keys,
                    mp.checksum || params.checksum,
                    Phase::AwaitThirdAck,
                );
                conn.token = Some(handle);
                conn.deny_join_initial = mp.no_join_initial;
                Mode::Mptcp(Box::new(conn))
            }
            Err(_) => {
                self.mib.inc(Mib::MPFallbackTokenInit);
                Mode::Plain
            }
        }
    }
}

/// A received segment's 4-tuple, seen from this host.
fn tuple_of(ip: &IpPacket<'_>, tcp: &mptcp_wire::TcpSegment<'_>) -> FourTuple {
    FourTuple {
        local: SocketAddr::new(ip.dst(), tcp.dst_port()),
        remote: SocketAddr::new(ip.src(), tcp.src_port()),
    }
}
