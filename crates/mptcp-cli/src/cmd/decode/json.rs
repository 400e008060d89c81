//! The JSON form of a record: one object per line (see the format in
//! [`super`]). The objects are built here from the wire crate's values;
//! the wire crate itself knows nothing of JSON.

use std::net::IpAddr;

use mptcp_proto::crypto::MptcpVersion;
use mptcp_wire::{AddAddr, CapableBody, Dss, MpCapable, MpJoin, MptcpOption, TcpOption, WireSeq};
use serde::Serialize;

use super::packet::{Frame, KeyInfo, Opt, Record, TcpPacket, version_number};
use super::text::Hex;

/// One line of `--json` output.
#[derive(Serialize)]
#[serde(untagged)]
pub enum LineJson {
    /// A TCP segment.
    Tcp(PacketJson),
    /// A frame that could not be decoded.
    Malformed(MalformedFrameJson),
}

/// A TCP segment.
#[derive(Serialize)]
pub struct PacketJson {
    index: usize,
    time: f64,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    flags: String,
    seq: u32,
    ack: u32,
    window: u16,
    len: usize,
    options: Vec<OptionJson>,
}

/// A frame whose link, IP or TCP header is malformed.
#[derive(Serialize)]
pub struct MalformedFrameJson {
    index: usize,
    time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    src: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst: Option<IpAddr>,
    malformed: String,
}

/// One option: parsed, or `{"malformed": "<error>"}`.
#[derive(Serialize)]
#[serde(untagged)]
enum OptionJson {
    Parsed(TcpOptionJson),
    Malformed { malformed: String },
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum TcpOptionJson {
    Eol,
    Nop,
    Mss { value: u16 },
    Wscale { shift: u8 },
    SackPermitted,
    Sack { blocks: Vec<[u32; 2]> },
    Timestamps { tsval: u32, tsecr: u32 },
    Mptcp(MptcpJson),
    Unknown { code: u8, data: String },
}

/// An MPTCP option; keys come with their token and IDSN when the version
/// is known (`*_token`, `*_idsn`).
#[derive(Serialize)]
#[serde(tag = "subtype", rename_all = "snake_case")]
enum MptcpJson {
    MpCapable {
        version: u8,
        flags: u8,
        #[serde(flatten)]
        sender: Option<KeyJson>,
        #[serde(flatten)]
        receiver: Option<KeyJson>,
        #[serde(skip_serializing_if = "Option::is_none")]
        data_len: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none")]
        checksum: Option<u16>,
    },
    MpJoin(JoinJson),
    Dss(DssJson),
    AddAddr {
        version: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        echo: Option<bool>,
        #[serde(skip_serializing_if = "is_zero")]
        flags: u8,
        address_id: u8,
        addr: IpAddr,
        #[serde(skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none")]
        hmac: Option<String>,
    },
    RemoveAddr {
        address_ids: Vec<u8>,
        #[serde(skip_serializing_if = "is_zero")]
        reserved: u8,
    },
    MpPrio {
        backup: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        address_id: Option<u8>,
        #[serde(skip_serializing_if = "is_zero")]
        reserved: u8,
    },
    MpFail {
        dsn: u64,
        #[serde(skip_serializing_if = "is_zero")]
        reserved: u16,
    },
    MpFastclose {
        /// Inferred: MP_FASTCLOSE carries no version.
        version: u8,
        #[serde(flatten)]
        receiver: Option<KeyJson>,
        #[serde(skip_serializing_if = "is_zero")]
        reserved: u16,
    },
    MpTcprst {
        reason: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason_name: Option<&'static str>,
        transient: bool,
        flags: u8,
    },
    MpExperimental {
        flags: u8,
        data: String,
    },
    Unknown {
        code: u8,
        flags: u8,
        data: String,
    },
}

#[derive(Serialize)]
struct JoinJson {
    phase: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hmac: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    reserved: u16,
}

#[derive(Serialize)]
struct DssJson {
    data_fin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_ack: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_ack_64: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dsn: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dsn_64: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subflow_seq: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_len: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum: Option<u16>,
    #[serde(skip_serializing_if = "is_zero")]
    reserved: u8,
    #[serde(skip_serializing_if = "is_zero")]
    unused_flags: u8,
}

/// Field names for a key, its token and its IDSN.
type KeyNames = [&'static str; 3];

const SENDER: KeyNames = ["sender_key", "sender_token", "sender_idsn"];
const RECEIVER: KeyNames = ["receiver_key", "receiver_token", "receiver_idsn"];

/// A key, flattened into its option as `<role>_key`, `<role>_token` and
/// `<role>_idsn` (the last two only when the version is known).
struct KeyJson {
    names: KeyNames,
    key: u64,
    derived: Option<KeyInfo>,
}

impl KeyJson {
    fn new(names: KeyNames, key: u64, version: Option<MptcpVersion>) -> KeyJson {
        KeyJson {
            names,
            key,
            derived: KeyInfo::derive(key, version),
        }
    }
}

impl Serialize for KeyJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let [key, token, idsn] = self.names;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(key, &self.key)?;
        if let Some(d) = self.derived {
            map.serialize_entry(token, &d.token)?;
            map.serialize_entry(idsn, &d.idsn)?;
        }
        map.end()
    }
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The JSON object of a record.
pub fn line(r: &Record<'_>) -> LineJson {
    let time = r.time.as_secs_f64();
    match &r.frame {
        Frame::Tcp(p) => LineJson::Tcp(packet(r.index, time, p)),
        Frame::Malformed { addrs, error } => LineJson::Malformed(MalformedFrameJson {
            index: r.index,
            time,
            src: addrs.map(|a| a.0),
            dst: addrs.map(|a| a.1),
            malformed: error.to_string(),
        }),
    }
}

fn packet(index: usize, time: f64, p: &TcpPacket<'_>) -> PacketJson {
    let s = &p.segment;
    PacketJson {
        index,
        time,
        src: p.src,
        dst: p.dst,
        sport: s.src_port(),
        dport: s.dst_port(),
        flags: s.flags().to_string(),
        seq: s.seq().0,
        ack: s.ack().0,
        window: s.window(),
        len: p.len,
        options: p.options.iter().map(option).collect(),
    }
}

fn option(o: &Opt<'_>) -> OptionJson {
    let parsed = match o {
        Opt::Malformed(_, e) => {
            return OptionJson::Malformed {
                malformed: e.to_string(),
            };
        }
        Opt::Mptcp(m, version) => TcpOptionJson::Mptcp(mptcp(m, *version)),
        Opt::Tcp(o) => tcp(o),
    };
    OptionJson::Parsed(parsed)
}

fn tcp(o: &TcpOption<'_>) -> TcpOptionJson {
    match *o {
        TcpOption::Eol => TcpOptionJson::Eol,
        TcpOption::Nop => TcpOptionJson::Nop,
        TcpOption::Mss(value) => TcpOptionJson::Mss { value },
        TcpOption::WindowScale(shift) => TcpOptionJson::Wscale { shift },
        TcpOption::SackPermitted => TcpOptionJson::SackPermitted,
        TcpOption::Sack(blocks) => TcpOptionJson::Sack {
            blocks: blocks
                .as_slice()
                .iter()
                .map(|b| [b.left.0, b.right.0])
                .collect(),
        },
        TcpOption::Timestamps { tsval, tsecr } => TcpOptionJson::Timestamps { tsval, tsecr },
        TcpOption::Mptcp(m) => TcpOptionJson::Mptcp(mptcp(&m, None)),
        TcpOption::Unknown { kind, data } => TcpOptionJson::Unknown {
            code: kind,
            data: Hex(data).to_string(),
        },
    }
}

fn mptcp(m: &MptcpOption, v: Option<MptcpVersion>) -> MptcpJson {
    match m {
        MptcpOption::Capable(c) => capable(c, v),
        MptcpOption::Join(j) => MptcpJson::MpJoin(join(j)),
        MptcpOption::Dss(d) => MptcpJson::Dss(dss(d)),
        MptcpOption::AddAddr(a) => add_addr(a),
        MptcpOption::RemoveAddr(r) => MptcpJson::RemoveAddr {
            address_ids: r.ids.as_slice().to_vec(),
            reserved: r.reserved,
        },
        MptcpOption::Prio(p) => MptcpJson::MpPrio {
            backup: p.backup(),
            address_id: p.address_id,
            reserved: p.flags.0 >> 1,
        },
        MptcpOption::Fail(x) => MptcpJson::MpFail {
            dsn: x.dsn,
            reserved: x.reserved,
        },
        MptcpOption::FastClose(x) => MptcpJson::MpFastclose {
            version: v.map_or(1, version_number),
            receiver: Some(KeyJson::new(RECEIVER, x.receiver_key, v)),
            reserved: x.reserved,
        },
        MptcpOption::TcpRst(r) => MptcpJson::MpTcprst {
            reason: r.reason.0,
            reason_name: r.reason.name(),
            transient: r.flags.transient(),
            flags: r.flags.0,
        },
        MptcpOption::Experimental(x) => MptcpJson::MpExperimental {
            flags: x.flags,
            data: Hex(x.data.as_slice()).to_string(),
        },
        MptcpOption::Unknown {
            subtype,
            flags,
            data,
        } => MptcpJson::Unknown {
            code: *subtype,
            flags: *flags,
            data: Hex(data.as_slice()).to_string(),
        },
    }
}

fn capable(c: &MpCapable, v: Option<MptcpVersion>) -> MptcpJson {
    let (data_len, checksum) = match c.body {
        CapableBody::BothKeysWithData {
            data_len, checksum, ..
        } => (Some(data_len), checksum),
        _ => (None, None),
    };
    MptcpJson::MpCapable {
        version: c.version.0,
        flags: c.flags.0,
        sender: c.sender_key().map(|k| KeyJson::new(SENDER, k, v)),
        receiver: c.receiver_key().map(|k| KeyJson::new(RECEIVER, k, v)),
        data_len,
        checksum,
    }
}

fn join(j: &MpJoin) -> JoinJson {
    let empty = JoinJson {
        phase: "ack",
        backup: None,
        address_id: None,
        token: None,
        nonce: None,
        hmac: None,
        reserved: 0,
    };
    match *j {
        MpJoin::Syn {
            flags,
            address_id,
            token,
            nonce,
        } => JoinJson {
            phase: "syn",
            backup: Some(flags.backup()),
            address_id: Some(address_id),
            token: Some(token),
            nonce: Some(nonce),
            reserved: u16::from(flags.0 >> 1),
            ..empty
        },
        MpJoin::SynAck {
            flags,
            address_id,
            truncated_hmac,
            nonce,
        } => JoinJson {
            phase: "syn-ack",
            backup: Some(flags.backup()),
            address_id: Some(address_id),
            nonce: Some(nonce),
            hmac: Some(format!("{truncated_hmac:016x}")),
            reserved: u16::from(flags.0 >> 1),
            ..empty
        },
        MpJoin::Ack { reserved, hmac } => JoinJson {
            hmac: Some(Hex(&hmac).to_string()),
            reserved,
            ..empty
        },
    }
}

fn dss(d: &Dss) -> DssJson {
    let m = d.mapping;
    DssJson {
        data_fin: d.data_fin,
        data_ack: d.data_ack.map(WireSeq::raw),
        data_ack_64: d.data_ack.map(WireSeq::is_long),
        dsn: m.map(|m| m.dsn.raw()),
        dsn_64: m.map(|m| m.dsn.is_long()),
        subflow_seq: m.map(|m| m.subflow_seq),
        data_len: m.map(|m| m.data_len),
        checksum: m.and_then(|m| m.checksum),
        reserved: d.reserved,
        unused_flags: d.unused_flags,
    }
}

fn add_addr(a: &AddAddr) -> MptcpJson {
    let (version, echo, flags, hmac) = match *a {
        AddAddr::V0 { .. } => (0, None, 0, None),
        AddAddr::V1 { flags, hmac, .. } => (
            1,
            Some(flags.echo()),
            flags.0 & !1,
            hmac.map(|h| format!("{h:016x}")),
        ),
    };
    MptcpJson::AddAddr {
        version,
        echo,
        flags,
        address_id: a.address_id(),
        addr: a.addr(),
        port: a.port(),
        hmac,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::decode::packet::RelTime;
    use mptcp_wire::{CapableFlags, ParseError, Version};
    use serde_json::{Value, json};

    fn to_value(o: Opt<'_>) -> Value {
        serde_json::to_value(option(&o)).unwrap()
    }

    #[test]
    fn capable_keys_come_with_tokens() {
        let c = MpCapable {
            version: Version::V1,
            flags: CapableFlags::HMAC_SHA,
            body: CapableBody::BothKeys {
                sender: 0xfe7b_93dc_894d_cb73,
                receiver: 1,
            },
        };
        let v = to_value(Opt::Mptcp(c.into(), Some(MptcpVersion::V1)));
        assert_eq!(v["kind"], "mptcp");
        assert_eq!(v["subtype"], "mp_capable");
        assert_eq!(v["sender_key"], json!(0xfe7b_93dc_894d_cb73u64));
        assert_eq!(v["sender_token"], json!(0xc43e_b50eu32));
        assert_eq!(v["sender_idsn"], json!(3_891_854_986_895_050_394u64));
        assert_eq!(v["receiver_key"], json!(1));
        assert!(v.get("data_len").is_none());
        // An unknown version: the keys without tokens.
        let v = to_value(Opt::Mptcp(c.into(), None));
        assert!(v.get("sender_token").is_none());
        assert_eq!(v["receiver_key"], json!(1));
    }

    #[test]
    fn plain_options_and_malformed_ones() {
        assert_eq!(
            to_value(Opt::Tcp(TcpOption::Mss(1460))),
            json!({"kind": "mss", "value": 1460})
        );
        assert_eq!(
            to_value(Opt::Tcp(TcpOption::SackPermitted)),
            json!({"kind": "sack_permitted"})
        );
        let e = ParseError::truncated("DSS flags", 58, 2, 1);
        assert_eq!(
            to_value(Opt::Malformed(Some(30), e)),
            json!({"malformed": e.to_string()})
        );
    }

    #[test]
    fn malformed_frames_keep_their_number_and_time() {
        let r = Record {
            index: 7,
            time: RelTime(1_500_000_000),
            frame: Frame::Malformed {
                addrs: None,
                error: ParseError::truncated("IPv4 header", 0, 20, 8),
            },
        };
        let v = serde_json::to_value(line(&r)).unwrap();
        assert_eq!(
            v,
            json!({"index": 7, "time": 1.5, "malformed":
                "truncated IPv4 header: needs 20 bytes, 8 available at byte 0"})
        );
        assert_eq!(
            super::super::text::Line(&r).to_string(),
            "7 1.500000 [malformed: truncated IPv4 header: needs 20 bytes, 8 available at byte 0]"
        );
    }

    #[test]
    fn join_hmacs_are_hex_strings() {
        let j = MpJoin::Ack {
            reserved: 0,
            hmac: [0xab; 20],
        };
        let v = to_value(Opt::Mptcp(j.into(), None));
        assert_eq!(v["subtype"], "mp_join");
        assert_eq!(v["phase"], "ack");
        assert_eq!(v["hmac"], "ab".repeat(20));
    }
}
