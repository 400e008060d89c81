//! Wire formats for a userspace Multipath TCP stack: bytes to values and
//! back, nothing else.
//!
//! - [`ip`]: IPv4/IPv6 checked views ([`IpPacket`]) and emitters.
//! - [`tcp`]: the TCP header ([`TcpSegment`], [`emit_segment`]).
//! - [`options`]: TCP options ([`TcpOption`], [`TcpOptions`], [`emit_options`]).
//! - [`mptcp`]: every MPTCP suboption of RFC 8684 (v1) and RFC 6824 (v0)
//!   ([`MptcpOption`]), one file each.
//! - [`checksum`]: the Internet checksum, pseudo-headers, the DSS checksum.
//! - [`seq`]: sequence numbers with wrapping comparisons.
//! - [`link`] and (feature `capture`) [`capture`]: reading captures.
//! - `Display` for options, tcpdump-style.
//!
//! # The no-panic contract
//! Every parser in this crate ([`IpPacket::parse`], [`Ipv4Packet::parse`],
//! [`Ipv6Packet::parse`], [`TcpSegment::parse`], [`TcpOption::parse`], the
//! [`TcpOptions`] and [`RawTcpOptions`] iterators, [`MptcpOption::parse`],
//! [`parse_link`], [`strip_link`], and the capture readers) accepts any byte
//! string and returns either a value or a [`ParseError`] that names the
//! field and its byte offset. None panics, none reads out of bounds: the
//! code reads through `get()` and checked slicing only (the crate denies
//! `clippy::indexing_slicing`, `unwrap_used`, `expect_used` and `panic`
//! outside tests), arithmetic on lengths from the wire is checked or
//! saturating, and the property tests and the `tcp_options` fuzz target
//! feed arbitrary bytes to every parser. Emitters likewise return an
//! [`EmitError`] rather than panic on a short buffer or an out-of-range
//! field.
//!
//! Parsing does not allocate: views borrow the input, and parsed MPTCP
//! options are small `Copy` values with fixed-size arrays for their
//! variable parts. Emission does not allocate either.
//!
//! # Round trips
//! Reserved bits and fields are kept in parsed values and written back, and
//! wire codes are open newtypes (`ResetReason(pub u8)`), so that
//! `emit(parse(bytes)) == bytes` for every well-formed MPTCP option,
//! including ones from old v0 implementations and unknown subtypes.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod bytes;
#[cfg(feature = "capture")]
pub mod capture;
pub mod checksum;
mod display;
pub mod error;
pub mod ip;
pub mod link;
pub mod mptcp;
pub mod options;
pub mod seq;
pub mod tcp;

#[cfg(feature = "capture")]
pub use capture::{CaptureError, CaptureFormat, CaptureReader, CapturedPacket, IpFrame};
pub use checksum::{Checksum, dss_checksum, verify_dss_checksum};
pub use error::{EmitError, ParseError, ParseErrorKind};
pub use ip::{IpPacket, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr};
pub use link::{LinkFrame, LinkProtocol, LinkType, PacketType, parse_link, strip_link};
pub use mptcp::{
    AddAddr, AddAddrFlags, AddressIds, BackupFlags, CapableBody, CapableFlags, Dss, DssMapping,
    MpCapable, MpExperimental, MpFail, MpFastClose, MpJoin, MpPrio, MpTcpRst, MptcpOption,
    RawBytes, RemoveAddr, ResetReason, TcpRstFlags, Version, WireSeq,
};
pub use options::{
    RawOption, RawTcpOptions, SackBlock, SackBlocks, TcpOption, TcpOptions, emit_options,
    options_len,
};
pub use seq::{DataSeq, SubflowSeq};
pub use tcp::{TcpFlags, TcpRepr, TcpSegment, emit_segment, emit_segment_partial};
