//! `mptcp chaos`: runs of `mptcp sim` over randomly drawn scenarios, each
//! checked for integrity, liveness and multipath use (see
//! `mptcp_sim::chaos` for what is drawn and checked).

use crate::Failure;
use mptcp_sim::chaos::{self, Verdict};
use std::time::Instant as WallClock;

/// Arguments of `mptcp chaos`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of runs.
    #[arg(long, default_value_t = 100)]
    runs: u64,
    /// Seed of the first run; run i uses seed SEED+i.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also print one line per run (seed, verdict, virtual and wall time).
    #[arg(long)]
    verbose: bool,
    /// Multiply the liveness bound by this (below 1, runs that end in time
    /// fail as slow: shows the failure path at work).
    #[arg(long, default_value_t = 1.0)]
    bound_scale: f64,
}

/// Run it: one line per failed run, a summary line last; exit status 1 when
/// a run failed.
pub fn run(args: Args) -> Result<(), Failure> {
    let (mut failed, mut tolerated) = (0u64, 0u64);
    let end = args.seed.saturating_add(args.runs);
    for seed in args.seed..end {
        let wall = WallClock::now();
        let outcome = chaos::run_one_with(seed, args.bound_scale)
            .map_err(|e| Failure::failed(format!("seed {seed}: cannot build the scenario: {e}")))?;
        if args.verbose {
            eprintln!(
                "seed {seed}: {:?}, ended at {:.3} s of a {:.3} s bound (virtual), {:.3} s wall",
                outcome.verdict,
                outcome.report.as_ref().map_or(f64::NAN, |r| r.finished_s),
                chaos::liveness_bound(&outcome.spec),
                wall.elapsed().as_secs_f64()
            );
        }
        if let Some(line) = outcome.failure_line() {
            outln!("{line}");
            failed += 1;
        }
        if let Verdict::Tolerated(_) = outcome.verdict {
            tolerated += 1;
        }
    }
    if tolerated > 0 {
        outln!(
            "chaos: {tolerated} runs with a payload rewriter, or a subflow-breaking middlebox on \
             every path, ended in a connection error (tolerated)"
        );
    }
    outln!(
        "chaos: {} runs, {failed} failed, seeds {}..{end}",
        end - args.seed,
        args.seed
    );
    if failed > 0 {
        Err(Failure::failed(format!("{failed} chaos runs failed")))
    } else {
        Ok(())
    }
}
