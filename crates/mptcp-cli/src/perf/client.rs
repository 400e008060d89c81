//! The client: connects, sends the parameters, opens the data streams,
//! measures, and ends the test.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::AsyncWriteExt;

use super::clock::{sleep_until, tick, ticker};
use super::data::{DataPlane, DataStream, Flow, Progress};
use super::error::{PerfError, Side, Violation};
use super::format::Printer;
use super::protocol::{
    Control, Cookie, MAX_BLOCK_LEN, MAX_STREAMS, Results, State, TestParams, stream_id,
};
use super::report::{self, CpuClock, Meter, Outcome, PerfReport, local_results, local_streams};
use super::{ClientOptions, DEFAULT_TIME, SubflowSample, Transport};

/// After `TEST_END`, how long a receiving client waits for the server
/// to close its streams before it sends its results anyway.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Run one test against the server in `opts`, printing to `out` as it
/// goes (text) or at the end (JSON).
pub async fn run_client<T: Transport>(
    t: &T,
    opts: &ClientOptions,
    out: &mut dyn Write,
) -> Result<PerfReport, PerfError> {
    let params = params(opts)?;
    let mut printer = Printer::new(out, opts.json);
    let cookie = Cookie::random();
    let (mut ctrl, streams) = set_up(t, opts, &params, &cookie, &mut printer).await?;
    expect(&mut ctrl, State::TEST_START).await?;
    let started = SystemTime::now();
    let cpu = CpuClock::now();
    let start = Instant::now();
    expect(&mut ctrl, State::TEST_RUNNING).await?;

    let flow = match opts.reverse {
        true => Flow::Receive,
        false => Flow::Send,
    };
    let seed = u64::from_le_bytes(cookie.0[..8].try_into().unwrap_or_default());
    let mut plane = DataPlane::new(streams, flow, opts.block_len, seed);
    match flow {
        Flow::Send => plane.set_budget(opts.bytes),
        Flow::Receive => plane.set_target(opts.bytes),
    }
    let sample = |s: &T::Stream| t.subflows(s);
    let mut meter = Meter::new(start, opts.interval, &plane.streams, &sample);
    let time = opts
        .bytes
        .is_none()
        .then(|| opts.time.unwrap_or(DEFAULT_TIME));
    measure(
        &mut ctrl,
        &mut plane,
        &mut meter,
        &sample,
        &mut printer,
        time,
    )
    .await?;
    if opts.bytes.is_some() {
        plane.flush(opts.timeout).await;
    }

    let end = Instant::now();
    ctrl.send_states(&[State::TEST_END]).await?;
    let cpu_local = cpu.since();
    let header = meter.intervals.is_empty();
    if let Some(iv) = meter.finish(end, &plane.streams, &sample) {
        printer.interval(iv, header)?;
    }
    let duration = end - start;
    let theirs = exchange_results(&mut ctrl, &mut plane, &meter, duration, cpu_local).await?;
    expect(&mut ctrl, State::DISPLAY_RESULTS).await?;
    // iperf3's client closes its streams before it says it is done.
    let local = local_streams(&plane, &meter);
    drop(plane);
    ctrl.send_states(&[State::IPERF_DONE]).await?;

    let report = report::build(Outcome {
        side: Side::Client,
        peer: opts.server,
        cookie: cookie.text(),
        started,
        reverse: opts.reverse,
        block_len: opts.block_len,
        time,
        bytes_limit: opts.bytes,
        duration,
        local,
        remote: &theirs,
        intervals: std::mem::take(&mut meter.intervals),
        cpu_local,
    });
    printer.finish(&report)?;
    Ok(report)
}

/// Connect, hand over the parameters and open the data streams.
async fn set_up<T: Transport>(
    t: &T,
    opts: &ClientOptions,
    params: &TestParams,
    cookie: &Cookie,
    printer: &mut Printer<'_>,
) -> Result<(Control<T::Stream>, Vec<DataStream<T::Stream>>), PerfError> {
    let server = opts.server;
    printer.lines(&[format!(
        "Connecting to host {}, port {}",
        server.ip(),
        server.port()
    )])?;
    let io = connect(t, opts, "connect the control connection").await?;
    t.tune_control(&io);
    let mut ctrl = Control::new(io, Side::Server, opts.timeout);
    ctrl.send_bytes(&cookie.0).await?;
    expect(&mut ctrl, State::PARAM_EXCHANGE).await?;
    ctrl.send_json(&params.to_json()).await?;
    expect(&mut ctrl, State::CREATE_STREAMS).await?;
    let streams = open_streams(t, opts, cookie).await?;
    printer.connected(&streams)?;
    if opts.reverse {
        printer.lines(&[format!(
            "Reverse mode, remote host {} is sending",
            server.ip()
        )])?;
    }
    Ok((ctrl, streams))
}

/// Check the options and turn them into the parameters the server gets.
fn params(opts: &ClientOptions) -> Result<TestParams, PerfError> {
    if opts.time.is_some() && opts.bytes.is_some() {
        return Err(PerfError::InvalidOptions(
            "give either a time or a byte count, not both",
        ));
    }
    if opts.bytes == Some(0) {
        return Err(PerfError::InvalidOptions("the byte count must not be 0"));
    }
    if opts.time.is_some_and(|t| t.is_zero()) {
        return Err(PerfError::InvalidOptions("the time must not be 0"));
    }
    if opts.parallel == 0 || opts.parallel > MAX_STREAMS {
        return Err(PerfError::InvalidOptions(
            "the number of streams must be 1 to 128",
        ));
    }
    if opts.block_len == 0 || opts.block_len > MAX_BLOCK_LEN {
        return Err(PerfError::InvalidOptions(
            "the block length must be 1 byte to 1 MiB",
        ));
    }
    let time = match opts.bytes {
        Some(_) => Duration::ZERO,
        None => opts.time.unwrap_or(DEFAULT_TIME),
    };
    Ok(TestParams {
        parallel: opts.parallel,
        reverse: opts.reverse,
        // iperf3 counts whole seconds; round up so a server's own
        // deadline never cuts the test short. We stop on time ourselves.
        time_secs: time.as_secs() + u64::from(time.subsec_nanos() > 0),
        bytes: opts.bytes.unwrap_or(0),
        blocks: 0,
        block_len: opts.block_len,
        bandwidth: 0,
        client_version: Some(concat!("mptcp-perf ", env!("CARGO_PKG_VERSION")).to_owned()),
    })
}

async fn connect<T: Transport>(
    t: &T,
    opts: &ClientOptions,
    op: &'static str,
) -> Result<T::Stream, PerfError> {
    match tokio::time::timeout(opts.timeout, t.connect(opts.server)).await {
        Ok(Ok(io)) => Ok(io),
        Ok(Err(source)) => Err(PerfError::Io { op, source }),
        Err(_) => Err(PerfError::Io {
            op,
            source: std::io::ErrorKind::TimedOut.into(),
        }),
    }
}

/// Wait for the server's next state, which must be `want`.
async fn expect<S>(ctrl: &mut Control<S>, want: State) -> Result<(), PerfError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let got = ctrl.read_state().await?;
    if got != want {
        return Err(refusal(ctrl, got).await);
    }
    ctrl.phase = want;
    Ok(())
}

/// What an unexpected state from the server means.
async fn refusal<S>(ctrl: &mut Control<S>, got: State) -> PerfError
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match got {
        State::ACCESS_DENIED => PerfError::AccessDenied,
        State::SERVER_ERROR => ctrl.read_server_error().await,
        State::SERVER_TERMINATE => PerfError::Terminated { by: Side::Server },
        other => ctrl.violation(Violation::UnexpectedState(other)),
    }
}

/// Connect the data streams one after another, each announced by the
/// cookie, so that the server numbers them in the same order.
async fn open_streams<T: Transport>(
    t: &T,
    opts: &ClientOptions,
    cookie: &Cookie,
) -> Result<Vec<DataStream<T::Stream>>, PerfError> {
    let mut streams = Vec::with_capacity(opts.parallel);
    for index in 0..opts.parallel {
        let mut io = connect(t, opts, "connect a data stream").await?;
        let send = tokio::time::timeout(opts.timeout, io.write_all(&cookie.0)).await;
        let source = match send {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(std::io::ErrorKind::TimedOut.into()),
        };
        if let Some(source) = source {
            return Err(PerfError::Io {
                op: "send the cookie on a data stream",
                source,
            });
        }
        let local = t.local_addr(&io);
        streams.push(DataStream::new(stream_id(index), io, local, opts.server));
    }
    Ok(streams)
}

enum Event {
    Data(Result<Progress, PerfError>),
    Control(std::io::Result<Option<State>>),
    TimeUp,
    Tick,
}

/// The measurement: move data until the time is up or the bytes are
/// through, reporting every interval. The server must stay quiet.
async fn measure<S>(
    ctrl: &mut Control<S>,
    plane: &mut DataPlane<S>,
    meter: &mut Meter,
    sample: &dyn Fn(&S) -> Vec<SubflowSample>,
    printer: &mut Printer<'_>,
    time: Option<Duration>,
) -> Result<(), PerfError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let deadline = time.map(|t| meter.start() + t);
    let mut ticker = ticker(meter.start(), meter.period());
    loop {
        let event = tokio::select! {
            r = plane.run() => Event::Data(r),
            s = ctrl.read_state_raw() => Event::Control(s),
            () = sleep_until(deadline) => Event::TimeUp,
            () = tick(&mut ticker) => Event::Tick,
        };
        match event {
            // Bytes through (sent or received), or every stream closed
            // by the server: nothing more to measure.
            Event::Data(Ok(_)) | Event::TimeUp => return Ok(()),
            Event::Data(Err(e)) => return Err(e),
            Event::Control(Ok(Some(state))) => return Err(refusal(ctrl, state).await),
            Event::Control(Ok(None)) => return Err(ctrl.closed()),
            Event::Control(Err(source)) => {
                return Err(PerfError::Io {
                    op: "read from the control connection",
                    source,
                });
            }
            Event::Tick => {
                let header = meter.intervals.is_empty();
                let iv = meter.tick(Instant::now(), &plane.streams, sample);
                printer.interval(iv, header)?;
            }
        }
    }
}

/// After `TEST_END`: wait for `EXCHANGE_RESULTS` (a receiving client
/// keeps reading meanwhile, so a server never blocks on a full pipe),
/// read what is still in flight, then trade results.
async fn exchange_results<S>(
    ctrl: &mut Control<S>,
    plane: &mut DataPlane<S>,
    meter: &Meter,
    duration: Duration,
    cpu: super::protocol::CpuUtil,
) -> Result<Results, PerfError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    plane.measurement_over();
    let mut reading = plane.flow() == Flow::Receive;
    let wait = tokio::time::timeout(ctrl.timeout(), async {
        loop {
            tokio::select! {
                // Past the measurement, run() only returns once every
                // stream is at its end.
                _ = plane.run(), if reading => reading = false,
                s = ctrl.read_state_raw() => return s,
            }
        }
    })
    .await;
    let state = match wait {
        Ok(Ok(Some(state))) => state,
        Ok(Ok(None)) => return Err(ctrl.closed()),
        Ok(Err(source)) => {
            return Err(PerfError::Io {
                op: "read from the control connection",
                source,
            });
        }
        Err(_) => return Err(ctrl.timed_out()),
    };
    if state != State::EXCHANGE_RESULTS {
        return Err(refusal(ctrl, state).await);
    }
    ctrl.phase = State::EXCHANGE_RESULTS;
    plane.drain(DRAIN_TIME).await?;
    let ours = local_results(plane, meter, duration, cpu);
    ctrl.send_json(&ours.to_json()).await?;
    let theirs = ctrl.read_json().await?;
    let theirs = Results::from_json(&theirs).map_err(|v| ctrl.violation(v))?;
    if let Some(bad) = theirs
        .streams
        .iter()
        .find(|r| !plane.streams.iter().any(|s| s.id == r.id))
    {
        return Err(ctrl.violation(Violation::UnknownStream(bad.id)));
    }
    Ok(theirs)
}
