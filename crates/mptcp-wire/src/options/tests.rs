use super::*;
use crate::error::ParseErrorKind;
use crate::mptcp::{CapableBody, CapableFlags, MpCapable, Version};

/// The options of a Linux MPTCP v1 SYN.
const SYN: [u8; 24] = [
    2, 4, 0x05, 0xb4, // mss 1460
    4, 2, // sackOK
    8, 10, 0, 0, 0, 1, 0, 0, 0, 0, // TS val 1 ecr 0
    1, // nop
    3, 3, 7, // wscale 7
    30, 4, 0x01, 0x01, // mp_capable v1 flags [H]
];

fn all(area: &[u8]) -> Vec<Result<TcpOption<'_>, ParseError>> {
    TcpOptions::new(area).collect()
}

#[test]
fn linux_syn_options() {
    let opts: Vec<_> = all(&SYN).into_iter().map(Result::unwrap).collect();
    let capable = MptcpOption::Capable(MpCapable {
        version: Version::V1,
        flags: CapableFlags::HMAC_SHA,
        body: CapableBody::NoKey,
    });
    assert_eq!(
        opts,
        [
            TcpOption::Mss(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamps { tsval: 1, tsecr: 0 },
            TcpOption::Nop,
            TcpOption::WindowScale(7),
            TcpOption::Mptcp(capable),
        ]
    );
    let shown: Vec<String> = opts.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown.join(","),
        "mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7,mp_capable v1 flags [H]"
    );
    let mut buf = [0u8; 40];
    assert_eq!(emit_options(&opts, &mut buf), Ok(24));
    assert_eq!(buf[..24], SYN);
}

#[test]
fn bad_contents_do_not_stop_iteration() {
    // A 3-byte DSS, an MSS of length 3, then a NOP.
    let area = [30, 3, 0x20, 2, 3, 5, 1];
    let items = all(&area);
    assert_eq!(items.len(), 3);
    let e = items[0].unwrap_err();
    assert!(matches!(
        e.kind,
        ParseErrorKind::Truncated {
            what: "DSS flags",
            ..
        }
    ));
    assert_eq!(e.offset, 2);
    assert_eq!(
        items[1].unwrap_err(),
        ParseError::bad_length("MSS option", 4, 3)
    );
    assert_eq!(items[2], Ok(TcpOption::Nop));
}

#[test]
fn structural_errors_stop_iteration() {
    for (area, offset) in [
        (&[1u8, 2, 0][..], 2),      // length 0
        (&[1, 2, 1, 1, 1][..], 2),  // length 1
        (&[1, 8, 10, 0, 0][..], 1), // past the end
        (&[1, 1, 8][..], 3),        // no length byte
    ] {
        let items = all(area);
        let last = items.last().unwrap();
        let e = last.unwrap_err();
        assert_eq!(e.offset, offset, "{area:?}: {e}");
        assert!(
            items[..items.len() - 1]
                .iter()
                .all(|i| *i == Ok(TcpOption::Nop))
        );
    }
}

#[test]
fn eol_ends_the_list_and_offsets_follow_the_base() {
    let area = [1, 0, 0xff, 0xff];
    assert_eq!(all(&area), [Ok(TcpOption::Nop), Ok(TcpOption::Eol)]);
    let raws: Vec<_> = RawTcpOptions::with_base(&SYN, 20)
        .map(Result::unwrap)
        .collect();
    assert_eq!(raws[2].offset, 26);
    assert_eq!(raws[2].bytes.len(), 10);
    let e = TcpOptions::with_base(&[2, 3, 0], 20)
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.offset, 21);
}

#[test]
fn sack_blocks() {
    let mut area = vec![5, 18];
    for v in [1u32, 2, 3, 4] {
        area.extend_from_slice(&v.to_be_bytes());
    }
    let [Ok(TcpOption::Sack(blocks))] = all(&area)[..] else {
        panic!("{:?}", all(&area))
    };
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks.as_slice()[1].left, SubflowSeq(3));
    assert_eq!(TcpOption::Sack(blocks).to_string(), "sack 2 {1:2} {3:4}");
    for bad in [vec![5, 2], vec![5, 6, 0, 0, 0, 0]] {
        assert!(matches!(
            all(&bad)[0],
            Err(ParseError {
                kind: ParseErrorKind::BadLength { .. },
                ..
            })
        ));
    }
    let five = [&[5u8, 42][..], &[0; 40]].concat();
    assert!(all(&five)[0].is_err());
    assert!(SackBlocks::new(&[]).is_none());
    assert!(SackBlocks::new(&[SackBlock::default(); 5]).is_none());
}

#[test]
fn unknown_options_round_trip() {
    let area = [253, 4, 0xbe, 0xef];
    let opt = all(&area)[0].unwrap();
    assert_eq!(
        opt,
        TcpOption::Unknown {
            kind: 253,
            data: &[0xbe, 0xef]
        }
    );
    assert_eq!(opt.to_string(), "opt-253 0xbeef");
    let mut buf = [0u8; 4];
    assert_eq!(opt.emit(&mut buf), Ok(4));
    assert_eq!(buf, area);
}

#[test]
fn padding_and_option_space() {
    let opts = [TcpOption::Mss(1460), TcpOption::WindowScale(7)];
    assert_eq!(options_len(&opts), Ok(8));
    let mut buf = [0xaa; 10];
    assert_eq!(emit_options(&opts, &mut buf), Ok(8));
    assert_eq!(buf, [2, 4, 5, 0xb4, 3, 3, 7, 1, 0xaa, 0xaa]);
    assert_eq!(
        emit_options(&opts, &mut [0; 7]),
        Err(EmitError::BufferTooSmall {
            needed: 8,
            available: 7
        })
    );
    let ts = TcpOption::Timestamps { tsval: 0, tsecr: 0 };
    assert_eq!(options_len(&[ts; 4]), Ok(40));
    assert_eq!(
        options_len(&[ts, ts, ts, ts, TcpOption::Nop]),
        Err(EmitError::OptionSpaceExceeded {
            needed: 44,
            available: 40
        })
    );
    assert_eq!(options_len(&[]), Ok(0));
}

#[test]
fn single_option_parse_checks_its_length() {
    assert_eq!(TcpOption::parse(&[1]), Ok(TcpOption::Nop));
    assert!(TcpOption::parse(&[1, 1]).is_err());
    assert!(TcpOption::parse(&[2, 4, 0]).is_err());
    assert!(TcpOption::parse(&[]).is_err());
}
