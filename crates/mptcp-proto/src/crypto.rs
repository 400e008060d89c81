//! MPTCP's cryptographic material: keys, tokens, IDSNs and HMACs.
//!
//! - Token and IDSN from a key: RFC 8684 §3.1 (v1, SHA-256) and RFC 6824 §3.1 (v0, SHA-1).
//! - MP_JOIN HMACs: RFC 8684 §3.2 (HMAC-SHA256) and RFC 6824 §3.2 (HMAC-SHA1).
//! - ADD_ADDR HMAC: RFC 8684 §3.4.1 (v1 only; v0's ADD_ADDR carries no HMAC).
//!
//! Keys are `u64` values; on the wire and in every hash they are 8 bytes in network byte order.
//! Nonces (the MP_JOIN "random numbers") are `u32`, 4 bytes in network byte order.
//!
//! The hash and HMAC primitives are RustCrypto's `sha1`, `sha2` and `hmac`; nothing here is
//! hand-written cryptography. The DSS checksum lives in `mptcp_wire::checksum`.

use core::fmt;
use std::net::IpAddr;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The MPTCP protocol version of a connection, which selects the hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MptcpVersion {
    /// RFC 6824: SHA-1 tokens/IDSNs, HMAC-SHA1 for MP_JOIN.
    V0,
    /// RFC 8684: SHA-256 tokens/IDSNs, HMAC-SHA256 for MP_JOIN and ADD_ADDR.
    V1,
}

impl MptcpVersion {
    /// The version number carried in MP_CAPABLE (0 or 1).
    pub fn number(self) -> u8 {
        match self {
            MptcpVersion::V0 => 0,
            MptcpVersion::V1 => 1,
        }
    }
}

/// A connection token: the most significant 32 bits of the hash of a key (RFC 8684 §3.1).
///
/// `Display` prints it as `0x%08x`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Token(pub u32);

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({self})")
    }
}

/// Length of the MP_JOIN HMAC carried in the third ACK: the leftmost 160 bits.
pub const JOIN_HMAC_LEN: usize = 20;

/// Hash of the key in network byte order: SHA-1 (20 bytes) for v0, SHA-256 (32 bytes) for v1,
/// returned in a 32-byte buffer with its length.
fn key_digest(key: u64, version: MptcpVersion) -> ([u8; 32], usize) {
    let bytes = key.to_be_bytes();
    let mut out = [0u8; 32];
    match version {
        MptcpVersion::V0 => {
            out[..20].copy_from_slice(&Sha1::digest(bytes));
            (out, 20)
        }
        MptcpVersion::V1 => {
            out.copy_from_slice(&Sha256::digest(bytes));
            (out, 32)
        }
    }
}

/// Token and IDSN of `key` for `version`.
///
/// RFC 8684 §3.1: the token MUST be the most significant 32 bits of SHA-256(key), the IDSN the
/// least significant (rightmost) 64 bits; the key MUST be hashed in network byte order.
/// RFC 6824 §3.1 says the same with SHA-1.
pub fn key_material(key: u64, version: MptcpVersion) -> (Token, u64) {
    let (digest, len) = key_digest(key, version);
    let mut tok = [0u8; 4];
    tok.copy_from_slice(&digest[..4]);
    let mut idsn = [0u8; 8];
    idsn.copy_from_slice(&digest[len - 8..len]);
    (Token(u32::from_be_bytes(tok)), u64::from_be_bytes(idsn))
}

/// A local key with the token and IDSN derived from it for one MPTCP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyMaterial {
    /// The 64-bit key sent in MP_CAPABLE.
    pub key: u64,
    /// The token derived from the key.
    pub token: Token,
    /// The initial data sequence number derived from the key.
    pub idsn: u64,
}

impl KeyMaterial {
    /// Derive the token and IDSN of `key` for `version` (see [`key_material`]).
    pub fn derive(key: u64, version: MptcpVersion) -> KeyMaterial {
        let (token, idsn) = key_material(key, version);
        KeyMaterial { key, token, idsn }
    }
}

/// The token of `key` (see [`key_material`]).
pub fn token(key: u64, version: MptcpVersion) -> Token {
    key_material(key, version).0
}

/// The initial data sequence number of `key` (see [`key_material`]).
pub fn idsn(key: u64, version: MptcpVersion) -> u64 {
    key_material(key, version).1
}

/// HMAC with `key` over `msg`, SHA-1 for v0 and SHA-256 for v1, in a 32-byte buffer with its length.
fn hmac(version: MptcpVersion, key: &[u8], msg: &[u8]) -> ([u8; 32], usize) {
    let mut out = [0u8; 32];
    match version {
        MptcpVersion::V0 => {
            // HMAC accepts keys of any length: new_from_slice cannot fail here.
            let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(msg);
            out[..20].copy_from_slice(&mac.finalize().into_bytes());
            (out, 20)
        }
        MptcpVersion::V1 => {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(msg);
            out.copy_from_slice(&mac.finalize().into_bytes());
            (out, 32)
        }
    }
}

/// `a || b` as 16 bytes, each in network byte order: the HMAC key of RFC 8684 §3.2 / §3.4.1.
fn key_pair(a: u64, b: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&a.to_be_bytes());
    k[8..].copy_from_slice(&b.to_be_bytes());
    k
}

/// The full MP_JOIN HMAC the *local* host sends: HMAC(Key=(key_local || key_remote),
/// Msg=(nonce_local || nonce_remote)), leftmost 160 bits.
///
/// RFC 8684 §3.2: HMAC-A = HMAC(Key=(Key-A + Key-B), Msg=(R-A + R-B)) and
/// HMAC-B = HMAC(Key=(Key-B + Key-A), Msg=(R-B + R-A)): each host puts its own key and nonce
/// first. The initiator (A, which sent the MP_JOIN SYN) sends these 160 bits in the third ACK.
/// For v0 (HMAC-SHA1) the 160 bits are the whole HMAC.
pub fn join_hmac(
    version: MptcpVersion,
    key_local: u64,
    key_remote: u64,
    nonce_local: u32,
    nonce_remote: u32,
) -> [u8; JOIN_HMAC_LEN] {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&nonce_local.to_be_bytes());
    msg[4..].copy_from_slice(&nonce_remote.to_be_bytes());
    let (mac, _) = hmac(version, &key_pair(key_local, key_remote), &msg);
    let mut out = [0u8; JOIN_HMAC_LEN];
    out.copy_from_slice(&mac[..JOIN_HMAC_LEN]);
    out
}

/// The truncated MP_JOIN HMAC the *local* host sends in a SYN-ACK: the leftmost 64 bits of
/// [`join_hmac`], as a big-endian `u64` (RFC 8684 §3.2, Figure 6). The responder (B) sends it.
pub fn join_hmac_truncated(
    version: MptcpVersion,
    key_local: u64,
    key_remote: u64,
    nonce_local: u32,
    nonce_remote: u32,
) -> u64 {
    let mac = join_hmac(version, key_local, key_remote, nonce_local, nonce_remote);
    let mut b = [0u8; 8];
    b.copy_from_slice(&mac[..8]);
    u64::from_be_bytes(b)
}

/// The initiator (A) checks the truncated HMAC in the responder's SYN-ACK, in constant time.
///
/// Arguments are from the verifier's point of view: `key_local`/`nonce_local` are A's,
/// `key_remote`/`nonce_remote` are B's; the expected value is
/// HMAC(Key-B || Key-A, R-B || R-A), leftmost 64 bits.
pub fn verify_join_synack_hmac(
    version: MptcpVersion,
    key_local: u64,
    key_remote: u64,
    nonce_local: u32,
    nonce_remote: u32,
    received: u64,
) -> bool {
    let expected = join_hmac_truncated(version, key_remote, key_local, nonce_remote, nonce_local);
    ct_eq(&expected.to_be_bytes(), &received.to_be_bytes())
}

/// The responder (B) checks the 160-bit HMAC in the initiator's third ACK, in constant time.
///
/// Arguments are from the verifier's point of view: `key_local`/`nonce_local` are B's,
/// `key_remote`/`nonce_remote` are A's; the expected value is
/// HMAC(Key-A || Key-B, R-A || R-B), leftmost 160 bits.
pub fn verify_join_ack_hmac(
    version: MptcpVersion,
    key_local: u64,
    key_remote: u64,
    nonce_local: u32,
    nonce_remote: u32,
    received: &[u8; JOIN_HMAC_LEN],
) -> bool {
    let expected = join_hmac(version, key_remote, key_local, nonce_remote, nonce_local);
    ct_eq(&expected, received)
}

/// The v1 ADD_ADDR truncated HMAC (RFC 8684 §3.4.1): the rightmost 64 bits of
/// HMAC-SHA256(Key=(key_sender || key_receiver), Msg=(id || address || port)), as a big-endian
/// `u64`.
///
/// The address is 4 or 16 bytes in network order; the port is 2 bytes in network order, and
/// RFC 8684 §3.4.1: "If the port is not present in the ADD_ADDR option, the HMAC message will
/// nevertheless include 2 octets of value zero."
pub fn add_addr_hmac(
    key_sender: u64,
    key_receiver: u64,
    id: u8,
    addr: IpAddr,
    port: Option<u16>,
) -> u64 {
    let mut msg = [0u8; 1 + 16 + 2];
    msg[0] = id;
    let addr_len = match addr {
        IpAddr::V4(a) => {
            msg[1..5].copy_from_slice(&a.octets());
            4
        }
        IpAddr::V6(a) => {
            msg[1..17].copy_from_slice(&a.octets());
            16
        }
    };
    let end = 1 + addr_len + 2;
    msg[1 + addr_len..end].copy_from_slice(&port.unwrap_or(0).to_be_bytes());
    let (mac, len) = hmac(
        MptcpVersion::V1,
        &key_pair(key_sender, key_receiver),
        &msg[..end],
    );
    let mut b = [0u8; 8];
    b.copy_from_slice(&mac[len - 8..len]);
    u64::from_be_bytes(b)
}

/// Checks a received ADD_ADDR HMAC in constant time. The arguments are those of
/// [`add_addr_hmac`]: `key_sender` is the key of the host that sent the ADD_ADDR (the remote
/// host, for the receiver doing the check).
///
/// RFC 8684 §3.4.1: a host that cannot validate the HMAC SHOULD silently ignore the option.
pub fn verify_add_addr_hmac(
    key_sender: u64,
    key_receiver: u64,
    id: u8,
    addr: IpAddr,
    port: Option<u16>,
    received: u64,
) -> bool {
    let expected = add_addr_hmac(key_sender, key_receiver, id, addr, port);
    ct_eq(&expected.to_be_bytes(), &received.to_be_bytes())
}

/// Equality that looks at every byte whatever the contents (no early exit), so its running time
/// does not tell an attacker how many leading bytes of a forged HMAC were right.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    core::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_display() {
        assert_eq!(Token(0xc43e_b50e).to_string(), "0xc43eb50e");
        assert_eq!(Token(1).to_string(), "0x00000001");
        assert_eq!(format!("{:?}", Token(1)), "Token(0x00000001)");
    }

    #[test]
    fn join_hmacs_are_symmetric() {
        for v in [MptcpVersion::V0, MptcpVersion::V1] {
            let (ka, kb, ra, rb) = (0x0102_0304_0506_0708, 0xa1a2_a3a4_a5a6_a7a8, 7, 9);
            // B computes its SYN-ACK HMAC with B's values first; A verifies it.
            let b_sends = join_hmac_truncated(v, kb, ka, rb, ra);
            assert!(verify_join_synack_hmac(v, ka, kb, ra, rb, b_sends));
            assert!(!verify_join_synack_hmac(v, ka, kb, ra, rb, b_sends ^ 1));
            // A computes its ACK HMAC with A's values first; B verifies it.
            let a_sends = join_hmac(v, ka, kb, ra, rb);
            assert!(verify_join_ack_hmac(v, kb, ka, rb, ra, &a_sends));
            let mut bad = a_sends;
            bad[19] ^= 0x80;
            assert!(!verify_join_ack_hmac(v, kb, ka, rb, ra, &bad));
        }
    }

    #[test]
    fn ct_eq_basics() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
