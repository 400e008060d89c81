//! proptest strategies for canonical values of every wire type: every form
//! of every MPTCP suboption, reserved bits arbitrary within their width.

#![allow(dead_code)] // each test binary uses a different part

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mptcp_wire::{
    AddAddr, AddAddrFlags, AddressIds, BackupFlags, CapableBody, CapableFlags, Dss, DssMapping,
    MpCapable, MpExperimental, MpFail, MpFastClose, MpJoin, MpPrio, MpTcpRst, MptcpOption,
    RawBytes, RemoveAddr, ResetReason, SackBlock, SackBlocks, SubflowSeq, TcpRstFlags, Version,
    WireSeq,
};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

pub fn nibble() -> impl Strategy<Value = u8> {
    0u8..16
}

pub fn reserved12() -> impl Strategy<Value = u16> {
    0u16..0x1000
}

pub fn ip_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

pub fn capable() -> impl Strategy<Value = MpCapable> {
    let body = prop_oneof![
        Just(CapableBody::NoKey),
        any::<u64>().prop_map(CapableBody::SenderKey),
        (any::<u64>(), any::<u64>())
            .prop_map(|(sender, receiver)| CapableBody::BothKeys { sender, receiver }),
        (any::<u64>(), any::<u64>(), any::<u16>(), of(any::<u16>())).prop_map(
            |(sender, receiver, data_len, checksum)| CapableBody::BothKeysWithData {
                sender,
                receiver,
                data_len,
                checksum,
            }
        ),
    ];
    (nibble(), any::<u8>(), body).prop_map(|(v, f, body)| MpCapable {
        version: Version(v),
        flags: CapableFlags(f),
        body,
    })
}

pub fn join() -> impl Strategy<Value = MpJoin> {
    prop_oneof![
        (nibble(), any::<u8>(), any::<u32>(), any::<u32>()).prop_map(|(f, id, token, nonce)| {
            MpJoin::Syn {
                flags: BackupFlags(f),
                address_id: id,
                token,
                nonce,
            }
        }),
        (nibble(), any::<u8>(), any::<u64>(), any::<u32>()).prop_map(|(f, id, hmac, nonce)| {
            MpJoin::SynAck {
                flags: BackupFlags(f),
                address_id: id,
                truncated_hmac: hmac,
                nonce,
            }
        }),
        (reserved12(), any::<[u8; 20]>())
            .prop_map(|(reserved, hmac)| MpJoin::Ack { reserved, hmac }),
    ]
}

pub fn wire_seq() -> impl Strategy<Value = WireSeq> {
    prop_oneof![
        any::<u32>().prop_map(WireSeq::Short),
        any::<u64>().prop_map(WireSeq::Long)
    ]
}

pub fn dss() -> impl Strategy<Value = Dss> {
    let mapping = (wire_seq(), any::<u32>(), any::<u16>(), of(any::<u16>())).prop_map(
        |(dsn, subflow_seq, data_len, checksum)| DssMapping {
            dsn,
            subflow_seq,
            data_len,
            checksum,
        },
    );
    let unused = prop_oneof![Just(0u8), Just(0x02), Just(0x08), Just(0x0a)];
    (
        of(wire_seq()),
        of(mapping),
        any::<bool>(),
        0u8..0x80,
        unused,
    )
        .prop_map(|(data_ack, mapping, data_fin, reserved, unused)| {
            // Canonical: "a" only without A, "m" only without M.
            let mut unused_flags = unused;
            if data_ack.is_some() {
                unused_flags &= !0x02;
            }
            if mapping.is_some() {
                unused_flags &= !0x08;
            }
            Dss {
                data_ack,
                mapping,
                data_fin,
                reserved,
                unused_flags,
            }
        })
}

pub fn add_addr() -> impl Strategy<Value = AddAddr> {
    let v1_flags = nibble().prop_filter("4 and 6 are v0 IPVer", |f| *f != 4 && *f != 6);
    prop_oneof![
        (any::<u8>(), ip_addr(), of(any::<u16>())).prop_map(|(address_id, addr, port)| {
            AddAddr::V0 {
                address_id,
                addr,
                port,
            }
        }),
        (
            v1_flags,
            any::<u8>(),
            ip_addr(),
            of(any::<u16>()),
            of(any::<u64>())
        )
            .prop_map(|(f, address_id, addr, port, hmac)| AddAddr::V1 {
                flags: AddAddrFlags(f),
                address_id,
                addr,
                port,
                hmac,
            }),
    ]
}

pub fn raw_bytes() -> impl Strategy<Value = RawBytes> {
    vec(any::<u8>(), 0..=RawBytes::CAPACITY).prop_map(|v| RawBytes::new(&v).expect("fits"))
}

pub fn mptcp_option() -> impl Strategy<Value = MptcpOption> {
    let ids = vec(any::<u8>(), 1..=AddressIds::CAPACITY)
        .prop_map(|v| AddressIds::new(&v).expect("1 to 37 ids"));
    prop_oneof![
        capable().prop_map(MptcpOption::Capable),
        join().prop_map(MptcpOption::Join),
        dss().prop_map(MptcpOption::Dss),
        add_addr().prop_map(MptcpOption::AddAddr),
        (nibble(), ids).prop_map(|(reserved, ids)| RemoveAddr { reserved, ids }.into()),
        (nibble(), of(any::<u8>())).prop_map(|(f, address_id)| MpPrio {
            flags: BackupFlags(f),
            address_id
        }
        .into()),
        (reserved12(), any::<u64>()).prop_map(|(reserved, dsn)| MpFail { reserved, dsn }.into()),
        (reserved12(), any::<u64>()).prop_map(|(reserved, receiver_key)| {
            MpFastClose {
                reserved,
                receiver_key,
            }
            .into()
        }),
        (nibble(), any::<u8>()).prop_map(|(f, r)| {
            MpTcpRst {
                flags: TcpRstFlags(f),
                reason: ResetReason(r),
            }
            .into()
        }),
        (nibble(), raw_bytes()).prop_map(|(flags, data)| MpExperimental { flags, data }.into()),
        (9u8..=14, nibble(), raw_bytes()).prop_map(|(subtype, flags, data)| MptcpOption::Unknown {
            subtype,
            flags,
            data
        }),
    ]
}

pub fn sack_blocks() -> impl Strategy<Value = SackBlocks> {
    vec((any::<u32>(), any::<u32>()), 1..=4).prop_map(|v| {
        let blocks: Vec<SackBlock> = v
            .into_iter()
            .map(|(l, r)| SackBlock {
                left: SubflowSeq(l),
                right: SubflowSeq(r),
            })
            .collect();
        SackBlocks::new(&blocks).expect("1 to 4 blocks")
    })
}

/// A TCP option, with the data of an unknown one owned.
#[derive(Clone, Debug)]
pub enum OwnedOption {
    Nop,
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    Sack(SackBlocks),
    Timestamps(u32, u32),
    Mptcp(MptcpOption),
    Unknown(u8, Vec<u8>),
}

impl OwnedOption {
    pub fn borrow(&self) -> mptcp_wire::TcpOption<'_> {
        use mptcp_wire::TcpOption as T;
        match self {
            OwnedOption::Nop => T::Nop,
            OwnedOption::Mss(m) => T::Mss(*m),
            OwnedOption::WindowScale(s) => T::WindowScale(*s),
            OwnedOption::SackPermitted => T::SackPermitted,
            OwnedOption::Sack(b) => T::Sack(*b),
            OwnedOption::Timestamps(tsval, tsecr) => T::Timestamps {
                tsval: *tsval,
                tsecr: *tsecr,
            },
            OwnedOption::Mptcp(m) => T::Mptcp(*m),
            OwnedOption::Unknown(kind, data) => T::Unknown { kind: *kind, data },
        }
    }
}

pub fn tcp_option() -> impl Strategy<Value = OwnedOption> {
    let unknown_kind = any::<u8>().prop_filter("not a parsed kind", |k| {
        ![0, 1, 2, 3, 4, 5, 8, 30].contains(k)
    });
    prop_oneof![
        Just(OwnedOption::Nop),
        any::<u16>().prop_map(OwnedOption::Mss),
        any::<u8>().prop_map(OwnedOption::WindowScale),
        Just(OwnedOption::SackPermitted),
        sack_blocks().prop_map(OwnedOption::Sack),
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| OwnedOption::Timestamps(a, b)),
        mptcp_option().prop_map(OwnedOption::Mptcp),
        (unknown_kind, vec(any::<u8>(), 0..12)).prop_map(|(k, d)| OwnedOption::Unknown(k, d)),
    ]
}

/// Option lists that fit the 40-byte option space.
pub fn tcp_options() -> impl Strategy<Value = Vec<OwnedOption>> {
    vec(tcp_option(), 0..6).prop_filter("fits in 40 bytes", |opts| {
        let list: Vec<_> = opts.iter().map(OwnedOption::borrow).collect();
        mptcp_wire::options_len(&list).is_ok()
    })
}
