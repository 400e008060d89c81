//! Segments as the engine sees them: parsed once at the edge into typed
//! fields, and emitted as complete IP packets.

use arrayvec::ArrayVec;
use bytes::Bytes;
use mptcp_wire::checksum::pseudo_header;
use mptcp_wire::{
    EmitError, IpProtocol, Ipv4Repr, Ipv6Repr, MptcpOption, SackBlocks, SubflowSeq, TcpFlags,
    TcpOption, TcpRepr, TcpSegment, emit_segment,
};
use std::net::{IpAddr, SocketAddr};

/// The most MPTCP options kept from one segment. Forty option bytes hold
/// at most three options of the sizes in use; more are counted and dropped.
pub const MAX_MPTCP_OPTIONS: usize = 4;

/// The MPTCP options of one segment.
pub type MptcpOptionList = ArrayVec<MptcpOption, MAX_MPTCP_OPTIONS>;

/// TCP timestamps option values (RFC 7323 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamps {
    /// The sender's clock.
    pub tsval: u32,
    /// The echoed clock.
    pub tsecr: u32,
}

/// An incoming TCP segment with its options decoded.
#[derive(Clone, Debug)]
pub struct SegmentIn<'a> {
    /// Sequence number.
    pub seq: SubflowSeq,
    /// Acknowledgment number (meaningful when ACK is set).
    pub ack: SubflowSeq,
    /// Flags.
    pub flags: TcpFlags,
    /// Unscaled window field.
    pub window: u16,
    /// Payload.
    pub payload: &'a [u8],
    /// MSS option.
    pub mss: Option<u16>,
    /// Window scale option.
    pub wscale: Option<u8>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// SACK blocks.
    pub sack: Option<SackBlocks>,
    /// Timestamps option.
    pub timestamps: Option<Timestamps>,
    /// MPTCP options, in order of appearance.
    pub mptcp: MptcpOptionList,
    /// Options that failed to parse (or did not fit `mptcp`).
    pub malformed_options: u8,
}

impl<'a> SegmentIn<'a> {
    /// A segment with these fields and no option.
    pub fn bare(
        seq: SubflowSeq,
        ack: SubflowSeq,
        flags: TcpFlags,
        window: u16,
        payload: &'a [u8],
    ) -> SegmentIn<'a> {
        SegmentIn {
            seq,
            ack,
            flags,
            window,
            payload,
            mss: None,
            wscale: None,
            sack_permitted: false,
            sack: None,
            timestamps: None,
            mptcp: MptcpOptionList::new(),
            malformed_options: 0,
        }
    }

    /// Decode a parsed TCP segment's fields and options. Malformed options
    /// are counted, not fatal: the segment is still processed as TCP, and
    /// the MPTCP layer decides what a missing option means.
    pub fn from_tcp(tcp: &TcpSegment<'a>) -> SegmentIn<'a> {
        let mut seg = SegmentIn::bare(
            tcp.seq(),
            tcp.ack(),
            tcp.flags(),
            tcp.window(),
            tcp.payload(),
        );
        for opt in tcp.options() {
            match opt {
                Ok(TcpOption::Mss(v)) => seg.mss = Some(v),
                Ok(TcpOption::WindowScale(v)) => seg.wscale = Some(v),
                Ok(TcpOption::SackPermitted) => seg.sack_permitted = true,
                Ok(TcpOption::Sack(b)) => seg.sack = Some(b),
                Ok(TcpOption::Timestamps { tsval, tsecr }) => {
                    seg.timestamps = Some(Timestamps { tsval, tsecr })
                }
                Ok(TcpOption::Mptcp(m)) => {
                    if seg.mptcp.try_push(m).is_err() {
                        seg.malformed_options = seg.malformed_options.saturating_add(1);
                    }
                }
                Ok(_) => {}
                Err(_) => seg.malformed_options = seg.malformed_options.saturating_add(1),
            }
        }
        seg
    }

    /// Sequence space the segment occupies (payload, SYN and FIN).
    pub fn seq_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    /// Whether a flag is set.
    pub fn has(&self, flag: TcpFlags) -> bool {
        self.flags.contains(flag)
    }
}

/// IP header length for an address family.
pub fn ip_header_len(addr: IpAddr) -> usize {
    match addr {
        IpAddr::V4(_) => 20,
        IpAddr::V6(_) => 40,
    }
}

/// Write a complete IP packet carrying one TCP segment from `local` to
/// `remote`. Returns the packet length.
pub fn emit_ip_tcp(
    local: SocketAddr,
    remote: SocketAddr,
    repr: &TcpRepr,
    options: &[TcpOption<'_>],
    payload: &[u8],
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    emit_ip_tcp_with(local, remote, repr, options, payload, buf, false)
}

/// [`emit_ip_tcp`], with the TCP checksum left to the device when
/// `offload` is set (the field holds the pseudo-header's sum; see
/// [`mptcp_wire::emit_segment_partial`]).
pub fn emit_ip_tcp_with(
    local: SocketAddr,
    remote: SocketAddr,
    repr: &TcpRepr,
    options: &[TcpOption<'_>],
    payload: &[u8],
    buf: &mut [u8],
    offload: bool,
) -> Result<usize, EmitError> {
    let (hdr, body) = after_ip_header(local.ip(), buf)?;
    let emit = if offload {
        mptcp_wire::emit_segment_partial
    } else {
        emit_segment
    };
    let tcp_len = emit(repr, options, payload, local.ip(), remote.ip(), body)?;
    emit_ip_header(local.ip(), remote.ip(), buf, tcp_len).map(|_| hdr + tcp_len)
}

/// The length of our IP header from `local`, and the part of `buf` after it.
fn after_ip_header(local: IpAddr, buf: &mut [u8]) -> Result<(usize, &mut [u8]), EmitError> {
    let hdr = ip_header_len(local);
    let available = buf.len();
    let body = buf.get_mut(hdr..).ok_or(EmitError::BufferTooSmall {
        needed: hdr,
        available,
    })?;
    Ok((hdr, body))
}

/// Our IP header for a TCP segment of `tcp_len` bytes, at the start of `buf`.
fn emit_ip_header(
    local: IpAddr,
    remote: IpAddr,
    buf: &mut [u8],
    tcp_len: usize,
) -> Result<usize, EmitError> {
    match (local, remote) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => Ipv4Repr {
            src,
            dst,
            protocol: IpProtocol::TCP,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 0,
            dont_fragment: true,
        }
        .emit(buf, tcp_len),
        (IpAddr::V6(src), IpAddr::V6(dst)) => Ipv6Repr {
            src,
            dst,
            next_header: IpProtocol::TCP,
            hop_limit: 64,
            dscp: 0,
            ecn: 0,
            flow_label: 0,
        }
        .emit(buf, tcp_len),
        _ => Err(EmitError::AddressFamilyMismatch),
    }
}

/// [`emit_ip_tcp_with`] without the payload: the IP and TCP headers of a
/// packet carrying `payload` (its lengths and TCP checksum account for
/// it), for the payload to follow them from where it lies (gathered I/O).
/// Returns the headers' length.
pub fn emit_ip_tcp_headers(
    local: SocketAddr,
    remote: SocketAddr,
    repr: &TcpRepr,
    options: &[TcpOption<'_>],
    payload: &[u8],
    buf: &mut [u8],
    offload: bool,
) -> Result<usize, EmitError> {
    let (hdr, body) = after_ip_header(local.ip(), buf)?;
    let tcp_hdr = emit_segment(repr, options, &[], local.ip(), remote.ip(), body)?;
    let tcp_len = tcp_hdr.saturating_add(payload.len());
    let too_long = EmitError::TooLong {
        what: "TCP segment",
        len: tcp_len,
        max: usize::from(u16::MAX),
    };
    let pseudo = pseudo_header(local.ip(), remote.ip(), 6, tcp_len).ok_or(
        match local.is_ipv4() == remote.is_ipv4() {
            true => too_long,
            false => EmitError::AddressFamilyMismatch,
        },
    )?;
    // The checksum covers the payload: only its sum (or, offloaded, the
    // pseudo-header's alone) is needed, not its bytes in place.
    body[16..18].copy_from_slice(&[0, 0]);
    let value = if offload {
        pseudo.sum()
    } else {
        let mut sum = pseudo;
        sum.add_bytes(&body[..tcp_hdr]).add_bytes(payload);
        sum.finish()
    };
    body[16..18].copy_from_slice(&value.to_be_bytes());
    emit_ip_header(local.ip(), remote.ip(), buf, tcp_len)?;
    Ok(hdr + tcp_hdr)
}

/// Where [`Subflow::poll_transmit`](crate::subflow::Subflow) and its
/// callers write packets: one whole into the buffer (copying); or its
/// headers into the buffer and its payload kept aside by reference
/// (gathering), for the runtime to write both with one gathered call; or,
/// gathering a batch, several packets of one subflow, each in its slot of
/// the buffer, listed with their payloads.
#[derive(Debug)]
pub struct PacketBuf<'a> {
    buf: &'a mut [u8],
    gather: bool,
    /// Bytes per packet in `buf`.
    slot: usize,
    payload: Bytes,
    /// Batch: each packet's length in its slot and its payload.
    batch: Option<&'a mut Vec<(usize, Bytes)>>,
    /// Batch: the most packets.
    max: usize,
}

impl<'a> PacketBuf<'a> {
    /// Whole packets into `buf`.
    pub fn copying(buf: &'a mut [u8]) -> PacketBuf<'a> {
        PacketBuf {
            slot: buf.len(),
            buf,
            gather: false,
            payload: Bytes::new(),
            batch: None,
            max: 1,
        }
    }

    /// Headers into `buf`, the payload by reference (see [`Self::payload`]).
    pub fn gathering(buf: &'a mut [u8]) -> PacketBuf<'a> {
        PacketBuf {
            gather: true,
            ..PacketBuf::copying(buf)
        }
    }

    /// Gathering up to `buf.len() / slot` packets, the `i`-th of those
    /// listed in `out` (its length and payload) written at `i * slot`.
    pub fn batch(
        buf: &'a mut [u8],
        slot: usize,
        out: &'a mut Vec<(usize, Bytes)>,
    ) -> PacketBuf<'a> {
        out.clear();
        let max = buf.len().checked_div(slot).unwrap_or(0).max(1);
        PacketBuf {
            slot: slot.min(buf.len()),
            batch: Some(out),
            max,
            ..PacketBuf::gathering(buf)
        }
    }

    /// The payload of the packet written last, when gathering: it follows
    /// the bytes written into the buffer. Empty when copying.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Whether a packet of `headers` bytes before `payload` bytes of
    /// payload fits its slot (when gathering, the payload stays aside).
    pub fn fits(&self, headers: usize, payload: usize) -> bool {
        let copied = if self.gather { 0 } else { payload };
        self.slot >= headers + copied
    }

    /// The payload, taken out.
    pub fn take_payload(&mut self) -> Bytes {
        std::mem::take(&mut self.payload)
    }

    /// Whether a batch has room for another packet after those written.
    pub fn has_room(&self) -> bool {
        self.batch.as_ref().is_some_and(|b| b.len() < self.max)
    }

    fn written(&self) -> usize {
        self.batch.as_ref().map_or(0, |b| b.len())
    }

    /// The free slot, for a packet written whole into it (no payload
    /// aside); [`Self::wrote_whole`] records it.
    pub fn whole(&mut self) -> &mut [u8] {
        self.payload = Bytes::new();
        let at = self.written() * self.slot;
        self.buf.get_mut(at..at + self.slot).unwrap_or_default()
    }

    /// Record the packet of `len` bytes written into [`Self::whole`].
    pub fn wrote_whole(&mut self, len: usize) {
        if let Some(b) = self.batch.as_mut() {
            b.push((len, Bytes::new()));
        }
    }

    /// Write a packet carrying one TCP segment (see [`emit_ip_tcp_with`]).
    /// Returns the bytes written into the buffer: the whole packet, or
    /// when gathering its headers.
    pub fn emit(
        &mut self,
        (local, remote): (SocketAddr, SocketAddr),
        repr: &TcpRepr,
        options: &[TcpOption<'_>],
        payload: &Bytes,
        offload: bool,
    ) -> Result<usize, EmitError> {
        let gather = self.gather && !payload.is_empty();
        let slot = self.whole();
        let n = if gather {
            emit_ip_tcp_headers(local, remote, repr, options, payload, slot, offload)?
        } else {
            emit_ip_tcp_with(local, remote, repr, options, payload, slot, offload)?
        };
        let kept = if gather {
            payload.clone()
        } else {
            Bytes::new()
        };
        match self.batch.as_mut() {
            Some(b) => b.push((n, kept)),
            None => self.payload = kept,
        }
        Ok(n)
    }
}
