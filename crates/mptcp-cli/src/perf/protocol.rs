//! The iperf3 wire protocol (as spoken by iperf 3.x over TCP).
//!
//! One control connection and one connection per data stream, all to the
//! server's port. Every connection starts with the client's 37-byte cookie
//! (36 characters and a NUL). On the control connection the server then
//! drives the test with one-byte states ([`State`]); the parameters and
//! the results travel as JSON objects, each preceded by its length as a
//! 4-byte big-endian number. A `SERVER_ERROR` state is followed by two
//! 4-byte big-endian numbers: iperf3's error code and the server's errno.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::{PerfError, Side, Unsupported, Violation};

/// Length of the cookie: 36 characters and a terminating NUL.
pub const COOKIE_SIZE: usize = 37;
/// iperf3's default read/write size for TCP.
pub const DEFAULT_BLOCK_LEN: usize = 128 * 1024;
/// iperf3's largest block (`MAX_BLOCKSIZE`).
pub const MAX_BLOCK_LEN: usize = 1024 * 1024;
/// iperf3's largest number of parallel streams (`MAX_STREAMS`).
pub const MAX_STREAMS: usize = 128;
/// The longest JSON message we accept; iperf3's are a few hundred bytes
/// (more with `--get-server-output`).
pub const MAX_JSON_LEN: u32 = 1 << 20;
/// iperf3's error code for "not implemented" (`IEUNIMP`), sent with
/// `SERVER_ERROR` when a client asks for something we do not do.
pub const IE_UNIMPLEMENTED: i32 = 13;

/// The characters iperf3 draws its cookies from.
const COOKIE_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A one-byte control state. Open: unknown values survive.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct State(pub i8);

impl State {
    /// Server: all streams are connected; the test is about to start.
    pub const TEST_START: State = State(1);
    /// Server: data may flow.
    pub const TEST_RUNNING: State = State(2);
    /// Client: the test is over (time or bytes reached).
    pub const TEST_END: State = State(4);
    /// Server: send the parameters.
    pub const PARAM_EXCHANGE: State = State(9);
    /// Server: open the data connections.
    pub const CREATE_STREAMS: State = State(10);
    /// Server: it is going away (e.g. interrupted).
    pub const SERVER_TERMINATE: State = State(11);
    /// Client: it is going away (e.g. interrupted).
    pub const CLIENT_TERMINATE: State = State(12);
    /// Server: exchange results (client sends first).
    pub const EXCHANGE_RESULTS: State = State(13);
    /// Server: results are exchanged; show them.
    pub const DISPLAY_RESULTS: State = State(14);
    /// The server's idle state (never sent).
    pub const IPERF_START: State = State(15);
    /// Client: it is done; last byte of a test.
    pub const IPERF_DONE: State = State(16);
    /// Server: busy with another test, or a data connection's cookie is
    /// not the test's.
    pub const ACCESS_DENIED: State = State(-1);
    /// Server: an error; two big-endian i32 follow (error code, errno).
    pub const SERVER_ERROR: State = State(-2);

    /// iperf3's name of a known state.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            State::TEST_START => "TEST_START",
            State::TEST_RUNNING => "TEST_RUNNING",
            State::TEST_END => "TEST_END",
            State::PARAM_EXCHANGE => "PARAM_EXCHANGE",
            State::CREATE_STREAMS => "CREATE_STREAMS",
            State::SERVER_TERMINATE => "SERVER_TERMINATE",
            State::CLIENT_TERMINATE => "CLIENT_TERMINATE",
            State::EXCHANGE_RESULTS => "EXCHANGE_RESULTS",
            State::DISPLAY_RESULTS => "DISPLAY_RESULTS",
            State::IPERF_START => "IPERF_START",
            State::IPERF_DONE => "IPERF_DONE",
            State::ACCESS_DENIED => "ACCESS_DENIED",
            State::SERVER_ERROR => "SERVER_ERROR",
            _ => return None,
        })
    }

    /// The byte on the wire.
    pub fn byte(self) -> u8 {
        self.0.to_be_bytes()[0]
    }

    /// The state a byte on the wire stands for.
    pub fn from_byte(byte: u8) -> State {
        State(i8::from_be_bytes([byte]))
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown state {}", self.0),
        }
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}({})", self.0)
    }
}

/// The 37-byte cookie naming a test: 36 characters and a NUL.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cookie(pub [u8; COOKIE_SIZE]);

impl Cookie {
    /// A fresh cookie from iperf3's alphabet. Not a secret: it only tells
    /// a test's data connections apart from strangers.
    pub fn random() -> Cookie {
        let mut hasher = RandomState::new().build_hasher();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        hasher.write_u128(now.as_nanos());
        hasher.write_u32(std::process::id());
        let mut bits = hasher.finish();
        let mut bytes = [0u8; COOKIE_SIZE];
        for (i, byte) in bytes.iter_mut().take(COOKIE_SIZE - 1).enumerate() {
            if i % 12 == 0 {
                let mut h = RandomState::new().build_hasher();
                h.write_u64(bits);
                h.write_usize(i);
                bits = h.finish();
            }
            *byte = COOKIE_ALPHABET[(bits & 31) as usize];
            bits >>= 5;
        }
        Cookie(bytes)
    }

    /// The cookie as text (up to the NUL, non-UTF-8 replaced).
    pub fn text(&self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(COOKIE_SIZE);
        String::from_utf8_lossy(&self.0[..end]).into_owned()
    }
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cookie({:?})", self.text())
    }
}

/// Read a cookie; `None` when the peer closes before sending all of it.
pub async fn read_cookie<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Cookie>> {
    let mut bytes = [0u8; COOKIE_SIZE];
    match r.read_exact(&mut bytes).await {
        Ok(_) => Ok(Some(Cookie(bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// A JSON message as it goes on the wire: 4-byte big-endian length, then
/// the compact JSON text (no NUL).
pub fn encode_json(value: &Value) -> Vec<u8> {
    let text = value.to_string();
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(4 + text.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// The control connection: states and JSON messages, each step bounded by
/// a timeout. `phase` is the state the test is in, for error messages.
pub struct Control<S> {
    io: S,
    /// Who is at the other end.
    peer: Side,
    timeout: Duration,
    /// The state the test is in.
    pub phase: State,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Control<S> {
    /// Wrap a connected control connection whose cookie is already sent
    /// (client) or read (server).
    pub fn new(io: S, peer: Side, timeout: Duration) -> Control<S> {
        Control {
            io,
            peer,
            timeout,
            phase: State::IPERF_START,
        }
    }

    /// How long each step may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Write bytes (states, a JSON message) in one go and flush (over our
    /// stack: until the peer acknowledged them), each within the timeout.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), PerfError> {
        match tokio::time::timeout(self.timeout, self.io.write_all(bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                return Err(PerfError::Io {
                    op: "write to the control connection",
                    source,
                });
            }
            Err(_) => return Err(self.timed_out()),
        }
        match tokio::time::timeout(self.timeout, self.io.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(PerfError::Io {
                op: "flush the control connection",
                source,
            }),
            // Written, but not acknowledged: say so, it is not the
            // peer's silence in the protocol.
            Err(_) => Err(PerfError::Io {
                op: "have the control connection's data acknowledged",
                source: std::io::ErrorKind::TimedOut.into(),
            }),
        }
    }

    /// Send states back to back (one write) and enter the last one.
    pub async fn send_states(&mut self, states: &[State]) -> Result<(), PerfError> {
        let bytes: Vec<u8> = states.iter().map(|s| s.byte()).collect();
        self.send_bytes(&bytes).await?;
        if let Some(&last) = states.last() {
            self.phase = last;
        }
        Ok(())
    }

    /// Read one state byte without a timeout; `None` at end of stream.
    /// Cancel safe: dropped before completion, it has consumed nothing.
    pub async fn read_state_raw(&mut self) -> std::io::Result<Option<State>> {
        let mut byte = [0u8; 1];
        match self.io.read(&mut byte).await? {
            0 => Ok(None),
            _ => Ok(Some(State::from_byte(byte[0]))),
        }
    }

    /// Read one state byte within the timeout; the end of the stream is
    /// [`PerfError::ControlClosed`].
    pub async fn read_state(&mut self) -> Result<State, PerfError> {
        match tokio::time::timeout(self.timeout, self.read_state_raw()).await {
            Ok(Ok(Some(state))) => Ok(state),
            Ok(Ok(None)) => Err(self.closed()),
            Ok(Err(source)) => Err(PerfError::Io {
                op: "read from the control connection",
                source,
            }),
            Err(_) => Err(self.timed_out()),
        }
    }

    /// Read the error code and errno that follow `SERVER_ERROR`.
    pub async fn read_server_error(&mut self) -> PerfError {
        let mut bytes = [0u8; 8];
        let read = tokio::time::timeout(self.timeout, self.io.read_exact(&mut bytes)).await;
        match read {
            Ok(Ok(_)) => PerfError::ServerError {
                code: i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
                errno: i32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            },
            // The server said "error" but not which: still its error.
            _ => PerfError::ServerError { code: 0, errno: 0 },
        }
    }

    /// Send `SERVER_ERROR` with an iperf3 error code and an errno.
    pub async fn send_server_error(&mut self, code: i32, errno: i32) -> Result<(), PerfError> {
        let mut bytes = vec![State::SERVER_ERROR.byte()];
        bytes.extend_from_slice(&code.to_be_bytes());
        bytes.extend_from_slice(&errno.to_be_bytes());
        self.send_bytes(&bytes).await
    }

    /// Read one length-prefixed JSON object within the timeout.
    pub async fn read_json(&mut self) -> Result<Map<String, Value>, PerfError> {
        let read = async {
            let mut len = [0u8; 4];
            self.io.read_exact(&mut len).await?;
            let len = u32::from_be_bytes(len);
            if len > MAX_JSON_LEN {
                return Ok::<_, std::io::Error>(Err(Violation::MessageTooLong(len)));
            }
            let mut text = vec![0u8; len as usize];
            self.io.read_exact(&mut text).await?;
            Ok(match serde_json::from_slice::<Value>(&text) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err(Violation::NotAnObject),
                Err(e) => Err(Violation::BadJson(e)),
            })
        };
        match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(Ok(map))) => Ok(map),
            Ok(Ok(Err(violation))) => Err(self.violation(violation)),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(self.closed()),
            Ok(Err(source)) => Err(PerfError::Io {
                op: "read from the control connection",
                source,
            }),
            Err(_) => Err(self.timed_out()),
        }
    }

    /// Send one JSON message.
    pub async fn send_json(&mut self, value: &Value) -> Result<(), PerfError> {
        self.send_bytes(&encode_json(value)).await
    }

    /// The peer broke the protocol in the current phase.
    pub fn violation(&self, violation: Violation) -> PerfError {
        PerfError::Protocol {
            peer: self.peer,
            state: self.phase,
            violation,
        }
    }

    /// The peer closed the control connection in the current phase.
    pub fn closed(&self) -> PerfError {
        PerfError::ControlClosed {
            peer: self.peer,
            state: self.phase,
        }
    }

    /// The peer did not answer in time in the current phase.
    pub fn timed_out(&self) -> PerfError {
        PerfError::Timeout {
            peer: self.peer,
            state: self.phase,
            after: self.timeout,
        }
    }
}

/// The parameters a client sends in `PARAM_EXCHANGE` (the TCP subset).
#[derive(Clone, Debug, PartialEq)]
pub struct TestParams {
    /// Number of data streams (`parallel`).
    pub parallel: usize,
    /// The server sends (`reverse`).
    pub reverse: bool,
    /// Test length in whole seconds (`time`; 0 in byte mode).
    pub time_secs: u64,
    /// Bytes to send in all (`num`; 0: not in byte mode).
    pub bytes: u64,
    /// Blocks to send in all (`blockcount`; 0: not in block mode).
    pub blocks: u64,
    /// Read/write size (`len`).
    pub block_len: usize,
    /// Target bit rate (`bandwidth`; 0: as fast as possible).
    pub bandwidth: u64,
    /// The client's version string, if given.
    pub client_version: Option<String>,
}

impl TestParams {
    /// The JSON our client sends, in iperf3's field names.
    pub fn to_json(&self) -> Value {
        let mut j = json!({
            "tcp": true,
            "omit": 0,
            "time": self.time_secs,
            "parallel": self.parallel,
            "len": self.block_len,
            "pacing_timer": 1000,
        });
        if self.bytes > 0 {
            j["num"] = json!(self.bytes);
        }
        if self.blocks > 0 {
            j["blockcount"] = json!(self.blocks);
        }
        if self.reverse {
            j["reverse"] = json!(true);
        }
        if self.bandwidth > 0 {
            j["bandwidth"] = json!(self.bandwidth);
        }
        if let Some(version) = &self.client_version {
            j["client_version"] = json!(version);
        }
        j
    }

    /// Parse a client's parameters. Options that only change socket
    /// settings (window, MSS, nodelay, TOS, congestion) are ignored;
    /// options that would change what is measured and that this server
    /// does not implement are refused.
    pub fn from_json(j: &Map<String, Value>) -> Result<TestParams, Unsupported> {
        if j.contains_key("udp") {
            return Err(Unsupported::Udp);
        }
        if j.contains_key("sctp") {
            return Err(Unsupported::Sctp);
        }
        if j.contains_key("bidirectional") {
            return Err(Unsupported::Bidirectional);
        }
        let int = |key: &str| j.get(key).and_then(as_u64).unwrap_or(0);
        if int("omit") > 0 {
            return Err(Unsupported::Omit);
        }
        let parallel =
            usize::try_from(j.get("parallel").and_then(as_u64).unwrap_or(1)).unwrap_or(usize::MAX);
        if parallel == 0 || parallel > MAX_STREAMS {
            return Err(Unsupported::Streams(parallel));
        }
        let block_len = match j.get("len").and_then(as_u64) {
            None | Some(0) => DEFAULT_BLOCK_LEN,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        if block_len > MAX_BLOCK_LEN {
            return Err(Unsupported::BlockLen(block_len));
        }
        Ok(TestParams {
            parallel,
            reverse: j.get("reverse").is_some_and(truthy),
            time_secs: int("time"),
            bytes: int("num"),
            blocks: int("blockcount"),
            block_len,
            bandwidth: int("bandwidth"),
            client_version: j
                .get("client_version")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// iperf3 sends flags as `true`; older versions sent numbers.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        _ => true,
    }
}

/// A JSON number as u64: iperf3's cJSON prints large integers as
/// doubles (`1.2e+15`), so accept those too.
pub fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .map(|x| x as u64)
    })
}

/// A JSON number as i64 (iperf3 uses -1 for "not known").
fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|x| x.is_finite()).map(|x| x as i64))
}

/// CPU use in percent, as iperf3 reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuUtil {
    /// User and system together.
    pub total: f64,
    /// User time.
    pub user: f64,
    /// System time.
    pub system: f64,
}

/// One stream's entry in the results.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamResult {
    /// The stream id (1, 3, 4, ... as iperf3 numbers them).
    pub id: u32,
    /// Bytes sent (sender) or received (receiver).
    pub bytes: u64,
    /// Retransmitted segments; -1 when not known.
    pub retransmits: i64,
    /// Seconds from the stream's start to its end.
    pub seconds: f64,
}

/// The results one side sends in `EXCHANGE_RESULTS`.
#[derive(Clone, Debug, PartialEq)]
pub struct Results {
    /// CPU use of the side's process.
    pub cpu: CpuUtil,
    /// 1: the side sent and knows its retransmits; 0: it sent and does
    /// not know them; -1: it received.
    pub sender_has_retransmits: i64,
    /// One entry per stream.
    pub streams: Vec<StreamResult>,
}

impl Results {
    /// The JSON object, with every field iperf3's `get_results` requires.
    pub fn to_json(&self) -> Value {
        let streams: Vec<Value> = self
            .streams
            .iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "bytes": s.bytes,
                    "retransmits": s.retransmits,
                    "jitter": 0,
                    "errors": 0,
                    "packets": 0,
                    "start_time": 0,
                    "end_time": s.seconds,
                })
            })
            .collect();
        json!({
            "cpu_util_total": self.cpu.total,
            "cpu_util_user": self.cpu.user,
            "cpu_util_system": self.cpu.system,
            "sender_has_retransmits": self.sender_has_retransmits,
            "streams": streams,
        })
    }

    /// Parse the other side's results.
    pub fn from_json(j: &Map<String, Value>) -> Result<Results, Violation> {
        let num = |key: &'static str| {
            j.get(key)
                .and_then(Value::as_f64)
                .ok_or(Violation::MissingField(key))
        };
        let cpu = CpuUtil {
            total: num("cpu_util_total")?,
            user: num("cpu_util_user")?,
            system: num("cpu_util_system")?,
        };
        let sender_has_retransmits = j
            .get("sender_has_retransmits")
            .and_then(as_i64)
            .ok_or(Violation::MissingField("sender_has_retransmits"))?;
        let list = j
            .get("streams")
            .and_then(Value::as_array)
            .ok_or(Violation::MissingField("streams"))?;
        let mut streams = Vec::with_capacity(list.len());
        for entry in list {
            let field = |key: &'static str| entry.get(key).ok_or(Violation::MissingField(key));
            let id = as_u64(field("id")?).ok_or(Violation::MissingField("id"))?;
            let bytes = as_u64(field("bytes")?).ok_or(Violation::MissingField("bytes"))?;
            let retransmits = as_i64(field("retransmits")?).unwrap_or(-1);
            // iperf3 requires these even though TCP leaves them at 0.
            for key in ["jitter", "errors", "packets"] {
                field(key)?;
            }
            let start = entry.get("start_time").and_then(Value::as_f64);
            let end = entry.get("end_time").and_then(Value::as_f64);
            streams.push(StreamResult {
                id: u32::try_from(id).map_err(|_| Violation::UnknownStream(u32::MAX))?,
                bytes,
                retransmits,
                seconds: match (start, end) {
                    (Some(s), Some(e)) if e > s => e - s,
                    _ => 0.0,
                },
            });
        }
        Ok(Results {
            cpu,
            sender_has_retransmits,
            streams,
        })
    }
}

/// iperf3's stream ids in the order streams are created: 1, 3, 4, 5, ...
/// (its `iperf_add_stream` skips 2). Both ends number in creation order,
/// and the results name streams by these ids.
pub fn stream_id(index: usize) -> u32 {
    let index = u32::try_from(index).unwrap_or(u32::MAX - 2);
    match index {
        0 => 1,
        n => n + 2,
    }
}
