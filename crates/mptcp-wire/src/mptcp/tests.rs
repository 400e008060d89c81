//! Hand-built vectors for every suboption form, from the RFC figures.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::error::ParseErrorKind;
use crate::seq::DataSeq;

/// Parse `bytes`, check that re-emitting gives them back, return the value.
fn roundtrip(bytes: &[u8]) -> MptcpOption {
    let opt = MptcpOption::parse(bytes).unwrap_or_else(|e| panic!("{bytes:02x?}: {e}"));
    assert_eq!(opt.len(), bytes.len());
    let mut buf = [0u8; 40];
    let n = opt.emit(&mut buf).unwrap();
    assert_eq!(&buf[..n], bytes, "{opt:?}");
    opt
}

fn err(bytes: &[u8]) -> ParseError {
    MptcpOption::parse(bytes).expect_err("should not parse")
}

const KEY_A: [u8; 8] = [0x1f, 0xdb, 0x5d, 0xf3, 0x28, 0xbc, 0x3d, 0xef];
const KEY_B: [u8; 8] = [0x29, 0xa6, 0xc8, 0x69, 0x81, 0xad, 0x93, 0x3c];

fn option(len: u8, first: u8, rest: &[&[u8]]) -> Vec<u8> {
    let mut v = vec![30, len, first];
    for r in rest {
        v.extend_from_slice(r);
    }
    assert_eq!(v.len(), usize::from(len));
    v
}

#[test]
fn mp_capable_all_forms() {
    let syn = roundtrip(&option(4, 0x01, &[&[0x01]]));
    assert_eq!(
        syn,
        MptcpOption::Capable(MpCapable {
            version: Version::V1,
            flags: CapableFlags::HMAC_SHA,
            body: CapableBody::NoKey,
        })
    );
    let v0_syn = roundtrip(&option(12, 0x00, &[&[0x81], &KEY_A]));
    let MptcpOption::Capable(c) = v0_syn else {
        panic!()
    };
    assert_eq!(c.version, Version::V0);
    assert!(c.flags.checksum_required());
    assert_eq!(c.body, CapableBody::SenderKey(0x1fdb5df328bc3def));
    let ack = roundtrip(&option(20, 0x01, &[&[0x01], &KEY_A, &KEY_B]));
    let MptcpOption::Capable(c) = ack else {
        panic!()
    };
    assert_eq!(c.sender_key(), Some(0x1fdb5df328bc3def));
    assert_eq!(c.receiver_key(), Some(0x29a6c86981ad933c));
    let data = roundtrip(&option(22, 0x01, &[&[0x01], &KEY_A, &KEY_B, &[0x20, 0x00]]));
    let MptcpOption::Capable(c) = data else {
        panic!()
    };
    assert!(matches!(
        c.body,
        CapableBody::BothKeysWithData {
            data_len: 8192,
            checksum: None,
            ..
        }
    ));
    let csum = roundtrip(&option(
        24,
        0x01,
        &[&[0x81], &KEY_A, &KEY_B, &[0, 5, 0xab, 0xcd]],
    ));
    let MptcpOption::Capable(c) = csum else {
        panic!()
    };
    assert!(matches!(
        c.body,
        CapableBody::BothKeysWithData {
            data_len: 5,
            checksum: Some(0xabcd),
            ..
        }
    ));
    // Unknown version and reserved flags D..G survive.
    let odd = roundtrip(&option(4, 0x0f, &[&[0x1e]]));
    assert!(matches!(odd, MptcpOption::Capable(c) if c.version == Version(15)));
    let e = err(&option(8, 0x01, &[&[0x01], &[0; 4]]));
    assert_eq!(
        e.kind,
        ParseErrorKind::BadLength {
            what: "MP_CAPABLE (4, 12, 20, 22 or 24)",
            len: 8
        }
    );
    assert_eq!(e.offset, 1);
}

#[test]
fn mp_join_all_forms() {
    let syn = roundtrip(&option(
        12,
        0x11,
        &[&[3], &[0xaa, 0xbb, 0xcc, 0xdd], &[0, 0, 1, 2]],
    ));
    assert_eq!(
        syn,
        MptcpOption::Join(MpJoin::Syn {
            flags: BackupFlags::BACKUP,
            address_id: 3,
            token: 0xaabbccdd,
            nonce: 0x0102,
        })
    );
    let MptcpOption::Join(j) = syn else { panic!() };
    assert!(j.backup());
    assert_eq!(j.address_id(), Some(3));
    let synack = roundtrip(&option(16, 0x10, &[&[0], &KEY_A, &[1, 2, 3, 4]]));
    assert_eq!(
        synack,
        MptcpOption::Join(MpJoin::SynAck {
            flags: BackupFlags::NONE,
            address_id: 0,
            truncated_hmac: 0x1fdb5df328bc3def,
            nonce: 0x01020304,
        })
    );
    let hmac: [u8; 20] = core::array::from_fn(|i| i as u8);
    let ack = roundtrip(&option(24, 0x10, &[&[0], &hmac]));
    assert_eq!(ack, MptcpOption::Join(MpJoin::Ack { reserved: 0, hmac }));
    // Reserved bits in every form survive.
    roundtrip(&option(12, 0x1f, &[&[3], &[0; 8]]));
    let ack = roundtrip(&option(24, 0x1a, &[&[0xbc], &hmac]));
    assert!(matches!(
        ack,
        MptcpOption::Join(MpJoin::Ack {
            reserved: 0xabc,
            ..
        })
    ));
    assert!(err(&option(20, 0x10, &[&[0; 17]])).offset == 1);
}

#[test]
fn dss_flag_combinations() {
    // A only, 4-byte ack.
    let ack4 = roundtrip(&option(8, 0x20, &[&[0x01], &[0, 0, 4, 0xd2]]));
    assert_eq!(
        ack4,
        MptcpOption::Dss(Dss {
            data_ack: Some(WireSeq::Short(1234)),
            ..Dss::default()
        })
    );
    // A a: 8-byte ack.
    roundtrip(&option(12, 0x20, &[&[0x03], &KEY_A]));
    // A a M m: 26 bytes, the Linux v1 shape.
    let full = roundtrip(&option(
        26,
        0x20,
        &[&[0x0f], &KEY_A, &KEY_B, &[0, 0, 0, 1], &[0x20, 0]],
    ));
    let MptcpOption::Dss(d) = full else { panic!() };
    let m = d.mapping.unwrap();
    assert_eq!(m.dsn, WireSeq::Long(0x29a6c86981ad933c));
    assert_eq!((m.subflow_seq, m.data_len, m.checksum), (1, 8192, None));
    // All flags with checksum: the maximum, 28 bytes (RFC 8684 §3.3).
    let max = roundtrip(&option(
        28,
        0x20,
        &[&[0x1f], &KEY_A, &KEY_B, &[0, 0, 0, 1], &[0, 1, 0xab, 0xcd]],
    ));
    let MptcpOption::Dss(d) = max else { panic!() };
    assert!(d.data_fin);
    assert_eq!(d.mapping.unwrap().checksum, Some(0xabcd));
}

#[test]
fn dss_partial_and_odd_forms() {
    // M only, 4-byte DSN, with and without checksum (the v0 shapes: 20 and 18
    // bytes with a 4-byte ack).
    roundtrip(&option(
        14,
        0x20,
        &[&[0x04], &[0, 0, 0, 9], &[0, 0, 0, 1], &[0, 0]],
    ));
    roundtrip(&option(
        20,
        0x20,
        &[
            &[0x05],
            &[0; 4],
            &[0, 0, 0, 9],
            &[0, 0, 0, 1],
            &[0, 1, 0x08, 0x2f],
        ],
    ));
    // F alone, and F with an ack.
    let fin = roundtrip(&option(4, 0x20, &[&[0x10]]));
    assert!(matches!(fin, MptcpOption::Dss(d) if d.data_fin && d.data_ack.is_none()));
    roundtrip(&option(8, 0x20, &[&[0x11], &[0; 4]]));
    // Infinite mapping.
    let inf = roundtrip(&option(
        14,
        0x20,
        &[&[0x04], &[0, 0, 0, 9], &[0, 0, 0, 0], &[0, 0]],
    ));
    assert!(matches!(inf, MptcpOption::Dss(d) if d.mapping.unwrap().is_infinite()));
    // "a" and "m" without "A" and "M" are ignored but kept; reserved bits too.
    let odd = roundtrip(&option(4, 0x2f, &[&[0xea]]));
    assert!(matches!(odd, MptcpOption::Dss(d) if d.unused_flags == 0x0a && d.reserved == 0x7f));
    // Lengths that do not match the flags.
    assert!(matches!(
        err(&option(3, 0x20, &[])).kind,
        ParseErrorKind::Truncated { .. }
    ));
    assert!(matches!(
        err(&option(6, 0x20, &[&[0x01, 0, 0]])).kind,
        ParseErrorKind::BadLength { .. }
    ));
    assert!(matches!(
        err(&option(10, 0x20, &[&[0x01], &[0; 6]])).kind,
        ParseErrorKind::BadLength { .. }
    ));
}

#[test]
fn wire_seq_expands() {
    let near = DataSeq(0x1_ffff_fff0);
    assert_eq!(WireSeq::Short(0x10).expand(near), DataSeq(0x2_0000_0010));
    assert_eq!(WireSeq::Long(5).expand(near), DataSeq(5));
}

#[test]
fn add_addr_v1_and_v0() {
    let v4 = [10, 77, 2, 2];
    let hmac = [0x40, 0xbb, 0x6b, 0x87, 0x42, 0x20, 0x1c, 0x73];
    let a = roundtrip(&option(16, 0x30, &[&[1], &v4, &hmac]));
    assert_eq!(
        a,
        MptcpOption::AddAddr(AddAddr::V1 {
            flags: AddAddrFlags::NONE,
            address_id: 1,
            addr: IpAddr::V4(Ipv4Addr::new(10, 77, 2, 2)),
            port: None,
            hmac: Some(0x40bb6b8742201c73),
        })
    );
    let echo = roundtrip(&option(8, 0x31, &[&[1], &v4]));
    let MptcpOption::AddAddr(e) = echo else {
        panic!()
    };
    assert!(e.is_echo());
    assert_eq!(e.port(), None);
    roundtrip(&option(10, 0x31, &[&[1], &v4, &[0x1f, 0x90]]));
    let port = roundtrip(&option(18, 0x30, &[&[1], &v4, &[0x1f, 0x90], &hmac]));
    assert!(matches!(port, MptcpOption::AddAddr(a) if a.port() == Some(8080)));
    let v6 = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1).octets();
    for (len, extra) in [(20u8, 0usize), (22, 2), (28, 8), (30, 10)] {
        let tail = vec![0x11; extra];
        let o = roundtrip(&option(len, 0x30, &[&[9], &v6, &tail]));
        assert!(matches!(o, MptcpOption::AddAddr(a) if a.addr().is_ipv6()));
    }
    // v0: IPVer 4 or 6 in place of the flags.
    let v0 = roundtrip(&option(8, 0x34, &[&[1], &[10, 1, 2, 2]]));
    assert_eq!(
        v0,
        MptcpOption::AddAddr(AddAddr::V0 {
            address_id: 1,
            addr: IpAddr::V4(Ipv4Addr::new(10, 1, 2, 2)),
            port: None,
        })
    );
    roundtrip(&option(10, 0x34, &[&[1], &v4, &[0, 80]]));
    roundtrip(&option(20, 0x36, &[&[2], &v6]));
    roundtrip(&option(22, 0x36, &[&[2], &v6, &[0, 80]]));
    // v0 with a length of the other family, and impossible lengths.
    assert!(matches!(
        err(&option(20, 0x34, &[&[2], &v6])).kind,
        ParseErrorKind::BadLength { .. }
    ));
    assert!(matches!(
        err(&option(12, 0x30, &[&[2], &[0; 8]])).kind,
        ParseErrorKind::BadLength { .. }
    ));
    // A v1 value with flags 4 cannot be written: it would read as v0.
    let bad = MptcpOption::AddAddr(AddAddr::V1 {
        flags: AddAddrFlags(4),
        address_id: 1,
        addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: None,
        hmac: None,
    });
    assert!(matches!(
        bad.emit(&mut [0; 40]),
        Err(EmitError::BadValue { .. })
    ));
}

#[test]
fn remove_addr() {
    let one = roundtrip(&[30, 4, 0x40, 7]);
    assert!(matches!(one, MptcpOption::RemoveAddr(r) if r.ids.as_slice() == [7]));
    let many = roundtrip(&[30, 6, 0x45, 1, 2, 3]);
    assert!(matches!(many, MptcpOption::RemoveAddr(r) if r.reserved == 5 && r.ids.len() == 3));
    // At least one id.
    let e = err(&[30, 3, 0x40]);
    assert!(matches!(e.kind, ParseErrorKind::BadLength { len: 3, .. }));
    assert!(AddressIds::new(&[]).is_none());
    assert!(AddressIds::new(&[0; 38]).is_none());
    assert_eq!(AddressIds::one(4).as_slice(), [4]);
}

#[test]
fn prio_fail_fastclose_tcprst() {
    let p = roundtrip(&[30, 3, 0x51]);
    assert_eq!(
        p,
        MptcpOption::Prio(MpPrio {
            flags: BackupFlags::BACKUP,
            address_id: None,
        })
    );
    let p0 = roundtrip(&[30, 4, 0x50, 2]);
    assert!(matches!(p0, MptcpOption::Prio(p) if !p.backup() && p.address_id == Some(2)));
    assert!(err(&[30, 5, 0x50, 2, 3]).offset == 1);

    let f = roundtrip(&option(12, 0x60, &[&[0], &KEY_A]));
    assert_eq!(
        f,
        MptcpOption::Fail(MpFail {
            reserved: 0,
            dsn: 0x1fdb5df328bc3def,
        })
    );
    let fc = roundtrip(&option(12, 0x70, &[&[0], &KEY_B]));
    assert_eq!(
        fc,
        MptcpOption::FastClose(MpFastClose {
            reserved: 0,
            receiver_key: 0x29a6c86981ad933c,
        })
    );
    assert!(err(&option(11, 0x70, &[&[0; 8]])).offset == 1);

    let r = roundtrip(&[30, 4, 0x81, 6]);
    assert_eq!(
        r,
        MptcpOption::TcpRst(MpTcpRst {
            flags: TcpRstFlags::TRANSIENT,
            reason: ResetReason::MIDDLEBOX_INTERFERENCE,
        })
    );
    let unknown = roundtrip(&[30, 4, 0x8e, 200]);
    assert!(matches!(unknown, MptcpOption::TcpRst(r) if r.reason.name().is_none()));
}

#[test]
fn experimental_and_unknown_subtypes_are_kept_raw() {
    let x = roundtrip(&[30, 6, 0xf3, 1, 2, 3]);
    assert!(
        matches!(x, MptcpOption::Experimental(e) if e.flags == 3 && e.data.as_slice() == [1, 2, 3])
    );
    roundtrip(&[30, 3, 0xf0]);
    let u = roundtrip(&[30, 5, 0x9a, 0xff, 0xee]);
    assert!(matches!(u, MptcpOption::Unknown { subtype: 9, flags: 0xa, data } if data.len() == 2));
    assert_eq!(u.subtype(), 9);
    let long = [&[30u8, 41, 0xe0][..], &[0; 38]].concat();
    assert!(matches!(err(&long).kind, ParseErrorKind::BadLength { .. }));
}

#[test]
fn framing_errors() {
    assert!(matches!(err(&[]).kind, ParseErrorKind::Truncated { .. }));
    assert!(matches!(err(&[30]).kind, ParseErrorKind::Truncated { .. }));
    assert!(matches!(
        err(&[30, 2]).kind,
        ParseErrorKind::Truncated { .. }
    ));
    let e = err(&[2, 4, 5, 0xb4]);
    assert!(matches!(e.kind, ParseErrorKind::BadValue { value: 2, .. }));
    let e = err(&[30, 5, 0x20, 0x01]);
    assert_eq!(e, ParseError::bad_length("MPTCP option length byte", 1, 5));
    // The truncated 3-byte DSS from tcpdump's mptcp-dss-oobr test.
    let e = err(&[0x1e, 0x03, 0x20]);
    assert!(matches!(
        e.kind,
        ParseErrorKind::Truncated {
            needed: 2,
            available: 1,
            ..
        }
    ));
    assert_eq!(e.offset, 2);
}

#[test]
fn emit_checks_buffer_and_widths() {
    let o = MptcpOption::Fail(MpFail {
        reserved: 0,
        dsn: 1,
    });
    assert_eq!(
        o.emit(&mut [0; 11]),
        Err(EmitError::BufferTooSmall {
            needed: 12,
            available: 11,
        })
    );
    let o = MptcpOption::Fail(MpFail {
        reserved: 0x1000,
        dsn: 1,
    });
    assert!(matches!(
        o.emit(&mut [0; 12]),
        Err(EmitError::BadValue { .. })
    ));
    let o = MptcpOption::Capable(MpCapable {
        version: Version(16),
        flags: CapableFlags(0),
        body: CapableBody::NoKey,
    });
    assert!(matches!(
        o.emit(&mut [0; 12]),
        Err(EmitError::BadValue { .. })
    ));
}

#[test]
fn display_is_tcpdump_like() {
    let show = |b: &[u8]| MptcpOption::parse(b).unwrap().to_string();
    assert_eq!(
        show(&option(20, 0x01, &[&[0x01], &KEY_A, &KEY_B])),
        "mp_capable v1 flags [H] {0x1fdb5df328bc3def,0x29a6c86981ad933c}"
    );
    assert_eq!(
        show(&option(4, 0x01, &[&[0x81]])),
        "mp_capable v1 flags [AH]"
    );
    assert_eq!(
        show(&option(
            12,
            0x11,
            &[&[1], &[0, 0, 0, 0xab], &[0, 0, 0, 0xcd]]
        )),
        "mp_join syn id 1 token 0xab nonce 0xcd backup"
    );
    assert_eq!(
        show(&option(
            20,
            0x20,
            &[
                &[0x05],
                &[0, 0, 4, 0xd2],
                &[0, 0, 0x16, 0x2e],
                &[0, 0, 0, 1],
                &[0, 100, 0xab, 0xcd]
            ]
        )),
        "dss ack 1234 seq 5678 subseq 1 len 100 csum 0xabcd"
    );
    assert_eq!(
        show(&option(
            16,
            0x30,
            &[&[1], &[10, 77, 2, 2], &[0, 0, 0, 0, 0, 0, 0x12, 0x34]]
        )),
        "add_addr v1 id 1 10.77.2.2 hmac 0x1234"
    );
    assert_eq!(
        show(&option(8, 0x31, &[&[1], &[10, 0, 2, 1]])),
        "add_addr v1 echo id 1 10.0.2.1"
    );
    assert_eq!(
        show(&[30, 4, 0x81, 6]),
        "tcprst reason 6 (middlebox interference) [T]"
    );
    assert_eq!(show(&[30, 6, 0x40, 1, 2, 3]), "remove_addr id 1,2,3");
    assert_eq!(show(&[30, 3, 0x51]), "mp_prio backup");
}
