//! `mptcp decode FILE [--json]`: every TCP packet of a capture, one line
//! each, with every TCP and MPTCP option decoded.
//!
//! FILE is pcap or pcapng (told apart by its magic number), with Ethernet,
//! Linux cooked v1/v2, raw IP, PPP or BSD null/loop framing.
//!
//! # Which frames get a line
//! - Every TCP segment: one line.
//! - A frame whose link, IP or TCP header is malformed (or whose link type
//!   is not supported): one line saying so, e.g.
//!   `7 0.120000 10.0.0.1 > 10.0.0.2 tcp [malformed: truncated TCP header: needs 20 bytes, 8 available at byte 20]`.
//! - Nothing else: frames that are not IP (ARP...), IP packets that are not
//!   TCP, and IP fragments (which need reassembly to reach a TCP header) are
//!   skipped silently.
//!
//! # Text (default)
//! ```text
//! 1 0.000000 10.77.1.1:40048 > 10.77.1.2:5001 [S] seq 567249954 win 64240 len 0 mss 1460,sackOK,TS val 688311642 ecr 0,nop,wscale 10,mptcp capable v1 flags [H]
//! 3 0.000042 10.77.1.1:40048 > 10.77.1.2:5001 [.] seq 567249955 ack 1888354835 win 63 len 0 nop,nop,TS val 688311642 ecr 2594692735,mptcp capable v1 flags [H] key 0xf1da9a0c6de915f6 (token 0x3a3bc355 idsn 16160481981833163007) receiver-key 0x9f5b0df14fea08cf (token 0x814cf6df idsn 6380670564662317397)
//! ```
//! - the frame number (1-based, as Wireshark numbers frames), the time in
//!   seconds since the first frame of the file (microseconds);
//! - `src:port > dst:port` (IPv6 as `[addr]:port`), the flags as tcpdump
//!   writes them (`[S.]`, `[P.]`, `[F.]`, `[R]`...);
//! - `seq` (absolute), `ack` (only when the ACK flag is set), `win` (the
//!   window field, unscaled), `len` (payload length per the IP header, even
//!   when the capture kept fewer bytes);
//! - then the options, comma-separated, in order: `mss 1460`, `sackOK`,
//!   `sack 2 {l:r} {l:r}`, `TS val V ecr E`, `wscale 7`, `nop`, `eol`,
//!   `opt-K 0xdata` for unknown kinds, and `mptcp ...`:
//!   - `capable v1 flags [H] key 0x… (token 0x… idsn N) receiver-key 0x… (token 0x… idsn N) data-len N csum 0x…`:
//!     every key with the token and IDSN derived from it for the option's
//!     version (0: SHA-1, 1: SHA-256; other versions: the key alone);
//!   - `join syn id 1 token 0x… nonce 0x… [backup]`,
//!     `join syn-ack id 1 hmac 0x<64 bits> nonce 0x… [backup]`,
//!     `join ack hmac 0x<160 bits>`;
//!   - `dss [fin] [ack N] [seq N subseq N len N [(infinite)] [csum 0x…]]`
//!     (data sequence numbers as sent: 32 or 64 bits);
//!   - `add-addr v1 [echo] id 1 10.0.0.2[:port] [hmac 0x…]`,
//!     `add-addr v0 id 1 10.0.0.2[:port]`;
//!   - `remove-addr id 1,2`, `prio backup|non-backup [id N]`, `fail seq N`;
//!   - `fast-close vV receiver-key 0x… (token 0x… idsn N)`: MP_FASTCLOSE
//!     carries no version; it is the version of the MP_CAPABLE that carried
//!     the key earlier in the file, else of the latest MP_CAPABLE, else 1;
//!   - `tcprst reason 1 (MPTCP-specific error) [T]`;
//!   - `experimental flags 0x… data 0x…`, `subtype N flags 0x… data 0x…`;
//!   - ` rsv 0x…` after any of them whose reserved bits are set.
//! - A malformed option shows in its place as `mptcp [malformed: <error>]`
//!   (or `mss [malformed: …]`, `opt-K [malformed: …]`; `[malformed: …]`
//!   when its length byte is unusable, which ends the options). Error
//!   offsets count from the start of the IP header.
//!
//! # JSON Lines (`--json`)
//! One object per line, same frames:
//! `{"index":1,"time":0.0,"src":"10.77.1.1","dst":"10.77.1.2","sport":40048,"dport":5001,"flags":"[S]","seq":567249954,"ack":0,"window":64240,"len":0,"options":[{"kind":"mss","value":1460},{"kind":"sack_permitted"},{"kind":"timestamps","tsval":688311642,"tsecr":0},{"kind":"nop"},{"kind":"wscale","shift":10},{"kind":"mptcp","subtype":"mp_capable","version":1,"flags":1}]}`
//! where `time` is in seconds since the first frame, `ack` is the field as
//! sent (whatever the ACK flag), and each option is an object:
//! - `{"kind":"mss","value":1460}`, `{"kind":"sack_permitted"}`,
//!   `{"kind":"sack","blocks":[[l,r],...]}`,
//!   `{"kind":"timestamps","tsval":V,"tsecr":E}`, `{"kind":"wscale","shift":7}`,
//!   `{"kind":"nop"}`, `{"kind":"eol"}`, `{"kind":"unknown","code":K,"data":"hex"}`;
//! - `{"kind":"mptcp","subtype":"mp_capable","version":1,"flags":1,"sender_key":K,"sender_token":T,"sender_idsn":I,"receiver_key":...}`,
//!   and likewise `mp_join` (`phase` syn / syn-ack / ack, `address_id`,
//!   `backup`, `token`, `nonce`, `hmac`), `dss` (`data_fin`, `data_ack`,
//!   `data_ack_64`, `dsn`, `dsn_64`, `subflow_seq`, `data_len`, `checksum`),
//!   `add_addr` (`version`, `echo`, `address_id`, `addr`, `port`, `hmac`),
//!   `remove_addr` (`address_ids`), `mp_prio` (`backup`, `address_id`),
//!   `mp_fail` (`dsn`), `mp_fastclose` (`version`, inferred as in the text,
//!   `receiver_key`, `receiver_token`, `receiver_idsn`), `mp_tcprst`
//!   (`reason`, `reason_name`, `transient`, `flags`), `mp_experimental` and
//!   `unknown` (`code`, `flags`, `data`). Keys, tokens, IDSNs, nonces and
//!   sequence numbers are JSON integers; HMACs and raw data are hex strings
//!   without `0x`. Absent fields are left out.
//! - a malformed option is `{"malformed":"<error>"}`; a malformed frame is
//!   `{"index":N,"time":T,["src":..,"dst":..,]"malformed":"<error>"}`.
//!
//! # Errors
//! A file that cannot be opened or is not a capture (unknown magic,
//! truncated file header): one line on stderr, exit status 2, no output.
//! A file damaged further on: the packets before the damage, then the error
//! and exit status 2. A closed stdout (`| head`) ends the run quietly with
//! status 0.

mod json;
mod packet;
mod text;

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use mptcp_wire::{CaptureError, CaptureReader};

use crate::Failure;
use packet::{KeyVersions, Record};

/// Arguments of `mptcp decode`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The capture: pcap or pcapng.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print one JSON object per packet (JSON Lines) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Why decoding stopped early.
enum Stop {
    /// Writing to stdout failed.
    Output(io::Error),
    /// The capture is damaged.
    Capture(CaptureError),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Output(e)
    }
}

/// Run `mptcp decode`.
pub fn run(args: Args) -> Result<(), Failure> {
    let bad_file = |e: CaptureError| Failure::usage(format!("{}: {e}", args.file.display()));
    let reader = CaptureReader::open(&args.file).map_err(|e| match e {
        CaptureError::UnknownFormat { .. } if is_empty(&args.file) => Failure::usage(format!(
            "{}: empty file, not a capture",
            args.file.display()
        )),
        e => bad_file(e),
    })?;
    let mut out = BufWriter::new(io::stdout().lock());
    let result = decode_all(reader, &mut out, args.json).and_then(|()| Ok(out.flush()?));
    match result {
        Ok(()) => Ok(()),
        Err(Stop::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(Stop::Output(e)) => Err(Failure::failed(format!("cannot write output: {e}"))),
        Err(Stop::Capture(e)) => {
            // What was decoded before the damage is worth showing.
            match out.flush() {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                    Err(Failure::failed(format!("cannot write output: {e}")))
                }
                _ => Err(bad_file(e)),
            }
        }
    }
}

fn is_empty(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() == 0)
}

/// Decode every packet of `reader` to `out`.
fn decode_all<R: io::Read>(
    reader: CaptureReader<R>,
    out: &mut impl Write,
    json: bool,
) -> Result<(), Stop> {
    let mut versions = KeyVersions::default();
    let mut origin = None;
    for packet in reader {
        let packet = packet.map_err(Stop::Capture)?;
        let origin = *origin.get_or_insert(packet.timestamp);
        if let Some(record) = packet::decode(&packet, origin, &mut versions) {
            write_record(out, &record, json)?;
        }
    }
    Ok(())
}

fn write_record(out: &mut impl Write, record: &Record<'_>, json: bool) -> Result<(), Stop> {
    if json {
        serde_json::to_writer(&mut *out, &json::line(record)).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    } else {
        writeln!(out, "{}", text::Line(record))?;
    }
    Ok(())
}
