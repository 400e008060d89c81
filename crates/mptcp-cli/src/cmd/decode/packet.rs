//! From a captured frame to a [`Record`]: the TCP header fields and every
//! option, parsed, with the MPTCP version that keys are derived with.
//!
//! Both output formats ([`super::text`], [`super::json`]) render records,
//! so that they always show the same things.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use mptcp_proto::crypto::{MptcpVersion, key_material};
use mptcp_wire::options::kind;
use mptcp_wire::{
    CapturedPacket, IpPacket, IpProtocol, MpCapable, MptcpOption, ParseError, ParseErrorKind,
    TcpOption, TcpSegment,
};

/// Time since the first packet of the capture, in nanoseconds (negative
/// when a capture's clock steps back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelTime(pub i128);

impl RelTime {
    /// `at` relative to `origin`.
    pub fn between(origin: Duration, at: Duration) -> RelTime {
        let nanos = |d: Duration| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX);
        RelTime(nanos(at).saturating_sub(nanos(origin)))
    }

    /// In seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

/// One decoded frame: its 1-based number in the file (as Wireshark numbers
/// frames), its time, and what it holds.
#[derive(Debug)]
pub struct Record<'a> {
    /// 1-based frame number.
    pub index: usize,
    /// Time since the first frame.
    pub time: RelTime,
    /// The contents.
    pub frame: Frame<'a>,
}

/// What a frame holds, when it is worth a line.
#[derive(Debug)]
pub enum Frame<'a> {
    /// A TCP segment.
    Tcp(TcpPacket<'a>),
    /// A frame whose link, IP or TCP header is malformed.
    Malformed {
        /// Source and destination, when the IP header was readable.
        addrs: Option<(IpAddr, IpAddr)>,
        /// What was wrong (offsets count from the start of the frame's IP
        /// header, or of the frame for link-layer errors).
        error: ParseError,
    },
}

/// A TCP segment and its options.
#[derive(Debug)]
pub struct TcpPacket<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The segment (header fields).
    pub segment: TcpSegment<'a>,
    /// Payload length announced by the IP header (what was sent, even when
    /// the capture kept fewer bytes).
    pub len: usize,
    /// Every option, in order.
    pub options: Vec<Opt<'a>>,
}

/// One TCP option.
#[derive(Debug)]
pub enum Opt<'a> {
    /// Any option but MPTCP.
    Tcp(TcpOption<'a>),
    /// An MPTCP option, with the version its keys are derived with: the
    /// option's own for MP_CAPABLE (none for a version other than 0 or 1),
    /// inferred for MP_FASTCLOSE (see [`KeyVersions::infer`]), `None` for
    /// options that carry no key.
    Mptcp(MptcpOption, Option<MptcpVersion>),
    /// An option that does not parse: its kind when known, and the error
    /// (offsets count from the start of the IP header).
    Malformed(Option<u8>, ParseError),
}

/// A key with the token and IDSN derived from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key.
    pub key: u64,
    /// Its token.
    pub token: u32,
    /// Its initial data sequence number.
    pub idsn: u64,
}

impl KeyInfo {
    /// Token and IDSN of `key` for `version`, when the version is known.
    pub fn derive(key: u64, version: Option<MptcpVersion>) -> Option<KeyInfo> {
        let (token, idsn) = key_material(key, version?);
        Some(KeyInfo {
            key,
            token: token.0,
            idsn,
        })
    }
}

/// The number of an MPTCP version, as MP_CAPABLE writes it.
pub fn version_number(v: MptcpVersion) -> u8 {
    match v {
        MptcpVersion::V0 => 0,
        MptcpVersion::V1 => 1,
    }
}

/// The MPTCP versions of the keys seen in MP_CAPABLE options so far, to
/// derive MP_FASTCLOSE keys (the option carries no version) the same way.
#[derive(Debug, Default)]
pub struct KeyVersions {
    by_key: HashMap<u64, MptcpVersion>,
    last: Option<MptcpVersion>,
}

impl KeyVersions {
    /// The version of an MP_CAPABLE option (0: SHA-1, 1: SHA-256, others
    /// unknown), remembered for its keys.
    pub fn learn(&mut self, capable: &MpCapable) -> Option<MptcpVersion> {
        let version = match capable.version.0 {
            0 => MptcpVersion::V0,
            1 => MptcpVersion::V1,
            _ => return None,
        };
        for key in [capable.sender_key(), capable.receiver_key()]
            .into_iter()
            .flatten()
        {
            self.by_key.insert(key, version);
        }
        self.last = Some(version);
        Some(version)
    }

    /// The version of `key`: the one of the MP_CAPABLE that carried it, else
    /// the one of the latest MP_CAPABLE in the capture, else v1.
    pub fn infer(&self, key: u64) -> MptcpVersion {
        self.by_key
            .get(&key)
            .copied()
            .or(self.last)
            .unwrap_or(MptcpVersion::V1)
    }
}

/// Decode `packet` into a record, `None` when it is not TCP (another link
/// protocol, another IP protocol, or an IP fragment).
pub fn decode<'a>(
    packet: &'a CapturedPacket,
    origin: Duration,
    versions: &mut KeyVersions,
) -> Option<Record<'a>> {
    let frame = frame(packet, versions)?;
    Some(Record {
        index: packet.index + 1,
        time: RelTime::between(origin, packet.timestamp),
        frame,
    })
}

fn frame<'a>(packet: &'a CapturedPacket, versions: &mut KeyVersions) -> Option<Frame<'a>> {
    let malformed = |addrs, error| Some(Frame::Malformed { addrs, error });
    let ip = match packet.ip() {
        Ok(Some(ip)) => ip,
        Ok(None) => return None,
        // Fragments (IPv6 here) carry no TCP header worth decoding.
        Err(e) if matches!(e.kind, ParseErrorKind::Unsupported { .. }) => return None,
        Err(e) => return malformed(None, e),
    };
    if ip.protocol() != IpProtocol::TCP || ip.is_fragment() {
        return None;
    }
    let (src, dst) = (ip.src(), ip.dst());
    let segment = match ip.tcp() {
        Ok(s) => s,
        Err(e) => return malformed(Some((src, dst)), e),
    };
    Some(Frame::Tcp(TcpPacket {
        src,
        dst,
        segment,
        len: payload_len(&ip, &segment),
        options: options(&segment, versions),
    }))
}

/// The payload length the IP header announces.
fn payload_len(ip: &IpPacket<'_>, segment: &TcpSegment<'_>) -> usize {
    let transport = match ip {
        IpPacket::V4(p) => usize::from(p.total_len()).saturating_sub(p.header_len()),
        IpPacket::V6(p) => (40 + usize::from(p.payload_len())).saturating_sub(p.payload_offset()),
    };
    let announced = transport.saturating_sub(segment.header_len());
    announced.max(segment.payload().len())
}

/// Every option of `segment`; a malformed option takes its place, and the
/// next ones follow unless its length byte is unusable.
fn options<'a>(segment: &TcpSegment<'a>, versions: &mut KeyVersions) -> Vec<Opt<'a>> {
    let mut out = Vec::new();
    for raw in segment.options().raw() {
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                out.push(Opt::Malformed(None, e));
                continue;
            }
        };
        out.push(match raw.parse() {
            Ok(TcpOption::Mptcp(m)) => {
                let version = match &m {
                    MptcpOption::Capable(c) => versions.learn(c),
                    MptcpOption::FastClose(f) => Some(versions.infer(f.receiver_key)),
                    _ => None,
                };
                Opt::Mptcp(m, version)
            }
            Ok(o) => Opt::Tcp(o),
            Err(e) => Opt::Malformed(Some(raw.kind()), e),
        });
    }
    out
}

/// tcpdump's name for an option kind, for malformed options.
pub fn kind_name(k: u8) -> Option<&'static str> {
    Some(match k {
        kind::EOL => "eol",
        kind::NOP => "nop",
        kind::MSS => "mss",
        kind::WINDOW_SCALE => "wscale",
        kind::SACK_PERMITTED => "sackOK",
        kind::SACK => "sack",
        kind::TIMESTAMPS => "TS",
        kind::MPTCP => "mptcp",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mptcp_wire::{CapableBody, CapableFlags, Version};

    #[test]
    fn relative_time_may_be_negative() {
        let t = RelTime::between(Duration::from_millis(1500), Duration::from_millis(1000));
        assert_eq!(t, RelTime(-500_000_000));
        assert_eq!(t.as_secs_f64(), -0.5);
    }

    #[test]
    fn fastclose_keys_take_the_version_of_their_capable() {
        let mut v = KeyVersions::default();
        assert_eq!(v.infer(7), MptcpVersion::V1);
        let capable = |version, key| MpCapable {
            version: Version(version),
            flags: CapableFlags::HMAC_SHA,
            body: CapableBody::SenderKey(key),
        };
        assert_eq!(v.learn(&capable(0, 7)), Some(MptcpVersion::V0));
        assert_eq!(v.learn(&capable(1, 8)), Some(MptcpVersion::V1));
        assert_eq!(v.learn(&capable(2, 9)), None);
        assert_eq!(v.infer(7), MptcpVersion::V0);
        assert_eq!(v.infer(8), MptcpVersion::V1);
        // Unknown key: the latest known version.
        assert_eq!(v.infer(10), MptcpVersion::V1);
    }
}
