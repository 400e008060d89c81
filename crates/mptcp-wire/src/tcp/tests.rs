use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::error::ParseErrorKind;
use crate::mptcp::{Dss, MptcpOption, WireSeq};

const V4: (IpAddr, IpAddr) = (
    IpAddr::V4(Ipv4Addr::new(10, 77, 1, 1)),
    IpAddr::V4(Ipv4Addr::new(10, 77, 1, 2)),
);

fn repr() -> TcpRepr {
    TcpRepr {
        src_port: 40000,
        dst_port: 5001,
        seq: SubflowSeq(0xfffffff0),
        ack: SubflowSeq(7),
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window: 502,
        urgent: 0,
    }
}

#[test]
fn emit_then_parse_v4_and_v6() {
    let dss = MptcpOption::Dss(Dss {
        data_ack: Some(WireSeq::Long(1)),
        ..Dss::default()
    });
    let opts = [
        TcpOption::Nop,
        TcpOption::Nop,
        TcpOption::Timestamps { tsval: 9, tsecr: 8 },
        dss.into(),
    ];
    let v6 = (
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)),
    );
    for (src, dst) in [V4, v6] {
        let mut buf = [0u8; 100];
        let n = emit_segment(&repr(), &opts, b"hello", src, dst, &mut buf).unwrap();
        assert_eq!(n, 20 + 24 + 5);
        let seg = TcpSegment::parse(&buf[..n]).unwrap();
        assert!(seg.verify_checksum(src, dst));
        // Swapping the addresses keeps the sum; another address does not.
        assert!(seg.verify_checksum(dst, src));
        let other = match src {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(10, 77, 2, 1)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 3)),
        };
        assert!(!seg.verify_checksum(other, dst));
        assert!(!seg.verify_checksum(V4.0, v6.1));
        assert_eq!(seg.repr(), repr());
        assert_eq!(seg.header_len(), 44);
        assert_eq!(seg.payload(), b"hello");
        let parsed: Vec<_> = seg.options().map(Result::unwrap).collect();
        assert_eq!(parsed, opts);
        // Any flipped bit breaks the checksum.
        buf[30] ^= 0x10;
        assert!(
            !TcpSegment::parse(&buf[..n])
                .unwrap()
                .verify_checksum(src, dst)
        );
    }
}

#[test]
fn parse_errors() {
    let mut buf = [0u8; 64];
    let n = emit_segment(&repr(), &[TcpOption::Mss(1400)], &[], V4.0, V4.1, &mut buf).unwrap();
    assert_eq!(n, 24);
    let e = TcpSegment::parse(&buf[..19]).unwrap_err();
    assert_eq!(e, ParseError::truncated("TCP header", 0, 20, 19));
    let e = TcpSegment::parse(&buf[..22]).unwrap_err();
    assert_eq!(e, ParseError::truncated("TCP options", 20, 4, 2));
    buf[12] = 0x40;
    let e = TcpSegment::parse(&buf[..24]).unwrap_err();
    assert_eq!(
        e.kind,
        ParseErrorKind::BadLength {
            what: "TCP data offset",
            len: 16
        }
    );
}

#[test]
fn emit_errors() {
    let mut buf = [0u8; 64];
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(
        emit_segment(&repr(), &[], &[], V4.0, v6, &mut buf),
        Err(EmitError::AddressFamilyMismatch)
    );
    assert_eq!(
        emit_segment(&repr(), &[], &[0; 50], V4.0, V4.1, &mut buf),
        Err(EmitError::BufferTooSmall {
            needed: 70,
            available: 64
        })
    );
    let big = TcpRepr {
        flags: TcpFlags(0x1000),
        ..repr()
    };
    assert!(matches!(
        emit_segment(&big, &[], &[], V4.0, V4.1, &mut buf),
        Err(EmitError::BadValue { .. })
    ));
    let ts = TcpOption::Timestamps { tsval: 0, tsecr: 0 };
    assert!(matches!(
        emit_segment(&repr(), &[ts; 5], &[], V4.0, V4.1, &mut buf),
        Err(EmitError::OptionSpaceExceeded { needed: 52, .. })
    ));
}

#[test]
fn partial_checksum_is_recognised() {
    let mut buf = [0u8; 64];
    let n = emit_segment(&repr(), &[], b"xyz", V4.0, V4.1, &mut buf).unwrap();
    let (src, dst) = match V4 {
        (IpAddr::V4(s), IpAddr::V4(d)) => (s, d),
        _ => unreachable!(),
    };
    let pseudo = crate::checksum::pseudo_header_v4(src, dst, 6, n as u16).sum();
    buf[16..18].copy_from_slice(&pseudo.to_be_bytes());
    let seg = TcpSegment::parse(&buf[..n]).unwrap();
    assert!(seg.checksum_is_partial(V4.0, V4.1));
    assert!(!seg.verify_checksum(V4.0, V4.1));
}

#[test]
fn flags_display_like_tcpdump() {
    assert_eq!((TcpFlags::SYN | TcpFlags::ACK).to_string(), "[S.]");
    assert_eq!(TcpFlags::ACK.to_string(), "[.]");
    assert_eq!((TcpFlags::RST | TcpFlags::ACK).to_string(), "[R.]");
    assert_eq!(TcpFlags::NONE.to_string(), "[none]");
    assert_eq!(TcpFlags(0x212).to_string(), "[S.+0x200]");
    assert!(TcpFlags(0x12).syn() && TcpFlags(0x12).ack() && !TcpFlags(0x12).fin());
}

#[test]
fn partial_checksums_complete_to_the_full_one() {
    let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let dst = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let opts = [TcpOption::Timestamps { tsval: 1, tsecr: 2 }];
    let payload = b"an odd-length payload";
    let mut full = [0u8; 100];
    let n = emit_segment(&repr(), &opts, payload, src, dst, &mut full).unwrap();
    let mut partial = [0u8; 100];
    let m = emit_segment_partial(&repr(), &opts, payload, src, dst, &mut partial).unwrap();
    assert_eq!(n, m);
    assert_eq!(full[..16], partial[..16], "all but the checksum agree");
    assert_eq!(full[18..n], partial[18..n]);
    // What a device does: sum the segment, the partial field included.
    let completed = crate::checksum::checksum(&partial[..m]);
    assert_eq!(completed.to_be_bytes(), [full[16], full[17]]);
}
