//! The server: one test at a time; everyone else is told `ACCESS_DENIED`.
//!
//! Every accepted connection first has its cookie read in a task of its
//! own (a slow or silent peer holds nobody up). Between tests the first
//! complete cookie starts a test; during a test, connections with the
//! test's cookie become its data streams while it creates them, and all
//! others get `ACCESS_DENIED` and are closed, as iperf3 does.

use std::future::{Future, pending};
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;

use super::clock::{sleep_until, tick, ticker};
use super::data::{DataPlane, DataStream, Flow, Progress};
use super::error::{PerfError, Side, Unsupported, Violation};
use super::format::Printer;
use super::protocol::{
    Control, Cookie, IE_UNIMPLEMENTED, Results, State, TestParams, encode_json, read_cookie,
    stream_id,
};
use super::report::{self, CpuClock, Meter, Outcome, PerfReport, local_results, local_streams};
use super::{Acceptor, ServerOptions};

/// After `TEST_END`, how long a receiving server waits for the bytes the
/// client says it sent, and a sending server for its streams to close.
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// In time mode, how long past the test's time the server waits for
/// `TEST_END` before it gives up.
const GRACE: Duration = Duration::from_secs(10);
/// How long a denied peer gets to take its `ACCESS_DENIED`.
const DENY_TIME: Duration = Duration::from_secs(1);

/// Serve tests one after another; with `one_off`, return after one
/// (with its error, if it failed). Without it, a failed test is reported
/// on `out` and the server goes on; only accept errors end it.
pub async fn run_server<A: Acceptor>(
    a: &mut A,
    opts: &ServerOptions,
    out: &mut dyn Write,
) -> Result<(), PerfError> {
    let mut printer = Printer::new(out, opts.json);
    let mut lobby = Lobby::new(opts.timeout);
    loop {
        let first = lobby.next_control(a).await?;
        let peer = first.peer;
        match serve_test(a, &mut lobby, first, opts, &mut printer).await {
            Ok(_) => {}
            Err(e) if opts.one_off => return Err(e),
            Err(e) => {
                let message = format!("test from {peer} failed: {e}");
                let line = match opts.json {
                    true => serde_json::json!({ "error": message }).to_string(),
                    false => format!("perf server: {message}"),
                };
                printer.always(&[line])?;
            }
        }
        if opts.one_off {
            return Ok(());
        }
    }
}

/// A connection whose cookie is in.
struct Arrival<S> {
    /// Order of acceptance.
    seq: u64,
    peer: SocketAddr,
    io: S,
    cookie: Cookie,
}

/// Accepted connections whose cookies are being read.
struct Lobby<S> {
    readers: JoinSet<Option<Arrival<S>>>,
    seq: u64,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Lobby<S> {
    fn new(timeout: Duration) -> Lobby<S> {
        Lobby {
            readers: JoinSet::new(),
            seq: 0,
            timeout,
        }
    }

    /// Read the cookie of a new connection in the background; a peer that
    /// closes or stays silent is dropped.
    fn admit(&mut self, mut io: S, peer: SocketAddr) {
        let seq = self.seq;
        self.seq += 1;
        let timeout = self.timeout;
        self.readers.spawn(async move {
            match tokio::time::timeout(timeout, read_cookie(&mut io)).await {
                Ok(Ok(Some(cookie))) => Some(Arrival {
                    seq,
                    peer,
                    io,
                    cookie,
                }),
                _ => None,
            }
        });
    }

    /// The next connection whose cookie is in. Cancel safe.
    async fn next(&mut self) -> Arrival<S> {
        loop {
            match self.readers.join_next().await {
                Some(Ok(Some(arrival))) => return arrival,
                Some(_) => continue,
                None => pending().await,
            }
        }
    }

    /// Wait, between tests, for a client to start one.
    async fn next_control<A: Acceptor<Stream = S>>(
        &mut self,
        a: &mut A,
    ) -> Result<Arrival<S>, PerfError> {
        loop {
            tokio::select! {
                c = a.accept() => {
                    let (io, peer) = c.map_err(accept_error)?;
                    self.admit(io, peer);
                }
                arrival = self.next() => return Ok(arrival),
            }
        }
    }
}

fn accept_error(source: std::io::Error) -> PerfError {
    PerfError::Io {
        op: "accept a connection",
        source,
    }
}

/// Tell a peer the server is busy (or its cookie is not the test's) and
/// close, in the background.
fn deny<S: AsyncWrite + Unpin + Send + 'static>(mut io: S) {
    tokio::spawn(async move {
        let refuse = async {
            io.write_all(&[State::ACCESS_DENIED.byte()]).await?;
            io.shutdown().await
        };
        let _ = tokio::time::timeout(DENY_TIME, refuse).await;
    });
}

/// Run `fut` while turning away everyone who connects meanwhile.
async fn guard<A: Acceptor, F: Future>(
    a: &mut A,
    lobby: &mut Lobby<A::Stream>,
    fut: F,
) -> Result<F::Output, PerfError> {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            out = &mut fut => return Ok(out),
            c = a.accept() => deny(c.map_err(accept_error)?.0),
            arrival = lobby.next() => deny(arrival.io),
        }
    }
}

/// One test, from `PARAM_EXCHANGE` to `IPERF_DONE`.
async fn serve_test<A: Acceptor>(
    a: &mut A,
    lobby: &mut Lobby<A::Stream>,
    first: Arrival<A::Stream>,
    opts: &ServerOptions,
    printer: &mut Printer<'_>,
) -> Result<PerfReport, PerfError> {
    let (peer, cookie) = (first.peer, first.cookie);
    a.tune_control(&first.io);
    let mut ctrl = Control::new(first.io, Side::Client, opts.timeout);
    printer.lines(&[format!(
        "Accepted connection from {}, port {}",
        peer.ip(),
        peer.port()
    )])?;
    let (params, streams) = negotiate(a, lobby, &mut ctrl, &cookie).await?;
    printer.connected(&streams)?;

    ctrl.send_states(&[State::TEST_START, State::TEST_RUNNING])
        .await?;
    let started = SystemTime::now();
    let cpu = CpuClock::now();
    let start = Instant::now();
    let mut plane = plane_for(&params, streams, &cookie);
    let mut meter = Meter::new(start, opts.interval, &plane.streams, &|s| a.subflows(s));
    let backstop =
        (params.time_secs > 0).then(|| start + Duration::from_secs(params.time_secs) + GRACE);
    measure(
        a, lobby, &mut ctrl, &mut plane, &mut meter, printer, backstop,
    )
    .await?;

    let end = Instant::now();
    let cpu_local = cpu.since();
    let header = meter.intervals.is_empty();
    if let Some(iv) = meter.finish(end, &plane.streams, &|s| a.subflows(s)) {
        printer.interval(iv, header)?;
    }
    let duration = end - start;
    let theirs = exchange_results(a, lobby, &mut ctrl, &mut plane).await?;
    let ours = local_results(&plane, &meter, duration, cpu_local);
    let mut message = encode_json(&ours.to_json());
    message.push(State::DISPLAY_RESULTS.byte());
    ctrl.send_bytes(&message).await?;
    ctrl.phase = State::DISPLAY_RESULTS;
    // The client answers IPERF_DONE and closes; the results are in
    // either way, so whatever it does now does not fail the test.
    let _ = guard(a, lobby, ctrl.read_state()).await;

    let report = report::build(Outcome {
        side: Side::Server,
        peer,
        cookie: cookie.text(),
        started,
        reverse: params.reverse,
        block_len: params.block_len,
        time: (params.time_secs > 0).then(|| Duration::from_secs(params.time_secs)),
        bytes_limit: (params.bytes > 0).then_some(params.bytes),
        duration,
        local: local_streams(&plane, &meter),
        remote: &theirs,
        intervals: std::mem::take(&mut meter.intervals),
        cpu_local,
    });
    printer.finish(&report)?;
    Ok(report)
}

/// The data plane of a test: we send with `-R` (at most the bytes or
/// blocks asked for), else we receive.
fn plane_for<S>(params: &TestParams, streams: Vec<DataStream<S>>, cookie: &Cookie) -> DataPlane<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let flow = match params.reverse {
        true => Flow::Send,
        false => Flow::Receive,
    };
    let seed = u64::from_le_bytes(cookie.0[8..16].try_into().unwrap_or_default());
    let mut plane = DataPlane::new(streams, flow, params.block_len, seed);
    if flow == Flow::Send {
        plane.set_budget(match (params.bytes, params.blocks) {
            (0, 0) => None,
            (0, blocks) => Some(blocks.saturating_mul(params.block_len as u64)),
            (bytes, _) => Some(bytes),
        });
    }
    plane
}

/// Take the client's parameters (refusing what we do not run) and
/// collect its data streams.
async fn negotiate<A: Acceptor>(
    a: &mut A,
    lobby: &mut Lobby<A::Stream>,
    ctrl: &mut Control<A::Stream>,
    cookie: &Cookie,
) -> Result<(TestParams, Vec<DataStream<A::Stream>>), PerfError> {
    ctrl.send_states(&[State::PARAM_EXCHANGE]).await?;
    let params = guard(a, lobby, ctrl.read_json()).await??;
    let params = match TestParams::from_json(&params) {
        Ok(p) if p.reverse && p.bandwidth > 0 => Err(Unsupported::Bandwidth),
        other => other,
    };
    let params = match params {
        Ok(params) => params,
        Err(what) => {
            // Tell the client why, as iperf3 would; it may be gone already.
            let _ = ctrl.send_server_error(IE_UNIMPLEMENTED, 0).await;
            return Err(PerfError::Unsupported(what));
        }
    };
    ctrl.send_states(&[State::CREATE_STREAMS]).await?;
    let streams = gather_streams(a, lobby, ctrl, cookie, params.parallel).await?;
    Ok((params, streams))
}

/// Collect the test's data streams (`count` connections with its
/// cookie), numbered in the order they were accepted.
async fn gather_streams<A: Acceptor>(
    a: &mut A,
    lobby: &mut Lobby<A::Stream>,
    ctrl: &mut Control<A::Stream>,
    cookie: &Cookie,
    count: usize,
) -> Result<Vec<DataStream<A::Stream>>, PerfError> {
    let deadline = Instant::now() + ctrl.timeout();
    let mut arrived: Vec<Arrival<A::Stream>> = Vec::with_capacity(count);
    while arrived.len() < count {
        tokio::select! {
            c = a.accept() => {
                let (io, peer) = c.map_err(accept_error)?;
                lobby.admit(io, peer);
            }
            arrival = lobby.next() => match arrival.cookie == *cookie {
                true => arrived.push(arrival),
                false => deny(arrival.io),
            },
            s = ctrl.read_state_raw() => return Err(client_spoke(ctrl, s)),
            () = sleep_until(Some(deadline)) => return Err(ctrl.timed_out()),
        }
    }
    arrived.sort_by_key(|arrival| arrival.seq);
    Ok(arrived
        .into_iter()
        .enumerate()
        .map(|(index, arrival)| {
            let local = a.local_addr(&arrival.io);
            DataStream::new(stream_id(index), arrival.io, local, arrival.peer)
        })
        .collect())
}

/// The client said something (or closed) when it should be quiet.
fn client_spoke<S>(ctrl: &Control<S>, read: std::io::Result<Option<State>>) -> PerfError
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match read {
        Ok(Some(State::CLIENT_TERMINATE)) => PerfError::Terminated { by: Side::Client },
        Ok(Some(other)) => ctrl.violation(Violation::UnexpectedState(other)),
        Ok(None) => ctrl.closed(),
        Err(source) => PerfError::Io {
            op: "read from the control connection",
            source,
        },
    }
}

enum Event<S> {
    Data(Result<Progress, PerfError>),
    Control(std::io::Result<Option<State>>),
    Tick,
    Backstop,
    Stranger(std::io::Result<(S, SocketAddr)>),
    Arrival(S),
}

/// The measurement: move data until the client sends `TEST_END`.
async fn measure<A: Acceptor>(
    a: &mut A,
    lobby: &mut Lobby<A::Stream>,
    ctrl: &mut Control<A::Stream>,
    plane: &mut DataPlane<A::Stream>,
    meter: &mut Meter,
    printer: &mut Printer<'_>,
    backstop: Option<Instant>,
) -> Result<(), PerfError> {
    let mut ticker = ticker(meter.start(), meter.period());
    let mut moving = true;
    loop {
        let event = tokio::select! {
            r = plane.run(), if moving => Event::Data(r),
            s = ctrl.read_state_raw() => Event::Control(s),
            () = tick(&mut ticker) => Event::Tick,
            () = sleep_until(backstop) => Event::Backstop,
            c = a.accept() => Event::Stranger(c),
            arrival = lobby.next() => Event::Arrival(arrival.io),
        };
        match event {
            // Budget spent, or every stream closed by the client: wait
            // for TEST_END.
            Event::Data(Ok(_)) => moving = false,
            Event::Data(Err(e)) => return Err(e),
            Event::Control(Ok(Some(State::TEST_END))) => {
                ctrl.phase = State::TEST_END;
                return Ok(());
            }
            Event::Control(read) => return Err(client_spoke(ctrl, read)),
            Event::Tick => {
                let header = meter.intervals.is_empty();
                let iv = meter.tick(Instant::now(), &plane.streams, &|s| a.subflows(s));
                printer.interval(iv, header)?;
            }
            Event::Backstop => return Err(ctrl.timed_out()),
            Event::Stranger(c) => deny(c.map_err(accept_error)?.0),
            Event::Arrival(io) => deny(io),
        }
    }
}

/// After `TEST_END`: close our sending side (the client reads to the
/// end), trade results, and as receiver read what the client's results
/// say is still in flight.
async fn exchange_results<A: Acceptor>(
    a: &mut A,
    lobby: &mut Lobby<A::Stream>,
    ctrl: &mut Control<A::Stream>,
    plane: &mut DataPlane<A::Stream>,
) -> Result<Results, PerfError> {
    if plane.flow() == Flow::Send {
        plane.shutdown(DRAIN_TIME).await;
    }
    ctrl.send_states(&[State::EXCHANGE_RESULTS]).await?;
    let theirs = guard(a, lobby, ctrl.read_json()).await??;
    let theirs = Results::from_json(&theirs).map_err(|v| ctrl.violation(v))?;
    for s in plane.streams.iter_mut() {
        match theirs.streams.iter().find(|r| r.id == s.id) {
            Some(r) => s.limit = Some(r.bytes),
            None => s.limit = Some(s.bytes),
        }
    }
    if let Some(bad) = theirs
        .streams
        .iter()
        .find(|r| !plane.streams.iter().any(|s| s.id == r.id))
    {
        return Err(ctrl.violation(Violation::UnknownStream(bad.id)));
    }
    guard(a, lobby, plane.drain(DRAIN_TIME)).await??;
    Ok(theirs)
}
