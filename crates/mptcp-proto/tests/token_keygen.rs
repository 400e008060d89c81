//! The local key generator: SipHash-2-4 over the documented byte layout.
//!
//! The expected keys were computed once with an independent SipHash-2-4 written in Python from
//! the SipHash paper (Aumasson & Bernstein, 2012), checked against the paper's Appendix A vector
//! (key 00 01 .. 0f, message 00 01 .. 0e -> 0xa129ca6149be45e5), over the messages built with
//! Python's `ipaddress` and `struct` following the layout in `mptcp_proto::token::keygen`:
//! IPv4 `daddr || saddr || pack('>HH', dport, sport) || pack('<I', seed)`, IPv6
//! `saddr || daddr || pack('<I', seed) || pack('>HH', sport, dport)`. For IPv4 the script also
//! checked that these bytes equal the two little-endian words of the original's
//! `siphash_2u64((u64)saddr << 32 | daddr, (u64)seed << 32 | sport << 16 | dport)` computed on a
//! little-endian host.

use std::hash::Hasher;
use std::net::SocketAddr;

use mptcp_proto::crypto::{KeyMaterial, MptcpVersion};
use mptcp_proto::token::{FourTuple, KeyGenerator, KeySource, key_input};
use siphasher::sip::SipHasher24;

const SECRET: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

fn tuple(local: &str, remote: &str) -> FourTuple {
    let l: SocketAddr = local.parse().expect("local");
    let r: SocketAddr = remote.parse().expect("remote");
    FourTuple::new(l, r).expect("same family")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How `siphasher` is fed: a 16-byte key as in the reference, bytes as the message.
#[test]
fn siphasher_matches_the_paper() {
    let msg: Vec<u8> = (0u8..15).collect();
    assert_eq!(
        SipHasher24::new_with_key(&SECRET).hash(&msg),
        0xa129_ca61_49be_45e5
    );
    let mut h = SipHasher24::new_with_key(&SECRET);
    h.write(&msg);
    assert_eq!(h.finish(), 0xa129_ca61_49be_45e5);
}

#[test]
fn ipv4_layout_and_keys() {
    let t = tuple("10.77.1.1:40000", "10.77.1.2:5001");
    assert_eq!(
        hex(key_input(&t, 0).as_bytes()),
        "0a4d01020a4d010113899c4000000000"
    );
    assert_eq!(
        hex(key_input(&t, 0xdead_beef).as_bytes()),
        "0a4d01020a4d010113899c40efbeadde"
    );
    let g = KeyGenerator::new(SECRET, 0);
    assert_eq!(g.key_for(&t, 0), 0x7360_e4cf_e989_67e4);
    assert_eq!(g.key_for(&t, 1), 0xc830_c229_f141_4596);
    assert_eq!(g.key_for(&t, 0xdead_beef), 0x9591_4a4f_346b_7503);

    let secret2 = [
        0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e,
        0x0f,
    ];
    let t2 = tuple("192.168.0.10:51234", "203.0.113.7:443");
    assert_eq!(
        hex(key_input(&t2, 7).as_bytes()),
        "cb007107c0a8000a01bbc82207000000"
    );
    assert_eq!(
        KeyGenerator::new(secret2, 0).key_for(&t2, 7),
        0xd997_11f0_6f42_a82a
    );
}

#[test]
fn ipv6_layout_and_keys() {
    let t = tuple("[2001:db8::1]:40000", "[2001:db8:0:1::2]:5001");
    assert_eq!(
        hex(key_input(&t, 1).as_bytes()),
        "20010db8000000000000000000000001\
         20010db8000000010000000000000002\
         010000009c401389"
    );
    let g = KeyGenerator::new(SECRET, 0);
    assert_eq!(g.key_for(&t, 0), 0x9f5d_294a_0bfe_2306);
    assert_eq!(g.key_for(&t, 1), 0xe187_8c70_cbaa_6d90);
    assert_eq!(g.key_for(&t, 0xdead_beef), 0x9008_421a_4966_6d0b);

    let secret2 = [
        0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e,
        0x0f,
    ];
    let t2 = tuple("[fe80::1]:51234", "[2001:db8::beef]:443");
    assert_eq!(
        KeyGenerator::new(secret2, 0).key_for(&t2, 7),
        0x259e_48c6_aa0f_dedd
    );
}

#[test]
fn counter_advances_on_every_key() {
    let t = tuple("10.77.1.1:40000", "10.77.1.2:5001");
    let g = KeyGenerator::new(SECRET, u32::MAX - 1);
    assert_eq!(g.next_key(&t), g.key_for(&t, u32::MAX - 1));
    assert_eq!(g.next_key(&t), g.key_for(&t, u32::MAX));
    // The counter is a u32 and wraps, like the original's.
    assert_eq!(g.peek_seed(), 0);
    assert_eq!(
        g.next_material(&t, MptcpVersion::V1),
        KeyMaterial::derive(g.key_for(&t, 0), MptcpVersion::V1)
    );
    assert_eq!(g.peek_seed(), 1);
    // Same tuple, next counter value: a different key.
    assert_ne!(g.key_for(&t, 1), g.key_for(&t, 2));
}

#[test]
fn counter_is_shared_between_threads() {
    let t = tuple("10.77.1.1:40000", "10.77.1.2:5001");
    let g = KeyGenerator::new(SECRET, 0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    g.next_key(&t);
                }
            });
        }
    });
    assert_eq!(g.peek_seed(), 4000);
}

#[test]
fn tuple_families_must_match() {
    let v4: SocketAddr = "10.0.0.1:1".parse().expect("v4");
    let v6: SocketAddr = "[::1]:1".parse().expect("v6");
    assert_eq!(FourTuple::new(v4, v6), None);
    assert_eq!(FourTuple::new(v6, v4), None);
}

#[test]
fn debug_hides_the_secret() {
    let g = KeyGenerator::new([0xab; 16], 5);
    let s = format!("{g:?}");
    assert!(s.contains("<redacted>") && s.contains('5'), "{s}");
    assert!(!s.contains("171") && !s.contains("ab"), "{s}");
}
