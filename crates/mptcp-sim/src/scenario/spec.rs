//! What a transfer scenario is made of, and its command-line form.

use crate::app::SizeRange;
use crate::link::config::{LinkConfig, LinkState};
use crate::link::loss::GilbertElliott;
use crate::link::trace::{Trace, TraceError};
use crate::middlebox::{MiddleboxSpec, StripWhich};
use crate::parse::{
    ParseError, ParseErrorKind, PathRate, ValueKind, parse_duration, parse_path_fields,
    parse_percent, parse_probability, parse_size,
};
use mptcp_proto::congestion::CcAlgorithm;
use mptcp_proto::connection::MptcpConfig;
use mptcp_proto::crypto::MptcpVersion;
use mptcp_proto::scheduler::SchedulerKind;
use mptcp_proto::subflow::TcpFeatures;
use mptcp_proto::time::{Duration, Instant};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One path between client and server: the same link model both ways, but
/// for the trace of a `trace=UP+DOWN` path.
#[derive(Clone, Debug)]
pub struct PathSpec {
    /// The link model: client to server, and server to client too unless
    /// `down_trace` is set.
    pub link: LinkConfig,
    /// The server-to-client trace when it differs from the client-to-server
    /// one (`trace=UP+DOWN`); everything else is `link`'s.
    pub down_trace: Option<Arc<Trace>>,
    /// The text it was parsed from (for reproduction).
    pub text: String,
}

/// A scenario description that did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecError {
    /// A value inside it.
    Value(ParseError),
    /// An unknown `key=value` extra on a path.
    UnknownExtra(String),
    /// A malformed `key=value` extra, `PATH@TIME[-UPTIME]` or `MIN-MAX`.
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// The text.
        input: String,
    },
    /// A trace file that could not be read or parsed.
    Trace {
        /// The file, as given.
        file: String,
        /// What is wrong with it.
        error: TraceError,
    },
    /// A `trace=` option on a path whose rate is not `trace`.
    TraceWithoutTraceRate,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::Value(e) => write!(f, "{e}"),
            SpecError::UnknownExtra(k) => write!(
                f,
                "unknown path option {k:?} (expected jitter=, dup=, reorder=P%@DELAY, queue=, \
                 mtu=, trace=FILE[+DOWNFILE], loss=P%|ge:P/R/H[/K], batch=DELAY)"
            ),
            SpecError::Malformed { what, input } => write!(f, "invalid {what} {input:?}"),
            // An I/O error names the file already.
            SpecError::Trace {
                error: error @ TraceError::Io { .. },
                ..
            } => write!(f, "{error}"),
            SpecError::Trace { file, error } => write!(f, "trace {file:?}: {error}"),
            SpecError::TraceWithoutTraceRate => {
                write!(
                    f,
                    "a trace= path option needs the rate `trace` (trace/DELAY)"
                )
            }
        }
    }
}

impl std::error::Error for SpecError {}

impl From<ParseError> for SpecError {
    fn from(e: ParseError) -> SpecError {
        SpecError::Value(e)
    }
}

impl PathSpec {
    /// Parse `RATE/DELAY[/LOSS%][,key=value...]`, where the extras are
    /// `jitter=DURATION`, `dup=PERCENT`, `reorder=PERCENT@DURATION`,
    /// `queue=SIZE`, `mtu=BYTES`, and:
    /// - `trace=FILE` or `trace=UPFILE+DOWNFILE`, with RATE the word `trace`:
    ///   the capacity follows a Mahimahi trace (see [`Trace`]), UPFILE's for
    ///   client to server and DOWNFILE's for server to client (FILE's both
    ///   ways). File names may hold `/` but not `,` or `+`. Everything else
    ///   (delay, loss, queue, ...) applies on top, to both directions.
    /// - `loss=PROBABILITY` (Bernoulli; replaces the `/LOSS%` field) or
    ///   `loss=ge:P/R/H[/K]`: Gilbert-Elliott bursty loss (see
    ///   [`GilbertElliott`]) with P good-to-bad and R bad-to-good transition
    ///   probabilities per packet, H the loss probability in the bad state and
    ///   K (default 0) in the good one; each a percentage (`1%`) or a fraction
    ///   (`0.01`). It applies after the Bernoulli loss, if any.
    /// - `batch=DURATION`: packets reach the far end only at multiples of
    ///   DURATION (in bursts, FIFO kept).
    ///
    /// Trace files are read here; a missing or malformed one is an error.
    pub fn parse(s: &str) -> Result<PathSpec, SpecError> {
        let mut parts = s.split(',');
        let (rate, delay, loss) = parse_path_fields(parts.next().unwrap_or_default())?;
        let mut link = LinkConfig::new(0, delay).loss(loss);
        if let PathRate::Bps(bps) = rate {
            link.rate_bps = bps;
        }
        let mut traces = None;
        for extra in parts {
            let (key, value) = extra.split_once('=').ok_or_else(|| SpecError::Malformed {
                what: "path option",
                input: extra.to_owned(),
            })?;
            link = match key {
                "trace" if rate == PathRate::Trace => {
                    traces = Some(load_traces(value)?);
                    link
                }
                "trace" => return Err(SpecError::TraceWithoutTraceRate),
                "loss" => parse_loss(link, value)?,
                "batch" => link.batch(parse_duration(value)?),
                "jitter" => link.jitter(parse_duration(value)?),
                "dup" => link.duplicate(parse_percent(value)?),
                "reorder" => {
                    let (p, d) = value.split_once('@').ok_or_else(|| SpecError::Malformed {
                        what: "reorder option (PERCENT@DELAY)",
                        input: value.to_owned(),
                    })?;
                    link.reorder(parse_percent(p)?, parse_duration(d)?)
                }
                "queue" => link.queue_bytes(parse_size(value)?),
                "mtu" => link.mtu(parse_mtu(value)?),
                other => return Err(SpecError::UnknownExtra(other.to_owned())),
            };
        }
        let mut down_trace = None;
        if rate == PathRate::Trace {
            let (up, down) = traces.ok_or_else(|| {
                SpecError::Value(ParseError {
                    what: ValueKind::Path,
                    input: s.to_owned(),
                    kind: ParseErrorKind::TraceNeedsFile,
                })
            })?;
            down_trace = down;
            link = link.trace(up);
        }
        Ok(PathSpec {
            link,
            down_trace,
            text: s.to_owned(),
        })
    }

    /// The server-to-client link model.
    pub fn backward(&self) -> LinkConfig {
        let mut link = self.link.clone();
        if let Some(down) = &self.down_trace {
            link.trace = Some(Arc::clone(down));
        }
        link
    }
}

/// Loads `FILE` or `UPFILE+DOWNFILE`: the up trace, and the down one if it
/// is another file.
fn load_traces(value: &str) -> Result<(Arc<Trace>, Option<Arc<Trace>>), SpecError> {
    let load = |file: &str| {
        if file.is_empty() {
            return Err(SpecError::Malformed {
                what: "trace option (FILE or UPFILE+DOWNFILE)",
                input: value.to_owned(),
            });
        }
        Trace::load(Path::new(file))
            .map(Arc::new)
            .map_err(|error| SpecError::Trace {
                file: file.to_owned(),
                error,
            })
    };
    match value.split_once('+') {
        None => Ok((load(value)?, None)),
        Some((up, down)) if down.contains('+') => Err(SpecError::Malformed {
            what: "trace option (FILE or UPFILE+DOWNFILE)",
            input: format!("{up}+{down}"),
        }),
        Some((up, down)) if up == down => Ok((load(up)?, None)),
        Some((up, down)) => Ok((load(up)?, Some(load(down)?))),
    }
}

/// Applies `loss=PROBABILITY` or `loss=ge:P/R/H[/K]`.
fn parse_loss(link: LinkConfig, value: &str) -> Result<LinkConfig, SpecError> {
    let Some(ge) = value.strip_prefix("ge:") else {
        return Ok(link.loss(parse_probability(value)?));
    };
    let fields: Vec<&str> = ge.split('/').collect();
    let p: Vec<f64> = fields
        .iter()
        .map(|f| parse_probability(f))
        .collect::<Result<_, _>>()?;
    let model = match *p.as_slice() {
        [p, r, h] => GilbertElliott::new(p, r, h),
        [p, r, h, k] => GilbertElliott {
            loss_in_good: k,
            ..GilbertElliott::new(p, r, h)
        },
        _ => {
            return Err(SpecError::Malformed {
                what: "Gilbert-Elliott loss (ge:P/R/H[/K])",
                input: value.to_owned(),
            });
        }
    };
    Ok(link.burst_loss(model))
}

/// An MTU in bytes, from 20 (an IPv4 header) to 2³² − 1.
fn parse_mtu(value: &str) -> Result<u32, SpecError> {
    u32::try_from(parse_size(value)?)
        .ok()
        .filter(|&mtu| mtu >= 20)
        .ok_or_else(|| SpecError::Malformed {
            what: "mtu (20 bytes or more)",
            input: value.to_owned(),
        })
}

/// A scheduled outage: path `path` goes down at `at`, back up at `up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outage {
    /// Path index.
    pub path: usize,
    /// When it goes down.
    pub at: Instant,
    /// When it comes back, if ever.
    pub up: Option<Instant>,
}

impl Outage {
    /// Parse `PATH@TIME[-UPTIME]`, e.g. `0@2s` or `1@500ms-800ms`.
    pub fn parse(s: &str) -> Result<Outage, SpecError> {
        let bad = || SpecError::Malformed {
            what: "outage (PATH@TIME[-UPTIME])",
            input: s.to_owned(),
        };
        let (path, times) = s.split_once('@').ok_or_else(bad)?;
        let path = path.parse().map_err(|_| bad())?;
        let (at, up) = match times.split_once('-') {
            Some((a, u)) => (a, Some(u)),
            None => (times, None),
        };
        let at = Instant::ZERO + parse_duration(at)?;
        let up = up
            .map(parse_duration)
            .transpose()?
            .map(|d| Instant::ZERO + d);
        Ok(Outage { path, at, up })
    }

    /// The link-state transitions it causes.
    pub fn transitions(&self) -> impl Iterator<Item = (Instant, LinkState)> {
        std::iter::once((self.at, LinkState::Down)).chain(self.up.map(|u| (u, LinkState::Up)))
    }
}

/// Parse `N` or `MIN-MAX` byte sizes.
pub fn parse_size_range(s: &str) -> Result<SizeRange, SpecError> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let min = parse_size(a)? as usize;
    let max = parse_size(b)? as usize;
    if min == 0 || max < min {
        return Err(SpecError::Malformed {
            what: "size range (MIN-MAX)",
            input: s.to_owned(),
        });
    }
    Ok(SizeRange { min, max })
}

/// Who sends the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
    /// Both at once, `bytes` each way.
    Both,
}

impl Direction {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::Both => "both",
        }
    }

    /// Parse a command-line name.
    pub fn from_name(s: &str) -> Option<Direction> {
        [Direction::Up, Direction::Down, Direction::Both]
            .into_iter()
            .find(|d| d.name() == s)
    }
}

/// A whole transfer scenario.
#[derive(Clone, Debug)]
pub struct TransferSpec {
    /// Paths; path `i` joins client interface `i` and server interface `i`.
    pub paths: Vec<PathSpec>,
    /// Bytes of the stream (each way for [`Direction::Both`]).
    pub bytes: u64,
    /// Who sends.
    pub direction: Direction,
    /// The run's seed.
    pub seed: u64,
    /// Plain TCP over the first path only.
    pub tcp_only: bool,
    /// Congestion control (`None`: the engine's default, CUBIC for plain
    /// TCP and the coupled default for MPTCP).
    pub cc: Option<CcAlgorithm>,
    /// Write sizes.
    pub write_size: SizeRange,
    /// Read sizes.
    pub read_size: SizeRange,
    /// The receiver stops reading at `.0` for `.1`.
    pub read_pause: Option<(Instant, Duration)>,
    /// Path outages.
    pub outages: Vec<Outage>,
    /// Give up after this much virtual time.
    pub time_limit: Duration,
    /// Capture client interface 0 to this pcap file.
    pub pcap: Option<PathBuf>,
    /// Use IPv6 addresses.
    pub ipv6: bool,
    /// Send and receive buffer bytes of each connection.
    pub buffer: Option<usize>,
    /// Verify and hash the stream (off only for engine benchmarks; the
    /// report's integrity then says so).
    pub verify: bool,
    /// MPTCP version the client offers.
    pub version: MptcpVersion,
    /// Scheduler at both ends.
    pub scheduler: SchedulerKind,
    /// Whether the client and the server ask for DSS checksums.
    pub checksum: (bool, bool),
    /// Middleboxes stripping MPTCP options on a path (both directions):
    /// `--strip-options`, the same as a
    /// [`MiddleboxKind::StripMptcp`](crate::MiddleboxKind::StripMptcp) in
    /// `middleboxes`, kept for the command line and older scenarios.
    pub strip: Vec<(usize, StripWhich)>,
    /// Middleboxes on a path (`--middlebox PATH:KIND`), in order; those of
    /// `strip` come first.
    pub middleboxes: Vec<(usize, MiddleboxSpec)>,
    /// Opportunistic reinjection on (the engine's default) or off.
    pub opportunistic: bool,
    /// Shared bottleneck detection (RFC 8382) for the coupled
    /// controllers: they couple only the subflows found to share one.
    pub sbd: bool,
    /// The TCP options the client offers.
    pub client_tcp: TcpFeatures,
    /// The TCP options the server offers.
    pub server_tcp: TcpFeatures,
}

impl TransferSpec {
    /// The time limit of [`TransferSpec::new`] (and of `mptcp sim`): an hour.
    pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(3600);

    /// A scenario over `paths` with defaults for the rest.
    pub fn new(paths: Vec<PathSpec>, bytes: u64) -> TransferSpec {
        TransferSpec {
            paths,
            bytes,
            direction: Direction::Up,
            seed: 1,
            tcp_only: false,
            cc: None,
            write_size: SizeRange::fixed(64 * 1024),
            read_size: SizeRange::fixed(64 * 1024),
            read_pause: None,
            outages: Vec::new(),
            time_limit: TransferSpec::DEFAULT_TIME_LIMIT,
            pcap: None,
            ipv6: false,
            buffer: None,
            verify: true,
            version: MptcpVersion::V1,
            scheduler: SchedulerKind::MinRtt,
            checksum: (false, false),
            strip: Vec::new(),
            middleboxes: Vec::new(),
            opportunistic: true,
            sbd: MptcpConfig::default().sbd,
            client_tcp: TcpFeatures::default(),
            server_tcp: TcpFeatures::default(),
        }
    }

    /// The `mptcp sim` command line that reproduces this scenario.
    pub fn command_line(&self) -> String {
        let mut c = String::from("mptcp sim");
        if self.tcp_only {
            c.push_str(" --tcp");
        }
        for p in &self.paths {
            c.push_str(&format!(" --path '{}'", p.text));
        }
        c.push_str(&format!(" --bytes {} --seed {}", self.bytes, self.seed));
        if let Some(cc) = self.cc {
            c.push_str(&format!(" --cc {cc}"));
        }
        if self.direction != Direction::Up {
            c.push_str(&format!(" --direction {}", self.direction.name()));
        }
        let sizes = |r: SizeRange| format!("{}-{}", r.min, r.max);
        if self.write_size != SizeRange::fixed(64 * 1024) {
            c.push_str(&format!(" --write-sizes {}", sizes(self.write_size)));
        }
        if self.read_size != SizeRange::fixed(64 * 1024) {
            c.push_str(&format!(" --read-sizes {}", sizes(self.read_size)));
        }
        if let Some((at, len)) = self.read_pause {
            c.push_str(&format!(
                " --read-pause {}us+{}us",
                at.as_micros(),
                len.as_micros()
            ));
        }
        for o in &self.outages {
            c.push_str(&format!(" --down {}@{}us", o.path, o.at.as_micros()));
            if let Some(up) = o.up {
                c.push_str(&format!("-{}us", up.as_micros()));
            }
        }
        if let Some(b) = self.buffer {
            c.push_str(&format!(" --buffer {b}"));
        }
        if self.time_limit != TransferSpec::DEFAULT_TIME_LIMIT {
            c.push_str(&format!(" --time-limit {}us", self.time_limit.as_micros()));
        }
        if self.ipv6 {
            c.push_str(" --ipv6");
        }
        if !self.client_tcp.is_default() {
            c.push_str(&format!(" --client-tcp {}", self.client_tcp));
        }
        if !self.server_tcp.is_default() {
            c.push_str(&format!(" --server-tcp {}", self.server_tcp));
        }
        if !self.tcp_only {
            if self.version == MptcpVersion::V0 {
                c.push_str(" --version 0");
            }
            if self.scheduler != SchedulerKind::MinRtt {
                c.push_str(&format!(" --scheduler {}", self.scheduler.name()));
            }
            match self.checksum {
                (true, true) => c.push_str(" --checksum both"),
                (true, false) => c.push_str(" --checksum client"),
                (false, true) => c.push_str(" --checksum server"),
                (false, false) => {}
            }
            if !self.opportunistic {
                c.push_str(" --no-opportunistic");
            }
            if self.sbd != MptcpConfig::default().sbd {
                c.push_str(if self.sbd { " --sbd" } else { " --no-sbd" });
            }
            for (path, which) in &self.strip {
                let w = which.name();
                c.push_str(&format!(" --strip-options {path}:{w}"));
            }
        }
        for (path, m) in &self.middleboxes {
            c.push_str(&format!(" --middlebox {path}:{m}"));
        }
        c
    }
}

/// Parse `TIME+DURATION` (e.g. `1s+5s`) for a read pause.
pub fn parse_pause(s: &str) -> Result<(Instant, Duration), SpecError> {
    let (at, len) = s.split_once('+').ok_or_else(|| SpecError::Malformed {
        what: "read pause (TIME+DURATION)",
        input: s.to_owned(),
    })?;
    Ok((Instant::ZERO + parse_duration(at)?, parse_duration(len)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_extras_parse() {
        let p = PathSpec::parse(
            "100mbit/10ms/1%,jitter=2ms,dup=0.5%,reorder=1%@5ms,queue=64KiB,mtu=1400",
        )
        .expect("parses");
        assert_eq!(p.link.rate_bps, 100_000_000);
        assert_eq!(p.link.jitter, Duration::from_millis(2));
        assert!((p.link.duplicate - 0.005).abs() < 1e-12);
        assert!((p.link.reorder - 0.01).abs() < 1e-12);
        assert_eq!(p.link.reorder_delay, Duration::from_millis(5));
        assert_eq!(p.link.queue_bytes, Some(65536));
        assert_eq!(p.link.mtu, 1400);
        assert!(matches!(
            PathSpec::parse("1mbit/1ms,color=red"),
            Err(SpecError::UnknownExtra(_))
        ));
        assert!(PathSpec::parse("1mbit/1ms,reorder=1%").is_err());
        assert!(PathSpec::parse("fast/1ms").is_err());
    }

    #[test]
    fn loss_and_batch_extras_parse() {
        let p = PathSpec::parse("10mbit/5ms,loss=ge:1%/0.3/100%,batch=2ms").expect("parses");
        assert_eq!(p.link.burst_loss, Some(GilbertElliott::new(0.01, 0.3, 1.0)));
        assert_eq!(p.link.batch, Duration::from_millis(2));
        assert_eq!(p.link.loss, 0.0);
        let p = PathSpec::parse("10mbit/5ms/1%,loss=ge:1%/30%/50%/0.1%").expect("parses");
        let ge = p.link.burst_loss.expect("ge");
        assert_eq!((ge.loss_in_bad, ge.loss_in_good), (0.5, 0.001));
        assert_eq!(p.link.loss, 0.01);
        let p = PathSpec::parse("10mbit/5ms/1%,loss=2%").expect("parses");
        assert_eq!((p.link.loss, p.link.burst_loss), (0.02, None));
        assert!(p.down_trace.is_none());
        assert_eq!(p.backward(), p.link);
        let bad = [
            "10mbit/5ms,loss=ge:1%/30%",
            "10mbit/5ms,loss=ge:1%/30%/1/1/1",
            "10mbit/5ms,loss=ge:1%/130%/1",
            "10mbit/5ms,loss=ge:",
            "10mbit/5ms,loss=ge:a/b/c",
            "10mbit/5ms,loss=gx:1%/2%/3%",
            "10mbit/5ms,batch=5",
            "10mbit/5ms,batch=",
            "10mbit/5ms,mtu=10",
            "10mbit/5ms,mtu=5000000000",
            "10mbit/5ms,trace=x",
            "trace/5ms",
            "trace/5ms,trace",
        ];
        for s in bad {
            assert!(PathSpec::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn outages_and_ranges_parse() {
        let o = Outage::parse("1@500ms-800ms").expect("parses");
        assert_eq!(o.path, 1);
        assert_eq!(o.at, Instant::from_micros(500_000));
        assert_eq!(o.up, Some(Instant::from_micros(800_000)));
        assert_eq!(Outage::parse("0@2s").expect("parses").up, None);
        assert!(Outage::parse("x@2s").is_err());
        assert_eq!(
            parse_size_range("1-9000").expect("range"),
            SizeRange { min: 1, max: 9000 }
        );
        assert!(parse_size_range("10-1").is_err());
        assert_eq!(
            parse_pause("1s+5s").expect("pause").1,
            Duration::from_secs(5)
        );
    }
}
