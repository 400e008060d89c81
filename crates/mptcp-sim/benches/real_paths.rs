//! The acceptance matrix of MPTCP over realistic path sets: per row (a set
//! of paths, a stream size, a direction) and per configuration (congestion
//! control and scheduler), the MPTCP goodput, the goodput of plain TCP over
//! each path alone with a controller of the same family (NewReno for the
//! coupled LIA, OLIA and BALIA; the controller itself otherwise), "× best"
//! (MPTCP over the best single path) and "of sum" (MPTCP over the sum of
//! the single paths). The shared-bottleneck row instead puts MPTCP's two
//! subflows and one plain TCP flow through one 50 Mbit/s link and gives
//! MPTCP's goodput over the TCP's.
//!
//! Every run is a deterministic simulation (seed 1): nothing here is a
//! timing, so this is a `harness = false` bench that prints a table (and
//! writes it as CSV) rather than a criterion benchmark.
//!
//! Single-path runs are measured over the same span of virtual time as the
//! MPTCP run they are compared with (the bytes they had read when MPTCP had
//! read all of its stream), or over their whole run when they finished
//! first: a slow path's long run would otherwise amortise its start-up over
//! more time than the MPTCP run had.
//!
//! ```text
//! cargo bench -p mptcp-sim --bench real_paths
//! MPTCP_TRACES=/path/to/mahimahi/traces cargo bench -p mptcp-sim --bench real_paths
//! ```
//!
//! Environment:
//! - `MPTCP_TRACES`: a directory with the Mahimahi LTE traces
//!   `Verizon-LTE-short.{up,down}` and `TMobile-LTE-short.{up,down}`; unset,
//!   the LTE rows use a generated trace instead.
//! - `MPTCP_ROWS`: comma-separated words; only rows whose name contains one
//!   of them (case-insensitive) run.
//! - `MPTCP_CC`, `MPTCP_SCHED`: comma-separated controller and scheduler
//!   names to keep. Each coupled controller runs twice: coupling all its
//!   subflows, and (`+sbd`) only those that shared-bottleneck detection
//!   (RFC 8382) puts in one group.
//! - `MPTCP_MATRIX=full`: every controller with every scheduler (by
//!   default: every controller with the default scheduler, and every
//!   scheduler with the default controller).
//! - `MPTCP_SCALE`: multiplies every stream size (0.25 for a quick pass).
//! - `MPTCP_JOBS`: simulations run at once (default 2).
//! - `MPTCP_OUT`: the CSV file (default `real_paths.csv` in the target
//!   directory).

use mptcp_proto::congestion::CcAlgorithm;
use mptcp_proto::endpoint::EndpointConfig;
use mptcp_proto::scheduler::SchedulerKind;
use mptcp_sim::scenario::{
    Direction, Outage, PathSpec, ReadSamples, Scenario, ShareSpec, TransferReport, TransferSpec,
    run_share,
};
use mptcp_sim::{Duration, Trace};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant as WallClock;

const MIB: u64 = 1 << 20;

/// Single-path runs note the bytes read every this much virtual time.
const SAMPLE: Duration = Duration::from_millis(10);

/// What a row compares.
#[derive(Clone, Debug)]
enum Kind {
    /// Disjoint paths: MPTCP against plain TCP over each alone.
    Disjoint {
        paths: Vec<String>,
        bytes: u64,
        direction: Direction,
        buffer: Option<usize>,
        outages: Vec<Outage>,
    },
    /// MPTCP's two subflows and one plain TCP through one link.
    Shared,
}

#[derive(Clone, Debug)]
struct Row {
    name: String,
    kind: Kind,
}

fn disjoint(name: &str, paths: &[&str], bytes: u64) -> Row {
    Row {
        name: name.to_owned(),
        kind: Kind::Disjoint {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            bytes,
            direction: Direction::Up,
            buffer: None,
            outages: Vec::new(),
        },
    }
}

impl Row {
    fn direction(mut self, d: Direction) -> Row {
        if let Kind::Disjoint { direction, .. } = &mut self.kind {
            *direction = d;
        }
        self
    }
    fn buffer(mut self, b: usize) -> Row {
        if let Kind::Disjoint { buffer, .. } = &mut self.kind {
            *buffer = Some(b);
        }
        self
    }
    fn outage(mut self, o: &str) -> Row {
        if let Kind::Disjoint { outages, .. } = &mut self.kind {
            outages.push(Outage::parse(o).expect("outage"));
        }
        self
    }
}

/// The LTE traces: `(operator, UPFILE+DOWNFILE)`.
fn lte_traces(target: &Path) -> Vec<(String, String)> {
    if let Some(dir) = std::env::var_os("MPTCP_TRACES") {
        let dir = PathBuf::from(dir);
        return ["Verizon", "TMobile"]
            .iter()
            .map(|op| {
                let f = |d: &str| dir.join(format!("{op}-LTE-short.{d}"));
                (
                    format!("{op} LTE"),
                    format!("{}+{}", f("up").display(), f("down").display()),
                )
            })
            .collect();
    }
    let dir = target.join("real_paths-traces");
    std::fs::create_dir_all(&dir).expect("trace directory");
    let up = dir.join("generated.up");
    let down = dir.join("generated.down");
    // Rates like the recorded traces': a few Mbit/s up, more down.
    let up_trace = Trace::cellular_like(0x5eed, 6_000_000, 60_000);
    let down_trace = Trace::cellular_like(0xd0e5, 12_000_000, 60_000);
    std::fs::write(&up, up_trace.to_text()).expect("write trace");
    std::fs::write(&down, down_trace.to_text()).expect("write trace");
    vec![(
        "generated LTE".to_owned(),
        format!("{}+{}", up.display(), down.display()),
    )]
}

fn rows(target: &Path) -> Vec<Row> {
    let mut rows = vec![
        disjoint(
            "100+50 Mbit/s, 5/20 ms",
            &["100mbit/5ms", "50mbit/20ms"],
            128 * MIB,
        ),
        disjoint("1+1 Gbit/s, 1/2 ms", &["1gbit/1ms", "1gbit/2ms"], 512 * MIB),
        disjoint(
            "three paths 30+20+10 Mbit/s, 10/25/60 ms",
            &["30mbit/10ms", "20mbit/25ms", "10mbit/60ms"],
            64 * MIB,
        ),
        disjoint(
            "100+50 Mbit/s, 5/100 ms",
            &["100mbit/5ms", "50mbit/100ms"],
            128 * MIB,
        ),
        disjoint(
            "20 Mbit/s 300 ms + 8 Mbit/s 15 ms",
            &["20mbit/300ms", "8mbit/15ms"],
            64 * MIB,
        ),
        disjoint(
            "100+50 Mbit/s, 5/40 ms, 2 MiB buffer",
            &["100mbit/5ms", "50mbit/40ms"],
            128 * MIB,
        )
        .buffer(2 << 20),
        disjoint(
            "lossy, jittery 50+20 Mbit/s",
            &["50mbit/10ms/0.3%,jitter=3ms", "20mbit/40ms/0.1%,jitter=8ms"],
            64 * MIB,
        ),
        disjoint(
            "40 Mbit/s 15 ms 1% twice, download",
            &["40mbit/15ms/1%", "40mbit/15ms/1%"],
            64 * MIB,
        )
        .direction(Direction::Down),
        disjoint(
            "Wi-Fi bursty loss (Gilbert-Elliott)",
            &[
                "50mbit/8ms,loss=ge:0.1%/30%/50%,jitter=2ms",
                "30mbit/12ms,loss=ge:0.2%/20%/50%,jitter=2ms",
            ],
            64 * MIB,
        ),
    ];
    for (name, files) in lte_traces(target) {
        let paths = [
            "50mbit/10ms/0.3%".to_owned(),
            format!("trace/30ms,trace={files}"),
        ];
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        rows.push(disjoint(
            &format!("Wi-Fi 0.3% + {name}, upload"),
            &paths,
            32 * MIB,
        ));
        rows.push(
            disjoint(&format!("Wi-Fi 0.3% + {name}, download"), &paths, 32 * MIB)
                .direction(Direction::Down),
        );
    }
    rows.extend([
        disjoint(
            "50+20 Mbit/s, the fast path down 3-8 s",
            &["50mbit/10ms", "20mbit/40ms"],
            64 * MIB,
        )
        .outage("0@3s-8s"),
        disjoint(
            "three paths 100+50+20 Mbit/s, 2/10/40 ms, 0.3% on one",
            &["100mbit/2ms", "50mbit/10ms/0.3%", "20mbit/40ms"],
            128 * MIB,
        ),
        Row {
            name: "shared 50 Mbit/s bottleneck vs one TCP".to_owned(),
            kind: Kind::Shared,
        },
    ]);
    rows
}

/// One MPTCP configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Config {
    cc: CcAlgorithm,
    scheduler: SchedulerKind,
    /// Shared-bottleneck detection (RFC 8382): a coupled controller
    /// couples only the subflows found to share a bottleneck.
    sbd: bool,
}

impl Config {
    fn label(&self, default: Config) -> String {
        let mark = if *self == default { " (default)" } else { "" };
        format!("{}/{}{mark}", self.cc_name(), self.scheduler.name())
    }

    /// The controller's name, `+sbd` when it couples by detected groups.
    fn cc_name(&self) -> String {
        match self.sbd {
            true => format!("{}+sbd", self.cc),
            false => self.cc.name().to_owned(),
        }
    }

    /// The controller plain TCP uses as this one's reference.
    fn family(&self) -> CcAlgorithm {
        family(self.cc)
    }
}

fn family(cc: CcAlgorithm) -> CcAlgorithm {
    if cc.is_coupled() {
        CcAlgorithm::Reno
    } else {
        cc
    }
}

fn env_list(name: &str) -> Option<Vec<String>> {
    let v = std::env::var(name).ok()?;
    let list: Vec<String> = v
        .split(',')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    (!list.is_empty()).then_some(list)
}

fn keep(list: &Option<Vec<String>>, name: &str) -> bool {
    list.as_ref()
        .is_none_or(|l| l.iter().any(|w| name.to_lowercase().contains(w.as_str())))
}

fn configs(default: Config) -> Vec<Config> {
    let full = std::env::var("MPTCP_MATRIX").is_ok_and(|v| v == "full");
    let ccs = env_list("MPTCP_CC");
    let scheds = env_list("MPTCP_SCHED");
    let cc_ok = |c: CcAlgorithm| ccs.as_ref().is_none_or(|l| l.iter().any(|n| n == c.name()));
    let sched_ok = |s: SchedulerKind| {
        scheds
            .as_ref()
            .is_none_or(|l| l.iter().any(|n| n == s.name()))
    };
    let mut out = Vec::new();
    for &cc in CcAlgorithm::ALL.iter().filter(|c| cc_ok(**c)) {
        for &scheduler in SchedulerKind::ALL.iter().filter(|s| sched_ok(**s)) {
            // Detection matters only to the coupled controllers.
            let sbds: &[bool] = if cc.is_coupled() {
                &[false, true]
            } else {
                &[false]
            };
            for &sbd in sbds {
                let c = Config { cc, scheduler, sbd };
                let default_sched = scheduler == default.scheduler;
                if full || (cc == default.cc && sbd == default.sbd) || default_sched {
                    out.push(c);
                }
            }
        }
    }
    // The default first, then by controller (a stable sort).
    out.sort_by_key(|c| *c != default);
    out
}

/// The result of one configuration on one row.
struct Outcome {
    config: Config,
    mptcp_mbps: f64,
    /// Disjoint rows: each path alone, over the same span. Shared: the
    /// competing TCP.
    tcp_mbps: Vec<f64>,
    failed: Option<String>,
    wall_s: f64,
}

impl Outcome {
    fn best(&self) -> f64 {
        self.tcp_mbps.iter().copied().fold(0.0, f64::max)
    }
    fn sum(&self) -> f64 {
        self.tcp_mbps.iter().sum()
    }
    fn ratio(a: f64, b: f64) -> f64 {
        if b > 0.0 { a / b } else { 0.0 }
    }
}

/// Runs `jobs` on `threads` threads; results in the order of `jobs`.
fn parallel<T: Send, R: Send>(jobs: Vec<T>, threads: usize, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let n = jobs.len();
    let queue: Vec<Mutex<Option<T>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let results: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1).min(n.max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let job = queue[i].lock().expect("job").take().expect("taken once");
                    let r = f(job);
                    *results[i].lock().expect("result") = Some(r);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().expect("result").expect("every job ran"))
        .collect()
}

fn spec_for(row: &Kind, path_filter: Option<usize>) -> TransferSpec {
    let Kind::Disjoint {
        paths,
        bytes,
        direction,
        buffer,
        outages,
    } = row
    else {
        unreachable!("only disjoint rows have transfer specs")
    };
    let scale: f64 = std::env::var("MPTCP_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let bytes = ((*bytes as f64 * scale) as u64).max(64 * 1024);
    let parsed: Vec<PathSpec> = paths
        .iter()
        .map(|p| PathSpec::parse(p).unwrap_or_else(|e| panic!("{p}: {e}")))
        .collect();
    let mut spec = TransferSpec::new(parsed, bytes);
    spec.direction = *direction;
    spec.buffer = *buffer;
    spec.outages = outages.clone();
    spec.verify = true;
    if let Some(i) = path_filter {
        spec.paths = vec![spec.paths[i].clone()];
        spec.tcp_only = true;
        spec.outages = outages
            .iter()
            .filter(|o| o.path == i)
            .map(|o| Outage { path: 0, ..*o })
            .collect();
    }
    spec
}

enum Job {
    Tcp(CcAlgorithm, usize),
    Mptcp(Config),
    Share(Config),
}

enum Done {
    Tcp(CcAlgorithm, usize, Box<TransferReport>, ReadSamples),
    Mptcp(Config, Box<TransferReport>, f64),
    Share(Config, Result<(f64, f64), String>, f64),
}

fn run_job(kind: &Kind, job: Job) -> Done {
    let wall = WallClock::now();
    match job {
        Job::Tcp(cc, i) => {
            let mut spec = spec_for(kind, Some(i));
            spec.cc = Some(cc);
            let (report, samples) = Scenario::build(&spec).expect("build").run_sampled(SAMPLE);
            Done::Tcp(cc, i, Box::new(report), samples)
        }
        Job::Mptcp(c) => {
            let mut spec = spec_for(kind, None);
            spec.cc = Some(c.cc);
            spec.scheduler = c.scheduler;
            spec.sbd = c.sbd;
            let report = Scenario::build(&spec).expect("build").run();
            Done::Mptcp(c, Box::new(report), wall.elapsed().as_secs_f64())
        }
        Job::Share(c) => {
            let mut spec = ShareSpec::new(c.cc);
            spec.scheduler = c.scheduler;
            spec.sbd = c.sbd;
            let r = run_share(&spec).map_err(|e| e.to_string()).and_then(|s| {
                if s.subflows == 2 {
                    Ok((s.mptcp_bps / 1e6, s.tcp_bps / 1e6))
                } else {
                    Err(format!("{} subflows instead of 2", s.subflows))
                }
            });
            Done::Share(c, r, wall.elapsed().as_secs_f64())
        }
    }
}

fn run_row(row: &Row, configs: &[Config], threads: usize) -> Vec<Outcome> {
    let mut jobs = Vec::new();
    match &row.kind {
        Kind::Disjoint { paths, .. } => {
            let families: std::collections::BTreeSet<&str> =
                configs.iter().map(|c| c.family().name()).collect();
            for f in families {
                let cc = CcAlgorithm::from_name(f).expect("a known controller");
                jobs.extend((0..paths.len()).map(|i| Job::Tcp(cc, i)));
            }
            jobs.extend(configs.iter().map(|c| Job::Mptcp(*c)));
        }
        Kind::Shared => jobs.extend(configs.iter().map(|c| Job::Share(*c))),
    }
    let done = parallel(jobs, threads, |j| run_job(&row.kind, j));
    let mut tcp: BTreeMap<(&str, usize), (Box<TransferReport>, ReadSamples)> = BTreeMap::new();
    let mut out = Vec::new();
    for d in done {
        match d {
            Done::Tcp(cc, i, r, s) => {
                tcp.insert((cc.name(), i), (r, s));
            }
            Done::Share(config, r, wall_s) => out.push(match r {
                Ok((mptcp, tcp)) => Outcome {
                    config,
                    mptcp_mbps: mptcp,
                    tcp_mbps: vec![tcp],
                    failed: None,
                    wall_s,
                },
                Err(e) => Outcome {
                    config,
                    mptcp_mbps: 0.0,
                    tcp_mbps: Vec::new(),
                    failed: Some(e),
                    wall_s,
                },
            }),
            Done::Mptcp(config, report, wall_s) => {
                let window = report.duration_s;
                let mut failed = (!report.is_ok()).then(|| report.command.clone());
                let tcp_mbps = (0..)
                    .map_while(|i| tcp.get(&(config.family().name(), i)))
                    .map(|(r, s)| {
                        if !r.is_ok() {
                            failed.get_or_insert_with(|| r.command.clone());
                        }
                        s.goodput_within(r, window) / 1e6
                    })
                    .collect();
                out.push(Outcome {
                    config,
                    mptcp_mbps: report.goodput_bps / 1e6,
                    tcp_mbps,
                    failed,
                    wall_s,
                });
            }
        }
    }
    out
}

/// What a row falls short of, per the acceptance criteria.
fn shortfalls(kind: &Kind, o: &Outcome) -> Vec<&'static str> {
    let mut v = Vec::new();
    if o.failed.is_some() {
        v.push("FAILED");
        return v;
    }
    match kind {
        Kind::Disjoint { .. } => {
            if Outcome::ratio(o.mptcp_mbps, o.best()) < 1.0 {
                v.push("<1.0x best");
            }
            if Outcome::ratio(o.mptcp_mbps, o.sum()) < 0.9 {
                v.push("<0.9 of sum");
            }
        }
        Kind::Shared => {
            if Outcome::ratio(o.mptcp_mbps, o.best()) > 1.25 {
                v.push(">1.25x TCP");
            }
        }
    }
    v
}

/// `p` with each trace file named by its file name only.
fn short_traces(p: &str) -> String {
    let Some((head, rest)) = p.split_once(",trace=") else {
        return p.to_owned();
    };
    let (files, tail) = rest.split_once(',').unwrap_or((rest, ""));
    let names: Vec<&str> = files
        .split('+')
        .map(|f| {
            Path::new(f)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(f)
        })
        .collect();
    let tail = if tail.is_empty() {
        String::new()
    } else {
        format!(",{tail}")
    };
    format!("{head},trace={}{tail}", names.join("+"))
}

fn target_dir() -> PathBuf {
    // .../target/release/deps/real_paths-HASH
    std::env::current_exe()
        .ok()
        .and_then(|p| p.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn main() {
    let target = target_dir();
    let threads = std::env::var("MPTCP_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let mp = EndpointConfig::default().connection.mptcp;
    let default = Config {
        cc: mp.cc,
        scheduler: mp.scheduler,
        sbd: mp.sbd && mp.cc.is_coupled(),
    };
    let configs = configs(default);
    let row_filter = env_list("MPTCP_ROWS");
    let rows: Vec<Row> = rows(&target)
        .into_iter()
        .filter(|r| keep(&row_filter, &r.name))
        .collect();
    let out_path = std::env::var_os("MPTCP_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("real_paths.csv"));
    let mut csv = String::from(
        "row,kind,paths,bytes,direction,buffer,cc,scheduler,default,tcp_cc,mptcp_mbps,\
         tcp_mbps,best_mbps,sum_mbps,x_best,of_sum,shortfalls,wall_s\n",
    );
    let started = WallClock::now();
    println!(
        "MPTCP over real paths: seed 1, {} configurations, {threads} at once; \
         single paths: plain TCP over the same span of virtual time",
        configs.len()
    );
    for row in &rows {
        let wall = WallClock::now();
        let outcomes = run_row(row, &configs, threads);
        let (paths, bytes, direction, buffer) = match &row.kind {
            Kind::Disjoint {
                paths,
                direction,
                buffer,
                ..
            } => (
                paths
                    .iter()
                    .map(|p| short_traces(p))
                    .collect::<Vec<_>>()
                    .join(" + "),
                spec_for(&row.kind, None).bytes,
                direction.name(),
                buffer.map(|b| b.to_string()).unwrap_or_default(),
            ),
            Kind::Shared => (
                "2 subflows + 1 TCP through 50mbit/10ms".to_owned(),
                0,
                "up",
                String::new(),
            ),
        };
        println!();
        println!("{} ({paths})", row.name);
        let shared = matches!(row.kind, Kind::Shared);
        println!(
            "  {:<24} {:>9}  {:<28} {:>8} {:>8}  short of",
            "cc/scheduler",
            "MPTCP",
            if shared {
                "TCP beside it"
            } else {
                "TCP alone per path"
            },
            if shared { "x TCP" } else { "x best" },
            if shared { "" } else { "of sum" },
        );
        for o in &outcomes {
            let short = shortfalls(&row.kind, o);
            let tcp_list: Vec<String> = o.tcp_mbps.iter().map(|v| format!("{v:.1}")).collect();
            let tcp_text = format!("{}: {}", o.config.family(), tcp_list.join(" + "));
            let x_best = Outcome::ratio(o.mptcp_mbps, o.best());
            let of_sum = Outcome::ratio(o.mptcp_mbps, o.sum());
            println!(
                "  {:<24} {:>9.2}  {:<28} {:>8.2} {:>8}  {}",
                o.config.label(default),
                o.mptcp_mbps,
                tcp_text,
                x_best,
                if shared {
                    String::new()
                } else {
                    format!("{of_sum:.2}")
                },
                short.join(" ")
            );
            if let Some(cmd) = &o.failed {
                println!("    reproduce: {cmd}");
            }
            let fields = [
                csv_field(&row.name),
                (if shared { "shared" } else { "disjoint" }).to_owned(),
                csv_field(&paths),
                bytes.to_string(),
                direction.to_owned(),
                buffer.clone(),
                o.config.cc_name(),
                o.config.scheduler.name().to_owned(),
                (o.config == default).to_string(),
                o.config.family().name().to_owned(),
                format!("{:.3}", o.mptcp_mbps),
                tcp_list.join(" "),
                format!("{:.3}", o.best()),
                format!("{:.3}", o.sum()),
                format!("{x_best:.4}"),
                if shared {
                    String::new()
                } else {
                    format!("{of_sum:.4}")
                },
                short.join(" "),
                format!("{:.2}", o.wall_s),
            ];
            csv.push_str(&fields.join(","));
            csv.push('\n');
        }
        println!("  ({:.1} s wall clock)", wall.elapsed().as_secs_f64());
        std::fs::write(&out_path, &csv).expect("write the CSV");
    }
    println!();
    println!(
        "{} rows in {:.0} s; CSV: {}",
        rows.len(),
        started.elapsed().as_secs_f64(),
        out_path.display()
    );
}
