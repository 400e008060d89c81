//! Crafted TCP/IP packets for the middlebox tests, and what to check on
//! the packets a middlebox lets through.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mptcp_sim::{Ctx, Instant, Middlebox, MiddleboxState, MiddleboxStats, Verdict};
use mptcp_wire::{
    CapableBody, CapableFlags, Dss, DssMapping, IpPacket, IpProtocol, Ipv4Repr, Ipv6Repr,
    MpCapable, MptcpOption, SubflowSeq, TcpFlags, TcpOption, TcpRepr, Version, WireSeq,
    emit_segment,
};

pub const PAYLOAD: &[u8] = b"multipath payload, odd length!!";
pub const V4_SRC: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
pub const V4_DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const SEQ: u32 = 0x1234_5678;

pub fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The (source, destination) pair of the crafted packets.
pub fn addrs(v6_addrs: bool) -> (IpAddr, IpAddr) {
    if v6_addrs {
        (v6("2001:db8:1::1").into(), v6("2001:db8::2").into())
    } else {
        (V4_SRC.into(), V4_DST.into())
    }
}

/// A DSS with a DATA_ACK and a mapping of `len` bytes at subflow offset 1.
pub fn dss_of(len: u16) -> TcpOption<'static> {
    TcpOption::Mptcp(MptcpOption::Dss(Dss {
        data_ack: Some(WireSeq::Short(7000)),
        mapping: Some(DssMapping {
            dsn: WireSeq::Short(5000),
            subflow_seq: 1,
            data_len: len,
            checksum: None,
        }),
        ..Dss::default()
    }))
}

/// [`dss_of`] the length of [`PAYLOAD`].
pub fn dss() -> TcpOption<'static> {
    dss_of(PAYLOAD.len() as u16)
}

pub fn mp_capable_syn() -> TcpOption<'static> {
    TcpOption::Mptcp(MptcpOption::Capable(MpCapable {
        version: Version::V1,
        flags: CapableFlags::HMAC_SHA,
        body: CapableBody::NoKey,
    }))
}

pub const TS: TcpOption<'static> = TcpOption::Timestamps {
    tsval: 0x0102_0304,
    tsecr: 0x0506_0708,
};

/// A segment to craft.
#[derive(Clone, Debug)]
pub struct Seg<'a> {
    pub v6: bool,
    pub src: Option<(IpAddr, IpAddr)>,
    pub ports: (u16, u16),
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: Vec<TcpOption<'a>>,
    pub payload: Vec<u8>,
}

impl<'a> Seg<'a> {
    pub fn new(flags: TcpFlags, options: &[TcpOption<'a>], payload: &[u8]) -> Seg<'a> {
        Seg {
            v6: false,
            src: None,
            ports: (40_000, 80),
            seq: SEQ,
            ack: 0x9abc_def0,
            flags,
            window: 65_535,
            options: options.to_vec(),
            payload: payload.to_vec(),
        }
    }

    pub fn v6(mut self, v6: bool) -> Seg<'a> {
        self.v6 = v6;
        self
    }

    pub fn seq(mut self, seq: u32) -> Seg<'a> {
        self.seq = seq;
        self
    }

    /// The complete IP packet.
    pub fn build(&self) -> Vec<u8> {
        let (src, dst) = self.src.unwrap_or_else(|| addrs(self.v6));
        let repr = TcpRepr {
            src_port: self.ports.0,
            dst_port: self.ports.1,
            seq: SubflowSeq(self.seq),
            ack: SubflowSeq(self.ack),
            flags: self.flags,
            window: self.window,
            urgent: 0,
        };
        let mut seg = vec![0; 65_535];
        let len = emit_segment(&repr, &self.options, &self.payload, src, dst, &mut seg).unwrap();
        seg.truncate(len);
        let mut out = vec![0; 60];
        let hdr = match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Ipv4Repr {
                src,
                dst,
                protocol: IpProtocol::TCP,
                ttl: 64,
                dscp: 0,
                ecn: 0,
                ident: 7,
                dont_fragment: true,
            }
            .emit(&mut out, len)
            .unwrap(),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Ipv6Repr {
                src,
                dst,
                next_header: IpProtocol::TCP,
                hop_limit: 64,
                dscp: 0,
                ecn: 0,
                flow_label: 0x12345,
            }
            .emit(&mut out, len)
            .unwrap(),
            _ => unreachable!(),
        };
        out.truncate(hdr);
        out.extend_from_slice(&seg);
        out
    }
}

/// A complete IP packet carrying a TCP segment with `options` and `payload`.
pub fn packet(
    v6_addrs: bool,
    flags: TcpFlags,
    options: &[TcpOption<'_>],
    payload: &[u8],
) -> Vec<u8> {
    Seg::new(flags, options, payload).v6(v6_addrs).build()
}

/// What a middlebox let out of a packet.
pub struct Outcome {
    pub verdict: Verdict,
    pub out: Vec<Vec<u8>>,
}

/// Runs `packets` through `mb` at time zero on a 1500-byte link.
pub fn run(
    mb: &Middlebox,
    state: &mut MiddleboxState,
    stats: &mut MiddleboxStats,
    packet: Vec<u8>,
) -> Outcome {
    run_at(mb, state, stats, packet, Instant::ZERO, 1500)
}

/// Runs `packet` through `mb` at `now` on a link of `mtu`.
pub fn run_at(
    mb: &Middlebox,
    state: &mut MiddleboxState,
    stats: &mut MiddleboxStats,
    packet: Vec<u8>,
    now: Instant,
    mtu: usize,
) -> Outcome {
    let mut out = Vec::new();
    let verdict = mb.apply(state, Ctx { now, mtu }, packet, &mut out, stats);
    Outcome { verdict, out }
}

/// Applies a middlebox that passes exactly one packet; returns it.
pub fn apply_one(mb: &Middlebox, p: &[u8], stats: &mut MiddleboxStats) -> (Verdict, Vec<u8>) {
    let mut state = MiddleboxState::default();
    let o = run(mb, &mut state, stats, p.to_vec());
    assert_eq!(o.out.len(), 1, "{mb:?} passes one packet");
    (o.verdict, o.out.into_iter().next().unwrap())
}

/// A parsed view of a packet.
pub struct View<'a> {
    pub options: Vec<TcpOption<'a>>,
    pub payload: &'a [u8],
    /// The TCP checksum verifies.
    pub tcp_ok: bool,
    /// The IP header is consistent: IPv4 header checksum and lengths.
    pub ip_ok: bool,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub src: (IpAddr, u16),
    pub dst: (IpAddr, u16),
}

/// The parsed options (all must parse), payload and checks of a packet.
pub fn view(p: &[u8]) -> View<'_> {
    let ip = IpPacket::parse(p).unwrap();
    let tcp = ip.tcp().unwrap();
    let ip_ok = !ip.is_truncated()
        && match ip {
            IpPacket::V4(v4) => {
                v4.verify_header_checksum() && usize::from(v4.total_len()) == p.len()
            }
            IpPacket::V6(v6) => usize::from(v6.payload_len()) + 40 == p.len(),
        };
    View {
        options: tcp.options().map(Result::unwrap).collect(),
        payload: tcp.payload(),
        tcp_ok: tcp.verify_checksum(ip.src(), ip.dst()),
        ip_ok,
        seq: tcp.seq().0,
        ack: tcp.ack().0,
        flags: tcp.flags(),
        window: tcp.window(),
        src: (ip.src(), tcp.src_port()),
        dst: (ip.dst(), tcp.dst_port()),
    }
}

pub fn mptcp_count(opts: &[TcpOption<'_>]) -> usize {
    opts.iter()
        .filter(|o| matches!(o, TcpOption::Mptcp(_)))
        .count()
}

pub fn nop_count(opts: &[TcpOption<'_>]) -> usize {
    opts.iter().filter(|o| matches!(o, TcpOption::Nop)).count()
}

/// The options other than NOPs.
pub fn non_nop<'a>(opts: &[TcpOption<'a>]) -> Vec<TcpOption<'a>> {
    opts.iter()
        .filter(|o| !matches!(o, TcpOption::Nop))
        .cloned()
        .collect()
}
