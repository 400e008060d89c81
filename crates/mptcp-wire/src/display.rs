//! tcpdump-style text for MPTCP and TCP options.
//!
//! Compact and unambiguous rather than byte-identical to tcpdump, e.g.
//! `mp_capable v1 flags [H] {0x1fdb5df328bc3def,0x29a6c86981ad933c}`,
//! `mp_join syn id 1 token 0xab12cd34 nonce 0x1234`,
//! `dss ack 1234 seq 5678 subseq 1 len 100 csum 0xabcd`,
//! `add_addr v1 id 1 10.77.2.2 hmac 0x...`, `tcprst reason 6 (...) [T]`.
//! Reserved bits that are not zero are shown (`rsv 0x..`), so that odd
//! senders stand out.

use core::fmt;
use std::net::IpAddr;

use crate::mptcp::{
    AddAddr, CapableBody, Dss, MpCapable, MpExperimental, MpFail, MpFastClose, MpJoin, MpPrio,
    MpTcpRst, MptcpOption, RemoveAddr, WireSeq,
};
use crate::options::TcpOption;

/// Bytes as `0x` and lowercase hex digits.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The set bits of `value`, named by `names` from the field's top bit down
/// (one letter per bit), as `[AH]`; `[none]` when none is set.
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

fn addr_port(f: &mut fmt::Formatter<'_>, addr: IpAddr, port: Option<u16>) -> fmt::Result {
    match (addr, port) {
        (a, None) => write!(f, "{a}"),
        (IpAddr::V4(a), Some(p)) => write!(f, "{a}:{p}"),
        (IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
    }
}

fn wire_seq(f: &mut fmt::Formatter<'_>, name: &str, seq: WireSeq) -> fmt::Result {
    match seq {
        WireSeq::Short(v) => write!(f, " {name} {v}"),
        WireSeq::Long(v) => write!(f, " {name} {v}"),
    }
}

impl fmt::Display for MpCapable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mp_capable v{} flags ", self.version.0)?;
        letters(f, self.flags.0, b"ABCDEFGH")?;
        match self.body {
            CapableBody::NoKey => Ok(()),
            CapableBody::SenderKey(k) => write!(f, " {{{k:#x}}}"),
            CapableBody::BothKeys { sender, receiver } => {
                write!(f, " {{{sender:#x},{receiver:#x}}}")
            }
            CapableBody::BothKeysWithData {
                sender,
                receiver,
                data_len,
                checksum,
            } => {
                write!(f, " {{{sender:#x},{receiver:#x},data_len={data_len}}}")?;
                match checksum {
                    Some(c) => write!(f, " csum {c:#x}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Display for MpJoin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = match *self {
            MpJoin::Syn {
                flags,
                address_id,
                token,
                nonce,
            } => {
                write!(
                    f,
                    "mp_join syn id {address_id} token {token:#x} nonce {nonce:#x}"
                )?;
                flags
            }
            MpJoin::SynAck {
                flags,
                address_id,
                truncated_hmac,
                nonce,
            } => {
                write!(
                    f,
                    "mp_join syn-ack id {address_id} hmac {truncated_hmac:#x} nonce {nonce:#x}"
                )?;
                flags
            }
            MpJoin::Ack { reserved, hmac } => {
                write!(f, "mp_join ack hmac {}", Hex(&hmac))?;
                if reserved != 0 {
                    write!(f, " rsv {reserved:#x}")?;
                }
                return Ok(());
            }
        };
        if flags.backup() {
            f.write_str(" backup")?;
        }
        if flags.0 & !1 != 0 {
            write!(f, " rsv {:#x}", flags.0 >> 1)?;
        }
        Ok(())
    }
}

impl fmt::Display for Dss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dss")?;
        if self.data_fin {
            f.write_str(" fin")?;
        }
        if let Some(ack) = self.data_ack {
            wire_seq(f, "ack", ack)?;
        }
        if let Some(m) = self.mapping {
            wire_seq(f, "seq", m.dsn)?;
            write!(f, " subseq {} len {}", m.subflow_seq, m.data_len)?;
            if m.is_infinite() {
                f.write_str(" (infinite)")?;
            }
            if let Some(c) = m.checksum {
                write!(f, " csum {c:#x}")?;
            }
        }
        if self.reserved != 0 || self.unused_flags != 0 {
            write!(f, " rsv {:#x}/{:#x}", self.reserved, self.unused_flags)?;
        }
        Ok(())
    }
}

impl fmt::Display for AddAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AddAddr::V0 {
                address_id,
                addr,
                port,
            } => {
                write!(f, "add_addr v0 id {address_id} ")?;
                addr_port(f, addr, port)
            }
            AddAddr::V1 {
                flags,
                address_id,
                addr,
                port,
                hmac,
            } => {
                f.write_str("add_addr v1")?;
                if flags.echo() {
                    f.write_str(" echo")?;
                }
                if flags.0 & !1 != 0 {
                    write!(f, " flags {:#x}", flags.0)?;
                }
                write!(f, " id {address_id} ")?;
                addr_port(f, addr, port)?;
                match hmac {
                    Some(h) => write!(f, " hmac {h:#x}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Display for RemoveAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("remove_addr id")?;
        for (i, id) in self.ids.as_slice().iter().enumerate() {
            write!(f, "{}{id}", if i == 0 { " " } else { "," })?;
        }
        if self.reserved != 0 {
            write!(f, " rsv {:#x}", self.reserved)?;
        }
        Ok(())
    }
}

impl fmt::Display for MpPrio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.backup() {
            "mp_prio backup"
        } else {
            "mp_prio non-backup"
        })?;
        if let Some(id) = self.address_id {
            write!(f, " id {id}")?;
        }
        if self.flags.0 & !1 != 0 {
            write!(f, " rsv {:#x}", self.flags.0 >> 1)?;
        }
        Ok(())
    }
}

impl fmt::Display for MpFail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mp_fail seq {}", self.dsn)?;
        if self.reserved != 0 {
            write!(f, " rsv {:#x}", self.reserved)?;
        }
        Ok(())
    }
}

impl fmt::Display for MpFastClose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mp_fastclose key {:#x}", self.receiver_key)?;
        if self.reserved != 0 {
            write!(f, " rsv {:#x}", self.reserved)?;
        }
        Ok(())
    }
}

impl fmt::Display for MpTcpRst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcprst reason {}", self.reason)?;
        if self.flags.0 != 0 {
            f.write_str(" ")?;
            letters(f, self.flags.0, b"UVWT")?;
        }
        Ok(())
    }
}

impl fmt::Display for MpExperimental {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mp_experimental flags {:#x}", self.flags)?;
        if !self.data.is_empty() {
            write!(f, " data {}", Hex(self.data.as_slice()))?;
        }
        Ok(())
    }
}

impl fmt::Display for MptcpOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MptcpOption::Capable(o) => o.fmt(f),
            MptcpOption::Join(o) => o.fmt(f),
            MptcpOption::Dss(o) => o.fmt(f),
            MptcpOption::AddAddr(o) => o.fmt(f),
            MptcpOption::RemoveAddr(o) => o.fmt(f),
            MptcpOption::Prio(o) => o.fmt(f),
            MptcpOption::Fail(o) => o.fmt(f),
            MptcpOption::FastClose(o) => o.fmt(f),
            MptcpOption::TcpRst(o) => o.fmt(f),
            MptcpOption::Experimental(o) => o.fmt(f),
            MptcpOption::Unknown {
                subtype,
                flags,
                data,
            } => {
                write!(f, "mptcp subtype {subtype:#x} flags {flags:#x}")?;
                if !data.is_empty() {
                    write!(f, " data {}", Hex(data.as_slice()))?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for TcpOption<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOption::Eol => f.write_str("eol"),
            TcpOption::Nop => f.write_str("nop"),
            TcpOption::Mss(mss) => write!(f, "mss {mss}"),
            TcpOption::WindowScale(shift) => write!(f, "wscale {shift}"),
            TcpOption::SackPermitted => f.write_str("sackOK"),
            TcpOption::Sack(blocks) => {
                write!(f, "sack {}", blocks.len())?;
                for b in blocks.as_slice() {
                    write!(f, " {{{}:{}}}", b.left, b.right)?;
                }
                Ok(())
            }
            TcpOption::Timestamps { tsval, tsecr } => write!(f, "TS val {tsval} ecr {tsecr}"),
            TcpOption::Mptcp(m) => m.fmt(f),
            TcpOption::Unknown { kind, data } => {
                write!(f, "opt-{kind}")?;
                if !data.is_empty() {
                    write!(f, " {}", Hex(data))?;
                }
                Ok(())
            }
        }
    }
}
