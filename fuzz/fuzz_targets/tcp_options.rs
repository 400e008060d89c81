//! Arbitrary bytes as a TCP header with options, or (first byte odd) as an
//! IP packet, or as a link-layer frame: nothing may panic, and every option
//! that parses must re-emit to its own bytes and parse back to the same
//! value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcp_wire::{
    IpPacket, LinkType, MptcpOption, TcpOption, TcpOptions, TcpSegment, parse_link,
};

const LINK_TYPES: [u32; 12] = [0, 1, 9, 12, 50, 101, 108, 113, 228, 229, 276, 147];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector & 3 {
        0 => check_options(rest),
        1 | 3 => {
            if let Ok(ip) = IpPacket::parse(rest) {
                let _ = (ip.src(), ip.dst(), ip.protocol(), ip.is_truncated());
                if let Ok(tcp) = ip.tcp() {
                    check_segment(tcp, ip.payload_offset());
                }
            }
        }
        _ => {
            let link = LINK_TYPES[usize::from(selector >> 2) % LINK_TYPES.len()];
            if let Ok(frame) = parse_link(LinkType(link), rest) {
                if let Ok(ip) = IpPacket::parse(frame.payload) {
                    if let Ok(tcp) = ip.tcp() {
                        check_segment(tcp, ip.payload_offset());
                    }
                }
            }
        }
    }
    if let Ok(tcp) = TcpSegment::parse(rest) {
        check_segment(tcp, 0);
    }
});

/// Check a segment whose error offsets count from `base` bytes before it.
fn check_segment(tcp: TcpSegment<'_>, base: usize) {
    assert_eq!(tcp.header_len() + tcp.payload().len(), tcp.as_bytes().len());
    let _ = tcp.flags().to_string();
    check_options(tcp.options_bytes());
    // Error offsets point into the options area (or just past its end,
    // for a missing length byte).
    for item in tcp.options() {
        if let Err(e) = item {
            assert!(e.offset >= base + 20, "{e}");
            assert!(e.offset <= base + tcp.header_len(), "{e}");
        }
    }
}

fn check_options(area: &[u8]) {
    for raw in TcpOptions::new(area).raw() {
        let Ok(raw) = raw else { break };
        let Ok(opt) = raw.parse() else { continue };
        let _ = opt.to_string();
        let mut buf = [0u8; 256];
        let n = opt.emit(&mut buf).expect("a parsed option re-emits");
        assert_eq!(&buf[..n], raw.bytes, "{opt:?}");
        assert_eq!(TcpOption::parse(&buf[..n]), Ok(opt));
        if let TcpOption::Mptcp(m) = opt {
            assert_eq!(m.len(), n);
            assert_eq!(MptcpOption::parse(&buf[..n]), Ok(m));
        }
    }
}
