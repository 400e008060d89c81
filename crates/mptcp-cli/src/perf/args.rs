//! Arguments of `mptcp perf client|server`, in iperf3's letters.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::protocol::{MAX_BLOCK_LEN, MAX_STREAMS};
use super::{ClientOptions, DEFAULT_TIMEOUT, ServerOptions};
use crate::cmd::net::StackArgs;

/// Arguments of `mptcp perf`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Client or server.
    #[command(subcommand)]
    pub role: Role,
    /// Use the kernel's MPTCP (IPPROTO_MPTCP sockets) instead of our stack.
    #[arg(long, global = true, conflicts_with = "kernel_tcp")]
    pub kernel: bool,
    /// Use the kernel's plain TCP instead of our stack.
    #[arg(long, global = true)]
    pub kernel_tcp: bool,
}

/// The transport the arguments ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportChoice {
    /// Our userspace stack over the `--tun` paths (the default).
    Tun,
    /// The kernel's sockets: MPTCP (`--kernel`) or TCP (`--kernel-tcp`).
    Kernel {
        /// `IPPROTO_MPTCP` instead of TCP.
        mptcp: bool,
    },
}

impl Args {
    /// The transport to run the test over.
    pub fn transport(&self) -> TransportChoice {
        if self.kernel || self.kernel_tcp {
            TransportChoice::Kernel { mptcp: self.kernel }
        } else {
            TransportChoice::Tun
        }
    }
}

/// Which end to run.
#[derive(clap::Subcommand, Debug)]
pub enum Role {
    /// Measure against an iperf3 server (`iperf3 -s` or `mptcp perf
    /// server`).
    Client(ClientArgs),
    /// Serve iperf3 clients (`iperf3 -c` or `mptcp perf client`), one
    /// test at a time.
    Server(ServerArgs),
}

/// Arguments of `mptcp perf client`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct ClientArgs {
    /// The server's host name or address.
    pub host: String,
    /// The server's port.
    #[arg(short = 'p', long, default_value_t = 5201)]
    pub port: u16,
    /// Seconds to run for (default 10), like 10 or 2.5.
    #[arg(short = 't', long, value_name = "SECONDS", value_parser = parse_positive_seconds, conflicts_with = "bytes")]
    pub time: Option<Duration>,
    /// Bytes to move instead of a time, like 10M, 64MiB or 1G (K, M, G
    /// and T are powers of 1024, as in iperf3).
    #[arg(short = 'n', long, value_name = "SIZE", value_parser = parse_positive_size)]
    pub bytes: Option<u64>,
    /// Reverse: the server sends, the client receives.
    #[arg(short = 'R', long)]
    pub reverse: bool,
    /// Number of parallel streams (1 to 128).
    #[arg(short = 'P', long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=MAX_STREAMS as i64))]
    pub parallel: u16,
    /// Read/write size, like 128K (at most 1M).
    #[arg(short = 'l', long = "length", value_name = "SIZE", default_value = "128K", value_parser = parse_block_len)]
    pub length: u64,
    /// Seconds between interval reports; 0 for none.
    #[arg(short = 'i', long, value_name = "SECONDS", default_value = "1", value_parser = parse_interval)]
    pub interval: Duration,
    /// Print one JSON document at the end instead of text.
    #[arg(short = 'J', long)]
    pub json: bool,
    /// Our stack's options (with neither --kernel nor --kernel-tcp).
    #[command(flatten)]
    pub stack: StackArgs,
}

impl ClientArgs {
    /// The options for a test against `server`.
    pub fn options(&self, server: SocketAddr) -> ClientOptions {
        ClientOptions {
            time: self.time,
            bytes: self.bytes,
            reverse: self.reverse,
            parallel: usize::from(self.parallel),
            block_len: usize::try_from(self.length).unwrap_or(MAX_BLOCK_LEN),
            interval: self.interval,
            json: self.json,
            ..ClientOptions::new(server)
        }
    }
}

/// Arguments of `mptcp perf server`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct ServerArgs {
    /// The port to listen on.
    #[arg(short = 'p', long, default_value_t = 5201)]
    pub port: u16,
    /// The address to listen on (default: all, IPv6 and IPv4).
    #[arg(short = 'B', long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,
    /// Serve one test, then exit.
    #[arg(short = '1', long)]
    pub one_off: bool,
    /// Seconds between interval reports; 0 for none.
    #[arg(short = 'i', long, value_name = "SECONDS", default_value = "1", value_parser = parse_interval)]
    pub interval: Duration,
    /// Print one JSON document per test instead of text.
    #[arg(short = 'J', long)]
    pub json: bool,
    /// Our stack: announce this address to clients with ADD_ADDR
    /// (repeatable; one of the --tun addresses).
    #[arg(long, value_name = "ADDR")]
    pub signal: Vec<IpAddr>,
    /// Our stack's options (with neither --kernel nor --kernel-tcp).
    #[command(flatten)]
    pub stack: StackArgs,
}

impl ServerArgs {
    /// The address to listen on.
    pub fn listen_addr(&self) -> SocketAddr {
        let ip = self.bind.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        SocketAddr::new(ip, self.port)
    }

    /// The options for the server.
    pub fn options(&self) -> ServerOptions {
        ServerOptions {
            one_off: self.one_off,
            interval: self.interval,
            json: self.json,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A size in bytes: a number (decimals allowed) and an optional K, M, G
/// or T, each a power of 1024 as in iperf3, optionally followed by `B`
/// or `iB`: `1500`, `128K`, `10M`, `64MiB`, `1.5G`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let unit_start = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(unit_start);
    let shift = match unit {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "invalid size {text:?}: expected e.g. 1500, 128K, 10M, 64MiB"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}: expected e.g. 1500, 128K, 10M, 64MiB"))?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("size {text:?} is too large"));
    }
    Ok(bytes.round() as u64)
}

/// A duration in seconds, like `10`, `2.5`, `500ms` or `3s`.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = match t.strip_suffix("ms") {
        Some(ms) => (ms, 1e-3),
        None => (t.strip_suffix('s').unwrap_or(t), 1.0),
    };
    let seconds = number
        .parse::<f64>()
        .ok()
        .map(|n| n * scale)
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .ok_or_else(|| format!("invalid time {text:?}: expected seconds, like 10 or 2.5"))?;
    Ok(Duration::from_secs_f64(seconds))
}

/// A non-zero test length.
fn parse_positive_seconds(text: &str) -> Result<Duration, String> {
    match parse_seconds(text)? {
        d if d.is_zero() => Err("the time must be more than 0".to_owned()),
        d => Ok(d),
    }
}

/// A non-zero byte count.
fn parse_positive_size(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => Err("the byte count must be more than 0".to_owned()),
        n => Ok(n),
    }
}

/// A reporting interval: 0 (none) or 0.1 to 60 seconds, as iperf3.
fn parse_interval(text: &str) -> Result<Duration, String> {
    match parse_seconds(text)? {
        d if d.is_zero() => Ok(d),
        d if d < Duration::from_millis(100) || d > Duration::from_secs(60) => {
            Err(format!("interval {text:?} must be 0 or 0.1 to 60 seconds"))
        }
        d => Ok(d),
    }
}

/// A block length: 1 byte to 1 MiB.
fn parse_block_len(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => Err("the block length must be at least 1 byte".to_owned()),
        n if n > MAX_BLOCK_LEN as u64 => Err(format!("block length {text:?} is over 1M")),
        n => Ok(n),
    }
}
