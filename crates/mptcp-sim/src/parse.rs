//! Human-written values for the command line: rates, durations, percentages,
//! sizes and path specifications.
//!
//! Numbers may have a fractional part (`1.5ms`); results are rounded to the
//! nearest unit of the returned type. Units are case-insensitive.
//!
//! | value | units | examples |
//! |---|---|---|
//! | rate (bit/s) | none or `bit` (bit/s), `kbit`, `mbit`, `gbit`, `tbit` (×1000 steps); `bps`, `kbps`, `mbps`, `gbps` are **bytes** per second (×8), as in tc(8) | `100mbit` = 100,000,000; `64kbps` = 512,000; `0` = infinite |
//! | duration | `us` (or `µs`), `ms`, `s`; a unit is required | `10ms`, `1s`, `250us`, `1.5ms` |
//! | percentage | `%` is required; 0 to 100 | `1%`, `0.5%` |
//! | probability | a percentage, or a bare fraction from 0 to 1 | `1%`, `0.01`, `1` |
//! | size (bytes) | none or `b`; `kb`, `mb`, `gb`, `tb` (×1000); `kib`, `mib`, `gib`, `tib` (×1024) | `1500`, `64MiB`, `1GB` |
//! | path | `RATE/DELAY[/LOSS%]`; RATE may be the word `trace` (capacity from a trace file, given by a `trace=` option of [`PathSpec`](crate::scenario::PathSpec)) | `100mbit/10ms/1%`, `trace/30ms` |

use core::fmt;

use mptcp_proto::time::Duration;

use crate::link::config::LinkConfig;

/// What was being parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A rate in bits per second.
    Rate,
    /// A duration.
    Duration,
    /// A percentage.
    Percent,
    /// A probability (a percentage or a fraction).
    Probability,
    /// A size in bytes.
    Size,
    /// A path specification.
    Path,
}

impl ValueKind {
    fn name(self) -> &'static str {
        match self {
            ValueKind::Rate => "rate",
            ValueKind::Duration => "duration",
            ValueKind::Percent => "percentage",
            ValueKind::Probability => "probability",
            ValueKind::Size => "size",
            ValueKind::Path => "path",
        }
    }

    fn units(self) -> &'static str {
        match self {
            ValueKind::Rate => "bit, kbit, mbit, gbit, tbit, bps, kbps, mbps, gbps",
            ValueKind::Duration => "us, ms, s",
            ValueKind::Percent => "%",
            ValueKind::Probability => "% or none (a fraction from 0 to 1)",
            ValueKind::Size => "b, kb, mb, gb, tb, kib, mib, gib, tib",
            ValueKind::Path => "RATE/DELAY[/LOSS%], e.g. 100mbit/10ms/1% or trace/30ms",
        }
    }
}

/// What is wrong with the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Nothing to parse.
    Empty,
    /// The number part is missing or malformed.
    Number,
    /// The value needs a unit and has none.
    MissingUnit,
    /// The unit is not one of the accepted ones.
    UnknownUnit(String),
    /// The value does not fit (too large, or a percentage above 100).
    OutOfRange,
    /// A path does not have two or three `/`-separated fields.
    PathFields,
    /// A path's rate is `trace`, which only a path specification with a
    /// `trace=FILE` option can fill in.
    TraceNeedsFile,
    /// One field of a path is invalid.
    Field(Box<ParseError>),
}

/// A value that could not be parsed; its `Display` is a complete message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What was being parsed.
    pub what: ValueKind,
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub kind: ParseErrorKind,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} {:?}: ", self.what.name(), self.input)?;
        let units = self.what.units();
        match &self.kind {
            ParseErrorKind::Empty => write!(f, "empty value"),
            ParseErrorKind::Number => write!(f, "expected a number followed by a unit ({units})"),
            ParseErrorKind::MissingUnit => write!(f, "missing unit (one of {units})"),
            ParseErrorKind::UnknownUnit(u) => write!(f, "unknown unit {u:?} (expected {units})"),
            ParseErrorKind::OutOfRange => write!(f, "value out of range"),
            ParseErrorKind::PathFields => write!(f, "expected {units}"),
            ParseErrorKind::TraceNeedsFile => {
                write!(f, "rate \"trace\" needs a trace=FILE path option")
            }
            ParseErrorKind::Field(inner) => write!(f, "{inner}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// A non-negative decimal number: `mantissa / 10^scale`.
struct Decimal {
    mantissa: u128,
    scale: u32,
}

impl Decimal {
    /// `self × mult`, rounded to the nearest integer, if it fits a `u64`.
    fn times(&self, mult: u128) -> Option<u64> {
        let div = 10u128.checked_pow(self.scale)?;
        let scaled = self.mantissa.checked_mul(mult)?;
        u64::try_from((scaled + div / 2) / div).ok()
    }

    fn as_f64(&self) -> f64 {
        self.mantissa as f64 / 10f64.powi(self.scale as i32)
    }
}

/// Splits `s` into a decimal number and its (trimmed, lowercase) unit.
fn split(s: &str, what: ValueKind) -> Result<(Decimal, String), ParseError> {
    let err = |kind| ParseError {
        what,
        input: s.to_owned(),
        kind,
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(err(ParseErrorKind::Empty));
    }
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(end);
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits_ok = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_ok(frac) || num.len() > 30 {
        return Err(err(ParseErrorKind::Number));
    }
    let mantissa = format!("{int}{frac}")
        .parse()
        .map_err(|_| err(ParseErrorKind::Number))?;
    let scale = frac.len() as u32;
    Ok((Decimal { mantissa, scale }, unit.trim().to_lowercase()))
}

fn lookup(table: &[(&str, u128)], unit: &str) -> Option<u128> {
    table
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|&(_, m)| m)
}

fn scaled(s: &str, what: ValueKind, table: &[(&str, u128)]) -> Result<u64, ParseError> {
    let (value, unit) = split(s, what)?;
    let err = |kind| ParseError {
        what,
        input: s.to_owned(),
        kind,
    };
    let mult = match lookup(table, &unit) {
        Some(m) => m,
        None if unit.is_empty() => return Err(err(ParseErrorKind::MissingUnit)),
        None => return Err(err(ParseErrorKind::UnknownUnit(unit))),
    };
    value
        .times(mult)
        .ok_or_else(|| err(ParseErrorKind::OutOfRange))
}

const RATE_UNITS: &[(&str, u128)] = &[
    ("", 1),
    ("bit", 1),
    ("kbit", 1_000),
    ("mbit", 1_000_000),
    ("gbit", 1_000_000_000),
    ("tbit", 1_000_000_000_000),
    ("bps", 8),
    ("kbps", 8_000),
    ("mbps", 8_000_000),
    ("gbps", 8_000_000_000),
];

const DURATION_UNITS: &[(&str, u128)] = &[("us", 1), ("µs", 1), ("ms", 1_000), ("s", 1_000_000)];

const SIZE_UNITS: &[(&str, u128)] = &[
    ("", 1),
    ("b", 1),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

/// Parses a rate into bits per second (`100mbit` → 100,000,000; 0 means
/// infinite for a link).
pub fn parse_rate(s: &str) -> Result<u64, ParseError> {
    scaled(s, ValueKind::Rate, RATE_UNITS)
}

/// Parses a duration (`10ms`, `1s`, `250us`), rounded to microseconds.
pub fn parse_duration(s: &str) -> Result<Duration, ParseError> {
    scaled(s, ValueKind::Duration, DURATION_UNITS).map(Duration::from_micros)
}

/// Parses a size into bytes (`1500`, `64MiB`, `1GB`).
pub fn parse_size(s: &str) -> Result<u64, ParseError> {
    scaled(s, ValueKind::Size, SIZE_UNITS)
}

/// Parses a percentage (`1%`, `0.5%`) into a probability in `[0, 1]`.
pub fn parse_percent(s: &str) -> Result<f64, ParseError> {
    let what = ValueKind::Percent;
    let (value, unit) = split(s, what)?;
    let err = |kind| ParseError {
        what,
        input: s.to_owned(),
        kind,
    };
    match unit.as_str() {
        "%" => {}
        "" => return Err(err(ParseErrorKind::MissingUnit)),
        _ => return Err(err(ParseErrorKind::UnknownUnit(unit))),
    }
    let p = value.as_f64() / 100.0;
    if p > 1.0 {
        return Err(err(ParseErrorKind::OutOfRange));
    }
    Ok(p)
}

/// Parses a probability: a percentage (`1%`) or a bare fraction from 0 to
/// 1 (`0.01`).
pub fn parse_probability(s: &str) -> Result<f64, ParseError> {
    let what = ValueKind::Probability;
    let (value, unit) = split(s, what)?;
    let err = |kind| ParseError {
        what,
        input: s.to_owned(),
        kind,
    };
    let p = match unit.as_str() {
        "%" => value.as_f64() / 100.0,
        "" => value.as_f64(),
        _ => return Err(err(ParseErrorKind::UnknownUnit(unit))),
    };
    if p > 1.0 {
        return Err(err(ParseErrorKind::OutOfRange));
    }
    Ok(p)
}

/// The rate field of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathRate {
    /// A fixed rate in bits per second (0: infinite).
    Bps(u64),
    /// The word `trace`: the capacity comes from a trace file.
    Trace,
}

/// Parses `RATE/DELAY[/LOSS%]` where RATE may be the word `trace` (any
/// case): the rate, the one-way delay and the loss probability.
pub fn parse_path_fields(s: &str) -> Result<(PathRate, Duration, f64), ParseError> {
    let err = |kind| ParseError {
        what: ValueKind::Path,
        input: s.to_owned(),
        kind,
    };
    let field = |e: ParseError| err(ParseErrorKind::Field(Box::new(e)));
    let fields: Vec<&str> = s.split('/').collect();
    let (rate, delay, loss) = match fields.as_slice() {
        [rate, delay] => (*rate, *delay, None),
        [rate, delay, loss] => (*rate, *delay, Some(*loss)),
        _ => return Err(err(ParseErrorKind::PathFields)),
    };
    let rate = if rate.trim().eq_ignore_ascii_case("trace") {
        PathRate::Trace
    } else {
        PathRate::Bps(parse_rate(rate).map_err(field)?)
    };
    let delay = parse_duration(delay).map_err(field)?;
    let loss = loss
        .map(parse_percent)
        .transpose()
        .map_err(field)?
        .unwrap_or(0.0);
    Ok((rate, delay, loss))
}

/// Parses `RATE/DELAY[/LOSS%]` (e.g. `100mbit/10ms/1%`) into a link with that
/// rate, one-way delay and loss, and defaults for everything else. A `trace`
/// rate is refused ([`ParseErrorKind::TraceNeedsFile`]); see
/// [`parse_path_fields`].
pub fn parse_path(s: &str) -> Result<LinkConfig, ParseError> {
    match parse_path_fields(s)? {
        (PathRate::Bps(rate), delay, loss) => Ok(LinkConfig::new(rate, delay).loss(loss)),
        (PathRate::Trace, ..) => Err(ParseError {
            what: ValueKind::Path,
            input: s.to_owned(),
            kind: ParseErrorKind::TraceNeedsFile,
        }),
    }
}

#[cfg(test)]
mod tests;
