//! Arbitrary bytes into every parser: each returns `Ok` or `Err`, never
//! panics; and whatever parses as an MPTCP option re-emits to the same
//! bytes.

use mptcp_wire::{
    IpPacket, LinkType, MptcpOption, TcpOption, TcpOptions, TcpSegment, parse_link, strip_link,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// Bytes shaped like an MPTCP option: kind 30, a matching length byte, a
/// subtype, then anything.
fn mptcp_shaped() -> impl Strategy<Value = Vec<u8>> {
    (0u8..16, any::<u8>(), vec(any::<u8>(), 0..40)).prop_map(|(subtype, low, rest)| {
        let mut v = vec![30, (rest.len() + 3) as u8, subtype << 4 | (low & 0x0f)];
        v.extend(rest);
        v
    })
}

/// Every option of an area, parsed, displayed and (when MPTCP) re-emitted.
fn exercise_options(area: &[u8]) -> Result<(), TestCaseError> {
    for raw in TcpOptions::new(area).raw() {
        let Ok(raw) = raw else { continue };
        if let Ok(opt) = raw.parse() {
            let _ = opt.to_string();
            let mut buf = [0u8; 64];
            let n = opt.emit(&mut buf).expect("a parsed option re-emits");
            prop_assert_eq!(&buf[..n], raw.bytes);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn mptcp_option_parse_never_panics(bytes in vec(any::<u8>(), 0..48)) {
        let _ = MptcpOption::parse(&bytes);
        let _ = TcpOption::parse(&bytes);
    }

    #[test]
    fn parsed_mptcp_options_reemit_exactly(bytes in mptcp_shaped()) {
        if let Ok(opt) = MptcpOption::parse(&bytes) {
            let mut buf = [0u8; 48];
            let n = opt.emit(&mut buf).expect("re-emits");
            prop_assert_eq!(&buf[..n], &bytes[..]);
            prop_assert_eq!(MptcpOption::parse(&buf[..n]), Ok(opt));
            let _ = opt.to_string();
        }
    }

    #[test]
    fn options_iterator_never_panics(area in vec(any::<u8>(), 0..48)) {
        let items: Vec<_> = TcpOptions::new(&area).collect();
        // At most one item per byte: the iterator always advances.
        prop_assert!(items.len() <= area.len());
        exercise_options(&area)?;
    }

    #[test]
    fn options_of_mptcp_shaped_areas(a in mptcp_shaped(), b in mptcp_shaped()) {
        let area = [&a[..], &[1], &b[..]].concat();
        exercise_options(&area)?;
    }

    #[test]
    fn tcp_segment_never_panics(bytes in vec(any::<u8>(), 0..100), v6 in any::<bool>()) {
        if let Ok(seg) = TcpSegment::parse(&bytes) {
            prop_assert!(seg.header_len() >= 20 && seg.header_len() <= bytes.len());
            prop_assert_eq!(seg.header_len() + seg.payload().len(), bytes.len());
            let (src, dst) = if v6 {
                ("::1".parse().unwrap(), "::2".parse().unwrap())
            } else {
                ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())
            };
            let _ = seg.verify_checksum(src, dst);
            let _ = seg.checksum_is_partial(src, dst);
            exercise_options(seg.options_bytes())?;
            let _ = seg.options().count();
        }
    }

    #[test]
    fn ip_packet_never_panics(mut bytes in vec(any::<u8>(), 0..120), v6 in any::<bool>()) {
        // Steer half the cases to a plausible version nibble.
        if let Some(first) = bytes.first_mut() {
            *first = (*first & 0x0f) | if v6 { 0x60 } else { 0x40 };
        }
        if let Ok(ip) = IpPacket::parse(&bytes) {
            prop_assert!(ip.payload_offset() + ip.payload().len() <= bytes.len());
            let _ = (ip.src(), ip.dst(), ip.protocol(), ip.is_truncated());
            if let Ok(tcp) = ip.tcp() {
                let _ = tcp.options().count();
            }
        }
    }

    #[test]
    fn link_stripping_never_panics(bytes in vec(any::<u8>(), 0..64), lt in any::<u32>()) {
        for link in [0, 1, 9, 12, 50, 101, 108, 113, 228, 229, 276, lt] {
            if let Ok(frame) = parse_link(LinkType(link), &bytes) {
                prop_assert!(frame.payload.len() <= bytes.len());
            }
            let _ = strip_link(LinkType(link), &bytes);
        }
    }
}

#[cfg(feature = "capture")]
mod capture {
    use mptcp_wire::CaptureReader;
    use proptest::collection::vec;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn capture_reader_never_panics(
            magic in prop_oneof![
                Just([0xd4u8, 0xc3, 0xb2, 0xa1]),
                Just([0xa1, 0xb2, 0xc3, 0xd4]),
                Just([0x4d, 0x3c, 0xb2, 0xa1]),
                Just([0x0a, 0x0d, 0x0d, 0x0a]),
                any::<[u8; 4]>(),
            ],
            rest in vec(any::<u8>(), 0..200),
        ) {
            let file = [&magic[..], &rest[..]].concat();
            if let Ok(reader) = CaptureReader::new(&file[..]) {
                for packet in reader.take(100) {
                    let Ok(packet) = packet else { break };
                    let _ = packet.ip();
                }
            }
        }
    }
}
