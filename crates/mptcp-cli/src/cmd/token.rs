//! `mptcp token KEY [--v0] [--json]`: the token and IDSN of an MPTCP key.
//!
//! RFC 8684 §3.1 (v1, the default): the token is the most significant 32
//! bits of SHA-256 of the key in network byte order, the IDSN the least
//! significant 64 bits; RFC 6824 §3.1 (v0, `--v0`) says the same with
//! SHA-1. The derivation is [`mptcp_proto::crypto::key_material`].
//!
//! Output, one line:
//! - text: `token 0x3a3bc355 idsn 0xe04590bd964430ff` (lowercase hex,
//!   zero-padded to 8 and 16 digits);
//! - `--json`: `{"key":17427411086237832694,"version":1,"token":976995157,"idsn":16160481981833163007}`
//!   (every number a JSON integer; `version` is 0 or 1).
//!
//! KEY is a 64-bit unsigned number, in decimal (`17427411086237832694`) or
//! in hex with a `0x` prefix (`0xf1da9a0c6de915f6`). Anything else (empty,
//! negative, not a number, more than 64 bits) is a usage error: one line on
//! stderr, exit status 2.

use std::io::Write;

use mptcp_proto::crypto::{MptcpVersion, key_material};
use serde::Serialize;

use crate::Failure;

/// Arguments of `mptcp token`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The 64-bit key, in decimal or 0x-hex (e.g. 0x1fdb5df328bc3def).
    // Hyphen values are let through so that "-5" gets our one-line error
    // rather than clap's "unexpected argument".
    #[arg(value_name = "KEY", allow_hyphen_values = true)]
    pub key: String,
    /// Derive with SHA-1 (MPTCP v0, RFC 6824) instead of SHA-256 (v1).
    #[arg(long)]
    pub v0: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The `--json` output, fields in this order.
#[derive(Serialize)]
struct TokenJson {
    key: u64,
    version: u8,
    token: u32,
    idsn: u64,
}

/// Run `mptcp token`.
pub fn run(args: Args) -> Result<(), Failure> {
    let key = parse_key(&args.key).map_err(Failure::usage)?;
    let (version, number) = match args.v0 {
        true => (MptcpVersion::V0, 0),
        false => (MptcpVersion::V1, 1),
    };
    let (token, idsn) = key_material(key, version);
    let line = match args.json {
        true => {
            let json = TokenJson {
                key,
                version: number,
                token: token.0,
                idsn,
            };
            serde_json::to_string(&json).map_err(|e| Failure::failed(e.to_string()))?
        }
        false => format!("token {:#010x} idsn {idsn:#018x}", token.0),
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // A closed pipe is the reader's choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::failed(format!("cannot write output: {e}"))),
    }
}

/// Parse a 64-bit key: decimal digits, or `0x`/`0X` and hex digits. The
/// error is one line naming the input.
pub fn parse_key(text: &str) -> Result<u64, String> {
    const EXPECTED: &str = "expected a 64-bit number in decimal or 0x-hex";
    let (digits, radix) = match text.strip_prefix("0x").or(text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if text.is_empty() {
        return Err(format!("empty key: {EXPECTED}"));
    }
    if text.starts_with('-') {
        return Err(format!("negative key {text:?}: {EXPECTED}"));
    }
    // from_str_radix alone would accept a leading '+'.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(format!("invalid key {text:?}: {EXPECTED}"));
    }
    u64::from_str_radix(digits, radix)
        .map_err(|_| format!("key {text:?} does not fit in 64 bits: {EXPECTED}"))
}

#[cfg(test)]
mod tests {
    use super::parse_key;

    #[test]
    fn keys_in_decimal_and_hex() {
        assert_eq!(parse_key("0x1fdb5df328bc3def"), Ok(0x1fdb_5df3_28bc_3def));
        assert_eq!(parse_key("0X1FDB5DF328BC3DEF"), Ok(0x1fdb_5df3_28bc_3def));
        assert_eq!(
            parse_key("17427411086237832694"),
            Ok(17_427_411_086_237_832_694)
        );
        assert_eq!(parse_key("0"), Ok(0));
        assert_eq!(parse_key("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_key("0xffffffffffffffff"), Ok(u64::MAX));
    }

    #[test]
    fn bad_keys_are_one_line_errors() {
        for bad in [
            "",
            "-5",
            "+5",
            "0x",
            "abc",
            "12 ",
            "0x1g",
            "18446744073709551616",
            "0x10000000000000000",
        ] {
            let e = parse_key(bad).unwrap_err();
            assert!(!e.contains('\n'), "{bad:?}: {e}");
        }
        assert!(
            parse_key("18446744073709551616")
                .unwrap_err()
                .contains("64 bits")
        );
        assert!(parse_key("-5").unwrap_err().contains("negative"));
    }
}
