use super::*;

#[test]
fn rates() {
    let table: &[(&str, u64)] = &[
        ("100mbit", 100_000_000),
        ("1gbit", 1_000_000_000),
        ("10Gbit", 10_000_000_000),
        ("500kbit", 500_000),
        ("1.5mbit", 1_500_000),
        ("64kbps", 512_000),
        ("1mbps", 8_000_000),
        ("12000000", 12_000_000),
        ("9600bit", 9_600),
        ("0", 0),
        (" 2 mbit ", 2_000_000),
    ];
    for &(text, want) in table {
        assert_eq!(parse_rate(text), Ok(want), "{text}");
    }
}

#[test]
fn durations() {
    let table: &[(&str, u64)] = &[
        ("10ms", 10_000),
        ("1s", 1_000_000),
        ("250us", 250),
        ("250µs", 250),
        ("1.5ms", 1_500),
        ("0.0005s", 500),
        ("0ms", 0),
        ("2MS", 2_000),
    ];
    for &(text, want) in table {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_micros(want)),
            "{text}"
        );
    }
}

#[test]
fn percents_and_sizes() {
    assert_eq!(parse_percent("1%"), Ok(0.01));
    assert_eq!(parse_percent("0.5%"), Ok(0.005));
    assert_eq!(parse_percent("100%"), Ok(1.0));
    assert_eq!(parse_percent("0%"), Ok(0.0));
    let table: &[(&str, u64)] = &[
        ("1500", 1500),
        ("64MiB", 64 << 20),
        ("1GB", 1_000_000_000),
        ("2kib", 2048),
        ("10kB", 10_000),
        ("7b", 7),
    ];
    for &(text, want) in table {
        assert_eq!(parse_size(text), Ok(want), "{text}");
    }
}

#[test]
fn paths() {
    let p = parse_path("100mbit/10ms/1%").unwrap();
    assert_eq!(
        (p.rate_bps, p.delay, p.loss),
        (100_000_000, Duration::from_millis(10), 0.01)
    );
    let p = parse_path("1gbit/250us").unwrap();
    assert_eq!(
        (p.rate_bps, p.delay, p.loss),
        (1_000_000_000, Duration::from_micros(250), 0.0)
    );
}

fn kind<T: core::fmt::Debug>(r: Result<T, ParseError>) -> ParseErrorKind {
    r.unwrap_err().kind
}

#[test]
fn bad_inputs() {
    use ParseErrorKind::*;
    assert_eq!(kind(parse_rate("")), Empty);
    assert_eq!(kind(parse_rate("fast")), Number);
    assert_eq!(kind(parse_rate("-5mbit")), Number);
    assert_eq!(kind(parse_rate("1.2.3mbit")), Number);
    assert_eq!(kind(parse_rate("100mbits")), UnknownUnit("mbits".into()));
    assert_eq!(kind(parse_rate("99999999999999gbit")), OutOfRange);
    assert_eq!(kind(parse_duration("10")), MissingUnit);
    assert_eq!(kind(parse_duration("10h")), UnknownUnit("h".into()));
    assert_eq!(kind(parse_percent("1")), MissingUnit);
    assert_eq!(kind(parse_percent("150%")), OutOfRange);
    assert_eq!(kind(parse_percent("1%%")), UnknownUnit("%%".into()));
    assert_eq!(kind(parse_size("1.5xb")), UnknownUnit("xb".into()));
    assert_eq!(kind(parse_path("100mbit")), PathFields);
    assert_eq!(kind(parse_path("1/2/3/4")), PathFields);
    assert!(matches!(kind(parse_path("100mbit/10/1%")), Field(_)));
}

#[test]
fn messages_name_the_value_and_the_fix() {
    let e = parse_rate("100mbits").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid rate \"100mbits\": unknown unit \"mbits\" \
         (expected bit, kbit, mbit, gbit, tbit, bps, kbps, mbps, gbps)"
    );
    let e = parse_path("100mbit/10/1%").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid path \"100mbit/10/1%\": invalid duration \"10\": missing unit (one of us, ms, s)"
    );
}

#[test]
fn probabilities() {
    assert_eq!(parse_probability("1%"), Ok(0.01));
    assert_eq!(parse_probability("0.25"), Ok(0.25));
    assert_eq!(parse_probability("1"), Ok(1.0));
    assert_eq!(parse_probability("0"), Ok(0.0));
    use ParseErrorKind::*;
    assert_eq!(kind(parse_probability("1.5")), OutOfRange);
    assert_eq!(kind(parse_probability("101%")), OutOfRange);
    assert_eq!(kind(parse_probability("5x")), UnknownUnit("x".into()));
    assert_eq!(kind(parse_probability("")), Empty);
    assert_eq!(kind(parse_probability("-0.1")), Number);
}

#[test]
fn trace_rate_paths() {
    assert_eq!(
        parse_path_fields("trace/30ms/1%"),
        Ok((PathRate::Trace, Duration::from_millis(30), 0.01))
    );
    assert_eq!(
        parse_path_fields("TRACE/30ms"),
        Ok((PathRate::Trace, Duration::from_millis(30), 0.0))
    );
    assert_eq!(
        parse_path_fields("1mbit/1ms"),
        Ok((PathRate::Bps(1_000_000), Duration::from_millis(1), 0.0))
    );
    // A bare link has nowhere to take the trace from.
    assert_eq!(
        kind(parse_path("trace/30ms")),
        ParseErrorKind::TraceNeedsFile
    );
    assert!(
        parse_path("trace/30ms")
            .unwrap_err()
            .to_string()
            .contains("trace=FILE")
    );
    assert!(matches!(
        kind(parse_path_fields("tracer/30ms")),
        ParseErrorKind::Field(_)
    ));
    assert_eq!(kind(parse_path_fields("trace")), ParseErrorKind::PathFields);
}
