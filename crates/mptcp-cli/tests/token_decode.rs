//! `mptcp token` and `mptcp decode`, run as the built binary.
//!
//! Token vectors come from outside this project: the kernels' own tokens
//! (MPTCP_INFO) in `testdata/kernel-v1/vectors.json`, the key → token/IDSN
//! check in `testdata/third-party/README.md`, and one v0 vector computed
//! with Python's hashlib. Packet counts per capture were established with
//! tshark 4.0.17 (`tshark -r FILE -Y 'tcp && !icmp' | wc -l`).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

fn mptcp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mptcp"))
        .args(args)
        .output()
        .expect("run mptcp")
}

fn decode(rel: &str, json: bool) -> Output {
    let path = testdata(rel);
    let path = path.to_str().expect("UTF-8 path");
    match json {
        true => mptcp(&["decode", "--json", path]),
        false => mptcp(&["decode", path]),
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("UTF-8 errors")
}

/// Exit status 2 and exactly one line on stderr, starting with `mptcp: `.
fn assert_usage_error(out: &Output, what: &str) {
    assert_eq!(out.status.code(), Some(2), "{what}: {out:?}");
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "{what}: {err:?}");
    assert!(err.starts_with("mptcp: "), "{what}: {err:?}");
    assert!(out.stdout.is_empty(), "{what}: {out:?}");
}

fn vectors() -> Value {
    let text = std::fs::read_to_string(testdata("kernel-v1/vectors.json")).expect("vectors.json");
    serde_json::from_str(&text).expect("vectors.json parses")
}

fn u64_field(v: &Value, path: &[&str]) -> u64 {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_u64().unwrap_or_else(|| panic!("{path:?} in {v}"))
}

// --- token -------------------------------------------------------------

#[test]
fn token_text_matches_known_vectors() {
    // testdata/third-party/README.md, "Key → token/IDSN check" (v1).
    let cases = [
        (
            "0xfe7b93dc894dcb73",
            vec![],
            0xc43e_b50e_u32,
            3_891_854_986_895_050_394_u64,
        ),
        (
            "0xe356a8f252e41976",
            vec![],
            0x64a4_8c01,
            16_853_452_819_136_928_151,
        ),
        // The same README, from tcpdump_mptcp-v1.pcap (IDSN only there;
        // the token from hashlib.sha256).
        (
            "0x1fdb5df328bc3def",
            vec![],
            0x239f_bdb0,
            14_413_541_604_287_230_029,
        ),
        // v0: the client key of tcpdump_mptcp-v0.pcap. Computed with
        // Python: sha1((0x9c9eabd1e46a33b2).to_bytes(8, "big")) → first 4
        // bytes af9706eb, last 8 bytes 9851b565d52abec9. The low 32 bits of
        // that IDSN + 1 (3576348362) are the first DATA_ACK in the
        // capture's tcpdump output.
        (
            "0x9c9eabd1e46a33b2",
            vec!["--v0"],
            0xaf97_06eb,
            0x9851_b565_d52a_bec9,
        ),
    ];
    for (key, extra, token, idsn) in cases {
        let mut args = vec!["token", key];
        args.extend(extra);
        let out = mptcp(&args);
        assert!(out.status.success(), "{key}: {out:?}");
        assert_eq!(
            stdout(&out),
            format!("token {token:#010x} idsn {idsn:#018x}\n"),
            "{key}"
        );
    }
}

#[test]
fn token_json_matches_the_kernels_tokens() {
    let vectors = vectors();
    let captures = vectors["captures"].as_array().expect("captures");
    assert_eq!(captures.len(), 4);
    for c in captures {
        for (key, token) in [
            ("client_key", "kernel_client_token"),
            ("server_key", "kernel_server_token"),
        ] {
            let key = u64_field(c, &["mp_capable", key]);
            let want = u64_field(c, &[token]);
            // Decimal on the command line, as the JSON file has it.
            let out = mptcp(&["token", &key.to_string(), "--json"]);
            assert!(out.status.success(), "{key}: {out:?}");
            let text = stdout(&out);
            assert_eq!(text.lines().count(), 1);
            let v: Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(v["key"].as_u64(), Some(key));
            assert_eq!(v["version"].as_u64(), Some(1));
            assert_eq!(v["token"].as_u64(), Some(want), "{c}");
            assert!(v["idsn"].is_u64());
            assert_eq!(v.as_object().map(|o| o.len()), Some(4));
        }
    }
}

#[test]
fn token_json_v0_and_field_order() {
    let out = mptcp(&["token", "--v0", "--json", "0x9c9eabd1e46a33b2"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!(
            "{{\"key\":{},\"version\":0,\"token\":{},\"idsn\":{}}}\n",
            0x9c9e_abd1_e46a_33b2_u64, 0xaf97_06eb_u32, 0x9851_b565_d52a_bec9_u64
        )
    );
}

#[test]
fn token_bad_keys_exit_2_with_one_line() {
    for bad in [
        "",
        "-5",
        "-0x5",
        "abc",
        "0x",
        "0xzz",
        "12.5",
        "18446744073709551616",
        "0x1fdb5df328bc3def0",
    ] {
        assert_usage_error(&mptcp(&["token", bad]), bad);
    }
    // The largest key is fine.
    assert!(mptcp(&["token", "18446744073709551615"]).status.success());
}

// --- decode ------------------------------------------------------------

/// Every capture, with its number of TCP packets (frames that are not TCP,
/// e.g. ARP, get no line).
const CAPTURES: &[(&str, usize)] = &[
    ("kernel-v1/v1-backup.pcap", 30),
    ("kernel-v1/v1-csum.pcap", 37),
    ("kernel-v1/v1-join.pcap", 79),
    ("kernel-v1/v1-single.pcap", 32),
    ("third-party/ptcpdump_mptcp.pcap", 14),
    // pcapng: 2884 frames, 2858 of them TCP.
    ("third-party/pymptcpanalyzer_client_2.pcap", 2858),
    ("third-party/pymptcpanalyzer_iperf-mptcp-0-0.pcap", 2554),
    ("third-party/tcpdump_mptcp-aa-echo.pcap", 2),
    ("third-party/tcpdump_mptcp-aa-v1.pcap", 22),
    ("third-party/tcpdump_mptcp-dss-oobr.pcap", 1),
    ("third-party/tcpdump_mptcp-fclose.pcap", 9),
    ("third-party/tcpdump_mptcp-tcprst.pcap", 2),
    ("third-party/tcpdump_mptcp-v0.pcap", 264),
    ("third-party/tcpdump_mptcp-v1.pcap", 20),
];

#[test]
fn the_table_lists_every_capture() {
    let mut found = Vec::new();
    for dir in ["kernel-v1", "third-party"] {
        for entry in std::fs::read_dir(testdata(dir)).expect("testdata") {
            let name = entry.expect("entry").file_name();
            let name = name.to_str().expect("UTF-8 name").to_owned();
            if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                found.push(format!("{dir}/{name}"));
            }
        }
    }
    found.sort();
    let listed: Vec<_> = CAPTURES.iter().map(|c| c.0.to_owned()).collect();
    assert_eq!(found, listed);
}

#[test]
fn decode_prints_one_line_per_tcp_packet() {
    for &(capture, packets) in CAPTURES {
        let out = decode(capture, false);
        assert!(out.status.success(), "{capture}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{capture}: {}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(text.lines().count(), packets, "{capture}");
        let mut last = 0;
        for line in text.lines() {
            // Frame number, time, then "src:port > dst:port".
            let mut words = line.split(' ');
            let index: usize = words.next().and_then(|w| w.parse().ok()).expect(line);
            assert!(index > last, "{capture}: frame numbers increase: {line}");
            last = index;
            let time = words.next().expect(line);
            assert!(time.parse::<f64>().is_ok(), "{line}");
            assert_eq!(words.nth(1), Some(">"), "{line}");
            assert!(!line.contains("[malformed") || capture.contains("oobr"));
        }
    }
}

#[test]
fn decode_json_lines_parse_and_match_the_text() {
    for &(capture, packets) in CAPTURES {
        let out = decode(capture, true);
        assert!(out.status.success(), "{capture}: {}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(text.lines().count(), packets, "{capture}");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            for field in ["index", "sport", "dport", "seq", "ack", "window", "len"] {
                assert!(v[field].is_u64(), "{capture}: {field} in {line}");
            }
            assert!(v["time"].is_f64() || v["time"].is_u64(), "{line}");
            for field in ["src", "dst", "flags"] {
                assert!(v[field].is_string(), "{capture}: {field} in {line}");
            }
            assert!(v["options"].is_array(), "{line}");
        }
    }
}

#[test]
fn decode_shows_a_malformed_option_and_the_rest_of_the_packet() {
    let out = decode("third-party/tcpdump_mptcp-dss-oobr.pcap", false);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    // tcpdump: "mss 16396,sackOK,TS val 597120308 ecr 0,mptcp 3 dss[bad opt]".
    assert!(
        text.contains("mss 16396,sackOK,TS val 597120308 ecr 0,mptcp [malformed: "),
        "{text}"
    );
    assert!(text.contains("DSS"), "{text}");
    let out = decode("third-party/tcpdump_mptcp-dss-oobr.pcap", true);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    let options = v["options"].as_array().expect("options");
    assert_eq!(options[0]["kind"], "mss");
    assert_eq!(options[3].as_object().map(|o| o.len()), Some(1));
    assert!(
        options[3]["malformed"]
            .as_str()
            .expect("malformed")
            .contains("DSS")
    );
}

#[test]
fn decode_derives_the_kernels_token_from_the_client_key() {
    let vectors = vectors();
    let single = vectors["captures"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["capture"] == "v1-single.pcap"))
        .expect("v1-single.pcap in vectors.json");
    let key = u64_field(single, &["mp_capable", "client_key"]);
    let token = u64_field(single, &["kernel_client_token"]);
    let out = decode("kernel-v1/v1-single.pcap", false);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let want = format!("capable v1 flags [H] key {key:#018x} (token {token:#010x} idsn ");
    // The third ACK carries it (the SYN carries no key in v1).
    assert!(text.lines().any(|l| l.contains(&want)), "{want}\n{text}");
}

/// The MPTCP options of frame `index`, as JSON.
fn mptcp_options(capture: &str, index: u64) -> Vec<Value> {
    let out = decode(capture, true);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let line = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
        .find(|v| v["index"].as_u64() == Some(index))
        .unwrap_or_else(|| panic!("{capture}: no frame {index}"));
    let options = line["options"].as_array().expect("options").clone();
    options
        .into_iter()
        .filter(|o| o["kind"] == "mptcp")
        .collect()
}

#[test]
fn decode_json_carries_every_mptcp_option_with_its_fields() {
    // v1-join.pcap, frame 3: the third ACK, MP_CAPABLE with both keys.
    let vectors = vectors();
    let join = &vectors["captures"][2];
    assert_eq!(join["capture"], "v1-join.pcap");
    let opts = mptcp_options("kernel-v1/v1-join.pcap", 3);
    assert_eq!(opts.len(), 1);
    assert_eq!(opts[0]["subtype"], "mp_capable");
    assert_eq!(opts[0]["version"], 1);
    let client_key = u64_field(join, &["mp_capable", "client_key"]);
    assert_eq!(opts[0]["sender_key"].as_u64(), Some(client_key));
    assert_eq!(opts[0]["sender_token"], join["kernel_client_token"]);
    assert_eq!(opts[0]["receiver_token"], join["kernel_server_token"]);
    // Frames 6 and 8 (tshark's numbering, as in vectors.json): the MP_JOIN
    // SYN and third ACK.
    let syn = &mptcp_options("kernel-v1/v1-join.pcap", 6)[0];
    assert_eq!(syn["subtype"], "mp_join");
    assert_eq!(syn["phase"], "syn");
    assert_eq!(syn["token"], join["joins"][0]["token"]);
    assert_eq!(syn["nonce"], join["joins"][0]["client_nonce"]);
    let ack = &mptcp_options("kernel-v1/v1-join.pcap", 8)[0];
    assert_eq!(ack["hmac"], join["joins"][0]["client_hmac"]);
    // tcpdump_mptcp-v0.pcap, frame 4: ADD_ADDR v0 and a DSS with checksum.
    let opts = mptcp_options("third-party/tcpdump_mptcp-v0.pcap", 4);
    let subtypes: Vec<_> = opts.iter().map(|o| o["subtype"].clone()).collect();
    assert_eq!(subtypes, ["add_addr", "dss"]);
    assert_eq!(opts[0]["version"], 0);
    assert_eq!(opts[0]["addr"], "10.1.2.2");
    assert_eq!(opts[1]["data_ack"], 3_576_348_362_u64);
    assert_eq!(opts[1]["checksum"], 0x082f);
    // tcpdump_mptcp-aa-echo.pcap, frame 2: ADD_ADDR echo and DSS.
    let opts = mptcp_options("third-party/tcpdump_mptcp-aa-echo.pcap", 2);
    assert_eq!(opts.len(), 2);
    assert_eq!(opts[0]["echo"], true);
    assert!(opts[0].get("hmac").is_none());
    // tcpdump_mptcp-tcprst.pcap, frame 2: reason 1 with T.
    let opts = mptcp_options("third-party/tcpdump_mptcp-tcprst.pcap", 2);
    assert_eq!(opts[0]["subtype"], "mp_tcprst");
    assert_eq!(opts[0]["reason"], 1);
    assert_eq!(opts[0]["transient"], true);
}

#[test]
fn decode_fastclose_key_is_derived_with_the_connections_version() {
    // tcpdump_mptcp-fclose.pcap: v0, and the MP_FASTCLOSE carries the
    // server's key, seen in its MP_CAPABLE.
    let out = decode("third-party/tcpdump_mptcp-fclose.pcap", false);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains("fast-close"))
        .expect("a fast-close");
    assert!(
        line.contains("mptcp fast-close v0 receiver-key 0x"),
        "{line}"
    );
    let key = line
        .split("receiver-key ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .expect("key");
    let token = stdout(&mptcp(&["token", "--v0", key]));
    let token = token.split(' ').nth(1).expect("token");
    assert!(line.contains(&format!("(token {token} idsn ")), "{line}");
    assert!(text.contains(&format!("capable v0 flags [AH] key {key}")));
}

#[test]
fn decode_bad_files_exit_2_with_one_line() {
    assert_usage_error(&decode("no-such-capture.pcap", false), "missing");
    assert_usage_error(&decode("third-party/README.md", false), "not a capture");
    assert_usage_error(&decode("kernel-v1", true), "a directory");
    // A pcap magic number, then a truncated file header.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let truncated = dir.join("token_decode-truncated-header.pcap");
    std::fs::write(&truncated, [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4]).expect("write");
    let out = mptcp(&["decode", truncated.to_str().expect("UTF-8")]);
    assert_usage_error(&out, "truncated header");
    let empty = dir.join("token_decode-empty.pcap");
    std::fs::write(&empty, []).expect("write");
    assert_usage_error(&mptcp(&["decode", empty.to_str().expect("UTF-8")]), "empty");
    // Damaged further on: the packets before the damage, then the error.
    let whole = std::fs::read(testdata("third-party/tcpdump_mptcp-v0.pcap")).expect("read");
    let cut = dir.join("token_decode-cut.pcap");
    std::fs::write(&cut, &whole[..20_000]).expect("write");
    let out = mptcp(&["decode", cut.to_str().expect("UTF-8")]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(stderr(&out).lines().count(), 1, "{out:?}");
    let lines = stdout(&out).lines().count();
    assert!(lines > 100 && lines < 264, "{lines}");
}

#[test]
fn decode_into_a_closed_pipe_stops_quietly() {
    let path = testdata("third-party/pymptcpanalyzer_client_2.pcap");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mptcp"))
        .arg("decode")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = [0u8; 64];
    let mut stdout = child.stdout.take().expect("stdout");
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let mut err = String::new();
    let mut stderr = child.stderr.take().expect("stderr");
    stderr.read_to_string(&mut err).expect("stderr");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}: {err}");
    assert!(err.is_empty(), "{err}");
}

/// `MPTCP_LOG` sets what the stack logs to stderr; a filter that does not
/// parse is named in one line and the command still does its work.
#[test]
fn a_bad_log_filter_is_reported_and_ignored() {
    let out = Command::new(env!("CARGO_BIN_EXE_mptcp"))
        .args(["token", "0x0123456789abcdef"])
        .env("MPTCP_LOG", "mptcp_tun=loud")
        .output()
        .expect("run mptcp");
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).starts_with("token "), "{out:?}");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("MPTCP_LOG=\"mptcp_tun=loud\" ignored"),
        "{err}"
    );
}
