//! Keys, tokens, IDSNs and HMACs against real captures:
//! - `testdata/kernel-v1/`: two Linux 6.18 kernels (v1), with the kernels' own tokens and
//!   MPTCP_INFO sequence numbers;
//! - `testdata/third-party/`: ptcpdump's and tcpdump's captures (v1 and v0), values read from
//!   their decodes.

use std::net::IpAddr;
use std::path::PathBuf;

use mptcp_proto::crypto::{
    KeyMaterial, MptcpVersion, Token, add_addr_hmac, idsn, join_hmac, join_hmac_truncated,
    key_material, token, verify_add_addr_hmac, verify_join_ack_hmac, verify_join_synack_hmac,
};
use serde_json::Value;

const V1: MptcpVersion = MptcpVersion::V1;
const V0: MptcpVersion = MptcpVersion::V0;

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

fn read_json(rel: &str) -> Value {
    let text = std::fs::read_to_string(testdata(rel)).expect("read test data");
    // The server's files start with a "listening" line: parse from the first line that opens
    // a JSON object.
    let start = text
        .lines()
        .find(|l| l.starts_with('{'))
        .map(|l| l.as_ptr() as usize - text.as_ptr() as usize)
        .expect("a JSON object");
    let line = &text[start..];
    serde_json::from_str(line).expect("valid JSON")
}

fn u64_of(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a u64 in {v}"))
}

fn captures() -> Vec<Value> {
    let v = read_json("kernel-v1/vectors.json");
    let caps = v["captures"].as_array().expect("captures").clone();
    assert_eq!(caps.len(), 4);
    caps
}

fn hex20(s: &str) -> [u8; 20] {
    assert_eq!(s.len(), 40, "{s}");
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

#[test]
fn kernel_tokens_match_keys() {
    for cap in captures() {
        let mpc = &cap["mp_capable"];
        let (ck, sk) = (u64_of(mpc, "client_key"), u64_of(mpc, "server_key"));
        assert_eq!(
            token(ck, V1),
            Token(u64_of(&cap, "kernel_client_token") as u32),
            "{}",
            cap["capture"]
        );
        assert_eq!(
            token(sk, V1),
            Token(u64_of(&cap, "kernel_server_token") as u32),
            "{}",
            cap["capture"]
        );
        assert_eq!(KeyMaterial::derive(ck, V1).token, token(ck, V1));
    }
}

/// A = the client, which sends the MP_JOIN SYN; B = the server, which answers it.
#[test]
fn kernel_join_hmacs() {
    let mut joins = 0;
    for cap in captures() {
        let mpc = &cap["mp_capable"];
        let (ka, kb) = (u64_of(mpc, "client_key"), u64_of(mpc, "server_key"));
        for j in cap["joins"].as_array().expect("joins") {
            let (ra, rb) = (
                u64_of(j, "client_nonce") as u32,
                u64_of(j, "server_nonce") as u32,
            );
            // The SYN carries B's token.
            assert_eq!(token(kb, V1), Token(u64_of(j, "token") as u32));
            // SYN-ACK: leftmost 64 bits of HMAC(Key-B || Key-A, R-B || R-A), sent by B.
            let synack = u64_of(j, "server_truncated_hmac");
            assert_eq!(join_hmac_truncated(V1, kb, ka, rb, ra), synack);
            assert!(verify_join_synack_hmac(V1, ka, kb, ra, rb, synack));
            assert!(!verify_join_synack_hmac(V1, kb, ka, rb, ra, synack));
            // Third ACK: leftmost 160 bits of HMAC(Key-A || Key-B, R-A || R-B), sent by A.
            let ack = hex20(j["client_hmac"].as_str().expect("client_hmac"));
            assert_eq!(join_hmac(V1, ka, kb, ra, rb), ack);
            assert!(verify_join_ack_hmac(V1, kb, ka, rb, ra, &ack));
            assert!(!verify_join_ack_hmac(
                V1,
                kb,
                ka,
                rb,
                ra.wrapping_add(1),
                &ack
            ));
            joins += 1;
        }
    }
    assert_eq!(joins, 2);
}

#[test]
fn kernel_add_addr_hmacs() {
    let mut seen = 0;
    for cap in captures() {
        let mpc = &cap["mp_capable"];
        let (ck, sk) = (u64_of(mpc, "client_key"), u64_of(mpc, "server_key"));
        for a in cap["add_addr"].as_array().expect("add_addr") {
            // The sender, 10.77.1.2, is the server: key = server's key || client's key.
            assert_eq!(a["sender"], "10.77.1.2");
            let addr: IpAddr = a["addr"].as_str().expect("addr").parse().expect("ip");
            let id = u64_of(a, "address_id") as u8;
            let port = match u64_of(a, "port") {
                0 => None,
                p => Some(p as u16),
            };
            let mac = u64_of(a, "truncated_hmac");
            assert_eq!(add_addr_hmac(sk, ck, id, addr, port), mac);
            assert!(verify_add_addr_hmac(sk, ck, id, addr, port, mac));
            assert!(!verify_add_addr_hmac(ck, sk, id, addr, port, mac));
            assert!(!verify_add_addr_hmac(sk, ck, id ^ 1, addr, port, mac));
            // Absent port and port 0 hash the same (RFC 8684 §3.4.1: two zero octets).
            assert_eq!(add_addr_hmac(sk, ck, id, addr, Some(0)), mac);
            seen += 1;
        }
    }
    assert_eq!(seen, 2);
}

/// The kernels' MPTCP_INFO at the end of each run: the client sent `sent` bytes then a
/// DATA_FIN; the server sent nothing (its write_seq is IDSN + 1, which its DATA_FIN did not
/// advance). These relations hold exactly:
/// client write_seq = IDSN_c + 1 + sent, server rcv_nxt = IDSN_c + 1 + sent + 1 (DATA_FIN),
/// server write_seq = client rcv_nxt = IDSN_s + 1.
#[test]
fn kernel_idsn_matches_mptcp_info() {
    for cap in captures() {
        let name = cap["capture"]
            .as_str()
            .expect("name")
            .trim_end_matches(".pcap");
        let mpc = &cap["mp_capable"];
        let (ci, si) = (
            idsn(u64_of(mpc, "client_key"), V1),
            idsn(u64_of(mpc, "server_key"), V1),
        );
        let client = read_json(&format!("kernel-v1/{name}.client.json"));
        let server = read_json(&format!("kernel-v1/{name}.server.json"));
        let sent = u64_of(&client, "sent");
        let (cinfo, sinfo) = (&client["mptcp_info"], &server["mptcp_info"]);
        assert_eq!(
            u64_of(cinfo, "write_seq"),
            ci.wrapping_add(1 + sent),
            "{name}"
        );
        assert_eq!(
            u64_of(sinfo, "rcv_nxt"),
            ci.wrapping_add(2 + sent),
            "{name}"
        );
        assert_eq!(u64_of(sinfo, "write_seq"), si.wrapping_add(1), "{name}");
        assert_eq!(u64_of(cinfo, "rcv_nxt"), si.wrapping_add(1), "{name}");
        assert_eq!(u64_of(cinfo, "token"), u64_of(&cap, "kernel_client_token"));
        assert_eq!(u64_of(sinfo, "token"), u64_of(&cap, "kernel_server_token"));
    }
}

/// testdata/third-party/README.md, "Key → token/IDSN check" (ptcpdump_mptcp.pcap and
/// tcpdump_mptcp-v1.pcap).
#[test]
fn third_party_v1_keys() {
    let client = 0xfe7b_93dc_894d_cb73;
    let server = 0xe356_a8f2_52e4_1976;
    assert_eq!(
        key_material(client, V1),
        (Token(0xc43e_b50e), 3_891_854_986_895_050_394)
    );
    assert_eq!(
        key_material(server, V1),
        (Token(0x64a4_8c01), 16_853_452_819_136_928_151)
    );
    // The server's DATA_ACK after the client's 5-byte MP_CAPABLE data: IDSN + 1 + 5.
    assert_eq!(idsn(client, V1) + 1 + 5, 3_891_854_986_895_050_400);

    assert_eq!(idsn(0x1fdb_5df3_28bc_3def, V1), 14_413_541_604_287_230_029);
    assert_eq!(idsn(0x29a6_c869_81ad_933c, V1), 11_713_449_205_243_392_241);
}

/// v0 (RFC 6824, SHA-1) from tcpdump_mptcp-v0.out, an ssh session over the out-of-tree Linux
/// MPTCP in 2013: MP_CAPABLE keys (frames 1-3), the MP_JOIN handshake (frames 8-10) and the first
/// 32-bit DSS sequence numbers (frame 4).
#[test]
fn third_party_v0_tcpdump() {
    let ka: u64 = 0x9c9e_abd1_e46a_33b2; // client 10.2.1.2, sends the MP_JOIN SYN (A)
    let kb: u64 = 0x967d_2770_b696_0552; // server 10.1.1.2 (B)
    let (ra, rb) = (0x1b66_5a18, 0x33ab_e9d5);
    // Frame 8: "join id 0 token 0xe47f0142": B's token, SHA-1 of B's key.
    assert_eq!(token(kb, V0), Token(0xe47f_0142));
    // Frame 9: "hmac 0x5ab680c7884af03d" in B's SYN-ACK.
    assert_eq!(
        join_hmac_truncated(V0, kb, ka, rb, ra),
        0x5ab6_80c7_884a_f03d
    );
    assert!(verify_join_synack_hmac(
        V0,
        ka,
        kb,
        ra,
        rb,
        0x5ab6_80c7_884a_f03d
    ));
    // Frame 10: "hmac 0xcb7b87f5e5f0502f43b535fb70ef6607df2e6c7a" in A's third ACK.
    let ack = hex20("cb7b87f5e5f0502f43b535fb70ef6607df2e6c7a");
    assert_eq!(join_hmac(V0, ka, kb, ra, rb), ack);
    assert!(verify_join_ack_hmac(V0, kb, ka, rb, ra, &ack));
    // Frame 4: the server's first DSN and its DATA_ACK of the client's stream (32-bit forms).
    assert_eq!(idsn(kb, V0).wrapping_add(1) as u32, 3_518_592_144);
    assert_eq!(idsn(ka, V0).wrapping_add(1) as u32, 3_576_348_362);
    // v0 and v1 derive different tokens from the same key.
    assert_ne!(token(kb, V1), token(kb, V0));
}

// Not tested, noted: tcpdump_mptcp-aa-v1.pcap (early upstream Linux, February 2020) carries an
// ADD_ADDR HMAC equal to the *leftmost* 64 bits of HMAC-SHA256(server key || client key,
// id || addr || 0x0000), whereas RFC 8684 §3.4.1 and Linux 6.18 (the kernel-v1 vectors above)
// use the rightmost 64 bits. This crate follows the RFC.

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn version() -> impl Strategy<Value = MptcpVersion> {
        prop_oneof![Just(V0), Just(V1)]
    }

    proptest! {
        /// What one side sends, the other side's check accepts, and any flipped bit is refused.
        #[test]
        fn join_hmacs_verify_across_sides(
            v in version(), ka: u64, kb: u64, ra: u32, rb: u32, bit in 0usize..160,
        ) {
            let synack = join_hmac_truncated(v, kb, ka, rb, ra);
            prop_assert!(verify_join_synack_hmac(v, ka, kb, ra, rb, synack));
            prop_assert!(!verify_join_synack_hmac(v, ka, kb, ra, rb, synack ^ (1 << (bit % 64))));
            let mut ack = join_hmac(v, ka, kb, ra, rb);
            prop_assert_eq!(&ack[..8], &synack_of(v, ka, kb, ra, rb)[..]);
            prop_assert!(verify_join_ack_hmac(v, kb, ka, rb, ra, &ack));
            ack[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!verify_join_ack_hmac(v, kb, ka, rb, ra, &ack));
        }

        #[test]
        fn add_addr_hmac_binds_every_field(
            ks: u64, kr: u64, id: u8, a4: [u8; 4], a6: [u8; 16], port: u16,
        ) {
            for addr in [IpAddr::from(a4), IpAddr::from(a6)] {
                let mac = add_addr_hmac(ks, kr, id, addr, Some(port));
                prop_assert!(verify_add_addr_hmac(ks, kr, id, addr, Some(port), mac));
                prop_assert!(!verify_add_addr_hmac(ks, kr, id.wrapping_add(1), addr, Some(port), mac));
                prop_assert!(!verify_add_addr_hmac(ks, kr, id, addr, Some(port ^ 1), mac));
            }
        }
    }

    /// The SYN-ACK value A's own 160-bit HMAC would start with if A answered: the truncation is
    /// a prefix of the full HMAC.
    fn synack_of(v: MptcpVersion, ka: u64, kb: u64, ra: u32, rb: u32) -> [u8; 8] {
        join_hmac_truncated(v, ka, kb, ra, rb).to_be_bytes()
    }
}
