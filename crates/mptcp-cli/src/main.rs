//! The `mptcp` command: a userspace Multipath TCP stack's tools.
//!
//! Exit status: 0 on success, 1 when a run completed but failed (e.g. a
//! transfer's integrity check), 2 on bad input (arguments, files).
//!
//! The stack's own warnings (a device that failed, a driver that stopped)
//! go to standard error; `MPTCP_LOG` sets what is shown, in
//! `tracing-subscriber`'s filter syntax (default `warn`; e.g.
//! `MPTCP_LOG=mptcp_tun=debug`).

/// `println!` for a command's output: a reader that went away (`| head`)
/// ends the command quietly instead of a panic.
macro_rules! outln {
    () => {
        $crate::cmd::print_line(format_args!(""))
    };
    ($($t:tt)*) => {
        $crate::cmd::print_line(format_args!($($t)*))
    };
}

mod cmd;
mod perf;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Userspace Multipath TCP (RFC 8684 / RFC 6824): simulator, tools, decoders.
#[derive(Parser, Debug)]
#[command(name = "mptcp", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show MPTCP at work: a simulated upload over a Wi-Fi-like and an
    /// LTE-like path, compared with plain TCP over each, and a plot.
    Demo(cmd::demo::Args),
    /// Derive the token and IDSN of an MPTCP key.
    Token(cmd::token::Args),
    /// Decode the TCP and MPTCP options of every packet in a capture.
    Decode(cmd::decode::Args),
    /// Run a transfer between two simulated hosts running the real engine.
    Sim(Box<cmd::sim::Args>),
    /// Run transfers over randomly drawn simulated scenarios and check each
    /// (integrity, liveness, multipath use); print the failures with the
    /// commands that reproduce them.
    Chaos(cmd::chaos::Args),
    /// Connect over TUN devices and relay standard input and output (like
    /// netcat).
    Connect(Box<cmd::connect::Args>),
    /// Accept connections over TUN devices and relay standard input and
    /// output (like netcat -l).
    Listen(Box<cmd::listen::Args>),
    /// Join two network namespaces through emulated paths: the simulator's
    /// link model (`--path` as in `mptcp sim`) in real time.
    Emulate(Box<cmd::emulate::Args>),
    /// Link bonding: carry plain TCP connections over MPTCP across several
    /// uplinks (client) to a server that connects onward (SOCKS5 or a fixed
    /// upstream).
    Proxy(Box<cmd::proxy::Args>),
    /// Measure throughput with the iperf3 protocol (against a stock iperf3,
    /// or our own end), over our stack or the kernel's.
    Perf(Box<perf::Args>),
}

/// Show the stack's warnings on standard error, filtered by `MPTCP_LOG`.
fn log_to_stderr() {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("MPTCP_LOG") {
        Ok(spec) => EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            eprintln!("mptcp: MPTCP_LOG={spec:?} ignored: {e}");
            EnvFilter::new("warn")
        }),
        Err(_) => EnvFilter::new("warn"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// A failure the command reports: a one-line message and an exit status.
#[derive(Debug)]
pub struct Failure {
    /// Exit status (1: the run failed; 2: bad input).
    pub status: u8,
    /// One line for stderr.
    pub message: String,
}

impl Failure {
    /// Bad input: exit 2.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            status: 2,
            message: message.into(),
        }
    }

    /// The run failed: exit 1.
    pub fn failed(message: impl Into<String>) -> Failure {
        Failure {
            status: 1,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    log_to_stderr();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Token(args) => cmd::token::run(args),
        Command::Decode(args) => cmd::decode::run(args),
        Command::Sim(args) => cmd::sim::run(*args),
        Command::Chaos(args) => cmd::chaos::run(args),
        Command::Connect(args) => cmd::connect::run(*args),
        Command::Listen(args) => cmd::listen::run(*args),
        Command::Perf(args) => perf::run(*args),
        Command::Proxy(args) => cmd::proxy::run(*args),
        Command::Emulate(args) => cmd::emulate::run(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("mptcp: {}", f.message);
            ExitCode::from(f.status)
        }
    }
}
