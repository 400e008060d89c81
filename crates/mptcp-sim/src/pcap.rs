//! Packet capture at one interface, as a pcap file of raw IP packets.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use mptcp_proto::time::Instant;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

use crate::node::{IfaceId, LinkId, NodeId};
use crate::observer::Observer;

/// An [`Observer`] writing what one interface sends and receives to a pcap
/// stream: LINKTYPE_RAW (101, the packet starts at the IP header),
/// microsecond timestamps from the virtual clock (epoch 1970-01-01 is virtual
/// time zero). Sent packets are recorded when the node hands them to the
/// interface (before any drop on the link), received ones when they arrive.
pub struct PcapCapture {
    node: NodeId,
    iface: IfaceId,
    writer: Option<PcapWriter<Box<dyn Write>>>,
    packets: u64,
    error: Option<io::Error>,
}

impl PcapCapture {
    /// A capture of interface `iface` of `node` into `writer`; writes the
    /// pcap header at once.
    ///
    /// # Errors
    /// Writing the header failed.
    pub fn new(node: NodeId, iface: IfaceId, writer: Box<dyn Write>) -> io::Result<PcapCapture> {
        let header = PcapHeader {
            datalink: DataLink::RAW,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(writer, header).map_err(to_io)?;
        Ok(PcapCapture {
            node,
            iface,
            writer: Some(writer),
            packets: 0,
            error: None,
        })
    }

    /// A capture into a new (buffered) file at `path`.
    ///
    /// # Errors
    /// The file could not be created or written.
    pub fn create(node: NodeId, iface: IfaceId, path: impl AsRef<Path>) -> io::Result<PcapCapture> {
        let file = BufWriter::new(File::create(path)?);
        PcapCapture::new(node, iface, Box::new(file))
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    fn record(&mut self, now: Instant, node: NodeId, iface: IfaceId, packet: &[u8]) {
        if (node, iface) != (self.node, self.iface) || self.error.is_some() {
            return;
        }
        let Some(writer) = &mut self.writer else {
            return;
        };
        let ts = core::time::Duration::from_micros(now.as_micros());
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        match writer.write_packet(&PcapPacket::new(ts, len, packet)) {
            Ok(_) => self.packets += 1,
            Err(e) => self.error = Some(to_io(e)),
        }
    }
}

fn to_io(e: PcapError) -> io::Error {
    match e {
        PcapError::IoError(e) => e,
        other => io::Error::other(other),
    }
}

impl Observer for PcapCapture {
    fn on_sent(&mut self, now: Instant, node: NodeId, iface: IfaceId, packet: &[u8]) {
        self.record(now, node, iface, packet);
    }

    fn on_delivered(&mut self, now: Instant, _: LinkId, node: NodeId, iface: IfaceId, p: &[u8]) {
        self.record(now, node, iface, p);
    }

    /// Flushes and closes the stream; later packets are not recorded. Returns
    /// the first write error, if any.
    fn finish(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            self.writer = None;
            return Err(e);
        }
        match self.writer.take() {
            Some(w) => w.into_writer().flush(),
            None => Ok(()),
        }
    }
}
