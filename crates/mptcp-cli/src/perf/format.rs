//! Output in iperf3's style: text lines as the test runs, or one JSON
//! document at the end in the shape of `iperf3 --json`.

use std::io::Write;
use std::net::SocketAddr;
use std::time::UNIX_EPOCH;

use serde_json::{Value, json};

use super::data::DataStream;
use super::error::{PerfError, Side};
use super::report::{IntervalReport, PerfReport, SubflowInterval, rate};

/// Where the text goes, and whether it is wanted at all.
pub struct Printer<'a> {
    out: &'a mut dyn Write,
    /// Text lines as the test runs (not with `--json`).
    pub text: bool,
}

impl<'a> Printer<'a> {
    /// Print to `out`; `json` turns the running text off.
    pub fn new(out: &'a mut dyn Write, json: bool) -> Printer<'a> {
        Printer { out, text: !json }
    }

    /// Write lines if text is on.
    pub fn lines(&mut self, lines: &[String]) -> Result<(), PerfError> {
        if !self.text {
            return Ok(());
        }
        self.always(lines)
    }

    /// Write lines whatever the mode (the JSON document, errors).
    pub fn always(&mut self, lines: &[String]) -> Result<(), PerfError> {
        let write = |out: &mut dyn Write| -> std::io::Result<()> {
            for line in lines {
                writeln!(out, "{line}")?;
            }
            out.flush()
        };
        write(self.out).map_err(PerfError::Output)
    }

    /// One "connected" line per stream.
    pub fn connected<S>(&mut self, streams: &[DataStream<S>]) -> Result<(), PerfError> {
        let lines: Vec<String> = streams
            .iter()
            .map(|s| connected_line(s.id, s.local, s.remote))
            .collect();
        self.lines(&lines)
    }

    /// The interval as text.
    pub fn interval(&mut self, iv: &IntervalReport, header: bool) -> Result<(), PerfError> {
        let mut lines = Vec::new();
        if header {
            lines.push("[ ID] Interval           Transfer     Bitrate".to_owned());
        }
        lines.extend(interval_lines(iv));
        self.lines(&lines)
    }

    /// The end of the test: the summary as text, or the whole JSON
    /// document.
    pub fn finish(&mut self, report: &PerfReport) -> Result<(), PerfError> {
        match self.text {
            true => self.lines(&summary_lines(report)),
            false => {
                let doc = serde_json::to_string_pretty(&to_json(report))
                    .map_err(|e| PerfError::Output(e.into()))?;
                self.always(&[doc])
            }
        }
    }
}

/// A byte count with iperf3's 1024-based units: `11.2 MBytes`.
pub fn bytes_text(bytes: f64) -> String {
    scaled(
        bytes,
        1024.0,
        ["Bytes", "KBytes", "MBytes", "GBytes", "TBytes"],
    )
}

/// A rate with iperf3's 1000-based units: `94.1 Mbits/sec`.
pub fn rate_text(bits_per_second: f64) -> String {
    let units = [
        "bits/sec",
        "Kbits/sec",
        "Mbits/sec",
        "Gbits/sec",
        "Tbits/sec",
    ];
    scaled(bits_per_second, 1000.0, units)
}

/// Three significant digits in four places, as iperf3's `unit_snprintf`.
fn scaled(mut value: f64, base: f64, units: [&str; 5]) -> String {
    let mut unit = 0;
    while value >= base && unit < units.len() - 1 {
        value /= base;
        unit += 1;
    }
    let number = match value {
        v if v < 9.995 => format!("{v:4.2}"),
        v if v < 99.95 => format!("{v:4.1}"),
        v => format!("{v:4.0}"),
    };
    format!("{number} {}", units[unit])
}

/// `[  1] local 127.0.0.1 port 40000 connected to 127.0.0.1 port 5201`
pub fn connected_line(id: u32, local: Option<SocketAddr>, remote: SocketAddr) -> String {
    let local = match local {
        Some(a) => format!("{} port {}", a.ip(), a.port()),
        None => "?".to_owned(),
    };
    format!(
        "[{id:>3}] local {local} connected to {} port {}",
        remote.ip(),
        remote.port()
    )
}

fn span(label: &str, start: f64, end: f64, bytes: u64, seconds: f64) -> String {
    format!(
        "[{label:>3}] {start:>6.2}-{end:<6.2} sec  {}  {}",
        bytes_text(bytes as f64),
        rate_text(rate(bytes, seconds))
    )
}

/// The lines of one interval: one per stream, a `[SUM]` with several
/// streams, and one indented line per subflow.
pub fn interval_lines(iv: &IntervalReport) -> Vec<String> {
    let (start, end, secs) = (iv.start.as_secs_f64(), iv.end.as_secs_f64(), iv.seconds());
    let mut lines = Vec::new();
    for s in &iv.streams {
        lines.push(span(&s.id.to_string(), start, end, s.bytes, secs));
        for sf in iv.subflows.iter().filter(|sf| sf.stream == s.id) {
            lines.push(subflow_line(sf, secs));
        }
    }
    if iv.streams.len() > 1 {
        lines.push(span("SUM", start, end, iv.bytes(), secs));
    }
    lines
}

fn subflow_line(sf: &SubflowInterval, seconds: f64) -> String {
    let bytes = sf.bytes_sent.max(sf.bytes_received);
    let direction = match sf.bytes_sent >= sf.bytes_received {
        true => "sent",
        false => "received",
    };
    format!(
        "      subflow {} -> {}  {} {direction}  {}  retr {}  srtt {:.2} ms  cwnd {}",
        sf.local,
        sf.remote,
        bytes_text(bytes as f64),
        rate_text(rate(bytes, seconds)),
        sf.retransmits,
        sf.srtt_us as f64 / 1000.0,
        bytes_text(sf.cwnd as f64),
    )
}

/// The closing summary: sender and receiver totals per stream (and
/// summed with several streams).
pub fn summary_lines(r: &PerfReport) -> Vec<String> {
    let mut lines = vec![
        "- - - - - - - - - - - - - - - - - - - - - - - - -".to_owned(),
        "[ ID] Interval           Transfer     Bitrate         Retr".to_owned(),
    ];
    let retr = |r: Option<u64>| r.map_or_else(|| " ".repeat(5), |n| format!("{n:>5}"));
    for s in &r.streams {
        let id = s.id.to_string();
        let line = span(&id, 0.0, s.sender_seconds, s.sent_bytes, s.sender_seconds);
        lines.push(format!("{line}  {}  sender", retr(s.retransmits)));
        let secs = s.receiver_seconds;
        let line = span(&id, 0.0, secs, s.received_bytes, secs);
        lines.push(format!("{line}  {}  receiver", retr(None)));
    }
    if r.streams.len() > 1 {
        let secs = r.sender_seconds();
        let line = span("SUM", 0.0, secs, r.sent_bytes, secs);
        lines.push(format!("{line}  {}  sender", retr(r.retransmits)));
        let secs = r.receiver_seconds();
        let line = span("SUM", 0.0, secs, r.received_bytes, secs);
        lines.push(format!("{line}  {}  receiver", retr(None)));
    }
    lines.push(String::new());
    lines.push(match r.side {
        Side::Client => "perf done.".to_owned(),
        Side::Server => "-----------------------------------------------------------".to_owned(),
    });
    lines
}

fn endpoint(addr: SocketAddr) -> Value {
    json!({ "host": addr.ip().to_string(), "port": addr.port() })
}

fn span_json(id: Option<u32>, start: f64, end: f64, bytes: u64, sender: bool) -> Value {
    let seconds = end - start;
    let mut v = json!({
        "start": start,
        "end": end,
        "seconds": seconds,
        "bytes": bytes,
        "bits_per_second": rate(bytes, seconds),
        "sender": sender,
    });
    if let Some(id) = id {
        v["socket"] = json!(id);
    }
    v
}

fn subflow_json(sf: &SubflowInterval, iv: &IntervalReport) -> Value {
    let (start, end) = (iv.start.as_secs_f64(), iv.end.as_secs_f64());
    json!({
        "socket": sf.stream,
        "local": sf.local.to_string(),
        "remote": sf.remote.to_string(),
        "start": start,
        "end": end,
        "seconds": end - start,
        "bytes_sent": sf.bytes_sent,
        "bytes_received": sf.bytes_received,
        "bits_per_second": rate(sf.bytes_sent.max(sf.bytes_received), end - start),
        "retransmits": sf.retransmits,
        "srtt_us": sf.srtt_us,
        "cwnd": sf.cwnd,
    })
}

/// The report as a JSON document shaped like `iperf3 --json`'s: `start`,
/// `intervals` (each with `streams`, `sum`, and `subflows` when the
/// transport has them) and `end`. `socket` holds the stream id.
pub fn to_json(r: &PerfReport) -> Value {
    let sender = r.local_sends();
    let connected: Vec<Value> = r
        .streams
        .iter()
        .map(|s| {
            json!({
                "socket": s.id,
                "local_host": s.local.map(|a| a.ip().to_string()),
                "local_port": s.local.map(|a| a.port()),
                "remote_host": s.remote.ip().to_string(),
                "remote_port": s.remote.port(),
            })
        })
        .collect();
    let mut start = json!({
        "connected": connected,
        "version": concat!("mptcp perf ", env!("CARGO_PKG_VERSION")),
        "timestamp": {
            "timesecs": r.started.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        },
        "cookie": r.cookie,
        "test_start": {
            "protocol": "TCP",
            "num_streams": r.parallel,
            "blksize": r.block_len,
            "omit": 0,
            "duration": r.time.map_or(0, |t| t.as_secs()),
            "bytes": r.bytes_limit.unwrap_or(0),
            "blocks": 0,
            "reverse": u8::from(r.reverse),
        },
    });
    match r.side {
        Side::Client => start["connecting_to"] = endpoint(r.peer),
        Side::Server => start["accepted_connection"] = endpoint(r.peer),
    }
    let intervals: Vec<Value> = r
        .intervals
        .iter()
        .map(|iv| {
            let (s, e) = (iv.start.as_secs_f64(), iv.end.as_secs_f64());
            let streams: Vec<Value> = iv
                .streams
                .iter()
                .map(|st| with_omitted(span_json(Some(st.id), s, e, st.bytes, sender)))
                .collect();
            let mut v = json!({
                "streams": streams,
                "sum": with_omitted(span_json(None, s, e, iv.bytes(), sender)),
            });
            if !iv.subflows.is_empty() {
                let subflows: Vec<Value> =
                    iv.subflows.iter().map(|sf| subflow_json(sf, iv)).collect();
                v["subflows"] = Value::Array(subflows);
            }
            v
        })
        .collect();
    let streams: Vec<Value> = r
        .streams
        .iter()
        .map(|s| {
            let mut tx = span_json(Some(s.id), 0.0, s.sender_seconds, s.sent_bytes, sender);
            if let Some(n) = s.retransmits {
                tx["retransmits"] = json!(n);
            }
            let rx = span_json(
                Some(s.id),
                0.0,
                s.receiver_seconds,
                s.received_bytes,
                sender,
            );
            json!({ "sender": tx, "receiver": rx })
        })
        .collect();
    let mut sum_sent = span_json(None, 0.0, r.sender_seconds(), r.sent_bytes, sender);
    if let Some(n) = r.retransmits {
        sum_sent["retransmits"] = json!(n);
    }
    let sum_received = span_json(None, 0.0, r.receiver_seconds(), r.received_bytes, sender);
    json!({
        "start": start,
        "intervals": intervals,
        "end": {
            "streams": streams,
            "sum_sent": sum_sent,
            "sum_received": sum_received,
            "cpu_utilization_percent": {
                "host_total": r.cpu_local.total,
                "host_user": r.cpu_local.user,
                "host_system": r.cpu_local.system,
                "remote_total": r.cpu_remote.total,
                "remote_user": r.cpu_remote.user,
                "remote_system": r.cpu_remote.system,
            },
        },
    })
}

fn with_omitted(mut v: Value) -> Value {
    v["omitted"] = json!(false);
    v
}
