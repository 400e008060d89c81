//! `mptcp connect`: netcat over the userspace stack.

use super::net::{self, StackArgs};
use super::relay::{StdinChunks, relay};
use crate::Failure;
use clap::Args as ClapArgs;
use std::path::PathBuf;

/// Arguments of `mptcp connect`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The server, ADDRESS:PORT.
    pub target: String,
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print per-subflow statistics to stderr at the end.
    #[arg(long)]
    pub stats: bool,
    /// Write the statistics as JSON to FILE at the end.
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
}

/// Connect, relay standard input and output, print statistics.
pub fn run(args: Args) -> Result<(), Failure> {
    let target = net::parse_target(&args.target)?;
    let builder = args.stack.builder()?;
    let rt = super::runtime()?;
    let result = rt.block_on(async {
        let stack = args.stack.start(builder)?;
        let stream = stack
            .connect(target)
            .await
            .map_err(|e| Failure::failed(format!("connect to {target}: {e}")))?;
        let info = relay(stream, Some(StdinChunks::spawn()))
            .await
            .map_err(|e| Failure::failed(format!("{target}: {e}")))?;
        if args.stats {
            net::print_info(&info);
        }
        if let Some(path) = &args.stats_json {
            net::write_json(path, &net::info_json(&info, &stack))?;
        }
        Ok(())
    });
    // Standard input is read on a thread that cannot be interrupted.
    rt.shutdown_background();
    result
}
