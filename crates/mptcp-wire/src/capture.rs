//! Reading capture files: pcap or pcapng, told apart by their magic number
//! (not by the file name), through the `pcap-file` crate.
//!
//! A [`CaptureReader`] yields [`CapturedPacket`]s (timestamp, link type,
//! bytes); [`CaptureReader::ip_packets`] keeps the IP ones. Garbage and
//! truncated files give a [`CaptureError`], never a panic. After an error
//! from the file format itself, the reader yields nothing more (a damaged
//! file cannot be resynchronised); link-layer errors concern one packet
//! only.
//!
//! pcap-file 2.0 reads pcapng timestamps as nanoseconds whatever the
//! interface's `if_tsresol`; this module applies the resolution itself
//! (default: microseconds).

use core::fmt;
use std::fs::File;
use std::io::{self, Chain, Cursor, Read};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{PcapError, TsResolution};

use crate::error::ParseError;
use crate::ip::IpPacket;
use crate::link::{LinkFrame, LinkType, parse_link};

/// Why a capture could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file could not be opened or read.
    Io(io::Error),
    /// The file starts with neither a pcap nor a pcapng magic number.
    UnknownFormat {
        /// The first bytes of the file (fewer than 4 if it is that short).
        magic: [u8; 4],
    },
    /// The file is damaged or truncated.
    Format(PcapError),
    /// A pcapng packet names an interface that was never described.
    UnknownInterface(u32),
    /// A packet's link-layer header is malformed.
    Link {
        /// Index of the packet in the file (0-based).
        index: usize,
        /// What was wrong.
        error: ParseError,
    },
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Io(e) => write!(f, "cannot read capture: {e}"),
            CaptureError::UnknownFormat { magic } => {
                write!(f, "not a pcap or pcapng file (magic {magic:02x?})")
            }
            CaptureError::Format(e) => write!(f, "malformed capture: {e}"),
            CaptureError::UnknownInterface(id) => write!(f, "packet on undescribed interface {id}"),
            CaptureError::Link { index, error } => write!(f, "packet {index}: {error}"),
        }
    }
}

impl std::error::Error for CaptureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CaptureError::Io(e) => Some(e),
            CaptureError::Format(e) => Some(e),
            CaptureError::Link { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The container format of a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic pcap.
    Pcap,
    /// pcapng.
    PcapNg,
}

/// One packet of a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedPacket {
    /// Position in the file (0-based, counting packets only).
    pub index: usize,
    /// Capture time, since the Unix epoch (or since whatever the file uses).
    pub timestamp: Duration,
    /// Link type of the interface the packet was captured on.
    pub link_type: LinkType,
    /// Length of the packet on the wire.
    pub orig_len: u32,
    /// The captured bytes, link-layer header included.
    pub data: Vec<u8>,
}

impl CapturedPacket {
    /// The frame with its link-layer header stripped.
    pub fn link(&self) -> Result<LinkFrame<'_>, ParseError> {
        parse_link(self.link_type, &self.data)
    }

    /// The IP packet, or `None` when the frame carries something else.
    pub fn ip(&self) -> Result<Option<IpPacket<'_>>, ParseError> {
        let frame = self.link()?;
        if !frame.protocol.is_ip() {
            return Ok(None);
        }
        let offset = self.data.len() - frame.payload.len();
        IpPacket::parse(frame.payload)
            .map(Some)
            .map_err(|e| e.shifted(offset))
    }
}

type Source<R> = Chain<Cursor<[u8; 4]>, R>;

enum Inner<R: Read> {
    Pcap(PcapReader<Source<R>>),
    PcapNg(PcapNgReader<Source<R>>),
}

/// A capture file being read.
pub struct CaptureReader<R: Read> {
    inner: Inner<R>,
    next_index: usize,
    failed: bool,
}

impl<R: Read> fmt::Debug for CaptureReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("format", &self.format())
            .field("next_index", &self.next_index)
            .finish()
    }
}

impl CaptureReader<File> {
    /// Open the capture at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<CaptureReader<File>, CaptureError> {
        CaptureReader::new(File::open(path).map_err(CaptureError::Io)?)
    }
}

impl<R: Read> CaptureReader<R> {
    /// Read a capture from `reader`, detecting the format from its magic.
    pub fn new(mut reader: R) -> Result<CaptureReader<R>, CaptureError> {
        let mut magic = [0u8; 4];
        let mut got = 0;
        while got < magic.len() {
            let rest = magic.get_mut(got..).unwrap_or_default();
            match reader.read(rest) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(CaptureError::Io(e)),
            }
        }
        let source = Cursor::new(magic).chain(reader);
        let inner = match u32::from_be_bytes(magic) {
            _ if got < 4 => return Err(CaptureError::UnknownFormat { magic }),
            0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 => {
                Inner::Pcap(PcapReader::new(source).map_err(CaptureError::Format)?)
            }
            0x0a0d_0d0a => Inner::PcapNg(PcapNgReader::new(source).map_err(CaptureError::Format)?),
            _ => return Err(CaptureError::UnknownFormat { magic }),
        };
        Ok(CaptureReader {
            inner,
            next_index: 0,
            failed: false,
        })
    }

    /// The container format.
    pub fn format(&self) -> CaptureFormat {
        match self.inner {
            Inner::Pcap(_) => CaptureFormat::Pcap,
            Inner::PcapNg(_) => CaptureFormat::PcapNg,
        }
    }

    /// The next packet; `None` at the end of the file, or after an error.
    pub fn next_packet(&mut self) -> Option<Result<CapturedPacket, CaptureError>> {
        if self.failed {
            return None;
        }
        let next = match &mut self.inner {
            Inner::Pcap(r) => next_pcap(r),
            Inner::PcapNg(r) => next_pcapng(r),
        };
        match next {
            Some(Ok((timestamp, link_type, orig_len, data))) => {
                let index = self.next_index;
                self.next_index += 1;
                Some(Ok(CapturedPacket {
                    index,
                    timestamp,
                    link_type,
                    orig_len,
                    data,
                }))
            }
            Some(Err(e)) => {
                self.failed = true;
                Some(Err(e))
            }
            None => None,
        }
    }

    /// The IP packets only: frames that carry something else are skipped,
    /// frames whose link-layer header is malformed yield
    /// [`CaptureError::Link`].
    pub fn ip_packets(self) -> IpPackets<R> {
        IpPackets { reader: self }
    }
}

impl<R: Read> Iterator for CaptureReader<R> {
    type Item = Result<CapturedPacket, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_packet()
    }
}

/// Timestamp, link type, original length and bytes of one packet.
type RawPacket = (Duration, LinkType, u32, Vec<u8>);

/// The next record of a pcap file. Records are taken as they are (through
/// pcap-file's raw reader): a record longer than the file's snap length,
/// which libpcap accepts and tcpdump's own test captures contain, is not an
/// error here.
fn next_pcap<R: Read>(r: &mut PcapReader<R>) -> Option<Result<RawPacket, CaptureError>> {
    let header = r.header();
    let link_type = LinkType(u32::from(header.datalink));
    let packet = match r.next_raw_packet()? {
        Ok(p) => p,
        Err(e) => return Some(Err(CaptureError::Format(e))),
    };
    let frac_nanos = match header.ts_resolution {
        TsResolution::MicroSecond => u64::from(packet.ts_frac) * 1_000,
        TsResolution::NanoSecond => u64::from(packet.ts_frac),
    };
    let timestamp = Duration::from_secs(u64::from(packet.ts_sec))
        .saturating_add(Duration::from_nanos(frac_nanos));
    let data = packet.data.into_owned();
    Some(Ok((timestamp, link_type, packet.orig_len, data)))
}

fn next_pcapng<R: Read>(r: &mut PcapNgReader<R>) -> Option<Result<RawPacket, CaptureError>> {
    loop {
        let (interface, raw_ts, orig_len, data) = match r.next_block()? {
            Err(e) => return Some(Err(CaptureError::Format(e))),
            Ok(Block::EnhancedPacket(p)) => (
                p.interface_id,
                // pcap-file stores the raw timestamp units as nanoseconds.
                u64::try_from(p.timestamp.as_nanos()).unwrap_or(u64::MAX),
                p.original_len,
                p.data.into_owned(),
            ),
            Ok(Block::Packet(p)) => (
                u32::from(p.interface_id),
                p.timestamp,
                p.original_len,
                p.data.into_owned(),
            ),
            Ok(Block::SimplePacket(p)) => (0, 0, p.original_len, p.data.into_owned()),
            Ok(_) => continue,
        };
        let Some(idb) = r.interfaces().get(interface as usize) else {
            return Some(Err(CaptureError::UnknownInterface(interface)));
        };
        let tsresol = idb.options.iter().find_map(|o| match o {
            InterfaceDescriptionOption::IfTsResol(res) => Some(*res),
            _ => None,
        });
        let link_type = LinkType(u32::from(idb.linktype));
        return Some(Ok((
            to_duration(raw_ts, tsresol),
            link_type,
            orig_len,
            data,
        )));
    }
}

/// A pcapng timestamp in units of `if_tsresol` (default 10^-6 s) as a
/// duration: a resolution byte with the top bit clear is a negative power
/// of ten, with it set a negative power of two.
fn to_duration(units: u64, tsresol: Option<u8>) -> Duration {
    let res = tsresol.unwrap_or(6);
    let units = u128::from(units);
    let nanos = if res & 0x80 == 0 {
        match 10u128.checked_pow(u32::from(res)) {
            Some(per_sec) => units.saturating_mul(1_000_000_000) / per_sec,
            None => 0,
        }
    } else {
        units.saturating_mul(1_000_000_000) >> (res & 0x7f)
    };
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A captured packet known to carry IP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpFrame {
    /// The packet.
    pub packet: CapturedPacket,
    /// Where the IP packet starts in `packet.data`.
    pub ip_offset: usize,
}

impl IpFrame {
    /// The IP packet's bytes.
    pub fn ip_bytes(&self) -> &[u8] {
        self.packet.data.get(self.ip_offset..).unwrap_or_default()
    }

    /// The IP packet, parsed (error offsets count from the IP header).
    pub fn ip(&self) -> Result<IpPacket<'_>, ParseError> {
        IpPacket::parse(self.ip_bytes())
    }
}

/// Iterator over the IP packets of a capture (see
/// [`CaptureReader::ip_packets`]).
#[derive(Debug)]
pub struct IpPackets<R: Read> {
    reader: CaptureReader<R>,
}

impl<R: Read> Iterator for IpPackets<R> {
    type Item = Result<IpFrame, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let packet = match self.reader.next_packet()? {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            };
            let frame = match packet.link() {
                Ok(f) => f,
                Err(error) => {
                    let index = packet.index;
                    return Some(Err(CaptureError::Link { index, error }));
                }
            };
            if frame.protocol.is_ip() {
                let ip_offset = packet.data.len() - frame.payload.len();
                return Some(Ok(IpFrame { packet, ip_offset }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_typed_error() {
        let e = CaptureReader::new(&b"GIF89a garbage"[..]).unwrap_err();
        assert!(matches!(e, CaptureError::UnknownFormat { magic } if &magic == b"GIF8"));
        let e = CaptureReader::new(&b"ab"[..]).unwrap_err();
        assert!(matches!(e, CaptureError::UnknownFormat { .. }));
        // A pcap magic followed by a truncated global header.
        let e = CaptureReader::new(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0][..]).unwrap_err();
        assert!(matches!(e, CaptureError::Format(_)), "{e}");
        // A pcapng magic followed by nonsense.
        let e = CaptureReader::new(&[0x0a, 0x0d, 0x0d, 0x0a, 1, 2, 3, 4, 5][..]).unwrap_err();
        assert!(matches!(e, CaptureError::Format(_)), "{e}");
    }

    #[test]
    fn truncated_packet_record_ends_iteration_with_an_error() {
        let mut file = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&65535u32.to_le_bytes());
        file.extend_from_slice(&101u32.to_le_bytes());
        // One complete record, then half of one.
        for len in [4u32, 40] {
            file.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]);
            file.extend_from_slice(&len.to_le_bytes());
            file.extend_from_slice(&len.to_le_bytes());
            file.extend_from_slice(&[0x45, 0, 0, 4]);
        }
        let mut r = CaptureReader::new(&file[..]).unwrap();
        assert_eq!(r.format(), CaptureFormat::Pcap);
        let p = r.next().unwrap().unwrap();
        assert_eq!(p.link_type, LinkType::RAW);
        assert_eq!(p.timestamp, Duration::new(1, 2_000));
        assert_eq!(p.data, [0x45, 0, 0, 4]);
        assert!(matches!(r.next(), Some(Err(CaptureError::Format(_)))));
        assert!(r.next().is_none());
    }

    #[test]
    fn pcapng_timestamp_resolution() {
        assert_eq!(to_duration(1_500_000, None), Duration::from_millis(1500));
        assert_eq!(to_duration(1_500, Some(3)), Duration::from_millis(1500));
        assert_eq!(to_duration(3, Some(0x81)), Duration::from_millis(1500));
        assert_eq!(to_duration(u64::MAX, Some(0x7f)), Duration::ZERO);
        assert_eq!(to_duration(u64::MAX, Some(0xff)), Duration::ZERO);
    }
}
