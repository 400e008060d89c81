use super::*;
use mptcp_proto::segment::emit_ip_tcp;
use mptcp_wire::{
    Dss, DssMapping, IpPacket, MptcpOption, SubflowSeq, TcpFlags, TcpOption, TcpRepr, WireSeq,
};
use std::net::SocketAddr;

const MSS: usize = 1400;

fn segment(v6: bool, seq: u32, len: usize, flags: TcpFlags, dsn: u64) -> Vec<u8> {
    let (a, b): (SocketAddr, SocketAddr) = if v6 {
        (
            "[fd00::2]:40000".parse().unwrap(),
            "[fd00::1]:5201".parse().unwrap(),
        )
    } else {
        (
            "10.0.0.2:40000".parse().unwrap(),
            "10.0.0.1:5201".parse().unwrap(),
        )
    };
    let repr = TcpRepr {
        src_port: a.port(),
        dst_port: b.port(),
        seq: SubflowSeq(seq),
        ack: SubflowSeq(77),
        flags,
        window: 1000,
        urgent: 0,
    };
    let dss = MptcpOption::Dss(Dss {
        data_ack: Some(WireSeq::Long(5)),
        mapping: Some(DssMapping {
            dsn: WireSeq::Long(dsn),
            subflow_seq: 1,
            data_len: 60000,
            checksum: None,
        }),
        data_fin: false,
        reserved: 0,
        unused_flags: 0,
    });
    let opts = [
        TcpOption::Timestamps { tsval: 9, tsecr: 8 },
        TcpOption::Mptcp(dss),
    ];
    let payload: Vec<u8> = (0..len).map(|i| (seq as usize + i) as u8).collect();
    let mut buf = vec![0u8; 2000];
    let n = emit_ip_tcp(a, b, &repr, &opts, &payload, &mut buf).expect("emit");
    buf.truncate(n);
    buf
}

/// Merge `pkts` as a train and check the result is one valid segment
/// once its partial checksum is completed.
fn merge(pkts: &[Vec<u8>]) -> (Vec<u8>, VnetHdr) {
    let layouts: Vec<Layout> = pkts
        .iter()
        .map(|p| Layout::of(p).expect("layout"))
        .collect();
    let mut size = layouts[0].payload();
    for i in 1..pkts.len() {
        assert!(
            continues(
                &pkts[0],
                &layouts[0],
                &layouts[i - 1],
                &pkts[i],
                &layouts[i],
                size
            ),
            "segment {i} continues the train"
        );
        size += layouts[i].payload();
    }
    let last = layouts.last().unwrap();
    let last_flags = pkts.last().unwrap()[last.ip_len + 13];
    let (hdr, vnet) = train_header(&pkts[0], &layouts[0], size, last_flags);
    let mut out = hdr.to_vec();
    for (p, l) in pkts.iter().zip(&layouts) {
        out.extend_from_slice(&p[l.hdr_len()..]);
    }
    (out, vnet)
}

fn check_train(v6: bool) {
    let flags = TcpFlags::ACK;
    let pkts = [
        segment(v6, 1000, MSS, flags, 1),
        segment(v6, 1000 + MSS as u32, MSS, flags, 1),
        segment(v6, 1000 + 2 * MSS as u32, 300, flags | TcpFlags::PSH, 1),
    ];
    let (mut train, vnet) = merge(&pkts);
    assert_eq!(usize::from(vnet.gso_size), MSS);
    assert_eq!(vnet.gso_type, if v6 { GSO_TCPV6 } else { GSO_TCPV4 });
    assert!(is_train(&vnet));
    assert!(complete_checksum(&vnet, &mut train));
    let ip = IpPacket::parse(&train).expect("a valid IP packet");
    let tcp = ip.tcp().expect("TCP");
    assert!(
        tcp.verify_checksum(ip.src(), ip.dst()),
        "checksum of the whole"
    );
    assert_eq!(tcp.payload().len(), 2 * MSS + 300);
    assert!(
        tcp.flags().contains(TcpFlags::PSH),
        "the last segment's PSH"
    );
    let back = VnetHdr::parse(&vnet.bytes()).expect("header");
    assert_eq!(back, vnet);
}

#[test]
fn trains_of_ipv4_segments_become_one_valid_packet() {
    check_train(false);
}

#[test]
fn trains_of_ipv6_segments_become_one_valid_packet() {
    check_train(true);
}

#[test]
fn only_true_continuations_join_a_train() {
    let a = TcpFlags::ACK;
    let first = segment(false, 1000, MSS, a, 1);
    let fl = Layout::of(&first).unwrap();
    let joins = |next: &[u8]| {
        let nl = Layout::of(next).unwrap();
        continues(&first, &fl, &fl, next, &nl, MSS)
    };
    assert!(joins(&segment(false, 1000 + MSS as u32, MSS, a, 1)));
    assert!(
        !joins(&segment(false, 1001 + MSS as u32, MSS, a, 1)),
        "a gap"
    );
    assert!(
        !joins(&segment(false, 1000 + MSS as u32, MSS, a, 2)),
        "another mapping"
    );
    assert!(
        !joins(&segment(false, 1000 + MSS as u32, MSS + 1, a, 1)),
        "longer"
    );
    assert!(
        !joins(&segment(false, 1000 + MSS as u32, 0, a, 1)),
        "no payload"
    );
    assert!(
        !joins(&segment(
            false,
            1000 + MSS as u32,
            MSS,
            a | TcpFlags::FIN,
            1
        )),
        "FIN"
    );
    assert!(
        !joins(&segment(true, 1000 + MSS as u32, MSS, a, 1)),
        "another family"
    );
    // After a PSH, or a short segment, the train ends.
    let pushed = segment(false, 1000, MSS, a | TcpFlags::PSH, 1);
    let pl = Layout::of(&pushed).unwrap();
    let next = segment(false, 1000 + MSS as u32, MSS, a, 1);
    let nl = Layout::of(&next).unwrap();
    assert!(!continues(&pushed, &pl, &pl, &next, &nl, MSS));
    let short = segment(false, 1000, 100, a, 1);
    let sl = Layout::of(&short).unwrap();
    let after = segment(false, 1100, 100, a, 1);
    let al = Layout::of(&after).unwrap();
    assert!(!continues(&first, &fl, &sl, &after, &al, MSS + 100));
    // The whole stays within the IPv4 length limit.
    assert!(!continues(&first, &fl, &fl, &next, &nl, 65_000));
}

#[test]
fn partial_checksums_are_completed() {
    let mut p = segment(false, 5, 500, TcpFlags::ACK, 1);
    let l = Layout::of(&p).unwrap();
    // What the kernel hands over: the pseudo-header sum in the field.
    let (hdr, vnet) = train_header(&p, &l, 500, 0);
    p[..hdr.len()].copy_from_slice(&hdr);
    assert!(complete_checksum(&vnet, &mut p));
    let ip = IpPacket::parse(&p).unwrap();
    assert!(ip.tcp().unwrap().verify_checksum(ip.src(), ip.dst()));
    let bad = VnetHdr {
        flags: F_NEEDS_CSUM,
        csum_start: 60000,
        ..VnetHdr::default()
    };
    assert!(
        !complete_checksum(&bad, &mut p),
        "a header pointing outside"
    );
    assert_eq!(Layout::of(&[0x45, 0, 0]), None);
}

/// Complete a checksum the kernel left partial (`NEEDS_CSUM`): the field
/// holds the pseudo-header's sum; summing from `csum_start` to the end
/// gives the checksum. Returns false if the header points outside.
fn complete_checksum(hdr: &VnetHdr, packet: &mut [u8]) -> bool {
    if hdr.flags & F_NEEDS_CSUM == 0 {
        return true;
    }
    let start = usize::from(hdr.csum_start);
    let at = start + usize::from(hdr.csum_offset);
    if at + 2 > packet.len() {
        return false;
    }
    let sum = Checksum::new().add_bytes(&packet[start..]).finish();
    packet[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    true
}
