//! The text form of a record: one tcpdump-like line (see the format in
//! [`super`]).

use core::fmt;
use std::net::IpAddr;

use mptcp_proto::crypto::MptcpVersion;
use mptcp_wire::{AddAddr, CapableBody, Dss, MpCapable, MpJoin, MptcpOption, ParseError};

use super::packet::{Frame, KeyInfo, Opt, Record, RelTime, TcpPacket, kind_name, version_number};

/// A record as one line of text (without the newline).
pub struct Line<'r, 'a>(pub &'r Record<'a>);

impl fmt::Display for Line<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(f, "{} {}", r.index, Time(r.time))?;
        match &r.frame {
            Frame::Tcp(p) => tcp(f, p),
            Frame::Malformed { addrs, error } => {
                if let Some((src, dst)) = addrs {
                    write!(f, " {src} > {dst} tcp")?;
                }
                write!(f, " [malformed: {error}]")
            }
        }
    }
}

/// Seconds with six decimals.
struct Time(RelTime);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.0;
        let sign = if nanos < 0 { "-" } else { "" };
        let micros = nanos.unsigned_abs() / 1_000;
        write!(f, "{sign}{}.{:06}", micros / 1_000_000, micros % 1_000_000)
    }
}

/// An address and a port: `10.0.0.1:80`, `[2001:db8::1]:80`.
struct Endpoint(IpAddr, u16);

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.1),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.1),
        }
    }
}

fn tcp(f: &mut fmt::Formatter<'_>, p: &TcpPacket<'_>) -> fmt::Result {
    let s = &p.segment;
    write!(
        f,
        " {} > {} {} seq {}",
        Endpoint(p.src, s.src_port()),
        Endpoint(p.dst, s.dst_port()),
        s.flags(),
        s.seq()
    )?;
    if s.flags().ack() {
        write!(f, " ack {}", s.ack())?;
    }
    write!(f, " win {} len {}", s.window(), p.len)?;
    for (i, o) in p.options.iter().enumerate() {
        f.write_str(if i == 0 { " " } else { "," })?;
        option(f, o)?;
    }
    Ok(())
}

fn option(f: &mut fmt::Formatter<'_>, o: &Opt<'_>) -> fmt::Result {
    match o {
        Opt::Tcp(o) => write!(f, "{o}"),
        Opt::Mptcp(m, version) => {
            f.write_str("mptcp ")?;
            mptcp(f, m, *version)
        }
        Opt::Malformed(kind, error) => malformed(f, *kind, error),
    }
}

fn malformed(f: &mut fmt::Formatter<'_>, kind: Option<u8>, error: &ParseError) -> fmt::Result {
    match kind.map(|k| (k, kind_name(k))) {
        Some((_, Some(name))) => write!(f, "{name} ")?,
        Some((k, None)) => write!(f, "opt-{k} ")?,
        None => {}
    }
    write!(f, "[malformed: {error}]")
}

/// ` key 0x… (token 0x… idsn …)`, the token and IDSN when the version is known.
fn key(f: &mut fmt::Formatter<'_>, name: &str, key: u64, v: Option<MptcpVersion>) -> fmt::Result {
    write!(f, " {name} {key:#018x}")?;
    match KeyInfo::derive(key, v) {
        Some(k) => write!(f, " (token {:#010x} idsn {})", k.token, k.idsn),
        None => Ok(()),
    }
}

/// One MPTCP option, after `mptcp `.
fn mptcp(f: &mut fmt::Formatter<'_>, m: &MptcpOption, v: Option<MptcpVersion>) -> fmt::Result {
    match m {
        MptcpOption::Capable(c) => capable(f, c, v),
        MptcpOption::Join(j) => join(f, j),
        MptcpOption::Dss(d) => dss(f, d),
        MptcpOption::AddAddr(a) => add_addr(f, a),
        MptcpOption::RemoveAddr(r) => {
            f.write_str("remove-addr id ")?;
            for (i, id) in r.ids.as_slice().iter().enumerate() {
                write!(f, "{}{id}", if i == 0 { "" } else { "," })?;
            }
            reserved(f, r.reserved.into())
        }
        MptcpOption::Prio(p) => {
            f.write_str(if p.backup() {
                "prio backup"
            } else {
                "prio non-backup"
            })?;
            if let Some(id) = p.address_id {
                write!(f, " id {id}")?;
            }
            reserved(f, (p.flags.0 >> 1).into())
        }
        MptcpOption::Fail(x) => {
            write!(f, "fail seq {}", x.dsn)?;
            reserved(f, x.reserved.into())
        }
        MptcpOption::FastClose(x) => {
            let version = v.map_or(0, version_number);
            write!(f, "fast-close v{version}")?;
            key(f, "receiver-key", x.receiver_key, v)?;
            reserved(f, x.reserved.into())
        }
        MptcpOption::TcpRst(r) => {
            write!(f, "tcprst reason {}", r.reason)?;
            if r.flags.0 != 0 {
                f.write_str(" ")?;
                letters(f, r.flags.0, b"UVWT")?;
            }
            Ok(())
        }
        MptcpOption::Experimental(x) => {
            write!(f, "experimental flags {:#x}", x.flags)?;
            data(f, x.data.as_slice())
        }
        MptcpOption::Unknown {
            subtype,
            flags,
            data: bytes,
        } => {
            write!(f, "subtype {subtype} flags {flags:#x}")?;
            data(f, bytes.as_slice())
        }
    }
}

fn capable(f: &mut fmt::Formatter<'_>, c: &MpCapable, v: Option<MptcpVersion>) -> fmt::Result {
    write!(f, "capable v{} flags ", c.version.0)?;
    letters(f, c.flags.0, b"ABCDEFGH")?;
    if let Some(k) = c.sender_key() {
        key(f, "key", k, v)?;
    }
    if let Some(k) = c.receiver_key() {
        key(f, "receiver-key", k, v)?;
    }
    if let CapableBody::BothKeysWithData {
        data_len, checksum, ..
    } = c.body
    {
        write!(f, " data-len {data_len}")?;
        if let Some(c) = checksum {
            write!(f, " csum {c:#06x}")?;
        }
    }
    Ok(())
}

fn join(f: &mut fmt::Formatter<'_>, j: &MpJoin) -> fmt::Result {
    match *j {
        MpJoin::Syn {
            address_id,
            token,
            nonce,
            ..
        } => write!(
            f,
            "join syn id {address_id} token {token:#010x} nonce {nonce:#010x}"
        )?,
        MpJoin::SynAck {
            address_id,
            truncated_hmac,
            nonce,
            ..
        } => write!(
            f,
            "join syn-ack id {address_id} hmac {truncated_hmac:#018x} nonce {nonce:#010x}"
        )?,
        MpJoin::Ack { reserved: r, hmac } => {
            write!(f, "join ack hmac 0x{}", Hex(&hmac))?;
            return reserved(f, r.into());
        }
    }
    if j.backup() {
        f.write_str(" backup")?;
    }
    match j {
        MpJoin::Syn { flags, .. } | MpJoin::SynAck { flags, .. } => {
            reserved(f, (flags.0 >> 1).into())
        }
        MpJoin::Ack { .. } => Ok(()),
    }
}

fn dss(f: &mut fmt::Formatter<'_>, d: &Dss) -> fmt::Result {
    f.write_str("dss")?;
    if d.data_fin {
        f.write_str(" fin")?;
    }
    if let Some(ack) = d.data_ack {
        write!(f, " ack {}", ack.raw())?;
    }
    if let Some(m) = d.mapping {
        write!(f, " seq {}", m.dsn.raw())?;
        write!(f, " subseq {} len {}", m.subflow_seq, m.data_len)?;
        if m.is_infinite() {
            f.write_str(" (infinite)")?;
        }
        if let Some(c) = m.checksum {
            write!(f, " csum {c:#06x}")?;
        }
    }
    if d.reserved != 0 || d.unused_flags != 0 {
        write!(f, " rsv {:#x}/{:#x}", d.reserved, d.unused_flags)?;
    }
    Ok(())
}

fn add_addr(f: &mut fmt::Formatter<'_>, a: &AddAddr) -> fmt::Result {
    match *a {
        AddAddr::V0 { .. } => f.write_str("add-addr v0")?,
        AddAddr::V1 { flags, hmac, .. } => {
            f.write_str("add-addr v1")?;
            if flags.echo() {
                f.write_str(" echo")?;
            }
            if flags.0 & !1 != 0 {
                write!(f, " flags {:#x}", flags.0)?;
            }
            write!(f, " id {} ", a.address_id())?;
            addr_port(f, a)?;
            return match hmac {
                Some(h) => write!(f, " hmac {h:#018x}"),
                None => Ok(()),
            };
        }
    }
    write!(f, " id {} ", a.address_id())?;
    addr_port(f, a)
}

fn addr_port(f: &mut fmt::Formatter<'_>, a: &AddAddr) -> fmt::Result {
    match a.port() {
        Some(port) => write!(f, "{}", Endpoint(a.addr(), port)),
        None => write!(f, "{}", a.addr()),
    }
}

/// ` rsv 0x…` when reserved bits are set.
fn reserved(f: &mut fmt::Formatter<'_>, bits: u64) -> fmt::Result {
    match bits {
        0 => Ok(()),
        b => write!(f, " rsv {b:#x}"),
    }
}

fn data(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    match bytes.is_empty() {
        true => Ok(()),
        false => write!(f, " data 0x{}", Hex(bytes)),
    }
}

/// The set bits of `value`, named by `names` from the field's top bit down,
/// as `[AH]`; `[none]` when none is set.
fn letters(f: &mut fmt::Formatter<'_>, value: u8, names: &[u8]) -> fmt::Result {
    f.write_str("[")?;
    let mut any = false;
    for (i, name) in names.iter().enumerate() {
        let bit = 1u8 << (names.len() - 1 - i);
        if value & bit != 0 {
            write!(f, "{}", char::from(*name))?;
            any = true;
        }
    }
    f.write_str(if any { "]" } else { "none]" })
}

/// Lowercase hex digits, no prefix.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mptcp_wire::{DssMapping, MpFastClose, TcpOption, WireSeq};

    fn show(o: Opt<'_>) -> String {
        struct One<'o, 'a>(&'o Opt<'a>);
        impl fmt::Display for One<'_, '_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                option(f, self.0)
            }
        }
        One(&o).to_string()
    }

    #[test]
    fn times() {
        assert_eq!(Time(RelTime(1_234_567)).to_string(), "0.001234");
        assert_eq!(Time(RelTime(61_000_000_000)).to_string(), "61.000000");
        assert_eq!(Time(RelTime(-500_000)).to_string(), "-0.000500");
    }

    #[test]
    fn endpoints() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(Endpoint(v6, 80).to_string(), "[2001:db8::1]:80");
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(Endpoint(v4, 80).to_string(), "10.0.0.1:80");
    }

    #[test]
    fn keys_carry_their_token() {
        let c = MpCapable {
            version: mptcp_wire::Version::V1,
            flags: mptcp_wire::CapableFlags::HMAC_SHA,
            body: CapableBody::SenderKey(0xfe7b_93dc_894d_cb73),
        };
        let text = show(Opt::Mptcp(c.into(), Some(MptcpVersion::V1)));
        assert_eq!(
            text,
            "mptcp capable v1 flags [H] key 0xfe7b93dc894dcb73 \
             (token 0xc43eb50e idsn 3891854986895050394)"
        );
        let fc = MpFastClose {
            reserved: 0,
            receiver_key: 0xfe7b_93dc_894d_cb73,
        };
        let text = show(Opt::Mptcp(fc.into(), Some(MptcpVersion::V1)));
        assert!(
            text.starts_with(
                "mptcp fast-close v1 receiver-key 0xfe7b93dc894dcb73 (token 0xc43eb50e"
            )
        );
    }

    #[test]
    fn dss_shows_the_sequence_numbers_as_sent() {
        let d = Dss {
            data_ack: Some(WireSeq::Long(5)),
            mapping: Some(DssMapping {
                dsn: WireSeq::Short(7),
                subflow_seq: 1,
                data_len: 100,
                checksum: Some(0xab),
            }),
            data_fin: true,
            ..Dss::default()
        };
        let text = show(Opt::Mptcp(d.into(), None));
        assert_eq!(
            text,
            "mptcp dss fin ack 5 seq 7 subseq 1 len 100 csum 0x00ab"
        );
    }

    #[test]
    fn malformed_options_name_their_kind() {
        let e = ParseError::truncated("DSS flags", 58, 2, 1);
        assert_eq!(
            show(Opt::Malformed(Some(30), e)),
            "mptcp [malformed: truncated DSS flags: needs 2 bytes, 1 available at byte 58]"
        );
        assert!(show(Opt::Malformed(Some(99), e)).starts_with("opt-99 [malformed: "));
        assert!(show(Opt::Malformed(None, e)).starts_with("[malformed: "));
        assert_eq!(show(Opt::Tcp(TcpOption::Mss(1460))), "mss 1460");
    }
}
