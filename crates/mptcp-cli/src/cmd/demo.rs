//! `mptcp demo`: one simulated MPTCP upload over a Wi-Fi-like and an
//! LTE-like path (or another scenario), with the real engine at both ends,
//! compared with plain TCP over each path alone, and a throughput plot. No
//! setup, no privileges, deterministic.

mod plot;
mod progress;

use crate::Failure;
use mptcp_proto::congestion::CcAlgorithm;
use mptcp_proto::scheduler::SchedulerKind;
use mptcp_sim::IfaceId;
use mptcp_sim::parse::parse_size;
use mptcp_sim::scenario::{PathSpec, ReadSamples, Scenario, TransferReport, TransferSpec};
use mptcp_sim::{Duration, Instant, LinkConfig, Trace};
use progress::Progress;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant as WallClock;

/// A ready-made set of paths for `--scenario`.
struct DemoScenario {
    name: &'static str,
    about: &'static str,
    paths: fn() -> Result<Vec<NamedPath>, Failure>,
}

/// The scenarios; the first is the default.
const SCENARIOS: [DemoScenario; 2] = [
    DemoScenario {
        name: "wifi-lte",
        about: "Wi-Fi-like 50mbit/10ms + LTE-like 20mbit/40ms, clean links",
        paths: wifi_lte,
    },
    DemoScenario {
        name: "lossy-wifi-lte",
        about: "Wi-Fi-like 50mbit/10ms with bursty loss and jitter + LTE-like 30 ms \
                whose rate wanders every 100 ms (a generated trace, 12 Mbit/s up and 22 \
                down on average, a 1 s handover gap every 20 s)",
        paths: lossy_wifi_lte,
    },
];

fn named(name: &str, text: &str) -> Result<NamedPath, Failure> {
    Ok(NamedPath {
        name: name.to_owned(),
        spec: PathSpec::parse(text).map_err(usage)?,
    })
}

fn wifi_lte() -> Result<Vec<NamedPath>, Failure> {
    Ok(vec![
        named("Wi-Fi", "50mbit/10ms")?,
        named("LTE", "20mbit/40ms")?,
    ])
}

fn lossy_wifi_lte() -> Result<Vec<NamedPath>, Failure> {
    // Gilbert-Elliott: 0.2% of packets start a bad spell of 4 packets on
    // average, half of them lost (about 0.25% lost overall, in bursts).
    let wifi = named("Wi-Fi", "50mbit/10ms,loss=ge:0.2%/25%/50%,jitter=3ms")?;
    let up = Arc::new(Trace::cellular_like(0x17e, 10_000_000, 60_000));
    let down = Arc::new(Trace::cellular_like(0x17e + 1, 20_000_000, 60_000));
    let text = format!(
        "trace/30ms (generated, {:.1} up/{:.1} down Mbit/s)",
        up.mean_rate_bps() as f64 / 1e6,
        down.mean_rate_bps() as f64 / 1e6
    );
    let lte = NamedPath {
        name: "LTE".to_owned(),
        spec: PathSpec {
            link: LinkConfig::new(0, Duration::from_millis(30)).trace(up),
            down_trace: Some(down),
            text,
        },
    };
    Ok(vec![wifi, lte])
}

fn scenario_names() -> String {
    let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
    names.join(", ")
}

/// Arguments of `mptcp demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A path, client to server and back: RATE/DELAY[/LOSS%][,extras], as
    /// for `mptcp sim`. Repeatable; replaces the scenario's paths.
    #[arg(long = "path", value_name = "PATH")]
    paths: Vec<String>,
    /// The paths to run over: wifi-lte (the default: Wi-Fi-like
    /// 50mbit/10ms + LTE-like 20mbit/40ms) or lossy-wifi-lte (bursty loss
    /// on the Wi-Fi, a generated LTE-like trace); `list` describes them.
    #[arg(long, value_name = "NAME")]
    scenario: Option<String>,
    /// Stream size, like 64MiB, 1GB, 1500.
    #[arg(long, value_name = "SIZE", default_value = "64MiB")]
    bytes: String,
    /// Seed: the same seed reproduces the run exactly.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Scheduler: minrtt, roundrobin, redundant, ecf, blest.
    #[arg(long, default_value = "minrtt")]
    scheduler: String,
    /// MPTCP congestion control: lia, olia, balia (coupled) or reno, cubic.
    /// The single-path baselines use it too when it is uncoupled, and
    /// NewReno (reno) with the coupled ones (their reference: RFC 6356).
    #[arg(long, default_value = "lia")]
    cc: String,
    /// Where to write the throughput plot (PNG).
    #[arg(long, value_name = "FILE", default_value = "mptcp-demo.png")]
    plot: PathBuf,
    /// Do not write the plot.
    #[arg(long, conflicts_with = "plot")]
    no_plot: bool,
    /// Run nothing: draw the chart of a CSV file the real-paths bench wrote
    /// (`cargo bench -p mptcp-sim --bench real_paths`, target/real_paths.csv)
    /// to --plot.
    #[arg(long, value_name = "CSV", conflicts_with = "no_plot")]
    from_matrix: Option<PathBuf>,
}

/// A path of the demo and the name it is shown with.
struct NamedPath {
    name: String,
    spec: PathSpec,
}

/// What the MPTCP run measured, beside its report.
pub(crate) struct Timeline {
    /// Width of one bin, in seconds.
    pub bin_s: f64,
    /// Virtual time of the last byte read, in seconds.
    pub end_s: f64,
    /// Per path: IP bytes the server received on that path, in Mbit/s per
    /// bin.
    pub paths: Vec<Vec<f64>>,
    /// Stream bytes the server's application read, in Mbit/s per bin.
    pub aggregate: Vec<f64>,
}

fn usage<E: std::fmt::Display>(e: E) -> Failure {
    Failure::usage(e.to_string())
}

fn named_paths(args: &Args) -> Result<Vec<NamedPath>, Failure> {
    if args.paths.is_empty() {
        let name = args.scenario.as_deref().unwrap_or(SCENARIOS[0].name);
        let scenario = SCENARIOS.iter().find(|s| s.name == name).ok_or_else(|| {
            Failure::usage(format!(
                "unknown scenario {name:?} ({}, or list)",
                scenario_names()
            ))
        })?;
        return (scenario.paths)();
    }
    if args.scenario.is_some() {
        return Err(Failure::usage(
            "--scenario and --path both choose the paths: give one of them",
        ));
    }
    args.paths
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Ok(NamedPath {
                name: format!("path {i}"),
                spec: PathSpec::parse(text).map_err(|e| usage(format!("--path {text}: {e}")))?,
            })
        })
        .collect()
}

fn parse_cc(name: &str) -> Result<CcAlgorithm, Failure> {
    CcAlgorithm::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = CcAlgorithm::ALL.iter().map(|a| a.name()).collect();
        Failure::usage(format!(
            "unknown congestion control {name:?} ({})",
            names.join(", ")
        ))
    })
}

fn parse_scheduler(name: &str) -> Result<SchedulerKind, Failure> {
    SchedulerKind::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = SchedulerKind::ALL.iter().map(|k| k.name()).collect();
        Failure::usage(format!("unknown scheduler {name:?} ({})", names.join(", ")))
    })
}

/// The MPTCP transfer described by `args`, over `paths`, and its
/// congestion control.
fn mptcp_spec(args: &Args, paths: &[NamedPath]) -> Result<(TransferSpec, CcAlgorithm), Failure> {
    let bytes = parse_size(&args.bytes).map_err(|e| usage(format!("--bytes: {e}")))?;
    if bytes == 0 {
        return Err(Failure::usage("--bytes: the stream must not be empty"));
    }
    let specs = paths.iter().map(|p| p.spec.clone()).collect();
    let mut spec = TransferSpec::new(specs, bytes);
    spec.seed = args.seed;
    let cc = parse_cc(&args.cc)?;
    spec.cc = Some(cc);
    spec.scheduler = parse_scheduler(&args.scheduler)?;
    Ok((spec, cc))
}

/// The congestion control of the single-path baselines: the demo's when it
/// is uncoupled, NewReno otherwise (the coupled controllers are NewReno's
/// increase shared among subflows; RFC 6356 measures them against it).
fn baseline_cc(cc: CcAlgorithm) -> CcAlgorithm {
    if cc.is_coupled() {
        CcAlgorithm::Reno
    } else {
        cc
    }
}

/// Single-path runs note the bytes read every this much virtual time.
const SAMPLE: Duration = Duration::from_millis(10);

/// Plain TCP over one path alone, measured over the MPTCP run's span.
pub(crate) struct Baseline {
    report: TransferReport,
    /// Seconds of virtual time the goodput is measured over: the MPTCP
    /// run's duration, or this run's own when it finished sooner.
    window_s: f64,
    /// Stream bytes read by then.
    read: f64,
    /// Goodput over the window, bits per second.
    goodput_bps: f64,
}

impl Baseline {
    fn new(report: TransferReport, samples: &ReadSamples, mptcp_s: f64) -> Baseline {
        let goodput_bps = samples.goodput_within(&report, mptcp_s);
        let window_s = report.duration_s.min(mptcp_s);
        Baseline {
            read: goodput_bps * window_s / 8.0,
            window_s,
            goodput_bps,
            report,
        }
    }
}

/// Plain TCP over path `i` of `mptcp` alone, the same stream otherwise.
fn baseline_spec(mptcp: &TransferSpec, cc: CcAlgorithm, i: usize) -> TransferSpec {
    let mut spec = mptcp.clone();
    spec.paths = vec![mptcp.paths[i].clone()];
    spec.tcp_only = true;
    spec.cc = Some(baseline_cc(cc));
    spec
}

/// Run the MPTCP transfer in slices of one throughput bin, showing
/// progress, and collect the timeline.
fn run_mptcp(
    spec: &TransferSpec,
    paths: &[NamedPath],
) -> Result<(TransferReport, Timeline), Failure> {
    let mut sc = Scenario::build(spec)
        .map_err(|e| Failure::failed(format!("cannot set up the simulation: {e}")))?;
    let bin = sc
        .sim
        .iface_stats(sc.server, IfaceId(0))
        .received_series
        .bin();
    let bin = if bin == Duration::ZERO {
        Duration::from_millis(100)
    } else {
        bin
    };
    let names: Vec<&str> = paths.iter().map(|p| p.name.as_str()).collect();
    let mut progress = Progress::new(spec.bytes, &names, bin);
    // Stream bytes read at the end of each bin: read[k] is at (k + 1) * bin.
    let mut read = Vec::new();
    let mut until = Instant::ZERO;
    let error = loop {
        until += bin;
        match sc.step_until(until) {
            Ok(done) => {
                read.push(sc.bytes_read());
                progress.update(&sc, &read);
                if done {
                    break None;
                }
            }
            Err(e) => break Some(e),
        }
    };
    progress.finish();
    let report = sc.finish(error);
    let timeline = timeline(&sc, &read, bin, report.duration_s, paths.len());
    Ok((report, timeline))
}

/// Rates per bin up to `end_s`; the last, partial bin is scaled to the time
/// it covers (or left out when that is under a quarter of a bin).
fn timeline(sc: &Scenario, read: &[u64], bin: Duration, end_s: f64, paths: usize) -> Timeline {
    let bin_s = bin.as_secs_f64();
    let full = (end_s / bin_s).floor() as usize;
    let partial = end_s - full as f64 * bin_s;
    let bins = if partial >= bin_s / 4.0 {
        full + 1
    } else {
        full
    };
    let rate = |k: usize, bytes: u64| {
        let width = if k == full { partial } else { bin_s };
        bytes as f64 * 8.0 / width / 1e6
    };
    let per_path = (0..paths)
        .map(|i| {
            let series = &sc.sim.iface_stats(sc.server, IfaceId(i)).received_series;
            (0..bins)
                .map(|k| rate(k, series.bins().get(k).copied().unwrap_or(0)))
                .collect()
        })
        .collect();
    let aggregate = (0..bins)
        .map(|k| {
            let at = |j: usize| read.get(j).or(read.last()).copied().unwrap_or(0);
            let before = if k == 0 { 0 } else { at(k - 1) };
            rate(k, at(k) - before)
        })
        .collect();
    Timeline {
        bin_s,
        end_s,
        paths: per_path,
        aggregate,
    }
}

/// Plain TCP over each path alone, each measured over the first `mptcp_s`
/// seconds (the MPTCP run's duration): the same span of time for every
/// goodput compared. A single path's longer run would otherwise spread its
/// start-up over more time than MPTCP had, and a subflow would seem to beat
/// TCP over its own path.
fn run_baselines(
    spec: &TransferSpec,
    cc: CcAlgorithm,
    mptcp_s: f64,
) -> Result<Vec<Baseline>, Failure> {
    progress::note(&format!(
        "baselines: plain TCP over each of the {} paths alone...",
        spec.paths.len()
    ));
    (0..spec.paths.len())
        .map(|i| {
            let (report, samples) = Scenario::build(&baseline_spec(spec, cc, i))
                .map_err(|e| Failure::failed(format!("cannot set up the simulation: {e}")))?
                .run_sampled(SAMPLE);
            Ok(Baseline::new(report, &samples, mptcp_s))
        })
        .collect()
}

fn print_scenarios() {
    outln!("Scenarios (mptcp demo --scenario NAME):");
    for (i, s) in SCENARIOS.iter().enumerate() {
        let mark = if i == 0 { " (default)" } else { "" };
        outln!("  {:<16} {}{mark}", s.name, s.about);
    }
}

/// Run it.
pub fn run(args: Args) -> Result<(), Failure> {
    if let Some(csv) = &args.from_matrix {
        let title = "MPTCP over real path sets: the acceptance matrix";
        plot::matrix::write(csv, &args.plot, title)
            .map_err(|e| Failure::usage(format!("cannot draw {}: {e}", args.plot.display())))?;
        outln!("Plot: {} (from {})", args.plot.display(), csv.display());
        return Ok(());
    }
    if args.scenario.as_deref() == Some("list") && args.paths.is_empty() {
        print_scenarios();
        return Ok(());
    }
    let paths = named_paths(&args)?;
    let (spec, cc) = mptcp_spec(&args, &paths)?;
    let wall = WallClock::now();
    let (report, timeline) = run_mptcp(&spec, &paths)?;
    let baselines = run_baselines(&spec, cc, report.duration_s)?;
    let wall = wall.elapsed().as_secs_f64();
    let summary = Summary::new(&spec, cc, &paths, &report, &baselines);
    summary.print(wall);
    if !args.no_plot {
        plot::write(&args.plot, &summary, &timeline).map_err(|e| {
            Failure::usage(format!(
                "cannot write the plot to {}: {e}",
                args.plot.display()
            ))
        })?;
        outln!(
            "Plot: {} (per path: IP bytes delivered to the server per {} ms; \
             aggregate: stream bytes read)",
            args.plot.display(),
            (timeline.bin_s * 1e3).round()
        );
    }
    let failed = std::iter::once(&report)
        .chain(baselines.iter().map(|b| &b.report))
        .find(|r| !r.is_ok());
    match failed {
        None => Ok(()),
        Some(r) => Err(Failure::failed(format!(
            "transfer failed ({}{}); reproduce with: {}",
            r.integrity,
            r.error
                .as_deref()
                .map(|e| format!(", {e}"))
                .unwrap_or_default(),
            r.command
        ))),
    }
}

/// The numbers the table, the comparison and the plot show.
pub(crate) struct Summary<'a> {
    spec: &'a TransferSpec,
    cc: CcAlgorithm,
    /// Path names, by path index.
    pub names: Vec<&'a str>,
    report: &'a TransferReport,
    baselines: &'a [Baseline],
    /// MPTCP goodput, Mbit/s (measured).
    pub goodput: f64,
    /// The best single-path goodput and its path index (measured).
    pub best: (f64, usize),
    /// Sum of the single-path goodputs, Mbit/s (measured).
    pub sum: f64,
    /// Sum of the configured link rates, Mbit/s (nominal).
    pub nominal: f64,
}

impl<'a> Summary<'a> {
    fn new(
        spec: &'a TransferSpec,
        cc: CcAlgorithm,
        paths: &'a [NamedPath],
        report: &'a TransferReport,
        baselines: &'a [Baseline],
    ) -> Summary<'a> {
        let rates: Vec<f64> = baselines.iter().map(|b| b.goodput_bps / 1e6).collect();
        let best = rates
            .iter()
            .copied()
            .enumerate()
            .fold((0.0, 0), |acc, (i, r)| if r > acc.0 { (r, i) } else { acc });
        Summary {
            spec,
            cc,
            names: paths.iter().map(|p| p.name.as_str()).collect(),
            report,
            baselines,
            goodput: report.goodput_bps / 1e6,
            best,
            sum: rates.iter().sum(),
            nominal: report.capacity_bps / 1e6,
        }
    }

    /// The one-line headline of the plot and the comparison.
    pub fn comparison(&self) -> String {
        format!(
            "MPTCP goodput {:.2} Mbit/s = {:.2}× the best single path ({:.2} Mbit/s), \
             {:.1}% of the sum of path rates ({:.2} Mbit/s)",
            self.goodput,
            ratio(self.goodput, self.best.0),
            self.best.0,
            100.0 * ratio(self.goodput, self.sum),
            self.sum
        )
    }

    /// What was run, in a few words.
    pub fn setup(&self) -> String {
        let paths: Vec<String> = self
            .names
            .iter()
            .zip(&self.spec.paths)
            .map(|(n, p)| format!("{n} {}", p.text))
            .collect();
        format!(
            "{} upload over {}; {} scheduler, {} congestion control, seed {}",
            mib(self.spec.bytes),
            paths.join(" + "),
            self.spec.scheduler,
            self.cc,
            self.spec.seed
        )
    }

    fn print(&self, wall: f64) {
        let r = self.report;
        outln!("mptcp demo: {}", self.setup());
        outln!();
        let mode = match &r.mptcp {
            Some(m) => match m.fallback.as_deref() {
                None => format!("MPTCP v{} over all paths", m.version),
                Some(why) => format!("MPTCP (fell back to TCP: {why})"),
            },
            None => "MPTCP".to_owned(),
        };
        outln!(
            "{mode}: {} in {:.3} s, goodput {:.2} Mbit/s, integrity {}",
            mib(r.bytes),
            r.duration_s,
            self.goodput,
            r.integrity
        );
        self.print_subflows();
        self.print_baselines();
        outln!();
        outln!("{}", self.comparison());
        outln!();
        outln!(
            "Measured: MPTCP's goodput is stream bytes over virtual time from the first SYN to \
             the last byte read; each single path's is the bytes it had read by the same \
             time (or all of them, if it finished sooner) over that time; the sum of path \
             rates adds up the single-path goodputs."
        );
        outln!(
            "Nominal: the link rates add up to {:.2} Mbit/s; MPTCP reaches {:.1}% of that.",
            self.nominal,
            100.0 * ratio(self.goodput, self.nominal)
        );
        outln!(
            "Wall clock: {wall:.2} s for the {} runs.",
            1 + self.baselines.len()
        );
        if let Some(e) = &r.error {
            outln!("error: {e}");
        }
    }

    fn print_baselines(&self) {
        outln!();
        outln!(
            "Plain TCP ({}) over each path alone, the same {} stream, measured over the \
             MPTCP run's {:.3} s (or its own run, if shorter):",
            baseline_cc(self.cc),
            mib(self.spec.bytes),
            self.report.duration_s
        );
        let width = self
            .spec
            .paths
            .iter()
            .map(|p| p.text.len())
            .fold(16, usize::max);
        outln!(
            "{:<5} {:<8} {:<width$} {:>10} {:>11} {:>16}  integrity",
            "path",
            "name",
            "link",
            "over",
            "read",
            "goodput"
        );
        for (i, b) in self.baselines.iter().enumerate() {
            outln!(
                "{:<5} {:<8} {:<width$} {:>8.3} s {:>11} {:>9.2} Mbit/s  {}",
                i,
                self.names[i],
                self.spec.paths[i].text,
                b.window_s,
                mib(b.read as u64),
                b.goodput_bps / 1e6,
                b.report.integrity
            );
        }
    }

    fn print_subflows(&self) {
        let r = self.report;
        let total: u64 = r.subflows.iter().map(|s| s.bytes).sum();
        outln!();
        outln!("Subflows, as the sender saw them (bytes acknowledged; srtt and cwnd at the end):");
        outln!(
            "{:<5} {:<8} {:<16} {:<16} {:>10} {:>7} {:>8} {:>9} {:>9}",
            "path",
            "name",
            "local",
            "remote",
            "bytes",
            "share",
            "retrans",
            "srtt",
            "cwnd"
        );
        for s in &r.subflows {
            outln!(
                "{:<5} {:<8} {:<16} {:<16} {:>10} {:>6.1}% {:>8} {:>9} {:>9}",
                s.path,
                self.names.get(s.path).copied().unwrap_or("?"),
                s.local,
                s.remote,
                s.bytes,
                100.0 * ratio(s.bytes as f64, total as f64),
                s.retransmits,
                s.srtt_ms.map_or("-".to_owned(), |v| format!("{v:.1} ms")),
                s.cwnd
            );
        }
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// `bytes` in MiB (or bytes, for small streams).
pub(crate) fn mib(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{bytes} bytes")
    }
}
