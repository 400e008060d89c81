//! Scanning the captures under `testdata/`: every packet, every option.
//! Shared by the capture tests; each capture is scanned once per test binary.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mptcp_wire::{
    CapableBody, CaptureFormat, CaptureReader, CapturedPacket, DataSeq, DssMapping, IpPacket,
    IpProtocol, MpCapable, MptcpOption, PacketType, ParseError, RawOption, TcpOption, TcpSegment,
    Version, WireSeq, verify_dss_checksum,
};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The malformed capture: a SYN with a 3-byte DSS option.
pub const OOBR: &str = "tcpdump_mptcp-dss-oobr.pcap";

/// `testdata/` at the workspace root.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Every `.pcap` file (pcapng ones included: one is misnamed) of both folders.
pub fn capture_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for dir in ["kernel-v1", "third-party"] {
        for entry in std::fs::read_dir(testdata().join(dir)).expect("testdata folder") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "pcap") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    assert_eq!(paths.len(), 14, "4 kernel captures and 10 third-party ones");
    paths
}

/// Hash of a key as 8 big-endian bytes, for the key's MPTCP version.
fn key_hash(version: Version, key: u64) -> Option<Vec<u8>> {
    match version {
        Version::V0 => Some(Sha1::digest(key.to_be_bytes()).to_vec()),
        Version::V1 => Some(Sha256::digest(key.to_be_bytes()).to_vec()),
        _ => None,
    }
}

/// Token: most significant 32 bits of the key's hash (RFC 8684 §3.2).
pub fn token(version: Version, key: u64) -> Option<u32> {
    let h = key_hash(version, key)?;
    Some(u32::from_be_bytes(h[..4].try_into().ok()?))
}

/// Initial data sequence number: least significant 64 bits of the hash.
pub fn idsn(version: Version, key: u64) -> Option<u64> {
    let h = key_hash(version, key)?;
    Some(u64::from_be_bytes(h[h.len() - 8..].try_into().ok()?))
}

/// What one capture holds.
#[derive(Debug, Default)]
pub struct Scan {
    pub format: Option<CaptureFormat>,
    pub packets: usize,
    pub first_timestamp: Option<std::time::Duration>,
    pub not_ip: usize,
    pub ipv4: usize,
    pub ipv4_header_ok: usize,
    pub tcp: usize,
    pub other_transport: usize,
    pub truncated: usize,
    /// Complete TCP segments whose checksum verifies, by direction.
    pub csum_valid: BTreeMap<Option<u16>, usize>,
    /// Complete TCP segments carrying only the pseudo-header sum.
    pub csum_partial: BTreeMap<Option<u16>, usize>,
    /// Complete TCP segments whose checksum is neither.
    pub csum_bad: usize,
    /// TCP options parsed and re-emitted byte for byte.
    pub options: usize,
    /// MPTCP options per subtype.
    pub subtypes: BTreeMap<u8, usize>,
    pub dss_with_checksum: usize,
    /// DSS checksums whose mapping lies within one segment, and of those
    /// the ones that verify.
    pub csum_checkable: usize,
    pub csum_verified: usize,
    /// Options that did not parse: packet index, error, bytes.
    pub option_errors: Vec<(usize, ParseError, Vec<u8>)>,
    /// Options that followed a bad one in the same packet.
    pub options_after_error: usize,
    /// The MPTCP options of each packet (indexed like the capture).
    pub mptcp: Vec<Vec<MptcpOption>>,
    /// IDSNs of the keys seen so far.
    pub idsns: BTreeSet<u64>,
}

impl Scan {
    fn packet(&mut self, packet: &CapturedPacket) {
        self.packets += 1;
        self.first_timestamp.get_or_insert(packet.timestamp);
        self.mptcp.push(Vec::new());
        let ip = match packet.ip() {
            Ok(Some(ip)) => ip,
            Ok(None) => return self.not_ip += 1,
            Err(e) => panic!("packet {}: IP does not parse: {e}", packet.index),
        };
        if let IpPacket::V4(v4) = ip {
            self.ipv4 += 1;
            self.ipv4_header_ok += usize::from(v4.verify_header_checksum());
        }
        if ip.protocol() != IpProtocol::TCP {
            return self.other_transport += 1;
        }
        let tcp = ip
            .tcp()
            .unwrap_or_else(|e| panic!("packet {}: {e}", packet.index));
        self.tcp += 1;
        let direction = packet
            .link()
            .ok()
            .and_then(|l| l.packet_type)
            .map(|PacketType(t)| t);
        if ip.is_truncated() {
            self.truncated += 1;
        } else if tcp.verify_checksum(ip.src(), ip.dst()) {
            *self.csum_valid.entry(direction).or_default() += 1;
        } else if tcp.checksum_is_partial(ip.src(), ip.dst()) {
            *self.csum_partial.entry(direction).or_default() += 1;
        } else {
            self.csum_bad += 1;
        }
        let mut after_error = false;
        for raw in tcp.options().raw() {
            let raw = raw.unwrap_or_else(|e| panic!("packet {}: options area: {e}", packet.index));
            self.options_after_error += usize::from(after_error);
            if !self.option(packet.index, raw, &tcp) {
                after_error = true;
            }
        }
    }

    /// One option; false when it does not parse.
    fn option(&mut self, index: usize, raw: RawOption<'_>, tcp: &TcpSegment<'_>) -> bool {
        let opt = match raw.parse() {
            Ok(opt) => opt,
            Err(e) => {
                self.option_errors.push((index, e, raw.bytes.to_vec()));
                return false;
            }
        };
        let mut buf = [0u8; 40];
        let n = opt.emit(&mut buf).expect("a parsed option re-emits");
        assert_eq!(
            &buf[..n],
            raw.bytes,
            "packet {index}: {opt:?} re-emits differently"
        );
        self.options += 1;
        if let TcpOption::Mptcp(m) = opt {
            *self.subtypes.entry(m.subtype()).or_default() += 1;
            self.mptcp[index].push(m);
            self.mptcp_option(m, tcp.payload());
        }
        true
    }

    fn mptcp_option(&mut self, m: MptcpOption, payload: &[u8]) {
        match m {
            MptcpOption::Capable(c) => self.capable(c, payload),
            MptcpOption::Dss(d) => {
                if let Some(map) = d.mapping.filter(|m| m.checksum.is_some()) {
                    self.dss_with_checksum += 1;
                    self.check_dss_checksum(map, d.data_fin, payload);
                }
            }
            _ => {}
        }
    }

    fn capable(&mut self, c: MpCapable, payload: &[u8]) {
        for key in [c.sender_key(), c.receiver_key()].into_iter().flatten() {
            self.idsns.extend(idsn(c.version, key));
        }
        // RFC 8684 §3.1: the data of the MP_CAPABLE ACK starts at IDSN + 1,
        // relative subflow sequence number 1.
        if let CapableBody::BothKeysWithData {
            sender,
            data_len,
            checksum: Some(csum),
            ..
        } = c.body
        {
            let Some(idsn) = idsn(c.version, sender) else {
                return;
            };
            if usize::from(data_len) != payload.len() {
                return;
            }
            let dsn = idsn.wrapping_add(1);
            self.csum_checkable += 1;
            let ok = verify_dss_checksum(dsn, 1, data_len, csum, payload);
            self.csum_verified += usize::from(ok);
        }
    }

    /// Verify a DSS checksum when the segment holds the whole mapping. A
    /// 32-bit DSN is expanded near the IDSN of one of the connection's keys
    /// (every capture with checksums holds a single connection).
    fn check_dss_checksum(&mut self, map: DssMapping, data_fin: bool, payload: &[u8]) {
        let len = usize::from(map.data_len);
        // RFC 8684 §3.3.3: a DATA_FIN takes one byte of data-level length.
        let whole = len == payload.len() || (data_fin && len == payload.len() + 1);
        let Some(csum) = map.checksum.filter(|_| whole) else {
            return;
        };
        let dsns: Vec<u64> = match map.dsn {
            WireSeq::Long(dsn) => vec![dsn],
            short => self
                .idsns
                .iter()
                .map(|&i| short.expand(DataSeq(i)).0)
                .collect(),
        };
        self.csum_checkable += 1;
        let ok = dsns
            .iter()
            .any(|&dsn| verify_dss_checksum(dsn, map.subflow_seq, map.data_len, csum, payload));
        self.csum_verified += usize::from(ok);
    }
}

/// Scan one capture.
pub fn scan(path: &Path) -> Scan {
    let reader = CaptureReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut s = Scan {
        format: Some(reader.format()),
        ..Scan::default()
    };
    for packet in reader {
        let packet = packet.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        s.packet(&packet);
    }
    s
}

/// Every capture, scanned once, by file name.
pub fn scans() -> &'static BTreeMap<String, Scan> {
    static SCANS: OnceLock<BTreeMap<String, Scan>> = OnceLock::new();
    SCANS.get_or_init(|| {
        let paths = capture_paths();
        let handles: Vec<_> = paths
            .into_iter()
            .map(|p| std::thread::spawn(move || (name(&p), scan(&p))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("scan"))
            .collect()
    })
}

fn name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned()
}

/// The scan of the capture called `name`.
pub fn get(name: &str) -> &'static Scan {
    scans()
        .get(name)
        .unwrap_or_else(|| panic!("no capture {name}"))
}
