//! `parse(emit(x)) == x` for every MPTCP suboption form, TCP option lists,
//! whole TCP segments (with a valid checksum) and IP headers.

mod strategies;

use std::net::{IpAddr, Ipv4Addr};

use mptcp_wire::{
    IpPacket, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, MptcpOption, SubflowSeq,
    TcpFlags, TcpOption, TcpOptions, TcpRepr, TcpSegment, emit_options, emit_segment,
};
use proptest::collection::vec;
use proptest::prelude::*;
use strategies::{OwnedOption, ip_addr, mptcp_option, tcp_options};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn mptcp_option_roundtrip(opt in mptcp_option()) {
        let mut buf = [0u8; 40];
        let n = opt.emit(&mut buf).expect("canonical values emit");
        prop_assert_eq!(n, opt.len());
        prop_assert_eq!(usize::from(buf[1]), n);
        let parsed = MptcpOption::parse(&buf[..n]).expect("emitted bytes parse");
        prop_assert_eq!(parsed, opt);
        // Display never panics and names something.
        prop_assert!(!parsed.to_string().is_empty());
        // Short buffers are an error, not a panic.
        prop_assert!(opt.emit(&mut buf[..n - 1]).is_err());
    }
}

proptest! {
    #[test]
    fn tcp_options_roundtrip(owned in tcp_options()) {
        let opts: Vec<TcpOption<'_>> = owned.iter().map(OwnedOption::borrow).collect();
        let mut buf = [0u8; 40];
        let n = emit_options(&opts, &mut buf).expect("fits");
        prop_assert_eq!(n % 4, 0);
        let parsed: Vec<_> = TcpOptions::new(&buf[..n])
            .collect::<Result<_, _>>()
            .expect("emitted options parse");
        // The padding reads back as NOPs.
        let raw: usize = opts.iter().map(TcpOption::len).sum();
        let mut expected = opts.clone();
        expected.extend(std::iter::repeat_n(TcpOption::Nop, n - raw));
        prop_assert_eq!(parsed, expected);
    }

    #[test]
    fn tcp_segment_roundtrip(
        owned in tcp_options(),
        payload in vec(any::<u8>(), 0..200),
        fields in (any::<u16>(), any::<u16>(), any::<u32>(), any::<u32>(), 0u16..0x1000),
        window in any::<u16>(),
        urgent in any::<u16>(),
        v6 in any::<bool>(),
        addrs in (ip_addr(), ip_addr()),
    ) {
        let (src, dst) = same_family(addrs, v6);
        let repr = TcpRepr {
            src_port: fields.0,
            dst_port: fields.1,
            seq: SubflowSeq(fields.2),
            ack: SubflowSeq(fields.3),
            flags: TcpFlags(fields.4),
            window,
            urgent,
        };
        let opts: Vec<_> = owned.iter().map(OwnedOption::borrow).collect();
        let mut buf = [0u8; 300];
        let n = emit_segment(&repr, &opts, &payload, src, dst, &mut buf).expect("emits");
        let seg = TcpSegment::parse(&buf[..n]).expect("parses");
        prop_assert!(seg.verify_checksum(src, dst));
        prop_assert_eq!(seg.repr(), repr);
        prop_assert_eq!(seg.payload(), &payload[..]);
        let parsed: Vec<_> = seg.options().collect::<Result<_, _>>().expect("options parse");
        prop_assert_eq!(&parsed[..opts.len()], &opts[..]);
        prop_assert!(parsed[opts.len()..].iter().all(|o| *o == TcpOption::Nop));
    }

    #[test]
    fn ipv4_roundtrip(
        addrs in (any::<u32>(), any::<u32>()),
        fields in (any::<u8>(), any::<u8>(), 0u8..64, 0u8..4, any::<u16>(), any::<bool>()),
        payload_len in 0usize..600,
    ) {
        let repr = Ipv4Repr {
            src: addrs.0.into(),
            dst: addrs.1.into(),
            protocol: IpProtocol(fields.0),
            ttl: fields.1,
            dscp: fields.2,
            ecn: fields.3,
            ident: fields.4,
            dont_fragment: fields.5,
        };
        let mut buf = vec![0x5a; 20 + payload_len];
        prop_assert_eq!(repr.emit(&mut buf, payload_len), Ok(20));
        let p = Ipv4Packet::parse(&buf).expect("parses");
        prop_assert!(p.verify_header_checksum());
        prop_assert_eq!(p.repr(), repr);
        prop_assert_eq!(p.payload().len(), payload_len);
        prop_assert!(!p.is_truncated());
        prop_assert_eq!(IpPacket::parse(&buf), Ok(IpPacket::V4(p)));
    }

    #[test]
    fn ipv6_roundtrip(
        addrs in (any::<u128>(), any::<u128>()),
        fields in (any::<u8>(), any::<u8>(), 0u8..64, 0u8..4, 0u32..(1 << 20)),
        payload_len in 0usize..600,
    ) {
        // Extension header values would be skipped on parsing: exclude them.
        let next = match fields.0 {
            0 | 43 | 44 | 60 => IpProtocol::TCP,
            p => IpProtocol(p),
        };
        let repr = Ipv6Repr {
            src: addrs.0.into(),
            dst: addrs.1.into(),
            next_header: next,
            hop_limit: fields.1,
            dscp: fields.2,
            ecn: fields.3,
            flow_label: fields.4,
        };
        let mut buf = vec![0xa5; 40 + payload_len];
        prop_assert_eq!(repr.emit(&mut buf, payload_len), Ok(40));
        let p = Ipv6Packet::parse(&buf).expect("parses");
        prop_assert_eq!(p.repr(), repr);
        prop_assert_eq!(p.payload().len(), payload_len);
        prop_assert_eq!(IpPacket::parse(&buf), Ok(IpPacket::V6(p)));
    }
}

/// Two addresses of one family: both IPv4 or both IPv6.
fn same_family((a, b): (IpAddr, IpAddr), v6: bool) -> (IpAddr, IpAddr) {
    let to = |x: IpAddr| -> IpAddr {
        match (x, v6) {
            (IpAddr::V4(v), true) => v.to_ipv6_mapped().into(),
            (IpAddr::V6(v), false) => Ipv4Addr::from(v.to_bits() as u32).into(),
            (x, _) => x,
        }
    };
    (to(a), to(b))
}
