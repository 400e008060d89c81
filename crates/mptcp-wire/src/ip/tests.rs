use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::error::{EmitError, ParseErrorKind};

/// A 20-byte IPv4 header for `payload_len` bytes of TCP, from the emitter.
fn v4_header(payload_len: usize) -> Vec<u8> {
    let repr = Ipv4Repr {
        src: Ipv4Addr::new(10, 77, 1, 1),
        dst: Ipv4Addr::new(10, 77, 1, 2),
        protocol: IpProtocol::TCP,
        ttl: 64,
        dscp: 0x0a,
        ecn: 2,
        ident: 0x1234,
        dont_fragment: true,
    };
    let mut buf = vec![0u8; 20];
    assert_eq!(repr.emit(&mut buf, payload_len), Ok(20));
    buf
}

#[test]
fn ipv4_known_header() {
    // tcpdump_mptcp-dss-oobr.pcap, after the Ethernet header.
    let hdr = [
        0x45, 0x10, 0x00, 0x3c, 0x9c, 0x37, 0x40, 0x00, 0x40, 0x06, 0xa0, 0x72, 0x7f, 0x00, 0x00,
        0x01, 0x7f, 0x00, 0x00, 0x01,
    ];
    let mut pkt = hdr.to_vec();
    pkt.extend_from_slice(&[0u8; 40]);
    let p = Ipv4Packet::parse(&pkt).unwrap();
    assert!(p.verify_header_checksum());
    assert_eq!(
        (p.src(), p.dst()),
        (Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST)
    );
    assert_eq!(p.protocol(), IpProtocol::TCP);
    assert_eq!((p.ttl(), p.ident(), p.total_len()), (64, 0x9c37, 60));
    assert_eq!((p.dscp(), p.ecn()), (4, 0));
    assert!(p.dont_fragment() && !p.is_fragment() && !p.is_truncated());
    assert_eq!(p.payload().len(), 40);
    // Emitting the same fields gives the same bytes.
    let mut again = [0u8; 20];
    p.repr().emit(&mut again, 40).unwrap();
    assert_eq!(again, hdr);
}

#[test]
fn ipv4_truncated_and_padded() {
    let mut pkt = v4_header(30);
    pkt.extend_from_slice(&[7u8; 10]);
    let p = Ipv4Packet::parse(&pkt).unwrap();
    assert!(p.is_truncated());
    assert_eq!(p.payload(), &[7u8; 10]);
    // Ethernet padding past the total length is not payload.
    let mut padded = v4_header(2);
    padded.extend_from_slice(&[1, 2, 0, 0, 0, 0]);
    let p = Ipv4Packet::parse(&padded).unwrap();
    assert!(!p.is_truncated());
    assert_eq!(p.payload(), &[1, 2]);
}

#[test]
fn ipv4_errors() {
    let hdr = v4_header(0);
    let e = Ipv4Packet::parse(&hdr[..19]).unwrap_err();
    assert_eq!(e, ParseError::truncated("IPv4 header", 0, 20, 19));
    let mut bad = hdr.clone();
    bad[0] = 0x44;
    assert_eq!(
        Ipv4Packet::parse(&bad).unwrap_err().kind,
        ParseErrorKind::BadLength {
            what: "IPv4 header (IHL)",
            len: 16
        }
    );
    bad[0] = 0x46;
    let e = Ipv4Packet::parse(&bad).unwrap_err();
    assert!(matches!(
        e.kind,
        ParseErrorKind::Truncated {
            what: "IPv4 options",
            ..
        }
    ));
    assert_eq!(e.offset, 20);
    let mut short_total = hdr.clone();
    short_total[3] = 19;
    assert!(matches!(
        Ipv4Packet::parse(&short_total).unwrap_err().kind,
        ParseErrorKind::BadLength { len: 19, .. }
    ));
    assert!(matches!(
        IpPacket::parse(&[0x55; 40]).unwrap_err().kind,
        ParseErrorKind::BadValue {
            what: "IP version",
            value: 5
        }
    ));
    assert!(IpPacket::parse(&[]).is_err());
}

#[test]
fn ipv4_options_are_skipped() {
    let mut pkt = v4_header(4);
    pkt[0] = 0x46;
    pkt[3] = 28;
    pkt.splice(20..20, [1, 1, 1, 0]);
    pkt.extend_from_slice(&[9, 9, 9, 9]);
    let p = Ipv4Packet::parse(&pkt).unwrap();
    assert_eq!(
        (p.header_len(), p.options(), p.payload()),
        (24, &[1, 1, 1, 0][..], &[9u8; 4][..])
    );
}

#[test]
fn ipv4_emit_checks_fields() {
    let repr = Ipv4Packet::parse(&v4_header(0)).unwrap().repr();
    assert!(matches!(
        repr.emit(&mut [0; 20], 65_516),
        Err(EmitError::TooLong { .. })
    ));
    assert!(matches!(
        Ipv4Repr { dscp: 64, ..repr }.emit(&mut [0; 20], 0),
        Err(EmitError::BadValue { .. })
    ));
    assert!(matches!(
        repr.emit(&mut [0; 19], 0),
        Err(EmitError::BufferTooSmall {
            needed: 20,
            available: 19
        })
    ));
}

fn v6_repr(next: IpProtocol) -> Ipv6Repr {
    Ipv6Repr {
        src: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        dst: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
        next_header: next,
        hop_limit: 63,
        dscp: 46,
        ecn: 1,
        flow_label: 0xabcde,
    }
}

#[test]
fn ipv6_roundtrip_and_fields() {
    let repr = v6_repr(IpProtocol::TCP);
    let mut pkt = vec![0u8; 40];
    repr.emit(&mut pkt, 3).unwrap();
    pkt.extend_from_slice(&[1, 2, 3]);
    let p = Ipv6Packet::parse(&pkt).unwrap();
    assert_eq!(p.repr(), repr);
    assert_eq!(
        (p.payload_len(), p.payload(), p.payload_offset()),
        (3, &[1, 2, 3][..], 40)
    );
    let ip = IpPacket::parse(&pkt).unwrap();
    assert_eq!(ip.src(), IpAddr::V6(repr.src));
    assert_eq!(ip.hop_limit(), 63);
}

#[test]
fn ipv6_extension_headers_are_skipped() {
    let mut pkt = vec![0u8; 40];
    // Hop-by-hop (8 bytes) -> destination options (16 bytes) -> TCP.
    let ext: [u8; 24] = {
        let mut e = [0u8; 24];
        e[0] = IpProtocol::IPV6_DEST_OPTS.0;
        e[8] = IpProtocol::TCP.0;
        e[9] = 1;
        e
    };
    v6_repr(IpProtocol::HOP_BY_HOP).emit(&mut pkt, 26).unwrap();
    pkt.extend_from_slice(&ext);
    pkt.extend_from_slice(&[0xaa, 0xbb]);
    let p = Ipv6Packet::parse(&pkt).unwrap();
    assert_eq!(p.next_header(), IpProtocol::HOP_BY_HOP);
    assert_eq!(p.protocol(), IpProtocol::TCP);
    assert_eq!((p.payload_offset(), p.payload()), (64, &[0xaa, 0xbb][..]));
    // Cut inside the second extension header.
    let e = Ipv6Packet::parse(&pkt[..55]).unwrap_err();
    assert!(matches!(
        e.kind,
        ParseErrorKind::Truncated {
            what: "IPv6 extension header",
            ..
        }
    ));
    assert_eq!(e.offset, 48);
}

#[test]
fn ipv6_fragment_is_unsupported() {
    let mut pkt = vec![0u8; 40];
    v6_repr(IpProtocol::IPV6_FRAGMENT)
        .emit(&mut pkt, 8)
        .unwrap();
    pkt.extend_from_slice(&[6, 0, 0, 1, 0, 0, 0, 1]);
    let e = Ipv6Packet::parse(&pkt).unwrap_err();
    assert_eq!(
        e.kind,
        ParseErrorKind::Unsupported {
            what: "IPv6 fragment header"
        }
    );
    assert_eq!(e.offset, 40);
}

#[test]
fn tcp_errors_count_from_the_ip_header() {
    let mut pkt = v4_header(20);
    pkt.extend_from_slice(&[0u8; 20]);
    // Data offset 4 words: below the minimum.
    pkt[32] = 0x40;
    let e = IpPacket::parse(&pkt).unwrap().tcp().unwrap_err();
    assert_eq!(e, ParseError::bad_length("TCP data offset", 32, 16));
    let mut udp = v4_header(0);
    udp[9] = 17;
    let e = IpPacket::parse(&udp).unwrap().tcp().unwrap_err();
    assert!(matches!(e.kind, ParseErrorKind::BadValue { value: 17, .. }));
}
