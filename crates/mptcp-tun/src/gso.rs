//! Segmentation offload through the TUN device's `virtio_net_hdr`.
//!
//! Sending: consecutive segments of one flow that differ only in their
//! sequence numbers (same addresses, ports, ACK, window, flags and
//! options: the engine cuts a chunk into segments that all carry its one
//! mapping) are written as one super-packet with a header asking the
//! kernel to treat it as their train (GSO, `gso_size` = the segment
//! size). A local receiver takes it in one piece, as if GRO had merged it;
//! anything forwarding it segments it again.
//!
//! Receiving: the kernel may hand us such trains (when the device offers
//! TSO): ordinary, if large, segments to the engine. Their TCP checksum is
//! partial (`NEEDS_CSUM`: made on this host) or verified (`DATA_VALID`),
//! and the engine is told not to check it again.
//!
//! Checksums: with offloads on every device, the engine leaves outgoing
//! TCP checksums partial too (the pseudo-header's sum), and every packet
//! asks the kernel to complete it; nobody sums a payload.

use arrayvec::ArrayVec;
use mptcp_wire::Checksum;

/// Size of `struct virtio_net_hdr` (without `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;
const F_NEEDS_CSUM: u8 = 1;
const F_DATA_VALID: u8 = 2;
const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;

/// TCP flag bits.
const PSH: u8 = 0x08;
/// Flags a segment may not have to be followed by others in a train.
const ENDS_TRAIN: u8 = 0x01 | 0x02 | 0x04 | 0x08 | 0x20; // FIN SYN RST PSH URG

/// The most bytes after the IP header (IPv6 payload length) or in all
/// (IPv4 total length).
const MAX_LEN: usize = 65535;

/// A `virtio_net_hdr`, in the host's byte order (the TUN default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `VIRTIO_NET_HDR_F_*`.
    pub flags: u8,
    /// `VIRTIO_NET_HDR_GSO_*`.
    pub gso_type: u8,
    /// Length of the headers.
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where checksumming starts.
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Decode.
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        let b: &[u8; VNET_HDR_LEN] = b.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let u = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    /// Encode.
    pub fn bytes(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }
}

/// Where the parts of a TCP/IP packet are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    v6: bool,
    /// IP header length (where TCP starts).
    ip_len: usize,
    /// IP and TCP headers' length (where the payload starts).
    hdr_len: usize,
    payload: usize,
    seq: u32,
    flags: u8,
}

impl Layout {
    /// The layout of an IPv4 (no options, not a fragment) or IPv6 (TCP
    /// right after the fixed header) TCP packet.
    pub fn of(p: &[u8]) -> Option<Layout> {
        Layout::gathered(p, 0)
    }

    /// The layout of such a packet in two parts: `p`, which holds at least
    /// its headers, followed by `more` bytes of payload kept elsewhere.
    pub fn gathered(p: &[u8], more: usize) -> Option<Layout> {
        let (v6, ip_len, total) = match p.first()? >> 4 {
            4 => {
                let frag = u16::from_be_bytes([*p.get(6)?, *p.get(7)?]) & 0x3fff;
                if p[0] & 0x0f != 5 || *p.get(9)? != 6 || frag != 0 {
                    return None;
                }
                (false, 20, usize::from(u16::from_be_bytes([p[2], p[3]])))
            }
            6 => {
                if *p.get(6)? != 6 {
                    return None;
                }
                let plen = usize::from(u16::from_be_bytes([p[4], p[5]]));
                (true, 40, 40 + plen)
            }
            _ => return None,
        };
        if total != p.len() + more {
            return None;
        }
        let tcp = p.get(ip_len..ip_len + 20)?;
        let hdr_len = ip_len + usize::from(tcp[12] >> 4) * 4;
        if hdr_len < ip_len + 20 || hdr_len > p.len() {
            return None;
        }
        Some(Layout {
            v6,
            ip_len,
            hdr_len,
            payload: total - hdr_len,
            seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
            flags: tcp[13],
        })
    }

    /// Payload bytes.
    pub fn payload(&self) -> usize {
        self.payload
    }

    /// Where the payload starts.
    pub fn hdr_len(&self) -> usize {
        self.hdr_len
    }

    /// The TCP flags byte.
    pub fn flags(&self) -> u8 {
        self.flags
    }
}

/// Whether `next` can follow `prev` in a train that `first` starts: the
/// same headers but for the sequence number (and a PSH on the last), a
/// contiguous sequence number, full-sized segments but for the last, and
/// the whole within the IP length limit. `size` is the train's payload so
/// far.
pub fn continues(
    first: &[u8],
    fl: &Layout,
    prev: &Layout,
    next: &[u8],
    nl: &Layout,
    size: usize,
) -> bool {
    let ip_same = if fl.v6 {
        first[..4] == next[..4] && first[6..40] == next[6..40]
    } else {
        first[..2] == next[..2] && first[6..10] == next[6..10] && first[12..20] == next[12..20]
    };
    let (t0, t1) = (fl.ip_len, nl.ip_len);
    let tcp_same = fl.hdr_len == nl.hdr_len
        && first[t0..t0 + 4] == next[t1..t1 + 4]
        && first[t0 + 8..t0 + 13] == next[t1 + 8..t1 + 13]
        && first[t0 + 14..t0 + 16] == next[t1 + 14..t1 + 16]
        && first[t0 + 18..fl.hdr_len] == next[t1 + 18..nl.hdr_len];
    let limit = if fl.v6 { MAX_LEN + 40 } else { MAX_LEN };
    ip_same
        && tcp_same
        && prev.flags & ENDS_TRAIN == 0
        && nl.flags & !PSH == fl.flags
        && prev.payload == fl.payload
        && nl.payload > 0
        && nl.payload <= fl.payload
        && nl.seq == prev.seq.wrapping_add(prev.payload as u32)
        && fl.hdr_len + size + nl.payload <= limit
}

/// The headers of a train: `first`'s IP and TCP headers with the lengths
/// of `payload` bytes in all, the last segment's PSH, an IPv4 header
/// checksum, and in the TCP checksum the pseudo-header's sum that the
/// kernel completes per segment; and the `virtio_net_hdr` asking for it.
pub fn train_header(
    first: &[u8],
    fl: &Layout,
    payload: usize,
    last_flags: u8,
) -> (ArrayVec<u8, 120>, VnetHdr) {
    let mut h: ArrayVec<u8, 120> = first[..fl.hdr_len].iter().copied().collect();
    let tcp_len = fl.hdr_len - fl.ip_len + payload;
    let ip_len = fl.ip_len;
    h[ip_len + 13] = fl.flags | (last_flags & PSH);
    h[ip_len + 16..ip_len + 18].copy_from_slice(&[0, 0]);
    let mut pseudo = Checksum::new();
    if fl.v6 {
        h[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        pseudo.add_bytes(&h[8..40]);
    } else {
        h[2..4].copy_from_slice(&((fl.hdr_len + payload) as u16).to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let c = Checksum::new().add_bytes(&h[..20]).finish();
        h[10..12].copy_from_slice(&c.to_be_bytes());
        pseudo.add_bytes(&h[12..20]);
    }
    pseudo.add_u16(6).add_u16(tcp_len as u16);
    h[ip_len + 16..ip_len + 18].copy_from_slice(&pseudo.sum().to_be_bytes());
    let vnet = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: if fl.v6 { GSO_TCPV6 } else { GSO_TCPV4 },
        hdr_len: fl.hdr_len as u16,
        gso_size: fl.payload as u16,
        csum_start: ip_len as u16,
        csum_offset: 16,
    };
    (h, vnet)
}

/// Whether the kernel vouches for the packet's TCP checksum: it left it
/// partial (made on this host) or verified it.
pub fn checksum_trusted(hdr: &VnetHdr) -> bool {
    hdr.flags & (F_NEEDS_CSUM | F_DATA_VALID) != 0
}

/// The header of one packet (`packet` and `more` bytes of payload after
/// it) whose TCP checksum the engine left partial (`offload`), or of a
/// packet with its checksum complete.
pub fn single(packet: &[u8], more: usize, offload: bool) -> VnetHdr {
    match Layout::gathered(packet, more) {
        Some(l) if offload => VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: l.ip_len as u16,
            csum_offset: 16,
            ..VnetHdr::default()
        },
        _ => VnetHdr::default(),
    }
}

/// Whether a header announces a train (more than one segment's worth).
pub fn is_train(hdr: &VnetHdr) -> bool {
    hdr.gso_type & !0x80 != GSO_NONE
}

#[cfg(test)]
mod tests;
