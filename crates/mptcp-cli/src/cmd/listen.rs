//! `mptcp listen`: the server side of netcat over the userspace stack.

use super::net::{self, StackArgs};
use super::relay::{StdinChunks, relay};
use crate::Failure;
use clap::Args as ClapArgs;
use std::net::IpAddr;
use std::path::PathBuf;

/// Arguments of `mptcp listen`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The port.
    pub port: u16,
    #[command(flatten)]
    pub stack: StackArgs,
    /// Announce this address to clients with ADD_ADDR (repeatable); it
    /// should be one of the `--tun` addresses.
    #[arg(long, value_name = "ADDR")]
    pub signal: Vec<IpAddr>,
    /// Set flag C (RFC 8684 §3.1): clients must not join the address and
    /// port they connected to, and such joins are refused; they join the
    /// addresses announced (`--tun DEV=ADDR,signal[,port=N]`). For
    /// servers behind a load balancer (docs/scaling.md).
    #[arg(long)]
    pub no_join_initial: bool,
    /// Serve connections one after another instead of exiting after the
    /// first; standard input goes to the first only.
    #[arg(long)]
    pub keep: bool,
    /// Print per-subflow statistics of each connection to stderr.
    #[arg(long)]
    pub stats: bool,
    /// Write the statistics of the (last) connection as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
}

/// Listen, relay standard input and output for each connection.
pub fn run(args: Args) -> Result<(), Failure> {
    let mut builder = args.stack.builder()?.no_join_initial(args.no_join_initial);
    for a in &args.signal {
        if !args.stack.tun.iter().any(|p| p.addr == *a) {
            return Err(Failure::usage(format!(
                "--signal {a}: not the address of any --tun path"
            )));
        }
        builder = builder.signal(*a);
    }
    let rt = super::runtime()?;
    let result = rt.block_on(async {
        let stack = args.stack.start(builder)?;
        let listener = stack
            .listen(args.port)
            .map_err(|e| Failure::failed(format!("listen on {}: {e}", args.port)))?;
        let mut input = Some(StdinChunks::spawn());
        loop {
            let (stream, peer) = listener
                .accept()
                .await
                .map_err(|e| Failure::failed(format!("accept: {e}")))?;
            let info = relay(stream, input.take())
                .await
                .map_err(|e| Failure::failed(format!("{peer}: {e}")))?;
            if args.stats {
                eprintln!("connection from {peer}:");
                net::print_info(&info);
            }
            if let Some(path) = &args.stats_json {
                net::write_json(path, &net::info_json(&info, &stack))?;
            }
            if !args.keep {
                return Ok(());
            }
        }
    });
    rt.shutdown_background();
    result
}
